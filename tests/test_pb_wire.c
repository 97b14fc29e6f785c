/* Protobuf wire decoder: varint edge cases, overlong and overflowing
 * varints, truncation, wire types, offsets in messages, repeated fields. */
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "formats/protobuf/pb_wire.h"
#include "nnd_test.h"

static int test_varint_values(void) {
  static const struct {
    uint8_t bytes[10];
    size_t n;
    uint64_t value;
  } cases[] = {
      {{0x00}, 1, 0},
      {{0x01}, 1, 1},
      {{0x7f}, 1, 127},
      {{0x80, 0x01}, 2, 128},
      {{0xac, 0x02}, 2, 300},
      {{0xff, 0xff, 0xff, 0xff, 0x0f}, 5, 0xffffffffu},
      /* int64 -1 as protobuf writes it: ten bytes, top byte 0x01 */
      {{0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01}, 10, UINT64_MAX},
      /* 2^63 */
      {{0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x01}, 10, 1ull << 63},
      /* non-minimal but within 10 bytes: accepted like protobuf does */
      {{0x81, 0x80, 0x00}, 3, 1},
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    nnd_pb_reader r;
    nnd_error err = {0};
    nnd_pb_reader_init(&r, cases[i].bytes, cases[i].n, "t.onnx");
    uint64_t v = 0;
    ASSERT_EQ_INT(NND_OK, nnd_pb_read_varint(&r, &v, &err));
    ASSERT_TRUE(v == cases[i].value);
    ASSERT_TRUE(!nnd_pb_more(&r));
  }
  return 0;
}

static int test_varint_overlong(void) {
  uint8_t b[12];
  memset(b, 0x80, sizeof b);
  b[11] = 0x01;
  nnd_pb_reader r;
  nnd_error err = {0};
  nnd_pb_reader_init(&r, b, sizeof b, "model.onnx");
  uint64_t v;
  ASSERT_EQ_INT(NND_ERR_FORMAT, nnd_pb_read_varint(&r, &v, &err));
  ASSERT_STR_EQ("model.onnx: offset 0: varint longer than 10 bytes", err.message);
  return 0;
}

static int test_varint_overflow(void) {
  uint8_t b[10];
  memset(b, 0xff, sizeof b);
  b[9] = 0x02; /* bit 64 */
  nnd_pb_reader r;
  nnd_error err = {0};
  nnd_pb_reader_init(&r, b, sizeof b, "m.onnx");
  uint64_t v;
  ASSERT_EQ_INT(NND_ERR_FORMAT, nnd_pb_read_varint(&r, &v, &err));
  ASSERT_CONTAINS(err.message, "overflows 64 bits");
  return 0;
}

static int test_varint_truncated(void) {
  const uint8_t b[] = {0x05, 0x80, 0x80};
  nnd_pb_reader r;
  nnd_error err = {0};
  nnd_pb_reader_init(&r, b, sizeof b, "m.onnx");
  uint64_t v;
  ASSERT_EQ_INT(NND_OK, nnd_pb_read_varint(&r, &v, &err));
  ASSERT_EQ_INT(5, v);
  ASSERT_EQ_INT(NND_ERR_FORMAT, nnd_pb_read_varint(&r, &v, &err));
  ASSERT_STR_EQ("m.onnx: offset 1: truncated: varint runs past the end of its message",
                err.message);
  /* empty input */
  nnd_error err2 = {0};
  nnd_pb_reader_init(&r, b, 0, NULL);
  ASSERT_EQ_INT(NND_ERR_FORMAT, nnd_pb_read_varint(&r, &v, &err2));
  ASSERT_STR_EQ("offset 0: truncated: varint runs past the end of its message", err2.message);
  return 0;
}

static int test_fixed(void) {
  const uint8_t b[] = {0x78, 0x56, 0x34, 0x12, 0x01, 0x02, 0x03,
                       0x04, 0x05, 0x06, 0x07, 0x08, 0x09};
  nnd_pb_reader r;
  nnd_error err = {0};
  nnd_pb_reader_init(&r, b, sizeof b, "m");
  uint32_t u32;
  uint64_t u64;
  ASSERT_EQ_INT(NND_OK, nnd_pb_read_fixed32(&r, &u32, &err));
  ASSERT_EQ_INT(0x12345678, u32);
  ASSERT_EQ_INT(NND_OK, nnd_pb_read_fixed64(&r, &u64, &err));
  ASSERT_TRUE(u64 == 0x0807060504030201ull);
  ASSERT_EQ_INT(NND_ERR_FORMAT, nnd_pb_read_fixed32(&r, &u32, &err));
  ASSERT_STR_EQ("m: offset 12: truncated: fixed32 value needs 4 bytes, 1 left", err.message);
  return 0;
}

