#!/usr/bin/env python3
"""Run an ONNX model with ONNX Runtime on a .npy batch: a reusable test oracle.

ONNX Runtime (CPUExecutionProvider) runs MODEL on the float tensor stored in
INPUTS.npy (shape [N, ...], fed to the model's single graph input) and
prints, per graph output, its name, shape, max |value| and the time taken.

  * single-threaded (intra-op and inter-op pools of 1 thread, sequential
    execution) so the numbers are reproducible from run to run; --threads
    changes that;
  * graph optimizations at ORT_ENABLE_ALL, onnxruntime's default (--opt
    changes that: disable, basic, extended, all);
  * --batch B runs B rows at a time (default: the whole array at once; a
    model whose input has a fixed batch dimension is run row by row);
  * --out OUT.npy saves the first output (float32, [N, ...]); with
    OUT.npz every output is saved, keyed by output name;
  * --top1 prints, per input row, the argmax of the first output and its
    value (one line each: "row label value"); --topk K prints the K best.

External data (tensors stored beside the model) is found relative to MODEL.

Exit status: 0 ok, 2 bad usage or unreadable input, 1 onnxruntime failed.

The generator of the fault benchmark (tools/make_fault_benchmark.py) imports
make_session() and run() from here, so tests that re-run its cases with this
script see exactly the numbers recorded in its manifest.

Usage:
  .venv/bin/python tools/ort_run.py MODEL.onnx INPUTS.npy [--out OUT.npy] [--top1]
"""

import argparse
import sys
import time

OPT_LEVELS = ("disable", "basic", "extended", "all")


def make_session(model_path, threads=1, opt="all"):
    """An onnxruntime CPU InferenceSession, deterministic by default."""
    import onnxruntime as ort

    so = ort.SessionOptions()
    so.intra_op_num_threads = threads
    so.inter_op_num_threads = threads
    so.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    so.log_severity_level = 3
    so.graph_optimization_level = {
        "disable": ort.GraphOptimizationLevel.ORT_DISABLE_ALL,
        "basic": ort.GraphOptimizationLevel.ORT_ENABLE_BASIC,
        "extended": ort.GraphOptimizationLevel.ORT_ENABLE_EXTENDED,
        "all": ort.GraphOptimizationLevel.ORT_ENABLE_ALL,
    }[opt]
    return ort.InferenceSession(model_path, so, providers=["CPUExecutionProvider"])


def run(sess, x, batch=None):
    """Run sess on x ([N, ...]); returns [(output_name, array [N, ...]), ...]."""
    import numpy as np

    inputs = sess.get_inputs()
    if len(inputs) != 1:
        raise ValueError("model has %d graph inputs; ort_run feeds exactly one" % len(inputs))
    inp = inputs[0]
    want = {"tensor(float)": np.float32, "tensor(double)": np.float64,
            "tensor(float16)": np.float16}.get(inp.type)
    if want is not None and x.dtype != want:
        x = x.astype(want)
    dim0 = inp.shape[0] if inp.shape else None
    if isinstance(dim0, int) and dim0 > 0:
        batch = dim0  # fixed batch dimension: feed that many rows at a time
        if x.shape[0] % dim0:
            raise ValueError("model input has fixed batch %d, which does not divide N=%d"
                             % (dim0, x.shape[0]))
    if not batch or batch >= x.shape[0]:
        outs = sess.run(None, {inp.name: x})
    else:
        parts = [sess.run(None, {inp.name: x[i:i + batch]}) for i in range(0, x.shape[0], batch)]
        outs = [np.concatenate([p[k] for p in parts], axis=0) for k in range(len(parts[0]))]
    return [(o.name, y) for o, y in zip(sess.get_outputs(), outs)]


def parse_args(argv):
    p = argparse.ArgumentParser(
        description="Run an ONNX model with onnxruntime (CPU, 1 thread, ORT_ENABLE_ALL) "
                    "on a .npy batch; print and optionally save the outputs.")
    p.add_argument("model", help="ONNX model file")
    p.add_argument("inputs", help=".npy file holding the input batch [N, ...]")
    p.add_argument("--out", help="save the first output to OUT.npy, or every output to OUT.npz")
    p.add_argument("--top1", action="store_true", help="print the top-1 label of every row")
    p.add_argument("--topk", type=int, default=0, help="print the K best labels of every row")
    p.add_argument("--batch", type=int, default=0, help="rows per run (default: all at once)")
    p.add_argument("--threads", type=int, default=1, help="onnxruntime threads (default 1)")
    p.add_argument("--opt", choices=OPT_LEVELS, default="all",
                   help="graph optimization level (default all = ORT_ENABLE_ALL)")
    return p.parse_args(argv)


def main(argv=None):
    args = parse_args(argv)
    import numpy as np

    try:
        x = np.load(args.inputs, allow_pickle=False)
    except (OSError, ValueError) as e:
        print("ort_run: error: cannot read %s: %s" % (args.inputs, e), file=sys.stderr)
        return 2
    if x.ndim < 1 or x.shape[0] < 1:
        print("ort_run: error: %s holds shape %s; want [N, ...] with N >= 1"
              % (args.inputs, x.shape), file=sys.stderr)
        return 2
    try:
        t0 = time.time()
        sess = make_session(args.model, args.threads, args.opt)
        t1 = time.time()
        outs = run(sess, x, args.batch)
        t2 = time.time()
    except Exception as e:  # onnxruntime raises its own exception types
        print("ort_run: error: onnxruntime failed on %s: %s" % (args.model, e), file=sys.stderr)
        return 1

    print("model %s  input %s %s  session %.2fs  run %.2fs (%d thread%s, opt %s)" % (
        args.model, sess.get_inputs()[0].name, list(x.shape), t1 - t0, t2 - t1,
        args.threads, "" if args.threads == 1 else "s", args.opt))
    for name, y in outs:
        print("output %s %s %s  max|y| %.6g" % (name, list(y.shape), y.dtype,
                                                float(np.max(np.abs(y))) if y.size else 0.0))
    k = max(args.topk, 1 if args.top1 else 0)
    if k:
        y = outs[0][1].reshape(outs[0][1].shape[0], -1)
        order = np.argsort(-y, axis=1, kind="stable")[:, :k]
        for i in range(y.shape[0]):
            print("%d " % i + " ".join("%d %.6g" % (int(j), float(y[i, j])) for j in order[i]))
    if args.out:
        if args.out.endswith(".npz"):
            np.savez(args.out, **{name: y for name, y in outs})
        else:
            np.save(args.out, outs[0][1])
    return 0


if __name__ == "__main__":
    sys.exit(main())
