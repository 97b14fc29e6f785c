/* Writing JSON documents: pretty-printed, always valid UTF-8, atomically
 * replaced on disk (util/atomic_file.h) or onto a stream the caller commits.
 *
 * json-c escapes control characters but copies every other byte of a
 * string as it is, so a name or file name holding bytes that are not UTF-8
 * (a file called "caf\xe9.jpg" on a Latin-1 disk) made an invalid document.
 * The serialised text is therefore rewritten once: each byte that is not
 * part of a valid UTF-8 sequence becomes the four characters \xHH in the
 * string (written "\\xHH" in JSON: the same text the terminal shows, see
 * util/safe_text.h), and the characters the terminal sanitiser escapes
 * (DEL, C1 controls, line separators, bidirectional controls) become \uHHHH
 * escapes, which decode to the same string. Outside strings json-c writes
 * only ASCII, so the rewrite cannot touch the structure. */
#include <errno.h>
#include <json-c/json.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "nndiff/report.h"
#include "util/atomic_file.h"
#include "util/safe_text.h"

/* Points *text_out at the safe text: the original when it is plain ASCII,
 * else a rewritten copy in *owned (to free). False when out of memory. */
static bool make_safe(const char *text, size_t len, char **owned, const char **text_out,
                      size_t *len_out) {
  static const char hex[] = "0123456789abcdef";
  *owned = NULL;
  *text_out = text;
  *len_out = len;
  size_t i = 0;
  while (i < len && (unsigned char)text[i] < 0x7f)
    i++;
  if (i == len) return true; /* plain ASCII: the common case */
  /* each byte grows to at most 6 ("\u0085" from 2 bytes, "\\xHH" from 1) */
  if (len > (SIZE_MAX - 1) / 6) return false;
  char *out = malloc(len * 6 + 1);
  if (!out) return false;
  memcpy(out, text, i);
  size_t w = i;
  while (i < len) {
    const unsigned char *u = (const unsigned char *)text + i;
    uint32_t cp;
    size_t n = nnd__utf8_decode(u, len - i, &cp);
    if (n == 0) {
      out[w++] = '\\';
      out[w++] = '\\';
      out[w++] = 'x';
      out[w++] = hex[u[0] >> 4];
      out[w++] = hex[u[0] & 15];
      i++;
    } else if (cp >= 0x7f && nnd__cp_needs_escape(cp)) {
      w += (size_t)snprintf(out + w, 7, "\\u%04x", (unsigned)cp);
      i += n;
    } else {
      memcpy(out + w, u, n);
      w += n;
      i += n;
    }
  }
  out[w] = '\0';
  *owned = out;
  *text_out = out;
  *len_out = w;
  return true;
}

nnd_status nnd_report_print_json(FILE *out, const char *name, json_object *obj, nnd_error *err) {
  /* '/' unescaped: ONNX node names look like "/layer1/layer1.0/conv1/Conv". */
  const char *raw = json_object_to_json_string_ext(
      obj, JSON_C_TO_STRING_PRETTY | JSON_C_TO_STRING_SPACED | JSON_C_TO_STRING_NOSLASHESCAPE);
  if (!raw) return nnd_error_set(err, NND_ERR_NOMEM, "out of memory formatting JSON");
  char *owned;
  const char *text;
  size_t len;
  if (!make_safe(raw, strlen(raw), &owned, &text, &len))
    return nnd_error_set(err, NND_ERR_NOMEM, "out of memory formatting JSON");
  nnd_status st = NND_OK;
  if (fwrite(text, 1, len, out) != len || fputc('\n', out) == EOF)
    st = nnd_error_set(err, NND_ERR_IO, "%s: write failed: %s", name, strerror(errno));
  free(owned);
  return st;
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
