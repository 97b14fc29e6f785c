/* Random hostile graphs through shape inference and validation: nothing
 * may crash, overflow or read out of bounds (run it under -DNND_SANITIZE=ON),
 * and every failure must come back as a status with a message. The fuzz
 * target fuzz/fuzz_shape_infer.c explores the same generator further. */
#include <stdlib.h>

#include "ir_random_graph.h"
#include "nnd_test.h"

static int test_random_graphs(void) {
  int n = 20000;
  const char *env = getenv("NND_RANDOM_GRAPHS");
  if (env && atoi(env) > 0) n = atoi(env);
  int ok = 0;
  for (int seed = 0; seed < n; seed++) {
    rg_src src = {NULL, 0, 0, (uint64_t)seed * 0x9E3779B97F4A7C15ull + 1};
    nnd_graph *g = nnd_graph_create(NULL);
    ASSERT_TRUE(g != NULL);
    rg_build(&src, g);
    nnd_error err = {0};
    if (nnd_graph_infer_shapes(g, &err) == NND_OK) ok++;
    const char *problem = rg_check(g); /* runs inference again, then validation */
    if (problem) fprintf(stderr, "seed %d: %s\n", seed, problem);
    ASSERT_TRUE(problem == NULL);
    nnd_graph_destroy(g);
  }
  /* the generator must not be so hostile that nothing gets through */
  printf("%d of %d random graphs inferred\n", ok, n);
  ASSERT_TRUE(ok > n / 20);
  return 0;
}

NND_TEST_MAIN(NND_TEST(test_random_graphs))
