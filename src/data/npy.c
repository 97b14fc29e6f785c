/* .npy reading and writing (NumPy format versions 1.0, 2.0 and 3.0).
 *
 * The header is a Python dict literal; we parse the small subset NumPy
 * writes ({'descr': '<f4', 'fortran_order': False, 'shape': (3, 4), }) with
 * every length, number and product checked, because .npy files come from
 * users. Nothing is ever unpickled: object arrays are refused. */
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "data/data_internal.h"
#include "nndiff/data.h"
#include "util/atomic_file.h"
#include "util/checked_math.h"

#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "the .npy fast paths assume a little-endian host"
#endif

enum { NPY_MAGIC_LEN = 6, NPY_MAX_HEADER = 1 << 20 };
static const unsigned char npy_magic[NPY_MAGIC_LEN] = {0x93, 'N', 'U', 'M', 'P', 'Y'};

size_t nnd__npy_itemsize(nnd_npy_dtype dtype) {
  switch (dtype) {
  case NND_NPY_BOOL:
  case NND_NPY_I8:
  case NND_NPY_U8: return 1;
  case NND_NPY_I16:
  case NND_NPY_U16:
  case NND_NPY_F16: return 2;
  case NND_NPY_I32:
  case NND_NPY_U32:
  case NND_NPY_F32: return 4;
  case NND_NPY_I64:
  case NND_NPY_U64:
  case NND_NPY_F64: return 8;
  }
  return 0;
}

/* ---- header dict parser ---- */

typedef struct hdr_parser {
  const char *p, *end;
  const char *name;
  nnd_error *err;
} hdr_parser;

static void skip_ws(hdr_parser *hp) {
  while (hp->p < hp->end && (*hp->p == ' ' || *hp->p == '\t' || *hp->p == '\n' || *hp->p == '\r'))
    hp->p++;
}

static bool eat(hdr_parser *hp, char c) {
  skip_ws(hp);
  if (hp->p < hp->end && *hp->p == c) {
    hp->p++;
    return true;
  }
  return false;
}

static nnd_status hdr_fail(hdr_parser *hp, const char *what) {
  return nnd_error_set(hp->err, NND_ERR_FORMAT, "%s: bad .npy header: %s", hp->name, what);
}

/* A quoted string: '...' or "..." without escapes (NumPy never writes any in
 * the keys and descr we accept). Returns a pointer into the header. */
static nnd_status parse_string(hdr_parser *hp, const char **s, size_t *len) {
  skip_ws(hp);
  if (hp->p >= hp->end || (*hp->p != '\'' && *hp->p != '"'))
    return hdr_fail(hp, "expected a quoted string");
  char q = *hp->p++;
  const char *start = hp->p;
  while (hp->p < hp->end && *hp->p != q) {
    if (*hp->p == '\\') return hdr_fail(hp, "escapes in strings are not supported");
    hp->p++;
  }
  if (hp->p >= hp->end) return hdr_fail(hp, "unterminated string");
  *s = start;
  *len = (size_t)(hp->p - start);
  hp->p++;
  return NND_OK;
}

static bool word_is(const char *s, size_t len, const char *w) {
  return strlen(w) == len && memcmp(s, w, len) == 0;
}

