/* nnd_onnx_write_edited: the source file copied with the plan applied.
 *
 * The ModelProto and its GraphProto are walked field by field: every field
 * the plan does not name is copied byte for byte (raw_data the plan
 * overwrites in place is spliced in while copying), the nodes and
 * initializers it replaces are written from their re-encoded bytes, and
 * the length prefix of the GraphProto is recomputed. Everything else in
 * the ModelProto (opsets, metadata, functions, training info) is copied as
 * it is. The walk runs twice, once counting the graph's new size and once
 * writing, so nothing but the re-encoded messages is held in memory. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "formats/onnx/onnx_fields.h"
#include "formats/onnx/onnx_write_internal.h"
#include "nndiff/onnx.h"
#include "util/mapped_file.h"
#include "util/output_set.h"

/* Where bytes go: a stream, or only a count (the first walk). */
typedef struct sink {
  FILE *f;
  uint64_t n;
  size_t next_overwrite; /* the first overwrite not yet passed */
} sink;

static void put(sink *s, const void *p, size_t n) {
  if (s->f && n) fwrite(p, 1, n, s->f);
  s->n += n;
}

static void put_varint(sink *s, uint64_t v) {
  uint8_t tmp[10];
  put(s, tmp, nnd_pb_encode_varint(tmp, v));
}

static void put_len_field(sink *s, uint32_t number, const void *p, size_t n) {
  put_varint(s, (uint64_t)number << 3 | NND_PB_LEN);
  put_varint(s, n);
  put(s, p, n);
}

/* Copies file bytes [from, to) with the overwrites that fall inside. */
static void copy_range(const nnd__ow_ctx *c, sink *s, size_t from, size_t to) {
  const uint8_t *base = c->file.base;
  while (from < to) {
    while (s->next_overwrite < c->n_overwrites &&
           c->overwrites[s->next_overwrite].offset + c->overwrites[s->next_overwrite].nbytes <=
               from)
      s->next_overwrite++;
    const nnd__ow_overwrite *o =
        s->next_overwrite < c->n_overwrites ? &c->overwrites[s->next_overwrite] : NULL;
    if (!o || o->offset >= to) {
      put(s, base + from, to - from);
      return;
    }
    if (o->offset > from) {
      put(s, base + from, (size_t)o->offset - from);
      from = (size_t)o->offset;
    }
    /* overwrites lie inside one raw_data field, which lies inside one copy */
    put(s, o->data, o->nbytes);
    from += o->nbytes;
    s->next_overwrite++;
  }
}

static int cmp_repl(const void *a, const void *b) {
  uint64_t x = ((const nnd__ow_repl *)a)->offset, y = ((const nnd__ow_repl *)b)->offset;
  return x < y ? -1 : x > y;
}

static int cmp_overwrite(const void *a, const void *b) {
  uint64_t x = ((const nnd__ow_overwrite *)a)->offset, y = ((const nnd__ow_overwrite *)b)->offset;
  return x < y ? -1 : x > y;
}

static const nnd__ow_repl *find_repl(const nnd__ow_ctx *c, uint64_t offset) {
  nnd__ow_repl key = {offset, false, {0}};
  if (!c->n_repls) return NULL;
  return bsearch(&key, c->repls, c->n_repls, sizeof key, cmp_repl);
}

static bool value_info_dropped(const nnd__ow_ctx *c, nnd_pb_span msg) {
  if (c->drop_value_info.count == 0) return false;
  nnd_pb_span name = nnd__ow_msg_string(&c->file, msg, VI_NAME);
  char buf[1024];
  if (name.size >= sizeof buf) return false;
  memcpy(buf, name.data, name.size);
  buf[name.size] = 0;
  return nnd__strmap_find(&c->drop_value_info, buf) != NULL;
}

