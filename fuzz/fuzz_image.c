/* libFuzzer target: JPEG (libjpeg-turbo) and PNG (libpng) decoding from
 * memory, then the preprocessing pipeline (Pillow-exact resize, crops,
 * normalisation) on whatever decoded. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include "nndiff/data.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  nnd_image img;
  /* 1 megapixel keeps each run fast; the limit logic is what matters */
  if (nnd_image_decode(data, size, "fuzz", 1000 * 1000, &img, NULL) != NND_OK) return 0;
  static const char *const specs[] = {"torchvision size=40 crop=32", "inception",
                                      "keras-caffe filter=nearest"};
  nnd_item_shape shapes[] = {{3, {3, 32, 32}, NND_DATA_LAYOUT_NCHW},
                             {3, {29, 31, 3}, NND_DATA_LAYOUT_NHWC},
                             {3, {1, 16, 16}, NND_DATA_LAYOUT_NCHW}};
  float out[3 * 32 * 32];
  size_t which = size % 3;
  nnd_preprocess pp, r;
  if (nnd_preprocess_from_options(specs[which], &pp, NULL) == NND_OK &&
      nnd_preprocess_resolve(&pp, &shapes[which], &r, NULL) == NND_OK) {
    nnd_image u8;
    if (nnd_preprocess_image(&r, &img, out, sizeof out / sizeof out[0], &u8, NULL) == NND_OK)
      nnd_image_free(&u8);
  }
  nnd_image_free(&img);
  return 0;
}
