#!/bin/sh
# The engine against ONNX Runtime on every torchvision architecture.
#
#   1. exports ALL architectures tools/export_torchvision.py knows (the 80
#      classification builders of torchvision 0.14, --list) into
#      fixtures/torchvision at their default opsets, and again at opset 13
#      into fixtures/torchvision_op13, BatchNorm kept (skipping those already
#      up to date; the first run writes about 30 GB and takes hours; models
#      torch.onnx cannot export are reported and skipped, see docs/INTEROP.md);
#   2. configures build-interop with -DNND_INTEROP=ON, which registers two
#      CTest tests per architecture, interop_<model> and interop13_<model>,
#      labelled "interop";
#   3. runs `ctest --test-dir build-interop -L interop`: for each model, 32
#      real photos through `nndiff run --precision fast` and `--precision
#      reference` against ONNX Runtime (tests/python/check_vs_ort.py prints
#      max |diff| per model and precision).
#
# Extra arguments go to ctest, e.g. tools/interop.sh -R resnet. Needs the
# venv (tools/setup_venv.sh). The reference precision dominates: hours on 2
# cores for all 80 models; pick some with -R.
set -eu
cd "$(dirname "$0")/.."
py=.venv/bin/python
if [ ! -x "$py" ]; then
  echo "interop.sh: no venv at .venv (run tools/setup_venv.sh)" >&2
  exit 2
fi
jobs=$(nproc 2>/dev/null || echo 2)
# A model torch.onnx cannot export fails its export (listed at the end) and
# its tests skip; the others still run.
"$py" tools/export_torchvision.py --out fixtures/torchvision --models all || true
"$py" tools/export_torchvision.py --out fixtures/torchvision_op13 --models all --opset 13 || true
cmake -S . -B build-interop -DCMAKE_BUILD_TYPE=Release -DNND_INTEROP=ON >/dev/null
cmake --build build-interop -j"$jobs" --target nndiff
# Each test runs nndiff single-threaded: one test per core.
ctest --test-dir build-interop -L interop --output-on-failure -j"$jobs" "$@"
