/* The engine's buffer placement (src/engine/memplace.c): the fast greedy
 * placement gives exactly the offsets of the brute-force greedy placement
 * it replaced, on random lifetimes and sizes; the time-order fallback for
 * graphs with a huge number of simultaneously alive values never lets two
 * live buffers share a byte; and both take far less than quadratic time on
 * 10^5 buffers. */
#include <stdlib.h>
#include <time.h>

#include "engine/memplace.h"
#include "nnd_test.h"

/* The placement memplan.c used to do: every candidate offset (0 and the end
 * of every overlapping placed buffer) tested against every placed buffer. */
static int cmp_size(const void *a, const void *b, void *ctx) {
  const size_t *bytes = ctx;
  int32_t x = *(const int32_t *)a, y = *(const int32_t *)b;
  if (bytes[x] != bytes[y]) return bytes[x] < bytes[y] ? 1 : -1;
  return x < y ? -1 : x > y;
}

static size_t naive_place(size_t n, const size_t *bytes, const int32_t *first, const int32_t *last,
                          size_t *off) {
  int32_t *order = malloc(n * sizeof *order), *placed = malloc(n * sizeof *placed);
  for (size_t i = 0; i < n; i++)
    order[i] = (int32_t)i;
  qsort_r(order, n, sizeof *order, cmp_size, (void *)bytes);
  size_t total = 0, n_placed = 0;
  for (size_t i = 0; i < n; i++) {
    int32_t b = order[i];
    size_t best = SIZE_MAX;
    for (long c = -1; c < (long)n_placed; c++) {
      size_t o = c < 0 ? 0 : off[placed[c]] + bytes[placed[c]];
      if (c >= 0 && (last[placed[c]] < first[b] || first[placed[c]] > last[b])) continue;
      if (o >= best) continue;
      int ok = 1;
      for (size_t q = 0; q < n_placed && ok; q++) {
        int32_t p = placed[q];
        if (last[p] < first[b] || first[p] > last[b]) continue;
        if (o < off[p] + bytes[p] && off[p] < o + bytes[b]) ok = 0;
      }
      if (ok) best = o;
    }
    off[b] = best;
    if (best + bytes[b] > total) total = best + bytes[b];
    placed[n_placed++] = b;
  }
  free(order);
  free(placed);
  return total;
}

/* No two buffers alive at the same position share a byte; total covers all. */
static int check_disjoint(size_t n, const size_t *bytes, const int32_t *first, const int32_t *last,
                          const size_t *off, size_t total) {
  for (size_t i = 0; i < n; i++) {
    ASSERT_TRUE(off[i] + bytes[i] <= total);
    for (size_t j = i + 1; j < n; j++) {
      if (last[i] < first[j] || last[j] < first[i] || !bytes[i] || !bytes[j]) continue;
      ASSERT_TRUE(off[i] + bytes[i] <= off[j] || off[j] + bytes[j] <= off[i]);
    }
  }
  return 0;
}

static unsigned rnd(unsigned *s) {
  *s = *s * 1103515245u + 12345u;
  return (*s >> 16) & 0x7fff;
}

static int test_same_as_brute_force(void) {
  unsigned seed = 7;
  for (int round = 0; round < 300; round++) {
    size_t n = 1 + rnd(&seed) % 60;
    int32_t span = 2 + (int32_t)(rnd(&seed) % 40);
    size_t bytes[64], off[64], ref[64], total, ref_total;
    int32_t first[64], last[64];
    for (size_t i = 0; i < n; i++) {
      /* sizes from few classes, so ties and equal sizes happen; some empty */
      size_t cls = rnd(&seed) % 6;
      bytes[i] = cls == 0 ? 0 : 64 * (cls == 5 ? 1 + rnd(&seed) % 50 : cls);
      first[i] = (int32_t)(rnd(&seed) % (unsigned)span) - 1;
      last[i] = first[i] + (int32_t)(rnd(&seed) % (unsigned)(span / 2 + 1));
    }
    ASSERT_TRUE(nnd__place_buffers(n, bytes, first, last, off, &total));
    ref_total = naive_place(n, bytes, first, last, ref);
    ASSERT_EQ_INT(ref_total, total);
    for (size_t i = 0; i < n; i++)
      ASSERT_EQ_INT(ref[i], off[i]);
    if (check_disjoint(n, bytes, first, last, off, total)) return 1;
  }
  return 0;
}

static double seconds(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* A chain of 10^5 values (each alive for two steps) and 10^5 values alive
 * at once (the fallback): both well under a second where the old placement
 * took hours. */
static int test_large_counts(void) {
  enum { N = 100000 };
  size_t *bytes = malloc(N * sizeof *bytes), *off = malloc(N * sizeof *off), total;
  int32_t *first = malloc(N * sizeof *first), *last = malloc(N * sizeof *last);
  ASSERT_TRUE(bytes && off && first && last);
  for (int shape = 0; shape < 2; shape++) {
    for (int32_t i = 0; i < N; i++) {
      bytes[i] = 64 * (size_t)(1 + i % 7);
      first[i] = shape == 0 ? 2 * i : i;
      last[i] = shape == 0 ? 2 * i + 2 : 2 * N + 2;
    }
    double t0 = seconds();
    ASSERT_TRUE(nnd__place_buffers(N, bytes, first, last, off, &total));
    double dt = seconds() - t0;
    printf("  %s: %d buffers placed in %.3f s, %zu bytes\n", shape ? "all alive" : "chain", N, dt,
           total);
    ASSERT_TRUE(dt < 10.0); /* generous: sanitizers, a busy machine */
    if (shape == 0) {
      ASSERT_TRUE(total <= 3 * 64 * 7); /* the chain reuses a few blocks */
    } else {
      /* every buffer live at the end: all disjoint (spot check by sweep) */
      size_t sum = 0;
      for (int32_t i = 0; i < N; i++)
        sum += bytes[i];
      ASSERT_TRUE(total >= sum && total <= 2 * sum);
    }
  }
  /* the fallback is correct on random lifetimes too */
  unsigned seed = 3;
  enum { M = 8000 }; /* 3.2e7 overlapping pairs: over NND__PLACE_MAX_PAIRS */
  for (int32_t i = 0; i < M; i++) {
    bytes[i] = 64 * (1 + rnd(&seed) % 9);
    first[i] = (int32_t)(rnd(&seed) % 50);
    last[i] = first[i] + 5000 + (int32_t)(rnd(&seed) % 100);
  }
  ASSERT_TRUE(nnd__place_buffers(M, bytes, first, last, off, &total));
  if (check_disjoint(M, bytes, first, last, off, total)) return 1;
  free(bytes);
  free(off);
  free(first);
  free(last);
  return 0;
}

NND_TEST_MAIN({"same_as_brute_force", test_same_as_brute_force},
              {"large_counts", test_large_counts})
