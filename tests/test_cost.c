/* Cost model: parameters, MACs and FLOPs of hand-built graphs against
 * numbers worked out by hand from the definitions in docs/METRICS.md. */
#include "nnd_test.h"
#include "nndiff/cost.h"
#include "nndiff/ir.h"

/* Adds a value of the given kind, dtype and shape; dims < 0 are unknown and
 * named "batch". Returns its index (or -1, which the ops below reject). */
static int32_t add_val(nnd_graph *g, const char *name, nnd_value_kind kind, nnd_dtype dtype,
                       int rank, const int64_t *dims) {
  nnd_error err = {0};
  int32_t id;
  if (nnd_graph_add_value(g, name, &id, &err) != NND_OK) return -1;
  nnd_value *v = &g->values[id];
  v->kind = kind;
  v->dtype = dtype;
  v->shape.rank = rank;
  for (int i = 0; i < rank; i++) {
    v->shape.dims[i].size = dims[i];
    v->shape.dims[i].symbol = dims[i] < 0 ? "batch" : NULL;
  }
  return id;
}

#define DIMS(...) (const int64_t[]){__VA_ARGS__}, (int)(sizeof((int64_t[]){__VA_ARGS__}) / 8)
#define ACT(g, name, ...)                                                                          \
  add_shaped(g, name, NND_VALUE_ACTIVATION, NND_DTYPE_F32, DIMS(__VA_ARGS__))
#define CONST(g, name, ...)                                                                        \
  add_shaped(g, name, NND_VALUE_CONSTANT, NND_DTYPE_F32, DIMS(__VA_ARGS__))
#define INPUT(g, name, ...) add_shaped(g, name, NND_VALUE_INPUT, NND_DTYPE_F32, DIMS(__VA_ARGS__))

static int32_t add_shaped(nnd_graph *g, const char *name, nnd_value_kind kind, nnd_dtype dtype,
                          const int64_t *dims, int rank) {
  return add_val(g, name, kind, dtype, rank, dims);
}

/* Adds a node and returns its index (-1 on failure). */
static int32_t node(nnd_graph *g, nnd_op op, const char *name, const int32_t *in, int n_in,
                    int32_t out) {
  nnd_error err = {0};
  int32_t id;
  if (nnd_graph_add_node(g, op, name, in, n_in, &out, 1, &id, &err) != NND_OK) {
    fprintf(stderr, "add_node %s: %s\n", name, err.message);
    return -1;
  }
  return id;
}

static void set_conv(nnd_graph *g, int32_t n, int64_t k, int64_t stride, int64_t groups) {
  nnd_conv_attrs *c = &g->nodes[n].attrs.conv;
  c->n_spatial = 2;
  c->kernel[0] = c->kernel[1] = k;
  c->strides[0] = c->strides[1] = stride;
  c->groups = groups;
}

static int test_grouped_and_depthwise_conv(void) {
  nnd_error err = {0};
  nnd_graph *g = nnd_graph_create(&err);
  int32_t x = INPUT(g, "x", 1, 32, 56, 56);
  int32_t w = CONST(g, "w", 64, 8, 3, 3); /* groups 4: Cin/groups = 8 */
  int32_t b = CONST(g, "b", 64);
  int32_t y = ACT(g, "y", 1, 64, 56, 56);
  int32_t n0 = node(g, NND_OP_CONV, "conv", (int32_t[]){x, w, b}, 3, y);
  ASSERT_TRUE(n0 >= 0);
  set_conv(g, n0, 3, 1, 4);
  g->nodes[n0].act.kind = NND_ACT_RELU; /* fused: 1 flop per output */
  /* Depthwise, stride 2, no bias, kernel taken from the weight's dims. */
  int32_t wd = CONST(g, "wd", 64, 1, 3, 3);
  int32_t z = ACT(g, "z", 1, 64, 28, 28);
  int32_t n1 = node(g, NND_OP_CONV, "dw", (int32_t[]){y, wd}, 2, z);
  g->nodes[n1].attrs.conv.groups = 64;

  nnd_node_cost per[2], total;
  ASSERT_EQ_INT(NND_OK, nnd_cost_compute(g, per, &total, &err));
  /* 64*56*56 = 200704 outputs, each 8*3*3 = 72 MACs. */
  ASSERT_EQ_INT(200704LL * 72, per[0].macs);
  ASSERT_EQ_INT(2 * 200704LL * 72 + 200704 /* bias */ + 200704 /* relu */, per[0].flops);
  ASSERT_EQ_INT(64 * 8 * 9 + 64, per[0].parameters);
  /* 64*28*28 = 50176 outputs, each 1*9 MACs. */
  ASSERT_EQ_INT(50176LL * 9, per[1].macs);
  ASSERT_EQ_INT(2 * 50176LL * 9, per[1].flops);
  ASSERT_EQ_INT(64 * 9, per[1].parameters);
  ASSERT_EQ_INT(per[0].macs + per[1].macs, total.macs);
  ASSERT_EQ_INT(per[0].flops + per[1].flops, total.flops);
  ASSERT_EQ_INT(4672 + 576, total.parameters);
  ASSERT_EQ_INT(0, total.uncounted);
  nnd_graph_destroy(g);
  return 0;
}

