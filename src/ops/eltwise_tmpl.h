/* Template of the elementwise kernels, included by eltwise.c once per float
 * type with T (the element type), SFX(name) and BSFX(name) (the suffixes of
 * the unary and binary kernels) and M(fn) (the libm function of that type)
 * defined. No include guard on purpose. */

void SFX(nnd__unary)(const nnd__unary *op, const T *x, T *y, int64_t n) {
  const T alpha = (T)op->alpha, beta = (T)op->beta;
  const T zero = 0, one = 1, half = (T)0.5, sixth = (T)(1.0 / 6.0);
  (void)zero;
  (void)one;
  (void)half;
  (void)sixth;
#define MAP(EXPR)                                                                                  \
  do {                                                                                             \
    NND_OMP_FOR(n >= NND_PAR_MIN_WORK)                                                             \
    for (int64_t i = 0; i < n; i++) {                                                              \
      T v = x[i];                                                                                  \
      y[i] = (EXPR);                                                                               \
    }                                                                                              \
  } while (0)
  switch (op->kind) {
  case NND__UN_COPY:
    if (x != y && n > 0) memmove(y, x, (size_t)n * sizeof(T));
    return;
  case NND__UN_RELU: MAP(v < zero ? zero : v); return;
  case NND__UN_LEAKY_RELU: MAP(v < zero ? alpha * v : v); return;
  case NND__UN_CLIP: MAP(v < alpha ? alpha : (v > beta ? beta : v)); return;
  case NND__UN_SIGMOID: MAP(one / (one + M(exp)(-v))); return;
  case NND__UN_HARD_SIGMOID: {
    MAP(alpha * v + beta < zero ? zero : (alpha * v + beta > one ? one : alpha * v + beta));
    return;
  }
  case NND__UN_HARD_SWISH: {
    MAP(v * (v * sixth + half < zero ? zero : (v * sixth + half > one ? one : v * sixth + half)));
    return;
  }
  case NND__UN_TANH: MAP(M(tanh)(v)); return;
  case NND__UN_ELU: MAP(v < zero ? alpha * M(expm1)(v) : v); return;
  case NND__UN_SILU: MAP(v / (one + M(exp)(-v))); return;
  case NND__UN_GELU: MAP(half * v * (one + M(erf)(v * (T)0.70710678118654752440))); return;
  case NND__UN_GELU_TANH:
    MAP(half * v * (one + M(tanh)((T)0.79788456080286535588 * (v + (T)0.044715 * v * v * v))));
    return;
  case NND__UN_SQRT: MAP(M(sqrt)(v)); return;
  case NND__UN_EXP: MAP(M(exp)(v)); return;
  case NND__UN_LOG: MAP(M(log)(v)); return;
  case NND__UN_NEG: MAP(-v); return;
  case NND__UN_ABS: MAP(M(fabs)(v)); return;
  case NND__UN_ERF: MAP(M(erf)(v)); return;
  case NND__UN_RECIPROCAL: MAP(one / v); return;
  case NND__UN_FLOOR: MAP(M(floor)(v)); return;
  case NND__UN_CEIL: MAP(M(ceil)(v)); return;
  /* exp(x) overflows for x > 88 (float) or 709 (double) and log(1 + exp(x))
   * loses everything below 1 ulp of 1 for x < -17: this form does neither */
  case NND__UN_SOFTPLUS: MAP(M(log1p)(M(exp)(-M(fabs)(v))) + (v > zero ? v : zero)); return;
  }
#undef MAP
}

/* One row of a binary op: `len` outputs; a and b advance by 1 or stay. */
#define ROW(EXPR)                                                                                  \
  do {                                                                                             \
    if (inc_a && inc_b)                                                                            \
      for (int64_t i = 0; i < len; i++) {                                                          \
        T u = pa[i], v = pb[i];                                                                    \
        py[i] = (EXPR);                                                                            \
      }                                                                                            \
    else if (inc_a) {                                                                              \
      const T v = pb[0];                                                                           \
      for (int64_t i = 0; i < len; i++) {                                                          \
        T u = pa[i];                                                                               \
        py[i] = (EXPR);                                                                            \
      }                                                                                            \
    } else if (inc_b) {                                                                            \
      const T u = pa[0];                                                                           \
      for (int64_t i = 0; i < len; i++) {                                                          \
        T v = pb[i];                                                                               \
        py[i] = (EXPR);                                                                            \
      }                                                                                            \
    } else {                                                                                       \
      const T u = pa[0], v = pb[0];                                                                \
      const T r = (EXPR);                                                                          \
      for (int64_t i = 0; i < len; i++)                                                            \
        py[i] = r;                                                                                 \
    }                                                                                              \
  } while (0)

/* ONNX Mod without fmod: the remainder takes the divisor's sign. */
static inline T BSFX(floor_mod)(T u, T v) {
  T r = M(fmod)(u, v);
  return r != 0 && ((r < 0) != (v < 0)) ? r + v : r;
}

static void BSFX(binary_row)(nnd__binary_kind op, const T *pa, bool inc_a, const T *pb, bool inc_b,
                             T *py, int64_t len) {
  switch (op) {
  case NND__BIN_ADD: ROW(u + v); break;
  case NND__BIN_SUB: ROW(u - v); break;
  case NND__BIN_MUL: ROW(u * v); break;
  case NND__BIN_DIV: ROW(u / v); break;
  case NND__BIN_POW: ROW(M(pow)(u, v)); break;
  case NND__BIN_MAX: ROW(u < v ? v : u); break;
  case NND__BIN_MIN: ROW(v < u ? v : u); break;
  case NND__BIN_PRELU: ROW(u < 0 ? u * v : u); break;
  case NND__BIN_FMOD: ROW(M(fmod)(u, v)); break;
  case NND__BIN_MOD: ROW(BSFX(floor_mod)(u, v)); break;
  }
}
#undef ROW

void BSFX(nnd__binary)(nnd__binary_kind op, const nnd__bcast *bc, const T *a, const T *b, T *y) {
  if (bc->numel == 0) return;
  if (bc->rank == 0) {
    BSFX(binary_row)(op, a, false, b, false, y, 1);
    return;
  }
  const int r = bc->rank;
  const int64_t inner = bc->dims[r - 1];
  const bool inc_a = bc->sa[r - 1] != 0, inc_b = bc->sb[r - 1] != 0;
  /* Tasks are pieces of rows, so one long row still splits across threads. */
  const int64_t piece = inner > 16384 ? 16384 : inner;
  const int64_t pieces_per_row = (inner + piece - 1) / piece;
  const int64_t tasks = bc->numel / inner * pieces_per_row;
  NND_OMP_FOR(bc->numel >= NND_PAR_MIN_WORK)
  for (int64_t t = 0; t < tasks; t++) {
    int64_t row = t / pieces_per_row, p0 = (t % pieces_per_row) * piece;
    int64_t len = inner - p0 < piece ? inner - p0 : piece;
    int64_t oa = 0, ob = 0, rem = row;
    for (int d = r - 2; d >= 0; d--) {
      int64_t i = rem % bc->dims[d];
      rem /= bc->dims[d];
      oa += i * bc->sa[d];
      ob += i * bc->sb[d];
    }
    BSFX(binary_row)
    (op, a + oa + (inc_a ? p0 : 0), inc_a, b + ob + (inc_b ? p0 : 0), inc_b, y + row * inner + p0,
     len);
  }
}
