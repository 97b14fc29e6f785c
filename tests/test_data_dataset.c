/* Image-directory datasets: deterministic byte-order walk (nested dirs,
 * hidden files, symlink loops, non-images), labels matched by path or bare
 * name, reading items through the preprocessing, and per-item errors. */
#include "data/data_internal.h"
#include "data_test_util.h"
#include "nnd_test.h"
#include "nndiff/data.h"

static int put_png(const char *dir, const char *rel, int w, int h) {
  unsigned char *rgb = pattern_rgb(w, h);
  size_t n;
  unsigned char *png = encode_png(w, h, PNG_COLOR_TYPE_RGB, 8, 0, rgb, NULL, 0, NULL, 0, &n);
  int rc = write_file(dir, rel, png, n);
  free(png);
  free(rgb);
  return rc;
}

static int put_jpg(const char *dir, const char *rel, int w, int h) {
  unsigned char *rgb = pattern_rgb(w, h);
  size_t n;
  unsigned char *jpg = encode_jpeg(w, h, 3, rgb, 90, 0, &n);
  int rc = write_file(dir, rel, jpg, n);
  free(jpg);
  free(rgb);
  return rc;
}

/* Creation order deliberately differs from the expected order. */
static char *make_tree(void) {
  char *dir = make_temp_dir();
  if (!dir) return NULL;
  int rc = 0;
  rc |= put_png(dir, "b.png", 30, 20);
  rc |= put_jpg(dir, "a/z/deep.JPEG", 20, 30);
  rc |= put_png(dir, "a.png", 40, 40);
  rc |= put_jpg(dir, "a-b/y.jpg", 33, 17);
  rc |= put_png(dir, "A.png", 16, 16);
  rc |= put_png(dir, "a/x.png", 25, 25);
  rc |= put_png(dir, ".hidden.png", 8, 8);
  rc |= put_png(dir, "sub/._junk.png", 8, 8);
  rc |= put_png(dir, ".git/obj.png", 8, 8);
  rc |= write_text(dir, "notes.txt", "not an image");
  rc |= write_text(dir, "a/readme.md", "not an image");
  char link[4200], target[4200];
  snprintf(link, sizeof link, "%s/a/loop", dir);
  snprintf(target, sizeof target, "%s", dir);
  rc |= symlink(target, link); /* a/loop -> root: must not recurse forever */
  snprintf(link, sizeof link, "%s/dangling.png", dir);
  rc |= symlink("/nonexistent/nothing.png", link);
  if (rc) {
    rm_tree(dir);
    return NULL;
  }
  return dir;
}

static const char *const expected_order[] = {"A.png",   "a-b/y.jpg",     "a.png",
                                             "a/x.png", "a/z/deep.JPEG", "b.png"};

static int test_walk_order(void) {
  char *dir = make_tree();
  ASSERT_TRUE(dir);
  nnd_error err = {0};
  for (int round = 0; round < 2; round++) {
    nnd_dataset *ds;
    nnd_dataset_options opts = {.no_auto_labels = 1};
    ASSERT_EQ_INT(NND_OK, nnd_dataset_open(dir, &opts, &ds, &err));
    ASSERT_EQ_INT(NND_DATASET_IMAGES, nnd_dataset_get_kind(ds));
    ASSERT_EQ_INT(6, nnd_dataset_count(ds));
    ASSERT_EQ_INT(0, nnd_dataset_has_labels(ds));
    for (size_t i = 0; i < 6; i++) {
      nnd_item_info info;
      ASSERT_EQ_INT(NND_OK, nnd_dataset_item(ds, i, &info, &err));
      ASSERT_STR_EQ(expected_order[i], info.name);
      ASSERT_EQ_INT(-1, info.label);
    }
    char line[512];
    nnd_dataset_describe(ds, line, sizeof line);
    ASSERT_CONTAINS(line, "(6 JPEG/PNG files); no labels");
    nnd_dataset_close(ds);
  }
  /* through the listing function too, with the trailing slash form */
  char **paths;
  size_t count, skipped;
  ASSERT_EQ_INT(NND_OK, nnd__list_images(dir, &paths, &count, &skipped, &err));
  ASSERT_EQ_INT(6, count);
  ASSERT_EQ_INT(2, skipped);
  for (size_t i = 0; i < count; i++)
    free(paths[i]);
  free(paths);
  rm_tree(dir);
  return 0;
}

