#!/usr/bin/env python3
"""Every torchvision classifier through nndiff against ONNX Runtime, in the
two configurations of docs/INTEROP.md, with a results file and its table.

For each model (tools/export_torchvision.py --list order, or --models):
exports it at its default opset into OUT/tv and at opset 13 into OUT/tv13
(BatchNorm kept in both: TrainingMode.PRESERVE on the eval model), and with
--configs ...,fold also at its default opset with BatchNorm folded by the
exporter (TrainingMode.EVAL) into OUT/tvfold, runs
tests/python/check_vs_ort.py on it (fast and reference precision; the
number of photos shrinks with the model's MACs; the reference precision is
left out above --reference-max-macs, 200 GMACs by default: on the packed
double GEMM it runs at about 2 GMAC/s per core), and appends one JSON line per
model and configuration to OUT/results.jsonl (export error, or the
checker's lines). Models already in the results file are skipped, so an
interrupted sweep resumes. Opset-13 files above 400 MB are deleted once
checked (disk).

  tools/interop_sweep.py --nndiff build/nndiff --out out/sweep [--models a,b] [--inputs N]
  tools/interop_sweep.py --table out/sweep/results.jsonl [...]   # markdown table
"""
import argparse
import json
import os
import re
import subprocess
import sys
import time

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")
sys.path.insert(0, os.path.join(ROOT, "tools"))


def inputs_for(macs):
    return 8 if macs < 2e9 else 4 if macs < 6e9 else 2 if macs < 2e10 else 1


def sweep(args):
    import export_torchvision as ex
    py = sys.executable
    models = args.models.split(",") if args.models else list(ex.MODEL_OPSETS)
    res_path = os.path.join(args.out, "results.jsonl")
    os.makedirs(args.out, exist_ok=True)
    done = set()
    if os.path.exists(res_path):
        for line in open(res_path):
            r = json.loads(line)
            done.add((r["model"], r["config"]))
    for m in models:
        for cfg, sub, opset in (("default", "tv", None), ("op13", "tv13", 13),
                                ("fold", "tvfold", None)):
            if (m, cfg) in done or cfg not in args.configs.split(","):
                continue
            d = os.path.join(args.out, sub)
            t0 = time.time()
            cmd = [py, os.path.join(ROOT, "tools", "export_torchvision.py"), "--out", d,
                   "--models", m] + (["--opset", str(opset)] if opset else []) + \
                (["--bn", "fold"] if cfg == "fold" else [])
            p = subprocess.run(cmd, capture_output=True, text=True)
            rec = {"model": m, "config": cfg, "opset": opset or ex.MODEL_OPSETS[m]}
            if p.returncode != 0:
                msg = [l for l in p.stdout.splitlines() if "FAILED" in l]
                rec["export_error"] = msg[0].split("FAILED: ", 1)[1] if msg else p.stderr[-500:]
            else:
                meta = json.load(open(os.path.join(d, m + ".torch.json")))
                macs = meta["macs"]
                rec.update(macs=macs, inputs=args.inputs or inputs_for(macs))
                c = subprocess.run(
                    [py, os.path.join(ROOT, "tests", "python", "check_vs_ort.py"), args.nndiff, d,
                     "--models", m, "--inputs", str(rec["inputs"])] +
                    (["--precisions", "fast"] if macs > args.reference_max_macs else []),
                    capture_output=True, text=True)
                rec["check_rc"] = c.returncode
                rec["log"] = [l for l in c.stdout.splitlines() if l.strip()]
                onnx_path = os.path.join(d, m + ".onnx")
                if cfg != "default" and os.path.getsize(onnx_path) > 4e8:
                    os.remove(onnx_path)
            rec["seconds"] = round(time.time() - t0, 1)
            with open(res_path, "a") as f:
                f.write(json.dumps(rec) + "\n")
            print("%-20s %-7s %s" % (m, cfg, "export failed" if "export_error" in rec else
                                     "rc %d" % rec["check_rc"]), flush=True)
    return 0


