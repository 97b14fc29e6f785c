/* Repair: edit the target until it computes what the source computes, and
 * prove it on data it was not repaired on (docs/REPAIR.md).
 *
 * nnd_repair_run
 *   1. splits the data into a localization part and a verification part
 *      (every other item by default: the split interleaves, so both parts
 *      see every kind of input);
 *   2. runs the source once on every item (its outputs are the goal); its
 *      float32 noise on the outputs (fast path vs the double-precision
 *      reference) is localize's on the output layer, or measured on a few
 *      items when localize did not observe that layer;
 *   3. runs localize on the localization part and turns its findings into
 *      candidate edits of the target AS LOADED (the graph a writer patches):
 *      the finding's exact edit, mapped from localize's analysis form by
 *      node and value name; weights into a constant behind a Cast or
 *      Identity, converted to that constant's dtype; dense weights into a
 *      MatMul's [in, out] layout and a bias into the Add after it;
 *   4. searches greedily: candidates in the order of localize's ranking,
 *      each applied on a clone of the target with the edits kept so far,
 *      the clone run with the nndiff engine on the localization inputs; an
 *      edit is kept when it lowers the discrepancy (labels that differ
 *      first, then the largest output difference), until no label differs
 *      and the outputs are within the noise floor, or no candidate helps,
 *      or max_edits are kept;
 *   5. drops every kept edit the others do not need (a minimal set);
 *   6. measures the target and the repaired target on both parts: before,
 *      after each edit, after all. A repair whose verification part comes
 *      out worse than the target's is not offered (edits empty, `worse`
 *      set), so the caller never writes a model worse than the target. */
#ifndef NNDIFF_REPAIR_H
#define NNDIFF_REPAIR_H

#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "nndiff/data.h"
#include "nndiff/ir.h"
#include "nndiff/ir_edit.h"
#include "nndiff/localize.h"
#include "nndiff/status.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Outputs within this many times the source's own float32 noise count as
 * matching (the same factor the fault benchmark checks with ONNX Runtime). */
#define NND_REPAIR_FLOOR_FACTOR 10.0
/* Items the source's noise floor is measured on (reference path, slow). */
#define NND_REPAIR_FLOOR_ITEMS 2

typedef struct nnd_repair_options {
  /* Edits kept at most (0: 8). */
  int max_edits;
  /* Share of the data held out for verification, in (0, 1) (0: 0.5). */
  double verify_split;
  /* Use only the first `limit` items of the dataset (0: all). */
  int64_t limit;
  int threads;       /* engine threads */
  size_t max_memory; /* engine budget per engine, as localize's (0: none) */
  FILE *progress;    /* progress lines, or NULL */
  const volatile sig_atomic_t *stop_flag; /* as localize's; may be NULL */
  nnd_localize_options localize;          /* images, floor_images... (threads and
                                             budget are taken from above) */
} nnd_repair_options;

void nnd_repair_options_init(nnd_repair_options *o);

/* How far the target is from the source on one part of the data (first
 * graph output). */
typedef struct nnd_repair_score {
  int64_t n_inputs;
  int64_t n_label_diff; /* top-1 differs (classifiers; 0 otherwise) */
  double max_abs_diff;  /* max |ys - yt| */
  double rel_diff;      /* max |ys - yt| / max |ys| */
} nnd_repair_score;

/* One edit of the repair. */
typedef struct nnd_repair_edit {
  nnd_edit edit; /* on the target as loaded; data owned by the result */
  char target_nodes[256]; /* the target's node names concerned, comma separated */
  char source_nodes[256]; /* the aligned source nodes */
  char why[512];          /* the finding it comes from */
  int suspect_rank;       /* localize's rank of the suspect (0: not a suspect's) */
  /* The discrepancy with this edit and every one before it kept. */
  nnd_repair_score after_localize, after_verify;
} nnd_repair_edit;

