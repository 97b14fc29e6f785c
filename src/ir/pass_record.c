/* The pass record: where the rewritten graph's nodes came from and which
 * file nodes were merged into which, kept while passes compact the node
 * array. Analyses use it to name the file's nodes in their findings. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ir/pass_util.h"

nnd_status nnd_pass_record_init(nnd_pass_record *r, const nnd_graph *g, nnd_error *err) {
  memset(r, 0, sizeof *r);
  size_t n = (size_t)(g->n_nodes ? g->n_nodes : 1);
  r->origin = malloc(n * sizeof *r->origin);
  r->bias_terms = malloc(n * sizeof *r->bias_terms);
  if (!r->origin || !r->bias_terms) {
    nnd_pass_record_free(r);
    return nnd_error_set(err, NND_ERR_NOMEM, "out of memory recording passes");
  }
  for (int32_t i = 0; i < g->n_nodes; i++)
    r->origin[i] = i, r->bias_terms[i] = -1;
  r->n_nodes = r->n_file_nodes = g->n_nodes;
  return NND_OK;
}

void nnd_pass_record_free(nnd_pass_record *r) {
  if (!r) return;
  free(r->origin);
  free(r->merges);
  free(r->bias_terms);
  memset(r, 0, sizeof *r);
}

nnd_status nnd__pass_remove_nodes(nnd_graph *g, const nnd_pass_ctx *ctx, const bool *remove,
                                  nnd_error *err) {
  nnd_pass_record *r = ctx ? ctx->record : NULL;
  if (!r || r->n_nodes != g->n_nodes) return nnd_graph_remove_nodes(g, remove, NULL, err);
  int32_t kept = 0;
  for (int32_t i = 0; i < r->n_nodes; i++)
    if (!remove[i]) r->origin[kept++] = r->origin[i];
  nnd_status st = nnd_graph_remove_nodes(g, remove, NULL, err);
  r->n_nodes = g->n_nodes;
  return st;
}

static int32_t origin_of(const nnd_pass_record *r, int32_t node) {
  return node >= 0 && node < r->n_nodes ? r->origin[node] : -1;
}

nnd_status nnd__pass_merge(const nnd_pass_ctx *ctx, int32_t into, int32_t from, nnd_merge_role role,
                           nnd_error *err) {
  nnd_pass_record *r = ctx ? ctx->record : NULL;
  if (!r) return NND_OK;
  int32_t a = origin_of(r, into), b = origin_of(r, from);
  if (a < 0 || b < 0) return NND_OK;
  if (r->n_merges == r->cap_merges) {
    int32_t cap = r->cap_merges ? 2 * r->cap_merges : 64;
    nnd_pass_merge *p = realloc(r->merges, (size_t)cap * sizeof *p);
    if (!p) return nnd_error_set(err, NND_ERR_NOMEM, "out of memory recording passes");
    r->merges = p;
    r->cap_merges = cap;
  }
  r->merges[r->n_merges++] = (nnd_pass_merge){a, b, role};
  return NND_OK;
}

int32_t nnd__pass_bias_terms(const nnd_pass_ctx *ctx, int32_t node) {
  nnd_pass_record *r = ctx ? ctx->record : NULL;
  if (!r) return -1;
  int32_t o = origin_of(r, node);
  return o >= 0 && o < r->n_file_nodes ? r->bias_terms[o] : -1;
}

void nnd__pass_set_bias_terms(const nnd_pass_ctx *ctx, int32_t node, int32_t value) {
  nnd_pass_record *r = ctx ? ctx->record : NULL;
  if (!r) return;
  int32_t o = origin_of(r, node);
  if (o >= 0 && o < r->n_file_nodes) r->bias_terms[o] = value;
}
