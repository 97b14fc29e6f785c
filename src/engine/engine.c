/* The engine's public API: create (the planning pipeline described in
 * engine_internal.h), run (input copies, steps, taps, output copies),
 * destroy and queries. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "engine/engine_internal.h"
#include "util/bytes.h"
#include "util/checked_math.h"

const char *nnd_precision_name(nnd_precision p) {
  return p == NND_PRECISION_REFERENCE ? "reference" : "fast";
}

void nnd_engine_options_init(nnd_engine_options *o) {
  memset(o, 0, sizeof *o);
  o->precision = NND_PRECISION_FAST;
  o->threads = 1;
  o->observe = NND_OBSERVE_NONE;
}

static bool is_float_dtype(nnd_dtype d) {
  return d == NND_DTYPE_F32 || d == NND_DTYPE_F64 || d == NND_DTYPE_F16 || d == NND_DTYPE_BF16;
}

static nnd_status add_tap(nnd_engine *e, int32_t node, int32_t value, int32_t tensor,
                          nnd_error *err) {
  if (e->n_taps == e->cap_taps) {
    int32_t cap = e->cap_taps ? e->cap_taps * 2 : 64;
    etap *t = realloc(e->taps, (size_t)cap * sizeof *t);
    if (!t) return nnd_error_set(err, NND_ERR_NOMEM, "out of memory planning taps");
    e->taps = t;
    e->cap_taps = cap;
  }
  e->taps[e->n_taps++] = (etap){e->n_s - 1, node, value, tensor};
  e->t[tensor].used = true;
  return NND_OK;
}

/* The tensor holding a value for taps and outputs: its logical copy, else
 * its channels-last one. */
static int32_t value_tensor(const nnd_engine *e, int32_t value) {
  const evalue *ev = &e->v[value];
  return ev->tid[0][0] >= 0 ? ev->tid[0][0] : ev->tid[1][0];
}

/* ------------------------------------------- which nodes are needed */

static nnd_status plan_needed(nnd_engine *e, nnd_error *err) {
  const nnd_graph *g = e->g;
  int32_t *order = malloc((size_t)(g->n_nodes ? g->n_nodes : 1) * sizeof *order);
  if (!order) return nnd_error_set(err, NND_ERR_NOMEM, "out of memory planning the graph");
  nnd_status st = nnd_graph_topo_order(g, order, err);
  if (st != NND_OK) {
    free(order);
    return st;
  }
  for (int i = 0; i < g->n_outputs; i++)
    e->v[g->outputs[i]].needed = true;
  if (e->opt.observe == NND_OBSERVE_LIST)
    for (int i = 0; i < e->opt.n_observe_values; i++)
      e->v[e->observe_list[i]].needed = e->v[e->observe_list[i]].listed = true;
  if (e->opt.observe == NND_OBSERVE_ALL) {
    for (int32_t i = 0; i < g->n_nodes; i++)
      for (int k = 0; k < g->nodes[i].n_outputs; k++)
        if (g->nodes[i].outputs[k] >= 0) e->v[g->nodes[i].outputs[k]].needed = true;
    for (int i = 0; i < g->n_inputs; i++)
      e->v[g->inputs[i]].needed = true;
  }
  for (int32_t i = g->n_nodes - 1; i >= 0; i--) {
    const nnd_node *nd = &g->nodes[order[i]];
    bool needed = false;
    for (int k = 0; k < nd->n_outputs; k++)
      needed |= nd->outputs[k] >= 0 && e->v[nd->outputs[k]].needed;
    if (!needed) continue;
    e->n[order[i]].needed = true;
    for (int k = 0; k < nd->n_inputs; k++)
      if (nd->inputs[k] >= 0) e->v[nd->inputs[k]].needed = true;
  }
  e->topo = nnd__emem(e, (size_t)g->n_nodes, sizeof *e->topo);
  if (!e->topo) {
    free(order);
    return nnd_error_set(err, NND_ERR_NOMEM, "out of memory planning the graph");
  }
  for (int32_t i = 0; i < g->n_nodes; i++)
    if (e->n[order[i]].needed) e->topo[e->n_topo++] = order[i];
  free(order);
  for (int32_t i = 0; i < e->n_topo; i++) {
    const nnd_node *nd = &g->nodes[e->topo[i]];
    for (int k = 0; k < nd->n_inputs; k++)
      if (nd->inputs[k] >= 0) e->v[nd->inputs[k]].n_consumers++;
  }
  for (int i = 0; i < g->n_outputs; i++)
    e->v[g->outputs[i]].n_consumers++;
  return NND_OK;
}

/* ------------------------------------------- inputs and constants */

/* Makes the plan constant of value vid from `count` elements read by
 * `read` (graph data or a frozen tensor). */