typedef struct nnd_repair_result {
  nnd_localize_result *localize; /* owned: the localization on its part */
  int64_t n_items;               /* items of D used */
  int64_t n_localize, n_verify;  /* the two parts */
  size_t *localize_items, *verify_items; /* dataset indices, owned */
  double noise_floor;            /* source fast vs reference: max rel output diff */
  double noise_floor_abs;        /* the same as max abs diff (-1: not measured) */
  bool noise_floor_from_localize; /* localize's floor on the output layer */
  nnd_repair_score before_localize, before_verify;
  nnd_repair_score after_localize, after_verify; /* with every edit below */
  int n_edits;
  nnd_repair_edit *edits;
  int n_candidates;     /* candidate edits tried */
  int n_candidates_dropped; /* kept first, then found not needed */
  int n_unmappable;     /* findings whose edit has no counterpart in the loaded target */
  bool matches;         /* every label agrees and outputs within the floor, both parts
                           (or: no edit, no label differs, and localize calls the pair
                           equivalent) */
  bool equivalent_by_localize; /* matches by localize's verdict, not the output floor */
  bool worse;           /* the search's edits made the verification part worse: none kept */
  bool stopped;         /* interrupted (stop flag): report nothing */
  char left[1024];      /* when !matches: what is left and why */
  double seconds_total, seconds_localize, seconds_search, seconds_source;
  int n_engine_runs;    /* target runs of candidate graphs */
  void *owned;          /* internal */
  void *data; /* internal: the inputs read and the source's outputs on them, kept for
                 nnd_repair_score_graph */
} nnd_repair_result;

/* Runs the whole repair. source and target are the graphs as loaded (shape
 * inference done) and must outlive the result; data is required and gets
 * nnd_dataset_select calls (its selection is cleared on return). The
 * repaired graph itself is not kept: nnd_repair_apply rebuilds it from the
 * edits. Fails with NND_ERR_USAGE when there are too few items to split
 * (fewer than 2) or the models cannot take the same data, as localize
 * otherwise. */
nnd_status nnd_repair_run(const nnd_graph *source, const nnd_graph *target, nnd_dataset *data,
                          const nnd_repair_options *opt, nnd_repair_result **out, nnd_error *err);

/* A clone of target with the result's edits applied (removals last), shapes
 * inferred again. Caller destroys it; target must outlive it. */
nnd_status nnd_repair_apply(const nnd_graph *target, const nnd_edit *edits, int n_edits,
                            nnd_graph **out, nnd_error *err);

/* The written model checked: g (the repaired file, loaded again) run with
 * the nndiff engine on r's verification part, scored into *verify against
 * the source's outputs the search computed (the inputs and those outputs
 * are kept in r: nothing is read or run twice). */
nnd_status nnd_repair_score_graph(const nnd_graph *g, const nnd_repair_result *r,
                                  const nnd_repair_options *opt, nnd_repair_score *verify,
                                  nnd_error *err);

/* Whether a written model's score agrees with what the search measured on
 * the edited graph (r->after_verify): as many labels differing, outputs as
 * close (within 2x, or within the floor factor of the noise). */
bool nnd_repair_score_agrees(const nnd_repair_result *r, const nnd_repair_score *written);

/* NULL is a no-op. */
void nnd_repair_result_destroy(nnd_repair_result *r);

/* ---------------------------------------------------------------- reports */

struct json_object;

/* The repair as text: verdict, every edit (both files' node names, old ->
 * new, why), the discrepancy before, after each edit and after all on both
 * parts, what is left. out_path: where the repaired model went (NULL: a dry
 * run). Fails with NND_ERR_IO on a write error. */
nnd_status nnd_repair_write_text(FILE *out, const nnd_repair_result *r, const char *out_path,
                                 nnd_error *err);

/* The JSON document (schema "nndiff.repair/1", docs/REPAIR.md). Caller owns
 * *json_out. */
nnd_status nnd_repair_build_json(const nnd_repair_result *r, const char *tool_version,
                                 const char *out_path, struct json_object **json_out,
                                 nnd_error *err);

#ifdef __cplusplus
}
#endif
#endif
