#!/usr/bin/env python3
"""Generate nndiff's fault-localization benchmark: model pairs with ground truth.

For every architecture (default: resnet18, mobilenet_v2, squeezenet1_1,
mobilenet_v3_small, shufflenet_v2_x0_5) this script writes, under DIR/<arch>/:

  source.onnx        the torchvision model (random weights, calibrated BatchNorm,
                     made by tools/export_torchvision.py's export_one(): eval
                     model exported with TrainingMode.PRESERVE, so BatchNorm
                     nodes are kept) + source.torch.json (its reference facts)
  target_clean.onnx  the SAME model exported the way a converter would hand it
                     back: BatchNorm folded into the convolutions
                     (TrainingMode.EVAL; checked: no BatchNormalization node
                     left), possibly another opset, possibly Flatten written as
                     Reshape[-1, C], Gemm as MatMul + Add, Constant nodes as
                     initializers (per architecture, see ARCH_PLAN), and then
                     EVERY node, tensor and initializer renamed to unrelated
                     TF-converter-like names ("StatefulPartitionedCall/model/
                     conv2d_417/BiasAdd", input "serving_default_x:0", output
                     "StatefulPartitionedCall:0"). Equivalent to source.onnx.
  <fault>.onnx       target_clean.onnx plus exactly ONE injected fault (see
                     FAULTS below and docs/FAULT_BENCHMARK.md), edited with the
                     onnx Python API; the faulty layer is chosen with a seeded
                     RNG among the mid-network candidates.
  target.weights.bin (only for big models, see --share-weights-above): the
                     clean target's weights as ONNX external data, shared by
                     every target of that architecture; a tensor a fault
                     changed is stored inside that fault's .onnx instead.

Those are the "calibrated" VARIANT. Every other variant (VARIANTS below,
--list-variants, docs/FAULT_BENCHMARK.md) writes the same kinds of files
under DIR/<arch>/<variant>/ (its own source.onnx only when its source
differs from DIR/<arch>/source.onnx): default_init (torchvision's own
init: tied initializers behind Identity nodes), constant_weights (targets
with Constant nodes instead of initializers), fp16_weights (float16
initializers behind Cast), external_data, and the clean target passed
through a tool before the faults are injected into it: onnxsim, ort_basic
(ONNX Runtime's offline optimisation, ORT_ENABLE_BASIC) and opset9..opset21
(onnx.version_converter; a conversion that fails, or a tool whose output no
longer agrees with the source under onnxruntime, is recorded under
"not_applicable" and skipped). Faults are injected AFTER the tool, into the
tool's own graph, so the faulty node is named exactly in every variant; the
source counterpart is found through the tensor names the tools keep. The
default set has every fault kind in "calibrated" and --faults-per-variant
(default 1) seeded kinds per architecture in the other variants; --full has
every kind everywhere.

and, for all architectures:

  DIR/inputs.npy     float32 [N,3,224,224] (N=32, 16 with --quick): real photos
                     bundled with scikit-image (astronaut, chelsea, coffee,
                     rocket, ...) preprocessed the torchvision way (Resize(256)
                     bilinear, CenterCrop(224), ToTensor, ImageNet mean/std),
                     plus deterministic variants (horizontal flip, a tighter
                     zoom) to reach N.
  DIR/manifest.json  the ground truth: one entry per case (clean pair and every
                     faulty pair) with case id, arch, fault, source/target paths
                     (relative to DIR), equivalent, faulty_target_nodes (names
                     in the target file), faulty_source_nodes (names in the
                     source file; a folded conv is listed with its
                     BatchNormalization node, conv first), description, and
                     what onnxruntime measures on inputs.npy:
                     ort_label_discrepancy (fraction of rows whose top-1
                     differs from the source's), ort_max_abs_diff and
                     ort_rel_max_abs_diff (divided by max|source logits|).
                     Also: the inputs' provenance, per-arch conversion facts,
                     and the cases dropped or not applicable, with reasons.

PLACEMENT: a fault's layer is drawn with a seeded RNG among the candidates in
the middle 20-80 % of the node list (all candidates when none is there). When
the drawn placement moves the logits by no more than 1e-3 * max|source
logits| or flips no top-1 label on inputs.npy, up to 2 further seeded
placements are tried (weights_fp16: 5 float16 placements, then 5 bfloat16
ones) and the first that does both is kept; failing that, the first that
moves the logits by more than 1e-3 relative; failing that, the case is
dropped (listed under "dropped" in the manifest). details.attempt and
details.placements_tried in the manifest record this. weights_fp16's
"fault_variant" says whether float16 or bfloat16 was used (bias_lost's:
removed or zeroed); "variant" is the benchmark variant. Every written model is
checked with onnx.checker and run by onnxruntime.

onnxruntime runs through tools/ort_run.py's make_session()/run(): CPU, one
thread, ORT_ENABLE_ALL, so `ort_run.py` re-creates the recorded numbers.

Deterministic: fixed seeds (--seed), one torch thread (BatchNorm calibration
sums depend on the thread count), single-threaded onnxruntime; reruns on the
same machine give the same bytes, whatever --jobs is (checked). Idempotent:
nothing is done when DIR/manifest.json is newer than this script and was made
with the same options (--force redoes everything); architecture folders of an
earlier run with other --archs are removed.

Usage:
  .venv/bin/python tools/make_fault_benchmark.py --out fixtures/faults
  .venv/bin/python tools/make_fault_benchmark.py --out DIR --archs resnet18,squeezenet1_1 --quick
  .venv/bin/python tools/make_fault_benchmark.py --out DIR --full       # >= 8 archs, every variant
  .venv/bin/python tools/make_fault_benchmark.py --out DIR --variants calibrated,onnxsim --faults-per-variant all
  .venv/bin/python tools/make_fault_benchmark.py --list-faults
  .venv/bin/python tools/make_fault_benchmark.py --list-variants
"""

import argparse
import collections
import copy
import glob
import hashlib
import importlib.util
import io
import json
import os
import random
import shutil
import sys
import time
import warnings

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

import export_torchvision as et  # noqa: E402  (model building, BN calibration, source export)
import ort_run  # noqa: E402  (the onnxruntime oracle)

FORMAT_VERSION = 1
DEFAULT_ARCHS = ["resnet18", "mobilenet_v2", "squeezenet1_1", "mobilenet_v3_small",
                 "shufflenet_v2_x0_5"]

# How each architecture's clean target differs from its source besides BN
# folding and renaming -- the harmless rewrites converters make.
#   target_opset       opset of the target export (source: export_torchvision's table)
#   flatten_to_reshape Flatten(axis=1) -> Reshape(x, [-1, C])
#   gemm_to_matmul     Gemm(x, W, b, transB=1) -> MatMul(x, W^T) + Add(b)
#   constants_to_initializers  every Constant node -> an initializer
ARCH_PLAN = {
    "resnet18": dict(target_opset=11, flatten_to_reshape=True, gemm_to_matmul=True),
    "mobilenet_v2": dict(target_opset=17, flatten_to_reshape=True, constants_to_initializers=True),
    "squeezenet1_1": dict(target_opset=12, flatten_to_reshape=True),
    "mobilenet_v3_small": dict(target_opset=13, gemm_to_matmul=True),
    "shufflenet_v2_x0_5": dict(target_opset=11, constants_to_initializers=True),
}
# Any other 224x224 torchvision model of export_torchvision.py's table gets this.
GENERIC_PLAN = dict(flatten_to_reshape=True)
# --full: at least 8 architectures, with BatchNorm and without (squeezenet1_1,
# alexnet).
FULL_ARCHS = DEFAULT_ARCHS + ["resnet50", "alexnet", "efficientnet_b0", "googlenet", "mnasnet0_5"]

# Benchmark variants: how the source and the targets are made and stored. A
# variant is one (source, clean target) pair per architecture plus faulty
# targets injected into that variant's clean target.
#   init          calibrated: perturbed BN gamma/beta and constant params +
#                 calibrated running statistics (export_torchvision's fixtures);
#                 default: torchvision's own init (BN gamma 1, beta 0, zero
#                 biases) with calibrated running statistics: torch.onnx 1.13
#                 then de-duplicates the identical initializers and feeds the
#                 twins through Identity nodes (in the source and, where
#                 folding leaves twins, e.g. zero conv biases, in the target);
#                 f16: calibrated, then every parameter and buffer rounded to
#                 float16 in torch (a model distributed in half precision),
#                 so float16 storage of the source is lossless
#   source_store  how source.onnx keeps its tensors (default: initializers)
#   target_store  how every target keeps them: constant (Constant nodes, no
#                 initializers), fp16 (float16 initializers behind Cast where
#                 that is lossless), external (ONNX external data)
#   tool          what the clean target is passed through before the faults
#                 are injected into it: onnxsim, ort_basic (ONNX Runtime's
#                 offline optimisation, ORT_ENABLE_BASIC, saved with
#                 SessionOptions.optimized_model_filepath), opset
#                 (onnx.version_converter to `opset`)
VARIANTS = collections.OrderedDict(
    [("calibrated", dict(init="calibrated",
                         doc="calibrated weights, BN kept in the source, folded in the target "
                             "(the original benchmark)")),
     ("default_init", dict(init="default",
                           doc="torchvision's default init (BN weight 1, bias 0, zero biases): "
                               "torch.onnx feeds tied initializers through Identity nodes")),
     ("constant_weights", dict(init="calibrated", target_store="constant",
                               doc="targets keep every tensor in a Constant node, no initializers")),
     ("fp16_weights", dict(init="f16", source_store="fp16", target_store="fp16",
                           doc="parameters rounded to float16 in torch; source and targets store "
                               "float16 initializers behind Cast(to=float) wherever that is lossless")),
     ("external_data", dict(init="calibrated", source_store="external", target_store="external",
                            doc="source and targets keep every tensor >= 1 KB in ONNX external data")),
     ("onnxsim", dict(init="calibrated", tool="onnxsim",
                      doc="clean target passed through onnxsim (onnx-simplifier) before the faults")),
     ("ort_basic", dict(init="calibrated", tool="ort_basic",
                        doc="clean target optimised offline by ONNX Runtime (ORT_ENABLE_BASIC, "
                            "optimized_model_filepath) before the faults")),
     ("ort_extended", dict(init="calibrated", tool="ort_extended",
                           doc="the same at ORT_ENABLE_EXTENDED: CPU-specific com.microsoft ops "
                               "(FusedConv, FusedGemm, ...) in the target"))]
    + [("opset%d" % v, dict(init="calibrated", tool="opset", opset=v,
                            doc="clean target converted to opset %d by onnx.version_converter "
                                "before the faults" % v)) for v in range(9, 22)])
# The default (CI) set: every kind of variant, two of the converter's opsets
# (10: Clip/Pad bounds as attributes; 18: ReduceMean axes and Pad axes as
# inputs, an opset torch 1.13 cannot export).
CI_VARIANTS = ["calibrated", "default_init", "constant_weights", "fp16_weights", "external_data",
               "onnxsim", "ort_basic", "opset10", "opset18"]
# Faulty cases per (architecture, variant) in the default set, besides the
# clean pair; "calibrated" always gets every fault kind.
CI_FAULTS_PER_VARIANT = 1

