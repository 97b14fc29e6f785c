"""The ONNX writer (nnd_model_write_edited) on real torch.onnx exports.

For every edit kind (set_attrs, set_op, set_input, set_constant,
remove_node, replace_uses) on a small torch model exported by torch.onnx,
on its variants made here with the onnx API (weights in Constant nodes,
float16 weights behind Cast, weights in an external-data file) and on the
torchvision resnet18 fixture, tests/tools/write_edited writes the edited
file and this test checks, with independent tools:
  (a) field by field with the onnx package: every node, initializer,
      attribute, name and the model's metadata that no edit touched is
      identical (serialised bytes equal), the edited ones hold exactly the
      new values; same-sized weights are overwritten in place (the files
      differ only inside that tensor's raw_data);
  (b) onnx.checker.check_model(path, full_check=True) passes;
  (c) ONNX Runtime on the written file gives what ONNX Runtime gives on the
      same edits made by hand with onnx helpers, and what nndiff's engine
      computes on the edited IR (the edits applied to a clone).
Edits the file cannot express fail with exit 2 and one line naming the
edit, and write nothing.

Usage: check_onnx_write.py WRITE_EDITED FIXTURES_TORCHVISION
Exit 0 ok, 1 a check failed, 77 skipped (no torch/onnx/onnxruntime).
"""
import os
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from photos import require_modules  # noqa: E402
from onnx_fields import field_diffs  # noqa: E402

require_modules("torch", "onnx", "onnxruntime")
import numpy as np  # noqa: E402
import onnx  # noqa: E402
import onnxruntime as ort  # noqa: E402
import torch  # noqa: E402
from onnx import helper, numpy_helper  # noqa: E402

TOOL = sys.argv[1]
FIXTURES = sys.argv[2]
FAILED = []


def check(cond, what):
    print(("ok    " if cond else "FAIL  ") + what)
    if not cond:
        FAILED.append(what)


# ------------------------------------------------------------- models

class Net(torch.nn.Module):
    """Conv, LeakyRelu, MaxPool, ReLU6 (Clip with Constant-node bounds at
    opset 13), Sub of a buffer, a residual Add, a global max pool, Reshape,
    Gemm and a final Relu whose output is the graph output."""

    def __init__(self):
        super().__init__()
        self.conv1 = torch.nn.Conv2d(3, 8, 3, padding=1)
        self.act1 = torch.nn.LeakyReLU(0.1)
        self.pool = torch.nn.MaxPool2d(2)
        self.conv2 = torch.nn.Conv2d(8, 8, 3, padding=1)
        self.act2 = torch.nn.ReLU6()
        self.conv3 = torch.nn.Conv2d(8, 8, 1)
        self.fc = torch.nn.Linear(8, 5)
        self.register_buffer("shift", torch.randn(1, 8, 1, 1))

    def forward(self, x):
        y = self.pool(self.act1(self.conv1(x)))
        z = self.act2(self.conv2(y))
        w = self.conv3(z) - self.shift
        w = w + z
        v = torch.nn.functional.adaptive_max_pool2d(w, 1)
        return torch.relu(self.fc(v.reshape(1, -1)))


def export_net(path, opset=13):
    torch.manual_seed(0)
    m = Net().eval()
    torch.onnx.export(m, torch.randn(1, 3, 16, 16), path, opset_version=opset,
                      input_names=["x"], output_names=["y"])
    model = onnx.load(path)
    # the exporter spells the global pool as MaxPool over the whole map; a
    # GlobalMaxPool is what the set_op case needs
    for i, n in enumerate(model.graph.node):
        if n.op_type == "MaxPool" and n.name != "/pool/MaxPool":
            model.graph.node[i].CopyFrom(helper.make_node(
                "GlobalMaxPool", list(n.input), list(n.output), name="/gpool/GlobalMaxPool"))
    onnx.checker.check_model(model)
    onnx.save(model, path)


def to_constant_nodes(src, dst):
    """Every conv weight and bias as a Constant node instead of an initializer."""
    m = onnx.load(src)
    g = m.graph
    moved = [t for t in g.initializer if t.name.startswith("conv")]
    for t in moved:
        g.initializer.remove(t)
    nodes = [helper.make_node("Constant", [], [t.name], name="const_" + t.name, value=t)
             for t in moved]
    old = list(g.node)
    del g.node[:]
    g.node.extend(nodes + old)
    onnx.checker.check_model(m)
    onnx.save(m, dst)


def to_float16_behind_cast(src, dst):
    """Conv weights stored as float16, each read through a Cast to float."""
    m = onnx.load(src)
    g = m.graph
    casts = []
    for t in list(g.initializer):
        if not t.name.startswith("conv") or not t.name.endswith("weight"):
            continue
        a = numpy_helper.to_array(t).astype(np.float16)
        half = numpy_helper.from_array(a, t.name + "_fp16")
        g.initializer.remove(t)
        g.initializer.append(half)
        casts.append(helper.make_node("Cast", [half.name], [t.name], name="cast_" + t.name,
                                      to=onnx.TensorProto.FLOAT))
    old = list(g.node)
    del g.node[:]
    g.node.extend(casts + old)
    onnx.checker.check_model(m)
    onnx.save(m, dst)


def to_external(src, dst):
    m = onnx.load(src)
    onnx.save(m, dst, save_as_external_data=True, all_tensors_to_one_file=True,
              location="weights.bin", size_threshold=0)


# ------------------------------------------------------------- helpers

def write(src, out, edits, engine=None):
    cmd = [TOOL]
    if engine:
        cmd += ["--engine"] + list(engine)
    r = subprocess.run(cmd + [src, out] + edits, capture_output=True, text=True, timeout=600)
    return r.returncode, r.stderr.strip()


