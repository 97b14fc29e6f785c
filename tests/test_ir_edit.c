/* Graph editing (ir_edit.h) and the passes (passes.h): clones are
 * independent, edits keep value indices, folding computes what the
 * arithmetic says, dead nodes go, and a broken edit is refused. */
#include <math.h>
#include <stdlib.h>

#include "ir_test_util.h"
#include "nnd_test.h"
#include "nndiff/ir_edit.h"
#include "nndiff/passes.h"

static float fval(const nnd_graph *g, int32_t v, int64_t i) {
  double d = NAN;
  nnd_value_read_f64(&g->values[v], i, &d);
  return (float)d;
}

/* x -> Relu -> y; w (const) -> Identity -> wi; Mul(y, wi) -> out */
static nnd_graph *small_graph(int32_t *x, int32_t *w, int32_t *wi, int32_t *out) {
  nnd_error err = {0};
  nnd_graph *g = nnd_graph_create(&err);
  *x = tg_input(g, "x", NND_DTYPE_F32, DIMS(1, 3));
  g->inputs = nnd_graph_alloc(g, 1, sizeof(int32_t));
  g->inputs[0] = *x;
  g->n_inputs = 1;
  *w = tg_floats(g, "w", 3, (const float[]){1.f, 2.f, 3.f});
  int32_t y;
  NODE(g, NND_OP_RELU, "relu", &y, *x);
  NODE(g, NND_OP_IDENTITY, "tie", wi, *w);
  NODE(g, NND_OP_MUL, "mul", out, y, *wi);
  g->outputs = nnd_graph_alloc(g, 1, sizeof(int32_t));
  g->outputs[0] = *out;
  g->n_outputs = 1;
  g->values[*out].is_output = true;
  if (nnd_graph_infer_shapes(g, &err) != NND_OK) {
    fprintf(stderr, "%s\n", err.message);
    nnd_graph_destroy(g);
    return NULL;
  }
  return g;
}

static int test_clone_is_independent(void) {
  int32_t x, w, wi, out;
  nnd_graph *g = small_graph(&x, &w, &wi, &out);
  ASSERT_TRUE(g);
  nnd_graph *c = NULL;
  nnd_error err = {0};
  ASSERT_EQ_INT(NND_OK, nnd_graph_clone(g, &c, &err));
  ASSERT_EQ_INT(g->n_values, c->n_values);
  ASSERT_EQ_INT(g->n_nodes, c->n_nodes);
  ASSERT_EQ_INT(w, nnd_graph_find_value(c, "w"));
  /* Rewire the clone; the original keeps reading the Identity's output. */
  ASSERT_EQ_INT(NND_OK, nnd_graph_replace_uses(c, wi, w, &err));
  ASSERT_EQ_INT(w, c->nodes[2].inputs[1]);
  ASSERT_EQ_INT(wi, g->nodes[2].inputs[1]);
  nnd_graph_destroy(c);
  nnd_graph_destroy(g);
  return 0;
}

static int test_uses(void) {
  int32_t x, w, wi, out;
  nnd_graph *g = small_graph(&x, &w, &wi, &out);
  ASSERT_TRUE(g);
  nnd_uses *u = NULL;
  nnd_error err = {0};
  ASSERT_EQ_INT(NND_OK, nnd_uses_build(g, &u, &err));
  ASSERT_EQ_INT(1, nnd_uses_count(u, x));
  ASSERT_EQ_INT(0, nnd_uses_of(u, x)[0].node);
  ASSERT_EQ_INT(1, nnd_uses_count(u, out)); /* the graph output */
  ASSERT_EQ_INT(-1, nnd_uses_of(u, out)[0].node);
  ASSERT_EQ_INT(1, nnd_uses_of(u, wi)[0].slot);
  nnd_uses_destroy(u);
  nnd_graph_destroy(g);
  return 0;
}

static int test_fold_identity_and_dce(void) {
  int32_t x, w, wi, out;
  nnd_graph *g = small_graph(&x, &w, &wi, &out);
  ASSERT_TRUE(g);
  nnd_error err = {0};
  ASSERT_EQ_INT(NND_OK, nnd_passes_analysis_form(g, NULL, NULL, NULL, &err));
  /* the Identity is gone, its output is the tied constant itself */
  ASSERT_EQ_INT(2, g->n_nodes);
  ASSERT_EQ_INT(NND_VALUE_CONSTANT, g->values[wi].kind);
  ASSERT_EQ_INT(-1, g->values[wi].producer);
  ASSERT_TRUE(g->values[wi].data == g->values[w].data); /* borrowed, not copied */
  ASSERT_NEAR(3.f, fval(g, wi, 2), 0);
  ASSERT_EQ_INT(NND_OK, nnd_graph_validate(g, &err));
  nnd_graph_destroy(g);
  return 0;
}

