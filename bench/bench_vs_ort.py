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
  * then --iters timed runs each, interleaved in turns: --block runs of A,
    --block runs of B, then B, A, A, B ... (the order alternates so neither
    side always follows the other). Each turn starts after a --gap-ms pause
    (longer than the other runtime's idle spinning: ORT's pool burns about
    40 ms of CPU after a run, libgomp about 10 ms, which would steal a core
    from a 2-thread run) and --rewarm untimed runs (waking a thread pool
    that went to sleep costs the first run of a turn several ms on this VM).
    --block 1 --rewarm 0 gives strict A B B A alternation.

Prints the machine (CPU model, cores, load average at start and end) and a
table: median and min ms, images/s and the speed ratio nndiff/ORT (images/s
over images/s, from the medians: > 1 means nndiff is faster), the output
agreement, and per configuration the cores other processes kept busy while
it was timed (/proc/stat minus our own CPU time; the load average counts
this benchmark too). It warns when the load at the start is above 0.5 or
other processes used more than 0.1 core: the numbers are then noisy.

  bench_vs_ort.py [--models mobilenet_v2,resnet50,inception_v3 | PATH.onnx,...]
                  [--threads 1,2] [--batches 1,8] [--iters 20] [--warmup 3]
                  [--block 5] [--rewarm 1] [--gap-ms 100] [--quick] [--json FILE]
                  [--markdown] [--profile] [--memory] [--engine-env K=V]
                  [--from-json FILE,...]

Models given by name are read from --model-dir (fixtures/torchvision) and
exported there on demand with tools/export_torchvision.py. --profile also
prints bench_engine --profile (batch 1, 1 thread) for each model; --memory
measures peak RSS of bench_engine and of a fresh ORT process per model
(batch 1, 1 thread), each alone.
"""
import argparse
import importlib
import json
import os
import platform
import shutil
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


def proc_stat_s():
    """(busy, steal) CPU seconds of the whole machine since boot, /proc/stat."""
    try:
        with open("/proc/stat") as f:
            v = [int(x) for x in f.readline().split()[1:]]
    except OSError:
        return (float("nan"), float("nan"))
    hz = os.sysconf("SC_CLK_TCK")
    user, nice, system, _idle, _iowait, irq, softirq = v[:7]
    steal = v[7] if len(v) > 7 else 0
    return ((user + nice + system + irq + softirq) / hz, steal / hz)


def task_cpu_s(pid):
    """CPU seconds of every thread of process pid (schedstat, ns resolution)."""
    total = 0
    try:
        tasks = os.listdir("/proc/%d/task" % pid)
    except OSError:
        return 0.0
    for t in tasks:
        try:
            with open("/proc/%d/task/%s/schedstat" % (pid, t)) as f:
                total += int(f.read().split()[0])
        except (OSError, ValueError, IndexError):
            pass
    return total / 1e9


class NoiseMeter:
    """CPU time other processes used while we measured: machine busy time
    (/proc/stat) minus ours (this process and bench_engine), per wall second,
    i.e. the average number of cores someone else kept busy; plus steal
    (time the hypervisor gave our vCPUs to other guests)."""

    def __init__(self, pids):
        self.pids = pids
        self.t0 = time.monotonic()
        self.busy0, self.steal0 = proc_stat_s()
        self.ours0 = sum(task_cpu_s(p) for p in pids)

    def stop(self):
        wall = time.monotonic() - self.t0
        busy, steal = proc_stat_s()
        ours = sum(task_cpu_s(p) for p in self.pids)
        other = (busy - self.busy0) - (ours - self.ours0)
        return {"other_cores": max(other, 0.0) / wall, "steal_cores": (steal - self.steal0) / wall,
                "wall_s": wall}


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
        meter = NoiseMeter([os.getpid(), eng.p.pid])
        gap = args.gap_ms / 1e3
        blocks = [min(args.block, args.iters - k) for k in range(0, args.iters, args.block)]
        for i, n in enumerate(blocks):
            order = (0, 1) if i % 2 == 0 else (1, 0)  # A B, B A, A B ...
            for who in order:
                time.sleep(gap)
                if who == 0:
                    for _ in range(args.rewarm):
                        eng.run()
                    t_nnd += [eng.run() for _ in range(n)]
                else:
                    for _ in range(args.rewarm):
                        ortr.run()
                    t_ort += [ortr.run() for _ in range(n)]
        noise = meter.stop()
        rss = eng.rss()
    finally:
        eng.close()
    return {
        "model": name, "threads": threads, "batch": batch, "iters": args.iters, "warmup": args.warmup,
        "load_start": load0, "load_end": loadavg()[0], "noise": noise,
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
            "%.2f" % ratio, "%.1e" % a["max_diff_norm"], top1, "%.2f" % r["load_start"],
            "%.2f" % r["noise"]["other_cores"] if "noise" in r else "-"]


HEADER = ["model", "T", "B", "nnd med ms", "nnd min ms", "nnd img/s", "ORT med ms", "ORT min ms", "ORT img/s",
          "nnd/ORT", "max diff (norm)", "top-1", "load", "other"]


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


# ----------------------------------------------------------------- profiles

def ort_kind(op, ins, outs):
    """The bench_engine --profile kind of an ORT node and its FLOPs, from the
    logical shapes ORT's profiler records."""
    if op in ("Conv", "FusedConv", "NchwcConv") and len(ins) >= 2 and len(ins[1]) == 4:
        w, x, y = ins[1], ins[0], outs[0]
        kh, kw = w[2], w[3]
        dw = w[1] == 1 and x[1] == y[1] and y[1] > 1
        strided = len(x) == 4 and y[2] < x[2] and y[2] * 2 <= x[2] + 1
        kind = "Conv %dx%d%s%s" % (kh, kw, " dw" if dw else "", " s2+" if strided else "")
        return kind, 2.0 * float(np.prod(y)) * w[1] * kh * kw
    if op in ("Gemm", "MatMul", "FusedGemm", "FusedMatMul") and len(ins) >= 2:
        return op if op in ("Gemm", "MatMul") else op[5:], 2.0 * float(np.prod(outs[0])) * ins[0][-1]
    return op, 0.0


