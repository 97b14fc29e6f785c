/* The engine's op table: planner functions per canonical op, indexed by the
 * nnd_op enum that ops.def generates. Every op takes its output shapes from
 * the IR's shape inference for the bound batch (plan_ir.c); `prepare`
 * derives the kernel's parameters, `build` emits its steps. An op missing
 * here makes nnd_engine_create fail with "node 'X' (OpType): not supported
 * by the engine". */
#include "engine/engine_internal.h"

#define ENTRY(name, flags)                                                                         \
  { nnd__eng_prepare_##name, nnd__eng_build_##name, flags }
/* The kernel needs nothing beyond the shapes. */
#define BUILD_ONLY(name, flags)                                                                    \
  { NULL, nnd__eng_build_##name, flags }
#define UNARY (OPF_FLEX)
#define ACT (OPF_FLEX | OPF_ACTIVATION)

static const op_impl table[NND_OP_COUNT] = {
    [NND_OP_CONV] = ENTRY(conv, 0),
    [NND_OP_CONV_TRANSPOSE] = ENTRY(conv_transpose, 0),
    [NND_OP_GEMM] = ENTRY(gemm, 0),
    [NND_OP_MATMUL] = ENTRY(matmul, 0),
    [NND_OP_EINSUM] = BUILD_ONLY(einsum, 0),
    [NND_OP_BATCH_NORM] = ENTRY(batchnorm, OPF_FLEX),
    [NND_OP_LRN] = ENTRY(lrn, 0),
    [NND_OP_LAYER_NORM] = BUILD_ONLY(layernorm, 0),
    [NND_OP_RELU] = ENTRY(unary, ACT),
    [NND_OP_LEAKY_RELU] = ENTRY(unary, ACT),
    [NND_OP_PRELU] = ENTRY(binary, OPF_FLEX),
    [NND_OP_CLIP] = ENTRY(unary, ACT),
    [NND_OP_SIGMOID] = ENTRY(unary, ACT),
    [NND_OP_HARD_SIGMOID] = ENTRY(unary, ACT),
    [NND_OP_HARD_SWISH] = ENTRY(unary, ACT),
    [NND_OP_TANH] = ENTRY(unary, ACT),
    [NND_OP_ELU] = ENTRY(unary, ACT),
    [NND_OP_SILU] = ENTRY(unary, ACT),
    [NND_OP_GELU] = ENTRY(unary, ACT),
    [NND_OP_SOFTPLUS] = ENTRY(unary, UNARY),
    [NND_OP_SOFTMAX] = ENTRY(softmax, 0),
    [NND_OP_LOG_SOFTMAX] = ENTRY(softmax, 0),
    [NND_OP_ADD] = ENTRY(binary, OPF_FLEX),
    [NND_OP_SUB] = ENTRY(binary, OPF_FLEX),
    [NND_OP_MUL] = ENTRY(binary, OPF_FLEX),
    [NND_OP_DIV] = ENTRY(binary, OPF_FLEX),
    [NND_OP_POW] = ENTRY(binary, OPF_FLEX),
    [NND_OP_MAX] = ENTRY(binary, OPF_FLEX),
    [NND_OP_MIN] = ENTRY(binary, OPF_FLEX),
    [NND_OP_MOD] = ENTRY(binary, 0),
    /* Boolean results exist only at create time (folded): integers never
     * run. */
    [NND_OP_EQUAL] = BUILD_ONLY(compare, 0),
    [NND_OP_NOT] = BUILD_ONLY(compare, 0),
    [NND_OP_WHERE] = BUILD_ONLY(where, 0),
    [NND_OP_SQRT] = ENTRY(unary, UNARY),
    [NND_OP_EXP] = ENTRY(unary, UNARY),
    [NND_OP_LOG] = ENTRY(unary, UNARY),
    [NND_OP_NEG] = ENTRY(unary, UNARY),
    [NND_OP_ABS] = ENTRY(unary, UNARY),
    [NND_OP_ERF] = ENTRY(unary, UNARY),
    [NND_OP_RECIPROCAL] = ENTRY(unary, UNARY),
    [NND_OP_FLOOR] = ENTRY(unary, UNARY),
    [NND_OP_CEIL] = ENTRY(unary, UNARY),
    [NND_OP_CAST] = ENTRY(cast, OPF_FLEX),
    [NND_OP_MAX_POOL] = ENTRY(pool, OPF_FLEX),
    [NND_OP_AVG_POOL] = ENTRY(pool, OPF_FLEX),
    [NND_OP_GLOBAL_AVG_POOL] = ENTRY(global_pool, OPF_FLEX),
    [NND_OP_GLOBAL_MAX_POOL] = ENTRY(global_pool, OPF_FLEX),
    [NND_OP_REDUCE_MEAN] = ENTRY(reduce, 0),
    [NND_OP_REDUCE_SUM] = ENTRY(reduce, 0),
    [NND_OP_REDUCE_MAX] = ENTRY(reduce, 0),
    [NND_OP_REDUCE_MIN] = ENTRY(reduce, 0),
    [NND_OP_CONCAT] = ENTRY(concat, OPF_FLEX),
    [NND_OP_SPLIT] = ENTRY(split, 0),
    [NND_OP_FLATTEN] = BUILD_ONLY(reshape, OPF_ALIAS),
    [NND_OP_RESHAPE] = BUILD_ONLY(reshape, OPF_ALIAS),
    [NND_OP_TRANSPOSE] = ENTRY(transpose, 0),
    [NND_OP_SQUEEZE] = BUILD_ONLY(reshape, OPF_ALIAS),
    [NND_OP_UNSQUEEZE] = BUILD_ONLY(reshape, OPF_ALIAS),
    [NND_OP_PAD] = ENTRY(pad, OPF_FLEX),
    [NND_OP_SLICE] = ENTRY(slice, 0),
    [NND_OP_GATHER] = ENTRY(gather, 0),
    [NND_OP_SHAPE] = ENTRY(shape, 0),
    [NND_OP_EXPAND] = BUILD_ONLY(expand, 0),
    [NND_OP_IDENTITY] = BUILD_ONLY(reshape, OPF_ALIAS | OPF_FLEX),
    [NND_OP_DROPOUT] = {nnd__eng_prepare_dropout, nnd__eng_build_reshape, OPF_ALIAS | OPF_FLEX},
    [NND_OP_SCATTER_ND] = BUILD_ONLY(scatter_nd, 0),
    [NND_OP_CONSTANT_OF_SHAPE] = BUILD_ONLY(constant_of_shape, 0),
    [NND_OP_RANGE] = BUILD_ONLY(range, 0),
};

const op_impl *nnd__engine_op(nnd_op op) {
  if (op < 0 || op >= NND_OP_COUNT || !table[op].build) return NULL;
  return &table[op];
}
