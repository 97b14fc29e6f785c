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
#include <unistd.h>

#include "nnd_test.h"
#include "util/input_file.h"
#include "util/mapped_file.h"

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
  };
  int rc = nnd_test_run(cases, sizeof cases / sizeof cases[0], argc, argv);
  rmdir(tmp_dir);
  return rc;
}
