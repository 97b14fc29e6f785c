/* Localisation: canonicalise, align, diff statically, compare activations,
 * and rank the suspects (docs/LOCALIZATION.md).
 *
 * Ranking. Each non-equivalent static finding is placed at a layer: its
 * aligned pair's, or for an extra/missing node the first aligned layer it
 * feeds (an inserted Pad sits with the convolution after it). Findings at
 * the same layer form one suspect. Score = the strongest finding's severity
 * (0.35..0.65, +0.05 per further finding), then, with data:
 *   +0.5  at the first layer whose activations leave the noise floor;
 *   x0.5  before that layer, its own activations within the floor (the
 *         difference has no measurable effect on these inputs);
 *   +0.3  at a later spike (the divergence jumps > 3x: a second fault);
 *   +0.4  at the output when no layer leaves the floor but the outputs
 *         differ (an appended Softmax).
 * A first divergence no static finding explains becomes a suspect of its
 * own (kind "activations", 0.5). */
#include <inttypes.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "analysis/localize_internal.h"
#include "nndiff/ir_edit.h"
#include "nndiff/localize.h"
#include "nndiff/passes.h"

void nnd_localize_options_init(nnd_localize_options *o) {
  memset(o, 0, sizeof *o);
  o->images = 5;
  o->floor_images = 1;
  o->threads = 1;
  o->floor_factor = NND_FLOOR_FACTOR;
  o->param_rtol = NND_PARAM_RTOL;
}

void nnd_localize_result_destroy(nnd_localize_result *r) {
  if (!r) return;
  for (int32_t l = 0; l < r->n_layers; l++)
    free(r->layers[l].rel_err);
  free(r->layers);
  free(r->findings);
  free(r->suspects);
  free(r->used);
  free(r->strings);
  nnd_alignment_destroy(r->align);
  nnd_canon_destroy(r->cs);
  nnd_canon_destroy(r->ct);
  free(r);
}

/* ------------------------------------------------------------ layers */

static nnd_status make_layers(nnd_localize_result *r, nnd_layout **s_layout, nnd_layout **t_layout,
                              nnd_error *err) {
  const nnd_alignment *A = r->align;
  r->layers = calloc((size_t)(A->n_pairs ? A->n_pairs : 1), sizeof *r->layers);
  *s_layout = calloc((size_t)(A->n_pairs ? A->n_pairs : 1), sizeof **s_layout);
  *t_layout = calloc((size_t)(A->n_pairs ? A->n_pairs : 1), sizeof **t_layout);
  if (!r->layers || !*s_layout || !*t_layout)
    return nnd_error_set(err, NND_ERR_NOMEM, "out of memory");
  /* in source topological order */
  for (int32_t s = 0; s < r->cs->n_nodes; s++) {
    if (A->s_pair[s] < 0) continue;
    nnd_layer_result *L = &r->layers[r->n_layers++];
    L->pair = A->s_pair[s];
    L->s_value = L->t_value = -1;
  }
  for (int32_t l = 0; l < r->n_layers; l++) {
    nnd_layer_result *L = &r->layers[l];
    const nnd_align_pair *p = &A->pairs[L->pair];
    const nnd_cnode *sn = &r->cs->nodes[p->s], *tn = &r->ct->nodes[p->t];
    if (sn->n_outputs > 0 && tn->n_outputs > 0) {
      const nnd_cvalue *sv = &r->cs->values[sn->outputs[0]], *tv = &r->ct->values[tn->outputs[0]];
      L->s_value = sv->value;
      L->t_value = tv->value;
      (*s_layout)[l] = sv->layout;
      (*t_layout)[l] = tv->layout;
    }
  }
  return NND_OK;
}

static int32_t layer_of_pair(const nnd_localize_result *r, int32_t pi) {
  for (int32_t l = 0; l < r->n_layers; l++)
    if (r->layers[l].pair == pi) return l;
  return -1;
}

/* First aligned layer downstream of canonical node cn in graph c (the
 * target when target is true). -1 when none (it feeds the outputs only). */
static int32_t downstream_layer(const nnd_localize_result *r, int32_t cn, bool target, int depth) {
  const nnd_cgraph *c = target ? r->ct : r->cs;
  const nnd_alignment *A = r->align;
  if (depth > 8 || cn < 0) return -1;
  const nnd_cnode *n = &c->nodes[cn];
  int32_t best = -1;
  for (int k = 0; k < n->n_outputs; k++) {
    const nnd_cvalue *v = &c->values[n->outputs[k]];
    for (int j = 0; j < v->n_consumers; j++) {
      int32_t x = v->consumers[j];
      int32_t pi = target ? A->t_pair[x] : A->s_pair[x];
      int32_t l = pi >= 0 ? layer_of_pair(r, pi) : downstream_layer(r, x, target, depth + 1);
      if (l >= 0 && (best < 0 || l < best)) best = l;
    }
  }
  return best;
}

