/* .npy header parsing (valid v1/v2/v3, every malformed case we can think
 * of), dtype conversion, and the atomic writer. */
#include <dirent.h>
#include <math.h>

#include "data_test_util.h"
#include "nnd_test.h"
#include "nndiff/data.h"
#include "util/mapped_file.h"

/* Builds a .npy in memory: magic, version, header length, the dict text
 * (padded with spaces to 64 bytes, ending in '\n' unless raw_header), data. */
static unsigned char *make_npy(int major, const char *dict, const void *data, size_t data_size,
                               size_t *size_out) {
  size_t pre = major == 1 ? 10 : 12, dl = strlen(dict);
  size_t total = (pre + dl + 1 + 63) / 64 * 64, hlen = total - pre;
  unsigned char *b = malloc(total + data_size + 1);
  memcpy(b, "\x93NUMPY", 6);
  b[6] = (unsigned char)major;
  b[7] = 0;
  b[8] = (unsigned char)(hlen & 0xff);
  b[9] = (unsigned char)(hlen >> 8);
  if (major != 1) {
    b[10] = (unsigned char)(hlen >> 16);
    b[11] = (unsigned char)(hlen >> 24);
  }
  memcpy(b + pre, dict, dl);
  memset(b + pre + dl, ' ', hlen - dl - 1);
  b[total - 1] = '\n';
  if (data_size) memcpy(b + total, data, data_size);
  *size_out = total + data_size;
  return b;
}

static int test_valid_v1_f4(void) {
  float v[6] = {0, 1.5f, -2, 3.25f, 1e-3f, 7};
  size_t n;
  unsigned char *b =
      make_npy(1, "{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }", v, sizeof v, &n);
  nnd_npy_info info;
  nnd_error err = {0};
  ASSERT_EQ_INT(NND_OK, nnd_npy_parse(b, n, 0, "a.npy", &info, &err));
  ASSERT_EQ_INT(1, info.version);
  ASSERT_EQ_INT(NND_NPY_F32, info.dtype);
  ASSERT_EQ_INT(2, info.rank);
  ASSERT_EQ_INT(2, info.shape[0]);
  ASSERT_EQ_INT(3, info.shape[1]);
  ASSERT_EQ_INT(6, info.count);
  ASSERT_EQ_INT(0, info.data_offset % 64);
  ASSERT_EQ_INT(n - sizeof v, info.data_offset);
  float out[6];
  nnd_npy_to_f32(&info, b + info.data_offset, 6, out);
  for (int i = 0; i < 6; i++)
    ASSERT_NEAR(v[i], out[i], 0);
  free(b);
  return 0;
}

