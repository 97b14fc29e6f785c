/* The writer's constants: new data for a tensor the file states (an
 * initializer, a Constant node's value, external data), reached through
 * the Identity or Cast that computes an edited value from it, converted to
 * the tensor's dtype and written in place, re-encoded, or appended to the
 * new external data file; and which external files the output needs. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "formats/onnx/onnx_fields.h"
#include "formats/onnx/onnx_write_internal.h"

/* ------------------------------------------------------------ constants */

bool nnd__ow_is_stated_constant(const nnd__ow_ctx *c, int32_t v) {
  const nnd_value *val = &c->g->values[v];
  return val->kind == NND_VALUE_CONSTANT && val->prov.stated && nnd__ow_prov_ok(c, &val->prov);
}

bool nnd__ow_is_constant_node(const nnd_value *v) {
  return v->prov.op_type && strcmp(v->prov.op_type, "Constant") == 0;
}

/* The TensorProto of an external tensor says data_location EXTERNAL. */
bool nnd__ow_tensor_is_external(const nnd__ow_ctx *c, nnd_pb_span msg) {
  nnd_pb_reader r = nnd_pb_reader_sub(&c->file, msg);
  nnd_error ignore = {0};
  bool ext = false;
  while (nnd_pb_more(&r)) {
    nnd_pb_field f;
    if (nnd_pb_next(&r, &f, &ignore) != NND_OK) break;
    if (f.number == TENSOR_DATA_LOCATION && f.wire == NND_PB_VARINT) ext = f.u64 == 1;
  }
  return ext;
}

/* The `location` of an external TensorProto (size 0 when none). */
static nnd_pb_span tensor_location(const nnd__ow_ctx *c, nnd_pb_span msg) {
  nnd_pb_reader r = nnd_pb_reader_sub(&c->file, msg);
  nnd_error ignore = {0};
  nnd_pb_span loc = {NULL, 0};
  while (nnd_pb_more(&r)) {
    nnd_pb_field f;
    if (nnd_pb_next(&r, &f, &ignore) != NND_OK) break;
    if (f.number != TENSOR_EXTERNAL_DATA || f.wire != NND_PB_LEN) continue;
    nnd_pb_span key = nnd__ow_msg_string(&c->file, f.span, KV_KEY);
    if (key.size == 8 && memcmp(key.data, "location", 8) == 0)
      loc = nnd__ow_msg_string(&c->file, f.span, KV_VALUE);
  }
  return loc;
}

/* The one attribute of a Constant node (the reader insists on one). */
static bool constant_attr(const nnd__ow_ctx *c, const nnd_value *v, nnd_pb_span *attr,
                          nnd_pb_span *attr_name) {
  nnd_pb_reader r = nnd_pb_reader_sub(&c->file, nnd__ow_node_msg(c, &v->prov));
  nnd_error ignore = {0};
  while (nnd_pb_more(&r)) {
    nnd_pb_field f;
    if (nnd_pb_next(&r, &f, &ignore) != NND_OK) return false;
    if (f.number == NODE_ATTRIBUTE && f.wire == NND_PB_LEN) {
      *attr = f.span;
      *attr_name = nnd__ow_msg_string(&c->file, f.span, ATTR_NAME);
      return true;
    }
  }
  return false;
}

static bool span_is(nnd_pb_span s, const char *name) {
  size_t n = strlen(name);
  return s.size == n && memcmp(s.data, name, n) == 0;
}

/* The constant an edit of v writes into: v itself when the file states it,
 * else through the Identity (tied weights) or Cast (float16 weights) that
 * computes v from a constant nothing else reads. */
