/* TFLite model reader: the FlatBuffer's Model, its main subgraph's tensors
 * (values, constants pointing into the mapped file), operators (through
 * the op table in tflite_ops.c), inputs and outputs; then shape inference
 * and validation like every reader.
 *
 * Schema fields used (ids as in schema.fbs):
 *   Model: 0 version, 1 operator_codes, 2 subgraphs, 3 description, 4 buffers
 *   OperatorCode: 0 deprecated_builtin_code (byte), 1 custom_code, 3 builtin_code
 *   SubGraph: 0 tensors, 1 inputs, 2 outputs, 3 operators, 4 name
 *   Tensor: 0 shape, 1 type, 2 buffer, 3 name, 4 quantization, 6 sparsity,
 *           7 shape_signature
 *   QuantizationParameters: 2 scale, 3 zero_point, 4 details type,
 *           6 quantized_dimension
 *   Buffer: 0 data, 1 offset, 2 size (data stored after the FlatBuffer, at
 *           a file offset, when the model is too big for one: offset > 1)
 *   Operator: 0 opcode_index, 1 inputs, 2 outputs, 3 builtin_options type,
 *           4 builtin_options, 5 custom_options */
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "formats/tflite/tflite_internal.h"
#include "nndiff/tflite.h"
#include "util/mapped_file.h"

static nnd_status nomem(const nnd__tfl_ctx *c, nnd_error *err) {
  return nnd_error_set(err, NND_ERR_NOMEM, "%s: out of memory building the graph", c->label);
}

static bool map_dtype(int8_t t, nnd_dtype *out) {
  switch (t) {
  case NND__TFL_FLOAT32: *out = NND_DTYPE_F32; return true;
  case NND__TFL_FLOAT16: *out = NND_DTYPE_F16; return true;
  case NND__TFL_INT32: *out = NND_DTYPE_I32; return true;
  case NND__TFL_UINT8: *out = NND_DTYPE_U8; return true;
  case NND__TFL_INT64: *out = NND_DTYPE_I64; return true;
  case NND__TFL_STRING: *out = NND_DTYPE_STRING; return true;
  case NND__TFL_BOOL: *out = NND_DTYPE_BOOL; return true;
  case NND__TFL_INT16: *out = NND_DTYPE_I16; return true;
  case NND__TFL_INT8: *out = NND_DTYPE_I8; return true;
  case NND__TFL_FLOAT64: *out = NND_DTYPE_F64; return true;
  case NND__TFL_UINT64: *out = NND_DTYPE_U64; return true;
  case NND__TFL_UINT32: *out = NND_DTYPE_U32; return true;
  case NND__TFL_UINT16: *out = NND_DTYPE_U16; return true;
  case NND__TFL_BFLOAT16: *out = NND_DTYPE_BF16; return true;
  default: return false; /* complex, resource, variant, int4 */
  }
}

/* The bytes of buffer `index` (NULL, 0 for an empty one) and their file
 * offset. */
static nnd_status buffer_bytes(nnd__tfl_ctx *c, const nnd__fb_vec *buffers, uint32_t index,
                               const char *what, const uint8_t **data, size_t *n, size_t *offset,
                               nnd_error *err) {
  *data = NULL;
  *n = 0;
  *offset = 0;
  if (index >= buffers->count)
    return nnd_error_set(err, NND_ERR_FORMAT, "%s: %s: buffer %u does not exist (the model has %u)",
                         c->label, what, index, buffers->count);
  nnd__fb_table b;
  nnd__fb_vec v;
  uint64_t off, size;
  nnd_status st = nnd__fb_vec_table(buffers, index, &b, what, err);
  if (st == NND_OK) st = nnd__fb_vector(&b, 0, 1, &v, what, err);
  if (st == NND_OK) st = nnd__fb_u64(&b, 1, 0, &off, what, err);
  if (st == NND_OK) st = nnd__fb_u64(&b, 2, 0, &size, what, err);
  if (st != NND_OK) return st;
  if (off > 1) { /* stored after the FlatBuffer */
    if (v.count)
      return nnd_error_set(err, NND_ERR_FORMAT,
                           "%s: %s: buffer %u has both inline data and a file offset", c->label,
                           what, index);
    if (off > c->fb.n || size > c->fb.n - off)
      return nnd_error_set(err, NND_ERR_FORMAT,
                           "%s: %s: buffer %u at offset %llu with %llu bytes runs past the end "
                           "of the file (%zu bytes)",
                           c->label, what, index, (unsigned long long)off, (unsigned long long)size,
                           c->fb.n);
    *data = c->fb.p + off;
    *n = (size_t)size;
    *offset = (size_t)off;
    return NND_OK;
  }
  *data = v.count ? c->fb.p + v.pos : NULL;
  *n = v.count;
  *offset = v.pos;
  return NND_OK;
}

