"""Runs `nndiff localize` on every case of the fault benchmark and checks it.

For each case of DIR/manifest.json (made by tools/make_fault_benchmark.py):
  nndiff localize SOURCE TARGET --data DIR/inputs.npy --json F [extra args]
and then asserts that
  * every equivalent pair (the clean, BatchNorm-folded, renamed targets) is
    judged equivalent (exit 0, "equivalent": true);
  * in at least --min-rank1 (default 90%) of the faulty cases the suspect
    ranked first names the faulty node: one of faulty_target_nodes among its
    target_nodes, or one of faulty_source_nodes among its source_nodes;
  * every faulty case exits 1 (the models differ).
Prints a per-case table and the rank-1 rate per fault kind.

Usage: check_localize_benchmark.py NNDIFF DIR [--jobs N] [--min-rank1 F] [--only SUBSTR]
       [-- extra localize args]
Exit 0 ok, 1 a check failed, 77 skipped (no benchmark and no way to make it).
"""
import collections
import concurrent.futures
import json
import os
import subprocess
import sys
import tempfile
import time


def run_case(nndiff, root, case, extra, tmpdir):
    out = os.path.join(tmpdir, case["case"].replace("/", "__") + ".json")
    cmd = [nndiff, "localize", os.path.join(root, case["source"]), os.path.join(root, case["target"]),
           "--data", os.path.join(root, "inputs.npy"), "--json", out] + extra
    t0 = time.time()
    env = dict(os.environ)
    # a sanitizer report must not pass for "the models differ" (exit 1)
    env["ASAN_OPTIONS"] = (env.get("ASAN_OPTIONS", "") + ":exitcode=86").lstrip(":")
    env["UBSAN_OPTIONS"] = (env.get("UBSAN_OPTIONS", "") + ":exitcode=86").lstrip(":")
    p = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    dt = time.time() - t0
    res = None
    if os.path.exists(out):
        with open(out) as f:
            res = json.load(f)
    return case, p.returncode, res, p.stdout, p.stderr, dt


def rank_of_truth(case, res):
    """Rank of the first suspect naming a faulty node, or None."""
    ft, fs = set(case["faulty_target_nodes"]), set(case["faulty_source_nodes"])
    for s in res["suspects"]:
        if ft & set(s["target_nodes"]) or fs & set(s["source_nodes"]):
            return s["rank"]
    return None


def main(argv):
    args = list(argv)
    extra = []
    if "--" in args:
        i = args.index("--")
        extra = args[i + 1:]
        args = args[:i]
    if len(args) < 2:
        print(__doc__)
        return 2
    nndiff, root = args[0], args[1]
    jobs = min(2, os.cpu_count() or 1)
    min_rank1 = 0.9
    only = None
    k = 2
    while k < len(args):
        if args[k] == "--jobs":
            jobs = int(args[k + 1]); k += 2
        elif args[k] == "--min-rank1":
            min_rank1 = float(args[k + 1]); k += 2
        elif args[k] == "--only":
            only = args[k + 1]; k += 2
        else:
            print("unknown argument %s" % args[k]); return 2
    man_path = os.path.join(root, "manifest.json")
    if not os.path.exists(man_path):
        print("skipped: no %s (run tools/make_fault_benchmark.py --out %s)" % (man_path, root))
        return 77
    with open(man_path) as f:
        man = json.load(f)
    cases = [c for c in man["cases"] if not only or only in c["case"]]
    failures = []
    rows = []
    t_all = time.time()
    with tempfile.TemporaryDirectory() as tmp, \
            concurrent.futures.ThreadPoolExecutor(max_workers=jobs) as ex:
        futs = [ex.submit(run_case, nndiff, root, c, extra, tmp) for c in cases]
        for fut in futs:
            case, rc, res, out, err, dt = fut.result()
            name = case["case"]
            if res is None or rc not in (0, 1) or "Sanitizer" in err or "runtime error:" in err:
                failures.append("%s: nndiff exited %d: %s" % (name, rc, err.strip()[-400:]))
                rows.append((case, None, None, dt, "ERROR"))
                continue
            if case["equivalent"]:
                ok = rc == 0 and res["equivalent"]
                if not ok:
                    top = res["suspects"][0]["headline"] + ": " + res["suspects"][0]["evidence"]["text"] \
                        if res["suspects"] else "(no suspect)"
                    failures.append("%s: equivalent pair judged different (exit %d): %s" % (name, rc, top[:600]))
                rows.append((case, res, None, dt, "ok" if ok else "FAIL"))
            else:
                r = rank_of_truth(case, res)
                if rc != 1 or res["equivalent"]:
                    failures.append("%s: faulty pair judged equivalent (exit %d)" % (name, rc))
                rows.append((case, res, r, dt, "ok" if r == 1 else ("rank %s" % r if r else "MISS")))

    print("%-40s %-14s %5s %6s %6s  %s" % ("case", "fault", "rank", "score", "time", "top suspect"))
    per_kind = collections.defaultdict(lambda: [0, 0])
    n_faulty = n_rank1 = 0
    for case, res, r, dt, status in rows:
        top = res["suspects"][0] if res and res["suspects"] else None
        desc = "-" if not top else "%s: %s" % (top["kind"], (top["evidence"]["text"] or "")[:90])
        if case["equivalent"]:
            print("%-40s %-14s %5s %6s %5.1fs  %s" % (case["case"], "(equivalent)",
                                                    "eq" if res and res["equivalent"] else "DIFF",
                                                    "", dt, status if status != "ok" else "judged equivalent"))
            continue
        n_faulty += 1
        per_kind[case["fault"]][1] += 1
        if r == 1:
            n_rank1 += 1
            per_kind[case["fault"]][0] += 1
        print("%-40s %-14s %5s %6.2f %5.1fs  %s" % (case["case"], status, r if r else "-",
                                                  top["score"] if top else 0, dt, desc))
    print()
    print("rank-1 per fault kind:")
    for kind, (a, b) in sorted(per_kind.items()):
        print("  %-28s %d/%d" % (kind, a, b))
    rate = n_rank1 / n_faulty if n_faulty else 1.0
    n_eq = sum(1 for c in cases if c["equivalent"])
    n_eq_ok = sum(1 for c, res, r, dt, s in rows if c["equivalent"] and s == "ok")
    print("faulty cases with the faulty node ranked first: %d/%d (%.1f%%), required %.0f%%" % (
        n_rank1, n_faulty, 100 * rate, 100 * min_rank1))
    print("equivalent pairs judged equivalent: %d/%d" % (n_eq_ok, n_eq))
    print("total %.1fs with %d jobs" % (time.time() - t_all, jobs))
    if rate < min_rank1:
        failures.append("rank-1 rate %.1f%% < %.0f%%" % (100 * rate, 100 * min_rank1))
    for f in failures:
        print("FAIL " + f)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
