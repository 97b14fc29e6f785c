/* Localisation building blocks on hand-built graphs: canonicalisation
 * (BatchNorm folded in double precision computes what conv + BatchNorm
 * computes, zero Pads absorbed, activations fused, Gemm ~ MatMul + Add,
 * Flatten ~ Reshape, x * HardSigmoid(x) ~ HardSwish), alignment of a renamed
 * and BN-folded twin, the static findings (equivalent rewrites vs real
 * changes), and the parameter pattern detectors. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "analysis/localize_internal.h"
#include "engine_test_util.h"
#include "ir_test_util.h"
#include "nnd_test.h"
#include "nndiff/align.h"
#include "nndiff/engine.h"
#include "nndiff/ir_edit.h"
#include "nndiff/localize.h"

#define F32 NND_DTYPE_F32

static int infer(nnd_graph *g) {
  nnd_error err = {0};
  if (nnd_graph_infer_shapes(g, &err) != NND_OK) {
    fprintf(stderr, "infer: %s\n", err.message);
    return 1;
  }
  return 0;
}

static void set_pads(nnd_graph *g, int32_t node, int64_t p) {
  for (int i = 0; i < 2; i++)
    g->nodes[node].attrs.conv.pads_begin[i] = g->nodes[node].attrs.conv.pads_end[i] = p;
}

/* ------------------------------------------------------------ a small CNN */

#define C1 4
#define C2 4
#define NCLS 5

typedef struct params {
  float w1[C1 * 3 * 9], b1[C1], w2[C2 * C1 * 9];
  float g1[C1], be1[C1], m1[C1], v1[C1];
  float g2[C2], be2[C2], m2[C2], v2[C2];
  float wf[NCLS * C2], bf[NCLS];
} params;

static void make_params(params *p) {
  test_rng r = {4242};
  for (size_t i = 0; i < sizeof p->w1 / 4; i++)
    p->w1[i] = rng_f(&r) * 0.5f;
  for (int i = 0; i < C1; i++)
    p->b1[i] = rng_f(&r) * 0.1f;
  for (size_t i = 0; i < sizeof p->w2 / 4; i++)
    p->w2[i] = rng_f(&r) * 0.5f;
  for (int i = 0; i < C1; i++) {
    p->g1[i] = 1.f + 0.5f * rng_f(&r), p->be1[i] = 0.2f * rng_f(&r);
    p->m1[i] = 0.2f * rng_f(&r), p->v1[i] = 1.f + 0.3f * rng_f(&r);
  }
  for (int i = 0; i < C2; i++) {
    p->g2[i] = 1.f + 0.5f * rng_f(&r), p->be2[i] = 0.2f * rng_f(&r);
    p->m2[i] = 0.2f * rng_f(&r), p->v2[i] = 1.f + 0.3f * rng_f(&r);
  }
  for (size_t i = 0; i < sizeof p->wf / 4; i++)
    p->wf[i] = rng_f(&r) * 0.5f;
  for (int i = 0; i < NCLS; i++)
    p->bf[i] = rng_f(&r) * 0.1f;
}

/* Folds a BatchNorm into conv weights in float32, the way an exporter does. */
static void fold_f32(const float *w, const float *b, int64_t oc, int64_t per, const float *g,
                     const float *be, const float *m, const float *v, float eps, float *wo,
                     float *bo) {
  for (int64_t o = 0; o < oc; o++) {
    float s = g[o] / sqrtf(v[o] + eps);
    for (int64_t k = 0; k < per; k++)
      wo[o * per + k] = w[o * per + k] * s;
    bo[o] = ((b ? b[o] : 0.f) - m[o]) * s + be[o];
  }
}

typedef enum variant {
  V_SOURCE,       /* BN kept, Flatten, Gemm(transB) */
  V_TARGET,       /* BN folded (f32), renamed, Reshape, MatMul + Add */
  V_ZERO_PAD,     /* as TARGET, conv1's padding split out as Pad(0) */
  V_REFLECT_PAD,  /* as TARGET, conv1's padding split out as Pad(reflect): a fault */
  V_PADS_CHANGED, /* as TARGET, conv2 pads [2,2,0,0]: a fault */
  V_BIAS_DROPPED  /* as TARGET, conv2 has no bias: a fault */
} variant;

/* x[1,3,8,8] -> conv1 3x3 (+BN1) -> relu -> conv2 3x3 (+BN2) -> relu -> add(relu1)
 * -> GlobalAveragePool -> flatten -> dense(5). */
