/* The dynamic half of localisation: run both models on the data, pick the
 * inputs to analyse, and compare the aligned layers' activations through
 * the engine's taps, against the source's own float32-vs-float64 noise
 * floor.
 *
 * Pass 1 (outputs): both models, fast path, no taps, every dataset item (up
 * to --limit): top-1 labels and output differences per item.
 * Pass 2 (layers), on the K selected items, one at a time:
 *   source, fast, taps on the aligned values: each value is copied once
 *     into a holding buffer (one item's worth: the comparisons need both
 *     models' values and the engines run one after the other);
 *   target, fast, taps: each aligned value is compared with the held
 *     source value as it arrives (relative L2, max |d| / max |s|,
 *     correlation), layout-aware (NCHW vs NHWC);
 *   source, reference (float64), taps, on the first `floor_images` items
 *     only: each value is compared with the held fast value: the floor.
 * Nothing is written to disk; the holding buffers are reused per item. */
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "analysis/localize_internal.h"
#include "nndiff/data.h"
#include "nndiff/engine.h"
#include "nndiff/infer.h"

double nnd__now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* ------------------------------------------------------------ model io */

typedef struct model_io {
  const nnd_graph *g;
  int32_t input;       /* the graph input fed with the data */
  nnd_item_shape item; /* one item, without the batch dim */
  int64_t item_numel;
  float *in; /* one item */
  nnd_tensor in_t;
  int n_out;
  nnd_tensor *out_t; /* F32, batch 1 */
  int64_t out0_numel;
} model_io;

static nnd_layout graph_input_layout(const nnd_graph *g, int32_t v) {
  const nnd_value *x = &g->values[v];
  if (x->layout != NND_LAYOUT_NONE) return x->layout;
  return NND_LAYOUT_NONE;
}

static nnd_status setup_io(model_io *m, const nnd_graph *g, const char *which, nnd_error *err) {
  memset(m, 0, sizeof *m);
  m->g = g;
  if (g->n_inputs != 1)
    return nnd_error_set(err, NND_ERR_UNSUPPORTED,
                         "%s model has %d graph inputs; localize feeds one input tensor", which,
                         g->n_inputs);
  m->input = g->inputs[0];
  const nnd_value *x = &g->values[m->input];
  if (x->shape.rank < 1 || x->shape.rank > NND_DATA_MAX_RANK + 1)
    return nnd_error_set(err, NND_ERR_UNSUPPORTED, "%s model input '%s' has rank %d", which,
                         x->name, x->shape.rank);
  m->item.rank = (size_t)(x->shape.rank - 1);
  m->item_numel = 1;
  for (int d = 1; d < x->shape.rank; d++) {
    int64_t s = x->shape.dims[d].size;
    if (s <= 0)
      return nnd_error_set(err, NND_ERR_UNSUPPORTED, "%s model input '%s': dim %d is not static",
                           which, x->name, d);
    m->item.dims[d - 1] = s;
    m->item_numel *= s;
  }
  nnd_layout l = graph_input_layout(g, m->input);
  m->item.layout = l == NND_LAYOUT_NHWC   ? NND_DATA_LAYOUT_NHWC
                   : l == NND_LAYOUT_NCHW ? NND_DATA_LAYOUT_NCHW
                                          : NND_DATA_LAYOUT_AUTO;
  m->in = malloc((size_t)m->item_numel * sizeof *m->in);
  if (!m->in) return nnd_error_set(err, NND_ERR_NOMEM, "out of memory");
  m->in_t.dtype = NND_DTYPE_F32;
  m->in_t.rank = x->shape.rank;
  m->in_t.dims[0] = 1;
  for (int d = 1; d < x->shape.rank; d++)
    m->in_t.dims[d] = x->shape.dims[d].size;
  m->in_t.data = m->in;
  return NND_OK;
}

