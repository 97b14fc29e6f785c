/* Writing JSON documents: pretty-printed, atomically replaced on disk
 * (util/atomic_file.h), or onto a stream the caller commits. */
#include <errno.h>
#include <json-c/json.h>
#include <stdio.h>
#include <string.h>

#include "nndiff/report.h"
#include "util/atomic_file.h"

nnd_status nnd_report_print_json(FILE *out, const char *name, json_object *obj, nnd_error *err) {
  /* '/' unescaped: ONNX node names look like "/layer1/layer1.0/conv1/Conv". */
  const char *text = json_object_to_json_string_ext(
      obj, JSON_C_TO_STRING_PRETTY | JSON_C_TO_STRING_SPACED | JSON_C_TO_STRING_NOSLASHESCAPE);
  if (!text) return nnd_error_set(err, NND_ERR_NOMEM, "out of memory formatting JSON");
  size_t len = strlen(text);
  if (fwrite(text, 1, len, out) != len || fputc('\n', out) == EOF)
    return nnd_error_set(err, NND_ERR_IO, "%s: write failed: %s", name, strerror(errno));
  return NND_OK;
}

nnd_status nnd_report_write_json(const char *path, json_object *obj, nnd_error *err) {
  nnd_atomic_file *af; /* "-" (stdout), FIFOs and devices included */
  nnd_status st = nnd_atomic_file_open(path, &af, err);
  if (st != NND_OK) return st;
  st = nnd_report_print_json(nnd_atomic_file_stream(af), nnd_atomic_file_name(af), obj, err);
  if (st != NND_OK) {
    nnd_atomic_file_abort(af);
    return st;
  }
  return nnd_atomic_file_commit(af, err);
}