static nnd_status make_constant(nnd_engine *e, int32_t vid, const void *data, nnd_dtype dtype,
                                int64_t count, nnd_error *err) {
  evalue *ev = &e->v[vid];
  const char *name = e->g->values[vid].name;
  int32_t t =
      nnd__const_tensor(e, vid, ev->is_float ? NND_DTYPE_F64 : NND_DTYPE_I64, ev->rank, ev->dims);
  if (t < 0) {
    char detail[320];
    snprintf(detail, sizeof detail, "out of memory loading constant '%s'", name);
    return nnd__oom_error(e, -1, detail, err);
  }
  etensor *ct = &e->t[t];
  if (count < ct->numel)
    return nnd_error_set(err, NND_ERR_GRAPH, "constant '%s' holds %lld elements, its shape %lld",
                         name, (long long)count, (long long)ct->numel);
  ev->is_const = true;
  ev->tid[0][0] = t;
  const unsigned char *p = data;
  /* The common cases with memcpy (data may be unaligned); the rest through
   * the IR's typed reader. */
  if (ev->is_float && dtype == NND_DTYPE_F32) {
    double *out = ct->data;
    for (int64_t i = 0; i < ct->numel; i++) {
      float f;
      memcpy(&f, p + 4 * i, 4);
      out[i] = f;
    }
  } else if ((ev->is_float && dtype == NND_DTYPE_F64) ||
             (!ev->is_float && dtype == NND_DTYPE_I64)) {
    memcpy(ct->data, data, (size_t)ct->numel * 8);
  } else {
    nnd_value tmp = {0};
    tmp.dtype = dtype;
    tmp.data = data;
    tmp.nbytes = (size_t)count * nnd_dtype_size(dtype);
    for (int64_t i = 0; i < ct->numel; i++) {
      bool ok = ev->is_float ? nnd_value_read_f64(&tmp, i, (double *)ct->data + i)
                             : nnd_value_read_i64(&tmp, i, (int64_t *)ct->data + i);
      if (!ok)
        return nnd_error_set(err, NND_ERR_UNSUPPORTED, "constant '%s': cannot read %s element %lld",
                             name, nnd_dtype_name(dtype), (long long)i);
    }
  }
  return NND_OK;
}

static nnd_status plan_constant(nnd_engine *e, int32_t vid, nnd_error *err) {
  const nnd_value *v = &e->g->values[vid];
  evalue *ev = &e->v[vid];
  if (v->shape.rank < 0 || !nnd_shape_is_static(&v->shape))
    return nnd_error_set(err, NND_ERR_GRAPH, "constant '%s' has no static shape", v->name);
  if (v->dtype == NND_DTYPE_STRING || v->dtype == NND_DTYPE_UNDEFINED || !v->data)
    return nnd_error_set(err, NND_ERR_UNSUPPORTED, "constant '%s' (%s) has no numeric data",
                         v->name, nnd_dtype_name(v->dtype));
  ev->rank = v->shape.rank;
  for (int i = 0; i < ev->rank; i++)
    ev->dims[i] = v->shape.dims[i].size;
  ev->is_float = is_float_dtype(v->dtype);
  ev->known = true;
  ev->nhwc = v->layout == NND_LAYOUT_NHWC;
  return make_constant(e, vid, v->data, v->dtype, nnd_value_data_count(v), err);
}

