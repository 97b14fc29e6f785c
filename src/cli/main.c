/* nndiff command-line entry point: dispatches to one command per file. */
#include <stdio.h>
#include <string.h>

int main(int argc, char **argv) {
  if (argc < 2 || strcmp(argv[1], "--help") == 0) {
    printf("usage: nndiff <command> [options]\n");
    return argc < 2 ? 2 : 0;
  }
  fprintf(stderr, "nndiff: unknown command '%s'\n", argv[1]);
  return 2;
}
