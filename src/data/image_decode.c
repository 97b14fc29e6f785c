/* JPEG (libjpeg-turbo, libjpeg API) and PNG (libpng) decoding to 8-bit RGB,
 * converting every colour type exactly as Pillow's convert("RGB") does, so
 * our pixels equal the ones torchvision and Keras feed their models.
 *
 * Both libraries report errors by calling a handler that must not return: we
 * longjmp back to the decode function, which frees what it allocated and
 * returns NND_ERR_FORMAT naming the file. Their warnings are swallowed (a
 * library must not print); a JPEG that ends early is an error, as in Pillow. */
#include <limits.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jerror.h>
#include <jpeglib.h>
#include <png.h>

#include "data/data_internal.h"
#include "nndiff/data.h"
#include "util/checked_math.h"

/* A progressive JPEG may hold thousands of tiny scans that each cost a pass
 * over the image (a known decompression bomb); real files use about ten. */
enum { JPEG_MAX_SCANS = 256 };

void nnd_image_free(nnd_image *img) {
  if (!img) return;
  free(img->pixels);
  memset(img, 0, sizeof *img);
}

static nnd_status check_size(const char *name, const char *kind, int64_t w, int64_t h,
                             int64_t max_pixels, nnd_error *err) {
  int64_t px;
  if (w <= 0 || h <= 0)
    return nnd_error_set(err, NND_ERR_FORMAT, "%s: %s image has no pixels (%lldx%lld)", name, kind,
                         (long long)w, (long long)h);
  if (!nnd__mul_i64(w, h, &px) || px > max_pixels)
    return nnd_error_set(err, NND_ERR_FORMAT,
                         "%s: %s image is %lldx%lld, over the limit of %lld pixels "
                         "(%.0f megapixels); shrink it first",
                         name, kind, (long long)w, (long long)h, (long long)max_pixels,
                         (double)max_pixels / 1e6);
  return NND_OK;
}

static unsigned char *alloc_pixels(int64_t w, int64_t h, int channels) {
  size_t n;
  if (!nnd__mul_size((size_t)w, (size_t)h, &n) || !nnd__mul_size(n, (size_t)channels, &n))
    return NULL;
  return malloc(n ? n : 1);
}

/* ---- JPEG ---- */

typedef struct jpeg_err_ctx {
  struct jpeg_error_mgr pub;
  jmp_buf jump;
  int truncated;
  char message[JMSG_LENGTH_MAX + 32];
} jpeg_err_ctx;

static void jpeg_on_error(j_common_ptr cinfo) {
  jpeg_err_ctx *ctx = (jpeg_err_ctx *)cinfo->err;
  cinfo->err->format_message(cinfo, ctx->message);
  longjmp(ctx->jump, 1);
}

static void jpeg_on_message(j_common_ptr cinfo, int level) {
  jpeg_err_ctx *ctx = (jpeg_err_ctx *)cinfo->err;
  if (level < 0) { /* a warning: corrupt but decodable data */
    if (cinfo->err->msg_code == JWRN_JPEG_EOF) ctx->truncated = 1;
    cinfo->err->num_warnings++;
  }
}

static void jpeg_on_output(j_common_ptr cinfo) { (void)cinfo; }

static void jpeg_on_progress(j_common_ptr cinfo) {
  if (!cinfo->is_decompressor) return;
  j_decompress_ptr d = (j_decompress_ptr)cinfo;
  if (d->input_scan_number > JPEG_MAX_SCANS) {
    jpeg_err_ctx *ctx = (jpeg_err_ctx *)cinfo->err;
    snprintf(ctx->message, sizeof ctx->message, "more than %d progressive scans", JPEG_MAX_SCANS);
    longjmp(ctx->jump, 1);
  }
}

/* Pillow's CMYK -> RGB, after its "CMYK;I" unpacker inverted Adobe-style
 * samples: out = nk - nk*c/255 with nk = 255 - k, in Pillow's rounding. */
