#!/usr/bin/env bash
# The quick start's first command: installs what building needs, builds
# nndiff, and runs its main job on the bundled example (examples/):
#   1. inspect the source model;
#   2. compare it with its "converted" twin on real photos (the photos that
#      ship in Debian's python3-skimage): which inputs changed label;
#   3. localize: which node of the converted model is at fault, and why;
#   4. repair (a dry run): the edit that fixes it, checked on held-out photos.
# The converted model had every name changed and one real converter bug
# injected (examples/squeezenet1_1_converted.truth.json says which).
set -euo pipefail
cd "$(dirname "$0")/.."
tools/install_deps.sh --build
tools/install_deps.sh --photos
cmake -S . -B build -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build build -j"$(nproc 2>/dev/null || echo 2)" >/dev/null

photos=build/demo-photos
skdata=/usr/lib/python3/dist-packages/skimage/data
mkdir -p "$photos"
for f in astronaut.png chelsea.png coffee.png rocket.jpg motorcycle_left.png motorcycle_right.png \
         hubble_deep_field.jpg ihc.png color.png retina.jpg; do
  [ -f "$skdata/$f" ] && cp -u "$skdata/$f" "$photos/"
done

run() { printf '\n$ %s\n' "$*"; "$@"; }
run build/nndiff inspect examples/squeezenet1_1.onnx
# compare exits 1 when labels differ: that is the finding, not a failure.
run build/nndiff compare examples/squeezenet1_1.onnx examples/squeezenet1_1_converted.onnx \
  --data "$photos" || [ $? -eq 1 ]
run build/nndiff localize examples/squeezenet1_1.onnx examples/squeezenet1_1_converted.onnx \
  --data "$photos" || [ $? -eq 1 ]
run build/nndiff repair examples/squeezenet1_1.onnx examples/squeezenet1_1_converted.onnx \
  --data "$photos" --dry-run || [ $? -eq 1 ]