def run_ort(path, x):
    s = ort.InferenceSession(path, providers=["CPUExecutionProvider"])
    return s.run(None, {s.get_inputs()[0].name: x})[0]


def by_name(items):
    return {i.name: i for i in items}


def same_bytes(a, b):
    return a.SerializeToString() == b.SerializeToString()


def attrs_of(node):
    return {a.name: helper.get_attribute_value(a) for a in node.attribute}


def fields_check(label, src_path, out_path, nodes=(), removed=(), inits=(), new_inits=(),
                 new_nodes=()):
    """(a): everything but the named nodes and initializers is identical."""
    for ok, what in field_diffs(src_path, out_path, nodes, removed, inits, new_inits, new_nodes):
        check(ok, "%s: %s" % (label, what))
    return onnx.load(src_path, load_external_data=False), \
        onnx.load(out_path, load_external_data=False)


def in_place_check(label, src_path, out_path, tensor):
    """Same size, and every differing byte inside the tensor's raw_data."""
    sa, sb = open(src_path, "rb").read(), open(out_path, "rb").read()
    raw = numpy_helper.to_array(by_name(onnx.load(src_path).graph.initializer)[tensor]).tobytes()
    at = sa.find(raw)
    diff = np.nonzero(np.frombuffer(sa, np.uint8) != np.frombuffer(sb, np.uint8))[0] \
        if len(sa) == len(sb) else None
    check(diff is not None and at >= 0 and len(diff) > 0 and diff.min() >= at and
          diff.max() < at + len(raw),
          "%s: '%s' overwritten in place (%s bytes differ, all inside its raw_data)"
          % (label, tensor, "?" if diff is None else len(diff)))


def full_check(label, path):
    try:
        onnx.checker.check_model(path, full_check=True)
        check(True, "%s: onnx.checker full_check passes" % label)
    except Exception as e:  # noqa: BLE001
        check(False, "%s: onnx.checker full_check: %s" % (label, str(e).splitlines()[0]))


def ort_check(label, out_path, oracle_model, x, engine_out=None, tol=1e-5):
    """(c): ORT on the written file against ORT on the hand-edited model and
    against the engine on the edited IR."""
    with tempfile.TemporaryDirectory() as d:
        oracle = os.path.join(d, "oracle.onnx")
        onnx.save(oracle_model, oracle)
        got, want = run_ort(out_path, x), run_ort(oracle, x)
    err = float(np.max(np.abs(got - want))) if got.shape == want.shape else float("inf")
    check(err <= tol, "%s: ORT on the written file = ORT on the hand edit (max |diff| %.2g)"
          % (label, err))
    if engine_out is not None:
        eng = np.fromfile(engine_out, np.float32)
        e = float(np.max(np.abs(eng - got.ravel()))) if eng.size == got.size else float("inf")
        scale = max(1.0, float(np.max(np.abs(got))))
        check(e <= 1e-4 * scale, "%s: nndiff's engine on the edited IR = ORT on the file "
              "(max |diff| %.2g)" % (label, e))
    return got


def node(model, name):
    return next(n for n in model.graph.node if n.name == name)


def set_attr(n, name, value):
    for a in list(n.attribute):
        if a.name == name:
            n.attribute.remove(a)
    n.attribute.append(helper.make_attribute(name, value))


# --------------------------------------------------------------- cases

def case_attrs_and_ops(d, net, x, xin):
    """set_attrs (conv pads/strides, LeakyRelu alpha, Gemm alpha, Clip
    bounds as Constant-node inputs) and set_op (LeakyRelu -> Relu is on the
    second model; Sub -> Add, GlobalMaxPool -> GlobalAveragePool, MaxPool
    -> AveragePool, Reshape -> Flatten)."""
    out, eng = os.path.join(d, "attrs.onnx"), os.path.join(d, "attrs.eng")
    edits = ["attr:/conv1/Conv:pads=0,0,0,0:strides=1,1",
             "attr:/act1/LeakyRelu:alpha=0.25",
             "attr:/fc/Gemm:alpha=0.5",
             "op:/Sub:Add",
             "op:/gpool/GlobalMaxPool:GlobalAveragePool",
             "op:/pool/MaxPool:AveragePool:count_include_pad=1",
             "op:/Reshape:Flatten:axis=1"]
    rc, msg = write(net, out, edits, engine=(xin, eng))
    check(rc == 0, "attrs: written (%s)" % (msg or "ok"))
    if rc:
        return
    changed = {"/conv1/Conv", "/act1/LeakyRelu", "/fc/Gemm", "/Sub", "/gpool/GlobalMaxPool",
               "/pool/MaxPool", "/Reshape"}
    a, b = fields_check("attrs", net, out, nodes=changed)
    c1 = attrs_of(node(b, "/conv1/Conv"))
    check(c1["pads"] == [0, 0, 0, 0] and c1["strides"] == [1, 1] and
          c1["kernel_shape"] == [3, 3], "attrs: conv pads/strides rewritten, others kept")
    check(abs(attrs_of(node(b, "/act1/LeakyRelu"))["alpha"] - 0.25) < 1e-7, "attrs: LeakyRelu alpha")
    g = attrs_of(node(b, "/fc/Gemm"))
    check(abs(g["alpha"] - 0.5) < 1e-7 and g["beta"] == 1.0 and g["transB"] == 1, "attrs: Gemm alpha")
    check(node(b, "/Sub").op_type == "Add" and not node(b, "/Sub").attribute, "set_op: Sub -> Add")
    check(node(b, "/gpool/GlobalMaxPool").op_type == "GlobalAveragePool",
          "set_op: GlobalMaxPool -> GlobalAveragePool")
    p = node(b, "/pool/MaxPool")
    check(p.op_type == "AveragePool" and attrs_of(p).get("count_include_pad") == 1 and
          attrs_of(p)["kernel_shape"] == [2, 2], "set_op: MaxPool -> AveragePool(count_include_pad)")
    r = node(b, "/Reshape")
    check(r.op_type == "Flatten" and list(r.input) == [node(a, "/Reshape").input[0]] and
          attrs_of(r).get("axis", 1) == 1, "set_op: Reshape -> Flatten, shape input dropped")
    full_check("attrs", out)
    # the same edits by hand
    h = onnx.load(net)
    n = node(h, "/conv1/Conv")
    set_attr(n, "pads", [0, 0, 0, 0])
    set_attr(n, "strides", [1, 1])
    set_attr(node(h, "/act1/LeakyRelu"), "alpha", 0.25)
    set_attr(node(h, "/fc/Gemm"), "alpha", 0.5)
    node(h, "/Sub").op_type = "Add"
    node(h, "/gpool/GlobalMaxPool").op_type = "GlobalAveragePool"
    p = node(h, "/pool/MaxPool")
    p.op_type = "AveragePool"
    set_attr(p, "count_include_pad", 1)
    r = node(h, "/Reshape")
    r.op_type = "Flatten"
    del r.input[1:]
    ort_check("attrs", out, h, x, engine_out=eng)


