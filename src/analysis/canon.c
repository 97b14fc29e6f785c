/* Canonicalisation for analysis: one normal form for two exports of the
 * same network (see include/nndiff/align.h for the rules). The original
 * graph is only read; weights are copied into double arrays and folded
 * there, in double precision, so a folded source can be compared with a
 * target a converter folded in float32. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "analysis/localize_internal.h"
#include "nndiff/align.h"
#include "nndiff/op_info.h"
#include "util/arena.h"

#define MAX_MEMBERS 8

const char *nnd_crole_name(nnd_crole role) {
  switch (role) {
  case NND_CROLE_HEAD: return "head";
  case NND_CROLE_BN: return "batchnorm";
  case NND_CROLE_SCALE: return "scale";
  case NND_CROLE_BIAS: return "bias";
  case NND_CROLE_ACT: return "activation";
  case NND_CROLE_PAD: return "pad";
  }
  return "?";
}

/* ------------------------------------------------------------ activations */

nnd_cact nnd_cact_normal(nnd_cact a) {
  nnd_cact n = a;
  switch (a.kind) {
  case NND_ACT_RELU:
    n.kind = NND_ACT_CLIP;
    n.alpha = 0.f;
    n.beta = INFINITY;
    break;
  case NND_ACT_HARD_SWISH:
    if (!a.gated) {
      n.kind = NND_ACT_HARD_SIGMOID;
      n.alpha = 1.f / 6.f;
      n.beta = 0.5f;
      n.gated = true;
    } else { /* x * hardswish(x): keep as is */
      n.alpha = n.beta = 0.f;
    }
    break;
  case NND_ACT_SILU:
    if (!a.gated) {
      n.kind = NND_ACT_SIGMOID;
      n.gated = true;
    }
    n.alpha = n.beta = 0.f;
    break;
  case NND_ACT_SIGMOID:
  case NND_ACT_TANH:
  case NND_ACT_NONE: n.alpha = n.beta = 0.f; break;
  case NND_ACT_LEAKY_RELU: n.beta = 0.f; break;
  case NND_ACT_CLIP:
  case NND_ACT_HARD_SIGMOID: break;
  }
  if (n.kind == NND_ACT_NONE) n.gated = false;
  return n;
}

static bool feq(float a, float b) {
  if (a == b) return true;
  if (isinf(a) || isinf(b) || isnan(a) || isnan(b)) return false;
  return fabsf(a - b) <= 1e-6f * fmaxf(1.f, fmaxf(fabsf(a), fabsf(b)));
}

bool nnd_cact_equal(nnd_cact a, nnd_cact b) {
  nnd_cact x = nnd_cact_normal(a), y = nnd_cact_normal(b);
  return x.kind == y.kind && x.gated == y.gated && feq(x.alpha, y.alpha) && feq(x.beta, y.beta);
}

static void fmt_float(float v, char *buf, size_t cap) {
  if (isinf(v))
    snprintf(buf, cap, "%sinf", v < 0 ? "-" : "");
  else
    snprintf(buf, cap, "%.4g", (double)v);
}

size_t nnd_cact_format(nnd_cact a, char *buf, size_t cap) {
  char x[32], y[32];
  fmt_float(a.alpha, x, sizeof x);
  fmt_float(a.beta, y, sizeof y);
  const char *g = a.gated ? "x*" : "";
  int n;
  switch (a.kind) {
  case NND_ACT_NONE: n = snprintf(buf, cap, "none"); break;
  case NND_ACT_RELU: n = snprintf(buf, cap, "%sRelu", g); break;
  case NND_ACT_CLIP: n = snprintf(buf, cap, "%sClip(%s, %s)", g, x, y); break;
  case NND_ACT_LEAKY_RELU: n = snprintf(buf, cap, "%sLeakyRelu(%s)", g, x); break;
  case NND_ACT_SIGMOID: n = snprintf(buf, cap, "%sSigmoid", g); break;
  case NND_ACT_HARD_SIGMOID: n = snprintf(buf, cap, "%sHardSigmoid(%s, %s)", g, x, y); break;
  case NND_ACT_HARD_SWISH: n = snprintf(buf, cap, "%sHardSwish", g); break;
  case NND_ACT_TANH: n = snprintf(buf, cap, "%sTanh", g); break;
  case NND_ACT_SILU: n = snprintf(buf, cap, "%sSilu", g); break;
  default: n = snprintf(buf, cap, "?"); break;
  }
  return n < 0 ? 0 : (size_t)n;
}

/* The activation an activation op computes (the ACT column of ops.def), or
 * false for other ops. */
static bool act_of_op(const nnd_node *nd, nnd_cact *out) {
  nnd_cact a = {nnd_op_info_get(nd->op)->act, 0.f, 0.f, false};
  switch (a.kind) {
  case NND_ACT_NONE: return false;
  case NND_ACT_CLIP:
    a.alpha = nd->attrs.clip_min;
    a.beta = nd->attrs.clip_max;
    break;
  case NND_ACT_LEAKY_RELU: a.alpha = nd->attrs.alpha; break;
  case NND_ACT_HARD_SIGMOID:
    a.alpha = nd->attrs.alpha;
    a.beta = nd->attrs.beta;
    break;
  default: break;
  }
  *out = a;
  return true;
}

static nnd_cact act_of_fused(const nnd_activation *f) {
  nnd_cact a = {f->kind, f->alpha, f->beta, false};
  return a;
}

/* ---------------------------------------------------------------- build */

typedef struct builder {
  const nnd_graph *g;
  nnd_cgraph *c;
  nnd_error *err;
  int32_t *order; /* topological order of the original nodes */
  bool *vconst;   /* per original value: constant or computed from constants only */
  bool *vdata;    /* per original value: float data flowing from the inputs */
  nnd_layout *vlayout;
  int32_t *n_dcons;  /* data consumers per original value */
  int32_t *dcons;    /* one data consumer (the last seen) */
  bool *absorbed;    /* original node already part of a canonical node */
  int32_t *pad_into; /* original Pad node -> Conv node absorbing it, -1 */
} builder;

