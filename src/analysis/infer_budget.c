/* What a run needs in memory, against nnd_infer_options.max_memory: the
 * runner's own buffers (inputs per pipeline, outputs per model) and every
 * model's engine. Creating checks as it goes and refuses before an
 * allocation would pass the budget; when it does, this file plans the run
 * again without allocating (engines with plan_only) to say how much the
 * requested batch needs and which batch would fit. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "analysis/infer_internal.h"
#include "util/bytes.h"
#include "util/checked_math.h"

static size_t sat_add(size_t a, size_t b) { return a > SIZE_MAX - b ? SIZE_MAX : a + b; }
static size_t sat_mul(size_t a, size_t b) {
  size_t r;
  return nnd__mul_size(a, b, &r) ? r : SIZE_MAX;
}

size_t nnd__infer_chunk_rows(const nnd_infer *r, size_t chunk_cap, const int64_t *batches) {
  /* A model of batch b runs the chunk in slices starting at multiples of
   * b; the last one reads b rows from its start, past chunk_cap when b
   * does not divide it. */
  size_t rows = chunk_cap;
  for (int i = 0; i < r->n_models; i++) {
    size_t b = (size_t)batches[i];
    size_t need = b ? (chunk_cap + b - 1) / b * b : chunk_cap;
    if (need > rows) rows = need;
  }
  return rows;
}

/* The pipelines' chunks and the per-item bookkeeping of a chunk. */
static size_t input_bytes(const nnd_infer *r, size_t chunk_cap, size_t rows) {
  size_t n = sat_mul(chunk_cap, sizeof(slot) + sizeof(size_t));
  for (int p = 0; p < r->n_pipes; p++)
    n = sat_add(n, sat_mul(sat_mul(r->p[p].item_numel, rows), sizeof(float)));
  return n;
}

/* Output buffers of model m for an engine planned at m's batch: the graph
 * outputs after the first (float32, or int64 for integer outputs) and the
 * chunk of first outputs the callback sees (which the engine writes). */
static size_t output_bytes(const model_rt *m, const nnd_engine *e, size_t chunk_rows) {
  size_t n = 0, first = 0;
  for (int i = 0; i < m->g->n_outputs; i++) {
    int rank;
    int64_t dims[NND_MAX_RANK];
    if (!nnd_engine_value_shape(e, m->g->outputs[i], &rank, dims)) continue;
    size_t numel = 1;
    for (int d = 0; d < rank; d++)
      numel = sat_mul(numel, dims[d] > 0 ? (size_t)dims[d] : 0);
    nnd_dtype dt = m->g->values[m->g->outputs[i]].dtype;
    bool is_float =
        dt == NND_DTYPE_F32 || dt == NND_DTYPE_F64 || dt == NND_DTYPE_F16 || dt == NND_DTYPE_BF16;
    if (i > 0) n = sat_add(n, sat_mul(numel, is_float ? sizeof(float) : sizeof(int64_t)));
    if (i == 0 && rank > 0 && dims[0] > 0) first = numel / (size_t)dims[0];
  }
  return sat_add(n, sat_mul(sat_mul(first, chunk_rows), sizeof(float)));
}

nnd_status nnd__infer_check_inputs(nnd_infer *r, nnd_error *err) {
  size_t need = input_bytes(r, r->chunk_cap, r->chunk_rows);
  if (r->opt.max_memory && need > r->opt.max_memory)
    return nnd__infer_memory_error(r, -1, NULL, err);
  return NND_OK;
}

size_t nnd__infer_output_bytes(const nnd_infer *r, const model_rt *m) {
  return output_bytes(m, m->engine, r->chunk_rows);
}

/* What the whole run needs for a requested batch. */
typedef struct need {
  size_t total;
  size_t activations; /* all engines' arenas */
  size_t buffers;     /* the runner's input and output buffers */
  size_t other;       /* engines' weights, constants and scratch */
  size_t largest_bytes;
  int largest_model;
  int32_t largest_value;
} need;

static nnd_status need_at(nnd_infer *r, int64_t batch, need *out, nnd_error *err) {
  memset(out, 0, sizeof *out);
  out->largest_model = -1;
  out->largest_value = -1;
  int64_t *batches = calloc((size_t)r->n_models, sizeof *batches);
  if (!batches) return nnd_error_set(err, NND_ERR_NOMEM, "out of memory");
  size_t chunk_cap = (size_t)batch;
  for (int i = 0; i < r->n_models; i++) {
    batches[i] = r->m[i].fixed_batch > 0 ? r->m[i].fixed_batch : batch;
    if ((size_t)batches[i] > chunk_cap) chunk_cap = (size_t)batches[i];
  }
  const size_t rows = nnd__infer_chunk_rows(r, chunk_cap, batches);
  out->buffers = input_bytes(r, chunk_cap, rows);
  nnd_status st = NND_OK;
  for (int i = 0; i < r->n_models && !st; i++) {
    model_rt *m = &r->m[i];
    nnd_engine_options eo;
    nnd_engine_options_init(&eo);
    eo.precision = r->opt.precision;
    eo.batch = batches[i];
    eo.max_memory = r->opt.max_memory; /* bounds the constants it still copies */
    eo.plan_only = true;
    nnd_engine *e = NULL;
    nnd_error local = {0};
    st = nnd_engine_create(m->g, &eo, &e, &local);
    if (st) {
      nnd_error_set(err, st, "%s: %s", m->name, local.message);
      break;
    }
    nnd_engine_stats es;
    nnd_engine_get_stats(e, &es);
    out->activations = sat_add(out->activations, es.activation_bytes);
    out->other = sat_add(out->other, es.memory_bytes - es.activation_bytes);
    out->buffers = sat_add(out->buffers, output_bytes(m, e, rows));
    if (es.largest_bytes > out->largest_bytes) {
      out->largest_bytes = es.largest_bytes;
      out->largest_model = i;
      out->largest_value = es.largest_value;
    }
    nnd_engine_destroy(e);
  }
  free(batches);
  out->total = sat_add(sat_add(out->activations, out->buffers), out->other);
  return st;
}

