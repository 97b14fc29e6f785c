/* Shape inference on hand-built graphs: every op family, attribute
 * resolution from constant inputs, folding of shape arithmetic, symbolic
 * dims, and the error messages for clashes and hostile sizes. */
#include <math.h>
#include <stdint.h>

#include "ir/shape_infer.h"
#include "ir_test_util.h"
#include "nnd_test.h"

#define F32 NND_DTYPE_F32

/* Infers shapes and expects success. */
#define INFER_OK(g)                                                                                \
  do {                                                                                             \
    nnd_error ie_ = {0};                                                                           \
    nnd_status is_ = nnd_graph_infer_shapes(g, &ie_);                                              \
    if (is_ != NND_OK) fprintf(stderr, "infer: %s\n", ie_.message);                                \
    ASSERT_EQ_INT(NND_OK, is_);                                                                    \
    is_ = nnd_graph_validate(g, &ie_);                                                             \
    if (is_ != NND_OK) fprintf(stderr, "validate: %s\n", ie_.message);                             \
    ASSERT_EQ_INT(NND_OK, is_);                                                                    \
  } while (0)

/* Infers shapes and expects NND_ERR_GRAPH with message msg. */
#define INFER_FAILS(g, msg)                                                                        \
  do {                                                                                             \
    nnd_error ie_ = {0};                                                                           \
    ASSERT_EQ_INT(NND_ERR_GRAPH, nnd_graph_infer_shapes(g, &ie_));                                 \
    ASSERT_CONTAINS(ie_.message, msg);                                                             \
  } while (0)

static nnd_conv_attrs *conv_of(nnd_graph *g, int32_t node) { return &g->nodes[node].attrs.conv; }

/* ------------------------------------------------------------ conv */

static int test_conv_explicit_pads(void) {
  nnd_graph *g = nnd_graph_create(NULL);
  int32_t x = tg_input(g, "x", F32, DIMS(1, 3, 224, 224));
  int32_t w = tg_weight(g, "w", DIMS(64, 3, 7, 7));
  int32_t b = tg_weight(g, "b", DIMS(64));
  int32_t y;
  int32_t n = NODE(g, NND_OP_CONV, "conv1", &y, x, w, b);
  nnd_conv_attrs *a = conv_of(g, n);
  for (int i = 0; i < 2; i++)
    a->strides[i] = 2, a->pads_begin[i] = a->pads_end[i] = 3;
  INFER_OK(g);
  ASSERT_SHAPE(g, y, "[1,64,112,112]");
  a = conv_of(g, n);
  ASSERT_EQ_INT(2, a->n_spatial);
  ASSERT_EQ_INT(7, a->kernel[0]); /* taken from the weight */
  ASSERT_EQ_INT(7, a->kernel[1]);
  ASSERT_EQ_INT(F32, g->values[y].dtype);
  ASSERT_EQ_INT(NND_LAYOUT_NCHW, g->values[y].layout);
  nnd_graph_destroy(g);
  return 0;
}

static int test_conv_same_padding(void) {
  nnd_graph *g = nnd_graph_create(NULL);
  int32_t x = tg_input(g, "x", F32, DIMS(1, 3, 224, 224));
  int32_t w = tg_weight(g, "w", DIMS(32, 3, 3, 3));
  int32_t y1, y2, y3;
  int32_t up = NODE(g, NND_OP_CONV, "up", &y1, x, w);
  int32_t lo = NODE(g, NND_OP_CONV, "lo", &y2, x, w);
  int32_t va = NODE(g, NND_OP_CONV, "valid", &y3, x, w);
  for (int i = 0; i < 2; i++) {
    conv_of(g, up)->strides[i] = conv_of(g, lo)->strides[i] = conv_of(g, va)->strides[i] = 2;
    conv_of(g, va)->pads_begin[i] = 5; /* VALID overrides whatever pads say */
  }
  conv_of(g, up)->auto_pad = NND_AUTO_PAD_SAME_UPPER;
  conv_of(g, lo)->auto_pad = NND_AUTO_PAD_SAME_LOWER;
  conv_of(g, va)->auto_pad = NND_AUTO_PAD_VALID;
  INFER_OK(g);
  ASSERT_SHAPE(g, y1, "[1,32,112,112]");
  ASSERT_SHAPE(g, y2, "[1,32,112,112]");
  ASSERT_SHAPE(g, y3, "[1,32,111,111]");
  /* total pad 1: SAME_UPPER puts it at the end, SAME_LOWER at the start */
  ASSERT_EQ_INT(0, conv_of(g, up)->pads_begin[0]);
  ASSERT_EQ_INT(1, conv_of(g, up)->pads_end[0]);
  ASSERT_EQ_INT(1, conv_of(g, lo)->pads_begin[1]);
  ASSERT_EQ_INT(0, conv_of(g, lo)->pads_end[1]);
  ASSERT_EQ_INT(0, conv_of(g, va)->pads_begin[0]);
  ASSERT_EQ_INT(NND_AUTO_PAD_SAME_UPPER, conv_of(g, up)->auto_pad); /* kept for provenance */
  nnd_graph_destroy(g);
  return 0;
}

static int test_conv_dilation_groups(void) {
  nnd_graph *g = nnd_graph_create(NULL);
  int32_t x = tg_input(g, "x", F32, DIMS(1, 32, 56, 56));
  int32_t w_dil = tg_weight(g, "w_dil", DIMS(32, 32, 3, 3));
  int32_t w_dw = tg_weight(g, "w_dw", DIMS(32, 1, 3, 3));
  int32_t w_g2 = tg_weight(g, "w_g2", DIMS(64, 16, 3, 3));
  int32_t y_dil, y_dil0, y_dw, y_g2;
  int32_t n1 = NODE(g, NND_OP_CONV, "dil", &y_dil, x, w_dil);
  int32_t n2 = NODE(g, NND_OP_CONV, "dil_nopad", &y_dil0, x, w_dil);
  int32_t n3 = NODE(g, NND_OP_CONV, "dw", &y_dw, x, w_dw);
  int32_t n4 = NODE(g, NND_OP_CONV, "g2", &y_g2, x, w_g2);
  for (int i = 0; i < 2; i++) {
    conv_of(g, n1)->dilations[i] = conv_of(g, n2)->dilations[i] = 2;
    conv_of(g, n1)->pads_begin[i] = conv_of(g, n1)->pads_end[i] = 2;
    conv_of(g, n3)->pads_begin[i] = conv_of(g, n3)->pads_end[i] = 1;
    conv_of(g, n3)->strides[i] = 2;
  }
  conv_of(g, n3)->groups = 32;
  conv_of(g, n4)->groups = 2;
  INFER_OK(g);
  ASSERT_SHAPE(g, y_dil, "[1,32,56,56]");
  ASSERT_SHAPE(g, y_dil0, "[1,32,52,52]");
  ASSERT_SHAPE(g, y_dw, "[1,32,28,28]");
  ASSERT_SHAPE(g, y_g2, "[1,64,54,54]");
  nnd_graph_destroy(g);
  return 0;
}