static int test_labels_matching(void) {
  char *dir = make_tree();
  ASSERT_TRUE(dir);
  /* auto-detected labels.txt: a path, a bare name for a nested file, and
   * names that match nothing (ignored) */
  ASSERT_EQ_INT(0, write_text(dir, "labels.txt",
                              "a/x.png 3\nb.png 1\ny.jpg 2\nmissing.png 9\ndeep.JPEG 0\n"));
  nnd_error err = {0};
  nnd_dataset *ds;
  ASSERT_EQ_INT(NND_OK, nnd_dataset_open(dir, NULL, &ds, &err));
  ASSERT_EQ_INT(1, nnd_dataset_has_labels(ds));
  static const int64_t want[6] = {-1, 2, -1, 3, 0, 1};
  for (size_t i = 0; i < 6; i++) {
    nnd_item_info info;
    ASSERT_EQ_INT(NND_OK, nnd_dataset_item(ds, i, &info, &err));
    ASSERT_EQ_INT(want[i], info.label);
  }
  char line[512];
  nnd_dataset_describe(ds, line, sizeof line);
  ASSERT_CONTAINS(line, "labels.txt: 4 of 6 items labelled");
  nnd_dataset_close(ds);
  /* an explicit CSV file wins */
  ASSERT_EQ_INT(0, write_text(dir, "other.csv", "file,label\nA.png,5\n"));
  char csv[4200];
  snprintf(csv, sizeof csv, "%s/other.csv", dir);
  nnd_dataset_options opts = {.labels_path = csv};
  ASSERT_EQ_INT(NND_OK, nnd_dataset_open(dir, &opts, &ds, &err));
  nnd_item_info info;
  ASSERT_EQ_INT(NND_OK, nnd_dataset_item(ds, 0, &info, &err));
  ASSERT_EQ_INT(5, info.label);
  nnd_dataset_close(ds);
  /* a bad labels file names the line */
  ASSERT_EQ_INT(0, write_text(dir, "labels.txt", "a/x.png 3\nb.png one\n"));
  ASSERT_EQ_INT(NND_ERR_FORMAT, nnd_dataset_open(dir, NULL, &ds, &err));
  ASSERT_CONTAINS(err.message, "labels.txt:2: label 'one' is not a class index");
  ASSERT_TRUE(ds == NULL);
  /* a labels file that matches no image at all */
  ASSERT_EQ_INT(0, write_text(dir, "labels.txt", "val/A.png 3\nval/b.png 1\n"));
  nnd_error_clear(&err);
  ASSERT_EQ_INT(NND_ERR_FORMAT, nnd_dataset_open(dir, NULL, &ds, &err));
  ASSERT_CONTAINS(err.message, "labels.txt: none of its 2 names matches an image (its first is "
                               "'val/A.png', the first image is 'A.png')");
  /* an ambiguous bare name */
  ASSERT_EQ_INT(0, put_png(dir, "c/x.png", 10, 10));
  ASSERT_EQ_INT(0, write_text(dir, "labels.txt", "x.png 3\n"));
  nnd_error_clear(&err);
  ASSERT_EQ_INT(NND_ERR_FORMAT, nnd_dataset_open(dir, NULL, &ds, &err));
  ASSERT_CONTAINS(err.message, "labels.txt:1: 'x.png' matches several images");
  rm_tree(dir);
  return 0;
}

