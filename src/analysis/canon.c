/* Canonicalisation for analysis: one normal form for two exports of the
 * same network (see include/nndiff/align.h for the rules). The graph
 * rewrites are passes (passes.h): the file's graph is cloned and brought to
 * the analysis normal form (constants folded, BatchNorm and per-channel
 * scales folded into weights in double precision, activations fused, zero
 * Pads absorbed, flatten spellings and layouts made one). What is left here
 * is grouping that form into canonical nodes named by the file's nodes (the
 * pass record says which file nodes each form node absorbed), the canonical
 * ops and their parameters as doubles, and the gated activations x * f(x)
 * the IR's fused activation cannot spell. */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "analysis/localize_internal.h"
#include "nndiff/align.h"
#include "nndiff/ir_edit.h"
#include "nndiff/passes.h"
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
  const nnd_graph *g; /* the analysis form */
  const nnd_pass_record *rec;
  int32_t *merge_head, *merge_next; /* per file node: merges into it, linked */
  nnd_cgraph *c;
  nnd_error *err;
  int32_t *order; /* topological order of the original nodes */
  bool *vconst;   /* per original value: constant or computed from constants only */
  bool *vdata;    /* per original value: float data flowing from the inputs */
  nnd_layout *vlayout;
  int32_t *n_dcons; /* data consumers per original value */
  int32_t *dcons;   /* one data consumer (the last seen) */
  bool *absorbed;   /* form node already part of a canonical node */
} builder;

/* The file's node a form node came from. */
static int32_t file_node(const builder *b, int32_t form_node) {
  return form_node >= 0 && form_node < b->rec->n_nodes ? b->rec->origin[form_node] : -1;
}

static bool is_float(nnd_dtype d) {
  return d == NND_DTYPE_F32 || d == NND_DTYPE_F64 || d == NND_DTYPE_F16 || d == NND_DTYPE_BF16;
}

static void *calloc_n(size_t n, size_t size) { return calloc(n ? n : 1, size); }

/* Reads constant value v as doubles (dequantized when quantized). */
static double *read_const(nnd_cgraph *c, const nnd_value *v, int64_t *n_out) {
  int64_t n = nnd_value_data_count(v);
  if (n <= 0) return NULL;
  if (v->dtype == NND_DTYPE_F64 && !v->quant && (uintptr_t)v->data % _Alignof(double) == 0) {
    /* weights the passes folded live in the form, which c owns: borrowed
     * (read-only), not copied a second time */
    *n_out = n;
    return (double *)(uintptr_t)v->data;
  }
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

/* A Transpose the layout pass found converting NCHW <-> NHWC: it records
 * the output's layout only for those. */
static bool is_layout_transpose(const builder *b, const nnd_node *nd) {
  return nd->op == NND_OP_TRANSPOSE && nd->n_inputs >= 1 && nd->inputs[0] >= 0 &&
         nd->n_outputs == 1 && b->g->values[nd->outputs[0]].shape.rank == 4 &&
         b->g->values[nd->outputs[0]].layout != NND_LAYOUT_NONE &&
         b->vlayout[nd->inputs[0]] != NND_LAYOUT_NONE;
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
  case NND_OP_TRANSPOSE: return is_layout_transpose(b, nd);
  default: return false;
  }
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
      /* (the layout pass recorded layouts; this covers what it left) */
      if (b->vdata[o] && b->vlayout[o] == NND_LAYOUT_NONE && ov->shape.rank == 4 &&
          nd->op != NND_OP_TRANSPOSE)
        b->vlayout[o] =
            nd->n_inputs > 0 && nd->inputs[0] >= 0 && b->vlayout[nd->inputs[0]] != NND_LAYOUT_NONE
                ? b->vlayout[nd->inputs[0]]
                : NND_LAYOUT_NCHW;
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

/* The bias magnitudes the folding passes recorded for form node `id`
 * (float32 folding rounds relative to the terms, not to their sum). */
static void folded_bias_terms(const builder *b, nnd_cnode *cn, int32_t id, int64_t n) {
  int32_t f = file_node(b, id);
  int32_t tv = f >= 0 && f < b->rec->n_file_nodes ? b->rec->bias_terms[f] : -1;
  if (tv < 0 || !cn->bias_mag || nnd_value_data_count(&b->g->values[tv]) != n) return;
  for (int64_t k = 0; k < n; k++)
    nnd_value_read_f64(&b->g->values[tv], k, &cn->bias_mag[k]);
}

/* Whether the file's head stated its weight in float32 (the form may hold
 * it folded in float64). */
static bool file_weight_f32(const builder *b, int32_t id) {
  int32_t f = file_node(b, id);
  const nnd_graph *fg = b->c->graph;
  if (f < 0 || fg->nodes[f].n_inputs < 2 || fg->nodes[f].inputs[1] < 0) return false;
  return fg->values[fg->nodes[f].inputs[1]].dtype == NND_DTYPE_F32;
}

/* Conv weights into OIHW doubles. */
static nnd_status conv_params(builder *b, nnd_cnode *cn, const nnd_node *nd, int32_t id) {
  const nnd_value *w = const_input(b, nd, 1);
  if (!w) return NND_OK; /* runtime weights: no parameters to compare */
  int64_t n = 0;
  double *raw = read_const(b->c, w, &n);
  if (!raw)
    return nnd_error_set(b->err, NND_ERR_NOMEM, "out of memory reading weights of '%s'", nd->name);
  const nnd_conv_attrs *a = &nd->attrs.conv;
  cn->weight_from_file_f32 = file_weight_f32(b, id);
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
  if (cn->bias) folded_bias_terms(b, cn, id, cn->nbias);
  return NND_OK;
}

/* Dense weights [out, in] from Gemm (alpha, transB, beta * C) or MatMul. */
static bool dense_params(builder *b, nnd_cnode *cn, const nnd_node *nd, int32_t id) {
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
  cn->weight_from_file_f32 = file_weight_f32(b, id);
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
        folded_bias_terms(b, cn, id, out);
      }
    }
  }
  return true;
}

