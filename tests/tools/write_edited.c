/* Test helper: loads a model, makes edit records from the command line and
 * writes the edited file through nnd_model_write_edited, so the Python
 * oracles (onnx, onnx.checker, ONNX Runtime) can check what the writer
 * wrote. With --engine it also applies the same edits to a clone
 * (nnd_edit_apply), runs nndiff's engine on it and saves the first output,
 * for comparison with ONNX Runtime on the written file.
 *
 * usage: write_edited [--engine INPUT.f32 OUTPUT.f32] MODEL OUT EDIT...
 *   attr:NODE:FIELD=VALUE[:FIELD=VALUE...]   set_attrs
 *   op:NODE:OP[:FIELD=VALUE...]              set_op (OP: canonical name, e.g. Relu)
 *   input:NODE:SLOT=TENSOR                   set_input (TENSOR "" omits it)
 *   const:TENSOR=FILE:DTYPE[:DIMS]           set_constant from raw little-endian
 *                                            f64/f32/f16/i64 data; DIMS "2x3x3", "-" scalar
 *   addin:NODE:SLOT=NAME=FILE:DTYPE:DIMS     add_input (a new constant NAME)
 *   uses:FROM=TO                             replace_uses
 *   remove:NODE                              remove_node
 * FIELD: pads (begin..,end..), strides, dilations, group, auto_pad (notset,
 * same_upper, same_lower, valid), ceil_mode, count_include_pad, epsilon,
 * alpha, beta, transA, transB, axis, clip_min, clip_max (inf, -inf),
 * keepdims, perm, pad_mode (0 constant, 1 reflect, 2 edge), pad_value,
 * pad_pads, act (none, relu, leaky/A, clip/LO/HI, sigmoid).
 * Exit 0 written, 2 with one line on stderr when anything fails. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "nndiff/engine.h"
#include "nndiff/ir_edit.h"
#include "nndiff/model.h"

static int fail_msg(const char *what) {
  fprintf(stderr, "write_edited: %s\n", what);
  return 2;
}

static int fail(const nnd_error *err) {
  fprintf(stderr, "write_edited: %s\n", err->message);
  return 2;
}

static int32_t find_node(const nnd_graph *g, const char *name) {
  for (int32_t i = 0; i < g->n_nodes; i++)
    if (strcmp(g->nodes[i].name, name) == 0 ||
        (g->nodes[i].prov.name && strcmp(g->nodes[i].prov.name, name) == 0))
      return i;
  return -1;
}

static int parse_ints(const char *s, int64_t *out, int cap) {
  int n = 0;
  while (*s && n < cap) {
    char *end;
    out[n++] = strtoll(s, &end, 10);
    if (end == s) return -1;
    s = *end == ',' ? end + 1 : end;
  }
  return n;
}

static float parse_float(const char *s) {
  if (strcmp(s, "inf") == 0) return INFINITY;
  if (strcmp(s, "-inf") == 0) return -INFINITY;
  return strtof(s, NULL);
}

/* Sets FIELD=VALUE on an edit's attributes; false for unknown fields. */
static bool set_field(nnd_edit *e, const char *fv) {
  char field[64];
  const char *eq = strchr(fv, '=');
  if (!eq || (size_t)(eq - fv) >= sizeof field) return false;
  memcpy(field, fv, (size_t)(eq - fv));
  field[eq - fv] = 0;
  const char *v = eq + 1;
  nnd_attrs *a = &e->attrs;
  bool conv = e->op == NND_OP_CONV || e->op == NND_OP_CONV_TRANSPOSE;
  int64_t ints[2 * NND_MAX_RANK];
  int n;
  snprintf(e->field, sizeof e->field, "%.31s", field);
  snprintf(e->new_text, sizeof e->new_text, "%s", v);
  if (strcmp(field, "pads") == 0) {
    n = parse_ints(v, ints, 2 * NND_MAX_SPATIAL);
    if (n <= 0 || n % 2) return false;
    for (int i = 0; i < n / 2; i++) {
      if (conv) {
        a->conv.pads_begin[i] = ints[i];
        a->conv.pads_end[i] = ints[n / 2 + i];
      } else {
        a->pool.pads_begin[i] = ints[i];
        a->pool.pads_end[i] = ints[n / 2 + i];
      }
    }
    if (conv)
      a->conv.auto_pad = NND_AUTO_PAD_EXPLICIT;
    else
      a->pool.auto_pad = NND_AUTO_PAD_EXPLICIT;
  } else if (strcmp(field, "strides") == 0 || strcmp(field, "dilations") == 0 ||
             strcmp(field, "kernel") == 0) {
    n = parse_ints(v, ints, NND_MAX_SPATIAL);
    if (n <= 0) return false;
    int64_t *dst = field[0] == 's'   ? (conv ? a->conv.strides : a->pool.strides)
                   : field[0] == 'd' ? (conv ? a->conv.dilations : a->pool.dilations)
                                     : (conv ? a->conv.kernel : a->pool.kernel);
    memcpy(dst, ints, (size_t)n * sizeof *ints);
  } else if (strcmp(field, "group") == 0) {
    a->conv.groups = atoll(v);
  } else if (strcmp(field, "auto_pad") == 0) {
    nnd_auto_pad p = strcmp(v, "same_upper") == 0   ? NND_AUTO_PAD_SAME_UPPER
                     : strcmp(v, "same_lower") == 0 ? NND_AUTO_PAD_SAME_LOWER
                     : strcmp(v, "valid") == 0      ? NND_AUTO_PAD_VALID
                                                    : NND_AUTO_PAD_EXPLICIT;
    if (conv)
      a->conv.auto_pad = p;
    else
      a->pool.auto_pad = p;
  } else if (strcmp(field, "ceil_mode") == 0) {
    a->pool.ceil_mode = atoi(v) != 0;
  } else if (strcmp(field, "count_include_pad") == 0) {
    a->pool.count_include_pad = atoi(v) != 0;
  } else if (strcmp(field, "epsilon") == 0) {
    a->epsilon = parse_float(v);
  } else if (strcmp(field, "alpha") == 0) {
    a->alpha = parse_float(v);
  } else if (strcmp(field, "beta") == 0) {
    a->beta = parse_float(v);
  } else if (strcmp(field, "transA") == 0) {
    a->trans_a = atoi(v) != 0;
  } else if (strcmp(field, "transB") == 0) {
    a->trans_b = atoi(v) != 0;
  } else if (strcmp(field, "axis") == 0) {
    a->axis = atoll(v);
  } else if (strcmp(field, "clip_min") == 0) {
    a->clip_min = parse_float(v);
  } else if (strcmp(field, "clip_max") == 0) {
    a->clip_max = parse_float(v);
  } else if (strcmp(field, "keepdims") == 0) {
    a->keepdims = atoi(v) != 0;
  } else if (strcmp(field, "perm") == 0) {
    n = parse_ints(v, ints, NND_MAX_RANK);
    if (n <= 0) return false;
    a->n_perm = n;
    memcpy(a->perm, ints, (size_t)n * sizeof *ints);
  } else if (strcmp(field, "pad_mode") == 0) {
    a->pad_mode = (nnd_pad_mode)atoi(v);
  } else if (strcmp(field, "pad_value") == 0) {
    a->pad_value = parse_float(v);
  } else if (strcmp(field, "pad_pads") == 0) {
    n = parse_ints(v, ints, 2 * NND_MAX_RANK);
    if (n <= 0 || n % 2) return false;
    a->n_pads = n / 2;
    a->has_pads = true;
    for (int i = 0; i < n / 2; i++) {
      a->pads_begin[i] = ints[i];
      a->pads_end[i] = ints[n / 2 + i];
    }
  } else if (strcmp(field, "act") == 0) {
    nnd_activation *act = &e->act;
    *act = (nnd_activation){NND_ACT_NONE, 0.f, 0.f};
    if (strcmp(v, "relu") == 0)
      act->kind = NND_ACT_RELU;
    else if (strcmp(v, "sigmoid") == 0)
      act->kind = NND_ACT_SIGMOID;
    else if (strncmp(v, "leaky/", 6) == 0)
      *act = (nnd_activation){NND_ACT_LEAKY_RELU, parse_float(v + 6), 0.f};
    else if (strncmp(v, "clip/", 5) == 0) {
      const char *hi = strchr(v + 5, '/');
      if (!hi) return false;
      *act = (nnd_activation){NND_ACT_CLIP, parse_float(v + 5), parse_float(hi + 1)};
    } else if (strcmp(v, "none") != 0)
      return false;
  } else {
    return false;
  }
  return true;
}

