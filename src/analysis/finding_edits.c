/* The edit that would fix a finding, as a structured record (ir_edit.h):
 * copy a hyperparameter from the source, copy the source's (folded)
 * weights, remove an extra node. Only edits that are exact for the
 * target's graph are made; others are left to the text fix. Repair applies
 * these records; localize reports them. */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "analysis/localize_internal.h"

static bool has_role(const nnd_cnode *cn, nnd_crole role) {
  for (int m = 0; m < cn->n_members; m++)
    if (cn->members[m].role == role) return true;
  return false;
}

/* Copies the field named `name` from src into dst; false for names this
 * cannot copy exactly (a kernel size without its weights, groups). */
static bool copy_field(nnd_op op, nnd_attrs *dst, const nnd_attrs *src, const char *name) {
  bool conv = op == NND_OP_CONV || op == NND_OP_CONV_TRANSPOSE;
  bool pool = op == NND_OP_MAX_POOL || op == NND_OP_AVG_POOL;
#define SAME(f) memcpy(&dst->f, &src->f, sizeof dst->f)
  if (conv && strcmp(name, "strides") == 0) SAME(conv.strides);
  else if (conv && strcmp(name, "dilations") == 0) SAME(conv.dilations);
  else if (conv && strcmp(name, "output_padding") == 0) SAME(conv.output_padding);
  else if (conv && strcmp(name, "pads") == 0) {
    SAME(conv.pads_begin);
    SAME(conv.pads_end);
    dst->conv.auto_pad = NND_AUTO_PAD_EXPLICIT;
  } else if (pool && strcmp(name, "kernel") == 0) SAME(pool.kernel);
  else if (pool && strcmp(name, "strides") == 0) SAME(pool.strides);
  else if (pool && strcmp(name, "dilations") == 0) SAME(pool.dilations);
  else if (pool && strcmp(name, "ceil_mode") == 0) SAME(pool.ceil_mode);
  else if (pool && strcmp(name, "count_include_pad") == 0) SAME(pool.count_include_pad);
  else if (pool && strcmp(name, "pads") == 0) {
    SAME(pool.pads_begin);
    SAME(pool.pads_end);
    dst->pool.auto_pad = NND_AUTO_PAD_EXPLICIT;
  } else if (strcmp(name, "axis") == 0) SAME(axis);
  else if (strcmp(name, "epsilon") == 0) SAME(epsilon);
  else if (strcmp(name, "perm") == 0) {
    SAME(n_perm);
    SAME(perm);
  } else if (op == NND_OP_PAD && strcmp(name, "pads") == 0) {
    SAME(pads_begin);
    SAME(pads_end);
  } else if (op == NND_OP_PAD && strcmp(name, "mode") == 0) SAME(pad_mode);
  else if (op == NND_OP_PAD && strcmp(name, "value") == 0) SAME(pad_value);
  else if (strcmp(name, "starts") == 0) SAME(starts);
  else if (strcmp(name, "ends") == 0) SAME(ends);
  else if (strcmp(name, "steps") == 0) SAME(steps);
  else if (strcmp(name, "axes") == 0) SAME(axes);
  else if (strcmp(name, "keepdims") == 0) SAME(keepdims);
  else if (op == NND_OP_LRN && strcmp(name, "size") == 0) SAME(lrn_size);
  else if (op == NND_OP_LRN && strcmp(name, "alpha") == 0) SAME(alpha);
  else if (op == NND_OP_LRN && strcmp(name, "beta") == 0) SAME(beta);
  else if (op == NND_OP_LRN && strcmp(name, "bias") == 0) SAME(lrn_bias);
  else return false;
#undef SAME
  return true;
}

static void texts(nnd_edit *e, const char *field, const char *old_text, const char *new_text) {
  snprintf(e->field, sizeof e->field, "%s", field);
  snprintf(e->old_text, sizeof e->old_text, "%s", old_text);
  snprintf(e->new_text, sizeof e->new_text, "%s", new_text);
}

/* The op that computes activation a by itself, with its attributes. */
static bool act_op(nnd_cact a, nnd_op *op, nnd_attrs *attrs) {
  switch (a.kind) {
  case NND_ACT_RELU: *op = NND_OP_RELU; return true;
  case NND_ACT_CLIP:
    *op = NND_OP_CLIP;
    attrs->clip_min = a.alpha;
    attrs->clip_max = a.beta;
    return true;
  case NND_ACT_LEAKY_RELU:
    *op = NND_OP_LEAKY_RELU;
    attrs->alpha = a.alpha;
    return true;
  case NND_ACT_SIGMOID: *op = NND_OP_SIGMOID; return true;
  case NND_ACT_HARD_SIGMOID:
    *op = NND_OP_HARD_SIGMOID;
    attrs->alpha = a.alpha;
    attrs->beta = a.beta;
    return true;
  case NND_ACT_HARD_SWISH: *op = NND_OP_HARD_SWISH; return true;
  case NND_ACT_TANH: *op = NND_OP_TANH; return true;
  case NND_ACT_SILU: *op = NND_OP_SILU; return true;
  default: return false;
  }
}

/* An activation written as its own node in the target: give it the
 * source's op, or remove it when the source has none. */
