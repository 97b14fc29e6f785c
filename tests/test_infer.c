/* The shared inference loop (src/analysis/infer.c) on hand-built graphs and
 * datasets the test writes itself: every model sees the same items in
 * dataset order, batches pad and never deliver padding, distinct
 * preprocessing pipelines are shared only when identical, item errors are
 * skipped (listed) or fail naming the file, the stop flag stops, tensor files
 * of the wrong shape fail up front naming the model, fixed-batch models run
 * in their own batch size, threads give identical results. Also the .npy
 * streaming writer the run command uses. */
#include <dirent.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "data_test_util.h"
#include "ir_test_util.h"
#include "nnd_test.h"
#include "nndiff/infer.h"

/* x[B,3,8,8] -> GlobalAveragePool -> Flatten -> y[B,3]: per-channel means. */
static nnd_graph *mean_model(int64_t batch) {
  nnd_graph *g = nnd_graph_create(NULL);
  if (!g) return NULL;
  g->info.path = batch > 0 ? "fixed.onnx" : "mean.onnx";
  int32_t x =
      tg_input(g, "x", NND_DTYPE_F32, batch > 0 ? DIMS(batch, 3, 8, 8) : DIMS(SYM(0), 3, 8, 8));
  int32_t p, y;
  NODE(g, NND_OP_GLOBAL_AVG_POOL, "gap", &p, x);
  NODE(g, NND_OP_FLATTEN, "flat", &y, p);
  g->nodes[g->n_nodes - 1].attrs.axis = 1;
  g->inputs = nnd_graph_alloc(g, 1, sizeof *g->inputs);
  g->outputs = nnd_graph_alloc(g, 1, sizeof *g->outputs);
  g->inputs[0] = x;
  g->n_inputs = 1;
  g->outputs[0] = y;
  g->n_outputs = 1;
  g->values[y].is_output = true;
  nnd_error err = {0};
  if (nnd_graph_infer_shapes(g, &err) != NND_OK) {
    fprintf(stderr, "infer: %s\n", err.message);
    nnd_graph_destroy(g);
    return NULL;
  }
  return g;
}

/* Collects what the runner delivers: per model, rows by dataset index. */
#define MAX_ITEMS 16
typedef struct sink {
  int n_models;
  float out[4][MAX_ITEMS][3];
  int seen[4][MAX_ITEMS];
  size_t order[4][MAX_ITEMS]; /* dataset indices in delivery order */
  size_t n_order[4];
  int batches;
  int next_model;
  int bad_order;
  volatile sig_atomic_t *stop_after_first; /* set the flag after the first batch */
} sink;

static nnd_status collect(void *user, const nnd_infer_batch *b, nnd_error *err) {
  sink *s = user;
  (void)err;
  if (b->model != s->next_model || b->item_numel != 3) s->bad_order = 1;
  s->next_model = (b->model + 1) % s->n_models;
  for (size_t r = 0; r < b->count; r++) {
    size_t i = b->items[r];
    if (r && b->items[r - 1] >= i) s->bad_order = 1;
    memcpy(s->out[b->model][i], b->output + r * 3, sizeof s->out[0][0]);
    s->seen[b->model][i]++;
    s->order[b->model][s->n_order[b->model]++] = i;
  }
  if (b->model == s->n_models - 1) s->batches++;
  if (s->stop_after_first) *s->stop_after_first = 1;
  return NND_OK;
}

/* Images a.png .. f.png (sizes vary) and a corrupt c_bad.jpg: 7 items,
 * index 2 is the bad one. */
static char *make_images(void) {
  char *dir = make_temp_dir();
  if (!dir) return NULL;
  const char *names[] = {"a.png", "b.png", "d.png", "e.png", "f.png", "sub/g.png"};
  for (int i = 0; i < 6; i++) {
    int w = 10 + 3 * i, h = 12 + 2 * i;
    unsigned char *px = pattern_rgb(w, h);
    size_t size;
    unsigned char *png = encode_png(w, h, PNG_COLOR_TYPE_RGB, 8, 0, px, NULL, 0, NULL, 0, &size);
    write_file(dir, names[i], png, size);
    free(png);
    free(px);
  }
  const unsigned char junk[] = {0xff, 0xd8, 0xff, 0xe0, 0, 16, 'J', 'F', 'I', 'F', 0, 1, 2, 3};
  write_file(dir, "c_bad.jpg", junk, sizeof junk);
  return dir;
}

