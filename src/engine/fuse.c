/* Phase B of planning, fast path only: fused groups and physical layouts.
 *
 * Fusion. A Conv, Gemm or MatMul (or a BatchNorm with constant statistics,
 * for activations only) heads a group that absorbs, while the
 * value in between has exactly one consumer and is neither a graph output
 * nor a value the caller listed for the tap:
 *   - a BatchNorm right after a Conv with constant weights (folded into the
 *     weights and bias at build, in double precision),
 *   - activations (Relu, Clip, LeakyRelu, Sigmoid, HardSigmoid, HardSwish,
 *     Tanh, Elu, Silu, Gelu), up to NND_FCONV_MAX_POST, as post-ops; an
 *     x * Sigmoid(x) pair (SiLU as exporters write it) counts as one,
 *   - after a MatMul, an Add of a constant bias over the last dim;
 *   - after a Conv with constant weights (and before any activation), an
 *     Add of a same-shape runtime value (the residual of ResNet blocks):
 *     the convolution accumulates into that value's buffer (oneDNN's sum
 *     post-op, or beta = 1 in the GEMM), copied first unless the memory
 *     plan lets the output take the residual's buffer over.
 * The group runs as one step at the position of its last node.
 *
 * Layout. With oneDNN, convolutions are fastest on channels-last
 * activations. A 2-D Conv on a logical NCHW value writes its output
 * channels-last; layout-agnostic ops (activations, BatchNorm, pooling,
 * elementwise, Concat, Identity) keep channels-last when one of their
 * inputs has it; every other consumer gets a converted copy (planned once
 * per value, free when channels or pixels are 1). */
#include <string.h>

#include "engine/engine_internal.h"

static bool listed(const nnd_engine *e, int32_t vid) {
  return e->opt.observe == NND_OBSERVE_LIST && e->opt.tap && e->v[vid].listed;
}

/* The value must exist on its own (cannot disappear into a group). */
static bool pinned(const nnd_engine *e, int32_t vid) {
  return e->v[vid].n_consumers != 1 || listed(e, vid);
}

static bool params_const(const nnd_engine *e, const nnd_node *nd, int first) {
  for (int k = first; k < nd->n_inputs; k++)
    if (nd->inputs[k] >= 0 && !e->v[nd->inputs[k]].is_const) return false;
  return true;
}

static bool add_post(efusion *f, const nnd__unary *u) {
  if (f->n_post >= NND_FCONV_MAX_POST) return false;
  f->post[f->n_post++] = *u;
  return true;
}

/* MatMul output y, Add(y, b): is b a constant bias over y's last dim? */
static bool is_bias_add(const nnd_engine *e, const nnd_node *add, int32_t y) {
  if (add->n_inputs != 2) return false;
  int32_t b = add->inputs[0] == y ? add->inputs[1] : add->inputs[0];
  if (b < 0 || b == y) return false;
  const evalue *bv = &e->v[b], *yv = &e->v[y], *ov = &e->v[add->outputs[0]];
  if (!bv->is_const || !bv->is_float || yv->rank < 1 || bv->rank > yv->rank) return false;
  if (ov->rank != yv->rank || memcmp(ov->dims, yv->dims, (size_t)yv->rank * sizeof *yv->dims))
    return false;
  for (int d = 0; d < bv->rank - 1; d++)
    if (bv->dims[d] != 1) return false;
  return bv->rank >= 1 && bv->dims[bv->rank - 1] == yv->dims[yv->rank - 1];
}

/* Conv output y, Add(y, r) or Add(r, y): is r a same-shape runtime value? */
static bool is_residual_add(const nnd_engine *e, const nnd_node *add, int32_t y) {
  if (add->n_inputs != 2 || (add->inputs[0] != y && add->inputs[1] != y)) return false;
  int32_t r = add->inputs[0] == y ? add->inputs[1] : add->inputs[0];
  if (r < 0 || r == y) return false;
  const evalue *rv = &e->v[r], *yv = &e->v[y];
  return !rv->is_const && rv->is_float && rv->rank == yv->rank && rv->nhwc == yv->nhwc &&
         memcmp(rv->dims, yv->dims, (size_t)yv->rank * sizeof *yv->dims) == 0;
}

