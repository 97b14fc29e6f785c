/* Bounded FlatBuffer access (flatbuf.h). The wire format, as the
 * FlatBuffers documentation states it: a table starts with an int32
 * soffset; the table's vtable is at (table - soffset) and is uint16
 * [vtable bytes, table bytes, one offset per field (0: absent)]; a field
 * holding a table, vector or string is a uint32 uoffset, relative to the
 * field's own position; a vector (and a string) is a uint32 count followed
 * by its elements (a string's bytes end with a NUL). Everything is
 * little-endian. */
#include "formats/tflite/flatbuf.h"

#include <string.h>

static uint16_t rd16(const uint8_t *p) { return (uint16_t)(p[0] | (p[1] << 8)); }
static uint32_t rd32(const uint8_t *p) {
  return (uint32_t)p[0] | ((uint32_t)p[1] << 8) | ((uint32_t)p[2] << 16) | ((uint32_t)p[3] << 24);
}
static uint64_t rd64(const uint8_t *p) { return rd32(p) | ((uint64_t)rd32(p + 4) << 32); }

static nnd_status bad(const nnd__fb *fb, size_t at, const char *what, const char *why,
                      nnd_error *err) {
  return nnd_error_set(err, NND_ERR_FORMAT, "%s: offset %zu: %s: %s", fb->label, at, what, why);
}

/* Opens the table at pos, checking everything its vtable says. */
static nnd_status open_table(const nnd__fb *fb, size_t pos, int depth, nnd__fb_table *out,
                             const char *what, nnd_error *err) {
  if (depth > NND__FB_MAX_DEPTH) return bad(fb, pos, what, "tables nested too deeply", err);
  if (pos > fb->n || fb->n - pos < 4)
    return bad(fb, pos, what, "table runs past the end of the file", err);
  if (pos % 4) return bad(fb, pos, what, "table is not 4-byte aligned", err);
  int32_t soff = (int32_t)rd32(fb->p + pos);
  int64_t vt = (int64_t)pos - soff;
  if (vt < 0 || vt > (int64_t)fb->n - 4)
    return bad(fb, pos, what, "vtable lies outside the file", err);
  if (vt % 2) return bad(fb, pos, what, "vtable is not 2-byte aligned", err);
  uint16_t vt_size = rd16(fb->p + vt), size = rd16(fb->p + vt + 2);
  if (vt_size < 4 || vt_size % 2)
    return bad(fb, (size_t)vt, what, "vtable size is not an even number of at least 4 bytes", err);
  if ((uint64_t)vt + vt_size > fb->n)
    return bad(fb, (size_t)vt, what, "vtable runs past the end of the file", err);
  if (size < 4 || (uint64_t)pos + size > fb->n)
    return bad(fb, pos, what, "table size is under 4 bytes or runs past the end of the file", err);
  /* A vtable inside its own table's fields would let one set of bytes mean
   * two things; no writer does it. */
  if ((uint64_t)vt < pos + size && pos < (uint64_t)vt + vt_size)
    return bad(fb, pos, what, "vtable overlaps its table", err);
  for (uint16_t k = 4; k < vt_size; k += 2) {
    uint16_t off = rd16(fb->p + vt + k);
    if (off && (off < 4 || off >= size))
      return bad(fb, pos, what, "a field lies outside its table", err);
  }
  *out = (nnd__fb_table){fb, pos, (size_t)vt, vt_size, size, depth};
  return NND_OK;
}

nnd_status nnd__fb_root(const nnd__fb *fb, const char *ident, nnd__fb_table *out, nnd_error *err) {
  if (fb->n < 8)
    return bad(fb, 0, "header", "file is shorter than a FlatBuffer header (8 bytes)", err);
  if (ident && memcmp(fb->p + 4, ident, 4) != 0)
    return bad(fb, 4, "header", "file identifier is not the expected one", err);
  uint32_t root = rd32(fb->p);
  if (root < 8) return bad(fb, 0, "header", "root table offset points into the header", err);
  return open_table(fb, root, 0, out, "root table", err);
}

/* Byte offset of field id inside the table, 0 when absent. */
static uint16_t field_off(const nnd__fb_table *t, int id) {
  size_t k = 4 + 2 * (size_t)id;
  if (id < 0 || k + 2 > t->vt_size) return 0;
  return rd16(t->fb->p + t->vt + k);
}

bool nnd__fb_has(const nnd__fb_table *t, int id) { return field_off(t, id) != 0; }

/* Position of a scalar field of `size` bytes, 0 when absent. */
static nnd_status scalar_at(const nnd__fb_table *t, int id, size_t size, size_t *at,
                            const char *what, nnd_error *err) {
  uint16_t off = field_off(t, id);
  *at = 0;
  if (!off) return NND_OK;
  if ((size_t)off + size > t->size)
    return bad(t->fb, t->pos + off, what, "field runs past its table", err);
  if ((t->pos + off) % size) return bad(t->fb, t->pos + off, what, "field is not aligned", err);
  *at = t->pos + off;
  return NND_OK;
}

#define SCALAR_READER(fn, type, bytes, conv)                                                       \
  nnd_status fn(const nnd__fb_table *t, int id, type def, type *out, const char *what,             \
                nnd_error *err) {                                                                  \
    size_t at;                                                                                     \
    nnd_status st = scalar_at(t, id, bytes, &at, what, err);                                       \
    if (st != NND_OK) return st;                                                                   \
    *out = at ? conv : def;                                                                        \
    return NND_OK;                                                                                 \
  }

