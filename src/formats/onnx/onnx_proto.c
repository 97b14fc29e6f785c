/* Decodes the ONNX protobuf messages nndiff needs (ModelProto, GraphProto,
 * NodeProto, AttributeProto, TensorProto, ValueInfoProto and the type/shape
 * messages under it) into the structs of onnx_internal.h.
 *
 * Each message is read in two passes: the first counts the repeated fields
 * so arrays can be sized exactly in the arena, the second decodes. Nesting
 * is fixed by the schema (model > graph > node > attribute > tensor); GRAPH
 * attributes (subgraphs of If/Loop/Scan) are not descended into, so there is
 * no recursion an input could drive. */
#include <stdint.h>
#include <string.h>

#include "formats/onnx/onnx_fields.h"
#include "formats/onnx/onnx_internal.h"

enum { MAX_COUNTED = 32 /* field numbers counted by count_fields */ };

static nnd_status nomem(const nnd_pb_reader *r, size_t offset, nnd_error *err) {
  return nnd_pb_fail(r, offset, NND_ERR_NOMEM, err, "out of memory decoding the model");
}

/* Counts the occurrences of every field number below MAX_COUNTED. */
static nnd_status count_fields(nnd_pb_reader msg, size_t counts[MAX_COUNTED], nnd_error *err) {
  memset(counts, 0, MAX_COUNTED * sizeof counts[0]);
  while (nnd_pb_more(&msg)) {
    nnd_pb_field f;
    nnd_status st = nnd_pb_next(&msg, &f, err);
    if (st != NND_OK) return st;
    if (f.number < MAX_COUNTED) counts[f.number]++;
  }
  return NND_OK;
}

/* An arena array for `count` items; count must fit an int. */
static nnd_status alloc_array(nnd_graph *g, const nnd_pb_reader *r, size_t offset, size_t count,
                              size_t size, void **out, nnd_error *err) {
  *out = NULL;
  if (count == 0) return NND_OK;
  if (count > INT32_MAX)
    return nnd_pb_fail(r, offset, NND_ERR_UNSUPPORTED, err,
                       "a message repeats a field %zu times, more than nndiff handles", count);
  *out = nnd_graph_alloc(g, count, size);
  return *out ? NND_OK : nomem(r, offset, err);
}

/* Copies a string field into the arena. Names may not hold NUL bytes: they
 * would silently truncate and make distinct names collide. */
static nnd_status dup_string(nnd_graph *g, const nnd_pb_reader *r, const nnd_pb_field *f,
                             const char *what, const char **out, nnd_error *err) {
  nnd_status st = nnd_pb_expect(r, f, NND_PB_LEN, what, err);
  if (st != NND_OK) return st;
  if (f->span.size && memchr(f->span.data, 0, f->span.size))
    return nnd_pb_fail(r, f->offset, NND_ERR_FORMAT, err, "%s contains a NUL byte", what);
  char *s = nnd_graph_strndup(g, (const char *)f->span.data, f->span.size);
  if (!s) return nomem(r, f->offset, err);
  *out = s;
  return NND_OK;
}

static nnd_status get_varint(const nnd_pb_reader *r, const nnd_pb_field *f, const char *what,
                             int64_t *out, nnd_error *err) {
  nnd_status st = nnd_pb_expect(r, f, NND_PB_VARINT, what, err);
  if (st != NND_OK) return st;
  *out = (int64_t)f->u64;
  return NND_OK;
}

static nnd_status get_int32(const nnd_pb_reader *r, const nnd_pb_field *f, const char *what,
                            int32_t *out, nnd_error *err) {
  int64_t v;
  nnd_status st = get_varint(r, f, what, &v, err);
  if (st != NND_OK) return st;
  if (v < INT32_MIN || v > INT32_MAX)
    return nnd_pb_fail(r, f->offset, NND_ERR_FORMAT, err, "%s = %lld does not fit in 32 bits", what,
                       (long long)v);
  *out = (int32_t)v;
  return NND_OK;
}

