/* Planner of Einsum: shapes from the IR (which parsed the equation and
 * checked the letters' sizes); the step maps every letter to a stride in
 * each operand and runs the loops of ops/einsum.c. In the fast precision a
 * two-operand equation that is a batched matrix product (MaxViT's
 * attention: bghid,bghjd->bghij and bghij,bghjd->bghid) runs as one sgemm
 * per batch instead. */
#include <string.h>

#include "engine/engine_internal.h"
#include "ir/einsum.h"

typedef struct einsum_params {
  nnd__einsum_geom g;
} einsum_params;

/* A batched product: out[b] = op(A[b]) op(B[b]), each [m, k] x [k, n]. */
typedef struct einsum_mm {
  int64_t batch, m, n, k;
  bool trans_a, trans_b;
} einsum_mm;

static nnd_status step_einsum_mm(nnd_engine *e, const step *s, nnd_error *err) {
  const einsum_mm *p = s->p;
  const float *a = nnd__data(e, s->in[0]), *b = nnd__data(e, s->in[1]);
  float *y = nnd__data(e, s->out[0]);
  for (int64_t i = 0; i < p->batch; i++)
    nnd__sgemm(p->trans_a, p->trans_b, p->m, p->n, p->k, 1.0f, a + i * p->m * p->k,
               p->trans_a ? p->m : p->k, b + i * p->k * p->n, p->trans_b ? p->k : p->n, 0.0f,
               y + i * p->m * p->n, p->n);
  (void)err;
  return NND_OK;
}

/* Whether es is out[batch.., i, j] = sum_d A[batch.., {i,d}] B[batch.., {d,j}]
 * with the batch letters leading in the same order everywhere and no
 * repeated letter; fills mm from the letters' sizes. */
static bool as_matmul(const nnd__einsum *es, const int64_t *size, einsum_mm *mm) {
  if (es->n_in != 2 || es->in_rank[0] != es->in_rank[1] || es->out_rank != es->in_rank[0])
    return false;
  const int r = es->out_rank;
  if (r < 2) return false;
  mm->batch = 1;
  for (int d = 0; d < r - 2; d++) {
    const int l = es->out_sub[d];
    if (es->in_sub[0][d] != l || es->in_sub[1][d] != l) return false;
    mm->batch *= size[l];
  }
  const int i = es->out_sub[r - 2], j = es->out_sub[r - 1];
  const int *a = &es->in_sub[0][r - 2], *b = &es->in_sub[1][r - 2];
  int d;
  if (a[0] == i) {
    d = a[1];
    mm->trans_a = false;
  } else if (a[1] == i) {
    d = a[0];
    mm->trans_a = true;
  } else {
    return false;
  }
  if (b[1] == j && b[0] == d)
    mm->trans_b = false;
  else if (b[0] == j && b[1] == d)
    mm->trans_b = true;
  else
    return false;
  if (i == j || d == i || d == j) return false;
  mm->m = size[i];
  mm->n = size[j];
  mm->k = size[d];
  return true;
}

static nnd_status step_einsum(nnd_engine *e, const step *s, nnd_error *err) {
  const einsum_params *p = s->p;
  const void *x[NND__EINSUM_IN];
  const etensor *y = nnd__t(e, s->out[0]);
  for (int k = 0; k < s->n_in; k++) {
    const etensor *t = nnd__t(e, s->in[k]);
    if (t->dtype != y->dtype)
      return nnd__node_error(e, s->node, err, NND_ERR_UNSUPPORTED, "Einsum on %s operands",
                             nnd_dtype_name(t->dtype));
    x[k] = t->data;
  }
  if (y->dtype == NND_DTYPE_F64)
    nnd__einsum_f64(&p->g, (const double *const *)x, y->data);
  else if (y->dtype == NND_DTYPE_F32)
    nnd__einsum_f32(&p->g, (const float *const *)x, y->data);
  else
    return nnd__node_error(e, s->node, err, NND_ERR_UNSUPPORTED, "Einsum on integers");
  return NND_OK;
}

nnd_status nnd__eng_build_einsum(nnd_engine *e, int32_t id, nnd_error *err) {
  const nnd_node *nd = &e->g->nodes[id];
  const evalue *out = &e->v[nd->outputs[0]];
  nnd__einsum es;
  char why[200];
  if (!nnd__einsum_parse(nd->attrs.equation, nd->n_inputs, &es, why, sizeof why))
    return nnd__node_error(e, id, err, NND_ERR_UNSUPPORTED, "%s", why);
  if (es.n_in > NND__EINSUM_IN)
    return nnd__node_error(e, id, err, NND_ERR_UNSUPPORTED, "%d operands", es.n_in);
  einsum_params *p = nnd__emem(e, 1, sizeof *p);
  if (!p) return nnd_error_set(err, NND_ERR_NOMEM, "out of memory");
  /* per letter: its size and its stride in each operand (a letter repeated
   * within an operand, a diagonal, adds its strides) */
  int64_t size[NND__EINSUM_MAX_LETTERS] = {0}, stride[NND__EINSUM_IN][NND__EINSUM_MAX_LETTERS];
  memset(stride, 0, sizeof stride);
  int32_t in[NND__EINSUM_IN];
  for (int k = 0; k < es.n_in; k++) {
    if ((in[k] = nnd__operand(e, nd->inputs[k], false, err)) < 0) return err->status;
    const evalue *xv = &e->v[nd->inputs[k]];
    int64_t s = 1;
    for (int d = xv->rank - 1; d >= 0; d--) {
      size[es.in_sub[k][d]] = xv->dims[d];
      stride[k][es.in_sub[k][d]] += s;
      s *= xv->dims[d];
    }
  }
  einsum_mm mm;
  if (!e->ref && !e->folding && as_matmul(&es, size, &mm)) {
    einsum_mm *q = nnd__emem(e, 1, sizeof *q);
    int32_t y = nnd__output(e, id, 0, out->rank, out->dims, false);
    if (!q || y < 0) return nnd_error_set(err, NND_ERR_NOMEM, "out of memory");
    *q = mm;
    return nnd__emit(e, step_einsum_mm, "einsum_sgemm", q, in, 2, &y, 1, -1, err);
  }
  bool in_out[NND__EINSUM_MAX_LETTERS] = {false};
  nnd__einsum_geom *g = &p->g;
  g->n_in = es.n_in;
  g->out_rank = out->rank;
  for (int d = 0; d < out->rank; d++) {
    const int l = es.out_sub[d];
    in_out[l] = true;
    g->out_dims[d] = out->dims[d];
    for (int k = 0; k < es.n_in; k++)
      g->out_stride[k][d] = stride[k][l];
  }
  for (int l = 0; l < es.n_letters; l++) {
    if (in_out[l]) continue;
    if (g->n_red == NND__EINSUM_RED)
      return nnd__node_error(e, id, err, NND_ERR_UNSUPPORTED, "more than %d contracted letters",
                             NND__EINSUM_RED);
    g->red_dims[g->n_red] = size[l];
    for (int k = 0; k < es.n_in; k++)
      g->red_stride[k][g->n_red] = stride[k][l];
    g->n_red++;
  }
  int32_t y = nnd__output(e, id, 0, out->rank, out->dims, false);
  if (y < 0) return nnd_error_set(err, NND_ERR_NOMEM, "out of memory");
  return nnd__emit(e, step_einsum, "einsum", p, in, es.n_in, &y, 1, -1, err);
}
