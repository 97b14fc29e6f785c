/* Label files for image datasets: ImageNet-style "path label" lines or CSV
 * "file,label", integer class indices. Every rejected line is reported with
 * its line number, since these files are written by hand or by scripts. */
#include <ctype.h>
#include <stdlib.h>
#include <string.h>

#include "data/data_internal.h"
#include "util/str.h"

static int ends_with_ci(const char *s, const char *suffix) {
  size_t n = strlen(s), m = strlen(suffix);
  if (m > n) return 0;
  for (size_t i = 0; i < m; i++)
    if (tolower((unsigned char)s[n - m + i]) != tolower((unsigned char)suffix[i])) return 0;
  return 1;
}

/* Parses a non-negative decimal class index that fits in int32. */
static int parse_label(const char *s, size_t len, int64_t *out) {
  if (len == 0 || len > 10) return -1;
  int64_t v = 0;
  for (size_t i = 0; i < len; i++) {
    if (s[i] < '0' || s[i] > '9') return -1;
    v = v * 10 + (s[i] - '0');
  }
  if (v > INT32_MAX) return -1;
  *out = v;
  return 0;
}

static void trim(const char **s, size_t *len) {
  while (*len && isspace((unsigned char)**s))
    (*s)++, (*len)--;
  while (*len && isspace((unsigned char)(*s)[*len - 1]))
    (*len)--;
}

static int cmp_entry(const void *a, const void *b) {
  const nnd__label_entry *x = a, *y = b;
  int c = strcmp(x->key, y->key);
  if (c) return c;
  return x->line < y->line ? -1 : x->line > y->line;
}

typedef struct field {
  char *text; /* malloc'ed, unquoted */
  size_t len;
} field;

/* One CSV field starting at *p (quoted with "" escapes, or bare up to ','). */
static int csv_field(const char **p, const char *end, field *f) {
  const char *s = *p;
  while (s < end && (*s == ' ' || *s == '\t'))
    s++;
  char *buf = malloc((size_t)(end - s) + 1);
  if (!buf) return -2;
  size_t n = 0;
  if (s < end && *s == '"') {
    s++;
    for (;;) {
      if (s >= end) {
        free(buf);
        return -1; /* unterminated quote */
      }
      if (*s == '"') {
        if (s + 1 < end && s[1] == '"') {
          buf[n++] = '"';
          s += 2;
          continue;
        }
        s++;
        break;
      }
      buf[n++] = *s++;
    }
    while (s < end && (*s == ' ' || *s == '\t'))
      s++;
    if (s < end && *s != ',') {
      free(buf);
      return -1;
    }
  } else {
    while (s < end && *s != ',')
      buf[n++] = *s++;
    while (n && isspace((unsigned char)buf[n - 1]))
      n--;
  }
  buf[n] = '\0';
  f->text = buf;
  f->len = n;
  *p = s;
  return 0;
}

void nnd__labels_free(nnd__labels *labels) {
  if (!labels) return;
  for (size_t i = 0; i < labels->count; i++)
    free(labels->entries[i].key);
  free(labels->entries);
  memset(labels, 0, sizeof *labels);
}

static nnd_status add_entry(nnd__labels *l, size_t *cap, const char *key, size_t klen,
                            int64_t label, size_t line, const char *name, nnd_error *err) {
  /* "./a.jpg" and "a.jpg" name the same image */
  while (klen >= 2 && key[0] == '.' && key[1] == '/')
    key += 2, klen -= 2;
  if (klen == 0) return nnd_error_set(err, NND_ERR_FORMAT, "%s:%zu: empty file name", name, line);
  if (l->count == *cap) {
    size_t ncap = *cap ? *cap * 2 : 256;
    nnd__label_entry *ne = realloc(l->entries, ncap * sizeof *ne);
    if (!ne) return nnd_error_set(err, NND_ERR_NOMEM, "%s: out of memory", name);
    l->entries = ne;
    *cap = ncap;
  }
  char *k = nnd__bytes_to_str(key, klen);
  if (!k) return nnd_error_set(err, NND_ERR_NOMEM, "%s: out of memory", name);
  l->entries[l->count++] = (nnd__label_entry){k, label, line};
  return NND_OK;
}