static nnd_status read_quant(nnd__tfl_ctx *c, const nnd__fb_table *q, nnd_value *v,
                             const char *what, nnd_error *err) {
  nnd__fb_vec sc, zp;
  uint8_t details;
  int32_t qdim;
  nnd_status st = nnd__fb_vector(q, 2, 4, &sc, what, err);
  if (st == NND_OK) st = nnd__fb_vector(q, 3, 8, &zp, what, err);
  if (st == NND_OK) st = nnd__fb_u8(q, 4, 0, &details, what, err);
  if (st == NND_OK) st = nnd__fb_i32(q, 6, 0, &qdim, what, err);
  if (st != NND_OK) return st;
  if (details)
    return nnd_error_set(err, NND_ERR_UNSUPPORTED, "%s: %s: custom quantization is not supported",
                         c->label, what);
  if (sc.count == 0) return NND_OK; /* min/max only: not quantized */
  if (zp.count != sc.count && zp.count != 0)
    return nnd_error_set(err, NND_ERR_FORMAT, "%s: %s: %u scales but %u zero points", c->label,
                         what, sc.count, zp.count);
  if (sc.count > 1) {
    if (qdim < 0 || qdim >= v->shape.rank || v->shape.dims[qdim].size != (int64_t)sc.count)
      return nnd_error_set(err, NND_ERR_FORMAT,
                           "%s: %s: %u per-channel scales do not match dim %d of a rank-%d tensor",
                           c->label, what, sc.count, qdim, v->shape.rank);
  }
  nnd_quant *qu = nnd_graph_alloc(c->g, 1, sizeof *qu);
  float *scales = nnd_graph_alloc(c->g, sc.count, sizeof *scales);
  int64_t *zps = nnd_graph_alloc(c->g, sc.count, sizeof *zps);
  if (!qu || !scales || !zps) return nomem(c, err);
  for (uint32_t i = 0; i < sc.count; i++) {
    scales[i] = nnd__fb_vec_f32(&sc, i);
    zps[i] = zp.count ? nnd__fb_vec_i64(&zp, i) : 0;
  }
  *qu = (nnd_quant){sc.count, scales, zps, sc.count > 1 ? qdim : 0};
  v->quant = qu;
  return NND_OK;
}

/* A unique value name for a tensor: its own, else "tensor_<i>", with
 * "#<i>" added when another tensor already took it. */
static const char *value_name(nnd__tfl_ctx *c, const char *name, uint32_t i) {
  char buf[48];
  if (!name[0]) {
    snprintf(buf, sizeof buf, "tensor_%u", i);
    name = buf;
  }
  if (nnd_graph_find_value(c->g, name) < 0) return nnd_graph_strdup(c->g, name);
  size_t n = strlen(name) + 16;
  char *s = nnd_graph_alloc(c->g, n, 1);
  if (s) snprintf(s, n, "%s#%u", name, i);
  return s;
}

