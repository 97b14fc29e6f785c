/* Planners of the compute-heavy ops: Conv, ConvTranspose, Gemm, MatMul,
 * pooling. Their output shapes come from the IR's shape inference for the
 * bound batch (plan_ir.c), which also resolves auto_pad into explicit pads
 * and the kernel size from the weights; the kernel geometry here is read
 * from those. In the fast path a Conv/Gemm/MatMul heads its fused group
 * (fuse.c): BatchNorm folded into the weights here, activations as
 * post-ops, a MatMul's bias add in the epilogue. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "engine/engine_internal.h"

/* ------------------------------------------------------ geometry */

typedef struct conv_params {
  nnd__conv_geom geom; /* logical: channels_last when the graph is NHWC */
  int ns;              /* spatial dims */
  int wperm[NND_MAX_RANK];
  bool wperm_identity; /* weights already [o][c/g][k...] */
  int32_t w_oihw;      /* transposed constant weights (built once), -1 */
} conv_params;

/* Geometry of a window op over x (logical dims) from the attributes as the
 * IR's inference resolved them (explicit pads, kernel from the weights),
 * with the output's spatial dims as it gave them. Spatial dims go into
 * slots 3 - ns + i. */
static void window_geom(nnd__conv_geom *g, const evalue *x, const evalue *y, bool nhwc, int ns,
                        const int64_t *kernel, const int64_t *strides, const int64_t *dilations,
                        const int64_t *pads_begin, const int64_t *pads_end) {
  g->channels_last = nhwc;
  g->n = x->dims[0];
  g->c = x->dims[nhwc ? x->rank - 1 : 1];
  for (int i = 0; i < 3; i++)
    g->in[i] = g->out[i] = g->k[i] = g->stride[i] = g->dil[i] = 1;
  memset(g->pad_begin, 0, sizeof g->pad_begin);
  memset(g->pad_end, 0, sizeof g->pad_end);
  for (int i = 0; i < ns; i++) {
    const int j = 3 - ns + i, d = nhwc ? 1 + i : 2 + i;
    g->in[j] = x->dims[d];
    g->out[j] = y->dims[d];
    g->k[j] = kernel[i];
    g->stride[j] = strides[i];
    g->dil[j] = dilations[i];
    g->pad_begin[j] = pads_begin[i];
    g->pad_end[j] = pads_end[i];
  }
}

nnd_status nnd__eng_prepare_conv(nnd_engine *e, int32_t id, const nnd_attrs *attrs,
                                 nnd_error *err) {
  const nnd_node *nd = &e->g->nodes[id];
  const nnd_conv_attrs *a = &attrs->conv;
  const evalue *x = nnd__in_ev(e, id, 0), *w = nnd__in_ev(e, id, 1);
  const int r = x->rank, ns = r - 2;
  if (!x->is_float || !w->is_float)
    return nnd__node_error(e, id, err, NND_ERR_UNSUPPORTED, "integer convolution");
  conv_params *p = nnd__emem(e, 1, sizeof *p);
  if (!p) return nnd_error_set(err, NND_ERR_NOMEM, "out of memory");
  p->ns = ns;
  p->w_oihw = -1;
  const bool nhwc = a->layout == NND_LAYOUT_NHWC;
  nnd__conv_geom *g = &p->geom;
  window_geom(g, x, &e->v[nd->outputs[0]], nhwc, ns, a->kernel, a->strides, a->dilations,
              a->pads_begin, a->pads_end);
  /* Weight layout -> [o][c/g][k...]: perm[i] is the source dim of dim i. */
  int *perm = p->wperm;
  switch (a->weight_layout) {
  case NND_WLAYOUT_OIHW:
    for (int i = 0; i < r; i++)
      perm[i] = i;
    break;
  case NND_WLAYOUT_OHWI:
    perm[0] = 0;
    perm[1] = r - 1;
    for (int i = 0; i < ns; i++)
      perm[2 + i] = 1 + i;
    break;
  case NND_WLAYOUT_HWIO:
    perm[0] = r - 1;
    perm[1] = r - 2;
    for (int i = 0; i < ns; i++)
      perm[2 + i] = i;
    break;
  case NND_WLAYOUT_1HWO:
    perm[0] = r - 1;
    perm[1] = 0;
    for (int i = 0; i < ns; i++)
      perm[2 + i] = 1 + i;
    break;
  default: return nnd__node_error(e, id, err, NND_ERR_UNSUPPORTED, "unknown weight layout");
  }
  p->wperm_identity = true;
  for (int i = 0; i < r; i++)
    p->wperm_identity &= perm[i] == i;
  g->o = w->dims[perm[0]];
  g->groups = a->groups;
  e->n[id].params = p;
  return NND_OK;
}

