/* ONNX reader: models built byte by byte with a tiny protobuf writer, so the
 * tests need no Python and can make malformed files on purpose. */
#include <math.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "formats/onnx/onnx_internal.h"
#include "nnd_test.h"
#include "nndiff/ir.h"
#include "nndiff/onnx.h"

/* ------------------------------------------------------ protobuf writer */

typedef struct pbuf {
  uint8_t *p;
  size_t n, cap;
} pbuf;

static void pb_raw(pbuf *b, const void *data, size_t n) {
  if (b->n + n > b->cap) {
    b->cap = (b->n + n) * 2 + 64;
    b->p = realloc(b->p, b->cap);
  }
  if (n) memcpy(b->p + b->n, data, n);
  b->n += n;
}
static void pb_varint(pbuf *b, uint64_t v) {
  uint8_t tmp[10];
  size_t n = 0;
  do {
    tmp[n] = (uint8_t)(v & 0x7f);
    v >>= 7;
    if (v) tmp[n] |= 0x80;
    n++;
  } while (v);
  pb_raw(b, tmp, n);
}
static void pb_tag(pbuf *b, uint32_t field, int wire) {
  pb_varint(b, (uint64_t)field << 3 | (uint64_t)wire);
}
static void pb_int(pbuf *b, uint32_t field, int64_t v) {
  pb_tag(b, field, 0);
  pb_varint(b, (uint64_t)v);
}
static void pb_bytes(pbuf *b, uint32_t field, const void *data, size_t n) {
  pb_tag(b, field, 2);
  pb_varint(b, n);
  pb_raw(b, data, n);
}
static void pb_str(pbuf *b, uint32_t field, const char *s) { pb_bytes(b, field, s, strlen(s)); }
static void pb_float(pbuf *b, uint32_t field, float f) {
  uint32_t u;
  memcpy(&u, &f, 4);
  uint8_t le[4] = {(uint8_t)u, (uint8_t)(u >> 8), (uint8_t)(u >> 16), (uint8_t)(u >> 24)};
  pb_tag(b, field, 5);
  pb_raw(b, le, 4);
}
/* Appends sub as a LEN field and frees it. */
static void pb_msg(pbuf *b, uint32_t field, pbuf *sub) {
  pb_bytes(b, field, sub->p, sub->n);
  free(sub->p);
  memset(sub, 0, sizeof *sub);
}
static void pb_packed_ints(pbuf *b, uint32_t field, const int64_t *v, size_t n) {
  pbuf s = {0};
  for (size_t i = 0; i < n; i++)
    pb_varint(&s, (uint64_t)v[i]);
  pb_msg(b, field, &s);
}

/* ---------------------------------------------------------- ONNX pieces */

enum { ONNX_FLOAT = 1, ONNX_INT64 = 7 };

/* TensorProto with float raw_data (raw) or packed float_data. */
static void tensor_f32(pbuf *t, const char *name, const int64_t *dims, int nd, const float *v,
                       size_t n, bool raw) {
  for (int i = 0; i < nd; i++)
    pb_int(t, 1, dims[i]);
  pb_int(t, 2, ONNX_FLOAT);
  pb_str(t, 8, name);
  if (raw)
    pb_bytes(t, 9, v, n * 4);
  else
    pb_bytes(t, 4, v, n * 4); /* packed float_data */
}

static void attr_ints(pbuf *node, const char *name, const int64_t *v, size_t n) {
  pbuf a = {0};
  pb_str(&a, 1, name);
  pb_int(&a, 20, 7);
  pb_packed_ints(&a, 8, v, n);
  pb_msg(node, 5, &a);
}
static void attr_int(pbuf *node, const char *name, int64_t v) {
  pbuf a = {0};
  pb_str(&a, 1, name);
  pb_int(&a, 20, 2);
  pb_int(&a, 3, v);
  pb_msg(node, 5, &a);
}
static void attr_float(pbuf *node, const char *name, float v) {
  pbuf a = {0};
  pb_str(&a, 1, name);
  pb_int(&a, 20, 1);
  pb_float(&a, 2, v);
  pb_msg(node, 5, &a);
}

