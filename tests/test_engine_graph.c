/* The engine end to end on hand-built graphs: both precisions agree, taps see
 * every requested value once in topological order (at the fused granularity
 * in the fast path), a listed value breaks fusion, shape arithmetic folds for
 * a symbolic batch, NHWC/HWIO graphs match their NCHW/OIHW twins, threads
 * are deterministic, memory is reused, and errors name the node and op. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "engine_test_util.h"
#include "ir_test_util.h"
#include "nnd_test.h"
#include "nndiff/engine.h"

#define F32 NND_DTYPE_F32

/* A float constant of any shape with random data in [-scale, scale). */
static int32_t const_rand(nnd_graph *g, const char *name, const int64_t *dims, test_rng *r,
                          float scale, float offset) {
  int32_t id = tg_input(g, name, F32, dims);
  nnd_value *v = &g->values[id];
  v->kind = NND_VALUE_CONSTANT;
  int64_t n = 1;
  for (int i = 0; i < v->shape.rank; i++)
    n *= v->shape.dims[i].size;
  float *data = nnd_graph_alloc(g, (size_t)n, sizeof *data);
  for (int64_t i = 0; i < n; i++)
    data[i] = rng_f(r) * scale + offset;
  v->data = data;
  v->nbytes = (size_t)n * sizeof *data;
  return id;
}

static void set_io(nnd_graph *g, const int32_t *in, int n_in, const int32_t *out, int n_out) {
  g->inputs = nnd_graph_alloc(g, (size_t)n_in, sizeof *g->inputs);
  g->outputs = nnd_graph_alloc(g, (size_t)n_out, sizeof *g->outputs);
  memcpy(g->inputs, in, (size_t)n_in * sizeof *in);
  memcpy(g->outputs, out, (size_t)n_out * sizeof *out);
  g->n_inputs = n_in;
  g->n_outputs = n_out;
  for (int i = 0; i < n_out; i++)
    g->values[out[i]].is_output = true;
}

static int infer(nnd_graph *g) {
  nnd_error err = {0};
  if (nnd_graph_infer_shapes(g, &err) != NND_OK) {
    fprintf(stderr, "infer: %s\n", err.message);
    return 1;
  }
  return 0;
}

/* Values of a small CNN, for the tests that look inside. */
typedef struct cnn {
  nnd_graph *g;
  int32_t x, conv1, bn, relu, dw, add, pool, conv2, clip, gap, flat, fc, prob;
  int32_t n_conv1, n_bn, n_relu, n_dw, n_add, n_pool, n_conv2, n_clip, n_fc, n_prob;
} cnn;

/* x[batch,3,9,9] -> Conv3x3(pads 1) -> BatchNorm -> Relu -> (+ depthwise
 * Conv3x3 of itself) -> MaxPool 2x2/2 (ceil) -> Conv1x1 -> Clip(0,6) ->
 * GlobalAveragePool -> Flatten -> Gemm(transB) -> Softmax. */
static int build_cnn(cnn *c) {
  test_rng r = {2718};
  nnd_graph *g = nnd_graph_create(NULL);
  c->g = g;
  c->x = tg_input(g, "x", F32, DIMS(SYM(0), 3, 9, 9));
  int32_t w1 = const_rand(g, "w1", DIMS(8, 3, 3, 3), &r, 0.5f, 0);
  int32_t b1 = const_rand(g, "b1", DIMS(8), &r, 0.1f, 0);
  c->n_conv1 = NODE(g, NND_OP_CONV, "conv1", &c->conv1, c->x, w1, b1);
  for (int i = 0; i < 2; i++)
    g->nodes[c->n_conv1].attrs.conv.pads_begin[i] = g->nodes[c->n_conv1].attrs.conv.pads_end[i] = 1;
  int32_t gm = const_rand(g, "gamma", DIMS(8), &r, 0.5f, 1.0f);
  int32_t be = const_rand(g, "beta", DIMS(8), &r, 0.2f, 0);
  int32_t mu = const_rand(g, "mean", DIMS(8), &r, 0.2f, 0);
  int32_t va = const_rand(g, "var", DIMS(8), &r, 0.3f, 1.0f);
  c->n_bn = NODE(g, NND_OP_BATCH_NORM, "bn1", &c->bn, c->conv1, gm, be, mu, va);
  c->n_relu = NODE(g, NND_OP_RELU, "relu1", &c->relu, c->bn);
  int32_t wd = const_rand(g, "wdw", DIMS(8, 1, 3, 3), &r, 0.5f, 0);
  c->n_dw = NODE(g, NND_OP_CONV, "dw", &c->dw, c->relu, wd);
  g->nodes[c->n_dw].attrs.conv.groups = 8;
  g->nodes[c->n_dw].attrs.conv.auto_pad = NND_AUTO_PAD_SAME_UPPER;
  c->n_add = NODE(g, NND_OP_ADD, "add", &c->add, c->relu, c->dw);
  c->n_pool = NODE(g, NND_OP_MAX_POOL, "pool", &c->pool, c->add);
  nnd_pool_attrs *pa = &g->nodes[c->n_pool].attrs.pool;
  pa->n_spatial = 2;
  pa->kernel[0] = pa->kernel[1] = 2;
  pa->strides[0] = pa->strides[1] = 2;
  pa->ceil_mode = true;
  int32_t w2 = const_rand(g, "w2", DIMS(6, 8, 1, 1), &r, 0.5f, 0);
  c->n_conv2 = NODE(g, NND_OP_CONV, "conv2", &c->conv2, c->pool, w2);
  int32_t lo = tg_floats(g, "lo", -1, (const float[]){0.f});
  int32_t hi = tg_floats(g, "hi", -1, (const float[]){6.f});
  c->n_clip = NODE(g, NND_OP_CLIP, "clip", &c->clip, c->conv2, lo, hi);
  NODE(g, NND_OP_GLOBAL_AVG_POOL, "gap", &c->gap, c->clip);
  int32_t nf = NODE(g, NND_OP_FLATTEN, "flatten", &c->flat, c->gap);
  g->nodes[nf].attrs.axis = 1;
  int32_t wf = const_rand(g, "wfc", DIMS(5, 6), &r, 0.5f, 0);
  int32_t bf = const_rand(g, "bfc", DIMS(5), &r, 0.1f, 0);
  c->n_fc = NODE(g, NND_OP_GEMM, "fc", &c->fc, c->flat, wf, bf);
  g->nodes[c->n_fc].attrs.trans_b = true;
  c->n_prob = NODE(g, NND_OP_SOFTMAX, "prob", &c->prob, c->fc);
  g->nodes[c->n_prob].attrs.axis = 1;
  set_io(g, &c->x, 1, &c->prob, 1);
  return infer(g);
}

