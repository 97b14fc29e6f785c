/* Normalisation kernels: BatchNorm (reference; the fast path folds it into
 * a per-channel affine), LRN, softmax and LayerNorm. */
#include <math.h>

#include "ops/ops.h"
#include "ops/parallel.h"

#define T double
#define SFX(name) name##_f64
#define M(fn) fn
#include "ops/norm_tmpl.h"
#undef T
#undef SFX
#undef M

#define T float
#define SFX(name) name##_f32
#define M(fn) fn##f
#include "ops/norm_tmpl.h"
#undef T
#undef SFX
#undef M

void nnd__channel_affine_f32(int64_t outer, int64_t c, int64_t inner, const float *x,
                             const float *a, const float *b, float lo, float hi, float *y) {
  if (inner == 1) {
    NND_OMP_FOR(outer * c >= NND_PAR_MIN_WORK && outer > 1)
    for (int64_t o = 0; o < outer; o++) {
      const float *xp = x + o * c;
      float *yp = y + o * c;
      for (int64_t ch = 0; ch < c; ch++) {
        const float v = a[ch] * xp[ch] + b[ch];
        yp[ch] = v < lo ? lo : (v > hi ? hi : v);
      }
    }
    return;
  }
  NND_OMP_FOR(outer * c * inner >= NND_PAR_MIN_WORK && outer * c > 1)
  for (int64_t p = 0; p < outer * c; p++) {
    const float av = a[p % c], bv = b[p % c];
    const float *xp = x + p * inner;
    float *yp = y + p * inner;
    for (int64_t i = 0; i < inner; i++) {
      const float v = av * xp[i] + bv;
      yp[i] = v < lo ? lo : (v > hi ? hi : v);
    }
  }
}
