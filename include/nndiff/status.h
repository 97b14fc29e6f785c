/* Status codes and the error context every fallible nndiff call reports into.
 *
 * Every fallible function returns nnd_status; when it is not NND_OK the
 * caller's nnd_error holds one human-readable line naming the file, node, op
 * and bad value. Library code never exits or aborts on bad input. */
#ifndef NNDIFF_STATUS_H
#define NNDIFF_STATUS_H

#include <stdarg.h>
#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef enum nnd_status {
  NND_OK = 0,
  NND_ERR_USAGE,       /* the caller passed a bad argument or option */
  NND_ERR_IO,          /* a file could not be opened, read, mapped or written */
  NND_ERR_FORMAT,      /* the input file is malformed (untrusted input) */
  NND_ERR_UNSUPPORTED, /* well-formed but uses something nndiff cannot handle */
  NND_ERR_GRAPH,       /* the graph is invalid: dangling name, cycle, shape clash */
  NND_ERR_NOMEM,       /* an allocation failed or a size overflowed */
  NND_ERR_INTERNAL     /* a bug in nndiff */
} nnd_status;

/* Short constant name of a status, e.g. "bad input". Never NULL. */
const char *nnd_status_str(nnd_status status);

/* Exit code the CLI uses for a status: 0 ok, 2 bad usage or input, 3 internal. */
int nnd_status_exit_code(nnd_status status);

/* Error context. Zero-initialise it (`nnd_error err = {0};`). The first error
 * set wins: later calls to nnd_error_set keep the original, most specific
 * message, so low-level readers can report and callers can add nothing
 * misleading on top. */
typedef struct nnd_error {
  nnd_status status;
  char message[1024];
} nnd_error;

/* Records status and a printf-style message into err (may be NULL) unless an
 * error is already recorded. Returns status so callers can write
 * `return nnd_error_set(err, NND_ERR_FORMAT, "...")`. The message is always
 * one terminal-safe line: %s arguments (names from files) have control
 * characters and bytes that are not UTF-8 shown as escapes (\n, \x1b,
 * \xff, ...), and when the line would not fit, the longest arguments are
 * shortened ("...") so that the text after them survives. */
nnd_status nnd_error_set(nnd_error *err, nnd_status status, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 3, 4)))
#endif
    ;
nnd_status nnd_error_vset(nnd_error *err, nnd_status status, const char *fmt, va_list ap);

/* Clears a recorded error. */
void nnd_error_clear(nnd_error *err);

#ifdef __cplusplus
}
#endif
#endif
