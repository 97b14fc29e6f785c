/* Reports of `nndiff localize`: the diagnosis as text (suspects first,
 * with evidence and a fix, then the alignment and the layer table), and the
 * JSON document (schema nndiff.localize/1). Computes nothing but order and
 * formatting. */
#include <errno.h>
#include <json-c/json.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "nndiff/localize.h"
#include "nndiff/report.h"
#include "util/safe_text.h"

/* ------------------------------------------------------------ helpers */

static const char *node_op(const nnd_graph *g, int32_t id) {
  const nnd_node *nd = &g->nodes[id];
  return nd->prov.op_type && *nd->prov.op_type ? nd->prov.op_type : nnd_op_name(nd->op);
}

/* Names of a canonical node's members, "a + b". */
static void members_text(const nnd_cgraph *c, int32_t cn, char *buf, size_t cap) {
  buf[0] = 0;
  size_t len = 0;
  const nnd_cnode *n = &c->nodes[cn];
  for (int m = 0; m < n->n_members && len < cap; m++)
    len += (size_t)snprintf(buf + len, cap - len, "%s%s", m ? " + " : "",
                            c->graph->nodes[n->members[m].node].name);
}

static void fmt_num(char *buf, size_t cap, double v) {
  if (isnan(v))
    snprintf(buf, cap, "-");
  else if (isinf(v))
    snprintf(buf, cap, "inf");
  else if (v == 0)
    snprintf(buf, cap, "0");
  else
    snprintf(buf, cap, "%.2g", v);
}

/* The name sanitised (it comes from the file), then cut to its last
 * `width` bytes behind "..." when longer. */
static void shorten(const char *s, char *buf, size_t cap, size_t width) {
  char safe[512];
  size_t n = nnd__safe_copy(safe, sizeof safe, s, strlen(s)), at = 0;
  const char *from = safe;
  if (n > width && width >= 4 && cap > 3) {
    memcpy(buf, "...", 3);
    at = 3;
    from = safe + (n - (width - 3));
  }
  size_t k = strlen(from);
  if (k > cap - 1 - at) k = cap - 1 - at;
  memcpy(buf + at, from, k);
  buf[at + k] = '\0';
}

/* ------------------------------------------------------------ text */

/* Writes text wrapped at `width` columns, every line after the first
 * indented by `indent` spaces (the first line is assumed already indented
 * by the caller to `first` columns). Words longer than a line stay whole. */
static void write_wrapped(FILE *out, const char *text, int first, int indent, int width) {
  int col = first;
  bool line_start = true;
  const char *p = text;
  while (*p) {
    while (*p == ' ')
      p++;
    if (!*p) break;
    const char *e = p;
    while (*e && *e != ' ')
      e++;
    int len = (int)(e - p);
    if (!line_start && col + 1 + len > width) {
      nnd__fprintf_safe(out, "\n%*s", indent, "");
      col = indent;
    } else if (!line_start) {
      fputc(' ', out);
      col++;
    }
    line_start = false;
    nnd__fwrite_safe(p, (size_t)len, out); /* the text quotes node names */
    col += len;
    p = e;
  }
  fputc('\n', out);
}

static void write_layer_row(FILE *out, const nnd_localize_result *r, int32_t l) {
  const nnd_layer_result *L = &r->layers[l];
  const nnd_align_pair *p = &r->align->pairs[L->pair];
  char sname[64], tname[64], dw[16], db[16], re[16], fl[16], ra[16];
  shorten(nnd_cnode_name(r->cs, p->s), sname, sizeof sname, 44);
  shorten(nnd_cnode_name(r->ct, p->t), tname, sizeof tname, 40);
  fmt_num(dw, sizeof dw, L->has_weight ? L->weight.mean_abs : NAN);
  fmt_num(db, sizeof db, L->has_bias ? L->bias.mean_abs : NAN);
  fmt_num(re, sizeof re, L->observed ? L->rel_err_median : NAN);
  fmt_num(fl, sizeof fl, L->observed ? (L->floor > NND_FLOOR_MIN ? L->floor : NND_FLOOR_MIN) : NAN);
  if (L->shape_mismatch)
    snprintf(ra, sizeof ra, "shape");
  else
    fmt_num(ra, sizeof ra, L->observed ? L->ratio : NAN);
  const char *mark = L->first_divergence ? "<- first divergence" : L->spike ? "<- spike" : "";
  nnd__fprintf_safe(out, "  %4d  %-44s  %-40s  %-13s  %8s %8s  %8s %8s %8s %2d/%-2d %s\n", l, sname,
                    tname, nnd_cnode_op_type(r->ct, p->t), dw, db, re, fl, ra, L->n_over,
                    L->n_images, mark);
}

