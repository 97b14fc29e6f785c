/* ONNX op type -> canonical op, and one attribute handler per op family.
 *
 * Handlers read the ONNX attributes with their opset-dependent defaults into
 * nnd_attrs, check the values (positive strides, lists as long as the kernel
 * is deep, ...) and, where a later opset moved a parameter from an attribute
 * to an input (Clip bounds, Pad pads, Slice starts, Squeeze axes, ...), read
 * that input when it is a constant already known at import. Inputs that are
 * computed stay for shape inference to fold. A handler may turn its node into
 * NND_OP_UNSUPPORTED when the file uses a variant the canonical op cannot
 * express faithfully (e.g. Gelu approximate='tanh').
 *
 * Canonical conventions the handlers fill (documented for shape inference):
 *  - inputs keep ONNX order; -1 marks an omitted optional input;
 *  - REDUCE_* and SQUEEZE: has_axes with n_axes == 0 means "all axes"
 *    (ONNX default when axes are absent); has_axes false means the axes are
 *    an input not known at import;
 *  - SLICE: when has_slice, axes[] holds one axis per start (defaulted to
 *    0..n-1) and steps[] defaults to 1;
 *  - PAD: pads_begin/pads_end per dim, n_pads = rank. */
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "formats/onnx/onnx_internal.h"
#include "util/safe_text.h"

/* ------------------------------------------------------------ messages */

static nnd_status node_fail(const nnd__onnx_op_ctx *c, nnd_status st, nnd_error *err,
                            const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 4, 5)))
#endif
    ;

static nnd_status node_fail(const nnd__onnx_op_ctx *c, nnd_status st, nnd_error *err,
                            const char *fmt, ...) {
  char what[700];
  va_list ap;
  va_start(ap, fmt);
  nnd__format_line(what, sizeof what, fmt, ap);
  va_end(ap);
  return nnd_error_set(err, st, "%s: node '%s' (%s): %s", c->src->label, c->display, c->n->op_type,
                       what);
}

static const char *attr_type_name(int32_t type) {
  static const char *const names[] = {"UNDEFINED",      "FLOAT",      "INT",        "STRING",
                                      "TENSOR",         "GRAPH",      "FLOATS",     "INTS",
                                      "STRINGS",        "TENSORS",    "GRAPHS",     "SPARSE_TENSOR",
                                      "SPARSE_TENSORS", "TYPE_PROTO", "TYPE_PROTOS"};
  return type >= 0 && (size_t)type < sizeof names / sizeof names[0] ? names[type] : "unknown";
}

/* ---------------------------------------------------------- attributes */

static const nnd__onnx_attr *find_attr(const nnd__onnx_op_ctx *c, const char *name) {
  for (int i = 0; i < c->n->n_attrs; i++)
    if (strcmp(c->n->attrs[i].name, name) == 0) return &c->n->attrs[i];
  return NULL;
}

static nnd_status expect_type(const nnd__onnx_op_ctx *c, const nnd__onnx_attr *a, int32_t type,
                              nnd_error *err) {
  if (a->type == type) return NND_OK;
  return node_fail(c, NND_ERR_FORMAT, err, "attribute '%s' should be %s, found %s", a->name,
                   attr_type_name(type), attr_type_name(a->type));
}

static nnd_status get_int(const nnd__onnx_op_ctx *c, const char *name, int64_t def, int64_t *out,
                          nnd_error *err) {
  const nnd__onnx_attr *a = find_attr(c, name);
  *out = def;
  if (!a) return NND_OK;
  nnd_status st = expect_type(c, a, NND__ONNX_ATTR_INT, err);
  if (st == NND_OK) *out = a->i;
  return st;
}

static nnd_status get_bool(const nnd__onnx_op_ctx *c, const char *name, bool def, bool *out,
                           nnd_error *err) {
  int64_t v;
  nnd_status st = get_int(c, name, def, &v, err);
  if (st != NND_OK) return st;
  if (v != 0 && v != 1)
    return node_fail(c, NND_ERR_FORMAT, err, "attribute '%s' is %lld, expected 0 or 1", name,
                     (long long)v);
  *out = v != 0;
  return NND_OK;
}

static nnd_status get_float(const nnd__onnx_op_ctx *c, const char *name, float def, float *out,
                            nnd_error *err) {
  const nnd__onnx_attr *a = find_attr(c, name);
  *out = def;
  if (!a) return NND_OK;
  nnd_status st = expect_type(c, a, NND__ONNX_ATTR_FLOAT, err);
  if (st == NND_OK) *out = a->f;
  return st;
}

/* *present tells whether the attribute exists; values/count are NULL/0 if not. */
static nnd_status get_ints(const nnd__onnx_op_ctx *c, const char *name, const int64_t **values,
                           int64_t *count, bool *present, nnd_error *err) {
  const nnd__onnx_attr *a = find_attr(c, name);
  *values = NULL;
  *count = 0;
  if (present) *present = a != NULL;
  if (!a) return NND_OK;
  nnd_status st = expect_type(c, a, NND__ONNX_ATTR_INTS, err);
  if (st != NND_OK) return st;
  *values = a->ints;
  *count = a->n_ints;
  return NND_OK;
}

static nnd_status get_string(const nnd__onnx_op_ctx *c, const char *name, const char *def,
                             const char **out, nnd_error *err) {
  const nnd__onnx_attr *a = find_attr(c, name);
  *out = def;
  if (!a) return NND_OK;
  nnd_status st = expect_type(c, a, NND__ONNX_ATTR_STRING, err);
  if (st != NND_OK) return st;
  if (!a->str) return node_fail(c, NND_ERR_FORMAT, err, "attribute '%s' holds a NUL byte", name);
  *out = a->str;
  return NND_OK;
}

/* ------------------------------------------------------ constant inputs */

/* The k-th input's value when it exists and holds data known at import. */
static const nnd_value *const_input(const nnd__onnx_op_ctx *c, const nnd_node *node, int k) {
  if (k >= node->n_inputs || node->inputs[k] < 0) return NULL;
  const nnd_value *v = &c->g->values[node->inputs[k]];
  return v->data ? v : NULL;
}

static bool has_input(const nnd_node *node, int k) {
  return k < node->n_inputs && node->inputs[k] >= 0;
}

