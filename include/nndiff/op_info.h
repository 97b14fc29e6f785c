/* Per-op facts every module shares, generated from the op table
 * (nndiff/ops.def): an op's family, whether its inputs commute, which of
 * its inputs are parameters and in what layout, the activation it is when
 * fused, and how its value follows from constant inputs. The facts only one
 * module needs (shape rules, cost formulas, the hyperparameters static diff
 * compares, alignment substitutes) are columns of ops.def read by that
 * module alone. */
#ifndef NNDIFF_OP_INFO_H
#define NNDIFF_OP_INFO_H

#include <stdbool.h>
#include <stdint.h>

#include "nndiff/ir.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef enum nnd_op_family {
  NND_FAMILY_NONE = 0,   /* Unsupported */
  NND_FAMILY_CONV,       /* Conv, ConvTranspose */
  NND_FAMILY_DENSE,      /* Gemm, MatMul, Einsum */
  NND_FAMILY_NORM,       /* BatchNorm, LRN, LayerNorm */
  NND_FAMILY_ACTIVATION, /* Relu ... Gelu, PRelu */
  NND_FAMILY_SOFTMAX,    /* Softmax, LogSoftmax */
  NND_FAMILY_BINARY,     /* broadcasting arithmetic: Add ... Mod */
  NND_FAMILY_LOGIC,      /* Equal, Not, Where */
  NND_FAMILY_UNARY,      /* elementwise math, Cast */
  NND_FAMILY_POOL,       /* windowed and global pooling */
  NND_FAMILY_REDUCE,     /* Reduce* */
  NND_FAMILY_RESHAPE,    /* views keeping the element order: Flatten, Reshape, (Un)Squeeze */
  NND_FAMILY_MOVEMENT,   /* other data movement and shape ops */
  NND_FAMILY_GENERATE,   /* tensors from scalars or a shape */
  NND_FAMILY_QUANT,      /* Quantize, Dequantize */
  NND_FAMILY_COUNT
} nnd_op_family;

/* What an input of an op holds when it is a constant. */
typedef enum nnd_param_role {
  NND_PROLE_DATA = 0, /* an activation, or an attribute given as an input */
  NND_PROLE_WEIGHT,   /* a layer's weight (layout: nnd_op_info.weight_layout) */
  NND_PROLE_BIAS,     /* a layer's bias, BatchNorm's and LayerNorm's shift */
  NND_PROLE_SCALE,    /* BatchNorm's and LayerNorm's scale */
  NND_PROLE_MEAN,     /* BatchNorm's running mean: a statistic, not learned */
  NND_PROLE_VAR,      /* BatchNorm's running variance: a statistic, not learned */
  NND_PROLE_SLOPE,    /* PRelu's slope */
  NND_PROLE_OPERAND,  /* the other matrix of a product: learned when constant */
  NND_PROLE_CONSTANT  /* an elementwise operand: compared, not counted, when constant */
} nnd_param_role;

/* Layout of an op's weight as the op defines it (a node may state another
 * in nnd_conv_attrs.weight_layout). */
typedef enum nnd_param_layout {
  NND_PLAYOUT_NONE = 0, /* no weight, or per-channel vectors only */
  NND_PLAYOUT_OIHW,     /* [out, in / groups, kernel...] (Conv) */
  NND_PLAYOUT_IOHW,     /* [in, out / groups, kernel...] (ConvTranspose) */
  NND_PLAYOUT_KN        /* [in, out] (MatMul B; Gemm B unless transB: [out, in]) */
} nnd_param_layout;

/* How an op's output follows from constant inputs (constant folding). */
typedef enum nnd_op_eval {
  NND_EVAL_NONE = 0,  /* not folded */
  NND_EVAL_PASS,      /* input 0 as it is (Identity, inference Dropout) */
  NND_EVAL_VIEW,      /* input 0's bytes in another shape */
  NND_EVAL_CAST,      /* input 0 converted to attrs.to */
  NND_EVAL_TRANSPOSE, /* input 0 permuted by attrs.perm */
  NND_EVAL_UNARY,     /* elementwise math of input 0 */
  NND_EVAL_BINARY     /* broadcasting math of inputs 0 and 1 */
} nnd_op_eval;

/* Role bits: 4 per input position, positions 0..7 (later inputs take the
 * role of position 7). */
enum { NND_PROLE_POSITIONS = 8 };

typedef struct nnd_op_info {
  const char *name; /* canonical name, as nnd_op_name */
  nnd_op_family family;
  bool commutative;
  uint32_t roles; /* nnd_op_input_role reads it */
  nnd_param_layout weight_layout;
  nnd_act_kind act; /* the fused activation this op is, NND_ACT_NONE if none */
  nnd_op_eval eval;
} nnd_op_info;

/* The facts of op; an op out of range gets Unsupported's. Never NULL. */
const nnd_op_info *nnd_op_info_get(nnd_op op);
/* Role of input position i (>= 0) of op. */
nnd_param_role nnd_op_input_role(nnd_op op, int i);
/* Learned values: weight, bias, scale, slope, a product's operand. */
bool nnd_param_role_learned(nnd_param_role role);
/* "conv", "dense", ... */
const char *nnd_op_family_name(nnd_op_family family);

#ifdef __cplusplus
}
#endif

#endif
