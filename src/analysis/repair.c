/* nndiff repair: the split, the search and the minimal set (see
 * nndiff/repair.h and docs/REPAIR.md). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "analysis/localize_internal.h"
#include "analysis/repair_internal.h"

/* Candidate graphs run at most this many times in one search: a bound on
 * the time a model with hundreds of unfixable findings can take. */
#define MAX_EVALUATIONS 400

void nnd_repair_options_init(nnd_repair_options *o) {
  memset(o, 0, sizeof *o);
  nnd_localize_options_init(&o->localize);
}

typedef struct search {
  const nnd_graph *target;
  nnd__repair_data d;
  nnd__repair_units units;
  const size_t *rows[2]; /* localization, verification */
  int64_t n_rows[2];
  float *out;            /* scratch: outputs of a run */
  nnd_repair_result *r;
  const nnd_repair_options *opt;
} search;

static bool stopped(const nnd_repair_options *o) { return o->stop_flag && *o->stop_flag; }

static int cmp_remove_desc(const void *a, const void *b) {
  const nnd_edit *x = *(const nnd_edit *const *)a, *y = *(const nnd_edit *const *)b;
  return (x->node < y->node) - (x->node > y->node);
}

nnd_status nnd_repair_apply(const nnd_graph *target, const nnd_edit *edits, int n_edits,
                            nnd_graph **out, nnd_error *err) {
  *out = NULL;
  nnd_graph *g = NULL;
  const nnd_edit **removals = calloc((size_t)(n_edits ? n_edits : 1), sizeof *removals);
  if (!removals) return nnd_error_set(err, NND_ERR_NOMEM, "out of memory applying edits");
  nnd_status st = nnd_graph_clone(target, &g, err);
  int n_rm = 0;
  /* removals compact the node array: the others first, then removals from
   * the last node back, so every index still means what it meant */
  for (int i = 0; st == NND_OK && i < n_edits; i++) {
    if (edits[i].kind == NND_EDIT_REMOVE_NODE)
      removals[n_rm++] = &edits[i];
    else
      st = nnd_edit_apply(g, &edits[i], err);
  }
  qsort(removals, (size_t)n_rm, sizeof *removals, cmp_remove_desc);
  for (int i = 0; st == NND_OK && i < n_rm; i++)
    st = nnd_edit_apply(g, removals[i], err);
  free(removals);
  if (st == NND_OK) st = nnd_graph_infer_shapes(g, err);
  if (st != NND_OK) {
    nnd_graph_destroy(g);
    return st;
  }
  *out = g;
  return NND_OK;
}

/* The edits of the kept units (in order) plus unit `extra` (-1: none),
 * skipping unit `skip`; flat into buf (NND__REPAIR_UNIT_MAX per unit). */
static int gather(const search *s, const int *kept, int n_kept, int skip, int extra,
                  nnd_edit *buf) {
  int n = 0;
  for (int i = 0; i < n_kept; i++) {
    if (i == skip) continue;
    const nnd__repair_unit *u = &s->units.items[kept[i]];
    for (int k = 0; k < u->n; k++)
      buf[n++] = u->edits[k];
  }
  if (extra >= 0) {
    const nnd__repair_unit *u = &s->units.items[extra];
    for (int k = 0; k < u->n; k++)
      buf[n++] = u->edits[k];
  }
  return n;
}

/* Scores the target with these edits on part `part` (0 localization, 1
 * verification). A candidate that cannot be built or planned is not an
 * error of the repair: false, with the reason in *why. */
static bool evaluate(search *s, const nnd_edit *edits, int n_edits, int part,
                     nnd_repair_score *score, nnd_error *why) {
  nnd_graph *g = NULL;
  nnd_status st = nnd_repair_apply(s->target, edits, n_edits, &g, why);
  if (st == NND_OK)
    st = nnd__repair_run_graph(&s->d, g, NND_PRECISION_FAST, s->rows[part], s->n_rows[part],
                               s->out, why);
  nnd_graph_destroy(g);
  s->r->n_engine_runs++;
  if (st != NND_OK) return false;
  nnd__repair_score(&s->d, s->rows[part], s->n_rows[part], s->out, score);
  return true;
}

static int count_edits(const search *s, const int *kept, int n_kept) {
  int n = 0;
  for (int i = 0; i < n_kept; i++)
    n += s->units.items[kept[i]].n;
  return n;
}

