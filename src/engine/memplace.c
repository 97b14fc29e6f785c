/* Buffer placement for the memory plan (memplace.h).
 *
 * The greedy placement needs, for each buffer, the already placed buffers
 * whose lifetimes overlap its own. Scanning every placed buffer made the
 * plan quadratic in the number of values (cubic with the fit test), which a
 * model with 10^5 nodes turns into minutes. Here the placed buffers sit in a
 * segment tree over the buffers sorted by first position, each node holding
 * the latest `last` below it: the overlapping ones (first <= my last and
 * last >= my first) are enumerated in O((k + 1) log n) for k of them, then
 * sorted by offset and swept for the lowest gap. That gives the same
 * offsets as trying every candidate, in O(P log n) for P overlapping pairs.
 * P itself is quadratic when thousands of values live at once, so above a
 * budget the placement switches to time order with free lists. */
#include "engine/memplace.h"

#include <stdlib.h>
#include <string.h>

typedef struct placer {
  const size_t *bytes;
  const int32_t *first, *last;
  size_t *off;
  int32_t *byfirst; /* buffer ids by first position (ties by id) */
  int32_t *rank;    /* rank[b]: b's index in byfirst */
  int32_t *maxlast; /* tree over byfirst: latest last of a placed leaf below, or INT32_MIN */
  size_t leaves;    /* power of two >= n */
  int32_t *hits;    /* overlapping placed buffers of the current query */
  size_t n_hits;
} placer;

static int cmp_by_size(const void *pa, const void *pb, void *ctx) {
  const size_t *bytes = ctx;
  int32_t a = *(const int32_t *)pa, b = *(const int32_t *)pb;
  if (bytes[a] != bytes[b]) return bytes[a] < bytes[b] ? 1 : -1;
  return a < b ? -1 : a > b;
}

static int cmp_by_first(const void *pa, const void *pb, void *ctx) {
  const int32_t *first = ctx;
  int32_t a = *(const int32_t *)pa, b = *(const int32_t *)pb;
  if (first[a] != first[b]) return first[a] < first[b] ? -1 : 1;
  return a < b ? -1 : a > b;
}

static int cmp_by_offset(const void *pa, const void *pb, void *ctx) {
  const size_t *off = ctx;
  int32_t a = *(const int32_t *)pa, b = *(const int32_t *)pb;
  if (off[a] != off[b]) return off[a] < off[b] ? -1 : 1;
  return a < b ? -1 : a > b;
}

static int cmp_int32(const void *pa, const void *pb) {
  int32_t a = *(const int32_t *)pa, b = *(const int32_t *)pb;
  return a < b ? -1 : a > b;
}

/* Placed leaves in byfirst[0, hi) whose last is >= lo, pruning subtrees
 * whose latest last is earlier. */
static void collect(placer *p, size_t node, size_t node_lo, size_t node_len, size_t hi,
                    int32_t lo) {
  if (node_lo >= hi || p->maxlast[node] < lo) return;
  if (node_len == 1) {
    p->hits[p->n_hits++] = p->byfirst[node_lo];
    return;
  }
  size_t half = node_len / 2;
  collect(p, 2 * node, node_lo, half, hi, lo);
  collect(p, 2 * node + 1, node_lo + half, half, hi, lo);
}

static void mark_placed(placer *p, int32_t b) {
  size_t i = p->leaves + (size_t)p->rank[b];
  p->maxlast[i] = p->last[b];
  for (i /= 2; i >= 1; i /= 2) {
    int32_t l = p->maxlast[2 * i], r = p->maxlast[2 * i + 1];
    p->maxlast[i] = l > r ? l : r;
  }
}

/* Pairs of buffers whose lifetimes overlap (an upper bound: pairs that
 * start together count twice), from the firsts and lasts in sorted order. */
static uint64_t overlapping_pairs(size_t n, const int32_t *sorted_first,
                                  const int32_t *sorted_last) {
  uint64_t pairs = 0;
  size_t ended = 0, started = 0;
  for (size_t i = 0; i < n; i++) {
    int32_t t = sorted_first[i];
    while (started < n && sorted_first[started] <= t)
      started++;
    while (ended < n && sorted_last[ended] < t)
      ended++;
    pairs += (uint64_t)(started - ended - 1);
  }
  return pairs;
}

/* Sizes come from the model: sums saturate instead of wrapping, so an
 * impossible plan reads as "needs more than any budget", never as small. */
static size_t sat_add(size_t a, size_t b) { return a > SIZE_MAX - b ? SIZE_MAX : a + b; }

