/* A tiny test harness: CHECK-style asserts that print expected vs actual
 * with file:line and fail the current test, and a runner over a table. */
#ifndef NND_TEST_H
#define NND_TEST_H

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#define ASSERT_TRUE(cond)                                                             \
  do {                                                                                \
    if (!(cond)) {                                                                    \
      fprintf(stderr, "%s:%d: assertion failed: %s\n", __FILE__, __LINE__, #cond);    \
      return 1;                                                                       \
    }                                                                                 \
  } while (0)

#define ASSERT_EQ_INT(expected, actual)                                               \
  do {                                                                                \
    long long e_ = (long long)(expected), a_ = (long long)(actual);                   \
    if (e_ != a_) {                                                                   \
      fprintf(stderr, "%s:%d: %s == %s: expected %lld, got %lld\n", __FILE__, __LINE__, \
              #expected, #actual, e_, a_);                                            \
      return 1;                                                                       \
    }                                                                                 \
  } while (0)

#define ASSERT_NEAR(expected, actual, tol)                                            \
  do {                                                                                \
    double e_ = (double)(expected), a_ = (double)(actual);                            \
    if (!(e_ - a_ <= (tol) && a_ - e_ <= (tol))) {                                    \
      fprintf(stderr, "%s:%d: %s ~ %s: expected %.9g, got %.9g (tol %g)\n", __FILE__, \
              __LINE__, #expected, #actual, e_, a_, (double)(tol));                   \
      return 1;                                                                       \
    }                                                                                 \
  } while (0)

#define ASSERT_STR_EQ(expected, actual)                                               \
  do {                                                                                \
    const char *e_ = (expected), *a_ = (actual);                                      \
    if (!e_ || !a_ || strcmp(e_, a_) != 0) {                                          \
      fprintf(stderr, "%s:%d: expected \"%s\", got \"%s\"\n", __FILE__, __LINE__,     \
              e_ ? e_ : "(null)", a_ ? a_ : "(null)");                                \
      return 1;                                                                       \
    }                                                                                 \
  } while (0)

#define ASSERT_CONTAINS(haystack, needle)                                             \
  do {                                                                                \
    const char *h_ = (haystack), *n_ = (needle);                                      \
    if (!h_ || !strstr(h_, n_)) {                                                     \
      fprintf(stderr, "%s:%d: expected \"%s\" to contain \"%s\"\n", __FILE__, __LINE__, \
              h_ ? h_ : "(null)", n_);                                                \
      return 1;                                                                       \
    }                                                                                 \
  } while (0)

typedef struct nnd_test_case {
  const char *name;
  int (*fn)(void);
} nnd_test_case;

/* Runs every case (or only the one named in argv[1]) and prints
 * "N passed, N failed". Fails when argv[1] names no case. */
static inline int nnd_test_run(const nnd_test_case *cases, size_t n, int argc, char **argv) {
  int passed = 0, failed = 0;
  for (size_t i = 0; i < n; i++) {
    if (argc > 1 && strcmp(argv[1], cases[i].name) != 0) continue;
    int rc = cases[i].fn();
    printf("%s %s\n", rc ? "FAIL" : "ok  ", cases[i].name);
    if (rc) failed++;
    else passed++;
  }
  if (argc > 1 && passed + failed == 0) {
    /* A filter that selects nothing is a typo, not a pass. */
    fprintf(stderr, "no test case is named '%s'\n", argv[1]);
    return 1;
  }
  printf("%d passed, %d failed\n", passed, failed);
  return failed ? 1 : 0;
}

#define NND_TEST_MAIN(...)                                                            \
  int main(int argc, char **argv) {                                                   \
    static const nnd_test_case cases_[] = {__VA_ARGS__};                              \
    return nnd_test_run(cases_, sizeof cases_ / sizeof cases_[0], argc, argv);        \
  }
#define NND_TEST(fn) {#fn, fn}

#endif