nnd_status nnd_localize_write_text(FILE *out, const nnd_localize_result *r, bool all_layers,
                                   nnd_error *err) {
  const nnd_alignment *A = r->align;
  nnd__fprintf_safe(
      out,
      "source: %s (%d nodes -> %d canonical layers; %d BatchNorm folded, %d activations fused)\n",
      r->source->info.path ? r->source->info.path : "?", r->source_file_nodes, r->cs->n_nodes,
      r->cs->n_folded_bn, r->cs->n_fused_act);
  nnd__fprintf_safe(
      out,
      "target: %s (%d nodes -> %d canonical layers; %d BatchNorm folded, %d activations fused)\n",
      r->target->info.path ? r->target->info.path : "?", r->target_file_nodes, r->ct->n_nodes,
      r->ct->n_folded_bn, r->ct->n_fused_act);
  if (r->dynamic) {
    nnd__fprintf_safe(out, "data:   %s\n", r->data_desc);
    if (r->preprocess_desc[0]) nnd__fprintf_safe(out, "        %s\n", r->preprocess_desc);
    nnd__fprintf_safe(
        out,
        "        %lld input%s run through both models: top-1 differs on %lld (%.1f%%), "
        "max |ys - yt| / max |ys| = %.3g\n",
        (long long)r->n_evaluated, r->n_evaluated == 1 ? "" : "s", (long long)r->n_label_diff,
        r->n_evaluated ? 100.0 * (double)r->n_label_diff / (double)r->n_evaluated : 0.0,
        r->max_output_rel_diff);
    nnd__fprintf_safe(out, "        layers compared on %lld input%s (", (long long)r->n_used,
                      r->n_used == 1 ? "" : "s");
    for (int64_t i = 0; i < r->n_used && i < 8; i++)
      nnd__fprintf_safe(out, "%s%s", i ? ", " : "", r->used[i].name);
    nnd__fprintf_safe(out, "%s); noise floor on %d\n", r->n_used > 8 ? ", ..." : "",
                      r->n_floor_images);
  } else {
    nnd__fprintf_safe(
        out, "data:   none (static comparison only; give --data to compare activations)\n");
  }
  nnd__fprintf_safe(out, "\n");
  if (r->equivalent) {
    nnd__fprintf_safe(
        out,
        "Verdict: EQUIVALENT. The target computes the same function as the source:\n"
        "every layer is aligned, parameters agree within float rounding (after BatchNorm\n"
        "folding), hyperparameters agree%s.\n",
        r->dynamic ? ", and every layer's activations stay within the noise floor" : "");
  } else {
    nnd__fprintf_safe(out, "Verdict: the models DIFFER: %d suspect%s.\n", r->n_suspects,
                      r->n_suspects == 1 ? "" : "s");
  }
  /* many low-confidence pairs: probably two different networks */
  double conf_sum = 0;
  for (int32_t i = 0; i < A->n_pairs; i++)
    conf_sum += A->pairs[i].confidence;
  double conf_mean = A->n_pairs ? conf_sum / A->n_pairs : 0;
  int32_t n_nodes = r->cs->n_nodes > r->ct->n_nodes ? r->cs->n_nodes : r->ct->n_nodes;
  if (!r->equivalent && n_nodes > 0 &&
      (conf_mean < 0.8 || (double)(A->n_extra + A->n_missing) > 0.25 * (double)n_nodes))
    nnd__fprintf_safe(out,
                      "Note: only %d of %d layers align (mean confidence %.2f): these look like "
                      "different networks rather than one network converted with a fault; the\n"
                      "suspects below describe how they differ, not a single fault.\n",
                      A->n_pairs, n_nodes, conf_mean);
  const int32_t max_text = 10;
  for (int32_t i = 0; i < r->n_suspects && i < max_text; i++) {
    const nnd_suspect *s = &r->suspects[i];
    char head[64];
    int n = snprintf(head, sizeof head, "Suspect %d (score %.2f, %s):", s->rank, s->score,
                     nnd_finding_kind_name(s->kind));
    nnd__fprintf_safe(out, "\n%s ", head);
    write_wrapped(out, s->headline, n + 1, 4, 100);
    nnd__fprintf_safe(out, "  ");
    write_wrapped(out, s->evidence, 2, 2, 100);
    if (s->fix[0]) {
      char fix[300];
      snprintf(fix, sizeof fix, "Fix: %s.", s->fix);
      nnd__fprintf_safe(out, "  ");
      write_wrapped(out, fix, 2, 7, 100);
    }
    for (int k = 0; k < s->n_findings; k++) {
      const nnd_finding *f = &r->findings[s->findings[k]];
      if (!f->has_edit) continue;
      char edit[400], line[420];
      nnd_edit_format(&f->edit, edit, sizeof edit);
      snprintf(line, sizeof line, "Edit: %s", edit);
      fprintf(out, "  ");
      write_wrapped(out, line, 2, 8, 100);
    }
  }
  if (r->n_suspects > max_text)
    nnd__fprintf_safe(out, "\n... %d more suspect%s (scores %.2f and below) in --json.\n",
                      r->n_suspects - max_text, r->n_suspects - max_text == 1 ? "" : "s",
                      r->suspects[max_text].score);
  /* equivalent differences */
  int n_eq = 0;
  for (int32_t i = 0; i < r->n_findings; i++)
    n_eq += r->findings[i].equivalent;
  if (n_eq || r->cs->n_folded_bn != r->ct->n_folded_bn) {
    nnd__fprintf_safe(out, "\nDifferences judged equivalent:\n");
    if (r->cs->n_folded_bn != r->ct->n_folded_bn)
      nnd__fprintf_safe(
          out,
          "  - BatchNorm: %d folded in the source, %d in the target (folded here in double "
          "precision; the parameters compare after folding)\n",
          r->cs->n_folded_bn, r->ct->n_folded_bn);
    int shown = 0;
    for (int32_t i = 0; i < r->n_findings && shown < 12; i++) {
      if (!r->findings[i].equivalent) continue;
      nnd__fprintf_safe(out, "  - %s\n", r->findings[i].text);
      shown++;
    }
    if (n_eq > shown) nnd__fprintf_safe(out, "  - ... %d more (see --json)\n", n_eq - shown);
  }
  /* alignment */
  double cmin = 1, csum = 0;
  (void)conf_mean;
  for (int32_t i = 0; i < A->n_pairs; i++) {
    if (A->pairs[i].confidence < cmin) cmin = A->pairs[i].confidence;
    csum += A->pairs[i].confidence;
  }
  nnd__fprintf_safe(
      out,
      "\nAlignment: %d target layers matched to source layers (confidence min %.2f, mean "
      "%.2f); %d extra in the target, %d missing from it.\n",
      A->n_pairs, A->n_pairs ? cmin : 0, A->n_pairs ? csum / A->n_pairs : 0, A->n_extra,
      A->n_missing);
  /* layers */
  if (r->n_layers) {
    nnd__fprintf_safe(
        out,
        "\nLayers (source order; mean|dW|, mean|db|: mean |Ps - Pt| after folding; rel.err: "
        "||t - s|| / ||s||,\nmedian over the inputs; floor: source float32 vs float64; "
        "ratio = rel.err / floor; over: inputs above %.0fx floor):\n",
        r->floor_factor);
    nnd__fprintf_safe(out, "  %4s  %-44s  %-40s  %-13s  %8s %8s  %8s %8s %8s %5s\n", "#", "source",
                      "target", "op", "mean|dW|", "mean|db|", "rel.err", "floor", "ratio", "over");
    int32_t fd = r->first_divergence;
    int32_t last_printed = -1;
    for (int32_t l = 0; l < r->n_layers; l++) {
      const nnd_layer_result *L = &r->layers[l];
      bool show = all_layers || r->n_layers <= 40 || L->spike ||
                  (fd >= 0 && l >= fd - 3 && l <= fd + 3) ||
                  (fd < 0 && (l < 5 || l >= r->n_layers - 5)) ||
                  (L->has_weight && L->weight.pattern != NND_PARAM_EQUAL) ||
                  (L->has_bias && L->bias.pattern != NND_PARAM_EQUAL) || l == r->n_layers - 1;
      if (!show) continue;
      if (last_printed >= 0 && l > last_printed + 1) nnd__fprintf_safe(out, "  %4s\n", "...");
      write_layer_row(out, r, l);
      last_printed = l;
    }
  }
  if (r->dynamic)
    nnd__fprintf_safe(out, "\nTime: %.1f s (outputs %.1f s, layers %.1f s, noise floor %.1f s)\n",
                      r->seconds_total, r->seconds_outputs, r->seconds_layers, r->seconds_floor);
  if (fflush(out) != 0 || ferror(out))
    return nnd_error_set(err, NND_ERR_IO, "cannot write the report: %s", strerror(errno));
  return NND_OK;
}

