/* libFuzzer target: planning and running. An ONNX model from the input is
 * loaded (shapes inferred, validated), planned by nnd_engine_create for
 * batch 1 in both precisions (folding, fusion, layouts, memory plan) and run
 * once on zeros, the reference run with every value observed by a tap that
 * reads all of it. Any status is fine; a crash, leak, hang or sanitizer
 * report is not.
 *
 * Models the fuzzer can grow into gigabytes of activations or hours of
 * arithmetic are skipped before the engine sees them: every value must have
 * a known shape (dims known, or the batch symbol of a graph input, planned
 * as 1), all values together at most MAX_ELEMENTS elements (4 MB in double
 * precision), and the cost model's MACs and FLOPs bounded. The engine
 * checks its own shapes against those before it folds or allocates
 * anything, so nothing it allocates can exceed them by more than a small
 * factor (layout twins, packed weights, scratch). */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "nndiff/cost.h"
#include "nndiff/engine.h"
#include "nndiff/ir.h"
#include "nndiff/onnx.h"

enum { MAX_ELEMENTS = 1 << 19 };
#define MAX_OPS (20 * 1000 * 1000)

/* An unknown dim the engine plans as the batch (1): one that carries the
 * symbol of an unknown dim 0 of a graph input. */
static bool is_batch_dim(const nnd_graph *g, const nnd_dim *d) {
  if (!d->symbol) return false;
  for (int i = 0; i < g->n_inputs; i++) {
    const nnd_value *in = &g->values[g->inputs[i]];
    if (in->shape.rank > 0 && in->shape.dims[0].size < 0 && in->shape.dims[0].symbol &&
        strcmp(in->shape.dims[0].symbol, d->symbol) == 0)
      return true;
  }
  return false;
}

static bool small_enough(const nnd_graph *g) {
  int64_t total = 0;
  for (int32_t v = 0; v < g->n_values; v++) {
    const nnd_shape *s = &g->values[v].shape;
    if (s->rank < 0) return false; /* nothing bounds what the engine would plan */
    int64_t numel = 1;
    for (int i = 0; i < s->rank; i++) {
      int64_t size = s->dims[i].size >= 0 ? s->dims[i].size : is_batch_dim(g, &s->dims[i]) ? 1 : -1;
      if (size < 0 || (size > 0 && numel > MAX_ELEMENTS / size)) return false;
      numel *= size;
    }
    if ((total += numel) > MAX_ELEMENTS) return false;
  }
  nnd_node_cost *per_node = malloc((size_t)(g->n_nodes ? g->n_nodes : 1) * sizeof *per_node);
  nnd_node_cost cost;
  bool ok = per_node && nnd_cost_compute(g, per_node, &cost, NULL) == NND_OK &&
            cost.uncounted == 0 && cost.macs <= MAX_OPS && cost.flops <= MAX_OPS;
  free(per_node);
  return ok;
}

static void read_all(void *user, const nnd_graph *g, int32_t node, int32_t value_id,
                     const nnd_tensor_view *t) {
  (void)g;
  (void)node;
  (void)value_id;
  volatile double sink = 0;
  size_t es = t->dtype == NND_DTYPE_F32 ? 4 : 8;
  for (int64_t i = 0; i < t->numel; i++) {
    double x;
    if (es == 4) {
      float f;
      memcpy(&f, (const char *)t->data + 4 * i, 4);
      x = f;
    } else {
      memcpy(&x, (const char *)t->data + 8 * i, 8);
    }
    sink += x;
  }
  *(double *)user += sink;
}

static void run_once(const nnd_graph *g, nnd_precision precision) {
  nnd_engine_options opt;
  nnd_engine_options_init(&opt);
  opt.precision = precision;
  opt.batch = 1;
  opt.threads = 1;
  double sum = 0;
  if (precision == NND_PRECISION_REFERENCE) {
    opt.observe = NND_OBSERVE_ALL;
    opt.tap = read_all;
    opt.tap_user = &sum;
  }
  nnd_engine *e = NULL;
  nnd_error err = {0};
  if (nnd_engine_create(g, &opt, &e, &err) != NND_OK) return;
  nnd_tensor *in = calloc((size_t)g->n_inputs + 1, sizeof *in);
  nnd_tensor *out = calloc((size_t)g->n_outputs + 1, sizeof *out);
  bool ok = in && out;
  for (int i = 0; ok && i < g->n_inputs; i++) {
    int32_t vid = g->inputs[i];
    in[i].dtype = NND_DTYPE_F32;
    if (!nnd_engine_value_shape(e, vid, &in[i].rank, in[i].dims)) {
      /* an input the plan does not read: its IR shape, the batch as 1 */
      const nnd_shape *s = &g->values[vid].shape;
      in[i].rank = s->rank;
      for (int d = 0; d < s->rank; d++)
        in[i].dims[d] = s->dims[d].size >= 0 ? s->dims[d].size : 1;
    }
    int64_t n = 1;
    for (int d = 0; d < in[i].rank; d++)
      n *= in[i].dims[d];
    in[i].data = calloc((size_t)(n ? n : 1), sizeof(float));
    ok = in[i].data != NULL;
  }
  for (int i = 0; ok && i < g->n_outputs; i++) {
    out[i].dtype = NND_DTYPE_F32;
    if (!nnd_engine_value_shape(e, g->outputs[i], &out[i].rank, out[i].dims)) continue;
    int64_t n = 1;
    for (int d = 0; d < out[i].rank; d++)
      n *= out[i].dims[d];
    out[i].data = calloc((size_t)(n ? n : 1), sizeof(float));
    ok = out[i].data != NULL;
  }
  if (ok) (void)nnd_engine_run(e, in, g->n_inputs, out, g->n_outputs, &err);
  for (int i = 0; in && i < g->n_inputs; i++)
    free(in[i].data);
  for (int i = 0; out && i < g->n_outputs; i++)
    free(out[i].data);
  free(in);
  free(out);
  nnd_engine_destroy(e);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  nnd_graph *g = NULL;
  if (nnd_onnx_load_memory(data, size, NULL, &g, NULL) == NND_OK && small_enough(g)) {
    run_once(g, NND_PRECISION_FAST);
    run_once(g, NND_PRECISION_REFERENCE);
  }
  nnd_graph_destroy(g);
  return 0;
}
