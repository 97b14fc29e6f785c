/* Planners of the data-movement ops: Concat, Split, the views (Flatten,
 * Reshape, Squeeze, Unsqueeze, Identity, Dropout), Transpose, Pad, Slice,
 * Gather, Shape, Expand. Their output shapes, and the parameters ONNX passes
 * as inputs (shapes, axes, pads, starts...), come from the IR's shape
 * inference for the bound batch (plan_ir.c); those parameters must be known
 * at create: constants, or shape arithmetic the engine has folded. What is
 * here is what the kernels need besides the shapes: axes, offsets and
 * strides, checked indices. */
#include <stdlib.h>
#include <string.h>

#include "engine/engine_internal.h"
#include "ir/shape_infer.h"

static size_t esize_of(const etensor *t) { return nnd_dtype_size(t->dtype); }

/* ---------------------------------------------------------- concat */

typedef struct concat_params {
  int axis;
} concat_params;

typedef struct concat_step {
  int64_t outer;
  int n;
  int64_t *chunk;
  const void **xs;
  void **ys;
} concat_step;

nnd_status nnd__eng_prepare_concat(nnd_engine *e, int32_t id, const nnd_attrs *a, nnd_error *err) {
  concat_params *p = nnd__emem(e, 1, sizeof *p);
  if (!p) return nnd_error_set(err, NND_ERR_NOMEM, "out of memory");
  if (!nnd__axis(a->axis, e->v[nnd__in_value(e, id, 0)].rank, &p->axis))
    return nnd__node_error(e, id, err, NND_ERR_GRAPH, "axis %lld is out of range",
                           (long long)a->axis);
  e->n[id].params = p;
  return NND_OK;
}

static nnd_status step_concat(nnd_engine *e, const step *s, nnd_error *err) {
  const concat_step *p = s->p;
  for (int i = 0; i < p->n; i++)
    p->xs[i] = nnd__data(e, s->in[i]);
  nnd__concat(esize_of(nnd__t(e, s->out[0])), p->outer, p->n, p->chunk, p->xs,
              nnd__data(e, s->out[0]));
  (void)err;
  return NND_OK;
}

nnd_status nnd__eng_build_concat(nnd_engine *e, int32_t id, nnd_error *err) {
  const nnd_node *nd = &e->g->nodes[id];
  const concat_params *cp = e->n[id].params;
  const evalue *out = &e->v[nd->outputs[0]];
  const bool cl = !e->folding && out->want_cl;
  const int axis = cl ? nnd__cl_axis(cp->axis) : cp->axis;
  const int n = nd->n_inputs;
  concat_step *p = nnd__emem(e, 1, sizeof *p);
  int32_t *ins = nnd__emem(e, (size_t)n, sizeof *ins);
  if (!p || !ins) return nnd_error_set(err, NND_ERR_NOMEM, "out of memory");
  p->n = n;
  p->chunk = nnd__emem(e, (size_t)n, sizeof *p->chunk);
  p->xs = nnd__emem(e, (size_t)n, sizeof *p->xs);
  if (!p->chunk || !p->xs) return nnd_error_set(err, NND_ERR_NOMEM, "out of memory");
  for (int k = 0; k < n; k++) {
    if ((ins[k] = nnd__operand(e, nd->inputs[k], cl, err)) < 0) return err->status;
    const etensor *t = &e->t[ins[k]];
    p->chunk[k] = 1;
    for (int d = axis; d < t->rank; d++)
      p->chunk[k] *= t->dims[d];
  }
  int64_t od[NND_MAX_RANK];
  memcpy(od, out->dims, sizeof od);
  if (cl) nnd__cl_dims(out->dims, od);
  p->outer = 1;
  for (int d = 0; d < axis; d++)
    p->outer *= od[d];
  int32_t y = nnd__output(e, id, 0, out->rank, od, cl);
  if (y < 0) return nnd_error_set(err, NND_ERR_NOMEM, "out of memory");
  return nnd__emit(e, step_concat, "concat", p, ins, n, &y, 1, -1, err);
}

/* ----------------------------------------------------------- split */

typedef struct split_params {
  int axis;
  int n;
  int64_t *sizes;
} split_params;