/* ------------------------------------------------------------ JSON */

static json_object *jnum(double v) {
  if (isnan(v)) return NULL;
  if (isinf(v)) return json_object_new_string(v > 0 ? "inf" : "-inf");
  return json_object_new_double(v);
}

static json_object *node_names(const nnd_graph *g, const int32_t *ids, int n) {
  json_object *a = json_object_new_array();
  for (int i = 0; i < n; i++)
    json_object_array_add(a, json_object_new_string(g->nodes[ids[i]].name));
  return a;
}

static json_object *cnode_names(const nnd_cgraph *c, int32_t cn) {
  json_object *a = json_object_new_array();
  if (cn < 0) return a;
  const nnd_cnode *n = &c->nodes[cn];
  for (int m = 0; m < n->n_members; m++)
    json_object_array_add(a, json_object_new_string(c->graph->nodes[n->members[m].node].name));
  return a;
}

static json_object *param_json(const nnd_param_diff *d) {
  json_object *o = json_object_new_object();
  json_object_object_add(o, "pattern", json_object_new_string(nnd_param_pattern_name(d->pattern)));
  json_object_object_add(o, "mean_abs_diff", jnum(d->mean_abs));
  json_object_object_add(o, "max_abs_diff", jnum(d->max_abs));
  json_object_object_add(o, "rel_l2", jnum(d->rel_l2));
  json_object_object_add(o, "max_rel", jnum(d->max_rel));
  json_object_object_add(o, "n_differ", json_object_new_int64(d->n_differ));
  json_object_object_add(o, "n_total", json_object_new_int64(d->n_total));
  json_object_object_add(o, "mean_abs_source", jnum(d->mean_abs_source));
  json_object_object_add(o, "cosine", jnum(d->cosine));
  if (d->pattern == NND_PARAM_ROWS_ROLLED)
    json_object_object_add(o, "shift", json_object_new_int64(d->shift));
  if (d->pattern == NND_PARAM_KERNEL_FLIPPED)
    json_object_object_add(o, "flip_axes", json_object_new_int(d->flip_axes));
  if (d->pattern == NND_PARAM_CHANNEL_SCALED) {
    json_object_object_add(o, "scale_min", jnum(d->scale_min));
    json_object_object_add(o, "scale_max", jnum(d->scale_max));
  }
  return o;
}

