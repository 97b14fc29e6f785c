/* Planning helpers and phases A (shapes, folding) and C (steps) of
 * engine_internal.h: what every op planner uses to read its operands,
 * create its outputs and emit its steps. */
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine/engine_internal.h"
#include "util/bytes.h"
#include "util/checked_math.h"
#include "util/safe_text.h"

nnd_status nnd__node_error(nnd_engine *e, int32_t id, nnd_error *err, nnd_status st,
                           const char *fmt, ...) {
  const nnd_node *nd = &e->g->nodes[id];
  char msg[768];
  va_list ap;
  va_start(ap, fmt);
  nnd__format_line(msg, sizeof msg, fmt, ap);
  va_end(ap);
  return nnd_error_set(err, st, "node '%s' (%s): %s", nd->name,
                       nd->prov.op_type ? nd->prov.op_type : nnd_op_name(nd->op), msg);
}

void *nnd__emem(nnd_engine *e, size_t count, size_t size) {
  return nnd_arena_alloc(e->mem, count ? count : 1, size ? size : 1);
}

int32_t nnd__in_value(const nnd_engine *e, int32_t id, int k) {
  const nnd_node *nd = &e->g->nodes[id];
  return k < nd->n_inputs ? nd->inputs[k] : -1;
}

evalue *nnd__in_ev(nnd_engine *e, int32_t id, int k) {
  int32_t v = nnd__in_value(e, id, k);
  return v >= 0 ? &e->v[v] : NULL;
}

void nnd__set_out(nnd_engine *e, int32_t id, int k, int rank, const int64_t *dims, bool is_float) {
  const nnd_node *nd = &e->g->nodes[id];
  if (k >= nd->n_outputs) return;
  evalue *ev = &e->v[nd->outputs[k]];
  ev->known = true;
  ev->rank = rank;
  for (int i = 0; i < rank; i++)
    ev->dims[i] = dims[i];
  ev->is_float = is_float;
  /* Channels-last graphs (TFLite, Keras): outputs keep the input's layout. */
  evalue *x = nnd__in_ev(e, id, 0);
  if (x && x->nhwc && rank == x->rank) ev->nhwc = true;
  if (e->g->values[nd->outputs[k]].layout == NND_LAYOUT_NHWC) ev->nhwc = true;
}

bool nnd__axis(int64_t axis, int rank, int *out) {
  if (axis < -rank || axis >= (rank ? rank : 1)) return false;
  *out = (int)(axis < 0 ? axis + rank : axis);
  return true;
}

void nnd__cl_dims(const int64_t *l, int64_t *p) {
  p[0] = l[0];
  p[1] = l[2];
  p[2] = l[3];
  p[3] = l[1];
}

int nnd__planned_dims(const nnd_engine *e, int32_t vid, bool cl, int64_t *dims) {
  const evalue *ev = &e->v[vid];
  if (cl)
    nnd__cl_dims(ev->dims, dims);
  else
    memcpy(dims, ev->dims, (size_t)ev->rank * sizeof *dims);
  return ev->rank;
}

/* Elements and bytes of a tensor of `dims`; false when they overflow (a
 * shape from the file can say 10^10 x 10^10). Bytes stay below SIZE_MAX / 2
 * so the memory plan can round and add them. */
static bool tensor_size(int rank, const int64_t *dims, size_t elem, int64_t *numel, size_t *bytes) {
  int64_t n = 1;
  for (int i = 0; i < rank; i++)
    if (!nnd__mul_i64(n, dims[i], &n)) return false;
  size_t b;
  if (!nnd__mul_size((size_t)n, elem, &b) || b > SIZE_MAX / 2) return false;
  *numel = n;
  *bytes = b;
  return true;
}

static size_t esize(nnd_dtype d) { return nnd_dtype_size(d); }

/* ---------------------------------------------------- memory accounting */

