/* JPEG and PNG decoding: every PNG colour type converted as Pillow does,
 * JPEG flavours, and corrupt, truncated, oversized or foreign files, each of
 * which must give a clear error naming the file and never crash (this test
 * also runs in the sanitizer build). */
#include <zlib.h>

#include "data_test_util.h"
#include "nnd_test.h"
#include "nndiff/data.h"

static int decode_ok(const unsigned char *data, size_t size, nnd_image *img) {
  nnd_error err = {0};
  nnd_status st = nnd_image_decode(data, size, "t.png", 0, img, &err);
  if (st) fprintf(stderr, "decode failed: %s\n", err.message);
  return st == NND_OK && img->channels == 3;
}

static int test_png_color_types(void) {
  enum { W = 9, H = 7 };
  nnd_image img;
  size_t n;
  unsigned char *png;
  unsigned char *rgb = pattern_rgb(W, H);
  /* RGB, plain and interlaced */
  for (int interlace = 0; interlace <= 1; interlace++) {
    png = encode_png(W, H, PNG_COLOR_TYPE_RGB, 8, interlace, rgb, NULL, 0, NULL, 0, &n);
    ASSERT_TRUE(decode_ok(png, n, &img));
    ASSERT_EQ_INT(W, img.width);
    ASSERT_EQ_INT(H, img.height);
    ASSERT_TRUE(memcmp(img.pixels, rgb, W * H * 3) == 0);
    nnd_image_free(&img);
    free(png);
  }
  /* RGBA: alpha dropped, not composited */
  unsigned char rgba[W * H * 4];
  for (int i = 0; i < W * H; i++) {
    memcpy(rgba + 4 * i, rgb + 3 * i, 3);
    rgba[4 * i + 3] = (unsigned char)(i * 3);
  }
  png = encode_png(W, H, PNG_COLOR_TYPE_RGB_ALPHA, 8, 0, rgba, NULL, 0, NULL, 0, &n);
  ASSERT_TRUE(decode_ok(png, n, &img));
  ASSERT_TRUE(memcmp(img.pixels, rgb, W * H * 3) == 0);
  nnd_image_free(&img);
  free(png);
  /* gray 8 and gray+alpha: replicated */
  unsigned char gray[W * H], ga[W * H * 2];
  for (int i = 0; i < W * H; i++)
    gray[i] = (unsigned char)(i * 4), ga[2 * i] = gray[i], ga[2 * i + 1] = 9;
  png = encode_png(W, H, PNG_COLOR_TYPE_GRAY, 8, 0, gray, NULL, 0, NULL, 0, &n);
  ASSERT_TRUE(decode_ok(png, n, &img));
  for (int i = 0; i < W * H; i++) {
    ASSERT_EQ_INT(gray[i], img.pixels[3 * i]);
    ASSERT_EQ_INT(gray[i], img.pixels[3 * i + 2]);
  }
  nnd_image_free(&img);
  free(png);
  png = encode_png(W, H, PNG_COLOR_TYPE_GRAY_ALPHA, 8, 0, ga, NULL, 0, NULL, 0, &n);
  ASSERT_TRUE(decode_ok(png, n, &img));
  ASSERT_EQ_INT(gray[W * H - 1], img.pixels[3 * (W * H - 1) + 1]);
  nnd_image_free(&img);
  free(png);
  /* gray 1, 2, 4 bit: scaled to 0..255 (x255, x85, x17) */
  static const int depths[3] = {1, 2, 4}, mult[3] = {255, 85, 17};
  for (int d = 0; d < 3; d++) {
    unsigned char packed[H * 8] = {0};
    int maxv = (1 << depths[d]) - 1, stride = (W * depths[d] + 7) / 8;
    for (int y = 0; y < H; y++)
      for (int x = 0; x < W; x++) {
        int v = (x + y) & maxv, bit = x * depths[d];
        packed[y * stride + bit / 8] |= (unsigned char)(v << (8 - depths[d] - bit % 8));
      }
    png = encode_png(W, H, PNG_COLOR_TYPE_GRAY, depths[d], 0, packed, NULL, 0, NULL, 0, &n);
    ASSERT_TRUE(decode_ok(png, n, &img));
    for (int y = 0; y < H; y++)
      for (int x = 0; x < W; x++)
        ASSERT_EQ_INT(((x + y) & maxv) * mult[d], img.pixels[3 * (y * W + x)]);
    nnd_image_free(&img);
    free(png);
  }
  /* palette with tRNS: colours, transparency ignored */
  png_color pal[4] = {{255, 0, 0}, {0, 255, 0}, {0, 0, 255}, {10, 20, 30}};
  unsigned char trns[4] = {0, 128, 255, 7};
  unsigned char idx[W * H];
  for (int i = 0; i < W * H; i++)
    idx[i] = (unsigned char)(i % 4);
  png = encode_png(W, H, PNG_COLOR_TYPE_PALETTE, 8, 0, idx, pal, 4, trns, 4, &n);
  ASSERT_TRUE(decode_ok(png, n, &img));
  for (int i = 0; i < W * H; i++) {
    ASSERT_EQ_INT(pal[i % 4].red, img.pixels[3 * i]);
    ASSERT_EQ_INT(pal[i % 4].blue, img.pixels[3 * i + 2]);
  }
  nnd_image_free(&img);
  free(png);
  /* 16-bit RGB keeps the high byte; 16-bit gray saturates at 255 (Pillow) */
  unsigned char rgb16[W * H * 6], g16[W * H * 2];
  for (int i = 0; i < W * H * 3; i++)
    rgb16[2 * i] = rgb[i], rgb16[2 * i + 1] = 0xAB;
  for (int i = 0; i < W * H; i++)
    g16[2 * i] = (unsigned char)(i % 2), g16[2 * i + 1] = (unsigned char)i;
  png = encode_png(W, H, PNG_COLOR_TYPE_RGB, 16, 0, rgb16, NULL, 0, NULL, 0, &n);
  ASSERT_TRUE(decode_ok(png, n, &img));
  ASSERT_TRUE(memcmp(img.pixels, rgb, W * H * 3) == 0);
  nnd_image_free(&img);
  free(png);
  png = encode_png(W, H, PNG_COLOR_TYPE_GRAY, 16, 1, g16, NULL, 0, NULL, 0, &n);
  ASSERT_TRUE(decode_ok(png, n, &img));
  for (int i = 0; i < W * H; i++)
    ASSERT_EQ_INT(i % 2 ? 255 : i, img.pixels[3 * i + 1]);
  nnd_image_free(&img);
  free(png);
  free(rgb);
  return 0;
}

