/* The engine's kernels: fast float32 kernels (oneDNN / im2col / our
 * depthwise convolution, sgemm, pools, elementwise) against the double
 * precision reference kernels over many random shapes; reference kernels in
 * both layouts against each other; data movement against naive index
 * arithmetic. Each failure prints the case, the first failing index and the
 * normalised error. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "engine_test_util.h"
#include "nnd_test.h"
#include "ops/fast.h"
#include "ops/ops.h"

/* ---------------------------------------------------------- helpers */

static int64_t geom_numel_in(const nnd__conv_geom *g) {
  return g->n * g->c * g->in[0] * g->in[1] * g->in[2];
}
static int64_t geom_numel_out(const nnd__conv_geom *g) {
  return g->n * g->o * g->out[0] * g->out[1] * g->out[2];
}

/* NC(DHW) <-> N(DHW)C for tensors of n x c x sp. */
static void to_last_f64(const double *x, double *y, int64_t n, int64_t c, int64_t sp) {
  for (int64_t a = 0; a < n; a++)
    for (int64_t ch = 0; ch < c; ch++)
      for (int64_t s = 0; s < sp; s++)
        y[(a * sp + s) * c + ch] = x[(a * c + ch) * sp + s];
}
static void to_last_f32(const float *x, float *y, int64_t n, int64_t c, int64_t sp) {
  for (int64_t a = 0; a < n; a++)
    for (int64_t ch = 0; ch < c; ch++)
      for (int64_t s = 0; s < sp; s++)
        y[(a * sp + s) * c + ch] = x[(a * c + ch) * sp + s];
}

static void describe(const char *kind, int id, const nnd__conv_geom *g, char *buf, size_t n) {
  snprintf(
      buf, n,
      "%s case %d: n%lld c%lld o%lld g%lld in %lldx%lldx%lld k %lldx%lldx%lld s %lld,%lld,%lld "
      "d %lld,%lld,%lld pads %lld,%lld,%lld/%lld,%lld,%lld %s",
      kind, id, (long long)g->n, (long long)g->c, (long long)g->o, (long long)g->groups,
      (long long)g->in[0], (long long)g->in[1], (long long)g->in[2], (long long)g->k[0],
      (long long)g->k[1], (long long)g->k[2], (long long)g->stride[0], (long long)g->stride[1],
      (long long)g->stride[2], (long long)g->dil[0], (long long)g->dil[1], (long long)g->dil[2],
      (long long)g->pad_begin[0], (long long)g->pad_begin[1], (long long)g->pad_begin[2],
      (long long)g->pad_end[0], (long long)g->pad_end[1], (long long)g->pad_end[2],
      g->channels_last ? "NHWC" : "NCHW");
}

/* Output size with the conv rule; false when the kernel does not fit. */
static bool finish_geom(nnd__conv_geom *g) {
  for (int i = 0; i < 3; i++) {
    int64_t span = (g->k[i] - 1) * g->dil[i] + 1;
    int64_t padded = g->in[i] + g->pad_begin[i] + g->pad_end[i];
    if (padded < span) return false;
    g->out[i] = (padded - span) / g->stride[i] + 1;
  }
  return true;
}

static const nnd__unary posts[] = {
    {NND__UN_RELU, 0, 0},
    {NND__UN_CLIP, 0, 6},
    {NND__UN_LEAKY_RELU, 0.1, 0},
    {NND__UN_HARD_SWISH, 0, 0},
    {NND__UN_SIGMOID, 0, 0},
    {NND__UN_TANH, 0, 0},
    {NND__UN_HARD_SIGMOID, 0.2, 0.5},
    {NND__UN_SILU, 0, 0},
    {NND__UN_ELU, 1.0, 0},
    {NND__UN_GELU, 0, 0},
};

/* A random convolution: mostly 2-D, some 1-D and 3-D, every feature. */
static void random_conv(test_rng *r, nnd__conv_geom *g) {
  do {
    memset(g, 0, sizeof *g);
    const int ns = rng_int(r, 0, 9) == 0 ? 1 : (rng_int(r, 0, 14) == 0 ? 3 : 2);
    g->n = rng_int(r, 1, 2);
    const int kind = (int)rng_int(r, 0, 3); /* 0,1 dense, 2 grouped, 3 depthwise */
    if (kind == 3) {
      g->groups = g->c = rng_int(r, 1, 40);
      g->o = g->c * (rng_int(r, 0, 4) == 0 ? 2 : 1);
    } else if (kind == 2) {
      g->groups = rng_int(r, 2, 4);
      g->c = g->groups * rng_int(r, 1, 4);
      g->o = g->groups * rng_int(r, 1, 4);
    } else {
      g->groups = 1;
      g->c = rng_int(r, 1, 24);
      g->o = rng_int(r, 1, 24);
    }
    static const int64_t ks[] = {1, 1, 2, 3, 3, 3, 5, 7};
    for (int i = 0; i < 3; i++) {
      const bool used = i >= 3 - ns;
      g->in[i] = used ? rng_int(r, 1, ns == 3 ? 7 : 17) : 1;
      g->k[i] = used ? ks[rng_int(r, 0, 7)] : 1;
      if (ns == 3 && g->k[i] > 3) g->k[i] = 3;
      g->stride[i] = used ? rng_int(r, 1, 3) : 1;
      g->dil[i] = used && rng_int(r, 0, 3) == 0 ? 2 : 1;
      g->pad_begin[i] = used ? rng_int(r, 0, g->k[i] - 1 > 3 ? 3 : g->k[i] - 1) : 0;
      g->pad_end[i] = used ? rng_int(r, 0, g->k[i] - 1 > 3 ? 3 : g->k[i] - 1) : 0;
    }
    g->channels_last = rng_int(r, 0, 1) == 1;
  } while (!finish_geom(g));
}

/* Runs every fast implementation that can take g against the reference.
 * Returns nonzero on the first mismatch. */
