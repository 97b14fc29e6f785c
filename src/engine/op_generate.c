/* Planners of the ops that generate a tensor from scalars or a shape,
 * ConstantOfShape and Range, with shapes from the IR. Their inputs are
 * constants or folded shape arithmetic, so they always run while folding;
 * the result is a constant for the run. */
#include <math.h>

#include "engine/engine_internal.h"

static nnd_status not_folded(nnd_engine *e, int32_t id, nnd_error *err) {
  return nnd__node_error(e, id, err, NND_ERR_UNSUPPORTED,
                         "its inputs must be known before running (constants or shape "
                         "arithmetic); they are computed at run time");
}

nnd_status nnd__eng_build_constant_of_shape(nnd_engine *e, int32_t id, nnd_error *err) {
  const nnd_node *nd = &e->g->nodes[id];
  const evalue *out = &e->v[nd->outputs[0]];
  if (!e->folding) return not_folded(e, id, err);
  int32_t y = nnd__output(e, id, 0, out->rank, out->dims, false);
  if (y < 0) return nnd_error_set(err, NND_ERR_NOMEM, "out of memory");
  const etensor *t = &e->t[y];
  const double v = nd->attrs.fill_value;
  if (t->dtype == NND_DTYPE_F64) {
    for (int64_t i = 0; i < t->numel; i++)
      ((double *)t->data)[i] = v;
  } else {
    if (!(v >= -9.2e18 && v <= 9.2e18))
      return nnd__node_error(e, id, err, NND_ERR_GRAPH, "fill value %g is not an integer", v);
    for (int64_t i = 0; i < t->numel; i++)
      ((int64_t *)t->data)[i] = (int64_t)v;
  }
  return NND_OK;
}

nnd_status nnd__eng_build_range(nnd_engine *e, int32_t id, nnd_error *err) {
  const nnd_node *nd = &e->g->nodes[id];
  const evalue *out = &e->v[nd->outputs[0]];
  if (!e->folding) return not_folded(e, id, err);
  int32_t y = nnd__output(e, id, 0, out->rank, out->dims, false);
  if (y < 0) return nnd_error_set(err, NND_ERR_NOMEM, "out of memory");
  const etensor *t = &e->t[y];
  if (t->dtype == NND_DTYPE_I64) {
    int64_t v[3];
    int n;
    for (int k = 0; k < 3; k++) {
      nnd_status st = nnd__const_ints(e, id, k, &v[k], 1, &n, err);
      if (st != NND_OK) return st;
    }
    for (int64_t i = 0; i < t->numel; i++)
      ((int64_t *)t->data)[i] = v[0] + i * v[2];
    return NND_OK;
  }
  double v[3];
  for (int k = 0; k < 3; k++) {
    bool present;
    nnd_status st = nnd__const_scalar(e, id, k, &v[k], &present, err);
    if (st != NND_OK) return st;
  }
  /* As ONNX Runtime computes it: start + i * delta in the op's type. */
  for (int64_t i = 0; i < t->numel; i++)
    ((double *)t->data)[i] = v[0] + (double)i * v[2];
  return NND_OK;
}