/* The expected per-channel means of item i under preset `preset`. */
static int expected_means(nnd_dataset *ds, size_t i, const char *preset, float out[3]) {
  nnd_error err = {0};
  nnd_preprocess pp, r;
  nnd_item_shape shape = {3, {3, 8, 8}, NND_DATA_LAYOUT_NCHW};
  float px[3 * 64];
  nnd_image img;
  if (nnd_preprocess_preset(preset, &pp, &err) || nnd_preprocess_resolve(&pp, &shape, &r, &err) ||
      nnd_dataset_decode(ds, i, &img, NULL, &err))
    return 1;
  nnd_status st = nnd_preprocess_image(&r, &img, px, 3 * 64, NULL, &err);
  nnd_image_free(&img);
  if (st) return 1;
  for (int c = 0; c < 3; c++) {
    double s = 0;
    for (int k = 0; k < 64; k++)
      s += px[c * 64 + k];
    out[c] = (float)(s / 64);
  }
  return 0;
}

static int test_images_pipelines_and_skip(void) {
  char *dir = make_images();
  ASSERT_TRUE(dir != NULL);
  nnd_error err = {0};
  nnd_dataset *ds = NULL;
  ASSERT_EQ_INT(NND_OK, nnd_dataset_open(dir, NULL, &ds, &err));
  ASSERT_EQ_INT(7, nnd_dataset_count(ds));
  nnd_graph *g = mean_model(0);
  ASSERT_TRUE(g != NULL);
  nnd_preprocess raw, tf;
  ASSERT_EQ_INT(NND_OK, nnd_preprocess_preset("raw", &raw, &err));
  ASSERT_EQ_INT(NND_OK, nnd_preprocess_preset("keras-tf", &tf, &err));
  nnd_preprocess raw2 = raw;
  snprintf(raw2.preset, sizeof raw2.preset, "renamed"); /* a label, not behaviour */
  nnd_infer_model models[3] = {{g, &raw, "m0"}, {g, &tf, "m1"}, {g, &raw2, "m2"}};
  for (int threads = 1; threads <= 3; threads += 2) {
    sink s = {.n_models = 3};
    nnd_infer_options o;
    nnd_infer_options_init(&o);
    o.batch = 2;
    o.threads = threads;
    o.on_error = NND_ON_ERROR_SKIP;
    o.on_output = collect;
    o.output_user = &s;
    nnd_infer *r = NULL;
    ASSERT_EQ_INT(NND_OK, nnd_infer_create(ds, models, 3, &o, &r, &err));
    ASSERT_EQ_INT(2, nnd_infer_pipeline_count(r));
    nnd_infer_model_info info;
    nnd_infer_get_model_info(r, 2, &info);
    ASSERT_EQ_INT(0, info.pipeline);
    ASSERT_EQ_INT(3, info.output_numel);
    ASSERT_EQ_INT(2, info.batch);
    ASSERT_CONTAINS(info.preprocess_text, "8x8");
    nnd_infer_get_model_info(r, 1, &info);
    ASSERT_EQ_INT(1, info.pipeline);
    nnd_infer_stats st;
    ASSERT_EQ_INT(NND_OK, nnd_infer_run(r, &st, &err));
    ASSERT_EQ_INT(6, st.delivered);
    ASSERT_EQ_INT(1, st.skipped);
    ASSERT_EQ_INT(7, st.visited);
    ASSERT_TRUE(!st.stopped);
    ASSERT_EQ_INT(3, s.batches); /* 6 good items in batches of 2: the bad one is backfilled */
    ASSERT_EQ_INT(0, s.bad_order);
    size_t n_skip;
    const nnd_infer_skip *sk = nnd_infer_skipped(r, &n_skip);
    ASSERT_EQ_INT(1, n_skip);
    ASSERT_EQ_INT(2, sk[0].index);
    ASSERT_STR_EQ("c_bad.jpg", sk[0].name);
    ASSERT_CONTAINS(sk[0].reason, "c_bad.jpg");
    for (int m = 0; m < 3; m++)
      for (size_t i = 0; i < 7; i++)
        ASSERT_EQ_INT(i == 2 ? 0 : 1, s.seen[m][i]);
    for (size_t i = 0; i < 7; i++) {
      if (i == 2) continue;
      float want_raw[3], want_tf[3];
      ASSERT_EQ_INT(0, expected_means(ds, i, "raw", want_raw));
      ASSERT_EQ_INT(0, expected_means(ds, i, "keras-tf", want_tf));
      for (int c = 0; c < 3; c++) {
        ASSERT_NEAR(want_raw[c], s.out[0][i][c], 1e-4);
        ASSERT_NEAR(want_tf[c], s.out[1][i][c], 1e-6);
        ASSERT_TRUE(s.out[0][i][c] == s.out[2][i][c]);
      }
    }
    nnd_infer_destroy(r);
  }
  nnd_graph_destroy(g);
  nnd_dataset_close(ds);
  rm_tree(dir);
  return 0;
}

