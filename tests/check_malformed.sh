#!/bin/sh
# Bad-input test: every file of the malformed corpus (made by
# tools/make_malformed_corpus.py, listed in its manifest.tsv) must make
# `nndiff inspect` exit with the expected code (2) and print exactly one line
# on stderr that starts with "nndiff:", with no sanitizer report.
# Usage: check_malformed.sh NNDIFF CORPUS_DIR
nndiff=$1
dir=$2
[ -f "$dir/manifest.tsv" ] || { echo "no manifest in $dir"; exit 1; }
passed=0
failed=0
tmp=$(mktemp)
trap 'rm -f "$tmp"' EXIT
while IFS="$(printf '\t')" read -r file expected desc; do
  case "$file" in file|"") continue ;; esac
  "$nndiff" inspect "$dir/$file" >/dev/null 2>"$tmp"
  rc=$?
  lines=$(wc -l <"$tmp")
  first=$(head -n 1 "$tmp")
  problem=""
  [ "$rc" = "$expected" ] || problem="exit $rc, expected $expected"
  [ "$lines" = 1 ] || problem="$problem; $lines lines on stderr"
  case "$first" in nndiff:*) ;; *) problem="$problem; message does not start with 'nndiff:'" ;; esac
  if grep -q -E "Sanitizer|runtime error" "$tmp"; then problem="$problem; sanitizer report"; fi
  if [ -n "$problem" ]; then
    echo "FAIL $file ($desc): $problem"
    sed 's/^/    /' "$tmp" | head -20
    failed=$((failed + 1))
  else
    echo "ok   $file: $first"
    passed=$((passed + 1))
  fi
done <"$dir/manifest.tsv"
for valid in valid_tiny.onnx valid_tiny.tflite; do
  [ -f "$dir/$valid" ] || continue
  if "$nndiff" inspect "$dir/$valid" >/dev/null 2>"$tmp"; then
    passed=$((passed + 1)); echo "ok   $valid loads"
  else
    failed=$((failed + 1)); echo "FAIL $valid: $(cat "$tmp")"
  fi
done
echo "$passed passed, $failed failed"
[ "$failed" = 0 ] && [ "$passed" -gt 20 ]