/* Reads a constant 1-D (or scalar) int input of at most `max` elements. */
static nnd_status const_ints(const nnd__onnx_op_ctx *c, const nnd_value *v, const char *what,
                             int64_t max, int64_t *out, int64_t *count, nnd_error *err) {
  if (v->dtype != NND_DTYPE_I64 && v->dtype != NND_DTYPE_I32)
    return node_fail(c, NND_ERR_FORMAT, err, "input '%s' (%s) should be int64, found %s", v->name,
                     what, nnd_dtype_name(v->dtype));
  int64_t n = nnd_value_data_count(v);
  if (n > max)
    return node_fail(c, NND_ERR_UNSUPPORTED, err,
                     "input '%s' (%s) has %lld values, at most "
                     "%lld supported",
                     v->name, what, (long long)n, (long long)max);
  for (int64_t i = 0; i < n; i++)
    if (!nnd_value_read_i64(v, i, &out[i]))
      return node_fail(c, NND_ERR_FORMAT, err, "input '%s' (%s) cannot be read", v->name, what);
  *count = n;
  return NND_OK;
}

static nnd_status const_scalar_f(const nnd__onnx_op_ctx *c, const nnd_value *v, const char *what,
                                 float *out, nnd_error *err) {
  double d;
  if (nnd_value_data_count(v) != 1 || !nnd_value_read_f64(v, 0, &d))
    return node_fail(c, NND_ERR_FORMAT, err, "input '%s' (%s) should hold one number", v->name,
                     what);
  *out = (float)d;
  return NND_OK;
}

/* ------------------------------------------------- spatial attributes */

/* Copies an INTS attribute that must hold n values >= min into dst. */
static nnd_status spatial_list(const nnd__onnx_op_ctx *c, const char *name, int n, int64_t min,
                               int64_t *dst, nnd_error *err) {
  const int64_t *vals;
  int64_t count;
  bool present;
  nnd_status st = get_ints(c, name, &vals, &count, &present, err);
  if (st != NND_OK || !present) return st;
  if (count != n)
    return node_fail(c, NND_ERR_FORMAT, err,
                     "attribute '%s' has %lld values but the kernel is "
                     "%d-D",
                     name, (long long)count, n);
  for (int i = 0; i < n; i++) {
    if (vals[i] < min)
      return node_fail(c, NND_ERR_FORMAT, err,
                       "attribute '%s' has value %lld at index %d; it "
                       "must be %s",
                       name, (long long)vals[i], i, min > 0 ? "> 0" : ">= 0");
    dst[i] = vals[i];
  }
  return NND_OK;
}

/* ONNX pads [b1, b2, ..., e1, e2, ...] for n spatial dims. */
static nnd_status spatial_pads(const nnd__onnx_op_ctx *c, int n, int64_t *begin, int64_t *end,
                               nnd_error *err) {
  const int64_t *vals;
  int64_t count;
  bool present;
  nnd_status st = get_ints(c, "pads", &vals, &count, &present, err);
  if (st != NND_OK || !present) return st;
  if (count != 2 * n)
    return node_fail(c, NND_ERR_FORMAT, err,
                     "attribute 'pads' has %lld values but the kernel "
                     "is %d-D (needs %d)",
                     (long long)count, n, 2 * n);
  for (int i = 0; i < 2 * n; i++)
    if (vals[i] < 0)
      return node_fail(c, NND_ERR_FORMAT, err,
                       "attribute 'pads' has negative value %lld at "
                       "index %d",
                       (long long)vals[i], i);
  for (int i = 0; i < n; i++) {
    begin[i] = vals[i];
    end[i] = vals[n + i];
  }
  return NND_OK;
}

static nnd_status auto_pad(const nnd__onnx_op_ctx *c, nnd_auto_pad *out, nnd_error *err) {
  static const struct {
    const char *name;
    nnd_auto_pad mode;
  } modes[] = {{"NOTSET", NND_AUTO_PAD_EXPLICIT},
               {"", NND_AUTO_PAD_EXPLICIT},
               {"SAME_UPPER", NND_AUTO_PAD_SAME_UPPER},
               {"SAME_LOWER", NND_AUTO_PAD_SAME_LOWER},
               {"VALID", NND_AUTO_PAD_VALID}};
  const char *s;
  nnd_status st = get_string(c, "auto_pad", "NOTSET", &s, err);
  if (st != NND_OK) return st;
  for (size_t i = 0; i < sizeof modes / sizeof modes[0]; i++)
    if (strcmp(s, modes[i].name) == 0) {
      *out = modes[i].mode;
      return NND_OK;
    }
  return node_fail(c, NND_ERR_FORMAT, err,
                   "attribute 'auto_pad' is '%s', expected NOTSET, "
                   "SAME_UPPER, SAME_LOWER or VALID",
                   s);
}

/* Number of spatial dims from the first of the listed INTS attributes that
 * is present (0 when none is). `per` is how many values one dim takes. */
static int spatial_from_attrs(const nnd__onnx_op_ctx *c) {
  static const struct {
    const char *name;
    int per;
  } lists[] = {{"strides", 1}, {"dilations", 1}, {"pads", 2}, {"output_padding", 1}};
  for (size_t i = 0; i < sizeof lists / sizeof lists[0]; i++) {
    const nnd__onnx_attr *a = find_attr(c, lists[i].name);
    if (a && a->type == NND__ONNX_ATTR_INTS && a->n_ints > 0)
      return (int)(a->n_ints / lists[i].per);
  }
  return 0;
}

static nnd_status check_spatial(const nnd__onnx_op_ctx *c, int64_t n, nnd_error *err) {
  if (n > NND_MAX_SPATIAL)
    return node_fail(c, NND_ERR_UNSUPPORTED, err,
                     "the kernel is %lld-D; nndiff handles up to "
                     "%d spatial dims",
                     (long long)n, NND_MAX_SPATIAL);
  return NND_OK;
}

/* ------------------------------------------------------------ handlers */

