/* libFuzzer target: .npz archives (libzip) read from memory: the zip
 * directory, member names, every member's .npy header checked against its
 * size, and stored and deflated data read forwards and backwards (a
 * backward read restarts the inflate stream). */
#include <stddef.h>
#include <stdint.h>

#include "data/data_internal.h"
#include "nndiff/data.h"

static void convert_some(const nnd_npy_info *info, const unsigned char *raw) {
  float f[64];
  int64_t l[64];
  size_t n = info->count < 64 ? info->count : 64;
  nnd_npy_to_f32(info, raw, n, f);
  (void)nnd_npy_to_i64(info, raw, n, l, "fuzz", NULL);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  nnd__npz *npz;
  if (nnd__npz_open_memory(data, size, "fuzz.npz", &npz, NULL) != NND_OK) return 0;
  size_t count = nnd__npz_count(npz);
  for (size_t i = 0; i < count && i < 8; i++) {
    nnd__npz_array *arr;
    if (nnd__npz_array_open(npz, nnd__npz_member_name(npz, i), &arr, NULL) != NND_OK) continue;
    const nnd_npy_info *ai = nnd__npz_array_info(arr);
    unsigned char buf[256];
    size_t n = ai->data_size < sizeof buf ? ai->data_size : sizeof buf;
    n -= n % (ai->itemsize ? ai->itemsize : 1);
    /* the tail, then the head */
    if (ai->data_size >= n && nnd__npz_array_read(arr, ai->data_size - n, buf, n, NULL) == NND_OK &&
        nnd__npz_array_read(arr, 0, buf, n, NULL) == NND_OK) {
      nnd_npy_info part = *ai;
      part.count = n / (ai->itemsize ? ai->itemsize : 1);
      convert_some(&part, buf);
    }
    nnd__npz_array_close(arr);
  }
  /* the first member, as `--data file.npz` opens it */
  nnd__npz_array *first;
  if (nnd__npz_array_open(npz, NULL, &first, NULL) == NND_OK) nnd__npz_array_close(first);
  nnd__npz_close(npz);
  return 0;
}
