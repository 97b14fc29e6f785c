#!/bin/sh
# Command-line contract: help and version exit 0; bad usage and unreadable
# or unsupported models exit 2 with one "nndiff: ..." line naming the
# problem (plus the usage line for usage errors), and nothing on stdout.
# Usage: cli_usage.sh PATH/TO/nndiff
set -u
NNDIFF=${1:?usage: cli_usage.sh PATH/TO/nndiff}
TMP=$(mktemp -d) || exit 1
trap 'rm -rf "$TMP"' EXIT INT TERM
failures=0

# run EXPECTED_RC ARGS...: runs nndiff, keeps stdout/stderr in $TMP/out, $TMP/err.
run() {
  expected=$1
  shift
  "$NNDIFF" "$@" >"$TMP/out" 2>"$TMP/err"
  rc=$?
  if [ "$rc" -ne "$expected" ]; then
    echo "FAIL: nndiff $*: exit $rc, expected $expected"
    sed 's/^/  stderr: /' "$TMP/err"
    failures=$((failures + 1))
    return 1
  fi
  return 0
}

# expect FILE TEXT: FILE (out or err) contains TEXT.
expect() {
  if ! grep -qF -- "$2" "$TMP/$1"; then
    echo "FAIL: expected std$1 to contain '$2'; it was:"
    sed 's/^/  /' "$TMP/$1"
    failures=$((failures + 1))
  fi
}

# expect_error_shape: stdout empty, stderr starts with "nndiff: ".
expect_error_shape() {
  if [ -s "$TMP/out" ]; then
    echo "FAIL: expected nothing on stdout, got:"
    sed 's/^/  /' "$TMP/out"
    failures=$((failures + 1))
  fi
  if ! head -n 1 "$TMP/err" | grep -q '^nndiff: '; then
    echo "FAIL: expected stderr to start with 'nndiff: ', got:"
    sed 's/^/  /' "$TMP/err"
    failures=$((failures + 1))
  fi
}

# expect_lines N: stderr has exactly N lines.
expect_lines() {
  n=$(wc -l <"$TMP/err")
  if [ "$n" -ne "$1" ]; then
    echo "FAIL: expected $1 line(s) on stderr, got $n:"
    sed 's/^/  /' "$TMP/err"
    failures=$((failures + 1))
  fi
}

# Help and version.
run 0 --help && expect out "inspect" && expect out "Exit status"
run 0 -h && expect out "usage: nndiff"
run 0 --version && expect out "nndiff "
run 0 help && expect out "Commands:"
run 0 help inspect && expect out "docs/METRICS.md" && expect out "Examples:"
run 0 inspect --help && expect out "usage: nndiff inspect MODEL"
run 0 inspect -h && expect out "--layers"

# Bad usage.
run 2
run 2 frobnicate && expect err "unknown command 'frobnicate'"
run 2 --frobnicate && expect err "unknown option '--frobnicate'"
run 2 help frobnicate && expect err "frobnicate"
run 2 inspect && expect_error_shape && expect err "missing MODEL" &&
  expect err "usage: nndiff inspect MODEL" && expect_lines 2
run 2 inspect --bogus model.onnx && expect_error_shape && expect err "unknown option '--bogus'" &&
  expect err "usage: nndiff inspect"
run 2 inspect -z model.onnx && expect_error_shape && expect err "unknown option '-z'"
run 2 inspect model.onnx --json && expect_error_shape && expect err "'--json' needs a value"
run 2 inspect a.onnx b.onnx && expect_error_shape && expect err "one MODEL at a time"

# Bad input: one line naming the file and the problem.
missing="$TMP/no such dir/model.onnx"
run 2 inspect "$missing" && expect_error_shape && expect err "$missing" && expect_lines 1
run 2 inspect "$TMP" && expect_error_shape && expect err "is a directory" && expect_lines 1
printf 'xxxxTFL3xxxxxxxx' >"$TMP/model.tflite"
run 2 inspect "$TMP/model.tflite" && expect_error_shape && expect err "root table" &&
  expect err "$TMP/model.tflite" && expect_lines 1
printf '\211HDF\r\n\032\n' >"$TMP/model.h5"
run 2 inspect "$TMP/model.h5" && expect_error_shape && expect err "Keras" &&
  expect err "not supported yet" && expect_lines 1
printf 'hello' >"$TMP/notes.txt"
run 2 inspect "$TMP/notes.txt" && expect_error_shape && expect err "cannot tell the model format"
mkdir "$TMP/saved" && : >"$TMP/saved/saved_model.pb"
run 2 inspect "$TMP/saved" && expect_error_shape && expect err "SavedModel"

if [ "$failures" -ne 0 ]; then
  echo "$failures check(s) failed"
  exit 1
fi
echo "cli_usage: all checks passed"