/* Reads a repeated int64 field (packed or not) into an arena array. */
static nnd_status read_int64s(nnd_graph *g, nnd_pb_reader msg, uint32_t number, int64_t *count_out,
                              int64_t **out, nnd_error *err) {
  nnd_pb_repeated rep;
  size_t at = nnd_pb_offset(&msg);
  nnd_status st = nnd_pb_repeated_scan(msg, number, NND_PB_SCALAR_VARINT, &rep, err);
  if (st != NND_OK) return st;
  *count_out = 0;
  *out = NULL;
  if (rep.count == 0) return NND_OK;
  st = alloc_array(g, &msg, at, rep.count, sizeof(int64_t), (void **)out, err);
  if (st != NND_OK) return st;
  /* uint64 and int64 share a representation; the cast below reinterprets */
  st = nnd_pb_repeated_read(msg, number, NND_PB_SCALAR_VARINT, *out, rep.count, err);
  *count_out = (int64_t)rep.count;
  return st;
}

/* ------------------------------------------------------------- tensor */

static nnd_status decode_kv(nnd_graph *g, const nnd_pb_reader *parent, nnd_pb_span span,
                            nnd__onnx_kv *kv, nnd_error *err) {
  nnd_pb_reader r = nnd_pb_reader_sub(parent, span);
  kv->key = "";
  kv->value = "";
  while (nnd_pb_more(&r)) {
    nnd_pb_field f;
    nnd_status st = nnd_pb_next(&r, &f, err);
    if (st == NND_OK && f.number == KV_KEY)
      st = dup_string(g, &r, &f, "external_data key", &kv->key, err);
    if (st == NND_OK && f.number == KV_VALUE)
      st = dup_string(g, &r, &f, "external_data value", &kv->value, err);
    if (st != NND_OK) return st;
  }
  return NND_OK;
}

static nnd_status decode_tensor(nnd_graph *g, const nnd_pb_reader *parent, nnd_pb_span span,
                                nnd__onnx_tensor *t, nnd_error *err) {
  nnd_pb_reader r = nnd_pb_reader_sub(parent, span);
  memset(t, 0, sizeof *t);
  t->name = "";
  t->offset = nnd_pb_offset(&r);
  t->msg = span;
  size_t counts[MAX_COUNTED];
  nnd_status st = count_fields(r, counts, err);
  if (st != NND_OK) return st;
  int64_t n_dims;
  st = read_int64s(g, r, TENSOR_DIMS, &n_dims, &t->dims, err);
  if (st != NND_OK) return st;
  if (n_dims > INT32_MAX) return nnd_pb_fail(&r, t->offset, NND_ERR_FORMAT, err, "too many dims");
  t->n_dims = (int)n_dims;
  st = alloc_array(g, &r, t->offset, counts[TENSOR_EXTERNAL_DATA], sizeof *t->external,
                   (void **)&t->external, err);
  if (st != NND_OK) return st;
  while (nnd_pb_more(&r)) {
    nnd_pb_field f;
    st = nnd_pb_next(&r, &f, err);
    if (st != NND_OK) return st;
    switch (f.number) {
    case TENSOR_DATA_TYPE:
      st = get_int32(&r, &f, "TensorProto.data_type", &t->data_type, err);
      break;
    case TENSOR_SEGMENT: t->has_segment = true; break;
    case TENSOR_STRING_DATA:
      st = nnd_pb_expect(&r, &f, NND_PB_LEN, "TensorProto.string_data", err);
      t->n_strings++;
      break;
    case TENSOR_NAME: st = dup_string(g, &r, &f, "TensorProto.name", &t->name, err); break;
    case TENSOR_RAW_DATA:
      st = nnd_pb_expect(&r, &f, NND_PB_LEN, "TensorProto.raw_data", err);
      t->has_raw = true;
      t->raw = f.span;
      break;
    case TENSOR_EXTERNAL_DATA:
      st = nnd_pb_expect(&r, &f, NND_PB_LEN, "TensorProto.external_data", err);
      if (st == NND_OK) st = decode_kv(g, &r, f.span, &t->external[t->n_external++], err);
      break;
    case TENSOR_DATA_LOCATION:
      st = get_int32(&r, &f, "TensorProto.data_location", &t->data_location, err);
      break;
    default: break; /* dims and typed data: read on demand by onnx_tensor.c */
    }
    if (st != NND_OK) return st;
  }
  return NND_OK;
}