static nnd_graph *build(variant v, const params *p) {
  nnd_graph *g = nnd_graph_create(NULL);
  const bool src = v == V_SOURCE;
  const char *nm[] = {"conv1", "bn1", "relu1", "conv2", "bn2",     "relu2",
                      "add",   "gap", "flat",  "fc",    "fc_bias", "pad"};
  const char *tn[] = {"m/c_17/BiasAdd",
                      "-",
                      "m/r_3/Relu",
                      "m/c_9/BiasAdd",
                      "-",
                      "m/r_5/Relu",
                      "m/add_2/add",
                      "m/gap_1/Mean",
                      "m/reshape_4/Reshape",
                      "m/dense_8/MatMul",
                      "m/dense_8/BiasAdd",
                      "m/zero_padding2d/Pad"};
  const char **n = src ? nm : tn;
  int32_t x = tg_input(g, src ? "input" : "serving_default_x:0", F32, DIMS(1, 3, 8, 8));
  float w1[C1 * 27], b1[C1], w2[C2 * C1 * 9], b2[C2];
  int32_t c1, c2, h;
  if (src) {
    int32_t W1 = tg_const_f32(g, "w1", DIMS(C1, 3, 3, 3), p->w1);
    int32_t B1 = tg_const_f32(g, "b1", DIMS(C1), p->b1);
    int32_t nc1 = NODE(g, NND_OP_CONV, n[0], &c1, x, W1, B1);
    set_pads(g, nc1, 1);
    int32_t a = tg_const_f32(g, "g1", DIMS(C1), p->g1),
            b = tg_const_f32(g, "be1", DIMS(C1), p->be1),
            m = tg_const_f32(g, "m1", DIMS(C1), p->m1), vv = tg_const_f32(g, "v1", DIMS(C1), p->v1);
    NODE(g, NND_OP_BATCH_NORM, n[1], &h, c1, a, b, m, vv);
    c1 = h;
  } else {
    fold_f32(p->w1, p->b1, C1, 27, p->g1, p->be1, p->m1, p->v1, 1e-5f, w1, b1);
    int32_t W1 = tg_const_f32(g, "k1", DIMS(C1, 3, 3, 3), w1);
    int32_t B1 = tg_const_f32(g, "kb1", DIMS(C1), b1);
    int32_t in = x;
    if (v == V_ZERO_PAD || v == V_REFLECT_PAD) {
      int32_t np = NODE(g, NND_OP_PAD, n[11], &in, x);
      nnd_attrs *pa = &g->nodes[np].attrs;
      pa->has_pads = true;
      pa->n_pads = 4;
      pa->pads_begin[2] = pa->pads_begin[3] = pa->pads_end[2] = pa->pads_end[3] = 1;
      pa->pad_mode = v == V_ZERO_PAD ? NND_PAD_CONSTANT : NND_PAD_REFLECT;
    }
    int32_t nc1 = NODE(g, NND_OP_CONV, n[0], &c1, in, W1, B1);
    set_pads(g, nc1, in == x ? 1 : 0);
  }
  int32_t r1;
  NODE(g, NND_OP_RELU, n[2], &r1, c1);
  if (src) {
    int32_t W2 = tg_const_f32(g, "w2", DIMS(C2, C1, 3, 3), p->w2);
    int32_t nc2 = NODE(g, NND_OP_CONV, n[3], &c2, r1, W2);
    set_pads(g, nc2, 1);
    int32_t a = tg_const_f32(g, "g2", DIMS(C2), p->g2),
            b = tg_const_f32(g, "be2", DIMS(C2), p->be2),
            m = tg_const_f32(g, "m2", DIMS(C2), p->m2), vv = tg_const_f32(g, "v2", DIMS(C2), p->v2);
    NODE(g, NND_OP_BATCH_NORM, n[4], &h, c2, a, b, m, vv);
    c2 = h;
  } else {
    fold_f32(p->w2, NULL, C2, C1 * 9, p->g2, p->be2, p->m2, p->v2, 1e-5f, w2, b2);
    int32_t W2 = tg_const_f32(g, "k2", DIMS(C2, C1, 3, 3), w2);
    int32_t nc2;
    if (v == V_BIAS_DROPPED) {
      nc2 = NODE(g, NND_OP_CONV, n[3], &c2, r1, W2);
    } else {
      int32_t B2 = tg_const_f32(g, "kb2", DIMS(C2), b2);
      nc2 = NODE(g, NND_OP_CONV, n[3], &c2, r1, W2, B2);
    }
    set_pads(g, nc2, 1);
    if (v == V_PADS_CHANGED) {
      nnd_conv_attrs *ca = &g->nodes[nc2].attrs.conv;
      ca->pads_begin[0] = ca->pads_begin[1] = 2;
      ca->pads_end[0] = ca->pads_end[1] = 0;
    }
  }
  int32_t r2, add, gap, flat, y;
  NODE(g, NND_OP_RELU, n[5], &r2, c2);
  NODE(g, NND_OP_ADD, n[6], &add, r2, r1);
  NODE(g, NND_OP_GLOBAL_AVG_POOL, n[7], &gap, add);
  if (src) {
    int32_t nf = NODE(g, NND_OP_FLATTEN, n[8], &flat, gap);
    g->nodes[nf].attrs.axis = 1;
    int32_t WF = tg_const_f32(g, "wfc", DIMS(NCLS, C2), p->wf);
    int32_t BF = tg_const_f32(g, "bfc", DIMS(NCLS), p->bf);
    int32_t ng = NODE(g, NND_OP_GEMM, n[9], &y, flat, WF, BF);
    g->nodes[ng].attrs.trans_b = true;
  } else {
    int32_t shape = INTS(g, "shape", -1, C2);
    NODE(g, NND_OP_RESHAPE, n[8], &flat, gap, shape);
    float wt[C2 * NCLS];
    for (int o = 0; o < NCLS; o++)
      for (int i = 0; i < C2; i++)
        wt[i * NCLS + o] = p->wf[o * C2 + i];
    int32_t WT = tg_const_f32(g, "wfc_t", DIMS(C2, NCLS), wt);
    int32_t mm, BF = tg_const_f32(g, "bfc_t", DIMS(NCLS), p->bf);
    NODE(g, NND_OP_MATMUL, n[9], &mm, flat, WT);
    NODE(g, NND_OP_ADD, n[10], &y, mm, BF);
  }
  tg_set_io(g, x, y);
  if (infer(g)) {
    nnd_graph_destroy(g);
    return NULL;
  }
  return g;
}

static int32_t cnode_named(const nnd_cgraph *c, const char *name) {
  for (int32_t i = 0; i < c->n_nodes; i++)
    if (strcmp(nnd_cnode_name(c, i), name) == 0) return i;
  return -1;
}

/* ------------------------------------------------------------ canonicalisation */

