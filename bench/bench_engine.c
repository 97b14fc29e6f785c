/* Times the engine on an ONNX model, profiles it by node, and serves timed
 * runs to bench/bench_vs_ort.py (which interleaves them with ONNX Runtime).
 *
 *   bench_engine MODEL [--ref] [--threads N] [--batch N] [--iters N]
 *                [--warmup N] [--input FILE.f32] [--output FILE]
 *                [--profile] [--top N] [--no-fusion] [--serve]
 *
 *   --iters N    timed runs (default 20; --runs is the old name)
 *   --warmup N   untimed runs first (default 2: page faults, oneDNN's JIT)
 *   --input F    raw little-endian float32 for the first graph input; the
 *                first N*C*H*W values are used, so a file written for
 *                batch 8 serves batch 1 too. Default: random in [0, 1)
 *                from a fixed seed (bench/compare_ort.py's lcg_input).
 *   --output F   writes the first graph output as raw float32 (fast) or
 *                float64 (--ref) after the runs
 *   --profile    per-node timing over the timed runs: the top nodes (--top,
 *                default 15) with ms, % and GFLOP/s, and totals per op kind.
 *                A fused group (Conv + BatchNorm + Relu [+ residual Add])
 *                counts as one entry, named after its first node; a layout
 *                conversion counts on the node that consumes it.
 *   --serve      after create and warm-up prints "READY {json}", then
 *                answers commands on stdin, one per line, for a driver
 *                that interleaves us with another runtime:
 *                  run N        -> "TIMES t1 ... tN" (ms, one run each)
 *                  output PATH  -> writes output 0 as raw float32, "OK"
 *                  rss          -> "RSS {json}" (peak and current memory)
 *                  quit (or EOF)
 *
 * Without --serve the last line is machine-readable:
 *   RESULT {"model": ..., "median_ms": ..., "min_ms": ..., ...}
 *
 * Times are wall time around nnd_engine_run (input copy in, output copy
 * out included), CLOCK_MONOTONIC. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

#include "engine/engine_internal.h" /* fused groups, for --profile labels */
#include "nndiff/engine.h"
#include "nndiff/onnx.h"

static double now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static int cmp_double(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return x < y ? -1 : x > y;
}

/* Memory from /proc/self/status, in KB (0 when absent). */
typedef struct mem_kb {
  long hwm, rss, anon, file;
} mem_kb;

static mem_kb read_mem(void) {
  mem_kb m = {0, 0, 0, 0};
  FILE *f = fopen("/proc/self/status", "r");
  if (!f) return m;
  char line[256];
  while (fgets(line, sizeof line, f)) {
    long v;
    if (sscanf(line, "VmHWM: %ld", &v) == 1)
      m.hwm = v;
    else if (sscanf(line, "VmRSS: %ld", &v) == 1)
      m.rss = v;
    else if (sscanf(line, "RssAnon: %ld", &v) == 1)
      m.anon = v;
    else if (sscanf(line, "RssFile: %ld", &v) == 1)
      m.file = v;
  }
  fclose(f);
  struct rusage ru;
  if (m.hwm == 0 && getrusage(RUSAGE_SELF, &ru) == 0) m.hwm = ru.ru_maxrss;
  return m;
}

static void print_mem_json(FILE *f, mem_kb m) {
  fprintf(f, "\"peak_rss_kb\": %ld, \"rss_kb\": %ld, \"rss_anon_kb\": %ld, \"rss_file_kb\": %ld",
          m.hwm, m.rss, m.anon, m.file);
}

/* Minimal JSON string escaping for paths and names. */
static void print_json_str(FILE *f, const char *s) {
  fputc('"', f);
  for (; s && *s; s++) {
    if (*s == '"' || *s == '\\')
      fprintf(f, "\\%c", *s);
    else if ((unsigned char)*s < 0x20)
      fprintf(f, "\\u%04x", *s);
    else
      fputc(*s, f);
  }
  fputc('"', f);
}

/* ------------------------------------------------------------ profile */

typedef struct prof {
  int32_t node;   /* node the time is counted on (last of its group) */
  int32_t head;   /* first node of the group */
  double s;       /* seconds per run */
  double flops;   /* 2 * MACs of a convolution / Gemm, else 0 */
  char kind[48];  /* "Conv 3x3 dw", "Gemm", "MaxPool", ... */
  char group[96]; /* "Conv+BatchNormalization+Relu" */
} prof;

