/* Fast-path plumbing: which backend this build links, CPU feature checks,
 * thread count, and float32 GEMM. */
#include <stdlib.h>
#include <string.h>

#include "ops/fast.h"
#include "ops/parallel.h"

#if defined(NND_HAVE_DNNL)
#include <dnnl.h>
#elif defined(NND_HAVE_OPENBLAS)
#include <cblas.h>
#endif

const char *nnd__fast_backend_name(void) {
#if defined(NND_HAVE_DNNL)
  return "onednn";
#elif defined(NND_HAVE_OPENBLAS)
  return "im2col+openblas";
#else
  return "im2col+naive";
#endif
}

bool nnd__fast_prefers_channels_last(void) {
  /* Measured (bench/conv_backends.c): oneDNN runs plain NCHW through its
   * gemm path at about half the speed of NHWC; without oneDNN, channels
   * last lets depthwise layers use our kernel and 1x1 convolutions run as
   * one GEMM without im2col. */
  return true;
}

bool nnd__cpu_has_avx2_fma(void) {
#if (defined(__x86_64__) || defined(__i386__)) && defined(__GNUC__)
  return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
#else
  return false;
#endif
}

const char *nnd__isa_name(void) { return nnd__cpu_has_avx2_fma() ? "avx2" : "generic"; }

#if !defined(NND_HAVE_DNNL) && defined(NND_HAVE_OPENBLAS)
void openblas_set_num_threads(int num_threads);
#endif

void nnd__set_threads(int threads) {
  if (threads < 1) threads = 1;
#ifdef _OPENMP
  omp_set_num_threads(threads);
#endif
#if !defined(NND_HAVE_DNNL) && defined(NND_HAVE_OPENBLAS)
  openblas_set_num_threads(threads);
#endif
}

int nnd__get_threads(void) {
#ifdef _OPENMP
  return omp_get_max_threads();
#else
  return 1;
#endif
}

/* Portable loops: the kernel of builds without a BLAS, and the fallback
 * when the BLAS cannot take a call. */
static void sgemm_loops(bool trans_a, bool trans_b, int64_t m, int64_t n, int64_t k, float alpha,
                        const float *a, int64_t lda, const float *b, int64_t ldb, float beta,
                        float *c, int64_t ldc) {
  NND_OMP_FOR(m * n * k >= NND_PAR_MIN_WORK && m > 1)
  for (int64_t i = 0; i < m; i++) {
    float *cr = c + i * ldc;
    for (int64_t j = 0; j < n; j++)
      cr[j] = beta == 0.f ? 0.f : beta * cr[j];
    for (int64_t q = 0; q < k; q++) {
      const float av = alpha * (trans_a ? a[q * lda + i] : a[i * lda + q]);
      if (trans_b)
        for (int64_t j = 0; j < n; j++)
          cr[j] += av * b[j * ldb + q];
      else
        for (int64_t j = 0; j < n; j++)
          cr[j] += av * b[q * ldb + j];
    }
  }
}

void nnd__sgemm(bool trans_a, bool trans_b, int64_t m, int64_t n, int64_t k, float alpha,
                const float *a, int64_t lda, const float *b, int64_t ldb, float beta, float *c,
                int64_t ldc) {
  if (m <= 0 || n <= 0) return;
#if defined(NND_HAVE_DNNL)
  /* dnnl_sgemm checks its arguments (and allocates its packing buffers)
   * before it writes C, so when it refuses a shape or runs out of memory
   * the loops still give the right answer. */
  if (dnnl_sgemm(trans_a ? 'T' : 'N', trans_b ? 'T' : 'N', m, n, k, alpha, a, lda, b, ldb, beta, c,
                 ldc) == dnnl_success)
    return;
#elif defined(NND_HAVE_OPENBLAS)
  /* blasint is usually 32 bits: a larger dimension would be truncated. */
  const int64_t lim = (int64_t)(((uint64_t)1 << (8 * sizeof(blasint) - 1)) - 1);
  if (m <= lim && n <= lim && k <= lim && lda <= lim && ldb <= lim && ldc <= lim) {
    cblas_sgemm(CblasRowMajor, trans_a ? CblasTrans : CblasNoTrans,
                trans_b ? CblasTrans : CblasNoTrans, (blasint)m, (blasint)n, (blasint)k, alpha, a,
                (blasint)lda, b, (blasint)ldb, beta, c, (blasint)ldc);
    return;
  }
#endif
  sgemm_loops(trans_a, trans_b, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
}
