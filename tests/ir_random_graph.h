/* Builds a random, often hostile, graph from a stream of bytes: random ops
 * wired to random values, odd ranks and sizes (0, unknown, 2^40,
 * INT64_MAX), random attributes (negative strides, bad axes, counts past
 * NND_MAX_RANK), integer constants of odd values, some with data shorter
 * than their shape. Used by the random smoke test and the libFuzzer target
 * of shape inference; both then check that inference and validation never
 * crash and report every failure as a status with a message. */
#ifndef NND_IR_RANDOM_GRAPH_H
#define NND_IR_RANDOM_GRAPH_H

#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "ir/shape_infer.h"
#include "nndiff/ir.h"

typedef struct rg_src {
  const uint8_t *data;
  size_t size, pos;
  uint64_t state; /* used when the bytes run out (or for a seeded stream) */
} rg_src;

static inline unsigned rg_byte(rg_src *s) {
  if (s->pos < s->size) return s->data[s->pos++];
  s->state = s->state * 6364136223846793005ull + 1442695040888963407ull;
  return (unsigned)(s->state >> 56);
}

static inline int rg_int(rg_src *s, int n) { return n <= 0 ? 0 : (int)(rg_byte(s) % (unsigned)n); }

static inline int64_t rg_dim(rg_src *s) {
  static const int64_t dims[] = {
      1, 1, 2, 3, 3, 4, 7, 8, 16, 56, 64, 224, 0, -1, -1, (int64_t)1 << 40, INT64_MAX, 5, 6, 32};
  return dims[rg_int(s, (int)(sizeof dims / sizeof dims[0]))];
}

static inline int64_t rg_val(rg_src *s) {
  static const int64_t vals[] = {
      0,  1,    2,         3,         -1,        -2, -3, 4, 7,  8,
      64, 1000, INT64_MAX, INT64_MIN, INT32_MAX, 9,  5,  6, -9, (int64_t)1 << 40};
  return vals[rg_int(s, (int)(sizeof vals / sizeof vals[0]))];
}

static inline void rg_shape(rg_src *s, nnd_shape *sh) {
  sh->rank = rg_int(s, 12) == 0 ? -1 : rg_int(s, 6);
  for (int i = 0; i < (sh->rank > 0 ? sh->rank : 0); i++) {
    sh->dims[i].size = rg_dim(s);
    sh->dims[i].symbol =
        sh->dims[i].size < 0 && rg_int(s, 2) ? (rg_int(s, 2) ? "batch" : "N") : NULL;
  }
}

static inline int32_t rg_add_value(nnd_graph *g, int *counter) {
  char name[32];
  snprintf(name, sizeof name, "v%d", (*counter)++);
  int32_t id = -1;
  nnd_graph_add_value(g, name, &id, NULL);
  return id;
}

/* Plausible attributes: what a frontend would write for a real model. */
static inline void rg_tame_attrs(rg_src *s, nnd_attrs *a) {
  for (int i = 0; i < NND_MAX_SPATIAL; i++) {
    a->conv.strides[i] = 1 + rg_int(s, 2);
    a->conv.pads_begin[i] = a->conv.pads_end[i] = rg_int(s, 2);
    a->pool.kernel[i] = 2 + rg_int(s, 2);
    a->pool.strides[i] = 1 + rg_int(s, 2);
  }
  a->conv.auto_pad = (nnd_auto_pad)rg_int(s, 4);
  a->pool.ceil_mode = rg_int(s, 2);
  a->axis = rg_int(s, 3) - 1;
  a->has_axes = rg_int(s, 2);
  a->n_axes = rg_int(s, 3);
  for (int i = 0; i < NND_MAX_RANK; i++) {
    a->axes[i] = rg_int(s, 4) - 1;
    a->starts[i] = rg_int(s, 3) - 1;
    a->ends[i] = rg_int(s, 2) ? INT64_MAX : rg_int(s, 4) - 1;
    a->steps[i] = 1;
  }
  a->has_slice = rg_int(s, 2);
  a->to = rg_int(s, 2) ? NND_DTYPE_I64 : NND_DTYPE_F32;
  a->keepdims = rg_int(s, 2);
  a->trans_b = rg_int(s, 2);
}

