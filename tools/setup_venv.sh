#!/usr/bin/env bash
# setup_venv.sh - create/refresh the Python venv used by nndiff's fixture
# scripts (tools/*.py) and Python test oracles (tests/python/).
#
# Usage: tools/setup_venv.sh [VENV_DIR]      (default: <repo>/.venv)
#        tools/setup_venv.sh --help
#
# The venv is created from Debian's /usr/bin/python3 with
# --system-site-packages so it sees Debian's python3-torch (1.13) and
# python3-torchvision (0.14); tools/requirements.txt (onnx, onnxruntime, ...)
# is pip-installed on top. Idempotent: a stamp file inside the venv records
# the hash of requirements.txt, and when it still matches, the script only
# re-checks that the venv's python runs and exits.
# Set NNDIFF_VENV_FORCE=1 to reinstall and re-verify regardless of the stamp.
set -euo pipefail

case "${1:-}" in
  -h|--help)
    sed -n '2,14p' "$0" | sed 's/^# \{0,1\}//'
    exit 0 ;;
esac

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="${1:-$ROOT/.venv}"
REQ="$ROOT/tools/requirements.txt"
PY_SYS="${NNDIFF_SYSTEM_PYTHON:-/usr/bin/python3}"
STAMP="$VENV/.nndiff-requirements.stamp"

die() { echo "setup_venv: error: $*" >&2; exit 1; }

[ -f "$REQ" ] || die "missing $REQ"
[ -x "$PY_SYS" ] || die "$PY_SYS not found; install Debian's python3 (apt-get install python3 python3-venv)"

# torch/torchvision come from Debian, not pip: check them before anything else.
# (find_spec only locates them: cheap enough to do on every run.)
if ! "$PY_SYS" -c 'import importlib.util as u, sys
sys.exit(0 if u.find_spec("torch") and u.find_spec("torchvision") else 1)' >/dev/null 2>&1; then
  die "Debian's PyTorch is missing for $PY_SYS.
  Install it with:  apt-get install python3-torch python3-torchvision"
fi

want="$(sha256sum "$REQ" | cut -d' ' -f1) $("$PY_SYS" -c 'import sys;print("%d.%d"%sys.version_info[:2])')"

if [ -z "${NNDIFF_VENV_FORCE:-}" ] && [ -f "$STAMP" ] && [ "$(cat "$STAMP")" = "$want" ] \
   && "$VENV/bin/python" -c 'import sys' >/dev/null 2>&1; then
  echo "setup_venv: $VENV is up to date"
  exit 0
fi

if [ ! -x "$VENV/bin/python" ]; then
  echo "setup_venv: creating $VENV (from $PY_SYS, --system-site-packages)"
  "$PY_SYS" -m venv --system-site-packages "$VENV" \
    || die "could not create the venv; install python3-venv (apt-get install python3-venv)"
fi

echo "setup_venv: installing tools/requirements.txt"
rm -f "$STAMP"
"$VENV/bin/python" -m pip install --quiet --disable-pip-version-check \
  -r "$REQ" || die "pip install -r $REQ failed"

echo "setup_venv: verifying imports"
"$VENV/bin/python" - <<'PY' || die "import check failed (see above)"
import numpy, torch, torchvision, onnx, onnxruntime
if int(numpy.__version__.split(".")[0]) >= 2:
    raise SystemExit("numpy %s >= 2 breaks Debian's torch 1.13" % numpy.__version__)
# A tiny end-to-end check: torch tensor -> numpy, and an onnxruntime session.
from onnx import helper, TensorProto
g = helper.make_graph([helper.make_node("Relu", ["x"], ["y"])], "g",
                      [helper.make_tensor_value_info("x", TensorProto.FLOAT, [2])],
                      [helper.make_tensor_value_info("y", TensorProto.FLOAT, [2])])
m = helper.make_model(g, opset_imports=[helper.make_opsetid("", 13)])
m.ir_version = 8
onnx.checker.check_model(m)
s = onnxruntime.InferenceSession(m.SerializeToString(), providers=["CPUExecutionProvider"])
y = s.run(None, {"x": torch.tensor([-1.0, 2.0]).numpy()})[0]
assert y.tolist() == [0.0, 2.0], y
print("  numpy %s, torch %s, torchvision %s, onnx %s, onnxruntime %s" % (
    numpy.__version__, torch.__version__, torchvision.__version__,
    onnx.__version__, onnxruntime.__version__))
PY

echo "$want" > "$STAMP"
echo "setup_venv: ready: $VENV  (use $VENV/bin/python)"