static int test_conv_layouts(void) {
  /* TFLite-style NHWC conv with OHWI weights, and Keras HWIO: same MACs. */
  nnd_error err = {0};
  nnd_graph *g = nnd_graph_create(&err);
  int32_t x = INPUT(g, "x", 1, 16, 16, 3);
  int32_t w1 = CONST(g, "w1", 8, 3, 3, 3); /* OHWI */
  int32_t w2 = CONST(g, "w2", 3, 3, 3, 8); /* HWIO */
  int32_t w3 = CONST(g, "w3", 1, 3, 3, 3); /* 1HWO depthwise */
  int32_t y1 = ACT(g, "y1", 1, 16, 16, 8);
  int32_t y2 = ACT(g, "y2", 1, 16, 16, 8);
  int32_t y3 = ACT(g, "y3", 1, 16, 16, 3);
  int32_t n1 = node(g, NND_OP_CONV, "c1", (int32_t[]){x, w1}, 2, y1);
  int32_t n2 = node(g, NND_OP_CONV, "c2", (int32_t[]){x, w2}, 2, y2);
  int32_t n3 = node(g, NND_OP_CONV, "c3", (int32_t[]){x, w3}, 2, y3);
  g->nodes[n1].attrs.conv.layout = NND_LAYOUT_NHWC;
  g->nodes[n1].attrs.conv.weight_layout = NND_WLAYOUT_OHWI;
  g->nodes[n2].attrs.conv.layout = NND_LAYOUT_NHWC;
  g->nodes[n2].attrs.conv.weight_layout = NND_WLAYOUT_HWIO;
  g->nodes[n3].attrs.conv.layout = NND_LAYOUT_NHWC;
  g->nodes[n3].attrs.conv.weight_layout = NND_WLAYOUT_1HWO;
  g->nodes[n3].attrs.conv.groups = 3;
  nnd_node_cost per[3];
  ASSERT_EQ_INT(NND_OK, nnd_cost_compute(g, per, NULL, &err));
  ASSERT_EQ_INT(16 * 16 * 8 * 27, per[0].macs);
  ASSERT_EQ_INT(16 * 16 * 8 * 27, per[1].macs);
  ASSERT_EQ_INT(16 * 16 * 3 * 9, per[2].macs);
  nnd_graph_destroy(g);
  return 0;
}

static int test_conv_transpose(void) {
  nnd_error err = {0};
  nnd_graph *g = nnd_graph_create(&err);
  int32_t x = INPUT(g, "x", 1, 16, 8, 8);
  int32_t w = CONST(g, "w", 16, 8, 4, 4); /* ONNX: [Cin, Cout/groups, kh, kw] */
  int32_t b = CONST(g, "b", 8);
  int32_t y = ACT(g, "y", 1, 8, 16, 16);
  int32_t n = node(g, NND_OP_CONV_TRANSPOSE, "up", (int32_t[]){x, w, b}, 3, y);
  set_conv(g, n, 4, 2, 1);
  nnd_node_cost c;
  ASSERT_EQ_INT(NND_OK, nnd_cost_compute(g, &c, NULL, &err));
  /* Each of the 16*8*8 = 1024 inputs scatters into 8 channels * 16 taps. */
  ASSERT_EQ_INT(1024 * 8 * 16, c.macs);
  ASSERT_EQ_INT(2 * 1024 * 8 * 16 + 8 * 16 * 16, c.flops);
  ASSERT_EQ_INT(16 * 8 * 16 + 8, c.parameters);
  nnd_graph_destroy(g);
  return 0;
}

