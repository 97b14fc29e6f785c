/* Alignment of two canonical graphs: which target node computes what which
 * source node computes, from structure and values, never from names.
 *
 * The target is walked in topological order. A target node's candidates are
 * the unmatched source nodes consuming the partners of its inputs (looking
 * through target nodes that found no partner, such as an inserted Pad, and
 * one source node deep for nodes the target lacks). Each candidate is
 * scored:
 *   0.40 op        same canonical op 1, a substitute in the same group
 *                  (the SUBST column of ops.def: MaxPool/AveragePool,
 *                  Add/Sub, Relu/LeakyRelu...) 0.5-0.6
 *   0.30 inputs    inputs matched in place 1, in another order 0.75
 *   0.15 shape     equal output shapes 1, same element count 0.7, rank 0.4
 *   0.15 params    |cosine| of per-output-channel-normalised weights, or the
 *                  fraction of hyperparameters that agree
 * minus 0.05 * the difference of relative topological positions (a tie
 * break). The best candidate with op > 0, inputs > 0 and score >= 0.5 is
 * taken; a second pass pairs leftovers that sit between the same matched
 * neighbours as substitutions. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "analysis/localize_internal.h"
#include "nndiff/align.h"
#include "nndiff/op_info.h"

double nnd_weight_cosine(const double *a, const double *b, int64_t n, int64_t rows) {
  if (!a || !b || n <= 0 || rows <= 0 || n % rows) return NAN;
  int64_t per = n / rows;
  double sum = 0;
  for (int64_t r = 0; r < rows; r++) {
    const double *x = a + r * per, *y = b + r * per;
    double xy = 0, xx = 0, yy = 0;
    for (int64_t k = 0; k < per; k++) {
      xy += x[k] * y[k];
      xx += x[k] * x[k];
      yy += y[k] * y[k];
    }
    if (xx == 0 && yy == 0)
      sum += 1;
    else if (xx > 0 && yy > 0)
      sum += xy / sqrt(xx * yy);
  }
  return sum / (double)rows;
}

/* ------------------------------------------------------------ op families */

/* The SUBST column of ops.def: which ops may stand for one another. */
typedef enum subst_group {
  SUBST_NONE = 0,
  SUBST_WINDOW_POOL, /* MaxPool, AveragePool */
  SUBST_GLOBAL_POOL, /* global pools and the reductions that compute them */
  SUBST_ARITH,       /* Add, Sub, Mul, Div, Max, Min */
  SUBST_ACTIVATION,
  SUBST_RESHAPE,
  SUBST_SOFTMAX,
  SUBST_LINEAR /* Conv, Gemm */
} subst_group;

#define SUBST(group) SUBST_##group
static const subst_group subst_groups[] = {
#define X(id, name, fam, io, dt, rule, cost, comm, subst, params, hp, act, eval, engine) subst,
#include "nndiff/ops.def"
#undef X
};
_Static_assert(sizeof subst_groups / sizeof subst_groups[0] == NND_OP_COUNT,
               "one substitution group per line of ops.def");

static subst_group group_of(nnd_op op) {
  return op >= 0 && op < NND_OP_COUNT ? subst_groups[op] : SUBST_NONE;
}

double nnd__op_score(nnd_op a, nnd_op b) {
  if (a == b) return 1.0;
  subst_group ga = group_of(a), gb = group_of(b);
  if (ga == SUBST_NONE || ga != gb) return 0.0;
  switch (ga) {
  case SUBST_ARITH: return 0.5;
  case SUBST_LINEAR: return 0.4;
  default: return 0.6;
  }
}

bool nnd__op_commutative(nnd_op op) { return nnd_op_info_get(op)->commutative; }

/* ------------------------------------------------------------ helpers */

static const nnd_shape *out_shape(const nnd_cgraph *c, int32_t cn) {
  const nnd_cnode *n = &c->nodes[cn];
  if (n->n_outputs < 1) return NULL;
  return &c->graph->values[c->values[n->outputs[0]].value].shape;
}

double nnd__shape_score(const nnd_shape *a, const nnd_shape *b) {
  if (!a || !b || a->rank < 0 || b->rank < 0) return 0.0;
  if (a->rank == b->rank) {
    bool same = true;
    for (int d = 0; d < a->rank; d++) {
      int64_t x = a->dims[d].size, y = b->dims[d].size;
      if (x >= 0 && y >= 0 && x != y) same = false;
      if ((x < 0) != (y < 0) && d > 0) same = false;
    }
    if (same) return 1.0;
  }
  int64_t na = 0, nb = 0;
  if (nnd_shape_numel(a, &na) && nnd_shape_numel(b, &nb) && na == nb) return 0.7;
  return a->rank == b->rank ? 0.4 : 0.0;
}

