/* `nndiff run MODEL --data D`: one model over a dataset: per-input top-k,
 * accuracy with labels, throughput; optionally every output as a .npy. */
#include <getopt.h>
#include <json-c/json.h>
#include <math.h>
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
    "usage: nndiff run MODEL --data D [--preset P] [--pre SPEC] [--labels F] [--top K]\n"
    "                  [--softmax] [--outputs OUT.npy] [--json F] [--threads N] [--batch B]\n"
    "                  [--on-error skip|fail] [--precision fast|reference] [--limit N]\n"
    "                  [--max-memory SIZE] [--verbose]";

void nnd_cmd_run_help(FILE *out) {
  fprintf(out,
          "%s\n"
          "\n"
          "Run one model over a dataset and report what it answers: the top-K classes\n"
          "of every input, top-1/top-5 accuracy when labels are known, and the\n"
          "throughput. Progress shows on stderr when stderr is a terminal.\n"
          "\n"
          "Data (--data D):\n"
          "  a directory of JPEG/PNG images (walked recursively, sorted by path), one\n"
          "  image, or a tensor file of preprocessed inputs: a .npy of shape [N, ...],\n"
          "  or an array of a .npz (\"file.npz:member\"). Images are decoded exactly as\n"
          "  Pillow does and preprocessed for the model's input shape; tensors are fed\n"
          "  as stored (an [N,H,W,C] file feeds an [N,C,H,W] model transposed).\n"
          "\n"
          "Options:\n"
          "  --data D          the inputs (required)\n"
          "  --preset P        preprocessing preset for images (default torchvision):\n"
          "                    %s\n"
          "  --pre SPEC        preprocessing changes, 'key=value;...' over the preset:\n"
          "                    size=N crop=N|HxW fraction=F resize=shorter|direct\n"
          "                    filter=bilinear|nearest scale=S|1/D mean=A,B,C std=A,B,C\n"
          "                    order=rgb|bgr layout=nchw|nhwc|auto\n"
          "  --labels F        ground-truth labels: for images \"file label\" lines or CSV\n"
          "                    \"file,label\" (an image folder's labels.txt/labels.csv is\n"
          "                    used by itself); for tensors a .npy of N integers\n"
          "  --top K           classes listed per input (default 5)\n"
          "  --softmax         report softmax probabilities instead of the raw first\n"
          "                    output (logits); the ranking is the same\n"
          "  --outputs OUT.npy write the first output of every input, float32 [N, ...]\n"
          "                    in dataset order (N = inputs visited; a skipped input's\n"
          "                    row is NaN), atomically\n"
          "  --json F          write the full report as JSON (F '-' prints it on stdout\n"
          "                    instead of the text); schema nndiff.run/1\n"
          "  --threads N       engine and decoding threads (default 1; 0 = every CPU\n"
          "                    available; at most %d). More than the CPUs available is\n"
          "                    lowered to the CPU count with a warning, and so is more\n"
          "                    than the process can start (ulimit -u). Results are\n"
          "                    identical for a given N (the report shows the N used)\n"
          "  --batch B         inputs per engine run (default %d, at most 4096)\n"
          "  --max-memory SIZE memory budget for the run: activations, the engine's\n"
          "                    weights and scratch, input and output buffers. SIZE is\n"
          "                    bytes or K/M/G/T (powers of 1024), e.g. 512M, 4G; 0 turns\n"
          "                    it off. Default: 3/4 of the memory available at start\n"
          "                    (MemAvailable, or the cgroup / ulimit -v limit when\n"
          "                    lower). A run that needs more is refused before\n"
          "                    allocating (exit 2) with the bytes needed and the\n"
          "                    largest --batch that fits\n"
          "  --on-error skip|fail\n"
          "                    an image that cannot be read, decoded or preprocessed\n"
          "                    (corrupt, too large, an extreme aspect ratio) stops the run\n"
          "                    naming the file (fail, the default), or is skipped,\n"
          "                    counted and listed (skip)\n"
          "  --precision fast|reference\n"
          "                    float32 fast path (default) or the float64 reference\n"
          "  --limit N         only the first N inputs\n"
          "  --verbose         list every input (the text lists at most 20, else the\n"
          "                    first and last 5 and a summary)\n"
          "  -h, --help        show this help\n"
          "\n"
          "Result files (--outputs, --json) are checked before the run starts, written\n"
          "to temporary files and renamed together when the run is complete: a run that\n"
          "fails, or is stopped by Ctrl-C (SIGINT) or SIGTERM (exit 130 or 143), leaves\n"
          "no result file. A FIFO or device given as F is written into, not replaced.\n"
          "\n"
          "Exit status: 0 ok; 2 bad usage, an unreadable model or dataset, a tensor file\n"
          "of the wrong shape, an unreadable image with --on-error fail, or a run over\n"
          "the memory budget; 3 internal error; 130/143 interrupted.\n"
          "\n"
          "Examples:\n"
          "  nndiff run resnet50.onnx --data photos/\n"
          "  nndiff run resnet50.onnx --data val/ --labels val/labels.txt --threads 0\n"
          "  nndiff run mobilenet.onnx --data photos/ --preset keras-tf --top 3 --softmax\n"
          "  nndiff run model.onnx --data x.npy --outputs logits.npy --precision reference\n"
          "  nndiff run model.onnx --data imgs/ --on-error skip --json run.json\n"
          "  nndiff run inception.onnx --data imgs/ --pre \"preset=inception;crop=299\"\n",
          usage, nnd_preprocess_preset_names(), NND_CLI_MAX_THREADS, NND_INFER_DEFAULT_BATCH);
}

