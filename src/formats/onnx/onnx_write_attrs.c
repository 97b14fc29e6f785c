/* Canonical attributes -> what an ONNX op states: its attributes with their
 * defaults at the model's opset, and the parameters later opsets moved into
 * inputs (Clip's bounds, Pad's pads, the axes of Squeeze and the
 * reductions). The writer compares the form of a node before and after an
 * edit and writes only the attributes and inputs that differ.
 *
 * Each form records which groups of nnd_attrs fields it states; a changed
 * field outside them cannot be written, and the edit fails naming it
 * rather than being dropped without a word. */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "formats/onnx/onnx_write_internal.h"

/* Groups of nnd_attrs fields, for the check that every change is stated. */
enum {
  G_CONV = 1u << 0,
  G_POOL = 1u << 1,
  G_ALPHA = 1u << 2,
  G_BETA = 1u << 3,
  G_TRANS = 1u << 4,
  G_EPS = 1u << 5,
  G_CLIP = 1u << 6,
  G_LRN = 1u << 7,
  G_AXIS = 1u << 8,
  G_AXES = 1u << 9,
  G_KEEPDIMS = 1u << 10,
  G_PERM = 1u << 11,
  G_PADS = 1u << 12,
  G_PAD_MODE = 1u << 13,
  G_PAD_VALUE = 1u << 14,
  G_SLICE = 1u << 15,
  G_SHAPE = 1u << 16,
  G_ALLOWZERO = 1u << 17,
  G_TO = 1u << 18,
  G_FMOD = 1u << 19,
  G_DROPOUT = 1u << 20,
  G_ACT = 1u << 21
};

static bool same_i64s(const int64_t *a, const int64_t *b, int n) {
  for (int i = 0; i < n; i++)
    if (a[i] != b[i]) return false;
  return true;
}

static bool same_f(float a, float b) { return a == b || (isnan(a) && isnan(b)); }

static bool conv_equal(const nnd_conv_attrs *a, const nnd_conv_attrs *b) {
  int n = a->n_spatial;
  return a->n_spatial == b->n_spatial && same_i64s(a->kernel, b->kernel, n) &&
         same_i64s(a->strides, b->strides, n) && same_i64s(a->dilations, b->dilations, n) &&
         same_i64s(a->pads_begin, b->pads_begin, n) && same_i64s(a->pads_end, b->pads_end, n) &&
         same_i64s(a->output_padding, b->output_padding, n) && a->groups == b->groups &&
         a->auto_pad == b->auto_pad;
}

static bool pool_equal(const nnd_pool_attrs *a, const nnd_pool_attrs *b) {
  int n = a->n_spatial;
  return a->n_spatial == b->n_spatial && same_i64s(a->kernel, b->kernel, n) &&
         same_i64s(a->strides, b->strides, n) && same_i64s(a->dilations, b->dilations, n) &&
         same_i64s(a->pads_begin, b->pads_begin, n) && same_i64s(a->pads_end, b->pads_end, n) &&
         a->ceil_mode == b->ceil_mode && a->count_include_pad == b->count_include_pad &&
         a->auto_pad == b->auto_pad;
}