static int test_read_items(void) {
  char *dir = make_tree();
  ASSERT_TRUE(dir);
  ASSERT_EQ_INT(0, write_text(dir, "broken.jpg", "\xFF\xD8\xFF\xE0 but then nothing"));
  nnd_error err = {0};
  nnd_dataset *ds;
  nnd_preprocess pp;
  ASSERT_EQ_INT(NND_OK, nnd_preprocess_from_options("torchvision size=40 crop=32", &pp, &err));
  nnd_dataset_options opts = {.preprocess = &pp, .no_auto_labels = 1};
  ASSERT_EQ_INT(NND_OK, nnd_dataset_open(dir, &opts, &ds, &err));
  ASSERT_EQ_INT(7, nnd_dataset_count(ds));
  ASSERT_STR_EQ("torchvision", nnd_dataset_preprocess(ds)->preset);
  ASSERT_TRUE(nnd_dataset_item_shape(ds) == NULL);
  nnd_item_shape shape = {.rank = 3, .dims = {3, 32, 32}};
  float out[3 * 32 * 32], ref[3 * 32 * 32];
  nnd_item_info info;
  /* item 3 = "a/x.png": the same as decoding and preprocessing by hand */
  ASSERT_EQ_INT(NND_OK, nnd_dataset_read(ds, 3, &shape, out, 3 * 32 * 32, &info, &err));
  ASSERT_STR_EQ("a/x.png", info.name);
  char path[4200];
  snprintf(path, sizeof path, "%s/a/x.png", dir);
  nnd_image img;
  nnd_preprocess r;
  ASSERT_EQ_INT(NND_OK, nnd_image_load(path, 0, &img, &err));
  ASSERT_EQ_INT(NND_OK, nnd_preprocess_resolve(&pp, &shape, &r, &err));
  ASSERT_EQ_INT(NND_OK, nnd_preprocess_image(&r, &img, ref, 3 * 32 * 32, NULL, &err));
  ASSERT_TRUE(memcmp(out, ref, sizeof out) == 0);
  nnd_image_free(&img);
  /* the broken file ("b.png" < "broken.jpg": '.' < 'r') fails with its name */
  ASSERT_EQ_INT(NND_OK, nnd_dataset_item(ds, 6, &info, &err));
  ASSERT_STR_EQ("broken.jpg", info.name);
  ASSERT_EQ_INT(NND_ERR_FORMAT, nnd_dataset_read(ds, 6, &shape, out, 3 * 32 * 32, NULL, &err));
  ASSERT_CONTAINS(err.message, "broken.jpg: truncated JPEG");
  /* the others still read */
  nnd_error_clear(&err);
  ASSERT_EQ_INT(NND_OK, nnd_dataset_read(ds, 0, &shape, out, 3 * 32 * 32, NULL, &err));
  /* a model input the preset cannot produce */
  nnd_item_shape big = {.rank = 3, .dims = {3, 64, 64}};
  ASSERT_EQ_INT(NND_ERR_USAGE, nnd_dataset_read(ds, 0, &big, out, 3 * 32 * 32, NULL, &err));
  ASSERT_CONTAINS(err.message, "set crop=64x64");
  /* a selection: items 3 and 0, in that order, keep their own names */
  ASSERT_EQ_INT(NND_OK, nnd_dataset_select(ds, (const size_t[]){3, 0}, 2, &err));
  ASSERT_EQ_INT(2, nnd_dataset_count(ds));
  ASSERT_EQ_INT(NND_OK, nnd_dataset_read(ds, 0, &shape, out, 3 * 32 * 32, &info, &err));
  ASSERT_STR_EQ("a/x.png", info.name);
  ASSERT_TRUE(memcmp(out, ref, sizeof out) == 0);
  ASSERT_EQ_INT(NND_ERR_USAGE, nnd_dataset_item(ds, 2, &info, &(nnd_error){0}));
  ASSERT_EQ_INT(NND_ERR_USAGE, nnd_dataset_select(ds, (const size_t[]){7}, 1, &(nnd_error){0}));
  ASSERT_EQ_INT(2, nnd_dataset_count(ds));
  ASSERT_EQ_INT(NND_OK, nnd_dataset_select(ds, NULL, 0, &err));
  ASSERT_EQ_INT(7, nnd_dataset_count(ds));
  nnd_dataset_close(ds);
  nnd_dataset_close(NULL);
  rm_tree(dir);
  return 0;
}

static int test_open_errors_and_single_file(void) {
  char *dir = make_temp_dir();
  nnd_error err = {0};
  nnd_dataset *ds;
  ASSERT_EQ_INT(NND_ERR_USAGE, nnd_dataset_open(dir, NULL, &ds, &err));
  ASSERT_CONTAINS(err.message, "no images found");
  nnd_error_clear(&err);
  ASSERT_EQ_INT(NND_ERR_IO, nnd_dataset_open("/nonexistent/dir", NULL, &ds, &err));
  ASSERT_CONTAINS(err.message, "/nonexistent/dir: cannot open dataset");
  ASSERT_EQ_INT(0, write_text(dir, "x.bmp", "BM"));
  char path[4200];
  snprintf(path, sizeof path, "%s/x.bmp", dir);
  nnd_error_clear(&err);
  ASSERT_EQ_INT(NND_ERR_USAGE, nnd_dataset_open(path, NULL, &ds, &err));
  ASSERT_CONTAINS(err.message, "not a dataset");
  /* one image file */
  ASSERT_EQ_INT(0, put_png(dir, "one.png", 12, 9));
  snprintf(path, sizeof path, "%s/one.png", dir);
  ASSERT_EQ_INT(NND_OK, nnd_dataset_open(path, NULL, &ds, &err));
  ASSERT_EQ_INT(1, nnd_dataset_count(ds));
  nnd_item_info info;
  float out[3 * 224 * 224];
  nnd_item_shape shape = {.rank = 3, .dims = {3, 224, 224}};
  ASSERT_EQ_INT(NND_OK, nnd_dataset_read(ds, 0, &shape, out, 3 * 224 * 224, &info, &err));
  ASSERT_STR_EQ(path, info.name);
  char line[512];
  nnd_dataset_describe(ds, line, sizeof line);
  ASSERT_CONTAINS(line, "image: ");
  nnd_dataset_close(ds);
  rm_tree(dir);
  return 0;
}

NND_TEST_MAIN(NND_TEST(test_walk_order), NND_TEST(test_labels_matching), NND_TEST(test_read_items),
              NND_TEST(test_open_errors_and_single_file))
