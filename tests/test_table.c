/* CSV tables: the reader's dialects (comma, semicolon, quotes, BOM, CRLF),
 * every bad input the issue names as an error with its line and column, and
 * the features/target split (classes, regression, missing values). */
#include "check.h"
#include "shendu.h"

#include <math.h>
#include <string.h>

static int parse(const char *s, sd_table *t) { return sd_table_parse_csv(s, strlen(s), "t.csv", t); }

static int error_has(const char *what)
{
    int ok = strstr(sd_last_error(), what) != NULL;
    if (!ok) fprintf(stderr, "  message: %s (expected '%s' in it)\n", sd_last_error(), what);
    return ok;
}

static void test_dialects(void)
{
    sd_table t;
    CHECK(parse("a,b,label\n1,2,x\n3,4,y\n", &t) == 0);
    CHECK(t.rows == 2 && t.cols == 3 && t.sep == ',');
    CHECK(!strcmp(sd_table_header(&t, 2), "label") && !strcmp(sd_table_cell(&t, 1, 0), "3"));
    CHECK(sd_table_find(&t, "b") == 1 && sd_table_find(&t, "c") == -1);
    sd_table_free(&t);
    /* BOM, semicolons, CRLF, a quoted field holding the separator and a comma */
    CHECK(parse("\xef\xbb\xbf" "x;y;name\r\n1,5;2;\"a;b, c\"\r\n3;4;\"say \"\"hi\"\"\"\r\n\r\n", &t) == 0);
    CHECK(t.rows == 2 && t.cols == 3 && t.sep == ';');
    CHECK(!strcmp(sd_table_header(&t, 0), "x"));   /* the BOM is not part of the first name */
    CHECK(!strcmp(sd_table_cell(&t, 0, 2), "a;b, c"));
    CHECK(!strcmp(sd_table_cell(&t, 1, 2), "say \"hi\""));
    sd_table_free(&t);
    /* quoted commas in a comma file; a quoted line break counts as a line; no final newline */
    CHECK(parse("v,name\n1,\"Smith, J\"\n2,\"two\nlines\"\n3,z", &t) == 0);
    CHECK(t.rows == 3 && !strcmp(sd_table_cell(&t, 0, 1), "Smith, J") && !strcmp(sd_table_cell(&t, 1, 1), "two\nlines"));
    CHECK(t.line[3] == 5);   /* row 3 starts on file line 5 (row 2 spans lines 3-4) */
    sd_table_free(&t);
    /* CR-only line ends, tabs */
    CHECK(parse("a\tb\r1\t2\r", &t) == 0 && t.rows == 1 && t.sep == '\t' && !strcmp(sd_table_cell(&t, 0, 1), "2"));
    sd_table_free(&t);
}

static void test_bad_tables(void)
{
    sd_table t;
    CHECK(parse("a,b,c\n1,2,3\n4,5\n", &t) == -1 && error_has("t.csv: line 3: 2 fields but the header has 3"));
    CHECK(parse("a,b\n1,2,3\n", &t) == -1 && error_has("line 2: 3 fields"));
    CHECK(parse("a,b\n1,\"2\n", &t) == -1 && error_has("not closed") && error_has("opens on line 2"));
    CHECK(parse("a,b\n1,\"2\"x\n", &t) == -1 && error_has("after a closing quote"));
    CHECK(parse("a,b\n1,2\"3\n", &t) == -1 && error_has("quote inside an unquoted field"));
    CHECK(parse("", &t) == -1 && error_has("empty"));
    CHECK(parse("\n\n", &t) == -1 && error_has("empty"));
    CHECK(parse("a,,c\n1,2,3\n", &t) == -1 && error_has("column 2 has no name"));
    CHECK(parse("a,b,a\n1,2,3\n", &t) == -1 && error_has("columns 1 and 3 are both named 'a'"));
    CHECK(sd_table_parse_csv("a,b\n1\0,2\n", 9, "t.csv", &t) == -1 && error_has("NUL"));
    CHECK(sd_table_load_csv("/nonexistent/x.csv", &t) == -1 && error_has("/nonexistent/x.csv"));
    CHECK(t.rows == 0 && t.text == NULL);
}

static void test_cells(void)
{
    double v;
    CHECK(sd_table_number(" 1.5e2 ", &v) && v == 150.0);
    CHECK(sd_table_number("-3", &v) && v == -3.0);
    CHECK(!sd_table_number("abc", &v) && !sd_table_number("inf", &v) && !sd_table_number("nan", &v));
    CHECK(!sd_table_number("0x10", &v) && !sd_table_number("", &v) && !sd_table_number("1,5", &v));
    CHECK(sd_table_missing("") && sd_table_missing("  ") && sd_table_missing("NA") && sd_table_missing("nan"));
    CHECK(sd_table_missing("?") && sd_table_missing("NULL") && !sd_table_missing("0"));
}

