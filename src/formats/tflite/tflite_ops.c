/* TFLite builtin operators -> canonical ops, with their options lowered:
 * fused activations into nnd_node.act, SAME/VALID into explicit pads from
 * the static shapes, NHWC activations and OHWI / 1HWO weights recorded as
 * layouts, parameters given as constant tensors (PAD paddings, STRIDED_SLICE
 * begin/end/strides) into the attributes. An op with no canonical op, or
 * whose options nndiff cannot express (SOFTMAX with beta != 1, a strided
 * slice with an ellipsis), loads as NND_OP_UNSUPPORTED under its own name.
 *
 * Options tables (ids in schema order):
 *   Conv2DOptions (union type 1): 0 padding, 1 stride_w, 2 stride_h,
 *     3 fused_activation_function, 4 dilation_w_factor, 5 dilation_h_factor
 *   DepthwiseConv2DOptions (2): 0 padding, 1 stride_w, 2 stride_h,
 *     3 depth_multiplier, 4 fused activation, 5 dilation_w, 6 dilation_h
 *   Pool2DOptions (5): 0 padding, 1 stride_w, 2 stride_h, 3 filter_width,
 *     4 filter_height, 5 fused activation
 *   FullyConnectedOptions (8): 0 fused activation, 1 weights_format,
 *     2 keep_num_dims
 *   SoftmaxOptions (9): 0 beta; ConcatenationOptions (10): 0 axis,
 *     1 fused activation; Add (11) / Mul (21) / Sub (28) / Div (29)
 *     Options: 0 fused activation; ReshapeOptions (17): 0 new_shape;
 *     ReducerOptions (27): 0 keep_dims; SqueezeOptions (30): 0 squeeze_dims;
 *     StridedSliceOptions (32): 0 begin_mask, 1 end_mask, 2 ellipsis_mask,
 *     3 new_axis_mask, 4 shrink_axis_mask, 5 offset; LeakyReluOptions (75):
 *     0 alpha */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "formats/tflite/tflite_internal.h"

/* BuiltinOperator codes used below. */
enum {
  OP_ADD = 0,
  OP_AVERAGE_POOL_2D = 1,
  OP_CONCATENATION = 2,
  OP_CONV_2D = 3,
  OP_DEPTHWISE_CONV_2D = 4,
  OP_DEQUANTIZE = 6,
  OP_FLOOR = 8,
  OP_FULLY_CONNECTED = 9,
  OP_LOGISTIC = 14,
  OP_MAX_POOL_2D = 17,
  OP_MUL = 18,
  OP_RELU = 19,
  OP_RELU_N1_TO_1 = 20,
  OP_RELU6 = 21,
  OP_RESHAPE = 22,
  OP_SOFTMAX = 25,
  OP_TANH = 28,
  OP_PAD = 34,
  OP_TRANSPOSE = 39,
  OP_MEAN = 40,
  OP_SUB = 41,
  OP_DIV = 42,
  OP_SQUEEZE = 43,
  OP_STRIDED_SLICE = 45,
  OP_EXP = 47,
  OP_LOG_SOFTMAX = 50,
  OP_PRELU = 54,
  OP_MAXIMUM = 55,
  OP_MINIMUM = 57,
  OP_NEG = 59,
  OP_PADV2 = 60,
  OP_LOG = 73,
  OP_SUM = 74,
  OP_SQRT = 75,
  OP_POW = 78,
  OP_REDUCE_MAX = 82,
  OP_REDUCE_MIN = 89,
  OP_LEAKY_RELU = 98,
  OP_ABS = 101,
  OP_CEIL = 104,
  OP_QUANTIZE = 114,
  OP_HARD_SWISH = 117
};

/* BuiltinOptions union types. */
enum {
  OPT_CONV2D = 1,
  OPT_DEPTHWISE = 2,
  OPT_POOL2D = 5,
  OPT_FULLY_CONNECTED = 8,
  OPT_SOFTMAX = 9,
  OPT_CONCATENATION = 10,
  OPT_ADD = 11,
  OPT_RESHAPE = 17,
  OPT_MUL = 21,
  OPT_REDUCER = 27,
  OPT_SUB = 28,
  OPT_DIV = 29,
  OPT_SQUEEZE = 30,
  OPT_STRIDED_SLICE = 32,
  OPT_LEAKY_RELU = 75
};

typedef struct op_ctx {
  nnd__tfl_ctx *c;
  const nnd__tfl_op *op;
  char what[96]; /* "operator 12 (CONV_2D)" */
} op_ctx;

typedef nnd_status (*op_fill)(op_ctx *o, nnd_error *err);

static nnd_status fail(op_ctx *o, nnd_status st, nnd_error *err, const char *why) {
  return nnd_error_set(err, st, "%s: %s: %s", o->c->label, o->what, why);
}

static const nnd_value *input(const op_ctx *o, int i) {
  if (i >= o->op->n_in || o->op->in[i] < 0) return NULL;
  return &o->c->g->values[o->op->in[i]];
}

/* The op's options table when it has the expected type; *has false when
 * the op states none (every field then takes its default). */
static nnd_status options(op_ctx *o, uint8_t type, nnd__fb_table *t, bool *has, nnd_error *err) {
  *has = false;
  if (!o->op->has_options) return NND_OK;
  if (o->op->options_type != type) {
    char why[80];
    snprintf(why, sizeof why, "options of type %u where %u is expected", o->op->options_type, type);
    return fail(o, NND_ERR_FORMAT, err, why);
  }
  *t = o->op->options;
  *has = true;
  return NND_OK;
}

