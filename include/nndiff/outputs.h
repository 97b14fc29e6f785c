/* Output analyses: what models answered, and how two or more models' answers
 * differ (seed 000's differential analysis, made automatic).
 *
 *   - top-k of one output vector, softmax, top-1/top-5 accuracy;
 *   - per pair of models over the same inputs: top-1 label discrepancy,
 *     Kendall's tau of the top-5 rankings and a grade per input (none,
 *     minor, major), max and mean |delta| of the outputs, mean cosine
 *     similarity, and the list of inputs whose top-1 differs;
 *   - a conversion chain (source -> intermediate(s) -> target): for every
 *     input whose label changed end to end, the first step that changed it,
 *     and per step the share of inputs it broke (seed 000, Table I).
 *
 * Exact definitions (the same as docs/COMPARE.md):
 *   ranking   classes sorted by score, highest first; equal scores by lower
 *             class index first; NaN ranks below every number. top-1 is the
 *             first class of the ranking (numpy's argmax where no NaN).
 *   tau       Kendall's tau-b between the two models' scores over the union
 *             U of both top-5 class sets (5 to 10 classes):
 *               tau = (C - D) / sqrt((P - Ta) * (P - Tb))
 *             with P = |U|(|U|-1)/2 class pairs, C/D the pairs both models
 *             order the same/opposite way, Ta/Tb the pairs tied in A/B. 1
 *             exactly when both top-5 lists hold the same classes in the
 *             same order (no ties); -1 when U is ranked in reverse. When one
 *             model ties every pair, tau is 1 if the other does too, else 0.
 *   grade     none: the same top-5 classes in the same order; minor: the
 *             same top-1 but a different top-5 list; major: the top-1
 *             differs.
 *   |delta|   max and mean over every element of every input of
 *             |out_a - out_b|, computed in double.
 *   cosine    per input (a.b)/(|a||b|) over the whole output vector, in
 *             double, then the mean over inputs; 1 when both vectors are
 *             zero, 0 when one is.
 * Outputs are compared as the models emit them (logits stay logits). */
#ifndef NNDIFF_OUTPUTS_H
#define NNDIFF_OUTPUTS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "nndiff/status.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Length of the rankings compared (top-5, as the seed's Kendall's tau). */
#define NND_OUTPUTS_TOPK 5

/* The k best classes of scores[0..n) in ranking order (see above) into
 * idx_out; returns min(k, n). */
int nnd_outputs_topk(const float *scores, size_t n, int k, int32_t *idx_out);

/* Softmax of scores[0..n) into out, in double, max-subtracted. */
void nnd_outputs_softmax(const float *scores, size_t n, double *out);

/* Kendall's tau-b over the union of both top-k sets (k = NND_OUTPUTS_TOPK
 * in every report), given both full score vectors of length n. */
double nnd_outputs_kendall_tau(const float *a, const float *b, size_t n, int k);

typedef enum nnd_grade {
  NND_GRADE_NONE = 0, /* same top-5, same order */
  NND_GRADE_MINOR,    /* same top-1, different top-5 list */
  NND_GRADE_MAJOR     /* top-1 differs */
} nnd_grade;

/* "none", "minor", "major". */
const char *nnd_grade_name(nnd_grade grade);

/* One input whose top-1 differs between the two models of a pair. */
typedef struct nnd_discrepant_input {
  size_t index; /* dataset index */
  int32_t top1_a, top1_b;
  double tau;
  nnd_grade grade; /* always NND_GRADE_MAJOR for a top-1 change */
} nnd_discrepant_input;

/* Everything about one unordered pair (a < b). */
typedef struct nnd_pair_result {
  int a, b;
  size_t inputs;                          /* inputs both models answered */
  size_t discrepant_count;                /* inputs whose top-1 differs */
  double label_discrepancy;               /* discrepant_count / inputs (0 when no inputs) */
  const nnd_discrepant_input *discrepant; /* discrepant_count entries, dataset order */
  double kendall_tau_mean;                /* mean tau over the inputs */
  size_t grades[3];                       /* inputs per nnd_grade */
  double max_abs_diff, mean_abs_diff;
  double cosine_mean;
} nnd_pair_result;

