/* The reference path's matrix product core: packed, register-tiled double
 * GEMM, for Gemm, MatMul and (lowered through an implicit im2col) the
 * convolutions.
 *
 * Why it exists: the plain loops it replaces streamed one output row
 * through memory per multiply-add (load, add, store), about 1-2 GFLOP/s, so
 * the reference precision of an 11-128 GMAC model took 10-60 minutes per
 * photo. Here a 4 x 8 tile of outputs stays in registers while k runs.
 *
 * What it keeps: every output is still one double accumulator that starts
 * at its initial value (bias or zero) and adds A[i][q] * B[q][j] for q in
 * ascending order, a product then a sum (no fused multiply-add: ISO C mode
 * does not contract), so the results are the bits of the plain loops. K is
 * cut into blocks for the caches; between blocks the accumulator goes
 * through the output in memory, which is exact in double. The one
 * difference from the direct convolution: a tap in the padding adds
 * w * 0 = +-0 instead of nothing, which changes no sum except the sign of
 * an exact zero (and turns an infinite weight at the border into NaN). */
#include <stdlib.h>
#include <string.h>

#include "ops/ops.h"
#include "ops/parallel.h"

enum {
  MR = 4,   /* rows of a register tile */
  NR = 8,   /* columns of a register tile: two AVX2 vectors */
  KC = 256, /* depth of a packed block: an A panel (8 KB) stays in L1 */
  NC = 128, /* columns per task: a packed B block is KC x NC (256 KB, L2) */
};

typedef double v4d __attribute__((vector_size(32)));

/* acc[MR][NR] += Ap[q][MR] (x) Bp[q][NR] over kc steps; ap and bp are
 * 32-byte aligned packed panels. */
NND_CLONES static void kernel_4x8(int64_t kc, const double *ap, const double *bp,
                                  double acc[MR][NR]) {
  v4d c00, c01, c10, c11, c20, c21, c30, c31;
  memcpy(&c00, acc[0], 32), memcpy(&c01, acc[0] + 4, 32);
  memcpy(&c10, acc[1], 32), memcpy(&c11, acc[1] + 4, 32);
  memcpy(&c20, acc[2], 32), memcpy(&c21, acc[2] + 4, 32);
  memcpy(&c30, acc[3], 32), memcpy(&c31, acc[3] + 4, 32);
  for (int64_t q = 0; q < kc; q++) {
    const v4d b0 = *(const v4d *)(bp + q * NR), b1 = *(const v4d *)(bp + q * NR + 4);
    const double *a = ap + q * MR;
    c00 += a[0] * b0, c01 += a[0] * b1;
    c10 += a[1] * b0, c11 += a[1] * b1;
    c20 += a[2] * b0, c21 += a[2] * b1;
    c30 += a[3] * b0, c31 += a[3] * b1;
  }
  memcpy(acc[0], &c00, 32), memcpy(acc[0] + 4, &c01, 32);
  memcpy(acc[1], &c10, 32), memcpy(acc[1] + 4, &c11, 32);
  memcpy(acc[2], &c20, 32), memcpy(acc[2] + 4, &c21, 32);
  memcpy(acc[3], &c30, 32), memcpy(acc[3] + 4, &c31, 32);
}

/* The convolution's B: element (q, j) is input tap q = (ci, kd, kh, kw) of
 * output pixel j, 0 in the padding. Tap and pixel tables turn it into a
 * gather. */
typedef struct conv_taps {
  const double *x; /* image ni, first channel of group gi */
  int64_t in[3];
  int64_t *ch_off;  /* [k] ci * in_sp */
  int64_t *tap[3];  /* [k] kd*dil, kh*dil, kw*dil */
  int64_t *tap_off; /* [k] the three above as one flat offset */
  int64_t span[3];  /* (k - 1) * dil + 1 per dim */
  const nnd__conv_geom *g;
} conv_taps;

/* Packs rows [q0, q0 + kc) and columns [j0, j0 + nc) of B into NR-wide
 * panels bp[panel][q][NR], zero beyond n. */
static void pack_b_matrix(const nnd__dgemm_b *b, int64_t n, int64_t q0, int64_t kc, int64_t j0,
                          int64_t nc, double *bp) {
  for (int64_t p0 = 0; p0 < nc; p0 += NR, bp += kc * NR) {
    const int64_t w = n - (j0 + p0) < NR ? n - (j0 + p0) : NR;
    for (int64_t q = 0; q < kc; q++) {
      const double *src = b->data + (q0 + q) * b->rs + (j0 + p0) * b->cs;
      double *dst = bp + q * NR;
      int64_t j = 0;
      if (b->cs == 1)
        for (; j < w; j++)
          dst[j] = src[j];
      else
        for (; j < w; j++)
          dst[j] = src[j * b->cs];
      for (; j < NR; j++)
        dst[j] = 0;
    }
  }
}