/* ValueInfoProto of a float tensor; dims < 0 are written as dim_param "batch". */
static void value_info(pbuf *g, uint32_t field, const char *name, const int64_t *dims, int nd) {
  pbuf vi = {0}, type = {0}, tt = {0}, shape = {0};
  pb_str(&vi, 1, name);
  pb_int(&tt, 1, ONNX_FLOAT);
  for (int i = 0; i < nd; i++) {
    pbuf d = {0};
    if (dims[i] < 0)
      pb_str(&d, 2, "batch");
    else
      pb_int(&d, 1, dims[i]);
    pb_msg(&shape, 1, &d);
  }
  if (nd >= 0) pb_msg(&tt, 2, &shape);
  pb_msg(&type, 1, &tt);
  pb_msg(&vi, 2, &type);
  pb_msg(g, field, &vi);
  free(shape.p);
}

static void node_io(pbuf *n, const char *op, const char *name, const char *const *in, int nin,
                    const char *const *out, int nout) {
  for (int i = 0; i < nin; i++)
    pb_str(n, 1, in[i]);
  for (int i = 0; i < nout; i++)
    pb_str(n, 2, out[i]);
  if (name) pb_str(n, 3, name);
  pb_str(n, 4, op);
}

/* ModelProto around graph g with one default-domain opset. */
static pbuf model(pbuf *g, int64_t opset) {
  pbuf m = {0}, op = {0};
  pb_int(&m, 1, 8);
  pb_str(&m, 2, "nndiff-test");
  pb_str(&m, 3, "1.0");
  pb_msg(&m, 7, g);
  pb_str(&op, 1, "");
  pb_int(&op, 2, opset);
  pb_msg(&m, 8, &op);
  return m;
}

static const float k_w[2 * 3 * 3 * 3] = {1, 2, 3, 4, 5, 6, 7, 8, 9};
static const float k_b[2] = {0.5f, -0.5f};

/* x[batch,3,8,8] -> Conv(w raw, b packed; strides 2, pads 1) -> Relu -> y.
 * w is also listed as a graph input, like old exporters do. */
static pbuf conv_model(const int64_t *strides, size_t n_strides) {
  pbuf g = {0}, t = {0}, n = {0};
  const int64_t wd[] = {2, 3, 3, 3}, bd[] = {2};
  tensor_f32(&t, "w", wd, 4, k_w, 54, true);
  pb_msg(&g, 5, &t);
  tensor_f32(&t, "b", bd, 1, k_b, 2, false);
  pb_msg(&g, 5, &t);
  const char *cin[] = {"x", "w", "b"}, *cout[] = {"c"};
  node_io(&n, "Conv", "Conv_12", cin, 3, cout, 1);
  const int64_t pads[] = {1, 1, 1, 1};
  attr_ints(&n, "strides", strides, n_strides);
  attr_ints(&n, "pads", pads, 4);
  attr_int(&n, "group", 1);
  pb_msg(&g, 1, &n);
  const char *rin[] = {"c"}, *rout[] = {"y"};
  node_io(&n, "Relu", NULL, rin, 1, rout, 1);
  pb_msg(&g, 1, &n);
  pb_str(&g, 2, "tiny");
  const int64_t xd[] = {-1, 3, 8, 8};
  value_info(&g, 11, "x", xd, 4);
  value_info(&g, 11, "w", wd, 4);
  value_info(&g, 12, "y", NULL, -1);
  return model(&g, 13);
}

static nnd_status load(const pbuf *m, nnd_graph **g, nnd_error *err) {
  return nnd_onnx_load_memory(m->p, m->n, NULL, g, err);
}

/* ---------------------------------------------------------------- tests */

