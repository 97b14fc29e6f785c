/* Static cost model: learnable parameters, multiply-accumulates and
 * floating-point operations of a graph, per node and in total.
 *
 * One definition for every format, written out with the per-op formulas in
 * docs/METRICS.md. In short:
 *   parameters  elements of constant tensors in learnable roles (conv and
 *               dense weights and biases, BatchNorm scale and shift, PRelu
 *               slope), each tensor counted once; matches PyTorch's
 *               sum(p.numel() for p in model.parameters()) for exported CNNs.
 *   macs        multiply-accumulates of Conv, ConvTranspose, Gemm and MatMul
 *               only (the fvcore/thop/ptflops convention behind torchvision's
 *               published GFLOPS).
 *   flops       every floating-point operation: 2 per MAC plus bias adds,
 *               normalisation, activations, elementwise arithmetic, pooling,
 *               softmax and reductions; data movement is free.
 * Unknown dims (a symbolic batch) count as 1, so numbers are per sample. */
#ifndef NNDIFF_COST_H
#define NNDIFF_COST_H

#include <stdint.h>

#include "nndiff/ir.h"
#include "nndiff/status.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct nnd_node_cost {
  int64_t parameters;
  int64_t macs;
  int64_t flops;
  /* Nodes whose compute could not be counted: an unsupported op, or a shape
   * that inference left unknown. 0 or 1 per node, summed in the total; when
   * non-zero, macs and flops are lower bounds. */
  int32_t uncounted;
} nnd_node_cost;

/* Computes the cost of every node of g. per_node (may be NULL) receives
 * g->n_nodes entries indexed like g->nodes; total (may be NULL) receives the
 * sums. A constant used by several nodes is counted as a parameter of the
 * first of them in topological order. Needs the shapes shape inference
 * leaves on the values (nnd_onnx_load runs it). Fails with NND_ERR_GRAPH on a
 * cycle and NND_ERR_FORMAT when a count overflows 64 bits, naming the node. */
nnd_status nnd_cost_compute(const nnd_graph *g, nnd_node_cost *per_node, nnd_node_cost *total,
                            nnd_error *err);

#ifdef __cplusplus
}
#endif
#endif
