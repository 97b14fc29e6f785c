/* Alias removal: nodes that pass their one input through unchanged
 * (Identity, inference Dropout, a Concat of a single tensor as torch.cat([x])
 * writes in DenseNet, a Cast to the dtype it has) go, and their readers read the input. One
 * rewiring pass over all node inputs, so a model with thousands of them stays linear. Graph outputs
 * keep their producers: their names are the model's. */
#include <stdlib.h>

#include "ir/pass_util.h"
#include "nndiff/ir_edit.h"
#include "nndiff/op_info.h"
#include "nndiff/passes.h"

static bool passes_through(const nnd_graph *g, const nnd_node *n) {
  if (n->act.kind != NND_ACT_NONE || n->n_inputs < 1 || n->inputs[0] < 0) return false;
  if (g->values[n->outputs[0]].is_output) return false;
  /* Identity, Dropout (one output: a mask output would be read) */
  if (nnd_op_info_get(n->op)->eval == NND_EVAL_PASS) return n->n_outputs == 1;
  if (n->op == NND_OP_CAST) /* to the dtype it already has */
    return n->n_outputs == 1 && g->values[n->outputs[0]].dtype == g->values[n->inputs[0]].dtype;
  return n->op == NND_OP_CONCAT && n->n_inputs == 1 && n->n_outputs == 1;
}

static nnd_status run_alias(nnd_graph *g, const nnd_pass_ctx *ctx, int64_t *n_changes,
                            nnd_error *err) {
  *n_changes = 0;
  if (g->n_nodes == 0) return NND_OK;
  int32_t *to = malloc((size_t)g->n_values * sizeof *to);
  bool *remove = calloc((size_t)g->n_nodes, sizeof *remove);
  if (!to || !remove) {
    free(to), free(remove);
    return nnd_error_set(err, NND_ERR_NOMEM, "out of memory removing pass-through nodes");
  }
  for (int32_t v = 0; v < g->n_values; v++)
    to[v] = v;
  int64_t n = 0;
  for (int32_t i = 0; i < g->n_nodes; i++) {
    const nnd_node *nd = &g->nodes[i];
    if (!passes_through(g, nd) || nnd__pass_kept(ctx, nd->outputs[0])) continue;
    to[nd->outputs[0]] = nd->inputs[0];
    remove[i] = true;
    n++;
  }
  nnd_status st = NND_OK;
  if (n) {
    /* chains (Identity of an Identity) resolve to their first input, with
     * path compression so a long chain costs linear time (no cycles: the
     * graph is acyclic) */
    for (int32_t v = 0; v < g->n_values; v++) {
      int32_t r = v;
      while (to[r] != r)
        r = to[r];
      for (int32_t w = v; to[w] != r && w != r;) {
        int32_t next = to[w];
        to[w] = r;
        w = next;
      }
    }
    for (int32_t i = 0; i < g->n_nodes; i++) {
      nnd_node *nd = &g->nodes[i];
      for (int k = 0; k < nd->n_inputs; k++)
        if (nd->inputs[k] >= 0) nd->inputs[k] = to[nd->inputs[k]];
    }
    for (int32_t i = 0; i < g->n_nodes; i++)
      if (remove[i]) g->values[g->nodes[i].outputs[0]].producer = -1;
    st = nnd__pass_remove_nodes(g, ctx, remove, err);
  }
  free(to), free(remove);
  *n_changes = n;
  return st;
}

const nnd_pass nnd_pass_drop_aliases = {
    "drop_aliases",
    "removes nodes that pass their input through (Identity, Dropout, one-input Concat, no-op Cast)",
    run_alias};
