/* Internals of the inference engine: the plan's data structures and the
 * helpers the per-op planners (op_*.c) use.
 *
 * Planning runs in phases over the nodes in topological order:
 *   A. shapes (engine.c, plan_ir.c, each op's `prepare`): the IR's own shape
 *      inference (src/ir/shape_*.c) re-run node by node on the engine's
 *      copy of the graph's values, bound to this batch, gives every output
 *      shape and resolves the parameters given as constant inputs; the
 *      op's `prepare` then derives its kernel parameters (geometry, axes,
 *      indices) from those shapes and attributes. Nodes whose inputs are
 *      all constant are evaluated right away with the reference kernels
 *      (each op's `build` in folding mode) and their data joins the copy, so
 *      shape arithmetic (Shape -> Gather -> Concat -> Reshape) becomes
 *      constants the next node's inference reads;
 *   B. fast path only (fuse.c): fusion groups (Conv + BatchNorm +
 *      activations, Gemm/MatMul + bias + activations) and the physical
 *      layout of each value (channels-last between convolutions);
 *   C. steps (each op's `build`): kernels with their operands; layout
 *      conversions are inserted where a consumer needs the other layout;
 *   D. memory (memplan.c): buffer lifetimes, in-place reuse, offsets in
 *      one arena; then every tensor's data pointer is fixed.
 * A run then walks the steps and calls the taps. */
#ifndef NND_ENGINE_INTERNAL_H
#define NND_ENGINE_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "nndiff/engine.h"
#include "nndiff/ir.h"
#include "ops/fast.h"
#include "ops/ops.h"
#include "util/arena.h"

/* A tensor of the plan: a constant, or a runtime buffer (or a view sharing
 * another runtime tensor's buffer). Dims are physical: for a channels-last
 * tensor of a logical NCHW value they are (N, H, W, C). */
typedef struct etensor {
  bool is_const;
  bool owns;       /* const data was malloc'd by the engine */
  bool cl;         /* channels-last copy of a logical rank-4 NCHW value */
  nnd_dtype dtype; /* F32 or F64 (float), I64 (integers, constants only) */
  int rank;
  int64_t dims[NND_MAX_RANK];
  int64_t numel;
  void *data;       /* const: the data; runtime: fixed by the memory plan */
  int32_t value;    /* graph value it holds, -1 for none */
  int32_t alias_of; /* runtime view: tensor whose buffer it shares, -1 */
  int32_t buf;      /* memory plan buffer, -1 */
  bool used;        /* referenced by a step, a tap or an output */
} etensor;

/* What the plan knows about a graph value. */
typedef struct evalue {
  bool needed;   /* some output or tap depends on it */
  bool known;    /* shape computed */
  bool is_const; /* data known at create (constant or folded) */
  bool is_float; /* float class (else integer/bool: constants only) */
  bool observed; /* shown to the tap */
  bool absorbed; /* inside a fused group: never materialised */
  bool want_cl;  /* fast path: the producer writes it channels-last */
  bool nhwc;     /* the graph defines it channels-last (TFLite, Keras) */
  bool listed;   /* in the caller's observe list (looked up per value, so not a scan) */
  int rank;
  int64_t dims[NND_MAX_RANK]; /* logical */
  int32_t n_consumers;        /* needed nodes reading it, + 1 per graph output use */
  int32_t tid[2][2];          /* tensors per [channels-last][f32 twin of a const] */
} evalue;

/* Fast-path fusion recorded on the group's first node. */
typedef struct efusion {
  int32_t bn_node;   /* BatchNorm folded into the convolution, -1 */
  int32_t bias_node; /* MatMul + Add(constant bias), -1 */
  int32_t sum_node;  /* Conv + Add(residual): the residual accumulates, -1 */
  int n_post;
  nnd__unary post[NND_FCONV_MAX_POST];
  int32_t last_node; /* node whose output the group writes */
  int32_t out_value;
} efusion;

typedef struct enode {
  bool needed;
  bool folded;   /* evaluated at create */
  bool absorbed; /* part of a fused group headed by another node */
  bool is_alias; /* its output is a view of its input (no step) */
  bool is_head;  /* heads a fused group (fusion below) */
  int32_t head;  /* absorbed: the group's first node; else -1 */
  bool skip;     /* a Sigmoid whose x * sigmoid(x) its Mul computes */
  bool silu_mul; /* a Mul computing silu(silu_x) (x * Sigmoid(x) pattern) */
  int32_t silu_x;
  efusion fusion;
  void *params; /* op-specific, resolved by prepare */
} enode;

struct step;
typedef nnd_status (*step_fn)(nnd_engine *e, const struct step *s, nnd_error *err);

