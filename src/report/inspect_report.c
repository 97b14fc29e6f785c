/* The `nndiff inspect` report: a human summary of one model and its JSON
 * twin (schema "nndiff.inspect/1", fields documented in docs/METRICS.md and
 * `nndiff help inspect`). */
#include <errno.h>
#include <json-c/json.h>
#include <stdlib.h>
#include <string.h>

#include "nndiff/report.h"
#include "report/numfmt.h"
#include "report/report_util.h"
#include "util/safe_text.h"
#include "util/strmap.h"

#define INSPECT_SCHEMA "nndiff.inspect/1"
/* The text report lists at most this many unsupported nodes; JSON has all. */
#define MAX_TEXT_UNSUPPORTED 20

/* ------------------------------------------------------------ helpers */

static bool is_default_domain(const char *domain) {
  return !domain || !*domain || strcmp(domain, "ai.onnx") == 0;
}

/* Domain as reports spell it: ONNX's default domain "" is "ai.onnx". */
static const char *domain_name(const nnd_graph *g, const char *domain) {
  if (g->info.format == NND_FORMAT_ONNX && is_default_domain(domain)) return "ai.onnx";
  return domain ? domain : "";
}

static const char *op_type_of(const nnd_node *n) {
  return n->prov.op_type && *n->prov.op_type ? n->prov.op_type : nnd_op_name(n->op);
}

/* Histogram key of a node: its original op type, qualified by the domain
 * when that is not the format's default ("com.microsoft.FusedConv"). */
static void op_key(const nnd_node *n, char *buf, size_t size) {
  if (is_default_domain(n->prov.domain))
    snprintf(buf, size, "%s", op_type_of(n));
  else
    snprintf(buf, size, "%s.%s", n->prov.domain, op_type_of(n));
}

typedef struct op_count {
  char *key;
  const char *canonical;
  int64_t count;
} op_count;

/* Items in first-seen order; `index` maps a key to its item (a file may
 * hold as many op types as nodes, so no linear search per node). */
typedef struct histogram {
  op_count *items;
  size_t n, cap;
  nnd__strmap index; /* key -> item index + 1 */
} histogram;

static bool hist_add(histogram *h, const char *key, const char *canonical) {
  void **known = nnd__strmap_find(&h->index, key);
  if (known) {
    h->items[(uintptr_t)*known - 1].count++;
    return true;
  }
  if (h->n == h->cap) {
    size_t cap = h->cap ? h->cap * 2 : 32;
    op_count *items = realloc(h->items, cap * sizeof *items);
    if (!items) return false;
    h->items = items;
    h->cap = cap;
  }
  char *k = strdup(key);
  if (!k) return false;
  h->items[h->n++] = (op_count){k, canonical, 1};
  bool added;
  void **slot = nnd__strmap_put(&h->index, k, &added);
  if (!slot) return false;
  *slot = (void *)(uintptr_t)h->n;
  return true;
}

static int cmp_count_desc(const void *pa, const void *pb) {
  const op_count *a = pa, *b = pb;
  if (a->count != b->count) return a->count > b->count ? -1 : 1;
  return strcmp(a->key, b->key);
}

static void hist_free(histogram *h) {
  for (size_t i = 0; i < h->n; i++)
    free(h->items[i].key);
  free(h->items);
  nnd__strmap_free(&h->index);
  memset(h, 0, sizeof *h);
}

/* Histogram of original op types (canonical == false) or of canonical ops,
 * sorted by count, most frequent first, ties by name. */
static nnd_status build_histogram(const nnd_graph *g, bool canonical, histogram *h,
                                  nnd_error *err) {
  char key[256];
  memset(h, 0, sizeof *h);
  for (int32_t i = 0; i < g->n_nodes; i++) {
    const nnd_node *n = &g->nodes[i];
    if (canonical)
      snprintf(key, sizeof key, "%s", nnd_op_name(n->op));
    else
      op_key(n, key, sizeof key);
    if (!hist_add(h, key, nnd_op_name(n->op))) {
      hist_free(h);
      return nnd_error_set(err, NND_ERR_NOMEM, "out of memory building the op histogram");
    }
  }
  if (h->n > 1) qsort(h->items, h->n, sizeof *h->items, cmp_count_desc);
  return NND_OK;
}

