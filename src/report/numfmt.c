/* Number formatting shared by the text reports (see numfmt.h). */
#include "report/numfmt.h"

#include <stdio.h>
#include <string.h>

void nnd__fmt_count(int64_t v, char buf[NND_NUMFMT_SIZE]) {
  char digits[24];
  /* Through unsigned so INT64_MIN formats too. */
  uint64_t u = v < 0 ? 0 - (uint64_t)v : (uint64_t)v;
  int n = snprintf(digits, sizeof digits, "%llu", (unsigned long long)u);
  size_t o = 0;
  if (v < 0) buf[o++] = '-';
  for (int i = 0; i < n; i++) {
    if (i > 0 && (n - i) % 3 == 0) buf[o++] = ',';
    buf[o++] = digits[i];
  }
  buf[o] = '\0';
}

void nnd__fmt_si(int64_t v, char buf[NND_NUMFMT_SIZE]) {
  static const char prefixes[] = " KMGTPE";
  double x = (double)v, mag = x < 0 ? -x : x;
  int p = 0;
  if (mag < 1000) {
    snprintf(buf, NND_NUMFMT_SIZE, "%lld", (long long)v);
    return;
  }
  /* Scale until the value rounds below 1000 at the precision printed. */
  while (p < 6) {
    mag /= 1000;
    x /= 1000;
    p++;
    if (mag < 999.5) break;
  }
  const char *fmt = mag >= 99.95 ? "%.0f %c" : mag >= 9.995 ? "%.1f %c" : "%.2f %c";
  snprintf(buf, NND_NUMFMT_SIZE, fmt, x, prefixes[p]);
}
