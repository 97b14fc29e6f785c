/* Reports of `nndiff repair`: the verdict, each edit (both files' nodes,
 * old -> new, why) and the discrepancy before, after each edit and after
 * all, on the localization and the verification inputs; as text and as the
 * JSON document nndiff.repair/1 (docs/REPAIR.md). Computes nothing. */
#include <errno.h>
#include <json-c/json.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "nndiff/repair.h"
#include "report/report_util.h"
#include "util/safe_text.h"

/* ------------------------------------------------------------ text */

static void score_text(const nnd_repair_score *s, char *buf, size_t cap) {
  snprintf(buf, cap, "%lld/%lld labels differ, max|diff| %.3g (%.3g of the output scale)",
           (long long)s->n_label_diff, (long long)s->n_inputs, s->max_abs_diff, s->rel_diff);
}

static void write_scores(FILE *out, const char *what, const nnd_repair_score *l,
                         const nnd_repair_score *v) {
  char a[160], b[160];
  score_text(l, a, sizeof a);
  score_text(v, b, sizeof b);
  nnd__fprintf_safe(out, "  %-22s localization: %s\n  %-22s verification: %s\n", what, a, "", b);
}

nnd_status nnd_repair_write_text(FILE *out, const nnd_repair_result *r, const char *out_path,
                                 nnd_error *err) {
  const nnd_localize_result *L = r->localize;
  if (r->matches && r->n_edits == 0 && r->equivalent_by_localize)
    nnd__fprintf_safe(out, "Verdict: nothing to repair: no label differs, and localize finds the "
                           "models equivalent (every aligned layer within its noise floor)\n");
  else if (r->matches && r->n_edits == 0)
    nnd__fprintf_safe(out, "Verdict: nothing to repair: the target already computes what the source "
                           "computes on every input\n");
  else if (r->matches)
    nnd__fprintf_safe(out,
                      "Verdict: REPAIRED with %d edit(s): the repaired target matches the source "
                      "on every input (labels, and outputs within %gx its float32 noise)\n",
                      r->n_edits, NND_REPAIR_FLOOR_FACTOR);
  else
    nnd__fprintf_safe(out, "Verdict: NOT FULLY REPAIRED (%d edit(s) kept): %s\n", r->n_edits,
                      r->left);
  nnd__fprintf_safe(out,
                    "\nData: %lld inputs: %lld to localize and search on, %lld held out to "
                    "verify (interleaved)\n",
                    (long long)r->n_items, (long long)r->n_localize, (long long)r->n_verify);
  if (r->noise_floor_from_localize)
    nnd__fprintf_safe(out, "Source noise floor: %.3g of the output scale (float32 vs double "
                           "precision, measured by localize on the output layer)\n",
                      r->noise_floor);
  else
    nnd__fprintf_safe(out, "Source noise floor: %.3g of the output scale (max|diff| %.3g; float32 vs "
                           "double precision)\n",
                      r->noise_floor, r->noise_floor_abs);
  nnd__fprintf_safe(out, "Localize: %s, %d suspect(s), %d finding(s); %d candidate run(s)%s\n",
                    L && L->equivalent ? "equivalent" : "the models differ",
                    L ? (int)L->n_suspects : 0, L ? (int)L->n_findings : 0, r->n_candidates,
                    r->n_unmappable ? "" : "");
  if (r->n_unmappable)
    nnd__fprintf_safe(out, "  %d finding edit(s) had no counterpart in the target as loaded\n",
                      r->n_unmappable);
  nnd__fprintf_safe(out, "\nDiscrepancy:\n");
  write_scores(out, "before:", &r->before_localize, &r->before_verify);
  for (int i = 0; i < r->n_edits; i++) {
    const nnd_repair_edit *e = &r->edits[i];
    char line[512], label[32];
    nnd_edit_format(&e->edit, line, sizeof line);
    nnd__fprintf_safe(out, "\nEdit %d: %s\n", i + 1, line);
    nnd__fprintf_safe(out, "  target node(s): %s\n", e->target_nodes[0] ? e->target_nodes : "-");
    nnd__fprintf_safe(out, "  source node(s): %s\n", e->source_nodes[0] ? e->source_nodes : "-");
    if (e->suspect_rank) nnd__fprintf_safe(out, "  from suspect #%d\n", e->suspect_rank);
    nnd__fprintf_safe(out, "  why: %s\n", e->why);
    snprintf(label, sizeof label, "after edit %d:", i + 1);
    write_scores(out, label, &e->after_localize, &e->after_verify);
  }
  if (r->n_edits) {
    nnd__fprintf_safe(out, "\n");
    write_scores(out, "after all edits:", &r->after_localize, &r->after_verify);
  }
  if (r->worse)
    nnd__fprintf_safe(out, "\nNo edit is kept: %s\n", r->left);
  if (out_path && r->n_edits)
    nnd__fprintf_safe(out, "\nWrote %s\n", out_path);
  else if (r->n_edits)
    nnd__fprintf_safe(out, "\nDry run: nothing written (measured with the nndiff engine on the "
                           "edited graph)\n");
  nnd__fprintf_safe(out,
                    "\nTime: %.1f s (source outputs and noise %.1f s, localize %.1f s, search "
                    "%.1f s, %d engine run(s) of candidates)\n",
                    r->seconds_total, r->seconds_source, r->seconds_localize, r->seconds_search,
                    r->n_engine_runs);
  if (fflush(out) != 0 || ferror(out))
    return nnd_error_set(err, NND_ERR_IO, "cannot write the report: %s", strerror(errno));
  return NND_OK;
}