/* Weights as [o][c/g][k...] (a tensor id of the precision's type). */
static int32_t oihw_weights(nnd_engine *e, int32_t id, conv_params *p, nnd_error *err) {
  const nnd_node *nd = &e->g->nodes[id];
  int32_t w = nnd__operand(e, nd->inputs[1], false, err);
  if (w < 0 || p->wperm_identity) return w;
  if (p->w_oihw >= 0 && !e->folding) return p->w_oihw;
  const etensor *wt = &e->t[w];
  const int r = wt->rank;
  int64_t od[NND_MAX_RANK], wdims[NND_MAX_RANK];
  memcpy(wdims, wt->dims, sizeof wdims);
  for (int i = 0; i < r; i++)
    od[i] = wdims[p->wperm[i]];
  transpose_params *tp = nnd__emem(e, 1, sizeof *tp);
  if (!tp) return nnd_error_set(err, NND_ERR_NOMEM, "out of memory"), -1;
  tp->rank = r;
  memcpy(tp->in_dims, wdims, sizeof wdims);
  memcpy(tp->perm, p->wperm, sizeof tp->perm);
  int32_t o;
  if (wt->is_const) {
    o = nnd__const_tensor(e, -1, wt->dtype, r, od);
    if (o < 0) return nnd_error_set(err, NND_ERR_NOMEM, "out of memory"), -1;
    nnd__transpose(nnd_dtype_size(e->t[w].dtype), r, tp->in_dims, tp->perm, e->t[w].data,
                   e->t[o].data);
  } else {
    o = nnd__runtime_tensor(e, -1, r, od, false);
    if (o < 0) return nnd_error_set(err, NND_ERR_NOMEM, "out of memory"), -1;
    if (nnd__emit(e, nnd__step_transpose, "weights_to_oihw", tp, &w, 1, &o, 1, -1, err) != NND_OK)
      return -1;
  }
  if (!e->folding) p->w_oihw = o;
  return o;
}

typedef struct conv_step {
  nnd__conv_geom geom;
  bool transpose;
  nnd__fconv *fast;
} conv_step;

static nnd_status step_conv(nnd_engine *e, const step *s, nnd_error *err) {
  const conv_step *p = s->p;
  const etensor *x = nnd__t(e, s->in[0]);
  const void *w = nnd__data(e, s->in[1]);
  const void *b = s->n_in > 2 ? nnd__data(e, s->in[2]) : NULL;
  void *y = nnd__data(e, s->out[0]);
  if (x->dtype == NND_DTYPE_F64) {
    if (p->transpose)
      nnd__conv_transpose_f64(&p->geom, x->data, w, b, y);
    else
      nnd__conv_f64(&p->geom, x->data, w, b, y);
  } else {
    if (p->transpose)
      nnd__conv_transpose_f32(&p->geom, x->data, w, b, y);
    else
      nnd__conv_f32(&p->geom, x->data, w, b, y);
  }
  (void)err;
  return NND_OK;
}

static nnd_status step_fconv(nnd_engine *e, const step *s, nnd_error *err) {
  const conv_step *p = s->p;
  float *y = nnd__data(e, s->out[0]);
  if (s->n_in > 1) {
    /* Residual sum: the convolution accumulates into y = residual. */
    const etensor *r = nnd__t(e, s->in[1]);
    if (r->data != y) memcpy(y, r->data, (size_t)r->numel * sizeof *y);
  }
  return nnd__fconv_run(p->fast, nnd__data(e, s->in[0]), y, e->scratch, err);
}

static void destroy_fconv(void *p) { nnd__fconv_destroy(((conv_step *)p)->fast); }

/* Post-op activations of a fused group, as unary steps over y. */
static nnd_status emit_posts(nnd_engine *e, const efusion *f, int32_t y, nnd_error *err) {
  for (int i = 0; f && i < f->n_post; i++) {
    nnd__unary *u = nnd__emem(e, 1, sizeof *u);
    if (!u) return nnd_error_set(err, NND_ERR_NOMEM, "out of memory");
    *u = f->post[i];
    nnd_status st =
        nnd__emit(e, nnd__step_unary, nnd__unary_name(u->kind), u, &y, 1, &y, 1, 0, err);
    if (st != NND_OK) return st;
  }
  return NND_OK;
}

