/* The terminal-safe text sanitiser (src/util/safe_text.c), the error line
 * built from it (nnd_error_set), and the JSON writer's UTF-8 repair
 * (src/report/json_out.c). */
#include <json-c/json.h>
#include <stdarg.h>
#include <stdlib.h>
#include <unistd.h>

#include "nnd_test.h"
#include "nndiff/report.h"
#include "nndiff/status.h"
#include "util/safe_text.h"

static const char *safe(const char *s) {
  static char buf[512];
  nnd__safe_copy(buf, sizeof buf, s, strlen(s));
  return buf;
}

static int test_escapes(void) {
  ASSERT_STR_EQ("plain /a/b.onnx", safe("plain /a/b.onnx"));
  ASSERT_STR_EQ("a\\nb\\x1b[31m", safe("a\nb\x1b[31m"));
  ASSERT_STR_EQ("\\t\\r\\x01\\x07\\x7f", safe("\t\r\x01\a\x7f"));
  /* valid UTF-8 stays, C1 controls and bidi/separator controls do not */
  ASSERT_STR_EQ("caf\xc3\xa9 \xe2\x89\x99 \xf0\x9f\x98\x80",
                safe("caf\xc3\xa9 \xe2\x89\x99 \xf0\x9f\x98\x80"));
  ASSERT_STR_EQ("\\u009b31m", safe("\xc2\x9b"
                                   "31m"));
  ASSERT_STR_EQ("x\\u202ey\\u2066\\u2028", safe("x\xe2\x80\xaey\xe2\x81\xa6\xe2\x80\xa8"));
  /* bytes outside valid sequences, one escape each */
  ASSERT_STR_EQ("\\xff\\xfe", safe("\xff\xfe"));
  ASSERT_STR_EQ("\\xc0\\xaf", safe("\xc0\xaf"));                   /* overlong '/' */
  ASSERT_STR_EQ("\\xed\\xa0\\x80", safe("\xed\xa0\x80"));          /* surrogate */
  ASSERT_STR_EQ("\\xf4\\x90\\x80\\x80", safe("\xf4\x90\x80\x80")); /* past U+10FFFF */
  ASSERT_STR_EQ("ab\\xe2", safe("ab\xe2"));                        /* truncated sequence */
  ASSERT_STR_EQ("\\xe2(", safe("\xe2("));
  /* idempotent: a backslash is not escaped */
  const char *once = "a\\nb\\x1b[31m";
  ASSERT_STR_EQ(once, safe(once));
  ASSERT_TRUE(nnd__safe_is_clean(once, strlen(once)));
  ASSERT_TRUE(!nnd__safe_is_clean("a\nb", 3));
  ASSERT_EQ_INT(strlen("a\\nb\\x1b[31m"), nnd__safe_len("a\nb\x1b[31m", 8));
  return 0;
}

static int test_copy_cuts_between_escapes(void) {
  char buf[6];
  /* "ab\x1b" -> "ab" + 4-byte escape: only "ab" fits in 5 bytes */
  ASSERT_EQ_INT(2, nnd__safe_copy(buf, sizeof buf, "ab\x1b", 3));
  ASSERT_STR_EQ("ab", buf);
  ASSERT_EQ_INT(2, nnd__safe_copy(buf, 4, "\xc3\xa9\xc3\xa9", 4)); /* one "é", then no room */
  ASSERT_STR_EQ("\xc3\xa9", buf);
  ASSERT_EQ_INT(0, nnd__safe_copy(buf, 1, "abc", 3));
  ASSERT_STR_EQ("", buf);
  return 0;
}

