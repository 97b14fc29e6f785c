/* Fault localisation: do two models compute the same thing, and if not,
 * where, why and how to fix it (docs/LOCALIZATION.md).
 *
 * nnd_localize_run takes a source model (the reference: the framework's own
 * export) and a target (what a converter produced) and
 *   1. canonicalises and aligns both (nndiff/align.h);
 *   2. compares the aligned layers statically: parameters (mean |Ps - Pt|,
 *      max, relative L2, elements beyond a tolerance that separates the
 *      float rounding of BatchNorm folding from real changes, and patterns:
 *      bias zeroed or missing, input channels reversed, output rows rolled,
 *      kernel flipped, float16/bfloat16 rounding, per-channel scaling),
 *      hyperparameters (strides, effective pads, dilations, groups, kernel,
 *      activation and clip bounds, pooling mode, ceil_mode,
 *      count_include_pad, axes, perms...) and the graph (extra, missing and
 *      substituted nodes, each judged equivalent or not);
 *   3. runs both models on the data (fast float32 path), picks the inputs
 *      whose labels differ (or whose outputs differ most), and on those
 *      measures per aligned layer the divergence between target and source
 *      against a noise floor measured on the source itself (fast float32
 *      path vs the double-precision reference path), streaming through the
 *      engine's taps; the first layer that leaves the floor locates the
 *      fault, later spikes are reported too;
 *   4. ranks suspects: static differences at (or feeding) the first
 *      divergent layer first, then the others; or concludes that the models
 *      are equivalent on this data and structurally. */
#ifndef NNDIFF_LOCALIZE_H
#define NNDIFF_LOCALIZE_H

#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "nndiff/align.h"
#include "nndiff/data.h"
#include "nndiff/ir.h"
#include "nndiff/ir_edit.h"
#include "nndiff/status.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ------------------------------------------------------------ parameters */

typedef enum nnd_param_pattern {
  NND_PARAM_EQUAL = 0,            /* equal up to float rounding (rtol) */
  NND_PARAM_MISSING,              /* the target lacks the tensor (bias input dropped) */
  NND_PARAM_ZEROED,               /* the target's are all zero, the source's are not */
  NND_PARAM_IN_CHANNELS_REVERSED, /* reversed along the input-channel axis (RGB/BGR) */
  NND_PARAM_ROWS_ROLLED,          /* output rows rolled by `shift` (class order shifted) */
  NND_PARAM_KERNEL_FLIPPED,       /* spatially flipped (flip_axes: 1 H, 2 W, 3 both) */
  NND_PARAM_KERNEL_TRANSPOSED,    /* kh and kw swapped */
  NND_PARAM_FLOAT16,              /* rounded to float16 (every element within half an ulp) */
  NND_PARAM_BFLOAT16,             /* rounded to bfloat16 */
  NND_PARAM_CHANNEL_SCALED,       /* each output channel scaled by its own factor */
  NND_PARAM_PERTURBED,            /* changed, still close (cosine > 0.9): noise, corruption */
  NND_PARAM_REPLACED,             /* unrelated values */
  NND_PARAM_SHAPE                 /* the shapes differ */
} nnd_param_pattern;

/* "equal", "missing", "zeroed", "in_channels_reversed", ... */
const char *nnd_param_pattern_name(nnd_param_pattern p);

typedef struct nnd_param_diff {
  int64_t n_total;        /* elements compared */
  int64_t n_differ;       /* elements beyond the tolerance */
  double mean_abs;        /* mean |Ps - Pt|: seed 000's metric */
  double max_abs;         /* max |Ps - Pt| */
  double rel_l2;          /* ||Ps - Pt|| / ||Ps|| */
  double max_rel;         /* max |Ps - Pt| / (scale of its row) */
  double mean_abs_source; /* mean |Ps| */
  nnd_param_pattern pattern;
  int64_t shift;               /* ROWS_ROLLED: t[o] = s[o - shift] */
  int flip_axes;               /* KERNEL_FLIPPED */
  double scale_min, scale_max; /* CHANNEL_SCALED: range of the per-channel factors */
  double cosine;               /* cosine of the flattened tensors */
} nnd_param_diff;

/* Default relative tolerance (of each output row's largest |value|, or of
 * the magnitude of the terms a folded bias came from): float32 BatchNorm
 * folding rounds within ~3e-7; float16 rounding moves the largest elements
 * by >= 2.4e-4. */
#define NND_PARAM_RTOL 1e-5

/* Compares weights in canonical layout ([O, I, k...] or [O, I]; dims has
 * rank entries, dims[0] = output rows) and classifies the difference. */
void nnd_param_compare_weights(const double *source, const double *target, int rank,
                               const int64_t *dims, double rtol, nnd_param_diff *out);

/* Compares biases of n elements. source_mag (may be NULL) is the per-element
 * scale of the source's rounding error (nnd_cnode.bias_mag); a NULL target
 * means the target has no bias at all. shift: a row roll found in the
 * weights, tried on the bias too (0 for none). */