enum { OPT_TOP = NND_OPT_FIRST_OWN, OPT_SOFTMAX, OPT_OUTPUTS };

/* Everything the output callback fills. */
typedef struct run_ctx {
  nnd_dataset *ds;
  int top_k, rank_k; /* listed, and ranked (at least 5, for top-5 accuracy) */
  bool softmax;
  size_t numel, total;
  size_t n_items;
  nnd_run_item *items;
  int32_t *ranks; /* total * rank_k */
  double *scores; /* total * top_k */
  double *probs;  /* numel: softmax scratch */
  nnd_accuracy acc;
  nnd_npy_writer *writer;
  size_t rows_written;
  float *nan_row;
} run_ctx;

/* NaN rows for the skipped items before dataset index `upto`. */
static nnd_status pad_rows(run_ctx *c, size_t upto, nnd_error *err) {
  for (; c->rows_written < upto; c->rows_written++) {
    nnd_status st = nnd_npy_writer_append(c->writer, c->nan_row, c->numel, err);
    if (st) return st;
  }
  return NND_OK;
}

static nnd_status on_output(void *user, const nnd_infer_batch *b, nnd_error *err) {
  run_ctx *c = user;
  for (size_t r = 0; r < b->count; r++) {
    size_t index = b->items[r];
    const float *row = b->output + r * b->item_numel;
    if (c->writer) {
      nnd_status st = pad_rows(c, index, err);
      if (!st) st = nnd_npy_writer_append(c->writer, row, b->item_numel, err);
      if (st) return st;
      c->rows_written = index + 1;
    }
    nnd_item_info info;
    nnd_status st = nnd_dataset_item(c->ds, index, &info, err);
    if (st) return st;
    size_t i = c->n_items++;
    int32_t *rank = c->ranks + i * (size_t)c->rank_k;
    double *sc = c->scores + i * (size_t)c->top_k;
    int k = nnd_outputs_topk(row, b->item_numel, c->rank_k, rank);
    if (c->softmax) nnd_outputs_softmax(row, b->item_numel, c->probs);
    for (int j = 0; j < k && j < c->top_k; j++)
      sc[j] = c->softmax ? c->probs[rank[j]] : (double)row[rank[j]];
    bool tensor = nnd_dataset_get_kind(c->ds) == NND_DATASET_TENSOR;
    c->items[i] = (nnd_run_item){.index = index,
                                 .file = tensor ? NULL : info.name,
                                 .label = info.label,
                                 .k = k < c->top_k ? k : c->top_k,
                                 .top = rank,
                                 .scores = sc};
    if (info.label >= 0) {
      c->acc.labelled++;
      if (k > 0 && rank[0] == info.label) c->acc.top1_correct++;
      for (int j = 0; j < k && j < NND_OUTPUTS_TOPK; j++)
        if (rank[j] == info.label) {
          c->acc.top5_correct++;
          break;
        }
    }
  }
  return NND_OK;
}

