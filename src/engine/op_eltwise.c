/* Planners of the elementwise and normalisation ops: unary ops and
 * activations, binary ops with broadcasting (and PRelu), Cast, BatchNorm,
 * LRN, Softmax/LogSoftmax. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "engine/engine_internal.h"

/* ----------------------------------------------------------- unary */

/* The kernel of each unary op: the last field of ops.def's ENGINE column
 * (-1: not a unary op). */
#define NND__UN_NONE (-1)
#define ENGINE(prepare, build, flags, kernel) NND__UN_##kernel
#define X(id, name, fam, io, dt, rule, cost, comm, subst, params, hp, act, eval, engine) engine,
static const int unary_kernel[] = {
#include "nndiff/ops.def"
};
#undef X
#undef ENGINE
#undef NND__UN_NONE
_Static_assert(sizeof unary_kernel / sizeof unary_kernel[0] == NND_OP_COUNT,
               "one unary kernel per line of ops.def");

nnd_status nnd__eng_prepare_unary(nnd_engine *e, int32_t id, const nnd_attrs *a, nnd_error *err) {
  const nnd_node *nd = &e->g->nodes[id];
  nnd__unary *u = nnd__emem(e, 1, sizeof *u);
  if (!u) return nnd_error_set(err, NND_ERR_NOMEM, "out of memory");
  u->alpha = a->alpha;
  u->beta = a->beta;
  if (unary_kernel[nd->op] >= 0) u->kind = (nnd__unary_kind)unary_kernel[nd->op];
  switch (nd->op) {
  case NND_OP_CLIP: {
    /* Bounds from the inputs (opset 11+), else from the attributes. The
     * IR resolved them as float; they are read again here in double so a
     * float64 graph keeps its bounds exact. */
    u->kind = NND__UN_CLIP;
    u->alpha = nd->attrs.clip_min;
    u->beta = nd->attrs.clip_max;
    double v;
    bool present;
    nnd_status st = nnd__const_scalar(e, id, 1, &v, &present, err);
    if (st != NND_OK) return st;
    if (present) u->alpha = v;
    if ((st = nnd__const_scalar(e, id, 2, &v, &present, err)) != NND_OK) return st;
    if (present) u->beta = v;
    break;
  }
  default:
    if (unary_kernel[nd->op] < 0)
      return nnd__node_error(e, id, err, NND_ERR_INTERNAL, "not a unary op");
    break;
  }
  e->n[id].params = u;
  return NND_OK;
}

nnd_status nnd__eng_build_unary(nnd_engine *e, int32_t id, nnd_error *err) {
  const nnd_node *nd = &e->g->nodes[id];
  const bool cl = !e->folding && e->v[nd->outputs[0]].want_cl;
  int32_t x = nnd__operand(e, nd->inputs[0], cl, err);
  if (x < 0) return err->status;
  int64_t od[NND_MAX_RANK];
  const int r = nnd__planned_dims(e, nd->outputs[0], cl, od);
  int32_t y = nnd__output(e, id, 0, r, od, cl);
  if (y < 0) return nnd_error_set(err, NND_ERR_NOMEM, "out of memory");
  const nnd__unary *u = e->n[id].params;
  return nnd__emit(e, nnd__step_unary, nnd__unary_name(u->kind), e->n[id].params, &x, 1, &y, 1, 0,
                   err);
}

nnd_status nnd__eng_build_silu(nnd_engine *e, int32_t id, nnd_error *err) {
  const nnd_node *nd = &e->g->nodes[id];
  const bool cl = !e->folding && e->v[nd->outputs[0]].want_cl;
  int32_t x = nnd__operand(e, e->n[id].silu_x, cl, err);
  if (x < 0) return err->status;
  int64_t od[NND_MAX_RANK];
  const int r = nnd__planned_dims(e, nd->outputs[0], cl, od);
  int32_t y = nnd__output(e, id, 0, r, od, cl);
  nnd__unary *u = nnd__emem(e, 1, sizeof *u);
  if (y < 0 || !u) return nnd_error_set(err, NND_ERR_NOMEM, "out of memory");
  u->kind = NND__UN_SILU;
  return nnd__emit(e, nnd__step_unary, "silu", u, &x, 1, &y, 1, 0, err);
}