typedef struct step {
  step_fn fn;
  const char *what; /* kernel, for messages and profiles */
  int32_t node;     /* the node it computes (or converts an input for), -1 */
  int n_in, n_out;
  int32_t *in, *out; /* tensor ids (-1: omitted optional input) */
  void *p;           /* parameters */
  void (*destroy)(void *p);
  int inplace_in; /* input whose buffer out[0] may take over, -1 */
} step;

/* A value shown to the tap after step `step` (-1: before the first). */
typedef struct etap {
  int32_t step, node, value, tensor;
} etap;

typedef struct ebuffer {
  size_t bytes;
  int32_t first, last; /* step range it must live over (inclusive) */
  int32_t merged_into; /* in-place: the buffer it reuses, -1 */
  size_t offset;
} ebuffer;

struct nnd_engine {
  const nnd_graph *g;
  nnd_engine_options opt;               /* frozen_* cleared: create only */
  const nnd_engine_options *create_opt; /* the caller's, during create */
  int32_t *observe_list;
  bool ref;     /* reference precision */
  nnd_dtype rt; /* runtime float type: F64 or F32 */
  size_t rt_size;
  int64_t batch;
  int threads;
  bool fusion;        /* fast path with fusion and layouts */
  bool use_cl;        /* channels-last between convolutions */
  int64_t onnx_opset; /* default-domain opset when the graph is ONNX, else 0 */

  nnd_arena *mem; /* plan allocations: params, arrays */
  evalue *v;
  enode *n;
  int32_t *topo; /* needed nodes in topological order */
  int32_t n_topo;

  etensor *t;
  int32_t n_t, cap_t;
  step *s;
  int32_t n_s, cap_s;
  bool folding;     /* build emits steps that run at once on constants */
  int32_t cur_node; /* node being built, for steps and messages */

  /* Runtime inputs (graph inputs not frozen) and their tensors. */
  int n_run_inputs;
  int32_t *run_input_values;
  int32_t *run_input_t;
  const nnd_tensor *run_inputs; /* bound during nnd_engine_run */
  etap *taps;                   /* in delivery order */
  int32_t n_taps, cap_taps;

  ebuffer *bufs;
  int32_t n_bufs;
  void *arena; /* activations */
  size_t arena_bytes, naive_bytes;
  void *scratch; /* convolution backends' scratch */
  size_t scratch_bytes;
  void *conv_buf; /* layout/dtype conversions for taps and outputs */
  size_t conv_bytes;
  nnd__fast_ctx *fast;

  /* plan_ir.c, phase A only: the graph's values with this plan's static
   * dims and folded data (the IR's inference runs on them), and the
   * inference's scratch. */
  nnd_value *bound;
  void *infer_scratch;

  bool profiling;
  double *node_seconds;
  nnd_engine_stats stats;

  /* Memory accounting against opt.max_memory (see nnd__hold). */
  size_t held_bytes; /* constants and packed weights held now */
  struct {
    size_t bytes;     /* the allocation refused or failed; 0: none recorded */
    int32_t value;    /* value it was for, -1 */
    bool over_budget; /* refused by the budget (else the allocator failed) */
  } oom;
};

/* ------------------------------------------------------------ op table */

typedef struct op_impl {
  /* Kernel parameters of node id (into e->n[id].params), once the IR's
   * shape inference for the bound batch has set its output shapes
   * (plan_ir.c). `a` is the node's attributes with the parameters given as
   * constant inputs resolved and auto_pad turned into explicit pads; it
   * lives for the call only. NULL: the kernel needs nothing beyond the
   * shapes. Fails for what the engine does not run (integer convolutions,
   * run-time indices...); the IR has already refused invalid graphs. */
  nnd_status (*prepare)(nnd_engine *e, int32_t id, const nnd_attrs *a, nnd_error *err);
  /* Steps computing it (or, while folding, its constant outputs). */
  nnd_status (*build)(nnd_engine *e, int32_t id, nnd_error *err);
  unsigned flags;
} op_impl;

enum {
  OPF_FLEX = 1u << 0,      /* layout-agnostic: runs channels-last when its input is */
  OPF_ALIAS = 1u << 1,     /* output is a view of input 0 at run time */
  OPF_NO_FOLD = 1u << 2,   /* never evaluated at create */
  OPF_ACTIVATION = 1u << 3 /* a unary activation fusable into a producer */
};

/* The table entry of an op; NULL when the engine has none. */
const op_impl *nnd__engine_op(nnd_op op);

/* ---------------------------------------------------- planning helpers */

/* Message prefix helpers: "node 'name' (OpType)". */
nnd_status nnd__node_error(nnd_engine *e, int32_t id, nnd_error *err, nnd_status st,
                           const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 5, 6)))
