/* oneDNN convolutions: one primitive per convolution, created at plan time
 * for its static shapes, with the activations as post-ops, weights
 * reordered once into the layout the primitive prefers, and a user-managed
 * scratchpad so runs allocate nothing. Activations are plain NCHW or NHWC
 * (NHWC is the fast one: see bench/conv_backends.c). */
#include "ops/onednn.h"

#ifdef NND_HAVE_DNNL
#include <dnnl.h>
#include <float.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct nnd__onednn_ctx {
  dnnl_engine_t engine;
  dnnl_stream_t stream;
};

struct nnd__onednn_conv {
  nnd__onednn_ctx *ctx;
  int64_t batch, in_stride, out_stride; /* run image by image */
  dnnl_primitive_t prim;
  dnnl_memory_t src, wei, bias, dst, scratch;
  void *wbuf;
  float *bbuf;
  size_t scratch_bytes, weight_bytes;
  char impl[80];
};

/* What a oneDNN status means for us. While planning, "invalid arguments"
 * and "unimplemented" both say oneDNN cannot take this convolution (a
 * stride of 2^62, dims past its limits, a post-op it lacks): the model is
 * valid, so the caller falls back to another kernel (NND_ERR_UNSUPPORTED).
 * Running, only an allocation failure is the surroundings' fault; anything
 * else on a primitive that was created is a bug (NND_ERR_INTERNAL). */
static nnd_status plan_status(dnnl_status_t s) {
  return s == dnnl_out_of_memory ? NND_ERR_NOMEM : NND_ERR_UNSUPPORTED;
}
static nnd_status run_status(dnnl_status_t s) {
  return s == dnnl_out_of_memory ? NND_ERR_NOMEM : NND_ERR_INTERNAL;
}

#define DNNL_TRY_AS(map, call, what)                                                               \
  do {                                                                                             \
    dnnl_status_t s_ = (call);                                                                     \
    if (s_ != dnnl_success) {                                                                      \
      st = nnd_error_set(err, map(s_), "oneDNN: %s failed (status %d)", what, (int)s_);            \
      goto error;                                                                                  \
    }                                                                                              \
  } while (0)
#define DNNL_TRY(call, what) DNNL_TRY_AS(plan_status, call, what)
#define DNNL_RUN(call, what) DNNL_TRY_AS(run_status, call, what)

nnd_status nnd__onednn_ctx_create(nnd__onednn_ctx **out, nnd_error *err) {
  nnd_status st = NND_OK;
  nnd__onednn_ctx *c = calloc(1, sizeof *c);
  if (!c) return nnd_error_set(err, NND_ERR_NOMEM, "out of memory creating a oneDNN context");
  DNNL_RUN(dnnl_engine_create(&c->engine, dnnl_cpu, 0), "creating the CPU engine");
  DNNL_RUN(dnnl_stream_create(&c->stream, c->engine, dnnl_stream_default_flags),
           "creating a stream");
  *out = c;
  return NND_OK;
error:
  nnd__onednn_ctx_destroy(c);
  return st;
}

void nnd__onednn_ctx_destroy(nnd__onednn_ctx *c) {
  if (!c) return;
  if (c->stream) dnnl_stream_destroy(c->stream);
  if (c->engine) dnnl_engine_destroy(c->engine);
  free(c);
}

