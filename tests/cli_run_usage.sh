#!/bin/sh
# Command-line contract of `run` and `compare`: help exits 0 and teaches
# with examples; bad options, missing --data, unreadable data and a tensor
# file of the wrong shape exit 2 with one "nndiff: ..." line naming the
# problem (plus the usage for usage errors) and nothing on stdout.
# Usage: cli_run_usage.sh PATH/TO/nndiff PATH/TO/model.onnx (a [N,3,224,224] classifier)
set -u
NNDIFF=${1:?usage: cli_run_usage.sh PATH/TO/nndiff MODEL.onnx}
MODEL=${2:?usage: cli_run_usage.sh PATH/TO/nndiff MODEL.onnx}
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
    return 1
  fi
  return 0
}

expect() {
  if ! grep -qF -- "$2" "$TMP/$1"; then
    echo "FAIL: expected std$1 to contain '$2'; it was:"
    sed 's/^/  /' "$TMP/$1"
    failures=$((failures + 1))
  fi
}

# An error: nothing on stdout, stderr starts "nndiff: " and has N lines.
expect_error() {
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
  n=$(wc -l <"$TMP/err")
  if [ "$n" -ne "$1" ]; then
    echo "FAIL: expected $1 line(s) on stderr, got $n:"
    sed 's/^/  /' "$TMP/err"
    failures=$((failures + 1))
  fi
}

