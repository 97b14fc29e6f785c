/* Graph construction: arena-backed values and nodes, a name index, ownership
 * of external resources (the mapped file), and topological ordering. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "nndiff/ir.h"
#include "util/arena.h"
#include "util/hash.h"

/* Open-addressing hash from value name to value index. The seed is drawn
 * per graph (util/hash.h): names come from the file, and a fixed hash would
 * let a crafted model make every lookup a scan. */
struct nnd__name_index {
  int32_t *slots; /* value index or -1 */
  size_t cap;     /* power of two */
  size_t count;
  uint64_t seed;
};

struct nnd__owned {
  struct nnd__owned *next;
  void *ptr;
  void (*free_fn)(void *);
};

static bool index_grow(nnd_graph *g) {
  struct nnd__name_index *ix = g->index;
  size_t cap = ix->cap ? ix->cap * 2 : 256;
  if (!ix->cap) ix->seed = nnd__hash_seed(ix);
  int32_t *slots = malloc(cap * sizeof *slots);
  if (!slots) return false;
  for (size_t i = 0; i < cap; i++) slots[i] = -1;
  for (size_t i = 0; i < ix->cap; i++) {
    int32_t v = ix->slots[i];
    if (v < 0) continue;
    size_t h = (size_t)nnd__hash_str(ix->seed, g->values[v].name) & (cap - 1);
    while (slots[h] >= 0) h = (h + 1) & (cap - 1);
    slots[h] = v;
  }
  free(ix->slots);
  ix->slots = slots;
  ix->cap = cap;
  return true;
}

nnd_graph *nnd_graph_create(nnd_error *err) {
  nnd_graph *g = calloc(1, sizeof *g);
  if (g) g->arena = nnd_arena_create();
  if (g) g->index = calloc(1, sizeof *g->index);
  if (!g || !g->arena || !g->index) {
    nnd_graph_destroy(g);
    nnd_error_set(err, NND_ERR_NOMEM, "out of memory creating a graph");
    return NULL;
  }
  return g;
}

void nnd_graph_destroy(nnd_graph *g) {
  if (!g) return;
  struct nnd__owned *o = g->owned;
  while (o) {
    struct nnd__owned *next = o->next;
    if (o->free_fn) o->free_fn(o->ptr);
    free(o);
    o = next;
  }
  if (g->index) free(g->index->slots);
  free(g->index);
  free(g->values);
  free(g->nodes);
  nnd_arena_destroy(g->arena);
  free(g);
}

void *nnd_graph_alloc(nnd_graph *g, size_t count, size_t size) {
  return nnd_arena_alloc(g->arena, count, size);
}

char *nnd_graph_strndup(nnd_graph *g, const char *s, size_t n) {
  char *p = nnd_arena_alloc(g->arena, n + 1, 1);
  if (p && n) memcpy(p, s, n);
  return p;
}

char *nnd_graph_strdup(nnd_graph *g, const char *s) {
  return nnd_graph_strndup(g, s ? s : "", s ? strlen(s) : 0);
}

nnd_status nnd_graph_own(nnd_graph *g, void *ptr, void (*free_fn)(void *), nnd_error *err) {
  struct nnd__owned *o = malloc(sizeof *o);
  if (!o) {
    if (free_fn) free_fn(ptr);
    return nnd_error_set(err, NND_ERR_NOMEM, "out of memory");
  }
  o->ptr = ptr;
  o->free_fn = free_fn;
  o->next = g->owned;
  g->owned = o;
  return NND_OK;
}

int32_t nnd_graph_find_value(const nnd_graph *g, const char *name) {
  const struct nnd__name_index *ix = g->index;
  if (!name || ix->cap == 0) return -1;
  size_t h = (size_t)nnd__hash_str(ix->seed, name) & (ix->cap - 1);
  while (ix->slots[h] >= 0) {
    int32_t v = ix->slots[h];
    if (strcmp(g->values[v].name, name) == 0) return v;
    h = (h + 1) & (ix->cap - 1);
  }
  return -1;
}