static int test_gemm_symbolic_batch(void) {
  nnd_error err = {0};
  nnd_graph *g = nnd_graph_create(&err);
  int32_t a = INPUT(g, "a", -1, 512);
  int32_t b = CONST(g, "fc.weight", 1000, 512);
  int32_t c = CONST(g, "fc.bias", 1000);
  int32_t y = ACT(g, "y", -1, 1000);
  int32_t n = node(g, NND_OP_GEMM, "fc", (int32_t[]){a, b, c}, 3, y);
  g->nodes[n].attrs.trans_b = true;
  nnd_node_cost cost;
  ASSERT_EQ_INT(NND_OK, nnd_cost_compute(g, &cost, NULL, &err));
  ASSERT_EQ_INT(512000, cost.macs); /* batch counts as 1 */
  ASSERT_EQ_INT(1024000 + 1000, cost.flops);
  ASSERT_EQ_INT(513000, cost.parameters);
  /* alpha != 1 and beta != 1 each cost one multiply per output. */
  g->nodes[n].attrs.alpha = 0.5f;
  g->nodes[n].attrs.beta = 2.0f;
  ASSERT_EQ_INT(NND_OK, nnd_cost_compute(g, &cost, NULL, &err));
  ASSERT_EQ_INT(1024000 + 3000, cost.flops);
  nnd_graph_destroy(g);
  return 0;
}

static int test_batchnorm_parameters(void) {
  nnd_error err = {0};
  nnd_graph *g = nnd_graph_create(&err);
  int32_t x = INPUT(g, "x", 1, 16, 8, 8);
  int32_t s = CONST(g, "bn.weight", 16);
  int32_t b = CONST(g, "bn.bias", 16);
  int32_t m = CONST(g, "bn.running_mean", 16);
  int32_t v = CONST(g, "bn.running_var", 16);
  int32_t y = ACT(g, "y", 1, 16, 8, 8);
  ASSERT_TRUE(node(g, NND_OP_BATCH_NORM, "bn", (int32_t[]){x, s, b, m, v}, 5, y) >= 0);
  nnd_node_cost c;
  ASSERT_EQ_INT(NND_OK, nnd_cost_compute(g, &c, NULL, &err));
  ASSERT_EQ_INT(32, c.parameters); /* scale and shift, not the statistics */
  ASSERT_EQ_INT(0, c.macs);
  ASSERT_EQ_INT(2 * 1024, c.flops);
  nnd_graph_destroy(g);
  return 0;
}

static int test_shared_weight_counted_once(void) {
  nnd_error err = {0};
  nnd_graph *g = nnd_graph_create(&err);
  int32_t x = INPUT(g, "x", 4, 64);
  int32_t w = CONST(g, "w", 64, 64);
  int32_t h = ACT(g, "h", 4, 64);
  int32_t y = ACT(g, "y", 4, 64);
  /* Tied weights: both MatMuls read the same constant. File order is
   * reversed so the count must follow topological order. */
  int32_t n_second = node(g, NND_OP_MATMUL, "second", (int32_t[]){h, w}, 2, y);
  int32_t n_first = node(g, NND_OP_MATMUL, "first", (int32_t[]){x, w}, 2, h);
  /* torch.onnx's de-duplication: a distinct parameter with the same values
   * as w is written as Identity(w); it is a tensor of its own. */
  int32_t wc = ACT(g, "w_copy", 64, 64);
  int32_t z = ACT(g, "z", 4, 64);
  int32_t n_id = node(g, NND_OP_IDENTITY, "dedup", &w, 1, wc);
  int32_t n_third = node(g, NND_OP_MATMUL, "third", (int32_t[]){y, wc}, 2, z);
  nnd_node_cost per[4], total;
  ASSERT_EQ_INT(NND_OK, nnd_cost_compute(g, per, &total, &err));
  ASSERT_EQ_INT(4096, per[n_first].parameters); /* first in topological order */
  ASSERT_EQ_INT(0, per[n_second].parameters);
  ASSERT_EQ_INT(0, per[n_id].parameters);
  ASSERT_EQ_INT(4096, per[n_third].parameters);
  ASSERT_EQ_INT(2 * 4096, total.parameters);
  ASSERT_EQ_INT(4 * 64 * 64, per[n_first].macs);
  ASSERT_EQ_INT(2 * 4 * 64 * 64 * 3, total.flops);
  nnd_graph_destroy(g);
  return 0;
}

