/* mmap-based file mapping; the page cache is shared, nothing is copied.
 * Only regular files are mapped (util/input_file.h). */
#include "util/mapped_file.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "util/input_file.h"

nnd_status nnd_mapped_file_open(const char *path, nnd_mapped_file **out, nnd_error *err) {
  *out = NULL;
  int fd;
  struct stat st;
  nnd_status status = nnd_input_open(path, &fd, &st, err);
  if (status != NND_OK) return status;
  nnd_mapped_file *mf = calloc(1, sizeof *mf);
  char *path_copy = strdup(path);
  if (!mf || !path_copy) {
    free(mf);
    free(path_copy);
    close(fd);
    return nnd_error_set(err, NND_ERR_NOMEM, "%s: out of memory", path);
  }
  mf->path = path_copy;
  mf->size = (size_t)st.st_size;
  if (mf->size > 0) {
    void *p = mmap(NULL, mf->size, PROT_READ, MAP_PRIVATE, fd, 0);
    if (p == MAP_FAILED) {
      int e = errno;
      close(fd);
      free(mf->path);
      free(mf);
      return nnd_error_set(err, NND_ERR_IO, "%s: cannot map: %s", path, strerror(e));
    }
    mf->data = p;
  }
  close(fd);
  *out = mf;
  return NND_OK;
}

void nnd_mapped_file_close(void *ptr) {
  nnd_mapped_file *mf = ptr;
  if (!mf) return;
  if (mf->data) munmap((void *)mf->data, mf->size);
  free(mf->path);
  free(mf);
}
