/* The written file checked against the search: the repaired model as a
 * writer produced it, loaded again, run with the nndiff engine on the
 * verification part and scored against the source, so a file that does
 * not compute what the edited graph computed is never passed off as a
 * repair. */
#include <stdlib.h>
#include <string.h>

#include "analysis/repair_internal.h"

nnd_status nnd_repair_score_graph(const nnd_graph *g, const nnd_repair_result *r,
                                  const nnd_repair_options *opt, nnd_repair_score *verify,
                                  nnd_error *err) {
  memset(verify, 0, sizeof *verify);
  if (!r || r->n_verify <= 0 || !r->data) return NND_OK;
  nnd__repair_data d = *(const nnd__repair_data *)r->data; /* borrowed */
  if (opt) {
    d.threads = opt->threads;
    d.max_memory = opt->max_memory;
  }
  float *out = malloc((size_t)(r->n_verify * d.out_numel) * sizeof(float));
  if (!out) return nnd_error_set(err, NND_ERR_NOMEM, "out of memory checking the written model");
  nnd_status st =
      nnd__repair_run_graph(&d, g, NND_PRECISION_FAST, r->verify_items, r->n_verify, out, err);
  if (st == NND_OK) nnd__repair_score(&d, r->verify_items, r->n_verify, out, verify);
  free(out);
  return st;
}

bool nnd_repair_score_agrees(const nnd_repair_result *r, const nnd_repair_score *written) {
  if (written->n_label_diff != r->after_verify.n_label_diff) return false;
  /* the same edits in a file: the engine plans it alike, up to the float
   * rounding of a dtype the writer converted to */
  double floor = r->noise_floor > 1e-7 ? r->noise_floor : 1e-7;
  double allowed = NND_REPAIR_FLOOR_FACTOR * floor;
  if (2 * r->after_verify.rel_diff > allowed) allowed = 2 * r->after_verify.rel_diff;
  return written->rel_diff <= allowed;
}
