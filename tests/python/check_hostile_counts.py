"""Counts taken from the file must never make nndiff slow: no loop may be
quadratic in the number of nodes, inputs or outputs per node, initializers,
attributes, opsets, dims, op types or the length of a name.

Builds one model per count (N of them, 200000 by default: a quadratic loop
then does ~2e10 steps, minutes; a linear one well under a second), runs
`nndiff inspect` (text, --layers and --json) on each and, for the models the
engine can run, `nndiff run` on one zero input, and requires that every
command finishes within a generous bound and exits 0 or 2 with exactly one
line on stderr when it fails.

Usage: check_hostile_counts.py NNDIFF [--n N] [--limit SECONDS] [--only NAME,...] [--keep DIR]
"""
import argparse
import os
import subprocess
import sys
import tempfile
import time

try:
    import numpy as np
    import onnx
    from onnx import TensorProto, helper
except ImportError:
    print("skipped: onnx or numpy missing")
    sys.exit(77)

F = TensorProto.FLOAT


def model(nodes, inputs, outputs, inits=(), opsets=None, value_info=()):
    g = helper.make_graph(nodes, "g", inputs, outputs, list(inits), value_info=list(value_info))
    m = helper.make_model(g, opset_imports=opsets or [helper.make_opsetid("", 17)])
    m.ir_version = 8
    return m


def vi(name, shape=(1, 4)):
    return helper.make_tensor_value_info(name, F, list(shape) if shape is not None else None)


def scalar(name):
    return helper.make_tensor(name, F, [], [0.0])


# Each case: (name, builder(n, dir) -> ModelProto, runnable by the engine)
def relu_outputs(n, _):
    # Relu takes one output: the duplicate-output check runs before that is refused
    return model([helper.make_node("Relu", ["x"], ["o%d" % i for i in range(n)])], [vi("x")], [vi("o0")])


def relu_outputs_dup(n, _):
    outs = ["o%d" % i for i in range(n)] + ["o0"]
    return model([helper.make_node("Relu", ["x"], outs)], [vi("x")], [vi("o0")])


def custom_outputs(n, _):
    outs = ["o%d" % i for i in range(n)]
    node = helper.make_node("Many", ["x"], outs, domain="hostile")
    return model([node], [vi("x")], [vi(o, None) for o in outs],
                 opsets=[helper.make_opsetid("", 17), helper.make_opsetid("hostile", 1)])


def custom_inputs(n, _):
    ins = ["i%d" % i for i in range(n)]
    node = helper.make_node("Many", ins, ["y"], domain="hostile")
    return model([node], [vi(i) for i in ins], [vi("y", None)],
                 opsets=[helper.make_opsetid("", 17), helper.make_opsetid("hostile", 1)])


def concat_inputs(n, _):
    return model([helper.make_node("Concat", ["x"] * n, ["y"], axis=1)], [vi("x", (1, 1))], [vi("y", None)])


def max_inputs(n, _):
    return model([helper.make_node("Max", ["x"] * n, ["y"])], [vi("x")], [vi("y", None)])


def fanout_concat(n, _):
    # n values alive at once: the memory plan places n buffers
    nodes = [helper.make_node("Relu", ["x"], ["r%d" % i]) for i in range(n)]
    nodes.append(helper.make_node("Concat", ["r%d" % i for i in range(n)], ["y"], axis=1))
    return model(nodes, [vi("x", (1, 1))], [vi("y", None)])


def chain(n, _):
    nodes = [helper.make_node("Relu", ["x" if i == 0 else "t%d" % (i - 1)], ["t%d" % i]) for i in range(n)]
    return model(nodes, [vi("x")], [vi("t%d" % (n - 1), None)])


def chain_reversed(n, _):
    nodes = [helper.make_node("Relu", ["x" if i == 0 else "t%d" % (i - 1)], ["t%d" % i]) for i in range(n)]
    return model(nodes[::-1], [vi("x")], [vi("t%d" % (n - 1), None)])