static int test_conv_nhwc_layouts(void) {
  nnd_graph *g = nnd_graph_create(NULL);
  int32_t x = tg_input(g, "x", F32, DIMS(SYM(0), 224, 224, 3));
  int32_t w_ohwi = tg_weight(g, "w_ohwi", DIMS(32, 3, 3, 3));
  int32_t w_dw = tg_weight(g, "w_dw", DIMS(1, 3, 3, 32));
  int32_t w_hwio = tg_weight(g, "w_hwio", DIMS(1, 1, 32, 16));
  int32_t y1, y2, y3;
  int32_t n1 = NODE(g, NND_OP_CONV, "conv", &y1, x, w_ohwi);
  int32_t n2 = NODE(g, NND_OP_CONV, "dw", &y2, y1, w_dw);
  int32_t n3 = NODE(g, NND_OP_CONV, "pw", &y3, y2, w_hwio);
  conv_of(g, n1)->weight_layout = NND_WLAYOUT_OHWI;
  conv_of(g, n2)->weight_layout = NND_WLAYOUT_1HWO;
  conv_of(g, n2)->groups = 32;
  conv_of(g, n3)->weight_layout = NND_WLAYOUT_HWIO;
  for (int32_t n = n1; n <= n3; n++) {
    conv_of(g, n)->layout = NND_LAYOUT_NHWC;
    conv_of(g, n)->auto_pad = NND_AUTO_PAD_SAME_UPPER;
  }
  conv_of(g, n1)->strides[0] = conv_of(g, n1)->strides[1] = 2;
  INFER_OK(g);
  ASSERT_SHAPE(g, y1, "[batch,112,112,32]");
  ASSERT_SHAPE(g, y2, "[batch,112,112,32]");
  ASSERT_SHAPE(g, y3, "[batch,112,112,16]");
  ASSERT_EQ_INT(3, conv_of(g, n1)->kernel[0]);
  ASSERT_EQ_INT(1, conv_of(g, n3)->kernel[1]);
  ASSERT_EQ_INT(NND_LAYOUT_NHWC, g->values[y3].layout);
  /* a depthwise weight whose multiplier does not match: 32 in, groups 16 */
  conv_of(g, n2)->groups = 16;
  INFER_FAILS(g, "node 'dw' (Conv): input has 32 channels but the weight expects 16 (groups 16)");
  nnd_graph_destroy(g);
  return 0;
}

static int test_conv_transpose(void) {
  nnd_graph *g = nnd_graph_create(NULL);
  int32_t x = tg_input(g, "x", F32, DIMS(1, 16, 14, 14));
  int32_t w = tg_weight(g, "w", DIMS(16, 8, 4, 4)); /* ONNX: [in, out/groups, k, k] */
  int32_t w1 = tg_weight(g, "w1", DIMS(16, 8, 1, 1));
  int32_t y1, y2, y3, y4;
  int32_t n1 = NODE(g, NND_OP_CONV_TRANSPOSE, "up", &y1, x, w);
  int32_t n2 = NODE(g, NND_OP_CONV_TRANSPOSE, "up_g2", &y2, x, w);
  int32_t n3 = NODE(g, NND_OP_CONV_TRANSPOSE, "up_same", &y3, x, w);
  int32_t n4 = NODE(g, NND_OP_CONV_TRANSPOSE, "up_same_k1", &y4, x, w1);
  conv_of(g, n4)->strides[0] = conv_of(g, n4)->strides[1] = 2;
  conv_of(g, n4)->auto_pad = NND_AUTO_PAD_SAME_LOWER;
  for (int i = 0; i < 2; i++) {
    conv_of(g, n1)->strides[i] = conv_of(g, n2)->strides[i] = conv_of(g, n3)->strides[i] = 2;
    conv_of(g, n1)->pads_begin[i] = conv_of(g, n1)->pads_end[i] = 1;
  }
  conv_of(g, n1)->output_padding[0] = 1;
  conv_of(g, n2)->groups = 2;
  conv_of(g, n3)->auto_pad = NND_AUTO_PAD_SAME_UPPER;
  INFER_OK(g);
  ASSERT_SHAPE(g, y1, "[1,8,29,28]"); /* (14-1)*2 - 2 + 3 + 1 (+1 output_padding) */
  ASSERT_SHAPE(g, y2, "[1,16,30,30]");
  ASSERT_SHAPE(g, y3, "[1,8,28,28]");
  ASSERT_EQ_INT(1, conv_of(g, n3)->pads_begin[0]); /* total 2 */
  ASSERT_EQ_INT(1, conv_of(g, n3)->pads_end[0]);
  /* A 1x1 kernel with stride 2 reaches (14-1)*2 + 1 = 27 < 28 before any
   * padding: no negative pads, 27 stays (what ONNX Runtime 1.22 computes and
   * onnx.shape_inference says for this node). */
  ASSERT_SHAPE(g, y4, "[1,8,27,27]");
  ASSERT_EQ_INT(0, conv_of(g, n4)->pads_begin[0]);
  ASSERT_EQ_INT(0, conv_of(g, n4)->pads_end[0]);
  nnd_graph_destroy(g);
  return 0;
}

/* ------------------------------------------------------------ pools */

static int test_pool_ceil_mode(void) {
  nnd_graph *g = nnd_graph_create(NULL);
  int32_t a = tg_input(g, "a", F32, DIMS(1, 64, 112, 112));
  int32_t b = tg_input(g, "b", F32, DIMS(1, 64, 55, 55));
  int32_t c = tg_input(g, "c", F32, DIMS(1, 64, 5, 5));
  int32_t ya, yb, ya_floor, yc, yd;
  int32_t n[5];
  n[0] = NODE(g, NND_OP_MAX_POOL, "pa", &ya, a);
  n[1] = NODE(g, NND_OP_MAX_POOL, "pb", &yb, b);
  n[2] = NODE(g, NND_OP_MAX_POOL, "pa_floor", &ya_floor, a);
  n[3] = NODE(g, NND_OP_AVG_POOL, "pc", &yc, c);
  n[4] = NODE(g, NND_OP_MAX_POOL, "pd", &yd, c);
  for (int k = 0; k < 5; k++) {
    nnd_pool_attrs *p = &g->nodes[n[k]].attrs.pool;
    for (int i = 0; i < 2; i++)
      p->kernel[i] = 3, p->strides[i] = 2;
    p->ceil_mode = k != 2;
  }
  /* k2 s2 pad 1 on 5 with ceil: the 4th window would start in the right
   * padding, so PyTorch and ONNX drop it: 3 */
  for (int i = 0; i < 2; i++) {
    nnd_pool_attrs *p = &g->nodes[n[3]].attrs.pool;
    p->kernel[i] = 2;
    p->pads_begin[i] = p->pads_end[i] = 1;
  }
  INFER_OK(g);
  ASSERT_SHAPE(g, ya, "[1,64,56,56]");       /* MaxPool2d(3,2,ceil_mode=True)(112) */
  ASSERT_SHAPE(g, yb, "[1,64,27,27]");       /* ... on 55 */
  ASSERT_SHAPE(g, ya_floor, "[1,64,55,55]"); /* floor */
  ASSERT_SHAPE(g, yc, "[1,64,3,3]");
  ASSERT_SHAPE(g, yd, "[1,64,2,2]");
  nnd_graph_destroy(g);
  return 0;
}