/* Scalar option field, default when the table or the field is absent. */
static nnd_status opt_i32(op_ctx *o, const nnd__fb_table *t, bool has, int id, int32_t def,
                          int32_t *out, nnd_error *err) {
  if (!has) {
    *out = def;
    return NND_OK;
  }
  return nnd__fb_i32(t, id, def, out, o->what, err);
}
static nnd_status opt_u8(op_ctx *o, const nnd__fb_table *t, bool has, int id, uint8_t *out,
                         nnd_error *err) {
  if (!has) {
    *out = 0;
    return NND_OK;
  }
  return nnd__fb_u8(t, id, 0, out, o->what, err);
}

/* ActivationFunctionType -> a fused activation. */
static nnd_status fused(op_ctx *o, uint8_t code, nnd_activation *act, nnd_error *err) {
  switch (code) {
  case 0: *act = (nnd_activation){NND_ACT_NONE, 0, 0}; return NND_OK;
  case 1: *act = (nnd_activation){NND_ACT_RELU, 0, 0}; return NND_OK;
  case 2: *act = (nnd_activation){NND_ACT_CLIP, -1, 1}; return NND_OK;
  case 3: *act = (nnd_activation){NND_ACT_CLIP, 0, 6}; return NND_OK;
  case 4: *act = (nnd_activation){NND_ACT_TANH, 0, 0}; return NND_OK;
  default: {
    char why[64];
    snprintf(why, sizeof why, "fused activation %u is not supported", code);
    return fail(o, NND_ERR_UNSUPPORTED, err, why);
  }
  }
}

static nnd_node *node_of(op_ctx *o) { return &o->c->g->nodes[o->c->g->n_nodes - 1]; }

/* Adds a node with provenance pointing at this operator. */
static nnd_status emit(op_ctx *o, nnd_op op, const int32_t *in, int n_in, const int32_t *out,
                       int n_out, nnd_error *err) {
  for (int k = 0; k < n_out; k++) {
    const nnd_value *v = &o->c->g->values[out[k]];
    const char *why = v->kind == NND_VALUE_CONSTANT ? "which is a constant"
                      : v->kind == NND_VALUE_INPUT  ? "which is a graph input"
                      : v->producer >= 0            ? "which an earlier operator writes"
                                                    : NULL;
    if (why)
      return nnd_error_set(err, NND_ERR_FORMAT, "%s: %s writes tensor '%s', %s", o->c->label,
                           o->what, v->name, why);
  }
  int32_t id;
  nnd_status st = nnd_graph_add_node(o->c->g, op, NULL, in, n_in, out, n_out, &id, err);
  if (st != NND_OK) return st;
  nnd_node *nd = &o->c->g->nodes[id];
  nd->prov = (nnd_provenance){NND_FORMAT_TFLITE,
                              o->op->op_type,
                              o->op->custom ? "custom" : "",
                              "",
                              o->op->index,
                              o->op->pos,
                              o->op->length,
                              true};
  return NND_OK;
}

/* The node as the file states it: the op's own inputs and outputs. */
static nnd_status emit_plain(op_ctx *o, nnd_op op, nnd_error *err) {
  return emit(o, op, o->op->in, o->op->n_in, o->op->out, o->op->n_out, err);
}

/* A new value named after `base` plus suffix, unique in the graph. */
static nnd_status new_value(op_ctx *o, const char *base, const char *suffix, int32_t *id,
                            nnd_error *err) {
  char buf[512];
  snprintf(buf, sizeof buf, "%s%s", base, suffix);
  for (int k = 2; nnd_graph_find_value(o->c->g, buf) >= 0 && k < 1000; k++)
    snprintf(buf, sizeof buf, "%s%s_%d", base, suffix, k);
  nnd_status st = nnd_graph_add_value(o->c->g, buf, id, err);
  if (st != NND_OK) return st;
  o->c->g->values[*id].prov.format = NND_FORMAT_TFLITE;
  o->c->g->values[*id].prov.index = -1;
  return NND_OK;
}

/* A new 1-D int64 constant (a shape the file states as an option or
 * implies), named after `base` plus suffix. */
static nnd_status const_i64(op_ctx *o, const char *base, const char *suffix, const int64_t *vals,
                            int n, int32_t *id, nnd_error *err) {
  int64_t *data = nnd_graph_alloc(o->c->g, n ? (size_t)n : 1, sizeof *data);
  if (!data) return nnd_error_set(err, NND_ERR_NOMEM, "%s: out of memory", o->c->label);
  if (n) memcpy(data, vals, (size_t)n * sizeof *data);
  nnd_status st = new_value(o, base, suffix, id, err);
  if (st != NND_OK) return st;
  nnd_value *v = &o->c->g->values[*id];
  v->kind = NND_VALUE_CONSTANT;
  v->dtype = NND_DTYPE_I64;
  v->shape.rank = 1;
  v->shape.dims[0].size = n;
  v->data = data;
  v->nbytes = (size_t)n * sizeof *data;
  v->data_offset = -1;
  return NND_OK;
}

/* Reads a small constant integer tensor; *known false when it is not a
 * constant (computed at run time). */