/* Appends the oneDNN form of one activation; false when it has none. */
static bool append_post(dnnl_post_ops_t po, const nnd__unary *u) {
  float a = (float)u->alpha, b = (float)u->beta;
  switch (u->kind) {
  case NND__UN_RELU:
    return dnnl_post_ops_append_eltwise(po, 1.f, dnnl_eltwise_relu, 0.f, 0.f) == dnnl_success;
  case NND__UN_LEAKY_RELU:
    return dnnl_post_ops_append_eltwise(po, 1.f, dnnl_eltwise_relu, a, 0.f) == dnnl_success;
  case NND__UN_CLIP:
    a = isinf(a) ? -FLT_MAX : a;
    b = isinf(b) ? FLT_MAX : b;
    return dnnl_post_ops_append_eltwise(po, 1.f, dnnl_eltwise_clip, a, b) == dnnl_success;
  case NND__UN_SIGMOID:
    return dnnl_post_ops_append_eltwise(po, 1.f, dnnl_eltwise_logistic, 0.f, 0.f) == dnnl_success;
  case NND__UN_TANH:
    return dnnl_post_ops_append_eltwise(po, 1.f, dnnl_eltwise_tanh, 0.f, 0.f) == dnnl_success;
  case NND__UN_ELU:
    return dnnl_post_ops_append_eltwise(po, 1.f, dnnl_eltwise_elu, a, 0.f) == dnnl_success;
  case NND__UN_SILU:
    return dnnl_post_ops_append_eltwise(po, 1.f, dnnl_eltwise_swish, 1.f, 0.f) == dnnl_success;
  case NND__UN_GELU:
    return dnnl_post_ops_append_eltwise(po, 1.f, dnnl_eltwise_gelu_erf, 0.f, 0.f) == dnnl_success;
  case NND__UN_GELU_TANH:
    return dnnl_post_ops_append_eltwise(po, 1.f, dnnl_eltwise_gelu_tanh, 0.f, 0.f) == dnnl_success;
  case NND__UN_HARD_SWISH:
    return dnnl_post_ops_append_eltwise(po, 1.f, dnnl_eltwise_hardswish, 0.f, 0.f) == dnnl_success;
  case NND__UN_HARD_SIGMOID:
    return dnnl_post_ops_append_eltwise(po, 1.f, dnnl_eltwise_linear, a, b) == dnnl_success &&
           dnnl_post_ops_append_eltwise(po, 1.f, dnnl_eltwise_clip, 0.f, 1.f) == dnnl_success;
  default: return false;
  }
}

