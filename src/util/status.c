/* Status names, exit codes and the first-error-wins error context, whose
 * messages are always one terminal-safe line (util/safe_text.h). */
#include <stdio.h>
#include <string.h>

#include "nndiff/status.h"
#include "util/safe_text.h"

const char *nnd_status_str(nnd_status status) {
  switch (status) {
  case NND_OK: return "ok";
  case NND_ERR_USAGE: return "bad usage";
  case NND_ERR_IO: return "i/o error";
  case NND_ERR_FORMAT: return "bad input";
  case NND_ERR_UNSUPPORTED: return "unsupported";
  case NND_ERR_GRAPH: return "invalid graph";
  case NND_ERR_NOMEM: return "out of memory";
  case NND_ERR_INTERNAL: return "internal error";
  }
  return "unknown status";
}

int nnd_status_exit_code(nnd_status status) {
  switch (status) {
  case NND_OK: return 0;
  case NND_ERR_INTERNAL: return 3;
  default: return 2;
  }
}

nnd_status nnd_error_vset(nnd_error *err, nnd_status status, const char *fmt, va_list ap) {
  if (!err || err->status != NND_OK || status == NND_OK) return status;
  err->status = status;
  /* Names in messages come from files: sanitised (one line, no escape
   * sequences) and, when the line would overflow, shortened so that the
   * problem at its end is not cut off. */
  nnd__format_line(err->message, sizeof err->message, fmt, ap);
  return status;
}

nnd_status nnd_error_set(nnd_error *err, nnd_status status, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  nnd_error_vset(err, status, fmt, ap);
  va_end(ap);
  return status;
}

void nnd_error_clear(nnd_error *err) {
  if (!err) return;
  err->status = NND_OK;
  err->message[0] = '\0';
}
