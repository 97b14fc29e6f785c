/* The format registry (include/nndiff/model.h): content sniffing and
 * dispatch to each format's reader. */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "nndiff/model.h"
#include "nndiff/onnx.h"
#include "nndiff/tflite.h"
#include "util/input_file.h"

static bool has_ext(const char *path, const char *ext) {
  size_t n = strlen(path), e = strlen(ext);
  return n > e && strcasecmp(path + n - e, ext) == 0;
}

/* 1 when the path ends in one of the space-separated extensions. */
static int by_name(const char *path, const char *exts) {
  char buf[64];
  for (const char *p = exts; *p;) {
    size_t n = strcspn(p, " ");
    if (n < sizeof buf) {
      memcpy(buf, p, n);
      buf[n] = 0;
      if (has_ext(path, buf)) return 1;
    }
    p += n;
    while (*p == ' ') p++;
  }
  return 0;
}

static bool varint(const unsigned char *p, size_t n, size_t *pos, uint64_t *out) {
  uint64_t v = 0;
  for (int shift = 0; shift < 64 && *pos < n; shift += 7) {
    unsigned char b = p[(*pos)++];
    v |= (uint64_t)(b & 0x7f) << shift;
    if (!(b & 0x80)) {
      *out = v;
      return true;
    }
  }
  return false;
}

/* ONNX has no magic. A ModelProto is a run of protobuf fields, each one of
 * ModelProto's (1 ir_version, 2..4 producer/domain strings, 5 model_version,
 * 6 doc_string, 7 graph, 8 opset_import, 14 metadata, 20 training_info,
 * 25 functions, 26 configuration) with its wire type and a length that fits
 * the file: the leading fields that fit in the head must all be such. */
static int sniff_onnx(const unsigned char *h, size_t n, uint64_t size, const char *path) {
  size_t pos = 0;
  int fields = 0;
  while (pos < n && fields < 8) {
    uint64_t tag, len;
    if (!varint(h, n, &pos, &tag)) break;
    uint64_t field = tag >> 3, wire = tag & 7;
    bool is_varint = field == 1 || field == 5;
    bool is_len = (field >= 2 && field <= 4) || (field >= 6 && field <= 8) || field == 14 ||
                  field == 20 || field == 25 || field == 26;
    if (!(is_varint && wire == 0) && !(is_len && wire == 2)) return by_name(path, ".onnx");
    if (!varint(h, n, &pos, &len)) break;
    if (wire == 2) {
      if (len > size) return by_name(path, ".onnx");
      if (len > n - pos) break; /* runs past the head: plausible so far */
      pos += (size_t)len;
    }
    fields++;
  }
  return fields > 0 ? 60 : by_name(path, ".onnx");
}

static int sniff_tflite(const unsigned char *h, size_t n, uint64_t size, const char *path) {
  (void)size;
  if (n >= 8 && memcmp(h + 4, "TFL3", 4) == 0) return 100;
  return by_name(path, ".tflite");
}

static int sniff_keras(const unsigned char *h, size_t n, uint64_t size, const char *path) {
  (void)size;
  if (n >= 8 && memcmp(h, "\x89HDF\r\n\x1a\n", 8) == 0) return 100;
  if (n >= 4 && memcmp(h, "PK\x03\x04", 4) == 0 && has_ext(path, ".keras")) return 90;
  return by_name(path, ".h5 .hdf5 .keras");
}

static int sniff_tf(const unsigned char *h, size_t n, uint64_t size, const char *path) {
  (void)h, (void)n, (void)size;
  return by_name(path, ".pb");
}

static int sniff_pytorch(const unsigned char *h, size_t n, uint64_t size, const char *path) {
  (void)size;
  if (n >= 4 && memcmp(h, "PK\x03\x04", 4) == 0 && by_name(path, ".pt .pth .pt2")) return 90;
  return by_name(path, ".pt .pth .pt2");
}

static const nnd_format_reader readers[] = {
    {NND_FORMAT_TFLITE, "TFLite", ".tflite", sniff_tflite, nnd_tflite_load, NULL},
    {NND_FORMAT_KERAS, "Keras", ".h5 .hdf5 .keras", sniff_keras, NULL, NULL},
    {NND_FORMAT_PYTORCH, "PyTorch", ".pt .pth .pt2", sniff_pytorch, NULL, NULL},
    {NND_FORMAT_ONNX, "ONNX", ".onnx", sniff_onnx, nnd_onnx_load, nnd_onnx_write_edited},
    {NND_FORMAT_TF, "TensorFlow", ".pb", sniff_tf, NULL, NULL},
};
#define N_READERS ((int)(sizeof readers / sizeof readers[0]))