static float *make_input(int64_t n, uint64_t seed) {
  test_rng r = {seed};
  float *x = malloc((size_t)n * sizeof *x);
  fill_f32(&r, x, n);
  return x;
}

/* Runs g (one input x, one output) in the given precision; returns the
 * output as doubles. */
static double *run_once(const nnd_graph *g, const nnd_engine_options *opt, const float *x,
                        int64_t *n_out, nnd_engine_stats *stats) {
  nnd_error err = {0};
  nnd_engine *e = NULL;
  if (nnd_engine_create(g, opt, &e, &err) != NND_OK) {
    fprintf(stderr, "create: %s\n", err.message);
    return NULL;
  }
  nnd_tensor in = {.dtype = F32, .data = (void *)x};
  nnd_engine_value_shape(e, g->inputs[0], &in.rank, in.dims);
  nnd_tensor out = {.dtype = NND_DTYPE_F64};
  nnd_engine_value_shape(e, g->outputs[0], &out.rank, out.dims);
  int64_t n = 1;
  for (int d = 0; d < out.rank; d++)
    n *= out.dims[d];
  out.data = calloc((size_t)n, sizeof(double));
  if (nnd_engine_run(e, &in, 1, &out, 1, &err) != NND_OK) {
    fprintf(stderr, "run: %s\n", err.message);
    free(out.data);
    nnd_engine_destroy(e);
    return NULL;
  }
  if (stats) nnd_engine_get_stats(e, stats);
  nnd_engine_destroy(e);
  *n_out = n;
  return out.data;
}

static int close_f64(const char *what, const double *a, const double *ref, int64_t n, double rtol) {
  float *af = malloc((size_t)n * sizeof *af);
  for (int64_t i = 0; i < n; i++)
    af[i] = (float)a[i];
  int rc = check_close_f32(what, af, ref, n, rtol, rtol);
  free(af);
  return rc;
}

static int test_cnn_both_precisions(void) {
  cnn c;
  ASSERT_EQ_INT(0, build_cnn(&c));
  float *x = make_input(2 * 3 * 9 * 9, 1);
  nnd_engine_options opt;
  nnd_engine_options_init(&opt);
  opt.batch = 2;
  nnd_engine_stats sf, sr, sn;
  int64_t nf = 0, nr = 0, nn = 0;
  double *yf = run_once(c.g, &opt, x, &nf, &sf);
  opt.no_fusion = true;
  double *yn = run_once(c.g, &opt, x, &nn, &sn);
  opt.no_fusion = false;
  opt.precision = NND_PRECISION_REFERENCE;
  double *yr = run_once(c.g, &opt, x, &nr, &sr);
  ASSERT_TRUE(yf && yr && yn);
  ASSERT_EQ_INT(10, nf);
  ASSERT_EQ_INT(nf, nr);
  int rc = close_f64("fast vs reference", yf, yr, nf, 1e-5);
  rc |= close_f64("fast unfused vs reference", yn, yr, nf, 1e-5);
  double s0 = 0, s1 = 0;
  for (int i = 0; i < 5; i++)
    s0 += yr[i], s1 += yr[5 + i];
  ASSERT_NEAR(1.0, s0, 1e-12);
  ASSERT_NEAR(1.0, s1, 1e-12);
  /* The fast plan fused BatchNorm, Relu, the residual Add (into the
   * depthwise conv) and Clip; the reference nothing. */
  ASSERT_EQ_INT(4, sf.n_fused_nodes);
  ASSERT_EQ_INT(0, sr.n_fused_nodes);
  ASSERT_EQ_INT(0, sn.n_fused_nodes);
  ASSERT_EQ_INT(2, sf.batch);
  ASSERT_TRUE(sf.n_steps < sr.n_steps);
  ASSERT_TRUE(sr.activation_bytes < sr.naive_activation_bytes);
  free(yf);
  free(yr);
  free(yn);
  free(x);
  nnd_graph_destroy(c.g);
  return rc;
}

/* ----------------------------------------------------------------- taps */

typedef struct tap_log {
  int n;
  int32_t node[64], value[64];
  nnd_dtype dtype[64];
  int64_t numel[64];
  double first[64];
  /* a copy of one value */
  int32_t keep;
  double *kept;
  int64_t kept_n;
} tap_log;

static void tap_record(void *user, const nnd_graph *g, int32_t node, int32_t value,
                       const nnd_tensor_view *t) {
  tap_log *l = user;
  (void)g;
  if (l->n >= 64) return;
  l->node[l->n] = node;
  l->value[l->n] = value;
  l->dtype[l->n] = t->dtype;
  l->numel[l->n] = t->numel;
  l->first[l->n] =
      t->dtype == NND_DTYPE_F64 ? ((const double *)t->data)[0] : ((const float *)t->data)[0];
  if (value == l->keep) {
    l->kept = malloc((size_t)t->numel * sizeof(double));
    for (int64_t i = 0; i < t->numel; i++)
      l->kept[i] =
          t->dtype == NND_DTYPE_F64 ? ((const double *)t->data)[i] : ((const float *)t->data)[i];
    l->kept_n = t->numel;
  }
  l->n++;
}