static int test_jpeg_flavours(void) {
  enum { W = 40, H = 24 };
  unsigned char *rgb = pattern_rgb(W, H);
  for (int prog = 0; prog <= 1; prog++) {
    size_t n;
    unsigned char *jpg = encode_jpeg(W, H, 3, rgb, 100, prog, &n);
    nnd_image img;
    nnd_error err = {0};
    ASSERT_EQ_INT(NND_OK, nnd_image_decode(jpg, n, "t.jpg", 0, &img, &err));
    ASSERT_EQ_INT(W, img.width);
    ASSERT_EQ_INT(H, img.height);
    /* lossy: near the pattern where it is smooth (green = 5 y) */
    ASSERT_NEAR(5 * 10, img.pixels[(10 * W + 20) * 3 + 1], 12);
    nnd_image_free(&img);
    free(jpg);
  }
  unsigned char gray[W * H];
  for (int i = 0; i < W * H; i++)
    gray[i] = (unsigned char)(i % W * 6);
  size_t n;
  unsigned char *jpg = encode_jpeg(W, H, 1, gray, 95, 0, &n);
  nnd_image img;
  nnd_error err = {0};
  ASSERT_EQ_INT(NND_OK, nnd_image_decode(jpg, n, "g.jpg", 0, &img, &err));
  for (int i = 0; i < W * H; i++) {
    ASSERT_EQ_INT(img.pixels[3 * i], img.pixels[3 * i + 1]);
    ASSERT_EQ_INT(img.pixels[3 * i], img.pixels[3 * i + 2]);
  }
  nnd_image_free(&img);
  free(jpg);
  free(rgb);
  return 0;
}