/* Naive 3x3 conv (pads 1) in double on [C_in, 8, 8]. */
static void conv3x3(const double *x, int64_t ci, const double *w, const double *b, int64_t co,
                    double *y) {
  for (int64_t o = 0; o < co; o++)
    for (int h = 0; h < 8; h++)
      for (int ww = 0; ww < 8; ww++) {
        double s = b ? b[o] : 0;
        for (int64_t i = 0; i < ci; i++)
          for (int kh = 0; kh < 3; kh++)
            for (int kw = 0; kw < 3; kw++) {
              int yh = h + kh - 1, yw = ww + kw - 1;
              if (yh < 0 || yh >= 8 || yw < 0 || yw >= 8) continue;
              s += w[((o * ci + i) * 3 + kh) * 3 + kw] * x[(i * 8 + yh) * 8 + yw];
            }
        y[(o * 8 + h) * 8 + ww] = s;
      }
}

static int test_bn_fold_matches_conv_bn(void) {
  params p;
  make_params(&p);
  nnd_graph *g = build(V_SOURCE, &p);
  ASSERT_TRUE(g != NULL);
  nnd_error err = {0};
  nnd_cgraph *c = NULL;
  ASSERT_EQ_INT(NND_OK, nnd_canon_build(g, &c, &err));
  ASSERT_EQ_INT(2, c->n_folded_bn);
  int32_t k = cnode_named(c, "conv1");
  ASSERT_TRUE(k >= 0);
  const nnd_cnode *n = &c->nodes[k];
  ASSERT_EQ_INT(3, n->n_members); /* conv + bn + relu */
  ASSERT_EQ_INT(NND_ACT_RELU, n->act.kind);
  ASSERT_TRUE(n->bias != NULL);

  /* conv1 -> BN1 in double by hand vs the folded conv1 */
  test_rng r = {99};
  double x[3 * 64], y1[C1 * 64], y2[C1 * 64], w[C1 * 27], b[C1];
  for (int i = 0; i < 3 * 64; i++)
    x[i] = rng_f(&r);
  for (int i = 0; i < C1 * 27; i++)
    w[i] = p.w1[i];
  for (int i = 0; i < C1; i++)
    b[i] = p.b1[i];
  conv3x3(x, 3, w, b, C1, y1);
  for (int o = 0; o < C1; o++)
    for (int i = 0; i < 64; i++)
      y1[o * 64 + i] = (y1[o * 64 + i] - (double)p.m1[o]) / sqrt((double)p.v1[o] + (double)1e-5f) *
                           (double)p.g1[o] +
                       (double)p.be1[o];
  conv3x3(x, 3, n->weight, n->bias, C1, y2);
  double num = 0, den = 0;
  for (int i = 0; i < C1 * 64; i++) {
    num += (y1[i] - y2[i]) * (y1[i] - y2[i]);
    den += y1[i] * y1[i];
  }
  ASSERT_TRUE(sqrt(num / den) < 1e-13);

  nnd_canon_destroy(c);
  nnd_graph_destroy(g);
  return 0;
}

typedef struct capture {
  int32_t value;
  double *data;
  int64_t n;
} capture;

static void cap_tap(void *user, const nnd_graph *g, int32_t node, int32_t vid,
                    const nnd_tensor_view *t) {
  capture *c = user;
  (void)g, (void)node;
  if (vid != c->value || t->dtype != NND_DTYPE_F64) return;
  c->n = t->numel;
  c->data = malloc((size_t)t->numel * sizeof(double));
  memcpy(c->data, t->data, (size_t)t->numel * sizeof(double));
}

static int test_bn_fold_matches_engine_reference(void) {
  params p;
  make_params(&p);
  nnd_graph *g = build(V_SOURCE, &p);
  ASSERT_TRUE(g != NULL);
  nnd_error err = {0};
  nnd_cgraph *c = NULL;
  ASSERT_EQ_INT(NND_OK, nnd_canon_build(g, &c, &err));
  const nnd_cnode *n = &c->nodes[cnode_named(c, "conv2")];
  int32_t in_v = c->values[n->inputs[0]].value, out_v = c->values[n->outputs[0]].value;
  /* the engine's reference path (float64, conv then BN then relu node by node) */
  test_rng r = {7};
  float xf[3 * 64];
  for (int i = 0; i < 3 * 64; i++)
    xf[i] = rng_f(&r);
  capture ci = {in_v, NULL, 0}, co = {out_v, NULL, 0};
  for (int pass = 0; pass < 2; pass++) {
    nnd_engine_options eo;
    nnd_engine_options_init(&eo);
    eo.precision = NND_PRECISION_REFERENCE;
    eo.observe = NND_OBSERVE_LIST;
    eo.observe_values = pass ? &out_v : &in_v;
    eo.n_observe_values = 1;
    eo.tap = cap_tap;
    eo.tap_user = pass ? &co : &ci;
    nnd_engine *e = NULL;
    ASSERT_EQ_INT(NND_OK, nnd_engine_create(g, &eo, &e, &err));
    nnd_tensor in = {.dtype = F32, .rank = 4, .dims = {1, 3, 8, 8}, .data = xf};
    double out[NCLS];
    nnd_tensor ot = {.dtype = NND_DTYPE_F64, .rank = 2, .dims = {1, NCLS}, .data = out};
    ASSERT_EQ_INT(NND_OK, nnd_engine_run(e, &in, 1, &ot, 1, &err));
    nnd_engine_destroy(e);
  }
  ASSERT_EQ_INT(C1 * 64, ci.n);
  ASSERT_EQ_INT(C2 * 64, co.n);
  /* folded conv2 + relu on the engine's own conv2 input */
  double y[C2 * 64];
  conv3x3(ci.data, C1, n->weight, n->bias, C2, y);
  double num = 0, den = 0;
  for (int i = 0; i < C2 * 64; i++) {
    double v = y[i] > 0 ? y[i] : 0;
    num += (v - co.data[i]) * (v - co.data[i]);
    den += co.data[i] * co.data[i];
  }
  ASSERT_TRUE(den > 0);
  ASSERT_TRUE(sqrt(num / den) < 1e-13);
  free(ci.data);
  free(co.data);
  nnd_canon_destroy(c);
  nnd_graph_destroy(g);
  return 0;
}

