/* The op table (nndiff/ops.def) is consistent with itself: the facts the
 * modules take from different columns of one line agree. The compiler
 * already checks that every op has every column; these check the values
 * the code relies on. */
#include <stdlib.h>

#include "ir/shape_infer.h"
#include "nnd_test.h"
#include "nndiff/op_info.h"

/* Roles name inputs the op can have. */
static int test_roles_within_arity(void) {
  for (int op = 0; op < NND_OP_COUNT; op++) {
    const nnd__op_rule *r = nnd__op_rule_get((nnd_op)op);
    ASSERT_TRUE(r != NULL);
    uint32_t roles = nnd_op_info_get((nnd_op)op)->roles;
    if (r->max_in == NND__ANY || roles == 0) continue;
    bool every = roles == (roles & 0xfu) * 0x11111111u;
    for (int i = r->max_in; i < NND_PROLE_POSITIONS && !every; i++)
      if (nnd_op_input_role((nnd_op)op, i) != NND_PROLE_DATA) {
        fprintf(stderr, "%s: input %d has a role but the op takes %d inputs\n",
                nnd_op_name((nnd_op)op), i, r->max_in);
        return 1;
      }
  }
  /* the roles the modules read */
  ASSERT_EQ_INT(NND_PROLE_WEIGHT, nnd_op_input_role(NND_OP_CONV, 1));
  ASSERT_EQ_INT(NND_PROLE_BIAS, nnd_op_input_role(NND_OP_CONV, 2));
  ASSERT_EQ_INT(NND_PROLE_VAR, nnd_op_input_role(NND_OP_BATCH_NORM, 4));
  ASSERT_TRUE(!nnd_param_role_learned(nnd_op_input_role(NND_OP_BATCH_NORM, 3)));
  ASSERT_EQ_INT(NND_PROLE_CONSTANT, nnd_op_input_role(NND_OP_MAX, 11)); /* variadic */
  ASSERT_EQ_INT(NND_PLAYOUT_IOHW, nnd_op_info_get(NND_OP_CONV_TRANSPOSE)->weight_layout);
  return 0;
}

/* Names are the canonical ones, unique, and reach nnd_op_name. */
static int test_names(void) {
  for (int op = 0; op < NND_OP_COUNT; op++) {
    const char *name = nnd_op_info_get((nnd_op)op)->name;
    ASSERT_TRUE(name && *name);
    ASSERT_STR_EQ(name, nnd_op_name((nnd_op)op));
    for (int k = 0; k < op; k++)
      ASSERT_TRUE(strcmp(name, nnd_op_name((nnd_op)k)) != 0);
    ASSERT_TRUE(strcmp(nnd_op_family_name(nnd_op_info_get((nnd_op)op)->family), "?") != 0);
  }
  ASSERT_STR_EQ("Conv", nnd_op_name(NND_OP_CONV));
  ASSERT_STR_EQ("Invalid", nnd_op_name(NND_OP_COUNT));
  ASSERT_EQ_INT(NND_FAMILY_NONE, nnd_op_info_get((nnd_op)-1)->family);
  return 0;
}

/* Every fused activation kind is the ACT of exactly one op, a one-input
 * activation: canonicalisation fuses that op, and an edit that replaces an
 * activation writes it back as that op. */
static int test_activation_ops(void) {
  static const nnd_act_kind kinds[] = {NND_ACT_RELU,    NND_ACT_CLIP,         NND_ACT_LEAKY_RELU,
                                       NND_ACT_SIGMOID, NND_ACT_HARD_SIGMOID, NND_ACT_HARD_SWISH,
                                       NND_ACT_TANH,    NND_ACT_SILU};
  for (size_t k = 0; k < sizeof kinds / sizeof kinds[0]; k++) {
    int n = 0;
    for (int op = 0; op < NND_OP_COUNT; op++) {
      const nnd_op_info *info = nnd_op_info_get((nnd_op)op);
      if (info->act != kinds[k]) continue;
      n++;
      ASSERT_EQ_INT(NND_FAMILY_ACTIVATION, info->family);
      ASSERT_EQ_INT(1, nnd__op_rule_get((nnd_op)op)->min_in);
    }
    if (n != 1) {
      fprintf(stderr, "activation %s is the ACT of %d ops\n", nnd_act_name(kinds[k]), n);
      return 1;
    }
  }
  return 0;
}

/* Folding reads the operands the EVAL kind says; views and pass-through
 * ops keep input 0's dtype; commutative ops are elementwise with one
 * dtype. */
static int test_eval_and_commutativity(void) {
  for (int op = 0; op < NND_OP_COUNT; op++) {
    const nnd_op_info *info = nnd_op_info_get((nnd_op)op);
    const nnd__op_rule *r = nnd__op_rule_get((nnd_op)op);
    switch (info->eval) {
    case NND_EVAL_UNARY: ASSERT_EQ_INT(NND_FAMILY_UNARY, info->family); break;
    case NND_EVAL_BINARY: ASSERT_EQ_INT(NND_FAMILY_BINARY, info->family); break;
    case NND_EVAL_PASS:
    case NND_EVAL_VIEW: ASSERT_EQ_INT(NND__OUT_SAME, r->out_rule); break;
    default: break;
    }
    if (info->family == NND_FAMILY_RESHAPE) ASSERT_EQ_INT(NND_EVAL_VIEW, info->eval);
    if (info->commutative) {
      ASSERT_TRUE(r->same_dtype);
      ASSERT_TRUE(info->family == NND_FAMILY_BINARY || info->family == NND_FAMILY_LOGIC);
    }
  }
  ASSERT_TRUE(nnd_op_info_get(NND_OP_ADD)->commutative);
  ASSERT_TRUE(!nnd_op_info_get(NND_OP_SUB)->commutative);
  return 0;
}

NND_TEST_MAIN(NND_TEST(test_roles_within_arity), NND_TEST(test_names),
              NND_TEST(test_activation_ops), NND_TEST(test_eval_and_commutativity))
