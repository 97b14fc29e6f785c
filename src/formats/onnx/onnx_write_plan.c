/* The writer's plan: the edits replayed on a shadow of the graph (node ops,
 * attributes and inputs, graph outputs, constants), then turned into what
 * changes in the file: NodeProtos and TensorProtos re-encoded, raw_data
 * overwritten in place, nodes dropped, initializers and an Identity added,
 * ValueInfos that no longer hold dropped. Constants and external data are
 * planned in onnx_write_constants.c.
 *
 * Edits address g's nodes and values as loaded, whatever edits came
 * before (REMOVE_NODE does not renumber the shadow). */
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "formats/onnx/onnx_fields.h"
#include "formats/onnx/onnx_write_internal.h"
#include "util/safe_text.h"

/* ------------------------------------------------------------ messages */

nnd_status nnd__ow_fail(nnd__ow_ctx *c, int edit, nnd_status st, nnd_error *err, const char *fmt,
                        ...) {
  char why[512], what[300];
  va_list ap;
  va_start(ap, fmt);
  nnd__format_line(why, sizeof why, fmt, ap);
  va_end(ap);
  if (edit < 0 || (size_t)edit >= c->n_edits)
    return nnd_error_set(err, st, "%s: cannot write the edits: %s", c->src_path, why);
  nnd_edit_format(&c->edits[edit], what, sizeof what);
  return nnd_error_set(err, st, "%s: cannot write edit %d (%s): %s", c->src_path, edit + 1, what,
                       why);
}

nnd_status nnd__ow_nomem(nnd__ow_ctx *c, nnd_error *err) {
  return nnd_error_set(err, NND_ERR_NOMEM, "%s: out of memory writing the edited model",
                       c->src_path);
}

/* ------------------------------------------------------------- helpers */

bool nnd__ow_own(nnd__ow_ctx *c, void *p) {
  if (!p) return false;
  if (c->n_owned == c->cap_owned) {
    size_t cap = c->cap_owned ? 2 * c->cap_owned : 16;
    void **q = realloc(c->owned, cap * sizeof *q);
    if (!q) {
      free(p);
      return false;
    }
    c->owned = q;
    c->cap_owned = cap;
  }
  c->owned[c->n_owned++] = p;
  return true;
}

char *nnd__ow_own_str(nnd__ow_ctx *c, const char *s, size_t n) {
  char *p = malloc(n + 1);
  if (!p) return NULL;
  memcpy(p, s, n);
  p[n] = 0;
  return nnd__ow_own(c, p) ? p : NULL;
}

nnd__ow_repl *nnd__ow_add_repl(nnd__ow_ctx *c, uint64_t offset) {
  for (size_t i = 0; i < c->n_repls; i++)
    if (c->repls[i].offset == offset) return &c->repls[i];
  if (c->n_repls == c->cap_repls) {
    size_t cap = c->cap_repls ? 2 * c->cap_repls : 16;
    nnd__ow_repl *q = realloc(c->repls, cap * sizeof *q);
    if (!q) return NULL;
    c->repls = q;
    c->cap_repls = cap;
  }
  nnd__ow_repl *r = &c->repls[c->n_repls++];
  memset(r, 0, sizeof *r);
  r->offset = offset;
  return r;
}

bool nnd__ow_add_overwrite(nnd__ow_ctx *c, uint64_t offset, const void *data, size_t n) {
  if (c->n_overwrites == c->cap_overwrites) {
    size_t cap = c->cap_overwrites ? 2 * c->cap_overwrites : 16;
    nnd__ow_overwrite *q = realloc(c->overwrites, cap * sizeof *q);
    if (!q) return false;
    c->overwrites = q;
    c->cap_overwrites = cap;
  }
  c->overwrites[c->n_overwrites++] = (nnd__ow_overwrite){offset, data, n};
  return true;
}

static bool node_ok(const nnd__ow_ctx *c, int32_t n) { return n >= 0 && n < c->g->n_nodes; }
static bool value_ok(const nnd__ow_ctx *c, int32_t v) { return v >= 0 && v < c->g->n_values; }

nnd_pb_span nnd__ow_node_msg(const nnd__ow_ctx *c, const nnd_provenance *p) {
  return (nnd_pb_span){c->file.base + p->offset, (size_t)p->length};
}

/* A span of the file a provenance names must lie inside it: the graph may
 * not come from this file. */
bool nnd__ow_prov_ok(const nnd__ow_ctx *c, const nnd_provenance *p) {
  size_t size = (size_t)(c->file.end - c->file.base);
  return p->length > 0 && p->offset <= size && p->length <= size - p->offset;
}

/* A name no value of g has and the writer has not made up yet. */
static const char *fresh_name(nnd__ow_ctx *c, const char *base, const char *suffix) {
  char buf[512];
  for (int k = 0; k < 1000; k++) {
    if (k == 0)
      snprintf(buf, sizeof buf, "%s%s", base, suffix);
    else
      snprintf(buf, sizeof buf, "%s%s_%d", base, suffix, k);
    if (nnd_graph_find_value(c->g, buf) >= 0 || nnd__strmap_find(&c->fresh, buf)) continue;
    char *s = nnd__ow_own_str(c, buf, strlen(buf));
    bool added;
    if (!s || !nnd__strmap_put(&c->fresh, s, &added)) return NULL;
    return s;
  }
  return NULL;
}

