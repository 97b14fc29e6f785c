/* Output analyses (include/nndiff/outputs.h): rankings, Kendall's tau of
 * the top-5, pairwise discrepancy metrics streamed batch by batch, accuracy
 * and the conversion-chain attribution of seed 000's Table I. */
#include "nndiff/outputs.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "util/checked_math.h"

/* ------------------------------------------------------------ rankings */

/* True when class i ranks above class j: higher score, NaN lowest, equal
 * scores (and two NaNs) by lower index. */
static bool ranks_above(const float *s, int32_t i, int32_t j) {
  float a = s[i], b = s[j];
  bool na = isnan(a), nb = isnan(b);
  if (na || nb) return na == nb ? i < j : nb;
  if (a != b) return a > b;
  return i < j;
}

int nnd_outputs_topk(const float *scores, size_t n, int k, int32_t *idx_out) {
  if (k <= 0 || n == 0) return 0;
  if ((size_t)k > n) k = (int)n;
  int have = 0;
  for (size_t c = 0; c < n; c++) {
    int32_t ci = (int32_t)c;
    if (have == k && !ranks_above(scores, ci, idx_out[k - 1])) continue;
    int pos = have < k ? have++ : k - 1;
    while (pos > 0 && ranks_above(scores, ci, idx_out[pos - 1])) {
      idx_out[pos] = idx_out[pos - 1];
      pos--;
    }
    idx_out[pos] = ci;
  }
  return have;
}

void nnd_outputs_softmax(const float *scores, size_t n, double *out) {
  double mx = -INFINITY, sum = 0;
  for (size_t i = 0; i < n; i++)
    if ((double)scores[i] > mx) mx = scores[i];
  for (size_t i = 0; i < n; i++) {
    out[i] = exp((double)scores[i] - mx);
    sum += out[i];
  }
  for (size_t i = 0; i < n; i++)
    out[i] = sum > 0 ? out[i] / sum : NAN;
}

static int sign_of(double x) { return (x > 0) - (x < 0); }

/* Scores compared for tau: NaN as -inf, so NaN ties with NaN and ranks low. */
static double tau_score(float v) { return isnan(v) ? -INFINITY : (double)v; }

/* tau-b over the union of the two top-k lists ta[0..ka), tb[0..kb). */
static double tau_union(const float *a, const float *b, const int32_t *ta, int ka,
                        const int32_t *tb, int kb) {
  int32_t u[2 * NND_OUTPUTS_TOPK + 2];
  int nu = 0;
  for (int i = 0; i < ka; i++)
    u[nu++] = ta[i];
  for (int j = 0; j < kb; j++) {
    bool seen = false;
    for (int i = 0; i < ka && !seen; i++)
      seen = ta[i] == tb[j];
    if (!seen) u[nu++] = tb[j];
  }
  long conc = 0, disc = 0, ties_a = 0, ties_b = 0, pairs = 0;
  for (int i = 0; i < nu; i++)
    for (int j = i + 1; j < nu; j++) {
      int sa = sign_of(tau_score(a[u[i]]) - tau_score(a[u[j]]));
      int sb = sign_of(tau_score(b[u[i]]) - tau_score(b[u[j]]));
      /* -inf - -inf is NaN: sign 0, a tie, as intended */
      pairs++;
      if (sa == 0) ties_a++;
      if (sb == 0) ties_b++;
      if (sa != 0 && sb != 0) {
        if (sa == sb)
          conc++;
        else
          disc++;
      }
    }
  double den = sqrt((double)(pairs - ties_a) * (double)(pairs - ties_b));
  if (den == 0) return ties_a == pairs && ties_b == pairs ? 1.0 : 0.0;
  return (double)(conc - disc) / den;
}

double nnd_outputs_kendall_tau(const float *a, const float *b, size_t n, int k) {
  if (k > NND_OUTPUTS_TOPK) k = NND_OUTPUTS_TOPK;
  int32_t ta[NND_OUTPUTS_TOPK], tb[NND_OUTPUTS_TOPK];
  int ka = nnd_outputs_topk(a, n, k, ta), kb = nnd_outputs_topk(b, n, k, tb);
  return tau_union(a, b, ta, ka, tb, kb);
}

const char *nnd_grade_name(nnd_grade grade) {
  switch (grade) {
  case NND_GRADE_NONE: return "none";
  case NND_GRADE_MINOR: return "minor";
  case NND_GRADE_MAJOR: return "major";
  }
  return "?";
}

/* ------------------------------------------------------ the accumulator */

typedef struct pair_acc {
  nnd_pair_result r;
  nnd_discrepant_input *disc;
  size_t cap_disc;
  double tau_sum, abs_sum, cos_sum;
  size_t elems; /* elements summed into abs_sum */
} pair_acc;

