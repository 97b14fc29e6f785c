/* Use lists: every read of every value, as one CSR table. */
#include <stdlib.h>

#include "nndiff/ir_edit.h"

nnd_status nnd_uses_build(const nnd_graph *g, nnd_uses **out, nnd_error *err) {
  *out = NULL;
  nnd_uses *u = calloc(1, sizeof *u);
  if (!u) return nnd_error_set(err, NND_ERR_NOMEM, "out of memory listing tensor uses");
  u->n_values = g->n_values;
  u->start = calloc((size_t)g->n_values + 1, sizeof *u->start);
  size_t edges = (size_t)g->n_outputs;
  for (int32_t i = 0; i < g->n_nodes; i++)
    edges += (size_t)g->nodes[i].n_inputs;
  u->uses = malloc((edges ? edges : 1) * sizeof *u->uses);
  int32_t *fill = calloc((size_t)g->n_values + 1, sizeof *fill);
  if (!u->start || !u->uses || !fill) {
    free(fill);
    nnd_uses_destroy(u);
    return nnd_error_set(err, NND_ERR_NOMEM, "out of memory listing tensor uses");
  }
  for (int32_t i = 0; i < g->n_nodes; i++)
    for (int k = 0; k < g->nodes[i].n_inputs; k++) {
      int32_t v = g->nodes[i].inputs[k];
      if (v >= 0 && v < g->n_values) u->start[v + 1]++;
    }
  for (int i = 0; i < g->n_outputs; i++)
    if (g->outputs[i] >= 0 && g->outputs[i] < g->n_values) u->start[g->outputs[i] + 1]++;
  for (int32_t v = 0; v < g->n_values; v++)
    u->start[v + 1] += u->start[v];
  for (int32_t i = 0; i < g->n_nodes; i++)
    for (int k = 0; k < g->nodes[i].n_inputs; k++) {
      int32_t v = g->nodes[i].inputs[k];
      if (v < 0 || v >= g->n_values) continue;
      u->uses[u->start[v] + fill[v]++] = (nnd_use){i, k};
    }
  for (int i = 0; i < g->n_outputs; i++) {
    int32_t v = g->outputs[i];
    if (v < 0 || v >= g->n_values) continue;
    u->uses[u->start[v] + fill[v]++] = (nnd_use){-1, i};
  }
  free(fill);
  *out = u;
  return NND_OK;
}

void nnd_uses_destroy(nnd_uses *u) {
  if (!u) return;
  free(u->start);
  free(u->uses);
  free(u);
}
