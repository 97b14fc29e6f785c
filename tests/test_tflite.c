/* TFLite reader: the FlatBuffer verifier and the lowering of TFLite's
 * semantics into the IR, on two files kept in the fuzz corpus:
 *   valid_tiny.tflite       hand-made by tools/make_malformed_tflite.py
 *                           (CONV_2D + RELU, MEAN, FULLY_CONNECTED whose
 *                           weights are stored after the FlatBuffer);
 *   converted_small.tflite, converted_ops.tflite
 *                           written by the real TFLiteConverter from the
 *                           Keras models "small" and "ops" of
 *                           tools/make_tflite_fixtures.py.
 * The expected attributes are what those model definitions state (kernel
 * sizes, strides, paddings, masks); every prefix and every one-byte
 * corruption of the tiny file must load or fail with a status. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "nnd_test.h"
#include "nndiff/ir.h"
#include "nndiff/model.h"
#include "nndiff/tflite.h"

#ifndef NND_SOURCE_DIR
#define NND_SOURCE_DIR "."
#endif
#define CORPUS NND_SOURCE_DIR "/fuzz/corpus/tflite/"

static unsigned char *slurp(const char *path, size_t *n) {
  FILE *f = fopen(path, "rb");
  if (!f) return NULL;
  fseek(f, 0, SEEK_END);
  long len = ftell(f);
  fseek(f, 0, SEEK_SET);
  unsigned char *p = malloc(len > 0 ? (size_t)len : 1);
  if (p && fread(p, 1, (size_t)len, f) != (size_t)len) {
    free(p);
    p = NULL;
  }
  fclose(f);
  *n = (size_t)len;
  return p;
}

static const nnd_node *node_by_type(const nnd_graph *g, const char *op_type, int nth) {
  for (int32_t i = 0; i < g->n_nodes; i++)
    if (g->nodes[i].prov.op_type && strcmp(g->nodes[i].prov.op_type, op_type) == 0 && nth-- == 0)
      return &g->nodes[i];
  return NULL;
}

static int test_tiny_model(void) {
  nnd_error err = {0};
  nnd_graph *g = NULL;
  ASSERT_EQ_INT(NND_OK, nnd_model_load(CORPUS "valid_tiny.tflite", &g, &err));
  ASSERT_EQ_INT(NND_FORMAT_TFLITE, g->info.format);
  ASSERT_EQ_INT(3, g->n_nodes);
  ASSERT_EQ_INT(1, g->n_inputs);
  ASSERT_STR_EQ("image", g->values[g->inputs[0]].name);
  ASSERT_EQ_INT(NND_LAYOUT_NHWC, g->values[g->inputs[0]].layout);
  const nnd_node *conv = &g->nodes[0], *mean = &g->nodes[1], *fc = &g->nodes[2];
  ASSERT_EQ_INT(NND_OP_CONV, conv->op);
  ASSERT_STR_EQ("CONV_2D", conv->prov.op_type);
  ASSERT_EQ_INT(NND_LAYOUT_NHWC, conv->attrs.conv.layout);
  ASSERT_EQ_INT(NND_WLAYOUT_OHWI, conv->attrs.conv.weight_layout);
  ASSERT_EQ_INT(NND_AUTO_PAD_SAME_UPPER, conv->attrs.conv.auto_pad);
  ASSERT_EQ_INT(3, conv->attrs.conv.kernel[0]);
  ASSERT_EQ_INT(1, conv->attrs.conv.pads_begin[0]); /* SAME 3x3, stride 1 */
  ASSERT_EQ_INT(1, conv->attrs.conv.pads_end[1]);
  ASSERT_EQ_INT(NND_ACT_RELU, conv->act.kind);
  ASSERT_EQ_INT(NND_OP_REDUCE_MEAN, mean->op);
  ASSERT_EQ_INT(2, mean->attrs.n_axes);
  ASSERT_EQ_INT(1, mean->attrs.axes[0]);
  ASSERT_TRUE(!mean->attrs.keepdims);
  ASSERT_EQ_INT(NND_OP_GEMM, fc->op);
  ASSERT_TRUE(fc->attrs.trans_b);
  /* The dense weights live after the FlatBuffer: zero-copy at that offset. */
  const nnd_value *w = &g->values[fc->inputs[1]];
  ASSERT_STR_EQ("fc/w", w->name);
  ASSERT_EQ_INT(NND_VALUE_CONSTANT, w->kind);
  ASSERT_EQ_INT(24, (long long)w->nbytes);
  ASSERT_TRUE(w->data_offset > 0 && (uint64_t)w->data_offset + w->nbytes == g->info.file_size);
  const nnd_value *y = &g->values[g->outputs[0]];
  ASSERT_STR_EQ("logits", y->name);
  ASSERT_EQ_INT(2, y->shape.rank);
  ASSERT_EQ_INT(2, y->shape.dims[1].size);
  nnd_graph_destroy(g);
  return 0;
}