struct nnd_outputs_compare {
  int n_models;
  size_t numel, capacity;
  size_t n_inputs; /* complete inputs */
  size_t *items;   /* capacity */
  int32_t *topk;   /* [capacity][n_models][TOPK] */
  float *topk_scores;
  int n_topk; /* min(TOPK, numel) */
  /* the batch being assembled */
  size_t batch_count;
  size_t *batch_items;
  size_t batch_cap;
  float **batch_rows; /* per model but the last: copies of its rows */
  int next_model;
  pair_acc *pairs; /* n_models * (n_models - 1) / 2, ordered (0,1),(0,2)..(1,2).. */
};

static size_t pair_slot(int n, int a, int b) {
  /* pairs (a, b), a < b, in row-major order of the upper triangle */
  return (size_t)a * (size_t)(2 * n - a - 1) / 2 + (size_t)(b - a - 1);
}

nnd_status nnd_outputs_compare_create(int n_models, size_t item_numel, size_t capacity,
                                      nnd_outputs_compare **out, nnd_error *err) {
  *out = NULL;
  if (n_models < 1 || item_numel == 0)
    return nnd_error_set(err, NND_ERR_USAGE,
                         "output comparison needs models and non-empty outputs");
  nnd_outputs_compare *c = calloc(1, sizeof *c);
  if (!c) return nnd_error_set(err, NND_ERR_NOMEM, "out of memory");
  c->n_models = n_models;
  c->numel = item_numel;
  c->capacity = capacity;
  c->n_topk = item_numel < NND_OUTPUTS_TOPK ? (int)item_numel : NND_OUTPUTS_TOPK;
  size_t n_pairs = (size_t)n_models * (size_t)(n_models - 1) / 2, per_input;
  bool ok = nnd__mul_size(capacity ? capacity : 1, (size_t)n_models * NND_OUTPUTS_TOPK, &per_input);
  c->items = ok ? malloc((capacity ? capacity : 1) * sizeof *c->items) : NULL;
  c->topk = ok ? malloc(per_input * sizeof *c->topk) : NULL;
  c->topk_scores = ok ? malloc(per_input * sizeof *c->topk_scores) : NULL;
  c->batch_rows = calloc((size_t)n_models, sizeof *c->batch_rows);
  c->pairs = calloc(n_pairs ? n_pairs : 1, sizeof *c->pairs);
  if (!c->items || !c->topk || !c->topk_scores || !c->batch_rows || !c->pairs) {
    nnd_outputs_compare_destroy(c);
    return nnd_error_set(err, NND_ERR_NOMEM, "out of memory");
  }
  for (int a = 0; a < n_models; a++)
    for (int b = a + 1; b < n_models; b++) {
      pair_acc *p = &c->pairs[pair_slot(n_models, a, b)];
      p->r.a = a;
      p->r.b = b;
      p->r.cosine_mean = 1;
      p->r.kendall_tau_mean = 1;
    }
  *out = c;
  return NND_OK;
}

void nnd_outputs_compare_destroy(nnd_outputs_compare *c) {
  if (!c) return;
  size_t n_pairs = (size_t)c->n_models * (size_t)(c->n_models - 1) / 2;
  for (size_t i = 0; c->pairs && i < n_pairs; i++)
    free(c->pairs[i].disc);
  free(c->pairs);
  for (int m = 0; c->batch_rows && m < c->n_models; m++)
    free(c->batch_rows[m]);
  free(c->batch_rows);
  free(c->batch_items);
  free(c->items);
  free(c->topk);
  free(c->topk_scores);
  free(c);
}

static int32_t *topk_at(const nnd_outputs_compare *c, size_t i, int m) {
  return c->topk + (i * (size_t)c->n_models + (size_t)m) * NND_OUTPUTS_TOPK;
}

static float *topk_scores_at(const nnd_outputs_compare *c, size_t i, int m) {
  return c->topk_scores + (i * (size_t)c->n_models + (size_t)m) * NND_OUTPUTS_TOPK;
}

