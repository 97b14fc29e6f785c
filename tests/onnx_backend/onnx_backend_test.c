/* Conformance driver: runs ONNX backend node test cases (the model.onnx and
 * test_data_set_N/{input,output}_K.pb files shipped inside the `onnx`
 * Python package) through the engine and compares with the expected
 * outputs.
 *
 *   onnx_backend_test [-v] CASE_DIR...
 *
 * Each case runs three ways: the reference precision and the fast precision
 * with every float input fed at run time, and the fast precision with every
 * input but the first frozen (so weights become constants and take the
 * packed oneDNN / depthwise / BatchNorm-folding paths). Integer inputs
 * (shapes, axes, indices) are always frozen: the engine computes integer
 * tensors only at create time.
 *
 * Tolerances, |ours - expected| <= atol + rtol * |expected|:
 *   reference  rtol 1e-4, atol 1e-5 (the expected data was mostly computed
 *              by numpy in float32; ours in float64)
 *   fast       rtol 1e-3, atol 1e-4 (ONNX's own backend-test rtol)
 * Integer and boolean outputs must match exactly.
 *
 * A case is skipped (exit code 77 when every case given was skipped) when
 * the model uses something the reader or the engine reports as
 * unsupported; it fails on any other error or mismatch. Prints
 * "N passed, N failed, N skipped" at the end. */
#include <dirent.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "formats/protobuf/pb_wire.h"
#include "nndiff/engine.h"
#include "nndiff/onnx.h"

enum { RESULT_PASS, RESULT_FAIL, RESULT_SKIP };

static int verbose;

/* A decoded TensorProto: data widened to double or int64. */
typedef struct pb_tensor {
  int rank;
  int64_t dims[NND_MAX_RANK];
  int64_t numel;
  int32_t onnx_type;
  bool is_float;
  double *f;  /* float data, numel values */
  int64_t *i; /* integer data, numel values */
  float *f32; /* float data as float32 (for feeding) */
} pb_tensor;

static void pb_tensor_free(pb_tensor *t) {
  free(t->f);
  free(t->i);
  free(t->f32);
  memset(t, 0, sizeof *t);
}

static unsigned char *read_file(const char *path, size_t *size) {
  FILE *f = fopen(path, "rb");
  if (!f) return NULL;
  fseek(f, 0, SEEK_END);
  long n = ftell(f);
  fseek(f, 0, SEEK_SET);
  unsigned char *buf = malloc(n > 0 ? (size_t)n : 1);
  if (buf && n > 0 && fread(buf, 1, (size_t)n, f) != (size_t)n) {
    free(buf);
    buf = NULL;
  }
  fclose(f);
  *size = n > 0 ? (size_t)n : 0;
  return buf;
}

static double half_to_double(uint16_t h) {
  int sign = h >> 15, ex = (h >> 10) & 0x1f, mant = h & 0x3ff;
  double r = ex == 0    ? ldexp(mant, -24)
             : ex == 31 ? (mant ? NAN : INFINITY)
                        : ldexp(mant + 1024, ex - 25);
  return sign ? -r : r;
}

/* Decodes the TensorProto in `path` (fields: dims 1, data_type 2,
 * float_data 4, int32_data 5, int64_data 7, raw_data 9, double_data 10,
 * uint64_data 11). Returns 0, or -1 with a reason in why. */