/* Topological order for the layer list (file order for most formats). */
static nnd_status layer_order(const nnd_graph *g, int32_t **order_out, nnd_error *err) {
  int32_t *order = malloc((size_t)(g->n_nodes ? g->n_nodes : 1) * sizeof *order);
  if (!order) return nnd_error_set(err, NND_ERR_NOMEM, "out of memory ordering the layers");
  nnd_status st = nnd_graph_topo_order(g, order, err);
  if (st != NND_OK) {
    free(order);
    return st;
  }
  *order_out = order;
  return NND_OK;
}

static const nnd_shape *first_output_shape(const nnd_graph *g, const nnd_node *n) {
  if (n->n_outputs < 1 || n->outputs[0] < 0 || n->outputs[0] >= g->n_values) return NULL;
  return &g->values[n->outputs[0]].shape;
}

/* --------------------------------------------------------------- text */

static void print_tensors(FILE *out, const nnd_graph *g, const char *title, const int32_t *ids,
                          int n, bool *oom) {
  char shape[512];
  nnd__table t = {.n_cols = 3};
  nnd__fprintf_safe(out, "\n%s\n", title);
  nnd__table_row(&t, (const char *const[]){"name", "dtype", "shape"});
  for (int i = 0; i < n; i++) {
    if (ids[i] < 0 || ids[i] >= g->n_values) continue;
    const nnd_value *v = &g->values[ids[i]];
    nnd_shape_format(&v->shape, shape, sizeof shape);
    nnd__table_row(&t, (const char *const[]){v->name, nnd_dtype_name(v->dtype), shape});
  }
  if (n == 0)
    nnd__fprintf_safe(out, "  (none)\n");
  else
    nnd__table_print(out, &t, "  ");
  *oom |= t.oom;
  nnd__table_free(&t);
}

static void print_header(FILE *out, const nnd_graph *g) {
  const nnd_model_info *info = &g->info;
  nnd__fprintf_safe(out, "%s: %s model", info->path ? info->path : "(model)",
                    nnd_format_name(info->format));
  if (info->ir_version > 0)
    nnd__fprintf_safe(out, ", IR version %lld", (long long)info->ir_version);
  for (int i = 0; i < info->n_opsets; i++)
    nnd__fprintf_safe(out, "%s %s %lld", i ? "," : ", opset",
                      domain_name(g, info->opsets[i].domain), (long long)info->opsets[i].version);
  if (info->producer_name && *info->producer_name) {
    nnd__fprintf_safe(out, ", producer %s", info->producer_name);
    if (info->producer_version && *info->producer_version)
      nnd__fprintf_safe(out, " %s", info->producer_version);
  }
  fputc('\n', out);
  nnd__fprintf_safe(out, "%lld nodes, %d input%s, %d output%s", (long long)g->n_nodes, g->n_inputs,
                    g->n_inputs == 1 ? "" : "s", g->n_outputs, g->n_outputs == 1 ? "" : "s");
  if (info->graph_name && *info->graph_name)
    nnd__fprintf_safe(out, ", graph '%s'", info->graph_name);
  fputc('\n', out);
}

static void print_cost(FILE *out, const nnd_node_cost *total) {
  char exact[NND_NUMFMT_SIZE], si[NND_NUMFMT_SIZE];
  nnd__fmt_count(total->parameters, exact);
  nnd__fmt_si(total->parameters, si);
  nnd__fprintf_safe(out, "\nParameters: %s (%s)\n", exact, si);
  nnd__fmt_count(total->macs, exact);
  nnd__fmt_si(total->macs, si);
  nnd__fprintf_safe(out, "MACs:       %s (%s)\n", si, exact);
  nnd__fmt_count(total->flops, exact);
  nnd__fmt_si(total->flops, si);
  nnd__fprintf_safe(out, "FLOPs:      %s (%s)\n", si, exact);
  nnd__fprintf_safe(out,
                    "  per sample (unknown dims count as 1); definitions in docs/METRICS.md\n");
  if (total->uncounted > 0)
    nnd__fprintf_safe(out,
                      "  lower bounds: %d node%s not counted (unsupported op or unknown shape; "
                      "see --layers)\n",
                      total->uncounted, total->uncounted == 1 ? "" : "s");
}