static nnd_status pair_add_input(pair_acc *p, const nnd_outputs_compare *c, size_t ordinal,
                                 const float *ra, const float *rb, nnd_error *err) {
  const int32_t *ta = topk_at(c, ordinal, p->r.a), *tb = topk_at(c, ordinal, p->r.b);
  int k = c->n_topk;
  double tau = tau_union(ra, rb, ta, k, tb, k);
  bool same_list = true;
  for (int i = 0; i < k && same_list; i++)
    same_list = ta[i] == tb[i];
  nnd_grade grade = ta[0] != tb[0] ? NND_GRADE_MAJOR : same_list ? NND_GRADE_NONE : NND_GRADE_MINOR;
  double mx = p->r.max_abs_diff, sum = 0, dot = 0, na = 0, nb = 0;
  for (size_t j = 0; j < c->numel; j++) {
    double x = ra[j], y = rb[j], d = fabs(x - y);
    if (d > mx) mx = d;
    sum += d;
    dot += x * y;
    na += x * x;
    nb += y * y;
  }
  double cosine = na == 0 && nb == 0 ? 1.0 : na == 0 || nb == 0 ? 0.0 : dot / sqrt(na * nb);
  p->r.max_abs_diff = mx;
  p->abs_sum += sum;
  p->elems += c->numel;
  p->cos_sum += cosine;
  p->tau_sum += tau;
  p->r.grades[grade]++;
  p->r.inputs++;
  if (grade == NND_GRADE_MAJOR) {
    if (p->r.discrepant_count == p->cap_disc) {
      size_t cap = p->cap_disc ? p->cap_disc * 2 : 16;
      nnd_discrepant_input *nd = realloc(p->disc, cap * sizeof *nd);
      if (!nd) return nnd_error_set(err, NND_ERR_NOMEM, "out of memory");
      p->disc = nd;
      p->cap_disc = cap;
    }
    p->disc[p->r.discrepant_count++] =
        (nnd_discrepant_input){c->items[ordinal], ta[0], tb[0], tau, grade};
  }
  return NND_OK;
}

static void pair_finish(pair_acc *p) {
  size_t n = p->r.inputs;
  p->r.discrepant = p->disc;
  p->r.label_discrepancy = n ? (double)p->r.discrepant_count / (double)n : 0;
  p->r.kendall_tau_mean = n ? p->tau_sum / (double)n : 1;
  p->r.cosine_mean = n ? p->cos_sum / (double)n : 1;
  p->r.mean_abs_diff = p->elems ? p->abs_sum / (double)p->elems : 0;
}

static void rank_rows(nnd_outputs_compare *c, int m, size_t count, const float *rows) {
  for (size_t r = 0; r < count; r++) {
    size_t ordinal = c->n_inputs + r;
    const float *row = rows + r * c->numel;
    int32_t *t = topk_at(c, ordinal, m);
    float *s = topk_scores_at(c, ordinal, m);
    int k = nnd_outputs_topk(row, c->numel, NND_OUTPUTS_TOPK, t);
    for (int i = 0; i < NND_OUTPUTS_TOPK; i++) {
      if (i >= k) t[i] = -1;
      s[i] = i < k ? row[t[i]] : NAN;
    }
  }
}

nnd_status nnd_outputs_compare_add(nnd_outputs_compare *c, int model, size_t count,
                                   const size_t *items, const float *outputs, nnd_error *err) {
  if (model != c->next_model)
    return nnd_error_set(err, NND_ERR_USAGE,
                         "output comparison: got model %d's batch, expected model %d's", model,
                         c->next_model);
  if (count == 0) return NND_OK;
  if (model == 0) {
    if (count > c->capacity - c->n_inputs)
      return nnd_error_set(err, NND_ERR_USAGE, "output comparison: more than %zu inputs",
                           c->capacity);
    if (count > c->batch_cap) {
      size_t *ni = realloc(c->batch_items, count * sizeof *ni);
      if (!ni) return nnd_error_set(err, NND_ERR_NOMEM, "out of memory");
      c->batch_items = ni;
      for (int m = 0; m + 1 < c->n_models; m++) {
        size_t n;
        float *nr =
            nnd__mul_size(count, c->numel, &n) ? realloc(c->batch_rows[m], n * sizeof *nr) : NULL;
        if (!nr) return nnd_error_set(err, NND_ERR_NOMEM, "out of memory");
        c->batch_rows[m] = nr;
      }
      c->batch_cap = count;
    }
    memcpy(c->batch_items, items, count * sizeof *items);
    c->batch_count = count;
  } else if (count != c->batch_count || memcmp(items, c->batch_items, count * sizeof *items)) {
    return nnd_error_set(err, NND_ERR_USAGE,
                         "output comparison: model %d's batch holds other inputs than model 0's",
                         model);
  }
  rank_rows(c, model, count, outputs);
  if (model + 1 < c->n_models) {
    memcpy(c->batch_rows[model], outputs, count * c->numel * sizeof *outputs);
    c->next_model = model + 1;
    return NND_OK;
  }
  /* The last model: the batch is complete. */
  for (size_t r = 0; r < count; r++)
    c->items[c->n_inputs + r] = items[r];
  size_t n_pairs = (size_t)c->n_models * (size_t)(c->n_models - 1) / 2;
  for (size_t pi = 0; pi < n_pairs; pi++) {
    pair_acc *p = &c->pairs[pi];
    const float *ba = p->r.a + 1 < c->n_models ? c->batch_rows[p->r.a] : outputs;
    const float *bb = p->r.b + 1 < c->n_models ? c->batch_rows[p->r.b] : outputs;
    for (size_t r = 0; r < count; r++) {
      nnd_status st =
          pair_add_input(p, c, c->n_inputs + r, ba + r * c->numel, bb + r * c->numel, err);
      if (st) return st;
    }
    pair_finish(p);
  }
  c->n_inputs += count;
  c->next_model = 0;
  return NND_OK;
}

