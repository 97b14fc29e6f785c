/* Thread and memory limits of the commands (see cli_limits.h). */
#include "cli/cli_limits.h"

#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include "util/bytes.h"

/* CPUs this process may run on (its affinity mask: taskset, cgroup
 * cpusets), else the online CPUs. */
static int cpus_available(void) {
  cpu_set_t set;
  if (sched_getaffinity(0, sizeof set, &set) == 0) {
    int n = CPU_COUNT(&set);
    if (n > 0) return n;
  }
  long n = sysconf(_SC_NPROCESSORS_ONLN);
  return n > 0 ? (int)n : 1;
}

/* The probe's threads wait here until every one has started, so they all
 * exist at once as OpenMP's pool will. */
typedef struct probe {
  pthread_mutex_t mu;
  pthread_cond_t go;
  bool release;
} probe;

static void *probe_wait(void *arg) {
  probe *p = arg;
  pthread_mutex_lock(&p->mu);
  while (!p->release)
    pthread_cond_wait(&p->go, &p->mu);
  pthread_mutex_unlock(&p->mu);
  return NULL;
}

/* How many of `want` threads (the caller counts as one) can run at once. */
static int threads_startable(int want, int *err_out) {
  probe p = {PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, false};
  pthread_t *tids = malloc((size_t)want * sizeof *tids);
  if (!tids) return 1;
  int started = 0;
  *err_out = 0;
  while (started < want - 1) {
    int rc = pthread_create(&tids[started], NULL, probe_wait, &p);
    if (rc != 0) {
      *err_out = rc;
      break;
    }
    started++;
  }
  pthread_mutex_lock(&p.mu);
  p.release = true;
  pthread_cond_broadcast(&p.go);
  pthread_mutex_unlock(&p.mu);
  for (int i = 0; i < started; i++)
    pthread_join(tids[i], NULL);
  free(tids);
  return started + 1;
}

int nnd_cli_threads(const char *cmd, long long requested) {
  const int cpus = cpus_available();
  int n = requested <= 0                    ? cpus
          : requested > NND_CLI_MAX_THREADS ? NND_CLI_MAX_THREADS
                                            : (int)requested;
  if (n > cpus) {
    fprintf(stderr,
            "nndiff: %s: warning: --threads %d is more than the %d CPU%s available; using %d\n",
            cmd, n, cpus, cpus == 1 ? "" : "s", cpus);
    n = cpus;
  }
  if (n > 1) {
    int why = 0, ok = threads_startable(n, &why);
    if (ok < n) {
      fprintf(stderr,
              "nndiff: %s: warning: --threads %d: only %d thread%s can be started (%s; see ulimit "
              "-u); using %d\n",
              cmd, n, ok, ok == 1 ? "" : "s", strerror(why), ok);
      n = ok;
    }
  }
  return n;
}

/* A number in a file such as /sys/fs/cgroup/memory.max; 0 when absent,
 * unreadable or "max". */
static size_t read_limit_file(const char *path) {
  FILE *f = fopen(path, "r");
  if (!f) return 0;
  char buf[64] = "";
  size_t n = fread(buf, 1, sizeof buf - 1, f);
  fclose(f);
  buf[n] = '\0';
  errno = 0;
  char *end;
  unsigned long long v = strtoull(buf, &end, 10);
  if (errno || end == buf) return 0;
  return v > SIZE_MAX ? SIZE_MAX : (size_t)v;
}

static size_t smaller(size_t a, size_t b) { return !a ? b : !b ? a : a < b ? a : b; }

/* MemAvailable from /proc/meminfo (what can be allocated now without
 * swapping, other processes' use counted); 0 when unknown. */
static size_t mem_available(void) {
  FILE *f = fopen("/proc/meminfo", "r");
  if (!f) return 0;
  char line[256];
  unsigned long long kb = 0;
  while (fgets(line, sizeof line, f))
    if (sscanf(line, "MemAvailable: %llu kB", &kb) == 1) break;
  fclose(f);
  return kb > SIZE_MAX / 1024 ? SIZE_MAX : (size_t)kb * 1024;
}

/* What a cgroup v2 limit leaves: memory.max - memory.current; 0 without one. */
static size_t cgroup_left(void) {
  size_t max = read_limit_file("/sys/fs/cgroup/memory.max");
  if (!max) return 0;
  size_t cur = read_limit_file("/sys/fs/cgroup/memory.current");
  return cur < max ? max - cur : 1;
}

size_t nnd_cli_default_max_memory(void) {
  size_t lim = 0;
  long pages = sysconf(_SC_PHYS_PAGES), page = sysconf(_SC_PAGESIZE);
  if (pages > 0 && page > 0 && (size_t)pages <= SIZE_MAX / (size_t)page)
    lim = (size_t)pages * (size_t)page;
  /* The operating system stops a process at what is available, not at
   * what is installed: other processes' memory counts. */
  lim = smaller(lim, mem_available());
  lim = smaller(lim, cgroup_left());
  /* cgroup v1 reports "no limit" as a huge number; smaller() keeps RAM. */
  lim = smaller(lim, read_limit_file("/sys/fs/cgroup/memory/memory.limit_in_bytes"));
  static const int res[] = {RLIMIT_AS, RLIMIT_DATA};
  for (size_t i = 0; i < sizeof res / sizeof *res; i++) {
    struct rlimit rl;
    if (getrlimit(res[i], &rl) == 0 && rl.rlim_cur != RLIM_INFINITY)
      lim = smaller(lim, rl.rlim_cur > SIZE_MAX ? SIZE_MAX : (size_t)rl.rlim_cur);
  }
  /* The rest is for the model file, decoded images, libraries, threads'
   * stacks and everything else on the machine. */
  return lim / 4 * 3;
}

bool nnd_cli_parse_max_memory(const char *s, size_t *out) { return nnd__parse_bytes(s, out); }