/* An edit record: what repair would apply (ir_edit.h). */
static json_object *edit_json(const nnd_edit *e) {
  json_object *o = json_object_new_object();
  json_object_object_add(o, "kind", json_object_new_string(nnd_edit_kind_name(e->kind)));
  json_object_object_add(o, e->node >= 0 ? "node" : "tensor",
                         json_object_new_string(e->target_name));
  json_object_object_add(o, "field", json_object_new_string(e->field));
  json_object_object_add(o, "old", json_object_new_string(e->old_text));
  json_object_object_add(o, "new", json_object_new_string(e->new_text));
  return o;
}

static json_object *finding_json(const nnd_localize_result *r, const nnd_finding *f) {
  json_object *o = json_object_new_object();
  json_object_object_add(o, "kind", json_object_new_string(nnd_finding_kind_name(f->kind)));
  json_object_object_add(o, "code", json_object_new_string(f->code ? f->code : ""));
  json_object_object_add(o, "equivalent", json_object_new_boolean(f->equivalent));
  json_object_object_add(o, "severity", jnum(f->severity));
  json_object_object_add(o, "target_nodes", node_names(r->target, f->t_nodes, f->n_t_nodes));
  json_object_object_add(o, "source_nodes", node_names(r->source, f->s_nodes, f->n_s_nodes));
  json_object_object_add(o, "text", json_object_new_string(f->text));
  if (f->fix[0]) json_object_object_add(o, "fix", json_object_new_string(f->fix));
  if (f->has_edit) json_object_object_add(o, "edit", edit_json(&f->edit));
  if (f->kind == NND_FINDING_PARAMETERS)
    json_object_object_add(o, "parameters", param_json(&f->param));
  if (f->source_value[0] || f->target_value[0]) {
    json_object_object_add(o, "source_value", json_object_new_string(f->source_value));
    json_object_object_add(o, "target_value", json_object_new_string(f->target_value));
  }
  return o;
}