static int check_conv(test_rng *r, nnd__fast_ctx *ctx, const nnd__conv_geom *g, int id) {
  char what[400];
  const int64_t nx = geom_numel_in(g), ny = geom_numel_out(g);
  const int64_t nw = g->o * (g->c / g->groups) * g->k[0] * g->k[1] * g->k[2];
  float *x = malloc((size_t)nx * 4), *w = malloc((size_t)nw * 4), *b = malloc((size_t)g->o * 4);
  float *y = malloc((size_t)ny * 4 + 4);
  double *xd = malloc((size_t)nx * 8), *wd = malloc((size_t)nw * 8), *bd = malloc((size_t)g->o * 8);
  double *yd = malloc((size_t)ny * 8 + 8);
  fill_f32(r, x, nx);
  fill_f32(r, w, nw);
  fill_f32(r, b, g->o);
  f32_to_f64(x, xd, nx);
  f32_to_f64(w, wd, nw);
  f32_to_f64(b, bd, g->o);
  const bool use_bias = rng_int(r, 0, 3) != 0;
  nnd__fconv_desc d = {0};
  d.geom = *g;
  d.w = w;
  d.b = use_bias ? b : NULL;
  if (rng_int(r, 0, 2) != 0) {
    d.n_post = 1;
    d.post[0] = posts[rng_int(r, 0, (int64_t)(sizeof posts / sizeof posts[0]) - 1)];
  }
  /* Sometimes a fused residual: y = conv(x) + b + r before the activations. */
  d.sum = rng_int(r, 0, 3) == 0;
  float *res = malloc((size_t)ny * 4 + 4);
  fill_f32(r, res, ny);
  nnd__conv_f64(g, xd, wd, use_bias ? bd : NULL, yd);
  double *ynopost = malloc((size_t)ny * 8 + 8);
  memcpy(ynopost, yd, (size_t)ny * 8);
  if (d.sum)
    for (int64_t i = 0; i < ny; i++)
      yd[i] += res[i];
  for (int i = 0; i < d.n_post; i++)
    nnd__unary_f64(&d.post[i], yd, yd, ny);
  int rc = 0;
  /* Generic float loops (no fused residual). */
  nnd__conv_f32(g, x, w, use_bias ? b : NULL, y);
  {
    double *tmp = malloc((size_t)ny * 8 + 8);
    memcpy(tmp, ynopost, (size_t)ny * 8);
    for (int i = 0; i < d.n_post; i++) {
      nnd__unary_f32(&d.post[i], y, y, ny);
      nnd__unary_f64(&d.post[i], tmp, tmp, ny);
    }
    describe("conv generic", id, g, what, sizeof what);
    rc |= check_close_f32(what, y, tmp, ny, 2e-5, 1e-5);
    free(tmp);
  }
  /* Every backend that takes it. */
  static const char *const forces[] = {"dw", "onednn", "im2col", NULL};
  for (int f = 0; !rc && f < 4; f++) {
    d.force = forces[f];
    if (f == 0 && !nnd__dwconv_supported(g)) continue;
    if (f == 1 && strcmp(nnd__fast_backend_name(), "onednn") != 0) continue;
    nnd__fconv *c = NULL;
    nnd_error err = {0};
    if (nnd__fconv_create(ctx, &d, &c, &err) != NND_OK) {
      /* oneDNN may lack a post-op or shape: the default picks another. */
      if (f == 1 && err.status == NND_ERR_UNSUPPORTED) continue;
      fprintf(stderr, "conv case %d (%s): create failed: %s\n", id, forces[f] ? forces[f] : "best",
              err.message);
      rc = 1;
      break;
    }
    void *scratch = aligned_alloc(64, (nnd__fconv_scratch_bytes(c) + 64) / 64 * 64);
    if (d.sum)
      memcpy(y, res, (size_t)ny * 4);
    else
      memset(y, 0, (size_t)ny * 4);
    if (nnd__fconv_run(c, x, y, scratch, &err) != NND_OK) {
      fprintf(stderr, "conv case %d: run failed: %s\n", id, err.message);
      rc = 1;
    } else {
      char impl[480];
      describe(nnd__fconv_impl(c), id, g, impl, sizeof impl);
      if (d.sum) strncat(impl, " +residual", sizeof impl - strlen(impl) - 1);
      rc |= check_close_f32(impl, y, yd, ny, 3e-5, 2e-5);
    }
    free(scratch);
    nnd__fconv_destroy(c);
  }
  /* The reference gives the same bits in the other layout. */
  if (!rc) {
    nnd__conv_geom o = *g;
    o.channels_last = !g->channels_last;
    const int64_t sp_in = g->in[0] * g->in[1] * g->in[2],
                  sp_out = g->out[0] * g->out[1] * g->out[2];
    double *x2 = malloc((size_t)nx * 8), *y2 = malloc((size_t)ny * 8 + 8),
           *y3 = malloc((size_t)ny * 8 + 8);
    if (g->channels_last) {
      /* x is NHWC: make NCHW by the inverse transpose. */
      for (int64_t a = 0; a < g->n; a++)
        for (int64_t ch = 0; ch < g->c; ch++)
          for (int64_t s = 0; s < sp_in; s++)
            x2[(a * g->c + ch) * sp_in + s] = xd[(a * sp_in + s) * g->c + ch];
      nnd__conv_f64(&o, x2, wd, use_bias ? bd : NULL, y2);
      for (int i = 0; i < d.n_post; i++)
        nnd__unary_f64(&d.post[i], y2, y2, ny);
      to_last_f64(y2, y3, g->n, g->o, sp_out);
    } else {
      to_last_f64(xd, x2, g->n, g->c, sp_in);
      nnd__conv_f64(&o, x2, wd, use_bias ? bd : NULL, y2);
      for (int i = 0; i < d.n_post; i++)
        nnd__unary_f64(&d.post[i], y2, y2, ny);
      for (int64_t a = 0; a < g->n; a++)
        for (int64_t ch = 0; ch < g->o; ch++)
          for (int64_t s = 0; s < sp_out; s++)
            y3[(a * g->o + ch) * sp_out + s] = y2[(a * sp_out + s) * g->o + ch];
    }
    describe("conv reference layouts", id, g, what, sizeof what);
    for (int i = 0; i < d.n_post; i++)
      nnd__unary_f64(&d.post[i], ynopost, ynopost, ny);
    rc |= check_equal_f64(what, y3, ynopost, ny);
    free(x2);
    free(y2);
    free(y3);
  }
  free(x);
  free(w);
  free(b);
  free(y);
  free(xd);
  free(wd);
  free(bd);
  free(yd);
  free(res);
  free(ynopost);
  return rc;
}

static int test_conv_random(void) {
  nnd_error err = {0};
  nnd__fast_ctx *ctx = NULL;
  ASSERT_EQ_INT(NND_OK, nnd__fast_ctx_create(&ctx, &err));
  test_rng r = {12345};
  int rc = 0;
  for (int i = 0; i < 400 && !rc; i++) {
    nnd__conv_geom g;
    random_conv(&r, &g);
    rc = check_conv(&r, ctx, &g, i);
  }
  nnd__fast_ctx_destroy(ctx);
  return rc;
}

/* Shapes that matter in real networks, and the depthwise kernel's paths
 * (four-pixel blocks, channel tails, borders). */
