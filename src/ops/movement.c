/* Data-movement kernels for any element type (the element size is a
 * parameter): transpose, concat, split, slice, pad, gather, broadcast. They
 * serve the float32 and float64 paths and the int64 shape arithmetic the
 * engine folds at create time. */
#include <string.h>

#include "ops/ops.h"
#include "ops/parallel.h"

static inline void copy_elem(void *dst, const void *src, size_t es) {
  switch (es) {
  case 4: memcpy(dst, src, 4); break;
  case 8: memcpy(dst, src, 8); break;
  default: memcpy(dst, src, es); break;
  }
}

/* Row-major strides (in elements) of dims. */
static void strides_of(int rank, const int64_t *dims, int64_t *strides) {
  int64_t acc = 1;
  for (int i = rank - 1; i >= 0; i--) {
    strides[i] = acc;
    acc *= dims[i];
  }
}

/* y[c][r] = x[r][c] for a rows x cols matrix, in cache blocks. */
#define BLOCKED_TRANSPOSE(TY)                                                                      \
  static void transpose2d_##TY(int64_t rows, int64_t cols, const TY *x, TY *y) {                   \
    const int64_t B = 32;                                                                          \
    for (int64_t r0 = 0; r0 < rows; r0 += B)                                                       \
      for (int64_t c0 = 0; c0 < cols; c0 += B) {                                                   \
        const int64_t r1 = r0 + B < rows ? r0 + B : rows;                                          \
        const int64_t c1 = c0 + B < cols ? c0 + B : cols;                                          \
        for (int64_t c = c0; c < c1; c++)                                                          \
          for (int64_t r = r0; r < r1; r++)                                                        \
            y[c * rows + r] = x[r * cols + c];                                                     \
      }                                                                                            \
  }
BLOCKED_TRANSPOSE(uint32_t)
BLOCKED_TRANSPOSE(uint64_t)

void nnd__transpose(size_t es, int rank, const int64_t *in_dims, const int *perm, const void *x,
                    void *y) {
  /* Drop size-1 dims, then merge output dims that stay neighbours in x. */
  int map[NND_MAX_RANK]; /* input dim -> index among the kept dims, -1 dropped */
  int64_t kd[NND_MAX_RANK];
  int nk = 0;
  int64_t numel = 1;
  for (int i = 0; i < rank; i++) {
    numel *= in_dims[i];
    map[i] = in_dims[i] == 1 ? -1 : nk;
    if (in_dims[i] != 1) kd[nk++] = in_dims[i];
  }
  if (numel == 0) return;
  int kp[NND_MAX_RANK], np = 0;
  for (int i = 0; i < rank; i++)
    if (map[perm[i]] >= 0) kp[np++] = map[perm[i]];
  /* Merge: out dims i, i+1 with kp[i+1] == kp[i] + 1 become one input dim. */
  int64_t md[NND_MAX_RANK]; /* merged input dims, in input order */
  int group_of[NND_MAX_RANK];
  int ng = 0;
  int first_in_group[NND_MAX_RANK];
  for (int i = 0; i < np; i++) {
    if (i > 0 && kp[i] == kp[i - 1] + 1) {
      group_of[kp[i]] = group_of[kp[i - 1]];
    } else {
      group_of[kp[i]] = ng;
      first_in_group[ng] = kp[i];
      ng++;
    }
  }
  /* Order groups by their first input dim to get merged input dims. */
  int gorder[NND_MAX_RANK] = {0}; /* input-order position of each group */
  int ni = 0;
  for (int d = 0; d < nk; d++) {
    int gi = group_of[d];
    if (first_in_group[gi] == d) {
      gorder[gi] = ni;
      md[ni] = 1;
      ni++;
    }
  }
  for (int d = 0; d < nk; d++)
    md[gorder[group_of[d]]] *= kd[d];
  int mp[NND_MAX_RANK]; /* merged perm: output group i is input dim mp[i] */
  for (int gi = 0; gi < ng; gi++)
    mp[gi] = gorder[gi];
  const int r = ng;
  bool identity = true;
  for (int i = 0; i < r; i++)
    identity &= mp[i] == i;
  if (identity) {
    memcpy(y, x, (size_t)numel * es);
    return;
  }
  if ((es == 4 || es == 8) && (r == 2 || (r == 3 && mp[0] == 0 && mp[1] == 2 && mp[2] == 1))) {
    const int64_t batch = r == 3 ? md[0] : 1;
    const int64_t rows = md[r - 2], cols = md[r - 1];
    NND_OMP_FOR(numel >= NND_PAR_MIN_WORK && batch > 1)
    for (int64_t bi = 0; bi < batch; bi++) {
      if (es == 4)
        transpose2d_uint32_t(rows, cols, (const uint32_t *)x + bi * rows * cols,
                             (uint32_t *)y + bi * rows * cols);
      else
        transpose2d_uint64_t(rows, cols, (const uint64_t *)x + bi * rows * cols,
                             (uint64_t *)y + bi * rows * cols);
    }
    return;
  }
  int64_t is[NND_MAX_RANK], od[NND_MAX_RANK], os[NND_MAX_RANK];
  strides_of(r, md, is);
  for (int i = 0; i < r; i++) {
    od[i] = md[mp[i]];
    os[i] = is[mp[i]];
  }
  const int64_t inner = od[r - 1], rows = numel / inner, istep = os[r - 1];
  const char *xb = x;
  char *yb = y;
  NND_OMP_FOR(numel >= NND_PAR_MIN_WORK)
  for (int64_t row = 0; row < rows; row++) {
    int64_t off = 0, rem = row;
    for (int d = r - 2; d >= 0; d--) {
      off += rem % od[d] * os[d];
      rem /= od[d];
    }
    char *yp = yb + (size_t)(row * inner) * es;
    for (int64_t i = 0; i < inner; i++)
      copy_elem(yp + (size_t)i * es, xb + (size_t)(off + i * istep) * es, es);
  }
}