/* Greedy search, then the minimal set; fills kept/n_kept. */
static nnd_status run_search(search *s, int *kept, int *n_kept, nnd_error *err) {
  nnd_repair_result *r = s->r;
  int max_edits = s->opt->max_edits > 0 ? s->opt->max_edits : 8;
  int nu = s->units.n;
  nnd_edit *buf = malloc((size_t)(nu + 1) * NND__REPAIR_UNIT_MAX * sizeof *buf);
  bool *used = calloc((size_t)(nu ? nu : 1), sizeof *used);
  if (!buf || !used) {
    free(buf);
    free(used);
    return nnd_error_set(err, NND_ERR_NOMEM, "out of memory searching repairs");
  }
  nnd_repair_score cur = r->before_localize;
  int evals = 0;
  *n_kept = 0;
  while (!nnd__repair_at_floor(&cur, r->noise_floor) && !stopped(s->opt) &&
         evals < MAX_EVALUATIONS) {
    bool progress = false;
    /* the most promising first: after each kept edit the list is tried
     * again from the top, since an edit that did not help alone (a bias
     * under wrong weights) may help now */
    for (int u = 0; u < nu && evals < MAX_EVALUATIONS && !stopped(s->opt); u++) {
      if (used[u]) continue;
      if (count_edits(s, kept, *n_kept) + s->units.items[u].n > max_edits) continue;
      int n = gather(s, kept, *n_kept, -1, u, buf);
      nnd_repair_score sc;
      nnd_error why = {0};
      evals++;
      r->n_candidates++;
      if (!evaluate(s, buf, n, 0, &sc, &why)) {
        used[u] = true; /* cannot be built: never will */
        continue;
      }
      if (s->opt->progress)
        fprintf(s->opt->progress, "repair: candidate %d/%d: %lld labels differ, rel diff %.3g\n",
                u + 1, nu, (long long)sc.n_label_diff, sc.rel_diff);
      if (nnd__repair_better(&sc, &cur)) {
        used[u] = true;
        kept[(*n_kept)++] = u;
        cur = sc;
        progress = true;
        break;
      }
    }
    if (!progress) break;
  }
  /* minimal set: a kept unit the others do without goes, last kept first */
  bool goal = nnd__repair_at_floor(&cur, r->noise_floor);
  for (int i = *n_kept - 1; i >= 0 && *n_kept > 1 && !stopped(s->opt); i--) {
    int n = gather(s, kept, *n_kept, i, -1, buf);
    nnd_repair_score sc;
    nnd_error why = {0};
    if (!evaluate(s, buf, n, 0, &sc, &why)) continue;
    bool drop = goal ? nnd__repair_at_floor(&sc, r->noise_floor) : !nnd__repair_better(&cur, &sc);
    if (!drop) continue;
    memmove(kept + i, kept + i + 1, (size_t)(*n_kept - i - 1) * sizeof *kept);
    (*n_kept)--;
    r->n_candidates_dropped++;
    if (!goal) cur = sc;
  }
  free(buf);
  free(used);
  return NND_OK;
}

static void describe_left(search *s, int n_kept) {
  nnd_repair_result *r = s->r;
  char *p = r->left;
  size_t cap = sizeof r->left;
  const nnd_repair_score *v = &r->after_verify, *l = &r->after_localize;
  int64_t labels = v->n_label_diff + l->n_label_diff;
  int64_t inputs = v->n_inputs + l->n_inputs;
  const nnd_suspect *top = r->localize && r->localize->n_suspects ? &r->localize->suspects[0] : NULL;
  if (r->n_edits == 0 && nnd__repair_at_floor(&r->before_localize, r->noise_floor)) {
    snprintf(p, cap,
             "the localization inputs show no discrepancy but the verification inputs do (%lld "
             "of %lld labels): nothing to localize on; give more data or hold out less "
             "(--verify-split)",
             (long long)v->n_label_diff, (long long)v->n_inputs);
  } else if (r->worse) {
    snprintf(p, cap,
             "the edits that helped on the localization inputs made the verification inputs "
             "worse, so none is kept: the fault is not one the suspects' edits fix");
  } else if (s->units.n == 0) {
    snprintf(p, cap,
             "localize found no difference it can express as an edit of the target%s%.400s%s "
             "(%d finding(s) with an edit that has no counterpart in the file)",
             top ? "; its first suspect: " : "", top ? top->headline : "", top ? "" : "",
             r->n_unmappable);
  } else if (labels > 0) {
    snprintf(p, cap,
             "%lld of %lld inputs still change label after %d edit(s): no other candidate of "
             "the %d tried lowers the discrepancy, so what is left lies outside the edits "
             "localize can make (a node with no aligned counterpart, a subgraph computed "
             "another way)%s%.400s",
             (long long)labels, (long long)inputs, r->n_edits,
             r->n_candidates, top ? "; first suspect: " : "", top ? top->headline : "");
  } else {
    double f = r->noise_floor > 1e-7 ? r->noise_floor : 1e-7;
    snprintf(p, cap,
             "every label agrees, but the outputs still differ by %.3g of their scale, %.1fx "
             "the source's float32 noise (%.3g; the goal is %gx)",
             fmax(v->rel_diff, l->rel_diff), fmax(v->rel_diff, l->rel_diff) / f, r->noise_floor,
             NND_REPAIR_FLOOR_FACTOR);
  }
  (void)n_kept;
}

