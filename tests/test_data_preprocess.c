/* Preprocessing: presets, CLI option strings, the one-line description,
 * resolving against model input shapes, and the pipeline's arithmetic
 * (crop rounding, padding, channel order, layouts). Pillow-exact resizing
 * is checked against Pillow itself by tests/python/test_resize_vs_pillow.py. */
#include <stdlib.h>

#include "nnd_test.h"
#include "nndiff/data.h"

static int test_presets_and_options(void) {
  nnd_preprocess pp;
  nnd_error err = {0};
  ASSERT_EQ_INT(NND_OK, nnd_preprocess_from_options(NULL, &pp, &err));
  ASSERT_STR_EQ("torchvision", pp.preset);
  ASSERT_EQ_INT(256, pp.size);
  ASSERT_EQ_INT(224, pp.out_height);
  ASSERT_EQ_INT(NND_RESIZE_SHORTER, pp.resize);
  ASSERT_EQ_INT(NND_DATA_LAYOUT_NCHW, pp.layout);
  ASSERT_EQ_INT(0, pp.overridden);
  ASSERT_EQ_INT(NND_OK, nnd_preprocess_from_options("caffe", &pp, &err));
  ASSERT_STR_EQ("keras-caffe", pp.preset);
  ASSERT_EQ_INT(NND_ORDER_BGR, pp.order);
  ASSERT_NEAR(103.939, pp.mean[0], 0);
  ASSERT_EQ_INT(NND_OK, nnd_preprocess_from_options("inception crop=331", &pp, &err));
  ASSERT_NEAR(0.875, pp.central_fraction, 0);
  ASSERT_EQ_INT(331, pp.out_width);
  ASSERT_EQ_INT(NND_PP_KEY_CROP, pp.overridden);
  ASSERT_EQ_INT(NND_OK, nnd_preprocess_from_options(
                            "preset=keras-tf;order=bgr; scale=1/255 mean=0.5,0.25,0.125 std=2 "
                            "crop=200x300 resize=shorter size=320 filter=nearest fraction=0.5 "
                            "layout=nchw",
                            &pp, &err));
  ASSERT_EQ_INT(NND_ORDER_BGR, pp.order);
  ASSERT_NEAR(1.0 / 255, pp.scale, 1e-18);
  ASSERT_NEAR(0.25, pp.mean[1], 0);
  ASSERT_NEAR(2, pp.std[2], 0);
  ASSERT_EQ_INT(200, pp.out_height);
  ASSERT_EQ_INT(300, pp.out_width);
  ASSERT_EQ_INT(NND_RESIZE_SHORTER, pp.resize);
  ASSERT_EQ_INT(320, pp.size);
  ASSERT_EQ_INT(NND_FILTER_NEAREST, pp.filter);
  ASSERT_EQ_INT(1, pp.layout_forced);
  ASSERT_EQ_INT(NND_PP_KEY_ORDER | NND_PP_KEY_SCALE | NND_PP_KEY_MEAN | NND_PP_KEY_STD |
                    NND_PP_KEY_CROP | NND_PP_KEY_RESIZE | NND_PP_KEY_SIZE | NND_PP_KEY_FILTER |
                    NND_PP_KEY_FRACTION | NND_PP_KEY_LAYOUT,
                pp.overridden);
  return 0;
}

static int expect_usage(const char *spec, const char *msg) {
  nnd_preprocess pp;
  nnd_error err = {0};
  nnd_status st = nnd_preprocess_from_options(spec, &pp, &err);
  if (st != NND_ERR_USAGE || !strstr(err.message, msg)) {
    fprintf(stderr, "spec \"%s\": got %s \"%s\", wanted \"%s\"\n", spec, nnd_status_str(st),
            err.message, msg);
    return 1;
  }
  return 0;
}