static nnd_status const_ints(op_ctx *o, const nnd_value *v, int64_t *buf, int max, int *n,
                             bool *known, nnd_error *err) {
  *known = false;
  *n = 0;
  if (!v || !v->data) return NND_OK;
  int64_t count = nnd_value_data_count(v);
  if (count > max) return fail(o, NND_ERR_FORMAT, err, "a parameter tensor has too many values");
  for (int64_t i = 0; i < count; i++)
    if (!nnd_value_read_i64(v, i, &buf[i]))
      return fail(o, NND_ERR_FORMAT, err, "a parameter tensor does not hold integers");
  *n = (int)count;
  *known = true;
  return NND_OK;
}

/* TFLite SAME: output ceil(in / stride), the padding split with the extra
 * pixel at the end. Unknown input size: left to shape inference. */
static void window_pads(nnd_auto_pad mode, int64_t in, int64_t k, int64_t s, int64_t d, int64_t *pb,
                        int64_t *pe) {
  *pb = *pe = 0;
  if (mode != NND_AUTO_PAD_SAME_UPPER || in < 0 || s < 1) return;
  int64_t out = (in + s - 1) / s, ek = (k - 1) * d + 1;
  int64_t total = (out - 1) * s + ek - in;
  if (total < 0) total = 0;
  *pb = total / 2;
  *pe = total - *pb;
}

static nnd_status padding_mode(op_ctx *o, uint8_t p, nnd_auto_pad *out, nnd_error *err) {
  if (p > 1) return fail(o, NND_ERR_FORMAT, err, "padding is neither SAME nor VALID");
  *out = p == 0 ? NND_AUTO_PAD_SAME_UPPER : NND_AUTO_PAD_VALID;
  return NND_OK;
}

/* ------------------------------------------------------------ conv */

static nnd_status fill_conv(op_ctx *o, bool depthwise, nnd_error *err) {
  nnd__fb_table t;
  bool has;
  uint8_t pad, act;
  int32_t sw, sh, dw, dh;
  int act_id = depthwise ? 4 : 3, dw_id = depthwise ? 5 : 4;
  nnd_status st = options(o, depthwise ? OPT_DEPTHWISE : OPT_CONV2D, &t, &has, err);
  if (st == NND_OK) st = opt_u8(o, &t, has, 0, &pad, err);
  if (st == NND_OK) st = opt_i32(o, &t, has, 1, 0, &sw, err);
  if (st == NND_OK) st = opt_i32(o, &t, has, 2, 0, &sh, err);
  if (st == NND_OK) st = opt_u8(o, &t, has, act_id, &act, err);
  if (st == NND_OK) st = opt_i32(o, &t, has, dw_id, 1, &dw, err);
  if (st == NND_OK) st = opt_i32(o, &t, has, dw_id + 1, 1, &dh, err);
  if (st != NND_OK) return st;
  if (o->op->n_in < 2) return fail(o, NND_ERR_FORMAT, err, "needs an input and a filter");
  if (sw < 1 || sh < 1 || dw < 1 || dh < 1)
    return fail(o, NND_ERR_FORMAT, err, "strides and dilations must be positive");
  nnd_activation a;
  nnd_auto_pad mode = NND_AUTO_PAD_VALID;
  if ((st = fused(o, act, &a, err)) != NND_OK) return st;
  if ((st = padding_mode(o, pad, &mode, err)) != NND_OK) return st;
  const nnd_value *x = input(o, 0), *w = input(o, 1);
  if (!x || !w || w->shape.rank != 4)
    return fail(o, NND_ERR_FORMAT, err, "the filter is not a 4-D tensor");
  if ((st = emit_plain(o, NND_OP_CONV, err)) != NND_OK) return st;
  nnd_node *nd = node_of(o);
  nnd_conv_attrs *c = &nd->attrs.conv;
  nd->act = a;
  c->n_spatial = 2;
  c->kernel[0] = w->shape.dims[1].size;
  c->kernel[1] = w->shape.dims[2].size;
  c->strides[0] = sh;
  c->strides[1] = sw;
  c->dilations[0] = dh;
  c->dilations[1] = dw;
  c->layout = NND_LAYOUT_NHWC;
  c->auto_pad = mode;
  c->weight_layout = depthwise ? NND_WLAYOUT_1HWO : NND_WLAYOUT_OHWI;
  int64_t cin = x->shape.rank == 4 ? x->shape.dims[3].size : -1;
  if (depthwise) {
    c->groups = cin > 0 ? cin : 1;
  } else if (cin > 0 && w->shape.dims[3].size > 0 && cin != w->shape.dims[3].size) {
    /* grouped convolution: the filter holds in/groups channels */
    if (cin % w->shape.dims[3].size)
      return fail(o, NND_ERR_GRAPH, err, "input channels are not a multiple of the filter's");
    c->groups = cin / w->shape.dims[3].size;
  }
  for (int i = 0; i < 2; i++) {
    int64_t in = x->shape.rank == 4 ? x->shape.dims[1 + i].size : -1;
    window_pads(mode, in, c->kernel[i], c->strides[i], c->dilations[i], &c->pads_begin[i],
                &c->pads_end[i]);
  }
  return NND_OK;
}

static nnd_status fill_conv2d(op_ctx *o, nnd_error *err) { return fill_conv(o, false, err); }
static nnd_status fill_depthwise(op_ctx *o, nnd_error *err) { return fill_conv(o, true, err); }