/* Each value at most once, and in an order where producers come first. */
static int check_tap_order(const nnd_graph *g, const tap_log *l) {
  for (int i = 0; i < l->n; i++)
    for (int j = 0; j < i; j++)
      ASSERT_TRUE(l->value[i] != l->value[j]);
  for (int i = 0; i < l->n; i++) {
    if (l->node[i] < 0) continue;
    const nnd_node *nd = &g->nodes[l->node[i]];
    /* Every earlier-produced input of this node was seen before it. */
    for (int k = 0; k < nd->n_inputs; k++) {
      int32_t in = nd->inputs[k];
      for (int j = i + 1; j < l->n; j++)
        ASSERT_TRUE(l->value[j] != in);
    }
  }
  return 0;
}

static int run_with_taps(const nnd_graph *g, nnd_engine_options *opt, tap_log *log,
                         nnd_engine **keep) {
  nnd_error err = {0};
  nnd_engine *e = NULL;
  opt->tap = tap_record;
  opt->tap_user = log;
  if (nnd_engine_create(g, opt, &e, &err) != NND_OK) {
    fprintf(stderr, "create: %s\n", err.message);
    return 1;
  }
  float *x = make_input(3 * 9 * 9, 5);
  nnd_tensor in = {.dtype = F32, .rank = 4, .dims = {1, 3, 9, 9}, .data = x};
  double y[5];
  nnd_tensor out = {.dtype = NND_DTYPE_F64, .rank = 2, .dims = {1, 5}, .data = y};
  nnd_status st = nnd_engine_run(e, &in, 1, &out, 1, &err);
  if (st != NND_OK) fprintf(stderr, "run: %s\n", err.message);
  free(x);
  if (keep)
    *keep = e;
  else
    nnd_engine_destroy(e);
  return st != NND_OK;
}

static int test_taps_reference_all(void) {
  cnn c;
  ASSERT_EQ_INT(0, build_cnn(&c));
  nnd_engine_options opt;
  nnd_engine_options_init(&opt);
  opt.precision = NND_PRECISION_REFERENCE;
  opt.observe = NND_OBSERVE_ALL;
  tap_log log = {.keep = -1};
  nnd_engine *e = NULL;
  ASSERT_EQ_INT(0, run_with_taps(c.g, &opt, &log, &e));
  /* The input, then all 13 node outputs. */
  ASSERT_EQ_INT(1 + c.g->n_nodes, log.n);
  ASSERT_EQ_INT(c.x, log.value[0]);
  ASSERT_EQ_INT(-1, log.node[0]);
  for (int i = 1; i < log.n; i++) {
    ASSERT_EQ_INT(NND_DTYPE_F64, log.dtype[i]);
    ASSERT_EQ_INT(c.g->nodes[log.node[i]].outputs[0], log.value[i]);
    int rank;
    int64_t dims[NND_MAX_RANK], n = 1;
    ASSERT_TRUE(nnd_engine_value_shape(e, log.value[i], &rank, dims));
    for (int d = 0; d < rank; d++)
      n *= dims[d];
    ASSERT_EQ_INT(n, log.numel[i]);
    ASSERT_TRUE(nnd_engine_value_observed(e, log.value[i]));
  }
  if (check_tap_order(c.g, &log)) return 1;
  nnd_engine_destroy(e);
  nnd_graph_destroy(c.g);
  return 0;
}

static int test_taps_fast_all_fused(void) {
  cnn c;
  ASSERT_EQ_INT(0, build_cnn(&c));
  nnd_engine_options opt;
  nnd_engine_options_init(&opt);
  opt.observe = NND_OBSERVE_ALL;
  tap_log log = {.keep = c.relu};
  nnd_engine *e = NULL;
  ASSERT_EQ_INT(0, run_with_taps(c.g, &opt, &log, &e));
  nnd_engine_stats st;
  nnd_engine_get_stats(e, &st);
  /* Observing everything did not stop the fusions. */
  ASSERT_EQ_INT(4, st.n_fused_nodes);
  /* Inside groups: conv1 and bn (Conv+BN+Relu), dw (depthwise Conv + Add),
   * conv2 (Conv+Clip). */
  ASSERT_TRUE(!nnd_engine_value_observed(e, c.conv1));
  ASSERT_TRUE(!nnd_engine_value_observed(e, c.bn));
  ASSERT_TRUE(!nnd_engine_value_observed(e, c.dw));
  ASSERT_TRUE(!nnd_engine_value_observed(e, c.conv2));
  ASSERT_TRUE(nnd_engine_value_observed(e, c.relu));
  ASSERT_TRUE(nnd_engine_value_observed(e, c.add));
  ASSERT_EQ_INT(1 + c.g->n_nodes - 4, log.n);
  for (int i = 0; i < log.n; i++) {
    ASSERT_TRUE(log.value[i] != c.conv1 && log.value[i] != c.bn && log.value[i] != c.conv2);
    ASSERT_TRUE(log.value[i] != c.dw);
    if (log.value[i] == c.add) ASSERT_EQ_INT(c.n_add, log.node[i]);
    if (log.value[i] == c.relu) ASSERT_EQ_INT(c.n_relu, log.node[i]); /* the group's last node */
    if (log.value[i] == c.clip) ASSERT_EQ_INT(c.n_clip, log.node[i]);
    if (i > 0) ASSERT_EQ_INT(NND_DTYPE_F32, log.dtype[i]);
  }
  if (check_tap_order(c.g, &log)) return 1;
  /* The channels-last relu output arrives in the logical NCHW layout. */
  nnd_engine_options ro;
  nnd_engine_options_init(&ro);
  ro.precision = NND_PRECISION_REFERENCE;
  ro.observe = NND_OBSERVE_LIST;
  ro.observe_values = &c.relu;
  ro.n_observe_values = 1;
  tap_log ref = {.keep = c.relu};
  ASSERT_EQ_INT(0, run_with_taps(c.g, &ro, &ref, NULL));
  ASSERT_EQ_INT(1, ref.n);
  ASSERT_TRUE(log.kept && ref.kept);
  ASSERT_EQ_INT(ref.kept_n, log.kept_n);
  int rc = close_f64("tapped relu, fast vs reference", log.kept, ref.kept, ref.kept_n, 1e-5);
  free(log.kept);
  free(ref.kept);
  nnd_engine_destroy(e);
  nnd_graph_destroy(c.g);
  return rc;
}

