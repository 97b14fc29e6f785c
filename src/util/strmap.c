/* String-keyed hash map (see strmap.h). Kept at most half full, so a probe
 * sequence stays short whatever the keys. */
#include "util/strmap.h"

#include <stdlib.h>
#include <string.h>

#include "util/hash.h"

void nnd__strmap_init(nnd__strmap *m) { memset(m, 0, sizeof *m); }

void nnd__strmap_free(nnd__strmap *m) {
  if (!m) return;
  free(m->slots);
  memset(m, 0, sizeof *m);
}

void nnd__strmap_clear(nnd__strmap *m) {
  if (m->count) memset(m->slots, 0, m->cap * sizeof *m->slots);
  m->count = 0;
}

static nnd__strmap_slot *probe(const nnd__strmap *m, const char *key, uint64_t hash) {
  size_t mask = m->cap - 1;
  for (size_t i = (size_t)hash & mask;; i = (i + 1) & mask) {
    nnd__strmap_slot *s = &m->slots[i];
    if (!s->key || (s->hash == hash && strcmp(s->key, key) == 0)) return s;
  }
}

static bool grow(nnd__strmap *m) {
  size_t cap = m->cap ? m->cap * 2 : 16;
  if (cap > SIZE_MAX / 2 / sizeof(nnd__strmap_slot)) return false;
  nnd__strmap_slot *slots = calloc(cap, sizeof *slots);
  if (!slots) return false;
  nnd__strmap old = *m;
  if (!m->cap) m->seed = nnd__hash_seed(m);
  m->slots = slots;
  m->cap = cap;
  for (size_t i = 0; i < old.cap; i++)
    if (old.slots[i].key) *probe(m, old.slots[i].key, old.slots[i].hash) = old.slots[i];
  free(old.slots);
  return true;
}

void **nnd__strmap_find(const nnd__strmap *m, const char *key) {
  if (!m->cap) return NULL;
  nnd__strmap_slot *s = probe(m, key, nnd__hash_str(m->seed, key));
  return s->key ? &s->value : NULL;
}

void **nnd__strmap_put(nnd__strmap *m, const char *key, bool *added) {
  *added = false;
  if ((m->count + 1) * 2 > m->cap && !grow(m)) return NULL;
  uint64_t hash = nnd__hash_str(m->seed, key);
  nnd__strmap_slot *s = probe(m, key, hash);
  if (!s->key) {
    s->key = key;
    s->hash = hash;
    s->value = NULL;
    m->count++;
    *added = true;
  }
  return &s->value;
}