static nnd_status fill_pool(op_ctx *o, nnd_op op, nnd_error *err) {
  nnd__fb_table t;
  bool has;
  uint8_t pad, act;
  int32_t sw, sh, fw, fh;
  nnd_status st = options(o, OPT_POOL2D, &t, &has, err);
  if (st == NND_OK) st = opt_u8(o, &t, has, 0, &pad, err);
  if (st == NND_OK) st = opt_i32(o, &t, has, 1, 0, &sw, err);
  if (st == NND_OK) st = opt_i32(o, &t, has, 2, 0, &sh, err);
  if (st == NND_OK) st = opt_i32(o, &t, has, 3, 0, &fw, err);
  if (st == NND_OK) st = opt_i32(o, &t, has, 4, 0, &fh, err);
  if (st == NND_OK) st = opt_u8(o, &t, has, 5, &act, err);
  if (st != NND_OK) return st;
  nnd_activation a;
  nnd_auto_pad mode = NND_AUTO_PAD_VALID;
  if ((st = fused(o, act, &a, err)) != NND_OK) return st;
  if ((st = padding_mode(o, pad, &mode, err)) != NND_OK) return st;
  if (fw < 1 || fh < 1 || sw < 1 || sh < 1)
    return fail(o, NND_ERR_FORMAT, err, "the filter size and strides must be positive");
  const nnd_value *x = input(o, 0);
  if ((st = emit_plain(o, op, err)) != NND_OK) return st;
  nnd_node *nd = node_of(o);
  nnd_pool_attrs *p = &nd->attrs.pool;
  nd->act = a;
  p->n_spatial = 2;
  p->kernel[0] = fh;
  p->kernel[1] = fw;
  p->strides[0] = sh;
  p->strides[1] = sw;
  p->layout = NND_LAYOUT_NHWC;
  p->auto_pad = mode;
  p->count_include_pad = false; /* TFLite averages over the pixels inside the image */
  for (int i = 0; i < 2; i++) {
    int64_t in = x && x->shape.rank == 4 ? x->shape.dims[1 + i].size : -1;
    window_pads(mode, in, p->kernel[i], p->strides[i], 1, &p->pads_begin[i], &p->pads_end[i]);
  }
  return NND_OK;
}

static nnd_status fill_avg_pool(op_ctx *o, nnd_error *err) {
  return fill_pool(o, NND_OP_AVG_POOL, err);
}
static nnd_status fill_max_pool(op_ctx *o, nnd_error *err) {
  return fill_pool(o, NND_OP_MAX_POOL, err);
}

/* FULLY_CONNECTED: y = x W^T + b with W [out, in], a Gemm with trans_b.
 * An input of another rank is first flattened to [-1, in], as TFLite does;
 * with keep_num_dims the result is reshaped back to the output's stated
 * shape (x's leading dims, then out). */
static nnd_status fill_fully_connected(op_ctx *o, nnd_error *err) {
  nnd__fb_table t;
  bool has;
  uint8_t act, format, keep;
  nnd_status st = options(o, OPT_FULLY_CONNECTED, &t, &has, err);
  if (st == NND_OK) st = opt_u8(o, &t, has, 0, &act, err);
  if (st == NND_OK) st = opt_u8(o, &t, has, 1, &format, err);
  if (st == NND_OK) st = opt_u8(o, &t, has, 2, &keep, err);
  if (st != NND_OK) return st;
  nnd_activation a;
  if ((st = fused(o, act, &a, err)) != NND_OK) return st;
  if (format != 0) return fail(o, NND_ERR_UNSUPPORTED, err, "shuffled weights are not supported");
  const nnd_value *x = input(o, 0), *w = input(o, 1);
  if (!x || !w || w->shape.rank != 2)
    return fail(o, NND_ERR_FORMAT, err, "needs an input and 2-D weights");
  /* Copies: adding values below may move the value array. */
  const int x_rank = x->shape.rank;
  const nnd_shape y_shape = o->c->g->values[o->op->out[0]].shape;
  const char *base = o->c->g->values[o->op->out[0]].name;
  int32_t in[3] = {o->op->in[0], o->op->in[1], o->op->n_in > 2 ? o->op->in[2] : -1};
  int n_in = o->op->n_in > 2 ? 3 : 2;
  if (x_rank != 2) {
    int32_t shape_id, flat_id;
    int64_t dims[2] = {-1, w->shape.dims[1].size};
    if ((st = const_i64(o, base, "/flatten_shape", dims, 2, &shape_id, err)) != NND_OK) return st;
    if ((st = new_value(o, base, "/flatten", &flat_id, err)) != NND_OK) return st;
    int32_t rin[2] = {o->op->in[0], shape_id};
    if ((st = emit(o, NND_OP_RESHAPE, rin, 2, &flat_id, 1, err)) != NND_OK) return st;
    in[0] = flat_id;
  }
  bool unflatten = keep && x_rank != 2;
  if (unflatten && (y_shape.rank < 1 || y_shape.rank > NND_MAX_RANK))
    return fail(o, NND_ERR_FORMAT, err, "keep_num_dims without a stated output shape");
  int32_t gemm_out = o->op->out[0];
  if (unflatten && (st = new_value(o, base, "/matmul", &gemm_out, err)) != NND_OK) return st;
  if ((st = emit(o, NND_OP_GEMM, in, n_in, &gemm_out, 1, err)) != NND_OK) return st;
  nnd_node *nd = node_of(o);
  nd->attrs.trans_b = true;
  nd->act = a;
  if (!unflatten) return NND_OK;
  int64_t dims[NND_MAX_RANK];
  for (int i = 0; i < y_shape.rank; i++)
    dims[i] = y_shape.dims[i].size;
  int32_t shape_id;
  if ((st = const_i64(o, base, "/output_shape", dims, y_shape.rank, &shape_id, err)) != NND_OK)
    return st;
  int32_t rin[2] = {gemm_out, shape_id};
  return emit(o, NND_OP_RESHAPE, rin, 2, o->op->out, 1, err);
}