static nnd_status plan_inputs(nnd_engine *e, nnd_error *err) {
  const nnd_graph *g = e->g;
  bool symbolic = false;
  int64_t fixed = 0;
  for (int i = 0; i < g->n_inputs; i++) {
    const nnd_value *v = &g->values[g->inputs[i]];
    if (v->shape.rank > 0 && v->shape.dims[0].size < 0)
      symbolic = true;
    else if (v->shape.rank > 0 && !fixed)
      fixed = v->shape.dims[0].size;
  }
  e->batch = e->opt.batch > 0 ? e->opt.batch : (symbolic || !fixed ? 1 : fixed);
  e->run_input_values = nnd__emem(e, (size_t)g->n_inputs, sizeof(int32_t));
  e->run_input_t = nnd__emem(e, (size_t)g->n_inputs, sizeof(int32_t));
  if (!e->run_input_values || !e->run_input_t)
    return nnd_error_set(err, NND_ERR_NOMEM, "out of memory planning inputs");
  for (int i = 0; i < g->n_inputs; i++) {
    const int32_t vid = g->inputs[i];
    const nnd_value *v = &g->values[vid];
    evalue *ev = &e->v[vid];
    if (v->shape.rank < 0)
      return nnd_error_set(err, NND_ERR_UNSUPPORTED,
                           "graph input '%s' has an unknown rank; the engine needs its shape",
                           v->name);
    ev->rank = v->shape.rank;
    for (int d = 0; d < ev->rank; d++) {
      int64_t s = v->shape.dims[d].size;
      if (s < 0 && d == 0) s = e->batch;
      if (s < 0)
        return nnd_error_set(err, NND_ERR_UNSUPPORTED,
                             "graph input '%s': dim %d ('%s') is symbolic; the engine needs a "
                             "static size for every dim but the batch (dim 0)",
                             v->name, d, v->shape.dims[d].symbol ? v->shape.dims[d].symbol : "?");
      if (d == 0 && e->opt.batch > 0 && s != e->opt.batch)
        return nnd_error_set(err, NND_ERR_USAGE,
                             "graph input '%s' has a fixed batch size of %lld; cannot run a "
                             "batch of %lld",
                             v->name, (long long)s, (long long)e->opt.batch);
      ev->dims[d] = s;
    }
    ev->is_float = is_float_dtype(v->dtype);
    ev->known = true;
    ev->nhwc = v->layout == NND_LAYOUT_NHWC;
    const nnd_engine_options *co = e->create_opt;
    int frozen = -1;
    for (int k = 0; k < co->n_frozen; k++)
      if (co->frozen_values[k] == vid) frozen = k;
    if (frozen >= 0) {
      const nnd_tensor *ft = &co->frozen_data[frozen];
      if (ft->rank != ev->rank)
        return nnd_error_set(err, NND_ERR_USAGE, "frozen input '%s': rank %d, expected %d", v->name,
                             ft->rank, ev->rank);
      for (int d = 0; d < ev->rank; d++)
        if (ft->dims[d] != ev->dims[d])
          return nnd_error_set(err, NND_ERR_USAGE,
                               "frozen input '%s': dim %d is %lld, expected %lld", v->name, d,
                               (long long)ft->dims[d], (long long)ev->dims[d]);
      if (ft->dtype != NND_DTYPE_F32 && ft->dtype != NND_DTYPE_F64 && ft->dtype != NND_DTYPE_I64)
        return nnd_error_set(err, NND_ERR_USAGE,
                             "frozen input '%s': dtype %s (need float32, "
                             "float64 or int64)",
                             v->name, nnd_dtype_name(ft->dtype));
      int64_t count = 1;
      for (int d = 0; d < ev->rank; d++)
        count *= ev->dims[d];
      nnd_status st = make_constant(e, vid, ft->data, ft->dtype, count, err);
      if (st != NND_OK) return st;
      continue;
    }
    const int k = e->n_run_inputs++;
    e->run_input_values[k] = vid;
    e->run_input_t[k] = -1;
    if (!ev->needed) continue;
    if (!ev->is_float)
      return nnd_error_set(err, NND_ERR_UNSUPPORTED,
                           "graph input '%s' is %s; the engine runs float inputs only (give "
                           "integer inputs as frozen inputs)",
                           v->name, nnd_dtype_name(v->dtype));
    int32_t t = nnd__runtime_tensor(e, vid, ev->rank, ev->dims, false);
    if (t < 0) return nnd__oom_error(e, -1, "out of memory planning inputs", err);
    e->t[t].used = true;
    ev->tid[0][0] = t;
    e->run_input_t[k] = t;
  }
  for (int32_t vid = 0; vid < g->n_values; vid++) {
    if (!e->v[vid].needed || e->v[vid].known) continue;
    if (g->values[vid].kind == NND_VALUE_CONSTANT) {
      nnd_status st = plan_constant(e, vid, err);
      if (st != NND_OK) return st;
    } else if (g->values[vid].producer < 0) {
      return nnd_error_set(err, NND_ERR_GRAPH, "tensor '%s' is used but nothing produces it",
                           g->values[vid].name);
    }
  }
  return NND_OK;
}

/* ------------------------------------------ phase A: shapes, folding */

static bool check_inferred(nnd_engine *e, int32_t id, int k, nnd_error *err, nnd_status *st) {
  const int32_t vid = e->g->nodes[id].outputs[k];
  const nnd_value *v = &e->g->values[vid];
  const evalue *ev = &e->v[vid];
  if (v->shape.rank < 0) return true;
  bool same = v->shape.rank == ev->rank;
  for (int d = 0; same && d < ev->rank; d++)
    same = v->shape.dims[d].size < 0 || v->shape.dims[d].size == ev->dims[d];
  if (same) return true;
  char a[160], b[160];
  nnd_shape mine = {.rank = ev->rank};
  for (int d = 0; d < ev->rank; d++)
    mine.dims[d].size = ev->dims[d];
  nnd_shape_format(&mine, a, sizeof a);
  nnd_shape_format(&v->shape, b, sizeof b);
  *st = nnd__node_error(e, id, err, NND_ERR_GRAPH,
                        "output '%s' comes out as %s for batch %lld, but shape inference said %s",
                        v->name, a, (long long)e->batch, b);
  return false;
}

typedef nnd_status (*node_fn)(nnd_engine *e, int32_t id, nnd_error *err);

/* Output shapes of node id from the IR's inference for the batch, then its
 * kernel parameters (the op's prepare). */
static nnd_status shape_node(nnd_engine *e, int32_t id, nnd_error *err) {
  nnd_attrs attrs;
  nnd_status st = nnd__ir_infer(e, id, &attrs, err);
  const op_impl *impl = nnd__engine_op(e->g->nodes[id].op);
  if (st == NND_OK && impl->prepare) st = impl->prepare(e, id, &attrs, err);
  return st;
}

/* Runs one op's shapes or build for node id. Running out of memory there
 * (or past the budget) comes from sizes in the model, so the message names
 * the node and, when an allocation recorded it, the tensor and the bytes. */
static nnd_status call_node(nnd_engine *e, int32_t id, node_fn fn, nnd_error *err) {
  nnd_error local = {0};
  e->oom.bytes = 0;
  e->oom.value = -1;
  nnd_status st = fn(e, id, &local);
  if (st == NND_OK) return NND_OK;
  if (st == NND_ERR_NOMEM) return nnd__oom_error(e, id, local.message, err);
  return nnd_error_set(err, st, "%s", local.message[0] ? local.message : nnd_status_str(st));
}