/* ------------------------------------------------------------ cast */

nnd_status nnd__eng_prepare_cast(nnd_engine *e, int32_t id, const nnd_attrs *a, nnd_error *err) {
  if (a->to == NND_DTYPE_STRING)
    return nnd__node_error(e, id, err, NND_ERR_UNSUPPORTED, "cast to %s", nnd_dtype_name(a->to));
  return NND_OK;
}

static nnd_status step_cast(nnd_engine *e, const step *s, nnd_error *err) {
  const etensor *x = nnd__t(e, s->in[0]), *y = nnd__t(e, s->out[0]);
  const nnd_dtype to = *(const nnd_dtype *)s->p;
  for (int64_t i = 0; i < x->numel; i++) {
    if (y->dtype == NND_DTYPE_F64) {
      double v = x->dtype == NND_DTYPE_I64 ? (double)((const int64_t *)x->data)[i]
                                           : ((const double *)x->data)[i];
      if (to == NND_DTYPE_F32) v = (float)v;
      ((double *)y->data)[i] = v;
    } else if (x->dtype == NND_DTYPE_I64) {
      int64_t v = ((const int64_t *)x->data)[i];
      ((int64_t *)y->data)[i] = to == NND_DTYPE_BOOL ? v != 0 : v;
    } else {
      double v = ((const double *)x->data)[i];
      int64_t r;
      if (to == NND_DTYPE_BOOL)
        r = v != 0;
      else if (isnan(v) || v >= 9.2e18 || v <= -9.2e18)
        return nnd__node_error(e, s->node, err, NND_ERR_UNSUPPORTED, "cannot cast %g to an integer",
                               v);
      else
        r = (int64_t)v; /* truncation toward zero */
      ((int64_t *)y->data)[i] = r;
    }
  }
  return NND_OK;
}

static nnd_status step_round_half(nnd_engine *e, const step *s, nnd_error *err) {
  const etensor *x = nnd__t(e, s->in[0]);
  const bool bf16 = *(const nnd_dtype *)s->p == NND_DTYPE_BF16;
  if (x->dtype == NND_DTYPE_F64)
    nnd__round_half_f64(bf16, x->data, nnd__data(e, s->out[0]), x->numel);
  else
    nnd__round_half_f32(bf16, x->data, nnd__data(e, s->out[0]), x->numel);
  (void)err;
  return NND_OK;
}

nnd_status nnd__eng_build_cast(nnd_engine *e, int32_t id, nnd_error *err) {
  const nnd_node *nd = &e->g->nodes[id];
  const evalue *out = &e->v[nd->outputs[0]];
  const bool cl = !e->folding && out->want_cl;
  int32_t x = nnd__operand(e, nd->inputs[0], cl, err);
  if (x < 0) return err->status;
  const etensor *xt = &e->t[x];
  const nnd_dtype to = nd->attrs.to;
  int64_t od[NND_MAX_RANK];
  const int r = nnd__planned_dims(e, nd->outputs[0], cl, od);
  if (!e->folding && to != NND_DTYPE_F16 && to != NND_DTYPE_BF16) {
    /* Float to float32/float64 at run time: the engine's precision stays
     * as it is (the reference does not round to float32 at a Cast). */
    int32_t y = nnd__output_alias(e, id, 0, x, r, od);
    return y < 0 ? nnd_error_set(err, NND_ERR_NOMEM, "out of memory") : NND_OK;
  }
  if (!e->folding || (to == NND_DTYPE_F16 || to == NND_DTYPE_BF16)) {
    if (!out->is_float || xt->dtype == NND_DTYPE_I64)
      return nnd__node_error(e, id, err, NND_ERR_UNSUPPORTED, "cast between integers and halves");
    /* float16 / bfloat16: the values are rounded to that precision. */
    int32_t y = nnd__output(e, id, 0, r, od, cl);
    nnd_dtype *p = nnd__emem(e, 1, sizeof *p);
    if (y < 0 || !p) return nnd_error_set(err, NND_ERR_NOMEM, "out of memory");
    *p = to;
    return nnd__emit(e, step_round_half, "cast_half", p, &x, 1, &y, 1, 0, err);
  }
  int32_t y = nnd__output(e, id, 0, r, od, false);
  nnd_dtype *p = nnd__emem(e, 1, sizeof *p);
  if (y < 0 || !p) return nnd_error_set(err, NND_ERR_NOMEM, "out of memory");
  *p = nd->attrs.to;
  return nnd__emit(e, step_cast, "cast", p, &x, 1, &y, 1, -1, err);
}

