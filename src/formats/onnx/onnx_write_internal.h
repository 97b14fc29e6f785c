/* Internal interfaces of the ONNX writer (nnd_onnx_write_edited).
 *
 * The writer patches the file it was given rather than regenerating it:
 *   onnx_write.c         entry point: maps the source, runs the plan, copies
 *                        the ModelProto and GraphProto field by field with
 *                        the planned replacements and fixed length prefixes,
 *                        and commits the output set;
 *   onnx_write_plan.c    replays the edits on a shadow of the graph (ops,
 *                        attributes, inputs, graph outputs, constants) and
 *                        decides what each touched message becomes;
 *   onnx_write_constants.c  new tensor data: in place, re-encoded, or in a
 *                        new external data file, and the external files
 *                        the output needs;
 *   onnx_write_attrs.c   canonical attributes -> the ONNX attributes (and
 *                        parameter inputs, such as Clip's bounds) an op
 *                        states at the model's opset;
 *   onnx_write_encode.c  re-encoding of one NodeProto, TensorProto or
 *                        AttributeProto from its original bytes, keeping
 *                        every field no edit touches byte for byte, and the
 *                        dtype conversion of new constant data. */
#ifndef NNDIFF_ONNX_WRITE_INTERNAL_H
#define NNDIFF_ONNX_WRITE_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "formats/onnx/onnx_internal.h"
#include "formats/protobuf/pb_write.h"
#include "nndiff/ir_edit.h"
#include "util/strmap.h"

/* ---- re-encoding (onnx_write_encode.c) ---- */

/* One attribute of a node to replace, add (bytes: a whole AttributeProto
 * payload) or drop (drop set, bytes empty). */
typedef struct nnd__ow_attr_edit {
  const char *name;
  bool drop;
  nnd_pb_buf bytes;
} nnd__ow_attr_edit;

/* What a NodeProto becomes; NULL / 0 members keep the file's field. */
typedef struct nnd__ow_node_edit {
  const char *op_type;
  const char *domain; /* "" drops the field */
  int n_inputs;
  const char **inputs; /* the whole input list, when it changed */
  int n_outputs;
  const char **outputs;
  int n_attrs;
  nnd__ow_attr_edit *attrs;
} nnd__ow_node_edit;

/* Re-encodes the NodeProto whose payload is msg: fields the edit does not
 * name are copied as they are, in their order. */
nnd_status nnd__ow_encode_node(const nnd_pb_reader *file, nnd_pb_span msg,
                               const nnd__ow_node_edit *e, nnd_pb_buf *out, nnd_error *err);

/* What a TensorProto's data becomes: inline raw_data, or external data at
 * location/offset/length. dims NULL keeps the file's dims. */
typedef struct nnd__ow_tensor_edit {
  int n_dims;
  const int64_t *dims;
  const void *raw; /* inline bytes (external: NULL) */
  size_t nbytes;
  const char *location; /* external */
  uint64_t offset;
} nnd__ow_tensor_edit;

nnd_status nnd__ow_encode_tensor(const nnd_pb_reader *file, nnd_pb_span msg,
                                 const nnd__ow_tensor_edit *e, nnd_pb_buf *out, nnd_error *err);

/* A new initializer: name, ONNX data_type, dims, raw little-endian bytes. */
void nnd__ow_encode_new_tensor(nnd_pb_buf *out, const char *name, int32_t data_type,
                               const nnd_shape *shape, const void *raw, size_t nbytes);
/* A ValueInfoProto with a tensor type (graph inputs of IR < 4 models). */
void nnd__ow_encode_value_info(nnd_pb_buf *out, const char *name, int32_t elem_type,
                               const nnd_shape *shape);
/* A NodeProto of one input and one output (an Identity that keeps a graph
 * output's name). */
void nnd__ow_encode_simple_node(nnd_pb_buf *out, const char *op_type, const char *name,
                                const char *input, const char *output);

/* Attribute payloads. */
void nnd__ow_attr_int(nnd_pb_buf *out, const char *name, int64_t v);
void nnd__ow_attr_float(nnd_pb_buf *out, const char *name, float v);
void nnd__ow_attr_string(nnd_pb_buf *out, const char *name, const char *s);
void nnd__ow_attr_ints(nnd_pb_buf *out, const char *name, const int64_t *v, int n);
void nnd__ow_attr_floats(nnd_pb_buf *out, const char *name, const float *v, int n);
/* An AttributeProto (payload attr) with its tensor `t` replaced by the
 * TensorProto payload `tensor`; other fields kept. */
nnd_status nnd__ow_attr_with_tensor(const nnd_pb_reader *file, nnd_pb_span attr,
                                    const nnd_pb_buf *tensor, nnd_pb_buf *out, nnd_error *err);

