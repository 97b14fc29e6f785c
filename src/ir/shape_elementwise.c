/* Shapes of the elementwise ops: unary maths and activations (same shape as
 * the input), Softmax (axis checked), LayerNorm, broadcasting binary,
 * comparison and variadic ops (Where broadcasts its three inputs),
 * PRelu (slope broadcast to the input), Clip (bounds resolved from constant
 * inputs) and Cast. */
#include <math.h>

#include "ir/shape_infer.h"

nnd_status nnd__infer_unary(nnd__infer *c) {
  const nnd_value *x = nnd__si_in(c, 0);
  c->out[0] = x->shape;
  c->out_layout[0] = x->layout;
  return NND_OK;
}

nnd_status nnd__infer_softmax(nnd__infer *c) {
  const nnd_value *x = nnd__si_in(c, 0);
  int axis;
  nnd_status st = nnd__si_norm_axis(c, c->attrs.axis, x->shape.rank, "axis", &axis);
  if (st != NND_OK) return st;
  return nnd__infer_unary(c);
}

/* Y like X; the optional Mean and InvStdDev outputs keep the dims before
 * `axis` and have 1 for every normalised dim. Scale and bias broadcast to
 * the normalised dims. */
nnd_status nnd__infer_layer_norm(nnd__infer *c) {
  const nnd_value *x = nnd__si_in(c, 0);
  int axis;
  nnd_status st = nnd__si_norm_axis(c, c->attrs.axis, x->shape.rank, "axis", &axis);
  if (st != NND_OK) return st;
  for (int i = 1; i < 3; i++) {
    const nnd_value *p = nnd__si_in(c, i);
    if (!p || p->shape.rank < 0) continue;
    if (p->shape.rank > x->shape.rank - axis)
      return nnd__si_fail(c, "%s '%s' %s has more dims than the %d normalised ones of %s",
                          i == 1 ? "scale" : "bias", p->name, nnd__si_shape_str(&p->shape).s,
                          x->shape.rank - axis, nnd__si_shape_str(&x->shape).s);
  }
  c->out[0] = x->shape;
  c->out_layout[0] = x->layout;
  for (int k = 1; k < c->n_out; k++) {
    c->out[k] = x->shape;
    for (int d = axis; d < x->shape.rank; d++)
      c->out[k].dims[d] = nnd__si_dim_known(1);
  }
  return NND_OK;
}

nnd_status nnd__infer_binary(nnd__infer *c) {
  const nnd_value *first = nnd__si_in(c, 0);
  nnd_shape s = first->shape;
  nnd_layout layout = first->layout;
  for (int i = 1; i < c->node->n_inputs; i++) {
    const nnd_value *v = nnd__si_in(c, i);
    nnd_status st = nnd__si_broadcast(c, &s, &v->shape, &s);
    if (st != NND_OK) return st;
  }
  /* the layout of an input that already has the output's rank */
  for (int i = 0; i < c->node->n_inputs && layout == NND_LAYOUT_NONE; i++) {
    const nnd_value *v = nnd__si_in(c, i);
    if (v->shape.rank == s.rank) layout = v->layout;
  }
  c->out[0] = s;
  c->out_layout[0] = layout;
  return NND_OK;
}

nnd_status nnd__infer_prelu(nnd__infer *c) {
  const nnd_value *x = nnd__si_in(c, 0), *slope = nnd__si_in(c, 1);
  nnd_shape s;
  nnd_status st = nnd__si_broadcast(c, &x->shape, &slope->shape, &s);
  if (st != NND_OK) return st;
  /* the slope broadcasts to the input, never the other way round */
  bool fits = s.rank == x->shape.rank;
  for (int i = 0; fits && i < s.rank; i++)
    if (s.dims[i].size >= 0 && x->shape.dims[i].size >= 0 &&
        s.dims[i].size != x->shape.dims[i].size)
      fits = false;
  if (!fits)
    return nnd__si_fail(c, "slope '%s' %s does not broadcast to the input %s", slope->name,
                        nnd__si_shape_str(&slope->shape).s, nnd__si_shape_str(&x->shape).s);
  return nnd__infer_unary(c);
}

/* A scalar bound from constant input i into *out (left as is when unknown). */
static nnd_status clip_bound(nnd__infer *c, int i, const char *what, float *out) {
  double v[2];
  int64_t n;
  bool known;
  nnd_status st = nnd__si_const_f64(c, i, 1, v, &n, &known);
  if (st != NND_OK || !known) return st;
  if (n != 1) return nnd__si_fail(c, "%s should hold one number, found %lld", what, (long long)n);
  if (isnan(v[0])) return nnd__si_fail(c, "%s is NaN", what);
  *out = (float)v[0];
  return NND_OK;
}

nnd_status nnd__infer_clip(nnd__infer *c) {
  nnd_status st = clip_bound(c, 1, "min", &c->attrs.clip_min);
  if (st == NND_OK) st = clip_bound(c, 2, "max", &c->attrs.clip_max);
  if (st != NND_OK) return st;
  return nnd__infer_unary(c);
}

nnd_status nnd__infer_cast(nnd__infer *c) {
  nnd_dtype to = c->attrs.to;
  if (to <= NND_DTYPE_UNDEFINED || to >= NND_DTYPE_COUNT)
    return nnd__si_fail(c, "the target type is not set");
  return nnd__infer_unary(c);
}