nnd_status nnd_graph_add_value(nnd_graph *g, const char *name, int32_t *id_out, nnd_error *err) {
  if (!name) name = "";
  if (nnd_graph_find_value(g, name) >= 0)
    return nnd_error_set(err, NND_ERR_FORMAT, "tensor name '%s' is defined twice", name);
  if (g->n_values == INT32_MAX)
    return nnd_error_set(err, NND_ERR_NOMEM, "too many tensors");
  if (g->n_values == g->cap_values) {
    int32_t cap = g->cap_values ? (g->cap_values > INT32_MAX / 2 ? INT32_MAX : g->cap_values * 2) : 64;
    nnd_value *vals = realloc(g->values, (size_t)cap * sizeof *vals);
    if (!vals) return nnd_error_set(err, NND_ERR_NOMEM, "out of memory adding tensor '%s'", name);
    g->values = vals;
    g->cap_values = cap;
  }
  if ((g->index->count + 1) * 2 > g->index->cap && !index_grow(g))
    return nnd_error_set(err, NND_ERR_NOMEM, "out of memory adding tensor '%s'", name);
  char *copy = nnd_graph_strdup(g, name);
  if (!copy) return nnd_error_set(err, NND_ERR_NOMEM, "out of memory adding tensor '%s'", name);
  int32_t id = g->n_values++;
  nnd_value *v = &g->values[id];
  memset(v, 0, sizeof *v);
  v->name = copy;
  v->shape.rank = -1;
  v->producer = -1;
  v->prov.name = copy;
  v->prov.index = -1;
  v->data_offset = -1;
  struct nnd__name_index *ix = g->index;
  size_t h = (size_t)nnd__hash_str(ix->seed, copy) & (ix->cap - 1);
  while (ix->slots[h] >= 0) h = (h + 1) & (ix->cap - 1);
  ix->slots[h] = id;
  ix->count++;
  if (id_out) *id_out = id;
  return NND_OK;
}

nnd_status nnd_graph_add_node(nnd_graph *g, nnd_op op, const char *name, const int32_t *inputs,
                              int n_inputs, const int32_t *outputs, int n_outputs,
                              int32_t *id_out, nnd_error *err) {
  if (n_inputs < 0 || n_outputs < 1)
    return nnd_error_set(err, NND_ERR_FORMAT, "node '%s' has no outputs", name ? name : "");
  for (int i = 0; i < n_inputs; i++)
    if (inputs[i] < -1 || inputs[i] >= g->n_values)
      return nnd_error_set(err, NND_ERR_INTERNAL, "node input index %d out of range", inputs[i]);
  for (int i = 0; i < n_outputs; i++) {
    int32_t o = outputs[i];
    if (o < 0 || o >= g->n_values)
      return nnd_error_set(err, NND_ERR_INTERNAL, "node output index %d out of range", o);
    const nnd_value *v = &g->values[o];
    const char *nn = (name && *name) ? name : g->values[outputs[0]].name;
    if (v->producer >= 0)
      return nnd_error_set(err, NND_ERR_GRAPH,
                           "tensor '%s' is produced twice: by node '%s' and by node '%s'",
                           v->name, g->nodes[v->producer].name, nn);
    if (v->kind != NND_VALUE_ACTIVATION)
      return nnd_error_set(err, NND_ERR_GRAPH, "node '%s' writes tensor '%s', which is a %s", nn,
                           v->name, v->kind == NND_VALUE_INPUT ? "graph input" : "constant");
  }
  if (g->n_nodes == INT32_MAX) return nnd_error_set(err, NND_ERR_NOMEM, "too many nodes");
  if (g->n_nodes == g->cap_nodes) {
    int32_t cap = g->cap_nodes ? (g->cap_nodes > INT32_MAX / 2 ? INT32_MAX : g->cap_nodes * 2) : 64;
    nnd_node *nodes = realloc(g->nodes, (size_t)cap * sizeof *nodes);
    if (!nodes) return nnd_error_set(err, NND_ERR_NOMEM, "out of memory adding a node");
    g->nodes = nodes;
    g->cap_nodes = cap;
  }
  int32_t *in = nnd_graph_alloc(g, (size_t)(n_inputs ? n_inputs : 1), sizeof *in);
  int32_t *out = nnd_graph_alloc(g, (size_t)n_outputs, sizeof *out);
  const char *nm = nnd_graph_strdup(g, (name && *name) ? name : g->values[outputs[0]].name);
  if (!in || !out || !nm) return nnd_error_set(err, NND_ERR_NOMEM, "out of memory adding a node");
  if (n_inputs) memcpy(in, inputs, (size_t)n_inputs * sizeof *in);
  memcpy(out, outputs, (size_t)n_outputs * sizeof *out);
  int32_t id = g->n_nodes++;
  nnd_node *n = &g->nodes[id];
  memset(n, 0, sizeof *n);
  n->op = op;
  n->name = nm;
  n->n_inputs = n_inputs;
  n->inputs = in;
  n->n_outputs = n_outputs;
  n->outputs = out;
  nnd_attrs_init(&n->attrs);
  n->prov.name = (name && *name) ? nm : "";
  n->prov.index = -1;
  n->prov.op_type = nnd_op_name(op);
  n->prov.domain = "";
  for (int i = 0; i < n_outputs; i++) g->values[outputs[i]].producer = id;
  if (id_out) *id_out = id;
  return NND_OK;
}

