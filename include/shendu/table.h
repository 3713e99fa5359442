/* shendu/table.h — CSV tables (src/data/csv.c) and what a model learns from
 * one: numeric features and a target column (src/data/tabular.c).
 *
 * A CSV file here has a header row naming every column, fields separated by
 * commas, semicolons or tabs (whichever of the three the header line holds
 * most of, outside quotes), optionally quoted with "..." (a doubled "" is one
 * quote; a quoted field may hold separators and line breaks). A UTF-8 byte
 * order mark is skipped; lines end with LF, CRLF or CR; empty lines are
 * skipped. Every row must have as many fields as the header.
 *
 * Errors name the file and the line (1-based, as an editor shows it) and,
 * for a field, its column's name: "iris.csv: line 7: 3 fields but the header
 * has 5", "wine.csv: line 12, column 'alcohol': 'abc' is not a number".
 *
 * Ownership: an sd_table owns its text; free with sd_table_free. */
#ifndef SHENDU_TABLE_H
#define SHENDU_TABLE_H

#include "base.h"

#ifdef __cplusplus
extern "C" {
#endif

#define SD_TABLE_MAX_COLS 100000

typedef struct sd_table {
    int rows, cols;        /* data rows (the header not counted), columns */
    char sep;              /* ',' ';' or '\t' */
    char *text;            /* every field, unquoted and NUL-terminated, in one block */
    size_t *cell;          /* (rows + 1) * cols offsets into text; row 0 is the header */
    int *line;             /* rows + 1: the file line each row starts on */
    char *name;            /* the file name used in messages */
} sd_table;

/* Read and check a CSV file (limit: 1 GiB). */
int  sd_table_load_csv(const char *path, sd_table *out);
/* The same from memory; `name` is what messages call the data. */
int  sd_table_parse_csv(const char *data, size_t size, const char *name, sd_table *out);
void sd_table_free(sd_table *t);                          /* NULL-safe, leaves *t zeroed */

const char *sd_table_header(const sd_table *t, int col);  /* a column's name */
const char *sd_table_cell(const sd_table *t, int row, int col);   /* row 0..rows-1 */
int  sd_table_find(const sd_table *t, const char *name);  /* the column's index, or -1 */

/* A missing value: an empty field (spaces only) or NA, N/A, NaN, null, ? (any case). */
int  sd_table_missing(const char *s);
/* A number: the whole field (spaces around allowed) is a finite decimal number.
 * Returns 1 and sets *v, or 0. */
int  sd_table_number(const char *s, double *v);

/* What `shendu data` prints about a column. */
typedef struct sd_table_column_info {
    int missing;           /* missing values */
    int numbers;           /* numeric values */
    int texts;             /* other values */
    int first_text_row;    /* the first row holding text (-1: none) */
    double min, max, mean; /* over the numeric values (NaN if none) */
    int distinct;          /* distinct non-missing values, counted up to SD_TABLE_DISTINCT_CAP */
} sd_table_column_info;
#define SD_TABLE_DISTINCT_CAP 1000
int  sd_table_describe(const sd_table *t, int col, sd_table_column_info *info);

/* ---- Features and target: what a classifier or a regression learns from. */
typedef enum sd_task { SD_TASK_AUTO = 0, SD_TASK_CLASSIFY, SD_TASK_REGRESS } sd_task;

typedef struct sd_tabular_opts {
    const char *target;    /* the target column's name (required) */
    sd_task task;          /* AUTO: text target -> classify, numeric -> regress */
    int fill_missing;      /* 1: missing features become NaN (filled later); 0: an error */
    /* Classes to use instead of the target's own distinct values (predicting
     * or evaluating with a model's classes): nclass names; a target value not
     * among them is an error naming it. NULL: the sorted distinct values. */
    const char *const *classes;
    int nclass;
    int no_target;         /* 1 (predicting): only the features; the target column, if there, is left out unread */
} sd_tabular_opts;

typedef struct sd_tabular {
    int n, nfeat;          /* rows, feature columns (every column but the target) */
    float *x;              /* n * nfeat features, row-major; NaN where missing (fill_missing) */
    int task;              /* SD_TASK_CLASSIFY or SD_TASK_REGRESS */
    uint8_t *label;        /* classify: n class indices (NULL when no target) */
    float *value;          /* regress: n target values (NULL when no target) */
    int nclass;            /* classify: the number of classes */
    char **classes;        /* classify: nclass names, sorted (numbers by value) */
    char **features;       /* nfeat feature names in file order */
    int missing;           /* missing feature values (left as NaN) */
} sd_tabular;

/* Split t into features and target. Errors: a target column not in the
 * header (listing the columns), a missing target value, a non-numeric
 * feature or target (regression), a missing feature without fill_missing,
 * more than SD_MAX_CLASSES classes, fewer than 2 classes. */
int  sd_tabular_from_table(const sd_table *t, const sd_tabular_opts *o, sd_tabular *out);
void sd_tabular_free(sd_tabular *d);                      /* NULL-safe */

#ifdef __cplusplus
}
#endif
#endif
