/* All-or-nothing commit of several result files (see output_set.h). */
#include "util/output_set.h"

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "util/atomic_file.h"

typedef struct entry {
  nnd_atomic_file *af; /* NULL once published */
  char *path;          /* as given */
} entry;

struct nnd_output_set {
  entry *files;
  size_t n, cap;
};

nnd_status nnd_output_set_create(nnd_output_set **out, nnd_error *err) {
  *out = calloc(1, sizeof **out);
  return *out ? NND_OK : nnd_error_set(err, NND_ERR_NOMEM, "out of memory");
}

/* The same output as one already in the set: the same name, or the same
 * existing file under another name (./r.json and r.json). */
static bool same_output(const char *a, const char *b) {
  if (strcmp(a, b) == 0) return true;
  struct stat sa, sb;
  return strcmp(a, "-") != 0 && strcmp(b, "-") != 0 && stat(a, &sa) == 0 && stat(b, &sb) == 0 &&
         sa.st_dev == sb.st_dev && sa.st_ino == sb.st_ino;
}

nnd_status nnd_output_set_add(nnd_output_set *set, const char *path, FILE **stream_out,
                              nnd_error *err) {
  *stream_out = NULL;
  for (size_t i = 0; i < set->n; i++)
    if (same_output(set->files[i].path, path))
      return nnd_error_set(err, NND_ERR_USAGE, "%s: named for two results", path);
  if (set->n == set->cap) {
    size_t cap = set->cap ? 2 * set->cap : 4;
    entry *files = realloc(set->files, cap * sizeof *files);
    if (!files) return nnd_error_set(err, NND_ERR_NOMEM, "%s: out of memory", path);
    set->files = files;
    set->cap = cap;
  }
  entry e = {NULL, strdup(path)};
  if (!e.path) return nnd_error_set(err, NND_ERR_NOMEM, "%s: out of memory", path);
  nnd_status st = nnd_atomic_file_open(path, &e.af, err);
  if (st != NND_OK) {
    free(e.path);
    return st;
  }
  set->files[set->n++] = e;
  *stream_out = nnd_atomic_file_stream(e.af);
  return NND_OK;
}

/* Publishes the files with is_direct == direct; each published (or failed)
 * handle is freed and its slot cleared. */
static nnd_status publish(nnd_output_set *set, bool direct, nnd_error *err) {
  for (size_t i = 0; i < set->n; i++) {
    nnd_atomic_file *af = set->files[i].af;
    if (!af || nnd_atomic_file_is_direct(af) != direct) continue;
    set->files[i].af = NULL;
    nnd_status st = nnd_atomic_file_publish(af, err);
    if (st != NND_OK) return st;
  }
  return NND_OK;
}

nnd_status nnd_output_set_commit(nnd_output_set *set, nnd_error *err) {
  nnd_status st = NND_OK;
  for (size_t i = 0; i < set->n && st == NND_OK; i++)
    st = nnd_atomic_file_finish(set->files[i].af, err);
  if (st == NND_OK) st = publish(set, true, err);
  if (st == NND_OK) st = publish(set, false, err);
  nnd_output_set_abort(set); /* whatever is left: temporaries of a failed commit */
  return st;
}

void nnd_output_set_abort(nnd_output_set *set) {
  if (!set) return;
  for (size_t i = 0; i < set->n; i++) {
    nnd_atomic_file_abort(set->files[i].af);
    free(set->files[i].path);
  }
  free(set->files);
  free(set);
}