static int test_fail_policy_and_stop(void) {
  char *dir = make_images();
  ASSERT_TRUE(dir != NULL);
  nnd_error err = {0};
  nnd_dataset *ds = NULL;
  ASSERT_EQ_INT(NND_OK, nnd_dataset_open(dir, NULL, &ds, &err));
  nnd_graph *g = mean_model(0);
  nnd_preprocess raw;
  ASSERT_EQ_INT(NND_OK, nnd_preprocess_preset("raw", &raw, &err));
  nnd_infer_model m = {g, &raw, NULL};

  /* fail: the first batch is delivered, the second meets c_bad.jpg. */
  sink s = {.n_models = 1};
  nnd_infer_options o;
  nnd_infer_options_init(&o);
  o.batch = 2;
  o.on_output = collect;
  o.output_user = &s;
  nnd_infer *r = NULL;
  ASSERT_EQ_INT(NND_OK, nnd_infer_create(ds, &m, 1, &o, &r, &err));
  nnd_infer_stats st;
  ASSERT_EQ_INT(NND_ERR_FORMAT, nnd_infer_run(r, &st, &err));
  ASSERT_CONTAINS(err.message, "c_bad.jpg");
  ASSERT_EQ_INT(2, s.n_order[0]);
  ASSERT_EQ_INT(NND_ERR_USAGE, nnd_infer_run(r, &st, NULL)); /* runs once */
  nnd_infer_destroy(r);

  /* The stop flag, raised after the first batch. */
  volatile sig_atomic_t flag = 0;
  sink s2 = {.n_models = 1, .stop_after_first = &flag};
  o.on_error = NND_ON_ERROR_SKIP;
  o.output_user = &s2;
  o.stop_flag = &flag;
  nnd_error_clear(&err);
  ASSERT_EQ_INT(NND_OK, nnd_infer_create(ds, &m, 1, &o, &r, &err));
  ASSERT_EQ_INT(NND_OK, nnd_infer_run(r, &st, &err));
  ASSERT_TRUE(st.stopped);
  ASSERT_EQ_INT(2, s2.n_order[0]);
  nnd_infer_destroy(r);

  /* --limit: only the first 2 items are visited. */
  sink s3 = {.n_models = 1};
  o.stop_flag = NULL;
  o.output_user = &s3;
  o.limit = 2;
  o.batch = 8;
  ASSERT_EQ_INT(NND_OK, nnd_infer_create(ds, &m, 1, &o, &r, &err));
  ASSERT_EQ_INT(2, nnd_infer_total(r));
  ASSERT_EQ_INT(NND_OK, nnd_infer_run(r, &st, &err));
  ASSERT_EQ_INT(2, st.delivered);
  nnd_infer_destroy(r);

  /* A model the preprocessing cannot feed: the error names the model. */
  nnd_preprocess tv;
  ASSERT_EQ_INT(NND_OK, nnd_preprocess_preset("torchvision", &tv, &err));
  nnd_infer_model bad = {g, &tv, "small.onnx"};
  ASSERT_EQ_INT(NND_ERR_USAGE, nnd_infer_create(ds, &bad, 1, &o, &r, &err));
  ASSERT_TRUE(r == NULL);
  ASSERT_CONTAINS(err.message, "small.onnx: ");
  ASSERT_CONTAINS(err.message, "224x224");
  nnd_graph_destroy(g);
  nnd_dataset_close(ds);
  rm_tree(dir);
  return 0;
}

