/* What the machine lets a command use, checked up front: threads (CPUs and
 * the process limit) and the memory budget (--max-memory, by default a
 * share of physical memory). */
#ifndef NND_CLI_CLI_LIMITS_H
#define NND_CLI_CLI_LIMITS_H

#include <stdbool.h>
#include <stddef.h>

/* Most --threads a command accepts (a usage error above it). */
#define NND_CLI_MAX_THREADS 1024

/* The thread count to use for --threads `requested` (0..NND_CLI_MAX_THREADS;
 * 0 = every CPU this process may run on). More threads than CPUs only wait
 * on each other, so a larger request is clamped to the CPU count with a
 * warning on stderr; and since OpenMP ends the process when it cannot start
 * a thread, the count is also lowered (with a warning) to the threads the
 * process can actually start now (ulimit -u, cgroup pids.max), found by
 * starting them once. `cmd` names the command in warnings. Always >= 1. */
int nnd_cli_threads(const char *cmd, long long requested);

/* Default memory budget: 3/4 of the smallest of physical memory, the
 * memory available now (MemAvailable), what the cgroup memory limit
 * leaves, and ulimit -v / -d. 0 when none can be read. */
size_t nnd_cli_default_max_memory(void);

/* Parses --max-memory SIZE ("512M", "4G", "1.5G", a byte count; "0" turns
 * the budget off). false when it is not a size. */
bool nnd_cli_parse_max_memory(const char *s, size_t *out);

#endif