static int test_taps_list_breaks_fusion(void) {
  cnn c;
  ASSERT_EQ_INT(0, build_cnn(&c));
  int32_t want[3] = {c.conv1, c.clip, c.x};
  nnd_engine_options opt;
  nnd_engine_options_init(&opt);
  opt.observe = NND_OBSERVE_LIST;
  opt.observe_values = want;
  opt.n_observe_values = 3;
  tap_log log = {.keep = c.conv1};
  nnd_engine *e = NULL;
  ASSERT_EQ_INT(0, run_with_taps(c.g, &opt, &log, &e));
  ASSERT_EQ_INT(3, log.n);
  ASSERT_EQ_INT(c.x, log.value[0]);
  ASSERT_EQ_INT(c.conv1, log.value[1]);
  ASSERT_EQ_INT(c.n_conv1, log.node[1]);
  ASSERT_EQ_INT(c.clip, log.value[2]);
  nnd_engine_stats st;
  nnd_engine_get_stats(e, &st);
  /* BatchNorm stays apart from conv1 (and takes the Relu); the Add joins
   * dw, Clip joins conv2. */
  ASSERT_EQ_INT(3, st.n_fused_nodes);
  nnd_engine_destroy(e);
  /* The listed conv output is the convolution alone (before BatchNorm). */
  nnd_engine_options ro = opt;
  ro.precision = NND_PRECISION_REFERENCE;
  tap_log ref = {.keep = c.conv1};
  ASSERT_EQ_INT(0, run_with_taps(c.g, &ro, &ref, NULL));
  int rc = close_f64("listed conv output", log.kept, ref.kept, ref.kept_n, 1e-5);
  free(log.kept);
  free(ref.kept);
  nnd_graph_destroy(c.g);
  return rc;
}

/* -------------------------------------------------- shape arithmetic */

static int test_shape_arithmetic_folds(void) {
  nnd_graph *g = nnd_graph_create(NULL);
  int32_t x = tg_input(g, "x", F32, DIMS(SYM(0), 4, 2, 2));
  int32_t shp = -1, b = -1, bu = -1, cat = -1, y = -1, y2 = -1;
  NODE(g, NND_OP_SHAPE, "shape", &shp, x);
  int32_t zero = tg_ints(g, "zero", -1, (const int64_t[]){0});
  int32_t gn = NODE(g, NND_OP_GATHER, "gather", &b, shp, zero);
  g->nodes[gn].attrs.axis = 0;
  int32_t axes = INTS(g, "axes", 0);
  NODE(g, NND_OP_UNSQUEEZE, "unsq", &bu, b, axes);
  int32_t minus1 = INTS(g, "m1", -1);
  int32_t cn = NODE(g, NND_OP_CONCAT, "cat", &cat, bu, minus1);
  g->nodes[cn].attrs.axis = 0;
  NODE(g, NND_OP_RESHAPE, "reshape", &y, x, cat);
  NODE(g, NND_OP_RELU, "relu", &y2, y);
  set_io(g, &x, 1, &y2, 1);
  ASSERT_EQ_INT(0, infer(g));
  for (int p = 0; p < 2; p++) {
    nnd_engine_options opt;
    nnd_engine_options_init(&opt);
    opt.precision = p ? NND_PRECISION_REFERENCE : NND_PRECISION_FAST;
    opt.batch = 3;
    nnd_error err = {0};
    nnd_engine *e = NULL;
    if (nnd_engine_create(g, &opt, &e, &err) != NND_OK) fprintf(stderr, "%s\n", err.message);
    ASSERT_TRUE(e);
    int rank;
    int64_t dims[NND_MAX_RANK];
    ASSERT_TRUE(nnd_engine_value_shape(e, y2, &rank, dims));
    ASSERT_EQ_INT(2, rank);
    ASSERT_EQ_INT(3, dims[0]);
    ASSERT_EQ_INT(16, dims[1]);
    nnd_engine_stats st;
    nnd_engine_get_stats(e, &st);
    ASSERT_EQ_INT(4, st.n_folded_nodes); /* shape, gather, unsqueeze, concat */
    ASSERT_EQ_INT(1, st.n_steps);        /* the relu; the reshape is a view */
    float xin[48], yout[48];
    for (int i = 0; i < 48; i++)
      xin[i] = (float)(i - 20);
    nnd_tensor in = {.dtype = F32, .rank = 4, .dims = {3, 4, 2, 2}, .data = xin};
    nnd_tensor out = {.dtype = F32, .rank = 2, .dims = {3, 16}, .data = yout};
    ASSERT_EQ_INT(NND_OK, nnd_engine_run(e, &in, 1, &out, 1, &err));
    for (int i = 0; i < 48; i++)
      ASSERT_NEAR(xin[i] > 0 ? xin[i] : 0, yout[i], 0);
    /* A wrong batch is refused with the planned shape in the message. */
    in.dims[0] = 2;
    ASSERT_EQ_INT(NND_ERR_USAGE, nnd_engine_run(e, &in, 1, &out, 1, &err));
    ASSERT_CONTAINS(err.message,
                    "input 'x' has shape [2,4,2,2]; the engine was planned for [3,4,2,2]");
    nnd_engine_destroy(e);
  }
  nnd_graph_destroy(g);
  return 0;
}

/* Slice with steps of INT64_MAX and INT64_MIN (one element each way): the
 * engine plans it from the IR's slice rule, where the engine's own
 * derivation once overflowed (UBSan). Run on an activation (a step) and on
 * a constant (folded at create), both precisions; the expected elements are
 * read straight from the input by ONNX's rule: a positive step takes
 * `start` and then nothing (start + step is past any end), a negative one
 * from the clamped start `dim - 1` likewise. */