static int test_conv_named(void) {
  nnd_error err = {0};
  nnd__fast_ctx *ctx = NULL;
  ASSERT_EQ_INT(NND_OK, nnd__fast_ctx_create(&ctx, &err));
  test_rng r = {777};
  struct {
    int64_t c, o, g, h, w, k, s, p0, p1, d;
  } cases[] = {
      {3, 16, 1, 32, 32, 7, 2, 3, 3, 1},   /* ResNet stem, kernel 7 */
      {16, 32, 1, 14, 14, 1, 1, 0, 0, 1},  /* 1x1 */
      {16, 16, 1, 14, 14, 3, 1, 1, 1, 1},  /* 3x3 */
      {32, 32, 32, 15, 15, 3, 1, 1, 1, 1}, /* depthwise, AVX2 main path */
      {37, 37, 37, 16, 19, 3, 2, 0, 1, 1}, /* depthwise, stride 2, asym pad, tail */
      {8, 8, 8, 9, 9, 5, 1, 2, 2, 2},      /* depthwise 5x5 dilated */
      {24, 48, 24, 8, 8, 3, 1, 1, 1, 1},   /* channel multiplier 2 */
      {12, 12, 3, 11, 11, 3, 2, 1, 0, 1},  /* grouped */
      {4, 6, 1, 5, 5, 3, 1, 2, 0, 3},      /* dilation 3, asym pads */
  };
  int rc = 0;
  for (size_t i = 0; i < sizeof cases / sizeof cases[0] && !rc; i++)
    for (int layout = 0; layout < 2 && !rc; layout++) {
      nnd__conv_geom g = {0};
      g.n = 2;
      g.c = cases[i].c;
      g.o = cases[i].o;
      g.groups = cases[i].g;
      g.in[0] = 1;
      g.in[1] = cases[i].h;
      g.in[2] = cases[i].w;
      g.k[0] = 1;
      g.k[1] = g.k[2] = cases[i].k;
      g.stride[0] = 1;
      g.stride[1] = g.stride[2] = cases[i].s;
      g.dil[0] = 1;
      g.dil[1] = g.dil[2] = cases[i].d;
      g.pad_begin[1] = g.pad_begin[2] = cases[i].p0;
      g.pad_end[1] = g.pad_end[2] = cases[i].p1;
      g.channels_last = layout == 1;
      ASSERT_TRUE(finish_geom(&g));
      rc = check_conv(&r, ctx, &g, 1000 + (int)i);
    }
  nnd__fast_ctx_destroy(ctx);
  return rc;
}

static int test_conv_transpose(void) {
  test_rng r = {99};
  for (int i = 0; i < 60; i++) {
    nnd__conv_geom g = {0};
    g.n = rng_int(&r, 1, 2);
    g.groups = rng_int(&r, 1, 2);
    g.c = g.groups * rng_int(&r, 1, 4);
    g.o = g.groups * rng_int(&r, 1, 4);
    g.channels_last = rng_int(&r, 0, 1);
    for (int d = 0; d < 3; d++) {
      const bool used = d > 0;
      g.in[d] = used ? rng_int(&r, 1, 6) : 1;
      g.k[d] = used ? rng_int(&r, 1, 4) : 1;
      g.stride[d] = used ? rng_int(&r, 1, 3) : 1;
      g.dil[d] = used ? rng_int(&r, 1, 2) : 1;
      g.pad_begin[d] = used ? rng_int(&r, 0, g.k[d] - 1) : 0;
      g.pad_end[d] = used ? rng_int(&r, 0, g.k[d] - 1) : 0;
      g.out[d] =
          (g.in[d] - 1) * g.stride[d] + (g.k[d] - 1) * g.dil[d] + 1 - g.pad_begin[d] - g.pad_end[d];
    }
    if (g.out[1] < 1 || g.out[2] < 1) continue;
    const int64_t nx = geom_numel_in(&g), ny = geom_numel_out(&g);
    const int64_t nw = g.c * (g.o / g.groups) * g.k[1] * g.k[2];
    float *x = malloc((size_t)nx * 4), *w = malloc((size_t)nw * 4), *b = malloc((size_t)g.o * 4);
    float *y = malloc((size_t)ny * 4);
    double *xd = malloc((size_t)nx * 8), *wd = malloc((size_t)nw * 8),
           *bd = malloc((size_t)g.o * 8);
    double *yd = malloc((size_t)ny * 8);
    fill_f32(&r, x, nx);
    fill_f32(&r, w, nw);
    fill_f32(&r, b, g.o);
    f32_to_f64(x, xd, nx);
    f32_to_f64(w, wd, nw);
    f32_to_f64(b, bd, g.o);
    nnd__conv_transpose_f64(&g, xd, wd, bd, yd);
    nnd__conv_transpose_f32(&g, x, w, b, y);
    /* Direct check of one output against the definition. */
    {
      const int64_t cg = g.c / g.groups, og = g.o / g.groups;
      const int64_t oc = g.o - 1, oy = g.out[1] / 2, ox = g.out[2] - 1;
      double acc = bd[oc];
      const int64_t gi = oc / og, oj = oc % og;
      for (int64_t ci = 0; ci < cg; ci++)
        for (int64_t iy = 0; iy < g.in[1]; iy++)
          for (int64_t ix = 0; ix < g.in[2]; ix++)
            for (int64_t ky = 0; ky < g.k[1]; ky++)
              for (int64_t kx = 0; kx < g.k[2]; kx++) {
                if (iy * g.stride[1] - g.pad_begin[1] + ky * g.dil[1] != oy) continue;
                if (ix * g.stride[2] - g.pad_begin[2] + kx * g.dil[2] != ox) continue;
                const int64_t c = gi * cg + ci;
                const int64_t xi = g.channels_last ? (iy * g.in[2] + ix) * g.c + c
                                                   : (c * g.in[1] + iy) * g.in[2] + ix;
                acc += xd[xi] * wd[((c * og + oj) * g.k[1] + ky) * g.k[2] + kx];
              }
      const int64_t yi =
          g.channels_last ? (oy * g.out[2] + ox) * g.o + oc : (oc * g.out[1] + oy) * g.out[2] + ox;
      ASSERT_NEAR(acc, yd[yi], 1e-12);
    }
    char what[64];
    snprintf(what, sizeof what, "conv_transpose case %d", i);
    int rc = check_close_f32(what, y, yd, ny, 2e-5, 1e-5);
    free(x);
    free(w);
    free(b);
    free(y);
    free(xd);
    free(wd);
    free(bd);
    free(yd);
    if (rc) return rc;
  }
  return 0;
}

/* ------------------------------------------------------------ gemm */

