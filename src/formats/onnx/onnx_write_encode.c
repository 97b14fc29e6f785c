/* Re-encoding the ONNX messages an edit touches, from their original bytes:
 * every field the edit does not name is copied as it is, in its place, so
 * a re-encoded NodeProto differs from the original only where it must.
 * Field numbers come from onnx.proto. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "formats/onnx/onnx_fields.h"
#include "formats/onnx/onnx_write_internal.h"

/* The bytes of the field just read (tag to end of value). */
static void copy_field(nnd_pb_buf *out, const nnd_pb_reader *r, const nnd_pb_field *f) {
  const uint8_t *start = r->base + f->offset;
  nnd_pb_put_bytes(out, start, (size_t)(r->pos - start));
}

static bool span_is(nnd_pb_span s, const char *name) {
  size_t n = strlen(name);
  return s.size == n && memcmp(s.data, name, n) == 0;
}

nnd_pb_span nnd__ow_msg_string(const nnd_pb_reader *file, nnd_pb_span msg, uint32_t field) {
  nnd_pb_reader r = nnd_pb_reader_sub(file, msg);
  nnd_pb_span found = {NULL, 0};
  nnd_error ignore = {0};
  while (nnd_pb_more(&r)) {
    nnd_pb_field f;
    if (nnd_pb_next(&r, &f, &ignore) != NND_OK) break;
    if (f.number == field && f.wire == NND_PB_LEN) found = f.span;
  }
  return found;
}

static nnd_status out_of_memory(nnd_error *err) {
  return nnd_error_set(err, NND_ERR_NOMEM, "out of memory re-encoding the model");
}

/* --------------------------------------------------------------- nodes */

nnd_status nnd__ow_encode_node(const nnd_pb_reader *file, nnd_pb_span msg,
                               const nnd__ow_node_edit *e, nnd_pb_buf *out, nnd_error *err) {
  nnd_pb_reader r = nnd_pb_reader_sub(file, msg);
  bool inputs_done = false, outputs_done = false, domain_done = false;
  bool *used = NULL;
  if (e->n_attrs) {
    used = calloc((size_t)e->n_attrs, sizeof *used);
    if (!used) return out_of_memory(err);
  }
  nnd_status st = NND_OK;
  while (nnd_pb_more(&r)) {
    nnd_pb_field f;
    if ((st = nnd_pb_next(&r, &f, err)) != NND_OK) break;
    switch (f.number) {
    case NODE_INPUT:
      if (!e->inputs)
        copy_field(out, &r, &f);
      else if (!inputs_done)
        for (int k = 0; k < e->n_inputs; k++)
          nnd_pb_put_string(out, NODE_INPUT, e->inputs[k]);
      inputs_done = true;
      break;
    case NODE_OUTPUT:
      if (!e->outputs)
        copy_field(out, &r, &f);
      else if (!outputs_done)
        for (int k = 0; k < e->n_outputs; k++)
          nnd_pb_put_string(out, NODE_OUTPUT, e->outputs[k]);
      outputs_done = true;
      break;
    case NODE_OP_TYPE:
      if (e->op_type)
        nnd_pb_put_string(out, NODE_OP_TYPE, e->op_type);
      else
        copy_field(out, &r, &f);
      break;
    case NODE_DOMAIN:
      if (!e->domain)
        copy_field(out, &r, &f);
      else if (e->domain[0] && !domain_done)
        nnd_pb_put_string(out, NODE_DOMAIN, e->domain);
      domain_done = true;
      break;
    case NODE_ATTRIBUTE: {
      int hit = -1;
      if (f.wire == NND_PB_LEN) {
        nnd_pb_span name = nnd__ow_msg_string(file, f.span, ATTR_NAME);
        for (int k = 0; k < e->n_attrs && hit < 0; k++)
          if (span_is(name, e->attrs[k].name)) hit = k;
      }
      if (hit < 0) {
        copy_field(out, &r, &f);
      } else if (!used[hit]) {
        used[hit] = true;
        if (!e->attrs[hit].drop)
          nnd_pb_put_len(out, NODE_ATTRIBUTE, e->attrs[hit].bytes.data, e->attrs[hit].bytes.size);
      }
      break;
    }
    default: copy_field(out, &r, &f); break;
    }
  }
  if (st == NND_OK) {
    /* inputs a node gains where it had none, a domain it had not, and new
     * attributes go at the end: field order does not matter to a parser */
    if (e->inputs && !inputs_done)
      for (int k = 0; k < e->n_inputs; k++)
        nnd_pb_put_string(out, NODE_INPUT, e->inputs[k]);
    if (e->domain && e->domain[0] && !domain_done) nnd_pb_put_string(out, NODE_DOMAIN, e->domain);
    for (int k = 0; k < e->n_attrs; k++)
      if (!used[k] && !e->attrs[k].drop)
        nnd_pb_put_len(out, NODE_ATTRIBUTE, e->attrs[k].bytes.data, e->attrs[k].bytes.size);
    if (out->failed) st = out_of_memory(err);
  }
  free(used);
  return st;
}

