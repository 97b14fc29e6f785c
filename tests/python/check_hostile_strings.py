"""Strings from files never reach the terminal raw, and JSON stays valid.

Builds models whose node names, op types, domains, tensor names, producer
and graph names hold newlines, escape sequences (ESC [ 31 m, OSC title
changes), C1 controls, bidirectional overrides and bytes that are not UTF-8,
saves one under a file name with a 0xff byte, and checks:
  - `inspect` and `inspect --layers`: exit 0, stdout is strict UTF-8 with
    no control byte but newline, no C1 control or bidi override;
  - `inspect --json -` and `--json FILE`: strict UTF-8 that json.loads
    parses, every valid-UTF-8 name round-trips exactly, a bad byte reads
    "\\xHH";
  - error paths (a node without outputs, a tensor defined twice, a missing
    file, a bad option value): exit 2, exactly one stderr line starting with
    "nndiff: ", strict UTF-8, no ESC, with the escapes visible;
  - `run` on an image folder whose file names hold ESC and 0xff bytes: the
    text report and `--json -` are safe the same way.

Usage: check_hostile_strings.py NNDIFF
"""
import json
import os
import subprocess
import sys
import tempfile

try:
    import numpy as np
    import onnx
    from onnx import TensorProto, helper
except ImportError:
    print("skipped: onnx or numpy missing")
    sys.exit(77)

NODE = "a\nb\x1b[31m"
OP = "Evil\x1b]0;pwned\x07Op\r"
DOMAIN = "dom\x1b[2J"
TENSOR = "t\u202eexe.onnx"          # right-to-left override
PRODUCER = "prod\u009b31m"          # C1 CSI
BAD = b"\xff\xfe"                  # not UTF-8: patched into the bytes
FAILURES = []


def fail(what):
    FAILURES.append(what)
    print("FAIL", what)


def ok(what):
    print("ok  ", what)


def terminal_safe(data, label, allow_newlines=True):
    """No byte a terminal would act on: stdout/stderr as bytes."""
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as e:
        fail("%s: not UTF-8 (%s)" % (label, e))
        return False
    bad = [c for c in text if (ord(c) < 0x20 and c != "\n" and (c != "\t"))
           or ord(c) == 0x7f or 0x80 <= ord(c) <= 0x9f or c in "\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069\u200e\u200f\u061c\u2028\u2029"]
    if bad:
        fail("%s: raw control characters %r" % (label, sorted(set(bad))))
        return False
    if not allow_newlines and text.count("\n") != 1:
        fail("%s: %d lines, expected one" % (label, text.count("\n")))
        return False
    return True


def patch(model_bytes, placeholder, replacement):
    """Same-length byte substitution inside serialised protobuf (the length
    prefixes stay right), to get bytes the onnx package would refuse."""
    assert len(placeholder) == len(replacement)
    assert model_bytes.count(placeholder) >= 1
    return model_bytes.replace(placeholder, replacement)


def hostile_model():
    x = helper.make_tensor_value_info(TENSOR, TensorProto.FLOAT, [1, 4])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, None)
    nodes = [helper.make_node("Relu", [TENSOR], ["r"], name=NODE),
             helper.make_node(OP, ["r"], ["y"], name="custom\x1b[0m", domain=DOMAIN)]
    g = helper.make_graph(nodes, "graph_PLACEHOLDER", [x], [y])
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", 17), helper.make_opsetid(DOMAIN, 1)],
                          producer_name=PRODUCER)
    m.ir_version = 8
    return patch(m.SerializeToString(), b"PLACEHOLDER", b"PLACE" + BAD + b"LDER")


def no_output_model():
    node = helper.make_node(OP, [TENSOR], [], name=NODE)
    x = helper.make_tensor_value_info(TENSOR, TensorProto.FLOAT, [1, 4])
    g = helper.make_graph([node], "g", [x], [])
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)])
    m.ir_version = 8
    return m.SerializeToString()