def case_clip_inputs(d, net, x):
    """Clip's bounds at opset 13 are inputs: a Constant node only the Clip
    reads is rewritten in place; bounds shared with another reader become
    new initializers. (nndiff's engine reads the bound inputs, not the
    attributes an edit sets, so ORT on a hand edit is the oracle here.)"""
    out = os.path.join(d, "clip.onnx")
    rc, msg = write(net, out, ["attr:/act2/Clip:clip_min=0.5:clip_max=3"])
    check(rc == 0, "clip: written (%s)" % (msg or "ok"))
    if rc:
        return
    fields_check("clip", net, out, nodes={"/act2/Constant", "/act2/Constant_1"})
    b = onnx.load(out)
    consts = {n.output[0]: numpy_helper.to_array(n.attribute[0].t) for n in b.graph.node
              if n.op_type == "Constant" and n.name.startswith("/act2/")}
    clip = node(b, "/act2/Clip")
    check(float(consts.get(clip.input[1], np.nan)) == 0.5 and
          float(consts.get(clip.input[2], np.nan)) == 3.0,
          "clip: bounds written into the Constant nodes it reads")
    full_check("clip", out)
    h = onnx.load(net)
    for cn, v in (("/act2/Constant", 0.5), ("/act2/Constant_1", 3.0)):
        node(h, cn).attribute[0].t.CopyFrom(numpy_helper.from_array(np.array(v, np.float32)))
    ort_check("clip", out, h, x)

    # both bounds read one Constant: the first bound gets a new initializer,
    # the second (now its only reader) has the Constant rewritten
    shared = os.path.join(d, "clip_shared.onnx")
    m = onnx.load(net)
    c = node(m, "/act2/Clip")
    c.input[2] = c.input[1]
    m.graph.node.remove(node(m, "/act2/Constant_1"))
    onnx.save(m, shared)
    out2 = os.path.join(d, "clip_shared_out.onnx")
    rc, msg = write(shared, out2, ["attr:/act2/Clip:clip_min=0.5:clip_max=3"])
    check(rc == 0, "clip shared: written (%s)" % (msg or "ok"))
    if rc:
        return
    fields_check("clip shared", shared, out2, nodes={"/act2/Clip", "/act2/Constant"},
                 new_inits={"/act2/Clip_min"})
    b = onnx.load(out2)
    ib = by_name(b.graph.initializer)
    c = node(b, "/act2/Clip")
    k = node(b, "/act2/Constant")
    check(list(c.input[1:]) == ["/act2/Clip_min", k.output[0]] and
          float(numpy_helper.to_array(ib["/act2/Clip_min"])) == 0.5 and
          float(numpy_helper.to_array(k.attribute[0].t)) == 3.0,
          "clip shared: a new initializer /act2/Clip_min, the Constant rewritten for max")
    full_check("clip shared", out2)
    h = onnx.load(shared)
    h.graph.initializer.extend([numpy_helper.from_array(np.array(0.5, np.float32), "lo"),
                                numpy_helper.from_array(np.array(3.0, np.float32), "hi")])
    node(h, "/act2/Clip").input[1:] = ["lo", "hi"]
    ort_check("clip shared", out2, h, x)


