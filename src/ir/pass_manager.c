/* The pass manager: named passes run to a fixed point, with a trace. */
#include <string.h>
#include <time.h>

#include "nndiff/passes.h"

void nnd_pass_ctx_init(nnd_pass_ctx *ctx) {
  memset(ctx, 0, sizeof *ctx);
  ctx->max_fold_elements = 64 * 1024 * 1024;
}

static const nnd_pass *const builtin[] = {&nnd_pass_fold_constants,    &nnd_pass_drop_aliases,
                                          &nnd_pass_layout_transposes, &nnd_pass_absorb_zero_pad,
                                          &nnd_pass_fold_batchnorm,    &nnd_pass_fuse_activation,
                                          &nnd_pass_flatten_form,      &nnd_pass_dce};

const nnd_pass *const *nnd_passes_builtin(int *n_out) {
  *n_out = (int)(sizeof builtin / sizeof builtin[0]);
  return builtin;
}

const nnd_pass *nnd_pass_find(const char *name) {
  for (size_t i = 0; name && i < sizeof builtin / sizeof builtin[0]; i++)
    if (strcmp(builtin[i]->name, name) == 0) return builtin[i];
  return NULL;
}

static double now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

nnd_status nnd_passes_run(nnd_graph *g, const nnd_pass *const *passes, int n_passes,
                          const nnd_pass_ctx *ctx_in, int max_rounds, int64_t *total_changes,
                          nnd_error *err) {
  nnd_pass_ctx ctx;
  if (ctx_in)
    ctx = *ctx_in;
  else
    nnd_pass_ctx_init(&ctx);
  if (max_rounds <= 0) max_rounds = 16;
  int64_t total = 0;
  for (int round = 1; round <= max_rounds; round++) {
    int64_t round_changes = 0;
    for (int p = 0; p < n_passes; p++) {
      int64_t n = 0;
      double t0 = now_ms();
      nnd_status st = passes[p]->run(g, &ctx, &n, err);
      if (st != NND_OK) return st;
      if (ctx.trace)
        fprintf(ctx.trace, "nndiff: %s%spass %s, round %d: %lld change%s (%.1f ms), %d nodes\n",
                ctx.model_label ? ctx.model_label : "", ctx.model_label ? ": " : "",
                passes[p]->name, round, (long long)n, n == 1 ? "" : "s", now_ms() - t0,
                (int)g->n_nodes);
      round_changes += n;
    }
    total += round_changes;
    if (round_changes == 0) break;
  }
  if (total_changes) *total_changes = total;
  return NND_OK;
}

nnd_status nnd_passes_analysis_form(nnd_graph *g, FILE *trace, const char *label,
                                    nnd_pass_record *record, nnd_error *err) {
  nnd_pass_ctx ctx;
  nnd_pass_ctx_init(&ctx);
  ctx.analysis = true;
  ctx.trace = trace;
  ctx.model_label = label;
  ctx.record = record;
  /* Constants first (a BatchNorm's statistics behind Identity become
   * constants), then layouts (the channel axis), then the folds that need
   * both; dce last removes what the others left unread. */
  return nnd_passes_run(g, builtin, (int)(sizeof builtin / sizeof builtin[0]), &ctx, 0, NULL, err);
}
