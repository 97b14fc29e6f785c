/* Running models over a dataset: the inference loop shared by `nndiff run`
 * and `nndiff compare` (and later `localize` and `zoo`).
 *
 * A runner takes one dataset and one or more models. For each model it
 * resolves the preprocessing against the model's own input shape
 * (nnd_preprocess_resolve) and plans an engine; models whose resolved input
 * pipeline is the same share it. It then walks the dataset in batches:
 *
 *   for each batch of items (in dataset order):
 *     decode every image once (in parallel, `threads` workers),
 *     preprocess it once per distinct pipeline,
 *     run each model's engine on its pipeline's batch,
 *     hand each model's first graph output to the output callback;
 *   report progress.
 *
 * So comparing N models that take the same input costs one decode and one
 * preprocessing per image, not N; models with different input sizes or
 * normalisation (a 299x299 Inception next to a 224x224 ResNet, a Keras
 * "caffe" model next to a torchvision one) each get their own pipeline from
 * the same decoded image.
 *
 * Item errors. An image that cannot be read, decoded or preprocessed
 * (corrupt, truncated, not an image, too large, an aspect ratio the resize
 * cannot take, out of memory on that image) is an item error: with
 * NND_ON_ERROR_FAIL the run stops with a message naming the file; with
 * NND_ON_ERROR_SKIP the item is left out for every model, counted and listed
 * (nnd_infer_skipped) and the run goes on. Everything else (a tensor file of
 * the wrong shape, an engine error) stops the run whatever the policy.
 *
 * Batches hold the items that loaded: with skipping, a batch is filled with
 * later items, so every engine run but the last is full. The last one is
 * padded with zeros (engines are planned for one static batch size); the
 * padding rows are never delivered. Every model sees exactly the same items
 * in the same order.
 *
 * Stopping. When *stop_flag (a signal handler's flag) becomes non-zero the
 * run stops at the next item or batch boundary and returns NND_OK with
 * stats.stopped set; nothing more is delivered. */
#ifndef NNDIFF_INFER_H
#define NNDIFF_INFER_H

#include <signal.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "nndiff/data.h"
#include "nndiff/engine.h"
#include "nndiff/ir.h"
#include "nndiff/status.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef enum nnd_on_error {
  NND_ON_ERROR_FAIL = 0, /* an unreadable item stops the run (naming the file) */
  NND_ON_ERROR_SKIP      /* it is left out, counted and listed */
} nnd_on_error;

/* "fail" or "skip". */
const char *nnd_on_error_name(nnd_on_error policy);

/* One model to run. */
typedef struct nnd_infer_model {
  const nnd_graph *graph; /* borrowed: must outlive the runner */
  /* Preprocessing for image datasets (copied; resolved against this model's
   * input shape). NULL: the torchvision preset. Ignored for tensor data. */
  const nnd_preprocess *preprocess;
  const char *name; /* for messages (copied); NULL: the graph's file path */
} nnd_infer_model;

/* One batch of one model's results, passed to the output callback. Valid
 * during the call only. */
typedef struct nnd_infer_batch {
  int model;             /* index into the models given at create */
  size_t count;          /* items in this batch, >= 1 */
  const size_t *items;   /* their dataset indices, strictly ascending */
  const float *output;   /* first graph output: count * item_numel floats,
                            row-major [count, ...] */
  size_t item_numel;     /* floats per item */
  double engine_seconds; /* wall time of this engine run */
} nnd_infer_batch;

/* Receives every batch of every model: batch after batch, and within a batch
 * model 0, 1, ... in order. Returning anything but NND_OK (with err set)
 * stops the run with that status. */
typedef nnd_status (*nnd_infer_output_fn)(void *user, const nnd_infer_batch *batch, nnd_error *err);

typedef struct nnd_infer_progress {
  size_t done;    /* items finished: delivered or skipped */
  size_t total;   /* items the run will visit */
  size_t skipped; /* of done, items skipped */
  double elapsed; /* seconds since the run started */
} nnd_infer_progress;

/* Called after every batch (and once at the start with done = 0). */
typedef void (*nnd_infer_progress_fn)(void *user, const nnd_infer_progress *progress);