/* The fused group of node id (fast path), or NULL. */
static const efusion *group_of(nnd_engine *e, int32_t id) {
  return !e->folding && e->n[id].is_head ? &e->n[id].fusion : NULL;
}

/* Output node and value of node id's group. */
static int32_t group_out_node(nnd_engine *e, int32_t id) {
  const efusion *f = group_of(e, id);
  return f ? f->last_node : id;
}

/* Folds BatchNorm into float32 weights and bias: w'[o] = w[o] * s[o],
 * b'[o] = (b[o] - mean[o]) * s[o] + beta[o], s = gamma / sqrt(var + eps),
 * computed in double. */
static nnd_status fold_bn(nnd_engine *e, int32_t bn, int64_t o, int64_t per_o, const double *w,
                          const double *b, float *w32, float *b32, nnd_error *err) {
  const nnd_node *nd = &e->g->nodes[bn];
  const double *gamma = nnd__const_f64(e, nd->inputs[1]), *beta = nnd__const_f64(e, nd->inputs[2]);
  const double *mean = nnd__const_f64(e, nd->inputs[3]), *var = nnd__const_f64(e, nd->inputs[4]);
  if (!gamma || !beta || !mean || !var)
    return nnd__node_error(e, bn, err, NND_ERR_INTERNAL, "BatchNorm parameters are not constants");
  const double eps = nd->attrs.epsilon;
  for (int64_t oc = 0; oc < o; oc++) {
    const double s = gamma[oc] / sqrt(var[oc] + eps);
    for (int64_t i = 0; i < per_o; i++)
      w32[oc * per_o + i] = (float)(w[oc * per_o + i] * s);
    b32[oc] = (float)(((b ? b[oc] : 0.0) - mean[oc]) * s + beta[oc]);
  }
  return NND_OK;
}

/* The residual input of a group's fused Add: the input that is not the
 * value coming out of the group's previous node. */
static int32_t residual_of(nnd_engine *e, int32_t id, const efusion *f) {
  const nnd_node *add = &e->g->nodes[f->sum_node];
  int32_t chain = e->g->nodes[id].outputs[0];
  if (f->bn_node >= 0) chain = e->g->nodes[f->bn_node].outputs[0];
  return add->inputs[0] == chain ? add->inputs[1] : add->inputs[0];
}