/* ADD, SUB, MUL, DIV with their fused activation. */
static nnd_status fill_binary(op_ctx *o, nnd_op op, uint8_t type, nnd_error *err) {
  nnd__fb_table t;
  bool has;
  uint8_t act;
  nnd_status st = options(o, type, &t, &has, err);
  if (st == NND_OK) st = opt_u8(o, &t, has, 0, &act, err);
  nnd_activation a;
  if (st == NND_OK) st = fused(o, act, &a, err);
  if (st == NND_OK) st = emit_plain(o, op, err);
  if (st == NND_OK) node_of(o)->act = a;
  return st;
}

static nnd_status fill_add(op_ctx *o, nnd_error *err) {
  return fill_binary(o, NND_OP_ADD, OPT_ADD, err);
}
static nnd_status fill_sub(op_ctx *o, nnd_error *err) {
  return fill_binary(o, NND_OP_SUB, OPT_SUB, err);
}
static nnd_status fill_mul(op_ctx *o, nnd_error *err) {
  return fill_binary(o, NND_OP_MUL, OPT_MUL, err);
}
static nnd_status fill_div(op_ctx *o, nnd_error *err) {
  return fill_binary(o, NND_OP_DIV, OPT_DIV, err);
}

static nnd_status fill_concat(op_ctx *o, nnd_error *err) {
  nnd__fb_table t;
  bool has;
  uint8_t act;
  int32_t axis;
  nnd_status st = options(o, OPT_CONCATENATION, &t, &has, err);
  if (st == NND_OK) st = opt_i32(o, &t, has, 0, 0, &axis, err);
  if (st == NND_OK) st = opt_u8(o, &t, has, 1, &act, err);
  nnd_activation a;
  if (st == NND_OK) st = fused(o, act, &a, err);
  if (st == NND_OK) st = emit_plain(o, NND_OP_CONCAT, err);
  if (st != NND_OK) return st;
  node_of(o)->attrs.axis = axis;
  node_of(o)->act = a;
  return NND_OK;
}

static nnd_status fill_softmax(op_ctx *o, nnd_error *err) {
  nnd__fb_table t;
  bool has;
  float beta = 0;
  nnd_status st = options(o, OPT_SOFTMAX, &t, &has, err);
  if (st == NND_OK && has) st = nnd__fb_f32(&t, 0, 0.0f, &beta, o->what, err);
  if (st != NND_OK) return st;
  if (beta != 1.0f) return emit_plain(o, NND_OP_UNSUPPORTED, err); /* softmax(beta x): no op */
  if ((st = emit_plain(o, NND_OP_SOFTMAX, err)) != NND_OK) return st;
  node_of(o)->attrs.axis = -1;
  return NND_OK;
}

/* MEAN, SUM, REDUCE_MAX, REDUCE_MIN: x and the axes tensor, keep_dims. */
static nnd_status fill_reduce(op_ctx *o, nnd_op op, nnd_error *err) {
  nnd__fb_table t;
  bool has;
  uint8_t keep;
  nnd_status st = options(o, OPT_REDUCER, &t, &has, err);
  if (st == NND_OK) st = opt_u8(o, &t, has, 0, &keep, err);
  if (st != NND_OK) return st;
  int64_t axes[NND_MAX_RANK];
  int n;
  bool known;
  if ((st = const_ints(o, input(o, 1), axes, NND_MAX_RANK, &n, &known, err)) != NND_OK) return st;
  if (!known) return emit_plain(o, NND_OP_UNSUPPORTED, err); /* axes computed at run time */
  if ((st = emit_plain(o, op, err)) != NND_OK) return st;
  nnd_attrs *a = &node_of(o)->attrs;
  a->keepdims = keep != 0;
  a->has_axes = true;
  a->n_axes = n;
  memcpy(a->axes, axes, (size_t)n * sizeof axes[0]);
  return NND_OK;
}

static nnd_status fill_mean(op_ctx *o, nnd_error *err) {
  return fill_reduce(o, NND_OP_REDUCE_MEAN, err);
}
static nnd_status fill_sum(op_ctx *o, nnd_error *err) {
  return fill_reduce(o, NND_OP_REDUCE_SUM, err);
}
static nnd_status fill_rmax(op_ctx *o, nnd_error *err) {
  return fill_reduce(o, NND_OP_REDUCE_MAX, err);
}
static nnd_status fill_rmin(op_ctx *o, nnd_error *err) {
  return fill_reduce(o, NND_OP_REDUCE_MIN, err);
}

/* PAD / PADV2: paddings [rank, 2] (and PADV2's scalar value) into the
 * attributes; the node reads x only. */