/* ---------------------------------------------------------- binary */

typedef struct binary_params {
  nnd__binary_kind kind;
  nnd__bcast bc;
} binary_params;

static bool binary_kind(nnd_op op, nnd__binary_kind *k) {
  switch (op) {
  case NND_OP_ADD: *k = NND__BIN_ADD; return true;
  case NND_OP_SUB: *k = NND__BIN_SUB; return true;
  case NND_OP_MUL: *k = NND__BIN_MUL; return true;
  case NND_OP_DIV: *k = NND__BIN_DIV; return true;
  case NND_OP_POW: *k = NND__BIN_POW; return true;
  case NND_OP_MAX: *k = NND__BIN_MAX; return true;
  case NND_OP_MIN: *k = NND__BIN_MIN; return true;
  case NND_OP_PRELU: *k = NND__BIN_PRELU; return true;
  case NND_OP_MOD: *k = NND__BIN_MOD; return true;
  default: return false;
  }
}

nnd_status nnd__eng_prepare_binary(nnd_engine *e, int32_t id, const nnd_attrs *a, nnd_error *err) {
  const nnd_node *nd = &e->g->nodes[id];
  nnd__binary_kind kind;
  if (!binary_kind(nd->op, &kind))
    return nnd__node_error(e, id, err, NND_ERR_INTERNAL, "not binary");
  /* The IR broadcast the shapes; the kernels take one number class. */
  const bool is_float = e->v[nd->inputs[0]].is_float;
  for (int k = 1; k < nd->n_inputs; k++) {
    if (e->v[nd->inputs[k]].is_float == is_float) continue;
    /* Pow's exponent may have another type than its base. */
    if (nd->op != NND_OP_POW || k != 1)
      return nnd__node_error(e, id, err, NND_ERR_GRAPH, "mixes float and integer inputs");
    if (!is_float)
      return nnd__node_error(e, id, err, NND_ERR_UNSUPPORTED,
                             "an integer base with a float exponent");
  }
  return NND_OK;
}

static nnd_status step_binary(nnd_engine *e, const step *s, nnd_error *err) {
  const binary_params *p = s->p;
  const etensor *a = nnd__t(e, s->in[0]), *b = nnd__t(e, s->in[1]);
  void *y = nnd__data(e, s->out[0]);
  if (a->dtype != b->dtype)
    return nnd__node_error(e, s->node, err, NND_ERR_INTERNAL, "binary step mixes %s and %s",
                           nnd_dtype_name(a->dtype), nnd_dtype_name(b->dtype));
  switch (a->dtype) {
  case NND_DTYPE_F64: nnd__binary_f64(p->kind, &p->bc, a->data, b->data, y); return NND_OK;
  case NND_DTYPE_F32: nnd__binary_f32(p->kind, &p->bc, a->data, b->data, y); return NND_OK;
  case NND_DTYPE_I64:
    if (nnd__binary_i64(p->kind, &p->bc, a->data, b->data, y)) return NND_OK;
    return nnd__node_error(e, s->node, err, NND_ERR_UNSUPPORTED, "not supported on integers");
  default:
    return nnd_error_set(err, NND_ERR_INTERNAL, "binary step on %s", nnd_dtype_name(a->dtype));
  }
}

