/* Preprocessing presets, their overrides, a one-line description, and the
 * pipeline itself: decoded RGB8 -> [central fraction crop] -> resize (Pillow)
 * -> centre crop (torchvision rounding) -> float32 normalisation -> layout.
 *
 * The float arithmetic mirrors the zoos' own: torchvision computes
 * (x.float() / 255 - mean) / std in float32, Keras (x / 127.5) - 1 or
 * x - mean in float32; we compute (x / (1/scale) - mean) / std in float32,
 * which gives the same float for the same pixel. */
#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "nndiff/data.h"
#include "util/checked_math.h"

static const double imagenet_mean[3] = {0.485, 0.456, 0.406};
static const double imagenet_std[3] = {0.229, 0.224, 0.225};

typedef struct preset_def {
  const char *name, *alias;
  void (*fill)(nnd_preprocess *pp);
} preset_def;

static void set3(double *dst, double a, double b, double c) {
  dst[0] = a;
  dst[1] = b;
  dst[2] = c;
}

static void fill_torchvision(nnd_preprocess *pp) {
  pp->resize = NND_RESIZE_SHORTER;
  pp->size = 256;
  pp->out_height = pp->out_width = 224;
  pp->scale = 1.0 / 255.0;
  memcpy(pp->mean, imagenet_mean, sizeof pp->mean);
  memcpy(pp->std, imagenet_std, sizeof pp->std);
  pp->layout = NND_DATA_LAYOUT_NCHW;
}

static void fill_keras_tf(nnd_preprocess *pp) {
  pp->resize = NND_RESIZE_DIRECT;
  pp->scale = 1.0 / 127.5;
  set3(pp->mean, 1, 1, 1);
  pp->layout = NND_DATA_LAYOUT_NHWC;
}

static void fill_keras_caffe(nnd_preprocess *pp) {
  pp->resize = NND_RESIZE_DIRECT;
  pp->order = NND_ORDER_BGR;
  set3(pp->mean, 103.939, 116.779, 123.68); /* B, G, R */
  pp->layout = NND_DATA_LAYOUT_NHWC;
}

static void fill_keras_torch(nnd_preprocess *pp) {
  pp->resize = NND_RESIZE_DIRECT;
  pp->scale = 1.0 / 255.0;
  memcpy(pp->mean, imagenet_mean, sizeof pp->mean);
  memcpy(pp->std, imagenet_std, sizeof pp->std);
  pp->layout = NND_DATA_LAYOUT_NHWC;
}

static void fill_inception(nnd_preprocess *pp) {
  pp->central_fraction = 0.875;
  pp->resize = NND_RESIZE_DIRECT;
  pp->scale = 1.0 / 127.5;
  set3(pp->mean, 1, 1, 1);
  pp->layout = NND_DATA_LAYOUT_NHWC;
}

static void fill_raw(nnd_preprocess *pp) {
  pp->resize = NND_RESIZE_DIRECT;
  pp->layout = NND_DATA_LAYOUT_NCHW;
}

static const preset_def presets[] = {
    {"torchvision", NULL, fill_torchvision},    {"keras-tf", "tf", fill_keras_tf},
    {"keras-caffe", "caffe", fill_keras_caffe}, {"keras-torch", NULL, fill_keras_torch},
    {"inception", NULL, fill_inception},        {"raw", NULL, fill_raw},
};

const char *nnd_preprocess_preset_names(void) {
  return "torchvision keras-tf keras-caffe keras-torch inception raw";
}

nnd_status nnd_preprocess_preset(const char *name, nnd_preprocess *out, nnd_error *err) {
  for (size_t i = 0; i < sizeof presets / sizeof presets[0]; i++) {
    if (strcmp(name, presets[i].name) != 0 &&
        !(presets[i].alias && !strcmp(name, presets[i].alias)))
      continue;
    memset(out, 0, sizeof *out);
    snprintf(out->preset, sizeof out->preset, "%s", presets[i].name);
    out->central_fraction = 1.0;
    out->filter = NND_FILTER_BILINEAR;
    out->scale = 1.0;
    set3(out->std, 1, 1, 1);
    out->order = NND_ORDER_RGB;
    presets[i].fill(out);
    return NND_OK;
  }
  return nnd_error_set(err, NND_ERR_USAGE, "unknown preprocessing preset '%s' (known: %s)", name,
                       nnd_preprocess_preset_names());
}