static nnd_status fill_pad(op_ctx *o, nnd_error *err) {
  int64_t p[2 * NND_MAX_RANK];
  int n;
  bool known;
  nnd_status st = const_ints(o, input(o, 1), p, 2 * NND_MAX_RANK, &n, &known, err);
  if (st != NND_OK) return st;
  const nnd_value *pv = input(o, 2);
  double value = 0;
  if (pv && (!pv->data || !nnd_value_read_f64(pv, 0, &value))) known = false;
  if (!known || n % 2) return emit_plain(o, NND_OP_UNSUPPORTED, err);
  if ((st = emit(o, NND_OP_PAD, o->op->in, 1, o->op->out, 1, err)) != NND_OK) return st;
  nnd_attrs *a = &node_of(o)->attrs;
  a->has_pads = true;
  a->n_pads = n / 2;
  for (int i = 0; i < n / 2; i++) {
    a->pads_begin[i] = p[2 * i];
    a->pads_end[i] = p[2 * i + 1];
  }
  a->pad_mode = NND_PAD_CONSTANT;
  a->pad_value = (float)value;
  return NND_OK;
}

static nnd_status fill_reshape(op_ctx *o, nnd_error *err) {
  /* The shape tensor when there is one (constant or computed), else the
   * option's new_shape, else the output's stated shape. */
  if (o->op->n_in >= 2 && o->op->in[1] >= 0)
    return emit(o, NND_OP_RESHAPE, o->op->in, 2, o->op->out, 1, err);
  nnd__fb_table t;
  bool has;
  nnd__fb_vec ns = {0};
  nnd_status st = options(o, OPT_RESHAPE, &t, &has, err);
  if (st == NND_OK && has) st = nnd__fb_vector(&t, 0, 4, &ns, o->what, err);
  if (st != NND_OK) return st;
  const nnd_value *y = &o->c->g->values[o->op->out[0]];
  int rank = has && ns.count ? (int)ns.count : y->shape.rank;
  if (rank < 0 || rank > NND_MAX_RANK)
    return fail(o, NND_ERR_FORMAT, err, "the new shape has too many dims");
  int64_t dims[NND_MAX_RANK];
  for (int i = 0; i < rank; i++)
    dims[i] = has && ns.count ? nnd__fb_vec_i32(&ns, (uint32_t)i) : y->shape.dims[i].size;
  int32_t shape_id;
  if ((st = const_i64(o, y->name, "/shape", dims, rank, &shape_id, err)) != NND_OK) return st;
  int32_t in[2] = {o->op->in[0], shape_id};
  return emit(o, NND_OP_RESHAPE, in, 2, o->op->out, 1, err);
}

static nnd_status fill_squeeze(op_ctx *o, nnd_error *err) {
  nnd__fb_table t;
  bool has;
  nnd__fb_vec dims = {0};
  nnd_status st = options(o, OPT_SQUEEZE, &t, &has, err);
  if (st == NND_OK && has) st = nnd__fb_vector(&t, 0, 4, &dims, o->what, err);
  if (st != NND_OK) return st;
  if (dims.count > NND_MAX_RANK) return fail(o, NND_ERR_FORMAT, err, "too many squeeze dims");
  if ((st = emit(o, NND_OP_SQUEEZE, o->op->in, 1, o->op->out, 1, err)) != NND_OK) return st;
  nnd_attrs *a = &node_of(o)->attrs;
  a->has_axes = dims.count > 0;
  a->n_axes = (int)dims.count;
  for (uint32_t i = 0; i < dims.count; i++)
    a->axes[i] = nnd__fb_vec_i32(&dims, i);
  return NND_OK;
}

/* STRIDED_SLICE -> Slice over every listed axis, masks applied, then a
 * Squeeze of the axes shrink_axis_mask drops. */
static nnd_status fill_strided_slice(op_ctx *o, nnd_error *err) {
  nnd__fb_table t;
  bool has;
  int32_t bm, em, ell, nam, sam;
  uint8_t offset;
  nnd_status st = options(o, OPT_STRIDED_SLICE, &t, &has, err);
  if (st == NND_OK) st = opt_i32(o, &t, has, 0, 0, &bm, err);
  if (st == NND_OK) st = opt_i32(o, &t, has, 1, 0, &em, err);
  if (st == NND_OK) st = opt_i32(o, &t, has, 2, 0, &ell, err);
  if (st == NND_OK) st = opt_i32(o, &t, has, 3, 0, &nam, err);
  if (st == NND_OK) st = opt_i32(o, &t, has, 4, 0, &sam, err);
  if (st == NND_OK) st = opt_u8(o, &t, has, 5, &offset, err);
  if (st != NND_OK) return st;
  int64_t b[NND_MAX_RANK], e[NND_MAX_RANK], s[NND_MAX_RANK];
  int nb, ne, ns;
  bool kb, ke, ks;
  if ((st = const_ints(o, input(o, 1), b, NND_MAX_RANK, &nb, &kb, err)) != NND_OK) return st;
  if ((st = const_ints(o, input(o, 2), e, NND_MAX_RANK, &ne, &ke, err)) != NND_OK) return st;
  if ((st = const_ints(o, input(o, 3), s, NND_MAX_RANK, &ns, &ks, err)) != NND_OK) return st;
  if (!ks) { /* strides may be omitted: all 1 */
    ns = nb;
    for (int i = 0; i < nb; i++)
      s[i] = 1;
    ks = input(o, 3) == NULL;
  }
  if (!kb || !ke || !ks || ell || nam || nb != ne || nb != ns)
    return emit_plain(o, NND_OP_UNSUPPORTED, err);
  int n_shrink = 0;
  int64_t shrink[NND_MAX_RANK];
  for (int i = 0; i < nb; i++) {
    if (s[i] == 0) return fail(o, NND_ERR_FORMAT, err, "a stride is 0");
    if (offset) e[i] += b[i];
    if (bm & (1 << i)) b[i] = s[i] > 0 ? 0 : INT64_MAX;
    if (em & (1 << i)) e[i] = s[i] > 0 ? INT64_MAX : INT64_MIN;
    if (sam & (1 << i)) {
      e[i] = b[i] == -1 ? INT64_MAX : b[i] + 1;
      s[i] = 1;
      shrink[n_shrink++] = i;
    }
  }
  int32_t mid = o->op->out[0];
  if (n_shrink && (st = new_value(o, o->c->g->values[mid].name, "/slice", &mid, err)) != NND_OK)
    return st;
  if ((st = emit(o, NND_OP_SLICE, o->op->in, 1, &mid, 1, err)) != NND_OK) return st;
  nnd_attrs *a = &node_of(o)->attrs;
  a->has_slice = a->has_axes = true;
  a->n_axes = nb;
  for (int i = 0; i < nb; i++) {
    a->axes[i] = i;
    a->starts[i] = b[i];
    a->ends[i] = e[i];
    a->steps[i] = s[i];
  }
  if (!n_shrink) return NND_OK;
  if ((st = emit(o, NND_OP_SQUEEZE, &mid, 1, o->op->out, 1, err)) != NND_OK) return st;
  a = &node_of(o)->attrs;
  a->has_axes = true;
  a->n_axes = n_shrink;
  memcpy(a->axes, shrink, (size_t)n_shrink * sizeof shrink[0]);
  return NND_OK;
}

