/* Candidate edits for repair, on the target AS LOADED.
 *
 * localize's findings carry edits on its analysis form (a clone brought to
 * the normal form: same value ids, nodes renumbered where passes removed
 * some, constants folded through Cast and Identity). A writer patches the
 * file, so repair needs the edits on the graph the file gave: nodes are
 * found again by name (names are unique and the clone keeps them), a
 * constant by name and then back through the Cast/Identity/Dropout chain
 * that fed it, its new data converted to that constant's own dtype. Where
 * localize had no exact edit because of the target's layout (a dense layer
 * spelled MatMul [in, out] + Add), the source's weights are converted to
 * that layout here. A finding whose edit has no counterpart in the loaded
 * graph is counted, not guessed. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "analysis/repair_internal.h"

static int32_t find_node(const nnd_graph *g, const char *name) {
  if (!name || !*name) return -1;
  for (int32_t i = 0; i < g->n_nodes; i++)
    if (g->nodes[i].name && strcmp(g->nodes[i].name, name) == 0) return i;
  return -1;
}

/* The constant value v reads, through nodes that pass their input on
 * unchanged in shape (Identity, Dropout, Cast); -1 when there is none. */
static int32_t source_constant(const nnd_graph *g, int32_t v) {
  for (int step = 0; step < 8 && v >= 0 && v < g->n_values; step++) {
    const nnd_value *val = &g->values[v];
    if (val->kind == NND_VALUE_CONSTANT && val->data) return v;
    if (val->producer < 0) return -1;
    const nnd_node *n = &g->nodes[val->producer];
    if (n->op != NND_OP_IDENTITY && n->op != NND_OP_DROPOUT && n->op != NND_OP_CAST) return -1;
    if (n->n_inputs < 1) return -1;
    v = n->inputs[0];
  }
  return -1;
}

static void *keep(nnd__repair_units *u, void *p) {
  if (!p) return NULL;
  if (u->n_owned == u->cap_owned) {
    int cap = u->cap_owned ? 2 * u->cap_owned : 16;
    void **q = realloc(u->owned, (size_t)cap * sizeof *q);
    if (!q) {
      free(p);
      return NULL;
    }
    u->owned = q;
    u->cap_owned = cap;
  }
  u->owned[u->n_owned++] = p;
  return p;
}

/* n doubles as a buffer of dtype; NULL for dtypes weights are not held in. */
static void *convert(const double *x, int64_t n, nnd_dtype dtype, size_t *nbytes) {
  size_t es = nnd_dtype_size(dtype);
  if (dtype != NND_DTYPE_F32 && dtype != NND_DTYPE_F64 && dtype != NND_DTYPE_F16 &&
      dtype != NND_DTYPE_BF16)
    return NULL;
  void *buf = malloc((size_t)(n ? n : 1) * es);
  if (!buf) return NULL;
  for (int64_t i = 0; i < n; i++) {
    if (dtype == NND_DTYPE_F64) {
      ((double *)buf)[i] = x[i];
    } else if (dtype == NND_DTYPE_F32) {
      ((float *)buf)[i] = (float)x[i];
    } else if (dtype == NND_DTYPE_F16) {
      ((uint16_t *)buf)[i] = nnd_f32_to_f16((float)x[i]);
    } else {
      /* bfloat16: the top half of the float32, rounded to nearest even */
      float f = (float)x[i];
      uint32_t b;
      memcpy(&b, &f, 4);
      uint32_t r = b + 0x7fffu + ((b >> 16) & 1u);
      ((uint16_t *)buf)[i] = isnan(f) ? (uint16_t)0x7fc0u : (uint16_t)(r >> 16);
    }
  }
  *nbytes = (size_t)n * es;
  return buf;
}

/* A SET_CONSTANT of doubles (n of them) into the loaded constant behind
 * value `v_loaded`; false when there is none of that size. */
