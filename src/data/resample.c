/* Image resizing that reproduces Pillow's, bit for bit, on 8-bit images.
 *
 * torchvision's Resize on PIL images and Keras' load_img call Pillow's
 * Image.resize; a model trained on its output is sensitive to the exact
 * pixels. Pillow (libImaging/Resample.c) resamples separably, horizontal pass
 * first into an 8-bit intermediate, with a triangle filter whose support is
 * scaled by the downscale factor (so downscaling averages, "antialiased"),
 * coefficients computed in double and rounded to 22-bit fixed point, sums
 * rounded and clipped to 8 bits. NEAREST is Pillow's affine scale with pixel
 * centres stepped in double. The arithmetic below follows Pillow's operation
 * for operation: do not "simplify" it (and this file is compiled with
 * -ffp-contract=off so no FMA changes a coefficient). */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "nndiff/data.h"
#include "util/checked_math.h"

#if defined(__clang__)
#pragma STDC FP_CONTRACT OFF
#endif

enum { PRECISION_BITS = 32 - 8 - 2 };

typedef struct coeffs {
  int ksize;
  int *bounds; /* per output index: first input index, number of taps */
  int32_t *kk; /* per output index: ksize fixed-point weights */
} coeffs;

static double bilinear_filter(double x) {
  if (x < 0.0) x = -x;
  if (x < 1.0) return 1.0 - x;
  return 0.0;
}

static void coeffs_free(coeffs *c) {
  free(c->bounds);
  free(c->kk);
}

/* Pillow's precompute_coeffs + normalize_coeffs_8bpc for the box [in0, in1). */
static int precompute_coeffs(int in_size, float in0, float in1, int out_size, coeffs *c) {
  const double filter_support = 1.0;
  double scale, filterscale, support;
  filterscale = scale = (double)(in1 - in0) / out_size;
  if (filterscale < 1.0) filterscale = 1.0;
  support = filter_support * filterscale;
  int ksize = (int)ceil(support) * 2 + 1;
  size_t n;
  if (!nnd__mul_size((size_t)out_size, (size_t)ksize, &n)) return -1;
  double *prekk = malloc((n ? n : 1) * sizeof(double));
  c->bounds = malloc((size_t)out_size * 2 * sizeof(int));
  c->kk = malloc((n ? n : 1) * sizeof(int32_t));
  if (!prekk || !c->bounds || !c->kk) {
    free(prekk);
    coeffs_free(c);
    return -1;
  }
  for (int xx = 0; xx < out_size; xx++) {
    double center = in0 + (xx + 0.5) * scale;
    double ww = 0.0;
    double ss = 1.0 / filterscale;
    int xmin = (int)(center - support + 0.5); /* Pillow: "Round the value" */
    if (xmin < 0) xmin = 0;
    int xmax = (int)(center + support + 0.5);
    if (xmax > in_size) xmax = in_size;
    xmax -= xmin;
    double *k = &prekk[(size_t)xx * (size_t)ksize];
    int x;
    for (x = 0; x < xmax; x++) {
      double w = bilinear_filter((x + xmin - center + 0.5) * ss);
      k[x] = w;
      ww += w;
    }
    for (x = 0; x < xmax; x++) {
      if (ww != 0.0) k[x] /= ww;
    }
    for (; x < ksize; x++)
      k[x] = 0;
    c->bounds[xx * 2 + 0] = xmin;
    c->bounds[xx * 2 + 1] = xmax;
  }
  for (size_t i = 0; i < n; i++) {
    if (prekk[i] < 0)
      c->kk[i] = (int32_t)(-0.5 + prekk[i] * (1 << PRECISION_BITS));
    else
      c->kk[i] = (int32_t)(0.5 + prekk[i] * (1 << PRECISION_BITS));
  }
  free(prekk);
  c->ksize = ksize;
  return 0;
}

static inline unsigned char clip8(int64_t ss) {
  if (ss < 0) return 0;
  int64_t v = ss >> PRECISION_BITS;
  return (unsigned char)(v > 255 ? 255 : v);
}

/* out rows y = 0..out_h-1 come from input rows y + row_offset. */
static void resample_horizontal(const unsigned char *in, int64_t in_w, int ch, unsigned char *out,
                                int64_t out_w, int64_t out_h, int64_t row_offset, const coeffs *c) {
  for (int64_t y = 0; y < out_h; y++) {
    const unsigned char *src = in + (size_t)(y + row_offset) * (size_t)in_w * (size_t)ch;
    unsigned char *dst = out + (size_t)y * (size_t)out_w * (size_t)ch;
    for (int64_t xx = 0; xx < out_w; xx++) {
      int xmin = c->bounds[xx * 2], xmax = c->bounds[xx * 2 + 1];
      const int32_t *k = &c->kk[(size_t)xx * (size_t)c->ksize];
      for (int b = 0; b < ch; b++) {
        int64_t ss = 1 << (PRECISION_BITS - 1);
        for (int x = 0; x < xmax; x++)
          ss += (int64_t)src[(size_t)(x + xmin) * (size_t)ch + (size_t)b] * k[x];
        dst[(size_t)xx * (size_t)ch + (size_t)b] = clip8(ss);
      }
    }
  }
}

