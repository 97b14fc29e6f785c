/* Constant folding of small integer tensors: the shape arithmetic exporters
 * write (Shape -> Gather -> Unsqueeze -> Concat -> Reshape, Shape -> Slice,
 * Cast, Add/Sub/Mul/Div/Mod on sizes, Equal/Where/Expand around -1 dims,
 * torch's F.pad pads reversed by a Slice and a Transpose, Range,
 * ConstantOfShape). Values may be partly known: an element
 * that is an unknown dim keeps the dim's symbol and origin, so a Reshape to
 * [batch, -1] still resolves the -1. Folding gives up quietly (returns
 * false) whenever it cannot be sure; it never fails the graph. */
#include "ir/shape_infer.h"
#include "util/checked_math.h"

static nnd__symint known(int64_t v) {
  nnd__symint e = {v, true, NULL, -1, 0};
  return e;
}

static nnd__symint unknown(void) {
  nnd__symint e = {0, false, NULL, -1, 0};
  return e;
}

/* The value of input i, when anything of it is known. */
static bool input(nnd__infer *c, int i, nnd__symvec *out) {
  bool have = false;
  nnd_error scratch = {0}; /* a short constant is reported by the shape pass */
  nnd_error *keep = c->err;
  c->err = &scratch;
  nnd_status st = nnd__si_input_sym(c, i, out, &have);
  c->err = keep;
  return st == NND_OK && have;
}

bool nnd__fold_shape(nnd__infer *c, nnd__symvec *out) {
  const nnd_shape *xs = &nnd__si_in(c, 0)->shape;
  int32_t x_id = nnd__si_in_id(c, 0);
  int64_t start = c->attrs.shape_start, end = c->attrs.shape_end, rank = xs->rank;
  if (start < 0) start += rank;
  if (end < 0) end += rank;
  start = start < 0 ? 0 : start > rank ? rank : start;
  end = end < 0 ? 0 : end > rank ? rank : end;
  if ((end > start ? end - start : 0) != out->n) return false;
  for (int64_t i = 0; i < out->n; i++) {
    nnd_dim d = xs->dims[start + i];
    if (d.size >= 0) {
      out->e[i] = known(d.size);
    } else {
      out->e[i] = unknown();
      out->e[i].sym = d.symbol;
      out->e[i].origin_value = x_id;
      out->e[i].origin_dim = (int)(start + i);
    }
  }
  return true;
}

bool nnd__fold_gather(nnd__infer *c, nnd__symvec *out) {
  nnd__symvec data, idx;
  if (nnd__si_in(c, 0)->shape.rank != 1 || !input(c, 0, &data) || !input(c, 1, &idx)) return false;
  if (idx.n != out->n) return false;
  for (int64_t k = 0; k < idx.n; k++) {
    if (!idx.e[k].known) return false;
    int64_t i = idx.e[k].v;
    if (i < 0) i += data.n;
    if (i < 0 || i >= data.n) return false;
    out->e[k] = data.e[i];
  }
  return true;
}

/* Unsqueeze, Squeeze, Reshape, Flatten, Identity: same elements. */
bool nnd__fold_same(nnd__infer *c, nnd__symvec *out) {
  nnd__symvec in;
  if (!input(c, 0, &in) || in.n != out->n) return false;
  for (int64_t k = 0; k < in.n; k++)
    out->e[k] = in.e[k];
  return true;
}

bool nnd__fold_concat(nnd__infer *c, nnd__symvec *out) {
  int rank = nnd__si_in(c, 0)->shape.rank;
  int64_t axis = c->attrs.axis < 0 ? c->attrs.axis + rank : c->attrs.axis;
  if (axis != 0) return false; /* only along axis 0 is concatenation an append */
  int64_t n = 0;
  for (int i = 0; i < c->node->n_inputs; i++) {
    nnd__symvec in;
    if (!input(c, i, &in) || n + in.n > out->n) return false;
    for (int64_t k = 0; k < in.n; k++)
      out->e[n++] = in.e[k];
  }
  return n == out->n;
}

/* Row-major strides of a static shape. */
static void strides_of(const nnd_shape *s, int64_t *st) {
  int64_t k = 1;
  for (int d = s->rank - 1; d >= 0; d--) {
    st[d] = k;
    k *= s->dims[d].size;
  }
}

/* Slice of any rank (torch writes F.pad's pads as a [n, 2] tensor sliced
 * with step -1 along axis 0, then transposed): the input's shape must be
 * static; each output element is read by index arithmetic. */
bool nnd__fold_slice(nnd__infer *c, nnd__symvec *out) {
  const nnd_attrs *a = &c->attrs;
  const nnd_shape *xs = &nnd__si_in(c, 0)->shape;
  nnd__symvec in;
  if (!a->has_slice || !nnd_shape_is_static(xs) || !input(c, 0, &in)) return false;
  int64_t first[NND_MAX_RANK], step[NND_MAX_RANK], count[NND_MAX_RANK], st[NND_MAX_RANK];
  for (int d = 0; d < xs->rank; d++) {
    first[d] = 0;
    step[d] = 1;
    count[d] = xs->dims[d].size;
  }
  for (int k = 0; k < a->n_axes; k++) {
    int64_t ax = a->axes[k] < 0 ? a->axes[k] + xs->rank : a->axes[k];
    if (ax < 0 || ax >= xs->rank || a->steps[k] == 0) return false;
    nnd__si_slice_range(xs->dims[ax].size, a->starts[k], a->ends[k], a->steps[k], &first[ax],
                        &count[ax]);
    step[ax] = a->steps[k];
  }
  int64_t n = 1;
  for (int d = 0; d < xs->rank; d++)
    n *= count[d];
  if (n != out->n) return false;
  strides_of(xs, st);
  for (int64_t q = 0; q < n; q++) {
    int64_t rem = q, off = 0;
    for (int d = xs->rank - 1; d >= 0; d--) {
      const int64_t i = rem % count[d];
      rem /= count[d];
      off += (first[d] + i * step[d]) * st[d];
    }
    if (off < 0 || off >= in.n) return false;
    out->e[q] = in.e[off];
  }
  return true;
}