static int test_global_pool_and_bn(void) {
  nnd_graph *g = nnd_graph_create(NULL);
  int32_t x = tg_input(g, "x", F32, DIMS(SYM(0), 512, 7, 7));
  int32_t xh = tg_input(g, "xh", F32, DIMS(1, 7, 7, 512));
  int32_t s = tg_weight(g, "s", DIMS(512)), bad = tg_weight(g, "bad", DIMS(256));
  int32_t y, yh, yb;
  NODE(g, NND_OP_GLOBAL_AVG_POOL, "gap", &y, x);
  int32_t n = NODE(g, NND_OP_GLOBAL_MAX_POOL, "gmp", &yh, xh);
  g->nodes[n].attrs.pool.layout = NND_LAYOUT_NHWC;
  int32_t bn = NODE(g, NND_OP_BATCH_NORM, "bn", &yb, x, s, s, s, s);
  INFER_OK(g);
  ASSERT_SHAPE(g, y, "[batch,512,1,1]");
  ASSERT_SHAPE(g, yh, "[1,1,1,512]");
  ASSERT_SHAPE(g, yb, "[batch,512,7,7]");
  g->nodes[bn].inputs[3] = bad;
  INFER_FAILS(g, "node 'bn' (BatchNorm): mean 'bad' has 256 values but the input "
                 "[batch,512,7,7] (NCHW) has 512 channels");
  nnd_graph_destroy(g);
  return 0;
}

/* ----------------------------------------------------- dense layers */

static int test_gemm_matmul(void) {
  nnd_graph *g = nnd_graph_create(NULL);
  int32_t a = tg_input(g, "a", F32, DIMS(SYM(0), 512));
  int32_t wt = tg_weight(g, "wt", DIMS(1000, 512)), c = tg_weight(g, "c", DIMS(1000));
  int32_t m1 = tg_input(g, "m1", F32, DIMS(2, 1, 3, 4)), m2 = tg_input(g, "m2", F32, DIMS(5, 4, 6));
  int32_t v4 = tg_input(g, "v4", F32, DIMS(4)), m46 = tg_input(g, "m46", F32, DIMS(4, 6));
  int32_t m34 = tg_input(g, "m34", F32, DIMS(3, 4));
  int32_t y, yb, yv1, yv2, yvv;
  int32_t gemm = NODE(g, NND_OP_GEMM, "fc", &y, a, wt, c);
  g->nodes[gemm].attrs.trans_b = true;
  NODE(g, NND_OP_MATMUL, "bmm", &yb, m1, m2);
  NODE(g, NND_OP_MATMUL, "vm", &yv1, v4, m46);
  NODE(g, NND_OP_MATMUL, "mv", &yv2, m34, v4);
  NODE(g, NND_OP_MATMUL, "vv", &yvv, v4, v4);
  INFER_OK(g);
  ASSERT_SHAPE(g, y, "[batch,1000]");
  ASSERT_SHAPE(g, yb, "[2,5,3,6]");
  ASSERT_SHAPE(g, yv1, "[6]");
  ASSERT_SHAPE(g, yv2, "[3]");
  ASSERT_SHAPE(g, yvv, "[]");
  g->nodes[gemm].attrs.trans_b = false;
  INFER_FAILS(g, "node 'fc' (Gemm): A [batch,512] and B [1000,512] disagree on the inner dim "
                 "(512 vs 1000)");
  nnd_graph_destroy(g);
  return 0;
}

/* -------------------------------------------------- data movement */

static int test_flatten_reshape(void) {
  nnd_graph *g = nnd_graph_create(NULL);
  int32_t x = tg_input(g, "x", F32, DIMS(SYM(0), 512, 7, 7));
  int32_t s = tg_input(g, "s", F32, DIMS(2, 3, 4));
  int32_t z = tg_input(g, "z", F32, DIMS(0, 5));
  int32_t sh1 = INTS(g, "sh1", 0, -1), sh2 = INTS(g, "sh2", -1, 4, 1),
          sh3 = INTS(g, "sh3", 0, 512, 49), sh4 = INTS(g, "sh4", 4, 0, -1),
          sh5 = INTS(g, "sh5", 0, 7);
  int32_t yf, yf0, y1, y2, y3, y4, y5;
  int32_t f1 = NODE(g, NND_OP_FLATTEN, "flat", &yf, x);
  int32_t f0 = NODE(g, NND_OP_FLATTEN, "flat0", &yf0, s);
  g->nodes[f1].attrs.axis = 1;
  g->nodes[f0].attrs.axis = 0;
  NODE(g, NND_OP_RESHAPE, "r1", &y1, x, sh1);
  NODE(g, NND_OP_RESHAPE, "r2", &y2, s, sh2);
  NODE(g, NND_OP_RESHAPE, "r3", &y3, x, sh3);
  NODE(g, NND_OP_RESHAPE, "r4", &y4, s, sh4);
  int32_t r5 = NODE(g, NND_OP_RESHAPE, "r5", &y5, z, sh5);
  g->nodes[r5].attrs.allowzero = true;
  INFER_OK(g);
  ASSERT_SHAPE(g, yf, "[batch,25088]");
  ASSERT_SHAPE(g, yf0, "[1,24]");
  ASSERT_SHAPE(g, y1, "[batch,25088]"); /* 0 copies the batch, -1 pairs it off */
  ASSERT_SHAPE(g, y2, "[6,4,1]");
  ASSERT_SHAPE(g, y3, "[batch,512,49]");
  ASSERT_SHAPE(g, y4, "[4,3,2]");
  ASSERT_SHAPE(g, y5, "[0,7]"); /* allowzero: a real 0 */
  nnd_graph_destroy(g);
  return 0;
}

/* Shape -> Gather -> Unsqueeze -> Concat -> Reshape, as torch.onnx writes
 * x.view(x.size(0), -1), with a static, a named and an unnamed batch. */
static int build_view_chain(nnd_graph *g, const int64_t *dims, int32_t *cat_out, int32_t *y_out) {
  int32_t x = tg_input(g, "x", F32, dims);
  int32_t i0 = tg_ints(g, "i0", -1, (const int64_t[]){0});
  int32_t ax = INTS(g, "ax", 0), m1 = INTS(g, "m1", -1);
  int32_t s, b, u, cat;
  if (NODE(g, NND_OP_SHAPE, "Shape_0", &s, x) < 0) return 1;
  NODE(g, NND_OP_GATHER, "Gather_1", &b, s, i0);
  NODE(g, NND_OP_UNSQUEEZE, "Unsqueeze_2", &u, b, ax);
  int32_t c = NODE(g, NND_OP_CONCAT, "Concat_3", &cat, u, m1);
  g->nodes[c].attrs.axis = 0;
  if (NODE(g, NND_OP_RESHAPE, "Reshape_4", y_out, x, cat) < 0) return 1;
  *cat_out = cat;
  return 0;
}

