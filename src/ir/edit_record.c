/* Edit records: an edit as data (what, which field, old -> new), so
 * localize can suggest it, a report can show it and repair can apply it. */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "nndiff/ir_edit.h"

const char *nnd_edit_kind_name(nnd_edit_kind kind) {
  switch (kind) {
  case NND_EDIT_SET_ATTRS: return "set_attrs";
  case NND_EDIT_SET_OP: return "set_op";
  case NND_EDIT_SET_INPUT: return "set_input";
  case NND_EDIT_SET_CONSTANT: return "set_constant";
  case NND_EDIT_REMOVE_NODE: return "remove_node";
  case NND_EDIT_REPLACE_USES: return "replace_uses";
  case NND_EDIT_ADD_INPUT: return "add_input";
  }
  return "?";
}

static void init(nnd_edit *e, nnd_edit_kind kind, const char *name) {
  memset(e, 0, sizeof *e);
  e->kind = kind;
  e->node = e->value = e->new_value = -1;
  snprintf(e->target_name, sizeof e->target_name, "%s", name ? name : "");
}

void nnd_edit_init_node(nnd_edit *e, const nnd_graph *g, nnd_edit_kind kind, int32_t node) {
  const nnd_node *n = node >= 0 && node < g->n_nodes ? &g->nodes[node] : NULL;
  init(e, kind, n ? n->name : "");
  e->node = node;
  if (n) {
    e->op = n->op;
    e->attrs = n->attrs;
    e->act = n->act;
  }
}

void nnd_edit_init_value(nnd_edit *e, const nnd_graph *g, nnd_edit_kind kind, int32_t value) {
  const nnd_value *v = value >= 0 && value < g->n_values ? &g->values[value] : NULL;
  init(e, kind, v ? v->name : "");
  e->value = value;
  if (v) {
    e->dtype = v->dtype;
    e->shape = v->shape;
  }
}

/* Removing a node: readers of its first output read its first input. */
static nnd_status remove_one(nnd_graph *g, int32_t node, nnd_error *err) {
  if (node < 0 || node >= g->n_nodes)
    return nnd_error_set(err, NND_ERR_USAGE, "remove node: no node #%d", (int)node);
  const nnd_node *n = &g->nodes[node];
  if (n->n_inputs < 1 || n->inputs[0] < 0)
    return nnd_error_set(err, NND_ERR_USAGE, "node '%s' has no input to pass through", n->name);
  int32_t in = n->inputs[0], outv = n->outputs[0];
  nnd_status st = nnd_graph_replace_uses(g, outv, in, err);
  if (st != NND_OK) return st;
  bool *mask = calloc((size_t)g->n_nodes, sizeof *mask);
  if (!mask) return nnd_error_set(err, NND_ERR_NOMEM, "out of memory removing '%s'", n->name);
  mask[node] = true;
  for (int k = 0; k < n->n_outputs; k++)
    g->values[n->outputs[k]].producer = -1;
  st = nnd_graph_remove_nodes(g, mask, NULL, err);
  free(mask);
  return st;
}

/* A new constant as input `slot` of a node, the input list grown (omitted
 * inputs in between are -1) when the node had fewer. */
static nnd_status add_input(nnd_graph *g, const nnd_edit *e, nnd_error *err) {
  if (e->node < 0 || e->node >= g->n_nodes || e->slot < 0 || e->slot >= 16)
    return nnd_error_set(err, NND_ERR_USAGE, "add input: node #%d slot %d is invalid",
                         (int)e->node, e->slot);
  if (nnd_graph_find_value(g, e->new_name) >= 0)
    return nnd_error_set(err, NND_ERR_USAGE, "add input: a tensor '%s' exists already",
                         e->new_name);
  int32_t id;
  nnd_status st = nnd_graph_add_value(g, e->new_name, &id, err);
  if (st == NND_OK)
    st = nnd_graph_set_constant(g, id, e->dtype, &e->shape, e->data, e->nbytes, true, err);
  if (st != NND_OK) return st;
  nnd_node *n = &g->nodes[e->node];
  if (e->slot >= n->n_inputs) {
    int32_t *in = nnd_graph_alloc(g, (size_t)e->slot + 1, sizeof *in);
    if (!in) return nnd_error_set(err, NND_ERR_NOMEM, "out of memory adding an input");
    for (int k = 0; k <= e->slot; k++)
      in[k] = k < n->n_inputs ? n->inputs[k] : -1;
    n->inputs = in;
    n->n_inputs = e->slot + 1;
  }
  return nnd_graph_set_input(g, e->node, e->slot, id, err);
}

/* A Clip whose bounds are inputs (opset 11 on): shape inference reads the
 * bounds back from those inputs, so a bound the edit changes gets a
 * constant of its own (or none, for an infinite one), as the ONNX writer
 * does: the bound's old tensor may be shared by every other Clip. */
