/* String hashing for tables keyed by names that come from untrusted files.
 *
 * A fixed hash lets a crafted model pick names that all land in one bucket
 * and turn every lookup into a scan (quadratic load time). Each table draws
 * its own seed, so collisions cannot be precomputed; a final avalanche step
 * makes the bucket (the low bits) depend on every bit of the state. The seed
 * changes only speed, never results: nothing iterates a table in slot order
 * to produce output. */
#ifndef NND_UTIL_HASH_H
#define NND_UTIL_HASH_H

#include <stddef.h>
#include <stdint.h>
#include <time.h>

/* MurmurHash3's 64-bit finaliser. */
static inline uint64_t nnd__hash_mix(uint64_t h) {
  h ^= h >> 33;
  h *= 0xff51afd7ed558ccdull;
  h ^= h >> 33;
  h *= 0xc4ceb9fe1a85ec53ull;
  h ^= h >> 33;
  return h;
}

/* A seed for one table: its address (ASLR) and the clock, mixed. */
static inline uint64_t nnd__hash_seed(const void *table) {
  struct timespec ts = {0, 0};
  clock_gettime(CLOCK_MONOTONIC, &ts);
  uint64_t s = (uint64_t)(uintptr_t)table ^ ((uint64_t)ts.tv_nsec << 20) ^ (uint64_t)ts.tv_sec;
  return nnd__hash_mix(s ^ 0x9e3779b97f4a7c15ull);
}

/* Seeded FNV-1a over a NUL-terminated string, then mixed. */
static inline uint64_t nnd__hash_str(uint64_t seed, const char *s) {
  uint64_t h = 1469598103934665603ull ^ seed;
  for (; *s; s++)
    h = (h ^ (unsigned char)*s) * 1099511628211ull;
  return nnd__hash_mix(h);
}

#endif