static int load_pb(const char *path, pb_tensor *t, char *why, size_t why_n) {
  memset(t, 0, sizeof *t);
  size_t size = 0;
  unsigned char *buf = read_file(path, &size);
  if (!buf) {
    snprintf(why, why_n, "cannot read %s", path);
    return -1;
  }
  nnd_error err = {0};
  nnd_pb_reader r;
  nnd_pb_reader_init(&r, buf, size, path);
  nnd_pb_span raw = {0};
  bool has_raw = false;
  uint64_t dt = 0;
  while (nnd_pb_more(&r)) {
    nnd_pb_field f;
    if (nnd_pb_next(&r, &f, &err) != NND_OK) goto bad;
    if (f.number == 2 && f.wire == NND_PB_VARINT) dt = f.u64;
    if (f.number == 9 && f.wire == NND_PB_LEN) {
      raw = f.span;
      has_raw = true;
    }
  }
  nnd_pb_reader msg;
  nnd_pb_reader_init(&msg, buf, size, path);
  nnd_pb_repeated rep;
  if (nnd_pb_repeated_scan(msg, 1, NND_PB_SCALAR_VARINT, &rep, &err) != NND_OK) goto bad;
  if (rep.count > NND_MAX_RANK) {
    snprintf(why, why_n, "%s: rank %zu", path, rep.count);
    free(buf);
    return -1;
  }
  uint64_t dims[NND_MAX_RANK];
  if (rep.count &&
      nnd_pb_repeated_read(msg, 1, NND_PB_SCALAR_VARINT, dims, rep.count, &err) != NND_OK)
    goto bad;
  t->rank = (int)rep.count;
  t->numel = 1;
  for (int d = 0; d < t->rank; d++) {
    t->dims[d] = (int64_t)dims[d];
    t->numel *= t->dims[d];
  }
  t->onnx_type = (int32_t)dt;
  /* ONNX types: 1 float, 2 uint8, 3 int8, 4 uint16, 5 int16, 6 int32,
   * 7 int64, 9 bool, 10 float16, 11 double, 12 uint32, 13 uint64,
   * 16 bfloat16. */
  static const int esz[17] = {0, 4, 1, 1, 2, 2, 4, 8, 0, 1, 2, 8, 4, 8, 0, 0, 2};
  if (dt == 0 || dt > 16 || esz[dt] == 0) {
    snprintf(why, why_n, "%s: data type %llu not handled", path, (unsigned long long)dt);
    free(buf);
    return -1;
  }
  t->is_float = dt == 1 || dt == 10 || dt == 11 || dt == 16;
  const int64_t n = t->numel;
  t->f = calloc((size_t)(n ? n : 1), sizeof *t->f);
  t->i = calloc((size_t)(n ? n : 1), sizeof *t->i);
  t->f32 = calloc((size_t)(n ? n : 1), sizeof *t->f32);
  if (has_raw) {
    if (raw.size != (size_t)(n * esz[dt])) {
      snprintf(why, why_n, "%s: raw_data has %zu bytes for %lld elements", path, raw.size,
               (long long)n);
      free(buf);
      return -1;
    }
    const uint8_t *p = raw.data;
    for (int64_t k = 0; k < n; k++, p += esz[dt]) {
      double v = 0;
      int64_t iv = 0;
      switch (dt) {
      case 1: {
        uint32_t u = nnd_pb_le32(p);
        float fv;
        memcpy(&fv, &u, 4);
        v = fv;
        break;
      }
      case 11: {
        uint64_t u = nnd_pb_le64(p);
        memcpy(&v, &u, 8);
        break;
      }
      case 10: v = half_to_double((uint16_t)(p[0] | p[1] << 8)); break;
      case 16: {
        uint32_t u = (uint32_t)(p[0] | p[1] << 8) << 16;
        float fv;
        memcpy(&fv, &u, 4);
        v = fv;
        break;
      }
      case 2:
      case 9: iv = p[0]; break;
      case 3: iv = (int8_t)p[0]; break;
      case 4: iv = (uint16_t)(p[0] | p[1] << 8); break;
      case 5: iv = (int16_t)(p[0] | p[1] << 8); break;
      case 6: iv = (int32_t)nnd_pb_le32(p); break;
      case 12: iv = nnd_pb_le32(p); break;
      default: iv = (int64_t)nnd_pb_le64(p); break;
      }
      if (t->is_float)
        t->f[k] = v;
      else
        t->f[k] = (double)(t->i[k] = iv);
    }
  } else {
    /* Typed fields: float_data (4, fixed32), int32_data (5: int32, int8,
     * uint8, int16, uint16, bool, float16 bits), int64_data (7),
     * double_data (10), uint64_data (11: uint32, uint64). */
    uint32_t field = dt == 1 ? 4 : dt == 7 ? 7 : dt == 11 ? 10 : (dt == 12 || dt == 13) ? 11 : 5;
    nnd_pb_scalar kind = field == 4    ? NND_PB_SCALAR_FIXED32
                         : field == 10 ? NND_PB_SCALAR_FIXED64
                                       : NND_PB_SCALAR_VARINT;
    if (nnd_pb_repeated_scan(msg, field, kind, &rep, &err) != NND_OK) goto bad;
    if ((int64_t)rep.count != n) {
      snprintf(why, why_n, "%s: %zu values for %lld elements", path, rep.count, (long long)n);
      free(buf);
      return -1;
    }
    uint64_t *vals = calloc(rep.count ? rep.count : 1, 8);
    if (rep.count && nnd_pb_repeated_read(msg, field, kind, vals, rep.count, &err) != NND_OK) {
      free(vals);
      goto bad;
    }
    for (int64_t k = 0; k < n; k++) {
      if (field == 4) {
        uint32_t u = ((uint32_t *)vals)[k];
        float fv;
        memcpy(&fv, &u, 4);
        t->f[k] = fv;
      } else if (field == 10) {
        memcpy(&t->f[k], &vals[k], 8);
      } else if (dt == 10) {
        t->f[k] = half_to_double((uint16_t)vals[k]);
      } else if (dt == 16) {
        uint32_t u = (uint32_t)(uint16_t)vals[k] << 16;
        float fv;
        memcpy(&fv, &u, 4);
        t->f[k] = fv;
      } else {
        int64_t iv = dt == 6 ? (int32_t)vals[k] : (int64_t)vals[k];
        if (dt == 3) iv = (int8_t)vals[k];
        if (dt == 5) iv = (int16_t)vals[k];
        t->i[k] = iv;
        t->f[k] = (double)iv;
      }
    }
    free(vals);
  }
  for (int64_t k = 0; k < n; k++)
    t->f32[k] = (float)t->f[k];
  free(buf);
  return 0;
bad:
  snprintf(why, why_n, "%s", err.message);
  free(buf);
  return -1;
}