static int cmp_prof(const void *a, const void *b) {
  double x = ((const prof *)a)->s, y = ((const prof *)b)->s;
  return x < y ? 1 : x > y ? -1 : 0;
}

static int64_t value_numel(const nnd_engine *e, int32_t v) {
  int rank;
  int64_t dims[NND_MAX_RANK];
  if (v < 0 || !nnd_engine_value_shape(e, v, &rank, dims)) return 0;
  int64_t n = 1;
  for (int d = 0; d < rank; d++)
    n *= dims[d];
  return n;
}

/* Kind and FLOPs of a group headed by node h. */
static void describe(const nnd_engine *e, const nnd_graph *g, int32_t h, prof *p) {
  const nnd_node *nd = &g->nodes[h];
  snprintf(p->kind, sizeof p->kind, "%s", nnd_op_name(nd->op));
  p->flops = 0;
  if ((nd->op == NND_OP_CONV) && nd->n_inputs >= 2) {
    const nnd_shape *w = &g->values[nd->inputs[1]].shape; /* O, I/g, k... */
    int64_t in_per_group = w->rank >= 2 ? w->dims[1].size : 0, k = 1;
    char ks[24] = "";
    for (int d = 2; d < w->rank; d++) {
      k *= w->dims[d].size;
      char one[12];
      snprintf(one, sizeof one, d == 2 ? "%lld" : "x%lld", (long long)w->dims[d].size);
      strncat(ks, one, sizeof ks - strlen(ks) - 1);
    }
    const int64_t groups = nd->attrs.conv.groups;
    const int64_t out_ch = w->rank >= 1 ? w->dims[0].size : 0;
    const int depthwise = groups > 1 && in_per_group == 1 && groups == out_ch;
    const int strided = nd->attrs.conv.strides[0] > 1;
    snprintf(p->kind, sizeof p->kind, "Conv %s%s%s", ks,
             depthwise    ? " dw"
             : groups > 1 ? " grp"
                          : "",
             strided ? " s2+" : "");
    p->flops = 2.0 * (double)value_numel(e, nd->outputs[0]) * (double)(in_per_group * k);
  } else if ((nd->op == NND_OP_GEMM || nd->op == NND_OP_MATMUL) && nd->n_inputs >= 2) {
    const nnd_shape *a = &g->values[nd->inputs[0]].shape;
    int64_t kdim = a->rank >= 1 ? a->dims[a->rank - 1].size : 0;
    if (nd->op == NND_OP_GEMM && nd->attrs.trans_a && a->rank >= 2) kdim = a->dims[0].size;
    p->flops = 2.0 * (double)value_numel(e, nd->outputs[0]) * (double)kdim;
  }
  /* The group: the head and the nodes fused into it, in graph order. */
  snprintf(p->group, sizeof p->group, "%s", nnd_op_name(nd->op));
  for (int32_t j = 0; j < g->n_nodes; j++) {
    if (j == h || !e->n[j].absorbed || e->n[j].head != h) continue;
    const char *op = nnd_op_name(g->nodes[j].op);
    if (strlen(p->group) + strlen(op) + 2 < sizeof p->group) {
      strcat(p->group, "+");
      strcat(p->group, op);
    }
  }
}

typedef struct kind_total {
  char kind[48];
  int n;
  double s, flops;
} kind_total;

static int cmp_kind(const void *a, const void *b) {
  double x = ((const kind_total *)a)->s, y = ((const kind_total *)b)->s;
  return x < y ? 1 : x > y ? -1 : 0;
}

