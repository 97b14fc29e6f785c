/* Protobuf wire-format encoding into a growable byte buffer: what a writer
 * needs to re-encode the few messages an edit touches (varints, tags,
 * length-delimited fields) and to copy every other byte as it was.
 *
 * A buffer that fails to grow remembers it (`failed`) and ignores later
 * writes, so an encoder writes a whole message and checks once at the end,
 * as SQLite's sticky out-of-memory flag does. */
#ifndef NNDIFF_PB_WRITE_H
#define NNDIFF_PB_WRITE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "formats/protobuf/pb_wire.h"

typedef struct nnd_pb_buf {
  uint8_t *data;
  size_t size, cap;
  bool failed; /* out of memory (or a size overflow) at some write */
} nnd_pb_buf;

/* Frees the bytes and empties the buffer; NULL is a no-op. */
void nnd_pb_buf_free(nnd_pb_buf *b);

/* Bytes a varint of v takes (1..10). */
size_t nnd_pb_varint_size(uint64_t v);

/* Encodes v as a varint into out (10 bytes suffice); returns its length. */
size_t nnd_pb_encode_varint(uint8_t out[10], uint64_t v);

void nnd_pb_put_bytes(nnd_pb_buf *b, const void *p, size_t n);
void nnd_pb_put_varint(nnd_pb_buf *b, uint64_t v);
void nnd_pb_put_tag(nnd_pb_buf *b, uint32_t number, nnd_pb_wire wire);
/* A LEN field: tag, length, then the n bytes at p. */
void nnd_pb_put_len(nnd_pb_buf *b, uint32_t number, const void *p, size_t n);
/* A LEN field holding a C string. */
void nnd_pb_put_string(nnd_pb_buf *b, uint32_t number, const char *s);
/* A VARINT field (int64 values are written as their two's complement, as
 * protobuf does for int64). */
void nnd_pb_put_varint_field(nnd_pb_buf *b, uint32_t number, uint64_t v);
/* A FIXED32 field holding a float's bits. */
void nnd_pb_put_float_field(nnd_pb_buf *b, uint32_t number, float f);
/* A packed repeated int64 field (nothing for n == 0). */
void nnd_pb_put_packed_int64(nnd_pb_buf *b, uint32_t number, const int64_t *v, size_t n);
/* A packed repeated float field (nothing for n == 0). */
void nnd_pb_put_packed_float(nnd_pb_buf *b, uint32_t number, const float *v, size_t n);

#endif