nnd_status nnd__ow_constant_target(nnd__ow_ctx *c, int ei, int32_t v, int32_t *out,
                                   nnd_error *err) {
  const nnd_graph *g = c->g;
  int32_t t = v;
  for (int depth = 0; depth < 4 && !nnd__ow_is_stated_constant(c, t); depth++) {
    int32_t p = g->values[t].producer;
    if (p < 0 || c->removed[p] || (c->op[p] != NND_OP_IDENTITY && c->op[p] != NND_OP_CAST) ||
        c->n_in[p] < 1 || c->in[p][0] < 0)
      return nnd__ow_fail(c, ei, NND_ERR_UNSUPPORTED, err,
                          "tensor '%s' is computed in the model, not stated as a constant",
                          g->values[t].name);
    int32_t src = c->in[p][0];
    if (nnd__ow_uses_of(c, src) != 1)
      return nnd__ow_fail(c, ei, NND_ERR_UNSUPPORTED, err,
                          "tensor '%s' comes from '%s', which other nodes read too",
                          g->values[v].name, g->values[src].name);
    t = src;
  }
  if (!nnd__ow_is_stated_constant(c, t))
    return nnd__ow_fail(c, ei, NND_ERR_UNSUPPORTED, err, "tensor '%s' is not stated in the file",
                        g->values[t].name);
  *out = t;
  return NND_OK;
}

static bool same_shape(const nnd_shape *a, const nnd_shape *b) {
  if (a->rank != b->rank) return false;
  for (int i = 0; i < a->rank; i++)
    if (a->dims[i].size != b->dims[i].size) return false;
  return true;
}

/* Appends bytes to the new external data file (64-byte aligned, as mapped
 * readers like) and returns their offset. */
static nnd_status external_append(nnd__ow_ctx *c, const void *data, size_t n, uint64_t *offset,
                                  nnd_error *err) {
  static const uint8_t zeros[64];
  size_t pad = (64 - c->ext_data.size % 64) % 64;
  nnd_pb_put_bytes(&c->ext_data, zeros, pad);
  *offset = c->ext_data.size;
  nnd_pb_put_bytes(&c->ext_data, data, n);
  return c->ext_data.failed ? nnd__ow_nomem(c, err) : NND_OK;
}

/* Writes data (already in t's dtype) with shape into constant t. */
nnd_status nnd__ow_write_constant(nnd__ow_ctx *c, int ei, int32_t t, const nnd_shape *shape,
                                  const void *data, size_t nbytes, nnd_error *err) {
  const nnd_value *v = &c->g->values[t];
  bool shape_same = same_shape(shape, &v->shape);
  if (shape_same && v->data_offset >= 0 && nbytes == v->nbytes) {
    /* raw_data of the same size: overwritten where it lies */
    return nnd__ow_add_overwrite(c, (uint64_t)v->data_offset, data, nbytes) ? NND_OK
                                                                            : nnd__ow_nomem(c, err);
  }
  int64_t dims[NND_MAX_RANK];
  for (int i = 0; i < shape->rank; i++)
    dims[i] = shape->dims[i].size;
  nnd__ow_tensor_edit te = {shape->rank, shape_same ? NULL : dims, data, nbytes, NULL, 0};
  nnd_status st;
  nnd__ow_repl *r = nnd__ow_add_repl(c, v->prov.offset);
  if (!r) return nnd__ow_nomem(c, err);
  nnd_pb_buf_free(&r->bytes);
  if (!nnd__ow_is_constant_node(v)) {
    nnd_pb_span msg = nnd__ow_node_msg(c, &v->prov);
    if (nnd__ow_tensor_is_external(c, msg)) {
      te.raw = NULL;
      te.location = c->ext_location;
      if ((st = external_append(c, data, nbytes, &te.offset, err)) != NND_OK) return st;
    }
    return nnd__ow_encode_tensor(&c->file, msg, &te, &r->bytes, err);
  }
  /* a Constant node: its one attribute is re-encoded */
  nnd_pb_span attr, aname;
  if (!constant_attr(c, v, &attr, &aname))
    return nnd__ow_fail(c, ei, NND_ERR_FORMAT, err, "the Constant node holds no attribute");
  nnd__ow_attr_edit ae = {"value", false, {0}};
  nnd__ow_node_edit ne = {0};
  ne.n_attrs = 1;
  ne.attrs = &ae;
  if (span_is(aname, "value")) {
    nnd_pb_span tmsg = nnd__ow_msg_string(&c->file, attr, ATTR_T);
    nnd_pb_buf tensor = {0};
    st = nnd__ow_encode_tensor(&c->file, tmsg, &te, &tensor, err);
    if (st == NND_OK) st = nnd__ow_attr_with_tensor(&c->file, attr, &tensor, &ae.bytes, err);
    nnd_pb_buf_free(&tensor);
  } else {
    bool floats = span_is(aname, "value_float") || span_is(aname, "value_floats");
    bool ints = span_is(aname, "value_int") || span_is(aname, "value_ints");
    bool scalar = span_is(aname, "value_float") || span_is(aname, "value_int");
    if ((!floats && !ints) || (scalar ? shape->rank != 0 : shape->rank != 1))
      return nnd__ow_fail(c, ei, NND_ERR_UNSUPPORTED, err,
                          "the Constant node's attribute cannot hold data of this shape");
    ae.name =
        scalar ? (floats ? "value_float" : "value_int") : (floats ? "value_floats" : "value_ints");
    size_t count = nbytes / (floats ? 4 : 8);
    if (scalar && floats) {
      float f;
      memcpy(&f, data, 4);
      nnd__ow_attr_float(&ae.bytes, ae.name, f);
    } else if (scalar) {
      int64_t i;
      memcpy(&i, data, 8);
      nnd__ow_attr_int(&ae.bytes, ae.name, i);
    } else if (floats) {
      float *f = malloc(count ? count * 4 : 1);
      if (!f) return nnd__ow_nomem(c, err);
      memcpy(f, data, count * 4);
      nnd__ow_attr_floats(&ae.bytes, ae.name, f, (int)count);
      free(f);
    } else {
      int64_t *i = malloc(count ? count * 8 : 1);
      if (!i) return nnd__ow_nomem(c, err);
      memcpy(i, data, count * 8);
      nnd__ow_attr_ints(&ae.bytes, ae.name, i, (int)count);
      free(i);
    }
    st = ae.bytes.failed ? nnd__ow_nomem(c, err) : NND_OK;
  }
  if (st == NND_OK)
    st = nnd__ow_encode_node(&c->file, nnd__ow_node_msg(c, &v->prov), &ne, &r->bytes, err);
  nnd_pb_buf_free(&ae.bytes);
  return st;
}

