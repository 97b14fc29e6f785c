/* Helpers for building small graphs by hand in the IR tests. */
#ifndef NND_IR_TEST_UTIL_H
#define NND_IR_TEST_UTIL_H

#include <stdio.h>
#include <string.h>

#include "nndiff/ir.h"

/* A dims list ending in END; SYM(k) is an unknown dim with the k-th
 * symbol of tg_syms ("batch", "N", ...); UNK is an unknown unnamed dim. */
#define END (-1000)
#define UNK (-1)
#define SYM(k) (-100 - (k))
static const char *const tg_syms[] = {"batch", "N", "H"};

static inline nnd_shape tg_shape(const int64_t *dims) {
  nnd_shape s = {.rank = 0};
  for (int i = 0; i < NND_MAX_RANK && dims[i] != END; i++) {
    if (dims[i] <= -100)
      s.dims[i] = (nnd_dim){-1, tg_syms[-(dims[i] + 100)]};
    else
      s.dims[i] = (nnd_dim){dims[i], NULL};
    s.rank++;
  }
  return s;
}
#define DIMS(...) ((const int64_t[]){__VA_ARGS__, END})

/* A graph input of the given dtype and dims. */
static inline int32_t tg_input(nnd_graph *g, const char *name, nnd_dtype dt, const int64_t *dims) {
  int32_t id = -1;
  nnd_error err = {0};
  if (nnd_graph_add_value(g, name, &id, &err) != NND_OK) return -1;
  nnd_value *v = &g->values[id];
  v->kind = NND_VALUE_INPUT;
  v->dtype = dt;
  v->shape = tg_shape(dims);
  return id;
}

/* A constant without data (weights whose values do not matter here). */
static inline int32_t tg_weight(nnd_graph *g, const char *name, const int64_t *dims) {
  int32_t id = tg_input(g, name, NND_DTYPE_F32, dims);
  if (id >= 0) g->values[id].kind = NND_VALUE_CONSTANT;
  return id;
}

/* A constant int64 tensor holding vals (shape [n], or a scalar when n < 0). */
static inline int32_t tg_ints(nnd_graph *g, const char *name, int n, const int64_t *vals) {
  int count = n < 0 ? 1 : n;
  int32_t id = tg_input(g, name, NND_DTYPE_I64, n < 0 ? DIMS(END) : DIMS(n));
  if (id < 0) return -1;
  nnd_value *v = &g->values[id];
  if (n < 0) v->shape.rank = 0;
  v->kind = NND_VALUE_CONSTANT;
  int64_t *data = nnd_graph_alloc(g, (size_t)(count ? count : 1), sizeof *data);
  if (count) memcpy(data, vals, (size_t)count * sizeof *data);
  v->data = data;
  v->nbytes = (size_t)count * sizeof *data;
  return id;
}
#define INTS(g, name, ...)                                                                         \
  tg_ints(g, name, (int)(sizeof((const int64_t[]){__VA_ARGS__}) / sizeof(int64_t)),                \
          (const int64_t[]){__VA_ARGS__})

/* A float32 constant of the given dims holding vals (copied). */
static inline int32_t tg_const_f32(nnd_graph *g, const char *name, const int64_t *dims,
                                   const float *vals) {
  int32_t id = tg_input(g, name, NND_DTYPE_F32, dims);
  nnd_value *v = &g->values[id];
  v->kind = NND_VALUE_CONSTANT;
  int64_t n = 1;
  for (int i = 0; i < v->shape.rank; i++)
    n *= v->shape.dims[i].size;
  float *data = nnd_graph_alloc(g, (size_t)n, sizeof *data);
  memcpy(data, vals, (size_t)n * sizeof *data);
  v->data = data;
  v->nbytes = (size_t)n * sizeof *data;
  return id;
}

/* One graph input and one graph output. */
static inline void tg_set_io(nnd_graph *g, int32_t in, int32_t out) {
  g->inputs = nnd_graph_alloc(g, 1, sizeof *g->inputs);
  g->outputs = nnd_graph_alloc(g, 1, sizeof *g->outputs);
  g->inputs[0] = in;
  g->outputs[0] = out;
  g->n_inputs = g->n_outputs = 1;
  g->values[out].is_output = true;
}

/* A float constant holding vals. */
static inline int32_t tg_floats(nnd_graph *g, const char *name, int n, const float *vals) {
  int32_t id = tg_input(g, name, NND_DTYPE_F32, n < 0 ? DIMS(END) : DIMS(n));
  if (id < 0) return -1;
  nnd_value *v = &g->values[id];
  int count = n < 0 ? 1 : n;
  v->kind = NND_VALUE_CONSTANT;
  float *data = nnd_graph_alloc(g, (size_t)count, sizeof *data);
  memcpy(data, vals, (size_t)count * sizeof *data);
  v->data = data;
  v->nbytes = (size_t)count * sizeof *data;
  return id;
}

/* Adds node `name` of op reading ins (n_in of them) and writing n_out new
 * activations named name:0, name:1...; returns the node index (or -1) and
 * the first output through *out. */
static inline int32_t tg_node(nnd_graph *g, nnd_op op, const char *name, const int32_t *ins,
                              int n_in, int n_out, int32_t *out) {
  int32_t outs[16];
  nnd_error err = {0};
  if (out) *out = -1;
  for (int k = 0; k < n_out && k < 16; k++) {
    char buf[128];
    snprintf(buf, sizeof buf, "%s:%d", name, k);
    if (nnd_graph_add_value(g, buf, &outs[k], &err) != NND_OK) return -1;
  }
  int32_t id = -1;
  if (nnd_graph_add_node(g, op, name, ins, n_in, outs, n_out, &id, &err) != NND_OK) return -1;
  if (out) *out = outs[0];
  return id;
}
#define IN(...) ((const int32_t[]){__VA_ARGS__})
#define NIN(...) ((int)(sizeof((const int32_t[]){__VA_ARGS__}) / sizeof(int32_t)))
/* node with one output: NODE(g, op, "name", &out, in0, in1...) */
#define NODE(g, op, name, out, ...) tg_node(g, op, name, IN(__VA_ARGS__), NIN(__VA_ARGS__), 1, out)

static inline const char *tg_fmt(const nnd_graph *g, int32_t v, char *buf, size_t n) {
  nnd_shape_format(&g->values[v].shape, buf, n);
  return buf;
}

#define ASSERT_SHAPE(g, v, expected)                                                               \
  do {                                                                                             \
    char sb_[256];                                                                                 \
    ASSERT_STR_EQ(expected, tg_fmt(g, v, sb_, sizeof sb_));                                        \
  } while (0)

#endif
