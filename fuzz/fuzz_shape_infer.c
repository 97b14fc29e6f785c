/* libFuzzer target: shape inference and validation on graphs built from the
 * input bytes by the random graph generator of the IR tests (odd ranks and
 * sizes, bad attributes, short constants, cycles). */
#include <stddef.h>
#include <stdint.h>

#include "../tests/ir_random_graph.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  rg_src src = {data, size, 0, size};
  nnd_graph *g = nnd_graph_create(NULL);
  if (!g) return 0;
  rg_build(&src, g);
  if (rg_check(g)) __builtin_trap();
  nnd_graph_destroy(g);
  return 0;
}