/* --------------------------------------------------------- the shadow */

static nnd_status shadow_init(nnd__ow_ctx *c, nnd_error *err) {
  const nnd_graph *g = c->g;
  size_t nn = (size_t)(g->n_nodes ? g->n_nodes : 1), nv = (size_t)(g->n_values ? g->n_values : 1);
  c->op = calloc(nn, sizeof *c->op);
  c->attrs = calloc(nn, sizeof *c->attrs);
  c->act = calloc(nn, sizeof *c->act);
  c->in = calloc(nn, sizeof *c->in);
  c->n_in = calloc(nn, sizeof *c->n_in);
  c->in_cap = calloc(nn, sizeof *c->in_cap);
  c->removed = calloc(nn, sizeof *c->removed);
  c->attrs_edited = calloc(nn, sizeof *c->attrs_edited);
  c->node_edit = calloc(nn, sizeof *c->node_edit);
  c->value_edit = calloc(nv, sizeof *c->value_edit);
  c->name = calloc(nv, sizeof *c->name);
  c->outputs = calloc((size_t)(g->n_outputs ? g->n_outputs : 1), sizeof *c->outputs);
  if (!c->op || !c->attrs || !c->act || !c->in || !c->n_in || !c->in_cap || !c->removed ||
      !c->attrs_edited || !c->node_edit || !c->value_edit || !c->name || !c->outputs)
    return nnd__ow_nomem(c, err);
  for (int32_t n = 0; n < g->n_nodes; n++) {
    const nnd_node *node = &g->nodes[n];
    c->op[n] = node->op;
    c->attrs[n] = node->attrs;
    c->act[n] = node->act;
    c->in_cap[n] = node->n_inputs + 4; /* room for parameters an op change adds */
    c->in[n] = calloc((size_t)c->in_cap[n], sizeof *c->in[n]);
    if (!c->in[n]) return nnd__ow_nomem(c, err);
    if (node->n_inputs)
      memcpy(c->in[n], node->inputs, (size_t)node->n_inputs * sizeof *node->inputs);
    c->n_in[n] = node->n_inputs;
    c->node_edit[n] = -1;
  }
  for (int32_t v = 0; v < g->n_values; v++) {
    c->value_edit[v] = -1;
    c->name[v] = g->values[v].name;
  }
  if (g->n_outputs) memcpy(c->outputs, g->outputs, (size_t)g->n_outputs * sizeof *g->outputs);
  return NND_OK;
}

static void replace_uses(nnd__ow_ctx *c, int32_t from, int32_t to) {
  for (int32_t n = 0; n < c->g->n_nodes; n++) {
    if (c->removed[n]) continue;
    for (int k = 0; k < c->n_in[n]; k++)
      if (c->in[n][k] == from) {
        c->in[n][k] = to;
        if (c->node_edit[n] < 0) c->node_edit[n] = INT_MAX; /* rewired by another edit */
      }
  }
  for (int i = 0; i < c->g->n_outputs; i++)
    if (c->outputs[i] == from) c->outputs[i] = to;
}

static nnd_status plan_add_input(nnd__ow_ctx *c, int ei, nnd_error *err);