#endif
    ;

/* Accounts `bytes` the plan is about to hold for value `value` (-1: a node's
 * packed weights): false, with e->oom recording what and why, when
 * opt.max_memory would be passed or `bytes` is SIZE_MAX (a size that
 * overflowed). On true the caller allocates, then records a failure with
 * nnd__oom or keeps the bytes (nnd__release gives them back). */
bool nnd__hold(nnd_engine *e, int32_t value, size_t bytes);
void nnd__release(nnd_engine *e, size_t bytes);
/* Records that allocating `bytes` for `value` failed (returns false). */
bool nnd__oom(nnd_engine *e, int32_t value, size_t bytes);
/* The message for an out-of-memory while building node id (id -1: while
 * loading constants), from e->oom when it recorded one, else `detail`:
 * "node 'n' (Expand): output 'y' needs 894.1 GiB (960000000128 bytes),
 * over the memory budget of 17.9 GiB". */
nnd_status nnd__oom_error(nnd_engine *e, int32_t id, const char *detail, nnd_error *err);

/* Plan memory that lives as long as the engine (zeroed). */
void *nnd__emem(nnd_engine *e, size_t count, size_t size);

/* Input k of node id: the value id, or -1 when absent. */
int32_t nnd__in_value(const nnd_engine *e, int32_t id, int k);
/* Its plan record, or NULL when absent. */
evalue *nnd__in_ev(nnd_engine *e, int32_t id, int k);

/* Sets the logical shape and class of output k of node id. */
void nnd__set_out(nnd_engine *e, int32_t id, int k, int rank, const int64_t *dims, bool is_float);

/* Reads a constant integer input (shape tensors, axes, pads): all its
 * elements as int64, up to `max`. Fails naming the node when the input is
 * absent-but-required, not constant or too long. */
nnd_status nnd__const_ints(nnd_engine *e, int32_t id, int k, int64_t *out, int max, int *count,
                           nnd_error *err);
/* A constant scalar input as double; *present false when the input is
 * absent. */
nnd_status nnd__const_scalar(nnd_engine *e, int32_t id, int k, double *out, bool *present,
                             nnd_error *err);
/* Pointer to the f64 data of a constant float input (logical layout). */
const double *nnd__const_f64(nnd_engine *e, int32_t value);

/* The tensor that feeds input k of the node being built: for a constant,
 * its data (as the runtime float type unless folding, or int64); for a
 * runtime value, the copy in the requested layout (inserting a conversion
 * step when needed). cl asks for channels-last (rank-4 values only;
 * constants of lower rank are aligned to rank 4 first). */
int32_t nnd__operand(nnd_engine *e, int32_t value, bool cl, nnd_error *err);
/* A new tensor for output k of node id with physical dims: a constant while
 * folding (F64 or I64 per class), else a runtime buffer. */
int32_t nnd__output(nnd_engine *e, int32_t id, int k, int rank, const int64_t *dims, bool cl);
/* A runtime view of `src` with other dims (Reshape, Flatten...), or a copy
 * while folding. */
int32_t nnd__output_alias(nnd_engine *e, int32_t id, int k, int32_t src, int rank,
                          const int64_t *dims);
/* Emits a step (or runs it now while folding). in/out are copied. */
nnd_status nnd__emit(nnd_engine *e, step_fn fn, const char *what, void *params, const int32_t *in,
                     int n_in, const int32_t *out, int n_out, int inplace_in, nnd_error *err);
/* The build of an op with one data input and one output of the IR's
 * planned dims: operand, output, one step with the node's params. */
nnd_status nnd__emit_one_to_one(nnd_engine *e, int32_t id, step_fn fn, const char *what,
                                nnd_error *err);
/* Registers a destructor for the params of the last emitted step. */
void nnd__emit_destroy(nnd_engine *e, void (*destroy)(void *p));

/* New tensors: a constant with zeroed data (owned), a runtime buffer. -1
 * when out of memory. */
int32_t nnd__const_tensor(nnd_engine *e, int32_t value, nnd_dtype dtype, int rank,
                          const int64_t *dims);
int32_t nnd__runtime_tensor(nnd_engine *e, int32_t value, int rank, const int64_t *dims, bool cl);
/* The tensor owning the buffer a runtime view reads. */
int32_t nnd__root(const nnd_engine *e, int32_t id);

/* Tensor access for step functions. */
static inline etensor *nnd__t(nnd_engine *e, int32_t id) { return id >= 0 ? &e->t[id] : NULL; }
static inline void *nnd__data(nnd_engine *e, int32_t id) { return id >= 0 ? e->t[id].data : NULL; }