static int test_slice_extreme_steps(void) {
  nnd_graph *g = nnd_graph_create(NULL);
  int32_t x = tg_input(g, "x", F32, DIMS(SYM(0), 4, 6));
  test_rng r = {7};
  int32_t c = const_rand(g, "c", DIMS(3, 5), &r, 1.f, 0);
  int32_t two = INTS(g, "two", 2), one = INTS(g, "one", 1), z = INTS(g, "z", 0);
  int32_t far = INTS(g, "far", (int64_t)1 << 62), m1 = INTS(g, "m1", -1);
  int32_t imax = INTS(g, "imax", INT64_MAX), imin = INTS(g, "imin", INT64_MIN);
  int32_t y[4] = {-1, -1, -1, -1}, sum = -1;
  /* x[:, :, 0:2^62:INT64_MAX] -> x[:, :, 0]; x[:, :, -1:INT64_MIN:INT64_MIN] -> x[:, :, 5] */
  NODE(g, NND_OP_SLICE, "fwd", &y[0], x, z, far, two, imax);
  NODE(g, NND_OP_SLICE, "back", &y[1], x, m1, imin, two, imin);
  /* The same on a constant: c[:, INT64_MAX::INT64_MIN] -> c[:, 4], c[1::INT64_MAX] -> c[1]. */
  NODE(g, NND_OP_SLICE, "cback", &y[2], c, imax, imin, one, imin);
  NODE(g, NND_OP_SLICE, "cfwd", &y[3], c, one, imax, z, imax);
  int32_t ca = -1;
  NODE(g, NND_OP_MUL, "cmul", &ca, y[2], y[3]); /* [3,1] * [1,5] -> [3,5] */
  NODE(g, NND_OP_ADD, "sum", &sum, y[0], y[1]);
  int32_t outs[2] = {sum, ca};
  set_io(g, &x, 1, outs, 2);
  ASSERT_EQ_INT(0, infer(g));
  float xin[2 * 4 * 6];
  for (int i = 0; i < 48; i++)
    xin[i] = (float)(i * 3 % 17) - 8.f;
  const float *cd = g->values[c].data;
  for (int p = 0; p < 2; p++) {
    nnd_engine_options opt;
    nnd_engine_options_init(&opt);
    opt.precision = p ? NND_PRECISION_REFERENCE : NND_PRECISION_FAST;
    opt.batch = 2;
    nnd_error err = {0};
    nnd_engine *e = NULL;
    if (nnd_engine_create(g, &opt, &e, &err) != NND_OK) fprintf(stderr, "%s\n", err.message);
    ASSERT_TRUE(e);
    int rank;
    int64_t dims[NND_MAX_RANK];
    ASSERT_TRUE(nnd_engine_value_shape(e, y[0], &rank, dims));
    ASSERT_EQ_INT(3, rank);
    ASSERT_EQ_INT(1, dims[2]);
    float ysum[8], yc[15];
    nnd_tensor in = {.dtype = F32, .rank = 3, .dims = {2, 4, 6}, .data = xin};
    nnd_tensor out[2] = {{.dtype = F32, .rank = 3, .dims = {2, 4, 1}, .data = ysum},
                         {.dtype = F32, .rank = 2, .dims = {3, 5}, .data = yc}};
    ASSERT_EQ_INT(NND_OK, nnd_engine_run(e, &in, 1, out, 2, &err));
    for (int i = 0; i < 8; i++)
      ASSERT_NEAR(xin[i * 6] + xin[i * 6 + 5], ysum[i], 0);
    for (int i = 0; i < 3; i++)
      for (int j = 0; j < 5; j++)
        ASSERT_NEAR((double)cd[i * 5 + 4] * (double)cd[5 + j], yc[i * 5 + j], 1e-6);
    nnd_engine_destroy(e);
  }
  nnd_graph_destroy(g);
  return 0;
}

/* ------------------------------------------------------ NHWC layouts */

static int test_nhwc_hwio_matches_nchw(void) {
  test_rng r = {99};
  /* NCHW/OIHW graph. */
  nnd_graph *a = nnd_graph_create(NULL);
  int32_t xa = tg_input(a, "x", F32, DIMS(1, 5, 7, 6));
  int32_t wa = const_rand(a, "w", DIMS(4, 5, 3, 2), &r, 0.5f, 0);
  int32_t ya = -1, pa_out = -1;
  int32_t na = NODE(a, NND_OP_CONV, "conv", &ya, xa, wa);
  nnd_conv_attrs *ca = &a->nodes[na].attrs.conv;
  ca->strides[0] = 2;
  ca->pads_begin[0] = 1;
  ca->pads_end[1] = 1;
  int32_t npa = NODE(a, NND_OP_AVG_POOL, "pool", &pa_out, ya);
  nnd_pool_attrs *pa = &a->nodes[npa].attrs.pool;
  pa->n_spatial = 2;
  pa->kernel[0] = pa->kernel[1] = 2;
  pa->pads_end[0] = pa->pads_end[1] = 1;
  set_io(a, &xa, 1, &pa_out, 1);
  ASSERT_EQ_INT(0, infer(a));
  /* The same network channels-last with HWIO weights. */
  nnd_graph *b = nnd_graph_create(NULL);
  int32_t xb = tg_input(b, "x", F32, DIMS(1, 7, 6, 5));
  b->values[xb].layout = NND_LAYOUT_NHWC;
  int32_t wb = tg_input(b, "w", F32, DIMS(3, 2, 5, 4));
  b->values[wb].kind = NND_VALUE_CONSTANT;
  float *wdata = nnd_graph_alloc(b, 120, sizeof(float));
  const float *oihw = a->values[wa].data;
  for (int o = 0; o < 4; o++)
    for (int i = 0; i < 5; i++)
      for (int h = 0; h < 3; h++)
        for (int w = 0; w < 2; w++)
          wdata[((h * 2 + w) * 5 + i) * 4 + o] = oihw[((o * 5 + i) * 3 + h) * 2 + w];
  b->values[wb].data = wdata;
  b->values[wb].nbytes = 120 * sizeof(float);
  int32_t yb = -1, pb_out = -1;
  int32_t nb = NODE(b, NND_OP_CONV, "conv", &yb, xb, wb);
  nnd_conv_attrs *cb = &b->nodes[nb].attrs.conv;
  *cb = *ca;
  cb->layout = NND_LAYOUT_NHWC;
  cb->weight_layout = NND_WLAYOUT_HWIO;
  int32_t npb = NODE(b, NND_OP_AVG_POOL, "pool", &pb_out, yb);
  b->nodes[npb].attrs.pool = *pa;
  b->nodes[npb].attrs.pool.layout = NND_LAYOUT_NHWC;
  set_io(b, &xb, 1, &pb_out, 1);
  ASSERT_EQ_INT(0, infer(b));
  float *x = make_input(5 * 7 * 6, 3), xl[210];
  for (int c = 0; c < 5; c++)
    for (int s = 0; s < 42; s++)
      xl[s * 5 + c] = x[c * 42 + s];
  int rc = 0;
  for (int p = 0; p < 2 && !rc; p++) {
    nnd_engine_options opt;
    nnd_engine_options_init(&opt);
    opt.precision = p ? NND_PRECISION_REFERENCE : NND_PRECISION_FAST;
    int64_t n1 = 0, n2 = 0;
    double *y1 = run_once(a, &opt, x, &n1, NULL);
    double *y2 = run_once(b, &opt, xl, &n2, NULL);
    ASSERT_TRUE(y1 && y2);
    ASSERT_EQ_INT(n1, n2);
    /* y1 is [1,4,H,W], y2 [1,H,W,4]. */
    const int64_t sp = n1 / 4;
    double *y2t = malloc((size_t)n1 * sizeof *y2t);
    for (int c = 0; c < 4; c++)
      for (int64_t s = 0; s < sp; s++)
        y2t[c * sp + s] = y2[s * 4 + c];
    rc = p ? check_equal_f64("NHWC reference", y2t, y1, n1)
           : close_f64("NHWC fast", y2t, y1, n1, 1e-5);
    free(y1);
    free(y2);
    free(y2t);
  }
  free(x);
  nnd_graph_destroy(a);
  nnd_graph_destroy(b);
  return rc;
}

