/* Elementwise kernels: unary ops and activations, binary ops with numpy
 * broadcasting, and type conversions. The float kernels are one template
 * (eltwise_tmpl.h) instantiated for double (reference) and float (fast). */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "ops/fast.h"
#include "ops/ops.h"
#include "ops/parallel.h"

#define T double
#define SFX(name) name##_f64
#define BSFX(name) name##_f64
#define M(fn) fn
#include "ops/eltwise_tmpl.h"
#undef T
#undef SFX
#undef BSFX
#undef M

#define T float
#define SFX(name) name##_f32_loops
#define BSFX(name) name##_f32
#define M(fn) fn##f
#include "ops/eltwise_tmpl.h"
#undef T
#undef SFX
#undef BSFX
#undef M

/* ---- float32 activations built on exp, vectorised with AVX2 ----
 *
 * libm's expf runs one element at a time; EfficientNet-class networks spend
 * most of their time in sigmoids that way. exp8 is Cephes' expf (range
 * reduction by ln 2 in two parts, degree-5 polynomial; about 1 ulp), eight
 * lanes at a time; the AVX2 code is chosen at run time. */
#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#define AVX2 __attribute__((target("avx2,fma")))

AVX2 static inline __m256 exp8(__m256 x) {
  x = _mm256_min_ps(_mm256_max_ps(x, _mm256_set1_ps(-87.3365447505531f)),
                    _mm256_set1_ps(88.3762626647949f));
  __m256 fx = _mm256_floor_ps(
      _mm256_fmadd_ps(x, _mm256_set1_ps(1.44269504088896341f), _mm256_set1_ps(0.5f)));
  x = _mm256_fnmadd_ps(fx, _mm256_set1_ps(0.693359375f), x);
  x = _mm256_fnmadd_ps(fx, _mm256_set1_ps(-2.12194440e-4f), x);
  __m256 y = _mm256_set1_ps(1.9875691500E-4f);
  y = _mm256_fmadd_ps(y, x, _mm256_set1_ps(1.3981999507E-3f));
  y = _mm256_fmadd_ps(y, x, _mm256_set1_ps(8.3334519073E-3f));
  y = _mm256_fmadd_ps(y, x, _mm256_set1_ps(4.1665795894E-2f));
  y = _mm256_fmadd_ps(y, x, _mm256_set1_ps(1.6666665459E-1f));
  y = _mm256_fmadd_ps(y, x, _mm256_set1_ps(5.0000001201E-1f));
  y = _mm256_fmadd_ps(y, _mm256_mul_ps(x, x), _mm256_add_ps(x, _mm256_set1_ps(1.f)));
  __m256i e =
      _mm256_slli_epi32(_mm256_add_epi32(_mm256_cvttps_epi32(fx), _mm256_set1_epi32(127)), 23);
  return _mm256_mul_ps(y, _mm256_castsi256_ps(e));
}

/* y = op(x) for n elements, n a multiple of 8; false for ops not here. */
AVX2 static bool unary_exp_avx2(nnd__unary_kind kind, float alpha, const float *x, float *y,
                                int64_t n) {
  const __m256 one = _mm256_set1_ps(1.f), zero = _mm256_setzero_ps();
  const __m256 al = _mm256_set1_ps(alpha);
  switch (kind) {
  case NND__UN_SIGMOID:
  case NND__UN_SILU:
  case NND__UN_EXP:
  case NND__UN_ELU:
  case NND__UN_TANH: break;
  default: return false;
  }
  for (int64_t i = 0; i < n; i += 8) {
    const __m256 v = _mm256_loadu_ps(x + i);
    __m256 r;
    switch (kind) {
    case NND__UN_SIGMOID:
      r = _mm256_div_ps(one, _mm256_add_ps(one, exp8(_mm256_sub_ps(zero, v))));
      break;
    case NND__UN_SILU:
      r = _mm256_div_ps(v, _mm256_add_ps(one, exp8(_mm256_sub_ps(zero, v))));
      break;
    case NND__UN_EXP: r = exp8(v); break;
    case NND__UN_ELU: {
      const __m256 neg = _mm256_mul_ps(al, _mm256_sub_ps(exp8(v), one));
      r = _mm256_blendv_ps(v, neg, _mm256_cmp_ps(v, zero, _CMP_LT_OQ));
      break;
    }
    default: {
      /* tanh(v) = 1 - 2 / (exp(2v) + 1) */
      const __m256 e2 = exp8(_mm256_add_ps(v, v));
      r = _mm256_sub_ps(one, _mm256_div_ps(_mm256_set1_ps(2.f), _mm256_add_ps(e2, one)));
      break;
    }
    }
    _mm256_storeu_ps(y + i, r);
  }
  return true;
}
#endif

