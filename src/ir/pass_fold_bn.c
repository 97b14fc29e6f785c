/* BatchNorm folding: a BatchNorm with constant statistics, or a Mul / Add /
 * Sub by a per-channel constant, that is the only reader of a Conv,
 * ConvTranspose, Gemm or 2-D MatMul output with constant weights folds into
 * those weights and bias:
 *
 *   BN:  W' = W * s, b' = (b - mean) * s + beta,   s = gamma / sqrt(var + eps)
 *   Mul: W' = W * m, b' = b * m        Add/Sub: b' = b +- a
 *
 * Analysis form only (ctx->analysis): the folded tensors are new float64
 * constants computed in double precision, so a model folded here compares
 * with one a converter folded in float32 without this pass's own rounding;
 * a MatMul becomes a Gemm (transB 0) to carry its bias. The producer takes
 * the absorbed node's output value (taps keep their meaning) and its fused
 * activation. A standalone BatchNorm stays a BatchNorm: canonicalisation
 * reads it as a per-channel scale and shift.
 *
 * Each fold records the sum of the magnitudes of the terms that went into
 * every bias element (pass record, bias_terms), the scale at which a folded
 * bias is compared. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "ir/pass_util.h"

static double *read_all(const nnd_value *v, int64_t *n_out) {
  int64_t n = nnd_value_data_count(v);
  if (n <= 0) return NULL;
  double *out = malloc((size_t)n * sizeof *out);
  if (!out) return NULL;
  const unsigned char *p = v->data;
  if (v->dtype == NND_DTYPE_F32 || v->dtype == NND_DTYPE_F64) { /* the common cases, fast */
    for (int64_t i = 0; i < n; i++) {
      if (v->dtype == NND_DTYPE_F32) {
        float f;
        memcpy(&f, p + 4 * i, 4); /* file bytes may be unaligned */
        out[i] = f;
      } else {
        memcpy(&out[i], p + 8 * i, 8);
      }
    }
    *n_out = n;
    return out;
  }
  for (int64_t i = 0; i < n; i++)
    if (!nnd_value_read_f64(v, i, &out[i])) {
      free(out);
      return NULL;
    }
  *n_out = n;
  return out;
}

/* The linear node's parameters as doubles, with its output channels laid
 * out so element k of channel o is weight[widx(o, k)]. */
typedef struct linear {
  nnd_op op;
  double *weight, *bias, *terms;
  int64_t numel, C, per; /* elements, output channels, elements per channel */
  nnd_shape wshape;
  /* ConvTranspose [I, O/g, k...] */
  int64_t groups, opg, ipg, ks;
  bool cols; /* Gemm transB 0 / MatMul: W is [K, N], channel o is column o */
} linear;

static int64_t widx(const linear *l, int64_t o, int64_t k) {
  if (l->op == NND_OP_CONV_TRANSPOSE) {
    int64_t grp = o / l->opg, oo = o % l->opg, i = k / l->ks, s = k % l->ks;
    return ((grp * l->ipg + i) * l->opg + oo) * l->ks + s;
  }
  if (l->cols) return k * l->C + o;
  return o * l->per + k;
}

static void linear_free(linear *l) {
  free(l->weight), free(l->bias), free(l->terms);
  l->weight = l->bias = l->terms = NULL;
}

/* Whether producer p's weights can take a fold, and their channel layout
 * (nothing read yet: most candidates are residual Adds that do not fold). */
