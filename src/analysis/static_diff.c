/* Static differences between aligned models: parameters and
 * hyperparameters of each aligned pair, substituted ops, and nodes one
 * model has and the other lacks, each judged equivalent (computes the same
 * thing) or not, with a sentence saying what differs and what to do. */
#include <inttypes.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "analysis/localize_internal.h"
#include "nndiff/op_info.h"

const char *nnd_finding_kind_name(nnd_finding_kind k) {
  switch (k) {
  case NND_FINDING_PARAMETERS: return "parameters";
  case NND_FINDING_HYPERPARAMETERS: return "hyperparameters";
  case NND_FINDING_GRAPH: return "graph";
  case NND_FINDING_ACTIVATIONS: return "activations";
  }
  return "?";
}

nnd_finding *nnd__findings_add(nnd__findings *f) {
  if (f->n == f->cap) {
    int32_t cap = f->cap ? f->cap * 2 : 32;
    nnd_finding *p = realloc(f->items, (size_t)cap * sizeof *p);
    if (!p) return NULL;
    f->items = p;
    f->cap = cap;
  }
  nnd_finding *x = &f->items[f->n++];
  memset(x, 0, sizeof *x);
  x->pair = x->t_cnode = x->s_cnode = -1;
  return x;
}

void nnd__add_cnode_members(const nnd_cgraph *c, int32_t cn, unsigned mask, int32_t *list, int *n,
                            int cap) {
  if (cn < 0) return;
  const nnd_cnode *node = &c->nodes[cn];
  for (int m = 0; m < node->n_members; m++) {
    if (mask && !(mask & (1u << node->members[m].role))) continue;
    int32_t id = node->members[m].node;
    bool dup = false;
    for (int k = 0; k < *n; k++)
      dup |= list[k] == id;
    if (!dup && *n < cap) list[(*n)++] = id;
  }
}

#define ROLE(r) (1u << (r))

/* ------------------------------------------------------------ formatting */

static void fmt_ints(char *buf, size_t cap, const int64_t *v, int n) {
  size_t len = 0;
  len += (size_t)snprintf(buf + len, cap - len, "[");
  for (int i = 0; i < n && len < cap; i++)
    len += (size_t)snprintf(buf + len, cap - len, "%s%" PRId64, i ? "," : "", v[i]);
  if (len < cap) snprintf(buf + len, cap - len, "]");
}

/* ONNX order: begins then ends. */
static void fmt_pads(char *buf, size_t cap, const int64_t *b, const int64_t *e, int n) {
  int64_t all[2 * NND_MAX_RANK];
  for (int i = 0; i < n; i++) {
    all[i] = b[i];
    all[n + i] = e[i];
  }
  fmt_ints(buf, cap, all, 2 * n);
}

static bool ints_eq(const int64_t *a, const int64_t *b, int n) {
  for (int i = 0; i < n; i++)
    if (a[i] != b[i]) return false;
  return true;
}

/* --------------------------------------------------------- hyperparameters */

typedef struct hyper_item {
  const char *name;
  char s[96], t[96];
  bool differs;
  bool equivalent; /* differs, but the same function here */
  const char *why; /* why it is equivalent */
} hyper_item;

typedef struct hyper_list {
  int n, total;
  hyper_item items[24];
} hyper_list;

static hyper_item *hyper_add(hyper_list *h, const char *name, bool differs) {
  h->total++;
  if (!differs || h->n >= 24) return NULL;
  hyper_item *it = &h->items[h->n++];
  memset(it, 0, sizeof *it);
  it->name = name;
  it->differs = true;
  return it;
}

static void hyper_ints(hyper_list *h, const char *name, const int64_t *s, const int64_t *t, int n) {
  hyper_item *it = hyper_add(h, name, !ints_eq(s, t, n));
  if (!it) return;
  fmt_ints(it->s, sizeof it->s, s, n);
  fmt_ints(it->t, sizeof it->t, t, n);
}

static void hyper_bool(hyper_list *h, const char *name, bool s, bool t) {
  hyper_item *it = hyper_add(h, name, s != t);
  if (!it) return;
  snprintf(it->s, sizeof it->s, "%d", s);
  snprintf(it->t, sizeof it->t, "%d", t);
}

static void hyper_int(hyper_list *h, const char *name, int64_t s, int64_t t) {
  hyper_item *it = hyper_add(h, name, s != t);
  if (!it) return;
  snprintf(it->s, sizeof it->s, "%" PRId64, s);
  snprintf(it->t, sizeof it->t, "%" PRId64, t);
}

static void hyper_float(hyper_list *h, const char *name, float s, float t) {
  bool same = s == t || fabsf(s - t) <= 1e-6f * fmaxf(1.f, fmaxf(fabsf(s), fabsf(t)));
  hyper_item *it = hyper_add(h, name, !same);
  if (!it) return;
  snprintf(it->s, sizeof it->s, "%.6g", (double)s);
  snprintf(it->t, sizeof it->t, "%.6g", (double)t);
}

static const nnd_shape *cvalue_shape(const nnd_cgraph *c, int32_t cv) {
  return &c->graph->values[c->values[cv].value].shape;
}

static bool pads_all_zero(const nnd_pool_attrs *p) {
  for (int i = 0; i < p->n_spatial; i++)
    if (p->pads_begin[i] || p->pads_end[i]) return false;
  return true;
}

/* The HP column of ops.def: the hyperparameter fields compared for an op,
 * in the order they are reported. The window fields come first: when the
 * two nodes have different spatial ranks only that is reported. */