static void print_histogram(FILE *out, const histogram *h, int32_t n_nodes, bool *oom) {
  nnd__table t = {.n_cols = 3, .right = (const bool[]){false, true, false}};
  char count[NND_NUMFMT_SIZE], canon[300];
  nnd__fprintf_safe(out, "\nOps: %lld node%s, %zu type%s\n", (long long)n_nodes,
                    n_nodes == 1 ? "" : "s", h->n, h->n == 1 ? "" : "s");
  for (size_t i = 0; i < h->n; i++) {
    const op_count *c = &h->items[i];
    nnd__fmt_count(c->count, count);
    /* Name the canonical op only where it differs from the file's name. */
    canon[0] = '\0';
    if (strcmp(c->canonical, "Unsupported") == 0)
      snprintf(canon, sizeof canon, "(unsupported)");
    else if (strcmp(c->canonical, c->key) != 0)
      snprintf(canon, sizeof canon, "-> %s", c->canonical);
    nnd__table_row(&t, (const char *const[]){c->key, count, canon});
  }
  nnd__table_print(out, &t, "  ");
  *oom |= t.oom;
  nnd__table_free(&t);
}

static void print_unsupported(FILE *out, const nnd_graph *g, bool *oom) {
  int n_unsupported = nnd_graph_count_unsupported(g);
  if (n_unsupported == 0) return;
  nnd__fprintf_safe(
      out,
      "\nUnsupported ops: %d node%s. These nodes load but `nndiff run` will refuse the "
      "model; see docs/OPS.md.\n",
      n_unsupported, n_unsupported == 1 ? "" : "s");
  nnd__table t = {.n_cols = 3};
  nnd__table_row(&t, (const char *const[]){"name", "op_type", "domain"});
  int shown = 0;
  for (int32_t i = 0; i < g->n_nodes && shown < MAX_TEXT_UNSUPPORTED; i++) {
    const nnd_node *n = &g->nodes[i];
    if (n->op != NND_OP_UNSUPPORTED) continue;
    nnd__table_row(&t, (const char *const[]){n->name, op_type_of(n), domain_name(g, n->prov.domain)});
    shown++;
  }
  nnd__table_print(out, &t, "  ");
  if (n_unsupported > shown)
    nnd__fprintf_safe(out, "  ... and %d more (all of them in --json)\n", n_unsupported - shown);
  *oom |= t.oom;
  nnd__table_free(&t);
}

static void print_layers(FILE *out, const nnd_inspect_data *d, const int32_t *order, bool *oom) {
  const nnd_graph *g = d->graph;
  nnd__table t = {.n_cols = 7, .right = (const bool[]){true, false, false, false, true, true, true}};
  char idx[24], shape[512], params[NND_NUMFMT_SIZE], macs[NND_NUMFMT_SIZE], flops[NND_NUMFMT_SIZE];
  nnd__fprintf_safe(out, "\nLayers (topological order)\n");
  nnd__table_row(&t,
            (const char *const[]){"#", "name", "op", "output shape", "params", "MACs", "FLOPs"});
  for (int32_t k = 0; k < g->n_nodes; k++) {
    const nnd_node *n = &g->nodes[order[k]];
    const nnd_node_cost *c = &d->per_node[order[k]];
    const nnd_shape *s = first_output_shape(g, n);
    snprintf(idx, sizeof idx, "%lld", (long long)k);
    if (s)
      nnd_shape_format(s, shape, sizeof shape);
    else
      snprintf(shape, sizeof shape, "?");
    nnd__fmt_count(c->parameters, params);
    if (c->uncounted) {
      snprintf(macs, sizeof macs, "?");
      snprintf(flops, sizeof flops, "?");
    } else {
      nnd__fmt_count(c->macs, macs);
      nnd__fmt_count(c->flops, flops);
    }
    nnd__table_row(&t, (const char *const[]){idx, n->name, op_type_of(n), shape, params, macs, flops});
  }
  nnd__table_print(out, &t, "  ");
  *oom |= t.oom;
  nnd__table_free(&t);
}

