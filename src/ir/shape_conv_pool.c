/* Shapes of the windowed ops: Conv and ConvTranspose (any weight layout,
 * NCHW or NHWC activations, auto_pad resolved into explicit pads), MaxPool
 * and AveragePool (ceil_mode), global pools, and BatchNorm. */
#include "ir/shape_infer.h"
#include "util/checked_math.h"

/* Positions of the channel dim and the first spatial dim of an activation. */
static void act_dims(nnd_layout layout, int rank, int *cdim, int *sp0) {
  if (layout == NND_LAYOUT_NHWC) {
    *cdim = rank - 1;
    *sp0 = 1;
  } else {
    *cdim = 1;
    *sp0 = 2;
  }
}

static const char *layout_name(nnd_layout l) { return l == NND_LAYOUT_NHWC ? "NHWC" : "NCHW"; }

/* One window op along one spatial axis. */
typedef struct window {
  int64_t k, s, d; /* kernel, stride, dilation */
  int64_t outpad;  /* ConvTranspose output_padding */
  nnd_auto_pad auto_pad;
  bool ceil_mode;
  bool transpose;
} window;

/* Output size along `axis` for input size `in`; resolves auto_pad into
 * *pb / *pe. Unknown input (or kernel 0 = unknown) gives an unknown size. */
static nnd_status window_out(nnd__infer *c, int axis, nnd_dim in, const window *w, int64_t *pb,
                             int64_t *pe, nnd_dim *out) {
  if (w->k < 0)
    return nnd__si_fail(c, "kernel size %lld on spatial axis %d is negative", (long long)w->k,
                        axis);
  if (w->s < 1)
    return nnd__si_fail(c, "stride %lld on spatial axis %d must be positive", (long long)w->s,
                        axis);
  if (w->d < 1)
    return nnd__si_fail(c, "dilation %lld on spatial axis %d must be positive", (long long)w->d,
                        axis);
  if (w->auto_pad == NND_AUTO_PAD_VALID) *pb = *pe = 0;
  if (w->auto_pad == NND_AUTO_PAD_EXPLICIT || w->auto_pad == NND_AUTO_PAD_VALID) {
    /* the file's own pads may not be negative */
    if (*pb < 0 || *pe < 0)
      return nnd__si_fail(c, "pads %lld/%lld on spatial axis %d are negative", (long long)*pb,
                          (long long)*pe, axis);
  }
  if (w->transpose && (w->outpad < 0 || (w->outpad >= w->s && w->outpad >= w->d)))
    return nnd__si_fail(c,
                        "output_padding %lld on spatial axis %d must be >= 0 and smaller than "
                        "the stride (%lld) or the dilation (%lld)",
                        (long long)w->outpad, axis, (long long)w->s, (long long)w->d);
  *out = nnd__si_dim_unknown();
  if (in.size < 0 || w->k == 0) return NND_OK;
  nnd_status st;
  int64_t ek; /* dilated kernel extent */
  if ((st = nnd__si_mul(c, w->d, w->k - 1, "the dilated kernel", &ek)) != NND_OK) return st;
  if ((st = nnd__si_add(c, ek, 1, "the dilated kernel", &ek)) != NND_OK) return st;
  bool same = w->auto_pad == NND_AUTO_PAD_SAME_UPPER || w->auto_pad == NND_AUTO_PAD_SAME_LOWER;

  if (w->transpose) {
    if (in.size == 0) return nnd__si_fail(c, "spatial axis %d of the input is empty", axis);
    int64_t full; /* (in-1)*s + ek + outpad: the output before padding is cut */
    if ((st = nnd__si_mul(c, in.size - 1, w->s, "the output size", &full)) != NND_OK) return st;
    if ((st = nnd__si_add(c, full, ek, "the output size", &full)) != NND_OK) return st;
    if ((st = nnd__si_add(c, full, w->outpad, "the output size", &full)) != NND_OK) return st;
    if (same) {
      /* Aim at in * s; when the unpadded output is smaller than that (a
       * kernel smaller than the stride) nothing is cut and it stays as it
       * is, as ONNX Runtime and onnx's shape inference do. */
      int64_t o, total;
      if ((st = nnd__si_mul(c, in.size, w->s, "the output size", &o)) != NND_OK) return st;
      total = full > o ? full - o : 0;
      if (w->auto_pad == NND_AUTO_PAD_SAME_UPPER) {
        *pb = total / 2;
        *pe = total - *pb;
      } else {
        *pe = total / 2;
        *pb = total - *pe;
      }
      *out = nnd__si_dim_known(full - total);
      return NND_OK;
    }
    int64_t pads;
    if ((st = nnd__si_add(c, *pb, *pe, "the padding", &pads)) != NND_OK) return st;
    if (full - pads < 1)
      return nnd__si_fail(c,
                          "pads %lld/%lld on spatial axis %d leave no output (%lld before "
                          "padding)",
                          (long long)*pb, (long long)*pe, axis, (long long)full);
    *out = nnd__si_dim_known(full - pads);
    return NND_OK;
  }

  if (same) {
    int64_t o = in.size / w->s + (in.size % w->s != 0), need;
    if (o > 0) {
      if ((st = nnd__si_mul(c, o - 1, w->s, "the padded size", &need)) != NND_OK) return st;
      if ((st = nnd__si_add(c, need, ek, "the padded size", &need)) != NND_OK) return st;
    } else {
      need = 0;
    }
    int64_t total = need > in.size ? need - in.size : 0;
    if (w->auto_pad == NND_AUTO_PAD_SAME_UPPER) {
      *pb = total / 2; /* the odd pad goes at the end */
      *pe = total - *pb;
    } else {
      *pe = total / 2;
      *pb = total - *pe;
    }
    *out = nnd__si_dim_known(o);
    return NND_OK;
  }
  int64_t padded;
  if ((st = nnd__si_add(c, in.size, *pb, "the padded size", &padded)) != NND_OK) return st;
  if ((st = nnd__si_add(c, padded, *pe, "the padded size", &padded)) != NND_OK) return st;
  if (padded < ek)
    return nnd__si_fail(c,
                        "the kernel spans %lld (size %lld, dilation %lld) but the padded input "
                        "is %lld on spatial axis %d",
                        (long long)ek, (long long)w->k, (long long)w->d, (long long)padded, axis);
  int64_t num = padded - ek, o = num / w->s + 1;
  if (w->ceil_mode && num % w->s != 0) {
    o++;
    /* the last window must start inside the input or the left padding */
    int64_t start;
    if (nnd__mul_i64(o - 1, w->s, &start) && start >= in.size + *pb) o--;
  }
  *out = nnd__si_dim_known(o);
  return NND_OK;
}

