/* Small helpers shared by the graph passes (see pass_util.h). */
#include <stdio.h>
#include <stdlib.h>

#include "ir/pass_util.h"

nnd_status nnd__pass_add_f64(nnd_graph *g, const char *base, const char *suffix,
                             const nnd_shape *shape, const double *data, int64_t n, int32_t *id,
                             nnd_error *err) {
  char name[256];
  int32_t v = -1;
  for (int k = 0; k < 1000; k++) {
    snprintf(name, sizeof name, "%.200s/%s%s%d", base ? base : "", suffix, k ? "_" : "", k);
    if (nnd_graph_find_value(g, name) < 0) break;
  }
  nnd_status st = nnd_graph_add_value(g, name, &v, err);
  if (st != NND_OK) return st;
  st =
      nnd_graph_set_constant(g, v, NND_DTYPE_F64, shape, data, (size_t)n * sizeof *data, true, err);
  if (st != NND_OK) return st;
  *id = v;
  return NND_OK;
}

const nnd_value *nnd__const_input(const nnd_graph *g, const nnd_node *n, int k) {
  if (k >= n->n_inputs || n->inputs[k] < 0) return NULL;
  const nnd_value *v = &g->values[n->inputs[k]];
  return nnd__is_const_value(v) ? v : NULL;
}

int32_t *nnd__read_counts(const nnd_graph *g) {
  int32_t *c = calloc((size_t)g->n_values + 1, sizeof *c);
  if (!c) return NULL;
  for (int32_t i = 0; i < g->n_nodes; i++)
    for (int k = 0; k < g->nodes[i].n_inputs; k++)
      if (g->nodes[i].inputs[k] >= 0) c[g->nodes[i].inputs[k]]++;
  for (int i = 0; i < g->n_outputs; i++)
    c[g->outputs[i]]++;
  return c;
}

int nnd__channel_axis(const nnd_value *v) {
  if (v->shape.rank <= 2) return v->shape.rank - 1;
  return v->layout == NND_LAYOUT_NHWC ? v->shape.rank - 1 : 1;
}

void nnd__pass_take_output(nnd_graph *g, int32_t keep, int32_t gone) {
  nnd_node *k = &g->nodes[keep], *d = &g->nodes[gone];
  int32_t old = k->outputs[0], to = d->outputs[0];
  k->outputs[0] = to;
  d->outputs[0] = old; /* the dropped node now writes the unread value */
  g->values[to].producer = keep;
  g->values[old].producer = gone;
}
