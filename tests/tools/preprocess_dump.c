/* Test helper: decodes one image and runs a preprocessing pipeline on it,
 * writing every stage as .npy so a Python oracle (Pillow, torchvision) can
 * compare them:
 *   PREFIX.decoded.npy  [H,W,3] uint8   the decoded RGB image
 *   PREFIX.u8.npy       [h,w,C] uint8   after crop/resize, before normalising
 *   PREFIX.f32.npy      [C,h,w] or [h,w,C] float32, the model input
 * and prints the one-line description of the preprocessing on stdout.
 *
 * usage: preprocess_dump [-p SPEC] [-s SIZE | -s HxW] [-c CHANNELS] IMAGE PREFIX
 *   SPEC is an nnd_preprocess_from_options string ("torchvision crop=299");
 *   SIZE is the model input size (default: the preset's crop, else 224). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "nndiff/data.h"

static int fail(const nnd_error *err) {
  fprintf(stderr, "preprocess_dump: %s: %s\n", nnd_status_str(err->status), err->message);
  return 2;
}

int main(int argc, char **argv) {
  const char *spec = "torchvision", *size = NULL;
  int channels = 3, i = 1;
  for (; i + 1 < argc && argv[i][0] == '-'; i += 2) {
    if (!strcmp(argv[i], "-p"))
      spec = argv[i + 1];
    else if (!strcmp(argv[i], "-s"))
      size = argv[i + 1];
    else if (!strcmp(argv[i], "-c"))
      channels = atoi(argv[i + 1]);
    else
      break;
  }
  if (argc - i != 2) {
    fprintf(stderr, "usage: preprocess_dump [-p SPEC] [-s SIZE|HxW] [-c CHANNELS] IMAGE PREFIX\n");
    return 2;
  }
  const char *image = argv[i], *prefix = argv[i + 1];
  nnd_error err = {0};
  nnd_preprocess pp;
  if (nnd_preprocess_from_options(spec, &pp, &err)) return fail(&err);
  long long h = pp.out_height > 0 ? pp.out_height : 224, w = pp.out_width > 0 ? pp.out_width : 224;
  if (size && sscanf(size, "%lldx%lld", &h, &w) != 2) {
    if (sscanf(size, "%lld", &h) != 1) return 2;
    w = h;
  }
  nnd_item_shape shape = {.rank = 3, .layout = pp.layout};
  if (pp.layout == NND_DATA_LAYOUT_NHWC) {
    shape.dims[0] = h, shape.dims[1] = w, shape.dims[2] = channels;
  } else {
    shape.dims[0] = channels, shape.dims[1] = h, shape.dims[2] = w;
  }
  nnd_preprocess resolved;
  if (nnd_preprocess_resolve(&pp, &shape, &resolved, &err)) return fail(&err);
  char line[512];
  nnd_preprocess_describe(&resolved, line, sizeof line);
  printf("%s\n", line);

  nnd_image img = {0}, u8 = {0};
  size_t n = (size_t)h * (size_t)w * (size_t)channels;
  float *out = malloc(n * sizeof *out);
  char path[4096];
  int rc = 0;
  if (!out || nnd_image_load(image, 0, &img, &err) ||
      nnd_preprocess_image(&resolved, &img, out, n, &u8, &err)) {
    rc = fail(&err);
    goto done;
  }
  int64_t dshape[3] = {img.height, img.width, 3};
  snprintf(path, sizeof path, "%s.decoded.npy", prefix);
  if (nnd_npy_write(path, NND_NPY_U8, dshape, 3, img.pixels, &err)) {
    rc = fail(&err);
    goto done;
  }
  int64_t ushape[3] = {u8.height, u8.width, u8.channels};
  snprintf(path, sizeof path, "%s.u8.npy", prefix);
  if (nnd_npy_write(path, NND_NPY_U8, ushape, 3, u8.pixels, &err)) {
    rc = fail(&err);
    goto done;
  }
  snprintf(path, sizeof path, "%s.f32.npy", prefix);
  if (nnd_npy_write_f32(path, shape.dims, 3, out, &err)) rc = fail(&err);
done:
  nnd_image_free(&img);
  nnd_image_free(&u8);
  free(out);
  return rc;
}
