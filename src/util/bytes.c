/* Byte counts in and out (util/bytes.h). */
#include "util/bytes.h"

#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

const char *nnd__fmt_bytes(size_t bytes, char buf[NND_BYTES_FMT_SIZE]) {
  static const char *const units[] = {"KiB", "MiB", "GiB", "TiB", "PiB", "EiB"};
  if (bytes < 1024) {
    snprintf(buf, NND_BYTES_FMT_SIZE, "%zu bytes", bytes);
    return buf;
  }
  double v = (double)bytes / 1024.0;
  int u = 0;
  while (v >= 1024.0 && u < 5) {
    v /= 1024.0;
    u++;
  }
  snprintf(buf, NND_BYTES_FMT_SIZE, "%.1f %s", v, units[u]);
  return buf;
}

bool nnd__parse_bytes(const char *s, size_t *out) {
  if (!s || !isdigit((unsigned char)*s)) return false;
  errno = 0;
  char *end;
  double v = strtod(s, &end);
  if (errno || end == s || !(v >= 0)) return false;
  double mult = 1;
  if (*end) {
    static const char units[] = "KMGT";
    const char *u = strchr(units, toupper((unsigned char)*end));
    if (!u) return false;
    mult = ldexp(1.0, 10 * (int)(u - units + 1));
    end++;
    if (strcasecmp(end, "") != 0 && strcasecmp(end, "B") != 0 && strcasecmp(end, "iB") != 0)
      return false;
  }
  double bytes = floor(v * mult);
  if (!(bytes < 18446744073709551616.0) || bytes > (double)SIZE_MAX) return false;
  *out = (size_t)bytes;
  return true;
}