/* Decodes data[0..size) and requires an error (not a crash) naming the file. */
static int expect_fail(const unsigned char *data, size_t size, const char *name, nnd_status want,
                       const char *msg) {
  nnd_image img;
  nnd_error err = {0};
  nnd_status st = nnd_image_decode(data, size, name, 0, &img, &err);
  if (st == NND_OK) {
    nnd_image_free(&img);
    fprintf(stderr, "%s (%zu bytes): decoded, expected an error\n", name, size);
    return 1;
  }
  if ((want != NND_OK && st != want) || !strstr(err.message, name) ||
      (msg && !strstr(err.message, msg))) {
    fprintf(stderr, "%s (%zu bytes): got %s \"%s\", wanted \"%s\"\n", name, size,
            nnd_status_str(st), err.message, msg ? msg : "");
    return 1;
  }
  if (img.pixels || img.width) return 1;
  return 0;
}

static int test_truncated_and_corrupt_jpeg(void) {
  enum { W = 64, H = 48 };
  unsigned char *rgb = pattern_rgb(W, H);
  int f = 0;
  for (int prog = 0; prog <= 1; prog++) {
    size_t n;
    unsigned char *jpg = encode_jpeg(W, H, 3, rgb, 90, prog, &n);
    /* every cut: must fail cleanly; cuts inside the scan data say "truncated" */
    for (size_t cut = 0; cut + 2 < n; cut += (cut < 700 ? 1 : 7))
      f |= expect_fail(jpg, cut, "cut.jpg", NND_ERR_FORMAT, NULL);
    f |= expect_fail(jpg, n * 3 / 4, "half.jpg", NND_ERR_FORMAT,
                     prog ? "half.jpg: " : "half.jpg: truncated JPEG");
    /* a zero width in the SOF marker */
    unsigned char *bad = malloc(n);
    memcpy(bad, jpg, n);
    for (size_t i = 2; i + 9 < n; i++) {
      if (bad[i] == 0xFF && (bad[i + 1] == 0xC0 || bad[i + 1] == 0xC2)) {
        bad[i + 7] = bad[i + 8] = 0; /* width */
        break;
      }
    }
    f |= expect_fail(bad, n, "sof.jpg", NND_ERR_FORMAT, "sof.jpg: corrupt JPEG");
    /* garbage after the SOI */
    memset(bad + 3, 0x5A, n - 3);
    f |= expect_fail(bad, n, "junk.jpg", NND_ERR_FORMAT, "corrupt JPEG");
    free(bad);
    free(jpg);
  }
  free(rgb);
  return f;
}

static int test_truncated_and_corrupt_png(void) {
  enum { W = 33, H = 21 };
  unsigned char *rgb = pattern_rgb(W, H);
  size_t n;
  unsigned char *png = encode_png(W, H, PNG_COLOR_TYPE_RGB, 8, 0, rgb, NULL, 0, NULL, 0, &n);
  int f = 0;
  /* every cut up to the end of IDAT fails cleanly */
  for (size_t cut = 0; cut + 12 < n; cut++)
    f |= expect_fail(png, cut, "cut.png", NND_ERR_FORMAT, cut >= 8 ? "cut.png: corrupt PNG" : NULL);
  f |= expect_fail(png, n / 2, "half.png", NND_ERR_FORMAT, "truncated PNG");
  unsigned char *bad = malloc(n);
  /* IHDR CRC */
  memcpy(bad, png, n);
  bad[29] ^= 0xFF;
  f |= expect_fail(bad, n, "crc.png", NND_ERR_FORMAT, "crc.png: corrupt PNG");
  /* compressed data damaged (CRC fixed up is not needed: libpng checks the CRC first) */
  memcpy(bad, png, n);
  for (size_t i = 45; i < n - 20; i++)
    bad[i] ^= 0x33;
  f |= expect_fail(bad, n, "idat.png", NND_ERR_FORMAT, "corrupt PNG");
  /* a bad colour type / depth combination in IHDR (CRC recomputed) */
  memcpy(bad, png, n);
  bad[24] = 3; /* depth 3 */
  uint32_t crc = (uint32_t)crc32(0, bad + 12, 17);
  bad[29] = (unsigned char)(crc >> 24), bad[30] = (unsigned char)(crc >> 16);
  bad[31] = (unsigned char)(crc >> 8), bad[32] = (unsigned char)crc;
  f |= expect_fail(bad, n, "depth.png", NND_ERR_FORMAT, "depth.png: corrupt PNG");
  free(bad);
  free(png);
  free(rgb);
  return f;
}

