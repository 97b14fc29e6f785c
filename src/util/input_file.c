/* Regular-file-only opening of inputs (see input_file.h). */
#include "util/input_file.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <unistd.h>

const char *nnd_file_kind(mode_t mode) {
  if (S_ISREG(mode)) return "a regular file";
  if (S_ISDIR(mode)) return "a directory";
  if (S_ISFIFO(mode)) return "a FIFO";
  if (S_ISCHR(mode)) return "a character device";
  if (S_ISBLK(mode)) return "a block device";
  if (S_ISSOCK(mode)) return "a socket";
  if (S_ISLNK(mode)) return "a symbolic link";
  return "a special file";
}

static nnd_status not_regular(const char *path, mode_t mode, nnd_error *err) {
  return nnd_error_set(err, NND_ERR_IO, "%s: not a regular file (%s)", path, nnd_file_kind(mode));
}

nnd_status nnd_input_open(const char *path, int *fd_out, struct stat *st_out, nnd_error *err) {
  *fd_out = -1;
  struct stat st;
  if (stat(path, &st) != 0)
    return nnd_error_set(err, NND_ERR_IO, "%s: cannot open: %s", path, strerror(errno));
  if (!S_ISREG(st.st_mode)) return not_regular(path, st.st_mode, err);
  int fd = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC | O_NOCTTY);
  if (fd < 0) return nnd_error_set(err, NND_ERR_IO, "%s: cannot open: %s", path, strerror(errno));
  int flags;
  if (fstat(fd, &st) != 0 || (flags = fcntl(fd, F_GETFL)) < 0 ||
      (S_ISREG(st.st_mode) && fcntl(fd, F_SETFL, flags & ~O_NONBLOCK) != 0)) {
    int e = errno;
    close(fd);
    return nnd_error_set(err, NND_ERR_IO, "%s: cannot open: %s", path, strerror(e));
  }
  if (!S_ISREG(st.st_mode)) {
    close(fd);
    return not_regular(path, st.st_mode, err);
  }
  *fd_out = fd;
  if (st_out) *st_out = st;
  return NND_OK;
}

nnd_status nnd_input_fopen(const char *path, FILE **out, struct stat *st_out, nnd_error *err) {
  *out = NULL;
  int fd;
  nnd_status st = nnd_input_open(path, &fd, st_out, err);
  if (st != NND_OK) return st;
  FILE *f = fdopen(fd, "rb");
  if (!f) {
    int e = errno;
    close(fd);
    return nnd_error_set(err, NND_ERR_IO, "%s: cannot open: %s", path, strerror(e));
  }
  *out = f;
  return NND_OK;
}
