#!/usr/bin/env python3
"""nndiff's engine against ONNX Runtime, side by side, in one run.

For every model, one random-but-seeded float32 input set (normal(0, 1),
shape [max batch, C, H, W], seeded by --seed and the model's name) is
written to a file and fed to both runtimes. For every thread count T and
batch B:

  * nndiff: bench/bench_engine --serve (the C engine, fast precision, no
    Python in the timed path) with --threads T --batch B, reading the input
    file; it times each nnd_engine_run itself (CLOCK_MONOTONIC);
  * ONNX Runtime: an InferenceSession with intra_op_num_threads = T,
    inter_op_num_threads = 1, sequential execution, graph optimisations ALL,
    CPU provider, run through IOBinding (input and output buffers bound
    once, so no allocation or copy in the timed call), timed with
    time.perf_counter around run_with_iobinding;
  * both warm up (--warmup runs), then their outputs on the same input are
    compared (normalised max |diff| = max|a - b| / max|b|, relative L2 and
    top-1 agreement) so the timings compare equal work;
  * then --iters timed runs each, interleaved A B B A A B ... (the order
    alternates so neither side always runs right after the other), with a
    --gap-ms pause between runs so one runtime's spinning worker threads
    (OpenMP, ORT's pool) have gone to sleep before the other starts.

Prints the machine (CPU model, cores, load average at start and end; a
warning when the load is above 0.5, i.e. the numbers are noisy) and a table:
median and min ms, images/s and the speed ratio nndiff/ORT (images/s over
images/s, from the medians: > 1 means nndiff is faster).

  bench_vs_ort.py [--models mobilenet_v2,resnet50,inception_v3 | PATH.onnx,...]
                  [--threads 1,2] [--batches 1,8] [--iters 20] [--warmup 3]
                  [--quick] [--json FILE] [--markdown] [--profile] [--memory]

Models given by name are read from --model-dir (fixtures/torchvision) and
exported there on demand with tools/export_torchvision.py. --profile also
prints bench_engine --profile (batch 1, 1 thread) for each model; --memory
measures peak RSS of bench_engine and of a fresh ORT process per model
(batch 1, 1 thread), each alone.
"""
import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
import zlib

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DEFAULT_MODELS = "mobilenet_v2,resnet50,inception_v3"


# ----------------------------------------------------------------- machine

def cpu_model():
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def cpu_flags():
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("flags"):
                    fl = set(line.split(":", 1)[1].split())
                    return [x for x in ("avx2", "fma", "avx512f", "avx512_vnni", "amx_tile") if x in fl]
    except OSError:
        pass
    return []


def loadavg():
    try:
        return os.getloadavg()
    except OSError:
        return (float("nan"),) * 3


def mem_total_gb():
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemTotal:"):
                    return int(line.split()[1]) / 1024 / 1024
    except OSError:
        pass
    return float("nan")


def git_rev():
    try:
        rev = subprocess.run(["git", "-C", ROOT, "rev-parse", "--short", "HEAD"], capture_output=True,
                             text=True, check=True).stdout.strip()
        dirty = subprocess.run(["git", "-C", ROOT, "status", "--porcelain", "--untracked-files=no"],
                               capture_output=True, text=True).stdout.strip()
        return rev + ("+dirty" if dirty else "")
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def machine_info():
    import onnxruntime as ort
    return {
        "cpu": cpu_model(),
        "cpu_flags": cpu_flags(),
        "logical_cpus": os.cpu_count(),
        "usable_cpus": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count(),
        "mem_gb": round(mem_total_gb(), 1),
        "kernel": platform.release(),
        "python": platform.python_version(),
        "onnxruntime": ort.__version__,
        "numpy": np.__version__,
        "nndiff_rev": git_rev(),
    }


def vm_status_kb():
    out = {}
    try:
        with open("/proc/self/status") as f:
            for line in f:
                k, _, v = line.partition(":")
                if k in ("VmHWM", "VmRSS", "RssAnon", "RssFile"):
                    out[k] = int(v.split()[0])
    except OSError:
        pass
    return out


# ------------------------------------------------------------------ models