static void pack_b_conv(const conv_taps *t, int64_t n, int64_t q0, int64_t kc, int64_t j0,
                        int64_t nc, double *bp) {
  const nnd__conv_geom *g = t->g;
  const int64_t OH = g->out[1], OW = g->out[2];
  const int64_t ID = t->in[0], IH = t->in[1], IW = t->in[2];
  for (int64_t p0 = 0; p0 < nc; p0 += NR, bp += kc * NR) {
    int64_t base[3][NR], flat[NR];
    const int64_t w = n - (j0 + p0) < NR ? n - (j0 + p0) : NR;
    bool interior = true;
    for (int64_t j = 0; j < NR; j++) {
      const int64_t pix = j0 + p0 + (j < w ? j : 0);
      const int64_t o[3] = {pix / (OH * OW), pix / OW % OH, pix % OW};
      for (int d = 0; d < 3; d++) {
        base[d][j] = o[d] * g->stride[d] - g->pad_begin[d];
        interior = interior && base[d][j] >= 0 && base[d][j] + t->span[d] <= t->in[d];
      }
      flat[j] = (base[0][j] * IH + base[1][j]) * IW + base[2][j];
    }
    if (interior) {
      for (int64_t q = 0; q < kc; q++) {
        const double *src = t->x + t->ch_off[q0 + q] + t->tap_off[q0 + q];
        double *dst = bp + q * NR;
        for (int64_t j = 0; j < NR; j++)
          dst[j] = j < w ? src[flat[j]] : 0;
      }
      continue;
    }
    for (int64_t q = 0; q < kc; q++) {
      const int64_t qq = q0 + q;
      const double *src = t->x + t->ch_off[qq];
      double *dst = bp + q * NR;
      for (int64_t j = 0; j < NR; j++) {
        const int64_t id = base[0][j] + t->tap[0][qq], ih = base[1][j] + t->tap[1][qq],
                      iw = base[2][j] + t->tap[2][qq];
        const bool in = j < w && id >= 0 && id < ID && ih >= 0 && ih < IH && iw >= 0 && iw < IW;
        dst[j] = in ? src[(id * IH + ih) * IW + iw] : 0;
      }
    }
  }
}

/* A [m][k] into MR-tall panels ap[panel][q][MR], zero beyond m. */
static void pack_a(int64_t m, int64_t k, const double *a, int64_t rs, int64_t cs, double *ap) {
  for (int64_t i0 = 0; i0 < m; i0 += MR, ap += k * MR)
    for (int64_t q = 0; q < k; q++)
      for (int64_t r = 0; r < MR; r++)
        ap[q * MR + r] = i0 + r < m ? a[(i0 + r) * rs + q * cs] : 0;
}

static int max_threads(void) {
#ifdef _OPENMP
  return omp_get_max_threads();
#else
  return 1;
#endif
}

static int thread_id(void) {
#ifdef _OPENMP
  return omp_get_thread_num();
#else
  return 0;
#endif
}

static void *alloc_aligned(size_t n_doubles) {
  size_t bytes = (n_doubles * sizeof(double) + 63) / 64 * 64;
  return bytes ? aligned_alloc(64, bytes) : NULL;
}

/* One task: rows [i0, i1) (multiples of MR but the last) by columns
 * [j0, j0 + nc) of Y, every K block in order. */
static void run_task(int64_t m, int64_t n, int64_t k, const double *ap, const nnd__dgemm_b *b,
                     const conv_taps *taps, const double *row_init, double *y, int64_t ldy,
                     int64_t i0, int64_t i1, int64_t j0, int64_t nc, double *bp) {
  for (int64_t q0 = 0; q0 < k; q0 += KC) {
    const int64_t kc = k - q0 < KC ? k - q0 : KC;
    if (taps)
      pack_b_conv(taps, n, q0, kc, j0, nc, bp);
    else
      pack_b_matrix(b, n, q0, kc, j0, nc, bp);
    for (int64_t i = i0; i < i1; i += MR) {
      const int64_t h = i1 - i < MR ? i1 - i : MR;
      const double *a_panel = ap + (i / MR) * k * MR + q0 * MR;
      for (int64_t p0 = 0; p0 < nc; p0 += NR) {
        const int64_t j = j0 + p0, w = n - j < NR ? n - j : NR;
        double acc[MR][NR] __attribute__((aligned(32)));
        for (int64_t r = 0; r < MR; r++)
          for (int64_t c = 0; c < NR; c++)
            acc[r][c] = r >= h || c >= w ? 0
                        : q0 > 0         ? y[(i + r) * ldy + j + c]
                        : row_init       ? row_init[i + r]
                                         : 0;
        kernel_4x8(kc, a_panel, bp + p0 * kc, acc);
        for (int64_t r = 0; r < h; r++)
          for (int64_t c = 0; c < w; c++)
            y[(i + r) * ldy + j + c] = acc[r][c];
      }
    }
  }
}