nnd_status nnd__eng_prepare_split(nnd_engine *e, int32_t id, const nnd_attrs *a, nnd_error *err) {
  const nnd_node *nd = &e->g->nodes[id];
  const evalue *x = nnd__in_ev(e, id, 0);
  split_params *p = nnd__emem(e, 1, sizeof *p);
  if (!p) return nnd_error_set(err, NND_ERR_NOMEM, "out of memory");
  if (!nnd__axis(a->axis, x->rank, &p->axis))
    return nnd__node_error(e, id, err, NND_ERR_GRAPH, "axis %lld is out of range",
                           (long long)a->axis);
  p->n = nd->n_outputs;
  p->sizes = nnd__emem(e, (size_t)p->n, sizeof *p->sizes);
  if (!p->sizes) return nnd_error_set(err, NND_ERR_NOMEM, "out of memory");
  /* The parts are the outputs' sizes along the axis, as inferred. */
  for (int i = 0; i < p->n; i++) {
    const evalue *o = nd->outputs[i] >= 0 ? &e->v[nd->outputs[i]] : NULL;
    if (!o || !o->known)
      return nnd__node_error(e, id, err, NND_ERR_UNSUPPORTED, "output %d has no static shape", i);
    p->sizes[i] = o->dims[p->axis];
  }
  e->n[id].params = p;
  return NND_OK;
}

static nnd_status step_split(nnd_engine *e, const step *s, nnd_error *err) {
  const concat_step *p = s->p;
  for (int i = 0; i < p->n; i++)
    p->ys[i] = s->out[i] >= 0 ? nnd__data(e, s->out[i]) : NULL;
  const etensor *x = nnd__t(e, s->in[0]);
  nnd__split(esize_of(x), p->outer, p->n, p->chunk, x->data, p->ys);
  (void)err;
  return NND_OK;
}

nnd_status nnd__eng_build_split(nnd_engine *e, int32_t id, nnd_error *err) {
  const nnd_node *nd = &e->g->nodes[id];
  const split_params *sp = e->n[id].params;
  int32_t x = nnd__operand(e, nd->inputs[0], false, err);
  if (x < 0) return err->status;
  concat_step *p = nnd__emem(e, 1, sizeof *p);
  int32_t *outs = nnd__emem(e, (size_t)sp->n, sizeof *outs);
  if (!p || !outs) return nnd_error_set(err, NND_ERR_NOMEM, "out of memory");
  p->n = sp->n;
  p->chunk = nnd__emem(e, (size_t)sp->n, sizeof *p->chunk);
  p->ys = nnd__emem(e, (size_t)sp->n, sizeof *p->ys);
  if (!p->chunk || !p->ys) return nnd_error_set(err, NND_ERR_NOMEM, "out of memory");
  const evalue *xv = &e->v[nd->inputs[0]];
  int64_t inner = 1;
  p->outer = 1;
  for (int d = 0; d < sp->axis; d++)
    p->outer *= xv->dims[d];
  for (int d = sp->axis + 1; d < xv->rank; d++)
    inner *= xv->dims[d];
  for (int i = 0; i < sp->n; i++) {
    p->chunk[i] = sp->sizes[i] * inner;
    const int32_t vid = nd->outputs[i];
    outs[i] = -1;
    if (vid < 0 || !e->v[vid].needed) continue;
    outs[i] = nnd__output(e, id, i, e->v[vid].rank, e->v[vid].dims, false);
    if (outs[i] < 0) return nnd_error_set(err, NND_ERR_NOMEM, "out of memory");
  }
  return nnd__emit(e, step_split, "split", p, &x, 1, outs, sp->n, -1, err);
}

/* ----------------------------------- reshape family (views at run time) */