static nnd_status add_tensor(nnd__tfl_ctx *c, const nnd__fb_vec *tensors,
                             const nnd__fb_vec *buffers, uint32_t i, nnd_error *err) {
  char what[48];
  snprintf(what, sizeof what, "tensor %u", i);
  nnd__fb_table t, q;
  nnd__fb_vec shape;
  uint8_t type;
  uint32_t buffer, name_len;
  const char *name;
  bool has_q, has_sparsity;
  nnd_status st = nnd__fb_vec_table(tensors, i, &t, what, err);
  if (st == NND_OK) st = nnd__fb_vector(&t, 0, 4, &shape, what, err);
  if (st == NND_OK) st = nnd__fb_u8(&t, 1, 0, &type, what, err);
  if (st == NND_OK) st = nnd__fb_u32(&t, 2, 0, &buffer, what, err);
  if (st == NND_OK) st = nnd__fb_string(&t, 3, &name, &name_len, what, err);
  if (st != NND_OK) return st;
  if (memchr(name, 0, name_len))
    return nnd_error_set(err, NND_ERR_FORMAT, "%s: %s: the name holds a NUL byte", c->label, what);
  has_sparsity = nnd__fb_has(&t, 6);
  const char *vname = value_name(c, name, i);
  if (!vname) return nomem(c, err);
  int32_t id;
  if ((st = nnd_graph_add_value(c->g, vname, &id, err)) != NND_OK) return st;
  c->tensor_value[i] = id;
  nnd_value *v = &c->g->values[id];
  v->prov = (nnd_provenance){NND_FORMAT_TFLITE, NULL, "", NULL, i, t.pos, t.size, true};
  v->prov.name = nnd_graph_strndup(c->g, name, name_len);
  if (!v->prov.name) return nomem(c, err);
  if (!map_dtype((int8_t)type, &v->dtype))
    return nnd_error_set(err, NND_ERR_UNSUPPORTED,
                         "%s: tensor '%s' has type %u, which nndiff "
                         "does not support",
                         c->label, vname, type);
  if (shape.count > NND_MAX_RANK)
    return nnd_error_set(err, NND_ERR_UNSUPPORTED,
                         "%s: tensor '%s' has rank %u; nndiff handles "
                         "ranks up to %d",
                         c->label, vname, shape.count, NND_MAX_RANK);
  v->shape.rank = (int)shape.count;
  for (uint32_t k = 0; k < shape.count; k++) {
    int32_t d = nnd__fb_vec_i32(&shape, k);
    if (d < 0)
      return nnd_error_set(err, NND_ERR_FORMAT, "%s: tensor '%s' has dim %u of size %d", c->label,
                           vname, k, d);
    v->shape.dims[k] = (nnd_dim){d, NULL};
  }
  /* TFLite's builtin ops read every 4-D activation as NHWC. */
  if (shape.count == 4) v->layout = NND_LAYOUT_NHWC;
  if ((st = nnd__fb_table_field(&t, 4, &q, &has_q, what, err)) != NND_OK) return st;
  if (has_q && (st = read_quant(c, &q, v, what, err)) != NND_OK) return st;
  const uint8_t *data;
  size_t n, offset;
  if ((st = buffer_bytes(c, buffers, buffer, what, &data, &n, &offset, err)) != NND_OK) return st;
  if (!data) return NND_OK;
  if (has_sparsity)
    return nnd_error_set(err, NND_ERR_UNSUPPORTED,
                         "%s: tensor '%s' is sparse, which nndiff does "
                         "not support yet",
                         c->label, vname);
  int64_t numel;
  size_t es = nnd_dtype_size(v->dtype);
  if (v->dtype == NND_DTYPE_STRING)
    return nnd_error_set(err, NND_ERR_UNSUPPORTED,
                         "%s: tensor '%s' holds strings, which nndiff "
                         "does not support",
                         c->label, vname);
  if (!nnd_shape_numel(&v->shape, &numel) || numel < 0 || (uint64_t)numel > SIZE_MAX / es ||
      (size_t)numel * es != n)
    return nnd_error_set(err, NND_ERR_FORMAT,
                         "%s: tensor '%s' (%s) holds %zu bytes of data where its shape needs "
                         "%lld elements of %zu bytes",
                         c->label, vname, nnd_dtype_name(v->dtype), n, (long long)numel, es);
  v->kind = NND_VALUE_CONSTANT;
  v->data = data;
  v->nbytes = n;
  v->data_offset = (int64_t)offset;
  v->layout = NND_LAYOUT_NONE;
  return NND_OK;
}