bool nnd__fold_transpose(nnd__infer *c, nnd__symvec *out) {
  const nnd_shape *xs = &nnd__si_in(c, 0)->shape;
  nnd__symvec in;
  if (!nnd_shape_is_static(xs) || !input(c, 0, &in) || in.n != out->n) return false;
  const int r = xs->rank;
  int64_t perm[NND_MAX_RANK], st[NND_MAX_RANK], od[NND_MAX_RANK];
  for (int i = 0; i < r; i++) {
    perm[i] = c->attrs.n_perm ? c->attrs.perm[i] : r - 1 - i;
    if (perm[i] < 0 || perm[i] >= r) return false;
    od[i] = xs->dims[perm[i]].size;
  }
  strides_of(xs, st);
  for (int64_t q = 0; q < out->n; q++) {
    int64_t rem = q, off = 0;
    for (int d = r - 1; d >= 0; d--) {
      off += rem % od[d] * st[perm[d]];
      rem /= od[d];
    }
    if (off >= in.n) return false;
    out->e[q] = in.e[off];
  }
  return true;
}

bool nnd__fold_cast(nnd__infer *c, nnd__symvec *out) {
  if (!nnd__fold_same(c, out)) return false;
  if (c->out_dtype[0] == NND_DTYPE_I32)
    for (int64_t k = 0; k < out->n; k++)
      if (out->e[k].known && (out->e[k].v < INT32_MIN || out->e[k].v > INT32_MAX)) return false;
  return true;
}

bool nnd__fold_binary(nnd__infer *c, nnd__symvec *out) {
  nnd__symvec a, b;
  if (!input(c, 0, &a) || !input(c, 1, &b)) return false;
  int64_t n = out->n;
  /* equal element counts or a single element: the shapes then line up */
  if ((a.n != n && a.n != 1) || (b.n != n && b.n != 1)) return false;
  for (int64_t k = 0; k < n; k++) {
    const nnd__symint *x = &a.e[a.n == 1 ? 0 : k], *y = &b.e[b.n == 1 ? 0 : k];
    if (!x->known || !y->known) {
      out->e[k] = unknown();
      continue;
    }
    int64_t r;
    switch (c->node->op) {
    case NND_OP_ADD:
      if (!nnd__add_i64(x->v, y->v, &r)) return false;
      break;
    case NND_OP_SUB:
      if (__builtin_sub_overflow(x->v, y->v, &r)) return false;
      break;
    case NND_OP_MUL:
      if (__builtin_mul_overflow(x->v, y->v, &r)) return false;
      break;
    case NND_OP_DIV: /* integer Div truncates, as ONNX Runtime does */
      if (y->v == 0 || (x->v == INT64_MIN && y->v == -1)) return false;
      r = x->v / y->v;
      break;
    case NND_OP_MOD: /* fmod: the dividend's sign; else the divisor's (Python's %) */
      if (y->v == 0 || (x->v == INT64_MIN && y->v == -1)) return false;
      r = x->v % y->v;
      if (!c->attrs.fmod && r != 0 && ((r < 0) != (y->v < 0))) r += y->v;
      break;
    case NND_OP_EQUAL: r = x->v == y->v; break;
    default: return false;
    }
    out->e[k] = known(r);
  }
  return true;
}

bool nnd__fold_expand(nnd__infer *c, nnd__symvec *out) {
  nnd__symvec in;
  if (!input(c, 0, &in) || (in.n != 1 && in.n != out->n)) return false;
  for (int64_t k = 0; k < out->n; k++)
    out->e[k] = in.e[in.n == 1 ? 0 : k];
  return true;
}

bool nnd__fold_not(nnd__infer *c, nnd__symvec *out) {
  nnd__symvec in;
  if (!input(c, 0, &in) || in.n != out->n) return false;
  for (int64_t k = 0; k < in.n; k++)
    out->e[k] = in.e[k].known ? known(in.e[k].v == 0) : unknown();
  return true;
}

/* Where over equal element counts or single elements; an unknown condition
 * still picks when both branches agree. */
bool nnd__fold_where(nnd__infer *c, nnd__symvec *out) {
  nnd__symvec s[3];
  for (int i = 0; i < 3; i++)
    if (!input(c, i, &s[i]) || (s[i].n != out->n && s[i].n != 1)) return false;
  for (int64_t k = 0; k < out->n; k++) {
    const nnd__symint *cond = &s[0].e[s[0].n == 1 ? 0 : k];
    const nnd__symint *x = &s[1].e[s[1].n == 1 ? 0 : k], *y = &s[2].e[s[2].n == 1 ? 0 : k];
    if (cond->known)
      out->e[k] = cond->v ? *x : *y;
    else
      out->e[k] = x->known && y->known && x->v == y->v ? *x : unknown();
  }
  return true;
}