/* Accumulates the comparison of n_models models streaming over the same
 * inputs: feed each model's outputs batch by batch (as nnd_infer delivers
 * them: for a batch, model 0, 1, ... in order, every model the same items);
 * the pairwise numbers are computed when the last model of a batch arrives,
 * so only one batch of outputs is held. */
typedef struct nnd_outputs_compare nnd_outputs_compare;

/* item_numel: floats per input, equal for every model. capacity: the most
 * inputs that will be added (for the per-input rankings kept). */
nnd_status nnd_outputs_compare_create(int n_models, size_t item_numel, size_t capacity,
                                      nnd_outputs_compare **out, nnd_error *err);
void nnd_outputs_compare_destroy(nnd_outputs_compare *c);

/* Adds `count` rows of model `model`'s outputs for dataset items
 * items[0..count). Fails with NND_ERR_USAGE when models arrive out of order
 * or disagree on the items. */
nnd_status nnd_outputs_compare_add(nnd_outputs_compare *c, int model, size_t count,
                                   const size_t *items, const float *outputs, nnd_error *err);

/* Inputs fully added (every model). */
size_t nnd_outputs_compare_inputs(const nnd_outputs_compare *c);
/* Dataset index of the i-th input added. */
size_t nnd_outputs_compare_item(const nnd_outputs_compare *c, size_t i);
/* The top-5 classes (NND_OUTPUTS_TOPK entries; fewer when an output has
 * fewer classes, the rest -1) and their scores of model m on the i-th input. */
const int32_t *nnd_outputs_compare_topk(const nnd_outputs_compare *c, int m, size_t i);
const float *nnd_outputs_compare_topk_scores(const nnd_outputs_compare *c, int m, size_t i);
/* The result for the pair (a, b), a != b in either order (a and b are then
 * reported as given at a < b). */
const nnd_pair_result *nnd_outputs_compare_pair(const nnd_outputs_compare *c, int a, int b);

/* Accuracy of one model from its rankings. */
typedef struct nnd_accuracy {
  size_t labelled; /* inputs with a known label (>= 0) */
  size_t top1_correct, top5_correct;
  double top1, top5; /* fractions of labelled (0 when none) */
} nnd_accuracy;

/* labels[i] is the label of the i-th input added (-1 unknown). */
void nnd_outputs_compare_accuracy(const nnd_outputs_compare *c, int m, const int64_t *labels,
                                  nnd_accuracy *out);

/* Conversion chain over the models in order 0 -> 1 -> ... -> n-1. */
typedef struct nnd_chain_step {
  int from, to;               /* model indices (to = from + 1) */
  size_t changed;             /* inputs whose top-1 differs between from and to */
  size_t broke;               /* discrepant inputs whose label first changed here */
  double share;               /* broke / inputs */
  double share_of_discrepant; /* broke / discrepant (0 when none) */
} nnd_chain_step;

typedef struct nnd_chain_input {
  size_t ordinal; /* i-th input added (nnd_outputs_compare_item gives the dataset index) */
  int first_step; /* 1-based: the label changed between model first_step-1 and first_step */
} nnd_chain_input;

typedef struct nnd_chain_result {
  int n_models;
  size_t inputs;
  size_t discrepant; /* last model's top-1 differs from the first's */
  double discrepant_fraction;
  size_t restored;        /* changed on the way but ended as the first */
  nnd_chain_step *steps;  /* n_models - 1 */
  nnd_chain_input *items; /* discrepant entries, in input order */
} nnd_chain_result;

/* Computes the chain result; free it with nnd_chain_result_free. */
nnd_status nnd_outputs_compare_chain(const nnd_outputs_compare *c, nnd_chain_result *out,
                                     nnd_error *err);
void nnd_chain_result_free(nnd_chain_result *r);

#ifdef __cplusplus
}
#endif
#endif
