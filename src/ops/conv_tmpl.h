/* Template of the direct convolution and pooling kernels, included by
 * conv.c once per float type (T, SFX(name) defined). These are the
 * reference kernels (double) and the generic float fallbacks; the fast
 * path's convolutions go through ops/fast.h. No include guard on purpose.
 *
 * Every output is summed over (input channel, kd, kh, kw) in that order,
 * skipping taps that fall into the padding, whatever the layout: the
 * channels-first and channels-last kernels give identical results. The loops
 * are arranged so the innermost one runs over independent outputs (output
 * x in NCHW, output channel in NHWC), which lets the compiler vectorise
 * without changing any output's summation order. */

/* First and one-past-last output index whose input index
 * o * s - p + kofs lies in [0, in). */
static inline void SFX(valid_range)(int64_t out, int64_t in, int64_t s, int64_t p, int64_t kofs,
                                    int64_t *lo, int64_t *hi) {
  int64_t a = p - kofs; /* need o * s >= a */
  int64_t l = a <= 0 ? 0 : (a + s - 1) / s;
  int64_t b = in - 1 + p - kofs; /* need o * s <= b */
  int64_t h = b < 0 ? 0 : b / s + 1;
  if (h > out) h = out;
  if (l > h) l = h;
  *lo = l;
  *hi = h;
}

/* Channels first: output channels [oc0, oc0 + nb) of image ni (one group).
 * Each input row a tap reads serves the whole block while it is in cache. */
NND_CLONES static void SFX(conv_block)(const nnd__conv_geom *g, const T *x, const T *w, const T *b,
                                       T *y, int64_t ni, int64_t gi, int64_t oc0, int64_t nb) {
  const int64_t cg = g->c / g->groups;
  const int64_t ID = g->in[0], IH = g->in[1], IW = g->in[2];
  const int64_t OD = g->out[0], OH = g->out[1], OW = g->out[2];
  const int64_t KD = g->k[0], KH = g->k[1], KW = g->k[2];
  const int64_t ksz = KD * KH * KW, in_sp = ID * IH * IW, out_sp = OD * OH * OW;
  for (int64_t j = 0; j < nb; j++) {
    T *yp = y + (ni * g->o + oc0 + j) * out_sp;
    const T bias = b ? b[oc0 + j] : (T)0;
    for (int64_t i = 0; i < out_sp; i++)
      yp[i] = bias;
  }
  for (int64_t ci = 0; ci < cg; ci++) {
    const T *xp = x + (ni * g->c + gi * cg + ci) * in_sp;
    for (int64_t j = 0; j < nb; j++) {
      const T *wp = w + ((oc0 + j) * cg + ci) * ksz;
      T *yp = y + (ni * g->o + oc0 + j) * out_sp;
      for (int64_t kd = 0; kd < KD; kd++) {
        int64_t d_lo, d_hi;
        SFX(valid_range)(OD, ID, g->stride[0], g->pad_begin[0], kd * g->dil[0], &d_lo, &d_hi);
        for (int64_t kh = 0; kh < KH; kh++) {
          int64_t h_lo, h_hi;
          SFX(valid_range)(OH, IH, g->stride[1], g->pad_begin[1], kh * g->dil[1], &h_lo, &h_hi);
          for (int64_t kw = 0; kw < KW; kw++) {
            const T wv = wp[(kd * KH + kh) * KW + kw];
            int64_t w_lo, w_hi;
            SFX(valid_range)(OW, IW, g->stride[2], g->pad_begin[2], kw * g->dil[2], &w_lo, &w_hi);
            const int64_t sw = g->stride[2];
            for (int64_t od = d_lo; od < d_hi; od++) {
              const int64_t id = od * g->stride[0] - g->pad_begin[0] + kd * g->dil[0];
              for (int64_t oh = h_lo; oh < h_hi; oh++) {
                const int64_t ih = oh * g->stride[1] - g->pad_begin[1] + kh * g->dil[1];
                /* x index of output ox is xb + ox * sw, in range for
                 * ox in [w_lo, w_hi). */
                const int64_t xb = (id * IH + ih) * IW - g->pad_begin[2] + kw * g->dil[2];
                T *yr = yp + (od * OH + oh) * OW;
                if (sw == 1)
                  for (int64_t ox = w_lo; ox < w_hi; ox++)
                    yr[ox] += wv * xp[xb + ox];
                else
                  for (int64_t ox = w_lo; ox < w_hi; ox++)
                    yr[ox] += wv * xp[xb + ox * sw];
              }
            }
          }
        }
      }
    }
  }
}

