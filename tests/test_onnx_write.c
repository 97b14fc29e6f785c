/* The ONNX writer's pieces: varints written the way pb_wire reads them,
 * dtype conversion of new constant data (half and bfloat16 rounding,
 * integers that do not fit), and a round trip through a model encoded
 * here: edits written, the file read back, untouched bytes kept. */
#include <math.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "formats/onnx/onnx_write_internal.h"
#include "formats/protobuf/pb_wire.h"
#include "nnd_test.h"
#include "nndiff/model.h"
#include "nndiff/onnx.h"

static int test_varint_roundtrip(void) {
  static const uint64_t values[] = {0, 1, 127, 128, 300, 0xffffffffu, 1ull << 63, UINT64_MAX};
  for (size_t i = 0; i < sizeof values / sizeof values[0]; i++) {
    uint8_t buf[10];
    size_t n = nnd_pb_encode_varint(buf, values[i]);
    ASSERT_EQ_INT((int)nnd_pb_varint_size(values[i]), (int)n);
    nnd_pb_reader r;
    nnd_error err = {0};
    nnd_pb_reader_init(&r, buf, n, "t");
    uint64_t v = 0;
    ASSERT_EQ_INT(NND_OK, nnd_pb_read_varint(&r, &v, &err));
    ASSERT_TRUE(v == values[i]);
    ASSERT_TRUE(!nnd_pb_more(&r));
  }
  return 0;
}

static int test_convert(void) {
  const char *why = NULL;
  void *out = NULL;
  size_t nbytes = 0;
  double d[] = {1.0, -2.5, 0.1, 65504.0, 1e-8};
  ASSERT_TRUE(nnd__ow_convert(NND_DTYPE_F64, d, 5, NND_DTYPE_F16, &out, &nbytes, &why));
  ASSERT_EQ_INT(10, (int)nbytes);
  for (int i = 0; i < 5; i++) {
    uint16_t h;
    memcpy(&h, (uint8_t *)out + 2 * i, 2);
    ASSERT_EQ_INT(nnd_f32_to_f16((float)d[i]), h);
  }
  free(out);
  /* bfloat16 rounds to nearest even: 1 + 2^-8 is a tie that stays at 1,
   * 1 + 3 * 2^-8 goes up to 1 + 2^-6 */
  float f[] = {1.0f, 1.00390625f, 1.01171875f};
  ASSERT_TRUE(nnd__ow_convert(NND_DTYPE_F32, f, 3, NND_DTYPE_BF16, &out, &nbytes, &why));
  uint16_t b[3];
  memcpy(b, out, 6);
  ASSERT_EQ_INT(0x3f80, b[0]);
  ASSERT_EQ_INT(0x3f80, b[1]);
  ASSERT_EQ_INT(0x3f82, b[2]);
  free(out);
  int64_t ints[] = {1, -3, 300};
  ASSERT_TRUE(nnd__ow_convert(NND_DTYPE_I64, ints, 3, NND_DTYPE_I32, &out, &nbytes, &why));
  int32_t i32[3];
  memcpy(i32, out, 12);
  ASSERT_TRUE(i32[0] == 1 && i32[1] == -3 && i32[2] == 300);
  free(out);
  ASSERT_TRUE(!nnd__ow_convert(NND_DTYPE_I64, ints, 3, NND_DTYPE_I8, &out, &nbytes, &why));
  ASSERT_CONTAINS(why, "does not fit");
  ASSERT_TRUE(!nnd__ow_convert(NND_DTYPE_F32, f, 3, NND_DTYPE_I64, &out, &nbytes, &why));
  ASSERT_TRUE(out == NULL);
  return 0;
}

