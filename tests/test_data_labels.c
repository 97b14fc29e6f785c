/* Label files: ImageNet-style and CSV (with and without header), and clear
 * errors with line numbers for every kind of bad line. */
#include <stdlib.h>

#include "data/data_internal.h"
#include "nnd_test.h"

static nnd_status parse(const char *text, const char *name, nnd__labels *out, nnd_error *err) {
  return nnd__labels_parse(text, strlen(text), name, out, err);
}

static int test_imagenet_style(void) {
  nnd__labels l;
  nnd_error err = {0};
  ASSERT_EQ_INT(NND_OK, parse("ILSVRC2012_val_00000001.JPEG 65\n"
                              "# a comment\n"
                              "\n"
                              "n01440764/img 2.jpg\t0\n"
                              "  ./b.png   999  \n"
                              "c.png 2147483647",
                              "val.txt", &l, &err));
  ASSERT_EQ_INT(4, l.count);
  ASSERT_EQ_INT(0, l.csv);
  const nnd__label_entry *e = nnd__labels_find(&l, "ILSVRC2012_val_00000001.JPEG");
  ASSERT_TRUE(e);
  ASSERT_EQ_INT(65, e->label);
  ASSERT_EQ_INT(1, e->line);
  e = nnd__labels_find(&l, "n01440764/img 2.jpg"); /* spaces inside the path */
  ASSERT_TRUE(e);
  ASSERT_EQ_INT(0, e->label);
  ASSERT_EQ_INT(4, e->line);
  e = nnd__labels_find(&l, "b.png"); /* "./" dropped */
  ASSERT_TRUE(e);
  ASSERT_EQ_INT(999, e->label);
  ASSERT_EQ_INT(2147483647, nnd__labels_find(&l, "c.png")->label);
  ASSERT_TRUE(nnd__labels_find(&l, "d.png") == NULL);
  nnd__labels_free(&l);
  return 0;
}

static int test_csv(void) {
  nnd__labels l;
  nnd_error err = {0};
  /* header, BOM, CRLF, quoted name with a comma and a doubled quote */
  ASSERT_EQ_INT(NND_OK, parse("\xEF\xBB\xBF"
                              "file,label\r\n"
                              "a.jpg,1\r\n"
                              "\"b,\"\"x\"\".png\", 7\r\n"
                              "dir/c.png ,3\r\n",
                              "labels.csv", &l, &err));
  ASSERT_EQ_INT(3, l.count);
  ASSERT_EQ_INT(1, l.csv);
  ASSERT_EQ_INT(1, nnd__labels_find(&l, "a.jpg")->label);
  ASSERT_EQ_INT(7, nnd__labels_find(&l, "b,\"x\".png")->label);
  ASSERT_EQ_INT(3, nnd__labels_find(&l, "dir/c.png")->label);
  ASSERT_EQ_INT(2, nnd__labels_find(&l, "a.jpg")->line);
  nnd__labels_free(&l);
  /* no header; CSV recognised by the comma even in a .txt */
  ASSERT_EQ_INT(NND_OK, parse("a.jpg,1\nb.jpg,0\n", "labels.txt", &l, &err));
  ASSERT_EQ_INT(2, l.count);
  ASSERT_EQ_INT(1, l.csv);
  nnd__labels_free(&l);
  return 0;
}

static int expect_error(const char *text, const char *name, const char *msg) {
  nnd__labels l;
  nnd_error err = {0};
  nnd_status st = parse(text, name, &l, &err);
  if (st != NND_ERR_FORMAT || !strstr(err.message, msg)) {
    fprintf(stderr, "text \"%s\": got %s \"%s\", wanted \"%s\"\n", text, nnd_status_str(st),
            err.message, msg);
    return 1;
  }
  if (l.count != 0 || l.entries != NULL) return 1;
  return 0;
}

static int test_bad_lines(void) {
  int f = 0;
  f |= expect_error("a.jpg 1\nb.jpg\n", "l.txt", "l.txt:2: expected 'path label'");
  f |= expect_error("a.jpg 1\nb.jpg cat\n", "l.txt",
                    "l.txt:2: label 'cat' is not a class index (a non-negative integer)");
  f |= expect_error("a.jpg -1\n", "l.txt", "l.txt:1: label '-1' is not a class index");
  f |= expect_error("a.jpg 2147483648\n", "l.txt", "l.txt:1: label '2147483648'");
  f |= expect_error("a.jpg 1.5\n", "l.txt", "l.txt:1: label '1.5'");
  f |= expect_error("\n\na.jpg 1\n\nb.jpg 2\na.jpg 3\n", "l.txt",
                    "l.txt:6: 'a.jpg' is labelled twice (also on line 3)");
  f |= expect_error("a.jpg 1\n./a.jpg 3\n", "l.txt", "'a.jpg' is labelled twice");
  f |= expect_error("", "l.txt", "l.txt: no labels in the file");
  f |= expect_error("# only comments\n\n", "l.txt", "no labels");
  f |= expect_error("file,label\na.jpg,1\nb.jpg,dog\n", "l.csv",
                    "l.csv:3: label 'dog' is not a class index");
  f |= expect_error("a.jpg,1,2\n", "l.csv", "l.csv:1: expected 2 fields 'file,label', found more");
  f |=
      expect_error("a.jpg,1\nb.jpg 2\n", "l.csv", "l.csv:2: expected 'file,label', found no comma");
  f |= expect_error("\"a.jpg,1\n", "l.csv", "l.csv:1: bad quoting");
  f |= expect_error("a.jpg,1\n,2\n", "l.csv", "l.csv:2: empty file name");
  return f;
}

static int test_binary_file(void) {
  nnd__labels l;
  nnd_error err = {0};
  const char bin[] = "a.jpg 1\n\0\x01\x02";
  ASSERT_EQ_INT(NND_ERR_FORMAT, nnd__labels_parse(bin, sizeof bin, "l.bin", &l, &err));
  ASSERT_CONTAINS(err.message, "not a text file");
  return 0;
}

NND_TEST_MAIN(NND_TEST(test_imagenet_style), NND_TEST(test_csv), NND_TEST(test_bad_lines),
              NND_TEST(test_binary_file))
