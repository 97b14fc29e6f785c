/* Layout transposes: two Transposes in a row that undo each other go (the
 * second one's readers read the first one's input), and every rank-4 float
 * tensor computed from the inputs gets its layout recorded (nnd_value
 * layout): NCHW from ONNX inputs (NHWC from TFLite and Keras), switched by
 * a Transpose that converts NCHW <-> NHWC, kept through every other op.
 * Canonicalisation reads those layouts to see through the conversions a
 * converter adds around channels-last ops (a Transpose to NHWC, a
 * ReduceMean over axes 1 and 2) and to find the channel axis. */
#include <stdlib.h>

#include "ir/pass_util.h"

static void perm_of(const nnd_node *n, int rank, int64_t *p) {
  for (int d = 0; d < rank; d++)
    p[d] = n->attrs.n_perm == rank ? n->attrs.perm[d] : rank - 1 - d;
}

/* The layout a Transpose converts its input to, or NONE. */
static nnd_layout converts_to(const nnd_node *n, nnd_layout in) {
  if (n->op != NND_OP_TRANSPOSE || n->attrs.n_perm != 4) return NND_LAYOUT_NONE;
  const int64_t *p = n->attrs.perm;
  if (p[0] == 0 && p[1] == 2 && p[2] == 3 && p[3] == 1 && in != NND_LAYOUT_NHWC)
    return NND_LAYOUT_NHWC;
  if (p[0] == 0 && p[1] == 3 && p[2] == 1 && p[3] == 2 && in == NND_LAYOUT_NHWC)
    return NND_LAYOUT_NCHW;
  return NND_LAYOUT_NONE;
}

/* Rewires the readers of Transposes that undo the Transpose before them. */
static int64_t cancel_pairs(nnd_graph *g, const nnd_pass_ctx *ctx) {
  int64_t n = 0;
  int32_t *to = malloc((size_t)(g->n_values + 1) * sizeof *to);
  int32_t *reads = nnd__read_counts(g);
  if (!to || !reads) {
    free(to), free(reads);
    return -1;
  }
  for (int32_t v = 0; v < g->n_values; v++)
    to[v] = v;
  for (int32_t i = 0; i < g->n_nodes; i++) {
    const nnd_node *b = &g->nodes[i];
    if (b->op != NND_OP_TRANSPOSE || b->n_inputs < 1 || b->inputs[0] < 0 || b->n_outputs != 1 ||
        b->act.kind != NND_ACT_NONE || g->values[b->outputs[0]].is_output ||
        reads[b->outputs[0]] == 0 || nnd__pass_kept(ctx, b->outputs[0]))
      continue;
    int32_t p = g->values[b->inputs[0]].producer;
    if (p < 0) continue;
    const nnd_node *a = &g->nodes[p];
    if (a->op != NND_OP_TRANSPOSE || a->n_inputs < 1 || a->inputs[0] < 0 ||
        a->act.kind != NND_ACT_NONE)
      continue;
    int rank = g->values[a->inputs[0]].shape.rank;
    if (rank < 1 || rank > NND_MAX_RANK || g->values[b->outputs[0]].shape.rank != rank) continue;
    int64_t pa[NND_MAX_RANK], pb[NND_MAX_RANK];
    perm_of(a, rank, pa);
    perm_of(b, rank, pb);
    bool identity = true;
    for (int d = 0; d < rank && identity; d++)
      identity = pb[d] >= 0 && pb[d] < rank && pa[pb[d]] == d;
    if (!identity) continue;
    to[b->outputs[0]] = a->inputs[0];
    n++;
  }
  if (n)
    for (int32_t i = 0; i < g->n_nodes; i++)
      for (int k = 0; k < g->nodes[i].n_inputs; k++) {
        int32_t v = g->nodes[i].inputs[k];
        if (v >= 0) g->nodes[i].inputs[k] = to[v];
      }
  free(to), free(reads);
  return n;
}

static nnd_status run_layout(nnd_graph *g, const nnd_pass_ctx *ctx, int64_t *n_changes,
                             nnd_error *err) {
  *n_changes = 0;
  int64_t n = cancel_pairs(g, ctx);
  if (n < 0) return nnd_error_set(err, NND_ERR_NOMEM, "out of memory cancelling Transposes");
  /* (the cancelled Transposes are left unread: dce removes them) */
  int32_t *order = malloc((size_t)(g->n_nodes ? g->n_nodes : 1) * sizeof *order);
  if (!order) return nnd_error_set(err, NND_ERR_NOMEM, "out of memory recording layouts");
  nnd_status st = nnd_graph_topo_order(g, order, err);
  if (st != NND_OK) {
    free(order);
    return st;
  }
  nnd_layout first = g->info.format == NND_FORMAT_TFLITE || g->info.format == NND_FORMAT_KERAS
                         ? NND_LAYOUT_NHWC
                         : NND_LAYOUT_NCHW;
  for (int i = 0; i < g->n_inputs; i++) {
    nnd_value *v = &g->values[g->inputs[i]];
    if (v->layout == NND_LAYOUT_NONE && v->shape.rank == 4 && nnd__is_float_dtype(v->dtype)) {
      v->layout = first;
      n++;
    }
  }
  for (int32_t i = 0; i < g->n_nodes; i++) {
    const nnd_node *nd = &g->nodes[order[i]];
    nnd_layout in =
        nd->n_inputs > 0 && nd->inputs[0] >= 0 ? g->values[nd->inputs[0]].layout : NND_LAYOUT_NONE;
    for (int k = 0; k < nd->n_outputs; k++) {
      nnd_value *o = &g->values[nd->outputs[k]];
      if (o->shape.rank != 4 || !nnd__is_float_dtype(o->dtype) || nnd__is_const_value(o) ||
          o->layout != NND_LAYOUT_NONE)
        continue;
      nnd_layout l = converts_to(nd, in);
      if (l == NND_LAYOUT_NONE && nd->op != NND_OP_TRANSPOSE)
        l = in != NND_LAYOUT_NONE ? in : NND_LAYOUT_NCHW;
      if (l == NND_LAYOUT_NONE) continue;
      o->layout = l;
      n++;
    }
  }
  free(order);
  *n_changes = n;
  return NND_OK;
}

const nnd_pass nnd_pass_layout_transposes = {
    "layout_transposes",
    "Transposes that undo each other go; rank-4 tensors get their layout (NCHW/NHWC) recorded",
    run_layout};
