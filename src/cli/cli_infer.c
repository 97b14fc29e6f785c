/* Shared pieces of the model-running commands (see cli_infer.h). */
#include "cli/cli_infer.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cli/cli.h"
#include "cli/cli_limits.h"

void nnd_cli_run_opts_init(nnd_cli_run_opts *o) {
  memset(o, 0, sizeof *o);
  nnd_infer_options_init(&o->infer);
  o->infer.max_memory = nnd_cli_default_max_memory();
  o->infer.max_memory_hint = "--max-memory";
}

bool nnd_cli_parse_count(const char *s, long long max, long long *out) {
  if (!s || !*s || *s == '-' || *s == '+') return false;
  errno = 0;
  char *end;
  long long v = strtoll(s, &end, 10);
  if (errno || *end || v < 0 || v > max) return false;
  *out = v;
  return true;
}

int nnd_cli_run_opt(nnd_cli_run_opts *o, int code, const char *arg, const char *cmd,
                    const char *usage) {
  long long v;
  switch (code) {
  case NND_OPT_DATA: o->data = arg; return 0;
  case NND_OPT_PRESET: o->preset = arg; return 0;
  case NND_OPT_PRE: o->pre = arg; return 0;
  case NND_OPT_LABELS: o->labels = arg; return 0;
  case NND_OPT_JSON:
    if (!*arg)
      return nnd_cli_usage_error(usage, "%s: --json needs a file name, or '-' for stdout", cmd);
    o->json = arg;
    return 0;
  case NND_OPT_VERBOSE: o->verbose = true; return 0;
  case NND_OPT_THREADS:
    if (!nnd_cli_parse_count(arg, NND_CLI_MAX_THREADS, &v))
      return nnd_cli_usage_error(usage, "%s: --threads wants a number from 0 to %d, got '%s'", cmd,
                                 NND_CLI_MAX_THREADS, arg);
    o->infer.threads = nnd_cli_threads(cmd, v);
    return 0;
  case NND_OPT_MAX_MEMORY:
    if (!nnd_cli_parse_max_memory(arg, &o->infer.max_memory))
      return nnd_cli_usage_error(
          usage, "%s: --max-memory wants a size such as 512M or 4G (0: no budget), got '%s'", cmd,
          arg);
    return 0;
  case NND_OPT_BATCH:
    if (!nnd_cli_parse_count(arg, 4096, &v) || v < 1)
      return nnd_cli_usage_error(usage, "%s: --batch wants a number from 1 to 4096, got '%s'", cmd,
                                 arg);
    o->infer.batch = v;
    return 0;
  case NND_OPT_LIMIT:
    if (!nnd_cli_parse_count(arg, LLONG_MAX, &v) || v < 1)
      return nnd_cli_usage_error(usage, "%s: --limit wants a positive number, got '%s'", cmd, arg);
    o->infer.limit = (size_t)v;
    return 0;
  case NND_OPT_ON_ERROR:
    if (strcmp(arg, "skip") == 0)
      o->infer.on_error = NND_ON_ERROR_SKIP;
    else if (strcmp(arg, "fail") == 0)
      o->infer.on_error = NND_ON_ERROR_FAIL;
    else
      return nnd_cli_usage_error(usage, "%s: --on-error wants 'skip' or 'fail', got '%s'", cmd,
                                 arg);
    return 0;
  case NND_OPT_PRECISION:
    if (strcmp(arg, "fast") == 0)
      o->infer.precision = NND_PRECISION_FAST;
    else if (strcmp(arg, "reference") == 0 || strcmp(arg, "ref") == 0)
      o->infer.precision = NND_PRECISION_REFERENCE;
    else
      return nnd_cli_usage_error(usage, "%s: --precision wants 'fast' or 'reference', got '%s'",
                                 cmd, arg);
    return 0;
  default: return -1;
  }
}

