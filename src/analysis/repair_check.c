/* The written file checked against the search: the repaired model as a
 * writer produced it, loaded again, run with the nndiff engine on the
 * verification part and scored against the source, so a file that does
 * not compute what the edited graph computed is never passed off as a
 * repair. */
#include <stdlib.h>
#include <string.h>

#include "analysis/repair_internal.h"

nnd_status nnd_repair_score_graph(const nnd_graph *source, const nnd_graph *g, nnd_dataset *data,
                                  const nnd_repair_result *r, const nnd_repair_options *opt,
                                  nnd_repair_score *verify, nnd_error *err) {
  memset(verify, 0, sizeof *verify);
  if (!r || r->n_verify <= 0) return NND_OK;
  nnd__repair_data d = {0};
  d.threads = opt ? opt->threads : 1;
  d.max_memory = opt ? opt->max_memory : 0;
  const nnd_value *y = &source->values[source->outputs[0]];
  int64_t per = 1;
  for (int k = 1; k < y->shape.rank; k++)
    per *= y->shape.dims[k].size > 0 ? y->shape.dims[k].size : 1;
  float *src = NULL, *out = NULL;
  nnd_status st = nnd__repair_data_load(&d, source, data, r->n_items, err);
  if (st != NND_OK) goto done;
  d.out_numel = per;
  d.source_out = calloc((size_t)(d.n * per), sizeof(float));
  src = malloc((size_t)(r->n_verify * per) * sizeof(float));
  out = malloc((size_t)(r->n_verify * per) * sizeof(float));
  if (!d.source_out || !src || !out) {
    st = nnd_error_set(err, NND_ERR_NOMEM, "out of memory checking the written model");
    goto done;
  }
  st = nnd__repair_run_graph(&d, source, NND_PRECISION_FAST, r->verify_items, r->n_verify, src,
                             err);
  if (st != NND_OK) goto done;
  for (int64_t i = 0; i < r->n_verify; i++)
    memcpy(d.source_out + (int64_t)r->verify_items[i] * per, src + i * per,
           (size_t)per * sizeof(float));
  st = nnd__repair_run_graph(&d, g, NND_PRECISION_FAST, r->verify_items, r->n_verify, out, err);
  if (st == NND_OK) nnd__repair_score(&d, r->verify_items, r->n_verify, out, verify);
done:
  free(src);
  free(out);
  nnd__repair_data_free(&d);
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
