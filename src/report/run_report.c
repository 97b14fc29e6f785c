/* The `nndiff run` report: per-input top-k of one model, accuracy with
 * labels, throughput, and its JSON twin (schema "nndiff.run/1"). */
#include <json-c/json.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "nndiff/report.h"
#include "report/report_util.h"
#include "util/safe_text.h"

#define RUN_SCHEMA "nndiff.run/1"
/* Up to this many inputs the text lists every one; beyond, the first and
 * last HEAD_TAIL and a summary (unless verbose). */
#define TEXT_ALL_UP_TO 20
#define HEAD_TAIL 5
#define SUMMARY_CLASSES 5

static void item_row(nnd__table *t, const nnd_run_item *it, bool labels) {
  char idx[24], label[24], top[512];
  snprintf(idx, sizeof idx, "%zu", it->index);
  snprintf(label, sizeof label, "%lld", (long long)it->label);
  size_t n = 0;
  top[0] = '\0';
  for (int k = 0; k < it->k && n < sizeof top; k++)
    n += (size_t)snprintf(top + n, sizeof top - n, "%s%d:%.4g", k ? "  " : "", (int)it->top[k],
                          it->scores[k]);
  const char *cells[4] = {idx, it->file ? it->file : "",
                          labels ? (it->label >= 0 ? label : "?") : top, labels ? top : ""};
  nnd__table_row(t, cells);
}

typedef struct class_count {
  int32_t cls;
  size_t count;
} class_count;

static int cmp_count(const void *pa, const void *pb) {
  const class_count *a = pa, *b = pb;
  if (a->count != b->count) return a->count < b->count ? 1 : -1;
  return a->cls < b->cls ? -1 : a->cls > b->cls;
}

static int cmp_cls(const void *pa, const void *pb) {
  const class_count *a = pa, *b = pb;
  return a->cls < b->cls ? -1 : a->cls > b->cls;
}

/* "213 distinct top-1 classes; most frequent: 409 (52), 530 (31)". */
static bool write_class_summary(FILE *out, const nnd_run_data *d) {
  class_count *cc = malloc(d->n_items * sizeof *cc);
  if (!cc) return false;
  size_t n = 0;
  for (size_t i = 0; i < d->n_items; i++)
    if (d->items[i].k > 0) cc[n++] = (class_count){d->items[i].top[0], 1};
  qsort(cc, n, sizeof *cc, cmp_cls);
  size_t distinct = 0;
  for (size_t i = 0; i < n; i++) {
    if (distinct && cc[distinct - 1].cls == cc[i].cls)
      cc[distinct - 1].count++;
    else
      cc[distinct++] = cc[i];
  }
  qsort(cc, distinct, sizeof *cc, cmp_count);
  nnd__fprintf_safe(out, "  %zu inputs, %zu distinct top-1 class%s; most frequent:", d->n_items,
                    distinct, distinct == 1 ? "" : "es");
  for (size_t i = 0; i < distinct && i < SUMMARY_CLASSES; i++)
    nnd__fprintf_safe(out, "%s %d (%zu)", i ? "," : "", (int)cc[i].cls, cc[i].count);
  fputc('\n', out);
  free(cc);
  return true;
}

nnd_status nnd_run_write_text(FILE *out, const nnd_run_data *d, bool verbose, nnd_error *err) {
  const nnd_infer_model_info *m = d->model;
  char in_dims[160], out_dims[160];
  nnd__fmt_dims(m->input.dims, m->input.rank, in_dims, sizeof in_dims);
  nnd__fmt_dims(m->output_dims, (size_t)m->output_rank, out_dims, sizeof out_dims);
  nnd__fprintf_safe(out, "model          %s: input '%s' [N,%s -> output '%s' [N,%s\n",
                    d->model_path, m->input_name, in_dims + 1, m->output_name, out_dims + 1);
  nnd__fprintf_safe(out, "data           %s\n", d->setup.data_text);
  nnd__fprintf_safe(out, "preprocessing  %s\n",
                    d->setup.tensor_data ? "none: tensor data is fed as stored"
                                         : m->preprocess_text);
  nnd__fprintf_safe(out, "scores         %s\n",
                    d->softmax ? "softmax of the first output (probabilities)"
                               : "the first output as the model emits it (logits); --softmax for "
                                 "probabilities");
  bool oom = false;
  if (d->n_items) {
    nnd__table t = {.n_cols = d->has_labels ? 4 : 3,
                    .right = (const bool[]){true, false, false, false}};
    int k = d->items[0].k;
    char head[64];
    snprintf(head, sizeof head, "top-%d class:score", k);
    const char *h3[] = {"#", d->setup.tensor_data ? "" : "file", head};
    const char *h4[] = {"#", d->setup.tensor_data ? "" : "file", "label", head};
    nnd__table_row(&t, d->has_labels ? h4 : h3);
    bool all = verbose || d->n_items <= TEXT_ALL_UP_TO;
    for (size_t i = 0; i < d->n_items; i++) {
      if (!all && i == HEAD_TAIL) {
        char more[64];
        snprintf(more, sizeof more, "... %zu more", d->n_items - 2 * HEAD_TAIL);
        const char *dots[4] = {"", more, "", ""};
        nnd__table_row(&t, dots);
        i = d->n_items - HEAD_TAIL;
      }
      item_row(&t, &d->items[i], d->has_labels);
    }
    fputc('\n', out);
    nnd__table_print(out, &t, "  ");
    oom = t.oom;
    nnd__table_free(&t);
    if (!all) {
      nnd__fprintf_safe(out, "\nsummary (--verbose lists every input, --json writes them all):\n");
      if (!write_class_summary(out, d)) oom = true;
    }
  } else {
    nnd__fprintf_safe(out, "\nno input was run\n");
  }
  nnd__write_skipped(out, &d->setup, verbose);
  if (d->has_labels) {
    const nnd_accuracy *a = &d->accuracy;
    char p1[32], p5[32];
    nnd__fmt_pct(a->top1, p1, sizeof p1);
    nnd__fmt_pct(a->top5, p5, sizeof p5);
    if (a->labelled)
      nnd__fprintf_safe(out, "\naccuracy on %zu labelled input%s: top-1 %s (%zu), top-5 %s (%zu)\n",
                        a->labelled, a->labelled == 1 ? "" : "s", p1, a->top1_correct, p5,
                        a->top5_correct);
    else
      nnd__fprintf_safe(out, "\naccuracy: none of the inputs run has a label\n");
  }
  nnd__write_throughput(out, &d->setup, 1);
  if (d->outputs_path)
    nnd__fprintf_safe(out, "\noutputs: %s (float32 [%zu,%s, dataset order%s)\n", d->outputs_path,
                      d->setup.total, out_dims + 1,
                      d->setup.n_skipped ? "; skipped inputs' rows are NaN" : "");
  if (oom) return nnd_error_set(err, NND_ERR_NOMEM, "out of memory writing the report");
  if (ferror(out)) return nnd_error_set(err, NND_ERR_IO, "cannot write the report");
  return NND_OK;
}