nnd_status nnd_localize_build_json(const nnd_localize_result *r, const char *tool_version,
                                   json_object **json_out, nnd_error *err) {
  json_object *root = json_object_new_object();
  if (!root) return nnd_error_set(err, NND_ERR_NOMEM, "out of memory building JSON");
  const nnd_alignment *A = r->align;
  json_object_object_add(root, "schema", json_object_new_string("nndiff.localize/1"));
  json_object *tool = json_object_new_object();
  json_object_object_add(tool, "name", json_object_new_string("nndiff"));
  if (tool_version) json_object_object_add(tool, "version", json_object_new_string(tool_version));
  json_object_object_add(root, "tool", tool);
  json_object_object_add(root, "source",
                         json_object_new_string(r->source->info.path ? r->source->info.path : ""));
  json_object_object_add(root, "target",
                         json_object_new_string(r->target->info.path ? r->target->info.path : ""));
  json_object_object_add(root, "equivalent", json_object_new_boolean(r->equivalent));

  /* suspects */
  json_object *sus = json_object_new_array();
  for (int32_t i = 0; i < r->n_suspects; i++) {
    const nnd_suspect *s = &r->suspects[i];
    json_object *o = json_object_new_object();
    json_object_object_add(o, "rank", json_object_new_int(s->rank));
    json_object_object_add(o, "kind", json_object_new_string(nnd_finding_kind_name(s->kind)));
    json_object_object_add(o, "target_nodes", node_names(r->target, s->t_nodes, s->n_t_nodes));
    json_object_object_add(o, "source_nodes", node_names(r->source, s->s_nodes, s->n_s_nodes));
    json_object_object_add(o, "score", jnum(s->score));
    json_object_object_add(o, "headline", json_object_new_string(s->headline));
    json_object *ev = json_object_new_object();
    json_object_object_add(ev, "text", json_object_new_string(s->evidence));
    json_object *fa = json_object_new_array();
    for (int k = 0; k < s->n_findings; k++)
      json_object_array_add(fa, finding_json(r, &r->findings[s->findings[k]]));
    json_object_object_add(ev, "findings", fa);
    json_object_object_add(ev, "at_first_divergence",
                           json_object_new_boolean(s->at_first_divergence));
    json_object_object_add(ev, "upstream_within_floor", json_object_new_boolean(s->upstream_quiet));
    if (s->layer >= 0) {
      const nnd_layer_result *L = &r->layers[s->layer];
      json_object_object_add(ev, "layer", json_object_new_int(s->layer));
      if (L->observed) {
        json_object_object_add(ev, "activation_rel_err", jnum(L->rel_err_median));
        json_object_object_add(ev, "noise_floor", jnum(L->floor));
        json_object_object_add(ev, "images_over_floor", json_object_new_int(L->n_over));
        json_object_object_add(ev, "images", json_object_new_int(L->n_images));
      }
    }
    json_object_object_add(o, "evidence", ev);
    json_object_object_add(o, "fix", json_object_new_string(s->fix));
    json_object_array_add(sus, o);
  }
  json_object_object_add(root, "suspects", sus);

  /* alignment */
  json_object *al = json_object_new_array();
  for (int32_t i = 0; i < A->n_pairs; i++) {
    const nnd_align_pair *p = &A->pairs[i];
    json_object *o = json_object_new_object();
    json_object_object_add(o, "target_nodes", cnode_names(r->ct, p->t));
    json_object_object_add(o, "source_nodes", cnode_names(r->cs, p->s));
    json_object_object_add(o, "op", json_object_new_string(nnd_op_name(r->ct->nodes[p->t].op)));
    json_object_object_add(
        o, "match", json_object_new_string(p->kind == NND_MATCH_SAME ? "same" : "substituted"));
    json_object_object_add(o, "confidence", jnum(p->confidence));
    json_object_object_add(o, "weight_cosine", jnum(p->weight_cosine));
    /* activation similarity of the pair on the analysed inputs (confirms the pairing
     * upstream of the first divergence) */
    for (int32_t l = 0; l < r->n_layers; l++)
      if (r->layers[l].pair == i && r->layers[l].observed)
        json_object_object_add(o, "activation_correlation", jnum(r->layers[l].correlation));
    json_object_array_add(al, o);
  }
  for (int32_t i = 0; i < A->n_extra; i++) {
    json_object *o = json_object_new_object();
    json_object_object_add(o, "target_nodes", cnode_names(r->ct, A->extra[i]));
    json_object_object_add(o, "source_nodes", json_object_new_array());
    json_object_object_add(o, "match", json_object_new_string("extra"));
    json_object_object_add(o, "confidence", json_object_new_double(0));
    json_object_array_add(al, o);
  }
  for (int32_t i = 0; i < A->n_missing; i++) {
    json_object *o = json_object_new_object();
    json_object_object_add(o, "target_nodes", json_object_new_array());
    json_object_object_add(o, "source_nodes", cnode_names(r->cs, A->missing[i]));
    json_object_object_add(o, "match", json_object_new_string("missing"));
    json_object_object_add(o, "confidence", json_object_new_double(0));
    json_object_array_add(al, o);
  }
  json_object_object_add(root, "alignment", al);

  /* layers */
  json_object *layers = json_object_new_array();
  for (int32_t l = 0; l < r->n_layers; l++) {
    const nnd_layer_result *L = &r->layers[l];
    const nnd_align_pair *p = &A->pairs[L->pair];
    json_object *o = json_object_new_object();
    json_object_object_add(o, "index", json_object_new_int(l));
    json_object_object_add(o, "op", json_object_new_string(nnd_cnode_op_type(r->ct, p->t)));
    json_object_object_add(o, "target_nodes", cnode_names(r->ct, p->t));
    json_object_object_add(o, "source_nodes", cnode_names(r->cs, p->s));
    if (L->has_weight) json_object_object_add(o, "weights", param_json(&L->weight));
    if (L->has_bias) json_object_object_add(o, "bias", param_json(&L->bias));
    if (L->observed) {
      json_object *act = json_object_new_object();
      json_object *per = json_object_new_array();
      for (int i = 0; i < L->n_images; i++)
        json_object_array_add(per, jnum(L->rel_err[i]));
      json_object_object_add(act, "rel_err", per);
      json_object_object_add(act, "rel_err_median", jnum(L->rel_err_median));
      json_object_object_add(act, "rel_err_max", jnum(L->rel_err_max));
      json_object_object_add(act, "max_abs_err_normalised", jnum(L->max_abs_err));
      json_object_object_add(act, "correlation", jnum(L->correlation));
      json_object_object_add(act, "noise_floor", jnum(L->floor));
      json_object_object_add(act, "noise_floor_max_abs", jnum(L->floor_max_abs));
      json_object_object_add(act, "noise_floor_measured",
                             json_object_new_boolean(L->floor_measured));
      json_object_object_add(act, "ratio", jnum(L->ratio));
      json_object_object_add(act, "images_over_floor", json_object_new_int(L->n_over));
      json_object_object_add(act, "leaves_floor", json_object_new_boolean(L->leaves_floor));
      json_object_object_add(act, "shape_mismatch", json_object_new_boolean(L->shape_mismatch));
      json_object_object_add(act, "first_divergence", json_object_new_boolean(L->first_divergence));
      json_object_object_add(act, "spike", json_object_new_boolean(L->spike));
      json_object_object_add(o, "activations", act);
    }
    json_object_array_add(layers, o);
  }
  json_object_object_add(root, "layers", layers);

  /* every static finding, equivalent ones included */
  json_object *fa = json_object_new_array();
  for (int32_t i = 0; i < r->n_findings; i++)
    json_object_array_add(fa, finding_json(r, &r->findings[i]));
  json_object_object_add(root, "findings", fa);

  json_object *in = json_object_new_array();
  for (int64_t i = 0; i < r->n_used; i++) {
    const nnd_localize_input *u = &r->used[i];
    json_object *o = json_object_new_object();
    json_object_object_add(o, "index", json_object_new_int64(u->index));
    json_object_object_add(o, "name", json_object_new_string(u->name));
    json_object_object_add(o, "label_source", json_object_new_int64(u->label_source));
    json_object_object_add(o, "label_target", json_object_new_int64(u->label_target));
    json_object_object_add(o, "output_rel_diff", jnum(u->output_rel_diff));
    json_object_object_add(o, "noise_floor_input", json_object_new_boolean(i < r->n_floor_images));
    json_object_array_add(in, o);
  }
  json_object_object_add(root, "inputs_used", in);
  json_object *data = json_object_new_object();
  json_object_object_add(data, "description", json_object_new_string(r->data_desc));
  json_object_object_add(data, "preprocessing", json_object_new_string(r->preprocess_desc));
  json_object_object_add(data, "inputs_run", json_object_new_int64(r->n_evaluated));
  json_object_object_add(data, "label_discrepancies", json_object_new_int64(r->n_label_diff));
  json_object_object_add(data, "max_output_rel_diff", jnum(r->max_output_rel_diff));
  json_object_object_add(root, "data", data);
  json_object *th = json_object_new_object();
  json_object_object_add(th, "floor_factor", jnum(r->floor_factor));
  json_object_object_add(th, "floor_min", jnum(NND_FLOOR_MIN));
  json_object_object_add(th, "param_rtol", jnum(r->param_rtol));
  json_object_object_add(root, "thresholds", th);
  json_object *tm = json_object_new_object();
  json_object_object_add(tm, "total", jnum(r->seconds_total));
  json_object_object_add(tm, "outputs", jnum(r->seconds_outputs));
  json_object_object_add(tm, "layers", jnum(r->seconds_layers));
  json_object_object_add(tm, "noise_floor", jnum(r->seconds_floor));
  json_object_object_add(root, "seconds", tm);
  *json_out = root;
  (void)members_text;
  (void)node_op;
  return NND_OK;
}
