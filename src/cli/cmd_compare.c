/* `nndiff compare A B [C ...] --data D`: run every model on the same inputs
 * and say, per pair, how often and how much their answers differ; with
 * --chain, which conversion step changed each label. */
#include <ctype.h>
#include <getopt.h>
#include <json-c/json.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "cli/cli_infer.h"
#include "cli/cli_limits.h"
#include "nndiff/infer.h"
#include "nndiff/outputs.h"
#include "nndiff/report.h"
#include "util/output_set.h"
#include "util/safe_text.h"

static const char usage[] =
    "usage: nndiff compare A B [C ...] --data D [--chain] [--json F] [--preset P] [--pre SPEC]\n"
    "                      [--pre-for K=SPEC] [--labels F] [--threads N] [--batch B]\n"
    "                      [--on-error skip|fail] [--precision fast|reference] [--limit N]\n"
    "                      [--max-memory SIZE] [--verbose]";

void nnd_cmd_compare_help(FILE *out) {
  fprintf(out,
          "%s\n"
          "\n"
          "Run two or more models on the same inputs and report how their answers\n"
          "differ. Models are named A, B, C... in the order given. For every pair:\n"
          "  label discrepancy  share (and count) of inputs whose top-1 class differs\n"
          "  Kendall's tau      of the two top-5 rankings (tau-b over the union of both\n"
          "                     top-5 sets, scored by each model), mean over inputs\n"
          "  grades             per input: none (same top-5 in the same order), minor\n"
          "                     (same top-1, other top-5), major (top-1 differs)\n"
          "  max/mean |diff|    of the raw outputs, over every element\n"
          "  cosine             of the output vectors, mean over inputs\n"
          "and the discrepant inputs (index, file, both top-1 classes). Three models or\n"
          "more add an N x N matrix of label discrepancy. Exact definitions:\n"
          "docs/COMPARE.md.\n"
          "\n"
          "Each image is decoded once and preprocessed once per distinct pipeline:\n"
          "every model's preprocessing is resolved against its own input shape, so a\n"
          "299x299 model and a 224x224 one compare on the same photos. Outputs must\n"
          "have the same shape.\n"
          "\n"
          "Options:\n"
          "  --data D           the inputs (required): an image folder, an image, a .npy\n"
          "                     [N, ...] or \"file.npz:member\" of preprocessed tensors\n"
          "  --chain            treat A -> B -> C ... as a conversion chain: for each\n"
          "                     input whose top-1 differs between the last model and the\n"
          "                     first, the first step that changed it, and per step the\n"
          "                     share of inputs it broke\n"
          "  --json F           write the full result as JSON (F '-' for stdout instead\n"
          "                     of the text); schema nndiff.compare/1\n"
          "  --preset P         preprocessing preset for every model (default\n"
          "                     torchvision): %s\n"
          "  --pre SPEC         preprocessing changes for every model, 'key=value;...'\n"
          "                     (see 'nndiff help run')\n"
          "  --pre-for K=SPEC   preprocessing of model K alone (K: 1, 2, ... or A, B,\n"
          "                     ...); SPEC is complete, e.g. --pre-for 2=keras-tf or\n"
          "                     --pre-for B=\"inception;crop=299\". Repeatable\n"
          "  --labels F         ground-truth labels: adds top-1/top-5 accuracy per model\n"
          "  --threads N        engine and decoding threads (default 1; 0 = every CPU\n"
          "                     available; at most %d). More than the CPUs available, or\n"
          "                     than the process can start (ulimit -u), is lowered to\n"
          "                     that with a warning\n"
          "  --batch B          inputs per engine run (default %d, at most 4096)\n"
          "  --max-memory SIZE  memory budget for the run, every model together:\n"
          "                     activations, weights, scratch, input and output buffers.\n"
          "                     SIZE is bytes or K/M/G/T (powers of 1024), e.g. 512M, 4G;\n"
          "                     0 turns it off. Default: 3/4 of the memory available at\n"
          "                     start (MemAvailable, or the cgroup / ulimit -v limit\n"
          "                     when lower). A run that needs more is refused before\n"
          "                     allocating (exit 2) with the bytes needed and the\n"
          "                     largest --batch that fits\n"
          "  --on-error skip|fail\n"
          "                     an image that cannot be read, decoded or preprocessed\n"
          "                     stops the run naming the file (fail, the default) or is\n"
          "                     left out for every model and listed (skip)\n"
          "  --precision fast|reference\n"
          "                     engine precision for every model (default fast)\n"
          "  --limit N          only the first N inputs\n"
          "  --verbose          list every discrepant input (the text lists at most 20\n"
          "                     per pair; JSON always has them all)\n"
          "  -h, --help         show this help\n"
          "\n"
          "Exit status: 0 every pair gives the same top-1 label on every input; 1 some\n"
          "pair differs on at least one input; 2 bad usage or input (unreadable model\n"
          "or data, output shapes that differ, over the memory budget); 3 internal\n"
          "error; 130/143 interrupted\n"
          "(no result file is written).\n"
          "\n"
          "Examples:\n"
          "  nndiff compare src.onnx converted.onnx --data photos/\n"
          "  nndiff compare tf.onnx tflite.onnx keras.onnx --data val/ --labels labels.txt\n"
          "  nndiff compare tf.onnx via_onnx.onnx final.onnx --data imgs/ --chain --json r.json\n"
          "  nndiff compare torch.onnx keras.onnx --data imgs/ --pre-for B=keras-caffe\n"
          "  nndiff compare a.onnx b.onnx --data x.npy && echo same labels\n",
          usage, nnd_preprocess_preset_names(), NND_CLI_MAX_THREADS, NND_INFER_DEFAULT_BATCH);
}

