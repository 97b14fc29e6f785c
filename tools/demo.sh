#!/usr/bin/env bash
# The quick start's first command: installs what building needs, builds
# nndiff, and runs it on the bundled example model (examples/).
set -euo pipefail
cd "$(dirname "$0")/.."
tools/install_deps.sh --build
cmake -S . -B build -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build build -j"$(nproc 2>/dev/null || echo 2)" >/dev/null
echo "+ build/nndiff inspect examples/squeezenet1_1.onnx --layers"
build/nndiff inspect examples/squeezenet1_1.onnx --layers
