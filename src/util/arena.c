/* Bump allocator made of chained blocks; large requests get their own block. */
#include "util/arena.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "util/checked_math.h"

enum { ARENA_BLOCK = 64 * 1024, ARENA_ALIGN = 16 };

typedef struct arena_block {
  struct arena_block *next;
  size_t size, used;
  _Alignas(16) unsigned char data[];
} arena_block;

struct nnd_arena {
  arena_block *head;
  size_t total;
};

nnd_arena *nnd_arena_create(void) { return calloc(1, sizeof(nnd_arena)); }

void nnd_arena_destroy(nnd_arena *arena) {
  if (!arena) return;
  arena_block *b = arena->head;
  while (b) {
    arena_block *next = b->next;
    free(b);
    b = next;
  }
  free(arena);
}

void *nnd_arena_alloc(nnd_arena *arena, size_t count, size_t size) {
  size_t bytes;
  if (!arena || !nnd__mul_size(count, size, &bytes)) return NULL;
  if (bytes == 0) bytes = 1;
  if (bytes > SIZE_MAX - ARENA_ALIGN) return NULL;
  bytes = (bytes + ARENA_ALIGN - 1) & ~(size_t)(ARENA_ALIGN - 1);
  arena_block *b = arena->head;
  if (!b || b->size - b->used < bytes) {
    size_t block_size = bytes > ARENA_BLOCK / 4 ? bytes : ARENA_BLOCK;
    if (block_size > SIZE_MAX - sizeof(arena_block)) return NULL;
    arena_block *nb = malloc(sizeof(arena_block) + block_size);
    if (!nb) return NULL;
    nb->size = block_size;
    nb->used = 0;
    if (bytes > ARENA_BLOCK / 4 && b) {
      /* Keep filling the current small block; put the big one behind it. */
      nb->next = b->next;
      b->next = nb;
    } else {
      nb->next = b;
      arena->head = nb;
    }
    b = nb;
  }
  void *p = b->data + b->used;
  b->used += bytes;
  arena->total += bytes;
  memset(p, 0, bytes);
  return p;
}

size_t nnd_arena_used(const nnd_arena *arena) { return arena ? arena->total : 0; }