static unsigned char cmyk_channel(unsigned char inv_c, unsigned char inv_k) {
  int c = 255 - inv_c, nk = inv_k; /* 255 - (255 - inv_k) */
  int tmp = c * nk + 128;
  int v = nk - (((tmp >> 8) + tmp) >> 8);
  return (unsigned char)(v < 0 ? 0 : v > 255 ? 255 : v);
}

static nnd_status decode_jpeg(const unsigned char *data, size_t size, const char *name,
                              int64_t max_pixels, nnd_image *out, nnd_error *err) {
  struct jpeg_decompress_struct cinfo;
  jpeg_err_ctx ctx;
  struct jpeg_progress_mgr progress;
  unsigned char *volatile pixels = NULL;
  unsigned char *volatile row = NULL;
  memset(&ctx, 0, sizeof ctx);
  cinfo.err = jpeg_std_error(&ctx.pub);
  ctx.pub.error_exit = jpeg_on_error;
  ctx.pub.emit_message = jpeg_on_message;
  ctx.pub.output_message = jpeg_on_output;
  if (setjmp(ctx.jump)) {
    jpeg_destroy_decompress(&cinfo);
    free(pixels);
    free(row);
    if (ctx.truncated)
      return nnd_error_set(err, NND_ERR_FORMAT,
                           "%s: truncated JPEG: the data ends early (libjpeg: %s)", name,
                           ctx.message);
    return nnd_error_set(err, NND_ERR_FORMAT, "%s: corrupt JPEG: %s", name, ctx.message);
  }
  jpeg_create_decompress(&cinfo);
  memset(&progress, 0, sizeof progress);
  progress.progress_monitor = jpeg_on_progress;
  cinfo.progress = &progress;
  jpeg_mem_src(&cinfo, data, (unsigned long)size);
  jpeg_read_header(&cinfo, TRUE);
  nnd_status st = check_size(name, "JPEG", cinfo.image_width, cinfo.image_height, max_pixels, err);
  if (st) {
    jpeg_destroy_decompress(&cinfo);
    return st;
  }
  /* Coefficient buffers of progressive files are virtual arrays: bound them
   * so a small file cannot ask for gigabytes. */
  cinfo.mem->max_memory_to_use = (long)(max_pixels < LONG_MAX / 16 ? max_pixels * 16 : LONG_MAX);
  switch (cinfo.jpeg_color_space) {
  case JCS_GRAYSCALE: cinfo.out_color_space = JCS_GRAYSCALE; break;
  case JCS_CMYK:
  case JCS_YCCK: cinfo.out_color_space = JCS_CMYK; break;
  default: cinfo.out_color_space = JCS_RGB; break;
  }
  jpeg_start_decompress(&cinfo);
  int comps = cinfo.output_components;
  int64_t w = cinfo.output_width, h = cinfo.output_height;
  if ((comps != 1 && comps != 3 && comps != 4) || cinfo.data_precision != 8) {
    snprintf(ctx.message, sizeof ctx.message, "unexpected %d components of %d bits", comps,
             cinfo.data_precision);
    longjmp(ctx.jump, 1);
  }
  pixels = alloc_pixels(w, h, 3);
  if (comps != 3) row = malloc((size_t)w * (size_t)comps);
  if (!pixels || (comps != 3 && !row)) {
    jpeg_destroy_decompress(&cinfo);
    free(pixels);
    free(row);
    return nnd_error_set(err, NND_ERR_NOMEM, "%s: out of memory decoding a %lldx%lld JPEG", name,
                         (long long)w, (long long)h);
  }
  while (cinfo.output_scanline < cinfo.output_height) {
    unsigned char *dst = pixels + (size_t)cinfo.output_scanline * (size_t)w * 3;
    JSAMPROW target = comps == 3 ? dst : row;
    if (jpeg_read_scanlines(&cinfo, &target, 1) != 1) {
      snprintf(ctx.message, sizeof ctx.message, "decoder stalled");
      longjmp(ctx.jump, 1);
    }
    if (comps == 1) {
      for (int64_t x = 0; x < w; x++)
        dst[3 * x] = dst[3 * x + 1] = dst[3 * x + 2] = row[x];
    } else if (comps == 4) {
      for (int64_t x = 0; x < w; x++) {
        const unsigned char *s = row + 4 * x;
        for (int c = 0; c < 3; c++)
          dst[3 * x + c] = cmyk_channel(s[c], s[3]);
      }
    }
    if (ctx.truncated) break;
  }
  if (ctx.truncated) {
    jpeg_destroy_decompress(&cinfo);
    free(pixels);
    free(row);
    return nnd_error_set(err, NND_ERR_FORMAT,
                         "%s: truncated JPEG: the data ends before the image does", name);
  }
  jpeg_finish_decompress(&cinfo);
  jpeg_destroy_decompress(&cinfo);
  free(row);
  out->width = w;
  out->height = h;
  out->channels = 3;
  out->pixels = pixels;
  return NND_OK;
}