static int test_conv_model(void) {
  const int64_t strides[] = {2, 2};
  pbuf m = conv_model(strides, 2);
  nnd_error err = {0};
  nnd_graph *g = NULL;
  ASSERT_EQ_INT(NND_OK, load(&m, &g, &err));
  ASSERT_STR_EQ("nndiff-test", g->info.producer_name);
  ASSERT_STR_EQ("1.0", g->info.producer_version);
  ASSERT_STR_EQ("tiny", g->info.graph_name);
  ASSERT_EQ_INT(NND_FORMAT_ONNX, g->info.format);
  ASSERT_EQ_INT(8, g->info.ir_version);
  ASSERT_EQ_INT(1, g->info.n_opsets);
  ASSERT_EQ_INT(13, g->info.opsets[0].version);
  ASSERT_EQ_INT(m.n, g->info.file_size);

  ASSERT_EQ_INT(1, g->n_inputs); /* w is an initializer, not an input */
  const nnd_value *x = &g->values[g->inputs[0]];
  ASSERT_STR_EQ("x", x->name);
  ASSERT_EQ_INT(NND_VALUE_INPUT, x->kind);
  ASSERT_EQ_INT(NND_DTYPE_F32, x->dtype);
  ASSERT_EQ_INT(4, x->shape.rank);
  ASSERT_EQ_INT(-1, x->shape.dims[0].size);
  ASSERT_STR_EQ("batch", x->shape.dims[0].symbol);
  ASSERT_EQ_INT(8, x->shape.dims[3].size);

  const nnd_value *w = &g->values[nnd_graph_find_value(g, "w")];
  ASSERT_EQ_INT(NND_VALUE_CONSTANT, w->kind);
  ASSERT_EQ_INT(216, w->nbytes);
  /* zero copy: raw_data and packed float_data point into the buffer */
  ASSERT_TRUE((const uint8_t *)w->data > m.p && (const uint8_t *)w->data < m.p + m.n);
  ASSERT_TRUE(memcmp(w->data, k_w, sizeof k_w) == 0);
  const nnd_value *b = &g->values[nnd_graph_find_value(g, "b")];
  ASSERT_TRUE((const uint8_t *)b->data > m.p && (const uint8_t *)b->data < m.p + m.n);
  double d;
  ASSERT_TRUE(nnd_value_read_f64(b, 1, &d));
  ASSERT_NEAR(-0.5, d, 0);
  ASSERT_EQ_INT(NND_FORMAT_ONNX, b->prov.format);
  ASSERT_EQ_INT(1, b->prov.index);

  ASSERT_EQ_INT(2, g->n_nodes);
  const nnd_node *conv = &g->nodes[0];
  ASSERT_EQ_INT(NND_OP_CONV, conv->op);
  ASSERT_STR_EQ("Conv_12", conv->name);
  ASSERT_STR_EQ("Conv", conv->prov.op_type);
  ASSERT_STR_EQ("", conv->prov.domain);
  ASSERT_EQ_INT(0, conv->prov.index);
  ASSERT_EQ_INT(2, conv->attrs.conv.n_spatial);
  ASSERT_EQ_INT(3, conv->attrs.conv.kernel[0]); /* from the weight: no kernel_shape */
  ASSERT_EQ_INT(3, conv->attrs.conv.kernel[1]);
  ASSERT_EQ_INT(2, conv->attrs.conv.strides[1]);
  ASSERT_EQ_INT(1, conv->attrs.conv.pads_begin[0]);
  ASSERT_EQ_INT(1, conv->attrs.conv.pads_end[1]);
  ASSERT_EQ_INT(1, conv->attrs.conv.groups);
  ASSERT_EQ_INT(NND_WLAYOUT_OIHW, conv->attrs.conv.weight_layout);
  ASSERT_EQ_INT(3, conv->n_inputs);
  const nnd_node *relu = &g->nodes[1];
  ASSERT_EQ_INT(NND_OP_RELU, relu->op);
  ASSERT_STR_EQ("y", relu->name); /* unnamed node: named after its output */
  ASSERT_STR_EQ("", relu->prov.name);
  ASSERT_EQ_INT(1, g->n_outputs);
  ASSERT_TRUE(g->values[g->outputs[0]].is_output);
  nnd_graph_destroy(g);
  free(m.p);
  return 0;
}

static int test_bad_strides_message(void) {
  const int64_t strides[] = {1, 1, 1};
  pbuf m = conv_model(strides, 3);
  nnd_error err = {0};
  nnd_graph *g = NULL;
  ASSERT_EQ_INT(NND_ERR_FORMAT, load(&m, &g, &err));
  ASSERT_TRUE(g == NULL);
  ASSERT_STR_EQ("<memory>: node 'Conv_12' (Conv): attribute 'strides' has 3 values but the "
                "kernel is 2-D",
                err.message);
  free(m.p);
  const int64_t zero[] = {1, 0};
  m = conv_model(zero, 2);
  nnd_error err2 = {0};
  ASSERT_EQ_INT(NND_ERR_FORMAT, load(&m, &g, &err2));
  ASSERT_CONTAINS(err2.message, "attribute 'strides' has value 0 at index 1; it must be > 0");
  free(m.p);
  return 0;
}