void nnd_param_compare_bias(const double *source, const double *source_mag, const double *target,
                            int64_t n, double rtol, int64_t shift, nnd_param_diff *out);

/* Nearest float16 / bfloat16 value of x (round to nearest even; overflow to
 * infinity), in double. */
double nnd_round_f16(double x);
double nnd_round_bf16(double x);

/* -------------------------------------------------------------- findings */

typedef enum nnd_finding_kind {
  NND_FINDING_PARAMETERS = 0,
  NND_FINDING_HYPERPARAMETERS,
  NND_FINDING_GRAPH,
  NND_FINDING_ACTIVATIONS
} nnd_finding_kind;

/* "parameters", "hyperparameters", "graph", "activations". */
const char *nnd_finding_kind_name(nnd_finding_kind k);

#define NND_FINDING_MAX_NODES 8

/* One static difference between the models. */
typedef struct nnd_finding {
  nnd_finding_kind kind;
  const char *code;         /* static: "weights", "bias", "pads", "strides", "activation",
                               "pool_mode", "input_order", "extra_node", "missing_node",
                               "substituted", ... */
  int32_t pair;             /* alignment pair, -1 for extra/missing nodes */
  int32_t t_cnode, s_cnode; /* canonical nodes (-1 when none) */
  bool equivalent;          /* a difference that does not change what is computed */
  double severity;          /* 0..1, how much the difference alone says "fault" */
  nnd_param_diff param;     /* PARAMETERS */
  char source_value[96];    /* HYPERPARAMETERS: the two values, as text */
  char target_value[96];
  char text[512];           /* what differs, one or two sentences */
  char fix[256];            /* what to do about it */
  bool has_edit;            /* the fix as an edit of the target (exact ones only) */
  nnd_edit edit;            /* indices into result->target; data borrowed from the result */
  int n_t_nodes, n_s_nodes; /* the original nodes concerned */
  int32_t t_nodes[NND_FINDING_MAX_NODES], s_nodes[NND_FINDING_MAX_NODES];
} nnd_finding;

/* ---------------------------------------------------------------- layers */

/* One aligned layer: static figures and, when observed, activation figures
 * over the images analysed. */
typedef struct nnd_layer_result {
  int32_t pair;             /* alignment pair */
  int32_t s_value, t_value; /* original values compared (tap ids) */
  bool has_weight, has_bias;
  nnd_param_diff weight, bias;
  bool observed;       /* activations compared */
  bool shape_mismatch; /* the values cannot be compared elementwise */
  int n_images;
  double *rel_err; /* per image: ||t - s|| / ||s|| (fast vs fast) */
  double rel_err_median, rel_err_max;
  double max_abs_err;   /* max over images of max|t - s| / max|s| */
  double correlation;   /* mean over images of the Pearson correlation */
  double floor;         /* noise floor: ||s_fast - s_ref|| / ||s_ref||, max over floor images */
  double floor_max_abs; /* max|s_fast - s_ref| / max|s_ref| */
  bool floor_measured;  /* false: extrapolated from earlier layers */
  double ratio;         /* rel_err_median / max(floor, NND_FLOOR_MIN) */
  int n_over;           /* images whose rel_err exceeds factor * floor */
  bool leaves_floor;    /* n_over on at least half of the images (or shapes differ) */
  bool first_divergence;
  bool spike; /* a later jump of the divergence (seed 000 Fig. 3) */
} nnd_layer_result;

/* Smallest floor the ratio divides by: layers computed exactly in float32
 * (max pooling of exact values) measure a floor of 0. */
#define NND_FLOOR_MIN 1e-7
/* A layer leaves the floor when its divergence exceeds this many times the
 * floor on at least half of the images. */
#define NND_FLOOR_FACTOR 30.0

/* -------------------------------------------------------------- suspects */

#define NND_SUSPECT_MAX_NODES 16
#define NND_SUSPECT_MAX_FINDINGS 8

typedef struct nnd_suspect {
  int rank;     /* 1 = most likely */
  double score; /* about 0..1.25: finding severity (<= 0.75) + activation evidence */
  nnd_finding_kind kind;
  int n_findings;
  int32_t findings[NND_SUSPECT_MAX_FINDINGS]; /* into result->findings */
  int32_t layer;                              /* into result->layers, -1 when none */
  bool at_first_divergence;
  bool upstream_quiet; /* before the first divergence, within the floor there */
  int n_t_nodes, n_s_nodes;
  int32_t t_nodes[NND_SUSPECT_MAX_NODES], s_nodes[NND_SUSPECT_MAX_NODES];
  char headline[1024]; /* "target node 'X' (Conv) ≙ source node 'Y' + BN 'Z'" */
  char evidence[1024];
  char fix[256];
} nnd_suspect;

/* --------------------------------------------------------------- options */

