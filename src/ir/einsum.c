/* Parser of Einsum equations (see einsum.h). */
#include "ir/einsum.h"

#include <stdio.h>
#include <string.h>

static int letter_code(char ch) {
  if (ch >= 'a' && ch <= 'z') return ch - 'a';
  if (ch >= 'A' && ch <= 'Z') return 26 + ch - 'A';
  return -1;
}

bool nnd__einsum_parse(const char *eq, int n_in, nnd__einsum *e, char *why, size_t n) {
  memset(e, 0, sizeof *e);
  if (!eq) {
    snprintf(why, n, "no equation");
    return false;
  }
  if (strstr(eq, "...")) {
    snprintf(why, n, "the equation '%s' uses an ellipsis", eq);
    return false;
  }
  if (n_in < 1 || n_in > NND__EINSUM_MAX_IN) {
    snprintf(why, n, "%d operands (1 to %d supported)", n_in, NND__EINSUM_MAX_IN);
    return false;
  }
  /* code -> letter index, in order of first appearance */
  int index[NND__EINSUM_MAX_LETTERS], count[NND__EINSUM_MAX_LETTERS] = {0};
  for (int i = 0; i < NND__EINSUM_MAX_LETTERS; i++)
    index[i] = -1;
  const char *p = eq;
  int k = 0;
  bool arrow = false;
  for (; *p; p++) {
    if (*p == ' ') continue;
    if (*p == ',') {
      if (++k >= n_in) break;
      continue;
    }
    if (p[0] == '-' && p[1] == '>') {
      arrow = true;
      p += 2;
      break;
    }
    const int c = letter_code(*p);
    if (c < 0) {
      snprintf(why, n, "the equation '%s' has the character '%c'", eq, *p);
      return false;
    }
    if (e->in_rank[k] >= NND_MAX_RANK) {
      snprintf(why, n, "operand %d of '%s' has more than %d subscripts", k, eq, NND_MAX_RANK);
      return false;
    }
    if (index[c] < 0) index[c] = e->n_letters++;
    count[c]++;
    e->in_sub[k][e->in_rank[k]++] = index[c];
  }
  if (k != n_in - 1) {
    snprintf(why, n, "the equation '%s' has %d operands, the node %d", eq, k + 1, n_in);
    return false;
  }
  if (arrow) {
    bool used[NND__EINSUM_MAX_LETTERS] = {false};
    for (; *p; p++) {
      if (*p == ' ') continue;
      const int c = letter_code(*p);
      if (c < 0 || index[c] < 0 || used[c] || e->out_rank >= NND_MAX_RANK) {
        snprintf(why, n, "the output of '%s' is not a set of input letters", eq);
        return false;
      }
      used[c] = true;
      e->out_sub[e->out_rank++] = index[c];
    }
  } else {
    /* the letters used once, in ASCII order as numpy has it: A-Z, then a-z */
    for (int q = 0; q < NND__EINSUM_MAX_LETTERS; q++) {
      const int c = (q + 26) % NND__EINSUM_MAX_LETTERS;
      if (count[c] == 1) {
        if (e->out_rank >= NND_MAX_RANK) {
          snprintf(why, n, "the output of '%s' has more than %d dims", eq, NND_MAX_RANK);
          return false;
        }
        e->out_sub[e->out_rank++] = index[c];
      }
    }
  }
  e->n_in = n_in;
  return true;
}