enum {
  HPF_CONV_WINDOW = 1 << 0,       /* kernel, strides, pads, dilations (attrs.conv) */
  HPF_GROUPS = 1 << 1,            /* attrs.conv.groups */
  HPF_OUTPUT_PADDING = 1 << 2,    /* attrs.conv.output_padding */
  HPF_POOL_WINDOW = 1 << 3,       /* kernel, strides, pads (attrs.pool) */
  HPF_POOL_DILATIONS = 1 << 4,    /* attrs.pool.dilations */
  HPF_CEIL_MODE = 1 << 5,         /* equivalent when the output shapes agree */
  HPF_COUNT_INCLUDE_PAD = 1 << 6, /* equivalent without padding */
  HPF_AXIS = 1 << 7,
  HPF_PERM = 1 << 8,
  HPF_PAD = 1 << 9,    /* mode, pads (when both are known), constant value */
  HPF_SLICE = 1 << 10, /* starts, ends, steps (when both are known) */
  HPF_AXES = 1 << 11,  /* when both are known */
  HPF_KEEPDIMS = 1 << 12,
  HPF_EPSILON = 1 << 13,
  HPF_LRN = 1 << 14,          /* size, alpha, beta, bias */
  HPF_FLATTEN_ORDER = 1 << 15 /* the input layout, when it moves elements */
};

#define HP(fields) (fields)
static const unsigned hyper_fields[] = {
#define X(id, name, fam, io, dt, rule, cost, comm, subst, params, hp, act, eval, engine) hp,
#include "nndiff/ops.def"
#undef X
};
_Static_assert(sizeof hyper_fields / sizeof hyper_fields[0] == NND_OP_COUNT,
               "one set of hyperparameters per line of ops.def");

/* Kernel, strides and pads of a convolution or pooling window (WINDOW()
 * spells the fields of nnd_conv_attrs / nnd_pool_attrs); false, with only
 * that reported, when the two windows have different spatial ranks. */
#define WINDOW(w) (w).n_spatial, (w).kernel, (w).strides, (w).pads_begin, (w).pads_end
static bool hyper_window(hyper_list *h, int sn, const int64_t *sk, const int64_t *ss,
                         const int64_t *spb, const int64_t *spe, int tn, const int64_t *tk,
                         const int64_t *ts, const int64_t *tpb, const int64_t *tpe) {
  if (sn != tn) {
    hyper_int(h, "spatial dims", sn, tn);
    return false;
  }
  hyper_ints(h, "kernel", sk, tk, sn);
  hyper_ints(h, "strides", ss, ts, sn);
  hyper_item *it = hyper_add(h, "pads", !ints_eq(spb, tpb, sn) || !ints_eq(spe, tpe, sn));
  if (it) {
    fmt_pads(it->s, sizeof it->s, spb, spe, sn);
    fmt_pads(it->t, sizeof it->t, tpb, tpe, sn);
  }
  return true;
}