/* The groups whose fields differ between a and b (act: the activations). */
static unsigned changed_groups(const nnd_attrs *a, const nnd_attrs *b, const nnd_activation *aa,
                               const nnd_activation *ba) {
  unsigned g = 0;
  if (!conv_equal(&a->conv, &b->conv)) g |= G_CONV;
  if (!pool_equal(&a->pool, &b->pool)) g |= G_POOL;
  if (!same_f(a->alpha, b->alpha)) g |= G_ALPHA;
  if (!same_f(a->beta, b->beta)) g |= G_BETA;
  if (a->trans_a != b->trans_a || a->trans_b != b->trans_b) g |= G_TRANS;
  if (!same_f(a->epsilon, b->epsilon)) g |= G_EPS;
  if (!same_f(a->clip_min, b->clip_min) || !same_f(a->clip_max, b->clip_max)) g |= G_CLIP;
  if (!same_f(a->lrn_bias, b->lrn_bias) || a->lrn_size != b->lrn_size) g |= G_LRN;
  if (a->axis != b->axis) g |= G_AXIS;
  if (a->has_axes != b->has_axes || a->n_axes != b->n_axes ||
      !same_i64s(a->axes, b->axes, a->n_axes < NND_MAX_RANK ? a->n_axes : NND_MAX_RANK))
    g |= G_AXES;
  if (a->keepdims != b->keepdims) g |= G_KEEPDIMS;
  if (a->n_perm != b->n_perm || !same_i64s(a->perm, b->perm, a->n_perm)) g |= G_PERM;
  if (a->has_pads != b->has_pads || a->n_pads != b->n_pads ||
      !same_i64s(a->pads_begin, b->pads_begin, a->n_pads) ||
      !same_i64s(a->pads_end, b->pads_end, a->n_pads))
    g |= G_PADS;
  if (a->pad_mode != b->pad_mode) g |= G_PAD_MODE;
  if (!same_f(a->pad_value, b->pad_value)) g |= G_PAD_VALUE;
  if (a->has_slice != b->has_slice ||
      (a->has_slice &&
       (!same_i64s(a->starts, b->starts, a->n_axes) || !same_i64s(a->ends, b->ends, a->n_axes) ||
        !same_i64s(a->steps, b->steps, a->n_axes))))
    g |= G_SLICE;
  if (a->shape_start != b->shape_start || a->shape_end != b->shape_end) g |= G_SHAPE;
  if (a->allowzero != b->allowzero) g |= G_ALLOWZERO;
  if (a->to != b->to) g |= G_TO;
  if (a->fmod != b->fmod) g |= G_FMOD;
  if (!same_f(a->dropout_ratio, b->dropout_ratio)) g |= G_DROPOUT;
  if (aa->kind != ba->kind || !same_f(aa->alpha, ba->alpha) || !same_f(aa->beta, ba->beta))
    g |= G_ACT;
  return g;
}

static const char *group_name(unsigned g) {
  static const char *const names[] = {"convolution attributes",
                                      "pooling attributes",
                                      "alpha",
                                      "beta",
                                      "transA/transB",
                                      "epsilon",
                                      "clip bounds",
                                      "LRN bias/size",
                                      "axis",
                                      "axes",
                                      "keepdims",
                                      "perm",
                                      "pads",
                                      "pad mode",
                                      "pad value",
                                      "slice starts/ends/steps",
                                      "shape start/end",
                                      "allowzero",
                                      "to",
                                      "fmod",
                                      "dropout ratio",
                                      "fused activation"};
  for (unsigned i = 0; i < sizeof names / sizeof names[0]; i++)
    if (g & (1u << i)) return names[i];
  return "attributes";
}

/* ------------------------------------------------------- building forms */

typedef struct builder {
  nnd__ow_op_form *f;
  unsigned covered;
} builder;

static nnd__ow_attr_value *add(builder *b, const char *name, int32_t type, unsigned group) {
  b->covered |= group;
  if (b->f->n_attrs >= NND__OW_MAX_ATTRS) return NULL;
  nnd__ow_attr_value *v = &b->f->attrs[b->f->n_attrs++];
  memset(v, 0, sizeof *v);
  v->name = name;
  v->type = type;
  return v;
}

static void add_int(builder *b, const char *name, int64_t v, bool has_def, int64_t def,
                    unsigned group) {
  nnd__ow_attr_value *a = add(b, name, NND__ONNX_ATTR_INT, group);
  if (!a) return;
  a->i = v;
  a->is_default = has_def && v == def;
}

static void add_float(builder *b, const char *name, float v, float def, unsigned group) {
  nnd__ow_attr_value *a = add(b, name, NND__ONNX_ATTR_FLOAT, group);
  if (!a) return;
  a->f = v;
  a->is_default = v == def;
}

static void add_string(builder *b, const char *name, const char *s, const char *def,
                       unsigned group) {
  nnd__ow_attr_value *a = add(b, name, NND__ONNX_ATTR_STRING, group);
  if (!a) return;
  a->s = s;
  a->is_default = def && strcmp(s, def) == 0;
}