/* Reads a subgraph's int32 tensor-index vector into value ids. */
static nnd_status tensor_list(nnd__tfl_ctx *c, const nnd__fb_table *t, int id, bool optional_ok,
                              const char *what, int32_t **out, int *n_out, nnd_error *err) {
  nnd__fb_vec v;
  nnd_status st = nnd__fb_vector(t, id, 4, &v, what, err);
  if (st != NND_OK) return st;
  if (v.count > INT32_MAX)
    return nnd_error_set(err, NND_ERR_FORMAT, "%s: %s: %u entries", c->label, what, v.count);
  int32_t *ids = nnd_graph_alloc(c->g, v.count ? v.count : 1, sizeof *ids);
  if (!ids) return nomem(c, err);
  for (uint32_t k = 0; k < v.count; k++) {
    int32_t ti = nnd__fb_vec_i32(&v, k);
    if (ti == -1 && optional_ok) {
      ids[k] = -1;
      continue;
    }
    if (ti < 0 || (uint32_t)ti >= c->n_tensors)
      return nnd_error_set(err, NND_ERR_FORMAT,
                           "%s: %s: entry %u names tensor %d, which does not exist (%u tensors)",
                           c->label, what, k, ti, c->n_tensors);
    ids[k] = c->tensor_value[ti];
  }
  *out = ids;
  *n_out = (int)v.count;
  return NND_OK;
}

static nnd_status add_operator(nnd__tfl_ctx *c, const nnd__fb_vec *ops, const nnd__fb_vec *codes,
                               uint32_t i, nnd_error *err) {
  char what[48];
  snprintf(what, sizeof what, "operator %u", i);
  nnd__fb_table t, oc;
  uint32_t opcode;
  nnd__tfl_op op = {0};
  op.index = i;
  nnd_status st = nnd__fb_vec_table(ops, i, &t, what, err);
  if (st == NND_OK) st = nnd__fb_u32(&t, 0, 0, &opcode, what, err);
  if (st == NND_OK) st = nnd__fb_u8(&t, 3, 0, &op.options_type, what, err);
  if (st == NND_OK) st = nnd__fb_table_field(&t, 4, &op.options, &op.has_options, what, err);
  if (st != NND_OK) return st;
  op.pos = t.pos;
  op.length = t.size;
  if (opcode >= codes->count)
    return nnd_error_set(err, NND_ERR_FORMAT, "%s: %s uses operator code %u; the model has %u",
                         c->label, what, opcode, codes->count);
  uint8_t dep;
  int32_t code;
  const char *custom;
  uint32_t custom_len;
  if ((st = nnd__fb_vec_table(codes, opcode, &oc, "operator code", err)) != NND_OK) return st;
  if ((st = nnd__fb_u8(&oc, 0, 0, &dep, "operator code", err)) != NND_OK) return st;
  if ((st = nnd__fb_string(&oc, 1, &custom, &custom_len, "operator code", err)) != NND_OK)
    return st;
  if ((st = nnd__fb_i32(&oc, 3, 0, &code, "operator code", err)) != NND_OK) return st;
  /* Old files have only the byte; new ones write both, the byte capped at
   * 127 (PLACEHOLDER_FOR_GREATER_OP_CODES): the larger is the op. */
  if ((int32_t)(int8_t)dep > code) code = (int8_t)dep;
  op.code = code;
  op.custom = code == 32; /* CUSTOM */
  if (op.custom) {
    op.op_type = custom_len ? nnd_graph_strndup(c->g, custom, custom_len) : "CUSTOM";
  } else if ((op.op_type = nnd__tfl_builtin_name(code)) == NULL) {
    char buf[32];
    snprintf(buf, sizeof buf, "BUILTIN_%d", code);
    op.op_type = nnd_graph_strdup(c->g, buf);
  }
  if (!op.op_type) return nomem(c, err);
  int32_t *in, *out;
  if ((st = tensor_list(c, &t, 1, true, what, &in, &op.n_in, err)) != NND_OK) return st;
  if ((st = tensor_list(c, &t, 2, false, what, &out, &op.n_out, err)) != NND_OK) return st;
  while (op.n_in > 0 && in[op.n_in - 1] < 0)
    op.n_in--; /* trailing omitted inputs */
  if (op.n_out == 0)
    return nnd_error_set(err, NND_ERR_FORMAT, "%s: %s (%s) has no outputs", c->label, what,
                         op.op_type);
  op.in = in;
  op.out = out;
  return nnd__tfl_add_op(c, &op, err);
}

