/* Shapes of the data-movement ops: Concat, Split, Flatten, Reshape (0, -1,
 * allowzero, symbolic dims), Transpose, Squeeze, Unsqueeze, Gather, Shape,
 * Expand, Dropout. Parameters given as constant (or folded) inputs are
 * resolved into the node's attributes. */
#include <stdio.h>
#include <string.h>

#include "ir/shape_infer.h"
#include "util/checked_math.h"

nnd_status nnd__infer_concat(nnd__infer *c) {
  const nnd_value *x0 = nnd__si_in(c, 0);
  int rank = x0->shape.rank, axis;
  nnd_status st = nnd__si_norm_axis(c, c->attrs.axis, rank, "axis", &axis);
  if (st != NND_OK) return st;
  nnd_shape s = x0->shape;
  for (int i = 1; i < c->node->n_inputs; i++) {
    const nnd_value *v = nnd__si_in(c, i);
    if (v->shape.rank != rank)
      return nnd__si_fail(c, "input %d '%s' %s has rank %d but input 0 %s has rank %d", i, v->name,
                          nnd__si_shape_str(&v->shape).s, v->shape.rank,
                          nnd__si_shape_str(&x0->shape).s, rank);
    for (int d = 0; d < rank; d++) {
      nnd_dim vd = v->shape.dims[d];
      if (d == axis) {
        int64_t sum;
        if (s.dims[d].size >= 0 && vd.size >= 0) {
          if ((st = nnd__si_add(c, s.dims[d].size, vd.size, "the concatenated size", &sum)) !=
              NND_OK)
            return st;
          s.dims[d] = nnd__si_dim_known(sum);
        } else {
          s.dims[d] = nnd__si_dim_unknown();
        }
      } else if (!nnd__si_dim_unify(s.dims[d], vd, &s.dims[d])) {
        return nnd__si_fail(
            c, "input %d '%s' %s does not match input 0 %s on dim %d (%lld vs %lld)", i, v->name,
            nnd__si_shape_str(&v->shape).s, nnd__si_shape_str(&x0->shape).s, d, (long long)vd.size,
            (long long)x0->shape.dims[d].size);
      }
    }
  }
  c->out[0] = s;
  c->out_layout[0] = x0->layout;
  return NND_OK;
}

nnd_status nnd__infer_split(nnd__infer *c) {
  const nnd_value *x = nnd__si_in(c, 0);
  int axis, n = c->n_out;
  nnd_status st = nnd__si_norm_axis(c, c->attrs.axis, x->shape.rank, "axis", &axis);
  if (st != NND_OK) return st;
  const int64_t *sizes = NULL;
  int64_t count;
  bool known;
  if ((st = nnd__si_const_ints(c, 1, n, c->split, &count, &known)) != NND_OK) return st;
  if (known && count > 0) {
    if (count != n)
      return nnd__si_fail(c, "split has %lld sizes for %d outputs", (long long)count, n);
    c->attrs.split = c->split;
    sizes = c->split;
  } else if (c->attrs.split) {
    if (c->attrs.n_split != n)
      return nnd__si_fail(c, "split has %d sizes for %d outputs", c->attrs.n_split, n);
    sizes = c->attrs.split;
  }
  c->attrs.n_split = n;
  nnd_dim dim = x->shape.dims[axis];
  for (int k = 0; k < n; k++) {
    c->out[k] = x->shape;
    c->out[k].dims[axis] = nnd__si_dim_unknown();
    c->out_layout[k] = x->layout;
  }
  if (sizes) {
    int64_t sum = 0;
    for (int k = 0; k < n; k++) {
      if (sizes[k] < 0)
        return nnd__si_fail(c, "split size %lld of output %d is negative", (long long)sizes[k], k);
      if ((st = nnd__si_add(c, sum, sizes[k], "the sum of the split sizes", &sum)) != NND_OK)
        return st;
      c->out[k].dims[axis] = nnd__si_dim_known(sizes[k]);
    }
    if (dim.size >= 0 && sum != dim.size)
      return nnd__si_fail(c, "split sizes sum to %lld but axis %d of the input %s has %lld",
                          (long long)sum, axis, nnd__si_shape_str(&x->shape).s,
                          (long long)dim.size);
    return NND_OK;
  }
  if (nnd__si_in(c, 1) || dim.size < 0) return NND_OK; /* sizes computed at run time */
  /* equal parts; the last one smaller when the dim does not divide (ONNX 18) */
  int64_t chunk = dim.size / n + (dim.size % n != 0), last = dim.size - chunk * (n - 1);
  if (last < 0 || (last == 0 && chunk > 0))
    return nnd__si_fail(c, "cannot split %lld into %d parts", (long long)dim.size, n);
  for (int k = 0; k < n; k++)
    c->out[k].dims[axis] = nnd__si_dim_known(k == n - 1 ? last : chunk);
  return NND_OK;
}