LINE = re.compile(r"^(ok  |FAIL) (\S+)\s+(fast|reference)\s+inputs (\d+).*?max\|diff\| (\S+)\s+rel "
                  r"(\S+)\s+max\|ort\| (\S+)(.*)$")


def table(paths):
    import export_torchvision as ex
    rows = {}
    for path in paths:
        for line in open(path):
            r = json.loads(line)
            rows[(r["model"], r["config"])] = r  # the last record of a model wins
    order = {m: i for i, m in enumerate(ex.MODEL_OPSETS)}
    cfg_order = {"default": 0, "op13": 1, "fold": 2}
    rows = dict(sorted(rows.items(), key=lambda kv: (order.get(kv[0][0], 999),
                                                     cfg_order[kv[0][1]])))
    print("| model | config | opset | BN | inputs | fast: top-1 / rel diff | "
          "reference: top-1 / rel diff |")
    print("|---|---|---|---|---|---|---|")
    for (m, cfg), r in rows.items():
        if "export_error" in r:
            continue
        cells = {"fast": "—", "reference": "not run (fast only)"}
        for l in r.get("log", []):
            mm = LINE.match(l)
            if not mm:
                continue
            status, _, prec, n, _, rel, _, rest = mm.groups()
            top = re.search(r"top-1 differs on (\d+) of (\d+)", rest)
            agree = "%s/%s" % (int(n) - int(top.group(1)), n) if top else "%s/%s" % (n, n)
            note = " (ORT the less exact, see notes)" if status == "ok  " and float(rel) > 1e-4 else ""
            cells[prec] = "%s%s / %s%s" % ("" if status == "ok  " else "**FAIL** ", agree, rel, note)
            if prec == "fast" and status != "ok  " and "nndiff exit" in l:
                cells[prec] = "**FAIL** " + l.split(": ", 1)[-1][:80]
        for l in r.get("log", []):
            if l.startswith("FAIL") and "nndiff exit" in l:
                prec = "fast" if " fast " in l else "reference"
                cells[prec] = "**FAIL** " + l.split("nndiff exit", 1)[1][:90]
        print("| %s | %s | %d | %s | %s | %s | %s |" % (
            m, {"default": "default", "op13": "opset 13", "fold": "default, BN folded"}[cfg],
            r["opset"], "folded" if cfg == "fold" else "kept", r.get("inputs", "—"),
            cells["fast"], cells["reference"]))
    print()
    failed = [(m, r) for (m, cfg), r in rows.items() if "export_error" in r]
    if failed:
        print("| model | config | opset | torch.onnx 1.13 says |")
        print("|---|---|---|---|")
        for m, r in failed:
            print("| %s | %s | %d | %s |" % (m, r["config"], r["opset"],
                                           r["export_error"].strip().replace("|", "/")[:300]))
        print()
    missing = [m for m in ex.MODEL_OPSETS if not any(k[0] == m for k in rows)]
    if missing:
        print("Not run: " + ", ".join(missing))
    return 0


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--nndiff", help="the nndiff binary")
    p.add_argument("--out", help="work folder (exports, results.jsonl)")
    p.add_argument("--models", default="", help="comma-separated (default: all)")
    p.add_argument("--configs", default="default,op13",
                   help="default (default opset, BN kept), op13 (opset 13, BN kept), fold "
                        "(default opset, BN folded by the exporter); default: default,op13")
    p.add_argument("--inputs", type=int, default=0,
                   help="photos per model (default: 8 below 2 GMACs, 4 below 6, 2 below 20, 1 above)")
    p.add_argument("--reference-max-macs", type=float, default=2e11,
                   help="run only the fast precision above this many MACs (default 2e11)")
    p.add_argument("--table", metavar="RESULTS", nargs="+",
                   help="print the markdown table of one or more results files")
    a = p.parse_args(argv)
    if a.table:
        return table(a.table)
    if not a.nndiff or not a.out:
        p.error("--nndiff and --out are required (or --table)")
    return sweep(a)


if __name__ == "__main__":
    sys.exit(main())