static bool constant_edit(nnd__repair_units *u, const nnd_graph *L, int32_t v_loaded,
                          const double *x, int64_t n, const char *field, const char *new_text,
                          nnd_edit *out) {
  int32_t c = source_constant(L, v_loaded);
  if (c < 0 || nnd_value_data_count(&L->values[c]) != n) return false;
  const nnd_value *cv = &L->values[c];
  size_t nbytes = 0;
  void *buf = keep(u, convert(x, n, cv->dtype, &nbytes));
  if (!buf) return false;
  nnd_edit_init_value(out, L, NND_EDIT_SET_CONSTANT, c);
  out->data = buf;
  out->nbytes = nbytes;
  snprintf(out->field, sizeof out->field, "%s", field);
  snprintf(out->old_text, sizeof out->old_text, "current values");
  snprintf(out->new_text, sizeof out->new_text, "%s", new_text);
  return true;
}

static bool same_shape(const nnd_shape *a, const nnd_shape *b) {
  if (a->rank != b->rank || a->rank < 0) return false;
  for (int k = 0; k < a->rank; k++)
    if (a->dims[k].size != b->dims[k].size) return false;
  return true;
}

/* localize's edit (on r->target) on the loaded graph L. */
static bool map_edit(nnd__repair_units *u, const nnd_localize_result *r, const nnd_graph *L,
                     const nnd_edit *e, nnd_edit *out) {
  const nnd_graph *A = r->target;
  if (e->node >= 0) {
    if (e->node >= A->n_nodes) return false;
    const nnd_node *an = &A->nodes[e->node];
    int32_t k = find_node(L, an->name);
    if (k < 0 || L->nodes[k].op != an->op) return false;
    *out = *e;
    out->node = k;
    if (e->kind == NND_EDIT_REMOVE_NODE) {
      const nnd_node *ln = &L->nodes[k];
      if (ln->n_inputs < 1 || ln->inputs[0] < 0 || ln->n_outputs != 1) return false;
      /* an inserted node passes its input's shape on (a Softmax, a
       * Transpose of equal dims); a Pad only goes with its convolution's
       * pads (the suspect's edits together) */
      if (ln->op != NND_OP_PAD && !same_shape(&L->values[ln->inputs[0]].shape,
                                              &L->values[ln->outputs[0]].shape))
        return false;
    }
    return e->kind == NND_EDIT_SET_ATTRS || e->kind == NND_EDIT_SET_OP ||
           e->kind == NND_EDIT_REMOVE_NODE;
  }
  if (e->kind != NND_EDIT_SET_CONSTANT || e->value < 0 || e->value >= A->n_values) return false;
  if (e->dtype != NND_DTYPE_F64 || !e->data) return false;
  int32_t lv = nnd_graph_find_value(L, A->values[e->value].name);
  if (lv < 0) return false;
  if (!constant_edit(u, L, lv, e->data, (int64_t)(e->nbytes / sizeof(double)), e->field,
                     e->new_text, out))
    return false;
  snprintf(out->old_text, sizeof out->old_text, "%s", e->old_text);
  return true;
}

static bool has_role(const nnd_cnode *cn, nnd_crole role) {
  for (int m = 0; m < cn->n_members; m++)
    if (cn->members[m].role == role) return true;
  return false;
}

/* Both layers keep their BatchNorm as a node of its own: the folded
 * weights are not what the target's convolution holds, so the source
 * convolution's own weights go in as they are (same layout, same count). */
static bool raw_weight_edit(nnd__repair_units *u, const nnd_localize_result *r,
                            const nnd_graph *L, const nnd_cnode *sn, const nnd_node *thead,
                            nnd_edit *out) {
  const nnd_node *shead = &r->source->nodes[sn->members[0].node];
  if (shead->op != NND_OP_CONV || thead->op != NND_OP_CONV || shead->n_inputs < 2 ||
      thead->n_inputs < 2 || shead->attrs.conv.weight_layout != thead->attrs.conv.weight_layout)
    return false;
  int32_t sw = source_constant(r->source, shead->inputs[1]);
  if (sw < 0) return false;
  const nnd_value *sv = &r->source->values[sw];
  int64_t n = nnd_value_data_count(sv);
  double *x = keep(u, malloc((size_t)(n ? n : 1) * sizeof *x));
  if (!x) return false;
  for (int64_t i = 0; i < n; i++)
    if (!nnd_value_read_f64(sv, i, &x[i])) return false;
  int32_t lv = nnd_graph_find_value(L, r->target->values[thead->inputs[1]].name);
  return lv >= 0 && constant_edit(u, L, lv, x, n, "weights",
                                  "the source convolution's own (its BatchNorm kept apart)", out);
}