static int test_folded_view_chain(void) {
  for (int variant = 0; variant < 3; variant++) {
    nnd_graph *g = nnd_graph_create(NULL);
    int32_t cat, y;
    const int64_t *dims = variant == 0   ? DIMS(1, 512, 7, 7)
                          : variant == 1 ? DIMS(SYM(0), 512, 7, 7)
                                         : DIMS(UNK, 512, 7, 7);
    ASSERT_EQ_INT(0, build_view_chain(g, dims, &cat, &y));
    INFER_OK(g);
    INFER_OK(g); /* a second run recomputes the folded values the same way */
    const nnd_value *cv = &g->values[cat];
    ASSERT_SHAPE(g, cat, "[2]");
    ASSERT_EQ_INT(NND_DTYPE_I64, cv->dtype);
    if (variant == 0) {
      int64_t v0 = 0, v1 = 0;
      ASSERT_TRUE(cv->folded);
      ASSERT_TRUE(nnd_value_read_i64(cv, 0, &v0) && nnd_value_read_i64(cv, 1, &v1));
      ASSERT_EQ_INT(1, v0);
      ASSERT_EQ_INT(-1, v1);
      ASSERT_SHAPE(g, y, "[1,25088]");
    } else {
      ASSERT_TRUE(!cv->folded && !cv->data); /* partly known: not written as data */
      ASSERT_SHAPE(g, y, variant == 1 ? "[batch,25088]" : "[?,25088]");
    }
    nnd_graph_destroy(g);
  }
  return 0;
}

/* Shape -> Slice -> Cast -> Mul -> Concat -> Resize(sizes): the upsample
 * pattern, and Shape with start/end. */
static int test_folded_slice_cast_mul(void) {
  nnd_graph *g = nnd_graph_create(NULL);
  int32_t x = tg_input(g, "x", F32, DIMS(1, 3, 224, 224));
  int32_t st = INTS(g, "st", 2), en = INTS(g, "en", INT64_MAX), two = INTS(g, "two", 2);
  int32_t nc = INTS(g, "nc", 1, 3);
  int32_t s, hw, hw32, hw64, big, sizes, y, part;
  NODE(g, NND_OP_SHAPE, "shape", &s, x);
  NODE(g, NND_OP_SLICE, "slice", &hw, s, st, en);
  int32_t c1 = NODE(g, NND_OP_CAST, "to_i32", &hw32, hw);
  int32_t c2 = NODE(g, NND_OP_CAST, "to_i64", &hw64, hw32);
  g->nodes[c1].attrs.to = NND_DTYPE_I32;
  g->nodes[c2].attrs.to = NND_DTYPE_I64;
  NODE(g, NND_OP_MUL, "mul", &big, hw64, two);
  int32_t c = NODE(g, NND_OP_CONCAT, "cat", &sizes, nc, big);
  g->nodes[c].attrs.axis = 0;
  NODE(g, NND_OP_RESIZE, "resize", &y, x, -1, -1, sizes);
  int32_t sp = NODE(g, NND_OP_SHAPE, "shape_part", &part, x);
  g->nodes[sp].attrs.shape_start = 1;
  g->nodes[sp].attrs.shape_end = -1;
  INFER_OK(g);
  ASSERT_EQ_INT(NND_DTYPE_I32, g->values[hw32].dtype);
  ASSERT_TRUE(g->values[hw32].folded);
  ASSERT_EQ_INT(8, g->values[hw32].nbytes);
  int64_t v;
  ASSERT_TRUE(nnd_value_read_i64(&g->values[big], 1, &v));
  ASSERT_EQ_INT(448, v);
  ASSERT_SHAPE(g, y, "[1,3,448,448]");
  ASSERT_SHAPE(g, part, "[2]");
  ASSERT_TRUE(nnd_value_read_i64(&g->values[part], 0, &v));
  ASSERT_EQ_INT(3, v);
  nnd_graph_destroy(g);
  return 0;
}

static int test_transpose_squeeze_unsqueeze(void) {
  nnd_graph *g = nnd_graph_create(NULL);
  int32_t x = tg_input(g, "x", F32, DIMS(SYM(0), 3, 224, 224));
  int32_t p = tg_input(g, "p", F32, DIMS(1, 64, 1, 1));
  int32_t v = tg_input(g, "v", F32, DIMS(64));
  int32_t ax23 = INTS(g, "ax23", 2, 3), ax0m1 = INTS(g, "ax0m1", 0, -1);
  int32_t yt, yr, ys, ys_all, yu;
  int32_t t = NODE(g, NND_OP_TRANSPOSE, "nhwc", &yt, x);
  g->nodes[t].attrs.n_perm = 4;
  int64_t perm[] = {0, 2, 3, 1};
  memcpy(g->nodes[t].attrs.perm, perm, sizeof perm);
  NODE(g, NND_OP_TRANSPOSE, "rev", &yr, x);
  int32_t sq = NODE(g, NND_OP_SQUEEZE, "sq", &ys, p, ax23);
  int32_t sq_all = NODE(g, NND_OP_SQUEEZE, "sq_all", &ys_all, p);
  int32_t un = NODE(g, NND_OP_UNSQUEEZE, "un", &yu, v, ax0m1);
  (void)sq_all;
  INFER_OK(g);
  ASSERT_SHAPE(g, yt, "[batch,224,224,3]");
  ASSERT_SHAPE(g, yr, "[224,224,3,batch]");
  ASSERT_SHAPE(g, ys, "[1,64]");
  ASSERT_SHAPE(g, ys_all, "[64]");
  ASSERT_SHAPE(g, yu, "[1,64,1]");
  ASSERT_TRUE(g->nodes[sq].attrs.has_axes);
  ASSERT_EQ_INT(2, g->nodes[sq].attrs.n_axes);
  ASSERT_EQ_INT(3, g->nodes[sq].attrs.axes[1]);
  ASSERT_TRUE(g->nodes[un].attrs.has_axes);
  ASSERT_EQ_INT(-1, g->nodes[un].attrs.axes[1]); /* as the file wrote it */
  g->nodes[t].attrs.perm[1] = 3;
  INFER_FAILS(g, "node 'nhwc' (Transpose): perm is not a permutation of 0..3");
  g->nodes[t].attrs.perm[1] = 2;
  g->nodes[sq].inputs[1] = INTS(g, "ax1", 1);
  INFER_FAILS(g, "node 'sq' (Squeeze): cannot squeeze dim 1 of size 64 from [1,64,1,1]");
  nnd_graph_destroy(g);
  return 0;
}