def distinct_ops(n, _):
    nodes = [helper.make_node("Op%d" % i, ["x"], ["y%d" % i], domain="hostile") for i in range(n)]
    return model(nodes, [vi("x")], [vi("y0", None)],
                 opsets=[helper.make_opsetid("", 17), helper.make_opsetid("hostile", 1)])


def distinct_domains(n, _):
    nodes = [helper.make_node("Op", ["x"], ["y%d" % i], domain="d%d" % i) for i in range(n)]
    return model(nodes, [vi("x")], [vi("y0", None)])


def initializers(n, _):
    return model([helper.make_node("Relu", ["x"], ["y"])], [vi("x")], [vi("y")],
                 inits=[scalar("c%d" % i) for i in range(n)])


def initializers_as_inputs(n, _):
    return model([helper.make_node("Relu", ["x"], ["y"])], [vi("x")] + [vi("c%d" % i, ()) for i in range(n)],
                 [vi("y")], inits=[scalar("c%d" % i) for i in range(n)])


def graph_inputs(n, _):
    return model([helper.make_node("Relu", ["x"], ["y"])], [vi("x")] + [vi("u%d" % i) for i in range(n)],
                 [vi("y")])


def graph_outputs_same(n, _):
    return model([helper.make_node("Relu", ["x"], ["y"])], [vi("x")], [vi("y")] * n)


def attributes(n, _):
    node = helper.make_node("Relu", ["x"], ["y"])
    node.attribute.extend(helper.make_attribute("a%d" % i, i) for i in range(n))
    return model([node], [vi("x")], [vi("y")])


def attributes_same_name(n, _):
    node = helper.make_node("Conv", ["x", "w"], ["y"])
    node.attribute.extend(helper.make_attribute("strides", [1, 1]) for _ in range(n))
    w = helper.make_tensor("w", F, [1, 1, 1, 1], [1.0])
    return model([node], [vi("x", (1, 1, 2, 2))], [vi("y", None)], inits=[w])


def value_infos(n, _):
    return model([helper.make_node("Relu", ["x"], ["y"])], [vi("x")], [vi("y")],
                 value_info=[vi("v%d" % i) for i in range(n)])


def opsets(n, _):
    ops = [helper.make_opsetid("", 17)] + [helper.make_opsetid("d%d" % i, 1) for i in range(n)]
    return model([helper.make_node("Relu", ["x"], ["y"])], [vi("x")], [vi("y")], opsets=ops)


def input_dims(n, _):
    return model([helper.make_node("Relu", ["x"], ["y"])], [vi("x", [1] * n)], [vi("y", None)])


def tensor_dims(n, _):
    t = helper.make_tensor("c", F, [1] * n, [0.0])
    return model([helper.make_node("Add", ["x", "c"], ["y"])], [vi("x")], [vi("y", None)], inits=[t])


def ints_attribute(n, _):
    node = helper.make_node("Transpose", ["x"], ["y"], perm=list(range(n)))
    return model([node], [vi("x")], [vi("y", None)])


def split_outputs(n, _):
    outs = ["o%d" % i for i in range(n)]
    node = helper.make_node("Split", ["x"], outs, axis=1)
    return model([node], [vi("x", (1, n))], [vi(o, None) for o in outs])


def long_names(n, _):
    # names of n * 50 bytes (10 MB for the default n), read, hashed and reported
    a, b = "a" * (n * 50), "b" * (n * 50)
    return model([helper.make_node("Relu", [a], [b], name="n" * (n * 50))], [vi(a)], [vi(b)])


def long_name_error(n, _):
    # an error naming a 10 MB tensor: the message stays one bounded line
    a = "a" * (n * 50)
    return model([helper.make_node("Relu", [a], ["y"]), helper.make_node("Relu", ["y"], [a])],
                 [vi("x")], [vi("y")])


