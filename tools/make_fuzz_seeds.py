"""Writes the seed corpora of the fuzz targets into fuzz/corpus/<name>/.

  onnx    small valid models that together touch most of the reader's op
          handlers (Conv/BN/Clip/Pad/Slice/Shape chains/Reshape/Concat/
          Gemm...), plus a few files from the malformed corpus;
  engine  tiny runnable models (batch 1 or a symbolic batch, a few hundred
          elements per value) covering the engine's kernels, fusions
          (Conv+BN+activation, residual Add, MatMul+bias, SiLU) and layout
          conversions, for fuzz/fuzz_engine.c;
  npz     .npz archives (stored and deflated, several members, dtypes);
  labels  labels files, the first byte choosing .txt (even) or .csv (odd)
          as fuzz/fuzz_labels.c reads it;
  tflite  the hand-made tiny model (tools/make_malformed_tflite.py), a few
          of its corruptions, and the converter's small float32 / float16
          models from --tflite (tools/make_tflite_fixtures.py) when present.
The fuzzer starts from deep coverage instead of rediscovering the formats.
Usage: make_fuzz_seeds.py [--malformed fixtures/malformed] [--tflite fixtures/tflite]
                          [--only tflite]
"""
import argparse
import os
import shutil

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

CORPUS = os.path.join(os.path.dirname(__file__), "..", "fuzz", "corpus")
OUT = os.path.join(CORPUS, "onnx")


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


def tiny(nodes, inputs, outputs, inits=(), opset=17):
    g = helper.make_graph(nodes, "seed", inputs, outputs, list(inits))
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", opset)])
    m.ir_version = 8
    return m


