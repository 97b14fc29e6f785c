/* Internal interface of shape inference and graph validation.
 *
 * One rule per canonical op (the table in shape_infer.c, indexed by nnd_op)
 * gives its operand counts, what dtypes its operands may hold, how its output
 * dtype is chosen, the function that infers its output shapes and, for the
 * ops that move small integer tensors around, the function that folds their
 * values (shape_fold.c).
 *
 * An infer function is pure: it reads the graph and the node, writes the
 * output shapes/dtypes/layouts and the resolved attributes into the context,
 * and the driver commits them. That lets nnd_graph_validate run the same
 * functions on a const graph to check that recorded shapes agree. */
#ifndef NND_IR_SHAPE_INFER_H
#define NND_IR_SHAPE_INFER_H

#include <stdbool.h>
#include <stdint.h>

#include "nndiff/ir.h"

/* Folding stops at tensors with more elements than this: it is meant for
 * shape arithmetic, not for evaluating the network. */
enum { NND__FOLD_MAX = 64 };

/* One element of a small integer tensor whose value may be only partly
 * known: a known number, or an unknown one that came from a dim (Shape of a
 * tensor with a symbolic batch) and keeps that dim's symbol and origin, so a
 * later Reshape can tell that [batch, -1] keeps the batch dim. */
typedef struct nnd__symint {
  int64_t v;
  bool known;
  const char *sym;      /* symbol of the dim it came from, or NULL */
  int32_t origin_value; /* value whose dim it is, -1 when none */
  int origin_dim;
} nnd__symint;

typedef struct nnd__symvec {
  int64_t n;
  nnd__symint e[NND__FOLD_MAX];
} nnd__symvec;

typedef struct nnd__infer nnd__infer;
typedef nnd_status (*nnd__infer_fn)(nnd__infer *c);
/* Computes the value of output 0 into out (out->n elements, preset from the
 * output shape). Returns false when it cannot (unknown inputs, too big,
 * arithmetic overflow); never fails the graph. */
typedef bool (*nnd__fold_fn)(nnd__infer *c, nnd__symvec *out);

/* What the data operand (input 0) may hold. */
typedef enum nnd__dtype_class {
  NND__DT_ANY = 0,
  NND__DT_NUMERIC, /* any number, no bool or string */
  NND__DT_FLOAT    /* a float type, or an integer type with quantization params */
} nnd__dtype_class;

/* How the output dtype follows from the inputs and attributes. */
typedef enum nnd__out_rule {
  NND__OUT_SAME = 0, /* input 0's dtype */
  NND__OUT_I64,      /* int64 (Shape) */
  NND__OUT_CAST,     /* attrs.to */
  NND__OUT_QUANT,    /* zero point's dtype, else the recorded integer dtype, else uint8 */
  NND__OUT_DEQUANT,  /* the recorded float dtype, else float32 */
  NND__OUT_BOOL,     /* bool (Equal, Not) */
  NND__OUT_IN1       /* input 1's dtype (Where: the branches, not the condition) */
} nnd__out_rule;

enum { NND__ANY = -1 }; /* no upper bound on an operand count */
#define NND__ALL (~0u)

typedef struct nnd__op_rule {
  int min_in, max_in; /* max NND__ANY: variadic */
  int min_out, max_out;
  unsigned optional;   /* bit i: input i may be omitted (-1) */
  unsigned int_inputs; /* bit i: input i holds integers (shape, axes, indices) */
  unsigned need_rank;  /* bit i: input i must have a known rank, else the outputs stay
                          unknown (NND__ALL: every input); the infer function copes
                          with unknown ranks of the other inputs */
  bool same_dtype;     /* all data inputs share one dtype (Add, Concat...) */
  nnd__dtype_class data_class;
  nnd__out_rule out_rule;
  nnd__infer_fn infer; /* NULL only for NND_OP_UNSUPPORTED */
  nnd__fold_fn fold;   /* NULL: never folded */
} nnd__op_rule;

/* The rule of an op, or NULL when op is out of range. */
const nnd__op_rule *nnd__op_rule_get(nnd_op op);

/* State of one node's inference. */
struct nnd__infer {
  const nnd_graph *g;
  const nnd_node *node;
  nnd_error *err;
  nnd_attrs attrs; /* the node's attributes, constant inputs resolved into them */
  int n_out;
  nnd_shape *out;         /* n_out output shapes */
  nnd_dtype *out_dtype;   /* n_out */
  nnd_layout *out_layout; /* n_out; NONE leaves the recorded layout */
  int64_t *split;         /* scratch for Split sizes read from input 1 (n_out entries) */
  nnd__symvec **symtab;   /* per value: partly known integer values; NULL when validating */
};

/* ------------------------------------------------------------ helpers */

