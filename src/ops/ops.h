/* Kernels of the inference engine (internal).
 *
 * Every kernel works on dense row-major buffers whose shapes the engine has
 * planned; nothing here fails or knows about the graph. The one kernel
 * that allocates (packing scratch of the reference GEMM, ops/dgemm.c)
 * falls back to plain loops when it cannot. Kernels
 * come in three flavours, named by their element type:
 *   _f64  the reference path: plain loops, every output element summed in a
 *         fixed order by one thread;
 *   _f32  the fast path: the same algorithms in float32 (vectorisable
 *         loops), or backends for the heavy ones (ops/fast.h);
 *   _i64  shape arithmetic the engine folds at create time.
 * Data-movement kernels take an element size and serve every type.
 *
 * Threads: kernels split their outer loops with OpenMP; the engine sets the
 * thread count. Each output element is still computed by exactly one thread
 * in a fixed order, so results do not depend on the thread count. */
#ifndef NND_OPS_OPS_H
#define NND_OPS_OPS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "nndiff/ir.h"

/* ------------------------------------------------------------- unary */

typedef enum nnd__unary_kind {
  NND__UN_COPY = 0,
  NND__UN_RELU,
  NND__UN_LEAKY_RELU, /* alpha: slope */
  NND__UN_CLIP,       /* alpha: min, beta: max */
  NND__UN_SIGMOID,
  NND__UN_HARD_SIGMOID, /* max(0, min(1, alpha*x + beta)) */
  NND__UN_HARD_SWISH,   /* x * max(0, min(1, x/6 + 1/2)) */
  NND__UN_TANH,
  NND__UN_ELU, /* alpha */
  NND__UN_SILU,
  NND__UN_GELU,      /* exact, with erf */
  NND__UN_GELU_TANH, /* tanh approximation */
  NND__UN_SQRT,
  NND__UN_EXP,
  NND__UN_LOG,
  NND__UN_NEG,
  NND__UN_ABS,
  NND__UN_ERF,
  NND__UN_RECIPROCAL,
  NND__UN_FLOOR,
  NND__UN_CEIL,
  NND__UN_SOFTPLUS /* log(1 + exp(x)), as log1p(exp(-|x|)) + max(x, 0) */
} nnd__unary_kind;

typedef struct nnd__unary {
  nnd__unary_kind kind;
  double alpha, beta;
} nnd__unary;

/* Maps a fused activation; false for NND_ACT_NONE. */
bool nnd__unary_from_act(const nnd_activation *act, nnd__unary *out);
const char *nnd__unary_name(nnd__unary_kind kind);

/* y[i] = op(x[i]); x == y is allowed. */
void nnd__unary_f64(const nnd__unary *op, const double *x, double *y, int64_t n);
void nnd__unary_f32(const nnd__unary *op, const float *x, float *y, int64_t n);
/* Integer flavour (COPY, NEG, ABS, RELU, CLIP only); false otherwise. */
bool nnd__unary_i64(const nnd__unary *op, const int64_t *x, int64_t *y, int64_t n);

/* ------------------------------------------------ binary, broadcasting */

typedef enum nnd__binary_kind {
  NND__BIN_ADD = 0,
  NND__BIN_SUB,
  NND__BIN_MUL,
  NND__BIN_DIV,
  NND__BIN_POW,
  NND__BIN_MAX,
  NND__BIN_MIN,
  NND__BIN_PRELU, /* a < 0 ? a * b : a */
  NND__BIN_FMOD,  /* remainder with the sign of a (C fmod) */
  NND__BIN_MOD    /* remainder with the sign of b (Python's %) */
} nnd__binary_kind;

/* A broadcast pattern prepared once: dims with the same pattern are merged
 * so the inner loop runs as long as possible. */
typedef struct nnd__bcast {
  int rank;                   /* collapsed rank (0: one element) */
  int64_t dims[NND_MAX_RANK]; /* output dims */
  int64_t sa[NND_MAX_RANK];   /* element strides of a (0: broadcast) */
  int64_t sb[NND_MAX_RANK];
  int64_t numel;
} nnd__bcast;

/* a_dims and b_dims are aligned to `rank` (leading 1s added) and each dim
 * equals out or 1. */