/* Dims of tensor t aligned (leading 1s) to rank r. */
static void align(const etensor *t, int r, int64_t *dims) {
  for (int i = 0; i < r; i++)
    dims[i] = i < r - t->rank ? 1 : t->dims[i - (r - t->rank)];
}

nnd_status nnd__eng_build_binary(nnd_engine *e, int32_t id, nnd_error *err) {
  const nnd_node *nd = &e->g->nodes[id];
  nnd__binary_kind kind = NND__BIN_ADD;
  binary_kind(nd->op, &kind);
  if (nd->op == NND_OP_MOD && nd->attrs.fmod) kind = NND__BIN_FMOD;
  const evalue *out = &e->v[nd->outputs[0]];
  const bool cl = !e->folding && out->want_cl;
  int64_t od[NND_MAX_RANK];
  const int r = out->rank;
  memcpy(od, out->dims, sizeof od);
  if (cl) nnd__cl_dims(out->dims, od);
  int32_t ins[64];
  const int n = nd->n_inputs < 64 ? nd->n_inputs : 64;
  for (int k = 0; k < n; k++) {
    if ((ins[k] = nnd__operand(e, nd->inputs[k], cl, err)) < 0) return err->status;
    if (e->t[ins[k]].dtype == NND_DTYPE_I64 && out->is_float) {
      /* An integer exponent of a float Pow: a float copy of the constant. */
      const etensor *it = &e->t[ins[k]];
      int32_t f = nnd__const_tensor(e, -1, e->folding ? NND_DTYPE_F64 : e->rt, it->rank, it->dims);
      if (f < 0) return nnd_error_set(err, NND_ERR_NOMEM, "out of memory");
      it = &e->t[ins[k]];
      for (int64_t q = 0; q < it->numel; q++) {
        double v = (double)((const int64_t *)it->data)[q];
        if (e->t[f].dtype == NND_DTYPE_F64)
          ((double *)e->t[f].data)[q] = v;
        else
          ((float *)e->t[f].data)[q] = (float)v;
      }
      ins[k] = f;
    }
  }
  int32_t y = nnd__output(e, id, 0, r, od, cl);
  if (y < 0) return nnd_error_set(err, NND_ERR_NOMEM, "out of memory");
  if (n == 1) return nnd__emit(e, nnd__step_copy, "copy", NULL, ins, 1, &y, 1, 0, err);
  for (int k = 1; k < n; k++) {
    binary_params *p = nnd__emem(e, 1, sizeof *p);
    if (!p) return nnd_error_set(err, NND_ERR_NOMEM, "out of memory");
    p->kind = kind;
    const int32_t a = k == 1 ? ins[0] : y, b = ins[k];
    int64_t ad[NND_MAX_RANK], bd[NND_MAX_RANK];
    align(&e->t[a], r, ad);
    align(&e->t[b], r, bd);
    nnd__bcast_init(&p->bc, r, od, ad, bd);
    const bool a_full = e->t[a].numel == p->bc.numel, b_full = e->t[b].numel == p->bc.numel;
    const int inplace = a_full ? 0 : (b_full ? 1 : -1);
    const int32_t io[2] = {a, b};
    nnd_status st = nnd__emit(e, step_binary, nnd_op_name(nd->op), p, io, 2, &y, 1, inplace, err);
    if (st != NND_OK) return st;
  }
  return NND_OK;
}

/* ------------------------------------------------------- batchnorm */

typedef struct bn_params {
  int axis; /* logical channel axis */
  double eps;
  int64_t c;
  /* fast path: y = a * x + b */
  float *a, *b;
} bn_params;