static nnd_status import(nnd__tfl_ctx *c, nnd_error *err) {
  nnd__fb_table model, sg;
  nnd__fb_vec codes, subgraphs, buffers, tensors, ops;
  uint32_t version, len;
  const char *desc, *sg_name;
  nnd_status st = nnd__fb_root(&c->fb, "TFL3", &model, err);
  if (st == NND_OK) st = nnd__fb_u32(&model, 0, 0, &version, "model", err);
  if (st == NND_OK) st = nnd__fb_vector(&model, 1, 4, &codes, "operator codes", err);
  if (st == NND_OK) st = nnd__fb_vector(&model, 2, 4, &subgraphs, "subgraphs", err);
  if (st == NND_OK) st = nnd__fb_string(&model, 3, &desc, &len, "description", err);
  if (st == NND_OK) st = nnd__fb_vector(&model, 4, 4, &buffers, "buffers", err);
  if (st != NND_OK) return st;
  if (subgraphs.count == 0)
    return nnd_error_set(err, NND_ERR_FORMAT, "%s: the model has no subgraph", c->label);
  nnd_model_info *info = &c->g->info;
  info->format = NND_FORMAT_TFLITE;
  info->ir_version = version;
  info->producer_name = nnd_graph_strndup(c->g, desc, len);
  info->producer_version = "";
  /* Subgraph 0 is the model; the others are bodies of control-flow ops,
   * which load as unsupported. */
  if ((st = nnd__fb_vec_table(&subgraphs, 0, &sg, "subgraph 0", err)) != NND_OK) return st;
  if ((st = nnd__fb_vector(&sg, 0, 4, &tensors, "tensors", err)) != NND_OK) return st;
  if ((st = nnd__fb_vector(&sg, 3, 4, &ops, "operators", err)) != NND_OK) return st;
  if ((st = nnd__fb_string(&sg, 4, &sg_name, &len, "subgraph name", err)) != NND_OK) return st;
  info->graph_name = nnd_graph_strndup(c->g, sg_name, len);
  if (!info->producer_name || !info->graph_name) return nomem(c, err);
  c->n_tensors = tensors.count;
  c->tensor_value = nnd_graph_alloc(c->g, tensors.count ? tensors.count : 1, sizeof(int32_t));
  if (!c->tensor_value) return nomem(c, err);
  for (uint32_t i = 0; i < tensors.count; i++)
    if ((st = add_tensor(c, &tensors, &buffers, i, err)) != NND_OK) return st;
  int32_t *ins, *outs;
  int n_in, n_out;
  if ((st = tensor_list(c, &sg, 1, false, "subgraph inputs", &ins, &n_in, err)) != NND_OK)
    return st;
  if ((st = tensor_list(c, &sg, 2, false, "subgraph outputs", &outs, &n_out, err)) != NND_OK)
    return st;
  nnd_graph *g = c->g;
  g->inputs = ins;
  g->n_inputs = 0;
  for (int k = 0; k < n_in; k++) {
    nnd_value *v = &g->values[ins[k]];
    if (v->kind == NND_VALUE_CONSTANT) continue;
    if (v->kind == NND_VALUE_INPUT)
      return nnd_error_set(err, NND_ERR_FORMAT, "%s: input '%s' is listed twice", c->label,
                           v->name);
    v->kind = NND_VALUE_INPUT;
    g->inputs[g->n_inputs++] = ins[k];
  }
  for (uint32_t i = 0; i < ops.count; i++)
    if ((st = add_operator(c, &ops, &codes, i, err)) != NND_OK) return st;
  g->outputs = outs;
  g->n_outputs = 0;
  for (int k = 0; k < n_out; k++) {
    nnd_value *v = &g->values[outs[k]];
    if (v->is_output) continue;
    if (v->kind == NND_VALUE_ACTIVATION && v->producer < 0)
      return nnd_error_set(err, NND_ERR_FORMAT, "%s: output '%s' is not computed by any operator",
                           c->label, v->name);
    v->is_output = true;
    g->outputs[g->n_outputs++] = outs[k];
  }
  /* A tensor an op reads must be an input, a constant or computed. */
  for (int32_t n = 0; n < g->n_nodes; n++)
    for (int j = 0; j < g->nodes[n].n_inputs; j++) {
      int32_t k = g->nodes[n].inputs[j];
      if (k < 0) continue;
      const nnd_value *v = &g->values[k];
      if (v->kind == NND_VALUE_ACTIVATION && v->producer < 0)
        return nnd_error_set(err, NND_ERR_FORMAT,
                             "%s: tensor '%s' is read by '%s' but is neither an input, a "
                             "constant nor computed by an operator",
                             c->label, v->name, g->nodes[n].name);
    }
  return NND_OK;
}