/* The name (field 1) of a message whose payload is msg (NodeProto,
 * AttributeProto, ValueInfoProto: all keep their name in field 1), as a
 * span; size 0 when absent. TensorProto keeps it in field 8. */
nnd_pb_span nnd__ow_msg_string(const nnd_pb_reader *file, nnd_pb_span msg, uint32_t field);

/* ONNX data_type of an nndiff dtype (0 for none). */
int32_t nnd__ow_onnx_dtype(nnd_dtype dtype);

/* Converts count elements of `from` (little-endian, possibly unaligned) to
 * `to` into a malloc'ed buffer: between float types (rounding to nearest
 * even), between integer types and bool (refused when a value does not
 * fit), never float -> int. NULL *out with status set on failure; `why`
 * receives the reason. */
bool nnd__ow_convert(nnd_dtype from, const void *src, int64_t count, nnd_dtype to, void **out,
                     size_t *nbytes_out, const char **why);

/* ---- attributes (onnx_write_attrs.c) ---- */

/* A parameter an op takes as an input at this opset (Clip's min and max
 * from opset 11, Pad's pads and constant_value): which input, its value as
 * the node's attributes say, and the element type. */
typedef struct nnd__ow_param_input {
  int slot;
  bool absent; /* the input is omitted (Clip without a bound) */
  bool is_int; /* int64 data (pads), else a float scalar in x's dtype */
  int n;       /* number of values */
  int64_t ints[2 * NND_MAX_RANK];
  double f;
} nnd__ow_param_input;

/* An attribute as an op states it. */
typedef struct nnd__ow_attr_value {
  const char *name;
  int32_t type; /* NND__ONNX_ATTR_INT/FLOAT/STRING/INTS/FLOATS */
  int64_t i;
  float f;
  const char *s;
  int n;
  int64_t ints[2 * NND_MAX_RANK];
  float floats[2];
  bool is_default; /* equal to the op's default: the attribute may be left out */
} nnd__ow_attr_value;

enum { NND__OW_MAX_ATTRS = 16, NND__OW_MAX_PARAMS = 4 };

/* What one op with attributes `a` (and fused activation `act`) states at
 * `opset`, as the file's op_type (FusedConv keeps its activation there). */
typedef struct nnd__ow_op_form {
  const char *op_type; /* ONNX op type */
  const char *domain;  /* "" or "com.microsoft" */
  int max_inputs;      /* inputs beyond are dropped when the op changes; 0: any */
  int n_attrs;
  nnd__ow_attr_value attrs[NND__OW_MAX_ATTRS];
  int n_params;
  nnd__ow_param_input params[NND__OW_MAX_PARAMS];
  int n_drops; /* attributes the file may state that this form rules out */
  const char *drops[4];
} nnd__ow_op_form;

/* Fills form for op with attributes a and fused activation act at opset.
 * file_op_type/file_domain are the node's in the file: com.microsoft
 * FusedConv/FusedGemm keep their activation there. When old is not NULL
 * (the same canonical op before the edit), every field of a that differs
 * from old must be one the form states. Returns false with `why` set when
 * ONNX cannot state it (an op without an ONNX name, a fused activation on a
 * standard op, a changed field that has no attribute or input at this
 * opset). */
bool nnd__ow_op_form_of(nnd_op op, const nnd_attrs *a, const nnd_activation *act,
                        const char *file_op_type, const char *file_domain, int64_t opset,
                        const nnd_attrs *old, const nnd_activation *old_act, nnd__ow_op_form *form,
                        char *why, size_t why_cap);

bool nnd__ow_attr_value_equal(const nnd__ow_attr_value *x, const nnd__ow_attr_value *y);
/* The attribute's AttributeProto payload. */
void nnd__ow_attr_value_encode(const nnd__ow_attr_value *v, nnd_pb_buf *out);

/* ---- the plan (onnx_write_plan.c) ---- */

/* A GraphProto member (node or initializer, by its payload's file offset)
 * replaced by new payload bytes, or dropped. */
typedef struct nnd__ow_repl {
  uint64_t offset;
  bool drop;
  nnd_pb_buf bytes;
} nnd__ow_repl;

/* Bytes of the file overwritten in place (same-sized raw_data). */
typedef struct nnd__ow_overwrite {
  uint64_t offset;
  const void *data;
  size_t nbytes;
} nnd__ow_overwrite;

/* Input ids of the shadow graph: a value of g (>= 0), an omitted input
 * (-1), or new initializer k (NEW_INIT_ID(k)). */
#define NND__OW_NEW_INIT_ID(k) (-2 - (int32_t)(k))