nnd_status nnd__eng_prepare_dropout(nnd_engine *e, int32_t id, const nnd_attrs *a, nnd_error *err) {
  const nnd_node *nd = &e->g->nodes[id];
  /* Dropout at inference: the identity, and a mask of all true. Training
   * mode (random) only when its ratio is 0. */
  double v = 0, ratio = a->dropout_ratio;
  bool present;
  nnd_status st = nnd__const_scalar(e, id, 2, &v, &present, err);
  if (st != NND_OK) return st;
  if (present && v != 0) {
    if ((st = nnd__const_scalar(e, id, 1, &ratio, &present, err)) != NND_OK) return st;
    if (ratio != 0)
      return nnd__node_error(e, id, err, NND_ERR_UNSUPPORTED, "training mode (random drops)");
  }
  const int32_t mv = nd->n_outputs > 1 ? nd->outputs[1] : -1;
  if (mv >= 0 && e->v[mv].needed) {
    /* The mask: a constant of ones, known now. */
    evalue *m = &e->v[mv];
    m->is_float = false;
    int32_t t = nnd__const_tensor(e, mv, NND_DTYPE_I64, m->rank, m->dims);
    if (t < 0) return nnd_error_set(err, NND_ERR_NOMEM, "out of memory");
    for (int64_t q = 0; q < e->t[t].numel; q++)
      ((int64_t *)e->t[t].data)[q] = 1;
    m->is_const = true;
    m->tid[0][0] = t;
  }
  return NND_OK;
}

nnd_status nnd__eng_build_reshape(nnd_engine *e, int32_t id, nnd_error *err) {
  const nnd_node *nd = &e->g->nodes[id];
  const evalue *out = &e->v[nd->outputs[0]];
  const bool keep_layout = nd->op == NND_OP_IDENTITY || nd->op == NND_OP_DROPOUT;
  const bool cl = !e->folding && keep_layout && out->want_cl;
  int32_t x = nnd__operand(e, nd->inputs[0], cl, err);
  if (x < 0) return err->status;
  int64_t od[NND_MAX_RANK];
  memcpy(od, out->dims, sizeof od);
  if (cl) nnd__cl_dims(out->dims, od);
  int32_t y = nnd__output_alias(e, id, 0, x, out->rank, od);
  if (y < 0) return nnd_error_set(err, NND_ERR_NOMEM, "out of memory");
  return NND_OK;
}

/* ------------------------------------------------------- transpose */

nnd_status nnd__eng_prepare_transpose(nnd_engine *e, int32_t id, const nnd_attrs *a,
                                      nnd_error *err) {
  const evalue *x = nnd__in_ev(e, id, 0);
  transpose_params *p = nnd__emem(e, 1, sizeof *p);
  if (!p) return nnd_error_set(err, NND_ERR_NOMEM, "out of memory");
  p->rank = x->rank;
  memcpy(p->in_dims, x->dims, sizeof p->in_dims);
  /* The IR checked perm is a permutation of the rank. */
  for (int i = 0; i < x->rank; i++)
    p->perm[i] = (int)(a->n_perm ? a->perm[i] : x->rank - 1 - i);
  e->n[id].params = p;
  return NND_OK;
}

nnd_status nnd__eng_build_transpose(nnd_engine *e, int32_t id, nnd_error *err) {
  const nnd_node *nd = &e->g->nodes[id];
  const transpose_params *p = e->n[id].params;
  const evalue *xv = &e->v[nd->inputs[0]], *out = &e->v[nd->outputs[0]];
  /* NCHW -> NHWC of a value the fast path already holds channels-last: a
   * view. */
  static const int to_cl[4] = {0, 2, 3, 1};
  if (!e->folding && !xv->is_const && xv->rank == 4 && xv->tid[1][0] >= 0 &&
      memcmp(p->perm, to_cl, sizeof to_cl) == 0) {
    int32_t y = nnd__output_alias(e, id, 0, xv->tid[1][0], 4, out->dims);
    if (y < 0) return nnd_error_set(err, NND_ERR_NOMEM, "out of memory");
    /* The view is this value's logical tensor, not a channels-last one. */
    evalue *ov = &e->v[nd->outputs[0]];
    e->t[y].cl = false;
    ov->tid[1][0] = -1;
    ov->tid[0][0] = y;
    return NND_OK;
  }
  int32_t x = nnd__operand(e, nd->inputs[0], false, err);
  if (x < 0) return err->status;
  int32_t y = nnd__output(e, id, 0, out->rank, out->dims, false);
  if (y < 0) return nnd_error_set(err, NND_ERR_NOMEM, "out of memory");
  return nnd__emit(e, nnd__step_transpose, "transpose", e->n[id].params, &x, 1, &y, 1, -1, err);
}

/* ------------------------------------------------------------- pad */

