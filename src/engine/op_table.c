/* The engine's op table: planner functions per canonical op, generated from
 * the ENGINE column of ops.def. Every op takes its output shapes from
 * the IR's shape inference for the bound batch (plan_ir.c); `prepare`
 * derives the kernel's parameters, `build` emits its steps. An op whose
 * build is `none` makes nnd_engine_create fail with "node 'X' (OpType): not supported
 * by the engine". */
#include "engine/engine_internal.h"

/* The ENGINE column of ops.def: ENGINE(prepare, build, flags, kernel).
 * `prepare` derives the kernel's parameters (none: the shapes say all),
 * `build` emits the steps (none: the engine does not run the op). */
#define nnd__eng_prepare_none NULL
#define nnd__eng_build_none NULL
#define ENGINE(prepare, build, flags, kernel) {nnd__eng_prepare_##prepare, nnd__eng_build_##build, flags}
#define X(id, name, fam, io, dt, rule, cost, comm, subst, params, hp, act, eval, engine) engine,
static const op_impl table[] = {
#include "nndiff/ops.def"
};
#undef X
#undef ENGINE
_Static_assert(sizeof table / sizeof table[0] == NND_OP_COUNT, "one engine entry per line of ops.def");

const op_impl *nnd__engine_op(nnd_op op) {
  if (op < 0 || op >= NND_OP_COUNT || !table[op].build) return NULL;
  return &table[op];
}