static nnd_status replay(nnd__ow_ctx *c, nnd_error *err) {
  const nnd_graph *g = c->g;
  for (size_t i = 0; i < c->n_edits; i++) {
    const nnd_edit *e = &c->edits[i];
    int ei = (int)i;
    bool node_edit = e->kind == NND_EDIT_SET_ATTRS || e->kind == NND_EDIT_SET_OP ||
                     e->kind == NND_EDIT_SET_INPUT || e->kind == NND_EDIT_REMOVE_NODE ||
                     e->kind == NND_EDIT_ADD_INPUT;
    if (node_edit) {
      if (!node_ok(c, e->node))
        return nnd__ow_fail(c, ei, NND_ERR_USAGE, err, "the model has no node #%d", (int)e->node);
      if (c->removed[e->node])
        return nnd__ow_fail(c, ei, NND_ERR_USAGE, err, "the node was removed by an earlier edit");
      const nnd_provenance *p = &g->nodes[e->node].prov;
      nnd_pb_span op = nnd__ow_prov_ok(c, p)
                           ? nnd__ow_msg_string(&c->file, nnd__ow_node_msg(c, p), NODE_OP_TYPE)
                           : (nnd_pb_span){NULL, 0};
      /* the node's bytes must still say what the graph read from them */
      if (!op.data || !p->op_type || strlen(p->op_type) != op.size ||
          memcmp(op.data, p->op_type, op.size) != 0)
        return nnd__ow_fail(c, ei, NND_ERR_USAGE, err,
                            "the node is not where the graph says it is in this file (did the "
                            "file change since it was loaded?)");
      c->node_edit[e->node] = ei;
    }
    switch (e->kind) {
    case NND_EDIT_SET_ATTRS:
    case NND_EDIT_SET_OP:
      c->attrs_edited[e->node] = true;
      c->op[e->node] = e->op;
      c->attrs[e->node] = e->attrs;
      c->act[e->node] = e->act;
      break;
    case NND_EDIT_SET_INPUT:
      if (e->slot < 0 || e->slot >= c->n_in[e->node])
        return nnd__ow_fail(c, ei, NND_ERR_USAGE, err, "the node has no input %d", e->slot);
      if (e->new_value != -1 && !value_ok(c, e->new_value))
        return nnd__ow_fail(c, ei, NND_ERR_USAGE, err, "tensor #%d is not in the model",
                            (int)e->new_value);
      c->in[e->node][e->slot] = e->new_value;
      break;
    case NND_EDIT_SET_CONSTANT:
      if (!value_ok(c, e->value))
        return nnd__ow_fail(c, ei, NND_ERR_USAGE, err, "the model has no tensor #%d",
                            (int)e->value);
      if (!e->data && e->nbytes)
        return nnd__ow_fail(c, ei, NND_ERR_USAGE, err, "the edit carries no data");
      c->value_edit[e->value] = ei;
      break;
    case NND_EDIT_REMOVE_NODE: {
      const nnd_node *n = &g->nodes[e->node];
      if (c->n_in[e->node] < 1 || c->in[e->node][0] == -1 || n->n_outputs < 1)
        return nnd__ow_fail(c, ei, NND_ERR_USAGE, err, "the node has no input to pass through");
      replace_uses(c, n->outputs[0], c->in[e->node][0]);
      c->removed[e->node] = true;
      break;
    }
    case NND_EDIT_ADD_INPUT: {
      nnd_status st = plan_add_input(c, ei, err);
      if (st != NND_OK) return st;
      break;
    }
    case NND_EDIT_REPLACE_USES:
      if (!value_ok(c, e->value) || !value_ok(c, e->new_value))
        return nnd__ow_fail(c, ei, NND_ERR_USAGE, err, "tensor #%d or #%d is not in the model",
                            (int)e->value, (int)e->new_value);
      replace_uses(c, e->value, e->new_value);
      break;
    default: return nnd__ow_fail(c, ei, NND_ERR_USAGE, err, "unknown edit kind %d", (int)e->kind);
    }
  }
  /* what a removed node computed must not be read any more */
  for (int32_t n = 0; n < g->n_nodes; n++) {
    if (c->removed[n]) continue;
    for (int k = 0; k < c->n_in[n]; k++) {
      int32_t v = c->in[n][k];
      if (v >= 0 && g->values[v].producer >= 0 && c->removed[g->values[v].producer])
        return nnd__ow_fail(c, c->node_edit[g->values[v].producer], NND_ERR_USAGE, err,
                            "node '%s' still reads '%s', which the removed node computed",
                            g->nodes[n].name, g->values[v].name);
    }
  }
  return NND_OK;
}

/* True when a node of the file holds a subgraph (If, Loop, Scan bodies):
 * a body may read outer tensors by name, which a rewiring edit cannot
 * follow, since the reader does not descend into bodies. */
static bool has_subgraphs(const nnd__ow_ctx *c) {
  nnd_error ignore = {0};
  for (int32_t n = 0; n < c->g->n_nodes; n++) {
    if (c->g->nodes[n].op != NND_OP_UNSUPPORTED || !nnd__ow_prov_ok(c, &c->g->nodes[n].prov))
      continue;
    nnd_pb_reader r = nnd_pb_reader_sub(&c->file, nnd__ow_node_msg(c, &c->g->nodes[n].prov));
    while (nnd_pb_more(&r)) {
      nnd_pb_field f;
      if (nnd_pb_next(&r, &f, &ignore) != NND_OK) break;
      if (f.number != NODE_ATTRIBUTE || f.wire != NND_PB_LEN) continue;
      nnd_pb_reader a = nnd_pb_reader_sub(&r, f.span);
      while (nnd_pb_more(&a)) {
        nnd_pb_field af;
        if (nnd_pb_next(&a, &af, &ignore) != NND_OK) break;
        if (af.number == ATTR_G || af.number == ATTR_GRAPHS) return true;
      }
    }
  }
  return false;
}

/* Number of reads of v in the shadow graph (node inputs and graph outputs). */
int nnd__ow_uses_of(const nnd__ow_ctx *c, int32_t v) {
  int count = 0;
  for (int32_t n = 0; n < c->g->n_nodes; n++) {
    if (c->removed[n]) continue;
    for (int k = 0; k < c->n_in[n]; k++)
      if (c->in[n][k] == v) count++;
  }
  for (int i = 0; i < c->g->n_outputs; i++)
    if (c->outputs[i] == v) count++;
  return count;
}

/* ------------------------------------------------- attributes and params */

static bool is_default_domain(const char *d) { return !d || !d[0] || strcmp(d, "ai.onnx") == 0; }

static const nnd__ow_attr_value *form_attr(const nnd__ow_op_form *f, const char *name) {
  for (int i = 0; i < f->n_attrs; i++)
    if (strcmp(f->attrs[i].name, name) == 0) return &f->attrs[i];
  return NULL;
}

static const nnd__ow_param_input *form_param(const nnd__ow_op_form *f, int slot) {
  for (int i = 0; i < f->n_params; i++)
    if (f->params[i].slot == slot) return &f->params[i];
  return NULL;
}