static bool is_float(nnd_dtype d) {
  return d == NND_DTYPE_F32 || d == NND_DTYPE_F64 || d == NND_DTYPE_F16 || d == NND_DTYPE_BF16;
}

static void *calloc_n(size_t n, size_t size) { return calloc(n ? n : 1, size); }

/* Reads constant value v as doubles (dequantized when quantized). */
static double *read_const(nnd_cgraph *c, const nnd_value *v, int64_t *n_out) {
  int64_t n = nnd_value_data_count(v);
  if (n <= 0) return NULL;
  double *out = nnd_arena_alloc(c->arena, (size_t)n, sizeof *out);
  if (!out) return NULL;
  for (int64_t i = 0; i < n; i++) {
    double x = 0;
    if (!nnd_value_read_f64(v, i, &x)) return NULL;
    if (v->quant && v->quant->count > 0) {
      int64_t q = 0; /* per-tensor, or the channel of element i along the axis */
      if (v->quant->count > 1 && v->shape.rank > 0) {
        int axis = v->quant->axis < 0 ? v->quant->axis + v->shape.rank : v->quant->axis;
        int64_t inner = 1;
        for (int d = axis + 1; d < v->shape.rank; d++)
          inner *= v->shape.dims[d].size;
        q = (i / (inner ? inner : 1)) % v->quant->count;
      }
      double zp = v->quant->zero_points ? (double)v->quant->zero_points[q] : 0.0;
      x = (x - zp) * (double)v->quant->scales[q];
    }
    out[i] = x;
  }
  *n_out = n;
  return out;
}

static const nnd_value *const_input(const builder *b, const nnd_node *nd, int k) {
  if (k >= nd->n_inputs || nd->inputs[k] < 0) return NULL;
  const nnd_value *v = &b->g->values[nd->inputs[k]];
  if (!v->data || !b->vconst[nd->inputs[k]]) return NULL;
  return v;
}

static bool value_is_const(const builder *b, int32_t vid) { return vid >= 0 && b->vconst[vid]; }

/* Number of data inputs of a node (float values flowing from the inputs). */
static int n_data_inputs(const builder *b, const nnd_node *nd) {
  int n = 0;
  for (int k = 0; k < nd->n_inputs; k++)
    if (nd->inputs[k] >= 0 && b->vdata[nd->inputs[k]]) n++;
  return n;
}

/* A Transpose that only converts NCHW <-> NHWC on a rank-4 value. */
static bool is_layout_transpose(const builder *b, const nnd_node *nd, nnd_layout *to) {
  if (nd->op != NND_OP_TRANSPOSE || nd->attrs.n_perm != 4 || nd->n_inputs < 1 || nd->inputs[0] < 0)
    return false;
  const int64_t *p = nd->attrs.perm;
  nnd_layout in = b->vlayout[nd->inputs[0]];
  if (p[0] == 0 && p[1] == 2 && p[2] == 3 && p[3] == 1 && in != NND_LAYOUT_NHWC) {
    *to = NND_LAYOUT_NHWC;
    return true;
  }
  if (p[0] == 0 && p[1] == 3 && p[2] == 1 && p[3] == 2 && in == NND_LAYOUT_NHWC) {
    *to = NND_LAYOUT_NCHW;
    return true;
  }
  return false;
}

/* Nodes that pass their first input through unchanged. */
static bool is_alias_node(const builder *b, const nnd_node *nd) {
  if (nd->n_inputs < 1 || nd->inputs[0] < 0 || !b->vdata[nd->inputs[0]]) return false;
  if (nd->act.kind != NND_ACT_NONE) return false;
  if (nnd_op_info_get(nd->op)->eval == NND_EVAL_PASS) return true; /* Identity, Dropout */
  switch (nd->op) {
  case NND_OP_CAST:
    return nd->n_outputs >= 1 && nd->outputs[0] >= 0 &&
           b->g->values[nd->outputs[0]].dtype == b->g->values[nd->inputs[0]].dtype;
  case NND_OP_TRANSPOSE: {
    nnd_layout to;
    return is_layout_transpose(b, nd, &to);
  }
  default: return false;
  }
}

/* A constant-mode Pad with value 0 that only pads the spatial dims. */
static bool is_zero_spatial_pad(const builder *b, const nnd_node *nd) {
  if (nd->op != NND_OP_PAD || !nd->attrs.has_pads || nd->attrs.pad_mode != NND_PAD_CONSTANT ||
      nd->attrs.pad_value != 0.f || nd->attrs.n_pads != 4 || nd->act.kind != NND_ACT_NONE)
    return false;
  if (nd->n_inputs < 1 || nd->inputs[0] < 0) return false;
  nnd_layout l = b->vlayout[nd->inputs[0]];
  int c_axis = l == NND_LAYOUT_NHWC ? 3 : 1;
  for (int d = 0; d < 4; d++) {
    if (d == 0 || d == c_axis) {
      if (nd->attrs.pads_begin[d] != 0 || nd->attrs.pads_end[d] != 0) return false;
    } else if (nd->attrs.pads_begin[d] < 0 || nd->attrs.pads_end[d] < 0) {
      return false;
    }
  }
  return true;
}

static int32_t sole_consumer(const builder *b, int32_t vid) {
  if (vid < 0 || b->n_dcons[vid] != 1 || b->g->values[vid].is_output) return -1;
  return b->dcons[vid];
}

