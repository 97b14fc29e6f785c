"""Regression test: Pad followed by AveragePool with an explicit pads
attribute, against ONNX Runtime, through `nndiff run` in both precisions.

Reported: `run` on torchvision inception_v3 exported at opset 13 with
BatchNorm kept (torch.onnx 1.13 writes avg_pool2d(3, 1, padding=1) as a
constant Pad from a constant pads tensor, then AveragePool with
pads=[0,0,0,0], ceil_mode=0, count_include_pad absent) was said to differ
from ONNX Runtime by 0.23 of the max logit; the reduced case, Pad (pads from
an initializer) -> AveragePool(pads=[0,0,0,0], ceil_mode=0), by 0.44.

The cause was the oracle: ONNX Runtime 1.19's graph optimizer (its Pad
fusion) folds the Pad into the AveragePool's `pads` whenever the pool has
that attribute, although count_include_pad=0 makes the pool divide by the
taps inside the unpadded input, so the border averages change: 0.42 of the
max output on the reduced case, 0.11 of the max logit on inception_v3 with
photos; with ORT_DISABLE_ALL, or with ONNX Runtime 1.22, it agrees with
nndiff to 5e-7. So the oracle here is ONNX Runtime running the graph as
written (optimizations off); the optimized run is compared too, and a
disagreement of the optimizer is reported (not failed: it is ONNX Runtime's).

This builds that pattern with onnx.helper in the variants that could tell
them apart: the pads as an initializer and as a Constant node; the pool
with and without the pads attribute, with ceil_mode 0 and 1, with
count_include_pad 0 and 1; fed by a graph input, a Conv -> Relu (the first
tiny repro), a MaxPool and a Concat of two branches (what feeds the pools
in inception_v3: maxpool2 and the Mixed_* concats); inception's own shapes
(35x35x192/256/288, 17x17x768, 8x8x1280/2048) at batch 8; and a Pad
that also pads the channel dim. Every case must agree with ONNX Runtime to
1e-5 of the max output, in both precisions. Exits 77 when onnx or
onnxruntime is missing.

Usage: check_pad_avgpool_vs_ort.py NNDIFF
"""
import os
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import photos  # noqa: E402

RTOL = 1e-5


def build(case):
    import numpy as np
    from onnx import TensorProto, helper, numpy_helper

    rng = np.random.RandomState(case["seed"])
    n, c, h, w = case["shape"]
    nodes, inits = [], []
    src = "x"
    feed = case["feed"]
    if feed == "conv_relu":
        inits.append(numpy_helper.from_array(rng.randn(c, c, 3, 3).astype(np.float32) * 0.2, "cw"))
        nodes += [helper.make_node("Conv", ["x", "cw"], ["cv"], pads=[1, 1, 1, 1]),
                  helper.make_node("Relu", ["cv"], ["r"])]
        src = "r"
    elif feed == "maxpool":
        nodes.append(helper.make_node("MaxPool", ["x"], ["mp"], kernel_shape=[3, 3], strides=[1, 1],
                                      pads=[1, 1, 1, 1]))
        src = "mp"
    elif feed == "concat":
        half = c // 2
        for k in range(2):
            inits.append(numpy_helper.from_array(
                rng.randn(half, c, 1, 1).astype(np.float32) * 0.3, "w%d" % k))
            nodes.append(helper.make_node("Conv", ["x", "w%d" % k], ["b%d" % k]))
        nodes.append(helper.make_node("Concat", ["b0", "b1"], ["cat"], axis=1))
        src = "cat"
    pads = case.get("pad", [0, 0, 1, 1, 0, 0, 1, 1])
    pads_t = numpy_helper.from_array(np.array(pads, np.int64), "pads")
    if case["pads_from"] == "initializer":
        inits.append(pads_t)
    else:
        nodes.append(helper.make_node("Constant", [], ["pads"], value=pads_t))
    nodes.append(helper.make_node("Pad", [src, "pads"], ["p"], mode="constant"))
    attrs = {"kernel_shape": [3, 3], "strides": case.get("strides", [1, 1])}
    if case["pool_pads"] is not None:
        attrs["pads"] = case["pool_pads"]
    if case.get("ceil") is not None:
        attrs["ceil_mode"] = case["ceil"]
    if case.get("cip") is not None:
        attrs["count_include_pad"] = case["cip"]
    nodes.append(helper.make_node("AveragePool", ["p"], ["y"], **attrs))
    graph = helper.make_graph(
        nodes, "pad_avgpool", [helper.make_tensor_value_info("x", TensorProto.FLOAT,
                                                              ["batch", c, h, w])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)], inits)
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", case["opset"])])