static void print_profile(const nnd_engine *e, const nnd_graph *g, int runs, int top,
                          double mean_run_s) {
  prof *p = calloc((size_t)g->n_nodes, sizeof *p);
  int np = 0;
  double total = 0;
  for (int32_t i = 0; i < g->n_nodes; i++) {
    double s = nnd_engine_node_seconds(e, i) / (runs > 0 ? runs : 1);
    if (s <= 0) continue;
    p[np].node = i;
    p[np].head = e->n[i].absorbed && e->n[i].head >= 0 ? e->n[i].head : i;
    p[np].s = s;
    describe(e, g, p[np].head, &p[np]);
    total += s;
    np++;
  }
  qsort(p, (size_t)np, sizeof *p, cmp_prof);
  printf("profile: %d nodes with timed steps, %.2f ms per run in steps (mean run %.2f ms; the "
         "rest is input/output copies and timing)\n",
         np, total * 1e3, mean_run_s * 1e3);
  printf("top %d nodes:\n", top);
  printf("  %8s %6s %6s %8s  %-16s %-38s %s\n", "ms", "%", "cum%", "GFLOP/s", "kind", "group",
         "node (first of group)");
  double cum = 0;
  for (int i = 0; i < top && i < np; i++) {
    cum += p[i].s;
    char gf[16] = "";
    if (p[i].flops > 0) snprintf(gf, sizeof gf, "%.1f", p[i].flops / p[i].s * 1e-9);
    printf("  %8.3f %5.1f%% %5.1f%% %8s  %-16s %-38s %s\n", p[i].s * 1e3, 100 * p[i].s / total,
           100 * cum / total, gf, p[i].kind, p[i].group, g->nodes[p[i].head].name);
  }
  kind_total *k = calloc((size_t)np + 1, sizeof *k);
  int nk = 0;
  for (int i = 0; i < np; i++) {
    int j = 0;
    while (j < nk && strcmp(k[j].kind, p[i].kind))
      j++;
    if (j == nk) snprintf(k[nk++].kind, sizeof k[0].kind, "%s", p[i].kind);
    k[j].n++;
    k[j].s += p[i].s;
    k[j].flops += p[i].flops;
  }
  qsort(k, (size_t)nk, sizeof *k, cmp_kind);
  printf("by op kind (fused groups under their first node's kind):\n");
  printf("  %8s %6s %5s %8s  %s\n", "ms", "%", "n", "GFLOP/s", "kind");
  for (int j = 0; j < nk; j++) {
    char gf[16] = "";
    if (k[j].flops > 0) snprintf(gf, sizeof gf, "%.1f", k[j].flops / k[j].s * 1e-9);
    printf("  %8.3f %5.1f%% %5d %8s  %s\n", k[j].s * 1e3, 100 * k[j].s / total, k[j].n, gf,
           k[j].kind);
  }
  free(k);
  free(p);
}

/* ---------------------------------------------------------------- main */

typedef struct bench {
  nnd_engine *e;
  const nnd_graph *g;
  nnd_tensor in;
  nnd_tensor *outs;
  int64_t n_out;
} bench;

static int run_once(bench *b, double *ms_out) {
  nnd_error err = {0};
  double t0 = now();
  if (nnd_engine_run(b->e, &b->in, 1, b->outs, b->g->n_outputs, &err) != NND_OK) {
    fprintf(stderr, "run: %s\n", err.message);
    return 1;
  }
  if (ms_out) *ms_out = (now() - t0) * 1e3;
  return 0;
}

static int write_output(const bench *b, const char *path) {
  FILE *f = fopen(path, "wb");
  if (!f) {
    fprintf(stderr, "cannot write %s\n", path);
    return 1;
  }
  const nnd_tensor *o = &b->outs[0];
  size_t esz = o->dtype == NND_DTYPE_F64 ? 8 : 4;
  int ok = fwrite(o->data, esz, (size_t)b->n_out, f) == (size_t)b->n_out;
  ok &= fclose(f) == 0;
  return ok ? 0 : 1;
}

static int serve(bench *b) {
  char line[4096];
  while (fgets(line, sizeof line, stdin)) {
    line[strcspn(line, "\r\n")] = 0;
    if (!strncmp(line, "run ", 4)) {
      int n = atoi(line + 4);
      printf("TIMES");
      for (int i = 0; i < n; i++) {
        double ms;
        if (run_once(b, &ms)) return 1;
        printf(" %.6f", ms);
      }
      printf("\n");
    } else if (!strncmp(line, "output ", 7)) {
      if (write_output(b, line + 7)) return 1;
      printf("OK\n");
    } else if (!strcmp(line, "rss")) {
      printf("RSS {");
      print_mem_json(stdout, read_mem());
      printf("}\n");
    } else if (!strcmp(line, "quit")) {
      break;
    } else {
      printf("ERROR unknown command '%s'\n", line);
    }
    fflush(stdout);
  }
  return 0;
}

