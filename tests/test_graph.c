/* Graph construction: name index, producers, topological order, cycles. */
#include "nnd_test.h"
#include "nndiff/ir.h"

static int test_values_and_index(void) {
  nnd_error err = {0};
  nnd_graph *g = nnd_graph_create(&err);
  ASSERT_TRUE(g);
  char name[32];
  for (int i = 0; i < 1000; i++) {
    snprintf(name, sizeof name, "t%d", i);
    int32_t id = -1;
    ASSERT_EQ_INT(NND_OK, nnd_graph_add_value(g, name, &id, &err));
    ASSERT_EQ_INT(i, id);
  }
  ASSERT_EQ_INT(537, nnd_graph_find_value(g, "t537"));
  ASSERT_EQ_INT(-1, nnd_graph_find_value(g, "nope"));
  ASSERT_EQ_INT(NND_ERR_FORMAT, nnd_graph_add_value(g, "t5", NULL, &err));
  ASSERT_CONTAINS(err.message, "'t5' is defined twice");
  nnd_graph_destroy(g);
  nnd_graph_destroy(NULL);
  return 0;
}

static int test_topo_order_and_cycle(void) {
  nnd_error err = {0};
  nnd_graph *g = nnd_graph_create(&err);
  int32_t x, a, b, c;
  ASSERT_EQ_INT(NND_OK, nnd_graph_add_value(g, "x", &x, &err));
  g->values[x].kind = NND_VALUE_INPUT;
  nnd_graph_add_value(g, "a", &a, &err);
  nnd_graph_add_value(g, "b", &b, &err);
  nnd_graph_add_value(g, "c", &c, &err);
  /* File order: c = relu(b); b = relu(a); a = relu(x): reversed. */
  ASSERT_EQ_INT(NND_OK, nnd_graph_add_node(g, NND_OP_RELU, "n_c", &b, 1, &c, 1, NULL, &err));
  ASSERT_EQ_INT(NND_OK, nnd_graph_add_node(g, NND_OP_RELU, "", &a, 1, &b, 1, NULL, &err));
  ASSERT_EQ_INT(NND_OK, nnd_graph_add_node(g, NND_OP_RELU, "n_a", &x, 1, &a, 1, NULL, &err));
  ASSERT_STR_EQ("b", g->nodes[1].name); /* unnamed node takes its output's name */
  int32_t order[3];
  ASSERT_EQ_INT(NND_OK, nnd_graph_topo_order(g, order, &err));
  ASSERT_EQ_INT(2, order[0]);
  ASSERT_EQ_INT(1, order[1]);
  ASSERT_EQ_INT(0, order[2]);
  /* A second producer of 'a' is refused and named. */
  ASSERT_EQ_INT(NND_ERR_GRAPH, nnd_graph_add_node(g, NND_OP_RELU, "dup", &x, 1, &a, 1, NULL, &err));
  ASSERT_CONTAINS(err.message, "'a' is produced twice");
  nnd_graph_destroy(g);

  g = nnd_graph_create(&err);
  nnd_error_clear(&err);
  nnd_graph_add_value(g, "p", &a, &err);
  nnd_graph_add_value(g, "q", &b, &err);
  nnd_graph_add_node(g, NND_OP_RELU, "P", &b, 1, &a, 1, NULL, &err);
  nnd_graph_add_node(g, NND_OP_RELU, "Q", &a, 1, &b, 1, NULL, &err);
  ASSERT_EQ_INT(NND_ERR_GRAPH, nnd_graph_topo_order(g, order, &err));
  ASSERT_CONTAINS(err.message, "cycle");
  nnd_graph_destroy(g);
  return 0;
}

static int test_shape_helpers(void) {
  nnd_shape s = {.rank = 4, .dims = {{-1, "batch"}, {3, 0}, {224, 0}, {224, 0}}};
  char buf[64];
  nnd_shape_format(&s, buf, sizeof buf);
  ASSERT_STR_EQ("[batch,3,224,224]", buf);
  int64_t n = 0;
  ASSERT_TRUE(nnd_shape_numel(&s, &n));
  ASSERT_EQ_INT(3 * 224 * 224, n);
  ASSERT_TRUE(!nnd_shape_is_static(&s));
  nnd_shape huge = {.rank = 3, .dims = {{1LL << 40, 0}, {1LL << 40, 0}, {1, 0}}};
  ASSERT_TRUE(!nnd_shape_numel(&huge, &n));
  return 0;
}

NND_TEST_MAIN(NND_TEST(test_values_and_index), NND_TEST(test_topo_order_and_cycle),
              NND_TEST(test_shape_helpers))
