/* CSV tables: a header row, then rows of as many fields (shendu/table.h).
 *
 * One pass over the bytes finds the fields: each is copied, unquoted, into
 * one text block (never longer than the input, so it is allocated once), and
 * its offset appended to a growing array. Rows are checked against the
 * header's width as they end. */
#define _POSIX_C_SOURCE 200809L
#include "shendu/table.h"

#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

#define MAX_FILE ((size_t)1 << 30)

void sd_table_free(sd_table *t)
{
    if (!t) return;
    free(t->text);
    free(t->cell);
    free(t->line);
    free(t->name);
    memset(t, 0, sizeof *t);
}

/* The separator: the most frequent of , ; TAB on the first line, outside quotes (',' if none). */
static char guess_sep(const char *p, const char *end)
{
    int n[3] = { 0, 0, 0 }, quoted = 0;
    for (; p < end && (quoted || (*p != '\n' && *p != '\r')); p++) {
        if (*p == '"') quoted = !quoted;
        else if (!quoted) n[0] += *p == ',', n[1] += *p == ';', n[2] += *p == '\t';
    }
    if (n[1] > n[0] && n[1] >= n[2]) return ';';
    if (n[2] > n[0] && n[2] > n[1]) return '\t';
    return ',';
}

typedef struct growing { size_t *off; int *line; size_t n, cap, rows, rcap; } growing;

static int push_cell(growing *g, size_t off)
{
    if (g->n == g->cap) {
        size_t cap = g->cap ? 2 * g->cap : 1024;
        size_t *p = realloc(g->off, cap * sizeof *p);
        if (!p) return sd_error("out of memory reading a table");
        g->off = p;
        g->cap = cap;
    }
    g->off[g->n++] = off;
    return 0;
}

static int push_row(growing *g, int line)
{
    if (g->rows == g->rcap) {
        size_t cap = g->rcap ? 2 * g->rcap : 256;
        int *p = realloc(g->line, cap * sizeof *p);
        if (!p) return sd_error("out of memory reading a table");
        g->line = p;
        g->rcap = cap;
    }
    g->line[g->rows++] = line;
    return 0;
}

int sd_table_parse_csv(const char *data, size_t size, const char *name, sd_table *out)
{
    memset(out, 0, sizeof *out);
    if (!name) name = "table";
    if (size > MAX_FILE) return sd_error("%s: larger than 1 GiB", name);
    const char *p = data, *end = data + size;
    if (size >= 3 && (unsigned char)p[0] == 0xEF && (unsigned char)p[1] == 0xBB && (unsigned char)p[2] == 0xBF)
        p += 3;   /* UTF-8 byte order mark */
    if (memchr(p, 0, (size_t)(end - p))) return sd_error("%s: holds NUL bytes (not a text file)", name);
    growing g = { 0 };
    char *text = malloc(size + 1);
    out->name = strdup(name);
    if (!text || !out->name) { free(text); free(out->name); out->name = NULL; return sd_error("out of memory"); }
    const char sep = guess_sep(p, end);
    size_t t = 0;             /* write position in text */
    int line = 1, cols = 0, field = 0, rc = 0;
    while (p < end) {
        /* skip empty lines (and whitespace-only ones) between rows */
        const char *q = p;
        while (q < end && (*q == ' ' || *q == '\t') && sep != '\t') q++;
        if (q < end && (*q == '\n' || *q == '\r')) {
            p = q + (*q == '\r' && q + 1 < end && q[1] == '\n' ? 2 : 1);
            line++;
            continue;
        }
        if (q == end) break;
        const int row_line = line;
        if ((rc = push_row(&g, row_line))) goto done;
        field = 0;
        for (;;) {   /* one field per turn, until the row's line ends */
            if ((rc = push_cell(&g, t))) goto done;
            field++;
            while (p < end && *p == ' ' && sep != ' ') p++;   /* spaces before an opening quote */
            if (p < end && *p == '"') {
                const int open_line = line;
                p++;
                for (;;) {
                    if (p == end) {
                        rc = sd_error("%s: line %d: a quoted field is not closed (its quote opens on line %d)",
                                      name, line, open_line);
                        goto done;
                    }
                    if (*p == '"') {
                        if (p + 1 < end && p[1] == '"') { text[t++] = '"'; p += 2; continue; }
                        p++;
                        break;
                    }
                    if (*p == '\n' || (*p == '\r' && !(p + 1 < end && p[1] == '\n'))) line++;
                    text[t++] = *p++;
                }
                while (p < end && (*p == ' ' || *p == '\t') && *p != sep) p++;
                if (p < end && *p != sep && *p != '\n' && *p != '\r') {
                    rc = sd_error("%s: line %d, field %d: unexpected '%c' after a closing quote", name, line,
                                  field, *p);
                    goto done;
                }
            } else {
                while (p < end && *p != sep && *p != '\n' && *p != '\r') {
                    if (*p == '"') {
                        rc = sd_error("%s: line %d, field %d: a quote inside an unquoted field (quote the "
                                      "whole field and double the quote)", name, line, field);
                        goto done;
                    }
                    text[t++] = *p++;
                }
            }
            text[t++] = 0;
            if (p < end && *p == sep) { p++; continue; }
            break;   /* end of line or of data */
        }
        if (p < end) {   /* the line break */
            p += *p == '\r' && p + 1 < end && p[1] == '\n' ? 2 : 1;
            line++;
        }
        if (g.rows == 1) {
            cols = field;
            if (cols > SD_TABLE_MAX_COLS) { rc = sd_error("%s: %d columns (at most %d)", name, cols, SD_TABLE_MAX_COLS); goto done; }
        } else if (field != cols) {
            rc = sd_error("%s: line %d: %d field%s but the header has %d", name, row_line, field,
                          field == 1 ? "" : "s", cols);
            goto done;
        }
    }
    if (g.rows == 0) { rc = sd_error("%s: empty (a CSV table needs a header row)", name); goto done; }
    for (int c = 0; c < cols; c++) {
        const char *h = text + g.off[c];
        while (*h == ' ') h++;
        if (!*h) { rc = sd_error("%s: line %d: column %d has no name in the header row", name, g.line[0], c + 1); goto done; }
        for (int k = 0; k < c; k++)
            if (!strcmp(text + g.off[k], text + g.off[c])) {
                rc = sd_error("%s: columns %d and %d are both named '%s'", name, k + 1, c + 1, text + g.off[c]);
                goto done;
            }
    }
    if ((g.rows - 1) > (size_t)1 << 30) { rc = sd_error("%s: too many rows", name); goto done; }
    out->rows = (int)(g.rows - 1);
    out->cols = cols;
    out->sep = sep;
    out->text = text;
    out->cell = g.off;
    out->line = g.line;
    return 0;
done:
    free(text);
    free(g.off);
    free(g.line);
    free(out->name);
    memset(out, 0, sizeof *out);
    return rc;
}

