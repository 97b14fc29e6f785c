/* `nndiff repair SOURCE TARGET --data D -o FIXED`: edit the converted
 * model until it computes what its source computes, verify the edits on
 * inputs they were not found on, and write the repaired file. */
#include <errno.h>
#include <getopt.h>
#include <json-c/json.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli/cli.h"
#include "cli/cli_infer.h"
#include "cli/cli_limits.h"
#include "nndiff/data.h"
#include "nndiff/model.h"
#include "nndiff/report.h"
#include "nndiff/repair.h"
#include "util/output_set.h"

static const char usage[] =
    "usage: nndiff repair SOURCE TARGET --data D (-o FIXED | --dry-run) [--json F]\n"
    "                     [--max-edits K] [--verify-split F] [--force] [--images K|all]\n"
    "                     [--preset P] [--pre SPEC] [--threads N] [--limit N]\n"
    "                     [--max-memory SIZE] [--verbose]";

void nnd_cmd_repair_help(FILE *out) {
  fprintf(out,
          "%s\n"
          "\n"
          "Edit TARGET (e.g. what a converter produced) until it computes what SOURCE\n"
          "computes, prove it on inputs the edits were not found on, and write the\n"
          "repaired model to FIXED in TARGET's own format. TARGET is never changed.\n"
          "\n"
          "How: D is split in two, interleaved (--verify-split, half by default).\n"
          "`localize` runs on the first part and its findings become candidate edits:\n"
          "copy parameters from the aligned source layer (BatchNorm folded in double\n"
          "precision when the target has it folded, converted to the target's layout\n"
          "and dtype), copy hyperparameters (pads, strides, dilations, epsilon, clip\n"
          "bounds, ceil_mode...), replace an op by the source's (Sub -> Add,\n"
          "LeakyRelu -> Relu, MaxPool -> AveragePool), remove an inserted node (a\n"
          "reflect Pad, a Softmax). Candidates are tried in localize's order on a\n"
          "copy of the target, run with the nndiff engine on the first part; an edit\n"
          "is kept only if it lowers the discrepancy (labels that differ first, then\n"
          "the largest output difference), until no label differs and the outputs\n"
          "are within %gx the source's own float32 noise, or nothing helps. Edits\n"
          "the others do without are dropped (a minimal set). Then both parts are\n"
          "measured: before, after each edit, after all. A repair that makes the\n"
          "held-out part worse is not kept. Method: docs/REPAIR.md.\n"
          "\n"
          "Options:\n"
          "  --data D          the inputs: an image folder, an image, a .npy [N, ...] or\n"
          "                    \"file.npz:member\" (at least 2 inputs)\n"
          "  -o, --output FIXED  where the repaired model goes (refused when it exists,\n"
          "                    unless --force; never the TARGET file itself). It appears\n"
          "                    complete or not at all\n"
          "  --dry-run         search and measure, write no model (the figures are the\n"
          "                    nndiff engine's on the edited graph)\n"
          "  --json F          also write the result as JSON (F '-': JSON on stdout\n"
          "                    instead of the text); schema nndiff.repair/1\n"
          "  --max-edits K     keep at most K edits (default 8)\n"
          "  --verify-split F  share of D held out to verify, 0 < F < 1 (default 0.5)\n"
          "  --force           replace an existing FIXED\n"
          "  --images K|all    inputs localize analyses layer by layer (default 5)\n"
          "  --preset P        preprocessing for image folders (default torchvision): %s\n"
          "  --pre SPEC        preprocessing items over the preset, as for `run`\n"
          "  --threads N       engine threads (default 1; 0 = every CPU available)\n"
          "  --limit N         use only the first N inputs of D\n"
          "  --max-memory SIZE memory budget per engine, e.g. 512M, 4G (0: none)\n"
          "  --verbose         one line per candidate tried, on stderr\n"
          "  -h, --help        show this help\n"
          "\n"
          "Exit status: 0 the repaired model (or the target, when nothing needed\n"
          "repair) matches the source on every input of D; 1 a discrepancy remains\n"
          "(the report says what is left and why; no model is written when no edit\n"
          "helps); 2 bad usage or input (also: FIXED exists without --force, or the\n"
          "target's format cannot be written yet); 3 internal error; 130/143\n"
          "interrupted (nothing is written).\n"
          "\n"
          "Examples:\n"
          "  nndiff repair resnet18.onnx converted.onnx --data photos/ -o fixed.onnx\n"
          "  nndiff repair src.onnx dst.onnx --data x.npy --dry-run --json repair.json\n",
          usage, NND_REPAIR_FLOOR_FACTOR, nnd_preprocess_preset_names());
}

enum { OPT_OUTPUT = NND_OPT_FIRST_OWN, OPT_DRY, OPT_MAX_EDITS, OPT_SPLIT, OPT_FORCE, OPT_IMAGES };

/* Whether a and b name the same file (b need not exist). */
static bool same_file(const char *a, const char *b) {
  struct stat sa, sb;
  if (stat(a, &sa) != 0 || stat(b, &sb) != 0) return false;
  return sa.st_dev == sb.st_dev && sa.st_ino == sb.st_ino;
}

