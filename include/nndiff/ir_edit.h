/* Editing a graph: clones, use lists, and the edits that analyses, passes
 * and repair make.
 *
 * Edits keep value indices stable: a value is never renumbered or deleted,
 * so taps, layer tables and alignments that hold value ids stay valid
 * across edits (a value nothing reads any more is simply unused). Node
 * indices are stable too except across nnd_graph_remove_nodes, which
 * compacts the node array and says where each node went.
 *
 * Every edit is also a record (nnd_edit): what was changed (node or value,
 * by index and by the file's name), which field, the old and the new value
 * as text for reports, and the typed new value to apply. localize expresses
 * its suggested fixes in them, and repair applies them (nnd_edit_apply).
 *
 * In debug builds (NDEBUG not defined) every edit function re-checks the
 * graph's structure afterwards and fails with NND_ERR_INTERNAL when the edit
 * broke it, so a wrong edit is caught where it is made. */
#ifndef NNDIFF_IR_EDIT_H
#define NNDIFF_IR_EDIT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "nndiff/ir.h"
#include "nndiff/status.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ------------------------------------------------------------- clones */

/* A copy of g that can be edited without touching g: same value and node
 * indices, own node input/output lists, attributes and graph input/output
 * lists. Strings and constant data are BORROWED from g (a 170 MB model is
 * not copied): g must outlive the clone. Values and constants an edit adds
 * to the clone live in the clone. */
nnd_status nnd_graph_clone(const nnd_graph *g, nnd_graph **out, nnd_error *err);

/* ---------------------------------------------------------- use lists */

/* One read of a value: node `node` reads it as input `slot`, or, with
 * node == -1, it is graph output number `slot`. */
typedef struct nnd_use {
  int32_t node;
  int32_t slot;
} nnd_use;

/* Every read of every value, built in one pass (O(nodes + edges)). A use
 * list describes the graph as it was when built: rebuild it after edits
 * that change inputs. */
typedef struct nnd_uses {
  int32_t n_values;
  int32_t *start; /* n_values + 1 offsets into uses */
  nnd_use *uses;
} nnd_uses;

nnd_status nnd_uses_build(const nnd_graph *g, nnd_uses **out, nnd_error *err);
/* Number of reads of value v (graph outputs included). */
static inline int32_t nnd_uses_count(const nnd_uses *u, int32_t v) {
  return u->start[v + 1] - u->start[v];
}
static inline const nnd_use *nnd_uses_of(const nnd_uses *u, int32_t v) {
  return u->uses + u->start[v];
}
/* NULL is a no-op. */
void nnd_uses_destroy(nnd_uses *u);

/* -------------------------------------------------------------- edits */

/* Makes every node input and graph output that reads `from` read `to`
 * instead. Fails when either index is out of range or when `to` is
 * produced downstream of a reader of `from` would create a cycle (checked
 * in debug builds). */
nnd_status nnd_graph_replace_uses(nnd_graph *g, int32_t from, int32_t to, nnd_error *err);

/* Sets input `slot` of node `node` to value `v` (-1 omits an optional
 * input). */
nnd_status nnd_graph_set_input(nnd_graph *g, int32_t node, int slot, int32_t v, nnd_error *err);

/* Removes every node i with remove[i] true and compacts the node array.
 * The values they produced are left without a producer; each must be
 * unused (no reader, not a graph output) or already turned into a
 * constant. When new_index is not NULL it receives, per old node, its new
 * index or -1 (g->n_nodes entries as before the call). */
nnd_status nnd_graph_remove_nodes(nnd_graph *g, const bool *remove, int32_t *new_index,
                                  nnd_error *err);

/* Turns value v into a constant holding `data` (nbytes, dtype, shape; the
 * bytes are copied into the graph when copy is true, else borrowed and must
 * outlive g). A value that a node produced is detached from it: the node's
 * output slot keeps the index, but the value's producer becomes -1, and the
 * caller removes the node once none of its outputs is needed. */
