#!/usr/bin/env bash
# make_example.sh - regenerate the example models bundled with nndiff:
#   examples/squeezenet1_1.onnx            the "source": torch.onnx export,
#                                          random weights (seed 0), BatchNorm kept
#   examples/squeezenet1_1.torch.json      PyTorch's parameter/MAC counts
#   examples/squeezenet1_1_converted.onnx  the "converted" model: every name
#                                          changed like a TF converter would,
#                                          and one real converter bug injected
#                                          (a kernel rotated 180 degrees)
#   examples/squeezenet1_1_converted.truth.json  what was injected, where
# Both come from tools/make_fault_benchmark.py (case squeezenet1_1/kernel_flipped).
# Sets up the venv first (tools/setup_venv.sh) unless PYTHON is set.
#
# Usage: tools/make_example.sh
set -euo pipefail

case "${1:-}" in
  -h|--help) sed -n '2,15p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
esac

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
if [ -z "${PYTHON:-}" ]; then
  "$ROOT/tools/setup_venv.sh" "$ROOT/.venv"
  PYTHON="$ROOT/.venv/bin/python"
fi
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
"$PYTHON" "$ROOT/tools/make_fault_benchmark.py" --out "$tmp" --archs squeezenet1_1 --seed 0 --force
mkdir -p "$ROOT/examples"
cp "$tmp/squeezenet1_1/source.onnx" "$ROOT/examples/squeezenet1_1.onnx"
cp "$tmp/squeezenet1_1/source.torch.json" "$ROOT/examples/squeezenet1_1.torch.json"
cp "$tmp/squeezenet1_1/kernel_flipped.onnx" "$ROOT/examples/squeezenet1_1_converted.onnx"
"$PYTHON" - "$tmp/manifest.json" "$ROOT/examples/squeezenet1_1_converted.truth.json" <<'PY'
import json, sys
m = json.load(open(sys.argv[1]))
cases = m["cases"] if isinstance(m, dict) else m
case = next(c for c in cases if c["case"] == "squeezenet1_1/kernel_flipped")
json.dump(case, open(sys.argv[2], "w"), indent=1)
PY
ls -l "$ROOT"/examples/
