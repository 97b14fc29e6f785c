/* Bounded, verifying access to a FlatBuffer (the container of .tflite
 * files), read from untrusted bytes.
 *
 * Nothing is trusted before it is checked: every table is verified when it
 * is opened (the table and its vtable inside the buffer, aligned, not
 * overlapping, every field the vtable lists inside the table), every
 * reference is followed only forward (a uoffset is unsigned and must be
 * nonzero, so references can never form a cycle), every vector's length is
 * bounded by the bytes after it, and nesting is capped at NND__FB_MAX_DEPTH.
 * Readers are schema-driven: the caller says which field of which table it
 * wants and what type it has. Errors name the file, the byte offset and
 * what was being read ("tensor 3: name"), as one line. */
#ifndef NND_FORMATS_TFLITE_FLATBUF_H
#define NND_FORMATS_TFLITE_FLATBUF_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "nndiff/status.h"

/* Deeper than any path through the TFLite schema (Model > SubGraph >
 * Tensor > QuantizationParameters > details is 5). */
#define NND__FB_MAX_DEPTH 16

typedef struct nnd__fb {
  const uint8_t *p;
  size_t n;
  const char *label; /* the file name, for messages */
} nnd__fb;

/* A verified table. */
typedef struct nnd__fb_table {
  const nnd__fb *fb;
  size_t pos;       /* the table's first byte (its soffset to the vtable) */
  size_t vt;        /* its vtable */
  uint16_t vt_size; /* bytes of the vtable */
  uint16_t size;    /* inline bytes of the table */
  int depth;        /* 0 for the root */
} nnd__fb_table;

/* A verified vector: count elements of elem_size bytes from pos. */
typedef struct nnd__fb_vec {
  const nnd__fb *fb;
  size_t pos; /* first element */
  uint32_t count;
  size_t elem_size;
  int depth; /* depth of the table holding it */
} nnd__fb_vec;

/* Opens the root table after checking the 4-byte file identifier at bytes
 * 4..8 (NULL: no identifier check). */
nnd_status nnd__fb_root(const nnd__fb *fb, const char *ident, nnd__fb_table *out, nnd_error *err);

/* True when the table's vtable lists field `id` (its n-th field, counting
 * union types as a field of their own, as schema order does). */
bool nnd__fb_has(const nnd__fb_table *t, int id);

/* Scalar fields; `def` when the field is absent (the schema's default). */
nnd_status nnd__fb_u8(const nnd__fb_table *t, int id, uint8_t def, uint8_t *out, const char *what,
                      nnd_error *err);
nnd_status nnd__fb_i32(const nnd__fb_table *t, int id, int32_t def, int32_t *out, const char *what,
                       nnd_error *err);
nnd_status nnd__fb_u32(const nnd__fb_table *t, int id, uint32_t def, uint32_t *out,
                       const char *what, nnd_error *err);
nnd_status nnd__fb_u64(const nnd__fb_table *t, int id, uint64_t def, uint64_t *out,
                       const char *what, nnd_error *err);
nnd_status nnd__fb_f32(const nnd__fb_table *t, int id, float def, float *out, const char *what,
                       nnd_error *err);

/* A table field; *present false (and out untouched) when absent. */
nnd_status nnd__fb_table_field(const nnd__fb_table *t, int id, nnd__fb_table *out, bool *present,
                               const char *what, nnd_error *err);
/* A vector field of elem_size-byte scalars (or 4-byte offsets to tables);
 * an absent field is an empty vector. */
nnd_status nnd__fb_vector(const nnd__fb_table *t, int id, size_t elem_size, nnd__fb_vec *out,
                          const char *what, nnd_error *err);
/* A string field: its bytes (NUL-terminated in the buffer, as the format
 * requires) and length; "" when absent. */
nnd_status nnd__fb_string(const nnd__fb_table *t, int id, const char **s, uint32_t *len,
                          const char *what, nnd_error *err);

/* Element i of a vector of tables. */
nnd_status nnd__fb_vec_table(const nnd__fb_vec *v, uint32_t i, nnd__fb_table *out, const char *what,
                             nnd_error *err);
/* Element i (< count) of a scalar vector. */
int32_t nnd__fb_vec_i32(const nnd__fb_vec *v, uint32_t i);
int64_t nnd__fb_vec_i64(const nnd__fb_vec *v, uint32_t i);
float nnd__fb_vec_f32(const nnd__fb_vec *v, uint32_t i);

#endif