/* A folded node: its build on constants, then its own activation. */
static nnd_status fold_node(nnd_engine *e, int32_t id, nnd_error *err) {
  const nnd_node *nd = &e->g->nodes[id];
  nnd_status st = nnd__engine_op(nd->op)->build(e, id, err);
  if (st == NND_OK) st = nnd__emit_node_act(e, id, e->v[nd->outputs[0]].tid[0][0], err);
  return st;
}

static nnd_status build_node(nnd_engine *e, int32_t id, nnd_error *err) {
  if (e->n[id].silu_mul) return nnd__eng_build_silu(e, id, err);
  return nnd__engine_op(e->g->nodes[id].op)->build(e, id, err);
}

static nnd_status plan_node_shapes(nnd_engine *e, nnd_error *err) {
  const nnd_graph *g = e->g;
  for (int32_t i = 0; i < e->n_topo; i++) {
    const int32_t id = e->topo[i];
    const nnd_node *nd = &g->nodes[id];
    const op_impl *impl = nnd__engine_op(nd->op);
    if (!impl)
      return nnd__node_error(e, id, err, NND_ERR_UNSUPPORTED, "not supported by the engine");
    for (int k = 0; k < nd->n_inputs; k++)
      if (nd->inputs[k] >= 0 && !e->v[nd->inputs[k]].known)
        return nnd__node_error(e, id, err, NND_ERR_INTERNAL, "input '%s' has no planned shape",
                               g->values[nd->inputs[k]].name);
    e->cur_node = id;
    nnd_status st = call_node(e, id, shape_node, err);
    if (st != NND_OK) return st;
    bool all_const = true;
    for (int k = 0; k < nd->n_inputs; k++)
      if (nd->inputs[k] >= 0 && !e->v[nd->inputs[k]].is_const) all_const = false;
    for (int k = 0; k < nd->n_outputs; k++) {
      int32_t o = nd->outputs[k];
      if (o < 0 || !e->v[o].needed) continue;
      if (!e->v[o].known)
        return nnd__node_error(e, id, err, NND_ERR_UNSUPPORTED,
                               "output %d ('%s') is not supported by the engine", k,
                               g->values[o].name);
      if (!check_inferred(e, id, k, err, &st)) return st;
    }
    if ((all_const || nd->op == NND_OP_SHAPE) && !(impl->flags & OPF_NO_FOLD)) {
      e->folding = true;
      st = call_node(e, id, fold_node, err);
      e->folding = false;
      if (st != NND_OK) return st;
      e->n[id].folded = true;
      e->stats.n_folded_nodes++;
      for (int k = 0; k < nd->n_outputs; k++)
        if (nd->outputs[k] >= 0 && e->v[nd->outputs[k]].needed && !e->v[nd->outputs[k]].is_const)
          return nnd__node_error(e, id, err, NND_ERR_INTERNAL, "output %d was not folded", k);
      continue;
    }
    for (int k = 0; k < nd->n_outputs; k++) {
      int32_t o = nd->outputs[k];
      if (o >= 0 && e->v[o].needed && !e->v[o].is_float && !e->v[o].is_const)
        return nnd__node_error(e, id, err, NND_ERR_UNSUPPORTED,
                               "computes the integer tensor '%s' at run time; the engine runs "
                               "float tensors only (integers must come from constants or shapes)",
                               g->values[o].name);
    }
  }
  return NND_OK;
}

static nnd_status plan_shapes(nnd_engine *e, nnd_error *err) {
  nnd_status st = nnd__ir_view_open(e, err);
  if (st == NND_OK) st = plan_node_shapes(e, err);
  nnd__ir_view_close(e); /* the IR's view for the batch serves phase A only */
  return st;
}

/* ------------------------------------------------ phase C: steps */

static void plan_observed(nnd_engine *e) {
  const nnd_graph *g = e->g;
  if (e->opt.observe == NND_OBSERVE_NONE || !e->opt.tap) return;
  for (int32_t vid = 0; vid < g->n_values; vid++) {
    evalue *ev = &e->v[vid];
    if (!ev->needed || !ev->known) continue;
    if (e->opt.observe == NND_OBSERVE_LIST) {
      ev->observed = ev->listed;
    } else {
      const nnd_value *v = &g->values[vid];
      ev->observed = !ev->absorbed && (v->producer >= 0 || v->kind == NND_VALUE_INPUT);
    }
  }
}

static nnd_status tap_outputs(nnd_engine *e, int32_t node, int32_t id, nnd_error *err) {
  const nnd_node *nd = &e->g->nodes[id];
  for (int k = 0; k < nd->n_outputs; k++) {
    int32_t vid = nd->outputs[k];
    if (vid < 0 || !e->v[vid].observed) continue;
    int32_t t = value_tensor(e, vid);
    if (t < 0)
      return nnd__node_error(e, id, err, NND_ERR_INTERNAL, "observed output has no tensor");
    nnd_status st = add_tap(e, node, vid, t, err);
    if (st != NND_OK) return st;
  }
  return NND_OK;
}