static int64_t rows_of(const nnd_cnode *n) {
  if (!n->weight || n->wrank < 1) return 0;
  if (nnd_op_info_get(n->op)->weight_layout == NND_PLAYOUT_IOHW)
    return 1; /* not row-major by output */
  return n->wdims[0];
}

double nnd__param_score(const nnd_cgraph *S, int32_t s, const nnd_cgraph *T, int32_t t,
                        double *cos_out) {
  const nnd_cnode *sn = &S->nodes[s], *tn = &T->nodes[t];
  if (cos_out) *cos_out = NAN;
  if (sn->weight || tn->weight) {
    if (!sn->weight || !tn->weight || sn->wnumel != tn->wnumel || rows_of(sn) != rows_of(tn))
      return 0.0;
    double c = nnd_weight_cosine(sn->weight, tn->weight, sn->wnumel, rows_of(sn));
    if (cos_out) *cos_out = c;
    return isnan(c) ? 0.0 : fabs(c);
  }
  if (sn->op != tn->op) return 0.5;
  int total = 0, same = 0;
  nnd__hyper_agreement(S, s, T, t, &total, &same);
  return total ? (double)same / total : 1.0;
}

/* --------------------------------------------------------------- aligner */

typedef struct aligner {
  const nnd_cgraph *S, *T;
  nnd_alignment *A;
} aligner;

/* Partner of target value tv, looking through unmatched single-input target
 * nodes (an inserted Pad, a Softmax...). */
static int32_t partner(const aligner *al, int32_t tv, int depth) {
  if (tv < 0) return -1;
  int32_t p = al->A->tv_partner[tv];
  if (p >= 0 || depth > 4) return p;
  int32_t prod = al->T->values[tv].producer;
  if (prod < 0 || al->A->t_pair[prod] >= 0) return -1;
  const nnd_cnode *n = &al->T->nodes[prod];
  if (n->n_inputs != 1) return -1;
  return partner(al, n->inputs[0], depth + 1);
}

typedef struct cand {
  int32_t s;
  int depth;
} cand;

static void add_cand(cand *list, int *n, int cap, int32_t s, int depth) {
  for (int i = 0; i < *n; i++)
    if (list[i].s == s) {
      if (depth < list[i].depth) list[i].depth = depth;
      return;
    }
  if (*n < cap) list[(*n)++] = (cand){s, depth};
}

static double relpos(int32_t i, int32_t n) { return n > 1 ? (double)i / (double)(n - 1) : 0.0; }

/* Scores candidate s for target node t; fills *pair. */
static double score(const aligner *al, int32_t t, int32_t s, int depth, nnd_align_pair *pair) {
  const nnd_cgraph *S = al->S, *T = al->T;
  const nnd_cnode *tn = &T->nodes[t], *sn = &S->nodes[s];
  memset(pair, 0, sizeof *pair);
  pair->t = t;
  pair->s = s;
  pair->op_score = nnd__op_score(tn->op, sn->op);
  /* inputs: via the intermediate source node for depth 1 */
  const int32_t *sin = sn->inputs;
  int sn_in = sn->n_inputs;
  int32_t mid_in[1];
  if (depth == 1 && sn->n_inputs >= 1) {
    const nnd_cvalue *v = &S->values[sn->inputs[0]];
    if (v->producer >= 0 && S->nodes[v->producer].n_inputs == 1) {
      mid_in[0] = S->nodes[v->producer].inputs[0];
      sin = mid_in;
      sn_in = 1;
    }
  }
  double in_sum = 0;
  int n = tn->n_inputs > sn_in ? tn->n_inputs : sn_in;
  bool reordered = false;
  for (int k = 0; k < tn->n_inputs; k++) {
    int32_t p = partner(al, tn->inputs[k], 0);
    if (p < 0) continue;
    if (k < sn_in && sin[k] == p) {
      in_sum += 1;
      continue;
    }
    for (int j = 0; j < sn_in; j++)
      if (sin[j] == p) {
        if (nnd__op_commutative(tn->op) && nnd__op_commutative(sn->op)) {
          in_sum += 1;
        } else {
          in_sum += 0.75;
          reordered = true;
        }
        break;
      }
  }
  pair->input_score = n ? in_sum / n : 0;
  pair->inputs_reordered = reordered;
  pair->shape_score = nnd__shape_score(out_shape(T, t), out_shape(S, s));
  pair->param_score = nnd__param_score(S, s, T, t, &pair->weight_cosine);
  pair->kind = pair->op_score >= 1.0 ? NND_MATCH_SAME : NND_MATCH_SUBSTITUTED;
  double sc = 0.40 * pair->op_score + 0.30 * pair->input_score + 0.15 * pair->shape_score +
              0.15 * pair->param_score;
  if (depth == 1) sc *= 0.9;
  pair->confidence = sc;
  double tie = fabs(relpos(t, T->n_nodes) - relpos(s, S->n_nodes));
  return sc - 0.05 * tie;
}