static nnd_status fill_conv(nnd__onnx_op_ctx *c, nnd_node *node, nnd_error *err) {
  nnd_conv_attrs *a = &node->attrs.conv;
  bool transpose = node->op == NND_OP_CONV_TRANSPOSE;
  a->layout = NND_LAYOUT_NCHW;
  a->weight_layout = NND_WLAYOUT_OIHW;
  nnd_status st = auto_pad(c, &a->auto_pad, err);
  if (st != NND_OK) return st;
  st = get_int(c, "group", 1, &a->groups, err);
  if (st != NND_OK) return st;
  if (a->groups <= 0)
    return node_fail(c, NND_ERR_FORMAT, err, "attribute 'group' is %lld; it must be > 0",
                     (long long)a->groups);

  const int64_t *ks;
  int64_t n_ks;
  bool has_ks;
  st = get_ints(c, "kernel_shape", &ks, &n_ks, &has_ks, err);
  if (st != NND_OK) return st;
  /* kernel_shape is optional: the weight's trailing dims say the same */
  const nnd_value *w = has_input(node, 1) ? &c->g->values[node->inputs[1]] : NULL;
  bool w_known = w && w->kind == NND_VALUE_CONSTANT && w->shape.rank >= 3;
  int64_t n = has_ks ? n_ks : w_known ? w->shape.rank - 2 : spatial_from_attrs(c);
  if (has_ks && n_ks == 0)
    return node_fail(c, NND_ERR_FORMAT, err, "attribute 'kernel_shape' is empty");
  st = check_spatial(c, n, err);
  if (st != NND_OK) return st;
  a->n_spatial = (int)n;
  if (n == 0) return NND_OK; /* shape inference takes it from the weight */
  if (has_ks) {
    for (int i = 0; i < n; i++) {
      if (ks[i] <= 0)
        return node_fail(c, NND_ERR_FORMAT, err,
                         "attribute 'kernel_shape' has value %lld at "
                         "index %d; it must be > 0",
                         (long long)ks[i], i);
      a->kernel[i] = ks[i];
    }
    if (w_known) {
      if (w->shape.rank - 2 != n)
        return node_fail(c, NND_ERR_FORMAT, err,
                         "attribute 'kernel_shape' is %lld-D but weight "
                         "'%s' has rank %d",
                         (long long)n, w->name, w->shape.rank);
      for (int i = 0; i < n; i++)
        if (w->shape.dims[2 + i].size != ks[i])
          return node_fail(c, NND_ERR_FORMAT, err,
                           "attribute 'kernel_shape' says %lld at index "
                           "%d but weight '%s' has %lld",
                           (long long)ks[i], i, w->name, (long long)w->shape.dims[2 + i].size);
    }
  } else if (w_known) {
    for (int i = 0; i < n; i++)
      a->kernel[i] = w->shape.dims[2 + i].size;
  }
  if ((st = spatial_list(c, "strides", (int)n, 1, a->strides, err)) != NND_OK) return st;
  if ((st = spatial_list(c, "dilations", (int)n, 1, a->dilations, err)) != NND_OK) return st;
  if ((st = spatial_pads(c, (int)n, a->pads_begin, a->pads_end, err)) != NND_OK) return st;
  if (transpose) {
    if ((st = spatial_list(c, "output_padding", (int)n, 0, a->output_padding, err)) != NND_OK)
      return st;
    /* output_shape derives the pads from the input size; not expressible */
    if (find_attr(c, "output_shape")) node->op = NND_OP_UNSUPPORTED;
  }
  return NND_OK;
}

static nnd_status fill_pool(nnd__onnx_op_ctx *c, nnd_node *node, nnd_error *err) {
  nnd_pool_attrs *a = &node->attrs.pool;
  a->layout = NND_LAYOUT_NCHW;
  nnd_status st = auto_pad(c, &a->auto_pad, err);
  if (st != NND_OK) return st;
  const int64_t *ks;
  int64_t n;
  bool has_ks;
  st = get_ints(c, "kernel_shape", &ks, &n, &has_ks, err);
  if (st != NND_OK) return st;
  if (!has_ks || n == 0)
    return node_fail(c, NND_ERR_FORMAT, err, "attribute 'kernel_shape' is missing");
  if ((st = check_spatial(c, n, err)) != NND_OK) return st;
  a->n_spatial = (int)n;
  if ((st = spatial_list(c, "kernel_shape", (int)n, 1, a->kernel, err)) != NND_OK) return st;
  if ((st = spatial_list(c, "strides", (int)n, 1, a->strides, err)) != NND_OK) return st;
  if ((st = spatial_list(c, "dilations", (int)n, 1, a->dilations, err)) != NND_OK) return st;
  if ((st = spatial_pads(c, (int)n, a->pads_begin, a->pads_end, err)) != NND_OK) return st;
  if ((st = get_bool(c, "ceil_mode", false, &a->ceil_mode, err)) != NND_OK) return st;
  if (node->op == NND_OP_AVG_POOL)
    st = get_bool(c, "count_include_pad", false, &a->count_include_pad, err);
  return st;
}

static nnd_status fill_gemm(nnd__onnx_op_ctx *c, nnd_node *node, nnd_error *err) {
  nnd_attrs *a = &node->attrs;
  nnd_status st;
  if ((st = get_float(c, "alpha", 1.0f, &a->alpha, err)) != NND_OK) return st;
  if ((st = get_float(c, "beta", 1.0f, &a->beta, err)) != NND_OK) return st;
  if ((st = get_bool(c, "transA", false, &a->trans_a, err)) != NND_OK) return st;
  return get_bool(c, "transB", false, &a->trans_b, err);
}

static nnd_status fill_batch_norm(nnd__onnx_op_ctx *c, nnd_node *node, nnd_error *err) {
  nnd_status st = get_float(c, "epsilon", 1e-5f, &node->attrs.epsilon, err);
  if (st != NND_OK) return st;
  int64_t spatial, training;
  if ((st = get_int(c, "spatial", 1, &spatial, err)) != NND_OK) return st;
  if ((st = get_int(c, "training_mode", 0, &training, err)) != NND_OK) return st;
  /* per-activation statistics (spatial=0) and training mode compute
   * something else than inference BatchNorm */
  if (spatial != 1 || training != 0) node->op = NND_OP_UNSUPPORTED;
  return NND_OK;
}

static nnd_status fill_alpha(nnd__onnx_op_ctx *c, nnd_node *node, nnd_error *err, float def) {
  return get_float(c, "alpha", def, &node->attrs.alpha, err);
}
static nnd_status fill_leaky_relu(nnd__onnx_op_ctx *c, nnd_node *node, nnd_error *err) {
  return fill_alpha(c, node, err, 0.01f);
}
static nnd_status fill_elu(nnd__onnx_op_ctx *c, nnd_node *node, nnd_error *err) {
  return fill_alpha(c, node, err, 1.0f);
}

