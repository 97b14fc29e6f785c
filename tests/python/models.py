"""Model variants for the compare tests, made with the onnx API from a
fixture: a "converted" model whose one convolution carries perturbed
weights (what a lossy converter does), a copy with every node and tensor
renamed (what a converter that changes nothing but names does), and one
whose output is sliced to another shape."""
import numpy as np


def _conv_nodes(model):
    return [n for n in model.graph.node if n.op_type == "Conv"]


def perturb_conv(src, dst, conv_index, scale, seed=1):
    """Adds N(0, (scale * std(W))^2) noise to the weights of conv number
    conv_index (negative counts from the end); returns the conv's name."""
    import onnx
    from onnx import numpy_helper

    m = onnx.load(src)
    inits = {i.name: i for i in m.graph.initializer}
    conv = _conv_nodes(m)[conv_index]
    w = numpy_helper.to_array(inits[conv.input[1]])
    rng = np.random.RandomState(seed)
    w2 = (w + rng.randn(*w.shape).astype(np.float32) * np.float32(scale * w.std())).astype(np.float32)
    inits[conv.input[1]].CopyFrom(numpy_helper.from_array(w2, conv.input[1]))
    onnx.save(m, dst)
    return conv.name


def rename_all(src, dst, prefix="renamed_"):
    """Same graph and weights, every node and non-interface tensor renamed."""
    import onnx

    m = onnx.load(src)
    g = m.graph
    keep = {v.name for v in g.input} | {v.name for v in g.output}
    names = {}
    for n in g.node:
        for t in list(n.input) + list(n.output):
            if t and t not in keep and t not in names:
                names[t] = "%st%d" % (prefix, len(names))
    for n in g.node:
        n.name = prefix + (n.name or n.op_type)
        n.input[:] = [names.get(t, t) for t in n.input]
        n.output[:] = [names.get(t, t) for t in n.output]
    for i in g.initializer:
        i.name = names.get(i.name, i.name)
    for v in g.value_info:
        v.name = names.get(v.name, v.name)
    onnx.checker.check_model(m)
    onnx.save(m, dst)


def slice_output(src, dst, classes):
    """The model with its first output cut to its first `classes` columns."""
    import onnx
    from onnx import helper, numpy_helper

    m = onnx.load(src)
    g = m.graph
    out = g.output[0]
    inner = out.name + "_full"
    for n in g.node:
        n.output[:] = [inner if t == out.name else t for t in n.output]
    for name, val in (("slice_starts", [0]), ("slice_ends", [classes]), ("slice_axes", [1])):
        g.initializer.append(numpy_helper.from_array(np.array(val, dtype=np.int64), name))
    g.node.append(helper.make_node("Slice", [inner, "slice_starts", "slice_ends", "slice_axes"],
                                   [out.name], name="slice_logits"))
    out.type.tensor_type.shape.dim[1].dim_value = classes
    onnx.save(m, dst)


def kendall_tau_top5_union(a, b, k=5):
    """docs/COMPARE.md's tau: tau-b (scipy) over the union of both top-k sets."""
    from scipy.stats import kendalltau

    ta = list(np.argsort(-a, kind="stable")[:k])
    tb = list(np.argsort(-b, kind="stable")[:k])
    u = ta + [c for c in tb if c not in ta]
    tau = kendalltau(a[u].astype(np.float64), b[u].astype(np.float64)).statistic
    return 1.0 if np.isnan(tau) else float(tau)
