"""Hostile input and hostile surroundings, the file-system side.

1. Inputs that are not regular files never block: a FIFO given as the
   model (with and without .onnx), as --data x.npy / x.jpg / x.npz / a bare
   name, as --labels (text and .npy), as an ONNX external-data file
   (directly and through a symlink) fails within a time bound with exit 2
   and one stderr line naming the file and "not a regular file (a FIFO)".
   A FIFO inside an image folder (also one named labels.txt) is passed over.
2. Results that belong together: `run --outputs a.npy --json missing/r.json`
   fails before the run (exit 2) and leaves no a.npy; compare and localize
   check --json the same way; the same path twice is refused.
3. Special output paths: --json /dev/null works and /dev/null is still the
   same character device; a FIFO output with a reader gets the whole .npy;
   a FIFO without one fails at once ("no reader").
4. localize stopped by SIGTERM / SIGINT mid-run exits 143 / 130 with one
   "interrupted" line and leaves no result or temporary file.

Self-contained: makes its own .npy and PNG with the standard library (onnx
only for the external-data model, skipped without it).

Usage: check_robustness_io.py NNDIFF SOURCE.onnx TARGET.onnx
"""
import os
import signal
import stat
import struct
import subprocess
import sys
import tempfile
import threading
import time
import zlib

TIME_BOUND = 30  # seconds; a blocking open would hang forever
failures = 0


def report(ok, what, detail=""):
    global failures
    print("%s %s%s" % ("ok  " if ok else "FAIL", what, (": " + detail) if detail and not ok else ""))
    failures += not ok


def run(cmd, timeout=TIME_BOUND):
    """(exit code, stdout, stderr, seconds); exit None when it had to be killed."""
    t0 = time.time()
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        out, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        out, err = proc.communicate()
        return None, out, err, time.time() - t0
    return proc.returncode, out, err, time.time() - t0


def expect_error(what, cmd, *needles):
    """Exit 2 within the time bound, one stderr line 'nndiff: ...' holding every needle."""
    rc, out, err, secs = run(cmd)
    lines = err.strip().splitlines()
    ok = (rc == 2 and len(lines) == 1 and lines[0].startswith("nndiff: ")
          and all(n in lines[0] for n in needles))
    report(ok, what, "exit %s after %.1fs, stderr %r" % (rc, secs, err.strip()))
    return ok


def write_npy_u8(path, shape, fill=None):
    """A C-order uint8 .npy; random bytes unless fill is given."""
    header = "{'descr': '|u1', 'fortran_order': False, 'shape': (%s), }" % "".join(
        "%d, " % d for d in shape)
    header = header.encode() + b" " * (118 - len(header)) + b"\n"
    n = 1
    for d in shape:
        n *= d
    with open(path, "wb") as f:
        f.write(b"\x93NUMPY\x01\x00" + struct.pack("<H", len(header)) + header)
        f.write(os.urandom(n) if fill is None else bytes([fill]) * n)


def write_npy_i64(path, values):
    header = "{'descr': '<i8', 'fortran_order': False, 'shape': (%d,), }" % len(values)
    header = header.encode() + b" " * (118 - len(header)) + b"\n"
    with open(path, "wb") as f:
        f.write(b"\x93NUMPY\x01\x00" + struct.pack("<H", len(header)) + header)
        f.write(struct.pack("<%dq" % len(values), *values))


def write_png(path, w=32, h=24):
    def chunk(kind, data):
        return (struct.pack(">I", len(data)) + kind + data +
                struct.pack(">I", zlib.crc32(kind + data) & 0xffffffff))
    rows = b"".join(b"\x00" + bytes((x * 7 + y * 3) % 256 for x in range(w * 3)) for y in range(h))
    with open(path, "wb") as f:
        f.write(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 8, 2, 0, 0, 0)) +
                chunk(b"IDAT", zlib.compress(rows)) + chunk(b"IEND", b""))