/* Channels last: output pixel p (all channels). */
NND_CLONES static void SFX(conv_pixel)(const nnd__conv_geom *g, const T *x, const T *w, const T *b,
                                       T *y, int64_t p) {
  const int64_t cg = g->c / g->groups, og = g->o / g->groups;
  const int64_t ID = g->in[0], IH = g->in[1], IW = g->in[2];
  const int64_t OH = g->out[1], OW = g->out[2];
  const int64_t KD = g->k[0], KH = g->k[1], KW = g->k[2];
  const int64_t ksz = KD * KH * KW, out_sp = g->out[0] * OH * OW;
  const int64_t ni = p / out_sp;
  int64_t r = p % out_sp;
  const int64_t od = r / (OH * OW);
  r %= OH * OW;
  const int64_t oh = r / OW, ow = r % OW;
  T *yp = y + p * g->o;
  for (int64_t oc = 0; oc < g->o; oc++)
    yp[oc] = b ? b[oc] : (T)0;
  for (int64_t gi = 0; gi < g->groups; gi++) {
    for (int64_t ci = 0; ci < cg; ci++) {
      for (int64_t kd = 0; kd < KD; kd++) {
        const int64_t id = od * g->stride[0] - g->pad_begin[0] + kd * g->dil[0];
        if (id < 0 || id >= ID) continue;
        for (int64_t kh = 0; kh < KH; kh++) {
          const int64_t ih = oh * g->stride[1] - g->pad_begin[1] + kh * g->dil[1];
          if (ih < 0 || ih >= IH) continue;
          for (int64_t kw = 0; kw < KW; kw++) {
            const int64_t iw = ow * g->stride[2] - g->pad_begin[2] + kw * g->dil[2];
            if (iw < 0 || iw >= IW) continue;
            const T xv = x[(((ni * ID + id) * IH + ih) * IW + iw) * g->c + gi * cg + ci];
            const T *wp = w + (gi * og * cg + ci) * ksz + (kd * KH + kh) * KW + kw;
            T *yg = yp + gi * og;
            for (int64_t oc = 0; oc < og; oc++)
              yg[oc] += xv * wp[oc * cg * ksz];
          }
        }
      }
    }
  }
}

void SFX(nnd__conv)(const nnd__conv_geom *g, const T *x, const T *w, const T *b, T *y) {
  const int64_t cg = g->c / g->groups, og = g->o / g->groups;
  const int64_t out_sp = g->out[0] * g->out[1] * g->out[2];
  const int64_t work = g->n * g->o * out_sp * cg * g->k[0] * g->k[1] * g->k[2];
#ifdef CONV_LOWERED
  /* Four or more output channels per group: the packed GEMM, same sums
   * (a depthwise filter would leave its register tile mostly empty). */
  if (!g->channels_last && og >= 4 && CONV_LOWERED(g, x, w, b, y)) return;
#endif
  if (!g->channels_last) {
    /* Units: blocks of up to 8 output channels of one group. */
    enum { OB = 8 };
    const int64_t blocks_per_group = (og + OB - 1) / OB;
    const int64_t units = g->n * g->groups * blocks_per_group;
    NND_OMP_FOR(work >= NND_PAR_MIN_WORK && units > 1)
    for (int64_t u = 0; u < units; u++) {
      const int64_t ni = u / (g->groups * blocks_per_group);
      const int64_t gi = u / blocks_per_group % g->groups;
      const int64_t oc0 = gi * og + u % blocks_per_group * OB;
      const int64_t nb = oc0 + OB <= (gi + 1) * og ? OB : (gi + 1) * og - oc0;
      SFX(conv_block)(g, x, w, b, y, ni, gi, oc0, nb);
    }
    return;
  }
  const int64_t pixels = g->n * out_sp;
  NND_OMP_FOR(work >= NND_PAR_MIN_WORK && pixels > 1)
  for (int64_t p = 0; p < pixels; p++)
    SFX(conv_pixel)(g, x, w, b, y, p);
}

/* Offset of element (n, ch, d, h, w) in either layout. */
static inline int64_t SFX(at)(bool cl, int64_t C, int64_t D, int64_t H, int64_t W, int64_t n,
                              int64_t ch, int64_t d, int64_t h, int64_t w) {
  return cl ? (((n * D + d) * H + h) * W + w) * C + ch : (((n * C + ch) * D + d) * H + h) * W + w;
}