size_t nnd_outputs_compare_inputs(const nnd_outputs_compare *c) { return c->n_inputs; }

size_t nnd_outputs_compare_item(const nnd_outputs_compare *c, size_t i) { return c->items[i]; }

const int32_t *nnd_outputs_compare_topk(const nnd_outputs_compare *c, int m, size_t i) {
  return topk_at(c, i, m);
}

const float *nnd_outputs_compare_topk_scores(const nnd_outputs_compare *c, int m, size_t i) {
  return topk_scores_at(c, i, m);
}

const nnd_pair_result *nnd_outputs_compare_pair(const nnd_outputs_compare *c, int a, int b) {
  if (a > b) {
    int t = a;
    a = b;
    b = t;
  }
  if (a < 0 || b >= c->n_models || a == b) return NULL;
  return &c->pairs[pair_slot(c->n_models, a, b)].r;
}

void nnd_outputs_compare_accuracy(const nnd_outputs_compare *c, int m, const int64_t *labels,
                                  nnd_accuracy *out) {
  memset(out, 0, sizeof *out);
  for (size_t i = 0; labels && i < c->n_inputs; i++) {
    if (labels[i] < 0) continue;
    out->labelled++;
    const int32_t *t = topk_at(c, i, m);
    if (t[0] == labels[i]) out->top1_correct++;
    for (int k = 0; k < c->n_topk; k++)
      if (t[k] == labels[i]) {
        out->top5_correct++;
        break;
      }
  }
  if (out->labelled) {
    out->top1 = (double)out->top1_correct / (double)out->labelled;
    out->top5 = (double)out->top5_correct / (double)out->labelled;
  }
}

/* --------------------------------------------------------------- chain */

nnd_status nnd_outputs_compare_chain(const nnd_outputs_compare *c, nnd_chain_result *out,
                                     nnd_error *err) {
  memset(out, 0, sizeof *out);
  int n = c->n_models;
  if (n < 2)
    return nnd_error_set(err, NND_ERR_USAGE, "a conversion chain needs two models or more");
  out->n_models = n;
  out->inputs = c->n_inputs;
  out->steps = calloc((size_t)(n - 1), sizeof *out->steps);
  out->items = calloc(c->n_inputs ? c->n_inputs : 1, sizeof *out->items);
  if (!out->steps || !out->items) {
    nnd_chain_result_free(out);
    return nnd_error_set(err, NND_ERR_NOMEM, "out of memory");
  }
  for (int s = 0; s < n - 1; s++) {
    out->steps[s].from = s;
    out->steps[s].to = s + 1;
  }
  for (size_t i = 0; i < c->n_inputs; i++) {
    int first = 0;
    for (int s = 1; s < n; s++) {
      bool changed = topk_at(c, i, s)[0] != topk_at(c, i, s - 1)[0];
      if (changed) out->steps[s - 1].changed++;
      if (changed && !first) first = s;
    }
    bool end_differs = topk_at(c, i, n - 1)[0] != topk_at(c, i, 0)[0];
    if (end_differs) {
      out->steps[first - 1].broke++;
      out->items[out->discrepant++] = (nnd_chain_input){i, first};
    } else if (first) {
      out->restored++;
    }
  }
  for (int s = 0; s < n - 1; s++) {
    nnd_chain_step *st = &out->steps[s];
    st->share = c->n_inputs ? (double)st->broke / (double)c->n_inputs : 0;
    st->share_of_discrepant = out->discrepant ? (double)st->broke / (double)out->discrepant : 0;
  }
  out->discrepant_fraction = c->n_inputs ? (double)out->discrepant / (double)c->n_inputs : 0;
  return NND_OK;
}

void nnd_chain_result_free(nnd_chain_result *r) {
  if (!r) return;
  free(r->steps);
  free(r->items);
  memset(r, 0, sizeof *r);
}
