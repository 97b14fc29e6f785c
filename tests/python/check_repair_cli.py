"""`nndiff repair` on the bundled SqueezeNet: what it fixes, what it cannot
fix, and its usage errors.

Targets are made here with the onnx package from examples/squeezenet1_1.onnx:
  * fixable: the first convolution's input channels reversed -> exit 0
    with one edit;
  * a Fire module's Concat inputs swapped -> exit 0 (two SET_INPUT edits);
  * two faults, the fixable one and one outside any aligned layer (a Fire
    module computed another way, below) -> exit 1, an honest `left`, and
    never worse than the target on the verification inputs;
  * a subgraph replaced wholesale (a Fire module's expand convolutions and
    Concat by one 3x3 convolution of other weights) -> exit 1; with -o and
    one edit allowed, the file written (if any) is complete, passes the
    checker and in ONNX Runtime is no worse than the target, as repair
    measured it; no temporary file is left.
The discrepancy repair reports for the target before any edit is checked
against ONNX Runtime on the same verification rows (an independent oracle
of what repair measures). Usage: exit 2 for a missing --data, an existing
-o without --force, -o naming the target, a bad --verify-split, fewer than
2 inputs.

Usage: check_repair_cli.py NNDIFF MODEL
"""
import json
import os
import subprocess
import sys
import tempfile

import numpy as np
import onnx
import onnxruntime as ort
from onnx import helper, numpy_helper

FAILS = []


def check(cond, what):
    print(("ok   " if cond else "FAIL ") + what)
    if not cond:
        FAILS.append(what)


