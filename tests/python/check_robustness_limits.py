"""Robustness test: valid but extreme models and surroundings get the exit
code and the one-line message that name the real cause (issue "Hostile input
and hostile surroundings", classes 4, 5, 6 and 10).

Every model is made here with the onnx package, in a temporary folder.

  conv stride 2^62     oneDNN refuses the hyperparameters: the fast path falls
                       back to another kernel; fast and reference outputs equal
                       ONNX Runtime's (never exit 3)
  --threads 1024       exit 0, a warning that it was lowered to the CPUs (and,
                       as root, run as nobody under ulimit -u 1: lowered to the
                       threads that can start, never libgomp's exit 1)
  extreme aspect PNGs  60000x1 and 2x25000000: --on-error skip completes and
                       lists both files as skipped; fail exits 2 with one line
                       naming the first file
  --batch 4096         squeezenet under --max-memory 256M: exit 2 within
                       seconds, one line with the batch, the bytes and a batch
                       that fits, and a small peak RSS; the suggested batch
                       runs, one more is refused
  Concat of 10^6       inputs, under --max-memory 64M: exit 2 naming the Concat
  impossible sizes     an input [N,3,100000,100000], an Expand to 10^10 pixels
                       (computed and folded): exit 2 naming model, tensor or
                       node and bytes
  Slice steps          INT64_MIN / INT64_MAX: outputs equal ONNX Runtime's
  LRN size INT64_MAX   outputs equal onnx.reference (ONNX Runtime refuses it)

Usage: check_robustness_limits.py NNDIFF SQUEEZENET_ONNX
"""
import argparse
import json
import os
import struct
import subprocess
import sys
import tempfile
import time
import zlib

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import photos  # noqa: E402

I64MIN, I64MAX = -(2**63), 2**63 - 1
failures = []


def check(cond, what):
    print(("ok   " if cond else "FAIL ") + what, flush=True)
    if not cond:
        failures.append(what)
    return cond


def one_line(err):
    lines = [ln for ln in err.splitlines() if ln.strip() and "warning" not in ln]
    return len(lines) == 1 and lines[0].startswith("nndiff: ")


def run(cmd, preexec=None, asan=""):
    """Runs cmd; returns (rc, stdout, stderr, seconds, peak RSS in MiB).

    In a sanitizer build a huge allocation must fail as the real allocator's
    does (NULL), not abort: the point is the message nndiff makes of it."""
    env = dict(os.environ)
    env["ASAN_OPTIONS"] = ":".join(
        x for x in (env.get("ASAN_OPTIONS", ""), "allocator_may_return_null=1", asan) if x)
    t0 = time.monotonic()
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        p = subprocess.Popen(cmd, stdout=out, stderr=err, preexec_fn=preexec, env=env)
        _, status, ru = os.wait4(p.pid, 0)
        p.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        err.seek(0)
        return (p.returncode, out.read().decode(), err.read().decode(), time.monotonic() - t0,
                ru.ru_maxrss / 1024.0)


def save(onnx, helper, graph, path, opset=13):
    m = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)])
    m.ir_version = 8
    onnx.save(m, path)
    return path


def write_png(path, w, h):
    """An 8-bit RGB PNG of w x h mid-grey pixels, compressed row by row."""
    def chunk(t, d):
        return struct.pack(">I", len(d)) + t + d + struct.pack(">I", zlib.crc32(t + d) & 0xFFFFFFFF)
    z = zlib.compressobj(9)
    row = b"\x00" + b"\x80" * (3 * w)
    idat = []
    rows_per = max(1, (1 << 20) // len(row))
    for y in range(0, h, rows_per):
        idat.append(z.compress(row * min(rows_per, h - y)))
    idat.append(z.flush())
    with open(path, "wb") as f:
        f.write(b"\x89PNG\r\n\x1a\n")
        f.write(chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 8, 2, 0, 0, 0)))
        f.write(chunk(b"IDAT", b"".join(idat)))
        f.write(chunk(b"IEND", b""))


def outputs_of(nndiff, model, data, tmp, extra=()):
    out = os.path.join(tmp, "out.npy")
    if os.path.exists(out):
        os.remove(out)
    rc, _, err, _, _ = run([nndiff, "run", model, "--data", data, "--outputs", out] + list(extra))
    import numpy as np
    return rc, err, (np.load(out) if rc == 0 else None)


def close(a, b, tol=1e-5):
    import numpy as np
    a = a.reshape(b.shape)
    return float(np.abs(a - b).max()) <= tol * max(1.0, float(np.abs(b).max()))


