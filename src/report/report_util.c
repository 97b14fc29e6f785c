/* Shared report pieces (see report_util.h). */
#include "report/report_util.h"
#include "util/safe_text.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* ---------------------------------------------------------------- JSON */

json_object *nnd__jb_put(nnd__jb *b, json_object *obj, const char *key, json_object *val) {
  if (!obj || !val || json_object_object_add(obj, key, val) != 0) {
    json_object_put(val);
    b->oom = true;
    return NULL;
  }
  return val;
}

json_object *nnd__jb_push(nnd__jb *b, json_object *arr, json_object *val) {
  if (!arr || !val || json_object_array_add(arr, val) != 0) {
    json_object_put(val);
    b->oom = true;
    return NULL;
  }
  return val;
}

json_object *nnd__jb_str(const char *s) { return json_object_new_string(s ? s : ""); }

json_object *nnd__jb_num(double v) {
  if (!isfinite(v)) return NULL;
  char buf[40];
  snprintf(buf, sizeof buf, "%.9g", v);
  /* Printed as written (no "1.0000000000000001" noise), parsed back as a double. */
  return json_object_new_double_s(strtod(buf, NULL), buf);
}

void nnd__jb_put_num(nnd__jb *b, json_object *obj, const char *key, double v) {
  json_object *n = nnd__jb_num(v);
  if (!n) {
    if (!obj || json_object_object_add(obj, key, NULL) != 0) b->oom = true;
    return;
  }
  nnd__jb_put(b, obj, key, n);
}

void nnd__jb_header(nnd__jb *b, json_object *root, const char *schema, const char *version) {
  nnd__jb_put(b, root, "schema", nnd__jb_str(schema));
  json_object *tool = nnd__jb_put(b, root, "tool", json_object_new_object());
  nnd__jb_put(b, tool, "name", nnd__jb_str("nndiff"));
  nnd__jb_put(b, tool, "version", nnd__jb_str(version ? version : "unknown"));
}

json_object *nnd__jb_dims(nnd__jb *b, const int64_t *dims, size_t rank) {
  json_object *arr = json_object_new_array();
  if (!arr) b->oom = true;
  for (size_t i = 0; i < rank && arr; i++)
    nnd__jb_push(b, arr, json_object_new_int64(dims[i]));
  return arr;
}

static void put_rate(nnd__jb *b, json_object *obj, const char *prefix, size_t images,
                     double seconds) {
  char key[64];
  snprintf(key, sizeof key, "%sseconds", prefix);
  nnd__jb_put_num(b, obj, key, seconds);
  snprintf(key, sizeof key, "%simages_per_second", prefix);
  nnd__jb_put_num(b, obj, key, seconds > 0 ? (double)images / seconds : NAN);
  snprintf(key, sizeof key, "%sms_per_image", prefix);
  nnd__jb_put_num(b, obj, key, images ? 1000.0 * seconds / (double)images : NAN);
}

void nnd__jb_setup(nnd__jb *b, json_object *root, const nnd_run_setup *s, int n_models) {
  json_object *data = nnd__jb_put(b, root, "data", json_object_new_object());
  nnd__jb_put(b, data, "path", nnd__jb_str(s->data_path));
  nnd__jb_put(b, data, "kind", nnd__jb_str(s->tensor_data ? "tensor" : "images"));
  nnd__jb_put(b, data, "description", nnd__jb_str(s->data_text));
  nnd__jb_put(b, data, "visited", json_object_new_int64((int64_t)s->total));
  json_object *eng = nnd__jb_put(b, root, "engine", json_object_new_object());
  nnd__jb_put(b, eng, "precision", nnd__jb_str(nnd_precision_name(s->precision)));
  nnd__jb_put(b, eng, "batch", json_object_new_int64(s->batch));
  nnd__jb_put(b, eng, "threads", json_object_new_int64(s->threads));
  nnd__jb_put(b, eng, "on_error", nnd__jb_str(nnd_on_error_name(s->on_error)));
  const nnd_infer_stats *st = s->stats;
  json_object *tp = nnd__jb_put(b, root, "throughput", json_object_new_object());
  nnd__jb_put(b, tp, "images", json_object_new_int64((int64_t)st->delivered));
  nnd__jb_put(b, tp, "models", json_object_new_int64(n_models));
  /* End to end: decode, preprocess, every model's engine, the reports'
   * bookkeeping; engine: the engine runs alone. Per image and model for
   * the engine when several models ran. */
  put_rate(b, tp, "", st->delivered, st->seconds);
  put_rate(b, tp, "engine_", st->delivered * (size_t)(n_models > 0 ? n_models : 1),
           st->engine_seconds);
  nnd__jb_put_num(b, tp, "load_seconds", st->load_seconds);
  nnd__jb_put_num(b, tp, "create_seconds", st->create_seconds);
  json_object *skipped = nnd__jb_put(b, root, "skipped", json_object_new_array());
  for (size_t i = 0; i < s->n_skipped && skipped; i++) {
    json_object *o = nnd__jb_push(b, skipped, json_object_new_object());
    nnd__jb_put(b, o, "index", json_object_new_int64((int64_t)s->skipped[i].index));
    nnd__jb_put(b, o, "file", nnd__jb_str(s->skipped[i].name));
    nnd__jb_put(b, o, "reason", nnd__jb_str(s->skipped[i].reason));
  }
}

/* --------------------------------------------------------------- table */

