/* The fast convolution: picks an implementation at create (oneDNN when the
 * build has it, else our depthwise kernel for depthwise layers, else
 * im2col + sgemm) and runs it. The im2col path works in
 * both layouts: channels first computes Y[o][pixels] = W[o][K] col[K][pixels]
 * per group, channels last Y[pixels][o] = col[pixels][K] Wt[K][o]. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ops/fast.h"
#include "ops/onednn.h"
#include "ops/parallel.h"

struct nnd__fast_ctx {
#ifdef NND_HAVE_DNNL
  nnd__onednn_ctx *onednn;
#else
  int unused;
#endif
};

nnd_status nnd__fast_ctx_create(nnd__fast_ctx **out, nnd_error *err) {
  nnd__fast_ctx *c = calloc(1, sizeof *c);
  if (!c) return nnd_error_set(err, NND_ERR_NOMEM, "out of memory");
#ifdef NND_HAVE_DNNL
  nnd_status st = nnd__onednn_ctx_create(&c->onednn, err);
  if (st != NND_OK) {
    free(c);
    return st;
  }
#endif
  *out = c;
  return NND_OK;
}

void nnd__fast_ctx_destroy(nnd__fast_ctx *c) {
  if (!c) return;
#ifdef NND_HAVE_DNNL
  nnd__onednn_ctx_destroy(c->onednn);
#endif
  free(c);
}

typedef enum fconv_kind { FCONV_DW, FCONV_ONEDNN, FCONV_IM2COL } fconv_kind;

struct nnd__fconv {
  fconv_kind kind;
  nnd__conv_geom g;
  bool sum;
  int n_post;
  nnd__unary post[NND_FCONV_MAX_POST];
  float *w;     /* DW: [kh][kw][c]; IM2COL: [o][K] (first) or per group [K][og] (last) */
  float *b;     /* [o] or NULL */
  int64_t kdim; /* K = c/groups * kd * kh * kw */
  bool direct;  /* im2col: 1x1, stride 1, no pad: x is already the column matrix */
  size_t scratch_bytes, weight_bytes;
#ifdef NND_HAVE_DNNL
  nnd__onednn_conv *onednn;
#endif
  char impl[80];
};

static float *alloc_floats(size_t n) {
  return aligned_alloc(64, (n * sizeof(float) + 63) / 64 * 64 + 64);
}

static nnd_status create_dw(nnd__fconv *c, const nnd__fconv_desc *d, nnd_error *err) {
  const nnd__conv_geom *g = &d->geom;
  const int64_t C = g->c, KH = g->k[1], KW = g->k[2];
  c->w = alloc_floats((size_t)(KH * KW * C));
  if (!c->w) return nnd_error_set(err, NND_ERR_NOMEM, "out of memory packing weights");
  for (int64_t ch = 0; ch < C; ch++)
    for (int64_t i = 0; i < KH * KW; i++)
      c->w[i * C + ch] = d->w[ch * KH * KW + i];
  c->weight_bytes = (size_t)(KH * KW * C) * sizeof(float);
  snprintf(c->impl, sizeof c->impl, "dw:%s", nnd__isa_name());
  c->kind = FCONV_DW;
  return NND_OK;
}

static nnd_status create_im2col(nnd__fconv *c, const nnd__fconv_desc *d, nnd_error *err) {
  const nnd__conv_geom *g = &d->geom;
  const int64_t cg = g->c / g->groups, og = g->o / g->groups;
  const int64_t ksz = g->k[0] * g->k[1] * g->k[2];
  const int64_t out_sp = g->out[0] * g->out[1] * g->out[2];
  c->kdim = cg * ksz;
  c->direct = ksz == 1;
  for (int i = 0; i < 3; i++)
    c->direct &= g->stride[i] == 1 && g->pad_begin[i] == 0 && g->pad_end[i] == 0;
  if (g->channels_last && g->groups > 1) c->direct = false;
  c->w = alloc_floats((size_t)(g->o * c->kdim));
  if (!c->w) return nnd_error_set(err, NND_ERR_NOMEM, "out of memory packing weights");
  if (!g->channels_last) {
    memcpy(c->w, d->w, (size_t)(g->o * c->kdim) * sizeof(float));
  } else {
    /* Per group: Wt[(kidx * cg + ci)][oj] so that col rows read x's
     * channel runs contiguously. */
    for (int64_t gi = 0; gi < g->groups; gi++)
      for (int64_t oj = 0; oj < og; oj++)
        for (int64_t ci = 0; ci < cg; ci++)
          for (int64_t ki = 0; ki < ksz; ki++)
            c->w[gi * c->kdim * og + (ki * cg + ci) * og + oj] =
                d->w[((gi * og + oj) * cg + ci) * ksz + ki];
  }
  c->weight_bytes = (size_t)(g->o * c->kdim) * sizeof(float);
  c->scratch_bytes = c->direct ? 0 : (size_t)(c->kdim * out_sp) * sizeof(float);
  snprintf(c->impl, sizeof c->impl, "%s", nnd__fast_backend_name());
  if (strncmp(c->impl, "onednn", 6) == 0) snprintf(c->impl, sizeof c->impl, "im2col+onednn-sgemm");
  c->kind = FCONV_IM2COL;
  return NND_OK;
}