nnd_status nnd__infer_flatten(nnd__infer *c) {
  const nnd_value *x = nnd__si_in(c, 0);
  int rank = x->shape.rank;
  int64_t axis = c->attrs.axis;
  if (axis < -(int64_t)rank || axis > rank)
    return nnd__si_fail(c, "axis %lld is out of range for a tensor of rank %d", (long long)axis,
                        rank);
  if (axis < 0) axis += rank;
  nnd_shape *o = &c->out[0];
  o->rank = 2;
  nnd_status st = nnd__si_dims_product(c, &x->shape, 0, (int)axis, &o->dims[0]);
  if (st == NND_OK) st = nnd__si_dims_product(c, &x->shape, (int)axis, rank, &o->dims[1]);
  return st;
}

/* The requested shape as the file wrote it, for messages: "[1,-1,?]". */
static void format_request(const nnd__symvec *sv, char *buf, size_t size) {
  size_t used = 0;
  int w = snprintf(buf, size, "[");
  used = w > 0 ? (size_t)w : 0;
  for (int64_t i = 0; i < sv->n && used < size; i++) {
    const nnd__symint *e = &sv->e[i];
    const char *sep = i ? "," : "";
    if (e->known)
      w = snprintf(buf + used, size - used, "%s%lld", sep, (long long)e->v);
    else
      w = snprintf(buf + used, size - used, "%s%s", sep, e->sym ? e->sym : "?");
    if (w < 0) return;
    used += (size_t)w;
  }
  if (used < size) snprintf(buf + used, size - used, "]");
}