bool nnd__oom(nnd_engine *e, int32_t value, size_t bytes) {
  if (!e->oom.bytes) {
    e->oom.bytes = bytes ? bytes : 1;
    e->oom.value = value;
    e->oom.over_budget = false;
  }
  return false;
}

bool nnd__hold(nnd_engine *e, int32_t value, size_t bytes) {
  const size_t max = e->opt.max_memory;
  if (bytes == SIZE_MAX) return nnd__oom(e, value, bytes);
  if (max && (bytes > max || e->held_bytes > max - bytes)) {
    if (!e->oom.bytes) {
      e->oom.bytes = bytes;
      e->oom.value = value;
      e->oom.over_budget = true;
    }
    return false;
  }
  e->held_bytes += bytes;
  return true;
}

void nnd__release(nnd_engine *e, size_t bytes) {
  e->held_bytes = bytes < e->held_bytes ? e->held_bytes - bytes : 0;
}

nnd_status nnd__oom_error(nnd_engine *e, int32_t id, const char *detail, nnd_error *err) {
  char what[320], a[NND_BYTES_FMT_SIZE], b[NND_BYTES_FMT_SIZE], msg[768];
  const size_t bytes = e->oom.bytes;
  if (!bytes) {
    snprintf(msg, sizeof msg, "%s", detail && *detail ? detail : "out of memory");
  } else {
    if (e->oom.value >= 0)
      snprintf(what, sizeof what, "tensor '%s'", e->g->values[e->oom.value].name);
    else
      snprintf(what, sizeof what, "its packed weights");
    if (bytes == SIZE_MAX)
      snprintf(msg, sizeof msg, "%s would need more than 2^63 bytes (its shape overflows)", what);
    else if (e->oom.over_budget && e->held_bytes) {
      char h[NND_BYTES_FMT_SIZE];
      snprintf(msg, sizeof msg,
               "%s needs %s (%zu bytes) on top of the %s of constants and weights held so far, "
               "over the memory budget of %s",
               what, nnd__fmt_bytes(bytes, a), bytes, nnd__fmt_bytes(e->held_bytes, h),
               nnd__fmt_bytes(e->opt.max_memory, b));
    } else if (e->oom.over_budget)
      snprintf(msg, sizeof msg, "%s needs %s (%zu bytes), over the memory budget of %s", what,
               nnd__fmt_bytes(bytes, a), bytes, nnd__fmt_bytes(e->opt.max_memory, b));
    else
      snprintf(msg, sizeof msg, "out of memory allocating %s (%zu bytes) for %s",
               nnd__fmt_bytes(bytes, a), bytes, what);
  }
  if (id < 0) return nnd_error_set(err, NND_ERR_NOMEM, "%s", msg);
  return nnd__node_error(e, id, err, NND_ERR_NOMEM, "%s", msg);
}

/* ------------------------------------------------------------ tensors */

static int32_t new_tensor(nnd_engine *e) {
  if (e->n_t == e->cap_t) {
    int32_t cap = e->cap_t ? e->cap_t * 2 : 256;
    etensor *t = realloc(e->t, (size_t)cap * sizeof *t);
    if (!t) return -1;
    e->t = t;
    e->cap_t = cap;
  }
  etensor *t = &e->t[e->n_t];
  memset(t, 0, sizeof *t);
  t->value = -1;
  t->alias_of = -1;
  t->buf = -1;
  return e->n_t++;
}

/* A constant tensor with freshly allocated (zeroed) data. */
int32_t nnd__const_tensor(nnd_engine *e, int32_t value, nnd_dtype dtype, int rank,
                          const int64_t *dims_in) {
  /* dims_in may point into e->t, which new_tensor can move. */
  int64_t dims[NND_MAX_RANK];
  memcpy(dims, dims_in, (size_t)rank * sizeof *dims);
  int64_t numel;
  size_t bytes;
  if (!tensor_size(rank, dims, esize(dtype), &numel, &bytes)) bytes = SIZE_MAX;
  if (!nnd__hold(e, value, bytes)) return -1;
  void *data = calloc(1, bytes ? bytes : 1);
  if (!data) {
    nnd__release(e, bytes);
    return nnd__oom(e, value, bytes), -1;
  }
  int32_t id = new_tensor(e);
  if (id < 0) {
    nnd__release(e, bytes);
    free(data);
    return -1;
  }
  etensor *t = &e->t[id];
  t->is_const = true;
  t->owns = true;
  t->dtype = dtype;
  t->rank = rank;
  memcpy(t->dims, dims, (size_t)rank * sizeof *dims);
  t->numel = numel;
  t->data = data;
  t->value = value;
  return id;
}