static void resample_vertical(const unsigned char *in, int64_t w, int ch, unsigned char *out,
                              int64_t out_h, const coeffs *c) {
  size_t stride = (size_t)w * (size_t)ch;
  for (int64_t yy = 0; yy < out_h; yy++) {
    int ymin = c->bounds[yy * 2], ymax = c->bounds[yy * 2 + 1];
    const int32_t *k = &c->kk[(size_t)yy * (size_t)c->ksize];
    unsigned char *dst = out + (size_t)yy * stride;
    for (size_t i = 0; i < stride; i++) {
      int64_t ss = 1 << (PRECISION_BITS - 1);
      for (int y = 0; y < ymax; y++)
        ss += (int64_t)in[(size_t)(y + ymin) * stride + i] * k[y];
      dst[i] = clip8(ss);
    }
  }
}

static nnd_status resize_bilinear(const nnd_image *in, int64_t out_w, int64_t out_h, nnd_image *out,
                                  nnd_error *err) {
  int ch = in->channels;
  int need_h = out_w != in->width, need_v = out_h != in->height;
  coeffs ch_h = {0}, cv = {0};
  unsigned char *tmp = NULL, *res = NULL;
  if (precompute_coeffs((int)in->width, 0.0f, (float)in->width, (int)out_w, &ch_h) != 0 ||
      precompute_coeffs((int)in->height, 0.0f, (float)in->height, (int)out_h, &cv) != 0)
    goto nomem;
  /* Only the input rows the vertical pass reads go through the first pass. */
  int ybox_first = cv.bounds[0];
  int ybox_last = cv.bounds[out_h * 2 - 2] + cv.bounds[out_h * 2 - 1];
  const unsigned char *src = in->pixels;
  int64_t src_h = in->height;
  if (need_h) {
    for (int64_t i = 0; i < out_h; i++)
      cv.bounds[i * 2] -= ybox_first;
    int64_t th = ybox_last - ybox_first;
    tmp = malloc((size_t)out_w * (size_t)(th > 0 ? th : 1) * (size_t)ch);
    if (!tmp) goto nomem;
    resample_horizontal(in->pixels, in->width, ch, tmp, out_w, th, ybox_first, &ch_h);
    src = tmp;
    src_h = th;
  }
  res = malloc((size_t)out_w * (size_t)out_h * (size_t)ch);
  if (!res) goto nomem;
  if (need_v)
    resample_vertical(src, out_w, ch, res, out_h, &cv);
  else
    memcpy(res, src, (size_t)out_w * (size_t)src_h * (size_t)ch);
  free(tmp);
  coeffs_free(&ch_h);
  coeffs_free(&cv);
  out->width = out_w;
  out->height = out_h;
  out->channels = ch;
  out->pixels = res;
  return NND_OK;
nomem:
  free(tmp);
  free(res);
  coeffs_free(&ch_h);
  coeffs_free(&cv);
  return nnd_error_set(err, NND_ERR_NOMEM, "out of memory resizing %lldx%lld to %lldx%lld",
                       (long long)in->width, (long long)in->height, (long long)out_w,
                       (long long)out_h);
}

/* Pillow's ImagingScaleAffine: source index = (int)(centre of the output
 * pixel in source coordinates), the centre advanced by repeated addition. */
static nnd_status resize_nearest(const nnd_image *in, int64_t out_w, int64_t out_h, nnd_image *out,
                                 nnd_error *err) {
  int ch = in->channels;
  int64_t *xin = malloc((size_t)out_w * sizeof *xin);
  unsigned char *res = malloc((size_t)out_w * (size_t)out_h * (size_t)ch);
  if (!xin || !res) {
    free(xin);
    free(res);
    return nnd_error_set(err, NND_ERR_NOMEM, "out of memory resizing to %lldx%lld",
                         (long long)out_w, (long long)out_h);
  }
  double a0 = (double)((float)in->width - 0.0f) / (double)out_w;
  double a4 = (double)((float)in->height - 0.0f) / (double)out_h;
  double xo = 0.0 + a0 * 0.5;
  for (int64_t x = 0; x < out_w; x++) {
    int64_t v = xo < 0.0 ? -1 : (int64_t)xo;
    xin[x] = v < 0 ? 0 : v >= in->width ? in->width - 1 : v;
    xo += a0;
  }
  double yo = 0.0 + a4 * 0.5;
  size_t in_stride = (size_t)in->width * (size_t)ch;
  for (int64_t y = 0; y < out_h; y++) {
    int64_t yi = yo < 0.0 ? -1 : (int64_t)yo;
    if (yi < 0) yi = 0;
    if (yi >= in->height) yi = in->height - 1;
    const unsigned char *src = in->pixels + (size_t)yi * in_stride;
    unsigned char *dst = res + (size_t)y * (size_t)out_w * (size_t)ch;
    for (int64_t x = 0; x < out_w; x++)
      memcpy(dst + (size_t)x * (size_t)ch, src + (size_t)xin[x] * (size_t)ch, (size_t)ch);
    yo += a4;
  }
  free(xin);
  out->width = out_w;
  out->height = out_h;
  out->channels = ch;
  out->pixels = res;
  return NND_OK;
}

