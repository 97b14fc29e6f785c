/* The fast path's heavy kernels behind one interface (internal).
 *
 * Convolution: a planned object created once for static shapes with its
 * weights packed, its bias and its fused activations; then run per batch.
 * The implementation is picked at create, fastest first (measured with
 * bench/conv_backends.c and bench/bench_dwconv.c):
 *   - oneDNN (builds with libdnnl): post-ops for the activations and the
 *     residual sum, weights reordered once into its preferred layout;
 *   - depthwise 2-D, channels last, multiplier 1: our own kernel
 *     (dwconv.c; AVX2+FMA intrinsics when the CPU has them, checked at
 *     run time, else portable loops);
 *   - otherwise im2col + sgemm (OpenBLAS, or naive loops) with our own
 *     bias + activation epilogue.
 * GEMM: nnd__sgemm (oneDNN's, OpenBLAS's, or naive loops). */
#ifndef NND_OPS_FAST_H
#define NND_OPS_FAST_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "nndiff/status.h"
#include "ops/ops.h"

/* Backend of convolution and GEMM this build uses: "onednn",
 * "im2col+openblas" or "im2col+naive". */
const char *nnd__fast_backend_name(void);
/* Whether channels-last activations are the fast layout for convolutions in
 * this build (true with oneDNN). */
bool nnd__fast_prefers_channels_last(void);
/* "avx2" when our own vectorised kernels run their AVX2+FMA code. */
const char *nnd__isa_name(void);
bool nnd__cpu_has_avx2_fma(void);

/* Threads for OpenMP loops, oneDNN and OpenBLAS (<= 1: single). */
void nnd__set_threads(int threads);
int nnd__get_threads(void);

/* C = alpha * op(A) op(B) + beta * C, row-major, float32. Never fails: a
 * call the BLAS refuses (or cannot represent) runs on portable loops. */
void nnd__sgemm(bool trans_a, bool trans_b, int64_t m, int64_t n, int64_t k, float alpha,
                const float *a, int64_t lda, const float *b, int64_t ldb, float beta, float *c,
                int64_t ldc);

/* Backend state shared by the convolutions of one engine (the oneDNN
 * engine and stream); NULL-free to use in builds without oneDNN. */
typedef struct nnd__fast_ctx nnd__fast_ctx;
nnd_status nnd__fast_ctx_create(nnd__fast_ctx **out, nnd_error *err);
void nnd__fast_ctx_destroy(nnd__fast_ctx *ctx);

#define NND_FCONV_MAX_POST 3

typedef struct nnd__fconv_desc {
  nnd__conv_geom geom;
  const float *w; /* [o][c/groups][kd][kh][kw]; read during create only */
  const float *b; /* [o] or NULL; copied */
  /* Accumulate: y = conv(x) + b + y (the y the caller passes in), before
   * the activations; a residual Add fused into the convolution. */
  bool sum;
  int n_post; /* activations applied in order after bias (and sum) */
  nnd__unary post[NND_FCONV_MAX_POST];
  /* Force a backend ("onednn", "dw", "im2col"), NULL: the best one. For the
   * kernel tests. */
  const char *force;
} nnd__fconv_desc;

typedef struct nnd__fconv nnd__fconv;

nnd_status nnd__fconv_create(nnd__fast_ctx *ctx, const nnd__fconv_desc *desc, nnd__fconv **out,
                             nnd_error *err);
/* Scratch the run needs (shared by all convolutions of an engine). */
size_t nnd__fconv_scratch_bytes(const nnd__fconv *conv);
/* Bytes of packed weights and bias it holds. */
size_t nnd__fconv_weight_bytes(const nnd__fconv *conv);
/* Which implementation runs it, e.g. "onednn:jit_1x1:avx2", "dw:avx2". */
const char *nnd__fconv_impl(const nnd__fconv *conv);
/* y = act(conv(x) + b [+ y]). scratch: nnd__fconv_scratch_bytes, 64-byte
 * aligned. */
nnd_status nnd__fconv_run(nnd__fconv *conv, const float *x, float *y, void *scratch,
                          nnd_error *err);
void nnd__fconv_destroy(nnd__fconv *conv);

/* Our depthwise kernel (channels last, groups == c == o). w_hwc is the
 * weight packed as [kh][kw][c]. Applies bias and the activations. */
bool nnd__dwconv_supported(const nnd__conv_geom *g);
void nnd__dwconv_nhwc_f32(const nnd__conv_geom *g, const float *w_hwc, const float *b, bool sum,
                          int n_post, const nnd__unary *post, const float *x, float *y);

#endif