static int test_converter_output(void) {
  nnd_error err = {0};
  nnd_graph *g = NULL;
  ASSERT_EQ_INT(NND_OK, nnd_tflite_load(CORPUS "converted_small.tflite", &g, &err));
  ASSERT_EQ_INT(0, nnd_graph_count_unsupported(g));
  /* DepthwiseConv2D(3, same) + ReLU(6), on 8 channels */
  const nnd_node *dw = node_by_type(g, "DEPTHWISE_CONV_2D", 0);
  ASSERT_TRUE(dw != NULL);
  ASSERT_EQ_INT(NND_WLAYOUT_1HWO, dw->attrs.conv.weight_layout);
  ASSERT_EQ_INT(8, dw->attrs.conv.groups);
  ASSERT_EQ_INT(NND_ACT_CLIP, dw->act.kind);
  ASSERT_NEAR(6.0, dw->act.beta, 0);
  /* Conv2D(8, 3, strides=2, same) on 32x32: TF's SAME puts the extra pixel last */
  const nnd_node *stem = node_by_type(g, "CONV_2D", 0);
  ASSERT_EQ_INT(2, stem->attrs.conv.strides[0]);
  ASSERT_EQ_INT(0, stem->attrs.conv.pads_begin[0]);
  ASSERT_EQ_INT(1, stem->attrs.conv.pads_end[0]);
  /* Conv2D(12, 3, dilation_rate=2, valid) */
  const nnd_node *dil = node_by_type(g, "CONV_2D", 3);
  ASSERT_EQ_INT(2, dil->attrs.conv.dilations[1]);
  ASSERT_EQ_INT(NND_AUTO_PAD_VALID, dil->attrs.conv.auto_pad);
  /* ZeroPadding2D(((1, 2), (0, 1))) */
  const nnd_node *pad = node_by_type(g, "PAD", 0);
  ASSERT_EQ_INT(NND_OP_PAD, pad->op);
  ASSERT_EQ_INT(4, pad->attrs.n_pads);
  ASSERT_EQ_INT(1, pad->attrs.pads_begin[1]);
  ASSERT_EQ_INT(2, pad->attrs.pads_end[1]);
  ASSERT_EQ_INT(0, pad->attrs.pads_begin[2]);
  ASSERT_EQ_INT(1, pad->attrs.pads_end[2]);
  /* AveragePooling2D(3, strides=2, same): the border averages what is inside */
  const nnd_node *avg = node_by_type(g, "AVERAGE_POOL_2D", 0);
  ASSERT_EQ_INT(3, avg->attrs.pool.kernel[0]);
  ASSERT_TRUE(!avg->attrs.pool.count_include_pad);
  ASSERT_EQ_INT(NND_LAYOUT_NHWC, avg->attrs.pool.layout);
  /* t[:, 1:, :, 2:] */
  const nnd_node *sl = node_by_type(g, "STRIDED_SLICE", 0);
  ASSERT_EQ_INT(NND_OP_SLICE, sl->op);
  ASSERT_EQ_INT(1, sl->attrs.starts[1]);
  ASSERT_EQ_INT(2, sl->attrs.starts[3]);
  ASSERT_EQ_INT(0, sl->attrs.starts[2]);
  const nnd_value *slv = &g->values[sl->outputs[0]];
  ASSERT_EQ_INT(6, slv->shape.dims[1].size);
  ASSERT_EQ_INT(22, slv->shape.dims[3].size);
  const nnd_node *hs = node_by_type(g, "HARD_SWISH", 0);
  ASSERT_EQ_INT(NND_OP_HARD_SWISH, hs->op);
  ASSERT_EQ_INT(NND_OP_SIGMOID, node_by_type(g, "LOGISTIC", 0)->op);
  ASSERT_EQ_INT(NND_OP_REDUCE_MEAN, node_by_type(g, "MEAN", 0)->op);
  nnd_graph_destroy(g);
  return 0;
}