/* Every truncation of a valid model fails cleanly with a message. */
static int test_truncations(void) {
  const int64_t strides[] = {2, 2};
  pbuf m = conv_model(strides, 2);
  for (size_t n = 0; n < m.n; n++) { /* success needs the whole graph */
    uint8_t *copy = malloc(n ? n : 1);
    memcpy(copy, m.p, n);
    nnd_error err = {0};
    nnd_graph *g = NULL;
    nnd_status st = nnd_onnx_load_memory(copy, n, NULL, &g, &err);
    if (st == NND_OK)
      nnd_graph_destroy(g);
    else
      ASSERT_TRUE(err.message[0] != '\0');
    free(copy);
  }
  /* cut inside the graph: the graph field claims more than is left */
  nnd_error err = {0};
  nnd_graph *g = NULL;
  ASSERT_EQ_INT(NND_ERR_FORMAT, nnd_onnx_load_memory(m.p, 40, NULL, &g, &err));
  ASSERT_CONTAINS(err.message, "<memory>: offset 21: truncated: length-delimited field 7 needs");
  free(m.p);
  return 0;
}

/* A graph with one initializer `t` feeding Identity -> y. */
static pbuf one_tensor_model(pbuf *t) {
  pbuf g = {0}, n = {0};
  pb_msg(&g, 5, t);
  const char *in[] = {"t"}, *out[] = {"y"};
  node_io(&n, "Identity", NULL, in, 1, out, 1);
  pb_msg(&g, 1, &n);
  value_info(&g, 12, "y", NULL, -1);
  return model(&g, 13);
}

static int test_tensor_errors(void) {
  static const struct {
    int64_t dims[2];
    int dtype;
    size_t raw_bytes;
    nnd_status st;
    const char *msg;
  } cases[] = {
      {{2, 3},
       ONNX_FLOAT,
       20,
       NND_ERR_FORMAT,
       "tensor 't': raw_data has 20 bytes, but 6 float32 elements need 24"},
      {{2, -3}, ONNX_FLOAT, 24, NND_ERR_FORMAT, "tensor 't' has negative dim -3 at index 1"},
      {{2, 3}, 77, 24, NND_ERR_FORMAT, "tensor 't' has unknown element type 77"},
      {{2, 3}, 0, 24, NND_ERR_FORMAT, "tensor 't' has no element type"},
      {{2, 3}, 15, 24, NND_ERR_UNSUPPORTED, "tensor 't' has element type COMPLEX128"},
      {{INT64_C(1) << 31, INT64_C(1) << 31},
       ONNX_FLOAT,
       24,
       NND_ERR_FORMAT,
       "tensor 't': byte size overflows"},
  };
  static const uint8_t zeros[32];
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    pbuf t = {0};
    pb_int(&t, 1, cases[i].dims[0]);
    pb_int(&t, 1, cases[i].dims[1]);
    pb_int(&t, 2, cases[i].dtype);
    pb_str(&t, 8, "t");
    pb_bytes(&t, 9, zeros, cases[i].raw_bytes);
    pbuf m = one_tensor_model(&t);
    nnd_error err = {0};
    nnd_graph *g = NULL;
    ASSERT_EQ_INT(cases[i].st, load(&m, &g, &err));
    ASSERT_CONTAINS(err.message, cases[i].msg);
    free(m.p);
  }
  return 0;
}

