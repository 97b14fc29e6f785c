/* The format registry: content decides, the name only breaks ties; files
 * that are not regular files are refused before they are read. */
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include "nnd_test.h"
#include "nndiff/model.h"

static char dir[] = "/tmp/nnd_registry_XXXXXX";

static const char *write_file(const char *name, const void *data, size_t n) {
  static char path[256];
  snprintf(path, sizeof path, "%s/%s", dir, name);
  FILE *f = fopen(path, "wb");
  if (!f) return NULL;
  fwrite(data, 1, n, f);
  fclose(f);
  return path;
}

static nnd_format detect(const char *path) {
  nnd_format f = NND_FORMAT_UNKNOWN;
  nnd_error err = {0};
  nnd_model_detect(path, &f, &err);
  return f;
}

static int test_content_over_name(void) {
  /* a ModelProto head: ir_version 8, producer_name "x", graph of 2 bytes */
  static const unsigned char onnx[] = {0x08, 0x08, 0x12, 0x01, 'x', 0x3a, 0x02, 0x0a, 0x00};
  ASSERT_EQ_INT(NND_FORMAT_ONNX, detect(write_file("model.bin", onnx, sizeof onnx)));
  static const unsigned char tfl[] = {0x1c, 0, 0, 0, 'T', 'F', 'L', '3', 0, 0, 0, 0};
  ASSERT_EQ_INT(NND_FORMAT_TFLITE, detect(write_file("really_a.onnx", tfl, sizeof tfl)));
  static const unsigned char hdf[] = {0x89, 'H', 'D', 'F', '\r', '\n', 0x1a, '\n', 0};
  ASSERT_EQ_INT(NND_FORMAT_KERAS, detect(write_file("weights.dat", hdf, sizeof hdf)));
  /* text is no ModelProto: only the name says ONNX */
  ASSERT_EQ_INT(NND_FORMAT_ONNX, detect(write_file("notes.onnx", "hello", 5)));
  ASSERT_EQ_INT(NND_FORMAT_UNKNOWN, detect(write_file("notes.txt", "hello", 5)));
  /* a length past the end of the file is no ModelProto either */
  static const unsigned char bad[] = {0x3a, 0x7f, 0x0a};
  ASSERT_EQ_INT(NND_FORMAT_UNKNOWN, detect(write_file("trunc.bin", bad, sizeof bad)));
  return 0;
}

static int test_load_errors_name_the_file(void) {
  nnd_graph *g = NULL;
  nnd_error err = {0};
  static const unsigned char h5[] = {0x89, 'H', 'D', 'F', '\r', '\n', 0x1a, '\n'};
  const char *p = write_file("m.h5", h5, sizeof h5);
  ASSERT_EQ_INT(NND_ERR_UNSUPPORTED, nnd_model_load(p, &g, &err));
  ASSERT_CONTAINS(err.message, "m.h5");
  ASSERT_CONTAINS(err.message, "Keras");
  ASSERT_TRUE(g == NULL);
  /* TFLite has a reader: a header whose root table is past the end is bad input */
  static const unsigned char tfl[] = {0x1c, 0, 0, 0, 'T', 'F', 'L', '3'};
  p = write_file("m.tflite", tfl, sizeof tfl);
  nnd_error e1 = {0};
  ASSERT_EQ_INT(NND_ERR_FORMAT, nnd_model_load(p, &g, &e1));
  ASSERT_CONTAINS(e1.message, "m.tflite");
  ASSERT_TRUE(g == NULL);
  char fifo[256];
  snprintf(fifo, sizeof fifo, "%s/pipe.onnx", dir);
  ASSERT_EQ_INT(0, mkfifo(fifo, 0600));
  nnd_error e2 = {0};
  nnd_format f;
  ASSERT_EQ_INT(NND_ERR_IO, nnd_model_detect(fifo, &f, &e2)); /* refused, never blocks */
  ASSERT_CONTAINS(e2.message, "not a regular file");
  unlink(fifo);
  return 0;
}

int main(int argc, char **argv) {
  if (!mkdtemp(dir)) return 1;
  static const nnd_test_case cases[] = {NND_TEST(test_content_over_name),
                                        NND_TEST(test_load_errors_name_the_file)};
  int rc = nnd_test_run(cases, sizeof cases / sizeof cases[0], argc, argv);
  char cmd[300];
  snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
  if (system(cmd) != 0) rc = 1;
  return rc;
}
