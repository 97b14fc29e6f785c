/* Names and sizes of the IR's enums, attribute defaults, shape helpers and
 * typed reads of (possibly unaligned) constant data. */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "nndiff/ir.h"
#include "util/checked_math.h"

static const struct {
  const char *name;
  size_t size;
} dtype_info[NND_DTYPE_COUNT] = {
    [NND_DTYPE_UNDEFINED] = {"undefined", 0}, [NND_DTYPE_F32] = {"float32", 4},
    [NND_DTYPE_F64] = {"float64", 8},         [NND_DTYPE_F16] = {"float16", 2},
    [NND_DTYPE_BF16] = {"bfloat16", 2},       [NND_DTYPE_I8] = {"int8", 1},
    [NND_DTYPE_U8] = {"uint8", 1},            [NND_DTYPE_I16] = {"int16", 2},
    [NND_DTYPE_U16] = {"uint16", 2},          [NND_DTYPE_I32] = {"int32", 4},
    [NND_DTYPE_U32] = {"uint32", 4},          [NND_DTYPE_I64] = {"int64", 8},
    [NND_DTYPE_U64] = {"uint64", 8},          [NND_DTYPE_BOOL] = {"bool", 1},
    [NND_DTYPE_STRING] = {"string", 0},
};

size_t nnd_dtype_size(nnd_dtype d) {
  return (d >= 0 && d < NND_DTYPE_COUNT) ? dtype_info[d].size : 0;
}

const char *nnd_dtype_name(nnd_dtype d) {
  return (d >= 0 && d < NND_DTYPE_COUNT) ? dtype_info[d].name : "invalid";
}

const char *nnd_format_name(nnd_format f) {
  switch (f) {
  case NND_FORMAT_ONNX: return "onnx";
  case NND_FORMAT_TFLITE: return "tflite";
  case NND_FORMAT_KERAS: return "keras";
  case NND_FORMAT_TF: return "tensorflow";
  case NND_FORMAT_PYTORCH: return "pytorch";
  default: return "unknown";
  }
}

const char *nnd_act_name(nnd_act_kind k) {
  switch (k) {
  case NND_ACT_NONE: return "none";
  case NND_ACT_RELU: return "relu";
  case NND_ACT_CLIP: return "clip";
  case NND_ACT_LEAKY_RELU: return "leaky_relu";
  case NND_ACT_SIGMOID: return "sigmoid";
  case NND_ACT_HARD_SIGMOID: return "hard_sigmoid";
  case NND_ACT_HARD_SWISH: return "hard_swish";
  case NND_ACT_TANH: return "tanh";
  case NND_ACT_SILU: return "silu";
  }
  return "invalid";
}

void nnd_attrs_init(nnd_attrs *a) {
  memset(a, 0, sizeof *a);
  for (int i = 0; i < NND_MAX_SPATIAL; i++) {
    a->conv.strides[i] = a->conv.dilations[i] = 1;
    a->pool.strides[i] = a->pool.dilations[i] = 1;
  }
  a->conv.groups = 1;
  a->conv.layout = a->pool.layout = NND_LAYOUT_NCHW;
  a->alpha = 1.0f;
  a->beta = 1.0f;
  a->epsilon = 1e-5f;
  a->clip_min = -INFINITY;
  a->clip_max = INFINITY;
  a->lrn_bias = 1.0f;
  a->keepdims = true;
  a->shape_end = INT64_MAX;
  a->dropout_ratio = 0.5f;
}

bool nnd_shape_numel(const nnd_shape *s, int64_t *out) {
  if (s->rank < 0) return false;
  int64_t n = 1;
  for (int i = 0; i < s->rank; i++) {
    int64_t d = s->dims[i].size < 0 ? 1 : s->dims[i].size;
    if (!nnd__mul_i64(n, d, &n)) return false;
  }
  *out = n;
  return true;
}

bool nnd_shape_is_static(const nnd_shape *s) {
  if (s->rank < 0) return false;
  for (int i = 0; i < s->rank; i++)
    if (s->dims[i].size < 0) return false;
  return true;
}

void nnd_shape_format(const nnd_shape *s, char *buf, size_t size) {
  if (!size) return;
  buf[0] = '\0';
  if (s->rank < 0) {
    snprintf(buf, size, "?");
    return;
  }
  size_t used = 0;
  int w = snprintf(buf, size, "[");
  used = w > 0 ? (size_t)w : 0;
  for (int i = 0; i < s->rank && used < size; i++) {
    const nnd_dim *d = &s->dims[i];
    const char *sep = i ? "," : "";
    if (d->size >= 0)
      w = snprintf(buf + used, size - used, "%s%lld", sep, (long long)d->size);
    else
      w = snprintf(buf + used, size - used, "%s%s", sep, d->symbol ? d->symbol : "?");
    if (w < 0) return;
    used += (size_t)w;
  }
  if (used < size) snprintf(buf + used, size - used, "]");
}