static int test_error_line(void) {
  nnd_error err = {0};
  nnd_error_set(&err, NND_ERR_FORMAT, "%s: node '%s' (%s): bad value %d", "m\xff.onnx", "a\nb",
                "Op\x1b[2J", -3);
  ASSERT_STR_EQ("m\\xff.onnx: node 'a\\nb' (Op\\x1b[2J): bad value -3", err.message);
  /* a huge name is shortened, the problem after it survives */
  size_t n = 5u << 20;
  char *huge = malloc(n + 1);
  ASSERT_TRUE(huge);
  memset(huge, 'x', n);
  huge[n] = 0;
  huge[7] = '\n';
  nnd_error_clear(&err);
  nnd_error_set(&err, NND_ERR_FORMAT,
                "%s: tensor '%s' is defined twice (%zu bytes, %lld, %.2f, %c%%)", "model.onnx",
                huge, (size_t)12, (long long)-5, 0.5, 'z');
  free(huge);
  ASSERT_TRUE(strlen(err.message) < sizeof err.message);
  ASSERT_TRUE(strncmp(err.message, "model.onnx: tensor 'xxxxxxx\\nxxx", 32) == 0);
  ASSERT_CONTAINS(err.message, "...' is defined twice (12 bytes, -5, 0.50, z%)");
  ASSERT_TRUE(!strchr(err.message, '\n'));
  /* every conversion formats as printf does */
  nnd_error_clear(&err);
  char want[256];
  snprintf(want, sizeof want, "%5d|%-4s|%x|%lu|%08.3f|%e|%g|%hhd|%jd|%%|%.3s|%*d", 42, "ab", 255u,
           (unsigned long)7, 3.14159, 1e-9, 2.5, (signed char)-1, (intmax_t)9, "abcdef", 4, 7);
  nnd_error_set(&err, NND_ERR_FORMAT, "%5d|%-4s|%x|%lu|%08.3f|%e|%g|%hhd|%jd|%%|%.3s|%*d", 42, "ab",
                255u, (unsigned long)7, 3.14159, 1e-9, 2.5, (signed char)-1, (intmax_t)9, "abcdef",
                4, 7);
  ASSERT_STR_EQ(want, err.message);
  return 0;
}

static int test_fprintf_safe(void) {
  char *text = NULL;
  size_t len = 0;
  FILE *f = open_memstream(&text, &len);
  ASSERT_TRUE(f);
  nnd__fprintf_safe(f, "[%-6s][%6s] %d\n", "a\x1b", "\xff", 5);
  nnd__fputs_safe("x\ny", f);
  nnd__fwrite_safe("p\rq!", 3, f);
  fclose(f);
  /* widths count what is shown */
  ASSERT_STR_EQ("[a\\x1b ][  \\xff] 5\nx\\nyp\\rq", text);
  free(text);
  return 0;
}

static int test_json_always_utf8(void) {
  char dir[] = "/tmp/nnd_test_json.XXXXXX", path[256];
  ASSERT_TRUE(mkdtemp(dir));
  snprintf(path, sizeof path, "%s/r.json", dir);
  json_object *o = json_object_new_object();
  json_object_object_add(o, "name", json_object_new_string("a\nb\x1b[31m"));
  json_object_object_add(o, "file", json_object_new_string("caf\xe9\xff.jpg"));
  json_object_object_add(o, "bidi", json_object_new_string("x\xe2\x80\xaey \xc2\x9b \x7f"));
  json_object_object_add(o, "utf8", json_object_new_string("caf\xc3\xa9"));
  json_object_object_add(o, "k\xfe", json_object_new_int(1));
  nnd_error err = {0};
  ASSERT_EQ_INT(NND_OK, nnd_report_write_json(path, o, &err));
  json_object_put(o);
  FILE *f = fopen(path, "rb");
  ASSERT_TRUE(f);
  char buf[1024];
  size_t n = fread(buf, 1, sizeof buf - 1, f);
  fclose(f);
  buf[n] = 0;
  /* valid UTF-8 with nothing a terminal obeys; it parses; escapes decode back */
  for (size_t i = 0; i < n;) {
    uint32_t cp;
    size_t k = nnd__utf8_decode((const unsigned char *)buf + i, n - i, &cp);
    ASSERT_TRUE(k > 0);
    ASSERT_TRUE(cp == '\n' || !nnd__cp_needs_escape(cp));
    i += k;
  }
  ASSERT_CONTAINS(buf, "\"caf\xc3\xa9\"");
  ASSERT_CONTAINS(buf, "\"caf\\\\xe9\\\\xff.jpg\"");
  ASSERT_CONTAINS(buf, "\"k\\\\xfe\"");
  json_object *back = json_tokener_parse(buf);
  ASSERT_TRUE(back);
  json_object *v;
  ASSERT_TRUE(json_object_object_get_ex(back, "name", &v));
  ASSERT_STR_EQ("a\nb\x1b[31m", json_object_get_string(v));
  ASSERT_TRUE(json_object_object_get_ex(back, "file", &v));
  ASSERT_STR_EQ("caf\\xe9\\xff.jpg", json_object_get_string(v));
  ASSERT_TRUE(json_object_object_get_ex(back, "bidi", &v));
  ASSERT_STR_EQ("x\xe2\x80\xaey \xc2\x9b \x7f", json_object_get_string(v));
  json_object_put(back);
  unlink(path);
  rmdir(dir);
  return 0;
}

NND_TEST_MAIN(NND_TEST(test_escapes), NND_TEST(test_copy_cuts_between_escapes),
              NND_TEST(test_error_line), NND_TEST(test_fprintf_safe),
              NND_TEST(test_json_always_utf8))