void nnd__ow_encode_simple_node(nnd_pb_buf *out, const char *op_type, const char *name,
                                const char *input, const char *output) {
  nnd_pb_put_string(out, NODE_INPUT, input);
  nnd_pb_put_string(out, NODE_OUTPUT, output);
  nnd_pb_put_string(out, NODE_NAME, name);
  nnd_pb_put_string(out, NODE_OP_TYPE, op_type);
}

/* ---------------------------------------------------------- attributes */

void nnd__ow_attr_int(nnd_pb_buf *out, const char *name, int64_t v) {
  nnd_pb_put_string(out, ATTR_NAME, name);
  nnd_pb_put_varint_field(out, ATTR_I, (uint64_t)v);
  nnd_pb_put_varint_field(out, ATTR_TYPE, NND__ONNX_ATTR_INT);
}

void nnd__ow_attr_float(nnd_pb_buf *out, const char *name, float v) {
  nnd_pb_put_string(out, ATTR_NAME, name);
  nnd_pb_put_float_field(out, ATTR_F, v);
  nnd_pb_put_varint_field(out, ATTR_TYPE, NND__ONNX_ATTR_FLOAT);
}

void nnd__ow_attr_string(nnd_pb_buf *out, const char *name, const char *s) {
  nnd_pb_put_string(out, ATTR_NAME, name);
  nnd_pb_put_string(out, ATTR_S, s);
  nnd_pb_put_varint_field(out, ATTR_TYPE, NND__ONNX_ATTR_STRING);
}

void nnd__ow_attr_ints(nnd_pb_buf *out, const char *name, const int64_t *v, int n) {
  nnd_pb_put_string(out, ATTR_NAME, name);
  /* unpacked, as onnx.helper writes them */
  for (int i = 0; i < n; i++)
    nnd_pb_put_varint_field(out, ATTR_INTS, (uint64_t)v[i]);
  nnd_pb_put_varint_field(out, ATTR_TYPE, NND__ONNX_ATTR_INTS);
}

void nnd__ow_attr_floats(nnd_pb_buf *out, const char *name, const float *v, int n) {
  nnd_pb_put_string(out, ATTR_NAME, name);
  for (int i = 0; i < n; i++)
    nnd_pb_put_float_field(out, ATTR_FLOATS, v[i]);
  nnd_pb_put_varint_field(out, ATTR_TYPE, NND__ONNX_ATTR_FLOATS);
}

nnd_status nnd__ow_attr_with_tensor(const nnd_pb_reader *file, nnd_pb_span attr,
                                    const nnd_pb_buf *tensor, nnd_pb_buf *out, nnd_error *err) {
  nnd_pb_reader r = nnd_pb_reader_sub(file, attr);
  bool done = false;
  while (nnd_pb_more(&r)) {
    nnd_pb_field f;
    nnd_status st = nnd_pb_next(&r, &f, err);
    if (st != NND_OK) return st;
    if (f.number != ATTR_T) {
      copy_field(out, &r, &f);
    } else if (!done) {
      nnd_pb_put_len(out, ATTR_T, tensor->data, tensor->size);
      done = true;
    }
  }
  return out->failed ? out_of_memory(err) : NND_OK;
}

