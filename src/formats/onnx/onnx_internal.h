/* Internal interfaces of the ONNX reader.
 *
 * The reader works in three steps, one file each:
 *   onnx_proto.c    protobuf bytes -> the decoded structs below (views into
 *                   the file where possible, arrays in the graph's arena);
 *   onnx_tensor.c   TensorProto -> dtype, shape and constant data (zero copy
 *                   for raw_data and packed float/double data), using
 *   onnx_external.c for tensors whose data lives in a side file;
 *   onnx_import.c   decoded graph -> nnd_graph values and nodes, with
 *   onnx_ops.c      the table from ONNX op type to canonical op and the
 *                   per-op attribute handlers;
 *   onnx_load.c     the public entry points (map, import, infer, validate).
 *
 * Field numbers come from onnx.proto (ONNX IR); see the enums below. */
#ifndef NNDIFF_ONNX_INTERNAL_H
#define NNDIFF_ONNX_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "formats/protobuf/pb_wire.h"
#include "nndiff/ir.h"
#include "util/strmap.h"

/* TensorProto.DataType */
enum {
  NND__ONNX_UNDEFINED = 0,
  NND__ONNX_FLOAT = 1,
  NND__ONNX_UINT8 = 2,
  NND__ONNX_INT8 = 3,
  NND__ONNX_UINT16 = 4,
  NND__ONNX_INT16 = 5,
  NND__ONNX_INT32 = 6,
  NND__ONNX_INT64 = 7,
  NND__ONNX_STRING = 8,
  NND__ONNX_BOOL = 9,
  NND__ONNX_FLOAT16 = 10,
  NND__ONNX_DOUBLE = 11,
  NND__ONNX_UINT32 = 12,
  NND__ONNX_UINT64 = 13,
  NND__ONNX_COMPLEX64 = 14,
  NND__ONNX_COMPLEX128 = 15,
  NND__ONNX_BFLOAT16 = 16,
  NND__ONNX_LAST_KNOWN_DTYPE = 28 /* FLOAT6E3M2 in onnx 1.19+ */
};

/* AttributeProto.AttributeType */
enum {
  NND__ONNX_ATTR_UNDEFINED = 0,
  NND__ONNX_ATTR_FLOAT = 1,
  NND__ONNX_ATTR_INT = 2,
  NND__ONNX_ATTR_STRING = 3,
  NND__ONNX_ATTR_TENSOR = 4,
  NND__ONNX_ATTR_GRAPH = 5,
  NND__ONNX_ATTR_FLOATS = 6,
  NND__ONNX_ATTR_INTS = 7,
  NND__ONNX_ATTR_STRINGS = 8,
  NND__ONNX_ATTR_TENSORS = 9,
  NND__ONNX_ATTR_GRAPHS = 10,
  NND__ONNX_ATTR_SPARSE_TENSOR = 11,
  NND__ONNX_ATTR_SPARSE_TENSORS = 12,
  NND__ONNX_ATTR_TYPE_PROTO = 13,
  NND__ONNX_ATTR_TYPE_PROTOS = 14
};

typedef struct nnd__onnx_kv {
  const char *key;
  const char *value;
} nnd__onnx_kv;

/* A decoded TensorProto. Data fields stay undecoded until onnx_tensor.c
 * turns the tensor into a value (so unused tensors cost nothing). */
typedef struct nnd__onnx_tensor {
  const char *name; /* "" when absent */
  size_t offset;    /* file offset of the TensorProto */
  nnd_pb_span msg;  /* the TensorProto bytes, for re-scanning repeated data */
  int32_t data_type;
  int n_dims;
  int64_t *dims;
  bool has_raw;
  nnd_pb_span raw;
  bool has_segment;
  int64_t n_strings;     /* string_data records */
  int32_t data_location; /* 0 default, 1 external */
  int n_external;
  nnd__onnx_kv *external;
} nnd__onnx_tensor;

typedef struct nnd__onnx_attr {
  const char *name;
  size_t offset, length; /* the AttributeProto's bytes in the file */
  int32_t type; /* AttributeType; inferred from the field set when 0 */
  float f;
  int64_t i;
  nnd_pb_span s;   /* STRING payload (bytes, not NUL-terminated) */
  const char *str; /* s as an arena C string (NULL if s holds a NUL) */
  nnd__onnx_tensor *t;
  int64_t n_floats;
  float *floats;
  int64_t n_ints;
  int64_t *ints;
  int64_t n_strings;
  const char **strings;
} nnd__onnx_attr;

typedef struct nnd__onnx_node {
  const char *name;
  const char *op_type;
  const char *domain;
  size_t offset, length; /* the NodeProto's bytes in the file */
  int n_inputs;
  const char **inputs;
  int n_outputs;
  const char **outputs;
  int n_attrs;
  nnd__onnx_attr *attrs;
} nnd__onnx_node;

typedef struct nnd__onnx_dim {
  bool has_value;
  int64_t value;
  const char *param; /* NULL when absent */
} nnd__onnx_dim;

/* A ValueInfoProto with a tensor type (other types leave has_tensor_type
 * false). */
typedef struct nnd__onnx_value_info {
  const char *name;
  size_t offset;
  bool has_tensor_type;
  int32_t elem_type;
  bool has_shape;
  int n_dims;
  nnd__onnx_dim *dims;
} nnd__onnx_value_info;