enum { OPT_CHAIN = NND_OPT_FIRST_OWN, OPT_PRE_FOR };

typedef struct pre_for {
  int model; /* 0-based */
  const char *spec;
} pre_for;

/* "2=keras-tf" or "B=keras-tf" -> model index and spec; -1 when malformed. */
static int parse_pre_for(const char *arg, const char **spec_out) {
  const char *eq = strchr(arg, '=');
  if (!eq || eq == arg) return -1;
  *spec_out = eq + 1;
  size_t n = (size_t)(eq - arg);
  if (n == 1 && isupper((unsigned char)arg[0])) return arg[0] - 'A';
  long long v = 0;
  char num[24];
  if (n >= sizeof num) return -1;
  memcpy(num, arg, n);
  num[n] = '\0';
  if (!nnd_cli_parse_count(num, 100000, &v) || v < 1) return -1;
  return (int)(v - 1);
}

typedef struct compare_ctx {
  nnd_outputs_compare *cmp;
  nnd_dataset *ds;
  int64_t *labels; /* per input added (model 0's order), -1 unknown */
  size_t n_labels;
} compare_ctx;

static nnd_status on_output(void *user, const nnd_infer_batch *b, nnd_error *err) {
  compare_ctx *c = user;
  if (b->model == 0)
    for (size_t r = 0; r < b->count; r++) {
      nnd_item_info info;
      nnd_status st = nnd_dataset_item(c->ds, b->items[r], &info, err);
      if (st) return st;
      c->labels[c->n_labels++] = info.label;
    }
  return nnd_outputs_compare_add(c->cmp, b->model, b->count, b->items, b->output, err);
}

static bool same_dims(const nnd_infer_model_info *a, const nnd_infer_model_info *b) {
  if (a->output_rank != b->output_rank) return false;
  for (int i = 0; i < a->output_rank; i++)
    if (a->output_dims[i] != b->output_dims[i]) return false;
  return true;
}

/* Item names for the report, from the dataset. */
static const char *dataset_item_name(void *user, size_t index) {
  nnd_item_info info;
  if (nnd_dataset_item((nnd_dataset *)user, index, &info, NULL) != NND_OK) return NULL;
  return info.name;
}

