"""Runs `nndiff repair` on every case of the fault benchmark and checks it.

For each case of DIR/manifest.json (made by tools/make_fault_benchmark.py):
  nndiff repair SOURCE TARGET --data DIR/inputs.npy -o FIXED --json F [extra args]
then verifies the repair on the verification inputs (the `split` of the
JSON, never the ones repair searched on):
  * written mode (the target's format has a writer): FIXED is run with
    ONNX Runtime next to the source; the repair counts when no top-1 label
    differs and max|diff| <= 10 x the source's float32 noise, measured as
    max|ORT(source) - onnx.reference(source) in float64| ... too slow for
    CI on every case, so the noise is nndiff's own measurement in the JSON
    (the source's float32 vs double-precision outputs, `noise_floor`);
  * dry-run mode (no writer for the format yet, `nndiff repair` exits 2
    saying so): repair runs again with --dry-run and its JSON figures (the
    nndiff engine on the edited graph, `after.verification`) are used.
    The summary says which mode measured each case.

Reported per variant and overall:
  * label-changing faults repaired: the faulty cases whose target flips a
    label on the verification inputs (ORT, manifest rows) and that come out
    with no label flipped and max|diff| within the floor factor;
  * other faults: repaired the same way, or left with exit 1;
  * equivalent pairs: edits made (must be 0) and exit status (must be 0);
  * edits per repair (median), time per case;
  * a repaired model worse than the target (more labels differing on the
    verification inputs than the target had): never allowed;
  * every written file, field by field with the onnx package
    (onnx_fields.py): it differs from the target only in the edited
    tensors, attributes and nodes (and initializers only edited nodes read).

Pass criteria:
  --min-repaired-lc X    share of label-changing faults repaired (default 0.95)
  --max-eq-edited N      equivalent pairs given an edit (default 0)
Other options: --jobs N, --only SUBSTR, --variants LIST, --summary F,
--dry-run (always measure with the engine).

Usage: check_repair_benchmark.py NNDIFF DIR [options] [-- extra repair args]
Exit 0 ok, 1 a check failed, 77 skipped (no benchmark).
"""
import collections
import concurrent.futures
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from onnx_fields import field_diffs, repair_touched  # noqa: E402


def sanitizer_env():
    env = dict(os.environ)
    env["ASAN_OPTIONS"] = (env.get("ASAN_OPTIONS", "") + ":exitcode=86").lstrip(":")
    env["UBSAN_OPTIONS"] = (env.get("UBSAN_OPTIONS", "") + ":exitcode=86").lstrip(":")
    return env


def run_repair(nndiff, root, case, extra, tmpdir, dry):
    # a folder per case: a written model's external data files keep the
    # target's names (target.weights.bin), which every architecture shares
    base = os.path.join(tmpdir, case["case"].replace("/", "__"))
    os.makedirs(base, exist_ok=True)
    js, fixed = os.path.join(base, "repair.json"), os.path.join(base, "fixed.onnx")
    cmd = [nndiff, "repair", os.path.join(root, case["source"]), os.path.join(root, case["target"]),
           "--data", os.path.join(root, "inputs.npy"), "--json", js] + extra
    cmd += ["--dry-run"] if dry else ["-o", fixed]
    t0 = time.time()
    p = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=sanitizer_env())
    dt = time.time() - t0
    res = None
    if os.path.exists(js):
        with open(js) as f:
            res = json.load(f)
    return p, res, fixed if os.path.exists(fixed) else None, dt


def ort_outputs(path, x):
    import onnxruntime as ort
    so = ort.SessionOptions()
    so.intra_op_num_threads = 1
    s = ort.InferenceSession(path, so, providers=["CPUExecutionProvider"])
    name = s.get_inputs()[0].name
    return np.concatenate([s.run(None, {name: x[i:i + 1]})[0] for i in range(len(x))])


def verify_ort(root, case, fixed, res, x):
    rows = res["split"]["verification"]
    ys = ort_outputs(os.path.join(root, case["source"]), x[rows]).reshape(len(rows), -1)
    yt = ort_outputs(fixed, x[rows]).reshape(len(rows), -1)
    labels = int(np.sum(ys.argmax(1) != yt.argmax(1)))
    rel = float(np.max(np.abs(ys.astype(np.float64) - yt)) / max(np.max(np.abs(ys)), 1e-30))
    return labels, rel