/* ---------------------------------------------------------- attribute */

static nnd_status decode_attr(nnd_graph *g, const nnd_pb_reader *parent, nnd_pb_span span,
                              nnd__onnx_attr *a, nnd_error *err) {
  nnd_pb_reader r = nnd_pb_reader_sub(parent, span);
  memset(a, 0, sizeof *a);
  a->name = "";
  a->offset = nnd_pb_offset(&r);
  a->length = span.size;
  size_t counts[MAX_COUNTED];
  nnd_status st = count_fields(r, counts, err);
  if (st != NND_OK) return st;

  /* floats: packed or not, fixed32 */
  nnd_pb_repeated rep;
  st = nnd_pb_repeated_scan(r, ATTR_FLOATS, NND_PB_SCALAR_FIXED32, &rep, err);
  if (st != NND_OK) return st;
  if (rep.count) {
    st = alloc_array(g, &r, a->offset, rep.count, sizeof(float), (void **)&a->floats, err);
    if (st == NND_OK)
      st = nnd_pb_repeated_read(r, ATTR_FLOATS, NND_PB_SCALAR_FIXED32, a->floats, rep.count, err);
    if (st != NND_OK) return st;
    a->n_floats = (int64_t)rep.count;
  }
  st = read_int64s(g, r, ATTR_INTS, &a->n_ints, &a->ints, err);
  if (st != NND_OK) return st;
  st = alloc_array(g, &r, a->offset, counts[ATTR_STRINGS], sizeof *a->strings, (void **)&a->strings,
                   err);
  if (st != NND_OK) return st;

  bool seen_f = false, seen_i = false, seen_s = false, seen_t = false, seen_g = false;
  bool seen_tensors = false, seen_graphs = false;
  while (nnd_pb_more(&r)) {
    nnd_pb_field f;
    st = nnd_pb_next(&r, &f, err);
    if (st != NND_OK) return st;
    switch (f.number) {
    case ATTR_NAME: st = dup_string(g, &r, &f, "AttributeProto.name", &a->name, err); break;
    case ATTR_TYPE: st = get_int32(&r, &f, "AttributeProto.type", &a->type, err); break;
    case ATTR_F: {
      st = nnd_pb_expect(&r, &f, NND_PB_FIXED32, "AttributeProto.f", err);
      uint32_t bits = (uint32_t)f.u64;
      memcpy(&a->f, &bits, sizeof a->f);
      seen_f = true;
      break;
    }
    case ATTR_I:
      st = get_varint(&r, &f, "AttributeProto.i", &a->i, err);
      seen_i = true;
      break;
    case ATTR_S:
      st = nnd_pb_expect(&r, &f, NND_PB_LEN, "AttributeProto.s", err);
      a->s = f.span;
      seen_s = true;
      break;
    case ATTR_T:
      st = nnd_pb_expect(&r, &f, NND_PB_LEN, "AttributeProto.t", err);
      if (st != NND_OK) break;
      if (!a->t) a->t = nnd_graph_alloc(g, 1, sizeof *a->t);
      if (!a->t) return nomem(&r, f.offset, err);
      st = decode_tensor(g, &r, f.span, a->t, err);
      seen_t = true;
      break;
    case ATTR_G:
      st = nnd_pb_expect(&r, &f, NND_PB_LEN, "AttributeProto.g", err);
      seen_g = true; /* subgraphs are not decoded: the op loads as unsupported */
      break;
    case ATTR_STRINGS:
      st = nnd_pb_expect(&r, &f, NND_PB_LEN, "AttributeProto.strings", err);
      if (st != NND_OK) break;
      /* strings may be binary: one holding a NUL byte is kept as NULL */
      if (!memchr(f.span.data, 0, f.span.size)) {
        a->strings[a->n_strings] = nnd_graph_strndup(g, (const char *)f.span.data, f.span.size);
        if (!a->strings[a->n_strings]) return nomem(&r, f.offset, err);
      }
      a->n_strings++;
      break;
    case ATTR_TENSORS: seen_tensors = true; break;
    case ATTR_GRAPHS: seen_graphs = true; break;
    default: break;
    }
    if (st != NND_OK) return st;
  }
  if (seen_s) {
    char *s = NULL;
    if (!memchr(a->s.data, 0, a->s.size)) {
      s = nnd_graph_strndup(g, (const char *)a->s.data, a->s.size);
      if (!s) return nomem(&r, a->offset, err);
    }
    a->str = s;
  }
  if (a->type == NND__ONNX_ATTR_UNDEFINED) {
    /* IR version 1 files have no type field: infer it from what is set */
    a->type = seen_f         ? NND__ONNX_ATTR_FLOAT
              : seen_i       ? NND__ONNX_ATTR_INT
              : seen_s       ? NND__ONNX_ATTR_STRING
              : seen_t       ? NND__ONNX_ATTR_TENSOR
              : seen_g       ? NND__ONNX_ATTR_GRAPH
              : a->n_floats  ? NND__ONNX_ATTR_FLOATS
              : a->n_ints    ? NND__ONNX_ATTR_INTS
              : a->n_strings ? NND__ONNX_ATTR_STRINGS
              : seen_tensors ? NND__ONNX_ATTR_TENSORS
              : seen_graphs  ? NND__ONNX_ATTR_GRAPHS
                             : NND__ONNX_ATTR_UNDEFINED;
  }
  if (a->type == NND__ONNX_ATTR_TENSOR && !a->t)
    return nnd_pb_fail(&r, a->offset, NND_ERR_FORMAT, err,
                       "attribute '%s' has type TENSOR but no tensor", a->name);
  return NND_OK;
}

