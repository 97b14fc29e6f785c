/* TFLite model reader: reads a .tflite file (a FlatBuffer of the schema
 * "TFL3") into an nnd_graph.
 *
 * Model files are untrusted input: the FlatBuffer is verified as it is read
 * (offsets, vtables, vector lengths, nesting, buffers stored after the
 * FlatBuffer) and problems are reported as one line naming the file, the
 * byte offset and what was being read, e.g.
 *   model.tflite: offset 812: tensor 3: vector length runs past the end of the file
 * Activations are NHWC (recorded as the values' layout), convolution
 * weights OHWI and depthwise weights 1HWO (recorded as the node's weight
 * layout, not copied); constants point into the mapped file. Builtin ops
 * without a canonical op, and custom ops, load as NND_OP_UNSUPPORTED with
 * their name in the node's provenance (op_type; domain "custom" for custom
 * ops). See docs/TFLITE.md. */
#ifndef NNDIFF_TFLITE_H
#define NNDIFF_TFLITE_H

#include <stddef.h>

#include "nndiff/ir.h"
#include "nndiff/status.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Memory-maps `path`, decodes it, builds the graph of its main subgraph,
 * then runs nnd_graph_infer_shapes and nnd_graph_validate. On success
 * *graph_out owns the mapping; free it with nnd_graph_destroy. On failure
 * *graph_out is NULL and err says why: NND_ERR_IO, NND_ERR_FORMAT
 * (malformed file), NND_ERR_UNSUPPORTED (valid TFLite nndiff cannot hold:
 * sparse or int4 tensors, custom quantization), NND_ERR_GRAPH, NND_ERR_NOMEM. */
nnd_status nnd_tflite_load(const char *path, nnd_graph **graph_out, nnd_error *err);

/* Same from a buffer the caller keeps alive (and unchanged) as long as the
 * graph lives. Used by the fuzzer and by tests. */
nnd_status nnd_tflite_load_memory(const void *data, size_t size, nnd_graph **graph_out,
                                  nnd_error *err);

#ifdef __cplusplus
}
#endif
#endif