nnd_status nnd__infer_reshape(nnd__infer *c) {
  const nnd_value *x = nnd__si_in(c, 0), *sh = nnd__si_in(c, 1);
  int32_t x_id = nnd__si_in_id(c, 0);
  nnd_shape *o = &c->out[0];
  if (sh->shape.rank >= 0 && sh->shape.rank != 1)
    return nnd__si_fail(c, "the shape input '%s' %s must be 1-D", sh->name,
                        nnd__si_shape_str(&sh->shape).s);
  nnd__symvec sv;
  bool have;
  nnd_status st = nnd__si_input_sym(c, 1, &sv, &have);
  if (st != NND_OK) return st;
  int64_t n = have ? sv.n : sh->shape.rank == 1 ? sh->shape.dims[0].size : -1;
  if (n > NND_MAX_RANK)
    return nnd__si_fail(c, "the target shape has %lld dims; nndiff handles up to %d", (long long)n,
                        NND_MAX_RANK);
  if (n < 0) return NND_OK; /* rank unknown */
  o->rank = (int)n;
  for (int i = 0; i < n; i++)
    o->dims[i] = nnd__si_dim_unknown();
  if (!have) return NND_OK;

  char req[200];
  format_request(&sv, req, sizeof req);
  int infer = -1, copied[NND_MAX_RANK];
  bool has_zero = false;
  const nnd_shape *xs = &x->shape;
  for (int i = 0; i < n; i++) {
    const nnd__symint *e = &sv.e[i];
    copied[i] = -1;
    if (!e->known) {
      o->dims[i].symbol = e->sym;
    } else if (e->v > 0) {
      o->dims[i] = nnd__si_dim_known(e->v);
    } else if (e->v == 0) {
      has_zero = true;
      if (c->attrs.allowzero) {
        o->dims[i] = nnd__si_dim_known(0);
      } else if (xs->rank >= 0) {
        if (i >= xs->rank)
          return nnd__si_fail(c,
                              "shape %s: the 0 at index %d copies a dim the input %s does not "
                              "have",
                              req, i, nnd__si_shape_str(xs).s);
        o->dims[i] = xs->dims[i];
        copied[i] = i;
      }
    } else if (e->v == -1) {
      if (infer >= 0) return nnd__si_fail(c, "shape %s has more than one -1", req);
      infer = i;
    } else {
      return nnd__si_fail(c, "shape %s has the invalid value %lld at index %d", req,
                          (long long)e->v, i);
    }
  }
  if (c->attrs.allowzero && has_zero && infer >= 0)
    return nnd__si_fail(c, "shape %s has both 0 and -1 with allowzero set", req);
  if (xs->rank < 0) return NND_OK;

  /* Count the known elements on both sides; every unknown dim must be paired
   * with the same unknown dim on the other side (copied by a 0, the same
   * symbol, or taken from this input's dim by Shape) for the counts to say
   * anything. */
  int64_t in_n = 1, out_n = 1;
  bool in_used[NND_MAX_RANK] = {false}, paired = true;
  for (int i = 0; i < xs->rank; i++)
    if (xs->dims[i].size >= 0 && !nnd__mul_i64(in_n, xs->dims[i].size, &in_n))
      return nnd__si_fail(c, "the element count of the input %s overflows",
                          nnd__si_shape_str(xs).s);
  for (int j = 0; j < n; j++) {
    if (j == infer) continue;
    if (o->dims[j].size >= 0) {
      if (!nnd__mul_i64(out_n, o->dims[j].size, &out_n))
        return nnd__si_fail(c, "the element count of shape %s overflows", req);
      continue;
    }
    int match = -1;
    for (int i = 0; i < xs->rank && match < 0; i++) {
      if (in_used[i] || xs->dims[i].size >= 0) continue;
      const nnd__symint *e = &sv.e[j];
      if (copied[j] == i || (!e->known && e->origin_value == x_id && e->origin_dim == i) ||
          nnd__si_dim_same(xs->dims[i], o->dims[j]))
        match = i;
    }
    if (match < 0)
      paired = false;
    else
      in_used[match] = true;
  }
  for (int i = 0; i < xs->rank; i++)
    if (xs->dims[i].size < 0 && !in_used[i]) paired = false;
  if (!paired) return NND_OK;
  if (infer >= 0) {
    if (out_n == 0)
      return nnd__si_fail(c, "cannot infer the -1 in shape %s: another dim is 0", req);
    if (in_n % out_n != 0)
      return nnd__si_fail(c, "cannot reshape %lld elements into %s (input %s)", (long long)in_n,
                          req, nnd__si_shape_str(xs).s);
    o->dims[infer] = nnd__si_dim_known(in_n / out_n);
  } else if (in_n != out_n) {
    return nnd__si_fail(c, "cannot reshape %lld elements into %s (input %s)", (long long)in_n, req,
                        nnd__si_shape_str(xs).s);
  }
  return NND_OK;
}

