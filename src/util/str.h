/* String helpers for bytes that come from files and are not NUL-terminated.
 * (strndup may read past n bytes under some sanitizer interceptors.) */
#ifndef NND_UTIL_STR_H
#define NND_UTIL_STR_H

#include <stdlib.h>
#include <string.h>

/* malloc'ed copy of the n bytes at p plus a terminating NUL; NULL if out of memory. */
static inline char *nnd__bytes_to_str(const char *p, size_t n) {
  char *s = malloc(n + 1);
  if (!s) return NULL;
  if (n) memcpy(s, p, n);
  s[n] = '\0';
  return s;
}

#endif