static int test_int64_data_and_unpacked_floats(void) {
  /* int64_data packed, with a negative value: decoded into the arena */
  pbuf t = {0};
  pb_int(&t, 1, 3);
  pb_int(&t, 2, ONNX_INT64);
  pb_str(&t, 8, "t");
  const int64_t v[] = {-1, 0, INT64_C(1) << 40};
  pb_packed_ints(&t, 7, v, 3);
  pbuf m = one_tensor_model(&t);
  nnd_error err = {0};
  nnd_graph *g = NULL;
  ASSERT_EQ_INT(NND_OK, load(&m, &g, &err));
  const nnd_value *tv = &g->values[nnd_graph_find_value(g, "t")];
  ASSERT_EQ_INT(NND_DTYPE_I64, tv->dtype);
  ASSERT_EQ_INT(24, tv->nbytes);
  int64_t x;
  ASSERT_TRUE(nnd_value_read_i64(tv, 0, &x));
  ASSERT_EQ_INT(-1, x);
  ASSERT_TRUE(nnd_value_read_i64(tv, 2, &x));
  ASSERT_EQ_INT(INT64_C(1) << 40, x);
  nnd_graph_destroy(g);
  free(m.p);

  /* float_data as separate fixed32 records: copied, same values */
  pb_int(&t, 1, 2);
  pb_int(&t, 2, ONNX_FLOAT);
  pb_str(&t, 8, "t");
  pb_float(&t, 4, 1.5f);
  pb_float(&t, 4, -2.0f);
  m = one_tensor_model(&t);
  ASSERT_EQ_INT(NND_OK, load(&m, &g, &err));
  tv = &g->values[nnd_graph_find_value(g, "t")];
  double d;
  ASSERT_TRUE(nnd_value_read_f64(tv, 1, &d));
  ASSERT_NEAR(-2.0, d, 0);
  ASSERT_TRUE(!((const uint8_t *)tv->data >= m.p && (const uint8_t *)tv->data < m.p + m.n));
  nnd_graph_destroy(g);
  free(m.p);

  /* float_data with fewer values than dims say */
  pb_int(&t, 1, 3);
  pb_int(&t, 2, ONNX_FLOAT);
  pb_str(&t, 8, "t");
  pb_float(&t, 4, 1.5f);
  m = one_tensor_model(&t);
  nnd_error err2 = {0};
  ASSERT_EQ_INT(NND_ERR_FORMAT, load(&m, &g, &err2));
  ASSERT_CONTAINS(err2.message, "tensor 't': float_data has 1 values, dims say 3");
  free(m.p);
  return 0;
}

/* Constant nodes become constant values (no node); unknown ops and other
 * domains load as unsupported with their names kept. */
static int test_constants_and_unsupported(void) {
  pbuf g = {0}, n = {0};
  const char *none[] = {NULL};
  const char *cout[] = {"k"};
  node_io(&n, "Constant", "const0", none, 0, cout, 1);
  const int64_t ks[] = {1, -2, 3};
  attr_ints(&n, "value_ints", ks, 3);
  pb_msg(&g, 1, &n);
  const char *fin[] = {"x", "k"}, *fout[] = {"f"};
  node_io(&n, "FooBar", "foo", fin, 2, fout, 1);
  pb_msg(&g, 1, &n);
  const char *rin[] = {"f"}, *rout[] = {"y"};
  node_io(&n, "Relu", "custom_relu", rin, 1, rout, 1);
  pb_str(&n, 7, "com.example");
  pb_msg(&g, 1, &n);
  const int64_t xd[] = {2};
  value_info(&g, 11, "x", xd, 1);
  value_info(&g, 12, "y", NULL, -1);
  pbuf m = model(&g, 13);
  nnd_error err = {0};
  nnd_graph *gr = NULL;
  ASSERT_EQ_INT(NND_OK, load(&m, &gr, &err));
  ASSERT_EQ_INT(2, gr->n_nodes);
  const nnd_value *k = &gr->values[nnd_graph_find_value(gr, "k")];
  ASSERT_EQ_INT(NND_VALUE_CONSTANT, k->kind);
  ASSERT_EQ_INT(NND_DTYPE_I64, k->dtype);
  ASSERT_EQ_INT(1, k->shape.rank);
  ASSERT_EQ_INT(3, k->shape.dims[0].size);
  ASSERT_STR_EQ("Constant", k->prov.op_type);
  ASSERT_STR_EQ("const0", k->prov.name);
  ASSERT_EQ_INT(0, k->prov.index);
  int64_t v;
  ASSERT_TRUE(nnd_value_read_i64(k, 1, &v));
  ASSERT_EQ_INT(-2, v);
  const nnd_node *foo = &gr->nodes[0];
  ASSERT_EQ_INT(NND_OP_UNSUPPORTED, foo->op);
  ASSERT_STR_EQ("FooBar", foo->prov.op_type);
  ASSERT_EQ_INT(2, foo->n_inputs);
  ASSERT_EQ_INT(nnd_graph_find_value(gr, "k"), foo->inputs[1]);
  const nnd_node *cr = &gr->nodes[1];
  ASSERT_EQ_INT(NND_OP_UNSUPPORTED, cr->op);
  ASSERT_STR_EQ("Relu", cr->prov.op_type);
  ASSERT_STR_EQ("com.example", cr->prov.domain);
  ASSERT_EQ_INT(2, nnd_graph_count_unsupported(gr));
  nnd_graph_destroy(gr);
  free(m.p);
  return 0;
}