nnd_status nnd__infer_transpose(nnd__infer *c) {
  const nnd_value *x = nnd__si_in(c, 0);
  int rank = x->shape.rank;
  nnd_attrs *a = &c->attrs;
  int64_t perm[NND_MAX_RANK], n;
  bool known;
  nnd_status st = nnd__si_const_ints(c, 1, NND_MAX_RANK, perm, &n, &known);
  if (st != NND_OK) return st;
  if (known) { /* TFLite passes perm as an input */
    a->n_perm = (int)n;
    for (int i = 0; i < n; i++)
      a->perm[i] = perm[i];
  } else if (nnd__si_in(c, 1)) {
    c->out[0].rank = rank; /* computed perm: the dims are anybody's guess */
    for (int i = 0; i < rank; i++)
      c->out[0].dims[i] = nnd__si_dim_unknown();
    return NND_OK;
  }
  if (a->n_perm == 0) {
    for (int i = 0; i < rank; i++)
      perm[i] = rank - 1 - i;
  } else {
    if (a->n_perm != rank)
      return nnd__si_fail(c, "perm has %d values but the input %s has rank %d", a->n_perm,
                          nnd__si_shape_str(&x->shape).s, rank);
    bool seen[NND_MAX_RANK] = {false};
    for (int i = 0; i < rank; i++) {
      int64_t p = a->perm[i];
      if (p < 0 || p >= rank || seen[p])
        return nnd__si_fail(c, "perm is not a permutation of 0..%d (value %lld at index %d)",
                            rank - 1, (long long)p, i);
      seen[p] = true;
      perm[i] = p;
    }
  }
  c->out[0].rank = rank;
  for (int i = 0; i < rank; i++)
    c->out[0].dims[i] = x->shape.dims[perm[i]];
  return NND_OK;
}

nnd_status nnd__si_axes_input(nnd__infer *c, bool *dynamic) {
  int64_t axes[NND_MAX_RANK], n;
  bool known;
  *dynamic = false;
  nnd_status st = nnd__si_const_ints(c, 1, NND_MAX_RANK, axes, &n, &known);
  if (st != NND_OK) return st;
  if (known) {
    c->attrs.has_axes = true;
    c->attrs.n_axes = (int)n;
    for (int i = 0; i < n; i++)
      c->attrs.axes[i] = axes[i];
  } else if (nnd__si_in(c, 1)) {
    *dynamic = true;
  }
  return NND_OK;
}

nnd_status nnd__si_mark_axes(nnd__infer *c, int rank, bool *mark) {
  for (int i = 0; i < rank; i++)
    mark[i] = false;
  if (c->attrs.n_axes < 0 || c->attrs.n_axes > NND_MAX_RANK)
    return nnd__si_fail(c, "%d axes given; at most %d", c->attrs.n_axes, NND_MAX_RANK);
  for (int i = 0; i < c->attrs.n_axes; i++) {
    int ax;
    nnd_status st = nnd__si_norm_axis(c, c->attrs.axes[i], rank, "axis", &ax);
    if (st != NND_OK) return st;
    if (mark[ax]) return nnd__si_fail(c, "axis %lld is listed twice", (long long)c->attrs.axes[i]);
    mark[ax] = true;
  }
  return NND_OK;
}

nnd_status nnd__infer_squeeze(nnd__infer *c) {
  const nnd_value *x = nnd__si_in(c, 0);
  const nnd_shape *xs = &x->shape;
  bool dynamic, mark[NND_MAX_RANK];
  nnd_status st = nnd__si_axes_input(c, &dynamic);
  if (st != NND_OK || dynamic) return st;
  if (!c->attrs.has_axes) { /* no axes anywhere: every dim of size 1 */
    c->attrs.has_axes = true;
    c->attrs.n_axes = 0;
  }
  if (c->attrs.n_axes > NND_MAX_RANK)
    return nnd__si_fail(c, "%d axes given; at most %d", c->attrs.n_axes, NND_MAX_RANK);
  if (c->attrs.n_axes == 0) {
    for (int i = 0; i < xs->rank; i++) {
      if (xs->dims[i].size < 0) return NND_OK; /* which dims go is unknown */
      mark[i] = xs->dims[i].size == 1;
    }
  } else if ((st = nnd__si_mark_axes(c, xs->rank, mark)) != NND_OK) {
    return st;
  }
  nnd_shape *o = &c->out[0];
  o->rank = 0;
  for (int i = 0; i < xs->rank; i++) {
    if (!mark[i]) {
      o->dims[o->rank++] = xs->dims[i];
      continue;
    }
    if (xs->dims[i].size >= 0 && xs->dims[i].size != 1)
      return nnd__si_fail(c, "cannot squeeze dim %d of size %lld from %s", i,
                          (long long)xs->dims[i].size, nnd__si_shape_str(xs).s);
  }
  return NND_OK;
}