/* ------------------------------------------------------------- nodes */

static bool add_member(nnd_cnode *cn, int32_t node, nnd_crole role) {
  if (cn->n_members >= MAX_MEMBERS) return false;
  cn->members[cn->n_members++] = (nnd_cmember){node, role};
  return true;
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
  int32_t f = file_node(b, head_id);
  add_member(cn, f, NND_CROLE_HEAD);
  if (f >= 0) c->node_map[f] = c->n_nodes;
  /* the file nodes the passes merged into it (and into those) */
  for (int m = 0; m < cn->n_members; m++) {
    int32_t into = cn->members[m].node;
    for (int32_t k = into >= 0 ? b->merge_head[into] : -1; k >= 0; k = b->merge_next[k]) {
      const nnd_pass_merge *mg = &b->rec->merges[k];
      nnd_crole role = mg->role == NND_MERGE_BATCHNORM ? NND_CROLE_BN
                       : mg->role == NND_MERGE_SCALE   ? NND_CROLE_SCALE
                       : mg->role == NND_MERGE_BIAS    ? NND_CROLE_BIAS
                       : mg->role == NND_MERGE_PAD     ? NND_CROLE_PAD
                                                       : NND_CROLE_ACT;
      if (!add_member(cn, mg->from, role)) break;
      c->node_map[mg->from] = c->n_nodes;
      if (role == NND_CROLE_BN) c->n_folded_bn++;
      if (role == NND_CROLE_ACT) c->n_fused_act++;
      if (role == NND_CROLE_PAD) c->n_absorbed_pads++;
    }
  }
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

/* x feeding only f(x) and x * f(x) after a head without an activation: a
 * gated activation (SiLU, HardSwish as torch spells them), which the IR's
 * fused activation cannot hold with every f's parameters, joins the head.
 * Returns the form value the canonical node ends in. */
static int32_t absorb_gated(builder *b, nnd_cnode *cn, int32_t cid, int32_t cur) {
  const nnd_graph *g = b->g;
  if (cn->act.kind != NND_ACT_NONE || b->n_dcons[cur] != 2 || g->values[cur].is_output) return cur;
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
  if (f < 0 || m < 0 || b->absorbed[f] || b->absorbed[m]) return cur;
  const nnd_node *fn = &g->nodes[f], *mn = &g->nodes[m];
  if (fn->act.kind != NND_ACT_NONE || mn->act.kind != NND_ACT_NONE || mn->n_inputs != 2 ||
      sole_consumer(b, fn->outputs[0]) != m)
    return cur;
  if (!((mn->inputs[0] == cur && mn->inputs[1] == fn->outputs[0]) ||
        (mn->inputs[1] == cur && mn->inputs[0] == fn->outputs[0])))
    return cur;
  nnd_cact a;
  act_of_op(fn, &a);
  a.gated = true;
  int32_t ff = file_node(b, f), fm = file_node(b, m);
  if (!add_member(cn, ff, NND_CROLE_ACT) || !add_member(cn, fm, NND_CROLE_ACT)) return cur;
  cn->act = a;
  b->absorbed[f] = b->absorbed[m] = true;
  if (ff >= 0) b->c->node_map[ff] = cid;
  if (fm >= 0) b->c->node_map[fm] = cid;
  b->c->n_fused_act++;
  return mn->outputs[0];
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
    nnd_status st = conv_params(b, cn, nd, id);
    if (st != NND_OK) return st;
    break;
  }
  case NND_OP_GEMM:
  case NND_OP_MATMUL:
    if (dense_params(b, cn, nd, id)) cn->op = NND_OP_GEMM;
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
    int32_t end = absorb_gated(b, cn, cid, nd->outputs[0]);
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

/* Builds the canonical graph of `form` (the analysis form of c->graph, whose
 * pass record is rec) into c. */
static nnd_status build(nnd_cgraph *c, const nnd_graph *g, const nnd_pass_record *rec,
                        nnd_error *err) {
  const nnd_graph *fg = c->graph;
  builder b = {.g = g, .rec = rec, .c = c, .err = err};
  size_t nv = (size_t)(g->n_values ? g->n_values : 1), nn = (size_t)(g->n_nodes ? g->n_nodes : 1);
  size_t nf = (size_t)(fg->n_nodes ? fg->n_nodes : 1);
  nnd_status st = NND_OK;
  c->nodes = nnd_arena_alloc(c->arena, nn, sizeof *c->nodes);
  c->values = nnd_arena_alloc(c->arena, nv, sizeof *c->values);
  c->value_map = nnd_arena_alloc(c->arena, nv, sizeof *c->value_map);
  c->node_map = nnd_arena_alloc(c->arena, nf, sizeof *c->node_map);
  c->inputs = nnd_arena_alloc(c->arena, (size_t)(g->n_inputs ? g->n_inputs : 1), sizeof *c->inputs);
  b.order = calloc_n(nn, sizeof *b.order);
  b.vconst = calloc_n(nv, sizeof *b.vconst);
  b.vdata = calloc_n(nv, sizeof *b.vdata);
  b.vlayout = calloc_n(nv, sizeof *b.vlayout);
  b.n_dcons = calloc_n(nv, sizeof *b.n_dcons);
  b.dcons = calloc_n(nv, sizeof *b.dcons);
  b.absorbed = calloc_n(nn, sizeof *b.absorbed);
  b.merge_head = calloc_n(nf, sizeof *b.merge_head);
  b.merge_next = calloc_n((size_t)rec->n_merges, sizeof *b.merge_next);
  if (!c->nodes || !c->values || !c->value_map || !c->node_map || !c->inputs || !b.order ||
      !b.vconst || !b.vdata || !b.vlayout || !b.n_dcons || !b.dcons || !b.absorbed ||
      !b.merge_head || !b.merge_next) {
    st = nnd_error_set(err, NND_ERR_NOMEM, "out of memory canonicalising the graph");
    goto done;
  }
  for (int32_t v = 0; v < g->n_values; v++)
    c->value_map[v] = -1;
  for (int32_t i = 0; i < fg->n_nodes; i++)
    c->node_map[i] = -1, b.merge_head[i] = -1;
  /* merges into each file node, in the order the passes made them */
  for (int32_t k = rec->n_merges - 1; k >= 0; k--) {
    int32_t into = rec->merges[k].into;
    if (into < 0 || into >= fg->n_nodes || rec->merges[k].from < 0 ||
        rec->merges[k].from >= fg->n_nodes) {
      b.merge_next[k] = -1;
      continue;
    }
    b.merge_next[k] = b.merge_head[into];
    b.merge_head[into] = k;
  }
  if ((st = analyse(&b)) != NND_OK) goto done;

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
    if (is_alias_node(&b, nd)) {
      /* seen through: the output is the input's canonical value */
      c->value_map[nd->outputs[0]] = c->value_map[nd->inputs[0]];
      b.absorbed[id] = true;
      c->n_dropped++;
      continue;
    }
    if ((st = build_node(&b, id)) != NND_OK) goto done;
  }
  st = finish(&b);
done:
  free(b.order), free(b.vconst), free(b.vdata), free(b.vlayout), free(b.n_dcons), free(b.dcons);
  free(b.absorbed), free(b.merge_head), free(b.merge_next);
  return st;
}