static nnd_status plan_steps(nnd_engine *e, nnd_error *err) {
  const nnd_graph *g = e->g;
  nnd_status st;
  /* Graph inputs and listed constants first. */
  for (int i = 0; i < g->n_inputs; i++) {
    int32_t vid = g->inputs[i];
    if (e->v[vid].observed && (st = add_tap(e, -1, vid, value_tensor(e, vid), err)) != NND_OK)
      return st;
  }
  for (int32_t vid = 0; vid < g->n_values; vid++)
    if (e->v[vid].observed && g->values[vid].kind == NND_VALUE_CONSTANT &&
        (st = add_tap(e, -1, vid, value_tensor(e, vid), err)) != NND_OK)
      return st;
  for (int32_t i = 0; i < e->n_topo; i++) {
    const int32_t id = e->topo[i];
    enode *n = &e->n[id];
    e->cur_node = id;
    if (n->skip) continue;
    if (n->folded) {
      if ((st = tap_outputs(e, id, id, err)) != NND_OK) return st;
      continue;
    }
    if (n->absorbed) {
      /* A group is built at its last node, so the taps keep the order. */
      const int32_t head = n->head;
      if (e->n[head].fusion.last_node != id) continue;
      if ((st = call_node(e, head, build_node, err)) != NND_OK) return st;
      if ((st = tap_outputs(e, id, id, err)) != NND_OK) return st;
      continue;
    }
    if (n->is_head && n->fusion.last_node != id) continue;
    const op_impl *impl = nnd__engine_op(g->nodes[id].op);
    const int32_t before = e->n_s;
    st = call_node(e, id, build_node, err);
    if (st != NND_OK) return st;
    if (!n->is_head && g->nodes[id].act.kind != NND_ACT_NONE) {
      int32_t out = value_tensor(e, g->nodes[id].outputs[0]);
      if ((st = nnd__emit_node_act(e, id, out, err)) != NND_OK) return st;
    }
    if (e->n_s == before && (impl->flags & OPF_ALIAS)) e->stats.n_alias_nodes++;
    if ((st = tap_outputs(e, id, id, err)) != NND_OK) return st;
  }
  for (int i = 0; i < g->n_outputs; i++) {
    int32_t t = value_tensor(e, g->outputs[i]);
    if (t < 0)
      return nnd_error_set(err, NND_ERR_INTERNAL, "graph output '%s' has no tensor",
                           g->values[g->outputs[i]].name);
    e->t[t].used = true;
  }
  return NND_OK;
}

/* Bytes of the buffer converting taps and outputs (layout or dtype). */
static void plan_conv_buf(nnd_engine *e) {
  size_t need = 0;
  for (int32_t i = 0; i < e->n_taps; i++) {
    const etensor *t = &e->t[e->taps[i].tensor];
    if (t->cl || (t->is_const && t->dtype == NND_DTYPE_F64 && !e->ref)) {
      size_t b = (size_t)t->numel * 8;
      if (b > need) need = b;
    }
  }
  /* Outputs go through it only to leave channels-last. */
  for (int i = 0; i < e->g->n_outputs; i++) {
    const etensor *t = &e->t[value_tensor(e, e->g->outputs[i])];
    size_t b = (size_t)t->numel * nnd_dtype_size(t->dtype);
    if (t->cl && b > need) need = b;
  }
  e->conv_bytes = need;
}

static void free_unused_constants(nnd_engine *e) {
  for (int32_t i = 0; i < e->n_t; i++) {
    etensor *t = &e->t[i];
    if (t->is_const && t->owns && !t->used) {
      nnd__release(e, (size_t)t->numel * nnd_dtype_size(t->dtype));
      free(t->data);
      t->data = NULL;
      t->owns = false;
    }
  }
}

static void destroy_steps(nnd_engine *e) {
  for (int32_t i = 0; i < e->n_s; i++)
    if (e->s[i].destroy) e->s[i].destroy(e->s[i].p);
  e->n_s = 0;
}

void nnd_engine_destroy(nnd_engine *e) {
  if (!e) return;
  destroy_steps(e);
  for (int32_t i = 0; i < e->n_t; i++)
    if (e->t[i].owns) free(e->t[i].data);
  free(e->t);
  free(e->s);
  free(e->taps);
  free(e->bufs);
  free(e->arena);
  free(e->scratch);
  free(e->conv_buf);
  free(e->node_seconds);
  nnd__fast_ctx_destroy(e->fast);
  free(e->v);
  free(e->n);
  nnd_arena_destroy(e->mem);
  free(e);
}

static void *alloc64(size_t bytes) { return aligned_alloc(64, (bytes + 63) / 64 * 64 + 64); }

static nnd_status check_options(const nnd_graph *g, const nnd_engine_options *o, nnd_error *err) {
  if (o->precision != NND_PRECISION_FAST && o->precision != NND_PRECISION_REFERENCE)
    return nnd_error_set(err, NND_ERR_USAGE, "unknown precision %d", (int)o->precision);
  if (o->batch < 0)
    return nnd_error_set(err, NND_ERR_USAGE, "batch size %lld", (long long)o->batch);
  if (o->threads < 0 || o->threads > 1024)
    return nnd_error_set(err, NND_ERR_USAGE, "thread count %d", o->threads);
  if (o->observe != NND_OBSERVE_NONE && o->observe != NND_OBSERVE_ALL &&
      o->observe != NND_OBSERVE_LIST)
    return nnd_error_set(err, NND_ERR_USAGE, "unknown observe mode %d", (int)o->observe);
  if (o->observe == NND_OBSERVE_LIST) {
    if (o->n_observe_values < 0 || (o->n_observe_values > 0 && !o->observe_values))
      return nnd_error_set(err, NND_ERR_USAGE, "observe list is missing");
    for (int i = 0; i < o->n_observe_values; i++)
      if (o->observe_values[i] < 0 || o->observe_values[i] >= g->n_values)
        return nnd_error_set(err, NND_ERR_USAGE, "observed value id %d is out of range",
                             o->observe_values[i]);
  }
  if (o->n_frozen < 0 || (o->n_frozen > 0 && (!o->frozen_values || !o->frozen_data)))
    return nnd_error_set(err, NND_ERR_USAGE, "frozen inputs are missing");
  for (int i = 0; i < o->n_frozen; i++) {
    int32_t v = o->frozen_values[i];
    bool is_input = false;
    for (int k = 0; k < g->n_inputs; k++)
      is_input |= g->inputs[k] == v;
    if (!is_input)
      return nnd_error_set(err, NND_ERR_USAGE, "frozen value %d is not a graph input", v);
    if (!o->frozen_data[i].data)
      return nnd_error_set(err, NND_ERR_USAGE, "frozen input '%s' has no data", g->values[v].name);
  }
  return NND_OK;
}