nnd_status nnd__onednn_conv_create(nnd__onednn_ctx *ctx, const nnd__fconv_desc *d,
                                   nnd__onednn_conv **out, nnd_error *err) {
  const nnd__conv_geom *g = &d->geom;
  nnd_status st = NND_OK;
  dnnl_primitive_attr_t attr = NULL;
  dnnl_post_ops_t po = NULL;
  dnnl_primitive_desc_t pd = NULL, rpd = NULL;
  dnnl_memory_t user_w = NULL;
  dnnl_primitive_t reorder = NULL;
  nnd__onednn_conv *c = calloc(1, sizeof *c);
  if (!c) return nnd_error_set(err, NND_ERR_NOMEM, "out of memory creating a convolution");
  c->ctx = ctx;

  /* 2-D unless the depth dim is really used. */
  const bool is3d =
      g->in[0] != 1 || g->k[0] != 1 || g->out[0] != 1 || g->pad_begin[0] || g->pad_end[0];
  const int sp = is3d ? 3 : 2, s0 = 3 - sp, nd = sp + 2;
  /* One image per execution: oneDNN 2.6's direct AVX2 kernel on NHWC data
   * runs a batch of 2 or more at a quarter of its batch-1 speed (3x3, 64
   * channels, 56x56: 27 against 93 GFLOPS), so batches loop over images. */
  c->batch = g->n;
  c->in_stride = g->c * g->in[0] * g->in[1] * g->in[2];
  c->out_stride = g->o * g->out[0] * g->out[1] * g->out[2];
  dnnl_dims_t sd = {1, g->c}, dd = {1, g->o}, wd, bd = {g->o};
  dnnl_dims_t strides, dil, pl, pr;
  for (int i = 0; i < sp; i++) {
    sd[2 + i] = g->in[s0 + i];
    dd[2 + i] = g->out[s0 + i];
    strides[i] = g->stride[s0 + i];
    dil[i] = g->dil[s0 + i] - 1;
    pl[i] = g->pad_begin[s0 + i];
    pr[i] = g->pad_end[s0 + i];
  }
  const bool grouped = g->groups > 1;
  int wnd = 0;
  if (grouped) wd[wnd++] = g->groups;
  wd[wnd++] = g->o / g->groups;
  wd[wnd++] = g->c / g->groups;
  for (int i = 0; i < sp; i++)
    wd[wnd++] = g->k[s0 + i];
  const dnnl_format_tag_t act_tag = is3d ? (g->channels_last ? dnnl_ndhwc : dnnl_ncdhw)
                                         : (g->channels_last ? dnnl_nhwc : dnnl_nchw);
  const dnnl_format_tag_t user_wtag =
      grouped ? (is3d ? dnnl_goidhw : dnnl_goihw) : (is3d ? dnnl_oidhw : dnnl_oihw);

  dnnl_memory_desc_t src_md, dst_md, w_any, w_user, b_md;
  DNNL_TRY(dnnl_memory_desc_init_by_tag(&src_md, nd, sd, dnnl_f32, act_tag), "describing src");
  DNNL_TRY(dnnl_memory_desc_init_by_tag(&dst_md, nd, dd, dnnl_f32, act_tag), "describing dst");
  DNNL_TRY(dnnl_memory_desc_init_by_tag(&w_any, wnd, wd, dnnl_f32, dnnl_format_tag_any),
           "describing weights");
  DNNL_TRY(dnnl_memory_desc_init_by_tag(&w_user, wnd, wd, dnnl_f32, user_wtag),
           "describing weights");
  DNNL_TRY(dnnl_memory_desc_init_by_tag(&b_md, 1, bd, dnnl_f32, dnnl_x), "describing bias");

  dnnl_convolution_desc_t cd;
  DNNL_TRY(dnnl_dilated_convolution_forward_desc_init(&cd, dnnl_forward_inference,
                                                      dnnl_convolution_direct, &src_md, &w_any,
                                                      &b_md, &dst_md, strides, dil, pl, pr),
           "describing the convolution");
  DNNL_TRY(dnnl_primitive_attr_create(&attr), "creating attributes");
  DNNL_TRY(dnnl_primitive_attr_set_scratchpad_mode(attr, dnnl_scratchpad_mode_user),
           "setting the scratchpad mode");
  DNNL_TRY(dnnl_post_ops_create(&po), "creating post-ops");
  if (d->sum) DNNL_TRY(dnnl_post_ops_append_sum(po, 1.f), "adding the sum post-op");
  for (int i = 0; i < d->n_post; i++)
    if (!append_post(po, &d->post[i])) {
      st = nnd_error_set(err, NND_ERR_UNSUPPORTED, "oneDNN: no post-op for %s",
                         nnd__unary_name(d->post[i].kind));
      goto error;
    }
  DNNL_TRY(dnnl_primitive_attr_set_post_ops(attr, po), "setting post-ops");
  DNNL_TRY(dnnl_primitive_desc_create(&pd, &cd, attr, ctx->engine, NULL),
           "creating the convolution");
  const char *impl = "?";
  dnnl_primitive_desc_query(pd, dnnl_query_impl_info_str, 0, &impl);
  snprintf(c->impl, sizeof c->impl, "onednn:%s", impl);

  const dnnl_memory_desc_t *w_md = dnnl_primitive_desc_query_md(pd, dnnl_query_weights_md, 0);
  const dnnl_memory_desc_t *sp_md = dnnl_primitive_desc_query_md(pd, dnnl_query_scratchpad_md, 0);
  if (!w_md) {
    st = nnd_error_set(err, NND_ERR_UNSUPPORTED, "oneDNN: the convolution has no weights layout");
    goto error;
  }
  c->scratch_bytes = sp_md ? dnnl_memory_desc_get_size(sp_md) : 0;
  c->weight_bytes = dnnl_memory_desc_get_size(w_md) + (size_t)g->o * sizeof(float);
  size_t wbytes = dnnl_memory_desc_get_size(w_md);
  c->wbuf = aligned_alloc(64, (wbytes + 63) / 64 * 64);
  c->bbuf = aligned_alloc(64, ((size_t)g->o * sizeof(float) + 63) / 64 * 64);
  if (!c->wbuf || !c->bbuf) {
    st = nnd_error_set(err, NND_ERR_NOMEM, "out of memory packing convolution weights");
    goto error;
  }
  for (int64_t i = 0; i < g->o; i++)
    c->bbuf[i] = d->b ? d->b[i] : 0.f;

  DNNL_TRY(dnnl_memory_create(&c->wei, w_md, ctx->engine, c->wbuf), "creating weights memory");
  DNNL_TRY(dnnl_memory_create(&user_w, &w_user, ctx->engine, (void *)d->w),
           "creating weights memory");
  DNNL_TRY(dnnl_reorder_primitive_desc_create(&rpd, &w_user, ctx->engine, w_md, ctx->engine, NULL),
           "creating the weight reorder");
  DNNL_TRY(dnnl_primitive_create(&reorder, rpd), "creating the weight reorder");
  {
    dnnl_exec_arg_t args[2] = {{DNNL_ARG_FROM, user_w}, {DNNL_ARG_TO, c->wei}};
    DNNL_TRY(dnnl_primitive_execute(reorder, ctx->stream, 2, args), "reordering weights");
    DNNL_TRY(dnnl_stream_wait(ctx->stream), "reordering weights");
  }
  DNNL_TRY(dnnl_memory_create(&c->bias, &b_md, ctx->engine, c->bbuf), "creating bias memory");
  DNNL_TRY(dnnl_memory_create(&c->src, &src_md, ctx->engine, DNNL_MEMORY_NONE),
           "creating src memory");
  DNNL_TRY(dnnl_memory_create(&c->dst, &dst_md, ctx->engine, DNNL_MEMORY_NONE),
           "creating dst memory");
  if (c->scratch_bytes)
    DNNL_TRY(dnnl_memory_create(&c->scratch, sp_md, ctx->engine, DNNL_MEMORY_NONE),
             "creating scratchpad memory");
  DNNL_TRY(dnnl_primitive_create(&c->prim, pd), "creating the convolution primitive");

  dnnl_primitive_destroy(reorder);
  dnnl_primitive_desc_destroy(rpd);
  dnnl_memory_destroy(user_w);
  dnnl_primitive_desc_destroy(pd);
  dnnl_post_ops_destroy(po);
  dnnl_primitive_attr_destroy(attr);
  *out = c;
  return NND_OK;

error:
  if (reorder) dnnl_primitive_destroy(reorder);
  if (rpd) dnnl_primitive_desc_destroy(rpd);
  if (user_w) dnnl_memory_destroy(user_w);
  if (pd) dnnl_primitive_desc_destroy(pd);
  if (po) dnnl_post_ops_destroy(po);
  if (attr) dnnl_primitive_attr_destroy(attr);
  nnd__onednn_conv_destroy(c);
  return st;
}