def external_files(n, d):
    # n tensors spread over many distinct external files in the model's folder
    files = max(1, min(n // 10, 4000))
    for i in range(files):
        open(os.path.join(d, "w%d.bin" % i), "wb").close()
    inits = []
    for i in range(n):
        t = helper.make_tensor("e%d" % i, F, [0], [])
        t.data_location = TensorProto.EXTERNAL
        for k, v in (("location", "w%d.bin" % (i % files)), ("offset", "0"), ("length", "0")):
            e = t.external_data.add()
            e.key, e.value = k, v
        inits.append(t)
    return model([helper.make_node("Relu", ["x"], ["y"])], [vi("x")], [vi("y")], inits=inits)


CASES = [
    ("relu_outputs", relu_outputs, False),
    ("relu_outputs_dup", relu_outputs_dup, False),
    ("custom_outputs", custom_outputs, False),
    ("custom_inputs", custom_inputs, False),
    ("concat_inputs", concat_inputs, True),
    ("max_inputs", max_inputs, True),
    ("fanout_concat", fanout_concat, True),
    ("chain", chain, True),
    ("chain_reversed", chain_reversed, True),
    ("distinct_ops", distinct_ops, False),
    ("distinct_domains", distinct_domains, False),
    ("initializers", initializers, True),
    ("initializers_as_inputs", initializers_as_inputs, False),
    ("graph_inputs", graph_inputs, False),
    ("graph_outputs_same", graph_outputs_same, True),
    ("attributes", attributes, True),
    ("attributes_same_name", attributes_same_name, True),
    ("value_infos", value_infos, True),
    ("opsets", opsets, True),
    ("input_dims", input_dims, False),
    ("tensor_dims", tensor_dims, False),
    ("ints_attribute", ints_attribute, False),
    ("split_outputs", split_outputs, True),
    ("long_names", long_names, False),
    ("long_name_error", long_name_error, False),
    ("external_files", external_files, False),
]


def check(cmd, limit, label):
    t0 = time.time()
    try:
        p = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=limit)
    except subprocess.TimeoutExpired:
        print("FAIL %-28s did not finish in %.0f s" % (label, limit))
        return False
    dt = time.time() - t0
    err = p.stderr.decode("utf-8", "replace").splitlines()
    problem = ""
    if p.returncode not in (0, 2):
        problem = "exit %d" % p.returncode
    elif p.returncode == 2 and (len(err) != 1 or not err[0].startswith("nndiff: ")):
        problem = "%d stderr lines" % len(err)
    elif any("Sanitizer" in line or "runtime error" in line for line in err):
        problem = "sanitizer report"
    first = err[0][:100] if err else ""
    print("%s %-28s %6.2f s  exit %d  %s" % ("FAIL" if problem else "ok  ", label, dt, p.returncode,
                                            problem or first))
    return not problem


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("nndiff")
    ap.add_argument("--n", type=int, default=200000)
    ap.add_argument("--limit", type=float, default=60.0, help="seconds per command")
    ap.add_argument("--only", default="")
    ap.add_argument("--keep", default="", help="write the models here and keep them")
    args = ap.parse_args()
    only = set(filter(None, args.only.split(",")))
    failed = 0
    with tempfile.TemporaryDirectory() as tmp:
        root = args.keep or tmp
        zeros = os.path.join(root, "zeros.npy")
        for name, build, runnable in CASES:
            if only and name not in only:
                continue
            d = os.path.join(root, name)
            os.makedirs(d, exist_ok=True)
            path = os.path.join(d, name + ".onnx")
            m = build(args.n, d)
            with open(path, "wb") as f:
                f.write(m.SerializeToString())
            for extra, label in (([], ""), (["--layers"], " --layers"), (["--json", "-"], " --json")):
                failed += not check([args.nndiff, "inspect", path] + extra, args.limit, name + label)
            if runnable:
                x = m.graph.input[0].type.tensor_type.shape
                shape = [d.dim_value for d in x.dim]
                np.save(zeros, np.zeros(shape, np.float32))
                for prec in ("fast", "reference"):
                    failed += not check([args.nndiff, "run", path, "--data", zeros, "--precision", prec],
                                        args.limit, name + " run " + prec)
    print("%d failed" % failed)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