def case_ops_and_rewiring(d, net, x, xin):
    """set_op LeakyRelu -> Relu, remove_node of the node whose output is the
    graph output (its input takes the name), set_input, replace_uses, and
    Clip bounds that become new initializers when the Constant is shared."""
    out, eng = os.path.join(d, "rewire.onnx"), os.path.join(d, "rewire.eng")
    a = onnx.load(net)
    conv3 = node(a, "/conv3/Conv").output[0]
    clip_out = node(a, "/act2/Clip").output[0]
    edits = ["op:/act1/LeakyRelu:Relu",
             "input:/Add:1=%s" % conv3,       # w + conv3(z) instead of w + z
             "uses:/Sub_output_0=%s" % conv3,  # Add reads conv3 instead of the Sub
             "remove:/Relu"]
    rc, msg = write(net, out, edits, engine=(xin, eng))
    check(rc == 0, "rewire: written (%s)" % (msg or "ok"))
    if rc:
        return
    b = onnx.load(out)
    fields_check("rewire", net, out, nodes={"/act1/LeakyRelu", "/Add", "/fc/Gemm"},
                 removed={"/Relu"})
    check(node(b, "/act1/LeakyRelu").op_type == "Relu" and not node(b, "/act1/LeakyRelu").attribute,
          "rewire: LeakyRelu -> Relu without its alpha")
    check(list(node(b, "/Add").input) == [conv3, conv3], "rewire: set_input and replace_uses")
    check(node(b, "/fc/Gemm").output[0] == "y" and [o.name for o in b.graph.output] == ["y"],
          "rewire: the removed Relu's input takes the graph output's name")
    full_check("rewire", out)
    h = onnx.load(net)
    n = node(h, "/act1/LeakyRelu")
    n.op_type = "Relu"
    del n.attribute[:]
    node(h, "/Add").input[:] = [conv3, conv3]
    h.graph.node.remove(node(h, "/Relu"))
    node(h, "/fc/Gemm").output[0] = "y"
    ort_check("rewire", out, h, x, engine_out=eng)
    del clip_out


def case_output_uses(d, net, x, xin):
    """replace_uses on the graph output while its producer stays: the
    output keeps its name through an Identity, the old producer's output
    is renamed out of the way."""
    out, eng = os.path.join(d, "outuses.onnx"), os.path.join(d, "outuses.eng")
    rc, msg = write(net, out, ["uses:y=/fc/Gemm_output_0"], engine=(xin, eng))
    check(rc == 0, "output uses: written (%s)" % (msg or "ok"))
    if rc:
        return
    fields_check("output uses", net, out, nodes={"/Relu"}, new_nodes={"y_identity"})
    b = onnx.load(out)
    ident = [n for n in b.graph.node if n.op_type == "Identity"]
    check(len(ident) == 1 and list(ident[0].input) == ["/fc/Gemm_output_0"] and
          list(ident[0].output) == ["y"] and node(b, "/Relu").output[0] == "y_replaced" and
          b.graph.node[-1].op_type == "Identity",
          "output uses: Identity(/fc/Gemm_output_0) -> y appended, the Relu writes y_replaced")
    full_check("output uses", out)
    h = onnx.load(net)
    h.graph.node.remove(node(h, "/Relu"))
    node(h, "/fc/Gemm").output[0] = "y"
    ort_check("output uses", out, h, x, engine_out=eng)


def case_constants(d, net, x, xin):
    """set_constant: same-sized float32 weights from float64 data in place,
    a bias of another shape re-encoded, an int64 tensor (Reshape's shape
    Constant) kept; shapes of the data checked."""
    rng = np.random.RandomState(3)
    a = onnx.load(net)
    ia = by_name(a.graph.initializer)
    w = numpy_helper.to_array(ia["conv2.weight"]).astype(np.float64) * 0.5 + 0.01
    wf = os.path.join(d, "w.f64")
    w.tofile(wf)
    out, eng = os.path.join(d, "const.onnx"), os.path.join(d, "const.eng")
    rc, msg = write(net, out, ["const:conv2.weight=%s:f64" % wf], engine=(xin, eng))
    check(rc == 0, "const: written (%s)" % (msg or "ok"))
    if rc:
        return
    in_place_check("const", net, out, "conv2.weight")
    fields_check("const", net, out, inits={"conv2.weight"})
    got = numpy_helper.to_array(by_name(onnx.load(out).graph.initializer)["conv2.weight"])
    check(got.dtype == np.float32 and np.array_equal(got, w.astype(np.float32)),
          "const: the new weights, rounded to float32")
    full_check("const", out)
    h = onnx.load(net)
    by_name(h.graph.initializer)["conv2.weight"].CopyFrom(
        numpy_helper.from_array(w.astype(np.float32), "conv2.weight"))
    ort_check("const", out, h, x, engine_out=eng)

    # a shift of another shape: the TensorProto is re-encoded (dims too)
    s = rng.randn(8).astype(np.float32)
    sf = os.path.join(d, "s.f32")
    s.tofile(sf)
    out2 = os.path.join(d, "const2.onnx")
    rc, msg = write(net, out2, ["const:shift=%s:f32:8x1x1" % sf])
    check(rc == 0, "const: reshaped tensor written (%s)" % (msg or "ok"))
    if rc == 0:
        fields_check("const2", net, out2, inits={"shift"})
        t = by_name(onnx.load(out2).graph.initializer)["shift"]
        check(list(t.dims) == [8, 1, 1] and np.array_equal(numpy_helper.to_array(t).ravel(), s),
              "const: dims and data re-encoded")
        full_check("const2", out2)
        h = onnx.load(net)
        by_name(h.graph.initializer)["shift"].CopyFrom(
            numpy_helper.from_array(s.reshape(8, 1, 1), "shift"))
        ort_check("const2", out2, h, x)

    # data of the wrong size: one line, exit 2, nothing written
    bad = os.path.join(d, "bad.f32")
    np.zeros(7, np.float32).tofile(bad)
    out3 = os.path.join(d, "bad.onnx")
    rc, msg = write(net, out3, ["const:shift=%s:f32" % bad])
    check(rc == 2 and "\n" not in msg and "edit 1" in msg and not os.path.exists(out3),
          "const: wrong count refused in one line naming the edit (%s)" % msg)