/* ------------------------------------------------------------- tensors */

static bool is_data_field(uint32_t n) {
  return n == TENSOR_FLOAT_DATA || n == TENSOR_INT32_DATA || n == TENSOR_STRING_DATA ||
         n == TENSOR_INT64_DATA || n == TENSOR_RAW_DATA || n == TENSOR_DOUBLE_DATA ||
         n == TENSOR_UINT64_DATA;
}

static void put_kv(nnd_pb_buf *out, const char *key, const char *value) {
  nnd_pb_buf kv = {0};
  nnd_pb_put_string(&kv, KV_KEY, key);
  nnd_pb_put_string(&kv, KV_VALUE, value);
  if (kv.failed)
    out->failed = true;
  else
    nnd_pb_put_len(out, TENSOR_EXTERNAL_DATA, kv.data, kv.size);
  nnd_pb_buf_free(&kv);
}

static void put_external(nnd_pb_buf *out, const nnd__ow_tensor_edit *e) {
  char num[32];
  put_kv(out, "location", e->location);
  snprintf(num, sizeof num, "%llu", (unsigned long long)e->offset);
  put_kv(out, "offset", num);
  snprintf(num, sizeof num, "%llu", (unsigned long long)e->nbytes);
  put_kv(out, "length", num);
}

nnd_status nnd__ow_encode_tensor(const nnd_pb_reader *file, nnd_pb_span msg,
                                 const nnd__ow_tensor_edit *e, nnd_pb_buf *out, nnd_error *err) {
  nnd_pb_reader r = nnd_pb_reader_sub(file, msg);
  bool dims_done = false, data_done = false;
  bool external = e->location != NULL;
  while (nnd_pb_more(&r)) {
    nnd_pb_field f;
    nnd_status st = nnd_pb_next(&r, &f, err);
    if (st != NND_OK) return st;
    if (f.number == TENSOR_DIMS) {
      if (!e->dims)
        copy_field(out, &r, &f);
      else if (!dims_done)
        nnd_pb_put_packed_int64(out, TENSOR_DIMS, e->dims, (size_t)e->n_dims);
      dims_done = true;
    } else if (is_data_field(f.number) || f.number == TENSOR_EXTERNAL_DATA) {
      if (!data_done) {
        if (external)
          put_external(out, e);
        else
          nnd_pb_put_len(out, TENSOR_RAW_DATA, e->raw, e->nbytes);
      }
      data_done = true;
    } else if (f.number == TENSOR_DATA_LOCATION) {
      if (external) copy_field(out, &r, &f); /* inline data has the default location */
    } else {
      copy_field(out, &r, &f);
    }
  }
  if (e->dims && !dims_done) nnd_pb_put_packed_int64(out, TENSOR_DIMS, e->dims, (size_t)e->n_dims);
  if (!data_done) {
    if (external)
      put_external(out, e);
    else
      nnd_pb_put_len(out, TENSOR_RAW_DATA, e->raw, e->nbytes);
  }
  return out->failed ? out_of_memory(err) : NND_OK;
}

static void put_dims(nnd_pb_buf *out, const nnd_shape *shape) {
  int64_t dims[NND_MAX_RANK];
  for (int i = 0; i < shape->rank; i++)
    dims[i] = shape->dims[i].size;
  nnd_pb_put_packed_int64(out, TENSOR_DIMS, dims, (size_t)(shape->rank > 0 ? shape->rank : 0));
}

void nnd__ow_encode_new_tensor(nnd_pb_buf *out, const char *name, int32_t data_type,
                               const nnd_shape *shape, const void *raw, size_t nbytes) {
  put_dims(out, shape);
  nnd_pb_put_varint_field(out, TENSOR_DATA_TYPE, (uint64_t)data_type);
  nnd_pb_put_string(out, TENSOR_NAME, name);
  nnd_pb_put_len(out, TENSOR_RAW_DATA, raw, nbytes);
}

