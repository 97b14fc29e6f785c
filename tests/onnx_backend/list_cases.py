#!/usr/bin/env python3
"""Lists the ONNX backend node test cases (shipped in the `onnx` package)
whose ops are all in --ops, one absolute directory per line, for CMake to
register one CTest case each. Exits 1 when the onnx package is missing."""
import argparse
import os
import sys


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--ops", required=True, help="comma-separated ONNX op types")
    ap.add_argument("--root", help="node test data dir (default: from the onnx package)")
    a = ap.parse_args()
    try:
        import onnx
    except ImportError:
        sys.exit(1)
    root = a.root or os.path.join(os.path.dirname(onnx.__file__), "backend", "test", "data", "node")
    if not os.path.isdir(root):
        sys.exit(1)
    ops = set(a.ops.split(","))
    for d in sorted(os.listdir(root)):
        path = os.path.join(root, d)
        model = os.path.join(path, "model.onnx")
        if not os.path.isfile(model):
            continue
        try:
            m = onnx.load(model, load_external_data=False)
        except Exception:
            continue
        if any(n.domain not in ("", "ai.onnx") or n.op_type not in ops for n in m.graph.node):
            continue
        # Tensor inputs and outputs only (no sequences or optionals).
        if any(not v.type.HasField("tensor_type") for v in list(m.graph.input) + list(m.graph.output)):
            continue
        print(path)


if __name__ == "__main__":
    main()
