/* Running candidates for repair: every item read once into memory, the
 * source's first output computed once, and each candidate graph planned
 * and run on the rows asked for, scored against the source's outputs. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "analysis/repair_internal.h"
#include "util/checked_math.h"

/* Engine batch: big enough for the fast kernels to pay, small enough that
 * a few rows do not run a mostly padded batch. */
#define RUN_BATCH 8

nnd_status nnd__repair_data_load(nnd__repair_data *d, const nnd_graph *g, nnd_dataset *ds,
                                 int64_t n, nnd_error *err) {
  if (g->n_inputs != 1)
    return nnd_error_set(err, NND_ERR_UNSUPPORTED,
                         "the source model has %d graph inputs; repair feeds one input tensor",
                         g->n_inputs);
  const nnd_value *x = &g->values[g->inputs[0]];
  if (x->shape.rank < 1 || x->shape.rank > NND_DATA_MAX_RANK + 1)
    return nnd_error_set(err, NND_ERR_UNSUPPORTED, "source model input '%s' has rank %d", x->name,
                         x->shape.rank);
  nnd_item_shape item = {0};
  item.rank = (size_t)(x->shape.rank - 1);
  item.layout = x->layout == NND_LAYOUT_NHWC   ? NND_DATA_LAYOUT_NHWC
                : x->layout == NND_LAYOUT_NCHW ? NND_DATA_LAYOUT_NCHW
                                               : NND_DATA_LAYOUT_AUTO;
  d->rank = x->shape.rank;
  d->item_numel = 1;
  for (int k = 1; k < x->shape.rank; k++) {
    int64_t s = x->shape.dims[k].size;
    if (s <= 0)
      return nnd_error_set(err, NND_ERR_UNSUPPORTED, "source model input '%s': dim %d is not static",
                           x->name, k);
    item.dims[k - 1] = s;
    d->dims[k] = s;
    if (!nnd__mul_i64(d->item_numel, s, &d->item_numel))
      return nnd_error_set(err, NND_ERR_USAGE, "source model input '%s' is too large", x->name);
  }
  size_t bytes;
  if (!nnd__mul_size((size_t)n, (size_t)d->item_numel * sizeof(float), &bytes))
    return nnd_error_set(err, NND_ERR_NOMEM, "repair: %lld inputs do not fit in memory",
                         (long long)n);
  d->inputs = malloc(bytes ? bytes : 1);
  if (!d->inputs)
    return nnd_error_set(err, NND_ERR_NOMEM, "repair: out of memory holding %lld inputs",
                         (long long)n);
  d->n = n;
  for (int64_t i = 0; i < n; i++) {
    nnd_status st = nnd_dataset_read(ds, (size_t)i, &item, d->inputs + i * d->item_numel,
                                     (size_t)d->item_numel, NULL, err);
    if (st != NND_OK) return st;
  }
  return NND_OK;
}

void nnd__repair_data_free(nnd__repair_data *d) {
  if (!d) return;
  free(d->inputs);
  free(d->source_out);
  d->inputs = d->source_out = NULL;
}