static int test_pad_from_inputs(void) {
  nnd_graph *g = nnd_graph_create(NULL);
  int32_t x = tg_input(g, "x", F32, DIMS(SYM(0), 3, 224, 224));
  int32_t pads = INTS(g, "pads", 0, 0, 1, 1, 0, 0, 2, 2);
  int32_t crop = INTS(g, "crop", 0, 0, -1, -1, 0, 0, -1, -1);
  int32_t pads2 = INTS(g, "pads2", 1, 1), axes = INTS(g, "axes", -1);
  int32_t val = tg_floats(g, "val", -1, (const float[]){0.5f});
  g->values[val].shape.rank = 0;
  int32_t y1, y2, y3;
  int32_t p1 = NODE(g, NND_OP_PAD, "pad", &y1, x, pads, val);
  NODE(g, NND_OP_PAD, "crop", &y2, x, crop);
  NODE(g, NND_OP_PAD, "pad_axes", &y3, x, pads2, -1, axes);
  INFER_OK(g);
  ASSERT_SHAPE(g, y1, "[batch,3,227,227]");
  ASSERT_SHAPE(g, y2, "[batch,3,222,222]");
  ASSERT_SHAPE(g, y3, "[batch,3,224,226]");
  const nnd_attrs *a = &g->nodes[p1].attrs;
  ASSERT_TRUE(a->has_pads);
  ASSERT_EQ_INT(4, a->n_pads);
  ASSERT_EQ_INT(1, a->pads_begin[2]);
  ASSERT_EQ_INT(2, a->pads_end[3]);
  ASSERT_NEAR(0.5, a->pad_value, 0);
  g->nodes[p1].inputs[1] = INTS(g, "short", 1, 1);
  INFER_FAILS(g, "node 'pad' (Pad): pads has 2 values but the input [batch,3,224,224] has rank 4");
  nnd_graph_destroy(g);
  return 0;
}

static int test_slice(void) {
  nnd_graph *g = nnd_graph_create(NULL);
  int32_t x = tg_input(g, "x", F32, DIMS(1, 10, 20));
  int32_t xb = tg_input(g, "xb", F32, DIMS(SYM(0), 10));
  int32_t m3 = INTS(g, "m3", -3), big = INTS(g, "big", INT64_MAX), a1 = INTS(g, "a1", 1);
  int32_t m1 = INTS(g, "m1", -1), small = INTS(g, "small", INT64_MIN), a2 = INTS(g, "a2", 2);
  int32_t st2 = INTS(g, "st2", 1, 2), en2 = INTS(g, "en2", -1, 1000), ax2 = INTS(g, "ax2", 1, 2),
          sp2 = INTS(g, "sp2", 1, 3), zero = INTS(g, "zero", 0), one = INTS(g, "one", 1),
          a0 = INTS(g, "a0", 0);
  int32_t y1, y2, y3, y4, y5;
  int32_t s1 = NODE(g, NND_OP_SLICE, "tail", &y1, x, m3, big, a1);
  NODE(g, NND_OP_SLICE, "reverse", &y2, x, m1, small, a2, m1);
  NODE(g, NND_OP_SLICE, "two_axes", &y3, x, st2, en2, ax2, sp2);
  NODE(g, NND_OP_SLICE, "whole", &y4, xb, zero, big, a0);
  NODE(g, NND_OP_SLICE, "drop_first", &y5, xb, one, big, a0);
  INFER_OK(g);
  ASSERT_SHAPE(g, y1, "[1,3,20]");
  ASSERT_SHAPE(g, y2, "[1,10,20]");
  ASSERT_SHAPE(g, y3, "[1,8,6]");
  ASSERT_SHAPE(g, y4, "[batch,10]");
  ASSERT_SHAPE(g, y5, "[?,10]");
  const nnd_attrs *a = &g->nodes[s1].attrs;
  ASSERT_TRUE(a->has_slice && a->has_axes);
  ASSERT_EQ_INT(1, a->n_axes);
  ASSERT_EQ_INT(-3, a->starts[0]);
  ASSERT_EQ_INT(1, a->steps[0]); /* defaulted */
  g->nodes[s1].inputs[3] = INTS(g, "bad_axis", 3);
  INFER_FAILS(g, "node 'tail' (Slice): axis 3 is out of range for a tensor of rank 3");
  nnd_graph_destroy(g);
  return 0;
}

static int test_concat_split(void) {
  nnd_graph *g = nnd_graph_create(NULL);
  int32_t a = tg_input(g, "a", F32, DIMS(SYM(0), 64, 56, 56));
  int32_t b = tg_input(g, "b", F32, DIMS(SYM(0), 32, 56, 56));
  int32_t x = tg_input(g, "x", F32, DIMS(1, 6, 4));
  int32_t sizes = INTS(g, "sizes", 1, 2, 3);
  int32_t y;
  int32_t c = NODE(g, NND_OP_CONCAT, "cat", &y, a, b);
  g->nodes[c].attrs.axis = 1;
  int32_t eq = tg_node(g, NND_OP_SPLIT, "split_eq", IN(x), 1, 3, NULL);
  int32_t sz = tg_node(g, NND_OP_SPLIT, "split_sz", IN(x, sizes), 2, 3, NULL);
  g->nodes[eq].attrs.axis = g->nodes[sz].attrs.axis = -2;
  INFER_OK(g);
  ASSERT_SHAPE(g, y, "[batch,96,56,56]");
  ASSERT_SHAPE(g, g->nodes[eq].outputs[2], "[1,2,4]");
  ASSERT_SHAPE(g, g->nodes[sz].outputs[0], "[1,1,4]");
  ASSERT_SHAPE(g, g->nodes[sz].outputs[2], "[1,3,4]");
  ASSERT_EQ_INT(3, g->nodes[sz].attrs.n_split);
  ASSERT_TRUE(g->nodes[sz].attrs.split != NULL);
  ASSERT_EQ_INT(2, g->nodes[sz].attrs.split[1]);
  g->nodes[sz].inputs[1] = INTS(g, "sizes5", 1, 1, 3);
  INFER_FAILS(g, "node 'split_sz' (Split): split sizes sum to 5 but axis 1 of the input [1,6,4] "
                 "has 6");
  g->nodes[sz].inputs[1] = sizes;
  g->nodes[c].inputs[1] = tg_input(g, "b2", F32, DIMS(SYM(0), 32, 28, 28));
  INFER_FAILS(g, "node 'cat' (Concat): input 1 'b2' [batch,32,28,28] does not match input 0 "
                 "[batch,64,56,56] on dim 2 (28 vs 56)");
  nnd_graph_destroy(g);
  return 0;
}

static int test_broadcast_and_symbols(void) {
  nnd_graph *g = nnd_graph_create(NULL);
  int32_t x = tg_input(g, "x", F32, DIMS(SYM(0), 3, 224, 224));
  int32_t w = tg_weight(g, "w", DIMS(64, 3, 7, 7)), fc = tg_weight(g, "fc", DIMS(1000, 64));
  int32_t scale = tg_weight(g, "scale", DIMS(SYM(0), 64, 1, 1));
  int32_t c1, r1, p1, m1, gp, fl, lg, sm;
  int32_t conv = NODE(g, NND_OP_CONV, "conv", &c1, x, w);
  for (int i = 0; i < 2; i++) {
    conv_of(g, conv)->strides[i] = 2;
    conv_of(g, conv)->pads_begin[i] = conv_of(g, conv)->pads_end[i] = 3;
  }
  NODE(g, NND_OP_RELU, "relu", &r1, c1);
  int32_t mp = NODE(g, NND_OP_MAX_POOL, "pool", &p1, r1);
  for (int i = 0; i < 2; i++) {
    nnd_pool_attrs *pa = &g->nodes[mp].attrs.pool;
    pa->kernel[i] = 3, pa->strides[i] = 2, pa->pads_begin[i] = pa->pads_end[i] = 1;
  }
  NODE(g, NND_OP_MUL, "se_scale", &m1, scale, p1);
  NODE(g, NND_OP_GLOBAL_AVG_POOL, "gap", &gp, m1);
  int32_t f = NODE(g, NND_OP_FLATTEN, "flatten", &fl, gp);
  g->nodes[f].attrs.axis = 1;
  int32_t gm = NODE(g, NND_OP_GEMM, "fc", &lg, fl, fc);
  g->nodes[gm].attrs.trans_b = true;
  int32_t s = NODE(g, NND_OP_SOFTMAX, "softmax", &sm, lg);
  g->nodes[s].attrs.axis = -1;
  INFER_OK(g);
  ASSERT_SHAPE(g, c1, "[batch,64,112,112]");
  ASSERT_SHAPE(g, p1, "[batch,64,56,56]");
  ASSERT_SHAPE(g, m1, "[batch,64,56,56]");
  ASSERT_SHAPE(g, sm, "[batch,1000]");
  ASSERT_STR_EQ("batch", g->values[sm].shape.dims[0].symbol);
  nnd_graph_destroy(g);
  return 0;
}