static nnd_status emit_graph(const nnd__ow_ctx *c, nnd_pb_span graph, sink *s, nnd_error *err) {
  nnd_pb_reader r = nnd_pb_reader_sub(&c->file, graph);
  while (nnd_pb_more(&r)) {
    nnd_pb_field f;
    nnd_status st = nnd_pb_next(&r, &f, err);
    if (st != NND_OK) return st;
    size_t end = nnd_pb_offset(&r);
    if (f.wire == NND_PB_LEN && (f.number == GRAPH_NODE || f.number == GRAPH_INITIALIZER)) {
      const nnd__ow_repl *rp = find_repl(c, nnd_pb_offset_of(&r, f.span.data));
      if (rp) {
        if (!rp->drop) put_len_field(s, f.number, rp->bytes.data, rp->bytes.size);
        continue;
      }
    }
    if (f.wire == NND_PB_LEN && f.number == GRAPH_VALUE_INFO && value_info_dropped(c, f.span))
      continue;
    copy_range(c, s, f.offset, end);
  }
  put(s, c->new_nodes.data, c->new_nodes.size);
  put(s, c->new_inits.data, c->new_inits.size);
  put(s, c->new_inputs.data, c->new_inputs.size);
  return NND_OK;
}

static nnd_status emit_model(const nnd__ow_ctx *c, FILE *f, nnd_error *err) {
  nnd_pb_reader r = c->file;
  sink out = {f, 0, 0};
  while (nnd_pb_more(&r)) {
    nnd_pb_field fl;
    nnd_status st = nnd_pb_next(&r, &fl, err);
    if (st != NND_OK) return st;
    if (fl.number == MODEL_GRAPH && fl.wire == NND_PB_LEN) {
      sink count = {NULL, 0, 0};
      if ((st = emit_graph(c, fl.span, &count, err)) != NND_OK) return st;
      put_varint(&out, (uint64_t)MODEL_GRAPH << 3 | NND_PB_LEN);
      put_varint(&out, count.n);
      out.next_overwrite = 0;
      if ((st = emit_graph(c, fl.span, &out, err)) != NND_OK) return st;
    } else {
      copy_range(c, &out, fl.offset, nnd_pb_offset(&r));
    }
  }
  return NND_OK;
}

/* The folder of path, with a trailing '/' ("" for the current folder). */
static void folder_of(const char *path, char *buf, size_t cap) {
  const char *slash = strrchr(path, '/');
  size_t n = slash ? (size_t)(slash - path) + 1 : 0;
  if (n >= cap) n = cap - 1;
  memcpy(buf, path, n);
  buf[n] = 0;
}

/* Writes one whole external file (copied from the source's folder). */
static nnd_status copy_external(const char *src_path, const char *location, FILE *f,
                                nnd_error *err) {
  char path[4096];
  folder_of(src_path, path, sizeof path);
  size_t n = strlen(path);
  snprintf(path + n, sizeof path - n, "%s", location);
  nnd_mapped_file *mf = NULL;
  nnd_status st = nnd_mapped_file_open(path, &mf, err);
  if (st != NND_OK) return st;
  if (mf->size) fwrite(mf->data, 1, mf->size, f);
  nnd_mapped_file_close(mf);
  return NND_OK;
}

static bool same_file(const char *a, const char *b) {
  struct stat sa, sb;
  return stat(a, &sa) == 0 && stat(b, &sb) == 0 && sa.st_dev == sb.st_dev && sa.st_ino == sb.st_ino;
}

/* Whether dest holds other bytes than the source's external file
 * `location`: another model's data of the same name, which a copy would
 * replace under the model that reads it. */
static bool foreign_data(const char *src_path, const char *location, const char *dest) {
  struct stat sd;
  if (stat(dest, &sd) != 0) return false;
  char path[4096];
  folder_of(src_path, path, sizeof path);
  size_t n = strlen(path);
  snprintf(path + n, sizeof path - n, "%s", location);
  if (same_file(path, dest)) return false;
  nnd_mapped_file *a = NULL, *b = NULL;
  bool differ = true;
  if (nnd_mapped_file_open(path, &a, NULL) == NND_OK &&
      nnd_mapped_file_open(dest, &b, NULL) == NND_OK)
    differ = a->size != b->size || (a->size && memcmp(a->data, b->data, a->size) != 0);
  nnd_mapped_file_close(a);
  nnd_mapped_file_close(b);
  return differ;
}