size_t nnd__onednn_conv_scratch_bytes(const nnd__onednn_conv *c) { return c->scratch_bytes; }
size_t nnd__onednn_conv_weight_bytes(const nnd__onednn_conv *c) { return c->weight_bytes; }
const char *nnd__onednn_conv_impl(const nnd__onednn_conv *c) { return c->impl; }

nnd_status nnd__onednn_conv_run(nnd__onednn_conv *c, const float *x, float *y, void *scratch,
                                nnd_error *err) {
  nnd_status st = NND_OK;
  dnnl_exec_arg_t args[5] = {{DNNL_ARG_SRC, c->src},
                             {DNNL_ARG_WEIGHTS, c->wei},
                             {DNNL_ARG_BIAS, c->bias},
                             {DNNL_ARG_DST, c->dst},
                             {DNNL_ARG_SCRATCHPAD, c->scratch}};
  int nargs = 4;
  if (c->scratch) {
    DNNL_RUN(dnnl_memory_set_data_handle(c->scratch, scratch), "binding the scratchpad");
    nargs = 5;
  }
  for (int64_t i = 0; i < c->batch; i++) {
    DNNL_RUN(dnnl_memory_set_data_handle(c->src, (void *)(x + i * c->in_stride)), "binding src");
    DNNL_RUN(dnnl_memory_set_data_handle(c->dst, y + i * c->out_stride), "binding dst");
    DNNL_RUN(dnnl_primitive_execute(c->prim, c->ctx->stream, nargs, args), "running a convolution");
  }
  DNNL_RUN(dnnl_stream_wait(c->ctx->stream), "running a convolution");
  return NND_OK;
error:
  return st;
}

void nnd__onednn_conv_destroy(nnd__onednn_conv *c) {
  if (!c) return;
  if (c->prim) dnnl_primitive_destroy(c->prim);
  if (c->src) dnnl_memory_destroy(c->src);
  if (c->wei) dnnl_memory_destroy(c->wei);
  if (c->bias) dnnl_memory_destroy(c->bias);
  if (c->dst) dnnl_memory_destroy(c->dst);
  if (c->scratch) dnnl_memory_destroy(c->scratch);
  free(c->wbuf);
  free(c->bbuf);
  free(c);
}
#else
/* Built without oneDNN: nothing here (ISO C wants a declaration). */
typedef int nnd__onednn_unused;
#endif
