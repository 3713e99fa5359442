#define _POSIX_C_SOURCE 200809L
/* Metric logs: JSON lines or CSV, one flushed record per line (metlog.h). */
#include "metlog.h"
#include "shendu.h"
#include "io/json.h"

#include <errno.h>
#include <float.h>
#include <fcntl.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

struct sd_metlog {
    FILE *f;
    int csv, nkeys, failed, has_config;
    int special;                   /* a character device or FIFO, written through (not read back) */
    char keys[SD_METLOG_MAX_KEYS][48];
    char path[4096];
    double t0, t_offset;           /* time = now - t0 + t_offset */
    int64_t last[3];               /* per kind: the last step in the file before a resume (-1: none) */
    char line[SD_METLOG_MAX_KEYS * 40 + 256];
};

static const char *const fixed_cols[4] = { "kind", "step", "epoch", "time" };
static const char *const kind_names[3] = { "step", "epoch", "final" };

/* ---- Reading */

static int table_col(sd_metlog_table *t, const char *name, size_t len, const char *path, int lineno)
{
    for (int c = 0; c < t->ncol; c++)
        if (strlen(t->names[c]) == len && !memcmp(t->names[c], name, len)) return c;
    if (len == 0 || len >= sizeof t->names[0])
        return sd_error("%s:%d: a key of %zu characters (1 to %zu expected)", path, lineno, len,
                        sizeof t->names[0] - 1);
    if (t->ncol == SD_METLOG_MAX_COLS)
        return sd_error("%s:%d: more than %d different keys", path, lineno, SD_METLOG_MAX_COLS);
    if (t->nrow > 0) {   /* a key first met late: earlier rows lack it (rows have room for every column) */
        double *v = t->v;
        for (int r = t->nrow - 1; r >= 0; r--) {
            memmove(v + (size_t)r * (t->ncol + 1), v + (size_t)r * t->ncol, (size_t)t->ncol * sizeof *v);
            v[(size_t)r * (t->ncol + 1) + t->ncol] = NAN;
        }
    }
    memcpy(t->names[t->ncol], name, len);
    t->names[t->ncol][len] = 0;
    return t->ncol++;
}

static double *table_new_row(sd_metlog_table *t, int *cap)
{
    if (t->nrow == *cap) {
        int nc = *cap ? 2 * *cap : 256;
        double *v = realloc(t->v, (size_t)nc * SD_METLOG_MAX_COLS * sizeof *v);
        if (!v) return NULL;
        t->v = v;
        *cap = nc;
    }
    double *row = t->v + (size_t)t->nrow * t->ncol;
    for (int c = 0; c < t->ncol; c++) row[c] = NAN;
    t->nrow++;
    return row;
}

/* The value of one record's field: a number, null, or a string (only "kind"'s matters). */
static double field_value(const char *name, const char *s, size_t n, int quoted)
{
    if (!strcmp(name, "kind")) {
        for (int k = 0; k < 3; k++)
            if (strlen(kind_names[k]) == n && !memcmp(s, kind_names[k], n)) return k;
        return NAN;
    }
    if (quoted || n == 0 || n > 60) return NAN;
    char buf[64];
    memcpy(buf, s, n);
    buf[n] = 0;
    char *end;
    double v = strtod(buf, &end);
    return *end ? NAN : v;
}

