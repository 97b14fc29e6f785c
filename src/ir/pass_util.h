/* Helpers the graph passes share (internal to src/ir): node removal that
 * keeps the pass record's origins, merge logging, constants a pass adds,
 * and the small questions every rewrite asks (is this a constant, who reads
 * this value, which axis holds the channels). */
#ifndef NND_IR_PASS_UTIL_H
#define NND_IR_PASS_UTIL_H

#include <stdbool.h>
#include <stdint.h>

#include "nndiff/ir_edit.h"
#include "nndiff/passes.h"

/* Whether value v must stay observable (ctx->keep). */
static inline bool nnd__pass_kept(const nnd_pass_ctx *ctx, int32_t v) {
  return ctx && ctx->keep && v >= 0 && v < ctx->n_keep && ctx->keep[v];
}

/* nnd_graph_remove_nodes that also compacts ctx->record's origins. */
nnd_status nnd__pass_remove_nodes(nnd_graph *g, const nnd_pass_ctx *ctx, const bool *remove,
                                  nnd_error *err);

/* Logs that node `from` was merged into node `into` (current indices). */
nnd_status nnd__pass_merge(const nnd_pass_ctx *ctx, int32_t into, int32_t from, nnd_merge_role role,
                           nnd_error *err);

/* The bias-terms value recorded for current node `node`, or -1; and
 * setting it. */
int32_t nnd__pass_bias_terms(const nnd_pass_ctx *ctx, int32_t node);
void nnd__pass_set_bias_terms(const nnd_pass_ctx *ctx, int32_t node, int32_t value);

/* Adds a float64 constant named after `base` (made unique) with `n` values
 * and the given shape (copied into the graph). */
nnd_status nnd__pass_add_f64(nnd_graph *g, const char *base, const char *suffix,
                             const nnd_shape *shape, const double *data, int64_t n, int32_t *id,
                             nnd_error *err);

static inline bool nnd__is_float_dtype(nnd_dtype d) {
  return d == NND_DTYPE_F32 || d == NND_DTYPE_F64 || d == NND_DTYPE_F16 || d == NND_DTYPE_BF16;
}

/* A value whose data is known now (an initializer or a folded result). */
static inline bool nnd__is_const_value(const nnd_value *v) {
  return v->data && (v->kind == NND_VALUE_CONSTANT || v->folded) && !v->quant;
}

/* Input k of node n when it is a known constant, else NULL. */
const nnd_value *nnd__const_input(const nnd_graph *g, const nnd_node *n, int k);

/* Per value, how many times it is read (node inputs and graph outputs);
 * the caller frees. NULL when out of memory. */
int32_t *nnd__read_counts(const nnd_graph *g);

/* The channel axis of a value: the last for rank <= 2 or channels-last
 * values, else 1. */
int nnd__channel_axis(const nnd_value *v);

/* Moves node `keep`'s first output onto value `to` (which node `gone`
 * produced and whose readers then read `keep`): the value the file names
 * after the whole chain stays the chain's output, so taps keep their
 * meaning. The old output is left unread. */
void nnd__pass_take_output(nnd_graph *g, int32_t keep, int32_t gone);

#endif
