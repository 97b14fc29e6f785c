"""Hostile uses of the ops added for the transformers (Einsum,
ConstantOfShape, Range, ScatterND, LayerNormalization, Where, Mod) and
Slice's extreme steps: `nndiff inspect` and `nndiff run` (both precisions)
must answer each with exit 0 or with exit 2 and one `nndiff:` line naming
the node (never a crash or a sanitizer report; run under the sanitizer
build too). Exits 77 when onnx is missing.

Usage: check_new_ops_errors.py NNDIFF
"""
import os
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import photos  # noqa: E402

# name -> expected exit of `run` (inspect answers 0 or 2 as the IR can tell)
EXPECT = {"einsum_bad": 2, "einsum_out": 2, "einsum_chars": 2, "cos_neg": 2, "cos_big": 2,
          "range_zero": 2, "range_huge": 2, "scatter_oob": 2, "scatter_k": 2, "ln_axis": 2,
          "ln_scale": 2, "where_float_cond": 2, "where_bcast": 2, "mod_zero": 0,
          "slice_stepmax": 0, "slice_stepmin": 0}


def main(argv):
    if len(argv) != 2:
        print(__doc__)
        return 2
    photos.require_modules("numpy", "onnx")
    import numpy as np
    import onnx
    from onnx import TensorProto as T
    from onnx import helper as h
    from onnx import numpy_helper as nh

    X = h.make_tensor_value_info("x", T.FLOAT, ["batch", 4, 6])
    cases = {
     'einsum_bad': ([h.make_node('Einsum', ['x', 'x'], ['y'], equation='ab,bc->ac')], []),
     'einsum_out': ([h.make_node('Einsum', ['x'], ['y'], equation='abc->abz')], []),
     'einsum_chars': ([h.make_node('Einsum', ['x'], ['y'], equation='a1c->a')], []),
     'cos_neg': ([h.make_node('ConstantOfShape', ['s'], ['c']), h.make_node('Add', ['x', 'c'], ['y'])], [nh.from_array(np.array([-3, 4, 6], np.int64), 's')]),
     'cos_big': ([h.make_node('ConstantOfShape', ['s'], ['c']), h.make_node('Add', ['x', 'c'], ['y'])], [nh.from_array(np.array([1<<40, 1<<40, 6], np.int64), 's')]),
     'range_zero': ([h.make_node('Range', ['a', 'b', 'd'], ['r']), h.make_node('Add', ['x', 'r'], ['y'])], [nh.from_array(np.array(0, np.int64), 'a'), nh.from_array(np.array(6, np.int64), 'b'), nh.from_array(np.array(0, np.int64), 'd')]),
     'range_huge': ([h.make_node('Range', ['a', 'b', 'd'], ['r']), h.make_node('Cast', ['r'], ['rf'], to=1), h.make_node('Add', ['x', 'rf'], ['y'])], [nh.from_array(np.array(0., np.float32), 'a'), nh.from_array(np.array(1e30, np.float32), 'b'), nh.from_array(np.array(1e-30, np.float32), 'd')]),
     'scatter_oob': ([h.make_node('ScatterND', ['x', 'i', 'u'], ['y'])], [nh.from_array(np.array([[0, 9]], np.int64), 'i'), nh.from_array(np.zeros((1, 6), np.float32), 'u')]),
     'scatter_k': ([h.make_node('ScatterND', ['x', 'i', 'u'], ['y'])], [nh.from_array(np.array([[0, 1, 2, 3]], np.int64), 'i'), nh.from_array(np.zeros((1,), np.float32), 'u')]),
     'ln_axis': ([h.make_node('LayerNormalization', ['x', 'g'], ['y'], axis=5)], [nh.from_array(np.ones(6, np.float32), 'g')]),
     'ln_scale': ([h.make_node('LayerNormalization', ['x', 'g'], ['y'], axis=1)], [nh.from_array(np.ones(5, np.float32), 'g')]),
     'where_float_cond': ([h.make_node('Where', ['x', 'x', 'x'], ['y'])], []),
     'where_bcast': ([h.make_node('Where', ['c', 'x', 'z'], ['y'])], [nh.from_array(np.ones((3,), bool), 'c'), nh.from_array(np.ones((5,), np.float32), 'z')]),
     'mod_zero': ([h.make_node('Mod', ['x', 'z'], ['y'], fmod=1)], [nh.from_array(np.zeros((6,), np.float32), 'z')]),
     'slice_stepmax': ([h.make_node('Slice', ['x', 's', 'e', 'a', 'st'], ['y'])], [nh.from_array(np.array([0], np.int64), 's'), nh.from_array(np.array([1<<62], np.int64), 'e'), nh.from_array(np.array([2], np.int64), 'a'), nh.from_array(np.array([(1<<63)-1], np.int64), 'st')]),
     'slice_stepmin': ([h.make_node('Slice', ['x', 's', 'e', 'a', 'st'], ['y'])], [nh.from_array(np.array([-1], np.int64), 's'), nh.from_array(np.array([-(1<<63)], np.int64), 'e'), nh.from_array(np.array([2], np.int64), 'a'), nh.from_array(np.array([-(1<<63)], np.int64), 'st')]),
    }
    failures = 0
    with tempfile.TemporaryDirectory() as tmp:
        xp = os.path.join(tmp, "x.npy")
        np.save(xp, np.random.RandomState(0).randn(2, 4, 6).astype(np.float32))
        for name, (nodes, inits) in cases.items():
            g = h.make_graph(nodes, "g", [X], [h.make_tensor_value_info("y", T.FLOAT, None)],
                             inits)
            path = os.path.join(tmp, name + ".onnx")
            onnx.save(h.make_model(g, opset_imports=[h.make_opsetid("", 17)]), path)
            for cmd in (["inspect", path],
                        ["run", path, "--data", xp, "--batch", "2", "--precision", "reference"],
                        ["run", path, "--data", xp, "--batch", "2", "--precision", "fast"]):
                r = subprocess.run([argv[1]] + cmd, capture_output=True, text=True)
                lines = r.stderr.strip().splitlines()
                ok = "Sanitizer" not in r.stderr and "runtime error" not in r.stderr
                if cmd[0] == "run":
                    ok = ok and r.returncode == EXPECT[name]
                else:
                    ok = ok and r.returncode in (0, 2)
                if r.returncode == 2:
                    ok = ok and len(lines) == 1 and lines[0].startswith("nndiff: ")
                failures += not ok
                print("%s %-16s %-7s exit %d %s" % ("ok  " if ok else "FAIL", name, cmd[0],
                                                    r.returncode, lines[-1][:120] if lines else ""))
    print("%d failure(s)" % failures)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