static inline void rg_attrs(rg_src *s, nnd_graph *g, nnd_attrs *a, int n_outputs) {
  static const int64_t small[] = {0, 1, 1, 1, 2, 2, 3, -1, 5, INT64_MAX, 1 << 20};
  if (rg_int(s, 4) != 0) {
    rg_tame_attrs(s, a);
    return;
  }
  nnd_conv_attrs *c = &a->conv;
  if (rg_int(s, 2)) c->n_spatial = rg_int(s, 5) - 1 > 3 ? 3 : rg_int(s, 4);
  for (int i = 0; i < NND_MAX_SPATIAL; i++) {
    if (rg_int(s, 3) == 0) c->kernel[i] = small[rg_int(s, 11)];
    if (rg_int(s, 3) == 0) c->strides[i] = small[rg_int(s, 11)];
    if (rg_int(s, 4) == 0) c->dilations[i] = small[rg_int(s, 11)];
    if (rg_int(s, 3) == 0) c->pads_begin[i] = small[rg_int(s, 11)];
    if (rg_int(s, 3) == 0) c->pads_end[i] = small[rg_int(s, 11)];
    if (rg_int(s, 5) == 0) c->output_padding[i] = small[rg_int(s, 11)];
    a->pool.kernel[i] = rg_int(s, 3) ? 2 + rg_int(s, 2) : small[rg_int(s, 11)];
    a->pool.strides[i] = rg_int(s, 3) ? 2 : small[rg_int(s, 11)];
    if (rg_int(s, 4) == 0) a->pool.pads_begin[i] = small[rg_int(s, 11)];
  }
  if (rg_int(s, 3) == 0) c->groups = small[rg_int(s, 11)];
  c->auto_pad = (nnd_auto_pad)rg_int(s, 4);
  c->layout = (nnd_layout)rg_int(s, 3);
  c->weight_layout = (nnd_weight_layout)rg_int(s, 5); /* 4: out of range */
  a->pool.ceil_mode = rg_int(s, 2);
  a->pool.auto_pad = (nnd_auto_pad)rg_int(s, 4);
  a->pool.layout = (nnd_layout)rg_int(s, 3);
  a->trans_a = rg_int(s, 2);
  a->trans_b = rg_int(s, 2);
  a->axis = rg_int(s, 4) == 0 ? rg_val(s) : rg_int(s, 7) - 3;
  a->has_axes = rg_int(s, 2);
  a->n_axes = rg_int(s, 11) - 1; /* -1..9: past NND_MAX_RANK too */
  for (int i = 0; i < NND_MAX_RANK; i++) {
    a->axes[i] = rg_int(s, 7) - 3;
    a->perm[i] = rg_int(s, 6);
    a->pads_begin[i] = rg_int(s, 4) - 1;
    a->pads_end[i] = rg_int(s, 4) == 0 ? rg_val(s) : rg_int(s, 3);
    a->starts[i] = rg_val(s);
    a->ends[i] = rg_val(s);
    a->steps[i] = rg_int(s, 4) == 0 ? rg_val(s) : 1;
  }
  a->keepdims = rg_int(s, 2);
  a->n_perm = rg_int(s, 3) == 0 ? rg_int(s, 10) - 1 : 0;
  a->has_pads = rg_int(s, 2);
  a->n_pads = rg_int(s, 10) - 1;
  a->has_slice = rg_int(s, 2);
  a->shape_start = rg_int(s, 3) == 0 ? rg_val(s) : 0;
  a->shape_end = rg_int(s, 3) == 0 ? rg_val(s) : INT64_MAX;
  a->allowzero = rg_int(s, 4) == 0;
  a->to = (nnd_dtype)rg_int(s, NND_DTYPE_COUNT + 1);
  if (rg_int(s, 4) == 0) {
    a->n_split = rg_int(s, 2) ? n_outputs : rg_int(s, 5);
    a->split = nnd_graph_alloc(g, (size_t)(a->n_split > 0 ? a->n_split : 1), sizeof *a->split);
    for (int i = 0; a->split && i < a->n_split; i++)
      a->split[i] = rg_val(s);
    if (!a->split) a->n_split = 0;
  }
}