nnd_status nnd__eng_prepare_batchnorm(nnd_engine *e, int32_t id, const nnd_attrs *a,
                                      nnd_error *err) {
  const evalue *x = nnd__in_ev(e, id, 0);
  if (!x->is_float) return nnd__node_error(e, id, err, NND_ERR_UNSUPPORTED, "integer input");
  bn_params *p = nnd__emem(e, 1, sizeof *p);
  if (!p) return nnd_error_set(err, NND_ERR_NOMEM, "out of memory");
  p->axis = x->nhwc ? x->rank - 1 : 1;
  p->c = x->dims[p->axis];
  p->eps = a->epsilon;
  for (int k = 1; k < 5; k++) {
    /* The kernel reads c values of each: the channel dim it walks is the
     * plan's (channels last for NHWC graphs), checked again here. */
    const evalue *pv = nnd__in_ev(e, id, k);
    int64_t numel = 1;
    for (int d = 0; d < pv->rank; d++)
      numel *= pv->dims[d];
    if (numel != p->c)
      return nnd__node_error(e, id, err, NND_ERR_GRAPH, "parameter %d should have %lld values", k,
                             (long long)p->c);
    if (!pv->is_float)
      return nnd__node_error(e, id, err, NND_ERR_UNSUPPORTED, "integer parameters");
  }
  e->n[id].params = p;
  return NND_OK;
}

typedef struct bn_step {
  int64_t outer, c, inner;
  double eps;
  const float *a, *b; /* fast path with constant statistics: y = a * x + b */
  float lo, hi;       /* a fused ReLU/Clip */
} bn_step;

static nnd_status step_bn(nnd_engine *e, const step *s, nnd_error *err) {
  const bn_step *p = s->p;
  const etensor *x = nnd__t(e, s->in[0]);
  void *y = nnd__data(e, s->out[0]);
  if (p->a) {
    nnd__channel_affine_f32(p->outer, p->c, p->inner, x->data, p->a, p->b, p->lo, p->hi, y);
  } else if (x->dtype == NND_DTYPE_F64) {
    nnd__batchnorm_f64(p->outer, p->c, p->inner, x->data, nnd__data(e, s->in[1]),
                       nnd__data(e, s->in[2]), nnd__data(e, s->in[3]), nnd__data(e, s->in[4]),
                       p->eps, y);
  } else {
    nnd__batchnorm_f32(p->outer, p->c, p->inner, x->data, nnd__data(e, s->in[1]),
                       nnd__data(e, s->in[2]), nnd__data(e, s->in[3]), nnd__data(e, s->in[4]),
                       p->eps, y);
  }
  (void)err;
  return NND_OK;
}

