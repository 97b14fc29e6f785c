/* `nndiff localize SOURCE TARGET --data D`: where and why a converted model
 * computes something else than its source, and what to do about it. */
#include <errno.h>
#include <getopt.h>
#include <json-c/json.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli/cli.h"
#include "cli/cli_infer.h"
#include "cli/cli_limits.h"
#include "nndiff/data.h"
#include "nndiff/localize.h"
#include "nndiff/report.h"
#include "util/output_set.h"

static const char usage[] =
    "usage: nndiff localize SOURCE TARGET --data D [--json F] [--images K|all] [--preset P]\n"
    "                       [--pre SPEC] [--threads N] [--limit N] [--floor-images N]\n"
    "                       [--layers] [--verbose] [--max-memory SIZE]";

void nnd_cmd_localize_help(FILE *out) {
  fprintf(out,
          "%s\n"
          "\n"
          "Tell whether TARGET (e.g. what a converter produced) computes the same thing\n"
          "as SOURCE and, if not, where, why and how to fix it.\n"
          "\n"
          "Both models are canonicalised (BatchNorm folded in double precision,\n"
          "activations fused, zero Pads absorbed, Identity/Dropout dropped, Flatten ~\n"
          "Reshape, Gemm ~ MatMul+Add) and aligned from structure and weights, never\n"
          "from names. Aligned layers are compared statically (parameters after\n"
          "folding: mean |Ps - Pt|, max, relative L2, patterns such as a zeroed bias,\n"
          "reversed input channels, rolled rows, a flipped kernel, float16 rounding;\n"
          "hyperparameters: strides, pads, dilations, groups, activation and clip\n"
          "bounds, pooling mode...; graph: extra, missing, substituted nodes, each\n"
          "judged equivalent or not). Then both models run on D; on the inputs whose\n"
          "labels differ (or whose outputs differ most) every aligned layer's\n"
          "activations are compared, against a noise floor measured on the source\n"
          "itself (fast float32 path vs double-precision reference). The first layer\n"
          "that leaves the floor locates the fault; the static differences there\n"
          "explain it. Method and thresholds: docs/LOCALIZATION.md.\n"
          "\n"
          "Options:\n"
          "  --data D         the inputs: an image folder, an image, a .npy [N, ...] or\n"
          "                   \"file.npz:member\" of preprocessed tensors. Without it only\n"
          "                   the static comparison runs\n"
          "  --json F         also write the result as JSON (F '-': JSON on stdout\n"
          "                   instead of the text); schema nndiff.localize/1\n"
          "  --images K|all   inputs analysed layer by layer (default 5): those whose\n"
          "                   top-1 labels differ, then those whose outputs differ most\n"
          "  --preset P       preprocessing for image folders (default torchvision): %s\n"
          "  --pre SPEC       preprocessing items over the preset, as for `run`\n"
          "                   (\"size=299;crop=299;mean=0.5,0.5,0.5;std=0.5,0.5,0.5\")\n"
          "  --threads N      engine threads (default 1; 0 = every CPU available). More\n"
          "                   than the CPUs available (or than the process may start,\n"
          "                   ulimit -u) is lowered to that, with a warning; at most %d\n"
          "  --limit N        run only the first N inputs of D\n"
          "  --floor-images N measure the noise floor on the first N analysed inputs\n"
          "                   (default 1; the double-precision path is slow)\n"
          "  --layers         print every aligned layer, not only those around the\n"
          "                   first divergence\n"
          "  --verbose        trace the graph passes that bring each model to its\n"
          "                   analysis form (one line per pass and round, on stderr)\n"
          "  --max-memory SIZE  memory budget for the engines alive at once, e.g. 512M,\n"
          "                   4G (K/M/G/T: powers of 1024; 0: none). Default: 3/4 of\n"
          "                   the memory available at start (MemAvailable, or the\n"
          "                   cgroup / ulimit -v limit when lower). A model that\n"
          "                   needs more is refused before allocating (exit 2),\n"
          "                   naming what needs the memory\n"
          "  -h, --help       show this help\n"
          "\n"
          "Exit status: 0 the models are equivalent (structurally, and on D within the\n"
          "noise floor); 1 they differ (suspects found); 2 bad usage or input; 3\n"
          "internal error; 130/143 interrupted by SIGINT/SIGTERM (no result file is\n"
          "written).\n"
          "\n"
          "Examples:\n"
          "  nndiff localize resnet18.onnx resnet18_converted.onnx --data photos/\n"
          "  nndiff localize src.onnx dst.onnx --data x.npy --images all --json loc.json\n",
          usage, nnd_preprocess_preset_names(), NND_CLI_MAX_THREADS);
}

/* localize's own options; the shared ones (data, preprocessing, engine,
 * JSON) come from cli_infer.h, parsed by nnd_cli_run_opt like run's. */
enum { OPT_IMAGES = NND_OPT_FIRST_OWN, OPT_FLOOR, OPT_LAYERS };