SCALAR_READER(nnd__fb_u8, uint8_t, 1, t->fb->p[at])
SCALAR_READER(nnd__fb_i32, int32_t, 4, (int32_t)rd32(t->fb->p + at))
SCALAR_READER(nnd__fb_u32, uint32_t, 4, rd32(t->fb->p + at))
SCALAR_READER(nnd__fb_u64, uint64_t, 8, rd64(t->fb->p + at))

nnd_status nnd__fb_f32(const nnd__fb_table *t, int id, float def, float *out, const char *what,
                       nnd_error *err) {
  uint32_t bits;
  nnd_status st = nnd__fb_u32(t, id, 0, &bits, what, err);
  if (st != NND_OK) return st;
  if (!nnd__fb_has(t, id)) {
    *out = def;
    return NND_OK;
  }
  memcpy(out, &bits, 4);
  return NND_OK;
}

/* Follows the uoffset stored at `at` (4-aligned, inside the file). Targets
 * lie strictly after the field, so no chain of references loops. */
static nnd_status follow(const nnd__fb *fb, size_t at, size_t *target, const char *what,
                         nnd_error *err) {
  uint32_t off = rd32(fb->p + at);
  if (off == 0) return bad(fb, at, what, "reference points at itself", err);
  if (fb->n < 4 || (uint64_t)at + off > fb->n - 4)
    return bad(fb, at, what, "reference points outside the file", err);
  *target = at + off;
  return NND_OK;
}

static nnd_status ref_field(const nnd__fb_table *t, int id, size_t *target, bool *present,
                            const char *what, nnd_error *err) {
  size_t at;
  *present = false;
  nnd_status st = scalar_at(t, id, 4, &at, what, err);
  if (st != NND_OK || !at) return st;
  if ((st = follow(t->fb, at, target, what, err)) != NND_OK) return st;
  *present = true;
  return NND_OK;
}

nnd_status nnd__fb_table_field(const nnd__fb_table *t, int id, nnd__fb_table *out, bool *present,
                               const char *what, nnd_error *err) {
  size_t target;
  nnd_status st = ref_field(t, id, &target, present, what, err);
  if (st != NND_OK || !*present) return st;
  return open_table(t->fb, target, t->depth + 1, out, what, err);
}

static nnd_status open_vector(const nnd__fb *fb, size_t pos, size_t elem_size, int depth,
                              nnd__fb_vec *out, const char *what, nnd_error *err) {
  if (pos % 4) return bad(fb, pos, what, "vector is not 4-byte aligned", err);
  uint32_t count = rd32(fb->p + pos); /* follow() left 4 bytes */
  size_t room = fb->n - pos - 4;
  if ((uint64_t)count * elem_size > room)
    return bad(fb, pos, what, "vector length runs past the end of the file", err);
  if (elem_size > 4 && (pos + 4) % elem_size)
    return bad(fb, pos, what, "vector elements are not aligned", err);
  *out = (nnd__fb_vec){fb, pos + 4, count, elem_size, depth};
  return NND_OK;
}

nnd_status nnd__fb_vector(const nnd__fb_table *t, int id, size_t elem_size, nnd__fb_vec *out,
                          const char *what, nnd_error *err) {
  size_t target;
  bool present;
  *out = (nnd__fb_vec){t->fb, 0, 0, elem_size, t->depth};
  nnd_status st = ref_field(t, id, &target, &present, what, err);
  if (st != NND_OK || !present) return st;
  return open_vector(t->fb, target, elem_size, t->depth, out, what, err);
}

nnd_status nnd__fb_string(const nnd__fb_table *t, int id, const char **s, uint32_t *len,
                          const char *what, nnd_error *err) {
  nnd__fb_vec v;
  *s = "";
  *len = 0;
  bool present = nnd__fb_has(t, id);
  nnd_status st = nnd__fb_vector(t, id, 1, &v, what, err);
  if (st != NND_OK || !present) return st;
  if ((size_t)v.count >= t->fb->n - v.pos || t->fb->p[v.pos + v.count] != 0)
    return bad(t->fb, v.pos - 4, what, "string is not NUL-terminated", err);
  *s = (const char *)t->fb->p + v.pos;
  *len = v.count;
  return NND_OK;
}

nnd_status nnd__fb_vec_table(const nnd__fb_vec *v, uint32_t i, nnd__fb_table *out, const char *what,
                             nnd_error *err) {
  if (i >= v->count || v->elem_size != 4)
    return nnd_error_set(err, NND_ERR_INTERNAL, "%s: %s: element %u of a vector of %u",
                         v->fb->label, what, i, v->count);
  size_t target;
  nnd_status st = follow(v->fb, v->pos + 4 * (size_t)i, &target, what, err);
  if (st != NND_OK) return st;
  return open_table(v->fb, target, v->depth + 1, out, what, err);
}

int32_t nnd__fb_vec_i32(const nnd__fb_vec *v, uint32_t i) {
  return (int32_t)rd32(v->fb->p + v->pos + 4 * (size_t)i);
}
int64_t nnd__fb_vec_i64(const nnd__fb_vec *v, uint32_t i) {
  return (int64_t)rd64(v->fb->p + v->pos + 8 * (size_t)i);
}
float nnd__fb_vec_f32(const nnd__fb_vec *v, uint32_t i) {
  uint32_t bits = rd32(v->fb->p + v->pos + 4 * (size_t)i);
  float f;
  memcpy(&f, &bits, 4);
  return f;
}