static int test_matmul_split_bias_and_batch(void) {
  /* torch Linear on [batch, seq, in] exports as MatMul + Add(bias). */
  nnd_error err = {0};
  nnd_graph *g = nnd_graph_create(&err);
  int32_t x = INPUT(g, "x", -1, 10, 64);
  int32_t w = CONST(g, "w", 64, 32);
  int32_t b = CONST(g, "b", 32);
  int32_t h = ACT(g, "h", -1, 10, 32);
  int32_t y = ACT(g, "y", -1, 10, 32);
  int32_t s = CONST(g, "scale", 1); /* a scalar constant is not a parameter */
  int32_t z = ACT(g, "z", -1, 10, 32);
  node(g, NND_OP_MATMUL, "mm", (int32_t[]){x, w}, 2, h);
  int32_t n_add = node(g, NND_OP_ADD, "add", (int32_t[]){b, h}, 2, y);
  int32_t n_mul = node(g, NND_OP_MUL, "mul", (int32_t[]){y, s}, 2, z);
  /* Batched MatMul of two activations: batch * M * N * K. */
  int32_t q = INPUT(g, "q", 8, 10, 16);
  int32_t k = INPUT(g, "k", 8, 16, 10);
  int32_t att = ACT(g, "att", 8, 10, 10);
  int32_t n_bmm = node(g, NND_OP_MATMUL, "bmm", (int32_t[]){q, k}, 2, att);
  nnd_node_cost per[4], total;
  ASSERT_EQ_INT(NND_OK, nnd_cost_compute(g, per, &total, &err));
  ASSERT_EQ_INT(10 * 32 * 64, per[0].macs);
  ASSERT_EQ_INT(32, per[n_add].parameters);
  ASSERT_EQ_INT(320, per[n_add].flops);
  ASSERT_EQ_INT(0, per[n_mul].parameters);
  ASSERT_EQ_INT(320, per[n_mul].flops);
  ASSERT_EQ_INT(8 * 10 * 10 * 16, per[n_bmm].macs);
  ASSERT_EQ_INT(0, per[n_bmm].parameters);
  ASSERT_EQ_INT(2048 + 32, total.parameters);
  nnd_graph_destroy(g);
  return 0;
}

static int test_shape_arithmetic_is_free(void) {
  nnd_error err = {0};
  nnd_graph *g = nnd_graph_create(&err);
  int32_t x = INPUT(g, "x", 1, 512, 1, 1);
  int32_t shp = ACT(g, "shp", 4);
  g->values[shp].dtype = NND_DTYPE_I64;
  int32_t two = add_val(g, "two", NND_VALUE_CONSTANT, NND_DTYPE_I64, 1, (int64_t[]){2});
  int32_t shp2 = add_val(g, "shp2", NND_VALUE_ACTIVATION, NND_DTYPE_I64, 1, (int64_t[]){4});
  int32_t target = add_val(g, "target", NND_VALUE_CONSTANT, NND_DTYPE_I64, 1, (int64_t[]){2});
  int32_t y = ACT(g, "y", 1, 512);
  node(g, NND_OP_SHAPE, "shape", &x, 1, shp);
  int32_t n_mul = node(g, NND_OP_MUL, "mul", (int32_t[]){shp, two}, 2, shp2);
  /* An int64 constant feeding a shape op is never a parameter. */
  int32_t n_r = node(g, NND_OP_RESHAPE, "flat", (int32_t[]){x, target}, 2, y);
  nnd_node_cost per[3], total;
  ASSERT_EQ_INT(NND_OK, nnd_cost_compute(g, per, &total, &err));
  ASSERT_EQ_INT(0, per[n_mul].flops);
  ASSERT_EQ_INT(0, per[n_r].flops);
  ASSERT_EQ_INT(0, total.parameters);
  ASSERT_EQ_INT(0, total.flops);
  ASSERT_EQ_INT(0, total.uncounted);
  nnd_graph_destroy(g);
  return 0;
}