def check_conv_stride(nndiff, tmp, onnx, helper, T, nh, np, ort):
    w = nh.from_array(np.random.RandomState(1).randn(4, 3, 3, 3).astype(np.float32), "W")
    b = nh.from_array(np.random.RandomState(2).randn(4).astype(np.float32), "B")
    g = helper.make_graph(
        [helper.make_node("Conv", ["x", "W", "B"], ["y"], name="conv_huge_stride",
                          strides=[2**62, 1]),
         helper.make_node("Relu", ["y"], ["z"], name="relu")],
        "g", [helper.make_tensor_value_info("x", T.FLOAT, ["N", 3, 8, 8])],
        [helper.make_tensor_value_info("z", T.FLOAT, None)], [w, b])
    model = save(onnx, helper, g, os.path.join(tmp, "conv_stride.onnx"))
    x = np.random.RandomState(0).rand(3, 3, 8, 8).astype(np.float32)
    data = os.path.join(tmp, "x8.npy")
    np.save(data, x)
    want = ort.InferenceSession(model, providers=["CPUExecutionProvider"]).run(None, {"x": x})[0]
    for prec in ("fast", "reference"):
        rc, err, y = outputs_of(nndiff, model, data, tmp, ["--precision", prec])
        check(rc == 0, "conv stride 2^62 (%s): exit 0, got %d: %s" % (prec, rc, err.strip()))
        if rc == 0:
            check(close(y, want), "conv stride 2^62 (%s): outputs equal ONNX Runtime's" % prec)


def check_threads(nndiff, tmp, squeezenet, photo):
    rc, _, err, _, _ = run([nndiff, "run", squeezenet, "--data", photo, "--threads", "1024"])
    check(rc == 0, "--threads 1024: exit 0, got %d: %s" % (rc, err.strip()))
    ncpu = len(os.sched_getaffinity(0))
    if ncpu < 1024:
        check("warning: --threads 1024 is more than the %d CPU" % ncpu in err,
              "--threads 1024: warns it uses the %d CPUs: %r" % (ncpu, err.strip()))
    rc, _, err, _, _ = run([nndiff, "run", squeezenet, "--data", photo, "--threads", "1025"])
    check(rc == 2 and "--threads" in err, "--threads 1025: usage error (exit 2), got %d" % rc)
    if os.geteuid() != 0 or ncpu < 2:
        print("note: not root (or one CPU): the ulimit -u case is not run")
        return
    # As nobody allowed one process: no thread can start beside the main one.
    import resource

    def drop():
        os.setgid(65534)
        os.setuid(65534)
        resource.setrlimit(resource.RLIMIT_NPROC, (1, 1))
    # (LeakSanitizer needs a thread of its own at exit.)
    rc, _, err, _, _ = run([nndiff, "run", squeezenet, "--data", photo, "--threads", "1024"],
                           preexec=drop, asan="detect_leaks=0")
    check(rc == 0, "--threads 1024 under ulimit -u 1: exit 0 (never libgomp's 1), got %d: %s"
          % (rc, err.strip()))
    check("ulimit -u" in err and "using 1" in err,
          "--threads 1024 under ulimit -u 1: warns it uses 1 thread: %r" % err.strip())


def check_aspect(nndiff, tmp, squeezenet, photo_paths):
    import shutil
    d = os.path.join(tmp, "aspect")
    os.makedirs(d)
    shutil.copy(photo_paths[0], os.path.join(d, "a_photo" + os.path.splitext(photo_paths[0])[1]))
    write_png(os.path.join(d, "b_wide.png"), 60000, 1)
    write_png(os.path.join(d, "c_tall.png"), 2, 25000000)
    j = os.path.join(tmp, "aspect.json")
    rc, _, err, secs, _ = run([nndiff, "run", squeezenet, "--data", d, "--on-error", "skip",
                               "--json", j])
    check(rc == 0, "extreme aspect, --on-error skip: exit 0, got %d: %s" % (rc, err.strip()))
    if rc == 0:
        rep = json.load(open(j))
        skipped = {s["file"]: s["reason"] for s in rep["skipped"]}
        check(sorted(skipped) == ["b_wide.png", "c_tall.png"],
              "extreme aspect: both strips listed as skipped: %s" % sorted(skipped))
        for f, why in skipped.items():
            check(f in why, "extreme aspect: the reason names %s: %r" % (f, why))
        check([i["file"] for i in rep["images"]] == [f for f in sorted(os.listdir(d))
                                                      if f.startswith("a_photo")],
              "extreme aspect: the photo ran")
    rc, _, err, _, _ = run([nndiff, "run", squeezenet, "--data", d])
    check(rc == 2 and one_line(err) and "b_wide.png" in err,
          "extreme aspect, --on-error fail: exit 2, one line naming b_wide.png: %d %r"
          % (rc, err.strip()))


