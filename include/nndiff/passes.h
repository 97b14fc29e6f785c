/* Graph passes and the pass manager.
 *
 * A pass rewrites a graph in place through the edits of ir_edit.h and says
 * how many changes it made; the manager runs a list of passes round after
 * round until a whole round changes nothing (a fixed point) and, when asked,
 * traces each pass's changes and time, one line each (`--verbose`).
 *
 * The normal forms are pass lists:
 *   - analysis form (localize, zoo): every computation on constants is done
 *     ahead (Identity/Dropout/Cast/Reshape/Transpose/arithmetic of
 *     initialisers, shape arithmetic), in double precision where the result
 *     feeds an analysis, then dead nodes go. Two exports of one network that
 *     differ only in how they spell their constants (tied initialisers
 *     behind Identity, weights in Constant nodes, float16 weights behind
 *     Cast) reach the same graph; nodes that pass their input through
 *     (Identity, Dropout, a one-input Concat) go; inverse Transpose pairs
 *     go and tensors record their layout; zero Pads join the Conv or
 *     counting AveragePool they feed; BatchNorms and per-channel scales
 *     fold into the Conv/Gemm before them (float64); activations fuse into
 *     their producer; flatten spellings become Flatten. Canonicalisation
 *     (align.h) starts from it, naming the file's nodes through the pass
 *     record.
 *   - engine form: the same folding in the model's own dtypes, so the
 *     engine computes what the file says at plan time. */
#ifndef NNDIFF_PASSES_H
#define NNDIFF_PASSES_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "nndiff/ir.h"
#include "nndiff/status.h"

#ifdef __cplusplus
extern "C" {
#endif

/* What the passes did, for analyses that report in the file's terms: where
 * each node of the rewritten graph came from, and which nodes of the file
 * were merged into which (a BatchNorm folded into its Conv, a Relu fused,
 * a Pad absorbed). Node ids in `origin` and `merges` are the nodes of the
 * graph as it was when the record was started (the file's). */
typedef enum nnd_merge_role {
  NND_MERGE_BATCHNORM = 1, /* folded into the producer's weights and bias */
  NND_MERGE_SCALE,         /* per-channel Mul folded into the weights */
  NND_MERGE_BIAS,          /* per-channel Add/Sub folded into the bias */
  NND_MERGE_ACTIVATION,    /* became the producer's fused activation */
  NND_MERGE_PAD            /* zero Pad absorbed into the consumer's pads */
} nnd_merge_role;

typedef struct nnd_pass_merge {
  int32_t into; /* the node that absorbed it (original id) */
  int32_t from; /* the node absorbed (original id) */
  nnd_merge_role role;
} nnd_pass_merge;

typedef struct nnd_pass_record {
  int32_t n_nodes; /* entries of origin: the rewritten graph's n_nodes */
  int32_t *origin; /* rewritten node -> original node, -1 when new */
  int32_t n_merges, cap_merges;
  nnd_pass_merge *merges; /* in the order the passes made them */
  /* Per original node, the value (in the rewritten graph) holding the sum
   * of magnitudes of every term folded into its bias, -1 when nothing was
   * folded: the scale a folded bias is compared at (float32 folding by a
   * converter rounds relative to the terms, not to the sum). */
  int32_t n_file_nodes;
  int32_t *bias_terms;
} nnd_pass_record;

/* Starts a record for g as it is now; free with nnd_pass_record_free. */
nnd_status nnd_pass_record_init(nnd_pass_record *r, const nnd_graph *g, nnd_error *err);
/* NULL-safe; leaves *r zeroed. */
void nnd_pass_record_free(nnd_pass_record *r);

typedef struct nnd_pass_ctx {
  /* Fold arithmetic in double precision and keep the result as float64
   * (for analyses: a folded weight must not carry float32 rounding the
   * file did not have). false: results in the value's own dtype. */
  bool analysis;
  /* Largest constant (elements) a pass may compute; bigger ones are left. */
  int64_t max_fold_elements;
  /* One line per pass per round when not NULL. */
  FILE *trace;
  const char *model_label; /* prefix for trace lines (e.g. "source") */
  /* Where passes log merges and node origins; NULL: not recorded. */
  nnd_pass_record *record;
  /* Values that must stay observable (a caller's taps): keep[v] for v <
   * n_keep. No pass makes a kept value disappear into a merge, a rewiring
   * or dead-code removal (fold_constants may still make one a constant:
   * its value is then known without running). NULL: none. */
  const bool *keep;
  int32_t n_keep;
} nnd_pass_ctx;

/* Default context: engine form, 64M elements, no trace. */
void nnd_pass_ctx_init(nnd_pass_ctx *ctx);

typedef nnd_status (*nnd_pass_fn)(nnd_graph *g, const nnd_pass_ctx *ctx, int64_t *n_changes,
                                  nnd_error *err);

typedef struct nnd_pass {
  const char *name;        /* "fold_constants" */
  const char *description; /* one line, for --help and the docs */
  nnd_pass_fn run;
} nnd_pass;

/* The built-in passes. */
extern const nnd_pass nnd_pass_fold_constants;    /* computes nodes whose inputs are all constant */
extern const nnd_pass nnd_pass_dce;               /* removes nodes whose outputs nobody reads */
extern const nnd_pass nnd_pass_drop_aliases;      /* Identity, Dropout, one-input Concat */
extern const nnd_pass nnd_pass_layout_transposes; /* inverse pairs go, layouts recorded */
extern const nnd_pass nnd_pass_fold_batchnorm;    /* BN, per-channel Mul/Add into Conv/Gemm */
extern const nnd_pass nnd_pass_fuse_activation;   /* Relu/Clip/... into the producer's act */
extern const nnd_pass nnd_pass_absorb_zero_pad;   /* zero spatial Pad into Conv/AveragePool */
extern const nnd_pass nnd_pass_flatten_form;      /* Reshape/Squeeze to [N, rest] -> Flatten */

/* All built-in passes (for listing); n_out receives the count. */
const nnd_pass *const *nnd_passes_builtin(int *n_out);
/* A built-in pass by name, or NULL. */
const nnd_pass *nnd_pass_find(const char *name);

/* Runs the passes in order, round after round, until a round changes
 * nothing or `max_rounds` rounds ran (0: 16). total_changes (may be NULL)
 * receives the sum of all changes. Fails with the first pass that fails;
 * the graph is then partly rewritten (work on a clone). */
nnd_status nnd_passes_run(nnd_graph *g, const nnd_pass *const *passes, int n_passes,
                          const nnd_pass_ctx *ctx, int max_rounds, int64_t *total_changes,
                          nnd_error *err);

/* The analysis normal form (see above) on g, which must have its shapes
 * inferred. trace and record may be NULL; a record must have been started
 * on g (nnd_pass_record_init). The form is for analysis only: it may hold
 * nodes no file states (a Gemm over a rank-3 input, fused activations on
 * any op, float64 weights) and is never run. */
nnd_status nnd_passes_analysis_form(nnd_graph *g, FILE *trace, const char *label,
                                    nnd_pass_record *record, nnd_error *err);

#ifdef __cplusplus
}
#endif
#endif