void nnd__unary_f32(const nnd__unary *op, const float *x, float *y, int64_t n) {
#if defined(__x86_64__) || defined(__i386__)
  const int64_t nv = n / 8 * 8;
  if (nv > 0 && nnd__cpu_has_avx2_fma()) {
    const int64_t chunk = 4096;
    const int64_t tasks = (nv + chunk - 1) / chunk;
    bool done = true;
    switch (op->kind) {
    case NND__UN_SIGMOID:
    case NND__UN_SILU:
    case NND__UN_EXP:
    case NND__UN_ELU:
    case NND__UN_TANH: break;
    default: done = false; break;
    }
    if (done) {
      NND_OMP_FOR(nv >= NND_PAR_MIN_WORK && tasks > 1)
      for (int64_t t = 0; t < tasks; t++) {
        const int64_t a = t * chunk, len = nv - a < chunk ? nv - a : chunk;
        unary_exp_avx2(op->kind, (float)op->alpha, x + a, y + a, len);
      }
      if (nv < n) nnd__unary_f32_loops(op, x + nv, y + nv, n - nv);
      return;
    }
  }
#endif
  nnd__unary_f32_loops(op, x, y, n);
}

bool nnd__unary_i64(const nnd__unary *op, const int64_t *x, int64_t *y, int64_t n) {
  switch (op->kind) {
  case NND__UN_COPY:
    if (x != y && n > 0) memmove(y, x, (size_t)n * sizeof *y);
    return true;
  case NND__UN_NEG:
    for (int64_t i = 0; i < n; i++)
      y[i] = x[i] == INT64_MIN ? INT64_MIN : -x[i];
    return true;
  case NND__UN_ABS:
    for (int64_t i = 0; i < n; i++)
      y[i] = x[i] < 0 && x[i] != INT64_MIN ? -x[i] : x[i];
    return true;
  case NND__UN_RELU:
    for (int64_t i = 0; i < n; i++)
      y[i] = x[i] < 0 ? 0 : x[i];
    return true;
  case NND__UN_CLIP: {
    /* Bounds arrive as doubles; +-inf means no bound. */
    for (int64_t i = 0; i < n; i++) {
      double v = (double)x[i];
      int64_t r = x[i];
      if (v < op->alpha) r = (int64_t)op->alpha;
      if (v > op->beta) r = (int64_t)op->beta;
      y[i] = r;
    }
    return true;
  }
  default: return false;
  }
}

static int64_t sat_i64(__int128 v) {
  return v > INT64_MAX ? INT64_MAX : v < INT64_MIN ? INT64_MIN : (int64_t)v;
}

bool nnd__binary_i64(nnd__binary_kind op, const nnd__bcast *bc, const int64_t *a, const int64_t *b,
                     int64_t *y) {
  if (op == NND__BIN_PRELU) return false;
  const int r = bc->rank;
  for (int64_t i = 0; i < bc->numel; i++) {
    int64_t oa = 0, ob = 0, rem = i;
    for (int d = r - 1; d >= 0; d--) {
      int64_t k = rem % bc->dims[d];
      rem /= bc->dims[d];
      oa += k * bc->sa[d];
      ob += k * bc->sb[d];
    }
    __int128 u = a[oa], v = b[ob];
    int64_t res = 0;
    switch (op) {
    case NND__BIN_ADD: res = sat_i64(u + v); break;
    case NND__BIN_SUB: res = sat_i64(u - v); break;
    case NND__BIN_MUL: res = sat_i64(u * v); break;
    case NND__BIN_DIV: res = v == 0 ? 0 : sat_i64(u / v); break;
    case NND__BIN_MAX: res = (int64_t)(u < v ? v : u); break;
    case NND__BIN_MIN: res = (int64_t)(v < u ? v : u); break;
    case NND__BIN_FMOD: /* x % 0 gives 0, like x / 0 */
    case NND__BIN_MOD:
      res = v == 0 ? 0 : (int64_t)(u % v);
      if (op == NND__BIN_MOD && res != 0 && ((res < 0) != (v < 0))) res += (int64_t)v;
      break;
    case NND__BIN_POW: {
      /* Integer power; a negative exponent truncates toward zero. */
      int64_t base = a[oa], ex = b[ob];
      if (ex < 0) {
        res = base == 1 ? 1 : base == -1 ? (ex % 2 ? -1 : 1) : 0;
        break;
      }
      __int128 acc = 1, bb = base;
      for (; ex > 0; ex >>= 1) {
        if (ex & 1) acc = sat_i64(acc * bb);
        bb = sat_i64(bb * bb);
      }
      res = (int64_t)acc;
      break;
    }
    default: return false;
    }
    y[i] = res;
  }
  return true;
}

