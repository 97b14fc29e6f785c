#!/usr/bin/env python3
"""Runs ONNX Runtime on the input bench_engine generates (or a given raw
float32 file) and compares with bench_engine's --output dump.

  compare_ort.py MODEL OUR_OUTPUT [--f64] [--batch N] [--input FILE.f32]

Prints the max absolute difference, the normalised error
||ours - ort|| / ||ort|| and whether the top-1 class agrees per sample."""
import argparse
import numpy as np
import onnxruntime as ort


def lcg_input(n):
    s = 42
    out = np.empty(n, dtype=np.float32)
    mask = (1 << 64) - 1
    for i in range(n):
        s = (s * 6364136223846793005 + 1442695040888963407) & mask
        out[i] = np.float32(((s >> 40) & 0xffffff) / 16777216.0)
    return out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("model")
    ap.add_argument("ours")
    ap.add_argument("--f64", action="store_true", help="our dump is float64 (--ref)")
    ap.add_argument("--batch", type=int, default=1)
    ap.add_argument("--input")
    a = ap.parse_args()
    so = ort.SessionOptions()
    so.intra_op_num_threads = 1
    s = ort.InferenceSession(a.model, so, providers=["CPUExecutionProvider"])
    inp = s.get_inputs()[0]
    shape = [a.batch if not isinstance(d, int) else d for d in inp.shape]
    n = int(np.prod(shape))
    x = np.fromfile(a.input, dtype=np.float32) if a.input else lcg_input(n)
    x = x[:n].reshape(shape)
    y = s.run(None, {inp.name: x})[0].astype(np.float64)
    ours = np.fromfile(a.ours, dtype=np.float64 if a.f64 else np.float32).astype(np.float64)
    ours = ours.reshape(y.shape)
    d = np.abs(ours - y)
    print("max abs diff %.3g, normalised error %.3g" % (d.max(), np.linalg.norm(ours - y) / np.linalg.norm(y)))
    if y.ndim == 2:
        print("top-1 agree: %s" % (list(ours.argmax(1) == y.argmax(1))))


if __name__ == "__main__":
    main()
