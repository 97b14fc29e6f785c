/* Helpers for the data module's tests: scratch directories, files, and
 * in-memory JPEG/PNG encoders (libjpeg, libpng) so every fixture is made by
 * the test itself. Header-only; include from one test file each. */
#ifndef NND_DATA_TEST_UTIL_H
#define NND_DATA_TEST_UTIL_H

#include <ftw.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <jpeglib.h>
#include <png.h>

/* A fresh directory under $TMPDIR (or /tmp); the caller removes it with
 * rm_tree. Returns a static buffer's copy (malloc'ed). */
static inline char *make_temp_dir(void) {
  const char *base = getenv("TMPDIR");
  char tmpl[4096];
  snprintf(tmpl, sizeof tmpl, "%s/nnd_data_test_XXXXXX", base && *base ? base : "/tmp");
  if (!mkdtemp(tmpl)) return NULL;
  return strdup(tmpl);
}

static inline int rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw) {
  (void)st;
  (void)flag;
  (void)ftw;
  return remove(path);
}

static inline void rm_tree(char *dir) {
  if (dir) nftw(dir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
  free(dir);
}

/* Writes size bytes to dir/rel, creating parent directories. 0 on success. */
static inline int write_file(const char *dir, const char *rel, const void *data, size_t size) {
  char path[4096];
  snprintf(path, sizeof path, "%s/%s", dir, rel);
  for (char *p = path + strlen(dir) + 1; *p; p++) {
    if (*p == '/') {
      *p = '\0';
      mkdir(path, 0755);
      *p = '/';
    }
  }
  FILE *f = fopen(path, "wb");
  if (!f) return -1;
  size_t n = size ? fwrite(data, 1, size, f) : 0;
  return fclose(f) == 0 && n == size ? 0 : -1;
}

static inline int write_text(const char *dir, const char *rel, const char *text) {
  return write_file(dir, rel, text, strlen(text));
}

/* ---- PNG encoder ---- */

typedef struct mem_buf {
  unsigned char *data;
  size_t size, cap;
} mem_buf;

static inline void mem_buf_put(mem_buf *b, const void *p, size_t n) {
  if (b->size + n > b->cap) {
    b->cap = (b->size + n) * 2;
    b->data = realloc(b->data, b->cap);
  }
  memcpy(b->data + b->size, p, n);
  b->size += n;
}

static inline void png_mem_write(png_structp png, png_bytep data, size_t n) {
  mem_buf_put(png_get_io_ptr(png), data, n);
}
static inline void png_mem_flush(png_structp png) { (void)png; }

/* Encodes raw samples (rows of width * channels * depth/8 bytes, 16-bit
 * big-endian) as a PNG of the given colour type. For palette images, pixels
 * are indices and palette/trns describe the colours. Returns malloc'ed bytes. */
static inline unsigned char *encode_png(int width, int height, int color_type, int depth,
                                        int interlace, const unsigned char *pixels,
                                        const png_color *palette, int npalette,
                                        const unsigned char *trns, int ntrns, size_t *size_out) {
  mem_buf out = {0};
  png_structp png = png_create_write_struct(PNG_LIBPNG_VER_STRING, NULL, NULL, NULL);
  png_infop info = png_create_info_struct(png);
  if (setjmp(png_jmpbuf(png))) {
    png_destroy_write_struct(&png, &info);
    free(out.data);
    return NULL;
  }
  png_set_write_fn(png, &out, png_mem_write, png_mem_flush);
  png_set_IHDR(png, info, (png_uint_32)width, (png_uint_32)height, depth, color_type,
               interlace ? PNG_INTERLACE_ADAM7 : PNG_INTERLACE_NONE, PNG_COMPRESSION_TYPE_DEFAULT,
               PNG_FILTER_TYPE_DEFAULT);
  if (palette) png_set_PLTE(png, info, palette, npalette);
  if (trns) png_set_tRNS(png, info, trns, ntrns, NULL);
  png_write_info(png, info);
  int channels = color_type == PNG_COLOR_TYPE_RGB          ? 3
                 : color_type == PNG_COLOR_TYPE_RGB_ALPHA  ? 4
                 : color_type == PNG_COLOR_TYPE_GRAY_ALPHA ? 2
                                                           : 1;
  size_t rowbytes = ((size_t)width * (size_t)channels * (size_t)depth + 7) / 8;
  int passes = interlace ? png_set_interlace_handling(png) : 1;
  for (int pass = 0; pass < passes; pass++)
    for (int y = 0; y < height; y++)
      png_write_row(png, pixels + (size_t)y * rowbytes);
  png_write_end(png, info);
  png_destroy_write_struct(&png, &info);
  *size_out = out.size;
  return out.data;
}

/* An RGB test pattern: r = x*7, g = y*5, b = x^y. */
static inline unsigned char *pattern_rgb(int w, int h) {
  unsigned char *p = malloc((size_t)w * (size_t)h * 3);
  for (int y = 0; y < h; y++)
    for (int x = 0; x < w; x++) {
      unsigned char *q = p + ((size_t)y * (size_t)w + (size_t)x) * 3;
      q[0] = (unsigned char)(x * 7);
      q[1] = (unsigned char)(y * 5);
      q[2] = (unsigned char)(x ^ y);
    }
  return p;
}

/* ---- JPEG encoder ---- */

static inline unsigned char *encode_jpeg(int width, int height, int components,
                                         const unsigned char *pixels, int quality, int progressive,
                                         size_t *size_out) {
  struct jpeg_compress_struct c;
  struct jpeg_error_mgr jerr;
  unsigned char *mem = NULL;
  unsigned long mem_size = 0;
  c.err = jpeg_std_error(&jerr);
  jpeg_create_compress(&c);
  jpeg_mem_dest(&c, &mem, &mem_size);
  c.image_width = (JDIMENSION)width;
  c.image_height = (JDIMENSION)height;
  c.input_components = components;
  c.in_color_space = components == 1 ? JCS_GRAYSCALE : JCS_RGB;
  jpeg_set_defaults(&c);
  jpeg_set_quality(&c, quality, TRUE);
  if (progressive) jpeg_simple_progression(&c);
  jpeg_start_compress(&c, TRUE);
  while (c.next_scanline < c.image_height) {
    JSAMPROW row =
        (JSAMPROW)(pixels + (size_t)c.next_scanline * (size_t)width * (size_t)components);
    jpeg_write_scanlines(&c, &row, 1);
  }
  jpeg_finish_compress(&c);
  jpeg_destroy_compress(&c);
  unsigned char *out = malloc(mem_size);
  memcpy(out, mem, mem_size);
  free(mem);
  *size_out = mem_size;
  return out;
}

#endif
