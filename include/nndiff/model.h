/* Loading a model of any format: a registry of readers chosen by what the
 * file holds, not by its name.
 *
 * Each format's reader registers how to recognise its files (magic bytes,
 * or for ONNX, which has none, a plausible first protobuf field of a
 * ModelProto) and how to load them. The extension only breaks ties and
 * names the format in messages when the content says nothing. A reader
 * lowers its format's semantics into the IR (opset-dependent defaults,
 * weight layouts, explicit pads), so the engine and the analyses know no
 * file format. */
#ifndef NNDIFF_MODEL_H
#define NNDIFF_MODEL_H

#include <stddef.h>

#include "nndiff/ir.h"
#include "nndiff/ir_edit.h"
#include "nndiff/status.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct nnd_format_reader {
  nnd_format format;
  const char *title;      /* "ONNX", "TFLite" */
  const char *extensions; /* ".onnx" or ".h5 .hdf5 .keras" */
  /* How sure the reader is that these leading bytes (n of them; file_size
   * the whole file's) are its format: 0 no, 1 by name only, 2..100 by
   * content. */
  int (*sniff)(const unsigned char *head, size_t n, uint64_t file_size, const char *path);
  /* Loads the file (NULL: recognised but not read yet). */
  nnd_status (*load)(const char *path, nnd_graph **graph_out, nnd_error *err);
  /* Writes the file at src_path with edits applied (NULL: this format
   * cannot be written yet). See nnd_model_write_edited. */
  nnd_status (*write_edited)(const char *src_path, const nnd_graph *g, const nnd_edit *edits,
                             size_t n_edits, const char *out_path, nnd_error *err);
} nnd_format_reader;

/* The registered readers, in order of preference; n_out gets the count. */
const nnd_format_reader *nnd_format_readers(int *n_out);

/* The format of the file at path, from its content (and name as a tie
 * breaker). NND_ERR_IO when it cannot be read (or is not a regular file),
 * NND_ERR_UNSUPPORTED when no reader recognises it. */
nnd_status nnd_model_detect(const char *path, nnd_format *format_out, nnd_error *err);

/* Detects the format and loads the model with its reader (shapes
 * inferred, graph validated). A directory holding saved_model.pb is
 * recognised as a TensorFlow SavedModel. Errors as the reader's, or
 * NND_ERR_UNSUPPORTED naming the format when it has no reader yet. */
nnd_status nnd_model_load(const char *path, nnd_graph **graph_out, nnd_error *err);

/* Writes out_path: the model file src_path (which nnd_model_load read as
 * g) with `edits` applied, in the file's own format. Edits address nodes
 * and values of g as loaded (no pass run on it). The writer patches rather
 * than regenerates: every byte an edit does not touch stays as it was
 * (names, metadata, other initializers). out_path appears complete or not
 * at all and never replaces src_path. NND_ERR_UNSUPPORTED when the format
 * has no writer or an edit cannot be expressed in it (the message says
 * which edit). */
nnd_status nnd_model_write_edited(const char *src_path, const nnd_graph *g, const nnd_edit *edits,
                                  size_t n_edits, const char *out_path, nnd_error *err);

#ifdef __cplusplus
}
#endif
#endif