static int test_gemm(void) {
  test_rng r = {4242};
  for (int i = 0; i < 200; i++) {
    const int64_t m = rng_int(&r, 1, 70), n = rng_int(&r, 1, 70), k = rng_int(&r, 1, 90);
    const bool ta = rng_int(&r, 0, 1), tb = rng_int(&r, 0, 1);
    const float alpha = rng_int(&r, 0, 1) ? 1.f : 0.5f, beta = rng_int(&r, 0, 2) ? 1.f : 0.f;
    float *a = malloc((size_t)(m * k) * 4), *b = malloc((size_t)(k * n) * 4);
    float *c = malloc((size_t)(m * n) * 4);
    double *ad = malloc((size_t)(m * k) * 8), *bd = malloc((size_t)(k * n) * 8);
    double *cd = malloc((size_t)(m * n) * 8), *yd = malloc((size_t)(m * n) * 8);
    fill_f32(&r, a, m * k);
    fill_f32(&r, b, k * n);
    fill_f32(&r, c, m * n);
    f32_to_f64(a, ad, m * k);
    f32_to_f64(b, bd, k * n);
    f32_to_f64(c, cd, m * n);
    nnd__gemm_f64(ta, tb, m, n, k, alpha, ad, bd, beta, beta != 0 ? cd : NULL, m, n, yd);
    nnd__sgemm(ta, tb, m, n, k, alpha, a, ta ? m : k, b, tb ? k : n, beta, c, n);
    char what[128];
    snprintf(what, sizeof what, "sgemm case %d: m%lld n%lld k%lld ta%d tb%d alpha %g beta %g", i,
             (long long)m, (long long)n, (long long)k, ta, tb, alpha, beta);
    int rc = check_close_f32(what, c, yd, m * n, 2e-5, 1e-5);
    free(a);
    free(b);
    free(c);
    free(ad);
    free(bd);
    free(cd);
    free(yd);
    if (rc) return rc;
  }
  /* Broadcast C in the reference: a row vector. */
  double a2[6] = {1, 2, 3, 4, 5, 6}, b2[6] = {1, 0, 0, 1, 1, 1}, c2[2] = {10, 20}, y2[4];
  nnd__gemm_f64(false, false, 2, 2, 3, 1.0, a2, b2, 1.0, c2, 1, 2, y2);
  ASSERT_NEAR(14, y2[0], 0);
  ASSERT_NEAR(25, y2[1], 0);
  ASSERT_NEAR(20, y2[2], 0);
  ASSERT_NEAR(31, y2[3], 0);
  return 0;
}

/* The packed reference core against the plain loop it replaces: the same
 * bits (every output one accumulator, k ascending), over shapes that cross
 * its register tiles (4 x 8), K blocks (256) and column chunks (128), with
 * strided and transposed operands and a per-row initial value. */
static int test_dgemm_bits(void) {
  test_rng r = {9090};
  for (int i = 0; i < 60; i++) {
    const int64_t m = rng_int(&r, 1, 40), n = rng_int(&r, 1, i < 10 ? 300 : 40),
                  k = rng_int(&r, 0, i < 20 ? 700 : 30);
    const bool ta = rng_int(&r, 0, 1), tb = rng_int(&r, 0, 1), init = rng_int(&r, 0, 1);
    double *a = malloc((size_t)(m * k + 1) * 8), *b = malloc((size_t)(k * n + 1) * 8);
    double *c = malloc((size_t)m * 8), *y = malloc((size_t)(m * n) * 8);
    for (int64_t q = 0; q < m * k; q++)
      a[q] = rng_f(&r);
    for (int64_t q = 0; q < k * n; q++)
      b[q] = rng_f(&r);
    for (int64_t q = 0; q < m; q++)
      c[q] = rng_f(&r);
    const nnd__dgemm_b bm = {b, tb ? 1 : n, tb ? k : 1};
    ASSERT_TRUE(nnd__dgemm_f64(m, n, k, a, ta ? 1 : k, ta ? m : 1, &bm, init ? c : NULL, y, n));
    int rc = 0;
    for (int64_t p = 0; p < m * n && !rc; p++) {
      const int64_t row = p / n, col = p % n;
      double acc = init ? c[row] : 0;
      for (int64_t q = 0; q < k; q++)
        acc += a[ta ? q * m + row : row * k + q] * b[tb ? col * k + q : q * n + col];
      if (memcmp(&acc, &y[p], sizeof acc) != 0) {
        fprintf(stderr, "dgemm case %d (m%lld n%lld k%lld ta%d tb%d): Y[%lld][%lld] %.17g, loop %.17g\n",
                i, (long long)m, (long long)n, (long long)k, ta, tb, (long long)row,
                (long long)col, y[p], acc);
        rc = 1;
      }
    }
    free(a);
    free(b);
    free(c);
    free(y);
    if (rc) return rc;
  }
  return 0;
}

static int test_matmul_broadcast(void) {
  /* A [2,1,3,4] x B [3,4,5] -> [2,3,3,5], checked against loops. */
  nnd__matmul_geom g = {0};
  g.brank = 2;
  g.bdims[0] = 2;
  g.bdims[1] = 3;
  g.a_bstride[0] = 1;
  g.a_bstride[1] = 0;
  g.b_bstride[0] = 0;
  g.b_bstride[1] = 1;
  g.batch = 6;
  g.m = 3;
  g.n = 5;
  g.k = 4;
  test_rng r = {5};
  double a[2 * 12], b[3 * 20], y[6 * 15];
  for (int i = 0; i < 24; i++)
    a[i] = rng_f(&r);
  for (int i = 0; i < 60; i++)
    b[i] = rng_f(&r);
  nnd__matmul_f64(&g, a, b, y);
  for (int i0 = 0; i0 < 2; i0++)
    for (int i1 = 0; i1 < 3; i1++)
      for (int m = 0; m < 3; m++)
        for (int n = 0; n < 5; n++) {
          double acc = 0;
          for (int k = 0; k < 4; k++)
            acc += a[i0 * 12 + m * 4 + k] * b[i1 * 20 + k * 5 + n];
          ASSERT_NEAR(acc, y[((i0 * 3 + i1) * 3 + m) * 5 + n], 1e-12);
        }
  return 0;
}

/* ------------------------------------------------------------- pools */