static int test_bad_options(void) {
  int f = 0;
  f |= expect_usage("pytorch", "unknown preprocessing preset 'pytorch' (known: torchvision");
  f |= expect_usage("torchvision bogus=1", "unknown preprocessing option 'bogus'");
  f |= expect_usage("torchvision size=abc", "size=abc: expected an integer");
  f |= expect_usage("torchvision size=-3", "size=-3: expected");
  f |= expect_usage("crop=224 torchvision", "'torchvision': expected key=value");
  f |= expect_usage("torchvision crop=22x", "crop=22x: expected N or HxW");
  f |= expect_usage("torchvision fraction=0", "fraction=0: expected a number in (0, 1]");
  f |= expect_usage("torchvision fraction=1.5", "fraction=1.5");
  f |= expect_usage("torchvision std=0", "std=0: expected S or A,B,C, positive");
  f |= expect_usage("torchvision mean=1,2", "mean=1,2: expected M or A,B,C");
  f |= expect_usage("torchvision mean=1,2,3,4", "mean=1,2,3,4");
  f |= expect_usage("torchvision scale=1/0", "scale=1/0");
  f |= expect_usage("torchvision scale=nan", "scale=nan");
  f |= expect_usage("torchvision order=rbg", "order=rbg: expected rgb or bgr");
  f |= expect_usage("torchvision layout=chw", "layout=chw: expected nchw, nhwc or auto");
  f |= expect_usage("torchvision resize=crop", "resize=crop: expected shorter or direct");
  f |= expect_usage("torchvision filter=bicubic", "filter=bicubic: expected bilinear or nearest");
  f |= expect_usage("preset=nope", "unknown preprocessing preset 'nope'");
  return f;
}

static int test_describe(void) {
  nnd_preprocess pp, r;
  nnd_error err = {0};
  char line[512];
  ASSERT_EQ_INT(NND_OK, nnd_preprocess_preset("torchvision", &pp, &err));
  nnd_preprocess_describe(&pp, line, sizeof line);
  ASSERT_STR_EQ("torchvision: resize shorter side to 256 (Pillow bilinear, antialiased), centre "
                "crop 224x224, RGB, x/255, mean [0.485,0.456,0.406], std [0.229,0.224,0.225], "
                "layout of the model (else NCHW)",
                line);
  nnd_item_shape nhwc = {.rank = 3, .dims = {224, 224, 3}};
  ASSERT_EQ_INT(NND_OK, nnd_preprocess_resolve(&pp, &nhwc, &r, &err));
  nnd_preprocess_describe(&r, line, sizeof line);
  ASSERT_CONTAINS(line, "std [0.229,0.224,0.225], NHWC");
  ASSERT_EQ_INT(NND_OK, nnd_preprocess_from_options("inception", &pp, &err));
  nnd_preprocess_describe(&pp, line, sizeof line);
  ASSERT_CONTAINS(line, "inception: central crop 0.875, resize to the model's input size");
  nnd_item_shape in299 = {.rank = 3, .dims = {299, 299, 3}};
  ASSERT_EQ_INT(NND_OK, nnd_preprocess_resolve(&pp, &in299, &r, &err));
  nnd_preprocess_describe(&r, line, sizeof line);
  ASSERT_STR_EQ("inception: central crop 0.875, resize to 299x299 (Pillow bilinear, antialiased), "
                "RGB, x/127.5, mean 1, std 1, NHWC",
                line);
  ASSERT_EQ_INT(NND_OK, nnd_preprocess_from_options("keras-caffe filter=nearest", &pp, &err));
  nnd_item_shape in224 = {.rank = 3, .dims = {224, 224, 3}};
  ASSERT_EQ_INT(NND_OK, nnd_preprocess_resolve(&pp, &in224, &r, &err));
  nnd_preprocess_describe(&r, line, sizeof line);
  ASSERT_STR_EQ(
      "keras-caffe (changed: filter): resize to 224x224 (Pillow nearest), BGR, x (0..255), mean "
      "[103.939,116.779,123.68], std 1, NHWC",
      line);
  nnd_item_shape gray = {.rank = 3, .dims = {1, 28, 28}};
  ASSERT_EQ_INT(NND_OK, nnd_preprocess_from_options("raw scale=0.003", &pp, &err));
  ASSERT_EQ_INT(NND_OK, nnd_preprocess_resolve(&pp, &gray, &r, &err));
  nnd_preprocess_describe(&r, line, sizeof line);
  ASSERT_CONTAINS(line, "raw (changed: scale): gray (Pillow L), resize to 28x28");
  ASSERT_CONTAINS(line, "x*0.003, mean 0, std 1, NCHW");
  /* snprintf semantics */
  size_t need = nnd_preprocess_describe(&r, line, 10);
  ASSERT_EQ_INT(9, strlen(line));
  ASSERT_TRUE(need > 10);
  return 0;
}

