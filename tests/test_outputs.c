/* Output analyses (src/analysis/outputs_compare.c): rankings with ties and
 * NaN, Kendall's tau-b over the union of the top-5 sets (values checked
 * against scipy.stats.kendalltau), pair metrics, grades, accuracy and the
 * conversion-chain attribution. */
#include <math.h>
#include <stdlib.h>

#include "nnd_test.h"
#include "nndiff/outputs.h"

static int test_topk(void) {
  const float s[] = {0.5f, 2.0f, NAN, 2.0f, -1.0f, 7.0f};
  int32_t idx[6];
  ASSERT_EQ_INT(3, nnd_outputs_topk(s, 6, 3, idx));
  ASSERT_EQ_INT(5, idx[0]);
  ASSERT_EQ_INT(1, idx[1]); /* equal scores: lower index first */
  ASSERT_EQ_INT(3, idx[2]);
  ASSERT_EQ_INT(6, nnd_outputs_topk(s, 6, 10, idx));
  ASSERT_EQ_INT(0, idx[3]);
  ASSERT_EQ_INT(4, idx[4]);
  ASSERT_EQ_INT(2, idx[5]); /* NaN last */
  ASSERT_EQ_INT(0, nnd_outputs_topk(s, 0, 3, idx));
  return 0;
}

static int test_softmax(void) {
  const float s[] = {1.0f, 2.0f, 3.0f, 1000.0f};
  double p[4];
  nnd_outputs_softmax(s, 3, p);
  double e = exp(1.0) + exp(2.0) + exp(3.0);
  ASSERT_NEAR(exp(3.0) / e, p[2], 1e-15);
  ASSERT_NEAR(1.0, p[0] + p[1] + p[2], 1e-15);
  nnd_outputs_softmax(s, 4, p); /* no overflow */
  ASSERT_NEAR(1.0, p[3], 1e-12);
  return 0;
}

static int test_kendall_tau(void) {
  /* Same order: 1; same top-5 set reversed: -1. */
  const float a[] = {9, 8, 7, 6, 5, 0, 0, 0};
  const float r[] = {5, 6, 7, 8, 9, 0, 0, 0};
  ASSERT_NEAR(1.0, nnd_outputs_kendall_tau(a, a, 8, 5), 1e-15);
  ASSERT_NEAR(-1.0, nnd_outputs_kendall_tau(a, r, 8, 5), 1e-15);
  /* Different top-5 sets: the union has 6 classes. scipy.stats.kendalltau
   * of a[u], b[u] with u = [0,1,2,3,4,5] gives 0.7333333333333333. */
  const float x[] = {5, 4, 3, 2, 1, 0, 0, 0};
  const float y[] = {5, 3, 4, 2, 0, 1, 0, 0};
  ASSERT_NEAR(0.7333333333333333, nnd_outputs_kendall_tau(x, y, 8, 5), 1e-12);
  /* Ties (tau-b): scipy gives 0.8944271909999157. */
  const float t1[] = {3, 3, 1, 0, 0, 0};
  const float t2[] = {3, 2, 1, 0.5f, 0, 0};
  ASSERT_NEAR(0.8944271909999157, nnd_outputs_kendall_tau(t1, t2, 6, 5), 1e-12);
  /* One model ties everything: 0; both do: 1. */
  const float flat[] = {1, 1, 1, 1, 1, 1};
  ASSERT_NEAR(0.0, nnd_outputs_kendall_tau(flat, t2, 6, 5), 1e-15);
  ASSERT_NEAR(1.0, nnd_outputs_kendall_tau(flat, flat, 6, 5), 1e-15);
  return 0;
}