def case_constant_nodes(d, net, x, xin):
    """Weights in Constant nodes: their value attribute is rewritten."""
    src = os.path.join(d, "constnodes.onnx")
    to_constant_nodes(net, src)
    a = onnx.load(src)
    w = numpy_helper.to_array(node(a, "const_conv1.weight").attribute[0].t) * 2
    b_ = np.arange(8, dtype=np.float32) * 0.1
    wf, bf = os.path.join(d, "cw.f32"), os.path.join(d, "cb.f64")
    w.astype(np.float32).tofile(wf)
    b_.astype(np.float64).tofile(bf)
    out, eng = os.path.join(d, "constnodes_out.onnx"), os.path.join(d, "constnodes.eng")
    rc, msg = write(src, out, ["const:conv1.weight=%s:f32" % wf, "const:conv1.bias=%s:f64" % bf],
                    engine=(xin, eng))
    check(rc == 0, "constant nodes: written (%s)" % (msg or "ok"))
    if rc:
        return
    fields_check("constant nodes", src, out, nodes={"const_conv1.weight", "const_conv1.bias"})
    b = onnx.load(out)
    gw = numpy_helper.to_array(node(b, "const_conv1.weight").attribute[0].t)
    gb = numpy_helper.to_array(node(b, "const_conv1.bias").attribute[0].t)
    check(np.array_equal(gw, w.astype(np.float32)) and np.array_equal(gb, b_),
          "constant nodes: value attributes hold the new data")
    full_check("constant nodes", out)
    h = onnx.load(src)
    node(h, "const_conv1.weight").attribute[0].t.CopyFrom(
        numpy_helper.from_array(w.astype(np.float32), "conv1.weight"))
    node(h, "const_conv1.bias").attribute[0].t.CopyFrom(numpy_helper.from_array(b_, "conv1.bias"))
    ort_check("constant nodes", out, h, x, engine_out=eng)


def case_float16(d, net, x, xin):
    """float16 weights behind Cast: an edit of the Cast's output (what
    localize names after folding the Cast) is written into the float16
    initializer, rounded to half; an edit of the initializer itself too."""
    src = os.path.join(d, "fp16.onnx")
    to_float16_behind_cast(net, src)
    a = onnx.load(src)
    w16 = numpy_helper.to_array(by_name(a.graph.initializer)["conv3.weight_fp16"])
    w = w16.astype(np.float64) * -1.5
    wf = os.path.join(d, "w16.f64")
    w.tofile(wf)
    w1 = numpy_helper.to_array(by_name(a.graph.initializer)["conv1.weight_fp16"]).astype(np.float32) + 0.125
    w1f = os.path.join(d, "w1.f32")
    w1.tofile(w1f)
    out, eng = os.path.join(d, "fp16_out.onnx"), os.path.join(d, "fp16.eng")
    rc, msg = write(src, out, ["const:conv3.weight=%s:f64" % wf,
                               "const:conv1.weight_fp16=%s:f32" % w1f], engine=(xin, eng))
    check(rc == 0, "float16: written (%s)" % (msg or "ok"))
    if rc:
        return
    fields_check("float16", src, out, inits={"conv3.weight_fp16", "conv1.weight_fp16"})
    ib = by_name(onnx.load(out).graph.initializer)
    g3, g1 = numpy_helper.to_array(ib["conv3.weight_fp16"]), numpy_helper.to_array(ib["conv1.weight_fp16"])
    check(g3.dtype == np.float16 and np.array_equal(g3, w.astype(np.float32).astype(np.float16)) and
          np.array_equal(g1, w1.astype(np.float16)),
          "float16: both tensors hold the new data rounded to half")
    full_check("float16", out)
    h = onnx.load(src)
    hi = by_name(h.graph.initializer)
    hi["conv3.weight_fp16"].CopyFrom(numpy_helper.from_array(w.astype(np.float32).astype(np.float16),
                                                             "conv3.weight_fp16"))
    hi["conv1.weight_fp16"].CopyFrom(numpy_helper.from_array(w1.astype(np.float16), "conv1.weight_fp16"))
    # the engine keeps the edit's float64 data, ORT the half-rounded file
    ort_check("float16", out, h, x, engine_out=None)
    got = run_ort(out, x)
    eng_y = np.fromfile(eng, np.float32)
    e = float(np.max(np.abs(eng_y - got.ravel())))
    check(e <= 2e-2 * max(1.0, float(np.max(np.abs(got)))),
          "float16: engine on the edited IR within half rounding of ORT (max |diff| %.2g)" % e)


