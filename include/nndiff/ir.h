/* The nndiff graph IR: one graph type that every model format is read into.
 *
 * A graph owns an arena; every string, array and owned buffer reachable from
 * it lives there and dies with nnd_graph_destroy. Constant data may instead
 * point into the memory-mapped model file (zero copy); the graph keeps that
 * mapping alive. Values and nodes are addressed by int32 index so the arrays
 * can grow while a frontend builds the graph.
 *
 * The IR is faithful to the file: the engine runs the graph as the file
 * defines it. Canonicalisation for analysis (BatchNorm folding, activation
 * fusion, ...) is a separate pass over a copy. */
#ifndef NNDIFF_IR_H
#define NNDIFF_IR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "nndiff/status.h"

#ifdef __cplusplus
extern "C" {
#endif

#define NND_MAX_RANK 8
#define NND_MAX_SPATIAL 3

/* ---------------------------------------------------------------- ops */

/* Per-op facts (family, parameter roles, ...): nndiff/op_info.h. */
typedef enum nnd_op {
#define X(id, ...) NND_OP_##id,
#include "nndiff/ops.def"
#undef X
  NND_OP_COUNT
} nnd_op;

/* Canonical op name, e.g. "Conv". Never NULL. */
const char *nnd_op_name(nnd_op op);

/* --------------------------------------------------------- data types */

typedef enum nnd_dtype {
  NND_DTYPE_UNDEFINED = 0,
  NND_DTYPE_F32,
  NND_DTYPE_F64,
  NND_DTYPE_F16,
  NND_DTYPE_BF16,
  NND_DTYPE_I8,
  NND_DTYPE_U8,
  NND_DTYPE_I16,
  NND_DTYPE_U16,
  NND_DTYPE_I32,
  NND_DTYPE_U32,
  NND_DTYPE_I64,
  NND_DTYPE_U64,
  NND_DTYPE_BOOL,
  NND_DTYPE_STRING,
  NND_DTYPE_COUNT
} nnd_dtype;

/* Bytes per element (0 for UNDEFINED and STRING). */
size_t nnd_dtype_size(nnd_dtype dtype);
/* Lower-case name as numpy spells it: "float32", "int64", ... */
const char *nnd_dtype_name(nnd_dtype dtype);
/* IEEE half-precision bits of f, rounded to nearest even (what a Cast to
 * float16 does), and the value of half bits h. */
uint16_t nnd_f32_to_f16(float f);
double nnd_f16_to_f64(uint16_t h);

/* Activation layout of a 4-D (or 3-D/5-D) tensor. */
typedef enum nnd_layout {
  NND_LAYOUT_NONE = 0, /* not an image tensor, or unknown */
  NND_LAYOUT_NCHW,     /* channels first (ONNX, PyTorch) */
  NND_LAYOUT_NHWC      /* channels last (TFLite, Keras) */
} nnd_layout;

/* Layout of a convolution weight tensor. For CONV_TRANSPOSE each value names
 * that format's own transposed-conv layout (see OIHW below; OHWI is TFLite
 * TRANSPOSE_CONV [out, kh, kw, in], HWIO is Keras Conv2DTranspose
 * [kh, kw, out, in]; 1HWO does not apply). */
typedef enum nnd_weight_layout {
  NND_WLAYOUT_OIHW = 0, /* ONNX / PyTorch: [out, in/groups, kh, kw]; for
                           ConvTranspose the ONNX order [in, out/groups, kh, kw] */
  NND_WLAYOUT_OHWI,     /* TFLite conv: [out, kh, kw, in/groups] */
  NND_WLAYOUT_HWIO,     /* Keras / TF: [kh, kw, in/groups, out] */
  NND_WLAYOUT_1HWO      /* TFLite depthwise: [1, kh, kw, out] */
} nnd_weight_layout;

typedef enum nnd_format {
  NND_FORMAT_UNKNOWN = 0,
  NND_FORMAT_ONNX,
  NND_FORMAT_TFLITE,
  NND_FORMAT_KERAS,
  NND_FORMAT_TF,
  NND_FORMAT_PYTORCH
} nnd_format;

/* "onnx", "tflite", ... */
const char *nnd_format_name(nnd_format format);

/* ------------------------------------------------------------- shapes */

/* One dimension: a known size, or unknown with an optional symbol
 * ("batch", "N") that ties equal unknown dims together. */
typedef struct nnd_dim {
  int64_t size;       /* >= 0 when known, -1 when unknown */
  const char *symbol; /* arena string or NULL */
} nnd_dim;

typedef struct nnd_shape {
  int rank; /* -1 while unknown */
  nnd_dim dims[NND_MAX_RANK];
} nnd_shape;

/* Product of the known dims; unknown dims count as 1 (so a per-sample count
 * comes out for a symbolic batch). Returns false on overflow or unknown rank. */
bool nnd_shape_numel(const nnd_shape *shape, int64_t *numel_out);
/* True when rank and every dim are known. */
bool nnd_shape_is_static(const nnd_shape *shape);
/* Writes e.g. "[batch,3,224,224]" into buf (always NUL-terminated). */
void nnd_shape_format(const nnd_shape *shape, char *buf, size_t buf_size);

/* ------------------------------------------------------- provenance */

/* Where a node or value came from in the original file, so reports and
 * repairs speak in the user's names. */
typedef struct nnd_provenance {
  nnd_format format;
  const char *op_type; /* original op type ("Conv", "CONV_2D"); NULL for values */
  const char *domain;  /* op domain ("" for the default ONNX domain) */
  const char *name;    /* original node or tensor name; "" when the file has none */
  int64_t index;       /* index of the node/tensor in the file, -1 if none */
  /* The bytes of the file that state it (an ONNX NodeProto or TensorProto
   * message, without its tag and length), so a writer can patch them;
   * length 0 when nothing in the file states it (inferred, or added by an
   * edit). */
  uint64_t offset, length;
  /* Values: dtype and shape were stated in the file (initializer, graph
   * input or output with a type) rather than inferred. Nodes: always true
   * for nodes read from a file. */
  bool stated;
} nnd_provenance;

/* Where one attribute of a node is in the file (an ONNX AttributeProto). */
typedef struct nnd_attr_span {
  const char *name;
  uint64_t offset, length;
} nnd_attr_span;

/* ------------------------------------------------------------- values */

typedef enum nnd_value_kind {
  NND_VALUE_ACTIVATION = 0, /* computed by a node */
  NND_VALUE_INPUT,          /* fed by the caller (graph input) */
  NND_VALUE_CONSTANT        /* initializer / constant with data */
} nnd_value_kind;

/* Quantization parameters (per tensor when count == 1, else per axis). */
typedef struct nnd_quant {
  int64_t count;
  const float *scales;
  const int64_t *zero_points;
  int axis;
} nnd_quant;

typedef struct nnd_value {
  const char *name; /* unique in the graph: the file's tensor name */
  nnd_value_kind kind;
  nnd_dtype dtype;
  nnd_shape shape;
  nnd_layout layout;
  /* Constant data, little-endian, dense, row-major, NULL when not constant.
   * May point into the mapped file and so MAY BE UNALIGNED: read it through
   * memcpy or the nnd_value_read_* helpers. For an activation whose value
   * shape inference could fold (small int64 shape arithmetic), data is set
   * and `folded` is true. */
  const void *data;
  size_t nbytes;
  bool folded;
  /* File offset of the constant's bytes when they are stored in the model
   * file exactly as `data` holds them (ONNX raw_data), else -1: a writer
   * can overwrite same-sized weights in place. */
  int64_t data_offset;
  nnd_quant *quant;  /* NULL when not quantized */
  int32_t producer;  /* node index, -1 for inputs and constants */
  bool is_output;    /* listed among the graph outputs */
  nnd_provenance prov;
} nnd_value;

/* Reads element i of a constant/folded value converted to double / int64.
 * Return false when there is no data, i is out of range or the dtype does
 * not convert. */
bool nnd_value_read_f64(const nnd_value *v, int64_t i, double *out);
bool nnd_value_read_i64(const nnd_value *v, int64_t i, int64_t *out);
/* Number of elements the data holds (nbytes / element size), 0 if none. */
int64_t nnd_value_data_count(const nnd_value *v);

/* -------------------------------------------------------- attributes */

typedef enum nnd_act_kind {
  NND_ACT_NONE = 0,
  NND_ACT_RELU,
  NND_ACT_CLIP,         /* alpha = min, beta = max (ReLU6: 0, 6) */
  NND_ACT_LEAKY_RELU,   /* alpha = slope */
  NND_ACT_SIGMOID,
  NND_ACT_HARD_SIGMOID, /* max(0, min(1, alpha*x + beta)) */
  NND_ACT_HARD_SWISH,   /* x * relu6(x + 3) / 6 */
  NND_ACT_TANH,
  NND_ACT_SILU
} nnd_act_kind;

/* An activation applied to a node's first output (fused activation). */
typedef struct nnd_activation {
  nnd_act_kind kind;
  float alpha, beta;
} nnd_activation;

const char *nnd_act_name(nnd_act_kind kind);

/* How the file specified padding; shape inference turns every mode into
 * explicit pads_begin/pads_end (TFLite SAME, Keras 'same', ONNX auto_pad). */
typedef enum nnd_auto_pad {
  NND_AUTO_PAD_EXPLICIT = 0,
  NND_AUTO_PAD_SAME_UPPER, /* extra pad at the end (TF/TFLite/Keras SAME) */
  NND_AUTO_PAD_SAME_LOWER,
  NND_AUTO_PAD_VALID
} nnd_auto_pad;

typedef enum nnd_pad_mode {
  NND_PAD_CONSTANT = 0,
  NND_PAD_REFLECT,
  NND_PAD_EDGE
} nnd_pad_mode;

/* Convolution and ConvTranspose. Inputs: x, weight, optional bias. */
typedef struct nnd_conv_attrs {
  int n_spatial; /* 1, 2 or 3 */
  int64_t kernel[NND_MAX_SPATIAL];
  int64_t strides[NND_MAX_SPATIAL];
  int64_t dilations[NND_MAX_SPATIAL];
  int64_t pads_begin[NND_MAX_SPATIAL];
  int64_t pads_end[NND_MAX_SPATIAL];
  int64_t output_padding[NND_MAX_SPATIAL]; /* ConvTranspose only */
  int64_t groups;
  nnd_auto_pad auto_pad;
  nnd_layout layout;
  nnd_weight_layout weight_layout;
} nnd_conv_attrs;

/* MaxPool / AveragePool. */
typedef struct nnd_pool_attrs {
  int n_spatial;
  int64_t kernel[NND_MAX_SPATIAL];
  int64_t strides[NND_MAX_SPATIAL];
  int64_t dilations[NND_MAX_SPATIAL];
  int64_t pads_begin[NND_MAX_SPATIAL];
  int64_t pads_end[NND_MAX_SPATIAL];
  bool ceil_mode;
  bool count_include_pad;
  nnd_auto_pad auto_pad;
  nnd_layout layout;
} nnd_pool_attrs;

/* Typed attributes of every canonical op. One flat struct (not a union) so
 * analyses can compare hyperparameters field by field; each field documents
 * which ops use it. Frontends fill what the file states, including
 * parameters the file passes as constant inputs (Pad pads, Clip bounds,
 * Slice starts, Squeeze axes...), once those are known. */
typedef struct nnd_attrs {
  nnd_conv_attrs conv; /* CONV, CONV_TRANSPOSE */
  nnd_pool_attrs pool; /* MAX_POOL, AVG_POOL */
  /* GEMM: y = alpha * op(A) * op(B) + beta * C */
  float alpha;         /* GEMM alpha; LEAKY_RELU/ELU/HARD_SIGMOID alpha; LRN alpha */
  float beta;          /* GEMM beta; HARD_SIGMOID beta; LRN beta */
  bool trans_a, trans_b;
  float epsilon;       /* BATCH_NORM, LAYER_NORM */
  float clip_min, clip_max; /* CLIP (-inf/+inf when absent) */
  float lrn_bias;      /* LRN */
  int64_t lrn_size;    /* LRN */
  int64_t axis;        /* CONCAT, SPLIT, SOFTMAX, LOG_SOFTMAX, FLATTEN, GATHER,
                          QUANTIZE/DEQUANTIZE, LAYER_NORM (first normalised dim) */
  bool has_axes;       /* REDUCE_*, SQUEEZE, UNSQUEEZE, SLICE: axes known */
  int n_axes;
  int64_t axes[NND_MAX_RANK];
  bool keepdims;       /* REDUCE_* */
  int n_perm;          /* TRANSPOSE (0: reverse the dims) */
  int64_t perm[NND_MAX_RANK];
  bool has_pads;       /* PAD: pads known (attribute or constant input) */
  int n_pads;          /* PAD: rank */
  int64_t pads_begin[NND_MAX_RANK], pads_end[NND_MAX_RANK];
  nnd_pad_mode pad_mode;
  float pad_value;
  bool has_slice;      /* SLICE: starts/ends/steps known; n_axes/axes say which */
  int64_t starts[NND_MAX_RANK], ends[NND_MAX_RANK], steps[NND_MAX_RANK];
  int64_t shape_start, shape_end; /* SHAPE (end: INT64_MAX when absent) */
  bool allowzero;      /* RESHAPE */
  nnd_dtype to;        /* CAST; CONSTANT_OF_SHAPE: the fill value's dtype */
  double fill_value;   /* CONSTANT_OF_SHAPE (0 when the file gives none) */
  bool fmod;           /* MOD: C fmod (sign of the dividend), else the sign of the divisor */
  int n_split;         /* SPLIT: number of outputs; sizes in split[] when known */
  int64_t *split;      /* arena array of n_split sizes, NULL = equal parts */
  float dropout_ratio; /* DROPOUT (inference: identity) */
  const char *equation; /* EINSUM: the file's equation (arena string), NULL when absent */
} nnd_attrs;

/* Fills attrs with the defaults every frontend starts from (strides 1,
 * dilations 1, groups 1, alpha 1, clip +-inf, epsilon 1e-5, ...). */
void nnd_attrs_init(nnd_attrs *attrs);

/* -------------------------------------------------------------- nodes */

typedef struct nnd_node {
  nnd_op op;
  const char *name;  /* display name: the file's node name, or the first
                        output's name when the node has none */
  int n_inputs;
  int32_t *inputs;   /* value indices; -1 marks an omitted optional input */
  int n_outputs;
  int32_t *outputs;
  nnd_attrs attrs;
  nnd_activation act; /* fused activation applied to outputs[0] */
  nnd_provenance prov;
  int n_attr_spans;   /* the attributes as the file states them (may be 0) */
  const nnd_attr_span *attr_spans;
} nnd_node;

/* -------------------------------------------------------------- graph */

typedef struct nnd_opset {
  const char *domain; /* "" or "ai.onnx" for the default domain */
  int64_t version;
} nnd_opset;

typedef struct nnd_model_info {
  nnd_format format;
  const char *path;             /* file the model was read from */
  const char *producer_name;    /* e.g. "pytorch" */
  const char *producer_version; /* e.g. "1.13.1" */
  const char *graph_name;
  int64_t ir_version;           /* format's own version number */
  int n_opsets;
  nnd_opset *opsets;
  uint64_t file_size;
} nnd_model_info;

struct nnd_arena;
struct nnd__name_index;
struct nnd__owned;

typedef struct nnd_graph {
  nnd_model_info info;
  int32_t n_values;
  nnd_value *values;
  int32_t n_nodes;
  nnd_node *nodes;   /* in file order (not necessarily topological) */
  int n_inputs;
  int32_t *inputs;   /* graph inputs fed by the caller (no initializers) */
  int n_outputs;
  int32_t *outputs;
  /* private */
  int32_t cap_values, cap_nodes;
  struct nnd_arena *arena;
  struct nnd__name_index *index;
  struct nnd__owned *owned;
} nnd_graph;

/* Creates an empty graph. Returns NULL (and sets err) when out of memory. */
nnd_graph *nnd_graph_create(nnd_error *err);
/* Frees the graph, its arena and its file mapping. NULL is a no-op. */
void nnd_graph_destroy(nnd_graph *g);

/* Zeroed arena memory that lives as long as the graph; NULL on overflow or
 * out of memory. */
void *nnd_graph_alloc(nnd_graph *g, size_t count, size_t size);
/* Copies a string (or its first n bytes) into the arena. */
char *nnd_graph_strdup(nnd_graph *g, const char *s);
char *nnd_graph_strndup(nnd_graph *g, const char *s, size_t n);

/* Hands ownership of ptr to the graph: free_fn(ptr) runs at destroy, in
 * reverse order of registration (used to keep the mapped file alive). */
nnd_status nnd_graph_own(nnd_graph *g, void *ptr, void (*free_fn)(void *), nnd_error *err);

/* Adds a value named `name` (copied). Fails with NND_ERR_FORMAT when the name
 * already exists. Returns the index through id_out. */
nnd_status nnd_graph_add_value(nnd_graph *g, const char *name, int32_t *id_out, nnd_error *err);
/* Index of the value with this name, or -1. */
int32_t nnd_graph_find_value(const nnd_graph *g, const char *name);

/* Adds a node reading `inputs` and producing `outputs` (value indices, copied).
 * Sets each output's producer; fails with NND_ERR_GRAPH when an output
 * already has a producer or is a constant/input. attrs start from
 * nnd_attrs_init. The name is copied; when NULL or "" the node is named
 * after its first output. */
nnd_status nnd_graph_add_node(nnd_graph *g, nnd_op op, const char *name, const int32_t *inputs,
                              int n_inputs, const int32_t *outputs, int n_outputs,
                              int32_t *id_out, nnd_error *err);

/* Topological order of the nodes into order_out (n_nodes entries). Fails with
 * NND_ERR_GRAPH naming a node on the cycle when there is one. */
nnd_status nnd_graph_topo_order(const nnd_graph *g, int32_t *order_out, nnd_error *err);

/* Infers dtype and shape of every value, resolves auto_pad into explicit
 * pads, fills attributes given as constant inputs, and folds small int64
 * shape computations (Shape -> Gather -> Concat -> Reshape). Unsupported ops
 * leave their outputs unknown. Fails naming the node, op and the clash. */
nnd_status nnd_graph_infer_shapes(nnd_graph *g, nnd_error *err);

/* Checks the graph: every input of every node exists, no cycles, every
 * graph output is produced, operand counts and dtypes fit the op, shapes
 * agree. Reports the first problem found. */
nnd_status nnd_graph_validate(const nnd_graph *g, nnd_error *err);

/* Number of nodes whose op is NND_OP_UNSUPPORTED. */
int nnd_graph_count_unsupported(const nnd_graph *g);

#ifdef __cplusplus
}
#endif
#endif