/* ------------------------------------------------------------ errors */

static int test_unsupported_names_node(void) {
  nnd_graph *g = nnd_graph_create(NULL);
  int32_t x = tg_input(g, "x", F32, DIMS(1, 4));
  int32_t y = -1, z = -1;
  int32_t n = NODE(g, NND_OP_UNSUPPORTED, "fancy_1", &y, x);
  g->nodes[n].prov.op_type = "FancyOp";
  NODE(g, NND_OP_RELU, "relu", &z, y);
  set_io(g, &x, 1, &z, 1);
  nnd_graph_infer_shapes(g, NULL); /* unsupported ops leave outputs unknown */
  nnd_error err = {0};
  nnd_engine *e = NULL;
  ASSERT_EQ_INT(NND_ERR_UNSUPPORTED, nnd_engine_create(g, NULL, &e, &err));
  ASSERT_STR_EQ("node 'fancy_1' (FancyOp): not supported by the engine", err.message);
  ASSERT_TRUE(e == NULL);
  nnd_engine_destroy(NULL);
  /* Not needed for the output: the engine does not care. */
  g->outputs[0] = x;
  nnd_error_clear(&err);
  ASSERT_EQ_INT(NND_OK, nnd_engine_create(g, NULL, &e, &err));
  nnd_engine_destroy(e);
  nnd_graph_destroy(g);
  return 0;
}

static int test_run_argument_errors(void) {
  cnn c;
  ASSERT_EQ_INT(0, build_cnn(&c));
  nnd_error err = {0};
  nnd_engine *e = NULL;
  ASSERT_EQ_INT(NND_OK, nnd_engine_create(c.g, NULL, &e, &err));
  float x[243];
  double y[5];
  nnd_tensor in = {.dtype = F32, .rank = 4, .dims = {1, 3, 9, 9}, .data = x};
  nnd_tensor out = {.dtype = NND_DTYPE_F64, .rank = 2, .dims = {1, 5}, .data = y};
  ASSERT_EQ_INT(NND_ERR_USAGE, nnd_engine_run(e, &in, 2, &out, 1, &err));
  ASSERT_CONTAINS(err.message, "takes 1 input(s), got 2");
  nnd_error_clear(&err);
  in.dtype = NND_DTYPE_I32;
  ASSERT_EQ_INT(NND_ERR_USAGE, nnd_engine_run(e, &in, 1, &out, 1, &err));
  ASSERT_CONTAINS(err.message, "input 'x' is int32");
  nnd_error_clear(&err);
  /* An output with no data is simply not copied. */
  in.dtype = F32;
  for (int i = 0; i < 243; i++)
    x[i] = 0.f;
  out.data = NULL;
  ASSERT_EQ_INT(NND_OK, nnd_engine_run(e, &in, 1, &out, 1, &err));
  nnd_engine_options opt;
  nnd_engine_options_init(&opt);
  opt.batch = 4;
  nnd_engine *e2 = NULL;
  ASSERT_EQ_INT(NND_OK, nnd_engine_create(c.g, &opt, &e2, &err)); /* symbolic batch */
  nnd_engine_destroy(e2);
  opt.threads = -3;
  ASSERT_EQ_INT(NND_ERR_USAGE, nnd_engine_create(c.g, &opt, &e2, &err));
  nnd_engine_destroy(e);
  nnd_graph_destroy(c.g);
  return 0;
}

/* ------------------------------------------------- threads and memory */

static int test_threads_deterministic(void) {
  cnn c;
  ASSERT_EQ_INT(0, build_cnn(&c));
  float *x = make_input(4 * 3 * 9 * 9, 9);
  nnd_engine_options opt;
  nnd_engine_options_init(&opt);
  opt.batch = 4;
  int64_t n = 0;
  opt.threads = 2;
  double *f2a = run_once(c.g, &opt, x, &n, NULL);
  double *f2b = run_once(c.g, &opt, x, &n, NULL);
  opt.precision = NND_PRECISION_REFERENCE;
  double *r2 = run_once(c.g, &opt, x, &n, NULL);
  opt.threads = 1;
  double *r1 = run_once(c.g, &opt, x, &n, NULL);
  ASSERT_TRUE(f2a && f2b && r1 && r2);
  int rc = check_equal_f64("fast, 2 threads, twice", f2a, f2b, n);
  rc |= check_equal_f64("reference, 1 vs 2 threads", r1, r2, n);
  free(f2a);
  free(f2b);
  free(r1);
  free(r2);
  free(x);
  nnd_graph_destroy(c.g);
  return rc;
}