static nnd_status fill_hard_sigmoid(nnd__onnx_op_ctx *c, nnd_node *node, nnd_error *err) {
  nnd_status st = get_float(c, "alpha", 0.2f, &node->attrs.alpha, err);
  if (st != NND_OK) return st;
  return get_float(c, "beta", 0.5f, &node->attrs.beta, err);
}

static nnd_status fill_clip(nnd__onnx_op_ctx *c, nnd_node *node, nnd_error *err) {
  nnd_attrs *a = &node->attrs;
  nnd_status st;
  if (c->opset < 11) {
    if ((st = get_float(c, "min", -INFINITY, &a->clip_min, err)) != NND_OK) return st;
    return get_float(c, "max", INFINITY, &a->clip_max, err);
  }
  const nnd_value *lo = const_input(c, node, 1), *hi = const_input(c, node, 2);
  if (lo && (st = const_scalar_f(c, lo, "min", &a->clip_min, err)) != NND_OK) return st;
  if (hi && (st = const_scalar_f(c, hi, "max", &a->clip_max, err)) != NND_OK) return st;
  return NND_OK;
}

static nnd_status fill_gelu(nnd__onnx_op_ctx *c, nnd_node *node, nnd_error *err) {
  const char *approx;
  nnd_status st = get_string(c, "approximate", "none", &approx, err);
  if (st != NND_OK) return st;
  if (strcmp(approx, "none") != 0) node->op = NND_OP_UNSUPPORTED; /* tanh form: no canonical op */
  return NND_OK;
}

static nnd_status fill_softmax(nnd__onnx_op_ctx *c, nnd_node *node, nnd_error *err) {
  /* Before opset 13 the op flattened to 2-D at `axis` (default 1); from 13
   * on it works along one axis (default -1). The two agree whenever axis is
   * the last dim, which is what classifiers export. */
  return get_int(c, "axis", c->opset < 13 ? 1 : -1, &node->attrs.axis, err);
}

static nnd_status fill_layer_norm(nnd__onnx_op_ctx *c, nnd_node *node, nnd_error *err) {
  /* stash_type only says the statistics are kept in float32 or wider; the
   * engine keeps them in double either way. */
  nnd_status st = get_int(c, "axis", -1, &node->attrs.axis, err);
  if (st != NND_OK) return st;
  return get_float(c, "epsilon", 1e-5f, &node->attrs.epsilon, err);
}

static nnd_status fill_einsum(nnd__onnx_op_ctx *c, nnd_node *node, nnd_error *err) {
  const char *eq;
  nnd_status st = get_string(c, "equation", "", &eq, err);
  if (st != NND_OK) return st;
  if (!*eq) return node_fail(c, NND_ERR_FORMAT, err, "attribute 'equation' is missing");
  /* an ellipsis broadcasts a variable number of dims: no canonical form yet */
  if (strstr(eq, "...")) {
    node->op = NND_OP_UNSUPPORTED;
    return NND_OK;
  }
  node->attrs.equation = nnd_graph_strdup(c->g, eq);
  return node->attrs.equation ? NND_OK : node_fail(c, NND_ERR_NOMEM, err, "out of memory");
}

static nnd_status fill_mod(nnd__onnx_op_ctx *c, nnd_node *node, nnd_error *err) {
  return get_bool(c, "fmod", false, &node->attrs.fmod, err);
}

static nnd_status fill_scatter_nd(nnd__onnx_op_ctx *c, nnd_node *node, nnd_error *err) {
  const char *reduction;
  nnd_status st = get_string(c, "reduction", "none", &reduction, err);
  if (st != NND_OK) return st;
  /* add/mul/max/min (opset 16, 18) accumulate into the data: no canonical op */
  if (strcmp(reduction, "none") != 0) node->op = NND_OP_UNSUPPORTED;
  return NND_OK;
}

/* The fill value: a one-element tensor attribute `value`, float32 0 when
 * absent. */
static nnd_status fill_constant_of_shape(nnd__onnx_op_ctx *c, nnd_node *node, nnd_error *err) {
  nnd_attrs *a = &node->attrs;
  a->to = NND_DTYPE_F32;
  a->fill_value = 0;
  const nnd__onnx_attr *at = find_attr(c, "value");
  if (!at) return NND_OK;
  if (at->type != NND__ONNX_ATTR_TENSOR || !at->t)
    return node_fail(c, NND_ERR_FORMAT, err, "attribute 'value' is a %s, expected a TENSOR",
                     attr_type_name(at->type));
  nnd_value v = {0};
  v.name = "value";
  nnd__onnx_tensor t = *at->t;
  t.name = "value";
  nnd_status st = nnd__onnx_tensor_to_value(c->g, c->src, c->file, &t, &v, err);
  if (st != NND_OK) return st;
  if (nnd_value_data_count(&v) != 1)
    return node_fail(c, NND_ERR_FORMAT, err, "attribute 'value' holds %lld elements, expected 1",
                     (long long)nnd_value_data_count(&v));
  if (!nnd_value_read_f64(&v, 0, &a->fill_value))
    return node_fail(c, NND_ERR_UNSUPPORTED, err, "attribute 'value' is %s",
                     nnd_dtype_name(v.dtype));
  a->to = v.dtype;
  return NND_OK;
}

static nnd_status fill_axis0(nnd__onnx_op_ctx *c, nnd_node *node, nnd_error *err) {
  return get_int(c, "axis", 0, &node->attrs.axis, err);
}

static nnd_status fill_concat(nnd__onnx_op_ctx *c, nnd_node *node, nnd_error *err) {
  if (!find_attr(c, "axis") && c->opset >= 4)
    return node_fail(c, NND_ERR_FORMAT, err, "attribute 'axis' is missing");
  return get_int(c, "axis", 1, &node->attrs.axis, err);
}

static nnd_status fill_flatten(nnd__onnx_op_ctx *c, nnd_node *node, nnd_error *err) {
  return get_int(c, "axis", 1, &node->attrs.axis, err);
}

