/* Reference matrix products in double precision: Gemm and batched MatMul.
 * Each output sums over k in ascending order. (The fast path uses
 * nnd__sgemm from ops/fast.h.) */
#include <string.h>

#include "ops/ops.h"
#include "ops/parallel.h"

void nnd__gemm_f64(bool trans_a, bool trans_b, int64_t m, int64_t n, int64_t k, double alpha,
                   const double *a, const double *b, double beta, const double *c, int64_t c_rows,
                   int64_t c_cols, double *y) {
  NND_OMP_FOR(m * n * k >= NND_PAR_MIN_WORK && m > 1)
  for (int64_t i = 0; i < m; i++) {
    double *yr = y + i * n;
    if (trans_b) {
      for (int64_t j = 0; j < n; j++) {
        double acc = 0;
        for (int64_t q = 0; q < k; q++)
          acc += (trans_a ? a[q * m + i] : a[i * k + q]) * b[j * k + q];
        yr[j] = acc;
      }
    } else {
      for (int64_t j = 0; j < n; j++)
        yr[j] = 0;
      for (int64_t q = 0; q < k; q++) {
        const double av = trans_a ? a[q * m + i] : a[i * k + q];
        const double *br = b + q * n;
        for (int64_t j = 0; j < n; j++)
          yr[j] += av * br[j];
      }
    }
    for (int64_t j = 0; j < n; j++) {
      double v = alpha * yr[j];
      if (c) v += beta * c[(c_rows == 1 ? 0 : i) * c_cols + (c_cols == 1 ? 0 : j)];
      yr[j] = v;
    }
  }
}

void nnd__matmul_offsets(const nnd__matmul_geom *g, int64_t i, int64_t *a_off, int64_t *b_off) {
  int64_t oa = 0, ob = 0;
  for (int d = g->brank - 1; d >= 0; d--) {
    int64_t idx = i % g->bdims[d];
    i /= g->bdims[d];
    oa += idx * g->a_bstride[d];
    ob += idx * g->b_bstride[d];
  }
  *a_off = oa;
  *b_off = ob;
}

void nnd__matmul_f64(const nnd__matmul_geom *g, const double *a, const double *b, double *y) {
  const int64_t m = g->m, n = g->n, k = g->k;
  const int64_t rows = g->batch * m;
  NND_OMP_FOR(rows * n * k >= NND_PAR_MIN_WORK && rows > 1)
  for (int64_t r = 0; r < rows; r++) {
    int64_t oa, ob;
    nnd__matmul_offsets(g, r / m, &oa, &ob);
    const double *ar = a + oa * m * k + (r % m) * k;
    const double *bm = b + ob * k * n;
    double *yr = y + r * n;
    for (int64_t j = 0; j < n; j++)
      yr[j] = 0;
    for (int64_t q = 0; q < k; q++) {
      const double av = ar[q];
      for (int64_t j = 0; j < n; j++)
        yr[j] += av * bm[q * n + j];
    }
  }
}