nnd_status nnd__repair_run_graph(const nnd__repair_data *d, const nnd_graph *g,
                                 nnd_precision precision, const size_t *rows, int64_t n_rows,
                                 float *out, nnd_error *err) {
  if (n_rows <= 0) return NND_OK;
  if (g->n_inputs != 1 || g->n_outputs < 1)
    return nnd_error_set(err, NND_ERR_UNSUPPORTED, "repair runs models of one input");
  int64_t batch = n_rows < RUN_BATCH ? n_rows : RUN_BATCH;
  nnd_engine_options eo;
  nnd_engine_options_init(&eo);
  eo.precision = precision;
  eo.batch = batch;
  eo.threads = d->threads;
  eo.max_memory = d->max_memory;
  nnd_engine *e = NULL;
  nnd_tensor in = {0}, *outs = NULL;
  float *buf = NULL;
  nnd_status st = nnd_engine_create(g, &eo, &e, err);
  if (st != NND_OK) return st;
  outs = calloc((size_t)g->n_outputs, sizeof *outs);
  if (!outs) {
    st = nnd_error_set(err, NND_ERR_NOMEM, "out of memory");
    goto done;
  }
  nnd_tensor *o0 = &outs[0];
  o0->dtype = NND_DTYPE_F32;
  if (!nnd_engine_value_shape(e, g->outputs[0], &o0->rank, o0->dims) || o0->dims[0] != batch) {
    st = nnd_error_set(err, NND_ERR_UNSUPPORTED, "the first output is not batched");
    goto done;
  }
  int64_t per = 1;
  for (int k = 1; k < o0->rank; k++)
    per *= o0->dims[k];
  if (d->out_numel && per != d->out_numel) {
    st = nnd_error_set(err, NND_ERR_USAGE,
                       "the first output has %lld values per input, the source's %lld",
                       (long long)per, (long long)d->out_numel);
    goto done;
  }
  buf = malloc((size_t)(batch * d->item_numel) * sizeof(float));
  o0->data = malloc((size_t)(batch * per) * sizeof(float));
  if (!buf || !o0->data) {
    st = nnd_error_set(err, NND_ERR_NOMEM, "out of memory");
    goto done;
  }
  for (int i = 1; i < g->n_outputs; i++)
    outs[i].data = NULL; /* only the first output is compared */
  in.dtype = NND_DTYPE_F32;
  in.rank = d->rank;
  memcpy(in.dims, d->dims, sizeof in.dims);
  in.dims[0] = batch;
  in.data = buf;
  for (int64_t r0 = 0; r0 < n_rows; r0 += batch) {
    int64_t nb = n_rows - r0 < batch ? n_rows - r0 : batch;
    memset(buf, 0, (size_t)(batch * d->item_numel) * sizeof(float));
    for (int64_t b = 0; b < nb; b++)
      memcpy(buf + b * d->item_numel, d->inputs + (int64_t)rows[r0 + b] * d->item_numel,
             (size_t)d->item_numel * sizeof(float));
    if ((st = nnd_engine_run(e, &in, 1, outs, g->n_outputs, err)) != NND_OK) goto done;
    memcpy(out + r0 * per, o0->data, (size_t)(nb * per) * sizeof(float));
  }
done:
  free(buf);
  if (outs) free(outs[0].data);
  free(outs);
  nnd_engine_destroy(e);
  return st;
}

static int64_t argmax(const float *x, int64_t n) {
  int64_t best = 0;
  for (int64_t i = 1; i < n; i++)
    if (x[i] > x[best]) best = i;
  return best;
}

void nnd__repair_score(const nnd__repair_data *d, const size_t *rows, int64_t n_rows,
                       const float *out, nnd_repair_score *s) {
  memset(s, 0, sizeof *s);
  s->n_inputs = n_rows;
  double max_src = 0, max_diff = 0;
  int64_t per = d->out_numel;
  for (int64_t r = 0; r < n_rows; r++) {
    const float *ys = d->source_out + (int64_t)rows[r] * per, *yt = out + r * per;
    for (int64_t i = 0; i < per; i++) {
      double a = fabs((double)ys[i]), diff = fabs((double)ys[i] - (double)yt[i]);
      if (a > max_src) max_src = a;
      if (isnan(diff)) diff = INFINITY; /* a NaN output is as far as it gets */
      if (diff > max_diff) max_diff = diff;
    }
    if (per > 1 && argmax(ys, per) != argmax(yt, per)) s->n_label_diff++;
  }
  s->max_abs_diff = max_diff;
  s->rel_diff = max_src > 0 ? max_diff / max_src : max_diff;
}

bool nnd__repair_better(const nnd_repair_score *a, const nnd_repair_score *b) {
  if (a->n_label_diff != b->n_label_diff) return a->n_label_diff < b->n_label_diff;
  return a->rel_diff < 0.9 * b->rel_diff;
}

bool nnd__repair_at_floor(const nnd_repair_score *s, double floor) {
  double f = floor > 1e-7 ? floor : 1e-7;
  return s->n_label_diff == 0 && s->rel_diff <= NND_REPAIR_FLOOR_FACTOR * f;
}