def twice_model():
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 4])
    nodes = [helper.make_node("Relu", ["x"], ["dupXX"], name="n1"),
             helper.make_node("Relu", ["x"], ["dupXX"], name="n2")]
    g = helper.make_graph(nodes, "g", [x], [helper.make_tensor_value_info("dupXX", TensorProto.FLOAT, None)])
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)])
    m.ir_version = 8
    return patch(m.SerializeToString(), b"dupXX", b"d\x1b\xff\n\x9b")


def image_model():
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 3, 8, 8])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, None)
    nodes = [helper.make_node("GlobalAveragePool", ["x"], ["p"]),
             helper.make_node("Flatten", ["p"], ["y"])]
    g = helper.make_graph(nodes, "g", [x], [y])
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)])
    m.ir_version = 8
    return m.SerializeToString()


def run(cmd):
    return subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=120)


def check_json(data, label):
    try:
        return json.loads(data.decode("utf-8", errors="strict"))
    except (UnicodeDecodeError, ValueError) as e:
        fail("%s: invalid JSON (%s)" % (label, e))
        return None


def check_error(cmd, label, must_contain=(), usage=False):
    """Exit 2 and one safe line (usage errors add the usage line after it)."""
    p = run(cmd)
    if p.returncode != 2:
        fail("%s: exit %d, expected 2 (stderr %r)" % (label, p.returncode, p.stderr[:300]))
        return
    err = p.stderr.split(b"\n", 1)[0] + b"\n" if usage else p.stderr
    if not terminal_safe(p.stderr, label + " stderr") or not terminal_safe(err, label, allow_newlines=False):
        return
    line = err.decode("utf-8")
    if not line.startswith("nndiff: "):
        fail("%s: %r does not start with 'nndiff: '" % (label, line))
        return
    for text in must_contain:
        if text not in line:
            fail("%s: %r does not show %r" % (label, line, text))
            return
    ok("%s: %s" % (label, line.strip()[:150]))


