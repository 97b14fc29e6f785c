/* Measures convolution throughput of the candidate fast-path backends on the
 * conv layers of ResNet-50 and MobileNetV2 (batch 1): oneDNN with plain NCHW,
 * NHWC and its preferred blocked activations, and im2col + OpenBLAS sgemm.
 * Prints GFLOPS per layer and the FLOP-weighted total per backend. This is
 * how the engine's conv backend was chosen (see docs/ENGINE.md).
 *
 *   bench_conv_backends [threads]   (OMP/OpenBLAS threads, default 1) */
#include <cblas.h>
#include <dnnl.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

typedef struct layer {
  const char *name;
  int c, h, w, o, k, s, p, g, count; /* count: times the layer occurs in the net */
} layer;

static const layer layers[] = {
    /* ResNet-50 */
    {"r50 conv1 7x7/2", 3, 224, 224, 64, 7, 2, 3, 1, 1},
    {"r50 l1 1x1 64->64", 64, 56, 56, 64, 1, 1, 0, 1, 3},
    {"r50 l1 3x3 64", 64, 56, 56, 64, 3, 1, 1, 1, 3},
    {"r50 l1 1x1 64->256", 64, 56, 56, 256, 1, 1, 0, 1, 4},
    {"r50 l1 1x1 256->64", 256, 56, 56, 64, 1, 1, 0, 1, 2},
    {"r50 l2 1x1 256->128", 256, 56, 56, 128, 1, 1, 0, 1, 1},
    {"r50 l2 3x3 128/2", 128, 56, 56, 128, 3, 2, 1, 1, 1},
    {"r50 l2 3x3 128", 128, 28, 28, 128, 3, 1, 1, 1, 3},
    {"r50 l2 1x1 128->512", 128, 28, 28, 512, 1, 1, 0, 1, 4},
    {"r50 l2 1x1 512->128", 512, 28, 28, 128, 1, 1, 0, 1, 3},
    {"r50 l3 3x3 256", 256, 14, 14, 256, 3, 1, 1, 1, 5},
    {"r50 l3 1x1 256->1024", 256, 14, 14, 1024, 1, 1, 0, 1, 6},
    {"r50 l3 1x1 1024->256", 1024, 14, 14, 256, 1, 1, 0, 1, 5},
    {"r50 l4 3x3 512", 512, 7, 7, 512, 3, 1, 1, 1, 2},
    {"r50 l4 1x1 512->2048", 512, 7, 7, 2048, 1, 1, 0, 1, 4},
    {"r50 l4 1x1 2048->512", 2048, 7, 7, 512, 1, 1, 0, 1, 2},
    /* MobileNetV2 (a few representative ones) */
    {"mv2 conv 3x3/2", 3, 224, 224, 32, 3, 2, 1, 1, 1},
    {"mv2 dw 3x3 32", 32, 112, 112, 32, 3, 1, 1, 32, 1},
    {"mv2 dw 3x3 96/2", 96, 112, 112, 96, 3, 2, 1, 96, 1},
    {"mv2 dw 3x3 144", 144, 56, 56, 144, 3, 1, 1, 144, 1},
    {"mv2 pw 1x1 144->24", 144, 56, 56, 24, 1, 1, 0, 1, 1},
    {"mv2 pw 1x1 24->144", 24, 56, 56, 144, 1, 1, 0, 1, 1},
    {"mv2 pw 1x1 192->32", 192, 28, 28, 32, 1, 1, 0, 1, 2},
    {"mv2 pw 1x1 384->64", 384, 14, 14, 64, 1, 1, 0, 1, 3},
    {"mv2 pw 1x1 960->160", 960, 7, 7, 160, 1, 1, 0, 1, 2},
    {"mv2 pw 1x1 320->1280", 320, 7, 7, 1280, 1, 1, 0, 1, 1},
};

static double now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