void nnd__table_row(nnd__table *t, const char *const *cells) {
  if (t->oom) return;
  if (t->n_rows == t->cap_rows) {
    size_t cap = t->cap_rows ? t->cap_rows * 2 : 16;
    char **c = realloc(t->cells, cap * (size_t)t->n_cols * sizeof *c);
    if (!c) {
      t->oom = true;
      return;
    }
    t->cells = c;
    t->cap_rows = cap;
  }
  char **row = t->cells + t->n_rows * (size_t)t->n_cols;
  for (int i = 0; i < t->n_cols; i++) {
    /* cells hold names from the file: stored sanitised, so the widths are
     * those of what is printed */
    const char *c = cells[i] ? cells[i] : "";
    size_t n = strlen(c), safe = nnd__safe_len(c, n);
    row[i] = malloc(safe + 1);
    if (row[i]) nnd__safe_copy(row[i], safe + 1, c, n);
    if (!row[i]) {
      for (int k = 0; k < i; k++)
        free(row[k]);
      t->oom = true;
      return;
    }
  }
  t->n_rows++;
}

void nnd__table_print(FILE *out, const nnd__table *t, const char *indent) {
  int width[NND__TABLE_MAX_COLS] = {0};
  for (size_t r = 0; r < t->n_rows; r++)
    for (int c = 0; c < t->n_cols; c++) {
      int len = (int)strlen(t->cells[r * (size_t)t->n_cols + (size_t)c]);
      if (len > width[c]) width[c] = len;
    }
  for (size_t r = 0; r < t->n_rows; r++) {
    char *const *row = t->cells + r * (size_t)t->n_cols;
    int n = t->n_cols; /* no trailing blanks */
    while (n > 1 && !row[n - 1][0])
      n--;
    fputs(indent, out);
    for (int c = 0; c < n; c++) {
      bool last = c == n - 1;
      if (t->right && t->right[c])
        nnd__fprintf_safe(out, "%*s", width[c], row[c]);
      else if (last)
        fputs(row[c], out);
      else
        nnd__fprintf_safe(out, "%-*s", width[c], row[c]);
      if (!last) fputs("  ", out);
    }
    fputc('\n', out);
  }
}

void nnd__table_free(nnd__table *t) {
  for (size_t i = 0; i < t->n_rows * (size_t)t->n_cols; i++)
    free(t->cells[i]);
  free(t->cells);
  t->cells = NULL;
  t->n_rows = t->cap_rows = 0;
}

/* ------------------------------------------------------------- formats */

void nnd__model_letter(int i, char buf[16]) {
  if (i >= 0 && i < 26)
    snprintf(buf, 16, "%c", 'A' + i);
  else
    snprintf(buf, 16, "M%d", i + 1);
}

void nnd__fmt_dims(const int64_t *dims, size_t rank, char *buf, size_t cap) {
  size_t n = (size_t)snprintf(buf, cap, "[");
  for (size_t i = 0; i < rank && n < cap; i++)
    n += (size_t)snprintf(buf + n, cap - n, "%s%lld", i ? "," : "", (long long)dims[i]);
  if (n < cap) snprintf(buf + n, cap - n, "]");
}

void nnd__fmt_pct(double f, char *buf, size_t cap) {
  double p = 100.0 * f;
  if (p == 0 || p == 100)
    snprintf(buf, cap, "%.0f%%", p);
  else if (p < 0.1)
    snprintf(buf, cap, "%.3f%%", p);
  else if (p < 10 || p > 99.9)
    snprintf(buf, cap, "%.2f%%", p);
  else
    snprintf(buf, cap, "%.1f%%", p);
}

void nnd__write_skipped(FILE *out, const nnd_run_setup *s, bool verbose) {
  if (!s->n_skipped) return;
  nnd__fprintf_safe(out, "\nskipped %zu of %zu input%s (--on-error skip):\n", s->n_skipped,
                    s->total, s->total == 1 ? "" : "s");
  size_t shown = verbose || s->n_skipped <= 20 ? s->n_skipped : 20;
  for (size_t i = 0; i < shown; i++)
    nnd__fprintf_safe(out, "  #%zu %s: %s\n", s->skipped[i].index, s->skipped[i].name,
                      s->skipped[i].reason);
  if (shown < s->n_skipped)
    nnd__fprintf_safe(out, "  ... %zu more (--verbose or --json lists them all)\n",
                      s->n_skipped - shown);
}

void nnd__write_throughput(FILE *out, const nnd_run_setup *s, int n_models) {
  const nnd_infer_stats *st = s->stats;
  size_t n = st->delivered;
  if (!n) return;
  size_t runs = n * (size_t)(n_models > 0 ? n_models : 1);
  nnd__fprintf_safe(out, "\nthroughput (%s, batch %lld, %d thread%s):\n",
                    nnd_precision_name(s->precision), (long long)s->batch, s->threads,
                    s->threads == 1 ? "" : "s");
  nnd__fprintf_safe(out,
                    "  end to end   %8.1f images/s  %8.2f ms/image  (%zu images in %.2f s: decode, "
                    "preprocess, %s)\n",
                    st->seconds > 0 ? (double)n / st->seconds : 0, 1000.0 * st->seconds / (double)n,
                    n, st->seconds, n_models > 1 ? "every model" : "engine");
  nnd__fprintf_safe(out, "  engine only  %8.1f images/s  %8.2f ms/image%s\n",
                    st->engine_seconds > 0 ? (double)runs / st->engine_seconds : 0,
                    1000.0 * st->engine_seconds / (double)runs,
                    n_models > 1 ? "  (per image and model)" : "");
  nnd__fprintf_safe(out, "  decode + preprocess %.2f s, planning %.2f s\n", st->load_seconds,
                    st->create_seconds);
}