/* ModelProto: x -> LeakyRelu(alpha 0.1) -> y; z = y + b (initializer). */
static void encode_model(nnd_pb_buf *m) {
  nnd_pb_buf g = {0}, n1 = {0}, n2 = {0}, a = {0}, b = {0}, vx = {0}, vz = {0}, op = {0};
  nnd__ow_attr_float(&a, "alpha", 0.1f);
  nnd__ow_encode_simple_node(&n1, "LeakyRelu", "lrelu", "x", "y");
  nnd_pb_put_len(&n1, 5, a.data, a.size);
  nnd_pb_put_string(&n2, 1, "y");
  nnd_pb_put_string(&n2, 1, "b");
  nnd_pb_put_string(&n2, 2, "z");
  nnd_pb_put_string(&n2, 3, "add");
  nnd_pb_put_string(&n2, 4, "Add");
  nnd_shape s = {0};
  s.rank = 2;
  s.dims[0].size = 1;
  s.dims[1].size = 4;
  float bias[4] = {1, 2, 3, 4};
  nnd__ow_encode_new_tensor(&b, "b", NND__ONNX_FLOAT, &s, bias, sizeof bias);
  nnd__ow_encode_value_info(&vx, "x", NND__ONNX_FLOAT, &s);
  nnd__ow_encode_value_info(&vz, "z", NND__ONNX_FLOAT, &s);
  nnd_pb_put_len(&g, 1, n1.data, n1.size);
  nnd_pb_put_len(&g, 1, n2.data, n2.size);
  nnd_pb_put_string(&g, 2, "g");
  nnd_pb_put_len(&g, 5, b.data, b.size);
  nnd_pb_put_len(&g, 11, vx.data, vx.size);
  nnd_pb_put_len(&g, 12, vz.data, vz.size);
  nnd_pb_put_varint_field(&op, 2, 13);
  nnd_pb_put_varint_field(m, 1, 8);
  nnd_pb_put_string(m, 2, "test");
  nnd_pb_put_len(m, 7, g.data, g.size);
  nnd_pb_put_len(m, 8, op.data, op.size);
  nnd_pb_buf *all[] = {&g, &n1, &n2, &a, &b, &vx, &vz, &op};
  for (size_t i = 0; i < sizeof all / sizeof all[0]; i++)
    nnd_pb_buf_free(all[i]);
}

static void *read_all(const char *path, size_t *n) {
  *n = 0;
  FILE *f = fopen(path, "rb");
  if (!f) return NULL;
  fseek(f, 0, SEEK_END);
  long size = ftell(f);
  fseek(f, 0, SEEK_SET);
  void *p = malloc((size_t)size + 1);
  *n = fread(p, 1, (size_t)size, f);
  fclose(f);
  return p;
}

/* A fresh folder (dir: a mkdtemp template) holding the model as src. */
static bool model_file(char *dir, char *src, size_t cap, nnd_pb_buf *m) {
  if (!mkdtemp(dir)) return false;
  snprintf(src, cap, "%s/m.onnx", dir);
  encode_model(m);
  FILE *f = fopen(src, "wb");
  bool ok = f && !m->failed && fwrite(m->data, 1, m->size, f) == m->size;
  if (f) fclose(f);
  return ok;
}

static int test_write_roundtrip(void) {
  char dir[] = "/tmp/nnd_onnx_write_XXXXXX";
  char src[128], out[128], bad[128];
  nnd_pb_buf m = {0};
  ASSERT_TRUE(model_file(dir, src, sizeof src, &m));
  snprintf(out, sizeof out, "%s/out.onnx", dir);
  snprintf(bad, sizeof bad, "%s/bad.onnx", dir);

  nnd_error err = {0};
  nnd_graph *g = NULL;
  ASSERT_EQ_INT(NND_OK, nnd_model_load(src, &g, &err));
  int32_t node = 0;
  while (node < g->n_nodes && strcmp(g->nodes[node].name, "lrelu") != 0)
    node++;
  ASSERT_TRUE(node < g->n_nodes);
  nnd_edit e[2];
  nnd_edit_init_node(&e[0], g, NND_EDIT_SET_ATTRS, node);
  e[0].attrs.alpha = 0.3f;
  double nb[4] = {-1, -2, -3, -4};
  nnd_edit_init_value(&e[1], g, NND_EDIT_SET_CONSTANT, nnd_graph_find_value(g, "b"));
  e[1].dtype = NND_DTYPE_F64;
  e[1].data = nb;
  e[1].nbytes = sizeof nb;
  ASSERT_EQ_INT(NND_OK, nnd_model_write_edited(src, g, e, 2, out, &err));

  nnd_graph *h = NULL;
  ASSERT_EQ_INT(NND_OK, nnd_onnx_load(out, &h, &err));
  ASSERT_NEAR(0.3, h->nodes[0].attrs.alpha, 1e-7);
  const nnd_value *b = &h->values[nnd_graph_find_value(h, "b")];
  for (int i = 0; i < 4; i++) {
    double v;
    ASSERT_TRUE(nnd_value_read_f64(b, i, &v));
    ASSERT_NEAR(nb[i], v, 0);
  }
  /* the node grew by nothing (alpha is 4 bytes either way) and the bias
   * was overwritten in place: same size, and the bytes before the first
   * node (ir_version, producer) are the source's */
  size_t n_src = 0, n_out = 1;
  uint8_t *a = read_all(src, &n_src), *o = read_all(out, &n_out);
  ASSERT_EQ_INT((int)n_src, (int)n_out);
  ASSERT_TRUE(memcmp(a, o, 8) == 0);
  free(a);
  free(o);
  nnd_graph_destroy(h);

  /* an edit of a node the model does not have: one line, nothing written */
  e[0].node = 99;
  err = (nnd_error){0};
  ASSERT_EQ_INT(NND_ERR_USAGE, nnd_model_write_edited(src, g, e, 1, bad, &err));
  ASSERT_CONTAINS(err.message, "edit 1");
  ASSERT_TRUE(strchr(err.message, '\n') == NULL);
  ASSERT_TRUE(access(bad, F_OK) != 0);
  /* never over the source */
  err = (nnd_error){0};
  ASSERT_TRUE(nnd_model_write_edited(src, g, e + 1, 1, src, &err) != NND_OK);
  ASSERT_CONTAINS(err.message, "replace its source");

  nnd_graph_destroy(g);
  nnd_pb_buf_free(&m);
  unlink(src);
  unlink(out);
  rmdir(dir);
  return 0;
}

