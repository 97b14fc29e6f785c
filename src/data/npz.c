/* .npz archives (np.savez / np.savez_compressed) read through libzip.
 *
 * Members are streamed, never inflated whole: a [50000,3,224,224] float
 * array would not fit in memory, and datasets are mostly read in order, so a
 * member keeps one open zip_file and skips forward; a backward read restarts
 * it (stored members seek directly). */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <zip.h>

#include "data/data_internal.h"
#include "util/input_file.h"
#include "util/str.h"

enum { NPZ_HEADER_MAX = (1 << 20) + 12 };

struct nnd__npz {
  zip_t *za;
  char *name; /* archive name for messages */
  size_t count;
  char **members; /* array names: member names without ".npy" */
};

struct nnd__npz_array {
  nnd__npz *npz;
  zip_uint64_t index;
  zip_uint64_t size; /* uncompressed member size */
  int stored;
  zip_file_t *zf;
  uint64_t pos; /* position of zf in the member */
  nnd_npy_info info;
  char *label; /* "archive.npz:member" */
};

static nnd_status npz_index(nnd__npz *npz, nnd_error *err) {
  zip_int64_t n = zip_get_num_entries(npz->za, 0);
  if (n < 0) return nnd_error_set(err, NND_ERR_FORMAT, "%s: cannot list the archive", npz->name);
  npz->members = calloc((size_t)n + 1, sizeof(char *));
  if (!npz->members) return nnd_error_set(err, NND_ERR_NOMEM, "%s: out of memory", npz->name);
  npz->count = (size_t)n;
  for (zip_int64_t i = 0; i < n; i++) {
    const char *nm = zip_get_name(npz->za, (zip_uint64_t)i, 0);
    if (!nm) nm = "";
    size_t len = strlen(nm);
    if (len >= 4 && strcmp(nm + len - 4, ".npy") == 0) len -= 4;
    npz->members[i] = nnd__bytes_to_str(nm, len);
    if (!npz->members[i]) return nnd_error_set(err, NND_ERR_NOMEM, "%s: out of memory", npz->name);
  }
  return NND_OK;
}

static nnd_status npz_finish_open(nnd__npz *npz, const char *name, nnd__npz **out, nnd_error *err) {
  npz->name = strdup(name);
  nnd_status st = npz->name ? npz_index(npz, err)
                            : nnd_error_set(err, NND_ERR_NOMEM, "%s: out of memory", name);
  if (st) {
    nnd__npz_close(npz);
    return st;
  }
  *out = npz;
  return NND_OK;
}

static nnd_status zip_open_error(const char *name, int code, nnd_error *err) {
  zip_error_t ze;
  zip_error_init_with_code(&ze, code);
  nnd_status st =
      nnd_error_set(err, code == ZIP_ER_OPEN || code == ZIP_ER_READ ? NND_ERR_IO : NND_ERR_FORMAT,
                    "%s: not a readable .npz (zip) archive: %s", name, zip_error_strerror(&ze));
  zip_error_fini(&ze);
  return st;
}

nnd_status nnd__npz_open_file(const char *path, nnd__npz **out, nnd_error *err) {
  *out = NULL;
  nnd__npz *npz = calloc(1, sizeof *npz);
  if (!npz) return nnd_error_set(err, NND_ERR_NOMEM, "%s: out of memory", path);
  /* Opened here, not by libzip, so that only a regular file is read. */
  int fd, code = 0;
  nnd_status st = nnd_input_open(path, &fd, NULL, err);
  if (st != NND_OK) {
    free(npz);
    return st;
  }
  npz->za = zip_fdopen(fd, 0, &code); /* owns fd on success */
  if (!npz->za) {
    close(fd);
    free(npz);
    return zip_open_error(path, code, err);
  }
  return npz_finish_open(npz, path, out, err);
}

nnd_status nnd__npz_open_memory(const void *data, size_t size, const char *name, nnd__npz **out,
                                nnd_error *err) {
  *out = NULL;
  nnd__npz *npz = calloc(1, sizeof *npz);
  if (!npz) return nnd_error_set(err, NND_ERR_NOMEM, "%s: out of memory", name);
  zip_error_t ze;
  zip_error_init(&ze);
  zip_source_t *src = zip_source_buffer_create(data, size, 0, &ze);
  if (src) {
    npz->za = zip_open_from_source(src, ZIP_RDONLY, &ze);
    if (!npz->za) zip_source_free(src);
  }
  if (!npz->za) {
    int code = zip_error_code_zip(&ze);
    zip_error_fini(&ze);
    free(npz);
    return zip_open_error(name, code, err);
  }
  zip_error_fini(&ze);
  return npz_finish_open(npz, name, out, err);
}

