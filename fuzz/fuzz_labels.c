/* libFuzzer target: labels files ("path label" lines and CSV with quoting,
 * header, BOM, CRLF, comments), parsed as <name>.txt or <name>.csv by the
 * first byte, then looked up the way a dataset matches its images. */
#include <stddef.h>
#include <stdint.h>

#include "data/data_internal.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (size < 1) return 0;
  const char *name = data[0] & 1 ? "labels.csv" : "labels.txt";
  nnd__labels labels;
  nnd_error err = {0};
  if (nnd__labels_parse((const char *)data + 1, size - 1, name, &labels, &err) != NND_OK) return 0;
  /* every key finds itself; a key that is not there is not found */
  for (size_t i = 0; i < labels.count; i++)
    if (nnd__labels_find(&labels, labels.entries[i].key) != &labels.entries[i]) __builtin_trap();
  (void)nnd__labels_find(&labels, "");
  nnd__labels_free(&labels);
  return 0;
}
