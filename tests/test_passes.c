/* The analysis normal form's rewrites (passes.h), each against the
 * arithmetic it claims: a BatchNorm behind tied initialisers folds into
 * its Conv with the formula's weights in float64, the Relu after it fuses,
 * a zero Pad joins the Conv's pads, the Reshape to [N, -1] becomes a
 * Flatten, inverse Transposes go, and the pass record names every file
 * node that was merged. Rewrites that would not be exact are left. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "ir_test_util.h"
#include "nnd_test.h"
#include "nndiff/ir_edit.h"
#include "nndiff/passes.h"

#define F32 NND_DTYPE_F32

static double read(const nnd_graph *g, int32_t v, int64_t i) {
  double d = NAN;
  nnd_value_read_f64(&g->values[v], i, &d);
  return d;
}

static int32_t find_node(const nnd_graph *g, const char *name) {
  for (int32_t i = 0; i < g->n_nodes; i++)
    if (strcmp(g->nodes[i].name, name) == 0) return i;
  return -1;
}

enum { C = 2, CI = 3 };
static const float W[C * CI * 9] = {0.1f,  -0.2f, 0.3f,  0.4f,   -0.5f, 0.6f,  0.7f,   0.8f,  -0.9f,
                                    1.0f,  1.1f,  -1.2f, 0.13f,  0.14f, 0.15f, -0.16f, 0.17f, 0.18f,
                                    0.19f, 0.2f,  0.21f, -0.22f, 0.23f, 0.24f, 0.25f,  0.26f, 0.27f,
                                    0.3f,  0.1f,  0.2f,  -0.3f,  0.4f,  0.5f,  0.6f,   -0.7f, 0.8f,
                                    0.9f,  1.1f,  1.2f,  1.3f,   -1.4f, 1.5f,  1.6f,   1.7f,  1.8f,
                                    -1.9f, 2.0f,  2.1f,  2.2f,   2.3f,  -2.4f, 2.5f,   2.6f,  2.7f};
static const float B[C] = {0.5f, -0.25f};
static const float GAMMA[C] = {1.5f, 0.75f}, BETA[C] = {0.1f, -0.3f}, MEAN[C] = {0.2f, -0.4f},
                   VAR[C] = {0.9f, 2.5f};

/* x[1,3,4,4] -> Pad(0, 1 px) -> Conv(3x3) -> BN(stats behind Identity) ->
 * Relu -> Reshape [1, 32] */
static nnd_graph *conv_bn_net(void) {
  nnd_graph *g = nnd_graph_create(NULL);
  int32_t x = tg_input(g, "x", F32, DIMS(1, CI, 4, 4)), p, c, h, r, y;
  int32_t np = NODE(g, NND_OP_PAD, "pad", &p, x);
  nnd_attrs *pa = &g->nodes[np].attrs;
  pa->has_pads = true;
  pa->n_pads = 4;
  pa->pads_begin[2] = pa->pads_begin[3] = pa->pads_end[2] = pa->pads_end[3] = 1;
  int32_t w = tg_const_f32(g, "w", DIMS(C, CI, 3, 3), W), b = tg_const_f32(g, "b", DIMS(C), B);
  NODE(g, NND_OP_CONV, "conv", &c, p, w, b);
  int32_t ga = tg_const_f32(g, "gamma", DIMS(C), GAMMA),
          be = tg_const_f32(g, "beta", DIMS(C), BETA), me = tg_const_f32(g, "mean", DIMS(C), MEAN),
          va = tg_const_f32(g, "var", DIMS(C), VAR), ti;
  NODE(g, NND_OP_IDENTITY, "tied_var", &ti, va); /* torch.onnx's tied initialisers */
  NODE(g, NND_OP_BATCH_NORM, "bn", &h, c, ga, be, me, ti);
  NODE(g, NND_OP_RELU, "relu", &r, h);
  int32_t shape = INTS(g, "shape", 1, -1);
  NODE(g, NND_OP_RESHAPE, "flat", &y, r, shape);
  tg_set_io(g, x, y);
  nnd_error err = {0};
  if (nnd_graph_infer_shapes(g, &err) != NND_OK) {
    fprintf(stderr, "%s\n", err.message);
    nnd_graph_destroy(g);
    return NULL;
  }
  return g;
}