SKIMAGE_PHOTOS = ["astronaut.png", "chelsea.png", "coffee.png", "rocket.jpg",
                  "motorcycle_left.png", "hubble_deep_field.jpg", "retina.jpg", "ihc.png",
                  "camera.png", "coins.png", "brick.png", "gravel.png"]
IMAGENET_MEAN = [0.485, 0.456, 0.406]
IMAGENET_STD = [0.229, 0.224, 0.225]
# (variant name, description) in the order used to fill N rows: all photos in
# the first variant, then all in the second, ...
INPUT_VARIANTS = [
    ("center", "Resize(256) bilinear, CenterCrop(224)"),
    ("hflip", "horizontal flip, then Resize(256), CenterCrop(224)"),
    ("zoom", "Resize(320) bilinear, CenterCrop(224) (a tighter crop)"),
    ("zoom_hflip", "horizontal flip, then Resize(320), CenterCrop(224)"),
]

REL_DIFF_MIN = 1e-3          # a fault must move the logits by more than this * max|source|
MAX_ATTEMPTS = 3             # candidate layers tried per fault kind (see pick_mid) ...
MAX_ATTEMPTS_BY_KIND = {"weights_fp16": 5}  # ... per rounding mode: its effect is small
SHARE_MIN_TENSOR_BYTES = 1024  # smaller tensors always stay inside the .onnx
EXT_ALIGN = 64


class NotApplicable(Exception):
    """The fault kind has no candidate layer in this architecture."""


class NoMoreCandidates(Exception):
    """A retry asked for a candidate layer beyond the last one."""


class VariantFailed(Exception):
    """A variant cannot be made for this architecture (a tool failed, or broke equivalence)."""


# ---------------------------------------------------------------------------
# small onnx helpers
# ---------------------------------------------------------------------------

def get_attr(node, name, default=None):
    from onnx import helper
    for a in node.attribute:
        if a.name == name:
            return helper.get_attribute_value(a)
    return default


def set_attr(node, name, value):
    from onnx import helper
    keep = [a for a in node.attribute if a.name != name]
    del node.attribute[:]
    node.attribute.extend(keep)
    node.attribute.append(helper.make_attribute(name, value))


class G:
    """Index of a model's graph: nodes by name, producers, consumers, initializers."""

    def __init__(self, model):
        self.model = model
        self.graph = model.graph
        self.refresh()

    def refresh(self):
        g = self.graph
        self.nodes = list(g.node)
        self.by_name = {n.name: n for n in g.node}
        self.pos = {n.name: i for i, n in enumerate(g.node)}
        self.inits = {t.name: t for t in g.initializer}
        self.producer = {}
        self.consumers = collections.defaultdict(list)
        for n in g.node:
            for o in n.output:
                self.producer[o] = n
            for i in n.input:
                if i:
                    self.consumers[i].append(n)

    def init_array(self, name):
        from onnx import numpy_helper
        return numpy_helper.to_array(self.inits[name])

    def set_init(self, name, array):
        """Replace an initializer's data in place (same name, same position)."""
        from onnx import numpy_helper
        t = self.inits[name]
        t.CopyFrom(numpy_helper.from_array(array.astype(numpy_helper.to_array(t).dtype), name))

    def add_init(self, name, array):
        from onnx import numpy_helper
        t = numpy_helper.from_array(array, name)
        self.graph.initializer.append(t)
        self.inits[name] = self.graph.initializer[-1]
        return name

    def const_value(self, tensor_name):
        """Value of a tensor that is an initializer or a Constant node's output, else None."""
        from onnx import numpy_helper
        if tensor_name in self.inits:
            return numpy_helper.to_array(self.inits[tensor_name])
        n = self.producer.get(tensor_name)
        if n is not None and n.op_type == "Constant":
            v = get_attr(n, "value")
            if v is not None:
                return numpy_helper.to_array(v)
        return None

    def insert_before(self, anchor, new_nodes):
        """Insert new_nodes into the graph right before node `anchor` (keeps topological order)."""
        g = self.graph
        nodes = list(g.node)
        i = self.pos[anchor.name]
        del g.node[:]
        g.node.extend(nodes[:i] + list(new_nodes) + nodes[i:])
        self.refresh()

    def unused_initializers(self):
        used = set()
        for n in self.graph.node:
            used.update(n.input)
        used.update(o.name for o in self.graph.output)
        return [t.name for t in self.graph.initializer if t.name not in used]

    def drop_unused_initializers(self):
        dead = set(self.unused_initializers())
        if dead:
            keep = [t for t in self.graph.initializer if t.name not in dead]
            del self.graph.initializer[:]
            self.graph.initializer.extend(keep)
            self.refresh()


def conv_info(g, node):
    w = g.inits.get(node.input[1])
    kshape = list(get_attr(node, "kernel_shape", []) or (list(w.dims[2:]) if w is not None else []))
    return dict(
        kernel=kshape,
        pads=list(get_attr(node, "pads", [0] * (2 * len(kshape)))),
        strides=list(get_attr(node, "strides", [1] * len(kshape))),
        dilations=list(get_attr(node, "dilations", [1] * len(kshape))),
        group=get_attr(node, "group", 1),
        has_bias=len(node.input) > 2 and bool(node.input[2]),
        weight_const=w is not None,
    )


def pick_mid(ctx, g, cands, rng, what, lo=0.2, hi=0.8):
    """Seeded choice among candidate nodes, preferring the middle of the graph.

    Attempt k (ctx.attempt) takes the k-th node of a seeded shuffle of the
    candidates in the middle of the graph (position lo..hi of the node list),
    or of all candidates when none is there.
    """
    if not cands:
        raise NotApplicable("no %s" % what)
    n = max(len(g.nodes) - 1, 1)
    mid = [c for c in cands if lo <= g.pos[c.name] / n <= hi]
    pool = list(mid or cands)
    rng.shuffle(pool)
    if ctx.attempt >= len(pool):
        raise NoMoreCandidates()
    return pool[ctx.attempt]


def single(ctx):
    """For faults with one possible place: no second attempt."""
    if ctx.attempt:
        raise NoMoreCandidates()


def rel_position(g, node):
    return round(g.pos[node.name] / max(len(g.nodes) - 1, 1), 3)


# ---------------------------------------------------------------------------
# inputs
# ---------------------------------------------------------------------------

def skimage_data_dir():
    spec = importlib.util.find_spec("skimage")
    cands = []
    if spec is not None and spec.submodule_search_locations:
        cands += [os.path.join(p, "data") for p in spec.submodule_search_locations]
    cands.append("/usr/lib/python3/dist-packages/skimage/data")
    for c in cands:
        if os.path.isfile(os.path.join(c, "astronaut.png")):
            return c
    raise RuntimeError("scikit-image's bundled images were not found (looked in %s); "
                       "install python3-skimage or pass --images DIR" % ", ".join(cands))


def make_inputs(n, image_dir):
    """[n,3,224,224] float32 from real photos, torchvision preprocessing; plus provenance."""
    import numpy as np
    import torch
    from PIL import Image
    import torchvision.transforms as T

    if image_dir:
        files = sorted(f for f in os.listdir(image_dir)
                       if f.lower().endswith((".png", ".jpg", ".jpeg")))
    else:
        image_dir = skimage_data_dir()
        files = [f for f in SKIMAGE_PHOTOS if os.path.isfile(os.path.join(image_dir, f))]
    if not files:
        raise RuntimeError("no images in %s" % image_dir)
    norm = [T.ToTensor(), T.Normalize(IMAGENET_MEAN, IMAGENET_STD)]
    tf = {
        "center": T.Compose([T.Resize(256, interpolation=T.InterpolationMode.BILINEAR),
                             T.CenterCrop(224)] + norm),
        "zoom": T.Compose([T.Resize(320, interpolation=T.InterpolationMode.BILINEAR),
                           T.CenterCrop(224)] + norm),
    }
    rows, prov = [], []
    images = {}
    for variant, desc in INPUT_VARIANTS:
        for f in files:
            if len(rows) == n:
                break
            if f not in images:
                path = os.path.join(image_dir, f)
                with open(path, "rb") as fh:
                    data = fh.read()
                im = Image.open(io.BytesIO(data))
                im.load()
                images[f] = (im.convert("RGB"), hashlib.sha256(data).hexdigest(), im.mode, im.size)
            im, sha, mode, size = images[f]
            if variant.endswith("hflip"):
                im = im.transpose(Image.FLIP_LEFT_RIGHT)
            rows.append(tf["zoom" if variant.startswith("zoom") else "center"](im))
            prov.append(collections.OrderedDict([
                ("row", len(prov)), ("image", f), ("variant", variant), ("sha256", sha),
                ("mode", mode), ("size", list(size))]))
    if len(rows) < n:
        raise RuntimeError("only %d image variants available, %d wanted" % (len(rows), n))
    x = torch.stack(rows).numpy().astype(np.float32)
    return x, prov, image_dir


# ---------------------------------------------------------------------------
# export and conversion rewrites
# ---------------------------------------------------------------------------

def export_source(arch, arch_dir, seed):
    """source.onnx via export_torchvision.export_one (BN kept, opset from its table)."""
    opset = et.MODEL_OPSETS[arch]
    et.export_one(arch, arch_dir, opset, seed, True, False)
    os.replace(os.path.join(arch_dir, arch + ".onnx"), os.path.join(arch_dir, "source.onnx"))
    os.replace(os.path.join(arch_dir, arch + ".torch.json"),
               os.path.join(arch_dir, "source.torch.json"))
    return opset


def torch_model(arch, seed, init):
    """The torchvision model for a variant's `init` (see VARIANTS), in eval mode."""
    import torch

    model = et.build_model(arch, seed)
    et.calibrate_batchnorm(model, et.input_size(arch), seed, init != "default")
    if init == "f16":
        with torch.no_grad():
            for t in list(model.parameters()) + list(model.buffers()):
                if t.dtype == torch.float32:
                    t.copy_(t.half().float())
    return model


def torch_export(model, arch, opset, training):
    """torch.onnx.export to a ModelProto (the same settings as export_torchvision)."""
    import onnx
    import torch

    size = et.input_size(arch)
    buf = io.BytesIO()
    with torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(
            model, torch.zeros(1, 3, size, size), buf,
            export_params=True, opset_version=opset, do_constant_folding=True,
            training=training, input_names=["input"], output_names=["logits"],
            dynamic_axes={"input": {0: "batch"}, "logits": {0: "batch"}})
    return onnx.load_from_string(buf.getvalue())


def export_folded(arch, seed, opset, init="calibrated", model=None):
    """The same model (same build + calibration), exported with BN folded (TrainingMode.EVAL)."""
    import torch

    if model is None:
        model = torch_model(arch, seed, init)
    # EVAL runs the eval peephole, which folds BN into Conv
    m = torch_export(model, arch, opset, torch.onnx.TrainingMode.EVAL)
    left = sum(n.op_type == "BatchNormalization" for n in m.graph.node)
    if left:
        raise RuntimeError("folded export of %s still has %d BatchNormalization nodes" % (arch, left))
    return m


