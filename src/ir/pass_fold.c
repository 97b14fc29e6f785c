/* Constant folding: a node whose inputs are all constants is computed now
 * and its outputs become constants (then the node goes). It covers what
 * exporters write around weights — Identity of a tied initialiser,
 * Constant nodes, Cast of float16 weights, Reshape/Transpose of weights,
 * arithmetic on initialisers — and turns the shape arithmetic that shape
 * inference already folded into plain constants. Ops it cannot compute
 * are left alone. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "ir/pass_util.h"
#include "nndiff/ir_edit.h"
#include "nndiff/op_info.h"
#include "nndiff/passes.h"

static bool is_float(nnd_dtype d) {
  return d == NND_DTYPE_F32 || d == NND_DTYPE_F64 || d == NND_DTYPE_F16 || d == NND_DTYPE_BF16;
}

static bool has_data(const nnd_value *v) {
  return v->data && (v->kind == NND_VALUE_CONSTANT || v->folded);
}

/* Stores x (or xi for integer targets, exact beyond 2^53) as element i. */
static bool store(nnd_dtype dt, void *buf, int64_t i, double x, int64_t xi, bool int_src) {
  unsigned char *p = (unsigned char *)buf + (size_t)i * nnd_dtype_size(dt);
  if (!int_src && !is_float(dt) && dt != NND_DTYPE_BOOL) {
    if (!(x > -9.2e18 && x < 9.2e18)) return false; /* NaN, inf, out of range: leave it */
    xi = (int64_t)x;
  }
  switch (dt) {
  case NND_DTYPE_F32: {
    float f = (float)x;
    memcpy(p, &f, 4);
    return true;
  }
  case NND_DTYPE_F64: memcpy(p, &x, 8); return true;
  case NND_DTYPE_F16: {
    uint16_t h = nnd_f32_to_f16((float)x);
    memcpy(p, &h, 2);
    return true;
  }
  case NND_DTYPE_BOOL: {
    uint8_t u = int_src ? xi != 0 : x != 0;
    memcpy(p, &u, 1);
    return true;
  }
  case NND_DTYPE_I8: {
    int8_t v = (int8_t)xi;
    memcpy(p, &v, 1);
    return true;
  }
  case NND_DTYPE_U8: {
    uint8_t v = (uint8_t)xi;
    memcpy(p, &v, 1);
    return true;
  }
  case NND_DTYPE_I32: {
    int32_t v = (int32_t)xi;
    memcpy(p, &v, 4);
    return true;
  }
  case NND_DTYPE_I64: memcpy(p, &xi, 8); return true;
  default: return false;
  }
}

typedef struct fold_out {
  nnd_dtype dtype;
  const void *data; /* borrowed (pass-through ops) or owned by `owned` */
  void *owned;
  size_t nbytes;
} fold_out;

static bool static_numel(const nnd_shape *s, int64_t *n) {
  return nnd_shape_is_static(s) && nnd_shape_numel(s, n);
}

static void strides_of(const nnd_shape *s, int64_t *st) {
  int64_t acc = 1;
  for (int d = s->rank - 1; d >= 0; d--) {
    st[d] = acc;
    acc *= s->dims[d].size;
  }
}

/* Numpy broadcasting: element index of input x for output coordinate. */
static int64_t bcast_index(const nnd_shape *xs, const nnd_shape *ys, const int64_t *coord) {
  int64_t idx = 0, acc = 1;
  for (int d = xs->rank - 1, yd = ys->rank - 1; d >= 0; d--, yd--) {
    int64_t size = xs->dims[d].size;
    int64_t c = size == 1 ? 0 : coord[yd];
    idx += c * acc;
    acc *= size;
  }
  return idx;
}

static void next_coord(const nnd_shape *s, int64_t *coord) {
  for (int d = s->rank - 1; d >= 0; d--) {
    if (++coord[d] < s->dims[d].size) return;
    coord[d] = 0;
  }
}

/* The math of the EVAL column of ops.def (UNARY ignores b). */
typedef double (*math_fn)(double a, double b);
#define UNARY_FN(name, expr)                                                                       \
  static double f_##name(double a, double b) {                                                     \
    (void)b;                                                                                       \
    return expr;                                                                                   \
  }
