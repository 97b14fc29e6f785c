/* Protobuf encoding into a growable buffer (pb_write.h). */
#include "formats/protobuf/pb_write.h"

#include <stdlib.h>
#include <string.h>

void nnd_pb_buf_free(nnd_pb_buf *b) {
  if (!b) return;
  free(b->data);
  memset(b, 0, sizeof *b);
}

static bool reserve(nnd_pb_buf *b, size_t n) {
  if (b->failed) return false;
  if (n > SIZE_MAX - b->size) {
    b->failed = true;
    return false;
  }
  if (b->size + n <= b->cap) return true;
  size_t cap = b->cap ? b->cap : 256;
  while (cap < b->size + n) {
    if (cap > SIZE_MAX / 2) {
      cap = b->size + n;
      break;
    }
    cap *= 2;
  }
  uint8_t *p = realloc(b->data, cap);
  if (!p) {
    b->failed = true;
    return false;
  }
  b->data = p;
  b->cap = cap;
  return true;
}

size_t nnd_pb_varint_size(uint64_t v) {
  size_t n = 1;
  while (v >= 0x80) {
    v >>= 7;
    n++;
  }
  return n;
}

void nnd_pb_put_bytes(nnd_pb_buf *b, const void *p, size_t n) {
  if (n == 0 || !reserve(b, n)) return;
  memcpy(b->data + b->size, p, n);
  b->size += n;
}

size_t nnd_pb_encode_varint(uint8_t out[10], uint64_t v) {
  size_t n = 0;
  while (v >= 0x80) {
    out[n++] = (uint8_t)(v | 0x80);
    v >>= 7;
  }
  out[n++] = (uint8_t)v;
  return n;
}

void nnd_pb_put_varint(nnd_pb_buf *b, uint64_t v) {
  uint8_t tmp[10];
  nnd_pb_put_bytes(b, tmp, nnd_pb_encode_varint(tmp, v));
}

void nnd_pb_put_tag(nnd_pb_buf *b, uint32_t number, nnd_pb_wire wire) {
  nnd_pb_put_varint(b, (uint64_t)number << 3 | (uint64_t)wire);
}

void nnd_pb_put_len(nnd_pb_buf *b, uint32_t number, const void *p, size_t n) {
  nnd_pb_put_tag(b, number, NND_PB_LEN);
  nnd_pb_put_varint(b, n);
  nnd_pb_put_bytes(b, p, n);
}

void nnd_pb_put_string(nnd_pb_buf *b, uint32_t number, const char *s) {
  nnd_pb_put_len(b, number, s, strlen(s));
}

void nnd_pb_put_varint_field(nnd_pb_buf *b, uint32_t number, uint64_t v) {
  nnd_pb_put_tag(b, number, NND_PB_VARINT);
  nnd_pb_put_varint(b, v);
}

static void put_le32(nnd_pb_buf *b, uint32_t u) {
  uint8_t tmp[4] = {(uint8_t)u, (uint8_t)(u >> 8), (uint8_t)(u >> 16), (uint8_t)(u >> 24)};
  nnd_pb_put_bytes(b, tmp, 4);
}

void nnd_pb_put_float_field(nnd_pb_buf *b, uint32_t number, float f) {
  uint32_t u;
  memcpy(&u, &f, 4);
  nnd_pb_put_tag(b, number, NND_PB_FIXED32);
  put_le32(b, u);
}

void nnd_pb_put_packed_int64(nnd_pb_buf *b, uint32_t number, const int64_t *v, size_t n) {
  if (n == 0) return;
  size_t len = 0;
  for (size_t i = 0; i < n; i++)
    len += nnd_pb_varint_size((uint64_t)v[i]);
  nnd_pb_put_tag(b, number, NND_PB_LEN);
  nnd_pb_put_varint(b, len);
  for (size_t i = 0; i < n; i++)
    nnd_pb_put_varint(b, (uint64_t)v[i]);
}

void nnd_pb_put_packed_float(nnd_pb_buf *b, uint32_t number, const float *v, size_t n) {
  if (n == 0) return;
  nnd_pb_put_tag(b, number, NND_PB_LEN);
  nnd_pb_put_varint(b, 4 * n);
  for (size_t i = 0; i < n; i++) {
    uint32_t u;
    memcpy(&u, &v[i], 4);
    put_le32(b, u);
  }
}