static int test_pool_known_values(void) {
  /* x = 1..9 in 3x3, kernel 3, stride 1, pads 1: the corner window holds
   * 1,2,4,5 (4 real taps, 9 with padding). */
  double x[9];
  for (int i = 0; i < 9; i++)
    x[i] = i + 1;
  nnd__conv_geom g = {.n = 1, .c = 1, .o = 1, .groups = 1};
  for (int d = 0; d < 3; d++)
    g.in[d] = g.out[d] = g.k[d] = g.stride[d] = g.dil[d] = 1;
  g.in[1] = g.in[2] = 3;
  g.k[1] = g.k[2] = 3;
  g.pad_begin[1] = g.pad_begin[2] = g.pad_end[1] = g.pad_end[2] = 1;
  g.out[1] = g.out[2] = 3;
  double y[9];
  nnd__avgpool_f64(&g, false, x, y);
  ASSERT_NEAR(12.0 / 4, y[0], 1e-15);
  ASSERT_NEAR(45.0 / 9, y[4], 1e-15);
  nnd__avgpool_f64(&g, true, x, y);
  ASSERT_NEAR(12.0 / 9, y[0], 1e-15);
  nnd__maxpool_f64(&g, x, y);
  ASSERT_NEAR(5, y[0], 0);
  ASSERT_NEAR(9, y[8], 0);
  /* ceil_mode: 3x3 input, kernel 2, stride 2 -> 2x2, the last window holds
   * one column (and count_include_pad without pads counts it as 1). */
  nnd__conv_geom c = g;
  c.k[1] = c.k[2] = 2;
  c.stride[1] = c.stride[2] = 2;
  memset(c.pad_begin, 0, sizeof c.pad_begin);
  memset(c.pad_end, 0, sizeof c.pad_end);
  c.out[1] = c.out[2] = 2;
  nnd__avgpool_f64(&c, true, x, y);
  ASSERT_NEAR((1 + 2 + 4 + 5) / 4.0, y[0], 1e-15);
  ASSERT_NEAR((3 + 6) / 2.0, y[1], 1e-15);
  ASSERT_NEAR(9, y[3], 1e-15);
  return 0;
}

static int test_pool_random(void) {
  test_rng r = {31337};
  for (int i = 0; i < 300; i++) {
    nnd__conv_geom g = {0};
    g.n = rng_int(&r, 1, 2);
    g.c = g.o = g.groups = rng_int(&r, 1, 19);
    g.channels_last = rng_int(&r, 0, 1);
    const bool ceil_mode = rng_int(&r, 0, 1), cip = rng_int(&r, 0, 1);
    const bool is_max = rng_int(&r, 0, 1);
    bool ok = true;
    for (int d = 0; d < 3; d++) {
      const bool used = d > 0 || rng_int(&r, 0, 5) == 0;
      g.in[d] = used ? rng_int(&r, 1, 12) : 1;
      g.k[d] = used ? rng_int(&r, 1, 4) : 1;
      g.stride[d] = used ? rng_int(&r, 1, 3) : 1;
      g.dil[d] = used && is_max && rng_int(&r, 0, 3) == 0 ? 2 : 1;
      g.pad_begin[d] = used ? rng_int(&r, 0, (g.k[d] - 1) / 2) : 0;
      g.pad_end[d] = used ? rng_int(&r, 0, (g.k[d] - 1) / 2) : 0;
      const int64_t span = (g.k[d] - 1) * g.dil[d] + 1, s = g.stride[d];
      const int64_t padded = g.in[d] + g.pad_begin[d] + g.pad_end[d];
      if (padded < span) ok = false;
      int64_t out = ceil_mode ? (padded - span + s - 1) / s + 1 : (padded - span) / s + 1;
      if (ceil_mode && (out - 1) * s >= g.in[d] + g.pad_begin[d]) out--;
      g.out[d] = out;
    }
    if (!ok) continue;
    const int64_t nx = geom_numel_in(&g), ny = geom_numel_out(&g);
    const int64_t sp_in = nx / g.n / g.c, sp_out = ny / g.n / g.c;
    float *x = malloc((size_t)nx * 4), *y = malloc((size_t)ny * 4);
    double *xd = malloc((size_t)nx * 8), *yd = malloc((size_t)ny * 8);
    double *x2 = malloc((size_t)nx * 8), *y2 = malloc((size_t)ny * 8), *y3 = malloc((size_t)ny * 8);
    fill_f32(&r, x, nx);
    f32_to_f64(x, xd, nx);
    if (is_max) {
      nnd__maxpool_f64(&g, xd, yd);
      nnd__maxpool_f32(&g, x, y);
    } else {
      nnd__avgpool_f64(&g, cip, xd, yd);
      nnd__avgpool_f32(&g, cip, x, y);
    }
    char what[400];
    describe(is_max ? "maxpool" : (cip ? "avgpool incl pad" : "avgpool"), i, &g, what, sizeof what);
    int rc = check_close_f32(what, y, yd, ny, 1e-6, 1e-6);
    if (!rc && !g.channels_last) {
      /* Same result channels-last. */
      nnd__conv_geom o = g;
      o.channels_last = true;
      to_last_f64(xd, x2, g.n, g.c, sp_in);
      if (is_max)
        nnd__maxpool_f64(&o, x2, y2);
      else
        nnd__avgpool_f64(&o, cip, x2, y2);
      to_last_f64(yd, y3, g.n, g.c, sp_out);
      rc = check_equal_f64(what, y2, y3, ny);
    }
    free(x);
    free(y);
    free(xd);
    free(yd);
    free(x2);
    free(y2);
    free(y3);
    if (rc) return rc;
  }
  return 0;
}

static int test_global_pool(void) {
  test_rng r = {8};
  const int64_t n = 2, c = 5, sp = 13;
  float x[2 * 5 * 13], xl[2 * 5 * 13], y[10], yl[10];
  double xd[2 * 5 * 13], yd[10];
  fill_f32(&r, x, n * c * sp);
  f32_to_f64(x, xd, n * c * sp);
  to_last_f32(x, xl, n, c, sp);
  for (int is_max = 0; is_max < 2; is_max++) {
    nnd__global_pool_f64(is_max, n, c, sp, false, xd, yd);
    nnd__global_pool_f32(is_max, n, c, sp, false, x, y);
    nnd__global_pool_f32(is_max, n, c, sp, true, xl, yl);
    if (check_close_f32("global pool", y, yd, n * c, 1e-6, 1e-6)) return 1;
    if (check_close_f32("global pool NHWC", yl, yd, n * c, 1e-6, 1e-6)) return 1;
  }
  return 0;
}

/* ------------------------------------------------------- elementwise */

