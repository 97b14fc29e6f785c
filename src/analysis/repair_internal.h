/* Internal interfaces between the pieces of repair: running models on the
 * cached inputs and scoring them (repair_run.c), candidate edits mapped
 * onto the target as loaded (repair_edits.c), the search (repair.c). */
#ifndef NND_ANALYSIS_REPAIR_INTERNAL_H
#define NND_ANALYSIS_REPAIR_INTERNAL_H

#include <stdbool.h>
#include <stdint.h>

#include "nndiff/engine.h"
#include "nndiff/repair.h"

/* ------------------------------------------------------------ repair_run.c */

/* Every item of the repair read once (the inputs) and the source's first
 * output on each: what every candidate is run and scored against. */
typedef struct nnd__repair_data {
  int64_t n;          /* items, dataset indices 0..n-1 */
  int rank;           /* rank of the model input, batch included */
  int64_t dims[NND_MAX_RANK];
  int64_t item_numel; /* floats per item */
  float *inputs;      /* n * item_numel */
  int64_t out_numel;  /* floats of the first output per item */
  float *source_out;  /* n * out_numel */
  int threads;
  size_t max_memory;
} nnd__repair_data;

/* Reads items 0..n-1 of ds for graph g's single input. */
nnd_status nnd__repair_data_load(nnd__repair_data *d, const nnd_graph *g, nnd_dataset *ds,
                                 int64_t n, nnd_error *err);
void nnd__repair_data_free(nnd__repair_data *d);

/* Runs g on rows (indices into d) and writes the first output, out_numel
 * floats per row, into out (n_rows * d->out_numel). Fails when the engine
 * cannot plan g or its first output has another size than the source's. */
nnd_status nnd__repair_run_graph(const nnd__repair_data *d, const nnd_graph *g,
                                 nnd_precision precision, const size_t *rows, int64_t n_rows,
                                 float *out, nnd_error *err);

/* Scores out (n_rows outputs) against the source's on the same rows. */
void nnd__repair_score(const nnd__repair_data *d, const size_t *rows, int64_t n_rows,
                       const float *out, nnd_repair_score *s);

/* True when a is a real improvement over b: fewer labels differ, or as many
 * and the output difference falls clearly (below 0.9 of b's). */
bool nnd__repair_better(const nnd_repair_score *a, const nnd_repair_score *b);

/* True when no label differs and the outputs are within factor x floor. */
bool nnd__repair_at_floor(const nnd_repair_score *s, double floor);

/* ---------------------------------------------------------- repair_edits.c */

#define NND__REPAIR_UNIT_MAX 6

/* One thing the search tries: one edit, or the edits of one suspect
 * together (a reflect Pad removed and its convolution's pads restored only
 * work as a pair). Edits are on the target as loaded. */
typedef struct nnd__repair_unit {
  int n;
  nnd_edit edits[NND__REPAIR_UNIT_MAX];
  int32_t finding[NND__REPAIR_UNIT_MAX]; /* into the localize result */
  int suspect_rank;                       /* 0: a finding outside the suspects */
} nnd__repair_unit;

typedef struct nnd__repair_units {
  int n, cap;
  nnd__repair_unit *items;
  int n_unmappable;
  /* buffers the edits' data point into */
  int n_owned, cap_owned;
  void **owned;
} nnd__repair_units;

/* Candidate units from the localize result r, in the order they are tried:
 * per suspect by rank, its findings' edits one by one then together; then
 * the findings of no suspect. target is the graph as loaded. */
nnd_status nnd__repair_candidates(const nnd_localize_result *r, const nnd_graph *target,
                                  nnd__repair_units *out, nnd_error *err);
void nnd__repair_units_free(nnd__repair_units *u);

/* The loaded target's node names a unit's edit concerns, and the source
 * nodes aligned with its finding ("a, b"). */
void nnd__repair_edit_names(const nnd_localize_result *r, const nnd_graph *target,
                            const nnd_edit *e, int32_t finding, char *tnames, size_t tcap,
                            char *snames, size_t scap);

#endif
