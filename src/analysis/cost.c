/* Static cost model: parameters, MACs and FLOPs per node (docs/METRICS.md
 * states every formula used here; change both together). */
#include "nndiff/cost.h"

#include <stdlib.h>
#include <string.h>

#include "ir/einsum.h"
#include "nndiff/op_info.h"
#include "util/checked_math.h"

/* How an op's compute is counted. */
typedef enum cost_kind {
  COST_MISSING = 0, /* no entry: a bug, reported as NND_ERR_INTERNAL */
  COST_FREE,        /* data movement, shape ops: 0 */
  COST_UNKNOWN,     /* unsupported op: 0 and flagged uncounted */
  COST_PER_OUT,     /* `per_elem` flops per output element */
  COST_VARIADIC,    /* (inputs - 1) flops per output element (Max, Min) */
  COST_CONV,
  COST_CONV_TRANSPOSE,
  COST_GEMM,
  COST_MATMUL,
  COST_EINSUM,      /* output elements x the sizes of the contracted letters */
  COST_POOL,        /* kernel (+1 for average) per output element */
  COST_GLOBAL_POOL, /* 1 per input element (+1 per output for average) */
  COST_REDUCE,      /* 1 per input element (+1 per output for mean) */
  COST_LRN          /* 2*size + 3 per output element */
} cost_kind;

typedef struct op_cost {
  cost_kind kind;
  int per_elem; /* COST_PER_OUT, and the "+1" variants use it as a flag */
} op_cost;

/* The COST column of ops.def; the learnable inputs come from its PARAMS
 * column (nnd_op_input_role). */
