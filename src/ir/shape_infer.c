/* Shape inference driver and the per-op rule table.
 *
 * nnd_graph_infer_shapes walks the nodes in topological order; for each one
 * the rule of its op (indexed by nnd_op, one entry per line of ops.def)
 * checks the operand counts, picks the output dtype, infers the output
 * shapes and resolves attributes given as constant inputs, and, for the ops
 * that do shape arithmetic, folds small integer values so that
 * Shape -> Gather -> Unsqueeze -> Concat -> Reshape ends in a known shape.
 *
 * Conventions frontends can rely on (and must follow):
 *  - operands are in ONNX order; -1 marks an omitted optional input (bits in
 *    `optional` below); Resize is [x, roi, scales, sizes], or [x, scales];
 *  - a parameter given as an input wins over the attribute: Clip min/max,
 *    Pad pads/value/axes, Slice starts..steps, Squeeze/Unsqueeze/Reduce
 *    axes, Split sizes, Transpose perm (TFLite) are resolved into nnd_attrs
 *    when their values are known (constant or folded);
 *  - Squeeze and Reduce*: no axes (or has_axes with n_axes 0) means all;
 *  - Conv/pool layout comes from attrs.conv/pool.layout; BatchNorm, Resize
 *    sizes/scales of rank-2 length, and elementwise ops use the input
 *    value's layout (NHWC: channels last);
 *  - an unknown input rank makes the outputs unknown unless the op copes
 *    (need_rank); unsupported ops leave their outputs unknown, never fail;
 *  - auto_pad stays as the file said; pads_begin/pads_end become explicit. */
#include <stdlib.h>
#include <string.h>

#include "ir/shape_infer.h"
#include "util/checked_math.h"

/* The rule of every op, from the IO, DT and RULE columns of ops.def. */
#define B(i) (1u << (i))
#define ANY NND__ANY
#define ALL NND__ALL
#define IO(min_in, max_in, min_out, max_out, optional) min_in, max_in, min_out, max_out, optional
#define DT(ints, need_rank, same, cls, out) ints, need_rank, same, NND__DT_##cls, NND__OUT_##out
#define RULE(infer, fold) nnd__infer_##infer, nnd__fold_##fold
#define nnd__infer_none NULL /* Unsupported: outputs stay unknown */
#define nnd__fold_none NULL

static const nnd__op_rule op_rules[] = {
#define X(id, name, fam, io, dt, rule, cost, comm, subst, params, hp, act, eval, engine) {io, dt, rule},
#include "nndiff/ops.def"
#undef X
};
_Static_assert(sizeof op_rules / sizeof op_rules[0] == NND_OP_COUNT,
               "one shape rule per line of ops.def");
#undef ANY
#undef ALL

const nnd__op_rule *nnd__op_rule_get(nnd_op op) {
  return op >= 0 && op < NND_OP_COUNT ? &op_rules[op] : NULL;
}

static bool bit(unsigned mask, int i) { return i < 32 ? (mask >> i) & 1u : mask == NND__ALL; }

static const char *op_label(const nnd_node *n) {
  return n->prov.op_type ? n->prov.op_type : nnd_op_name(n->op);
}