/* ---- overrides ---- */

static int parse_double(const char *s, double *out) {
  if (!s || !*s) return -1;
  char *end;
  errno = 0;
  double v = strtod(s, &end);
  if (errno || end == s || *end || !isfinite(v)) return -1;
  *out = v;
  return 0;
}

static int parse_int(const char *s, int64_t *out) {
  if (!s || !*s || !isdigit((unsigned char)*s)) return -1;
  char *end;
  errno = 0;
  long long v = strtoll(s, &end, 10);
  if (errno || *end || v < 0 || v > 65536) return -1;
  *out = v;
  return 0;
}

/* "a" or "a,b,c" */
static int parse_triple(const char *s, double out[3]) {
  char buf[128];
  if (!s || strlen(s) >= sizeof buf) return -1;
  strcpy(buf, s);
  double v[3];
  int n = 0;
  for (char *tok = strtok(buf, ","); tok; tok = strtok(NULL, ",")) {
    if (n == 3 || parse_double(tok, &v[n]) != 0) return -1;
    n++;
  }
  if (n == 1)
    v[1] = v[2] = v[0];
  else if (n != 3)
    return -1;
  memcpy(out, v, sizeof v);
  return 0;
}

nnd_status nnd_preprocess_set(nnd_preprocess *pp, const char *key, const char *value,
                              nnd_error *err) {
  if (!key || !value)
    return nnd_error_set(err, NND_ERR_USAGE, "preprocessing option needs key=value");
  unsigned bit = 0;
  const char *expect = NULL;
  if (!strcmp(key, "preset")) {
    return nnd_preprocess_preset(value, pp, err);
  } else if (!strcmp(key, "size")) {
    bit = NND_PP_KEY_SIZE;
    if (parse_int(value, &pp->size) != 0) expect = "an integer 0..65536";
  } else if (!strcmp(key, "crop")) {
    bit = NND_PP_KEY_CROP;
    int64_t h, w;
    const char *x = strchr(value, 'x');
    char hbuf[32];
    if (x && (size_t)(x - value) < sizeof hbuf) {
      memcpy(hbuf, value, (size_t)(x - value));
      hbuf[x - value] = '\0';
      if (parse_int(hbuf, &h) != 0 || parse_int(x + 1, &w) != 0 || (h == 0) != (w == 0))
        expect = "N or HxW";
    } else if (parse_int(value, &h) == 0) {
      w = h;
    } else {
      expect = "N or HxW";
    }
    if (!expect) {
      pp->out_height = h;
      pp->out_width = w;
    }
  } else if (!strcmp(key, "fraction")) {
    bit = NND_PP_KEY_FRACTION;
    double f;
    if (parse_double(value, &f) != 0 || !(f > 0.0 && f <= 1.0))
      expect = "a number in (0, 1]";
    else
      pp->central_fraction = f;
  } else if (!strcmp(key, "resize")) {
    bit = NND_PP_KEY_RESIZE;
    if (!strcmp(value, "shorter"))
      pp->resize = NND_RESIZE_SHORTER;
    else if (!strcmp(value, "direct"))
      pp->resize = NND_RESIZE_DIRECT;
    else
      expect = "shorter or direct";
  } else if (!strcmp(key, "filter")) {
    bit = NND_PP_KEY_FILTER;
    if (!strcmp(value, "bilinear"))
      pp->filter = NND_FILTER_BILINEAR;
    else if (!strcmp(value, "nearest"))
      pp->filter = NND_FILTER_NEAREST;
    else
      expect = "bilinear or nearest";
  } else if (!strcmp(key, "scale")) {
    bit = NND_PP_KEY_SCALE;
    double s;
    if (!strncmp(value, "1/", 2)) {
      if (parse_double(value + 2, &s) != 0 || !(s > 0))
        expect = "S or 1/D with D > 0";
      else
        pp->scale = 1.0 / s;
    } else if (parse_double(value, &s) != 0 || !(s > 0)) {
      expect = "S or 1/D, positive";
    } else {
      pp->scale = s;
    }
  } else if (!strcmp(key, "mean")) {
    bit = NND_PP_KEY_MEAN;
    if (parse_triple(value, pp->mean) != 0) expect = "M or A,B,C";
  } else if (!strcmp(key, "std")) {
    bit = NND_PP_KEY_STD;
    double s[3];
    if (parse_triple(value, s) != 0 || !(s[0] > 0 && s[1] > 0 && s[2] > 0))
      expect = "S or A,B,C, positive";
    else
      memcpy(pp->std, s, sizeof s);
  } else if (!strcmp(key, "order")) {
    bit = NND_PP_KEY_ORDER;
    if (!strcmp(value, "rgb"))
      pp->order = NND_ORDER_RGB;
    else if (!strcmp(value, "bgr"))
      pp->order = NND_ORDER_BGR;
    else
      expect = "rgb or bgr";
  } else if (!strcmp(key, "layout")) {
    bit = NND_PP_KEY_LAYOUT;
    if (!strcmp(value, "nchw"))
      pp->layout = NND_DATA_LAYOUT_NCHW, pp->layout_forced = 1;
    else if (!strcmp(value, "nhwc"))
      pp->layout = NND_DATA_LAYOUT_NHWC, pp->layout_forced = 1;
    else if (!strcmp(value, "auto"))
      pp->layout_forced = 0;
    else
      expect = "nchw, nhwc or auto";
  } else {
    return nnd_error_set(err, NND_ERR_USAGE,
                         "unknown preprocessing option '%s' (known: preset size crop fraction "
                         "resize filter scale mean std order layout)",
                         key);
  }
  if (expect)
    return nnd_error_set(err, NND_ERR_USAGE, "preprocessing option %s=%s: expected %s", key, value,
                         expect);
  pp->overridden |= bit;
  return NND_OK;
}