static int test_resolve(void) {
  nnd_preprocess pp, r;
  nnd_error err = {0};
  ASSERT_EQ_INT(NND_OK, nnd_preprocess_preset("torchvision", &pp, &err));
  nnd_item_shape chw = {.rank = 3, .dims = {3, 224, 224}};
  ASSERT_EQ_INT(NND_OK, nnd_preprocess_resolve(&pp, &chw, &r, &err));
  ASSERT_EQ_INT(NND_DATA_LAYOUT_NCHW, r.layout);
  ASSERT_EQ_INT(3, r.channels);
  /* ambiguous dims: the preset's layout */
  nnd_item_shape amb = {.rank = 3, .dims = {3, 224, 3}};
  nnd_preprocess small;
  ASSERT_EQ_INT(NND_OK, nnd_preprocess_from_options("keras-tf", &small, &err));
  nnd_item_shape amb3 = {.rank = 3, .dims = {3, 3, 3}};
  ASSERT_EQ_INT(NND_OK, nnd_preprocess_resolve(&small, &amb3, &r, &err));
  ASSERT_EQ_INT(NND_DATA_LAYOUT_NHWC, r.layout);
  /* the model says */
  amb3.layout = NND_DATA_LAYOUT_NCHW;
  ASSERT_EQ_INT(NND_OK, nnd_preprocess_resolve(&small, &amb3, &r, &err));
  ASSERT_EQ_INT(NND_DATA_LAYOUT_NCHW, r.layout);
  /* wrong size for a fixed crop */
  nnd_item_shape in299 = {.rank = 3, .dims = {3, 299, 299}};
  ASSERT_EQ_INT(NND_ERR_USAGE, nnd_preprocess_resolve(&pp, &in299, &r, &err));
  ASSERT_CONTAINS(err.message, "preprocessing 'torchvision' produces 224x224 images but the model "
                               "input [N,3,299,299] is 299x299; set crop=299x299");
  /* not an image */
  nnd_item_shape vec = {.rank = 1, .dims = {10}};
  nnd_error_clear(&err);
  ASSERT_EQ_INT(NND_ERR_USAGE, nnd_preprocess_resolve(&pp, &vec, &r, &err));
  ASSERT_CONTAINS(err.message, "[N,10] is not an image");
  nnd_item_shape four = {.rank = 3, .dims = {4, 224, 224}};
  nnd_error_clear(&err);
  ASSERT_EQ_INT(NND_ERR_USAGE, nnd_preprocess_resolve(&pp, &four, &r, &err));
  ASSERT_CONTAINS(err.message, "[N,4,224,224] read as NCHW has 4 channels");
  /* a forced layout that contradicts the model's */
  ASSERT_EQ_INT(NND_OK, nnd_preprocess_from_options("torchvision layout=nhwc", &pp, &err));
  chw.layout = NND_DATA_LAYOUT_NCHW;
  nnd_error_clear(&err);
  ASSERT_EQ_INT(NND_ERR_USAGE, nnd_preprocess_resolve(&pp, &chw, &r, &err));
  ASSERT_CONTAINS(err.message, "asks for layout NHWC but the model input [N,3,224,224] is NCHW");
  (void)amb;
  return 0;
}

/* A w x h RGB image whose red channel is the column index, green the row
 * index, blue constant 200. */