static int test_conv_bn_relu_pad_flatten(void) {
  nnd_graph *g = conv_bn_net(), *f = NULL;
  ASSERT_TRUE(g != NULL);
  nnd_error err = {0};
  ASSERT_EQ_INT(NND_OK, nnd_graph_clone(g, &f, &err));
  nnd_pass_record rec;
  ASSERT_EQ_INT(NND_OK, nnd_pass_record_init(&rec, f, &err));
  ASSERT_EQ_INT(NND_OK, nnd_passes_analysis_form(f, NULL, NULL, &rec, &err));
  ASSERT_EQ_INT(2, f->n_nodes); /* conv (+bn +relu +pad), flatten */
  int32_t conv = find_node(f, "conv"), flat = find_node(f, "flat");
  ASSERT_TRUE(conv >= 0 && flat >= 0);
  const nnd_node *cn = &f->nodes[conv];
  ASSERT_EQ_INT(NND_ACT_RELU, cn->act.kind);
  ASSERT_EQ_INT(1, cn->attrs.conv.pads_begin[0]);
  ASSERT_EQ_INT(1, cn->attrs.conv.pads_end[1]);
  ASSERT_EQ_INT(nnd_graph_find_value(g, "x"), cn->inputs[0]);
  /* the conv writes the Relu's value: taps on the file's graph see the chain */
  ASSERT_EQ_INT(nnd_graph_find_value(g, "relu:0"), cn->outputs[0]);
  ASSERT_EQ_INT(NND_OP_FLATTEN, f->nodes[flat].op);
  ASSERT_EQ_INT(1, f->nodes[flat].attrs.axis);
  ASSERT_EQ_INT(1, f->nodes[flat].n_inputs);
  /* folded in double: W' = W s, b' = (b - mean) s + beta, s = gamma / sqrt(var + eps) */
  ASSERT_EQ_INT(NND_DTYPE_F64, f->values[cn->inputs[1]].dtype);
  for (int o = 0; o < C; o++) {
    double s = (double)GAMMA[o] / sqrt((double)VAR[o] + (double)1e-5f);
    for (int k = 0; k < CI * 9; k++)
      ASSERT_NEAR((double)W[o * CI * 9 + k] * s, read(f, cn->inputs[1], o * CI * 9 + k), 1e-15);
    ASSERT_NEAR(((double)B[o] - MEAN[o]) * s + BETA[o], read(f, cn->inputs[2], o), 1e-15);
  }
  /* the record: every merged file node, by the file's index */
  ASSERT_EQ_INT(3, rec.n_merges);
  int32_t fconv = find_node(g, "conv");
  ASSERT_EQ_INT(find_node(g, "pad"), rec.merges[0].from);
  ASSERT_EQ_INT(NND_MERGE_PAD, rec.merges[0].role);
  ASSERT_EQ_INT(find_node(g, "bn"), rec.merges[1].from);
  ASSERT_EQ_INT(NND_MERGE_BATCHNORM, rec.merges[1].role);
  ASSERT_EQ_INT(find_node(g, "relu"), rec.merges[2].from);
  ASSERT_EQ_INT(NND_MERGE_ACTIVATION, rec.merges[2].role);
  for (int m = 0; m < 3; m++)
    ASSERT_EQ_INT(fconv, rec.merges[m].into);
  ASSERT_EQ_INT(fconv, rec.origin[conv]);
  ASSERT_EQ_INT(find_node(g, "flat"), rec.origin[flat]);
  ASSERT_TRUE(rec.bias_terms[fconv] >= 0);
  /* the file's graph is untouched */
  ASSERT_EQ_INT(6, g->n_nodes);
  ASSERT_EQ_INT(NND_OK, nnd_graph_check_structure(f, &err));
  nnd_pass_record_free(&rec);
  nnd_graph_destroy(f);
  nnd_graph_destroy(g);
  return 0;
}