static nnd_status fill_quant(nnd__onnx_op_ctx *c, nnd_node *node, nnd_error *err) {
  int64_t block;
  nnd_status st = get_int(c, "axis", 1, &node->attrs.axis, err);
  if (st == NND_OK) st = get_int(c, "block_size", 0, &block, err);
  if (st == NND_OK && block != 0) node->op = NND_OP_UNSUPPORTED; /* blocked quantization */
  return st;
}

static nnd_status fill_cast(nnd__onnx_op_ctx *c, nnd_node *node, nnd_error *err) {
  const nnd__onnx_attr *a = find_attr(c, "to");
  if (!a) return node_fail(c, NND_ERR_FORMAT, err, "attribute 'to' is missing");
  int32_t dt;
  if (a->type == NND__ONNX_ATTR_STRING && a->str) {
    /* Cast-1 named the type as a string */
    static const char *const names[] = {"UNDEFINED", "FLOAT",  "UINT8",  "INT8",   "UINT16",
                                        "INT16",     "INT32",  "INT64",  "STRING", "BOOL",
                                        "FLOAT16",   "DOUBLE", "UINT32", "UINT64"};
    dt = -1;
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
      if (strcmp(a->str, names[i]) == 0) dt = (int32_t)i;
    if (dt < 0)
      return node_fail(c, NND_ERR_FORMAT, err, "attribute 'to' names unknown type '%s'", a->str);
  } else {
    nnd_status st = expect_type(c, a, NND__ONNX_ATTR_INT, err);
    if (st != NND_OK) return st;
    if (a->i < INT32_MIN || a->i > INT32_MAX)
      return node_fail(c, NND_ERR_FORMAT, err, "attribute 'to' is %lld", (long long)a->i);
    dt = (int32_t)a->i;
  }
  char what[300];
  snprintf(what, sizeof what, "node '%s' (Cast) attribute 'to'", c->display);
  return nnd__onnx_dtype(dt, c->src, what, &node->attrs.to, err);
}

/* Axes from an attribute (older opsets) or a constant input (newer). Sets
 * has_axes when known; absent axes mean "all" (has_axes, n_axes 0). */
static nnd_status fill_axes(nnd__onnx_op_ctx *c, nnd_node *node, bool from_input, int input,
                            nnd_error *err) {
  nnd_attrs *a = &node->attrs;
  if (!from_input) {
    const int64_t *vals;
    int64_t n;
    bool present;
    nnd_status st = get_ints(c, "axes", &vals, &n, &present, err);
    if (st != NND_OK) return st;
    if (n > NND_MAX_RANK)
      return node_fail(c, NND_ERR_UNSUPPORTED, err,
                       "attribute 'axes' has %lld values, at most "
                       "%d supported",
                       (long long)n, NND_MAX_RANK);
    for (int64_t i = 0; i < n; i++)
      a->axes[i] = vals[i];
    a->n_axes = (int)n;
    a->has_axes = true;
    return NND_OK;
  }
  if (!has_input(node, input)) {
    a->has_axes = true;
    a->n_axes = 0;
    return NND_OK;
  }
  const nnd_value *v = const_input(c, node, input);
  if (!v) return NND_OK; /* computed: shape inference may fold it */
  int64_t n;
  nnd_status st = const_ints(c, v, "axes", NND_MAX_RANK, a->axes, &n, err);
  if (st != NND_OK) return st;
  a->n_axes = (int)n;
  a->has_axes = true;
  return NND_OK;
}

static nnd_status fill_squeeze(nnd__onnx_op_ctx *c, nnd_node *node, nnd_error *err) {
  nnd_status st = fill_axes(c, node, c->opset >= 13, 1, err);
  if (st == NND_OK && node->op == NND_OP_UNSQUEEZE && node->attrs.has_axes &&
      node->attrs.n_axes == 0)
    return node_fail(c, NND_ERR_FORMAT, err, "the axes to insert are missing");
  return st;
}

static nnd_status fill_reduce(nnd__onnx_op_ctx *c, nnd_node *node, nnd_error *err) {
  /* ReduceSum took axes as an input from opset 13, the others from 18 */
  int64_t since = node->op == NND_OP_REDUCE_SUM ? 13 : 18;
  nnd_status st = fill_axes(c, node, c->opset >= since, 1, err);
  if (st != NND_OK) return st;
  if ((st = get_bool(c, "keepdims", true, &node->attrs.keepdims, err)) != NND_OK) return st;
  bool noop = false;
  if ((st = get_bool(c, "noop_with_empty_axes", false, &noop, err)) != NND_OK) return st;
  if (noop && node->attrs.has_axes && node->attrs.n_axes == 0) node->op = NND_OP_IDENTITY;
  return NND_OK;
}

static nnd_status fill_transpose(nnd__onnx_op_ctx *c, nnd_node *node, nnd_error *err) {
  const int64_t *perm;
  int64_t n;
  bool present;
  nnd_status st = get_ints(c, "perm", &perm, &n, &present, err);
  if (st != NND_OK || !present) return st;
  if (n > NND_MAX_RANK)
    return node_fail(c, NND_ERR_UNSUPPORTED, err,
                     "attribute 'perm' has %lld values, at most %d "
                     "supported",
                     (long long)n, NND_MAX_RANK);
  bool seen[NND_MAX_RANK] = {false};
  for (int64_t i = 0; i < n; i++) {
    if (perm[i] < 0 || perm[i] >= n || seen[perm[i]])
      return node_fail(c, NND_ERR_FORMAT, err, "attribute 'perm' is not a permutation of 0..%lld",
                       (long long)n - 1);
    seen[perm[i]] = true;
    node->attrs.perm[i] = perm[i];
  }
  node->attrs.n_perm = (int)n;
  return NND_OK;
}

static nnd_status set_pads(nnd__onnx_op_ctx *c, nnd_node *node, const int64_t *pads, int64_t n,
                           const char *what, nnd_error *err) {
  if (n % 2)
    return node_fail(c, NND_ERR_FORMAT, err, "%s has %lld values, expected an even count", what,
                     (long long)n);
  if (n / 2 > NND_MAX_RANK)
    return node_fail(c, NND_ERR_UNSUPPORTED, err, "%s pads %lld dims, at most %d supported", what,
                     (long long)n / 2, NND_MAX_RANK);
  nnd_attrs *a = &node->attrs;
  a->n_pads = (int)(n / 2);
  for (int i = 0; i < a->n_pads; i++) {
    a->pads_begin[i] = pads[i];
    a->pads_end[i] = pads[a->n_pads + i];
  }
  a->has_pads = true;
  return NND_OK;
}