/* ------------------------------------------------------------ JSON */

/* null where a figure is not finite (a NaN output: as far as it gets) */
#define jnum nnd__jb_num

static json_object *score_json(const nnd_repair_score *s) {
  json_object *o = json_object_new_object();
  json_object_object_add(o, "inputs", json_object_new_int64(s->n_inputs));
  json_object_object_add(o, "labels_differing", json_object_new_int64(s->n_label_diff));
  json_object_object_add(o, "label_discrepancy",
                         jnum(s->n_inputs ? (double)s->n_label_diff / (double)s->n_inputs : 0));
  json_object_object_add(o, "max_abs_diff", jnum(s->max_abs_diff));
  json_object_object_add(o, "rel_diff", jnum(s->rel_diff));
  return o;
}

static json_object *parts_json(const nnd_repair_score *l, const nnd_repair_score *v) {
  json_object *o = json_object_new_object();
  json_object_object_add(o, "localization", score_json(l));
  json_object_object_add(o, "verification", score_json(v));
  return o;
}

static json_object *items_json(const size_t *items, int64_t n) {
  json_object *a = json_object_new_array();
  for (int64_t i = 0; i < n; i++)
    json_object_array_add(a, json_object_new_int64((int64_t)items[i]));
  return a;
}

static json_object *names_json(const char *list) {
  json_object *a = json_object_new_array();
  const char *p = list;
  while (p && *p) {
    const char *q = strstr(p, ", ");
    size_t n = q ? (size_t)(q - p) : strlen(p);
    json_object_array_add(a, json_object_new_string_len(p, (int)n));
    p = q ? q + 2 : NULL;
  }
  return a;
}