typedef struct nnd_infer_options {
  nnd_precision precision;
  /* Items per engine run. 0: NND_INFER_DEFAULT_BATCH. A model whose input
   * has a fixed batch dimension runs with that size instead. */
  int64_t batch;
  /* Engine threads (inside operators) and image decoding workers. 0 or 1:
   * single-threaded. */
  int threads;
  nnd_on_error on_error;
  /* Visit only the first `limit` items; 0: all. */
  size_t limit;
  nnd_infer_output_fn on_output;
  void *output_user;
  nnd_infer_progress_fn progress;
  void *progress_user;
  /* Polled between items and batches; non-zero stops the run. May be NULL. */
  const volatile sig_atomic_t *stop_flag;
  /* Memory budget in bytes for the whole run: the runner's input and output
   * buffers and every model's engine (activations, scratch, the weights it
   * copies and packs). Create refuses, before allocating, a run that would
   * need more: NND_ERR_NOMEM with one line naming the models, the batch,
   * the bytes needed and the largest batch that would fit. 0: no budget. */
  size_t max_memory;
  /* How users change that budget, named in the message (e.g.
   * "--max-memory"); NULL: not named. */
  const char *max_memory_hint;
} nnd_infer_options;

#define NND_INFER_DEFAULT_BATCH 8

/* Defaults: fast precision, batch NND_INFER_DEFAULT_BATCH, 1 thread, fail on
 * item errors, no limit, no callbacks, no memory budget. */
void nnd_infer_options_init(nnd_infer_options *options);

typedef struct nnd_infer nnd_infer;

/* What the runner made of one model, for reports and for callers that size
 * their buffers before the run. Pointers are owned by the runner. */
typedef struct nnd_infer_model_info {
  const char *name;
  const char *input_name;
  nnd_item_shape input;    /* one item as fed: [C,H,W], [H,W,C], or a tensor's */
  const char *output_name; /* the first graph output */
  int output_rank;         /* of one item's output (batch dim removed) */
  int64_t output_dims[NND_MAX_RANK];
  size_t output_numel; /* floats per item */
  int64_t batch;       /* items per engine run */
  /* Image datasets: the resolved preprocessing and its one-line description
   * (nnd_preprocess_describe); "" for tensor datasets. */
  nnd_preprocess preprocess;
  const char *preprocess_text;
  /* Models with the same pipeline index share decoded and preprocessed
   * inputs; pipeline indices count from 0 in model order. */
  int pipeline;
} nnd_infer_model_info;

/* Plans the run: checks each model has exactly one graph input of dtype
 * float with a static item shape and a leading batch dim, resolves the
 * preprocessing (image datasets) or checks the tensor items' shape against
 * the model's input (tensor datasets: a mismatch is NND_ERR_USAGE naming the
 * file, both shapes and the model), and creates one engine per model.
 * dataset and the graphs must outlive the runner. Errors name the model. */
nnd_status nnd_infer_create(nnd_dataset *dataset, const nnd_infer_model *models, int n_models,
                            const nnd_infer_options *options, nnd_infer **out, nnd_error *err);

/* NULL is a no-op. */
void nnd_infer_destroy(nnd_infer *runner);

int nnd_infer_model_count(const nnd_infer *runner);
/* Fills *info for model i (0 <= i < count). */
void nnd_infer_get_model_info(const nnd_infer *runner, int i, nnd_infer_model_info *info);
/* Items the run visits: the dataset size, or the limit when smaller. */
size_t nnd_infer_total(const nnd_infer *runner);
/* Number of distinct input pipelines (decode + preprocess per item each). */
int nnd_infer_pipeline_count(const nnd_infer *runner);

typedef struct nnd_infer_stats {
  size_t visited;        /* items looked at (done) */
  size_t delivered;      /* items every model ran on */
  size_t skipped;        /* items left out (NND_ON_ERROR_SKIP) */
  bool stopped;          /* the stop flag was raised (the run may have ended early) */
  double seconds;        /* wall time of nnd_infer_run: end to end */
  double load_seconds;   /* of that, decoding and preprocessing */
  double engine_seconds; /* of that, engine runs, all models */
  double create_seconds; /* nnd_infer_create: planning every engine */
  /* Engine seconds per model (nnd_infer_model_count entries, owned by the runner). */
  const double *model_engine_seconds;
} nnd_infer_stats;

/* Runs the whole dataset (once per runner). On success stats_out (may be
 * NULL) says what happened; the stop flag gives NND_OK with stopped set. On
 * an error, items already delivered stay delivered. */
nnd_status nnd_infer_run(nnd_infer *runner, nnd_infer_stats *stats_out, nnd_error *err);

/* An item left out of the run. */
typedef struct nnd_infer_skip {
  size_t index;       /* dataset index */
  const char *name;   /* the item's name (relative file path) */
  const char *reason; /* the decoder's one-line message */
} nnd_infer_skip;

/* The items skipped so far, in dataset order; *count_out receives how many.
 * Owned by the runner. */
const nnd_infer_skip *nnd_infer_skipped(const nnd_infer *runner, size_t *count_out);

#ifdef __cplusplus
}
#endif
#endif
