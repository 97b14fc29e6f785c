/* nnd_graph_validate: structural checks of a graph (operands, producers,
 * graph inputs/outputs, cycles, constant data sizes), dtype checks from the
 * op rules, and a re-run of the shape functions on the const graph to check
 * that the recorded shapes agree with what the inputs give. */
#include <stdlib.h>

#include "ir/shape_infer.h"
#include "nndiff/ir_edit.h"

static const char *op_label(const nnd_node *n) {
  return n->prov.op_type ? n->prov.op_type : nnd_op_name(n->op);
}

static nnd_status check_nodes(const nnd_graph *g, nnd_error *err) {
  for (int32_t i = 0; i < g->n_nodes; i++) {
    const nnd_node *n = &g->nodes[i];
    nnd_status st = nnd__check_operands(g, n, err);
    if (st != NND_OK) return st;
    for (int k = 0; k < n->n_outputs; k++) {
      const nnd_value *v = &g->values[n->outputs[k]];
      if (v->producer != i)
        return nnd__si_graph_fail(g, err,
                                  "node '%s' (%s) writes tensor '%s', whose "
                                  "producer is recorded as node #%d",
                                  n->name, op_label(n), v->name, (int)v->producer);
    }
    for (int k = 0; k < n->n_inputs; k++) {
      if (n->inputs[k] < 0) continue;
      const nnd_value *v = &g->values[n->inputs[k]];
      if (v->kind == NND_VALUE_ACTIVATION && v->producer < 0)
        return nnd__si_graph_fail(g, err,
                                  "node '%s' (%s) reads tensor '%s', which no "
                                  "node produces and which is neither a graph input nor a constant",
                                  n->name, op_label(n), v->name);
    }
  }
  return NND_OK;
}

static nnd_status check_values(const nnd_graph *g, nnd_error *err) {
  char buf[200];
  for (int32_t i = 0; i < g->n_values; i++) {
    const nnd_value *v = &g->values[i];
    if (v->shape.rank < -1 || v->shape.rank > NND_MAX_RANK)
      return nnd__si_graph_fail(g, err,
                                "tensor '%s' has rank %d; nndiff handles ranks "
                                "up to %d",
                                v->name, v->shape.rank, NND_MAX_RANK);
    if (v->producer < -1 || v->producer >= g->n_nodes)
      return nnd__si_graph_fail(g, err,
                                "tensor '%s' records producer #%d, which does "
                                "not exist",
                                v->name, (int)v->producer);
    if (v->kind != NND_VALUE_ACTIVATION && v->producer >= 0)
      return nnd__si_graph_fail(g, err, "%s '%s' is also written by node '%s'",
                                v->kind == NND_VALUE_INPUT ? "graph input" : "constant", v->name,
                                g->nodes[v->producer].name);
    if (!v->data) {
      if (v->nbytes != 0)
        return nnd__si_graph_fail(g, err, "tensor '%s' records %zu bytes but no data", v->name,
                                  v->nbytes);
      continue;
    }
    size_t es = nnd_dtype_size(v->dtype);
    if (es == 0) continue; /* strings: no fixed element size */
    nnd_shape_format(&v->shape, buf, sizeof buf);
    int64_t numel;
    if (!nnd_shape_is_static(&v->shape) || !nnd_shape_numel(&v->shape, &numel))
      return nnd__si_graph_fail(g, err,
                                "tensor '%s' holds data but its shape %s is not "
                                "a known size",
                                v->name, buf);
    if ((uint64_t)numel > SIZE_MAX / es || (size_t)numel * es != v->nbytes)
      return nnd__si_graph_fail(g, err,
                                "tensor '%s' %s of %s holds %zu bytes; its shape "
                                "needs %lld x %zu",
                                v->name, buf, nnd_dtype_name(v->dtype), v->nbytes, (long long)numel,
                                es);
  }
  return NND_OK;
}

static nnd_status check_io(const nnd_graph *g, nnd_error *err) {
  for (int i = 0; i < g->n_inputs; i++) {
    int32_t id = g->inputs[i];
    if (id < 0 || id >= g->n_values)
      return nnd__si_graph_fail(g, err,
                                "graph input %d refers to tensor #%d, which does "
                                "not exist",
                                i, (int)id);
    if (g->values[id].kind != NND_VALUE_INPUT)
      return nnd__si_graph_fail(g, err, "graph input '%s' is not marked as an input",
                                g->values[id].name);
  }
  for (int i = 0; i < g->n_outputs; i++) {
    int32_t id = g->outputs[i];
    if (id < 0 || id >= g->n_values)
      return nnd__si_graph_fail(g, err,
                                "graph output %d refers to tensor #%d, which "
                                "does not exist",
                                i, (int)id);
    const nnd_value *v = &g->values[id];
    if (v->kind == NND_VALUE_ACTIVATION && v->producer < 0)
      return nnd__si_graph_fail(g, err,
                                "graph output '%s' is not produced by any node "
                                "and is neither a graph input nor a constant",
                                v->name);
  }
  return NND_OK;
}

static bool bit(unsigned mask, int i) { return i < 32 ? (mask >> i) & 1u : mask == NND__ALL; }