/* Clip bounds: attributes before opset 11, constant inputs from 11. */
static int test_clip_forms(void) {
  for (int form = 0; form < 2; form++) {
    pbuf g = {0}, n = {0}, t = {0};
    const int64_t sd[1] = {0};
    const float lo = 0.0f, hi = 6.0f;
    if (form == 1) {
      tensor_f32(&t, "lo", sd, 0, &lo, 1, true);
      pb_msg(&g, 5, &t);
      tensor_f32(&t, "hi", sd, 0, &hi, 1, false);
      pb_msg(&g, 5, &t);
    }
    const char *in[] = {"x", "lo", "hi"}, *out[] = {"y"};
    node_io(&n, "Clip", "clip", in, form == 1 ? 3 : 1, out, 1);
    if (form == 0) {
      attr_float(&n, "min", lo);
      attr_float(&n, "max", hi);
    }
    pb_msg(&g, 1, &n);
    const int64_t xd[] = {4};
    value_info(&g, 11, "x", xd, 1);
    value_info(&g, 12, "y", NULL, -1);
    pbuf m = model(&g, form == 0 ? 6 : 13);
    nnd_error err = {0};
    nnd_graph *gr = NULL;
    ASSERT_EQ_INT(NND_OK, load(&m, &gr, &err));
    ASSERT_EQ_INT(NND_OP_CLIP, gr->nodes[0].op);
    ASSERT_NEAR(0.0, gr->nodes[0].attrs.clip_min, 0);
    ASSERT_NEAR(6.0, gr->nodes[0].attrs.clip_max, 0);
    nnd_graph_destroy(gr);
    free(m.p);
  }
  return 0;
}

static int test_external_data_refused_in_memory(void) {
  pbuf t = {0}, kv = {0};
  pb_int(&t, 1, 2);
  pb_int(&t, 2, ONNX_FLOAT);
  pb_str(&t, 8, "t");
  pb_str(&kv, 1, "location");
  pb_str(&kv, 2, "weights.bin");
  pb_msg(&t, 13, &kv);
  pb_int(&t, 14, 1);
  pbuf m = one_tensor_model(&t);
  nnd_error err = {0};
  nnd_graph *g = NULL;
  ASSERT_EQ_INT(NND_ERR_UNSUPPORTED, load(&m, &g, &err));
  ASSERT_CONTAINS(err.message, "tensor 't' keeps its data in external file 'weights.bin'");
  free(m.p);
  return 0;
}

/* A tensor whose data lives in `location` at offset/length (NULL: absent). */
static pbuf external_model(const char *location, const char *offset, const char *length) {
  pbuf t = {0}, kv = {0};
  pb_int(&t, 1, 2);
  pb_int(&t, 2, ONNX_FLOAT);
  pb_str(&t, 8, "t");
  const char *keys[] = {"location", "offset", "length"};
  const char *vals[] = {location, offset, length};
  for (int i = 0; i < 3; i++) {
    if (!vals[i]) continue;
    pb_str(&kv, 1, keys[i]);
    pb_str(&kv, 2, vals[i]);
    pb_msg(&t, 13, &kv);
  }
  pb_int(&t, 14, 1);
  return one_tensor_model(&t);
}

static int write_file(const char *path, const void *data, size_t n) {
  FILE *f = fopen(path, "wb");
  if (!f) return 1;
  size_t w = fwrite(data, 1, n, f);
  return fclose(f) != 0 || w != n;
}

