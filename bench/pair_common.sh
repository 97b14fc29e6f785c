# Shared by bench_localize.sh and bench_repair.sh (sourced, with $name set
# and the script's arguments in "$@"): the ResNet-50 pair of
# make_localize_pair.py and the time of running both models plainly, the
# yardstick both benchmarks divide by. Sets nndiff, n, threads, py, out,
# here, root, t0, t1 and now().
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/.." && pwd)
nndiff=${1:-$root/build/nndiff}
model=${2:-$root/fixtures/torchvision/resnet50.onnx}
n=${3:-100}
threads=${4:-2}
py=$root/.venv/bin/python
out=${BENCH_OUT:-$root/out/$name}
if [ ! -x "$nndiff" ]; then echo "$name: no $nndiff (build first)" >&2; exit 2; fi
if [ ! -x "$py" ]; then echo "$name: no venv at $root/.venv (tools/setup_venv.sh)" >&2; exit 2; fi
if [ ! -f "$model" ]; then
  "$py" "$root/tools/export_torchvision.py" --out "$root/fixtures/torchvision" --models resnet50
fi
mkdir -p "$out"
"$py" "$here/make_localize_pair.py" "$model" "$out" --n "$n"

now() { "$py" -c 'import time; print("%.3f" % time.time())'; }

t0=$(now)
"$nndiff" run "$out/source.onnx" --data "$out/inputs.npy" --threads "$threads" --json "$out/run_source.json" >/dev/null
"$nndiff" run "$out/target.onnx" --data "$out/inputs.npy" --threads "$threads" --json "$out/run_target.json" >/dev/null
t1=$(now)