static int test_wire_types(void) {
  static const struct {
    uint8_t tag;
    nnd_status st;
    const char *msg;
  } cases[] = {
      {(1 << 3) | 3, NND_ERR_FORMAT, "field 1 uses wire type 3 (deprecated group)"},
      {(1 << 3) | 4, NND_ERR_FORMAT, "field 1 uses wire type 4 (deprecated group)"},
      {(2 << 3) | 6, NND_ERR_FORMAT, "field 2 has invalid wire type 6"},
      {(2 << 3) | 7, NND_ERR_FORMAT, "field 2 has invalid wire type 7"},
      {(0 << 3) | 0, NND_ERR_FORMAT, "invalid field number 0"},
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    uint8_t b[2] = {cases[i].tag, 0};
    nnd_pb_reader r;
    nnd_error err = {0};
    nnd_pb_reader_init(&r, b, sizeof b, "m");
    nnd_pb_field f;
    ASSERT_EQ_INT(cases[i].st, nnd_pb_next(&r, &f, &err));
    ASSERT_CONTAINS(err.message, cases[i].msg);
  }
  /* field number above 2^29-1: tag (2^29 << 3) as a varint */
  const uint8_t big[] = {0x80, 0x80, 0x80, 0x80, 0x10};
  nnd_pb_reader r;
  nnd_error err = {0};
  nnd_pb_reader_init(&r, big, sizeof big, "m");
  nnd_pb_field f;
  ASSERT_EQ_INT(NND_ERR_FORMAT, nnd_pb_next(&r, &f, &err));
  ASSERT_CONTAINS(err.message, "invalid field number 536870912");
  return 0;
}

static int test_fields_and_skip(void) {
  /* field 1 varint 150, field 2 fixed64, field 3 LEN "abc", field 4 fixed32 */
  const uint8_t b[] = {0x08, 0x96, 0x01, 0x11, 1,   2,   3,    4,    5,    6,    7,
                       8,    0x1a, 0x03, 'a',  'b', 'c', 0x25, 0x00, 0x00, 0x80, 0x3f};
  nnd_pb_reader r;
  nnd_error err = {0};
  nnd_pb_reader_init(&r, b, sizeof b, "m");
  nnd_pb_field f;
  ASSERT_EQ_INT(NND_OK, nnd_pb_next(&r, &f, &err));
  ASSERT_EQ_INT(1, f.number);
  ASSERT_EQ_INT(NND_PB_VARINT, f.wire);
  ASSERT_EQ_INT(150, f.u64);
  ASSERT_EQ_INT(NND_OK, nnd_pb_next(&r, &f, &err));
  ASSERT_EQ_INT(NND_PB_FIXED64, f.wire);
  ASSERT_EQ_INT(3, f.offset);
  ASSERT_EQ_INT(NND_OK, nnd_pb_next(&r, &f, &err));
  ASSERT_EQ_INT(3, f.number);
  ASSERT_EQ_INT(3, f.span.size);
  ASSERT_TRUE(memcmp(f.span.data, "abc", 3) == 0);
  ASSERT_EQ_INT(NND_ERR_FORMAT, nnd_pb_expect(&r, &f, NND_PB_VARINT, "X.y", &err));
  ASSERT_STR_EQ("m: offset 12: field 3 (X.y) should be varint, found wire type length-delimited",
                err.message);
  ASSERT_EQ_INT(NND_OK, nnd_pb_next(&r, &f, &err));
  ASSERT_EQ_INT(NND_PB_FIXED32, f.wire);
  float one;
  uint32_t bits = (uint32_t)f.u64;
  memcpy(&one, &bits, 4);
  ASSERT_NEAR(1.0, one, 0);
  ASSERT_TRUE(!nnd_pb_more(&r));

  /* skip after reading tags by hand */
  nnd_error err2 = {0};
  nnd_pb_reader_init(&r, b, sizeof b, "m");
  for (int i = 0; i < 4; i++) {
    uint32_t num;
    nnd_pb_wire wire;
    ASSERT_EQ_INT(NND_OK, nnd_pb_read_tag(&r, &num, &wire, &err2));
    ASSERT_EQ_INT(i + 1, num);
    ASSERT_EQ_INT(NND_OK, nnd_pb_skip(&r, num, wire, &err2));
  }
  ASSERT_TRUE(!nnd_pb_more(&r));
  return 0;
}

