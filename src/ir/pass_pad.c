/* Zero-Pad absorption: a constant-mode Pad of zeros on the spatial axes only
 * whose only reader is a 2-D Conv, or an AveragePool that counts the padding
 * (count_include_pad, or no pads of its own), goes into the reader's pads:
 * the reader then computes exactly what the pair did (its own padding is
 * zeros, and counted). Exporters write either spelling (Keras
 * ZeroPadding2D, torch's explicit F.pad before a pool, tf2onnx's Pad before
 * a VALID conv); this makes them one. Readers with SAME padding resolved
 * for the padded size, MaxPool (its padding is -inf, not zero) and
 * ceil_mode pools (the last window would count differently) are left. */
#include <stdlib.h>

#include "ir/pass_util.h"

/* Pad n's spatial axes (d1, d2 of a rank-4 input) when it pads zeros there
 * and nothing else. */
static bool zero_spatial_pad(const nnd_graph *g, const nnd_node *n, int *d0) {
  if (n->op != NND_OP_PAD || !n->attrs.has_pads || n->attrs.pad_mode != NND_PAD_CONSTANT ||
      n->attrs.pad_value != 0.f || n->attrs.n_pads != 4 || n->act.kind != NND_ACT_NONE ||
      n->n_inputs < 1 || n->inputs[0] < 0 || n->n_outputs != 1)
    return false;
  /* the pads and value are known constants: the other inputs only say them */
  bool nhwc = g->values[n->inputs[0]].layout == NND_LAYOUT_NHWC;
  int c_axis = nhwc ? 3 : 1;
  for (int d = 0; d < 4; d++) {
    if (d == 0 || d == c_axis) {
      if (n->attrs.pads_begin[d] != 0 || n->attrs.pads_end[d] != 0) return false;
    } else if (n->attrs.pads_begin[d] < 0 || n->attrs.pads_end[d] < 0) {
      return false;
    }
  }
  *d0 = nhwc ? 1 : 2;
  return true;
}

static bool not_same(nnd_auto_pad a) {
  return a != NND_AUTO_PAD_SAME_UPPER && a != NND_AUTO_PAD_SAME_LOWER;
}

static bool takes_zero_pad(const nnd_node *r, int32_t x) {
  if (r->n_inputs < 1 || r->inputs[0] != x) return false;
  if (r->op == NND_OP_CONV) return r->attrs.conv.n_spatial == 2 && not_same(r->attrs.conv.auto_pad);
  if (r->op == NND_OP_AVG_POOL) {
    const nnd_pool_attrs *p = &r->attrs.pool;
    bool own = false;
    for (int s = 0; s < p->n_spatial; s++)
      own |= p->pads_begin[s] != 0 || p->pads_end[s] != 0;
    return p->n_spatial == 2 && not_same(p->auto_pad) && !p->ceil_mode &&
           (p->count_include_pad || !own);
  }
  return false;
}

static nnd_status run_pad(nnd_graph *g, const nnd_pass_ctx *ctx, int64_t *n_changes,
                          nnd_error *err) {
  *n_changes = 0;
  if (g->n_nodes == 0) return NND_OK;
  int32_t *reads = nnd__read_counts(g);
  bool *remove = calloc((size_t)g->n_nodes, sizeof *remove);
  int32_t *reader = malloc((size_t)(g->n_values + 1) * sizeof *reader);
  if (!reads || !remove || !reader) {
    free(reads), free(remove), free(reader);
    return nnd_error_set(err, NND_ERR_NOMEM, "out of memory absorbing Pads");
  }
  for (int32_t v = 0; v < g->n_values; v++)
    reader[v] = -1;
  for (int32_t i = 0; i < g->n_nodes; i++)
    for (int k = 0; k < g->nodes[i].n_inputs; k++)
      if (g->nodes[i].inputs[k] >= 0) reader[g->nodes[i].inputs[k]] = i;
  nnd_status st = NND_OK;
  int64_t n = 0;
  for (int32_t i = 0; i < g->n_nodes && st == NND_OK; i++) {
    const nnd_node *pn = &g->nodes[i];
    int d0 = 0;
    if (remove[i] || !zero_spatial_pad(g, pn, &d0)) continue;
    int32_t y = pn->outputs[0];
    if (reads[y] != 1 || g->values[y].is_output || reader[y] < 0 || nnd__pass_kept(ctx, y))
      continue;
    nnd_node *r = &g->nodes[reader[y]];
    if (!takes_zero_pad(r, y)) continue;
    int64_t *pb = r->op == NND_OP_CONV ? r->attrs.conv.pads_begin : r->attrs.pool.pads_begin;
    int64_t *pe = r->op == NND_OP_CONV ? r->attrs.conv.pads_end : r->attrs.pool.pads_end;
    for (int s = 0; s < 2; s++) {
      pb[s] += pn->attrs.pads_begin[d0 + s];
      pe[s] += pn->attrs.pads_end[d0 + s];
    }
    if (r->op == NND_OP_CONV)
      r->attrs.conv.auto_pad = NND_AUTO_PAD_EXPLICIT;
    else
      r->attrs.pool.auto_pad = NND_AUTO_PAD_EXPLICIT, r->attrs.pool.count_include_pad = true;
    r->inputs[0] = pn->inputs[0];
    remove[i] = true;
    st = nnd__pass_merge(ctx, reader[y], i, NND_MERGE_PAD, err);
    n++;
  }
  if (st == NND_OK && n) st = nnd__pass_remove_nodes(g, ctx, remove, err);
  free(reads), free(remove), free(reader);
  *n_changes = n;
  return st;
}

const nnd_pass nnd_pass_absorb_zero_pad = {
    "absorb_zero_pad",
    "a zero Pad of the spatial axes before a Conv or a counting AveragePool joins its pads",
    run_pad};