def check_batch_budget(nndiff, tmp, squeezenet, photo):
    import re
    rc, _, err, secs, rss = run([nndiff, "run", squeezenet, "--data", photo, "--batch", "4096",
                                 "--max-memory", "256M"])
    print("note: --batch 4096 --max-memory 256M: %.2f s, peak RSS %.0f MiB: %s"
          % (secs, rss, err.strip()))
    check(rc == 2 and one_line(err), "--batch 4096 over budget: exit 2 with one line, got %d" % rc)
    check(os.path.basename(squeezenet) in err and "batch 4096 needs" in err and "GiB" in err
          and "256.0 MiB" in err and "--max-memory" in err,
          "--batch 4096: message names model, batch, bytes and budget: %r" % err.strip())
    m = re.search(r"batch (\d+) would fit", err)
    check(m is not None, "--batch 4096: message suggests a batch that fits")
    check(secs < 30, "--batch 4096: refused within 30 s (took %.1f s)" % secs)
    check(rss < 300, "--batch 4096: peak RSS under 300 MiB (%.0f MiB)" % rss)
    if m:
        fit = int(m.group(1))
        rc, _, err, _, _ = run([nndiff, "run", squeezenet, "--data", photo, "--batch", str(fit),
                                "--max-memory", "256M"])
        check(rc == 0, "--batch %d (suggested) runs under 256M, got %d: %s"
              % (fit, rc, err.strip()))
        rc, _, err, _, _ = run([nndiff, "run", squeezenet, "--data", photo, "--batch",
                                str(fit + 1), "--max-memory", "256M"])
        check(rc == 2 and "batch %d would fit" % fit in err,
              "--batch %d is refused, suggesting %d: %r" % (fit + 1, fit, err.strip()))
    rc, _, err, _, _ = run([nndiff, "run", squeezenet, "--data", photo, "--max-memory", "lots"])
    check(rc == 2 and "--max-memory" in err, "--max-memory lots: usage error")


def check_sizes(nndiff, tmp, onnx, helper, T, nh, np):
    x2 = os.path.join(tmp, "x2.npy")
    np.save(x2, np.random.rand(2, 3, 2, 2).astype(np.float32))
    n = 1000000
    g = helper.make_graph([helper.make_node("Concat", ["x"] * n, ["y"], name="concat_many", axis=1)],
                          "g", [helper.make_tensor_value_info("x", T.FLOAT, ["N", 3, 2, 2])],
                          [helper.make_tensor_value_info("y", T.FLOAT, None)])
    model = save(onnx, helper, g, os.path.join(tmp, "concat_many.onnx"))
    rc, _, err, secs, rss = run([nndiff, "run", model, "--data", x2, "--max-memory", "64M"])
    print("note: Concat of 10^6 inputs under 64M: %.2f s, peak RSS %.0f MiB" % (secs, rss))
    check(rc == 2 and one_line(err) and "concat_many" in err and "batch 8 needs" in err,
          "Concat of 10^6 inputs over 64M: exit 2 naming the node: %d %r" % (rc, err.strip()))

    g = helper.make_graph([helper.make_node("Relu", ["x"], ["y"], name="relu")], "g",
                          [helper.make_tensor_value_info("x", T.FLOAT, ["N", 3, 100000, 100000])],
                          [helper.make_tensor_value_info("y", T.FLOAT, None)])
    model = save(onnx, helper, g, os.path.join(tmp, "huge_input.onnx"))
    rc, _, err, _, _ = run([nndiff, "run", model, "--data", x2, "--max-memory", "4G"])
    check(rc == 2 and one_line(err) and "huge_input.onnx" in err and "'x'" in err
          and "GiB" in err, "input [N,3,1e5,1e5]: exit 2 naming model, input, bytes: %r"
          % err.strip())

    shp = nh.from_array(np.array([1, 3, 100000, 100000], np.int64), "shp")
    g = helper.make_graph([helper.make_node("Expand", ["x", "shp"], ["y"], name="expand_big")], "g",
                          [helper.make_tensor_value_info("x", T.FLOAT, ["N", 3, 1, 1])],
                          [helper.make_tensor_value_info("y", T.FLOAT, None)], [shp])
    model = save(onnx, helper, g, os.path.join(tmp, "expand_big.onnx"))
    x1 = os.path.join(tmp, "x1.npy")
    np.save(x1, np.random.rand(2, 3, 1, 1).astype(np.float32))
    rc, _, err, _, _ = run([nndiff, "run", model, "--data", x1, "--max-memory", "4G"])
    check(rc == 2 and one_line(err) and "expand_big" in err and "GiB" in err,
          "Expand to 10^10 pixels: exit 2 naming the node and bytes: %r" % err.strip())
    rc, _, err, _, _ = run([nndiff, "run", model, "--data", x1, "--max-memory", "0"])
    check(rc == 2 and one_line(err) and "expand_big" in err and "GiB" in err,
          "Expand to 10^10 pixels, no budget: exit 2 naming the node and bytes: %r" % err.strip())

    c = nh.from_array(np.ones((1, 3, 1, 1), np.float32), "c")
    g = helper.make_graph([helper.make_node("Expand", ["c", "shp"], ["e"], name="expand_const"),
                           helper.make_node("Add", ["x", "e"], ["y"], name="add")], "g",
                          [helper.make_tensor_value_info("x", T.FLOAT, ["N", 3, 1, 1])],
                          [helper.make_tensor_value_info("y", T.FLOAT, None)], [c, shp])
    model = save(onnx, helper, g, os.path.join(tmp, "expand_const.onnx"))
    for budget in ("4G", "0"):
        rc, _, err, _, _ = run([nndiff, "run", model, "--data", x1, "--max-memory", budget])
        check(rc == 2 and one_line(err) and "expand_const.onnx" in err and "expand_const'" in err
              and "'e'" in err and "bytes" in err,
              "folded Expand (--max-memory %s): exit 2 naming model, node, tensor, bytes: %r"
              % (budget, err.strip()))