static bool file_has_attr(const nnd_node *n, const char *name) {
  for (int i = 0; i < n->n_attr_spans; i++)
    if (n->attr_spans[i].name && strcmp(n->attr_spans[i].name, name) == 0) return true;
  return false;
}

static bool params_equal(const nnd__ow_param_input *a, const nnd__ow_param_input *b) {
  if (a->absent || b->absent) return a->absent == b->absent;
  if (a->is_int != b->is_int || a->n != b->n) return false;
  if (!a->is_int) return a->f == b->f;
  for (int i = 0; i < a->n; i++)
    if (a->ints[i] != b->ints[i]) return false;
  return true;
}

/* Grows node n's shadow inputs to slot + 1 (omitted inputs in between). */
static nnd_status grow_inputs(nnd__ow_ctx *c, int32_t n, int slot, nnd_error *err) {
  if (slot >= c->in_cap[n]) {
    int32_t *in = realloc(c->in[n], (size_t)(slot + 1) * sizeof *in);
    if (!in) return nnd__ow_nomem(c, err);
    c->in[n] = in;
    c->in_cap[n] = slot + 1;
  }
  while (c->n_in[n] <= slot)
    c->in[n][c->n_in[n]++] = -1;
  return NND_OK;
}

/* A new initializer `name` (the writer's or an edit's) read by node n as
 * input `slot`. */
static nnd_status add_initializer(nnd__ow_ctx *c, int32_t n, int slot, const char *name,
                                  nnd_dtype dtype, const nnd_shape *shape, const void *data,
                                  size_t nbytes, nnd_error *err) {
  nnd_status st = grow_inputs(c, n, slot, err);
  if (st != NND_OK) return st;
  nnd_pb_buf t = {0};
  nnd__ow_encode_new_tensor(&t, name, nnd__ow_onnx_dtype(dtype), shape, data, nbytes);
  nnd_pb_put_len(&c->new_inits, GRAPH_INITIALIZER, t.data, t.size);
  nnd_pb_buf_free(&t);
  if (c->g->info.ir_version < 4) {
    /* before IR 4 every initializer is also a graph input */
    nnd_pb_buf vi = {0};
    nnd__ow_encode_value_info(&vi, name, nnd__ow_onnx_dtype(dtype), shape);
    nnd_pb_put_len(&c->new_inputs, 11, vi.data, vi.size);
    nnd_pb_buf_free(&vi);
  }
  char **names = realloc(c->new_init_names, (size_t)(c->n_new_inits + 1) * sizeof *names);
  if (!names) return nnd__ow_nomem(c, err);
  c->new_init_names = names;
  names[c->n_new_inits] = (char *)name;
  c->in[n][slot] = NND__OW_NEW_INIT_ID(c->n_new_inits);
  c->n_new_inits++;
  return c->new_inits.failed || c->new_inputs.failed ? nnd__ow_nomem(c, err) : NND_OK;
}

/* ADD_INPUT: a new constant named by the edit as input `slot` of the node;
 * float data takes the dtype of the node's first input (a bias in the
 * conv's own precision). */
static nnd_status plan_add_input(nnd__ow_ctx *c, int ei, nnd_error *err) {
  const nnd_edit *e = &c->edits[ei];
  const nnd_graph *g = c->g;
  bool added;
  if (e->slot < 0 || e->slot >= 16)
    return nnd__ow_fail(c, ei, NND_ERR_USAGE, err, "input slot %d is out of range", e->slot);
  if (!e->new_name[0] || nnd_graph_find_value(g, e->new_name) >= 0 ||
      nnd__strmap_find(&c->fresh, e->new_name))
    return nnd__ow_fail(c, ei, NND_ERR_USAGE, err, "the new tensor needs a name no tensor has");
  char *name = nnd__ow_own_str(c, e->new_name, strnlen(e->new_name, sizeof e->new_name));
  if (!name || !nnd__strmap_put(&c->fresh, name, &added)) return nnd__ow_nomem(c, err);
  size_t in_size = nnd_dtype_size(e->dtype);
  int64_t numel;
  if (!in_size || e->nbytes % in_size || !nnd_shape_is_static(&e->shape) ||
      !nnd_shape_numel(&e->shape, &numel) || (uint64_t)numel != e->nbytes / in_size)
    return nnd__ow_fail(c, ei, NND_ERR_USAGE, err, "the new data does not fit its shape");
  nnd_dtype dtype = e->dtype;
  int32_t x = c->n_in[e->node] > 0 ? c->in[e->node][0] : -1;
  bool float_data = e->dtype == NND_DTYPE_F64 || e->dtype == NND_DTYPE_F32 ||
                    e->dtype == NND_DTYPE_F16 || e->dtype == NND_DTYPE_BF16;
  if (float_data && x >= 0) {
    nnd_dtype xd = g->values[x].dtype;
    if (xd == NND_DTYPE_F64 || xd == NND_DTYPE_F32 || xd == NND_DTYPE_F16 || xd == NND_DTYPE_BF16)
      dtype = xd;
  }
  void *data = NULL;
  size_t nbytes = 0;
  const char *why = NULL;
  if (!nnd__ow_convert(e->dtype, e->data, numel, dtype, &data, &nbytes, &why))
    return nnd__ow_fail(c, ei, NND_ERR_UNSUPPORTED, err, "%s", why);
  if (!nnd__ow_own(c, data)) return nnd__ow_nomem(c, err);
  return add_initializer(c, e->node, e->slot, name, dtype, &e->shape, data, nbytes, err);
}