static nnd_image index_image(int w, int h) {
  nnd_image img = {w, h, 3, malloc((size_t)w * (size_t)h * 3)};
  for (int y = 0; y < h; y++)
    for (int x = 0; x < w; x++) {
      unsigned char *p = img.pixels + ((size_t)y * (size_t)w + (size_t)x) * 3;
      p[0] = (unsigned char)x, p[1] = (unsigned char)y, p[2] = 200;
    }
  return img;
}

static int run(const char *spec, const nnd_item_shape *shape, const nnd_image *img, float *out,
               size_t n, nnd_image *u8) {
  nnd_preprocess pp, r;
  nnd_error err = {0};
  if (nnd_preprocess_from_options(spec, &pp, &err) ||
      nnd_preprocess_resolve(&pp, shape, &r, &err) ||
      nnd_preprocess_image(&r, img, out, n, u8, &err)) {
    fprintf(stderr, "%s: %s\n", spec, err.message);
    return 1;
  }
  return 0;
}

static int test_centre_crop_rounding(void) {
  /* No resize (shorter side already 226): torchvision's CenterCrop offsets
   * are round((227-224)/2) = round(1.5) = 2 and round((229-224)/2) =
   * round(2.5) = 2 (Python rounds halves to even); top = (226-224)/2 = 1. */
  static const int widths[2] = {227, 229};
  static const int lefts[2] = {2, 2};
  for (int k = 0; k < 2; k++) {
    nnd_image img = index_image(widths[k], 226);
    nnd_item_shape shape = {.rank = 3, .dims = {3, 224, 224}};
    float *out = malloc(3 * 224 * 224 * sizeof *out);
    nnd_image u8;
    ASSERT_EQ_INT(0, run("raw resize=shorter size=226", &shape, &img, out, 3 * 224 * 224, &u8));
    ASSERT_NEAR(lefts[k], out[0], 0);  /* R of pixel (0,0) = source column */
    ASSERT_NEAR(1, out[224 * 224], 0); /* G of pixel (0,0) = source row */
    ASSERT_NEAR(lefts[k] + 223, out[223], 0);
    ASSERT_NEAR(200, out[2 * 224 * 224 + 5], 0); /* B plane */
    ASSERT_EQ_INT(224, u8.width);
    ASSERT_EQ_INT(lefts[k], u8.pixels[0]);
    nnd_image_free(&u8);
    nnd_image_free(&img);
    free(out);
  }
  return 0;
}

