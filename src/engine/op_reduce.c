/* Planner of the reductions (ReduceMean, ReduceSum, ReduceMax, ReduceMin):
 * the IR's inference for the bound batch resolved their axes (attribute or
 * constant input) and their output shapes (plan_ir.c); what is here is the
 * mask of reduced dims the kernel walks. */
#include <string.h>

#include "engine/engine_internal.h"

/* --------------------------------------------------------- reduce */

typedef struct reduce_params {
  nnd__reduce_kind kind;
  int rank;
  int64_t dims[NND_MAX_RANK];
  bool mask[NND_MAX_RANK];
} reduce_params;

nnd_status nnd__eng_prepare_reduce(nnd_engine *e, int32_t id, const nnd_attrs *a, nnd_error *err) {
  const nnd_node *nd = &e->g->nodes[id];
  const evalue *x = nnd__in_ev(e, id, 0);
  reduce_params *p = nnd__emem(e, 1, sizeof *p);
  if (!p) return nnd_error_set(err, NND_ERR_NOMEM, "out of memory");
  switch (nd->op) {
  case NND_OP_REDUCE_MEAN: p->kind = NND__RED_MEAN; break;
  case NND_OP_REDUCE_SUM: p->kind = NND__RED_SUM; break;
  case NND_OP_REDUCE_MAX: p->kind = NND__RED_MAX; break;
  default: p->kind = NND__RED_MIN; break;
  }
  p->rank = x->rank;
  memcpy(p->dims, x->dims, sizeof p->dims);
  /* The IR resolved the axes (attribute or input); none means all. */
  for (int i = 0; i < a->n_axes; i++) {
    int ax;
    if (!nnd__axis(a->axes[i], x->rank, &ax))
      return nnd__node_error(e, id, err, NND_ERR_GRAPH, "axis %lld is out of range",
                             (long long)a->axes[i]);
    p->mask[ax] = true;
  }
  if (!a->has_axes || a->n_axes == 0)
    for (int d = 0; d < x->rank; d++)
      p->mask[d] = true;
  e->n[id].params = p;
  return NND_OK;
}

static nnd_status step_reduce(nnd_engine *e, const step *s, nnd_error *err) {
  const reduce_params *p = s->p;
  const etensor *x = nnd__t(e, s->in[0]);
  void *y = nnd__data(e, s->out[0]);
  switch (x->dtype) {
  case NND_DTYPE_F64: nnd__reduce_f64(p->kind, p->rank, p->dims, p->mask, x->data, y); break;
  case NND_DTYPE_F32: nnd__reduce_f32(p->kind, p->rank, p->dims, p->mask, x->data, y); break;
  default: nnd__reduce_i64(p->kind, p->rank, p->dims, p->mask, x->data, y); break;
  }
  (void)err;
  return NND_OK;
}

nnd_status nnd__eng_build_reduce(nnd_engine *e, int32_t id, nnd_error *err) {
  return nnd__emit_one_to_one(e, id, step_reduce, nnd_op_name(e->g->nodes[id].op), err);
}
