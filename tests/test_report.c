/* Reports: number formatting, the inspect text and JSON, atomic writes. */
#include <dirent.h>
#include <json-c/json.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include "nnd_test.h"
#include "nndiff/cost.h"
#include "nndiff/report.h"
#include "report/numfmt.h"
#include "util/atomic_file.h"

static int test_number_formats(void) {
  char buf[NND_NUMFMT_SIZE];
  nnd__fmt_count(0, buf);
  ASSERT_STR_EQ("0", buf);
  nnd__fmt_count(11689512, buf);
  ASSERT_STR_EQ("11,689,512", buf);
  nnd__fmt_count(-1234, buf);
  ASSERT_STR_EQ("-1,234", buf);
  nnd__fmt_count(INT64_MIN, buf);
  ASSERT_STR_EQ("-9,223,372,036,854,775,808", buf);
  nnd__fmt_si(999, buf);
  ASSERT_STR_EQ("999", buf);
  nnd__fmt_si(1000, buf);
  ASSERT_STR_EQ("1.00 K", buf);
  nnd__fmt_si(11689512, buf);
  ASSERT_STR_EQ("11.7 M", buf);
  nnd__fmt_si(1814073856, buf);
  ASSERT_STR_EQ("1.81 G", buf);
  nnd__fmt_si(999999, buf); /* rounds up into the next prefix, not "1000 K" */
  ASSERT_STR_EQ("1.00 M", buf);
  nnd__fmt_si(99960, buf);
  ASSERT_STR_EQ("100 K", buf);
  nnd__fmt_si(INT64_MAX, buf);
  ASSERT_STR_EQ("9.22 E", buf);
  return 0;
}

static int32_t val(nnd_graph *g, const char *name, nnd_value_kind kind, int rank,
                   const int64_t *dims) {
  int32_t id;
  if (nnd_graph_add_value(g, name, &id, NULL) != NND_OK) return -1;
  nnd_value *v = &g->values[id];
  v->kind = kind;
  v->dtype = NND_DTYPE_F32;
  v->shape.rank = rank;
  for (int i = 0; i < rank; i++) {
    v->shape.dims[i].size = dims[i];
    v->shape.dims[i].symbol = dims[i] < 0 ? "N" : NULL;
  }
  return id;
}

/* input [N,3,8,8] -> Conv 3x3 (16 ch) -> GlobalAveragePool -> Flatten ->
 * Gemm (10) -> an unsupported op. */
static nnd_graph *small_model(void) {
  nnd_graph *g = nnd_graph_create(NULL);
  if (!g) return NULL;
  g->info.format = NND_FORMAT_ONNX;
  g->info.path = "small.onnx";
  g->info.producer_name = "pytorch";
  g->info.producer_version = "1.13.1";
  g->info.ir_version = 8;
  static nnd_opset opsets[] = {{"", 17}};
  g->info.opsets = opsets;
  g->info.n_opsets = 1;
  int32_t x = val(g, "input", NND_VALUE_INPUT, 4, (int64_t[]){-1, 3, 8, 8});
  int32_t w = val(g, "conv.weight", NND_VALUE_CONSTANT, 4, (int64_t[]){16, 3, 3, 3});
  int32_t c = val(g, "c", NND_VALUE_ACTIVATION, 4, (int64_t[]){-1, 16, 8, 8});
  int32_t p = val(g, "p", NND_VALUE_ACTIVATION, 4, (int64_t[]){-1, 16, 1, 1});
  int32_t f = val(g, "f", NND_VALUE_ACTIVATION, 2, (int64_t[]){-1, 16});
  int32_t fw = val(g, "fc.weight", NND_VALUE_CONSTANT, 2, (int64_t[]){10, 16});
  int32_t fb = val(g, "fc.bias", NND_VALUE_CONSTANT, 1, (int64_t[]){10});
  int32_t y = val(g, "logits", NND_VALUE_ACTIVATION, 2, (int64_t[]){-1, 10});
  int32_t z = val(g, "out", NND_VALUE_ACTIVATION, -1, NULL);
  int32_t id;
  nnd_graph_add_node(g, NND_OP_CONV, "/conv/Conv", (int32_t[]){x, w}, 2, &c, 1, &id, NULL);
  g->nodes[id].attrs.conv.n_spatial = 2;
  g->nodes[id].attrs.conv.kernel[0] = g->nodes[id].attrs.conv.kernel[1] = 3;
  nnd_graph_add_node(g, NND_OP_GLOBAL_AVG_POOL, "gap", &c, 1, &p, 1, NULL, NULL);
  nnd_graph_add_node(g, NND_OP_FLATTEN, "flat", &p, 1, &f, 1, NULL, NULL);
  nnd_graph_add_node(g, NND_OP_GEMM, "fc", (int32_t[]){f, fw, fb}, 3, &y, 1, &id, NULL);
  g->nodes[id].attrs.trans_b = true;
  nnd_graph_add_node(g, NND_OP_UNSUPPORTED, "post", &y, 1, &z, 1, &id, NULL);
  g->nodes[id].prov.op_type = "TopK";
  g->inputs = nnd_graph_alloc(g, 1, sizeof *g->inputs);
  g->outputs = nnd_graph_alloc(g, 1, sizeof *g->outputs);
  if (!g->inputs || !g->outputs) return g;
  g->inputs[0] = x;
  g->n_inputs = 1;
  g->outputs[0] = z;
  g->n_outputs = 1;
  return g;
}

