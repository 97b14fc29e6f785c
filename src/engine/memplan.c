/* Phase D of planning: the memory plan. Every runtime tensor that owns a
 * buffer (views share their root's) lives from the step that writes it to
 * the last step or tap that reads it; positions count in half steps so a
 * tap after step i (2i + 1) keeps its buffer alive past the step. A step
 * that allows it writes its output over an input whose buffer dies at that
 * step (in-place). Buffers are then placed greedily, largest first, at the
 * lowest offset that no buffer alive at the same time uses (memplace.c):
 * one arena, allocated once. */
#include <stdlib.h>
#include <string.h>

#include "engine/engine_internal.h"
#include "engine/memplace.h"

#define ALIGN 64

static size_t tensor_bytes(const etensor *t) {
  return ((size_t)t->numel * nnd_dtype_size(t->dtype) + ALIGN - 1) / ALIGN * ALIGN;
}

static int32_t buf_root(const nnd_engine *e, int32_t b) {
  while (e->bufs[b].merged_into >= 0)
    b = e->bufs[b].merged_into;
  return b;
}

static void touch(nnd_engine *e, int32_t tensor, int32_t pos) {
  if (tensor < 0) return;
  const etensor *t = &e->t[nnd__root(e, tensor)];
  if (t->is_const || t->buf < 0) return;
  ebuffer *b = &e->bufs[t->buf];
  if (pos < b->first) b->first = pos;
  if (pos > b->last) b->last = pos;
}

nnd_status nnd__plan_memory(nnd_engine *e, nnd_error *err) {
  /* 1. One buffer per root runtime tensor. */
  int32_t n = 0;
  for (int32_t i = 0; i < e->n_t; i++)
    if (!e->t[i].is_const && e->t[i].alias_of < 0) n++;
  e->bufs = calloc((size_t)(n ? n : 1), sizeof *e->bufs);
  if (!e->bufs) return nnd_error_set(err, NND_ERR_NOMEM, "out of memory planning memory");
  for (int32_t i = 0; i < e->n_t; i++) {
    etensor *t = &e->t[i];
    if (t->is_const || t->alias_of >= 0) continue;
    ebuffer *b = &e->bufs[e->n_bufs];
    b->bytes = tensor_bytes(t);
    b->first = INT32_MAX;
    b->last = INT32_MIN;
    b->merged_into = -1;
    e->naive_bytes += b->bytes;
    t->buf = e->n_bufs++;
  }
  /* 2. Lifetimes in half steps. */
  for (int i = 0; i < e->n_run_inputs; i++)
    touch(e, e->run_input_t[i], -1);
  for (int32_t i = 0; i < e->n_s; i++) {
    const step *s = &e->s[i];
    for (int k = 0; k < s->n_in; k++)
      touch(e, s->in[k], 2 * i);
    for (int k = 0; k < s->n_out; k++)
      touch(e, s->out[k], 2 * i);
  }
  for (int32_t i = 0; i < e->n_taps; i++)
    touch(e, e->taps[i].tensor, 2 * e->taps[i].step + 1);
  const int32_t end = 2 * e->n_s + 2;
  for (int i = 0; i < e->g->n_outputs; i++) {
    const evalue *ev = &e->v[e->g->outputs[i]];
    touch(e, ev->tid[0][0] >= 0 ? ev->tid[0][0] : ev->tid[1][0], end);
  }
  /* 3. In place: the output takes over an input buffer that dies here. */
  for (int32_t i = 0; i < e->n_s; i++) {
    const step *s = &e->s[i];
    if (s->inplace_in < 0 || s->inplace_in >= s->n_in || s->in[s->inplace_in] < 0) continue;
    const etensor *ti = &e->t[nnd__root(e, s->in[s->inplace_in])];
    const etensor *to = &e->t[nnd__root(e, s->out[0])];
    if (ti->is_const || to->is_const || ti->buf < 0 || to->buf < 0) continue;
    int32_t a = buf_root(e, ti->buf), b = buf_root(e, to->buf);
    if (a == b || e->bufs[a].bytes != e->bufs[b].bytes) continue;
    if (e->bufs[a].last != 2 * i || e->bufs[b].first != 2 * i) continue;
    /* Not when another input reads the same buffer (a convolution of the
     * residual itself, or x + x). */
    bool shared = false;
    for (int k = 0; k < s->n_in; k++) {
      if (k == s->inplace_in || s->in[k] < 0) continue;
      const etensor *tk = &e->t[nnd__root(e, s->in[k])];
      if (!tk->is_const && tk->buf >= 0 && buf_root(e, tk->buf) == a) shared = true;
    }
    if (shared) continue;
    e->bufs[b].merged_into = a;
    if (e->bufs[b].last > e->bufs[a].last) e->bufs[a].last = e->bufs[b].last;
  }
  /* 4. Offsets, largest first (memplace.c). */
  int32_t *order = malloc((size_t)(e->n_bufs ? e->n_bufs : 1) * sizeof *order);
  size_t *bytes = malloc((size_t)(e->n_bufs ? e->n_bufs : 1) * sizeof *bytes);
  size_t *offset = malloc((size_t)(e->n_bufs ? e->n_bufs : 1) * sizeof *offset);
  int32_t *first = malloc((size_t)(e->n_bufs ? e->n_bufs : 1) * sizeof *first);
  int32_t *last = malloc((size_t)(e->n_bufs ? e->n_bufs : 1) * sizeof *last);
  int32_t m = 0;
  size_t total = 0;
  bool placed = order && bytes && offset && first && last;
  for (int32_t b = 0; placed && b < e->n_bufs; b++)
    if (e->bufs[b].merged_into < 0 && e->bufs[b].first <= e->bufs[b].last) {
      bytes[m] = e->bufs[b].bytes;
      first[m] = e->bufs[b].first;
      last[m] = e->bufs[b].last;
      order[m++] = b;
    }
  placed = placed && nnd__place_buffers((size_t)m, bytes, first, last, offset, &total);
  for (int32_t i = 0; placed && i < m; i++)
    e->bufs[order[i]].offset = offset[i];
  free(order);
  free(bytes);
  free(offset);
  free(first);
  free(last);
  if (!placed) return nnd_error_set(err, NND_ERR_NOMEM, "out of memory planning memory");
  e->arena_bytes = total;
  e->arena = aligned_alloc(ALIGN, total ? total : ALIGN);
  if (!e->arena)
    return nnd_error_set(err, NND_ERR_NOMEM, "out of memory: %zu bytes of activations", total);
  if (e->scratch_bytes &&
      !(e->scratch = aligned_alloc(ALIGN, (e->scratch_bytes + ALIGN - 1) / ALIGN * ALIGN)))
    return nnd_error_set(err, NND_ERR_NOMEM, "out of memory: %zu bytes of scratch",
                         e->scratch_bytes);
  /* 5. Every runtime tensor gets its pointer. */
  for (int32_t i = 0; i < e->n_t; i++) {
    etensor *t = &e->t[i];
    if (t->is_const) continue;
    const etensor *r = &e->t[nnd__root(e, i)];
    if (r->buf < 0) continue;
    t->data = (char *)e->arena + e->bufs[buf_root(e, r->buf)].offset;
  }
  return NND_OK;
}