def check_slice_lrn(nndiff, tmp, onnx, helper, T, nh, np, ort):
    from onnx.reference import ReferenceEvaluator
    x = np.random.RandomState(0).rand(2, 3, 4, 5).astype(np.float32)
    data = os.path.join(tmp, "x345.npy")
    np.save(data, x)
    cases = {"min_from_end": (I64MAX, I64MIN, I64MIN), "max_from_0": (0, I64MAX, I64MAX),
             "min_from_last": (-1, -I64MAX, I64MIN), "max_from_1": (1, I64MAX, I64MAX)}
    for name, (st, en, sp) in cases.items():
        inits = [nh.from_array(np.array([v], np.int64), k)
                 for k, v in (("st", st), ("en", en), ("ax", 3), ("sp", sp))]
        g = helper.make_graph([helper.make_node("Slice", ["x", "st", "en", "ax", "sp"], ["y"],
                                                name="slice")], "g",
                              [helper.make_tensor_value_info("x", T.FLOAT, ["N", 3, 4, 5])],
                              [helper.make_tensor_value_info("y", T.FLOAT, None)], inits)
        model = save(onnx, helper, g, os.path.join(tmp, "slice_%s.onnx" % name))
        want = ort.InferenceSession(model, providers=["CPUExecutionProvider"]).run(None, {"x": x})[0]
        for prec in ("fast", "reference"):
            rc, err, y = outputs_of(nndiff, model, data, tmp, ["--precision", prec])
            check(rc == 0 and close(y, want, 0),
                  "Slice %s (step %d, %s) equals ONNX Runtime: %d %s"
                  % (name, sp, prec, rc, err.strip()))
    g = helper.make_graph([helper.make_node("LRN", ["x"], ["y"], name="lrn", size=I64MAX)], "g",
                          [helper.make_tensor_value_info("x", T.FLOAT, ["N", 3, 4, 5])],
                          [helper.make_tensor_value_info("y", T.FLOAT, None)])
    model = save(onnx, helper, g, os.path.join(tmp, "lrn.onnx"))
    want = ReferenceEvaluator(model).run(None, {"x": x})[0]
    for prec in ("fast", "reference"):
        rc, err, y = outputs_of(nndiff, model, data, tmp, ["--precision", prec])
        check(rc == 0 and close(y, want), "LRN size INT64_MAX (%s) equals onnx.reference: %d %s"
              % (prec, rc, err.strip()))


def main(argv=None):
    p = argparse.ArgumentParser()
    p.add_argument("nndiff")
    p.add_argument("squeezenet")
    args = p.parse_args(argv)
    photos.require_modules("numpy", "onnx", "onnxruntime")
    paths = photos.require_photos(1)
    import numpy as np
    import onnx
    import onnxruntime as ort
    from onnx import TensorProto as T
    from onnx import helper
    from onnx import numpy_helper as nh
    ort.set_default_logger_severity(3)
    with tempfile.TemporaryDirectory() as tmp:
        os.chmod(tmp, 0o755)  # the ulimit -u case runs as nobody
        check_conv_stride(args.nndiff, tmp, onnx, helper, T, nh, np, ort)
        check_threads(args.nndiff, tmp, args.squeezenet, paths[0])
        check_aspect(args.nndiff, tmp, args.squeezenet, paths)
        check_batch_budget(args.nndiff, tmp, args.squeezenet, paths[0])
        check_sizes(args.nndiff, tmp, onnx, helper, T, nh, np)
        check_slice_lrn(args.nndiff, tmp, onnx, helper, T, nh, np, ort)
    if failures:
        print("%d check(s) failed" % len(failures))
        return 1
    print("all robustness-limit checks passed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
