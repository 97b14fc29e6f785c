/* Format detection and loading of model files for every command. The
 * format comes from the file's magic bytes where the format has one, else
 * from the extension; ONNX (protobuf, no magic) is recognised by its
 * extension or by a leading ir_version field. */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

#include "cli/cli.h"
#include "nndiff/onnx.h"
#include "util/input_file.h"

static bool has_ext(const char *path, const char *ext) {
  size_t n = strlen(path), e = strlen(ext);
  return n > e && strcasecmp(path + n - e, ext) == 0;
}

/* Format from the leading bytes, or NND_FORMAT_UNKNOWN. `head` holds n bytes. */
static nnd_format sniff(const char *path, const unsigned char *head, size_t n) {
  if (n >= 8 && memcmp(head + 4, "TFL3", 4) == 0) return NND_FORMAT_TFLITE;
  if (n >= 8 && memcmp(head, "\x89HDF\r\n\x1a\n", 8) == 0) return NND_FORMAT_KERAS;
  if (n >= 4 && memcmp(head, "PK\x03\x04", 4) == 0) {
    /* A zip: .keras archives and torch.save / torch.export files. */
    if (has_ext(path, ".keras")) return NND_FORMAT_KERAS;
    if (has_ext(path, ".pt") || has_ext(path, ".pth") || has_ext(path, ".pt2"))
      return NND_FORMAT_PYTORCH;
  }
  return NND_FORMAT_UNKNOWN;
}

static nnd_format from_extension(const char *path) {
  if (has_ext(path, ".onnx")) return NND_FORMAT_ONNX;
  if (has_ext(path, ".tflite")) return NND_FORMAT_TFLITE;
  if (has_ext(path, ".h5") || has_ext(path, ".hdf5") || has_ext(path, ".keras"))
    return NND_FORMAT_KERAS;
  if (has_ext(path, ".pb")) return NND_FORMAT_TF;
  if (has_ext(path, ".pt") || has_ext(path, ".pth") || has_ext(path, ".pt2"))
    return NND_FORMAT_PYTORCH;
  return NND_FORMAT_UNKNOWN;
}

static const char *format_title(nnd_format f) {
  switch (f) {
  case NND_FORMAT_ONNX: return "ONNX";
  case NND_FORMAT_TFLITE: return "TFLite";
  case NND_FORMAT_KERAS: return "Keras";
  case NND_FORMAT_TF: return "TensorFlow";
  case NND_FORMAT_PYTORCH: return "PyTorch";
  default: return "unknown";
  }
}

static nnd_status detect_format(const char *path, nnd_format *out, nnd_error *err) {
  struct stat st;
  if (stat(path, &st) != 0)
    return nnd_error_set(err, NND_ERR_IO, "%s: cannot open: %s", path, strerror(errno));
  if (S_ISDIR(st.st_mode)) {
    char saved[4096];
    snprintf(saved, sizeof saved, "%s/saved_model.pb", path);
    if (stat(saved, &st) == 0)
      return nnd_error_set(err, NND_ERR_UNSUPPORTED,
                           "%s: TensorFlow SavedModel directories are not supported yet; "
                           "nndiff reads ONNX (.onnx) models for now",
                           path);
    return nnd_error_set(err, NND_ERR_IO, "%s: is a directory, not a model file", path);
  }
  unsigned char head[16];
  size_t n = 0;
  FILE *f;
  nnd_status status = nnd_input_fopen(path, &f, NULL, err); /* a FIFO or device is refused here */
  if (status != NND_OK) return status;
  n = fread(head, 1, sizeof head, f);
  bool failed = ferror(f);
  fclose(f);
  if (failed) return nnd_error_set(err, NND_ERR_IO, "%s: cannot read", path);

  nnd_format by_magic = sniff(path, head, n), by_ext = from_extension(path);
  *out = by_magic != NND_FORMAT_UNKNOWN ? by_magic : by_ext;
  /* ONNX has no magic; a ModelProto starts with field 1 (ir_version). */
  if (*out == NND_FORMAT_UNKNOWN && n > 0 && head[0] == 0x08) *out = NND_FORMAT_ONNX;
  if (*out == NND_FORMAT_UNKNOWN)
    return nnd_error_set(err, NND_ERR_UNSUPPORTED,
                         "%s: cannot tell the model format (expected an .onnx file)", path);
  return NND_OK;
}

nnd_status nnd_cli_load_model(const char *path, nnd_graph **graph_out, nnd_error *err) {
  nnd_format format;
  *graph_out = NULL;
  nnd_status st = detect_format(path, &format, err);
  if (st != NND_OK) return st;
  if (format == NND_FORMAT_ONNX) return nnd_onnx_load(path, graph_out, err);
  return nnd_error_set(err, NND_ERR_UNSUPPORTED,
                       "%s: %s models are not supported yet; nndiff reads ONNX (.onnx) models "
                       "for now",
                       path, format_title(format));
}
