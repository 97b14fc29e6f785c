/* `nndiff inspect MODEL`: what a model file contains and what it costs,
 * without running it. */
#include <getopt.h>
#include <json-c/json.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "nndiff/cost.h"
#include "nndiff/report.h"

static const char usage[] = "usage: nndiff inspect MODEL [--json FILE] [--layers]";

void nnd_cmd_inspect_help(FILE *out) {
  fprintf(out,
          "%s\n"
          "\n"
          "Summarise a model file without running it: format, producer and opsets;\n"
          "the inputs and outputs with their dtypes and shapes; the number of\n"
          "parameters, MACs and FLOPs; how often each op type occurs; and the ops\n"
          "nndiff cannot run yet.\n"
          "\n"
          "Options:\n"
          "  --json FILE  also write the full report as JSON to FILE, atomically (the\n"
          "               file appears complete or not at all); the JSON always lists\n"
          "               every layer. FILE '-' prints the JSON on stdout instead of\n"
          "               the text summary.\n"
          "  --layers     add a per-layer table to the text: name, op, output shape,\n"
          "               parameters, MACs and FLOPs, in topological order\n"
          "  -h, --help   show this help\n"
          "\n"
          "Counts (exact per-op formulas in docs/METRICS.md; the same definition for\n"
          "every format, so models from different zoos and converters compare):\n"
          "  parameters  elements of learned tensors: conv and dense weights and\n"
          "              biases, BatchNorm scale and shift (not the running\n"
          "              statistics), PRelu slopes; a tensor shared by several\n"
          "              layers counts once. For a torch.onnx export this equals\n"
          "              sum(p.numel() for p in model.parameters()).\n"
          "  MACs        multiply-accumulates of Conv, ConvTranspose, Gemm and MatMul\n"
          "              only: the number torchvision, fvcore and thop publish (often\n"
          "              labelled \"GFLOPS\").\n"
          "  FLOPs       every floating-point operation: 2 per MAC, plus bias adds,\n"
          "              normalisation, activations, elementwise ops, pooling,\n"
          "              softmax and reductions; data movement is free.\n"
          "  All three are per sample: unknown dims such as a symbolic batch count\n"
          "  as 1. Nodes nndiff cannot cost (unsupported ops, unknown shapes) are\n"
          "  reported, and the totals are then lower bounds.\n"
          "\n"
          "Formats: ONNX (.onnx) and TFLite (.tflite; layers keep the converter's\n"
          "tensor names). Keras, TensorFlow and PyTorch files are recognised and\n"
          "refused with a message naming the format until their readers land.\n"
          "\n"
          "Exit status: 0 ok; 2 bad usage, or a model that cannot be read; 3 internal\n"
          "error.\n"
          "\n"
          "Examples:\n"
          "  nndiff inspect resnet50.onnx\n"
          "  nndiff inspect --layers mobilenetv2.onnx | less -S\n"
          "  nndiff inspect model.onnx --json model.json\n"
          "  nndiff inspect model.onnx --json - | jq '.macs, .op_histogram'\n",
          usage);
}

int nnd_cmd_inspect(int argc, char **argv) {
  static const struct option long_opts[] = {
      {"json", required_argument, NULL, 'j'},
      {"layers", no_argument, NULL, 'l'},
      {"help", no_argument, NULL, 'h'},
      {NULL, 0, NULL, 0},
  };
  const char *json_path = NULL;
  bool layers = false;
  int c;
  opterr = 0; /* our own messages, in our own format */
  optind = 0; /* full re-initialisation in glibc */
  while ((c = getopt_long(argc, argv, ":h", long_opts, NULL)) != -1) {
    switch (c) {
    case 'j': json_path = optarg; break;
    case 'l': layers = true; break;
    case 'h': nnd_cmd_inspect_help(stdout); return NND_EXIT_OK;
    case ':':
      return nnd_cli_usage_error(usage, "inspect: option '%s' needs a value", argv[optind - 1]);
    default:
      if (optopt) return nnd_cli_usage_error(usage, "inspect: unknown option '-%c'", optopt);
      return nnd_cli_usage_error(usage, "inspect: unknown option '%s'", argv[optind - 1]);
    }
  }
  if (optind >= argc) return nnd_cli_usage_error(usage, "inspect: missing MODEL (a model file)");
  if (argc - optind > 1)
    return nnd_cli_usage_error(usage, "inspect: one MODEL at a time (got '%s' and '%s')",
                               argv[optind], argv[optind + 1]);
  if (json_path && !*json_path)
    return nnd_cli_usage_error(usage, "inspect: --json needs a file name, or '-' for stdout");
  const char *path = argv[optind];

  nnd_error err = {0};
  nnd_graph *g = NULL;
  nnd_node_cost *per_node = NULL;
  json_object *json = NULL;
  nnd_status st = nnd_cli_load_model(path, &g, &err);
  if (st != NND_OK) goto done;
  per_node = calloc((size_t)(g->n_nodes ? g->n_nodes : 1), sizeof *per_node);
  if (!per_node) {
    st = nnd_error_set(&err, NND_ERR_NOMEM, "out of memory");
    goto done;
  }
  nnd_inspect_data data = {.graph = g, .per_node = per_node, .tool_version = NND_VERSION};
  st = nnd_cost_compute(g, per_node, &data.total, &err);
  if (st != NND_OK) goto done;
  bool json_on_stdout = json_path && strcmp(json_path, "-") == 0;
  if (!json_on_stdout && (st = nnd_inspect_write_text(stdout, &data, layers, &err)) != NND_OK)
    goto done;
  if (json_path) {
    st = nnd_inspect_build_json(&data, &json, &err);
    if (st == NND_OK) st = nnd_report_write_json(json_path, json, &err);
  }
done:
  json_object_put(json);
  free(per_node);
  nnd_graph_destroy(g);
  return st == NND_OK ? NND_EXIT_OK : nnd_cli_fail(&err);
}