void nnd__bcast_init(nnd__bcast *bc, int rank, const int64_t *out, const int64_t *a_dims,
                     const int64_t *b_dims);

/* y = a op b over the pattern; y may alias a or b when that operand is not
 * broadcast. */
void nnd__binary_f64(nnd__binary_kind op, const nnd__bcast *bc, const double *a, const double *b,
                     double *y);
void nnd__binary_f32(nnd__binary_kind op, const nnd__bcast *bc, const float *a, const float *b,
                     float *y);
/* Integer flavour: Div truncates toward zero, x/0 gives 0; PRELU is
 * not supported (returns false). */
bool nnd__binary_i64(nnd__binary_kind op, const nnd__bcast *bc, const int64_t *a, const int64_t *b,
                     int64_t *y);

/* ------------------------------------------------------- convolution */

/* Geometry of a 1-D, 2-D or 3-D convolution, pooling or transposed
 * convolution, always as 3-D: (d, h, w), with 1s in front for fewer
 * spatial dims. */
typedef struct nnd__conv_geom {
  int64_t n, c, o, groups;
  int64_t in[3], out[3], k[3], stride[3], dil[3], pad_begin[3], pad_end[3];
  bool channels_last; /* activations N(D)HWC instead of NC(D)HW */
} nnd__conv_geom;

/* Convolution. w: [o][c/groups][kd][kh][kw]; b: [o] or NULL. The sum for
 * every output runs over (input channel, kd, kh, kw) in that order. */
void nnd__conv_f64(const nnd__conv_geom *g, const double *x, const double *w, const double *b,
                   double *y);
void nnd__conv_f32(const nnd__conv_geom *g, const float *x, const float *w, const float *b,
                   float *y);
/* Channels-first convolution as one nnd__dgemm_f64 per image and group
 * over an implicit im2col (the same sums as nnd__conv_f64's loops); false
 * when its scratch cannot be allocated. */
bool nnd__conv_lowered_f64(const nnd__conv_geom *g, const double *x, const double *w,
                           const double *b, double *y);
/* Transposed convolution. w: [c][o/groups][kd][kh][kw] (ONNX). */
void nnd__conv_transpose_f64(const nnd__conv_geom *g, const double *x, const double *w,
                             const double *b, double *y);
void nnd__conv_transpose_f32(const nnd__conv_geom *g, const float *x, const float *w,
                             const float *b, float *y);

/* --------------------------------------------------------------- pool */

/* Pooling uses nnd__conv_geom with o == c and groups == c. Max pooling
 * ignores padding; average pooling divides by the window positions inside
 * the image, or, with count_include_pad, inside the padded image. */
void nnd__maxpool_f64(const nnd__conv_geom *g, const double *x, double *y);
void nnd__maxpool_f32(const nnd__conv_geom *g, const float *x, float *y);
void nnd__avgpool_f64(const nnd__conv_geom *g, bool count_include_pad, const double *x, double *y);
void nnd__avgpool_f32(const nnd__conv_geom *g, bool count_include_pad, const float *x, float *y);
/* Global pooling over `spatial` positions per (n, c). */
void nnd__global_pool_f64(bool is_max, int64_t n, int64_t c, int64_t spatial, bool channels_last,
                          const double *x, double *y);
void nnd__global_pool_f32(bool is_max, int64_t n, int64_t c, int64_t spatial, bool channels_last,
                          const float *x, float *y);

/* ------------------------------------------------------- matrix products */

/* Y[m][n] = alpha * op(A) op(B) + beta * C, C broadcast from c_rows x c_cols
 * (each 1 or the full size; C NULL means none). A is [m][k] ([k][m] when
 * trans_a), B is [k][n] ([n][k] when trans_b). */
void nnd__gemm_f64(bool trans_a, bool trans_b, int64_t m, int64_t n, int64_t k, double alpha,
                   const double *a, const double *b, double beta, const double *c, int64_t c_rows,
                   int64_t c_cols, double *y);

/* Batched matrix product with numpy broadcasting of the batch dims:
 * Y[batch][m][n] = A[batch][m][k] B[batch][k][n]. */
