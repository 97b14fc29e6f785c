/* Shapes of Gemm (transA/transB, C broadcast), MatMul (numpy rules: 1-D
 * operands, broadcast batch dims), the Reduce* ops (axes from attributes or
 * a constant input, keepdims) and Quantize/Dequantize (per-axis checks). */
#include "ir/einsum.h"
#include "ir/shape_infer.h"

nnd_status nnd__infer_gemm(nnd__infer *c) {
  const nnd_value *A = nnd__si_in(c, 0), *Bv = nnd__si_in(c, 1), *C = nnd__si_in(c, 2);
  const nnd_attrs *a = &c->attrs;
  if (A->shape.rank != 2)
    return nnd__si_fail(c, "A '%s' %s must be 2-D", A->name, nnd__si_shape_str(&A->shape).s);
  if (Bv->shape.rank != 2)
    return nnd__si_fail(c, "B '%s' %s must be 2-D", Bv->name, nnd__si_shape_str(&Bv->shape).s);
  const nnd_dim *ad = A->shape.dims, *bd = Bv->shape.dims;
  nnd_dim m = ad[a->trans_a ? 1 : 0], ka = ad[a->trans_a ? 0 : 1];
  nnd_dim kb = bd[a->trans_b ? 1 : 0], n = bd[a->trans_b ? 0 : 1], k;
  if (!nnd__si_dim_unify(ka, kb, &k))
    return nnd__si_fail(c, "A %s%s and B %s%s disagree on the inner dim (%lld vs %lld)",
                        nnd__si_shape_str(&A->shape).s, a->trans_a ? " (transposed)" : "",
                        nnd__si_shape_str(&Bv->shape).s, a->trans_b ? " (transposed)" : "",
                        (long long)ka.size, (long long)kb.size);
  nnd_shape *o = &c->out[0];
  o->rank = 2;
  o->dims[0] = m;
  o->dims[1] = n;
  if (C && C->shape.rank >= 0) {
    nnd_shape s;
    nnd_status st = nnd__si_broadcast(c, o, &C->shape, &s);
    if (st != NND_OK) return st;
    bool fits = s.rank == 2;
    for (int i = 0; fits && i < 2; i++)
      if (s.dims[i].size >= 0 && o->dims[i].size >= 0 && s.dims[i].size != o->dims[i].size)
        fits = false;
    if (!fits)
      return nnd__si_fail(c, "C '%s' %s does not broadcast to the output %s", C->name,
                          nnd__si_shape_str(&C->shape).s, nnd__si_shape_str(o).s);
    *o = s.rank == 2 ? s : *o; /* C may name a dim A and B leave unknown */
  }
  return NND_OK;
}

nnd_status nnd__infer_matmul(nnd__infer *c) {
  const nnd_value *A = nnd__si_in(c, 0), *Bv = nnd__si_in(c, 1);
  int ra = A->shape.rank, rb = Bv->shape.rank;
  if (ra < 1 || rb < 1)
    return nnd__si_fail(c, "operands %s and %s: MatMul needs at least 1-D operands",
                        nnd__si_shape_str(&A->shape).s, nnd__si_shape_str(&Bv->shape).s);
  /* a 1-D operand is a row (A) or a column (B) vector whose dim is dropped */
  nnd_dim m = ra >= 2 ? A->shape.dims[ra - 2] : nnd__si_dim_known(1), ka = A->shape.dims[ra - 1];
  nnd_dim kb = rb >= 2 ? Bv->shape.dims[rb - 2] : Bv->shape.dims[0];
  nnd_dim n = rb >= 2 ? Bv->shape.dims[rb - 1] : nnd__si_dim_known(1), k;
  if (!nnd__si_dim_unify(ka, kb, &k))
    return nnd__si_fail(c, "%s times %s: inner dims %lld and %lld differ",
                        nnd__si_shape_str(&A->shape).s, nnd__si_shape_str(&Bv->shape).s,
                        (long long)ka.size, (long long)kb.size);
  nnd_shape ba = {.rank = ra > 2 ? ra - 2 : 0}, bb = {.rank = rb > 2 ? rb - 2 : 0}, batch;
  for (int i = 0; i < ba.rank; i++)
    ba.dims[i] = A->shape.dims[i];
  for (int i = 0; i < bb.rank; i++)
    bb.dims[i] = Bv->shape.dims[i];
  /* broadcast into a scratch error so the message can name the full shapes */
  nnd_error probe = {0};
  nnd_error *keep = c->err;
  c->err = &probe;
  nnd_status st = nnd__si_broadcast(c, &ba, &bb, &batch);
  c->err = keep;
  if (st != NND_OK)
    return nnd__si_fail(c, "the batch dims of %s and %s do not broadcast",
                        nnd__si_shape_str(&A->shape).s, nnd__si_shape_str(&Bv->shape).s);
  nnd_shape *o = &c->out[0];
  *o = batch;
  if (ra >= 2) o->dims[o->rank++] = m;
  if (rb >= 2) o->dims[o->rank++] = n;
  return NND_OK;
}

