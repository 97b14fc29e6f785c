/* Shared between the TFLite reader's files: the load context (tensors
 * already turned into values) and one operator as read from the file,
 * handed to the op table (tflite_ops.c). Field numbers are the schema's
 * (tensorflow/compiler/mlir/lite/schema/schema.fbs): a field's id is its
 * position in its table, a union taking two (type, then value). */
#ifndef NND_FORMATS_TFLITE_INTERNAL_H
#define NND_FORMATS_TFLITE_INTERNAL_H

#include "formats/tflite/flatbuf.h"
#include "nndiff/ir.h"

/* TensorType codes. */
enum {
  NND__TFL_FLOAT32 = 0,
  NND__TFL_FLOAT16 = 1,
  NND__TFL_INT32 = 2,
  NND__TFL_UINT8 = 3,
  NND__TFL_INT64 = 4,
  NND__TFL_STRING = 5,
  NND__TFL_BOOL = 6,
  NND__TFL_INT16 = 7,
  NND__TFL_INT8 = 9,
  NND__TFL_FLOAT64 = 10,
  NND__TFL_UINT64 = 12,
  NND__TFL_UINT32 = 15,
  NND__TFL_UINT16 = 16,
  NND__TFL_BFLOAT16 = 18
};

typedef struct nnd__tfl_ctx {
  nnd_graph *g;
  nnd__fb fb;
  const char *label;
  uint32_t n_tensors;
  int32_t *tensor_value; /* tensor index -> value id */
} nnd__tfl_ctx;

/* One operator of the main subgraph. */
typedef struct nnd__tfl_op {
  int64_t index;       /* in the subgraph's operator list */
  int32_t code;        /* BuiltinOperator */
  const char *op_type; /* "CONV_2D", or the custom code of a CUSTOM op */
  bool custom;
  uint8_t options_type; /* BuiltinOptions union type, 0 for none */
  bool has_options;
  nnd__fb_table options;
  int n_in, n_out;
  const int32_t *in; /* value ids; -1 for an omitted optional input */
  const int32_t *out;
  size_t pos, length; /* the Operator table in the file */
} nnd__tfl_op;

/* The schema name of a builtin operator ("CONV_2D"), NULL when unknown. */
const char *nnd__tfl_builtin_name(int32_t code);

/* Adds the op to the graph: its canonical op with its options lowered, or
 * NND_OP_UNSUPPORTED named by its op type. May add helper values and nodes
 * (a Squeeze after a STRIDED_SLICE that shrinks axes). */
nnd_status nnd__tfl_add_op(nnd__tfl_ctx *c, const nnd__tfl_op *op, nnd_error *err);

#endif