int nnd_cmd_run(int argc, char **argv) {
  static const struct option long_opts[] = {
      NND_CLI_RUN_LONG_OPTS,
      {"top", required_argument, NULL, OPT_TOP},
      {"softmax", no_argument, NULL, OPT_SOFTMAX},
      {"outputs", required_argument, NULL, OPT_OUTPUTS},
      {"help", no_argument, NULL, 'h'},
      {NULL, 0, NULL, 0},
  };
  nnd_cli_run_opts o;
  nnd_cli_run_opts_init(&o);
  long long top_k = 5;
  bool softmax = false;
  const char *outputs_path = NULL;
  int c;
  opterr = 0;
  optind = 0;
  while ((c = getopt_long(argc, argv, ":hv", long_opts, NULL)) != -1) {
    int r = nnd_cli_run_opt(&o, c, optarg, "run", usage);
    if (r >= 0) {
      if (r) return r;
      continue;
    }
    switch (c) {
    case 'h': nnd_cmd_run_help(stdout); return NND_EXIT_OK;
    case 'v': o.verbose = true; break;
    case OPT_SOFTMAX: softmax = true; break;
    case OPT_TOP:
      if (!nnd_cli_parse_count(optarg, 1000000, &top_k) || top_k < 1)
        return nnd_cli_usage_error(usage, "run: --top wants a positive number, got '%s'", optarg);
      break;
    case OPT_OUTPUTS:
      if (!*optarg) return nnd_cli_usage_error(usage, "run: --outputs needs a file name");
      if (strcmp(optarg, "-") == 0) /* stdout carries the report */
        return nnd_cli_usage_error(usage, "run: --outputs needs a file name, not '-'");
      outputs_path = optarg;
      break;
    case ':': return nnd_cli_usage_error(usage, "run: option '%s' needs a value", argv[optind - 1]);
    default:
      if (optopt) return nnd_cli_usage_error(usage, "run: unknown option '-%c'", optopt);
      return nnd_cli_usage_error(usage, "run: unknown option '%s'", argv[optind - 1]);
    }
  }
  if (optind >= argc) return nnd_cli_usage_error(usage, "run: missing MODEL (a model file)");
  if (argc - optind > 1)
    return nnd_cli_usage_error(usage,
                               "run: one MODEL at a time (got '%s' and '%s'); 'nndiff compare' "
                               "runs several",
                               argv[optind], argv[optind + 1]);
  if (!o.data)
    return nnd_cli_usage_error(usage, "run: missing --data (an image folder, an image, a .npy or "
                                      "a .npz)");
  const char *model_path = argv[optind];

  nnd_error err = {0};
  nnd_graph *g = NULL;
  nnd_dataset *ds = NULL;
  nnd_infer *runner = NULL;
  json_object *json = NULL;
  nnd_output_set *results = NULL;
  FILE *outputs_stream = NULL, *json_stream = NULL;
  bool committed = false;
  run_ctx ctx = {.top_k = (int)top_k, .softmax = softmax};
  int exit_code;
  nnd_preprocess pp;
  nnd_status st = nnd_cli_preprocess(o.preset, o.pre, &pp, &err);
  if (st) goto done;
  nnd_cli_stop_handlers_install();
  /* Every result path is checked before any work (a missing directory fails
   * now, not after the run); the results appear together or not at all. */
  st = nnd_output_set_create(&results, &err);
  if (!st && outputs_path) st = nnd_output_set_add(results, outputs_path, &outputs_stream, &err);
  if (!st && o.json) st = nnd_output_set_add(results, o.json, &json_stream, &err);
  if (st) goto done;
  st = nnd_cli_load_model(model_path, &g, &err);
  if (st) goto done;
  nnd_dataset_options dopt = {.labels_path = o.labels, .preprocess = &pp};
  st = nnd_dataset_open(o.data, &dopt, &ds, &err);
  if (st) goto done;
  bool tensor = nnd_dataset_get_kind(ds) == NND_DATASET_TENSOR;
  if (tensor && (o.preset || o.pre))
    nnd__fprintf_safe(stderr,
                      "nndiff: note: --preset/--pre do not apply: %s holds preprocessed tensors\n",
                      o.data);

  nnd_cli_progress progress;
  nnd_cli_progress_init(&progress);
  o.infer.on_output = on_output;
  o.infer.output_user = &ctx;
  o.infer.progress = nnd_cli_progress_update;
  o.infer.progress_user = &progress;
  o.infer.stop_flag = &nnd_cli_stop_signal;
  nnd_infer_model im = {.graph = g, .preprocess = &pp, .name = model_path};
  if (nnd_cli_stop_signal) goto done; /* planning engines can take a while */
  st = nnd_infer_create(ds, &im, 1, &o.infer, &runner, &err);
  if (st) goto done;
  nnd_infer_model_info info;
  nnd_infer_get_model_info(runner, 0, &info);
  ctx.ds = ds;
  ctx.total = nnd_infer_total(runner);
  ctx.numel = info.output_numel;
  if ((size_t)ctx.top_k > ctx.numel) ctx.top_k = (int)ctx.numel;
  ctx.rank_k = ctx.top_k > NND_OUTPUTS_TOPK ? ctx.top_k : NND_OUTPUTS_TOPK;
  ctx.items = calloc(ctx.total, sizeof *ctx.items);
  ctx.ranks = calloc(ctx.total * (size_t)ctx.rank_k, sizeof *ctx.ranks);
  ctx.scores = calloc(ctx.total * (size_t)ctx.top_k, sizeof *ctx.scores);
  ctx.probs = softmax ? calloc(ctx.numel, sizeof *ctx.probs) : NULL;
  ctx.nan_row = malloc(ctx.numel * sizeof *ctx.nan_row);
  if (!ctx.items || !ctx.ranks || !ctx.scores || (softmax && !ctx.probs) || !ctx.nan_row) {
    st = nnd_error_set(&err, NND_ERR_NOMEM, "out of memory");
    goto done;
  }
  for (size_t i = 0; i < ctx.numel; i++)
    ctx.nan_row[i] = NAN;
  if (outputs_path) {
    int64_t shape[NND_MAX_RANK + 1];
    shape[0] = (int64_t)ctx.total;
    for (int d = 0; d < info.output_rank; d++)
      shape[d + 1] = info.output_dims[d];
    st = nnd_npy_writer_open_stream(outputs_stream, outputs_path, NND_NPY_F32, shape,
                                    (size_t)info.output_rank + 1, &ctx.writer, &err);
    if (st) goto done;
  }

  nnd_infer_stats stats;
  st = nnd_infer_run(runner, &stats, &err);
  nnd_cli_progress_finish(&progress);
  if (st) goto done;
  if (nnd_cli_stop_signal) goto done;
  if (ctx.writer) {
    st = pad_rows(&ctx, ctx.total, &err);
    if (st) goto done;
  }
  size_t n_skipped;
  const nnd_infer_skip *skipped = nnd_infer_skipped(runner, &n_skipped);
  char data_text[1024];
  nnd_dataset_describe(ds, data_text, sizeof data_text);
  if (ctx.acc.labelled) {
    ctx.acc.top1 = (double)ctx.acc.top1_correct / (double)ctx.acc.labelled;
    ctx.acc.top5 = (double)ctx.acc.top5_correct / (double)ctx.acc.labelled;
  }
  nnd_run_data rd = {
      .model_path = model_path,
      .graph = g,
      .model = &info,
      .setup = {.data_path = o.data,
                .data_text = data_text,
                .tensor_data = tensor,
                .precision = o.infer.precision,
                .batch = info.batch,
                .threads = o.infer.threads,
                .on_error = o.infer.on_error,
                .total = ctx.total,
                .stats = &stats,
                .skipped = skipped,
                .n_skipped = n_skipped,
                .tool_version = NND_VERSION},
      .softmax = softmax,
      .n_items = ctx.n_items,
      .items = ctx.items,
      .has_labels = nnd_dataset_has_labels(ds) != 0,
      .accuracy = ctx.acc,
      .outputs_path = outputs_path,
  };
  bool json_on_stdout = o.json && strcmp(o.json, "-") == 0;
  if (o.json) {
    st = nnd_run_build_json(&rd, &json, &err);
    if (!st) st = nnd_report_print_json(json_stream, o.json, json, &err);
    if (st) goto done;
  }
  if (ctx.writer) {
    st = nnd_npy_writer_commit(ctx.writer, &err); /* checks every row is there */
    ctx.writer = NULL;
    if (st) goto done;
  }
  /* Results land only now, all together, unless a signal came meanwhile. */
  if (nnd_cli_stop_signal) goto done;
  st = nnd_output_set_commit(results, &err);
  results = NULL;
  if (st) goto done;
  committed = true;
  if (!json_on_stdout) st = nnd_run_write_text(stdout, &rd, o.verbose, &err);
done:
  nnd_npy_writer_abort(ctx.writer);
  nnd_output_set_abort(results);
  exit_code = nnd_cli_exit_code(st, &err, committed, NND_EXIT_OK);
  json_object_put(json);
  free(ctx.items);
  free(ctx.ranks);
  free(ctx.scores);
  free(ctx.probs);
  free(ctx.nan_row);
  nnd_infer_destroy(runner);
  nnd_dataset_close(ds);
  nnd_graph_destroy(g);
  return exit_code;
}