static nnd_status analyse(builder *b) {
  const nnd_graph *g = b->g;
  nnd_status st = nnd_graph_topo_order(g, b->order, b->err);
  if (st != NND_OK) return st;
  for (int32_t v = 0; v < g->n_values; v++) {
    const nnd_value *val = &g->values[v];
    b->vconst[v] = val->kind == NND_VALUE_CONSTANT || val->folded;
    b->vdata[v] = val->kind == NND_VALUE_INPUT && is_float(val->dtype) && !val->folded;
    b->vlayout[v] = val->layout;
    if (b->vlayout[v] == NND_LAYOUT_NONE && val->shape.rank == 4 && b->vdata[v])
      b->vlayout[v] = g->info.format == NND_FORMAT_TFLITE || g->info.format == NND_FORMAT_KERAS
                          ? NND_LAYOUT_NHWC
                          : NND_LAYOUT_NCHW;
    b->dcons[v] = -1;
  }
  for (int32_t i = 0; i < g->n_nodes; i++) {
    const nnd_node *nd = &g->nodes[b->order[i]];
    bool all_const = true, any_data = false;
    for (int k = 0; k < nd->n_inputs; k++) {
      int32_t v = nd->inputs[k];
      if (v < 0) continue;
      if (!b->vconst[v]) all_const = false;
      if (b->vdata[v]) any_data = true;
    }
    for (int k = 0; k < nd->n_outputs; k++) {
      int32_t o = nd->outputs[k];
      if (o < 0) continue;
      if (all_const) b->vconst[o] = true;
      const nnd_value *ov = &g->values[o];
      b->vdata[o] =
          any_data && !all_const && !ov->folded && is_float(ov->dtype) && nd->op != NND_OP_SHAPE;
      if (b->vdata[o] && b->vlayout[o] == NND_LAYOUT_NONE && ov->shape.rank == 4) {
        nnd_layout to;
        if (is_layout_transpose(b, nd, &to))
          b->vlayout[o] = to;
        else if (nd->op == NND_OP_TRANSPOSE)
          b->vlayout[o] = NND_LAYOUT_NONE;
        else if (nd->n_inputs > 0 && nd->inputs[0] >= 0 &&
                 b->vlayout[nd->inputs[0]] != NND_LAYOUT_NONE)
          b->vlayout[o] = b->vlayout[nd->inputs[0]];
        else
          b->vlayout[o] = NND_LAYOUT_NCHW;
      }
      if (b->vdata[o] && nd->op == NND_OP_TRANSPOSE) {
        nnd_layout to;
        if (is_layout_transpose(b, nd, &to)) b->vlayout[o] = to;
      }
    }
    bool data_node = false;
    for (int k = 0; k < nd->n_outputs; k++)
      if (nd->outputs[k] >= 0 && b->vdata[nd->outputs[k]]) data_node = true;
    if (!data_node) continue;
    for (int k = 0; k < nd->n_inputs; k++) {
      int32_t v = nd->inputs[k];
      if (v < 0 || !b->vdata[v]) continue;
      bool dup = false;
      for (int j = 0; j < k; j++)
        if (nd->inputs[j] == v) dup = true;
      if (dup) continue;
      b->n_dcons[v]++;
      b->dcons[v] = b->order[i];
    }
  }
  /* Zero Pads a following convolution absorbs. */
  for (int32_t i = 0; i < g->n_nodes; i++) {
    const nnd_node *nd = &g->nodes[i];
    if (!is_zero_spatial_pad(b, nd) || nd->outputs[0] < 0) continue;
    int32_t c = sole_consumer(b, nd->outputs[0]);
    if (c < 0) continue;
    const nnd_node *cn = &g->nodes[c];
    if (cn->op != NND_OP_CONV || cn->inputs[0] != nd->outputs[0] || cn->attrs.conv.n_spatial != 2)
      continue;
    if (cn->attrs.conv.auto_pad == NND_AUTO_PAD_SAME_UPPER ||
        cn->attrs.conv.auto_pad == NND_AUTO_PAD_SAME_LOWER)
      continue; /* SAME pads were resolved for the padded size; keep it simple */
    b->pad_into[i] = c;
  }
  return NND_OK;
}

/* ------------------------------------------------------------ parameters */

/* OIHW index of element (o, i, h, w) for a 2-D kernel stored in layout wl. */
static int64_t wl_index(nnd_weight_layout wl, const int64_t *d, int64_t o, int64_t i, int64_t h,
                        int64_t w) {
  switch (wl) {
  case NND_WLAYOUT_OHWI: return ((o * d[1] + h) * d[2] + w) * d[3] + i; /* [O,kh,kw,I] */
  case NND_WLAYOUT_HWIO: return ((h * d[1] + w) * d[2] + i) * d[3] + o; /* [kh,kw,I,O] */
  case NND_WLAYOUT_1HWO: return ((0 * d[1] + h) * d[2] + w) * d[3] + o; /* [1,kh,kw,O] */
  default: return ((o * d[1] + i) * d[2] + h) * d[3] + w;
  }
}

/* Conv weights into OIHW doubles. */
static nnd_status conv_params(builder *b, nnd_cnode *cn, const nnd_node *nd) {
  const nnd_value *w = const_input(b, nd, 1);
  if (!w) return NND_OK; /* runtime weights: no parameters to compare */
  int64_t n = 0;
  double *raw = read_const(b->c, w, &n);
  if (!raw)
    return nnd_error_set(b->err, NND_ERR_NOMEM, "out of memory reading weights of '%s'", nd->name);
  const nnd_conv_attrs *a = &nd->attrs.conv;
  cn->weight_from_file_f32 = w->dtype == NND_DTYPE_F32;
  if (a->weight_layout == NND_WLAYOUT_OIHW || nd->op == NND_OP_CONV_TRANSPOSE ||
      w->shape.rank != 4) {
    cn->weight = raw;
    cn->wrank = w->shape.rank;
    for (int d = 0; d < w->shape.rank; d++)
      cn->wdims[d] = w->shape.dims[d].size;
    cn->wnumel = n;
  } else {
    const int64_t *d = NULL;
    int64_t dd[4];
    for (int k = 0; k < 4; k++)
      dd[k] = w->shape.dims[k].size;
    d = dd;
    int64_t O, I, H, W;
    switch (a->weight_layout) {
    case NND_WLAYOUT_OHWI: O = d[0], H = d[1], W = d[2], I = d[3]; break;
    case NND_WLAYOUT_HWIO: H = d[0], W = d[1], I = d[2], O = d[3]; break;
    default: /* 1HWO */ O = d[3], H = d[1], W = d[2], I = 1; break;
    }
    double *o = nnd_arena_alloc(b->c->arena, (size_t)n, sizeof *o);
    if (!o) return nnd_error_set(b->err, NND_ERR_NOMEM, "out of memory");
    for (int64_t oo = 0; oo < O; oo++)
      for (int64_t ii = 0; ii < I; ii++)
        for (int64_t h = 0; h < H; h++)
          for (int64_t x = 0; x < W; x++)
            o[((oo * I + ii) * H + h) * W + x] = raw[wl_index(a->weight_layout, d, oo, ii, h, x)];
    cn->weight = o;
    cn->wrank = 4;
    cn->wdims[0] = O, cn->wdims[1] = I, cn->wdims[2] = H, cn->wdims[3] = W;
    cn->wnumel = n;
  }
  const nnd_value *bv = const_input(b, nd, 2);
  int64_t out_ch = nd->op == NND_OP_CONV_TRANSPOSE && cn->wrank >= 2
                       ? cn->wdims[1] * (nd->attrs.conv.groups > 0 ? nd->attrs.conv.groups : 1)
                       : cn->wdims[0];
  if (bv) {
    int64_t nb = 0;
    double *bias = read_const(b->c, bv, &nb);
    if (!bias || nb != out_ch) return NND_OK;
    cn->bias = bias;
    cn->nbias = nb;
  }
  cn->bias_mag = nnd_arena_alloc(b->c->arena, (size_t)(out_ch > 0 ? out_ch : 1), sizeof(double));
  if (!cn->bias_mag) return nnd_error_set(b->err, NND_ERR_NOMEM, "out of memory");
  for (int64_t k = 0; k < out_ch && cn->bias; k++)
    cn->bias_mag[k] = fabs(cn->bias[k]);
  return NND_OK;
}

