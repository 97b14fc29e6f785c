/* nnd_graph_validate: operand counts, missing inputs, dangling tensors,
 * graph outputs, cycles, dtypes, constant data sizes and recorded shapes
 * that disagree with the inputs. */
#include "ir_test_util.h"
#include "nnd_test.h"

#define F32 NND_DTYPE_F32

#define VALIDATE_FAILS(g, msg)                                                                     \
  do {                                                                                             \
    nnd_error ie_ = {0};                                                                           \
    ASSERT_EQ_INT(NND_ERR_GRAPH, nnd_graph_validate(g, &ie_));                                     \
    ASSERT_CONTAINS(ie_.message, msg);                                                             \
  } while (0)

static int set_outputs(nnd_graph *g, int32_t v) {
  g->outputs = nnd_graph_alloc(g, 1, sizeof *g->outputs);
  if (!g->outputs) return 1;
  g->outputs[0] = v;
  g->n_outputs = 1;
  g->values[v].is_output = true;
  return 0;
}

/* x -> conv -> relu -> y, valid. */
static nnd_graph *small_net(int32_t *conv, int32_t *y) {
  nnd_graph *g = nnd_graph_create(NULL);
  int32_t x = tg_input(g, "x", F32, DIMS(SYM(0), 3, 8, 8));
  g->inputs = nnd_graph_alloc(g, 1, sizeof *g->inputs);
  g->inputs[0] = x;
  g->n_inputs = 1;
  int32_t w = tg_weight(g, "w", DIMS(4, 3, 3, 3)), c;
  *conv = NODE(g, NND_OP_CONV, "conv", &c, x, w);
  NODE(g, NND_OP_RELU, "relu", y, c);
  set_outputs(g, *y);
  return g;
}

static int test_valid_graph(void) {
  int32_t conv, y;
  nnd_graph *g = small_net(&conv, &y);
  nnd_error err = {0};
  ASSERT_EQ_INT(NND_OK, nnd_graph_validate(g, &err)); /* before inference: nothing recorded */
  ASSERT_EQ_INT(NND_OK, nnd_graph_infer_shapes(g, &err));
  ASSERT_EQ_INT(NND_OK, nnd_graph_validate(g, &err));
  ASSERT_STR_EQ("", err.message);
  nnd_graph_destroy(g);
  nnd_graph_destroy(NULL);
  ASSERT_EQ_INT(NND_ERR_USAGE, nnd_graph_validate(NULL, &err));
  return 0;
}

static int test_operand_counts(void) {
  int32_t conv, y;
  nnd_graph *g = small_net(&conv, &y);
  g->nodes[conv].n_inputs = 1;
  VALIDATE_FAILS(g, "node 'conv' (Conv) has 1 inputs; it needs 2 to 3");
  g->nodes[conv].n_inputs = 2;
  g->nodes[conv].inputs[1] = -1;
  VALIDATE_FAILS(g, "node 'conv' (Conv): input 1 is missing and is not optional");
  g->nodes[conv].inputs[1] = 12345;
  VALIDATE_FAILS(g, "node 'conv' (Conv): input 1 refers to tensor #12345, which does not exist");
  nnd_graph_destroy(g);

  g = nnd_graph_create(NULL);
  int32_t a = tg_input(g, "a", F32, DIMS(2)), out;
  NODE(g, NND_OP_ADD, "add3", &out, a, a, a);
  VALIDATE_FAILS(g, "node 'add3' (Add) has 3 inputs; it needs 2");
  nnd_error err = {0};
  ASSERT_EQ_INT(NND_ERR_GRAPH, nnd_graph_infer_shapes(g, &err)); /* inference checks them too */
  nnd_graph_destroy(g);

  g = nnd_graph_create(NULL);
  a = tg_input(g, "a", F32, DIMS(2));
  NODE(g, NND_OP_MAX, "max3", &out, a, a, a); /* variadic */
  ASSERT_EQ_INT(NND_OK, nnd_graph_infer_shapes(g, &err));
  ASSERT_EQ_INT(NND_OK, nnd_graph_validate(g, &err));
  nnd_graph_destroy(g);
  return 0;
}

static int test_dangling_and_outputs(void) {
  int32_t conv, y;
  nnd_graph *g = small_net(&conv, &y);
  int32_t ghost;
  nnd_graph_add_value(g, "ghost", &ghost, NULL);
  g->nodes[conv].inputs[1] = ghost;
  VALIDATE_FAILS(g, "node 'conv' (Conv) reads tensor 'ghost', which no node produces and which "
                    "is neither a graph input nor a constant");
  g->outputs[0] = ghost;
  g->nodes[conv].inputs[1] = 1;
  VALIDATE_FAILS(g, "graph output 'ghost' is not produced by any node");
  nnd_graph_destroy(g);
  return 0;
}