def resolve_models(spec, model_dir, python):
    """Names -> model_dir/NAME.onnx (exported when missing); paths kept."""
    out, missing = [], []
    for m in [s.strip() for s in spec.split(",") if s.strip()]:
        if m.endswith(".onnx") or os.sep in m:
            if not os.path.exists(m):
                sys.exit("bench_vs_ort: no such model file: %s" % m)
            out.append((os.path.basename(m)[:-5] if m.endswith(".onnx") else m, m))
        else:
            p = os.path.join(model_dir, m + ".onnx")
            if not os.path.exists(p):
                missing.append(m)
            out.append((m, p))
    if missing:
        print("exporting %s into %s ..." % (",".join(missing), model_dir), flush=True)
        subprocess.run([python, os.path.join(ROOT, "tools", "export_torchvision.py"), "--out", model_dir,
                        "--models", ",".join(missing)], check=True)
    return out


def make_input(name, shape, seed):
    rng = np.random.default_rng([seed, zlib.crc32(name.encode())])
    return rng.standard_normal(shape, dtype=np.float32)


def ort_session(path, threads):
    import onnxruntime as ort
    so = ort.SessionOptions()
    so.intra_op_num_threads = threads
    so.inter_op_num_threads = 1
    so.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    so.log_severity_level = 3
    return ort.InferenceSession(path, so, providers=["CPUExecutionProvider"])


def resolve_shape(shape, batch):
    return [d if isinstance(d, int) and d > 0 else batch for d in shape]


class OrtRunner:
    """One session, IOBinding with the input and output buffers bound once."""

    def __init__(self, path, threads, x):
        import onnxruntime as ort
        self.sess = ort_session(path, threads)
        inp = self.sess.get_inputs()[0]
        self.x = np.ascontiguousarray(x)
        self.binding = self.sess.io_binding()
        self.binding.bind_ortvalue_input(inp.name, ort.OrtValue.ortvalue_from_numpy(self.x))
        outs = self.sess.get_outputs()
        self.y = np.empty(resolve_shape(outs[0].shape, x.shape[0]), dtype=np.float32)
        self.binding.bind_ortvalue_output(outs[0].name, ort.OrtValue.ortvalue_from_numpy(self.y))
        for o in outs[1:]:
            self.binding.bind_output(o.name, "cpu")

    def run(self):
        t0 = time.perf_counter()
        self.sess.run_with_iobinding(self.binding)
        return (time.perf_counter() - t0) * 1e3


class EngineRunner:
    """bench_engine --serve: one process per (model, threads, batch)."""

    def __init__(self, exe, model, threads, batch, input_path, warmup, log, env=None):
        cmd = [exe, model, "--serve", "--threads", str(threads), "--batch", str(batch), "--warmup",
               str(warmup), "--input", input_path]
        self.p = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=log, text=True,
                                  bufsize=1, env=env)
        line = self.p.stdout.readline()
        if not line.startswith("READY "):
            self.p.kill()
            raise RuntimeError("bench_engine did not start (%s): %r; see its log %s" %
                               (" ".join(cmd), line, log.name))
        self.info = json.loads(line[6:])

    def _ask(self, cmd, prefix):
        self.p.stdin.write(cmd + "\n")
        self.p.stdin.flush()
        line = self.p.stdout.readline()
        if not line.startswith(prefix):
            raise RuntimeError("bench_engine: %r -> %r" % (cmd, line))
        return line[len(prefix):].strip()

    def run(self):
        return float(self._ask("run 1", "TIMES "))

    def output(self, path, shape):
        self._ask("output " + path, "OK")
        return np.fromfile(path, dtype=np.float32).reshape(shape)

    def rss(self):
        return json.loads(self._ask("rss", "RSS "))

    def close(self):
        try:
            self.p.stdin.write("quit\n")
            self.p.stdin.flush()
        except (BrokenPipeError, ValueError):
            pass
        self.p.wait(timeout=60)


def agreement(ours, ref):
    ours = ours.astype(np.float64)
    ref = ref.astype(np.float64)
    d = np.abs(ours - ref)
    res = {
        "max_abs_diff": float(d.max()),
        "max_diff_norm": float(d.max() / max(np.abs(ref).max(), 1e-30)),
        "rel_l2": float(np.linalg.norm(ours - ref) / max(np.linalg.norm(ref), 1e-30)),
    }
    if ref.ndim == 2:
        res["top1_agree"] = int((ours.argmax(1) == ref.argmax(1)).sum())
        res["n"] = int(ref.shape[0])
    return res