def case_external(d, net, x, xin):
    """External data: the edited tensor goes to a new file beside the
    output, every other tensor keeps its location; written into another
    folder, the source's data file is copied beside the output."""
    srcdir = os.path.join(d, "ext")
    os.makedirs(srcdir)
    src = os.path.join(srcdir, "model.onnx")
    to_external(net, src)
    w = numpy_helper.to_array(by_name(onnx.load(net).graph.initializer)["fc.weight"]) * 3
    wf = os.path.join(d, "fcw.f32")
    w.astype(np.float32).tofile(wf)
    before = open(os.path.join(srcdir, "weights.bin"), "rb").read()
    for label, out in (("external, same folder", os.path.join(srcdir, "fixed.onnx")),
                       ("external, other folder", os.path.join(d, "elsewhere", "fixed.onnx")),
                       ("external, temporary name", os.path.join(d, "tmpname", "fixed.onnx.tmp-1"))):
        os.makedirs(os.path.dirname(out), exist_ok=True)
        eng = out + ".eng"
        rc, msg = write(src, out, ["const:fc.weight=%s:f32" % wf, "attr:/fc/Gemm:beta=2"],
                        engine=(xin, eng))
        check(rc == 0, "%s: written (%s)" % (label, msg or "ok"))
        if rc:
            continue
        fields_check(label, src, out, nodes={"/fc/Gemm"}, inits={"fc.weight"})
        b = onnx.load(out, load_external_data=False)
        t = by_name(b.graph.initializer)["fc.weight"]
        loc = {e.key: e.value for e in t.external_data}
        others = {e.value for i in b.graph.initializer if i.name != "fc.weight"
                  for e in i.external_data if e.key == "location"}
        check(loc.get("location") == "fixed.onnx.data" and others == {"weights.bin"},
              "%s: the edited tensor in fixed.onnx.data, the others in weights.bin" % label)
        check(os.path.exists(os.path.join(os.path.dirname(out), "weights.bin")) and
              open(os.path.join(os.path.dirname(out), "weights.bin"), "rb").read() == before,
              "%s: weights.bin beside the output, unchanged" % label)
        full_check(label, out)
        got = numpy_helper.to_array(by_name(onnx.load(out).graph.initializer)["fc.weight"])
        check(np.array_equal(got, w.astype(np.float32)), "%s: the new data reads back" % label)
        h = onnx.load(net)
        by_name(h.graph.initializer)["fc.weight"].CopyFrom(
            numpy_helper.from_array(w.astype(np.float32), "fc.weight"))
        set_attr(node(h, "/fc/Gemm"), "beta", 2.0)
        ort_check(label, out, h, x, engine_out=eng)
    check(open(os.path.join(srcdir, "weights.bin"), "rb").read() == before,
          "external: the source's data file untouched")
    # a copy never replaces another model's data of the same name; the same
    # bytes (a second model written beside the first) are fine
    rc, msg = write(src, os.path.join(d, "elsewhere", "second.onnx"), ["attr:/fc/Gemm:beta=2"])
    check(rc == 0, "external: a second model beside an identical copy written (%s)" % (msg or "ok"))
    clash = os.path.join(d, "clash")
    os.makedirs(clash)
    foreign = before[::-1]
    open(os.path.join(clash, "weights.bin"), "wb").write(foreign)
    rc, msg = write(src, os.path.join(clash, "fixed.onnx"), ["attr:/fc/Gemm:beta=2"])
    check(rc == 2 and "weights.bin" in msg and len(msg.splitlines()) == 1 and
          not os.path.exists(os.path.join(clash, "fixed.onnx")) and
          open(os.path.join(clash, "weights.bin"), "rb").read() == foreign,
          "external: another model's weights.bin in the folder: exit 2, one line, nothing "
          "written (got %d: %s)" % (rc, msg))


def case_opset9_clip(d, x, xin):
    """Clip at opset 9 keeps its bounds in attributes."""
    src = os.path.join(d, "net9.onnx")
    export_net(src, opset=9)
    out, eng = os.path.join(d, "net9_out.onnx"), os.path.join(d, "net9.eng")
    rc, msg = write(src, out, ["attr:/act2/Clip:clip_min=-1:clip_max=2"], engine=(xin, eng))
    check(rc == 0, "opset 9: written (%s)" % (msg or "ok"))
    if rc:
        return
    fields_check("opset 9", src, out, nodes={"/act2/Clip"})
    at = attrs_of(node(onnx.load(out), "/act2/Clip"))
    check(at.get("min") == -1.0 and at.get("max") == 2.0, "opset 9: Clip min/max attributes")
    full_check("opset 9", out)
    h = onnx.load(src)
    set_attr(node(h, "/act2/Clip"), "min", -1.0)
    set_attr(node(h, "/act2/Clip"), "max", 2.0)
    ort_check("opset 9", out, h, x, engine_out=eng)


def case_relu_to_clip(d, net, x, xin):
    """set_op Relu -> Clip(0, 6) at opset 13: the bounds are new
    initializers the Clip reads."""
    out, eng = os.path.join(d, "clip6.onnx"), os.path.join(d, "clip6.eng")
    rc, msg = write(net, out, ["op:/Relu:Clip:clip_min=0:clip_max=6"], engine=(xin, eng))
    check(rc == 0, "relu -> clip: written (%s)" % (msg or "ok"))
    if rc:
        return
    fields_check("relu -> clip", net, out, nodes={"/Relu"}, new_inits={"/Relu_min", "/Relu_max"})
    b = onnx.load(out)
    c = node(b, "/Relu")
    ib = by_name(b.graph.initializer)
    check(c.op_type == "Clip" and list(c.input[1:]) == ["/Relu_min", "/Relu_max"] and
          float(numpy_helper.to_array(ib["/Relu_min"])) == 0.0 and
          float(numpy_helper.to_array(ib["/Relu_max"])) == 6.0,
          "relu -> clip: Clip reads new initializers 0 and 6")
    full_check("relu -> clip", out)
    h = onnx.load(net)
    h.graph.initializer.extend([numpy_helper.from_array(np.array(0, np.float32), "lo"),
                                numpy_helper.from_array(np.array(6, np.float32), "hi")])
    r = node(h, "/Relu")
    r.op_type = "Clip"
    r.input.extend(["lo", "hi"])
    ort_check("relu -> clip", out, h, x, engine_out=eng)


