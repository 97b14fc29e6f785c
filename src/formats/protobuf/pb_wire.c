/* Protobuf wire-format primitives with bounds checks and offset-bearing
 * error messages. See pb_wire.h. */
#include "formats/protobuf/pb_wire.h"
#include "util/safe_text.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

void nnd_pb_reader_init(nnd_pb_reader *r, const void *data, size_t size, const char *label) {
  r->base = (const uint8_t *)data;
  r->pos = r->base;
  r->end = r->base + size;
  r->label = label;
}

nnd_pb_reader nnd_pb_reader_sub(const nnd_pb_reader *parent, nnd_pb_span span) {
  nnd_pb_reader r;
  r.base = parent->base;
  /* an empty span may carry no pointer: read nothing, at the parent's spot */
  r.pos = span.data ? span.data : parent->pos;
  r.end = span.data ? span.data + span.size : r.pos;
  r.label = parent->label;
  return r;
}

bool nnd_pb_more(const nnd_pb_reader *r) { return r->pos < r->end; }

size_t nnd_pb_offset(const nnd_pb_reader *r) { return (size_t)(r->pos - r->base); }

size_t nnd_pb_offset_of(const nnd_pb_reader *r, const uint8_t *p) { return (size_t)(p - r->base); }

nnd_status nnd_pb_fail(const nnd_pb_reader *r, size_t offset, nnd_status status, nnd_error *err,
                       const char *fmt, ...) {
  char what[768];
  va_list ap;
  va_start(ap, fmt);
  nnd__format_line(what, sizeof what, fmt, ap);
  va_end(ap);
  if (r->label && r->label[0])
    return nnd_error_set(err, status, "%s: offset %zu: %s", r->label, offset, what);
  return nnd_error_set(err, status, "offset %zu: %s", offset, what);
}

nnd_status nnd_pb_read_varint(nnd_pb_reader *r, uint64_t *out, nnd_error *err) {
  const uint8_t *p = r->pos;
  uint64_t v = 0;
  for (unsigned i = 0; i < 10; i++) {
    if (p + i >= r->end)
      return nnd_pb_fail(r, nnd_pb_offset(r), NND_ERR_FORMAT, err,
                         "truncated: varint runs past the end of its message");
    uint8_t b = p[i];
    if (i == 9) {
      if (b & 0x80)
        return nnd_pb_fail(r, nnd_pb_offset(r), NND_ERR_FORMAT, err, "varint longer than 10 bytes");
      if (b > 1)
        return nnd_pb_fail(r, nnd_pb_offset(r), NND_ERR_FORMAT, err, "varint overflows 64 bits");
    }
    v |= (uint64_t)(b & 0x7f) << (7 * i);
    if (!(b & 0x80)) {
      r->pos = p + i + 1;
      *out = v;
      return NND_OK;
    }
  }
  /* not reached: the tenth byte either ends the varint or fails above */
  return nnd_pb_fail(r, nnd_pb_offset(r), NND_ERR_INTERNAL, err, "varint decoder fell through");
}

static nnd_status need(nnd_pb_reader *r, size_t n, const char *what, nnd_error *err) {
  size_t left = (size_t)(r->end - r->pos);
  if (left < n)
    return nnd_pb_fail(r, nnd_pb_offset(r), NND_ERR_FORMAT, err,
                       "truncated: %s needs %zu bytes, %zu left", what, n, left);
  return NND_OK;
}

nnd_status nnd_pb_read_fixed32(nnd_pb_reader *r, uint32_t *out, nnd_error *err) {
  nnd_status st = need(r, 4, "fixed32 value", err);
  if (st != NND_OK) return st;
  *out = nnd_pb_le32(r->pos);
  r->pos += 4;
  return NND_OK;
}

nnd_status nnd_pb_read_fixed64(nnd_pb_reader *r, uint64_t *out, nnd_error *err) {
  nnd_status st = need(r, 8, "fixed64 value", err);
  if (st != NND_OK) return st;
  *out = nnd_pb_le64(r->pos);
  r->pos += 8;
  return NND_OK;
}

