/* Tensor datasets: .npy (mapped) and .npz (stored and deflated members,
 * first or named array, labels member), item shapes, layout transposition,
 * and malformed archives. */
#include <zip.h>

#include "data/data_internal.h"
#include "data_test_util.h"
#include "nnd_test.h"
#include "nndiff/data.h"

/* A v1 .npy image of dtype descr with the given shape text and data. */
static unsigned char *npy_bytes(const char *descr, const char *shape, const void *data,
                                size_t data_size, size_t *size_out) {
  char dict[256];
  snprintf(dict, sizeof dict, "{'descr': '%s', 'fortran_order': False, 'shape': %s, }", descr,
           shape);
  size_t dl = strlen(dict), total = (10 + dl + 1 + 63) / 64 * 64, hlen = total - 10;
  unsigned char *b = malloc(total + data_size);
  memcpy(b, "\x93NUMPY\x01\x00", 8);
  b[8] = (unsigned char)hlen;
  b[9] = (unsigned char)(hlen >> 8);
  memcpy(b + 10, dict, dl);
  memset(b + 10 + dl, ' ', hlen - dl - 1);
  b[total - 1] = '\n';
  memcpy(b + total, data, data_size);
  *size_out = total + data_size;
  return b;
}

typedef struct member {
  const char *name;
  unsigned char *bytes;
  size_t size;
} member;

static int write_npz(const char *path, const member *m, int n, int deflate) {
  int code;
  zip_t *za = zip_open(path, ZIP_CREATE | ZIP_TRUNCATE, &code);
  if (!za) return -1;
  for (int i = 0; i < n; i++) {
    zip_source_t *src = zip_source_buffer(za, m[i].bytes, m[i].size, 0);
    zip_int64_t idx = zip_file_add(za, m[i].name, src, ZIP_FL_OVERWRITE);
    if (idx < 0) return -1;
    zip_set_file_compression(za, (zip_uint64_t)idx, deflate ? ZIP_CM_DEFLATE : ZIP_CM_STORE, 0);
  }
  return zip_close(za);
}

/* x: [5,2,3] float32 with x[i] = 100 i + j; y: [5] int64 labels 10 + i. */
static int make_archive(const char *path, int deflate) {
  float x[30];
  for (int i = 0; i < 30; i++)
    x[i] = (float)((i / 6) * 100 + i % 6);
  int64_t y[5] = {10, 11, 12, 13, 14};
  member m[2];
  m[0].name = "x.npy";
  m[0].bytes = npy_bytes("<f4", "(5, 2, 3)", x, sizeof x, &m[0].size);
  m[1].name = "y.npy";
  m[1].bytes = npy_bytes("<i8", "(5,)", y, sizeof y, &m[1].size);
  int rc = write_npz(path, m, 2, deflate);
  free(m[0].bytes);
  free(m[1].bytes);
  return rc;
}

static int check_items(nnd_dataset *ds, int with_labels) {
  nnd_item_shape shape = {.rank = 2, .dims = {2, 3}};
  float out[6];
  nnd_error err = {0};
  static const size_t order[] = {0, 1, 4, 2, 3, 3, 0, 4}; /* forward, backward, repeated */
  for (size_t k = 0; k < sizeof order / sizeof order[0]; k++) {
    size_t i = order[k];
    nnd_item_info info;
    ASSERT_EQ_INT(NND_OK, nnd_dataset_read(ds, i, &shape, out, 6, &info, &err));
    for (int j = 0; j < 6; j++)
      ASSERT_NEAR((double)(i * 100 + (size_t)j), out[j], 0);
    ASSERT_EQ_INT(with_labels ? (int64_t)(10 + i) : -1, info.label);
    ASSERT_TRUE(strstr(info.name, "[") != NULL);
  }
  return 0;
}