/* Largest median divergence among the aligned layers feeding layer l
 * (through unaligned source nodes, a few deep); -1 when none is observed. */
static double input_divergence(const nnd_localize_result *r, int32_t s, int depth) {
  const nnd_cnode *n = &r->cs->nodes[s];
  double best = -1;
  for (int k = 0; k < n->n_inputs; k++) {
    int32_t p = r->cs->values[n->inputs[k]].producer;
    if (p < 0) {
      best = best > 0 ? best : 0; /* a graph input: no divergence */
      continue;
    }
    int32_t pi = r->align->s_pair[p];
    double d = -1;
    if (pi >= 0) {
      int32_t l = layer_of_pair(r, pi);
      if (l >= 0 && r->layers[l].observed) d = r->layers[l].rel_err_median;
    } else if (depth < 4) {
      d = input_divergence(r, p, depth + 1);
    }
    if (d > best) best = d;
  }
  return best;
}

static void summarise_layers(nnd_localize_result *r, double factor) {
  double floor_so_far = 0;
  r->first_divergence = -1;
  int n_spikes = 0;
  for (int32_t l = 0; l < r->n_layers; l++) {
    nnd_layer_result *L = &r->layers[l];
    if (!L->observed) continue;
    if (!L->floor_measured)
      L->floor = floor_so_far; /* not measured: extrapolate */
    else if (L->floor > floor_so_far)
      floor_so_far = L->floor;
    double fl = L->floor > NND_FLOOR_MIN ? L->floor : NND_FLOOR_MIN;
    L->ratio = L->rel_err_median / fl;
    L->n_over = 0;
    for (int i = 0; i < L->n_images; i++)
      if (!(L->rel_err[i] <= factor * fl)) L->n_over++;
    L->leaves_floor = L->shape_mismatch || (L->n_images > 0 && 2 * L->n_over >= L->n_images);
    if (L->leaves_floor && r->first_divergence < 0) {
      r->first_divergence = l;
      L->first_divergence = true;
      continue;
    }
    /* a spike: the divergence jumps > 3x over that of the layer's own inputs */
    if (r->first_divergence >= 0 && L->leaves_floor && !L->shape_mismatch && n_spikes < 16 &&
        L->rel_err_median > 1e-3 && isfinite(L->rel_err_median)) {
      double in = input_divergence(r, r->align->pairs[L->pair].s, 0);
      if (in >= 0 && L->rel_err_median > 3.0 * in) {
        L->spike = true;
        n_spikes++;
      }
    }
  }
}

/* ------------------------------------------------------------ suspects */

static void add_nodes(int32_t *list, int *n, int cap, const int32_t *src, int m) {
  for (int i = 0; i < m; i++) {
    bool dup = false;
    for (int k = 0; k < *n; k++)
      dup |= list[k] == src[i];
    if (!dup && *n < cap) list[(*n)++] = src[i];
  }
}