/* A parameter finding localize had no exact edit for because the target's
 * dense layer is MatMul [in, out] (or Gemm without transB) with its bias in
 * an Add: the source's weights transposed, its bias into the Add's
 * constant. */
static bool layout_edit(nnd__repair_units *u, const nnd_localize_result *r, const nnd_graph *L,
                        const nnd_finding *f, nnd_edit *out) {
  if (f->kind != NND_FINDING_PARAMETERS || f->s_cnode < 0 || f->t_cnode < 0 || !f->code)
    return false;
  const nnd_cnode *sn = &r->cs->nodes[f->s_cnode], *tn = &r->ct->nodes[f->t_cnode];
  const nnd_graph *A = r->target;
  const nnd_node *head = &A->nodes[tn->members[0].node];
  if (has_role(tn, NND_CROLE_BN) && has_role(sn, NND_CROLE_BN) && strcmp(f->code, "weights") == 0)
    return raw_weight_edit(u, r, L, sn, head, out);
  if (has_role(tn, NND_CROLE_BN) || has_role(tn, NND_CROLE_SCALE)) return false;
  bool dense_io = head->op == NND_OP_MATMUL || (head->op == NND_OP_GEMM && !head->attrs.trans_b);
  if (strcmp(f->code, "weights") == 0) {
    if (!dense_io || head->n_inputs < 2 || !sn->weight || sn->wrank != 2) return false;
    int64_t O = sn->wdims[0], I = sn->wdims[1];
    const nnd_value *w = &A->values[head->inputs[1]];
    if (w->shape.rank != 2 || w->shape.dims[0].size != I || w->shape.dims[1].size != O)
      return false;
    double *t = keep(u, malloc((size_t)(O * I) * sizeof *t));
    if (!t) return false;
    for (int64_t o = 0; o < O; o++)
      for (int64_t i = 0; i < I; i++)
        t[i * O + o] = sn->weight[o * I + i];
    int32_t lv = nnd_graph_find_value(L, w->name);
    return lv >= 0 && constant_edit(u, L, lv, t, O * I, "weights",
                                    "the source's, transposed to [in, out]", out);
  }
  if (strcmp(f->code, "bias") == 0 && sn->bias && !has_role(tn, NND_CROLE_BIAS) &&
      (head->op == NND_OP_CONV || (head->op == NND_OP_GEMM && head->attrs.trans_b)) &&
      (head->n_inputs < 3 || head->inputs[2] < 0) && head->n_inputs >= 2) {
    /* the bias dropped: a new one, in the weights' dtype */
    int32_t k = find_node(L, head->name);
    int32_t wc = k >= 0 && L->nodes[k].n_inputs >= 2 ? source_constant(L, L->nodes[k].inputs[1])
                                                     : -1;
    if (wc < 0) return false;
    size_t nbytes = 0;
    void *buf = keep(u, convert(sn->bias, sn->nbias, L->values[wc].dtype, &nbytes));
    if (!buf) return false;
    nnd_edit_init_node(out, L, NND_EDIT_ADD_INPUT, k);
    out->slot = 2;
    out->dtype = L->values[wc].dtype;
    memset(&out->shape, 0, sizeof out->shape);
    out->shape.rank = 1;
    out->shape.dims[0].size = sn->nbias;
    out->data = buf;
    out->nbytes = nbytes;
    snprintf(out->new_name, sizeof out->new_name, "%.100s.bias_nndiff", head->name);
    snprintf(out->field, sizeof out->field, "input[2]");
    snprintf(out->old_text, sizeof out->old_text, "no bias");
    snprintf(out->new_text, sizeof out->new_text, "the source's bias (%lld values)",
             (long long)sn->nbias);
    return true;
  }
  if (strcmp(f->code, "bias") == 0) {
    if (!sn->bias || !has_role(tn, NND_CROLE_BIAS)) return false;
    /* the head's own bias would be summed with the Add's */
    if ((head->op == NND_OP_CONV || head->op == NND_OP_GEMM) && head->n_inputs > 2 &&
        head->inputs[2] >= 0)
      return false;
    for (int m = 0; m < tn->n_members; m++) {
      if (tn->members[m].role != NND_CROLE_BIAS) continue;
      const nnd_node *add = &A->nodes[tn->members[m].node];
      for (int k = 0; k < add->n_inputs; k++) {
        int32_t v = add->inputs[k];
        if (v < 0 || A->values[v].kind != NND_VALUE_CONSTANT) continue;
        int32_t lv = nnd_graph_find_value(L, A->values[v].name);
        if (lv >= 0 &&
            constant_edit(u, L, lv, sn->bias, sn->nbias, "bias", "the source's bias (in the Add)",
                          out))
          return true;
      }
    }
  }
  return false;
}

