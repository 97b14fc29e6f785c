"""Writes the seed corpus for fuzz/fuzz_onnx.c into fuzz/corpus/onnx/.

Small valid models that together touch most of the reader's op handlers
(Conv/BN/Clip/Pad/Slice/Shape chains/Reshape/Concat/Gemm...), plus a few
files from the malformed corpus, so the fuzzer starts from deep coverage.
Usage: make_fuzz_seeds.py [--malformed fixtures/malformed]
"""
import argparse
import os
import shutil

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

OUT = os.path.join(os.path.dirname(__file__), "..", "fuzz", "corpus", "onnx")


def init(name, arr):
    return numpy_helper.from_array(np.asarray(arr), name)


def rich_model(opset):
    rng = np.random.default_rng(opset)
    f32 = lambda *s: rng.standard_normal(s).astype(np.float32)
    nodes = [
        helper.make_node("Conv", ["x", "w", "b"], ["c"], name="conv", pads=[1, 1, 1, 1],
                         strides=[2, 2], kernel_shape=[3, 3]),
        helper.make_node("BatchNormalization", ["c", "s", "o", "m", "v"], ["bn"], name="bn"),
        helper.make_node("Clip", ["bn", "lo", "hi"], ["r6"], name="relu6"),
        helper.make_node("Pad", ["r6", "pads"], ["p"], name="pad", mode="reflect"),
        helper.make_node("MaxPool", ["p"], ["mp"], kernel_shape=[3, 3], strides=[2, 2], ceil_mode=1),
        helper.make_node("HardSwish", ["mp"], ["hs"]),
        helper.make_node("Shape", ["hs"], ["shp"]),
        helper.make_node("Gather", ["shp", "zero"], ["n"], axis=0),
        helper.make_node("Unsqueeze", ["n", "ax0"], ["n1"]),
        helper.make_node("Concat", ["n1", "minus1"], ["newshape"], axis=0),
        helper.make_node("GlobalAveragePool", ["hs"], ["gap"]),
        helper.make_node("Reshape", ["gap", "newshape"], ["flat"]),
        helper.make_node("Slice", ["flat", "st", "en", "ax1"], ["sl"]),
        helper.make_node("Gemm", ["sl", "fw", "fb"], ["logits"], transB=1),
        helper.make_node("Softmax", ["logits"], ["prob"], axis=1),
    ]
    inits = [init("w", f32(4, 3, 3, 3)), init("b", f32(4)), init("s", f32(4)), init("o", f32(4)),
             init("m", f32(4)), init("v", np.abs(f32(4)) + 0.5), init("lo", np.float32(0)),
             init("hi", np.float32(6)), init("pads", np.array([0, 0, 1, 1, 0, 0, 1, 1], np.int64)),
             init("zero", np.array(0, np.int64)), init("ax0", np.array([0], np.int64)),
             init("minus1", np.array([-1], np.int64)), init("st", np.array([0], np.int64)),
             init("en", np.array([3], np.int64)), init("ax1", np.array([1], np.int64)),
             init("fw", f32(5, 3)), init("fb", f32(5))]
    g = helper.make_graph(nodes, "rich", [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["batch", 3, 16, 16])],
                          [helper.make_tensor_value_info("prob", TensorProto.FLOAT, None)], inits)
    return helper.make_model(g, opset_imports=[helper.make_opsetid("", opset)])


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--malformed", default=os.path.join(os.path.dirname(__file__), "..", "fixtures", "malformed"))
    args = ap.parse_args()
    os.makedirs(OUT, exist_ok=True)
    for opset in (13, 17):
        onnx.save(rich_model(opset), os.path.join(OUT, f"rich_opset{opset}.onnx"))
    for name in ("valid_tiny.onnx", "cycle.onnx", "dangling_input.onnx", "truncated_mid_graph.onnx",
                 "tensor_dims_overflow.onnx", "initializer_negative_dim.onnx"):
        src = os.path.join(args.malformed, name)
        if os.path.exists(src):
            shutil.copy(src, os.path.join(OUT, name))
    print("seeds:", sorted(os.listdir(OUT)))


if __name__ == "__main__":
    main()
