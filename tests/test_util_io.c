/* util: opening inputs (regular files only, never blocking on a FIFO),
 * writing outputs (temporary + rename for files, straight into FIFOs and
 * devices) and output sets committed together. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/wait.h>
#include <unistd.h>

#include "nnd_test.h"
#include "util/atomic_file.h"
#include "util/input_file.h"
#include "util/mapped_file.h"
#include "util/output_set.h"

static char tmp_dir[64];

static const char *tmp_path(const char *name) {
  static char buf[4][256];
  static int next;
  char *p = buf[next++ % 4];
  snprintf(p, sizeof buf[0], "%s/%s", tmp_dir, name);
  return p;
}

static int write_file(const char *path, const char *text) {
  FILE *f = fopen(path, "wb");
  if (!f) return -1;
  fputs(text, f);
  return fclose(f);
}

/* Entries in the temporary directory, hidden ones included. */
static int count_entries(void) {
  int n = 0;
  DIR *d = opendir(tmp_dir);
  if (!d) return -1;
  for (struct dirent *e; (e = readdir(d));)
    n += strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0;
  closedir(d);
  return n;
}

static int test_input_regular(void) {
  nnd_error err = {0};
  const char *path = tmp_path("in.txt");
  ASSERT_EQ_INT(0, write_file(path, "hello"));
  FILE *f;
  struct stat st;
  ASSERT_EQ_INT(NND_OK, nnd_input_fopen(path, &f, &st, &err));
  ASSERT_EQ_INT(5, st.st_size);
  char buf[8] = {0};
  ASSERT_EQ_INT(5, fread(buf, 1, sizeof buf, f));
  ASSERT_STR_EQ("hello", buf);
  /* The descriptor reads blocking again: O_NONBLOCK was only for the open. */
  ASSERT_EQ_INT(0, fcntl(fileno(f), F_GETFL) & O_NONBLOCK);
  ASSERT_TRUE(fcntl(fileno(f), F_GETFD) & FD_CLOEXEC);
  fclose(f);
  unlink(path);
  return 0;
}

/* A FIFO (no writer), a symlink to it, a directory, a character device: one
 * message naming the path and the kind, and no blocking. */
static int test_input_refuses_special(void) {
  nnd_error err = {0};
  const char *fifo = tmp_path("p.onnx"), *link = tmp_path("link.npy");
  ASSERT_EQ_INT(0, mkfifo(fifo, 0600));
  ASSERT_EQ_INT(0, symlink("p.onnx", link));
  int fd;
  ASSERT_EQ_INT(NND_ERR_IO, nnd_input_open(fifo, &fd, NULL, &err));
  ASSERT_EQ_INT(-1, fd);
  ASSERT_CONTAINS(err.message, "p.onnx: not a regular file (a FIFO)");
  nnd_error_clear(&err);
  nnd_mapped_file *mf;
  ASSERT_EQ_INT(NND_ERR_IO, nnd_mapped_file_open(link, &mf, &err));
  ASSERT_CONTAINS(err.message, "link.npy: not a regular file (a FIFO)");
  nnd_error_clear(&err);
  ASSERT_EQ_INT(NND_ERR_IO, nnd_input_open(tmp_dir, &fd, NULL, &err));
  ASSERT_CONTAINS(err.message, "not a regular file (a directory)");
  nnd_error_clear(&err);
  FILE *f;
  ASSERT_EQ_INT(NND_ERR_IO, nnd_input_fopen("/dev/null", &f, NULL, &err));
  ASSERT_STR_EQ("/dev/null: not a regular file (a character device)", err.message);
  nnd_error_clear(&err);
  ASSERT_EQ_INT(NND_ERR_IO, nnd_input_open(tmp_path("missing"), &fd, NULL, &err));
  ASSERT_CONTAINS(err.message, "missing: cannot open: No such file or directory");
  unlink(link);
  unlink(fifo);
  ASSERT_EQ_INT(0, count_entries());
  return 0;
}

/* True when the device node at path is still the one stat'ed in before. */
static int same_device(const char *path, const struct stat *before) {
  struct stat after;
  return stat(path, &after) == 0 && S_ISCHR(after.st_mode) && after.st_rdev == before->st_rdev &&
         after.st_ino == before->st_ino;
}

/* /dev/null is written into, not replaced (as root a rename would turn the
 * device node into a regular file). A private node of the same device is
 * tried first where mknod is allowed, so that a regression replaces that
 * one, never the machine's /dev/null. */
