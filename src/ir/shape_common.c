/* Helpers shared by the per-op shape functions: node-named errors,
 * broadcasting, axis normalisation, checked dim arithmetic and reading the
 * values of constant (or folded) inputs. */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "ir/shape_infer.h"
#include "util/checked_math.h"
#include "util/safe_text.h"

const nnd_value *nnd__si_in(const nnd__infer *c, int i) {
  int32_t id = nnd__si_in_id(c, i);
  return id >= 0 ? &c->g->values[id] : NULL;
}

int32_t nnd__si_in_id(const nnd__infer *c, int i) {
  if (i < 0 || i >= c->node->n_inputs) return -1;
  int32_t id = c->node->inputs[i];
  return id >= 0 && id < c->g->n_values ? id : -1;
}

nnd_status nnd__si_fail(nnd__infer *c, const char *fmt, ...) {
  char what[700];
  va_list ap;
  va_start(ap, fmt);
  nnd__format_line(what, sizeof what, fmt, ap);
  va_end(ap);
  const nnd_node *n = c->node;
  const char *op = n->prov.op_type ? n->prov.op_type : nnd_op_name(n->op);
  const char *path = c->g->info.path;
  return nnd_error_set(c->err, NND_ERR_GRAPH, "%s%snode '%s' (%s): %s", path ? path : "",
                       path ? ": " : "", n->name ? n->name : "", op, what);
}

nnd_status nnd__si_graph_fail(const nnd_graph *g, nnd_error *err, const char *fmt, ...) {
  char what[900];
  va_list ap;
  va_start(ap, fmt);
  nnd__format_line(what, sizeof what, fmt, ap);
  va_end(ap);
  const char *path = g->info.path;
  return nnd_error_set(err, NND_ERR_GRAPH, "%s%s%s", path ? path : "", path ? ": " : "", what);
}

nnd_status nnd__si_topo_order(const nnd_graph *g, int32_t *order, nnd_error *err) {
  nnd_error local = {0};
  nnd_status st = nnd_graph_topo_order(g, order, &local);
  if (st == NND_OK) return st;
  const char *path = g->info.path;
  return nnd_error_set(err, st, "%s%s%s", path ? path : "", path ? ": " : "", local.message);
}

nnd__si_shape_buf nnd__si_shape_str(const nnd_shape *s) {
  nnd__si_shape_buf b;
  nnd_shape_format(s, b.s, sizeof b.s);
  return b;
}

static bool same_symbol(const char *a, const char *b) { return a && b && strcmp(a, b) == 0; }

bool nnd__si_dim_same(nnd_dim a, nnd_dim b) {
  if (a.size >= 0 || b.size >= 0) return a.size == b.size;
  return same_symbol(a.symbol, b.symbol);
}

bool nnd__si_dim_unify(nnd_dim a, nnd_dim b, nnd_dim *out) {
  if (a.size >= 0 && b.size >= 0) {
    *out = a;
    return a.size == b.size;
  }
  if (a.size >= 0)
    *out = a;
  else if (b.size >= 0)
    *out = b;
  else if (same_symbol(a.symbol, b.symbol) || !b.symbol)
    *out = a;
  else if (!a.symbol)
    *out = b;
  else
    *out = nnd__si_dim_unknown(); /* two different names: nothing to keep */
  return true;
}

nnd_status nnd__si_broadcast(nnd__infer *c, const nnd_shape *a, const nnd_shape *b,
                             nnd_shape *out) {
  nnd_shape r;
  r.rank = a->rank > b->rank ? a->rank : b->rank;
  for (int i = 0; i < r.rank; i++) {
    int ia = i - (r.rank - a->rank), ib = i - (r.rank - b->rank);
    nnd_dim da = ia >= 0 ? a->dims[ia] : nnd__si_dim_known(1);
    nnd_dim db = ib >= 0 ? b->dims[ib] : nnd__si_dim_known(1);
    if (da.size == 1)
      r.dims[i] = db;
    else if (db.size == 1)
      r.dims[i] = da;
    else if (!nnd__si_dim_unify(da, db, &r.dims[i]))
      return nnd__si_fail(c, "shapes %s and %s do not broadcast", nnd__si_shape_str(a).s,
                          nnd__si_shape_str(b).s);
  }
  *out = r;
  return NND_OK;
}

nnd_status nnd__si_norm_axis(nnd__infer *c, int64_t axis, int rank, const char *what, int *out) {
  if (axis < -(int64_t)rank || axis >= rank)
    return nnd__si_fail(c, "%s %lld is out of range for a tensor of rank %d", what, (long long)axis,
                        rank);
  *out = (int)(axis < 0 ? axis + rank : axis);
  return NND_OK;
}

nnd_status nnd__si_dims_product(nnd__infer *c, const nnd_shape *s, int from, int to, nnd_dim *out) {
  if (to - from == 1) {
    *out = s->dims[from];
    return NND_OK;
  }
  bool unknown = false;
  int64_t p = 1;
  for (int i = from; i < to; i++) {
    if (s->dims[i].size == 0) {
      *out = nnd__si_dim_known(0);
      return NND_OK;
    }
    if (s->dims[i].size < 0) unknown = true;
  }
  for (int i = from; i < to && !unknown; i++)
    if (!nnd__mul_i64(p, s->dims[i].size, &p))
      return nnd__si_fail(c, "the element count of %s overflows", nnd__si_shape_str(s).s);
  *out = unknown ? nnd__si_dim_unknown() : nnd__si_dim_known(p);
  return NND_OK;
}