/* Scale and zero point of a quantized tensor as constants, the inputs
 * QuantizeLinear/DequantizeLinear take. */
static nnd_status quant_inputs(op_ctx *o, const nnd_value *q, int32_t ids[2], int *axis,
                               nnd_error *err) {
  /* q is not used past here: adding values may move the value array */
  const nnd_quant *qu = q->quant;
  const char *base = q->name;
  const nnd_dtype dtype = q->dtype;
  nnd_status st = new_value(o, base, "/scale", &ids[0], err);
  if (st == NND_OK) st = new_value(o, base, "/zero_point", &ids[1], err);
  if (st != NND_OK) return st;
  nnd_graph *g = o->c->g;
  size_t zs = nnd_dtype_size(dtype);
  unsigned char *zp = nnd_graph_alloc(g, (size_t)qu->count, zs);
  if (!zp) return nnd_error_set(err, NND_ERR_NOMEM, "%s: out of memory", o->c->label);
  for (int64_t i = 0; i < qu->count; i++) {
    int64_t z = qu->zero_points[i];
    if (dtype == NND_DTYPE_I8) {
      int8_t v = (int8_t)z;
      memcpy(zp + i, &v, 1);
    } else if (dtype == NND_DTYPE_U8) {
      uint8_t v = (uint8_t)z;
      memcpy(zp + i, &v, 1);
    } else if (dtype == NND_DTYPE_I16) {
      int16_t v = (int16_t)z;
      memcpy(zp + 2 * i, &v, 2);
    } else if (dtype == NND_DTYPE_I32) {
      int32_t v = (int32_t)z;
      memcpy(zp + 4 * i, &v, 4);
    } else
      return fail(o, NND_ERR_UNSUPPORTED, err, "quantized type is not int8, uint8, int16 or int32");
  }
  nnd_value *s = &g->values[ids[0]], *z = &g->values[ids[1]];
  s->kind = z->kind = NND_VALUE_CONSTANT;
  s->dtype = NND_DTYPE_F32;
  z->dtype = dtype;
  s->shape.rank = z->shape.rank = qu->count > 1 ? 1 : 0;
  s->shape.dims[0].size = z->shape.dims[0].size = qu->count;
  s->data = qu->scales;
  s->nbytes = (size_t)qu->count * sizeof(float);
  z->data = zp;
  z->nbytes = (size_t)qu->count * zs;
  s->data_offset = z->data_offset = -1;
  *axis = qu->axis;
  return NND_OK;
}

static nnd_status fill_dequantize(op_ctx *o, nnd_error *err) {
  const nnd_value *x = input(o, 0);
  nnd_status st;
  if (x && x->dtype == NND_DTYPE_F16) { /* float16 weights: an exact widening */
    if ((st = emit_plain(o, NND_OP_CAST, err)) != NND_OK) return st;
    node_of(o)->attrs.to = NND_DTYPE_F32;
    return NND_OK;
  }
  if (!x || !x->quant) return emit_plain(o, NND_OP_UNSUPPORTED, err);
  int32_t q[2];
  int axis;
  if ((st = quant_inputs(o, x, q, &axis, err)) != NND_OK) return st;
  int32_t in[3] = {o->op->in[0], q[0], q[1]};
  if ((st = emit(o, NND_OP_DEQUANTIZE, in, 3, o->op->out, 1, err)) != NND_OK) return st;
  node_of(o)->attrs.axis = axis;
  return NND_OK;
}