nnd_status nnd__ow_plan_constant(nnd__ow_ctx *c, int32_t v, nnd_error *err) {
  int ei = c->value_edit[v];
  const nnd_edit *e = &c->edits[ei];
  int32_t t;
  nnd_status st = nnd__ow_constant_target(c, ei, v, &t, err);
  if (st != NND_OK) return st;
  const nnd_value *tv = &c->g->values[t];
  size_t in_size = nnd_dtype_size(e->dtype);
  if (!in_size || e->nbytes % in_size)
    return nnd__ow_fail(c, ei, NND_ERR_USAGE, err,
                        "the new data is not a whole number of %s values",
                        nnd_dtype_name(e->dtype));
  int64_t count = (int64_t)(e->nbytes / in_size), numel;
  const nnd_shape *shape = e->shape.rank >= 0 ? &e->shape : &tv->shape;
  if (t != v && !same_shape(shape, &tv->shape)) shape = &tv->shape; /* Cast/Identity keep it */
  if (!nnd_shape_is_static(shape) || !nnd_shape_numel(shape, &numel) || numel != count)
    return nnd__ow_fail(c, ei, NND_ERR_USAGE, err,
                        "the new data has %lld values, the shape needs %s", (long long)count,
                        "another count");
  void *conv = NULL;
  size_t nbytes = 0;
  const char *why = NULL;
  if (!nnd__ow_convert(e->dtype, e->data, count, tv->dtype, &conv, &nbytes, &why))
    return nnd__ow_fail(c, ei, NND_ERR_UNSUPPORTED, err, "%s (%s into %s)", why,
                        nnd_dtype_name(e->dtype), nnd_dtype_name(tv->dtype));
  if (!nnd__ow_own(c, conv)) return nnd__ow_nomem(c, err);
  return nnd__ow_write_constant(c, ei, t, shape, conv, nbytes, err);
}

/* ------------------------------------------------------- external data */

