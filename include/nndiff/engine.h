/* The nndiff inference engine: runs an IR graph on a batch of inputs.
 *
 * Two precisions run the same graph:
 *   NND_PRECISION_REFERENCE  every node on its own, in double precision, with
 *                            plain loops and a fixed summation order: the
 *                            yardstick for "is this difference rounding?";
 *   NND_PRECISION_FAST       float32 with fused and packed kernels (oneDNN or
 *                            im2col + BLAS convolution and GEMM, our own
 *                            vectorised depthwise convolution), channels-last
 *                            activations between convolutions, BatchNorm
 *                            folded into the preceding convolution and
 *                            activations fused into their producer.
 *
 * Life cycle (XNNPACK style): nnd_engine_create plans everything once for
 * static shapes (batch size resolved, constants folded, memory planned,
 * weights packed); nnd_engine_run then runs one batch with no allocation;
 * nnd_engine_destroy frees it all.
 *
 * Taps. A tap callback sees values as they are produced, in topological
 * order, each requested value exactly once per run, with the batch data in
 * the graph's own (logical) layout: float64 in the reference precision,
 * float32 in the fast one, int64 for integer values the engine computed at
 * create time (shape arithmetic). Granularity:
 *   - NND_OBSERVE_LIST: exactly the listed values. A listed value is always
 *     materialised: listing a convolution's output keeps that convolution
 *     apart from the BatchNorm or activation after it (the fast path then
 *     runs them as separate steps; nothing else changes).
 *   - NND_OBSERVE_ALL: the reference path shows every value (graph inputs,
 *     then every node output). The fast path shows every value it
 *     materialises: a fused group (Conv + BatchNorm + activation, Gemm +
 *     activation, MatMul + bias add) is seen once, at its last output, with
 *     the node id of the last node of the group; the values inside the group
 *     are not shown. nnd_engine_value_observed says which values a run will
 *     show. So observing everything never forces the fast path onto a slower
 *     unfused plan.
 * The view passed to the callback is valid only during the call.
 *
 * Determinism: the same engine options, inputs and thread count give
 * bit-identical outputs and taps. The reference path is also identical
 * across thread counts (every output element is summed in a fixed order by
 * one thread).
 *
 * Thread safety: one run at a time per engine; run engines for the same graph
 * in parallel only if each has its own nnd_engine. The graph must outlive
 * the engine and must not change while the engine exists. */
#ifndef NNDIFF_ENGINE_H
#define NNDIFF_ENGINE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "nndiff/ir.h"
#include "nndiff/status.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef enum nnd_precision {
  NND_PRECISION_FAST = 0, /* float32, fused, packed kernels */
  NND_PRECISION_REFERENCE /* float64, node by node, plain loops */
} nnd_precision;

/* "fast" or "reference". */
const char *nnd_precision_name(nnd_precision precision);

/* A dense row-major tensor the caller owns: graph inputs given to and
 * outputs received from nnd_engine_run. */
typedef struct nnd_tensor {
  nnd_dtype dtype; /* NND_DTYPE_F32 or NND_DTYPE_F64 (I64 for frozen inputs) */
  int rank;
  int64_t dims[NND_MAX_RANK];
  void *data;
} nnd_tensor;

/* A value shown to a tap: read-only, valid during the callback only. */
typedef struct nnd_tensor_view {
  nnd_dtype dtype; /* F32 (fast), F64 (reference), I64 (folded integers) */
  int rank;
  int64_t dims[NND_MAX_RANK]; /* logical dims, the batch size resolved */
  int64_t numel;
  const void *data; /* dense, row-major, in the graph's layout */
} nnd_tensor_view;

/* Called once per observed value per run. `node` is the producing node (the
 * last node of a fused group), -1 for a graph input. */
typedef void (*nnd_tap_fn)(void *user, const nnd_graph *g, int32_t node, int32_t value_id,
                           const nnd_tensor_view *t);

typedef enum nnd_observe {
  NND_OBSERVE_NONE = 0, /* no taps */
  NND_OBSERVE_ALL,      /* every value, at the engine's granularity (above) */
  NND_OBSERVE_LIST      /* the values in observe_values */
} nnd_observe;