/* Loads the external-data model from dir/model.onnx; returns the status. */
static nnd_status load_external(const char *dir, const char *location, const char *offset,
                                const char *length, nnd_graph **g, nnd_error *err) {
  char path[512];
  snprintf(path, sizeof path, "%s/model.onnx", dir);
  pbuf m = external_model(location, offset, length);
  int bad = write_file(path, m.p, m.n);
  free(m.p);
  if (bad) return NND_ERR_IO;
  return nnd_onnx_load(path, g, err);
}

static int test_external_data_files(void) {
  char dir[] = "/tmp/nnd_test_onnx_XXXXXX";
  ASSERT_TRUE(mkdtemp(dir) != NULL);
  char path[512], outside[512], link[512], model_path[512];
  const float w[4] = {1, 2, 3, 4};
  snprintf(path, sizeof path, "%s/weights.bin", dir);
  ASSERT_EQ_INT(0, write_file(path, w, sizeof w));
  snprintf(outside, sizeof outside, "%s.outside", dir);
  ASSERT_EQ_INT(0, write_file(outside, w, sizeof w));
  snprintf(link, sizeof link, "%s/link.bin", dir);
  ASSERT_EQ_INT(0, symlink(outside, link));
  snprintf(model_path, sizeof model_path, "%s/model.onnx", dir);

  nnd_graph *g = NULL;
  nnd_error err = {0};
  ASSERT_EQ_INT(NND_OK, load_external(dir, "weights.bin", "8", "8", &g, &err));
  const nnd_value *t = &g->values[nnd_graph_find_value(g, "t")];
  double d;
  ASSERT_EQ_INT(8, t->nbytes);
  ASSERT_TRUE(nnd_value_read_f64(t, 0, &d));
  ASSERT_NEAR(3.0, d, 0);
  ASSERT_TRUE(nnd_value_read_f64(t, 1, &d));
  ASSERT_NEAR(4.0, d, 0);
  ASSERT_STR_EQ(model_path, g->info.path);
  nnd_graph_destroy(g);

  static const struct {
    const char *location, *offset, *length;
    nnd_status st;
    const char *msg;
  } bad[] = {
      {"../weights.bin", NULL, NULL, NND_ERR_FORMAT, "must be a relative path inside"},
      {"/etc/hostname", NULL, NULL, NND_ERR_FORMAT, "must be a relative path inside"},
      {"link.bin", NULL, NULL, NND_ERR_FORMAT, "'link.bin' resolves outside the model's folder"},
      {"weights.bin", "12", NULL, NND_ERR_FORMAT,
       "external data needs 8 bytes at offset 12, but 'weights.bin' has 16 bytes"},
      {"weights.bin", NULL, "4", NND_ERR_FORMAT, "external data length is 4 bytes"},
      {"weights.bin", "x", NULL, NND_ERR_FORMAT, "offset 'x' is not a non-negative integer"},
      {"missing.bin", NULL, NULL, NND_ERR_IO, "cannot be opened"},
  };
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    nnd_error e = {0};
    g = NULL;
    ASSERT_EQ_INT(bad[i].st,
                  load_external(dir, bad[i].location, bad[i].offset, bad[i].length, &g, &e));
    ASSERT_TRUE(g == NULL);
    ASSERT_CONTAINS(e.message, bad[i].msg);
  }
  unlink(link);
  unlink(outside);
  unlink(path);
  unlink(model_path);
  rmdir(dir);
  return 0;
}

static int test_not_a_model(void) {
  nnd_error err = {0};
  nnd_graph *g = NULL;
  ASSERT_EQ_INT(NND_ERR_FORMAT, nnd_onnx_load_memory("", 0, NULL, &g, &err));
  ASSERT_CONTAINS(err.message, "holds no graph");
  const uint8_t groups[] = {0x0b, 0x0c};
  nnd_error err2 = {0};
  ASSERT_EQ_INT(NND_ERR_FORMAT, nnd_onnx_load_memory(groups, 2, NULL, &g, &err2));
  ASSERT_STR_EQ("<memory>: offset 0: field 1 uses wire type 3 (deprecated group), which no model "
                "format uses",
                err2.message);
  nnd_error err3 = {0};
  ASSERT_EQ_INT(NND_ERR_IO, nnd_onnx_load("/nonexistent/model.onnx", &g, &err3));
  return 0;
}

