/* Parameter comparison and the pattern detectors: is a target tensor the
 * source's up to float rounding, or the source's under a recognisable
 * transformation (a reversed axis, rolled rows, a flipped kernel, reduced
 * precision, per-channel scaling), or something else?
 *
 * Tolerance: element k of output row o differs when
 *   |Ps - Pt| > rtol * max_j |Ps[o, j]|         (weights)
 *   |Ps - Pt| > rtol * mag[o] + tiny             (bias; mag = the terms it was folded from)
 * which passes the float32 rounding of BatchNorm folding (a few 1e-7 of
 * the value) and catches float16 rounding (2^-11 of the value) of the
 * largest elements of every row. */
#include <float.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "analysis/localize_internal.h"
#include "nndiff/localize.h"

const char *nnd_param_pattern_name(nnd_param_pattern p) {
  switch (p) {
  case NND_PARAM_EQUAL: return "equal";
  case NND_PARAM_MISSING: return "missing";
  case NND_PARAM_ZEROED: return "zeroed";
  case NND_PARAM_IN_CHANNELS_REVERSED: return "in_channels_reversed";
  case NND_PARAM_ROWS_ROLLED: return "rows_rolled";
  case NND_PARAM_KERNEL_FLIPPED: return "kernel_flipped";
  case NND_PARAM_KERNEL_TRANSPOSED: return "kernel_transposed";
  case NND_PARAM_FLOAT16: return "float16";
  case NND_PARAM_BFLOAT16: return "bfloat16";
  case NND_PARAM_CHANNEL_SCALED: return "channel_scaled";
  case NND_PARAM_PERTURBED: return "perturbed";
  case NND_PARAM_REPLACED: return "replaced";
  case NND_PARAM_SHAPE: return "shape";
  }
  return "?";
}

/* Rounds x to a binary float with `mant` explicit mantissa bits and
 * minimum normal exponent emin (2^emin), max finite value maxv. */
static double round_to(double x, int mant, int emin, double maxv) {
  if (x == 0 || isnan(x) || isinf(x)) return x;
  double ax = fabs(x);
  int e;
  frexp(ax, &e); /* ax = m * 2^e, m in [0.5, 1) */
  e -= 1;        /* ax in [2^e, 2^(e+1)) */
  if (e < emin) e = emin;
  double ulp = ldexp(1.0, e - mant);
  double r = nearbyint(ax / ulp) * ulp; /* round half to even (default mode) */
  if (r > maxv) {
    /* values that round above the largest finite one overflow */
    return x < 0 ? -INFINITY : INFINITY;
  }
  return x < 0 ? -r : r;
}

double nnd_round_f16(double x) { return round_to(x, 10, -14, 65504.0); }
double nnd_round_bf16(double x) { return round_to(x, 7, -126, 3.3895313892515355e38); }

/* Half an ulp of the format at x. */
static double half_ulp(double x, int mant, int emin) {
  double ax = fabs(x);
  int e = emin;
  if (ax > 0) {
    frexp(ax, &e);
    e -= 1;
    if (e < emin) e = emin;
  }
  return ldexp(1.0, e - mant - 1);
}

/* View of a weight tensor as [O, I, H, W] (H*W = the rest). */
typedef struct wview {
  int64_t O, I, H, W, n;
} wview;

static wview view_of(int rank, const int64_t *dims) {
  wview v = {1, 1, 1, 1, 1};
  if (rank >= 1) v.O = dims[0];
  if (rank >= 2) v.I = dims[1];
  if (rank == 3) v.W = dims[2];
  if (rank >= 4) {
    v.H = dims[2];
    v.W = dims[3];
    for (int d = 4; d < rank; d++)
      v.W *= dims[d];
  }
  v.n = v.O * v.I * v.H * v.W;
  return v;
}

typedef enum xform {
  X_NONE,
  X_IN_REVERSE,
  X_ROLL,
  X_FLIP_H,
  X_FLIP_W,
  X_FLIP_HW,
  X_TRANSPOSE_HW
} xform;

/* Source index that lands on target index k under transform x. */
static int64_t src_index(const wview *v, xform x, int64_t shift, int64_t k) {
  int64_t w = k % v->W, h = (k / v->W) % v->H, i = (k / (v->W * v->H)) % v->I,
          o = k / (v->W * v->H * v->I);
  switch (x) {
  case X_IN_REVERSE: i = v->I - 1 - i; break;
  case X_ROLL: o = ((o - shift) % v->O + v->O) % v->O; break;
  case X_FLIP_H: h = v->H - 1 - h; break;
  case X_FLIP_W: w = v->W - 1 - w; break;
  case X_FLIP_HW:
    h = v->H - 1 - h;
    w = v->W - 1 - w;
    break;
  case X_TRANSPOSE_HW: {
    int64_t t = h;
    h = w;
    w = t;
    break;
  }
  default: break;
  }
  return ((o * v->I + i) * v->H + h) * v->W + w;
}