int main(int argc, char **argv) {
  if (argc < 2) {
    fprintf(stderr,
            "usage: %s MODEL [--ref] [--threads N] [--batch N] [--iters N] [--warmup N] "
            "[--input F] [--output F] [--profile] [--top N] [--no-fusion] [--serve]\n",
            argv[0]);
    return 2;
  }
  nnd_engine_options opt;
  nnd_engine_options_init(&opt);
  int runs = 20, warmup = 2, top = 15, profile = 0, serve_mode = 0;
  const char *in_path = NULL, *out_path = NULL;
  for (int i = 2; i < argc; i++) {
    if (!strcmp(argv[i], "--ref"))
      opt.precision = NND_PRECISION_REFERENCE;
    else if (!strcmp(argv[i], "--threads") && i + 1 < argc)
      opt.threads = atoi(argv[++i]);
    else if (!strcmp(argv[i], "--batch") && i + 1 < argc)
      opt.batch = atoll(argv[++i]);
    else if ((!strcmp(argv[i], "--iters") || !strcmp(argv[i], "--runs")) && i + 1 < argc)
      runs = atoi(argv[++i]);
    else if (!strcmp(argv[i], "--warmup") && i + 1 < argc)
      warmup = atoi(argv[++i]);
    else if (!strcmp(argv[i], "--input") && i + 1 < argc)
      in_path = argv[++i];
    else if (!strcmp(argv[i], "--output") && i + 1 < argc)
      out_path = argv[++i];
    else if (!strcmp(argv[i], "--profile"))
      profile = 1;
    else if (!strcmp(argv[i], "--top") && i + 1 < argc)
      top = atoi(argv[++i]);
    else if (!strcmp(argv[i], "--no-fusion"))
      opt.no_fusion = true;
    else if (!strcmp(argv[i], "--serve"))
      serve_mode = 1;
    else {
      fprintf(stderr, "unknown option %s\n", argv[i]);
      return 2;
    }
  }
  if (runs < 0 || warmup < 0) {
    fprintf(stderr, "--iters and --warmup must be >= 0\n");
    return 2;
  }
  nnd_error err = {0};
  nnd_graph *g = NULL;
  double t0 = now();
  if (nnd_onnx_load(argv[1], &g, &err) != NND_OK) {
    fprintf(stderr, "load: %s\n", err.message);
    return 1;
  }
  double t_load = now() - t0;
  t0 = now();
  nnd_engine *e = NULL;
  if (nnd_engine_create(g, &opt, &e, &err) != NND_OK) {
    fprintf(stderr, "create: %s\n", err.message);
    nnd_graph_destroy(g);
    return 1;
  }
  double t_create = now() - t0;
  nnd_engine_stats st;
  nnd_engine_get_stats(e, &st);
  FILE *info = serve_mode ? stderr : stdout; /* stdout carries the protocol */
  fprintf(info, "%s: %s, batch %lld, %d thread(s), backend %s, isa %s\n", argv[1],
          nnd_precision_name(st.precision), (long long)st.batch, st.threads, st.conv_backend,
          st.isa);
  fprintf(info,
          "plan: %d steps, %d folded, %d fused, %d views, %d layout conversions; "
          "activations %.1f MB (%.1f MB without reuse), constants %.1f MB; load %.1f ms, "
          "create %.1f ms\n",
          st.n_steps, st.n_folded_nodes, st.n_fused_nodes, st.n_alias_nodes,
          st.n_layout_conversions, st.activation_bytes / 1e6, st.naive_activation_bytes / 1e6,
          st.weight_bytes / 1e6, t_load * 1e3, t_create * 1e3);

  bench b = {.e = e, .g = g};
  int32_t vin = g->inputs[0];
  nnd_engine_value_shape(e, vin, &b.in.rank, b.in.dims);
  int64_t n_in = 1;
  for (int d = 0; d < b.in.rank; d++)
    n_in *= b.in.dims[d];
  float *x = malloc((size_t)n_in * sizeof *x);
  if (in_path) {
    FILE *f = fopen(in_path, "rb");
    if (!f || fread(x, sizeof *x, (size_t)n_in, f) != (size_t)n_in) {
      fprintf(stderr, "cannot read %lld floats from %s\n", (long long)n_in, in_path);
      return 1;
    }
    fclose(f);
  } else {
    uint64_t s = 42;
    for (int64_t i = 0; i < n_in; i++) {
      s = s * 6364136223846793005ull + 1442695040888963407ull;
      x[i] = (float)((s >> 40) & 0xffffff) / 16777216.f;
    }
  }
  b.in.dtype = NND_DTYPE_F32;
  b.in.data = x;
  b.outs = calloc((size_t)g->n_outputs, sizeof *b.outs);
  for (int k = 0; k < g->n_outputs; k++) {
    nnd_engine_value_shape(e, g->outputs[k], &b.outs[k].rank, b.outs[k].dims);
    int64_t n = 1;
    for (int d = 0; d < b.outs[k].rank; d++)
      n *= b.outs[k].dims[d];
    if (k == 0) b.n_out = n;
    /* Output 0 in the run's precision; the others are not copied. */
    b.outs[k].dtype = opt.precision == NND_PRECISION_REFERENCE ? NND_DTYPE_F64 : NND_DTYPE_F32;
    b.outs[k].data = k == 0 ? malloc((size_t)n * 8) : NULL;
  }
  for (int r = 0; r < warmup; r++)
    if (run_once(&b, NULL)) return 1;

  int rc = 0;
  if (serve_mode) {
    mem_kb m = read_mem();
    printf("READY {\"batch\": %lld, \"threads\": %d, \"backend\": ", (long long)st.batch,
           st.threads);
    print_json_str(stdout, st.conv_backend);
    printf(", \"isa\": ");
    print_json_str(stdout, st.isa);
    printf(", \"activation_bytes\": %zu, \"weight_bytes\": %zu, \"create_ms\": %.3f, "
           "\"load_ms\": %.3f, \"n_steps\": %d, ",
           st.activation_bytes, st.weight_bytes, t_create * 1e3, t_load * 1e3, st.n_steps);
    print_mem_json(stdout, m);
    printf("}\n");
    fflush(stdout);
    rc = serve(&b);
  } else {
    double *times = calloc((size_t)(runs > 0 ? runs : 1), sizeof *times);
    nnd_engine_set_profiling(e, profile != 0);
    for (int r = 0; r < runs && !rc; r++)
      rc = run_once(&b, &times[r]);
    if (rc) return rc;
    double sum_ms = 0, med = 0;
    for (int r = 0; r < runs; r++)
      sum_ms += times[r];
    if (runs > 0) {
      qsort(times, (size_t)runs, sizeof *times, cmp_double);
      med = runs % 2 ? times[runs / 2] : 0.5 * (times[runs / 2 - 1] + times[runs / 2]);
      printf("run: min %.2f ms, median %.2f ms over %d runs (%d warm-up)%s\n", times[0], med, runs,
             warmup, profile ? ", profiling on" : "");
    }
    double osum = 0;
    for (int64_t i = 0; i < b.n_out; i++)
      osum += b.outs[0].dtype == NND_DTYPE_F64 ? ((double *)b.outs[0].data)[i]
                                               : ((float *)b.outs[0].data)[i];
    printf("output 0: %lld values, sum %.9g\n", (long long)b.n_out, osum);
    if (out_path && write_output(&b, out_path)) return 1;
    if (profile && runs > 0) print_profile(e, g, runs, top, sum_ms / runs * 1e-3);
    mem_kb m = read_mem();
    printf("memory: peak RSS %.1f MB (now %.1f MB: %.1f MB anonymous, %.1f MB file-backed)\n",
           m.hwm / 1024.0, m.rss / 1024.0, m.anon / 1024.0, m.file / 1024.0);
    printf("RESULT {\"model\": ");
    print_json_str(stdout, argv[1]);
    printf(", \"precision\": \"%s\", \"batch\": %lld, \"threads\": %d, \"iters\": %d, "
           "\"warmup\": %d, \"min_ms\": %.6f, \"median_ms\": %.6f, \"mean_ms\": %.6f, "
           "\"images_per_s\": %.3f, \"load_ms\": %.3f, \"create_ms\": %.3f, \"backend\": ",
           nnd_precision_name(st.precision), (long long)st.batch, st.threads, runs, warmup,
           runs ? times[0] : 0, med, runs ? sum_ms / runs : 0, med > 0 ? st.batch * 1e3 / med : 0,
           t_load * 1e3, t_create * 1e3);
    print_json_str(stdout, st.conv_backend);
    printf(", \"activation_bytes\": %zu, \"naive_activation_bytes\": %zu, \"weight_bytes\": %zu, "
           "\"n_steps\": %d, \"profiled\": %s, ",
           st.activation_bytes, st.naive_activation_bytes, st.weight_bytes, st.n_steps,
           profile ? "true" : "false");
    print_mem_json(stdout, m);
    printf("}\n");
    free(times);
  }
  for (int k = 0; k < g->n_outputs; k++)
    free(b.outs[k].data);
  free(b.outs);
  free(x);
  nnd_engine_destroy(e);
  nnd_graph_destroy(g);
  return rc;
}
