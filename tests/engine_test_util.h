/* Helpers for the engine tests: a seeded random generator and the
 * comparison of a float32 result against a float64 reference that reports
 * the first failing index and the normalised error. */
#ifndef NND_ENGINE_TEST_UTIL_H
#define NND_ENGINE_TEST_UTIL_H

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

typedef struct test_rng {
  uint64_t s;
} test_rng;

static inline uint32_t rng_u32(test_rng *r) {
  r->s = r->s * 6364136223846793005ull + 1442695040888963407ull;
  return (uint32_t)(r->s >> 32);
}

/* Integer in [lo, hi]. */
static inline int64_t rng_int(test_rng *r, int64_t lo, int64_t hi) {
  return lo + (int64_t)(rng_u32(r) % (uint32_t)(hi - lo + 1));
}

/* Float in [-1, 1), exactly representable in float32. */
static inline float rng_f(test_rng *r) { return (float)(rng_u32(r) >> 8) / 8388608.f - 1.f; }

static inline void fill_f32(test_rng *r, float *x, int64_t n) {
  for (int64_t i = 0; i < n; i++)
    x[i] = rng_f(r);
}

static inline void f32_to_f64(const float *x, double *y, int64_t n) {
  for (int64_t i = 0; i < n; i++)
    y[i] = x[i];
}

/* Normalised error ||a - ref|| / ||ref|| (0 when both are 0). */
static inline double norm_err_f32(const float *a, const double *ref, int64_t n) {
  double num = 0, den = 0;
  for (int64_t i = 0; i < n; i++) {
    double d = (double)a[i] - ref[i];
    num += d * d;
    den += ref[i] * ref[i];
  }
  return den > 0 ? sqrt(num / den) : sqrt(num);
}

/* Every element within atol + rtol * rms(ref) of the reference, and the
 * normalised error under max_norm. Prints what/first failing index. */
static inline int check_close_f32(const char *what, const float *a, const double *ref, int64_t n,
                                  double rtol, double max_norm) {
  double rms = 0;
  for (int64_t i = 0; i < n; i++)
    rms += ref[i] * ref[i];
  rms = n ? sqrt(rms / (double)n) : 0;
  const double tol = rtol * (rms > 1e-30 ? rms : 1.0);
  for (int64_t i = 0; i < n; i++) {
    double d = fabs((double)a[i] - ref[i]);
    if (!(d <= tol + rtol * fabs(ref[i]))) {
      fprintf(stderr,
              "%s: first mismatch at index %lld of %lld: got %.9g, reference %.9g "
              "(|diff| %.3g > tol %.3g); normalised error %.3g\n",
              what, (long long)i, (long long)n, (double)a[i], ref[i], d, tol + rtol * fabs(ref[i]),
              norm_err_f32(a, ref, n));
      return 1;
    }
  }
  double ne = norm_err_f32(a, ref, n);
  if (ne > max_norm) {
    fprintf(stderr, "%s: normalised error %.3g > %.3g\n", what, ne, max_norm);
    return 1;
  }
  return 0;
}

static inline int check_equal_f64(const char *what, const double *a, const double *b, int64_t n) {
  for (int64_t i = 0; i < n; i++)
    if (!(a[i] == b[i]) && !(isnan(a[i]) && isnan(b[i]))) {
      fprintf(stderr, "%s: first difference at index %lld of %lld: %.17g vs %.17g\n", what,
              (long long)i, (long long)n, a[i], b[i]);
      return 1;
    }
  return 0;
}

#endif
