/* Atomic file replacement for result files (JSON, CSV, reports): write to a
 * temporary file beside the target, then rename it over the target, so a
 * reader or a killed run never sees a half-written file. */
#ifndef NND_UTIL_ATOMIC_FILE_H
#define NND_UTIL_ATOMIC_FILE_H

#include <stddef.h>
#include <stdio.h>

#include "nndiff/status.h"

typedef struct nnd_atomic_file nnd_atomic_file;

/* Creates PATH.tmp.XXXXXX in PATH's directory and returns a handle whose
 * stream (nnd_atomic_file_stream) the caller writes. Nothing appears at
 * PATH until nnd_atomic_file_commit. Fails with NND_ERR_IO naming the path. */
nnd_status nnd_atomic_file_open(const char *path, nnd_atomic_file **out, nnd_error *err);
/* The stream to write; owned by the handle. */
FILE *nnd_atomic_file_stream(nnd_atomic_file *af);
/* Flushes, syncs and renames the temporary file onto PATH, then frees the
 * handle (also on failure, after removing the temporary file). A write error
 * seen on the stream fails the commit and leaves PATH untouched. */
nnd_status nnd_atomic_file_commit(nnd_atomic_file *af, nnd_error *err);
/* Removes the temporary file and frees the handle; NULL is a no-op. */
void nnd_atomic_file_abort(nnd_atomic_file *af);

/* Writes len bytes to path atomically (open + write + commit). */
nnd_status nnd_atomic_write(const char *path, const void *data, size_t len, nnd_error *err);

#endif