int64_t nnd_value_data_count(const nnd_value *v) {
  size_t es = nnd_dtype_size(v->dtype);
  if (!v->data || es == 0) return 0;
  return (int64_t)(v->nbytes / es);
}

uint16_t nnd_f32_to_f16(float f) {
  uint32_t x;
  memcpy(&x, &f, 4);
  const uint32_t sign = (x >> 16) & 0x8000u, e32 = (x >> 23) & 0xffu;
  uint32_t mant = x & 0x7fffffu;
  if (e32 == 0xffu) return (uint16_t)(sign | 0x7c00u | (mant ? 0x200u : 0));
  const int32_t ex = (int32_t)e32 - 127 + 15;
  if (ex >= 31) return (uint16_t)(sign | 0x7c00u);
  if (ex <= 0) {
    if (ex < -10) return (uint16_t)sign;
    mant |= 0x800000u;
    const uint32_t shift = (uint32_t)(14 - ex);
    uint32_t h = mant >> shift, rem = mant & ((1u << shift) - 1), mid = 1u << (shift - 1);
    if (rem > mid || (rem == mid && (h & 1u))) h++;
    return (uint16_t)(sign | h);
  }
  uint32_t h = ((uint32_t)ex << 10) | (mant >> 13), rem = mant & 0x1fffu;
  if (rem > 0x1000u || (rem == 0x1000u && (h & 1u))) h++;
  return (uint16_t)(sign | h);
}

double nnd_f16_to_f64(uint16_t h) {
  int sign = h >> 15, exp = (h >> 10) & 0x1f, mant = h & 0x3ff;
  double r;
  if (exp == 0) r = ldexp(mant, -24);
  else if (exp == 31) r = mant ? NAN : INFINITY;
  else r = ldexp(mant + 1024, exp - 25);
  return sign ? -r : r;
}

bool nnd_value_read_f64(const nnd_value *v, int64_t i, double *out) {
  if (i < 0 || i >= nnd_value_data_count(v)) return false;
  const unsigned char *p = (const unsigned char *)v->data + (size_t)i * nnd_dtype_size(v->dtype);
  switch (v->dtype) {
  case NND_DTYPE_F32: { float f; memcpy(&f, p, 4); *out = f; return true; }
  case NND_DTYPE_F64: memcpy(out, p, 8); return true;
  case NND_DTYPE_F16: { uint16_t h; memcpy(&h, p, 2); *out = nnd_f16_to_f64(h); return true; }
  case NND_DTYPE_BF16: {
    uint16_t h; memcpy(&h, p, 2);
    uint32_t bits = (uint32_t)h << 16; float f; memcpy(&f, &bits, 4); *out = f; return true;
  }
  default: {
    int64_t x;
    if (!nnd_value_read_i64(v, i, &x)) return false;
    *out = (double)x;
    return true;
  }
  }
}

bool nnd_value_read_i64(const nnd_value *v, int64_t i, int64_t *out) {
  if (i < 0 || i >= nnd_value_data_count(v)) return false;
  const unsigned char *p = (const unsigned char *)v->data + (size_t)i * nnd_dtype_size(v->dtype);
  switch (v->dtype) {
  case NND_DTYPE_I8: { int8_t x; memcpy(&x, p, 1); *out = x; return true; }
  case NND_DTYPE_U8: case NND_DTYPE_BOOL: { uint8_t x; memcpy(&x, p, 1); *out = x; return true; }
  case NND_DTYPE_I16: { int16_t x; memcpy(&x, p, 2); *out = x; return true; }
  case NND_DTYPE_U16: { uint16_t x; memcpy(&x, p, 2); *out = x; return true; }
  case NND_DTYPE_I32: { int32_t x; memcpy(&x, p, 4); *out = x; return true; }
  case NND_DTYPE_U32: { uint32_t x; memcpy(&x, p, 4); *out = x; return true; }
  case NND_DTYPE_I64: memcpy(out, p, 8); return true;
  case NND_DTYPE_U64: {
    uint64_t x; memcpy(&x, p, 8);
    if (x > (uint64_t)INT64_MAX) return false;
    *out = (int64_t)x; return true;
  }
  case NND_DTYPE_F32: case NND_DTYPE_F64: case NND_DTYPE_F16: case NND_DTYPE_BF16: {
    double d;
    if (!nnd_value_read_f64(v, i, &d) || !(d >= -9.2e18 && d <= 9.2e18)) return false;
    *out = (int64_t)d;
    return true;
  }
  default: return false;
  }
}
