/* A hash map from borrowed C strings to pointers (open addressing, linear
 * probing, seeded hash): the set or index a reader needs when a count from
 * the file would make a pairwise comparison quadratic (outputs of a node,
 * external data files, op types of a histogram). */
#ifndef NND_UTIL_STRMAP_H
#define NND_UTIL_STRMAP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct nnd__strmap_slot {
  const char *key; /* NULL: empty */
  uint64_t hash;
  void *value;
} nnd__strmap_slot;

/* Zero-initialise, or call nnd__strmap_init. Keys are not copied: they
 * must outlive the map. */
typedef struct nnd__strmap {
  nnd__strmap_slot *slots;
  size_t cap; /* 0 or a power of two */
  size_t count;
  uint64_t seed;
} nnd__strmap;

void nnd__strmap_init(nnd__strmap *m);
/* Frees the slots (not the keys or values). NULL is a no-op. */
void nnd__strmap_free(nnd__strmap *m);
/* Empties the map, keeping its memory. */
void nnd__strmap_clear(nnd__strmap *m);
/* The value slot of key, or NULL when key is absent. */
void **nnd__strmap_find(const nnd__strmap *m, const char *key);
/* The value slot of key, inserted (value NULL) when absent; *added says
 * which. NULL when out of memory. */
void **nnd__strmap_put(nnd__strmap *m, const char *key, bool *added);

#endif