int sd_table_load_csv(const char *path, sd_table *out)
{
    memset(out, 0, sizeof *out);
    struct stat st;
    if (stat(path, &st)) return sd_error("%s: %s", path, strerror(errno));
    if (S_ISDIR(st.st_mode)) return sd_error("%s: is a directory, not a CSV file", path);
    FILE *f = fopen(path, "rb");
    if (!f) return sd_error("%s: %s", path, strerror(errno));
    size_t cap = 1 << 16, n = 0;
    char *buf = malloc(cap);
    int rc = 0;
    while (buf) {
        if (n == cap) {
            if (cap >= MAX_FILE) { rc = sd_error("%s: larger than 1 GiB", path); break; }
            char *b = realloc(buf, 2 * cap);
            if (!b) break;
            buf = b;
            cap *= 2;
        }
        size_t k = fread(buf + n, 1, cap - n, f);
        n += k;
        if (k == 0) {
            if (ferror(f)) rc = sd_error("%s: read error", path);
            break;
        }
    }
    fclose(f);
    if (!buf) return sd_error("%s: out of memory", path);
    if (!rc) rc = sd_table_parse_csv(buf, n, path, out);
    free(buf);
    return rc;
}

const char *sd_table_header(const sd_table *t, int col) { return t->text + t->cell[col]; }

const char *sd_table_cell(const sd_table *t, int row, int col)
{
    return t->text + t->cell[(size_t)(row + 1) * t->cols + col];
}

int sd_table_find(const sd_table *t, const char *name)
{
    for (int c = 0; c < t->cols; c++)
        if (!strcmp(sd_table_header(t, c), name)) return c;
    return -1;
}

int sd_table_missing(const char *s)
{
    while (*s == ' ' || *s == '\t') s++;
    size_t n = strlen(s);
    while (n && (s[n - 1] == ' ' || s[n - 1] == '\t')) n--;
    if (!n) return 1;
    static const char *const words[] = { "NA", "N/A", "NaN", "null", "?", NULL };
    for (int i = 0; words[i]; i++)
        if (strlen(words[i]) == n && !strncasecmp(s, words[i], n)) return 1;
    return 0;
}

int sd_table_number(const char *s, double *v)
{
    while (*s == ' ' || *s == '\t') s++;
    if (!*s) return 0;
    /* strtod also reads "inf", "nan" and hex: only plain decimals are numbers here */
    for (const char *c = s; *c; c++)
        if (!strchr("0123456789+-.eE \t", *c)) return 0;
    char *e;
    errno = 0;
    double x = strtod(s, &e);
    if (e == s) return 0;
    while (*e == ' ' || *e == '\t') e++;
    if (*e || !isfinite(x)) return 0;
    *v = x;
    return 1;
}

static int cmp_str(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

int sd_table_describe(const sd_table *t, int col, sd_table_column_info *info)
{
    memset(info, 0, sizeof *info);
    info->first_text_row = -1;
    info->min = info->max = info->mean = NAN;
    double sum = 0;
    const char **vals = malloc((size_t)(t->rows ? t->rows : 1) * sizeof *vals);
    if (!vals) return sd_error("out of memory");
    int nv = 0;
    for (int r = 0; r < t->rows; r++) {
        const char *s = sd_table_cell(t, r, col);
        double v;
        if (sd_table_missing(s)) { info->missing++; continue; }
        vals[nv++] = s;
        if (sd_table_number(s, &v)) {
            if (!info->numbers || v < info->min) info->min = v;
            if (!info->numbers || v > info->max) info->max = v;
            sum += v;
            info->numbers++;
        } else {
            if (info->first_text_row < 0) info->first_text_row = r;
            info->texts++;
        }
    }
    if (info->numbers) info->mean = sum / info->numbers;
    qsort(vals, (size_t)nv, sizeof *vals, cmp_str);
    for (int i = 0; i < nv && info->distinct < SD_TABLE_DISTINCT_CAP; i++)
        info->distinct += i == 0 || strcmp(vals[i], vals[i - 1]) != 0;
    free(vals);
    return 0;
}