static int test_unary(void) {
  test_rng r = {11};
  enum { N = 1000 };
  float x[N], y[N];
  double xd[N], yd[N];
  for (int k = NND__UN_COPY; k <= NND__UN_CEIL; k++) {
    for (int i = 0; i < N; i++) {
      x[i] = rng_f(&r) * 8.f;
      if (k == NND__UN_LOG || k == NND__UN_SQRT) x[i] = fabsf(x[i]) + 0.01f;
      if (k == NND__UN_RECIPROCAL && fabsf(x[i]) < 0.05f) x[i] = 0.5f;
    }
    f32_to_f64(x, xd, N);
    nnd__unary u = {(nnd__unary_kind)k, 0.2, 0.5};
    if (k == NND__UN_CLIP) u.alpha = -1, u.beta = 2;
    if (k == NND__UN_ELU) u.alpha = 1.0;
    nnd__unary_f64(&u, xd, yd, N);
    nnd__unary_f32(&u, x, y, N);
    char what[64];
    snprintf(what, sizeof what, "unary %s", nnd__unary_name(u.kind));
    if (check_close_f32(what, y, yd, N, 2e-6, 2e-6)) return 1;
  }
  /* Spot values. */
  double v[3] = {-3, 0.5, 4}, o[3];
  nnd__unary hs = {NND__UN_HARD_SWISH, 0, 0};
  nnd__unary_f64(&hs, v, o, 3);
  ASSERT_NEAR(0, o[0], 0);
  ASSERT_NEAR(0.5 * (0.5 / 6 + 0.5), o[1], 1e-15);
  ASSERT_NEAR(4, o[2], 0);
  int64_t iv[3] = {-5, 0, 7}, io[3];
  nnd__unary neg = {NND__UN_NEG, 0, 0};
  ASSERT_TRUE(nnd__unary_i64(&neg, iv, io, 3));
  ASSERT_EQ_INT(5, io[0]);
  ASSERT_EQ_INT(-7, io[2]);
  return 0;
}

/* Broadcast reference by index arithmetic. */
static double bin_ref(nnd__binary_kind k, double a, double b) {
  switch (k) {
  case NND__BIN_ADD: return a + b;
  case NND__BIN_SUB: return a - b;
  case NND__BIN_MUL: return a * b;
  case NND__BIN_DIV: return a / b;
  case NND__BIN_POW: return pow(a, b);
  case NND__BIN_MAX: return a > b ? a : b;
  case NND__BIN_MIN: return a < b ? a : b;
  case NND__BIN_PRELU: return a < 0 ? a * b : a;
  case NND__BIN_FMOD: return fmod(a, b);
  case NND__BIN_MOD: return a - floor(a / b) * b;
  }
  return 0;
}

static int test_binary_broadcast(void) {
  test_rng r = {2024};
  for (int i = 0; i < 400; i++) {
    const int rank = (int)rng_int(&r, 0, 5);
    int64_t out[NND_MAX_RANK], ad[NND_MAX_RANK], bd[NND_MAX_RANK];
    int64_t n = 1;
    for (int d = 0; d < rank; d++) {
      out[d] = rng_int(&r, 1, 6);
      ad[d] = rng_int(&r, 0, 2) == 0 ? 1 : out[d];
      bd[d] = rng_int(&r, 0, 2) == 0 ? 1 : out[d];
      n *= out[d];
    }
    if (i % 7 == 0 && rank > 0) out[rank - 1] = ad[rank - 1] = bd[rank - 1] = 20000, n = -1;
    if (n < 0) {
      n = 1;
      for (int d = 0; d < rank; d++)
        n *= out[d];
    }
    int64_t na = 1, nb = 1;
    for (int d = 0; d < rank; d++)
      na *= ad[d], nb *= bd[d];
    const nnd__binary_kind kind = (nnd__binary_kind)rng_int(&r, 0, 9);
    float *a = malloc((size_t)na * 4), *b = malloc((size_t)nb * 4), *y = malloc((size_t)n * 4);
    double *yd = malloc((size_t)n * 8), *a64 = malloc((size_t)na * 8),
           *b64 = malloc((size_t)nb * 8);
    double *y64 = malloc((size_t)n * 8);
    fill_f32(&r, a, na);
    fill_f32(&r, b, nb);
    if (kind == NND__BIN_POW)
      for (int64_t q = 0; q < na; q++)
        a[q] = fabsf(a[q]) + 0.1f;
    if (kind == NND__BIN_DIV || kind == NND__BIN_FMOD || kind == NND__BIN_MOD)
      for (int64_t q = 0; q < nb; q++)
        b[q] = b[q] < 0 ? b[q] - 0.5f : b[q] + 0.5f;
    for (int64_t q = 0; q < n; q++) {
      int64_t rem = q, ia = 0, ib = 0, sa = 1, sb = 1;
      for (int d = rank - 1; d >= 0; d--) {
        int64_t idx = rem % out[d];
        rem /= out[d];
        ia += (ad[d] == 1 ? 0 : idx) * sa;
        ib += (bd[d] == 1 ? 0 : idx) * sb;
        sa *= ad[d];
        sb *= bd[d];
      }
      yd[q] = bin_ref(kind, a[ia], b[ib]);
    }
    nnd__bcast bc;
    nnd__bcast_init(&bc, rank, out, ad, bd);
    nnd__binary_f32(kind, &bc, a, b, y);
    f32_to_f64(a, a64, na);
    f32_to_f64(b, b64, nb);
    nnd__binary_f64(kind, &bc, a64, b64, y64);
    char what[96];
    snprintf(what, sizeof what, "binary kind %d case %d rank %d", (int)kind, i, rank);
    int rc = check_close_f32(what, y, yd, n, 2e-6, 2e-6);
    if (!rc) rc = check_equal_f64(what, y64, yd, n);
    free(a);
    free(b);
    free(y);
    free(yd);
    free(a64);
    free(b64);
    free(y64);
    if (rc) return rc;
  }
  /* Integers, for shape arithmetic. */
  int64_t a[3] = {7, -7, 9}, b[1] = {2}, y[3];
  int64_t o3[1] = {3}, o1[1] = {1};
  nnd__bcast bc;
  nnd__bcast_init(&bc, 1, o3, o3, o1);
  ASSERT_TRUE(nnd__binary_i64(NND__BIN_DIV, &bc, a, b, y));
  ASSERT_EQ_INT(3, y[0]);
  ASSERT_EQ_INT(-3, y[1]);
  ASSERT_TRUE(nnd__binary_i64(NND__BIN_MUL, &bc, a, b, y));
  ASSERT_EQ_INT(18, y[2]);
  return 0;
}

/* In place: y aliases a (the non-broadcast operand). */
static int test_binary_inplace(void) {
  float a[12], b[4], ref[12];
  for (int i = 0; i < 12; i++)
    a[i] = (float)i;
  for (int i = 0; i < 4; i++)
    b[i] = (float)(10 * i);
  for (int i = 0; i < 12; i++)
    ref[i] = a[i] + b[i % 4];
  int64_t out[2] = {3, 4}, bd[2] = {1, 4};
  nnd__bcast bc;
  nnd__bcast_init(&bc, 2, out, out, bd);
  nnd__binary_f32(NND__BIN_ADD, &bc, a, b, a);
  for (int i = 0; i < 12; i++)
    ASSERT_NEAR(ref[i], a[i], 0);
  return 0;
}

