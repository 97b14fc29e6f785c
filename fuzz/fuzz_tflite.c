/* libFuzzer target for the TFLite reader: any byte string must load or fail
 * with a status, never crash, leak or read out of bounds. Seeds: small
 * converter outputs and the hand-made tiny model (tools/make_fuzz_seeds.py
 * --tflite). */
#include <stddef.h>
#include <stdint.h>

#include "nndiff/ir.h"
#include "nndiff/tflite.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  nnd_error err = {0};
  nnd_graph *g = NULL;
  if (nnd_tflite_load_memory(data, size, &g, &err) == NND_OK) nnd_graph_count_unsupported(g);
  nnd_graph_destroy(g);
  return 0;
}
