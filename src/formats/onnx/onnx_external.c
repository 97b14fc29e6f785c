/* External tensor data: TensorProto.data_location = EXTERNAL with
 * external_data entries location/offset/length (checksum is ignored).
 *
 * The location comes from an untrusted file, so it may only name a file
 * inside the model's folder: absolute paths and '..' components are refused
 * outright, and the real path (symlinks resolved) must stay under the real
 * path of the folder. Each distinct file is mapped once and kept alive by
 * the graph; tensors point into the mapping (zero copy). The mapped files
 * are indexed by real path and the folder is resolved once, so a model
 * naming many tensors and files loads in linear time. */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "formats/onnx/onnx_internal.h"
#include "util/mapped_file.h"

void nnd__onnx_ext_cache_free(nnd__onnx_ext_cache *cache) {
  if (!cache) return;
  free(cache->real_base);
  cache->real_base = NULL;
  nnd__strmap_free(&cache->files);
}

/* Parses a non-negative decimal integer; false on anything else. */
static bool parse_u64(const char *s, uint64_t *out) {
  if (!s || !*s) return false;
  uint64_t v = 0;
  for (; *s; s++) {
    if (*s < '0' || *s > '9') return false;
    unsigned d = (unsigned)(*s - '0');
    if (v > (UINT64_MAX - d) / 10) return false;
    v = v * 10 + d;
  }
  *out = v;
  return true;
}

/* True when location is relative and has no '..' component ('/' and '\'
 * both count as separators, since files written on Windows use '\'). */
static bool location_is_safe(const char *loc) {
  if (loc[0] == '/' || loc[0] == '\\') return false;
  if (loc[0] && loc[1] == ':') return false; /* C:\... */
  const char *p = loc;
  while (*p) {
    const char *end = p;
    while (*end && *end != '/' && *end != '\\')
      end++;
    if (end - p == 2 && p[0] == '.' && p[1] == '.') return false;
    p = *end ? end + 1 : end;
  }
  return true;
}

static nnd_status map_file(nnd_graph *g, const nnd__onnx_source *src, const char *tensor,
                           const char *location, const nnd_mapped_file **out, nnd_error *err) {
  nnd__onnx_ext_cache *cache = src->ext;
  nnd_status st = NND_OK;
  char *joined = NULL, *real_file = NULL;
  if (!cache->real_base && !(cache->real_base = realpath(src->base_dir, NULL)))
    return nnd_error_set(err, NND_ERR_IO, "%s: cannot resolve the model's folder '%s': %s",
                         src->label, src->base_dir, strerror(errno));
  size_t n = strlen(src->base_dir) + strlen(location) + 2;
  joined = malloc(n);
  if (!joined) return nnd_error_set(err, NND_ERR_NOMEM, "%s: out of memory", src->label);
  snprintf(joined, n, "%s/%s", src->base_dir, location);
  real_file = realpath(joined, NULL);
  if (!real_file) {
    st = nnd_error_set(err, NND_ERR_IO,
                       "%s: tensor '%s': external data file '%s' cannot be opened: %s", src->label,
                       tensor, joined, strerror(errno));
    goto done;
  }
  const char *real_base = cache->real_base;
  size_t nb = strlen(real_base);
  bool inside = strncmp(real_file, real_base, nb) == 0 &&
                (real_file[nb] == '/' || (nb == 1 && real_base[0] == '/'));
  if (!inside) {
    st = nnd_error_set(err, NND_ERR_FORMAT,
                       "%s: tensor '%s': external data location '%s' resolves outside the "
                       "model's folder",
                       src->label, tensor, location);
    goto done;
  }
  void **known = nnd__strmap_find(&cache->files, real_file);
  if (known) {
    *out = *known;
    goto done;
  }
  {
    nnd_mapped_file *mf = NULL;
    nnd_error local = {0};
    st = nnd_mapped_file_open(real_file, &mf, &local);
    if (st != NND_OK) {
      /* Name the model and the tensor; the problem (not a regular file, a
       * FIFO...) follows the resolved path in the mapper's message. */
      size_t nr = strlen(real_file);
      const char *why = strncmp(local.message, real_file, nr) == 0 && local.message[nr] == ':' &&
                                local.message[nr + 1] == ' '
                            ? local.message + nr + 2
                            : local.message;
      st = nnd_error_set(err, st, "%s: tensor '%s': external data file '%s': %s", src->label,
                         tensor, joined, why);
      goto done;
    }
    st = nnd_graph_own(g, mf, nnd_mapped_file_close, err); /* closes mf on failure */
    if (st != NND_OK) goto done;
    const char *rp = nnd_graph_strdup(g, real_file);
    bool added;
    void **slot = rp ? nnd__strmap_put(&cache->files, rp, &added) : NULL;
    if (!slot) {
      st = nnd_error_set(err, NND_ERR_NOMEM, "%s: out of memory", src->label);
      goto done;
    }
    *slot = mf;
    *out = mf;
  }
done:
  free(joined);
  free(real_file);
  return st;
}