static nnd_dtype parse_dtype(const char *s) {
  if (strcmp(s, "f64") == 0) return NND_DTYPE_F64;
  if (strcmp(s, "f32") == 0) return NND_DTYPE_F32;
  if (strcmp(s, "f16") == 0) return NND_DTYPE_F16;
  if (strcmp(s, "i64") == 0) return NND_DTYPE_I64;
  return NND_DTYPE_UNDEFINED;
}

static void *read_file(const char *path, size_t *n) {
  FILE *f = fopen(path, "rb");
  if (!f) return NULL;
  fseek(f, 0, SEEK_END);
  long size = ftell(f);
  fseek(f, 0, SEEK_SET);
  void *buf = malloc(size > 0 ? (size_t)size : 1);
  if (buf && size > 0 && fread(buf, 1, (size_t)size, f) != (size_t)size) {
    free(buf);
    buf = NULL;
  }
  fclose(f);
  *n = size > 0 ? (size_t)size : 0;
  return buf;
}

/* DIMS "2x3x3" (or "-" for a scalar) into shape. */
static bool parse_shape(char *dims, nnd_shape *shape) {
  int64_t d[NND_MAX_RANK];
  for (char *x = dims; *x; x++)
    if (*x == 'x') *x = ',';
  int rank = strcmp(dims, "-") == 0 ? 0 : parse_ints(dims, d, NND_MAX_RANK);
  if (rank < 0) return false;
  memset(shape, 0, sizeof *shape);
  shape->rank = rank;
  for (int i = 0; i < rank; i++)
    shape->dims[i].size = d[i];
  return true;
}