/* --------------------------------------------------------------- node */

static nnd_status decode_node(nnd_graph *g, const nnd_pb_reader *parent, nnd_pb_span span,
                              nnd__onnx_node *n, nnd_error *err) {
  nnd_pb_reader r = nnd_pb_reader_sub(parent, span);
  memset(n, 0, sizeof *n);
  n->name = "";
  n->op_type = "";
  n->domain = "";
  n->offset = nnd_pb_offset(&r);
  n->length = span.size;
  size_t counts[MAX_COUNTED];
  nnd_status st = count_fields(r, counts, err);
  if (st == NND_OK)
    st = alloc_array(g, &r, n->offset, counts[NODE_INPUT], sizeof *n->inputs, (void **)&n->inputs,
                     err);
  if (st == NND_OK)
    st = alloc_array(g, &r, n->offset, counts[NODE_OUTPUT], sizeof *n->outputs,
                     (void **)&n->outputs, err);
  if (st == NND_OK)
    st = alloc_array(g, &r, n->offset, counts[NODE_ATTRIBUTE], sizeof *n->attrs, (void **)&n->attrs,
                     err);
  if (st != NND_OK) return st;
  while (nnd_pb_more(&r)) {
    nnd_pb_field f;
    st = nnd_pb_next(&r, &f, err);
    if (st != NND_OK) return st;
    switch (f.number) {
    case NODE_INPUT:
      st = dup_string(g, &r, &f, "NodeProto.input", &n->inputs[n->n_inputs++], err);
      break;
    case NODE_OUTPUT:
      st = dup_string(g, &r, &f, "NodeProto.output", &n->outputs[n->n_outputs++], err);
      break;
    case NODE_NAME: st = dup_string(g, &r, &f, "NodeProto.name", &n->name, err); break;
    case NODE_OP_TYPE: st = dup_string(g, &r, &f, "NodeProto.op_type", &n->op_type, err); break;
    case NODE_DOMAIN: st = dup_string(g, &r, &f, "NodeProto.domain", &n->domain, err); break;
    case NODE_ATTRIBUTE:
      st = nnd_pb_expect(&r, &f, NND_PB_LEN, "NodeProto.attribute", err);
      if (st == NND_OK) st = decode_attr(g, &r, f.span, &n->attrs[n->n_attrs++], err);
      break;
    default: break;
    }
    if (st != NND_OK) return st;
  }
  return NND_OK;
}