static bool linear_shape(const nnd_graph *g, int32_t p, linear *l) {
  const nnd_node *n = &g->nodes[p];
  memset(l, 0, sizeof *l);
  l->op = n->op;
  if (n->act.kind != NND_ACT_NONE || n->n_outputs != 1) return false;
  const nnd_value *w = nnd__const_input(g, n, 1);
  if (!w || !nnd__is_float_dtype(w->dtype) || !nnd_shape_is_static(&w->shape)) return false;
  int r = w->shape.rank;
  switch (n->op) {
  case NND_OP_CONV:
    if (r < 3 || n->attrs.conv.weight_layout != NND_WLAYOUT_OIHW) return false;
    l->C = w->shape.dims[0].size;
    break;
  case NND_OP_CONV_TRANSPOSE: {
    if (r < 3 || n->attrs.conv.weight_layout != NND_WLAYOUT_OIHW) return false;
    l->groups = n->attrs.conv.groups > 0 ? n->attrs.conv.groups : 1;
    l->opg = w->shape.dims[1].size;
    l->ipg = w->shape.dims[0].size / l->groups;
    l->C = l->opg * l->groups;
    int64_t io = w->shape.dims[0].size * w->shape.dims[1].size;
    l->ks = io > 0 ? nnd_value_data_count(w) / io : 0;
    break;
  }
  case NND_OP_GEMM:
    if (r != 2 || n->attrs.trans_a) return false;
    l->cols = !n->attrs.trans_b;
    l->C = w->shape.dims[n->attrs.trans_b ? 0 : 1].size;
    break;
  case NND_OP_MATMUL: {
    const nnd_value *x = &g->values[n->inputs[0]];
    if (r != 2 || x->shape.rank != 2 || n->n_inputs != 2) return false;
    l->cols = true;
    l->C = w->shape.dims[1].size;
    break;
  }
  default: return false;
  }
  if (l->C <= 0) return false;
  const nnd_value *b = n->op == NND_OP_MATMUL ? NULL : nnd__const_input(g, n, 2);
  if (n->op != NND_OP_MATMUL && n->n_inputs > 2 && n->inputs[2] >= 0 && !b)
    return false; /* a computed bias: nothing to fold into */
  l->numel = nnd_value_data_count(w);
  return l->numel > 0 && l->numel % l->C == 0;
}

/* Reads the weights and bias of p (linear_shape said yes) as doubles. */
static bool linear_read(const nnd_graph *g, const nnd_pass_ctx *ctx, int32_t p, linear *l) {
  const nnd_node *n = &g->nodes[p];
  const nnd_value *w = nnd__const_input(g, n, 1);
  l->weight = read_all(w, &l->numel);
  l->bias = calloc((size_t)l->C, sizeof *l->bias);
  l->terms = calloc((size_t)l->C, sizeof *l->terms);
  if (!l->weight || !l->bias || !l->terms || l->numel % l->C) {
    linear_free(l);
    return false;
  }
  l->per = l->numel / l->C;
  l->wshape = w->shape;
  double alpha = n->op == NND_OP_GEMM ? (double)n->attrs.alpha : 1.0;
  if (alpha != 1.0)
    for (int64_t i = 0; i < l->numel; i++)
      l->weight[i] *= alpha;
  const nnd_value *b = n->op == NND_OP_MATMUL ? NULL : nnd__const_input(g, n, 2);
  if (b) {
    int64_t nb = 0;
    double *bv = read_all(b, &nb);
    double scale = n->op == NND_OP_GEMM ? (double)n->attrs.beta : 1.0;
    if (!bv || (nb != l->C && !(n->op == NND_OP_GEMM && nb == 1))) {
      free(bv);
      linear_free(l);
      return false;
    }
    for (int64_t o = 0; o < l->C; o++)
      l->bias[o] = scale * bv[nb == 1 ? 0 : o];
    free(bv);
  }
  int32_t tv = nnd__pass_bias_terms(ctx, p);
  const nnd_value *t = tv >= 0 ? &g->values[tv] : NULL;
  for (int64_t o = 0; o < l->C; o++) {
    double x = 0;
    l->terms[o] = t && nnd_value_read_f64(t, o, &x) ? x : fabs(l->bias[o]);
  }
  return true;
}

/* Per-channel vector of constant k broadcast over y (channel axis cax):
 * a scalar, or ones everywhere but the channel axis. */
static bool per_channel(const nnd_value *k, const nnd_shape *ys, int cax, int64_t C, double *vec) {
  if (!k || ys->rank < 1 || !nnd__is_float_dtype(k->dtype)) return false;
  int64_t n = nnd_value_data_count(k);
  if ((n != 1 && n != C) || k->shape.rank > ys->rank) return false;
  if (n == C && C != 1) {
    int off = ys->rank - k->shape.rank;
    for (int d = 0; d < k->shape.rank; d++) {
      int64_t s = k->shape.dims[d].size;
      if (d + off == cax ? s != C : s != 1) return false;
    }
  }
  for (int64_t c = 0; c < C; c++)
    if (!nnd_value_read_f64(k, n == 1 ? 0 : c, &vec[c])) return false;
  return true;
}

/* What consumer c does per channel: y = x * mul[o] + add[o] (for a
 * BatchNorm mul = s, add = beta - mean * s). Returns its role, or 0 when c
 * does not fold. */
typedef struct affine {
  double *mul, *add, *mean, *beta; /* mean/beta: BatchNorm only (bias terms) */
} affine;