def run_case(nndiff, root, case, extra, tmpdir, force_dry, x):
    p, res, fixed, dt = run_repair(nndiff, root, case, extra, tmpdir, force_dry)
    mode = "dry-run" if force_dry else "written"
    if not force_dry and p.returncode == 2 and "not supported yet" in p.stderr:
        p, res, fixed, dt2 = run_repair(nndiff, root, case, extra, tmpdir, True)
        dt += dt2
        mode = "dry-run"
    out = {"case": case["case"], "variant": case.get("variant", "calibrated"), "fault": case["fault"],
           "equivalent": case["equivalent"], "exit": p.returncode, "mode": mode, "seconds": dt,
           "stderr": p.stderr.strip()[-400:]}
    if res is None or p.returncode not in (0, 1):
        out["error"] = "exit %d: %s" % (p.returncode, p.stderr.strip()[-300:])
        return out
    rows = res["split"]["verification"]
    ort_rows = set(case.get("ort_rows_differing", []))
    out["target_labels_verify_ort"] = len(ort_rows & set(rows))
    out["edits"] = len(res["edits"])
    out["matches"] = res["matches"]
    floor = max(res["noise_floor"]["rel"] or 0.0, 1e-7)
    out["floor"] = floor
    out["before_labels"] = res["before"]["verification"]["labels_differing"]
    if fixed and res["edits"]:
        labels, rel = verify_ort(root, case, fixed, res, x)
        out["measured_by"] = "onnxruntime"
        tgt = os.path.join(root, case["target"])
        nodes, removed, inits = repair_touched(tgt, res["edits"])
        bad = [w for ok, w in field_diffs(tgt, fixed, nodes, removed, inits) if not ok]
        if bad:
            out["fields_bad"] = bad
    else:
        labels = res["after"]["verification"]["labels_differing"]
        rel = res["after"]["verification"]["rel_diff"]
        rel = float("inf") if rel is None else float(rel)  # null: not finite
        out["measured_by"] = "nndiff engine (%s)" % ("no edit" if not res["edits"] else "dry run")
    out["after_labels"], out["after_rel"] = labels, rel
    out["written"] = bool(fixed and res["edits"])
    out["repaired"] = labels == 0 and rel <= 10.0 * floor
    out["worse"] = labels > out["before_labels"]
    return out


