/* Dead-code elimination: nodes none of whose outputs is read (by a node or
 * as a graph output) go, repeatedly, so whole dead chains disappear in one
 * run. */
#include <stdlib.h>

#include "ir/pass_util.h"
#include "nndiff/ir_edit.h"
#include "nndiff/passes.h"

static nnd_status run_dce(nnd_graph *g, const nnd_pass_ctx *ctx, int64_t *n_changes,
                          nnd_error *err) {
  *n_changes = 0;
  if (g->n_nodes == 0) return NND_OK;
  int32_t *readers = calloc((size_t)g->n_values + 1, sizeof *readers);
  bool *dead = calloc((size_t)g->n_nodes, sizeof *dead);
  /* each node once, plus one push per value that loses its last reader */
  int32_t *stack = malloc(((size_t)g->n_nodes + (size_t)g->n_values) * sizeof *stack);
  if (!readers || !dead || !stack) {
    free(readers), free(dead), free(stack);
    return nnd_error_set(err, NND_ERR_NOMEM, "out of memory removing dead nodes");
  }
  for (int32_t i = 0; i < g->n_nodes; i++)
    for (int k = 0; k < g->nodes[i].n_inputs; k++)
      if (g->nodes[i].inputs[k] >= 0) readers[g->nodes[i].inputs[k]]++;
  for (int i = 0; i < g->n_outputs; i++)
    readers[g->outputs[i]]++;
  for (int32_t v = 0; v < g->n_values; v++) /* a kept value counts as read */
    if (nnd__pass_kept(ctx, v)) readers[v]++;
  /* Worklist: a node dies when its outputs lose their last reader. */
  int32_t top = 0;
  for (int32_t i = 0; i < g->n_nodes; i++)
    stack[top++] = i;
  int64_t removed = 0;
  while (top > 0) {
    int32_t i = stack[--top];
    if (dead[i]) continue;
    const nnd_node *n = &g->nodes[i];
    bool used = false;
    for (int k = 0; k < n->n_outputs && !used; k++)
      used = readers[n->outputs[k]] > 0;
    if (used) continue;
    dead[i] = true;
    removed++;
    for (int k = 0; k < n->n_outputs; k++)
      g->values[n->outputs[k]].producer = -1;
    for (int k = 0; k < n->n_inputs; k++) {
      int32_t v = n->inputs[k];
      if (v < 0 || --readers[v] > 0) continue;
      int32_t p = g->values[v].producer;
      if (p >= 0 && !dead[p]) stack[top++] = p;
    }
  }
  nnd_status st = removed ? nnd__pass_remove_nodes(g, ctx, dead, err) : NND_OK;
  free(readers), free(dead), free(stack);
  *n_changes = removed;
  return st;
}

const nnd_pass nnd_pass_dce = {"dce", "removes nodes whose outputs nothing reads", run_dce};
