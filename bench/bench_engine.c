/* Times the engine on an ONNX model and optionally dumps its output, for
 * comparing with ONNX Runtime (bench/compare_ort.py) and for profiling.
 *
 *   bench_engine MODEL [--ref] [--threads N] [--batch N] [--runs N]
 *                [--input FILE.f32] [--output FILE] [--profile] [--no-fusion]
 *
 * The input (the first graph input) is random in [0, 1) from a fixed seed
 * unless --input gives raw little-endian float32 data. --output writes the
 * first graph output as raw float32 (fast) or float64 (--ref). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

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

typedef struct prof {
  int32_t node;
  double s;
} prof;

static int cmp_prof(const void *a, const void *b) {
  double x = ((const prof *)a)->s, y = ((const prof *)b)->s;
  return x < y ? 1 : x > y ? -1 : 0;
}

int main(int argc, char **argv) {
  if (argc < 2) {
    fprintf(stderr, "usage: %s MODEL [--ref] [--threads N] [--batch N] [--runs N] [--input F] "
                    "[--output F] [--profile] [--no-fusion]\n", argv[0]);
    return 2;
  }
  nnd_engine_options opt;
  nnd_engine_options_init(&opt);
  int runs = 20;
  const char *in_path = NULL, *out_path = NULL;
  int profile = 0;
  for (int i = 2; i < argc; i++) {
    if (!strcmp(argv[i], "--ref")) opt.precision = NND_PRECISION_REFERENCE;
    else if (!strcmp(argv[i], "--threads") && i + 1 < argc) opt.threads = atoi(argv[++i]);
    else if (!strcmp(argv[i], "--batch") && i + 1 < argc) opt.batch = atoll(argv[++i]);
    else if (!strcmp(argv[i], "--runs") && i + 1 < argc) runs = atoi(argv[++i]);
    else if (!strcmp(argv[i], "--input") && i + 1 < argc) in_path = argv[++i];
    else if (!strcmp(argv[i], "--output") && i + 1 < argc) out_path = argv[++i];
    else if (!strcmp(argv[i], "--profile")) profile = 1;
    else if (!strcmp(argv[i], "--no-fusion")) opt.no_fusion = true;
    else {
      fprintf(stderr, "unknown option %s\n", argv[i]);
      return 2;
    }
  }
  nnd_error err = {0};
  nnd_graph *g = NULL;
  if (nnd_onnx_load(argv[1], &g, &err) != NND_OK) {
    fprintf(stderr, "load: %s\n", err.message);
    return 1;
  }
  double t0 = now();
  nnd_engine *e = NULL;
  if (nnd_engine_create(g, &opt, &e, &err) != NND_OK) {
    fprintf(stderr, "create: %s\n", err.message);
    nnd_graph_destroy(g);
    return 1;
  }
  double t_create = now() - t0;
  nnd_engine_stats st;
  nnd_engine_get_stats(e, &st);
  printf("%s: %s, batch %lld, %d thread(s), backend %s, isa %s\n", argv[1],
         nnd_precision_name(st.precision), (long long)st.batch, st.threads, st.conv_backend, st.isa);
  printf("plan: %d steps, %d folded, %d fused, %d views, %d layout conversions; "
         "activations %.1f MB (%.1f MB without reuse), constants %.1f MB; create %.1f ms\n",
         st.n_steps, st.n_folded_nodes, st.n_fused_nodes, st.n_alias_nodes,
         st.n_layout_conversions, st.activation_bytes / 1e6, st.naive_activation_bytes / 1e6,
         st.weight_bytes / 1e6, t_create * 1e3);

  nnd_tensor in = {0};
  int32_t vin = g->inputs[0];
  nnd_engine_value_shape(e, vin, &in.rank, in.dims);
  int64_t n_in = 1;
  for (int d = 0; d < in.rank; d++) n_in *= in.dims[d];
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
  in.dtype = NND_DTYPE_F32;
  in.data = x;
  nnd_tensor out = {0};
  nnd_engine_value_shape(e, g->outputs[0], &out.rank, out.dims);
  int64_t n_out = 1;
  for (int d = 0; d < out.rank; d++) n_out *= out.dims[d];
  out.dtype = opt.precision == NND_PRECISION_REFERENCE ? NND_DTYPE_F64 : NND_DTYPE_F32;
  out.data = malloc((size_t)n_out * 8);
  nnd_tensor *outs = calloc((size_t)g->n_outputs, sizeof *outs);
  outs[0] = out;
  for (int k = 1; k < g->n_outputs; k++) {
    nnd_engine_value_shape(e, g->outputs[k], &outs[k].rank, outs[k].dims);
    int64_t n = 1;
    for (int d = 0; d < outs[k].rank; d++) n *= outs[k].dims[d];
    outs[k].dtype = NND_DTYPE_F64;
    outs[k].data = malloc((size_t)n * 8);
  }
  double *times = calloc((size_t)(runs > 0 ? runs : 1), sizeof *times);
  nnd_engine_set_profiling(e, profile != 0);
  if (nnd_engine_run(e, &in, 1, outs, g->n_outputs, &err) != NND_OK) {
    fprintf(stderr, "run: %s\n", err.message);
    return 1;
  }
  for (int r = 0; r < runs; r++) {
    t0 = now();
    if (nnd_engine_run(e, &in, 1, outs, g->n_outputs, &err) != NND_OK) {
      fprintf(stderr, "run: %s\n", err.message);
      return 1;
    }
    times[r] = now() - t0;
  }
  if (runs > 0) {
    qsort(times, (size_t)runs, sizeof *times, cmp_double);
    printf("run: min %.2f ms, median %.2f ms over %d runs\n", times[0] * 1e3,
           times[runs / 2] * 1e3, runs);
  }
  double sum = 0;
  for (int64_t i = 0; i < n_out; i++)
    sum += out.dtype == NND_DTYPE_F64 ? ((double *)out.data)[i] : ((float *)out.data)[i];
  printf("output 0: %lld values, sum %.9g\n", (long long)n_out, sum);
  if (out_path) {
    FILE *f = fopen(out_path, "wb");
    fwrite(out.data, out.dtype == NND_DTYPE_F64 ? 8 : 4, (size_t)n_out, f);
    fclose(f);
  }
  if (profile) {
    prof *p = calloc((size_t)g->n_nodes, sizeof *p);
    double total = 0;
    for (int32_t i = 0; i < g->n_nodes; i++) {
      p[i].node = i;
      p[i].s = nnd_engine_node_seconds(e, i) / (runs + 1);
      total += p[i].s;
    }
    double by_op[NND_OP_COUNT] = {0};
    for (int32_t i = 0; i < g->n_nodes; i++) by_op[g->nodes[i].op] += p[i].s;
    printf("by op of the (last) node:");
    for (int o = 0; o < NND_OP_COUNT; o++)
      if (by_op[o] > 0) printf(" %s %.2f ms", nnd_op_name((nnd_op)o), by_op[o] * 1e3);
    printf("\n");
    qsort(p, (size_t)g->n_nodes, sizeof *p, cmp_prof);
    printf("profile (per run, %.2f ms in steps):\n", total * 1e3);
    for (int i = 0; i < 25 && i < g->n_nodes && p[i].s > 0; i++)
      printf("  %8.3f ms  %-12s %s\n", p[i].s * 1e3, nnd_op_name(g->nodes[p[i].node].op),
             g->nodes[p[i].node].name);
    free(p);
  }
  for (int k = 0; k < g->n_outputs; k++) free(outs[k].data);
  free(outs);
  free(times);
  free(x);
  nnd_engine_destroy(e);
  nnd_graph_destroy(g);
  return 0;
}