def probe_shapes(model):
    """Shape of every node output, by running onnxruntime on one zero image."""
    import numpy as np
    import onnx
    import onnxruntime as ort

    m = copy.deepcopy(model)
    have = {o.name for o in m.graph.output}
    for n in m.graph.node:
        for o in n.output:
            if o and o not in have:
                m.graph.output.append(onnx.ValueInfoProto(name=o))
                have.add(o)
    so = ort.SessionOptions()
    so.intra_op_num_threads = 1
    so.inter_op_num_threads = 1
    so.log_severity_level = 3
    so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
    sess = ort.InferenceSession(m.SerializeToString(), so, providers=["CPUExecutionProvider"])
    inp = sess.get_inputs()[0]
    x = np.zeros([1, 3, 224, 224], np.float32)
    outs = sess.run(None, {inp.name: x})
    return {o.name: (list(y.shape), str(y.dtype)) for o, y in zip(sess.get_outputs(), outs)}


def constants_to_initializers(g):
    from onnx import numpy_helper
    keep = []
    moved = 0
    for n in g.graph.node:
        if n.op_type == "Constant" and get_attr(n, "value") is not None:
            t = numpy_helper.to_array(get_attr(n, "value"))
            g.graph.initializer.append(numpy_helper.from_array(t, n.output[0]))
            moved += 1
        else:
            keep.append(n)
    del g.graph.node[:]
    g.graph.node.extend(keep)
    g.refresh()
    return moved


def flatten_to_reshape(g, shapes):
    from onnx import helper
    import numpy as np
    done = 0
    for n in list(g.graph.node):
        if n.op_type != "Flatten" or get_attr(n, "axis", 1) != 1:
            continue
        out_shape = shapes[n.output[0]][0]
        shape_name = g.add_init(n.name + "/shape", np.array([-1, out_shape[1]], np.int64))
        new = helper.make_node("Reshape", [n.input[0], shape_name], list(n.output), name=n.name)
        n.CopyFrom(new)
        done += 1
    g.refresh()
    return done


def gemm_to_matmul(g, origin):
    """Gemm(x, W, b) -> MatMul(x, W^T) + Add(b); origin maps the new nodes to the Gemm's name."""
    from onnx import helper
    done = 0
    nodes = []
    for n in g.graph.node:
        if (n.op_type == "Gemm" and get_attr(n, "transA", 0) == 0
                and get_attr(n, "alpha", 1.0) == 1.0 and get_attr(n, "beta", 1.0) == 1.0
                and n.input[1] in g.inits and len(n.input) == 3 and n.input[2] in g.inits):
            w = g.init_array(n.input[1])
            if get_attr(n, "transB", 0):
                w = w.T.copy()
            wname = g.add_init(n.input[1] + "/transposed", w)
            mm = helper.make_node("MatMul", [n.input[0], wname], [n.name + "/MatMul_output"],
                                  name=n.name + "/MatMul")
            add = helper.make_node("Add", [mm.output[0], n.input[2]], list(n.output),
                                   name=n.name + "/BiasAdd")
            origin[mm.name] = n.name
            origin[add.name] = n.name
            nodes += [mm, add]
            done += 1
        else:
            nodes.append(n)
    del g.graph.node[:]
    g.graph.node.extend(nodes)
    g.refresh()
    g.drop_unused_initializers()
    return done


def model_opset(model):
    for o in model.opset_import:
        if o.domain in ("", "ai.onnx"):
            return o.version
    return None


def tool_onnxsim(model):
    try:
        import onnxsim
    except ImportError as e:
        raise VariantFailed("onnxsim is not installed (%s): pip install -r tools/requirements.txt" % e)
    try:
        m, ok = onnxsim.simplify(copy.deepcopy(model))
    except Exception as e:
        raise VariantFailed("onnxsim failed: %s: %s" % (type(e).__name__, str(e).splitlines()[0][:200]))
    if not ok:
        raise VariantFailed("onnxsim's own check of the simplified model failed")
    return m


def tool_ort_basic(model, level="basic"):
    """ONNX Runtime's offline optimisation (ORT_ENABLE_BASIC or _EXTENDED), saved and loaded back."""
    import tempfile
    import onnx
    import onnxruntime as ort
    with tempfile.TemporaryDirectory(prefix="nnd_ortopt_") as d:
        src, dst = os.path.join(d, "in.onnx"), os.path.join(d, "out.onnx")
        with open(src, "wb") as f:
            f.write(model.SerializeToString())
        so = ort.SessionOptions()
        so.intra_op_num_threads = 1
        so.inter_op_num_threads = 1
        so.log_severity_level = 3
        so.graph_optimization_level = (ort.GraphOptimizationLevel.ORT_ENABLE_BASIC if level == "basic"
                                       else ort.GraphOptimizationLevel.ORT_ENABLE_EXTENDED)
        so.optimized_model_filepath = dst
        try:
            ort.InferenceSession(src, so, providers=["CPUExecutionProvider"])
        except Exception as e:
            raise VariantFailed("onnxruntime failed: %s" % str(e).splitlines()[0][:200])
        return onnx.load(dst)


def tool_opset(model, opset):
    import onnx
    from onnx import version_converter
    if model_opset(model) == opset:
        return copy.deepcopy(model)
    try:
        m = version_converter.convert_version(model, opset)
        onnx.checker.check_model(m)
    except Exception as e:
        raise VariantFailed("onnx.version_converter %d -> %d failed: %s" % (
            model_opset(model), opset, str(e).strip().splitlines()[0][:200]))
    return m


def apply_tool(model, spec):
    """The clean target passed through the variant's tool (a new ModelProto)."""
    tool = spec.get("tool")
    if tool == "onnxsim":
        return tool_onnxsim(model)
    if tool == "ort_basic":
        return tool_ort_basic(model)
    if tool == "ort_extended":
        return tool_ort_basic(model, "extended")
    if tool == "opset":
        return tool_opset(model, spec["opset"])
    raise ValueError(tool)


def name_nodes_and_trace(before, after, origin):
    """Give unnamed/duplicate nodes of `after` names; map its nodes to `before`'s.

    The tools keep tensor names of what survives (a fused node produces its
    last node's output), so a node of `after` stands for the node of
    `before` that produced the same output; origin (node -> name the source
    knows it by) is extended with that.
    """
    seen = set()
    for n in after.graph.node:
        if not n.name or n.name in seen:
            base = "%s/%s" % (n.output[0] if n.output else "node", n.op_type)
            name, k = base, 1
            while name in seen:
                k += 1
                name = "%s_%d" % (base, k)
            n.name = name
        seen.add(n.name)
    prod = {o: m.name for m in before.graph.node for o in m.output if o}
    for n in after.graph.node:
        for o in n.output:
            if o in prod:
                b = prod[o]
                origin.setdefault(n.name, origin.get(b, b))
                break


def store_constant_nodes(model):
    """Every initializer becomes a Constant node (at the front of the node list)."""
    from onnx import helper
    used = {n.name for n in model.graph.node}
    consts = []
    for t in model.graph.initializer:
        name = t.name + "/Const"
        while name in used:
            name += "_"
        used.add(name)
        consts.append(helper.make_node("Constant", [], [t.name], name=name, value=t))
    nodes = consts + list(model.graph.node)
    del model.graph.initializer[:]
    del model.graph.node[:]
    model.graph.node.extend(nodes)
    return len(consts)


def store_fp16(model):
    """Float32 initializers (2+ elements) exactly representable in float16 -> float16 + Cast."""
    import numpy as np
    from onnx import helper, numpy_helper, TensorProto
    used = {n.name for n in model.graph.node} | {t.name for t in model.graph.initializer}
    casts, inits, done = [], [], 0
    for t in model.graph.initializer:
        if t.data_type == TensorProto.FLOAT and int(np.prod(t.dims)) >= 2:
            a = numpy_helper.to_array(t)
            h = a.astype(np.float16)
            if np.all(np.isfinite(h)) and np.array_equal(h.astype(np.float32), a):
                hname = t.name + "__fp16"
                while hname in used:
                    hname += "_"
                used.add(hname)
                inits.append(numpy_helper.from_array(h, hname))
                casts.append(helper.make_node("Cast", [hname], [t.name], name=t.name + "/Cast",
                                              to=TensorProto.FLOAT))
                done += 1
                continue
        inits.append(t)
    nodes = casts + list(model.graph.node)
    del model.graph.initializer[:]
    model.graph.initializer.extend(inits)
    del model.graph.node[:]
    model.graph.node.extend(nodes)
    return done


# ---------------------------------------------------------------------------
# renaming (converter-like names, deterministic)
# ---------------------------------------------------------------------------

LAYER_WORDS = {
    "Conv": ("conv2d", "BiasAdd"), "Relu": ("re_lu", "Relu"), "LeakyRelu": ("leaky_re_lu", "LeakyRelu"),
    "Clip": ("re_lu", "Relu6"), "Add": ("add", "add"), "Sub": ("subtract", "sub"),
    "Mul": ("multiply", "mul"), "MaxPool": ("max_pooling2d", "MaxPool"),
    "AveragePool": ("average_pooling2d", "AvgPool"),
    "GlobalAveragePool": ("global_average_pooling2d", "Mean"),
    "GlobalMaxPool": ("global_max_pooling2d", "Max"), "Gemm": ("dense", "BiasAdd"),
    "MatMul": ("dense", "MatMul"), "Flatten": ("flatten", "Reshape"), "Reshape": ("reshape", "Reshape"),
    "Concat": ("concatenate", "concat"), "Transpose": ("tf_op_layer_transpose", "transpose"),
    "HardSigmoid": ("activation", "HardSigmoid"), "Pad": ("zero_padding2d", "Pad"),
    "Softmax": ("softmax", "Softmax"), "ReduceMean": ("tf_op_layer_Mean", "Mean"),
}