typedef struct nnd__ow_ctx {
  const nnd_graph *g;
  const char *src_path, *out_path;
  nnd_pb_reader file;
  int64_t opset;
  const nnd_edit *edits;
  size_t n_edits;

  /* the shadow graph: g's nodes as the edits leave them */
  nnd_op *op;
  nnd_attrs *attrs;
  nnd_activation *act;
  int32_t **in; /* per node, capacity in_cap[n] */
  int *n_in, *in_cap;
  bool *removed;
  bool *attrs_edited; /* a set_attrs or set_op touched the node */
  int *node_edit;     /* the last edit that touched the node, -1 */
  int *value_edit;    /* the last SET_CONSTANT of the value, -1 */
  int32_t *outputs;   /* graph outputs, g->n_outputs */
  const char **name;  /* per value: its name in the output file */

  /* what the plan produced */
  nnd__ow_repl *repls;
  size_t n_repls, cap_repls;
  nnd__ow_overwrite *overwrites;
  size_t n_overwrites, cap_overwrites;
  nnd_pb_buf new_nodes, new_inits, new_inputs; /* whole fields, appended to the graph */
  int n_new_inits;
  char **new_init_names;
  nnd__strmap drop_value_info; /* names whose ValueInfo goes (stale or gone) */
  nnd__strmap fresh;           /* names the writer made up */
  nnd_pb_buf ext_data;         /* the new external data file's bytes */
  char *ext_location;          /* its name beside the output, or NULL */
  char **copies;               /* external files to copy next to the output */
  int n_copies;
  void **owned; /* malloc'ed buffers and strings freed with the context */
  size_t n_owned, cap_owned;
} nnd__ow_ctx;

/* Shared by the plan's files (onnx_write_plan.c, onnx_write_constants.c). */

/* One line naming edit number `edit` (0-based; -1: no edit) and why. */
nnd_status nnd__ow_fail(nnd__ow_ctx *c, int edit, nnd_status st, nnd_error *err, const char *fmt,
                        ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 5, 6)))
#endif
    ;
nnd_status nnd__ow_nomem(nnd__ow_ctx *c, nnd_error *err);
/* Frees p with the context (false, p freed, when out of memory). */
bool nnd__ow_own(nnd__ow_ctx *c, void *p);
/* A NUL-terminated copy of n bytes, freed with the context. */
char *nnd__ow_own_str(nnd__ow_ctx *c, const char *s, size_t n);
/* The replacement of the member at this payload offset (made when new). */
nnd__ow_repl *nnd__ow_add_repl(nnd__ow_ctx *c, uint64_t offset);
bool nnd__ow_add_overwrite(nnd__ow_ctx *c, uint64_t offset, const void *data, size_t n);
/* The message a provenance names, and whether it lies inside the file. */
nnd_pb_span nnd__ow_node_msg(const nnd__ow_ctx *c, const nnd_provenance *p);
bool nnd__ow_prov_ok(const nnd__ow_ctx *c, const nnd_provenance *p);
/* Reads of value v in the shadow graph (node inputs, graph outputs). */
int nnd__ow_uses_of(const nnd__ow_ctx *c, int32_t v);

/* Constants (onnx_write_constants.c). */
bool nnd__ow_is_stated_constant(const nnd__ow_ctx *c, int32_t v);
bool nnd__ow_is_constant_node(const nnd_value *v);
bool nnd__ow_tensor_is_external(const nnd__ow_ctx *c, nnd_pb_span msg);
/* The stated constant an edit of v writes into (v, or through Identity /
 * Cast from a constant only they read). */
nnd_status nnd__ow_constant_target(nnd__ow_ctx *c, int edit, int32_t v, int32_t *out,
                                   nnd_error *err);
/* Writes data (in t's dtype) with shape into constant t. */
nnd_status nnd__ow_write_constant(nnd__ow_ctx *c, int edit, int32_t t, const nnd_shape *shape,
                                  const void *data, size_t nbytes, nnd_error *err);
/* The SET_CONSTANT of value v (ctx->value_edit[v]). */
nnd_status nnd__ow_plan_constant(nnd__ow_ctx *c, int32_t v, nnd_error *err);
/* Which external files to copy beside the output (copy) and the name of
 * the new data file (need_new). */
nnd_status nnd__ow_plan_external(nnd__ow_ctx *c, bool need_new, bool copy, nnd_error *err);
bool nnd__ow_any_external_edit(nnd__ow_ctx *c);
/* The two paths' folders are the same folder. */
bool nnd__ow_same_folder(const char *a, const char *b);

/* Replays ctx->edits on the shadow graph and plans every replacement,
 * overwrite and addition. Errors name the edit that cannot be written. */
nnd_status nnd__ow_plan(nnd__ow_ctx *ctx, nnd_error *err);
/* Frees what the plan allocated. */
void nnd__ow_ctx_free(nnd__ow_ctx *ctx);

#endif