const nnd_format_reader *nnd_format_readers(int *n_out) {
  *n_out = N_READERS;
  return readers;
}

static const nnd_format_reader *reader_of(nnd_format f) {
  for (int i = 0; i < N_READERS; i++)
    if (readers[i].format == f) return &readers[i];
  return NULL;
}

/* The first bytes of a regular file; anything else (a FIFO, a device) is
 * refused before it is read, so it cannot block. */
static nnd_status read_head(const char *path, unsigned char *head, size_t cap, size_t *n_out,
                            uint64_t *size_out, nnd_error *err) {
  int fd;
  struct stat st;
  nnd_status s = nnd_input_open(path, &fd, &st, err);
  if (s != NND_OK) return s;
  ssize_t got = 0;
  size_t n = 0;
  while (n < cap && (got = read(fd, head + n, cap - n)) > 0) n += (size_t)got;
  int e = errno;
  close(fd);
  if (got < 0) return nnd_error_set(err, NND_ERR_IO, "%s: cannot read: %s", path, strerror(e));
  *n_out = n;
  *size_out = (uint64_t)st.st_size;
  return NND_OK;
}

nnd_status nnd_model_detect(const char *path, nnd_format *format_out, nnd_error *err) {
  *format_out = NND_FORMAT_UNKNOWN;
  struct stat st;
  if (stat(path, &st) != 0)
    return nnd_error_set(err, NND_ERR_IO, "%s: cannot open: %s", path, strerror(errno));
  if (S_ISDIR(st.st_mode)) {
    char saved[4096];
    snprintf(saved, sizeof saved, "%s/saved_model.pb", path);
    if (stat(saved, &st) == 0 && S_ISREG(st.st_mode)) {
      *format_out = NND_FORMAT_TF;
      return NND_OK;
    }
    return nnd_error_set(err, NND_ERR_IO, "%s: is a directory, not a model file", path);
  }
  unsigned char head[4096];
  size_t n = 0;
  uint64_t size = 0;
  nnd_status s = read_head(path, head, sizeof head, &n, &size, err);
  if (s != NND_OK) return s;
  int best = 0;
  for (int i = 0; i < N_READERS; i++) {
    int score = readers[i].sniff(head, n, size, path);
    if (score > best) {
      best = score;
      *format_out = readers[i].format;
    }
  }
  if (best == 0)
    return nnd_error_set(err, NND_ERR_UNSUPPORTED,
                         "%s: cannot tell the model format from its content or name (nndiff "
                         "reads ONNX and TFLite; it recognises Keras, TensorFlow and PyTorch files)",
                         path);
  return NND_OK;
}

nnd_status nnd_model_load(const char *path, nnd_graph **graph_out, nnd_error *err) {
  *graph_out = NULL;
  nnd_format f;
  nnd_status s = nnd_model_detect(path, &f, err);
  if (s != NND_OK) return s;
  const nnd_format_reader *r = reader_of(f);
  if (r && r->load) return r->load(path, graph_out, err);
  struct stat st;
  if (f == NND_FORMAT_TF && stat(path, &st) == 0 && S_ISDIR(st.st_mode))
    return nnd_error_set(err, NND_ERR_UNSUPPORTED,
                         "%s: TensorFlow SavedModel directories are not supported yet; nndiff "
                         "reads ONNX (.onnx) and TFLite (.tflite) models for now",
                         path);
  return nnd_error_set(err, NND_ERR_UNSUPPORTED,
                       "%s: %s models are not supported yet; nndiff reads ONNX (.onnx) and "
                       "TFLite (.tflite) models for now",
                       path, r ? r->title : nnd_format_name(f));
}

nnd_status nnd_model_write_edited(const char *src_path, const nnd_graph *g, const nnd_edit *edits,
                                  size_t n_edits, const char *out_path, nnd_error *err) {
  nnd_format f;
  nnd_status s = nnd_model_detect(src_path, &f, err);
  if (s != NND_OK) return s;
  const nnd_format_reader *r = reader_of(f);
  if (!r || !r->write_edited)
    return nnd_error_set(err, NND_ERR_UNSUPPORTED, "%s: writing %s models is not supported yet",
                         src_path, r ? r->title : nnd_format_name(f));
  return r->write_edited(src_path, g, edits, n_edits, out_path, err);
}