/* --------------------------------------------------------- value info */

static nnd_status decode_shape(nnd_graph *g, const nnd_pb_reader *parent, nnd_pb_span span,
                               nnd__onnx_value_info *vi, nnd_error *err) {
  nnd_pb_reader r = nnd_pb_reader_sub(parent, span);
  size_t counts[MAX_COUNTED];
  nnd_status st = count_fields(r, counts, err);
  if (st == NND_OK)
    st = alloc_array(g, &r, nnd_pb_offset(&r), counts[SHAPE_DIM], sizeof *vi->dims,
                     (void **)&vi->dims, err);
  if (st != NND_OK) return st;
  vi->has_shape = true;
  vi->n_dims = 0;
  while (nnd_pb_more(&r)) {
    nnd_pb_field f;
    st = nnd_pb_next(&r, &f, err);
    if (st != NND_OK) return st;
    if (f.number != SHAPE_DIM) continue;
    st = nnd_pb_expect(&r, &f, NND_PB_LEN, "TensorShapeProto.dim", err);
    if (st != NND_OK) return st;
    nnd__onnx_dim *d = &vi->dims[vi->n_dims++];
    nnd_pb_reader dr = nnd_pb_reader_sub(&r, f.span);
    while (nnd_pb_more(&dr)) {
      nnd_pb_field df;
      st = nnd_pb_next(&dr, &df, err);
      if (st == NND_OK && df.number == DIM_VALUE) {
        st = get_varint(&dr, &df, "Dimension.dim_value", &d->value, err);
        d->has_value = true;
      } else if (st == NND_OK && df.number == DIM_PARAM) {
        st = dup_string(g, &dr, &df, "Dimension.dim_param", &d->param, err);
      }
      if (st != NND_OK) return st;
    }
  }
  return NND_OK;
}

static nnd_status decode_value_info(nnd_graph *g, const nnd_pb_reader *parent, nnd_pb_span span,
                                    nnd__onnx_value_info *vi, nnd_error *err) {
  nnd_pb_reader r = nnd_pb_reader_sub(parent, span);
  memset(vi, 0, sizeof *vi);
  vi->name = "";
  vi->offset = nnd_pb_offset(&r);
  while (nnd_pb_more(&r)) {
    nnd_pb_field f;
    nnd_status st = nnd_pb_next(&r, &f, err);
    if (st != NND_OK) return st;
    if (f.number == VI_NAME) {
      st = dup_string(g, &r, &f, "ValueInfoProto.name", &vi->name, err);
    } else if (f.number == VI_TYPE) {
      st = nnd_pb_expect(&r, &f, NND_PB_LEN, "ValueInfoProto.type", err);
      if (st != NND_OK) return st;
      nnd_pb_reader tr = nnd_pb_reader_sub(&r, f.span);
      while (st == NND_OK && nnd_pb_more(&tr)) {
        nnd_pb_field tf;
        st = nnd_pb_next(&tr, &tf, err);
        if (st != NND_OK || tf.number != TYPE_TENSOR_TYPE) continue;
        st = nnd_pb_expect(&tr, &tf, NND_PB_LEN, "TypeProto.tensor_type", err);
        if (st != NND_OK) break;
        vi->has_tensor_type = true;
        nnd_pb_reader ttr = nnd_pb_reader_sub(&tr, tf.span);
        while (st == NND_OK && nnd_pb_more(&ttr)) {
          nnd_pb_field ttf;
          st = nnd_pb_next(&ttr, &ttf, err);
          if (st != NND_OK) break;
          if (ttf.number == TTYPE_ELEM_TYPE) {
            st = get_int32(&ttr, &ttf, "TypeProto.Tensor.elem_type", &vi->elem_type, err);
          } else if (ttf.number == TTYPE_SHAPE) {
            st = nnd_pb_expect(&ttr, &ttf, NND_PB_LEN, "TypeProto.Tensor.shape", err);
            if (st == NND_OK) st = decode_shape(g, &ttr, ttf.span, vi, err);
          }
        }
      }
    }
    if (st != NND_OK) return st;
  }
  return NND_OK;
}