/* ---- PNG ---- */

typedef struct png_ctx {
  const unsigned char *data;
  size_t size, pos;
  char message[256];
} png_ctx;

static void png_on_error(png_structp png, png_const_charp msg) {
  png_ctx *ctx = png_get_error_ptr(png);
  snprintf(ctx->message, sizeof ctx->message, "%s", msg ? msg : "unknown error");
  png_longjmp(png, 1);
}

static void png_on_warning(png_structp png, png_const_charp msg) {
  (void)png;
  (void)msg;
}

static void png_on_read(png_structp png, png_bytep dst, size_t len) {
  png_ctx *ctx = png_get_io_ptr(png);
  if (len > ctx->size - ctx->pos) png_error(png, "truncated PNG: the data ends early");
  memcpy(dst, ctx->data + ctx->pos, len);
  ctx->pos += len;
}

static nnd_status decode_png(const unsigned char *data, size_t size, const char *name,
                             int64_t max_pixels, nnd_image *out, nnd_error *err) {
  png_ctx ctx = {data, size, 0, ""};
  png_structp png =
      png_create_read_struct(PNG_LIBPNG_VER_STRING, &ctx, png_on_error, png_on_warning);
  png_infop info = png ? png_create_info_struct(png) : NULL;
  unsigned char *volatile pixels = NULL;
  unsigned char *volatile wide = NULL; /* 16-bit gray samples */
  png_bytep *volatile rows = NULL;
  if (!png || !info) {
    png_destroy_read_struct(png ? &png : NULL, NULL, NULL);
    return nnd_error_set(err, NND_ERR_NOMEM, "%s: out of memory starting libpng", name);
  }
  if (setjmp(png_jmpbuf(png))) {
    png_destroy_read_struct(&png, &info, NULL);
    free(pixels);
    free(wide);
    free(rows);
    return nnd_error_set(err, NND_ERR_FORMAT, "%s: corrupt PNG: %s", name, ctx.message);
  }
  png_set_read_fn(png, &ctx, png_on_read);
  png_set_user_limits(png, 0x7fffffffu, 0x7fffffffu);
  png_read_info(png, info);
  png_uint_32 w32, h32;
  int depth, color, interlace;
  png_get_IHDR(png, info, &w32, &h32, &depth, &color, &interlace, NULL, NULL);
  nnd_status st = check_size(name, "PNG", w32, h32, max_pixels, err);
  if (st) {
    png_destroy_read_struct(&png, &info, NULL);
    return st;
  }
  int64_t w = w32, h = h32;
  /* Pillow opens 16-bit gray as mode I and its I -> RGB conversion clips
   * at 255; every other 16-bit type keeps the high byte. */
  int gray16 = color == PNG_COLOR_TYPE_GRAY && depth == 16;
  if (color == PNG_COLOR_TYPE_PALETTE) png_set_palette_to_rgb(png);
  if (color == PNG_COLOR_TYPE_GRAY && depth < 8) png_set_expand_gray_1_2_4_to_8(png);
  if (depth == 16 && !gray16) png_set_strip_16(png);
  /* Pillow's convert("RGB") drops alpha and ignores tRNS; palette expansion
   * turns tRNS into alpha, so strip that too. */
  if ((color & PNG_COLOR_MASK_ALPHA) || png_get_valid(png, info, PNG_INFO_tRNS))
    png_set_strip_alpha(png);
  if (!gray16 && (color == PNG_COLOR_TYPE_GRAY || color == PNG_COLOR_TYPE_GRAY_ALPHA))
    png_set_gray_to_rgb(png);
  if (interlace != PNG_INTERLACE_NONE) png_set_interlace_handling(png);
  png_read_update_info(png, info);
  size_t want_bytes = gray16 ? (size_t)w * 2 : (size_t)w * 3;
  if (png_get_channels(png, info) != (gray16 ? 1 : 3) ||
      png_get_rowbytes(png, info) != want_bytes) {
    snprintf(ctx.message, sizeof ctx.message, "unexpected layout after conversion");
    png_longjmp(png, 1);
  }
  pixels = alloc_pixels(w, h, 3);
  if (gray16) wide = alloc_pixels(w, h, 2);
  rows = malloc((size_t)h * sizeof *rows);
  if (!pixels || !rows || (gray16 && !wide)) {
    snprintf(ctx.message, sizeof ctx.message, "out of memory for a %lldx%lld image", (long long)w,
             (long long)h);
    png_longjmp(png, 1);
  }
  unsigned char *base = gray16 ? wide : pixels;
  for (int64_t y = 0; y < h; y++)
    rows[y] = base + (size_t)y * want_bytes;
  png_read_image(png, rows);
  /* No png_read_end: like Pillow, accept a file whose chunks after the
   * image data are missing or damaged. */
  png_destroy_read_struct(&png, &info, NULL);
  free(rows);
  if (gray16) {
    size_t n = (size_t)w * (size_t)h;
    for (size_t i = 0; i < n; i++) {
      unsigned v = (unsigned)wide[2 * i] << 8 | wide[2 * i + 1];
      pixels[3 * i] = pixels[3 * i + 1] = pixels[3 * i + 2] = (unsigned char)(v > 255 ? 255 : v);
    }
    free(wide);
  }
  out->width = w;
  out->height = h;
  out->channels = 3;
  out->pixels = pixels;
  return NND_OK;
}