nnd_status nnd__labels_parse(const char *text, size_t size, const char *name, nnd__labels *out,
                             nnd_error *err) {
  memset(out, 0, sizeof *out);
  if (!name) name = "<labels>";
  const char *p = text, *end = text + size;
  if (size >= 3 && (unsigned char)p[0] == 0xEF && (unsigned char)p[1] == 0xBB &&
      (unsigned char)p[2] == 0xBF)
    p += 3;
  if (memchr(p, '\0', (size_t)(end - p)))
    return nnd_error_set(err, NND_ERR_FORMAT, "%s: not a text file (it holds NUL bytes)", name);
  int csv = ends_with_ci(name, ".csv") ? 1 : -1; /* -1: decide on the first data line */
  int first_data = 1;
  size_t cap = 0, line = 0;
  nnd_status st = NND_OK;
  while (p < end && !st) {
    const char *nl = memchr(p, '\n', (size_t)(end - p));
    const char *le = nl ? nl : end;
    const char *s = p;
    size_t len = (size_t)(le - p);
    p = nl ? nl + 1 : end;
    line++;
    trim(&s, &len);
    if (len == 0 || s[0] == '#') continue;
    if (csv < 0) csv = memchr(s, ',', len) != NULL;
    int64_t label;
    if (csv) {
      const char *q = s, *qe = s + len;
      field f1 = {0}, f2 = {0};
      int rc = csv_field(&q, qe, &f1);
      if (rc == 0 && (q >= qe || *q != ',')) rc = -3;
      if (rc == 0) {
        q++;
        rc = csv_field(&q, qe, &f2);
        if (rc == 0 && q < qe) rc = -4; /* a third field */
      }
      if (rc == -2)
        st = nnd_error_set(err, NND_ERR_NOMEM, "%s: out of memory", name);
      else if (rc == -1)
        st = nnd_error_set(err, NND_ERR_FORMAT, "%s:%zu: bad quoting", name, line);
      else if (rc == -3)
        st = nnd_error_set(err, NND_ERR_FORMAT, "%s:%zu: expected 'file,label', found no comma",
                           name, line);
      else if (rc == -4)
        st = nnd_error_set(err, NND_ERR_FORMAT,
                           "%s:%zu: expected 2 fields 'file,label', found more", name, line);
      else if (parse_label(f2.text, f2.len, &label) != 0) {
        if (!first_data) /* the first line may be a header ("file,label") */
          st = nnd_error_set(err, NND_ERR_FORMAT,
                             "%s:%zu: label '%.40s' is not a class index (a non-negative integer)",
                             name, line, f2.text);
      } else {
        st = add_entry(out, &cap, f1.text, f1.len, label, line, name, err);
      }
      free(f1.text);
      free(f2.text);
    } else {
      size_t k = len;
      while (k && !isspace((unsigned char)s[k - 1]))
        k--;
      if (k == 0) {
        st = nnd_error_set(err, NND_ERR_FORMAT,
                           "%s:%zu: expected 'path label' (two fields separated by spaces)", name,
                           line);
      } else if (parse_label(s + k, len - k, &label) != 0) {
        st = nnd_error_set(err, NND_ERR_FORMAT,
                           "%s:%zu: label '%.*s' is not a class index (a non-negative integer)",
                           name, line, (int)(len - k > 40 ? 40 : len - k), s + k);
      } else {
        const char *key = s;
        size_t klen = k;
        trim(&key, &klen);
        st = add_entry(out, &cap, key, klen, label, line, name, err);
      }
    }
    first_data = 0;
  }
  if (!st && out->count == 0)
    st = nnd_error_set(err, NND_ERR_FORMAT, "%s: no labels in the file", name);
  if (!st) {
    qsort(out->entries, out->count, sizeof *out->entries, cmp_entry);
    for (size_t i = 1; i < out->count; i++) {
      if (strcmp(out->entries[i - 1].key, out->entries[i].key) == 0) {
        st = nnd_error_set(err, NND_ERR_FORMAT, "%s:%zu: '%s' is labelled twice (also on line %zu)",
                           name, out->entries[i].line, out->entries[i].key,
                           out->entries[i - 1].line);
        break;
      }
    }
  }
  out->csv = csv > 0;
  if (st) nnd__labels_free(out);
  return st;
}

const nnd__label_entry *nnd__labels_find(const nnd__labels *labels, const char *key) {
  size_t lo = 0, hi = labels->count;
  while (lo < hi) {
    size_t mid = lo + (hi - lo) / 2;
    int c = strcmp(labels->entries[mid].key, key);
    if (c == 0) return &labels->entries[mid];
    if (c < 0)
      lo = mid + 1;
    else
      hi = mid;
  }
  return NULL;
}
