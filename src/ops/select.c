/* Selection kernels of any element type: Where (elementwise choice between
 * two broadcast tensors) and ScatterND (a copy of the data with slices
 * overwritten). They serve shape arithmetic at create time (ViT's Expand
 * shape, Swin's window masks) as much as activations at run time. */
#include <string.h>

#include "ops/ops.h"
#include "ops/parallel.h"

/* Row-major element strides of dims, 0 where the dim is 1 (broadcast). */
static void bstrides(int rank, const int64_t *dims, int64_t *st) {
  int64_t s = 1;
  for (int d = rank - 1; d >= 0; d--) {
    st[d] = dims[d] == 1 ? 0 : s;
    s *= dims[d];
  }
}

void nnd__where(size_t es, int rank, const int64_t *out_dims, const int64_t *c_dims,
                const int64_t *cond, const int64_t *x_dims, const void *x, const int64_t *y_dims,
                const void *y, void *out) {
  int64_t sc[NND_MAX_RANK], sx[NND_MAX_RANK], sy[NND_MAX_RANK], numel = 1;
  bstrides(rank, c_dims, sc);
  bstrides(rank, x_dims, sx);
  bstrides(rank, y_dims, sy);
  for (int d = 0; d < rank; d++)
    numel *= out_dims[d];
  NND_OMP_FOR(numel >= NND_PAR_MIN_WORK)
  for (int64_t i = 0; i < numel; i++) {
    int64_t oc = 0, ox = 0, oy = 0, rem = i;
    for (int d = rank - 1; d >= 0; d--) {
      const int64_t k = rem % out_dims[d];
      rem /= out_dims[d];
      oc += k * sc[d];
      ox += k * sx[d];
      oy += k * sy[d];
    }
    const void *src =
        cond[oc] ? (const char *)x + (size_t)ox * es : (const char *)y + (size_t)oy * es;
    memcpy((char *)out + (size_t)i * es, src, es);
  }
}

void nnd__scatter_nd(size_t es, int64_t data_numel, const void *data, int64_t n_idx, int k,
                     const int64_t *idx, const int64_t *data_strides, int64_t slice,
                     const void *updates, void *out) {
  if (out != data) memcpy(out, data, (size_t)data_numel * es);
  /* Serial: with repeated tuples the last update must win, as it does in
   * ONNX Runtime. */
  for (int64_t j = 0; j < n_idx; j++) {
    int64_t off = 0;
    for (int q = 0; q < k; q++)
      off += idx[j * k + q] * data_strides[q];
    memcpy((char *)out + (size_t)off * es, (const char *)updates + (size_t)(j * slice) * es,
           (size_t)slice * es);
  }
}