static int test_valid_v2_v3_and_dtypes(void) {
  nnd_error err = {0};
  nnd_npy_info info;
  size_t n;
  /* v2, double quotes, keys reordered, no trailing comma, f8 */
  double d[4] = {1, -2, 0.5, 1e300};
  unsigned char *b = make_npy(2, "{\"shape\": (4,), \"fortran_order\": False, \"descr\": \"<f8\"}",
                              d, sizeof d, &n);
  ASSERT_EQ_INT(NND_OK, nnd_npy_parse(b, n, 0, "b.npy", &info, &err));
  ASSERT_EQ_INT(2, info.version);
  ASSERT_EQ_INT(NND_NPY_F64, info.dtype);
  ASSERT_EQ_INT(1, info.rank);
  float f[8];
  nnd_npy_to_f32(&info, b + info.data_offset, 4, f);
  ASSERT_NEAR(-2, f[1], 0);
  ASSERT_TRUE(isinf(f[3]));
  free(b);
  /* v3, |u1, 3-d */
  unsigned char u[8] = {0, 1, 2, 3, 250, 251, 254, 255};
  b = make_npy(3, "{'descr': '|u1', 'fortran_order': False, 'shape': (2, 2, 2), }", u, 8, &n);
  ASSERT_EQ_INT(NND_OK, nnd_npy_parse(b, n, 0, "c.npy", &info, &err));
  ASSERT_EQ_INT(3, info.version);
  nnd_npy_to_f32(&info, b + info.data_offset, 8, f);
  ASSERT_NEAR(255, f[3 + 0] + 252, 0);
  free(b);
  /* <i8 labels, converted to int64 and to float */
  int64_t l[3] = {5, -1, 999};
  b = make_npy(1, "{'descr': '<i8', 'fortran_order': False, 'shape': (3,), }", l, sizeof l, &n);
  ASSERT_EQ_INT(NND_OK, nnd_npy_parse(b, n, 0, "l.npy", &info, &err));
  int64_t li[3];
  ASSERT_EQ_INT(NND_OK, nnd_npy_to_i64(&info, b + info.data_offset, 3, li, "l.npy", &err));
  ASSERT_EQ_INT(-1, li[1]);
  ASSERT_EQ_INT(999, li[2]);
  free(b);
  /* big-endian float32 */
  unsigned char be[4] = {0x3f, 0xc0, 0x00, 0x00}; /* 1.5f */
  b = make_npy(1, "{'descr': '>f4', 'fortran_order': False, 'shape': (1,), }", be, 4, &n);
  ASSERT_EQ_INT(NND_OK, nnd_npy_parse(b, n, 0, "be.npy", &info, &err));
  nnd_npy_to_f32(&info, b + info.data_offset, 1, f);
  ASSERT_NEAR(1.5, f[0], 0);
  free(b);
  /* float16: 1.0, -2.0, 65504, smallest subnormal */
  uint16_t h[4] = {0x3c00, 0xc000, 0x7bff, 0x0001};
  b = make_npy(1, "{'descr': '<f2', 'fortran_order': False, 'shape': (4,), }", h, sizeof h, &n);
  ASSERT_EQ_INT(NND_OK, nnd_npy_parse(b, n, 0, "h.npy", &info, &err));
  nnd_npy_to_f32(&info, b + info.data_offset, 4, f);
  ASSERT_NEAR(1.0, f[0], 0);
  ASSERT_NEAR(-2.0, f[1], 0);
  ASSERT_NEAR(65504, f[2], 0);
  ASSERT_NEAR(5.9604644775390625e-8, f[3], 0);
  ASSERT_EQ_INT(NND_ERR_FORMAT, nnd_npy_to_i64(&info, b + info.data_offset, 1, li, "h.npy", &err));
  ASSERT_CONTAINS(err.message, "integer");
  free(b);
  /* a scalar and an empty array are well-formed */
  nnd_error_clear(&err);
  b = make_npy(1, "{'descr': '<f4', 'fortran_order': False, 'shape': (), }", f, 4, &n);
  ASSERT_EQ_INT(NND_OK, nnd_npy_parse(b, n, 0, "s.npy", &info, &err));
  ASSERT_EQ_INT(0, info.rank);
  ASSERT_EQ_INT(1, info.count);
  free(b);
  b = make_npy(1, "{'descr': '<f4', 'fortran_order': False, 'shape': (0, 3), }", NULL, 0, &n);
  ASSERT_EQ_INT(NND_OK, nnd_npy_parse(b, n, 0, "e.npy", &info, &err));
  ASSERT_EQ_INT(0, info.count);
  free(b);
  return 0;
}

/* Parses dict (v1) with 16 bytes of data and expects status + message. */
static int expect_bad(const char *dict, nnd_status want, const char *msg) {
  size_t n;
  unsigned char zero[16] = {0};
  unsigned char *b = make_npy(1, dict, zero, sizeof zero, &n);
  nnd_npy_info info;
  nnd_error err = {0};
  nnd_status st = nnd_npy_parse(b, n, 0, "bad.npy", &info, &err);
  free(b);
  if (st != want || !strstr(err.message, msg) || !strstr(err.message, "bad.npy")) {
    fprintf(stderr, "dict %s: got %s \"%s\", wanted %s \"...%s...\"\n", dict, nnd_status_str(st),
            err.message, nnd_status_str(want), msg);
    return 1;
  }
  return 0;
}