nnd_status nnd__check_operands(const nnd_graph *g, const nnd_node *n, nnd_error *err) {
  const nnd__op_rule *r = nnd__op_rule_get(n->op);
  const char *name = n->name ? n->name : "";
  if (!r) return nnd__si_graph_fail(g, err, "node '%s' has invalid op %d", name, (int)n->op);
  if (n->n_inputs < 0 || (n->n_inputs > 0 && !n->inputs) || n->n_outputs < 1 || !n->outputs)
    return nnd__si_graph_fail(g, err, "node '%s' (%s) has %d inputs and %d outputs", name,
                              op_label(n), n->n_inputs, n->n_outputs);
  for (int i = 0; i < n->n_inputs; i++)
    if (n->inputs[i] < -1 || n->inputs[i] >= g->n_values)
      return nnd__si_graph_fail(g, err,
                                "node '%s' (%s): input %d refers to tensor #%d, "
                                "which does not exist",
                                name, op_label(n), i, (int)n->inputs[i]);
  for (int i = 0; i < n->n_outputs; i++)
    if (n->outputs[i] < 0 || n->outputs[i] >= g->n_values)
      return nnd__si_graph_fail(g, err,
                                "node '%s' (%s): output %d refers to tensor #%d, "
                                "which does not exist",
                                name, op_label(n), i, (int)n->outputs[i]);
  if (n->op == NND_OP_UNSUPPORTED) return NND_OK; /* its operands mean nothing to us */
  if (n->n_inputs < r->min_in || (r->max_in != NND__ANY && n->n_inputs > r->max_in)) {
    if (r->max_in == NND__ANY)
      return nnd__si_graph_fail(g, err,
                                "node '%s' (%s) has %d inputs; it needs at least "
                                "%d",
                                name, op_label(n), n->n_inputs, r->min_in);
    if (r->min_in == r->max_in)
      return nnd__si_graph_fail(g, err, "node '%s' (%s) has %d inputs; it needs %d", name,
                                op_label(n), n->n_inputs, r->min_in);
    return nnd__si_graph_fail(g, err, "node '%s' (%s) has %d inputs; it needs %d to %d", name,
                              op_label(n), n->n_inputs, r->min_in, r->max_in);
  }
  if (n->n_outputs < r->min_out || (r->max_out != NND__ANY && n->n_outputs > r->max_out))
    return nnd__si_graph_fail(g, err, "node '%s' (%s) has %d outputs; it takes %d to %d", name,
                              op_label(n), n->n_outputs, r->min_out, r->max_out);
  for (int i = 0; i < n->n_inputs; i++)
    if (n->inputs[i] < 0 && !bit(r->optional, i))
      return nnd__si_graph_fail(g, err,
                                "node '%s' (%s): input %d is missing and is not "
                                "optional",
                                name, op_label(n), i);
  return NND_OK;
}

static nnd_dtype default_dtype(const nnd__infer *c, const nnd__op_rule *r, int k) {
  const nnd_node *n = c->node;
  const nnd_value *x = nnd__si_in(c, 0);
  nnd_dtype same = x ? x->dtype : NND_DTYPE_UNDEFINED;
  nnd_dtype recorded = c->g->values[n->outputs[k]].dtype;
  if (k > 0) {
    if (n->op == NND_OP_MAX_POOL) return NND_DTYPE_I64; /* indices */
    if (n->op == NND_OP_DROPOUT) return NND_DTYPE_BOOL; /* mask */
  }
  switch (r->out_rule) {
  case NND__OUT_SAME: return same;
  case NND__OUT_I64: return NND_DTYPE_I64;
  case NND__OUT_CAST: return c->attrs.to;
  case NND__OUT_QUANT: {
    const nnd_value *zp = nnd__si_in(c, 2);
    if (zp && zp->dtype != NND_DTYPE_UNDEFINED) return zp->dtype;
    if (nnd__si_is_int(recorded)) return recorded;
    if (nnd__si_is_int(c->attrs.to)) return c->attrs.to;
    return NND_DTYPE_U8;
  }
  case NND__OUT_DEQUANT: return nnd__si_is_float(recorded) ? recorded : NND_DTYPE_F32;
  case NND__OUT_BOOL: return NND_DTYPE_BOOL;
  case NND__OUT_IN1: {
    const nnd_value *x1 = nnd__si_in(c, 1);
    return x1 ? x1->dtype : NND_DTYPE_UNDEFINED;
  }
  }
  return NND_DTYPE_UNDEFINED;
}

static bool is_foldable_dtype(nnd_dtype d) {
  return d == NND_DTYPE_I64 || d == NND_DTYPE_I32 || d == NND_DTYPE_BOOL;
}