static int test_inspect_json(void) {
  nnd_error err = {0};
  nnd_graph *g = small_model();
  ASSERT_TRUE(g && g->n_nodes == 5);
  nnd_node_cost per[5];
  nnd_inspect_data d = {.graph = g, .per_node = per, .tool_version = "9.9"};
  ASSERT_EQ_INT(NND_OK, nnd_cost_compute(g, per, &d.total, &err));
  json_object *j = NULL;
  ASSERT_EQ_INT(NND_OK, nnd_inspect_build_json(&d, &j, &err));
  json_object *o, *a;
  ASSERT_TRUE(json_object_object_get_ex(j, "format", &o));
  ASSERT_STR_EQ("onnx", json_object_get_string(o));
  ASSERT_TRUE(json_object_object_get_ex(j, "opsets", &a));
  ASSERT_STR_EQ("ai.onnx", json_object_get_string(
                               json_object_object_get(json_object_array_get_idx(a, 0), "domain")));
  /* Shapes: known dims are integers, symbolic ones their name. */
  ASSERT_TRUE(json_object_object_get_ex(j, "inputs", &a));
  json_object *shape = json_object_object_get(json_object_array_get_idx(a, 0), "shape");
  ASSERT_TRUE(json_object_is_type(json_object_array_get_idx(shape, 0), json_type_string));
  ASSERT_STR_EQ("N", json_object_get_string(json_object_array_get_idx(shape, 0)));
  ASSERT_EQ_INT(3, json_object_get_int64(json_object_array_get_idx(shape, 1)));
  ASSERT_TRUE(json_object_object_get_ex(j, "outputs", &a));
  ASSERT_TRUE(json_object_object_get(json_object_array_get_idx(a, 0), "shape") == NULL);
  /* Totals: conv 16*64 outputs * 27 MACs, gemm 16*10. */
  ASSERT_TRUE(json_object_object_get_ex(j, "macs", &o));
  ASSERT_EQ_INT(16 * 64 * 27 + 160, json_object_get_int64(o));
  ASSERT_TRUE(json_object_object_get_ex(j, "parameters", &o));
  ASSERT_EQ_INT(432 + 170, json_object_get_int64(o));
  ASSERT_TRUE(json_object_object_get_ex(j, "uncounted_nodes", &o));
  ASSERT_EQ_INT(1, json_object_get_int64(o));
  ASSERT_TRUE(json_object_object_get_ex(j, "op_histogram", &o));
  ASSERT_EQ_INT(1, json_object_get_int64(json_object_object_get(o, "TopK")));
  ASSERT_TRUE(json_object_object_get_ex(j, "canonical_op_histogram", &o));
  ASSERT_EQ_INT(1, json_object_get_int64(json_object_object_get(o, "Unsupported")));
  ASSERT_TRUE(json_object_object_get_ex(j, "unsupported_ops", &a));
  ASSERT_EQ_INT(1, json_object_array_length(a));
  ASSERT_STR_EQ("TopK", json_object_get_string(
                            json_object_object_get(json_object_array_get_idx(a, 0), "op_type")));
  ASSERT_TRUE(json_object_object_get_ex(j, "layers", &a));
  ASSERT_EQ_INT(5, json_object_array_length(a));
  json_object *l0 = json_object_array_get_idx(a, 0);
  ASSERT_STR_EQ("/conv/Conv", json_object_get_string(json_object_object_get(l0, "name")));
  ASSERT_EQ_INT(432, json_object_get_int64(json_object_object_get(l0, "parameters")));
  json_object *l4 = json_object_array_get_idx(a, 4);
  ASSERT_TRUE(!json_object_get_boolean(json_object_object_get(l4, "counted")));
  ASSERT_TRUE(json_object_object_get(l4, "output_shape") == NULL);

  /* Written atomically: the file, and no temporary left beside it. */
  char dir[] = "/tmp/nnd_test_report.XXXXXX", path[256];
  ASSERT_TRUE(mkdtemp(dir));
  snprintf(path, sizeof path, "%s/out.json", dir);
  ASSERT_EQ_INT(NND_OK, nnd_report_write_json(path, j, &err));
  json_object *back = json_object_from_file(path);
  ASSERT_TRUE(back);
  ASSERT_TRUE(json_object_object_get_ex(back, "schema", &o));
  ASSERT_STR_EQ("nndiff.inspect/1", json_object_get_string(o));
  json_object_put(back);
  int entries = 0;
  DIR *dp = opendir(dir);
  ASSERT_TRUE(dp);
  for (struct dirent *e; (e = readdir(dp));)
    entries += e->d_name[0] != '.';
  closedir(dp);
  ASSERT_EQ_INT(1, entries);
  unlink(path);
  rmdir(dir);
  json_object_put(j);
  nnd_graph_destroy(g);
  return 0;
}

