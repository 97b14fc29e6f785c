/* Our depthwise convolution (channels last, 2-D, one filter per channel),
 * the layer type GEMM-based convolutions handle worst. The channel dim is
 * contiguous, so vectors run across channels. The AVX2+FMA version
 * (compiled with a target attribute, chosen at run time) has a 3x3 path
 * that keeps eight accumulators in flight (eight interior pixels of one
 * 8-channel block) and loads each input vector once for all the pixels
 * that use it; other shapes take four pixels at a time. A leading ReLU or
 * Clip is applied in registers. The portable version has the plain loop
 * structure. Every output sums bias, then the taps in (kh, kw) order.
 *
 * Measured on MobileNetV2's depthwise layers (bench/bench_dwconv.c, 1
 * thread, Zen3): about 30 GFLOPS against oneDNN's 40, so builds with oneDNN
 * use oneDNN's depthwise kernel and this one serves the others (and any
 * shape or post-op oneDNN refuses). */
#include <math.h>
#include <string.h>

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#define NND_HAVE_X86 1
#endif

#include "ops/fast.h"
#include "ops/parallel.h"

bool nnd__dwconv_supported(const nnd__conv_geom *g) {
  return g->channels_last && g->groups == g->c && g->o == g->c && g->in[0] == 1 && g->k[0] == 1 &&
         g->out[0] == 1;
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
static inline void pixel_generic(const nnd__conv_geom *g, const float *w, const float *b, bool sum,
                                 const float *xn, int64_t oh, int64_t ox, float *yp) {
  const int64_t C = g->c, IH = g->in[1], IW = g->in[2];
  for (int64_t c = 0; c < C; c++)
    yp[c] = (b ? b[c] : 0.f) + (sum ? yp[c] : 0.f);
  for (int64_t kh = 0; kh < g->k[1]; kh++) {
    const int64_t ih = oh * g->stride[1] - g->pad_begin[1] + kh * g->dil[1];
    if (ih < 0 || ih >= IH) continue;
    for (int64_t kw = 0; kw < g->k[2]; kw++) {
      const int64_t iw = ox * g->stride[2] - g->pad_begin[2] + kw * g->dil[2];
      if (iw < 0 || iw >= IW) continue;
      const float *xp = xn + (ih * IW + iw) * C;
      const float *wp = w + (kh * g->k[2] + kw) * C;
      for (int64_t c = 0; c < C; c++)
        yp[c] += wp[c] * xp[c];
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
#ifndef NND_DW_CHUNK
#define NND_DW_CHUNK 16
#endif

/* PX interior pixels of one 3-wide kernel row (dilation 1, stride S), one
 * block of 8 channels: each input vector is loaded once and used at once
 * by every pixel whose window holds it, so one input register is live next
 * to the three weights and the PX accumulators. Eight accumulators keep
 * enough independent FMAs in flight to hide their latency. Each pixel still
 * sums its taps in kw order. */
AVX2 static inline __attribute__((always_inline)) void taps3(const float *xr, int64_t C, int S,
                                                             int PX, const __m256 *w, __m256 *acc) {
#pragma GCC unroll 20
  for (int j = 0; j < (PX - 1) * S + 3; j++) {
    const __m256 x = _mm256_loadu_ps(xr + j * C);
#pragma GCC unroll 8
    for (int p = 0; p < PX; p++) {
      const int kw = j - p * S;
      if (kw >= 0 && kw < 3) acc[p] = _mm256_fmadd_ps(w[kw], x, acc[p]);
    }
  }
}

/* Output pixels [ox, ox + PX) of one 3x3 row, one channel block. */
AVX2 static inline __attribute__((always_inline)) void
block3(const float *const xrow[3], const float *w, int64_t C, int64_t c, int S, int PX, int64_t ox,
       int64_t pw, __m256 bias, bool sum, __m256 lo8, __m256 hi8, float *yp) {
  __m256 acc[8];
#pragma GCC unroll 8
  for (int p = 0; p < PX; p++)
    acc[p] = sum ? _mm256_add_ps(bias, _mm256_loadu_ps(yp + p * C)) : bias;
  for (int kh = 0; kh < 3; kh++) {
    if (!xrow[kh]) continue;
    const __m256 wv[3] = {_mm256_loadu_ps(w + (kh * 3) * C + c),
                          _mm256_loadu_ps(w + (kh * 3 + 1) * C + c),
                          _mm256_loadu_ps(w + (kh * 3 + 2) * C + c)};
    taps3(xrow[kh] + (ox * S - pw) * C, C, S, PX, wv, acc);
  }
#pragma GCC unroll 8
  for (int p = 0; p < PX; p++)
    _mm256_storeu_ps(yp + p * C, _mm256_min_ps(_mm256_max_ps(acc[p], lo8), hi8));
}

/* One output row of a 3x3 kernel (dilation 1, stride 1 or 2), one block of
 * 8 channels at a time over a chunk of pixels (so the input the chunk reads
 * stays in L1 across the channel blocks): blocks of 8 interior pixels,
 * then 4, then single (border) pixels. */
AVX2 static void row3_avx2(const nnd__conv_geom *g, const float *w, const float *b, bool sum,
                           __m256 lo8, __m256 hi8, const float *xn, int64_t oh, float *yrow,
                           int64_t c, int64_t kh0, int64_t kh1, int64_t lo, int64_t hi, int64_t ox,
                           int64_t OW) {
  const int64_t C = g->c, IW = g->in[2];
  const int64_t sw = g->stride[2], pw = g->pad_begin[2];
  const __m256 bias = b ? _mm256_loadu_ps(b + c) : _mm256_setzero_ps();
  const float *xrow[3];
  for (int kh = 0; kh < 3; kh++) {
    const int64_t ih = oh * g->stride[1] - g->pad_begin[1] + kh;
    xrow[kh] = kh >= kh0 && kh < kh1 ? xn + ih * IW * C + c : NULL;
  }
  while (ox < OW) {
    float *yp = yrow + ox * C + c;
    if (ox >= lo && ox + 8 <= hi && ox + 8 <= OW) {
      if (sw == 1)
        block3(xrow, w, C, c, 1, 8, ox, pw, bias, sum, lo8, hi8, yp);
      else
        block3(xrow, w, C, c, 2, 8, ox, pw, bias, sum, lo8, hi8, yp);
      ox += 8;
      continue;
    }
    if (ox >= lo && ox + 4 <= hi && ox + 4 <= OW) {
      if (sw == 1)
        block3(xrow, w, C, c, 1, 4, ox, pw, bias, sum, lo8, hi8, yp);
      else
        block3(xrow, w, C, c, 2, 4, ox, pw, bias, sum, lo8, hi8, yp);
      ox += 4;
      continue;
    }
    __m256 acc = bias;
    if (sum) acc = _mm256_add_ps(acc, _mm256_loadu_ps(yp));
    for (int kh = 0; kh < 3; kh++) {
      if (!xrow[kh]) continue;
      for (int kw = 0; kw < 3; kw++) {
        const int64_t iw = ox * sw - pw + kw;
        if (iw < 0 || iw >= IW) continue;
        acc = _mm256_fmadd_ps(_mm256_loadu_ps(w + (kh * 3 + kw) * C + c),
                              _mm256_loadu_ps(xrow[kh] + iw * C), acc);
      }
    }
    _mm256_storeu_ps(yp, _mm256_min_ps(_mm256_max_ps(acc, lo8), hi8));
    ox++;
  }
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
  while (kh0 < KH && oh * g->stride[1] - g->pad_begin[1] + kh0 * g->dil[1] < 0)
    kh0++;
  while (kh1 > kh0 && oh * g->stride[1] - g->pad_begin[1] + (kh1 - 1) * g->dil[1] >= IH)
    kh1--;
  const bool k3 = KW == 3 && dw == 1 && (sw == 1 || sw == 2);
  if (k3 && KH == 3 && g->dil[1] == 1 && cv == C) {
    /* Chunks of pixels so the input they read stays in L1 across the
     * channel blocks. */
    const int64_t chunk = NND_DW_CHUNK;
    for (int64_t x0 = 0; x0 < g->out[2]; x0 += chunk) {
      const int64_t x1 = x0 + chunk < g->out[2] ? x0 + chunk : g->out[2];
      for (int64_t c = 0; c < C; c += 8)
        row3_avx2(g, w, b, sum, lo8, hi8, xn, oh, yrow, c, kh0, kh1, lo, hi, x0, x1);
    }
    return;
  }
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
            const __m256 wv3[3] = {_mm256_loadu_ps(wr), _mm256_loadu_ps(wr + C),
                                   _mm256_loadu_ps(wr + 2 * C)};
            __m256 acc[4] = {a0, a1, a2, a3};
            if (sw == 1)
              taps3(xr, C, 1, 4, wv3, acc);
            else
              taps3(xr, C, 2, 4, wv3, acc);
            a0 = acc[0];
            a1 = acc[1];
            a2 = acc[2];
            a3 = acc[3];
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
          for (int64_t c = cv; c < C; c++)
            yj[c] = (b ? b[c] : 0.f) + (sum ? yj[c] : 0.f);
          for (int64_t kh = kh0; kh < kh1; kh++) {
            const int64_t ih = oh * g->stride[1] - g->pad_begin[1] + kh * g->dil[1];
            for (int64_t kw = 0; kw < KW; kw++) {
              const int64_t iw = (ox + j) * sw - pw + kw * dw;
              const float *xp = xn + (ih * IW + iw) * C;
              const float *wp = w + (kh * KW + kw) * C;
              for (int64_t c = cv; c < C; c++)
                yj[c] = fmaf(wp[c], xp[c], yj[c]);
            }
          }
          for (int64_t c = cv; c < C; c++)
            yj[c] = yj[c] < lo_v ? lo_v : (yj[c] > hi_v ? hi_v : yj[c]);
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
      for (int64_t c = cv; c < C; c++)
        yp[c] = (b ? b[c] : 0.f) + (sum ? yp[c] : 0.f);
      for (int64_t kh = kh0; kh < kh1; kh++) {
        const int64_t ih = oh * g->stride[1] - g->pad_begin[1] + kh * g->dil[1];
        for (int64_t kw = 0; kw < KW; kw++) {
          const int64_t iw = ox * sw - pw + kw * dw;
          if (iw < 0 || iw >= IW) continue;
          const float *xp = xn + (ih * IW + iw) * C;
          const float *wp = w + (kh * KW + kw) * C;
          for (int64_t c = cv; c < C; c++)
            yp[c] = fmaf(wp[c], xp[c], yp[c]);
        }
      }
      for (int64_t c = cv; c < C; c++)
        yp[c] = yp[c] < lo_v ? lo_v : (yp[c] > hi_v ? hi_v : yp[c]);
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
    if (avx2)
      row_avx2(g, w_hwc, b, sum, lo, hi, xn, oh, yrow);
    else
      row_generic(g, w_hwc, b, sum, xn, oh, yrow);
#else
    row_generic(g, w_hwc, b, sum, xn, oh, yrow);
#endif
    /* Other activations while the row is still in cache. */
    for (int i = first; i < n_post; i++)
      nnd__unary_f32(&post[i], yrow, yrow, row_len);
  }
}
