/* Decoded ONNX graph -> nnd_graph: constants, inputs, nodes and outputs.
 *
 * Initializers and Constant nodes become NND_VALUE_CONSTANT values (a
 * Constant node leaves no node behind; its value's provenance names it).
 * Graph inputs that are also initializers are constants (old exporters list
 * every weight as an input). Other inputs take dtype and shape from their
 * ValueInfo, with dim_param kept as the dim's symbol. Every other node is
 * added with its canonical op from onnx_ops.c, or as NND_OP_UNSUPPORTED with
 * its op type and domain kept, inputs and outputs wired. */
#include <stdio.h>
#include <string.h>

#include "formats/onnx/onnx_internal.h"
#include "util/strmap.h"

typedef struct import_ctx {
  nnd_graph *g;
  const nnd__onnx_source *src;
  const nnd_pb_reader *file;
  const nnd__onnx_model *m;
  int64_t opset;
} import_ctx;

static bool is_default_domain(const char *domain) {
  return domain[0] == '\0' || strcmp(domain, "ai.onnx") == 0;
}

static nnd_status nomem(const import_ctx *c, nnd_error *err) {
  return nnd_error_set(err, NND_ERR_NOMEM, "%s: out of memory building the graph", c->src->label);
}

/* Adds a value after checking the name is free, so the message names the file. */
static nnd_status add_value(import_ctx *c, const char *name, const char *role, int32_t *id,
                            nnd_error *err) {
  if (nnd_graph_find_value(c->g, name) >= 0)
    return nnd_error_set(err, NND_ERR_FORMAT, "%s: %s '%s' is defined twice", c->src->label, role,
                         name);
  nnd_status st = nnd_graph_add_value(c->g, name, id, err);
  if (st != NND_OK) return st;
  c->g->values[*id].prov.format = NND_FORMAT_ONNX;
  return NND_OK;
}

/* ------------------------------------------------------------ constants */

static nnd_status add_initializers(import_ctx *c, nnd_error *err) {
  const nnd__onnx_graph *gr = &c->m->graph;
  for (int i = 0; i < gr->n_initializers; i++) {
    const nnd__onnx_tensor *t = &gr->initializers[i];
    if (!t->name[0])
      return nnd_error_set(err, NND_ERR_FORMAT, "%s: offset %zu: initializer #%d has no name",
                           c->src->label, t->offset, i);
    int32_t id;
    nnd_status st = add_value(c, t->name, "initializer", &id, err);
    if (st != NND_OK) return st;
    nnd_value *v = &c->g->values[id];
    v->kind = NND_VALUE_CONSTANT;
    v->prov.index = i;
    v->prov.offset = t->offset;
    v->prov.length = t->msg.size;
    v->prov.stated = true;
    st = nnd__onnx_tensor_to_value(c->g, c->src, c->file, t, v, err);
    if (st != NND_OK) return st;
  }
  if (gr->n_sparse_initializers)
    return nnd_error_set(err, NND_ERR_UNSUPPORTED,
                         "%s: the graph has %d sparse initializers, which nndiff does not support",
                         c->src->label, gr->n_sparse_initializers);
  return NND_OK;
}