static int test_misc_ops(void) {
  nnd_graph *g = nnd_graph_create(NULL);
  int32_t x = tg_input(g, "x", F32, DIMS(SYM(0), 64, 7, 7));
  int32_t img = tg_input(g, "img", F32, DIMS(1, 3, 10, 10));
  int32_t e = tg_input(g, "e", F32, DIMS(3, 1));
  int32_t lo = tg_floats(g, "lo", -1, (const float[]){0.0f});
  int32_t hi = tg_floats(g, "hi", -1, (const float[]){6.0f});
  g->values[lo].shape.rank = g->values[hi].shape.rank = 0;
  int32_t scales = tg_floats(g, "scales", 4, (const float[]){1, 1, 2, 2});
  int32_t sizes = INTS(g, "sizes", 1, 3, 7, 9);
  int32_t idx = INTS(g, "idx", 0, 2, 4), am1 = INTS(g, "am1", -1),
          eshape = INTS(g, "eshape", 2, 1, 6);
  int32_t y_clip, y_rs, y_rz, y_r10, y_g, y_gs, y_m1, y_m2, y_m3, y_e, y_cast;
  int32_t clip = NODE(g, NND_OP_CLIP, "clip", &y_clip, x, lo, hi);
  NODE(g, NND_OP_RESIZE, "rs", &y_rs, img, -1, scales);
  NODE(g, NND_OP_RESIZE, "rz", &y_rz, img, -1, -1, sizes);
  NODE(g, NND_OP_RESIZE, "r10", &y_r10, img, scales);
  int32_t ga = NODE(g, NND_OP_GATHER, "gather", &y_g, x, idx);
  int32_t gs =
      NODE(g, NND_OP_GATHER, "gather_s", &y_gs, x, tg_ints(g, "i1", -1, (const int64_t[]){-1}));
  g->nodes[ga].attrs.axis = 1;
  g->nodes[gs].attrs.axis = 2;
  int32_t r1 = NODE(g, NND_OP_REDUCE_MEAN, "mean_hw", &y_m1, x);
  g->nodes[r1].attrs.has_axes = true;
  g->nodes[r1].attrs.n_axes = 2;
  g->nodes[r1].attrs.axes[0] = 2, g->nodes[r1].attrs.axes[1] = 3;
  int32_t r2 = NODE(g, NND_OP_REDUCE_SUM, "sum_last", &y_m2, x, am1);
  g->nodes[r2].attrs.keepdims = false;
  int32_t r3 = NODE(g, NND_OP_REDUCE_MAX, "max_all", &y_m3, x);
  g->nodes[r3].attrs.keepdims = false;
  NODE(g, NND_OP_EXPAND, "expand", &y_e, e, eshape);
  int32_t ca = NODE(g, NND_OP_CAST, "cast", &y_cast, x);
  g->nodes[ca].attrs.to = NND_DTYPE_F16;
  int32_t mp = tg_node(g, NND_OP_MAX_POOL, "mp2", IN(img), 1, 2, NULL);
  for (int i = 0; i < 2; i++)
    g->nodes[mp].attrs.pool.kernel[i] = 2, g->nodes[mp].attrs.pool.strides[i] = 2;
  int32_t dr = tg_node(g, NND_OP_DROPOUT, "drop", IN(x), 1, 2, NULL);
  INFER_OK(g);
  ASSERT_SHAPE(g, y_clip, "[batch,64,7,7]");
  ASSERT_NEAR(0.0, g->nodes[clip].attrs.clip_min, 0);
  ASSERT_NEAR(6.0, g->nodes[clip].attrs.clip_max, 0);
  ASSERT_SHAPE(g, y_rs, "[1,3,20,20]");
  ASSERT_SHAPE(g, y_rz, "[1,3,7,9]");
  ASSERT_SHAPE(g, y_r10, "[1,3,20,20]");
  ASSERT_SHAPE(g, y_g, "[batch,3,7,7]");
  ASSERT_SHAPE(g, y_gs, "[batch,64,7]");
  ASSERT_SHAPE(g, y_m1, "[batch,64,1,1]");
  ASSERT_SHAPE(g, y_m2, "[batch,64,7]");
  ASSERT_SHAPE(g, y_m3, "[]");
  ASSERT_SHAPE(g, y_e, "[2,3,6]");
  ASSERT_EQ_INT(NND_DTYPE_F16, g->values[y_cast].dtype);
  ASSERT_SHAPE(g, g->nodes[mp].outputs[1], "[1,3,5,5]");
  ASSERT_EQ_INT(NND_DTYPE_I64, g->values[g->nodes[mp].outputs[1]].dtype);
  ASSERT_EQ_INT(NND_DTYPE_BOOL, g->values[g->nodes[dr].outputs[1]].dtype);
  ASSERT_SHAPE(g, g->nodes[dr].outputs[1], "[batch,64,7,7]");
  g->nodes[ga].inputs[1] = INTS(g, "idx_bad", 0, 64);
  INFER_FAILS(g, "node 'gather' (Gather): index 64 is out of range for axis 1 of [batch,64,7,7]");
  nnd_graph_destroy(g);
  return 0;
}

static int test_quantize(void) {
  nnd_graph *g = nnd_graph_create(NULL);
  int32_t x = tg_input(g, "x", F32, DIMS(1, 8, 4, 4));
  int32_t sc = tg_floats(g, "sc", -1, (const float[]){0.1f});
  g->values[sc].shape.rank = 0;
  int32_t zp = tg_input(g, "zp", NND_DTYPE_I8, DIMS(END));
  g->values[zp].kind = NND_VALUE_CONSTANT;
  int32_t sc8 = tg_weight(g, "sc8", DIMS(8)), sc3 = tg_weight(g, "sc3", DIMS(3));
  int32_t q, dq, q2;
  NODE(g, NND_OP_QUANTIZE, "q", &q, x, sc, zp);
  NODE(g, NND_OP_DEQUANTIZE, "dq", &dq, q, sc);
  int32_t n = NODE(g, NND_OP_QUANTIZE, "q_axis", &q2, x, sc8);
  g->nodes[n].attrs.axis = 1;
  INFER_OK(g);
  ASSERT_EQ_INT(NND_DTYPE_I8, g->values[q].dtype);
  ASSERT_EQ_INT(NND_DTYPE_F32, g->values[dq].dtype);
  ASSERT_EQ_INT(NND_DTYPE_U8, g->values[q2].dtype);
  ASSERT_SHAPE(g, dq, "[1,8,4,4]");
  g->nodes[n].inputs[1] = sc3;
  INFER_FAILS(g, "node 'q_axis' (Quantize): scale 'sc3' has 3 values but axis 1 of the input "
                 "[1,8,4,4] has 8");
  nnd_graph_destroy(g);
  return 0;
}