nnd_status nnd__eng_build_batchnorm(nnd_engine *e, int32_t id, nnd_error *err) {
  const nnd_node *nd = &e->g->nodes[id];
  const bn_params *p = e->n[id].params;
  /* Fast path: a BatchNorm may head a group of activations (fuse.c). */
  const efusion *f = !e->folding && e->n[id].is_head ? &e->n[id].fusion : NULL;
  const int32_t last = f ? f->last_node : id;
  const bool cl = !e->folding && e->v[e->g->nodes[last].outputs[0]].want_cl;
  int32_t ins[5];
  if ((ins[0] = nnd__operand(e, nd->inputs[0], cl, err)) < 0) return err->status;
  const int axis = cl ? nnd__cl_axis(p->axis) : p->axis;
  bn_step *s = nnd__emem(e, 1, sizeof *s);
  int64_t od[NND_MAX_RANK];
  const int r = nnd__planned_dims(e, e->g->nodes[last].outputs[0], cl, od);
  int32_t y = nnd__output(e, last, 0, r, od, cl);
  if (!s || y < 0) return nnd_error_set(err, NND_ERR_NOMEM, "out of memory");
  const etensor *xt = &e->t[ins[0]];
  s->outer = 1;
  s->inner = 1;
  for (int d = 0; d < axis; d++)
    s->outer *= xt->dims[d];
  for (int d = axis + 1; d < xt->rank; d++)
    s->inner *= xt->dims[d];
  s->c = p->c;
  s->eps = p->eps;
  s->lo = -INFINITY;
  s->hi = INFINITY;
  bool all_const = true;
  for (int k = 1; k < 5; k++)
    all_const &= e->v[nd->inputs[k]].is_const;
  if (!e->ref && !e->folding && all_const) {
    /* Per-channel affine form, computed in double once. */
    const double *sc = nnd__const_f64(e, nd->inputs[1]), *bi = nnd__const_f64(e, nd->inputs[2]);
    const double *mu = nnd__const_f64(e, nd->inputs[3]), *va = nnd__const_f64(e, nd->inputs[4]);
    float *a = nnd__emem(e, (size_t)p->c, sizeof *a), *b = nnd__emem(e, (size_t)p->c, sizeof *b);
    if (!a || !b) return nnd_error_set(err, NND_ERR_NOMEM, "out of memory");
    for (int64_t c = 0; c < p->c; c++) {
      double k = sc[c] / sqrt(va[c] + s->eps);
      a[c] = (float)k;
      b[c] = (float)(bi[c] - mu[c] * k);
    }
    s->a = a;
    s->b = b;
    int first = 0;
    if (f && f->n_post > 0 && f->post[0].kind == NND__UN_RELU) {
      s->lo = 0.f;
      first = 1;
    } else if (f && f->n_post > 0 && f->post[0].kind == NND__UN_CLIP) {
      s->lo = (float)f->post[0].alpha;
      s->hi = (float)f->post[0].beta;
      first = 1;
    }
    nnd_status st = nnd__emit(e, step_bn, "batchnorm", s, ins, 1, &y, 1, 0, err);
    for (int i = first; f && st == NND_OK && i < f->n_post; i++) {
      nnd__unary *u = nnd__emem(e, 1, sizeof *u);
      if (!u) return nnd_error_set(err, NND_ERR_NOMEM, "out of memory");
      *u = f->post[i];
      st = nnd__emit(e, nnd__step_unary, nnd__unary_name(u->kind), u, &y, 1, &y, 1, 0, err);
    }
    return st;
  }
  if (f)
    return nnd__node_error(e, id, err, NND_ERR_INTERNAL,
                           "fused BatchNorm with run-time statistics");
  for (int k = 1; k < 5; k++)
    if ((ins[k] = nnd__operand(e, nd->inputs[k], false, err)) < 0) return err->status;
  return nnd__emit(e, step_bn, "batchnorm", s, ins, 5, &y, 1, 0, err);
}

/* ------------------------------------------------------------- LRN */

typedef struct lrn_params {
  int64_t outer, c, inner, size;
  double alpha, beta, bias;
} lrn_params;

nnd_status nnd__eng_prepare_lrn(nnd_engine *e, int32_t id, const nnd_attrs *a, nnd_error *err) {
  const evalue *x = nnd__in_ev(e, id, 0);
  if (x->rank < 3) return nnd__node_error(e, id, err, NND_ERR_GRAPH, "needs an input of rank >= 3");
  if (!x->is_float) return nnd__node_error(e, id, err, NND_ERR_UNSUPPORTED, "integer input");
  if (a->lrn_size < 1)
    return nnd__node_error(e, id, err, NND_ERR_GRAPH, "size %lld", (long long)a->lrn_size);
  lrn_params *p = nnd__emem(e, 1, sizeof *p);
  if (!p) return nnd_error_set(err, NND_ERR_NOMEM, "out of memory");
  const int axis = x->nhwc ? x->rank - 1 : 1;
  p->outer = 1;
  p->inner = 1;
  for (int d = 0; d < axis; d++)
    p->outer *= x->dims[d];
  for (int d = axis + 1; d < x->rank; d++)
    p->inner *= x->dims[d];
  p->c = x->dims[axis];
  p->size = a->lrn_size;
  p->alpha = a->alpha;
  p->beta = a->beta;
  p->bias = a->lrn_bias;
  e->n[id].params = p;
  return NND_OK;
}

