"""Oracle test: the engine on .tflite files against TensorFlow's own TFLite
interpreter, through `nndiff run`.

For each float model in FIXTURE_DIR (tools/make_tflite_fixtures.py: Keras
models converted by the TFLiteConverter to float32 and to float16 weights),
this draws N seeded inputs (smooth random images in [-1, 1], the range the
Keras applications take), saves them as a .npy, runs

    nndiff run MODEL --data inputs.npy --outputs out.npy --precision P

and the TFLite interpreter (the reference op resolver, one thread) on every
input, and requires the same top-1 class on every input and
max |nndiff - tflite| <= RTOL * max |tflite| (RTOL = 1e-4), for P = fast and
P = reference.

Runs with the TensorFlow venv's python (tools/setup_venv_tf.sh); exits 77
(skipped) when TensorFlow is not importable or no fixture exists.

Usage:
  check_tflite_vs_interpreter.py NNDIFF FIXTURE_DIR [--models a,b] [--inputs 16]
"""
import argparse
import os
import subprocess
import sys
import tempfile
import time

SKIP = 77
RTOL = 1e-4


def interpreter(path):
    from tensorflow.lite.python import interpreter as tfl
    kw = {}
    if hasattr(tfl, "OpResolverType"):
        kw["experimental_op_resolver_type"] = tfl.OpResolverType.BUILTIN_REF
    it = tfl.Interpreter(model_path=path, num_threads=1, **kw)
    it.allocate_tensors()
    return it


def run_tflite(path, x):
    import numpy as np
    it = interpreter(path)
    inp, out = it.get_input_details()[0], it.get_output_details()[0]
    ys = []
    for i in range(len(x)):
        it.set_tensor(inp["index"], x[i:i + 1])
        it.invoke()
        ys.append(it.get_tensor(out["index"]).copy())
    return np.concatenate(ys, axis=0)


def smooth_inputs(n, shape, seed):
    """Low-frequency random images: noise upsampled 8x, so neighbouring
    pixels agree as in photos."""
    import numpy as np
    rng = np.random.default_rng(seed)
    h, w, c = shape
    small = rng.uniform(-1, 1, (n, (h + 7) // 8, (w + 7) // 8, c))
    big = np.repeat(np.repeat(small, 8, axis=1), 8, axis=2)[:, :h, :w, :]
    return (big + rng.normal(0, 0.05, big.shape)).clip(-1, 1).astype(np.float32)


def check_model(args, name, path, tmp):
    import numpy as np
    it = interpreter(path)
    shape = tuple(int(d) for d in it.get_input_details()[0]["shape"][1:])
    x = smooth_inputs(args.inputs, shape, 2024)
    xp = os.path.join(tmp, name + "_in.npy")
    np.save(xp, x)
    t0 = time.time()
    ref = run_tflite(path, x).astype(np.float64)
    t_ref = time.time() - t0
    ref_max = float(np.max(np.abs(ref)))
    ref_top1 = np.argmax(ref.reshape(len(ref), -1), axis=1)
    failures = 0
    for precision in args.precisions.split(","):
        out = os.path.join(tmp, "%s_%s.npy" % (name, precision))
        cmd = [args.nndiff, "run", path, "--data", xp, "--outputs", out, "--precision", precision,
               "--threads", "1", "--batch", "4"]
        t0 = time.time()
        proc = subprocess.run(cmd, capture_output=True, text=True)
        t_run = time.time() - t0
        if proc.returncode != 0:
            print("FAIL %-16s %-9s nndiff exit %d: %s" % (name, precision, proc.returncode,
                                                         proc.stderr.strip()), flush=True)
            failures += 1
            continue
        got = np.load(out).astype(np.float64)
        problems = []
        diff = float("nan")
        if got.shape != ref.shape:
            problems.append("shape %s != tflite %s" % (got.shape, ref.shape))
        else:
            diff = float(np.max(np.abs(got - ref)))
            top1 = np.argmax(got.reshape(len(got), -1), axis=1)
            bad = np.nonzero(top1 != ref_top1)[0]
            if len(bad):
                problems.append("top-1 differs on %d of %d inputs" % (len(bad), len(got)))
            if diff > RTOL * ref_max:
                problems.append("max|diff| %.3g > %.0e * max|tflite| = %.3g"
                                % (diff, RTOL, RTOL * ref_max))
        print("%s %-16s %-9s inputs %d %s  max|diff| %.3g  rel %.2e  max|tflite| %.4g  "
              "nndiff %.1fs tflite %.1fs%s"
              % ("FAIL" if problems else "ok  ", name, precision, len(x), list(shape), diff,
                 diff / ref_max if ref_max else 0, ref_max, t_run, t_ref,
                 ("; " + "; ".join(problems)) if problems else ""), flush=True)
        failures += bool(problems)
    return failures


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("nndiff")
    p.add_argument("fixture_dir")
    p.add_argument("--models", default="")
    p.add_argument("--inputs", type=int, default=16)
    p.add_argument("--precisions", default="fast,reference")
    args = p.parse_args(argv)
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    try:
        import numpy  # noqa: F401
        import tensorflow  # noqa: F401
    except ImportError as e:
        print("skipped: TensorFlow is not importable (%s); run tools/setup_venv_tf.sh" % e)
        return SKIP
    if not os.path.isdir(args.fixture_dir):
        print("skipped: no %s (make it with tools/make_tflite_fixtures.py)" % args.fixture_dir)
        return SKIP
    names = ([m for m in args.models.split(",") if m] if args.models else
             sorted(f[:-7] for f in os.listdir(args.fixture_dir) if f.endswith(".tflite")))
    present = [n for n in names if os.path.exists(os.path.join(args.fixture_dir, n + ".tflite"))]
    if not present:
        print("skipped: no .tflite fixture in %s" % args.fixture_dir)
        return SKIP
    failures = 0
    with tempfile.TemporaryDirectory() as tmp:
        for name in present:
            failures += check_model(args, name, os.path.join(args.fixture_dir, name + ".tflite"),
                                    tmp)
    print("%d model(s), %d failure(s)" % (len(present), failures))
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