nnd_status nnd__fconv_create(nnd__fast_ctx *ctx, const nnd__fconv_desc *d, nnd__fconv **out,
                             nnd_error *err) {
  const nnd__conv_geom *g = &d->geom;
  nnd_status st = NND_OK;
  if (d->n_post < 0 || d->n_post > NND_FCONV_MAX_POST || g->groups < 1 || g->c % g->groups ||
      g->o % g->groups)
    return nnd_error_set(err, NND_ERR_INTERNAL, "bad convolution description");
  nnd__fconv *c = calloc(1, sizeof *c);
  if (!c) return nnd_error_set(err, NND_ERR_NOMEM, "out of memory creating a convolution");
  c->g = *g;
  c->sum = d->sum;
  c->n_post = d->n_post;
  memcpy(c->post, d->post, sizeof c->post);
  if (d->b) {
    c->b = alloc_floats((size_t)g->o);
    if (!c->b) {
      st = nnd_error_set(err, NND_ERR_NOMEM, "out of memory creating a convolution");
      goto error;
    }
    memcpy(c->b, d->b, (size_t)g->o * sizeof(float));
  }
  const char *force = d->force;
  if (force && strcmp(force, "dw") == 0 && nnd__dwconv_supported(g)) {
    st = create_dw(c, d, err);
    goto done;
  }
#ifdef NND_HAVE_DNNL
  if (!force || strcmp(force, "onednn") == 0) {
    nnd_error local = {0};
    st = nnd__onednn_conv_create(ctx->onednn, d, &c->onednn, &local);
    if (st == NND_OK) {
      c->kind = FCONV_ONEDNN;
      c->scratch_bytes = nnd__onednn_conv_scratch_bytes(c->onednn);
      c->weight_bytes = nnd__onednn_conv_weight_bytes(c->onednn);
      snprintf(c->impl, sizeof c->impl, "%s", nnd__onednn_conv_impl(c->onednn));
      goto done;
    }
    if (st != NND_ERR_UNSUPPORTED || force) {
      nnd_error_set(err, st, "%s", local.message);
      goto error;
    }
    /* No oneDNN implementation (or no post-op for an activation). */
  }
#else
  (void)ctx;
#endif
  if (!force && nnd__dwconv_supported(g)) {
    st = create_dw(c, d, err);
    goto done;
  }
  st = create_im2col(c, d, err);
done:
  if (st != NND_OK) goto error;
  *out = c;
  return NND_OK;
error:
  nnd__fconv_destroy(c);
  return st;
}

size_t nnd__fconv_scratch_bytes(const nnd__fconv *c) { return c->scratch_bytes; }
size_t nnd__fconv_weight_bytes(const nnd__fconv *c) {
  return c->weight_bytes + (c->b ? (size_t)c->g.o * sizeof(float) : 0);
}
const char *nnd__fconv_impl(const nnd__fconv *c) { return c->impl; }

/* Column matrix of one image (and group) for the im2col path. */
static void im2col_first(const nnd__conv_geom *g, const float *xg, float *col) {
  const int64_t cg = g->c / g->groups, ksz = g->k[0] * g->k[1] * g->k[2];
  const int64_t out_sp = g->out[0] * g->out[1] * g->out[2];
  const int64_t rows = cg * ksz;
  NND_OMP_FOR(rows * out_sp >= NND_PAR_MIN_WORK && rows > 1)
  for (int64_t r = 0; r < rows; r++) {
    const int64_t ci = r / ksz, ki = r % ksz;
    const int64_t kd = ki / (g->k[1] * g->k[2]), kh = ki / g->k[2] % g->k[1], kw = ki % g->k[2];
    const float *xc = xg + ci * g->in[0] * g->in[1] * g->in[2];
    float *cr = col + r * out_sp;
    for (int64_t od = 0; od < g->out[0]; od++) {
      const int64_t id = od * g->stride[0] - g->pad_begin[0] + kd * g->dil[0];
      for (int64_t oh = 0; oh < g->out[1]; oh++) {
        const int64_t ih = oh * g->stride[1] - g->pad_begin[1] + kh * g->dil[1];
        float *cp = cr + (od * g->out[1] + oh) * g->out[2];
        const bool row_ok = id >= 0 && id < g->in[0] && ih >= 0 && ih < g->in[1];
        for (int64_t ow = 0; ow < g->out[2]; ow++) {
          const int64_t iw = ow * g->stride[2] - g->pad_begin[2] + kw * g->dil[2];
          cp[ow] =
              row_ok && iw >= 0 && iw < g->in[2] ? xc[(id * g->in[1] + ih) * g->in[2] + iw] : 0.f;
        }
      }
    }
  }
}

