#!/usr/bin/env python3
"""Makes the inputs of bench/bench_localize.sh: a "converted" target for a
source ONNX model and N preprocessed inputs.

The target is the source with one mid-network convolution's weights
perturbed (Gaussian noise, 5% of their std: a corrupted weight blob) and
every node renamed, so `nndiff localize` has real work to do (labels differ
on some inputs, the first divergence is in the middle). The inputs are the
fault benchmark's real photos (fixtures/faults/inputs.npy) when present,
tiled with horizontal flips up to N rows, else seeded noise.

Usage: make_localize_pair.py SOURCE.onnx OUTDIR [--n 100]
Writes OUTDIR/source.onnx (a copy), OUTDIR/target.onnx, OUTDIR/inputs.npy.
"""
import argparse
import os
import shutil
import sys

import numpy as np
import onnx
from onnx import numpy_helper


def main(argv):
    p = argparse.ArgumentParser()
    p.add_argument("source")
    p.add_argument("out")
    p.add_argument("--n", type=int, default=100)
    a = p.parse_args(argv)
    os.makedirs(a.out, exist_ok=True)
    shutil.copyfile(a.source, os.path.join(a.out, "source.onnx"))
    m = onnx.load(a.source)
    inits = {t.name: t for t in m.graph.initializer}
    convs = [n for n in m.graph.node if n.op_type == "Conv" and n.input[1] in inits]
    conv = convs[len(convs) // 2]
    t = inits[conv.input[1]]
    w = numpy_helper.to_array(t).astype(np.float64)
    rng = np.random.RandomState(0)
    w = w + rng.standard_normal(w.shape) * 0.05 * w.std()
    t.CopyFrom(numpy_helper.from_array(w.astype(np.float32), t.name))
    for i, n in enumerate(m.graph.node):
        n.name = "converted/layer_%d/%s" % (i, n.op_type)
    onnx.save(m, os.path.join(a.out, "target.onnx"))
    here = os.path.dirname(os.path.abspath(__file__))
    photos = os.path.join(here, "..", "fixtures", "faults", "inputs.npy")
    if os.path.exists(photos):
        base = np.load(photos)
        rows = [base, base[:, :, :, ::-1]]
        x = np.concatenate(rows * ((a.n // (2 * len(base))) + 1))[:a.n]
    else:
        x = np.random.RandomState(1).standard_normal((a.n, 3, 224, 224))
    np.save(os.path.join(a.out, "inputs.npy"), np.ascontiguousarray(x, dtype=np.float32))
    print("perturbed %s (%s); %d inputs" % (conv.name, conv.input[1], a.n))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