static int test_cycle(void) {
  nnd_graph *g = nnd_graph_create(NULL);
  int32_t p, q;
  nnd_graph_add_value(g, "p", &p, NULL);
  nnd_graph_add_value(g, "q", &q, NULL);
  nnd_graph_add_node(g, NND_OP_RELU, "P", &q, 1, &p, 1, NULL, NULL);
  nnd_graph_add_node(g, NND_OP_RELU, "Q", &p, 1, &q, 1, NULL, NULL);
  VALIDATE_FAILS(g, "cycle through node");
  nnd_error err = {0};
  ASSERT_EQ_INT(NND_ERR_GRAPH, nnd_graph_infer_shapes(g, &err));
  ASSERT_CONTAINS(err.message, "cycle");
  nnd_graph_destroy(g);
  return 0;
}

static int test_dtypes(void) {
  nnd_graph *g = nnd_graph_create(NULL);
  int32_t i = tg_input(g, "i", NND_DTYPE_I64, DIMS(4));
  int32_t f = tg_input(g, "f", F32, DIMS(4));
  int32_t fs = tg_input(g, "fs", F32, DIMS(1));
  int32_t y;
  int32_t n = NODE(g, NND_OP_SIGMOID, "sig", &y, i);
  VALIDATE_FAILS(g, "node 'sig' (Sigmoid): input 'i' is int64; this op needs floating-point (or "
                    "quantized) data");
  /* an int8 tensor with quantization parameters is fine */
  g->values[i].dtype = NND_DTYPE_I8;
  nnd_quant q = {1, (const float[]){0.5f}, (const int64_t[]){0}, 0};
  g->values[i].quant = &q;
  nnd_error err = {0};
  ASSERT_EQ_INT(NND_OK, nnd_graph_validate(g, &err));
  g->nodes[n].op = NND_OP_ADD;
  g->nodes[n].prov.op_type = "Add";
  g->nodes[n].n_inputs = 2;
  g->nodes[n].inputs = nnd_graph_alloc(g, 2, sizeof(int32_t));
  g->nodes[n].inputs[0] = f;
  g->nodes[n].inputs[1] = i;
  VALIDATE_FAILS(g, "node 'sig' (Add): inputs 'f' (float32) and 'i' (int8) have different dtypes");
  g->nodes[n].op = NND_OP_RESHAPE;
  g->nodes[n].prov.op_type = "Reshape";
  g->nodes[n].inputs[1] = fs;
  VALIDATE_FAILS(g, "node 'sig' (Reshape): input 1 'fs' is float32; it must hold integers");
  nnd_graph_destroy(g);
  return 0;
}

static int test_constant_sizes(void) {
  nnd_graph *g = nnd_graph_create(NULL);
  int32_t c = INTS(g, "c", 1, 2, 3);
  nnd_error err = {0};
  ASSERT_EQ_INT(NND_OK, nnd_graph_validate(g, &err));
  g->values[c].nbytes = 20;
  VALIDATE_FAILS(g, "tensor 'c' [3] of int64 holds 20 bytes; its shape needs 3 x 8");
  g->values[c].nbytes = 24;
  g->values[c].shape.dims[0].size = -1;
  VALIDATE_FAILS(g, "tensor 'c' holds data but its shape [?] is not a known size");
  nnd_graph_destroy(g);
  return 0;
}

static int test_recorded_shape_disagrees(void) {
  int32_t conv, y;
  nnd_graph *g = small_net(&conv, &y);
  nnd_error err = {0};
  ASSERT_EQ_INT(NND_OK, nnd_graph_infer_shapes(g, &err));
  g->values[y].shape.dims[2].size = 7; /* a stale value_info, say */
  VALIDATE_FAILS(g, "node 'relu' (Relu): output 'relu:0' is recorded as [batch,4,7,6] but its "
                    "inputs give [batch,4,6,6]");
  /* shape clashes surface through validate too */
  g->values[1].shape.dims[1].size = 5; /* weight in-channels */
  VALIDATE_FAILS(g, "node 'conv' (Conv): input has 3 channels but the weight expects 5 (groups 1)");
  nnd_graph_destroy(g);
  return 0;
}

NND_TEST_MAIN(NND_TEST(test_valid_graph), NND_TEST(test_operand_counts),
              NND_TEST(test_dangling_and_outputs), NND_TEST(test_cycle), NND_TEST(test_dtypes),
              NND_TEST(test_constant_sizes), NND_TEST(test_recorded_shape_disagrees))