static nnd_status parse_descr(hdr_parser *hp, nnd_npy_info *info) {
  skip_ws(hp);
  if (hp->p < hp->end && *hp->p == '[')
    return nnd_error_set(hp->err, NND_ERR_UNSUPPORTED,
                         "%s: structured arrays (record dtypes) are not supported", hp->name);
  const char *s;
  size_t len;
  nnd_status st = parse_string(hp, &s, &len);
  if (st) return st;
  /* byte order, kind, size: e.g. <f4 |u1 >i8 =f8 */
  char order = len ? s[0] : 0;
  if (len < 3 || len > 4 || (order != '<' && order != '>' && order != '|' && order != '='))
    goto unsupported;
  {
    char kind = s[1];
    int bytes = 0;
    for (size_t i = 2; i < len; i++) {
      if (s[i] < '0' || s[i] > '9') goto unsupported;
      bytes = bytes * 10 + (s[i] - '0');
    }
    static const struct {
      char kind;
      int bytes;
      nnd_npy_dtype dtype;
    } table[] = {{'b', 1, NND_NPY_BOOL}, {'i', 1, NND_NPY_I8},  {'i', 2, NND_NPY_I16},
                 {'i', 4, NND_NPY_I32},  {'i', 8, NND_NPY_I64}, {'u', 1, NND_NPY_U8},
                 {'u', 2, NND_NPY_U16},  {'u', 4, NND_NPY_U32}, {'u', 8, NND_NPY_U64},
                 {'f', 2, NND_NPY_F16},  {'f', 4, NND_NPY_F32}, {'f', 8, NND_NPY_F64}};
    for (size_t i = 0; i < sizeof table / sizeof table[0]; i++) {
      if (table[i].kind == kind && table[i].bytes == bytes) {
        info->dtype = table[i].dtype;
        info->itemsize = (size_t)bytes;
        /* '=' is native order; every host we build for is little-endian. */
        info->big_endian = order == '>' && bytes > 1;
        return NND_OK;
      }
    }
  }
unsupported:
  return nnd_error_set(hp->err, NND_ERR_UNSUPPORTED,
                       "%s: .npy dtype '%.*s' is not supported (need bool, int, uint or float)",
                       hp->name, (int)(len > 16 ? 16 : len), s);
}

static nnd_status parse_bool(hdr_parser *hp, bool *v) {
  skip_ws(hp);
  size_t left = (size_t)(hp->end - hp->p);
  if (left >= 4 && memcmp(hp->p, "True", 4) == 0) {
    hp->p += 4;
    *v = true;
    return NND_OK;
  }
  if (left >= 5 && memcmp(hp->p, "False", 5) == 0) {
    hp->p += 5;
    *v = false;
    return NND_OK;
  }
  return hdr_fail(hp, "fortran_order must be True or False");
}

static nnd_status parse_shape(hdr_parser *hp, nnd_npy_info *info) {
  if (!eat(hp, '(')) return hdr_fail(hp, "shape must be a tuple");
  info->rank = 0;
  for (;;) {
    if (eat(hp, ')')) return NND_OK;
    skip_ws(hp);
    if (hp->p >= hp->end || *hp->p < '0' || *hp->p > '9')
      return hdr_fail(hp, "shape must hold non-negative integers");
    int64_t v = 0;
    while (hp->p < hp->end && *hp->p >= '0' && *hp->p <= '9') {
      if (!nnd__mul_i64(v, 10, &v) || !nnd__add_i64(v, *hp->p - '0', &v))
        return nnd_error_set(hp->err, NND_ERR_FORMAT, "%s: .npy shape dimension is too large",
                             hp->name);
      hp->p++;
    }
    if (hp->p < hp->end && (*hp->p == 'L' || *hp->p == 'l')) hp->p++; /* Python 2 long */
    if (info->rank >= NND_NPY_MAX_RANK)
      return nnd_error_set(hp->err, NND_ERR_FORMAT, "%s: .npy shape has more than %d dimensions",
                           hp->name, NND_NPY_MAX_RANK);
    info->shape[info->rank++] = v;
    if (eat(hp, ',')) continue;
    if (eat(hp, ')')) return NND_OK;
    return hdr_fail(hp, "expected ',' or ')' in shape");
  }
}