/* An op the target computes differently: the source head's op and
 * attributes on the target's head (Sub -> Add, GlobalMaxPool ->
 * GlobalAveragePool, MaxPool -> AveragePool). Only for single nodes of the
 * same arity, so the inputs keep their meaning. */
static bool op_edit(const nnd_localize_result *r, const nnd_graph *L, const nnd_finding *f,
                    nnd_edit *out) {
  if (f->s_cnode < 0 || f->t_cnode < 0) return false;
  const nnd_cnode *sn = &r->cs->nodes[f->s_cnode], *tn = &r->ct->nodes[f->t_cnode];
  const nnd_node *sh = &r->source->nodes[sn->members[0].node];
  const nnd_node *th = &r->target->nodes[tn->members[0].node];
  if (sh->op == th->op || sh->n_inputs != th->n_inputs || sh->n_outputs != th->n_outputs)
    return false;
  if (sh->op == NND_OP_UNSUPPORTED || sh->op == NND_OP_CONV || sh->op == NND_OP_GEMM ||
      sh->op == NND_OP_MATMUL)
    return false;
  int32_t k = find_node(L, th->name);
  if (k < 0) return false;
  nnd_edit_init_node(out, L, NND_EDIT_SET_OP, k);
  out->op = sh->op;
  out->attrs = sh->attrs;
  out->act = sh->act;
  snprintf(out->field, sizeof out->field, "op");
  snprintf(out->old_text, sizeof out->old_text, "%s", nnd_op_name(th->op));
  snprintf(out->new_text, sizeof out->new_text, "%s", nnd_op_name(sh->op));
  return true;
}

/* Operands in another order than the source's (a Concat's channel blocks
 * swapped): each input slot of the target's head given the target tensor
 * aligned with the source's operand in that slot, as SET_INPUT edits that
 * only make sense together. */
static int order_edits(const nnd_localize_result *r, const nnd_graph *L, const nnd_finding *f,
                       nnd_edit *out, int cap) {
  if (!f->code || strcmp(f->code, "input_order") != 0 || f->s_cnode < 0 || f->t_cnode < 0)
    return 0;
  const nnd_cnode *sn = &r->cs->nodes[f->s_cnode], *tn = &r->ct->nodes[f->t_cnode];
  const nnd_node *th = &r->target->nodes[tn->members[0].node];
  int32_t k = find_node(L, th->name);
  if (k < 0 || tn->n_inputs != sn->n_inputs || tn->n_inputs != th->n_inputs ||
      L->nodes[k].n_inputs != th->n_inputs)
    return 0;
  int n = 0;
  for (int j = 0; j < sn->n_inputs; j++) {
    int from = -1;
    for (int i = 0; i < tn->n_inputs && from < 0; i++)
      if (r->align->tv_partner[tn->inputs[i]] == sn->inputs[j]) from = i;
    if (from < 0) return 0; /* not a permutation of the same tensors */
    if (from == j) continue;
    if (n == cap) return 0;
    nnd_edit *e = &out[n++];
    nnd_edit_init_node(e, L, NND_EDIT_SET_INPUT, k);
    e->slot = j;
    e->new_value = L->nodes[k].inputs[from];
    snprintf(e->field, sizeof e->field, "input[%d]", j);
    snprintf(e->old_text, sizeof e->old_text, "%.90s", L->values[L->nodes[k].inputs[j]].name);
    snprintf(e->new_text, sizeof e->new_text, "%.90s", L->values[e->new_value].name);
  }
  return n;
}