nnd_status nnd_pb_read_len(nnd_pb_reader *r, uint32_t field_number, nnd_pb_span *out,
                           nnd_error *err) {
  size_t at = nnd_pb_offset(r);
  uint64_t len;
  nnd_status st = nnd_pb_read_varint(r, &len, err);
  if (st != NND_OK) return st;
  size_t left = (size_t)(r->end - r->pos);
  if (len > left)
    return nnd_pb_fail(r, at, NND_ERR_FORMAT, err,
                       "truncated: length-delimited field %u needs %llu bytes, %zu left",
                       field_number, (unsigned long long)len, left);
  out->data = r->pos;
  out->size = (size_t)len;
  r->pos += (size_t)len;
  return NND_OK;
}

nnd_status nnd_pb_read_tag(nnd_pb_reader *r, uint32_t *number_out, nnd_pb_wire *wire_out,
                           nnd_error *err) {
  size_t at = nnd_pb_offset(r);
  uint64_t tag;
  nnd_status st = nnd_pb_read_varint(r, &tag, err);
  if (st != NND_OK) return st;
  uint64_t number = tag >> 3;
  unsigned wire = (unsigned)(tag & 7);
  if (number == 0 || number > NND_PB_MAX_FIELD)
    return nnd_pb_fail(r, at, NND_ERR_FORMAT, err, "invalid field number %llu",
                       (unsigned long long)number);
  switch (wire) {
  case NND_PB_VARINT:
  case NND_PB_FIXED64:
  case NND_PB_LEN:
  case NND_PB_FIXED32: break;
  case 3:
  case 4:
    return nnd_pb_fail(r, at, NND_ERR_FORMAT, err,
                       "field %llu uses wire type %u (deprecated group), which no model "
                       "format uses",
                       (unsigned long long)number, wire);
  default:
    return nnd_pb_fail(r, at, NND_ERR_FORMAT, err, "field %llu has invalid wire type %u",
                       (unsigned long long)number, wire);
  }
  *number_out = (uint32_t)number;
  *wire_out = (nnd_pb_wire)wire;
  return NND_OK;
}

static nnd_status read_value(nnd_pb_reader *r, nnd_pb_field *f, nnd_error *err) {
  uint32_t u32 = 0;
  switch (f->wire) {
  case NND_PB_VARINT: return nnd_pb_read_varint(r, &f->u64, err);
  case NND_PB_FIXED64: return nnd_pb_read_fixed64(r, &f->u64, err);
  case NND_PB_FIXED32: {
    nnd_status st = nnd_pb_read_fixed32(r, &u32, err);
    f->u64 = u32;
    return st;
  }
  case NND_PB_LEN: return nnd_pb_read_len(r, f->number, &f->span, err);
  }
  return nnd_pb_fail(r, f->offset, NND_ERR_INTERNAL, err, "bad wire type %d", (int)f->wire);
}

nnd_status nnd_pb_skip(nnd_pb_reader *r, uint32_t number, nnd_pb_wire wire, nnd_error *err) {
  nnd_pb_field f;
  memset(&f, 0, sizeof f);
  f.number = number;
  f.wire = wire;
  f.offset = nnd_pb_offset(r);
  return read_value(r, &f, err);
}

nnd_status nnd_pb_next(nnd_pb_reader *r, nnd_pb_field *f, nnd_error *err) {
  memset(f, 0, sizeof *f);
  f->offset = nnd_pb_offset(r);
  nnd_status st = nnd_pb_read_tag(r, &f->number, &f->wire, err);
  if (st != NND_OK) return st;
  return read_value(r, f, err);
}

static const char *wire_name(nnd_pb_wire wire) {
  switch (wire) {
  case NND_PB_VARINT: return "varint";
  case NND_PB_FIXED64: return "fixed64";
  case NND_PB_LEN: return "length-delimited";
  case NND_PB_FIXED32: return "fixed32";
  }
  return "?";
}

nnd_status nnd_pb_expect(const nnd_pb_reader *r, const nnd_pb_field *f, nnd_pb_wire wire,
                         const char *what, nnd_error *err) {
  if (f->wire == wire) return NND_OK;
  return nnd_pb_fail(r, f->offset, NND_ERR_FORMAT, err,
                     "field %u (%s) should be %s, found wire type %s", f->number, what,
                     wire_name(wire), wire_name(f->wire));
}

/* ---------------------------------------------------- repeated scalars */

