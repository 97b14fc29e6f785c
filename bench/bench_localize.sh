#!/bin/sh
# Times `nndiff localize` against running both models plainly (`nndiff run`
# twice) on the same inputs, and prints the ratio (target: <= 1.5x).
#
#   bench/bench_localize.sh [NNDIFF] [MODEL] [N] [THREADS]
#
# Defaults: build/nndiff, fixtures/torchvision/resnet50.onnx (made by
# `.venv/bin/python tools/export_torchvision.py --out fixtures/torchvision
# --models resnet50` when missing), 100 inputs, 2 threads. The target is the
# source with one mid-network convolution perturbed and every node renamed
# (bench/make_localize_pair.py); the inputs are the fault benchmark's photos
# tiled to N rows. Work files go to out/bench_localize/ (or $BENCH_OUT).
set -eu
name=bench_localize
. "$(dirname "$0")/pair_common.sh"
rc=0
"$nndiff" localize "$out/source.onnx" "$out/target.onnx" --data "$out/inputs.npy" --threads "$threads" \
  --json "$out/localize.json" > "$out/localize.txt" || rc=$?
t2=$(now)
if [ "$rc" -gt 1 ]; then echo "bench_localize: localize failed (exit $rc)" >&2; exit 1; fi
"$py" - "$t0" "$t1" "$t2" "$out/localize.json" "$n" "$threads" <<'PY'
import json, sys
t0, t1, t2 = map(float, sys.argv[1:4])
r = json.load(open(sys.argv[4]))
run, loc = t1 - t0, t2 - t1
s = r["seconds"]
top = r["suspects"][0] if r["suspects"] else None
print("inputs %s, threads %s" % (sys.argv[5], sys.argv[6]))
print("nndiff run x2:     %7.2f s" % run)
print("nndiff localize:   %7.2f s  (outputs %.2f s, layers %.2f s, noise floor %.2f s)" % (
    loc, s["outputs"], s["layers"], s["noise_floor"]))
print("ratio localize / run x2: %.2fx (target <= 1.5x)" % (loc / run))
if top:
    print("top suspect: %s (%s)" % (", ".join(top["target_nodes"]), top["kind"]))
PY
