/* The shared inference loop (include/nndiff/infer.h): batches of dataset
 * items, decoded once, preprocessed once per distinct input pipeline, run
 * through one engine per model, delivered model by model. */
#include "nndiff/infer.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "analysis/infer_internal.h"
#include "util/bytes.h"
#include "util/checked_math.h"

const char *nnd_on_error_name(nnd_on_error policy) {
  return policy == NND_ON_ERROR_SKIP ? "skip" : "fail";
}

void nnd_infer_options_init(nnd_infer_options *o) {
  memset(o, 0, sizeof *o);
  o->precision = NND_PRECISION_FAST;
  o->batch = NND_INFER_DEFAULT_BATCH;
  o->threads = 1;
  o->on_error = NND_ON_ERROR_FAIL;
}

static double now_seconds(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* ------------------------------------------------------------- create */

static bool same_shape(const nnd_item_shape *a, const nnd_item_shape *b) {
  if (a->rank != b->rank || a->layout != b->layout) return false;
  for (size_t i = 0; i < a->rank; i++)
    if (a->dims[i] != b->dims[i]) return false;
  return true;
}

/* Two resolved pipelines give the same floats for every image. The preset
 * name and the override bits are labels, not behaviour. */
static bool same_pipeline(const nnd_preprocess *a, const nnd_preprocess *b) {
  for (int c = 0; c < 3; c++)
    if (a->mean[c] != b->mean[c] || a->std[c] != b->std[c]) return false;
  return a->central_fraction == b->central_fraction && a->resize == b->resize &&
         a->filter == b->filter && a->size == b->size && a->out_height == b->out_height &&
         a->out_width == b->out_width && a->scale == b->scale && a->order == b->order &&
         a->layout == b->layout && a->channels == b->channels;
}

/* The model's single float input: its value id, engine batch and item shape. */
static nnd_status model_input(const nnd_graph *g, const char *name, int64_t want_batch,
                              int32_t *value_out, int64_t *batch_out, nnd_item_shape *item,
                              nnd_error *err) {
  if (g->n_inputs != 1) {
    char names[256] = "";
    size_t n = 0;
    for (int i = 0; i < g->n_inputs && n < sizeof names - 64; i++)
      n += (size_t)snprintf(names + n, sizeof names - n, "%s'%s'", i ? ", " : "",
                            g->values[g->inputs[i]].name);
    return nnd_error_set(err, NND_ERR_UNSUPPORTED,
                         "%s: the model has %d graph inputs%s%s; run and compare feed models "
                         "with exactly one (the image or tensor batch)",
                         name, g->n_inputs, n ? ": " : "", names);
  }
  const nnd_value *v = &g->values[g->inputs[0]];
  char shape[256];
  nnd_shape_format(&v->shape, shape, sizeof shape);
  if (v->dtype != NND_DTYPE_F32 && v->dtype != NND_DTYPE_F64)
    return nnd_error_set(err, NND_ERR_UNSUPPORTED,
                         "%s: input '%s' is %s; run and compare feed float32 tensors", name,
                         v->name, nnd_dtype_name(v->dtype));
  if (v->shape.rank < 2 || v->shape.rank - 1 > NND_DATA_MAX_RANK)
    return nnd_error_set(err, NND_ERR_UNSUPPORTED,
                         "%s: input '%s' has shape %s; run and compare need [batch, ...] with a "
                         "leading batch dimension",
                         name, v->name, shape);
  for (int d = 1; d < v->shape.rank; d++)
    if (v->shape.dims[d].size <= 0)
      return nnd_error_set(err, NND_ERR_UNSUPPORTED,
                           "%s: input '%s' has shape %s: dim %d is not fixed; the engine needs "
                           "every dimension but the batch known",
                           name, v->name, shape, d);
  int64_t b0 = v->shape.dims[0].size;
  *value_out = g->inputs[0];
  *batch_out = b0 > 0 ? b0 : want_batch;
  item->rank = (size_t)(v->shape.rank - 1);
  for (size_t d = 0; d < item->rank; d++)
    item->dims[d] = v->shape.dims[d + 1].size;
  item->layout = v->layout == NND_LAYOUT_NCHW   ? NND_DATA_LAYOUT_NCHW
                 : v->layout == NND_LAYOUT_NHWC ? NND_DATA_LAYOUT_NHWC
                                                : NND_DATA_LAYOUT_AUTO;
  return NND_OK;
}

/* Finds or adds the pipeline for a model; tensor data checks the stored
 * items fit the model's input now (reading item 0), so a wrong file fails
 * before any engine is planned. */
static nnd_status attach_pipeline(nnd_infer *r, model_rt *m, const nnd_item_shape *item,
                                  const nnd_preprocess *pp_in, nnd_error *err) {
  pipeline cand = {.shape = *item};
  if (r->images) {
    nnd_preprocess base;
    if (!pp_in) {
      nnd_status st = nnd_preprocess_preset("torchvision", &base, err);
      if (st) return st;
      pp_in = &base;
    }
    nnd_error local = {0};
    if (nnd_preprocess_resolve(pp_in, item, &cand.pp, &local) != NND_OK)
      return nnd_error_set(err, local.status, "%s: %s", m->name, local.message);
    /* The pipeline writes what it resolved: channels-first or -last. */
    cand.shape.layout = cand.pp.layout;
  }
  for (int i = 0; i < r->n_pipes; i++) {
    pipeline *p = &r->p[i];
    if (same_shape(&p->shape, &cand.shape) && (!r->images || same_pipeline(&p->pp, &cand.pp))) {
      m->pipeline = i;
      return NND_OK;
    }
  }
  size_t numel = 1, item_bytes;
  for (size_t d = 0; d < item->rank; d++)
    if (!nnd__mul_size(numel, (size_t)item->dims[d], &numel)) numel = SIZE_MAX;
  char a[NND_BYTES_FMT_SIZE], b[NND_BYTES_FMT_SIZE], shape[256];
  nnd_shape_format(&m->g->values[m->input_value].shape, shape, sizeof shape);
  if (numel == SIZE_MAX || !nnd__mul_size(numel, sizeof(float), &item_bytes))
    return nnd_error_set(err, NND_ERR_UNSUPPORTED,
                         "%s: input '%s' %s: one item would need more than 2^64 bytes", m->name,
                         m->g->values[m->input_value].name, shape);
  /* An impossible input shape is refused here, by size, before anything is
   * allocated for it. */
  if (r->opt.max_memory && item_bytes > r->opt.max_memory)
    return nnd_error_set(
        err, NND_ERR_NOMEM, "%s: input '%s' %s: one item needs %s, over the %s memory budget%s%s%s",
        m->name, m->g->values[m->input_value].name, shape, nnd__fmt_bytes(item_bytes, a),
        nnd__fmt_bytes(r->opt.max_memory, b), r->opt.max_memory_hint ? " (" : "",
        r->opt.max_memory_hint ? r->opt.max_memory_hint : "", r->opt.max_memory_hint ? ")" : "");
  cand.item_numel = numel;
  if (r->images) {
    size_t need = nnd_preprocess_describe(&cand.pp, NULL, 0) + 1;
    cand.text = malloc(need);
    if (cand.text) nnd_preprocess_describe(&cand.pp, cand.text, need);
  } else {
    cand.text = strdup("");
    float *probe = malloc(item_bytes);
    nnd_error local = {0};
    nnd_status st = probe ? nnd_dataset_read(r->ds, 0, item, probe, numel, NULL, &local)
                          : nnd_error_set(&local, NND_ERR_NOMEM,
                                          "%s: out of memory allocating %s for one item of input "
                                          "'%s' %s",
                                          m->name, nnd__fmt_bytes(item_bytes, a),
                                          m->g->values[m->input_value].name, shape);
    free(probe);
    if (st) {
      free(cand.text);
      if (st == NND_ERR_NOMEM) return nnd_error_set(err, st, "%s", local.message);
      return nnd_error_set(err, st, "%s (model %s)", local.message, m->name);
    }
  }
  pipeline *np = realloc(r->p, (size_t)(r->n_pipes + 1) * sizeof *np);
  if (!np || !cand.text) {
    free(cand.text);
    if (np) r->p = np;
    return nnd_error_set(err, NND_ERR_NOMEM, "out of memory");
  }
  r->p = np;
  r->p[r->n_pipes] = cand;
  m->pipeline = r->n_pipes++;
  return NND_OK;
}

static nnd_status plan_outputs(nnd_infer *r, model_rt *m, nnd_error *err) {
  const nnd_graph *g = m->g;
  if (g->n_outputs < 1)
    return nnd_error_set(err, NND_ERR_UNSUPPORTED, "%s: the model has no outputs", m->name);
  m->n_outputs = g->n_outputs;
  m->outs = calloc((size_t)g->n_outputs, sizeof *m->outs);
  if (!m->outs) return nnd_error_set(err, NND_ERR_NOMEM, "out of memory");
  for (int i = 0; i < g->n_outputs; i++) {
    nnd_tensor *t = &m->outs[i];
    int32_t vid = g->outputs[i];
    if (!nnd_engine_value_shape(m->engine, vid, &t->rank, t->dims))
      return nnd_error_set(err, NND_ERR_INTERNAL, "%s: output '%s' has no planned shape", m->name,
                           g->values[vid].name);
    int64_t numel = 1;
    for (int d = 0; d < t->rank; d++)
      if (!nnd__mul_i64(numel, t->dims[d], &numel))
        return nnd_error_set(err, NND_ERR_UNSUPPORTED, "%s: output '%s' is too large", m->name,
                             g->values[vid].name);
    /* Integer outputs (an argmax, a shape) come back as int64. */
    bool is_int = g->values[vid].dtype != NND_DTYPE_F32 && g->values[vid].dtype != NND_DTYPE_F64 &&
                  g->values[vid].dtype != NND_DTYPE_F16 && g->values[vid].dtype != NND_DTYPE_BF16;
    t->dtype = is_int && i > 0 ? NND_DTYPE_I64 : NND_DTYPE_F32;
    size_t bytes = (size_t)(numel ? numel : 1) * (t->dtype == NND_DTYPE_I64 ? 8 : 4);
    /* The first output goes straight into chunk_out (run_model). */
    t->data = i == 0 ? NULL : malloc(bytes);
    if (i > 0 && !t->data) {
      char b[NND_BYTES_FMT_SIZE];
      return nnd_error_set(err, NND_ERR_NOMEM, "%s: out of memory allocating %s for output '%s'",
                           m->name, nnd__fmt_bytes(bytes, b), g->values[vid].name);
    }
    if (i > 0) continue;
    char shape[256];
    nnd_shape_format(&g->values[vid].shape, shape, sizeof shape);
    if (is_int)
      return nnd_error_set(err, NND_ERR_UNSUPPORTED,
                           "%s: the first output '%s' is %s; run and compare read float scores",
                           m->name, g->values[vid].name, nnd_dtype_name(g->values[vid].dtype));
    if (t->rank < 1 || t->dims[0] != m->batch)
      return nnd_error_set(err, NND_ERR_UNSUPPORTED,
                           "%s: the first output '%s' has shape %s; run and compare need the "
                           "batch as its first dimension",
                           m->name, g->values[vid].name, shape);
    m->out_rank = t->rank - 1;
    memcpy(m->out_dims, t->dims + 1, (size_t)m->out_rank * sizeof *m->out_dims);
    m->out_numel = (size_t)(numel / m->batch);
  }
  return NND_OK;
}

nnd_status nnd_infer_create(nnd_dataset *ds, const nnd_infer_model *models, int n_models,
                            const nnd_infer_options *options, nnd_infer **out, nnd_error *err) {
  *out = NULL;
  if (!ds || !models || n_models < 1)
    return nnd_error_set(err, NND_ERR_USAGE, "nnd_infer_create: no dataset or no models");
  double t0 = now_seconds();
  nnd_infer *r = calloc(1, sizeof *r);
  if (!r) return nnd_error_set(err, NND_ERR_NOMEM, "out of memory");
  nnd_status st = NND_OK;
  if (options)
    r->opt = *options;
  else
    nnd_infer_options_init(&r->opt);
  if (r->opt.batch <= 0) r->opt.batch = NND_INFER_DEFAULT_BATCH;
  if (r->opt.threads < 1) r->opt.threads = 1;
  r->ds = ds;
  r->images = nnd_dataset_get_kind(ds) == NND_DATASET_IMAGES;
  r->total = nnd_dataset_count(ds);
  if (r->opt.limit && r->opt.limit < r->total) r->total = r->opt.limit;
  r->m = calloc((size_t)n_models, sizeof *r->m);
  r->model_seconds = calloc((size_t)n_models, sizeof *r->model_seconds);
  if (!r->m || !r->model_seconds) {
    st = nnd_error_set(err, NND_ERR_NOMEM, "out of memory");
    goto fail;
  }
  r->n_models = n_models;
  r->chunk_cap = (size_t)r->opt.batch;
  for (int i = 0; i < n_models; i++) {
    model_rt *m = &r->m[i];
    m->g = models[i].graph;
    const char *name = models[i].name            ? models[i].name
                       : m->g && m->g->info.path ? m->g->info.path
                                                 : "model";
    if (!(m->name = strdup(name))) {
      st = nnd_error_set(err, NND_ERR_NOMEM, "out of memory");
      goto fail;
    }
    if (!m->g) {
      st = nnd_error_set(err, NND_ERR_USAGE, "%s: no graph", m->name);
      goto fail;
    }
    nnd_item_shape item;
    st = model_input(m->g, m->name, r->opt.batch, &m->input_value, &m->batch, &item, err);
    if (!st) {
      int64_t b0 = m->g->values[m->input_value].shape.dims[0].size;
      m->fixed_batch = b0 > 0 ? b0 : 0;
      st = attach_pipeline(r, m, &item, models[i].preprocess, err);
    }
    if (st) goto fail;
    /* Chunks are at least one engine batch of the largest fixed batch. */
    if ((size_t)m->batch > r->chunk_cap) r->chunk_cap = (size_t)m->batch;
  }
  {
    int64_t *batches = malloc((size_t)n_models * sizeof *batches);
    if (!batches) {
      st = nnd_error_set(err, NND_ERR_NOMEM, "out of memory");
      goto fail;
    }
    for (int i = 0; i < n_models; i++)
      batches[i] = r->m[i].batch;
    r->chunk_rows = nnd__infer_chunk_rows(r, r->chunk_cap, batches);
    free(batches);
  }
  /* The budget, checked before each allocation it covers: the input
   * chunks, then each engine (given what is left), then its outputs. */
  st = nnd__infer_check_inputs(r, err);
  const size_t budget = r->opt.max_memory;
  size_t used = 0;
  for (int p = 0; p < r->n_pipes && budget; p++)
    used += r->p[p].item_numel * r->chunk_rows * sizeof(float); /* <= budget: checked */
  for (int i = 0; i < n_models && !st; i++) {
    model_rt *m = &r->m[i];
    nnd_engine_options eo;
    nnd_engine_options_init(&eo);
    eo.precision = r->opt.precision;
    eo.batch = m->batch;
    eo.threads = r->opt.threads;
    eo.max_memory = !budget ? 0 : used < budget ? budget - used : 1; /* 0 would mean none */
    nnd_error local = {0};
    if (nnd_engine_create(m->g, &eo, &m->engine, &local) != NND_OK) {
      if (local.status == NND_ERR_NOMEM && budget)
        st = nnd__infer_memory_error(r, i, local.message, err);
      else
        st = nnd_error_set(err, local.status, "%s: %s", m->name, local.message);
      break;
    }
    nnd_engine_stats es;
    nnd_engine_get_stats(m->engine, &es);
    used += es.memory_bytes;
    size_t ob = nnd__infer_output_bytes(r, m);
    if (budget && (used > budget || ob > budget - used)) {
      st = nnd__infer_memory_error(r, i, "out of memory for its output buffers", err);
      break;
    }
    used += ob;
    st = plan_outputs(r, m, err);
    if (st) break;
    size_t n = 0;
    if (!nnd__mul_size(m->out_numel, r->chunk_rows, &n) ||
        !(m->chunk_out = malloc((n ? n : 1) * sizeof(float)))) {
      char a[NND_BYTES_FMT_SIZE];
      st = nnd_error_set(err, NND_ERR_NOMEM, "%s: out of memory allocating %s for outputs", m->name,
                         nnd__fmt_bytes(n * sizeof(float), a));
    }
  }
  for (int i = 0; i < r->n_pipes && !st; i++) {
    size_t n = 0;
    bool ok =
        nnd__mul_size(r->p[i].item_numel, r->chunk_rows, &n) && nnd__mul_size(n, sizeof(float), &n);
    if (!ok || !(r->p[i].chunk = malloc(n ? n : 1))) {
      char a[NND_BYTES_FMT_SIZE];
      int model = 0;
      while (model < n_models - 1 && r->m[model].pipeline != i)
        model++;
      st = nnd_error_set(err, NND_ERR_NOMEM,
                         "%s: out of memory allocating %s for a chunk of %zu inputs of '%s'",
                         r->m[model].name, ok ? nnd__fmt_bytes(n, a) : "more than 2^64 bytes",
                         r->chunk_rows, r->m[model].g->values[r->m[model].input_value].name);
    }
  }
  if (!st && !(r->items = malloc(r->chunk_cap * sizeof *r->items)))
    st = nnd_error_set(err, NND_ERR_NOMEM, "out of memory");
  if (st) goto fail;
  r->create_seconds = now_seconds() - t0;
  *out = r;
  return NND_OK;
fail:
  nnd_infer_destroy(r);
  return st;
}

void nnd_infer_destroy(nnd_infer *r) {
  if (!r) return;
  for (int i = 0; r->m && i < r->n_models; i++) {
    model_rt *m = &r->m[i];
    nnd_engine_destroy(m->engine);
    for (int k = 1; m->outs && k < m->n_outputs; k++) /* outs[0] points into chunk_out */
      free(m->outs[k].data);
    free(m->outs);
    free(m->chunk_out);
    free(m->name);
  }
  free(r->m);
  for (int i = 0; r->p && i < r->n_pipes; i++) {
    free(r->p[i].text);
    free(r->p[i].chunk);
  }
  free(r->p);
  for (size_t i = 0; i < r->n_skips; i++) {
    free((char *)r->skips[i].name);
    free((char *)r->skips[i].reason);
  }
  free(r->skips);
  free(r->items);
  free(r->model_seconds);
  free(r);
}

int nnd_infer_model_count(const nnd_infer *r) { return r->n_models; }
size_t nnd_infer_total(const nnd_infer *r) { return r->total; }
int nnd_infer_pipeline_count(const nnd_infer *r) { return r->n_pipes; }

void nnd_infer_get_model_info(const nnd_infer *r, int i, nnd_infer_model_info *info) {
  memset(info, 0, sizeof *info);
  if (i < 0 || i >= r->n_models) return;
  const model_rt *m = &r->m[i];
  const pipeline *p = &r->p[m->pipeline];
  info->name = m->name;
  info->input_name = m->g->values[m->input_value].name;
  info->input = p->shape;
  info->output_name = m->g->values[m->g->outputs[0]].name;
  info->output_rank = m->out_rank;
  memcpy(info->output_dims, m->out_dims, sizeof info->output_dims);
  info->output_numel = m->out_numel;
  info->batch = m->batch;
  if (r->images) info->preprocess = p->pp;
  info->preprocess_text = p->text;
  info->pipeline = m->pipeline;
}

const nnd_infer_skip *nnd_infer_skipped(const nnd_infer *r, size_t *count_out) {
  *count_out = r->n_skips;
  return r->skips;
}

/* ---------------------------------------------------------------- run */

static bool stop_requested(const nnd_infer *r) { return r->opt.stop_flag && *r->opt.stop_flag; }

typedef struct load_job {
  nnd_infer *r;
  slot *slots;
  size_t n;
  atomic_size_t next;
} load_job;

/* Decodes (images) or reads (tensors) one item into every pipeline's row. */
static void load_one(nnd_infer *r, slot *s) {
  s->st = NND_OK;
  s->item_error = false;
  nnd_error_clear(&s->err);
  if (stop_requested(r)) return; /* the rows are not delivered anyway */
  if (!r->images) {
    for (int p = 0; p < r->n_pipes && !s->st; p++) {
      pipeline *pl = &r->p[p];
      s->st = nnd_dataset_read(r->ds, s->index, &pl->shape,
                               pl->chunk + (size_t)s->slot_pos * pl->item_numel, pl->item_numel,
                               NULL, &s->err);
    }
    /* A tensor file fails as a whole (its shape, its size) except for an
     * item it cannot read. */
    s->item_error = s->st == NND_ERR_IO || s->st == NND_ERR_FORMAT || s->st == NND_ERR_UNSUPPORTED;
    return;
  }
  nnd_image img;
  s->st = nnd_dataset_decode(r->ds, s->index, &img, NULL, &s->err);
  for (int p = 0; p < r->n_pipes && !s->st; p++) {
    pipeline *pl = &r->p[p];
    s->st = nnd_dataset_preprocess_image(r->ds, s->index, &pl->pp, &img,
                                         pl->chunk + (size_t)s->slot_pos * pl->item_numel,
                                         pl->item_numel, &s->err);
  }
  nnd_image_free(&img);
  /* Whatever decoding or preprocessing one image refuses or runs out of
   * memory on came from that image (its size, its bytes): it fails or is
   * skipped alone. */
  s->item_error = s->st == NND_ERR_IO || s->st == NND_ERR_FORMAT || s->st == NND_ERR_UNSUPPORTED ||
                  s->st == NND_ERR_NOMEM;
}

static void *load_worker(void *arg) {
  load_job *job = arg;
  for (;;) {
    size_t i = atomic_fetch_add(&job->next, 1);
    if (i >= job->n) break;
    load_one(job->r, &job->slots[i]);
  }
  return NULL;
}

/* Loads slots[0..n) with up to threads workers (the caller is one). */
static void load_parallel(nnd_infer *r, slot *slots, size_t n) {
  load_job job = {.r = r, .slots = slots, .n = n};
  atomic_init(&job.next, 0);
  int extra = r->opt.threads - 1;
  if ((size_t)extra > n - 1) extra = (int)(n - 1);
  pthread_t tids[64];
  if (extra > 64) extra = 64;
  int started = 0;
  for (; started < extra; started++)
    if (pthread_create(&tids[started], NULL, load_worker, &job) != 0) break;
  load_worker(&job);
  for (int i = 0; i < started; i++)
    pthread_join(tids[i], NULL);
}

static nnd_status add_skip(nnd_infer *r, size_t index, const char *reason, nnd_error *err) {
  if (r->n_skips == r->cap_skips) {
    size_t cap = r->cap_skips ? r->cap_skips * 2 : 16;
    nnd_infer_skip *ns = realloc(r->skips, cap * sizeof *ns);
    if (!ns) return nnd_error_set(err, NND_ERR_NOMEM, "out of memory");
    r->skips = ns;
    r->cap_skips = cap;
  }
  nnd_item_info info;
  nnd_status st = nnd_dataset_item(r->ds, index, &info, err);
  if (st) return st;
  char *name = strdup(info.name ? info.name : ""), *why = strdup(reason);
  if (!name || !why) {
    free(name);
    free(why);
    return nnd_error_set(err, NND_ERR_NOMEM, "out of memory");
  }
  r->skips[r->n_skips++] = (nnd_infer_skip){index, name, why};
  return NND_OK;
}

/* Fills the next chunk: up to chunk_cap items that loaded, starting at
 * *next. Returns the count through *count_out; skipped items are recorded. */
static nnd_status load_chunk(nnd_infer *r, size_t *next, size_t *count_out, slot *slots,
                             nnd_error *err) {
  size_t have = 0;
  *count_out = 0;
  while (have < r->chunk_cap && *next < r->total && !stop_requested(r)) {
    size_t want = r->chunk_cap - have;
    if (want > r->total - *next) want = r->total - *next;
    for (size_t j = 0; j < want; j++)
      slots[j] = (slot){.index = *next + j, .slot_pos = (int)(have + j)};
    load_parallel(r, slots, want);
    *next += want;
    /* Keep the loaded ones, in order; rows move down over the failures. */
    for (size_t j = 0; j < want; j++) {
      slot *s = &slots[j];
      if (s->st != NND_OK) {
        if (!s->item_error || r->opt.on_error == NND_ON_ERROR_FAIL)
          return nnd_error_set(err, s->st, "%s", s->err.message);
        nnd_status st = add_skip(r, s->index, s->err.message, err);
        if (st) return st;
        continue;
      }
      if ((size_t)s->slot_pos != have)
        for (int p = 0; p < r->n_pipes; p++) {
          pipeline *pl = &r->p[p];
          memmove(pl->chunk + have * pl->item_numel,
                  pl->chunk + (size_t)s->slot_pos * pl->item_numel, pl->item_numel * sizeof(float));
        }
      r->items[have++] = s->index;
    }
  }
  *count_out = have;
  return NND_OK;
}

/* Runs model m over the chunk's `count` rows in engine batches. */
static nnd_status run_model(nnd_infer *r, model_rt *m, size_t count, double *seconds,
                            nnd_error *err) {
  const pipeline *pl = &r->p[m->pipeline];
  const size_t b = (size_t)m->batch;
  *seconds = 0;
  for (size_t off = 0; off < count; off += b) {
    if (stop_requested(r)) return NND_OK;
    size_t n = count - off < b ? count - off : b;
    nnd_tensor in = {.dtype = NND_DTYPE_F32, .rank = (int)pl->shape.rank + 1};
    in.dims[0] = (int64_t)b;
    for (size_t d = 0; d < pl->shape.rank; d++)
      in.dims[d + 1] = pl->shape.dims[d];
    float *src = pl->chunk + off * pl->item_numel;
    /* The last run of a chunk is padded with zeros in place: chunk_rows
     * leaves room, and rows past the chunk's count are never delivered. */
    if (n < b) memset(src + n * pl->item_numel, 0, (b - n) * pl->item_numel * sizeof(float));
    in.data = src;
    double t0 = now_seconds();
    nnd_error local = {0};
    /* Like the inputs, the outputs of a last, padded run have room in
     * chunk_out (chunk_rows rows); the padding rows are never delivered. */
    m->outs[0].data = m->chunk_out + off * m->out_numel;
    nnd_status st = nnd_engine_run(m->engine, &in, 1, m->outs, m->n_outputs, &local);
    *seconds += now_seconds() - t0;
    if (st) return nnd_error_set(err, st, "%s: %s", m->name, local.message);
  }
  return NND_OK;
}

nnd_status nnd_infer_run(nnd_infer *r, nnd_infer_stats *stats_out, nnd_error *err) {
  if (r->ran) return nnd_error_set(err, NND_ERR_USAGE, "nnd_infer_run: a runner runs once");
  r->ran = true;
  nnd_infer_stats s = {0};
  s.create_seconds = r->create_seconds;
  s.model_engine_seconds = r->model_seconds;
  slot *slots = calloc(r->chunk_cap, sizeof *slots);
  if (!slots) return nnd_error_set(err, NND_ERR_NOMEM, "out of memory");
  double t_start = now_seconds();
  nnd_status st = NND_OK;
  size_t next = 0;
  nnd_infer_progress pr = {.total = r->total};
  if (r->opt.progress) r->opt.progress(r->opt.progress_user, &pr);
  while (next < r->total) {
    if (stop_requested(r)) break;
    size_t count;
    double t0 = now_seconds();
    st = load_chunk(r, &next, &count, slots, err);
    s.load_seconds += now_seconds() - t0;
    if (st) break;
    for (int i = 0; i < r->n_models && count && !stop_requested(r); i++) {
      model_rt *m = &r->m[i];
      double secs;
      st = run_model(r, m, count, &secs, err);
      r->model_seconds[i] += secs;
      s.engine_seconds += secs;
      if (st || stop_requested(r)) break;
      if (r->opt.on_output) {
        nnd_infer_batch b = {.model = i,
                             .count = count,
                             .items = r->items,
                             .output = m->chunk_out,
                             .item_numel = m->out_numel,
                             .engine_seconds = secs};
        st = r->opt.on_output(r->opt.output_user, &b, err);
        if (st) {
          if (!err || !err->message[0])
            nnd_error_set(err, st, "%s: the output callback failed", m->name);
          break;
        }
      }
    }
    if (st || stop_requested(r)) break;
    s.delivered += count;
    pr.done = next;
    pr.skipped = r->n_skips;
    pr.elapsed = now_seconds() - t_start;
    if (r->opt.progress) r->opt.progress(r->opt.progress_user, &pr);
  }
  free(slots);
  s.visited = s.delivered + r->n_skips;
  s.skipped = r->n_skips;
  s.stopped = stop_requested(r) && st == NND_OK;
  s.seconds = now_seconds() - t_start;
  if (stats_out) *stats_out = s;
  return st;
}