/* One JSON object {"key": value, ...} with number, string, null or boolean values. */
static int parse_json(sd_metlog_table *t, const char *s, const char *e, const char *path, int lineno, int *cap)
{
    typedef struct { const char *k; size_t kn; const char *v; size_t vn; int q; } kv;
    kv f[SD_METLOG_MAX_COLS];
    int nf = 0;
#define WS() while (s < e && (*s == ' ' || *s == '\t' || *s == '\r')) s++
    WS();
    if (s == e || *s++ != '{') return sd_error("%s:%d: not a JSON object", path, lineno);
    WS();
    if (s < e && *s == '}') s++;
    else for (;;) {
        if (nf == SD_METLOG_MAX_COLS) return sd_error("%s:%d: more than %d keys", path, lineno, SD_METLOG_MAX_COLS);
        WS();
        if (s == e || *s != '"') return sd_error("%s:%d: expected a key in quotes", path, lineno);
        f[nf].k = ++s;
        while (s < e && *s != '"') s += *s == '\\' ? 2 : 1;
        if (s >= e) return sd_error("%s:%d: unterminated key", path, lineno);
        f[nf].kn = (size_t)(s++ - f[nf].k);
        WS();
        if (s == e || *s++ != ':') return sd_error("%s:%d: expected ':'", path, lineno);
        WS();
        f[nf].q = s < e && *s == '"';
        if (f[nf].q) {
            f[nf].v = ++s;
            while (s < e && *s != '"') s += *s == '\\' ? 2 : 1;
            if (s >= e) return sd_error("%s:%d: unterminated string", path, lineno);
            f[nf].vn = (size_t)(s++ - f[nf].v);
        } else {
            f[nf].v = s;
            while (s < e && *s != ',' && *s != '}' && *s != ' ') s++;
            f[nf].vn = (size_t)(s - f[nf].v);
            if (!f[nf].vn) return sd_error("%s:%d: a key without a value", path, lineno);
        }
        nf++;
        WS();
        if (s < e && *s == ',') { s++; continue; }
        if (s < e && *s == '}') { s++; break; }
        return sd_error("%s:%d: expected ',' or '}'", path, lineno);
    }
    WS();
    if (s != e) return sd_error("%s:%d: text after the object", path, lineno);
#undef WS
    for (int i = 0; i < nf; i++)   /* the run's settings: strings, no record */
        if (f[i].kn == 4 && !memcmp(f[i].k, "kind", 4) && f[i].q && f[i].vn == 6 && !memcmp(f[i].v, "config", 6)) {
            for (int j = 0; j < nf && t->nconfig < SD_METLOG_MAX_COLS; j++) {
                if (j == i || f[j].kn >= sizeof t->config_keys[0]) continue;
                memcpy(t->config_keys[t->nconfig], f[j].k, f[j].kn);
                t->config_keys[t->nconfig][f[j].kn] = 0;
                size_t n = f[j].vn < sizeof t->config_values[0] ? f[j].vn : sizeof t->config_values[0] - 1;
                char *d = t->config_values[t->nconfig++];
                size_t o = 0;
                for (size_t q = 0; q < n; q++) {   /* undo the writer's escapes (sd_json_char) */
                    char c = f[j].v[q];
                    if (c == '\\' && q + 1 < n) {
                        c = f[j].v[++q];
                        if (c == 'n') c = '\n';
                        else if (c == 't') c = '\t';
                        else if (c == 'r') c = '\r';
                        else if (c == 'u' && q + 4 < n) {   /* \u00XX (control bytes) or \ufffd */
                            unsigned u = 0;
                            for (int h = 1; h <= 4; h++) {
                                const char x = f[j].v[q + h];
                                u = u * 16 + (unsigned)(x >= '0' && x <= '9' ? x - '0' : x >= 'a' && x <= 'f' ? x - 'a' + 10
                                                        : x >= 'A' && x <= 'F' ? x - 'A' + 10 : 0);
                            }
                            q += 4;
                            if (u >= 0x800) {   /* three bytes of UTF-8 (fewer than the six read) */
                                d[o++] = (char)(0xe0 | u >> 12);
                                d[o++] = (char)(0x80 | ((u >> 6) & 0x3f));
                                c = (char)(0x80 | (u & 0x3f));
                            } else if (u >= 0x80) {
                                d[o++] = (char)(0xc0 | u >> 6);
                                c = (char)(0x80 | (u & 0x3f));
                            } else {
                                c = (char)u;
                            }
                        }
                    }
                    d[o++] = c;
                }
                d[o] = 0;
            }
            return 0;
        }
    int cols[SD_METLOG_MAX_COLS];
    for (int i = 0; i < nf; i++)
        if ((cols[i] = table_col(t, f[i].k, f[i].kn, path, lineno)) < 0) return -1;
    double *row = table_new_row(t, cap);
    if (!row) return sd_error("out of memory");
    for (int i = 0; i < nf; i++) row[cols[i]] = field_value(t->names[cols[i]], f[i].v, f[i].vn, f[i].q);
    return 0;
}

/* Split a CSV line into at most max fields (no quoted commas: the writer never makes them). */
static int csv_fields(const char *s, const char *e, const char **fs, size_t *fn, int max)
{
    int n = 0;
    for (;;) {
        const char *a = s;
        while (s < e && *s != ',') s++;
        if (n == max) return -1;
        const char *b = s;
        if (b > a && b[-1] == '\r') b--;
        if (b - a >= 2 && *a == '"' && b[-1] == '"') { a++; b--; }
        fs[n] = a;
        fn[n++] = (size_t)(b - a);
        if (s == e) return n;
        s++;
    }
}