/* Gives node n the constant input p: a constant only it reads is
 * rewritten, else a new initializer is added. */
static nnd_status plan_param(nnd__ow_ctx *c, int32_t n, const nnd__ow_param_input *p,
                             nnd_error *err) {
  const nnd_graph *g = c->g;
  int ei = c->node_edit[n];
  nnd_status st = grow_inputs(c, n, p->slot, err);
  if (st != NND_OK) return st;
  if (p->absent) {
    c->in[n][p->slot] = -1;
    return NND_OK;
  }
  int32_t cur = c->in[n][p->slot];
  /* float parameters take the data input's type (Clip's bounds, Pad's value) */
  nnd_dtype dtype = NND_DTYPE_I64;
  if (!p->is_int) {
    int32_t x = c->n_in[n] > 0 ? c->in[n][0] : -1;
    dtype = x >= 0 ? g->values[x].dtype : NND_DTYPE_F32;
    if (dtype != NND_DTYPE_F16 && dtype != NND_DTYPE_F64 && dtype != NND_DTYPE_BF16)
      dtype = NND_DTYPE_F32;
  }
  nnd_shape shape = {0};
  shape.rank = p->is_int ? 1 : 0;
  shape.dims[0].size = p->n;
  double fvals[1] = {p->f};
  void *data = NULL;
  size_t nbytes = 0;
  const char *why = NULL;
  bool ok = p->is_int ? nnd__ow_convert(NND_DTYPE_I64, p->ints, p->n, dtype, &data, &nbytes, &why)
                      : nnd__ow_convert(NND_DTYPE_F64, fvals, 1, dtype, &data, &nbytes, &why);
  if (!ok) return nnd__ow_fail(c, ei, NND_ERR_UNSUPPORTED, err, "%s", why);
  if (!nnd__ow_own(c, data)) return nnd__ow_nomem(c, err);
  if (cur >= 0 && nnd__ow_is_stated_constant(c, cur) && nnd__ow_uses_of(c, cur) == 1 &&
      g->values[cur].dtype == dtype && !g->values[cur].is_output)
    return nnd__ow_write_constant(c, ei, cur, &shape, data, nbytes, err);
  const char *base =
      g->nodes[n].prov.name && g->nodes[n].prov.name[0] ? g->nodes[n].prov.name : g->nodes[n].name;
  static const char *const clip_names[] = {"", "_min", "_max", "_param"};
  const char *suffix = c->op[n] == NND_OP_CLIP && p->slot <= 2 ? clip_names[p->slot]
                       : p->is_int                             ? "_pads"
                                                               : "_value";
  const char *name = fresh_name(c, base, suffix);
  if (!name) return nnd__ow_nomem(c, err);
  return add_initializer(c, n, p->slot, name, dtype, &shape, data, nbytes, err);
}

typedef struct node_plan {
  const char *op_type, *domain;
  nnd__ow_attr_edit attrs[2 * NND__OW_MAX_ATTRS];
  int n_attrs;
} node_plan;

static void plan_attr(node_plan *np, const char *name, bool drop, const nnd__ow_attr_value *v) {
  if (np->n_attrs >= 2 * NND__OW_MAX_ATTRS) return;
  nnd__ow_attr_edit *a = &np->attrs[np->n_attrs++];
  memset(a, 0, sizeof *a);
  a->name = name;
  a->drop = drop;
  if (v) nnd__ow_attr_value_encode(v, &a->bytes);
}