static void hyper_collect(const nnd_cgraph *S, int32_t s, const nnd_cgraph *T, int32_t t,
                          hyper_list *h) {
  const nnd_cnode *sn = &S->nodes[s], *tn = &T->nodes[t];
  memset(h, 0, sizeof *h);
  const nnd_attrs *sa = &sn->attrs, *ta = &tn->attrs;
  const unsigned f =
      sn->op == tn->op && sn->op >= 0 && sn->op < NND_OP_COUNT ? hyper_fields[sn->op] : 0;
  if (f & HPF_CONV_WINDOW) {
    if (!hyper_window(h, WINDOW(sa->conv), WINDOW(ta->conv))) goto activation;
    hyper_ints(h, "dilations", sa->conv.dilations, ta->conv.dilations, sa->conv.n_spatial);
  }
  if (f & HPF_GROUPS) hyper_int(h, "groups", sa->conv.groups, ta->conv.groups);
  if (f & HPF_OUTPUT_PADDING)
    hyper_ints(h, "output_padding", sa->conv.output_padding, ta->conv.output_padding,
               sa->conv.n_spatial);
  if ((f & HPF_POOL_WINDOW) && !hyper_window(h, WINDOW(sa->pool), WINDOW(ta->pool)))
    goto activation;
  if (f & HPF_POOL_DILATIONS)
    hyper_ints(h, "dilations", sa->pool.dilations, ta->pool.dilations, sa->pool.n_spatial);
  if (f & HPF_CEIL_MODE) {
    int before = h->n;
    hyper_bool(h, "ceil_mode", sa->pool.ceil_mode, ta->pool.ceil_mode);
    if (h->n > before && sn->n_outputs && tn->n_outputs &&
        nnd__shape_score(cvalue_shape(S, sn->outputs[0]), cvalue_shape(T, tn->outputs[0])) >= 1.0) {
      h->items[h->n - 1].equivalent = true;
      h->items[h->n - 1].why = "the output shapes are the same, so the rounding mode never applies";
    }
  }
  if (f & HPF_COUNT_INCLUDE_PAD) {
    int before = h->n;
    hyper_bool(h, "count_include_pad", sa->pool.count_include_pad, ta->pool.count_include_pad);
    if (h->n > before && pads_all_zero(&sa->pool) && pads_all_zero(&ta->pool)) {
      h->items[h->n - 1].equivalent = true;
      h->items[h->n - 1].why = "there is no padding";
    }
  }
  if (f & HPF_AXIS) hyper_int(h, "axis", sa->axis, ta->axis);
  if (f & HPF_PERM) {
    int n = sa->n_perm > ta->n_perm ? sa->n_perm : ta->n_perm;
    hyper_item *it =
        hyper_add(h, "perm", sa->n_perm != ta->n_perm || !ints_eq(sa->perm, ta->perm, n));
    if (it) {
      fmt_ints(it->s, sizeof it->s, sa->perm, sa->n_perm);
      fmt_ints(it->t, sizeof it->t, ta->perm, ta->n_perm);
    }
  }
  if (f & HPF_PAD) {
    hyper_int(h, "mode", sa->pad_mode, ta->pad_mode);
    if (sa->has_pads && ta->has_pads && sa->n_pads == ta->n_pads) {
      hyper_item *it = hyper_add(h, "pads",
                                 !ints_eq(sa->pads_begin, ta->pads_begin, sa->n_pads) ||
                                     !ints_eq(sa->pads_end, ta->pads_end, sa->n_pads));
      if (it) {
        fmt_pads(it->s, sizeof it->s, sa->pads_begin, sa->pads_end, sa->n_pads);
        fmt_pads(it->t, sizeof it->t, ta->pads_begin, ta->pads_end, ta->n_pads);
      }
    }
    if (sa->pad_mode == NND_PAD_CONSTANT) hyper_float(h, "value", sa->pad_value, ta->pad_value);
  }
  if ((f & HPF_SLICE) && sa->has_slice && ta->has_slice && sa->n_axes == ta->n_axes) {
    hyper_ints(h, "starts", sa->starts, ta->starts, sa->n_axes);
    hyper_ints(h, "ends", sa->ends, ta->ends, sa->n_axes);
    hyper_ints(h, "steps", sa->steps, ta->steps, sa->n_axes);
  }
  if ((f & HPF_AXES) && sa->has_axes && ta->has_axes && sa->n_axes == ta->n_axes)
    hyper_ints(h, "axes", sa->axes, ta->axes, sa->n_axes);
  if (f & HPF_KEEPDIMS) hyper_bool(h, "keepdims", sa->keepdims, ta->keepdims);
  if (f & HPF_EPSILON) hyper_float(h, "epsilon", sa->epsilon, ta->epsilon);
  if (f & HPF_LRN) {
    hyper_int(h, "size", sa->lrn_size, ta->lrn_size);
    hyper_float(h, "alpha", sa->alpha, ta->alpha);
    hyper_float(h, "beta", sa->beta, ta->beta);
    hyper_float(h, "bias", sa->lrn_bias, ta->lrn_bias);
  }
  if (f & HPF_FLATTEN_ORDER) {
    const nnd_shape *x = sn->n_inputs ? cvalue_shape(S, sn->inputs[0]) : NULL;
    bool spatial = x && x->rank == 4 &&
                   (sn->in_layout == NND_LAYOUT_NHWC ? x->dims[1].size * x->dims[2].size
                                                     : x->dims[2].size * x->dims[3].size) != 1;
    hyper_item *it =
        hyper_add(h, "flatten order",
                  spatial && sn->in_layout != tn->in_layout && sn->in_layout != NND_LAYOUT_NONE &&
                      tn->in_layout != NND_LAYOUT_NONE);
    if (it) {
      snprintf(it->s, sizeof it->s, "%s", sn->in_layout == NND_LAYOUT_NHWC ? "NHWC" : "NCHW");
      snprintf(it->t, sizeof it->t, "%s", tn->in_layout == NND_LAYOUT_NHWC ? "NHWC" : "NCHW");
    }
  }
activation: {
  /* the (fused) activation, for every op (a block: before C23 a label
   * cannot precede a declaration, and clang says so) */
  hyper_item *it = hyper_add(h, "activation", !nnd_cact_equal(sn->act, tn->act));
  if (it) {
    nnd_cact_format(sn->act, it->s, sizeof it->s);
    nnd_cact_format(tn->act, it->t, sizeof it->t);
  }
}
}

void nnd__hyper_agreement(const nnd_cgraph *S, int32_t s, const nnd_cgraph *T, int32_t t,
                          int *total, int *same) {
  hyper_list h;
  hyper_collect(S, s, T, t, &h);
  *total = h.total;
  *same = h.total - h.n;
}

/* ------------------------------------------------------------- findings */

static const char *op_title(const nnd_cgraph *c, int32_t cn) { return nnd_cnode_op_type(c, cn); }