def main():
    nndiff = sys.argv[1]
    with tempfile.TemporaryDirectory() as tmp:
        tmpb = os.fsencode(tmp)
        path = os.path.join(tmpb, b"model_\xff\x1b[1m.onnx")
        with open(path, "wb") as f:
            f.write(hostile_model())

        for extra in ([], ["--layers"]):
            p = run([os.fsencode(nndiff), b"inspect", path] + [os.fsencode(a) for a in extra])
            label = "inspect " + " ".join(extra)
            if p.returncode != 0:
                fail("%s: exit %d: %r" % (label, p.returncode, p.stderr))
            elif terminal_safe(p.stdout, label + " stdout") and terminal_safe(p.stderr, label + " stderr"):
                out = p.stdout.decode("utf-8")
                shown = ["\\xff", "\\x1b[1m", "\\u202e"] + (["a\\nb\\x1b[31m"] if extra else [])
                missing = [s for s in shown if s not in out]
                if missing:
                    fail("%s: the escapes %r are not visible" % (label, missing))
                else:
                    ok("%s: no raw control byte; escapes visible" % label)

        jpath = os.path.join(tmpb, b"out.json")
        for target, label in ((b"-", "inspect --json -"), (jpath, "inspect --json FILE")):
            p = run([os.fsencode(nndiff), b"inspect", path, b"--json", target])
            if p.returncode != 0:
                fail("%s: exit %d: %r" % (label, p.returncode, p.stderr))
                continue
            data = p.stdout if target == b"-" else open(jpath, "rb").read()
            if not terminal_safe(data, label):
                continue
            doc = check_json(data, label)
            if doc is None:
                continue
            names = [layer["name"] for layer in doc["layers"]]
            ops = [layer["op"] for layer in doc["layers"]]
            problems = []
            if NODE not in names:
                problems.append("node name %r not in %r" % (NODE, names))
            if OP not in ops:
                problems.append("op type %r not in %r" % (OP, ops))
            if doc["inputs"][0]["name"] != TENSOR:
                problems.append("input %r" % doc["inputs"][0]["name"])
            if doc["producer"]["name"] != PRODUCER:
                problems.append("producer %r" % doc["producer"]["name"])
            if doc["graph_name"] != "graph_PLACE\\xff\\xfeLDER":
                problems.append("graph_name %r" % doc["graph_name"])
            if not doc["file"].endswith("model_\\xff\x1b[1m.onnx"):
                problems.append("file %r" % doc["file"])
            if problems:
                fail("%s: %s" % (label, "; ".join(problems)))
            else:
                ok("%s: strict UTF-8, parses, names round-trip, bad bytes as \\xHH" % label)

        bad = os.path.join(tmpb, b"no_output_\xff.onnx")
        with open(bad, "wb") as f:
            f.write(no_output_model())
        check_error([os.fsencode(nndiff), b"inspect", bad], "error: node without outputs",
                    ["\\xff", "a\\nb\\x1b[31m", "Evil\\x1b]0;pwned\\x07Op\\r", "has no outputs"])
        dup = os.path.join(tmpb, b"twice.onnx")
        with open(dup, "wb") as f:
            f.write(twice_model())
        check_error([os.fsencode(nndiff), b"inspect", dup], "error: tensor produced twice",
                    ["d\\x1b\\xff\\n\\x9b", "twice"])
        check_error([os.fsencode(nndiff), b"inspect", os.path.join(tmpb, b"missing\x1b[31m\n\xff.onnx")],
                    "error: missing file", ["missing\\x1b[31m\\n\\xff.onnx"])
        check_error([os.fsencode(nndiff), b"inspect", path, b"--bogus\x1b[5m"], "error: unknown option",
                    ["\\x1b[5m"], usage=True)
        check_error([os.fsencode(nndiff), b"bad\x1bcommand"], "error: unknown command", ["\\x1b"], usage=True)

        # run over images whose names hold ESC and a 0xff byte
        try:
            from PIL import Image
        except ImportError:
            Image = None
        if Image is not None:
            model = os.path.join(tmpb, b"img.onnx")
            with open(model, "wb") as f:
                f.write(image_model())
            photos = os.path.join(tmpb, b"photos")
            os.makedirs(photos)
            for name in (b"cat\x1b[31m.png", b"dog\xff.png"):
                Image.fromarray(np.full((8, 8, 3), 100, np.uint8)).save(os.path.join(photos, name), format="PNG")
            for extra, label in (([b"--verbose"], "run text"), ([b"--json", b"-"], "run --json -")):
                p = run([os.fsencode(nndiff), b"run", model, b"--data", photos, b"--preset", b"raw",
                         b"--pre", b"size=8;crop=8"] + extra)
                if p.returncode != 0:
                    fail("%s: exit %d: %r" % (label, p.returncode, p.stderr))
                    continue
                if not terminal_safe(p.stdout, label) or not terminal_safe(p.stderr, label + " stderr"):
                    continue
                if label.startswith("run --json"):
                    doc = check_json(p.stdout, label)
                    files = sorted(i["file"] for i in doc["images"]) if doc else []
                    if doc and files != ["cat\x1b[31m.png", "dog\\xff.png"]:
                        fail("%s: files %r" % (label, files))
                    elif doc:
                        ok("%s: parses, file names %r" % (label, files))
                else:
                    out = p.stdout.decode("utf-8")
                    if "cat\\x1b[31m.png" in out and "dog\\xff.png" in out:
                        ok("%s: file names shown escaped" % label)
                    else:
                        fail("%s: file names not shown escaped:\n%s" % (label, out))
    print("%d failed" % len(FAILURES))
    return 1 if FAILURES else 0


if __name__ == "__main__":
    sys.exit(main())