static int64_t onnx_default_opset(const nnd_graph *g) {
  if (g->info.format != NND_FORMAT_ONNX) return 0;
  for (int i = 0; i < g->info.n_opsets; i++) {
    const char *d = g->info.opsets[i].domain;
    if (!d || !*d || strcmp(d, "ai.onnx") == 0) return g->info.opsets[i].version;
  }
  return 0;
}

nnd_status nnd_engine_create(const nnd_graph *g, const nnd_engine_options *opt,
                             nnd_engine **engine_out, nnd_error *err) {
  if (!engine_out) return nnd_error_set(err, NND_ERR_USAGE, "engine_out is NULL");
  *engine_out = NULL;
  if (!g) return nnd_error_set(err, NND_ERR_USAGE, "no graph");
  nnd_engine_options defaults;
  if (!opt) {
    nnd_engine_options_init(&defaults);
    opt = &defaults;
  }
  nnd_status st = check_options(g, opt, err);
  if (st != NND_OK) return st;
  nnd_engine *e = calloc(1, sizeof *e);
  if (!e) return nnd_error_set(err, NND_ERR_NOMEM, "out of memory creating an engine");
  const int prev_threads = nnd__get_threads();
  e->g = g;
  e->opt = *opt;
  e->mem = nnd_arena_create();
  e->v = calloc((size_t)g->n_values + 1, sizeof *e->v);
  e->n = calloc((size_t)g->n_nodes + 1, sizeof *e->n);
  e->node_seconds = calloc((size_t)g->n_nodes + 1, sizeof *e->node_seconds);
  if (!e->mem || !e->v || !e->n || !e->node_seconds) {
    st = nnd_error_set(err, NND_ERR_NOMEM, "out of memory creating an engine");
    goto error;
  }
  if (opt->observe == NND_OBSERVE_LIST && opt->n_observe_values > 0) {
    e->observe_list = nnd__emem(e, (size_t)opt->n_observe_values, sizeof(int32_t));
    if (!e->observe_list) {
      st = nnd_error_set(err, NND_ERR_NOMEM, "out of memory creating an engine");
      goto error;
    }
    memcpy(e->observe_list, opt->observe_values, (size_t)opt->n_observe_values * sizeof(int32_t));
  }
  e->opt.observe_values = e->observe_list;
  e->opt.frozen_values = NULL; /* read through create_opt during create only */
  e->opt.frozen_data = NULL;
  e->create_opt = opt;
  e->ref = opt->precision == NND_PRECISION_REFERENCE;
  e->rt = e->ref ? NND_DTYPE_F64 : NND_DTYPE_F32;
  e->rt_size = nnd_dtype_size(e->rt);
  e->threads = opt->threads < 1 ? 1 : opt->threads;
  e->fusion = !e->ref && !opt->no_fusion;
  e->use_cl = e->fusion && nnd__fast_prefers_channels_last();
  e->onnx_opset = onnx_default_opset(g);
  e->cur_node = -1;
  e->oom.value = -1;
  for (int32_t i = 0; i < g->n_values; i++) {
    e->v[i].tid[0][0] = e->v[i].tid[0][1] = e->v[i].tid[1][0] = e->v[i].tid[1][1] = -1;
  }
  for (int32_t i = 0; i < g->n_nodes; i++) {
    e->n[i].fusion.bn_node = e->n[i].fusion.bias_node = e->n[i].fusion.sum_node = -1;
    e->n[i].fusion.last_node = e->n[i].fusion.out_value = -1;
    e->n[i].head = -1;
  }
  nnd__set_threads(e->threads);
  if (!e->ref && (st = nnd__fast_ctx_create(&e->fast, err)) != NND_OK) goto error;
  if ((st = plan_needed(e, err)) != NND_OK) goto error;
  if ((st = plan_inputs(e, err)) != NND_OK) goto error;
  if ((st = plan_shapes(e, err)) != NND_OK) goto error;
  if (!e->ref && (st = nnd__plan_fusion(e, err)) != NND_OK) goto error;
  plan_observed(e);
  if ((st = plan_steps(e, err)) != NND_OK) goto error;
  plan_conv_buf(e);
  /* Before the memory plan, so its budget check sees what is kept. */
  free_unused_constants(e);
  if ((st = nnd__plan_memory(e, err)) != NND_OK) goto error;
  if (e->conv_bytes && !opt->plan_only && !(e->conv_buf = alloc64(e->conv_bytes))) {
    char a[NND_BYTES_FMT_SIZE];
    st = nnd_error_set(err, NND_ERR_NOMEM,
                       "out of memory allocating %s of conversion buffers for batch %lld",
                       nnd__fmt_bytes(e->conv_bytes, a), (long long)e->batch);
    goto error;
  }
  e->stats.precision = opt->precision;
  e->stats.batch = e->batch;
  e->stats.threads = e->threads;
  e->stats.n_steps = e->n_s;
  e->stats.activation_bytes = e->arena_bytes;
  e->stats.naive_activation_bytes = e->naive_bytes;
  e->stats.conv_backend = e->ref ? "reference" : nnd__fast_backend_name();
  e->stats.isa = nnd__isa_name();
  for (int32_t i = 0; i < e->n_t; i++)
    if (e->t[i].is_const && e->t[i].owns)
      e->stats.weight_bytes += (size_t)e->t[i].numel * nnd_dtype_size(e->t[i].dtype);
  e->stats.scratch_bytes = e->scratch_bytes + e->conv_bytes;
  e->stats.memory_bytes = e->held_bytes + e->arena_bytes + e->stats.scratch_bytes;
  nnd__set_threads(prev_threads);
  e->create_opt = NULL;
  *engine_out = e;
  return NND_OK;
error:
  nnd__set_threads(prev_threads);
  nnd_engine_destroy(e);
  return st;
}