static nnd_status parse_header_dict(hdr_parser *hp, nnd_npy_info *info) {
  bool have_descr = false, have_fortran = false, have_shape = false, fortran = false;
  if (!eat(hp, '{')) return hdr_fail(hp, "expected '{'");
  for (;;) {
    if (eat(hp, '}')) break;
    const char *key;
    size_t klen;
    nnd_status st = parse_string(hp, &key, &klen);
    if (st) return st;
    if (!eat(hp, ':')) return hdr_fail(hp, "expected ':' after a key");
    if (word_is(key, klen, "descr")) {
      if (have_descr) return hdr_fail(hp, "'descr' given twice");
      have_descr = true;
      st = parse_descr(hp, info);
    } else if (word_is(key, klen, "fortran_order")) {
      if (have_fortran) return hdr_fail(hp, "'fortran_order' given twice");
      have_fortran = true;
      st = parse_bool(hp, &fortran);
    } else if (word_is(key, klen, "shape")) {
      if (have_shape) return hdr_fail(hp, "'shape' given twice");
      have_shape = true;
      st = parse_shape(hp, info);
    } else {
      return nnd_error_set(hp->err, NND_ERR_FORMAT, "%s: bad .npy header: unexpected key '%.*s'",
                           hp->name, (int)(klen > 32 ? 32 : klen), key);
    }
    if (st) return st;
    if (eat(hp, ',')) continue;
    if (eat(hp, '}')) break;
    return hdr_fail(hp, "expected ',' or '}'");
  }
  if (!have_descr || !have_fortran || !have_shape)
    return hdr_fail(hp, "it must give 'descr', 'fortran_order' and 'shape'");
  /* NumPy pads with spaces and ends with a newline; anything else is junk. */
  skip_ws(hp);
  if (hp->p != hp->end) return hdr_fail(hp, "trailing characters after the dict");
  if (fortran)
    return nnd_error_set(hp->err, NND_ERR_UNSUPPORTED,
                         "%s: .npy has fortran_order True; save it in C order "
                         "(np.ascontiguousarray) first",
                         hp->name);
  return NND_OK;
}

nnd_status nnd_npy_parse(const void *data, size_t size, int header_only, const char *name,
                         nnd_npy_info *out, nnd_error *err) {
  const unsigned char *b = data;
  if (!name) name = "<npy>";
  memset(out, 0, sizeof *out);
  if (size < NPY_MAGIC_LEN + 2 || memcmp(b, npy_magic, NPY_MAGIC_LEN) != 0)
    return nnd_error_set(err, NND_ERR_FORMAT, "%s: not a .npy file (bad magic)", name);
  int major = b[6];
  size_t hlen, hstart;
  if (major == 1) {
    if (size < 10) goto truncated;
    hlen = (size_t)b[8] | (size_t)b[9] << 8;
    hstart = 10;
  } else if (major == 2 || major == 3) {
    if (size < 12) goto truncated;
    hlen = (size_t)b[8] | (size_t)b[9] << 8 | (size_t)b[10] << 16 | (size_t)b[11] << 24;
    hstart = 12;
  } else {
    return nnd_error_set(err, NND_ERR_UNSUPPORTED, "%s: .npy format version %d.%d is not supported",
                         name, major, b[7]);
  }
  if (hlen > NPY_MAX_HEADER)
    return nnd_error_set(err, NND_ERR_FORMAT, "%s: .npy header length %zu is implausible", name,
                         hlen);
  if (hlen > size - hstart) goto truncated;
  out->version = major;
  hdr_parser hp = {(const char *)b + hstart, (const char *)b + hstart + hlen, name, err};
  nnd_status st = parse_header_dict(&hp, out);
  if (st) return st;
  size_t count = 1;
  for (size_t i = 0; i < out->rank; i++) {
    if ((uint64_t)out->shape[i] > SIZE_MAX || !nnd__mul_size(count, (size_t)out->shape[i], &count))
      return nnd_error_set(err, NND_ERR_FORMAT, "%s: .npy shape overflows (element count)", name);
  }
  size_t bytes;
  if (!nnd__mul_size(count, out->itemsize, &bytes))
    return nnd_error_set(err, NND_ERR_FORMAT, "%s: .npy shape overflows (byte size)", name);
  out->count = count;
  out->data_offset = hstart + hlen;
  out->data_size = bytes;
  if (!header_only && bytes > size - out->data_offset)
    return nnd_error_set(err, NND_ERR_FORMAT,
                         "%s: .npy data is truncated: header promises %zu bytes, file holds %zu",
                         name, bytes, size - out->data_offset);
  return NND_OK;
truncated:
  return nnd_error_set(err, NND_ERR_FORMAT, "%s: .npy header is truncated", name);
}