/* Number of elements beyond tolerance when the target is compared with
 * the transformed source; stops counting at `stop`. */
static int64_t count_beyond(const double *s, const double *t, const wview *v,
                            const double *rowscale, xform x, int64_t shift, double rtol,
                            int64_t stop) {
  int64_t bad = 0;
  int64_t per = v->n / (v->O ? v->O : 1);
  for (int64_t k = 0; k < v->n; k++) {
    int64_t j = src_index(v, x, shift, k);
    double tol = rtol * rowscale[j / per] + 1e-30;
    if (!(fabs(t[k] - s[j]) <= tol) && ++bad >= stop) return bad;
  }
  return bad;
}

void nnd_param_compare_weights(const double *s, const double *t, int rank, const int64_t *dims,
                               double rtol, nnd_param_diff *out) {
  memset(out, 0, sizeof *out);
  wview v = view_of(rank, dims);
  out->n_total = v.n;
  if (v.n <= 0 || !s || !t) return;
  double *rowscale = calloc((size_t)v.O, sizeof *rowscale);
  if (!rowscale) return;
  int64_t per = v.n / v.O;
  double sum_abs = 0, sum_src = 0, d2 = 0, s2 = 0, t2 = 0, st = 0;
  for (int64_t o = 0; o < v.O; o++) {
    double m = 0;
    for (int64_t k = 0; k < per; k++)
      m = fmax(m, fabs(s[o * per + k]));
    rowscale[o] = m;
  }
  for (int64_t k = 0; k < v.n; k++) {
    double d = t[k] - s[k];
    double ad = fabs(d);
    sum_abs += ad;
    sum_src += fabs(s[k]);
    d2 += d * d;
    s2 += s[k] * s[k];
    t2 += t[k] * t[k];
    st += s[k] * t[k];
    if (ad > out->max_abs) out->max_abs = ad;
    double sc = rowscale[k / per];
    double rel = sc > 0 ? ad / sc : (ad > 0 ? INFINITY : 0);
    if (rel > out->max_rel) out->max_rel = rel;
    if (!(ad <= rtol * sc + 1e-30)) out->n_differ++;
  }
  out->mean_abs = sum_abs / (double)v.n;
  out->mean_abs_source = sum_src / (double)v.n;
  out->rel_l2 = s2 > 0 ? sqrt(d2 / s2) : sqrt(d2);
  out->cosine = s2 > 0 && t2 > 0 ? st / sqrt(s2 * t2) : (s2 == t2 ? 1.0 : 0.0);
  if (out->n_differ == 0) {
    out->pattern = NND_PARAM_EQUAL;
    goto done;
  }
  if (t2 == 0) {
    out->pattern = NND_PARAM_ZEROED;
    goto done;
  }
  /* Exact transforms of the source. */
  if (v.I > 1 && count_beyond(s, t, &v, rowscale, X_IN_REVERSE, 0, rtol, 1) == 0) {
    out->pattern = NND_PARAM_IN_CHANNELS_REVERSED;
    goto done;
  }
  if (v.O > 1) {
    for (int64_t k = 1; k <= 3 && k < v.O; k++)
      for (int sign = 1; sign >= -1; sign -= 2)
        if (count_beyond(s, t, &v, rowscale, X_ROLL, sign * k, rtol, 1) == 0) {
          out->pattern = NND_PARAM_ROWS_ROLLED;
          out->shift = sign * k;
          goto done;
        }
  }
  if (v.H > 1 || v.W > 1) {
    static const xform flips[] = {X_FLIP_HW, X_FLIP_H, X_FLIP_W};
    static const int axes[] = {3, 1, 2};
    for (int f = 0; f < 3; f++) {
      if ((flips[f] == X_FLIP_H && v.H < 2) || (flips[f] == X_FLIP_W && v.W < 2)) continue;
      if (count_beyond(s, t, &v, rowscale, flips[f], 0, rtol, 1) == 0) {
        out->pattern = NND_PARAM_KERNEL_FLIPPED;
        out->flip_axes = axes[f];
        goto done;
      }
    }
    if (v.H == v.W && v.H > 1 &&
        count_beyond(s, t, &v, rowscale, X_TRANSPOSE_HW, 0, rtol, 1) == 0) {
      out->pattern = NND_PARAM_KERNEL_TRANSPOSED;
      goto done;
    }
  }
  /* Reduced precision: every target element is representable and within
   * half an ulp (plus the folding tolerance) of the source. */
  {
    static const struct {
      int mant, emin;
      nnd_param_pattern p;
    } fmts[] = {{10, -14, NND_PARAM_FLOAT16}, {7, -126, NND_PARAM_BFLOAT16}};
    for (int f = 0; f < 2; f++) {
      int64_t repr = 0, near = 0;
      for (int64_t k = 0; k < v.n; k++) {
        double r = fmts[f].p == NND_PARAM_FLOAT16 ? nnd_round_f16(t[k]) : nnd_round_bf16(t[k]);
        if (r == t[k]) repr++;
        double tol =
            half_ulp(s[k], fmts[f].mant, fmts[f].emin) * 1.001 + rtol * 0.1 * rowscale[k / per];
        if (fabs(t[k] - s[k]) <= tol) near++;
      }
      if ((double)repr >= 0.999 * (double)v.n && (double)near >= 0.999 * (double)v.n) {
        out->pattern = fmts[f].p;
        goto done;
      }
    }
  }
  /* Per-output-channel scaling. */
  {
    bool scaled = true;
    double lo = INFINITY, hi = -INFINITY;
    for (int64_t o = 0; o < v.O && scaled; o++) {
      const double *a = s + o * per, *b = t + o * per;
      double ab = 0, aa = 0, bb = 0;
      for (int64_t k = 0; k < per; k++) {
        ab += a[k] * b[k];
        aa += a[k] * a[k];
        bb += b[k] * b[k];
      }
      if (aa == 0) {
        if (bb != 0) scaled = false;
        continue;
      }
      double r = ab / aa, res = 0;
      for (int64_t k = 0; k < per; k++) {
        double e = b[k] - r * a[k];
        res += e * e;
      }
      if (!(res <= 1e-8 * bb) || !(r > 0)) scaled = false;
      lo = fmin(lo, r);
      hi = fmax(hi, r);
    }
    if (scaled && v.O > 1 && per > 1) {
      out->pattern = NND_PARAM_CHANNEL_SCALED;
      out->scale_min = lo;
      out->scale_max = hi;
      goto done;
    }
  }
  out->pattern = out->cosine > 0.9 ? NND_PARAM_PERTURBED : NND_PARAM_REPLACED;
done:
  free(rowscale);
}

