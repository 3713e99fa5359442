/* Features and target from a CSV table (shendu/table.h): every column but the
 * target is a numeric feature; the target is a class (text, or numbers with
 * SD_TASK_CLASSIFY) or a value to regress. */
#define _POSIX_C_SOURCE 200809L
#include "shendu/table.h"
#include "shendu/data.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void sd_tabular_free(sd_tabular *d)
{
    if (!d) return;
    free(d->x);
    free(d->label);
    free(d->value);
    for (int i = 0; d->classes && i < d->nclass; i++) free(d->classes[i]);
    free(d->classes);
    for (int i = 0; d->features && i < d->nfeat; i++) free(d->features[i]);
    free(d->features);
    memset(d, 0, sizeof *d);
}

/* Trimmed copy of a field. */
static char *trimmed(const char *s)
{
    while (*s == ' ' || *s == '\t') s++;
    size_t n = strlen(s);
    while (n && (s[n - 1] == ' ' || s[n - 1] == '\t')) n--;
    char *r = malloc(n + 1);
    if (r) { memcpy(r, s, n); r[n] = 0; }
    return r;
}

/* Class names in order: numbers by value (so "10" after "9"), then text. */
static int cmp_class(const void *a, const void *b)
{
    const char *x = *(char *const *)a, *y = *(char *const *)b;
    double u, v;
    int nx = sd_table_number(x, &u), ny = sd_table_number(y, &v);
    if (nx && ny) return u < v ? -1 : u > v ? 1 : strcmp(x, y);
    if (nx != ny) return nx ? -1 : 1;
    return strcmp(x, y);
}

static int same_class(const char *a, const char *b)
{
    double u, v;
    if (sd_table_number(a, &u) && sd_table_number(b, &v)) return u == v;   /* "1" and "1.0" */
    return !strcmp(a, b);
}

static int find_class(char **classes, int n, const char *s)
{
    for (int i = 0; i < n; i++)
        if (same_class(classes[i], s)) return i;
    return -1;
}

