/* ONNX model reader: reads a .onnx file (protobuf ModelProto, optionally
 * with external tensor data beside it) into an nnd_graph.
 *
 * Model files are untrusted input. The reader bounds-checks every read and
 * reports problems as one line naming the file, and the node, attribute,
 * tensor or byte offset concerned, e.g.
 *   model.onnx: node 'Conv_12' (Conv): attribute 'strides' has 3 values but the kernel is 2-D
 *   model.onnx: offset 5123: truncated: length-delimited field 4 needs 900 bytes, 12 left
 * Ops nndiff has no canonical op for (or ops from other domains) load as
 * NND_OP_UNSUPPORTED with their op type and domain in the node's provenance. */
#ifndef NNDIFF_ONNX_H
#define NNDIFF_ONNX_H

#include <stddef.h>

#include "nndiff/ir.h"
#include "nndiff/ir_edit.h"
#include "nndiff/status.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Memory-maps `path`, decodes it, builds the graph, then runs
 * nnd_graph_infer_shapes and nnd_graph_validate. On success *graph_out owns
 * the mapping (constants point into it) and any external-data files it
 * mapped; free it with nnd_graph_destroy. External data is resolved in the
 * model's folder and may not leave it. On failure *graph_out is NULL and err
 * says why: NND_ERR_IO (cannot open/map), NND_ERR_FORMAT (malformed file),
 * NND_ERR_UNSUPPORTED (valid ONNX nndiff cannot hold, e.g. complex tensors),
 * NND_ERR_GRAPH (the graph does not check out), NND_ERR_NOMEM. */
nnd_status nnd_onnx_load(const char *path, nnd_graph **graph_out, nnd_error *err);

/* Same from a buffer the caller keeps alive (and unchanged) as long as the
 * graph lives: constants point into it. base_dir is the folder external data
 * is resolved in; NULL refuses external data (NND_ERR_UNSUPPORTED). Used by
 * the fuzzer and by tests. */
nnd_status nnd_onnx_load_memory(const void *data, size_t size, const char *base_dir,
                                nnd_graph **graph_out, nnd_error *err);

/* Writes out_path: the ONNX file src_path (loaded as g, no pass run) with
 * `edits` applied, patching rather than regenerating: every byte no edit
 * touches is copied (see docs/FORMATS.md, "Writing"). Edited tensors kept in
 * external data go to a new file beside out_path; when out_path is in
 * another folder, the source's external files that unedited tensors use are
 * copied beside it. All files appear together or not at all
 * (util/output_set.h), and src_path is never replaced. Errors are one line
 * naming the edit that cannot be written (NND_ERR_UNSUPPORTED), a bad edit
 * (NND_ERR_USAGE), or the I/O failure. */
nnd_status nnd_onnx_write_edited(const char *src_path, const nnd_graph *g, const nnd_edit *edits,
                                 size_t n_edits, const char *out_path, nnd_error *err);

#ifdef __cplusplus
}
#endif
#endif
