/* Pieces shared by the text and JSON reports of run and compare: a sticky
 * out-of-memory JSON builder, an aligned text table, short formats.
 *
 * Text reports print names, paths and op types from files: they write
 * through nnd__fprintf_safe (util/safe_text.h), which sanitises every %s
 * argument, and table cells are stored sanitised. JSON needs nothing here:
 * nnd_report_write_json emits valid UTF-8 whatever the strings hold. */
#ifndef NND_REPORT_REPORT_UTIL_H
#define NND_REPORT_REPORT_UTIL_H

#include <json-c/json.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "nndiff/report.h"

/* json-c returns NULL when out of memory; the builder remembers it (sticky,
 * like SQLite's mallocFailed) so report code stays linear and the failure
 * becomes one status at the end. */
typedef struct nnd__jb {
  bool oom;
} nnd__jb;

/* Adds val under key and returns it, or NULL (val released) on failure. */
json_object *nnd__jb_put(nnd__jb *b, json_object *obj, const char *key, json_object *val);
/* Appends val to arr and returns it, or NULL (val released) on failure. */
json_object *nnd__jb_push(nnd__jb *b, json_object *arr, json_object *val);
/* A string ("" for NULL). */
json_object *nnd__jb_str(const char *s);
/* A double rounded to 9 significant digits, so files stay readable; NaN and
 * infinities (not JSON) become null. */
json_object *nnd__jb_num(double v);
/* Puts a double (null when not finite). */
void nnd__jb_put_num(nnd__jb *b, json_object *obj, const char *key, double v);
/* Adds key: {"name": nndiff, "version": ...} and key "schema". */
void nnd__jb_header(nnd__jb *b, json_object *root, const char *schema, const char *version);
/* [d0, d1, ...] of an item shape. */
json_object *nnd__jb_dims(nnd__jb *b, const int64_t *dims, size_t rank);
/* The engine settings and timings of a run: "engine", "throughput",
 * "skipped", "data". */
void nnd__jb_setup(nnd__jb *b, json_object *root, const nnd_run_setup *s, int n_models);

/* A text table: cells copied, widths from the contents, right-aligned
 * columns where `right` says so. */
#define NND__TABLE_MAX_COLS 16
typedef struct nnd__table {
  int n_cols;
  const bool *right; /* n_cols flags, or NULL: all left-aligned */
  char **cells;
  size_t n_rows, cap_rows;
  bool oom;
} nnd__table;
void nnd__table_row(nnd__table *t, const char *const *cells);
void nnd__table_print(FILE *out, const nnd__table *t, const char *indent);
void nnd__table_free(nnd__table *t);

/* "A".."Z", then "M27", "M28"... : the short name of model i in tables. */
void nnd__model_letter(int i, char buf[16]);
/* "[3,224,224]" */
void nnd__fmt_dims(const int64_t *dims, size_t rank, char *buf, size_t cap);
/* "12.5%" with adaptive precision ("0.031%", "100%"). */
void nnd__fmt_pct(double fraction, char *buf, size_t cap);
/* Text lines about the run: skipped items and throughput. */
void nnd__write_skipped(FILE *out, const nnd_run_setup *s, bool verbose);
void nnd__write_throughput(FILE *out, const nnd_run_setup *s, int n_models);

#endif