static nnd_status fill_pad(nnd__onnx_op_ctx *c, nnd_node *node, nnd_error *err) {
  static const struct {
    const char *name;
    nnd_pad_mode mode;
  } modes[] = {
      {"constant", NND_PAD_CONSTANT}, {"reflect", NND_PAD_REFLECT}, {"edge", NND_PAD_EDGE}};
  nnd_attrs *a = &node->attrs;
  const char *mode;
  nnd_status st = get_string(c, "mode", "constant", &mode, err);
  if (st != NND_OK) return st;
  bool known = false;
  for (size_t i = 0; i < sizeof modes / sizeof modes[0]; i++)
    if (strcmp(mode, modes[i].name) == 0) {
      a->pad_mode = modes[i].mode;
      known = true;
    }
  if (!known) {
    if (strcmp(mode, "wrap") == 0) {
      node->op = NND_OP_UNSUPPORTED;
      return NND_OK;
    }
    return node_fail(c, NND_ERR_FORMAT, err,
                     "attribute 'mode' is '%s', expected constant, "
                     "reflect, edge or wrap",
                     mode);
  }
  if (c->opset < 11) {
    const int64_t *pads;
    int64_t n;
    bool present;
    const char *name = c->opset < 2 ? "paddings" : "pads";
    if ((st = get_ints(c, name, &pads, &n, &present, err)) != NND_OK) return st;
    if (!present) return node_fail(c, NND_ERR_FORMAT, err, "attribute '%s' is missing", name);
    if ((st = get_float(c, "value", 0.0f, &a->pad_value, err)) != NND_OK) return st;
    return set_pads(c, node, pads, n, "attribute 'pads'", err);
  }
  const nnd_value *value = const_input(c, node, 2);
  if (value && (st = const_scalar_f(c, value, "constant_value", &a->pad_value, err)) != NND_OK)
    return st;
  const nnd_value *pv = const_input(c, node, 1);
  if (!pv || has_input(node, 3)) return NND_OK; /* computed pads, or per-axes (opset 18) */
  int64_t pads[2 * NND_MAX_RANK], n;
  if ((st = const_ints(c, pv, "pads", 2 * NND_MAX_RANK, pads, &n, err)) != NND_OK) return st;
  return set_pads(c, node, pads, n, "input 'pads'", err);
}

static nnd_status fill_slice(nnd__onnx_op_ctx *c, nnd_node *node, nnd_error *err) {
  nnd_attrs *a = &node->attrs;
  int64_t starts[NND_MAX_RANK], ends[NND_MAX_RANK], axes[NND_MAX_RANK], steps[NND_MAX_RANK];
  int64_t n_starts = 0, n_ends = 0, n_axes = -1, n_steps = -1;
  nnd_status st;
  if (c->opset < 10) {
    static const char *const names[] = {"starts", "ends", "axes"};
    int64_t *dst[] = {starts, ends, axes};
    int64_t *cnt[] = {&n_starts, &n_ends, &n_axes};
    for (int k = 0; k < 3; k++) {
      const int64_t *vals;
      bool present;
      if ((st = get_ints(c, names[k], &vals, cnt[k], &present, err)) != NND_OK) return st;
      if (!present) {
        if (k < 2) return node_fail(c, NND_ERR_FORMAT, err, "attribute '%s' is missing", names[k]);
        *cnt[k] = -1;
        continue;
      }
      if (*cnt[k] > NND_MAX_RANK)
        return node_fail(c, NND_ERR_UNSUPPORTED, err,
                         "attribute '%s' has %lld values, at most "
                         "%d supported",
                         names[k], (long long)*cnt[k], NND_MAX_RANK);
      if (*cnt[k]) memcpy(dst[k], vals, (size_t)*cnt[k] * sizeof *vals);
    }
  } else {
    static const char *const names[] = {"starts", "ends", "axes", "steps"};
    int64_t *dst[] = {starts, ends, axes, steps};
    int64_t *cnt[] = {&n_starts, &n_ends, &n_axes, &n_steps};
    for (int k = 0; k < 4; k++) {
      if (!has_input(node, k + 1)) {
        if (k < 2) return NND_OK; /* required inputs missing: validation reports it */
        continue;
      }
      const nnd_value *v = const_input(c, node, k + 1);
      if (!v) return NND_OK; /* computed: left to shape inference */
      if ((st = const_ints(c, v, names[k], NND_MAX_RANK, dst[k], cnt[k], err)) != NND_OK) return st;
    }
  }
  if (n_ends != n_starts || (n_axes >= 0 && n_axes != n_starts) ||
      (n_steps >= 0 && n_steps != n_starts))
    return node_fail(c, NND_ERR_FORMAT, err,
                     "starts, ends, axes and steps differ in length "
                     "(%lld, %lld, %lld, %lld)",
                     (long long)n_starts, (long long)n_ends, (long long)n_axes, (long long)n_steps);
  for (int i = 0; i < n_starts; i++) {
    a->starts[i] = starts[i];
    a->ends[i] = ends[i];
    a->axes[i] = n_axes >= 0 ? axes[i] : i;
    a->steps[i] = n_steps >= 0 ? steps[i] : 1;
    if (a->steps[i] == 0) return node_fail(c, NND_ERR_FORMAT, err, "step %d is 0", i);
  }
  a->n_axes = (int)n_starts;
  a->has_axes = true;
  a->has_slice = true;
  return NND_OK;
}

static nnd_status fill_split(nnd__onnx_op_ctx *c, nnd_node *node, nnd_error *err) {
  nnd_attrs *a = &node->attrs;
  nnd_status st = get_int(c, "axis", 0, &a->axis, err);
  if (st != NND_OK) return st;
  a->n_split = node->n_outputs;
  const int64_t *sizes = NULL;
  int64_t n = 0;
  int64_t buf[64];
  if (c->opset < 13) {
    bool present;
    if ((st = get_ints(c, "split", &sizes, &n, &present, err)) != NND_OK) return st;
    if (!present) return NND_OK;
  } else {
    const nnd_value *v = const_input(c, node, 1);
    if (!v) return NND_OK;
    if ((st = const_ints(c, v, "split", 64, buf, &n, err)) != NND_OK) return st;
    sizes = buf;
  }
  if (n != node->n_outputs)
    return node_fail(c, NND_ERR_FORMAT, err, "split has %lld sizes for %d outputs", (long long)n,
                     node->n_outputs);
  a->split = nnd_graph_alloc(c->g, (size_t)n, sizeof *a->split);
  if (!a->split) return node_fail(c, NND_ERR_NOMEM, err, "out of memory");
  for (int64_t i = 0; i < n; i++) {
    if (sizes[i] < 0)
      return node_fail(c, NND_ERR_FORMAT, err, "split size %lld at index %lld is negative",
                       (long long)sizes[i], (long long)i);
    a->split[i] = sizes[i];
  }
  return NND_OK;
}

