/* The shared per-op facts (nndiff/op_info.h), generated from ops.def. */
#include "nndiff/op_info.h"

#define ROLE(i, role) ((uint32_t)NND_PROLE_##role << (4 * (i)))
#define EVERY(role) ((uint32_t)NND_PROLE_##role * 0x11111111u)
#define FAM(f) NND_FAMILY_##f
#define COMM(c) (c) != 0
#define PARAMS(roles, layout) roles, NND_PLAYOUT_##layout
#define ACT(kind) NND_ACT_##kind
#define EVAL(kind, fn) NND_EVAL_##kind

static const nnd_op_info infos[] = {
#define X(id, name, fam, io, dt, rule, cost, comm, subst, params, hp, act, eval, engine)                   \
  {name, fam, comm, params, act, eval},
#include "nndiff/ops.def"
#undef X
};
_Static_assert(sizeof infos / sizeof infos[0] == NND_OP_COUNT, "one op_info per line of ops.def");

const nnd_op_info *nnd_op_info_get(nnd_op op) {
  return &infos[op >= 0 && op < NND_OP_COUNT ? op : NND_OP_UNSUPPORTED];
}

const char *nnd_op_name(nnd_op op) {
  return (op >= 0 && op < NND_OP_COUNT) ? infos[op].name : "Invalid";
}

nnd_param_role nnd_op_input_role(nnd_op op, int i) {
  if (i < 0) return NND_PROLE_DATA;
  if (i >= NND_PROLE_POSITIONS) i = NND_PROLE_POSITIONS - 1;
  return (nnd_param_role)((nnd_op_info_get(op)->roles >> (4 * i)) & 0xfu);
}

bool nnd_param_role_learned(nnd_param_role r) {
  return r == NND_PROLE_WEIGHT || r == NND_PROLE_BIAS || r == NND_PROLE_SCALE ||
         r == NND_PROLE_SLOPE || r == NND_PROLE_OPERAND;
}

const char *nnd_op_family_name(nnd_op_family f) {
  static const char *const names[NND_FAMILY_COUNT] = {[NND_FAMILY_NONE] = "none",
                                                      [NND_FAMILY_CONV] = "conv",
                                                      [NND_FAMILY_DENSE] = "dense",
                                                      [NND_FAMILY_NORM] = "norm",
                                                      [NND_FAMILY_ACTIVATION] = "activation",
                                                      [NND_FAMILY_SOFTMAX] = "softmax",
                                                      [NND_FAMILY_BINARY] = "binary",
                                                      [NND_FAMILY_LOGIC] = "logic",
                                                      [NND_FAMILY_UNARY] = "unary",
                                                      [NND_FAMILY_POOL] = "pool",
                                                      [NND_FAMILY_REDUCE] = "reduce",
                                                      [NND_FAMILY_RESHAPE] = "reshape",
                                                      [NND_FAMILY_MOVEMENT] = "movement",
                                                      [NND_FAMILY_GENERATE] = "generate",
                                                      [NND_FAMILY_QUANT] = "quant"};
  return f >= 0 && f < NND_FAMILY_COUNT && names[f] ? names[f] : "?";
}