def engine_models():
    """name -> model; every value small, every shape known or the batch."""
    rng = np.random.default_rng(0)
    f32 = lambda *s: rng.standard_normal(s).astype(np.float32)
    F = TensorProto.FLOAT
    x4 = helper.make_tensor_value_info("x", F, ["batch", 3, 6, 6])
    x2 = helper.make_tensor_value_info("x", F, [1, 8])
    y = helper.make_tensor_value_info("y", F, None)
    models = {}
    models["conv_bn_relu_pool"] = tiny([
        helper.make_node("Conv", ["x", "w", "b"], ["c"], pads=[1, 1, 1, 1]),
        helper.make_node("BatchNormalization", ["c", "s", "o", "m", "v"], ["bn"]),
        helper.make_node("Relu", ["bn"], ["r"]),
        helper.make_node("MaxPool", ["r"], ["p"], kernel_shape=[2, 2], strides=[2, 2]),
        helper.make_node("AveragePool", ["p"], ["y"], kernel_shape=[2, 2], pads=[1, 1, 0, 0],
                         count_include_pad=0)],
        [x4], [y], [init("w", f32(4, 3, 3, 3)), init("b", f32(4)), init("s", f32(4)),
                    init("o", f32(4)), init("m", f32(4)), init("v", np.abs(f32(4)) + 0.5)])
    models["residual_depthwise_silu"] = tiny([
        helper.make_node("Conv", ["x", "w1"], ["a"], pads=[1, 1, 1, 1], group=3),
        helper.make_node("Add", ["a", "x"], ["r"]),
        helper.make_node("Sigmoid", ["r"], ["sg"]),
        helper.make_node("Mul", ["r", "sg"], ["silu"]),
        helper.make_node("Conv", ["silu", "w2", "b2"], ["c2"], strides=[2, 2]),
        helper.make_node("Clip", ["c2", "lo", "hi"], ["y"])],
        [x4], [y], [init("w1", f32(3, 1, 3, 3)), init("w2", f32(5, 3, 1, 1)), init("b2", f32(5)),
                    init("lo", np.float32(0)), init("hi", np.float32(6))])
    models["gemm_softmax"] = tiny([
        helper.make_node("Gemm", ["x", "w", "b"], ["g"], transB=1, alpha=0.5),
        helper.make_node("LeakyRelu", ["g"], ["l"], alpha=0.1),
        helper.make_node("Softmax", ["l"], ["y"], axis=-1)],
        [x2], [y], [init("w", f32(5, 8)), init("b", f32(5))])
    models["matmul_bias_gelu"] = tiny([
        helper.make_node("MatMul", ["x", "w"], ["mm"]),
        helper.make_node("Add", ["mm", "b"], ["a"]),
        helper.make_node("Tanh", ["a"], ["t"]),
        helper.make_node("HardSigmoid", ["t"], ["h"]),
        helper.make_node("Mul", ["h", "a"], ["y"])],
        [x2], [y], [init("w", f32(8, 4)), init("b", f32(4))])
    models["shape_ops"] = tiny([
        helper.make_node("Transpose", ["x"], ["t"], perm=[0, 2, 3, 1]),
        helper.make_node("Shape", ["t"], ["shp"]),
        helper.make_node("Slice", ["shp", "st", "en"], ["hw"]),
        helper.make_node("Concat", ["one", "hw", "m1"], ["ns"], axis=0),
        helper.make_node("Reshape", ["t", "ns"], ["rs"]),
        helper.make_node("Split", ["rs"], ["s1", "s2"], axis=1),
        helper.make_node("Concat", ["s2", "s1"], ["cc"], axis=1),
        helper.make_node("Unsqueeze", ["cc", "ax0"], ["u"]),
        helper.make_node("Squeeze", ["u", "ax0"], ["q"]),
        helper.make_node("Flatten", ["q"], ["y"], axis=1)],
        [helper.make_tensor_value_info("x", F, [1, 3, 6, 6])], [y], [init("st", np.array([1], np.int64)), init("en", np.array([3], np.int64)),
                    init("one", np.array([1], np.int64)), init("m1", np.array([-1], np.int64)),
                    init("ax0", np.array([0], np.int64))])
    models["pad_gather_reduce"] = tiny([
        helper.make_node("Pad", ["x", "pads"], ["p"], mode="edge"),
        helper.make_node("Gather", ["p", "idx"], ["gt"], axis=3),
        helper.make_node("Expand", ["gt", "shape"], ["ex"]),
        helper.make_node("ReduceMean", ["ex", "axes"], ["rm"], keepdims=1),
        helper.make_node("PRelu", ["rm", "slope"], ["pr"]),
        helper.make_node("GlobalMaxPool", ["pr"], ["y"])],
        [x4], [y], [init("pads", np.array([0, 0, 1, 1, 0, 0, 1, 1], np.int64)),
                    init("idx", np.array([0, 2, 7], np.int64)),
                    init("shape", np.array([1, 3, 8, 3], np.int64)),
                    init("axes", np.array([1], np.int64)),
                    init("slope", np.array([[[0.1]]], np.float32))], opset=18)
    models["elementwise"] = tiny([
        helper.make_node("Abs", ["x"], ["a"]),
        helper.make_node("Add", ["a", "c"], ["b"]),
        helper.make_node("Sqrt", ["b"], ["s"]),
        helper.make_node("Log", ["b"], ["l"]),
        helper.make_node("Div", ["s", "b"], ["d"]),
        helper.make_node("Sub", ["d", "l"], ["e"]),
        helper.make_node("Max", ["e", "s", "c"], ["mx"]),
        helper.make_node("Min", ["mx", "b"], ["mn"]),
        helper.make_node("Pow", ["mn", "c"], ["pw"]),
        helper.make_node("Exp", ["pw"], ["ex"]),
        helper.make_node("Neg", ["ex"], ["ng"]),
        helper.make_node("Elu", ["ng"], ["y"])],
        [x2], [y], [init("c", np.array([1.5], np.float32))])
    models["conv_transpose_lrn"] = tiny([
        helper.make_node("ConvTranspose", ["x", "w"], ["ct"], strides=[2, 2], pads=[1, 1, 1, 1]),
        helper.make_node("LRN", ["ct"], ["y"], size=3)],
        [x4], [y], [init("w", f32(3, 2, 3, 3))])
    return models