nnd_status nnd__infer_node(nnd__infer *c, nnd__symvec *fold_out, bool *folded) {
  const nnd_node *n = c->node;
  *folded = false;
  nnd_status st = nnd__check_operands(c->g, n, c->err);
  if (st != NND_OK) return st;
  const nnd__op_rule *r = nnd__op_rule_get(n->op);
  c->attrs = n->attrs;
  c->n_out = n->n_outputs;
  for (int k = 0; k < c->n_out; k++) {
    c->out[k].rank = -1;
    c->out_dtype[k] = NND_DTYPE_UNDEFINED;
    c->out_layout[k] = NND_LAYOUT_NONE;
  }
  bool all_known = true;
  for (int i = 0; i < n->n_inputs; i++) {
    const nnd_value *v = nnd__si_in(c, i);
    if (!v) continue;
    if (v->shape.rank < -1 || v->shape.rank > NND_MAX_RANK)
      return nnd__si_fail(c, "input '%s' has rank %d; nndiff handles ranks up to %d", v->name,
                          v->shape.rank, NND_MAX_RANK);
    if (v->shape.rank < 0 && bit(r->need_rank, i)) all_known = false;
  }
  if (n->op == NND_OP_UNSUPPORTED) return NND_OK; /* outputs stay unknown */
  for (int k = 0; k < c->n_out; k++)
    c->out_dtype[k] = default_dtype(c, r, k);
  if (!all_known) return NND_OK; /* unknown in, unknown out: not an error */
  if ((st = r->infer(c)) != NND_OK) return st;
  if (!c->symtab || !r->fold || !is_foldable_dtype(c->out_dtype[0])) return NND_OK;
  int64_t numel;
  if (!nnd_shape_is_static(&c->out[0]) || !nnd_shape_numel(&c->out[0], &numel) ||
      numel > NND__FOLD_MAX)
    return NND_OK;
  fold_out->n = numel;
  *folded = r->fold(c, fold_out);
  return NND_OK;
}

/* Scratch space for the widest node, grown as nodes need it. */
typedef struct scratch {
  int cap;
  nnd_shape *out;
  nnd_dtype *out_dtype;
  nnd_layout *out_layout;
  int64_t *split;
} scratch;

static bool scratch_fit(scratch *s, int n) {
  if (n <= s->cap) return true;
  nnd_shape *o = realloc(s->out, (size_t)n * sizeof *o);
  if (o) s->out = o;
  nnd_dtype *d = realloc(s->out_dtype, (size_t)n * sizeof *d);
  if (d) s->out_dtype = d;
  nnd_layout *l = realloc(s->out_layout, (size_t)n * sizeof *l);
  if (l) s->out_layout = l;
  int64_t *sp = realloc(s->split, (size_t)n * sizeof *sp);
  if (sp) s->split = sp;
  if (!o || !d || !l || !sp) return false;
  s->cap = n;
  return true;
}

static void scratch_free(scratch *s) {
  free(s->out);
  free(s->out_dtype);
  free(s->out_layout);
  free(s->split);
}

nnd_status nnd__infer_ctx_init(nnd__infer *c, const nnd_graph *g, const nnd_node *node,
                               nnd_error *err, void *scratch_ptr, nnd__symvec **symtab) {
  scratch *s = scratch_ptr;
  if (!scratch_fit(s, node->n_outputs > 0 ? node->n_outputs : 1))
    return nnd_error_set(err, NND_ERR_NOMEM, "out of memory inferring shapes");
  memset(c, 0, sizeof *c);
  c->g = g;
  c->node = node;
  c->err = err;
  c->out = s->out;
  c->out_dtype = s->out_dtype;
  c->out_layout = s->out_layout;
  c->split = s->split;
  c->symtab = symtab;
  return NND_OK;
}

void *nnd__infer_scratch_new(void) { return calloc(1, sizeof(scratch)); }

void nnd__infer_scratch_free(void *p) {
  if (!p) return;
  scratch_free(p);
  free(p);
}

/* Writes the folded value of a node's output: always into the fold table
 * (so partly known values flow on), and as data when every element is known. */
