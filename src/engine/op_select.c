/* Planners of the comparison and selection ops, with shapes from the IR:
 * Where and ScatterND run at run time on float data (their conditions and
 * indices are constants, as integers always are in the engine); Equal and
 * Not produce booleans, which exist only while folding (ViT and Swin use
 * them in shape arithmetic and mask building). */
#include <string.h>

#include "engine/engine_internal.h"

/* Dims of tensor t aligned (leading 1s) to rank r. */
static void align(const etensor *t, int r, int64_t *dims) {
  for (int i = 0; i < r; i++)
    dims[i] = i < r - t->rank ? 1 : t->dims[i - (r - t->rank)];
}

static nnd_status need_const(nnd_engine *e, int32_t id, int k, nnd_error *err) {
  const int32_t v = nnd__in_value(e, id, k);
  if (v >= 0 && e->v[v].is_const) return NND_OK;
  return nnd__node_error(e, id, err, NND_ERR_UNSUPPORTED,
                         "input %d ('%s') must be known before running (a constant or shape "
                         "arithmetic); it is computed at run time",
                         k, v >= 0 ? e->g->values[v].name : "?");
}

/* ----------------------------------------------------------- where */

typedef struct where_params {
  int rank;
  int64_t out[NND_MAX_RANK], c[NND_MAX_RANK], x[NND_MAX_RANK], y[NND_MAX_RANK];
} where_params;

static nnd_status step_where(nnd_engine *e, const step *s, nnd_error *err) {
  const where_params *p = s->p;
  const etensor *c = nnd__t(e, s->in[0]), *x = nnd__t(e, s->in[1]), *y = nnd__t(e, s->in[2]);
  etensor *o = nnd__t(e, s->out[0]);
  if (x->dtype != y->dtype || x->dtype != o->dtype || c->dtype != NND_DTYPE_I64)
    return nnd__node_error(e, s->node, err, NND_ERR_INTERNAL, "Where step on %s, %s, %s",
                           nnd_dtype_name(c->dtype), nnd_dtype_name(x->dtype),
                           nnd_dtype_name(y->dtype));
  nnd__where(nnd_dtype_size(o->dtype), p->rank, p->out, p->c, c->data, p->x, x->data, p->y, y->data,
             o->data);
  return NND_OK;
}

nnd_status nnd__eng_build_where(nnd_engine *e, int32_t id, nnd_error *err) {
  const nnd_node *nd = &e->g->nodes[id];
  const evalue *out = &e->v[nd->outputs[0]];
  nnd_status st = need_const(e, id, 0, err);
  if (st != NND_OK) return st;
  if (e->v[nd->inputs[0]].is_float)
    return nnd__node_error(e, id, err, NND_ERR_UNSUPPORTED, "the condition is not boolean");
  if (e->v[nd->inputs[1]].is_float != e->v[nd->inputs[2]].is_float)
    return nnd__node_error(e, id, err, NND_ERR_GRAPH, "mixes float and integer branches");
  int32_t in[3];
  for (int k = 0; k < 3; k++)
    if ((in[k] = nnd__operand(e, nd->inputs[k], false, err)) < 0) return err->status;
  where_params *p = nnd__emem(e, 1, sizeof *p);
  if (!p) return nnd_error_set(err, NND_ERR_NOMEM, "out of memory");
  p->rank = out->rank;
  memcpy(p->out, out->dims, sizeof p->out);
  align(&e->t[in[0]], p->rank, p->c);
  align(&e->t[in[1]], p->rank, p->x);
  align(&e->t[in[2]], p->rank, p->y);
  int32_t y = nnd__output(e, id, 0, out->rank, out->dims, false);
  if (y < 0) return nnd_error_set(err, NND_ERR_NOMEM, "out of memory");
  return nnd__emit(e, step_where, "where", p, in, 3, &y, 1, -1, err);
}

/* ------------------------------------------------------- scatter_nd */

typedef struct scatter_params {
  int64_t numel, n_idx, slice;
  int k;
  int64_t strides[NND_MAX_RANK];
  int64_t *idx;
} scatter_params;

static nnd_status step_scatter_nd(nnd_engine *e, const step *s, nnd_error *err) {
  const scatter_params *p = s->p;
  const etensor *x = nnd__t(e, s->in[0]), *u = nnd__t(e, s->in[1]);
  etensor *o = nnd__t(e, s->out[0]);
  if (x->dtype != u->dtype || x->dtype != o->dtype)
    return nnd__node_error(e, s->node, err, NND_ERR_INTERNAL, "ScatterND step on %s and %s",
                           nnd_dtype_name(x->dtype), nnd_dtype_name(u->dtype));
  nnd__scatter_nd(nnd_dtype_size(x->dtype), p->numel, x->data, p->n_idx, p->k, p->idx, p->strides,
                  p->slice, u->data, o->data);
  return NND_OK;
}

