/* The `nndiff compare` report: N models over the same inputs, the N x N
 * label-discrepancy matrix, every pair's metrics and discrepant inputs, the
 * conversion chain, and the JSON twin (schema "nndiff.compare/1"; field
 * definitions in docs/COMPARE.md). */
#include <json-c/json.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "nndiff/report.h"
#include "report/report_util.h"
#include "util/safe_text.h"

#define COMPARE_SCHEMA "nndiff.compare/1"
/* Text lists at most this many discrepant inputs per pair (and chain
 * inputs) unless verbose; JSON has them all. */
#define TEXT_MAX_LIST 20

/* The item's name for listings, or NULL for tensor data (no file). */
static const char *item_file(const nnd_compare_data *d, size_t index) {
  if (d->setup.tensor_data || !d->item_name) return NULL;
  return d->item_name(d->item_user, index);
}

static size_t n_pairs(const nnd_compare_data *d) {
  return (size_t)d->n_models * (size_t)(d->n_models - 1) / 2;
}

static bool any_differs(const nnd_compare_data *d) {
  for (int a = 0; a < d->n_models; a++)
    for (int b = a + 1; b < d->n_models; b++)
      if (nnd_outputs_compare_pair(d->cmp, a, b)->discrepant_count) return true;
  return false;
}

/* ---------------------------------------------------------------- text */

static void write_models(FILE *out, const nnd_compare_data *d, bool *oom) {
  nnd__table t = {.n_cols = 4};
  for (int i = 0; i < d->n_models; i++) {
    const nnd_infer_model_info *m = &d->models[i];
    char letter[16], in[160], o[160], ins[180], outs[180];
    nnd__model_letter(i, letter);
    nnd__fmt_dims(m->input.dims, m->input.rank, in, sizeof in);
    nnd__fmt_dims(m->output_dims, (size_t)m->output_rank, o, sizeof o);
    snprintf(ins, sizeof ins, "input [N,%s", in + 1);
    snprintf(outs, sizeof outs, "output [N,%s", o + 1);
    nnd__table_row(&t, (const char *const[]){letter, d->model_paths[i], ins, outs});
  }
  nnd__fprintf_safe(out, "models\n");
  nnd__table_print(out, &t, "  ");
  *oom |= t.oom;
  nnd__table_free(&t);
}

static void write_preprocessing(FILE *out, const nnd_compare_data *d) {
  if (d->setup.tensor_data) {
    nnd__fprintf_safe(
        out, "preprocessing  none: tensor data is fed as stored, the same to every model\n");
    return;
  }
  int n_pipes = 0;
  for (int i = 0; i < d->n_models; i++)
    if (d->models[i].pipeline + 1 > n_pipes) n_pipes = d->models[i].pipeline + 1;
  for (int p = 0; p < n_pipes; p++) {
    char who[256] = "";
    size_t n = 0;
    const char *text = "";
    for (int i = 0; i < d->n_models && n < sizeof who - 8; i++) {
      if (d->models[i].pipeline != p) continue;
      char letter[16];
      nnd__model_letter(i, letter);
      n += (size_t)snprintf(who + n, sizeof who - n, "%s%s", n ? ", " : "", letter);
      text = d->models[i].preprocess_text;
    }
    nnd__fprintf_safe(out, "%s%s: %s\n", p ? "               " : "preprocessing  ",
                      n_pipes == 1 ? "all models" : who, text);
  }
}

