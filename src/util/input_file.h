/* Opening input files (models, datasets, labels, external tensor data).
 *
 * Every reader of a path that a user or a model file names goes through
 * nnd_input_open, so a FIFO, a device, a socket or a directory given where
 * a file is expected fails at once with one line naming it, instead of
 * blocking forever in open() (a FIFO without a writer) or read() (a
 * terminal), or having side effects (opening some devices does something). */
#ifndef NND_UTIL_INPUT_FILE_H
#define NND_UTIL_INPUT_FILE_H

#include <stdio.h>
#include <sys/stat.h>

#include "nndiff/status.h"

/* What a file of this type is, for messages: "a directory", "a FIFO", "a
 * character device", "a block device", "a socket", "a symbolic link",
 * "a regular file", "a special file". */
const char *nnd_file_kind(mode_t mode);

/* Opens path read-only, close-on-exec, and makes sure it is a regular file:
 * stat() first, so nothing else is ever opened; then open() with O_NONBLOCK
 * (should the path have become a FIFO meanwhile, the open does not wait for
 * a writer), fstat() on the descriptor, which is what will be read, and
 * O_NONBLOCK cleared again. Anything else fails with NND_ERR_IO and
 * "PATH: not a regular file (a FIFO)"; a missing or unreadable path with
 * "PATH: cannot open: REASON". On success the caller owns *fd_out;
 * st_out (may be NULL) receives the descriptor's fstat. */
nnd_status nnd_input_open(const char *path, int *fd_out, struct stat *st_out, nnd_error *err);

/* nnd_input_open as a stdio stream opened "rb"; the caller fcloses it. */
nnd_status nnd_input_fopen(const char *path, FILE **out, struct stat *st_out, nnd_error *err);

#endif
