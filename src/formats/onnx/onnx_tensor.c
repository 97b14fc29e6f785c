/* TensorProto -> constant value: dtype, shape and data.
 *
 * raw_data and a single packed float_data/double_data record already hold
 * the dense little-endian array, so the value points into the mapped file
 * (zero copy; possibly unaligned, which nnd_value documents). The varint
 * encodings (int32_data, int64_data, uint64_data) and unpacked records are
 * decoded into an arena buffer. Sizes come from the file, so every product
 * is overflow-checked and every byte count must match exactly. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "formats/onnx/onnx_fields.h"
#include "formats/onnx/onnx_internal.h"
#include "util/checked_math.h"

static const char *const unsupported_names[] = {
    [NND__ONNX_COMPLEX64] = "COMPLEX64",
    [NND__ONNX_COMPLEX128] = "COMPLEX128",
    [17] = "FLOAT8E4M3FN",
    [18] = "FLOAT8E4M3FNUZ",
    [19] = "FLOAT8E5M2",
    [20] = "FLOAT8E5M2FNUZ",
    [21] = "UINT4",
    [22] = "INT4",
    [23] = "FLOAT4E2M1",
    [24] = "FLOAT8E8M0",
    [25] = "UINT2",
    [26] = "INT2",
    [27] = "FLOAT6E2M3",
    [28] = "FLOAT6E3M2",
};

static const nnd_dtype dtype_map[] = {
    [NND__ONNX_FLOAT] = NND_DTYPE_F32,  [NND__ONNX_UINT8] = NND_DTYPE_U8,
    [NND__ONNX_INT8] = NND_DTYPE_I8,    [NND__ONNX_UINT16] = NND_DTYPE_U16,
    [NND__ONNX_INT16] = NND_DTYPE_I16,  [NND__ONNX_INT32] = NND_DTYPE_I32,
    [NND__ONNX_INT64] = NND_DTYPE_I64,  [NND__ONNX_STRING] = NND_DTYPE_STRING,
    [NND__ONNX_BOOL] = NND_DTYPE_BOOL,  [NND__ONNX_FLOAT16] = NND_DTYPE_F16,
    [NND__ONNX_DOUBLE] = NND_DTYPE_F64, [NND__ONNX_UINT32] = NND_DTYPE_U32,
    [NND__ONNX_UINT64] = NND_DTYPE_U64, [NND__ONNX_BFLOAT16] = NND_DTYPE_BF16,
};

nnd_status nnd__onnx_dtype(int32_t data_type, const nnd__onnx_source *src, const char *what,
                           nnd_dtype *out, nnd_error *err) {
  if (data_type > 0 && (size_t)data_type < sizeof dtype_map / sizeof dtype_map[0] &&
      dtype_map[data_type] != NND_DTYPE_UNDEFINED) {
    *out = dtype_map[data_type];
    return NND_OK;
  }
  if (data_type > 0 && data_type <= NND__ONNX_LAST_KNOWN_DTYPE &&
      (size_t)data_type < sizeof unsupported_names / sizeof unsupported_names[0] &&
      unsupported_names[data_type])
    return nnd_error_set(err, NND_ERR_UNSUPPORTED,
                         "%s: %s has element type %s, which nndiff "
                         "does not support",
                         src->label, what, unsupported_names[data_type]);
  if (data_type == NND__ONNX_UNDEFINED)
    return nnd_error_set(err, NND_ERR_FORMAT, "%s: %s has no element type (UNDEFINED)", src->label,
                         what);
  return nnd_error_set(err, NND_ERR_FORMAT, "%s: %s has unknown element type %d", src->label, what,
                       (int)data_type);
}

/* Writes v as a little-endian integer of `size` bytes. */
static void put_le(uint8_t *dst, size_t size, uint64_t v) {
  for (size_t b = 0; b < size; b++)
    dst[b] = (uint8_t)(v >> (8 * b));
}

/* Decodes a repeated typed-data field into the dense little-endian array
 * `dst` of count elements of elem_size bytes each. */
