/* Read-only memory mapping of a model or data file, so constant tensors can
 * point into the file instead of being copied. */
#ifndef NND_UTIL_MAPPED_FILE_H
#define NND_UTIL_MAPPED_FILE_H

#include <stddef.h>

#include "nndiff/status.h"

typedef struct nnd_mapped_file {
  const unsigned char *data; /* NULL for an empty file */
  size_t size;
  char *path;
} nnd_mapped_file;

/* Maps path read-only. Fails with NND_ERR_IO naming the path and the reason
 * (missing, unreadable, not a regular file: a directory, a FIFO, a device). An empty file maps to
 * size 0. */
nnd_status nnd_mapped_file_open(const char *path, nnd_mapped_file **out, nnd_error *err);
/* Unmaps and frees; NULL is a no-op. Signature fits nnd_graph_own. */
void nnd_mapped_file_close(void *mf);

#endif