def fifo_inputs(nndiff, model, other, tmp):
    """1. Every input kind as a FIFO nobody writes to."""
    fifos = {}
    for name in ("model", "model.onnx", "x.npy", "x.jpg", "x.npz", "x", "labels.txt",
                 "labels.npy"):
        fifos[name] = os.path.join(tmp, name)
        os.mkfifo(fifos[name])
    x = os.path.join(tmp, "small.npy")
    write_npy_u8(x, (2, 3, 224, 224), fill=0)
    fifo_msg = "not a regular file (a FIFO)"
    for name in ("model", "model.onnx"):
        p = fifos[name]
        expect_error("inspect with a FIFO %s" % name, [nndiff, "inspect", p], p, fifo_msg)
        expect_error("run with a FIFO %s" % name, [nndiff, "run", p, "--data", x], p, fifo_msg)
        expect_error("compare with a FIFO %s" % name, [nndiff, "compare", model, p, "--data", x],
                     p, fifo_msg)
        expect_error("localize with a FIFO %s" % name, [nndiff, "localize", p, other], p, fifo_msg)
    for name in ("x.npy", "x.jpg", "x.npz", "x"):
        p = fifos[name]
        expect_error("run --data FIFO %s" % name, [nndiff, "run", model, "--data", p], p, fifo_msg)
        expect_error("compare --data FIFO %s" % name,
                     [nndiff, "compare", model, other, "--data", p], p, fifo_msg)
        expect_error("localize --data FIFO %s" % name,
                     [nndiff, "localize", model, other, "--data", p], p, fifo_msg)
    p = fifos["x.npz"] + ":images"
    expect_error("run --data FIFO x.npz:member", [nndiff, "run", model, "--data", p],
                 fifos["x.npz"], fifo_msg)
    expect_error("run --labels FIFO .npy for tensors",
                 [nndiff, "run", model, "--data", x, "--labels", fifos["labels.npy"]],
                 fifos["labels.npy"], fifo_msg)

    # An image folder: a FIFO named like an image, and one named like the
    # folder's own labels file, are passed over without being opened.
    imgs = os.path.join(tmp, "imgs")
    os.makedirs(imgs)
    write_png(os.path.join(imgs, "a.png"))
    os.mkfifo(os.path.join(imgs, "b.jpg"))
    os.mkfifo(os.path.join(imgs, "labels.txt"))
    rc, out, err, secs = run([nndiff, "run", model, "--data", imgs, "--json", "-"])
    report(rc == 0 and '"file": "a.png"' in out and "b.jpg" not in out,
           "run over a folder holding FIFOs (b.jpg, labels.txt) skips them",
           "exit %s after %.1fs, stderr %r" % (rc, secs, err.strip()))
    expect_error("run --labels FIFO for images",
                 [nndiff, "run", model, "--data", imgs, "--labels", fifos["labels.txt"]],
                 fifos["labels.txt"], fifo_msg)
    expect_error("run --data FIFO image inside a folder",
                 [nndiff, "run", model, "--data", os.path.join(imgs, "b.jpg")], "b.jpg", fifo_msg)


def fifo_external_data(nndiff, model, tmp):
    """1. An ONNX model whose external data file is a FIFO, or a symlink to one."""
    try:
        import onnx
    except ImportError:
        print("skip external data: onnx missing")
        return
    ext = os.path.join(tmp, "ext")
    os.makedirs(ext)
    m = onnx.load(model)
    path = os.path.join(ext, "m.onnx")
    onnx.save_model(m, path, save_as_external_data=True, all_tensors_to_one_file=True,
                    location="weights.bin", size_threshold=1024)
    rc, out, err, _ = run([nndiff, "inspect", path])
    report(rc == 0, "inspect of the external-data model itself", err.strip())
    weights = os.path.join(ext, "weights.bin")
    os.remove(weights)
    os.mkfifo(weights)
    expect_error("inspect with a FIFO as external data", [nndiff, "inspect", path], path,
                 "weights.bin", "not a regular file (a FIFO)")
    os.remove(weights)
    os.mkfifo(os.path.join(ext, "pipe"))
    os.symlink("pipe", weights)
    expect_error("inspect with external data a symlink to a FIFO",
                 [nndiff, "inspect", path], path, "weights.bin", "not a regular file (a FIFO)")


def results_together(nndiff, model, other, tmp):
    """2. A result path that cannot be written fails before any work, leaving nothing."""
    out = os.path.join(tmp, "results")
    os.makedirs(out)
    x = os.path.join(tmp, "four.npy")
    write_npy_u8(x, (4, 3, 224, 224))
    a, missing = os.path.join(out, "a.npy"), os.path.join(out, "missing", "r.json")
    expect_error("run --outputs a.npy --json missing/r.json",
                 [nndiff, "run", model, "--data", x, "--outputs", a, "--json", missing],
                 missing, "No such file or directory")
    report(os.listdir(out) == [], "... leaves no a.npy and no temporary", str(os.listdir(out)))
    expect_error("run --json missing/r.json --outputs a.npy (other order)",
                 [nndiff, "run", model, "--data", x, "--json", missing, "--outputs", a], missing)
    report(os.listdir(out) == [], "... leaves nothing either", str(os.listdir(out)))
    expect_error("compare --json missing/r.json",
                 [nndiff, "compare", model, other, "--data", x, "--json", missing], missing)
    expect_error("localize --json missing/r.json",
                 [nndiff, "localize", model, other, "--data", x, "--json", missing], missing)
    expect_error("run with one path for --outputs and --json",
                 [nndiff, "run", model, "--data", x, "--outputs", a, "--json", a], a,
                 "named for two results")
    report(os.listdir(out) == [], "no file left by any of these", str(os.listdir(out)))
    rc, _, err, _ = run([nndiff, "run", model, "--data", x, "--outputs", a, "--json",
                         os.path.join(out, "r.json")])
    report(rc == 0 and sorted(os.listdir(out)) == ["a.npy", "r.json"],
           "the same run with writable paths writes both", "exit %s %r" % (rc, err.strip()))