typedef struct nnd_localize_options {
  /* Inputs analysed layer by layer: the K whose labels differ (then those
   * whose outputs differ most). 0: 5; -1: all. */
  int images;
  /* Use only the first `limit` items of the dataset (0: all). */
  int64_t limit;
  /* Of the images analysed, the noise floor is measured on the first
   * `floor_images` (the reference path is ~10x slower). 0: 1. */
  int floor_images;
  int threads;         /* engine threads (0/1: one) */
  double floor_factor; /* 0: NND_FLOOR_FACTOR */
  double param_rtol;   /* 0: NND_PARAM_RTOL */
  FILE *progress;      /* progress lines, or NULL */
  FILE *trace;         /* one line per graph pass (--verbose), or NULL */
  /* Polled between phases, inputs and engine runs (a signal handler's flag);
   * non-zero stops the analysis: see nnd_localize_run. May be NULL. */
  const volatile sig_atomic_t *stop_flag;
  /* Memory budget in bytes for the engines alive at once (a model's fast
   * engine next to the other's, and the reference one): creating one that
   * would pass it fails with NND_ERR_NOMEM naming the model, node or batch
   * and the bytes (see nnd_engine_options.max_memory). 0: none. */
  size_t max_memory;
} nnd_localize_options;

void nnd_localize_options_init(nnd_localize_options *o);

/* Per analysed input. */
typedef struct nnd_localize_input {
  int64_t index;                      /* dataset item */
  const char *name;                   /* item name (owned by the result) */
  int64_t label_source, label_target; /* top-1 of the first output, -1 if not a classifier */
  double output_rel_diff;             /* max|ys - yt| / max|ys| */
} nnd_localize_input;

typedef struct nnd_localize_result {
  /* The graphs given (borrowed). Node lists of findings and suspects index
   * their nodes; the analysis normal forms the canonical graphs were built
   * from are cs->form and ct->form (same value indices). */
  const nnd_graph *source, *target;
  int32_t source_file_nodes, target_file_nodes; /* nodes in the files */
  nnd_cgraph *cs, *ct;              /* owned */
  nnd_alignment *align;             /* owned */
  bool equivalent;
  bool dynamic; /* data was given and the models ran */
  bool stopped; /* the stop flag ended the analysis early: incomplete, not a verdict */
  /* findings (static) */
  int32_t n_findings;
  nnd_finding *findings;
  /* layers: one per aligned pair, in source topological order */
  int32_t n_layers;
  nnd_layer_result *layers;
  int32_t first_divergence; /* layer index or -1 */
  /* suspects, ranked */
  int32_t n_suspects;
  nnd_suspect *suspects;
  /* data */
  char data_desc[512];
  char preprocess_desc[512];
  int64_t n_evaluated;  /* dataset items run through both models */
  int64_t n_label_diff; /* of those, top-1 differs */
  double max_output_rel_diff;
  int64_t n_used; /* inputs analysed layer by layer */
  nnd_localize_input *used;
  int n_floor_images;
  double floor_factor;
  double param_rtol;
  double seconds_total, seconds_outputs, seconds_layers, seconds_floor;
  char *strings; /* owned storage for names */
} nnd_localize_result;

/* Runs the whole analysis. data may be NULL: then only the static analysis
 * runs (no activations, no floor). The graphs must have gone through shape
 * inference (nnd_onnx_load does that) and outlive the result. When the
 * options' stop flag is raised it returns NND_OK soon after (at the next
 * phase, input or engine run) with result->stopped set and the figures
 * incomplete: report nothing from it. Fails with
 * NND_ERR_USAGE when the models' inputs cannot take the same data,
 * NND_ERR_UNSUPPORTED when the engine cannot run a model, NND_ERR_NOMEM. */
nnd_status nnd_localize_run(const nnd_graph *source, const nnd_graph *target, nnd_dataset *data,
                            const nnd_localize_options *opt, nnd_localize_result **out,
                            nnd_error *err);

/* NULL is a no-op. */
void nnd_localize_result_destroy(nnd_localize_result *r);

/* ---------------------------------------------------------------- reports */

struct json_object;

/* The diagnosis as text: verdict, ranked suspects with evidence and fixes,
 * the alignment summary, and the layer table around the first divergence
 * (every layer with all_layers). Fails with NND_ERR_IO on a write error. */
nnd_status nnd_localize_write_text(FILE *out, const nnd_localize_result *r, bool all_layers,
                                   nnd_error *err);

/* The JSON document (schema "nndiff.localize/1"): equivalent, suspects
 * (rank, kind, target_nodes, source_nodes, score, evidence), alignment
 * (target nodes, source nodes, confidence), layers (parameter and
 * activation figures, noise floor), inputs_used. Caller owns *json_out. */
nnd_status nnd_localize_build_json(const nnd_localize_result *r, const char *tool_version,
                                   struct json_object **json_out, nnd_error *err);

#ifdef __cplusplus
}
#endif
#endif
