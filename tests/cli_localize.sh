#!/bin/sh
# `nndiff localize` command-line contract: usage errors exit 2 with one
# "nndiff: ..." line and the usage; a model compared with itself is
# equivalent (exit 0) statically and on data; --json - writes the
# nndiff.localize/1 document on stdout.
# Usage: cli_localize.sh PATH/TO/nndiff PATH/TO/model.onnx
set -u
NNDIFF=${1:?usage: cli_localize.sh NNDIFF MODEL}
MODEL=${2:?usage: cli_localize.sh NNDIFF MODEL}
TMP=$(mktemp -d) || exit 1
trap 'rm -rf "$TMP"' EXIT INT TERM
failures=0

run() {
  expected=$1
  shift
  "$NNDIFF" "$@" >"$TMP/out" 2>"$TMP/err"
  rc=$?
  if [ "$rc" -ne "$expected" ]; then
    echo "FAIL: nndiff $*: exit $rc, expected $expected"
    sed 's/^/  stderr: /' "$TMP/err"
    failures=$((failures + 1))
  fi
}

expect() {
  if ! grep -qF -- "$2" "$TMP/$1"; then
    echo "FAIL: expected std$1 to contain '$2'; it was:"
    sed 's/^/  /' "$TMP/$1" | head -20
    failures=$((failures + 1))
  fi
}

run 2 localize
expect err "nndiff: localize: needs two models"
expect err "usage: nndiff localize"
run 2 localize "$MODEL"
run 2 localize "$MODEL" "$MODEL" "$MODEL"
run 2 localize "$MODEL" "$MODEL" --bogus
expect err "unknown option '--bogus'"
run 2 localize "$MODEL" "$MODEL" --images 0
expect err "--images needs a count"
run 2 localize "$MODEL" "$MODEL" --threads x
run 2 localize "$MODEL" "$MODEL" --json
expect err "needs a value"
run 2 localize "$MODEL" "$TMP/missing.onnx"
expect err "missing.onnx"
run 2 localize "$MODEL" "$MODEL" --data "$TMP/missing.npy"
run 0 localize --help
expect out "usage: nndiff localize"
run 0 help localize
expect out "noise floor"

# statically: a model is equivalent to itself
run 0 localize "$MODEL" "$MODEL"
expect out "EQUIVALENT"
expect out "static comparison only"

# on data: one all-zero [1,3,224,224] float32 input as .npy (header padded to 128 bytes)
{
  printf '\223NUMPY\001\000\166\000'
  h="{'descr': '<f4', 'fortran_order': False, 'shape': (1, 3, 224, 224), }"
  printf '%s' "$h"
  n=$((118 - ${#h} - 1))
  i=0
  while [ $i -lt $n ]; do printf ' '; i=$((i + 1)); done
  printf '\n'
  head -c 602112 /dev/zero
} >"$TMP/x.npy"
run 0 localize "$MODEL" "$MODEL" --data "$TMP/x.npy" --images all
expect out "EQUIVALENT"
expect out "1 input run through both models"
run 0 localize "$MODEL" "$MODEL" --data "$TMP/x.npy" --json -
expect out '"schema": "nndiff.localize/1"'
expect out '"equivalent": true'
expect out '"inputs_used"'

if [ "$failures" -ne 0 ]; then
  echo "$failures failure(s)"
  exit 1
fi
echo "cli_localize: ok"