static int test_pooling_and_elementwise(void) {
  nnd_error err = {0};
  nnd_graph *g = nnd_graph_create(&err);
  int32_t x = INPUT(g, "x", 1, 64, 112, 112);
  int32_t p = ACT(g, "p", 1, 64, 56, 56);
  int32_t a = ACT(g, "a", 1, 64, 28, 28);
  int32_t gp = ACT(g, "gp", 1, 64, 1, 1);
  int32_t r = ACT(g, "r", 1, 64);
  int32_t sm = ACT(g, "sm", 1, 64);
  int32_t mx = ACT(g, "mx", 1, 64);
  int32_t n_max = node(g, NND_OP_MAX_POOL, "maxpool", &x, 1, p);
  g->nodes[n_max].attrs.pool.n_spatial = 2;
  g->nodes[n_max].attrs.pool.kernel[0] = g->nodes[n_max].attrs.pool.kernel[1] = 3;
  int32_t n_avg = node(g, NND_OP_AVG_POOL, "avgpool", &p, 1, a);
  g->nodes[n_avg].attrs.pool.n_spatial = 2;
  g->nodes[n_avg].attrs.pool.kernel[0] = g->nodes[n_avg].attrs.pool.kernel[1] = 2;
  int32_t n_gap = node(g, NND_OP_GLOBAL_AVG_POOL, "gap", &a, 1, gp);
  int32_t n_rm = node(g, NND_OP_REDUCE_MEAN, "mean", &gp, 1, r);
  int32_t n_sm = node(g, NND_OP_SOFTMAX, "softmax", &r, 1, sm);
  int32_t n_mx = node(g, NND_OP_MAX, "max3", (int32_t[]){r, sm, r}, 3, mx);
  nnd_node_cost per[6];
  ASSERT_EQ_INT(NND_OK, nnd_cost_compute(g, per, NULL, &err));
  ASSERT_EQ_INT(200704 * 9, per[n_max].flops);
  ASSERT_EQ_INT(50176 * (4 + 1), per[n_avg].flops);
  ASSERT_EQ_INT(50176 + 64, per[n_gap].flops);
  ASSERT_EQ_INT(64 + 64, per[n_rm].flops);
  ASSERT_EQ_INT(64 * 5, per[n_sm].flops);
  ASSERT_EQ_INT(64 * 2, per[n_mx].flops);
  for (int i = 0; i < 6; i++)
    ASSERT_EQ_INT(0, per[i].macs);
  nnd_graph_destroy(g);
  return 0;
}

static int test_quantized_weights(void) {
  /* QDQ ONNX: int8 weight -> DequantizeLinear -> Conv. The int8 tensor is
   * the parameter; the scale feeding Dequantize is not. */
  nnd_error err = {0};
  nnd_graph *g = nnd_graph_create(&err);
  int32_t x = INPUT(g, "x", 1, 8, 4, 4);
  int32_t wq = add_val(g, "wq", NND_VALUE_CONSTANT, NND_DTYPE_I8, 4, (int64_t[]){8, 8, 1, 1});
  int32_t sc = CONST(g, "scale", 8);
  int32_t wf = ACT(g, "wf", 8, 8, 1, 1);
  int32_t y = ACT(g, "y", 1, 8, 4, 4);
  int32_t n_dq = node(g, NND_OP_DEQUANTIZE, "dq", (int32_t[]){wq, sc}, 2, wf);
  int32_t n_conv = node(g, NND_OP_CONV, "conv", (int32_t[]){x, wf}, 2, y);
  nnd_node_cost per[2], total;
  ASSERT_EQ_INT(NND_OK, nnd_cost_compute(g, per, &total, &err));
  ASSERT_EQ_INT(64, per[n_conv].parameters);
  ASSERT_EQ_INT(0, per[n_dq].parameters);
  ASSERT_EQ_INT(64, total.parameters);
  ASSERT_EQ_INT(16 * 8 * 8, per[n_conv].macs);
  ASSERT_EQ_INT(64 * 2, per[n_dq].flops);
  nnd_graph_destroy(g);
  return 0;
}