static int parse_csv(sd_metlog_table *t, const char *s, const char *e, int *hcols, int *nh, const char *path,
                     int lineno, int *cap)
{
    const char *fs[SD_METLOG_MAX_COLS];
    size_t fn[SD_METLOG_MAX_COLS];
    int n = csv_fields(s, e, fs, fn, SD_METLOG_MAX_COLS);
    if (n < 0) return sd_error("%s:%d: more than %d columns", path, lineno, SD_METLOG_MAX_COLS);
    if (*nh == 0) {   /* the header */
        for (int i = 0; i < n; i++)
            if ((hcols[i] = table_col(t, fs[i], fn[i], path, lineno)) < 0) return -1;
        *nh = n;
        return 0;
    }
    if (n != *nh) return sd_error("%s:%d: %d fields where the header has %d", path, lineno, n, *nh);
    double *row = table_new_row(t, cap);
    if (!row) return sd_error("out of memory");
    for (int i = 0; i < n; i++) row[hcols[i]] = field_value(t->names[hcols[i]], fs[i], fn[i], 0);
    return 0;
}

/* Parse buf (len bytes, NUL after them) into t; ends[r] (if not NULL, room for
 * every line) gets the offset just past row r's line. */
static int parse_log(const char *path, const char *buf, size_t len, sd_metlog_table *t, size_t *ends)
{
    memset(t, 0, sizeof *t);
    for (int c = 0; c < 4; c++) table_col(t, fixed_cols[c], strlen(fixed_cols[c]), path, 0);
    int cap = 0, csv = -1, hcols[SD_METLOG_MAX_COLS], nh = 0, lineno = 0;
    const char *s = buf, *end = buf + len;
    while (s < end) {
        const char *nl = memchr(s, '\n', (size_t)(end - s));
        if (!nl) break;   /* a line cut short by a crash */
        lineno++;
        const char *e = nl;
        while (e > s && (e[-1] == '\r' || e[-1] == ' ')) e--;
        if (e > s) {
            if (csv < 0) csv = *s != '{';
            int rows = t->nrow;
            if (csv ? parse_csv(t, s, e, hcols, &nh, path, lineno, &cap) : parse_json(t, s, e, path, lineno, &cap)) {
                sd_metlog_table_free(t);
                return -1;
            }
            if (ends && t->nrow > rows) ends[t->nrow - 1] = (size_t)(nl + 1 - buf);
        }
        s = nl + 1;
    }
    return 0;
}

static char *read_all(const char *path, size_t *len)
{
    int fd = sd_file_open_read(path, NULL);   /* a FIFO or device is refused, not waited on */
    FILE *f = fd >= 0 ? fdopen(fd, "rb") : NULL;
    if (!f) {
        if (fd >= 0) {
            sd_error("%s: %s", path, strerror(errno));
            close(fd);
        }
        return NULL;
    }
    size_t cap = 1 << 16, n = 0;
    char *buf = malloc(cap);
    for (size_t got; buf && (got = fread(buf + n, 1, cap - n - 1, f)) > 0;) {
        n += got;
        if (cap - n - 1 == 0) {
            char *b = (uint64_t)cap < (UINT64_C(1) << 32) && cap <= SIZE_MAX / 2 ? realloc(buf, cap * 2) : NULL;
            if (!b) { free(buf); buf = NULL; break; }
            buf = b;
            cap *= 2;
        }
    }
    int err = buf && ferror(f);
    fclose(f);
    if (!buf) { sd_error("%s: out of memory", path); return NULL; }
    if (err) { free(buf); sd_error("%s: read error", path); return NULL; }
    buf[n] = 0;
    *len = n;
    return buf;
}

int sd_metlog_read(const char *path, sd_metlog_table *t)
{
    memset(t, 0, sizeof *t);
    size_t len;
    char *buf = read_all(path, &len);
    if (!buf) return -1;
    int rc = parse_log(path, buf, len, t, NULL);
    free(buf);
    if (!rc && t->nrow == 0) {
        sd_metlog_table_free(t);
        return sd_error("%s: no records (is it a log written by --log?)", path);
    }
    return rc;
}

void sd_metlog_table_free(sd_metlog_table *t)
{
    if (!t) return;
    free(t->v);
    memset(t, 0, sizeof *t);
}

const char *sd_metlog_config_get(const sd_metlog_table *t, const char *key)
{
    for (int i = 0; i < t->nconfig; i++)
        if (!strcmp(t->config_keys[i], key)) return t->config_values[i];
    return NULL;
}

int sd_metlog_col(const sd_metlog_table *t, const char *name)
{
    for (int c = 0; c < t->ncol; c++)
        if (!strcmp(t->names[c], name)) return c;
    return -1;
}