/* Input i of the node, or NULL when it is omitted or absent. */
const nnd_value *nnd__si_in(const nnd__infer *c, int i);
/* Value index of input i, or -1. */
int32_t nnd__si_in_id(const nnd__infer *c, int i);

/* Records NND_ERR_GRAPH as "node 'name' (Op): <message>" and returns it. */
nnd_status nnd__si_fail(nnd__infer *c, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 2, 3)))
#endif
    ;

/* Records NND_ERR_GRAPH with the model's path (when known) in front. */
nnd_status nnd__si_graph_fail(const nnd_graph *g, nnd_error *err, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 3, 4)))
#endif
    ;
/* nnd_graph_topo_order with the model's path in front of its message. */
nnd_status nnd__si_topo_order(const nnd_graph *g, int32_t *order, nnd_error *err);

/* A shape rendered for a message; use as nnd__si_shape_str(&s).s. */
typedef struct nnd__si_shape_buf {
  char s[200];
} nnd__si_shape_buf;
nnd__si_shape_buf nnd__si_shape_str(const nnd_shape *s);

static inline nnd_dim nnd__si_dim_known(int64_t size) {
  nnd_dim d = {size, NULL};
  return d;
}
static inline nnd_dim nnd__si_dim_unknown(void) {
  nnd_dim d = {-1, NULL};
  return d;
}
static inline bool nnd__si_dim_is_known(nnd_dim d) { return d.size >= 0; }

/* True when a and b certainly denote the same size: equal known sizes, or
 * unknown with the same symbol. */
bool nnd__si_dim_same(nnd_dim a, nnd_dim b);
/* Two dims that must be equal (Concat's other dims, MatMul's K...): false
 * when both are known and differ; else *out is the better-known of the two. */
bool nnd__si_dim_unify(nnd_dim a, nnd_dim b, nnd_dim *out);

/* Multidirectional (numpy) broadcasting of a and b into out. */
nnd_status nnd__si_broadcast(nnd__infer *c, const nnd_shape *a, const nnd_shape *b, nnd_shape *out);

/* Normalises axis (negative counts from the end) into [0, rank); fails
 * naming `what` ("axis", "perm"...) when it is out of range. */
nnd_status nnd__si_norm_axis(nnd__infer *c, int64_t axis, int rank, const char *what, int *out);

/* Product of dims [from, to): a single dim is copied (keeping its symbol),
 * an empty range is 1, an unknown dim makes it unknown. Fails on overflow. */
nnd_status nnd__si_dims_product(nnd__infer *c, const nnd_shape *s, int from, int to, nnd_dim *out);

/* Overflow-checked arithmetic that fails the node naming `what`. */
nnd_status nnd__si_add(nnd__infer *c, int64_t a, int64_t b, const char *what, int64_t *out);
nnd_status nnd__si_mul(nnd__infer *c, int64_t a, int64_t b, const char *what, int64_t *out);

/* Number of elements a constant or folded value's data holds, checked
 * against its shape: fails when the data is shorter than the shape says. */
nnd_status nnd__si_data_numel(nnd__infer *c, const nnd_value *v, int64_t *out);

/* Integer values of input i when its data is known (constant or folded).
 * *known is false when the input is omitted or its values are not known.
 * Fails when there are more than max values, or when the data is short. */
nnd_status nnd__si_const_ints(nnd__infer *c, int i, int64_t max, int64_t *buf, int64_t *n,
                              bool *known);
/* The same for numbers read as double (Resize scales, Clip bounds). */
nnd_status nnd__si_const_f64(nnd__infer *c, int i, int64_t max, double *buf, int64_t *n,
                             bool *known);

/* Possibly partly known integer value of input i (at most NND__FOLD_MAX
 * elements): from the fold table, or from the input's integer data.
 * *have is false when nothing is known about it. */
nnd_status nnd__si_input_sym(nnd__infer *c, int i, nnd__symvec *out, bool *have);

/* Start and element count of a Slice over a dim of size dim (ONNX rules:
 * negative indexes count from the end, out-of-range ones are clamped). */
void nnd__si_slice_range(int64_t dim, int64_t start, int64_t end, int64_t step, int64_t *first,
                         int64_t *count);

/* Axes from constant input 1 (Squeeze, Unsqueeze, Reduce*) into
 * c->attrs (has_axes, n_axes, axes). *dynamic: input 1 exists but its value
 * is not known. */
nnd_status nnd__si_axes_input(nnd__infer *c, bool *dynamic);
/* Marks c->attrs.axes, normalised against rank, in mark[rank]; fails on an
 * axis out of range or listed twice. */
nnd_status nnd__si_mark_axes(nnd__infer *c, int rank, bool *mark);

