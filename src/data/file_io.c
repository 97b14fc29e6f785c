/* Whole-file reads for the small inputs of the data module (images, label
 * files): bounded, so a huge or endless file (a FIFO, /dev/zero) fails cleanly. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "data/data_internal.h"

nnd_status nnd__read_file(const char *path, size_t max_size, unsigned char **data_out,
                          size_t *size_out, nnd_error *err) {
  *data_out = NULL;
  *size_out = 0;
  FILE *f = fopen(path, "rb");
  if (!f) return nnd_error_set(err, NND_ERR_IO, "%s: cannot open: %s", path, strerror(errno));
  struct stat st;
  if (fstat(fileno(f), &st) != 0 || S_ISDIR(st.st_mode)) {
    fclose(f);
    return nnd_error_set(err, NND_ERR_IO, "%s: not a readable file", path);
  }
  /* Regular files: one read of the known size (+1 to see the end). */
  size_t cap = S_ISREG(st.st_mode) && st.st_size > 0 && (uint64_t)st.st_size <= max_size
                   ? (size_t)st.st_size + 1
                   : (size_t)1 << 16;
  size_t len = 0;
  unsigned char *buf = malloc(cap);
  nnd_status status = NND_OK;
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