static void affine_free(affine *a) { free(a->mul), free(a->add), free(a->mean), free(a->beta); }

static nnd_merge_role plan_consumer(const nnd_graph *g, const nnd_node *c, int32_t x, int64_t C,
                                    affine *f) {
  memset(f, 0, sizeof *f);
  const nnd_value *xv = &g->values[x];
  int cax = nnd__channel_axis(xv);
  if (c->op == NND_OP_BATCH_NORM) {
    if (c->inputs[0] != x || c->n_inputs < 5 || (xv->shape.rank > 2 && cax != 1)) return 0;
    const nnd_value *p[4];
    for (int k = 0; k < 4; k++) {
      p[k] = nnd__const_input(g, c, k + 1);
      if (!p[k] || nnd_value_data_count(p[k]) != C) return 0;
    }
    f->mul = malloc((size_t)C * sizeof *f->mul);
    f->add = malloc((size_t)C * sizeof *f->add);
    f->mean = malloc((size_t)C * sizeof *f->mean);
    f->beta = malloc((size_t)C * sizeof *f->beta);
    if (!f->mul || !f->add || !f->mean || !f->beta) return 0;
    for (int64_t o = 0; o < C; o++) {
      double gamma = 0, var = 0;
      nnd_value_read_f64(p[0], o, &gamma);
      nnd_value_read_f64(p[1], o, &f->beta[o]);
      nnd_value_read_f64(p[2], o, &f->mean[o]);
      nnd_value_read_f64(p[3], o, &var);
      f->mul[o] = gamma / sqrt(var + (double)c->attrs.epsilon);
    }
    return NND_MERGE_BATCHNORM;
  }
  bool mul = c->op == NND_OP_MUL, add = c->op == NND_OP_ADD;
  bool sub = c->op == NND_OP_SUB && c->inputs[0] == x;
  if ((!mul && !add && !sub) || c->n_inputs != 2 || c->inputs[0] == c->inputs[1]) return 0;
  if (g->values[c->outputs[0]].shape.rank != xv->shape.rank) return 0;
  const nnd_value *k = nnd__const_input(g, c, c->inputs[0] == x ? 1 : 0);
  double *vec = k ? malloc((size_t)C * sizeof *vec) : NULL;
  if (!vec || !per_channel(k, &xv->shape, cax, C, vec)) {
    free(vec);
    return 0;
  }
  if (sub)
    for (int64_t o = 0; o < C; o++)
      vec[o] = -vec[o];
  if (mul)
    f->mul = vec;
  else
    f->add = vec;
  return mul ? NND_MERGE_SCALE : NND_MERGE_BIAS;
}

/* Applies the consumer's per-channel affine map to l. */
static void apply(const affine *f, nnd_merge_role role, linear *l) {
  for (int64_t o = 0; o < l->C; o++) {
    if (f->mul)
      for (int64_t k = 0; k < l->per; k++)
        l->weight[widx(l, o, k)] *= f->mul[o];
    if (role == NND_MERGE_BATCHNORM) {
      double s = f->mul[o];
      l->terms[o] = fabs(l->bias[o] * s) + fabs(f->mean[o] * s) + fabs(f->beta[o]);
      l->bias[o] = (l->bias[o] - f->mean[o]) * s + f->beta[o];
    } else if (f->mul) {
      l->bias[o] *= f->mul[o];
      l->terms[o] *= fabs(f->mul[o]);
    } else {
      l->bias[o] += f->add[o];
      l->terms[o] += fabs(f->add[o]);
    }
  }
}

/* Writes l back into node p as new float64 constants. */
static nnd_status store(nnd_graph *g, const nnd_pass_ctx *ctx, int32_t p, const linear *l,
                        nnd_error *err) {
  int32_t wv = -1, bv = -1, tv = -1;
  nnd_shape cs = {0};
  cs.rank = 1;
  cs.dims[0].size = l->C;
  const char *base = g->nodes[p].name;
  nnd_status st =
      nnd__pass_add_f64(g, base, "folded_weight", &l->wshape, l->weight, l->numel, &wv, err);
  if (st == NND_OK) st = nnd__pass_add_f64(g, base, "folded_bias", &cs, l->bias, l->C, &bv, err);
  if (st == NND_OK)
    st = nnd__pass_add_f64(g, base, "folded_bias_terms", &cs, l->terms, l->C, &tv, err);
  if (st != NND_OK) return st;
  nnd_node *n = &g->nodes[p];
  if (n->n_inputs < 3) {
    int32_t *in = nnd_graph_alloc(g, 3, sizeof *in);
    if (!in) return nnd_error_set(err, NND_ERR_NOMEM, "out of memory folding into '%s'", n->name);
    in[0] = n->inputs[0];
    in[1] = n->inputs[1];
    n->inputs = in;
    n->n_inputs = 3;
  }
  n->inputs[1] = wv;
  n->inputs[2] = bv;
  if (n->op == NND_OP_MATMUL) {
    nnd_attrs a;
    nnd_attrs_init(&a);
    a.alpha = a.beta = 1.f;
    a.trans_a = a.trans_b = false;
    n->op = NND_OP_GEMM;
    n->attrs = a;
  } else if (n->op == NND_OP_GEMM) {
    n->attrs.alpha = n->attrs.beta = 1.f;
  }
  nnd__pass_set_bias_terms(ctx, p, tv);
  return NND_OK;
}