def case_add_input(d, net, x, xin):
    """add_input: a Conv that lost its bias gets it back as a new
    initializer, in the conv's own dtype."""
    src = os.path.join(d, "nobias.onnx")
    m = onnx.load(net)
    bias = numpy_helper.to_array(by_name(m.graph.initializer)["conv3.bias"])
    c = node(m, "/conv3/Conv")
    del c.input[2]
    m.graph.initializer.remove(by_name(m.graph.initializer)["conv3.bias"])
    onnx.save(m, src)
    bf = os.path.join(d, "bias.f64")
    bias.astype(np.float64).tofile(bf)
    out, eng = os.path.join(d, "nobias_out.onnx"), os.path.join(d, "nobias.eng")
    rc, msg = write(src, out, ["addin:/conv3/Conv:2=conv3.bias.restored=%s:f64:8" % bf],
                    engine=(xin, eng))
    check(rc == 0, "add_input: written (%s)" % (msg or "ok"))
    if rc:
        return
    fields_check("add_input", src, out, nodes={"/conv3/Conv"}, new_inits={"conv3.bias.restored"})
    b = onnx.load(out)
    t = by_name(b.graph.initializer)["conv3.bias.restored"]
    check(list(node(b, "/conv3/Conv").input)[2:] == ["conv3.bias.restored"] and
          t.data_type == onnx.TensorProto.FLOAT and
          np.array_equal(numpy_helper.to_array(t), bias),
          "add_input: the Conv reads the restored float32 bias")
    full_check("add_input", out)
    ort_check("add_input", out, onnx.load(net), x, engine_out=eng)


def case_auto_pad(d, net, x, xin):
    """A Conv with auto_pad SAME_UPPER given explicit pads: auto_pad goes,
    pads are written."""
    src = os.path.join(d, "autopad.onnx")
    m = onnx.load(net)
    c = node(m, "/conv2/Conv")
    for a in list(c.attribute):
        if a.name == "pads":
            c.attribute.remove(a)
    c.attribute.append(helper.make_attribute("auto_pad", "SAME_UPPER"))
    onnx.save(m, src)
    out, eng = os.path.join(d, "autopad_out.onnx"), os.path.join(d, "autopad.eng")
    rc, msg = write(src, out, ["attr:/conv2/Conv:pads=1,1,1,1"], engine=(xin, eng))
    check(rc == 0, "auto_pad: written (%s)" % (msg or "ok"))
    if rc:
        return
    fields_check("auto_pad", src, out, nodes={"/conv2/Conv"})
    at = attrs_of(node(onnx.load(out), "/conv2/Conv"))
    check("auto_pad" not in at and at.get("pads") == [1, 1, 1, 1],
          "auto_pad: SAME_UPPER replaced by explicit pads")
    full_check("auto_pad", out)
    # SAME_UPPER on a 3x3 stride-1 conv is pads 1: the same output
    ort_check("auto_pad", out, onnx.load(net), x, engine_out=eng)


def case_fused(d, net, x, xin):
    """ONNX Runtime's extended offline optimisation writes com.microsoft
    FusedConv: its fused activation is rewritten there (LeakyRelu alpha),
    and a FusedConv whose activation goes becomes a plain Conv."""
    src = os.path.join(d, "fused.onnx")
    so = ort.SessionOptions()
    so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_EXTENDED
    so.optimized_model_filepath = src
    ort.InferenceSession(net, so, providers=["CPUExecutionProvider"])
    m = onnx.load(src)
    fused = [n for n in m.graph.node if n.op_type == "FusedConv" and
             any(a.name == "activation" and a.s == b"LeakyRelu" for a in n.attribute)]
    if not fused:
        check(False, "fused: ONNX Runtime wrote no FusedConv with LeakyRelu")
        return
    name = fused[0].name
    for label, act, expect in (("fused alpha", "leaky/0.3", ("FusedConv", [0.3])),
                               ("fused removed", "none", ("Conv", None))):
        out, eng = os.path.join(d, label.replace(" ", "_") + ".onnx"), os.path.join(d, "f.eng")
        rc, msg = write(src, out, ["attr:%s:act=%s" % (name, act)], engine=(xin, eng))
        check(rc == 0, "%s: written (%s)" % (label, msg or "ok"))
        if rc:
            continue
        fields_check(label, src, out, nodes={name})
        n = node(onnx.load(out), name)
        at = attrs_of(n)
        ok = n.op_type == expect[0]
        if expect[1] is None:
            ok = ok and n.domain == "" and "activation" not in at and "activation_params" not in at
        else:
            ok = ok and abs(at["activation_params"][0] - 0.3) < 1e-7
        check(ok, "%s: %s as expected" % (label, n.op_type))
        h = onnx.load(src)
        hn = node(h, name)
        if expect[1] is None:
            hn.op_type, hn.domain = "Conv", ""
            for a in list(hn.attribute):
                if a.name.startswith("activation"):
                    hn.attribute.remove(a)
        else:
            set_attr(hn, "activation_params", [0.3])
        ort_check(label, out, h, x, engine_out=eng)


def case_subgraph_refused(d, net):
    """A model with an If whose branches read an outer tensor by name:
    removing a node is refused rather than guessed."""
    src = os.path.join(d, "if.onnx")
    m = onnx.load(net)
    outer = node(m, "/fc/Gemm").output[0]
    branch = helper.make_graph([helper.make_node("Identity", [outer], ["b_out"])], "b", [],
                               [helper.make_tensor_value_info("b_out", onnx.TensorProto.FLOAT, None)])
    m.graph.initializer.append(numpy_helper.from_array(np.array(True), "cond"))
    m.graph.node.append(helper.make_node("If", ["cond"], ["if_out"], name="if",
                                         then_branch=branch, else_branch=branch))
    m.graph.output.append(helper.make_tensor_value_info("if_out", onnx.TensorProto.FLOAT, None))
    onnx.save(m, src)
    out = os.path.join(d, "if_out.onnx")
    rc, msg = write(src, out, ["remove:/Relu"])
    check(rc == 2 and "subgraphs" in msg and "\n" not in msg and not os.path.exists(out),
          "subgraphs: rewiring refused in one line (%s)" % msg)
    rc, msg = write(src, out, ["attr:/act1/LeakyRelu:alpha=0.2"])
    check(rc == 0 and os.path.exists(out), "subgraphs: other edits still written (%s)" % (msg or "ok"))
    if rc == 0:
        fields_check("subgraphs", src, out, nodes={"/act1/LeakyRelu"})


