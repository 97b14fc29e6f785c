#!/usr/bin/env python3
"""Where float32 error grows in a ResNet-style torchvision export: nndiff
(both precisions) and ONNX Runtime against float64 PyTorch, block by block.

The fixture's model is rebuilt in PyTorch from its seed exactly as
tests/python/check_vs_ort.py's referee does and run in float64 with forward
hooks on the stem, every residual block (`layerN.i`) and the classifier.
The ONNX file is cut after the tensor each hook corresponds to (the Relu
after each block's Add) and run by `nndiff run` (one cut per point: run
writes the first output), and ONNX Runtime runs the whole file with every
point added as an output. Prints, per point, max |engine - torch64| /
max |torch64| for each engine, so the block where one engine's error grows
faster than the other's stands out.

  tools/interop_layers.py NNDIFF MODEL_DIR --model resnet152 [--inputs 2]
         [--every 4] [--precisions fast,reference] [--threads 1]
"""
import argparse
import json
import os
import subprocess
import sys
import tempfile

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")
sys.path.insert(0, os.path.join(ROOT, "tools"))
sys.path.insert(0, os.path.join(ROOT, "tests", "python"))


def block_points(graph):
    """(onnx tensor, torch module name) for the stem Relu, every residual
    block's output Relu and the logits, in graph order."""
    prod = {o: n for n in graph.node for o in n.output}
    pts = []
    for n in graph.node:
        if n.op_type != "Relu":
            continue
        src = prod.get(n.input[0])
        name = n.output[0]
        if src is not None and src.op_type == "Add":
            # '/layer3/layer3.17/relu_2/Relu_output_0' -> 'layer3.17'
            pts.append((name, name.split("/")[2]))
        elif name == "/relu/Relu_output_0":
            pts.append((name, "relu"))
    pts.append((graph.output[0].name, "fc"))
    return pts


def cut(model, tensor, path):
    """The model with `tensor` as its only output and the nodes after it
    dropped."""
    import onnx
    m = onnx.ModelProto()
    m.CopyFrom(model)
    nodes = list(m.graph.node)
    last = max(i for i, n in enumerate(nodes) if tensor in n.output)
    del m.graph.node[last + 1:]
    del m.graph.output[:]
    m.graph.output.append(onnx.helper.make_tensor_value_info(tensor, onnx.TensorProto.FLOAT, None))
    used = {i for n in m.graph.node for i in n.input}
    keep = [t for t in m.graph.initializer if t.name in used]
    del m.graph.initializer[:]
    m.graph.initializer.extend(keep)
    onnx.save(m, path)


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("nndiff")
    p.add_argument("model_dir")
    p.add_argument("--model", required=True)
    p.add_argument("--inputs", type=int, default=2)
    p.add_argument("--every", type=int, default=1, help="keep every Nth block (default all)")
    p.add_argument("--precisions", default="fast,reference")
    p.add_argument("--threads", type=int, default=1)
    a = p.parse_args(argv)

    import numpy as np
    import onnx
    import onnxruntime as ort
    import torch
    import export_torchvision as ex
    import photos

    path = os.path.join(a.model_dir, a.model + ".onnx")
    meta = json.load(open(os.path.join(a.model_dir, a.model + ".torch.json")))
    model = onnx.load(path)
    pts = block_points(model.graph)
    pts = [pt for i, pt in enumerate(pts) if i % a.every == 0 or i == len(pts) - 1]
    x = photos.torchvision_inputs(a.inputs, ex.input_size(a.model)).astype(np.float32)

    net = ex.build_model(a.model, meta["seed"])
    ex.calibrate_batchnorm(net, ex.input_size(a.model), meta["seed"],
                           meta.get("params_perturbed", True), meta.get("bn_calibration", "noise"))
    net = net.double().eval()
    mods = dict(net.named_modules())
    got = {}
    for _, mname in pts:
        mods[mname].register_forward_hook(
            lambda mod, i, o, mname=mname: got.__setitem__(mname, o.detach().numpy()))
    with torch.no_grad():
        net(torch.from_numpy(x.astype(np.float64)))

    m2 = onnx.ModelProto()
    m2.CopyFrom(model)
    have = {o.name for o in m2.graph.output}
    for t, _ in pts:
        if t not in have:
            m2.graph.output.append(onnx.helper.make_tensor_value_info(t, onnx.TensorProto.FLOAT,
                                                                      None))
    so = ort.SessionOptions()
    so.intra_op_num_threads = a.threads
    sess = ort.InferenceSession(m2.SerializeToString(), so, providers=["CPUExecutionProvider"])
    names = [t for t, _ in pts]
    ort_out = dict(zip(names, sess.run(names, {sess.get_inputs()[0].name: x})))

    precs = a.precisions.split(",")
    print("%-12s %-10s %s" % ("point", "ort", " ".join("%-10s" % ("nnd " + q[:4]) for q in precs)))
    with tempfile.TemporaryDirectory() as tmp:
        xp = os.path.join(tmp, "x.npy")
        np.save(xp, x)
        for t, mname in pts:
            ref = got[mname]
            scale = np.abs(ref).max()
            row = [np.abs(ort_out[t] - ref).max() / scale]
            cp = os.path.join(tmp, "cut.onnx")
            cut(model, t, cp)
            for q in precs:
                out = os.path.join(tmp, "o.npy")
                r = subprocess.run([a.nndiff, "run", cp, "--data", xp, "--outputs", out,
                                    "--precision", q, "--threads", str(a.threads)],
                                   capture_output=True, text=True)
                if r.returncode != 0:
                    print("nndiff failed on %s: %s" % (mname, r.stderr.strip()[-300:]))
                    return 1
                row.append(np.abs(np.load(out).reshape(ref.shape) - ref).max() / scale)
            print("%-12s %s" % (mname, " ".join("%-10.3g" % v for v in row)), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