static int test_inspect_text(void) {
  nnd_error err = {0};
  nnd_graph *g = small_model();
  ASSERT_TRUE(g);
  nnd_node_cost per[5];
  nnd_inspect_data d = {.graph = g, .per_node = per};
  ASSERT_EQ_INT(NND_OK, nnd_cost_compute(g, per, &d.total, &err));
  char *text = NULL;
  size_t len = 0;
  FILE *f = open_memstream(&text, &len);
  ASSERT_TRUE(f);
  ASSERT_EQ_INT(NND_OK, nnd_inspect_write_text(f, &d, false, &err));
  fclose(f);
  ASSERT_CONTAINS(text, "small.onnx: onnx model, IR version 8, opset ai.onnx 17, producer pytorch");
  ASSERT_CONTAINS(text, "input  float32  [N,3,8,8]");
  ASSERT_CONTAINS(text, "Parameters: 602 (602)");
  ASSERT_CONTAINS(text, "MACs:       27.8 K (27,808)");
  ASSERT_CONTAINS(text, "lower bounds: 1 node not counted");
  ASSERT_CONTAINS(text, "TopK               1  (unsupported)");
  ASSERT_CONTAINS(text, "docs/OPS.md");
  ASSERT_TRUE(!strstr(text, "Layers"));
  ASSERT_TRUE(!strstr(text, " \n")); /* no trailing blanks */
  free(text);
  f = open_memstream(&text, &len);
  ASSERT_TRUE(f);
  ASSERT_EQ_INT(NND_OK, nnd_inspect_write_text(f, &d, true, &err));
  fclose(f);
  ASSERT_CONTAINS(text, "Layers (topological order)");
  ASSERT_CONTAINS(text, "0  /conv/Conv  Conv               [N,16,8,8]       432  27,648  55,296");
  free(text);
  nnd_graph_destroy(g);
  return 0;
}

static int test_atomic_file(void) {
  nnd_error err = {0};
  char dir[] = "/tmp/nnd_test_atomic.XXXXXX", path[256], buf[64];
  ASSERT_TRUE(mkdtemp(dir));
  snprintf(path, sizeof path, "%s/r.txt", dir);
  ASSERT_EQ_INT(NND_OK, nnd_atomic_write(path, "one", 3, &err));
  ASSERT_EQ_INT(0, chmod(path, 0640));
  /* Replacing keeps the target's permissions. */
  ASSERT_EQ_INT(NND_OK, nnd_atomic_write(path, "two!", 4, &err));
  struct stat st;
  ASSERT_EQ_INT(0, stat(path, &st));
  ASSERT_EQ_INT(0640, st.st_mode & 0777);
  FILE *f = fopen(path, "rb");
  ASSERT_TRUE(f);
  size_t n = fread(buf, 1, sizeof buf, f);
  fclose(f);
  ASSERT_EQ_INT(4, n);
  ASSERT_TRUE(memcmp(buf, "two!", 4) == 0);
  /* An aborted write leaves the old file and no temporary. */
  nnd_atomic_file *af;
  ASSERT_EQ_INT(NND_OK, nnd_atomic_file_open(path, &af, &err));
  fputs("partial", nnd_atomic_file_stream(af));
  nnd_atomic_file_abort(af);
  ASSERT_EQ_INT(0, stat(path, &st));
  ASSERT_EQ_INT(4, st.st_size);
  /* A directory, or a missing directory, is refused with the path named. */
  ASSERT_EQ_INT(NND_ERR_IO, nnd_atomic_write(dir, "x", 1, &err));
  ASSERT_CONTAINS(err.message, "is a directory");
  nnd_error_clear(&err);
  snprintf(buf, sizeof buf, "%s/missing/r.txt", dir);
  ASSERT_EQ_INT(NND_ERR_IO, nnd_atomic_write(buf, "x", 1, &err));
  ASSERT_CONTAINS(err.message, "missing/r.txt");
  int entries = 0;
  DIR *dp = opendir(dir);
  ASSERT_TRUE(dp);
  for (struct dirent *e; (e = readdir(dp));)
    entries += e->d_name[0] != '.';
  closedir(dp);
  ASSERT_EQ_INT(1, entries);
  unlink(path);
  rmdir(dir);
  return 0;
}

NND_TEST_MAIN(NND_TEST(test_number_formats), NND_TEST(test_inspect_json),
              NND_TEST(test_inspect_text), NND_TEST(test_atomic_file))
