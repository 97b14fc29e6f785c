/* nnd_graph_clone: an editable copy that shares the original's strings and
 * constant data (see include/nndiff/ir_edit.h). */
#include <stdlib.h>
#include <string.h>

#include "nndiff/ir_edit.h"

static int32_t *copy_ids(nnd_graph *c, const int32_t *ids, int n) {
  int32_t *out = nnd_graph_alloc(c, (size_t)(n > 0 ? n : 1), sizeof *out);
  if (out && n > 0) memcpy(out, ids, (size_t)n * sizeof *out);
  return out;
}

nnd_status nnd_graph_clone(const nnd_graph *g, nnd_graph **out, nnd_error *err) {
  *out = NULL;
  nnd_graph *c = nnd_graph_create(err);
  if (!c) return NND_ERR_NOMEM;
  nnd_status st = NND_OK;
  c->info = g->info;
  /* Values: added through the name index so the clone finds them by name;
   * the name string is the clone's own, everything else is borrowed. */
  for (int32_t v = 0; v < g->n_values; v++) {
    int32_t id;
    if ((st = nnd_graph_add_value(c, g->values[v].name, &id, err)) != NND_OK) goto fail;
    const char *name = c->values[id].name;
    c->values[id] = g->values[v];
    c->values[id].name = name;
  }
  if (g->n_nodes > 0) {
    c->nodes = malloc((size_t)g->n_nodes * sizeof *c->nodes);
    if (!c->nodes) goto oom;
    c->cap_nodes = g->n_nodes;
    for (int32_t i = 0; i < g->n_nodes; i++) {
      nnd_node *n = &c->nodes[i];
      *n = g->nodes[i];
      n->inputs = copy_ids(c, g->nodes[i].inputs, g->nodes[i].n_inputs);
      n->outputs = copy_ids(c, g->nodes[i].outputs, g->nodes[i].n_outputs);
      if (!n->inputs || !n->outputs) goto oom;
      c->n_nodes = i + 1;
    }
  }
  c->inputs = copy_ids(c, g->inputs, g->n_inputs);
  c->outputs = copy_ids(c, g->outputs, g->n_outputs);
  if (!c->inputs || !c->outputs) goto oom;
  c->n_inputs = g->n_inputs;
  c->n_outputs = g->n_outputs;
  *out = c;
  return NND_OK;
oom:
  st = nnd_error_set(err, NND_ERR_NOMEM, "out of memory copying the graph of %s",
                     g->info.path ? g->info.path : "the model");
fail:
  nnd_graph_destroy(c);
  return st;
}