static int test_unknown_is_flagged(void) {
  nnd_error err = {0};
  nnd_graph *g = nnd_graph_create(&err);
  int32_t x = INPUT(g, "x", 1, 8);
  int32_t u = ACT(g, "u", 1, 8);
  int32_t r = add_val(g, "r", NND_VALUE_ACTIVATION, NND_DTYPE_F32, -1, NULL);
  int32_t n_u = node(g, NND_OP_UNSUPPORTED, "weird", &x, 1, u);
  g->nodes[n_u].prov.op_type = "FancyOp";
  int32_t n_r = node(g, NND_OP_RELU, "relu", &u, 1, r);
  nnd_node_cost per[2], total;
  ASSERT_EQ_INT(NND_OK, nnd_cost_compute(g, per, &total, &err));
  ASSERT_EQ_INT(1, per[n_u].uncounted);
  ASSERT_EQ_INT(1, per[n_r].uncounted); /* output rank unknown */
  ASSERT_EQ_INT(2, total.uncounted);
  ASSERT_EQ_INT(0, total.flops);
  nnd_graph_destroy(g);
  return 0;
}

static int test_every_op_has_a_formula(void) {
  for (int op = 0; op < NND_OP_COUNT; op++) {
    nnd_error err = {0};
    nnd_graph *g = nnd_graph_create(&err);
    int32_t a = INPUT(g, "a", 1, 4, 8, 8);
    int32_t b = CONST(g, "b", 4, 4, 1, 1);
    int32_t c = CONST(g, "c", 4);
    int32_t y = ACT(g, "y", 1, 4, 8, 8);
    ASSERT_TRUE(node(g, (nnd_op)op, "n", (int32_t[]){a, b, c}, 3, y) >= 0);
    nnd_node_cost total;
    nnd_status st = nnd_cost_compute(g, NULL, &total, &err);
    if (st != NND_OK) fprintf(stderr, "op %s: %s\n", nnd_op_name((nnd_op)op), err.message);
    ASSERT_EQ_INT(NND_OK, st);
    nnd_graph_destroy(g);
  }
  return 0;
}

static int test_cycle_and_overflow(void) {
  nnd_error err = {0};
  nnd_graph *g = nnd_graph_create(&err);
  int32_t p = ACT(g, "p", 4);
  int32_t q = ACT(g, "q", 4);
  node(g, NND_OP_RELU, "P", &q, 1, p);
  node(g, NND_OP_RELU, "Q", &p, 1, q);
  nnd_node_cost total;
  ASSERT_EQ_INT(NND_ERR_GRAPH, nnd_cost_compute(g, NULL, &total, &err));
  nnd_graph_destroy(g);

  nnd_error_clear(&err);
  g = nnd_graph_create(&err);
  int32_t x = INPUT(g, "x", 1LL << 24, 1LL << 24);
  int32_t w = CONST(g, "w", 1LL << 24, 1LL << 24);
  int32_t y = ACT(g, "y", 1LL << 24, 1LL << 24);
  node(g, NND_OP_MATMUL, "huge", (int32_t[]){x, w}, 2, y);
  ASSERT_EQ_INT(NND_ERR_FORMAT, nnd_cost_compute(g, NULL, &total, &err));
  ASSERT_CONTAINS(err.message, "'huge'");
  nnd_graph_destroy(g);
  return 0;
}

NND_TEST_MAIN(NND_TEST(test_grouped_and_depthwise_conv), NND_TEST(test_conv_layouts),
              NND_TEST(test_conv_transpose), NND_TEST(test_gemm_symbolic_batch),
              NND_TEST(test_batchnorm_parameters), NND_TEST(test_shared_weight_counted_once),
              NND_TEST(test_matmul_split_bias_and_batch), NND_TEST(test_shape_arithmetic_is_free),
              NND_TEST(test_pooling_and_elementwise), NND_TEST(test_quantized_weights),
              NND_TEST(test_unknown_is_flagged), NND_TEST(test_every_op_has_a_formula),
              NND_TEST(test_cycle_and_overflow))