static nnd_status load(const uint8_t *data, size_t size, const char *label, bool is_path,
                       nnd_mapped_file *mf, nnd_graph **graph_out, nnd_error *err) {
  static const uint8_t empty[1];
  *graph_out = NULL;
  nnd_graph *g = nnd_graph_create(err);
  if (!g) {
    nnd_mapped_file_close(mf);
    return NND_ERR_NOMEM;
  }
  nnd_status st = NND_OK;
  if (mf && (st = nnd_graph_own(g, mf, nnd_mapped_file_close, err)) != NND_OK) goto error;
  nnd__tfl_ctx c = {g, {data ? data : empty, size, NULL}, NULL, 0, NULL};
  c.label = c.fb.label = nnd_graph_strdup(g, label);
  if (!c.label) {
    st = nnd_error_set(err, NND_ERR_NOMEM, "%s: out of memory", label);
    goto error;
  }
  if ((st = import(&c, err)) != NND_OK) goto error;
  g->info.path = is_path ? c.label : NULL;
  g->info.file_size = size;
  if ((st = nnd_graph_infer_shapes(g, err)) != NND_OK) goto error;
  if ((st = nnd_graph_validate(g, err)) != NND_OK) goto error;
  *graph_out = g;
  return NND_OK;
error:
  nnd_graph_destroy(g);
  return st;
}

nnd_status nnd_tflite_load(const char *path, nnd_graph **graph_out, nnd_error *err) {
  if (!graph_out) return nnd_error_set(err, NND_ERR_USAGE, "nnd_tflite_load: graph_out is NULL");
  *graph_out = NULL;
  if (!path || !*path) return nnd_error_set(err, NND_ERR_USAGE, "nnd_tflite_load: no path given");
  nnd_mapped_file *mf = NULL;
  nnd_status st = nnd_mapped_file_open(path, &mf, err);
  if (st != NND_OK) return st;
  return load(mf->data, mf->size, path, true, mf, graph_out, err);
}

nnd_status nnd_tflite_load_memory(const void *data, size_t size, nnd_graph **graph_out,
                                  nnd_error *err) {
  if (!graph_out)
    return nnd_error_set(err, NND_ERR_USAGE, "nnd_tflite_load_memory: graph_out is NULL");
  *graph_out = NULL;
  if (!data && size)
    return nnd_error_set(err, NND_ERR_USAGE, "nnd_tflite_load_memory: no data given");
  return load(data, size, "<memory>", false, NULL, graph_out, err);
}