nnd_status nnd_preprocess_from_options(const char *spec, nnd_preprocess *out, nnd_error *err) {
  nnd_status st = nnd_preprocess_preset("torchvision", out, err);
  if (st || !spec) return st;
  size_t len = strlen(spec);
  char *buf = malloc(len + 1);
  if (!buf) return nnd_error_set(err, NND_ERR_NOMEM, "out of memory");
  memcpy(buf, spec, len + 1);
  int first = 1;
  char *save = NULL;
  for (char *item = strtok_r(buf, " \t;", &save); item && !st;
       item = strtok_r(NULL, " \t;", &save), first = 0) {
    char *eq = strchr(item, '=');
    if (!eq) {
      if (first)
        st = nnd_preprocess_preset(item, out, err);
      else
        st = nnd_error_set(err, NND_ERR_USAGE,
                           "preprocessing option '%s': expected key=value (a bare preset name "
                           "may only come first)",
                           item);
      continue;
    }
    *eq = '\0';
    st = nnd_preprocess_set(out, item, eq + 1, err);
  }
  free(buf);
  return st;
}

/* ---- description ---- */

typedef struct sbuf {
  char *p;
  size_t cap, len;
} sbuf;

static void sb_printf(sbuf *sb, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void sb_printf(sbuf *sb, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  size_t room = sb->len < sb->cap ? sb->cap - sb->len : 0;
  int n = vsnprintf(room ? sb->p + sb->len : NULL, room, fmt, ap);
  va_end(ap);
  if (n > 0) sb->len += (size_t)n;
}

/* Shortest text that reads back as the same double ("0.485", not
 * "0.48499999999999999"). */
static void fmt_num(char *buf, size_t cap, double v) {
  for (int prec = 1; prec <= 17; prec++) {
    snprintf(buf, cap, "%.*g", prec, v);
    if (strtod(buf, NULL) == v) return;
  }
}

static void sb_triple(sbuf *sb, const double v[3], int channels) {
  char a[32], b[32], c[32];
  fmt_num(a, sizeof a, v[0]);
  if (channels == 1 || (v[0] == v[1] && v[1] == v[2])) {
    sb_printf(sb, "%s", a);
    return;
  }
  fmt_num(b, sizeof b, v[1]);
  fmt_num(c, sizeof c, v[2]);
  sb_printf(sb, "[%s,%s,%s]", a, b, c);
}

static void sb_size(sbuf *sb, int64_t h, int64_t w) {
  if (h <= 0 || w <= 0)
    sb_printf(sb, "the model's input size");
  else
    sb_printf(sb, "%lldx%lld", (long long)h, (long long)w);
}

size_t nnd_preprocess_describe(const nnd_preprocess *pp, char *buf, size_t cap) {
  sbuf sb = {buf, cap, 0};
  if (cap) buf[0] = '\0';
  static const char *const key_names[] = {"size",  "crop", "fraction", "resize", "filter",
                                          "scale", "mean", "std",      "order",  "layout"};
  if (pp->preset[0]) {
    sb_printf(&sb, "%s", pp->preset);
    if (pp->overridden) {
      sb_printf(&sb, " (changed:");
      for (unsigned i = 0; i < sizeof key_names / sizeof key_names[0]; i++)
        if (pp->overridden & (1u << i)) sb_printf(&sb, " %s", key_names[i]);
      sb_printf(&sb, ")");
    }
    sb_printf(&sb, ": ");
  } else {
    sb_printf(&sb, "custom: ");
  }
  if (pp->channels == 1) sb_printf(&sb, "gray (Pillow L), ");
  if (pp->central_fraction < 1.0) {
    char f[32];
    fmt_num(f, sizeof f, pp->central_fraction);
    sb_printf(&sb, "central crop %s, ", f);
  }
  const char *filter =
      pp->filter == NND_FILTER_NEAREST ? "Pillow nearest" : "Pillow bilinear, antialiased";
  int crop_after = 1;
  if (pp->resize == NND_RESIZE_SHORTER) {
    if (pp->size > 0)
      sb_printf(&sb, "resize shorter side to %lld (%s), ", (long long)pp->size, filter);
    else
      sb_printf(&sb, "resize shorter side to the crop size (%s), ", filter);
  } else if (pp->size > 0) {
    sb_printf(&sb, "resize to %lldx%lld (%s), ", (long long)pp->size, (long long)pp->size, filter);
  } else {
    sb_printf(&sb, "resize to ");
    sb_size(&sb, pp->out_height, pp->out_width);
    sb_printf(&sb, " (%s), ", filter);
    crop_after = 0;
  }
  if (crop_after) {
    sb_printf(&sb, "centre crop ");
    sb_size(&sb, pp->out_height, pp->out_width);
    sb_printf(&sb, ", ");
  }
  if (pp->channels != 1) sb_printf(&sb, "%s, ", pp->order == NND_ORDER_BGR ? "BGR" : "RGB");
  char s[32];
  double inv = 1.0 / pp->scale;
  if (pp->scale == 1.0)
    sb_printf(&sb, "x (0..255)");
  else if (fabs(inv - round(inv * 2) / 2) < 1e-9 * inv) {
    fmt_num(s, sizeof s, inv);
    sb_printf(&sb, "x/%s", s);
  } else {
    fmt_num(s, sizeof s, pp->scale);
    sb_printf(&sb, "x*%s", s);
  }
  sb_printf(&sb, ", mean ");
  sb_triple(&sb, pp->mean, pp->channels);
  sb_printf(&sb, ", std ");
  sb_triple(&sb, pp->std, pp->channels);
  const char *layout = pp->layout == NND_DATA_LAYOUT_NHWC ? "NHWC" : "NCHW";
  if (pp->layout_forced || pp->channels)
    sb_printf(&sb, ", %s", layout);
  else
    sb_printf(&sb, ", layout of the model (else %s)", layout);
  return sb.len;
}

/* ---- resolving against a model input ---- */

nnd_status nnd_preprocess_resolve(const nnd_preprocess *pp, const nnd_item_shape *shape,
                                  nnd_preprocess *resolved, nnd_error *err) {
  *resolved = *pp;
  char dims[128];
  size_t n = 0;
  dims[0] = '\0';
  for (size_t i = 0; i < shape->rank && i < NND_DATA_MAX_RANK && n < sizeof dims - 24; i++)
    n += (size_t)snprintf(dims + n, sizeof dims - n, "%s%lld", i ? "," : "",
                          (long long)shape->dims[i]);
  if (shape->rank != 3)
    return nnd_error_set(err, NND_ERR_USAGE,
                         "the model input [N,%s] is not an image ([N,C,H,W] or [N,H,W,C]); "
                         "give preprocessed data as a .npy/.npz instead",
                         dims);
  int first_c = shape->dims[0] == 1 || shape->dims[0] == 3;
  int last_c = shape->dims[2] == 1 || shape->dims[2] == 3;
  nnd_data_layout layout = shape->layout;
  if (layout == NND_DATA_LAYOUT_AUTO) {
    if (first_c && !last_c)
      layout = NND_DATA_LAYOUT_NCHW;
    else if (last_c && !first_c)
      layout = NND_DATA_LAYOUT_NHWC;
    else
      layout = pp->layout == NND_DATA_LAYOUT_NHWC ? NND_DATA_LAYOUT_NHWC : NND_DATA_LAYOUT_NCHW;
  }
  if (pp->layout_forced && layout != pp->layout && shape->layout != NND_DATA_LAYOUT_AUTO)
    return nnd_error_set(err, NND_ERR_USAGE,
                         "preprocessing asks for layout %s but the model input [N,%s] is %s",
                         pp->layout == NND_DATA_LAYOUT_NHWC ? "NHWC" : "NCHW", dims,
                         layout == NND_DATA_LAYOUT_NHWC ? "NHWC" : "NCHW");
  if (pp->layout_forced) layout = pp->layout;
  int64_t c, h, w;
  if (layout == NND_DATA_LAYOUT_NCHW)
    c = shape->dims[0], h = shape->dims[1], w = shape->dims[2];
  else
    h = shape->dims[0], w = shape->dims[1], c = shape->dims[2];
  if (c != 1 && c != 3)
    return nnd_error_set(err, NND_ERR_USAGE,
                         "the model input [N,%s] read as %s has %lld channels; images give 1 or 3 "
                         "(set layout=nchw or layout=nhwc if the layout was guessed wrong)",
                         dims, layout == NND_DATA_LAYOUT_NHWC ? "NHWC" : "NCHW", (long long)c);
  if (h <= 0 || w <= 0 || h > 65536 || w > 65536)
    return nnd_error_set(err, NND_ERR_USAGE, "the model input [N,%s] has a bad image size", dims);
  if (pp->out_height > 0 && (pp->out_height != h || pp->out_width != w))
    return nnd_error_set(err, NND_ERR_USAGE,
                         "preprocessing '%s' produces %lldx%lld images but the model input "
                         "[N,%s] is %lldx%lld; set crop=%lldx%lld (and size=) to match",
                         pp->preset[0] ? pp->preset : "custom", (long long)pp->out_height,
                         (long long)pp->out_width, dims, (long long)h, (long long)w, (long long)h,
                         (long long)w);
  resolved->out_height = h;
  resolved->out_width = w;
  resolved->layout = layout;
  resolved->channels = (int)c;
  return NND_OK;
}

/* ---- the pipeline ---- */

/* Python's round() of d / 2 for d >= 0: halves go to the even neighbour. */
static int64_t half_round_even(int64_t d) {
  int64_t k = d / 2;
  if ((d & 1) && (k & 1)) k++;
  return k;
}

/* torchvision's CenterCrop offset on one axis (pads with zeros first when
 * the image is smaller than the crop). */
static int64_t centre_offset(int64_t size, int64_t crop) {
  if (crop > size) return -((crop - size) / 2);
  return half_round_even(size - crop);
}

nnd_status nnd_preprocess_image(const nnd_preprocess *pp, const nnd_image *decoded, float *out,
                                size_t out_count, nnd_image *u8, nnd_error *err) {
  if (u8) memset(u8, 0, sizeof *u8);
  int64_t oh = pp->out_height, ow = pp->out_width;
  int c = pp->channels;
  size_t need;
  if (oh <= 0 || ow <= 0 || (c != 1 && c != 3) || pp->layout == NND_DATA_LAYOUT_AUTO)
    return nnd_error_set(err, NND_ERR_INTERNAL, "preprocessing is not resolved for a model input");
  if (!nnd__mul_size((size_t)oh, (size_t)ow, &need) || !nnd__mul_size(need, (size_t)c, &need) ||
      out_count < need)
    return nnd_error_set(err, NND_ERR_USAGE, "output buffer holds %zu floats, need %lldx%lldx%d",
                         out_count, (long long)oh, (long long)ow, c);
  nnd_image a = {0}, b = {0};
  nnd_status st = NND_OK;
  const nnd_image *cur = decoded;
  /* Each step reads *cur and writes b, which then becomes a. A step that
   * refuses its sizes (bad arguments to it) was handed them by this image:
   * an image the pipeline cannot take, not a bad call. */
  nnd_error step_err = {0};
#define STEP(call)                                                                                 \
  do {                                                                                             \
    st = (call);                                                                                   \
    if (st) {                                                                                      \
      st = nnd_error_set(err, st == NND_ERR_USAGE ? NND_ERR_UNSUPPORTED : st, "%s",                \
                         step_err.message);                                                        \
      goto done;                                                                                   \
    }                                                                                              \
    nnd_image_free(&a);                                                                            \
    a = b;                                                                                         \
    memset(&b, 0, sizeof b);                                                                       \
    cur = &a;                                                                                      \
  } while (0)
  if (c == 1 && cur->channels != 1) STEP(nnd_image_to_gray(cur, &b, &step_err));
  if (pp->central_fraction < 1.0) {
    /* tf.image.central_crop: start = int((size - size * fraction) / 2) in
     * float64, size' = size - 2 * start. */
    int64_t top = (int64_t)(((double)cur->height - (double)cur->height * pp->central_fraction) / 2);
    int64_t left = (int64_t)(((double)cur->width - (double)cur->width * pp->central_fraction) / 2);
    int64_t ch = cur->height - 2 * top, cw = cur->width - 2 * left;
    if (ch > 0 && cw > 0 && (top > 0 || left > 0))
      STEP(nnd_image_crop(cur, left, top, cw, ch, &b, &step_err));
  }
  int64_t rw, rh;
  if (pp->resize == NND_RESIZE_SHORTER) {
    /* torchvision's _compute_resized_output_size for an int size. */
    int64_t s = pp->size > 0 ? pp->size : (oh < ow ? oh : ow);
    int64_t wd = cur->width, ht = cur->height;
    int64_t shrt = wd <= ht ? wd : ht, lng = wd <= ht ? ht : wd;
    int64_t new_long = (int64_t)((double)s * (double)lng / (double)shrt);
    rw = wd <= ht ? s : new_long;
    rh = wd <= ht ? new_long : s;
  } else if (pp->size > 0) {
    rw = rh = pp->size;
  } else {
    rw = ow;
    rh = oh;
  }
  if (rw != cur->width || rh != cur->height)
    STEP(nnd_image_resize(cur, rw, rh, pp->filter, &b, &step_err));
  if (cur->width != ow || cur->height != oh)
    STEP(nnd_image_crop(cur, centre_offset(cur->width, ow), centre_offset(cur->height, oh), ow, oh,
                        &b, &step_err));
#undef STEP
  {
    /* Normalise in float32 as the zoos do. */
    float div = (float)(1.0 / pp->scale);
    float mean[3], std[3];
    for (int k = 0; k < 3; k++) {
      mean[k] = (float)pp->mean[k];
      std[k] = (float)pp->std[k];
    }
    size_t hw = (size_t)oh * (size_t)ow;
    const unsigned char *px = cur->pixels;
    for (int oc = 0; oc < c; oc++) {
      int sc = (c == 3 && pp->order == NND_ORDER_BGR) ? 2 - oc : oc;
      for (size_t i = 0; i < hw; i++) {
        float v = ((float)px[i * (size_t)c + (size_t)sc] / div - mean[oc]) / std[oc];
        if (pp->layout == NND_DATA_LAYOUT_NHWC)
          out[i * (size_t)c + (size_t)oc] = v;
        else
          out[(size_t)oc * hw + i] = v;
      }
    }
  }
  if (u8) {
    if (cur == decoded) {
      size_t n = need;
      u8->pixels = malloc(n);
      if (!u8->pixels) {
        st = nnd_error_set(err, NND_ERR_NOMEM, "out of memory");
        goto done;
      }
      memcpy(u8->pixels, cur->pixels, n);
      u8->width = cur->width;
      u8->height = cur->height;
      u8->channels = cur->channels;
    } else {
      *u8 = a;
      memset(&a, 0, sizeof a);
    }
  }
done:
  nnd_image_free(&a);
  nnd_image_free(&b);
  return st;
}
