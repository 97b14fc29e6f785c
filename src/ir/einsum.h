/* Einsum equations ("bhid,bhjd->bhij"): parsed once into letter indices, so
 * shape inference, the engine and the cost model read them the same way.
 * Letters a-z and A-Z, spaces ignored, an explicit or implicit output (the
 * letters used once, in alphabetical order); no ellipsis ("..."). */
#ifndef NND_IR_EINSUM_H
#define NND_IR_EINSUM_H

#include <stdbool.h>
#include <stddef.h>

#include "nndiff/ir.h"

enum { NND__EINSUM_MAX_IN = 4, NND__EINSUM_MAX_LETTERS = 52 };

typedef struct nnd__einsum {
  int n_in;
  int n_letters;                                /* distinct letters */
  int in_rank[NND__EINSUM_MAX_IN];              /* subscripts per input */
  int in_sub[NND__EINSUM_MAX_IN][NND_MAX_RANK]; /* letter index of each input dim */
  int out_rank;
  int out_sub[NND_MAX_RANK]; /* letter index of each output dim */
} nnd__einsum;

/* Parses eq for n_in operands. false with a reason in why (ellipsis, a bad
 * character, operand count, a rank above NND_MAX_RANK, an output letter no
 * input has or one listed twice). */
bool nnd__einsum_parse(const char *eq, int n_in, nnd__einsum *out, char *why, size_t why_size);

#endif