int32_t nnd__runtime_tensor(nnd_engine *e, int32_t value, int rank, const int64_t *dims_in,
                            bool cl) {
  int64_t dims[NND_MAX_RANK], numel;
  memcpy(dims, dims_in, (size_t)rank * sizeof *dims);
  size_t bytes;
  if (!tensor_size(rank, dims, e->rt_size, &numel, &bytes)) return nnd__oom(e, value, SIZE_MAX), -1;
  int32_t id = new_tensor(e);
  if (id < 0) return -1;
  etensor *t = &e->t[id];
  t->dtype = e->rt;
  t->rank = rank;
  memcpy(t->dims, dims, (size_t)rank * sizeof *dims);
  t->numel = numel;
  t->cl = cl;
  t->value = value;
  return id;
}

int32_t nnd__root(const nnd_engine *e, int32_t id) {
  while (e->t[id].alias_of >= 0)
    id = e->t[id].alias_of;
  return id;
}

/* A constant twin of const tensor `base`: channels-last (aligned to rank 4
 * first) and/or converted to float32. */
static int32_t const_twin(nnd_engine *e, int32_t value, int32_t base, bool cl, bool to32) {
  const etensor *b = &e->t[base];
  int rank = b->rank;
  int64_t dims[NND_MAX_RANK];
  memcpy(dims, b->dims, sizeof dims);
  if (cl) {
    if (rank > 4) return -1;
    int pad = 4 - rank;
    for (int i = 3; i >= 0; i--)
      dims[i] = i >= pad ? b->dims[i - pad] : 1;
    rank = 4;
  }
  int64_t phys[NND_MAX_RANK];
  memcpy(phys, dims, sizeof phys);
  if (cl) nnd__cl_dims(dims, phys);
  nnd_dtype dt = to32 && b->dtype == NND_DTYPE_F64 ? NND_DTYPE_F32 : b->dtype;
  int32_t id = nnd__const_tensor(e, value, dt, rank, phys);
  if (id < 0) return -1;
  b = &e->t[base]; /* new_const may have moved the array */
  etensor *t = &e->t[id];
  t->cl = cl;
  const void *src = b->data;
  void *tmp = NULL;
  const size_t tmp_bytes = (size_t)b->numel * esize(b->dtype) + 1;
  if (cl) {
    if (!nnd__hold(e, value, tmp_bytes)) return -1;
    tmp = malloc(tmp_bytes);
    if (!tmp) {
      nnd__release(e, tmp_bytes);
      return nnd__oom(e, value, tmp_bytes), -1;
    }
    static const int perm[4] = {0, 2, 3, 1};
    nnd__transpose(esize(b->dtype), 4, dims, perm, b->data, tmp);
    src = tmp;
  }
  if (dt != b->dtype)
    nnd__f64_to_f32(src, t->data, t->numel);
  else
    memcpy(t->data, src, (size_t)t->numel * esize(dt));
  if (tmp) {
    free(tmp);
    nnd__release(e, tmp_bytes);
  }
  return id;
}

nnd_status nnd__step_transpose(nnd_engine *e, const step *s, nnd_error *err) {
  const transpose_params *p = s->p;
  const etensor *x = nnd__t(e, s->in[0]);
  nnd__transpose(esize(x->dtype), p->rank, p->in_dims, p->perm, x->data, nnd__data(e, s->out[0]));
  return NND_OK;
}