/* Whether the run fits at `batch`; a planning failure counts as not. */
static bool fits(nnd_infer *r, int64_t batch, size_t *total) {
  need n;
  nnd_error local = {0};
  bool ok = need_at(r, batch, &n, &local) == NND_OK && n.total <= r->opt.max_memory;
  if (total) *total = n.total;
  return ok;
}

/* "; batch 1365 would fit", "; even batch 1 needs 2.1 GiB", or "" when the
 * models' batch is fixed. Plans a few batches: an estimate from batch 1 and
 * the requested one (memory grows about linearly with the batch), then
 * its neighbours, then bisection. */
static void suggest_batch(nnd_infer *r, int64_t want, size_t want_total, char *buf, size_t cap) {
  char a[NND_BYTES_FMT_SIZE];
  bool free_batch = false;
  for (int i = 0; i < r->n_models; i++)
    free_batch |= r->m[i].fixed_batch <= 0;
  buf[0] = '\0';
  if (!free_batch) {
    snprintf(buf, cap, "; the model%s batch size is fixed", r->n_models > 1 ? "s'" : "'s");
    return;
  }
  size_t one;
  if (want <= 1 || !fits(r, 1, &one)) {
    if (want > 1) snprintf(buf, cap, "; even batch 1 needs %s", nnd__fmt_bytes(one, a));
    return;
  }
  int64_t lo = 1, hi = want; /* lo fits, hi does not */
  double per = want_total > one ? (double)(want_total - one) / (double)(want - 1) : 0;
  int64_t guess = per > 0 ? 1 + (int64_t)((double)(r->opt.max_memory - one) / per) : want - 1;
  for (int tries = 0; hi - lo > 1 && tries < 24; tries++) {
    int64_t mid = guess > lo && guess < hi ? guess : lo + (hi - lo) / 2;
    if (fits(r, mid, NULL)) {
      lo = mid;
      guess = mid + 1;
    } else {
      hi = mid;
      guess = mid - 1;
    }
  }
  snprintf(buf, cap, "; batch %lld would fit", (long long)lo);
}

/* "a.onnx" or "a.onnx, b.onnx" (cut short past a few names). */
static void model_names(const nnd_infer *r, char *buf, size_t cap) {
  size_t n = 0;
  buf[0] = '\0';
  for (int i = 0; i < r->n_models && n + 1 < cap; i++) {
    int k = snprintf(buf + n, cap - n, "%s%s", i ? ", " : "", r->m[i].name);
    if (k < 0) break;
    n += (size_t)k;
  }
}

nnd_status nnd__infer_memory_error(nnd_infer *r, int i, const char *what, nnd_error *err) {
  const int64_t want = r->opt.batch;
  need n;
  nnd_error local = {0};
  nnd_status st = need_at(r, want, &n, &local);
  if (st != NND_OK || n.total <= r->opt.max_memory) {
    /* Not the batch: a constant past the budget (planning says which),
     * or the allocator failed below the budget. */
    if (what && i >= 0) return nnd_error_set(err, NND_ERR_NOMEM, "%s: %s", r->m[i].name, what);
    return nnd_error_set(err, st ? local.status : NND_ERR_NOMEM, "%s",
                         st ? local.message : "out of memory");
  }
  char names[512], tot[NND_BYTES_FMT_SIZE], act[NND_BYTES_FMT_SIZE], buf[NND_BYTES_FMT_SIZE],
      oth[NND_BYTES_FMT_SIZE], bud[NND_BYTES_FMT_SIZE], largest[400] = "", fit[96];
  model_names(r, names, sizeof names);
  if (n.largest_value >= 0) {
    const nnd_graph *g = r->m[n.largest_model].g;
    const nnd_value *v = &g->values[n.largest_value];
    const nnd_node *p = v->producer >= 0 ? &g->nodes[v->producer] : NULL;
    if (p)
      snprintf(largest, sizeof largest, ", the largest '%s' from node '%s' (%s)", v->name, p->name,
               p->prov.op_type ? p->prov.op_type : nnd_op_name(p->op));
    else
      snprintf(largest, sizeof largest, ", the largest '%s'", v->name);
  }
  suggest_batch(r, want, n.total, fit, sizeof fit);
  const char *hint = r->opt.max_memory_hint;
  return nnd_error_set(err, NND_ERR_NOMEM,
                       "%s: batch %lld needs %s (%s of activations%s; %s of input and output "
                       "buffers; %s of weights and scratch), over the %s memory budget%s%s%s%s",
                       names, (long long)want, nnd__fmt_bytes(n.total, tot),
                       nnd__fmt_bytes(n.activations, act), largest, nnd__fmt_bytes(n.buffers, buf),
                       nnd__fmt_bytes(n.other, oth), nnd__fmt_bytes(r->opt.max_memory, bud),
                       hint ? " (" : "", hint ? hint : "", hint ? ")" : "", fit);
}
