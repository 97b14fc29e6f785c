/* Reports: human text on a stream and machine-readable JSON (json-c).
 *
 * Reports render results the analyses computed; they compute nothing
 * themselves beyond ordering and formatting. JSON documents carry a
 * "schema" string ("nndiff.inspect/1") that changes when a field changes
 * meaning or disappears; new fields may appear without a change. */
#ifndef NNDIFF_REPORT_H
#define NNDIFF_REPORT_H

#include <stdbool.h>
#include <stdio.h>

#include "nndiff/cost.h"
#include "nndiff/infer.h"
#include "nndiff/ir.h"
#include "nndiff/outputs.h"
#include "nndiff/status.h"

#ifdef __cplusplus
extern "C" {
#endif

struct json_object;

/* ------------------------------------------------------------ inspect */

/* What `nndiff inspect` reports on one model. Borrowed pointers: the caller
 * keeps graph and per_node alive while the report functions run. */
typedef struct nnd_inspect_data {
  const nnd_graph *graph;
  const nnd_node_cost *per_node; /* graph->n_nodes entries, indexed like graph->nodes */
  nnd_node_cost total;
  const char *tool_version; /* written into the JSON as tool.version; may be NULL */
} nnd_inspect_data;

/* Writes the human summary: file, format, producer and opsets; inputs and
 * outputs; parameters, MACs and FLOPs; the op histogram; unsupported ops;
 * and with `layers` a per-layer table. Fails with NND_ERR_IO when the stream
 * reports a write error. */
nnd_status nnd_inspect_write_text(FILE *out, const nnd_inspect_data *d, bool layers,
                                  nnd_error *err);

/* Builds the JSON document (always with the per-layer list). On success the
 * caller owns *json_out and releases it with json_object_put. */
nnd_status nnd_inspect_build_json(const nnd_inspect_data *d, struct json_object **json_out,
                                  nnd_error *err);

/* ---------------------------------------------------------------- run */

/* One input's answer in `nndiff run`. */
typedef struct nnd_run_item {
  size_t index;        /* dataset index */
  const char *file;    /* image path relative to the dataset; NULL for tensor data */
  int64_t label;       /* -1 when unknown */
  int k;               /* entries in top/scores */
  const int32_t *top;  /* classes, best first */
  const double *scores;/* their scores: raw outputs, or softmax probabilities */
} nnd_run_item;

/* How a command ran: the engine settings and the timings. */
typedef struct nnd_run_setup {
  const char *data_path;
  const char *data_text;     /* nnd_dataset_describe */
  bool tensor_data;
  nnd_precision precision;
  int64_t batch;
  int threads;
  nnd_on_error on_error;
  size_t total;              /* items visited (dataset size or --limit) */
  const nnd_infer_stats *stats;
  const nnd_infer_skip *skipped;
  size_t n_skipped;
  const char *tool_version;
} nnd_run_setup;

/* What `nndiff run` reports (all pointers borrowed). */
typedef struct nnd_run_data {
  const char *model_path;
  const nnd_graph *graph;
  const nnd_infer_model_info *model;
  nnd_run_setup setup;
  bool softmax;
  size_t n_items;
  const nnd_run_item *items; /* in dataset order */
  bool has_labels;
  nnd_accuracy accuracy;
  const char *outputs_path;  /* --outputs, or NULL */
} nnd_run_data;

/* The human summary: model, data, preprocessing in one line, per-image top-k
 * (all of them when verbose or at most 20, else the first and last few and a
 * summary of the top-1 classes), skipped items, accuracy and throughput. */
nnd_status nnd_run_write_text(FILE *out, const nnd_run_data *d, bool verbose, nnd_error *err);
/* JSON "nndiff.run/1" (every image). The caller owns *json_out. */
nnd_status nnd_run_build_json(const nnd_run_data *d, struct json_object **json_out,
                              nnd_error *err);

/* ------------------------------------------------------------ compare */

/* What `nndiff compare` reports (all pointers borrowed). */
typedef struct nnd_compare_data {
  int n_models;
  const char *const *model_paths;
  const nnd_infer_model_info *models; /* n_models entries */
  nnd_run_setup setup;
  const nnd_outputs_compare *cmp;
  /* Name of dataset item `index` for the listings (a file name), or NULL;
   * item_name may be NULL (tensor data). Reports take results, not the
   * dataset: the caller answers from wherever it keeps the names. */
  const char *(*item_name)(void *user, size_t index);
  void *item_user;
  const nnd_chain_result *chain;      /* NULL unless --chain */
  bool has_labels;
  const nnd_accuracy *accuracy;       /* n_models entries when has_labels */
} nnd_compare_data;

/* The human summary: models, preprocessing per pipeline, the N x N label
 * discrepancy matrix, every pair's metrics and discrepant inputs (at most 20
 * per pair unless verbose), the chain, accuracy, throughput. */
nnd_status nnd_compare_write_text(FILE *out, const nnd_compare_data *d, bool verbose,
                                  nnd_error *err);
/* JSON "nndiff.compare/1". The caller owns *json_out. */
nnd_status nnd_compare_build_json(const nnd_compare_data *d, struct json_object **json_out,
                                  nnd_error *err);

/* ---------------------------------------------------------- JSON out */

/* Writes obj pretty-printed (two-space indent, '/' unescaped, trailing
 * newline) to path, atomically: the file appears complete or not at all.
 * path "-" writes to stdout; an existing FIFO or device is written into,
 * never replaced. Fails with NND_ERR_IO naming the path. */
nnd_status nnd_report_write_json(const char *path, struct json_object *obj, nnd_error *err);
/* Writes obj as nnd_report_write_json formats it onto out, as it is (no
 * flush); name is out's name in the message of a write error. For callers
 * that commit several result files together. */
nnd_status nnd_report_print_json(FILE *out, const char *name, struct json_object *obj,
                                 nnd_error *err);

#ifdef __cplusplus
}
#endif
#endif