static int test_canon_dense_and_flatten(void) {
  params p;
  make_params(&p);
  nnd_graph *s = build(V_SOURCE, &p), *t = build(V_TARGET, &p);
  ASSERT_TRUE(s && t);
  nnd_error err = {0};
  nnd_cgraph *cs = NULL, *ct = NULL;
  ASSERT_EQ_INT(NND_OK, nnd_canon_build(s, &cs, &err));
  ASSERT_EQ_INT(NND_OK, nnd_canon_build(t, &ct, &err));
  ASSERT_EQ_INT(cs->n_nodes, ct->n_nodes);
  const nnd_cnode *gs = &cs->nodes[cnode_named(cs, "fc")],
                  *gt = &ct->nodes[cnode_named(ct, "m/dense_8/MatMul")];
  ASSERT_EQ_INT(NND_OP_GEMM, gs->op);
  ASSERT_EQ_INT(NND_OP_GEMM, gt->op);
  ASSERT_EQ_INT(2, gt->n_members); /* MatMul + bias Add */
  ASSERT_EQ_INT(NCLS, gt->wdims[0]);
  ASSERT_EQ_INT(C2, gt->wdims[1]);
  for (int i = 0; i < NCLS * C2; i++)
    ASSERT_NEAR(gs->weight[i], gt->weight[i], 0);
  for (int i = 0; i < NCLS; i++)
    ASSERT_NEAR(gs->bias[i], gt->bias[i], 0);
  ASSERT_EQ_INT(NND_OP_FLATTEN, cs->nodes[cnode_named(cs, "flat")].op);
  ASSERT_EQ_INT(NND_OP_FLATTEN, ct->nodes[cnode_named(ct, "m/reshape_4/Reshape")].op);
  /* residual add fused with nothing, relus fused into convs */
  ASSERT_EQ_INT(NND_ACT_NONE, ct->nodes[cnode_named(ct, "m/add_2/add")].act.kind);
  ASSERT_EQ_INT(NND_ACT_RELU, ct->nodes[cnode_named(ct, "m/c_9/BiasAdd")].act.kind);
  nnd_canon_destroy(cs);
  nnd_canon_destroy(ct);
  nnd_graph_destroy(s);
  nnd_graph_destroy(t);
  return 0;
}

static int test_canon_zero_pad_absorbed(void) {
  params p;
  make_params(&p);
  nnd_graph *z = build(V_ZERO_PAD, &p), *rf = build(V_REFLECT_PAD, &p);
  ASSERT_TRUE(z && rf);
  nnd_error err = {0};
  nnd_cgraph *cz = NULL, *cr = NULL;
  ASSERT_EQ_INT(NND_OK, nnd_canon_build(z, &cz, &err));
  ASSERT_EQ_INT(NND_OK, nnd_canon_build(rf, &cr, &err));
  ASSERT_EQ_INT(1, cz->n_absorbed_pads);
  ASSERT_EQ_INT(-1, cnode_named(cz, "m/zero_padding2d/Pad"));
  const nnd_cnode *c = &cz->nodes[cnode_named(cz, "m/c_17/BiasAdd")];
  ASSERT_EQ_INT(1, c->attrs.conv.pads_begin[0]);
  ASSERT_EQ_INT(1, c->attrs.conv.pads_end[1]);
  ASSERT_EQ_INT(NND_CROLE_PAD, c->members[1].role);
  /* a reflect Pad is not a zero pad: it stays a node of its own */
  ASSERT_EQ_INT(0, cr->n_absorbed_pads);
  ASSERT_TRUE(cnode_named(cr, "m/zero_padding2d/Pad") >= 0);
  nnd_canon_destroy(cz);
  nnd_canon_destroy(cr);
  nnd_graph_destroy(z);
  nnd_graph_destroy(rf);
  return 0;
}

static int test_canon_gated_hardswish(void) {
  /* x -> conv -> (HardSigmoid(1/6, 1/2), Mul) vs x -> conv -> HardSwish */
  nnd_graph *a = nnd_graph_create(NULL), *b = nnd_graph_create(NULL);
  float w[2 * 3] = {1, 2, 3, 4, 5, 6};
  int32_t y, s, m;
  int32_t x = tg_input(a, "x", F32, DIMS(1, 3, 4, 4));
  int32_t W = tg_const_f32(a, "w", DIMS(2, 3, 1, 1), w);
  NODE(a, NND_OP_CONV, "conv", &y, x, W);
  int32_t hs = NODE(a, NND_OP_HARD_SIGMOID, "hs", &s, y);
  a->nodes[hs].attrs.alpha = 1.f / 6.f;
  a->nodes[hs].attrs.beta = 0.5f;
  NODE(a, NND_OP_MUL, "mul", &m, y, s);
  tg_set_io(a, x, m);
  ASSERT_EQ_INT(0, infer(a));
  x = tg_input(b, "x", F32, DIMS(1, 3, 4, 4));
  W = tg_const_f32(b, "w", DIMS(2, 3, 1, 1), w);
  NODE(b, NND_OP_CONV, "conv", &y, x, W);
  NODE(b, NND_OP_HARD_SWISH, "hsw", &m, y);
  tg_set_io(b, x, m);
  ASSERT_EQ_INT(0, infer(b));
  nnd_error err = {0};
  nnd_cgraph *ca = NULL, *cb = NULL;
  ASSERT_EQ_INT(NND_OK, nnd_canon_build(a, &ca, &err));
  ASSERT_EQ_INT(NND_OK, nnd_canon_build(b, &cb, &err));
  ASSERT_EQ_INT(1, ca->n_nodes);
  ASSERT_EQ_INT(1, cb->n_nodes);
  ASSERT_TRUE(ca->nodes[0].act.gated);
  ASSERT_TRUE(nnd_cact_equal(ca->nodes[0].act, cb->nodes[0].act));
  nnd_cact relu6 = {NND_ACT_CLIP, 0.f, 6.f, false}, relu = {NND_ACT_RELU, 0, 0, false},
           clipinf = {NND_ACT_CLIP, 0.f, INFINITY, false};
  ASSERT_TRUE(!nnd_cact_equal(relu6, relu));
  ASSERT_TRUE(nnd_cact_equal(clipinf, relu));
  char buf[64];
  nnd_cact_format(ca->nodes[0].act, buf, sizeof buf);
  ASSERT_STR_EQ("x*HardSigmoid(0.1667, 0.5)", buf);
  nnd_canon_destroy(ca);
  nnd_canon_destroy(cb);
  nnd_graph_destroy(a);
  nnd_graph_destroy(b);
  return 0;
}

