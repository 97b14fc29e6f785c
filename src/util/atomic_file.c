/* Temp-file-and-rename writes (see atomic_file.h). */
#include "util/atomic_file.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

struct nnd_atomic_file {
  FILE *stream;
  char *path;
  char *tmp_path;
};

/* Mode the target gets: the existing file's permissions when it is being
 * replaced, else what open(..., 0666) would give under the umask. mkstemp
 * creates 0600, which would surprise whoever reads the results. */
static mode_t target_mode(const char *path) {
  struct stat st;
  if (stat(path, &st) == 0 && S_ISREG(st.st_mode)) return st.st_mode & 07777;
  mode_t mask = umask(0);
  umask(mask);
  return 0666 & ~mask;
}

nnd_status nnd_atomic_file_open(const char *path, nnd_atomic_file **out, nnd_error *err) {
  *out = NULL;
  struct stat st;
  if (stat(path, &st) == 0 && S_ISDIR(st.st_mode))
    return nnd_error_set(err, NND_ERR_IO, "%s: cannot write: is a directory", path);
  nnd_atomic_file *af = calloc(1, sizeof *af);
  size_t n = strlen(path);
  if (af) af->path = strdup(path);
  if (af) af->tmp_path = malloc(n + sizeof ".tmp.XXXXXX");
  if (!af || !af->path || !af->tmp_path) {
    nnd_atomic_file_abort(af);
    return nnd_error_set(err, NND_ERR_NOMEM, "%s: out of memory", path);
  }
  memcpy(af->tmp_path, path, n);
  memcpy(af->tmp_path + n, ".tmp.XXXXXX", sizeof ".tmp.XXXXXX");
  int fd = mkstemp(af->tmp_path);
  if (fd < 0) {
    int e = errno;
    free(af->tmp_path);
    af->tmp_path = NULL;
    nnd_atomic_file_abort(af);
    return nnd_error_set(err, NND_ERR_IO, "%s: cannot write: %s", path, strerror(e));
  }
  if (fchmod(fd, target_mode(path)) != 0 || !(af->stream = fdopen(fd, "w"))) {
    int e = errno;
    if (!af->stream) close(fd);
    nnd_atomic_file_abort(af);
    return nnd_error_set(err, NND_ERR_IO, "%s: cannot write: %s", path, strerror(e));
  }
  *out = af;
  return NND_OK;
}

FILE *nnd_atomic_file_stream(nnd_atomic_file *af) { return af->stream; }

nnd_status nnd_atomic_file_commit(nnd_atomic_file *af, nnd_error *err) {
  nnd_status st = NND_OK;
  int failed = ferror(af->stream) || fflush(af->stream) != 0 || fsync(fileno(af->stream)) != 0;
  int e = errno;
  if (fclose(af->stream) != 0 && !failed) {
    failed = 1;
    e = errno;
  }
  af->stream = NULL;
  if (failed) {
    st = nnd_error_set(err, NND_ERR_IO, "%s: write failed: %s", af->path, strerror(e));
  } else if (rename(af->tmp_path, af->path) != 0) {
    st = nnd_error_set(err, NND_ERR_IO, "%s: cannot replace: %s", af->path, strerror(errno));
  } else {
    free(af->tmp_path);
    af->tmp_path = NULL; /* renamed: nothing left to remove */
  }
  nnd_atomic_file_abort(af);
  return st;
}

void nnd_atomic_file_abort(nnd_atomic_file *af) {
  if (!af) return;
  if (af->stream) fclose(af->stream);
  if (af->tmp_path) unlink(af->tmp_path);
  free(af->tmp_path);
  free(af->path);
  free(af);
}

nnd_status nnd_atomic_write(const char *path, const void *data, size_t len, nnd_error *err) {
  nnd_atomic_file *af;
  nnd_status st = nnd_atomic_file_open(path, &af, err);
  if (st != NND_OK) return st;
  if (len && fwrite(data, 1, len, af->stream) != len) {
    int e = errno;
    nnd_atomic_file_abort(af);
    return nnd_error_set(err, NND_ERR_IO, "%s: write failed: %s", path, strerror(e));
  }
  return nnd_atomic_file_commit(af, err);
}
