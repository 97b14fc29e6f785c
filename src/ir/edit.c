/* Graph edits (include/nndiff/ir_edit.h): rewiring uses, removing nodes,
 * turning values into constants, replacing ops. Value indices never move;
 * node removal compacts the node array. */
#include <stdlib.h>
#include <string.h>

#include "nndiff/ir_edit.h"

/* Debug builds re-check the structure after each edit: a pass or a repair
 * that breaks the graph is caught at the edit, not three modules later. */
static nnd_status checked(const nnd_graph *g, const char *what, nnd_error *err) {
#ifndef NDEBUG
  nnd_error local = {0};
  if (nnd_graph_check_structure(g, &local) != NND_OK)
    return nnd_error_set(err, NND_ERR_INTERNAL, "%s broke the graph: %s", what, local.message);
#else
  (void)g, (void)what, (void)err;
#endif
  return NND_OK;
}

static bool value_ok(const nnd_graph *g, int32_t v) { return v >= 0 && v < g->n_values; }
static bool node_ok(const nnd_graph *g, int32_t n) { return n >= 0 && n < g->n_nodes; }

nnd_status nnd_graph_replace_uses(nnd_graph *g, int32_t from, int32_t to, nnd_error *err) {
  if (!value_ok(g, from) || !value_ok(g, to))
    return nnd_error_set(err, NND_ERR_USAGE, "replace uses: tensor #%d or #%d does not exist",
                         (int)from, (int)to);
  if (from == to) return NND_OK;
  for (int32_t i = 0; i < g->n_nodes; i++)
    for (int k = 0; k < g->nodes[i].n_inputs; k++)
      if (g->nodes[i].inputs[k] == from) g->nodes[i].inputs[k] = to;
  for (int i = 0; i < g->n_outputs; i++)
    if (g->outputs[i] == from) {
      g->outputs[i] = to;
      g->values[to].is_output = true;
    }
  g->values[from].is_output = false;
  return checked(g, "replacing the uses of a tensor", err);
}

nnd_status nnd_graph_set_input(nnd_graph *g, int32_t node, int slot, int32_t v, nnd_error *err) {
  if (!node_ok(g, node) || slot < 0 || slot >= g->nodes[node].n_inputs ||
      (v != -1 && !value_ok(g, v)))
    return nnd_error_set(err, NND_ERR_USAGE, "set input: node #%d slot %d tensor #%d is invalid",
                         (int)node, slot, (int)v);
  g->nodes[node].inputs[slot] = v;
  return checked(g, "setting a node input", err);
}

nnd_status nnd_graph_remove_nodes(nnd_graph *g, const bool *remove, int32_t *new_index,
                                  nnd_error *err) {
  int32_t *map = malloc((size_t)(g->n_nodes ? g->n_nodes : 1) * sizeof *map);
  if (!map) return nnd_error_set(err, NND_ERR_NOMEM, "out of memory removing nodes");
  int32_t kept = 0;
  for (int32_t i = 0; i < g->n_nodes; i++) {
    if (remove[i]) {
      map[i] = -1;
      continue;
    }
    map[i] = kept;
    if (kept != i) g->nodes[kept] = g->nodes[i];
    kept++;
  }
  for (int32_t v = 0; v < g->n_values; v++) {
    nnd_value *val = &g->values[v];
    if (val->producer >= 0 && val->producer < g->n_nodes) val->producer = map[val->producer];
  }
  if (new_index) memcpy(new_index, map, (size_t)g->n_nodes * sizeof *map);
  free(map);
  g->n_nodes = kept;
  return checked(g, "removing nodes", err);
}

nnd_status nnd_graph_set_constant(nnd_graph *g, int32_t v, nnd_dtype dtype, const nnd_shape *shape,
                                  const void *data, size_t nbytes, bool copy, nnd_error *err) {
  if (!value_ok(g, v))
    return nnd_error_set(err, NND_ERR_USAGE, "set constant: no tensor #%d", (int)v);
  nnd_value *val = &g->values[v];
  if (val->kind == NND_VALUE_INPUT)
    return nnd_error_set(err, NND_ERR_USAGE, "'%s' is a graph input, not a constant", val->name);
  const void *bytes = data;
  if (copy && nbytes > 0) {
    void *p = nnd_graph_alloc(g, nbytes, 1);
    if (!p) return nnd_error_set(err, NND_ERR_NOMEM, "out of memory setting '%s'", val->name);
    memcpy(p, data, nbytes);
    bytes = p;
  }
  bool was_produced = val->producer >= 0;
  val->kind = NND_VALUE_CONSTANT;
  val->dtype = dtype;
  if (shape) val->shape = *shape;
  val->data = bytes;
  val->nbytes = nbytes;
  val->data_offset = -1; /* no longer the file's bytes */
  val->folded = false;
  val->producer = -1;
  /* A detached output leaves its producer inconsistent until the caller
   * removes that node: check only edits that are complete by themselves. */
  return was_produced ? NND_OK : checked(g, "setting a constant", err);
}

nnd_status nnd_graph_replace_node(nnd_graph *g, int32_t node, nnd_op op, const nnd_attrs *attrs,
                                  const nnd_activation *act, nnd_error *err) {
  if (!node_ok(g, node) || op < 0 || op >= NND_OP_COUNT)
    return nnd_error_set(err, NND_ERR_USAGE, "replace node: node #%d or op %d is invalid",
                         (int)node, (int)op);
  nnd_node *n = &g->nodes[node];
  n->op = op;
  if (attrs) n->attrs = *attrs;
  if (act) n->act = *act;
  return checked(g, "replacing a node", err);
}