class Renamer:
    """Maps every node / tensor name of a model to TF-converter-like names.

    The map of the clean target is reused for its faulty variants (same names
    for the same things); names a fault adds get fresh names from a separate
    RNG, never colliding with the clean ones.
    """

    def __init__(self, rng, base=None):
        self.rng = rng
        self.nodes = dict(base.nodes) if base else {}
        self.tensors = dict(base.tensors) if base else {}
        self.used = set(self.nodes.values()) | set(self.tensors.values())
        self.scope = base.scope if base else "StatefulPartitionedCall/model_%d" % rng.randrange(1, 9)

    def _fresh(self, make):
        while True:
            name = make(self.rng.randrange(1, 9999))
            if name not in self.used:
                self.used.add(name)
                return name

    def node_name(self, n):
        if n.name not in self.nodes:
            layer, op = LAYER_WORDS.get(n.op_type, ("tf_op_layer_" + n.op_type, n.op_type))
            if n.op_type == "Conv" and (get_attr(n, "group", 1) or 1) > 1:
                layer, op = "depthwise_conv2d", "depthwise"
            self.nodes[n.name] = self._fresh(lambda k: "%s/%s_%d/%s" % (self.scope, layer, k, op))
        return self.nodes[n.name]

    def build(self, model):
        g = model.graph
        for i, v in enumerate(g.input):
            if v.name not in self.tensors:
                self.tensors[v.name] = "serving_default_x:0" if i == 0 else "serving_default_x_%d:0" % i
                self.used.add(self.tensors[v.name])
        for i, v in enumerate(g.output):
            if v.name not in self.tensors:
                self.tensors[v.name] = "StatefulPartitionedCall:%d" % i
                self.used.add(self.tensors[v.name])
        inits = {t.name: t for t in g.initializer}
        for n in g.node:
            nn = self.node_name(n)
            for k, o in enumerate(n.output):
                if o and o not in self.tensors:
                    name = "%s:%d" % (nn, k)
                    if name in self.used:
                        name = self._fresh(lambda r: "%s_%d:%d" % (nn, r, k))
                    self.used.add(name)
                    self.tensors[o] = name
        for n in g.node:
            nn = self.nodes[n.name]
            for slot, i in enumerate(n.input):
                if i in inits and i not in self.tensors:
                    t = inits[i]
                    word = None
                    if t.data_type == 1 and len(t.dims) >= 1:
                        if n.op_type in ("Conv", "Gemm", "MatMul") and slot in (1, 2):
                            word = ("kernel", "bias")[slot - 1]
                        elif n.op_type == "Add" and slot == 1:
                            word = "bias"
                    if word:
                        base = nn.rsplit("/", 1)[0]
                        self.tensors[i] = self._fresh(
                            lambda r, b=base, w=word: "%s/%s/Read/ReadVariableOp%s" % (
                                b, w, "" if r % 3 else "_%d" % (r % 5)))
                    else:
                        self.tensors[i] = self._fresh(lambda r: "const_fold_opt__%d" % r)
        for t in g.initializer:  # initializers no node reads (none expected)
            if t.name not in self.tensors:
                self.tensors[t.name] = self._fresh(lambda r: "unused_const__%d" % r)
        return self

    def apply(self, model):
        g = model.graph
        tmap = self.tensors
        for v in list(g.input) + list(g.output):
            v.name = tmap[v.name]
            for d in v.type.tensor_type.shape.dim:
                if d.HasField("dim_param"):
                    d.dim_param = "unk__0"
        for t in g.initializer:
            t.name = tmap[t.name]
        for n in g.node:
            n.name = self.nodes[n.name]
            for k, i in enumerate(n.input):
                if i:
                    n.input[k] = tmap[i]
            for k, o in enumerate(n.output):
                if o:
                    n.output[k] = tmap[o]
            n.doc_string = ""
        del g.value_info[:]
        g.name = "tf2onnx_like_graph"
        g.doc_string = ""
        model.doc_string = ""
        model.producer_name = "nndiff tools/make_fault_benchmark.py"
        model.producer_version = str(FORMAT_VERSION)
        return model


# ---------------------------------------------------------------------------
# faults: each takes (g, ctx, rng), edits the (pre-rename) clean target in
# place and returns dict(target=[pre-rename node names], source=[source node
# names], description=..., details=...), or raises NotApplicable.
# ---------------------------------------------------------------------------

def _convs(g, pred=None):
    out = []
    for n in g.nodes:
        if n.op_type == "Conv" and n.input[1] in g.inits:
            info = conv_info(g, n)
            if pred is None or pred(info, n):
                out.append(n)
    return out


def _first_conv(g):
    names = {i.name for i in g.graph.input}
    for n in g.nodes:
        if n.op_type == "Conv" and n.input[0] in names:
            return n
    raise NotApplicable("no conv reads the graph input")


def _conv_result(ctx, g, n, description, **details):
    return dict(target=[n.name], source=ctx.source_nodes(n.name), description=description,
                details=dict(details, position=rel_position(g, n), weight_shape=list(g.inits[n.input[1]].dims)))


def fault_weights_perturbed(g, ctx, rng):
    import numpy as np
    n = pick_mid(ctx, g, _convs(g, lambda i, n: True), rng, "convolution")
    w = g.init_array(n.input[1]).astype(np.float64)
    noise = np.random.RandomState(rng.randrange(2**31)).standard_normal(w.shape) * 0.05 * w.std()
    g.set_init(n.input[1], (w + noise).astype(np.float32))
    return _conv_result(ctx, g, n, "weights of one convolution perturbed by Gaussian noise "
                        "N(0, (0.05*std(W))^2): a corrupted/mis-read weight blob", sigma_rel=0.05)


def fault_weights_fp16(g, ctx, rng, mode="float16"):
    import numpy as np
    n = pick_mid(ctx, g, _convs(g, lambda i, n: True), rng, "convolution")
    w = g.init_array(n.input[1]).astype(np.float32)
    if mode == "float16":
        r = w.astype(np.float16).astype(np.float32)
    else:  # bfloat16, round to nearest even
        u = w.view(np.uint32).astype(np.uint64)
        u = ((u + 0x7FFF + ((u >> 16) & 1)) & 0xFFFF0000).astype(np.uint32)
        r = u.view(np.float32)
    g.set_init(n.input[1], r)
    rel = float(np.abs(r - w).max() / max(np.abs(w).max(), 1e-30))
    return _conv_result(ctx, g, n, "weights of one convolution rounded to %s and back to float32: "
                        "a converter storing weights in reduced precision" % mode,
                        rounding=mode, max_rel_weight_change=rel)


def fault_bias_lost(g, ctx, rng):
    import numpy as np
    n = pick_mid(ctx, g, _convs(g, lambda i, n: i["has_bias"] and n.input[2] in g.inits), rng,
                 "convolution with a constant bias")
    variant = "removed" if rng.random() < 0.5 else "zeroed"
    if variant == "removed":
        bname = n.input[2]
        del n.input[2]
        g.refresh()
        if not g.consumers.get(bname):
            g.drop_unused_initializers()
        desc = ("the bias input of one convolution was dropped (Conv has 2 inputs): a converter "
                "losing the folded BatchNorm shift / use_bias")
    else:
        g.set_init(n.input[2], np.zeros(g.inits[n.input[2]].dims, np.float32))
        desc = "the bias of one convolution was zeroed: a converter losing the folded BatchNorm shift"
    return _conv_result(ctx, g, n, desc, variant=variant)


def fault_input_channels_reversed(g, ctx, rng):
    import numpy as np
    single(ctx)
    n = _first_conv(g)
    w = g.init_array(n.input[1])
    if w.shape[1] < 2:
        raise NotApplicable("first conv has one input channel")
    g.set_init(n.input[1], np.ascontiguousarray(w[:, ::-1]))
    return _conv_result(ctx, g, n, "first convolution's weights reversed along the input-channel "
                        "axis: the model now expects BGR where the source expects RGB")


def _classifier(g):
    """The last parametrised node before the output: Gemm, MatMul(+Add) or Conv."""
    t = g.graph.output[0].name
    seen = 0
    while seen < 20:
        seen += 1
        n = g.producer.get(t)
        if n is None:
            break
        if n.op_type in ("Gemm", "Conv", "MatMul") and n.input[1] in g.inits:
            return [n]
        if n.op_type == "Add":
            mm = g.producer.get(n.input[0])
            if mm is not None and mm.op_type == "MatMul" and mm.input[1] in g.inits and n.input[1] in g.inits:
                return [mm, n]
        if n.op_type in ("Flatten", "Reshape", "Relu", "GlobalAveragePool", "Identity", "Softmax",
                         "Squeeze", "ReduceMean"):
            t = n.input[0]
            continue
        break
    raise NotApplicable("no classifier layer found before the output")


def fault_class_order_shifted(g, ctx, rng):
    import numpy as np
    single(ctx)
    nodes = _classifier(g)
    n = nodes[0]
    w = g.init_array(n.input[1])
    if n.op_type == "Gemm":
        axis = 1 if not get_attr(n, "transB", 0) else 0
        g.set_init(n.input[1], np.roll(w, 1, axis=axis))
        if len(n.input) > 2 and n.input[2] in g.inits:
            g.set_init(n.input[2], np.roll(g.init_array(n.input[2]), 1, axis=-1))
    elif n.op_type == "Conv":
        g.set_init(n.input[1], np.roll(w, 1, axis=0))
        if len(n.input) > 2 and n.input[2] in g.inits:
            g.set_init(n.input[2], np.roll(g.init_array(n.input[2]), 1, axis=0))
    else:  # MatMul [C, K] + Add [K]
        g.set_init(n.input[1], np.roll(w, 1, axis=1))
        if len(nodes) > 1:
            b = g.init_array(nodes[1].input[1])
            if np.array_equal(np.roll(b, 1, axis=-1), b):
                nodes = nodes[:1]  # a constant (e.g. zero-initialised) bias: the Add is unchanged
            else:
                g.set_init(nodes[1].input[1], np.roll(b, 1, axis=-1))
    src = []
    for m in nodes:
        for s in ctx.source_nodes(m.name):
            if s not in src:
                src.append(s)
    return dict(target=[m.name for m in nodes], source=src,
                description="final classifier's output rows (weights and bias) rolled by one: "
                            "class k now gets class k-1's score, a label-map / class-index offset bug",
                details=dict(position=rel_position(g, n), op=n.op_type))


def fault_padding_changed(g, ctx, rng):
    n = pick_mid(ctx, g, _convs(g, lambda i, n: len(i["kernel"]) == 2 and min(i["kernel"]) >= 3
                                and len(set(i["pads"])) == 1 and i["pads"][0] >= 1
                                and i["dilations"] == [1, 1]), rng,
                 "convolution (kernel >= 3) with equal pads >= 1")
    info = conv_info(g, n)
    p = info["pads"][0]
    new = [p + 1, p + 1, p - 1, p - 1]
    set_attr(n, "pads", new)
    return _conv_result(ctx, g, n, "one %dx%d convolution's pads %s -> %s (same output shape, "
                        "content shifted by one pixel): TF 'SAME' (pad more at the end) vs "
                        "explicit padding mis-translated" % (
                            info["kernel"][0], info["kernel"][1], [p] * 4, new),
                        old_pads=[p] * 4, new_pads=new, strides=info["strides"])


def clip_bounds(g, n):
    """(min, max) of a Clip node, from its inputs (opset >= 11) or attributes (< 11); None if unknown."""
    if n.op_type != "Clip":
        return None
    if len(n.input) == 1 and get_attr(n, "max") is not None:
        return float(get_attr(n, "min", float("-inf"))), float(get_attr(n, "max"))
    vals = []
    for k in (1, 2):
        if len(n.input) > k and n.input[k]:
            v = g.const_value(n.input[k])
            if v is None:
                return None
            vals.append(float(v))
        else:
            vals.append(float("-inf") if k == 1 else float("inf"))
    return tuple(vals)


def fault_clip_bound_changed(g, ctx, rng):
    import numpy as np
    cands = [n for n in g.nodes if (clip_bounds(g, n) or (0, 0))[1] == 6.0]
    n = pick_mid(ctx, g, cands, rng, "Clip with max 6")
    if len(n.input) >= 3 and n.input[2]:
        old = g.const_value(n.input[2])
        name = g.add_init(n.name + "/max_fault", np.array(4.0, dtype=old.dtype).reshape(old.shape))
        n.input[2] = name
    else:
        set_attr(n, "max", 4.0)
    g.refresh()
    return dict(target=[n.name], source=ctx.source_nodes(n.name),
                description="one ReLU6 (Clip) upper bound 6 -> 4: a clip/activation bound "
                            "mis-converted (e.g. relu6 emitted as a generic clip with the wrong max)",
                details=dict(position=rel_position(g, n), old_max=6.0, new_max=4.0))


def fault_hardsigmoid_slope_changed(g, ctx, rng):
    cands = [n for n in g.nodes if n.op_type == "HardSigmoid"]
    n = pick_mid(ctx, g, cands, rng, "HardSigmoid")
    old = get_attr(n, "alpha", 0.2)
    if abs(old - 0.2) < 1e-6:
        raise NotApplicable("HardSigmoid already has alpha 0.2")
    set_attr(n, "alpha", 0.2)
    set_attr(n, "beta", 0.5)
    return dict(target=[n.name], source=ctx.source_nodes(n.name),
                description="one HardSigmoid (inside hardswish / squeeze-excitation) uses Keras' "
                            "hard_sigmoid slope 0.2 instead of PyTorch's 1/6",
                details=dict(position=rel_position(g, n), old_alpha=float(old), new_alpha=0.2))