nnd_status nnd_inspect_write_text(FILE *out, const nnd_inspect_data *d, bool layers,
                                  nnd_error *err) {
  const nnd_graph *g = d->graph;
  histogram h;
  int32_t *order = NULL;
  bool oom = false;
  nnd_status st = build_histogram(g, false, &h, err);
  if (st != NND_OK) return st;
  if (layers && (st = layer_order(g, &order, err)) != NND_OK) goto done;

  print_header(out, g);
  print_tensors(out, g, "Inputs", g->inputs, g->n_inputs, &oom);
  print_tensors(out, g, "Outputs", g->outputs, g->n_outputs, &oom);
  print_cost(out, &d->total);
  print_histogram(out, &h, g->n_nodes, &oom);
  print_unsupported(out, g, &oom);
  if (layers) print_layers(out, d, order, &oom);
  if (oom)
    st = nnd_error_set(err, NND_ERR_NOMEM, "out of memory writing the report");
  else if (fflush(out) != 0 || ferror(out))
    st = nnd_error_set(err, NND_ERR_IO, "cannot write the report: %s", strerror(errno));
done:
  hist_free(&h);
  free(order);
  return st;
}

/* --------------------------------------------------------------- JSON */

/* A shape as a JSON array: known dims as integers, unknown ones as their
 * symbol (or "?"); null when even the rank is unknown. */
static json_object *jb_shape(nnd__jb *b, const nnd_shape *s) {
  if (!s || s->rank < 0) return NULL;
  json_object *arr = json_object_new_array();
  if (!arr) b->oom = true;
  for (int i = 0; i < s->rank && arr; i++) {
    const nnd_dim *d = &s->dims[i];
    nnd__jb_push(b, arr,
            d->size >= 0 ? json_object_new_int64(d->size) : nnd__jb_str(d->symbol ? d->symbol : "?"));
  }
  return arr;
}

/* Like jb_put, but a NULL value that is not an allocation failure (an
 * unknown shape) becomes JSON null. */
static void jb_put_nullable(nnd__jb *b, json_object *obj, const char *key, json_object *val) {
  if (!val) {
    if (!obj || json_object_object_add(obj, key, NULL) != 0) b->oom = true;
    return;
  }
  nnd__jb_put(b, obj, key, val);
}

static json_object *jb_tensors(nnd__jb *b, const nnd_graph *g, const int32_t *ids, int n) {
  json_object *arr = json_object_new_array();
  if (!arr) b->oom = true;
  for (int i = 0; i < n && arr; i++) {
    if (ids[i] < 0 || ids[i] >= g->n_values) continue;
    const nnd_value *v = &g->values[ids[i]];
    json_object *t = nnd__jb_push(b, arr, json_object_new_object());
    nnd__jb_put(b, t, "name", nnd__jb_str(v->name));
    nnd__jb_put(b, t, "dtype", nnd__jb_str(nnd_dtype_name(v->dtype)));
    jb_put_nullable(b, t, "shape", jb_shape(b, &v->shape));
  }
  return arr;
}

static json_object *jb_histogram(nnd__jb *b, const histogram *h) {
  json_object *obj = json_object_new_object();
  if (!obj) b->oom = true;
  for (size_t i = 0; i < h->n && obj; i++)
    nnd__jb_put(b, obj, h->items[i].key, json_object_new_int64(h->items[i].count));
  return obj;
}

static void jb_cost(nnd__jb *b, json_object *obj, const nnd_node_cost *c) {
  nnd__jb_put(b, obj, "parameters", json_object_new_int64(c->parameters));
  nnd__jb_put(b, obj, "macs", json_object_new_int64(c->macs));
  nnd__jb_put(b, obj, "flops", json_object_new_int64(c->flops));
}