static nnd_status fill_edits(search *s, const int *kept, int n_kept, nnd_error *err) {
  nnd_repair_result *r = s->r;
  int total = count_edits(s, kept, n_kept);
  r->edits = calloc((size_t)(total ? total : 1), sizeof *r->edits);
  nnd_edit *buf = malloc((size_t)(total ? total : 1) * sizeof *buf);
  if (!r->edits || !buf) {
    free(buf);
    return nnd_error_set(err, NND_ERR_NOMEM, "out of memory");
  }
  r->after_localize = r->before_localize;
  r->after_verify = r->before_verify;
  int n = 0;
  for (int i = 0; i < n_kept; i++) {
    const nnd__repair_unit *u = &s->units.items[kept[i]];
    int first = n;
    for (int k = 0; k < u->n; k++, n++) {
      nnd_repair_edit *re = &r->edits[n];
      re->edit = u->edits[k];
      buf[n] = u->edits[k];
      re->suspect_rank = u->suspect_rank;
      nnd__repair_edit_names(r->localize, s->target, &u->edits[k], u->finding[k], re->target_nodes,
                             sizeof re->target_nodes, re->source_nodes, sizeof re->source_nodes);
      const nnd_finding *f = &r->localize->findings[u->finding[k]];
      snprintf(re->why, sizeof re->why, "%s", f->text);
    }
    nnd_repair_score sl = r->before_localize, sv = r->before_verify;
    nnd_error why = {0};
    if (!evaluate(s, buf, n, 0, &sl, &why) || !evaluate(s, buf, n, 1, &sv, &why)) {
      free(buf);
      return nnd_error_set(err, NND_ERR_INTERNAL, "repair: a kept edit no longer runs: %s",
                           why.message);
    }
    for (int k = first; k < n; k++) {
      r->edits[k].after_localize = sl;
      r->edits[k].after_verify = sv;
    }
    r->after_localize = sl;
    r->after_verify = sv;
  }
  r->n_edits = n;
  free(buf);
  return NND_OK;
}

/* The source's first output per item. */
static nnd_status source_side(search *s, const nnd_graph *source, nnd_error *err) {
  const nnd_value *y = &source->values[source->outputs[0]];
  int64_t per = 1;
  for (int k = 1; k < y->shape.rank; k++) {
    if (y->shape.dims[k].size <= 0)
      return nnd_error_set(err, NND_ERR_UNSUPPORTED,
                           "the source's first output '%s' has no static size", y->name);
    per *= y->shape.dims[k].size;
  }
  s->d.out_numel = per;
  s->d.source_out = malloc((size_t)(s->d.n * per) * sizeof(float));
  s->out = malloc((size_t)(s->d.n * per) * sizeof(float));
  size_t *all = malloc((size_t)s->d.n * sizeof *all);
  if (!s->d.source_out || !s->out || !all) {
    free(all);
    return nnd_error_set(err, NND_ERR_NOMEM, "out of memory holding the source's outputs");
  }
  for (int64_t i = 0; i < s->d.n; i++)
    all[i] = (size_t)i;
  nnd_status st =
      nnd__repair_run_graph(&s->d, source, NND_PRECISION_FAST, all, s->d.n, s->d.source_out, err);
  free(all);
  if (st != NND_OK) return st;
  return NND_OK;
}

/* The source's float32 noise on its first output: localize measured it
 * already when that output is an aligned layer (fast vs reference path on
 * its floor images); otherwise it is measured here on a few items. */
