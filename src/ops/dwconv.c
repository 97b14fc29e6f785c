/* Our depthwise convolution (channels last, 2-D, one filter per channel):
 * the layer type where oneDNN and GEMM-based convolutions gain least. The
 * channel dim is contiguous, so vectors run across channels; interior
 * output pixels are done four at a time so each weight vector loaded serves
 * four outputs. An AVX2+FMA version is compiled with a target attribute and
 * chosen at run time; the portable version has the same loop structure.
 * Every output sums bias, then the taps in (kh, kw) order. */
#include <math.h>
#include <string.h>

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#define NND_HAVE_X86 1
#endif

#include "ops/fast.h"
#include "ops/parallel.h"

bool nnd__dwconv_supported(const nnd__conv_geom *g) {
  return g->channels_last && g->groups == g->c && g->o == g->c && g->in[0] == 1 &&
         g->k[0] == 1 && g->out[0] == 1;
}

/* Range of output x whose whole kernel row lies inside the input. */
static void interior(const nnd__conv_geom *g, int64_t *lo, int64_t *hi) {
  const int64_t s = g->stride[2], p = g->pad_begin[2], span = (g->k[2] - 1) * g->dil[2];
  int64_t l = p <= 0 ? 0 : (p + s - 1) / s;
  int64_t b = g->in[2] - 1 + p - span;
  int64_t h = b < 0 ? 0 : b / s + 1;
  if (h > g->out[2]) h = g->out[2];
  if (l > h) l = h;
  *lo = l;
  *hi = h;
}

/* One output pixel, all channels, scalar or auto-vectorised. */
static inline void pixel_generic(const nnd__conv_geom *g, const float *w, const float *b,
                                 bool sum, const float *xn, int64_t oh, int64_t ox, float *yp) {
  const int64_t C = g->c, IH = g->in[1], IW = g->in[2];
  for (int64_t c = 0; c < C; c++) yp[c] = (b ? b[c] : 0.f) + (sum ? yp[c] : 0.f);
  for (int64_t kh = 0; kh < g->k[1]; kh++) {
    const int64_t ih = oh * g->stride[1] - g->pad_begin[1] + kh * g->dil[1];
    if (ih < 0 || ih >= IH) continue;
    for (int64_t kw = 0; kw < g->k[2]; kw++) {
      const int64_t iw = ox * g->stride[2] - g->pad_begin[2] + kw * g->dil[2];
      if (iw < 0 || iw >= IW) continue;
      const float *xp = xn + (ih * IW + iw) * C;
      const float *wp = w + (kh * g->k[2] + kw) * C;
      for (int64_t c = 0; c < C; c++) yp[c] += wp[c] * xp[c];
    }
  }
}

static void row_generic(const nnd__conv_geom *g, const float *w, const float *b, bool sum,
                        const float *xn, int64_t oh, float *yrow) {
  for (int64_t ox = 0; ox < g->out[2]; ox++)
    pixel_generic(g, w, b, sum, xn, oh, ox, yrow + ox * g->c);
}

#ifdef NND_HAVE_X86
#define AVX2 __attribute__((target("avx2,fma")))

/* Four interior pixels of a 3-wide kernel row (dilation 1), one channel
 * block: the x vectors shared by neighbouring pixels are loaded once
 * (6 loads for stride 1, 9 for stride 2, instead of 12). */
AVX2 static inline void taps3_s1(const float *xr, int64_t C, __m256 w0, __m256 w1, __m256 w2,
                                 __m256 *a0, __m256 *a1, __m256 *a2, __m256 *a3) {
  const __m256 x0 = _mm256_loadu_ps(xr), x1 = _mm256_loadu_ps(xr + C);
  const __m256 x2 = _mm256_loadu_ps(xr + 2 * C), x3 = _mm256_loadu_ps(xr + 3 * C);
  const __m256 x4 = _mm256_loadu_ps(xr + 4 * C), x5 = _mm256_loadu_ps(xr + 5 * C);
  *a0 = _mm256_fmadd_ps(w0, x0, *a0);
  *a1 = _mm256_fmadd_ps(w0, x1, *a1);
  *a2 = _mm256_fmadd_ps(w0, x2, *a2);
  *a3 = _mm256_fmadd_ps(w0, x3, *a3);
  *a0 = _mm256_fmadd_ps(w1, x1, *a0);
  *a1 = _mm256_fmadd_ps(w1, x2, *a1);
  *a2 = _mm256_fmadd_ps(w1, x3, *a2);
  *a3 = _mm256_fmadd_ps(w1, x4, *a3);
  *a0 = _mm256_fmadd_ps(w2, x2, *a0);
  *a1 = _mm256_fmadd_ps(w2, x3, *a1);
  *a2 = _mm256_fmadd_ps(w2, x4, *a2);
  *a3 = _mm256_fmadd_ps(w2, x5, *a3);
}