static int test_bad_headers(void) {
  int f = 0;
  f |= expect_bad("{'descr': '<f4', 'fortran_order': True, 'shape': (2,), }", NND_ERR_UNSUPPORTED,
                  "fortran_order");
  f |= expect_bad("{'descr': '<c8', 'fortran_order': False, 'shape': (1,), }", NND_ERR_UNSUPPORTED,
                  "dtype '<c8'");
  f |= expect_bad("{'descr': '|O', 'fortran_order': False, 'shape': (1,), }", NND_ERR_UNSUPPORTED,
                  "dtype '|O'");
  f |= expect_bad("{'descr': '<U5', 'fortran_order': False, 'shape': (1,), }", NND_ERR_UNSUPPORTED,
                  "not supported");
  f |= expect_bad("{'descr': [('a', '<f4')], 'fortran_order': False, 'shape': (1,), }",
                  NND_ERR_UNSUPPORTED, "structured");
  f |= expect_bad(
      "{'descr': '<f4', 'fortran_order': False, 'shape': (4294967296, 4294967296, 16), }",
      NND_ERR_FORMAT, "overflows");
  f |= expect_bad("{'descr': '<f4', 'fortran_order': False, 'shape': (99999999999999999999,), }",
                  NND_ERR_FORMAT, "too large");
  f |= expect_bad("{'descr': '<f4', 'fortran_order': False, 'shape': (-1,), }", NND_ERR_FORMAT,
                  "non-negative");
  f |= expect_bad("{'descr': '<f4', 'fortran_order': False, 'shape': (100,), }", NND_ERR_FORMAT,
                  "truncated");
  f |= expect_bad("{'descr': '<f4', 'fortran_order': False, }", NND_ERR_FORMAT, "'shape'");
  f |= expect_bad("{'descr': '<f4', 'fortran_order': False, 'shape': (1,), 'x': 1}", NND_ERR_FORMAT,
                  "unexpected key 'x'");
  f |= expect_bad("{'descr': '<f4', 'descr': '<f4', 'fortran_order': False, 'shape': (1,)}",
                  NND_ERR_FORMAT, "twice");
  f |= expect_bad("{'descr': '<f4', 'fortran_order': False, 'shape': (1,)} junk", NND_ERR_FORMAT,
                  "trailing");
  f |= expect_bad("{'descr': '<f4', 'fortran_order': False, 'shape': (1,)", NND_ERR_FORMAT,
                  "expected ',' or '}'");
  f |= expect_bad("{'descr': '<f4', 'fortran_order': False, 'shape': (1,), 'sha", NND_ERR_FORMAT,
                  "unterminated string");
  f |= expect_bad("{'descr': '<f4', 'fortran_order': Maybe, 'shape': (1,)}", NND_ERR_FORMAT,
                  "True or False");
  f |= expect_bad("[1, 2]", NND_ERR_FORMAT, "expected '{'");
  f |= expect_bad("{'descr': '<f4', 'fortran_order': False, 'shape': (1, 2, 3, 4, 5, 6, 7, 8, 9, "
                  "10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20, 21, 22, 23, 24, 25, 26, 27, 28, "
                  "29, 30, 31, 32, 33), }",
                  NND_ERR_FORMAT, "more than 32");
  return f;
}

static int test_bad_framing(void) {
  nnd_npy_info info;
  nnd_error err = {0};
  float v[2] = {1, 2};
  size_t n;
  unsigned char *b =
      make_npy(1, "{'descr': '<f4', 'fortran_order': False, 'shape': (2,), }", v, sizeof v, &n);
  /* bad magic */
  b[1] = 'X';
  ASSERT_EQ_INT(NND_ERR_FORMAT, nnd_npy_parse(b, n, 0, "m.npy", &info, &err));
  ASSERT_CONTAINS(err.message, "m.npy: not a .npy file (bad magic)");
  b[1] = 'N';
  size_t data_offset = n - sizeof v;
  /* every truncation inside the header */
  for (size_t cut = 0; cut < data_offset; cut++) {
    nnd_error_clear(&err);
    ASSERT_EQ_INT(NND_ERR_FORMAT, nnd_npy_parse(b, cut, 0, "t.npy", &info, &err));
    if (cut >= 10) ASSERT_CONTAINS(err.message, "truncated");
  }
  /* data cut short */
  nnd_error_clear(&err);
  ASSERT_EQ_INT(NND_ERR_FORMAT, nnd_npy_parse(b, n - 1, 0, "d.npy", &info, &err));
  ASSERT_CONTAINS(err.message, "header promises 8 bytes, file holds 7");
  /* ... which header_only accepts */
  ASSERT_EQ_INT(NND_OK, nnd_npy_parse(b, data_offset, 1, "d.npy", &info, NULL));
  /* version 4 */
  b[6] = 4;
  nnd_error_clear(&err);
  ASSERT_EQ_INT(NND_ERR_UNSUPPORTED, nnd_npy_parse(b, n, 0, "v.npy", &info, &err));
  ASSERT_CONTAINS(err.message, "version 4.0");
  /* header length beyond the file, and implausible */
  b[6] = 1;
  b[8] = 0xff;
  b[9] = 0xff;
  nnd_error_clear(&err);
  ASSERT_EQ_INT(NND_ERR_FORMAT, nnd_npy_parse(b, n, 0, "h.npy", &info, &err));
  ASSERT_CONTAINS(err.message, "truncated");
  b[6] = 2;
  b[10] = 0xff;
  b[11] = 0x7f;
  nnd_error_clear(&err);
  ASSERT_EQ_INT(NND_ERR_FORMAT, nnd_npy_parse(b, n, 0, "h.npy", &info, &err));
  ASSERT_CONTAINS(err.message, "implausible");
  free(b);
  return 0;
}

