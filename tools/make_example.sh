#!/usr/bin/env bash
# make_example.sh - regenerate the example model bundled with nndiff:
#   examples/squeezenet1_1.onnx        (random weights, seed 0, opset 13)
#   examples/squeezenet1_1.torch.json  (reference parameter/MAC counts)
# via tools/export_torchvision.py. Sets up the venv first (tools/setup_venv.sh)
# unless PYTHON names an interpreter that already has torch and onnx.
#
# Usage: tools/make_example.sh [--check-ort]
#   (extra arguments are passed to export_torchvision.py)
set -euo pipefail

case "${1:-}" in
  -h|--help) sed -n '2,10p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
esac

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
if [ -z "${PYTHON:-}" ]; then
  "$ROOT/tools/setup_venv.sh" "$ROOT/.venv"
  PYTHON="$ROOT/.venv/bin/python"
fi
mkdir -p "$ROOT/examples"
# --force: the example must always be rebuilt exactly from these settings.
"$PYTHON" "$ROOT/tools/export_torchvision.py" --out "$ROOT/examples" \
  --models squeezenet1_1 --seed 0 --opset 13 --force "$@"
ls -l "$ROOT/examples/squeezenet1_1.onnx" "$ROOT/examples/squeezenet1_1.torch.json"
