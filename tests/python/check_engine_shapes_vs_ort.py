"""The engine's planned shapes, from the IR's shape rules run for the bound
batch, against ONNX Runtime through `nndiff run` in both precisions.

The engine derives no output shape of its own: each node's shape comes from
the IR's rule (src/ir/shape_*.c) re-run for the batch being planned, and the
kernel geometry (pads resolved from auto_pad, ceil_mode windows, broadcast
strides, softmax extents...) is read from it. These small graphs put the
rules where they are easy to get wrong -- SAME pads with odd sizes and
strides, ConvTranspose whose kernel is smaller than its stride, pooling
windows that would start in the padding, MatMul batch broadcasting and 1-D
operands, Gemm's C broadcast, Softmax before and after opset 13, shapes
computed from the symbolic batch (Shape -> Gather -> Concat -> Reshape,
Expand of a class token), Split sizes and Reduce axes given as inputs --
at batch 1 and 3. Each output must have ONNX Runtime's shape and agree
with it to 1e-5 of its largest value. Exits 77 when onnx or onnxruntime
is missing.

Usage: check_engine_shapes_vs_ort.py NNDIFF
"""
import os
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import photos  # noqa: E402

RTOL = 1e-5


def cases(np, nh, h):
    """name -> (input dims after the batch, nodes, initializers, opset)."""
    rng = np.random.RandomState(7)

    def w(name, *shape):
        return nh.from_array((rng.randn(*shape) * 0.3).astype(np.float32), name)

    def ints(name, vals):
        return nh.from_array(np.array(vals, np.int64), name)

    N = h.make_node
    return {
        "conv_same_upper_s2": ((3, 11, 10), [N("Conv", ["x", "w"], ["y"], strides=[2, 2],
                                               auto_pad="SAME_UPPER")], [w("w", 4, 3, 3, 3)], 17),
        "conv_dilated_pads": ((3, 11, 10), [N("Conv", ["x", "w"], ["y"], strides=[2, 1],
                                              dilations=[2, 3], pads=[0, 2, 1, 1])],
                              [w("w", 4, 3, 3, 3)], 17),
        "conv_same_lower_s3": ((3, 10, 7), [N("Conv", ["x", "w"], ["y"], strides=[3, 2],
                                              auto_pad="SAME_LOWER")], [w("w", 2, 3, 2, 4)], 17),
        "conv1d_groups_bias": ((4, 13), [N("Conv", ["x", "w", "b"], ["y"], group=2, strides=[2],
                                           pads=[2, 1])], [w("w", 6, 2, 3), w("b", 6)], 17),
        "convT_same_upper_k4": ((3, 5, 6), [N("ConvTranspose", ["x", "w"], ["y"], strides=[2, 2],
                                              auto_pad="SAME_UPPER")], [w("w", 3, 2, 4, 4)], 17),
        "convT_same_lower_k1_s2": ((3, 5, 6), [N("ConvTranspose", ["x", "w"], ["y"],
                                                 strides=[2, 2], auto_pad="SAME_LOWER")],
                                   [w("w", 3, 2, 1, 1)], 17),
        "convT_pads_outpad_g2": ((4, 5, 5), [N("ConvTranspose", ["x", "w", "b"], ["y"],
                                               strides=[3, 2], pads=[1, 0, 2, 1],
                                               output_padding=[1, 1], group=2)],
                                 [w("w", 4, 3, 3, 2), w("b", 6)], 17),
        "maxpool_ceil_pads": ((2, 9, 8), [N("MaxPool", ["x"], ["y"], kernel_shape=[3, 2],
                                            strides=[2, 3], pads=[1, 0, 1, 1], ceil_mode=1)],
                              [], 17),
        "maxpool_dilated": ((2, 10, 9), [N("MaxPool", ["x"], ["y"], kernel_shape=[2, 3],
                                           dilations=[2, 2], strides=[1, 2])], [], 17),
        "avgpool_same_no_pad_count": ((3, 7, 9), [N("AveragePool", ["x"], ["y"],
                                                    kernel_shape=[3, 3], strides=[2, 2],
                                                    auto_pad="SAME_UPPER")], [], 17),
        "avgpool_ceil_pads": ((3, 8, 7), [N("AveragePool", ["x"], ["y"], kernel_shape=[3, 3],
                                            strides=[2, 2], pads=[1, 1, 1, 1], ceil_mode=1)],
                              [], 17),
        "global_max_pool_1d": ((5, 7), [N("GlobalMaxPool", ["x"], ["y"])], [], 17),
        "flatten_gemm_transA_C": ((3, 2, 2), [N("Flatten", ["x"], ["f"]),
                                              N("Transpose", ["f"], ["ft"]),
                                              N("Gemm", ["ft", "b", "c"], ["g"], transA=1,
                                                transB=1, alpha=0.5, beta=2.0),
                                              N("Relu", ["g"], ["y"])],
                                  [w("b", 5, 12), w("c", 1, 5)], 17),
        "matmul_batch_broadcast": ((1, 4, 6), [N("MatMul", ["x", "m"], ["y"])],
                                   [w("m", 3, 6, 5)], 17),
        "matmul_1d_operand": ((4, 6), [N("MatMul", ["x", "v"], ["y"])], [w("v", 6)], 17),
        "matmul_1d_left": ((6, 5), [N("MatMul", ["v", "x"], ["y"])], [w("v", 6)], 17),
        "softmax_opset11_axis1": ((3, 4), [N("Softmax", ["x"], ["y"], axis=1)], [], 11),
        "logsoftmax_opset13_axis1": ((3, 4), [N("LogSoftmax", ["x"], ["y"], axis=1)], [], 13),
        "reshape_from_batch": ((3, 4), [N("Shape", ["x"], ["s"]),
                                        N("Gather", ["s", "zero"], ["b"], axis=0),
                                        N("Unsqueeze", ["b", "ax0"], ["bu"]),
                                        N("Concat", ["bu", "m1"], ["shape"], axis=0),
                                        N("Reshape", ["x", "shape"], ["r"]),
                                        N("MatMul", ["r", "m"], ["y"])],
                               [ints("zero", 0), ints("ax0", [0]), ints("m1", [-1]),
                                w("m", 12, 2)], 13),
        "class_token_expand": ((4, 6), [N("Shape", ["x"], ["s"]),
                                        N("Slice", ["s", "z1", "o1"], ["b"]),
                                        N("Concat", ["b", "one", "six"], ["shape"], axis=0),
                                        N("Expand", ["tok", "shape"], ["t"]),
                                        N("Concat", ["t", "x"], ["y"], axis=1)],
                                [ints("z1", [0]), ints("o1", [1]), ints("one", [1]),
                                 ints("six", [6]), w("tok", 1, 1, 6)], 13),
        "broadcast_add_prelu": ((3, 1, 5), [N("Add", ["x", "a"], ["s"]),
                                            N("PRelu", ["s", "sl"], ["y"])],
                                [w("a", 4, 1), w("sl", 3, 1, 1)], 13),
        "batchnorm_lrn": ((4, 3, 5), [N("BatchNormalization", ["x", "g", "be", "mu", "va"],
                                           ["bn"]), N("LRN", ["bn"], ["y"], size=3)],
                                [w("g", 4), w("be", 4), w("mu", 4),
                                 nh.from_array(np.abs(rng.randn(4)).astype(np.float32) + 0.5,
                                               "va")], 13),
        "split_sizes_concat": ((7, 3), [N("Split", ["x", "sz"], ["a", "b", "c"], axis=1),
                                        N("Concat", ["c", "a", "b"], ["y"], axis=1)],
                               [ints("sz", [2, 4, 1])], 13),
        "reduce_axes_input": ((3, 4, 5), [N("ReduceSum", ["x", "ax"], ["y"], keepdims=0)],
                              [ints("ax", [-1, 1])], 13),
        "pad_reflect_slice": ((3, 5, 6), [N("Pad", ["x", "p"], ["q"], mode="reflect"),
                                          N("Slice", ["q", "st", "en", "axs", "sp"], ["y"])],
                              [ints("p", [0, 0, 2, 1, 0, 0, 1, 3]), ints("st", [-1, 1]),
                               ints("en", [-100, 7]), ints("axs", [2, 3]),
                               ints("sp", [-2, 3])], 13),
        "cast_half_add": ((3, 4), [N("Cast", ["x"], ["h"], to=10), N("Cast", ["h"], ["f"], to=1),
                                   N("Add", ["f", "x"], ["y"])], [], 13),
    }