/* Fills a value from a Constant node's attribute. */
static nnd_status constant_from_attr(import_ctx *c, const nnd__onnx_node *n, const char *display,
                                     nnd_value *v, nnd_error *err) {
  if (n->n_attrs != 1)
    return nnd_error_set(err, NND_ERR_FORMAT,
                         "%s: node '%s' (Constant) has %d attributes, "
                         "expected exactly one value",
                         c->src->label, display, n->n_attrs);
  const nnd__onnx_attr *a = &n->attrs[0];
  static const struct {
    const char *name;
    int32_t type;
  } forms[] = {{"value", NND__ONNX_ATTR_TENSOR},         {"value_float", NND__ONNX_ATTR_FLOAT},
               {"value_floats", NND__ONNX_ATTR_FLOATS},  {"value_int", NND__ONNX_ATTR_INT},
               {"value_ints", NND__ONNX_ATTR_INTS},      {"value_string", NND__ONNX_ATTR_STRING},
               {"value_strings", NND__ONNX_ATTR_STRINGS}};
  bool ok = false;
  for (size_t i = 0; i < sizeof forms / sizeof forms[0]; i++)
    if (strcmp(a->name, forms[i].name) == 0 && a->type == forms[i].type) ok = true;
  if (!ok) {
    nnd_status st = strcmp(a->name, "sparse_value") == 0 ? NND_ERR_UNSUPPORTED : NND_ERR_FORMAT;
    return nnd_error_set(err, st,
                         "%s: node '%s' (Constant): attribute '%s' is not a supported "
                         "constant value",
                         c->src->label, display, a->name);
  }
  switch (a->type) {
  case NND__ONNX_ATTR_TENSOR: {
    nnd__onnx_tensor t = *a->t;
    t.name = v->name; /* messages speak of the output, the tensor is often unnamed */
    return nnd__onnx_tensor_to_value(c->g, c->src, c->file, &t, v, err);
  }
  case NND__ONNX_ATTR_FLOAT:
  case NND__ONNX_ATTR_FLOATS: {
    int64_t count = a->type == NND__ONNX_ATTR_FLOAT ? 1 : a->n_floats;
    float *buf = nnd_graph_alloc(c->g, (size_t)(count ? count : 1), sizeof(float));
    if (!buf) return nomem(c, err);
    if (a->type == NND__ONNX_ATTR_FLOAT)
      buf[0] = a->f;
    else if (count)
      memcpy(buf, a->floats, (size_t)count * sizeof(float));
    v->dtype = NND_DTYPE_F32;
    v->data = buf;
    v->nbytes = (size_t)count * sizeof(float);
    v->shape.rank = a->type == NND__ONNX_ATTR_FLOAT ? 0 : 1;
    v->shape.dims[0].size = count;
    return NND_OK;
  }
  case NND__ONNX_ATTR_INT:
  case NND__ONNX_ATTR_INTS: {
    int64_t count = a->type == NND__ONNX_ATTR_INT ? 1 : a->n_ints;
    int64_t *buf = nnd_graph_alloc(c->g, (size_t)(count ? count : 1), sizeof(int64_t));
    if (!buf) return nomem(c, err);
    if (a->type == NND__ONNX_ATTR_INT)
      buf[0] = a->i;
    else if (count)
      memcpy(buf, a->ints, (size_t)count * sizeof(int64_t));
    v->dtype = NND_DTYPE_I64;
    v->data = buf;
    v->nbytes = (size_t)count * sizeof(int64_t);
    v->shape.rank = a->type == NND__ONNX_ATTR_INT ? 0 : 1;
    v->shape.dims[0].size = count;
    return NND_OK;
  }
  default: /* STRING / STRINGS: typed placeholder without data */
    v->dtype = NND_DTYPE_STRING;
    v->shape.rank = a->type == NND__ONNX_ATTR_STRING ? 0 : 1;
    v->shape.dims[0].size = a->n_strings;
    return NND_OK;
  }
}

static nnd_status add_constant_node(import_ctx *c, const nnd__onnx_node *n, int index,
                                    const char *display, nnd_error *err) {
  if (n->n_outputs != 1 || !n->outputs[0][0])
    return nnd_error_set(err, NND_ERR_FORMAT,
                         "%s: node '%s' (Constant) must have one named "
                         "output",
                         c->src->label, display);
  const char *out = n->outputs[0];
  int32_t id = nnd_graph_find_value(c->g, out);
  if (id >= 0) {
    /* only a forward reference (used before this node) may exist already */
    const nnd_value *old = &c->g->values[id];
    if (old->kind != NND_VALUE_ACTIVATION || old->producer >= 0 || old->data)
      return nnd_error_set(err, NND_ERR_FORMAT,
                           "%s: node '%s' (Constant) writes tensor '%s', "
                           "which is already defined",
                           c->src->label, display, out);
  } else {
    nnd_status st = add_value(c, out, "tensor", &id, err);
    if (st != NND_OK) return st;
  }
  nnd_value *v = &c->g->values[id];
  v->kind = NND_VALUE_CONSTANT;
  v->prov.format = NND_FORMAT_ONNX;
  v->prov.op_type = n->op_type;
  v->prov.domain = n->domain;
  v->prov.name = display;
  v->prov.index = index;
  v->prov.offset = n->offset; /* the Constant node states it */
  v->prov.length = n->length;
  v->prov.stated = true;
  return constant_from_attr(c, n, display, v, err);
}

/* --------------------------------------------------------------- inputs */