/* Dense weights [out, in] from Gemm (alpha, transB, beta * C) or MatMul. */
static bool dense_params(builder *b, nnd_cnode *cn, const nnd_node *nd) {
  const nnd_value *w = const_input(b, nd, 1);
  if (!w || w->shape.rank != 2) return false;
  if (nd->op == NND_OP_GEMM && nd->attrs.trans_a) return false;
  int64_t n = 0;
  double *raw = read_const(b->c, w, &n);
  if (!raw) return false;
  int64_t r = w->shape.dims[0].size, k = w->shape.dims[1].size;
  bool as_is = nd->op == NND_OP_GEMM && nd->attrs.trans_b; /* already [out, in] */
  int64_t out = as_is ? r : k, in = as_is ? k : r;
  double alpha = nd->op == NND_OP_GEMM ? (double)nd->attrs.alpha : 1.0;
  double *wt = nnd_arena_alloc(b->c->arena, (size_t)n, sizeof *wt);
  if (!wt) return false;
  for (int64_t o = 0; o < out; o++)
    for (int64_t i = 0; i < in; i++)
      wt[o * in + i] = alpha * (as_is ? raw[o * in + i] : raw[i * out + o]);
  cn->weight = wt;
  cn->wrank = 2;
  cn->wdims[0] = out;
  cn->wdims[1] = in;
  cn->wnumel = n;
  cn->weight_from_file_f32 = w->dtype == NND_DTYPE_F32;
  cn->bias_mag = nnd_arena_alloc(b->c->arena, (size_t)(out > 0 ? out : 1), sizeof(double));
  if (!cn->bias_mag) return false;
  if (nd->op == NND_OP_GEMM) {
    const nnd_value *cv = const_input(b, nd, 2);
    if (cv) {
      int64_t nc = 0;
      double *c = read_const(b->c, cv, &nc);
      if (c && (nc == out || nc == 1)) {
        double *bias = nnd_arena_alloc(b->c->arena, (size_t)out, sizeof *bias);
        if (!bias) return false;
        for (int64_t o = 0; o < out; o++) {
          bias[o] = (double)nd->attrs.beta * c[nc == 1 ? 0 : o];
          cn->bias_mag[o] = fabs(bias[o]);
        }
        cn->bias = bias;
        cn->nbias = out;
      }
    }
  }
  return true;
}

static int64_t out_channels(const nnd_cnode *cn) {
  if (!cn->weight) return 0;
  return cn->op == NND_OP_CONV_TRANSPOSE ? cn->wdims[1] * cn->attrs.conv.groups : cn->wdims[0];
}

static int64_t per_out_elems(const nnd_cnode *cn) {
  int64_t oc = out_channels(cn);
  return oc > 0 ? cn->wnumel / oc : 0;
}

/* Weight element index of output channel o, k-th element within it. */
static int64_t widx(const nnd_cnode *cn, int64_t o, int64_t k) {
  if (cn->op != NND_OP_CONV_TRANSPOSE) return o * per_out_elems(cn) + k;
  /* [I, O/g, k...]: output channel o = group * (O/g) + oo */
  int64_t g = cn->attrs.conv.groups > 0 ? cn->attrs.conv.groups : 1;
  int64_t opg = cn->wdims[1], ipg = cn->wdims[0] / g;
  int64_t ks = cn->wnumel / (cn->wdims[0] * cn->wdims[1]);
  int64_t grp = o / opg, oo = o % opg;
  int64_t i = k / ks, s = k % ks;
  return ((grp * ipg + i) * opg + oo) * ks + s;
}

static bool ensure_bias(builder *b, nnd_cnode *cn) {
  if (cn->bias) return true;
  int64_t oc = out_channels(cn);
  cn->bias = nnd_arena_alloc(b->c->arena, (size_t)(oc > 0 ? oc : 1), sizeof(double));
  cn->nbias = oc;
  return cn->bias != NULL;
}

/* Per-channel vector of a constant that broadcasts over the output y
 * (shape `ys`, channel axis `cax`): scalar, or ones everywhere but the
 * channel axis. Fills vec[0..C) and returns true. */
static bool per_channel(builder *b, const nnd_value *k, const nnd_shape *ys, int cax, int64_t C,
                        double *vec) {
  if (!k || ys->rank < 1) return false;
  int64_t n = nnd_value_data_count(k);
  if (n != 1 && n != C) return false;
  if (k->shape.rank > ys->rank) return false;
  if (n == C && C != 1) {
    int off = ys->rank - k->shape.rank;
    for (int d = 0; d < k->shape.rank; d++) {
      int64_t s = k->shape.dims[d].size;
      if (d + off == cax) {
        if (s != C) return false;
      } else if (s != 1) {
        return false;
      }
    }
  }
  for (int64_t c = 0; c < C; c++) {
    double x;
    if (!nnd_value_read_f64(k, n == 1 ? 0 : c, &x)) return false;
    vec[c] = x;
  }
  (void)b;
  return true;
}

