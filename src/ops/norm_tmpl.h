/* Template of the normalisation kernels (BatchNorm, LRN, softmax, LayerNorm), included
 * by norm.c once per float type (T, SFX(name), M(fn) defined). No include
 * guard. */

void SFX(nnd__batchnorm)(int64_t outer, int64_t c, int64_t inner, const T *x, const T *scale,
                         const T *bias, const T *mean, const T *var, double eps, T *y) {
  NND_OMP_FOR(outer * c * inner >= NND_PAR_MIN_WORK && outer * c > 1)
  for (int64_t p = 0; p < outer * c; p++) {
    const int64_t ch = p % c;
    const T sd = M(sqrt)(var[ch] + (T)eps);
    for (int64_t i = 0; i < inner; i++)
      y[p * inner + i] = (x[p * inner + i] - mean[ch]) / sd * scale[ch] + bias[ch];
  }
}

void SFX(nnd__lrn)(int64_t outer, int64_t c, int64_t inner, int64_t size, double alpha, double beta,
                   double bias, const T *x, T *y) {
  /* ONNX's window [ch - floor((size-1)/2), ch + ceil((size-1)/2)], clipped
   * to the channels; size may be anything up to INT64_MAX (the offsets stay
   * below 2^62, so ch +- offset cannot overflow), and the work per output
   * is the clipped window, at most c. */
  const int64_t lo_off = (size - 1) / 2, hi_off = size - 1 - lo_off;
  const int64_t window = size < c ? size : c;
  const T a = (T)(alpha / (double)size), bb = (T)beta, k = (T)bias;
  NND_OMP_FOR(outer * c * inner * window >= NND_PAR_MIN_WORK && outer * c > 1)
  for (int64_t p = 0; p < outer * c; p++) {
    const int64_t o = p / c, ch = p % c;
    const int64_t c0 = ch - lo_off < 0 ? 0 : ch - lo_off;
    const int64_t c1 = ch + hi_off >= c ? c - 1 : ch + hi_off;
    for (int64_t i = 0; i < inner; i++) {
      T sq = 0;
      for (int64_t j = c0; j <= c1; j++) {
        const T v = x[(o * c + j) * inner + i];
        sq += v * v;
      }
      y[p * inner + i] = x[p * inner + i] / M(pow)(k + a * sq, bb);
    }
  }
}

void SFX(nnd__softmax)(int64_t outer, int64_t len, int64_t inner, bool log_out, const T *x, T *y) {
  NND_OMP_FOR(outer * len * inner >= NND_PAR_MIN_WORK && outer * inner > 1)
  for (int64_t p = 0; p < outer * inner; p++) {
    const int64_t o = p / inner, i = p % inner;
    const T *xp = x + o * len * inner + i;
    T *yp = y + o * len * inner + i;
    T mx = (T)-INFINITY;
    for (int64_t j = 0; j < len; j++)
      mx = xp[j * inner] > mx ? xp[j * inner] : mx;
    T sum = 0;
    for (int64_t j = 0; j < len; j++)
      sum += M(exp)(xp[j * inner] - mx);
    if (log_out) {
      const T ls = M(log)(sum);
      for (int64_t j = 0; j < len; j++)
        yp[j * inner] = xp[j * inner] - mx - ls;
    } else {
      for (int64_t j = 0; j < len; j++)
        yp[j * inner] = M(exp)(xp[j * inner] - mx) / sum;
    }
  }
}

/* LayerNorm over the inner dim of [outer][inner]. The statistics are taken
 * in double in both precisions (two passes: mean, then the mean squared
 * deviation), so a float32 row of 768 values loses nothing in the sums
 * that ONNX Runtime's float accumulation would not also lose. mean and
 * inv_std (one per row) may be NULL. */
void SFX(nnd__layernorm)(int64_t outer, int64_t inner, const T *x, const T *scale, int64_t n_scale,
                         const T *bias, int64_t n_bias, double eps, T *y, T *mean, T *inv_std) {
  NND_OMP_FOR(outer * inner >= NND_PAR_MIN_WORK && outer > 1)
  for (int64_t o = 0; o < outer; o++) {
    const T *xp = x + o * inner;
    T *yp = y + o * inner;
    double s = 0;
    for (int64_t i = 0; i < inner; i++)
      s += (double)xp[i];
    const double mu = inner ? s / (double)inner : 0;
    double q = 0;
    for (int64_t i = 0; i < inner; i++) {
      const double d = (double)xp[i] - mu;
      q += d * d;
    }
    const double inv = 1.0 / sqrt((inner ? q / (double)inner : 0) + eps);
    for (int64_t i = 0; i < inner; i++) {
      const double g = (double)scale[n_scale == 1 ? 0 : i];
      const double b = bias ? (double)bias[n_bias == 1 ? 0 : i] : 0.0;
      yp[i] = (T)(((double)xp[i] - mu) * inv * g + b);
    }
    if (mean) mean[o] = (T)mu;
    if (inv_std) inv_std[o] = (T)inv;
  }
}
