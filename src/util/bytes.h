/* Byte counts for messages and options: "6.1 GiB" out, "512M" / "4G" in.
 * One convention everywhere (powers of 1024), so the budget a user gives
 * with --max-memory 4G reads back as "4.0 GiB" in the message refusing it. */
#ifndef NND_UTIL_BYTES_H
#define NND_UTIL_BYTES_H

#include <stdbool.h>
#include <stddef.h>

/* Longest result of nnd__fmt_bytes, NUL included. */
#define NND_BYTES_FMT_SIZE 32

/* "512 bytes", "3.2 KiB", "6.1 GiB", "894.1 GiB", "1.2 TiB"; returns buf. */
const char *nnd__fmt_bytes(size_t bytes, char buf[NND_BYTES_FMT_SIZE]);

/* Parses a size: a number (decimals allowed) with an optional unit K, M,
 * G or T (powers of 1024, case-insensitive, optionally followed by "B" or
 * "iB"); a bare number is bytes. false when it is not one or does not fit
 * size_t. */
bool nnd__parse_bytes(const char *s, size_t *out);

#endif