/* Logical axis a of a rank-4 value, in a channels-last physical tensor. */
static inline int nnd__cl_axis(int a) {
  static const int m[4] = {0, 3, 1, 2};
  return m[a];
}
/* Physical dims of logical dims (rank 4) in channels-last order. */
void nnd__cl_dims(const int64_t *logical, int64_t *phys);
/* The dims the plan gave value vid (the IR's, for the batch), in
 * channels-last order when cl; returns its rank. */
int nnd__planned_dims(const nnd_engine *e, int32_t vid, bool cl, int64_t *dims);

/* Normalises a possibly negative axis; false when out of range. */
bool nnd__axis(int64_t axis, int rank, int *out);

/* Appends the node's own fused activation (node->act) as a step over
 * output tensor `out` (in place). */
nnd_status nnd__emit_node_act(nnd_engine *e, int32_t id, int32_t out, nnd_error *err);

/* Generic step functions shared by several ops. */
nnd_status nnd__step_unary(nnd_engine *e, const step *s, nnd_error *err);
nnd_status nnd__step_copy(nnd_engine *e, const step *s, nnd_error *err);
nnd_status nnd__step_transpose(nnd_engine *e, const step *s, nnd_error *err);

typedef struct transpose_params {
  int rank;
  int64_t in_dims[NND_MAX_RANK];
  int perm[NND_MAX_RANK];
} transpose_params;

/* The IR's view of the graph for the bound batch (plan_ir.c): open copies
 * the graph's values once per create, close frees the copy after phase A. */
nnd_status nnd__ir_view_open(nnd_engine *e, nnd_error *err);
void nnd__ir_view_close(nnd_engine *e);
/* Output shapes of node id from the IR's shape inference run on the values
 * as planned for the bound batch: every needed output must come out static;
 * sets every static one (nnd__set_out) and records it in the view, and
 * returns the attributes with the parameters given as constant inputs
 * resolved (*attrs; Split sizes valid until the next call). Errors name the
 * node and op. */
nnd_status nnd__ir_infer(nnd_engine *e, int32_t id, nnd_attrs *attrs, nnd_error *err);

/* Phases outside plan.c. */
nnd_status nnd__plan_fusion(nnd_engine *e, nnd_error *err);
nnd_status nnd__plan_memory(nnd_engine *e, nnd_error *err);

/* Per-op prepare/build, defined in op_*.c and gathered by op_table.c. */
#define NND_OP_DECL(name)                                                                          \
  nnd_status nnd__eng_prepare_##name(nnd_engine *e, int32_t id, const nnd_attrs *a,                \
                                     nnd_error *err);                                              \
  nnd_status nnd__eng_build_##name(nnd_engine *e, int32_t id, nnd_error *err);
NND_OP_DECL(unary)
NND_OP_DECL(binary)
NND_OP_DECL(batchnorm)
NND_OP_DECL(lrn)
NND_OP_DECL(softmax)
NND_OP_DECL(cast)
NND_OP_DECL(conv)
NND_OP_DECL(conv_transpose)
NND_OP_DECL(gemm)
NND_OP_DECL(matmul)
NND_OP_DECL(pool)
NND_OP_DECL(global_pool)
NND_OP_DECL(reduce)
NND_OP_DECL(concat)
NND_OP_DECL(split)
NND_OP_DECL(transpose)
NND_OP_DECL(pad)
NND_OP_DECL(slice)
NND_OP_DECL(gather)
NND_OP_DECL(shape)
#undef NND_OP_DECL
/* Ops whose kernels need nothing beyond the shapes: build only. */
#define NND_BUILD_DECL(name)                                                                       \
  nnd_status nnd__eng_build_##name(nnd_engine *e, int32_t id, nnd_error *err);
NND_BUILD_DECL(reshape)
NND_BUILD_DECL(expand)
NND_BUILD_DECL(layernorm)
NND_BUILD_DECL(einsum)
NND_BUILD_DECL(where)
NND_BUILD_DECL(scatter_nd)
NND_BUILD_DECL(compare)
NND_BUILD_DECL(constant_of_shape)
NND_BUILD_DECL(range)
#undef NND_BUILD_DECL
/* Dropout's mask (a constant) and its training-mode check; it runs as a
 * view like Identity (nnd__eng_build_reshape). */
nnd_status nnd__eng_prepare_dropout(nnd_engine *e, int32_t id, const nnd_attrs *a, nnd_error *err);
/* The Mul of an x * Sigmoid(x) pair, as one SiLU step. */
nnd_status nnd__eng_build_silu(nnd_engine *e, int32_t id, nnd_error *err);

#endif
