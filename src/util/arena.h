/* A bump allocator that frees everything at once: per-graph allocations
 * (names, arrays, decoded tensors) live exactly as long as their graph. */
#ifndef NND_UTIL_ARENA_H
#define NND_UTIL_ARENA_H

#include <stddef.h>

typedef struct nnd_arena nnd_arena;

nnd_arena *nnd_arena_create(void);
/* NULL is a no-op. */
void nnd_arena_destroy(nnd_arena *arena);
/* Zeroed, 16-byte aligned memory; NULL on overflow or out of memory. */
void *nnd_arena_alloc(nnd_arena *arena, size_t count, size_t size);
/* Bytes handed out so far (for tests and memory reports). */
size_t nnd_arena_used(const nnd_arena *arena);

#endif