nnd_status nnd__infer_unsqueeze(nnd__infer *c) {
  const nnd_value *x = nnd__si_in(c, 0);
  const nnd_shape *xs = &x->shape;
  bool dynamic, mark[NND_MAX_RANK];
  nnd_status st = nnd__si_axes_input(c, &dynamic);
  if (st != NND_OK) return st;
  if (dynamic) {
    const nnd_value *ax = nnd__si_in(c, 1);
    if (ax->shape.rank == 1 && ax->shape.dims[0].size >= 0 &&
        ax->shape.dims[0].size <= NND_MAX_RANK - xs->rank) {
      c->out[0].rank = xs->rank + (int)ax->shape.dims[0].size;
      for (int i = 0; i < c->out[0].rank; i++)
        c->out[0].dims[i] = nnd__si_dim_unknown();
    }
    return NND_OK;
  }
  if (!c->attrs.has_axes || c->attrs.n_axes == 0)
    return nnd__si_fail(c, "the axes to insert are not given");
  int64_t out_rank = (int64_t)xs->rank + c->attrs.n_axes;
  if (c->attrs.n_axes > NND_MAX_RANK || out_rank > NND_MAX_RANK)
    return nnd__si_fail(c, "inserting %d axes into %s gives rank %lld; nndiff handles up to %d",
                        c->attrs.n_axes, nnd__si_shape_str(xs).s, (long long)out_rank,
                        NND_MAX_RANK);
  if ((st = nnd__si_mark_axes(c, (int)out_rank, mark)) != NND_OK) return st;
  nnd_shape *o = &c->out[0];
  o->rank = (int)out_rank;
  for (int i = 0, j = 0; i < out_rank; i++)
    o->dims[i] = mark[i] ? nnd__si_dim_known(1) : xs->dims[j++];
  return NND_OK;
}

/* Bound on how many constant indices Gather checks (an embedding lookup
 * with a huge constant index list is checked by the engine, not here). */
enum { GATHER_CHECK_MAX = 1 << 16 };

nnd_status nnd__infer_gather(nnd__infer *c) {
  const nnd_value *x = nnd__si_in(c, 0), *idx = nnd__si_in(c, 1);
  int axis;
  nnd_status st = nnd__si_norm_axis(c, c->attrs.axis, x->shape.rank, "axis", &axis);
  if (st != NND_OK) return st;
  int out_rank = x->shape.rank - 1 + idx->shape.rank;
  if (out_rank > NND_MAX_RANK)
    return nnd__si_fail(c, "gathering %s from %s gives rank %d; nndiff handles up to %d",
                        nnd__si_shape_str(&idx->shape).s, nnd__si_shape_str(&x->shape).s, out_rank,
                        NND_MAX_RANK);
  int64_t dim = x->shape.dims[axis].size;
  if (idx->data && dim >= 0) {
    int64_t n;
    if ((st = nnd__si_data_numel(c, idx, &n)) != NND_OK) return st;
    for (int64_t i = 0; i < n && i < GATHER_CHECK_MAX; i++) {
      int64_t v;
      if (!nnd_value_read_i64(idx, i, &v)) break;
      if (v < -dim || v >= dim)
        return nnd__si_fail(c, "index %lld is out of range for axis %d of %s", (long long)v, axis,
                            nnd__si_shape_str(&x->shape).s);
    }
  }
  nnd_shape *o = &c->out[0];
  o->rank = 0;
  for (int i = 0; i < axis; i++)
    o->dims[o->rank++] = x->shape.dims[i];
  for (int i = 0; i < idx->shape.rank; i++)
    o->dims[o->rank++] = idx->shape.dims[i];
  for (int i = axis + 1; i < x->shape.rank; i++)
    o->dims[o->rank++] = x->shape.dims[i];
  return NND_OK;
}

/* ONNX Shape start/end: negative counts from the end, then clamped. */
static int64_t clamp_rank(int64_t v, int rank) {
  if (v < 0) v += rank;
  return v < 0 ? 0 : v > rank ? rank : v;
}