/* ---- dispatch ---- */

nnd_status nnd_image_decode(const void *data, size_t size, const char *name, int64_t max_pixels,
                            nnd_image *out, nnd_error *err) {
  const unsigned char *b = data;
  memset(out, 0, sizeof *out);
  if (!name) name = "<image>";
  if (max_pixels <= 0) max_pixels = NND_IMAGE_DEFAULT_MAX_PIXELS;
  if (size >= 3 && b[0] == 0xFF && b[1] == 0xD8 && b[2] == 0xFF)
    return decode_jpeg(b, size, name, max_pixels, out, err);
  if (size >= 8 && png_sig_cmp(b, 0, 8) == 0)
    return decode_png(b, size, name, max_pixels, out, err);
  const char *other = NULL;
  if (size >= 6 && (memcmp(b, "GIF87a", 6) == 0 || memcmp(b, "GIF89a", 6) == 0))
    other = "GIF";
  else if (size >= 2 && memcmp(b, "BM", 2) == 0)
    other = "BMP";
  else if (size >= 12 && memcmp(b, "RIFF", 4) == 0 && memcmp(b + 8, "WEBP", 4) == 0)
    other = "WebP";
  else if (size >= 4 && (memcmp(b, "II*\0", 4) == 0 || memcmp(b, "MM\0*", 4) == 0))
    other = "TIFF";
  if (other)
    return nnd_error_set(err, NND_ERR_UNSUPPORTED,
                         "%s: %s images are not supported (JPEG and PNG only)", name, other);
  return nnd_error_set(err, NND_ERR_FORMAT, "%s: not a JPEG or PNG image%s", name,
                       size == 0 ? " (empty file)" : "");
}

nnd_status nnd_image_load(const char *path, int64_t max_pixels, nnd_image *out, nnd_error *err) {
  memset(out, 0, sizeof *out);
  unsigned char *data;
  size_t size;
  /* Compressed images are far smaller than their pixels; 1 GiB is generous. */
  nnd_status st = nnd__read_file(path, (size_t)1 << 30, &data, &size, err);
  if (st) return st;
  st = nnd_image_decode(data, size, path, max_pixels, out, err);
  free(data);
  return st;
}