#define COST(kind, per_elem)                                                                       \
  { COST_##kind, per_elem }
static const op_cost op_costs[] = {
#define X(id, name, fam, io, dt, rule, cost, comm, subst, params, hp, act, eval, engine) cost,
#include "nndiff/ops.def"
#undef X
};
_Static_assert(sizeof op_costs / sizeof op_costs[0] == NND_OP_COUNT,
               "one cost formula per line of ops.def");

/* Learnable input positions of op n, as a bit mask. */
#define ROLE(i) (1u << (i))
static unsigned learnable_inputs(const nnd_node *n) {
  unsigned roles = 0;
  for (int i = 0; i < n->n_inputs && i < 32; i++)
    if (nnd_param_role_learned(nnd_op_input_role(n->op, i))) roles |= ROLE(i);
  return roles;
}

/* Flops per element of a fused activation: those of the op that computes
 * it alone (the ACT column of ops.def names it). */
static int act_flops(nnd_act_kind kind) {
  if (kind == NND_ACT_NONE) return 0;
  for (int op = 0; op < NND_OP_COUNT; op++)
    if (nnd_op_info_get((nnd_op)op)->act == kind) return op_costs[op].per_elem;
  return 0;
}

static bool is_float(nnd_dtype d) {
  return d == NND_DTYPE_F32 || d == NND_DTYPE_F64 || d == NND_DTYPE_F16 || d == NND_DTYPE_BF16;
}

/* Integer tensors that are not quantized activations are shape and index
 * arithmetic (Shape -> Gather -> Mul -> Reshape): no floating-point work. */
static bool is_index_arith(const nnd_value *v) {
  if (v->dtype == NND_DTYPE_UNDEFINED || is_float(v->dtype)) return false;
  return v->quant == NULL;
}

/* The value at input position i of node n, or NULL when absent. */
static const nnd_value *input_value(const nnd_graph *g, const nnd_node *n, int i) {
  if (i >= n->n_inputs || n->inputs[i] < 0 || n->inputs[i] >= g->n_values) return NULL;
  return &g->values[n->inputs[i]];
}

/* Follows a learnable operand back to the constant holding its values,
 * through the value-preserving nodes converters put in front of weights:
 * Identity, Cast (float16 storage), Dequantize (int8 weights). Returns the
 * constant's index, or -1 when the operand is computed or cannot hold
 * learned values. When key_out is not NULL it receives the value that
 * identifies the tensor for counting it once: the output of the Identity
 * nearest the reader if there is one (torch.onnx writes distinct parameters
 * that happen to hold equal values as one initializer plus an Identity per
 * copy), else the constant itself (a tensor read by several nodes). */
static int32_t learnable_constant(const nnd_graph *g, int32_t v, int32_t *key_out) {
  bool dequantized = false;
  int32_t key = -1;
  for (int hops = 0; hops < 8 && v >= 0 && v < g->n_values; hops++) {
    const nnd_value *val = &g->values[v];
    if (val->kind == NND_VALUE_CONSTANT) {
      bool ok = is_float(val->dtype);
      switch (val->dtype) {
      case NND_DTYPE_I8:
      case NND_DTYPE_U8:
      case NND_DTYPE_I16:
      case NND_DTYPE_U16:
      case NND_DTYPE_I32:
      case NND_DTYPE_U32: ok = dequantized || val->quant; break;
      default: break; /* int64 shapes, bool masks, strings: never */
      }
      if (ok && key_out) *key_out = key >= 0 ? key : v;
      return ok ? v : -1;
    }
    if (val->producer < 0 || val->producer >= g->n_nodes) return -1;
    const nnd_node *p = &g->nodes[val->producer];
    if (p->n_inputs < 1) return -1;
    if (p->op == NND_OP_DEQUANTIZE)
      dequantized = true;
    else if (p->op == NND_OP_IDENTITY && key < 0)
      key = v;
    else if (p->op != NND_OP_IDENTITY && p->op != NND_OP_CAST)
      return -1;
    v = p->inputs[0];
  }
  return -1;
}

static int64_t value_numel(const nnd_value *v) {
  int64_t n;
  if (nnd_shape_is_static(&v->shape) && nnd_shape_numel(&v->shape, &n)) return n;
  return nnd_value_data_count(v);
}

/* Elements of v with unknown dims counted as 1; -1 when the rank is unknown
 * (or the count overflows, which a valid shape cannot). */
static int64_t numel_or_unknown(const nnd_value *v) {
  int64_t n;
  if (!v || !nnd_shape_numel(&v->shape, &n)) return -1;
  return n;
}

/* Size of dim i (negative counts from the end), unknown as 1; -1 when the
 * rank is unknown or too small. */
static int64_t dim_or_one(const nnd_value *v, int i) {
  if (!v || v->shape.rank < 0) return -1;
  if (i < 0) i += v->shape.rank;
  if (i < 0 || i >= v->shape.rank) return -1;
  int64_t d = v->shape.dims[i].size;
  return d < 0 ? 1 : d;
}

/* Product of the kernel's spatial extents: from the attributes when the
 * frontend filled them, else from the weight's spatial dims. -1 if neither. */
static int64_t kernel_elems(const nnd_conv_attrs *c, const nnd_value *w) {
  int64_t k = 1;
  if (c->n_spatial > 0 && c->n_spatial <= NND_MAX_SPATIAL) {
    bool ok = true;
    for (int i = 0; i < c->n_spatial && ok; i++)
      ok = c->kernel[i] > 0 && nnd__mul_i64(k, c->kernel[i], &k);
    if (ok) return k;
    k = 1;
  }
  if (!w || w->shape.rank < 3) return -1;
  int rank = w->shape.rank, first, last; /* spatial dims [first, last) */
  switch (c->weight_layout) {
  case NND_WLAYOUT_OIHW: first = 2, last = rank; break;
  case NND_WLAYOUT_OHWI:
  case NND_WLAYOUT_1HWO: first = 1, last = rank - 1; break;
  case NND_WLAYOUT_HWIO: first = 0, last = rank - 2; break;
  default: return -1;
  }
  for (int i = first; i < last; i++) {
    int64_t d = w->shape.dims[i].size;
    if (d < 0 || !nnd__mul_i64(k, d, &k)) return -1;
  }
  return k;
}

/* Channel count of an activation in the given layout; -1 when unknown. */
static int64_t channels(const nnd_value *v, nnd_layout layout) {
  if (!v || v->shape.rank < 2) return -1;
  int64_t d = v->shape.dims[layout == NND_LAYOUT_NHWC ? v->shape.rank - 1 : 1].size;
  return d;
}

/* Input channels per group of a convolution (the K of its GEMM, over the
 * kernel window). */
static int64_t conv_cin_per_group(const nnd_node *n, const nnd_value *x, const nnd_value *w) {
  const nnd_conv_attrs *c = &n->attrs.conv;
  if (w && w->shape.rank >= 3) {
    int rank = w->shape.rank;
    int64_t d = -1;
    switch (c->weight_layout) {
    case NND_WLAYOUT_OIHW: d = w->shape.dims[1].size; break;
    case NND_WLAYOUT_OHWI: d = w->shape.dims[rank - 1].size; break;
    case NND_WLAYOUT_HWIO: d = w->shape.dims[rank - 2].size; break;
    case NND_WLAYOUT_1HWO: d = 1; break; /* depthwise */
    }
    if (d > 0) return d;
  }
  int64_t cin = channels(x, c->layout);
  if (cin > 0 && c->groups > 0 && cin % c->groups == 0) return cin / c->groups;
  return -1;
}

/* Output channels per group of a transposed convolution. */
static int64_t convt_cout_per_group(const nnd_node *n, const nnd_value *y, const nnd_value *w) {
  const nnd_conv_attrs *c = &n->attrs.conv;
  int64_t groups = c->groups > 0 ? c->groups : 1;
  int64_t cout = channels(y, c->layout);
  if (cout > 0 && cout % groups == 0) return cout / groups;
  if (w && w->shape.rank >= 3) {
    /* ONNX/PyTorch keep [Cin, Cout/groups, k...]; TFLite [Cout, kh, kw, Cin]. */
    int64_t d = c->weight_layout == NND_WLAYOUT_OHWI ? w->shape.dims[0].size / groups
                                                     : w->shape.dims[1].size;
    if (d > 0) return d;
  }
  return -1;
}

/* The K of a Gemm or MatMul: A's reduced dim, else B's. */
static int64_t gemm_k(const nnd_node *n, const nnd_value *a, const nnd_value *b) {
  bool gemm = n->op == NND_OP_GEMM;
  if (a && a->shape.rank >= 1) {
    int i = a->shape.rank == 1 ? 0 : (gemm && n->attrs.trans_a ? a->shape.rank - 2 : -1);
    return dim_or_one(a, i);
  }
  if (b && b->shape.rank >= 1) {
    int i = b->shape.rank == 1 ? 0 : (gemm && n->attrs.trans_b ? -1 : b->shape.rank - 2);
    return dim_or_one(b, i);
  }
  return -1;
}

/* Accumulates into *acc; false on overflow. */
static bool add_to(int64_t *acc, int64_t x) { return nnd__add_i64(*acc, x, acc); }

static bool mul3(int64_t a, int64_t b, int64_t c, int64_t *out) {
  int64_t t;
  return nnd__mul_i64(a, b, &t) && nnd__mul_i64(t, c, out);
}

/* True when a bias Add follows a linear layer whose bias the exporter split
 * out (torch Linear on 3-D input becomes MatMul + Add; some converters emit
 * Conv + Add): the constant operand is then a bias, i.e. a parameter. */
static bool is_split_bias(const nnd_graph *g, const nnd_node *add, int const_pos) {
  const nnd_value *other = input_value(g, add, 1 - const_pos);
  const nnd_value *bias = input_value(g, add, const_pos);
  if (!other || !bias || other->producer < 0 || other->producer >= g->n_nodes) return false;
  const nnd_node *p = &g->nodes[other->producer];
  int64_t nb = value_numel(bias);
  if (nb <= 0) return false;
  if (p->op == NND_OP_MATMUL) {
    bool has_weight = false;
    for (int i = 0; i < 2 && i < p->n_inputs; i++)
      has_weight |= learnable_constant(g, p->inputs[i], NULL) >= 0;
    int rank = other->shape.rank;
    return has_weight && rank > 0 && nb == other->shape.dims[rank - 1].size;
  }
  if (p->op == NND_OP_CONV || p->op == NND_OP_CONV_TRANSPOSE) {
    bool has_bias = p->n_inputs > 2 && p->inputs[2] >= 0;
    return !has_bias && nb == channels(other, p->attrs.conv.layout);
  }
  return false;
}

/* Compute cost of one node into c. Returns false on overflow. */
static bool node_compute(const nnd_graph *g, const nnd_node *n, nnd_node_cost *c) {
  const op_cost *oc = &op_costs[n->op];
  const nnd_value *y = n->n_outputs > 0 && n->outputs[0] >= 0 ? &g->values[n->outputs[0]] : NULL;
  c->macs = c->flops = 0;
  if (oc->kind == COST_FREE) return true;
  if (oc->kind == COST_UNKNOWN || !y) {
    c->uncounted = 1;
    return true;
  }
  if (n->op != NND_OP_QUANTIZE && is_index_arith(y)) return true;
  int64_t out = numel_or_unknown(y);
  if (out < 0) {
    c->uncounted = 1;
    return true;
  }
  const nnd_value *x = input_value(g, n, 0);
  int64_t macs = 0, flops = 0, t;
  switch (oc->kind) {
  case COST_PER_OUT:
    if (!nnd__mul_i64(out, oc->per_elem, &flops)) return false;
    break;
  case COST_VARIADIC: {
    int present = 0;
    for (int i = 0; i < n->n_inputs; i++)
      present += n->inputs[i] >= 0;
    if (present > 1 && !nnd__mul_i64(out, present - 1, &flops)) return false;
    break;
  }
  case COST_CONV:
  case COST_CONV_TRANSPOSE: {
    const nnd_value *w = input_value(g, n, 1);
    int64_t k = kernel_elems(&n->attrs.conv, w);
    bool transposed = oc->kind == COST_CONV_TRANSPOSE;
    int64_t per_group = transposed ? convt_cout_per_group(n, y, w) : conv_cin_per_group(n, x, w);
    int64_t base = transposed ? numel_or_unknown(x) : out;
    if (k < 0 || per_group < 0 || base < 0) {
      c->uncounted = 1;
      return true;
    }
    if (!mul3(base, per_group, k, &macs) || !nnd__mul_i64(macs, 2, &flops)) return false;
    if (input_value(g, n, 2) && !add_to(&flops, out)) return false;
    break;
  }
  case COST_GEMM:
  case COST_MATMUL: {
    int64_t k = gemm_k(n, x, input_value(g, n, 1));
    if (k < 0) {
      c->uncounted = 1;
      return true;
    }
    if (!nnd__mul_i64(out, k, &macs) || !nnd__mul_i64(macs, 2, &flops)) return false;
    if (oc->kind == COST_GEMM) {
      if (n->attrs.alpha != 1.0f && !add_to(&flops, out)) return false;
      if (input_value(g, n, 2) && n->attrs.beta != 0.0f) {
        if (!add_to(&flops, out)) return false;
        if (n->attrs.beta != 1.0f && !add_to(&flops, out)) return false;
      }
    }
    break;
  }
  case COST_EINSUM: {
    /* A MAC per term of each output's sum (for two operands; more operands
     * multiply more per term, counted the same). */
    nnd__einsum es;
    char why[200];
    if (!nnd__einsum_parse(n->attrs.equation, n->n_inputs, &es, why, sizeof why)) {
      c->uncounted = 1;
      return true;
    }
    bool in_out[NND__EINSUM_MAX_LETTERS] = {false};
    for (int d = 0; d < es.out_rank; d++)
      in_out[es.out_sub[d]] = true;
    int64_t size[NND__EINSUM_MAX_LETTERS];
    for (int l = 0; l < es.n_letters; l++)
      size[l] = 1;
    for (int k = 0; k < es.n_in; k++) {
      const nnd_value *v = input_value(g, n, k);
      if (!v || v->shape.rank != es.in_rank[k]) {
        c->uncounted = 1;
        return true;
      }
      for (int d = 0; d < es.in_rank[k]; d++)
        if (v->shape.dims[d].size > 0) size[es.in_sub[k][d]] = v->shape.dims[d].size;
    }
    int64_t k = 1;
    for (int l = 0; l < es.n_letters; l++)
      if (!in_out[l] && !nnd__mul_i64(k, size[l], &k)) return false;
    if (!nnd__mul_i64(out, k, &macs) || !nnd__mul_i64(macs, 2, &flops)) return false;
    break;
  }
  case COST_POOL: {
    const nnd_pool_attrs *p = &n->attrs.pool;
    if (p->n_spatial <= 0 || p->n_spatial > NND_MAX_SPATIAL) {
      c->uncounted = 1;
      return true;
    }
    int64_t k = 1;
    for (int i = 0; i < p->n_spatial; i++)
      if (!nnd__mul_i64(k, p->kernel[i] > 0 ? p->kernel[i] : 1, &k)) return false;
    if (!nnd__add_i64(k, oc->per_elem, &k) || !nnd__mul_i64(out, k, &flops)) return false;
    break;
  }
  case COST_GLOBAL_POOL:
  case COST_REDUCE: {
    int64_t in = numel_or_unknown(x);
    if (in < 0) {
      c->uncounted = 1;
      return true;
    }
    flops = in;
    if (oc->per_elem && !add_to(&flops, out)) return false;
    break;
  }
  case COST_LRN: {
    int64_t size = n->attrs.lrn_size > 0 ? n->attrs.lrn_size : 1;
    if (!nnd__mul_i64(size, 2, &t) || !nnd__add_i64(t, 3, &t) || !nnd__mul_i64(out, t, &flops))
      return false;
    break;
  }
  default: break;
  }
  if (n->act.kind != NND_ACT_NONE) {
    if (!nnd__mul_i64(out, act_flops(n->act.kind), &t) || !add_to(&flops, t)) return false;
  }
  c->macs = macs;
  c->flops = flops;
  return true;
}

nnd_status nnd_cost_compute(const nnd_graph *g, nnd_node_cost *per_node, nnd_node_cost *total,
                            nnd_error *err) {
  nnd_status st = NND_OK;
  nnd_node_cost sum = {0};
  int32_t *order = NULL;
  bool *counted = NULL;
  if (total) memset(total, 0, sizeof *total);
  if (per_node && g->n_nodes > 0) memset(per_node, 0, (size_t)g->n_nodes * sizeof *per_node);
  for (int32_t i = 0; i < g->n_nodes; i++) {
    nnd_op op = g->nodes[i].op;
    if (op < 0 || op >= NND_OP_COUNT || op_costs[op].kind == COST_MISSING)
      return nnd_error_set(err, NND_ERR_INTERNAL, "node '%s': no cost formula for op %s",
                           g->nodes[i].name, nnd_op_name(op));
  }
  order = malloc((size_t)(g->n_nodes ? g->n_nodes : 1) * sizeof *order);
  counted = calloc((size_t)(g->n_values ? g->n_values : 1), sizeof *counted);
  if (!order || !counted) {
    st = nnd_error_set(err, NND_ERR_NOMEM, "out of memory computing model cost");
    goto done;
  }
  st = nnd_graph_topo_order(g, order, err);
  if (st != NND_OK) goto done;

  for (int32_t k = 0; k < g->n_nodes; k++) {
    const nnd_node *n = &g->nodes[order[k]];
    nnd_node_cost c = {0};
    if (!node_compute(g, n, &c)) {
      st = nnd_error_set(err, NND_ERR_FORMAT,
                         "node '%s' (%s): its operation count overflows 64 bits", n->name,
                         n->prov.op_type ? n->prov.op_type : nnd_op_name(n->op));
      goto done;
    }
    unsigned roles = learnable_inputs(n);
    /* A constant operand of an Add right after a bias-less linear layer. */
    if (n->op == NND_OP_ADD && n->n_inputs == 2)
      for (int pos = 0; pos < 2; pos++)
        if (learnable_constant(g, n->inputs[pos], NULL) >= 0 && is_split_bias(g, n, pos))
          roles |= ROLE(pos);
    for (int i = 0; i < n->n_inputs && i < 32; i++) {
      if (!(roles & ROLE(i))) continue;
      int32_t key = -1, v = learnable_constant(g, n->inputs[i], &key);
      if (v < 0 || counted[key]) continue;
      counted[key] = true;
      if (!add_to(&c.parameters, value_numel(&g->values[v]))) {
        st = nnd_error_set(err, NND_ERR_FORMAT, "tensor '%s': element count overflows 64 bits",
                           g->values[v].name);
        goto done;
      }
    }
    if (per_node) per_node[order[k]] = c;
    if (!add_to(&sum.parameters, c.parameters) || !add_to(&sum.macs, c.macs) ||
        !add_to(&sum.flops, c.flops)) {
      st = nnd_error_set(err, NND_ERR_FORMAT, "the model's total cost overflows 64 bits");
      goto done;
    }
    sum.uncounted += c.uncounted;
  }
  if (total) *total = sum;
done:
  free(order);
  free(counted);
  return st;
}