nnd_status nnd__eng_build_conv(nnd_engine *e, int32_t id, nnd_error *err) {
  const nnd_node *nd = &e->g->nodes[id];
  conv_params *p = e->n[id].params;
  const efusion *f = group_of(e, id);
  const int32_t last = group_out_node(e, id);
  const evalue *out = &e->v[e->g->nodes[last].outputs[0]];
  const bool cl = !e->folding && out->want_cl;
  nnd__conv_geom g = p->geom;
  g.channels_last = g.channels_last || cl;
  const int r = out->rank;
  int64_t od[NND_MAX_RANK];
  memcpy(od, out->dims, sizeof od);
  if (cl) nnd__cl_dims(out->dims, od);
  int32_t x = nnd__operand(e, nd->inputs[0], cl, err);
  if (x < 0) return err->status;
  const evalue *wv = &e->v[nd->inputs[1]];
  const int32_t bvid = nnd__in_value(e, id, 2);
  const bool const_params = wv->is_const && (bvid < 0 || e->v[bvid].is_const);
  conv_step *cs = nnd__emem(e, 1, sizeof *cs);
  if (!cs) return nnd_error_set(err, NND_ERR_NOMEM, "out of memory");
  cs->geom = g;
  if (!e->ref && !e->folding && const_params) {
    /* Fast: weights in double -> (BatchNorm folded) -> float32 -> backend. */
    const bool saved = e->folding;
    e->folding = true; /* plan constants as f64, no f32 twins */
    int32_t w64 = oihw_weights(e, id, p, err);
    e->folding = saved;
    if (w64 < 0) return err->status;
    const int64_t per_o = e->t[w64].numel / g.o;
    const double *bias64 = bvid >= 0 ? nnd__const_f64(e, bvid) : NULL;
    /* The float32 copy lives until the backend has packed it; the packed
     * weights stay (counted again below, at their real size). */
    const size_t tmp_bytes = ((size_t)e->t[w64].numel + (size_t)g.o) * sizeof(float);
    if (!nnd__hold(e, -1, tmp_bytes))
      return nnd_error_set(err, NND_ERR_NOMEM, "out of memory packing weights");
    float *w32 = malloc((size_t)e->t[w64].numel * sizeof *w32);
    float *b32 = malloc((size_t)g.o * sizeof *b32);
    if (!w32 || !b32) {
      free(w32);
      free(b32);
      nnd__release(e, tmp_bytes);
      nnd__oom(e, -1, tmp_bytes);
      return nnd_error_set(err, NND_ERR_NOMEM, "out of memory packing weights");
    }
    nnd_status st = NND_OK;
    if (f && f->bn_node >= 0) {
      st = fold_bn(e, f->bn_node, g.o, per_o, e->t[w64].data, bias64, w32, b32, err);
    } else {
      nnd__f64_to_f32(e->t[w64].data, w32, e->t[w64].numel);
      for (int64_t i = 0; i < g.o; i++)
        b32[i] = bias64 ? (float)bias64[i] : 0.f;
    }
    nnd__fconv_desc d = {0};
    d.geom = g;
    d.w = w32;
    d.b = (bias64 || (f && f->bn_node >= 0)) ? b32 : NULL;
    int32_t ins[2] = {x, -1};
    if (f) {
      d.n_post = f->n_post;
      memcpy(d.post, f->post, sizeof d.post);
      if (f->sum_node >= 0) {
        d.sum = true;
        ins[1] = nnd__operand(e, residual_of(e, id, f), cl, err);
        if (ins[1] < 0) {
          free(w32);
          free(b32);
          return err->status;
        }
      }
    }
    nnd_error local = {0};
    if (st == NND_OK) {
      st = nnd__fconv_create(e->fast, &d, &cs->fast, &local);
      if (st != NND_OK) nnd__node_error(e, id, err, st, "%s", local.message);
    }
    free(w32);
    free(b32);
    nnd__release(e, tmp_bytes);
    if (st != NND_OK) return st;
    if (!nnd__hold(e, -1, nnd__fconv_weight_bytes(cs->fast))) {
      nnd__fconv_destroy(cs->fast);
      return nnd_error_set(err, NND_ERR_NOMEM, "out of memory packing weights");
    }
    size_t sb = nnd__fconv_scratch_bytes(cs->fast);
    if (sb > e->scratch_bytes) e->scratch_bytes = sb;
    int32_t y = nnd__output(e, last, 0, r, od, cl);
    if (y < 0) {
      nnd__fconv_destroy(cs->fast);
      return nnd_error_set(err, NND_ERR_NOMEM, "out of memory");
    }
    st = nnd__emit(e, step_fconv, nnd__fconv_impl(cs->fast), cs, ins, d.sum ? 2 : 1, &y, 1,
                   d.sum ? 1 : -1, err);
    if (st != NND_OK) {
      nnd__fconv_destroy(cs->fast);
      return st;
    }
    nnd__emit_destroy(e, destroy_fconv);
    return NND_OK;
  }
  /* Reference (or runtime weights): direct loops, then the activations. */
  int32_t w = oihw_weights(e, id, p, err);
  if (w < 0) return err->status;
  int32_t b = bvid >= 0 ? nnd__operand(e, bvid, false, err) : -1;
  if (bvid >= 0 && b < 0) return err->status;
  int32_t y = nnd__output(e, last, 0, r, od, cl);
  if (y < 0) return nnd_error_set(err, NND_ERR_NOMEM, "out of memory");
  const int32_t ins[3] = {x, w, b};
  nnd_status st = nnd__emit(e, step_conv, "conv", cs, ins, b >= 0 ? 3 : 2, &y, 1, -1, err);
  if (st != NND_OK) return st;
  if (f && f->bn_node >= 0)
    return nnd__node_error(e, id, err, NND_ERR_INTERNAL,
                           "BatchNorm fused into a direct convolution");
  return emit_posts(e, f, y, err);
}

/* ------------------------------------------------- ConvTranspose */

nnd_status nnd__eng_prepare_conv_transpose(nnd_engine *e, int32_t id, const nnd_attrs *attrs,
                                           nnd_error *err) {
  const nnd_node *nd = &e->g->nodes[id];
  const nnd_conv_attrs *a = &attrs->conv;
  const evalue *x = nnd__in_ev(e, id, 0), *w = nnd__in_ev(e, id, 1);
  if (a->weight_layout != NND_WLAYOUT_OIHW)
    return nnd__node_error(e, id, err, NND_ERR_UNSUPPORTED,
                           "only ONNX weight layout [in][out/groups][k...] is supported");
  if (!x->is_float || !w->is_float)
    return nnd__node_error(e, id, err, NND_ERR_UNSUPPORTED, "integer input");
  conv_params *p = nnd__emem(e, 1, sizeof *p);
  if (!p) return nnd_error_set(err, NND_ERR_NOMEM, "out of memory");
  p->ns = x->rank - 2;
  p->w_oihw = -1;
  p->wperm_identity = true;
  nnd__conv_geom *g = &p->geom;
  window_geom(g, x, &e->v[nd->outputs[0]], a->layout == NND_LAYOUT_NHWC, p->ns, a->kernel,
              a->strides, a->dilations, a->pads_begin, a->pads_end);
  g->groups = a->groups;
  g->o = w->dims[1] * g->groups;
  e->n[id].params = p;
  return NND_OK;
}