static int test_prelu_resize_dynamic(void) {
  nnd_graph *g = nnd_graph_create(NULL);
  int32_t x = tg_input(g, "x", F32, DIMS(SYM(0), 64, 7, 7));
  int32_t xh = tg_input(g, "xh", F32, DIMS(1, 10, 10, 3));
  g->values[xh].layout = NND_LAYOUT_NHWC;
  int32_t xu = tg_input(g, "xu", F32, DIMS(SYM(0), 3, UNK, 10));
  int32_t dyn = tg_input(g, "dyn", NND_DTYPE_I64, DIMS(8));
  int32_t slope = tg_weight(g, "slope", DIMS(64, 1, 1)),
          bad = tg_weight(g, "bad", DIMS(2, 1, 1, 1));
  int32_t hw = INTS(g, "hw", 20, 30);
  int32_t sc = tg_floats(g, "sc", 4, (const float[]){1, 1, 2, 2});
  int32_t yp, yrh, yru, ypad, ysl;
  int32_t pr = NODE(g, NND_OP_PRELU, "prelu", &yp, x, slope);
  NODE(g, NND_OP_RESIZE, "rs_nhwc", &yrh, xh, -1, -1, hw);
  NODE(g, NND_OP_RESIZE, "rs_unknown", &yru, xu, -1, sc);
  NODE(g, NND_OP_PAD, "pad_dyn", &ypad, x, dyn);
  NODE(g, NND_OP_SLICE, "slice_dyn", &ysl, x, dyn, dyn);
  INFER_OK(g);
  ASSERT_SHAPE(g, yp, "[batch,64,7,7]");
  ASSERT_SHAPE(g, yrh, "[1,20,30,3]");
  ASSERT_SHAPE(g, yru, "[batch,3,?,20]");
  ASSERT_SHAPE(g, ypad, "[?,?,?,?]"); /* pads known only at run time */
  ASSERT_SHAPE(g, ysl, "[?,?,?,?]");
  /* [2,1,1,1] could still fit a batch of 2; it cannot fit a batch of 1 */
  g->nodes[pr].inputs[1] = bad;
  INFER_OK(g);
  g->nodes[pr].inputs[0] = tg_input(g, "x1", F32, DIMS(1, 64, 7, 7));
  INFER_FAILS(g, "node 'prelu' (PRelu): slope 'bad' [2,1,1,1] does not broadcast to the input "
                 "[1,64,7,7]");
  nnd_graph_destroy(g);
  return 0;
}

/* Integer arithmetic on folded sizes: Gather, Div, Sub, Add, Expand. */
static int test_fold_arithmetic(void) {
  nnd_graph *g = nnd_graph_create(NULL);
  int32_t x = tg_input(g, "x", F32, DIMS(1, 3, 224, 224));
  int32_t i23 = INTS(g, "i23", 2, 3), two = INTS(g, "two", 2), one = INTS(g, "one", 1);
  int32_t seven = INTS(g, "seven", 7), three = INTS(g, "three", 3), zero = INTS(g, "zero", 0);
  int32_t s, hw, half, m, a, e, dz;
  NODE(g, NND_OP_SHAPE, "shape", &s, x);
  NODE(g, NND_OP_GATHER, "gather", &hw, s, i23);
  NODE(g, NND_OP_DIV, "div", &half, hw, two);
  NODE(g, NND_OP_SUB, "sub", &m, half, one);
  NODE(g, NND_OP_ADD, "add", &a, m, one);
  NODE(g, NND_OP_EXPAND, "expand", &e, seven, three);
  NODE(g, NND_OP_DIV, "div0", &dz, hw, zero); /* not folded, not an error */
  INFER_OK(g);
  int64_t v = 0;
  ASSERT_TRUE(nnd_value_read_i64(&g->values[m], 1, &v));
  ASSERT_EQ_INT(111, v);
  ASSERT_TRUE(nnd_value_read_i64(&g->values[a], 0, &v));
  ASSERT_EQ_INT(112, v);
  ASSERT_SHAPE(g, e, "[3]");
  ASSERT_TRUE(g->values[e].folded);
  ASSERT_TRUE(nnd_value_read_i64(&g->values[e], 2, &v));
  ASSERT_EQ_INT(7, v);
  ASSERT_TRUE(!g->values[dz].folded);
  ASSERT_SHAPE(g, dz, "[2]");
  nnd_graph_destroy(g);
  return 0;
}

/* -------------------------------------------------------- errors */

static int test_error_messages(void) {
  nnd_graph *g = nnd_graph_create(NULL);
  int32_t x = tg_input(g, "x", F32, DIMS(1, 64, 56, 56));
  int32_t w = tg_weight(g, "w", DIMS(32, 32, 3, 3));
  int32_t y;
  NODE(g, NND_OP_CONV, "Conv_3", &y, x, w);
  INFER_FAILS(g,
              "node 'Conv_3' (Conv): input has 64 channels but the weight expects 32 (groups 1)");
  nnd_graph_destroy(g);

  g = nnd_graph_create(NULL);
  int32_t a = tg_input(g, "a", F32, DIMS(1, 64, 56, 56));
  int32_t b = tg_input(g, "b", F32, DIMS(1, 32, 56, 56));
  NODE(g, NND_OP_ADD, "Add_7", &y, a, b);
  INFER_FAILS(g, "node 'Add_7' (Add): shapes [1,64,56,56] and [1,32,56,56] do not broadcast");
  nnd_graph_destroy(g);

  g = nnd_graph_create(NULL);
  x = tg_input(g, "x", F32, DIMS(1, 3, 224, 224));
  NODE(g, NND_OP_RESHAPE, "Reshape_2", &y, x, INTS(g, "s", 1, 1000));
  INFER_FAILS(g, "node 'Reshape_2' (Reshape): cannot reshape 150528 elements into [1,1000]");
  nnd_graph_destroy(g);

  g = nnd_graph_create(NULL);
  x = tg_input(g, "x", F32, DIMS(1, 3, 224, 224));
  NODE(g, NND_OP_RESHAPE, "r", &y, x, INTS(g, "s", -1, 0, -1));
  INFER_FAILS(g, "node 'r' (Reshape): shape [-1,0,-1] has more than one -1");
  nnd_graph_destroy(g);

  /* the file path, when known, leads the message */
  g = nnd_graph_create(NULL);
  g->info.path = "model.onnx";
  x = tg_input(g, "x", F32, DIMS(2, 3));
  NODE(g, NND_OP_SOFTMAX, "sm", &y, x);
  g->nodes[0].attrs.axis = 2;
  INFER_FAILS(g, "model.onnx: node 'sm' (Softmax): axis 2 is out of range for a tensor of rank 2");
  nnd_graph_destroy(g);
  return 0;
}