/* x * Sigmoid(x) (how SiLU/Swish exports): the Mul computes silu(x) in one
 * pass and the Sigmoid disappears. silu_of[x] is that Mul. */
static void plan_silu(nnd_engine *e, const int32_t *consumer, int32_t *silu_of) {
  const nnd_graph *g = e->g;
  for (int32_t i = 0; i < e->n_topo; i++) {
    const int32_t id = e->topo[i];
    const nnd_node *sn = &g->nodes[id];
    if (sn->op != NND_OP_SIGMOID || e->n[id].folded || sn->n_inputs != 1 ||
        sn->act.kind != NND_ACT_NONE)
      continue;
    const int32_t x = sn->inputs[0], s = sn->outputs[0];
    if (x < 0 || e->v[x].is_const || pinned(e, s)) continue;
    const int32_t m = consumer[s];
    if (m < 0 || e->n[m].folded) continue;
    const nnd_node *mn = &g->nodes[m];
    if (mn->op != NND_OP_MUL || mn->n_inputs != 2 || mn->act.kind != NND_ACT_NONE) continue;
    if (!((mn->inputs[0] == x && mn->inputs[1] == s) || (mn->inputs[0] == s && mn->inputs[1] == x)))
      continue;
    e->n[id].skip = true;
    e->v[s].absorbed = true;
    e->n[m].silu_mul = true;
    e->n[m].silu_x = x;
    silu_of[x] = m;
    e->stats.n_fused_nodes++;
  }
}

static void plan_groups(nnd_engine *e, const int32_t *consumer, const int32_t *silu_of) {
  const nnd_graph *g = e->g;
  for (int32_t i = 0; i < e->n_topo; i++) {
    const int32_t id = e->topo[i];
    enode *n = &e->n[id];
    const nnd_node *nd = &g->nodes[id];
    if (n->folded || n->absorbed) continue;
    /* A standalone BatchNorm (pre-activation networks: BN -> ReLU -> Conv)
     * heads a group of activations when its statistics are constants. */
    const bool bn_head = nd->op == NND_OP_BATCH_NORM && params_const(e, nd, 1);
    if (nd->op != NND_OP_CONV && nd->op != NND_OP_GEMM && nd->op != NND_OP_MATMUL && !bn_head)
      continue;
    efusion f = {.bn_node = -1,
                 .bias_node = -1,
                 .sum_node = -1,
                 .last_node = id,
                 .out_value = nd->outputs[0]};
    nnd__unary u;
    if (nnd__unary_from_act(&nd->act, &u)) add_post(&f, &u);
    const bool conv_const = nd->op == NND_OP_CONV && params_const(e, nd, 1);
    int32_t cur = nd->outputs[0];
    for (;;) {
      if (pinned(e, cur)) {
        /* x feeding only a SiLU pair: the pair is one more activation. */
        const int32_t m = silu_of[cur];
        if (m < 0 || e->v[cur].n_consumers != 2 || listed(e, cur) || e->n[m].absorbed ||
            f.n_post >= NND_FCONV_MAX_POST)
          break;
        const nnd__unary silu = {NND__UN_SILU, 0, 0};
        add_post(&f, &silu);
        e->n[m].absorbed = true;
        e->n[m].head = id;
        e->v[cur].absorbed = true;
        e->stats.n_fused_nodes++;
        f.last_node = m;
        cur = g->nodes[m].outputs[0];
        f.out_value = cur;
        continue;
      }
      const int32_t c = consumer[cur];
      if (c < 0) break;
      enode *cn = &e->n[c];
      const nnd_node *cnd = &g->nodes[c];
      if (cn->folded || cn->absorbed || cnd->n_inputs < 1) break;
      const op_impl *impl = nnd__engine_op(cnd->op);
      if (bn_head && !(impl && (impl->flags & OPF_ACTIVATION))) break;
      if (conv_const && cnd->op == NND_OP_ADD && f.sum_node < 0 && f.n_post == 0 &&
          is_residual_add(e, cnd, cur)) {
        f.sum_node = c;
      } else if (cnd->inputs[0] != cur) {
        break;
      } else if (cnd->op == NND_OP_BATCH_NORM && conv_const && f.n_post == 0 && f.bn_node < 0 &&
                 params_const(e, cnd, 1) &&
                 e->v[cur].nhwc == (nd->attrs.conv.layout == NND_LAYOUT_NHWC)) {
        f.bn_node = c;
      } else if (impl && (impl->flags & OPF_ACTIVATION) && cn->params &&
                 f.n_post < NND_FCONV_MAX_POST && params_const(e, cnd, 1)) {
        add_post(&f, cn->params);
      } else if (nd->op == NND_OP_MATMUL && cnd->op == NND_OP_ADD && f.bias_node < 0 &&
                 f.n_post == 0 && is_bias_add(e, cnd, cur)) {
        f.bias_node = c;
      } else {
        break;
      }
      if (nnd__unary_from_act(&cnd->act, &u) && !add_post(&f, &u)) {
        /* No room for this node's own activation: undo and stop. */
        if (f.bn_node == c)
          f.bn_node = -1;
        else if (f.bias_node == c)
          f.bias_node = -1;
        else if (f.sum_node == c)
          f.sum_node = -1;
        else
          f.n_post--;
        break;
      }
      cn->absorbed = true;
      cn->head = id;
      e->v[cur].absorbed = true;
      e->stats.n_fused_nodes++;
      f.last_node = c;
      cur = cnd->outputs[0];
      f.out_value = cur;
    }
    if (f.last_node != id || f.n_post > 0) {
      n->is_head = true;
      n->fusion = f;
    }
  }
}

