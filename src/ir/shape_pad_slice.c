/* Shapes of the ops that cut or grow dims by amounts given as (constant)
 * inputs: Pad (pads, constant value, axes), Slice (starts, ends, axes,
 * steps with ONNX clamping) and Resize (scales or sizes). The amounts are
 * resolved into the node's attributes. */
#include <math.h>

#include "ir/shape_infer.h"

/* Output with x's rank and every dim unknown except those not in keep[]. */
static void unknown_dims(nnd__infer *c, const nnd_shape *xs, const bool *changed) {
  c->out[0] = *xs;
  for (int i = 0; i < xs->rank; i++)
    if (!changed || changed[i]) c->out[0].dims[i] = nnd__si_dim_unknown();
}

nnd_status nnd__infer_pad(nnd__infer *c) {
  const nnd_value *x = nnd__si_in(c, 0);
  const nnd_shape *xs = &x->shape;
  int rank = xs->rank;
  nnd_attrs *a = &c->attrs;
  int64_t pads[2 * NND_MAX_RANK], axes[NND_MAX_RANK], n, n_axes;
  bool known, axes_known;
  nnd_status st = nnd__si_const_ints(c, 1, 2 * NND_MAX_RANK, pads, &n, &known);
  if (st == NND_OK) st = nnd__si_const_ints(c, 3, NND_MAX_RANK, axes, &n_axes, &axes_known);
  if (st != NND_OK) return st;
  c->out_layout[0] = x->layout;
  if ((nnd__si_in(c, 1) && !known) || (nnd__si_in(c, 3) && !axes_known)) {
    unknown_dims(c, xs, NULL); /* pads computed at run time */
    return NND_OK;
  }
  if (known) {
    int64_t begin[NND_MAX_RANK] = {0}, end[NND_MAX_RANK] = {0};
    if (axes_known) { /* ONNX 18: pads only for the listed axes */
      if (n != 2 * n_axes)
        return nnd__si_fail(c, "pads has %lld values for %lld axes (needs %lld)", (long long)n,
                            (long long)n_axes, (long long)(2 * n_axes));
      bool seen[NND_MAX_RANK] = {false};
      for (int k = 0; k < n_axes; k++) {
        int ax;
        if ((st = nnd__si_norm_axis(c, axes[k], rank, "axis", &ax)) != NND_OK) return st;
        if (seen[ax]) return nnd__si_fail(c, "axis %lld is listed twice", (long long)axes[k]);
        seen[ax] = true;
        begin[ax] = pads[k];
        end[ax] = pads[n_axes + k];
      }
    } else {
      if (n != 2 * (int64_t)rank)
        return nnd__si_fail(c, "pads has %lld values but the input %s has rank %d (needs %d)",
                            (long long)n, nnd__si_shape_str(xs).s, rank, 2 * rank);
      for (int i = 0; i < rank; i++) {
        begin[i] = pads[i];
        end[i] = pads[rank + i];
      }
    }
    a->has_pads = true;
    a->n_pads = rank;
    for (int i = 0; i < rank; i++) {
      a->pads_begin[i] = begin[i];
      a->pads_end[i] = end[i];
    }
  } else if (!a->has_pads) {
    return nnd__si_fail(c, "the pads are not given");
  } else if (a->n_pads != rank) {
    return nnd__si_fail(c, "pads cover %d dims but the input %s has rank %d", a->n_pads,
                        nnd__si_shape_str(xs).s, rank);
  }
  double value[1];
  int64_t nv;
  bool value_known;
  if ((st = nnd__si_const_f64(c, 2, 1, value, &nv, &value_known)) != NND_OK) return st;
  if (value_known && nv == 1) a->pad_value = (float)value[0];

  nnd_shape *o = &c->out[0];
  *o = *xs;
  for (int i = 0; i < rank; i++) {
    int64_t total, size;
    if ((st = nnd__si_add(c, a->pads_begin[i], a->pads_end[i], "the padding", &total)) != NND_OK)
      return st;
    if (xs->dims[i].size < 0) {
      if (total != 0) o->dims[i] = nnd__si_dim_unknown();
      continue;
    }
    if ((st = nnd__si_add(c, xs->dims[i].size, total, "the padded size", &size)) != NND_OK)
      return st;
    if (size < 0)
      return nnd__si_fail(c, "pads %lld/%lld on dim %d of %s leave a negative size",
                          (long long)a->pads_begin[i], (long long)a->pads_end[i], i,
                          nnd__si_shape_str(xs).s);
    o->dims[i] = nnd__si_dim_known(size);
  }
  return NND_OK;
}

/* Reads Slice's inputs 1..4 into the attributes. *dynamic: some are
 * computed at run time. */
static nnd_status slice_inputs(nnd__infer *c, bool *dynamic) {
  static const char *const names[] = {"starts", "ends", "axes", "steps"};
  int64_t vals[4][NND_MAX_RANK], n[4];
  bool known[4];
  *dynamic = false;
  for (int k = 0; k < 4; k++) {
    nnd_status st = nnd__si_const_ints(c, k + 1, NND_MAX_RANK, vals[k], &n[k], &known[k]);
    if (st != NND_OK) return st;
    if (nnd__si_in(c, k + 1) && !known[k]) *dynamic = true;
  }
  if (!nnd__si_in(c, 1) || !nnd__si_in(c, 2))
    return nnd__si_fail(c, "starts and ends are required inputs");
  if (*dynamic) return NND_OK;
  for (int k = 1; k < 4; k++)
    if (known[k] && n[k] != n[0])
      return nnd__si_fail(c, "%s has %lld values but starts has %lld", names[k], (long long)n[k],
                          (long long)n[0]);
  nnd_attrs *a = &c->attrs;
  a->n_axes = (int)n[0];
  for (int i = 0; i < n[0]; i++) {
    a->starts[i] = vals[0][i];
    a->ends[i] = vals[1][i];
    a->axes[i] = known[2] ? vals[2][i] : i;
    a->steps[i] = known[3] ? vals[3][i] : 1;
  }
  a->has_axes = true;
  a->has_slice = true;
  return NND_OK;
}