static size_t scalar_size(nnd_pb_scalar kind) {
  return kind == NND_PB_SCALAR_FIXED32 ? 4 : kind == NND_PB_SCALAR_FIXED64 ? 8 : 0;
}

static nnd_pb_wire scalar_wire(nnd_pb_scalar kind) {
  return kind == NND_PB_SCALAR_FIXED32   ? NND_PB_FIXED32
         : kind == NND_PB_SCALAR_FIXED64 ? NND_PB_FIXED64
                                         : NND_PB_VARINT;
}

nnd_status nnd_pb_repeated_scan(nnd_pb_reader msg, uint32_t number, nnd_pb_scalar kind,
                                nnd_pb_repeated *out, nnd_error *err) {
  memset(out, 0, sizeof *out);
  size_t elem = scalar_size(kind);
  bool packed_seen = false;
  while (nnd_pb_more(&msg)) {
    nnd_pb_field f;
    nnd_status st = nnd_pb_next(&msg, &f, err);
    if (st != NND_OK) return st;
    if (f.number != number) continue;
    out->records++;
    if (f.wire == NND_PB_LEN) {
      size_t n = 0;
      if (elem) {
        if (f.span.size % elem)
          return nnd_pb_fail(&msg, f.offset, NND_ERR_FORMAT, err,
                             "packed field %u has %zu bytes, not a multiple of %zu", number,
                             f.span.size, elem);
        n = f.span.size / elem;
      } else {
        nnd_pb_reader p = nnd_pb_reader_sub(&msg, f.span);
        while (nnd_pb_more(&p)) {
          uint64_t v;
          st = nnd_pb_read_varint(&p, &v, err);
          if (st != NND_OK) return st;
          n++;
        }
      }
      if (!packed_seen) out->span = f.span;
      packed_seen = true;
      out->count += n;
    } else if (f.wire == scalar_wire(kind)) {
      out->count++;
    } else {
      return nnd_pb_fail(&msg, f.offset, NND_ERR_FORMAT, err,
                         "repeated field %u should be %s or packed, found wire type %s", number,
                         wire_name(scalar_wire(kind)), wire_name(f.wire));
    }
  }
  out->packed_single = packed_seen && out->records == 1;
  return NND_OK;
}

static void store(void *out, size_t i, nnd_pb_scalar kind, uint64_t v) {
  if (kind == NND_PB_SCALAR_FIXED32) {
    uint32_t u = (uint32_t)v;
    memcpy((uint8_t *)out + 4 * i, &u, 4);
  } else {
    memcpy((uint8_t *)out + 8 * i, &v, 8);
  }
}

nnd_status nnd_pb_repeated_read(nnd_pb_reader msg, uint32_t number, nnd_pb_scalar kind, void *out,
                                size_t count, nnd_error *err) {
  size_t i = 0;
  size_t elem = scalar_size(kind);
  while (nnd_pb_more(&msg)) {
    nnd_pb_field f;
    nnd_status st = nnd_pb_next(&msg, &f, err);
    if (st != NND_OK) return st;
    if (f.number != number) continue;
    if (f.wire == NND_PB_LEN) {
      nnd_pb_reader p = nnd_pb_reader_sub(&msg, f.span);
      while (nnd_pb_more(&p)) {
        uint64_t v;
        if (i >= count) goto overflow;
        if (elem == 4) {
          uint32_t u;
          st = nnd_pb_read_fixed32(&p, &u, err);
          v = u;
        } else if (elem == 8) {
          st = nnd_pb_read_fixed64(&p, &v, err);
        } else {
          st = nnd_pb_read_varint(&p, &v, err);
        }
        if (st != NND_OK) return st;
        store(out, i++, kind, v);
      }
    } else if (f.wire == scalar_wire(kind)) {
      if (i >= count) goto overflow;
      store(out, i++, kind, f.u64);
    } else {
      return nnd_pb_fail(&msg, f.offset, NND_ERR_FORMAT, err,
                         "repeated field %u should be %s or packed, found wire type %s", number,
                         wire_name(scalar_wire(kind)), wire_name(f.wire));
    }
  }
  if (i == count) return NND_OK;
overflow:
  return nnd_pb_fail(&msg, nnd_pb_offset(&msg), NND_ERR_INTERNAL, err,
                     "repeated field %u: count changed between scan and read", number);
}
