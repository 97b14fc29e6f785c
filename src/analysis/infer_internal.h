/* Internals of the inference loop shared by infer.c (create, run) and
 * infer_budget.c (what a run needs, against options.max_memory). */
#ifndef NND_ANALYSIS_INFER_INTERNAL_H
#define NND_ANALYSIS_INFER_INTERNAL_H

#include "nndiff/infer.h"

/* One input pipeline: a resolved preprocessing (image data) or an item shape
 * (tensor data), and the chunk of inputs it feeds its models. */
typedef struct pipeline {
  nnd_item_shape shape;
  nnd_preprocess pp; /* resolved; unused for tensor data */
  char *text;        /* nnd_preprocess_describe, "" for tensors */
  size_t item_numel;
  float *chunk; /* chunk_rows * item_numel */
} pipeline;

typedef struct model_rt {
  char *name;
  const nnd_graph *g;
  nnd_engine *engine;
  int pipeline;
  int64_t batch;       /* engine batch */
  int64_t fixed_batch; /* the model's own fixed batch dim, 0 when symbolic */
  int32_t input_value;
  int n_outputs;
  nnd_tensor *outs; /* every graph output (the engine wants them all);
                       outs[0].data points into chunk_out */
  int out_rank;     /* of one item */
  int64_t out_dims[NND_MAX_RANK];
  size_t out_numel;
  float *chunk_out; /* chunk_rows * out_numel: what the callback sees; the
                       engine writes its first output here */
  double engine_seconds;
} model_rt;

struct nnd_infer {
  nnd_dataset *ds;
  nnd_infer_options opt;
  bool images;
  int n_models;
  model_rt *m;
  int n_pipes;
  pipeline *p;
  size_t total;
  size_t chunk_cap;  /* items loaded per chunk */
  size_t chunk_rows; /* rows of the pipelines' chunks: chunk_cap + room to pad
                        the last engine batch with zeros */
  size_t *items;     /* chunk_cap dataset indices */
  nnd_infer_skip *skips;
  size_t n_skips, cap_skips;
  double *model_seconds;
  double create_seconds;
  bool ran;
};

/* One candidate item of a chunk being loaded. */
typedef struct slot {
  size_t index; /* dataset index */
  int slot_pos; /* row in the pipelines' chunk buffers */
  nnd_status st;
  bool item_error; /* st is this item's own failure (obeys on_error) */
  nnd_error err;
} slot;

/* Rows the pipelines' chunks need for a chunk of chunk_cap items: a
 * model of batch b pads its last run of a chunk to b rows in place. */
size_t nnd__infer_chunk_rows(const nnd_infer *r, size_t chunk_cap, const int64_t *batches);

/* Checks the runner's input buffers (the pipelines' chunks) against the
 * budget before they are allocated. */
nnd_status nnd__infer_check_inputs(nnd_infer *r, nnd_error *err);

/* Bytes of the runner's own buffers for model m's outputs (its engine
 * planned). */
size_t nnd__infer_output_bytes(const nnd_infer *r, const model_rt *m);

/* Called when creating model i's engine or buffers failed with NND_ERR_NOMEM
 * (`what`: that message) under a budget: plans every model without
 * allocating to tell whether the run is over budget; if so the error says
 * by how much and which batch would fit, else it is `what` naming the
 * model. */
nnd_status nnd__infer_memory_error(nnd_infer *r, int i, const char *what, nnd_error *err);

#endif