static int test_fold_cast_f16_and_arithmetic(void) {
  nnd_error err = {0};
  nnd_graph *g = nnd_graph_create(&err);
  int32_t x = tg_input(g, "x", NND_DTYPE_F32, DIMS(2, 3));
  g->inputs = nnd_graph_alloc(g, 1, sizeof(int32_t));
  g->inputs[0] = x, g->n_inputs = 1;
  /* float16 weights [2,3] = 1, 0.5, -2, 65504, 2^-24 (subnormal), 0.1 (rounded) */
  static const uint16_t h[6] = {0x3c00, 0x3800, 0xc000, 0x7bff, 0x0001, 0x2e66};
  int32_t wh = tg_input(g, "wh", NND_DTYPE_F16, DIMS(2, 3));
  g->values[wh].kind = NND_VALUE_CONSTANT;
  g->values[wh].data = h;
  g->values[wh].nbytes = sizeof h;
  int32_t wf, s, t, y;
  int32_t cast = NODE(g, NND_OP_CAST, "cast", &wf, wh);
  g->nodes[cast].attrs.to = NND_DTYPE_F32;
  int32_t k = tg_floats(g, "k", 3, (const float[]){10.f, 100.f, 1000.f});
  NODE(g, NND_OP_MUL, "scale", &s, wf, k); /* broadcast [2,3] x [3] */
  int32_t tr = NODE(g, NND_OP_TRANSPOSE, "tr", &t, s);
  g->nodes[tr].attrs.n_perm = 2;
  g->nodes[tr].attrs.perm[0] = 1, g->nodes[tr].attrs.perm[1] = 0;
  int32_t tr2 = NODE(g, NND_OP_TRANSPOSE, "tr2", &y, t);
  g->nodes[tr2].attrs.n_perm = 2;
  g->nodes[tr2].attrs.perm[0] = 1, g->nodes[tr2].attrs.perm[1] = 0;
  int32_t sum;
  NODE(g, NND_OP_ADD, "add", &sum, x, y);
  g->outputs = nnd_graph_alloc(g, 1, sizeof(int32_t));
  g->outputs[0] = sum, g->n_outputs = 1;
  ASSERT_EQ_INT(NND_OK, nnd_graph_infer_shapes(g, &err));
  nnd_graph *c = NULL;
  ASSERT_EQ_INT(NND_OK, nnd_graph_clone(g, &c, &err));
  ASSERT_EQ_INT(NND_OK, nnd_passes_analysis_form(c, NULL, NULL, NULL, &err));
  ASSERT_EQ_INT(1, c->n_nodes); /* only the Add of the input is left */
  ASSERT_EQ_INT(NND_OP_ADD, c->nodes[0].op);
  /* the Cast keeps float32, the arithmetic is kept in float64 */
  ASSERT_EQ_INT(NND_DTYPE_F32, c->values[wf].dtype);
  ASSERT_EQ_INT(NND_DTYPE_F64, c->values[s].dtype);
  ASSERT_NEAR(65504.0, fval(c, wf, 3), 0);
  ASSERT_NEAR(ldexp(1.0, -24), fval(c, wf, 4), 0);
  ASSERT_NEAR(0.0999755859375, fval(c, wf, 5), 0);
  /* s = wf * k; y = transpose(transpose(s)) = s, and t is its transpose */
  ASSERT_NEAR(10.0, fval(c, y, 0), 0);
  ASSERT_NEAR(50.0, fval(c, y, 1), 0);
  ASSERT_NEAR(-2000.0, fval(c, y, 2), 0);
  ASSERT_NEAR(655040.0, fval(c, y, 3), 0);
  ASSERT_NEAR(655040.0, fval(c, t, 1), 0);      /* t[0][1] = s[1][0] */
  ASSERT_NEAR(99.9755859375, fval(c, y, 5), 0); /* 1000 x the float16 0.1 */
  /* engine form: results in the value's own dtype */
  nnd_graph *e = NULL;
  ASSERT_EQ_INT(NND_OK, nnd_graph_clone(g, &e, &err));
  nnd_pass_ctx ctx;
  nnd_pass_ctx_init(&ctx);
  const nnd_pass *const list[] = {&nnd_pass_fold_constants, &nnd_pass_dce};
  int64_t changes = 0;
  ASSERT_EQ_INT(NND_OK, nnd_passes_run(e, list, 2, &ctx, 0, &changes, &err));
  ASSERT_EQ_INT(4, changes);
  ASSERT_EQ_INT(NND_DTYPE_F32, e->values[s].dtype);
  ASSERT_EQ_INT(NND_OK, nnd_graph_validate(e, &err));
  /* the original is untouched */
  ASSERT_EQ_INT(5, g->n_nodes);
  nnd_graph_destroy(e);
  nnd_graph_destroy(c);
  nnd_graph_destroy(g);
  return 0;
}