/* conv -> [Transpose NCHW->NHWC -> Transpose NHWC->NCHW] -> Flatten vs conv -> Flatten: the
 * layout round trip is seen through; conv -> Transpose(0,2,3,1) -> Flatten flattens in NHWC
 * order, which is not the same function. */
static nnd_graph *layout_net(int kind) {
  nnd_graph *g = nnd_graph_create(NULL);
  float w[2 * 3 * 1 * 1] = {1, 2, 3, 4, 5, 6};
  int32_t x = tg_input(g, "x", F32, DIMS(1, 3, 2, 2)), y, z;
  int32_t W = tg_const_f32(g, "w", DIMS(2, 3, 1, 1), w);
  NODE(g, NND_OP_CONV, "conv", &y, x, W);
  if (kind >= 1) {
    int32_t n1 = NODE(g, NND_OP_TRANSPOSE, "to_nhwc", &z, y);
    g->nodes[n1].attrs.n_perm = 4;
    memcpy(g->nodes[n1].attrs.perm, (const int64_t[]){0, 2, 3, 1}, 4 * sizeof(int64_t));
    y = z;
  }
  if (kind == 1) {
    int32_t n2 = NODE(g, NND_OP_TRANSPOSE, "to_nchw", &z, y);
    g->nodes[n2].attrs.n_perm = 4;
    memcpy(g->nodes[n2].attrs.perm, (const int64_t[]){0, 3, 1, 2}, 4 * sizeof(int64_t));
    y = z;
  }
  int32_t nf = NODE(g, NND_OP_FLATTEN, "flat", &z, y);
  g->nodes[nf].attrs.axis = 1;
  tg_set_io(g, x, z);
  if (infer(g)) {
    nnd_graph_destroy(g);
    return NULL;
  }
  return g;
}

static int test_canon_layout_transposes(void) {
  nnd_graph *g[3];
  nnd_cgraph *c[3];
  nnd_error err = {0};
  for (int v = 0; v < 3; v++) {
    g[v] = layout_net(v);
    ASSERT_TRUE(g[v] != NULL);
    ASSERT_EQ_INT(NND_OK, nnd_canon_build(g[v], &c[v], &err));
    ASSERT_EQ_INT(2, c[v]->n_nodes); /* conv, flatten: the transposes are seen through */
  }
  /* the inverse pair goes in the layout pass; the lone one is seen through */
  ASSERT_EQ_INT(0, c[1]->n_dropped);
  for (int32_t i = 0; i < c[1]->form->n_nodes; i++)
    ASSERT_TRUE(c[1]->form->nodes[i].op != NND_OP_TRANSPOSE);
  ASSERT_EQ_INT(1, c[2]->n_dropped);
  ASSERT_EQ_INT(NND_LAYOUT_NCHW, c[1]->nodes[1].in_layout);
  ASSERT_EQ_INT(NND_LAYOUT_NHWC, c[2]->nodes[1].in_layout);
  for (int v = 1; v < 3; v++) {
    nnd_alignment *a = NULL;
    nnd__findings f = {0};
    ASSERT_EQ_INT(NND_OK, nnd_align(c[0], c[v], &a, &err));
    ASSERT_EQ_INT(2, a->n_pairs);
    ASSERT_EQ_INT(NND_OK, nnd__static_findings(c[0], c[v], a, NND_PARAM_RTOL, &f, NULL, 0, &err));
    int real = 0;
    for (int32_t i = 0; i < f.n; i++)
      if (!f.items[i].equivalent) {
        real++;
        ASSERT_STR_EQ("flatten order", f.items[i].code);
        ASSERT_STR_EQ("NHWC", f.items[i].target_value);
      }
    ASSERT_EQ_INT(v == 1 ? 0 : 1, real);
    free(f.items);
    nnd_alignment_destroy(a);
  }
  for (int v = 0; v < 3; v++) {
    nnd_canon_destroy(c[v]);
    nnd_graph_destroy(g[v]);
  }
  return 0;
}

/* ------------------------------------------------------------ alignment */

typedef struct aligned {
  nnd_graph *s, *t;
  nnd_cgraph *cs, *ct;
  nnd_alignment *a;
  nnd__findings f;
} aligned;

static int align_variant(variant v, aligned *out) {
  params p;
  make_params(&p);
  memset(out, 0, sizeof *out);
  out->s = build(V_SOURCE, &p);
  out->t = build(v, &p);
  ASSERT_TRUE(out->s && out->t);
  nnd_error err = {0};
  ASSERT_EQ_INT(NND_OK, nnd_canon_build(out->s, &out->cs, &err));
  ASSERT_EQ_INT(NND_OK, nnd_canon_build(out->t, &out->ct, &err));
  ASSERT_EQ_INT(NND_OK, nnd_align(out->cs, out->ct, &out->a, &err));
  ASSERT_EQ_INT(NND_OK, nnd__static_findings(out->cs, out->ct, out->a, NND_PARAM_RTOL, &out->f,
                                             NULL, 0, &err));
  return 0;
}