# npy FILE DICT_SHAPE BYTES: a float32 .npy (version 1.0) of zeros. The
# header is padded to 118 bytes so the data starts at offset 128.
npy() {
  hdr="{'descr': '<f4', 'fortran_order': False, 'shape': $2, }"
  pad=$((117 - ${#hdr}))
  {
    printf '\223NUMPY\001\000\166\000%s' "$hdr"
    printf "%${pad}s\n" ""
    head -c "$3" /dev/zero
  } >"$1"
}

# Help teaches: usage, the options, examples.
run 0 --help && expect out "run" && expect out "compare"
run 0 help run && expect out "usage: nndiff run MODEL --data D" && expect out "Examples:" &&
  expect out "--on-error skip|fail" && expect out "--outputs OUT.npy"
run 0 run --help && expect out "--precision fast|reference"
run 0 help compare && expect out "usage: nndiff compare A B" && expect out "Examples:" &&
  expect out "docs/COMPARE.md" && expect out "--chain" && expect out "Exit status: 0"
run 0 compare -h && expect out "--pre-for K=SPEC"

npy "$TMP/x.npy" "(2, 3, 224, 224)" $((2 * 3 * 224 * 224 * 4))
npy "$TMP/small.npy" "(2, 3, 8, 8)" $((2 * 3 * 8 * 8 * 4))
npy "$TMP/flat.npy" "(4, 10)" 160
mkdir "$TMP/empty"

# run: bad usage.
run 2 run && expect_error 5 && expect err "missing MODEL" && expect err "usage: nndiff run"
run 2 run "$MODEL" && expect_error 5 && expect err "missing --data"
run 2 run "$MODEL" "$MODEL" --data "$TMP/x.npy" && expect_error 5 && expect err "one MODEL at a time"
run 2 run "$MODEL" --data "$TMP/x.npy" --bogus && expect_error 5 && expect err "unknown option '--bogus'"
run 2 run "$MODEL" --data && expect err "'--data' needs a value"
run 2 run "$MODEL" --data "$TMP/x.npy" --threads lots && expect err "--threads wants a number"
run 2 run "$MODEL" --data "$TMP/x.npy" --batch 0 && expect err "--batch wants a number"
run 2 run "$MODEL" --data "$TMP/x.npy" --limit -3 && expect err "--limit wants a positive number"
run 2 run "$MODEL" --data "$TMP/x.npy" --top 0 && expect err "--top wants a positive number"
run 2 run "$MODEL" --data "$TMP/x.npy" --on-error ignore && expect err "'skip' or 'fail'"
run 2 run "$MODEL" --data "$TMP/x.npy" --precision double && expect err "'fast' or 'reference'"
run 2 run "$MODEL" --data "$TMP/x.npy" --preset nosuch && expect_error 1 && expect err "nosuch" &&
  expect err "torchvision"
run 2 run "$MODEL" --data "$TMP/x.npy" --pre "size=huge" && expect_error 1 && expect err "size"

# run: bad input, one line naming it.
run 2 run "$TMP/missing.onnx" --data "$TMP/x.npy" && expect_error 1 && expect err "$TMP/missing.onnx"
run 2 run "$MODEL" --data "$TMP/nothing here" && expect_error 1 && expect err "$TMP/nothing here"
run 2 run "$MODEL" --data "$TMP/empty" && expect_error 1 && expect err "no images found"
run 2 run "$MODEL" --data "$TMP/small.npy" && expect_error 1 && expect err "$TMP/small.npy" &&
  expect err "[3,8,8]" && expect err "[3,224,224]" && expect err "$MODEL"
run 2 run "$MODEL" --data "$TMP/flat.npy" && expect_error 1 && expect err "[10]"
printf 'not a label file\n' >"$TMP/labels.txt"
run 2 run "$MODEL" --data "$TMP/x.npy" --labels "$TMP/labels.txt" && expect_error 1 &&
  expect err "labels.txt"
run 2 run "$MODEL" --data "$TMP/x.npy" --outputs "$TMP/empty" && expect_error 1 &&
  expect err "is a directory"

# run: a working call on tensors.
run 0 run "$MODEL" --data "$TMP/x.npy" --json "$TMP/r.json" --outputs "$TMP/o.npy" &&
  expect out "preprocessing  none: tensor data is fed as stored" && expect out "images/s"
[ -s "$TMP/r.json" ] && [ -s "$TMP/o.npy" ] || {
  echo "FAIL: run did not write --json/--outputs"
  failures=$((failures + 1))
}
run 0 run "$MODEL" --data "$TMP/x.npy" --json - && expect out '"schema": "nndiff.run/1"'

# compare: bad usage and input.
run 2 compare && expect_error 5 && expect err "two models or more"
run 2 compare "$MODEL" --data "$TMP/x.npy" && expect_error 5 && expect err "two models or more (got 1)"
run 2 compare "$MODEL" "$MODEL" && expect_error 5 && expect err "missing --data"
run 2 compare "$MODEL" "$MODEL" --data "$TMP/x.npy" --pre-for 3=torchvision &&
  expect err "--pre-for names model 3 but only 2 are given"
run 2 compare "$MODEL" "$MODEL" --data "$TMP/x.npy" --pre-for torchvision &&
  expect err "--pre-for wants K=SPEC"
run 2 compare "$MODEL" "$MODEL" --data "$TMP/x.npy" --pre-for B=nosuch && expect_error 1 &&
  expect err "--pre-for 2"
run 2 compare "$MODEL" "$MODEL" --data "$TMP/x.npy" --wat && expect err "unknown option '--wat'"
run 2 compare "$MODEL" "$TMP/missing.onnx" --data "$TMP/x.npy" && expect_error 1 &&
  expect err "$TMP/missing.onnx"
run 2 compare "$MODEL" "$MODEL" --data "$TMP/small.npy" && expect_error 1 && expect err "[3,8,8]"

# compare: a model against itself agrees (exit 0).
run 0 compare "$MODEL" "$MODEL" --data "$TMP/x.npy" --chain --json "$TMP/c.json" &&
  expect out "same top-1 on all 2 inputs" && expect out "conversion chain A -> B"
grep -q '"label_discrepancy": 0' "$TMP/c.json" || {
  echo "FAIL: compare JSON lacks label_discrepancy 0"
  failures=$((failures + 1))
}

if [ "$failures" -ne 0 ]; then
  echo "$failures check(s) failed"
  exit 1
fi
echo "cli_run_usage: all checks passed"