int32_t nnd__operand(nnd_engine *e, int32_t value, bool cl, nnd_error *err) {
  evalue *ev = &e->v[value];
  if (ev->is_const) {
    const bool to32 = !e->folding && !e->ref && ev->is_float;
    int32_t base = ev->tid[0][0];
    if (!cl && !to32) return base;
    if (ev->tid[cl][to32] >= 0) return ev->tid[cl][to32];
    int32_t id = const_twin(e, value, base, cl, to32);
    if (id < 0) {
      nnd_error_set(err, NND_ERR_NOMEM, "out of memory preparing constant '%s'",
                    e->g->values[value].name);
      return -1;
    }
    ev->tid[cl][to32] = id;
    return id;
  }
  if (ev->tid[cl][0] >= 0) return ev->tid[cl][0];
  int32_t src = ev->tid[!cl][0];
  if (src < 0 || ev->rank != 4) {
    nnd_error_set(err, NND_ERR_INTERNAL, "value '%s' is not available in the %s layout",
                  e->g->values[value].name, cl ? "channels-last" : "logical");
    return -1;
  }
  /* Layout conversion: free when channels or pixels are 1 (same order). */
  const int64_t *l = ev->dims;
  int64_t phys[4];
  nnd__cl_dims(l, phys);
  const int64_t *to = cl ? phys : l;
  int32_t id;
  if (l[1] == 1 || l[2] * l[3] == 1) {
    id = new_tensor(e);
    if (id < 0) goto nomem;
    etensor *t = &e->t[id];
    const etensor *st = &e->t[src];
    t->dtype = st->dtype;
    t->rank = 4;
    memcpy(t->dims, to, 4 * sizeof *to);
    t->numel = st->numel;
    t->cl = cl;
    t->value = value;
    t->alias_of = nnd__root(e, src);
  } else {
    id = nnd__runtime_tensor(e, value, 4, to, cl);
    if (id < 0) goto nomem;
    transpose_params *p = nnd__emem(e, 1, sizeof *p);
    if (!p) goto nomem;
    p->rank = 4;
    static const int to_cl[4] = {0, 2, 3, 1}, to_first[4] = {0, 3, 1, 2};
    memcpy(p->in_dims, cl ? l : phys, 4 * sizeof *l);
    memcpy(p->perm, cl ? to_cl : to_first, sizeof to_cl);
    if (nnd__emit(e, nnd__step_transpose, cl ? "to_nhwc" : "to_nchw", p, &src, 1, &id, 1, -1,
                  err) != NND_OK)
      return -1;
    e->stats.n_layout_conversions++;
  }
  ev->tid[cl][0] = id;
  return id;
nomem:
  nnd_error_set(err, NND_ERR_NOMEM, "out of memory planning a layout conversion");
  return -1;
}

int32_t nnd__output(nnd_engine *e, int32_t id, int k, int rank, const int64_t *dims, bool cl) {
  int32_t value = e->g->nodes[id].outputs[k];
  evalue *ev = &e->v[value];
  int32_t t;
  if (e->folding) {
    t = nnd__const_tensor(e, value, ev->is_float ? NND_DTYPE_F64 : NND_DTYPE_I64, rank, dims);
    ev->is_const = true;
  } else {
    t = nnd__runtime_tensor(e, value, rank, dims, cl);
  }
  if (t >= 0) ev->tid[cl][0] = t;
  return t;
}