/* ---- conversion ---- */

static uint64_t load_uint(const unsigned char *p, size_t n, int big) {
  uint64_t v = 0;
  for (size_t i = 0; i < n; i++)
    v |= (uint64_t)p[big ? n - 1 - i : i] << (8 * i);
  return v;
}

static float half_to_float(uint16_t h) {
  uint32_t sign = (uint32_t)(h >> 15) << 31, exp = (h >> 10) & 0x1f, mant = h & 0x3ff, bits;
  if (exp == 0) {
    if (mant == 0) {
      bits = sign;
    } else { /* subnormal: normalise */
      int e = -1;
      do {
        e++;
        mant <<= 1;
      } while (!(mant & 0x400));
      bits = sign | (uint32_t)(127 - 15 - e) << 23 | (mant & 0x3ff) << 13;
    }
  } else if (exp == 31) {
    bits = sign | 0x7f800000u | mant << 13;
  } else {
    bits = sign | (exp + 127 - 15) << 23 | mant << 13;
  }
  float f;
  memcpy(&f, &bits, sizeof f);
  return f;
}

static double element_as_double(const nnd_npy_info *info, const unsigned char *p) {
  uint64_t u = load_uint(p, info->itemsize, info->big_endian);
  switch (info->dtype) {
  case NND_NPY_BOOL: return u != 0;
  case NND_NPY_I8: return (int8_t)u;
  case NND_NPY_I16: return (int16_t)u;
  case NND_NPY_I32: return (int32_t)u;
  case NND_NPY_I64: return (double)(int64_t)u;
  case NND_NPY_U8:
  case NND_NPY_U16:
  case NND_NPY_U32:
  case NND_NPY_U64: return (double)u;
  case NND_NPY_F16: return half_to_float((uint16_t)u);
  case NND_NPY_F32: {
    uint32_t w = (uint32_t)u;
    float f;
    memcpy(&f, &w, sizeof f);
    return f;
  }
  case NND_NPY_F64: {
    double d;
    memcpy(&d, &u, sizeof d);
    return d;
  }
  }
  return 0;
}

void nnd_npy_to_f32(const nnd_npy_info *info, const void *raw, size_t count, float *out) {
  const unsigned char *p = raw;
  if (info->dtype == NND_NPY_F32 && !info->big_endian) {
    memcpy(out, p, count * sizeof(float)); /* the common case; raw may be unaligned */
    return;
  }
  if (info->dtype == NND_NPY_U8) {
    for (size_t i = 0; i < count; i++)
      out[i] = p[i];
    return;
  }
  for (size_t i = 0; i < count; i++, p += info->itemsize)
    out[i] = (float)element_as_double(info, p);
}

nnd_status nnd_npy_to_i64(const nnd_npy_info *info, const void *raw, size_t count, int64_t *out,
                          const char *name, nnd_error *err) {
  if (info->dtype == NND_NPY_F16 || info->dtype == NND_NPY_F32 || info->dtype == NND_NPY_F64)
    return nnd_error_set(err, NND_ERR_FORMAT, "%s: expected an integer array, found floats",
                         name ? name : "<npy>");
  const unsigned char *p = raw;
  for (size_t i = 0; i < count; i++, p += info->itemsize) {
    uint64_t u = load_uint(p, info->itemsize, info->big_endian);
    int64_t v;
    switch (info->dtype) {
    case NND_NPY_I8: v = (int8_t)u; break;
    case NND_NPY_I16: v = (int16_t)u; break;
    case NND_NPY_I32: v = (int32_t)u; break;
    case NND_NPY_I64: v = (int64_t)u; break;
    case NND_NPY_U64:
      if (u > INT64_MAX)
        return nnd_error_set(err, NND_ERR_FORMAT, "%s: element %zu is out of range", name, i);
      v = (int64_t)u;
      break;
    default: v = (int64_t)u; break;
    }
    out[i] = v;
  }
  return NND_OK;
}