/* ---- Writing */

static int ends_with(const char *s, const char *suffix)
{
    size_t n = strlen(s), k = strlen(suffix);
    return n >= k && !strcmp(s + n - k, suffix);
}

static int write_header(sd_metlog *l)
{
    for (int c = 0; c < 4; c++) fprintf(l->f, c ? ",%s" : "%s", fixed_cols[c]);
    for (int k = 0; k < l->nkeys; k++) fprintf(l->f, ",%s", l->keys[k]);
    fputc('\n', l->f);
    return fflush(l->f) ? sd_error("%s: %s", l->path, strerror(errno)) : 0;
}

/* Keep the records up to the resume step: truncate the file after them, and
 * remember the last step of each kind and the time reached. */
static int resume_log(sd_metlog *l, int64_t resume_step, int *has_header)
{
    size_t len;
    char *buf = read_all(l->path, &len);
    if (!buf) return -1;
    size_t nlines = 1;
    for (size_t i = 0; i < len; i++) nlines += buf[i] == '\n';
    size_t *ends = malloc(nlines * sizeof *ends);
    sd_metlog_table t;
    int rc = -1;
    if (!ends) { sd_error("out of memory"); goto done; }
    if (parse_log(l->path, buf, len, &t, ends)) goto done;
    size_t cut = 0;
    const char *nl = memchr(buf, '\n', len);
    *has_header = l->csv && nl;
    if (*has_header) {   /* a CSV must have this trainer's columns */
        cut = (size_t)(nl + 1 - buf);
        int same = t.ncol == 4 + l->nkeys;
        for (int k = 0; same && k < l->nkeys; k++) same = !strcmp(t.names[4 + k], l->keys[k]);
        if (!same) {
            sd_error("%s has other columns than this trainer's log; give another --log file", l->path);
            sd_metlog_table_free(&t);
            goto done;
        }
    }
    if (!l->csv && t.nconfig > 0) {   /* keep the config line (the first) */
        l->has_config = 1;
        if (nl) cut = (size_t)(nl + 1 - buf);
    }
    for (int r = 0; r < t.nrow; r++) {
        const double *row = t.v + (size_t)r * t.ncol;
        if (!(row[1] <= (double)resume_step)) break;
        cut = ends[r];
        int kind = row[0] == SD_REC_EPOCH || row[0] == SD_REC_FINAL ? (int)row[0] : SD_REC_STEP;
        if (row[1] > l->last[kind]) l->last[kind] = (int64_t)row[1];
        if (isfinite(row[3])) l->t_offset = row[3];
    }
    sd_metlog_table_free(&t);
    if (truncate(l->path, (off_t)cut)) { sd_error("%s: %s", l->path, strerror(errno)); goto done; }
    rc = 0;
done:
    free(ends);
    free(buf);
    return rc;
}

sd_metlog *sd_metlog_open(const sd_metlog_opts *o)
{
    sd_metlog *l = calloc(1, sizeof *l);
    if (!l) { sd_error("out of memory"); return NULL; }
    if (strlen(o->path) >= sizeof l->path) { free(l); sd_error("log path too long"); return NULL; }
    snprintf(l->path, sizeof l->path, "%s", o->path);
    l->csv = ends_with(o->path, ".csv") || ends_with(o->path, ".CSV");
    l->last[0] = l->last[1] = l->last[2] = -1;
    for (; o->keys && o->keys[l->nkeys]; l->nkeys++) {
        if (l->nkeys == SD_METLOG_MAX_KEYS) { free(l); sd_error("too many log keys"); return NULL; }
        snprintf(l->keys[l->nkeys], sizeof l->keys[0], "%s", o->keys[l->nkeys]);
    }
    int has_header = 0;
    struct stat st;
    if (stat(l->path, &st) == 0 && !S_ISREG(st.st_mode)) {   /* (a symlink is followed) */
        /* the output rules of every file (sd_write_atomic): a device or a FIFO with a reader is
         * written through, never replaced or waited on; anything else is refused */
        if (!S_ISCHR(st.st_mode) && !S_ISFIFO(st.st_mode)) {
            sd_error("%s is %s: a log must be a regular file (or a character device or FIFO, written through)",
                     l->path, sd_file_kind((unsigned)st.st_mode));
            free(l);
            return NULL;
        }
        int fd = open(l->path, O_WRONLY | O_NONBLOCK | O_CLOEXEC | O_NOCTTY), fl = fd < 0 ? -1 : fcntl(fd, F_GETFL);
        if (fd < 0 || fl < 0 || fcntl(fd, F_SETFL, fl & ~O_NONBLOCK) < 0 || !(l->f = fdopen(fd, "w"))) {
            if (fd < 0 && errno == ENXIO) sd_error("%s: a FIFO with no reader: the log cannot be written", l->path);
            else sd_error("%s: %s", l->path, strerror(errno));
            if (fd >= 0) close(fd);
            free(l);
            return NULL;
        }
        l->special = 1;
    } else if (o->resume && access(l->path, F_OK) == 0) {
        if (resume_log(l, o->resume_step, &has_header)) { free(l); return NULL; }
        l->f = fopen(l->path, "a");
    } else {
        l->f = fopen(l->path, "w");
    }
    if (!l->f) {
        sd_error("%s: %s", l->path, strerror(errno));
        free(l);
        return NULL;
    }
    if (l->csv && !has_header && write_header(l)) { sd_metlog_close(l); return NULL; }
    l->t0 = sd_time_now();
    return l;
}