static int channel_axis(const builder *b, int32_t vid) {
  const nnd_value *v = &b->g->values[vid];
  if (v->shape.rank <= 2) return v->shape.rank - 1;
  return b->vlayout[vid] == NND_LAYOUT_NHWC ? v->shape.rank - 1 : 1;
}

/* Folds BatchNorm node bn (reading cur) into cn's weights and bias, in
 * double precision. */
static bool fold_bn(builder *b, nnd_cnode *cn, const nnd_node *bn) {
  int64_t C = out_channels(cn);
  if (C <= 0 || bn->n_inputs < 5) return false;
  const nnd_value *gv = const_input(b, bn, 1), *bv = const_input(b, bn, 2),
                  *mv = const_input(b, bn, 3), *vv = const_input(b, bn, 4);
  if (!gv || !bv || !mv || !vv) return false;
  if (nnd_value_data_count(gv) != C || nnd_value_data_count(bv) != C ||
      nnd_value_data_count(mv) != C || nnd_value_data_count(vv) != C)
    return false;
  if (!ensure_bias(b, cn)) return false;
  int64_t per = per_out_elems(cn);
  for (int64_t c = 0; c < C; c++) {
    double gamma, beta, mean, var;
    nnd_value_read_f64(gv, c, &gamma);
    nnd_value_read_f64(bv, c, &beta);
    nnd_value_read_f64(mv, c, &mean);
    nnd_value_read_f64(vv, c, &var);
    double s = gamma / sqrt(var + (double)bn->attrs.epsilon);
    for (int64_t k = 0; k < per; k++)
      cn->weight[widx(cn, c, k)] *= s;
    cn->bias_mag[c] = fabs(cn->bias[c] * s) + fabs(mean * s) + fabs(beta);
    cn->bias[c] = (cn->bias[c] - mean) * s + beta;
  }
  return true;
}

static bool fold_scale(builder *b, nnd_cnode *cn, const double *m) {
  int64_t C = out_channels(cn), per = per_out_elems(cn);
  for (int64_t c = 0; c < C; c++) {
    for (int64_t k = 0; k < per; k++)
      cn->weight[widx(cn, c, k)] *= m[c];
    if (cn->bias) cn->bias[c] *= m[c];
    cn->bias_mag[c] *= fabs(m[c]);
  }
  (void)b;
  return true;
}

static bool fold_add(builder *b, nnd_cnode *cn, const double *a, double sign) {
  if (!ensure_bias(b, cn)) return false;
  int64_t C = out_channels(cn);
  for (int64_t c = 0; c < C; c++) {
    cn->bias_mag[c] += fabs(a[c]);
    cn->bias[c] += sign * a[c];
  }
  return true;
}

/* ------------------------------------------------------------- nodes */

static bool add_member(nnd_cnode *cn, int32_t node, nnd_crole role) {
  if (cn->n_members >= MAX_MEMBERS) return false;
  cn->members[cn->n_members++] = (nnd_cmember){node, role};
  return true;
}

static int64_t dim(const nnd_value *v, int d) {
  return d < v->shape.rank ? v->shape.dims[d].size : -1;
}

/* Flatten(axis 1), Reshape to [N, rest], Squeeze of the 1x1 spatial dims. */
static bool is_flatten_like(const builder *b, const nnd_node *nd) {
  if (nd->n_inputs < 1 || nd->inputs[0] < 0 || nd->outputs[0] < 0) return false;
  const nnd_value *x = &b->g->values[nd->inputs[0]], *y = &b->g->values[nd->outputs[0]];
  if (nd->op == NND_OP_FLATTEN) return nd->attrs.axis == 1;
  if (nd->op != NND_OP_RESHAPE && nd->op != NND_OP_SQUEEZE) return false;
  if (y->shape.rank != 2 || x->shape.rank < 2) return false;
  int64_t rest = 1;
  for (int d = 1; d < x->shape.rank; d++) {
    if (dim(x, d) < 0) return false;
    rest *= dim(x, d);
  }
  return dim(y, 1) == rest;
}

static bool spatial_axes(const builder *b, const nnd_node *nd, int32_t x) {
  const nnd_value *v = &b->g->values[x];
  if (v->shape.rank != 4 || !nd->attrs.has_axes || nd->attrs.n_axes != 2) return false;
  bool nhwc = b->vlayout[x] == NND_LAYOUT_NHWC;
  int want0 = nhwc ? 1 : 2, want1 = nhwc ? 2 : 3;
  int64_t a0 = nd->attrs.axes[0] < 0 ? nd->attrs.axes[0] + 4 : nd->attrs.axes[0];
  int64_t a1 = nd->attrs.axes[1] < 0 ? nd->attrs.axes[1] + 4 : nd->attrs.axes[1];
  return (a0 == want0 && a1 == want1) || (a0 == want1 && a1 == want0);
}

static nnd_cnode *new_cnode(builder *b, const nnd_node *head, int32_t head_id) {
  nnd_cgraph *c = b->c;
  nnd_cnode *cn = &c->nodes[c->n_nodes];
  memset(cn, 0, sizeof *cn);
  cn->members = nnd_arena_alloc(c->arena, MAX_MEMBERS, sizeof *cn->members);
  cn->inputs =
      nnd_arena_alloc(c->arena, (size_t)(head->n_inputs ? head->n_inputs : 1), sizeof(int32_t));
  cn->outputs =
      nnd_arena_alloc(c->arena, (size_t)(head->n_outputs ? head->n_outputs : 1), sizeof(int32_t));
  if (!cn->members || !cn->inputs || !cn->outputs) return NULL;
  cn->op = head->op;
  cn->attrs = head->attrs;
  cn->act = act_of_fused(&head->act);
  add_member(cn, head_id, NND_CROLE_HEAD);
  c->node_map[head_id] = c->n_nodes;
  c->n_nodes++;
  return cn;
}