nnd_status nnd__infer_reduce(nnd__infer *c) {
  const nnd_value *x = nnd__si_in(c, 0);
  const nnd_shape *xs = &x->shape;
  bool dynamic, mark[NND_MAX_RANK];
  nnd_status st = nnd__si_axes_input(c, &dynamic);
  if (st != NND_OK) return st;
  nnd_shape *o = &c->out[0];
  if (dynamic) {
    if (c->attrs.keepdims) {
      o->rank = xs->rank;
      for (int i = 0; i < xs->rank; i++)
        o->dims[i] = nnd__si_dim_unknown();
    }
    return NND_OK;
  }
  if (!c->attrs.has_axes) { /* no axes anywhere: reduce over all */
    c->attrs.has_axes = true;
    c->attrs.n_axes = 0;
  }
  if (c->attrs.n_axes == 0) {
    for (int i = 0; i < xs->rank; i++)
      mark[i] = true;
  } else if ((st = nnd__si_mark_axes(c, xs->rank, mark)) != NND_OK) {
    return st;
  }
  o->rank = 0;
  for (int i = 0; i < xs->rank; i++) {
    if (!mark[i])
      o->dims[o->rank++] = xs->dims[i];
    else if (c->attrs.keepdims)
      o->dims[o->rank++] = nnd__si_dim_known(1);
  }
  if (c->attrs.keepdims) c->out_layout[0] = x->layout;
  return NND_OK;
}

/* Scale or zero point: a scalar (per tensor) or 1-D along attrs.axis. */
static nnd_status quant_param(nnd__infer *c, int i, const char *what) {
  const nnd_value *x = nnd__si_in(c, 0), *p = nnd__si_in(c, i);
  if (!p || p->shape.rank < 0) return NND_OK;
  const nnd_shape *ps = &p->shape;
  if (ps->rank > 1)
    return nnd__si_fail(c, "%s '%s' %s must be a scalar or 1-D", what, p->name,
                        nnd__si_shape_str(ps).s);
  if (ps->rank == 0 || ps->dims[0].size == 1) return NND_OK; /* per tensor */
  int axis;
  nnd_status st = nnd__si_norm_axis(c, c->attrs.axis, x->shape.rank, "axis", &axis);
  if (st != NND_OK) return st;
  nnd_dim d = x->shape.dims[axis];
  if (ps->dims[0].size >= 0 && d.size >= 0 && ps->dims[0].size != d.size)
    return nnd__si_fail(c, "%s '%s' has %lld values but axis %d of the input %s has %lld", what,
                        p->name, (long long)ps->dims[0].size, axis, nnd__si_shape_str(&x->shape).s,
                        (long long)d.size);
  return NND_OK;
}

nnd_status nnd__infer_quant(nnd__infer *c) {
  nnd_status st = quant_param(c, 1, "scale");
  if (st == NND_OK) st = quant_param(c, 2, "zero point");
  if (st != NND_OK) return st;
  const nnd_value *x = nnd__si_in(c, 0);
  c->out[0] = x->shape;
  c->out_layout[0] = x->layout;
  return NND_OK;
}

/* Each letter names one size: the dims it labels must agree (unknown ones
 * take the known size); the output lists its letters' sizes. */
nnd_status nnd__infer_einsum(nnd__infer *c) {
  nnd__einsum es;
  char why[200];
  if (!nnd__einsum_parse(c->attrs.equation, c->node->n_inputs, &es, why, sizeof why))
    return nnd__si_fail(c, "%s", why);
  nnd_dim size[NND__EINSUM_MAX_LETTERS];
  for (int l = 0; l < es.n_letters; l++)
    size[l] = nnd__si_dim_unknown();
  for (int k = 0; k < es.n_in; k++) {
    const nnd_value *x = nnd__si_in(c, k);
    if (x->shape.rank != es.in_rank[k])
      return nnd__si_fail(c, "operand %d %s has rank %d, the equation '%s' gives it %d", k,
                          nnd__si_shape_str(&x->shape).s, x->shape.rank, c->attrs.equation,
                          es.in_rank[k]);
    for (int d = 0; d < es.in_rank[k]; d++) {
      nnd_dim *s = &size[es.in_sub[k][d]];
      if (!nnd__si_dim_unify(*s, x->shape.dims[d], s))
        return nnd__si_fail(c, "operand %d %s: dim %d disagrees with another use of its letter in "
                            "'%s'", k, nnd__si_shape_str(&x->shape).s, d, c->attrs.equation);
    }
  }
  c->out[0].rank = es.out_rank;
  for (int d = 0; d < es.out_rank; d++)
    c->out[0].dims[d] = size[es.out_sub[d]];
  return NND_OK;
}