void nnd__npz_close(nnd__npz *npz) {
  if (!npz) return;
  if (npz->za) zip_discard(npz->za); /* read-only: discard, never write back */
  for (size_t i = 0; i < npz->count && npz->members; i++)
    free(npz->members[i]);
  free(npz->members);
  free(npz->name);
  free(npz);
}

size_t nnd__npz_count(const nnd__npz *npz) { return npz->count; }

const char *nnd__npz_member_name(const nnd__npz *npz, size_t i) {
  return i < npz->count ? npz->members[i] : NULL;
}

static nnd_status member_read_error(nnd__npz_array *arr, nnd_error *err) {
  return nnd_error_set(err, NND_ERR_FORMAT, "%s: cannot read the member: %s", arr->label,
                       arr->zf ? zip_file_strerror(arr->zf) : zip_strerror(arr->npz->za));
}

static nnd_status member_reopen(nnd__npz_array *arr, nnd_error *err) {
  if (arr->zf) zip_fclose(arr->zf);
  arr->pos = 0;
  arr->zf = zip_fopen_index(arr->npz->za, arr->index, 0);
  if (!arr->zf) return member_read_error(arr, err);
  return NND_OK;
}

/* Reads exactly size bytes at member offset `at`. */
static nnd_status member_read(nnd__npz_array *arr, uint64_t at, void *buf, size_t size,
                              nnd_error *err) {
  if (at > arr->size || size > arr->size - at)
    return nnd_error_set(err, NND_ERR_FORMAT, "%s: read past the end of the member", arr->label);
  if (!arr->zf || at < arr->pos) {
    nnd_status st = member_reopen(arr, err);
    if (st) return st;
  }
  if (at > arr->pos && arr->stored && at <= INT64_MAX) {
    if (zip_fseek(arr->zf, (zip_int64_t)at, SEEK_SET) == 0) arr->pos = at;
  }
  unsigned char scratch[4096];
  while (arr->pos < at) { /* skip forward */
    uint64_t left = at - arr->pos;
    zip_uint64_t want = left < sizeof scratch ? left : sizeof scratch;
    zip_int64_t got = zip_fread(arr->zf, scratch, want);
    if (got <= 0) return member_read_error(arr, err);
    arr->pos += (uint64_t)got;
  }
  unsigned char *p = buf;
  while (size > 0) {
    zip_int64_t got = zip_fread(arr->zf, p, size);
    if (got <= 0) return member_read_error(arr, err);
    p += got;
    size -= (size_t)got;
    arr->pos += (uint64_t)got;
  }
  return NND_OK;
}