/* Positions of the weight's dims; -1 when the layout has no such dim. */
typedef struct weight_pos {
  int o, i, k0, one;
  bool o_per_group; /* the O dim holds out/groups (ONNX ConvTranspose) */
  bool i_total;     /* the I dim holds all input channels (ONNX ConvTranspose) */
} weight_pos;

static nnd_status weight_positions(nnd__infer *c, nnd_weight_layout wl, int ns, bool transpose,
                                   weight_pos *p) {
  *p = (weight_pos){-1, -1, -1, -1, false, false};
  switch (wl) {
  case NND_WLAYOUT_OIHW:
    if (transpose) { /* ONNX / PyTorch ConvTranspose: [in, out/groups, k...] */
      *p = (weight_pos){1, 0, 2, -1, true, true};
    } else {
      *p = (weight_pos){0, 1, 2, -1, false, false};
    }
    return NND_OK;
  case NND_WLAYOUT_OHWI: *p = (weight_pos){0, ns + 1, 1, -1, false, false}; return NND_OK;
  case NND_WLAYOUT_HWIO: /* Keras Conv2DTranspose stores [k..., out, in] */
    *p = transpose ? (weight_pos){ns, ns + 1, 0, -1, false, false}
                   : (weight_pos){ns + 1, ns, 0, -1, false, false};
    return NND_OK;
  case NND_WLAYOUT_1HWO:
    if (transpose) break;
    *p = (weight_pos){ns + 1, -1, 1, 0, false, false};
    return NND_OK;
  }
  return nnd__si_fail(c, "weight layout %d is not valid for this op", (int)wl);
}