/* -------------------------------------------------------------- graph */

static nnd_status decode_graph(nnd_graph *g, const nnd_pb_reader *parent, nnd_pb_span span,
                               nnd__onnx_graph *gr, nnd_error *err) {
  nnd_pb_reader r = nnd_pb_reader_sub(parent, span);
  size_t at = nnd_pb_offset(&r);
  memset(gr, 0, sizeof *gr);
  gr->name = "";
  size_t counts[MAX_COUNTED];
  nnd_status st = count_fields(r, counts, err);
  if (st == NND_OK)
    st = alloc_array(g, &r, at, counts[GRAPH_NODE], sizeof *gr->nodes, (void **)&gr->nodes, err);
  if (st == NND_OK)
    st = alloc_array(g, &r, at, counts[GRAPH_INITIALIZER], sizeof *gr->initializers,
                     (void **)&gr->initializers, err);
  if (st == NND_OK)
    st = alloc_array(g, &r, at, counts[GRAPH_INPUT], sizeof *gr->inputs, (void **)&gr->inputs, err);
  if (st == NND_OK)
    st = alloc_array(g, &r, at, counts[GRAPH_OUTPUT], sizeof *gr->outputs, (void **)&gr->outputs,
                     err);
  if (st == NND_OK)
    st = alloc_array(g, &r, at, counts[GRAPH_VALUE_INFO], sizeof *gr->value_info,
                     (void **)&gr->value_info, err);
  if (st != NND_OK) return st;
  while (nnd_pb_more(&r)) {
    nnd_pb_field f;
    st = nnd_pb_next(&r, &f, err);
    if (st != NND_OK) return st;
    switch (f.number) {
    case GRAPH_NODE:
      st = nnd_pb_expect(&r, &f, NND_PB_LEN, "GraphProto.node", err);
      if (st == NND_OK) st = decode_node(g, &r, f.span, &gr->nodes[gr->n_nodes++], err);
      break;
    case GRAPH_NAME: st = dup_string(g, &r, &f, "GraphProto.name", &gr->name, err); break;
    case GRAPH_INITIALIZER:
      st = nnd_pb_expect(&r, &f, NND_PB_LEN, "GraphProto.initializer", err);
      if (st == NND_OK)
        st = decode_tensor(g, &r, f.span, &gr->initializers[gr->n_initializers++], err);
      break;
    case GRAPH_INPUT:
      st = nnd_pb_expect(&r, &f, NND_PB_LEN, "GraphProto.input", err);
      if (st == NND_OK) st = decode_value_info(g, &r, f.span, &gr->inputs[gr->n_inputs++], err);
      break;
    case GRAPH_OUTPUT:
      st = nnd_pb_expect(&r, &f, NND_PB_LEN, "GraphProto.output", err);
      if (st == NND_OK) st = decode_value_info(g, &r, f.span, &gr->outputs[gr->n_outputs++], err);
      break;
    case GRAPH_VALUE_INFO:
      st = nnd_pb_expect(&r, &f, NND_PB_LEN, "GraphProto.value_info", err);
      if (st == NND_OK)
        st = decode_value_info(g, &r, f.span, &gr->value_info[gr->n_value_info++], err);
      break;
    case GRAPH_SPARSE_INITIALIZER: gr->n_sparse_initializers++; break;
    default: break;
    }
    if (st != NND_OK) return st;
  }
  return NND_OK;
}