nnd_status nnd__eng_build_conv_transpose(nnd_engine *e, int32_t id, nnd_error *err) {
  const nnd_node *nd = &e->g->nodes[id];
  const conv_params *p = e->n[id].params;
  const evalue *out = &e->v[nd->outputs[0]];
  int32_t x = nnd__operand(e, nd->inputs[0], false, err);
  if (x < 0) return err->status;
  int32_t w = nnd__operand(e, nd->inputs[1], false, err);
  if (w < 0) return err->status;
  const int32_t bvid = nnd__in_value(e, id, 2);
  int32_t b = bvid >= 0 ? nnd__operand(e, bvid, false, err) : -1;
  if (bvid >= 0 && b < 0) return err->status;
  conv_step *cs = nnd__emem(e, 1, sizeof *cs);
  int32_t y = nnd__output(e, id, 0, out->rank, out->dims, false);
  if (!cs || y < 0) return nnd_error_set(err, NND_ERR_NOMEM, "out of memory");
  cs->geom = p->geom;
  cs->transpose = true;
  const int32_t ins[3] = {x, w, b};
  return nnd__emit(e, step_conv, "conv_transpose", cs, ins, b >= 0 ? 3 : 2, &y, 1, -1, err);
}

/* ------------------------------------------------------------ Gemm */

typedef struct gemm_params {
  bool ta, tb;
  int64_t m, n, k;
  double alpha, beta;
  int64_t c_rows, c_cols; /* C's broadcast shape, 0 when absent */
  /* MatMul */
  nnd__matmul_geom mm;
  bool matmul;
  int n_post;
  nnd__unary post[NND_FCONV_MAX_POST];
  bool bias; /* fused MatMul + Add: in[2] is a [n] bias */
} gemm_params;

nnd_status nnd__eng_prepare_gemm(nnd_engine *e, int32_t id, const nnd_attrs *at, nnd_error *err) {
  const evalue *a = nnd__in_ev(e, id, 0), *b = nnd__in_ev(e, id, 1), *c = nnd__in_ev(e, id, 2);
  if (!a->is_float || !b->is_float)
    return nnd__node_error(e, id, err, NND_ERR_UNSUPPORTED, "integer input");
  gemm_params *p = nnd__emem(e, 1, sizeof *p);
  if (!p) return nnd_error_set(err, NND_ERR_NOMEM, "out of memory");
  p->ta = at->trans_a;
  p->tb = at->trans_b;
  p->m = p->ta ? a->dims[1] : a->dims[0];
  p->k = p->ta ? a->dims[0] : a->dims[1];
  p->n = p->tb ? b->dims[0] : b->dims[1];
  p->alpha = at->alpha;
  p->beta = at->beta;
  if (c) {
    /* C broadcasts to [m, n] (the IR checked it): rows and columns of 1 or
     * the full size. */
    p->c_rows = c->rank == 2 ? c->dims[0] : 1;
    p->c_cols = c->rank >= 1 ? c->dims[c->rank - 1] : 1;
  }
  e->n[id].params = p;
  return NND_OK;
}