def repair(nndiff, src, tgt, data, *extra):
    p = subprocess.run([nndiff, "repair", src, tgt, "--data", data] + list(extra),
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    return p


def ort_labels(path, x):
    so = ort.SessionOptions()
    so.intra_op_num_threads = 1
    s = ort.InferenceSession(path, so, providers=["CPUExecutionProvider"])
    name = s.get_inputs()[0].name
    return np.array([s.run(None, {name: x[i:i + 1]})[0].reshape(-1).argmax() for i in range(len(x))])


PHOTOS = "/usr/lib/python3/dist-packages/skimage/data"
NAMES = ["astronaut.png", "chelsea.png", "coffee.png", "rocket.jpg", "motorcycle_left.png",
         "hubble_deep_field.jpg", "retina.jpg", "ihc.png", "camera.png", "coins.png", "brick.png",
         "gravel.png"]


def photos():
    """Real photos, each as is and mirrored, preprocessed the torchvision way
    (Resize(256) bilinear, CenterCrop(224), ImageNet mean/std): random noise
    gives every input the same label and hides what a fault does."""
    try:
        from PIL import Image, ImageOps
    except ImportError:
        return None
    out = []
    for flip in (False, True):
        for n in NAMES:
            path = os.path.join(PHOTOS, n)
            if not os.path.exists(path):
                return None
            im = Image.open(path).convert("RGB")
            if flip:
                im = ImageOps.mirror(im)
            w, h = im.size
            s = 256 / min(w, h)
            im = im.resize((max(224, round(w * s)), max(224, round(h * s))), Image.BILINEAR)
            w, h = im.size
            l, t = (w - 224) // 2, (h - 224) // 2
            a = np.asarray(im.crop((l, t, l + 224, t + 224)), dtype=np.float32) / 255.0
            a = (a - [0.485, 0.456, 0.406]) / [0.229, 0.224, 0.225]
            out.append(a.transpose(2, 0, 1))
    return np.stack(out).astype(np.float32)


def init(m, name):
    for t in m.graph.initializer:
        if t.name == name:
            return t
    raise KeyError(name)


def reverse_input_channels(m):
    """RGB read as BGR: the first convolution's input channels reversed."""
    conv = [n for n in m.graph.node if n.op_type == "Conv"][0]
    t = init(m, conv.input[1])
    t.CopyFrom(numpy_helper.from_array(numpy_helper.to_array(t)[:, ::-1].copy(), t.name))


def swap_concat(m, k):
    cat = [n for n in m.graph.node if n.op_type == "Concat"][k]
    a, b = cat.input[0], cat.input[1]
    cat.input[0], cat.input[1] = b, a


def replace_fire_expand(m, k):
    """The expand convolutions, their Relus and the Concat of Fire module k
    become one 3x3 convolution with other weights, then a Relu."""
    g = m.graph
    cat = [n for n in g.node if n.op_type == "Concat"][k]
    ins = set(cat.input)
    relus = [n for n in g.node if n.output[0] in ins]
    convs = [n for n in g.node if any(n.output[0] == r.input[0] for r in relus)]
    squeeze_out = convs[0].input[0]
    c_in = numpy_helper.to_array(init(m, convs[0].input[1])).shape[1]
    c_out = sum(numpy_helper.to_array(init(m, c.input[1])).shape[0] for c in convs)
    rng = np.random.RandomState(1)
    w = (rng.randn(c_out, c_in, 3, 3) * np.sqrt(2.0 / (9 * c_in))).astype(np.float32)
    g.initializer.append(numpy_helper.from_array(w, "wholesale.weight"))
    new = [helper.make_node("Conv", [squeeze_out, "wholesale.weight"], ["wholesale_conv"],
                            name="wholesale/Conv", pads=[1, 1, 1, 1]),
           helper.make_node("Relu", ["wholesale_conv"], [cat.output[0]], name="wholesale/Relu")]
    drop = set(id(n) for n in convs + relus + [cat])
    at = min(i for i, n in enumerate(g.node) if id(n) in drop)
    kept = [n for n in g.node if id(n) not in drop]
    del g.node[:]
    g.node.extend(kept[:at] + new + kept[at:])


def make(model, tmp, name, *faults):
    m = onnx.load(model)
    for f in faults:
        f(m)
    onnx.checker.check_model(m, full_check=True)
    path = os.path.join(tmp, name + ".onnx")
    onnx.save(m, path)
    return path


def main(argv):
    if len(argv) != 2:
        print(__doc__)
        return 2
    nndiff, model = argv
    with tempfile.TemporaryDirectory() as tmp:
        x = photos()
        if x is None:
            print("skipped: no photos (scikit-image's data folder)")
            return 77
        data = os.path.join(tmp, "x.npy")
        np.save(data, x)
        src_labels = ort_labels(model, x)

        def run_case(name, tgt, *extra):
            js = os.path.join(tmp, name + ".json")
            p = repair(nndiff, model, tgt, data, "--json", js, *extra)
            res = json.load(open(js)) if os.path.exists(js) else None
            if res:
                rows = res["split"]["verification"]
                ort_diff = int(np.sum(ort_labels(tgt, x[rows]) != src_labels[rows]))
                check(res["before"]["verification"]["labels_differing"] == ort_diff,
                      "%s: labels differing before repair, %d, as ONNX Runtime counts (%d)" %
                      (name, res["before"]["verification"]["labels_differing"], ort_diff))
                check(res["after"]["verification"]["labels_differing"] <=
                      res["before"]["verification"]["labels_differing"],
                      "%s: never worse than the target on the verification inputs" % name)
            return p, res

        fixable = make(model, tmp, "channels_reversed", reverse_input_channels)
        p, res = run_case("fixable", fixable, "--dry-run")
        check(p.returncode == 0, "fixable: exit 0 (got %d: %s)" % (p.returncode, p.stderr.strip()))
        check(res and len(res["edits"]) == 1 and res["edits"][0]["field"] == "weights",
              "fixable: one edit, the first convolution's weights")
        check(res and res["matches"] and res["after"]["verification"]["labels_differing"] == 0,
              "fixable: no label differs after the repair")
        check(res and res["before"]["verification"]["labels_differing"] > 0,
              "fixable: the fault changes labels (the test can fail)")

        swapped = make(model, tmp, "concat_swapped", lambda m: swap_concat(m, 0))
        p, res = run_case("concat_swapped", swapped, "--dry-run")
        check(p.returncode == 0 and res and res["matches"] and
              [e["kind"] for e in res["edits"]] == ["set_input", "set_input"],
              "concat swapped: exit 0 with the two operands put back (got %d)" % p.returncode)

        two = make(model, tmp, "two_faults", reverse_input_channels,
                   lambda m: replace_fire_expand(m, 2))
        p, res = run_case("two_faults", two, "--dry-run")
        check(p.returncode == 1, "two faults: exit 1 (got %d: %s)" % (p.returncode, p.stderr.strip()))
        check(res and not res["matches"] and res["left"], "two faults: says what is left")
        check(res and res["before"]["verification"]["labels_differing"] > 0,
              "two faults: the target changes labels")

        whole = make(model, tmp, "wholesale", lambda m: replace_fire_expand(m, 1))
        out = os.path.join(tmp, "wholesale_fixed.onnx")
        p, res = run_case("wholesale", whole, "--dry-run")
        check(p.returncode == 1, "wholesale: exit 1 (got %d: %s)" % (p.returncode, p.stderr.strip()))
        check(res and not res["matches"] and res["left"], "wholesale: says what is left")
        # with one edit allowed, repair keeps the edit that helps most and
        # writes it (exit 1: a discrepancy remains); the file, when there is
        # one, is complete: it loads, passes the checker, runs in ONNX
        # Runtime no worse than the target; no temporary file is left
        p, res = run_case("wholesale_o", whole, "--max-edits", "1", "-o", out)
        check(p.returncode == 1, "wholesale -o: exit 1 (got %d: %s)" % (p.returncode, p.stderr.strip()))
        check(not [f for f in os.listdir(tmp) if "nndiff-tmp" in f],
              "wholesale -o: no temporary file left")
        wrote = bool(res and res["edits"] and res["output"])
        check(os.path.exists(out) == wrote,
              "wholesale -o: a model written exactly when an edit is kept and reported (%s)" % wrote)
        if os.path.exists(out) and res:
            onnx.checker.check_model(onnx.load(out), full_check=True)
            rows = res["split"]["verification"]
            after = int(np.sum(ort_labels(out, x[rows]) != src_labels[rows]))
            before = int(np.sum(ort_labels(whole, x[rows]) != src_labels[rows]))
            check(after <= before and after == res["after"]["verification"]["labels_differing"],
                  "wholesale -o: the written model, in ONNX Runtime, no worse than the target "
                  "(%d -> %d labels) and as repair measured it (%d)" %
                  (before, after, res["after"]["verification"]["labels_differing"]))

        # usage
        existing = os.path.join(tmp, "exists.onnx")
        open(existing, "w").write("x")
        for what, args in [("no --data", [nndiff, "repair", model, fixable, "--dry-run"]),
                           ("existing -o without --force",
                            [nndiff, "repair", model, fixable, "--data", data, "-o", existing]),
                           ("-o is the target", [nndiff, "repair", model, fixable, "--data", data,
                                                 "-o", fixable, "--force"]),
                           ("--verify-split 1", [nndiff, "repair", model, fixable, "--data", data,
                                                 "--dry-run", "--verify-split", "1"]),
                           ("one input", [nndiff, "repair", model, fixable, "--data", data,
                                          "--dry-run", "--limit", "1"]),
                           ("no -o and no --dry-run", [nndiff, "repair", model, fixable, "--data", data])]:
            p = subprocess.run(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
            lines = [l for l in p.stderr.splitlines() if l.startswith("nndiff:")]
            check(p.returncode == 2 and len(lines) == 1,
                  "usage: %s: exit 2 with one line (got %d: %s)" % (what, p.returncode, p.stderr.strip()))
        check(open(existing).read() == "x", "usage: the existing file is untouched")
        p = subprocess.run([nndiff, "repair", "--help"], stdout=subprocess.PIPE, text=True)
        check(p.returncode == 0 and "--verify-split" in p.stdout and "minimal" in p.stdout,
              "--help teaches the method and the options")
    return 1 if FAILS else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