int sd_tabular_from_table(const sd_table *t, const sd_tabular_opts *o, sd_tabular *out)
{
    memset(out, 0, sizeof *out);
    if (!o->target || !*o->target) return sd_error("%s: no target column given (--target COLUMN)", t->name);
    const int tc = sd_table_find(t, o->target);
    if (tc < 0 && !o->no_target) {
        char cols[512];
        size_t k = 0;
        cols[0] = 0;
        for (int c = 0; c < t->cols && k + 4 < sizeof cols; c++)
            k += (size_t)snprintf(cols + k, sizeof cols - k, "%s'%s'", c ? ", " : "", sd_table_header(t, c));
        if (k >= sizeof cols - 4) snprintf(cols + sizeof cols - 5, 5, "...");
        return sd_error("%s: no column named '%s' (the columns are %s)", t->name, o->target, cols);
    }
    if (t->rows == 0) return sd_error("%s: the table has a header but no rows", t->name);
    const int nfeat = t->cols - (tc >= 0);
    if (nfeat < 1) return sd_error("%s: no feature columns besides the target '%s'", t->name, o->target);
    out->n = t->rows;
    out->nfeat = nfeat;
    out->x = malloc((size_t)t->rows * nfeat * sizeof *out->x);
    out->features = calloc((size_t)nfeat, sizeof *out->features);
    if (!out->x || !out->features) goto oom;
    for (int c = 0, f = 0; c < t->cols; c++)
        if (c != tc && !(out->features[f++] = trimmed(sd_table_header(t, c)))) goto oom;
    /* features */
    for (int r = 0; r < t->rows; r++) {
        float *row = out->x + (size_t)r * nfeat;
        for (int c = 0, f = 0; c < t->cols; c++) {
            if (c == tc) continue;
            const char *s = sd_table_cell(t, r, c);
            double v;
            if (sd_table_missing(s)) {
                if (!o->fill_missing) {
                    sd_error("%s: line %d, column '%s': missing value (give --fill mean to replace missing "
                             "values with the column's mean)", t->name, t->line[r + 1], sd_table_header(t, c));
                    goto fail;
                }
                row[f++] = NAN;
                out->missing++;
            } else if (sd_table_number(s, &v)) {
                row[f++] = (float)v;
            } else {
                sd_error("%s: line %d, column '%s': '%.40s' is not a number (feature columns must be numeric)",
                         t->name, t->line[r + 1], sd_table_header(t, c), s);
                goto fail;
            }
        }
    }
    if (o->no_target) {   /* predicting: the target column, if there, is left out unread */
        out->task = o->task == SD_TASK_AUTO ? SD_TASK_CLASSIFY : (int)o->task;
        return 0;
    }
    /* the task */
    int numeric = 1;
    if (tc >= 0)
        for (int r = 0; r < t->rows; r++) {
            const char *s = sd_table_cell(t, r, tc);
            double v;
            if (sd_table_missing(s)) {
                sd_error("%s: line %d, column '%s': the target is missing", t->name, t->line[r + 1], o->target);
                goto fail;
            }
            if (!sd_table_number(s, &v)) numeric = 0;
        }
    out->task = o->task != SD_TASK_AUTO ? (int)o->task : (o->classes || !numeric) ? SD_TASK_CLASSIFY : SD_TASK_REGRESS;
    if (out->task == SD_TASK_REGRESS) {
        if (!numeric) {
            for (int r = 0; r < t->rows; r++) {
                double v;
                if (!sd_table_number(sd_table_cell(t, r, tc), &v)) {
                    sd_error("%s: line %d, column '%s': '%.40s' is not a number (a regression target must be "
                             "numeric; --task classify treats the values as classes)", t->name, t->line[r + 1],
                             o->target, sd_table_cell(t, r, tc));
                    goto fail;
                }
            }
        }
        if (tc < 0) return 0;
        if (!(out->value = malloc((size_t)t->rows * sizeof *out->value))) goto oom;
        for (int r = 0; r < t->rows; r++) {
            double v = 0;
            sd_table_number(sd_table_cell(t, r, tc), &v);
            out->value[r] = (float)v;
        }
        return 0;
    }
    /* classes: given, or the distinct values sorted */
    if (o->classes) {
        if (o->nclass < 1 || o->nclass > SD_MAX_CLASSES) { sd_error("bad class list (%d classes)", o->nclass); goto fail; }
        if (!(out->classes = calloc((size_t)o->nclass, sizeof *out->classes))) goto oom;
        out->nclass = o->nclass;
        for (int i = 0; i < o->nclass; i++)
            if (!(out->classes[i] = strdup(o->classes[i]))) goto oom;
    } else {
        char **all = calloc((size_t)t->rows, sizeof *all);
        if (!all) goto oom;
        int n = 0, k = 0;
        for (; n < t->rows; n++)
            if (!(all[n] = trimmed(sd_table_cell(t, n, tc)))) break;
        if (n == t->rows) {
            qsort(all, (size_t)n, sizeof *all, cmp_class);
            for (int i = 0; i < n; i++) {
                if (k && same_class(all[k - 1], all[i])) { free(all[i]); continue; }
                all[k++] = all[i];
            }
        }
        if (n < t->rows || k > SD_MAX_CLASSES || k < 2) {
            if (n < t->rows) sd_error("out of memory reading %s", t->name);
            else if (k > SD_MAX_CLASSES)
                sd_error("%s: the target '%s' has more than %d distinct values: too many classes%s", t->name,
                         o->target, SD_MAX_CLASSES,
                         numeric ? " (a numeric target is a regression unless --task classify)" : "");
            else
                sd_error("%s: the target '%s' has only one value ('%s'): nothing to tell apart", t->name,
                         o->target, all[0]);
            for (int i = 0; i < (n < t->rows ? n : k); i++) free(all[i]);
            free(all);
            goto fail;
        }
        out->classes = all;   /* the k distinct names; the rest of the block is unused */
        out->nclass = k;
        for (int i = 0; i < k; i++)
            if (strchr(out->classes[i], ',')) {
                sd_error("%s: class '%s' of column '%s' holds a comma, which model files use between class names",
                         t->name, out->classes[i], o->target);
                goto fail;
            }
    }
    if (tc < 0) return 0;
    if (!(out->label = malloc((size_t)t->rows))) goto oom;
    for (int r = 0; r < t->rows; r++) {
        char *s = trimmed(sd_table_cell(t, r, tc));
        if (!s) goto oom;
        int k = find_class(out->classes, out->nclass, s);
        if (k < 0) {
            sd_error("%s: line %d, column '%s': '%.40s' is not one of the model's %d classes", t->name,
                     t->line[r + 1], o->target, s, out->nclass);
            free(s);
            goto fail;
        }
        free(s);
        out->label[r] = (uint8_t)k;
    }
    return 0;
oom:
    sd_error("out of memory reading %s", t->name);
fail:
    sd_tabular_free(out);
    return -1;
}
