/* Internal interfaces between the pieces of the localisation analysis:
 * canonicalisation (canon.c), alignment (align.c), static differences
 * (static_diff.c, param_diff.c), activations (activations.c) and the
 * orchestration and ranking (localize.c). */
#ifndef NND_ANALYSIS_LOCALIZE_INTERNAL_H
#define NND_ANALYSIS_LOCALIZE_INTERNAL_H

#include <stdbool.h>
#include <stdint.h>

#include "nndiff/align.h"
#include "nndiff/engine.h"
#include "nndiff/localize.h"

/* align.c */
double nnd__op_score(nnd_op a, nnd_op b);
bool nnd__op_commutative(nnd_op op);
double nnd__shape_score(const nnd_shape *a, const nnd_shape *b);
double nnd__param_score(const nnd_cgraph *S, int32_t s, const nnd_cgraph *T, int32_t t,
                        double *cos_out);

/* static_diff.c */

/* Counts the hyperparameters of the pair that are compared (*total) and
 * those that agree (*same). */
void nnd__hyper_agreement(const nnd_cgraph *S, int32_t s, const nnd_cgraph *T, int32_t t,
                          int *total, int *same);

/* A growable list of findings. */
typedef struct nnd__findings {
  int32_t n, cap;
  nnd_finding *items;
} nnd__findings;

nnd_finding *nnd__findings_add(nnd__findings *f);

/* Every static difference between the aligned models: parameters and
 * hyperparameters of each pair, substituted ops, extra and missing nodes.
 * Fills the layers' weight/bias figures too (layers has one entry per
 * pair, layers[i].pair set). */
/* Fills f->edit (and has_edit) with the exact edit that fixes f, if any. */
void nnd__finding_edits(const nnd_cgraph *S, const nnd_cgraph *T, nnd_finding *f);
nnd_status nnd__static_findings(const nnd_cgraph *S, const nnd_cgraph *T, const nnd_alignment *A,
                                double rtol, nnd__findings *out, nnd_layer_result *layers,
                                int32_t n_layers, nnd_error *err);

/* Adds original node ids of canonical node cn (members with the roles in
 * role_mask, bit per nnd_crole; 0 = all) to list. */
void nnd__add_cnode_members(const nnd_cgraph *c, int32_t cn, unsigned role_mask, int32_t *list,
                            int *n, int cap);

/* activations.c: the dynamic analysis. */
typedef struct nnd__act_io {
  const nnd_graph *source, *target;
  nnd_dataset *data;
  const nnd_localize_options *opt;
  /* layers to observe (s_value/t_value set; results filled) */
  nnd_layer_result *layers;
  int32_t n_layers;
  nnd_layout *s_layout, *t_layout; /* per layer */
  /* outputs */
  nnd_localize_result *res;
} nnd__act_io;

/* Fills io->layers and io->res's output figures; when the stop flag is
 * raised, returns NND_OK at once with io->res->stopped set. */
nnd_status nnd__run_outputs_and_layers(nnd__act_io *io, nnd_error *err);

/* The options' stop flag is raised (see nnd_localize_options). */
static inline bool nnd__localize_stop(const nnd_localize_options *o) {
  return o->stop_flag && *o->stop_flag;
}

/* Time in seconds (monotonic). */
double nnd__now(void);

#endif