static int test_npz_stored_and_deflated(void) {
  char *dir = make_temp_dir();
  char path[4200];
  for (int deflate = 0; deflate <= 1; deflate++) {
    snprintf(path, sizeof path, "%s/d%d.npz", dir, deflate);
    ASSERT_EQ_INT(0, make_archive(path, deflate));
    nnd_error err = {0};
    nnd_dataset *ds;
    nnd_dataset_options opts = {.npz_labels_member = "y"};
    ASSERT_EQ_INT(NND_OK, nnd_dataset_open(path, &opts, &ds, &err));
    ASSERT_EQ_INT(NND_DATASET_TENSOR, nnd_dataset_get_kind(ds));
    ASSERT_EQ_INT(5, nnd_dataset_count(ds));
    ASSERT_EQ_INT(1, nnd_dataset_has_labels(ds));
    const nnd_item_shape *is = nnd_dataset_item_shape(ds);
    ASSERT_EQ_INT(2, is->rank);
    ASSERT_EQ_INT(3, is->dims[1]);
    if (check_items(ds, 1)) return 1;
    nnd_item_info info;
    ASSERT_EQ_INT(NND_OK, nnd_dataset_item(ds, 3, &info, &err));
    ASSERT_CONTAINS(info.name, ".npz:x[3]");
    char line[512];
    nnd_dataset_describe(ds, line, sizeof line);
    ASSERT_CONTAINS(line, "tensor: ");
    ASSERT_CONTAINS(line, "[5,2,3] float32");
    ASSERT_CONTAINS(line, "5 of 5 items labelled");
    /* a model that wants another shape */
    nnd_item_shape wrong = {.rank = 1, .dims = {6}};
    float out[6];
    ASSERT_EQ_INT(NND_ERR_USAGE, nnd_dataset_read(ds, 0, &wrong, out, 6, NULL, &err));
    ASSERT_CONTAINS(err.message, "items have shape [2,3] but the model takes [6]");
    nnd_dataset_close(ds);
  }
  rm_tree(dir);
  return 0;
}

static int test_npz_named_member(void) {
  char *dir = make_temp_dir();
  char path[4200], spec[4300];
  snprintf(path, sizeof path, "%s/a.npz", dir);
  ASSERT_EQ_INT(0, make_archive(path, 1));
  nnd_error err = {0};
  nnd_dataset *ds;
  /* "archive.npz:member" */
  snprintf(spec, sizeof spec, "%s:y", path);
  ASSERT_EQ_INT(NND_OK, nnd_dataset_open(spec, NULL, &ds, &err));
  ASSERT_EQ_INT(5, nnd_dataset_count(ds));
  ASSERT_EQ_INT(0, nnd_dataset_item_shape(ds)->rank);
  nnd_item_shape scalar = {.rank = 0};
  float v;
  ASSERT_EQ_INT(NND_OK, nnd_dataset_read(ds, 2, &scalar, &v, 1, NULL, &err));
  ASSERT_NEAR(12, v, 0);
  nnd_dataset_close(ds);
  /* the option, with ".npy" */
  nnd_dataset_options opts = {.npz_member = "x.npy"};
  ASSERT_EQ_INT(NND_OK, nnd_dataset_open(path, &opts, &ds, &err));
  ASSERT_EQ_INT(2, nnd_dataset_item_shape(ds)->rank);
  nnd_dataset_close(ds);
  /* a missing member lists what there is */
  opts.npz_member = "images";
  ASSERT_EQ_INT(NND_ERR_USAGE, nnd_dataset_open(path, &opts, &ds, &err));
  ASSERT_CONTAINS(err.message, "no array 'images' in the archive (it has: x, y)");
  ASSERT_TRUE(ds == NULL);
  rm_tree(dir);
  return 0;
}

static int test_npz_malformed(void) {
  char *dir = make_temp_dir();
  char path[4200];
  nnd_error err = {0};
  nnd_dataset *ds;
  /* not a zip */
  ASSERT_EQ_INT(0, write_text(dir, "junk.npz", "this is not a zip archive at all"));
  snprintf(path, sizeof path, "%s/junk.npz", dir);
  ASSERT_EQ_INT(NND_ERR_FORMAT, nnd_dataset_open(path, NULL, &ds, &err));
  ASSERT_CONTAINS(err.message, "junk.npz: not a readable .npz (zip) archive");
  /* a member that is not a .npy */
  member m = {"x.npy", (unsigned char *)strdup("hello, not numpy"), 16};
  snprintf(path, sizeof path, "%s/bad_member.npz", dir);
  ASSERT_EQ_INT(0, write_npz(path, &m, 1, 1));
  free(m.bytes);
  nnd_error_clear(&err);
  ASSERT_EQ_INT(NND_ERR_FORMAT, nnd_dataset_open(path, NULL, &ds, &err));
  ASSERT_CONTAINS(err.message, "bad_member.npz:x: not a .npy file (bad magic)");
  /* a member whose data is shorter than its header says */
  float x[4] = {1, 2, 3, 4};
  m.bytes = npy_bytes("<f4", "(8,)", x, sizeof x, &m.size);
  snprintf(path, sizeof path, "%s/short.npz", dir);
  ASSERT_EQ_INT(0, write_npz(path, &m, 1, 0));
  free(m.bytes);
  nnd_error_clear(&err);
  ASSERT_EQ_INT(NND_ERR_FORMAT, nnd_dataset_open(path, NULL, &ds, &err));
  ASSERT_CONTAINS(err.message, "short.npz:x: .npy data is truncated");
  /* an empty archive */
  snprintf(path, sizeof path, "%s/empty.npz", dir);
  ASSERT_EQ_INT(0, write_npz(path, NULL, 0, 0));
  nnd_error_clear(&err);
  ASSERT_TRUE(nnd_dataset_open(path, NULL, &ds, &err) != NND_OK);
  /* the same checks from memory (what the fuzzer drives) */
  nnd__npz *npz;
  const char junk[] = "PK\x03\x04 truncated";
  nnd_error_clear(&err);
  ASSERT_EQ_INT(NND_ERR_FORMAT, nnd__npz_open_memory(junk, sizeof junk, "mem.npz", &npz, &err));
  ASSERT_CONTAINS(err.message, "mem.npz");
  rm_tree(dir);
  return 0;
}

