/* Direct convolution, transposed convolution and pooling kernels: the
 * reference (double) and generic float instances of conv_tmpl.h. */
#include <math.h>
#include <string.h>

#include "ops/ops.h"
#include "ops/parallel.h"

#define T double
#define SFX(name) name##_f64
#define CONV_LOWERED nnd__conv_lowered_f64
#include "ops/conv_tmpl.h"
#undef CONV_LOWERED
#undef T
#undef SFX

#define T float
#define SFX(name) name##_f32
#include "ops/conv_tmpl.h"
#undef T
#undef SFX