static int test_memory_reuse_chain(void) {
  nnd_graph *g = nnd_graph_create(NULL);
  int32_t x = tg_input(g, "x", F32, DIMS(1, 1000));
  int32_t cur = x;
  for (int i = 0; i < 10; i++) {
    char name[16];
    snprintf(name, sizeof name, "n%d", i);
    int32_t next = -1;
    NODE(g, i % 2 ? NND_OP_SIGMOID : NND_OP_NEG, name, &next, cur);
    cur = next;
  }
  set_io(g, &x, 1, &cur, 1);
  ASSERT_EQ_INT(0, infer(g));
  nnd_engine_options opt;
  nnd_engine_options_init(&opt);
  opt.precision = NND_PRECISION_REFERENCE;
  nnd_engine *e = NULL;
  nnd_error err = {0};
  ASSERT_EQ_INT(NND_OK, nnd_engine_create(g, &opt, &e, &err));
  nnd_engine_stats st;
  nnd_engine_get_stats(e, &st);
  /* Elementwise steps run in place: one buffer of 1000 doubles. */
  ASSERT_EQ_INT(8000, st.activation_bytes);
  ASSERT_EQ_INT(11 * 8000, st.naive_activation_bytes);
  nnd_engine_destroy(e);
  /* Observing a value keeps it whole until its tap ran. */
  int32_t mid = g->nodes[4].outputs[0];
  opt.observe = NND_OBSERVE_LIST;
  opt.observe_values = &mid;
  opt.n_observe_values = 1;
  tap_log log = {.keep = mid};
  opt.tap = tap_record;
  opt.tap_user = &log;
  ASSERT_EQ_INT(NND_OK, nnd_engine_create(g, &opt, &e, &err));
  float xin[1000];
  double yout[1000];
  for (int i = 0; i < 1000; i++)
    xin[i] = (float)i / 500.f - 1.f;
  nnd_tensor in = {.dtype = F32, .rank = 2, .dims = {1, 1000}, .data = xin};
  nnd_tensor out = {.dtype = NND_DTYPE_F64, .rank = 2, .dims = {1, 1000}, .data = yout};
  ASSERT_EQ_INT(NND_OK, nnd_engine_run(e, &in, 1, &out, 1, &err));
  ASSERT_EQ_INT(1, log.n);
  double v = xin[7];
  for (int i = 0; i < 5; i++)
    v = i % 2 ? 1 / (1 + exp(-v)) : -v;
  ASSERT_NEAR(v, log.kept[7], 1e-15);
  free(log.kept);
  nnd_engine_destroy(e);
  nnd_graph_destroy(g);
  return 0;
}

/* The budget bounds the arena before it is allocated; plan_only says what
 * a create would hold without allocating it, and cannot run. */
static int test_memory_budget(void) {
  nnd_graph *g = nnd_graph_create(NULL);
  int32_t x = tg_input(g, "x", F32, DIMS(-1, 1000));
  int32_t a = -1, b = -1;
  NODE(g, NND_OP_NEG, "neg", &a, x);
  NODE(g, NND_OP_SIGMOID, "sig", &b, a);
  set_io(g, &x, 1, &b, 1);
  ASSERT_EQ_INT(0, infer(g));
  nnd_engine_options opt;
  nnd_engine_options_init(&opt);
  opt.precision = NND_PRECISION_REFERENCE;
  opt.batch = 64;
  opt.plan_only = true;
  nnd_engine *e = NULL;
  nnd_error err = {0};
  ASSERT_EQ_INT(NND_OK, nnd_engine_create(g, &opt, &e, &err));
  nnd_engine_stats st;
  nnd_engine_get_stats(e, &st);
  ASSERT_TRUE(st.activation_bytes >= 64 * 1000 * 8);
  ASSERT_TRUE(st.memory_bytes >= st.activation_bytes);
  ASSERT_TRUE(st.largest_value >= 0);
  double in_buf[1];
  nnd_tensor in = {.dtype = NND_DTYPE_F64, .rank = 2, .dims = {64, 1000}, .data = in_buf};
  ASSERT_EQ_INT(NND_ERR_USAGE, nnd_engine_run(e, &in, 1, NULL, 0, &err));
  nnd_engine_destroy(e);
  /* One byte short of what it needs: refused, naming the batch. */
  opt.plan_only = false;
  opt.max_memory = st.memory_bytes - 1;
  nnd_error_clear(&err);
  ASSERT_EQ_INT(NND_ERR_NOMEM, nnd_engine_create(g, &opt, &e, &err));
  ASSERT_TRUE(e == NULL);
  ASSERT_CONTAINS(err.message, "batch 64 needs");
  ASSERT_CONTAINS(err.message, "over the memory budget");
  opt.max_memory = st.memory_bytes;
  ASSERT_EQ_INT(NND_OK, nnd_engine_create(g, &opt, &e, &err));
  nnd_engine_destroy(e);
  nnd_graph_destroy(g);
  return 0;
}

