/* Result-file writes: temporary + rename for files, held bytes written
 * straight into FIFOs, devices and stdout (see atomic_file.h). */
#include "util/atomic_file.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

struct nnd_atomic_file {
  FILE *stream; /* what the caller writes: the temporary file */
  char *path;   /* as given, for messages */
  /* a file: the temporary and what it is renamed onto (symlinks resolved) */
  char *tmp_path; /* NULL once renamed */
  char *target;
  /* a FIFO, a device or stdout: the descriptor the held bytes go to, and
   * where they are held: an unnamed temporary file, or memory when no
   * temporary file can be made (no writable /tmp) */
  int fd;
  char *mem;
  size_t mem_len;
  bool direct, is_stdout, finished;
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

static nnd_status cannot_write(const char *path, const char *why, nnd_error *err) {
  return nnd_error_set(err, NND_ERR_IO, "%s: cannot write: %s", path, why);
}

/* A FIFO or a device: opened now, so that a FIFO without a reader fails
 * before any work instead of at the end. O_NONBLOCK makes that open fail
 * with ENXIO rather than wait for a reader; it stays set (the open file
 * description is ours alone) so that publish waits in poll(), which a
 * signal interrupts, where a blocking write() would be restarted
 * (SA_RESTART) and a stopped run could hang on a reader that never reads.
 * Should the path have become a regular file meanwhile, nothing is kept
 * and af->direct stays false. */
static nnd_status open_direct(nnd_atomic_file *af, const char *path, nnd_error *err) {
  int fd = open(path, O_WRONLY | O_NONBLOCK | O_CLOEXEC | O_NOCTTY);
  if (fd < 0)
    return cannot_write(path, errno == ENXIO ? "a FIFO with no reader" : strerror(errno), err);
  struct stat sb;
  if (fstat(fd, &sb) != 0 || S_ISREG(sb.st_mode)) {
    close(fd);
    return NND_OK;
  }
  af->fd = fd;
  af->direct = true;
  return NND_OK;
}

static nnd_status open_temporary(nnd_atomic_file *af, const char *path, nnd_error *err) {
  /* Through a symlink, replace the file it points to, not the link (what
   * `> link` does in a shell; a link such as /dev/stdout stays a link). */
  struct stat lst;
  char *resolved = lstat(path, &lst) == 0 && S_ISLNK(lst.st_mode) ? realpath(path, NULL) : NULL;
  af->target = resolved ? resolved : strdup(path);
  size_t n = af->target ? strlen(af->target) : 0;
  af->tmp_path = af->target ? malloc(n + sizeof ".tmp.XXXXXX") : NULL;
  if (!af->tmp_path) return nnd_error_set(err, NND_ERR_NOMEM, "%s: out of memory", path);
  memcpy(af->tmp_path, af->target, n);
  memcpy(af->tmp_path + n, ".tmp.XXXXXX", sizeof ".tmp.XXXXXX");
  int fd = mkostemp(af->tmp_path, O_CLOEXEC);
  if (fd < 0) {
    int e = errno;
    free(af->tmp_path);
    af->tmp_path = NULL;
    return cannot_write(path, strerror(e), err);
  }
  if (fchmod(fd, target_mode(af->target)) != 0 || !(af->stream = fdopen(fd, "w"))) {
    int e = errno;
    if (!af->stream) close(fd);
    return cannot_write(path, strerror(e), err);
  }
  return NND_OK;
}

nnd_status nnd_atomic_file_open(const char *path, nnd_atomic_file **out, nnd_error *err) {
  *out = NULL;
  nnd_atomic_file *af = calloc(1, sizeof *af);
  if (af) af->fd = -1;
  if (!af || !(af->path = strdup(path))) {
    free(af);
    return nnd_error_set(err, NND_ERR_NOMEM, "%s: out of memory", path);
  }
  nnd_status st = NND_OK;
  struct stat sb;
  if (strcmp(path, "-") == 0) {
    af->fd = STDOUT_FILENO;
    af->direct = af->is_stdout = true;
  } else if (stat(path, &sb) == 0 && !S_ISREG(sb.st_mode)) {
    if (S_ISDIR(sb.st_mode))
      st = cannot_write(path, "is a directory", err);
    else if (S_ISSOCK(sb.st_mode))
      st = cannot_write(path, "a socket", err);
    else
      st = open_direct(af, path, err);
  }
  if (st == NND_OK && !af->direct) {
    st = open_temporary(af, path, err);
  } else if (st == NND_OK && !(af->stream = tmpfile()) &&
             !(af->stream = open_memstream(&af->mem, &af->mem_len))) {
    st = nnd_error_set(err, NND_ERR_NOMEM, "%s: out of memory", path);
  }
  if (st != NND_OK) {
    nnd_atomic_file_abort(af);
    return st;
  }
  *out = af;
  return NND_OK;
}

FILE *nnd_atomic_file_stream(nnd_atomic_file *af) { return af->stream; }

const char *nnd_atomic_file_name(const nnd_atomic_file *af) {
  return af->is_stdout ? "stdout" : af->path;
}

bool nnd_atomic_file_is_direct(const nnd_atomic_file *af) { return af->direct; }

nnd_status nnd_atomic_file_finish(nnd_atomic_file *af, nnd_error *err) {
  if (af->finished) return NND_OK;
  int failed = ferror(af->stream) || fflush(af->stream) != 0;
  int e = errno;
  if (!af->direct) {
    failed = failed || fsync(fileno(af->stream)) != 0;
    if (failed) e = errno;
    if (fclose(af->stream) != 0 && !failed) {
      failed = 1;
      e = errno;
    }
    af->stream = NULL;
  } else if (!failed && !af->mem && fseek(af->stream, 0, SEEK_SET) != 0) {
    failed = 1;
    e = errno;
  }
  if (failed)
    return nnd_error_set(err, NND_ERR_IO, "%s: write failed: %s", nnd_atomic_file_name(af),
                         strerror(e));
  af->finished = true;
  return NND_OK;
}

/* Writes all of buf to fd; 0 or an errno. SIGPIPE is blocked meanwhile (in
 * this thread) so that a reader going away is an EPIPE error we report and
 * clean up after, not a death that leaves temporary files. */
static int write_all(int fd, const unsigned char *buf, size_t len) {
  sigset_t pipe_set, old, pending;
  sigemptyset(&pipe_set);
  sigaddset(&pipe_set, SIGPIPE);
  pthread_sigmask(SIG_BLOCK, &pipe_set, &old);
  bool was_pending = sigpending(&pending) == 0 && sigismember(&pending, SIGPIPE);
  int e = 0;
  while (len > 0) {
    ssize_t n = write(fd, buf, len < (size_t)SSIZE_MAX ? len : (size_t)SSIZE_MAX);
    if (n > 0) {
      buf += n;
      len -= (size_t)n;
    } else if (n < 0 && errno == EINTR) {
      continue;
    } else if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
      struct pollfd p = {.fd = fd, .events = POLLOUT};
      if (poll(&p, 1, -1) < 0) {
        e = errno; /* EINTR: a signal (SIGINT, SIGTERM): stop waiting */
        break;
      }
    } else {
      e = n < 0 ? errno : EIO;
      break;
    }
  }
  if (e == EPIPE && !was_pending) {
    struct timespec zero = {0, 0};
    sigtimedwait(&pipe_set, NULL, &zero); /* the SIGPIPE this write raised */
  }
  pthread_sigmask(SIG_SETMASK, &old, NULL);
  return e;
}

