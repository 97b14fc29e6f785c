/* Planner of LayerNorm (ONNX LayerNormalization, opset 17): shapes from
 * the IR; one step normalising each row of the trailing dims from `axis`,
 * with the optional Mean and InvStdDev outputs. Runs on the logical layout
 * (the normalised dims are the last ones; ConvNeXt transposes to
 * channels-last itself before its LayerNorms). */
#include <string.h>

#include "engine/engine_internal.h"

typedef struct ln_params {
  int64_t outer, inner, n_scale, n_bias;
  double eps;
} ln_params;

static nnd_status step_layernorm(nnd_engine *e, const step *s, nnd_error *err) {
  const ln_params *p = s->p;
  const etensor *x = nnd__t(e, s->in[0]);
  void *sc = nnd__data(e, s->in[1]), *b = nnd__data(e, s->in[2]);
  void *y = nnd__data(e, s->out[0]), *mean = nnd__data(e, s->out[1]),
       *inv = nnd__data(e, s->out[2]);
  if (x->dtype == NND_DTYPE_F64)
    nnd__layernorm_f64(p->outer, p->inner, x->data, sc, p->n_scale, b, p->n_bias, p->eps, y, mean,
                       inv);
  else if (x->dtype == NND_DTYPE_F32)
    nnd__layernorm_f32(p->outer, p->inner, x->data, sc, p->n_scale, b, p->n_bias, p->eps, y, mean,
                       inv);
  else
    return nnd_error_set(err, NND_ERR_INTERNAL, "LayerNorm step on %s", nnd_dtype_name(x->dtype));
  return NND_OK;
}

nnd_status nnd__eng_build_layernorm(nnd_engine *e, int32_t id, nnd_error *err) {
  const nnd_node *nd = &e->g->nodes[id];
  const evalue *xv = &e->v[nd->inputs[0]];
  int axis;
  if (!nnd__axis(nd->attrs.axis, xv->rank, &axis))
    return nnd__node_error(e, id, err, NND_ERR_GRAPH, "axis %lld is out of range",
                           (long long)nd->attrs.axis);
  ln_params *p = nnd__emem(e, 1, sizeof *p);
  if (!p) return nnd_error_set(err, NND_ERR_NOMEM, "out of memory");
  p->outer = p->inner = 1;
  for (int d = 0; d < xv->rank; d++)
    *(d < axis ? &p->outer : &p->inner) *= xv->dims[d];
  p->eps = nd->attrs.epsilon;
  int32_t in[3] = {-1, -1, -1};
  for (int k = 0; k < 3; k++) {
    const int32_t v = nnd__in_value(e, id, k);
    if (v < 0) continue;
    if ((in[k] = nnd__operand(e, v, false, err)) < 0) return err->status;
    if (k == 0) continue;
    /* Scale and bias hold the normalised dims, or one value. A shape that
     * broadcasts only partly (say [1, C] over [H, C]) is not supported. */
    const int64_t n = e->t[in[k]].numel;
    if (n != p->inner && n != 1)
      return nnd__node_error(e, id, err, NND_ERR_UNSUPPORTED, "%s has %lld values for rows of %lld",
                             k == 1 ? "scale" : "bias", (long long)n, (long long)p->inner);
    *(k == 1 ? &p->n_scale : &p->n_bias) = n;
  }
  /* Y always gets a buffer (the kernel writes it even when only the
   * statistics are wanted). */
  int32_t out[3] = {-1, -1, -1};
  for (int k = 0; k < 3 && k < nd->n_outputs; k++) {
    const int32_t o = nd->outputs[k];
    if (o < 0 || (k > 0 && !e->v[o].needed)) continue;
    const int rank = k == 0 ? xv->rank : e->v[o].rank;
    out[k] = nnd__output(e, id, k, rank, k == 0 ? xv->dims : e->v[o].dims, false);
    if (out[k] < 0) return nnd_error_set(err, NND_ERR_NOMEM, "out of memory");
  }
  return nnd__emit(e, step_layernorm, "layernorm", p, in, 3, out, 3, 0, err);
}