typedef struct nnd__onnx_graph {
  const char *name;
  int n_nodes;
  nnd__onnx_node *nodes;
  int n_initializers;
  nnd__onnx_tensor *initializers;
  int n_sparse_initializers;
  int n_inputs;
  nnd__onnx_value_info *inputs;
  int n_outputs;
  nnd__onnx_value_info *outputs;
  int n_value_info;
  nnd__onnx_value_info *value_info;
} nnd__onnx_graph;

typedef struct nnd__onnx_model {
  int64_t ir_version;
  const char *producer_name;
  const char *producer_version;
  const char *domain;
  int64_t model_version;
  int n_opsets;
  nnd_opset *opsets;
  bool has_graph;
  nnd__onnx_graph graph;
  int n_functions; /* model-local functions: their ops load as unsupported */
} nnd__onnx_model;

/* External data files mapped so far, by real path, and the folder's real
 * path (resolved once): a model may name thousands of tensors and files. */
typedef struct nnd__onnx_ext_cache {
  char *real_base;   /* malloc'ed; NULL until the first external tensor */
  nnd__strmap files; /* real path (arena) -> const nnd_mapped_file * (owned by the graph) */
} nnd__onnx_ext_cache;

/* Frees what the cache holds (the mappings belong to the graph). */
void nnd__onnx_ext_cache_free(nnd__onnx_ext_cache *cache);

/* Where the bytes came from: for messages and for external data. */
typedef struct nnd__onnx_source {
  const char *label;        /* file name as the user gave it, or "<memory>" */
  const char *base_dir;     /* folder external data is resolved in; NULL = refused */
  nnd__onnx_ext_cache *ext; /* external files mapped so far */
} nnd__onnx_source;

/* Decodes a ModelProto from data[0, size) into *model; arrays and strings
 * go into g's arena. */
nnd_status nnd__onnx_decode_model(nnd_graph *g, const uint8_t *data, size_t size, const char *label,
                                  nnd__onnx_model *model, nnd_error *err);

/* Maps an ONNX data_type to an nndiff dtype. Returns NND_OK, or
 * NND_ERR_UNSUPPORTED for known types nndiff cannot hold (complex, float8,
 * int4...), or NND_ERR_FORMAT for numbers ONNX does not define; `what` names
 * the tensor in the message. */
nnd_status nnd__onnx_dtype(int32_t data_type, const nnd__onnx_source *src, const char *what,
                           nnd_dtype *out, nnd_error *err);

/* Fills v's dtype, shape, data and nbytes from t (kind is left to the
 * caller). Data points into the file for raw_data and for a single packed
 * float_data/double_data record; other encodings are decoded into the
 * arena; external data is mapped (see below). */
nnd_status nnd__onnx_tensor_to_value(nnd_graph *g, const nnd__onnx_source *src,
                                     const nnd_pb_reader *file, const nnd__onnx_tensor *t,
                                     nnd_value *v, nnd_error *err);

/* External data: resolves t's `location` inside src->base_dir (refusing
 * absolute paths, '..' and anything whose real path leaves the folder),
 * maps the file (kept alive by g) and returns the `nbytes` bytes at
 * `offset` (checked against `length` and the file size). */
nnd_status nnd__onnx_external_data(nnd_graph *g, const nnd__onnx_source *src,
                                   const nnd__onnx_tensor *t, size_t nbytes, const void **data_out,
                                   nnd_error *err);

/* Builds g's values and nodes from a decoded model. */
nnd_status nnd__onnx_import(nnd_graph *g, const nnd__onnx_source *src, const nnd_pb_reader *file,
                            const nnd__onnx_model *model, nnd_error *err);

/* ---- op mapping (onnx_ops.c) ---- */

/* What an op handler sees. */
typedef struct nnd__onnx_op_ctx {
  nnd_graph *g;
  const nnd__onnx_source *src;
  const nnd_pb_reader *file; /* for tensor attributes (ConstantOfShape value) */
  const nnd__onnx_node *n;
  int64_t opset;       /* default-domain opset version the model imports */
  int32_t node_id;     /* the nnd_node already added (op may be changed) */
  const char *display; /* node name for messages */
} nnd__onnx_op_ctx;

typedef nnd_status (*nnd__onnx_op_fn)(nnd__onnx_op_ctx *ctx, nnd_node *node, nnd_error *err);

typedef struct nnd__onnx_op_entry {
  const char *op_type;
  nnd_op op;
  nnd__onnx_op_fn fill; /* NULL: no attributes to read */
} nnd__onnx_op_entry;

/* The entry for a default-domain op type, or NULL when unmapped. */
const nnd__onnx_op_entry *nnd__onnx_find_op(const char *op_type);
/* The entry for an op of another domain nndiff maps (com.microsoft's
 * FusedConv and FusedGemm, as ONNX Runtime's offline optimisation writes
 * them), or NULL. */
const nnd__onnx_op_entry *nnd__onnx_find_domain_op(const char *domain, const char *op_type);
/* The whole table (for tests and `inspect --ops`). */
const nnd__onnx_op_entry *nnd__onnx_op_table(size_t *count_out);

#endif