nnd_status nnd_image_resize(const nnd_image *in, int64_t width, int64_t height,
                            nnd_resize_filter filter, nnd_image *out, nnd_error *err) {
  memset(out, 0, sizeof *out);
  if (!in || !in->pixels || in->width <= 0 || in->height <= 0 ||
      (in->channels != 1 && in->channels != 3))
    return nnd_error_set(err, NND_ERR_USAGE, "resize: bad input image");
  int64_t px;
  if (width <= 0 || height <= 0 || width > INT32_MAX / 4 || height > INT32_MAX / 4 ||
      in->width > INT32_MAX / 4 || in->height > INT32_MAX / 4 ||
      !nnd__mul_i64(width, height, &px) || px > ((int64_t)1 << 31))
    return nnd_error_set(err, NND_ERR_USAGE,
                         "resizing %lldx%lld to %lldx%lld: the target is past the resampler's "
                         "limits (2^31 pixels, 2^29 per side)",
                         (long long)in->width, (long long)in->height, (long long)width,
                         (long long)height);
  if (width == in->width && height == in->height) { /* Pillow returns a copy */
    size_t n = (size_t)width * (size_t)height * (size_t)in->channels;
    out->pixels = malloc(n);
    if (!out->pixels) return nnd_error_set(err, NND_ERR_NOMEM, "resize: out of memory");
    memcpy(out->pixels, in->pixels, n);
    out->width = width;
    out->height = height;
    out->channels = in->channels;
    return NND_OK;
  }
  if (filter == NND_FILTER_NEAREST) return resize_nearest(in, width, height, out, err);
  return resize_bilinear(in, width, height, out, err);
}

nnd_status nnd_image_crop(const nnd_image *in, int64_t left, int64_t top, int64_t width,
                          int64_t height, nnd_image *out, nnd_error *err) {
  memset(out, 0, sizeof *out);
  int64_t px;
  if (!in || !in->pixels || width <= 0 || height <= 0 || !nnd__mul_i64(width, height, &px) ||
      px > ((int64_t)1 << 31) || left < -width || top < -height || left > in->width ||
      top > in->height)
    return nnd_error_set(err, NND_ERR_USAGE, "crop: bad window %lldx%lld at (%lld,%lld)",
                         (long long)width, (long long)height, (long long)left, (long long)top);
  int ch = in->channels;
  unsigned char *res = calloc((size_t)px, (size_t)ch);
  if (!res) return nnd_error_set(err, NND_ERR_NOMEM, "crop: out of memory");
  int64_t x0 = left < 0 ? 0 : left, x1 = left + width < in->width ? left + width : in->width;
  for (int64_t y = 0; y < height; y++) {
    int64_t sy = top + y;
    if (sy < 0 || sy >= in->height || x1 <= x0) continue;
    memcpy(res + ((size_t)y * (size_t)width + (size_t)(x0 - left)) * (size_t)ch,
           in->pixels + ((size_t)sy * (size_t)in->width + (size_t)x0) * (size_t)ch,
           (size_t)(x1 - x0) * (size_t)ch);
  }
  out->width = width;
  out->height = height;
  out->channels = ch;
  out->pixels = res;
  return NND_OK;
}

nnd_status nnd_image_to_gray(const nnd_image *in, nnd_image *out, nnd_error *err) {
  memset(out, 0, sizeof *out);
  if (!in || !in->pixels || (in->channels != 1 && in->channels != 3))
    return nnd_error_set(err, NND_ERR_USAGE, "to_gray: bad input image");
  size_t n = (size_t)in->width * (size_t)in->height;
  unsigned char *res = malloc(n ? n : 1);
  if (!res) return nnd_error_set(err, NND_ERR_NOMEM, "to_gray: out of memory");
  if (in->channels == 1) {
    memcpy(res, in->pixels, n);
  } else {
    for (size_t i = 0; i < n; i++) { /* Pillow's rgb2l (L24) */
      const unsigned char *p = in->pixels + 3 * i;
      res[i] = (unsigned char)((p[0] * 19595u + p[1] * 38470u + p[2] * 7471u + 0x8000u) >> 16);
    }
  }
  out->width = in->width;
  out->height = in->height;
  out->channels = 1;
  out->pixels = res;
  return NND_OK;
}