static nnd_status step_lrn(nnd_engine *e, const step *s, nnd_error *err) {
  const lrn_params *p = s->p;
  const etensor *x = nnd__t(e, s->in[0]);
  void *y = nnd__data(e, s->out[0]);
  if (x->dtype == NND_DTYPE_F64)
    nnd__lrn_f64(p->outer, p->c, p->inner, p->size, p->alpha, p->beta, p->bias, x->data, y);
  else
    nnd__lrn_f32(p->outer, p->c, p->inner, p->size, p->alpha, p->beta, p->bias, x->data, y);
  (void)err;
  return NND_OK;
}

nnd_status nnd__eng_build_lrn(nnd_engine *e, int32_t id, nnd_error *err) {
  return nnd__emit_one_to_one(e, id, step_lrn, "lrn", err);
}

/* --------------------------------------------------------- softmax */

typedef struct softmax_params {
  int64_t outer, len, inner;
  bool log;
} softmax_params;

nnd_status nnd__eng_prepare_softmax(nnd_engine *e, int32_t id, const nnd_attrs *a, nnd_error *err) {
  const nnd_node *nd = &e->g->nodes[id];
  const evalue *x = nnd__in_ev(e, id, 0);
  if (!x->is_float) return nnd__node_error(e, id, err, NND_ERR_UNSUPPORTED, "integer input");
  int axis;
  if (!nnd__axis(a->axis, x->rank, &axis))
    return nnd__node_error(e, id, err, NND_ERR_GRAPH, "axis %lld is out of range for rank %d",
                           (long long)a->axis, x->rank);
  softmax_params *p = nnd__emem(e, 1, sizeof *p);
  if (!p) return nnd_error_set(err, NND_ERR_NOMEM, "out of memory");
  p->log = nd->op == NND_OP_LOG_SOFTMAX;
  p->outer = 1;
  p->len = 1;
  p->inner = 1;
  /* ONNX before opset 13 normalises over all dims from `axis` on. */
  const bool coerce_2d = e->onnx_opset > 0 && e->onnx_opset < 13;
  for (int d = 0; d < x->rank; d++) {
    if (d < axis)
      p->outer *= x->dims[d];
    else if (d == axis || coerce_2d)
      p->len *= x->dims[d];
    else
      p->inner *= x->dims[d];
  }
  e->n[id].params = p;
  return NND_OK;
}

static nnd_status step_softmax(nnd_engine *e, const step *s, nnd_error *err) {
  const softmax_params *p = s->p;
  const etensor *x = nnd__t(e, s->in[0]);
  void *y = nnd__data(e, s->out[0]);
  if (x->dtype == NND_DTYPE_F64)
    nnd__softmax_f64(p->outer, p->len, p->inner, p->log, x->data, y);
  else
    nnd__softmax_f32(p->outer, p->len, p->inner, p->log, x->data, y);
  (void)err;
  return NND_OK;
}

nnd_status nnd__eng_build_softmax(nnd_engine *e, int32_t id, nnd_error *err) {
  const nnd_node *nd = &e->g->nodes[id];
  int32_t x = nnd__operand(e, nd->inputs[0], false, err);
  if (x < 0) return err->status;
  const evalue *out = &e->v[nd->outputs[0]];
  int32_t y = nnd__output(e, id, 0, out->rank, out->dims, false);
  if (y < 0) return nnd_error_set(err, NND_ERR_NOMEM, "out of memory");
  return nnd__emit(e, step_softmax, nnd_op_name(nd->op), e->n[id].params, &x, 1, &y, 1, 0, err);
}