static nnd_status decode_typed(const nnd_pb_reader *file, const nnd__onnx_tensor *t,
                               const nnd__onnx_source *src, uint32_t field, nnd_pb_scalar kind,
                               size_t count, size_t elem_size, uint8_t *dst, nnd_error *err) {
  size_t wire_size = kind == NND_PB_SCALAR_FIXED32 ? 4 : 8;
  size_t tmp_bytes;
  if (!nnd__mul_size(count, wire_size, &tmp_bytes))
    return nnd_error_set(err, NND_ERR_FORMAT, "%s: tensor '%s' is too large", src->label, t->name);
  void *tmp = malloc(tmp_bytes ? tmp_bytes : 1);
  if (!tmp)
    return nnd_error_set(err, NND_ERR_NOMEM, "%s: out of memory decoding tensor '%s'", src->label,
                         t->name);
  nnd_pb_reader msg = nnd_pb_reader_sub(file, t->msg);
  nnd_status st = nnd_pb_repeated_read(msg, field, kind, tmp, count, err);
  if (st == NND_OK) {
    for (size_t i = 0; i < count; i++) {
      uint64_t v;
      if (wire_size == 4) {
        uint32_t u;
        memcpy(&u, (uint8_t *)tmp + 4 * i, 4);
        v = u;
      } else {
        memcpy(&v, (uint8_t *)tmp + 8 * i, 8);
      }
      put_le(dst + i * elem_size, elem_size, v);
    }
  }
  free(tmp);
  return st;
}

static const char *field_name(uint32_t field) {
  switch (field) {
  case TENSOR_FLOAT_DATA: return "float_data";
  case TENSOR_INT32_DATA: return "int32_data";
  case TENSOR_INT64_DATA: return "int64_data";
  case TENSOR_DOUBLE_DATA: return "double_data";
  case TENSOR_UINT64_DATA: return "uint64_data";
  }
  return "data";
}