def fault_pooling_mode_changed(g, ctx, rng):
    from onnx import helper
    maxpools = [n for n in g.nodes if n.op_type == "MaxPool" and len(n.output) == 1]
    if maxpools:
        n = pick_mid(ctx, g, maxpools, rng, "MaxPool")
        attrs = dict(kernel_shape=list(get_attr(n, "kernel_shape")))
        for a in ("strides", "pads", "ceil_mode"):
            if a == "ceil_mode" and (model_opset(g.model) or 10) < 10:
                continue  # AveragePool-7 has no ceil_mode (nor has MaxPool-8)
            v = get_attr(n, a)
            if v is not None:
                attrs[a] = list(v) if isinstance(v, (list, tuple)) else v
        if get_attr(n, "dilations") not in (None, [1, 1]):
            raise NotApplicable("MaxPool with dilations")
        new = helper.make_node("AveragePool", list(n.input), list(n.output), name=n.name,
                               count_include_pad=0, **attrs)
        old_op, new_op = "MaxPool", "AveragePool"
    else:
        gaps = [n for n in g.nodes if n.op_type == "GlobalAveragePool"]
        n = pick_mid(ctx, g, gaps, rng, "MaxPool or GlobalAveragePool", lo=0.0, hi=1.0)
        new = helper.make_node("GlobalMaxPool", list(n.input), list(n.output), name=n.name)
        old_op, new_op = "GlobalAveragePool", "GlobalMaxPool"
    src = ctx.source_nodes(n.name)
    n.CopyFrom(new)
    g.refresh()
    return dict(target=[n.name], source=src,
                description="pooling mode changed %s -> %s (same window/strides/pads)" % (old_op, new_op),
                details=dict(position=rel_position(g, n), old_op=old_op, new_op=new_op))


def fault_extra_reflect_pad(g, ctx, rng):
    import numpy as np
    from onnx import helper
    n = pick_mid(ctx, g, _convs(g, lambda i, n: len(i["kernel"]) == 2 and min(i["kernel"]) >= 3
                                and i["pads"][0] > 0 and len(set(i["pads"])) == 1), rng,
                 "convolution (kernel >= 3) with equal pads >= 1")
    p = conv_info(g, n)["pads"][0]
    if (model_opset(g.model) or 11) < 11:  # Pad-2: pads as an attribute
        pad = helper.make_node("Pad", [n.input[0]], [n.name + "/reflect_pad_output"],
                               name=n.name + "/ReflectPad", mode="reflect", pads=[0, 0, p, p, 0, 0, p, p])
    else:
        pads = g.add_init(n.name + "/reflect_pads", np.array([0, 0, p, p, 0, 0, p, p], np.int64))
        pad = helper.make_node("Pad", [n.input[0], pads], [n.name + "/reflect_pad_output"],
                               name=n.name + "/ReflectPad", mode="reflect")
    n.input[0] = pad.output[0]
    set_attr(n, "pads", [0, 0, 0, 0])
    g.insert_before(n, [pad])
    return dict(target=[pad.name, n.name], source=ctx.source_nodes(n.name),
                description="a Pad(mode=reflect, %d px) inserted before one convolution whose "
                            "own zero padding was set to 0: same shape, different border values "
                            "(converters that split padding out as a separate layer with the "
                            "wrong mode)" % p,
                details=dict(position=rel_position(g, n), pad=p, inserted_op="Pad"))


def fault_add_to_sub(g, ctx, rng):
    cands = [n for n in g.nodes if n.op_type == "Add" and len(n.input) == 2
             and all(g.const_value(i) is None for i in n.input)
             and all(len(ctx.shapes.get(i, ([], ""))[0]) == 4 for i in n.input)
             and ctx.shapes[n.input[0]][0] == ctx.shapes[n.input[1]][0]]
    n = pick_mid(ctx, g, cands, rng, "Add of two equal-shaped 4-D activations (residual)")
    src = ctx.source_nodes(n.name)
    n.op_type = "Sub"
    g.refresh()
    return dict(target=[n.name], source=src,
                description="one residual Add turned into Sub (operand order kept)",
                details=dict(position=rel_position(g, n)))


def fault_kernel_flipped(g, ctx, rng):
    import numpy as np
    n = pick_mid(ctx, g, _convs(g, lambda i, n: len(i["kernel"]) == 2 and min(i["kernel"]) > 1), rng,
                 "convolution with a kernel larger than 1x1")
    w = g.init_array(n.input[1])
    g.set_init(n.input[1], np.ascontiguousarray(w[:, :, ::-1, ::-1]))
    return _conv_result(ctx, g, n, "one convolution's kernel rotated by 180 degrees spatially: "
                        "cross-correlation vs true convolution mixed up by the converter")


def fault_activation_changed(g, ctx, rng):
    from onnx import helper
    relus = [n for n in g.nodes if n.op_type == "Relu"]
    if relus:
        n = pick_mid(ctx, g, relus, rng, "Relu")
        src = ctx.source_nodes(n.name)
        n.CopyFrom(helper.make_node("LeakyRelu", list(n.input), list(n.output), name=n.name, alpha=0.1))
        desc, det = "one ReLU became LeakyReLU(alpha=0.1)", dict(old_op="Relu", new_op="LeakyRelu")
    else:
        clips = [n for n in g.nodes if clip_bounds(g, n) == (0.0, 6.0)]
        n = pick_mid(ctx, g, clips, rng, "Relu or Clip(0, 6)")
        src = ctx.source_nodes(n.name)
        n.CopyFrom(helper.make_node("Relu", [n.input[0]], list(n.output), name=n.name))
        desc, det = ("one ReLU6 (Clip 0..6) became a plain ReLU: the upper bound was lost",
                     dict(old_op="Clip(0,6)", new_op="Relu"))
    g.refresh()
    g.drop_unused_initializers()
    return dict(target=[n.name], source=src, description=desc,
                details=dict(det, position=rel_position(g, n)))


def fault_concat_order_swapped(g, ctx, rng):
    cands = []
    for n in g.nodes:
        if n.op_type != "Concat" or len(n.input) != 2 or get_attr(n, "axis") != 1:
            continue
        s = [ctx.shapes.get(i, ([], ""))[0] for i in n.input]
        if len(s[0]) == 4 and s[0] == s[1] and "float" in ctx.shapes[n.input[0]][1]:
            cands.append(n)
    n = pick_mid(ctx, g, cands, rng, "channel Concat of two equal-shaped 4-D tensors")
    a, b = n.input[0], n.input[1]
    n.input[0], n.input[1] = b, a
    return dict(target=[n.name], source=ctx.source_nodes(n.name),
                description="the two inputs of one channel Concat swapped (equal shapes): "
                            "branch order lost by the converter",
                details=dict(position=rel_position(g, n)))


def fault_stride_changed(g, ctx, rng):
    single(ctx)
    cands = _convs(g, lambda i, n: i["kernel"] == [1, 1] and i["strides"] == [1, 1]
                   and i["pads"] == [0, 0, 0, 0]
                   and min(ctx.shapes.get(n.input[0], ([0, 0, 1, 1], ""))[0][2:]) > 1)
    n_all = max(len(g.nodes) - 1, 1)
    cands = [c for c in cands if g.pos[c.name] / n_all >= 0.3]
    rng.shuffle(cands)
    base = copy.deepcopy(g.model)
    for c in cands[:12]:
        trial = copy.deepcopy(base)
        tg = G(trial)
        set_attr(tg.by_name[c.name], "strides", [2, 2])
        if ctx.valid(trial):
            n = g.by_name[c.name]
            set_attr(n, "strides", [2, 2])
            return _conv_result(ctx, g, n, "one 1x1 convolution's stride 1 -> 2 (later layers "
                                "still fit: global pooling absorbs the smaller map): strides "
                                "attribute mis-converted", old_strides=[1, 1], new_strides=[2, 2])
    raise NotApplicable("no 1x1 conv whose stride can change without breaking the graph's shapes")


def fault_transpose_perm_changed(g, ctx, rng):
    cands = [n for n in g.nodes if n.op_type == "Transpose"
             and list(get_attr(n, "perm", [])) == [0, 2, 1, 3, 4]]
    n = pick_mid(ctx, g, cands, rng, "Transpose with perm [0,2,1,3,4] (channel shuffle)")
    set_attr(n, "perm", [0, 1, 2, 3, 4])
    return dict(target=[n.name], source=ctx.source_nodes(n.name),
                description="channel-shuffle Transpose perm [0,2,1,3,4] -> identity [0,1,2,3,4]: "
                            "a 5-D layout permutation dropped by the converter (no shuffle)",
                details=dict(position=rel_position(g, n)))


def fault_extra_softmax(g, ctx, rng):
    from onnx import helper
    single(ctx)
    out = g.graph.output[0].name
    last = g.producer[out]
    src = ctx.source_nodes(last.name)
    new_out = out + "/pre_softmax"
    for k, o in enumerate(last.output):
        if o == out:
            last.output[k] = new_out
    sm = helper.make_node("Softmax", [new_out], [out], name=last.name + "/Softmax", axis=1)
    g.graph.node.append(sm)
    g.refresh()
    return dict(target=[sm.name, last.name], source=src,
                description="a Softmax appended to the logits (Keras-style classifier with "
                            "activation='softmax'): same top-1 labels, different output values",
                details=dict(position=1.0, inserted_op="Softmax"))


# One line per kind for --list-faults (docs/FAULT_BENCHMARK.md has the long form).
FAULT_SUMMARY = {
    "weights_perturbed": "one mid-network conv's weights + N(0, (0.05 std W)^2)",
    "weights_fp16": "one conv's weights rounded to float16 (bfloat16 if float16 flips no label)",
    "bias_lost": "one conv's bias removed from the node or zeroed",
    "input_channels_reversed": "first conv's weights reversed along input channels (RGB <-> BGR)",
    "class_order_shifted": "classifier rows and bias rolled by one class",
    "padding_changed": "one conv's pads [p,p,p,p] -> [p+1,p+1,p-1,p-1] (same shape, shifted)",
    "clip_bound_changed": "one ReLU6 Clip max 6 -> 4",
    "hardsigmoid_slope_changed": "one HardSigmoid alpha 1/6 -> 0.2 (Keras hard_sigmoid)",
    "pooling_mode_changed": "MaxPool -> AveragePool, or GlobalAveragePool -> GlobalMaxPool",
    "extra_reflect_pad": "Pad(reflect, p) inserted before a conv whose pads become 0",
    "add_to_sub": "one residual Add -> Sub",
    "kernel_flipped": "one conv's kernel rotated 180 degrees (correlation vs convolution)",
    "activation_changed": "one Relu -> LeakyRelu(0.1), or ReLU6 Clip -> Relu",
    "concat_order_swapped": "the two inputs of one channel Concat swapped",
    "stride_changed": "one 1x1 conv's stride 1 -> 2 where global pooling keeps the output valid",
    "transpose_perm_changed": "channel-shuffle Transpose perm [0,2,1,3,4] -> identity",
    "extra_softmax": "Softmax appended to the logits (labels unchanged)",
}