/* Parses one EDIT argument into e (data buffers go to *owned). */
static bool parse_edit(const nnd_graph *g, char *arg, nnd_edit *e, void **owned) {
  char *colon = strchr(arg, ':');
  if (!colon) return false;
  *colon = 0;
  char *rest = colon + 1;
  if (strcmp(arg, "attr") == 0 || strcmp(arg, "op") == 0) {
    char *node = strtok(rest, ":");
    int32_t n = node ? find_node(g, node) : -1;
    if (n < 0) return false;
    bool set_op = arg[0] == 'o';
    nnd_edit_init_node(e, g, set_op ? NND_EDIT_SET_OP : NND_EDIT_SET_ATTRS, n);
    if (set_op) {
      char *op = strtok(NULL, ":");
      int k = 0;
      while (op && k < NND_OP_COUNT && strcmp(nnd_op_name((nnd_op)k), op) != 0)
        k++;
      if (!op || k == NND_OP_COUNT) return false;
      e->op = (nnd_op)k;
      snprintf(e->field, sizeof e->field, "op");
      snprintf(e->new_text, sizeof e->new_text, "%s", op);
    }
    for (char *fv = strtok(NULL, ":"); fv; fv = strtok(NULL, ":"))
      if (!set_field(e, fv)) return false;
    return true;
  }
  if (strcmp(arg, "input") == 0) {
    char *eq = strchr(rest, '=');
    char *slot = strrchr(rest, ':');
    if (!eq || !slot || slot > eq) return false;
    *slot = 0;
    *eq = 0;
    int32_t n = find_node(g, rest);
    if (n < 0) return false;
    nnd_edit_init_node(e, g, NND_EDIT_SET_INPUT, n);
    e->slot = atoi(slot + 1);
    e->new_value = eq[1] ? nnd_graph_find_value(g, eq + 1) : -1;
    return !eq[1] || e->new_value >= 0;
  }
  if (strcmp(arg, "const") == 0) {
    char *eq = strchr(rest, '=');
    if (!eq) return false;
    *eq = 0;
    int32_t v = nnd_graph_find_value(g, rest);
    if (v < 0) return false;
    nnd_edit_init_value(e, g, NND_EDIT_SET_CONSTANT, v);
    char *file = strtok(eq + 1, ":"), *dtype = strtok(NULL, ":"), *dims = strtok(NULL, ":");
    if (!file || !dtype || (e->dtype = parse_dtype(dtype)) == NND_DTYPE_UNDEFINED) return false;
    size_t n = 0;
    *owned = read_file(file, &n);
    if (!*owned) return false;
    e->data = *owned;
    e->nbytes = n;
    if (dims && !parse_shape(dims, &e->shape)) return false;
    snprintf(e->field, sizeof e->field, "data");
    return true;
  }
  if (strcmp(arg, "addin") == 0) {
    /* addin:NODE:SLOT=NAME=FILE:DTYPE:DIMS */
    char *slot = strchr(rest, ':');
    char *eq = slot ? strchr(slot, '=') : NULL;
    if (!eq) return false;
    *slot = 0;
    *eq = 0;
    int32_t n = find_node(g, rest);
    char *name = eq + 1, *eq2 = strchr(name, '=');
    if (n < 0 || !eq2) return false;
    *eq2 = 0;
    nnd_edit_init_node(e, g, NND_EDIT_ADD_INPUT, n);
    e->slot = atoi(slot + 1);
    snprintf(e->new_name, sizeof e->new_name, "%s", name);
    char *file = strtok(eq2 + 1, ":"), *dtype = strtok(NULL, ":"), *dims = strtok(NULL, ":");
    if (!file || !dtype || !dims || (e->dtype = parse_dtype(dtype)) == NND_DTYPE_UNDEFINED)
      return false;
    size_t nb = 0;
    *owned = read_file(file, &nb);
    if (!*owned) return false;
    e->data = *owned;
    e->nbytes = nb;
    if (!parse_shape(dims, &e->shape)) return false;
    snprintf(e->field, sizeof e->field, "input[%d]", e->slot);
    return true;
  }
  if (strcmp(arg, "uses") == 0) {
    char *eq = strchr(rest, '=');
    if (!eq) return false;
    *eq = 0;
    int32_t from = nnd_graph_find_value(g, rest), to = nnd_graph_find_value(g, eq + 1);
    if (from < 0 || to < 0) return false;
    nnd_edit_init_value(e, g, NND_EDIT_REPLACE_USES, from);
    e->new_value = to;
    return true;
  }
  if (strcmp(arg, "remove") == 0) {
    int32_t n = find_node(g, rest);
    if (n < 0) return false;
    nnd_edit_init_node(e, g, NND_EDIT_REMOVE_NODE, n);
    return true;
  }
  return false;
}