/* A gated activation spelled x * HardSigmoid(a, b) in the target where the
 * source's normal form has other slopes (HardSwish is x * HardSigmoid(1/6,
 * 1/2)): the source's alpha and beta on the target's HardSigmoid node. */
static bool gate_edit(const nnd_localize_result *r, const nnd_graph *L, const nnd_finding *f,
                      nnd_edit *out) {
  if (!f->code || strcmp(f->code, "activation") != 0 || f->s_cnode < 0 || f->t_cnode < 0)
    return false;
  const nnd_cnode *sn = &r->cs->nodes[f->s_cnode], *tn = &r->ct->nodes[f->t_cnode];
  nnd_cact sa = nnd_cact_normal(sn->act), ta = nnd_cact_normal(tn->act);
  if (sa.kind != NND_ACT_HARD_SIGMOID || ta.kind != NND_ACT_HARD_SIGMOID || sa.gated != ta.gated)
    return false;
  int32_t hs = -1;
  for (int m = 0; m < tn->n_members; m++) {
    const nnd_node *n = &r->target->nodes[tn->members[m].node];
    if (n->op == NND_OP_HARD_SIGMOID) {
      if (hs >= 0) return false;
      hs = find_node(L, n->name);
      if (hs < 0) return false;
    }
  }
  if (hs < 0) return false;
  nnd_edit_init_node(out, L, NND_EDIT_SET_ATTRS, hs);
  out->attrs.alpha = sa.alpha;
  out->attrs.beta = sa.beta;
  snprintf(out->field, sizeof out->field, "alpha, beta");
  snprintf(out->old_text, sizeof out->old_text, "%g, %g", (double)L->nodes[hs].attrs.alpha,
           (double)L->nodes[hs].attrs.beta);
  snprintf(out->new_text, sizeof out->new_text, "%g, %g", (double)sa.alpha, (double)sa.beta);
  return true;
}

/* The edits that fix finding fi, all applied together (0..cap). */
static int finding_edits(nnd__repair_units *u, const nnd_localize_result *r, const nnd_graph *L,
                         int32_t fi, nnd_edit *out, int cap) {
  const nnd_finding *f = &r->findings[fi];
  if (f->equivalent) return 0;
  int n_order = order_edits(r, L, f, out, cap);
  if (n_order) return n_order;
  if (f->has_edit) {
    /* a Clip's bound inputs follow its attributes (nnd_edit_apply, and the
     * writer likewise): no edit of their constants of its own */
    if (map_edit(u, r, L, &f->edit, &out[0])) return 1;
    u->n_unmappable++;
    return 0;
  }
  if (layout_edit(u, r, L, f, &out[0])) return 1;
  if (gate_edit(r, L, f, &out[0])) return 1;
  if ((f->kind == NND_FINDING_GRAPH || f->kind == NND_FINDING_HYPERPARAMETERS) &&
      op_edit(r, L, f, &out[0]))
    return 1;
  return 0;
}

static bool same_edit(const nnd_edit *a, const nnd_edit *b) {
  return a->kind == b->kind && a->node == b->node && a->value == b->value &&
         strcmp(a->field, b->field) == 0;
}

static bool seen(const nnd__repair_units *u, const nnd_edit *e) {
  for (int i = 0; i < u->n; i++)
    if (u->items[i].n == 1 && same_edit(&u->items[i].edits[0], e)) return true;
  return false;
}