static nnd_status setup_outputs(model_io *m, const nnd_engine *e, nnd_error *err) {
  if (m->out_t) return NND_OK;
  m->n_out = m->g->n_outputs;
  m->out_t = calloc((size_t)(m->n_out ? m->n_out : 1), sizeof *m->out_t);
  if (!m->out_t) return nnd_error_set(err, NND_ERR_NOMEM, "out of memory");
  for (int i = 0; i < m->n_out; i++) {
    nnd_tensor *t = &m->out_t[i];
    t->dtype = NND_DTYPE_F32;
    if (!nnd_engine_value_shape(e, m->g->outputs[i], &t->rank, t->dims))
      return nnd_error_set(err, NND_ERR_INTERNAL, "output %d has no planned shape", i);
    int64_t n = 1;
    for (int d = 0; d < t->rank; d++)
      n *= t->dims[d];
    t->data = malloc((size_t)(n ? n : 1) * sizeof(float));
    if (!t->data) return nnd_error_set(err, NND_ERR_NOMEM, "out of memory");
    if (i == 0) m->out0_numel = n;
  }
  return NND_OK;
}

static void free_io(model_io *m) {
  free(m->in);
  for (int i = 0; m->out_t && i < m->n_out; i++)
    free(m->out_t[i].data);
  free(m->out_t);
}

static nnd_status read_item(nnd_dataset *ds, size_t i, model_io *m, nnd_item_info *info,
                            nnd_error *err) {
  return nnd_dataset_read(ds, i, &m->item, m->in, (size_t)m->item_numel, info, err);
}

/* Bytes an engine holds (0 for none), for the budget of the next one. */
static size_t engine_bytes(const nnd_engine *e) {
  nnd_engine_stats st = {0};
  if (e) nnd_engine_get_stats(e, &st);
  return st.memory_bytes;
}

/* `alive`: the engines that exist while this one does, whose bytes come
 * out of the budget. Errors name the model file. */
static nnd_status make_engine(const nnd_graph *g, const nnd_localize_options *opt, nnd_precision p,
                              const int32_t *obs, int n_obs, nnd_tap_fn tap, void *user,
                              const nnd_engine *alive0, const nnd_engine *alive1, nnd_engine **out,
                              nnd_error *err) {
  nnd_engine_options eo;
  nnd_engine_options_init(&eo);
  eo.precision = p;
  eo.batch = 1;
  eo.threads = opt->threads > 0 ? opt->threads : 1;
  if (opt->max_memory) {
    size_t used = engine_bytes(alive0) + engine_bytes(alive1);
    eo.max_memory = used < opt->max_memory ? opt->max_memory - used : 1;
  }
  if (obs && n_obs > 0) {
    eo.observe = NND_OBSERVE_LIST;
    eo.observe_values = obs;
    eo.n_observe_values = n_obs;
    eo.tap = tap;
    eo.tap_user = user;
  }
  nnd_error local = {0};
  nnd_status st = nnd_engine_create(g, &eo, out, &local);
  if (st != NND_OK)
    nnd_error_set(err, st, "%s: %s", g->info.path ? g->info.path : "model", local.message);
  return st;
}

/* ------------------------------------------------------------ comparing */

typedef struct cmp_acc {
  double d2, a2, maxd, maxa;
  double sa, sb, saa, sbb, sab;
  int64_t n;
} cmp_acc;

static inline void acc_add(cmp_acc *c, double a, double b) {
  double d = b - a;
  c->d2 += d * d;
  c->a2 += a * a;
  double ad = fabs(d), aa = fabs(a);
  if (ad > c->maxd || isnan(ad)) c->maxd = isnan(ad) ? INFINITY : ad;
  if (aa > c->maxa) c->maxa = aa;
  c->sa += a;
  c->sb += b;
  c->saa += a * a;
  c->sbb += b * b;
  c->sab += a * b;
  c->n++;
}

typedef struct cmp_out {
  bool ok;
  double rel_l2, max_abs_norm, corr;
} cmp_out;