static inline bool nnd__si_is_float(nnd_dtype d) {
  return d == NND_DTYPE_F32 || d == NND_DTYPE_F64 || d == NND_DTYPE_F16 || d == NND_DTYPE_BF16;
}
static inline bool nnd__si_is_int(nnd_dtype d) {
  return d == NND_DTYPE_I8 || d == NND_DTYPE_U8 || d == NND_DTYPE_I16 || d == NND_DTYPE_U16 ||
         d == NND_DTYPE_I32 || d == NND_DTYPE_U32 || d == NND_DTYPE_I64 || d == NND_DTYPE_U64;
}

/* Runs one node's rule (operand checks, dtype, shape, fold when symtab is
 * set) into c. Used by inference and validation. */
nnd_status nnd__infer_node(nnd__infer *c, nnd__symvec *fold_out, bool *folded);

/* Sets up c for one node with scratch space from nnd__infer_scratch_new
 * (grown to the node's output count). symtab NULL: validation, no folding. */
nnd_status nnd__infer_ctx_init(nnd__infer *c, const nnd_graph *g, const nnd_node *node,
                               nnd_error *err, void *scratch, nnd__symvec **symtab);
void *nnd__infer_scratch_new(void);
void nnd__infer_scratch_free(void *scratch);

/* Operand checks shared by inference and validation: op in range, input and
 * output counts, value indexes in range, -1 only for optional inputs. */
nnd_status nnd__check_operands(const nnd_graph *g, const nnd_node *node, nnd_error *err);

/* ------------------------------------------------ per-op infer functions */

/* shape_conv_pool.c */
nnd_status nnd__infer_conv(nnd__infer *c);
nnd_status nnd__infer_conv_transpose(nnd__infer *c);
nnd_status nnd__infer_pool(nnd__infer *c);
nnd_status nnd__infer_global_pool(nnd__infer *c);
nnd_status nnd__infer_batch_norm(nnd__infer *c);

/* shape_elementwise.c */
nnd_status nnd__infer_unary(nnd__infer *c);
nnd_status nnd__infer_softmax(nnd__infer *c);
nnd_status nnd__infer_binary(nnd__infer *c);
nnd_status nnd__infer_prelu(nnd__infer *c);
nnd_status nnd__infer_clip(nnd__infer *c);
nnd_status nnd__infer_cast(nnd__infer *c);
nnd_status nnd__infer_layer_norm(nnd__infer *c);

/* shape_tensor.c */
nnd_status nnd__infer_concat(nnd__infer *c);
nnd_status nnd__infer_split(nnd__infer *c);
nnd_status nnd__infer_flatten(nnd__infer *c);
nnd_status nnd__infer_reshape(nnd__infer *c);
nnd_status nnd__infer_transpose(nnd__infer *c);
nnd_status nnd__infer_squeeze(nnd__infer *c);
nnd_status nnd__infer_unsqueeze(nnd__infer *c);
nnd_status nnd__infer_gather(nnd__infer *c);
nnd_status nnd__infer_shape(nnd__infer *c);
nnd_status nnd__infer_expand(nnd__infer *c);
nnd_status nnd__infer_dropout(nnd__infer *c);
nnd_status nnd__infer_scatter_nd(nnd__infer *c);

/* shape_generate.c */
nnd_status nnd__infer_constant_of_shape(nnd__infer *c);
nnd_status nnd__infer_range(nnd__infer *c);

/* shape_pad_slice.c */
nnd_status nnd__infer_pad(nnd__infer *c);
nnd_status nnd__infer_slice(nnd__infer *c);
nnd_status nnd__infer_resize(nnd__infer *c);

/* shape_linalg.c */
nnd_status nnd__infer_gemm(nnd__infer *c);
nnd_status nnd__infer_matmul(nnd__infer *c);
nnd_status nnd__infer_einsum(nnd__infer *c);
nnd_status nnd__infer_reduce(nnd__infer *c);
nnd_status nnd__infer_quant(nnd__infer *c);

/* shape_fold.c */
bool nnd__fold_shape(nnd__infer *c, nnd__symvec *out);
bool nnd__fold_gather(nnd__infer *c, nnd__symvec *out);
bool nnd__fold_same(nnd__infer *c, nnd__symvec *out);
bool nnd__fold_concat(nnd__infer *c, nnd__symvec *out);
bool nnd__fold_slice(nnd__infer *c, nnd__symvec *out);
bool nnd__fold_cast(nnd__infer *c, nnd__symvec *out);
bool nnd__fold_binary(nnd__infer *c, nnd__symvec *out);
bool nnd__fold_expand(nnd__infer *c, nnd__symvec *out);
bool nnd__fold_not(nnd__infer *c, nnd__symvec *out);
bool nnd__fold_transpose(nnd__infer *c, nnd__symvec *out);
bool nnd__fold_where(nnd__infer *c, nnd__symvec *out);
bool nnd__fold_constant_of_shape(nnd__infer *c, nnd__symvec *out);
bool nnd__fold_range(nnd__infer *c, nnd__symvec *out);

#endif