const char *sd_metlog_path(const sd_metlog *l) { return l->path; }

int sd_metlog_special(const sd_metlog *l) { return l && l->special; }

int sd_fmt_float(char *buf, size_t size, double v)
{
    if (!(fabs(v) <= FLT_MAX)) return snprintf(buf, size, "%.9g", v);   /* beyond float (or not finite) */
    const float x = (float)v;
    int n = 0;
    for (int prec = 6; prec <= 9; prec++) {
        n = snprintf(buf, size, "%.*g", prec, (double)x);
        if (strtof(buf, NULL) == x) break;
    }
    return n;
}

/* A record's number: an integer as one, any other as the shortest text that
 * reads back as the same float (losses, rates: float32 values). */
static int put_num(char *p, size_t n, double v, int csv)
{
    if (!isfinite(v)) return snprintf(p, n, "%s", csv ? "" : "null");
    if (v == (double)(int64_t)v && fabs(v) < 1e15) return snprintf(p, n, "%lld", (long long)v);
    return sd_fmt_float(p, n, v);
}

int sd_metlog_write(sd_metlog *l, sd_record_kind kind, int64_t step, int epoch, const double *values)
{
    if (!l || l->failed) return -1;
    if (step <= l->last[kind]) return 0;   /* already in the file (a resumed run's first record) */
    const double t = sd_time_now() - l->t0 + l->t_offset;
    char *p = l->line;
    size_t room = sizeof l->line;
    int n;
#define PUT(...) do { n = snprintf(p, room, __VA_ARGS__); if (n < 0 || (size_t)n >= room) goto toolong; p += n; room -= (size_t)n; } while (0)
    if (l->csv) PUT("%s,%lld,%d,%.3f", kind_names[kind], (long long)step, epoch, t);
    else PUT("{\"kind\":\"%s\",\"step\":%lld,\"epoch\":%d,\"time\":%.3f", kind_names[kind], (long long)step, epoch, t);
    for (int k = 0; k < l->nkeys; k++) {
        if (l->csv) PUT(",");
        else PUT(",\"%s\":", l->keys[k]);
        n = put_num(p, room, values[k], l->csv);
        if (n < 0 || (size_t)n >= room) goto toolong;
        p += n;
        room -= (size_t)n;
    }
    PUT("%s\n", l->csv ? "" : "}");
#undef PUT
    if (fputs(l->line, l->f) == EOF || fflush(l->f)) {
        l->failed = 1;
        return sd_error("%s: %s", l->path, strerror(errno));
    }
    return 0;
toolong:
    l->failed = 1;
    return sd_error("%s: record too long", l->path);
}

int sd_metlog_config(sd_metlog *l, const char *const *keys, const char *const *values, int n)
{
    if (!l || l->csv || l->has_config) return 0;
    fputs("{\"kind\":\"config\"", l->f);
    for (int i = 0; i < n; i++) {
        fputc(',', l->f);
        sd_json_write_str(l->f, keys[i]);
        fputc(':', l->f);
        sd_json_write_str(l->f, values[i] ? values[i] : "");
    }
    fputs("}\n", l->f);
    l->has_config = 1;
    if (fflush(l->f)) {
        l->failed = 1;
        return sd_error("%s: %s", l->path, strerror(errno));
    }
    return 0;
}

int sd_metlog_close(sd_metlog *l)
{
    if (!l) return 0;
    int rc = l->failed ? -1 : 0;
    if (fclose(l->f) && !rc) rc = sd_error("%s: %s", l->path, strerror(errno));
    free(l);
    return rc;
}