static bool flex_ok(const nnd_engine *e, const nnd_node *nd) {
  switch (nd->op) {
  case NND_OP_MAX_POOL:
  case NND_OP_AVG_POOL: return nd->attrs.pool.layout != NND_LAYOUT_NHWC;
  case NND_OP_PAD: return e->v[nd->inputs[0]].rank == 4;
  default: return true;
  }
}

static void plan_layouts(nnd_engine *e) {
  const nnd_graph *g = e->g;
  for (int32_t i = 0; i < e->n_topo; i++) {
    const int32_t id = e->topo[i];
    const enode *n = &e->n[id];
    const nnd_node *nd = &g->nodes[id];
    if (n->folded || n->absorbed || n->skip) continue;
    const int32_t out = n->is_head ? n->fusion.out_value : nd->outputs[0];
    evalue *ov = &e->v[out];
    if (ov->rank != 4 || ov->nhwc || ov->is_const) continue;
    bool cl = false;
    if (nd->op == NND_OP_CONV) {
      cl = nd->attrs.conv.layout != NND_LAYOUT_NHWC;
    } else {
      const op_impl *impl = nnd__engine_op(nd->op);
      if (impl && (impl->flags & OPF_FLEX) && flex_ok(e, nd)) {
        bool all_rank4 = true;
        for (int k = 0; k < nd->n_inputs; k++) {
          int32_t v = nd->inputs[k];
          if (v < 0 || e->v[v].is_const) continue;
          if (e->v[v].rank != 4 || e->v[v].nhwc) all_rank4 = false;
          if (e->v[v].want_cl) cl = true;
        }
        cl = cl && all_rank4;
      }
    }
    ov->want_cl = cl;
  }
}

nnd_status nnd__plan_fusion(nnd_engine *e, nnd_error *err) {
  if (!e->fusion) return NND_OK;
  int32_t *consumer = nnd__emem(e, (size_t)e->g->n_values, sizeof *consumer);
  if (!consumer) return nnd_error_set(err, NND_ERR_NOMEM, "out of memory planning fusion");
  for (int32_t v = 0; v < e->g->n_values; v++)
    consumer[v] = -1;
  for (int32_t i = 0; i < e->n_topo; i++) {
    const nnd_node *nd = &e->g->nodes[e->topo[i]];
    for (int k = 0; k < nd->n_inputs; k++)
      if (nd->inputs[k] >= 0) consumer[nd->inputs[k]] = e->topo[i];
  }
  int32_t *silu_of = nnd__emem(e, (size_t)e->g->n_values, sizeof *silu_of);
  if (!silu_of) return nnd_error_set(err, NND_ERR_NOMEM, "out of memory planning fusion");
  for (int32_t v = 0; v < e->g->n_values; v++)
    silu_of[v] = -1;
  plan_silu(e, consumer, silu_of);
  plan_groups(e, consumer, silu_of);
  if (e->use_cl) plan_layouts(e);
  return NND_OK;
}