int nnd_cmd_repair(int argc, char **argv) {
  static const struct option long_opts[] = {
      NND_CLI_ANALYSIS_LONG_OPTS,
      {"output", required_argument, NULL, OPT_OUTPUT},
      {"dry-run", no_argument, NULL, OPT_DRY},
      {"max-edits", required_argument, NULL, OPT_MAX_EDITS},
      {"verify-split", required_argument, NULL, OPT_SPLIT},
      {"force", no_argument, NULL, OPT_FORCE},
      {"images", required_argument, NULL, OPT_IMAGES},
      {"help", no_argument, NULL, 'h'},
      {NULL, 0, NULL, 0},
  };
  nnd_cli_run_opts ro;
  nnd_cli_run_opts_init(&ro);
  nnd_repair_options opt;
  nnd_repair_options_init(&opt);
  const char *out_path = NULL;
  bool dry = false, force = false;
  int c;
  long long v;
  char *end;
  opterr = 0;
  optind = 0;
  while ((c = getopt_long(argc, argv, ":ho:", long_opts, NULL)) != -1) {
    int handled = nnd_cli_run_opt(&ro, c, optarg, "repair", usage);
    if (handled > 0) return handled;
    if (handled == 0) continue;
    switch (c) {
    case 'o':
    case OPT_OUTPUT:
      if (!*optarg) return nnd_cli_usage_error(usage, "repair: -o needs a file name");
      out_path = optarg;
      break;
    case OPT_DRY: dry = true; break;
    case OPT_FORCE: force = true; break;
    case OPT_MAX_EDITS:
      if (!nnd_cli_parse_count(optarg, 1000, &v) || v < 1)
        return nnd_cli_usage_error(usage, "repair: --max-edits needs a count 1..1000, got '%s'",
                                   optarg);
      opt.max_edits = (int)v;
      break;
    case OPT_SPLIT:
      errno = 0;
      opt.verify_split = strtod(optarg, &end);
      if (errno || *end || end == optarg || !(opt.verify_split > 0 && opt.verify_split < 1))
        return nnd_cli_usage_error(
            usage, "repair: --verify-split needs a share between 0 and 1 (e.g. 0.5), got '%s'",
            optarg);
      break;
    case OPT_IMAGES:
      if (strcmp(optarg, "all") == 0)
        opt.localize.images = -1;
      else if (nnd_cli_parse_count(optarg, 1000000, &v) && v >= 1)
        opt.localize.images = (int)v;
      else
        return nnd_cli_usage_error(usage, "repair: --images needs a count >= 1 or 'all', got '%s'",
                                   optarg);
      break;
    case 'h': nnd_cmd_repair_help(stdout); return NND_EXIT_OK;
    case ':':
      return nnd_cli_usage_error(usage, "repair: option '%s' needs a value", argv[optind - 1]);
    default:
      if (optopt) return nnd_cli_usage_error(usage, "repair: unknown option '-%c'", optopt);
      return nnd_cli_usage_error(usage, "repair: unknown option '%s'", argv[optind - 1]);
    }
  }
  if (argc - optind < 2)
    return nnd_cli_usage_error(usage, "repair: needs two models, SOURCE and TARGET");
  if (argc - optind > 2)
    return nnd_cli_usage_error(usage, "repair: two models only (got %d)", argc - optind);
  const char *source_path = argv[optind], *target_path = argv[optind + 1];
  if (!ro.data || !*ro.data)
    return nnd_cli_usage_error(usage, "repair: needs --data: the inputs to repair and verify on");
  if (!out_path && !dry)
    return nnd_cli_usage_error(usage, "repair: needs -o FIXED (or --dry-run to write nothing)");
  if (dry) out_path = NULL;
  if (out_path && (same_file(out_path, target_path) || strcmp(out_path, target_path) == 0))
    return nnd_cli_usage_error(usage, "repair: -o '%s' is the target itself; the target is never "
                                      "overwritten",
                               out_path);
  if (out_path && same_file(out_path, source_path))
    return nnd_cli_usage_error(usage, "repair: -o '%s' is the source model", out_path);
  struct stat so;
  if (out_path && !force && lstat(out_path, &so) == 0)
    return nnd_cli_usage_error(usage, "repair: '%s' exists; give --force to replace it", out_path);
  const char *json_path = ro.json;
  bool json_stdout = json_path && strcmp(json_path, "-") == 0;
  opt.threads = ro.infer.threads;
  opt.limit = (int64_t)ro.infer.limit;
  opt.max_memory = ro.infer.max_memory;
  if (ro.verbose) {
    opt.progress = stderr;
    opt.localize.trace = stderr;
  }

  nnd_error err = {0};
  nnd_graph *gs = NULL, *gt = NULL;
  nnd_dataset *ds = NULL;
  nnd_repair_result *r = NULL;
  json_object *json = NULL;
  nnd_output_set *results = NULL;
  FILE *json_stream = NULL;
  char *tmp_model = NULL;
  bool committed = false, wrote = false;
  nnd_cli_stop_handlers_install();
  opt.stop_flag = &nnd_cli_stop_signal;
  nnd_status st = nnd_output_set_create(&results, &err);
  if (st == NND_OK && json_path) st = nnd_output_set_add(results, json_path, &json_stream, &err);
  if (st == NND_OK) st = nnd_cli_load_model(source_path, &gs, &err);
  if (st == NND_OK) st = nnd_cli_load_model(target_path, &gt, &err);
  if (st == NND_OK) {
    nnd_preprocess pp;
    nnd_dataset_options dopt = {0};
    st = nnd_cli_preprocess(ro.preset, ro.pre, &pp, &err);
    dopt.preprocess = &pp;
    dopt.no_auto_labels = 1;
    if (st == NND_OK) st = nnd_dataset_open(ro.data, &dopt, &ds, &err);
  }
  if (st == NND_OK && !nnd_cli_stop_signal) st = nnd_repair_run(gs, gt, ds, &opt, &r, &err);
  bool go = st == NND_OK && !nnd_cli_stop_signal && r && !r->stopped;
  if (go && r->localize && ds) {
    nnd_dataset_describe(ds, r->localize->data_desc, sizeof r->localize->data_desc);
  }
  /* The model goes to a temporary file beside FIXED first; it is renamed
   * into place only once the JSON is committed too. */
  bool write_model = go && out_path && r->n_edits > 0;
  if (write_model) {
    if (asprintf(&tmp_model, "%s.nndiff-tmp-%ld", out_path, (long)getpid()) < 0) {
      tmp_model = NULL;
      st = nnd_error_set(&err, NND_ERR_NOMEM, "out of memory");
    } else {
      nnd_edit *edits = malloc((size_t)r->n_edits * sizeof *edits);
      if (!edits) {
        st = nnd_error_set(&err, NND_ERR_NOMEM, "out of memory");
      } else {
        for (int i = 0; i < r->n_edits; i++)
          edits[i] = r->edits[i].edit;
        st = nnd_model_write_edited(target_path, gt, edits, (size_t)r->n_edits, tmp_model, &err);
        free(edits);
      }
    }
  }
  /* The file, not only the edited graph: loaded again and run on the
   * verification part, it must agree with what the search measured, else
   * no model is claimed (nor left) */
  if (write_model && st == NND_OK) {
    nnd_graph *gw = NULL;
    nnd_repair_score ws;
    nnd_error werr = {0};
    nnd_status wst = nnd_cli_load_model(tmp_model, &gw, &werr);
    if (wst == NND_OK) wst = nnd_repair_score_graph(gw, r, &opt, &ws, &werr);
    nnd_graph_destroy(gw);
    if (wst != NND_OK || !nnd_repair_score_agrees(r, &ws)) {
      write_model = false;
      unlink(tmp_model);
      if (wst != NND_OK)
        snprintf(r->left, sizeof r->left,
                 "the repaired model was written but cannot be run again (%.800s); it is not kept",
                 werr.message);
      else
        snprintf(r->left, sizeof r->left,
                 "the written model does not compute what the edited graph did (verification: "
                 "%lld/%lld labels differ, relative difference %.3g; the edited graph: %lld, "
                 "%.3g): a writer fault, the model is not kept",
                 (long long)ws.n_label_diff, (long long)ws.n_inputs, ws.rel_diff,
                 (long long)r->after_verify.n_label_diff, r->after_verify.rel_diff);
      r->matches = false;
      fprintf(stderr, "nndiff: repair: %s\n", r->left);
    }
  }
  const char *reported_out = write_model ? out_path : NULL;
  if (st == NND_OK && go && json_path) {
    st = nnd_repair_build_json(r, NND_VERSION, reported_out, &json, &err);
    if (st == NND_OK) st = nnd_report_print_json(json_stream, json_path, json, &err);
  }
  if (st == NND_OK && go && !nnd_cli_stop_signal) {
    st = nnd_output_set_commit(results, &err);
    results = NULL;
    committed = st == NND_OK;
  }
  if (committed && write_model) {
    if (rename(tmp_model, out_path) != 0)
      st = nnd_error_set(&err, NND_ERR_IO, "%s: cannot write the repaired model: %s", out_path,
                         strerror(errno));
    else
      wrote = true;
  }
  if (tmp_model && !wrote) unlink(tmp_model);
  if (committed && st == NND_OK && !json_stdout)
    st = nnd_repair_write_text(stdout, r, reported_out, &err);
  nnd_output_set_abort(results);
  int rc = nnd_cli_exit_code(st, &err, committed, r && r->matches ? NND_EXIT_OK : NND_EXIT_DIFFER);
  free(tmp_model);
  json_object_put(json);
  nnd_repair_result_destroy(r);
  nnd_dataset_close(ds);
  nnd_graph_destroy(gs);
  nnd_graph_destroy(gt);
  return rc;
}