/* Three "models" over 4 inputs of 6 classes, added in two batches. */
static int test_compare_pairs_and_chain(void) {
  nnd_error err = {0};
  nnd_outputs_compare *c = NULL;
  ASSERT_EQ_INT(NND_OK, nnd_outputs_compare_create(3, 6, 4, &c, &err));
  /* input 0: all agree exactly; input 1: B reorders the tail (minor);
   * input 2: B changes top-1 and C keeps B's (first change A->B);
   * input 3: only C changes top-1 (first change B->C). */
  const float A[4][6] = {
      {6, 5, 4, 3, 2, 1}, {6, 5, 4, 3, 2, 1}, {6, 5, 4, 3, 2, 1}, {1, 2, 3, 4, 5, 6}};
  const float B[4][6] = {
      {6, 5, 4, 3, 2, 1}, {6, 5, 4, 2, 3, 1}, {5, 6, 4, 3, 2, 1}, {1, 2, 3, 4, 5, 6}};
  const float C[4][6] = {
      {6, 5, 4, 3, 2, 1}, {6, 5, 4, 2, 3, 1}, {5, 6, 4, 3, 2, 1}, {1, 2, 3, 4, 6, 5}};
  const size_t items[4] = {10, 11, 13, 14}; /* dataset indices (12 was skipped) */
  for (int batch = 0; batch < 2; batch++) {
    const size_t *it = items + 2 * batch;
    ASSERT_EQ_INT(NND_OK, nnd_outputs_compare_add(c, 0, 2, it, &A[2 * batch][0], &err));
    ASSERT_EQ_INT(NND_OK, nnd_outputs_compare_add(c, 1, 2, it, &B[2 * batch][0], &err));
    ASSERT_EQ_INT(NND_OK, nnd_outputs_compare_add(c, 2, 2, it, &C[2 * batch][0], &err));
  }
  ASSERT_EQ_INT(4, nnd_outputs_compare_inputs(c));
  ASSERT_EQ_INT(13, nnd_outputs_compare_item(c, 2));

  const nnd_pair_result *ab = nnd_outputs_compare_pair(c, 1, 0); /* either order */
  ASSERT_EQ_INT(0, ab->a);
  ASSERT_EQ_INT(1, ab->b);
  ASSERT_EQ_INT(4, ab->inputs);
  ASSERT_EQ_INT(1, ab->discrepant_count);
  ASSERT_NEAR(0.25, ab->label_discrepancy, 1e-15);
  ASSERT_EQ_INT(13, ab->discrepant[0].index);
  ASSERT_EQ_INT(0, ab->discrepant[0].top1_a);
  ASSERT_EQ_INT(1, ab->discrepant[0].top1_b);
  ASSERT_EQ_INT(NND_GRADE_MAJOR, ab->discrepant[0].grade);
  ASSERT_EQ_INT(2, ab->grades[NND_GRADE_NONE]);
  ASSERT_EQ_INT(1, ab->grades[NND_GRADE_MINOR]);
  ASSERT_EQ_INT(1, ab->grades[NND_GRADE_MAJOR]);
  /* taus: 1, 0.8 (one swapped pair of 10), 0.8, 1 -> mean 0.9 */
  ASSERT_NEAR(0.8, ab->discrepant[0].tau, 1e-12);
  ASSERT_NEAR(0.9, ab->kendall_tau_mean, 1e-12);
  ASSERT_NEAR(1.0, ab->max_abs_diff, 0);
  ASSERT_NEAR(4.0 / 24.0, ab->mean_abs_diff, 1e-15);
  ASSERT_TRUE(ab->cosine_mean < 1 && ab->cosine_mean > 0.95);

  const nnd_pair_result *bc = nnd_outputs_compare_pair(c, 1, 2);
  ASSERT_EQ_INT(1, bc->discrepant_count);
  ASSERT_EQ_INT(14, bc->discrepant[0].index);
  ASSERT_TRUE(nnd_outputs_compare_pair(c, 1, 1) == NULL);

  /* Ranks kept per input: C's top-5 on input 3. */
  const int32_t *t = nnd_outputs_compare_topk(c, 2, 3);
  ASSERT_EQ_INT(4, t[0]);
  ASSERT_EQ_INT(5, t[1]);
  ASSERT_NEAR(6.0, nnd_outputs_compare_topk_scores(c, 2, 3)[0], 0);

  nnd_chain_result ch;
  ASSERT_EQ_INT(NND_OK, nnd_outputs_compare_chain(c, &ch, &err));
  ASSERT_EQ_INT(2, ch.discrepant);
  ASSERT_NEAR(0.5, ch.discrepant_fraction, 1e-15);
  ASSERT_EQ_INT(1, ch.steps[0].broke);
  ASSERT_EQ_INT(1, ch.steps[1].broke);
  ASSERT_EQ_INT(1, ch.steps[0].changed);
  ASSERT_EQ_INT(1, ch.steps[1].changed);
  ASSERT_NEAR(0.25, ch.steps[0].share, 1e-15);
  ASSERT_NEAR(0.5, ch.steps[1].share_of_discrepant, 1e-15);
  ASSERT_EQ_INT(2, ch.items[0].ordinal);
  ASSERT_EQ_INT(1, ch.items[0].first_step);
  ASSERT_EQ_INT(3, ch.items[1].ordinal);
  ASSERT_EQ_INT(2, ch.items[1].first_step);
  ASSERT_EQ_INT(0, ch.restored);
  nnd_chain_result_free(&ch);

  const int64_t labels[4] = {0, 2, -1, 5};
  nnd_accuracy acc;
  nnd_outputs_compare_accuracy(c, 0, labels, &acc);
  ASSERT_EQ_INT(3, acc.labelled);
  ASSERT_EQ_INT(2, acc.top1_correct); /* inputs 0 and 3 */
  ASSERT_EQ_INT(3, acc.top5_correct);
  ASSERT_NEAR(2.0 / 3.0, acc.top1, 1e-15);
  nnd_outputs_compare_destroy(c);
  return 0;
}