/* -------------------------------------------------------------- model */

static nnd_status decode_opset(nnd_graph *g, const nnd_pb_reader *parent, nnd_pb_span span,
                               nnd_opset *op, nnd_error *err) {
  nnd_pb_reader r = nnd_pb_reader_sub(parent, span);
  op->domain = "";
  op->version = 0;
  while (nnd_pb_more(&r)) {
    nnd_pb_field f;
    nnd_status st = nnd_pb_next(&r, &f, err);
    if (st == NND_OK && f.number == OPSET_DOMAIN)
      st = dup_string(g, &r, &f, "OperatorSetIdProto.domain", &op->domain, err);
    else if (st == NND_OK && f.number == OPSET_VERSION)
      st = get_varint(&r, &f, "OperatorSetIdProto.version", &op->version, err);
    if (st != NND_OK) return st;
  }
  return NND_OK;
}

nnd_status nnd__onnx_decode_model(nnd_graph *g, const uint8_t *data, size_t size, const char *label,
                                  nnd__onnx_model *model, nnd_error *err) {
  nnd_pb_reader r;
  nnd_pb_reader_init(&r, data, size, label);
  memset(model, 0, sizeof *model);
  model->producer_name = "";
  model->producer_version = "";
  model->domain = "";
  size_t counts[MAX_COUNTED];
  nnd_status st = count_fields(r, counts, err);
  if (st != NND_OK) return st;
  if (counts[MODEL_GRAPH] > 1)
    return nnd_pb_fail(&r, 0, NND_ERR_FORMAT, err, "ModelProto holds %zu graphs, expected one",
                       counts[MODEL_GRAPH]);
  st = alloc_array(g, &r, 0, counts[MODEL_OPSET_IMPORT], sizeof *model->opsets,
                   (void **)&model->opsets, err);
  if (st != NND_OK) return st;
  while (nnd_pb_more(&r)) {
    nnd_pb_field f;
    st = nnd_pb_next(&r, &f, err);
    if (st != NND_OK) return st;
    switch (f.number) {
    case MODEL_IR_VERSION:
      st = get_varint(&r, &f, "ModelProto.ir_version", &model->ir_version, err);
      break;
    case MODEL_PRODUCER_NAME:
      st = dup_string(g, &r, &f, "ModelProto.producer_name", &model->producer_name, err);
      break;
    case MODEL_PRODUCER_VERSION:
      st = dup_string(g, &r, &f, "ModelProto.producer_version", &model->producer_version, err);
      break;
    case MODEL_DOMAIN: st = dup_string(g, &r, &f, "ModelProto.domain", &model->domain, err); break;
    case MODEL_MODEL_VERSION:
      st = get_varint(&r, &f, "ModelProto.model_version", &model->model_version, err);
      break;
    case MODEL_GRAPH:
      st = nnd_pb_expect(&r, &f, NND_PB_LEN, "ModelProto.graph", err);
      if (st == NND_OK) st = decode_graph(g, &r, f.span, &model->graph, err);
      model->has_graph = true;
      break;
    case MODEL_OPSET_IMPORT:
      st = nnd_pb_expect(&r, &f, NND_PB_LEN, "ModelProto.opset_import", err);
      if (st == NND_OK) st = decode_opset(g, &r, f.span, &model->opsets[model->n_opsets++], err);
      break;
    case MODEL_FUNCTIONS: model->n_functions++; break;
    default: break;
    }
    if (st != NND_OK) return st;
  }
  return NND_OK;
}