/* INTS; is_default when every value equals def (has_def). */
static void add_ints(builder *b, const char *name, const int64_t *v, int n, bool has_def,
                     int64_t def, unsigned group) {
  nnd__ow_attr_value *a = add(b, name, NND__ONNX_ATTR_INTS, group);
  if (!a) return;
  a->n = n < 2 * NND_MAX_RANK ? n : 2 * NND_MAX_RANK;
  bool all_def = has_def;
  for (int i = 0; i < a->n; i++) {
    a->ints[i] = v[i];
    if (v[i] != def) all_def = false;
  }
  a->is_default = all_def;
}

static void add_floats(builder *b, const char *name, const float *v, int n, unsigned group) {
  nnd__ow_attr_value *a = add(b, name, NND__ONNX_ATTR_FLOATS, group);
  if (!a) return;
  a->n = n < 2 ? n : 2;
  for (int i = 0; i < a->n; i++)
    a->floats[i] = v[i];
  a->is_default = n == 0;
}

static nnd__ow_param_input *add_param(builder *b, int slot, unsigned group) {
  b->covered |= group;
  if (b->f->n_params >= NND__OW_MAX_PARAMS) return NULL;
  nnd__ow_param_input *p = &b->f->params[b->f->n_params++];
  memset(p, 0, sizeof *p);
  p->slot = slot;
  return p;
}

static void add_drop(builder *b, const char *name) {
  if (b->f->n_drops < 4) b->f->drops[b->f->n_drops++] = name;
}

static const char *auto_pad_name(nnd_auto_pad p) {
  switch (p) {
  case NND_AUTO_PAD_SAME_UPPER: return "SAME_UPPER";
  case NND_AUTO_PAD_SAME_LOWER: return "SAME_LOWER";
  case NND_AUTO_PAD_VALID: return "VALID";
  default: return "NOTSET";
  }
}

/* The spatial attributes conv and pooling share. */
static void spatial(builder *b, int n, nnd_auto_pad ap, const int64_t *begin, const int64_t *end,
                    const int64_t *strides, const int64_t *dilations, unsigned group) {
  add_string(b, "auto_pad", auto_pad_name(ap), "NOTSET", group);
  if (ap == NND_AUTO_PAD_EXPLICIT) {
    int64_t pads[2 * NND_MAX_SPATIAL];
    for (int i = 0; i < n; i++) {
      pads[i] = begin[i];
      pads[n + i] = end[i];
    }
    add_ints(b, "pads", pads, 2 * n, true, 0, group);
  } else {
    add_drop(b, "pads");
  }
  add_ints(b, "strides", strides, n, true, 1, group);
  add_ints(b, "dilations", dilations, n, true, 1, group);
}

static const char *act_onnx_name(nnd_act_kind k) {
  switch (k) {
  case NND_ACT_RELU: return "Relu";
  case NND_ACT_SIGMOID: return "Sigmoid";
  case NND_ACT_TANH: return "Tanh";
  case NND_ACT_LEAKY_RELU: return "LeakyRelu";
  case NND_ACT_HARD_SIGMOID: return "HardSigmoid";
  case NND_ACT_CLIP: return "Clip";
  default: return NULL;
  }
}

/* com.microsoft FusedConv / FusedGemm: the activation and its parameters. */
static bool fused_act(builder *b, const nnd_activation *act, char *why, size_t cap) {
  const char *name = act_onnx_name(act->kind);
  if (!name) {
    snprintf(why, cap, "activation %s cannot be fused in ONNX Runtime's fused ops",
             nnd_act_name(act->kind));
    return false;
  }
  add_string(b, "activation", name, NULL, G_ACT);
  float p[2] = {act->alpha, act->beta};
  int n = act->kind == NND_ACT_LEAKY_RELU                                  ? 1
          : act->kind == NND_ACT_CLIP || act->kind == NND_ACT_HARD_SIGMOID ? 2
                                                                           : 0;
  add_floats(b, "activation_params", p, n, G_ACT);
  return true;
}

/* The ONNX op type of a canonical op (the reader's table read backwards). */
static const char *onnx_op_type(nnd_op op) {
  size_t n;
  const nnd__onnx_op_entry *t = nnd__onnx_op_table(&n);
  for (size_t i = 0; i < n; i++)
    if (t[i].op == op && strcmp(t[i].op_type, "Upsample") != 0) return t[i].op_type;
  return NULL;
}