static bool dgemm(int64_t m, int64_t n, int64_t k, const double *a, int64_t a_rs, int64_t a_cs,
                  const nnd__dgemm_b *b, const conv_taps *taps, const double *row_init, double *y,
                  int64_t ldy) {
  if (m <= 0 || n <= 0) return true;
  if (k <= 0) {
    for (int64_t i = 0; i < m; i++)
      for (int64_t j = 0; j < n; j++)
        y[i * ldy + j] = row_init ? row_init[i] : 0;
    return true;
  }
  const int64_t nchunks = (n + NC - 1) / NC, panels = (m + MR - 1) / MR;
  const int threads = m * n * k >= NND_PAR_MIN_WORK ? max_threads() : 1;
  /* Too few column chunks for the threads: cut the rows too. */
  int64_t mchunks = nchunks >= threads ? 1 : (threads + nchunks - 1) / nchunks;
  if (mchunks > panels) mchunks = panels;
  const int64_t panels_per_chunk = (panels + mchunks - 1) / mchunks;
  const int64_t tasks = nchunks * mchunks;
  const int64_t nc_max = n < NC ? (n + NR - 1) / NR * NR : NC;
  double *ap = alloc_aligned((size_t)(panels * MR * k));
  double *bp = alloc_aligned((size_t)threads * (size_t)(KC * nc_max));
  if (!ap || !bp) {
    free(ap), free(bp);
    return false;
  }
  pack_a(m, k, a, a_rs, a_cs, ap);
  /* Serially, buffer 0 whatever thread this is (the caller may itself run
   * inside a parallel region); in the team, one buffer per thread. */
  const bool team = threads > 1 && tasks > 1;
  NND_OMP_FOR(team)
  for (int64_t t = 0; t < tasks; t++) {
    const int64_t mc = t / nchunks, jc = t % nchunks;
    const int64_t i0 = mc * panels_per_chunk * MR;
    const int64_t i1 = i0 + panels_per_chunk * MR < m ? i0 + panels_per_chunk * MR : m;
    const int64_t j0 = jc * NC, nc = n - j0 < NC ? (n - j0 + NR - 1) / NR * NR : NC;
    const size_t slot = team ? (size_t)thread_id() : 0;
    if (i0 < i1)
      run_task(m, n, k, ap, b, taps, row_init, y, ldy, i0, i1, j0, nc,
               bp + slot * (size_t)(KC * nc_max));
  }
  free(ap);
  free(bp);
  return true;
}

bool nnd__dgemm_f64(int64_t m, int64_t n, int64_t k, const double *a, int64_t a_rs, int64_t a_cs,
                    const nnd__dgemm_b *b, const double *row_init, double *y, int64_t ldy) {
  return dgemm(m, n, k, a, a_rs, a_cs, b, NULL, row_init, y, ldy);
}

bool nnd__conv_lowered_f64(const nnd__conv_geom *g, const double *x, const double *w,
                           const double *b, double *y) {
  const int64_t cg = g->c / g->groups, og = g->o / g->groups;
  const int64_t ksz = g->k[0] * g->k[1] * g->k[2], k = cg * ksz;
  const int64_t in_sp = g->in[0] * g->in[1] * g->in[2];
  const int64_t out_sp = g->out[0] * g->out[1] * g->out[2];
  conv_taps t = {.g = g, .in = {g->in[0], g->in[1], g->in[2]}};
  int64_t *tab = malloc((size_t)k * 5 * sizeof *tab);
  if (!tab) return false;
  t.ch_off = tab, t.tap[0] = tab + k, t.tap[1] = tab + 2 * k, t.tap[2] = tab + 3 * k;
  t.tap_off = tab + 4 * k;
  for (int d = 0; d < 3; d++)
    t.span[d] = (g->k[d] - 1) * g->dil[d] + 1;
  for (int64_t q = 0; q < k; q++) {
    const int64_t ci = q / ksz, r = q % ksz;
    const int64_t kk[3] = {r / (g->k[1] * g->k[2]), r / g->k[2] % g->k[1], r % g->k[2]};
    t.ch_off[q] = ci * in_sp;
    for (int d = 0; d < 3; d++)
      t.tap[d][q] = kk[d] * g->dil[d];
    t.tap_off[q] = (t.tap[0][q] * g->in[1] + t.tap[1][q]) * g->in[2] + t.tap[2][q];
  }
  bool ok = true;
  for (int64_t ni = 0; ni < g->n && ok; ni++)
    for (int64_t gi = 0; gi < g->groups && ok; gi++) {
      t.x = x + (ni * g->c + gi * cg) * in_sp;
      ok = dgemm(og, out_sp, k, w + gi * og * k, k, 1, NULL, &t, b ? b + gi * og : NULL,
                 y + (ni * g->o + gi * og) * out_sp, out_sp);
    }
  free(tab);
  return ok;
}