static nnd_status publish_direct(nnd_atomic_file *af, nnd_error *err) {
  if (af->is_stdout && fflush(stdout) != 0) /* what was printed before comes first */
    return nnd_error_set(err, NND_ERR_IO, "stdout: write failed: %s", strerror(errno));
  unsigned char buf[1 << 16];
  size_t n;
  int e = 0;
  if (af->mem) /* flushed by finish: mem holds mem_len bytes */
    e = write_all(af->fd, (const unsigned char *)af->mem, af->mem_len);
  while (!af->mem && !e && (n = fread(buf, 1, sizeof buf, af->stream)) > 0)
    e = write_all(af->fd, buf, n);
  if (!e && ferror(af->stream)) e = EIO;
  if (e == EINTR)
    return nnd_error_set(err, NND_ERR_IO, "%s: write interrupted by a signal",
                         nnd_atomic_file_name(af));
  if (e)
    return nnd_error_set(err, NND_ERR_IO, "%s: write failed: %s", nnd_atomic_file_name(af),
                         strerror(e));
  return NND_OK;
}

nnd_status nnd_atomic_file_publish(nnd_atomic_file *af, nnd_error *err) {
  nnd_status st = NND_OK;
  if (!af->finished) {
    st = nnd_error_set(err, NND_ERR_INTERNAL, "%s: published before it was finished", af->path);
  } else if (af->direct) {
    st = publish_direct(af, err);
  } else if (rename(af->tmp_path, af->target) != 0) {
    st = nnd_error_set(err, NND_ERR_IO, "%s: cannot replace: %s", af->path, strerror(errno));
  } else {
    free(af->tmp_path);
    af->tmp_path = NULL; /* renamed: nothing left to remove */
  }
  nnd_atomic_file_abort(af);
  return st;
}

nnd_status nnd_atomic_file_commit(nnd_atomic_file *af, nnd_error *err) {
  nnd_status st = nnd_atomic_file_finish(af, err);
  if (st != NND_OK) {
    nnd_atomic_file_abort(af);
    return st;
  }
  return nnd_atomic_file_publish(af, err);
}

void nnd_atomic_file_abort(nnd_atomic_file *af) {
  if (!af) return;
  if (af->stream) fclose(af->stream);
  if (af->tmp_path) unlink(af->tmp_path);
  if (af->fd >= 0 && !af->is_stdout) close(af->fd);
  free(af->mem); /* after fclose, which last updates it */
  free(af->tmp_path);
  free(af->target);
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