nnd_status nnd__eng_prepare_matmul(nnd_engine *e, int32_t id, const nnd_attrs *at, nnd_error *err) {
  const evalue *a = nnd__in_ev(e, id, 0), *b = nnd__in_ev(e, id, 1);
  if (!a->is_float || !b->is_float)
    return nnd__node_error(e, id, err, NND_ERR_UNSUPPORTED, "integer matrix product");
  gemm_params *p = nnd__emem(e, 1, sizeof *p);
  if (!p) return nnd_error_set(err, NND_ERR_NOMEM, "out of memory");
  p->matmul = true;
  p->alpha = 1;
  const int ra = a->rank, rb = b->rank;
  p->m = ra == 1 ? 1 : a->dims[ra - 2];
  p->k = a->dims[ra - 1];
  p->n = rb == 1 ? 1 : b->dims[rb - 1];
  /* Batch dims (the IR checked they broadcast): the matrix strides of each
   * operand, 0 along a dim it broadcasts. */
  const int ba = ra > 2 ? ra - 2 : 0, bb = rb > 2 ? rb - 2 : 0;
  nnd__matmul_geom *g = &p->mm;
  g->brank = ba > bb ? ba : bb;
  g->batch = 1;
  int64_t sa = 1, sb = 1; /* matrix strides, innermost batch dim first */
  for (int i = g->brank - 1; i >= 0; i--) {
    const int ia = i - (g->brank - ba), ib = i - (g->brank - bb);
    const int64_t da = ia >= 0 ? a->dims[ia] : 1, db = ib >= 0 ? b->dims[ib] : 1;
    g->bdims[i] = da == 1 ? db : da; /* numpy: 1 takes the other's size, 0 included */
    g->a_bstride[i] = da == 1 ? 0 : sa;
    g->b_bstride[i] = db == 1 ? 0 : sb;
    sa *= da;
    sb *= db;
    g->batch *= g->bdims[i];
  }
  g->m = p->m;
  g->n = p->n;
  g->k = p->k;
  e->n[id].params = p;
  return NND_OK;
}

static nnd_status step_gemm_ref(nnd_engine *e, const step *s, nnd_error *err) {
  const gemm_params *p = s->p;
  const double *c = s->n_in > 2 ? nnd__data(e, s->in[2]) : NULL;
  if (p->matmul)
    nnd__matmul_f64(&p->mm, nnd__data(e, s->in[0]), nnd__data(e, s->in[1]),
                    nnd__data(e, s->out[0]));
  else
    nnd__gemm_f64(p->ta, p->tb, p->m, p->n, p->k, p->alpha, nnd__data(e, s->in[0]),
                  nnd__data(e, s->in[1]), p->beta, c, p->c_rows, p->c_cols,
                  nnd__data(e, s->out[0]));
  (void)err;
  return NND_OK;
}

static nnd_status step_gemm_fast(nnd_engine *e, const step *s, nnd_error *err) {
  const gemm_params *p = s->p;
  const float *a = nnd__data(e, s->in[0]), *b = nnd__data(e, s->in[1]);
  const float *c = s->n_in > 2 ? nnd__data(e, s->in[2]) : NULL;
  float *y = nnd__data(e, s->out[0]);
  const int64_t m = p->m, n = p->n, k = p->k;
  if (!p->matmul) {
    float beta = 0.f;
    if (c && p->beta != 0) {
      for (int64_t i = 0; i < m; i++)
        for (int64_t j = 0; j < n; j++)
          y[i * n + j] = c[(p->c_rows == 1 ? 0 : i) * p->c_cols + (p->c_cols == 1 ? 0 : j)];
      beta = (float)p->beta;
    }
    nnd__sgemm(p->ta, p->tb, m, n, k, (float)p->alpha, a, p->ta ? m : k, b, p->tb ? k : n, beta, y,
               n);
  } else {
    const nnd__matmul_geom *g = &p->mm;
    /* A's batches contiguous and B shared: one product with batch*m rows. */
    bool b_shared = true, a_dense = true;
    int64_t expect = 1;
    for (int i = g->brank - 1; i >= 0; i--) {
      b_shared &= g->b_bstride[i] == 0 || g->bdims[i] == 1;
      a_dense &= g->a_bstride[i] == expect || g->bdims[i] == 1;
      expect *= g->bdims[i];
    }
    if (b_shared && a_dense) {
      nnd__sgemm(false, false, g->batch * m, n, k, 1.f, a, k, b, n, 0.f, y, n);
    } else {
      for (int64_t i = 0; i < g->batch; i++) {
        int64_t oa, ob;
        nnd__matmul_offsets(g, i, &oa, &ob);
        nnd__sgemm(false, false, m, n, k, 1.f, a + oa * m * k, k, b + ob * k * n, n, 0.f,
                   y + i * m * n, n);
      }
    }
    if (p->bias && c) {
      const int64_t rows = g->batch * m;
      for (int64_t i = 0; i < rows; i++)
        for (int64_t j = 0; j < n; j++)
          y[i * n + j] += c[j];
    }
  }
  const int64_t total = p->matmul ? p->mm.batch * m * n : m * n;
  for (int i = 0; i < p->n_post; i++)
    nnd__unary_f32(&p->post[i], y, y, total);
  (void)err;
  return NND_OK;
}

