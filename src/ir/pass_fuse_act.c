/* Activation fusion: an activation op (Relu, Clip, LeakyRelu, Sigmoid,
 * HardSigmoid, HardSwish, Tanh, Silu) that is the only reader of a node's
 * output becomes that node's fused activation (nnd_node.act), and the node
 * takes over the activation's output value, so the value the file names
 * after the pair is still the pair's result. Two exports that differ in
 * whether a converter fused Conv+Relu then have the same graph.
 *
 * Nodes that are activations themselves keep theirs separate (Relu then
 * Sigmoid stays two nodes), and a node with a fused activation takes no
 * second one. x * f(x) spelled as two nodes is not one activation of the
 * IR; canonicalisation groups it. */
#include <stdlib.h>

#include "ir/pass_util.h"

/* The activation op n computes, as a fused activation. */
static bool activation_of(const nnd_node *n, nnd_activation *a) {
  *a = (nnd_activation){NND_ACT_NONE, 0.f, 0.f};
  switch (n->op) {
  case NND_OP_RELU: a->kind = NND_ACT_RELU; break;
  case NND_OP_CLIP:
    *a = (nnd_activation){NND_ACT_CLIP, n->attrs.clip_min, n->attrs.clip_max};
    break;
  case NND_OP_LEAKY_RELU: *a = (nnd_activation){NND_ACT_LEAKY_RELU, n->attrs.alpha, 0.f}; break;
  case NND_OP_SIGMOID: a->kind = NND_ACT_SIGMOID; break;
  case NND_OP_HARD_SIGMOID:
    *a = (nnd_activation){NND_ACT_HARD_SIGMOID, n->attrs.alpha, n->attrs.beta};
    break;
  case NND_OP_HARD_SWISH: a->kind = NND_ACT_HARD_SWISH; break;
  case NND_OP_TANH: a->kind = NND_ACT_TANH; break;
  case NND_OP_SILU: a->kind = NND_ACT_SILU; break;
  default: return false;
  }
  return true;
}

/* The activation reads only its data input and constants (Clip bounds). */
static bool reads_one_tensor(const nnd_graph *g, const nnd_node *n) {
  if (n->n_inputs < 1 || n->inputs[0] < 0 || n->n_outputs != 1) return false;
  for (int k = 1; k < n->n_inputs; k++)
    if (n->inputs[k] >= 0 && !nnd__is_const_value(&g->values[n->inputs[k]])) return false;
  return true;
}

static nnd_status run_fuse_act(nnd_graph *g, const nnd_pass_ctx *ctx, int64_t *n_changes,
                               nnd_error *err) {
  *n_changes = 0;
  if (g->n_nodes == 0) return NND_OK;
  int32_t *reads = nnd__read_counts(g);
  bool *remove = calloc((size_t)g->n_nodes, sizeof *remove);
  if (!reads || !remove) {
    free(reads), free(remove);
    return nnd_error_set(err, NND_ERR_NOMEM, "out of memory fusing activations");
  }
  nnd_status st = NND_OK;
  int64_t n = 0;
  for (int32_t i = 0; i < g->n_nodes && st == NND_OK; i++) {
    nnd_node *an = &g->nodes[i];
    nnd_activation a;
    if (remove[i] || an->act.kind != NND_ACT_NONE || !activation_of(an, &a) ||
        !reads_one_tensor(g, an))
      continue;
    int32_t x = an->inputs[0];
    const nnd_value *xv = &g->values[x];
    int32_t p = xv->producer;
    if (p < 0 || remove[p] || reads[x] != 1 || xv->is_output || !nnd__is_float_dtype(xv->dtype) ||
        nnd__is_const_value(xv) || nnd__pass_kept(ctx, x))
      continue;
    nnd_node *pn = &g->nodes[p];
    nnd_activation pa;
    if (pn->n_outputs != 1 || pn->outputs[0] != x || pn->act.kind != NND_ACT_NONE ||
        activation_of(pn, &pa) || pn->op == NND_OP_UNSUPPORTED)
      continue;
    pn->act = a;
    nnd__pass_take_output(g, p, i);
    remove[i] = true;
    st = nnd__pass_merge(ctx, p, i, NND_MERGE_ACTIVATION, err);
    n++;
  }
  if (st == NND_OK && n) st = nnd__pass_remove_nodes(g, ctx, remove, err);
  free(reads), free(remove);
  *n_changes = n;
  return st;
}

const nnd_pass nnd_pass_fuse_activation = {
    "fuse_activation",
    "an activation that is its producer's only reader becomes the producer's fused activation",
    run_fuse_act};