nnd_status nnd__si_add(nnd__infer *c, int64_t a, int64_t b, const char *what, int64_t *out) {
  if (!nnd__add_i64(a, b, out))
    return nnd__si_fail(c, "%s overflows (%lld + %lld)", what, (long long)a, (long long)b);
  return NND_OK;
}

nnd_status nnd__si_mul(nnd__infer *c, int64_t a, int64_t b, const char *what, int64_t *out) {
  if (!nnd__mul_i64(a, b, out))
    return nnd__si_fail(c, "%s overflows (%lld * %lld)", what, (long long)a, (long long)b);
  return NND_OK;
}

nnd_status nnd__si_data_numel(nnd__infer *c, const nnd_value *v, int64_t *out) {
  int64_t have = nnd_value_data_count(v);
  if (!nnd_shape_is_static(&v->shape)) {
    *out = have; /* nothing to check against */
    return NND_OK;
  }
  int64_t need;
  if (!nnd_shape_numel(&v->shape, &need))
    return nnd__si_fail(c, "the element count of tensor '%s' %s overflows", v->name,
                        nnd__si_shape_str(&v->shape).s);
  if (have < need)
    return nnd__si_fail(c, "tensor '%s' holds %lld %s values but its shape %s needs %lld", v->name,
                        (long long)have, nnd_dtype_name(v->dtype), nnd__si_shape_str(&v->shape).s,
                        (long long)need);
  *out = need;
  return NND_OK;
}

/* Shared by the two readers: the value of input i when known, its count. */
static nnd_status known_data(nnd__infer *c, int i, int64_t max, const nnd_value **vo, int64_t *n,
                             bool *known) {
  *known = false;
  *n = 0;
  const nnd_value *v = nnd__si_in(c, i);
  if (!v || !v->data) return NND_OK;
  int64_t count;
  nnd_status st = nnd__si_data_numel(c, v, &count);
  if (st != NND_OK) return st;
  if (count > max)
    return nnd__si_fail(c, "input %d ('%s') has %lld values, more than the %lld this op takes", i,
                        v->name, (long long)count, (long long)max);
  *vo = v;
  *n = count;
  *known = true;
  return NND_OK;
}

nnd_status nnd__si_const_ints(nnd__infer *c, int i, int64_t max, int64_t *buf, int64_t *n,
                              bool *known) {
  const nnd_value *v = NULL;
  nnd_status st = known_data(c, i, max, &v, n, known);
  if (st != NND_OK || !*known) return st;
  if (!nnd__si_is_int(v->dtype) && v->dtype != NND_DTYPE_BOOL)
    return nnd__si_fail(c, "input %d ('%s') holds %s values where integers are expected", i,
                        v->name, nnd_dtype_name(v->dtype));
  for (int64_t k = 0; k < *n; k++)
    if (!nnd_value_read_i64(v, k, &buf[k]))
      return nnd__si_fail(c, "input %d ('%s'): value %lld does not fit int64", i, v->name,
                          (long long)k);
  return NND_OK;
}

nnd_status nnd__si_const_f64(nnd__infer *c, int i, int64_t max, double *buf, int64_t *n,
                             bool *known) {
  const nnd_value *v = NULL;
  nnd_status st = known_data(c, i, max, &v, n, known);
  if (st != NND_OK || !*known) return st;
  for (int64_t k = 0; k < *n; k++)
    if (!nnd_value_read_f64(v, k, &buf[k]))
      return nnd__si_fail(c, "input %d ('%s') holds %s values where numbers are expected", i,
                          v->name, nnd_dtype_name(v->dtype));
  return NND_OK;
}

nnd_status nnd__si_input_sym(nnd__infer *c, int i, nnd__symvec *out, bool *have) {
  *have = false;
  int32_t id = nnd__si_in_id(c, i);
  if (id < 0) return NND_OK;
  if (c->symtab && c->symtab[id]) {
    *out = *c->symtab[id];
    *have = true;
    return NND_OK;
  }
  const nnd_value *v = &c->g->values[id];
  if (!v->data || !(nnd__si_is_int(v->dtype) || v->dtype == NND_DTYPE_BOOL)) return NND_OK;
  int64_t n;
  nnd_status st = nnd__si_data_numel(c, v, &n);
  if (st != NND_OK || n > NND__FOLD_MAX) return st;
  for (int64_t k = 0; k < n; k++) {
    nnd__symint *e = &out->e[k];
    e->known = nnd_value_read_i64(v, k, &e->v);
    if (!e->known) e->v = 0;
    e->sym = NULL;
    e->origin_value = -1;
    e->origin_dim = 0;
  }
  out->n = n;
  *have = true;
  return NND_OK;
}

void nnd__si_slice_range(int64_t dim, int64_t start, int64_t end, int64_t step, int64_t *first,
                         int64_t *count) {
  if (start < 0) start += dim; /* no overflow: dim >= 0 */
  if (end < 0) end += dim;
  if (step > 0) {
    start = start < 0 ? 0 : start > dim ? dim : start;
    end = end < 0 ? 0 : end > dim ? dim : end;
    *first = start;
    *count = end > start ? (end - start - 1) / step + 1 : 0;
  } else {
    start = start < 0 ? -1 : start > dim - 1 ? dim - 1 : start;
    end = end < -1 ? -1 : end > dim - 1 ? dim - 1 : end;
    *first = start;
    if (start <= end || start < 0)
      *count = 0;
    else if (step == INT64_MIN)
      *count = 1;
    else
      *count = (start - end - 1) / -step + 1;
  }
}