/* x -> Conv -> {BN, Relu}: the conv output has two readers, so neither
 * folds; a MaxPool after a zero Pad keeps the Pad (its padding is -inf). */
static int test_inexact_rewrites_are_left(void) {
  nnd_graph *g = nnd_graph_create(NULL);
  int32_t x = tg_input(g, "x", F32, DIMS(1, CI, 4, 4)), c, h, r, s, p, m;
  int32_t w = tg_const_f32(g, "w", DIMS(C, CI, 3, 3), W);
  NODE(g, NND_OP_CONV, "conv", &c, x, w);
  int32_t ga = tg_const_f32(g, "gamma", DIMS(C), GAMMA),
          be = tg_const_f32(g, "beta", DIMS(C), BETA), me = tg_const_f32(g, "mean", DIMS(C), MEAN),
          va = tg_const_f32(g, "var", DIMS(C), VAR);
  NODE(g, NND_OP_BATCH_NORM, "bn", &h, c, ga, be, me, va);
  NODE(g, NND_OP_RELU, "relu", &r, c);
  NODE(g, NND_OP_ADD, "sum", &s, h, r);
  int32_t np = NODE(g, NND_OP_PAD, "pad", &p, s);
  nnd_attrs *pa = &g->nodes[np].attrs;
  pa->has_pads = true;
  pa->n_pads = 4;
  pa->pads_begin[2] = pa->pads_end[2] = 1;
  int32_t mp = NODE(g, NND_OP_MAX_POOL, "pool", &m, p);
  g->nodes[mp].attrs.pool.n_spatial = 2;
  g->nodes[mp].attrs.pool.kernel[0] = g->nodes[mp].attrs.pool.kernel[1] = 2;
  g->nodes[mp].attrs.pool.strides[0] = g->nodes[mp].attrs.pool.strides[1] = 1;
  tg_set_io(g, x, m);
  nnd_error err = {0};
  ASSERT_EQ_INT(NND_OK, nnd_graph_infer_shapes(g, &err));
  int32_t n0 = g->n_nodes;
  ASSERT_EQ_INT(NND_OK, nnd_passes_analysis_form(g, NULL, NULL, NULL, &err));
  ASSERT_EQ_INT(n0, g->n_nodes);
  ASSERT_EQ_INT(NND_ACT_NONE, g->nodes[find_node(g, "conv")].act.kind);
  ASSERT_EQ_INT(NND_DTYPE_F32, g->values[g->nodes[find_node(g, "conv")].inputs[1]].dtype);
  nnd_graph_destroy(g);
  return 0;
}

/* Pad(0) -> AveragePool(count_include_pad 0, no pads) is AveragePool(pads,
 * counting them); Transpose(0,2,3,1) -> Transpose(0,3,1,2) is nothing. */