/* ----------------------------------------------- norms and reductions */

static int test_softmax_lrn_bn(void) {
  test_rng r = {6};
  enum { O = 3, L = 7, I = 5, N = O * L * I };
  float x[N], y[N];
  double xd[N], yd[N];
  fill_f32(&r, x, N);
  f32_to_f64(x, xd, N);
  for (int lg = 0; lg < 2; lg++) {
    nnd__softmax_f64(O, L, I, lg, xd, yd);
    nnd__softmax_f32(O, L, I, lg, x, y);
    if (check_close_f32(lg ? "log_softmax" : "softmax", y, yd, N, 2e-6, 2e-6)) return 1;
  }
  nnd__softmax_f64(O, L, I, false, xd, yd);
  for (int o = 0; o < O; o++)
    for (int i = 0; i < I; i++) {
      double s = 0;
      for (int l = 0; l < L; l++)
        s += yd[(o * L + l) * I + i];
      ASSERT_NEAR(1.0, s, 1e-14);
    }
  nnd__lrn_f64(O, L, I, 3, 1e-2, 0.75, 1.0, xd, yd);
  nnd__lrn_f32(O, L, I, 3, 1e-2, 0.75, 1.0, x, y);
  if (check_close_f32("lrn", y, yd, N, 2e-6, 2e-6)) return 1;
  /* LRN by its definition at one point: channel 0 sums channels 0..1. */
  double sq = xd[0] * xd[0] + xd[I] * xd[I];
  ASSERT_NEAR(xd[0] / pow(1.0 + 1e-2 / 3 * sq, 0.75), yd[0], 1e-15);
  /* BatchNorm reference vs the fast affine form. */
  double sc[L], bi[L], mu[L], va[L];
  float a[L], b[L];
  for (int c = 0; c < L; c++) {
    sc[c] = rng_f(&r);
    bi[c] = rng_f(&r);
    mu[c] = rng_f(&r);
    va[c] = fabs(rng_f(&r)) + 0.1;
    a[c] = (float)(sc[c] / sqrt(va[c] + 1e-5));
    b[c] = (float)(bi[c] - mu[c] * sc[c] / sqrt(va[c] + 1e-5));
  }
  nnd__batchnorm_f64(O, L, I, xd, sc, bi, mu, va, 1e-5, yd);
  nnd__channel_affine_f32(O, L, I, x, a, b, -INFINITY, INFINITY, y);
  if (check_close_f32("batchnorm", y, yd, N, 2e-6, 2e-6)) return 1;
  /* With a fused ReLU6. */
  nnd__channel_affine_f32(O, L, I, x, a, b, 0.f, 6.f, y);
  for (int i = 0; i < N; i++)
    yd[i] = yd[i] < 0 ? 0 : (yd[i] > 6 ? 6 : yd[i]);
  if (check_close_f32("batchnorm + relu6", y, yd, N, 2e-6, 2e-6)) return 1;
  return 0;
}

static int test_reduce(void) {
  test_rng r = {77};
  for (int i = 0; i < 200; i++) {
    const int rank = (int)rng_int(&r, 1, 5);
    int64_t dims[NND_MAX_RANK];
    bool mask[NND_MAX_RANK];
    int64_t n = 1, on = 1;
    for (int d = 0; d < rank; d++) {
      dims[d] = rng_int(&r, 1, 6);
      mask[d] = rng_int(&r, 0, 1);
      n *= dims[d];
      if (!mask[d]) on *= dims[d];
    }
    const nnd__reduce_kind kind = (nnd__reduce_kind)rng_int(&r, 0, 3);
    float *x = malloc((size_t)n * 4), *y = malloc((size_t)on * 4);
    double *xd = malloc((size_t)n * 8), *yd = malloc((size_t)on * 8), *ref = calloc((size_t)on, 8);
    int64_t *xi = malloc((size_t)n * 8), *yi = malloc((size_t)on * 8);
    fill_f32(&r, x, n);
    f32_to_f64(x, xd, n);
    for (int64_t q = 0; q < n; q++)
      xi[q] = (int64_t)(x[q] * 100);
    int64_t *cnt = calloc((size_t)on, 8);
    for (int64_t q = 0; q < on; q++)
      ref[q] = kind == NND__RED_MAX ? -INFINITY : kind == NND__RED_MIN ? INFINITY : 0;
    for (int64_t q = 0; q < n; q++) {
      int64_t rem = q, o = 0, os = 1;
      for (int d = rank - 1; d >= 0; d--) {
        int64_t idx = rem % dims[d];
        rem /= dims[d];
        if (!mask[d]) {
          o += idx * os;
          os *= dims[d];
        }
      }
      double v = xd[q];
      ref[o] = kind == NND__RED_MAX   ? fmax(ref[o], v)
               : kind == NND__RED_MIN ? fmin(ref[o], v)
                                      : ref[o] + v;
      cnt[o]++;
    }
    if (kind == NND__RED_MEAN)
      for (int64_t q = 0; q < on; q++)
        ref[q] /= (double)cnt[q];
    nnd__reduce_f64(kind, rank, dims, mask, xd, yd);
    nnd__reduce_f32(kind, rank, dims, mask, x, y);
    nnd__reduce_i64(NND__RED_SUM, rank, dims, mask, xi, yi);
    char what[64];
    snprintf(what, sizeof what, "reduce kind %d case %d", (int)kind, i);
    int rc = check_close_f32(what, y, ref, on, 2e-6, 2e-6);
    for (int64_t q = 0; !rc && q < on; q++)
      if (fabs(yd[q] - ref[q]) > 1e-12) {
        fprintf(stderr, "%s: f64 index %lld: %.17g vs %.17g\n", what, (long long)q, yd[q], ref[q]);
        rc = 1;
      }
    free(x);
    free(y);
    free(xd);
    free(yd);
    free(ref);
    free(xi);
    free(yi);
    free(cnt);
    if (rc) return rc;
  }
  return 0;
}

/* ------------------------------------------------------ data movement */