static nnd_status commit_fold(nnd_graph *g, int32_t vid, const nnd__symvec *sv,
                              nnd__symvec **symtab, nnd_error *err) {
  nnd__symvec *copy = malloc(sizeof *copy);
  if (!copy) return nnd_error_set(err, NND_ERR_NOMEM, "out of memory folding constants");
  *copy = *sv;
  free(symtab[vid]);
  symtab[vid] = copy;
  nnd_value *v = &g->values[vid];
  for (int64_t i = 0; i < sv->n; i++)
    if (!sv->e[i].known)
      return NND_OK;
    else if (v->dtype == NND_DTYPE_I32 && (sv->e[i].v < INT32_MIN || sv->e[i].v > INT32_MAX))
      return NND_OK;
  size_t es = nnd_dtype_size(v->dtype);
  unsigned char *buf = nnd_graph_alloc(g, sv->n ? (size_t)sv->n : 1, es);
  if (!buf) return nnd_error_set(err, NND_ERR_NOMEM, "out of memory folding constants");
  for (int64_t i = 0; i < sv->n; i++) {
    if (v->dtype == NND_DTYPE_I64) {
      memcpy(buf + (size_t)i * 8, &sv->e[i].v, 8);
    } else if (v->dtype == NND_DTYPE_BOOL) {
      buf[i] = sv->e[i].v != 0;
    } else {
      int32_t x = (int32_t)sv->e[i].v;
      memcpy(buf + (size_t)i * 4, &x, 4);
    }
  }
  v->data = buf;
  v->nbytes = (size_t)sv->n * es;
  v->folded = true;
  return NND_OK;
}

static nnd_status commit(nnd_graph *g, nnd_node *node, const nnd__infer *c, nnd_error *err) {
  nnd_attrs attrs = c->attrs;
  if (attrs.split && attrs.split == c->split) {
    int64_t *sp = nnd_graph_alloc(g, (size_t)attrs.n_split, sizeof *sp);
    if (!sp) return nnd_error_set(err, NND_ERR_NOMEM, "out of memory inferring shapes");
    memcpy(sp, c->split, (size_t)attrs.n_split * sizeof *sp);
    attrs.split = sp;
  }
  node->attrs = attrs;
  for (int k = 0; k < node->n_outputs; k++) {
    nnd_value *v = &g->values[node->outputs[k]];
    v->shape = c->out[k];
    if (c->out_dtype[k] != NND_DTYPE_UNDEFINED) v->dtype = c->out_dtype[k];
    if (c->out_layout[k] != NND_LAYOUT_NONE) v->layout = c->out_layout[k];
  }
  return NND_OK;
}

nnd_status nnd_graph_infer_shapes(nnd_graph *g, nnd_error *err) {
  if (!g) return nnd_error_set(err, NND_ERR_USAGE, "nnd_graph_infer_shapes: graph is NULL");
  nnd_status st = NND_OK;
  int32_t *order = malloc((size_t)(g->n_nodes ? g->n_nodes : 1) * sizeof *order);
  nnd__symvec **symtab = calloc((size_t)(g->n_values ? g->n_values : 1), sizeof *symtab);
  scratch s = {0};
  nnd__symvec *fold = malloc(sizeof *fold);
  if (!order || !symtab || !fold) {
    st = nnd_error_set(err, NND_ERR_NOMEM, "out of memory inferring shapes");
    goto done;
  }
  for (int32_t i = 0; i < g->n_nodes; i++)
    if ((st = nnd__check_operands(g, &g->nodes[i], err)) != NND_OK) goto done;
  if ((st = nnd__si_topo_order(g, order, err)) != NND_OK) goto done;
  /* Values folded by an earlier run are recomputed from scratch. */
  for (int32_t v = 0; v < g->n_values; v++) {
    nnd_value *val = &g->values[v];
    if (val->kind == NND_VALUE_ACTIVATION && val->folded) {
      val->data = NULL;
      val->nbytes = 0;
      val->folded = false;
    }
  }
  for (int32_t k = 0; k < g->n_nodes; k++) {
    nnd_node *node = &g->nodes[order[k]];
    nnd__infer c;
    if ((st = nnd__infer_ctx_init(&c, g, node, err, &s, symtab)) != NND_OK) goto done;
    bool folded;
    if ((st = nnd__infer_node(&c, fold, &folded)) != NND_OK) goto done;
    if ((st = commit(g, node, &c, err)) != NND_OK) goto done;
    if (folded && (st = commit_fold(g, node->outputs[0], fold, symtab, err)) != NND_OK) goto done;
  }
done:
  if (symtab)
    for (int32_t v = 0; v < g->n_values; v++)
      free(symtab[v]);
  free(symtab);
  free(order);
  free(fold);
  scratch_free(&s);
  return st;
}