typedef struct pad_params {
  int rank;
  int64_t in_dims[NND_MAX_RANK], begin[NND_MAX_RANK], out_dims[NND_MAX_RANK];
  nnd_pad_mode mode;
  double value;
} pad_params;

nnd_status nnd__eng_prepare_pad(nnd_engine *e, int32_t id, const nnd_attrs *a, nnd_error *err) {
  const nnd_node *nd = &e->g->nodes[id];
  const evalue *x = nnd__in_ev(e, id, 0), *y = &e->v[nd->outputs[0]];
  pad_params *p = nnd__emem(e, 1, sizeof *p);
  if (!p) return nnd_error_set(err, NND_ERR_NOMEM, "out of memory");
  const int32_t cv = nnd__in_value(e, id, 2);
  if (cv >= 0 && !e->v[cv].is_const)
    return nnd__node_error(e, id, err, NND_ERR_UNSUPPORTED, "input 2 ('%s') must be a constant",
                           e->g->values[cv].name);
  const int r_ = x->rank;
  p->rank = r_;
  p->mode = a->pad_mode;
  p->value = a->pad_value;
  memcpy(p->in_dims, x->dims, sizeof p->in_dims);
  memcpy(p->begin, a->pads_begin, (size_t)r_ * sizeof *p->begin);
  memcpy(p->out_dims, y->dims, (size_t)r_ * sizeof *p->out_dims);
  for (int d = 0; d < r_; d++)
    if (p->mode != NND_PAD_CONSTANT && x->dims[d] == 0 && p->out_dims[d] > 0)
      return nnd__node_error(e, id, err, NND_ERR_GRAPH, "cannot reflect or extend an empty dim");
  e->n[id].params = p;
  return NND_OK;
}

static nnd_status step_pad(nnd_engine *e, const step *s, nnd_error *err) {
  const pad_params *p = s->p;
  const etensor *x = nnd__t(e, s->in[0]);
  union {
    float f;
    double d;
    int64_t i;
  } fill;
  if (x->dtype == NND_DTYPE_F32)
    fill.f = (float)p->value;
  else if (x->dtype == NND_DTYPE_F64)
    fill.d = p->value;
  else
    fill.i = (int64_t)p->value;
  nnd__pad(esize_of(x), p->rank, p->in_dims, p->begin, p->out_dims, p->mode, &fill, x->data,
           nnd__data(e, s->out[0]));
  (void)err;
  return NND_OK;
}

nnd_status nnd__eng_build_pad(nnd_engine *e, int32_t id, nnd_error *err) {
  const nnd_node *nd = &e->g->nodes[id];
  const pad_params *p0 = e->n[id].params;
  const bool cl = !e->folding && e->v[nd->outputs[0]].want_cl;
  int32_t x = nnd__operand(e, nd->inputs[0], cl, err);
  if (x < 0) return err->status;
  bool zero = true;
  for (int d = 0; d < p0->rank; d++)
    zero &= p0->in_dims[d] == p0->out_dims[d] && p0->begin[d] == 0;
  if (zero) {
    /* Nothing to pad (exporters write such Pads before pooling): a view. */
    int32_t y = nnd__output_alias(e, id, 0, x, e->t[x].rank, e->t[x].dims);
    return y < 0 ? nnd_error_set(err, NND_ERR_NOMEM, "out of memory") : NND_OK;
  }
  pad_params *p = nnd__emem(e, 1, sizeof *p);
  if (!p) return nnd_error_set(err, NND_ERR_NOMEM, "out of memory");
  *p = *p0;
  if (cl) {
    /* Channels last: the same pads in physical order. */
    nnd__cl_dims(p0->in_dims, p->in_dims);
    nnd__cl_dims(p0->out_dims, p->out_dims);
    nnd__cl_dims(p0->begin, p->begin);
  }
  int32_t y = nnd__output(e, id, 0, p->rank, p->out_dims, cl);
  if (y < 0) return nnd_error_set(err, NND_ERR_NOMEM, "out of memory");
  return nnd__emit(e, step_pad, "pad", p, &x, 1, &y, 1, -1, err);
}

/* ----------------------------------------------------------- slice */

