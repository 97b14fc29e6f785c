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

#define B(i) (1u << (i))

/* clang-format off */
static const nnd__op_rule op_rules[NND_OP_COUNT] = {
  /* {min_in, max_in, min_out, max_out, optional, int_inputs, need_rank, same_dtype,
   *  data class, out dtype, infer, fold} */
  [NND_OP_UNSUPPORTED] = {0, NND__ANY, 1, NND__ANY, 0, 0, 0, false, NND__DT_ANY, NND__OUT_SAME, NULL, NULL},
  [NND_OP_CONV]        = {2, 3, 1, 1, B(2), 0, B(0) | B(1), false, NND__DT_FLOAT, NND__OUT_SAME, nnd__infer_conv, NULL},
  [NND_OP_CONV_TRANSPOSE] = {2, 3, 1, 1, B(2), 0, B(0) | B(1), false, NND__DT_FLOAT, NND__OUT_SAME, nnd__infer_conv_transpose, NULL},
  [NND_OP_GEMM]        = {2, 3, 1, 1, B(2), 0, B(0) | B(1), false, NND__DT_NUMERIC, NND__OUT_SAME, nnd__infer_gemm, NULL},
  [NND_OP_MATMUL]      = {2, 2, 1, 1, 0, 0, B(0) | B(1), false, NND__DT_NUMERIC, NND__OUT_SAME, nnd__infer_matmul, NULL},
  [NND_OP_EINSUM]      = {1, 4, 1, 1, 0, 0, NND__ALL, true, NND__DT_NUMERIC, NND__OUT_SAME, nnd__infer_einsum, NULL},
  [NND_OP_BATCH_NORM]  = {5, 5, 1, 5, 0, 0, B(0), false, NND__DT_FLOAT, NND__OUT_SAME, nnd__infer_batch_norm, NULL},
  [NND_OP_LRN]         = {1, 1, 1, 1, 0, 0, B(0), false, NND__DT_FLOAT, NND__OUT_SAME, nnd__infer_unary, NULL},
  [NND_OP_LAYER_NORM]  = {2, 3, 1, 3, B(2), 0, B(0), false, NND__DT_FLOAT, NND__OUT_SAME, nnd__infer_layer_norm, NULL},
  [NND_OP_RELU]        = {1, 1, 1, 1, 0, 0, B(0), false, NND__DT_NUMERIC, NND__OUT_SAME, nnd__infer_unary, NULL},
  [NND_OP_LEAKY_RELU]  = {1, 1, 1, 1, 0, 0, B(0), false, NND__DT_FLOAT, NND__OUT_SAME, nnd__infer_unary, NULL},
  [NND_OP_PRELU]       = {2, 2, 1, 1, 0, 0, B(0) | B(1), false, NND__DT_NUMERIC, NND__OUT_SAME, nnd__infer_prelu, NULL},
  [NND_OP_CLIP]        = {1, 3, 1, 1, B(1) | B(2), 0, B(0), false, NND__DT_NUMERIC, NND__OUT_SAME, nnd__infer_clip, NULL},
  [NND_OP_SIGMOID]     = {1, 1, 1, 1, 0, 0, B(0), false, NND__DT_FLOAT, NND__OUT_SAME, nnd__infer_unary, NULL},
  [NND_OP_HARD_SIGMOID] = {1, 1, 1, 1, 0, 0, B(0), false, NND__DT_FLOAT, NND__OUT_SAME, nnd__infer_unary, NULL},
  [NND_OP_HARD_SWISH]  = {1, 1, 1, 1, 0, 0, B(0), false, NND__DT_FLOAT, NND__OUT_SAME, nnd__infer_unary, NULL},
  [NND_OP_TANH]        = {1, 1, 1, 1, 0, 0, B(0), false, NND__DT_FLOAT, NND__OUT_SAME, nnd__infer_unary, NULL},
  [NND_OP_ELU]         = {1, 1, 1, 1, 0, 0, B(0), false, NND__DT_FLOAT, NND__OUT_SAME, nnd__infer_unary, NULL},
  [NND_OP_SILU]        = {1, 1, 1, 1, 0, 0, B(0), false, NND__DT_FLOAT, NND__OUT_SAME, nnd__infer_unary, NULL},
  [NND_OP_GELU]        = {1, 1, 1, 1, 0, 0, B(0), false, NND__DT_FLOAT, NND__OUT_SAME, nnd__infer_unary, NULL},
  [NND_OP_SOFTMAX]     = {1, 1, 1, 1, 0, 0, B(0), false, NND__DT_FLOAT, NND__OUT_SAME, nnd__infer_softmax, NULL},
  [NND_OP_LOG_SOFTMAX] = {1, 1, 1, 1, 0, 0, B(0), false, NND__DT_FLOAT, NND__OUT_SAME, nnd__infer_softmax, NULL},
  [NND_OP_ADD]         = {2, 2, 1, 1, 0, 0, NND__ALL, true, NND__DT_NUMERIC, NND__OUT_SAME, nnd__infer_binary, nnd__fold_binary},
  [NND_OP_SUB]         = {2, 2, 1, 1, 0, 0, NND__ALL, true, NND__DT_NUMERIC, NND__OUT_SAME, nnd__infer_binary, nnd__fold_binary},
  [NND_OP_MUL]         = {2, 2, 1, 1, 0, 0, NND__ALL, true, NND__DT_NUMERIC, NND__OUT_SAME, nnd__infer_binary, nnd__fold_binary},
  [NND_OP_DIV]         = {2, 2, 1, 1, 0, 0, NND__ALL, true, NND__DT_NUMERIC, NND__OUT_SAME, nnd__infer_binary, nnd__fold_binary},
  [NND_OP_POW]         = {2, 2, 1, 1, 0, 0, NND__ALL, false, NND__DT_NUMERIC, NND__OUT_SAME, nnd__infer_binary, NULL},
  [NND_OP_MAX]         = {1, NND__ANY, 1, 1, 0, 0, NND__ALL, true, NND__DT_NUMERIC, NND__OUT_SAME, nnd__infer_binary, NULL},
  [NND_OP_MIN]         = {1, NND__ANY, 1, 1, 0, 0, NND__ALL, true, NND__DT_NUMERIC, NND__OUT_SAME, nnd__infer_binary, NULL},
  [NND_OP_MOD]         = {2, 2, 1, 1, 0, 0, NND__ALL, true, NND__DT_NUMERIC, NND__OUT_SAME, nnd__infer_binary, nnd__fold_binary},
  [NND_OP_EQUAL]       = {2, 2, 1, 1, 0, 0, NND__ALL, true, NND__DT_ANY, NND__OUT_BOOL, nnd__infer_binary, nnd__fold_binary},
  [NND_OP_NOT]         = {1, 1, 1, 1, 0, 0, B(0), false, NND__DT_ANY, NND__OUT_BOOL, nnd__infer_unary, nnd__fold_not},
  /* Where: condition, then the two branches (which share a dtype) */
  [NND_OP_WHERE]       = {3, 3, 1, 1, 0, 0, NND__ALL, false, NND__DT_ANY, NND__OUT_IN1, nnd__infer_binary, nnd__fold_where},
  [NND_OP_SQRT]        = {1, 1, 1, 1, 0, 0, B(0), false, NND__DT_FLOAT, NND__OUT_SAME, nnd__infer_unary, NULL},
  [NND_OP_EXP]         = {1, 1, 1, 1, 0, 0, B(0), false, NND__DT_FLOAT, NND__OUT_SAME, nnd__infer_unary, NULL},
  [NND_OP_LOG]         = {1, 1, 1, 1, 0, 0, B(0), false, NND__DT_FLOAT, NND__OUT_SAME, nnd__infer_unary, NULL},
  [NND_OP_NEG]         = {1, 1, 1, 1, 0, 0, B(0), false, NND__DT_NUMERIC, NND__OUT_SAME, nnd__infer_unary, NULL},
  [NND_OP_ABS]         = {1, 1, 1, 1, 0, 0, B(0), false, NND__DT_NUMERIC, NND__OUT_SAME, nnd__infer_unary, NULL},
  [NND_OP_ERF]         = {1, 1, 1, 1, 0, 0, B(0), false, NND__DT_FLOAT, NND__OUT_SAME, nnd__infer_unary, NULL},
  [NND_OP_RECIPROCAL]  = {1, 1, 1, 1, 0, 0, B(0), false, NND__DT_FLOAT, NND__OUT_SAME, nnd__infer_unary, NULL},
  [NND_OP_FLOOR]       = {1, 1, 1, 1, 0, 0, B(0), false, NND__DT_FLOAT, NND__OUT_SAME, nnd__infer_unary, NULL},
  [NND_OP_CEIL]        = {1, 1, 1, 1, 0, 0, B(0), false, NND__DT_FLOAT, NND__OUT_SAME, nnd__infer_unary, NULL},
  [NND_OP_CAST]        = {1, 1, 1, 1, 0, 0, B(0), false, NND__DT_ANY, NND__OUT_CAST, nnd__infer_cast, nnd__fold_cast},
  [NND_OP_MAX_POOL]    = {1, 1, 1, 2, 0, 0, B(0), false, NND__DT_NUMERIC, NND__OUT_SAME, nnd__infer_pool, NULL},
  [NND_OP_AVG_POOL]    = {1, 1, 1, 1, 0, 0, B(0), false, NND__DT_FLOAT, NND__OUT_SAME, nnd__infer_pool, NULL},
  [NND_OP_GLOBAL_AVG_POOL] = {1, 1, 1, 1, 0, 0, B(0), false, NND__DT_FLOAT, NND__OUT_SAME, nnd__infer_global_pool, NULL},
  [NND_OP_GLOBAL_MAX_POOL] = {1, 1, 1, 1, 0, 0, B(0), false, NND__DT_FLOAT, NND__OUT_SAME, nnd__infer_global_pool, NULL},
  [NND_OP_REDUCE_MEAN] = {1, 2, 1, 1, B(1), B(1), B(0), false, NND__DT_NUMERIC, NND__OUT_SAME, nnd__infer_reduce, NULL},
  [NND_OP_REDUCE_SUM]  = {1, 2, 1, 1, B(1), B(1), B(0), false, NND__DT_NUMERIC, NND__OUT_SAME, nnd__infer_reduce, NULL},
  /* ReduceMax/Min take bool too (ONNX 20) */
  [NND_OP_REDUCE_MAX]  = {1, 2, 1, 1, B(1), B(1), B(0), false, NND__DT_ANY, NND__OUT_SAME, nnd__infer_reduce, NULL},
  [NND_OP_REDUCE_MIN]  = {1, 2, 1, 1, B(1), B(1), B(0), false, NND__DT_ANY, NND__OUT_SAME, nnd__infer_reduce, NULL},
  [NND_OP_CONCAT]      = {1, NND__ANY, 1, 1, 0, 0, NND__ALL, true, NND__DT_ANY, NND__OUT_SAME, nnd__infer_concat, nnd__fold_concat},
  [NND_OP_SPLIT]       = {1, 2, 1, NND__ANY, B(1), B(1), B(0), false, NND__DT_ANY, NND__OUT_SAME, nnd__infer_split, NULL},
  [NND_OP_FLATTEN]     = {1, 1, 1, 1, 0, 0, B(0), false, NND__DT_ANY, NND__OUT_SAME, nnd__infer_flatten, nnd__fold_same},
  [NND_OP_RESHAPE]     = {2, 2, 1, 1, 0, B(1), 0, false, NND__DT_ANY, NND__OUT_SAME, nnd__infer_reshape, nnd__fold_same},
  [NND_OP_TRANSPOSE]   = {1, 2, 1, 1, 0, B(1), B(0), false, NND__DT_ANY, NND__OUT_SAME, nnd__infer_transpose, nnd__fold_transpose},
  [NND_OP_SQUEEZE]     = {1, 2, 1, 1, B(1), B(1), B(0), false, NND__DT_ANY, NND__OUT_SAME, nnd__infer_squeeze, nnd__fold_same},
  [NND_OP_UNSQUEEZE]   = {1, 2, 1, 1, B(1), B(1), B(0), false, NND__DT_ANY, NND__OUT_SAME, nnd__infer_unsqueeze, nnd__fold_same},
  [NND_OP_PAD]         = {1, 4, 1, 1, B(1) | B(2) | B(3), B(1) | B(3), B(0), false, NND__DT_ANY, NND__OUT_SAME, nnd__infer_pad, NULL},
  [NND_OP_SLICE]       = {1, 5, 1, 1, B(3) | B(4), B(1) | B(2) | B(3) | B(4), B(0), false, NND__DT_ANY, NND__OUT_SAME, nnd__infer_slice, nnd__fold_slice},
  [NND_OP_GATHER]      = {2, 2, 1, 1, 0, B(1), B(0) | B(1), false, NND__DT_ANY, NND__OUT_SAME, nnd__infer_gather, nnd__fold_gather},
  [NND_OP_SHAPE]       = {1, 1, 1, 1, 0, 0, B(0), false, NND__DT_ANY, NND__OUT_I64, nnd__infer_shape, nnd__fold_shape},
  [NND_OP_EXPAND]      = {2, 2, 1, 1, 0, B(1), B(0), false, NND__DT_ANY, NND__OUT_SAME, nnd__infer_expand, nnd__fold_expand},
  /* Identity may keep the empty axes input of a ReduceX(noop_with_empty_axes) it replaced */
  [NND_OP_IDENTITY]    = {1, 2, 1, 1, B(1), 0, B(0), false, NND__DT_ANY, NND__OUT_SAME, nnd__infer_unary, nnd__fold_same},
  [NND_OP_DROPOUT]     = {1, 3, 1, 2, B(1) | B(2), 0, B(0), false, NND__DT_ANY, NND__OUT_SAME, nnd__infer_dropout, NULL},
  /* Resize: x, roi, scales, sizes (ONNX 11+); with two inputs the second is scales (ONNX 10) */
  [NND_OP_RESIZE]      = {1, 4, 1, 1, B(1) | B(2) | B(3), B(3), B(0), false, NND__DT_NUMERIC, NND__OUT_SAME, nnd__infer_resize, NULL},
  [NND_OP_SCATTER_ND]  = {3, 3, 1, 1, 0, B(1), B(0) | B(1) | B(2), false, NND__DT_ANY, NND__OUT_SAME, nnd__infer_scatter_nd, NULL},
  [NND_OP_CONSTANT_OF_SHAPE] = {1, 1, 1, 1, 0, B(0), B(0), false, NND__DT_ANY, NND__OUT_CAST, nnd__infer_constant_of_shape, nnd__fold_constant_of_shape},
  [NND_OP_RANGE]       = {3, 3, 1, 1, 0, 0, NND__ALL, false, NND__DT_NUMERIC, NND__OUT_SAME, nnd__infer_range, nnd__fold_range},
  [NND_OP_QUANTIZE]    = {1, 3, 1, 1, B(2), 0, B(0), false, NND__DT_FLOAT, NND__OUT_QUANT, nnd__infer_quant, NULL},
  [NND_OP_DEQUANTIZE]  = {1, 3, 1, 1, B(2), 0, B(0), false, NND__DT_ANY, NND__OUT_DEQUANT, nnd__infer_quant, NULL},
};
/* clang-format on */

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