/* ------------------------------------------------------------- run */

/* Converts n elements between float types (and int64 to float). */
static void convert(const void *src, nnd_dtype sd, void *dst, nnd_dtype dd, int64_t n) {
  if (sd == dd) {
    if (src != dst) memcpy(dst, src, (size_t)n * nnd_dtype_size(sd));
  } else if (sd == NND_DTYPE_F32 && dd == NND_DTYPE_F64) {
    nnd__f32_to_f64(src, dst, n);
  } else if (sd == NND_DTYPE_F64 && dd == NND_DTYPE_F32) {
    nnd__f64_to_f32(src, dst, n);
  } else if (sd == NND_DTYPE_I64 && dd == NND_DTYPE_F32) {
    for (int64_t i = 0; i < n; i++)
      ((float *)dst)[i] = (float)((const int64_t *)src)[i];
  } else if (sd == NND_DTYPE_I64 && dd == NND_DTYPE_F64) {
    for (int64_t i = 0; i < n; i++)
      ((double *)dst)[i] = (double)((const int64_t *)src)[i];
  } else if (dd == NND_DTYPE_I64) {
    for (int64_t i = 0; i < n; i++)
      ((int64_t *)dst)[i] = sd == NND_DTYPE_F32 ? (int64_t)((const float *)src)[i]
                                                : (int64_t)((const double *)src)[i];
  }
}

/* Data of tensor t in logical layout: itself, or transposed into conv_buf. */
static const void *logical_data(nnd_engine *e, const etensor *t) {
  if (!t->cl) return t->data;
  static const int to_first[4] = {0, 3, 1, 2};
  nnd__transpose(nnd_dtype_size(t->dtype), 4, t->dims, to_first, t->data, e->conv_buf);
  return e->conv_buf;
}

static void deliver(nnd_engine *e, const etap *tp) {
  const etensor *t = &e->t[tp->tensor];
  const evalue *ev = &e->v[tp->value];
  nnd_tensor_view view;
  memset(&view, 0, sizeof view);
  view.rank = ev->rank;
  memcpy(view.dims, ev->dims, sizeof view.dims);
  view.numel = t->numel;
  view.dtype = t->dtype;
  view.data = logical_data(e, t);
  if (t->is_const && t->dtype == NND_DTYPE_F64 && !e->ref) {
    nnd__f64_to_f32(t->data, e->conv_buf, t->numel);
    view.data = e->conv_buf;
    view.dtype = NND_DTYPE_F32;
  }
  e->opt.tap(e->opt.tap_user, e->g, tp->node, tp->value, &view);
}