typedef struct slice_params {
  int rank;
  int64_t in_dims[NND_MAX_RANK], start[NND_MAX_RANK], step[NND_MAX_RANK], out_dims[NND_MAX_RANK];
} slice_params;

static int64_t clamp64(int64_t v, int64_t lo, int64_t hi) { return v < lo ? lo : v > hi ? hi : v; }

nnd_status nnd__eng_prepare_slice(nnd_engine *e, int32_t id, const nnd_attrs *a, nnd_error *err) {
  const evalue *x = nnd__in_ev(e, id, 0);
  const int rank = x->rank;
  slice_params *p = nnd__emem(e, 1, sizeof *p);
  if (!p) return nnd_error_set(err, NND_ERR_NOMEM, "out of memory");
  p->rank = rank;
  for (int d = 0; d < rank; d++) {
    p->in_dims[d] = p->out_dims[d] = x->dims[d];
    p->start[d] = 0;
    p->step[d] = 1;
  }
  /* The IR resolved starts..steps (and checked axes and steps); the first
   * element and the count per axis come from its own clamping rule. */
  for (int i = 0; i < a->n_axes; i++) {
    int ax;
    if (!nnd__axis(a->axes[i], rank, &ax))
      return nnd__node_error(e, id, err, NND_ERR_GRAPH, "axis %lld", (long long)a->axes[i]);
    int64_t first, count;
    nnd__si_slice_range(x->dims[ax], a->starts[i], a->ends[i], a->steps[i], &first, &count);
    p->start[ax] = count ? first : 0;
    p->step[ax] = a->steps[i];
    p->out_dims[ax] = count;
  }
  e->n[id].params = p;
  return NND_OK;
}

static nnd_status step_slice(nnd_engine *e, const step *s, nnd_error *err) {
  const slice_params *p = s->p;
  const etensor *x = nnd__t(e, s->in[0]);
  nnd__slice(esize_of(x), p->rank, p->in_dims, p->start, p->step, p->out_dims, x->data,
             nnd__data(e, s->out[0]));
  (void)err;
  return NND_OK;
}

nnd_status nnd__eng_build_slice(nnd_engine *e, int32_t id, nnd_error *err) {
  const nnd_node *nd = &e->g->nodes[id];
  const slice_params *p = e->n[id].params;
  int32_t x = nnd__operand(e, nd->inputs[0], false, err);
  if (x < 0) return err->status;
  int32_t y = nnd__output(e, id, 0, p->rank, p->out_dims, false);
  if (y < 0) return nnd_error_set(err, NND_ERR_NOMEM, "out of memory");
  return nnd__emit(e, step_slice, "slice", e->n[id].params, &x, 1, &y, 1, -1, err);
}

/* ---------------------------------------------------------- gather */

typedef struct gather_params {
  int64_t outer, axis_len, inner, n_idx;
  int64_t *idx;
} gather_params;

nnd_status nnd__eng_prepare_gather(nnd_engine *e, int32_t id, const nnd_attrs *a, nnd_error *err) {
  const evalue *x = nnd__in_ev(e, id, 0), *iv = nnd__in_ev(e, id, 1);
  if (!iv->is_const)
    return nnd__node_error(e, id, err, NND_ERR_UNSUPPORTED,
                           "indices computed at run time are not supported");
  int axis;
  if (!nnd__axis(a->axis, x->rank, &axis))
    return nnd__node_error(e, id, err, NND_ERR_GRAPH, "axis %lld is out of range",
                           (long long)a->axis);
  gather_params *p = nnd__emem(e, 1, sizeof *p);
  if (!p) return nnd_error_set(err, NND_ERR_NOMEM, "out of memory");
  const etensor *it = &e->t[iv->tid[0][0]];
  p->n_idx = it->numel;
  p->idx = nnd__emem(e, (size_t)it->numel, sizeof *p->idx);
  if (!p->idx) return nnd_error_set(err, NND_ERR_NOMEM, "out of memory");
  p->axis_len = x->dims[axis];
  for (int64_t i = 0; i < it->numel; i++) {
    int64_t q = it->dtype == NND_DTYPE_I64 ? ((const int64_t *)it->data)[i]
                                           : (int64_t)((const double *)it->data)[i];
    if (q < 0) q += p->axis_len;
    if (q < 0 || q >= p->axis_len)
      return nnd__node_error(e, id, err, NND_ERR_GRAPH, "index %lld is out of range [0, %lld)",
                             (long long)q, (long long)p->axis_len);
    p->idx[i] = q;
  }
  p->outer = 1;
  p->inner = 1;
  for (int d = 0; d < axis; d++)
    p->outer *= x->dims[d];
  for (int d = axis + 1; d < x->rank; d++)
    p->inner *= x->dims[d];
  e->n[id].params = p;
  return NND_OK;
}

