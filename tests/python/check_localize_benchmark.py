"""Runs `nndiff localize` on every case of the fault benchmark and checks it.

For each case of DIR/manifest.json (made by tools/make_fault_benchmark.py):
  nndiff localize SOURCE TARGET --data DIR/inputs.npy --json F [extra args]
and reports, per benchmark variant (manifest field `variant`: calibrated,
default_init, constant_weights, fp16_weights, external_data, onnxsim,
ort_basic, opsetN; see docs/FAULT_BENCHMARK.md):
  * rank-1 of label-changing faults: the share of faulty cases that flip at
    least one top-1 label under onnxruntime on the inputs localize runs
    (the first --limit rows when the extra args hold --limit) whose
    top-ranked suspect names the faulty node: one of faulty_target_nodes
    among its target_nodes, or one of faulty_source_nodes among its
    source_nodes;
  * rank-1 of the faulty cases that flip no label;
  * equivalent pairs called different (exit 1, or an error);
  * with --compare: `nndiff compare SOURCE TARGET...` (one run per source,
    every target of it at once) and, per pair, its label discrepancy vs the
    one onnxruntime recorded in the manifest on the same rows.
A case where nndiff fails (exit other than 0/1, no JSON) counts as a miss
(faulty) or as called different (equivalent) and is listed; a sanitizer
report always fails the check.

Pass criteria (SPEC is either one number for every variant, or
"variant=X,variant=X,*=X"; "*" is the default for unnamed variants; a
variant named nowhere is reported, not checked):
  --min-rank1 SPEC       rank-1 rate over all faulty cases (default 0.9 for every variant)
  --min-rank1-lc SPEC    rank-1 rate over label-changing faulty cases (default: not checked)
  --min-rank1-nlc SPEC   rank-1 rate over non-label-changing faulty cases (default: not checked)
  --max-eq-different SPEC  equivalent pairs called different, a count (default 0)
  --max-compare-mismatch SPEC  with --compare, pairs whose label discrepancy
                         differs from onnxruntime's, a count (default: not checked)
Other options: --jobs N, --only SUBSTR (case id), --variants LIST,
--summary F (JSON with every case's result and the per-variant table).

Usage: check_localize_benchmark.py NNDIFF DIR [options] [-- extra localize args]
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


def sanitizer_env():
    env = dict(os.environ)
    # a sanitizer report must not pass for "the models differ" (exit 1)
    env["ASAN_OPTIONS"] = (env.get("ASAN_OPTIONS", "") + ":exitcode=86").lstrip(":")
    env["UBSAN_OPTIONS"] = (env.get("UBSAN_OPTIONS", "") + ":exitcode=86").lstrip(":")
    return env


def run_case(nndiff, root, case, extra, tmpdir):
    out = os.path.join(tmpdir, case["case"].replace("/", "__") + ".json")
    cmd = [nndiff, "localize", os.path.join(root, case["source"]), os.path.join(root, case["target"]),
           "--data", os.path.join(root, "inputs.npy"), "--json", out] + extra
    t0 = time.time()
    p = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=sanitizer_env())
    dt = time.time() - t0
    res = None
    if os.path.exists(out):
        try:
            with open(out) as f:
                res = json.load(f)
        except ValueError:
            res = None
    return case, p.returncode, res, p.stdout, p.stderr, dt


def run_compare(nndiff, root, source, cases, limit, tmpdir, k):
    """One `nndiff compare SOURCE T1 T2 ...`; returns {case id: (discrepant rows, error)}."""
    out = os.path.join(tmpdir, "compare_%d.json" % k)
    cmd = [nndiff, "compare", os.path.join(root, source)] + \
        [os.path.join(root, c["target"]) for c in cases] + \
        ["--data", os.path.join(root, "inputs.npy"), "--json", out]
    if limit:
        cmd += ["--limit", str(limit)]
    p = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=sanitizer_env())
    res = {}
    if p.returncode not in (0, 1) or not os.path.exists(out):
        err = "compare exited %d: %s" % (p.returncode, p.stderr.strip()[-300:])
        return {c["case"]: (None, err) for c in cases}, p.stderr
    with open(out) as f:
        d = json.load(f)
    ids = [m["id"] for m in d["models"]]
    pairs = {(q["a"], q["b"]): q for q in d["pairs"]}
    for c, mid in zip(cases, ids[1:]):
        q = pairs.get((ids[0], mid))
        res[c["case"]] = ({i["index"] for i in q["discrepant_inputs"]}, None) if q else (None, "no pair")
    return res, p.stderr


def rank_of_truth(case, res):
    """Rank of the first suspect naming a faulty node, or None."""
    ft, fs = set(case["faulty_target_nodes"]), set(case["faulty_source_nodes"])
    for s in res["suspects"]:
        if ft & set(s["target_nodes"]) or fs & set(s["source_nodes"]):
            return s["rank"]
    return None


def parse_spec(text, what):
    """'0.9' -> {'*': 0.9}; 'a=0.5,*=0.9' -> {...}."""
    spec = {}
    for part in text.split(","):
        part = part.strip()
        if not part:
            continue
        if "=" in part:
            k, v = part.split("=", 1)
        else:
            k, v = "*", part
        try:
            spec[k.strip()] = float(v)
        except ValueError:
            raise SystemExit("bad %s value %r" % (what, part))
    return spec


def spec_get(spec, variant):
    if spec is None:
        return None
    return spec.get(variant, spec.get("*"))


def pct(a, b):
    return "%d/%d (%5.1f%%)" % (a, b, 100.0 * a / b) if b else "-"


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
    specs = {"min_rank1": parse_spec("0.9", "--min-rank1"), "min_rank1_lc": None, "min_rank1_nlc": None,
             "max_eq_different": parse_spec("0", "--max-eq-different"), "max_compare_mismatch": None}
    only = None
    variants_wanted = None
    do_compare = False
    summary_path = None
    k = 2
    while k < len(args):
        a = args[k]
        if a == "--jobs":
            jobs = int(args[k + 1]); k += 2
        elif a in ("--min-rank1", "--min-rank1-lc", "--min-rank1-nlc", "--max-eq-different",
                   "--max-compare-mismatch"):
            specs[a[2:].replace("-", "_")] = parse_spec(args[k + 1], a); k += 2
        elif a == "--only":
            only = args[k + 1]; k += 2
        elif a == "--variants":
            variants_wanted = set(v.strip() for v in args[k + 1].split(",") if v.strip()); k += 2
        elif a == "--compare":
            do_compare = True; k += 1
        elif a == "--summary":
            summary_path = args[k + 1]; k += 2
        else:
            print("unknown argument %s" % a); return 2
    man_path = os.path.join(root, "manifest.json")
    if not os.path.exists(man_path):
        print("skipped: no %s (run tools/make_fault_benchmark.py --out %s)" % (man_path, root))
        return 77
    with open(man_path) as f:
        man = json.load(f)
    limit = None
    if "--limit" in extra:
        limit = int(extra[extra.index("--limit") + 1])
    cases = []
    for c in man["cases"]:
        c.setdefault("variant", "calibrated")
        if only and only not in c["case"]:
            continue
        if variants_wanted and c["variant"] not in variants_wanted:
            continue
        rows = [r for r in c.get("ort_rows_differing", []) if limit is None or r < limit]
        c["_ort_rows"] = set(rows)
        c["_label_changing"] = bool(rows)
        cases.append(c)
    variant_order = [v for v in man.get("variants", {})] or ["calibrated"]
    for c in cases:
        if c["variant"] not in variant_order:
            variant_order.append(c["variant"])

    failures = []
    rows = []
    cmp_res = {}
    t_all = time.time()
    with tempfile.TemporaryDirectory() as tmp, \
            concurrent.futures.ThreadPoolExecutor(max_workers=jobs) as ex:
        futs = [ex.submit(run_case, nndiff, root, c, extra, tmp) for c in cases]
        cfuts = []
        if do_compare:
            by_src = collections.OrderedDict()
            for c in cases:
                by_src.setdefault(c["source"], []).append(c)
            n = 0
            for src, cs in by_src.items():
                for i in range(0, len(cs), 8):  # at most 9 models loaded at once
                    cfuts.append(ex.submit(run_compare, nndiff, root, src, cs[i:i + 8], limit, tmp, n))
                    n += 1
        for fut in futs:
            case, rc, res, out, err, dt = fut.result()
            name = case["case"]
            if "Sanitizer" in err or "runtime error:" in err or rc == 86:
                failures.append("%s: sanitizer report: %s" % (name, err.strip()[-400:]))
            if res is None or rc not in (0, 1):
                rows.append(dict(case=case, res=None, rank=None, dt=dt, status="ERROR",
                                 error="exit %d: %s" % (rc, err.strip().splitlines()[-1][:300] if err.strip() else "")))
                continue
            if case["equivalent"]:
                ok = rc == 0 and res["equivalent"]
                rows.append(dict(case=case, res=res, rank=None, dt=dt, status="ok" if ok else "DIFF"))
            else:
                r = rank_of_truth(case, res)
                if rc != 1 or res["equivalent"]:
                    st = "EQUIV"  # a fault judged equivalent: a miss
                else:
                    st = "ok" if r == 1 else ("rank %s" % r if r else "MISS")
                rows.append(dict(case=case, res=res, rank=r, dt=dt, status=st))
        for fut in cfuts:
            r, err = fut.result()
            if "Sanitizer" in err or "runtime error:" in err:
                failures.append("compare: sanitizer report: %s" % err.strip()[-400:])
            cmp_res.update(r)

    print("%-52s %-8s %-3s %5s %6s %6s  %s" % ("case", "status", "lc", "rank", "score", "time", "top suspect"))
    per_kind = collections.defaultdict(lambda: [0, 0])
    for row in rows:
        case, res = row["case"], row["res"]
        top = res["suspects"][0] if res and res["suspects"] else None
        if row["status"] == "ERROR":
            desc = row["error"]
        elif case["equivalent"]:
            desc = "judged equivalent" if row["status"] == "ok" else \
                "called different: " + ("%s: %s" % (top["kind"], (top["evidence"]["text"] or "")[:90]) if top else "(no suspect)")
        else:
            desc = "-" if not top else "%s: %s" % (top["kind"], (top["evidence"]["text"] or "")[:90])
            per_kind[case["fault"]][1] += 1
            per_kind[case["fault"]][0] += row["rank"] == 1 and row["status"] == "ok"
        row["top"] = None if not top else dict(kind=top["kind"], score=top.get("score"),
                                               headline=top.get("headline"),
                                               text=(top["evidence"].get("text") or "")[:400],
                                               target_nodes=top["target_nodes"][:4],
                                               source_nodes=top["source_nodes"][:4])
        print("%-52s %-8s %-3s %5s %6.2f %5.1fs  %s" % (
            case["case"], row["status"], "" if case["equivalent"] else ("yes" if case["_label_changing"] else "no"),
            row["rank"] if row["rank"] else "-", top["score"] if top else 0, row["dt"], desc))
    print()
    print("rank-1 per fault kind (all variants):")
    for kind, (a, b) in sorted(per_kind.items()):
        print("  %-28s %d/%d" % (kind, a, b))

    # per-variant table
    table = collections.OrderedDict()
    for v in variant_order:
        vr = [r for r in rows if r["case"]["variant"] == v]
        if not vr:
            continue
        f = [r for r in vr if not r["case"]["equivalent"]]
        lc = [r for r in f if r["case"]["_label_changing"]]
        nlc = [r for r in f if not r["case"]["_label_changing"]]
        eq = [r for r in vr if r["case"]["equivalent"]]
        hit = lambda rs: sum(1 for r in rs if r["status"] == "ok")  # noqa: E731
        t = collections.OrderedDict([
            ("faulty", len(f)), ("rank1", hit(f)),
            ("label_changing", len(lc)), ("rank1_label_changing", hit(lc)),
            ("non_label_changing", len(nlc)), ("rank1_non_label_changing", hit(nlc)),
            ("equivalent", len(eq)), ("equivalent_called_different", sum(1 for r in eq if r["status"] != "ok")),
            ("errors", sum(1 for r in vr if r["status"] == "ERROR")),
        ])
        if do_compare:
            mism, n = 0, 0
            for r in vr:
                got = cmp_res.get(r["case"]["case"])
                if got is None:
                    continue
                n += 1
                rows_c, err = got
                r["compare_rows"] = sorted(rows_c) if rows_c is not None else None
                r["compare_error"] = err
                if rows_c is None or rows_c != r["case"]["_ort_rows"]:
                    mism += 1
                    r["compare_mismatch"] = True
            t["compare_pairs"] = n
            t["compare_label_mismatch"] = mism
        table[v] = t

    print()
    print("per variant (lc: the fault flips >= 1 top-1 label under onnxruntime on the inputs used%s):"
          % (" (first %d rows)" % limit if limit else ""))
    hdr = "  %-18s %6s  %-17s %-17s %-17s %-9s %6s" % ("variant", "faulty", "rank-1 all", "rank-1 lc",
                                                     "rank-1 non-lc", "eq diff", "errors")
    if do_compare:
        hdr += "  compare != ort"
    print(hdr)
    for v, t in table.items():
        line = "  %-18s %6d  %-17s %-17s %-17s %-9s %6d" % (
            v, t["faulty"], pct(t["rank1"], t["faulty"]), pct(t["rank1_label_changing"], t["label_changing"]),
            pct(t["rank1_non_label_changing"], t["non_label_changing"]),
            "%d/%d" % (t["equivalent_called_different"], t["equivalent"]), t["errors"])
        if do_compare:
            line += "  %d/%d" % (t["compare_label_mismatch"], t["compare_pairs"])
        print(line)
        # pass criteria
        for key, num, den, label in (("min_rank1", "rank1", "faulty", "rank-1"),
                                     ("min_rank1_lc", "rank1_label_changing", "label_changing", "rank-1 (label-changing)"),
                                     ("min_rank1_nlc", "rank1_non_label_changing", "non_label_changing",
                                      "rank-1 (non-label-changing)")):
            need = spec_get(specs[key], v)
            if need is not None and t[den] and t[num] / t[den] < need - 1e-12:
                failures.append("%s: %s rate %.1f%% < %.0f%%" % (v, label, 100.0 * t[num] / t[den], 100 * need))
        need = spec_get(specs["max_eq_different"], v)
        if need is not None and t["equivalent_called_different"] > need:
            failures.append("%s: %d equivalent pair(s) called different (allowed %d)" % (
                v, t["equivalent_called_different"], need))
        need = spec_get(specs["max_compare_mismatch"], v)
        if do_compare and need is not None and t["compare_label_mismatch"] > need:
            failures.append("%s: compare's label discrepancy differs from onnxruntime's on %d pair(s) "
                            "(allowed %d)" % (v, t["compare_label_mismatch"], need))
    tot_f = sum(t["faulty"] for t in table.values())
    tot_1 = sum(t["rank1"] for t in table.values())
    n_eq = sum(t["equivalent"] for t in table.values())
    n_eq_d = sum(t["equivalent_called_different"] for t in table.values())
    print("faulty cases with the faulty node ranked first: %s; equivalent pairs called different: %d/%d"
          % (pct(tot_1, tot_f), n_eq_d, n_eq))
    print("total %.1fs with %d jobs" % (time.time() - t_all, jobs))
    if summary_path:
        out = collections.OrderedDict([
            ("manifest", man_path), ("extra_args", extra), ("limit", limit), ("variants", table),
            ("cases", [collections.OrderedDict([
                ("case", r["case"]["case"]), ("variant", r["case"]["variant"]), ("arch", r["case"]["arch"]),
                ("fault", r["case"]["fault"]), ("equivalent", r["case"]["equivalent"]),
                ("label_changing", r["case"]["_label_changing"]), ("status", r["status"]),
                ("rank", r["rank"]), ("seconds", round(r["dt"], 2)), ("error", r.get("error")),
                ("top", r.get("top")), ("n_suspects", len(r["res"]["suspects"]) if r["res"] else None),
                ("alignment", dict(collections.Counter(a.get("match") for a in r["res"]["alignment"]))
                 if r["res"] else None),
                ("compare_rows", r.get("compare_rows")), ("ort_rows", sorted(r["case"]["_ort_rows"])),
                ("compare_error", r.get("compare_error")),
            ]) for r in rows])])
        with open(summary_path, "w") as f:
            json.dump(out, f, indent=1)
    for f in failures:
        print("FAIL " + f)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