static int test_frozen_input(void) {
  nnd_graph *g = nnd_graph_create(NULL);
  int32_t x = tg_input(g, "x", F32, DIMS(2, 6));
  int32_t s = tg_input(g, "shape", NND_DTYPE_I64, DIMS(2));
  int32_t y = -1;
  NODE(g, NND_OP_RESHAPE, "reshape", &y, x, s);
  int32_t ins[2] = {x, s};
  set_io(g, ins, 2, &y, 1);
  nnd_graph_infer_shapes(g, NULL); /* y stays unknown: the shape is an input */
  int64_t shape[2] = {3, -1};
  nnd_tensor frozen = {.dtype = NND_DTYPE_I64, .rank = 1, .dims = {2}, .data = shape};
  nnd_engine_options opt;
  nnd_engine_options_init(&opt);
  opt.n_frozen = 1;
  opt.frozen_values = &s;
  opt.frozen_data = &frozen;
  nnd_error err = {0};
  nnd_engine *e = NULL;
  if (nnd_engine_create(g, &opt, &e, &err) != NND_OK) fprintf(stderr, "%s\n", err.message);
  ASSERT_TRUE(e);
  float xin[12], yout[12];
  for (int i = 0; i < 12; i++)
    xin[i] = (float)i;
  nnd_tensor in = {.dtype = F32, .rank = 2, .dims = {2, 6}, .data = xin};
  nnd_tensor out = {.dtype = F32, .rank = 2, .dims = {3, 4}, .data = yout};
  ASSERT_EQ_INT(NND_OK, nnd_engine_run(e, &in, 1, &out, 1, &err));
  for (int i = 0; i < 12; i++)
    ASSERT_NEAR(i, yout[i], 0);
  nnd_engine_destroy(e);
  /* Without freezing, the integer input is refused at create. */
  ASSERT_EQ_INT(NND_ERR_UNSUPPORTED, nnd_engine_create(g, NULL, &e, &err));
  ASSERT_CONTAINS(err.message, "graph input 'shape' is int64");
  nnd_graph_destroy(g);
  return 0;
}

/* SiLU as exporters write it, x * Sigmoid(x): after a Conv+BatchNorm it
 * becomes a post-op; on its own the Mul computes it in one pass. */
static int test_silu_pairs(void) {
  test_rng r = {17};
  nnd_graph *g = nnd_graph_create(NULL);
  int32_t x = tg_input(g, "x", F32, DIMS(1, 4, 6, 6));
  int32_t s0 = -1, m0 = -1, conv = -1, bn = -1, s1 = -1, m1 = -1;
  NODE(g, NND_OP_SIGMOID, "sig0", &s0, x);
  NODE(g, NND_OP_MUL, "mul0", &m0, x, s0);
  int32_t w = const_rand(g, "w", DIMS(8, 4, 3, 3), &r, 0.5f, 0);
  int32_t nc = NODE(g, NND_OP_CONV, "conv", &conv, m0, w);
  for (int i = 0; i < 2; i++)
    g->nodes[nc].attrs.conv.pads_begin[i] = g->nodes[nc].attrs.conv.pads_end[i] = 1;
  int32_t gm = const_rand(g, "g", DIMS(8), &r, 0.3f, 1.f),
          be = const_rand(g, "b", DIMS(8), &r, 0.3f, 0);
  int32_t mu = const_rand(g, "m", DIMS(8), &r, 0.3f, 0),
          va = const_rand(g, "v", DIMS(8), &r, 0.2f, 1.f);
  NODE(g, NND_OP_BATCH_NORM, "bn", &bn, conv, gm, be, mu, va);
  NODE(g, NND_OP_SIGMOID, "sig1", &s1, bn);
  int32_t n_m1 = NODE(g, NND_OP_MUL, "mul1", &m1, s1, bn);
  set_io(g, &x, 1, &m1, 1);
  ASSERT_EQ_INT(0, infer(g));
  float *xin = make_input(144, 4);
  nnd_engine_options opt;
  nnd_engine_options_init(&opt);
  opt.observe = NND_OBSERVE_ALL;
  tap_log log = {.keep = -1};
  nnd_engine *e = NULL;
  opt.tap = tap_record;
  opt.tap_user = &log;
  nnd_error err = {0};
  ASSERT_EQ_INT(NND_OK, nnd_engine_create(g, &opt, &e, &err));
  nnd_engine_stats st;
  nnd_engine_get_stats(e, &st);
  /* sig0 into mul0; bn, sig1 and mul1 into the conv. */
  ASSERT_EQ_INT(4, st.n_fused_nodes);
  /* silu(x), its channels-last copy, conv+bn+silu */
  ASSERT_EQ_INT(3, st.n_steps);
  ASSERT_EQ_INT(1, st.n_layout_conversions);
  ASSERT_TRUE(!nnd_engine_value_observed(e, s0));
  ASSERT_TRUE(!nnd_engine_value_observed(e, s1));
  ASSERT_TRUE(nnd_engine_value_observed(e, m0));
  nnd_tensor in = {.dtype = F32, .rank = 4, .dims = {1, 4, 6, 6}, .data = xin};
  double yf[288], yr[288];
  nnd_tensor out = {.dtype = NND_DTYPE_F64, .rank = 4, .dims = {1, 8, 6, 6}, .data = yf};
  ASSERT_EQ_INT(NND_OK, nnd_engine_run(e, &in, 1, &out, 1, &err));
  ASSERT_EQ_INT(3, log.n); /* x, mul0, mul1 */
  ASSERT_EQ_INT(n_m1, log.node[2]);
  nnd_engine_destroy(e);
  opt.precision = NND_PRECISION_REFERENCE;
  opt.observe = NND_OBSERVE_NONE;
  ASSERT_EQ_INT(NND_OK, nnd_engine_create(g, &opt, &e, &err));
  out.data = yr;
  ASSERT_EQ_INT(NND_OK, nnd_engine_run(e, &in, 1, &out, 1, &err));
  nnd_engine_destroy(e);
  int rc = close_f64("silu pairs, fast vs reference", yf, yr, 288, 1e-5);
  free(xin);
  nnd_graph_destroy(g);
  return rc;
}

NND_TEST_MAIN(NND_TEST(test_cnn_both_precisions), NND_TEST(test_silu_pairs),
              NND_TEST(test_taps_reference_all), NND_TEST(test_taps_fast_all_fused),
              NND_TEST(test_taps_list_breaks_fusion), NND_TEST(test_shape_arithmetic_folds),
              NND_TEST(test_slice_extreme_steps), NND_TEST(test_nhwc_hwio_matches_nchw),
              NND_TEST(test_unsupported_names_node), NND_TEST(test_run_argument_errors),
              NND_TEST(test_threads_deterministic), NND_TEST(test_memory_reuse_chain),
              NND_TEST(test_memory_budget), NND_TEST(test_frozen_input))