/* An end this large means "to the end of the dim", whatever its size. */
#define SLICE_TO_END ((int64_t)INT32_MAX)

nnd_status nnd__infer_slice(nnd__infer *c) {
  const nnd_value *x = nnd__si_in(c, 0);
  const nnd_shape *xs = &x->shape;
  nnd_attrs *a = &c->attrs;
  nnd_status st;
  c->out_layout[0] = x->layout;
  if (c->node->n_inputs >= 2) {
    bool dynamic;
    if ((st = slice_inputs(c, &dynamic)) != NND_OK) return st;
    if (dynamic) {
      unknown_dims(c, xs, NULL);
      return NND_OK;
    }
  } else if (!a->has_slice) {
    return nnd__si_fail(c, "starts and ends are not given");
  }
  bool mark[NND_MAX_RANK];
  if ((st = nnd__si_mark_axes(c, xs->rank, mark)) != NND_OK) return st;
  nnd_shape *o = &c->out[0];
  *o = *xs;
  for (int k = 0; k < a->n_axes; k++) {
    int ax;
    if ((st = nnd__si_norm_axis(c, a->axes[k], xs->rank, "axis", &ax)) != NND_OK) return st;
    int64_t start = a->starts[k], end = a->ends[k], step = a->steps[k];
    if (step == 0) return nnd__si_fail(c, "step %d is 0", k);
    nnd_dim d = xs->dims[ax];
    if (d.size >= 0) {
      int64_t first, count;
      nnd__si_slice_range(d.size, start, end, step, &first, &count);
      o->dims[ax] = nnd__si_dim_known(count);
    } else if (!((step == 1 && start == 0 && end >= SLICE_TO_END) ||
                 (step == -1 && start == -1 && end <= -SLICE_TO_END))) {
      o->dims[ax] = nnd__si_dim_unknown(); /* the whole dim (or its reverse) keeps its symbol */
    }
  }
  return NND_OK;
}

nnd_status nnd__infer_resize(nnd__infer *c) {
  const nnd_value *x = nnd__si_in(c, 0);
  const nnd_shape *xs = &x->shape;
  int rank = xs->rank;
  bool two = c->node->n_inputs == 2; /* ONNX 10 / Upsample-9: x, scales */
  int scales_in = two ? 1 : 2, sizes_in = two ? -1 : 3;
  /* sizes/scales cover every dim, or only the spatial ones */
  int first = 0;
  nnd_status st;
  c->out_layout[0] = x->layout;

  nnd__symvec sv;
  bool have_sizes = false;
  if (sizes_in > 0 && (st = nnd__si_input_sym(c, sizes_in, &sv, &have_sizes)) != NND_OK) return st;
  if (have_sizes && sv.n > 0) {
    if (sv.n == rank)
      first = 0;
    else if (sv.n == rank - 2)
      first = x->layout == NND_LAYOUT_NHWC ? 1 : 2;
    else
      return nnd__si_fail(c, "sizes has %lld values but the input %s has rank %d", (long long)sv.n,
                          nnd__si_shape_str(xs).s, rank);
    c->out[0] = *xs;
    for (int i = 0; i < sv.n; i++) {
      nnd_dim *d = &c->out[0].dims[first + i];
      if (!sv.e[i].known)
        *d = (nnd_dim){-1, sv.e[i].sym};
      else if (sv.e[i].v < 0)
        return nnd__si_fail(c, "sizes has the negative value %lld", (long long)sv.e[i].v);
      else
        *d = nnd__si_dim_known(sv.e[i].v);
    }
    return NND_OK;
  }
  double scales[NND_MAX_RANK];
  int64_t n;
  bool known;
  if ((st = nnd__si_const_f64(c, scales_in, NND_MAX_RANK, scales, &n, &known)) != NND_OK) return st;
  if (!known || n == 0) { /* an empty scales tensor means "use sizes" */
    unknown_dims(c, xs, NULL);
    return NND_OK;
  }
  if (n == rank)
    first = 0;
  else if (n == rank - 2)
    first = x->layout == NND_LAYOUT_NHWC ? 1 : 2;
  else
    return nnd__si_fail(c, "scales has %lld values but the input %s has rank %d", (long long)n,
                        nnd__si_shape_str(xs).s, rank);
  c->out[0] = *xs;
  for (int i = 0; i < n; i++) {
    double s = scales[i];
    if (!(s > 0) || isinf(s)) return nnd__si_fail(c, "scale %g at index %d must be > 0", s, i);
    nnd_dim in = xs->dims[first + i], *d = &c->out[0].dims[first + i];
    if (s == 1.0) continue;
    if (in.size < 0) {
      *d = nnd__si_dim_unknown();
      continue;
    }
    double r = floor((double)in.size * s);
    if (!(r < 9.0e18)) return nnd__si_fail(c, "scale %g on dim %d overflows", s, first + i);
    *d = nnd__si_dim_known((int64_t)r);
  }
  return NND_OK;
}