nnd_status nnd__npz_array_open(nnd__npz *npz, const char *member, nnd__npz_array **out,
                               nnd_error *err) {
  *out = NULL;
  if (npz->count == 0)
    return nnd_error_set(err, NND_ERR_FORMAT, "%s: the archive holds no arrays", npz->name);
  size_t idx = 0;
  if (member) {
    size_t mlen = strlen(member);
    if (mlen >= 4 && strcmp(member + mlen - 4, ".npy") == 0) mlen -= 4;
    for (idx = 0; idx < npz->count; idx++)
      if (strlen(npz->members[idx]) == mlen && memcmp(npz->members[idx], member, mlen) == 0) break;
    if (idx == npz->count) {
      char list[256] = "";
      size_t n = 0;
      for (size_t i = 0; i < npz->count && n < sizeof list - 8; i++)
        n += (size_t)snprintf(list + n, sizeof list - n, "%s%s", i ? ", " : "", npz->members[i]);
      return nnd_error_set(err, NND_ERR_USAGE, "%s: no array '%s' in the archive (it has: %s)",
                           npz->name, member, list);
    }
  }
  zip_stat_t zs;
  zip_stat_init(&zs);
  if (zip_stat_index(npz->za, idx, 0, &zs) != 0)
    return nnd_error_set(err, NND_ERR_FORMAT, "%s: cannot stat member '%s': %s", npz->name,
                         npz->members[idx], zip_strerror(npz->za));
  nnd__npz_array *arr = calloc(1, sizeof *arr);
  if (!arr) return nnd_error_set(err, NND_ERR_NOMEM, "%s: out of memory", npz->name);
  arr->npz = npz;
  arr->index = idx;
  size_t llen = strlen(npz->name) + strlen(npz->members[idx]) + 2;
  arr->label = malloc(llen);
  nnd_status st = NND_OK;
  unsigned char *head = NULL;
  if (!arr->label) {
    st = nnd_error_set(err, NND_ERR_NOMEM, "%s: out of memory", npz->name);
    goto fail;
  }
  snprintf(arr->label, llen, "%s:%s", npz->name, npz->members[idx]);
  if (!(zs.valid & ZIP_STAT_SIZE) || !(zs.valid & ZIP_STAT_COMP_METHOD)) {
    st = nnd_error_set(err, NND_ERR_FORMAT, "%s: member size unknown", arr->label);
    goto fail;
  }
  if ((zs.valid & ZIP_STAT_ENCRYPTION_METHOD) && zs.encryption_method != ZIP_EM_NONE) {
    st = nnd_error_set(err, NND_ERR_UNSUPPORTED, "%s: encrypted members are not supported",
                       arr->label);
    goto fail;
  }
  if (zs.comp_method != ZIP_CM_STORE && zs.comp_method != ZIP_CM_DEFLATE) {
    st = nnd_error_set(err, NND_ERR_UNSUPPORTED,
                       "%s: compression method %d is not supported (stored or deflated only)",
                       arr->label, (int)zs.comp_method);
    goto fail;
  }
  arr->size = zs.size;
  arr->stored = zs.comp_method == ZIP_CM_STORE;
  /* The header: magic and lengths first, then the whole header. */
  unsigned char pre[12];
  size_t have = arr->size < sizeof pre ? (size_t)arr->size : sizeof pre;
  st = member_read(arr, 0, pre, have, err);
  if (st) goto fail;
  size_t hend = have; /* bytes that make up magic + header */
  if (have >= 10 && pre[6] == 1) hend = 10 + ((size_t)pre[8] | (size_t)pre[9] << 8);
  if (have >= 12 && (pre[6] == 2 || pre[6] == 3))
    hend =
        12 + ((size_t)pre[8] | (size_t)pre[9] << 8 | (size_t)pre[10] << 16 | (size_t)pre[11] << 24);
  if (hend > NPZ_HEADER_MAX) hend = NPZ_HEADER_MAX; /* the parser reports the bad length */
  if (hend > arr->size) hend = (size_t)arr->size;   /* ... or the truncation */
  if (hend < have) hend = have;
  head = malloc(hend ? hend : 1);
  if (!head) {
    st = nnd_error_set(err, NND_ERR_NOMEM, "%s: out of memory", arr->label);
    goto fail;
  }
  memcpy(head, pre, have);
  if (hend > have) st = member_read(arr, have, head + have, hend - have, err);
  nnd_npy_info info;
  if (!st) st = nnd_npy_parse(head, hend, 1, arr->label, &info, err);
  if (st) goto fail;
  if (info.data_size > arr->size - info.data_offset) {
    st = nnd_error_set(err, NND_ERR_FORMAT,
                       "%s: .npy data is truncated: header promises %zu bytes, member holds %llu",
                       arr->label, info.data_size,
                       (unsigned long long)(arr->size - info.data_offset));
    goto fail;
  }
  arr->info = info;
  free(head);
  *out = arr;
  return NND_OK;
fail:
  free(head);
  nnd__npz_array_close(arr);
  return st;
}

void nnd__npz_array_close(nnd__npz_array *arr) {
  if (!arr) return;
  if (arr->zf) zip_fclose(arr->zf);
  free(arr->label);
  free(arr);
}

const nnd_npy_info *nnd__npz_array_info(const nnd__npz_array *arr) { return &arr->info; }

const char *nnd__npz_array_name(const nnd__npz_array *arr) { return arr->label; }

nnd_status nnd__npz_array_read(nnd__npz_array *arr, uint64_t offset, void *buf, size_t size,
                               nnd_error *err) {
  uint64_t at;
  if (offset > arr->info.data_size || size > arr->info.data_size - offset ||
      __builtin_add_overflow((uint64_t)arr->info.data_offset, offset, &at))
    return nnd_error_set(err, NND_ERR_INTERNAL, "%s: read outside the array", arr->label);
  return member_read(arr, at, buf, size, err);
}