static nnd__repair_unit *add_unit(nnd__repair_units *u) {
  if (u->n == u->cap) {
    int cap = u->cap ? 2 * u->cap : 16;
    nnd__repair_unit *q = realloc(u->items, (size_t)cap * sizeof *q);
    if (!q) return NULL;
    u->items = q;
    u->cap = cap;
  }
  nnd__repair_unit *x = &u->items[u->n++];
  memset(x, 0, sizeof *x);
  return x;
}

nnd_status nnd__repair_candidates(const nnd_localize_result *r, const nnd_graph *L,
                                  nnd__repair_units *u, nnd_error *err) {
  memset(u, 0, sizeof *u);
  bool *done = calloc((size_t)(r->n_findings ? r->n_findings : 1), sizeof *done);
  if (!done) return nnd_error_set(err, NND_ERR_NOMEM, "out of memory listing repair candidates");
  for (int32_t s = 0; s <= r->n_suspects; s++) {
    /* s == n_suspects: the findings of no suspect, each on its own */
    const nnd_suspect *sp = s < r->n_suspects ? &r->suspects[s] : NULL;
    int n_find = sp ? sp->n_findings : r->n_findings;
    nnd__repair_unit group = {0};
    int n_units_here = 0;
    for (int k = 0; k < n_find; k++) {
      int32_t fi = sp ? sp->findings[k] : k;
      if (fi < 0 || fi >= r->n_findings || done[fi]) continue;
      done[fi] = true;
      nnd_edit e[NND__REPAIR_UNIT_MAX];
      int ne = finding_edits(u, r, L, fi, e, NND__REPAIR_UNIT_MAX);
      if (ne == 0 || (ne == 1 && seen(u, &e[0]))) continue;
      nnd__repair_unit *x = add_unit(u);
      if (!x) goto nomem;
      x->n = ne;
      x->suspect_rank = sp ? sp->rank : 0;
      for (int j = 0; j < ne; j++) {
        x->edits[j] = e[j];
        x->finding[j] = fi;
        if (group.n < NND__REPAIR_UNIT_MAX) {
          group.edits[group.n] = e[j];
          group.finding[group.n++] = fi;
        }
      }
      n_units_here++;
    }
    if (sp && n_units_here >= 2) {
      group.suspect_rank = sp->rank;
      nnd__repair_unit *x = add_unit(u);
      if (!x) goto nomem;
      *x = group;
    }
  }
  free(done);
  return NND_OK;
nomem:
  free(done);
  return nnd_error_set(err, NND_ERR_NOMEM, "out of memory listing repair candidates");
}

void nnd__repair_units_free(nnd__repair_units *u) {
  if (!u) return;
  for (int i = 0; i < u->n_owned; i++)
    free(u->owned[i]);
  free(u->owned);
  free(u->items);
  memset(u, 0, sizeof *u);
}

static void append(char *buf, size_t cap, const char *name) {
  size_t n = strlen(buf);
  if (!name || !*name || n + 1 >= cap) return;
  snprintf(buf + n, cap - n, "%s%s", n ? ", " : "", name);
}

void nnd__repair_edit_names(const nnd_localize_result *r, const nnd_graph *L, const nnd_edit *e,
                            int32_t fi, char *tnames, size_t tcap, char *snames, size_t scap) {
  tnames[0] = snames[0] = '\0';
  if (e->node >= 0 && e->node < L->n_nodes) append(tnames, tcap, L->nodes[e->node].name);
  if (e->value >= 0) {
    /* the nodes that read the tensor */
    for (int32_t i = 0; i < L->n_nodes; i++)
      for (int k = 0; k < L->nodes[i].n_inputs; k++)
        if (L->nodes[i].inputs[k] == e->value) append(tnames, tcap, L->nodes[i].name);
  }
  if (fi < 0 || fi >= r->n_findings) return;
  const nnd_finding *f = &r->findings[fi];
  for (int i = 0; i < f->n_s_nodes; i++)
    if (f->s_nodes[i] >= 0 && f->s_nodes[i] < r->source->n_nodes)
      append(snames, scap, r->source->nodes[f->s_nodes[i]].name);
}