FAULTS = collections.OrderedDict([
    ("weights_perturbed", fault_weights_perturbed),
    ("weights_fp16", fault_weights_fp16),
    ("bias_lost", fault_bias_lost),
    ("input_channels_reversed", fault_input_channels_reversed),
    ("class_order_shifted", fault_class_order_shifted),
    ("padding_changed", fault_padding_changed),
    ("clip_bound_changed", fault_clip_bound_changed),
    ("hardsigmoid_slope_changed", fault_hardsigmoid_slope_changed),
    ("pooling_mode_changed", fault_pooling_mode_changed),
    ("extra_reflect_pad", fault_extra_reflect_pad),
    ("add_to_sub", fault_add_to_sub),
    ("kernel_flipped", fault_kernel_flipped),
    ("activation_changed", fault_activation_changed),
    ("concat_order_swapped", fault_concat_order_swapped),
    ("stride_changed", fault_stride_changed),
    ("transpose_perm_changed", fault_transpose_perm_changed),
    ("extra_softmax", fault_extra_softmax),
])


# ---------------------------------------------------------------------------
# per-architecture driver
# ---------------------------------------------------------------------------

class Ctx:
    def __init__(self, source, origin, shapes, x1):
        self.src = G(source)
        self.origin = origin
        self.shapes = shapes
        self.x1 = x1
        self.expected_out_shape = None
        self.attempt = 0

    def source_nodes(self, target_name):
        """Names in the source file of the node(s) the pre-rename target node comes from.

        Both exports name nodes after the torch module scope, so the names
        match; where one opset writes a module as another op (HardSwish at
        opset 14 vs HardSigmoid + Mul at 13) the single source node in the
        same scope is the counterpart.
        """
        name = self.origin.get(target_name, target_name)
        n = self.src.by_name.get(name)
        if n is None and "/" in name:
            scope = name.rsplit("/", 1)[0] + "/"
            same = [m for m in self.src.nodes if m.name.startswith(scope) and "/" not in m.name[len(scope):]
                    and m.op_type not in ("Constant", "Shape", "Gather", "Unsqueeze")]
            if len(same) == 1:
                n = same[0]
        if n is None:
            raise RuntimeError("target node %s has no counterpart %s in the source" % (target_name, name))
        out = [n.name]
        if n.op_type == "Conv":
            for c in self.src.consumers.get(n.output[0], []):
                if c.op_type == "BatchNormalization":
                    out.append(c.name)
        return out

    def valid(self, model):
        """Does onnxruntime run the model on one image and give the expected output shape?"""
        import onnxruntime as ort
        so = ort.SessionOptions()
        so.intra_op_num_threads = 1
        so.inter_op_num_threads = 1
        so.log_severity_level = 4
        so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
        try:
            sess = ort.InferenceSession(model.SerializeToString(), so, providers=["CPUExecutionProvider"])
            y = sess.run(None, {sess.get_inputs()[0].name: self.x1})[0]
        except Exception:
            return False
        return list(y.shape) == self.expected_out_shape


def save_model(model, path, shared):
    """Write model; tensors identical to the shared table's go to external data."""
    import onnx
    m = model
    if shared is not None:
        table, location = shared
        m = copy.deepcopy(model)
        for t in m.graph.initializer:
            ent = table.get(t.name)
            if ent is None or not t.HasField("raw_data") or hashlib.sha1(t.raw_data).hexdigest() != ent[2]:
                continue
            t.ClearField("raw_data")
            t.data_location = onnx.TensorProto.EXTERNAL
            del t.external_data[:]
            for k, v in (("location", location), ("offset", str(ent[0])), ("length", str(ent[1]))):
                e = t.external_data.add()
                e.key, e.value = k, v
    tmp = path + ".tmp"
    with open(tmp, "wb") as f:
        f.write(m.SerializeToString())
    os.replace(tmp, path)
    onnx.checker.check_model(path)


def write_shared_weights(model, path):
    """All initializers >= SHARE_MIN_TENSOR_BYTES as raw data in one file; returns name -> (offset, length, sha1)."""
    from onnx import numpy_helper
    table = {}
    tmp = path + ".tmp"
    with open(tmp, "wb") as f:
        off = 0
        for t in model.graph.initializer:
            raw = t.raw_data if t.HasField("raw_data") else numpy_helper.from_array(
                numpy_helper.to_array(t), t.name).raw_data
            if len(raw) < SHARE_MIN_TENSOR_BYTES:
                continue
            pad = (-off) % EXT_ALIGN
            f.write(b"\0" * pad)
            off += pad
            f.write(raw)
            table[t.name] = (off, len(raw), hashlib.sha1(raw).hexdigest())
            off += len(raw)
    os.replace(tmp, path)
    return table


def ensure_raw(model):
    """Store every initializer's data as raw_data (what external data needs)."""
    from onnx import numpy_helper
    for t in model.graph.initializer:
        if not t.HasField("raw_data"):
            t.CopyFrom(numpy_helper.from_array(numpy_helper.to_array(t), t.name))


def compare(y_src, y_tgt):
    import numpy as np
    diff = float(np.max(np.abs(y_src.astype(np.float64) - y_tgt.astype(np.float64))))
    ref = float(np.max(np.abs(y_src)))
    top_s = y_src.reshape(len(y_src), -1).argmax(1)
    top_t = y_tgt.reshape(len(y_tgt), -1).argmax(1)
    ndiff = int((top_s != top_t).sum())
    return dict(ort_label_discrepancy=round(ndiff / len(y_src), 6), ort_labels_differing=ndiff,
                ort_max_abs_diff=diff, ort_rel_max_abs_diff=diff / ref if ref else float("inf"),
                ort_rows_differing=[int(i) for i in (top_s != top_t).nonzero()[0]])


def op_differences(a, b):
    """{op: [count in a, count in b]} for the op types whose counts differ."""
    ca = collections.Counter(n.op_type for n in a.graph.node)
    cb = collections.Counter(n.op_type for n in b.graph.node)
    return {op: [ca[op], cb[op]] for op in sorted(set(ca) | set(cb)) if ca[op] != cb[op]}


def good(cmp):
    """A placement is kept at once when it moves the logits and flips at least one label."""
    return cmp["ort_rel_max_abs_diff"] > REL_DIFF_MIN and cmp["ort_labels_differing"] > 0


def run_ort(path, x):
    sess = ort_run.make_session(path, threads=1, opt="all")
    return ort_run.run(sess, x)[0][1]


def build_arch(arch, out_dir, x, seed, share_above_mb, variants, n_faults, log):
    """Every requested variant of one architecture; returns (info, cases, dropped, not_applicable)."""
    import onnx
    import torch

    t_arch = time.time()
    plan = dict(GENERIC_PLAN, **ARCH_PLAN.get(arch, {}))
    arch_dir = os.path.join(out_dir, arch)
    if os.path.isdir(arch_dir):
        shutil.rmtree(arch_dir)
    os.makedirs(arch_dir)
    src_opset = et.MODEL_OPSETS[arch]
    tgt_opset = plan.get("target_opset") or src_opset
    bases = {}

    def get_base(init):
        """Source ModelProto (BN kept) and raw folded target of one initialisation, made once."""
        if init not in bases:
            t0 = time.time()
            if init == "calibrated":
                export_source(arch, arch_dir, seed)
                source = onnx.load(os.path.join(arch_dir, "source.onnx"))
                raw = export_folded(arch, seed, tgt_opset)
            else:
                model = torch_model(arch, seed, init)
                source = torch_export(model, arch, src_opset, torch.onnx.TrainingMode.PRESERVE)
                n_bn = sum(isinstance(m, torch.nn.modules.batchnorm._BatchNorm) for m in model.modules())
                got = sum(n.op_type == "BatchNormalization" for n in source.graph.node)
                if got != n_bn:
                    raise RuntimeError("%s/%s: %d BatchNorm layers but %d BatchNormalization nodes"
                                       % (arch, init, n_bn, got))
                raw = export_folded(arch, seed, tgt_opset, model=model)
            bases[init] = dict(source=source, raw=raw)
            log("[%s] exported (%s init): source %d nodes (%d Identity), folded target %d nodes  %.1fs" % (
                arch, init, len(source.graph.node), sum(n.op_type == "Identity" for n in source.graph.node),
                len(raw.graph.node), time.time() - t0))
        return bases[init]

    info = collections.OrderedDict([("source_opset", src_opset), ("target_opset", tgt_opset),
                                    ("variants", collections.OrderedDict())])
    cases, dropped, not_applicable = [], [], []
    y_cache = {}
    ok_kinds = None  # kinds that made a case in "calibrated": tried first by the other variants
    for variant in variants:
        spec = VARIANTS[variant]
        t0 = time.time()
        try:
            vinfo, c, d, n = build_variant(arch, variant, spec, out_dir, arch_dir, x, seed, plan,
                                           src_opset, tgt_opset, get_base, y_cache, share_above_mb,
                                           n_faults, ok_kinds, log)
        except VariantFailed as e:
            not_applicable.append(dict(case="%s/%s" % (arch, variant), variant=variant, reason=str(e)))
            log("[%s] variant %s not applicable: %s" % (arch, variant, e))
            if variant != "calibrated":
                shutil.rmtree(os.path.join(arch_dir, variant), ignore_errors=True)
            continue
        vinfo["seconds"] = round(time.time() - t0, 1)
        info["variants"][variant] = vinfo
        if variant == "calibrated":  # the original per-architecture facts, where they were
            for k, v in vinfo.items():
                if k not in ("seconds",):
                    info.setdefault(k, v)
        if variant == "calibrated":
            ok_kinds = {x["fault"] for x in c}
        cases += c
        dropped += d
        not_applicable += n
    info["seconds"] = round(time.time() - t_arch, 1)
    info["bytes"] = sum(os.path.getsize(p) for p in glob.glob(os.path.join(arch_dir, "**"), recursive=True)
                        if os.path.isfile(p))
    return info, cases, dropped, not_applicable