void nnd__ow_encode_value_info(nnd_pb_buf *out, const char *name, int32_t elem_type,
                               const nnd_shape *shape) {
  nnd_pb_buf shp = {0}, tt = {0}, tp = {0};
  for (int i = 0; i < shape->rank; i++) {
    nnd_pb_buf dim = {0};
    nnd_pb_put_varint_field(&dim, DIM_VALUE, (uint64_t)shape->dims[i].size);
    nnd_pb_put_len(&shp, SHAPE_DIM, dim.data, dim.size);
    if (dim.failed) shp.failed = true;
    nnd_pb_buf_free(&dim);
  }
  nnd_pb_put_varint_field(&tt, TTYPE_ELEM_TYPE, (uint64_t)elem_type);
  nnd_pb_put_len(&tt, TTYPE_SHAPE, shp.data, shp.size);
  nnd_pb_put_len(&tp, TYPE_TENSOR_TYPE, tt.data, tt.size);
  nnd_pb_put_string(out, VI_NAME, name);
  nnd_pb_put_len(out, VI_TYPE, tp.data, tp.size);
  if (shp.failed || tt.failed || tp.failed) out->failed = true;
  nnd_pb_buf_free(&shp);
  nnd_pb_buf_free(&tt);
  nnd_pb_buf_free(&tp);
}

/* ---------------------------------------------------------------- dtypes */

int32_t nnd__ow_onnx_dtype(nnd_dtype d) {
  switch (d) {
  case NND_DTYPE_F32: return NND__ONNX_FLOAT;
  case NND_DTYPE_F64: return NND__ONNX_DOUBLE;
  case NND_DTYPE_F16: return NND__ONNX_FLOAT16;
  case NND_DTYPE_BF16: return NND__ONNX_BFLOAT16;
  case NND_DTYPE_I8: return NND__ONNX_INT8;
  case NND_DTYPE_U8: return NND__ONNX_UINT8;
  case NND_DTYPE_I16: return NND__ONNX_INT16;
  case NND_DTYPE_U16: return NND__ONNX_UINT16;
  case NND_DTYPE_I32: return NND__ONNX_INT32;
  case NND_DTYPE_U32: return NND__ONNX_UINT32;
  case NND_DTYPE_I64: return NND__ONNX_INT64;
  case NND_DTYPE_U64: return NND__ONNX_UINT64;
  case NND_DTYPE_BOOL: return NND__ONNX_BOOL;
  case NND_DTYPE_STRING: return NND__ONNX_STRING;
  default: return NND__ONNX_UNDEFINED;
  }
}

static bool is_float(nnd_dtype d) {
  return d == NND_DTYPE_F32 || d == NND_DTYPE_F64 || d == NND_DTYPE_F16 || d == NND_DTYPE_BF16;
}

static bool is_int(nnd_dtype d) {
  switch (d) {
  case NND_DTYPE_I8:
  case NND_DTYPE_U8:
  case NND_DTYPE_I16:
  case NND_DTYPE_U16:
  case NND_DTYPE_I32:
  case NND_DTYPE_U32:
  case NND_DTYPE_I64:
  case NND_DTYPE_U64:
  case NND_DTYPE_BOOL: return true;
  default: return false;
  }
}

static double read_float(nnd_dtype d, const uint8_t *p) {
  switch (d) {
  case NND_DTYPE_F64: {
    double v;
    memcpy(&v, p, 8);
    return v;
  }
  case NND_DTYPE_F32: {
    float v;
    memcpy(&v, p, 4);
    return v;
  }
  case NND_DTYPE_F16: return nnd_f16_to_f64((uint16_t)(p[0] | p[1] << 8));
  default: { /* bfloat16: the top half of a float32 */
    uint32_t u = (uint32_t)(p[0] | p[1] << 8) << 16;
    float v;
    memcpy(&v, &u, 4);
    return v;
  }
  }
}

/* float32 bits rounded to bfloat16, to nearest even (NaN stays NaN). */
static uint16_t f32_to_bf16(float f) {
  uint32_t u;
  memcpy(&u, &f, 4);
  if (isnan(f)) return (uint16_t)((u >> 16) | 0x40);
  u += 0x7fff + ((u >> 16) & 1);
  return (uint16_t)(u >> 16);
}