static int cmp_remove_last(const void *a, const void *b) {
  const nnd_edit *x = a, *y = b;
  bool rx = x->kind == NND_EDIT_REMOVE_NODE, ry = y->kind == NND_EDIT_REMOVE_NODE;
  if (rx != ry) return rx ? 1 : -1;
  if (rx) return y->node - x->node; /* the highest index first: the others keep theirs */
  return 0;
}

/* The edits applied to a clone, then one engine run on input_path's floats. */
static int run_engine(const nnd_graph *g, nnd_edit *edits, int n, const char *input_path,
                      const char *output_path) {
  nnd_error err = {0};
  nnd_graph *c = NULL;
  if (nnd_graph_clone(g, &c, &err)) return fail(&err);
  nnd_edit *sorted = malloc((size_t)(n ? n : 1) * sizeof *sorted);
  memcpy(sorted, edits, (size_t)n * sizeof *sorted);
  /* stable enough: removals move to the end, highest node first */
  for (int i = 0; i < n; i++)
    for (int j = i + 1; j < n; j++)
      if (cmp_remove_last(&sorted[i], &sorted[j]) > 0) {
        nnd_edit t = sorted[i];
        sorted[i] = sorted[j];
        sorted[j] = t;
      }
  for (int i = 0; i < n; i++) {
    /* Reshape -> Flatten: Flatten takes no shape input (the writer drops
     * it from the file the same way) */
    if (sorted[i].kind == NND_EDIT_SET_OP && sorted[i].op == NND_OP_FLATTEN &&
        c->nodes[sorted[i].node].n_inputs > 1)
      c->nodes[sorted[i].node].n_inputs = 1;
    /* a constant set on what a Cast or Identity computes from a constant
     * (float16 weights behind Cast) goes into that constant, as the writer
     * does: the IR refuses a constant on a value a node still produces */
    if (sorted[i].kind == NND_EDIT_SET_CONSTANT) {
      int32_t v = sorted[i].value;
      while (c->values[v].producer >= 0 && (c->nodes[c->values[v].producer].op == NND_OP_CAST ||
                                            c->nodes[c->values[v].producer].op == NND_OP_IDENTITY))
        v = c->nodes[c->values[v].producer].inputs[0];
      sorted[i].value = v; /* Cast and Identity keep the shape */
    }
    if (nnd_edit_apply(c, &sorted[i], &err)) return fail(&err);
  }
  free(sorted);
  if (nnd_graph_infer_shapes(c, &err)) return fail(&err);
  nnd_engine_options opt;
  nnd_engine_options_init(&opt);
  opt.precision = NND_PRECISION_REFERENCE;
  nnd_engine *eng = NULL;
  if (nnd_engine_create(c, &opt, &eng, &err)) return fail(&err);
  size_t in_bytes = 0;
  float *in = read_file(input_path, &in_bytes);
  if (!in) return fail_msg("cannot read the engine input");
  nnd_tensor x = {NND_DTYPE_F32, 0, {0}, in};
  int32_t xin = c->inputs[0];
  int rank;
  int64_t dims[NND_MAX_RANK];
  if (!nnd_engine_value_shape(eng, xin, &rank, dims)) return fail_msg("no input shape");
  x.rank = rank;
  memcpy(x.dims, dims, sizeof dims);
  if (!nnd_engine_value_shape(eng, c->outputs[0], &rank, dims)) return fail_msg("no output shape");
  int64_t numel = 1;
  for (int i = 0; i < rank; i++)
    numel *= dims[i];
  float *out = malloc((size_t)numel * sizeof *out);
  nnd_tensor y = {NND_DTYPE_F32, rank, {0}, out};
  memcpy(y.dims, dims, sizeof dims);
  nnd_tensor *outs = calloc((size_t)c->n_outputs, sizeof *outs);
  outs[0] = y;
  for (int i = 1; i < c->n_outputs; i++)
    if (!nnd_engine_value_shape(eng, c->outputs[i], &outs[i].rank, outs[i].dims)) outs[i].rank = 0;
  if (nnd_engine_run(eng, &x, 1, outs, c->n_outputs, &err)) return fail(&err);
  FILE *f = fopen(output_path, "wb");
  if (!f || fwrite(out, sizeof *out, (size_t)numel, f) != (size_t)numel)
    return fail_msg("cannot write the engine output");
  fclose(f);
  free(outs);
  free(out);
  free(in);
  nnd_engine_destroy(eng);
  nnd_graph_destroy(c);
  return 0;
}

