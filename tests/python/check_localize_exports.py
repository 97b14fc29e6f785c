"""localize on exports as torch.onnx 1.13 really writes them, and as the
tools people run on exports leave them.

A torchvision model at its default initialisation (BatchNorm weight 1, bias
0, running mean 0, var 1: torch.onnx de-duplicates those identical
initialisers and feeds them through Identity nodes) is exported twice: with
BatchNorm kept (TrainingMode.PRESERVE, the source) and folded (EVAL). From
the folded export the test derives targets that spell the same constants
differently: weights in Constant nodes, float16 weights behind Cast, weights
in an external-data file, and ONNX Runtime's basic and extended offline
optimisation (the latter writes com.microsoft FusedConv/FusedGemm, and
QuickGelu for SiLU).
Every pair must be judged equivalent (exit 0) — ONNX Runtime confirms that
each target computes what the source does. A fault (one Conv's weights
scaled by 1.5 in the folded export) must be found: exit 1, and the first
suspect names that Conv.

Usage: check_localize_exports.py NNDIFF [--models resnet18,...]
Exit 0 ok, 1 a check failed, 77 skipped (no torch/onnx/onnxruntime).
"""
import json
import os
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from photos import require_modules  # noqa: E402

require_modules("torch", "torchvision", "onnx", "onnxruntime")
import numpy as np  # noqa: E402
import onnx  # noqa: E402
import onnxruntime as ort  # noqa: E402
import torch  # noqa: E402
import torchvision  # noqa: E402
from onnx import helper, numpy_helper  # noqa: E402


def export(name, out_dir):
    torch.manual_seed(0)
    m = getattr(torchvision.models, name)().eval()
    x = torch.randn(1, 3, 224, 224)
    src = os.path.join(out_dir, name + "_bn.onnx")
    dst = os.path.join(out_dir, name + "_folded.onnx")
    torch.onnx.export(m, x, src, opset_version=13, training=torch.onnx.TrainingMode.PRESERVE)
    torch.onnx.export(m, x, dst, opset_version=13)
    return src, dst


def weights_as_constants(src, dst):
    """Every float initializer becomes a Constant node at the graph's head."""
    m = onnx.load(src)
    g = m.graph
    keep, consts = [], []
    for t in g.initializer:
        if t.data_type == onnx.TensorProto.FLOAT:
            consts.append(helper.make_node("Constant", [], [t.name], value=t, name="c_" + t.name))
        else:
            keep.append(t)
    nodes = consts + list(g.node)
    del g.initializer[:]
    g.initializer.extend(keep)
    del g.node[:]
    g.node.extend(nodes)
    onnx.save(m, dst)


def weights_f16_cast(src, dst):
    """Float initializers of 2+ dims stored as float16, each behind a Cast."""
    m = onnx.load(src)
    g = m.graph
    casts, inits = [], []
    for t in g.initializer:
        a = numpy_helper.to_array(t)
        if t.data_type == onnx.TensorProto.FLOAT and a.ndim >= 2:
            h = numpy_helper.from_array(a.astype(np.float16), t.name + "_f16")
            inits.append(h)
            casts.append(helper.make_node("Cast", [h.name], [t.name], to=onnx.TensorProto.FLOAT))
        else:
            inits.append(t)
    del g.initializer[:]
    g.initializer.extend(inits)
    nodes = casts + list(g.node)
    del g.node[:]
    g.node.extend(nodes)
    onnx.save(m, dst)


def external_data(src, dst):
    m = onnx.load(src)
    onnx.save(m, dst, save_as_external_data=True, all_tensors_to_one_file=True,
              location=os.path.basename(dst) + ".data", size_threshold=0)


def ort_basic(src, dst, level=None):
    so = ort.SessionOptions()
    so.graph_optimization_level = level or ort.GraphOptimizationLevel.ORT_ENABLE_BASIC
    so.optimized_model_filepath = dst
    ort.InferenceSession(src, so, providers=["CPUExecutionProvider"])


def ort_extended(src, dst):
    """com.microsoft FusedConv / FusedGemm: Conv or Gemm with an activation."""
    ort_basic(src, dst, ort.GraphOptimizationLevel.ORT_ENABLE_EXTENDED)


