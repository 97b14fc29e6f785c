/* Number formatting shared by the text reports. */
#ifndef NND_REPORT_NUMFMT_H
#define NND_REPORT_NUMFMT_H

#include <stddef.h>
#include <stdint.h>

/* Longest result of either function, NUL included. */
#define NND_NUMFMT_SIZE 32

/* "11,689,512": exact, with thousands separators. */
void nnd__fmt_count(int64_t v, char buf[NND_NUMFMT_SIZE]);
/* "11.7 M", "1.82 G", "512": three significant digits with an SI prefix
 * (K, M, G, T, P, E: powers of 1000); plain below 1000. */
void nnd__fmt_si(int64_t v, char buf[NND_NUMFMT_SIZE]);

#endif