static int unary_or_binary_inputs(nnd_op op) {
  switch (op) {
  case NND_OP_ADD:
  case NND_OP_SUB:
  case NND_OP_MUL:
  case NND_OP_DIV:
  case NND_OP_POW:
  case NND_OP_EQUAL:
  case NND_OP_MOD:
  case NND_OP_PRELU:
  case NND_OP_MATMUL:
  case NND_OP_EXPAND: return 2;
  case NND_OP_MAX:
  case NND_OP_MIN:
  case NND_OP_CONCAT:
  case NND_OP_WHERE: return 0;
  default: return 1;
  }
}

bool nnd__ow_op_form_of(nnd_op op, const nnd_attrs *a, const nnd_activation *act,
                        const char *file_op_type, const char *file_domain, int64_t opset,
                        const nnd_attrs *old, const nnd_activation *old_act, nnd__ow_op_form *form,
                        char *why, size_t cap) {
  memset(form, 0, sizeof *form);
  builder b = {form, 0};
  /* only ONNX Runtime's fused ops state a fused activation; one whose
   * activation goes becomes the plain op */
  bool ms = file_domain && strcmp(file_domain, "com.microsoft") == 0 && file_op_type &&
            (strcmp(file_op_type, "FusedConv") == 0 || strcmp(file_op_type, "FusedGemm") == 0);
  form->op_type = onnx_op_type(op);
  form->domain = "";
  if (!form->op_type) {
    snprintf(why, cap, "%s has no ONNX op", nnd_op_name(op));
    return false;
  }
  form->max_inputs = unary_or_binary_inputs(op);
  bool fused = act->kind != NND_ACT_NONE;
  switch (op) {
  case NND_OP_CONV:
  case NND_OP_CONV_TRANSPOSE: {
    const nnd_conv_attrs *c = &a->conv;
    int n = c->n_spatial;
    form->max_inputs = 3;
    spatial(&b, n, c->auto_pad, c->pads_begin, c->pads_end, c->strides, c->dilations, G_CONV);
    add_ints(&b, "kernel_shape", c->kernel, n, false, 0, G_CONV);
    add_int(&b, "group", c->groups, true, 1, G_CONV);
    if (op == NND_OP_CONV_TRANSPOSE)
      add_ints(&b, "output_padding", c->output_padding, n, true, 0, G_CONV);
    if (op == NND_OP_CONV && ms && !fused) b.covered |= G_ACT; /* FusedConv -> Conv */
    if (op == NND_OP_CONV && fused && ms) {
      if (!fused_act(&b, act, why, cap)) return false;
      form->op_type = "FusedConv";
      form->domain = "com.microsoft";
    }
    break;
  }
  case NND_OP_MAX_POOL:
  case NND_OP_AVG_POOL: {
    const nnd_pool_attrs *p = &a->pool;
    int n = p->n_spatial;
    spatial(&b, n, p->auto_pad, p->pads_begin, p->pads_end, p->strides, p->dilations, G_POOL);
    add_ints(&b, "kernel_shape", p->kernel, n, false, 0, G_POOL);
    add_int(&b, "ceil_mode", p->ceil_mode, true, 0, G_POOL);
    if (op == NND_OP_AVG_POOL)
      add_int(&b, "count_include_pad", p->count_include_pad, true, 0, G_POOL);
    break;
  }
  case NND_OP_GEMM:
    form->max_inputs = 3;
    add_float(&b, "alpha", a->alpha, 1.0f, G_ALPHA);
    add_float(&b, "beta", a->beta, 1.0f, G_BETA);
    add_int(&b, "transA", a->trans_a, true, 0, G_TRANS);
    add_int(&b, "transB", a->trans_b, true, 0, G_TRANS);
    if (ms && !fused) b.covered |= G_ACT; /* FusedGemm -> Gemm */
    if (fused && ms) {
      if (!fused_act(&b, act, why, cap)) return false;
      form->op_type = "FusedGemm";
      form->domain = "com.microsoft";
    }
    break;
  case NND_OP_BATCH_NORM:
    form->max_inputs = 5;
    add_float(&b, "epsilon", a->epsilon, 1e-5f, G_EPS);
    break;
  case NND_OP_LAYER_NORM:
    form->max_inputs = 3;
    add_int(&b, "axis", a->axis, true, -1, G_AXIS);
    add_float(&b, "epsilon", a->epsilon, 1e-5f, G_EPS);
    break;
  case NND_OP_LEAKY_RELU: add_float(&b, "alpha", a->alpha, 0.01f, G_ALPHA); break;
  case NND_OP_ELU: add_float(&b, "alpha", a->alpha, 1.0f, G_ALPHA); break;
  case NND_OP_HARD_SIGMOID:
    add_float(&b, "alpha", a->alpha, 0.2f, G_ALPHA);
    add_float(&b, "beta", a->beta, 0.5f, G_BETA);
    break;
  case NND_OP_LRN:
    add_float(&b, "alpha", a->alpha, 1e-4f, G_ALPHA);
    add_float(&b, "beta", a->beta, 0.75f, G_BETA);
    add_float(&b, "bias", a->lrn_bias, 1.0f, G_LRN);
    add_int(&b, "size", a->lrn_size, false, 0, G_LRN);
    break;
  case NND_OP_SOFTMAX:
  case NND_OP_LOG_SOFTMAX: add_int(&b, "axis", a->axis, true, opset < 13 ? 1 : -1, G_AXIS); break;
  case NND_OP_CONCAT: add_int(&b, "axis", a->axis, false, 0, G_AXIS); break;
  case NND_OP_FLATTEN: add_int(&b, "axis", a->axis, true, 1, G_AXIS); break;
  case NND_OP_GATHER:
    form->max_inputs = 2;
    add_int(&b, "axis", a->axis, true, 0, G_AXIS);
    break;
  case NND_OP_TRANSPOSE:
    if (a->n_perm > 0)
      add_ints(&b, "perm", a->perm, a->n_perm, false, 0, G_PERM);
    else
      b.covered |= G_PERM;
    break;
  case NND_OP_CLIP:
    form->max_inputs = 3;
    if (opset < 11) {
      add_float(&b, "min", a->clip_min, -INFINITY, G_CLIP);
      add_float(&b, "max", a->clip_max, INFINITY, G_CLIP);
    } else {
      nnd__ow_param_input *lo = add_param(&b, 1, G_CLIP), *hi = add_param(&b, 2, G_CLIP);
      if (lo) {
        lo->absent = isinf(a->clip_min) && a->clip_min < 0;
        lo->n = 1;
        lo->f = a->clip_min;
      }
      if (hi) {
        hi->absent = isinf(a->clip_max) && a->clip_max > 0;
        hi->n = 1;
        hi->f = a->clip_max;
      }
    }
    break;
  case NND_OP_PAD: {
    static const char *const modes[] = {"constant", "reflect", "edge"};
    form->max_inputs = 4;
    add_string(&b, "mode", modes[a->pad_mode <= NND_PAD_EDGE ? a->pad_mode : 0], "constant",
               G_PAD_MODE);
    int64_t pads[2 * NND_MAX_RANK];
    int n = a->n_pads < NND_MAX_RANK ? a->n_pads : NND_MAX_RANK;
    for (int i = 0; i < n; i++) {
      pads[i] = a->pads_begin[i];
      pads[n + i] = a->pads_end[i];
    }
    if (opset < 11) {
      add_ints(&b, opset < 2 ? "paddings" : "pads", pads, 2 * n, false, 0, G_PADS);
      add_float(&b, "value", a->pad_value, 0.0f, G_PAD_VALUE);
    } else {
      nnd__ow_param_input *p = a->has_pads ? add_param(&b, 1, G_PADS) : NULL;
      if (p) {
        p->is_int = true;
        p->n = 2 * n;
        memcpy(p->ints, pads, (size_t)(2 * n) * sizeof *pads);
      }
      nnd__ow_param_input *v = add_param(&b, 2, G_PAD_VALUE);
      if (v) {
        v->absent = a->pad_value == 0.0f;
        v->n = 1;
        v->f = a->pad_value;
      }
    }
    break;
  }
  case NND_OP_REDUCE_MEAN:
  case NND_OP_REDUCE_SUM:
  case NND_OP_REDUCE_MAX:
  case NND_OP_REDUCE_MIN:
  case NND_OP_SQUEEZE:
  case NND_OP_UNSQUEEZE: {
    bool reduce = op != NND_OP_SQUEEZE && op != NND_OP_UNSQUEEZE;
    int64_t since = op == NND_OP_REDUCE_SUM || !reduce ? 13 : 18;
    form->max_inputs = 2;
    if (reduce) add_int(&b, "keepdims", a->keepdims, true, 1, G_KEEPDIMS);
    if (!a->has_axes) break; /* computed axes: nothing to state */
    if (opset < since) {
      if (a->n_axes > 0)
        add_ints(&b, "axes", a->axes, a->n_axes, false, 0, G_AXES);
      else
        b.covered |= G_AXES;
    } else {
      nnd__ow_param_input *p = add_param(&b, 1, G_AXES);
      if (p) {
        p->is_int = true;
        p->absent = a->n_axes == 0;
        p->n = a->n_axes;
        memcpy(p->ints, a->axes, (size_t)a->n_axes * sizeof *a->axes);
      }
    }
    break;
  }
  case NND_OP_RESHAPE:
    form->max_inputs = 2;
    if (opset >= 14) add_int(&b, "allowzero", a->allowzero, true, 0, G_ALLOWZERO);
    break;
  case NND_OP_SPLIT: add_int(&b, "axis", a->axis, true, 0, G_AXIS); break;
  case NND_OP_CAST: add_int(&b, "to", nnd__ow_onnx_dtype(a->to), false, 0, G_TO); break;
  case NND_OP_MOD: add_int(&b, "fmod", a->fmod, true, 0, G_FMOD); break;
  case NND_OP_SHAPE:
    if (opset >= 15) {
      add_int(&b, "start", a->shape_start, true, 0, G_SHAPE);
      if (a->shape_end != INT64_MAX)
        add_int(&b, "end", a->shape_end, false, 0, G_SHAPE);
      else
        b.covered |= G_SHAPE;
    }
    break;
  case NND_OP_DROPOUT:
    if (opset < 12) add_float(&b, "ratio", a->dropout_ratio, 0.5f, G_DROPOUT);
    break;
  default: break;
  }
  if (fused && !(form->domain[0])) {
    snprintf(why, cap, "ONNX %s cannot hold a fused activation (%s)", form->op_type,
             nnd_act_name(act->kind));
    return false;
  }
  if (old) {
    unsigned changed = changed_groups(a, old, act, old_act);
    unsigned missing = changed & ~b.covered;
    if (missing) {
      snprintf(why, cap, "%s at opset %lld has no attribute or input for the changed %s",
               form->op_type, (long long)opset, group_name(missing));
      return false;
    }
  }
  return true;
}

