/* Reductions (ReduceSum/Mean/Max/Min) for double, float and int64. */
#include <math.h>
#include <stdint.h>

#include "ops/ops.h"
#include "ops/parallel.h"

#define T double
#define SFX(name) name##_f64
#define T_LOWEST (-INFINITY)
#define T_HIGHEST INFINITY
#include "ops/reduce_tmpl.h"
#undef T
#undef SFX
#undef T_LOWEST
#undef T_HIGHEST

#define T float
#define SFX(name) name##_f32
#define T_LOWEST (-INFINITY)
#define T_HIGHEST INFINITY
#include "ops/reduce_tmpl.h"
#undef T
#undef SFX
#undef T_LOWEST
#undef T_HIGHEST

#define T int64_t
#define SFX(name) name##_i64
#define T_LOWEST INT64_MIN
#define T_HIGHEST INT64_MAX
#include "ops/reduce_tmpl.h"
#undef T
#undef SFX
#undef T_LOWEST
#undef T_HIGHEST