static nnd_status infer_conv_any(nnd__infer *c, bool transpose) {
  const nnd_value *x = nnd__si_in(c, 0), *w = nnd__si_in(c, 1), *b = nnd__si_in(c, 2);
  nnd_conv_attrs *a = &c->attrs.conv;
  int rank = x->shape.rank;
  if (rank < 3 || rank > 2 + NND_MAX_SPATIAL)
    return nnd__si_fail(c, "input %s has rank %d; a convolution takes 3 to %d dims",
                        nnd__si_shape_str(&x->shape).s, rank, 2 + NND_MAX_SPATIAL);
  int ns = rank - 2;
  if (a->n_spatial != 0 && a->n_spatial != ns)
    return nnd__si_fail(c, "the attributes describe %d spatial dims but the input %s has %d",
                        a->n_spatial, nnd__si_shape_str(&x->shape).s, ns);
  a->n_spatial = ns;
  if (w->shape.rank != rank)
    return nnd__si_fail(c, "weight '%s' %s has rank %d but the input %s has rank %d", w->name,
                        nnd__si_shape_str(&w->shape).s, w->shape.rank,
                        nnd__si_shape_str(&x->shape).s, rank);
  if (a->groups < 1)
    return nnd__si_fail(c, "groups is %lld; it must be >= 1", (long long)a->groups);
  nnd_layout layout = a->layout == NND_LAYOUT_NHWC ? NND_LAYOUT_NHWC : NND_LAYOUT_NCHW;
  int cdim, sp0;
  act_dims(layout, rank, &cdim, &sp0);
  weight_pos p;
  nnd_status st = weight_positions(c, a->weight_layout, ns, transpose, &p);
  if (st != NND_OK) return st;
  const nnd_dim *wd = w->shape.dims;

  for (int i = 0; i < ns; i++) {
    nnd_dim wk = wd[p.k0 + i];
    if (a->kernel[i] == 0)
      a->kernel[i] = wk.size > 0 ? wk.size : 0;
    else if (wk.size >= 0 && wk.size != a->kernel[i])
      return nnd__si_fail(c,
                          "the kernel attribute says %lld on spatial axis %d but weight '%s' %s "
                          "has %lld",
                          (long long)a->kernel[i], i, w->name, nnd__si_shape_str(&w->shape).s,
                          (long long)wk.size);
  }

  /* channels */
  nnd_dim cin = x->shape.dims[cdim], cout = nnd__si_dim_unknown();
  int64_t g = a->groups;
  if (p.one >= 0 && wd[p.one].size >= 0 && wd[p.one].size != 1)
    return nnd__si_fail(c, "depthwise weight '%s' %s must have 1 as its first dim", w->name,
                        nnd__si_shape_str(&w->shape).s);
  nnd_dim wi = p.i >= 0 ? wd[p.i] : nnd__si_dim_known(1), wo = wd[p.o];
  if (p.i_total) {
    if (wi.size >= 0 && cin.size >= 0 && wi.size != cin.size)
      return nnd__si_fail(c, "input has %lld channels but the weight expects %lld (groups %lld)",
                          (long long)cin.size, (long long)wi.size, (long long)g);
    if (wi.size >= 0 && wi.size % g != 0)
      return nnd__si_fail(c, "the weight has %lld input channels, which %lld groups do not divide",
                          (long long)wi.size, (long long)g);
  } else if (wi.size >= 0 && cin.size >= 0) {
    int64_t expect;
    if ((st = nnd__si_mul(c, wi.size, g, "the channel count", &expect)) != NND_OK) return st;
    if (expect != cin.size)
      return nnd__si_fail(c, "input has %lld channels but the weight expects %lld (groups %lld)",
                          (long long)cin.size, (long long)expect, (long long)g);
  }
  if (wo.size >= 0) {
    if (p.o_per_group) {
      int64_t n;
      if ((st = nnd__si_mul(c, wo.size, g, "the output channel count", &n)) != NND_OK) return st;
      cout = nnd__si_dim_known(n);
    } else {
      if (wo.size % g != 0)
        return nnd__si_fail(c,
                            "the weight has %lld output channels, which %lld groups do not "
                            "divide",
                            (long long)wo.size, (long long)g);
      cout = wo;
    }
  }
  if (b && b->shape.rank >= 0) {
    if (b->shape.rank != 1)
      return nnd__si_fail(c, "bias '%s' %s must be 1-D", b->name, nnd__si_shape_str(&b->shape).s);
    if (b->shape.dims[0].size >= 0 && cout.size >= 0 && b->shape.dims[0].size != cout.size)
      return nnd__si_fail(c, "bias '%s' has %lld values but the layer has %lld output channels",
                          b->name, (long long)b->shape.dims[0].size, (long long)cout.size);
  }

  nnd_shape *o = &c->out[0];
  o->rank = rank;
  o->dims[0] = x->shape.dims[0];
  o->dims[cdim] = cout;
  for (int i = 0; i < ns; i++) {
    window win = {a->kernel[i], a->strides[i], a->dilations[i], a->output_padding[i],
                  a->auto_pad,  false,         transpose};
    st = window_out(c, i, x->shape.dims[sp0 + i], &win, &a->pads_begin[i], &a->pads_end[i],
                    &o->dims[sp0 + i]);
    if (st != NND_OK) return st;
  }
  c->out_layout[0] = layout;
  return NND_OK;
}

nnd_status nnd__infer_conv(nnd__infer *c) { return infer_conv_any(c, false); }
nnd_status nnd__infer_conv_transpose(nnd__infer *c) { return infer_conv_any(c, true); }