static int test_len_truncated_with_offset(void) {
  /* 5000 bytes of padding in a field 15 record, then a nested message whose
   * field 4 claims 900 bytes with 12 left: the offset counts from the file. */
  static uint8_t b[5200];
  size_t n = 0;
  b[n++] = (15 << 3) | 2;
  b[n++] = 0x88; /* 5000 = 0x1388 */
  b[n++] = 0x27;
  n += 5000;
  size_t outer = n;
  b[n++] = (7 << 3) | 2; /* nested message, 16 bytes */
  b[n++] = 16;
  size_t inner_tag = n;
  b[n++] = (4 << 3) | 2;
  b[n++] = 0x84; /* 900 */
  b[n++] = 0x07;
  memset(b + n, 0, 13);
  n += 13;
  nnd_pb_reader r;
  nnd_error err = {0};
  nnd_pb_reader_init(&r, b, n, "model.onnx");
  nnd_pb_field f;
  ASSERT_EQ_INT(NND_OK, nnd_pb_next(&r, &f, &err));
  ASSERT_EQ_INT(5000, f.span.size);
  ASSERT_EQ_INT(NND_OK, nnd_pb_next(&r, &f, &err));
  ASSERT_EQ_INT(outer, f.offset);
  nnd_pb_reader sub = nnd_pb_reader_sub(&r, f.span);
  ASSERT_EQ_INT(NND_ERR_FORMAT, nnd_pb_next(&sub, &f, &err));
  char want[200];
  snprintf(want, sizeof want,
           "model.onnx: offset %zu: truncated: length-delimited field 4 needs 900 bytes, 13 left",
           inner_tag + 1);
  ASSERT_STR_EQ(want, err.message);
  return 0;
}

static int test_first_error_wins(void) {
  const uint8_t b[] = {0x80};
  nnd_pb_reader r;
  nnd_error err = {0};
  nnd_pb_reader_init(&r, b, sizeof b, "a");
  uint64_t v;
  ASSERT_EQ_INT(NND_ERR_FORMAT, nnd_pb_read_varint(&r, &v, &err));
  ASSERT_EQ_INT(NND_ERR_FORMAT, nnd_pb_fail(&r, 9, NND_ERR_FORMAT, &err, "later"));
  ASSERT_CONTAINS(err.message, "varint");
  return 0;
}

static int test_repeated_varints(void) {
  /* field 1 packed [1, 300], field 2 unrelated, field 1 unpacked -1 */
  const uint8_t b[] = {0x0a, 0x03, 0x01, 0xac, 0x02, 0x10, 0x05, 0x08, 0xff,
                       0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01};
  nnd_pb_reader r;
  nnd_error err = {0};
  nnd_pb_reader_init(&r, b, sizeof b, "m");
  nnd_pb_repeated rep;
  ASSERT_EQ_INT(NND_OK, nnd_pb_repeated_scan(r, 1, NND_PB_SCALAR_VARINT, &rep, &err));
  ASSERT_EQ_INT(3, rep.count);
  ASSERT_EQ_INT(2, rep.records);
  ASSERT_TRUE(!rep.packed_single);
  uint64_t v[3];
  ASSERT_EQ_INT(NND_OK, nnd_pb_repeated_read(r, 1, NND_PB_SCALAR_VARINT, v, 3, &err));
  ASSERT_EQ_INT(1, v[0]);
  ASSERT_EQ_INT(300, v[1]);
  ASSERT_EQ_INT(-1, (int64_t)v[2]);
  /* field 2 alone, unpacked */
  ASSERT_EQ_INT(NND_OK, nnd_pb_repeated_scan(r, 2, NND_PB_SCALAR_VARINT, &rep, &err));
  ASSERT_EQ_INT(1, rep.count);
  /* absent field */
  ASSERT_EQ_INT(NND_OK, nnd_pb_repeated_scan(r, 9, NND_PB_SCALAR_VARINT, &rep, &err));
  ASSERT_EQ_INT(0, rep.count);
  /* a bad varint inside a packed record */
  const uint8_t bad[] = {0x0a, 0x02, 0x01, 0x80};
  nnd_pb_reader_init(&r, bad, sizeof bad, "m");
  ASSERT_EQ_INT(NND_ERR_FORMAT, nnd_pb_repeated_scan(r, 1, NND_PB_SCALAR_VARINT, &rep, &err));
  ASSERT_STR_EQ("m: offset 3: truncated: varint runs past the end of its message", err.message);
  return 0;
}