/* Ops that become several IR nodes: a Dense on a 3-D input (the converter
 * writes FULLY_CONNECTED with keep_num_dims on [1,16,16,6]) and v[:, :, 0, :]
 * (STRIDED_SLICE with shrink_axis_mask). */
static int test_converter_multi_node_ops(void) {
  nnd_error err = {0};
  nnd_graph *g = NULL;
  ASSERT_EQ_INT(NND_OK, nnd_tflite_load(CORPUS "converted_ops.tflite", &g, &err));
  ASSERT_EQ_INT(0, nnd_graph_count_unsupported(g));
  const nnd_node *flat = node_by_type(g, "FULLY_CONNECTED", 0);
  const nnd_node *gemm = node_by_type(g, "FULLY_CONNECTED", 1);
  const nnd_node *back = node_by_type(g, "FULLY_CONNECTED", 2);
  ASSERT_EQ_INT(NND_OP_RESHAPE, flat->op);
  ASSERT_EQ_INT(NND_OP_GEMM, gemm->op);
  ASSERT_EQ_INT(NND_OP_RESHAPE, back->op);
  ASSERT_EQ_INT(flat->prov.index, back->prov.index); /* one operator of the file */
  const nnd_value *y = &g->values[back->outputs[0]];
  ASSERT_EQ_INT(4, y->shape.rank);
  ASSERT_EQ_INT(16, y->shape.dims[2].size);
  ASSERT_EQ_INT(4, y->shape.dims[3].size);
  const nnd_node *sq = node_by_type(g, "STRIDED_SLICE", 1);
  ASSERT_EQ_INT(NND_OP_SQUEEZE, sq->op);
  ASSERT_EQ_INT(1, sq->attrs.n_axes);
  ASSERT_EQ_INT(2, sq->attrs.axes[0]);
  ASSERT_EQ_INT(3, g->values[sq->outputs[0]].shape.rank);
  const nnd_node *r6 = node_by_type(g, "RELU6", 0);
  ASSERT_EQ_INT(NND_OP_CLIP, r6->op);
  ASSERT_NEAR(6.0, r6->attrs.clip_max, 0);
  ASSERT_NEAR(0.2, node_by_type(g, "LEAKY_RELU", 0)->attrs.alpha, 1e-7);
  nnd_graph_destroy(g);
  return 0;
}

/* Every prefix fails cleanly; every byte set to 0x00, 0x7f or 0xff loads or
 * fails with a status (the sanitizer build checks the reads). */
static int test_prefixes_and_byte_corruption(void) {
  size_t n;
  unsigned char *p = slurp(CORPUS "valid_tiny.tflite", &n);
  ASSERT_TRUE(p != NULL && n > 100);
  for (size_t k = 0; k < n; k++) {
    nnd_error err = {0};
    nnd_graph *g = NULL;
    nnd_status st = nnd_tflite_load_memory(p, k, &g, &err);
    if (st == NND_OK) {
      fprintf(stderr, "prefix of %zu bytes loaded\n", k);
      return 1;
    }
    ASSERT_TRUE(g == NULL && err.message[0] && !strchr(err.message, '\n'));
  }
  static const unsigned char vals[] = {0x00, 0x7f, 0xff};
  int loaded = 0;
  for (size_t k = 0; k < n; k++)
    for (size_t v = 0; v < sizeof vals; v++) {
      unsigned char keep = p[k];
      p[k] = vals[v];
      nnd_error err = {0};
      nnd_graph *g = NULL;
      nnd_status st = nnd_tflite_load_memory(p, n, &g, &err);
      p[k] = keep;
      ASSERT_TRUE(st == NND_OK || (g == NULL && err.message[0]));
      loaded += st == NND_OK;
      nnd_graph_destroy(g);
    }
  ASSERT_TRUE(loaded > 0); /* e.g. weight bytes: still a valid model */
  free(p);
  return 0;
}

NND_TEST_MAIN(NND_TEST(test_tiny_model), NND_TEST(test_converter_output),
              NND_TEST(test_converter_multi_node_ops), NND_TEST(test_prefixes_and_byte_corruption))