def main(argv):
    if len(argv) != 2:
        print(__doc__)
        return 2
    photos.require_modules("numpy", "onnx", "onnxruntime")
    import numpy as np
    import onnx
    from onnx import TensorProto as T
    from onnx import helper as h
    from onnx import numpy_helper as nh

    nndiff = argv[1]
    failures = total = 0
    with tempfile.TemporaryDirectory() as tmp:
        for name, (dims, nodes, inits, opset) in cases(np, nh, h).items():
            g = h.make_graph(nodes, name, [h.make_tensor_value_info("x", T.FLOAT,
                                                                    ["batch"] + list(dims))],
                             [h.make_tensor_value_info("y", T.FLOAT, None)], inits)
            path = os.path.join(tmp, name + ".onnx")
            onnx.save(h.make_model(g, opset_imports=[h.make_opsetid("", opset)]), path)
            for batch in (1, 3):
                x = np.random.RandomState(batch).randn(batch, *dims).astype(np.float32)
                xp = os.path.join(tmp, "%s_%d.npy" % (name, batch))
                np.save(xp, x)
                ref = photos.ort_run(path, x, optimize=False).astype(np.float64)
                scale = float(np.max(np.abs(ref))) if ref.size else 1.0
                for precision in ("fast", "reference"):
                    total += 1
                    out = os.path.join(tmp, "y_%s_%d_%s.npy" % (name, batch, precision))
                    proc = subprocess.run([nndiff, "run", path, "--data", xp, "--outputs", out,
                                           "--precision", precision, "--batch", str(batch)],
                                          capture_output=True, text=True)
                    if proc.returncode != 0:
                        print("FAIL %-28s batch %d %-9s: exit %d: %s"
                              % (name, batch, precision, proc.returncode, proc.stderr.strip()))
                        failures += 1
                        continue
                    got = np.load(out).astype(np.float64)
                    if got.shape != ref.shape:
                        print("FAIL %-28s batch %d %-9s: shape %s, ONNX Runtime %s"
                              % (name, batch, precision, got.shape, ref.shape))
                        failures += 1
                        continue
                    rel = float(np.max(np.abs(got - ref))) / (scale or 1.0) if ref.size else 0.0
                    ok = rel <= RTOL
                    failures += not ok
                    print("%s %-28s batch %d %-9s %-14s rel %.2e"
                          % ("ok  " if ok else "FAIL", name, batch, precision, ref.shape, rel))
    print("%d run(s), %d failure(s)" % (total, failures))
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