def ort_profile(path, x, threads, iters, top):
    """Per-node time of ONNX Runtime (its own profiler), by the same kinds
    as bench_engine --profile. Returns {kind: (n, ms)} per run."""
    import onnxruntime as ort
    so = ort.SessionOptions()
    so.intra_op_num_threads = threads
    so.inter_op_num_threads = 1
    so.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    so.log_severity_level = 3
    so.enable_profiling = True
    so.profile_file_prefix = os.path.join(tempfile.gettempdir(), "bench_vs_ort_profile")
    sess = ort.InferenceSession(path, so, providers=["CPUExecutionProvider"])
    name = sess.get_inputs()[0].name
    warm = 3
    for _ in range(warm + iters):
        sess.run(None, {name: x})
    prof = sess.end_profiling()
    with open(prof) as f:
        events = json.load(f)
    os.unlink(prof)
    nodes = [e for e in events if e.get("cat") == "Node" and e["name"].endswith("_kernel_time")]
    per_run = len(nodes) // (warm + iters)
    nodes = nodes[warm * per_run:]  # the warm-up runs come first
    per = {}
    for e in nodes:
        a = e["args"]
        shp = lambda l: [list(d.values())[0] for d in l]  # noqa: E731
        kind, fl = ort_kind(a.get("op_name", "?"), shp(a.get("input_type_shape", [])),
                            shp(a.get("output_type_shape", [[]])) or [[]])
        k = e["name"][:-len("_kernel_time")]
        n, us, _, _ = per.get(k, (0, 0.0, kind, fl))
        per[k] = (n + 1, us + e["dur"], kind, fl)
    rows = sorted(((us / iters / 1e3, kind, fl, k) for k, (n, us, kind, fl) in per.items()), reverse=True)
    total = sum(r[0] for r in rows)
    print("ORT profile: %d nodes, %.2f ms per run in nodes (its profiler; the NCHWc reorders are nodes too)"
          % (len(rows), total))
    print("top %d nodes:" % top)
    print("  %8s %6s %8s  %-16s %s" % ("ms", "%", "GFLOP/s", "kind", "node (ORT's name: the fused output)"))
    for ms, kind, fl, k in rows[:top]:
        print("  %8.3f %5.1f%% %8s  %-16s %s" % (ms, 100 * ms / total, "%.1f" % (fl / ms * 1e-6) if fl else "",
                                                kind, k))
    kinds = {}
    for ms, kind, fl, k in rows:
        n0, ms0, fl0 = kinds.get(kind, (0, 0.0, 0.0))
        kinds[kind] = (n0 + 1, ms0 + ms, fl0 + fl)
    print("by op kind:")
    print("  %8s %6s %5s %8s  %s" % ("ms", "%", "n", "GFLOP/s", "kind"))
    for kind, (n, ms, fl) in sorted(kinds.items(), key=lambda kv: -kv[1][1]):
        print("  %8.3f %5.1f%% %5d %8s  %s" % (ms, 100 * ms / total, n, "%.1f" % (fl / ms * 1e-6) if fl else "",
                                             kind))
    return {k: (n, ms) for k, (n, ms, fl) in kinds.items()}


def parse_engine_kinds(text):
    """{kind: (n, ms)} from bench_engine --profile's 'by op kind' table."""
    out, on = {}, False
    for line in text.splitlines():
        if line.startswith("by op kind"):
            on = True
            continue
        if not on or not line.startswith("  ") or line.split()[0] == "ms":
            if on and not line.startswith("  "):
                on = False
            continue
        f = line.split()
        rest = f[3:]
        try:
            float(rest[0])
            rest = rest[1:]
        except (ValueError, IndexError):
            pass
        out[" ".join(rest)] = (int(f[2]), float(f[0]))
    return out


