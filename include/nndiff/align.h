/* Canonical graphs for analysis, and the alignment of two models.
 *
 * Two exports of "the same" network rarely have the same graph: one keeps
 * BatchNorm, the other folded it into the convolutions; one writes Flatten,
 * the other Reshape(x, [-1, C]); Gemm becomes MatMul + Add; a zero Pad is
 * split out of a convolution; activations are separate nodes or fused; and
 * converters rename every node. Before two models can be compared layer by
 * layer, both are brought into one canonical form, and then the layers of
 * one are matched with the layers of the other from structure and values,
 * never from names.
 *
 * Canonicalisation (nnd_canon_build) works on a copy of the graph's
 * structure: the graph the engine runs is never changed. It
 *   - folds BatchNorm (and per-channel constant Mul/Add) into the producing
 *     Conv or dense layer, in double precision;
 *   - fuses activations (Relu, Clip, LeakyRelu, Sigmoid, HardSigmoid,
 *     HardSwish, Tanh, Silu, and x * Sigmoid(x) / x * HardSigmoid(x) written
 *     as two nodes) into the producer;
 *   - absorbs zero constant Pads into the following convolution's pads;
 *   - drops Identity and Dropout, and sees through layout-only Transposes
 *     (NCHW <-> NHWC): the value keeps its identity, its layout changes;
 *   - turns Flatten(axis=1), Reshape to [N, -1] and Squeeze of 1x1 maps
 *     into one FLATTEN node; Gemm and MatMul (+ Add) into one dense node
 *     (NND_OP_GEMM, weight [out, in]);
 *   - leaves out shape arithmetic (Shape, Gather, Concat of int64 ...) and
 *     constant subgraphs: only float data flows are compared.
 * Every canonical node keeps the original nodes it stands for, so reports
 * speak the file's names.
 *
 * Alignment (nnd_align) matches the canonical nodes of a target to those of
 * a source, walking the target in topological order and scoring the source
 * candidates that consume the partners of its inputs by op kind, input
 * correspondence, output shape, and weight similarity (cosine of
 * per-output-channel-normalised weights, robust to BatchNorm folding, which
 * scales each output channel) or hyperparameter agreement. Nodes left over
 * on either side are graph differences (extra in the target, missing from
 * it). */
#ifndef NNDIFF_ALIGN_H
#define NNDIFF_ALIGN_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "nndiff/ir.h"
#include "nndiff/status.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ------------------------------------------------------- canonical graph */

/* What an original node became in its canonical node. */
typedef enum nnd_crole {
  NND_CROLE_HEAD = 0, /* the node the canonical node is named after */
  NND_CROLE_BN,       /* BatchNorm folded into weights and bias */
  NND_CROLE_SCALE,    /* per-channel constant Mul folded into weights and bias */
  NND_CROLE_BIAS,     /* constant Add folded into the bias (MatMul + Add, Conv + Add) */
  NND_CROLE_ACT,      /* activation fused into the producer */
  NND_CROLE_PAD       /* zero Pad absorbed into the convolution's pads */
} nnd_crole;

const char *nnd_crole_name(nnd_crole role);

typedef struct nnd_cmember {
  int32_t node; /* index into graph->nodes */
  nnd_crole role;
} nnd_cmember;

/* An activation in normal form. kind/alpha/beta as nnd_activation
 * (CLIP: alpha = min, beta = max). gated: y = x * f(x), the way exporters
 * write HardSwish (x * HardSigmoid(x)) and SiLU (x * Sigmoid(x)). */
typedef struct nnd_cact {
  nnd_act_kind kind;
  float alpha, beta;
  bool gated;
} nnd_cact;

/* Brings an activation to the form used to compare two of them: Relu ->
 * Clip(0, inf); HardSwish -> gated HardSigmoid(1/6, 1/2); Silu -> gated
 * Sigmoid; unused parameters zeroed. */
nnd_cact nnd_cact_normal(nnd_cact a);
/* True when the two compute the same function (after nnd_cact_normal, with
 * parameters equal to float rounding). */
bool nnd_cact_equal(nnd_cact a, nnd_cact b);
/* "Relu", "Clip(0, 6)", "LeakyRelu(0.1)", "HardSigmoid(0.1667, 0.5)",
 * "x*HardSigmoid(0.1667, 0.5)", "none". snprintf semantics. */
size_t nnd_cact_format(nnd_cact a, char *buf, size_t cap);

typedef struct nnd_cnode {
  nnd_op op; /* canonical op; dense layers (Gemm, MatMul [+ Add]) are NND_OP_GEMM */
  int n_members;
  nnd_cmember *members; /* members[0] is the head */
  int n_inputs;
  int32_t *inputs; /* canonical value ids of the data inputs, in order */
  int n_outputs;
  int32_t *outputs;     /* canonical value ids */
  nnd_attrs attrs;      /* the head's, with absorbed pads added to conv pads; CONCAT
                           axis counted in NCHW terms */
  nnd_cact act;         /* fused activation (or the op's own, for activation ops) */
  nnd_layout in_layout; /* layout of the first data input as the node reads it */
  /* Learned parameters in double precision and canonical layout: conv
   * [O, I/groups, k...] (ConvTranspose: as ONNX, [I, O/groups, k...]); dense
   * [out, in]; standalone BatchNorm: weight = per-channel scale, bias =
   * per-channel shift. NULL when the node has none. Read-only: weights
   * the passes folded point into the form's constants. */
  double *weight;
  int wrank;
  int64_t wdims[NND_MAX_RANK];
  int64_t wnumel;
  double *bias; /* NULL when the layer has no bias (no input, nothing folded) */
  int64_t nbias;
  double *bias_mag;          /* per bias element: magnitude of the terms it was computed
                                from (|b*s| + |mean*s| + |beta| after folding), the
                                scale of its rounding error */
  bool weight_from_file_f32; /* the weight was float32 in the file */
  /* Constant operand of an elementwise node (Add/Sub/Mul/Div/Max/Min/Pow
   * with a constant), in double; NULL otherwise. */
  double *cdata;
  int64_t cnumel;
  int cinput; /* which input slot of the head held the constant */
} nnd_cnode;

