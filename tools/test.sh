#!/usr/bin/env bash
# Runs nndiff's whole test suite, as CI does, from a fresh clone:
#   1. installs missing Debian packages and the pinned Python venv (.venv)
#      that holds the test oracles (ONNX Runtime, onnx, Pillow);
#   2. builds (warnings are errors) and runs every CTest test;
#   3. builds again with AddressSanitizer + UndefinedBehaviorSanitizer and
#      runs every test again;
#   4. builds the libFuzzer targets with clang and runs each for a bounded
#      time (FUZZ_SECONDS, default 30) from its seed corpus.
# Options: --quick skips steps 3 and 4.
# NNDIFF_TF=1 also sets up the TensorFlow venv (.venv-tf, tools/setup_venv_tf.sh)
# so the TFLite fixtures are converted and checked against the TFLite
# interpreter (ctest label tflite); without it those tests are skipped. It
# adds about 7-8 minutes on the 2-core machine (measured: 236 s to install
# tensorflow-cpu without a pip cache, 115 s to convert the fixtures, 90 s of
# tests), so CI leaves it off.
set -euo pipefail
cd "$(dirname "$0")/.."
quick=0
[ "${1:-}" = "--quick" ] && quick=1
jobs=$(nproc 2>/dev/null || echo 2)

step() { printf '\n=== %s\n' "$*"; }

step "dependencies"
tools/install_deps.sh
tools/setup_venv.sh .venv
if [ "${NNDIFF_TF:-0}" = 1 ]; then tools/setup_venv_tf.sh .venv-tf; fi

step "build (release)"
cmake -S . -B build -DCMAKE_BUILD_TYPE=Release -DNND_WERROR=ON >/dev/null
cmake --build build -j"$jobs"

step "tests (release)"
ctest --test-dir build --output-on-failure -j"$jobs"

[ "$quick" = 1 ] && exit 0

step "build (AddressSanitizer + UndefinedBehaviorSanitizer)"
cmake -S . -B build-asan -DCMAKE_BUILD_TYPE=Debug -DNND_SANITIZE=ON -DNND_WERROR=ON >/dev/null
cmake --build build-asan -j"$jobs"

step "tests (sanitizers)"
export ASAN_OPTIONS=detect_leaks=1:abort_on_error=1:strict_string_checks=1
export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
ctest --test-dir build-asan --output-on-failure -j"$jobs" -LE slow

step "fuzz (${FUZZ_SECONDS:-30}s per target)"
CC=clang cmake -S . -B build-fuzz -DCMAKE_BUILD_TYPE=Debug -DNND_FUZZ=ON >/dev/null
cmake --build build-fuzz -j"$jobs"
fuzz/run_all.sh build-fuzz "${FUZZ_SECONDS:-30}"