typedef struct nnd_engine_options {
  nnd_precision precision;
  /* Size of the symbolic batch dim (dim 0 of graph inputs whose size is
   * unknown). 0: the model's fixed batch, or 1 when it is symbolic. */
  int64_t batch;
  /* Threads inside operators (OpenMP; oneDNN uses the same pool). 0 or 1:
   * single-threaded. */
  int threads;
  nnd_observe observe;
  const int32_t *observe_values; /* NND_OBSERVE_LIST: value ids (copied) */
  int n_observe_values;
  nnd_tap_fn tap;
  void *tap_user;
  /* Graph inputs whose data is given now: they become constants, folded at
   * create (shape tensors, weights fed as inputs). The data is copied; the
   * tensors may be F32, F64 or I64 and must match the input's shape (the
   * batch resolved). nnd_engine_run then takes the other inputs only. */
  int n_frozen;
  const int32_t *frozen_values;  /* value ids of graph inputs */
  const nnd_tensor *frozen_data; /* one tensor per frozen value */
  /* Fast path: keep every node a step of its own (no BatchNorm folding, no
   * activation fusion, no channels-last layout). For debugging the fusions. */
  bool no_fusion;
  /* Memory budget in bytes: everything the engine holds (the activation
   * arena, the kernels' scratch, conversion buffers for taps and outputs,
   * and the constants and packed weights it copies from the graph). Create
   * refuses with NND_ERR_NOMEM before an allocation would pass it, naming
   * the node and tensor (a constant or folded value) or the batch and the
   * bytes of activations. 0: no budget (allocations may still fail, with
   * the same kind of message). */
  size_t max_memory;
  /* Plan everything but allocate no activation arena, scratch or conversion
   * buffers (constants and packed weights still are, within max_memory):
   * nnd_engine_get_stats then says what a real create would hold
   * (memory_bytes) even past max_memory, and nnd_engine_run refuses. Cheap:
   * how a caller finds the largest batch that fits a budget. */
  bool plan_only;
} nnd_engine_options;

/* Defaults: fast precision, model batch, 1 thread, no taps. */
void nnd_engine_options_init(nnd_engine_options *options);

typedef struct nnd_engine nnd_engine;

/* Plans `graph` (which must have gone through nnd_graph_infer_shapes, as
 * nnd_onnx_load does) for the options' batch and precision. Fails with
 * NND_ERR_UNSUPPORTED naming the first node the engine cannot run, e.g.
 * "node 'resize_1' (Resize): not supported by the engine"; with
 * NND_ERR_GRAPH when shapes clash; with NND_ERR_USAGE for bad options.
 * On success *engine_out owns everything it needs besides `graph`. */
nnd_status nnd_engine_create(const nnd_graph *graph, const nnd_engine_options *options,
                             nnd_engine **engine_out, nnd_error *err);

/* Runs one batch. inputs[i] feeds the i-th graph input that is not frozen
 * (graph order); outputs[i] receives graph output i: dims must equal the
 * planned shape (nnd_engine_value_shape), dtype F32 or F64 (converted as
 * needed), data caller-allocated; an output whose data is NULL is not
 * copied (and not checked). Taps run inside this call. */
nnd_status nnd_engine_run(nnd_engine *engine, const nnd_tensor *inputs, int n_inputs,
                          nnd_tensor *outputs, int n_outputs, nnd_error *err);

/* Frees the engine. NULL is a no-op. */
void nnd_engine_destroy(nnd_engine *engine);

/* The planned (logical) shape of any value: rank and dims with the batch
 * resolved. Returns false for an out-of-range id or a value the plan does
 * not compute (not needed by any output or tap). */
bool nnd_engine_value_shape(const nnd_engine *engine, int32_t value_id, int *rank_out,
                            int64_t dims_out[NND_MAX_RANK]);

/* True when a run will show this value to the tap. */
bool nnd_engine_value_observed(const nnd_engine *engine, int32_t value_id);

/* What the plan turned out to be, for reports and tests. */
typedef struct nnd_engine_stats {
  nnd_precision precision;
  int64_t batch;
  int threads;
  int32_t n_steps;               /* kernels a run executes (conversions included) */
  int32_t n_folded_nodes;        /* computed once at create (constant inputs) */
  int32_t n_fused_nodes;         /* absorbed into a producer (BatchNorm, activations) */
  int32_t n_alias_nodes;         /* free: Reshape/Flatten/Squeeze/Identity... */
  int32_t n_layout_conversions;  /* NCHW <-> channels-last steps */
  size_t activation_bytes;       /* the planned arena for intermediate values */
  size_t naive_activation_bytes; /* what it would be without buffer reuse */
  size_t weight_bytes;           /* constants the engine copied (float64/float32, folded values) */
  size_t scratch_bytes;          /* kernels' scratch + conversion buffers for taps and outputs */
  /* Everything create holds: activations + scratch + constants + packed
   * weights; what max_memory bounds. */
  size_t memory_bytes;
  /* The largest activation buffer and the value it first holds (-1: none),
   * for messages about memory. */
  size_t largest_bytes;
  int32_t largest_value;
  const char *conv_backend; /* "onednn", "im2col+openblas", "im2col+naive" */
  const char *isa;          /* "avx2" or "generic": our own kernels */
} nnd_engine_stats;

void nnd_engine_get_stats(const nnd_engine *engine, nnd_engine_stats *stats_out);

/* Optional per-step timing: when enabled, each run adds the wall time of
 * every step to a per-node counter. Enabling it resets the counters. */
void nnd_engine_set_profiling(nnd_engine *engine, bool enabled);
/* Accumulated seconds for `node` (fused groups count on their last node;
 * layout conversions on the consuming node). 0 when never run. */
double nnd_engine_node_seconds(const nnd_engine *engine, int32_t node);

#ifdef __cplusplus
}
#endif
#endif
