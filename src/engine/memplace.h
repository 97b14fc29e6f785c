/* Placing the engine's activation buffers in one arena (used by memplan.c). */
#ifndef NND_ENGINE_MEMPLACE_H
#define NND_ENGINE_MEMPLACE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Above this many pairs of buffers alive at the same time the greedy
 * placement (whose work grows with the pairs) gives way to a linear one. */
#define NND__PLACE_MAX_PAIRS 20000000ull

/* Gives each of n buffers (bytes[i], alive over positions first[i]..last[i]
 * inclusive) an offset such that no two buffers alive at the same position
 * share a byte, and sets *total_out to the arena size. Greedy by size: the
 * largest buffer first, each at the lowest offset that fits among the
 * buffers already placed whose lifetimes overlap its own (ties: lower
 * index first). When more than NND__PLACE_MAX_PAIRS pairs of lifetimes
 * overlap (thousands of values alive at once: a hostile or giant graph),
 * buffers are placed in time order from power-of-two free lists instead,
 * which costs O(n log n) and at most about twice the memory. Returns false
 * when out of memory. */
bool nnd__place_buffers(size_t n, const size_t *bytes, const int32_t *first, const int32_t *last,
                        size_t *offset_out, size_t *total_out);

#endif