/* ---- writer ---- */

struct nnd_npy_writer {
  nnd_atomic_file *af; /* NULL when writing onto the caller's stream */
  FILE *stream;
  char *path; /* or the stream's name */
  size_t itemsize;
  size_t count, written; /* elements the header promises, elements written */
};

/* Formats the header of a C-order little-endian .npy (version 1, or 2 when
 * the header needs it), padded so the data starts on a 64-byte boundary. */
static nnd_status npy_header(const char *path, nnd_npy_dtype dtype, const int64_t *shape,
                             size_t rank, unsigned char *header, size_t cap, size_t *len_out,
                             size_t *count_out, nnd_error *err) {
  const char *descr;
  switch (dtype) {
  case NND_NPY_F32: descr = "<f4"; break;
  case NND_NPY_U8: descr = "|u1"; break;
  case NND_NPY_I64: descr = "<i8"; break;
  default:
    return nnd_error_set(err, NND_ERR_USAGE, "%s: the .npy writer supports f32, u8 and i64 only",
                         path);
  }
  if (rank > NND_NPY_MAX_RANK)
    return nnd_error_set(err, NND_ERR_USAGE, "%s: rank %zu is too large", path, rank);
  char dict[64 + NND_NPY_MAX_RANK * 22];
  size_t n = (size_t)snprintf(dict, sizeof dict,
                              "{'descr': '%s', 'fortran_order': False, 'shape': (", descr);
  size_t count = 1;
  for (size_t i = 0; i < rank; i++) {
    if (shape[i] < 0 || (uint64_t)shape[i] > SIZE_MAX ||
        !nnd__mul_size(count, (size_t)shape[i], &count))
      return nnd_error_set(err, NND_ERR_USAGE, "%s: bad shape", path);
    n += (size_t)snprintf(dict + n, sizeof dict - n, rank == 1 ? "%lld," : (i ? ", %lld" : "%lld"),
                          (long long)shape[i]);
  }
  n += (size_t)snprintf(dict + n, sizeof dict - n, "), }");
  size_t bytes;
  if (!nnd__mul_size(count, nnd__npy_itemsize(dtype), &bytes))
    return nnd_error_set(err, NND_ERR_USAGE, "%s: shape overflows", path);
  size_t pre = 10, total = (pre + n + 1 + 63) / 64 * 64;
  int version = 1;
  if (total - pre > 65535) {
    version = 2;
    pre = 12;
    total = (pre + n + 1 + 63) / 64 * 64;
  }
  if (total > cap) return nnd_error_set(err, NND_ERR_INTERNAL, "%s: .npy header too long", path);
  size_t hlen = total - pre;
  memcpy(header, npy_magic, NPY_MAGIC_LEN);
  header[6] = (unsigned char)version;
  header[7] = 0;
  header[8] = (unsigned char)(hlen & 0xff);
  header[9] = (unsigned char)(hlen >> 8);
  if (version == 2) {
    header[10] = (unsigned char)(hlen >> 16);
    header[11] = (unsigned char)(hlen >> 24);
  }
  memcpy(header + pre, dict, n);
  memset(header + pre + n, ' ', hlen - n - 1);
  header[total - 1] = '\n';
  *len_out = total;
  *count_out = count;
  return NND_OK;
}

/* The writer of both opens: af is the atomic file the writer owns, or NULL
 * with stream the caller's. */