static nnd_status plan_node_attrs(nnd__ow_ctx *c, int32_t n, node_plan *np, nnd_error *err) {
  const nnd_node *node = &c->g->nodes[n];
  int ei = c->node_edit[n];
  char why[300];
  nnd__ow_op_form old_form, new_form;
  const char *file_op = node->prov.op_type ? node->prov.op_type : "";
  const char *file_domain = node->prov.domain ? node->prov.domain : "";
  bool same_canon = c->op[n] == node->op;
  if (!nnd__ow_op_form_of(node->op, &node->attrs, &node->act, file_op, file_domain, c->opset, NULL,
                          NULL, &old_form, why, sizeof why)) {
    return nnd__ow_fail(c, ei, NND_ERR_UNSUPPORTED, err, "the node (%s) cannot be rewritten: %s",
                        file_op, why);
  }
  if (!nnd__ow_op_form_of(c->op[n], &c->attrs[n], &c->act[n], file_op, file_domain, c->opset,
                          same_canon ? &node->attrs : NULL, same_canon ? &node->act : NULL,
                          &new_form, why, sizeof why))
    return nnd__ow_fail(c, ei, NND_ERR_UNSUPPORTED, err, "%s", why);
  bool type_changed = strcmp(new_form.op_type, old_form.op_type) != 0 ||
                      strcmp(new_form.domain, old_form.domain) != 0;
  if (type_changed) {
    np->op_type = new_form.op_type;
    if (is_default_domain(new_form.domain) != is_default_domain(file_domain) ||
        (!is_default_domain(new_form.domain) && strcmp(new_form.domain, file_domain) != 0))
      np->domain = new_form.domain;
    if (c->op[n] == NND_OP_RESHAPE && c->n_in[n] < 2)
      return nnd__ow_fail(c, ei, NND_ERR_UNSUPPORTED, err, "Reshape needs a shape input");
    if (new_form.max_inputs > 0 && c->n_in[n] > new_form.max_inputs)
      c->n_in[n] = new_form.max_inputs;
  }
  for (int i = 0; i < new_form.n_attrs; i++) {
    const nnd__ow_attr_value *v = &new_form.attrs[i];
    const nnd__ow_attr_value *o = form_attr(&old_form, v->name);
    bool in_file = file_has_attr(node, v->name);
    bool same = o && nnd__ow_attr_value_equal(o, v);
    if (in_file) {
      if (same) continue; /* the same attribute with the same value */
      /* stated in the file: stated again, but a mode back at its default
       * (auto_pad NOTSET) goes, as exporters leave it out */
      bool drop = v->is_default && v->type == NND__ONNX_ATTR_STRING;
      plan_attr(np, v->name, drop, drop ? NULL : v);
    } else if (!v->is_default && !same) {
      plan_attr(np, v->name, false, v);
    }
  }
  for (int i = 0; i < new_form.n_drops; i++)
    if (file_has_attr(node, new_form.drops[i])) plan_attr(np, new_form.drops[i], true, NULL);
  if (type_changed)
    for (int i = 0; i < node->n_attr_spans; i++) {
      const char *name = node->attr_spans[i].name;
      if (name && !form_attr(&new_form, name)) plan_attr(np, name, true, NULL);
    }
  for (int i = 0; i < new_form.n_params; i++) {
    const nnd__ow_param_input *p = &new_form.params[i];
    const nnd__ow_param_input *o = same_canon ? form_param(&old_form, p->slot) : NULL;
    nnd__ow_param_input absent = {0};
    absent.absent = true;
    if (params_equal(p, o ? o : &absent)) continue;
    nnd_status st = plan_param(c, n, p, err);
    if (st != NND_OK) return st;
  }
  for (int i = 0; i < np->n_attrs; i++)
    if (np->attrs[i].bytes.failed) return nnd__ow_nomem(c, err);
  return NND_OK;
}

/* -------------------------------------------------------- graph outputs */

static bool is_graph_output_elsewhere(const nnd__ow_ctx *c, int32_t v, int except) {
  for (int i = 0; i < c->g->n_outputs; i++)
    if (i != except && c->outputs[i] == v) return true;
  return false;
}

/* Graph output i now reads w: the file keeps the output's name N. */
static nnd_status plan_output(nnd__ow_ctx *c, int i, nnd_error *err) {
  const nnd_graph *g = c->g;
  int32_t o = g->outputs[i], w = c->outputs[i];
  const char *N = g->values[o].name;
  int32_t op = g->values[o].producer;
  int32_t wp = w >= 0 ? g->values[w].producer : -1;
  bool o_gone = op >= 0 && c->removed[op];
  int ei = op >= 0 ? c->node_edit[op] : -1;
  if (w < 0)
    return nnd__ow_fail(c, ei, NND_ERR_UNSUPPORTED, err, "graph output '%s' loses its value", N);
  bool renamable = wp >= 0 && !c->removed[wp] && c->name[w] == g->values[w].name &&
                   !is_graph_output_elsewhere(c, w, i) && !g->values[w].is_output;
  bool added;
  if (o_gone && renamable) {
    /* the tensor that replaces the output takes its name */
    nnd__strmap_put(&c->drop_value_info, g->values[w].name, &added);
    c->name[w] = N;
    return NND_OK;
  }
  if (op < 0)
    return nnd__ow_fail(c, ei, NND_ERR_UNSUPPORTED, err,
                        "graph output '%s' is not computed by a node, so it cannot be rewired", N);
  if (!o_gone) {
    /* its producer stays: that output is renamed out of the way */
    const char *moved = fresh_name(c, N, "_replaced");
    if (!moved) return nnd__ow_nomem(c, err);
    c->name[o] = moved;
  }
  const char *node_name = fresh_name(c, N, "_identity");
  if (!node_name) return nnd__ow_nomem(c, err);
  nnd_pb_buf node = {0};
  nnd__ow_encode_simple_node(&node, "Identity", node_name, c->name[w], N);
  nnd_pb_put_len(&c->new_nodes, GRAPH_NODE, node.data, node.size);
  nnd_pb_buf_free(&node);
  nnd__strmap_put(&c->drop_value_info, N, &added);
  return c->new_nodes.failed ? nnd__ow_nomem(c, err) : NND_OK;
}

/* ------------------------------------------------------- node rewrites */

/* The strings of a repeated string field of a NodeProto, in order. */
static int node_strings(const nnd__ow_ctx *c, nnd_pb_span msg, uint32_t field, nnd_pb_span *out,
                        int cap) {
  nnd_pb_reader r = nnd_pb_reader_sub(&c->file, msg);
  nnd_error ignore = {0};
  int n = 0;
  while (nnd_pb_more(&r)) {
    nnd_pb_field f;
    if (nnd_pb_next(&r, &f, &ignore) != NND_OK) break;
    if (f.number == field && f.wire == NND_PB_LEN) {
      if (n < cap) out[n] = f.span;
      n++;
    }
  }
  return n;
}

