/* Einsum kernels (see ops.h): one output element per task, the contraction
 * walked with an odometer over the reduced letters. Generic loops serve the
 * attention products MaxViT exports (bghid,bghjd->bghij: 32-long sums over
 * 49x49 windows), which are small; the large products of transformers
 * export as MatMul. */
#include "ops/ops.h"
#include "ops/parallel.h"

#define EINSUM_BODY(T)                                                                             \
  int64_t numel = 1, red = 1;                                                                      \
  for (int d = 0; d < g->out_rank; d++)                                                            \
    numel *= g->out_dims[d];                                                                       \
  for (int r = 0; r < g->n_red; r++)                                                               \
    red *= g->red_dims[r];                                                                         \
  NND_OMP_FOR(numel *red >= NND_PAR_MIN_WORK && numel > 1)                                         \
  for (int64_t o = 0; o < numel; o++) {                                                            \
    int64_t base[NND__EINSUM_IN] = {0}, rem = o;                                                   \
    for (int d = g->out_rank - 1; d >= 0; d--) {                                                   \
      const int64_t i = rem % g->out_dims[d];                                                      \
      rem /= g->out_dims[d];                                                                       \
      for (int k = 0; k < g->n_in; k++)                                                            \
        base[k] += i * g->out_stride[k][d];                                                        \
    }                                                                                              \
    int64_t idx[NND__EINSUM_RED] = {0}, off[NND__EINSUM_IN];                                       \
    for (int k = 0; k < g->n_in; k++)                                                              \
      off[k] = base[k];                                                                            \
    double acc = 0;                                                                                \
    for (int64_t q = 0; q < red; q++) {                                                            \
      double prod = 1;                                                                             \
      for (int k = 0; k < g->n_in; k++)                                                            \
        prod *= (double)x[k][off[k]];                                                              \
      acc += prod;                                                                                 \
      /* next reduction index, last letter fastest */                                              \
      for (int r = g->n_red - 1; r >= 0; r--) {                                                    \
        for (int k = 0; k < g->n_in; k++)                                                          \
          off[k] += g->red_stride[k][r];                                                           \
        if (++idx[r] < g->red_dims[r]) break;                                                      \
        for (int k = 0; k < g->n_in; k++)                                                          \
          off[k] -= g->red_stride[k][r] * g->red_dims[r];                                          \
        idx[r] = 0;                                                                                \
      }                                                                                            \
    }                                                                                              \
    y[o] = (T)acc;                                                                                 \
  }

void nnd__einsum_f64(const nnd__einsum_geom *g, const double *const *x, double *y) {
  EINSUM_BODY(double)
}

void nnd__einsum_f32(const nnd__einsum_geom *g, const float *const *x, float *y) {
  EINSUM_BODY(float)
}
