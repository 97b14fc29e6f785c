#!/usr/bin/env bash
# setup_venv_tf.sh - create the TensorFlow venv used only by the TFLite
# fixture maker (tools/make_tflite_fixtures.py) and the TFLite interpreter
# oracle (tests/python/check_tflite_vs_interpreter.py).
#
# Usage: tools/setup_venv_tf.sh [VENV_DIR]      (default: <repo>/.venv-tf)
#
# TensorFlow lives apart from .venv because it wants numpy >= 2, which
# breaks Debian's torch 1.13 that .venv sees. Versions are pinned so the
# converter (and so the fixtures' bytes) stays the same from run to run.
# Idempotent: a stamp records the pins and the script returns at once when
# they still match.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="${1:-$ROOT/.venv-tf}"
PY_SYS="${NNDIFF_SYSTEM_PYTHON:-/usr/bin/python3}"
PINS="tensorflow-cpu==2.21.0 numpy==2.4.6"
STAMP="$VENV/.nndiff-tf.stamp"

if [ -f "$STAMP" ] && [ "$(cat "$STAMP")" = "$PINS" ] && "$VENV/bin/python" -c 'import sys' 2>/dev/null; then
  echo "setup_venv_tf: $VENV is up to date"
  exit 0
fi
[ -x "$VENV/bin/python" ] || "$PY_SYS" -m venv "$VENV"
rm -f "$STAMP"
# shellcheck disable=SC2086
"$VENV/bin/python" -m pip install --quiet --disable-pip-version-check $PINS
"$VENV/bin/python" -c 'import tensorflow as tf, numpy; print("  tensorflow", tf.__version__, "numpy", numpy.__version__)'
echo "$PINS" > "$STAMP"
echo "setup_venv_tf: ready: $VENV"