static nnd_status clip_bound_inputs(nnd_graph *g, int32_t node, float old_min, float old_max,
                                    nnd_error *err) {
  nnd_node *n = &g->nodes[node];
  if (n->op != NND_OP_CLIP || n->n_inputs < 2) return NND_OK;
  nnd_dtype dtype = n->inputs[0] >= 0 ? g->values[n->inputs[0]].dtype : NND_DTYPE_F32;
  if (dtype != NND_DTYPE_F16 && dtype != NND_DTYPE_F64 && dtype != NND_DTYPE_BF16)
    dtype = NND_DTYPE_F32;
  for (int slot = 1; slot <= 2 && slot < n->n_inputs; slot++) {
    float now = slot == 1 ? n->attrs.clip_min : n->attrs.clip_max;
    float was = slot == 1 ? old_min : old_max;
    if (now == was && n->inputs[slot] >= 0) continue;
    nnd_status st;
    if (isinf(now) && (slot == 1) == (now < 0)) {
      st = nnd_graph_set_input(g, node, slot, -1, err);
    } else {
      char name[300];
      int32_t id = -1;
      for (int k = 0; k < 1000; k++) {
        snprintf(name, sizeof name, "%.200s_%s_nndiff%.0d", n->name ? n->name : "clip",
                 slot == 1 ? "min" : "max", k);
        if (nnd_graph_find_value(g, name) < 0) break;
      }
      double b = now;
      float f = now;
      uint16_t h;
      const void *data = &f;
      size_t nbytes = sizeof f;
      if (dtype == NND_DTYPE_F64) {
        data = &b;
        nbytes = sizeof b;
      } else if (dtype == NND_DTYPE_F16 || dtype == NND_DTYPE_BF16) {
        uint32_t u;
        memcpy(&u, &f, 4);
        h = dtype == NND_DTYPE_F16 ? nnd_f32_to_f16(f) : (uint16_t)(u >> 16);
        data = &h;
        nbytes = sizeof h;
      }
      nnd_shape scalar = {0};
      st = nnd_graph_add_value(g, name, &id, err);
      if (st == NND_OK) st = nnd_graph_set_constant(g, id, dtype, &scalar, data, nbytes, true, err);
      n = &g->nodes[node];
      if (st == NND_OK) st = nnd_graph_set_input(g, node, slot, id, err);
    }
    if (st != NND_OK) return st;
    n = &g->nodes[node];
  }
  return NND_OK;
}

static nnd_status set_node(nnd_graph *g, const nnd_edit *e, nnd_error *err) {
  if (e->node < 0 || e->node >= g->n_nodes)
    return nnd_graph_replace_node(g, e->node, e->op, &e->attrs, &e->act, err);
  float old_min = g->nodes[e->node].attrs.clip_min, old_max = g->nodes[e->node].attrs.clip_max;
  bool was_clip = g->nodes[e->node].op == NND_OP_CLIP;
  nnd_status st = nnd_graph_replace_node(g, e->node, e->op, &e->attrs, &e->act, err);
  if (st != NND_OK) return st;
  if (!was_clip) old_min = NAN, old_max = NAN; /* every bound input is new */
  return clip_bound_inputs(g, e->node, old_min, old_max, err);
}

nnd_status nnd_edit_apply(nnd_graph *g, const nnd_edit *e, nnd_error *err) {
  switch (e->kind) {
  case NND_EDIT_SET_ATTRS:
  case NND_EDIT_SET_OP: return set_node(g, e, err);
  case NND_EDIT_SET_INPUT: return nnd_graph_set_input(g, e->node, e->slot, e->new_value, err);
  case NND_EDIT_SET_CONSTANT:
    return nnd_graph_set_constant(g, e->value, e->dtype, &e->shape, e->data, e->nbytes, true, err);
  case NND_EDIT_REMOVE_NODE: return remove_one(g, e->node, err);
  case NND_EDIT_REPLACE_USES: return nnd_graph_replace_uses(g, e->value, e->new_value, err);
  case NND_EDIT_ADD_INPUT: return add_input(g, e, err);
  }
  return nnd_error_set(err, NND_ERR_USAGE, "unknown edit kind %d", (int)e->kind);
}

size_t nnd_edit_format(const nnd_edit *e, char *buf, size_t cap) {
  const char *what = e->node >= 0 ? "node" : "tensor";
  int n;
  if (e->kind == NND_EDIT_REMOVE_NODE)
    n = snprintf(buf, cap, "remove node '%s'", e->target_name);
  else
    n = snprintf(buf, cap, "%s '%s': %s %s -> %s", what, e->target_name,
                 e->field[0] ? e->field : nnd_edit_kind_name(e->kind),
                 e->old_text[0] ? e->old_text : "?", e->new_text[0] ? e->new_text : "?");
  return n < 0 ? 0 : (size_t)n;
}