static cmp_out acc_finish(const cmp_acc *c) {
  cmp_out o = {true, 0, 0, 1};
  o.rel_l2 = c->a2 > 0 ? sqrt(c->d2 / c->a2) : sqrt(c->d2);
  o.max_abs_norm = c->maxa > 0 ? c->maxd / c->maxa : c->maxd;
  double n = (double)(c->n ? c->n : 1);
  double va = c->saa / n - (c->sa / n) * (c->sa / n), vb = c->sbb / n - (c->sb / n) * (c->sb / n);
  double cov = c->sab / n - (c->sa / n) * (c->sb / n);
  if (va > 0 && vb > 0)
    o.corr = cov / sqrt(va * vb);
  else
    o.corr = (va == 0 && vb == 0) ? 1.0 : 0.0;
  if (isnan(o.rel_l2)) o.rel_l2 = INFINITY;
  return o;
}

/* A tensor seen by a tap, with the layout it is in. */
typedef struct tview {
  nnd_dtype dtype; /* F32 or F64 */
  const void *data;
  int rank;
  const int64_t *dims;
  int64_t numel;
  nnd_layout layout;
} tview;

static inline double tv_at(const tview *v, int64_t i) {
  return v->dtype == NND_DTYPE_F64 ? ((const double *)v->data)[i]
                                   : (double)((const float *)v->data)[i];
}

/* Compares b against a (the yardstick), mapping NCHW <-> NHWC when the two
 * are in different layouts. Values with different shapes but the same
 * element count compare flat (a [N, C] vs [N, C, 1, 1]). */
static cmp_out compare_views(const tview *a, const tview *b) {
  cmp_acc c;
  memset(&c, 0, sizeof c);
  cmp_out bad = {false, INFINITY, INFINITY, 0};
  if (a->rank == 4 && b->rank == 4 && a->layout != b->layout &&
      (a->layout == NND_LAYOUT_NHWC || b->layout == NND_LAYOUT_NHWC) &&
      a->layout != NND_LAYOUT_NONE && b->layout != NND_LAYOUT_NONE) {
    /* logical NCHW dims of each */
    int64_t N, C, H, W;
    bool a_nhwc = a->layout == NND_LAYOUT_NHWC;
    N = a->dims[0];
    C = a_nhwc ? a->dims[3] : a->dims[1];
    H = a_nhwc ? a->dims[1] : a->dims[2];
    W = a_nhwc ? a->dims[2] : a->dims[3];
    bool b_nhwc = b->layout == NND_LAYOUT_NHWC;
    int64_t bC = b_nhwc ? b->dims[3] : b->dims[1], bH = b_nhwc ? b->dims[1] : b->dims[2],
            bW = b_nhwc ? b->dims[2] : b->dims[3];
    if (b->dims[0] != N || bC != C || bH != H || bW != W) return bad;
    for (int64_t n = 0; n < N; n++)
      for (int64_t ch = 0; ch < C; ch++)
        for (int64_t h = 0; h < H; h++)
          for (int64_t w = 0; w < W; w++) {
            int64_t ia = a_nhwc ? ((n * H + h) * W + w) * C + ch : ((n * C + ch) * H + h) * W + w;
            int64_t ib = b_nhwc ? ((n * H + h) * W + w) * C + ch : ((n * C + ch) * H + h) * W + w;
            acc_add(&c, tv_at(a, ia), tv_at(b, ib));
          }
    return acc_finish(&c);
  }
  if (a->numel != b->numel) return bad;
  if (a->rank == b->rank) {
    for (int d = 0; d < a->rank; d++)
      if (a->dims[d] != b->dims[d]) {
        /* same count, other shape: only a pure reshape is comparable */
        if (a->rank > 2) return bad;
      }
  }
  if (a->dtype == NND_DTYPE_F32 && b->dtype == NND_DTYPE_F32) {
    const float *x = a->data, *y = b->data;
    for (int64_t i = 0; i < a->numel; i++)
      acc_add(&c, x[i], y[i]);
  } else {
    for (int64_t i = 0; i < a->numel; i++)
      acc_add(&c, tv_at(a, i), tv_at(b, i));
  }
  return acc_finish(&c);
}

