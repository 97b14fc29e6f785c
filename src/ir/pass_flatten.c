/* Flatten normal form: a Reshape or Squeeze that turns [N, d1, d2, ...]
 * (static d's) into [N, d1*d2*...] — the flatten before a classifier, as
 * torch writes it (Flatten), as view(N, -1) writes it (Reshape), and after
 * a global pool with keepdims (Squeeze of the 1x1 spatial dims) — becomes
 * Flatten(axis 1) reading only its data. */
#include "ir/pass_util.h"

static int64_t dim(const nnd_value *v, int d) {
  return d < v->shape.rank ? v->shape.dims[d].size : -1;
}

static bool flattens(const nnd_graph *g, const nnd_node *n) {
  if (n->op != NND_OP_RESHAPE && n->op != NND_OP_SQUEEZE) return false;
  if (n->n_inputs < 1 || n->inputs[0] < 0 || n->n_outputs != 1 || n->act.kind != NND_ACT_NONE)
    return false;
  const nnd_value *x = &g->values[n->inputs[0]], *y = &g->values[n->outputs[0]];
  if (y->shape.rank != 2 || x->shape.rank < 2) return false;
  int64_t rest = 1;
  for (int d = 1; d < x->shape.rank; d++) {
    if (dim(x, d) < 0) return false;
    rest *= dim(x, d);
  }
  return dim(y, 1) == rest;
}

static nnd_status run_flatten(nnd_graph *g, const nnd_pass_ctx *ctx, int64_t *n_changes,
                              nnd_error *err) {
  (void)ctx;
  int64_t n = 0;
  for (int32_t i = 0; i < g->n_nodes; i++) {
    nnd_node *nd = &g->nodes[i];
    if (!flattens(g, nd)) continue;
    nnd_attrs a = nd->attrs;
    a.axis = 1;
    nnd_activation act = nd->act;
    nd->n_inputs = 1; /* the target shape or axes are said by the op now */
    nnd_status st = nnd_graph_replace_node(g, i, NND_OP_FLATTEN, &a, &act, err);
    if (st != NND_OK) return st;
    n++;
  }
  *n_changes = n;
  return NND_OK;
}

const nnd_pass nnd_pass_flatten_form = {
    "flatten_form", "Reshape/Squeeze of [N, d...] to [N, d1*d2*...] becomes Flatten(axis 1)",
    run_flatten};
