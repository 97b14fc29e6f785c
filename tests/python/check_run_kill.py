"""Result files are never half-written: `nndiff run` killed mid-run leaves
nothing at its --outputs/--json paths and no temporary file beside them.

Starts `nndiff run MODEL --data big.npy --outputs OUT/out.npy --json
OUT/run.json` on 1000 inputs (a uint8 .npy [1000,3,224,224], converted to
float by the dataset reader), waits until the run is under way (its
temporary output file exists and some time has passed), then sends SIGTERM
(and, in a second run, SIGINT). Requires exit 143 (130), one "interrupted"
line on stderr, and an empty OUT directory. A last run with --limit 16
completes, so the same command does write both files when not interrupted.

Usage: check_run_kill.py NNDIFF MODEL.onnx
"""
import os
import signal
import subprocess
import sys
import tempfile
import time

N = 1000


def main():
    nndiff, model = sys.argv[1], sys.argv[2]
    try:
        import numpy as np
    except ImportError:
        print("skipped: numpy missing")
        return 77
    failures = 0
    with tempfile.TemporaryDirectory() as tmp:
        data = os.path.join(tmp, "big.npy")
        rng = np.random.RandomState(0)
        arr = np.lib.format.open_memmap(data, mode="w+", dtype=np.uint8, shape=(N, 3, 224, 224))
        for i in range(0, N, 100):
            arr[i:i + 100] = rng.randint(0, 256, size=(100, 3, 224, 224), dtype=np.uint8)
        del arr
        out_dir = os.path.join(tmp, "out")
        os.makedirs(out_dir)
        npy, js = os.path.join(out_dir, "out.npy"), os.path.join(out_dir, "run.json")
        cmd = [nndiff, "run", model, "--data", data, "--outputs", npy, "--json", js]
        for sig, want in ((signal.SIGTERM, 143), (signal.SIGINT, 130)):
            proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
            deadline = time.time() + 60
            while time.time() < deadline and proc.poll() is None and not os.listdir(out_dir):
                time.sleep(0.02)
            started = os.listdir(out_dir)
            time.sleep(1.0)  # well into the run: ~1000 inputs take much longer
            running = proc.poll() is None
            if running:
                proc.send_signal(sig)
            stdout, stderr = proc.communicate(timeout=120)
            left = os.listdir(out_dir)
            name = signal.Signals(sig).name
            ok = (running and started and proc.returncode == want and not left
                  and "interrupted" in stderr and len(stderr.strip().splitlines()) == 1)
            print("%s %s mid-run: temporary file while running %s, exit %s (want %d), left %s, "
                  "stderr %r" % ("ok  " if ok else "FAIL", name, started, proc.returncode, want,
                                 left, stderr.strip()))
            failures += not ok
            for f in left:
                os.remove(os.path.join(out_dir, f))
        proc = subprocess.run(cmd + ["--limit", "16"], capture_output=True, text=True)
        left = sorted(os.listdir(out_dir))
        ok = proc.returncode == 0 and left == ["out.npy", "run.json"] and \
            np.load(npy).shape == (16, 1000)
        print("%s uninterrupted run (--limit 16): exit %d, files %s" % (
            "ok  " if ok else "FAIL", proc.returncode, left))
        failures += not ok
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
