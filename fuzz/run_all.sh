#!/usr/bin/env bash
# Runs every built fuzz target for a bounded time from its seed corpus.
#   fuzz/run_all.sh BUILD_DIR SECONDS
# New inputs go to a scratch corpus under BUILD_DIR, never into the repo.
# A crash, leak or sanitizer report fails the run and leaves the input in
# BUILD_DIR/fuzz-artifacts/.
set -euo pipefail
build=${1:?usage: fuzz/run_all.sh BUILD_DIR SECONDS}
seconds=${2:-30}
here=$(cd "$(dirname "$0")" && pwd)
mkdir -p "$build/fuzz-artifacts"
status=0
for bin in "$build"/fuzz/fuzz_*; do
  [ -x "$bin" ] || continue
  name=$(basename "$bin")
  seeds="$here/corpus/${name#fuzz_}"
  scratch="$build/fuzz-corpus/${name#fuzz_}"
  mkdir -p "$scratch"
  echo "fuzz: $name for ${seconds}s (seeds: ${seeds#$here/})"
  if ! "$bin" -max_total_time="$seconds" -rss_limit_mb=2048 -timeout=10 -print_final_stats=0 \
      -artifact_prefix="$build/fuzz-artifacts/$name-" "$scratch" "$seeds" >"$build/$name.log" 2>&1; then
    echo "fuzz: $name FAILED; see $build/$name.log and $build/fuzz-artifacts/" >&2
    tail -40 "$build/$name.log" >&2
    status=1
  else
    grep -E "^#[0-9]+.*(DONE|pulse)" "$build/$name.log" | tail -1 || true
  fi
done
exit $status
