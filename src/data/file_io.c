/* Whole-file reads for the small inputs of the data module (images, label
 * files). Only regular files are read (util/input_file.h: a FIFO or a device
 * would block or never end); the read is still bounded, since a file may
 * grow while it is read. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "data/data_internal.h"
#include "util/input_file.h"

nnd_status nnd__read_file(const char *path, size_t max_size, unsigned char **data_out,
                          size_t *size_out, nnd_error *err) {
  *data_out = NULL;
  *size_out = 0;
  FILE *f;
  struct stat st;
  nnd_status status = nnd_input_fopen(path, &f, &st, err);
  if (status != NND_OK) return status;
  /* One read of the known size (+1 to see the end). */
  size_t cap =
      st.st_size > 0 && (uint64_t)st.st_size <= max_size ? (size_t)st.st_size + 1 : (size_t)1 << 16;
  size_t len = 0;
  unsigned char *buf = malloc(cap);
  while (buf) {
    if (len == cap) {
      unsigned char *nb = cap <= SIZE_MAX / 2 ? realloc(buf, cap * 2) : NULL;
      if (!nb) {
        free(buf);
        buf = NULL;
        break;
      }
      buf = nb;
      cap *= 2;
    }
    size_t want = cap - len, got = fread(buf + len, 1, want, f);
    len += got;
    if (len > max_size) {
      status =
          nnd_error_set(err, NND_ERR_FORMAT, "%s: file is larger than %zu bytes", path, max_size);
      break;
    }
    if (got < want) {
      if (ferror(f)) status = nnd_error_set(err, NND_ERR_IO, "%s: read failed", path);
      break;
    }
  }
  fclose(f);
  if (!buf) return nnd_error_set(err, NND_ERR_NOMEM, "%s: out of memory reading it", path);
  if (status) {
    free(buf);
    return status;
  }
  *data_out = buf;
  *size_out = len;
  return NND_OK;
}