static int test_compare_misuse(void) {
  nnd_error err = {0};
  nnd_outputs_compare *c = NULL;
  ASSERT_EQ_INT(NND_OK, nnd_outputs_compare_create(2, 3, 2, &c, &err));
  const float o[6] = {1, 2, 3, 3, 2, 1};
  const size_t it[2] = {0, 1}, other[2] = {0, 2};
  ASSERT_EQ_INT(NND_ERR_USAGE, nnd_outputs_compare_add(c, 1, 2, it, o, &err));
  ASSERT_CONTAINS(err.message, "expected model 0");
  nnd_error_clear(&err);
  ASSERT_EQ_INT(NND_OK, nnd_outputs_compare_add(c, 0, 2, it, o, &err));
  ASSERT_EQ_INT(NND_ERR_USAGE, nnd_outputs_compare_add(c, 1, 2, other, o, &err));
  ASSERT_CONTAINS(err.message, "other inputs");
  nnd_outputs_compare_destroy(c);
  /* A restored label: changed on the way, ended as the first. */
  ASSERT_EQ_INT(NND_OK, nnd_outputs_compare_create(3, 3, 1, &c, &err));
  const float a[3] = {3, 2, 1}, b[3] = {1, 3, 2};
  ASSERT_EQ_INT(NND_OK, nnd_outputs_compare_add(c, 0, 1, it, a, &err));
  ASSERT_EQ_INT(NND_OK, nnd_outputs_compare_add(c, 1, 1, it, b, &err));
  ASSERT_EQ_INT(NND_OK, nnd_outputs_compare_add(c, 2, 1, it, a, &err));
  nnd_chain_result ch;
  ASSERT_EQ_INT(NND_OK, nnd_outputs_compare_chain(c, &ch, &err));
  ASSERT_EQ_INT(0, ch.discrepant);
  ASSERT_EQ_INT(1, ch.restored);
  ASSERT_EQ_INT(1, ch.steps[0].changed);
  nnd_chain_result_free(&ch);
  nnd_outputs_compare_destroy(c);
  nnd_outputs_compare_destroy(NULL);
  return 0;
}

NND_TEST_MAIN({"topk", test_topk}, {"softmax", test_softmax}, {"kendall_tau", test_kendall_tau},
              {"compare_pairs_and_chain", test_compare_pairs_and_chain},
              {"compare_misuse", test_compare_misuse})