void SFX(nnd__conv_transpose)(const nnd__conv_geom *g, const T *x, const T *w, const T *b, T *y) {
  const int64_t cg = g->c / g->groups, og = g->o / g->groups;
  const int64_t ID = g->in[0], IH = g->in[1], IW = g->in[2];
  const int64_t OD = g->out[0], OH = g->out[1], OW = g->out[2];
  const int64_t KD = g->k[0], KH = g->k[1], KW = g->k[2];
  const int64_t ksz = KD * KH * KW;
  const bool cl = g->channels_last;
  const int64_t planes = g->n * g->o;
  /* One thread per output plane: each output sums over (input channel,
   * input position, kernel position) in ascending order. */
  NND_OMP_FOR(planes * OD * OH * OW * cg >= NND_PAR_MIN_WORK && planes > 1)
  for (int64_t p = 0; p < planes; p++) {
    const int64_t ni = p / g->o, oc = p % g->o, gi = oc / og, oj = oc % og;
    const T bias = b ? b[oc] : (T)0;
    for (int64_t d = 0; d < OD; d++)
      for (int64_t h = 0; h < OH; h++)
        for (int64_t q = 0; q < OW; q++)
          y[SFX(at)(cl, g->o, OD, OH, OW, ni, oc, d, h, q)] = bias;
    for (int64_t ci = 0; ci < cg; ci++) {
      const int64_t c = gi * cg + ci;
      const T *wp = w + (c * og + oj) * ksz;
      for (int64_t id = 0; id < ID; id++)
        for (int64_t ih = 0; ih < IH; ih++)
          for (int64_t iw = 0; iw < IW; iw++) {
            const T xv = x[SFX(at)(cl, g->c, ID, IH, IW, ni, c, id, ih, iw)];
            for (int64_t kd = 0; kd < KD; kd++) {
              const int64_t d = id * g->stride[0] - g->pad_begin[0] + kd * g->dil[0];
              if (d < 0 || d >= OD) continue;
              for (int64_t kh = 0; kh < KH; kh++) {
                const int64_t h = ih * g->stride[1] - g->pad_begin[1] + kh * g->dil[1];
                if (h < 0 || h >= OH) continue;
                for (int64_t kw = 0; kw < KW; kw++) {
                  const int64_t q = iw * g->stride[2] - g->pad_begin[2] + kw * g->dil[2];
                  if (q < 0 || q >= OW) continue;
                  y[SFX(at)(cl, g->o, OD, OH, OW, ni, oc, d, h, q)] +=
                      xv * wp[(kd * KH + kh) * KW + kw];
                }
              }
            }
          }
    }
  }
}

/* Pooling window of output index o along one dim: the first input index and
 * how many taps (with dilation) fall inside [lo_bound, hi_bound). */
static inline int64_t SFX(window_count)(int64_t o, int64_t s, int64_t p, int64_t k, int64_t dil,
                                        int64_t lo_bound, int64_t hi_bound) {
  int64_t count = 0;
  for (int64_t j = 0; j < k; j++) {
    int64_t i = o * s - p + j * dil;
    count += i >= lo_bound && i < hi_bound;
  }
  return count;
}

/* One pooling unit: a (n, c) plane channels first, or one output pixel
 * (all channels) channels last. */
NND_CLONES static void SFX(pool_unit)(const nnd__conv_geom *g, bool is_max, bool count_include_pad,
                                      const T *x, T *y, int64_t u) {
  const int64_t ID = g->in[0], IH = g->in[1], IW = g->in[2];
  const int64_t OH = g->out[1], OW = g->out[2];
  const int64_t C = g->c, out_sp = g->out[0] * OH * OW;
  const bool cl = g->channels_last;
  const int64_t cn = cl ? C : 1;
  const int64_t n_out = cl ? 1 : out_sp;
  for (int64_t q = 0; q < n_out; q++) {
    const int64_t pix = cl ? u % out_sp : q;
    const int64_t ni = cl ? u / out_sp : u / C;
    const int64_t od = pix / (OH * OW), oh = pix / OW % OH, ow = pix % OW;
    T *yp = cl ? y + u * C : y + u * out_sp + q;
    const T *xbase = cl ? x + ni * ID * IH * IW * C : x + u * ID * IH * IW;
    for (int64_t c = 0; c < cn; c++)
      yp[c] = is_max ? (T)-INFINITY : (T)0;
    for (int64_t kd = 0; kd < g->k[0]; kd++) {
      const int64_t id = od * g->stride[0] - g->pad_begin[0] + kd * g->dil[0];
      if (id < 0 || id >= ID) continue;
      for (int64_t kh = 0; kh < g->k[1]; kh++) {
        const int64_t ih = oh * g->stride[1] - g->pad_begin[1] + kh * g->dil[1];
        if (ih < 0 || ih >= IH) continue;
        for (int64_t kw = 0; kw < g->k[2]; kw++) {
          const int64_t iw = ow * g->stride[2] - g->pad_begin[2] + kw * g->dil[2];
          if (iw < 0 || iw >= IW) continue;
          const T *xp = xbase + ((id * IH + ih) * IW + iw) * cn;
          if (is_max)
            for (int64_t c = 0; c < cn; c++)
              yp[c] = xp[c] > yp[c] ? xp[c] : yp[c];
          else
            for (int64_t c = 0; c < cn; c++)
              yp[c] += xp[c];
        }
      }
    }
    if (!is_max) {
      int64_t count = 1;
      for (int d = 0; d < 3; d++) {
        const int64_t o = d == 0 ? od : d == 1 ? oh : ow;
        const int64_t lo = count_include_pad ? -g->pad_begin[d] : 0;
        const int64_t hi = count_include_pad ? g->in[d] + g->pad_end[d] : g->in[d];
        count *= SFX(window_count)(o, g->stride[d], g->pad_begin[d], g->k[d], g->dil[d], lo, hi);
      }
      const T div = (T)(count > 0 ? count : 1);
      for (int64_t c = 0; c < cn; c++)
        yp[c] /= div;
    }
  }
}