nnd_status nnd__onnx_tensor_to_value(nnd_graph *g, const nnd__onnx_source *src,
                                     const nnd_pb_reader *file, const nnd__onnx_tensor *t,
                                     nnd_value *v, nnd_error *err) {
  static const uint8_t empty[1];
  char what[300];
  snprintf(what, sizeof what, "tensor '%s'", t->name);
  nnd_dtype dtype;
  nnd_status st = nnd__onnx_dtype(t->data_type, src, what, &dtype, err);
  if (st != NND_OK) return st;
  if (t->has_segment)
    return nnd_error_set(err, NND_ERR_UNSUPPORTED,
                         "%s: tensor '%s' is segmented (TensorProto.segment), which nndiff "
                         "does not support",
                         src->label, t->name);
  if (t->n_dims > NND_MAX_RANK)
    return nnd_error_set(err, NND_ERR_UNSUPPORTED,
                         "%s: tensor '%s' has %d dims, nndiff handles up to %d", src->label,
                         t->name, t->n_dims, NND_MAX_RANK);
  int64_t numel = 1;
  for (int i = 0; i < t->n_dims; i++) {
    if (t->dims[i] < 0)
      return nnd_error_set(err, NND_ERR_FORMAT, "%s: tensor '%s' has negative dim %lld at index %d",
                           src->label, t->name, (long long)t->dims[i], i);
    if (!nnd__mul_i64(numel, t->dims[i], &numel))
      return nnd_error_set(err, NND_ERR_FORMAT, "%s: tensor '%s': element count overflows",
                           src->label, t->name);
  }
  v->dtype = dtype;
  v->shape.rank = t->n_dims;
  for (int i = 0; i < t->n_dims; i++) {
    v->shape.dims[i].size = t->dims[i];
    v->shape.dims[i].symbol = NULL;
  }
  v->data = NULL;
  v->nbytes = 0;

  if (t->data_location != 0 && t->data_location != 1)
    return nnd_error_set(err, NND_ERR_FORMAT, "%s: tensor '%s' has unknown data_location %d",
                         src->label, t->name, (int)t->data_location);

  if (dtype == NND_DTYPE_STRING) {
    /* Strings are kept as a typed placeholder: no op nndiff runs reads them. */
    if (t->data_location == 1 || t->has_raw)
      return nnd_error_set(err, NND_ERR_FORMAT, "%s: string tensor '%s' must use string_data",
                           src->label, t->name);
    if (t->n_strings != numel)
      return nnd_error_set(err, NND_ERR_FORMAT, "%s: tensor '%s' has %lld strings, dims say %lld",
                           src->label, t->name, (long long)t->n_strings, (long long)numel);
    return NND_OK;
  }

  size_t elem = nnd_dtype_size(dtype);
  size_t nbytes;
  if ((uint64_t)numel > SIZE_MAX || !nnd__mul_size((size_t)numel, elem, &nbytes))
    return nnd_error_set(err, NND_ERR_FORMAT, "%s: tensor '%s': byte size overflows", src->label,
                         t->name);

  if (t->data_location == 1) {
    if (t->has_raw)
      return nnd_error_set(err, NND_ERR_FORMAT,
                           "%s: tensor '%s' has both raw_data and external data", src->label,
                           t->name);
    st = nnd__onnx_external_data(g, src, t, nbytes, &v->data, err);
    if (st != NND_OK) return st;
    v->nbytes = nbytes;
    if (!v->data) v->data = empty;
    return NND_OK;
  }

  if (t->has_raw) {
    if (t->raw.size != nbytes)
      return nnd_error_set(err, NND_ERR_FORMAT,
                           "%s: tensor '%s': raw_data has %zu bytes, but %lld %s elements need "
                           "%zu",
                           src->label, t->name, t->raw.size, (long long)numel,
                           nnd_dtype_name(dtype), nbytes);
    v->data = nbytes ? (const void *)t->raw.data : (const void *)empty;
    if (nbytes) v->data_offset = (int64_t)nnd_pb_offset_of(file, t->raw.data);
    v->nbytes = nbytes;
    return NND_OK;
  }

  uint32_t field;
  nnd_pb_scalar kind = NND_PB_SCALAR_VARINT;
  switch (dtype) {
  case NND_DTYPE_F32:
    field = TENSOR_FLOAT_DATA;
    kind = NND_PB_SCALAR_FIXED32;
    break;
  case NND_DTYPE_F64:
    field = TENSOR_DOUBLE_DATA;
    kind = NND_PB_SCALAR_FIXED64;
    break;
  case NND_DTYPE_I64: field = TENSOR_INT64_DATA; break;
  case NND_DTYPE_U32:
  case NND_DTYPE_U64: field = TENSOR_UINT64_DATA; break;
  default: /* int32, the narrower ints, bool, float16, bfloat16 */ field = TENSOR_INT32_DATA; break;
  }
  nnd_pb_repeated rep;
  st = nnd_pb_repeated_scan(nnd_pb_reader_sub(file, t->msg), field, kind, &rep, err);
  if (st != NND_OK) return st;
  if (rep.count != (uint64_t)numel) {
    if (rep.count == 0)
      return nnd_error_set(err, NND_ERR_FORMAT,
                           "%s: tensor '%s' has %lld elements but no data (no raw_data, %s or "
                           "external data)",
                           src->label, t->name, (long long)numel, field_name(field));
    return nnd_error_set(err, NND_ERR_FORMAT, "%s: tensor '%s': %s has %zu values, dims say %lld",
                         src->label, t->name, field_name(field), rep.count, (long long)numel);
  }
  v->nbytes = nbytes;
  if (nbytes == 0) {
    v->data = empty;
    return NND_OK;
  }
  if (rep.packed_single && kind != NND_PB_SCALAR_VARINT) {
    v->data = rep.span.data; /* already dense little-endian float/double */
    return NND_OK;
  }
  uint8_t *buf = nnd_graph_alloc(g, nbytes, 1);
  if (!buf)
    return nnd_error_set(err, NND_ERR_NOMEM, "%s: out of memory decoding tensor '%s'", src->label,
                         t->name);
  st = decode_typed(file, t, src, field, kind, rep.count, elem, buf, err);
  if (st != NND_OK) return st;
  v->data = buf;
  return NND_OK;
}