static int32_t new_cvalue(builder *b, int32_t orig, int32_t producer, int32_t slot) {
  nnd_cgraph *c = b->c;
  int32_t id = c->n_values++;
  nnd_cvalue *cv = &c->values[id];
  memset(cv, 0, sizeof *cv);
  cv->value = orig;
  cv->producer = producer;
  cv->slot = slot;
  cv->layout = b->vlayout[orig];
  c->value_map[orig] = id;
  return id;
}

/* Follows the single-consumer chain after a head and absorbs what can be
 * folded or fused. Returns the original value the canonical node ends in. */
static int32_t absorb_chain(builder *b, nnd_cnode *cn, int32_t cid, int32_t cur) {
  const nnd_graph *g = b->g;
  const bool linear = cn->weight && (cn->op == NND_OP_CONV || cn->op == NND_OP_CONV_TRANSPOSE ||
                                     cn->op == NND_OP_GEMM);
  int64_t C = out_channels(cn);
  double *vec = C > 0 ? calloc((size_t)C, sizeof *vec) : NULL;
  for (;;) {
    int32_t c = sole_consumer(b, cur);
    if (c >= 0 && b->absorbed[c]) break;
    if (c < 0) {
      /* x feeding only f(x) and x * f(x): a gated activation */
      if (cn->act.kind != NND_ACT_NONE || b->n_dcons[cur] != 2 || g->values[cur].is_output) break;
      int32_t f = -1, m = -1;
      for (int32_t i = 0; i < g->n_nodes; i++) {
        const nnd_node *nd = &g->nodes[i];
        bool reads = false;
        for (int k = 0; k < nd->n_inputs; k++)
          reads |= nd->inputs[k] == cur;
        if (!reads) continue;
        if ((nd->op == NND_OP_SIGMOID || nd->op == NND_OP_HARD_SIGMOID) && nd->inputs[0] == cur)
          f = i;
        else if (nd->op == NND_OP_MUL)
          m = i;
      }
      if (f < 0 || m < 0 || b->absorbed[f] || b->absorbed[m]) break;
      const nnd_node *fn = &g->nodes[f], *mn = &g->nodes[m];
      if (fn->act.kind != NND_ACT_NONE || mn->act.kind != NND_ACT_NONE || mn->n_inputs != 2 ||
          sole_consumer(b, fn->outputs[0]) != m)
        break;
      if (!((mn->inputs[0] == cur && mn->inputs[1] == fn->outputs[0]) ||
            (mn->inputs[1] == cur && mn->inputs[0] == fn->outputs[0])))
        break;
      nnd_cact a;
      act_of_op(fn, &a);
      a.gated = true;
      if (!add_member(cn, f, NND_CROLE_ACT) || !add_member(cn, m, NND_CROLE_ACT)) break;
      cn->act = a;
      b->absorbed[f] = b->absorbed[m] = true;
      b->c->node_map[f] = b->c->node_map[m] = cid;
      b->c->n_fused_act++;
      cur = mn->outputs[0];
      continue;
    }
    const nnd_node *nd = &g->nodes[c];
    if (nd->n_outputs < 1 || nd->outputs[0] < 0 || !b->vdata[nd->outputs[0]]) break;
    if (n_data_inputs(b, nd) != 1) break;
    nnd_crole role;
    nnd_cact a;
    if (linear && cn->act.kind == NND_ACT_NONE && nd->op == NND_OP_BATCH_NORM &&
        nd->inputs[0] == cur && fold_bn(b, cn, nd)) {
      role = NND_CROLE_BN;
      b->c->n_folded_bn++;
    } else if (linear && cn->act.kind == NND_ACT_NONE && vec && nd->op == NND_OP_MUL &&
               nd->n_inputs == 2 &&
               per_channel(b, const_input(b, nd, nd->inputs[0] == cur ? 1 : 0),
                           &g->values[cur].shape, channel_axis(b, cur), C, vec) &&
               fold_scale(b, cn, vec)) {
      role = NND_CROLE_SCALE;
    } else if (linear && cn->act.kind == NND_ACT_NONE && vec &&
               (nd->op == NND_OP_ADD || (nd->op == NND_OP_SUB && nd->inputs[0] == cur)) &&
               nd->n_inputs == 2 &&
               per_channel(b, const_input(b, nd, nd->inputs[0] == cur ? 1 : 0),
                           &g->values[cur].shape, channel_axis(b, cur), C, vec) &&
               fold_add(b, cn, vec, nd->op == NND_OP_SUB ? -1.0 : 1.0)) {
      role = NND_CROLE_BIAS;
    } else if (cn->act.kind == NND_ACT_NONE && nd->inputs[0] == cur && act_of_op(nd, &a)) {
      cn->act = a;
      role = NND_CROLE_ACT;
      b->c->n_fused_act++;
    } else {
      break;
    }
    if (!add_member(cn, c, role)) break;
    if (nd->act.kind != NND_ACT_NONE && cn->act.kind == NND_ACT_NONE)
      cn->act = act_of_fused(&nd->act);
    b->absorbed[c] = true;
    b->c->node_map[c] = cid;
    cur = nd->outputs[0];
  }
  free(vec);
  return cur;
}