static void write_float(nnd_dtype d, uint8_t *p, double v) {
  switch (d) {
  case NND_DTYPE_F64: memcpy(p, &v, 8); break;
  case NND_DTYPE_F32: {
    float f = (float)v;
    memcpy(p, &f, 4);
    break;
  }
  case NND_DTYPE_F16: {
    /* double -> float32 -> half can round twice; weights copied from a
     * double-precision fold are rounded once more in float32 anyway */
    uint16_t h = nnd_f32_to_f16((float)v);
    p[0] = (uint8_t)h, p[1] = (uint8_t)(h >> 8);
    break;
  }
  default: {
    uint16_t h = f32_to_bf16((float)v);
    p[0] = (uint8_t)h, p[1] = (uint8_t)(h >> 8);
    break;
  }
  }
}

static bool read_int(nnd_dtype d, const uint8_t *p, int64_t *out) {
  uint64_t u = 0;
  size_t n = nnd_dtype_size(d);
  for (size_t b = 0; b < n; b++)
    u |= (uint64_t)p[b] << (8 * b);
  switch (d) {
  case NND_DTYPE_I8: *out = (int8_t)u; break;
  case NND_DTYPE_I16: *out = (int16_t)u; break;
  case NND_DTYPE_I32: *out = (int32_t)u; break;
  case NND_DTYPE_I64: *out = (int64_t)u; break;
  case NND_DTYPE_U64:
    if (u > INT64_MAX) return false;
    *out = (int64_t)u;
    break;
  default: *out = (int64_t)u; break; /* u8, u16, u32, bool */
  }
  return true;
}

static bool int_fits(nnd_dtype d, int64_t v) {
  switch (d) {
  case NND_DTYPE_I8: return v >= INT8_MIN && v <= INT8_MAX;
  case NND_DTYPE_U8: return v >= 0 && v <= UINT8_MAX;
  case NND_DTYPE_I16: return v >= INT16_MIN && v <= INT16_MAX;
  case NND_DTYPE_U16: return v >= 0 && v <= UINT16_MAX;
  case NND_DTYPE_I32: return v >= INT32_MIN && v <= INT32_MAX;
  case NND_DTYPE_U32: return v >= 0 && v <= (int64_t)UINT32_MAX;
  case NND_DTYPE_BOOL: return v == 0 || v == 1;
  case NND_DTYPE_U64: return v >= 0;
  default: return true;
  }
}

bool nnd__ow_convert(nnd_dtype from, const void *src, int64_t count, nnd_dtype to, void **out,
                     size_t *nbytes_out, const char **why) {
  *out = NULL;
  size_t in_size = nnd_dtype_size(from), out_size = nnd_dtype_size(to);
  bool floats = is_float(from) && is_float(to), ints = is_int(from) && is_int(to);
  if (!in_size || !out_size || (!floats && !ints)) {
    *why = "the new data's type does not convert to the tensor's";
    return false;
  }
  if (count < 0 || (uint64_t)count > SIZE_MAX / out_size) {
    *why = "the new data is too large";
    return false;
  }
  size_t nbytes = (size_t)count * out_size;
  uint8_t *dst = malloc(nbytes ? nbytes : 1);
  if (!dst) {
    *why = "out of memory converting the new data";
    return false;
  }
  const uint8_t *p = src;
  for (int64_t i = 0; i < count; i++) {
    const uint8_t *s = p + (size_t)i * in_size;
    uint8_t *d = dst + (size_t)i * out_size;
    if (from == to) {
      memcpy(d, s, in_size);
    } else if (floats) {
      write_float(to, d, read_float(from, s));
    } else {
      int64_t v;
      if (!read_int(from, s, &v) || !int_fits(to, v)) {
        free(dst);
        *why = "a new integer value does not fit the tensor's type";
        return false;
      }
      for (size_t b = 0; b < out_size; b++)
        d[b] = (uint8_t)((uint64_t)v >> (8 * b));
    }
  }
  *out = dst;
  *nbytes_out = nbytes;
  return true;
}