static void write_matrix(FILE *out, const nnd_compare_data *d, bool *oom) {
  int n = d->n_models;
  if (n > NND__TABLE_MAX_COLS - 1) {
    nnd__fprintf_safe(out, "\n(%d models: the matrix is in the JSON; pairs follow)\n", n);
    return;
  }
  bool right[NND__TABLE_MAX_COLS];
  for (int c = 0; c <= n; c++)
    right[c] = c > 0;
  nnd__table t = {.n_cols = n + 1, .right = right};
  const char *row[NND__TABLE_MAX_COLS];
  char cells[NND__TABLE_MAX_COLS][48];
  row[0] = "";
  for (int c = 0; c < n; c++) {
    nnd__model_letter(c, cells[c + 1]);
    row[c + 1] = cells[c + 1];
  }
  nnd__table_row(&t, row);
  for (int r = 0; r < n; r++) {
    nnd__model_letter(r, cells[0]);
    row[0] = cells[0];
    for (int c = 0; c < n; c++) {
      if (r == c)
        snprintf(cells[c + 1], sizeof cells[c + 1], "-");
      else
        nnd__fmt_pct(nnd_outputs_compare_pair(d->cmp, r, c)->label_discrepancy, cells[c + 1],
                     sizeof cells[c + 1]);
      row[c + 1] = cells[c + 1];
    }
    nnd__table_row(&t, row);
  }
  nnd__fprintf_safe(out,
                    "\ntop-1 label discrepancy (share of the inputs whose top-1 class differs)\n");
  nnd__table_print(out, &t, "  ");
  *oom |= t.oom;
  nnd__table_free(&t);
}

static void write_pair(FILE *out, const nnd_compare_data *d, const nnd_pair_result *p, bool verbose,
                       bool *oom) {
  char la[16], lb[16], pct[32];
  nnd__model_letter(p->a, la);
  nnd__model_letter(p->b, lb);
  nnd__fmt_pct(p->label_discrepancy, pct, sizeof pct);
  if (p->discrepant_count)
    nnd__fprintf_safe(out, "  %s vs %s  top-1 differs on %zu of %zu inputs (%s)\n", la, lb,
                      p->discrepant_count, p->inputs, pct);
  else
    nnd__fprintf_safe(out, "  %s vs %s  same top-1 on all %zu inputs\n", la, lb, p->inputs);
  nnd__fprintf_safe(
      out, "          grades: none %zu, minor %zu, major %zu; Kendall's tau (top-5) mean %.4f\n",
      p->grades[NND_GRADE_NONE], p->grades[NND_GRADE_MINOR], p->grades[NND_GRADE_MAJOR],
      p->kendall_tau_mean);
  nnd__fprintf_safe(out, "          outputs: max |diff| %.4g, mean |diff| %.4g, cosine %.8f\n",
                    p->max_abs_diff, p->mean_abs_diff, p->cosine_mean);
  if (!p->discrepant_count) return;
  nnd__table t = {.n_cols = 5, .right = (const bool[]){true, false, true, true, true}};
  nnd__table_row(&t, (const char *const[]){"#", d->setup.tensor_data ? "" : "file", la, lb, "tau"});
  size_t shown =
      verbose || p->discrepant_count <= TEXT_MAX_LIST ? p->discrepant_count : TEXT_MAX_LIST;
  for (size_t i = 0; i < shown; i++) {
    const nnd_discrepant_input *e = &p->discrepant[i];
    char idx[24], ca[16], cb[16], tau[16];
    snprintf(idx, sizeof idx, "%zu", e->index);
    snprintf(ca, sizeof ca, "%d", (int)e->top1_a);
    snprintf(cb, sizeof cb, "%d", (int)e->top1_b);
    snprintf(tau, sizeof tau, "%.3f", e->tau);
    const char *f = item_file(d, e->index);
    nnd__table_row(&t, (const char *const[]){idx, f ? f : "", ca, cb, tau});
  }
  nnd__fprintf_safe(out, "          discrepant inputs (top-1 class of each model):\n");
  nnd__table_print(out, &t, "            ");
  if (shown < p->discrepant_count)
    nnd__fprintf_safe(out, "            ... %zu more (--verbose or --json lists them all)\n",
                      p->discrepant_count - shown);
  *oom |= t.oom;
  nnd__table_free(&t);
}