static double now_seconds(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static nnd_status check_tensor(const nnd_engine *e, const char *what, const nnd_tensor *t,
                               const evalue *ev, const char *name, nnd_error *err) {
  if (!t->data) return nnd_error_set(err, NND_ERR_USAGE, "%s '%s' has no data", what, name);
  bool same = t->rank == ev->rank;
  for (int d = 0; same && d < ev->rank; d++)
    same = t->dims[d] == ev->dims[d];
  if (!same) {
    char a[160], b[160];
    nnd_shape sa = {.rank = t->rank < 0 || t->rank > NND_MAX_RANK ? 0 : t->rank};
    nnd_shape sb = {.rank = ev->rank};
    for (int d = 0; d < sa.rank; d++)
      sa.dims[d].size = t->dims[d];
    for (int d = 0; d < sb.rank; d++)
      sb.dims[d].size = ev->dims[d];
    nnd_shape_format(&sa, a, sizeof a);
    nnd_shape_format(&sb, b, sizeof b);
    return nnd_error_set(err, NND_ERR_USAGE, "%s '%s' has shape %s; the engine was planned for %s",
                         what, name, a, b);
  }
  (void)e;
  return NND_OK;
}

nnd_status nnd_engine_run(nnd_engine *e, const nnd_tensor *inputs, int n_inputs,
                          nnd_tensor *outputs, int n_outputs, nnd_error *err) {
  if (!e) return nnd_error_set(err, NND_ERR_USAGE, "no engine");
  if (e->opt.plan_only)
    return nnd_error_set(err, NND_ERR_USAGE,
                         "the engine was planned only (plan_only): it cannot run");
  const nnd_graph *g = e->g;
  if (n_inputs != e->n_run_inputs || (n_inputs && !inputs))
    return nnd_error_set(err, NND_ERR_USAGE, "the engine takes %d input(s), got %d",
                         e->n_run_inputs, n_inputs);
  if (n_outputs != g->n_outputs || (n_outputs && !outputs))
    return nnd_error_set(err, NND_ERR_USAGE, "the graph has %d output(s), got %d", g->n_outputs,
                         n_outputs);
  for (int i = 0; i < n_inputs; i++) {
    const int32_t vid = e->run_input_values[i];
    nnd_status st = check_tensor(e, "input", &inputs[i], &e->v[vid], g->values[vid].name, err);
    if (st != NND_OK) return st;
    if (inputs[i].dtype != NND_DTYPE_F32 && inputs[i].dtype != NND_DTYPE_F64)
      return nnd_error_set(err, NND_ERR_USAGE, "input '%s' is %s; give float32 or float64",
                           g->values[vid].name, nnd_dtype_name(inputs[i].dtype));
  }
  for (int i = 0; i < n_outputs; i++) {
    const int32_t vid = g->outputs[i];
    if (!outputs[i].data) continue; /* not wanted */
    nnd_status st = check_tensor(e, "output", &outputs[i], &e->v[vid], g->values[vid].name, err);
    if (st != NND_OK) return st;
    nnd_dtype d = outputs[i].dtype;
    if (d != NND_DTYPE_F32 && d != NND_DTYPE_F64 && !(d == NND_DTYPE_I64 && !e->v[vid].is_float))
      return nnd_error_set(err, NND_ERR_USAGE, "output '%s' is %s; give float32 or float64",
                           g->values[vid].name, nnd_dtype_name(d));
  }
  const int prev_threads = nnd__get_threads();
  nnd__set_threads(e->threads);
  nnd_status st = NND_OK;
  for (int i = 0; i < n_inputs; i++) {
    const int32_t t = e->run_input_t[i];
    if (t < 0) continue;
    convert(inputs[i].data, inputs[i].dtype, e->t[t].data, e->rt, e->t[t].numel);
  }
  int32_t tap = 0;
  while (tap < e->n_taps && e->taps[tap].step < 0)
    deliver(e, &e->taps[tap++]);
  for (int32_t i = 0; i < e->n_s; i++) {
    const step *s = &e->s[i];
    double t0 = e->profiling ? now_seconds() : 0;
    nnd_error local = {0};
    st = s->fn(e, s, &local);
    if (st != NND_OK) {
      /* A kernel failing at run time (oneDNN out of memory, say) is named
       * by its node, like a planning error. */
      if (s->node >= 0 && strncmp(local.message, "node '", 6) != 0)
        nnd__node_error(e, s->node, err, st, "%s (%s)", local.message, s->what);
      else
        nnd_error_set(err, st, "%s", local.message);
      goto done;
    }
    if (e->profiling && s->node >= 0) e->node_seconds[s->node] += now_seconds() - t0;
    while (tap < e->n_taps && e->taps[tap].step == i)
      deliver(e, &e->taps[tap++]);
  }
  for (int i = 0; i < n_outputs; i++) {
    if (!outputs[i].data) continue;
    const etensor *t = &e->t[value_tensor(e, g->outputs[i])];
    convert(logical_data(e, t), t->dtype, outputs[i].data, outputs[i].dtype, t->numel);
  }
done:
  nnd__set_threads(prev_threads);
  return st;
}

/* ----------------------------------------------------------- queries */

bool nnd_engine_value_shape(const nnd_engine *e, int32_t vid, int *rank_out,
                            int64_t dims_out[NND_MAX_RANK]) {
  if (!e || vid < 0 || vid >= e->g->n_values || !e->v[vid].known) return false;
  if (rank_out) *rank_out = e->v[vid].rank;
  if (dims_out) memcpy(dims_out, e->v[vid].dims, sizeof e->v[vid].dims);
  return true;
}

bool nnd_engine_value_observed(const nnd_engine *e, int32_t vid) {
  return e && vid >= 0 && vid < e->g->n_values && e->v[vid].observed;
}

void nnd_engine_get_stats(const nnd_engine *e, nnd_engine_stats *out) {
  if (!e || !out) return;
  *out = e->stats;
}

void nnd_engine_set_profiling(nnd_engine *e, bool enabled) {
  if (!e) return;
  if (enabled) memset(e->node_seconds, 0, (size_t)e->g->n_nodes * sizeof *e->node_seconds);
  e->profiling = enabled;
}

double nnd_engine_node_seconds(const nnd_engine *e, int32_t node) {
  if (!e || node < 0 || node >= e->g->n_nodes) return 0;
  return e->node_seconds[node];
}