#define CHECK(x)                                                                                   \
  do {                                                                                             \
    dnnl_status_t s_ = (x);                                                                        \
    if (s_ != dnnl_success) {                                                                      \
      fprintf(stderr, "%s:%d: %s failed (%d)\n", __FILE__, __LINE__, #x, (int)s_);                 \
      exit(1);                                                                                     \
    }                                                                                              \
  } while (0)

static float *rnd(size_t n) {
  float *p = aligned_alloc(64, (n * sizeof(float) + 63) / 64 * 64);
  for (size_t i = 0; i < n; i++)
    p[i] = (float)((double)rand() / RAND_MAX - 0.5);
  return p;
}

static int oh_of(const layer *l) { return (l->h + 2 * l->p - l->k) / l->s + 1; }

/* Batch size from $BATCH (default 1); im2col+OpenBLAS always runs batch 1
 * and is scaled. */
static int batch_size(void) {
  const char *b = getenv("BATCH");
  return b && atoi(b) > 0 ? atoi(b) : 1;
}

/* Seconds per run of the best of `reps` after warm-up. */
static double time_onednn(dnnl_engine_t eng, dnnl_stream_t strm, const layer *l,
                          dnnl_format_tag_t act_tag) {
  int oh = oh_of(l), ow = oh;
  const int nb = batch_size();
  dnnl_dims_t sd = {nb, l->c, l->h, l->w}, dd = {nb, l->o, oh, ow};
  dnnl_dims_t bd = {l->o};
  dnnl_memory_desc_t src_md, dst_md, w_md, b_md;
  CHECK(dnnl_memory_desc_init_by_tag(&src_md, 4, sd, dnnl_f32, act_tag));
  CHECK(dnnl_memory_desc_init_by_tag(&dst_md, 4, dd, dnnl_f32, act_tag));
  CHECK(dnnl_memory_desc_init_by_tag(&b_md, 1, bd, dnnl_f32, dnnl_x));
  if (l->g > 1) {
    dnnl_dims_t wd = {l->g, l->o / l->g, l->c / l->g, l->k, l->k};
    CHECK(dnnl_memory_desc_init_by_tag(&w_md, 5, wd, dnnl_f32, dnnl_format_tag_any));
  } else {
    dnnl_dims_t wd = {l->o, l->c, l->k, l->k};
    CHECK(dnnl_memory_desc_init_by_tag(&w_md, 4, wd, dnnl_f32, dnnl_format_tag_any));
  }
  dnnl_dims_t st = {l->s, l->s}, pd = {l->p, l->p};
  dnnl_convolution_desc_t cd;
  CHECK(dnnl_convolution_forward_desc_init(&cd, dnnl_forward_inference, dnnl_convolution_direct,
                                           &src_md, &w_md, &b_md, &dst_md, st, pd, pd));
  dnnl_primitive_attr_t attr;
  CHECK(dnnl_primitive_attr_create(&attr));
  dnnl_post_ops_t po;
  CHECK(dnnl_post_ops_create(&po));
  CHECK(dnnl_post_ops_append_eltwise(po, 1.f, dnnl_eltwise_relu, 0.f, 0.f));
  CHECK(dnnl_primitive_attr_set_post_ops(attr, po));
  dnnl_primitive_desc_t pdesc;
  CHECK(dnnl_primitive_desc_create(&pdesc, &cd, attr, eng, NULL));
  const char *impl = NULL;
  CHECK(dnnl_primitive_desc_query(pdesc, dnnl_query_impl_info_str, 0, &impl));
  const dnnl_memory_desc_t *qs = dnnl_primitive_desc_query_md(pdesc, dnnl_query_src_md, 0);
  const dnnl_memory_desc_t *qw = dnnl_primitive_desc_query_md(pdesc, dnnl_query_weights_md, 0);
  const dnnl_memory_desc_t *qd = dnnl_primitive_desc_query_md(pdesc, dnnl_query_dst_md, 0);
  size_t ss = dnnl_memory_desc_get_size(qs), ws = dnnl_memory_desc_get_size(qw),
         ds = dnnl_memory_desc_get_size(qd);
  float *s = rnd(ss / 4), *w = rnd(ws / 4), *d = rnd(ds / 4), *b = rnd((size_t)l->o);
  dnnl_memory_t ms, mw, md, mb;
  CHECK(dnnl_memory_create(&ms, qs, eng, s));
  CHECK(dnnl_memory_create(&mw, qw, eng, w));
  CHECK(dnnl_memory_create(&md, qd, eng, d));
  CHECK(dnnl_memory_create(&mb, &b_md, eng, b));
  dnnl_primitive_t prim;
  CHECK(dnnl_primitive_create(&prim, pdesc));
  dnnl_exec_arg_t args[4] = {
      {DNNL_ARG_SRC, ms}, {DNNL_ARG_WEIGHTS, mw}, {DNNL_ARG_BIAS, mb}, {DNNL_ARG_DST, md}};
  double best = 1e9;
  for (int r = 0; r < 25; r++) {
    double t0 = now();
    CHECK(dnnl_primitive_execute(prim, strm, 4, args));
    CHECK(dnnl_stream_wait(strm));
    double t = now() - t0;
    if (r >= 3 && t < best) best = t;
  }
  static char last_impl[64];
  snprintf(last_impl, sizeof last_impl, "%s", impl);
  fprintf(stderr, "    %-10s %s\n",
          act_tag == dnnl_nchw   ? "nchw"
          : act_tag == dnnl_nhwc ? "nhwc"
                                 : "any",
          last_impl);
  dnnl_primitive_destroy(prim);
  dnnl_memory_destroy(ms);
  dnnl_memory_destroy(mw);
  dnnl_memory_destroy(md);
  dnnl_memory_destroy(mb);
  dnnl_primitive_desc_destroy(pdesc);
  dnnl_post_ops_destroy(po);
  dnnl_primitive_attr_destroy(attr);
  free(s);
  free(w);
  free(d);
  free(b);
  return best;
}

/* im2col + sgemm in NCHW with a fused bias+ReLU epilogue; depthwise is done
 * per group (what a naive im2col backend does). */
static double time_blas(const layer *l) {
  int oh = oh_of(l), ow = oh, cg = l->c / l->g, og = l->o / l->g;
  int kk = cg * l->k * l->k, hw = oh * ow;
  float *x = rnd((size_t)l->c * l->h * l->w), *w = rnd((size_t)l->o * kk), *b = rnd((size_t)l->o),
        *y = rnd((size_t)l->o * hw);
  int direct = l->k == 1 && l->s == 1 && l->p == 0;
  float *col = direct ? NULL : rnd((size_t)kk * hw);
  double best = 1e9;
  for (int r = 0; r < 25; r++) {
    double t0 = now();
    for (int g = 0; g < l->g; g++) {
      const float *xg = x + (size_t)g * cg * l->h * l->w;
      const float *src = xg;
      if (!direct) {
        for (int c = 0; c < cg; c++)
          for (int ky = 0; ky < l->k; ky++)
            for (int kx = 0; kx < l->k; kx++) {
              float *row = col + ((size_t)(c * l->k + ky) * l->k + kx) * hw;
              for (int oy = 0; oy < oh; oy++) {
                int iy = oy * l->s - l->p + ky;
                for (int ox = 0; ox < ow; ox++) {
                  int ix = ox * l->s - l->p + kx;
                  row[oy * ow + ox] = (iy >= 0 && iy < l->h && ix >= 0 && ix < l->w)
                                          ? xg[((size_t)c * l->h + iy) * l->w + ix]
                                          : 0.f;
                }
              }
            }
        src = col;
      }
      cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, og, hw, kk, 1.f,
                  w + (size_t)g * og * kk, kk, src, hw, 0.f, y + (size_t)g * og * hw, hw);
    }
    for (int o = 0; o < l->o; o++)
      for (int i = 0; i < hw; i++) {
        float v = y[(size_t)o * hw + i] + b[o];
        y[(size_t)o * hw + i] = v > 0.f ? v : 0.f;
      }
    double t = now() - t0;
    if (r >= 3 && t < best) best = t;
  }
  free(x);
  free(w);
  free(b);
  free(y);
  free(col);
  return best;
}