static nnd_status run_fold_bn(nnd_graph *g, const nnd_pass_ctx *ctx, int64_t *n_changes,
                              nnd_error *err) {
  *n_changes = 0;
  if (!ctx->analysis || g->n_nodes == 0) return NND_OK;
  int32_t *reads = nnd__read_counts(g);
  bool *remove = calloc((size_t)g->n_nodes, sizeof *remove);
  bool *touched = calloc((size_t)g->n_nodes, sizeof *touched);
  int32_t *into = malloc((size_t)g->n_nodes * sizeof *into);
  if (!reads || !remove || !touched || !into) {
    free(reads), free(remove), free(touched), free(into);
    return nnd_error_set(err, NND_ERR_NOMEM, "out of memory folding BatchNorm");
  }
  nnd_status st = NND_OK;
  int64_t n = 0;
  int32_t n_nodes = g->n_nodes;
  for (int32_t i = 0; i < n_nodes && st == NND_OK; i++) {
    const nnd_node *c = &g->nodes[i];
    if (touched[i] || c->n_outputs < 1 || c->n_inputs < 1) continue;
    if (c->op != NND_OP_BATCH_NORM && c->op != NND_OP_MUL && c->op != NND_OP_ADD &&
        c->op != NND_OP_SUB)
      continue;
    /* the data input: the one a linear node produces */
    int32_t x = -1;
    for (int k = 0; k < (c->op == NND_OP_BATCH_NORM ? 1 : c->n_inputs) && x < 0; k++) {
      int32_t v = c->inputs[k];
      if (v >= 0 && g->values[v].producer >= 0 && !nnd__is_const_value(&g->values[v])) x = v;
    }
    if (x < 0 || reads[x] != 1 || g->values[x].is_output || nnd__pass_kept(ctx, x)) continue;
    if (c->op == NND_OP_BATCH_NORM ? c->n_outputs != 1 : c->n_outputs != 1) continue;
    int32_t p = g->values[x].producer;
    if (touched[p] || g->nodes[p].outputs[0] != x) continue;
    linear l;
    affine f;
    if (!linear_shape(g, p, &l)) continue;
    nnd_merge_role role = plan_consumer(g, c, x, l.C, &f);
    if (role && !linear_read(g, ctx, p, &l)) role = 0;
    if (role) {
      apply(&f, role, &l);
      st = store(g, ctx, p, &l, err);
      if (st == NND_OK) st = nnd__pass_merge(ctx, p, i, role, err);
      if (st == NND_OK) {
        /* one fold per node and run: a chain (BN then Mul) takes the next
         * round, and the graph stays whole while constants are added */
        touched[p] = touched[i] = remove[i] = true;
        into[i] = p;
        n++;
      }
    }
    linear_free(&l);
    affine_free(&f);
  }
  /* then the rewiring: the producer takes the consumer's output value and
   * activation, and the consumer goes */
  for (int32_t i = 0; i < n_nodes && st == NND_OK; i++) {
    if (!remove[i]) continue;
    g->nodes[into[i]].act = g->nodes[i].act;
    nnd__pass_take_output(g, into[i], i);
  }
  if (st == NND_OK && n) st = nnd__pass_remove_nodes(g, ctx, remove, err);
  free(reads), free(remove), free(touched), free(into);
  *n_changes = n;
  return st;
}

const nnd_pass nnd_pass_fold_batchnorm = {
    "fold_batchnorm",
    "folds BatchNorm and per-channel Mul/Add after Conv/Gemm/MatMul into their weights (float64)",
    run_fold_bn};