def stats(ms, batch):
    a = np.asarray(ms)
    med = float(np.median(a))
    return {"median_ms": med, "min_ms": float(a.min()), "p25_ms": float(np.percentile(a, 25)),
            "p75_ms": float(np.percentile(a, 75)), "images_per_s": batch * 1e3 / med,
            "images_per_s_min": batch * 1e3 / float(a.min()), "times_ms": [round(t, 4) for t in ms]}


def engine_env(args):
    """The environment bench_engine runs in: ours plus --engine-env."""
    env = dict(os.environ)
    for kv in args.engine_env:
        k, _, v = kv.partition("=")
        env[k] = v
    return env


def bench_config(exe, name, path, input_path, x_all, threads, batch, args, workdir, log):
    x = x_all[:batch]
    load0 = loadavg()[0]
    eng = EngineRunner(exe, path, threads, batch, input_path, args.warmup, log, engine_env(args))
    try:
        ortr = OrtRunner(path, threads, x)
        for _ in range(args.warmup):
            ortr.run()
        ortr.run()
        ours = eng.output(os.path.join(workdir, "%s_b%d_t%d.out.f32" % (name, batch, threads)), ortr.y.shape)
        agree = agreement(ours, ortr.y)
        t_nnd, t_ort = [], []
        gap = args.gap_ms / 1e3
        for i in range(args.iters):
            order = (0, 1) if i % 2 == 0 else (1, 0)  # A B, B A, A B ...
            for who in order:
                time.sleep(gap)
                if who == 0:
                    t_nnd.append(eng.run())
                else:
                    t_ort.append(ortr.run())
        rss = eng.rss()
    finally:
        eng.close()
    return {
        "model": name, "threads": threads, "batch": batch, "iters": args.iters, "warmup": args.warmup,
        "load_start": load0, "load_end": loadavg()[0],
        "nndiff": dict(stats(t_nnd, batch), backend=eng.info.get("backend"),
                       activation_bytes=eng.info.get("activation_bytes"), peak_rss_kb=rss.get("peak_rss_kb")),
        "ort": stats(t_ort, batch),
        "agreement": agree,
    }


# --------------------------------------------------------------- reporting

def fmt_row(r):
    n, o, a = r["nndiff"], r["ort"], r["agreement"]
    ratio = n["images_per_s"] / o["images_per_s"]
    top1 = "%d/%d" % (a["top1_agree"], a["n"]) if "top1_agree" in a else "-"
    return [r["model"], str(r["threads"]), str(r["batch"]),
            "%.2f" % n["median_ms"], "%.2f" % n["min_ms"], "%.1f" % n["images_per_s"],
            "%.2f" % o["median_ms"], "%.2f" % o["min_ms"], "%.1f" % o["images_per_s"],
            "%.2f" % ratio, "%.1e" % a["max_diff_norm"], top1, "%.2f" % r["load_start"]]


HEADER = ["model", "T", "B", "nnd med ms", "nnd min ms", "nnd img/s", "ORT med ms", "ORT min ms", "ORT img/s",
          "nnd/ORT", "max diff (norm)", "top-1", "load"]


def print_table(rows, markdown):
    cells = [HEADER] + [fmt_row(r) for r in rows]
    if markdown:
        print("| " + " | ".join(HEADER) + " |")
        print("|" + "|".join("---" if i < 3 else "---:" for i in range(len(HEADER))) + "|")
        for c in cells[1:]:
            print("| " + " | ".join(c) + " |")
        return
    w = [max(len(c[i]) for c in cells) for i in range(len(HEADER))]
    for k, c in enumerate(cells):
        print("  ".join(s.ljust(w[i]) if i == 0 else s.rjust(w[i]) for i, s in enumerate(c)))
        if k == 0:
            print("  ".join("-" * x for x in w))


# ------------------------------------------------------------------ memory

def ort_child(path, batch, threads, iters, seed):
    """Runs in a fresh process: peak RSS of ORT alone (printed as JSON)."""
    import onnxruntime as ort  # noqa: F401  (the baseline includes the import)
    base = vm_status_kb()
    sess = ort_session(path, threads)
    after_create = vm_status_kb()
    inp = sess.get_inputs()[0]
    x = make_input(os.path.basename(path)[:-5], resolve_shape(inp.shape, batch), seed)
    for _ in range(iters):
        sess.run(None, {inp.name: x})
    end = vm_status_kb()
    print(json.dumps({"baseline": base, "after_create": after_create, "end": end}))


