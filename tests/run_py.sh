#!/bin/sh
# Runs a Python test script under the repo's pinned venv (.venv, made by
# tools/setup_venv.sh). Without the venv the test is skipped (exit 77), so a
# bare `ctest` still runs every C test.
here=$(cd "$(dirname "$0")/.." && pwd)
py="$here/.venv/bin/python"
if [ ! -x "$py" ]; then
  echo "skipped: no venv at $here/.venv (run tools/setup_venv.sh)"
  exit 77
fi
exec "$py" "$@"
