/* Bounds-checked protobuf wire-format decoder over a byte span.
 *
 * Model files are untrusted: every read is checked against the end of the
 * span it belongs to, and every failure is reported as
 * "<label>: offset N: <what went wrong>", where N counts bytes from the start
 * of the file (not from the start of the nested message), so a user can find
 * the spot with a hex dump. Nothing here allocates; decoded byte fields are
 * views into the caller's buffer (zero copy). */
#ifndef NNDIFF_PB_WIRE_H
#define NNDIFF_PB_WIRE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "nndiff/status.h"

/* Wire types that protobuf still uses. 3 and 4 (groups) are refused, 6 and 7
 * do not exist. */
typedef enum nnd_pb_wire {
  NND_PB_VARINT = 0,
  NND_PB_FIXED64 = 1,
  NND_PB_LEN = 2,
  NND_PB_FIXED32 = 5
} nnd_pb_wire;

/* A cursor over one message (or packed field) inside a file. `base` is the
 * first byte of the file and only serves to compute offsets for messages. */
typedef struct nnd_pb_reader {
  const uint8_t *base;
  const uint8_t *pos;
  const uint8_t *end;
  const char *label; /* file name for messages; NULL prints none */
} nnd_pb_reader;

/* A view of bytes inside the file (a length-delimited payload). */
typedef struct nnd_pb_span {
  const uint8_t *data;
  size_t size;
} nnd_pb_span;

/* One decoded field: the tag, plus its value. VARINT/FIXED32/FIXED64 values
 * land in `u64` (fixed32 zero-extended), LEN payloads in `span`. */
typedef struct nnd_pb_field {
  uint32_t number;
  nnd_pb_wire wire;
  size_t offset; /* file offset of the tag */
  uint64_t u64;
  nnd_pb_span span;
} nnd_pb_field;

/* Largest field number protobuf allows (2^29 - 1). */
#define NND_PB_MAX_FIELD 536870911u

/* A reader over the whole of data[0, size). */
void nnd_pb_reader_init(nnd_pb_reader *r, const void *data, size_t size, const char *label);
/* A reader over a LEN payload that `parent` produced (same file, same label). */
nnd_pb_reader nnd_pb_reader_sub(const nnd_pb_reader *parent, nnd_pb_span span);
/* True while unread bytes remain. */
bool nnd_pb_more(const nnd_pb_reader *r);
/* File offset of the cursor / of a pointer into the file. */
size_t nnd_pb_offset(const nnd_pb_reader *r);
size_t nnd_pb_offset_of(const nnd_pb_reader *r, const uint8_t *p);

/* Records "<label>: offset N: <message>" into err and returns status. */
nnd_status nnd_pb_fail(const nnd_pb_reader *r, size_t offset, nnd_status status, nnd_error *err,
                       const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 5, 6)))
#endif
    ;

/* Primitive reads. A varint is at most 10 bytes and must fit in 64 bits
 * (the tenth byte may only carry bit 63). */
nnd_status nnd_pb_read_varint(nnd_pb_reader *r, uint64_t *out, nnd_error *err);
nnd_status nnd_pb_read_fixed32(nnd_pb_reader *r, uint32_t *out, nnd_error *err);
nnd_status nnd_pb_read_fixed64(nnd_pb_reader *r, uint64_t *out, nnd_error *err);
/* Reads a length prefix and returns the payload; the length must fit in what
 * is left of the reader. */
nnd_status nnd_pb_read_len(nnd_pb_reader *r, uint32_t field_number, nnd_pb_span *out,
                           nnd_error *err);
/* Reads a tag: field number in [1, 2^29-1] and a supported wire type. */
nnd_status nnd_pb_read_tag(nnd_pb_reader *r, uint32_t *number_out, nnd_pb_wire *wire_out,
                           nnd_error *err);
/* Skips the value of a field whose tag was just read. */
nnd_status nnd_pb_skip(nnd_pb_reader *r, uint32_t number, nnd_pb_wire wire, nnd_error *err);

/* Reads the next whole field (tag and value). Unknown fields are skipped by
 * simply ignoring what this returns. */
nnd_status nnd_pb_next(nnd_pb_reader *r, nnd_pb_field *f, nnd_error *err);

/* Checks that f has the wire type the schema expects for `what` (a field
 * name used in the message). */
nnd_status nnd_pb_expect(const nnd_pb_reader *r, const nnd_pb_field *f, nnd_pb_wire wire,
                         const char *what, nnd_error *err);

/* ---- repeated scalar fields, packed or not ----
 *
 * A repeated scalar may appear packed (one LEN record holding the values
 * back to back), unpacked (one record per value), or mixed; decoders must
 * accept all three. These helpers re-scan a message for one field number. */

typedef enum nnd_pb_scalar {
  NND_PB_SCALAR_VARINT,  /* int32, int64, uint64, bool, enum */
  NND_PB_SCALAR_FIXED32, /* float, fixed32 */
  NND_PB_SCALAR_FIXED64  /* double, fixed64 */
} nnd_pb_scalar;

/* Summary of one repeated scalar field in a message. `packed_single` is set
 * when the values come in exactly one packed record, whose payload is then
 * `span`: for fixed-size scalars those bytes already are a little-endian
 * array (zero copy). */
typedef struct nnd_pb_repeated {
  size_t count;
  size_t records;
  bool packed_single;
  nnd_pb_span span;
} nnd_pb_repeated;

/* Counts the values of field `number` in the message `msg` (a copy of the
 * reader positioned at the message start) and checks every record: packed
 * varints must decode, packed fixed payloads must be a multiple of the
 * element size, and the wire type must fit the scalar kind. */
nnd_status nnd_pb_repeated_scan(nnd_pb_reader msg, uint32_t number, nnd_pb_scalar kind,
                                nnd_pb_repeated *out, nnd_error *err);
/* Decodes the values into out[0, count), count from nnd_pb_repeated_scan.
 * VARINT: uint64_t; FIXED32: uint32_t; FIXED64: uint64_t. */
nnd_status nnd_pb_repeated_read(nnd_pb_reader msg, uint32_t number, nnd_pb_scalar kind, void *out,
                                size_t count, nnd_error *err);

/* Little-endian loads from possibly unaligned bytes. */
static inline uint32_t nnd_pb_le32(const uint8_t *p) {
  return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}
static inline uint64_t nnd_pb_le64(const uint8_t *p) {
  return (uint64_t)nnd_pb_le32(p) | (uint64_t)nnd_pb_le32(p + 4) << 32;
}

#endif