static nnd_status build_gemm_like(nnd_engine *e, int32_t id, nnd_error *err) {
  const nnd_node *nd = &e->g->nodes[id];
  const gemm_params *p0 = e->n[id].params;
  const efusion *f = group_of(e, id);
  const int32_t last = group_out_node(e, id);
  const evalue *out = &e->v[e->g->nodes[last].outputs[0]];
  gemm_params *p = nnd__emem(e, 1, sizeof *p);
  if (!p) return nnd_error_set(err, NND_ERR_NOMEM, "out of memory");
  *p = *p0;
  int32_t ins[3];
  int n_in = 2;
  for (int k = 0; k < 2; k++)
    if ((ins[k] = nnd__operand(e, nd->inputs[k], false, err)) < 0) return err->status;
  int32_t cv = nnd__in_value(e, id, 2);
  if (!p->matmul && cv >= 0) {
    if ((ins[2] = nnd__operand(e, cv, false, err)) < 0) return err->status;
    n_in = 3;
  }
  if (f && f->bias_node >= 0) {
    /* MatMul + Add(bias): the bias is the Add's constant input. */
    const nnd_node *add = &e->g->nodes[f->bias_node];
    int32_t bias_v = add->inputs[0] == nd->outputs[0] ? add->inputs[1] : add->inputs[0];
    if ((ins[2] = nnd__operand(e, bias_v, false, err)) < 0) return err->status;
    n_in = 3;
    p->bias = true;
  }
  const bool fast = !e->ref && !e->folding;
  if (fast && f) {
    p->n_post = f->n_post;
    memcpy(p->post, f->post, sizeof p->post);
  }
  int32_t y = nnd__output(e, last, 0, out->rank, out->dims, false);
  if (y < 0) return nnd_error_set(err, NND_ERR_NOMEM, "out of memory");
  nnd_status st = nnd__emit(e, fast ? step_gemm_fast : step_gemm_ref, nnd_op_name(nd->op), p, ins,
                            n_in, &y, 1, -1, err);
  if (st != NND_OK || fast || !f) return st;
  return nnd__node_error(e, id, err, NND_ERR_INTERNAL, "fusion in the reference path");
}

nnd_status nnd__eng_build_gemm(nnd_engine *e, int32_t id, nnd_error *err) {
  return build_gemm_like(e, id, err);
}

nnd_status nnd__eng_build_matmul(nnd_engine *e, int32_t id, nnd_error *err) {
  return build_gemm_like(e, id, err);
}

/* ------------------------------------------------------------ pools */

typedef struct pool_params {
  nnd__conv_geom geom;
  int ns;
  bool is_max, count_include_pad;
} pool_params;

nnd_status nnd__eng_prepare_pool(nnd_engine *e, int32_t id, const nnd_attrs *attrs,
                                 nnd_error *err) {
  const nnd_node *nd = &e->g->nodes[id];
  const nnd_pool_attrs *a = &attrs->pool;
  const evalue *x = nnd__in_ev(e, id, 0);
  if (!x->is_float) return nnd__node_error(e, id, err, NND_ERR_UNSUPPORTED, "integer input");
  if (nd->n_outputs > 1 && e->v[nd->outputs[1]].needed)
    return nnd__node_error(e, id, err, NND_ERR_UNSUPPORTED,
                           "output 1 ('%s') is not supported by the engine",
                           e->g->values[nd->outputs[1]].name);
  pool_params *p = nnd__emem(e, 1, sizeof *p);
  if (!p) return nnd_error_set(err, NND_ERR_NOMEM, "out of memory");
  p->ns = x->rank - 2;
  p->is_max = nd->op == NND_OP_MAX_POOL;
  p->count_include_pad = a->count_include_pad;
  nnd__conv_geom *g = &p->geom;
  window_geom(g, x, &e->v[nd->outputs[0]], a->layout == NND_LAYOUT_NHWC, p->ns, a->kernel,
              a->strides, a->dilations, a->pads_begin, a->pads_end);
  g->o = g->groups = g->c;
  e->n[id].params = p;
  return NND_OK;
}

static nnd_status step_pool(nnd_engine *e, const step *s, nnd_error *err) {
  const pool_params *p = s->p;
  const etensor *x = nnd__t(e, s->in[0]);
  void *y = nnd__data(e, s->out[0]);
  if (x->dtype == NND_DTYPE_F64) {
    if (p->is_max)
      nnd__maxpool_f64(&p->geom, x->data, y);
    else
      nnd__avgpool_f64(&p->geom, p->count_include_pad, x->data, y);
  } else {
    if (p->is_max)
      nnd__maxpool_f32(&p->geom, x->data, y);
    else
      nnd__avgpool_f32(&p->geom, p->count_include_pad, x->data, y);
  }
  (void)err;
  return NND_OK;
}