int nnd_cmd_localize(int argc, char **argv) {
  static const struct option long_opts[] = {
      NND_CLI_ANALYSIS_LONG_OPTS,
      {"images", required_argument, NULL, OPT_IMAGES},
      {"floor-images", required_argument, NULL, OPT_FLOOR},
      {"layers", no_argument, NULL, OPT_LAYERS},
      {"help", no_argument, NULL, 'h'},
      {NULL, 0, NULL, 0},
  };
  nnd_cli_run_opts ro;
  nnd_cli_run_opts_init(&ro);
  bool all_layers = false;
  nnd_localize_options lo;
  nnd_localize_options_init(&lo);
  int c;
  long long v;
  opterr = 0;
  optind = 0;
  while ((c = getopt_long(argc, argv, ":h", long_opts, NULL)) != -1) {
    int handled = nnd_cli_run_opt(&ro, c, optarg, "localize", usage);
    if (handled > 0) return handled;
    if (handled == 0) continue;
    switch (c) {
    case OPT_LAYERS: all_layers = true; break;
    case OPT_IMAGES:
      if (strcmp(optarg, "all") == 0)
        lo.images = -1;
      else if (nnd_cli_parse_count(optarg, 1000000, &v) && v >= 1)
        lo.images = (int)v;
      else
        return nnd_cli_usage_error(
            usage, "localize: --images needs a count >= 1 or 'all', got '%s'", optarg);
      break;
    case OPT_FLOOR:
      if (!nnd_cli_parse_count(optarg, 1000, &v) || v < 1)
        return nnd_cli_usage_error(
            usage, "localize: --floor-images needs a count 1..1000, got '%s'", optarg);
      lo.floor_images = (int)v;
      break;
    case 'h': nnd_cmd_localize_help(stdout); return NND_EXIT_OK;
    case ':':
      return nnd_cli_usage_error(usage, "localize: option '%s' needs a value", argv[optind - 1]);
    default:
      if (optopt) return nnd_cli_usage_error(usage, "localize: unknown option '-%c'", optopt);
      return nnd_cli_usage_error(usage, "localize: unknown option '%s'", argv[optind - 1]);
    }
  }
  const char *data_path = ro.data, *json_path = ro.json;
  lo.threads = ro.infer.threads;
  lo.limit = (int64_t)ro.infer.limit;
  lo.max_memory = ro.infer.max_memory;
  if (ro.verbose) lo.trace = stderr;
  if (argc - optind < 2)
    return nnd_cli_usage_error(usage, "localize: needs two models, SOURCE and TARGET");
  if (argc - optind > 2)
    return nnd_cli_usage_error(usage, "localize: two models only (got %d)", argc - optind);
  if (data_path && !*data_path) return nnd_cli_usage_error(usage, "localize: --data needs a path");
  bool json_stdout = json_path && strcmp(json_path, "-") == 0;
  if (!json_stdout && isatty(STDERR_FILENO)) lo.progress = stderr;

  nnd_error err = {0};
  nnd_graph *gs = NULL, *gt = NULL;
  nnd_dataset *ds = NULL;
  nnd_localize_result *r = NULL;
  json_object *json = NULL;
  nnd_output_set *results = NULL;
  FILE *json_stream = NULL;
  bool committed = false;
  /* Stopped like run and compare: exit 130/143, no result or temporary
   * file left (the analysis polls the flag between inputs). */
  nnd_cli_stop_handlers_install();
  lo.stop_flag = &nnd_cli_stop_signal;
  /* The result path is checked before any work (see cmd_run.c). */
  nnd_status st = nnd_output_set_create(&results, &err);
  if (st == NND_OK && json_path) st = nnd_output_set_add(results, json_path, &json_stream, &err);
  if (st == NND_OK) st = nnd_cli_load_model(argv[optind], &gs, &err);
  if (st == NND_OK) st = nnd_cli_load_model(argv[optind + 1], &gt, &err);
  if (st == NND_OK && data_path) {
    nnd_preprocess pp;
    nnd_dataset_options dopt = {0};
    st = nnd_cli_preprocess(ro.preset, ro.pre, &pp, &err);
    dopt.preprocess = &pp;
    dopt.no_auto_labels = 1;
    if (st == NND_OK) st = nnd_dataset_open(data_path, &dopt, &ds, &err);
  }
  if (st == NND_OK && !nnd_cli_stop_signal) st = nnd_localize_run(gs, gt, ds, &lo, &r, &err);
  bool go = st == NND_OK && !nnd_cli_stop_signal && r && !r->stopped;
  if (go && ds) {
    nnd_dataset_describe(ds, r->data_desc, sizeof r->data_desc);
    const nnd_preprocess *pp = nnd_dataset_preprocess(ds);
    if (pp) nnd_preprocess_describe(pp, r->preprocess_desc, sizeof r->preprocess_desc);
  }
  if (go && json_path) {
    st = nnd_localize_build_json(r, NND_VERSION, &json, &err);
    if (st == NND_OK) st = nnd_report_print_json(json_stream, json_path, json, &err);
  }
  /* The result lands only now, complete, unless a signal came meanwhile. */
  if (st == NND_OK && go && !nnd_cli_stop_signal) {
    st = nnd_output_set_commit(results, &err);
    results = NULL;
    committed = st == NND_OK;
  }
  if (committed && !json_stdout) st = nnd_localize_write_text(stdout, r, all_layers, &err);
  nnd_output_set_abort(results);
  int rc =
      nnd_cli_exit_code(st, &err, committed, r && r->equivalent ? NND_EXIT_OK : NND_EXIT_DIFFER);
  json_object_put(json);
  nnd_localize_result_destroy(r);
  nnd_dataset_close(ds);
  nnd_graph_destroy(gs);
  nnd_graph_destroy(gt);
  return rc;
}