static void set_text(char *buf, size_t cap, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void set_text(char *buf, size_t cap, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(buf, cap, fmt, ap);
  va_end(ap);
}

static double param_severity(const nnd_param_diff *d) {
  switch (d->pattern) {
  case NND_PARAM_EQUAL: return 0;
  case NND_PARAM_FLOAT16:
  case NND_PARAM_BFLOAT16: return 0.45;
  case NND_PARAM_PERTURBED: {
    double r = d->rel_l2 > 1e-6 ? d->rel_l2 : 1e-6;
    double s = 0.35 + 0.08 * log10(r / 1e-5);
    return s < 0.35 ? 0.35 : s > 0.6 ? 0.6 : s;
  }
  default: return 0.6;
  }
}

/* The role set that names where a parameter came from: the head, plus the
 * folded BatchNorm / bias add for the bias. */
static void param_nodes(nnd_finding *f, const nnd_cgraph *S, const nnd_cgraph *T, bool bias) {
  unsigned roles = ROLE(NND_CROLE_HEAD) | ROLE(NND_CROLE_BN) | ROLE(NND_CROLE_SCALE);
  if (bias) roles |= ROLE(NND_CROLE_BIAS);
  nnd__add_cnode_members(T, f->t_cnode, roles, f->t_nodes, &f->n_t_nodes, NND_FINDING_MAX_NODES);
  nnd__add_cnode_members(S, f->s_cnode, roles, f->s_nodes, &f->n_s_nodes, NND_FINDING_MAX_NODES);
}

static void describe_weights(nnd_finding *f, const char *what, const nnd_param_diff *d) {
  const char *p;
  switch (d->pattern) {
  case NND_PARAM_IN_CHANNELS_REVERSED:
    set_text(f->text, sizeof f->text,
             "%s are the source's with the input-channel axis reversed (e.g. RGB vs BGR): "
             "mean |Ps - Pt| %.3g, %" PRId64 "/%" PRId64 " elements differ, equal once the "
             "channel order is reversed",
             what, d->mean_abs, d->n_differ, d->n_total);
    set_text(f->fix, sizeof f->fix,
             "reverse the input channels of these weights (or feed the model the channel order "
             "the source expects)");
    return;
  case NND_PARAM_ROWS_ROLLED:
    set_text(f->text, sizeof f->text,
             "%s are the source's with the output rows rolled by %" PRId64 " (output k of the "
             "target is output k-%" PRId64 " of the source: a shifted class order / label map); "
             "mean |Ps - Pt| %.3g",
             what, d->shift, d->shift, d->mean_abs);
    set_text(f->fix, sizeof f->fix,
             "roll the rows back by %" PRId64 " (or copy them from the source), bias included",
             d->shift);
    return;
  case NND_PARAM_KERNEL_FLIPPED:
    set_text(f->text, sizeof f->text,
             "%s are the source's kernel flipped %s (convolution vs cross-correlation mixed up): "
             "mean |Ps - Pt| %.3g, %" PRId64 "/%" PRId64 " elements differ",
             what,
             d->flip_axes == 3   ? "in both spatial dims (rotated 180 degrees)"
             : d->flip_axes == 1 ? "vertically"
                                 : "horizontally",
             d->mean_abs, d->n_differ, d->n_total);
    set_text(f->fix, sizeof f->fix, "flip the kernel back (or copy the weights from the source)");
    return;
  case NND_PARAM_KERNEL_TRANSPOSED:
    set_text(f->text, sizeof f->text,
             "%s are the source's with the kernel's height and width swapped: mean |Ps - Pt| %.3g",
             what, d->mean_abs);
    set_text(f->fix, sizeof f->fix,
             "transpose the kernel back (or copy the weights from the source)");
    return;
  case NND_PARAM_FLOAT16:
  case NND_PARAM_BFLOAT16:
    p = d->pattern == NND_PARAM_FLOAT16 ? "float16" : "bfloat16";
    set_text(f->text, sizeof f->text,
             "%s were rounded to %s: every element is a %s value within half an ulp of the "
             "source's; mean |Ps - Pt| %.3g, max %.3g (relative L2 %.2g), %" PRId64 "/%" PRId64
             " elements beyond float32 rounding",
             what, p, p, d->mean_abs, d->max_abs, d->rel_l2, d->n_differ, d->n_total);
    set_text(f->fix, sizeof f->fix,
             "keep these weights in float32 (copy them from the source, BatchNorm folded)");
    return;
  case NND_PARAM_CHANNEL_SCALED:
    set_text(f->text, sizeof f->text,
             "%s are the source's with each output channel scaled by a factor in [%.4g, %.4g] "
             "(BatchNorm folded with other statistics or epsilon?): mean |Ps - Pt| %.3g",
             what, d->scale_min, d->scale_max, d->mean_abs);
    set_text(f->fix, sizeof f->fix,
             "fold the source's BatchNorm again (its epsilon and running statistics) into these "
             "weights");
    return;
  case NND_PARAM_ZEROED:
    set_text(f->text, sizeof f->text, "%s are all zero while the source's have mean |P| %.3g", what,
             d->mean_abs_source);
    set_text(f->fix, sizeof f->fix, "copy the weights from the source");
    return;
  case NND_PARAM_PERTURBED:
  case NND_PARAM_REPLACED:
  default:
    set_text(f->text, sizeof f->text,
             "%s differ: mean |Ps - Pt| %.3g (source mean |P| %.3g), max %.3g, relative L2 "
             "%.2g, %" PRId64 "/%" PRId64 " elements beyond float rounding, cosine %.4f (%s)",
             what, d->mean_abs, d->mean_abs_source, d->max_abs, d->rel_l2, d->n_differ, d->n_total,
             d->cosine,
             d->pattern == NND_PARAM_PERTURBED ? "changed but close: noise or corruption"
                                               : "unrelated values");
    set_text(f->fix, sizeof f->fix, "copy the weights from the source (BatchNorm folded)");
    return;
  }
}

static nnd_status param_findings(const nnd_cgraph *S, const nnd_cgraph *T, const nnd_alignment *A,
                                 int32_t pi, double rtol, nnd__findings *out,
                                 nnd_layer_result *layer, nnd_error *err) {
  const nnd_align_pair *p = &A->pairs[pi];
  const nnd_cnode *sn = &S->nodes[p->s], *tn = &T->nodes[p->t];
  const char *wname = sn->op == NND_OP_BATCH_NORM ? "the BatchNorm scales" : "the weights";
  if (sn->weight || tn->weight) {
    nnd_param_diff d;
    memset(&d, 0, sizeof d);
    bool same_shape =
        sn->weight && tn->weight && sn->wnumel == tn->wnumel && sn->wrank == tn->wrank;
    for (int k = 0; same_shape && k < sn->wrank; k++)
      same_shape = sn->wdims[k] == tn->wdims[k];
    if (same_shape) {
      nnd_param_compare_weights(sn->weight, tn->weight, sn->wrank, sn->wdims, rtol, &d);
    } else {
      d.pattern = NND_PARAM_SHAPE;
      d.n_total = sn->wnumel;
      d.n_differ = sn->wnumel;
    }
    if (layer) {
      layer->has_weight = true;
      layer->weight = d;
    }
    if (!sn->weight || !tn->weight) {
      /* one side computes its weights at run time: nothing to compare statically */
      const nnd_cgraph *rc = sn->weight ? T : S;
      int32_t rn = sn->weight ? p->t : p->s;
      const nnd_node *head = &rc->graph->nodes[rc->nodes[rn].members[0].node];
      const char *from = "?";
      if (head->n_inputs > 1 && head->inputs[1] >= 0) {
        int32_t prod = rc->graph->values[head->inputs[1]].producer;
        from = prod >= 0 ? rc->graph->nodes[prod].name : rc->graph->values[head->inputs[1]].name;
      }
      nnd_finding *f = nnd__findings_add(out);
      if (!f) return nnd_error_set(err, NND_ERR_NOMEM, "out of memory");
      f->kind = NND_FINDING_PARAMETERS;
      f->code = "weights_not_comparable";
      f->pair = pi;
      f->t_cnode = p->t;
      f->s_cnode = p->s;
      f->param = d;
      f->severity = 0.3;
      param_nodes(f, S, T, false);
      set_text(f->text, sizeof f->text,
               "the %s computes this layer's weights at run time (from '%s'), the %s stores "
               "them: they cannot be compared statically",
               sn->weight ? "target" : "source", from, sn->weight ? "source" : "target");
      set_text(f->fix, sizeof f->fix,
               "store the weights as constants (fold '%s'), or check what it computes against the "
               "source's weights",
               from);
    } else if (d.pattern != NND_PARAM_EQUAL) {
      nnd_finding *f = nnd__findings_add(out);
      if (!f) return nnd_error_set(err, NND_ERR_NOMEM, "out of memory");
      f->kind = NND_FINDING_PARAMETERS;
      f->code = "weights";
      f->pair = pi;
      f->t_cnode = p->t;
      f->s_cnode = p->s;
      f->param = d;
      f->severity = param_severity(&d);
      param_nodes(f, S, T, false);
      if (d.pattern == NND_PARAM_SHAPE) {
        char a[96], b[96];
        fmt_ints(a, sizeof a, sn->wdims, sn->wrank);
        fmt_ints(b, sizeof b, tn->wdims, tn->wrank);
        set_text(f->text, sizeof f->text, "the weight shapes differ: source %s, target %s", a, b);
        set_text(f->fix, sizeof f->fix, "check the layer's definition against the source");
      } else {
        describe_weights(f, wname, &d);
      }
    }
    /* bias: absent counts as zeros on the source side, as "missing" on the target */
    int64_t nb = sn->weight ? (sn->nbias ? sn->nbias : (sn->wrank ? sn->wdims[0] : 0)) : 0;
    if (sn->op == NND_OP_CONV_TRANSPOSE) nb = sn->nbias;
    if (same_shape && nb > 0 && (sn->bias || tn->bias) && (!tn->bias || tn->nbias == nb) &&
        (!sn->bias || sn->nbias == nb)) {
      double *zeros = NULL;
      const double *sb = sn->bias;
      if (!sb) {
        zeros = calloc((size_t)nb, sizeof *zeros);
        if (!zeros) return nnd_error_set(err, NND_ERR_NOMEM, "out of memory");
        sb = zeros;
      }
      nnd_param_diff bd;
      nnd_param_compare_bias(sb, sn->bias ? sn->bias_mag : NULL, tn->bias, nb, rtol,
                             d.pattern == NND_PARAM_ROWS_ROLLED ? d.shift : 0, &bd);
      free(zeros);
      if (layer) {
        layer->has_bias = true;
        layer->bias = bd;
      }
      if (bd.pattern != NND_PARAM_EQUAL) {
        nnd_finding *f = nnd__findings_add(out);
        if (!f) return nnd_error_set(err, NND_ERR_NOMEM, "out of memory");
        f->kind = NND_FINDING_PARAMETERS;
        f->code = "bias";
        f->pair = pi;
        f->t_cnode = p->t;
        f->s_cnode = p->s;
        f->param = bd;
        f->severity = bd.pattern == NND_PARAM_MISSING || bd.pattern == NND_PARAM_ZEROED
                          ? 0.6
                          : param_severity(&bd);
        param_nodes(f, S, T, true);
        const char *after = S->nodes[p->s].n_members > 1 ? " (after BatchNorm folding)" : "";
        switch (bd.pattern) {
        case NND_PARAM_MISSING:
          set_text(f->text, sizeof f->text,
                   "bias missing: the target layer has no bias while the source's%s has mean |b| "
                   "%.3g (max %.3g) — the converter dropped the bias (or the folded BatchNorm "
                   "shift)",
                   after, bd.mean_abs_source, bd.max_abs);
          set_text(f->fix, sizeof f->fix, "add the source's bias%s to this layer", after);
          break;
        case NND_PARAM_ZEROED:
          set_text(f->text, sizeof f->text,
                   "bias differs: target bias is all zeros while the source's%s has mean |b| "
                   "%.3g — the converter dropped the bias",
                   after, bd.mean_abs_source);
          set_text(f->fix, sizeof f->fix, "copy the bias from the source%s", after);
          break;
        case NND_PARAM_ROWS_ROLLED:
          set_text(f->text, sizeof f->text,
                   "the bias is the source's rolled by %" PRId64 " (shifted class order)",
                   bd.shift);
          set_text(f->fix, sizeof f->fix, "roll the bias back by %" PRId64, bd.shift);
          break;
        default:
          set_text(f->text, sizeof f->text,
                   "bias differs: mean |bs - bt| %.3g (source mean |b| %.3g%s), max %.3g, "
                   "%" PRId64 "/%" PRId64 " elements beyond float rounding",
                   bd.mean_abs, bd.mean_abs_source, after, bd.max_abs, bd.n_differ, bd.n_total);
          set_text(f->fix, sizeof f->fix, "copy the bias from the source%s", after);
          break;
        }
      }
    }
  } else if (sn->cdata || tn->cdata) {
    /* elementwise with a constant operand */
    nnd_param_diff d;
    memset(&d, 0, sizeof d);
    if (sn->cdata && tn->cdata && sn->cnumel == tn->cnumel) {
      int64_t dims[1] = {1};
      int64_t cd[2] = {1, sn->cnumel};
      (void)dims;
      nnd_param_compare_weights(sn->cdata, tn->cdata, 2, cd, rtol, &d);
    } else {
      d.pattern = NND_PARAM_SHAPE;
    }
    if (d.pattern != NND_PARAM_EQUAL) {
      nnd_finding *f = nnd__findings_add(out);
      if (!f) return nnd_error_set(err, NND_ERR_NOMEM, "out of memory");
      f->kind = NND_FINDING_PARAMETERS;
      f->code = "constant";
      f->pair = pi;
      f->t_cnode = p->t;
      f->s_cnode = p->s;
      f->param = d;
      f->severity = d.pattern == NND_PARAM_SHAPE ? 0.5 : param_severity(&d);
      param_nodes(f, S, T, false);
      set_text(f->text, sizeof f->text,
               "the constant operand of this %s differs: mean |d| %.3g, max %.3g%s",
               op_title(T, p->t), d.mean_abs, d.max_abs,
               d.pattern == NND_PARAM_SHAPE ? " (or is missing on one side)" : "");
      set_text(f->fix, sizeof f->fix, "copy the constant from the source");
    }
  }
  return NND_OK;
}

/* Which members name a hyperparameter. */
static unsigned hyper_roles(const char *name) {
  if (strcmp(name, "activation") == 0) return ROLE(NND_CROLE_ACT);
  if (strcmp(name, "pads") == 0) return ROLE(NND_CROLE_HEAD) | ROLE(NND_CROLE_PAD);
  return ROLE(NND_CROLE_HEAD);
}

static void hyper_fix(nnd_finding *f, const hyper_item *it) {
  if (strcmp(it->name, "activation") == 0)
    set_text(f->fix, sizeof f->fix, "use the source's activation %s instead of %s", it->s, it->t);
  else
    set_text(f->fix, sizeof f->fix, "set %s to the source's %s", it->name, it->s);
}

/* "strides differ", "groups differ", "kernel differs" */
static const char *verb(const char *name) {
  size_t n = strlen(name);
  return n > 1 && name[n - 1] == 's' ? "differ" : "differs";
}

static nnd_status hyper_findings(const nnd_cgraph *S, const nnd_cgraph *T, const nnd_alignment *A,
                                 int32_t pi, nnd__findings *out, nnd_error *err) {
  const nnd_align_pair *p = &A->pairs[pi];
  const nnd_cnode *sn = &S->nodes[p->s], *tn = &T->nodes[p->t];
  hyper_list h;
  hyper_collect(S, p->s, T, p->t, &h);
  for (int i = 0; i < h.n; i++) {
    const hyper_item *it = &h.items[i];
    nnd_finding *f = nnd__findings_add(out);
    if (!f) return nnd_error_set(err, NND_ERR_NOMEM, "out of memory");
    f->kind = NND_FINDING_HYPERPARAMETERS;
    f->code = it->name;
    f->pair = pi;
    f->t_cnode = p->t;
    f->s_cnode = p->s;
    f->equivalent = it->equivalent;
    f->severity = it->equivalent ? 0 : 0.6;
    snprintf(f->source_value, sizeof f->source_value, "%s", it->s);
    snprintf(f->target_value, sizeof f->target_value, "%s", it->t);
    unsigned roles = hyper_roles(it->name);
    nnd__add_cnode_members(T, p->t, roles, f->t_nodes, &f->n_t_nodes, NND_FINDING_MAX_NODES);
    nnd__add_cnode_members(S, p->s, roles, f->s_nodes, &f->n_s_nodes, NND_FINDING_MAX_NODES);
    if (f->n_t_nodes == 0)
      nnd__add_cnode_members(T, p->t, ROLE(NND_CROLE_HEAD), f->t_nodes, &f->n_t_nodes,
                             NND_FINDING_MAX_NODES);
    if (f->n_s_nodes == 0)
      nnd__add_cnode_members(S, p->s, ROLE(NND_CROLE_HEAD), f->s_nodes, &f->n_s_nodes,
                             NND_FINDING_MAX_NODES);
    if (it->equivalent) {
      set_text(f->text, sizeof f->text, "%s %s (source %s, target %s) but is equivalent here: %s",
               it->name, verb(it->name), it->s, it->t, it->why);
    } else if (strcmp(it->name, "pads") == 0) {
      set_text(f->text, sizeof f->text,
               "effective padding differs: source pads %s, target pads %s (ONNX order: begins, "
               "then ends; absorbed zero Pads included)%s",
               it->s, it->t,
               sn->n_outputs && tn->n_outputs &&
                       nnd__shape_score(cvalue_shape(S, sn->outputs[0]),
                                        cvalue_shape(T, tn->outputs[0])) >= 1.0
                   ? ": same output size, content shifted"
                   : "");
    } else if (strcmp(it->name, "activation") == 0) {
      set_text(f->text, sizeof f->text, "activation differs: source %s, target %s", it->s, it->t);
    } else {
      set_text(f->text, sizeof f->text, "%s %s: source %s, target %s", it->name, verb(it->name),
               it->s, it->t);
    }
    hyper_fix(f, it);
  }
  if (p->inputs_reordered) {
    nnd_finding *f = nnd__findings_add(out);
    if (!f) return nnd_error_set(err, NND_ERR_NOMEM, "out of memory");
    f->kind = NND_FINDING_HYPERPARAMETERS;
    f->code = "input_order";
    f->pair = pi;
    f->t_cnode = p->t;
    f->s_cnode = p->s;
    f->severity = 0.6;
    nnd__add_cnode_members(T, p->t, ROLE(NND_CROLE_HEAD), f->t_nodes, &f->n_t_nodes,
                           NND_FINDING_MAX_NODES);
    nnd__add_cnode_members(S, p->s, ROLE(NND_CROLE_HEAD), f->s_nodes, &f->n_s_nodes,
                           NND_FINDING_MAX_NODES);
    snprintf(f->source_value, sizeof f->source_value, "in order");
    snprintf(f->target_value, sizeof f->target_value, "reordered");
    set_text(f->text, sizeof f->text,
             "the inputs of this %s are in another order than the source's (same tensors, "
             "swapped operands%s)",
             op_title(T, p->t),
             tn->op == NND_OP_CONCAT ? ": the channel blocks come out swapped" : "");
    set_text(f->fix, sizeof f->fix, "restore the source's input order");
  }
  if (p->kind == NND_MATCH_SUBSTITUTED) {
    nnd_finding *f = nnd__findings_add(out);
    if (!f) return nnd_error_set(err, NND_ERR_NOMEM, "out of memory");
    f->kind = NND_FINDING_GRAPH;
    f->code = "substituted";
    f->pair = pi;
    f->t_cnode = p->t;
    f->s_cnode = p->s;
    nnd__add_cnode_members(T, p->t, ROLE(NND_CROLE_HEAD), f->t_nodes, &f->n_t_nodes,
                           NND_FINDING_MAX_NODES);
    nnd__add_cnode_members(S, p->s, ROLE(NND_CROLE_HEAD), f->s_nodes, &f->n_s_nodes,
                           NND_FINDING_MAX_NODES);
    snprintf(f->source_value, sizeof f->source_value, "%s", op_title(S, p->s));
    snprintf(f->target_value, sizeof f->target_value, "%s", op_title(T, p->t));
    /* equivalent substitutions: activations computing the same function,
     * views producing the same shape (element order kept) */
    bool eq = false;
    const char *why = "";
    bool fam_views = nnd_op_info_get(sn->op)->family == NND_FAMILY_RESHAPE &&
                     nnd_op_info_get(tn->op)->family == NND_FAMILY_RESHAPE;
    if (fam_views && sn->n_outputs && tn->n_outputs &&
        nnd__shape_score(cvalue_shape(S, sn->outputs[0]), cvalue_shape(T, tn->outputs[0])) >= 1.0 &&
        sn->in_layout == tn->in_layout) {
      eq = true;
      why = "both only reshape (element order kept) to the same shape";
    } else if (nnd__op_score(sn->op, tn->op) > 0 && sn->act.kind != NND_ACT_NONE &&
               nnd_cact_equal(sn->act, tn->act) && sn->n_inputs == 1 && tn->n_inputs == 1 &&
               !sn->weight && !tn->weight) {
      eq = true;
      why = "both compute the same activation";
    }
    f->equivalent = eq;
    f->severity = eq ? 0 : 0.65;
    if (eq)
      set_text(f->text, sizeof f->text,
               "the target uses %s where the source uses %s: equivalent, %s", f->target_value,
               f->source_value, why);
    else
      set_text(f->text, sizeof f->text,
               "the target computes %s where the source computes %s (same inputs, same place in "
               "the graph): not the same function",
               f->target_value, f->source_value);
    set_text(f->fix, sizeof f->fix,
             "replace the target's %s with the source's %s (same attributes)", f->target_value,
             f->source_value);
  }
  return NND_OK;
}

/* Is canonical node n (extra in one model) equivalent to nothing? */
static bool unmatched_equivalent(const nnd_cgraph *c, int32_t cn, const char **why) {
  const nnd_cnode *n = &c->nodes[cn];
  *why = "";
  if (nnd_op_info_get(n->op)->family == NND_FAMILY_RESHAPE) {
    if (n->act.kind != NND_ACT_NONE) return false;
    if (n->op == NND_OP_FLATTEN && n->in_layout == NND_LAYOUT_NHWC && n->n_inputs) {
      const nnd_shape *x = cvalue_shape(c, n->inputs[0]);
      if (x->rank == 4 && x->dims[1].size * x->dims[2].size != 1) return false;
    }
    *why = "it only reshapes (element order kept)";
    return true;
  }
  switch (n->op) {
  case NND_OP_PAD: {
    if (n->act.kind != NND_ACT_NONE || !n->attrs.has_pads) return false;
    for (int d = 0; d < n->attrs.n_pads; d++)
      if (n->attrs.pads_begin[d] || n->attrs.pads_end[d]) return false;
    *why = "it pads nothing";
    return true;
  }
  case NND_OP_TRANSPOSE: {
    if (n->act.kind != NND_ACT_NONE) return false;
    for (int d = 0; d < n->attrs.n_perm; d++)
      if (n->attrs.perm[d] != d) return false;
    *why = "its permutation is the identity";
    return true;
  }
  case NND_OP_MUL:
  case NND_OP_DIV:
  case NND_OP_ADD:
  case NND_OP_SUB: {
    if (!n->cdata || n->n_inputs != 1 || n->act.kind != NND_ACT_NONE) return false;
    double id = n->op == NND_OP_MUL || n->op == NND_OP_DIV ? 1.0 : 0.0;
    for (int64_t k = 0; k < n->cnumel; k++)
      if (n->cdata[k] != id) return false;
    *why = "it applies an identity constant";
    return true;
  }
  default: return false;
  }
}

static void describe_unmatched(nnd_finding *f, const nnd_cgraph *c, int32_t cn, bool extra) {
  const nnd_cnode *n = &c->nodes[cn];
  const char *side = extra ? "the target has" : "the target lacks";
  const char *where = extra ? "that the source does not have" : "that the source has";
  char detail[200] = "";
  if (n->op == NND_OP_PAD && n->attrs.has_pads) {
    char pads[96];
    fmt_pads(pads, sizeof pads, n->attrs.pads_begin, n->attrs.pads_end, n->attrs.n_pads);
    snprintf(detail, sizeof detail, " (mode %s, pads %s%s)",
             n->attrs.pad_mode == NND_PAD_REFLECT ? "reflect"
             : n->attrs.pad_mode == NND_PAD_EDGE  ? "edge"
                                                  : "constant",
             pads,
             n->attrs.pad_mode == NND_PAD_CONSTANT && n->attrs.pad_value != 0 ? ", non-zero value"
                                                                              : "");
  } else if (n->op == NND_OP_SOFTMAX || n->op == NND_OP_LOG_SOFTMAX) {
    bool at_out = n->n_outputs && c->values[n->outputs[0]].is_output;
    snprintf(detail, sizeof detail, "%s",
             at_out ? " at the output: it turns logits into probabilities (top-1 labels unchanged, "
                      "values not)"
                    : "");
  } else if (n->op == NND_OP_TRANSPOSE) {
    char perm[96];
    fmt_ints(perm, sizeof perm, n->attrs.perm, n->attrs.n_perm);
    snprintf(detail, sizeof detail, " (perm %s)", perm);
  } else if (n->act.kind != NND_ACT_NONE) {
    char a[64];
    nnd_cact_format(n->act, a, sizeof a);
    snprintf(detail, sizeof detail, " (%s)", a);
  }
  const char *why;
  bool eq = unmatched_equivalent(c, cn, &why);
  f->equivalent = eq;
  if (eq)
    set_text(f->text, sizeof f->text, "%s a %s node%s %s: equivalent, %s", side,
             nnd_cnode_op_type(c, cn), detail, where, why);
  else
    set_text(f->text, sizeof f->text, "%s a %s node%s %s: not equivalent", side,
             nnd_cnode_op_type(c, cn), detail, where);
  if (extra)
    set_text(f->fix, sizeof f->fix, "remove the %s node from the target%s",
             nnd_cnode_op_type(c, cn),
             n->op == NND_OP_PAD ? " and give the next layer the source's padding" : "");
  else
    set_text(f->fix, sizeof f->fix, "add the source's %s node to the target",
             nnd_cnode_op_type(c, cn));
}

static nnd_status graph_findings(const nnd_cgraph *S, const nnd_cgraph *T, const nnd_alignment *A,
                                 nnd__findings *out, nnd_error *err) {
  for (int32_t i = 0; i < A->n_extra; i++) {
    int32_t t = A->extra[i];
    nnd_finding *f = nnd__findings_add(out);
    if (!f) return nnd_error_set(err, NND_ERR_NOMEM, "out of memory");
    f->kind = NND_FINDING_GRAPH;
    f->code = "extra_node";
    f->t_cnode = t;
    nnd__add_cnode_members(T, t, 0, f->t_nodes, &f->n_t_nodes, NND_FINDING_MAX_NODES);
    describe_unmatched(f, T, t, true);
    f->severity = f->equivalent ? 0 : 0.55;
    snprintf(f->target_value, sizeof f->target_value, "%s", nnd_cnode_op_type(T, t));
  }
  for (int32_t i = 0; i < A->n_missing; i++) {
    int32_t s = A->missing[i];
    nnd_finding *f = nnd__findings_add(out);
    if (!f) return nnd_error_set(err, NND_ERR_NOMEM, "out of memory");
    f->kind = NND_FINDING_GRAPH;
    f->code = "missing_node";
    f->s_cnode = s;
    nnd__add_cnode_members(S, s, 0, f->s_nodes, &f->n_s_nodes, NND_FINDING_MAX_NODES);
    describe_unmatched(f, S, s, false);
    f->severity = f->equivalent ? 0 : 0.55;
    snprintf(f->source_value, sizeof f->source_value, "%s", nnd_cnode_op_type(S, s));
  }
  return NND_OK;
}

nnd_status nnd__static_findings(const nnd_cgraph *S, const nnd_cgraph *T, const nnd_alignment *A,
                                double rtol, nnd__findings *out, nnd_layer_result *layers,
                                int32_t n_layers, nnd_error *err) {
  for (int32_t pi = 0; pi < A->n_pairs; pi++) {
    nnd_layer_result *layer = NULL;
    for (int32_t l = 0; l < n_layers; l++)
      if (layers[l].pair == pi) layer = &layers[l];
    nnd_status st = param_findings(S, T, A, pi, rtol, out, layer, err);
    if (st == NND_OK) st = hyper_findings(S, T, A, pi, out, err);
    if (st != NND_OK) return st;
  }
  nnd_status st = graph_findings(S, T, A, out, err);
  for (int32_t i = 0; st == NND_OK && i < out->n; i++) nnd__finding_edits(S, T, &out->items[i]);
  return st;
}
