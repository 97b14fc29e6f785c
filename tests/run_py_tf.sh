#!/bin/sh
# Runs a Python script under the TensorFlow venv (.venv-tf, made by
# tools/setup_venv_tf.sh), which the TFLite fixtures and the TFLite
# interpreter oracle need. Without it the test is skipped (exit 77): CI and a
# bare `ctest` run every other test.
here=$(cd "$(dirname "$0")/.." && pwd)
py="$here/.venv-tf/bin/python"
if [ ! -x "$py" ]; then
  echo "skipped: no TensorFlow venv at $here/.venv-tf (run tools/setup_venv_tf.sh)"
  exit 77
fi
TF_CPP_MIN_LOG_LEVEL=${TF_CPP_MIN_LOG_LEVEL:-2} exec "$py" "$@"