void nnd_param_compare_bias(const double *s, const double *mag, const double *t, int64_t n,
                            double rtol, int64_t shift, nnd_param_diff *out) {
  memset(out, 0, sizeof *out);
  out->n_total = n;
  if (n <= 0) return;
  double smax = 0;
  for (int64_t k = 0; k < n; k++)
    smax = fmax(smax, fabs(s ? s[k] : 0));
  double sum_abs = 0, sum_src = 0, d2 = 0, s2 = 0, t2 = 0, st = 0;
  bool t_zero = true;
  for (int64_t k = 0; k < n; k++) {
    double sv = s ? s[k] : 0, tv = t ? t[k] : 0;
    double d = tv - sv, ad = fabs(d);
    double m = mag ? mag[k] : fabs(sv);
    sum_abs += ad;
    sum_src += fabs(sv);
    d2 += d * d;
    s2 += sv * sv;
    t2 += tv * tv;
    st += sv * tv;
    if (tv != 0) t_zero = false;
    out->max_abs = fmax(out->max_abs, ad);
    double rel = smax > 0 ? ad / smax : (ad > 0 ? INFINITY : 0);
    out->max_rel = fmax(out->max_rel, rel);
    if (!(ad <= rtol * m + 1e-12 * smax + 1e-30)) out->n_differ++;
  }
  out->mean_abs = sum_abs / (double)n;
  out->mean_abs_source = sum_src / (double)n;
  out->rel_l2 = s2 > 0 ? sqrt(d2 / s2) : sqrt(d2);
  out->cosine = s2 > 0 && t2 > 0 ? st / sqrt(s2 * t2) : (s2 == t2 ? 1.0 : 0.0);
  if (out->n_differ == 0) {
    out->pattern = NND_PARAM_EQUAL;
    return;
  }
  if (!t) {
    out->pattern = NND_PARAM_MISSING;
    return;
  }
  if (t_zero) {
    out->pattern = NND_PARAM_ZEROED;
    return;
  }
  int64_t shifts[7] = {shift, 1, -1, 2, -2, 3, -3};
  for (int i = 0; i < 7; i++) {
    int64_t sh = shifts[i];
    if (sh == 0 || (i > 0 && sh == shift) || n < 2) continue;
    bool ok = true;
    for (int64_t k = 0; k < n && ok; k++) {
      int64_t j = ((k - sh) % n + n) % n;
      double m = mag ? mag[j] : fabs(s[j]);
      if (!(fabs(t[k] - s[j]) <= rtol * m + 1e-12 * smax + 1e-30)) ok = false;
    }
    if (ok) {
      out->pattern = NND_PARAM_ROWS_ROLLED;
      out->shift = sh;
      return;
    }
  }
  out->pattern = out->cosine > 0.9 ? NND_PARAM_PERTURBED : NND_PARAM_REPLACED;
}