static bool act_node_edit(const nnd_cgraph *T, const nnd_cnode *sn, const nnd_cnode *tn,
                          nnd_finding *f) {
  int32_t act_node = -1;
  for (int m = 0; m < tn->n_members; m++)
    if (tn->members[m].role == NND_CROLE_ACT) {
      if (act_node >= 0) return false; /* x * f(x) spelled as two nodes */
      act_node = tn->members[m].node;
    }
  if (act_node < 0 || sn->act.gated || tn->act.gated) return false;
  if (sn->act.kind == NND_ACT_NONE) {
    nnd_edit_init_node(&f->edit, T->graph, NND_EDIT_REMOVE_NODE, act_node);
    return true;
  }
  nnd_edit_init_node(&f->edit, T->graph, NND_EDIT_SET_OP, act_node);
  nnd_attrs_init(&f->edit.attrs);
  f->edit.act = (nnd_activation){NND_ACT_NONE, 0.f, 0.f};
  return act_op(sn->act, &f->edit.op, &f->edit.attrs);
}

static void hyper_edit(const nnd_cgraph *S, const nnd_cgraph *T, nnd_finding *f) {
  const nnd_cnode *sn = &S->nodes[f->s_cnode], *tn = &T->nodes[f->t_cnode];
  int32_t head = tn->members[0].node;
  const nnd_node *tnode = &T->graph->nodes[head];
  /* target pads that include an absorbed Pad node need that node edited too */
  if (strcmp(f->code, "pads") == 0 && has_role(tn, NND_CROLE_PAD)) return;
  if (strcmp(f->code, "activation") == 0) {
    /* a fused activation in the target's head, a plain one in the source */
    if (has_role(tn, NND_CROLE_ACT)) {
      if (!act_node_edit(T, sn, tn, f)) return;
    } else {
      if (sn->act.gated || tnode->act.kind == NND_ACT_NONE) return;
      nnd_edit_init_node(&f->edit, T->graph, NND_EDIT_SET_ATTRS, head);
      f->edit.act = (nnd_activation){sn->act.kind, sn->act.alpha, sn->act.beta};
    }
  } else {
    nnd_edit_init_node(&f->edit, T->graph, NND_EDIT_SET_ATTRS, head);
    if (!copy_field(tnode->op, &f->edit.attrs, &sn->attrs, f->code)) return;
  }
  texts(&f->edit, f->code, f->target_value, f->source_value);
  f->has_edit = true;
}

/* The source's weights (or bias), folded in double precision, into the
 * target's tensor: exact when the target holds them as one plain tensor in
 * the canonical layout with nothing folded into it. */
static void param_edit(const nnd_cgraph *S, const nnd_cgraph *T, nnd_finding *f, bool bias) {
  const nnd_cnode *sn = &S->nodes[f->s_cnode], *tn = &T->nodes[f->t_cnode];
  if (has_role(tn, NND_CROLE_BN) || has_role(tn, NND_CROLE_SCALE) || has_role(tn, NND_CROLE_BIAS))
    return;
  const nnd_node *tnode = &T->graph->nodes[tn->members[0].node];
  int slot = bias ? 2 : 1;
  if (tnode->op != NND_OP_CONV && !(tnode->op == NND_OP_GEMM && tnode->attrs.trans_b)) return;
  if (tnode->op == NND_OP_CONV && tnode->attrs.conv.weight_layout != NND_WLAYOUT_OIHW) return;
  if (slot >= tnode->n_inputs || tnode->inputs[slot] < 0) return;
  const double *data = bias ? sn->bias : sn->weight;
  int64_t n = bias ? sn->nbias : sn->wnumel;
  int32_t v = tnode->inputs[slot];
  const nnd_value *tv = &T->graph->values[v];
  if (!data || n != nnd_value_data_count(tv) || tv->kind != NND_VALUE_CONSTANT) return;
  nnd_edit_init_value(&f->edit, T->graph, NND_EDIT_SET_CONSTANT, v);
  f->edit.dtype = NND_DTYPE_F64; /* the writer rounds to the target's own dtype */
  f->edit.data = data;
  f->edit.nbytes = (size_t)n * sizeof(double);
  char from[64];
  snprintf(from, sizeof from, "the source's%s (%" PRId64 " values)",
           has_role(sn, NND_CROLE_BN) ? ", BatchNorm folded" : "", n);
  texts(&f->edit, bias ? "bias" : "weights", "current values", from);
  f->has_edit = true;
}

void nnd__finding_edits(const nnd_cgraph *S, const nnd_cgraph *T, nnd_finding *f) {
  f->has_edit = false;
  if (f->equivalent || f->t_cnode < 0) return;
  if (f->kind == NND_FINDING_HYPERPARAMETERS && f->s_cnode >= 0 && f->code &&
      strcmp(f->code, "input_order") != 0) {
    hyper_edit(S, T, f);
  } else if (f->kind == NND_FINDING_PARAMETERS && f->s_cnode >= 0 && f->code &&
             (strcmp(f->code, "weights") == 0 || strcmp(f->code, "bias") == 0)) {
    param_edit(S, T, f, strcmp(f->code, "bias") == 0);
  } else if (f->kind == NND_FINDING_GRAPH && f->code && strcmp(f->code, "extra_node") == 0) {
    int32_t head = T->nodes[f->t_cnode].members[0].node;
    const nnd_node *n = &T->graph->nodes[head];
    if (n->n_inputs < 1 || n->inputs[0] < 0 || n->n_outputs != 1) return;
    nnd_edit_init_node(&f->edit, T->graph, NND_EDIT_REMOVE_NODE, head);
    texts(&f->edit, "node", n->prov.op_type ? n->prov.op_type : nnd_op_name(n->op), "removed");
    f->has_edit = true;
  }
}