static nnd_status fill_reshape(nnd__onnx_op_ctx *c, nnd_node *node, nnd_error *err) {
  if (c->opset < 5) {
    node->op = NND_OP_UNSUPPORTED; /* Reshape-1 took the shape as an attribute */
    return NND_OK;
  }
  return get_bool(c, "allowzero", false, &node->attrs.allowzero, err);
}

static nnd_status fill_shape(nnd__onnx_op_ctx *c, nnd_node *node, nnd_error *err) {
  nnd_status st = get_int(c, "start", 0, &node->attrs.shape_start, err);
  if (st != NND_OK) return st;
  return get_int(c, "end", INT64_MAX, &node->attrs.shape_end, err);
}

static nnd_status fill_dropout(nnd__onnx_op_ctx *c, nnd_node *node, nnd_error *err) {
  if (c->opset < 12) return get_float(c, "ratio", 0.5f, &node->attrs.dropout_ratio, err);
  const nnd_value *r = const_input(c, node, 1);
  if (r) return const_scalar_f(c, r, "ratio", &node->attrs.dropout_ratio, err);
  return NND_OK;
}

static nnd_status fill_lrn(nnd__onnx_op_ctx *c, nnd_node *node, nnd_error *err) {
  nnd_attrs *a = &node->attrs;
  nnd_status st;
  if ((st = get_float(c, "alpha", 1e-4f, &a->alpha, err)) != NND_OK) return st;
  if ((st = get_float(c, "beta", 0.75f, &a->beta, err)) != NND_OK) return st;
  if ((st = get_float(c, "bias", 1.0f, &a->lrn_bias, err)) != NND_OK) return st;
  if (!find_attr(c, "size"))
    return node_fail(c, NND_ERR_FORMAT, err, "attribute 'size' is missing");
  if ((st = get_int(c, "size", 0, &a->lrn_size, err)) != NND_OK) return st;
  if (a->lrn_size <= 0)
    return node_fail(c, NND_ERR_FORMAT, err, "attribute 'size' is %lld; it must be > 0",
                     (long long)a->lrn_size);
  return NND_OK;
}

/* --------------------------------------------------------------- table */

/* Sorted by op type (strcmp order) for binary search. */
static const nnd__onnx_op_entry op_table[] = {
    {"Abs", NND_OP_ABS, NULL},
    {"Add", NND_OP_ADD, NULL},
    {"AveragePool", NND_OP_AVG_POOL, fill_pool},
    {"BatchNormalization", NND_OP_BATCH_NORM, fill_batch_norm},
    {"Cast", NND_OP_CAST, fill_cast},
    {"Ceil", NND_OP_CEIL, NULL},
    {"Clip", NND_OP_CLIP, fill_clip},
    {"Concat", NND_OP_CONCAT, fill_concat},
    {"ConstantOfShape", NND_OP_CONSTANT_OF_SHAPE, fill_constant_of_shape},
    {"Conv", NND_OP_CONV, fill_conv},
    {"ConvTranspose", NND_OP_CONV_TRANSPOSE, fill_conv},
    {"DequantizeLinear", NND_OP_DEQUANTIZE, fill_quant},
    {"Div", NND_OP_DIV, NULL},
    {"Dropout", NND_OP_DROPOUT, fill_dropout},
    {"Einsum", NND_OP_EINSUM, fill_einsum},
    {"Elu", NND_OP_ELU, fill_elu},
    {"Equal", NND_OP_EQUAL, NULL},
    {"Erf", NND_OP_ERF, NULL},
    {"Exp", NND_OP_EXP, NULL},
    {"Expand", NND_OP_EXPAND, NULL},
    {"Flatten", NND_OP_FLATTEN, fill_flatten},
    {"Floor", NND_OP_FLOOR, NULL},
    {"Gather", NND_OP_GATHER, fill_axis0},
    {"Gelu", NND_OP_GELU, fill_gelu},
    {"Gemm", NND_OP_GEMM, fill_gemm},
    {"GlobalAveragePool", NND_OP_GLOBAL_AVG_POOL, NULL},
    {"GlobalMaxPool", NND_OP_GLOBAL_MAX_POOL, NULL},
    {"HardSigmoid", NND_OP_HARD_SIGMOID, fill_hard_sigmoid},
    {"HardSwish", NND_OP_HARD_SWISH, NULL},
    {"Identity", NND_OP_IDENTITY, NULL},
    {"LRN", NND_OP_LRN, fill_lrn},
    {"LayerNormalization", NND_OP_LAYER_NORM, fill_layer_norm},
    {"LeakyRelu", NND_OP_LEAKY_RELU, fill_leaky_relu},
    {"Log", NND_OP_LOG, NULL},
    {"LogSoftmax", NND_OP_LOG_SOFTMAX, fill_softmax},
    {"MatMul", NND_OP_MATMUL, NULL},
    {"Max", NND_OP_MAX, NULL},
    {"MaxPool", NND_OP_MAX_POOL, fill_pool},
    {"Min", NND_OP_MIN, NULL},
    {"Mod", NND_OP_MOD, fill_mod},
    {"Mul", NND_OP_MUL, NULL},
    {"Neg", NND_OP_NEG, NULL},
    {"Not", NND_OP_NOT, NULL},
    {"PRelu", NND_OP_PRELU, NULL},
    {"Pad", NND_OP_PAD, fill_pad},
    {"Pow", NND_OP_POW, NULL},
    {"QuantizeLinear", NND_OP_QUANTIZE, fill_quant},
    {"Range", NND_OP_RANGE, NULL},
    {"Reciprocal", NND_OP_RECIPROCAL, NULL},
    {"ReduceMax", NND_OP_REDUCE_MAX, fill_reduce},
    {"ReduceMean", NND_OP_REDUCE_MEAN, fill_reduce},
    {"ReduceMin", NND_OP_REDUCE_MIN, fill_reduce},
    {"ReduceSum", NND_OP_REDUCE_SUM, fill_reduce},
    {"Relu", NND_OP_RELU, NULL},
    {"Reshape", NND_OP_RESHAPE, fill_reshape},
    {"Resize", NND_OP_RESIZE, NULL},
    {"ScatterND", NND_OP_SCATTER_ND, fill_scatter_nd},
    {"Shape", NND_OP_SHAPE, fill_shape},
    {"Sigmoid", NND_OP_SIGMOID, NULL},
    {"Slice", NND_OP_SLICE, fill_slice},
    {"Softmax", NND_OP_SOFTMAX, fill_softmax},
    {"Softplus", NND_OP_SOFTPLUS, NULL},
    {"Split", NND_OP_SPLIT, fill_split},
    {"Sqrt", NND_OP_SQRT, NULL},
    {"Squeeze", NND_OP_SQUEEZE, fill_squeeze},
    {"Sub", NND_OP_SUB, NULL},
    {"Tanh", NND_OP_TANH, NULL},
    {"Transpose", NND_OP_TRANSPOSE, fill_transpose},
    {"Unsqueeze", NND_OP_UNSQUEEZE, fill_squeeze},
    {"Upsample", NND_OP_RESIZE, NULL},
    {"Where", NND_OP_WHERE, NULL},
};