nnd_status nnd__infer_pool(nnd__infer *c) {
  const nnd_value *x = nnd__si_in(c, 0);
  nnd_pool_attrs *a = &c->attrs.pool;
  int rank = x->shape.rank;
  if (rank < 3 || rank > 2 + NND_MAX_SPATIAL)
    return nnd__si_fail(c, "input %s has rank %d; pooling takes 3 to %d dims",
                        nnd__si_shape_str(&x->shape).s, rank, 2 + NND_MAX_SPATIAL);
  int ns = rank - 2;
  if (a->n_spatial != 0 && a->n_spatial != ns)
    return nnd__si_fail(c, "the attributes describe %d spatial dims but the input %s has %d",
                        a->n_spatial, nnd__si_shape_str(&x->shape).s, ns);
  a->n_spatial = ns;
  nnd_layout layout = a->layout == NND_LAYOUT_NHWC ? NND_LAYOUT_NHWC : NND_LAYOUT_NCHW;
  int cdim, sp0;
  act_dims(layout, rank, &cdim, &sp0);
  nnd_shape *o = &c->out[0];
  *o = x->shape;
  for (int i = 0; i < ns; i++) {
    if (a->kernel[i] < 1)
      return nnd__si_fail(c, "the kernel size on spatial axis %d is %lld; it must be set and >= 1",
                          i, (long long)a->kernel[i]);
    window win = {a->kernel[i], a->strides[i], a->dilations[i], 0, a->auto_pad,
                  a->ceil_mode, false};
    nnd_status st = window_out(c, i, x->shape.dims[sp0 + i], &win, &a->pads_begin[i],
                               &a->pads_end[i], &o->dims[sp0 + i]);
    if (st != NND_OK) return st;
  }
  c->out_layout[0] = layout;
  for (int k = 1; k < c->n_out; k++) { /* MaxPool indices */
    c->out[k] = *o;
    c->out_layout[k] = layout;
  }
  return NND_OK;
}

nnd_status nnd__infer_global_pool(nnd__infer *c) {
  const nnd_value *x = nnd__si_in(c, 0);
  int rank = x->shape.rank;
  if (rank < 3)
    return nnd__si_fail(c, "input %s has rank %d; global pooling takes 3 dims or more",
                        nnd__si_shape_str(&x->shape).s, rank);
  nnd_layout layout = c->attrs.pool.layout == NND_LAYOUT_NHWC ? NND_LAYOUT_NHWC : NND_LAYOUT_NCHW;
  int cdim, sp0;
  act_dims(layout, rank, &cdim, &sp0);
  c->out[0] = x->shape;
  for (int i = sp0; i < sp0 + rank - 2; i++)
    c->out[0].dims[i] = nnd__si_dim_known(1);
  c->out_layout[0] = layout;
  return NND_OK;
}

nnd_status nnd__infer_batch_norm(nnd__infer *c) {
  static const char *const names[] = {"", "scale", "bias", "mean", "variance"};
  const nnd_value *x = nnd__si_in(c, 0);
  int rank = x->shape.rank;
  if (rank < 2)
    return nnd__si_fail(c, "input %s has rank %d; BatchNorm takes 2 dims or more",
                        nnd__si_shape_str(&x->shape).s, rank);
  /* BatchNorm has no layout attribute: the channel dim is the input's */
  int cdim = x->layout == NND_LAYOUT_NHWC ? rank - 1 : 1;
  nnd_dim ch = x->shape.dims[cdim];
  for (int i = 1; i <= 4; i++) {
    const nnd_value *p = nnd__si_in(c, i);
    if (!p || p->shape.rank < 0) continue;
    if (p->shape.rank != 1)
      return nnd__si_fail(c, "%s '%s' %s must be 1-D", names[i], p->name,
                          nnd__si_shape_str(&p->shape).s);
    nnd_dim pd = p->shape.dims[0];
    if (pd.size >= 0 && ch.size >= 0 && pd.size != ch.size)
      return nnd__si_fail(c, "%s '%s' has %lld values but the input %s (%s) has %lld channels",
                          names[i], p->name, (long long)pd.size, nnd__si_shape_str(&x->shape).s,
                          layout_name(x->layout), (long long)ch.size);
    if (ch.size < 0) ch = pd;
  }
  c->out[0] = x->shape;
  c->out_layout[0] = x->layout;
  for (int k = 1; k < c->n_out; k++) { /* training outputs: running mean/var, saved stats */
    c->out[k].rank = 1;
    c->out[k].dims[0] = ch;
  }
  return NND_OK;
}