static nnd_status value_info_type(import_ctx *c, const nnd__onnx_value_info *vi, const char *role,
                                  nnd_value *v, nnd_error *err) {
  if (!vi->has_tensor_type) return NND_OK; /* sequence/map/optional: left unknown */
  char what[300];
  snprintf(what, sizeof what, "%s '%s'", role, vi->name);
  if (vi->elem_type != NND__ONNX_UNDEFINED) {
    nnd_status st = nnd__onnx_dtype(vi->elem_type, c->src, what, &v->dtype, err);
    if (st != NND_OK) return st;
  }
  if (!vi->has_shape) return NND_OK;
  if (vi->n_dims > NND_MAX_RANK)
    return nnd_error_set(err, NND_ERR_UNSUPPORTED, "%s: %s has %d dims, nndiff handles up to %d",
                         c->src->label, what, vi->n_dims, NND_MAX_RANK);
  v->shape.rank = vi->n_dims;
  for (int i = 0; i < vi->n_dims; i++) {
    const nnd__onnx_dim *d = &vi->dims[i];
    /* a negative dim_value is not valid ONNX; some exporters write -1 for
     * "unknown", which is how it is read */
    v->shape.dims[i].size = d->has_value && d->value >= 0 ? d->value : -1;
    v->shape.dims[i].symbol = d->has_value && d->value >= 0 ? NULL : d->param;
  }
  return NND_OK;
}

static nnd_status add_inputs(import_ctx *c, nnd_error *err) {
  const nnd__onnx_graph *gr = &c->m->graph;
  nnd_graph *g = c->g;
  g->n_inputs = 0;
  g->inputs = gr->n_inputs ? nnd_graph_alloc(g, (size_t)gr->n_inputs, sizeof *g->inputs) : NULL;
  if (gr->n_inputs && !g->inputs) return nomem(c, err);
  for (int i = 0; i < gr->n_inputs; i++) {
    const nnd__onnx_value_info *vi = &gr->inputs[i];
    if (!vi->name[0])
      return nnd_error_set(err, NND_ERR_FORMAT, "%s: offset %zu: graph input #%d has no name",
                           c->src->label, vi->offset, i);
    int32_t id = nnd_graph_find_value(g, vi->name);
    if (id >= 0) {
      if (g->values[id].kind == NND_VALUE_CONSTANT) continue; /* initializer listed as input */
      return nnd_error_set(err, NND_ERR_FORMAT, "%s: graph input '%s' is listed twice",
                           c->src->label, vi->name);
    }
    nnd_status st = add_value(c, vi->name, "graph input", &id, err);
    if (st != NND_OK) return st;
    nnd_value *v = &g->values[id];
    v->kind = NND_VALUE_INPUT;
    v->prov.index = i;
    v->prov.stated = vi->has_tensor_type;
    st = value_info_type(c, vi, "graph input", v, err);
    if (st != NND_OK) return st;
    g->inputs[g->n_inputs++] = id;
  }
  return NND_OK;
}

/* ---------------------------------------------------------------- nodes */

static nnd_status input_value(import_ctx *c, const char *name, int32_t *id, nnd_error *err) {
  if (!name[0]) {
    *id = -1;
    return NND_OK;
  }
  *id = nnd_graph_find_value(c->g, name);
  if (*id >= 0) return NND_OK;
  /* forward reference (file not in topological order, or a dangling name
   * that validation reports) */
  return add_value(c, name, "tensor", id, err);
}

static nnd_status output_value(import_ctx *c, const nnd__onnx_node *n, const char *display, int k,
                               int32_t *id, nnd_error *err) {
  const char *name = n->outputs[k];
  char placeholder[300];
  if (!name[0]) {
    /* an omitted optional output before a used one: give it a private name */
    snprintf(placeholder, sizeof placeholder, "%s:unused_output_%d", display, k);
    name = placeholder;
  }
  *id = nnd_graph_find_value(c->g, name);
  if (*id < 0) return add_value(c, name, "tensor", id, err);
  const nnd_value *v = &c->g->values[*id];
  if (v->kind != NND_VALUE_ACTIVATION)
    return nnd_error_set(err, NND_ERR_FORMAT,
                         "%s: node '%s' (%s) writes tensor '%s', which is "
                         "a %s",
                         c->src->label, display, n->op_type, name,
                         v->kind == NND_VALUE_INPUT ? "graph input" : "constant");
  if (v->producer >= 0)
    return nnd_error_set(err, NND_ERR_FORMAT,
                         "%s: tensor '%s' is produced twice: by node '%s' "
                         "and by node '%s'",
                         c->src->label, name, c->g->nodes[v->producer].name, display);
  return NND_OK;
}

/* A node may not list an output twice (the second write would be lost).
 * The count comes from the file, so past a handful of outputs the check uses
 * a hash set of the values' names (unique per value) instead of comparing
 * every pair. */
