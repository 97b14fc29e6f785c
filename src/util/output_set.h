/* Result files that belong together (a run's --outputs and --json): all of
 * them appear, or none does.
 *
 * Each path is prepared when it is added (util/atomic_file.h: its
 * temporary file created, a FIFO or device opened), so a command adds every
 * requested output before it starts any work and a missing directory, an
 * unwritable one or a FIFO without a reader fails at once. Commit finishes
 * every file first (a write error anywhere: nothing is published), then
 * writes the FIFOs, devices and stdout (the steps that can still fail: a
 * reader going away, a full device), then renames the files; a failure
 * before the renames removes every temporary file. Abort (an error, a
 * signal) removes them all. */
#ifndef NND_UTIL_OUTPUT_SET_H
#define NND_UTIL_OUTPUT_SET_H

#include <stdio.h>

#include "nndiff/status.h"

typedef struct nnd_output_set nnd_output_set;

nnd_status nnd_output_set_create(nnd_output_set **out, nnd_error *err);
/* Prepares path ("-" is stdout) and sets *stream_out to the stream its
 * bytes go to (owned by the set; written by the caller until commit). The
 * same path twice fails ("PATH: named for two results"); so do the
 * failures of nnd_atomic_file_open. The set is unchanged on failure. */
nnd_status nnd_output_set_add(nnd_output_set *set, const char *path, FILE **stream_out,
                              nnd_error *err);
/* Publishes every output as described above and frees the set, whatever
 * the outcome. Once the renames have begun a failure (practically never:
 * the temporaries sit beside their targets) leaves the earlier ones. */
nnd_status nnd_output_set_commit(nnd_output_set *set, nnd_error *err);
/* Removes every temporary file and frees the set; NULL is a no-op. */
void nnd_output_set_abort(nnd_output_set *set);

#endif