AVX2 static inline void taps3_s2(const float *xr, int64_t C, __m256 w0, __m256 w1, __m256 w2,
                                 __m256 *a0, __m256 *a1, __m256 *a2, __m256 *a3) {
  __m256 x[9];
  for (int j = 0; j < 9; j++) x[j] = _mm256_loadu_ps(xr + j * C);
  *a0 = _mm256_fmadd_ps(w0, x[0], *a0);
  *a1 = _mm256_fmadd_ps(w0, x[2], *a1);
  *a2 = _mm256_fmadd_ps(w0, x[4], *a2);
  *a3 = _mm256_fmadd_ps(w0, x[6], *a3);
  *a0 = _mm256_fmadd_ps(w1, x[1], *a0);
  *a1 = _mm256_fmadd_ps(w1, x[3], *a1);
  *a2 = _mm256_fmadd_ps(w1, x[5], *a2);
  *a3 = _mm256_fmadd_ps(w1, x[7], *a3);
  *a0 = _mm256_fmadd_ps(w2, x[2], *a0);
  *a1 = _mm256_fmadd_ps(w2, x[4], *a1);
  *a2 = _mm256_fmadd_ps(w2, x[6], *a2);
  *a3 = _mm256_fmadd_ps(w2, x[8], *a3);
}

/* One output row. lo/hi clamp the results (a fused ReLU or Clip; -inf/inf
 * for none) before they are stored. */
AVX2 static void row_avx2(const nnd__conv_geom *g, const float *w, const float *b, bool sum,
                          float lo_v, float hi_v, const float *xn, int64_t oh, float *yrow) {
  const int64_t C = g->c, IH = g->in[1], IW = g->in[2], KH = g->k[1], KW = g->k[2];
  const int64_t sw = g->stride[2], dw = g->dil[2], pw = g->pad_begin[2];
  const int64_t cv = C / 8 * 8; /* channels done with vectors */
  const __m256 lo8 = _mm256_set1_ps(lo_v), hi8 = _mm256_set1_ps(hi_v);
  int64_t lo, hi;
  interior(g, &lo, &hi);
  /* Valid kernel rows for this output row. */
  int64_t kh0 = 0, kh1 = KH;
  while (kh0 < KH && oh * g->stride[1] - g->pad_begin[1] + kh0 * g->dil[1] < 0) kh0++;
  while (kh1 > kh0 && oh * g->stride[1] - g->pad_begin[1] + (kh1 - 1) * g->dil[1] >= IH) kh1--;
  const bool k3 = KW == 3 && dw == 1 && (sw == 1 || sw == 2);
  int64_t ox = 0;
  while (ox < g->out[2]) {
    float *yp = yrow + ox * C;
    if (ox >= lo && ox + 4 <= hi) {
      /* Four interior pixels: every kw is valid for all of them. */
      for (int64_t c = 0; c < cv; c += 8) {
        const __m256 bias = b ? _mm256_loadu_ps(b + c) : _mm256_setzero_ps();
        __m256 a0 = bias, a1 = bias, a2 = bias, a3 = bias;
        if (sum) {
          a0 = _mm256_add_ps(a0, _mm256_loadu_ps(yp + c));
          a1 = _mm256_add_ps(a1, _mm256_loadu_ps(yp + C + c));
          a2 = _mm256_add_ps(a2, _mm256_loadu_ps(yp + 2 * C + c));
          a3 = _mm256_add_ps(a3, _mm256_loadu_ps(yp + 3 * C + c));
        }
        for (int64_t kh = kh0; kh < kh1; kh++) {
          const int64_t ih = oh * g->stride[1] - g->pad_begin[1] + kh * g->dil[1];
          const float *xr = xn + (ih * IW + ox * sw - pw) * C + c;
          const float *wr = w + kh * KW * C + c;
          if (k3) {
            const __m256 w0 = _mm256_loadu_ps(wr), w1 = _mm256_loadu_ps(wr + C),
                         w2 = _mm256_loadu_ps(wr + 2 * C);
            if (sw == 1) taps3_s1(xr, C, w0, w1, w2, &a0, &a1, &a2, &a3);
            else taps3_s2(xr, C, w0, w1, w2, &a0, &a1, &a2, &a3);
            continue;
          }
          for (int64_t kw = 0; kw < KW; kw++) {
            const __m256 wv = _mm256_loadu_ps(wr + kw * C);
            const float *xp = xr + kw * dw * C;
            a0 = _mm256_fmadd_ps(wv, _mm256_loadu_ps(xp), a0);
            a1 = _mm256_fmadd_ps(wv, _mm256_loadu_ps(xp + sw * C), a1);
            a2 = _mm256_fmadd_ps(wv, _mm256_loadu_ps(xp + 2 * sw * C), a2);
            a3 = _mm256_fmadd_ps(wv, _mm256_loadu_ps(xp + 3 * sw * C), a3);
          }
        }
        _mm256_storeu_ps(yp + c, _mm256_min_ps(_mm256_max_ps(a0, lo8), hi8));
        _mm256_storeu_ps(yp + C + c, _mm256_min_ps(_mm256_max_ps(a1, lo8), hi8));
        _mm256_storeu_ps(yp + 2 * C + c, _mm256_min_ps(_mm256_max_ps(a2, lo8), hi8));
        _mm256_storeu_ps(yp + 3 * C + c, _mm256_min_ps(_mm256_max_ps(a3, lo8), hi8));
      }
      if (cv < C)
        for (int j = 0; j < 4; j++) {
          float *yj = yp + j * C;
          for (int64_t c = cv; c < C; c++) yj[c] = (b ? b[c] : 0.f) + (sum ? yj[c] : 0.f);
          for (int64_t kh = kh0; kh < kh1; kh++) {
            const int64_t ih = oh * g->stride[1] - g->pad_begin[1] + kh * g->dil[1];
            for (int64_t kw = 0; kw < KW; kw++) {
              const int64_t iw = (ox + j) * sw - pw + kw * dw;
              const float *xp = xn + (ih * IW + iw) * C;
              const float *wp = w + (kh * KW + kw) * C;
              for (int64_t c = cv; c < C; c++) yj[c] = fmaf(wp[c], xp[c], yj[c]);
            }
          }
          for (int64_t c = cv; c < C; c++) yj[c] = yj[c] < lo_v ? lo_v : (yj[c] > hi_v ? hi_v : yj[c]);
        }
      ox += 4;
      continue;
    }
    /* A border pixel (or the last few interior ones): one at a time. */
    for (int64_t c = 0; c < cv; c += 8) {
      __m256 acc = b ? _mm256_loadu_ps(b + c) : _mm256_setzero_ps();
      if (sum) acc = _mm256_add_ps(acc, _mm256_loadu_ps(yp + c));
      for (int64_t kh = kh0; kh < kh1; kh++) {
        const int64_t ih = oh * g->stride[1] - g->pad_begin[1] + kh * g->dil[1];
        for (int64_t kw = 0; kw < KW; kw++) {
          const int64_t iw = ox * sw - pw + kw * dw;
          if (iw < 0 || iw >= IW) continue;
          acc = _mm256_fmadd_ps(_mm256_loadu_ps(w + (kh * KW + kw) * C + c),
                                _mm256_loadu_ps(xn + (ih * IW + iw) * C + c), acc);
        }
      }
      _mm256_storeu_ps(yp + c, _mm256_min_ps(_mm256_max_ps(acc, lo8), hi8));
    }
    if (cv < C) {
      for (int64_t c = cv; c < C; c++) yp[c] = (b ? b[c] : 0.f) + (sum ? yp[c] : 0.f);
      for (int64_t kh = kh0; kh < kh1; kh++) {
        const int64_t ih = oh * g->stride[1] - g->pad_begin[1] + kh * g->dil[1];
        for (int64_t kw = 0; kw < KW; kw++) {
          const int64_t iw = ox * sw - pw + kw * dw;
          if (iw < 0 || iw >= IW) continue;
          const float *xp = xn + (ih * IW + iw) * C;
          const float *wp = w + (kh * KW + kw) * C;
          for (int64_t c = cv; c < C; c++) yp[c] = fmaf(wp[c], xp[c], yp[c]);
        }
      }
      for (int64_t c = cv; c < C; c++) yp[c] = yp[c] < lo_v ? lo_v : (yp[c] > hi_v ? hi_v : yp[c]);
    }
    ox++;
  }
}
#endif