static int test_padding_order_layout(void) {
  /* 100x100 image, shorter side resized to 100 (no-op), crop 224: padded
   * with zeros, image at offset (62, 62). */
  nnd_image img = index_image(100, 100);
  nnd_item_shape hwc = {.rank = 3, .dims = {224, 224, 3}};
  float *out = malloc(3 * 224 * 224 * sizeof *out);
  ASSERT_EQ_INT(0,
                run("raw resize=shorter size=100 crop=224", &hwc, &img, out, 3 * 224 * 224, NULL));
  ASSERT_NEAR(0, out[0], 0);
  ASSERT_NEAR(200, out[(62 * 224 + 62) * 3 + 2], 0);  /* first image pixel, blue */
  ASSERT_NEAR(99, out[(161 * 224 + 161) * 3 + 0], 0); /* last image pixel, red = 99 */
  ASSERT_NEAR(0, out[(162 * 224 + 162) * 3 + 2], 0);
  /* BGR, mean subtraction, NHWC: keras-caffe on a constant image */
  nnd_image c = {64, 48, 3, malloc(64 * 48 * 3)};
  for (int i = 0; i < 64 * 48; i++)
    c.pixels[3 * i] = 10, c.pixels[3 * i + 1] = 20, c.pixels[3 * i + 2] = 30;
  nnd_item_shape s8 = {.rank = 3, .dims = {8, 8, 3}};
  ASSERT_EQ_INT(0, run("keras-caffe", &s8, &c, out, 192, NULL));
  ASSERT_NEAR(30.0f - 103.939f, out[0], 0); /* B first */
  ASSERT_NEAR(20.0f - 116.779f, out[1], 0);
  ASSERT_NEAR(10.0f - 123.68f, out[2], 0);
  ASSERT_NEAR(30.0f - 103.939f, out[63 * 3], 0);
  /* torchvision numbers in float32, NCHW */
  nnd_item_shape c8 = {.rank = 3, .dims = {3, 8, 8}};
  ASSERT_EQ_INT(0, run("torchvision crop=8 size=10", &c8, &c, out, 192, NULL));
  ASSERT_NEAR((10.0f / 255.0f - 0.485f) / 0.229f, out[0], 0);
  ASSERT_NEAR((20.0f / 255.0f - 0.456f) / 0.224f, out[64], 0);
  ASSERT_NEAR((30.0f / 255.0f - 0.406f) / 0.225f, out[191], 0);
  /* keras-tf: [-1, 1] */
  ASSERT_EQ_INT(0, run("keras-tf", &s8, &c, out, 192, NULL));
  ASSERT_NEAR(10.0f / 127.5f - 1.0f, out[0], 0);
  /* gray model: Pillow's L of (10,20,30) = (10*19595 + 20*38470 + 30*7471 + 32768) >> 16 = 18 */
  nnd_item_shape g8 = {.rank = 3, .dims = {1, 8, 8}};
  ASSERT_EQ_INT(0, run("raw", &g8, &c, out, 64, NULL));
  ASSERT_NEAR(18, out[0], 0);
  ASSERT_NEAR(18, out[63], 0);
  /* buffer too small */
  nnd_preprocess pp, r;
  nnd_error err = {0};
  nnd_preprocess_preset("raw", &pp, &err);
  nnd_preprocess_resolve(&pp, &c8, &r, &err);
  ASSERT_EQ_INT(NND_ERR_USAGE, nnd_preprocess_image(&r, &c, out, 191, NULL, &err));
  nnd_image_free(&c);
  nnd_image_free(&img);
  free(out);
  return 0;
}

static int test_resize_basics(void) {
  nnd_image img = index_image(50, 40), out;
  nnd_error err = {0};
  /* constant channels stay constant under down- and up-scaling */
  static const int sizes[][2] = {{17, 13}, {50, 40}, {50, 97}, {123, 40}, {1, 1}};
  for (size_t k = 0; k < sizeof sizes / sizeof sizes[0]; k++) {
    ASSERT_EQ_INT(
        NND_OK, nnd_image_resize(&img, sizes[k][0], sizes[k][1], NND_FILTER_BILINEAR, &out, &err));
    ASSERT_EQ_INT(sizes[k][0], out.width);
    ASSERT_EQ_INT(sizes[k][1], out.height);
    for (int64_t i = 0; i < out.width * out.height; i++)
      ASSERT_EQ_INT(200, out.pixels[3 * i + 2]);
    nnd_image_free(&out);
  }
  /* nearest, halving: source pixel (2x + 1) by Pillow's centre stepping */
  ASSERT_EQ_INT(NND_OK, nnd_image_resize(&img, 25, 20, NND_FILTER_NEAREST, &out, &err));
  ASSERT_EQ_INT(1, out.pixels[0]);
  ASSERT_EQ_INT(49, out.pixels[24 * 3]);
  ASSERT_EQ_INT(39, out.pixels[(19 * 25) * 3 + 1]);
  nnd_image_free(&out);
  ASSERT_EQ_INT(NND_ERR_USAGE, nnd_image_resize(&img, 0, 5, NND_FILTER_BILINEAR, &out, &err));
  nnd_image_free(&img);
  return 0;
}

NND_TEST_MAIN(NND_TEST(test_presets_and_options), NND_TEST(test_bad_options),
              NND_TEST(test_describe), NND_TEST(test_resolve), NND_TEST(test_centre_crop_rounding),
              NND_TEST(test_padding_order_layout), NND_TEST(test_resize_basics))
