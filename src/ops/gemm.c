/* Reference matrix products in double precision: Gemm and batched MatMul.
 * Each output sums over k in ascending order. They run on the packed core
 * (ops/dgemm.c); the plain loops below give the same bits and stay for
 * when its scratch cannot be allocated. (The fast path uses nnd__sgemm
 * from ops/fast.h.) */
#include <string.h>

#include "ops/ops.h"
#include "ops/parallel.h"

/* Rows of A are taken RB at a time so each row of B (or, transposed, each
 * column) is read once per block instead of once per row: the reference
 * products of ViT-sized layers (768 x 3072 doubles, 18 MB) were bound by
 * memory traffic. Every output still sums over k in ascending order, so the
 * results are the same bits as one row at a time. */
enum { RB = 8 };

static void gemm_loops(bool trans_a, bool trans_b, int64_t m, int64_t n, int64_t k,
                       const double *a, const double *b, double *y) {
  const int64_t blocks = (m + RB - 1) / RB;
  NND_OMP_FOR(m * n * k >= NND_PAR_MIN_WORK && blocks > 1)
  for (int64_t blk = 0; blk < blocks; blk++) {
    const int64_t i0 = blk * RB, nr = m - i0 < RB ? m - i0 : RB;
    if (trans_b) {
      for (int64_t j = 0; j < n; j++) {
        const double *bc = b + j * k;
        double acc[RB] = {0};
        for (int64_t q = 0; q < k; q++)
          for (int64_t r = 0; r < nr; r++)
            acc[r] += (trans_a ? a[q * m + i0 + r] : a[(i0 + r) * k + q]) * bc[q];
        for (int64_t r = 0; r < nr; r++)
          y[(i0 + r) * n + j] = acc[r];
      }
    } else {
      for (int64_t r = 0; r < nr; r++)
        memset(y + (i0 + r) * n, 0, (size_t)n * sizeof *y);
      for (int64_t q = 0; q < k; q++) {
        const double *br = b + q * n;
        for (int64_t r = 0; r < nr; r++) {
          const double av = trans_a ? a[q * m + i0 + r] : a[(i0 + r) * k + q];
          double *yr = y + (i0 + r) * n;
          for (int64_t j = 0; j < n; j++)
            yr[j] += av * br[j];
        }
      }
    }
  }
}

void nnd__gemm_f64(bool trans_a, bool trans_b, int64_t m, int64_t n, int64_t k, double alpha,
                   const double *a, const double *b, double beta, const double *c, int64_t c_rows,
                   int64_t c_cols, double *y) {
  const nnd__dgemm_b bm = {b, trans_b ? 1 : n, trans_b ? k : 1};
  if (!nnd__dgemm_f64(m, n, k, a, trans_a ? 1 : k, trans_a ? m : 1, &bm, NULL, y, n))
    gemm_loops(trans_a, trans_b, m, n, k, a, b, y);
  NND_OMP_FOR(m * n >= NND_PAR_MIN_WORK && m > 1)
  for (int64_t i = 0; i < m; i++) {
    double *yr = y + i * n;
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

static void matmul_loops(const nnd__matmul_geom *g, const double *a, const double *b, double *y) {
  const int64_t m = g->m, n = g->n, k = g->k;
  const int64_t mblocks = (m + RB - 1) / RB, tasks = g->batch * mblocks;
  NND_OMP_FOR(g->batch * m * n * k >= NND_PAR_MIN_WORK && tasks > 1)
  for (int64_t t = 0; t < tasks; t++) {
    const int64_t bi = t / mblocks, i0 = t % mblocks * RB, nr = m - i0 < RB ? m - i0 : RB;
    int64_t oa, ob;
    nnd__matmul_offsets(g, bi, &oa, &ob);
    const double *am = a + oa * m * k;
    const double *bm = b + ob * k * n;
    double *ym = y + bi * m * n;
    for (int64_t r = 0; r < nr; r++)
      memset(ym + (i0 + r) * n, 0, (size_t)n * sizeof *ym);
    for (int64_t q = 0; q < k; q++) {
      const double *br = bm + q * n;
      for (int64_t r = 0; r < nr; r++) {
        const double av = am[(i0 + r) * k + q];
        double *yr = ym + (i0 + r) * n;
        for (int64_t j = 0; j < n; j++)
          yr[j] += av * br[j];
      }
    }
  }
}

void nnd__matmul_f64(const nnd__matmul_geom *g, const double *a, const double *b, double *y) {
  const int64_t m = g->m, n = g->n, k = g->k;
  for (int64_t bi = 0; bi < g->batch; bi++) {
    int64_t oa, ob;
    nnd__matmul_offsets(g, bi, &oa, &ob);
    const nnd__dgemm_b bm = {b + ob * k * n, n, 1};
    if (!nnd__dgemm_f64(m, n, k, a + oa * m * k, k, 1, &bm, NULL, y + bi * m * n, n)) {
      matmul_loops(g, a, b, y);
      return;
    }
  }
}