/* The test generator stores bfloat16 data as uint16 bit patterns: read
 * them back as bfloat16 when the graph says the value is bfloat16. */
static void fix_bf16(pb_tensor *t, nnd_dtype declared) {
  if (declared != NND_DTYPE_BF16 || t->onnx_type != 4) return;
  for (int64_t k = 0; k < t->numel; k++) {
    uint32_t u = (uint32_t)(uint16_t)t->i[k] << 16;
    float fv;
    memcpy(&fv, &u, 4);
    t->f[k] = fv;
    t->f32[k] = fv;
  }
  t->is_float = true;
  t->onnx_type = 16;
}

static bool file_exists(const char *path) {
  struct stat st;
  return stat(path, &st) == 0;
}

typedef struct variant {
  const char *name;
  nnd_precision precision;
  bool freeze_weights; /* all inputs but the first frozen */
  double rtol, atol;
} variant;

static const variant variants[] = {
    {"reference", NND_PRECISION_REFERENCE, false, 1e-4, 1e-5},
    {"fast", NND_PRECISION_FAST, false, 1e-3, 1e-4},
    {"fast, weights frozen", NND_PRECISION_FAST, true, 1e-3, 1e-4},
};

/* Runs one variant on one data set. Returns a RESULT_*. */
static int run_variant(const nnd_graph *g, const variant *v, pb_tensor *ins, pb_tensor *outs,
                       char *why, size_t why_n) {
  const int n_in = g->n_inputs;
  int32_t *frozen_ids = calloc((size_t)n_in + 1, sizeof *frozen_ids);
  nnd_tensor *frozen = calloc((size_t)n_in + 1, sizeof *frozen);
  nnd_tensor *run_in = calloc((size_t)n_in + 1, sizeof *run_in);
  nnd_tensor *run_out = calloc((size_t)g->n_outputs + 1, sizeof *run_out);
  int n_frozen = 0, n_run = 0, result = RESULT_PASS;
  for (int k = 0; k < n_in; k++) {
    pb_tensor *t = &ins[k];
    nnd_tensor x = {.rank = t->rank};
    memcpy(x.dims, t->dims, sizeof x.dims);
    if (!t->is_float) {
      x.dtype = NND_DTYPE_I64;
      x.data = t->i;
    } else {
      x.dtype = NND_DTYPE_F32;
      x.data = t->f32;
      if (t->onnx_type == 11) {
        x.dtype = NND_DTYPE_F64;
        x.data = t->f;
      }
    }
    if (!t->is_float || (v->freeze_weights && k > 0)) {
      frozen_ids[n_frozen] = g->inputs[k];
      frozen[n_frozen++] = x;
    } else {
      run_in[n_run++] = x;
    }
  }
  nnd_engine_options opt;
  nnd_engine_options_init(&opt);
  opt.precision = v->precision;
  opt.n_frozen = n_frozen;
  opt.frozen_values = frozen_ids;
  opt.frozen_data = frozen;
  if (n_in > 0 && ins[0].rank > 0) opt.batch = ins[0].dims[0];
  nnd_error err = {0};
  nnd_engine *e = NULL;
  nnd_status st = nnd_engine_create(g, &opt, &e, &err);
  if (st == NND_ERR_UNSUPPORTED) {
    snprintf(why, why_n, "%s", err.message);
    result = RESULT_SKIP;
    goto done;
  }
  if (st != NND_OK) {
    /* A batch the model fixes differently: retry with the model's own. */
    nnd_error_clear(&err);
    opt.batch = 0;
    st = nnd_engine_create(g, &opt, &e, &err);
  }
  if (st != NND_OK) {
    snprintf(why, why_n, "%s: create: %s", v->name, err.message);
    result = st == NND_ERR_UNSUPPORTED ? RESULT_SKIP : RESULT_FAIL;
    goto done;
  }
  for (int k = 0; k < g->n_outputs; k++) {
    pb_tensor *t = &outs[k];
    nnd_tensor *y = &run_out[k];
    y->rank = t->rank;
    memcpy(y->dims, t->dims, sizeof y->dims);
    y->dtype = t->is_float ? NND_DTYPE_F64 : NND_DTYPE_I64;
    y->data = calloc((size_t)(t->numel ? t->numel : 1), 8);
  }
  st = nnd_engine_run(e, run_in, n_run, run_out, g->n_outputs, &err);
  if (st != NND_OK) {
    snprintf(why, why_n, "%s: run: %s", v->name, err.message);
    result = RESULT_FAIL;
    goto done;
  }
  for (int k = 0; k < g->n_outputs && result == RESULT_PASS; k++) {
    const pb_tensor *t = &outs[k];
    for (int64_t q = 0; q < t->numel; q++) {
      bool ok;
      double got, want;
      if (t->is_float) {
        got = ((const double *)run_out[k].data)[q];
        want = t->f[q];
        ok = (isnan(want) && isnan(got)) || (isinf(want) && got == want) ||
             fabs(got - want) <= v->atol + v->rtol * fabs(want);
      } else {
        got = (double)((const int64_t *)run_out[k].data)[q];
        want = (double)t->i[q];
        ok = ((const int64_t *)run_out[k].data)[q] == t->i[q];
      }
      if (!ok) {
        snprintf(why, why_n, "%s: output %d ('%s') index %lld: got %.9g, expected %.9g", v->name, k,
                 g->values[g->outputs[k]].name, (long long)q, got, want);
        result = RESULT_FAIL;
        break;
      }
    }
  }
done:
  for (int k = 0; k < g->n_outputs; k++)
    free(run_out[k].data);
  nnd_engine_destroy(e);
  free(frozen_ids);
  free(frozen);
  free(run_in);
  free(run_out);
  return result;
}

