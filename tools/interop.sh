#!/bin/sh
# The engine against ONNX Runtime on every torchvision architecture.
#
#   1. exports ALL architectures tools/export_torchvision.py knows (alexnet,
#      vgg11, resnet18/50/101, densenet121, squeezenet1_1, inception_v3,
#      googlenet, mobilenet_v2/v3, efficientnet_b0, shufflenet, mnasnet,
#      regnet) into fixtures/torchvision (skipping those already up to date;
#      the first run writes about 1.5 GB and takes a while);
#   2. configures build-interop with -DNND_INTEROP=ON, which registers one
#      CTest test per architecture, interop_<model>, labelled "interop";
#   3. runs `ctest --test-dir build-interop -L interop`: for each model, 32
#      real photos through `nndiff run --precision fast` and `--precision
#      reference` against ONNX Runtime (tests/python/check_vs_ort.py prints
#      max |diff| per model and precision).
#
# Extra arguments go to ctest, e.g. tools/interop.sh -R resnet. Needs the
# venv (tools/setup_venv.sh). The reference precision dominates: about
# 10-20 minutes on 2 cores for all 17 models.
set -eu
cd "$(dirname "$0")/.."
py=.venv/bin/python
if [ ! -x "$py" ]; then
  echo "interop.sh: no venv at .venv (run tools/setup_venv.sh)" >&2
  exit 2
fi
jobs=$(nproc 2>/dev/null || echo 2)
"$py" tools/export_torchvision.py --out fixtures/torchvision --models all
cmake -S . -B build-interop -DCMAKE_BUILD_TYPE=Release -DNND_INTEROP=ON >/dev/null
cmake --build build-interop -j"$jobs" --target nndiff
# Each test runs nndiff single-threaded: one test per core.
ctest --test-dir build-interop -L interop --output-on-failure -j"$jobs" "$@"