/* Removing the node that computes a graph output keeps the output's name:
 * by renaming the tensor that replaces it, or through an Identity when
 * that tensor is a graph input. */
static int test_remove_graph_output(void) {
  char dir[] = "/tmp/nnd_onnx_write_XXXXXX";
  char src[128], out1[128], out2[128];
  nnd_pb_buf m = {0};
  ASSERT_TRUE(model_file(dir, src, sizeof src, &m));
  snprintf(out1, sizeof out1, "%s/one.onnx", dir);
  snprintf(out2, sizeof out2, "%s/two.onnx", dir);
  nnd_error err = {0};
  nnd_graph *g = NULL;
  ASSERT_EQ_INT(NND_OK, nnd_model_load(src, &g, &err));
  int32_t lrelu = strcmp(g->nodes[0].name, "lrelu") == 0 ? 0 : 1, add = 1 - lrelu;
  nnd_edit e[2];
  nnd_edit_init_node(&e[0], g, NND_EDIT_REMOVE_NODE, add);
  nnd_edit_init_node(&e[1], g, NND_EDIT_REMOVE_NODE, lrelu);
  ASSERT_EQ_INT(NND_OK, nnd_model_write_edited(src, g, e, 1, out1, &err));
  nnd_graph *h = NULL;
  ASSERT_EQ_INT(NND_OK, nnd_onnx_load(out1, &h, &err));
  ASSERT_EQ_INT(1, h->n_nodes);
  ASSERT_STR_EQ("LeakyRelu", h->nodes[0].prov.op_type);
  ASSERT_STR_EQ("z", h->values[h->nodes[0].outputs[0]].name);
  ASSERT_STR_EQ("z", h->values[h->outputs[0]].name);
  nnd_graph_destroy(h);
  ASSERT_EQ_INT(NND_OK, nnd_model_write_edited(src, g, e, 2, out2, &err));
  ASSERT_EQ_INT(NND_OK, nnd_onnx_load(out2, &h, &err));
  ASSERT_EQ_INT(1, h->n_nodes);
  ASSERT_STR_EQ("Identity", h->nodes[0].prov.op_type);
  ASSERT_STR_EQ("x", h->values[h->nodes[0].inputs[0]].name);
  ASSERT_STR_EQ("z", h->values[h->outputs[0]].name);
  nnd_graph_destroy(h);
  nnd_graph_destroy(g);
  nnd_pb_buf_free(&m);
  unlink(src);
  unlink(out1);
  unlink(out2);
  rmdir(dir);
  return 0;
}

NND_TEST_MAIN(NND_TEST(test_varint_roundtrip), NND_TEST(test_convert),
              NND_TEST(test_write_roundtrip), NND_TEST(test_remove_graph_output))