static int test_output_device(void) {
  nnd_error err = {0};
  const char *private = tmp_path("null");
  struct stat before;
  if (mknod(private, S_IFCHR | 0666, makedev(1, 3)) == 0) {
    ASSERT_EQ_INT(0, stat(private, &before));
    ASSERT_EQ_INT(NND_OK, nnd_atomic_write(private, "{}\n", 3, &err));
    ASSERT_TRUE(same_device(private, &before));
    ASSERT_EQ_INT(1, count_entries()); /* no temporary beside it */
    unlink(private);
  }
  ASSERT_EQ_INT(0, stat("/dev/null", &before));
  ASSERT_EQ_INT(NND_OK, nnd_atomic_write("/dev/null", "{}\n", 3, &err));
  ASSERT_TRUE(same_device("/dev/null", &before));
  /* a full device fails at commit, naming it */
  if (access("/dev/full", W_OK) == 0) {
    ASSERT_EQ_INT(NND_ERR_IO, nnd_atomic_write("/dev/full", "x", 1, &err));
    ASSERT_STR_EQ("/dev/full: write failed: No space left on device", err.message);
  }
  return 0;
}

/* A FIFO without a reader fails at open, at once; with one, the reader gets
 * every byte and the FIFO stays a FIFO. */
static int test_output_fifo(void) {
  nnd_error err = {0};
  const char *fifo = tmp_path("out.json");
  ASSERT_EQ_INT(0, mkfifo(fifo, 0600));
  nnd_atomic_file *af = NULL;
  ASSERT_EQ_INT(NND_ERR_IO, nnd_atomic_file_open(fifo, &af, &err));
  ASSERT_TRUE(af == NULL);
  ASSERT_CONTAINS(err.message, "out.json: cannot write: a FIFO with no reader");
  nnd_error_clear(&err);
  /* 1 MB: more than a pipe holds, so the writer must wait for the reader */
  enum { N = 1 << 20 };
  char *data = malloc(N);
  ASSERT_TRUE(data);
  for (int i = 0; i < N; i++)
    data[i] = (char)('a' + i % 26);
  /* A reader that reads nothing keeps the FIFO open for the open check; the
   * child opens its own read end (blocking until the writer appears). */
  int rd = open(fifo, O_RDONLY | O_NONBLOCK);
  ASSERT_TRUE(rd >= 0);
  pid_t child = fork();
  ASSERT_TRUE(child >= 0);
  if (child == 0) {
    close(rd);
    int fd = open(fifo, O_RDONLY);
    size_t got = 0;
    int bad = fd < 0;
    char buf[4096];
    ssize_t n;
    while (fd >= 0 && (n = read(fd, buf, sizeof buf)) > 0) {
      for (ssize_t i = 0; i < n; i++)
        bad |= buf[i] != (char)('a' + (got + (size_t)i) % 26);
      got += (size_t)n;
    }
    _exit(got == N && !bad ? 0 : 1);
  }
  ASSERT_EQ_INT(NND_OK, nnd_atomic_file_open(fifo, &af, &err));
  ASSERT_EQ_INT(N, fwrite(data, 1, N, nnd_atomic_file_stream(af)));
  ASSERT_TRUE(nnd_atomic_file_is_direct(af));
  ASSERT_EQ_INT(NND_OK, nnd_atomic_file_commit(af, &err));
  close(rd);
  int status = 0;
  ASSERT_EQ_INT(child, waitpid(child, &status, 0));
  ASSERT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0);
  struct stat st;
  ASSERT_EQ_INT(0, lstat(fifo, &st));
  ASSERT_TRUE(S_ISFIFO(st.st_mode));
  free(data);
  unlink(fifo);
  ASSERT_EQ_INT(0, count_entries());
  return 0;
}

/* The reader going away is an error we report (EPIPE), not a SIGPIPE death. */
static int test_output_fifo_reader_gone(void) {
  nnd_error err = {0};
  const char *fifo = tmp_path("gone.npy");
  ASSERT_EQ_INT(0, mkfifo(fifo, 0600));
  int rd = open(fifo, O_RDONLY | O_NONBLOCK);
  ASSERT_TRUE(rd >= 0);
  nnd_atomic_file *af;
  ASSERT_EQ_INT(NND_OK, nnd_atomic_file_open(fifo, &af, &err));
  close(rd);
  fputs("data", nnd_atomic_file_stream(af));
  ASSERT_EQ_INT(NND_ERR_IO, nnd_atomic_file_commit(af, &err));
  ASSERT_CONTAINS(err.message, "gone.npy: write failed: Broken pipe");
  unlink(fifo);
  return 0;
}

/* Through a symlink the file it points to is replaced; the link stays. */
static int test_output_symlink(void) {
  nnd_error err = {0};
  const char *real = tmp_path("real.json"), *link = tmp_path("link.json");
  ASSERT_EQ_INT(0, write_file(real, "old"));
  ASSERT_EQ_INT(0, symlink("real.json", link));
  ASSERT_EQ_INT(NND_OK, nnd_atomic_write(link, "new!", 4, &err));
  struct stat st;
  ASSERT_EQ_INT(0, lstat(link, &st));
  ASSERT_TRUE(S_ISLNK(st.st_mode));
  ASSERT_EQ_INT(0, stat(real, &st));
  ASSERT_EQ_INT(4, st.st_size);
  unlink(link);
  unlink(real);
  ASSERT_EQ_INT(0, count_entries());
  return 0;
}