static int test_dce_chain_and_edit_records(void) {
  int32_t x, w, wi, out;
  nnd_graph *g = small_graph(&x, &w, &wi, &out);
  ASSERT_TRUE(g);
  nnd_error err = {0};
  /* a dead chain: x -> Neg -> Abs, read by nobody */
  int32_t a, b;
  NODE(g, NND_OP_NEG, "neg", &a, x);
  NODE(g, NND_OP_ABS, "abs", &b, a);
  int64_t changes = 0;
  nnd_pass_ctx ctx;
  nnd_pass_ctx_init(&ctx);
  const nnd_pass *const list[] = {&nnd_pass_dce};
  ASSERT_EQ_INT(NND_OK, nnd_passes_run(g, list, 1, &ctx, 0, &changes, &err));
  ASSERT_EQ_INT(2, changes);
  ASSERT_EQ_INT(3, g->n_nodes);
  /* an edit record: Relu -> LeakyRelu(0.1), applied and formatted */
  nnd_edit e;
  nnd_edit_init_node(&e, g, NND_EDIT_SET_OP, 0);
  ASSERT_STR_EQ("relu", e.target_name);
  e.op = NND_OP_LEAKY_RELU;
  e.attrs.alpha = 0.1f;
  snprintf(e.field, sizeof e.field, "op");
  snprintf(e.old_text, sizeof e.old_text, "Relu");
  snprintf(e.new_text, sizeof e.new_text, "LeakyRelu(0.1)");
  ASSERT_EQ_INT(NND_OK, nnd_edit_apply(g, &e, &err));
  ASSERT_EQ_INT(NND_OP_LEAKY_RELU, g->nodes[0].op);
  char buf[256];
  nnd_edit_format(&e, buf, sizeof buf);
  ASSERT_STR_EQ("node 'relu': op Relu -> LeakyRelu(0.1)", buf);
  /* remove the Identity: its readers read the constant */
  nnd_edit r;
  nnd_edit_init_node(&r, g, NND_EDIT_REMOVE_NODE, 1);
  ASSERT_EQ_INT(NND_OK, nnd_edit_apply(g, &r, &err));
  ASSERT_EQ_INT(2, g->n_nodes);
  ASSERT_EQ_INT(w, g->nodes[1].inputs[1]);
  ASSERT_EQ_INT(NND_OK, nnd_graph_check_structure(g, &err));
  nnd_graph_destroy(g);
  return 0;
}

static int test_broken_edit_is_refused(void) {
  int32_t x, w, wi, out;
  nnd_graph *g = small_graph(&x, &w, &wi, &out);
  ASSERT_TRUE(g);
  nnd_error err = {0};
  /* the Relu reading its own consumer's output: a cycle */
  nnd_status st = nnd_graph_set_input(g, 0, 0, out, &err);
#ifndef NDEBUG
  ASSERT_EQ_INT(NND_ERR_INTERNAL, st);
  ASSERT_CONTAINS(err.message, "cycle");
#else
  (void)st;
  ASSERT_TRUE(nnd_graph_check_structure(g, &err) != NND_OK);
#endif
  ASSERT_EQ_INT(NND_ERR_USAGE, nnd_graph_replace_uses(g, x, 9999, &(nnd_error){0}));
  nnd_graph_destroy(g);
  return 0;
}

/* ADD_INPUT: a Gemm that lost its bias gets one back as a new constant
 * (the input list grows), and the clone's original is untouched. */