static void write_chain(FILE *out, const nnd_compare_data *d, bool verbose, bool *oom) {
  const nnd_chain_result *c = d->chain;
  char path[256] = "", pct[32];
  size_t n = 0;
  for (int i = 0; i < c->n_models && n < sizeof path - 16; i++) {
    char l[16];
    nnd__model_letter(i, l);
    n += (size_t)snprintf(path + n, sizeof path - n, "%s%s", i ? " -> " : "", l);
  }
  nnd__fmt_pct(c->discrepant_fraction, pct, sizeof pct);
  nnd__fprintf_safe(out, "\nconversion chain %s\n", path);
  nnd__fprintf_safe(out,
                    "  top-1 changed end to end (last model vs first) on %zu of %zu inputs (%s)\n",
                    c->discrepant, c->inputs, pct);
  if (c->restored)
    nnd__fprintf_safe(out,
                      "  %zu more input%s changed on the way and came back to the first label\n",
                      c->restored, c->restored == 1 ? "" : "s");
  nnd__table t = {.n_cols = 5, .right = (const bool[]){false, true, true, true, true}};
  nnd__table_row(&t, (const char *const[]){"step", "changed", "broke", "share", "of discrepant"});
  for (int s = 0; s < c->n_models - 1; s++) {
    const nnd_chain_step *st = &c->steps[s];
    char lf[16], lt[16], step[40], ch[24], br[24], sh[32], sd[32];
    nnd__model_letter(st->from, lf);
    nnd__model_letter(st->to, lt);
    snprintf(step, sizeof step, "%s -> %s", lf, lt);
    snprintf(ch, sizeof ch, "%zu", st->changed);
    snprintf(br, sizeof br, "%zu", st->broke);
    nnd__fmt_pct(st->share, sh, sizeof sh);
    nnd__fmt_pct(st->share_of_discrepant, sd, sizeof sd);
    nnd__table_row(&t, (const char *const[]){step, ch, br, sh, c->discrepant ? sd : "-"});
  }
  nnd__table_print(out, &t, "  ");
  *oom |= t.oom;
  nnd__table_free(&t);
  nnd__fprintf_safe(out,
                    "  (changed: inputs whose top-1 differs across the step; broke: inputs changed "
                    "end to end whose label first changed at this step; share: of all inputs)\n");
  if (!c->discrepant) return;
  int cols = c->n_models + 3;
  if (cols > NND__TABLE_MAX_COLS) return;
  bool right[NND__TABLE_MAX_COLS] = {true};
  for (int i = 0; i < c->n_models; i++)
    right[2 + i] = true;
  nnd__table it = {.n_cols = cols, .right = right};
  const char *row[NND__TABLE_MAX_COLS];
  char cells[NND__TABLE_MAX_COLS][48];
  row[0] = "#";
  row[1] = d->setup.tensor_data ? "" : "file";
  for (int i = 0; i < c->n_models; i++) {
    nnd__model_letter(i, cells[2 + i]);
    row[2 + i] = cells[2 + i];
  }
  row[cols - 1] = "first change";
  nnd__table_row(&it, row);
  size_t shown = verbose || c->discrepant <= TEXT_MAX_LIST ? c->discrepant : TEXT_MAX_LIST;
  for (size_t k = 0; k < shown; k++) {
    const nnd_chain_input *ci = &c->items[k];
    size_t index = nnd_outputs_compare_item(d->cmp, ci->ordinal);
    snprintf(cells[0], sizeof cells[0], "%zu", index);
    row[0] = cells[0];
    const char *f = item_file(d, index);
    row[1] = f ? f : "";
    for (int i = 0; i < c->n_models; i++) {
      snprintf(cells[2 + i], sizeof cells[2 + i], "%d",
               (int)nnd_outputs_compare_topk(d->cmp, i, ci->ordinal)[0]);
      row[2 + i] = cells[2 + i];
    }
    char lf[16], lt[16];
    nnd__model_letter(ci->first_step - 1, lf);
    nnd__model_letter(ci->first_step, lt);
    snprintf(cells[cols - 1], sizeof cells[cols - 1], "%s -> %s", lf, lt);
    row[cols - 1] = cells[cols - 1];
    nnd__table_row(&it, row);
  }
  nnd__fprintf_safe(out, "  inputs changed end to end (top-1 class per model):\n");
  nnd__table_print(out, &it, "    ");
  if (shown < c->discrepant)
    nnd__fprintf_safe(out, "    ... %zu more (--verbose or --json lists them all)\n",
                      c->discrepant - shown);
  *oom |= it.oom;
  nnd__table_free(&it);
}