static nnd_status build_node(builder *b, int32_t id) {
  const nnd_graph *g = b->g;
  nnd_cgraph *c = b->c;
  const nnd_node *nd = &g->nodes[id];
  int32_t cid = c->n_nodes;
  nnd_cnode *cn = new_cnode(b, nd, id);
  if (!cn)
    return nnd_error_set(b->err, NND_ERR_NOMEM, "out of memory canonicalising '%s'", nd->name);
  b->absorbed[id] = true;
  int32_t x0 = nd->n_inputs > 0 ? nd->inputs[0] : -1;
  cn->in_layout = x0 >= 0 ? b->vlayout[x0] : NND_LAYOUT_NONE;
  nnd_cact a;
  if (act_of_op(nd, &a) && cn->act.kind == NND_ACT_NONE) cn->act = a;

  /* Canonical op and parameters. */
  switch (nd->op) {
  case NND_OP_CONV:
  case NND_OP_CONV_TRANSPOSE: {
    nnd_status st = conv_params(b, cn, nd);
    if (st != NND_OK) return st;
    if (nd->op == NND_OP_CONV && x0 >= 0) {
      const nnd_value *xv = &g->values[x0];
      int32_t p = xv->producer;
      if (p >= 0 && b->pad_into[p] == id) {
        const nnd_node *pn = &g->nodes[p];
        bool nhwc = b->vlayout[pn->inputs[0]] == NND_LAYOUT_NHWC;
        for (int s = 0; s < 2; s++) {
          int d = nhwc ? 1 + s : 2 + s;
          cn->attrs.conv.pads_begin[s] += pn->attrs.pads_begin[d];
          cn->attrs.conv.pads_end[s] += pn->attrs.pads_end[d];
        }
        add_member(cn, p, NND_CROLE_PAD);
        c->node_map[p] = cid;
        c->n_absorbed_pads++;
      }
    }
    break;
  }
  case NND_OP_GEMM:
  case NND_OP_MATMUL:
    if (dense_params(b, cn, nd)) cn->op = NND_OP_GEMM;
    break;
  case NND_OP_RESHAPE:
  case NND_OP_SQUEEZE:
  case NND_OP_FLATTEN:
    if (is_flatten_like(b, nd)) cn->op = NND_OP_FLATTEN;
    break;
  case NND_OP_REDUCE_MEAN:
  case NND_OP_REDUCE_MAX:
    if (x0 >= 0 && nd->attrs.keepdims && spatial_axes(b, nd, x0))
      cn->op = nd->op == NND_OP_REDUCE_MEAN ? NND_OP_GLOBAL_AVG_POOL : NND_OP_GLOBAL_MAX_POOL;
    break;
  case NND_OP_BATCH_NORM: {
    /* standalone: scale and shift per channel */
    const nnd_value *gv = const_input(b, nd, 1), *bv = const_input(b, nd, 2),
                    *mv = const_input(b, nd, 3), *vv = const_input(b, nd, 4);
    int64_t C = gv ? nnd_value_data_count(gv) : 0;
    if (C > 0 && bv && mv && vv && nnd_value_data_count(bv) == C && nnd_value_data_count(mv) == C &&
        nnd_value_data_count(vv) == C) {
      cn->weight = nnd_arena_alloc(c->arena, (size_t)C, sizeof(double));
      cn->bias = nnd_arena_alloc(c->arena, (size_t)C, sizeof(double));
      cn->bias_mag = nnd_arena_alloc(c->arena, (size_t)C, sizeof(double));
      if (!cn->weight || !cn->bias || !cn->bias_mag)
        return nnd_error_set(b->err, NND_ERR_NOMEM, "out of memory");
      for (int64_t k = 0; k < C; k++) {
        double gamma, beta, mean, var;
        nnd_value_read_f64(gv, k, &gamma);
        nnd_value_read_f64(bv, k, &beta);
        nnd_value_read_f64(mv, k, &mean);
        nnd_value_read_f64(vv, k, &var);
        double s = gamma / sqrt(var + (double)nd->attrs.epsilon);
        cn->weight[k] = s;
        cn->bias[k] = beta - mean * s;
        cn->bias_mag[k] = fabs(beta) + fabs(mean * s);
      }
      cn->wrank = 1;
      cn->wdims[0] = C;
      cn->wnumel = C;
      cn->nbias = C;
    }
    break;
  }
  case NND_OP_CONCAT: {
    /* axis in NCHW terms when the inputs are channels-last */
    int64_t ax = nd->attrs.axis;
    const nnd_value *xv = x0 >= 0 ? &g->values[x0] : NULL;
    if (xv && ax < 0) ax += xv->shape.rank;
    if (xv && xv->shape.rank == 4 && b->vlayout[x0] == NND_LAYOUT_NHWC) {
      static const int64_t to_nchw[4] = {0, 2, 3, 1};
      if (ax >= 0 && ax < 4) ax = to_nchw[ax];
    }
    cn->attrs.axis = ax;
    break;
  }
  default: break;
  }

  /* Data inputs, and the constant operand of elementwise ops. */
  for (int k = 0; k < nd->n_inputs; k++) {
    int32_t v = nd->inputs[k];
    if (v < 0) continue;
    if (b->vdata[v]) {
      /* (a Pad the conv absorbed maps to the Pad's input) */
      int32_t cv = c->value_map[v];
      if (cv < 0) continue; /* should not happen: inputs come first in topo order */
      cn->inputs[cn->n_inputs++] = cv;
    } else if (!cn->weight && value_is_const(b, v) && g->values[v].data &&
               is_float(g->values[v].dtype) && !cn->cdata &&
               (nnd_op_input_role(nd->op, k) == NND_PROLE_CONSTANT ||
                nnd_op_input_role(nd->op, k) == NND_PROLE_SLOPE)) {
      cn->cdata = read_const(c, &g->values[v], &cn->cnumel);
      cn->cinput = k;
    }
  }

  /* Multi-output nodes (Split) take no chain. */
  if (nd->n_outputs == 1 && nd->outputs[0] >= 0) {
    int32_t end = absorb_chain(b, cn, cid, nd->outputs[0]);
    cn->outputs[cn->n_outputs++] = new_cvalue(b, end, cid, 0);
  } else {
    for (int k = 0; k < nd->n_outputs; k++) {
      int32_t o = nd->outputs[k];
      if (o < 0 || !b->vdata[o]) continue;
      cn->outputs[cn->n_outputs++] = new_cvalue(b, o, cid, k);
    }
  }
  return NND_OK;
}