def npz_seeds():
    import io
    out = {}
    for name, compressed in (("two_stored.npz", False), ("two_deflated.npz", True)):
        buf = io.BytesIO()
        save = np.savez_compressed if compressed else np.savez
        save(buf, x=np.arange(12, dtype=np.float32).reshape(3, 4), labels=np.array([1, 0, 2], np.int64))
        out[name] = buf.getvalue()
    buf = io.BytesIO()
    np.savez(buf, a=np.array([[1, 2]], np.uint8), b=np.array([True, False]), c=np.float64(3.5))
    out["dtypes.npz"] = buf.getvalue()
    return out


LABEL_SEEDS = {
    "imagenet.txt": b"\x00" + b"n01440764/a.JPEG 0\nsub dir/b c.png 2\n# a comment\n\n./c.jpg 7\n",
    "bom_crlf.txt": b"\x00" + b"\xef\xbb\xbfa.jpg 1\r\nb.jpg 2\r\n",
    "header.csv": b"\x01" + b"file,label\nx.png,4\n\"q,uo\"\"te.jpg\",3\r\n",
    "plain.csv": b"\x01" + b"a.jpg,1\nb.jpg,2\n",
}


def tflite_seeds(converted_dir):
    import sys
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    import make_malformed_tflite as mt
    valid, parts = mt.tiny()
    seeds = {"valid_tiny.tflite": valid}
    for name, data, _ in mt.cases(valid, parts):
        if name in ("ref_cycle.tflite", "vtable_inside_table.tflite", "trunc_ext_buffer.tflite",
                    "options_wrong_type.tflite"):
            seeds[name] = data
    for name in ("small.tflite", "small_f16.tflite", "ops.tflite"):
        path = os.path.join(converted_dir, name)
        if os.path.exists(path) and os.path.getsize(path) <= 64 * 1024:
            with open(path, "rb") as f:
                seeds["converted_" + name] = f.read()
    return seeds


def write_corpus(name, files):
    d = os.path.join(CORPUS, name)
    os.makedirs(d, exist_ok=True)
    for fname, data in files.items():
        with open(os.path.join(d, fname), "wb") as f:
            f.write(data)
    print("%s seeds:" % name, sorted(os.listdir(d)))


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--malformed", default=os.path.join(os.path.dirname(__file__), "..", "fixtures", "malformed"))
    ap.add_argument("--tflite", default=os.path.join(os.path.dirname(__file__), "..", "fixtures", "tflite"))
    ap.add_argument("--only", default="", help="write only this corpus (tflite)")
    args = ap.parse_args()
    write_corpus("tflite", tflite_seeds(args.tflite))
    if args.only == "tflite":
        return
    os.makedirs(OUT, exist_ok=True)
    for opset in (13, 17):
        onnx.save(rich_model(opset), os.path.join(OUT, f"rich_opset{opset}.onnx"))
    for name in ("valid_tiny.onnx", "cycle.onnx", "dangling_input.onnx", "truncated_mid_graph.onnx",
                 "tensor_dims_overflow.onnx", "initializer_negative_dim.onnx"):
        src = os.path.join(args.malformed, name)
        if os.path.exists(src):
            shutil.copy(src, os.path.join(OUT, name))
    print("onnx seeds:", sorted(os.listdir(OUT)))
    engine = {n + ".onnx": m.SerializeToString() for n, m in engine_models().items()}
    for opset in (13, 17):
        engine["rich_opset%d.onnx" % opset] = rich_model(opset).SerializeToString()
    write_corpus("engine", engine)
    write_corpus("npz", npz_seeds())
    write_corpus("labels", LABEL_SEEDS)


if __name__ == "__main__":
    main()