def measure_memory(exe, name, path, input_path, seed, python):
    r = subprocess.run([exe, path, "--iters", "10", "--warmup", "2", "--input", input_path],
                       capture_output=True, text=True, check=True)
    res = [json.loads(l[7:]) for l in r.stdout.splitlines() if l.startswith("RESULT ")][0]
    o = subprocess.run([python, os.path.abspath(__file__), "--ort-child", path, "--seed", str(seed)],
                       capture_output=True, text=True, check=True)
    oj = json.loads(o.stdout.strip().splitlines()[-1])
    return {"model": name, "nndiff": {k: res[k] for k in ("peak_rss_kb", "rss_kb", "rss_anon_kb", "rss_file_kb",
                                                           "activation_bytes", "naive_activation_bytes",
                                                           "weight_bytes")},
            "ort": oj}


# -------------------------------------------------------------------- main

def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--models", default=DEFAULT_MODELS, help="names (fixtures) or .onnx paths, comma separated")
    ap.add_argument("--model-dir", default=os.path.join(ROOT, "fixtures", "torchvision"))
    ap.add_argument("--threads", default="1,2")
    ap.add_argument("--batches", default="1,8")
    ap.add_argument("--iters", type=int, default=20)
    ap.add_argument("--warmup", type=int, default=3)
    ap.add_argument("--gap-ms", type=float, default=25.0, help="pause before each timed run")
    ap.add_argument("--engine-env", action="append", default=[], metavar="KEY=VALUE",
                    help="environment for bench_engine only, e.g. OMP_WAIT_POLICY=passive (repeatable)")
    ap.add_argument("--quick", action="store_true", help="5 iterations, 1 warm-up")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--bench-engine", default=None, help="default: build/bench/bench_engine")
    ap.add_argument("--python", default=sys.executable, help="for exporting models / ORT memory child")
    ap.add_argument("--json", help="write every measurement (all times) here")
    ap.add_argument("--markdown", action="store_true", help="print the table as Markdown")
    ap.add_argument("--profile", action="store_true", help="also bench_engine --profile, batch 1, 1 thread")
    ap.add_argument("--memory", action="store_true", help="also peak RSS, each runtime alone")
    ap.add_argument("--no-timing", action="store_true", help="skip the side-by-side timing")
    ap.add_argument("--from-json", help="print the table of earlier --json files (comma separated) and exit")
    ap.add_argument("--ort-child", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.ort_child:
        ort_child(args.ort_child, 1, 1, 10, args.seed)
        return 0
    if args.from_json:
        rows = []
        for fn in args.from_json.split(","):
            with open(fn) as f:
                j = json.load(f)
            print("%s: %s; load %.2f -> %.2f; %d runs, %d warm-up%s" %
                  (fn, j["machine"]["cpu"], j["load_start"][0], j["load_end"][0], j["iters"], j["warmup"],
                   "; bench_engine env " + " ".join(j["engine_env"]) if j.get("engine_env") else ""))
            rows += j["rows"]
        print_table(rows, args.markdown)
        return 0
    if args.quick:
        args.iters, args.warmup = 5, 1
    exe = args.bench_engine or os.path.join(ROOT, "build", "bench", "bench_engine")
    if not os.access(exe, os.X_OK):
        sys.exit("bench_vs_ort: %s not built (cmake --build build --target bench_engine)" % exe)
    threads = [int(t) for t in args.threads.split(",")]
    batches = [int(b) for b in args.batches.split(",")]
    models = resolve_models(args.models, args.model_dir, args.python)

    info = machine_info()
    load_start = loadavg()
    print("machine: %s, %d logical CPUs (%d usable), %.1f GB, flags %s; Linux %s" %
          (info["cpu"], info["logical_cpus"], info["usable_cpus"], info["mem_gb"], " ".join(info["cpu_flags"]),
           info["kernel"]))
    print("software: nndiff %s (bench_engine %s), onnxruntime %s, numpy %s, python %s" %
          (info["nndiff_rev"], exe, info["onnxruntime"], info["numpy"], info["python"]))
    print("load average at start: %.2f %.2f %.2f" % load_start)
    if load_start[0] > 0.5:
        print("WARNING: load average %.2f > 0.5: other processes compete for the CPUs; numbers are noisy"
              % load_start[0])
    print("method: %d warm-up + %d timed runs each, interleaved (ABBA), %.0f ms gap; seed %d%s" %
          (args.warmup, args.iters, args.gap_ms, args.seed,
           "; bench_engine env " + " ".join(args.engine_env) if args.engine_env else ""), flush=True)
    omp = {k: os.environ[k] for k in os.environ if k.startswith(("OMP_", "GOMP_", "KMP_", "DNNL_", "ONEDNN_"))}
    if omp:
        print("environment: %s" % " ".join("%s=%s" % kv for kv in sorted(omp.items())))

    workdir = tempfile.mkdtemp(prefix="bench_vs_ort_")
    log = open(os.path.join(workdir, "bench_engine.log"), "w")
    rows, mem, inputs = [], [], {}
    import onnxruntime as ort  # noqa: F401
    for name, path in models:
        s = ort_session(path, 1)
        shape = resolve_shape(s.get_inputs()[0].shape, max(batches))
        del s
        x = make_input(name, shape, args.seed)
        input_path = os.path.join(workdir, name + ".in.f32")
        x.tofile(input_path)
        inputs[name] = (path, input_path, x)

    if not args.no_timing:
        for name, (path, input_path, x) in inputs.items():
            for t in threads:
                for b in batches:
                    r = bench_config(exe, name, path, input_path, x, t, b, args, workdir, log)
                    rows.append(r)
                    n, o = r["nndiff"], r["ort"]
                    print("  %-14s T=%d B=%d  nndiff %8.2f ms (min %8.2f)  ORT %8.2f ms (min %8.2f)  "
                          "nnd/ORT %.2f  max|d|/max|y| %.1e  load %.2f" %
                          (name, t, b, n["median_ms"], n["min_ms"], o["median_ms"], o["min_ms"],
                           n["images_per_s"] / o["images_per_s"], r["agreement"]["max_diff_norm"],
                           r["load_start"]), flush=True)
    load_end = loadavg()

    if rows:
        print()
        print("median / min over %d runs; img/s from the median; nnd/ORT = images/s ratio (> 1: nndiff faster);"
              " max diff (norm) = max |nndiff - ORT| / max |ORT| on the same input; load = 1-min load at start"
              % args.iters)
        print_table(rows, args.markdown)

    if args.profile:
        for name, (path, input_path, _) in inputs.items():
            print("\n== bench_engine --profile: %s, batch 1, 1 thread ==" % name, flush=True)
            r = subprocess.run([exe, path, "--profile", "--iters", str(max(args.iters, 10)), "--warmup",
                                str(args.warmup), "--input", input_path], capture_output=True, text=True,
                               check=True)
            print("\n".join(l for l in r.stdout.splitlines() if not l.startswith("RESULT ")))

    if args.memory:
        print("\nmemory (batch 1, 1 thread, each runtime in its own process, 10 runs):")
        for name, (path, input_path, _) in inputs.items():
            m = measure_memory(exe, name, path, input_path, args.seed, args.python)
            mem.append(m)
            n, o = m["nndiff"], m["ort"]
            print("  %-14s nndiff peak RSS %.1f MB (end %.1f MB: %.1f anon + %.1f file; activation arena %.1f MB)"
                  % (name, n["peak_rss_kb"] / 1024, n["rss_kb"] / 1024, n["rss_anon_kb"] / 1024,
                     n["rss_file_kb"] / 1024, n["activation_bytes"] / 1e6))
            print("  %-14s ORT    peak RSS %.1f MB (python + numpy + onnxruntime imported: %.1f MB; "
                  "end %.1f MB: %.1f anon + %.1f file)"
                  % ("", o["end"]["VmHWM"] / 1024, o["baseline"]["VmHWM"] / 1024, o["end"]["VmRSS"] / 1024,
                     o["end"].get("RssAnon", 0) / 1024, o["end"].get("RssFile", 0) / 1024))

    print("\nload average at end: %.2f %.2f %.2f" % load_end)
    if max(load_start[0], load_end[0]) > 0.5:
        print("WARNING: load above 0.5 during the run: numbers are noisy; rerun on a quiet machine")
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"machine": info, "load_start": load_start, "load_end": load_end, "engine_env": args.engine_env,
                       "iters": args.iters, "warmup": args.warmup, "gap_ms": args.gap_ms, "seed": args.seed,
                       "rows": rows, "memory": mem}, f, indent=1)
    log.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