static nnd_status check_distinct_outputs(import_ctx *c, const nnd__onnx_node *n,
                                         const char *display, const int32_t *out, int n_out,
                                         nnd_error *err) {
  enum { PAIRWISE_MAX = 8 };
  int dup = -1;
  if (n_out <= PAIRWISE_MAX) {
    for (int k = 1; k < n_out && dup < 0; k++)
      for (int j = 0; j < k; j++)
        if (out[j] == out[k]) dup = k;
  } else {
    nnd__strmap seen;
    nnd__strmap_init(&seen);
    for (int k = 0; k < n_out && dup < 0; k++) {
      bool added;
      if (!nnd__strmap_put(&seen, c->g->values[out[k]].name, &added)) {
        nnd__strmap_free(&seen);
        return nomem(c, err);
      }
      if (!added) dup = k;
    }
    nnd__strmap_free(&seen);
  }
  if (dup < 0) return NND_OK;
  return nnd_error_set(err, NND_ERR_FORMAT, "%s: node '%s' (%s) lists output '%s' twice",
                       c->src->label, display, n->op_type, c->g->values[out[dup]].name);
}

static bool has_subgraph(const nnd__onnx_node *n) {
  for (int i = 0; i < n->n_attrs; i++)
    if (n->attrs[i].type == NND__ONNX_ATTR_GRAPH || n->attrs[i].type == NND__ONNX_ATTR_GRAPHS)
      return true;
  return false;
}

static nnd_status add_node(import_ctx *c, int index, int32_t *in_buf, int32_t *out_buf,
                           nnd_error *err) {
  const nnd__onnx_node *n = &c->m->graph.nodes[index];
  char display_buf[32];
  const char *display = n->name[0]                         ? n->name
                        : n->n_outputs && n->outputs[0][0] ? n->outputs[0]
                                                           : NULL;
  if (!display) {
    snprintf(display_buf, sizeof display_buf, "#%d", index);
    display = nnd_graph_strdup(c->g, display_buf);
    if (!display) return nomem(c, err);
  }
  if (!n->op_type[0])
    return nnd_error_set(err, NND_ERR_FORMAT, "%s: offset %zu: node '%s' has no op_type",
                         c->src->label, n->offset, display);
  bool std_domain = is_default_domain(n->domain);
  if (std_domain && strcmp(n->op_type, "Constant") == 0)
    return add_constant_node(c, n, index, display, err);

  int n_in = n->n_inputs;
  while (n_in > 0 && !n->inputs[n_in - 1][0])
    n_in--; /* trailing omitted inputs */
  int n_out = n->n_outputs;
  while (n_out > 0 && !n->outputs[n_out - 1][0])
    n_out--;
  if (n_out == 0)
    return nnd_error_set(err, NND_ERR_FORMAT, "%s: node '%s' (%s) has no outputs", c->src->label,
                         display, n->op_type);
  nnd_status st;
  for (int k = 0; k < n_in; k++)
    if ((st = input_value(c, n->inputs[k], &in_buf[k], err)) != NND_OK) return st;
  for (int k = 0; k < n_out; k++)
    if ((st = output_value(c, n, display, k, &out_buf[k], err)) != NND_OK) return st;
  if ((st = check_distinct_outputs(c, n, display, out_buf, n_out, err)) != NND_OK) return st;

  const nnd__onnx_op_entry *entry =
      has_subgraph(n)  ? NULL
      : std_domain     ? nnd__onnx_find_op(n->op_type)
                       : nnd__onnx_find_domain_op(n->domain, n->op_type);
  int32_t id;
  st = nnd_graph_add_node(c->g, entry ? entry->op : NND_OP_UNSUPPORTED, n->name, in_buf, n_in,
                          out_buf, n_out, &id, err);
  if (st != NND_OK) return st;
  nnd_node *node = &c->g->nodes[id];
  node->prov.format = NND_FORMAT_ONNX;
  node->prov.op_type = n->op_type;
  node->prov.domain = n->domain;
  node->prov.name = n->name;
  node->prov.index = index;
  node->prov.offset = n->offset;
  node->prov.length = n->length;
  node->prov.stated = true;
  if (n->n_attrs > 0) {
    nnd_attr_span *spans = nnd_graph_alloc(c->g, (size_t)n->n_attrs, sizeof *spans);
    if (!spans) return nomem(c, err);
    for (int k = 0; k < n->n_attrs; k++)
      spans[k] = (nnd_attr_span){n->attrs[k].name, n->attrs[k].offset, n->attrs[k].length};
    node->attr_spans = spans;
    node->n_attr_spans = n->n_attrs;
  }
  if (!entry || !entry->fill) return NND_OK;
  nnd__onnx_op_ctx oc = {c->g, c->src, c->file, n, c->opset, id, display};
  return entry->fill(&oc, node, err);
}