static nnd_status fill_quantize(op_ctx *o, nnd_error *err) {
  const nnd_value *x = input(o, 0), *y = &o->c->g->values[o->op->out[0]];
  if (!x || x->dtype != NND_DTYPE_F32 || !y->quant)
    return emit_plain(o, NND_OP_UNSUPPORTED, err); /* requantize int -> int: not yet */
  int32_t q[2];
  int axis;
  nnd_status st = quant_inputs(o, y, q, &axis, err);
  int32_t in[3] = {o->op->in[0], q[0], q[1]};
  if (st == NND_OK) st = emit(o, NND_OP_QUANTIZE, in, 3, o->op->out, 1, err);
  if (st == NND_OK) node_of(o)->attrs.axis = axis;
  return st;
}

static nnd_status fill_clip(op_ctx *o, float lo, float hi, nnd_error *err) {
  nnd_status st = emit(o, NND_OP_CLIP, o->op->in, 1, o->op->out, 1, err);
  if (st != NND_OK) return st;
  node_of(o)->attrs.clip_min = lo;
  node_of(o)->attrs.clip_max = hi;
  return NND_OK;
}
static nnd_status fill_relu6(op_ctx *o, nnd_error *err) { return fill_clip(o, 0, 6, err); }
static nnd_status fill_relu_n1(op_ctx *o, nnd_error *err) { return fill_clip(o, -1, 1, err); }

static nnd_status fill_leaky_relu(op_ctx *o, nnd_error *err) {
  nnd__fb_table t;
  bool has;
  float alpha = 0;
  nnd_status st = options(o, OPT_LEAKY_RELU, &t, &has, err);
  if (st == NND_OK && has) st = nnd__fb_f32(&t, 0, 0.0f, &alpha, o->what, err);
  if (st == NND_OK) st = emit_plain(o, NND_OP_LEAKY_RELU, err);
  if (st == NND_OK) node_of(o)->attrs.alpha = alpha;
  return st;
}

static nnd_status fill_log_softmax(op_ctx *o, nnd_error *err) {
  nnd_status st = emit_plain(o, NND_OP_LOG_SOFTMAX, err);
  if (st == NND_OK) node_of(o)->attrs.axis = -1;
  return st;
}

/* --------------------------------------------------------------- table */

typedef struct op_entry {
  int32_t code;
  nnd_op op;    /* for ops that map one to one with no options */
  op_fill fill; /* otherwise */
} op_entry;

static const op_entry table[] = {
    {OP_ADD, 0, fill_add},
    {OP_AVERAGE_POOL_2D, 0, fill_avg_pool},
    {OP_CONCATENATION, 0, fill_concat},
    {OP_CONV_2D, 0, fill_conv2d},
    {OP_DEPTHWISE_CONV_2D, 0, fill_depthwise},
    {OP_DEQUANTIZE, 0, fill_dequantize},
    {OP_FLOOR, NND_OP_FLOOR, NULL},
    {OP_FULLY_CONNECTED, 0, fill_fully_connected},
    {OP_LOGISTIC, NND_OP_SIGMOID, NULL},
    {OP_MAX_POOL_2D, 0, fill_max_pool},
    {OP_MUL, 0, fill_mul},
    {OP_RELU, NND_OP_RELU, NULL},
    {OP_RELU_N1_TO_1, 0, fill_relu_n1},
    {OP_RELU6, 0, fill_relu6},
    {OP_RESHAPE, 0, fill_reshape},
    {OP_SOFTMAX, 0, fill_softmax},
    {OP_TANH, NND_OP_TANH, NULL},
    {OP_PAD, 0, fill_pad},
    {OP_TRANSPOSE, NND_OP_TRANSPOSE, NULL},
    {OP_MEAN, 0, fill_mean},
    {OP_SUB, 0, fill_sub},
    {OP_DIV, 0, fill_div},
    {OP_SQUEEZE, 0, fill_squeeze},
    {OP_STRIDED_SLICE, 0, fill_strided_slice},
    {OP_EXP, NND_OP_EXP, NULL},
    {OP_LOG_SOFTMAX, 0, fill_log_softmax},
    {OP_PRELU, NND_OP_PRELU, NULL},
    {OP_MAXIMUM, NND_OP_MAX, NULL},
    {OP_MINIMUM, NND_OP_MIN, NULL},
    {OP_NEG, NND_OP_NEG, NULL},
    {OP_PADV2, 0, fill_pad},
    {OP_LOG, NND_OP_LOG, NULL},
    {OP_SUM, 0, fill_sum},
    {OP_SQRT, NND_OP_SQRT, NULL},
    {OP_POW, NND_OP_POW, NULL},
    {OP_REDUCE_MAX, 0, fill_rmax},
    {OP_REDUCE_MIN, 0, fill_rmin},
    {OP_LEAKY_RELU, 0, fill_leaky_relu},
    {OP_ABS, NND_OP_ABS, NULL},
    {OP_CEIL, NND_OP_CEIL, NULL},
    {OP_QUANTIZE, 0, fill_quantize},
    {OP_HARD_SWISH, NND_OP_HARD_SWISH, NULL},
};

nnd_status nnd__tfl_add_op(nnd__tfl_ctx *c, const nnd__tfl_op *op, nnd_error *err) {
  op_ctx o = {c, op, {0}};
  snprintf(o.what, sizeof o.what, "operator %lld (%s)", (long long)op->index, op->op_type);
  if (!op->custom)
    for (size_t i = 0; i < sizeof table / sizeof table[0]; i++)
      if (table[i].code == op->code)
        return table[i].fill ? table[i].fill(&o, err) : emit_plain(&o, table[i].op, err);
  return emit_plain(&o, NND_OP_UNSUPPORTED, err);
}