static void aligned_free(aligned *x) {
  free(x->f.items);
  nnd_alignment_destroy(x->a);
  nnd_canon_destroy(x->cs);
  nnd_canon_destroy(x->ct);
  nnd_graph_destroy(x->s);
  nnd_graph_destroy(x->t);
}

static const char *partner_of(const aligned *x, const char *target_name) {
  int32_t t = cnode_named(x->ct, target_name);
  if (t < 0 || x->a->t_pair[t] < 0) return "(none)";
  return nnd_cnode_name(x->cs, x->a->pairs[x->a->t_pair[t]].s);
}

static int n_real(const aligned *x) {
  int n = 0;
  for (int32_t i = 0; i < x->f.n; i++)
    n += !x->f.items[i].equivalent;
  return n;
}

static const nnd_finding *real_finding(const aligned *x, const char *code) {
  for (int32_t i = 0; i < x->f.n; i++)
    if (!x->f.items[i].equivalent && strcmp(x->f.items[i].code, code) == 0) return &x->f.items[i];
  return NULL;
}

static int test_align_renamed_folded_twin(void) {
  aligned x;
  if (align_variant(V_TARGET, &x)) return 1;
  ASSERT_EQ_INT(x.cs->n_nodes, x.a->n_pairs);
  ASSERT_EQ_INT(0, x.a->n_extra);
  ASSERT_EQ_INT(0, x.a->n_missing);
  ASSERT_STR_EQ("conv1", partner_of(&x, "m/c_17/BiasAdd"));
  ASSERT_STR_EQ("conv2", partner_of(&x, "m/c_9/BiasAdd"));
  ASSERT_STR_EQ("add", partner_of(&x, "m/add_2/add"));
  ASSERT_STR_EQ("gap", partner_of(&x, "m/gap_1/Mean"));
  ASSERT_STR_EQ("flat", partner_of(&x, "m/reshape_4/Reshape"));
  ASSERT_STR_EQ("fc", partner_of(&x, "m/dense_8/MatMul"));
  for (int32_t i = 0; i < x.a->n_pairs; i++) {
    ASSERT_EQ_INT(NND_MATCH_SAME, x.a->pairs[i].kind);
    ASSERT_TRUE(x.a->pairs[i].confidence > 0.9);
  }
  /* BN folded in float32 by the "converter" vs in double here: rounding only */
  ASSERT_EQ_INT(0, n_real(&x));
  aligned_free(&x);
  return 0;
}

static int test_align_zero_pad_equivalent(void) {
  aligned x;
  if (align_variant(V_ZERO_PAD, &x)) return 1;
  ASSERT_EQ_INT(0, x.a->n_extra);
  ASSERT_EQ_INT(0, n_real(&x));
  aligned_free(&x);
  return 0;
}

static int test_align_reflect_pad_fault(void) {
  aligned x;
  if (align_variant(V_REFLECT_PAD, &x)) return 1;
  ASSERT_EQ_INT(1, x.a->n_extra);
  ASSERT_STR_EQ("m/zero_padding2d/Pad", nnd_cnode_name(x.ct, x.a->extra[0]));
  ASSERT_STR_EQ("conv1", partner_of(&x, "m/c_17/BiasAdd"));
  const nnd_finding *e = real_finding(&x, "extra_node");
  ASSERT_TRUE(e != NULL);
  ASSERT_CONTAINS(e->text, "reflect");
  const nnd_finding *pads = real_finding(&x, "pads");
  ASSERT_TRUE(pads != NULL);
  ASSERT_STR_EQ("[1,1,1,1]", pads->source_value);
  ASSERT_STR_EQ("[0,0,0,0]", pads->target_value);
  aligned_free(&x);
  return 0;
}

static int test_static_pads_and_bias(void) {
  aligned x;
  if (align_variant(V_PADS_CHANGED, &x)) return 1;
  ASSERT_EQ_INT(1, n_real(&x));
  const nnd_finding *pads = real_finding(&x, "pads");
  ASSERT_TRUE(pads != NULL);
  ASSERT_STR_EQ("[2,2,0,0]", pads->target_value);
  ASSERT_STR_EQ("m/c_9/BiasAdd", x.t->nodes[pads->t_nodes[0]].name);
  aligned_free(&x);
  if (align_variant(V_BIAS_DROPPED, &x)) return 1;
  ASSERT_EQ_INT(1, n_real(&x));
  const nnd_finding *b = real_finding(&x, "bias");
  ASSERT_TRUE(b != NULL);
  ASSERT_EQ_INT(NND_PARAM_MISSING, b->param.pattern);
  /* the source side names the conv and the BatchNorm the bias came from */
  ASSERT_EQ_INT(2, b->n_s_nodes);
  ASSERT_STR_EQ("conv2", x.s->nodes[b->s_nodes[0]].name);
  ASSERT_STR_EQ("bn2", x.s->nodes[b->s_nodes[1]].name);
  aligned_free(&x);
  return 0;
}

/* The findings' edits, applied to the target, leave nothing to find: the
 * suggested fixes are exact. */