int32_t nnd__output_alias(nnd_engine *e, int32_t id, int k, int32_t src, int rank,
                          const int64_t *dims_in) {
  int64_t dims[NND_MAX_RANK];
  memcpy(dims, dims_in, (size_t)rank * sizeof *dims);
  int32_t value = e->g->nodes[id].outputs[k];
  evalue *ev = &e->v[value];
  if (e->folding) {
    int32_t t = nnd__const_tensor(e, value, e->t[src].dtype, rank, dims);
    if (t < 0) return -1;
    memcpy(e->t[t].data, e->t[src].data, (size_t)e->t[t].numel * esize(e->t[t].dtype));
    ev->is_const = true;
    ev->tid[0][0] = t;
    return t;
  }
  int32_t t = new_tensor(e);
  if (t < 0) return -1;
  const etensor *s = &e->t[src];
  etensor *o = &e->t[t];
  o->dtype = s->dtype;
  o->rank = rank;
  memcpy(o->dims, dims, (size_t)rank * sizeof *dims);
  o->numel = s->numel;
  o->cl = s->cl && rank == s->rank && memcmp(dims, s->dims, (size_t)rank * sizeof *dims) == 0;
  o->value = value;
  o->alias_of = nnd__root(e, src);
  ev->tid[o->cl][0] = t;
  return t;
}

nnd_status nnd__emit(nnd_engine *e, step_fn fn, const char *what, void *params, const int32_t *in,
                     int n_in, const int32_t *out, int n_out, int inplace_in, nnd_error *err) {
  step s = {0};
  s.fn = fn;
  s.what = what;
  s.node = e->cur_node;
  s.n_in = n_in;
  s.n_out = n_out;
  s.p = params;
  s.inplace_in = inplace_in;
  s.in = nnd__emem(e, (size_t)n_in, sizeof *s.in);
  s.out = nnd__emem(e, (size_t)n_out, sizeof *s.out);
  if (!s.in || !s.out) return nnd_error_set(err, NND_ERR_NOMEM, "out of memory planning steps");
  if (n_in) memcpy(s.in, in, (size_t)n_in * sizeof *in);
  memcpy(s.out, out, (size_t)n_out * sizeof *out);
  if (e->folding) return fn(e, &s, err);
  if (e->n_s == e->cap_s) {
    int32_t cap = e->cap_s ? e->cap_s * 2 : 256;
    step *ns = realloc(e->s, (size_t)cap * sizeof *ns);
    if (!ns) return nnd_error_set(err, NND_ERR_NOMEM, "out of memory planning steps");
    e->s = ns;
    e->cap_s = cap;
  }
  for (int i = 0; i < n_in; i++)
    if (in[i] >= 0) e->t[in[i]].used = true;
  for (int i = 0; i < n_out; i++)
    if (out[i] >= 0) e->t[out[i]].used = true;
  e->s[e->n_s++] = s;
  return NND_OK;
}

nnd_status nnd__emit_one_to_one(nnd_engine *e, int32_t id, step_fn fn, const char *what,
                                nnd_error *err) {
  const nnd_node *nd = &e->g->nodes[id];
  const evalue *out = &e->v[nd->outputs[0]];
  int32_t x = nnd__operand(e, nd->inputs[0], false, err);
  if (x < 0) return err->status;
  int32_t y = nnd__output(e, id, 0, out->rank, out->dims, false);
  if (y < 0) return nnd_error_set(err, NND_ERR_NOMEM, "out of memory");
  return nnd__emit(e, fn, what, e->n[id].params, &x, 1, &y, 1, -1, err);
}

void nnd__emit_destroy(nnd_engine *e, void (*destroy)(void *p)) {
  if (!e->folding && e->n_s > 0) e->s[e->n_s - 1].destroy = destroy;
}

/* --------------------------------------------------- constant inputs */

const double *nnd__const_f64(nnd_engine *e, int32_t value) {
  if (value < 0 || !e->v[value].is_const) return NULL;
  const etensor *t = &e->t[e->v[value].tid[0][0]];
  return t->dtype == NND_DTYPE_F64 ? t->data : NULL;
}