nnd_status nnd_inspect_build_json(const nnd_inspect_data *d, json_object **json_out,
                                  nnd_error *err) {
  const nnd_graph *g = d->graph;
  const nnd_model_info *info = &g->info;
  histogram orig = {0}, canon = {0};
  int32_t *order = NULL;
  nnd__jb b = {false};
  *json_out = NULL;
  nnd_status st = build_histogram(g, false, &orig, err);
  if (st == NND_OK) st = build_histogram(g, true, &canon, err);
  if (st == NND_OK) st = layer_order(g, &order, err);
  if (st != NND_OK) goto done;

  json_object *root = json_object_new_object();
  if (!root) b.oom = true;
  nnd__jb_put(&b, root, "schema", nnd__jb_str(INSPECT_SCHEMA));
  json_object *tool = nnd__jb_put(&b, root, "tool", json_object_new_object());
  nnd__jb_put(&b, tool, "name", nnd__jb_str("nndiff"));
  nnd__jb_put(&b, tool, "version", nnd__jb_str(d->tool_version ? d->tool_version : "unknown"));
  nnd__jb_put(&b, root, "file", nnd__jb_str(info->path));
  nnd__jb_put(&b, root, "file_size", json_object_new_int64((int64_t)info->file_size));
  nnd__jb_put(&b, root, "format", nnd__jb_str(nnd_format_name(info->format)));
  json_object *producer = nnd__jb_put(&b, root, "producer", json_object_new_object());
  nnd__jb_put(&b, producer, "name", nnd__jb_str(info->producer_name));
  nnd__jb_put(&b, producer, "version", nnd__jb_str(info->producer_version));
  nnd__jb_put(&b, root, "graph_name", nnd__jb_str(info->graph_name));
  nnd__jb_put(&b, root, "ir_version", json_object_new_int64(info->ir_version));
  json_object *opsets = nnd__jb_put(&b, root, "opsets", json_object_new_array());
  for (int i = 0; i < info->n_opsets && opsets; i++) {
    json_object *o = nnd__jb_push(&b, opsets, json_object_new_object());
    nnd__jb_put(&b, o, "domain", nnd__jb_str(domain_name(g, info->opsets[i].domain)));
    nnd__jb_put(&b, o, "version", json_object_new_int64(info->opsets[i].version));
  }
  nnd__jb_put(&b, root, "inputs", jb_tensors(&b, g, g->inputs, g->n_inputs));
  nnd__jb_put(&b, root, "outputs", jb_tensors(&b, g, g->outputs, g->n_outputs));
  nnd__jb_put(&b, root, "nodes", json_object_new_int64(g->n_nodes));
  jb_cost(&b, root, &d->total);
  nnd__jb_put(&b, root, "uncounted_nodes", json_object_new_int64(d->total.uncounted));
  nnd__jb_put(&b, root, "metrics_definitions", nnd__jb_str("docs/METRICS.md"));
  nnd__jb_put(&b, root, "op_histogram", jb_histogram(&b, &orig));
  nnd__jb_put(&b, root, "canonical_op_histogram", jb_histogram(&b, &canon));
  json_object *unsupported = nnd__jb_put(&b, root, "unsupported_ops", json_object_new_array());
  for (int32_t i = 0; i < g->n_nodes && unsupported; i++) {
    const nnd_node *n = &g->nodes[i];
    if (n->op != NND_OP_UNSUPPORTED) continue;
    json_object *u = nnd__jb_push(&b, unsupported, json_object_new_object());
    nnd__jb_put(&b, u, "name", nnd__jb_str(n->name));
    nnd__jb_put(&b, u, "op_type", nnd__jb_str(op_type_of(n)));
    nnd__jb_put(&b, u, "domain", nnd__jb_str(domain_name(g, n->prov.domain)));
  }
  json_object *layers = nnd__jb_put(&b, root, "layers", json_object_new_array());
  for (int32_t k = 0; k < g->n_nodes && layers; k++) {
    const nnd_node *n = &g->nodes[order[k]];
    const nnd_node_cost *c = &d->per_node[order[k]];
    json_object *l = nnd__jb_push(&b, layers, json_object_new_object());
    nnd__jb_put(&b, l, "name", nnd__jb_str(n->name));
    nnd__jb_put(&b, l, "op", nnd__jb_str(op_type_of(n)));
    nnd__jb_put(&b, l, "canonical_op", nnd__jb_str(nnd_op_name(n->op)));
    jb_put_nullable(&b, l, "output_shape", jb_shape(&b, first_output_shape(g, n)));
    jb_cost(&b, l, c);
    nnd__jb_put(&b, l, "counted", json_object_new_boolean(!c->uncounted));
  }
  if (b.oom) {
    json_object_put(root);
    st = nnd_error_set(err, NND_ERR_NOMEM, "out of memory building the JSON report");
  } else {
    *json_out = root;
  }
done:
  hist_free(&orig);
  hist_free(&canon);
  free(order);
  return st;
}