static int test_npy_dataset_and_transpose(void) {
  char *dir = make_temp_dir();
  /* 2 items of [H=2, W=3, C=1]... use C=3: [2, 2, 2, 3] HWC, value = h*100 + w*10 + c */
  unsigned char u[2 * 2 * 2 * 3];
  for (int n = 0; n < 2; n++)
    for (int h = 0; h < 2; h++)
      for (int w = 0; w < 2; w++)
        for (int c = 0; c < 3; c++)
          u[((n * 2 + h) * 2 + w) * 3 + c] = (unsigned char)(n * 100 + h * 30 + w * 10 + c);
  size_t size;
  unsigned char *b = npy_bytes("|u1", "(2, 2, 2, 3)", u, sizeof u, &size);
  ASSERT_EQ_INT(0, write_file(dir, "x.npy", b, size));
  free(b);
  int64_t labels[2] = {7, -1};
  b = npy_bytes("<i8", "(2,)", labels, sizeof labels, &size);
  ASSERT_EQ_INT(0, write_file(dir, "y.npy", b, size));
  free(b);
  char path[4200], lpath[4200];
  snprintf(path, sizeof path, "%s/x.npy", dir);
  snprintf(lpath, sizeof lpath, "%s/y.npy", dir);
  nnd_dataset_options opts = {.labels_path = lpath};
  nnd_dataset *ds;
  nnd_error err = {0};
  ASSERT_EQ_INT(NND_OK, nnd_dataset_open(path, &opts, &ds, &err));
  ASSERT_EQ_INT(2, nnd_dataset_count(ds));
  float out[12];
  nnd_item_info info;
  /* as stored: HWC */
  nnd_item_shape hwc = {.rank = 3, .dims = {2, 2, 3}};
  ASSERT_EQ_INT(NND_OK, nnd_dataset_read(ds, 1, &hwc, out, 12, &info, &err));
  ASSERT_NEAR(100 + 30 + 10 + 2, out[(1 * 2 + 1) * 3 + 2], 0);
  ASSERT_EQ_INT(-1, info.label);
  /* a CHW model: transposed */
  nnd_item_shape chw = {.rank = 3, .dims = {3, 2, 2}};
  ASSERT_EQ_INT(NND_OK, nnd_dataset_read(ds, 0, &chw, out, 12, &info, &err));
  ASSERT_EQ_INT(7, info.label);
  for (int c = 0; c < 3; c++)
    for (int h = 0; h < 2; h++)
      for (int w = 0; w < 2; w++)
        ASSERT_NEAR(h * 30 + w * 10 + c, out[(c * 2 + h) * 2 + w], 0);
  /* buffer too small */
  ASSERT_EQ_INT(NND_ERR_USAGE, nnd_dataset_read(ds, 0, &chw, out, 11, &info, &err));
  nnd_error_clear(&err);
  ASSERT_EQ_INT(NND_ERR_USAGE, nnd_dataset_read(ds, 2, &chw, out, 12, &info, &err));
  ASSERT_CONTAINS(err.message, "out of range");
  nnd_dataset_close(ds);
  /* labels of the wrong length */
  int64_t three[3] = {1, 2, 3};
  b = npy_bytes("<i8", "(3,)", three, sizeof three, &size);
  ASSERT_EQ_INT(0, write_file(dir, "y3.npy", b, size));
  free(b);
  snprintf(lpath, sizeof lpath, "%s/y3.npy", dir);
  nnd_error_clear(&err);
  ASSERT_EQ_INT(NND_ERR_FORMAT, nnd_dataset_open(path, &opts, &ds, &err));
  ASSERT_CONTAINS(err.message, "labels must have shape [2]");
  rm_tree(dir);
  return 0;
}

NND_TEST_MAIN(NND_TEST(test_npz_stored_and_deflated), NND_TEST(test_npz_named_member),
              NND_TEST(test_npz_malformed), NND_TEST(test_npy_dataset_and_transpose))