static nnd_status noise_floor(search *s, const nnd_graph *source, nnd_error *err) {
  nnd_repair_result *r = s->r;
  const nnd_localize_result *L = r->localize;
  for (int32_t i = 0; L && i < L->n_layers; i++) {
    const nnd_layer_result *ly = &L->layers[i];
    if (ly->s_value == source->outputs[0] && ly->floor_measured) {
      r->noise_floor = ly->floor_max_abs;
      r->noise_floor_abs = -1; /* not measured as an absolute figure */
      r->noise_floor_from_localize = true;
      return NND_OK;
    }
  }
  int64_t nf = s->n_rows[0] < NND_REPAIR_FLOOR_ITEMS ? s->n_rows[0] : NND_REPAIR_FLOOR_ITEMS;
  nnd_status st =
      nnd__repair_run_graph(&s->d, source, NND_PRECISION_REFERENCE, s->rows[0], nf, s->out, err);
  if (st != NND_OK) return st;
  nnd_repair_score fl;
  nnd__repair_score(&s->d, s->rows[0], nf, s->out, &fl);
  r->noise_floor = fl.rel_diff;
  r->noise_floor_abs = fl.max_abs_diff;
  return NND_OK;
}

static nnd_status target_before(search *s, nnd_error *err) {
  for (int part = 0; part < 2; part++) {
    nnd_status st = nnd__repair_run_graph(&s->d, s->target, NND_PRECISION_FAST, s->rows[part],
                                          s->n_rows[part], s->out, err);
    if (st != NND_OK) return st;
    nnd__repair_score(&s->d, s->rows[part], s->n_rows[part], s->out,
                      part ? &s->r->before_verify : &s->r->before_localize);
  }
  return NND_OK;
}