static void test_tabular(void)
{
    sd_table t;
    sd_tabular d;
    /* a text target: classes sorted; numeric features */
    CHECK(parse("f1,f2,species\n1,2,b\n3,4,a\n5,6,b\n", &t) == 0);
    CHECK(sd_tabular_from_table(&t, &(sd_tabular_opts){ .target = "species" }, &d) == 0);
    CHECK(d.n == 3 && d.nfeat == 2 && d.task == SD_TASK_CLASSIFY && d.nclass == 2);
    CHECK(!strcmp(d.classes[0], "a") && !strcmp(d.classes[1], "b"));
    CHECK(d.label[0] == 1 && d.label[1] == 0 && d.x[2] == 3.0f && !strcmp(d.features[1], "f2"));
    sd_tabular_free(&d);
    /* the target does not exist: the message lists the columns */
    CHECK(sd_tabular_from_table(&t, &(sd_tabular_opts){ .target = "class" }, &d) == -1 &&
          error_has("no column named 'class'") && error_has("'f1', 'f2', 'species'"));
    sd_table_free(&t);
    /* a numeric target: regression unless told to classify; classes by value */
    CHECK(parse("x,y\n1,10\n2,9\n3,10\n4,2\n", &t) == 0);
    CHECK(sd_tabular_from_table(&t, &(sd_tabular_opts){ .target = "y" }, &d) == 0);
    CHECK(d.task == SD_TASK_REGRESS && d.value && d.value[1] == 9.0f && !d.label);
    sd_tabular_free(&d);
    CHECK(sd_tabular_from_table(&t, &(sd_tabular_opts){ .target = "y", .task = SD_TASK_CLASSIFY }, &d) == 0);
    CHECK(d.nclass == 3 && !strcmp(d.classes[0], "2") && !strcmp(d.classes[2], "10") && d.label[0] == 2);
    sd_tabular_free(&d);
    sd_table_free(&t);
    /* a non-numeric feature: row and column named */
    CHECK(parse("a,b,y\n1,2,p\n3,abc,q\n", &t) == 0);
    CHECK(sd_tabular_from_table(&t, &(sd_tabular_opts){ .target = "y" }, &d) == -1 &&
          error_has("t.csv: line 3, column 'b': 'abc' is not a number"));
    sd_table_free(&t);
    /* missing values: an error, or NaN to fill with --fill mean; a missing target always an error */
    CHECK(parse("a,b,y\n1,,p\n3,4,q\n", &t) == 0);
    CHECK(sd_tabular_from_table(&t, &(sd_tabular_opts){ .target = "y" }, &d) == -1 &&
          error_has("line 2, column 'b': missing value") && error_has("--fill mean"));
    CHECK(sd_tabular_from_table(&t, &(sd_tabular_opts){ .target = "y", .fill_missing = 1 }, &d) == 0);
    CHECK(d.missing == 1 && isnan(d.x[1]) && d.x[2] == 3.0f);
    sd_tabular_free(&d);
    sd_table_free(&t);
    CHECK(parse("a,y\n1,p\n2,\n", &t) == 0);
    CHECK(sd_tabular_from_table(&t, &(sd_tabular_opts){ .target = "y", .fill_missing = 1 }, &d) == -1 &&
          error_has("line 3, column 'y': the target is missing"));
    sd_table_free(&t);
    /* one class only; a model's classes given (eval/predict): unknown values are errors */
    CHECK(parse("a,y\n1,p\n2,p\n", &t) == 0);
    CHECK(sd_tabular_from_table(&t, &(sd_tabular_opts){ .target = "y" }, &d) == -1 && error_has("only one value"));
    const char *known[] = { "p", "q" };
    CHECK(sd_tabular_from_table(&t, &(sd_tabular_opts){ .target = "y", .classes = known, .nclass = 2 }, &d) == 0);
    CHECK(d.nclass == 2 && d.label[0] == 0);
    sd_tabular_free(&d);
    const char *other[] = { "q", "r" };
    CHECK(sd_tabular_from_table(&t, &(sd_tabular_opts){ .target = "y", .classes = other, .nclass = 2 }, &d) == -1 &&
          error_has("'p' is not one of the model's 2 classes"));
    sd_table_free(&t);
    /* describe */
    CHECK(parse("a,b\n1,x\n,y\n5,x\n", &t) == 0);
    sd_table_column_info ci;
    CHECK(sd_table_describe(&t, 0, &ci) == 0 && ci.missing == 1 && ci.numbers == 2 && ci.min == 1 && ci.max == 5);
    CHECK(sd_table_describe(&t, 1, &ci) == 0 && ci.texts == 3 && ci.distinct == 2 && ci.first_text_row == 0);
    sd_table_free(&t);
}

int main(void)
{
    test_dialects();
    test_bad_tables();
    test_cells();
    test_tabular();
    return check_done("test_table");
}