static void set_pair(aligner *al, const nnd_align_pair *p) {
  nnd_alignment *A = al->A;
  int32_t idx = A->n_pairs++;
  A->pairs[idx] = *p;
  A->t_pair[p->t] = idx;
  A->s_pair[p->s] = idx;
  const nnd_cnode *tn = &al->T->nodes[p->t], *sn = &al->S->nodes[p->s];
  for (int k = 0; k < tn->n_outputs && k < sn->n_outputs; k++)
    A->tv_partner[tn->outputs[k]] = sn->outputs[k];
}

static nnd_status first_pass(aligner *al, nnd_error *err) {
  const nnd_cgraph *S = al->S, *T = al->T;
  nnd_alignment *A = al->A;
  int cap = 64;
  cand *list = malloc((size_t)cap * sizeof *list);
  if (!list) return nnd_error_set(err, NND_ERR_NOMEM, "out of memory aligning");
  for (int32_t t = 0; t < T->n_nodes; t++) {
    const nnd_cnode *tn = &T->nodes[t];
    int n = 0;
    for (int k = 0; k < tn->n_inputs; k++) {
      int32_t p = partner(al, tn->inputs[k], 0);
      if (p < 0) continue;
      const nnd_cvalue *sv = &S->values[p];
      for (int j = 0; j < sv->n_consumers; j++) {
        int32_t s = sv->consumers[j];
        if (A->s_pair[s] >= 0) {
          continue;
        }
        add_cand(list, &n, cap, s, 0);
        /* one source node deeper: the target may lack s */
        const nnd_cnode *sn = &S->nodes[s];
        if (sn->n_inputs == 1 && sn->n_outputs == 1) {
          const nnd_cvalue *mid = &S->values[sn->outputs[0]];
          for (int m = 0; m < mid->n_consumers; m++)
            if (A->s_pair[mid->consumers[m]] < 0 && S->nodes[mid->consumers[m]].n_inputs == 1)
              add_cand(list, &n, cap, mid->consumers[m], 1);
        }
      }
    }
    double best = -1;
    nnd_align_pair bp;
    for (int i = 0; i < n; i++) {
      nnd_align_pair p;
      double sc = score(al, t, list[i].s, list[i].depth, &p);
      if (p.op_score <= 0 || p.input_score <= 0 || p.confidence < 0.5) continue;
      if (sc > best) {
        best = sc;
        bp = p;
      }
    }
    if (best >= 0) set_pair(al, &bp);
  }
  free(list);
  return NND_OK;
}