nnd_status nnd_repair_run(const nnd_graph *source, const nnd_graph *target, nnd_dataset *data,
                          const nnd_repair_options *opt, nnd_repair_result **out, nnd_error *err) {
  *out = NULL;
  double t0 = nnd__now();
  if (!data) return nnd_error_set(err, NND_ERR_USAGE, "repair needs data (--data)");
  int64_t n = (int64_t)nnd_dataset_count(data);
  if (opt->limit > 0 && opt->limit < n) n = opt->limit;
  double f = opt->verify_split > 0 ? opt->verify_split : 0.5;
  if (n < 2)
    return nnd_error_set(err, NND_ERR_USAGE,
                         "repair needs at least 2 inputs to localize on some and verify on the "
                         "others (the data has %lld)",
                         (long long)n);
  nnd_repair_result *r = calloc(1, sizeof *r);
  search s = {0};
  int *kept = NULL;
  if (!r) return nnd_error_set(err, NND_ERR_NOMEM, "out of memory");
  r->n_items = n;
  r->localize_items = malloc((size_t)n * sizeof(size_t));
  r->verify_items = malloc((size_t)n * sizeof(size_t));
  nnd_status st = NND_OK;
  if (!r->localize_items || !r->verify_items) {
    st = nnd_error_set(err, NND_ERR_NOMEM, "out of memory");
    goto done;
  }
  /* interleaved: item i verifies when the running share f crosses an
   * integer at it, so both parts see every kind of input */
  for (int64_t i = 0; i < n; i++) {
    if (floor((double)(i + 1) * f) > floor((double)i * f))
      r->verify_items[r->n_verify++] = (size_t)i;
    else
      r->localize_items[r->n_localize++] = (size_t)i;
  }
  if (r->n_localize == 0 || r->n_verify == 0) {
    st = nnd_error_set(err, NND_ERR_USAGE,
                       "--verify-split %g leaves %s of the %lld inputs: nothing to %s on", f,
                       r->n_localize ? "none" : "all", (long long)n,
                       r->n_localize ? "verify" : "localize");
    goto done;
  }
  s.target = target;
  s.r = r;
  s.opt = opt;
  s.rows[0] = r->localize_items;
  s.rows[1] = r->verify_items;
  s.n_rows[0] = r->n_localize;
  s.n_rows[1] = r->n_verify;
  s.d.threads = opt->threads;
  s.d.max_memory = opt->max_memory;
  if (opt->progress) fprintf(opt->progress, "repair: reading %lld inputs\n", (long long)n);
  if ((st = nnd__repair_data_load(&s.d, source, data, n, err)) != NND_OK) goto done;
  double ts = nnd__now();
  if ((st = source_side(&s, source, err)) != NND_OK) goto done;
  r->seconds_source = nnd__now() - ts;
  if ((st = target_before(&s, err)) != NND_OK) goto done;

  double tl = nnd__now();
  nnd_localize_options lo = opt->localize;
  lo.threads = opt->threads;
  lo.max_memory = opt->max_memory;
  lo.stop_flag = opt->stop_flag;
  lo.progress = opt->progress;
  lo.limit = 0;
  if ((st = nnd_dataset_select(data, r->localize_items, (size_t)r->n_localize, err)) != NND_OK)
    goto done;
  st = nnd_localize_run(source, target, data, &lo, &r->localize, err);
  nnd_dataset_select(data, NULL, 0, NULL);
  r->seconds_localize = nnd__now() - tl;
  if (st != NND_OK) goto done;
  if (r->localize->stopped || stopped(opt)) {
    r->stopped = true;
    goto done;
  }

  ts = nnd__now();
  if ((st = noise_floor(&s, source, err)) != NND_OK) goto done;
  r->seconds_source += nnd__now() - ts;
  double tq = nnd__now();
  if ((st = nnd__repair_candidates(r->localize, target, &s.units, err)) != NND_OK) goto done;
  r->n_unmappable = s.units.n_unmappable;
  kept = calloc((size_t)(s.units.n + 1), sizeof *kept);
  if (!kept) {
    st = nnd_error_set(err, NND_ERR_NOMEM, "out of memory");
    goto done;
  }
  int n_kept = 0;
  if (!nnd__repair_at_floor(&r->before_localize, r->noise_floor)) {
    if ((st = run_search(&s, kept, &n_kept, err)) != NND_OK) goto done;
  }
  if (stopped(opt)) {
    r->stopped = true;
    goto done;
  }
  if ((st = fill_edits(&s, kept, n_kept, err)) != NND_OK) goto done;
  /* never offer a model worse than the target */
  if (r->n_edits && nnd__repair_better(&r->before_verify, &r->after_verify)) {
    r->worse = true;
    r->n_edits = 0;
    r->after_localize = r->before_localize;
    r->after_verify = r->before_verify;
  }
  r->seconds_search = nnd__now() - tq;
  r->matches = nnd__repair_at_floor(&r->after_localize, r->noise_floor) &&
               nnd__repair_at_floor(&r->after_verify, r->noise_floor);
  /* localize judges every aligned layer against its own floor: a pair it
   * calls equivalent, with no label differing anywhere, needs no repair
   * even when the outputs differ by more than 10x the output's floor
   * (float16 weights in both files round alike) */
  if (!r->matches && r->n_edits == 0 && r->localize->equivalent &&
      r->after_localize.n_label_diff == 0 && r->after_verify.n_label_diff == 0)
    r->matches = r->equivalent_by_localize = true;
  if (!r->matches) describe_left(&s, n_kept);
  /* the edits' data lives with the result */
  nnd__repair_units *keep_units = malloc(sizeof *keep_units);
  if (!keep_units) {
    st = nnd_error_set(err, NND_ERR_NOMEM, "out of memory");
    goto done;
  }
  *keep_units = s.units;
  memset(&s.units, 0, sizeof s.units);
  r->owned = keep_units;
  nnd__repair_data *keep_data = malloc(sizeof *keep_data);
  if (!keep_data) {
    st = nnd_error_set(err, NND_ERR_NOMEM, "out of memory");
    goto done;
  }
  *keep_data = s.d;
  memset(&s.d, 0, sizeof s.d);
  r->data = keep_data;
done:
  free(kept);
  free(s.out);
  nnd__repair_units_free(&s.units);
  nnd__repair_data_free(&s.d);
  r->seconds_total = nnd__now() - t0;
  if (st != NND_OK) {
    nnd_repair_result_destroy(r);
    return st;
  }
  *out = r;
  return NND_OK;
}

void nnd_repair_result_destroy(nnd_repair_result *r) {
  if (!r) return;
  nnd_localize_result_destroy(r->localize);
  free(r->localize_items);
  free(r->verify_items);
  free(r->edits);
  if (r->owned) {
    nnd__repair_units_free(r->owned);
    free(r->owned);
  }
  if (r->data) {
    nnd__repair_data_free(r->data);
    free(r->data);
  }
  free(r);
}