def scale_conv(src, dst, k, factor):
    """Multiplies the weights of the k-th Conv by factor; returns its name."""
    m = onnx.load(src)
    convs = [n for n in m.graph.node if n.op_type == "Conv"]
    w = convs[k].input[1]
    for t in m.graph.initializer:
        if t.name == w:
            t.CopyFrom(numpy_helper.from_array(numpy_helper.to_array(t) * factor, w))
    onnx.save(m, dst)
    return convs[k].name


def ort_out(path, x):
    s = ort.InferenceSession(path, providers=["CPUExecutionProvider"])
    name = s.get_inputs()[0].name
    return np.concatenate([s.run(None, {name: x[i:i + 1]})[0] for i in range(len(x))])


def localize(nndiff, src, dst, data, tmp):
    out = os.path.join(tmp, "loc.json")
    p = subprocess.run([nndiff, "localize", src, dst, "--data", data, "--json", out, "--images", "2"],
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    res = json.load(open(out)) if os.path.exists(out) else None
    return p.returncode, res, p.stdout + p.stderr


def main(argv):
    if len(argv) < 1:
        print(__doc__)
        return 2
    nndiff = argv[0]
    models = ["resnet18", "mobilenet_v3_small", "efficientnet_b0"]
    if "--models" in argv:
        models = argv[argv.index("--models") + 1].split(",")
    failures = 0
    rs = np.random.RandomState(0)
    x = rs.randn(6, 3, 224, 224).astype(np.float32)
    with tempfile.TemporaryDirectory() as tmp:
        data = os.path.join(tmp, "x.npy")
        np.save(data, x)
        for name in models:
            src, folded = export(name, tmp)
            n_identity = sum(n.op_type == "Identity" for n in onnx.load(src).graph.node)
            ref = ort_out(src, x)
            targets = {"folded": folded}
            for label, fn in [("constants", weights_as_constants), ("f16_cast", weights_f16_cast),
                              ("external_data", external_data), ("ort_basic", ort_basic),
                              ("ort_extended", ort_extended)]:
                path = os.path.join(tmp, "%s_%s.onnx" % (name, label))
                fn(folded, path)
                targets[label] = path
            for label, path in targets.items():
                y = ort_out(path, x)
                rel = float(np.abs(y - ref).max() / np.abs(ref).max())
                # float16 weights really change the numbers; all others are exact
                tol = 5e-2 if label == "f16_cast" else 1e-4
                same_labels = bool((y.argmax(1) == ref.argmax(1)).all())
                rc, res, text = localize(nndiff, src, path, data, tmp)
                if label == "f16_cast":
                    # a float16 target is a real (small) change: localize may
                    # call it different, but must name float16 rounding
                    ok = rc == 0 or (rc == 1 and "float16" in text)
                else:
                    ok = rc == 0 and res is not None and res["equivalent"]
                print("%-20s %-14s ORT rel %.2e labels %s  localize exit %d  %s" % (
                    name, label, rel, "same" if same_labels else "DIFFER", rc, "ok" if ok else "FAIL"))
                if not ok or rel > tol:
                    failures += 1
                    print("  source has %d Identity nodes\n  " % n_identity +
                          "\n  ".join(text.strip().splitlines()[:12]))
            faulty = os.path.join(tmp, name + "_fault.onnx")
            conv = scale_conv(folded, faulty, 3, 1.5)
            rel = float(np.abs(ort_out(faulty, x) - ref).max() / np.abs(ref).max())
            rc, res, text = localize(nndiff, src, faulty, data, tmp)
            first = res["suspects"][0]["target_nodes"] if res and res["suspects"] else []
            ok = rc == 1 and conv in first and rel > 1e-3
            print("%-20s %-14s ORT rel %.2e  localize exit %d, first suspect %s  %s" % (
                name, "fault", rel, rc, first, "ok" if ok else "FAIL (wanted %s)" % conv))
            if not ok:
                failures += 1
                print("  " + "\n  ".join(text.strip().splitlines()[:12]))
    print("%d failed" % failures)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