def build_variant(arch, variant, spec, out_dir, arch_dir, x, seed, plan, src_opset, tgt_opset,
                  get_base, y_cache, share_above_mb, n_faults, ok_kinds, log):
    rel = lambda p: os.path.relpath(p, out_dir)  # noqa: E731
    calibrated = variant == "calibrated"
    vdir = arch_dir if calibrated else os.path.join(arch_dir, variant)
    os.makedirs(vdir, exist_ok=True)
    tag = arch if calibrated else "%s/%s" % (arch, variant)
    cid_of = (lambda k: "%s/%s" % (arch, k)) if calibrated else (lambda k: "%s/%s/%s" % (arch, variant, k))
    base = get_base(spec["init"])
    source = base["source"]

    # source
    t0 = time.time()
    store = spec.get("source_store")
    if spec["init"] == "calibrated" and not store:
        src_path = os.path.join(arch_dir, "source.onnx")
    else:
        src_path = os.path.join(vdir, "source.onnx")
        sm = copy.deepcopy(source)
        ensure_raw(sm)
        sshared = None
        if store == "fp16":
            k = store_fp16(sm)
            if not k:
                raise VariantFailed("no source tensor is representable in float16")
        elif store == "external":
            sshared = (write_shared_weights(sm, os.path.join(vdir, "source.weights.bin")), "source.weights.bin")
        save_model(sm, src_path, sshared)
    if src_path not in y_cache:
        y_cache[src_path] = run_ort(src_path, x)
    y_src = y_cache[src_path]
    if not calibrated or store:
        log("[%s] %s: %s  %.1fs" % (tag, rel(src_path), store or "initializers", time.time() - t0))

    # clean target, pre-rename
    t0 = time.time()
    g = G(copy.deepcopy(base["raw"]))
    origin = {}
    transforms = ["batchnorm_folded", "renamed"]
    if tgt_opset != src_opset:
        transforms.append("opset_%d_to_%d" % (src_opset, tgt_opset))
    if plan.get("constants_to_initializers"):
        k = constants_to_initializers(g)
        if k:
            transforms.append("constants_to_initializers(%d)" % k)
    shapes = probe_shapes(g.model)
    if plan.get("flatten_to_reshape"):
        k = flatten_to_reshape(g, shapes)
        if k:
            transforms.append("flatten_to_reshape(%d)" % k)
    if plan.get("gemm_to_matmul"):
        k = gemm_to_matmul(g, origin)
        if k:
            transforms.append("gemm_to_matmul_add(%d)" % k)
    ensure_raw(g.model)
    clean = g.model
    tool_info = None
    if spec.get("tool"):
        before = clean
        clean = apply_tool(before, spec)
        name_nodes_and_trace(before, clean, origin)
        ensure_raw(clean)
        tool_info = collections.OrderedDict([
            ("tool", spec["tool"] if spec["tool"] != "opset" else "onnx.version_converter"),
            ("nodes_before", len(before.graph.node)), ("nodes_after", len(clean.graph.node)),
            ("op_count_differences", op_differences(before, clean)),
            ("domains", sorted({n.domain or "ai.onnx" for n in clean.graph.node}))])
        transforms.append({"onnxsim": "onnxsim", "ort_basic": "ort_basic_optimized",
                           "ort_extended": "ort_extended_optimized"}.get(
            spec["tool"], "version_converted_to_%d" % spec.get("opset", 0)))
    try:
        shapes = probe_shapes(clean)
    except Exception as e:
        raise VariantFailed("onnxruntime cannot run the clean target: %s" % str(e).splitlines()[0][:200])
    ctx = Ctx(source, origin, shapes, x[:1])
    ctx.expected_out_shape = [1] + list(y_src.shape[1:])
    renamer = Renamer(random.Random("%d:%s:rename" % (seed, arch))).build(clean)
    tstore = spec.get("target_store")

    def stored(named):
        """The renamed model as the variant stores it (constant nodes, float16 + Cast)."""
        if tstore == "constant":
            store_constant_nodes(named)
        elif tstore == "fp16":
            store_fp16(named)
        return named

    shared = None
    clean_named = stored(renamer.apply(copy.deepcopy(clean)))
    size_mb = clean_named.ByteSize() / 1e6
    if tstore == "external" or (tstore != "constant" and share_above_mb is not None
                                and size_mb > share_above_mb):
        bin_path = os.path.join(vdir, "target.weights.bin")
        shared = (write_shared_weights(clean_named, bin_path), "target.weights.bin")
    clean_path = os.path.join(vdir, "target_clean.onnx")
    save_model(clean_named, clean_path, shared)
    try:
        y = run_ort(clean_path, x)
    except Exception as e:
        raise VariantFailed("onnxruntime cannot run the stored clean target: %s" % str(e).splitlines()[0][:200])
    cmp = compare(y_src, y)
    log("[%s] target_clean.onnx: opset %s, %s%s  max|d| %.3g (rel %.2g), labels %d/%d  %.1fs" % (
        tag, model_opset(clean_named), ", ".join(str(t) for t in transforms),
        ((", store " + tstore) if tstore else "") + (", external data" if shared else ""),
        cmp["ort_max_abs_diff"], cmp["ort_rel_max_abs_diff"], cmp["ort_labels_differing"], len(x),
        time.time() - t0))
    if cmp["ort_rel_max_abs_diff"] > 1e-4:
        msg = ("%s: clean target differs from the source under onnxruntime by %.3g (rel %.3g, %d labels)"
               % (tag, cmp["ort_max_abs_diff"], cmp["ort_rel_max_abs_diff"], cmp["ort_labels_differing"]))
        if spec.get("tool"):
            raise VariantFailed(msg + ": the tool changed the function")
        raise RuntimeError(msg)
    vinfo = collections.OrderedDict([
        ("source", rel(src_path)), ("source_opset", src_opset), ("source_store", store or "initializers"),
        ("source_nodes", len(source.graph.node)),
        ("source_op_counts", dict(sorted(collections.Counter(n.op_type for n in source.graph.node).items()))),
        ("target_clean", rel(clean_path)), ("target_opset", model_opset(clean_named)),
        ("target_store", tstore or "initializers"),
        ("target_transforms", transforms),
        ("op_count_differences", op_differences(source, clean_named)),
        ("target_nodes", len(clean_named.graph.node)),
        ("target_op_counts", dict(sorted(collections.Counter(n.op_type for n in clean_named.graph.node).items()))),
        ("target_input", clean_named.graph.input[0].name),
        ("target_output", clean_named.graph.output[0].name),
        ("target_external_data", rel(os.path.join(vdir, "target.weights.bin")) if shared else None),
    ])
    if tool_info:
        vinfo["tool"] = tool_info
    cases = [collections.OrderedDict([
        ("case", cid_of("clean")), ("arch", arch), ("variant", variant), ("fault", "none"),
        ("source", rel(src_path)), ("target", rel(clean_path)), ("equivalent", True),
        ("faulty_target_nodes", []), ("faulty_source_nodes", []),
        ("description", "BatchNorm folded into the convolutions, every name changed, %s: the "
                        "same function as the source" % ", ".join(
                            [str(t) for t in transforms[2:]] + ([tstore + " storage"] if tstore else [])
                            or ["nothing else"])),
    ] + list(cmp.items()))]
    dropped, not_applicable = [], []

    kinds = list(FAULTS)
    limit = None
    if n_faults is not None and not calibrated:
        random.Random("%d:%s:%s:pick" % (seed, arch, variant)).shuffle(kinds)
        if ok_kinds is not None:  # skip kinds the calibrated variant found not applicable/dropped
            kinds.sort(key=lambda k: k not in ok_kinds)
        limit = n_faults
    made = 0
    for kind in kinds:
        if limit is not None and made >= limit:
            break
        fn = FAULTS[kind]
        t0 = time.time()
        cid = cid_of(kind)
        path = os.path.join(vdir, kind + ".onnx")
        # Attempts: the k-th seeded candidate layer, k < MAX_ATTEMPTS; for
        # weights_fp16 all float16 attempts come before the bfloat16 ones.
        plan_modes = ["float16", "bfloat16"] if kind == "weights_fp16" else [None]
        tried = []  # (named model, result, target names, comparison, mode, attempt)
        na_reason = None
        err = None
        for mode in plan_modes:
            for attempt in range(MAX_ATTEMPTS_BY_KIND.get(kind, MAX_ATTEMPTS)):
                ctx.attempt = attempt
                m = copy.deepcopy(clean)
                fg = G(m)
                rng = random.Random("%d:%s:%s" % (seed, arch, kind))
                try:
                    r = fn(fg, ctx, rng) if mode is None else fn(fg, ctx, rng, mode=mode)
                except NotApplicable as e:
                    na_reason = str(e)
                    break
                except NoMoreCandidates:
                    break
                except Exception as e:  # a tool's graph the fault code does not understand
                    if calibrated:
                        raise
                    err = "%s: %s" % (type(e).__name__, e)
                    break
                ensure_raw(m)
                rn = Renamer(random.Random("%d:%s:%s:rename" % (seed, arch, kind)), base=renamer).build(m)
                tgt_names = [rn.nodes[nm] for nm in r["target"]]
                named = stored(rn.apply(m))
                save_model(named, path, shared)
                cmp = compare(y_src, run_ort(path, x))
                tried.append((named, r, tgt_names, cmp, mode, attempt))
                if good(cmp):
                    break
                log("[%s] %-26s %s%s: %d labels flipped, max|d| %.3g (rel %.2g)%s" % (
                    tag, kind, r["source"][0], " " + mode if mode else "",
                    cmp["ort_labels_differing"], cmp["ort_max_abs_diff"], cmp["ort_rel_max_abs_diff"],
                    "" if kind == "extra_softmax" else "; trying another placement"))
            if na_reason or err or (tried and good(tried[-1][3])):
                break
        if na_reason:
            not_applicable.append(dict(case=cid, variant=variant, reason=na_reason))
            log("[%s] %-26s not applicable: %s" % (tag, kind, na_reason))
            continue
        moving = [t for t in tried if t[3]["ort_rel_max_abs_diff"] > REL_DIFF_MIN]
        chosen = ([t for t in moving if good(t[3])] or moving or [None])[0]
        if chosen is None or err:
            if os.path.exists(path):
                os.remove(path)
            if err:
                reason = "fault injection failed on this variant's graph: %s" % err
            else:
                best = max(t[3]["ort_rel_max_abs_diff"] for t in tried)
                reason = ("max|d| <= %g * max|source logits| on every one of %d tried placements "
                          "(largest: %.3g relative): the fault does not change the outputs"
                          % (REL_DIFF_MIN, len(tried), best))
            dropped.append(dict(case=cid, variant=variant, reason=reason))
            log("[%s] %-26s DROPPED: %s" % (tag, kind, reason))
            continue
        named, r, tgt_names, cmp, mode, attempt = chosen
        if chosen is not tried[-1]:
            save_model(named, path, shared)
        details = dict(r.get("details", {}))
        fvariant = mode or details.pop("variant", None)
        details["attempt"] = attempt
        details["placements_tried"] = len(tried)
        case = collections.OrderedDict([
            ("case", cid), ("arch", arch), ("variant", variant), ("fault", kind),
            ("source", rel(src_path)), ("target", rel(path)), ("equivalent", False),
            ("faulty_target_nodes", tgt_names), ("faulty_source_nodes", r["source"]),
            ("description", r["description"]),
        ])
        if fvariant:
            case["fault_variant"] = fvariant
        case["details"] = details
        case["label_changing"] = cmp["ort_labels_differing"] > 0
        case.update(cmp)
        cases.append(case)
        made += 1
        log("[%s] %-26s labels %2d/%d (%5.1f%%)  max|d| %9.4g (rel %.2g)  %s  %.1fs" % (
            tag, kind + ("/" + fvariant if fvariant else ""),
            cmp["ort_labels_differing"], len(x), 100 * cmp["ort_label_discrepancy"],
            cmp["ort_max_abs_diff"], cmp["ort_rel_max_abs_diff"], ",".join(r["source"]),
            time.time() - t0))
    return vinfo, cases, dropped, not_applicable


# ---------------------------------------------------------------------------
# main
# ---------------------------------------------------------------------------