nnd_status nnd__eng_build_scatter_nd(nnd_engine *e, int32_t id, nnd_error *err) {
  const nnd_node *nd = &e->g->nodes[id];
  const evalue *xv = &e->v[nd->inputs[0]], *iv = &e->v[nd->inputs[1]];
  nnd_status st = need_const(e, id, 1, err);
  if (st != NND_OK) return st;
  if (iv->is_float)
    return nnd__node_error(e, id, err, NND_ERR_GRAPH, "the indices are not integers");
  if (xv->is_float != e->v[nd->inputs[2]].is_float)
    return nnd__node_error(e, id, err, NND_ERR_GRAPH, "data and updates differ in type");
  const int k = iv->rank > 0 ? (int)iv->dims[iv->rank - 1] : -1;
  if (k < 1 || k > xv->rank)
    return nnd__node_error(e, id, err, NND_ERR_GRAPH, "indices address %d dims of rank %d", k,
                           xv->rank);
  scatter_params *p = nnd__emem(e, 1, sizeof *p);
  if (!p) return nnd_error_set(err, NND_ERR_NOMEM, "out of memory");
  p->k = k;
  p->numel = p->slice = 1;
  for (int d = 0; d < xv->rank; d++)
    p->numel *= xv->dims[d];
  for (int d = k; d < xv->rank; d++)
    p->slice *= xv->dims[d];
  /* strides of the addressed dims: products of every later dim */
  int64_t s = 1;
  for (int d = xv->rank - 1; d >= 0; d--) {
    if (d < k) p->strides[d] = s;
    s *= xv->dims[d];
  }
  const etensor *it = &e->t[iv->tid[0][0]];
  p->n_idx = it->numel / k;
  p->idx = nnd__emem(e, (size_t)it->numel, sizeof *p->idx);
  if (!p->idx) return nnd_error_set(err, NND_ERR_NOMEM, "out of memory");
  for (int64_t j = 0; j < it->numel; j++) {
    const int64_t dim = xv->dims[j % k];
    int64_t q = ((const int64_t *)it->data)[j];
    if (q < 0) q += dim;
    if (q < 0 || q >= dim)
      return nnd__node_error(e, id, err, NND_ERR_GRAPH, "index %lld is out of range [0, %lld)",
                             (long long)((const int64_t *)it->data)[j], (long long)dim);
    p->idx[j] = q;
  }
  int32_t in[2];
  if ((in[0] = nnd__operand(e, nd->inputs[0], false, err)) < 0) return err->status;
  if ((in[1] = nnd__operand(e, nd->inputs[2], false, err)) < 0) return err->status;
  if (e->t[in[1]].numel != p->n_idx * p->slice)
    return nnd__node_error(e, id, err, NND_ERR_GRAPH, "updates hold %lld values, need %lld",
                           (long long)e->t[in[1]].numel, (long long)(p->n_idx * p->slice));
  int32_t y = nnd__output(e, id, 0, xv->rank, xv->dims, false);
  if (y < 0) return nnd_error_set(err, NND_ERR_NOMEM, "out of memory");
  return nnd__emit(e, step_scatter_nd, "scatter_nd", p, in, 2, &y, 1, 0, err);
}

/* ------------------------------------------------- equal, not (folding) */

static double elem_f64(const etensor *t, int64_t i) {
  return t->dtype == NND_DTYPE_I64 ? (double)((const int64_t *)t->data)[i]
                                   : ((const double *)t->data)[i];
}

nnd_status nnd__eng_build_compare(nnd_engine *e, int32_t id, nnd_error *err) {
  const nnd_node *nd = &e->g->nodes[id];
  const evalue *out = &e->v[nd->outputs[0]];
  if (!e->folding)
    return nnd__node_error(e, id, err, NND_ERR_UNSUPPORTED,
                           "computes booleans at run time; the engine runs float tensors only");
  int32_t in[2] = {-1, -1};
  for (int k = 0; k < nd->n_inputs && k < 2; k++)
    if ((in[k] = nnd__operand(e, nd->inputs[k], false, err)) < 0) return err->status;
  int32_t y = nnd__output(e, id, 0, out->rank, out->dims, false);
  if (y < 0) return nnd_error_set(err, NND_ERR_NOMEM, "out of memory");
  int64_t *yd = e->t[y].data;
  const etensor *a = &e->t[in[0]];
  if (nd->op == NND_OP_NOT) {
    for (int64_t i = 0; i < a->numel; i++)
      yd[i] = elem_f64(a, i) == 0;
    return NND_OK;
  }
  const etensor *b = &e->t[in[1]];
  int64_t ad[NND_MAX_RANK], bd[NND_MAX_RANK];
  align(a, out->rank, ad);
  align(b, out->rank, bd);
  nnd__bcast bc;
  nnd__bcast_init(&bc, out->rank, out->dims, ad, bd);
  for (int64_t i = 0; i < bc.numel; i++) {
    int64_t oa = 0, ob = 0, rem = i;
    for (int d = bc.rank - 1; d >= 0; d--) {
      const int64_t q = rem % bc.dims[d];
      rem /= bc.dims[d];
      oa += q * bc.sa[d];
      ob += q * bc.sb[d];
    }
    /* Integers compare exactly (int64 beyond 2^53 would not as doubles). */
    if (a->dtype == NND_DTYPE_I64 && b->dtype == NND_DTYPE_I64)
      yd[i] = ((const int64_t *)a->data)[oa] == ((const int64_t *)b->data)[ob];
    else
      yd[i] = elem_f64(a, oa) == elem_f64(b, ob);
  }
  return NND_OK;
}