static int test_transpose_random(void) {
  test_rng r = {1};
  for (int i = 0; i < 300; i++) {
    const int rank = (int)rng_int(&r, 1, 6);
    int64_t dims[NND_MAX_RANK], n = 1;
    int perm[NND_MAX_RANK];
    for (int d = 0; d < rank; d++) {
      dims[d] = rng_int(&r, 1, 5);
      if (i % 5 == 0 && d >= rank - 2) dims[d] = rng_int(&r, 30, 70);
      n *= dims[d];
      perm[d] = d;
    }
    for (int d = rank - 1; d > 0; d--) {
      int j = (int)rng_int(&r, 0, d);
      int t = perm[d];
      perm[d] = perm[j];
      perm[j] = t;
    }
    const size_t es = rng_int(&r, 0, 1) ? 4 : 8;
    int64_t *x = malloc((size_t)n * 8), *y = malloc((size_t)n * 8);
    for (int64_t q = 0; q < n; q++)
      x[q] = q;
    uint32_t *x32 = malloc((size_t)n * 4), *y32 = malloc((size_t)n * 4);
    for (int64_t q = 0; q < n; q++)
      x32[q] = (uint32_t)q;
    if (es == 8)
      nnd__transpose(8, rank, dims, perm, x, y);
    else
      nnd__transpose(4, rank, dims, perm, x32, y32);
    int64_t istride[NND_MAX_RANK], acc = 1;
    for (int d = rank - 1; d >= 0; d--)
      istride[d] = acc, acc *= dims[d];
    for (int64_t q = 0; q < n; q++) {
      int64_t rem = q, src = 0;
      for (int d = rank - 1; d >= 0; d--) {
        int64_t od = dims[perm[d]];
        src += rem % od * istride[perm[d]];
        rem /= od;
      }
      int64_t got = es == 8 ? y[q] : (int64_t)y32[q];
      if (got != src) {
        fprintf(stderr, "transpose case %d (rank %d, es %zu): index %lld holds %lld, want %lld\n",
                i, rank, es, (long long)q, (long long)got, (long long)src);
        return 1;
      }
    }
    free(x);
    free(y);
    free(x32);
    free(y32);
  }
  return 0;
}

static int test_slice_pad_concat_gather(void) {
  /* Slice with a negative step: x[4][5] -> rows 3,1 ; cols 0,2,4. */
  int64_t x[20], y[6];
  for (int i = 0; i < 20; i++)
    x[i] = i;
  int64_t in[2] = {4, 5}, start[2] = {3, 0}, step[2] = {-2, 2}, out[2] = {2, 3};
  nnd__slice(8, 2, in, start, step, out, x, y);
  const int64_t want[6] = {15, 17, 19, 5, 7, 9};
  for (int i = 0; i < 6; i++)
    ASSERT_EQ_INT(want[i], y[i]);
  /* Pad modes on [1,2,3] with 2 before and 3 after. */
  int64_t v[3] = {1, 2, 3}, p[8], d1[1] = {3}, pb[1] = {2}, o8[1] = {8}, fill = -1;
  nnd__pad(8, 1, d1, pb, o8, NND_PAD_CONSTANT, &fill, v, p);
  const int64_t wc[8] = {-1, -1, 1, 2, 3, -1, -1, -1};
  for (int i = 0; i < 8; i++)
    ASSERT_EQ_INT(wc[i], p[i]);
  nnd__pad(8, 1, d1, pb, o8, NND_PAD_REFLECT, &fill, v, p);
  const int64_t wr[8] = {3, 2, 1, 2, 3, 2, 1, 2};
  for (int i = 0; i < 8; i++)
    ASSERT_EQ_INT(wr[i], p[i]);
  nnd__pad(8, 1, d1, pb, o8, NND_PAD_EDGE, &fill, v, p);
  const int64_t we[8] = {1, 1, 1, 2, 3, 3, 3, 3};
  for (int i = 0; i < 8; i++)
    ASSERT_EQ_INT(we[i], p[i]);
  /* Negative pads crop: 2-D [3][3], crop 1 at the front of dim 0, pad 1
   * after dim 1. */
  int64_t m[9], mo[2 * 4];
  for (int i = 0; i < 9; i++)
    m[i] = i;
  int64_t md[2] = {3, 3}, mb[2] = {-1, 0}, mod[2] = {2, 4};
  nnd__pad(8, 2, md, mb, mod, NND_PAD_CONSTANT, &fill, m, mo);
  const int64_t wm[8] = {3, 4, 5, -1, 6, 7, 8, -1};
  for (int i = 0; i < 8; i++)
    ASSERT_EQ_INT(wm[i], mo[i]);
  /* Concat on axis 1 of [2][1] and [2][2], then split back. */
  float a[2] = {1, 2}, b[4] = {3, 4, 5, 6}, c[6], a2[2], b2[4];
  const void *xs[2] = {a, b};
  int64_t chunk[2] = {1, 2};
  nnd__concat(4, 2, 2, chunk, xs, c);
  const float wcat[6] = {1, 3, 4, 2, 5, 6};
  for (int i = 0; i < 6; i++)
    ASSERT_NEAR(wcat[i], c[i], 0);
  void *ys[2] = {a2, b2};
  nnd__split(4, 2, 2, chunk, c, ys);
  for (int i = 0; i < 2; i++)
    ASSERT_NEAR(a[i], a2[i], 0);
  for (int i = 0; i < 4; i++)
    ASSERT_NEAR(b[i], b2[i], 0);
  /* Gather rows 2, 0, 2 of [3][2]. */
  double g[6] = {0, 1, 10, 11, 20, 21}, go[6];
  int64_t idx[3] = {2, 0, 2};
  nnd__gather(8, 1, 3, 2, idx, 3, g, go);
  const double wg[6] = {20, 21, 0, 1, 20, 21};
  for (int i = 0; i < 6; i++)
    ASSERT_NEAR(wg[i], go[i], 0);
  /* Broadcast [2][1] to [2][3]. */
  double bsrc[2] = {7, 8}, bdst[6];
  int64_t bi[2] = {2, 1}, bo[2] = {2, 3};
  nnd__broadcast_to(8, 2, bi, bo, bsrc, bdst);
  const double wb[6] = {7, 7, 7, 8, 8, 8};
  for (int i = 0; i < 6; i++)
    ASSERT_NEAR(wb[i], bdst[i], 0);
  return 0;
}

NND_TEST_MAIN(NND_TEST(test_conv_named), NND_TEST(test_conv_random), NND_TEST(test_conv_transpose),
              NND_TEST(test_gemm), NND_TEST(test_dgemm_bits), NND_TEST(test_matmul_broadcast),
              NND_TEST(test_pool_known_values), NND_TEST(test_pool_random),
              NND_TEST(test_global_pool), NND_TEST(test_unary), NND_TEST(test_binary_broadcast),
              NND_TEST(test_binary_inplace), NND_TEST(test_softmax_lrn_bn), NND_TEST(test_reduce),
              NND_TEST(test_transpose_random), NND_TEST(test_slice_pad_concat_gather))