/* ------------------------------------------------------------ taps */

typedef struct held {
  float *buf;
  int64_t cap, numel;
  int rank;
  int64_t dims[NND_MAX_RANK];
  bool valid;
} held;

typedef enum tap_mode { TAP_STORE, TAP_COMPARE_TARGET, TAP_FLOOR } tap_mode;

typedef struct tapctx {
  nnd__act_io *io;
  tap_mode mode;
  int img;                  /* slot among the analysed images */
  int floor_img;            /* slot among the floor images */
  held *hold;               /* per layer (source value) */
  int32_t *s_first;         /* per source value id: first layer index using it, -1 */
  int32_t *t_first;         /* per target value id: first layer index using it, -1 */
  int32_t *next_s, *next_t; /* next layer with the same value, -1 */
  bool oom;
} tapctx;

static void on_tap(void *user, const nnd_graph *g, int32_t node, int32_t vid,
                   const nnd_tensor_view *t) {
  tapctx *c = user;
  nnd__act_io *io = c->io;
  (void)node;
  if (t->dtype != NND_DTYPE_F32 && t->dtype != NND_DTYPE_F64) return;
  if (c->mode == TAP_STORE) {
    for (int32_t l = c->s_first[vid]; l >= 0; l = c->next_s[l]) {
      held *h = &c->hold[l];
      if (h->cap < t->numel) {
        float *p = realloc(h->buf, (size_t)t->numel * sizeof *p);
        if (!p) {
          c->oom = true;
          return;
        }
        h->buf = p;
        h->cap = t->numel;
      }
      if (t->dtype == NND_DTYPE_F32) {
        memcpy(h->buf, t->data, (size_t)t->numel * sizeof(float));
      } else {
        const double *d = t->data;
        for (int64_t i = 0; i < t->numel; i++)
          h->buf[i] = (float)d[i];
      }
      h->numel = t->numel;
      h->rank = t->rank;
      memcpy(h->dims, t->dims, sizeof h->dims);
      h->valid = true;
      /* one copy suffices for every layer sharing the value */
      for (int32_t m = c->next_s[l]; m >= 0; m = c->next_s[m])
        c->hold[m].valid = false;
      break;
    }
    return;
  }
  int32_t first = c->mode == TAP_COMPARE_TARGET ? c->t_first[vid] : c->s_first[vid];
  const int32_t *next = c->mode == TAP_COMPARE_TARGET ? c->next_t : c->next_s;
  for (int32_t l = first; l >= 0; l = next[l]) {
    nnd_layer_result *L = &io->layers[l];
    /* the held copy for this layer's source value */
    const held *h = NULL;
    for (int32_t m = c->s_first[L->s_value]; m >= 0; m = c->next_s[m])
      if (c->hold[m].valid) {
        h = &c->hold[m];
        break;
      }
    if (!h) continue;
    tview a = {NND_DTYPE_F32, h->buf, h->rank, h->dims, h->numel, io->s_layout[l]};
    tview b = {t->dtype, t->data,
               t->rank,  t->dims,
               t->numel, c->mode == TAP_COMPARE_TARGET ? io->t_layout[l] : io->s_layout[l]};
    cmp_out r = c->mode == TAP_FLOOR ? compare_views(&b, &a) : compare_views(&a, &b);
    if (c->mode == TAP_COMPARE_TARGET) {
      L->observed = true;
      if (!r.ok) L->shape_mismatch = true;
      L->rel_err[c->img] = r.rel_l2;
      if (r.max_abs_norm > L->max_abs_err || isinf(r.max_abs_norm)) L->max_abs_err = r.max_abs_norm;
      L->correlation += r.ok ? r.corr : 0;
    } else if (r.ok) {
      if (!L->floor_measured || r.rel_l2 > L->floor) L->floor = r.rel_l2;
      if (r.max_abs_norm > L->floor_max_abs) L->floor_max_abs = r.max_abs_norm;
      L->floor_measured = true;
    }
  }
  (void)g;
}