UNARY_FN(neg, -a)
UNARY_FN(sqrt, sqrt(a))
UNARY_FN(reciprocal, 1.0 / a)
UNARY_FN(abs, fabs(a))
UNARY_FN(exp, exp(a))
UNARY_FN(log, log(a))
UNARY_FN(floor, floor(a))
UNARY_FN(ceil, ceil(a))
#undef UNARY_FN
static double f_add(double a, double b) { return a + b; }
static double f_sub(double a, double b) { return a - b; }
static double f_mul(double a, double b) { return a * b; }
static double f_div(double a, double b) { return a / b; }
static double f_pow(double a, double b) { return pow(a, b); }
static double f_max(double a, double b) { return a > b ? a : b; }
static double f_min(double a, double b) { return a < b ? a : b; }
#define f_none NULL

#define EVAL(kind, fn) f_##fn
static const math_fn op_math[] = {
#define X(id, name, fam, io, dt, rule, cost, comm, subst, params, hp, act, eval, engine) eval,
#include "nndiff/ops.def"
#undef X
};
_Static_assert(sizeof op_math / sizeof op_math[0] == NND_OP_COUNT,
               "one fold function per line of ops.def");

/* Computes output 0 of node n from its constant inputs; false when this op
 * (or these dtypes, or this size) is not folded. */
static bool evaluate(const nnd_graph *g, const nnd_node *n, const nnd_pass_ctx *ctx, fold_out *o) {
  const nnd_value *y = &g->values[n->outputs[0]];
  const nnd_value *x = n->n_inputs > 0 && n->inputs[0] >= 0 ? &g->values[n->inputs[0]] : NULL;
  int64_t numel;
  if (!x || !static_numel(&y->shape, &numel) || numel > ctx->max_fold_elements) return false;
  if (n->act.kind != NND_ACT_NONE) return false;
  memset(o, 0, sizeof *o);
  const nnd_op_eval ev = nnd_op_info_get(n->op)->eval;
  if (ev == NND_EVAL_PASS || ev == NND_EVAL_VIEW) {
    /* Same bytes, another shape: borrow them. */
    if (nnd_value_data_count(x) != numel || x->dtype != y->dtype) return false;
    o->dtype = x->dtype;
    o->data = x->data;
    o->nbytes = x->nbytes;
    return true;
  }
  const math_fn math = op_math[n->op];
  const bool unary_math = ev == NND_EVAL_UNARY && math;
  bool unary = ev == NND_EVAL_CAST || unary_math;
  bool binary = ev == NND_EVAL_BINARY && math && n->n_inputs == 2 && n->inputs[1] >= 0;
  bool transpose = ev == NND_EVAL_TRANSPOSE;
  if (!unary && !binary && !transpose) return false;
  nnd_dtype out_dt = y->dtype;
  bool float_math = is_float(out_dt) || (n->op == NND_OP_CAST && is_float(n->attrs.to));
  if (n->op == NND_OP_CAST) out_dt = n->attrs.to;
  if (!is_float(out_dt) && out_dt != NND_DTYPE_I64 && out_dt != NND_DTYPE_I32 &&
      out_dt != NND_DTYPE_I8 && out_dt != NND_DTYPE_U8 && out_dt != NND_DTYPE_BOOL)
    return false;
  /* Analyses get arithmetic in double, kept as float64; a Cast or a
   * Transpose changes no value beyond the target dtype's rounding. */
  if (ctx->analysis && float_math && (binary || unary_math)) out_dt = NND_DTYPE_F64;
  size_t es = nnd_dtype_size(out_dt);
  void *buf = malloc((size_t)(numel ? numel : 1) * es);
  if (!buf) return false;
  bool ok = true;
  bool int_path = !is_float(x->dtype) && !float_math;
  if (transpose) {
    int r = x->shape.rank;
    int64_t xn;
    if (r != y->shape.rank || r < 1 || !static_numel(&x->shape, &xn) || xn != numel) ok = false;
    int64_t perm[NND_MAX_RANK], xst[NND_MAX_RANK], coord[NND_MAX_RANK] = {0};
    for (int d = 0; ok && d < r; d++) {
      perm[d] = n->attrs.n_perm == r ? n->attrs.perm[d] : r - 1 - d;
      if (perm[d] < 0 || perm[d] >= r) ok = false;
    }
    if (ok) strides_of(&x->shape, xst);
    for (int64_t i = 0; ok && i < numel; i++) {
      int64_t src = 0;
      for (int d = 0; d < r; d++)
        src += coord[d] * xst[perm[d]];
      double v = 0;
      int64_t vi = 0;
      ok = int_path ? nnd_value_read_i64(x, src, &vi) : nnd_value_read_f64(x, src, &v);
      ok = ok && store(out_dt, buf, i, v, vi, int_path);
      next_coord(&y->shape, coord);
    }
  } else if (unary) {
    if (nnd_value_data_count(x) != numel) ok = false;
    for (int64_t i = 0; ok && i < numel; i++) {
      double v = 0;
      int64_t vi = 0;
      ok = int_path ? nnd_value_read_i64(x, i, &vi) : nnd_value_read_f64(x, i, &v);
      ok = ok && store(out_dt, buf, i, unary_math ? math(v, 0) : v, vi, int_path);
    }
  } else {
    const nnd_value *b = &g->values[n->inputs[1]];
    int64_t coord[NND_MAX_RANK] = {0}, an, bn;
    if (!static_numel(&x->shape, &an) || !static_numel(&b->shape, &bn) ||
        x->shape.rank > y->shape.rank || b->shape.rank > y->shape.rank ||
        nnd_value_data_count(x) != an || nnd_value_data_count(b) != bn)
      ok = false;
    for (int64_t i = 0; ok && i < numel; i++) {
      double va = 0, vb = 0; /* math() runs before ok is checked */
      ok = nnd_value_read_f64(x, bcast_index(&x->shape, &y->shape, coord), &va) &&
           nnd_value_read_f64(b, bcast_index(&b->shape, &y->shape, coord), &vb);
      double r = math(va, vb);
      if (ok && !float_math) ok = r == floor(r) && fabs(r) < 9e15; /* exact integers only */
      ok = ok && store(out_dt, buf, i, r, (int64_t)(ok ? r : 0), !float_math);
      next_coord(&y->shape, coord);
    }
  }
  if (!ok) {
    free(buf);
    return false;
  }
  o->dtype = out_dt;
  o->owned = buf;
  o->data = buf;
  o->nbytes = (size_t)numel * es;
  return true;
}