typedef struct nnd__matmul_geom {
  int brank;
  int64_t bdims[NND_MAX_RANK];
  int64_t a_bstride[NND_MAX_RANK]; /* matrix strides per batch dim, 0 = broadcast */
  int64_t b_bstride[NND_MAX_RANK];
  int64_t batch; /* product of bdims */
  int64_t m, n, k;
} nnd__matmul_geom;
void nnd__matmul_f64(const nnd__matmul_geom *g, const double *a, const double *b, double *y);
/* Offsets (in matrices) of A and B for batch index i. */
void nnd__matmul_offsets(const nnd__matmul_geom *g, int64_t i, int64_t *a_off, int64_t *b_off);

/* The reference path's packed GEMM core (ops/dgemm.c):
 * Y[i][j] = init[i] + sum over q ascending of A[i][q] * B[q][j], for
 * i < m, j < n, with Y's rows ldy apart, init NULL meaning 0. A's element
 * (i, q) is a[i * a_rs + q * a_cs], B's is b->data[q * b->rs + j * b->cs].
 * Same bits as the plain loop; false (and Y untouched) when its packing
 * buffers cannot be allocated, so the caller runs the plain loop. */
typedef struct nnd__dgemm_b {
  const double *data;
  int64_t rs, cs;
} nnd__dgemm_b;
bool nnd__dgemm_f64(int64_t m, int64_t n, int64_t k, const double *a, int64_t a_rs, int64_t a_cs,
                    const nnd__dgemm_b *b, const double *init, double *y, int64_t ldy);

/* ------------------------------------------------------ normalisation */

/* Tensors seen as [outer][c][inner]. */
void nnd__batchnorm_f64(int64_t outer, int64_t c, int64_t inner, const double *x,
                        const double *scale, const double *bias, const double *mean,
                        const double *var, double eps, double *y);
void nnd__batchnorm_f32(int64_t outer, int64_t c, int64_t inner, const float *x, const float *scale,
                        const float *bias, const float *mean, const float *var, double eps,
                        float *y);
/* y = min(max(a[c] * x + b[c], lo), hi): the fast BatchNorm, folded at
 * create, with a fused ReLU or Clip (lo/hi = -inf/inf for none). */
void nnd__channel_affine_f32(int64_t outer, int64_t c, int64_t inner, const float *x,
                             const float *a, const float *b, float lo, float hi, float *y);
void nnd__lrn_f64(int64_t outer, int64_t c, int64_t inner, int64_t size, double alpha, double beta,
                  double bias, const double *x, double *y);
void nnd__lrn_f32(int64_t outer, int64_t c, int64_t inner, int64_t size, double alpha, double beta,
                  double bias, const float *x, float *y);
/* LayerNorm over the inner dim of [outer][inner]: scale (and bias, which
 * may be NULL) hold inner values, or 1 (broadcast); mean and inv_std get
 * one value per row when not NULL. Statistics in double. */
void nnd__layernorm_f64(int64_t outer, int64_t inner, const double *x, const double *scale,
                        int64_t n_scale, const double *bias, int64_t n_bias, double eps, double *y,
                        double *mean, double *inv_std);
void nnd__layernorm_f32(int64_t outer, int64_t inner, const float *x, const float *scale,
                        int64_t n_scale, const float *bias, int64_t n_bias, double eps, float *y,
                        float *mean, float *inv_std);

/* Softmax (or log-softmax) over the middle dim of [outer][len][inner]. */
void nnd__softmax_f64(int64_t outer, int64_t len, int64_t inner, bool log, const double *x,
                      double *y);
void nnd__softmax_f32(int64_t outer, int64_t len, int64_t inner, bool log, const float *x,
                      float *y);

/* ---------------------------------------------------------- reductions */

typedef enum nnd__reduce_kind {
  NND__RED_SUM = 0,
  NND__RED_MEAN,
  NND__RED_MAX,
  NND__RED_MIN
} nnd__reduce_kind;

/* Reduces the dims flagged in `reduce` (output keeps them as size 1); every
 * output sums its inputs in row-major order. */
void nnd__reduce_f64(nnd__reduce_kind kind, int rank, const int64_t *dims, const bool *reduce,
                     const double *x, double *y);
void nnd__reduce_f32(nnd__reduce_kind kind, int rank, const int64_t *dims, const bool *reduce,
                     const float *x, float *y);