nnd_status nnd__const_ints(nnd_engine *e, int32_t id, int k, int64_t *out, int max, int *count,
                           nnd_error *err) {
  int32_t v = nnd__in_value(e, id, k);
  if (v < 0) return nnd__node_error(e, id, err, NND_ERR_GRAPH, "input %d is missing", k);
  const evalue *ev = &e->v[v];
  if (!ev->is_const)
    return nnd__node_error(e, id, err, NND_ERR_UNSUPPORTED,
                           "input %d ('%s') must be known before running (a constant or shape "
                           "arithmetic); it is computed at run time",
                           k, e->g->values[v].name);
  const etensor *t = &e->t[ev->tid[0][0]];
  if (t->numel > max)
    return nnd__node_error(e, id, err, NND_ERR_UNSUPPORTED, "input %d ('%s') has %lld elements", k,
                           e->g->values[v].name, (long long)t->numel);
  for (int64_t i = 0; i < t->numel; i++) {
    if (t->dtype == NND_DTYPE_I64) {
      out[i] = ((const int64_t *)t->data)[i];
    } else {
      double d = ((const double *)t->data)[i];
      if (!(d >= -9.2e18 && d <= 9.2e18))
        return nnd__node_error(e, id, err, NND_ERR_GRAPH, "input %d holds %g, not an integer", k,
                               d);
      out[i] = (int64_t)d;
    }
  }
  *count = (int)t->numel;
  return NND_OK;
}

nnd_status nnd__const_scalar(nnd_engine *e, int32_t id, int k, double *out, bool *present,
                             nnd_error *err) {
  int32_t v = nnd__in_value(e, id, k);
  *present = false;
  if (v < 0) return NND_OK;
  const evalue *ev = &e->v[v];
  if (!ev->is_const)
    return nnd__node_error(e, id, err, NND_ERR_UNSUPPORTED, "input %d ('%s') must be a constant", k,
                           e->g->values[v].name);
  const etensor *t = &e->t[ev->tid[0][0]];
  if (t->numel < 1)
    return nnd__node_error(e, id, err, NND_ERR_GRAPH, "input %d ('%s') is empty", k,
                           e->g->values[v].name);
  *out = t->dtype == NND_DTYPE_I64 ? (double)((const int64_t *)t->data)[0]
                                   : ((const double *)t->data)[0];
  *present = true;
  return NND_OK;
}

/* ----------------------------------------------------- shared steps */

nnd_status nnd__step_unary(nnd_engine *e, const step *s, nnd_error *err) {
  const nnd__unary *u = s->p;
  const etensor *x = nnd__t(e, s->in[0]);
  void *y = nnd__data(e, s->out[0]);
  switch (x->dtype) {
  case NND_DTYPE_F64: nnd__unary_f64(u, x->data, y, x->numel); return NND_OK;
  case NND_DTYPE_F32: nnd__unary_f32(u, x->data, y, x->numel); return NND_OK;
  case NND_DTYPE_I64:
    if (nnd__unary_i64(u, x->data, y, x->numel)) return NND_OK;
    return nnd__node_error(e, s->node, err, NND_ERR_UNSUPPORTED, "%s on integers",
                           nnd__unary_name(u->kind));
  default:
    return nnd_error_set(err, NND_ERR_INTERNAL, "unary step on %s", nnd_dtype_name(x->dtype));
  }
}

nnd_status nnd__step_copy(nnd_engine *e, const step *s, nnd_error *err) {
  const etensor *x = nnd__t(e, s->in[0]);
  void *y = nnd__data(e, s->out[0]);
  if (y != x->data) memcpy(y, x->data, (size_t)x->numel * esize(x->dtype));
  return NND_OK;
}

nnd_status nnd__emit_node_act(nnd_engine *e, int32_t id, int32_t out, nnd_error *err) {
  const nnd_node *nd = &e->g->nodes[id];
  nnd__unary u;
  if (!nnd__unary_from_act(&nd->act, &u)) return NND_OK;
  if (out < 0)
    return nnd__node_error(e, id, err, NND_ERR_INTERNAL, "fused activation has no output");
  nnd__unary *p = nnd__emem(e, 1, sizeof *p);
  if (!p) return nnd_error_set(err, NND_ERR_NOMEM, "out of memory");
  *p = u;
  return nnd__emit(e, nnd__step_unary, nnd__unary_name(u.kind), p, &out, 1, &out, 1, 0, err);
}