void nnd__concat(size_t es, int64_t outer, int n, const int64_t *chunk, const void *const *xs,
                 void *y) {
  int64_t total = 0;
  for (int i = 0; i < n; i++)
    total += chunk[i];
  NND_OMP_FOR(outer * total >= NND_PAR_MIN_WORK && outer > 1)
  for (int64_t o = 0; o < outer; o++) {
    char *yp = (char *)y + (size_t)(o * total) * es;
    for (int i = 0; i < n; i++) {
      size_t bytes = (size_t)chunk[i] * es;
      if (bytes) memcpy(yp, (const char *)xs[i] + (size_t)o * bytes, bytes);
      yp += bytes;
    }
  }
}

void nnd__split(size_t es, int64_t outer, int n, const int64_t *chunk, const void *x,
                void *const *ys) {
  int64_t total = 0;
  for (int i = 0; i < n; i++)
    total += chunk[i];
  NND_OMP_FOR(outer * total >= NND_PAR_MIN_WORK && outer > 1)
  for (int64_t o = 0; o < outer; o++) {
    const char *xp = (const char *)x + (size_t)(o * total) * es;
    for (int i = 0; i < n; i++) {
      size_t bytes = (size_t)chunk[i] * es;
      if (bytes && ys[i]) memcpy((char *)ys[i] + (size_t)o * bytes, xp, bytes);
      xp += bytes;
    }
  }
}

void nnd__slice(size_t es, int rank, const int64_t *in_dims, const int64_t *start,
                const int64_t *step, const int64_t *out_dims, const void *x, void *y) {
  int64_t numel = 1;
  for (int i = 0; i < rank; i++)
    numel *= out_dims[i];
  if (numel == 0) return;
  if (rank == 0) {
    copy_elem(y, x, es);
    return;
  }
  int64_t is[NND_MAX_RANK];
  strides_of(rank, in_dims, is);
  const int64_t inner = out_dims[rank - 1], rows = numel / inner;
  const int64_t istep = step[rank - 1];
  NND_OMP_FOR(numel >= NND_PAR_MIN_WORK)
  for (int64_t row = 0; row < rows; row++) {
    int64_t off = start[rank - 1], rem = row;
    for (int d = rank - 2; d >= 0; d--) {
      off += (start[d] + rem % out_dims[d] * step[d]) * is[d];
      rem /= out_dims[d];
    }
    char *yp = (char *)y + (size_t)(row * inner) * es;
    const char *xb = x;
    if (istep == 1)
      memcpy(yp, xb + (size_t)off * es, (size_t)inner * es);
    else
      for (int64_t i = 0; i < inner; i++)
        copy_elem(yp + (size_t)i * es, xb + (size_t)(off + i * istep) * es, es);
  }
}

/* Source index of padded index i along a dim of size n, or -1 for the fill
 * value. */