nnd_status nnd_compare_write_text(FILE *out, const nnd_compare_data *d, bool verbose,
                                  nnd_error *err) {
  bool oom = false;
  write_models(out, d, &oom);
  nnd__fprintf_safe(out, "data           %s\n", d->setup.data_text);
  write_preprocessing(out, d);
  size_t inputs = nnd_outputs_compare_inputs(d->cmp);
  nnd__fprintf_safe(out, "inputs         %zu compared", inputs);
  if (d->setup.n_skipped) nnd__fprintf_safe(out, ", %zu skipped", d->setup.n_skipped);
  fputc('\n', out);
  if (d->n_models > 2) write_matrix(out, d, &oom);
  nnd__fprintf_safe(out, "\npairs\n");
  for (int a = 0; a < d->n_models; a++)
    for (int b = a + 1; b < d->n_models; b++)
      write_pair(out, d, nnd_outputs_compare_pair(d->cmp, a, b), verbose, &oom);
  if (d->chain) write_chain(out, d, verbose, &oom);
  if (d->has_labels && d->accuracy) {
    nnd__fprintf_safe(out, "\naccuracy (%zu labelled inputs)\n", d->accuracy[0].labelled);
    for (int i = 0; i < d->n_models; i++) {
      char l[16], p1[32], p5[32];
      nnd__model_letter(i, l);
      nnd__fmt_pct(d->accuracy[i].top1, p1, sizeof p1);
      nnd__fmt_pct(d->accuracy[i].top5, p5, sizeof p5);
      nnd__fprintf_safe(out, "  %s  top-1 %s (%zu), top-5 %s (%zu)\n", l, p1,
                        d->accuracy[i].top1_correct, p5, d->accuracy[i].top5_correct);
    }
  }
  nnd__write_skipped(out, &d->setup, verbose);
  nnd__write_throughput(out, &d->setup, d->n_models);
  size_t differing = 0;
  for (int a = 0; a < d->n_models; a++)
    for (int b = a + 1; b < d->n_models; b++)
      differing += nnd_outputs_compare_pair(d->cmp, a, b)->discrepant_count > 0;
  if (differing)
    nnd__fprintf_safe(out, "\nresult: the models differ: %zu of %zu pair%s change top-1 labels\n",
                      differing, n_pairs(d), n_pairs(d) == 1 ? "" : "s");
  else
    nnd__fprintf_safe(out, "\nresult: every model gives the same top-1 label on all %zu inputs\n",
                      inputs);
  if (oom) return nnd_error_set(err, NND_ERR_NOMEM, "out of memory writing the report");
  if (ferror(out)) return nnd_error_set(err, NND_ERR_IO, "cannot write the report");
  return NND_OK;
}

/* ---------------------------------------------------------------- JSON */

static json_object *model_id(int i) {
  char l[16];
  nnd__model_letter(i, l);
  return nnd__jb_str(l);
}

static void put_file(nnd__jb *b, const nnd_compare_data *d, json_object *o, size_t index) {
  const char *f = item_file(d, index);
  if (f) nnd__jb_put(b, o, "file", nnd__jb_str(f));
}