static void appendf(char *buf, size_t cap, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void appendf(char *buf, size_t cap, const char *fmt, ...) {
  size_t len = strlen(buf);
  if (len + 1 >= cap) return;
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(buf + len, cap - len, fmt, ap);
  va_end(ap);
}

/* "'name' (OpType)" of an original node. */
static void node_label(const nnd_graph *g, int32_t id, char *buf, size_t cap) {
  const nnd_node *nd = &g->nodes[id];
  const char *op = nd->prov.op_type && *nd->prov.op_type ? nd->prov.op_type : nnd_op_name(nd->op);
  snprintf(buf, cap, "'%s' (%s)", nd->name, op);
}

static void nodes_phrase(const nnd_graph *g, const int32_t *ids, int n, char *buf, size_t cap) {
  buf[0] = 0;
  for (int i = 0; i < n; i++) {
    char one[600];
    node_label(g, ids[i], one, sizeof one);
    appendf(buf, cap, "%s%s", i ? " + " : "", one);
  }
}

static void dyn_evidence(const nnd_localize_result *r, nnd_suspect *s, const nnd_layer_result *L,
                         int32_t layer) {
  if (!r->dynamic || !L || !L->observed) return;
  char ev[600];
  double fl = L->floor > NND_FLOOR_MIN ? L->floor : NND_FLOOR_MIN;
  if (L->shape_mismatch) {
    snprintf(ev, sizeof ev,
             " The activations here have different shapes in the two models (so they cannot be "
             "compared elementwise)%s.",
             layer == r->first_divergence ? ": the first divergence" : "");
  } else if (layer == r->first_divergence) {
    snprintf(ev, sizeof ev,
             " Activations first leave the noise floor here (rel. error %.2g vs floor %.2g, "
             "%.3gx) on %d/%d images.",
             L->rel_err_median, fl, L->ratio, L->n_over, L->n_images);
  } else if (!L->leaves_floor) {
    snprintf(ev, sizeof ev,
             " Activations here stay within the noise floor (rel. error %.2g vs floor %.2g): "
             "no measurable effect on these inputs.",
             L->rel_err_median, fl);
  } else {
    snprintf(ev, sizeof ev,
             " Activations here differ (rel. error %.2g vs floor %.2g on %d/%d images).",
             L->rel_err_median, fl, L->n_over, L->n_images);
  }
  appendf(s->evidence, sizeof s->evidence, "%s", ev);
}

/* How far the outputs may differ and still be rounding: 1e-4 of max |ys|, or
 * the floor-factor multiple of the output layer's own float32 error when
 * that is larger (deep models accumulate more). */
static double output_tolerance(const nnd_localize_result *r) {
  double tol = 1e-4;
  for (int32_t l = 0; l < r->n_layers; l++) {
    const nnd_layer_result *L = &r->layers[l];
    if (!L->observed || r->target->n_outputs < 1 || L->t_value != r->target->outputs[0]) continue;
    double t = r->floor_factor * L->floor_max_abs;
    if (t > tol) tol = t;
  }
  return tol;
}

static nnd_status rank_suspects(nnd_localize_result *r, nnd_error *err) {
  int32_t nf = r->n_findings;
  int32_t *loc = malloc((size_t)(nf ? nf : 1) * sizeof *loc);
  bool *used = calloc((size_t)(nf ? nf : 1), sizeof *used);
  r->suspects = calloc((size_t)(nf + 2), sizeof *r->suspects);
  if (!loc || !used || !r->suspects) {
    free(loc);
    free(used);
    return nnd_error_set(err, NND_ERR_NOMEM, "out of memory");
  }
  for (int32_t i = 0; i < nf; i++) {
    const nnd_finding *f = &r->findings[i];
    if (f->pair >= 0)
      loc[i] = layer_of_pair(r, f->pair);
    else if (f->t_cnode >= 0)
      loc[i] = downstream_layer(r, f->t_cnode, true, 0);
    else
      loc[i] = downstream_layer(r, f->s_cnode, false, 0);
  }
  bool outputs_differ = r->dynamic && r->max_output_rel_diff > output_tolerance(r);
  bool first_explained = false;
  for (int32_t i = 0; i < nf; i++) {
    if (used[i] || r->findings[i].equivalent) continue;
    nnd_suspect *s = &r->suspects[r->n_suspects++];
    s->layer = loc[i];
    double best = 0;
    for (int32_t j = i; j < nf; j++) {
      const nnd_finding *f = &r->findings[j];
      if (used[j] || f->equivalent || loc[j] != loc[i]) continue;
      if (loc[i] < 0 && j != i) continue; /* output-side findings stand alone */
      used[j] = true;
      if (s->n_findings < NND_SUSPECT_MAX_FINDINGS) s->findings[s->n_findings++] = j;
      if (f->severity > best) {
        best = f->severity;
        s->kind = f->kind;
      }
      add_nodes(s->t_nodes, &s->n_t_nodes, NND_SUSPECT_MAX_NODES, f->t_nodes, f->n_t_nodes);
      add_nodes(s->s_nodes, &s->n_s_nodes, NND_SUSPECT_MAX_NODES, f->s_nodes, f->n_s_nodes);
    }
    double score = best + 0.05 * (s->n_findings - 1);
    if (score > 0.75) score = 0.75;
    const nnd_layer_result *L = s->layer >= 0 ? &r->layers[s->layer] : NULL;
    if (r->dynamic) {
      if (r->first_divergence >= 0) {
        if (s->layer == r->first_divergence) {
          score += 0.5;
          s->at_first_divergence = true;
          first_explained = true;
        } else if (s->layer >= 0 && s->layer < r->first_divergence && L && L->observed &&
                   !L->leaves_floor) {
          score *= 0.5;
          s->upstream_quiet = true;
        } else if (L && L->spike) {
          score += 0.3; /* a second jump downstream: a second fault */
        }
      } else if (outputs_differ && s->layer < 0) {
        score += 0.4;
      } else if (L && L->observed && !L->leaves_floor) {
        score *= 0.6;
        s->upstream_quiet = true;
      }
    }
    s->score = score;
  }
  if (r->dynamic && r->first_divergence >= 0 && !first_explained) {
    nnd_suspect *s = &r->suspects[r->n_suspects++];
    const nnd_layer_result *L = &r->layers[r->first_divergence];
    const nnd_align_pair *p = &r->align->pairs[L->pair];
    s->kind = NND_FINDING_ACTIVATIONS;
    s->layer = r->first_divergence;
    s->at_first_divergence = true;
    s->score = 0.5;
    nnd__add_cnode_members(r->ct, p->t, 0, s->t_nodes, &s->n_t_nodes, NND_SUSPECT_MAX_NODES);
    nnd__add_cnode_members(r->cs, p->s, 0, s->s_nodes, &s->n_s_nodes, NND_SUSPECT_MAX_NODES);
    snprintf(s->evidence, sizeof s->evidence,
             "No static difference was found at this layer (parameters and hyperparameters "
             "agree, or are not comparable), yet its activations differ: the op is implemented "
             "differently, or the difference comes from an input the alignment did not pair.");
    snprintf(s->fix, sizeof s->fix,
             "compare this op's semantics (attributes nndiff does not model, opset differences) "
             "with the source's");
  }
  if (r->dynamic && r->n_suspects == 0 && outputs_differ) {
    nnd_suspect *s = &r->suspects[r->n_suspects++];
    s->kind = NND_FINDING_ACTIVATIONS;
    s->layer = -1;
    s->score = 0.3;
    snprintf(s->evidence, sizeof s->evidence,
             "The outputs differ (max |ys - yt| / max |ys| = %.3g) though every aligned layer "
             "stays within the noise floor: the difference is after the last aligned layer.",
             r->max_output_rel_diff);
    snprintf(s->fix, sizeof s->fix, "compare the nodes after the last aligned layer");
  }
  /* rank */
  for (int32_t i = 1; i < r->n_suspects; i++) {
    nnd_suspect x = r->suspects[i];
    int32_t j = i - 1;
    while (j >= 0 && r->suspects[j].score < x.score) {
      r->suspects[j + 1] = r->suspects[j];
      j--;
    }
    r->suspects[j + 1] = x;
  }
  /* words */
  for (int32_t i = 0; i < r->n_suspects; i++) {
    nnd_suspect *s = &r->suspects[i];
    s->rank = i + 1;
    char tp[480], sp[480];
    nodes_phrase(r->target, s->t_nodes, s->n_t_nodes, tp, sizeof tp);
    nodes_phrase(r->source, s->s_nodes, s->n_s_nodes, sp, sizeof sp);
    if (s->n_t_nodes && s->n_s_nodes)
      snprintf(s->headline, sizeof s->headline, "target %s %s \xe2\x89\x99 source %s %s",
               s->n_t_nodes > 1 ? "nodes" : "node", tp, s->n_s_nodes > 1 ? "nodes" : "node", sp);
    else if (s->n_t_nodes)
      snprintf(s->headline, sizeof s->headline, "target %s %s (no counterpart in the source)",
               s->n_t_nodes > 1 ? "nodes" : "node", tp);
    else if (s->n_s_nodes)
      snprintf(s->headline, sizeof s->headline, "source %s %s (no counterpart in the target)",
               s->n_s_nodes > 1 ? "nodes" : "node", sp);
    else
      snprintf(s->headline, sizeof s->headline, "the model outputs");
    if (s->n_findings) {
      s->evidence[0] = 0;
      s->fix[0] = 0;
      for (int k = 0; k < s->n_findings; k++) {
        const nnd_finding *f = &r->findings[s->findings[k]];
        /* the same sentence (several extra nodes of one kind) once, counted */
        int same = 1;
        bool seen = false;
        for (int j = 0; j < s->n_findings; j++) {
          if (j == k || strcmp(r->findings[s->findings[j]].text, f->text) != 0) continue;
          if (j < k) seen = true;
          same++;
        }
        if (seen) continue;
        char first =
            f->text[0] >= 'a' && f->text[0] <= 'z' ? (char)(f->text[0] - 'a' + 'A') : f->text[0];
        if (first) {
          appendf(s->evidence, sizeof s->evidence, "%s%c%s", s->evidence[0] ? " " : "", first,
                  f->text + 1);
          if (same > 1) appendf(s->evidence, sizeof s->evidence, " (x%d)", same);
          appendf(s->evidence, sizeof s->evidence, ".");
        }
        if (f->fix[0] && !strstr(s->fix, f->fix))
          appendf(s->fix, sizeof s->fix, "%s%s", s->fix[0] ? "; " : "", f->fix);
      }
    }
    dyn_evidence(r, s, s->layer >= 0 ? &r->layers[s->layer] : NULL, s->layer);
  }
  free(loc);
  free(used);
  return NND_OK;
}

/* ------------------------------------------------------------ driver */

/* False once the analysis must end: after a failure, or at a stop request
 * (honoured between phases, and inside the dynamic one between inputs and
 * engine runs), which marks the result stopped. */
static bool go_on(nnd_localize_result *r, const nnd_localize_options *o, nnd_status st) {
  if (st != NND_OK) return false;
  if (!r->stopped && nnd__localize_stop(o)) r->stopped = true;
  return !r->stopped;
}

nnd_status nnd_localize_run(const nnd_graph *source, const nnd_graph *target, nnd_dataset *data,
                            const nnd_localize_options *opt_in, nnd_localize_result **out,
                            nnd_error *err) {
  *out = NULL;
  nnd_localize_options opt;
  if (opt_in)
    opt = *opt_in;
  else
    nnd_localize_options_init(&opt);
  if (opt.floor_factor <= 0) opt.floor_factor = NND_FLOOR_FACTOR;
  if (opt.param_rtol <= 0) opt.param_rtol = NND_PARAM_RTOL;
  double t0 = nnd__now();
  nnd_layout *s_layout = NULL, *t_layout = NULL;
  nnd__findings fl = {0};
  nnd_localize_result *r = calloc(1, sizeof *r);
  if (!r) return nnd_error_set(err, NND_ERR_NOMEM, "out of memory");
  r->first_divergence = -1;
  r->floor_factor = opt.floor_factor;
  r->param_rtol = opt.param_rtol;
  r->source_file_nodes = source->n_nodes;
  r->target_file_nodes = target->n_nodes;
  /* Analyse the normal forms (passes.h; each canonical graph owns its
   * model's): constants spelled differently (tied initialisers behind
   * Identity, Constant nodes, float16 weights behind Cast) become the same
   * constants, BatchNorms fold, activations fuse. Findings name the files'
   * nodes; the engine runs the files. */
  r->source = source;
  r->target = target;
  nnd_status st = NND_OK;
  if (go_on(r, &opt, st)) st = nnd_canon_build_traced(source, opt.trace, "source", &r->cs, err);
  if (go_on(r, &opt, st)) st = nnd_canon_build_traced(target, opt.trace, "target", &r->ct, err);
  if (go_on(r, &opt, st)) st = nnd_align(r->cs, r->ct, &r->align, err);
  if (go_on(r, &opt, st)) st = make_layers(r, &s_layout, &t_layout, err);
  if (go_on(r, &opt, st))
    st = nnd__static_findings(r->cs, r->ct, r->align, opt.param_rtol, &fl, r->layers, r->n_layers,
                              err);
  r->findings = fl.items;
  r->n_findings = fl.n;
  if (go_on(r, &opt, st) && data) {
    nnd__act_io io = {.source = source,
                      .target = target,
                      .data = data,
                      .opt = &opt,
                      .layers = r->layers,
                      .n_layers = r->n_layers,
                      .s_layout = s_layout,
                      .t_layout = t_layout,
                      .res = r};
    st = nnd__run_outputs_and_layers(&io, err);
    if (go_on(r, &opt, st)) {
      r->dynamic = true;
      summarise_layers(r, opt.floor_factor);
    }
  }
  if (go_on(r, &opt, st)) st = rank_suspects(r, err);
  free(s_layout);
  free(t_layout);
  if (st != NND_OK) {
    nnd_localize_result_destroy(r);
    return st;
  }
  if (r->stopped) {
    *out = r; /* incomplete: no verdict */
    return NND_OK;
  }
  bool any = false;
  for (int32_t i = 0; i < r->n_findings; i++)
    any |= !r->findings[i].equivalent;
  r->equivalent =
      !any && r->n_suspects == 0 &&
      (!r->dynamic || (r->first_divergence < 0 && r->max_output_rel_diff <= output_tolerance(r)));
  r->seconds_total = nnd__now() - t0;
  *out = r;
  return NND_OK;
}