static int edits_fix(variant v, int expect_edits) {
  aligned x;
  if (align_variant(v, &x)) return 1;
  nnd_error err = {0};
  nnd_graph *fixed = NULL;
  ASSERT_EQ_INT(NND_OK, nnd_graph_clone(x.t, &fixed, &err));
  /* node removals last: they renumber the nodes after them */
  int applied = 0;
  for (int pass = 0; pass < 2; pass++)
    for (int32_t i = 0; i < x.f.n; i++) {
      const nnd_finding *f = &x.f.items[i];
      if (!f->has_edit || (f->edit.kind == NND_EDIT_REMOVE_NODE) != (pass == 1)) continue;
      ASSERT_EQ_INT(NND_OK, nnd_edit_apply(fixed, &f->edit, &err));
      applied++;
    }
  ASSERT_EQ_INT(expect_edits, applied);
  ASSERT_EQ_INT(NND_OK, nnd_graph_infer_shapes(fixed, &err));
  ASSERT_EQ_INT(NND_OK, nnd_graph_validate(fixed, &err));
  aligned y = {0};
  ASSERT_EQ_INT(NND_OK, nnd_canon_build(x.s, &y.cs, &err));
  ASSERT_EQ_INT(NND_OK, nnd_canon_build(fixed, &y.ct, &err));
  ASSERT_EQ_INT(NND_OK, nnd_align(y.cs, y.ct, &y.a, &err));
  ASSERT_EQ_INT(NND_OK, nnd__static_findings(y.cs, y.ct, y.a, NND_PARAM_RTOL, &y.f, NULL, 0, &err));
  ASSERT_EQ_INT(0, n_real(&y));
  free(y.f.items);
  nnd_alignment_destroy(y.a);
  nnd_canon_destroy(y.cs);
  nnd_canon_destroy(y.ct);
  nnd_graph_destroy(fixed);
  aligned_free(&x);
  return 0;
}

static int test_finding_edits_fix_the_faults(void) {
  /* conv2 pads [2,2,0,0]: set its pads back */
  if (edits_fix(V_PADS_CHANGED, 1)) return 1;
  /* a reflect Pad split out of conv1: remove it, give conv1 its pads */
  if (edits_fix(V_REFLECT_PAD, 2)) return 1;
  return 0;
}

/* x -> Conv -> [Concat of that one tensor] -> Relu: torch.cat([x]) in
 * DenseNet's first layers, which onnxsim removes. */
static nnd_graph *conv_relu(bool single_concat) {
  nnd_graph *g = nnd_graph_create(NULL);
  int32_t x = tg_input(g, "x", F32, DIMS(1, 2, 4, 4));
  static const float w[2 * 2] = {0.5f, -1.f, 2.f, 0.25f};
  int32_t wv = tg_const_f32(g, "w", DIMS(2, 2, 1, 1), w);
  int32_t c, r;
  NODE(g, NND_OP_CONV, single_concat ? "conv" : "m/c_1/BiasAdd", &c, x, wv);
  if (single_concat) {
    int32_t cat = NODE(g, NND_OP_CONCAT, "cat", &c, c);
    g->nodes[cat].attrs.axis = 1;
  }
  NODE(g, NND_OP_RELU, single_concat ? "relu" : "m/r_1/Relu", &r, c);
  tg_set_io(g, x, r);
  return infer(g) ? NULL : g;
}

static int test_single_input_concat_is_seen_through(void) {
  nnd_graph *s = conv_relu(true), *t = conv_relu(false);
  ASSERT_TRUE(s && t);
  nnd_localize_result *r = NULL;
  nnd_error err = {0};
  ASSERT_EQ_INT(NND_OK, nnd_localize_run(s, t, NULL, NULL, &r, &err));
  ASSERT_EQ_INT(0, r->align->n_missing);
  ASSERT_TRUE(r->equivalent);
  nnd_localize_result_destroy(r);
  nnd_graph_destroy(s);
  nnd_graph_destroy(t);
  return 0;
}

/* ------------------------------------------------------------ patterns */

#define O 6
#define I 3
#define K 3
#define N (O * I * K * K)

static void base_weights(double *w) {
  test_rng r = {31337};
  for (int i = 0; i < N; i++)
    w[i] = rng_f(&r) * 0.7;
}

static nnd_param_pattern classify(const double *s, const double *t, nnd_param_diff *d) {
  const int64_t dims[4] = {O, I, K, K};
  nnd_param_compare_weights(s, t, 4, dims, NND_PARAM_RTOL, d);
  return d->pattern;
}

static int test_patterns_weights(void) {
  double s[N], t[N];
  nnd_param_diff d;
  base_weights(s);
  /* float32 rounding of a fold: equal */
  for (int i = 0; i < N; i++)
    t[i] = (double)(float)(s[i] * 1.2345) / 1.2345 * (1 + 1e-7);
  ASSERT_EQ_INT(NND_PARAM_EQUAL, classify(s, t, &d));
  ASSERT_EQ_INT(0, d.n_differ);
  /* input channels reversed */
  for (int o = 0; o < O; o++)
    for (int i = 0; i < I; i++)
      for (int k = 0; k < K * K; k++)
        t[(o * I + i) * K * K + k] = s[(o * I + (I - 1 - i)) * K * K + k];
  ASSERT_EQ_INT(NND_PARAM_IN_CHANNELS_REVERSED, classify(s, t, &d));
  ASSERT_TRUE(d.mean_abs > 0);
  /* rows rolled by one (np.roll(w, 1, axis=0)) */
  for (int o = 0; o < O; o++)
    for (int k = 0; k < I * K * K; k++)
      t[o * I * K * K + k] = s[((o + O - 1) % O) * I * K * K + k];
  ASSERT_EQ_INT(NND_PARAM_ROWS_ROLLED, classify(s, t, &d));
  ASSERT_EQ_INT(1, d.shift);
  /* kernel rotated 180 degrees */
  for (int oi = 0; oi < O * I; oi++)
    for (int h = 0; h < K; h++)
      for (int w = 0; w < K; w++)
        t[(oi * K + h) * K + w] = s[(oi * K + (K - 1 - h)) * K + (K - 1 - w)];
  ASSERT_EQ_INT(NND_PARAM_KERNEL_FLIPPED, classify(s, t, &d));
  ASSERT_EQ_INT(3, d.flip_axes);
  /* only flipped vertically */
  for (int oi = 0; oi < O * I; oi++)
    for (int h = 0; h < K; h++)
      for (int w = 0; w < K; w++)
        t[(oi * K + h) * K + w] = s[(oi * K + (K - 1 - h)) * K + w];
  ASSERT_EQ_INT(NND_PARAM_KERNEL_FLIPPED, classify(s, t, &d));
  ASSERT_EQ_INT(1, d.flip_axes);
  /* float16 and bfloat16 rounding */
  for (int i = 0; i < N; i++)
    t[i] = nnd_round_f16(s[i]);
  ASSERT_EQ_INT(NND_PARAM_FLOAT16, classify(s, t, &d));
  for (int i = 0; i < N; i++)
    t[i] = nnd_round_bf16(s[i]);
  ASSERT_EQ_INT(NND_PARAM_BFLOAT16, classify(s, t, &d));
  /* per-channel scaling (BatchNorm folded with another epsilon) */
  for (int o = 0; o < O; o++)
    for (int k = 0; k < I * K * K; k++)
      t[o * I * K * K + k] = s[o * I * K * K + k] * (1.0 + 0.01 * (o + 1));
  ASSERT_EQ_INT(NND_PARAM_CHANNEL_SCALED, classify(s, t, &d));
  ASSERT_NEAR(1.01, d.scale_min, 1e-9);
  ASSERT_NEAR(1.06, d.scale_max, 1e-9);
  /* noise: perturbed; unrelated: replaced */
  test_rng r = {5};
  for (int i = 0; i < N; i++)
    t[i] = s[i] + 0.02 * rng_f(&r);
  ASSERT_EQ_INT(NND_PARAM_PERTURBED, classify(s, t, &d));
  ASSERT_EQ_INT(N, d.n_total);
  ASSERT_TRUE(d.n_differ > N / 2);
  ASSERT_TRUE(d.rel_l2 > 0.01 && d.rel_l2 < 0.2);
  for (int i = 0; i < N; i++)
    t[i] = rng_f(&r);
  ASSERT_EQ_INT(NND_PARAM_REPLACED, classify(s, t, &d));
  return 0;
}