void nnd__reduce_i64(nnd__reduce_kind kind, int rank, const int64_t *dims, const bool *reduce,
                     const int64_t *x, int64_t *y);

/* Einsum as loops (einsum.c): each output element sums, in double, the
 * product of the operands over the contracted letters, in a fixed order
 * (the letters' first appearance, last fastest). Strides are in elements,
 * 0 where an operand lacks the letter. */
enum { NND__EINSUM_IN = 4, NND__EINSUM_RED = 16 };
typedef struct nnd__einsum_geom {
  int n_in;
  int out_rank;
  int64_t out_dims[NND_MAX_RANK];
  int64_t out_stride[NND__EINSUM_IN][NND_MAX_RANK];
  int n_red;
  int64_t red_dims[NND__EINSUM_RED];
  int64_t red_stride[NND__EINSUM_IN][NND__EINSUM_RED];
} nnd__einsum_geom;
void nnd__einsum_f64(const nnd__einsum_geom *g, const double *const *x, double *y);
void nnd__einsum_f32(const nnd__einsum_geom *g, const float *const *x, float *y);

/* ------------------------------------------- data movement (any type) */

/* y = x with dims permuted: y dim i is x dim perm[i]. */
void nnd__transpose(size_t esize, int rank, const int64_t *in_dims, const int *perm, const void *x,
                    void *y);
/* Concatenation: each of the n inputs is [outer][chunk[i]] elements. */
void nnd__concat(size_t esize, int64_t outer, int n, const int64_t *chunk, const void *const *xs,
                 void *y);
/* The inverse of concat. */
void nnd__split(size_t esize, int64_t outer, int n, const int64_t *chunk, const void *x,
                void *const *ys);
/* y[i] = x[start + i * step] per dim (steps may be negative; the engine has
 * clamped starts so every read is in range). */
void nnd__slice(size_t esize, int rank, const int64_t *in_dims, const int64_t *start,
                const int64_t *step, const int64_t *out_dims, const void *x, void *y);
/* Padding (negative pads crop). `fill` is one element for NND_PAD_CONSTANT. */
void nnd__pad(size_t esize, int rank, const int64_t *in_dims, const int64_t *pad_begin,
              const int64_t *out_dims, nnd_pad_mode mode, const void *fill, const void *x, void *y);
/* x as [outer][axis_len][inner]; idx holds n_idx in-range indices. */
void nnd__gather(size_t esize, int64_t outer, int64_t axis_len, int64_t inner, const int64_t *idx,
                 int64_t n_idx, const void *x, void *y);
/* Broadcasts x (dims aligned to rank, each 1 or the output's) to out_dims. */
void nnd__broadcast_to(size_t esize, int rank, const int64_t *in_dims, const int64_t *out_dims,
                       const void *x, void *y);

/* Where: y = cond ? x : y over broadcast operands (select.c). Each of
 * c_dims, x_dims, y_dims is aligned to rank (each dim 1 or out_dims'). */
void nnd__where(size_t esize, int rank, const int64_t *out_dims, const int64_t *c_dims,
                const int64_t *cond, const int64_t *x_dims, const void *x, const int64_t *y_dims,
                const void *y, void *out);
/* ScatterND without reduction: out = data, then for each of the n_idx index
 * tuples (k ints each, already in range and non-negative) the slice of
 * `slice` elements it addresses takes the next slice of updates. A tuple
 * written twice keeps the last update (ONNX leaves that undefined). */
void nnd__scatter_nd(size_t esize, int64_t data_numel, const void *data, int64_t n_idx, int k,
                     const int64_t *idx, const int64_t *data_strides, int64_t slice,
                     const void *updates, void *out);

/* ------------------------------------------------------ conversions */

void nnd__f32_to_f64(const float *x, double *y, int64_t n);
void nnd__f64_to_f32(const double *x, float *y, int64_t n);
/* Rounds to float16 (bf16 false) or bfloat16, round to nearest even, and
 * back: what a Cast to those types does to the values. x == y allowed. */
void nnd__round_half_f64(bool bf16, const double *x, double *y, int64_t n);
void nnd__round_half_f32(bool bf16, const float *x, float *y, int64_t n);

#endif