nnd_status nnd__infer_shape(nnd__infer *c) {
  int rank = nnd__si_in(c, 0)->shape.rank;
  int64_t start = clamp_rank(c->attrs.shape_start, rank),
          end = clamp_rank(c->attrs.shape_end, rank);
  c->out[0].rank = 1;
  c->out[0].dims[0] = nnd__si_dim_known(end > start ? end - start : 0);
  return NND_OK;
}

nnd_status nnd__infer_expand(nnd__infer *c) {
  const nnd_value *x = nnd__si_in(c, 0), *sh = nnd__si_in(c, 1);
  if (sh->shape.rank >= 0 && sh->shape.rank != 1)
    return nnd__si_fail(c, "the shape input '%s' %s must be 1-D", sh->name,
                        nnd__si_shape_str(&sh->shape).s);
  nnd__symvec sv;
  bool have;
  nnd_status st = nnd__si_input_sym(c, 1, &sv, &have);
  if (st != NND_OK) return st;
  int64_t n = have ? sv.n : sh->shape.rank == 1 ? sh->shape.dims[0].size : -1;
  if (n > NND_MAX_RANK)
    return nnd__si_fail(c, "the target shape has %lld dims; nndiff handles up to %d", (long long)n,
                        NND_MAX_RANK);
  if (n < 0) return NND_OK;
  nnd_shape t = {.rank = (int)n};
  for (int i = 0; i < n; i++) {
    t.dims[i] = nnd__si_dim_unknown();
    if (!have) continue;
    if (!sv.e[i].known)
      t.dims[i].symbol = sv.e[i].sym;
    else if (sv.e[i].v < 0)
      return nnd__si_fail(c, "the target shape has the negative value %lld at index %d",
                          (long long)sv.e[i].v, i);
    else
      t.dims[i] = nnd__si_dim_known(sv.e[i].v);
  }
  if (!have) {
    /* where the input has a dim > 1 the result has it too; the rest is unknown */
    int r = x->shape.rank > t.rank ? x->shape.rank : t.rank;
    c->out[0].rank = r;
    for (int i = 0; i < r; i++) {
      int ix = i - (r - x->shape.rank);
      nnd_dim d = ix >= 0 ? x->shape.dims[ix] : nnd__si_dim_unknown();
      c->out[0].dims[i] = d.size > 1 ? d : nnd__si_dim_unknown();
    }
    return NND_OK;
  }
  return nnd__si_broadcast(c, &x->shape, &t, &c->out[0]);
}

nnd_status nnd__infer_dropout(nnd__infer *c) {
  const nnd_value *x = nnd__si_in(c, 0);
  for (int k = 0; k < c->n_out; k++) {
    c->out[k] = x->shape;
    c->out_layout[k] = x->layout;
  }
  return NND_OK;
}

/* ScatterND: the data's shape; indices [..., k] address k leading dims of
 * the data and updates hold the rest. */
nnd_status nnd__infer_scatter_nd(nnd__infer *c) {
  const nnd_value *x = nnd__si_in(c, 0), *idx = nnd__si_in(c, 1), *up = nnd__si_in(c, 2);
  if (idx->shape.rank >= 1 && up->shape.rank >= 0) {
    nnd_dim k = idx->shape.dims[idx->shape.rank - 1];
    if (k.size > x->shape.rank)
      return nnd__si_fail(c, "indices %s address %lld dims of the data %s",
                          nnd__si_shape_str(&idx->shape).s, (long long)k.size,
                          nnd__si_shape_str(&x->shape).s);
    if (k.size >= 0 && up->shape.rank != idx->shape.rank - 1 + x->shape.rank - (int)k.size)
      return nnd__si_fail(c, "updates %s do not fit indices %s and data %s",
                          nnd__si_shape_str(&up->shape).s, nnd__si_shape_str(&idx->shape).s,
                          nnd__si_shape_str(&x->shape).s);
  }
  return nnd__infer_unary(c);
}
