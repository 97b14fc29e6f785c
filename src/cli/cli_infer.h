/* What the commands that run models (run, compare, localize) share: the options for
 * data, preprocessing and the engine; the stop-on-signal handling that keeps
 * result files whole; the progress bar on stderr. */
#ifndef NND_CLI_CLI_INFER_H
#define NND_CLI_CLI_INFER_H

#include <signal.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "nndiff/data.h"
#include "nndiff/infer.h"

/* Options every model-running command takes. */
typedef struct nnd_cli_run_opts {
  const char *data;   /* --data */
  const char *preset; /* --preset */
  const char *pre;    /* --pre */
  const char *labels; /* --labels */
  const char *json;   /* --json */
  nnd_infer_options infer;
  bool verbose;
} nnd_cli_run_opts;

/* getopt_long codes of the shared options (beyond the ASCII range). */
enum {
  NND_OPT_DATA = 0x100,
  NND_OPT_PRESET,
  NND_OPT_PRE,
  NND_OPT_LABELS,
  NND_OPT_JSON,
  NND_OPT_THREADS,
  NND_OPT_BATCH,
  NND_OPT_ON_ERROR,
  NND_OPT_PRECISION,
  NND_OPT_LIMIT,
  NND_OPT_VERBOSE,
  NND_OPT_MAX_MEMORY,
  NND_OPT_FIRST_OWN /* commands number their own options from here */
};

/* The struct option entries of the shared options, for a command's table. */
#define NND_CLI_RUN_LONG_OPTS                                                                      \
  {"data", required_argument, NULL, NND_OPT_DATA},                                                 \
      {"preset", required_argument, NULL, NND_OPT_PRESET},                                         \
      {"pre", required_argument, NULL, NND_OPT_PRE},                                               \
      {"labels", required_argument, NULL, NND_OPT_LABELS},                                         \
      {"json", required_argument, NULL, NND_OPT_JSON},                                             \
      {"threads", required_argument, NULL, NND_OPT_THREADS},                                       \
      {"batch", required_argument, NULL, NND_OPT_BATCH},                                           \
      {"on-error", required_argument, NULL, NND_OPT_ON_ERROR},                                     \
      {"precision", required_argument, NULL, NND_OPT_PRECISION},                                   \
      {"limit", required_argument, NULL, NND_OPT_LIMIT},                                           \
      {"max-memory", required_argument, NULL, NND_OPT_MAX_MEMORY}, {                               \
    "verbose", no_argument, NULL, NND_OPT_VERBOSE                                                  \
  }

/* The shared options localize and repair take: the data and engine ones,
 * without labels, batch, on-error and precision (the analyses choose those). */
#define NND_CLI_ANALYSIS_LONG_OPTS                                                                 \
  {"data", required_argument, NULL, NND_OPT_DATA},                                                 \
      {"json", required_argument, NULL, NND_OPT_JSON},                                             \
      {"preset", required_argument, NULL, NND_OPT_PRESET},                                         \
      {"pre", required_argument, NULL, NND_OPT_PRE},                                               \
      {"threads", required_argument, NULL, NND_OPT_THREADS},                                       \
      {"limit", required_argument, NULL, NND_OPT_LIMIT},                                           \
      {"max-memory", required_argument, NULL, NND_OPT_MAX_MEMORY}, {                               \
    "verbose", no_argument, NULL, NND_OPT_VERBOSE                                                  \
  }

/* Defaults; the memory budget from nnd_cli_default_max_memory. */
void nnd_cli_run_opts_init(nnd_cli_run_opts *o);

/* Handles one shared option. Returns 0 when handled, -1 when `code` is not
 * a shared option, or NND_EXIT_USAGE after printing the message (cmd names
 * the command, usage is its usage line). */
int nnd_cli_run_opt(nnd_cli_run_opts *o, int code, const char *arg, const char *cmd,
                    const char *usage);

/* Parses a non-negative integer option value; false when it is not one. */
bool nnd_cli_parse_count(const char *s, long long max, long long *out);

/* The preprocessing of --preset P and --pre SPEC together: P (or
 * torchvision) first, then SPEC's items over it. */
nnd_status nnd_cli_preprocess(const char *preset, const char *pre, nnd_preprocess *out,
                              nnd_error *err);

/* ---- stopping on SIGINT / SIGTERM ---- */

/* Set by the handler to the signal number; the inference loop polls it. */
extern volatile sig_atomic_t nnd_cli_stop_signal;
/* Installs handlers for SIGINT and SIGTERM that only set the flag. */
void nnd_cli_stop_handlers_install(void);
/* Prints "nndiff: interrupted by SIGTERM: no result file written" and
 * returns the conventional exit code (128 + the signal: 130, 143). */
int nnd_cli_stopped(void);

/* The exit code a model-running command ends with: 128 + the signal (after
 * nnd_cli_stopped's line) when a stop signal came before its results were
 * committed, whatever st says (a write the signal cut short fails too);
 * else nnd_cli_fail's code when st failed; else ok_code. */
int nnd_cli_exit_code(nnd_status st, const nnd_error *err, bool committed, int ok_code);

/* ---- progress bar ---- */

typedef struct nnd_cli_progress {
  bool enabled; /* stderr is a terminal */
  double last;  /* time of the last redraw */
  bool drawn;
} nnd_cli_progress;

void nnd_cli_progress_init(nnd_cli_progress *p);
/* An nnd_infer_progress_fn (user: the nnd_cli_progress). At most ~10
 * redraws a second: done/total, percentage, a bar, rate and ETA. */
void nnd_cli_progress_update(void *user, const nnd_infer_progress *pr);
/* Erases the bar so the report starts on a clean line. */
void nnd_cli_progress_finish(nnd_cli_progress *p);

#endif