nnd_status nnd_graph_set_constant(nnd_graph *g, int32_t v, nnd_dtype dtype, const nnd_shape *shape,
                                  const void *data, size_t nbytes, bool copy, nnd_error *err);

/* Replaces the op and attributes of a node (inputs and outputs stay). */
nnd_status nnd_graph_replace_node(nnd_graph *g, int32_t node, nnd_op op, const nnd_attrs *attrs,
                                  const nnd_activation *act, nnd_error *err);

/* Structural checks only (operands exist, producers agree, graph outputs
 * produced, no cycle): what every edit must keep true. Shapes are not
 * re-checked: an edit may leave them for the next shape inference. */
nnd_status nnd_graph_check_structure(const nnd_graph *g, nnd_error *err);

/* ------------------------------------------------------- edit records */

typedef enum nnd_edit_kind {
  NND_EDIT_SET_ATTRS = 0, /* node: attributes (and fused activation) replaced */
  NND_EDIT_SET_OP,        /* node: op replaced (LeakyRelu -> Relu, Sub -> Add) */
  NND_EDIT_SET_INPUT,     /* node: input `slot` reads another value */
  NND_EDIT_SET_CONSTANT,  /* value: constant data replaced (weights copied) */
  NND_EDIT_REMOVE_NODE,   /* node: removed, its first output's readers read its
                             first input instead (an inserted Pad, a Transpose) */
  NND_EDIT_REPLACE_USES,  /* value: every reader reads `new_value` instead */
  NND_EDIT_ADD_INPUT      /* node: input `slot` (an omitted or missing optional one,
                             such as a dropped bias) becomes a new constant named
                             `new_name` holding dtype/shape/data */
} nnd_edit_kind;

const char *nnd_edit_kind_name(nnd_edit_kind kind);

typedef struct nnd_edit {
  nnd_edit_kind kind;
  int32_t node;          /* the node edited, -1 for value edits */
  int32_t value;         /* the value edited, -1 for node edits */
  char target_name[128]; /* the file's name of that node or value */
  char field[32];        /* "pads", "epsilon", "op", "input[1]", "data" ... */
  char old_text[96];     /* e.g. "[0,0,1,1]", "LeakyRelu(0.01)" */
  char new_text[96];
  /* What to apply. */
  nnd_op op;          /* SET_OP, SET_ATTRS: the node's op afterwards */
  nnd_attrs attrs;    /* SET_OP, SET_ATTRS */
  nnd_activation act; /* SET_OP, SET_ATTRS */
  int slot;           /* SET_INPUT, ADD_INPUT */
  char new_name[128]; /* ADD_INPUT: the new tensor's name */
  int32_t new_value;  /* SET_INPUT, REPLACE_USES */
  nnd_dtype dtype;    /* SET_CONSTANT, ADD_INPUT */
  nnd_shape shape;    /* SET_CONSTANT, ADD_INPUT */
  const void *data;   /* SET_CONSTANT, ADD_INPUT: borrowed until applied (then copied) */
  size_t nbytes;
} nnd_edit;

/* Fills the record's identity fields (kind, node or value, target name). */
void nnd_edit_init_node(nnd_edit *e, const nnd_graph *g, nnd_edit_kind kind, int32_t node);
void nnd_edit_init_value(nnd_edit *e, const nnd_graph *g, nnd_edit_kind kind, int32_t value);

/* Applies one edit to g. REMOVE_NODE keeps node indices of the other nodes
 * stable only when the node is the last one; callers holding node indices
 * apply removals last. */
nnd_status nnd_edit_apply(nnd_graph *g, const nnd_edit *e, nnd_error *err);

/* "node 'conv1' (Conv): pads [0,0,0,0] -> [1,1,1,1]"; snprintf semantics. */
size_t nnd_edit_format(const nnd_edit *e, char *buf, size_t cap);

#ifdef __cplusplus
}
#endif
#endif