static int test_pad_into_pool_and_transpose_pair(void) {
  nnd_graph *g = nnd_graph_create(NULL);
  int32_t x = tg_input(g, "x", F32, DIMS(1, CI, 4, 4)), t1, t2, p, a;
  int32_t n1 = NODE(g, NND_OP_TRANSPOSE, "to_nhwc", &t1, x);
  g->nodes[n1].attrs.n_perm = 4;
  memcpy(g->nodes[n1].attrs.perm, (const int64_t[]){0, 2, 3, 1}, 4 * sizeof(int64_t));
  int32_t n2 = NODE(g, NND_OP_TRANSPOSE, "to_nchw", &t2, t1);
  g->nodes[n2].attrs.n_perm = 4;
  memcpy(g->nodes[n2].attrs.perm, (const int64_t[]){0, 3, 1, 2}, 4 * sizeof(int64_t));
  int32_t np = NODE(g, NND_OP_PAD, "pad", &p, t2);
  nnd_attrs *pa = &g->nodes[np].attrs;
  pa->has_pads = true;
  pa->n_pads = 4;
  pa->pads_begin[2] = pa->pads_begin[3] = pa->pads_end[2] = pa->pads_end[3] = 1;
  int32_t ap = NODE(g, NND_OP_AVG_POOL, "pool", &a, p);
  nnd_pool_attrs *pl = &g->nodes[ap].attrs.pool;
  pl->n_spatial = 2;
  pl->kernel[0] = pl->kernel[1] = 3;
  pl->strides[0] = pl->strides[1] = 1;
  pl->count_include_pad = false;
  tg_set_io(g, x, a);
  nnd_error err = {0};
  ASSERT_EQ_INT(NND_OK, nnd_graph_infer_shapes(g, &err));
  ASSERT_EQ_INT(NND_OK, nnd_passes_analysis_form(g, NULL, NULL, NULL, &err));
  ASSERT_EQ_INT(1, g->n_nodes);
  const nnd_node *n = &g->nodes[0];
  ASSERT_EQ_INT(NND_OP_AVG_POOL, n->op);
  ASSERT_EQ_INT(x, n->inputs[0]);
  ASSERT_TRUE(n->attrs.pool.count_include_pad);
  ASSERT_EQ_INT(1, n->attrs.pool.pads_begin[0]);
  ASSERT_EQ_INT(1, n->attrs.pool.pads_end[1]);
  ASSERT_EQ_INT(NND_LAYOUT_NCHW, g->values[x].layout);
  nnd_graph_destroy(g);
  return 0;
}

/* A tapped value stays: the Relu after a tapped conv output is not fused,
 * the BatchNorm not folded, and a tapped dead branch is not removed. */
static int test_kept_values_stay_observable(void) {
  nnd_graph *g = conv_bn_net();
  ASSERT_TRUE(g != NULL);
  int32_t c = nnd_graph_find_value(g, "conv:0"), h = nnd_graph_find_value(g, "bn:0");
  int32_t side = -1;
  NODE(g, NND_OP_SIGMOID, "side", &side, c); /* read by nothing */
  bool *keep = calloc((size_t)g->n_values, sizeof *keep);
  ASSERT_TRUE(keep != NULL);
  keep[h] = keep[side] = true;
  nnd_error err = {0};
  ASSERT_EQ_INT(NND_OK, nnd_graph_infer_shapes(g, &err));
  nnd_pass_ctx ctx;
  nnd_pass_ctx_init(&ctx);
  ctx.analysis = true;
  ctx.keep = keep;
  ctx.n_keep = g->n_values;
  int n_builtin = 0;
  const nnd_pass *const *all = nnd_passes_builtin(&n_builtin);
  ASSERT_EQ_INT(NND_OK, nnd_passes_run(g, all, n_builtin, &ctx, 0, NULL, &err));
  ASSERT_TRUE(find_node(g, "side") >= 0);
  ASSERT_TRUE(find_node(g, "bn") >= 0);   /* the conv output now has two readers */
  ASSERT_TRUE(find_node(g, "relu") >= 0); /* the BatchNorm's output is tapped */
  ASSERT_EQ_INT(h, g->nodes[find_node(g, "bn")].outputs[0]);
  ASSERT_EQ_INT(NND_ACT_NONE, g->nodes[find_node(g, "bn")].act.kind);
  free(keep);
  nnd_graph_destroy(g);
  return 0;
}

NND_TEST_MAIN(NND_TEST(test_conv_bn_relu_pad_flatten), NND_TEST(test_inexact_rewrites_are_left),
              NND_TEST(test_pad_into_pool_and_transpose_pair),
              NND_TEST(test_kept_values_stay_observable))
