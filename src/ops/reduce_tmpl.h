/* Template of the reduction kernel, included by reduce.c once per element
 * type (T, SFX(name), T_LOWEST, T_HIGHEST defined). No include guard. */

static inline T SFX(red_op)(nnd__reduce_kind kind, T acc, T v) {
  switch (kind) {
  case NND__RED_MAX: return v > acc ? v : acc;
  case NND__RED_MIN: return v < acc ? v : acc;
  default: return acc + v;
  }
}

void SFX(nnd__reduce)(nnd__reduce_kind kind, int rank, const int64_t *dims, const bool *reduce,
                      const T *x, T *y) {
  /* Merge neighbouring dims that are both reduced or both kept. */
  int64_t cd[NND_MAX_RANK];
  bool cr[NND_MAX_RANK];
  int r = 0;
  int64_t in_n = 1, out_n = 1;
  for (int i = 0; i < rank; i++) {
    in_n *= dims[i];
    if (!reduce[i]) out_n *= dims[i];
    if (dims[i] == 1) continue;
    if (r > 0 && cr[r - 1] == reduce[i]) {
      cd[r - 1] *= dims[i];
    } else {
      cd[r] = dims[i];
      cr[r] = reduce[i];
      r++;
    }
  }
  const T init = kind == NND__RED_MAX ? T_LOWEST : kind == NND__RED_MIN ? T_HIGHEST : (T)0;
  for (int64_t o = 0; o < out_n; o++)
    y[o] = init;
  if (in_n == 0) return;
  if (r == 0) {
    y[0] = SFX(red_op)(kind, init, x[0]);
    return;
  }
  int64_t ys[NND_MAX_RANK];
  int64_t acc = 1;
  for (int i = r - 1; i >= 0; i--) {
    ys[i] = cr[i] ? 0 : acc;
    if (!cr[i]) acc *= cd[i];
  }
  const int64_t inner = cd[r - 1], rows = in_n / inner;
  if (r <= 2 && cr[r - 1]) {
    /* [kept][reduced]: every row is one output, rows split across threads. */
    NND_OMP_FOR(in_n >= NND_PAR_MIN_WORK && rows > 1)
    for (int64_t row = 0; row < rows; row++) {
      T a = init;
      const T *xp = x + row * inner;
      for (int64_t i = 0; i < inner; i++)
        a = SFX(red_op)(kind, a, xp[i]);
      y[row] = a;
    }
  } else {
    for (int64_t row = 0; row < rows; row++) {
      int64_t off = 0, rem = row;
      for (int d = r - 2; d >= 0; d--) {
        off += rem % cd[d] * ys[d];
        rem /= cd[d];
      }
      const T *xp = x + row * inner;
      if (cr[r - 1]) {
        T a = y[off];
        for (int64_t i = 0; i < inner; i++)
          a = SFX(red_op)(kind, a, xp[i]);
        y[off] = a;
      } else {
        T *yp = y + off;
        for (int64_t i = 0; i < inner; i++)
          yp[i] = SFX(red_op)(kind, yp[i], xp[i]);
      }
    }
  }
  if (kind == NND__RED_MEAN) {
    const T cnt = (T)(in_n / (out_n ? out_n : 1));
    for (int64_t o = 0; o < out_n; o++)
      y[o] /= cnt;
  }
}