void nnd__dwconv_nhwc_f32(const nnd__conv_geom *g, const float *w_hwc, const float *b, bool sum,
                          int n_post, const nnd__unary *post, const float *x, float *y) {
  const int64_t rows = g->n * g->out[1];
  const int64_t row_len = g->out[2] * g->c;
  const int64_t work = rows * row_len * g->k[1] * g->k[2];
#ifdef NND_HAVE_X86
  const bool avx2 = nnd__cpu_has_avx2_fma();
  /* A leading ReLU or Clip is applied in registers; the rest per row. */
  float lo = -INFINITY, hi = INFINITY;
  int first = 0;
  if (avx2 && n_post > 0 && post[0].kind == NND__UN_RELU) {
    lo = 0.f;
    first = 1;
  } else if (avx2 && n_post > 0 && post[0].kind == NND__UN_CLIP) {
    lo = (float)post[0].alpha;
    hi = (float)post[0].beta;
    first = 1;
  }
#else
  const int first = 0;
#endif
  NND_OMP_FOR(work >= NND_PAR_MIN_WORK && rows > 1)
  for (int64_t r = 0; r < rows; r++) {
    const int64_t ni = r / g->out[1], oh = r % g->out[1];
    const float *xn = x + ni * g->in[1] * g->in[2] * g->c;
    float *yrow = y + r * row_len;
#ifdef NND_HAVE_X86
    if (avx2) row_avx2(g, w_hwc, b, sum, lo, hi, xn, oh, yrow);
    else row_generic(g, w_hwc, b, sum, xn, oh, yrow);
#else
    row_generic(g, w_hwc, b, sum, xn, oh, yrow);
#endif
    /* Other activations while the row is still in cache. */
    for (int i = first; i < n_post; i++) nnd__unary_f32(&post[i], yrow, yrow, row_len);
  }
}