static const char *id_name(const nnd__ow_ctx *c, int32_t id) {
  if (id == -1) return "";
  if (id <= -2) return c->new_init_names[-2 - id];
  return c->name[id];
}

/* File position (NodeProto index) where a value becomes available: -1 for
 * graph inputs, initializers and new initializers. */
static int64_t defined_at(const nnd__ow_ctx *c, int32_t id) {
  if (id < 0) return -1;
  const nnd_value *v = &c->g->values[id];
  if (v->producer >= 0) return c->g->nodes[v->producer].prov.index;
  if (nnd__ow_is_constant_node(v)) return v->prov.index;
  return -1;
}

static nnd_status plan_node(nnd__ow_ctx *c, int32_t n, nnd_error *err) {
  const nnd_graph *g = c->g;
  const nnd_node *node = &g->nodes[n];
  int ei = c->node_edit[n] == INT_MAX ? -1 : c->node_edit[n];
  if (c->node_edit[n] == INT_MAX) c->node_edit[n] = -1;
  node_plan np;
  memset(&np, 0, sizeof np);
  nnd_status st = NND_OK;
  /* attributes are compared as the op states them, for nodes a set_attrs
   * or set_op touched */
  if (c->attrs_edited[n]) st = plan_node_attrs(c, n, &np, err);
  if (st != NND_OK) goto done;
  nnd_pb_span msg = nnd__ow_node_msg(c, &node->prov);
  /* inputs: the file's strings where nothing changed (omitted inputs, odd
   * spellings stay), new names where something did */
  enum { CAP = 64 };
  nnd_pb_span file_in[CAP], file_out[CAP];
  int nfi = node_strings(c, msg, NODE_INPUT, file_in, CAP);
  int nfo = node_strings(c, msg, NODE_OUTPUT, file_out, CAP);
  if (nfi > CAP || nfo > CAP) {
    st = nnd__ow_fail(c, ei, NND_ERR_UNSUPPORTED, err,
                      "node '%s' has too many inputs or outputs to rewrite", node->name);
    goto done;
  }
  const char *ins[CAP + 4], *outs[CAP];
  int n_ins = c->n_in[n];
  bool in_changed = n_ins != node->n_inputs;
  if (n_ins > CAP + 4) n_ins = CAP + 4;
  for (int k = 0; k < n_ins; k++) {
    int32_t id = c->in[n][k];
    bool same = k < node->n_inputs && id == node->inputs[k] &&
                (id < 0 || c->name[id] == g->values[id].name);
    if (same && k < nfi) {
      ins[k] = nnd__ow_own_str(c, (const char *)file_in[k].data, file_in[k].size);
      if (!ins[k]) {
        st = nnd__ow_nomem(c, err);
        goto done;
      }
    } else {
      ins[k] = id_name(c, id);
      in_changed = true;
      if (defined_at(c, id) >= node->prov.index) {
        st = nnd__ow_fail(c, ei, NND_ERR_UNSUPPORTED, err,
                          "node '%s' would read '%s' before the node that computes it", node->name,
                          ins[k]);
        goto done;
      }
    }
  }
  if (in_changed)
    while (n_ins > 0 && !ins[n_ins - 1][0])
      n_ins--; /* trailing omitted inputs are left out */
  bool out_changed = false;
  for (int k = 0; k < nfo; k++) {
    outs[k] = nnd__ow_own_str(c, (const char *)file_out[k].data, file_out[k].size);
    if (!outs[k]) {
      st = nnd__ow_nomem(c, err);
      goto done;
    }
    if (k < node->n_outputs && c->name[node->outputs[k]] != g->values[node->outputs[k]].name) {
      outs[k] = c->name[node->outputs[k]];
      out_changed = true;
    }
  }
  if (!in_changed && !out_changed && !np.op_type && !np.domain && np.n_attrs == 0) goto done;
  nnd__ow_node_edit ne = {np.op_type,
                          np.domain,
                          in_changed ? n_ins : 0,
                          in_changed ? ins : NULL,
                          out_changed ? nfo : 0,
                          out_changed ? outs : NULL,
                          np.n_attrs,
                          np.attrs};
  nnd__ow_repl *r = nnd__ow_add_repl(c, node->prov.offset);
  if (!r) {
    st = nnd__ow_nomem(c, err);
    goto done;
  }
  st = nnd__ow_encode_node(&c->file, msg, &ne, &r->bytes, err);
done:
  for (int i = 0; i < np.n_attrs; i++)
    nnd_pb_buf_free(&np.attrs[i].bytes);
  return st;
}

/* --------------------------------------------------- stale value infos */

/* ValueInfo entries describe tensors by name: those of removed nodes, and
 * of every tensor downstream of a node whose computation changed, may no
 * longer hold and are dropped (they are optional). */