nnd_status nnd_cli_preprocess(const char *preset, const char *pre, nnd_preprocess *out,
                              nnd_error *err) {
  size_t n = (preset ? strlen(preset) : 0) + (pre ? strlen(pre) : 0) + 2;
  char *spec = malloc(n);
  if (!spec) return nnd_error_set(err, NND_ERR_NOMEM, "out of memory");
  /* A bare preset name may only come first: --preset goes before --pre. */
  snprintf(spec, n, "%s%s%s", preset ? preset : "", preset && pre ? ";" : "", pre ? pre : "");
  nnd_status st = nnd_preprocess_from_options(spec, out, err);
  free(spec);
  return st;
}

/* ------------------------------------------------------------ signals */

volatile sig_atomic_t nnd_cli_stop_signal = 0;

static void on_stop_signal(int sig) { nnd_cli_stop_signal = sig; }

void nnd_cli_stop_handlers_install(void) {
  struct sigaction sa;
  memset(&sa, 0, sizeof sa);
  sa.sa_handler = on_stop_signal;
  sigemptyset(&sa.sa_mask);
  sa.sa_flags = SA_RESTART; /* writes in progress finish; the loop polls the flag */
  sigaction(SIGINT, &sa, NULL);
  sigaction(SIGTERM, &sa, NULL);
}

int nnd_cli_stopped(void) {
  int sig = nnd_cli_stop_signal;
  fprintf(stderr, "nndiff: interrupted by %s: stopped early, no result file written\n",
          sig == SIGINT    ? "SIGINT"
          : sig == SIGTERM ? "SIGTERM"
                           : "a signal");
  return 128 + sig;
}

int nnd_cli_exit_code(nnd_status st, const nnd_error *err, bool committed, int ok_code) {
  if (nnd_cli_stop_signal && !committed) return nnd_cli_stopped();
  if (st != NND_OK) return nnd_cli_fail(err);
  return ok_code;
}

/* ----------------------------------------------------------- progress */

static double now_seconds(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

void nnd_cli_progress_init(nnd_cli_progress *p) {
  memset(p, 0, sizeof *p);
  p->enabled = isatty(STDERR_FILENO) == 1;
}

static void fmt_eta(double s, char *buf, size_t cap) {
  if (!(s >= 0) || s > 360000) {
    snprintf(buf, cap, "--:--");
    return;
  }
  long t = (long)(s + 0.5);
  if (t >= 3600)
    snprintf(buf, cap, "%ld:%02ld:%02ld", t / 3600, t / 60 % 60, t % 60);
  else
    snprintf(buf, cap, "%ld:%02ld", t / 60, t % 60);
}

void nnd_cli_progress_update(void *user, const nnd_infer_progress *pr) {
  nnd_cli_progress *p = user;
  if (!p->enabled) return;
  double t = now_seconds();
  bool last = pr->done >= pr->total;
  if (p->drawn && !last && t - p->last < 0.1) return;
  p->last = t;
  enum { BAR = 24 };
  char bar[BAR + 1], eta[32];
  size_t filled = pr->total ? (size_t)((double)BAR * (double)pr->done / (double)pr->total) : 0;
  for (size_t i = 0; i < BAR; i++)
    bar[i] = i < filled ? '#' : '.';
  bar[BAR] = '\0';
  double rate = pr->elapsed > 0 ? (double)pr->done / pr->elapsed : 0;
  fmt_eta(rate > 0 ? (double)(pr->total - pr->done) / rate : -1, eta, sizeof eta);
  fprintf(stderr, "\r%zu/%zu %3.0f%% [%s] %.1f img/s ETA %s", pr->done, pr->total,
          pr->total ? 100.0 * (double)pr->done / (double)pr->total : 100.0, bar, rate, eta);
  if (pr->skipped) fprintf(stderr, " (%zu skipped)", pr->skipped);
  fputs("\033[K", stderr); /* clear what a longer previous line left */
  fflush(stderr);
  p->drawn = true;
}

void nnd_cli_progress_finish(nnd_cli_progress *p) {
  if (p->enabled && p->drawn) {
    fputs("\r\033[K", stderr);
    fflush(stderr);
  }
  p->drawn = false;
}