static bool place_greedy(size_t n, placer *p, size_t *total_out) {
  int32_t *order = malloc(n * sizeof *order);
  if (!order) return false;
  for (size_t i = 0; i < n; i++)
    order[i] = (int32_t)i;
  qsort_r(order, n, sizeof *order, cmp_by_size, (void *)p->bytes);
  size_t total = 0;
  for (size_t i = 0; i < n; i++) {
    int32_t b = order[i];
    size_t need = p->bytes[b], at = 0;
    if (need > 0) {
      /* every placed buffer with first <= last[b] and last >= first[b] */
      size_t lo = 0, hi = n;
      while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        if (p->first[p->byfirst[mid]] <= p->last[b])
          lo = mid + 1;
        else
          hi = mid;
      }
      p->n_hits = 0;
      collect(p, 1, 0, p->leaves, lo, p->first[b]);
      qsort_r(p->hits, p->n_hits, sizeof *p->hits, cmp_by_offset, p->off);
      for (size_t k = 0; k < p->n_hits; k++) {
        const int32_t h = p->hits[k];
        if (p->off[h] >= sat_add(at, need)) break;
        if (sat_add(p->off[h], p->bytes[h]) > at) at = sat_add(p->off[h], p->bytes[h]);
      }
    }
    /* a zero-size buffer sits at 0 and is in nobody's way */
    p->off[b] = at;
    if (sat_add(at, need) > total) total = sat_add(at, need);
    mark_placed(p, b);
  }
  free(order);
  *total_out = total;
  return true;
}

/* Time order: before a buffer starts, every buffer that ended earlier
 * returns its block to the free list of its size class (a power of two);
 * the buffer takes a block of its class or a new one at the top. */
static bool place_in_time_order(size_t n, const placer *p, size_t *total_out) {
  int32_t *by_last = malloc(n * sizeof *by_last);
  int32_t *next_free = malloc(n * sizeof *next_free);
  unsigned char *cls = malloc(n);
  int32_t head[64];
  bool ok = by_last && next_free && cls;
  for (int k = 0; k < 64; k++)
    head[k] = -1;
  size_t top = 0;
  if (ok) {
    for (size_t i = 0; i < n; i++)
      by_last[i] = (int32_t)i;
    qsort_r(by_last, n, sizeof *by_last, cmp_by_first, (void *)p->last);
  }
  size_t freed = 0;
  for (size_t i = 0; ok && i < n; i++) {
    const int32_t b = p->byfirst[i];
    while (freed < n && p->last[by_last[freed]] < p->first[b]) {
      const int32_t x = by_last[freed++];
      if (p->bytes[x] == 0) continue; /* had no block */
      next_free[x] = head[cls[x]];
      head[cls[x]] = x;
    }
    p->off[b] = 0;
    if (p->bytes[b] == 0) continue;
    unsigned k = 0;
    while (k < 63 && ((size_t)1 << k) < p->bytes[b])
      k++;
    cls[b] = (unsigned char)k;
    if (head[k] >= 0) {
      p->off[b] = p->off[head[k]];
      head[k] = next_free[head[k]];
    } else if (top > SIZE_MAX - ((size_t)1 << k)) {
      p->off[b] = top; /* impossible: the total saturates and the budget refuses it */
      top = SIZE_MAX;
    } else {
      p->off[b] = top;
      top += (size_t)1 << k;
    }
  }
  free(by_last);
  free(next_free);
  free(cls);
  *total_out = top;
  return ok;
}

bool nnd__place_buffers(size_t n, const size_t *bytes, const int32_t *first, const int32_t *last,
                        size_t *offset_out, size_t *total_out) {
  *total_out = 0;
  if (n == 0) return true;
  if (n > INT32_MAX) return false;
  placer p = {.bytes = bytes, .first = first, .last = last, .off = offset_out};
  p.leaves = 1;
  while (p.leaves < n)
    p.leaves *= 2;
  p.byfirst = malloc(n * sizeof *p.byfirst);
  p.rank = malloc(n * sizeof *p.rank);
  p.hits = malloc(n * sizeof *p.hits);
  p.maxlast = malloc(2 * p.leaves * sizeof *p.maxlast);
  int32_t *sorted_first = malloc(n * sizeof *sorted_first);
  int32_t *sorted_last = malloc(n * sizeof *sorted_last);
  bool ok = p.byfirst && p.rank && p.hits && p.maxlast && sorted_first && sorted_last;
  if (ok) {
    for (size_t i = 0; i < n; i++) {
      p.byfirst[i] = (int32_t)i;
      sorted_first[i] = first[i];
      sorted_last[i] = last[i];
    }
    qsort_r(p.byfirst, n, sizeof *p.byfirst, cmp_by_first, (void *)first);
    for (size_t i = 0; i < n; i++)
      p.rank[p.byfirst[i]] = (int32_t)i;
    for (size_t i = 0; i < 2 * p.leaves; i++)
      p.maxlast[i] = INT32_MIN;
    qsort(sorted_first, n, sizeof *sorted_first, cmp_int32);
    qsort(sorted_last, n, sizeof *sorted_last, cmp_int32);
    if (overlapping_pairs(n, sorted_first, sorted_last) <= NND__PLACE_MAX_PAIRS)
      ok = place_greedy(n, &p, total_out);
    else
      ok = place_in_time_order(n, &p, total_out);
  }
  free(p.byfirst);
  free(p.rank);
  free(p.hits);
  free(p.maxlast);
  free(sorted_first);
  free(sorted_last);
  return ok;
}