static int test_patterns_bias(void) {
  double s[8] = {0.3, -0.2, 0.5, 0.1, -0.7, 0.25, 0.05, -0.4}, t[8], mag[8];
  for (int i = 0; i < 8; i++)
    mag[i] = fabs(s[i]) + 1.0; /* folded from bigger terms */
  nnd_param_diff d;
  for (int i = 0; i < 8; i++)
    t[i] = s[i] + 1e-7 * (i % 2 ? 1 : -1); /* float rounding of the fold */
  nnd_param_compare_bias(s, mag, t, 8, NND_PARAM_RTOL, 0, &d);
  ASSERT_EQ_INT(NND_PARAM_EQUAL, d.pattern);
  nnd_param_compare_bias(s, mag, NULL, 8, NND_PARAM_RTOL, 0, &d);
  ASSERT_EQ_INT(NND_PARAM_MISSING, d.pattern);
  ASSERT_NEAR(0.3125, d.mean_abs_source, 1e-12);
  memset(t, 0, sizeof t);
  nnd_param_compare_bias(s, mag, t, 8, NND_PARAM_RTOL, 0, &d);
  ASSERT_EQ_INT(NND_PARAM_ZEROED, d.pattern);
  ASSERT_NEAR(0.3125, d.mean_abs, 1e-12); /* seed 000's mean |Ps - Pt| */
  for (int i = 0; i < 8; i++)
    t[i] = s[(i + 7) % 8];
  nnd_param_compare_bias(s, mag, t, 8, NND_PARAM_RTOL, 0, &d);
  ASSERT_EQ_INT(NND_PARAM_ROWS_ROLLED, d.pattern);
  ASSERT_EQ_INT(1, d.shift);
  return 0;
}

static int test_round_f16(void) {
  ASSERT_NEAR(1.0, nnd_round_f16(1.0), 0);
  ASSERT_NEAR(1.0009765625, nnd_round_f16(1.0009), 0); /* 1 + 2^-10 */
  ASSERT_NEAR(1.0, nnd_round_f16(1.00048828125), 0);   /* tie -> even */
  ASSERT_NEAR(65504.0, nnd_round_f16(65504.0), 0);
  ASSERT_TRUE(isinf(nnd_round_f16(70000.0)));
  ASSERT_NEAR(5.960464477539063e-08, nnd_round_f16(6e-8), 0); /* subnormal 2^-24 */
  ASSERT_NEAR(1.0078125, nnd_round_bf16(1.005), 0);           /* 1 + 2^-7 */
  return 0;
}

static int test_weight_cosine_ignores_channel_scale(void) {
  double a[N], b[N];
  base_weights(a);
  for (int o = 0; o < O; o++)
    for (int k = 0; k < I * K * K; k++)
      b[o * I * K * K + k] = a[o * I * K * K + k] * (0.5 + o);
  ASSERT_NEAR(1.0, nnd_weight_cosine(a, b, N, O), 1e-12);
  ASSERT_TRUE(isnan(nnd_weight_cosine(a, b, N, 7)));
  return 0;
}

NND_TEST_MAIN(NND_TEST(test_bn_fold_matches_conv_bn),
              NND_TEST(test_bn_fold_matches_engine_reference),
              NND_TEST(test_canon_dense_and_flatten), NND_TEST(test_canon_zero_pad_absorbed),
              NND_TEST(test_canon_gated_hardswish), NND_TEST(test_canon_layout_transposes),
              NND_TEST(test_align_renamed_folded_twin), NND_TEST(test_align_zero_pad_equivalent),
              NND_TEST(test_align_reflect_pad_fault), NND_TEST(test_static_pads_and_bias),
              NND_TEST(test_finding_edits_fix_the_faults),
              NND_TEST(test_single_input_concat_is_seen_through), NND_TEST(test_patterns_weights),
              NND_TEST(test_patterns_bias), NND_TEST(test_round_f16),
              NND_TEST(test_weight_cosine_ignores_channel_scale))