int main(int argc, char **argv) {
  int i = 1;
  const char *engine_in = NULL, *engine_out = NULL;
  if (i + 2 < argc && strcmp(argv[i], "--engine") == 0) {
    engine_in = argv[i + 1];
    engine_out = argv[i + 2];
    i += 3;
  }
  if (argc - i < 2) {
    fprintf(stderr, "usage: write_edited [--engine IN.f32 OUT.f32] MODEL OUT EDIT...\n");
    return 2;
  }
  const char *model = argv[i], *out = argv[i + 1];
  i += 2;
  nnd_error err = {0};
  nnd_graph *g = NULL;
  if (nnd_model_load(model, &g, &err)) return fail(&err);
  int n = argc - i, rc = 0;
  nnd_edit *edits = calloc((size_t)(n ? n : 1), sizeof *edits);
  void **owned = calloc((size_t)(n ? n : 1), sizeof *owned);
  for (int k = 0; k < n && rc == 0; k++) {
    char *arg = strdup(argv[i + k]);
    if (!parse_edit(g, arg, &edits[k], &owned[k])) {
      fprintf(stderr, "write_edited: cannot parse edit '%s'\n", argv[i + k]);
      rc = 2;
    }
    free(arg);
  }
  if (rc == 0 && nnd_model_write_edited(model, g, edits, (size_t)n, out, &err)) rc = fail(&err);
  if (rc == 0 && engine_in) rc = run_engine(g, edits, n, engine_in, engine_out);
  for (int k = 0; k < n; k++)
    free(owned[k]);
  free(owned);
  free(edits);
  nnd_graph_destroy(g);
  return rc;
}