def cases():
    out = []
    seed = 0
    for pads_from in ("initializer", "constant"):
        for pool_pads in ([0, 0, 0, 0], None):
            for feed in ("input", "conv_relu", "maxpool", "concat"):
                seed += 1
                out.append({"pads_from": pads_from, "pool_pads": pool_pads, "feed": feed,
                            "ceil": 0, "shape": (2, 8, 12, 12), "opset": 13, "seed": seed})
    # inception_v3's own pools at batch 8 (Mixed_5b..5d, 6b..6e, 7b..7c)
    for shape in ((8, 192, 35, 35), (8, 256, 35, 35), (8, 288, 35, 35), (8, 768, 17, 17),
                  (8, 1280, 8, 8), (8, 2048, 8, 8)):
        seed += 1
        out.append({"pads_from": "initializer", "pool_pads": [0, 0, 0, 0], "feed": "concat",
                    "ceil": 0, "shape": shape, "opset": 13, "seed": seed})
    for ceil in (0, 1):
        for cip in (0, 1):
            seed += 1
            out.append({"pads_from": "initializer", "pool_pads": [0, 0, 0, 0], "feed": "input",
                        "ceil": ceil, "cip": cip, "strides": [2, 2], "shape": (2, 4, 11, 11),
                        "opset": 13, "seed": seed})
    seed += 1
    out.append({"pads_from": "initializer", "pool_pads": [1, 0, 0, 1], "feed": "input", "ceil": 0,
                "shape": (2, 4, 9, 9), "opset": 11, "seed": seed})
    seed += 1
    out.append({"pads_from": "initializer", "pool_pads": [0, 0, 0, 0], "feed": "input", "ceil": 0,
                "shape": (2, 4, 9, 9), "opset": 13, "seed": seed, "pad": [0, 1, 1, 1, 0, 2, 1, 1]})
    return out


def main(argv):
    if len(argv) != 2:
        print(__doc__)
        return 2
    photos.require_modules("numpy", "onnx", "onnxruntime")
    import numpy as np
    import onnx
    import onnxruntime as ort  # noqa: F401 (version in notes)

    nndiff = argv[1]
    failures = 0
    with tempfile.TemporaryDirectory() as tmp:
        for i, case in enumerate(cases()):
            model = build(case)
            path = os.path.join(tmp, "m%d.onnx" % i)
            onnx.save(model, path)
            x = np.random.RandomState(100 + i).randn(*case["shape"]).astype(np.float32)
            xp = os.path.join(tmp, "x%d.npy" % i)
            np.save(xp, x)
            ref = photos.ort_run(path, x, optimize=False).astype(np.float64)
            opt = photos.ort_run(path, x).astype(np.float64)
            scale = float(np.max(np.abs(ref))) or 1.0
            label = ", ".join("%s=%s" % (k, case[k]) for k in sorted(case) if k != "seed")
            ort_rel = float(np.max(np.abs(opt - ref))) / scale
            if ort_rel > RTOL:
                print("note: ONNX Runtime %s's optimizer changes this graph by %.2e [%s]"
                      % (ort.__version__, ort_rel, label))
            for precision in ("fast", "reference"):
                out = os.path.join(tmp, "y%d_%s.npy" % (i, precision))
                proc = subprocess.run([nndiff, "run", path, "--data", xp, "--outputs", out,
                                       "--precision", precision, "--batch", str(case["shape"][0])],
                                      capture_output=True, text=True)
                if proc.returncode != 0:
                    print("FAIL %s [%s]: nndiff exit %d: %s" % (precision, label, proc.returncode,
                                                              proc.stderr.strip()))
                    failures += 1
                    continue
                got = np.load(out).astype(np.float64)
                if got.shape != ref.shape:
                    print("FAIL %s [%s]: shape %s, ort %s" % (precision, label, got.shape,
                                                            ref.shape))
                    failures += 1
                    continue
                rel = float(np.max(np.abs(got - ref))) / scale
                ok = rel <= RTOL
                failures += not ok
                print("%s %-9s rel %.2e  [%s]" % ("ok  " if ok else "FAIL", precision, rel, label))
    print("%d case(s), %d failure(s)" % (len(cases()) * 2, failures))
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