nnd_status nnd_compare_build_json(const nnd_compare_data *d, json_object **json_out,
                                  nnd_error *err) {
  nnd__jb b = {false};
  *json_out = NULL;
  json_object *root = json_object_new_object();
  if (!root) b.oom = true;
  nnd__jb_header(&b, root, COMPARE_SCHEMA, d->setup.tool_version);
  nnd__jb_put(&b, root, "definitions", nnd__jb_str("docs/COMPARE.md"));
  json_object *models = nnd__jb_put(&b, root, "models", json_object_new_array());
  for (int i = 0; i < d->n_models && models; i++) {
    const nnd_infer_model_info *m = &d->models[i];
    json_object *o = nnd__jb_push(&b, models, json_object_new_object());
    nnd__jb_put(&b, o, "id", model_id(i));
    nnd__jb_put(&b, o, "file", nnd__jb_str(d->model_paths[i]));
    nnd__jb_put(&b, o, "input", nnd__jb_str(m->input_name));
    nnd__jb_put(&b, o, "input_item_shape", nnd__jb_dims(&b, m->input.dims, m->input.rank));
    nnd__jb_put(&b, o, "output", nnd__jb_str(m->output_name));
    nnd__jb_put(&b, o, "output_item_shape",
                nnd__jb_dims(&b, m->output_dims, (size_t)m->output_rank));
    nnd__jb_put(&b, o, "preprocessing",
                nnd__jb_str(d->setup.tensor_data ? "none" : m->preprocess_text));
    nnd__jb_put(&b, o, "pipeline", json_object_new_int(m->pipeline));
  }
  /* One entry per distinct input pipeline: which models share it. */
  json_object *pre = nnd__jb_put(&b, root, "preprocessing", json_object_new_array());
  for (int p = 0; pre && !d->setup.tensor_data; p++) {
    json_object *ids = NULL;
    const char *text = NULL;
    for (int i = 0; i < d->n_models; i++) {
      if (d->models[i].pipeline != p) continue;
      if (!ids) ids = json_object_new_array();
      nnd__jb_push(&b, ids, model_id(i));
      text = d->models[i].preprocess_text;
    }
    if (!ids) break;
    json_object *o = nnd__jb_push(&b, pre, json_object_new_object());
    nnd__jb_put(&b, o, "models", ids);
    nnd__jb_put(&b, o, "description", nnd__jb_str(text));
  }
  size_t inputs = nnd_outputs_compare_inputs(d->cmp);
  nnd__jb_put(&b, root, "inputs", json_object_new_int64((int64_t)inputs));
  nnd__jb_setup(&b, root, &d->setup, d->n_models);
  nnd__jb_put(&b, root, "differ", json_object_new_boolean(any_differs(d)));
  json_object *matrix = nnd__jb_put(&b, root, "label_discrepancy_matrix", json_object_new_array());
  for (int r = 0; r < d->n_models && matrix; r++) {
    json_object *row = nnd__jb_push(&b, matrix, json_object_new_array());
    for (int c = 0; c < d->n_models && row; c++)
      nnd__jb_push(
          &b, row,
          nnd__jb_num(r == c ? 0 : nnd_outputs_compare_pair(d->cmp, r, c)->label_discrepancy));
  }
  json_object *pairs = nnd__jb_put(&b, root, "pairs", json_object_new_array());
  for (int a = 0; a < d->n_models && pairs; a++)
    for (int bb = a + 1; bb < d->n_models && pairs; bb++) {
      const nnd_pair_result *p = nnd_outputs_compare_pair(d->cmp, a, bb);
      json_object *o = nnd__jb_push(&b, pairs, json_object_new_object());
      nnd__jb_put(&b, o, "a", model_id(a));
      nnd__jb_put(&b, o, "b", model_id(bb));
      nnd__jb_put(&b, o, "inputs", json_object_new_int64((int64_t)p->inputs));
      nnd__jb_put_num(&b, o, "label_discrepancy", p->label_discrepancy);
      nnd__jb_put(&b, o, "discrepant_count", json_object_new_int64((int64_t)p->discrepant_count));
      nnd__jb_put_num(&b, o, "kendall_tau_top5_mean", p->kendall_tau_mean);
      json_object *g = nnd__jb_put(&b, o, "grades", json_object_new_object());
      for (int k = 0; k < 3; k++)
        nnd__jb_put(&b, g, nnd_grade_name((nnd_grade)k),
                    json_object_new_int64((int64_t)p->grades[k]));
      nnd__jb_put_num(&b, o, "max_abs_diff", p->max_abs_diff);
      nnd__jb_put_num(&b, o, "mean_abs_diff", p->mean_abs_diff);
      nnd__jb_put_num(&b, o, "cosine", p->cosine_mean);
      json_object *list = nnd__jb_put(&b, o, "discrepant_inputs", json_object_new_array());
      for (size_t i = 0; i < p->discrepant_count && list; i++) {
        const nnd_discrepant_input *e = &p->discrepant[i];
        json_object *x = nnd__jb_push(&b, list, json_object_new_object());
        nnd__jb_put(&b, x, "index", json_object_new_int64((int64_t)e->index));
        put_file(&b, d, x, e->index);
        nnd__jb_put(&b, x, "top1_a", json_object_new_int64(e->top1_a));
        nnd__jb_put(&b, x, "top1_b", json_object_new_int64(e->top1_b));
        nnd__jb_put_num(&b, x, "tau", e->tau);
        nnd__jb_put(&b, x, "grade", nnd__jb_str(nnd_grade_name(e->grade)));
      }
    }
  if (d->chain) {
    const nnd_chain_result *c = d->chain;
    json_object *ch = nnd__jb_put(&b, root, "chain", json_object_new_object());
    json_object *order = nnd__jb_put(&b, ch, "models", json_object_new_array());
    for (int i = 0; i < c->n_models && order; i++)
      nnd__jb_push(&b, order, model_id(i));
    nnd__jb_put(&b, ch, "inputs", json_object_new_int64((int64_t)c->inputs));
    nnd__jb_put(&b, ch, "discrepant_count", json_object_new_int64((int64_t)c->discrepant));
    nnd__jb_put_num(&b, ch, "discrepant_fraction", c->discrepant_fraction);
    nnd__jb_put(&b, ch, "restored", json_object_new_int64((int64_t)c->restored));
    json_object *steps = nnd__jb_put(&b, ch, "steps", json_object_new_array());
    for (int s = 0; s < c->n_models - 1 && steps; s++) {
      const nnd_chain_step *st = &c->steps[s];
      json_object *o = nnd__jb_push(&b, steps, json_object_new_object());
      nnd__jb_put(&b, o, "step", json_object_new_int(s + 1));
      nnd__jb_put(&b, o, "from", model_id(st->from));
      nnd__jb_put(&b, o, "to", model_id(st->to));
      nnd__jb_put(&b, o, "changed", json_object_new_int64((int64_t)st->changed));
      nnd__jb_put(&b, o, "broke", json_object_new_int64((int64_t)st->broke));
      nnd__jb_put_num(&b, o, "share", st->share);
      nnd__jb_put_num(&b, o, "share_of_discrepant", st->share_of_discrepant);
    }
    json_object *list = nnd__jb_put(&b, ch, "discrepant_inputs", json_object_new_array());
    for (size_t k = 0; k < c->discrepant && list; k++) {
      const nnd_chain_input *ci = &c->items[k];
      size_t index = nnd_outputs_compare_item(d->cmp, ci->ordinal);
      json_object *o = nnd__jb_push(&b, list, json_object_new_object());
      nnd__jb_put(&b, o, "index", json_object_new_int64((int64_t)index));
      put_file(&b, d, o, index);
      json_object *top1 = nnd__jb_put(&b, o, "top1", json_object_new_array());
      for (int i = 0; i < c->n_models && top1; i++)
        nnd__jb_push(&b, top1,
                     json_object_new_int64(nnd_outputs_compare_topk(d->cmp, i, ci->ordinal)[0]));
      nnd__jb_put(&b, o, "first_changed_step", json_object_new_int(ci->first_step));
      nnd__jb_put(&b, o, "first_changed_from", model_id(ci->first_step - 1));
      nnd__jb_put(&b, o, "first_changed_to", model_id(ci->first_step));
    }
  }
  if (d->has_labels && d->accuracy) {
    json_object *acc = nnd__jb_put(&b, root, "accuracy", json_object_new_array());
    for (int i = 0; i < d->n_models && acc; i++) {
      const nnd_accuracy *a = &d->accuracy[i];
      json_object *o = nnd__jb_push(&b, acc, json_object_new_object());
      nnd__jb_put(&b, o, "model", model_id(i));
      nnd__jb_put(&b, o, "labelled", json_object_new_int64((int64_t)a->labelled));
      nnd__jb_put_num(&b, o, "top1", a->labelled ? a->top1 : NAN);
      nnd__jb_put_num(&b, o, "top5", a->labelled ? a->top5 : NAN);
    }
  }
  if (b.oom) {
    json_object_put(root);
    return nnd_error_set(err, NND_ERR_NOMEM, "out of memory building the JSON report");
  }
  *json_out = root;
  return NND_OK;
}