static int test_tensors_fixed_batch_reference(void) {
  char *dir = make_temp_dir();
  ASSERT_TRUE(dir != NULL);
  char good[4200], wrong[4200];
  snprintf(good, sizeof good, "%s/x.npy", dir);
  snprintf(wrong, sizeof wrong, "%s/wrong.npy", dir);
  enum { N = 5 };
  static float x[N * 3 * 64];
  for (size_t i = 0; i < sizeof x / sizeof x[0]; i++)
    x[i] = (float)((i * 37) % 101) / 10.0f - 3.0f;
  nnd_error err = {0};
  ASSERT_EQ_INT(NND_OK, nnd_npy_write_f32(good, (const int64_t[]){N, 3, 8, 8}, 4, x, &err));
  ASSERT_EQ_INT(NND_OK, nnd_npy_write_f32(wrong, (const int64_t[]){N, 3, 4, 16}, 4, x, &err));
  nnd_dataset *ds = NULL, *bad_ds = NULL;
  ASSERT_EQ_INT(NND_OK, nnd_dataset_open(good, NULL, &ds, &err));
  ASSERT_EQ_INT(NND_OK, nnd_dataset_open(wrong, NULL, &bad_ds, &err));
  nnd_graph *g = mean_model(0), *fixed = mean_model(2);
  ASSERT_TRUE(g && fixed);
  nnd_infer_model models[2] = {{g, NULL, NULL}, {fixed, NULL, NULL}};
  for (int prec = 0; prec < 2; prec++) {
    sink s = {.n_models = 2};
    nnd_infer_options o;
    nnd_infer_options_init(&o);
    o.batch = 3; /* the fixed model runs 2 + 1 padded per chunk of 3 */
    o.precision = prec ? NND_PRECISION_REFERENCE : NND_PRECISION_FAST;
    o.on_output = collect;
    o.output_user = &s;
    nnd_infer *r = NULL;
    ASSERT_EQ_INT(NND_OK, nnd_infer_create(ds, models, 2, &o, &r, &err));
    ASSERT_EQ_INT(1, nnd_infer_pipeline_count(r));
    nnd_infer_model_info info;
    nnd_infer_get_model_info(r, 1, &info);
    ASSERT_EQ_INT(2, info.batch);
    ASSERT_STR_EQ("", info.preprocess_text);
    nnd_infer_stats st;
    ASSERT_EQ_INT(NND_OK, nnd_infer_run(r, &st, &err));
    ASSERT_EQ_INT(N, st.delivered);
    ASSERT_EQ_INT(2, s.batches);
    for (size_t i = 0; i < N; i++)
      for (int c = 0; c < 3; c++) {
        double sum = 0;
        for (int k = 0; k < 64; k++)
          sum += x[(i * 3 + (size_t)c) * 64 + (size_t)k];
        ASSERT_NEAR(sum / 64, s.out[0][i][c], 1e-5);
        ASSERT_NEAR(sum / 64, s.out[1][i][c], 1e-5);
      }
    nnd_infer_destroy(r);
  }
  /* Wrong item shape: fails at create, naming the file, both shapes, the model. */
  nnd_infer *r = NULL;
  nnd_infer_model m = {g, NULL, "mean.onnx"};
  ASSERT_EQ_INT(NND_ERR_USAGE, nnd_infer_create(bad_ds, &m, 1, NULL, &r, &err));
  ASSERT_CONTAINS(err.message, "wrong.npy");
  ASSERT_CONTAINS(err.message, "[3,4,16]");
  ASSERT_CONTAINS(err.message, "[3,8,8]");
  ASSERT_CONTAINS(err.message, "mean.onnx");
  nnd_graph_destroy(g);
  nnd_graph_destroy(fixed);
  nnd_dataset_close(ds);
  nnd_dataset_close(bad_ds);
  rm_tree(dir);
  return 0;
}