/* ------------------------------------------------------------ driver */

/* A stop request (SIGINT, SIGTERM in the CLI), polled before each engine
 * run and each input: the passes below run for minutes on a dataset. */
static bool stop_now(nnd__act_io *io) {
  if (nnd__localize_stop(io->opt)) io->res->stopped = true;
  return io->res->stopped;
}

typedef struct img_stat {
  int64_t index;
  int64_t ls, lt;
  double rel;
  bool differs;
} img_stat;

static int64_t argmax_f32(const float *x, int64_t n) {
  int64_t best = 0;
  for (int64_t i = 1; i < n; i++)
    if (x[i] > x[best]) best = i;
  return best;
}

static int cmp_img(const void *a, const void *b) {
  const img_stat *x = a, *y = b;
  if (x->differs != y->differs) return x->differs ? -1 : 1;
  if (x->rel != y->rel) return x->rel > y->rel ? -1 : 1;
  return x->index < y->index ? -1 : x->index > y->index;
}

static int cmp_double(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return x < y ? -1 : x > y;
}

static void progress(const nnd_localize_options *o, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static void progress(const nnd_localize_options *o, const char *fmt, ...) {
  if (!o->progress) return;
  va_list ap;
  va_start(ap, fmt);
  vfprintf(o->progress, fmt, ap);
  va_end(ap);
  fflush(o->progress);
}

/* ------------------------------------------------------------ pass 1 */

/* Both models' outputs over the whole dataset, batch by batch through
 * nnd_infer (infer.h), as run and compare do: per item, the top-1 of each
 * and the largest output difference. */
typedef struct pass1 {
  img_stat *stats;
  int64_t count;
  nnd_localize_result *res;
  const nnd_localize_options *opt;
  float *ys; /* the source's batch, until the target's arrives */
  size_t ys_cap;
  size_t source_numel, target_numel;
  bool classifier;
  size_t delivered;
} pass1;

static nnd_status on_batch(void *user, const nnd_infer_batch *b, nnd_error *err) {
  pass1 *p = user;
  size_t n = b->count * b->item_numel;
  if (b->model == 0) {
    if (n > p->ys_cap) {
      float *grown = realloc(p->ys, n * sizeof *grown);
      if (!grown) return nnd_error_set(err, NND_ERR_NOMEM, "out of memory");
      p->ys = grown;
      p->ys_cap = n;
    }
    memcpy(p->ys, b->output, n * sizeof *p->ys);
    return NND_OK;
  }
  for (size_t j = 0; j < b->count; j++) {
    size_t i = b->items[j];
    if ((int64_t)i >= p->count) continue;
    const float *ys = p->ys + j * p->source_numel, *yt = b->output + j * p->target_numel;
    img_stat *s = &p->stats[p->delivered++];
    s->index = (int64_t)i;
    s->ls = s->lt = -1;
    if (p->source_numel == p->target_numel) {
      double md = 0, ma = 0;
      for (size_t k = 0; k < p->source_numel; k++) {
        double d = fabs((double)yt[k] - (double)ys[k]);
        if (d > md || isnan(d)) md = isnan(d) ? INFINITY : d;
        if (fabs((double)ys[k]) > ma) ma = fabs((double)ys[k]);
      }
      s->rel = ma > 0 ? md / ma : md;
    } else {
      s->rel = INFINITY;
    }
    if (p->classifier) {
      s->ls = argmax_f32(ys, (int64_t)p->source_numel);
      s->lt = argmax_f32(yt, (int64_t)p->target_numel);
      s->differs = s->ls != s->lt;
    }
    if (s->differs) p->res->n_label_diff++;
    if (s->rel > p->res->max_output_rel_diff) p->res->max_output_rel_diff = s->rel;
  }
  if (p->opt->progress && p->delivered % 50 < b->count)
    progress(p->opt, "localize: %zu/%lld inputs\n", p->delivered, (long long)p->count);
  return NND_OK;
}

static nnd_status run_outputs(nnd__act_io *io, pass1 *p, nnd_error *err) {
  const nnd_localize_options *opt = io->opt;
  nnd_infer_options o;
  nnd_infer_options_init(&o);
  o.threads = opt->threads;
  o.limit = (size_t)p->count;
  o.stop_flag = opt->stop_flag;
  o.max_memory = opt->max_memory;
  o.max_memory_hint = opt->max_memory ? "--max-memory" : NULL;
  o.on_output = on_batch;
  o.output_user = p;
  const nnd_preprocess *pp = nnd_dataset_preprocess(io->data);
  nnd_infer_model models[2] = {{io->source, pp, "source"}, {io->target, pp, "target"}};
  nnd_infer *runner = NULL;
  nnd_status st = nnd_infer_create(io->data, models, 2, &o, &runner, err);
  if (st == NND_OK) {
    nnd_infer_model_info si, ti;
    nnd_infer_get_model_info(runner, 0, &si);
    nnd_infer_get_model_info(runner, 1, &ti);
    p->source_numel = si.output_numel;
    p->target_numel = ti.output_numel;
    p->classifier = si.output_rank == 1 && si.output_dims[0] > 1 && ti.output_rank == 1 &&
                    ti.output_dims[0] > 1;
    progress(opt, "localize: running both models on %lld inputs\n", (long long)p->count);
    st = nnd_infer_run(runner, NULL, err);
  }
  nnd_infer_destroy(runner);
  free(p->ys);
  p->ys = NULL;
  return st;
}

nnd_status nnd__run_outputs_and_layers(nnd__act_io *io, nnd_error *err) {
  const nnd_localize_options *opt = io->opt;
  nnd_localize_result *res = io->res;
  model_io ms, mt;
  memset(&ms, 0, sizeof ms);
  memset(&mt, 0, sizeof mt);
  nnd_engine *es = NULL, *et = NULL, *er = NULL;
  img_stat *stats = NULL;
  tapctx tc;
  memset(&tc, 0, sizeof tc);
  int32_t *obs_s = NULL, *obs_t = NULL;
  nnd_status st = NND_OK; /* a stop leaves it NND_OK */
  double t0 = nnd__now();

  if ((st = setup_io(&ms, io->source, "source", err)) != NND_OK) goto done;
  if ((st = setup_io(&mt, io->target, "target", err)) != NND_OK) goto done;
  int64_t count = (int64_t)nnd_dataset_count(io->data);
  if (opt->limit > 0 && opt->limit < count) count = opt->limit;
  if (count <= 0) {
    st = nnd_error_set(err, NND_ERR_USAGE, "the dataset is empty");
    goto done;
  }
  stats = calloc((size_t)count, sizeof *stats);
  if (!stats) {
    st = nnd_error_set(err, NND_ERR_NOMEM, "out of memory");
    goto done;
  }

  /* ---------------- pass 1: outputs, through the shared batched runner */
  pass1 p1 = {.stats = stats, .count = count, .res = res, .opt = opt};
  if ((st = run_outputs(io, &p1, err)) != NND_OK) goto done;
  if (stop_now(io)) goto done;
  count = (int64_t)p1.delivered;
  res->n_evaluated = count;
  res->seconds_outputs = nnd__now() - t0;
  const bool same_item = ms.item_numel == mt.item_numel && ms.item.layout == mt.item.layout;

  /* ---------------- choose the inputs */
  qsort(stats, (size_t)count, sizeof *stats, cmp_img);
  int64_t k = opt->images < 0 ? count : (opt->images == 0 ? 5 : opt->images);
  if (k > count) k = count;
  res->used = calloc((size_t)(k ? k : 1), sizeof *res->used);
  if (!res->used) {
    st = nnd_error_set(err, NND_ERR_NOMEM, "out of memory");
    goto done;
  }
  size_t names_len = 0;
  for (int64_t i = 0; i < k; i++) {
    nnd_item_info info;
    if ((st = nnd_dataset_item(io->data, (size_t)stats[i].index, &info, err)) != NND_OK) goto done;
    names_len += strlen(info.name) + 1;
  }
  res->strings = malloc(names_len ? names_len : 1);
  if (!res->strings) {
    st = nnd_error_set(err, NND_ERR_NOMEM, "out of memory");
    goto done;
  }
  char *sp = res->strings;
  for (int64_t i = 0; i < k; i++) {
    nnd_item_info info;
    nnd_dataset_item(io->data, (size_t)stats[i].index, &info, err);
    size_t len = strlen(info.name) + 1;
    memcpy(sp, info.name, len);
    nnd_localize_input *u = &res->used[i];
    u->index = stats[i].index;
    u->name = sp;
    u->label_source = stats[i].ls;
    u->label_target = stats[i].lt;
    u->output_rel_diff = stats[i].rel;
    sp += len;
  }
  res->n_used = k;
  int n_floor = opt->floor_images > 0 ? opt->floor_images : 1;
  if (n_floor > k) n_floor = (int)k;
  res->n_floor_images = n_floor;

  /* ---------------- pass 2: layers */
  double t1 = nnd__now();
  int32_t nl = io->n_layers;
  obs_s = malloc((size_t)(nl ? nl : 1) * sizeof *obs_s);
  obs_t = malloc((size_t)(nl ? nl : 1) * sizeof *obs_t);
  tc.hold = calloc((size_t)(nl ? nl : 1), sizeof *tc.hold);
  tc.s_first = malloc((size_t)io->source->n_values * sizeof *tc.s_first);
  tc.t_first = malloc((size_t)io->target->n_values * sizeof *tc.t_first);
  tc.next_s = malloc((size_t)(nl ? nl : 1) * sizeof *tc.next_s);
  tc.next_t = malloc((size_t)(nl ? nl : 1) * sizeof *tc.next_t);
  if (!obs_s || !obs_t || !tc.hold || !tc.s_first || !tc.t_first || !tc.next_s || !tc.next_t) {
    st = nnd_error_set(err, NND_ERR_NOMEM, "out of memory");
    goto done;
  }
  tc.io = io;
  for (int32_t v = 0; v < io->source->n_values; v++)
    tc.s_first[v] = -1;
  for (int32_t v = 0; v < io->target->n_values; v++)
    tc.t_first[v] = -1;
  int n_os = 0, n_ot = 0;
  for (int32_t l = nl - 1; l >= 0; l--) {
    nnd_layer_result *L = &io->layers[l];
    L->n_images = (int)k;
    L->rel_err = calloc((size_t)(k ? k : 1), sizeof *L->rel_err);
    if (!L->rel_err) {
      st = nnd_error_set(err, NND_ERR_NOMEM, "out of memory");
      goto done;
    }
    if (L->s_value < 0 || L->t_value < 0) {
      tc.next_s[l] = tc.next_t[l] = -1;
      continue;
    }
    if (tc.s_first[L->s_value] < 0) obs_s[n_os++] = L->s_value;
    if (tc.t_first[L->t_value] < 0) obs_t[n_ot++] = L->t_value;
    tc.next_s[l] = tc.s_first[L->s_value];
    tc.s_first[L->s_value] = l;
    tc.next_t[l] = tc.t_first[L->t_value];
    tc.t_first[L->t_value] = l;
  }
  if (k > 0 && nl > 0 && !stop_now(io)) {
    if ((st = make_engine(io->source, opt, NND_PRECISION_FAST, obs_s, n_os, on_tap, &tc, NULL, NULL,
                          &es, err)) != NND_OK)
      goto done;
    if ((st = make_engine(io->target, opt, NND_PRECISION_FAST, obs_t, n_ot, on_tap, &tc, es, NULL,
                          &et, err)) != NND_OK)
      goto done;
    if ((st = setup_outputs(&ms, es, err)) != NND_OK || (st = setup_outputs(&mt, et, err)) != NND_OK)
      goto done;
    progress(opt, "localize: comparing %d layers on %lld inputs\n", nl, (long long)k);
    double tf = 0;
    for (int64_t i = 0; i < k; i++) {
      if (stop_now(io)) goto done;
      int64_t idx = res->used[i].index;
      if ((st = read_item(io->data, (size_t)idx, &ms, NULL, err)) != NND_OK) goto done;
      if (same_item)
        memcpy(mt.in, ms.in, (size_t)ms.item_numel * sizeof(float));
      else if ((st = read_item(io->data, (size_t)idx, &mt, NULL, err)) != NND_OK)
        goto done;
      for (int32_t l = 0; l < nl; l++)
        tc.hold[l].valid = false;
      tc.img = (int)i;
      tc.mode = TAP_STORE;
      if ((st = nnd_engine_run(es, &ms.in_t, 1, ms.out_t, ms.n_out, err)) != NND_OK) goto done;
      tc.mode = TAP_COMPARE_TARGET;
      if ((st = nnd_engine_run(et, &mt.in_t, 1, mt.out_t, mt.n_out, err)) != NND_OK) goto done;
      if (i < n_floor && !stop_now(io)) {
        double tr = nnd__now();
        if (!er && (st = make_engine(io->source, opt, NND_PRECISION_REFERENCE, obs_s, n_os, on_tap,
                                     &tc, es, et, &er, err)) != NND_OK)
          goto done;
        progress(opt, "localize: measuring the noise floor (reference path) on input %lld\n",
                 (long long)idx);
        tc.mode = TAP_FLOOR;
        tc.floor_img = (int)i;
        if ((st = nnd_engine_run(er, &ms.in_t, 1, ms.out_t, ms.n_out, err)) != NND_OK) goto done;
        tf += nnd__now() - tr;
      }
      if (tc.oom) {
        st = nnd_error_set(err, NND_ERR_NOMEM, "out of memory holding activations");
        goto done;
      }
    }
    res->seconds_floor = tf;
  }
  res->seconds_layers = nnd__now() - t1 - res->seconds_floor;
  if (stop_now(io)) goto done;

  /* per-layer summaries */
  double *tmp = malloc((size_t)(k ? k : 1) * sizeof *tmp);
  if (!tmp) {
    st = nnd_error_set(err, NND_ERR_NOMEM, "out of memory");
    goto done;
  }
  for (int32_t l = 0; l < nl; l++) {
    nnd_layer_result *L = &io->layers[l];
    if (!L->observed || k == 0) continue;
    memcpy(tmp, L->rel_err, (size_t)k * sizeof *tmp);
    qsort(tmp, (size_t)k, sizeof *tmp, cmp_double);
    L->rel_err_median = k % 2 ? tmp[k / 2] : 0.5 * (tmp[k / 2 - 1] + tmp[k / 2]);
    L->rel_err_max = tmp[k - 1];
    L->correlation /= (double)k;
  }
  free(tmp);
  st = NND_OK;
done:
  nnd_engine_destroy(es);
  nnd_engine_destroy(et);
  nnd_engine_destroy(er);
  free_io(&ms);
  free_io(&mt);
  free(stats);
  free(obs_s);
  free(obs_t);
  if (tc.hold)
    for (int32_t l = 0; l < io->n_layers; l++)
      free(tc.hold[l].buf);
  free(tc.hold);
  free(tc.s_first);
  free(tc.t_first);
  free(tc.next_s);
  free(tc.next_t);
  return st;
}