static void SFX(pool)(const nnd__conv_geom *g, bool is_max, bool count_include_pad, const T *x,
                      T *y) {
  const int64_t out_sp = g->out[0] * g->out[1] * g->out[2];
  const int64_t units = g->channels_last ? g->n * out_sp : g->n * g->c;
  const int64_t work = g->n * g->c * out_sp * g->k[0] * g->k[1] * g->k[2];
  NND_OMP_FOR(work >= NND_PAR_MIN_WORK && units > 1)
  for (int64_t u = 0; u < units; u++)
    SFX(pool_unit)(g, is_max, count_include_pad, x, y, u);
}

void SFX(nnd__maxpool)(const nnd__conv_geom *g, const T *x, T *y) {
  SFX(pool)(g, true, false, x, y);
}

void SFX(nnd__avgpool)(const nnd__conv_geom *g, bool count_include_pad, const T *x, T *y) {
  SFX(pool)(g, false, count_include_pad, x, y);
}

/* Averages accumulate in double whatever T is: a float sum over a 112x112
 * map loses up to spatial * 2^-24 relative (about 1e-4 at 12544 terms),
 * which SE blocks (EfficientNet, RegNetY) amplify into wrong logits. */
void SFX(nnd__global_pool)(bool is_max, int64_t n, int64_t c, int64_t spatial, bool channels_last,
                           const T *x, T *y) {
  if (!channels_last) {
    NND_OMP_FOR(n * c * spatial >= NND_PAR_MIN_WORK)
    for (int64_t p = 0; p < n * c; p++) {
      const T *xp = x + p * spatial;
      if (is_max) {
        T acc = (T)-INFINITY;
        for (int64_t i = 0; i < spatial; i++)
          acc = xp[i] > acc ? xp[i] : acc;
        y[p] = acc;
      } else {
        double acc = 0;
        for (int64_t i = 0; i < spatial; i++)
          acc += (double)xp[i];
        y[p] = (T)(acc / (double)spatial);
      }
    }
    return;
  }
  enum { CB = 256 }; /* channels per block of double accumulators */
  NND_OMP_FOR(n * c * spatial >= NND_PAR_MIN_WORK && n > 1)
  for (int64_t ni = 0; ni < n; ni++) {
    T *yp = y + ni * c;
    const T *xn = x + ni * spatial * c;
    if (is_max) {
      for (int64_t ch = 0; ch < c; ch++)
        yp[ch] = (T)-INFINITY;
      for (int64_t i = 0; i < spatial; i++) {
        const T *xp = xn + i * c;
        for (int64_t ch = 0; ch < c; ch++)
          yp[ch] = xp[ch] > yp[ch] ? xp[ch] : yp[ch];
      }
      continue;
    }
    for (int64_t c0 = 0; c0 < c; c0 += CB) {
      const int64_t cn = c - c0 < CB ? c - c0 : CB;
      double acc[CB];
      for (int64_t k = 0; k < cn; k++)
        acc[k] = 0;
      for (int64_t i = 0; i < spatial; i++) {
        const T *xp = xn + i * c + c0;
        for (int64_t k = 0; k < cn; k++)
          acc[k] += (double)xp[k];
      }
      for (int64_t k = 0; k < cn; k++)
        yp[c0 + k] = (T)(acc[k] / (double)spatial);
    }
  }
}