static int test_writer_roundtrip(void) {
  char *dir = make_temp_dir();
  ASSERT_TRUE(dir);
  char path[4200];
  snprintf(path, sizeof path, "%s/out.npy", dir);
  float v[24];
  for (int i = 0; i < 24; i++)
    v[i] = (float)i * 0.25f - 3;
  int64_t shape[3] = {2, 3, 4};
  nnd_error err = {0};
  ASSERT_EQ_INT(NND_OK, nnd_npy_write_f32(path, shape, 3, v, &err));
  /* overwrite in place, then read back */
  v[5] = 42;
  ASSERT_EQ_INT(NND_OK, nnd_npy_write_f32(path, shape, 3, v, &err));
  nnd_mapped_file *mf;
  ASSERT_EQ_INT(NND_OK, nnd_mapped_file_open(path, &mf, &err));
  nnd_npy_info info;
  ASSERT_EQ_INT(NND_OK, nnd_npy_parse(mf->data, mf->size, 0, path, &info, &err));
  ASSERT_EQ_INT(0, info.data_offset % 64);
  ASSERT_EQ_INT(3, info.rank);
  ASSERT_EQ_INT(4, info.shape[2]);
  float back[24];
  nnd_npy_to_f32(&info, mf->data + info.data_offset, 24, back);
  ASSERT_TRUE(memcmp(back, v, sizeof v) == 0);
  ASSERT_TRUE(memmem(mf->data, info.data_offset, "'shape': (2, 3, 4)", 18) != NULL);
  nnd_mapped_file_close(mf);
  /* 1-d shapes are written as Python 1-tuples, u8 and i64 too */
  snprintf(path, sizeof path, "%s/u8.npy", dir);
  unsigned char u[3] = {1, 2, 255};
  int64_t s1[1] = {3};
  ASSERT_EQ_INT(NND_OK, nnd_npy_write(path, NND_NPY_U8, s1, 1, u, &err));
  ASSERT_EQ_INT(NND_OK, nnd_mapped_file_open(path, &mf, &err));
  ASSERT_EQ_INT(NND_OK, nnd_npy_parse(mf->data, mf->size, 0, path, &info, &err));
  ASSERT_EQ_INT(NND_NPY_U8, info.dtype);
  ASSERT_TRUE(memmem(mf->data, info.data_offset, "(3,)", 4) != NULL);
  nnd_mapped_file_close(mf);
  /* no temporary files are left behind */
  DIR *d = opendir(dir);
  struct dirent *de;
  int files = 0;
  while ((de = readdir(d))) {
    if (de->d_name[0] == '.') continue;
    files++;
    ASSERT_TRUE(strstr(de->d_name, ".tmp.") == NULL);
  }
  closedir(d);
  ASSERT_EQ_INT(2, files);
  /* unwritable target */
  snprintf(path, sizeof path, "%s/no/such/dir/x.npy", dir);
  ASSERT_EQ_INT(NND_ERR_IO, nnd_npy_write_f32(path, shape, 3, v, &err));
  ASSERT_CONTAINS(err.message, "x.npy");
  rm_tree(dir);
  return 0;
}

NND_TEST_MAIN(NND_TEST(test_valid_v1_f4), NND_TEST(test_valid_v2_v3_and_dtypes),
              NND_TEST(test_bad_headers), NND_TEST(test_bad_framing),
              NND_TEST(test_writer_roundtrip))
