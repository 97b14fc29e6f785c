/* libFuzzer target for the ONNX reader: any byte string must load or fail
 * with a status, never crash, leak or read out of bounds. External data is
 * refused (base_dir NULL) so the fuzzer never touches the file system. */
#include <stddef.h>
#include <stdint.h>

#include "nndiff/ir.h"
#include "nndiff/onnx.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  nnd_error err = {0};
  nnd_graph *g = NULL;
  if (nnd_onnx_load_memory(data, size, NULL, &g, &err) == NND_OK) {
    /* Exercise what inspect does on a loaded graph. */
    int32_t n = g->n_nodes;
    (void)n;
    nnd_graph_count_unsupported(g);
  }
  nnd_graph_destroy(g);
  return 0;
}