static nnd_status writer_open(const char *path, nnd_atomic_file *af, FILE *stream,
                              nnd_npy_dtype dtype, const int64_t *shape, size_t rank,
                              nnd_npy_writer **out, nnd_error *err) {
  *out = NULL;
  unsigned char header[64 + NND_NPY_MAX_RANK * 22 + 80];
  size_t len = 0, count = 0;
  nnd_status st = npy_header(path, dtype, shape, rank, header, sizeof header, &len, &count, err);
  if (st) {
    nnd_atomic_file_abort(af);
    return st;
  }
  nnd_npy_writer *w = calloc(1, sizeof *w);
  if (!w || !(w->path = strdup(path))) {
    free(w);
    nnd_atomic_file_abort(af);
    return nnd_error_set(err, NND_ERR_NOMEM, "%s: out of memory", path);
  }
  w->af = af;
  w->stream = af ? nnd_atomic_file_stream(af) : stream;
  w->itemsize = nnd__npy_itemsize(dtype);
  w->count = count;
  if (fwrite(header, 1, len, w->stream) != len) {
    st = nnd_error_set(err, NND_ERR_IO, "%s: write failed: %s", path, strerror(errno));
    nnd_npy_writer_abort(w);
    return st;
  }
  *out = w;
  return NND_OK;
}

nnd_status nnd_npy_writer_open(const char *path, nnd_npy_dtype dtype, const int64_t *shape,
                               size_t rank, nnd_npy_writer **out, nnd_error *err) {
  *out = NULL;
  nnd_atomic_file *af;
  nnd_status st = nnd_atomic_file_open(path, &af, err);
  if (st) return st;
  return writer_open(path, af, NULL, dtype, shape, rank, out, err);
}

nnd_status nnd_npy_writer_open_stream(FILE *stream, const char *name, nnd_npy_dtype dtype,
                                      const int64_t *shape, size_t rank, nnd_npy_writer **out,
                                      nnd_error *err) {
  return writer_open(name, NULL, stream, dtype, shape, rank, out, err);
}

nnd_status nnd_npy_writer_append(nnd_npy_writer *w, const void *data, size_t count,
                                 nnd_error *err) {
  if (count > w->count - w->written)
    return nnd_error_set(err, NND_ERR_USAGE,
                         "%s: %zu more elements than the .npy header promises (%zu)", w->path,
                         count - (w->count - w->written), w->count);
  if (count && fwrite(data, w->itemsize, count, w->stream) != count)
    return nnd_error_set(err, NND_ERR_IO, "%s: write failed: %s", w->path, strerror(errno));
  w->written += count;
  return NND_OK;
}

nnd_status nnd_npy_writer_commit(nnd_npy_writer *w, nnd_error *err) {
  nnd_status st;
  if (w->written != w->count) {
    st = nnd_error_set(err, NND_ERR_INTERNAL,
                       "%s: %zu of the %zu elements the .npy header promises were written", w->path,
                       w->written, w->count);
    nnd_npy_writer_abort(w);
    return st;
  }
  st = w->af ? nnd_atomic_file_commit(w->af, err) : NND_OK; /* a stream: the caller commits */
  w->af = NULL;                                             /* committed or removed either way */
  nnd_npy_writer_abort(w);
  return st;
}

void nnd_npy_writer_abort(nnd_npy_writer *w) {
  if (!w) return;
  nnd_atomic_file_abort(w->af);
  free(w->path);
  free(w);
}

nnd_status nnd_npy_write(const char *path, nnd_npy_dtype dtype, const int64_t *shape, size_t rank,
                         const void *data, nnd_error *err) {
  nnd_npy_writer *w;
  nnd_status st = nnd_npy_writer_open(path, dtype, shape, rank, &w, err);
  if (st) return st;
  st = nnd_npy_writer_append(w, data, w->count, err);
  if (st) {
    nnd_npy_writer_abort(w);
    return st;
  }
  return nnd_npy_writer_commit(w, err);
}

nnd_status nnd_npy_write_f32(const char *path, const int64_t *shape, size_t rank, const float *data,
                             nnd_error *err) {
  return nnd_npy_write(path, NND_NPY_F32, shape, rank, data, err);
}