/* Results that belong together: a missing directory fails when the output
 * is added, before any work; a commit publishes all; an abort leaves none. */
static int test_output_set(void) {
  nnd_error err = {0};
  nnd_output_set *set;
  FILE *a, *b;
  ASSERT_EQ_INT(NND_OK, nnd_output_set_create(&set, &err));
  ASSERT_EQ_INT(NND_OK, nnd_output_set_add(set, tmp_path("a.npy"), &a, &err));
  ASSERT_EQ_INT(NND_ERR_IO, nnd_output_set_add(set, tmp_path("missing/r.json"), &b, &err));
  ASSERT_CONTAINS(err.message, "missing/r.json: cannot write: No such file or directory");
  nnd_error_clear(&err);
  ASSERT_EQ_INT(NND_ERR_USAGE, nnd_output_set_add(set, tmp_path("a.npy"), &b, &err));
  ASSERT_CONTAINS(err.message, "a.npy: named for two results");
  nnd_error_clear(&err);
  fputs("rows", a);
  ASSERT_EQ_INT(1, count_entries()); /* a.npy's temporary */
  nnd_output_set_abort(set);
  ASSERT_EQ_INT(0, count_entries());

  ASSERT_EQ_INT(NND_OK, nnd_output_set_create(&set, &err));
  ASSERT_EQ_INT(NND_OK, nnd_output_set_add(set, tmp_path("a.npy"), &a, &err));
  ASSERT_EQ_INT(NND_OK, nnd_output_set_add(set, tmp_path("r.json"), &b, &err));
  ASSERT_EQ_INT(NND_OK, nnd_output_set_add(set, "/dev/null", &b, &err));
  fputs("rows", a);
  fputs("{}", b);
  ASSERT_EQ_INT(NND_OK, nnd_output_set_commit(set, &err));
  struct stat st;
  ASSERT_EQ_INT(0, stat(tmp_path("a.npy"), &st));
  ASSERT_EQ_INT(4, st.st_size);
  ASSERT_EQ_INT(0, stat(tmp_path("r.json"), &st));
  ASSERT_EQ_INT(0, st.st_size);
  ASSERT_EQ_INT(2, count_entries());
  unlink(tmp_path("a.npy"));
  unlink(tmp_path("r.json"));
  return 0;
}

/* A FIFO whose reader went away fails the commit before any file is
 * renamed: the file result does not appear, no temporary is left. */
static int test_output_set_fails_whole(void) {
  nnd_error err = {0};
  const char *fifo = tmp_path("pipe");
  ASSERT_EQ_INT(0, mkfifo(fifo, 0600));
  int rd = open(fifo, O_RDONLY | O_NONBLOCK);
  ASSERT_TRUE(rd >= 0);
  nnd_output_set *set;
  FILE *a, *b;
  ASSERT_EQ_INT(NND_OK, nnd_output_set_create(&set, &err));
  ASSERT_EQ_INT(NND_OK, nnd_output_set_add(set, tmp_path("a.npy"), &a, &err));
  ASSERT_EQ_INT(NND_OK, nnd_output_set_add(set, fifo, &b, &err));
  close(rd);
  fputs("rows", a);
  fputs("{}", b);
  ASSERT_EQ_INT(NND_ERR_IO, nnd_output_set_commit(set, &err));
  ASSERT_CONTAINS(err.message, "pipe: write failed: Broken pipe");
  struct stat st;
  ASSERT_TRUE(stat(tmp_path("a.npy"), &st) != 0);
  ASSERT_EQ_INT(1, count_entries()); /* the FIFO itself */
  unlink(fifo);
  return 0;
}

static int setup(void) {
  snprintf(tmp_dir, sizeof tmp_dir, "/tmp/nnd_test_util_io.XXXXXX");
  return mkdtemp(tmp_dir) ? 0 : -1;
}

int main(int argc, char **argv) {
  if (setup() != 0) {
    perror("mkdtemp");
    return 1;
  }
  static const nnd_test_case cases[] = {
      NND_TEST(test_input_regular),
      NND_TEST(test_input_refuses_special),
      NND_TEST(test_output_device),
      NND_TEST(test_output_fifo),
      NND_TEST(test_output_fifo_reader_gone),
      NND_TEST(test_output_symlink),
      NND_TEST(test_output_set),
      NND_TEST(test_output_set_fails_whole),
  };
  int rc = nnd_test_run(cases, sizeof cases / sizeof cases[0], argc, argv);
  rmdir(tmp_dir);
  return rc;
}