static nnd_status check_dtypes(const nnd_graph *g, const nnd_node *n, nnd_error *err) {
  const nnd__op_rule *r = nnd__op_rule_get(n->op);
  if (n->op == NND_OP_UNSUPPORTED || n->n_inputs == 0) return NND_OK;
  const nnd_value *x = n->inputs[0] >= 0 ? &g->values[n->inputs[0]] : NULL;
  if (x && x->dtype != NND_DTYPE_UNDEFINED) {
    nnd_dtype d = x->dtype;
    bool ok = true;
    if (r->data_class == NND__DT_FLOAT)
      ok = nnd__si_is_float(d) || (nnd__si_is_int(d) && x->quant);
    else if (r->data_class == NND__DT_NUMERIC)
      ok = nnd__si_is_float(d) || nnd__si_is_int(d);
    if (!ok)
      return nnd__si_graph_fail(g, err,
                                "node '%s' (%s): input '%s' is %s; this op needs "
                                "%s data",
                                n->name, op_label(n), x->name, nnd_dtype_name(d),
                                r->data_class == NND__DT_FLOAT ? "floating-point (or quantized)"
                                                               : "numeric");
  }
  const nnd_value *first = NULL;
  for (int i = 0; i < n->n_inputs; i++) {
    if (n->inputs[i] < 0) continue;
    const nnd_value *v = &g->values[n->inputs[i]];
    if (v->dtype == NND_DTYPE_UNDEFINED) continue;
    if (bit(r->int_inputs, i)) {
      if (!nnd__si_is_int(v->dtype))
        return nnd__si_graph_fail(g, err,
                                  "node '%s' (%s): input %d '%s' is %s; it must "
                                  "hold integers",
                                  n->name, op_label(n), i, v->name, nnd_dtype_name(v->dtype));
      continue;
    }
    if (!r->same_dtype) continue;
    if (!first)
      first = v;
    else if (v->dtype != first->dtype)
      return nnd__si_graph_fail(g, err,
                                "node '%s' (%s): inputs '%s' (%s) and '%s' (%s) "
                                "have different dtypes",
                                n->name, op_label(n), first->name, nnd_dtype_name(first->dtype),
                                v->name, nnd_dtype_name(v->dtype));
  }
  return NND_OK;
}

/* Recorded shape vs the one the inputs give; dims unknown on either side
 * are not compared. */
static bool shapes_agree(const nnd_shape *recorded, const nnd_shape *computed) {
  if (recorded->rank < 0 || computed->rank < 0) return true;
  if (recorded->rank != computed->rank) return false;
  for (int i = 0; i < recorded->rank; i++)
    if (recorded->dims[i].size >= 0 && computed->dims[i].size >= 0 &&
        recorded->dims[i].size != computed->dims[i].size)
      return false;
  return true;
}

static nnd_status check_shapes(const nnd_graph *g, const int32_t *order, nnd_error *err) {
  void *scratch = nnd__infer_scratch_new();
  nnd__symvec *fold = malloc(sizeof *fold);
  nnd_status st = NND_OK;
  if (!scratch || !fold) {
    st = nnd_error_set(err, NND_ERR_NOMEM, "out of memory validating the graph");
    goto done;
  }
  for (int32_t k = 0; k < g->n_nodes; k++) {
    const nnd_node *n = &g->nodes[order[k]];
    nnd__infer c;
    bool folded;
    if ((st = nnd__infer_ctx_init(&c, g, n, err, scratch, NULL)) != NND_OK) goto done;
    if ((st = nnd__infer_node(&c, fold, &folded)) != NND_OK) goto done;
    for (int o = 0; o < n->n_outputs; o++) {
      const nnd_value *v = &g->values[n->outputs[o]];
      if (shapes_agree(&v->shape, &c.out[o])) continue;
      char rec[200], got[200];
      nnd_shape_format(&v->shape, rec, sizeof rec);
      nnd_shape_format(&c.out[o], got, sizeof got);
      st = nnd__si_graph_fail(g, err,
                              "node '%s' (%s): output '%s' is recorded as %s but "
                              "its inputs give %s",
                              n->name, op_label(n), v->name, rec, got);
      goto done;
    }
  }
done:
  nnd__infer_scratch_free(scratch);
  free(fold);
  return st;
}

/* Operands, producers, graph inputs/outputs, then a topological order into
 * order (n_nodes entries): what every edit must keep true. */
static nnd_status check_structure(const nnd_graph *g, int32_t *order, nnd_error *err) {
  nnd_status st;
  if ((st = check_nodes(g, err)) != NND_OK) return st;
  if ((st = check_values(g, err)) != NND_OK) return st;
  if ((st = check_io(g, err)) != NND_OK) return st;
  return nnd__si_topo_order(g, order, err);
}

static int32_t *alloc_order(const nnd_graph *g) {
  return malloc((size_t)(g->n_nodes ? g->n_nodes : 1) * sizeof(int32_t));
}

nnd_status nnd_graph_validate(const nnd_graph *g, nnd_error *err) {
  if (!g) return nnd_error_set(err, NND_ERR_USAGE, "nnd_graph_validate: graph is NULL");
  int32_t *order = alloc_order(g);
  if (!order) return nnd_error_set(err, NND_ERR_NOMEM, "out of memory validating the graph");
  nnd_status st = check_structure(g, order, err);
  for (int32_t k = 0; k < g->n_nodes && st == NND_OK; k++)
    st = check_dtypes(g, &g->nodes[order[k]], err);
  if (st == NND_OK) st = check_shapes(g, order, err);
  free(order);
  return st;
}

nnd_status nnd_graph_check_structure(const nnd_graph *g, nnd_error *err) {
  if (!g) return nnd_error_set(err, NND_ERR_USAGE, "nnd_graph_check_structure: graph is NULL");
  int32_t *order = alloc_order(g);
  if (!order) return nnd_error_set(err, NND_ERR_NOMEM, "out of memory checking the graph");
  nnd_status st = check_structure(g, order, err);
  free(order);
  return st;
}