def case_no_edits(d):
    """No edit: every torchvision fixture comes back byte for byte."""
    names = sorted(f for f in os.listdir(FIXTURES) if f.endswith(".onnx"))
    same = []
    for f in names:
        out = os.path.join(d, "same_" + f)
        rc, msg = write(os.path.join(FIXTURES, f), out, [])
        same.append(rc == 0 and open(out, "rb").read() ==
                    open(os.path.join(FIXTURES, f), "rb").read())
        if os.path.exists(out):
            os.unlink(out)
    check(len(names) >= 8 and all(same),
          "no edits: %d/%d torchvision fixtures written back byte for byte" % (sum(same), len(names)))


def case_resnet18(d):
    """The torchvision fixture: hyperparameters, an op change, a removal and
    a weight, on a real 46 MB export."""
    src = os.path.join(FIXTURES, "resnet18.onnx")
    if not os.path.exists(src):
        check(False, "resnet18 fixture missing")
        return
    x = np.random.RandomState(0).rand(1, 3, 224, 224).astype(np.float32)
    xin = os.path.join(d, "r18.in")
    x.tofile(xin)
    a = onnx.load(src)
    b_ = numpy_helper.to_array(by_name(a.graph.initializer)["fc.bias"]).astype(np.float64) + 0.5
    bf = os.path.join(d, "fcb.f64")
    b_.tofile(bf)
    out, eng = os.path.join(d, "r18.onnx"), os.path.join(d, "r18.eng")
    edits = ["attr:/layer1/layer1.0/bn1/BatchNormalization:epsilon=0.001",
             "attr:/layer2/layer2.0/conv1/Conv:dilations=2,2:pads=2,2,2,2",
             "op:/maxpool/MaxPool:AveragePool",
             "remove:/layer4/layer4.1/relu_1/Relu",
             "const:fc.bias=%s:f64" % bf]
    rc, msg = write(src, out, edits, engine=(xin, eng))
    check(rc == 0, "resnet18: written (%s)" % (msg or "ok"))
    if rc:
        return
    changed = {"/layer1/layer1.0/bn1/BatchNormalization", "/layer2/layer2.0/conv1/Conv",
               "/maxpool/MaxPool", "/avgpool/GlobalAveragePool"}
    fields_check("resnet18", src, out, nodes=changed, removed={"/layer4/layer4.1/relu_1/Relu"},
                 inits={"fc.bias"})
    in_place_check("resnet18 (bias only)", src, os.path.join(d, "r18b.onnx"), "fc.bias") \
        if write(src, os.path.join(d, "r18b.onnx"), ["const:fc.bias=%s:f64" % bf])[0] == 0 \
        else check(False, "resnet18: bias-only edit written")
    full_check("resnet18", out)
    h = onnx.load(src)
    set_attr(node(h, "/layer1/layer1.0/bn1/BatchNormalization"), "epsilon", 0.001)
    c = node(h, "/layer2/layer2.0/conv1/Conv")
    set_attr(c, "dilations", [2, 2])
    set_attr(c, "pads", [2, 2, 2, 2])
    node(h, "/maxpool/MaxPool").op_type = "AveragePool"
    r = node(h, "/layer4/layer4.1/relu_1/Relu")
    for n in h.graph.node:
        n.input[:] = [r.input[0] if i == r.output[0] else i for i in n.input]
    h.graph.node.remove(r)
    by_name(h.graph.initializer)["fc.bias"].CopyFrom(
        numpy_helper.from_array(b_.astype(np.float32), "fc.bias"))
    ort_check("resnet18", out, h, x, engine_out=eng, tol=1e-4)


def case_refusals(d, net):
    """Edits ONNX cannot state: one line naming the edit, exit 2, no file."""
    for label, edits in (
            ("a fused activation on a standard Conv", ["attr:/conv1/Conv:act=relu"]),
            ("an op without an ONNX op", ["op:/act1/LeakyRelu:Silu"]),
            ("writing over the source", None)):
        out = os.path.join(d, "refused.onnx")
        if edits is None:
            rc, msg = write(net, net, ["attr:/act1/LeakyRelu:alpha=0.3"])
        else:
            rc, msg = write(net, out, edits)
        check(rc == 2 and "\n" not in msg and not os.path.exists(out),
              "refused: %s (%s)" % (label, msg))


def main():
    with tempfile.TemporaryDirectory() as d:
        net = os.path.join(d, "net.onnx")
        export_net(net)
        x = np.random.RandomState(1).randn(1, 3, 16, 16).astype(np.float32)
        xin = os.path.join(d, "x.f32")
        x.tofile(xin)
        case_attrs_and_ops(d, net, x, xin)
        case_clip_inputs(d, net, x)
        case_ops_and_rewiring(d, net, x, xin)
        case_output_uses(d, net, x, xin)
        case_constants(d, net, x, xin)
        case_constant_nodes(d, net, x, xin)
        case_float16(d, net, x, xin)
        case_external(d, net, x, xin)
        case_opset9_clip(d, x, xin)
        case_relu_to_clip(d, net, x, xin)
        case_add_input(d, net, x, xin)
        case_auto_pad(d, net, x, xin)
        case_fused(d, net, x, xin)
        case_subgraph_refused(d, net)
        case_refusals(d, net)
        case_no_edits(d)
        case_resnet18(d)
    if FAILED:
        print("%d check(s) failed" % len(FAILED))
        return 1
    print("all checks passed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