nnd_status nnd_canon_build_traced(const nnd_graph *g, FILE *trace, const char *label,
                                  nnd_cgraph **out, nnd_error *err) {
  *out = NULL;
  nnd_pass_record rec = {0};
  nnd_cgraph *c = calloc(1, sizeof *c);
  nnd_status st = NND_OK;
  if (!c || !(c->arena = nnd_arena_create())) {
    st = nnd_error_set(err, NND_ERR_NOMEM, "out of memory canonicalising the graph");
    goto fail;
  }
  c->graph = g;
  /* the form's node indices start as the file's: the record maps them */
  if ((st = nnd_graph_clone(g, &c->form, err)) != NND_OK) goto fail;
  if ((st = nnd_pass_record_init(&rec, c->form, err)) != NND_OK) goto fail;
  if ((st = nnd_passes_analysis_form(c->form, trace, label, &rec, err)) != NND_OK) goto fail;
  if ((st = build(c, c->form, &rec, err)) != NND_OK) goto fail;
  nnd_pass_record_free(&rec);
  *out = c;
  return NND_OK;
fail:
  nnd_pass_record_free(&rec);
  nnd_canon_destroy(c);
  return st;
}

nnd_status nnd_canon_build(const nnd_graph *g, nnd_cgraph **out, nnd_error *err) {
  return nnd_canon_build_traced(g, NULL, NULL, out, err);
}

void nnd_canon_destroy(nnd_cgraph *c) {
  if (!c) return;
  nnd_arena_destroy(c->arena);
  nnd_graph_destroy(c->form);
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