int main(int argc, char **argv) {
  int threads = argc > 1 ? atoi(argv[1]) : 1;
  omp_set_num_threads(threads);
  openblas_set_num_threads(threads);
  dnnl_engine_t eng;
  dnnl_stream_t strm;
  CHECK(dnnl_engine_create(&eng, dnnl_cpu, 0));
  CHECK(dnnl_stream_create(&strm, eng, dnnl_stream_default_flags));
  double tot_flops[2] = {0}, tot[2][4] = {{0}};
  printf("%-24s %9s | %8s %8s %8s %8s  (GFLOPS, threads=%d)\n", "layer", "MFLOP", "dnnl-nchw",
         "dnnl-nhwc", "dnnl-any", "im2col+ob", threads);
  for (size_t i = 0; i < sizeof layers / sizeof layers[0]; i++) {
    const layer *l = &layers[i];
    int oh = oh_of(l);
    double flops = 2.0 * l->o * oh * oh * (l->c / l->g) * l->k * l->k;
    const double flops_b1 = flops;
    flops *= batch_size();
    fprintf(stderr, "%s\n", l->name);
    double t[4] = {time_onednn(eng, strm, l, dnnl_nchw), time_onednn(eng, strm, l, dnnl_nhwc),
                   time_onednn(eng, strm, l, dnnl_format_tag_any), time_blas(l) * flops / flops_b1};
    int net = l->name[0] == 'r' ? 0 : 1;
    tot_flops[net] += flops * l->count;
    for (int k = 0; k < 4; k++)
      tot[net][k] += t[k] * l->count;
    printf("%-24s %9.1f | %8.1f %8.1f %8.1f %8.1f\n", l->name, flops * 1e-6, flops / t[0] * 1e-9,
           flops / t[1] * 1e-9, flops / t[2] * 1e-9, flops / t[3] * 1e-9);
  }
  const char *nets[2] = {"resnet50 convs", "mobilenetv2 sample"};
  for (int n = 0; n < 2; n++)
    printf("%-24s %9.1f | %8.1f %8.1f %8.1f %8.1f   (ms: %.1f %.1f %.1f %.1f)\n", nets[n],
           tot_flops[n] * 1e-6, tot_flops[n] / tot[n][0] * 1e-9, tot_flops[n] / tot[n][1] * 1e-9,
           tot_flops[n] / tot[n][2] * 1e-9, tot_flops[n] / tot[n][3] * 1e-9, tot[n][0] * 1e3,
           tot[n][1] * 1e3, tot[n][2] * 1e3, tot[n][3] * 1e3);
  dnnl_stream_destroy(strm);
  dnnl_engine_destroy(eng);
  return 0;
}