def arch_job(work):
    """Build one architecture (in a worker process when --jobs > 1); an error becomes a string."""
    import numpy as np
    import torch
    arch, out_dir, seed, share_above, jobs, variants, n_faults = work
    # One torch thread whatever --jobs is: BatchNorm calibration sums in an
    # order that depends on the thread count, and the bytes must not.
    torch.set_num_threads(1)

    def log(msg):
        print(msg, flush=True)

    try:
        x = np.load(os.path.join(out_dir, "inputs.npy"))
        info, c, d, n = build_arch(arch, out_dir, x, seed, share_above, variants, n_faults, log)
    except Exception as e:
        import traceback
        traceback.print_exc()
        log("[%s] FAILED: %s: %s" % (arch, type(e).__name__, e))
        return "%s: %s" % (type(e).__name__, e)
    log("[%s] done: %d cases, %.1f MB, %.1fs" % (arch, len(c), info["bytes"] / 1e6, info["seconds"]))
    return info, c, d, n


def parse_args(argv):
    p = argparse.ArgumentParser(
        description="Generate the fault-localization benchmark for `nndiff localize`: per "
                    "architecture a source model (BatchNorm kept), an equivalent converted-looking "
                    "target (BN folded, renamed, ...) and targets with exactly one injected fault, "
                    "plus inputs.npy and manifest.json (ground truth, onnxruntime label "
                    "discrepancy). See docs/FAULT_BENCHMARK.md.",
        epilog="Fault kinds: " + ", ".join(FAULTS) + ". Default archs: " + ",".join(DEFAULT_ARCHS)
               + ". The default set takes about 1.5 CPU-minutes (about 1 minute on 2 idle "
                 "cores) and about 480 MB.")
    p.add_argument("--out", help="output directory (created if missing)")
    p.add_argument("--archs", default=None,
                   help="comma-separated torchvision architectures (224x224 ones from "
                        "export_torchvision.py --list); default %s" % ",".join(DEFAULT_ARCHS))
    p.add_argument("--variants", default=None,
                   help="comma-separated variants (see --list-variants) or 'all' (default: the CI "
                        "set %s; --full: all)" % ",".join(CI_VARIANTS))
    p.add_argument("--faults-per-variant", default=None, metavar="N|all",
                   help="faulty cases per architecture in each variant other than 'calibrated' "
                        "(which always gets every fault kind), drawn by a seeded shuffle of the "
                        "kinds (default %d; --full: all)" % CI_FAULTS_PER_VARIANT)
    p.add_argument("--full", action="store_true",
                   help="the full set: archs %s, every variant, every fault kind (long: see "
                        "docs/FAULT_BENCHMARK.md)" % ",".join(FULL_ARCHS))
    p.add_argument("--list-variants", action="store_true", help="print the variants and exit")
    p.add_argument("--quick", action="store_true", help="16 benchmark inputs instead of 32")
    p.add_argument("--n", type=int, default=None, help="number of benchmark inputs (default 32, --quick 16)")
    p.add_argument("--seed", type=int, default=0, help="seed for weights and fault placement (default 0)")
    p.add_argument("--images", default=None,
                   help="directory of JPEG/PNG photos to use instead of scikit-image's bundled ones")
    p.add_argument("--share-weights-above", type=float, default=12.0, metavar="MB",
                   help="targets of an architecture whose clean target is larger than MB share one "
                        "external-data file target.weights.bin (default 12: resnet18, mobilenet_v2); "
                        "a negative value turns sharing off")
    p.add_argument("--jobs", type=int, default=min(2, os.cpu_count() or 1),
                   help="architectures built in parallel worker processes (default: min(2, CPUs)); "
                        "the output does not depend on it")
    p.add_argument("--force", action="store_true", help="regenerate even if up to date")
    p.add_argument("--list-faults", action="store_true", help="print the fault kinds and exit")
    args = p.parse_args(argv)
    if args.list_faults or args.list_variants:
        return args
    if not args.out:
        p.error("--out is required")
    if args.archs is None:
        args.archs = ",".join(FULL_ARCHS if args.full else DEFAULT_ARCHS)
    args.arch_list = [a.strip() for a in args.archs.split(",") if a.strip()]
    if args.variants is None:
        args.variants = "all" if args.full else ",".join(CI_VARIANTS)
    args.variant_list = list(VARIANTS) if args.variants == "all" else \
        [v.strip() for v in args.variants.split(",") if v.strip()]
    badv = [v for v in args.variant_list if v not in VARIANTS]
    if badv:
        p.error("unknown variant(s): %s (see --list-variants)" % ", ".join(badv))
    fpv = args.faults_per_variant
    if fpv is None:
        fpv = "all" if args.full else str(CI_FAULTS_PER_VARIANT)
    if fpv == "all":
        args.n_faults = None
    else:
        try:
            args.n_faults = int(fpv)
        except ValueError:
            p.error("--faults-per-variant takes a number or 'all'")
        if args.n_faults < 0:
            p.error("--faults-per-variant must be >= 0")
    bad = [a for a in args.arch_list if a not in et.MODEL_OPSETS or et.input_size(a) != 224]
    if bad:
        p.error("unsupported architecture(s): %s (224x224 models of export_torchvision.py --list)"
                % ", ".join(bad))
    if not args.arch_list:
        p.error("no architectures given")
    if args.n is None:
        args.n = 16 if args.quick else 32
    if args.n < 1:
        p.error("--n must be >= 1")
    if args.share_weights_above < 0:
        args.share_weights_above = None
    return args


def config_of(args):
    return collections.OrderedDict([
        ("archs", args.arch_list), ("n_inputs", args.n), ("seed", args.seed),
        ("images", os.path.abspath(args.images) if args.images else None),
        ("share_weights_above_mb", args.share_weights_above),
        ("variants", args.variant_list),
        ("faults_per_variant", "all" if args.n_faults is None else args.n_faults),
    ])


def up_to_date(out_dir, config):
    path = os.path.join(out_dir, "manifest.json")
    try:
        if os.path.getmtime(path) <= os.path.getmtime(os.path.abspath(__file__)):
            return False
        with open(path) as f:
            man = json.load(f)
    except (OSError, ValueError):
        return False
    if man.get("config") != json.loads(json.dumps(config)):
        return False
    return all(os.path.isfile(os.path.join(out_dir, c["target"])) for c in man.get("cases", []))


def main(argv=None):
    args = parse_args(argv)
    if args.list_faults:
        for k in FAULTS:
            print("%-26s %s" % (k, FAULT_SUMMARY[k]))
        return 0
    if args.list_variants:
        for k, v in VARIANTS.items():
            print("%-18s %s%s" % (k, v["doc"], "  (default set)" if k in CI_VARIANTS else ""))
        return 0
    try:
        import numpy as np
        import torch
        import onnx  # noqa: F401
        import onnxruntime  # noqa: F401
    except ImportError as e:
        print("make_fault_benchmark: error: %s\n  run tools/setup_venv.sh and use .venv/bin/python"
              % e, file=sys.stderr)
        return 2

    config = config_of(args)
    if not args.force and up_to_date(args.out, config):
        print("make_fault_benchmark: %s is up to date (manifest.json newer than the script, "
              "same options); --force to redo" % args.out)
        return 0
    os.makedirs(args.out, exist_ok=True)
    man_path = os.path.join(args.out, "manifest.json")
    if os.path.exists(man_path):
        os.remove(man_path)  # a half-regenerated DIR must not look up to date
    for d in sorted(os.listdir(args.out)):  # architectures of an earlier run with other --archs
        if d in et.MODEL_OPSETS and d not in args.arch_list and \
                os.path.isfile(os.path.join(args.out, d, "source.onnx")):
            shutil.rmtree(os.path.join(args.out, d))

    def log(msg):
        print(msg, flush=True)

    t_all = time.time()
    x, prov, image_dir = make_inputs(args.n, args.images)
    np.save(os.path.join(args.out, "inputs.npy"), x)
    log("inputs.npy: %s from %d images in %s  %.1fs" % (
        list(x.shape), len({p["image"] for p in prov}), image_dir, time.time() - t_all))

    archs, cases, dropped, na = collections.OrderedDict(), [], [], []
    failed = []
    jobs = max(1, min(args.jobs, len(args.arch_list)))
    work = [(arch, args.out, args.seed, args.share_weights_above, jobs, args.variant_list, args.n_faults)
            for arch in args.arch_list]
    if jobs == 1:
        results = [arch_job(w) for w in work]
    else:
        import concurrent.futures
        import multiprocessing
        with concurrent.futures.ProcessPoolExecutor(
                max_workers=jobs, mp_context=multiprocessing.get_context("spawn")) as ex:
            results = list(ex.map(arch_job, work))
    for arch, res in zip(args.arch_list, results):
        if isinstance(res, str):
            failed.append(arch)
            continue
        info, c, d, n = res
        archs[arch] = info
        cases += c
        dropped += d
        na += n
    if failed:
        print("make_fault_benchmark: error: failed: %s" % ", ".join(failed), file=sys.stderr)
        return 1

    manifest = collections.OrderedDict([
        ("format_version", FORMAT_VERSION),
        ("generator", "tools/make_fault_benchmark.py"),
        ("config", config),
        ("versions", dict(torch=torch.__version__, onnx=onnx.__version__,
                          onnxruntime=onnxruntime.__version__, numpy=np.__version__)),
        ("ground_truth", "equivalent: the target computes the source's function (clean: BN "
                         "folding, renaming and converter rewrites only). faulty_*_nodes: the "
                         "node(s) carrying the single injected fault, by name in the target / "
                         "source file; a folded conv is listed with its BatchNormalization node "
                         "(conv first); inserted nodes are listed with the node they feed."),
        ("placement", "seeded choice among mid-network candidates; retried (up to 3 placements, "
                      "weights_fp16 5 per rounding mode) until the fault moves the logits by more "
                      "than %g relative and flips >= 1 top-1 label, else the first placement "
                      "that moves the logits, else dropped" % REL_DIFF_MIN),
        ("ort", "onnxruntime %s CPU, 1 thread, ORT_ENABLE_ALL (tools/ort_run.py); "
                "ort_label_discrepancy = fraction of inputs whose top-1 differs from the source's"
                % onnxruntime.__version__),
        ("inputs", collections.OrderedDict([
            ("path", "inputs.npy"), ("shape", list(x.shape)), ("dtype", "float32"),
            ("preprocessing", "torchvision: RGB, Resize(256 or 320 for 'zoom') bilinear, "
                              "CenterCrop(224), ToTensor, Normalize(mean=%s, std=%s)"
                              % (IMAGENET_MEAN, IMAGENET_STD)),
            ("image_dir", image_dir), ("rows", prov)])),
        ("archs", archs),
        ("fault_kinds", list(FAULTS)),
        ("variants", collections.OrderedDict(
            (v, collections.OrderedDict(VARIANTS[v].items()))
            for v in args.variant_list)),
        ("cases", cases),
        ("dropped", dropped),
        ("not_applicable", na),
        ("seconds", round(time.time() - t_all, 1)),
    ])
    tmp = man_path + ".tmp"
    with open(tmp, "w") as f:
        json.dump(manifest, f, indent=1)
        f.write("\n")
    os.replace(tmp, man_path)
    total = sum(a["bytes"] for a in archs.values()) + os.path.getsize(os.path.join(args.out, "inputs.npy"))
    n_faulty = sum(not c["equivalent"] for c in cases)
    log("done in %.1fs: %d cases (%d equivalent, %d faulty), %d dropped, %d not applicable, %.1f MB in %s" % (
        time.time() - t_all, len(cases), len(cases) - n_faulty, n_faulty, len(dropped), len(na),
        total / 1e6, args.out))
    return 0


if __name__ == "__main__":
    sys.exit(main())