static int test_size_cap(void) {
  enum { W = 100, H = 80 };
  unsigned char *rgb = pattern_rgb(W, H);
  size_t n;
  nnd_image img;
  nnd_error err = {0};
  unsigned char *png = encode_png(W, H, PNG_COLOR_TYPE_RGB, 8, 0, rgb, NULL, 0, NULL, 0, &n);
  ASSERT_EQ_INT(NND_ERR_FORMAT, nnd_image_decode(png, n, "big.png", 7999, &img, &err));
  ASSERT_CONTAINS(err.message, "big.png: PNG image is 100x80, over the limit of 7999 pixels");
  ASSERT_EQ_INT(NND_OK, nnd_image_decode(png, n, "big.png", 8000, &img, NULL));
  nnd_image_free(&img);
  /* an IHDR that claims 100000 x 100000 is refused before anything is allocated */
  png[16] = 0, png[17] = 1, png[18] = 0x86, png[19] = 0xA0;
  png[20] = 0, png[21] = 1, png[22] = 0x86, png[23] = 0xA0;
  uint32_t crc = (uint32_t)crc32(0, png + 12, 17);
  png[29] = (unsigned char)(crc >> 24), png[30] = (unsigned char)(crc >> 16);
  png[31] = (unsigned char)(crc >> 8), png[32] = (unsigned char)crc;
  nnd_error_clear(&err);
  ASSERT_EQ_INT(NND_ERR_FORMAT, nnd_image_decode(png, n, "huge.png", 0, &img, &err));
  ASSERT_CONTAINS(err.message, "100000x100000, over the limit of 50000000 pixels (50 megapixels)");
  free(png);
  unsigned char *jpg = encode_jpeg(W, H, 3, rgb, 80, 0, &n);
  nnd_error_clear(&err);
  ASSERT_EQ_INT(NND_ERR_FORMAT, nnd_image_decode(jpg, n, "big.jpg", 1000, &img, &err));
  ASSERT_CONTAINS(err.message, "big.jpg: JPEG image is 100x80, over the limit");
  free(jpg);
  free(rgb);
  return 0;
}

static int test_foreign_files(void) {
  int f = 0;
  f |= expect_fail((const unsigned char *)"GIF89a....", 10, "a.gif", NND_ERR_UNSUPPORTED,
                   "a.gif: GIF images are not supported (JPEG and PNG only)");
  f |= expect_fail((const unsigned char *)"RIFF\0\0\0\0WEBPVP8 ", 16, "a.webp", NND_ERR_UNSUPPORTED,
                   "WebP");
  f |= expect_fail((const unsigned char *)"hello", 5, "a.png", NND_ERR_FORMAT,
                   "a.png: not a JPEG or PNG image");
  f |= expect_fail((const unsigned char *)"", 0, "e.jpg", NND_ERR_FORMAT, "(empty file)");
  nnd_image img;
  nnd_error err = {0};
  ASSERT_EQ_INT(NND_ERR_IO, nnd_image_load("/nonexistent/x.jpg", 0, &img, &err));
  ASSERT_CONTAINS(err.message, "/nonexistent/x.jpg: cannot open");
  nnd_image_free(NULL);
  return f;
}

NND_TEST_MAIN(NND_TEST(test_png_color_types), NND_TEST(test_jpeg_flavours),
              NND_TEST(test_truncated_and_corrupt_jpeg), NND_TEST(test_truncated_and_corrupt_png),
              NND_TEST(test_size_cap), NND_TEST(test_foreign_files))