nnd_status nnd_repair_build_json(const nnd_repair_result *r, const char *tool_version,
                                 const char *out_path, json_object **json_out, nnd_error *err) {
  json_object *root = json_object_new_object();
  if (!root) return nnd_error_set(err, NND_ERR_NOMEM, "out of memory building JSON");
  const nnd_localize_result *L = r->localize;
  nnd__jb jb = {0};
  nnd__jb_header(&jb, root, "nndiff.repair/1", tool_version);
  json_object_object_add(root, "source", json_object_new_string(L && L->source->info.path
                                                                    ? L->source->info.path
                                                                    : ""));
  json_object_object_add(root, "target", json_object_new_string(L && L->target->info.path
                                                                    ? L->target->info.path
                                                                    : ""));
  json_object_object_add(root, "output", out_path ? json_object_new_string(out_path) : NULL);
  json_object_object_add(root, "dry_run", json_object_new_boolean(out_path == NULL));
  json_object_object_add(root, "matches", json_object_new_boolean(r->matches));
  json_object_object_add(root, "worse_not_kept", json_object_new_boolean(r->worse));
  json_object_object_add(root, "matches_by_localize",
                         json_object_new_boolean(r->equivalent_by_localize));
  json_object_object_add(root, "left", r->matches ? NULL : json_object_new_string(r->left));
  json_object *split = json_object_new_object();
  json_object_object_add(split, "inputs", json_object_new_int64(r->n_items));
  json_object_object_add(split, "localization", items_json(r->localize_items, r->n_localize));
  json_object_object_add(split, "verification", items_json(r->verify_items, r->n_verify));
  json_object_object_add(root, "split", split);
  json_object *floor = json_object_new_object();
  json_object_object_add(floor, "rel", jnum(r->noise_floor));
  json_object_object_add(floor, "max_abs",
                         r->noise_floor_abs >= 0 ? jnum(r->noise_floor_abs) : NULL);
  json_object_object_add(floor, "measured_by",
                         json_object_new_string(r->noise_floor_from_localize ? "localize"
                                                                             : "repair"));
  json_object_object_add(floor, "factor", jnum(NND_REPAIR_FLOOR_FACTOR));
  json_object_object_add(root, "noise_floor", floor);
  json_object_object_add(root, "localize_equivalent",
                         json_object_new_boolean(L && L->equivalent));
  json_object_object_add(root, "before", parts_json(&r->before_localize, &r->before_verify));
  json_object_object_add(root, "after", parts_json(&r->after_localize, &r->after_verify));
  json_object *edits = json_object_new_array();
  for (int i = 0; i < r->n_edits; i++) {
    const nnd_repair_edit *e = &r->edits[i];
    json_object *o = json_object_new_object();
    char line[512];
    nnd_edit_format(&e->edit, line, sizeof line);
    json_object_object_add(o, "kind", json_object_new_string(nnd_edit_kind_name(e->edit.kind)));
    json_object_object_add(o, "target_name", json_object_new_string(e->edit.target_name));
    json_object_object_add(o, "field", json_object_new_string(e->edit.field));
    json_object_object_add(o, "old", json_object_new_string(e->edit.old_text));
    json_object_object_add(o, "new", json_object_new_string(e->edit.new_text));
    json_object_object_add(o, "text", json_object_new_string(line));
    json_object_object_add(o, "target_nodes", names_json(e->target_nodes));
    json_object_object_add(o, "source_nodes", names_json(e->source_nodes));
    json_object_object_add(o, "suspect_rank", json_object_new_int(e->suspect_rank));
    json_object_object_add(o, "why", json_object_new_string(e->why));
    json_object_object_add(o, "after", parts_json(&e->after_localize, &e->after_verify));
    json_object_array_add(edits, o);
  }
  json_object_object_add(root, "edits", edits);
  json_object *search = json_object_new_object();
  json_object_object_add(search, "candidate_runs", json_object_new_int(r->n_candidates));
  json_object_object_add(search, "dropped_as_unneeded",
                         json_object_new_int(r->n_candidates_dropped));
  json_object_object_add(search, "unmappable_edits", json_object_new_int(r->n_unmappable));
  json_object_object_add(search, "engine_runs", json_object_new_int(r->n_engine_runs));
  json_object_object_add(root, "search", search);
  json_object *t = json_object_new_object();
  json_object_object_add(t, "total", jnum(r->seconds_total));
  json_object_object_add(t, "source", jnum(r->seconds_source));
  json_object_object_add(t, "localize", jnum(r->seconds_localize));
  json_object_object_add(t, "search", jnum(r->seconds_search));
  json_object_object_add(root, "seconds", t);
  *json_out = root;
  return NND_OK;
}