static nnd_status finish(builder *b) {
  nnd_cgraph *c = b->c;
  const nnd_graph *g = b->g;
  int32_t *count = calloc_n((size_t)c->n_values, sizeof *count);
  if (!count) return nnd_error_set(b->err, NND_ERR_NOMEM, "out of memory");
  for (int32_t i = 0; i < c->n_nodes; i++)
    for (int k = 0; k < c->nodes[i].n_inputs; k++) {
      int32_t v = c->nodes[i].inputs[k];
      bool dup = false;
      for (int j = 0; j < k; j++)
        dup |= c->nodes[i].inputs[j] == v;
      if (!dup) count[v]++;
    }
  for (int32_t v = 0; v < c->n_values; v++) {
    c->values[v].consumers =
        nnd_arena_alloc(c->arena, (size_t)(count[v] ? count[v] : 1), sizeof(int32_t));
    if (!c->values[v].consumers) {
      free(count);
      return nnd_error_set(b->err, NND_ERR_NOMEM, "out of memory");
    }
  }
  free(count);
  for (int32_t i = 0; i < c->n_nodes; i++)
    for (int k = 0; k < c->nodes[i].n_inputs; k++) {
      nnd_cvalue *cv = &c->values[c->nodes[i].inputs[k]];
      bool dup = false;
      for (int j = 0; j < cv->n_consumers; j++)
        dup |= cv->consumers[j] == i;
      if (!dup) cv->consumers[cv->n_consumers++] = i;
    }
  c->outputs =
      nnd_arena_alloc(c->arena, (size_t)(g->n_outputs ? g->n_outputs : 1), sizeof(int32_t));
  if (!c->outputs) return nnd_error_set(b->err, NND_ERR_NOMEM, "out of memory");
  for (int i = 0; i < g->n_outputs; i++) {
    int32_t cv = c->value_map[g->outputs[i]];
    c->outputs[c->n_outputs++] = cv;
    if (cv >= 0) c->values[cv].is_output = true;
  }
  return NND_OK;
}

nnd_status nnd_canon_build(const nnd_graph *g, nnd_cgraph **out, nnd_error *err) {
  *out = NULL;
  nnd_cgraph *c = calloc(1, sizeof *c);
  builder b = {.g = g, .c = c, .err = err};
  size_t nv = (size_t)(g->n_values ? g->n_values : 1), nn = (size_t)(g->n_nodes ? g->n_nodes : 1);
  nnd_status st = NND_OK;
  if (!c || !(c->arena = nnd_arena_create())) {
    st = nnd_error_set(err, NND_ERR_NOMEM, "out of memory canonicalising the graph");
    goto fail;
  }
  c->graph = g;
  c->nodes = nnd_arena_alloc(c->arena, nn, sizeof *c->nodes);
  c->values = nnd_arena_alloc(c->arena, nv, sizeof *c->values);
  c->value_map = nnd_arena_alloc(c->arena, nv, sizeof *c->value_map);
  c->node_map = nnd_arena_alloc(c->arena, nn, sizeof *c->node_map);
  c->inputs = nnd_arena_alloc(c->arena, (size_t)(g->n_inputs ? g->n_inputs : 1), sizeof *c->inputs);
  b.order = calloc_n(nn, sizeof *b.order);
  b.vconst = calloc_n(nv, sizeof *b.vconst);
  b.vdata = calloc_n(nv, sizeof *b.vdata);
  b.vlayout = calloc_n(nv, sizeof *b.vlayout);
  b.n_dcons = calloc_n(nv, sizeof *b.n_dcons);
  b.dcons = calloc_n(nv, sizeof *b.dcons);
  b.absorbed = calloc_n(nn, sizeof *b.absorbed);
  b.pad_into = calloc_n(nn, sizeof *b.pad_into);
  if (!c->nodes || !c->values || !c->value_map || !c->node_map || !c->inputs || !b.order ||
      !b.vconst || !b.vdata || !b.vlayout || !b.n_dcons || !b.dcons || !b.absorbed || !b.pad_into) {
    st = nnd_error_set(err, NND_ERR_NOMEM, "out of memory canonicalising the graph");
    goto fail;
  }
  for (int32_t v = 0; v < g->n_values; v++)
    c->value_map[v] = -1;
  for (int32_t i = 0; i < g->n_nodes; i++)
    c->node_map[i] = -1, b.pad_into[i] = -1;
  if ((st = analyse(&b)) != NND_OK) goto fail;

  for (int i = 0; i < g->n_inputs; i++) {
    int32_t v = g->inputs[i];
    if (!b.vdata[v]) continue;
    c->inputs[c->n_inputs++] = new_cvalue(&b, v, -1, i);
  }
  for (int32_t i = 0; i < g->n_nodes; i++) {
    int32_t id = b.order[i];
    const nnd_node *nd = &g->nodes[id];
    if (b.absorbed[id]) continue;
    bool data_node = false;
    for (int k = 0; k < nd->n_outputs; k++)
      if (nd->outputs[k] >= 0 && b.vdata[nd->outputs[k]]) data_node = true;
    if (!data_node) continue;
    if (is_alias_node(&b, nd) || b.pad_into[id] >= 0) {
      /* seen through: the output is the input's canonical value */
      int32_t in = nd->inputs[0];
      c->value_map[nd->outputs[0]] = c->value_map[in];
      if (b.pad_into[id] < 0) {
        b.absorbed[id] = true;
        c->n_dropped++;
        if (c->value_map[in] >= 0) c->node_map[id] = -1;
      }
      continue;
    }
    if ((st = build_node(&b, id)) != NND_OK) goto fail;
  }
  if ((st = finish(&b)) != NND_OK) goto fail;
  free(b.order), free(b.vconst), free(b.vdata), free(b.vlayout), free(b.n_dcons), free(b.dcons);
  free(b.absorbed), free(b.pad_into);
  *out = c;
  return NND_OK;
fail:
  free(b.order), free(b.vconst), free(b.vdata), free(b.vlayout), free(b.n_dcons), free(b.dcons);
  free(b.absorbed), free(b.pad_into);
  nnd_canon_destroy(c);
  return st;
}

void nnd_canon_destroy(nnd_cgraph *c) {
  if (!c) return;
  nnd_arena_destroy(c->arena);
  free(c);
}

const char *nnd_cnode_name(const nnd_cgraph *c, int32_t cnode) {
  if (!c || cnode < 0 || cnode >= c->n_nodes) return "?";
  return c->graph->nodes[c->nodes[cnode].members[0].node].name;
}

const char *nnd_cnode_op_type(const nnd_cgraph *c, int32_t cnode) {
  if (!c || cnode < 0 || cnode >= c->n_nodes) return "?";
  const nnd_node *nd = &c->graph->nodes[c->nodes[cnode].members[0].node];
  return nd->prov.op_type && *nd->prov.op_type ? nd->prov.op_type : nnd_op_name(nd->op);
}
