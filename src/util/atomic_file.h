/* Writing result files (JSON, .npy, reports) so that a reader or a killed
 * run never sees a half-written file, and special paths stay what they are.
 *
 * What PATH is decides how it is written:
 *   - a regular file, or nothing yet: a temporary file PATH.tmp.XXXXXX is
 *     created beside it (beside the file a symlink points to: the link
 *     stays) and renamed over it at commit;
 *   - a FIFO or a device (/dev/null, a terminal): opened for writing at
 *     once, never replaced; the bytes are held in an unnamed temporary file
 *     and written into it at commit. A FIFO nobody reads fails at open with
 *     "PATH: cannot write: a FIFO with no reader" instead of blocking;
 *   - "-": standard output, written at commit in the same way;
 *   - a directory or a socket: refused.
 * Every failure is NND_ERR_IO with one message naming the path. */
#ifndef NND_UTIL_ATOMIC_FILE_H
#define NND_UTIL_ATOMIC_FILE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

#include "nndiff/status.h"

typedef struct nnd_atomic_file nnd_atomic_file;

/* Prepares PATH for writing as above and returns a handle whose stream
 * (nnd_atomic_file_stream) the caller writes. Everything that can be checked
 * before the bytes exist is checked here: the directory exists and is
 * writable (the temporary file is created), a FIFO has a reader. Nothing
 * appears at PATH until commit. */
nnd_status nnd_atomic_file_open(const char *path, nnd_atomic_file **out, nnd_error *err);
/* The stream to write; owned by the handle. */
FILE *nnd_atomic_file_stream(nnd_atomic_file *af);
/* PATH as given, for messages ("stdout" for "-"). */
const char *nnd_atomic_file_name(const nnd_atomic_file *af);
/* True when commit writes into an existing FIFO, device or stdout rather
 * than renaming a file: such a commit can fail half-way (the reader went
 * away, the device is full), a rename practically cannot. */
bool nnd_atomic_file_is_direct(const nnd_atomic_file *af);

/* Commit in two steps, so that several files can be committed together
 * (util/output_set.h). finish: every byte is written out (a file flushed,
 * synced and closed); a write error seen on the stream fails here. publish:
 * rename onto PATH, or write the held bytes into the FIFO/device/stdout;
 * frees the handle, also on failure. A finished handle may still be
 * aborted. */
nnd_status nnd_atomic_file_finish(nnd_atomic_file *af, nnd_error *err);
nnd_status nnd_atomic_file_publish(nnd_atomic_file *af, nnd_error *err);
/* finish + publish; frees the handle (also on failure, after removing the
 * temporary file). PATH is untouched unless it succeeds. */
nnd_status nnd_atomic_file_commit(nnd_atomic_file *af, nnd_error *err);
/* Removes the temporary file and frees the handle; NULL is a no-op. */
void nnd_atomic_file_abort(nnd_atomic_file *af);

/* Writes len bytes to path atomically (open + write + commit). */
nnd_status nnd_atomic_write(const char *path, const void *data, size_t len, nnd_error *err);

#endif
