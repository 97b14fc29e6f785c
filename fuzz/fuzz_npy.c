/* libFuzzer target: the .npy header parser (magic, versions 1-3, the
 * Python-literal header dict, dtype, shape, byte order, sizes) and the dtype
 * conversions the datasets apply to the data after it. */
#include <stddef.h>
#include <stdint.h>

#include "nndiff/data.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  nnd_error err = {0};
  nnd_npy_info info;
  if (nnd_npy_parse(data, size, 0, "fuzz.npy", &info, &err) != NND_OK) return 0;
  float f[64];
  int64_t l[64];
  size_t n = info.count < 64 ? info.count : 64;
  nnd_npy_to_f32(&info, data + info.data_offset, n, f);
  (void)nnd_npy_to_i64(&info, data + info.data_offset, n, l, "fuzz", NULL);
  return 0;
}