/* Builds the graph into g (empty, fresh). */
static inline void rg_build(rg_src *s, nnd_graph *g) {
  static const nnd_dtype dtypes[] = {NND_DTYPE_F32,      NND_DTYPE_F32, NND_DTYPE_I64,
                                     NND_DTYPE_I8,       NND_DTYPE_I32, NND_DTYPE_BOOL,
                                     NND_DTYPE_UNDEFINED};
  int counter = 0;
  int n_leaf = 1 + rg_int(s, 5);
  for (int i = 0; i < n_leaf; i++) {
    int32_t id = rg_add_value(g, &counter);
    if (id < 0) return;
    nnd_value *v = &g->values[id];
    rg_shape(s, &v->shape);
    v->dtype = dtypes[rg_int(s, 7)];
    v->kind = rg_int(s, 2) ? NND_VALUE_INPUT : NND_VALUE_CONSTANT;
    v->layout = (nnd_layout)rg_int(s, 3);
    if (v->kind == NND_VALUE_CONSTANT && rg_int(s, 2)) {
      /* integer or float data, sometimes fewer values than the shape says */
      bool is_int = rg_int(s, 3) != 0;
      int n = rg_int(s, 10);
      v->dtype = is_int ? NND_DTYPE_I64 : NND_DTYPE_F32;
      if (rg_int(s, 3)) {
        v->shape.rank = rg_int(s, 4) == 0 ? 0 : 1;
        if (v->shape.rank == 0) n = 1;
        v->shape.dims[0] = (nnd_dim){n, NULL};
        if (rg_int(s, 8) == 0) v->shape.dims[0].size = n + 1; /* short data */
      }
      unsigned char *buf = nnd_graph_alloc(g, (size_t)(n ? n : 1), 8);
      if (!buf) return;
      for (int k = 0; k < n; k++) {
        if (is_int) {
          int64_t x = rg_val(s);
          memcpy(buf + 8 * k, &x, 8);
        } else {
          float f = (float)(rg_int(s, 6)) * 0.5f;
          memcpy(buf + 4 * k, &f, 4);
        }
      }
      v->data = buf;
      v->nbytes = (size_t)n * (is_int ? 8 : 4);
    }
  }
  int n_nodes = 1 + rg_int(s, 12);
  bool tame = rg_int(s, 4) != 0; /* operands that fit the ops: reach the shape functions */
  for (int k = 0; k < n_nodes; k++) {
    int32_t ins[6], outs[4];
    nnd_op op = (nnd_op)rg_int(s, NND_OP_COUNT);
    const nnd__op_rule *r = nnd__op_rule_get(op);
    int n_in = rg_int(s, 6), n_out = 1 + (rg_int(s, 4) == 0 ? rg_int(s, 3) : 0);
    if (tame || rg_int(s, 6) != 0) {
      int hi = r->max_in == NND__ANY || r->max_in > 5 ? 5 : r->max_in;
      n_in = r->min_in + rg_int(s, hi - r->min_in + 1);
      n_out = r->min_out;
    }
    for (int i = 0; i < n_in; i++) /* mostly recent values, so chains form */
      ins[i] = rg_int(s, 10) == 0 && (!tame || (i < 32 && ((r->optional >> i) & 1))) ? -1
               : rg_int(s, 2) ? g->n_values - 1 - rg_int(s, g->n_values < 3 ? g->n_values : 3)
                              : rg_int(s, g->n_values);
    for (int i = 0; i < n_out; i++) {
      outs[i] = rg_add_value(g, &counter);
      if (outs[i] < 0) return;
    }
    char name[32];
    snprintf(name, sizeof name, "n%d", k);
    int32_t id;
    if (nnd_graph_add_node(g, op, name, ins, n_in, outs, n_out, &id, NULL) != NND_OK) continue;
    rg_attrs(s, g, &g->nodes[id].attrs, n_out);
  }
  if (g->n_values > 0) {
    g->outputs = nnd_graph_alloc(g, 1, sizeof *g->outputs);
    if (g->outputs) {
      g->outputs[0] = g->n_values - 1;
      g->n_outputs = 1;
    }
  }
}

/* Runs inference and validation on a random graph; returns a description
 * of a broken promise, or NULL. */
static inline const char *rg_check(nnd_graph *g) {
  nnd_error err = {0};
  nnd_status st = nnd_graph_infer_shapes(g, &err);
  if (st != NND_OK && (!err.message[0] || st == NND_ERR_INTERNAL)) return "infer: bad failure";
  if (st == NND_OK) {
    for (int32_t i = 0; i < g->n_values; i++) {
      const nnd_shape *sh = &g->values[i].shape;
      if (sh->rank < -1 || sh->rank > NND_MAX_RANK) return "infer: rank out of range";
      for (int d = 0; d < sh->rank; d++)
        if (sh->dims[d].size < -1 && g->values[i].producer >= 0) return "infer: bad dim";
    }
    char buf[256];
    for (int32_t i = 0; i < g->n_values; i++)
      nnd_shape_format(&g->values[i].shape, buf, sizeof buf);
  }
  nnd_error verr = {0};
  st = nnd_graph_validate(g, &verr);
  if (st != NND_OK && (!verr.message[0] || st == NND_ERR_INTERNAL)) return "validate: bad failure";
  return NULL;
}

#endif