static nnd_status step_gather(nnd_engine *e, const step *s, nnd_error *err) {
  const gather_params *p = s->p;
  const etensor *x = nnd__t(e, s->in[0]);
  nnd__gather(esize_of(x), p->outer, p->axis_len, p->inner, p->idx, p->n_idx, x->data,
              nnd__data(e, s->out[0]));
  (void)err;
  return NND_OK;
}

nnd_status nnd__eng_build_gather(nnd_engine *e, int32_t id, nnd_error *err) {
  return nnd__emit_one_to_one(e, id, step_gather, "gather", err);
}

/* ----------------------------------------------------------- shape */

nnd_status nnd__eng_prepare_shape(nnd_engine *e, int32_t id, const nnd_attrs *a, nnd_error *err) {
  const nnd_node *nd = &e->g->nodes[id];
  const evalue *x = nnd__in_ev(e, id, 0);
  int64_t s = a->shape_start;
  if (s < 0) s += x->rank;
  int64_t *range = nnd__emem(e, 2, sizeof *range);
  if (!range) return nnd_error_set(err, NND_ERR_NOMEM, "out of memory");
  range[0] = clamp64(s, 0, x->rank);
  range[1] = range[0] + e->v[nd->outputs[0]].dims[0];
  e->n[id].params = range;
  return NND_OK;
}

nnd_status nnd__eng_build_shape(nnd_engine *e, int32_t id, nnd_error *err) {
  const nnd_node *nd = &e->g->nodes[id];
  const int64_t *range = e->n[id].params;
  const evalue *x = &e->v[nd->inputs[0]];
  const int64_t od[1] = {range[1] - range[0]};
  int32_t y = nnd__output(e, id, 0, 1, od, false);
  if (y < 0) return nnd_error_set(err, NND_ERR_NOMEM, "out of memory");
  if (!e->t[y].is_const) return nnd__node_error(e, id, err, NND_ERR_INTERNAL, "Shape not folded");
  int64_t *out = e->t[y].data;
  for (int64_t i = range[0]; i < range[1]; i++)
    out[i - range[0]] = x->dims[i];
  return NND_OK;
}

/* ---------------------------------------------------------- expand */

typedef struct expand_params {
  int rank;
  int64_t in_dims[NND_MAX_RANK], out_dims[NND_MAX_RANK];
} expand_params;

static nnd_status step_expand(nnd_engine *e, const step *s, nnd_error *err) {
  const expand_params *p = s->p;
  const etensor *x = nnd__t(e, s->in[0]);
  nnd__broadcast_to(esize_of(x), p->rank, p->in_dims, p->out_dims, x->data,
                    nnd__data(e, s->out[0]));
  (void)err;
  return NND_OK;
}

nnd_status nnd__eng_build_expand(nnd_engine *e, int32_t id, nnd_error *err) {
  const nnd_node *nd = &e->g->nodes[id];
  const evalue *out = &e->v[nd->outputs[0]], *xv = &e->v[nd->inputs[0]];
  int32_t x = nnd__operand(e, nd->inputs[0], false, err);
  if (x < 0) return err->status;
  expand_params *p = nnd__emem(e, 1, sizeof *p);
  int32_t y = nnd__output(e, id, 0, out->rank, out->dims, false);
  if (!p || y < 0) return nnd_error_set(err, NND_ERR_NOMEM, "out of memory");
  p->rank = out->rank;
  for (int d = 0; d < out->rank; d++) {
    int j = d - (out->rank - xv->rank);
    p->in_dims[d] = j >= 0 ? xv->dims[j] : 1;
    p->out_dims[d] = out->dims[d];
  }
  return nnd__emit(e, step_expand, "expand", p, &x, 1, &y, 1, -1, err);
}
