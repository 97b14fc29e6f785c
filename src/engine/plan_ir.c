/* Output shapes from the IR's shape inference, for the bound batch: the
 * engine's one source of shape truth.
 *
 * The engine does not derive output shapes itself. Each node's shape rule
 * (src/ir/shape_*.c, the one load-time inference ran) runs again over the
 * engine's private copy of the graph's values, opened once per create, in
 * which every value the plan knows has its static dims for this batch and
 * every value the plan has folded carries its data (as the plan holds it:
 * float64 or int64). The outputs the rule gives are written back into the
 * copy, so the whole graph is inferred again for the batch, node by node in
 * the plan's topological order, interleaved with the engine's create-time
 * folding: a Reshape fed by Shape -> Gather -> Concat over the symbolic
 * batch, or a Range or ConstantOfShape sized by shape arithmetic, comes out
 * with static dims, and the parameters given as constant inputs come back
 * resolved in the same inference context. */
#include <stdlib.h>
#include <string.h>

#include "engine/engine_internal.h"
#include "ir/shape_infer.h"

static bool is_float_dtype(nnd_dtype d) {
  return d == NND_DTYPE_F32 || d == NND_DTYPE_F64 || d == NND_DTYPE_F16 || d == NND_DTYPE_BF16;
}

nnd_status nnd__ir_view_open(nnd_engine *e, nnd_error *err) {
  const nnd_graph *g = e->g;
  e->bound = malloc((size_t)(g->n_values ? g->n_values : 1) * sizeof *e->bound);
  e->infer_scratch = nnd__infer_scratch_new();
  if (!e->bound || !e->infer_scratch) {
    nnd__ir_view_close(e);
    return nnd_error_set(err, NND_ERR_NOMEM, "out of memory planning shapes");
  }
  if (g->n_values) memcpy(e->bound, g->values, (size_t)g->n_values * sizeof *e->bound);
  return NND_OK;
}

void nnd__ir_view_close(nnd_engine *e) {
  free(e->bound);
  e->bound = NULL;
  nnd__infer_scratch_free(e->infer_scratch);
  e->infer_scratch = NULL;
}

/* Copies what the plan knows about value vid into the bound copy: its dims
 * for the batch, and its data once it is a constant of the plan. */
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

/* Output k of the node as the rule gave it: static (else an error naming
 * the node when the plan needs it), set in the plan and in the view. */
static nnd_status take_output(nnd_engine *e, int32_t id, const nnd__infer *c, int k,
                              nnd_error *err) {
  const nnd_node *nd = &e->g->nodes[id];
  const int32_t o = nd->outputs[k];
  const nnd_shape *s = &c->out[k];
  nnd_value *b = &e->bound[o];
  if (c->out_dtype[k] != NND_DTYPE_UNDEFINED) b->dtype = c->out_dtype[k];
  if (c->out_layout[k] != NND_LAYOUT_NONE) b->layout = c->out_layout[k];
  if (!nnd_shape_is_static(s)) {
    b->shape = *s;
    if (!e->v[o].needed) return NND_OK;
    char buf[160];
    nnd_shape_format(s, buf, sizeof buf);
    return nnd__node_error(e, id, err, NND_ERR_UNSUPPORTED,
                           "output %d ('%s') has no static shape for batch %lld (%s): its "
                           "size depends on values computed at run time",
                           k, e->g->values[o].name, (long long)e->batch, buf);
  }
  int64_t dims[NND_MAX_RANK];
  for (int d = 0; d < s->rank; d++)
    dims[d] = s->dims[d].size;
  nnd__set_out(e, id, k, s->rank, dims, is_float_dtype(b->dtype));
  bind_value(e, o);
  return NND_OK;
}

nnd_status nnd__ir_infer(nnd_engine *e, int32_t id, nnd_attrs *attrs, nnd_error *err) {
  const nnd_graph *g = e->g;
  const nnd_node *nd = &g->nodes[id];
  for (int k = 0; k < nd->n_inputs; k++)
    if (nd->inputs[k] >= 0) bind_value(e, nd->inputs[k]);
  nnd_graph view = *g;
  view.values = e->bound;
  view.info.path = NULL; /* the caller names the model; the rule names the node */
  nnd__infer c;
  nnd_status st = nnd__infer_ctx_init(&c, &view, nd, err, e->infer_scratch, NULL);
  bool folded = false;
  if (st == NND_OK) st = nnd__infer_node(&c, NULL, &folded);
  for (int k = 0; st == NND_OK && k < nd->n_outputs; k++)
    if (nd->outputs[k] >= 0) st = take_output(e, id, &c, k, err);
  if (st == NND_OK) *attrs = c.attrs;
  return st;
}