/* Leftovers between the same matched neighbours: substitutions. */
static void second_pass(aligner *al) {
  const nnd_cgraph *S = al->S, *T = al->T;
  nnd_alignment *A = al->A;
  for (int32_t t = 0; t < T->n_nodes; t++) {
    if (A->t_pair[t] >= 0) continue;
    const nnd_cnode *tn = &T->nodes[t];
    double best = -1;
    nnd_align_pair bp;
    for (int k = 0; k < tn->n_inputs; k++) {
      int32_t p = partner(al, tn->inputs[k], 0);
      if (p < 0) continue;
      const nnd_cvalue *sv = &S->values[p];
      for (int j = 0; j < sv->n_consumers; j++) {
        int32_t s = sv->consumers[j];
        if (A->s_pair[s] >= 0) continue;
        /* some consumer of t's output is paired with a consumer of s's output */
        bool sandwich = false;
        const nnd_cnode *sn = &S->nodes[s];
        if (tn->n_outputs > 0 && sn->n_outputs > 0) {
          const nnd_cvalue *to = &T->values[tn->outputs[0]], *so = &S->values[sn->outputs[0]];
          for (int a = 0; a < to->n_consumers && !sandwich; a++) {
            int32_t pi = A->t_pair[to->consumers[a]];
            if (pi < 0) continue;
            for (int bb = 0; bb < so->n_consumers; bb++)
              if (A->pairs[pi].s == so->consumers[bb]) sandwich = true;
          }
          if (to->is_output && so->is_output) sandwich = true;
        }
        if (!sandwich) continue;
        nnd_align_pair pr;
        double sc = score(al, t, s, 0, &pr);
        if (pr.input_score < 0.75) continue;
        if (sc > best) {
          best = sc;
          bp = pr;
        }
      }
    }
    if (best >= 0) {
      bp.kind = NND_MATCH_SUBSTITUTED;
      if (bp.confidence > 0.5) bp.confidence = 0.5;
      set_pair(al, &bp);
    }
  }
}

nnd_status nnd_align(const nnd_cgraph *S, const nnd_cgraph *T, nnd_alignment **out,
                     nnd_error *err) {
  *out = NULL;
  nnd_alignment *A = calloc(1, sizeof *A);
  size_t nt = (size_t)(T->n_nodes ? T->n_nodes : 1), ns = (size_t)(S->n_nodes ? S->n_nodes : 1);
  if (!A) return nnd_error_set(err, NND_ERR_NOMEM, "out of memory aligning");
  A->pairs = calloc(nt, sizeof *A->pairs);
  A->t_pair = malloc(nt * sizeof *A->t_pair);
  A->s_pair = malloc(ns * sizeof *A->s_pair);
  A->tv_partner = malloc((size_t)(T->n_values ? T->n_values : 1) * sizeof *A->tv_partner);
  A->extra = malloc(nt * sizeof *A->extra);
  A->missing = malloc(ns * sizeof *A->missing);
  if (!A->pairs || !A->t_pair || !A->s_pair || !A->tv_partner || !A->extra || !A->missing) {
    nnd_alignment_destroy(A);
    return nnd_error_set(err, NND_ERR_NOMEM, "out of memory aligning");
  }
  for (int32_t i = 0; i < T->n_nodes; i++)
    A->t_pair[i] = -1;
  for (int32_t i = 0; i < S->n_nodes; i++)
    A->s_pair[i] = -1;
  for (int32_t i = 0; i < T->n_values; i++)
    A->tv_partner[i] = -1;
  /* graph inputs by position */
  for (int i = 0; i < T->n_inputs && i < S->n_inputs; i++)
    A->tv_partner[T->inputs[i]] = S->inputs[i];
  aligner al = {S, T, A};
  nnd_status st = first_pass(&al, err);
  if (st != NND_OK) {
    nnd_alignment_destroy(A);
    return st;
  }
  second_pass(&al);
  /* pairs in target topological order */
  nnd_align_pair *tmp = malloc(nt * sizeof *tmp);
  if (!tmp) {
    nnd_alignment_destroy(A);
    return nnd_error_set(err, NND_ERR_NOMEM, "out of memory aligning");
  }
  int32_t k = 0;
  for (int32_t t = 0; t < T->n_nodes; t++)
    if (A->t_pair[t] >= 0) tmp[k++] = A->pairs[A->t_pair[t]];
  memcpy(A->pairs, tmp, (size_t)k * sizeof *tmp);
  free(tmp);
  for (int32_t i = 0; i < S->n_nodes; i++)
    A->s_pair[i] = -1;
  for (int32_t i = 0; i < A->n_pairs; i++) {
    A->t_pair[A->pairs[i].t] = i;
    A->s_pair[A->pairs[i].s] = i;
  }
  for (int32_t t = 0; t < T->n_nodes; t++)
    if (A->t_pair[t] < 0) A->extra[A->n_extra++] = t;
  for (int32_t s = 0; s < S->n_nodes; s++)
    if (A->s_pair[s] < 0) A->missing[A->n_missing++] = s;
  *out = A;
  return NND_OK;
}

void nnd_alignment_destroy(nnd_alignment *a) {
  if (!a) return;
  free(a->pairs);
  free(a->t_pair);
  free(a->s_pair);
  free(a->tv_partner);
  free(a->extra);
  free(a->missing);
  free(a);
}
