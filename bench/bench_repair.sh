#!/bin/sh
# Times `nndiff repair` against running both models plainly (`nndiff run`
# twice) on the same inputs, and prints the ratio.
#
#   bench/bench_repair.sh [NNDIFF] [MODEL] [N] [THREADS]
#
# Defaults: build/nndiff, fixtures/torchvision/resnet50.onnx (exported by
# tools/export_torchvision.py when missing), 100 inputs, 2 threads. The pair
# is bench_localize's (bench/make_localize_pair.py: one mid-network
# convolution perturbed, every node renamed); repair localizes on half of
# the inputs and verifies on the other half. It runs with --dry-run (the
# figures are then the engine's on the
# edited graph); BENCH_WRITE=1 writes the file (-o) once it has. Work files go to out/bench_repair/ (or
# $BENCH_OUT).
set -eu
name=bench_repair
. "$(dirname "$0")/pair_common.sh"
rc=0
# BENCH_WRITE=1 writes FIXED (needs the target format's writer); the
# default is a dry run, whose figures are the engine's on the edited graph
if [ "${BENCH_WRITE:-0}" = 1 ]; then
  mode=written
  rm -f "$out/fixed.onnx"
  "$nndiff" repair "$out/source.onnx" "$out/target.onnx" --data "$out/inputs.npy" --threads "$threads" \
    -o "$out/fixed.onnx" --json "$out/repair.json" > "$out/repair.txt" || rc=$?
else
  mode=dry-run
  "$nndiff" repair "$out/source.onnx" "$out/target.onnx" --data "$out/inputs.npy" --threads "$threads" \
    --dry-run --json "$out/repair.json" > "$out/repair.txt" || rc=$?
fi
t2=$(now)
if [ "$rc" -gt 1 ]; then echo "bench_repair: repair failed (exit $rc)" >&2; exit 1; fi
"$py" - "$t0" "$t1" "$t2" "$out/repair.json" "$n" "$threads" "$mode" <<'PY'
import json, sys
t0, t1, t2 = map(float, sys.argv[1:4])
r = json.load(open(sys.argv[4]))
run, rep = t1 - t0, t2 - t1
s = r["seconds"]
print("inputs %s, threads %s, %s" % (sys.argv[5], sys.argv[6], sys.argv[7]))
print("nndiff run x2:   %7.2f s" % run)
print("nndiff repair:   %7.2f s  (source outputs %.2f s, localize %.2f s, search %.2f s; %d engine runs)" % (
    rep, s["source"], s["localize"], s["search"], r["search"]["engine_runs"]))
print("ratio repair / run x2: %.2fx" % (rep / run))
b, a = r["before"]["verification"], r["after"]["verification"]
print("verification: %d -> %d labels differing, rel diff %.3g -> %.3g; %d edit(s), matches: %s" % (
    b["labels_differing"], a["labels_differing"], b["rel_diff"], a["rel_diff"] if a["rel_diff"] is not None else float("inf"),
    len(r["edits"]), r["matches"]))
PY