static int run_case(const char *dir, char *why, size_t why_n) {
  char path[4096];
  snprintf(path, sizeof path, "%s/model.onnx", dir);
  nnd_error err = {0};
  nnd_graph *g = NULL;
  nnd_status st = nnd_onnx_load(path, &g, &err);
  if (st != NND_OK) {
    /* The reader's business (its own tests cover it); not the engine's. */
    snprintf(why, why_n, "the reader refused it: %s", err.message);
    return RESULT_SKIP;
  }
  int result = RESULT_PASS, sets = 0, variants_passed = 0;
  char skip_why[2048] = "";
  for (int ds = 0; result == RESULT_PASS; ds++) {
    char set[3900];
    snprintf(set, sizeof set, "%s/test_data_set_%d", dir, ds);
    if (!file_exists(set)) break;
    sets++;
    pb_tensor *ins = calloc((size_t)g->n_inputs + 1, sizeof *ins);
    pb_tensor *outs = calloc((size_t)g->n_outputs + 1, sizeof *outs);
    for (int k = 0; k < g->n_inputs && result == RESULT_PASS; k++) {
      snprintf(path, sizeof path, "%s/input_%d.pb", set, k);
      if (load_pb(path, &ins[k], why, why_n) != 0)
        result = RESULT_SKIP;
      else
        fix_bf16(&ins[k], g->values[g->inputs[k]].dtype);
    }
    for (int k = 0; k < g->n_outputs && result == RESULT_PASS; k++) {
      snprintf(path, sizeof path, "%s/output_%d.pb", set, k);
      if (load_pb(path, &outs[k], why, why_n) != 0)
        result = RESULT_SKIP;
      else
        fix_bf16(&outs[k], g->values[g->outputs[k]].dtype);
    }
    /* Every variant that can run must pass; some may be unsupported (a
     * Clip bound fed at run time, say) as long as one runs. */
    for (size_t v = 0; v < sizeof variants / sizeof variants[0] && result == RESULT_PASS; v++) {
      if (variants[v].freeze_weights && g->n_inputs < 2) continue;
      char vwhy[2048] = "";
      int r = run_variant(g, &variants[v], ins, outs, vwhy, sizeof vwhy);
      if (r == RESULT_PASS)
        variants_passed++;
      else if (r == RESULT_SKIP)
        snprintf(skip_why, sizeof skip_why, "%s: %.1900s", variants[v].name, vwhy);
      else {
        snprintf(why, why_n, "%s", vwhy);
        result = RESULT_FAIL;
      }
      if (verbose && r == RESULT_SKIP) printf("  (%s)\n", skip_why);
    }
    for (int k = 0; k < g->n_inputs; k++)
      pb_tensor_free(&ins[k]);
    for (int k = 0; k < g->n_outputs; k++)
      pb_tensor_free(&outs[k]);
    free(ins);
    free(outs);
  }
  if (sets == 0 && result == RESULT_PASS) {
    snprintf(why, why_n, "no test_data_set_0");
    result = RESULT_SKIP;
  } else if (result == RESULT_PASS && variants_passed == 0) {
    snprintf(why, why_n, "%s", skip_why);
    result = RESULT_SKIP;
  }
  nnd_graph_destroy(g);
  return result;
}

int main(int argc, char **argv) {
  int passed = 0, failed = 0, skipped = 0;
  for (int i = 1; i < argc; i++) {
    if (strcmp(argv[i], "-v") == 0) {
      verbose = 1;
      continue;
    }
    const char *dir = argv[i];
    const char *name = strrchr(dir, '/');
    name = name ? name + 1 : dir;
    char why[2048] = "";
    int r = run_case(dir, why, sizeof why);
    if (r == RESULT_PASS) {
      passed++;
      if (verbose) printf("PASS %s\n", name);
    } else if (r == RESULT_SKIP) {
      skipped++;
      printf("SKIP %s: %s\n", name, why);
    } else {
      failed++;
      printf("FAIL %s: %s\n", name, why);
    }
  }
  printf("%d passed, %d failed, %d skipped\n", passed, failed, skipped);
  if (failed) return 1;
  return passed == 0 && skipped > 0 ? 77 : 0;
}