static int64_t pad_src(int64_t i, int64_t n, nnd_pad_mode mode) {
  if (i >= 0 && i < n) return i;
  switch (mode) {
  case NND_PAD_EDGE: return i < 0 ? 0 : n - 1;
  case NND_PAD_REFLECT:
    if (n == 1) return 0;
    while (i < 0 || i >= n)
      i = i < 0 ? -i : 2 * (n - 1) - i;
    return i;
  default: return -1;
  }
}

void nnd__pad(size_t es, int rank, const int64_t *in_dims, const int64_t *pad_begin,
              const int64_t *out_dims, nnd_pad_mode mode, const void *fill, const void *x,
              void *y) {
  int64_t numel = 1;
  for (int i = 0; i < rank; i++)
    numel *= out_dims[i];
  if (numel == 0) return;
  if (rank == 0) {
    copy_elem(y, x, es);
    return;
  }
  int64_t is[NND_MAX_RANK];
  strides_of(rank, in_dims, is);
  const int64_t inner = out_dims[rank - 1], rows = numel / inner;
  const int64_t n_in = in_dims[rank - 1], pb = pad_begin[rank - 1];
  NND_OMP_FOR(numel >= NND_PAR_MIN_WORK)
  for (int64_t row = 0; row < rows; row++) {
    int64_t off = 0, rem = row;
    bool filled = false;
    for (int d = rank - 2; d >= 0; d--) {
      int64_t src = pad_src(rem % out_dims[d] - pad_begin[d], in_dims[d], mode);
      rem /= out_dims[d];
      if (src < 0)
        filled = true;
      else
        off += src * is[d];
    }
    char *yp = (char *)y + (size_t)(row * inner) * es;
    const char *xb = (const char *)x + (size_t)off * es;
    /* The input's part of the row is one copy; only the borders (and whole
     * filled rows) go element by element. */
    int64_t lo = filled ? inner : pb < 0 ? 0 : pb;
    int64_t hi = filled ? inner : pb + n_in < inner ? pb + n_in : inner;
    if (lo > inner) lo = inner;
    if (hi < lo) hi = lo;
    if (hi > lo) memcpy(yp + (size_t)lo * es, xb + (size_t)(lo - pb) * es, (size_t)(hi - lo) * es);
    for (int64_t i = 0; i < inner; i++) {
      if (i == lo) i = hi;
      if (i >= inner) break;
      int64_t src = filled ? -1 : pad_src(i - pb, n_in, mode);
      copy_elem(yp + (size_t)i * es, src < 0 ? fill : xb + (size_t)src * es, es);
    }
  }
}

void nnd__gather(size_t es, int64_t outer, int64_t axis_len, int64_t inner, const int64_t *idx,
                 int64_t n_idx, const void *x, void *y) {
  const size_t bytes = (size_t)inner * es;
  NND_OMP_FOR(outer * n_idx * inner >= NND_PAR_MIN_WORK && outer > 1)
  for (int64_t o = 0; o < outer; o++)
    for (int64_t j = 0; j < n_idx; j++)
      memcpy((char *)y + (size_t)(o * n_idx + j) * bytes,
             (const char *)x + (size_t)(o * axis_len + idx[j]) * bytes, bytes);
}

void nnd__broadcast_to(size_t es, int rank, const int64_t *in_dims, const int64_t *out_dims,
                       const void *x, void *y) {
  int64_t numel = 1;
  for (int i = 0; i < rank; i++)
    numel *= out_dims[i];
  if (numel == 0) return;
  if (rank == 0) {
    copy_elem(y, x, es);
    return;
  }
  int64_t is[NND_MAX_RANK];
  strides_of(rank, in_dims, is);
  const int64_t inner = out_dims[rank - 1], rows = numel / inner;
  const bool rep = in_dims[rank - 1] == 1;
  NND_OMP_FOR(numel >= NND_PAR_MIN_WORK)
  for (int64_t row = 0; row < rows; row++) {
    int64_t off = 0, rem = row;
    for (int d = rank - 2; d >= 0; d--) {
      if (in_dims[d] != 1) off += rem % out_dims[d] * is[d];
      rem /= out_dims[d];
    }
    char *yp = (char *)y + (size_t)(row * inner) * es;
    const char *xp = (const char *)x + (size_t)off * es;
    if (rep)
      for (int64_t i = 0; i < inner; i++)
        copy_elem(yp + (size_t)i * es, xp, es);
    else
      memcpy(yp, xp, (size_t)inner * es);
  }
}