static int test_op_table_sorted(void) {
  size_t n;
  const nnd__onnx_op_entry *t = nnd__onnx_op_table(&n);
  ASSERT_TRUE(n > 50);
  for (size_t i = 0; i < n; i++) {
    if (i) ASSERT_TRUE(strcmp(t[i - 1].op_type, t[i].op_type) < 0);
    ASSERT_TRUE(nnd__onnx_find_op(t[i].op_type) == &t[i]);
  }
  ASSERT_TRUE(nnd__onnx_find_op("Constant") == NULL); /* handled by the importer */
  ASSERT_TRUE(nnd__onnx_find_op("NoSuchOp") == NULL);
  return 0;
}

/* Every node, initializer and attribute knows the bytes of the file that
 * state it, so a writer can patch them: the spans are found back in the
 * model bytes the builder wrote. */
static int test_byte_spans(void) {
  const int64_t strides[] = {2, 2};
  pbuf m = conv_model(strides, 2);
  nnd_error err = {0};
  nnd_graph *g = NULL;
  ASSERT_EQ_INT(NND_OK, load(&m, &g, &err));
  const unsigned char *base = m.p;
  /* the Conv node: its NodeProto bytes start with input "x" (field 1) */
  const nnd_node *conv = &g->nodes[0];
  ASSERT_STR_EQ("Conv_12", conv->name);
  ASSERT_TRUE(conv->prov.stated);
  ASSERT_TRUE(conv->prov.length > 0 && conv->prov.offset + conv->prov.length <= m.n);
  ASSERT_EQ_INT(0x0a, base[conv->prov.offset]);      /* tag of field 1, bytes */
  ASSERT_EQ_INT('x', base[conv->prov.offset + 2]);   /* "x" */
  /* its three attributes, each inside the node, names where they say */
  ASSERT_EQ_INT(3, conv->n_attr_spans);
  ASSERT_STR_EQ("strides", conv->attr_spans[0].name);
  ASSERT_STR_EQ("group", conv->attr_spans[2].name);
  for (int k = 0; k < 3; k++) {
    const nnd_attr_span *a = &conv->attr_spans[k];
    ASSERT_TRUE(a->offset > conv->prov.offset &&
                a->offset + a->length <= conv->prov.offset + conv->prov.length);
    size_t nl = strlen(a->name);
    ASSERT_EQ_INT(nl, base[a->offset + 1]); /* field 1 (name): tag, length, bytes */
    ASSERT_TRUE(memcmp(base + a->offset + 2, a->name, nl) == 0);
  }
  /* w is raw_data: its bytes are k_w, in place; b is packed float_data */
  const nnd_value *w = &g->values[nnd_graph_find_value(g, "w")];
  ASSERT_TRUE(w->data_offset > 0);
  ASSERT_TRUE(memcmp(base + w->data_offset, k_w, sizeof k_w) == 0);
  ASSERT_TRUE(w->prov.stated && w->prov.length > sizeof k_w);
  ASSERT_TRUE((uint64_t)w->data_offset >= w->prov.offset &&
              (uint64_t)w->data_offset + sizeof k_w <= w->prov.offset + w->prov.length);
  /* computed values state nothing */
  const nnd_value *c = &g->values[nnd_graph_find_value(g, "c")];
  ASSERT_TRUE(!c->prov.stated && c->prov.length == 0 && c->data_offset == -1);
  nnd_graph_destroy(g);
  free(m.p);
  return 0;
}

NND_TEST_MAIN(NND_TEST(test_conv_model), NND_TEST(test_byte_spans), NND_TEST(test_bad_strides_message),
              NND_TEST(test_truncations), NND_TEST(test_tensor_errors),
              NND_TEST(test_int64_data_and_unpacked_floats),
              NND_TEST(test_constants_and_unsupported), NND_TEST(test_clip_forms),
              NND_TEST(test_external_data_refused_in_memory), NND_TEST(test_external_data_files),
              NND_TEST(test_not_a_model), NND_TEST(test_op_table_sorted))