static int count_entries(const char *dir) {
  DIR *d = opendir(dir);
  int n = 0;
  for (struct dirent *e; d && (e = readdir(d));)
    n += e->d_name[0] != '.';
  if (d) closedir(d);
  return n;
}

static int test_npy_writer(void) {
  char *dir = make_temp_dir();
  ASSERT_TRUE(dir != NULL);
  char path[4200];
  snprintf(path, sizeof path, "%s/out.npy", dir);
  nnd_error err = {0};
  const float row[4] = {1, 2, 3, 4};
  nnd_npy_writer *w = NULL;
  /* Aborted: nothing left. */
  ASSERT_EQ_INT(NND_OK,
                nnd_npy_writer_open(path, NND_NPY_F32, (const int64_t[]){3, 4}, 2, &w, &err));
  ASSERT_EQ_INT(1, count_entries(dir)); /* the temporary file */
  ASSERT_EQ_INT(NND_OK, nnd_npy_writer_append(w, row, 4, &err));
  nnd_npy_writer_abort(w);
  ASSERT_EQ_INT(0, count_entries(dir));
  /* Short: commit refuses, nothing left. */
  ASSERT_EQ_INT(NND_OK,
                nnd_npy_writer_open(path, NND_NPY_F32, (const int64_t[]){3, 4}, 2, &w, &err));
  ASSERT_EQ_INT(NND_OK, nnd_npy_writer_append(w, row, 4, &err));
  ASSERT_EQ_INT(NND_ERR_INTERNAL, nnd_npy_writer_commit(w, &err));
  ASSERT_EQ_INT(0, count_entries(dir));
  /* Too long: append refuses. Complete: a valid file. */
  nnd_error_clear(&err);
  ASSERT_EQ_INT(NND_OK,
                nnd_npy_writer_open(path, NND_NPY_F32, (const int64_t[]){3, 4}, 2, &w, &err));
  for (int i = 0; i < 3; i++)
    ASSERT_EQ_INT(NND_OK, nnd_npy_writer_append(w, row, 4, &err));
  ASSERT_EQ_INT(NND_ERR_USAGE, nnd_npy_writer_append(w, row, 1, &err));
  ASSERT_EQ_INT(NND_OK, nnd_npy_writer_commit(w, &err));
  ASSERT_EQ_INT(1, count_entries(dir));
  nnd_dataset *ds = NULL;
  ASSERT_EQ_INT(NND_OK, nnd_dataset_open(path, NULL, &ds, &err));
  ASSERT_EQ_INT(3, nnd_dataset_count(ds));
  float back[4];
  nnd_item_shape shape = {1, {4}, NND_DATA_LAYOUT_AUTO};
  ASSERT_EQ_INT(NND_OK, nnd_dataset_read(ds, 2, &shape, back, 4, NULL, &err));
  ASSERT_TRUE(memcmp(back, row, sizeof row) == 0);
  nnd_dataset_close(ds);
  nnd_npy_writer_abort(NULL);
  rm_tree(dir);
  return 0;
}

NND_TEST_MAIN({"images_pipelines_and_skip", test_images_pipelines_and_skip},
              {"fail_policy_and_stop", test_fail_policy_and_stop},
              {"tensors_fixed_batch_reference", test_tensors_fixed_batch_reference},
              {"npy_writer", test_npy_writer})