static nnd_status run_fold(nnd_graph *g, const nnd_pass_ctx *ctx, int64_t *n_changes,
                           nnd_error *err) {
  *n_changes = 0;
  if (g->n_nodes == 0) return NND_OK;
  bool *remove = calloc((size_t)g->n_nodes, sizeof *remove);
  int32_t *order = malloc((size_t)g->n_nodes * sizeof *order);
  nnd_status st = NND_OK;
  if (!remove || !order) {
    st = nnd_error_set(err, NND_ERR_NOMEM, "out of memory folding constants");
    goto done;
  }
  if ((st = nnd_graph_topo_order(g, order, err)) != NND_OK) goto done;
  int64_t folded = 0;
  for (int32_t k = 0; k < g->n_nodes; k++) {
    int32_t id = order[k];
    const nnd_node *n = &g->nodes[id];
    if (n->op == NND_OP_UNSUPPORTED || n->n_outputs < 1) continue;
    /* Shape arithmetic shape inference already computed: every output
     * carries its value. */
    bool all_folded = true;
    for (int o = 0; o < n->n_outputs; o++)
      all_folded &= g->values[n->outputs[o]].folded && g->values[n->outputs[o]].data;
    if (all_folded) {
      for (int o = 0; o < n->n_outputs && st == NND_OK; o++) {
        nnd_value *v = &g->values[n->outputs[o]];
        st = nnd_graph_set_constant(g, n->outputs[o], v->dtype, NULL, v->data, v->nbytes, false,
                                    err);
      }
      if (st != NND_OK) goto done;
      remove[id] = true;
      folded++;
      continue;
    }
    if (n->n_outputs != 1 || n->n_inputs < 1) continue;
    bool all_const = true;
    for (int i = 0; i < n->n_inputs && all_const; i++)
      all_const = n->inputs[i] < 0 || has_data(&g->values[n->inputs[i]]);
    if (!all_const) continue;
    fold_out out;
    if (!evaluate(g, n, ctx, &out)) continue;
    const void *data = out.data;
    if (out.owned) {
      void *p = nnd_graph_alloc(g, out.nbytes ? out.nbytes : 1, 1);
      if (!p) {
        free(out.owned);
        st = nnd_error_set(err, NND_ERR_NOMEM, "out of memory folding '%s'", n->name);
        goto done;
      }
      memcpy(p, out.owned, out.nbytes);
      free(out.owned);
      data = p;
    }
    st = nnd_graph_set_constant(g, n->outputs[0], out.dtype, NULL, data, out.nbytes, false, err);
    if (st != NND_OK) goto done;
    remove[id] = true;
    folded++;
  }
  if (folded) st = nnd__pass_remove_nodes(g, ctx, remove, err);
  *n_changes = folded;
done:
  free(remove);
  free(order);
  return st;
}

const nnd_pass nnd_pass_fold_constants = {
    "fold_constants",
    "computes nodes whose inputs are all constants (Identity, Cast, Reshape, Transpose, "
    "arithmetic, shape arithmetic)",
    run_fold};