nnd_status nnd_run_build_json(const nnd_run_data *d, json_object **json_out, nnd_error *err) {
  nnd__jb b = {false};
  *json_out = NULL;
  const nnd_infer_model_info *m = d->model;
  json_object *root = json_object_new_object();
  if (!root) b.oom = true;
  nnd__jb_header(&b, root, RUN_SCHEMA, d->setup.tool_version);
  json_object *model = nnd__jb_put(&b, root, "model", json_object_new_object());
  nnd__jb_put(&b, model, "file", nnd__jb_str(d->model_path));
  nnd__jb_put(&b, model, "format",
              nnd__jb_str(d->graph ? nnd_format_name(d->graph->info.format) : ""));
  json_object *in = nnd__jb_put(&b, model, "input", json_object_new_object());
  nnd__jb_put(&b, in, "name", nnd__jb_str(m->input_name));
  nnd__jb_put(&b, in, "item_shape", nnd__jb_dims(&b, m->input.dims, m->input.rank));
  json_object *o = nnd__jb_put(&b, model, "output", json_object_new_object());
  nnd__jb_put(&b, o, "name", nnd__jb_str(m->output_name));
  nnd__jb_put(&b, o, "item_shape", nnd__jb_dims(&b, m->output_dims, (size_t)m->output_rank));
  nnd__jb_put(&b, root, "preprocessing",
              nnd__jb_str(d->setup.tensor_data ? "none: tensor data is fed as stored"
                                               : m->preprocess_text));
  nnd__jb_put(&b, root, "scores", nnd__jb_str(d->softmax ? "softmax" : "raw"));
  nnd__jb_setup(&b, root, &d->setup, 1);
  if (d->outputs_path) nnd__jb_put(&b, root, "outputs_file", nnd__jb_str(d->outputs_path));
  json_object *images = nnd__jb_put(&b, root, "images", json_object_new_array());
  for (size_t i = 0; i < d->n_items && images; i++) {
    const nnd_run_item *it = &d->items[i];
    json_object *e = nnd__jb_push(&b, images, json_object_new_object());
    nnd__jb_put(&b, e, "index", json_object_new_int64((int64_t)it->index));
    if (it->file) nnd__jb_put(&b, e, "file", nnd__jb_str(it->file));
    if (it->label >= 0) nnd__jb_put(&b, e, "label", json_object_new_int64(it->label));
    json_object *top = nnd__jb_put(&b, e, "top", json_object_new_array());
    for (int k = 0; k < it->k && top; k++) {
      json_object *pair = nnd__jb_push(&b, top, json_object_new_array());
      nnd__jb_push(&b, pair, json_object_new_int64(it->top[k]));
      json_object *s = nnd__jb_num(it->scores[k]);
      if (s)
        nnd__jb_push(&b, pair, s);
      else if (pair && json_object_array_add(pair, NULL) != 0)
        b.oom = true;
    }
  }
  if (d->has_labels) {
    const nnd_accuracy *a = &d->accuracy;
    json_object *acc = nnd__jb_put(&b, root, "accuracy", json_object_new_object());
    nnd__jb_put(&b, acc, "labelled", json_object_new_int64((int64_t)a->labelled));
    nnd__jb_put_num(&b, acc, "top1", a->labelled ? a->top1 : NAN);
    nnd__jb_put_num(&b, acc, "top5", a->labelled ? a->top5 : NAN);
    nnd__jb_put(&b, acc, "top1_correct", json_object_new_int64((int64_t)a->top1_correct));
    nnd__jb_put(&b, acc, "top5_correct", json_object_new_int64((int64_t)a->top5_correct));
  }
  if (b.oom) {
    json_object_put(root);
    return nnd_error_set(err, NND_ERR_NOMEM, "out of memory building the JSON report");
  }
  *json_out = root;
  return NND_OK;
}