nnd_status nnd_graph_topo_order(const nnd_graph *g, int32_t *order_out, nnd_error *err) {
  /* Kahn's algorithm over "node reads a value produced by node". */
  int32_t n = g->n_nodes;
  if (n == 0) return NND_OK;
  int32_t *pending = calloc((size_t)n, sizeof *pending);
  int32_t *consumer_count = calloc((size_t)g->n_values + 1, sizeof *consumer_count);
  nnd_status st = NND_OK;
  int32_t *consumers = NULL;
  if (!pending || !consumer_count) {
    st = nnd_error_set(err, NND_ERR_NOMEM, "out of memory ordering the graph");
    goto done;
  }
  /* CSR list of consumers per value. */
  size_t edges = 0;
  for (int32_t i = 0; i < n; i++)
    for (int k = 0; k < g->nodes[i].n_inputs; k++) {
      int32_t v = g->nodes[i].inputs[k];
      if (v >= 0 && g->values[v].producer >= 0) {
        consumer_count[v + 1]++;
        pending[i]++;
        edges++;
      }
    }
  for (int32_t v = 0; v < g->n_values; v++) consumer_count[v + 1] += consumer_count[v];
  consumers = malloc((edges ? edges : 1) * sizeof *consumers);
  if (!consumers) {
    st = nnd_error_set(err, NND_ERR_NOMEM, "out of memory ordering the graph");
    goto done;
  }
  {
    int32_t *fill = calloc((size_t)g->n_values + 1, sizeof *fill);
    if (!fill) {
      st = nnd_error_set(err, NND_ERR_NOMEM, "out of memory ordering the graph");
      goto done;
    }
    for (int32_t i = 0; i < n; i++)
      for (int k = 0; k < g->nodes[i].n_inputs; k++) {
        int32_t v = g->nodes[i].inputs[k];
        if (v >= 0 && g->values[v].producer >= 0) consumers[consumer_count[v] + fill[v]++] = i;
      }
    free(fill);
  }
  /* Ready nodes are taken in file order, so a topologically sorted file keeps
   * its order (stable, deterministic). */
  int32_t head = 0, tail = 0;
  for (int32_t i = 0; i < n; i++)
    if (pending[i] == 0) order_out[tail++] = i;
  while (head < tail) {
    int32_t i = order_out[head++];
    const nnd_node *node = &g->nodes[i];
    for (int o = 0; o < node->n_outputs; o++) {
      int32_t v = node->outputs[o];
      for (int32_t c = consumer_count[v]; c < consumer_count[v + 1]; c++)
        if (--pending[consumers[c]] == 0) order_out[tail++] = consumers[c];
    }
  }
  if (tail != n) {
    int32_t stuck = -1;
    for (int32_t i = 0; i < n && stuck < 0; i++)
      if (pending[i] > 0) stuck = i;
    st = nnd_error_set(err, NND_ERR_GRAPH, "the graph has a cycle through node '%s' (%s)",
                       g->nodes[stuck].name, g->nodes[stuck].prov.op_type);
  }
done:
  free(pending);
  free(consumer_count);
  free(consumers);
  return st;
}

int nnd_graph_count_unsupported(const nnd_graph *g) {
  int count = 0;
  for (int32_t i = 0; i < g->n_nodes; i++) count += g->nodes[i].op == NND_OP_UNSUPPORTED;
  return count;
}