bool nnd__ow_attr_value_equal(const nnd__ow_attr_value *x, const nnd__ow_attr_value *y) {
  if (x->type != y->type) return false;
  switch (x->type) {
  case NND__ONNX_ATTR_INT: return x->i == y->i;
  case NND__ONNX_ATTR_FLOAT: return same_f(x->f, y->f);
  case NND__ONNX_ATTR_STRING: return strcmp(x->s, y->s) == 0;
  case NND__ONNX_ATTR_INTS: return x->n == y->n && same_i64s(x->ints, y->ints, x->n);
  case NND__ONNX_ATTR_FLOATS:
    if (x->n != y->n) return false;
    for (int i = 0; i < x->n; i++)
      if (!same_f(x->floats[i], y->floats[i])) return false;
    return true;
  }
  return false;
}

void nnd__ow_attr_value_encode(const nnd__ow_attr_value *v, nnd_pb_buf *out) {
  switch (v->type) {
  case NND__ONNX_ATTR_INT: nnd__ow_attr_int(out, v->name, v->i); break;
  case NND__ONNX_ATTR_FLOAT: nnd__ow_attr_float(out, v->name, v->f); break;
  case NND__ONNX_ATTR_STRING: nnd__ow_attr_string(out, v->name, v->s); break;
  case NND__ONNX_ATTR_INTS: nnd__ow_attr_ints(out, v->name, v->ints, v->n); break;
  case NND__ONNX_ATTR_FLOATS: nnd__ow_attr_floats(out, v->name, v->floats, v->n); break;
  }
}