static int test_repeated_floats(void) {
  /* field 4 packed floats [1.0, 2.0]: zero copy */
  const uint8_t b[] = {0x22, 0x08, 0x00, 0x00, 0x80, 0x3f, 0x00, 0x00, 0x00, 0x40};
  nnd_pb_reader r;
  nnd_error err = {0};
  nnd_pb_reader_init(&r, b, sizeof b, "m");
  nnd_pb_repeated rep;
  ASSERT_EQ_INT(NND_OK, nnd_pb_repeated_scan(r, 4, NND_PB_SCALAR_FIXED32, &rep, &err));
  ASSERT_EQ_INT(2, rep.count);
  ASSERT_TRUE(rep.packed_single);
  ASSERT_TRUE(rep.span.data == b + 2);
  ASSERT_EQ_INT(8, rep.span.size);
  float f[2];
  ASSERT_EQ_INT(NND_OK, nnd_pb_repeated_read(r, 4, NND_PB_SCALAR_FIXED32, f, 2, &err));
  ASSERT_NEAR(1.0, f[0], 0);
  ASSERT_NEAR(2.0, f[1], 0);
  /* unpacked fixed32 records */
  const uint8_t u[] = {0x25, 0x00, 0x00, 0x80, 0x3f, 0x25, 0x00, 0x00, 0x40, 0x40};
  nnd_pb_reader_init(&r, u, sizeof u, "m");
  ASSERT_EQ_INT(NND_OK, nnd_pb_repeated_scan(r, 4, NND_PB_SCALAR_FIXED32, &rep, &err));
  ASSERT_EQ_INT(2, rep.count);
  ASSERT_TRUE(!rep.packed_single);
  ASSERT_EQ_INT(NND_OK, nnd_pb_repeated_read(r, 4, NND_PB_SCALAR_FIXED32, f, 2, &err));
  ASSERT_NEAR(3.0, f[1], 0);
  /* packed payload not a multiple of 4 */
  const uint8_t odd[] = {0x22, 0x03, 0x00, 0x00, 0x80};
  nnd_pb_reader_init(&r, odd, sizeof odd, "m");
  ASSERT_EQ_INT(NND_ERR_FORMAT, nnd_pb_repeated_scan(r, 4, NND_PB_SCALAR_FIXED32, &rep, &err));
  ASSERT_STR_EQ("m: offset 0: packed field 4 has 3 bytes, not a multiple of 4", err.message);
  /* wrong wire type for a float */
  nnd_error err2 = {0};
  const uint8_t wrong[] = {0x20, 0x01};
  nnd_pb_reader_init(&r, wrong, sizeof wrong, "m");
  ASSERT_EQ_INT(NND_ERR_FORMAT, nnd_pb_repeated_scan(r, 4, NND_PB_SCALAR_FIXED32, &rep, &err2));
  ASSERT_CONTAINS(err2.message, "should be fixed32 or packed, found wire type varint");
  return 0;
}

/* Every prefix of a valid message must fail cleanly or succeed, never read
 * past the end (run under ASan in the sanitizer build). */
static int test_all_prefixes(void) {
  const uint8_t b[] = {0x08, 0x96, 0x01, 0x11, 1,   2,   3,    4,    5,    6,    7,
                       8,    0x1a, 0x03, 'a',  'b', 'c', 0x25, 0x00, 0x00, 0x80, 0x3f};
  for (size_t n = 0; n <= sizeof b; n++) {
    uint8_t *copy = malloc(n ? n : 1);
    memcpy(copy, b, n);
    nnd_pb_reader r;
    nnd_error err = {0};
    nnd_pb_reader_init(&r, copy, n, "m");
    nnd_status st = NND_OK;
    int fields = 0;
    while (st == NND_OK && nnd_pb_more(&r)) {
      nnd_pb_field f;
      st = nnd_pb_next(&r, &f, &err);
      fields += st == NND_OK;
    }
    free(copy);
    bool complete = n == 0 || n == 3 || n == 12 || n == 17 || n == sizeof b;
    ASSERT_EQ_INT(complete ? NND_OK : NND_ERR_FORMAT, st);
    /* A complete prefix decodes every field it holds. */
    if (complete) ASSERT_EQ_INT(n == 0 ? 0 : n == 3 ? 1 : n == 12 ? 2 : n == 17 ? 3 : 4, fields);
    if (!complete) ASSERT_CONTAINS(err.message, "truncated");
  }
  return 0;
}

NND_TEST_MAIN(NND_TEST(test_varint_values), NND_TEST(test_varint_overlong),
              NND_TEST(test_varint_overflow), NND_TEST(test_varint_truncated), NND_TEST(test_fixed),
              NND_TEST(test_wire_types), NND_TEST(test_fields_and_skip),
              NND_TEST(test_len_truncated_with_offset), NND_TEST(test_first_error_wins),
              NND_TEST(test_repeated_varints), NND_TEST(test_repeated_floats),
              NND_TEST(test_all_prefixes))
