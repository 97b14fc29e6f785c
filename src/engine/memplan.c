/* Phase D of planning: the memory plan. Every runtime tensor that owns a
 * buffer (views share their root's) lives from the step that writes it to
 * the last step or tap that reads it; positions count in half steps so a
 * tap after step i (2i + 1) keeps its buffer alive past the step. A step
 * that allows it writes its output over an input whose buffer dies at that
 * step (in-place). Buffers are then placed greedily, largest first, at the
 * lowest offset that no buffer alive at the same time uses (memplace.c):
 * one arena, allocated once. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine/engine_internal.h"
#include "engine/memplace.h"
#include "util/bytes.h"

#define ALIGN 64

/* Runtime tensors stay below SIZE_MAX / 2 bytes (plan.c), so this cannot wrap. */
static size_t tensor_bytes(const etensor *t) {
  return ((size_t)t->numel * nnd_dtype_size(t->dtype) + ALIGN - 1) / ALIGN * ALIGN;
}

/* Sizes come from the model: sums saturate instead of wrapping, so an
 * impossible plan reads as "needs more than the budget", never as small. */
static size_t sat_add(size_t a, size_t b) { return a > SIZE_MAX - b ? SIZE_MAX : a + b; }

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

/* The largest activation buffer and the value it holds, for messages. */
static void note_largest(nnd_engine *e) {
  e->stats.largest_bytes = 0;
  e->stats.largest_value = -1;
  for (int32_t i = 0; i < e->n_t; i++) {
    const etensor *t = &e->t[i];
    if (t->is_const || t->alias_of >= 0 || t->buf < 0) continue;
    if (e->bufs[t->buf].bytes > e->stats.largest_bytes) {
      e->stats.largest_bytes = e->bufs[t->buf].bytes;
      e->stats.largest_value = t->value;
    }
  }
}

/* "batch 4096 needs 6.1 GiB: 6.0 GiB of activations (the largest, 'x' from
 * node 'conv1' (Conv), 196.0 MiB), ...; over the memory budget of 3.2 GiB". */
static nnd_status memory_error(nnd_engine *e, size_t need, bool over_budget, nnd_error *err) {
  char n[NND_BYTES_FMT_SIZE], a[NND_BYTES_FMT_SIZE], l[NND_BYTES_FMT_SIZE], w[NND_BYTES_FMT_SIZE],
      sc[NND_BYTES_FMT_SIZE], m[NND_BYTES_FMT_SIZE], largest[400] = "";
  const int32_t v = e->stats.largest_value;
  if (v >= 0) {
    const nnd_value *val = &e->g->values[v];
    const nnd_node *p = val->producer >= 0 ? &e->g->nodes[val->producer] : NULL;
    snprintf(largest, sizeof largest, " (the largest, '%s'%s%s%s%s%s, %s)", val->name,
             p ? " from node '" : "", p ? p->name : "", p ? "' (" : "",
             p ? (p->prov.op_type ? p->prov.op_type : nnd_op_name(p->op)) : "", p ? ")" : "",
             nnd__fmt_bytes(e->stats.largest_bytes, l));
  }
  nnd__fmt_bytes(need, n);
  nnd__fmt_bytes(e->arena_bytes, a);
  nnd__fmt_bytes(e->held_bytes, w);
  nnd__fmt_bytes(e->scratch_bytes + e->conv_bytes, sc);
  if (over_budget)
    return nnd_error_set(err, NND_ERR_NOMEM,
                         "batch %lld needs %s: %s of activations%s, %s of weights and constants, "
                         "%s of scratch; over the memory budget of %s",
                         (long long)e->batch, n, a, largest, w, sc,
                         nnd__fmt_bytes(e->opt.max_memory, m));
  return nnd_error_set(err, NND_ERR_NOMEM,
                       "out of memory allocating %s of activations%s for batch %lld (%s in all)", a,
                       largest, (long long)e->batch, n);
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
    e->naive_bytes = sat_add(e->naive_bytes, b->bytes);
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
  note_largest(e);
  const size_t need =
      sat_add(sat_add(total, e->held_bytes), sat_add(e->scratch_bytes, e->conv_bytes));
  if (e->opt.plan_only) return NND_OK;
  if (e->opt.max_memory && need > e->opt.max_memory) return memory_error(e, need, true, err);
  e->arena = aligned_alloc(ALIGN, total ? (total + ALIGN - 1) / ALIGN * ALIGN : ALIGN);
  if (!e->arena) return memory_error(e, need, false, err);
  if (e->scratch_bytes &&
      !(e->scratch = aligned_alloc(ALIGN, (e->scratch_bytes + ALIGN - 1) / ALIGN * ALIGN)))
    return memory_error(e, need, false, err);
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
