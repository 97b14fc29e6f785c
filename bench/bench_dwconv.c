/* Our depthwise convolution (dwconv.c) against oneDNN's on MobileNetV2's
 * depthwise layers (batch 1, channels last, 3x3, ReLU6 post-op), to check
 * the choice in conv_fast.c. Prints GFLOPS per layer. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "ops/fast.h"

static double now(void) {
  struct timespec ts;
  clock_gettime(getenv("WALL") ? CLOCK_MONOTONIC : CLOCK_THREAD_CPUTIME_ID, &ts);
  return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

int main(int argc, char **argv) {
  int threads = argc > 1 ? atoi(argv[1]) : 1;
  nnd__set_threads(threads);
  static const int layers[][3] = {/* c, h, stride */
                                  {32, 112, 1}, {96, 112, 2}, {144, 56, 1}, {144, 56, 2},
                                  {192, 28, 1}, {192, 28, 2}, {384, 14, 1}, {576, 14, 1},
                                  {576, 14, 2}, {960, 7, 1}};
  nnd_error err = {0};
  nnd__fast_ctx *ctx = NULL;
  if (nnd__fast_ctx_create(&ctx, &err) != NND_OK) return 1;
  printf("%-18s %9s %9s   (GFLOPS, %d thread(s))\n", "layer", "ours", "onednn", threads);
  double tot[2] = {0}, flops_all = 0;
  for (size_t i = 0; i < sizeof layers / sizeof layers[0]; i++) {
    nnd__conv_geom g = {0};
    g.n = 1;
    g.c = g.o = g.groups = layers[i][0];
    g.in[0] = g.k[0] = g.stride[0] = g.dil[0] = g.out[0] = 1;
    g.in[1] = g.in[2] = layers[i][1];
    g.k[1] = g.k[2] = 3;
    g.stride[1] = g.stride[2] = layers[i][2];
    g.dil[1] = g.dil[2] = 1;
    g.pad_begin[1] = g.pad_begin[2] = g.pad_end[1] = g.pad_end[2] = 1;
    g.out[1] = g.out[2] = (layers[i][1] + 2 - 3) / layers[i][2] + 1;
    g.channels_last = true;
    const size_t nx = (size_t)(g.c * g.in[1] * g.in[2]), ny = (size_t)(g.c * g.out[1] * g.out[2]);
    float *x = malloc(nx * 4), *y = malloc(ny * 4), *w = malloc((size_t)g.c * 9 * 4),
          *b = malloc((size_t)g.c * 4);
    for (size_t k = 0; k < nx; k++)
      x[k] = (float)(k % 17) * 0.1f - 0.8f;
    for (int64_t k = 0; k < g.c * 9; k++)
      w[k] = (float)(k % 7) * 0.1f - 0.3f;
    for (int64_t k = 0; k < g.c; k++)
      b[k] = 0.01f * (float)k;
    double flops = 2.0 * (double)ny * 9;
    flops_all += flops;
    double best[2] = {1e9, 1e9};
    for (int f = 0; f < 2; f++) {
      nnd__fconv_desc d = {0};
      d.geom = g;
      d.w = w;
      d.b = b;
      d.n_post = getenv("NOPOST") ? 0 : 1;
      d.post[0] = (nnd__unary){NND__UN_CLIP, 0, 6};
      d.force = f == 0 ? "dw" : "onednn";
      nnd__fconv *c = NULL;
      if (nnd__fconv_create(ctx, &d, &c, &err) != NND_OK) {
        fprintf(stderr, "%s\n", err.message);
        continue;
      }
      void *scratch = aligned_alloc(64, nnd__fconv_scratch_bytes(c) + 64);
      for (int r = 0; r < 200; r++) {
        double t0 = now();
        nnd__fconv_run(c, x, y, scratch, &err);
        double t = now() - t0;
        if (r > 5 && t < best[f]) best[f] = t;
      }
      free(scratch);
      nnd__fconv_destroy(c);
      tot[f] += best[f];
    }
    char name[32];
    snprintf(name, sizeof name, "dw %dx%d/%d c%d", layers[i][1], layers[i][1], layers[i][2],
             layers[i][0]);
    printf("%-18s %9.1f %9.1f\n", name, flops / best[0] * 1e-9, flops / best[1] * 1e-9);
    free(x);
    free(y);
    free(w);
    free(b);
  }
  printf("%-18s %9.1f %9.1f   (ms: %.3f vs %.3f)\n", "all", flops_all / tot[0] * 1e-9,
         flops_all / tot[1] * 1e-9, tot[0] * 1e3, tot[1] * 1e3);
  nnd__fast_ctx_destroy(ctx);
  return 0;
}