nnd_status nnd__eng_build_pool(nnd_engine *e, int32_t id, nnd_error *err) {
  const nnd_node *nd = &e->g->nodes[id];
  const pool_params *p0 = e->n[id].params;
  const evalue *out = &e->v[nd->outputs[0]];
  const bool cl = !e->folding && out->want_cl;
  pool_params *p = nnd__emem(e, 1, sizeof *p);
  if (!p) return nnd_error_set(err, NND_ERR_NOMEM, "out of memory");
  *p = *p0;
  p->geom.channels_last = p->geom.channels_last || cl;
  int32_t x = nnd__operand(e, nd->inputs[0], cl, err);
  if (x < 0) return err->status;
  int64_t od[NND_MAX_RANK];
  memcpy(od, out->dims, sizeof od);
  if (cl) nnd__cl_dims(out->dims, od);
  int32_t y = nnd__output(e, id, 0, out->rank, od, cl);
  if (y < 0) return nnd_error_set(err, NND_ERR_NOMEM, "out of memory");
  return nnd__emit(e, step_pool, nnd_op_name(nd->op), p, &x, 1, &y, 1, -1, err);
}

/* ----------------------------------------------------- global pools */

typedef struct gpool_params {
  bool is_max, nhwc;
  int64_t n, c, spatial;
} gpool_params;

nnd_status nnd__eng_prepare_global_pool(nnd_engine *e, int32_t id, const nnd_attrs *a,
                                        nnd_error *err) {
  const nnd_node *nd = &e->g->nodes[id];
  const evalue *x = nnd__in_ev(e, id, 0);
  if (!x->is_float) return nnd__node_error(e, id, err, NND_ERR_UNSUPPORTED, "integer input");
  gpool_params *p = nnd__emem(e, 1, sizeof *p);
  if (!p) return nnd_error_set(err, NND_ERR_NOMEM, "out of memory");
  p->is_max = nd->op == NND_OP_GLOBAL_MAX_POOL;
  /* The channel dim the IR's rule kept in the output shape. */
  p->nhwc = a->pool.layout == NND_LAYOUT_NHWC;
  const int ca = p->nhwc ? x->rank - 1 : 1;
  p->n = x->dims[0];
  p->c = x->dims[ca];
  p->spatial = 1;
  for (int d = 1; d < x->rank; d++)
    if (d != ca) p->spatial *= x->dims[d];
  e->n[id].params = p;
  return NND_OK;
}

static nnd_status step_gpool(nnd_engine *e, const step *s, nnd_error *err) {
  const gpool_params *p = s->p;
  const etensor *x = nnd__t(e, s->in[0]);
  void *y = nnd__data(e, s->out[0]);
  if (x->dtype == NND_DTYPE_F64)
    nnd__global_pool_f64(p->is_max, p->n, p->c, p->spatial, p->nhwc, x->data, y);
  else
    nnd__global_pool_f32(p->is_max, p->n, p->c, p->spatial, p->nhwc, x->data, y);
  (void)err;
  return NND_OK;
}

nnd_status nnd__eng_build_global_pool(nnd_engine *e, int32_t id, nnd_error *err) {
  const nnd_node *nd = &e->g->nodes[id];
  const evalue *out = &e->v[nd->outputs[0]];
  const bool cl = !e->folding && out->want_cl;
  gpool_params *p = nnd__emem(e, 1, sizeof *p);
  if (!p) return nnd_error_set(err, NND_ERR_NOMEM, "out of memory");
  *p = *(const gpool_params *)e->n[id].params;
  p->nhwc = p->nhwc || cl;
  int32_t x = nnd__operand(e, nd->inputs[0], cl, err);
  if (x < 0) return err->status;
  int64_t od[NND_MAX_RANK];
  memcpy(od, out->dims, sizeof od);
  if (cl) nnd__cl_dims(out->dims, od);
  int32_t y = nnd__output(e, id, 0, out->rank, od, cl);
  if (y < 0) return nnd_error_set(err, NND_ERR_NOMEM, "out of memory");
  return nnd__emit(e, step_gpool, nnd_op_name(nd->op), p, &x, 1, &y, 1, -1, err);
}