static void im2col_last(const nnd__conv_geom *g, const float *xn, int64_t gi, float *col) {
  const int64_t cg = g->c / g->groups, ksz = g->k[0] * g->k[1] * g->k[2];
  const int64_t out_sp = g->out[0] * g->out[1] * g->out[2], kdim = cg * ksz;
  NND_OMP_FOR(kdim * out_sp >= NND_PAR_MIN_WORK && out_sp > 1)
  for (int64_t p = 0; p < out_sp; p++) {
    const int64_t od = p / (g->out[1] * g->out[2]), oh = p / g->out[2] % g->out[1],
                  ow = p % g->out[2];
    float *cr = col + p * kdim;
    for (int64_t ki = 0; ki < ksz; ki++) {
      const int64_t kd = ki / (g->k[1] * g->k[2]), kh = ki / g->k[2] % g->k[1], kw = ki % g->k[2];
      const int64_t id = od * g->stride[0] - g->pad_begin[0] + kd * g->dil[0];
      const int64_t ih = oh * g->stride[1] - g->pad_begin[1] + kh * g->dil[1];
      const int64_t iw = ow * g->stride[2] - g->pad_begin[2] + kw * g->dil[2];
      float *cp = cr + ki * cg;
      if (id < 0 || id >= g->in[0] || ih < 0 || ih >= g->in[1] || iw < 0 || iw >= g->in[2])
        memset(cp, 0, (size_t)cg * sizeof(float));
      else
        memcpy(cp, xn + ((id * g->in[1] + ih) * g->in[2] + iw) * g->c + gi * cg,
               (size_t)cg * sizeof(float));
    }
  }
}

static void run_im2col(nnd__fconv *c, const float *x, float *y, float *col) {
  const nnd__conv_geom *g = &c->g;
  const int64_t cg = g->c / g->groups, og = g->o / g->groups;
  const int64_t in_sp = g->in[0] * g->in[1] * g->in[2];
  const int64_t out_sp = g->out[0] * g->out[1] * g->out[2];
  const int64_t K = c->kdim;
  for (int64_t ni = 0; ni < g->n; ni++) {
    if (!g->channels_last) {
      for (int64_t gi = 0; gi < g->groups; gi++) {
        const float *xg = x + (ni * g->c + gi * cg) * in_sp;
        const float *src = xg;
        if (!c->direct) {
          im2col_first(g, xg, col);
          src = col;
        }
        nnd__sgemm(false, false, og, out_sp, K, 1.f, c->w + gi * og * K, K, src, out_sp,
                   c->sum ? 1.f : 0.f, y + (ni * g->o + gi * og) * out_sp, out_sp);
      }
      if (c->b) {
        float *yn = y + ni * g->o * out_sp;
        NND_OMP_FOR(g->o * out_sp >= NND_PAR_MIN_WORK)
        for (int64_t o = 0; o < g->o; o++)
          for (int64_t i = 0; i < out_sp; i++)
            yn[o * out_sp + i] += c->b[o];
      }
    } else {
      const float *xn = x + ni * in_sp * g->c;
      float *yn = y + ni * out_sp * g->o;
      for (int64_t gi = 0; gi < g->groups; gi++) {
        const float *src = xn;
        if (!c->direct) {
          im2col_last(g, xn, gi, col);
          src = col;
        }
        nnd__sgemm(false, false, out_sp, og, K, 1.f, src, K, c->w + gi * K * og, og,
                   c->sum ? 1.f : 0.f, yn + gi * og, g->o);
      }
      if (c->b) {
        NND_OMP_FOR(g->o * out_sp >= NND_PAR_MIN_WORK)
        for (int64_t p = 0; p < out_sp; p++)
          for (int64_t o = 0; o < g->o; o++)
            yn[p * g->o + o] += c->b[o];
      }
    }
  }
  const int64_t total = g->n * g->o * out_sp;
  for (int i = 0; i < c->n_post; i++)
    nnd__unary_f32(&c->post[i], y, y, total);
}

nnd_status nnd__fconv_run(nnd__fconv *c, const float *x, float *y, void *scratch, nnd_error *err) {
  switch (c->kind) {
  case FCONV_DW:
    nnd__dwconv_nhwc_f32(&c->g, c->w, c->b, c->sum, c->n_post, c->post, x, y);
    return NND_OK;
  case FCONV_IM2COL: run_im2col(c, x, y, scratch); return NND_OK;
  case FCONV_ONEDNN:
#ifdef NND_HAVE_DNNL
    return nnd__onednn_conv_run(c->onednn, x, y, scratch, err);
#endif
    break;
  }
  return nnd_error_set(err, NND_ERR_INTERNAL, "convolution has no implementation");
}

void nnd__fconv_destroy(nnd__fconv *c) {
  if (!c) return;
#ifdef NND_HAVE_DNNL
  nnd__onednn_conv_destroy(c->onednn);
#endif
  free(c->w);
  free(c->b);
  free(c);
}
