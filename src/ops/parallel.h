/* OpenMP helpers that compile away without OpenMP (clang builds without
 * libomp, fuzz builds): kernels then run on one thread. The engine sets the
 * thread count (nnd__set_threads); a loop splits only when it has enough
 * work to pay for the fork. */
#ifndef NND_OPS_PARALLEL_H
#define NND_OPS_PARALLEL_H

#define NND_PRAGMA(x) _Pragma(#x)
#ifdef _OPENMP
#include <omp.h>
/* A static-schedule parallel for over the next loop when `cond` holds. */
#define NND_OMP_FOR(cond) NND_PRAGMA(omp parallel for schedule(static) if (cond))
#define NND_OMP_FOR_COLLAPSE2(cond)                                                                \
  NND_PRAGMA(omp parallel for collapse(2) schedule(static) if (cond))
#else
#define NND_OMP_FOR(cond)
#define NND_OMP_FOR_COLLAPSE2(cond)
#endif

/* Compiles a function twice, for AVX2 and for the baseline, picked when the
 * program loads (GCC on x86-64 with glibc ifuncs). For plain loops the
 * compiler vectorises: no FMA contraction in ISO C mode, so both versions
 * give the same bits. */
#if defined(__GNUC__) && !defined(__clang__) && defined(__x86_64__) && defined(__linux__)
#define NND_CLONES __attribute__((target_clones("avx2", "default")))
#else
#define NND_CLONES
#endif

/* Work (elements or multiply-adds) below which a loop stays on one thread. */
#define NND_PAR_MIN_WORK 32768

#endif