static int64_t default_opset(const nnd_graph *g) {
  for (int i = 0; i < g->info.n_opsets; i++) {
    const char *d = g->info.opsets[i].domain;
    if (!d || !d[0] || strcmp(d, "ai.onnx") == 0) return g->info.opsets[i].version;
  }
  return 1;
}

nnd_status nnd_onnx_write_edited(const char *src_path, const nnd_graph *g, const nnd_edit *edits,
                                 size_t n_edits, const char *out_path, nnd_error *err) {
  if (!src_path || !g || !out_path || (n_edits && !edits))
    return nnd_error_set(err, NND_ERR_USAGE, "nnd_onnx_write_edited: missing argument");
  if (strcmp(out_path, src_path) == 0 || same_file(out_path, src_path))
    return nnd_error_set(err, NND_ERR_USAGE, "%s: the edited model would replace its source",
                         out_path);
  nnd_mapped_file *mf = NULL;
  nnd_status st = nnd_mapped_file_open(src_path, &mf, err);
  if (st != NND_OK) return st;
  if (g->info.format != NND_FORMAT_ONNX || (g->info.file_size && mf->size != g->info.file_size)) {
    nnd_mapped_file_close(mf);
    return nnd_error_set(err, NND_ERR_USAGE,
                         "%s: the file is not the one the graph was loaded from (it changed?)",
                         src_path);
  }
  static const uint8_t empty[1];
  nnd__ow_ctx c;
  memset(&c, 0, sizeof c);
  c.g = g;
  c.src_path = src_path;
  c.out_path = out_path;
  nnd_pb_reader_init(&c.file, mf->data ? mf->data : empty, mf->size, src_path);
  c.opset = default_opset(g);
  c.edits = edits;
  c.n_edits = n_edits;
  nnd_output_set *set = NULL;
  st = nnd__ow_plan(&c, err);
  if (st != NND_OK) goto done;
  if (c.n_repls) qsort(c.repls, c.n_repls, sizeof *c.repls, cmp_repl);
  if (c.n_overwrites) qsort(c.overwrites, c.n_overwrites, sizeof *c.overwrites, cmp_overwrite);
  for (size_t i = 1; i < c.n_overwrites; i++)
    if (c.overwrites[i].offset < c.overwrites[i - 1].offset + c.overwrites[i - 1].nbytes) {
      st = nnd_error_set(err, NND_ERR_USAGE, "%s: two edits write the same tensor", src_path);
      goto done;
    }

  if ((st = nnd_output_set_create(&set, err)) != NND_OK) goto done;
  FILE *model = NULL, *ext = NULL;
  if ((st = nnd_output_set_add(set, out_path, &model, err)) != NND_OK) goto done;
  char folder[4096], path[8192];
  folder_of(out_path, folder, sizeof folder);
  if (c.ext_location) {
    snprintf(path, sizeof path, "%s%s", folder, c.ext_location);
    if ((st = nnd_output_set_add(set, path, &ext, err)) != NND_OK) goto done;
    if (c.ext_data.size) fwrite(c.ext_data.data, 1, c.ext_data.size, ext);
  }
  for (int i = 0; i < c.n_copies; i++) {
    FILE *f = NULL;
    snprintf(path, sizeof path, "%s%s", folder, c.copies[i]);
    if (foreign_data(src_path, c.copies[i], path)) {
      st = nnd_error_set(err, NND_ERR_USAGE,
                         "%s: exists with other data than the model's '%s' (another model's?); "
                         "write the model into another folder",
                         path, c.copies[i]);
      goto done;
    }
    if ((st = nnd_output_set_add(set, path, &f, err)) != NND_OK) goto done;
    if ((st = copy_external(src_path, c.copies[i], f, err)) != NND_OK) goto done;
  }
  if ((st = emit_model(&c, model, err)) != NND_OK) goto done;
  st = nnd_output_set_commit(set, err);
  set = NULL;
done:
  nnd_output_set_abort(set);
  nnd__ow_ctx_free(&c);
  nnd_mapped_file_close(mf);
  return st;
}