def print_kind_comparison(ours, theirs):
    print("side by side, ms per run by kind; time ratio = nndiff ms / ORT ms (> 1: nndiff slower); "
          "ORT's layout reorders are kinds of their own:")
    print("  %-18s %5s %9s %9s %10s" % ("kind", "n", "nndiff", "ORT", "time ratio"))
    keys = sorted(set(ours) | set(theirs), key=lambda k: -max(ours.get(k, (0, 0))[1], theirs.get(k, (0, 0))[1]))
    for k in keys:
        n1, a = ours.get(k, (0, 0.0))
        n2, b = theirs.get(k, (0, 0.0))
        print("  %-18s %5s %9.3f %9.3f %10s" % (k, n1 or n2, a, b, "%.2f" % (a / b) if a and b else "-"))
    ta, tb = sum(v[1] for v in ours.values()), sum(v[1] for v in theirs.values())
    print("  %-18s %5s %9.3f %9.3f %10.2f" % ("total", "", ta, tb, ta / tb))


# ------------------------------------------------------------------ memory

def ort_child(path, batch, threads, iters, seed):
    """Runs in a fresh process: peak RSS of ORT alone (printed as JSON)."""
    importlib.import_module("onnxruntime")  # the baseline includes the import
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
    ap.add_argument("--block", type=int, default=5,
                    help="timed runs per turn: A x block, B x block, B x block, A x block ... (1: strict A B B A)")
    ap.add_argument("--rewarm", type=int, default=1,
                    help="untimed runs at the start of each turn (wake the thread pool, reload the caches)")
    ap.add_argument("--gap-ms", type=float, default=100.0,
                    help="pause before each timed run: longer than the idle spinning of the other runtime's "
                         "threads (ORT about 40 ms of CPU after a run, libgomp about 10 ms)")
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
    if args.block < 1 or args.rewarm < 0 or args.iters < 1:
        sys.exit("bench_vs_ort: --iters and --block must be >= 1, --rewarm >= 0")
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
    print("method: %d warm-up + %d timed runs each, interleaved in turns of %d (ABBA), each turn after a "
          "%.0f ms pause and %d untimed run(s); seed %d%s" %
          (args.warmup, args.iters, args.block, args.gap_ms, args.rewarm, args.seed,
           "; bench_engine env " + " ".join(args.engine_env) if args.engine_env else ""), flush=True)
    omp = {k: os.environ[k] for k in os.environ if k.startswith(("OMP_", "GOMP_", "KMP_", "DNNL_", "ONEDNN_"))}
    if omp:
        print("environment: %s" % " ".join("%s=%s" % kv for kv in sorted(omp.items())))

    workdir = tempfile.mkdtemp(prefix="bench_vs_ort_")
    log = open(os.path.join(workdir, "bench_engine.log"), "w")
    rows, mem, inputs = [], [], {}
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
                          "nnd/ORT %.2f  max diff %.1e  other procs %.2f cores, steal %.2f" %
                          (name, t, b, n["median_ms"], n["min_ms"], o["median_ms"], o["min_ms"],
                           n["images_per_s"] / o["images_per_s"], r["agreement"]["max_diff_norm"],
                           r["noise"]["other_cores"], r["noise"]["steal_cores"]), flush=True)
    load_end = loadavg()

    if rows:
        print()
        print("median / min over %d runs; img/s from the median; nnd/ORT = images/s ratio (> 1: nndiff faster);"
              " max diff (norm) = max |nndiff - ORT| / max |ORT| on the same input; load = 1-min load average"
              " at the start (it counts this benchmark too); other = cores other processes kept busy"
              " during the timed runs (/proc/stat minus our own CPU time)"
              % args.iters)
        print_table(rows, args.markdown)

    if args.profile:
        for name, (path, input_path, x) in inputs.items():
            print("\n== profiles: %s, batch 1, 1 thread, %d runs ==" % (name, max(args.iters, 10)), flush=True)
            r = subprocess.run([exe, path, "--profile", "--iters", str(max(args.iters, 10)), "--warmup",
                                str(args.warmup), "--input", input_path], capture_output=True, text=True,
                               check=True, env=engine_env(args))
            print("\n".join(l for l in r.stdout.splitlines() if not l.startswith("RESULT ")))
            theirs = ort_profile(path, x[:1], 1, max(args.iters, 10), 15)
            print_kind_comparison(parse_engine_kinds(r.stdout), theirs)

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

    print("\nload average at end: %.2f %.2f %.2f (includes this benchmark's own threads)" % load_end)
    noisy = [r for r in rows if r.get("noise", {}).get("other_cores", 0) > 0.1]
    if load_start[0] > 0.5 or noisy:
        print("WARNING: load %.2f at start; %d of %d configurations ran while other processes used more than "
              "0.1 core: numbers are noisy; rerun on a quiet machine" % (load_start[0], len(noisy), len(rows)))
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"machine": info, "load_start": load_start, "load_end": load_end, "engine_env": args.engine_env,
                       "iters": args.iters, "warmup": args.warmup, "gap_ms": args.gap_ms,
                       "block": args.block, "rewarm": args.rewarm, "seed": args.seed,
                       "rows": rows, "memory": mem}, f, indent=1)
    log.close()
    shutil.rmtree(workdir, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