def main(argv):
    args = list(argv)
    extra = []
    if "--" in args:
        i = args.index("--")
        extra, args = args[i + 1:], args[:i]
    if len(args) < 2:
        print(__doc__)
        return 2
    nndiff, root = args[0], args[1]
    jobs, only, variants, summary_path, dry = min(2, os.cpu_count() or 1), None, None, None, False
    min_lc, max_eq_edited = 0.95, 0
    rest = args[2:]
    while rest:
        a = rest.pop(0)
        if a == "--jobs":
            jobs = int(rest.pop(0))
        elif a == "--only":
            only = rest.pop(0)
        elif a == "--variants":
            variants = set(rest.pop(0).split(","))
        elif a == "--summary":
            summary_path = rest.pop(0)
        elif a == "--min-repaired-lc":
            min_lc = float(rest.pop(0))
        elif a == "--max-eq-edited":
            max_eq_edited = int(rest.pop(0))
        elif a == "--dry-run":
            dry = True
        else:
            raise SystemExit("unknown option %r" % a)
    manifest = os.path.join(root, "manifest.json")
    if not os.path.exists(manifest):
        print("skipped: no fault benchmark at %s (tools/make_fault_benchmark.py)" % root)
        return 77
    with open(manifest) as f:
        m = json.load(f)
    cases = [c for c in m["cases"] if (not only or only in c["case"]) and
             (not variants or c.get("variant", "calibrated") in variants)]
    x = np.load(os.path.join(root, "inputs.npy"))
    t0 = time.time()
    results = []
    with tempfile.TemporaryDirectory() as tmpdir, \
            concurrent.futures.ThreadPoolExecutor(max_workers=jobs) as ex:
        futs = [ex.submit(run_case, nndiff, root, c, extra, tmpdir, dry, x) for c in cases]
        for c, fu in zip(cases, futs):
            try:
                results.append(fu.result())
            except Exception as e:  # a case that cannot run is a failure, not a crash
                results.append({"case": c["case"], "variant": c.get("variant", "calibrated"),
                                "fault": c["fault"], "equivalent": c["equivalent"], "exit": -1,
                                "mode": "-", "seconds": 0.0, "error": repr(e)})
    results.sort(key=lambda r: r["case"])
    failures = []
    table = collections.defaultdict(lambda: collections.Counter())
    edits_per_repair = []
    for r in results:
        v = r["variant"]
        t = table[v]
        if "error" in r:
            failures.append("%s: %s" % (r["case"], r["error"]))
            t["errors"] += 1
            if r["equivalent"]:
                t["eq"] += 1
            elif r.get("target_labels_verify_ort", 1):
                t["lc"] += 1
            continue
        if r.get("fields_bad"):
            failures.append("%s: the written file differs from the target beyond the edits: %s" %
                            (r["case"], "; ".join(r["fields_bad"])))
        if r["worse"]:
            failures.append("%s: the repaired model is worse than the target (%d -> %d labels)" %
                            (r["case"], r["before_labels"], r["after_labels"]))
        if r["equivalent"]:
            t["eq"] += 1
            if r["edits"]:
                t["eq_edited"] += 1
            if r["exit"] != 0:
                t["eq_exit1"] += 1
            continue
        lc = r["before_labels"] > 0
        t["lc" if lc else "nlc"] += 1
        if r["repaired"]:
            t["lc_repaired" if lc else "nlc_repaired"] += 1
            edits_per_repair.append(r["edits"])
        elif r["exit"] != 1:
            failures.append("%s: not repaired but exit %d" % (r["case"], r["exit"]))
    total = collections.Counter()
    print("%-18s %18s %18s %10s %8s" % ("variant", "label-changing", "other faults", "eq edited", "errors"))
    for v in sorted(table):
        t = table[v]
        total.update(t)
        print("%-18s %18s %18s %10s %8d" % (v, "%d/%d" % (t["lc_repaired"], t["lc"]),
                                            "%d/%d" % (t["nlc_repaired"], t["nlc"]),
                                            "%d/%d" % (t["eq_edited"], t["eq"]), t["errors"]))
    lc_rate = total["lc_repaired"] / total["lc"] if total["lc"] else 1.0
    print("%-18s %18s %18s %10s %8d" % ("all", "%d/%d (%.1f%%)" % (total["lc_repaired"], total["lc"],
                                                                   100 * lc_rate),
                                        "%d/%d" % (total["nlc_repaired"], total["nlc"]),
                                        "%d/%d" % (total["eq_edited"], total["eq"]), total["errors"]))
    med = statistics.median(edits_per_repair) if edits_per_repair else 0
    modes = collections.Counter(r.get("measured_by", "error") for r in results)
    print("edits per repair: median %g, max %d; measured by: %s" %
          (med, max(edits_per_repair) if edits_per_repair else 0,
           ", ".join("%s %d" % kv for kv in sorted(modes.items()))))
    n_written = sum(1 for r in results if r.get("written"))
    n_fields_bad = sum(1 for r in results if r.get("fields_bad"))
    print("written files checked field by field: %d, %d differing beyond their edits" %
          (n_written, n_fields_bad))
    secs = [r["seconds"] for r in results]
    print("time: %.0f s for %d cases (median %.1f s a case)" %
          (time.time() - t0, len(results), statistics.median(secs) if secs else 0))
    for r in results:
        if "error" not in r and not r["equivalent"] and not r["repaired"]:
            print("  not repaired: %s (%s): exit %d, labels %d -> %d, rel %.3g (floor %.2g), %d edit(s)" %
                  (r["case"], r["fault"], r["exit"], r["before_labels"], r["after_labels"],
                   r["after_rel"], r["floor"], r["edits"]))
    if lc_rate < min_lc:
        failures.append("label-changing faults repaired %.1f%% < %.1f%%" % (100 * lc_rate, 100 * min_lc))
    if total["eq_edited"] > max_eq_edited:
        failures.append("%d equivalent pair(s) got an edit" % total["eq_edited"])
    if summary_path:
        with open(summary_path, "w") as f:
            json.dump({"cases": results, "lc_rate": lc_rate, "median_edits": med}, f, indent=1)
    for fl in failures:
        print("FAIL " + fl)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