static nnd_status plan_value_info(nnd__ow_ctx *c, const bool *changed, nnd_error *err) {
  const nnd_graph *g = c->g;
  bool *stale = calloc((size_t)(g->n_values ? g->n_values : 1), sizeof *stale);
  if (!stale) return nnd__ow_nomem(c, err);
  for (int32_t n = 0; n < g->n_nodes; n++)
    if (changed[n] || c->removed[n])
      for (int k = 0; k < g->nodes[n].n_outputs; k++)
        stale[g->nodes[n].outputs[k]] = true;
  for (bool grew = true; grew;) {
    grew = false;
    for (int32_t n = 0; n < g->n_nodes; n++) {
      if (c->removed[n]) continue;
      bool reads = false;
      for (int k = 0; k < c->n_in[n] && !reads; k++)
        reads = c->in[n][k] >= 0 && stale[c->in[n][k]];
      if (!reads) continue;
      for (int k = 0; k < g->nodes[n].n_outputs; k++)
        if (!stale[g->nodes[n].outputs[k]]) stale[g->nodes[n].outputs[k]] = grew = true;
    }
  }
  bool added;
  for (int32_t v = 0; v < g->n_values; v++)
    if (stale[v] && !g->values[v].is_output &&
        !nnd__strmap_put(&c->drop_value_info, g->values[v].name, &added)) {
      free(stale);
      return nnd__ow_nomem(c, err);
    }
  free(stale);
  return NND_OK;
}

/* ------------------------------------------------------------- the plan */

nnd_status nnd__ow_plan(nnd__ow_ctx *c, nnd_error *err) {
  const nnd_graph *g = c->g;
  nnd__strmap_init(&c->drop_value_info);
  nnd__strmap_init(&c->fresh);
  nnd_status st = shadow_init(c, err);
  if (st == NND_OK) st = replay(c, err);
  if (st != NND_OK) return st;
  for (size_t i = 0; i < c->n_edits; i++) {
    nnd_edit_kind k = c->edits[i].kind;
    if ((k == NND_EDIT_REMOVE_NODE || k == NND_EDIT_REPLACE_USES) && has_subgraphs(c))
      return nnd__ow_fail(c, (int)i, NND_ERR_UNSUPPORTED, err,
                          "the model has subgraphs (If/Loop/Scan bodies), which may read the "
                          "rewired tensor by name");
  }

  bool has_external = false;
  for (int32_t v = 0; v < g->n_values && !has_external; v++) {
    const nnd_value *val = &g->values[v];
    has_external = val->kind == NND_VALUE_CONSTANT && nnd__ow_prov_ok(c, &val->prov) &&
                   !val->prov.op_type &&
                   nnd__ow_tensor_is_external(c, nnd__ow_node_msg(c, &val->prov));
  }
  if (has_external || nnd__ow_any_external_edit(c)) {
    bool copy = has_external && !nnd__ow_same_folder(c->src_path, c->out_path);
    if ((st = nnd__ow_plan_external(c, nnd__ow_any_external_edit(c), copy, err)) != NND_OK)
      return st;
  }

  bool *changed = calloc((size_t)(g->n_nodes ? g->n_nodes : 1), sizeof *changed);
  if (!changed) return nnd__ow_nomem(c, err);
  for (int32_t n = 0; n < g->n_nodes; n++)
    changed[n] = c->node_edit[n] >= 0;
  /* parameters first (they add inputs), then graph outputs (renames), then
   * every node whose bytes change */
  for (int i = 0; i < g->n_outputs && st == NND_OK; i++)
    if (c->outputs[i] != g->outputs[i]) st = plan_output(c, i, err);
  for (int32_t n = 0; n < g->n_nodes && st == NND_OK; n++) {
    if (c->removed[n]) {
      nnd__ow_repl *r = nnd__ow_add_repl(c, g->nodes[n].prov.offset);
      if (!r)
        st = nnd__ow_nomem(c, err);
      else
        r->drop = true;
      continue;
    }
    st = plan_node(c, n, err);
  }
  for (int32_t v = 0; v < g->n_values && st == NND_OK; v++)
    if (c->value_edit[v] >= 0) st = nnd__ow_plan_constant(c, v, err);
  if (st == NND_OK) st = plan_value_info(c, changed, err);
  free(changed);
  return st;
}

void nnd__ow_ctx_free(nnd__ow_ctx *c) {
  if (!c->g) return;
  for (int32_t n = 0; c->in && n < c->g->n_nodes; n++)
    free(c->in[n]);
  free(c->op);
  free(c->attrs);
  free(c->act);
  free(c->in);
  free(c->n_in);
  free(c->in_cap);
  free(c->removed);
  free(c->attrs_edited);
  free(c->node_edit);
  free(c->value_edit);
  free(c->name);
  free(c->outputs);
  for (size_t i = 0; i < c->n_repls; i++)
    nnd_pb_buf_free(&c->repls[i].bytes);
  free(c->repls);
  free(c->overwrites);
  nnd_pb_buf_free(&c->new_nodes);
  nnd_pb_buf_free(&c->new_inits);
  nnd_pb_buf_free(&c->new_inputs);
  free(c->new_init_names);
  nnd__strmap_free(&c->drop_value_info);
  nnd__strmap_free(&c->fresh);
  nnd_pb_buf_free(&c->ext_data);
  free(c->copies);
  for (size_t i = 0; i < c->n_owned; i++)
    free(c->owned[i]);
  free(c->owned);
}
