/* Public entry points of the ONNX reader: map the file, decode, import,
 * then infer shapes and validate. */
#include <stdlib.h>
#include <string.h>

#include "formats/onnx/onnx_internal.h"
#include "nndiff/onnx.h"
#include "util/mapped_file.h"

/* Decodes and imports data[0, size) into a new graph. `mf`, when given, is
 * handed to the graph before anything points into it. */
static nnd_status load(const uint8_t *data, size_t size, const char *label, const char *path,
                       const char *base_dir, nnd_mapped_file *mf, nnd_graph **graph_out,
                       nnd_error *err) {
  static const uint8_t empty[1];
  nnd__onnx_ext_cache ext = {NULL, {NULL, 0, 0, 0}};
  nnd__onnx_source src = {NULL, NULL, &ext};
  nnd__onnx_model model;
  nnd_pb_reader file;
  *graph_out = NULL;
  if (!data) data = empty; /* an empty file maps to NULL */
  nnd_graph *g = nnd_graph_create(err);
  if (!g) {
    nnd_mapped_file_close(mf);
    return NND_ERR_NOMEM;
  }
  nnd_status st = NND_OK;
  if (mf && (st = nnd_graph_own(g, mf, nnd_mapped_file_close, err)) != NND_OK) goto error;
  src.label = nnd_graph_strdup(g, label);
  if (base_dir) src.base_dir = nnd_graph_strdup(g, base_dir);
  if (!src.label || (base_dir && !src.base_dir)) {
    st = nnd_error_set(err, NND_ERR_NOMEM, "%s: out of memory", label);
    goto error;
  }
  if ((st = nnd__onnx_decode_model(g, data, size, src.label, &model, err)) != NND_OK) goto error;
  nnd_pb_reader_init(&file, data, size, src.label);
  if ((st = nnd__onnx_import(g, &src, &file, &model, err)) != NND_OK) goto error;
  g->info.path = path ? src.label : NULL;
  g->info.file_size = size;
  if ((st = nnd_graph_infer_shapes(g, err)) != NND_OK) goto error;
  if ((st = nnd_graph_validate(g, err)) != NND_OK) goto error;
  nnd__onnx_ext_cache_free(&ext);
  *graph_out = g;
  return NND_OK;
error:
  nnd__onnx_ext_cache_free(&ext);
  nnd_graph_destroy(g);
  return st;
}

nnd_status nnd_onnx_load(const char *path, nnd_graph **graph_out, nnd_error *err) {
  if (!graph_out) return nnd_error_set(err, NND_ERR_USAGE, "nnd_onnx_load: graph_out is NULL");
  *graph_out = NULL;
  if (!path || !*path) return nnd_error_set(err, NND_ERR_USAGE, "nnd_onnx_load: no path given");
  nnd_mapped_file *mf = NULL;
  nnd_status st = nnd_mapped_file_open(path, &mf, err);
  if (st != NND_OK) return st;
  /* external data lives beside the model */
  const char *slash = strrchr(path, '/');
  char *dir;
  if (!slash)
    dir = strdup(".");
  else if (slash == path)
    dir = strdup("/");
  else
    dir = strndup(path, (size_t)(slash - path));
  if (!dir) {
    nnd_mapped_file_close(mf);
    return nnd_error_set(err, NND_ERR_NOMEM, "%s: out of memory", path);
  }
  st = load(mf->data, mf->size, path, path, dir, mf, graph_out, err);
  free(dir);
  return st;
}

nnd_status nnd_onnx_load_memory(const void *data, size_t size, const char *base_dir,
                                nnd_graph **graph_out, nnd_error *err) {
  if (!graph_out)
    return nnd_error_set(err, NND_ERR_USAGE, "nnd_onnx_load_memory: graph_out is NULL");
  *graph_out = NULL;
  if (!data && size)
    return nnd_error_set(err, NND_ERR_USAGE, "nnd_onnx_load_memory: no data given");
  return load(data, size, "<memory>", NULL, base_dir, NULL, graph_out, err);
}