nnd_status nnd__onnx_external_data(nnd_graph *g, const nnd__onnx_source *src,
                                   const nnd__onnx_tensor *t, size_t nbytes, const void **data_out,
                                   nnd_error *err) {
  const char *location = NULL, *offset_s = NULL, *length_s = NULL;
  for (int i = 0; i < t->n_external; i++) {
    const nnd__onnx_kv *kv = &t->external[i];
    if (strcmp(kv->key, "location") == 0)
      location = kv->value;
    else if (strcmp(kv->key, "offset") == 0)
      offset_s = kv->value;
    else if (strcmp(kv->key, "length") == 0)
      length_s = kv->value;
  }
  if (!location || !*location)
    return nnd_error_set(err, NND_ERR_FORMAT,
                         "%s: tensor '%s' uses external data but names no location", src->label,
                         t->name);
  if (!src->base_dir || !src->ext)
    return nnd_error_set(err, NND_ERR_UNSUPPORTED,
                         "%s: tensor '%s' keeps its data in external file '%s', which needs the "
                         "model to be loaded from a path",
                         src->label, t->name, location);
  if (!location_is_safe(location))
    return nnd_error_set(err, NND_ERR_FORMAT,
                         "%s: tensor '%s': external data location '%s' must be a relative path "
                         "inside the model's folder (no absolute path, no '..')",
                         src->label, t->name, location);
  uint64_t offset = 0, length = 0;
  if (offset_s && !parse_u64(offset_s, &offset))
    return nnd_error_set(err, NND_ERR_FORMAT,
                         "%s: tensor '%s': external data offset '%s' is not "
                         "a non-negative integer",
                         src->label, t->name, offset_s);
  if (length_s && !parse_u64(length_s, &length))
    return nnd_error_set(err, NND_ERR_FORMAT,
                         "%s: tensor '%s': external data length '%s' is not "
                         "a non-negative integer",
                         src->label, t->name, length_s);
  if (length_s && length != nbytes)
    return nnd_error_set(err, NND_ERR_FORMAT,
                         "%s: tensor '%s': external data length is %llu bytes, but its dims and "
                         "type need %zu",
                         src->label, t->name, (unsigned long long)length, nbytes);
  const nnd_mapped_file *mf = NULL;
  nnd_status st = map_file(g, src, t->name, location, &mf, err);
  if (st != NND_OK) return st;
  if (offset > mf->size || nbytes > mf->size - offset)
    return nnd_error_set(err, NND_ERR_FORMAT,
                         "%s: tensor '%s': external data needs %zu bytes at offset %llu, but "
                         "'%s' has %zu bytes",
                         src->label, t->name, nbytes, (unsigned long long)offset, location,
                         mf->size);
  *data_out = mf->data ? (const void *)(mf->data + offset) : NULL;
  return NND_OK;
}