int nnd_cmd_compare(int argc, char **argv) {
  static const struct option long_opts[] = {
      NND_CLI_RUN_LONG_OPTS,
      {"chain", no_argument, NULL, OPT_CHAIN},
      {"pre-for", required_argument, NULL, OPT_PRE_FOR},
      {"help", no_argument, NULL, 'h'},
      {NULL, 0, NULL, 0},
  };
  nnd_cli_run_opts o;
  nnd_cli_run_opts_init(&o);
  bool chain = false;
  pre_for pre_fors[64];
  int n_pre_for = 0;
  int c;
  opterr = 0;
  optind = 0;
  while ((c = getopt_long(argc, argv, ":hv", long_opts, NULL)) != -1) {
    int r = nnd_cli_run_opt(&o, c, optarg, "compare", usage);
    if (r >= 0) {
      if (r) return r;
      continue;
    }
    switch (c) {
    case 'h': nnd_cmd_compare_help(stdout); return NND_EXIT_OK;
    case 'v': o.verbose = true; break;
    case OPT_CHAIN: chain = true; break;
    case OPT_PRE_FOR: {
      const char *spec;
      int m = parse_pre_for(optarg, &spec);
      if (m < 0)
        return nnd_cli_usage_error(usage,
                                   "compare: --pre-for wants K=SPEC with K a model number (1, "
                                   "2, ...) or letter (A, B, ...), got '%s'",
                                   optarg);
      if (n_pre_for == (int)(sizeof pre_fors / sizeof pre_fors[0]))
        return nnd_cli_usage_error(usage, "compare: too many --pre-for options");
      pre_fors[n_pre_for++] = (pre_for){m, spec};
      break;
    }
    case ':':
      return nnd_cli_usage_error(usage, "compare: option '%s' needs a value", argv[optind - 1]);
    default:
      if (optopt) return nnd_cli_usage_error(usage, "compare: unknown option '-%c'", optopt);
      return nnd_cli_usage_error(usage, "compare: unknown option '%s'", argv[optind - 1]);
    }
  }
  int n_models = argc - optind;
  if (n_models < 2)
    return nnd_cli_usage_error(usage, "compare: give two models or more (got %d)", n_models);
  if (!o.data)
    return nnd_cli_usage_error(usage, "compare: missing --data (an image folder, an image, a "
                                      ".npy or a .npz)");
  for (int i = 0; i < n_pre_for; i++)
    if (pre_fors[i].model >= n_models)
      return nnd_cli_usage_error(usage, "compare: --pre-for names model %d but only %d are given",
                                 pre_fors[i].model + 1, n_models);
  char *const *paths = argv + optind;

  nnd_error err = {0};
  nnd_status st = NND_OK;
  nnd_graph **graphs = calloc((size_t)n_models, sizeof *graphs);
  nnd_preprocess *pps = calloc((size_t)n_models, sizeof *pps);
  nnd_infer_model *ims = calloc((size_t)n_models, sizeof *ims);
  nnd_infer_model_info *infos = calloc((size_t)n_models, sizeof *infos);
  nnd_accuracy *acc = calloc((size_t)n_models, sizeof *acc);
  nnd_dataset *ds = NULL;
  nnd_infer *runner = NULL;
  json_object *json = NULL;
  compare_ctx ctx = {0};
  nnd_chain_result chain_result = {0};
  bool have_chain = false;
  nnd_output_set *results = NULL;
  FILE *json_stream = NULL;
  bool committed = false;
  int exit_code = NND_EXIT_OK;
  if (!graphs || !pps || !ims || !infos || !acc) {
    st = nnd_error_set(&err, NND_ERR_NOMEM, "out of memory");
    goto done;
  }
  for (int i = 0; i < n_models && !st; i++) {
    st = nnd_cli_preprocess(o.preset, o.pre, &pps[i], &err);
    for (int k = 0; k < n_pre_for && !st; k++)
      if (pre_fors[k].model == i) {
        nnd_error local = {0};
        if (nnd_preprocess_from_options(pre_fors[k].spec, &pps[i], &local) != NND_OK)
          st = nnd_error_set(&err, local.status, "--pre-for %d: %s", i + 1, local.message);
      }
  }
  if (st) goto done;
  nnd_cli_stop_handlers_install();
  /* The result path is checked before any work (see cmd_run.c). */
  st = nnd_output_set_create(&results, &err);
  if (!st && o.json) st = nnd_output_set_add(results, o.json, &json_stream, &err);
  if (st) goto done;
  for (int i = 0; i < n_models && !st; i++) {
    st = nnd_cli_load_model(paths[i], &graphs[i], &err);
    ims[i] = (nnd_infer_model){.graph = graphs[i], .preprocess = &pps[i], .name = paths[i]};
  }
  if (st) goto done;
  nnd_dataset_options dopt = {.labels_path = o.labels, .preprocess = &pps[0]};
  st = nnd_dataset_open(o.data, &dopt, &ds, &err);
  if (st) goto done;
  bool tensor = nnd_dataset_get_kind(ds) == NND_DATASET_TENSOR;
  if (tensor && (o.preset || o.pre || n_pre_for))
    nnd__fprintf_safe(stderr,
                      "nndiff: note: preprocessing options do not apply: %s holds preprocessed "
                      "tensors\n",
                      o.data);

  nnd_cli_progress progress;
  nnd_cli_progress_init(&progress);
  o.infer.on_output = on_output;
  o.infer.output_user = &ctx;
  o.infer.progress = nnd_cli_progress_update;
  o.infer.progress_user = &progress;
  o.infer.stop_flag = &nnd_cli_stop_signal;
  if (nnd_cli_stop_signal) goto done; /* planning engines can take a while */
  st = nnd_infer_create(ds, ims, n_models, &o.infer, &runner, &err);
  if (st) goto done;
  for (int i = 0; i < n_models; i++)
    nnd_infer_get_model_info(runner, i, &infos[i]);
  for (int i = 1; i < n_models; i++)
    if (!same_dims(&infos[0], &infos[i])) {
      char a[160], b[160];
      nnd_shape_format(&graphs[0]->values[graphs[0]->outputs[0]].shape, a, sizeof a);
      nnd_shape_format(&graphs[i]->values[graphs[i]->outputs[0]].shape, b, sizeof b);
      st = nnd_error_set(&err, NND_ERR_USAGE,
                         "%s: output '%s' has shape %s but %s's output '%s' has shape %s; "
                         "compare needs outputs of the same shape",
                         paths[i], infos[i].output_name, b, paths[0], infos[0].output_name, a);
      goto done;
    }
  size_t total = nnd_infer_total(runner);
  ctx.ds = ds;
  ctx.labels = calloc(total ? total : 1, sizeof *ctx.labels);
  if (!ctx.labels) {
    st = nnd_error_set(&err, NND_ERR_NOMEM, "out of memory");
    goto done;
  }
  st = nnd_outputs_compare_create(n_models, infos[0].output_numel, total, &ctx.cmp, &err);
  if (st) goto done;

  nnd_infer_stats stats;
  st = nnd_infer_run(runner, &stats, &err);
  nnd_cli_progress_finish(&progress);
  if (st || nnd_cli_stop_signal) goto done;
  bool has_labels = nnd_dataset_has_labels(ds) != 0;
  for (int i = 0; has_labels && i < n_models; i++)
    nnd_outputs_compare_accuracy(ctx.cmp, i, ctx.labels, &acc[i]);
  if (chain) {
    st = nnd_outputs_compare_chain(ctx.cmp, &chain_result, &err);
    if (st) goto done;
    have_chain = true;
  }
  size_t n_skipped;
  const nnd_infer_skip *skipped = nnd_infer_skipped(runner, &n_skipped);
  char data_text[1024];
  nnd_dataset_describe(ds, data_text, sizeof data_text);
  nnd_compare_data cd = {
      .n_models = n_models,
      .model_paths = (const char *const *)paths,
      .models = infos,
      .setup = {.data_path = o.data,
                .data_text = data_text,
                .tensor_data = tensor,
                .precision = o.infer.precision,
                .batch = infos[0].batch,
                .threads = o.infer.threads,
                .on_error = o.infer.on_error,
                .total = total,
                .stats = &stats,
                .skipped = skipped,
                .n_skipped = n_skipped,
                .tool_version = NND_VERSION},
      .cmp = ctx.cmp,
      .item_name = dataset_item_name,
      .item_user = ds,
      .chain = have_chain ? &chain_result : NULL,
      .has_labels = has_labels,
      .accuracy = acc,
  };
  bool json_on_stdout = o.json && strcmp(o.json, "-") == 0;
  /* Nothing compared is not "the models agree": exit 2, and no result file
   * (the text still lists what was skipped). */
  bool nothing = nnd_outputs_compare_inputs(ctx.cmp) == 0;
  if (o.json && !nothing) {
    st = nnd_compare_build_json(&cd, &json, &err);
    if (!st) st = nnd_report_print_json(json_stream, o.json, json, &err);
    if (st) goto done;
  }
  if (nnd_cli_stop_signal) goto done;
  if (!nothing) {
    st = nnd_output_set_commit(results, &err);
    results = NULL;
    if (st) goto done;
    committed = true;
  }
  if (!json_on_stdout) st = nnd_compare_write_text(stdout, &cd, o.verbose, &err);
  if (st) goto done;
  for (int a = 0; a < n_models; a++)
    for (int b = a + 1; b < n_models; b++)
      if (nnd_outputs_compare_pair(ctx.cmp, a, b)->discrepant_count) exit_code = NND_EXIT_DIFFER;
  if (nothing)
    st = nnd_error_set(&err, NND_ERR_USAGE, "%s: no input could be compared (%zu skipped)",
                       o.data, n_skipped);
done:
  nnd_output_set_abort(results);
  exit_code = nnd_cli_exit_code(st, &err, committed, exit_code);
  json_object_put(json);
  nnd_chain_result_free(&chain_result);
  nnd_outputs_compare_destroy(ctx.cmp);
  free(ctx.labels);
  nnd_infer_destroy(runner);
  nnd_dataset_close(ds);
  for (int i = 0; graphs && i < n_models; i++)
    nnd_graph_destroy(graphs[i]);
  free(graphs);
  free(pps);
  free(ims);
  free(infos);
  free(acc);
  return exit_code;
}