static int test_hostile_sizes(void) {
  const int64_t big = (int64_t)1 << 40;
  nnd_graph *g = nnd_graph_create(NULL);
  int32_t x = tg_input(g, "x", F32, DIMS(big, big, 4));
  int32_t y;
  int32_t f = NODE(g, NND_OP_FLATTEN, "flat", &y, x);
  g->nodes[f].attrs.axis = 0;
  INFER_FAILS(g, "node 'flat' (Flatten): the element count of [1099511627776,1099511627776,4] "
                 "overflows");
  nnd_graph_destroy(g);

  g = nnd_graph_create(NULL);
  x = tg_input(g, "x", F32, DIMS(big, big, 4));
  NODE(g, NND_OP_RESHAPE, "r", &y, x, INTS(g, "s", -1));
  INFER_FAILS(g, "node 'r' (Reshape): the element count of the input");
  nnd_graph_destroy(g);

  g = nnd_graph_create(NULL);
  x = tg_input(g, "x", F32, DIMS(1, 3, INT64_MAX - 1, 8));
  int32_t w = tg_weight(g, "w", DIMS(8, 3, 3, 3));
  int32_t c = NODE(g, NND_OP_CONV, "conv", &y, x, w);
  g->nodes[c].attrs.conv.pads_begin[0] = 5;
  INFER_FAILS(g, "node 'conv' (Conv): the padded size overflows");
  nnd_graph_destroy(g);

  g = nnd_graph_create(NULL);
  x = tg_input(g, "x", F32, DIMS(INT64_MAX - 1, 3));
  int32_t x2 = tg_input(g, "x2", F32, DIMS(5, 3));
  c = NODE(g, NND_OP_CONCAT, "cat", &y, x, x2);
  g->nodes[c].attrs.axis = 0;
  INFER_FAILS(g, "node 'cat' (Concat): the concatenated size overflows");
  nnd_graph_destroy(g);

  g = nnd_graph_create(NULL);
  x = tg_input(g, "x", F32, DIMS(1, 1, 1, 1, 1, 1, 1));
  NODE(g, NND_OP_UNSQUEEZE, "un", &y, x, INTS(g, "ax", 0, 1));
  INFER_FAILS(g, "node 'un' (Unsqueeze): inserting 2 axes into [1,1,1,1,1,1,1] gives rank 9; "
                 "nndiff handles up to 8");
  nnd_graph_destroy(g);

  g = nnd_graph_create(NULL);
  x = tg_input(g, "x", F32, DIMS(2, 3));
  NODE(g, NND_OP_RESHAPE, "r", &y, x, INTS(g, "s", 1, 1, 1, 1, 1, 1, 1, 1, 6));
  INFER_FAILS(g, "node 'r' (Reshape): the target shape has 9 dims; nndiff handles up to 8");
  nnd_graph_destroy(g);

  /* a constant whose data is shorter than its shape */
  g = nnd_graph_create(NULL);
  x = tg_input(g, "x", F32, DIMS(2, 3));
  int32_t s = INTS(g, "s", 6, 1);
  g->values[s].shape.dims[0].size = 4;
  NODE(g, NND_OP_RESHAPE, "r", &y, x, s);
  INFER_FAILS(g, "node 'r' (Reshape): tensor 's' holds 2 int64 values but its shape [4] needs 4");
  nnd_graph_destroy(g);

  /* a rank out of range from a confused frontend */
  g = nnd_graph_create(NULL);
  x = tg_input(g, "x", F32, DIMS(2, 3));
  g->values[x].shape.rank = 99;
  NODE(g, NND_OP_RELU, "relu", &y, x);
  INFER_FAILS(g, "node 'relu' (Relu): input 'x' has rank 99");
  nnd_graph_destroy(g);

  /* huge resize scale */
  g = nnd_graph_create(NULL);
  x = tg_input(g, "x", F32, DIMS(1, 3, 1000, 1000));
  NODE(g, NND_OP_RESIZE, "rs", &y, x, tg_floats(g, "sc", 4, (const float[]){1, 1, 1e30f, 1}));
  INFER_FAILS(g, "node 'rs' (Resize): scale 1e+30 on dim 2 overflows");
  nnd_graph_destroy(g);
  return 0;
}

static int test_unsupported_and_unknown(void) {
  nnd_graph *g = nnd_graph_create(NULL);
  int32_t x = tg_input(g, "x", F32, DIMS(1, 3, 8, 8));
  int32_t w = tg_weight(g, "w", DIMS(4, 3, 3, 3));
  int32_t u, r, c;
  NODE(g, NND_OP_UNSUPPORTED, "custom", &u, x);
  NODE(g, NND_OP_RELU, "relu", &r, u);
  NODE(g, NND_OP_CONV, "conv", &c, r, w);
  INFER_OK(g);
  ASSERT_EQ_INT(-1, g->values[u].shape.rank);
  ASSERT_EQ_INT(-1, g->values[r].shape.rank);
  ASSERT_EQ_INT(-1, g->values[c].shape.rank);
  ASSERT_EQ_INT(1, nnd_graph_count_unsupported(g));
  nnd_graph_destroy(g);
  return 0;
}

static int test_rule_table_complete(void) {
  for (int op = 0; op < NND_OP_COUNT; op++) {
    const nnd__op_rule *r = nnd__op_rule_get((nnd_op)op);
    ASSERT_TRUE(r != NULL);
    if (op == NND_OP_UNSUPPORTED) continue;
    if (!r->infer) fprintf(stderr, "op %s has no shape function\n", nnd_op_name((nnd_op)op));
    ASSERT_TRUE(r->infer != NULL);
    ASSERT_TRUE(r->min_out >= 1);
    ASSERT_TRUE(r->max_in == NND__ANY || r->max_in >= r->min_in);
    ASSERT_TRUE(r->max_out == NND__ANY || r->max_out >= r->min_out);
  }
  ASSERT_TRUE(nnd__op_rule_get(NND_OP_COUNT) == NULL);
  return 0;
}

NND_TEST_MAIN(NND_TEST(test_conv_explicit_pads), NND_TEST(test_conv_same_padding),
              NND_TEST(test_conv_dilation_groups), NND_TEST(test_conv_nhwc_layouts),
              NND_TEST(test_conv_transpose), NND_TEST(test_pool_ceil_mode),
              NND_TEST(test_global_pool_and_bn), NND_TEST(test_gemm_matmul),
              NND_TEST(test_flatten_reshape), NND_TEST(test_folded_view_chain),
              NND_TEST(test_folded_slice_cast_mul), NND_TEST(test_transpose_squeeze_unsqueeze),
              NND_TEST(test_pad_from_inputs), NND_TEST(test_slice), NND_TEST(test_concat_split),
              NND_TEST(test_broadcast_and_symbols), NND_TEST(test_misc_ops),
              NND_TEST(test_quantize), NND_TEST(test_prelu_resize_dynamic),
              NND_TEST(test_fold_arithmetic), NND_TEST(test_error_messages),
              NND_TEST(test_hostile_sizes), NND_TEST(test_unsupported_and_unknown),
              NND_TEST(test_rule_table_complete))