static const char *base_name(const char *p) {
  const char *s = strrchr(p, '/');
  return s ? s + 1 : p;
}

/* The distinct external locations of initializers nothing rewrites, and a
 * fresh name for the edited tensors' data. */
nnd_status nnd__ow_plan_external(nnd__ow_ctx *c, bool need_new, bool copy, nnd_error *err) {
  const nnd_graph *g = c->g;
  nnd__strmap locs;
  nnd__strmap_init(&locs);
  nnd_status st = NND_OK;
  bool added;
  for (int32_t v = 0; v < g->n_values && st == NND_OK; v++) {
    const nnd_value *val = &g->values[v];
    if (val->kind != NND_VALUE_CONSTANT || !nnd__ow_prov_ok(c, &val->prov) ||
        nnd__ow_is_constant_node(val) || val->prov.op_type)
      continue;
    nnd_pb_span loc = tensor_location(c, nnd__ow_node_msg(c, &val->prov));
    if (!loc.size) continue;
    char *s = nnd__ow_own_str(c, (const char *)loc.data, loc.size);
    if (!s || !nnd__strmap_put(&locs, s, &added)) st = nnd__ow_nomem(c, err);
    /* a tensor the plan re-encodes no longer needs its file, but one file
     * often holds many tensors: copy it whenever any unedited tensor may
     * still point into it */
    else if (copy && added) {
      char **q = realloc(c->copies, (size_t)(c->n_copies + 1) * sizeof *q);
      if (!q)
        st = nnd__ow_nomem(c, err);
      else {
        c->copies = q;
        c->copies[c->n_copies++] = s;
      }
    }
  }
  if (st == NND_OK && need_new) {
    char buf[4096];
    /* named after the output up to its ".onnx": a caller that writes to a
     * temporary name ("fixed.onnx.tmp-123") and renames the model later
     * still gets a data file named after the final one */
    const char *base = base_name(c->out_path), *ext = strstr(base, ".onnx");
    int n = ext ? (int)(ext - base) + 5 : (int)strlen(base);
    for (int k = 0; k < 100 && !c->ext_location; k++) {
      if (k == 0)
        snprintf(buf, sizeof buf, "%.*s.data", n, base);
      else
        snprintf(buf, sizeof buf, "%.*s.%d.data", n, base, k);
      if (!nnd__strmap_find(&locs, buf)) c->ext_location = nnd__ow_own_str(c, buf, strlen(buf));
    }
    if (!c->ext_location) st = nnd__ow_nomem(c, err);
  }
  nnd__strmap_free(&locs);
  return st;
}

bool nnd__ow_any_external_edit(nnd__ow_ctx *c) {
  for (int32_t v = 0; v < c->g->n_values; v++) {
    if (c->value_edit[v] < 0) continue;
    int32_t t = v;
    nnd_error ignore = {0};
    if (nnd__ow_constant_target(c, c->value_edit[v], v, &t, &ignore) != NND_OK) continue;
    const nnd_value *tv = &c->g->values[t];
    if (!nnd__ow_is_constant_node(tv) &&
        nnd__ow_tensor_is_external(c, nnd__ow_node_msg(c, &tv->prov)))
      return true;
  }
  return false;
}

/* True when the output's folder is the source's (external locations stay
 * valid). */
bool nnd__ow_same_folder(const char *a, const char *b) {
  char da[4096], db[4096];
  snprintf(da, sizeof da, "%s", a);
  snprintf(db, sizeof db, "%s", b);
  char *sa = strrchr(da, '/'), *sb = strrchr(db, '/');
  if (sa)
    *sa = 0;
  else
    snprintf(da, sizeof da, ".");
  if (sb)
    *sb = 0;
  else
    snprintf(db, sizeof db, ".");
  if (!da[0]) snprintf(da, sizeof da, "/");
  if (!db[0]) snprintf(db, sizeof db, "/");
  char *ra = realpath(da, NULL), *rb = realpath(db, NULL);
  bool same = ra && rb && strcmp(ra, rb) == 0;
  free(ra);
  free(rb);
  return same;
}
