/* Output shapes from the IR's shape inference, for the bound batch.
 *
 * Rather than derive every op's output shape a second time, a planner can
 * ask the IR's own rule (src/ir/shape_*.c) for it: the rule runs over a
 * private copy of the graph's values in which every value the plan knows
 * has its static dims for this batch, and every value the plan has folded
 * carries its data (as the plan holds it: float64 or int64). So a Range or
 * ConstantOfShape fed by Shape arithmetic over the symbolic batch comes out
 * with static dims, and resolved parameters (attributes given as constant
 * inputs) come back in the same inference context. */
#include <stdlib.h>
#include <string.h>

#include "engine/engine_internal.h"
#include "ir/shape_infer.h"

static bool is_float_dtype(nnd_dtype d) {
  return d == NND_DTYPE_F32 || d == NND_DTYPE_F64 || d == NND_DTYPE_F16 || d == NND_DTYPE_BF16;
}

/* Copies what the plan knows about value vid into the bound copy. */
static void bind_value(nnd_engine *e, int32_t vid) {
  const evalue *ev = &e->v[vid];
  nnd_value *b = &e->bound[vid];
  if (!ev->known) return;
  b->shape.rank = ev->rank;
  for (int d = 0; d < ev->rank; d++) {
    b->shape.dims[d].size = ev->dims[d];
    b->shape.dims[d].symbol = NULL;
  }
  if (ev->is_const && ev->tid[0][0] >= 0) {
    const etensor *t = &e->t[ev->tid[0][0]];
    b->dtype = t->dtype;
    b->data = t->data;
    b->nbytes = (size_t)t->numel * nnd_dtype_size(t->dtype);
    b->folded = b->kind == NND_VALUE_ACTIVATION;
  } else {
    b->data = NULL;
    b->nbytes = 0;
    b->folded = false;
  }
}

nnd_status nnd__ir_infer(nnd_engine *e, int32_t id, nnd__ir_result *res, nnd_error *err) {
  const nnd_graph *g = e->g;
  const nnd_node *nd = &g->nodes[id];
  if (!e->bound) {
    e->bound = malloc((size_t)(g->n_values ? g->n_values : 1) * sizeof *e->bound);
    if (!e->bound) return nnd_error_set(err, NND_ERR_NOMEM, "out of memory planning shapes");
    memcpy(e->bound, g->values, (size_t)g->n_values * sizeof *e->bound);
  }
  for (int k = 0; k < nd->n_inputs; k++)
    if (nd->inputs[k] >= 0) bind_value(e, nd->inputs[k]);
  nnd_graph view = *g;
  view.values = e->bound;
  void *scratch = nnd__infer_scratch_new();
  if (!scratch) return nnd_error_set(err, NND_ERR_NOMEM, "out of memory planning shapes");
  nnd__infer c;
  nnd_status st = nnd__infer_ctx_init(&c, &view, nd, err, scratch, NULL);
  bool folded = false;
  if (st == NND_OK) st = nnd__infer_node(&c, NULL, &folded);
  if (st == NND_OK) {
    res->attrs = c.attrs;
    if (c.attrs.split && c.attrs.split == c.split) {
      /* Split sizes read from input 1 live in the scratch freed below. */
      res->attrs.split = nnd__emem(e, (size_t)c.attrs.n_split, sizeof *res->attrs.split);
      if (!res->attrs.split)
        st = nnd_error_set(err, NND_ERR_NOMEM, "out of memory");
      else
        memcpy(res->attrs.split, c.split, (size_t)c.attrs.n_split * sizeof *c.split);
    }
  }
  if (st == NND_OK) {
    for (int k = 0; k < nd->n_outputs; k++) {
      const int32_t o = nd->outputs[k];
      if (o < 0) continue;
      const nnd_shape *s = &c.out[k];
      if (!nnd_shape_is_static(s) && !e->v[o].needed) continue;
      if (!nnd_shape_is_static(s)) {
        char buf[160];
        nnd_shape_format(s, buf, sizeof buf);
        st = nnd__node_error(e, id, err, NND_ERR_UNSUPPORTED,
                             "output %d ('%s') has no static shape for batch %lld (%s): its "
                             "size depends on values computed at run time",
                             k, g->values[o].name, (long long)e->batch, buf);
        break;
      }
      int64_t dims[NND_MAX_RANK];
      for (int d = 0; d < s->rank; d++)
        dims[d] = s->dims[d].size;
      nnd__set_out(e, id, k, s->rank, dims, is_float_dtype(c.out_dtype[k]));
    }
  }
  nnd__infer_scratch_free(scratch);
  return st;
}

nnd_status nnd__eng_infer_ir(nnd_engine *e, int32_t id, nnd_error *err) {
  nnd__ir_result r;
  return nnd__ir_infer(e, id, &r, err);
}