static int cmp_entry(const void *key, const void *elem) {
  return strcmp((const char *)key, ((const nnd__onnx_op_entry *)elem)->op_type);
}

const nnd__onnx_op_entry *nnd__onnx_find_op(const char *op_type) {
  return bsearch(op_type, op_table, sizeof op_table / sizeof op_table[0], sizeof op_table[0],
                 cmp_entry);
}

const nnd__onnx_op_entry *nnd__onnx_op_table(size_t *count_out) {
  *count_out = sizeof op_table / sizeof op_table[0];
  return op_table;
}

/* ------------------------------------------- com.microsoft (ORT) ops */

/* ONNX Runtime's extended optimisation level saves Conv + activation as
 * com.microsoft FusedConv and Gemm + activation as FusedGemm: the same op
 * with a fused activation ("activation" names it, its parameters in
 * "activation_params" or activation_alpha/beta). */
static nnd_status fused_activation(nnd__onnx_op_ctx *c, nnd_node *node, nnd_error *err) {
  const char *name;
  nnd_status st = get_string(c, "activation", "", &name, err);
  if (st != NND_OK) return st;
  const nnd__onnx_attr *params = find_attr(c, "activation_params");
  float p[2] = {0.f, 0.f};
  int n_params = 0;
  if (params && params->type == NND__ONNX_ATTR_FLOATS)
    for (int64_t i = 0; i < params->n_floats && i < 2; i++) p[n_params++] = params->floats[i];
  float alpha, beta;
  if ((st = get_float(c, "activation_alpha", n_params > 0 ? p[0] : 0.01f, &alpha, err)) != NND_OK ||
      (st = get_float(c, "activation_beta", n_params > 1 ? p[1] : 0.5f, &beta, err)) != NND_OK)
    return st;
  nnd_activation a = {NND_ACT_NONE, 0.f, 0.f};
  if (!name[0]) return NND_OK;
  if (strcmp(name, "Relu") == 0) a.kind = NND_ACT_RELU;
  else if (strcmp(name, "Sigmoid") == 0) a.kind = NND_ACT_SIGMOID;
  else if (strcmp(name, "Tanh") == 0) a.kind = NND_ACT_TANH;
  else if (strcmp(name, "LeakyRelu") == 0) a = (nnd_activation){NND_ACT_LEAKY_RELU, alpha, 0.f};
  else if (strcmp(name, "HardSigmoid") == 0)
    a = (nnd_activation){NND_ACT_HARD_SIGMOID, n_params > 0 ? p[0] : 0.2f, beta};
  else if (strcmp(name, "Clip") == 0 && n_params == 2)
    a = (nnd_activation){NND_ACT_CLIP, p[0], p[1]};
  else {
    node->op = NND_OP_UNSUPPORTED; /* reported by name, never guessed */
    return NND_OK;
  }
  node->act = a;
  return NND_OK;
}

static nnd_status fill_fused_conv(nnd__onnx_op_ctx *c, nnd_node *node, nnd_error *err) {
  /* input 3 (Z) is added before the activation: not a plain Conv */
  if (node->n_inputs > 3) {
    node->op = NND_OP_UNSUPPORTED;
    return NND_OK;
  }
  nnd_status st = fill_conv(c, node, err);
  return st != NND_OK ? st : fused_activation(c, node, err);
}

static nnd_status fill_fused_gemm(nnd__onnx_op_ctx *c, nnd_node *node, nnd_error *err) {
  nnd_status st = fill_gemm(c, node, err);
  return st != NND_OK ? st : fused_activation(c, node, err);
}

/* QuickGelu(x) = x * Sigmoid(alpha * x): with alpha 1 (what the extended
 * level writes for x * Sigmoid(x), EfficientNet's SiLU) it is Silu; any other
 * alpha is reported by name. */
static nnd_status fill_quick_gelu(nnd__onnx_op_ctx *c, nnd_node *node, nnd_error *err) {
  float alpha;
  nnd_status st = get_float(c, "alpha", 1.702f, &alpha, err);
  if (st == NND_OK && alpha != 1.0f) node->op = NND_OP_UNSUPPORTED;
  return st;
}

static const nnd__onnx_op_entry ms_op_table[] = {
    {"FusedConv", NND_OP_CONV, fill_fused_conv},
    {"FusedGemm", NND_OP_GEMM, fill_fused_gemm},
    {"QuickGelu", NND_OP_SILU, fill_quick_gelu},
};

const nnd__onnx_op_entry *nnd__onnx_find_domain_op(const char *domain, const char *op_type) {
  if (strcmp(domain, "com.microsoft") != 0) return NULL;
  for (size_t i = 0; i < sizeof ms_op_table / sizeof ms_op_table[0]; i++)
    if (strcmp(ms_op_table[i].op_type, op_type) == 0) return &ms_op_table[i];
  return NULL;
}
