/* Planners of the data-movement and shape ops (Concat, Split, Flatten,
 * Reshape, Squeeze, Unsqueeze, Identity, Dropout, Transpose, Pad, Slice,
 * Gather, Shape, Expand) and of the reductions. Parameters that ONNX passes
 * as inputs (shapes, axes, pads, starts...) must be known at create: they
 * are constants, or shape arithmetic the engine has folded. */
#include <stdlib.h>
#include <string.h>

#include "engine/engine_internal.h"

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

nnd_status nnd__eng_infer_concat(nnd_engine *e, int32_t id, nnd_error *err) {
  const nnd_node *nd = &e->g->nodes[id];
  const evalue *x0 = nnd__in_ev(e, id, 0);
  if (!x0) return nnd__node_error(e, id, err, NND_ERR_GRAPH, "has no inputs");
  concat_params *p = nnd__emem(e, 1, sizeof *p);
  if (!p) return nnd_error_set(err, NND_ERR_NOMEM, "out of memory");
  if (!nnd__axis(nd->attrs.axis, x0->rank, &p->axis))
    return nnd__node_error(e, id, err, NND_ERR_GRAPH, "axis %lld is out of range",
                           (long long)nd->attrs.axis);
  int64_t od[NND_MAX_RANK];
  memcpy(od, x0->dims, sizeof od);
  od[p->axis] = 0;
  for (int k = 0; k < nd->n_inputs; k++) {
    const evalue *x = nnd__in_ev(e, id, k);
    if (!x) return nnd__node_error(e, id, err, NND_ERR_GRAPH, "input %d is missing", k);
    if (x->rank != x0->rank || x->is_float != x0->is_float)
      return nnd__node_error(e, id, err, NND_ERR_GRAPH, "input %d has rank %d, input 0 %d", k,
                             x->rank, x0->rank);
    for (int d = 0; d < x->rank; d++)
      if (d != p->axis && x->dims[d] != x0->dims[d])
        return nnd__node_error(e, id, err, NND_ERR_GRAPH,
                               "input %d has dim %d = %lld, input 0 has %lld", k, d,
                               (long long)x->dims[d], (long long)x0->dims[d]);
    od[p->axis] += x->dims[p->axis];
  }
  e->n[id].params = p;
  nnd__set_out(e, id, 0, x0->rank, od, x0->is_float);
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

nnd_status nnd__eng_infer_split(nnd_engine *e, int32_t id, nnd_error *err) {
  const nnd_node *nd = &e->g->nodes[id];
  const evalue *x = nnd__in_ev(e, id, 0);
  if (!x) return nnd__node_error(e, id, err, NND_ERR_GRAPH, "has no input");
  split_params *p = nnd__emem(e, 1, sizeof *p);
  if (!p) return nnd_error_set(err, NND_ERR_NOMEM, "out of memory");
  if (!nnd__axis(nd->attrs.axis, x->rank, &p->axis))
    return nnd__node_error(e, id, err, NND_ERR_GRAPH, "axis %lld is out of range",
                           (long long)nd->attrs.axis);
  p->n = nd->n_outputs;
  p->sizes = nnd__emem(e, (size_t)p->n, sizeof *p->sizes);
  if (!p->sizes) return nnd_error_set(err, NND_ERR_NOMEM, "out of memory");
  const int64_t dim = x->dims[p->axis];
  if (nnd__in_value(e, id, 1) >= 0) {
    int count = 0;
    int64_t *tmp = malloc((size_t)(p->n + 1) * sizeof *tmp);
    if (!tmp) return nnd_error_set(err, NND_ERR_NOMEM, "out of memory");
    nnd_status st = nnd__const_ints(e, id, 1, tmp, p->n, &count, err);
    if (st == NND_OK && count != p->n)
      st = nnd__node_error(e, id, err, NND_ERR_GRAPH, "%d split sizes for %d outputs", count, p->n);
    if (st == NND_OK) memcpy(p->sizes, tmp, (size_t)p->n * sizeof *tmp);
    free(tmp);
    if (st != NND_OK) return st;
  } else if (nd->attrs.split && nd->attrs.n_split == p->n) {
    memcpy(p->sizes, nd->attrs.split, (size_t)p->n * sizeof *p->sizes);
  } else {
    /* Equal parts; the last one smaller when the dim does not divide. */
    const int64_t part = (dim + p->n - 1) / p->n;
    for (int i = 0; i < p->n; i++) {
      int64_t left = dim - part * i;
      p->sizes[i] = left < 0 ? 0 : (left < part ? left : part);
    }
  }
  int64_t total = 0;
  for (int i = 0; i < p->n; i++) {
    if (p->sizes[i] < 0) return nnd__node_error(e, id, err, NND_ERR_GRAPH, "negative split size");
    total += p->sizes[i];
  }
  if (total != dim)
    return nnd__node_error(e, id, err, NND_ERR_GRAPH, "split sizes add up to %lld, the dim is %lld",
                           (long long)total, (long long)dim);
  e->n[id].params = p;
  for (int i = 0; i < p->n; i++) {
    int64_t od[NND_MAX_RANK];
    memcpy(od, x->dims, sizeof od);
    od[p->axis] = p->sizes[i];
    nnd__set_out(e, id, i, x->rank, od, x->is_float);
  }
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

nnd_status nnd__eng_infer_reshape(nnd_engine *e, int32_t id, nnd_error *err) {
  const nnd_node *nd = &e->g->nodes[id];
  const nnd_attrs *a = &nd->attrs;
  const evalue *x = nnd__in_ev(e, id, 0);
  if (!x) return nnd__node_error(e, id, err, NND_ERR_GRAPH, "has no input");
  int64_t od[NND_MAX_RANK];
  int r = 0;
  int64_t numel = 1;
  for (int d = 0; d < x->rank; d++)
    numel *= x->dims[d];
  switch (nd->op) {
  case NND_OP_IDENTITY:
  case NND_OP_DROPOUT:
    r = x->rank;
    memcpy(od, x->dims, sizeof od);
    break;
  case NND_OP_FLATTEN: {
    int axis;
    if (a->axis == x->rank)
      axis = x->rank;
    else if (!nnd__axis(a->axis, x->rank, &axis))
      return nnd__node_error(e, id, err, NND_ERR_GRAPH, "axis %lld is out of range",
                             (long long)a->axis);
    od[0] = od[1] = 1;
    for (int d = 0; d < x->rank; d++)
      od[d < axis ? 0 : 1] *= x->dims[d];
    r = 2;
    break;
  }
  case NND_OP_RESHAPE: {
    int64_t shape[NND_MAX_RANK];
    int count = 0;
    nnd_status st = nnd__const_ints(e, id, 1, shape, NND_MAX_RANK, &count, err);
    if (st != NND_OK) return st;
    int infer = -1;
    int64_t known = 1;
    for (int i = 0; i < count; i++) {
      int64_t s = shape[i];
      if (s == 0 && !a->allowzero) {
        if (i >= x->rank)
          return nnd__node_error(e, id, err, NND_ERR_GRAPH, "shape[%d] = 0 copies a missing dim",
                                 i);
        s = x->dims[i];
      }
      if (s == -1) {
        if (infer >= 0)
          return nnd__node_error(e, id, err, NND_ERR_GRAPH, "two -1 dims in the shape");
        infer = i;
        s = 1;
      } else if (s < 0) {
        return nnd__node_error(e, id, err, NND_ERR_GRAPH, "shape[%d] = %lld", i, (long long)s);
      }
      od[i] = s;
      known *= s;
    }
    if (infer >= 0) {
      if (known == 0 || numel % known)
        return nnd__node_error(e, id, err, NND_ERR_GRAPH,
                               "cannot infer a dim: %lld elements, %lld known", (long long)numel,
                               (long long)known);
      od[infer] = numel / known;
      known = numel;
    }
    if (known != numel)
      return nnd__node_error(e, id, err, NND_ERR_GRAPH, "reshapes %lld elements into %lld",
                             (long long)numel, (long long)known);
    r = count;
    break;
  }
  case NND_OP_SQUEEZE:
  case NND_OP_UNSQUEEZE: {
    int64_t axes[NND_MAX_RANK];
    int n = 0;
    if (nnd__in_value(e, id, 1) >= 0) {
      nnd_status st = nnd__const_ints(e, id, 1, axes, NND_MAX_RANK, &n, err);
      if (st != NND_OK) return st;
    } else if (a->has_axes) {
      n = a->n_axes;
      memcpy(axes, a->axes, (size_t)n * sizeof *axes);
    }
    if (nd->op == NND_OP_SQUEEZE) {
      bool drop[NND_MAX_RANK] = {false};
      for (int i = 0; i < n; i++) {
        int ax;
        if (!nnd__axis(axes[i], x->rank, &ax) || x->dims[ax] != 1)
          return nnd__node_error(e, id, err, NND_ERR_GRAPH, "cannot squeeze axis %lld",
                                 (long long)axes[i]);
        drop[ax] = true;
      }
      for (int d = 0; d < x->rank; d++)
        if (!(n == 0 ? x->dims[d] == 1 : drop[d])) od[r++] = x->dims[d];
    } else {
      r = x->rank + n;
      if (r > NND_MAX_RANK) return nnd__node_error(e, id, err, NND_ERR_UNSUPPORTED, "rank %d", r);
      bool ins[NND_MAX_RANK] = {false};
      for (int i = 0; i < n; i++) {
        int ax;
        if (!nnd__axis(axes[i], r, &ax) || ins[ax])
          return nnd__node_error(e, id, err, NND_ERR_GRAPH, "bad axis %lld", (long long)axes[i]);
        ins[ax] = true;
      }
      for (int d = 0, j = 0; d < r; d++)
        od[d] = ins[d] ? 1 : x->dims[j++];
    }
    break;
  }
  default: return nnd__node_error(e, id, err, NND_ERR_INTERNAL, "not a reshape");
  }
  nnd__set_out(e, id, 0, r, od, x->is_float);
  if (nd->op == NND_OP_DROPOUT) {
    /* Inference: the identity, and a mask of all true. Training mode
     * (random) only when its ratio is 0. */
    double v = 0, ratio = nd->attrs.dropout_ratio;
    bool present;
    nnd_status st = nnd__const_scalar(e, id, 2, &v, &present, err);
    if (st != NND_OK) return st;
    if (present && v != 0) {
      if ((st = nnd__const_scalar(e, id, 1, &ratio, &present, err)) != NND_OK) return st;
      if (ratio != 0)
        return nnd__node_error(e, id, err, NND_ERR_UNSUPPORTED, "training mode (random drops)");
    }
    const int32_t mv = nd->n_outputs > 1 ? nd->outputs[1] : -1;
    if (mv >= 0) {
      nnd__set_out(e, id, 1, r, od, false);
      if (e->v[mv].needed) {
        /* The mask: a constant of ones, known now. */
        int32_t m = nnd__const_tensor(e, mv, NND_DTYPE_I64, r, od);
        if (m < 0) return nnd_error_set(err, NND_ERR_NOMEM, "out of memory");
        for (int64_t q = 0; q < e->t[m].numel; q++)
          ((int64_t *)e->t[m].data)[q] = 1;
        e->v[mv].is_const = true;
        e->v[mv].tid[0][0] = m;
      }
    }
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

nnd_status nnd__eng_infer_transpose(nnd_engine *e, int32_t id, nnd_error *err) {
  const nnd_node *nd = &e->g->nodes[id];
  const evalue *x = nnd__in_ev(e, id, 0);
  if (!x) return nnd__node_error(e, id, err, NND_ERR_GRAPH, "has no input");
  transpose_params *p = nnd__emem(e, 1, sizeof *p);
  if (!p) return nnd_error_set(err, NND_ERR_NOMEM, "out of memory");
  p->rank = x->rank;
  memcpy(p->in_dims, x->dims, sizeof p->in_dims);
  bool seen[NND_MAX_RANK] = {false};
  for (int i = 0; i < x->rank; i++) {
    int64_t q = nd->attrs.n_perm ? nd->attrs.perm[i] : x->rank - 1 - i;
    int a;
    if (nd->attrs.n_perm && nd->attrs.n_perm != x->rank)
      return nnd__node_error(e, id, err, NND_ERR_GRAPH, "perm has %d entries for rank %d",
                             nd->attrs.n_perm, x->rank);
    if (!nnd__axis(q, x->rank, &a) || seen[a])
      return nnd__node_error(e, id, err, NND_ERR_GRAPH, "perm is not a permutation");
    seen[a] = true;
    p->perm[i] = a;
  }
  int64_t od[NND_MAX_RANK];
  for (int i = 0; i < x->rank; i++)
    od[i] = x->dims[p->perm[i]];
  e->n[id].params = p;
  nnd__set_out(e, id, 0, x->rank, od, x->is_float);
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

nnd_status nnd__eng_infer_pad(nnd_engine *e, int32_t id, nnd_error *err) {
  const nnd_node *nd = &e->g->nodes[id];
  const nnd_attrs *a = &nd->attrs;
  const evalue *x = nnd__in_ev(e, id, 0);
  if (!x) return nnd__node_error(e, id, err, NND_ERR_GRAPH, "has no input");
  pad_params *p = nnd__emem(e, 1, sizeof *p);
  if (!p) return nnd_error_set(err, NND_ERR_NOMEM, "out of memory");
  const int r = x->rank;
  p->rank = r;
  p->mode = a->pad_mode;
  p->value = a->pad_value;
  memcpy(p->in_dims, x->dims, sizeof p->in_dims);
  int64_t end[NND_MAX_RANK] = {0};
  if (nnd__in_value(e, id, 1) >= 0) {
    int64_t pads[2 * NND_MAX_RANK], axes[NND_MAX_RANK];
    int np = 0, na = r;
    nnd_status st = nnd__const_ints(e, id, 1, pads, 2 * NND_MAX_RANK, &np, err);
    if (st != NND_OK) return st;
    if (nnd__in_value(e, id, 3) >= 0) {
      if ((st = nnd__const_ints(e, id, 3, axes, NND_MAX_RANK, &na, err)) != NND_OK) return st;
    } else {
      for (int i = 0; i < r; i++)
        axes[i] = i;
    }
    if (np != 2 * na)
      return nnd__node_error(e, id, err, NND_ERR_GRAPH, "%d pads for %d axes", np, na);
    for (int i = 0; i < na; i++) {
      int ax;
      if (!nnd__axis(axes[i], r, &ax))
        return nnd__node_error(e, id, err, NND_ERR_GRAPH, "axis %lld", (long long)axes[i]);
      p->begin[ax] = pads[i];
      end[ax] = pads[na + i];
    }
    double v;
    bool present;
    if ((st = nnd__const_scalar(e, id, 2, &v, &present, err)) != NND_OK) return st;
    if (present) p->value = v;
  } else if (a->has_pads) {
    if (a->n_pads != r)
      return nnd__node_error(e, id, err, NND_ERR_GRAPH, "pads for rank %d, input rank %d",
                             a->n_pads, r);
    memcpy(p->begin, a->pads_begin, (size_t)r * sizeof *p->begin);
    memcpy(end, a->pads_end, (size_t)r * sizeof *end);
  } else {
    return nnd__node_error(e, id, err, NND_ERR_GRAPH, "pads are missing");
  }
  for (int d = 0; d < r; d++) {
    p->out_dims[d] = x->dims[d] + p->begin[d] + end[d];
    if (p->out_dims[d] < 0)
      return nnd__node_error(e, id, err, NND_ERR_GRAPH, "dim %d would be %lld", d,
                             (long long)p->out_dims[d]);
    if (p->mode != NND_PAD_CONSTANT && x->dims[d] == 0 && p->out_dims[d] > 0)
      return nnd__node_error(e, id, err, NND_ERR_GRAPH, "cannot reflect or extend an empty dim");
  }
  e->n[id].params = p;
  nnd__set_out(e, id, 0, r, p->out_dims, x->is_float);
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

nnd_status nnd__eng_infer_slice(nnd_engine *e, int32_t id, nnd_error *err) {
  const nnd_node *nd = &e->g->nodes[id];
  const nnd_attrs *a = &nd->attrs;
  const evalue *x = nnd__in_ev(e, id, 0);
  if (!x) return nnd__node_error(e, id, err, NND_ERR_GRAPH, "has no input");
  const int r = x->rank;
  int64_t starts[NND_MAX_RANK], ends[NND_MAX_RANK], axes[NND_MAX_RANK], steps[NND_MAX_RANK];
  int ns = 0, ne = 0, na = -1, nst = -1;
  nnd_status st;
  if (nnd__in_value(e, id, 1) >= 0) {
    if ((st = nnd__const_ints(e, id, 1, starts, NND_MAX_RANK, &ns, err)) != NND_OK) return st;
    if ((st = nnd__const_ints(e, id, 2, ends, NND_MAX_RANK, &ne, err)) != NND_OK) return st;
    if (nnd__in_value(e, id, 3) >= 0 &&
        (st = nnd__const_ints(e, id, 3, axes, NND_MAX_RANK, &na, err)) != NND_OK)
      return st;
    if (nnd__in_value(e, id, 4) >= 0 &&
        (st = nnd__const_ints(e, id, 4, steps, NND_MAX_RANK, &nst, err)) != NND_OK)
      return st;
  } else if (a->has_slice) {
    ns = ne = a->n_axes;
    memcpy(starts, a->starts, sizeof starts);
    memcpy(ends, a->ends, sizeof ends);
    memcpy(steps, a->steps, sizeof steps);
    nst = ns;
    if (a->has_axes) {
      na = a->n_axes;
      memcpy(axes, a->axes, sizeof axes);
    }
  } else {
    return nnd__node_error(e, id, err, NND_ERR_GRAPH, "starts and ends are missing");
  }
  if (ne != ns || (na >= 0 && na != ns) || (nst >= 0 && nst != ns))
    return nnd__node_error(e, id, err, NND_ERR_GRAPH,
                           "starts, ends, axes and steps differ in length");
  slice_params *p = nnd__emem(e, 1, sizeof *p);
  if (!p) return nnd_error_set(err, NND_ERR_NOMEM, "out of memory");
  p->rank = r;
  for (int d = 0; d < r; d++) {
    p->in_dims[d] = p->out_dims[d] = x->dims[d];
    p->start[d] = 0;
    p->step[d] = 1;
  }
  bool seen[NND_MAX_RANK] = {false};
  for (int i = 0; i < ns; i++) {
    int ax = i;
    if (na >= 0 && !nnd__axis(axes[i], r, &ax))
      return nnd__node_error(e, id, err, NND_ERR_GRAPH, "axis %lld", (long long)axes[i]);
    if (seen[ax]) return nnd__node_error(e, id, err, NND_ERR_GRAPH, "axis %d repeats", ax);
    seen[ax] = true;
    const int64_t dim = x->dims[ax], stp = nst >= 0 ? steps[i] : 1;
    if (stp == 0) return nnd__node_error(e, id, err, NND_ERR_GRAPH, "step 0");
    int64_t s = starts[i], en = ends[i];
    if (s < 0) s += dim; /* no overflow: dim >= 0 */
    if (en < 0) en += dim;
    if (stp > 0) {
      s = clamp64(s, 0, dim);
      en = clamp64(en, 0, dim);
    } else {
      s = clamp64(s, -1, dim - 1);
      en = clamp64(en, -1, dim - 1);
    }
    /* As nnd__si_slice_range (src/ir/shape_common.c) counts: with the
     * bounds clamped, a distance below dim divided by |step|, which may be
     * INT64_MIN's (no negation) or INT64_MAX (no rounding-up sum). */
    int64_t count;
    if (stp > 0)
      count = en > s ? (en - s - 1) / stp + 1 : 0;
    else if (s <= en || s < 0)
      count = 0;
    else
      count = stp == INT64_MIN ? 1 : (s - en - 1) / -stp + 1;
    p->start[ax] = count ? s : 0;
    p->step[ax] = stp;
    p->out_dims[ax] = count;
  }
  e->n[id].params = p;
  nnd__set_out(e, id, 0, r, p->out_dims, x->is_float);
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

nnd_status nnd__eng_infer_gather(nnd_engine *e, int32_t id, nnd_error *err) {
  const nnd_node *nd = &e->g->nodes[id];
  const evalue *x = nnd__in_ev(e, id, 0), *iv = nnd__in_ev(e, id, 1);
  if (!x || !iv) return nnd__node_error(e, id, err, NND_ERR_GRAPH, "needs data and indices");
  int axis;
  if (!nnd__axis(nd->attrs.axis, x->rank, &axis))
    return nnd__node_error(e, id, err, NND_ERR_GRAPH, "axis %lld is out of range",
                           (long long)nd->attrs.axis);
  if (!iv->is_const)
    return nnd__node_error(e, id, err, NND_ERR_UNSUPPORTED,
                           "indices computed at run time are not supported");
  if (x->rank - 1 + iv->rank > NND_MAX_RANK)
    return nnd__node_error(e, id, err, NND_ERR_UNSUPPORTED, "output rank too large");
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
  int64_t od[NND_MAX_RANK];
  int r = 0;
  for (int d = 0; d < axis; d++)
    od[r++] = x->dims[d];
  for (int d = 0; d < iv->rank; d++)
    od[r++] = iv->dims[d];
  for (int d = axis + 1; d < x->rank; d++)
    od[r++] = x->dims[d];
  e->n[id].params = p;
  nnd__set_out(e, id, 0, r, od, x->is_float);
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
  const nnd_node *nd = &e->g->nodes[id];
  const evalue *out = &e->v[nd->outputs[0]];
  int32_t x = nnd__operand(e, nd->inputs[0], false, err);
  if (x < 0) return err->status;
  int32_t y = nnd__output(e, id, 0, out->rank, out->dims, false);
  if (y < 0) return nnd_error_set(err, NND_ERR_NOMEM, "out of memory");
  return nnd__emit(e, step_gather, "gather", e->n[id].params, &x, 1, &y, 1, -1, err);
}

/* ----------------------------------------------------------- shape */

nnd_status nnd__eng_infer_shape(nnd_engine *e, int32_t id, nnd_error *err) {
  const nnd_node *nd = &e->g->nodes[id];
  const evalue *x = nnd__in_ev(e, id, 0);
  if (!x) return nnd__node_error(e, id, err, NND_ERR_GRAPH, "has no input");
  int64_t s = nd->attrs.shape_start, en = nd->attrs.shape_end;
  if (s < 0) s += x->rank;
  if (en < 0) en += x->rank;
  s = clamp64(s, 0, x->rank);
  en = clamp64(en, 0, x->rank);
  int64_t *range = nnd__emem(e, 2, sizeof *range);
  if (!range) return nnd_error_set(err, NND_ERR_NOMEM, "out of memory");
  range[0] = s;
  range[1] = en > s ? en : s;
  e->n[id].params = range;
  const int64_t od[1] = {range[1] - range[0]};
  nnd__set_out(e, id, 0, 1, od, false);
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

nnd_status nnd__eng_infer_expand(nnd_engine *e, int32_t id, nnd_error *err) {
  const evalue *x = nnd__in_ev(e, id, 0);
  if (!x) return nnd__node_error(e, id, err, NND_ERR_GRAPH, "has no input");
  int64_t shape[NND_MAX_RANK];
  int n = 0;
  nnd_status st = nnd__const_ints(e, id, 1, shape, NND_MAX_RANK, &n, err);
  if (st != NND_OK) return st;
  const int r = n > x->rank ? n : x->rank;
  int64_t od[NND_MAX_RANK];
  for (int d = 0; d < r; d++) {
    int64_t a = d - (r - x->rank) >= 0 ? x->dims[d - (r - x->rank)] : 1;
    int64_t b = d - (r - n) >= 0 ? shape[d - (r - n)] : 1;
    if (a != b && a != 1 && b != 1)
      return nnd__node_error(e, id, err, NND_ERR_GRAPH, "dim %lld does not expand to %lld",
                             (long long)a, (long long)b);
    od[d] = a == 1 ? b : a;
  }
  nnd__set_out(e, id, 0, r, od, x->is_float);
  return NND_OK;
}

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

/* --------------------------------------------------------- reduce */

typedef struct reduce_params {
  nnd__reduce_kind kind;
  int rank;
  int64_t dims[NND_MAX_RANK];
  bool mask[NND_MAX_RANK];
} reduce_params;

nnd_status nnd__eng_infer_reduce(nnd_engine *e, int32_t id, nnd_error *err) {
  const nnd_node *nd = &e->g->nodes[id];
  const nnd_attrs *a = &nd->attrs;
  const evalue *x = nnd__in_ev(e, id, 0);
  if (!x) return nnd__node_error(e, id, err, NND_ERR_GRAPH, "has no input");
  reduce_params *p = nnd__emem(e, 1, sizeof *p);
  if (!p) return nnd_error_set(err, NND_ERR_NOMEM, "out of memory");
  switch (nd->op) {
  case NND_OP_REDUCE_MEAN: p->kind = NND__RED_MEAN; break;
  case NND_OP_REDUCE_SUM: p->kind = NND__RED_SUM; break;
  case NND_OP_REDUCE_MAX: p->kind = NND__RED_MAX; break;
  default: p->kind = NND__RED_MIN; break;
  }
  int64_t axes[NND_MAX_RANK];
  int n = 0;
  if (nnd__in_value(e, id, 1) >= 0) {
    nnd_status st = nnd__const_ints(e, id, 1, axes, NND_MAX_RANK, &n, err);
    if (st != NND_OK) return st;
  } else if (a->has_axes) {
    n = a->n_axes;
    memcpy(axes, a->axes, (size_t)n * sizeof *axes);
  }
  p->rank = x->rank;
  memcpy(p->dims, x->dims, sizeof p->dims);
  for (int i = 0; i < n; i++) {
    int ax;
    if (!nnd__axis(axes[i], x->rank, &ax))
      return nnd__node_error(e, id, err, NND_ERR_GRAPH, "axis %lld is out of range",
                             (long long)axes[i]);
    p->mask[ax] = true;
  }
  if (n == 0)
    for (int d = 0; d < x->rank; d++)
      p->mask[d] = true;
  int64_t od[NND_MAX_RANK];
  int r = 0;
  for (int d = 0; d < x->rank; d++) {
    if (!p->mask[d])
      od[r++] = x->dims[d];
    else if (a->keepdims)
      od[r++] = 1;
  }
  e->n[id].params = p;
  nnd__set_out(e, id, 0, r, od, x->is_float);
  return NND_OK;
}

static nnd_status step_reduce(nnd_engine *e, const step *s, nnd_error *err) {
  const reduce_params *p = s->p;
  const etensor *x = nnd__t(e, s->in[0]);
  void *y = nnd__data(e, s->out[0]);
  switch (x->dtype) {
  case NND_DTYPE_F64: nnd__reduce_f64(p->kind, p->rank, p->dims, p->mask, x->data, y); break;
  case NND_DTYPE_F32: nnd__reduce_f32(p->kind, p->rank, p->dims, p->mask, x->data, y); break;
  default: nnd__reduce_i64(p->kind, p->rank, p->dims, p->mask, x->data, y); break;
  }
  (void)err;
  return NND_OK;
}

nnd_status nnd__eng_build_reduce(nnd_engine *e, int32_t id, nnd_error *err) {
  const nnd_node *nd = &e->g->nodes[id];
  const evalue *out = &e->v[nd->outputs[0]];
  int32_t x = nnd__operand(e, nd->inputs[0], false, err);
  if (x < 0) return err->status;
  int32_t y = nnd__output(e, id, 0, out->rank, out->dims, false);
  if (y < 0) return nnd_error_set(err, NND_ERR_NOMEM, "out of memory");
  return nnd__emit(e, step_reduce, nnd_op_name(nd->op), e->n[id].params, &x, 1, &y, 1, -1, err);
}