void nnd__bcast_init(nnd__bcast *bc, int rank, const int64_t *out, const int64_t *a_dims,
                     const int64_t *b_dims) {
  int64_t dims[NND_MAX_RANK];
  bool ia[NND_MAX_RANK], ib[NND_MAX_RANK];
  int r = 0;
  int64_t numel = 1;
  for (int i = 0; i < rank; i++) {
    numel *= out[i];
    if (out[i] == 1) continue;
    bool ca = a_dims[i] != 1, cb = b_dims[i] != 1;
    if (r > 0 && ia[r - 1] == ca && ib[r - 1] == cb) {
      dims[r - 1] *= out[i];
    } else {
      dims[r] = out[i];
      ia[r] = ca;
      ib[r] = cb;
      r++;
    }
  }
  memset(bc, 0, sizeof *bc);
  bc->rank = r;
  bc->numel = numel;
  int64_t acc_a = 1, acc_b = 1;
  for (int i = r - 1; i >= 0; i--) {
    bc->dims[i] = dims[i];
    bc->sa[i] = ia[i] ? acc_a : 0;
    bc->sb[i] = ib[i] ? acc_b : 0;
    if (ia[i]) acc_a *= dims[i];
    if (ib[i]) acc_b *= dims[i];
  }
}

bool nnd__unary_from_act(const nnd_activation *act, nnd__unary *out) {
  out->alpha = act->alpha;
  out->beta = act->beta;
  switch (act->kind) {
  case NND_ACT_NONE: return false;
  case NND_ACT_RELU: out->kind = NND__UN_RELU; return true;
  case NND_ACT_CLIP: out->kind = NND__UN_CLIP; return true;
  case NND_ACT_LEAKY_RELU: out->kind = NND__UN_LEAKY_RELU; return true;
  case NND_ACT_SIGMOID: out->kind = NND__UN_SIGMOID; return true;
  case NND_ACT_HARD_SIGMOID: out->kind = NND__UN_HARD_SIGMOID; return true;
  case NND_ACT_HARD_SWISH: out->kind = NND__UN_HARD_SWISH; return true;
  case NND_ACT_TANH: out->kind = NND__UN_TANH; return true;
  case NND_ACT_SILU: out->kind = NND__UN_SILU; return true;
  }
  return false;
}

const char *nnd__unary_name(nnd__unary_kind kind) {
  static const char *const names[] = {
      [NND__UN_COPY] = "copy",
      [NND__UN_RELU] = "relu",
      [NND__UN_LEAKY_RELU] = "leaky_relu",
      [NND__UN_CLIP] = "clip",
      [NND__UN_SIGMOID] = "sigmoid",
      [NND__UN_HARD_SIGMOID] = "hard_sigmoid",
      [NND__UN_HARD_SWISH] = "hard_swish",
      [NND__UN_TANH] = "tanh",
      [NND__UN_ELU] = "elu",
      [NND__UN_SILU] = "silu",
      [NND__UN_GELU] = "gelu",
      [NND__UN_GELU_TANH] = "gelu_tanh",
      [NND__UN_SQRT] = "sqrt",
      [NND__UN_EXP] = "exp",
      [NND__UN_LOG] = "log",
      [NND__UN_NEG] = "neg",
      [NND__UN_ABS] = "abs",
      [NND__UN_ERF] = "erf",
      [NND__UN_RECIPROCAL] = "reciprocal",
      [NND__UN_FLOOR] = "floor",
      [NND__UN_CEIL] = "ceil",
      [NND__UN_SOFTPLUS] = "softplus",
  };
  return (unsigned)kind < sizeof names / sizeof names[0] ? names[kind] : "invalid";
}

void nnd__f32_to_f64(const float *x, double *y, int64_t n) {
  NND_OMP_FOR(n >= 4 * NND_PAR_MIN_WORK)
  for (int64_t i = 0; i < n; i++)
    y[i] = x[i];
}

void nnd__f64_to_f32(const double *x, float *y, int64_t n) {
  NND_OMP_FOR(n >= 4 * NND_PAR_MIN_WORK)
  for (int64_t i = 0; i < n; i++)
    y[i] = (float)x[i];
}

/* float32 -> float16 bits, round to nearest even (overflow to inf). */
static uint16_t f32_to_f16_bits(float f) { return nnd_f32_to_f16(f); }
static float f16_bits_to_f32(uint16_t h) { return (float)nnd_f16_to_f64(h); }

static float round_half(bool bf16, float f) {
  if (!bf16) return f16_bits_to_f32(f32_to_f16_bits(f));
  uint32_t x;
  memcpy(&x, &f, 4);
  if ((x & 0x7f800000u) == 0x7f800000u && (x & 0x7fffffu)) return f; /* NaN */
  x = (x + 0x7fffu + ((x >> 16) & 1u)) & 0xffff0000u;
  memcpy(&f, &x, 4);
  return f;
}

void nnd__round_half_f64(bool bf16, const double *x, double *y, int64_t n) {
  for (int64_t i = 0; i < n; i++)
    y[i] = round_half(bf16, (float)x[i]);
}

void nnd__round_half_f32(bool bf16, const float *x, float *y, int64_t n) {
  for (int64_t i = 0; i < n; i++)
    y[i] = round_half(bf16, x[i]);
}