static nnd_status add_nodes(import_ctx *c, nnd_error *err) {
  const nnd__onnx_graph *gr = &c->m->graph;
  int max_io = 1;
  for (int i = 0; i < gr->n_nodes; i++) {
    if (gr->nodes[i].n_inputs > max_io) max_io = gr->nodes[i].n_inputs;
    if (gr->nodes[i].n_outputs > max_io) max_io = gr->nodes[i].n_outputs;
  }
  int32_t *in_buf = nnd_graph_alloc(c->g, (size_t)max_io, sizeof *in_buf);
  int32_t *out_buf = nnd_graph_alloc(c->g, (size_t)max_io, sizeof *out_buf);
  if (!in_buf || !out_buf) return nomem(c, err);
  for (int i = 0; i < gr->n_nodes; i++) {
    nnd_status st = add_node(c, i, in_buf, out_buf, err);
    if (st != NND_OK) return st;
  }
  return NND_OK;
}

/* -------------------------------------------------------------- outputs */

static nnd_status add_outputs(import_ctx *c, nnd_error *err) {
  const nnd__onnx_graph *gr = &c->m->graph;
  nnd_graph *g = c->g;
  g->n_outputs = 0;
  g->outputs = gr->n_outputs ? nnd_graph_alloc(g, (size_t)gr->n_outputs, sizeof *g->outputs) : NULL;
  if (gr->n_outputs && !g->outputs) return nomem(c, err);
  for (int i = 0; i < gr->n_outputs; i++) {
    const nnd__onnx_value_info *vi = &gr->outputs[i];
    int32_t id = nnd_graph_find_value(g, vi->name);
    if (id < 0)
      return nnd_error_set(err, NND_ERR_FORMAT,
                           "%s: graph output '%s' is not produced by any "
                           "node, input or initializer",
                           c->src->label, vi->name);
    nnd_value *v = &g->values[id];
    if (v->is_output) continue;
    v->is_output = true;
    g->outputs[g->n_outputs++] = id;
  }
  return NND_OK;
}

/* ----------------------------------------------------------------- info */

static nnd_status fill_info(import_ctx *c, nnd_error *err) {
  nnd_model_info *info = &c->g->info;
  info->format = NND_FORMAT_ONNX;
  info->producer_name = c->m->producer_name;
  info->producer_version = c->m->producer_version;
  info->graph_name = c->m->graph.name;
  info->ir_version = c->m->ir_version;
  info->n_opsets = c->m->n_opsets;
  info->opsets = c->m->opsets;
  (void)err;
  return NND_OK;
}

static bool has_default_opset(const nnd__onnx_model *m) {
  for (int i = 0; i < m->n_opsets; i++)
    if (is_default_domain(m->opsets[i].domain)) return true;
  return false;
}

static int64_t default_opset(const nnd__onnx_model *m) {
  for (int i = 0; i < m->n_opsets; i++)
    if (is_default_domain(m->opsets[i].domain)) return m->opsets[i].version;
  return 1; /* files from before opset_import (IR version 1-2) */
}

nnd_status nnd__onnx_import(nnd_graph *g, const nnd__onnx_source *src, const nnd_pb_reader *file,
                            const nnd__onnx_model *model, nnd_error *err) {
  import_ctx c = {g, src, file, model, default_opset(model)};
  if (!model->has_graph)
    return nnd_error_set(err, NND_ERR_FORMAT,
                         "%s: the file holds no graph (is it an ONNX "
                         "model?)",
                         src->label);
  /* IR version 3 made opset_import mandatory; without it the meaning of
   * every op (Clip, Pad, Squeeze...) is unknown, so refuse rather than guess. */
  if (model->ir_version >= 3 && c.opset == 1 && !has_default_opset(model))
    return nnd_error_set(err, NND_ERR_FORMAT,
                         "%s: the model declares no opset for the default ONNX domain "
                         "(opset_import is missing); re-export it with an opset",
                         src->label);
  nnd_status st = fill_info(&c, err);
  if (st == NND_OK) st = add_initializers(&c, err);
  if (st == NND_OK) st = add_inputs(&c, err);
  if (st == NND_OK) st = add_nodes(&c, err);
  if (st == NND_OK) st = add_outputs(&c, err);
  return st;
}