typedef struct nnd_cvalue {
  int32_t value;    /* original value id: what a tap observes */
  int32_t producer; /* canonical node, -1 for a graph input */
  int32_t slot;     /* output index in the producer */
  nnd_layout layout;
  int n_consumers;
  int32_t *consumers; /* canonical nodes reading it (each once) */
  bool is_output;     /* a graph output (or aliased to one) */
} nnd_cvalue;

typedef struct nnd_cgraph {
  /* The file's graph, borrowed; must outlive the canonical graph. Members
   * and node_map are its nodes; value ids are its values (taps on it
   * observe them). */
  const nnd_graph *graph;
  /* Its analysis normal form (passes.h), owned: what was grouped. Its
   * value ids extend the file's (folded weights are new constants). */
  nnd_graph *form;
  int32_t n_nodes;
  nnd_cnode *nodes; /* topological order */
  int32_t n_values;
  nnd_cvalue *values;
  int n_inputs;
  int32_t *inputs; /* canonical values of the float graph inputs */
  int n_outputs;
  int32_t *outputs;   /* canonical values of the graph outputs (-1: not data) */
  int32_t *value_map; /* form->n_values: value -> canonical value, -1 */
  int32_t *node_map;  /* graph->n_nodes: original node -> canonical node, -1 */
  int32_t n_dropped;  /* Identity/Dropout/layout Transposes seen through */
  int32_t n_folded_bn;
  int32_t n_fused_act;
  int32_t n_absorbed_pads;
  struct nnd_arena *arena;
} nnd_cgraph;

/* Builds the canonical form of g (shapes inferred, as nnd_onnx_load leaves
 * it): a clone of g brought to the analysis normal form (passes.h), grouped
 * into canonical nodes named by g's nodes. Weights are read into owned
 * double arrays. Fails with NND_ERR_GRAPH on a cycle, NND_ERR_NOMEM. The
 * traced variant prints the passes' trace lines to `trace` (may be NULL),
 * prefixed with `label`. */
nnd_status nnd_canon_build(const nnd_graph *g, nnd_cgraph **out, nnd_error *err);
nnd_status nnd_canon_build_traced(const nnd_graph *g, FILE *trace, const char *label,
                                  nnd_cgraph **out, nnd_error *err);
/* NULL is a no-op. */
void nnd_canon_destroy(nnd_cgraph *c);

/* Display name of a canonical node: the head's name ("conv1" + "bn1" for
 * folded nodes is written by the reports from members). */
const char *nnd_cnode_name(const nnd_cgraph *c, int32_t cnode);
/* The original op type of the head ("Conv", "MatMul"). */
const char *nnd_cnode_op_type(const nnd_cgraph *c, int32_t cnode);

/* ------------------------------------------------------------ alignment */

typedef enum nnd_match_kind {
  NND_MATCH_SAME = 0,   /* same canonical op */
  NND_MATCH_SUBSTITUTED /* a different op in the same place (MaxPool for
                           AveragePool, Sub for Add, ...) */
} nnd_match_kind;

typedef struct nnd_align_pair {
  int32_t t, s; /* canonical nodes of the target and the source */
  nnd_match_kind kind;
  double confidence; /* 0..1 from structure and values */
  double op_score, input_score, shape_score, param_score;
  double weight_cosine;  /* per-channel-normalised weight cosine, NAN when no weights */
  bool inputs_reordered; /* data inputs matched in another order (non-commutative op) */
} nnd_align_pair;

typedef struct nnd_alignment {
  int32_t n_pairs;
  nnd_align_pair *pairs; /* in target topological order */
  int32_t *t_pair;       /* per target canonical node: pair index or -1 */
  int32_t *s_pair;       /* per source canonical node: pair index or -1 */
  int32_t *tv_partner;   /* per target canonical value: source canonical value or -1 */
  int32_t n_extra;
  int32_t *extra; /* target canonical nodes without a partner */
  int32_t n_missing;
  int32_t *missing; /* source canonical nodes without a partner */
} nnd_alignment;

/* Aligns target to source. Both canonical graphs must outlive the result.
 * Fails with NND_ERR_NOMEM only. */
nnd_status nnd_align(const nnd_cgraph *source, const nnd_cgraph *target, nnd_alignment **out,
                     nnd_error *err);
/* NULL is a no-op. */
void nnd_alignment_destroy(nnd_alignment *a);

/* Cosine similarity of two weight tensors of the same element count after
 * normalising each of the `rows` leading slices to unit L2 norm (the
 * per-output-channel normalisation that makes BatchNorm folding invisible).
 * Returns NAN when the counts differ or rows does not divide them. */
double nnd_weight_cosine(const double *a, const double *b, int64_t n, int64_t rows);

#ifdef __cplusplus
}
#endif
#endif
