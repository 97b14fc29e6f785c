/* Shapes of the ops that make a tensor from scalars or from a shape:
 * ConstantOfShape (the shape is the input's value) and Range (the length
 * follows from start, limit and delta), and their folds for the shape
 * arithmetic exporters write around them (ViT's class token Expand,
 * Swin's window masks). */
#include <math.h>

#include "ir/shape_infer.h"

nnd_status nnd__infer_constant_of_shape(nnd__infer *c) {
  const nnd_value *s = nnd__si_in(c, 0);
  if (s->shape.rank != 1 || s->shape.dims[0].size < 0) return NND_OK; /* rank unknown */
  if (s->shape.dims[0].size > NND_MAX_RANK)
    return nnd__si_fail(c, "the shape input '%s' has %lld entries; nndiff handles ranks up to %d",
                        s->name, (long long)s->shape.dims[0].size, NND_MAX_RANK);
  nnd_shape *o = &c->out[0];
  o->rank = (int)s->shape.dims[0].size;
  for (int i = 0; i < o->rank; i++)
    o->dims[i] = nnd__si_dim_unknown();
  nnd__symvec v;
  bool have;
  nnd_status st = nnd__si_input_sym(c, 0, &v, &have);
  if (st != NND_OK || !have || v.n != o->rank) return st;
  for (int i = 0; i < o->rank; i++) {
    if (!v.e[i].known) {
      o->dims[i].symbol = v.e[i].sym; /* a dim of another tensor: same symbol */
      continue;
    }
    if (v.e[i].v < 0)
      return nnd__si_fail(c, "the shape input '%s' holds %lld at index %d", s->name,
                          (long long)v.e[i].v, i);
    o->dims[i] = nnd__si_dim_known(v.e[i].v);
  }
  return NND_OK;
}

bool nnd__fold_constant_of_shape(nnd__infer *c, nnd__symvec *out) {
  const double v = c->attrs.fill_value;
  if (!(v >= -9.2e18 && v <= 9.2e18)) return false;
  for (int64_t k = 0; k < out->n; k++) {
    nnd__symint e = {(int64_t)v, true, NULL, -1, 0};
    out->e[k] = e;
  }
  return true;
}

/* Range's element count, ONNX's max(ceil((limit - start) / delta), 0). */
static bool range_count(double start, double limit, double delta, int64_t *n) {
  if (delta == 0 || !isfinite(start) || !isfinite(limit) || !isfinite(delta)) return false;
  double q = ceil((limit - start) / delta);
  if (!(q < 9.2e18)) return false;
  *n = q > 0 ? (int64_t)q : 0;
  return true;
}

nnd_status nnd__infer_range(nnd__infer *c) {
  double v[3];
  nnd_shape *o = &c->out[0];
  o->rank = 1;
  o->dims[0] = nnd__si_dim_unknown();
  for (int i = 0; i < 3; i++) {
    const nnd_value *x = nnd__si_in(c, i);
    if (x->shape.rank > 1 || (x->shape.rank == 1 && x->shape.dims[0].size > 1))
      return nnd__si_fail(c, "input %d ('%s') %s must be a scalar", i, x->name,
                          nnd__si_shape_str(&x->shape).s);
    int64_t n;
    bool known;
    nnd_status st = nnd__si_const_f64(c, i, 1, &v[i], &n, &known);
    if (st != NND_OK) return st;
    if (!known || n != 1) return NND_OK; /* computed at run time: length unknown */
  }
  int64_t n;
  if (!range_count(v[0], v[1], v[2], &n))
    return nnd__si_fail(c, "start %g, limit %g, delta %g do not make a range", v[0], v[1], v[2]);
  o->dims[0] = nnd__si_dim_known(n);
  return NND_OK;
}

bool nnd__fold_range(nnd__infer *c, nnd__symvec *out) {
  int64_t v[3];
  for (int i = 0; i < 3; i++) {
    int64_t n;
    bool known;
    nnd_error scratch = {0};
    nnd_error *keep = c->err;
    c->err = &scratch;
    nnd_status st = nnd__si_const_ints(c, i, 1, &v[i], &n, &known);
    c->err = keep;
    if (st != NND_OK || !known || n != 1) return false;
  }
  for (int64_t k = 0; k < out->n; k++) {
    int64_t r;
    if (__builtin_mul_overflow(k, v[2], &r) || __builtin_add_overflow(r, v[0], &r)) return false;
    nnd__symint e = {r, true, NULL, -1, 0};
    out->e[k] = e;
  }
  return true;
}