static int test_add_input(void) {
  nnd_error err = {0};
  nnd_graph *g = nnd_graph_create(&err);
  int32_t x = tg_input(g, "x", NND_DTYPE_F32, DIMS(1, 2));
  g->inputs = nnd_graph_alloc(g, 1, sizeof(int32_t));
  g->inputs[0] = x;
  g->n_inputs = 1;
  int32_t w = tg_floats(g, "w", 4, (const float[]){1.f, 0.f, 0.f, 1.f});
  g->values[w].shape.rank = 2;
  g->values[w].shape.dims[0].size = 2;
  g->values[w].shape.dims[1].size = 2;
  int32_t y;
  NODE(g, NND_OP_GEMM, "fc", &y, x, w);
  g->outputs = nnd_graph_alloc(g, 1, sizeof(int32_t));
  g->outputs[0] = y;
  g->n_outputs = 1;
  g->values[y].is_output = true;
  ASSERT_EQ_INT(NND_OK, nnd_graph_infer_shapes(g, &err));
  nnd_graph *c = NULL;
  ASSERT_EQ_INT(NND_OK, nnd_graph_clone(g, &c, &err));
  const float bias[2] = {0.5f, -2.f};
  nnd_edit e;
  nnd_edit_init_node(&e, c, NND_EDIT_ADD_INPUT, 0);
  e.slot = 2;
  e.dtype = NND_DTYPE_F32;
  e.shape.rank = 1;
  e.shape.dims[0].size = 2;
  e.data = bias;
  e.nbytes = sizeof bias;
  snprintf(e.new_name, sizeof e.new_name, "fc.bias");
  ASSERT_EQ_INT(NND_OK, nnd_edit_apply(c, &e, &err));
  ASSERT_EQ_INT(3, c->nodes[0].n_inputs);
  int32_t b = nnd_graph_find_value(c, "fc.bias");
  ASSERT_TRUE(b >= 0);
  ASSERT_EQ_INT(b, c->nodes[0].inputs[2]);
  ASSERT_TRUE(fval(c, b, 1) == -2.f);
  ASSERT_EQ_INT(2, g->nodes[0].n_inputs);
  ASSERT_EQ_INT(-1, nnd_graph_find_value(g, "fc.bias"));
  ASSERT_STR_EQ("add_input", nnd_edit_kind_name(NND_EDIT_ADD_INPUT));
  /* the same name twice is refused */
  e.slot = 2;
  ASSERT_EQ_INT(NND_ERR_USAGE, nnd_edit_apply(c, &e, &(nnd_error){0}));
  nnd_graph_destroy(c);
  nnd_graph_destroy(g);
  return 0;
}

/* Two Clips (opset 11 form) sharing their bound constants: new bounds on
 * one go into constants of its own, so shape inference, which reads the
 * bounds back from the inputs, keeps them, and the other Clip keeps its. */
static int test_clip_bounds_follow_attrs(void) {
  nnd_error err = {0};
  nnd_graph *g = nnd_graph_create(&err);
  int32_t x = tg_input(g, "x", NND_DTYPE_F32, DIMS(1, 2));
  g->inputs = nnd_graph_alloc(g, 1, sizeof(int32_t));
  g->inputs[0] = x;
  g->n_inputs = 1;
  int32_t lo = tg_floats(g, "lo", 1, (const float[]){0.f});
  int32_t hi = tg_floats(g, "hi", 1, (const float[]){6.f});
  int32_t y, z;
  NODE(g, NND_OP_CLIP, "clip1", &y, x, lo, hi);
  NODE(g, NND_OP_CLIP, "clip2", &z, y, lo, hi);
  g->outputs = nnd_graph_alloc(g, 1, sizeof(int32_t));
  g->outputs[0] = z;
  g->n_outputs = 1;
  g->values[z].is_output = true;
  ASSERT_EQ_INT(NND_OK, nnd_graph_infer_shapes(g, &err));
  ASSERT_TRUE(g->nodes[0].attrs.clip_max == 6.f);
  nnd_edit e;
  nnd_edit_init_node(&e, g, NND_EDIT_SET_ATTRS, 0);
  e.attrs.clip_max = 4.f;
  ASSERT_EQ_INT(NND_OK, nnd_edit_apply(g, &e, &err));
  ASSERT_EQ_INT(NND_OK, nnd_graph_infer_shapes(g, &err));
  ASSERT_EQ_INT(lo, g->nodes[0].inputs[1]); /* the bound that stays is shared still */
  int32_t own = g->nodes[0].inputs[2];
  ASSERT_TRUE(own >= 0 && own != hi);
  ASSERT_TRUE(fval(g, own, 0) == 4.f);
  ASSERT_TRUE(g->nodes[0].attrs.clip_max == 4.f);
  ASSERT_TRUE(fval(g, hi, 0) == 6.f);
  ASSERT_EQ_INT(hi, g->nodes[1].inputs[2]);
  ASSERT_TRUE(g->nodes[1].attrs.clip_max == 6.f);
  /* an infinite bound: the input goes */
  nnd_edit_init_node(&e, g, NND_EDIT_SET_ATTRS, 1);
  e.attrs.clip_max = INFINITY;
  ASSERT_EQ_INT(NND_OK, nnd_edit_apply(g, &e, &err));
  ASSERT_EQ_INT(NND_OK, nnd_graph_infer_shapes(g, &err));
  ASSERT_EQ_INT(-1, g->nodes[1].inputs[2]);
  ASSERT_TRUE(isinf(g->nodes[1].attrs.clip_max));
  nnd_graph_destroy(g);
  return 0;
}

NND_TEST_MAIN(NND_TEST(test_clone_is_independent), NND_TEST(test_uses), NND_TEST(test_add_input),
              NND_TEST(test_clip_bounds_follow_attrs),
              NND_TEST(test_fold_identity_and_dce), NND_TEST(test_fold_cast_f16_and_arithmetic),
              NND_TEST(test_dce_chain_and_edit_records), NND_TEST(test_broken_edit_is_refused))