def special_outputs(nndiff, model, tmp):
    """3. /dev/null and FIFOs are written into, never replaced."""
    x = os.path.join(tmp, "two.npy")
    write_npy_u8(x, (2, 3, 224, 224))
    # A private copy of /dev/null first, where mknod is allowed (root): a
    # binary that still renamed over device nodes would, as root, replace the
    # real /dev/null for the whole machine. Only when the copy survives is
    # the real one written into.
    devices = []
    private = os.path.join(tmp, "null")
    try:
        os.mknod(private, 0o666 | stat.S_IFCHR, os.makedev(1, 3))
        devices.append(private)
    except OSError:
        pass  # not root: a rename into /dev fails anyway, /dev/null is safe
    devices.append("/dev/null")
    for dev in devices:
        before = os.stat(dev)
        rc, _, err, _ = run([nndiff, "run", model, "--data", x, "--json", dev])
        rc2, _, err2, _ = run([nndiff, "inspect", model, "--json", dev])
        after = os.stat(dev)
        ok = (rc == 0 and rc2 == 0 and stat.S_ISCHR(after.st_mode) and
              after.st_rdev == before.st_rdev and after.st_ino == before.st_ino and
              not [f for f in os.listdir(os.path.dirname(dev)) if f.startswith("null.tmp")])
        report(ok, "run/inspect --json %s: still the same character device" % dev,
               "exit %s/%s %r, mode %o" % (rc, rc2, (err + err2).strip(), after.st_mode))
        if not ok:
            print("     (the real /dev/null is left alone)")
            break

    fifo = os.path.join(tmp, "out.fifo")
    os.mkfifo(fifo)
    expect_error("run --outputs FIFO with no reader",
                 [nndiff, "run", model, "--data", x, "--outputs", fifo], fifo, "no reader")
    got = {}

    def reader():
        with open(fifo, "rb") as f:  # blocks until nndiff opens it for writing
            got["data"] = f.read()
    t = threading.Thread(target=reader, daemon=True)
    t.start()
    deadline = time.time() + TIME_BOUND
    rc = None
    while time.time() < deadline:  # the reader must hold the FIFO open first
        rc, _, err, _ = run([nndiff, "run", model, "--data", x, "--outputs", fifo])
        if rc != 2 or "no reader" not in err:
            break
        time.sleep(0.05)
    t.join(TIME_BOUND)
    data = got.get("data", b"")
    ok = (rc == 0 and data[:6] == b"\x93NUMPY" and b"(2, 1000)" in data[:128] and
          len(data) == 128 + 2 * 1000 * 4 and stat.S_ISFIFO(os.lstat(fifo).st_mode))
    report(ok, "run --outputs FIFO with a reader: the reader gets the whole .npy",
           "exit %s %r, %d bytes" % (rc, err.strip(), len(data)))
    report(sorted(os.listdir(tmp)).count("out.fifo") == 1 and
           not [f for f in os.listdir(tmp) if f.startswith("out.fifo.tmp")],
           "no temporary beside the FIFO")


def localize_stopped(nndiff, source, target, tmp):
    """4. SIGTERM / SIGINT to localize mid-run."""
    data = os.path.join(tmp, "many.npy")
    write_npy_u8(data, (300, 3, 224, 224))
    out = os.path.join(tmp, "loc")
    os.makedirs(out)
    js = os.path.join(out, "loc.json")
    cmd = [nndiff, "localize", source, target, "--data", data, "--json", js]
    for sig, want in ((signal.SIGTERM, 143), (signal.SIGINT, 130)):
        proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        deadline = time.time() + 60
        while time.time() < deadline and proc.poll() is None and not os.listdir(out):
            time.sleep(0.02)
        started = bool(os.listdir(out))  # the JSON's temporary: the path was checked
        time.sleep(1.5)  # into the outputs pass: 300 inputs take far longer
        running = proc.poll() is None
        if running:
            proc.send_signal(sig)
        try:
            _, err = proc.communicate(timeout=TIME_BOUND)
        except subprocess.TimeoutExpired:
            proc.kill()
            _, err = proc.communicate()
        left = os.listdir(out)
        name = signal.Signals(sig).name
        ok = (running and started and proc.returncode == want and not left and
              "interrupted by %s" % name in err and len(err.strip().splitlines()) == 1)
        report(ok, "localize %s mid-run: exit %s (want %d), nothing left" % (
            name, proc.returncode, want), "running %s, left %s, stderr %r" % (
            running, left, err.strip()))
        for f in left:
            os.remove(os.path.join(out, f))


def main():
    if len(sys.argv) != 4:
        print(__doc__)
        return 2
    nndiff, source, target = sys.argv[1:4]
    with tempfile.TemporaryDirectory() as tmp:
        for i, part in enumerate((fifo_inputs, fifo_external_data, results_together,
                                  special_outputs, localize_stopped)):
            sub = os.path.join(tmp, str(i))
            os.makedirs(sub)
            if part is fifo_external_data or part is special_outputs:
                part(nndiff, source, sub)
            else:
                part(nndiff, source, target, sub)
    print("%d failure(s)" % failures)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
