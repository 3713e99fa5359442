/* safetensors reading and writing.
 *
 * Layout: 8-byte little-endian header length N, N bytes of UTF-8 JSON, then the
 * data area; every tensor's data_offsets are relative to the start of the data
 * area. The writer pads the JSON with trailing spaces so the data area starts at
 * a multiple of 8 bytes. The reader loads the whole file, parses the header with
 * the strict parser in json.c and validates every entry before returning. */
#define _POSIX_C_SOURCE 200809L

#include "shendu/io.h"
#include "io/json.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* Tensor data is stored little-endian and copied with memcpy, so the host must
 * be little-endian too (every platform shendu targets is). */
#if defined(__BYTE_ORDER__) && defined(__ORDER_LITTLE_ENDIAN__)
#if __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "shendu's safetensors I/O assumes a little-endian host"
#endif
#endif

#define ST_MAX_HEADER 100000000u   /* 100 MB, the same limit as the reference reader */
#define ST_MAX_DEPTH 64
#define ST_META_KEY "__metadata__"

static const struct { const char *name; size_t size; } dtype_info[] = {
    [SD_F32] = { "F32", 4 }, [SD_F64] = { "F64", 8 }, [SD_I32] = { "I32", 4 },
    [SD_I64] = { "I64", 8 }, [SD_U8] = { "U8", 1 },   [SD_U64] = { "U64", 8 },
};
#define N_DTYPES ((int)(sizeof dtype_info / sizeof dtype_info[0]))

static int dtype_ok(sd_dtype t) { return (int)t >= 0 && (int)t < N_DTYPES; }

const char *sd_dtype_name(sd_dtype t) { return dtype_ok(t) ? dtype_info[t].name : "?"; }
size_t sd_dtype_size(sd_dtype t) { return dtype_ok(t) ? dtype_info[t].size : 0; }

/* Byte size of a tensor with non-negative dims; -1 if it overflows int64/size_t. */
static int tensor_bytes(int ndim, const int64_t *shape, size_t esize, uint64_t *out)
{
    uint64_t n = 1;
    for (int d = 0; d < ndim; d++)
        if (shape[d] == 0) { *out = 0; return 0; }
    for (int d = 0; d < ndim; d++) {
        if (n > (uint64_t)INT64_MAX / (uint64_t)shape[d]) return -1;
        n *= (uint64_t)shape[d];
    }
    if (n > (uint64_t)INT64_MAX / esize || n * esize > SIZE_MAX) return -1;
    *out = n * esize;
    return 0;
}

/* "[128,784]" (ndim <= SD_ST_MAX_DIMS). */
static void fmt_shape(char *buf, size_t cap, int ndim, const int64_t *shape)
{
    size_t len = 0;
    len += (size_t)snprintf(buf, cap, "[");
    for (int d = 0; d < ndim && len < cap; d++)
        len += (size_t)snprintf(buf + len, cap - len, "%s%" PRId64, d ? "," : "", shape[d]);
    if (len < cap) snprintf(buf + len, cap - len, "]");
}

/* ======================================================================== */
/* Writing                                                                   */
/* ======================================================================== */

typedef struct sbuf { char *p; size_t len, cap; int oom; } sbuf;

static void sb_put(sbuf *b, const char *s, size_t n)
{
    if (b->oom) return;
    if (b->len + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 256;
        while (cap < b->len + n + 1) cap *= 2;
        char *p = realloc(b->p, cap);
        if (!p) { b->oom = 1; return; }
        b->p = p;
        b->cap = cap;
    }
    memcpy(b->p + b->len, s, n);
    b->len += n;
    b->p[b->len] = '\0';
}

static void sb_puts(sbuf *b, const char *s) { sb_put(b, s, strlen(s)); }

static void sb_int(sbuf *b, int64_t v)
{
    char tmp[24];
    sb_put(b, tmp, (size_t)snprintf(tmp, sizeof tmp, "%" PRId64, v));
}

/* A JSON string literal (sd_json_char's rule; the names and values were validated as UTF-8). */
static void sb_json_string(sbuf *b, const char *s)
{
    sb_put(b, "\"", 1);
    for (const char *p = s; *p;) {
        char buf[8];
        int used, len;
        const char *t = sd_json_char(p, buf, &used, &len);
        sb_put(b, t, (size_t)len);
        p += used;
    }
    sb_put(b, "\"", 1);
}

static int cmp_cstr(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* A name that occurs twice in names[0..n) (sorts the array), or NULL. */
static const char *find_duplicate(const char **names, int n)
{
    if (n < 2) return NULL;
    qsort(names, (size_t)n, sizeof *names, cmp_cstr);
    for (int i = 1; i < n; i++)
        if (strcmp(names[i - 1], names[i]) == 0) return names[i];
    return NULL;
}

/* Check the caller's tensors and metadata; fills bytes[i]. */
static int validate_save(const char *path, const sd_st_tensor *tensors, int ntensors,
                         const sd_st_kv *meta, int nmeta, uint64_t *bytes)
{
    uint64_t total = 0;
    for (int i = 0; i < ntensors; i++) {
        const sd_st_tensor *t = &tensors[i];
        if (!t->name || !*t->name) return sd_error("%s: tensor %d has an empty name", path, i);
        if (!sj_utf8_valid(t->name, strlen(t->name)))
            return sd_error("%s: tensor %d: name is not valid UTF-8", path, i);
        if (strcmp(t->name, ST_META_KEY) == 0)
            return sd_error("%s: a tensor cannot be named '%s'", path, ST_META_KEY);
        if (!dtype_ok(t->dtype))
            return sd_error("%s: tensor '%s': invalid dtype %d", path, t->name, (int)t->dtype);
        if (t->ndim < 0 || t->ndim > SD_ST_MAX_DIMS)
            return sd_error("%s: tensor '%s': ndim %d outside 0..%d", path, t->name, t->ndim,
                            SD_ST_MAX_DIMS);
        for (int d = 0; d < t->ndim; d++)
            if (t->shape[d] < 0)
                return sd_error("%s: tensor '%s': negative dimension %" PRId64 " at axis %d",
                                path, t->name, t->shape[d], d);
        if (tensor_bytes(t->ndim, t->shape, dtype_info[t->dtype].size, &bytes[i]) ||
            bytes[i] > (uint64_t)INT64_MAX - total)
            return sd_error("%s: tensor '%s': size overflows", path, t->name);
        total += bytes[i];
        if (bytes[i] > 0 && !t->data)
            return sd_error("%s: tensor '%s': no data", path, t->name);
    }
    for (int i = 0; i < nmeta; i++) {
        if (!meta[i].key || !meta[i].value)
            return sd_error("%s: metadata entry %d has a NULL key or value", path, i);
        if (!sj_utf8_valid(meta[i].key, strlen(meta[i].key)) ||
            !sj_utf8_valid(meta[i].value, strlen(meta[i].value)))
            return sd_error("%s: metadata '%s': not valid UTF-8", path, meta[i].key);
    }

    int nmax = ntensors > nmeta ? ntensors : nmeta;
    const char **names = malloc((size_t)(nmax ? nmax : 1) * sizeof *names);
    if (!names) return sd_error("%s: out of memory", path);
    for (int i = 0; i < ntensors; i++) names[i] = tensors[i].name;
    const char *dup = find_duplicate(names, ntensors);
    int rc = 0;
    if (dup) rc = sd_error("%s: duplicate tensor name '%s'", path, dup);
    if (!rc) {
        for (int i = 0; i < nmeta; i++) names[i] = meta[i].key;
        dup = find_duplicate(names, nmeta);
        if (dup) rc = sd_error("%s: duplicate metadata key '%s'", path, dup);
    }
    free(names);
    return rc;
}

int sd_st_save(const char *path, const sd_st_tensor *tensors, int ntensors,
               const sd_st_kv *meta, int nmeta)
{
    if (!path || !*path) return sd_error("sd_st_save: empty path");
    if (ntensors < 0 || nmeta < 0 || (ntensors > 0 && !tensors) || (nmeta > 0 && !meta))
        return sd_error("%s: sd_st_save: bad tensor or metadata list", path);

    uint64_t *bytes = malloc((size_t)(ntensors ? ntensors : 1) * sizeof *bytes);
    if (!bytes) return sd_error("%s: out of memory", path);
    if (validate_save(path, tensors, ntensors, meta, nmeta, bytes)) {
        free(bytes);
        return -1;
    }

    /* The header: metadata first (like the reference writer), then the tensors
     * in the caller's order with contiguous offsets. */
    sbuf h = { 0 };
    sb_puts(&h, "{");
    if (nmeta > 0) {
        sb_puts(&h, "\"" ST_META_KEY "\":{");
        for (int i = 0; i < nmeta; i++) {
            if (i) sb_puts(&h, ",");
            sb_json_string(&h, meta[i].key);
            sb_puts(&h, ":");
            sb_json_string(&h, meta[i].value);
        }
        sb_puts(&h, "}");
    }
    uint64_t offset = 0;
    for (int i = 0; i < ntensors; i++) {
        const sd_st_tensor *t = &tensors[i];
        if (i || nmeta > 0) sb_puts(&h, ",");
        sb_json_string(&h, t->name);
        sb_puts(&h, ":{\"dtype\":\"");
        sb_puts(&h, dtype_info[t->dtype].name);
        sb_puts(&h, "\",\"shape\":[");
        for (int d = 0; d < t->ndim; d++) {
            if (d) sb_puts(&h, ",");
            sb_int(&h, t->shape[d]);
        }
        sb_puts(&h, "],\"data_offsets\":[");
        sb_int(&h, (int64_t)offset);
        sb_puts(&h, ",");
        offset += bytes[i];
        sb_int(&h, (int64_t)offset);
        sb_puts(&h, "]}");
    }
    sb_puts(&h, "}");
    while ((8 + h.len) % 8 != 0) sb_puts(&h, " ");   /* align the data area */

    int rc;
    sd_chunk *chunks = malloc((size_t)(ntensors + 2) * sizeof *chunks);
    if (h.oom || !chunks) {
        rc = sd_error("%s: out of memory", path);
    } else {
        unsigned char prefix[8];
        for (int k = 0; k < 8; k++) prefix[k] = (unsigned char)((uint64_t)h.len >> (8 * k));
        int n = 0;
        chunks[n++] = (sd_chunk){ prefix, sizeof prefix };
        chunks[n++] = (sd_chunk){ h.p, h.len };
        for (int i = 0; i < ntensors; i++)
            if (bytes[i] > 0) chunks[n++] = (sd_chunk){ tensors[i].data, (size_t)bytes[i] };
        rc = sd_write_atomic(path, chunks, n);
    }
    free(chunks);
    free(h.p);
    free(bytes);
    return rc;
}

/* ======================================================================== */
/* Reading                                                                   */
/* ======================================================================== */

typedef struct st_entry {
    const char *name;           /* points into strings */
    sd_dtype dtype;
    int ndim;
    int64_t shape[SD_ST_MAX_DIMS];
    uint64_t begin, end;        /* within the data area */
} st_entry;

struct sd_st_file {
    char *path;
    char *strings;              /* decoded header strings; names, keys, values */
    unsigned char *data;        /* the data area, in its own (aligned) allocation */
    size_t data_len;
    st_entry *t;
    int n;
    sd_st_kv *meta;
    int nmeta;
};

/* "PATH: header byte OFF: MSG" */
static int header_error(const sd_st_file *f, size_t off, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 3, 4)))
#endif
    ;

static int header_error(const sd_st_file *f, size_t off, const char *fmt, ...)
{
    char msg[640];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    return sd_error("%s: header byte %zu: %s", f->path, off, msg);
}

/* Where the bytes come from: a file descriptor, or a buffer in memory. */
typedef struct st_src { int fd; const unsigned char *mem; size_t pos; } st_src;

static int read_full(st_src *src, void *buf, size_t n, const char *path)
{
    if (src->mem) {
        memcpy(buf, src->mem + src->pos, n);   /* sizes were checked against the buffer */
        src->pos += n;
        return 0;
    }
    char *p = buf;
    while (n > 0) {
        ssize_t k = read(src->fd, p, n);
        if (k < 0) {
            if (errno == EINTR) continue;
            return sd_error("%s: read failed: %s", path, strerror(errno));
        }
        if (k == 0) return sd_error("%s: unexpected end of file (was it modified while reading?)", path);
        p += k;
        n -= (size_t)k;
    }
    return 0;
}

/* The string node i, rejecting embedded NULs (the API hands out C strings). */
static const char *c_string(const sd_st_file *f, const sj_doc *doc, size_t i, const char *what)
{
    const char *s = sj_str(doc, i);
    if (strlen(s) != doc->nodes[i].u.str.len) {
        header_error(f, doc->nodes[i].off, "%s contains a NUL character", what);
        return NULL;
    }
    return s;
}

static int parse_meta(sd_st_file *f, const sj_doc *doc, size_t v)
{
    const sj_node *obj = &doc->nodes[v];
    if (obj->type != SJ_OBJECT) return header_error(f, obj->off, ST_META_KEY " is not an object");
    f->meta = malloc((obj->u.kids.count ? obj->u.kids.count : 1) * sizeof *f->meta);
    if (!f->meta) return sd_error("%s: out of memory", f->path);
    size_t k = v + 1;
    for (uint32_t m = 0; m < obj->u.kids.count; m++, k = sj_next(doc, k + 1)) {
        const char *key = c_string(f, doc, k, ST_META_KEY " key");
        if (!key) return -1;
        if (doc->nodes[k + 1].type != SJ_STRING)
            return header_error(f, doc->nodes[k + 1].off,
                                ST_META_KEY " value for '%.200s' is not a string", key);
        const char *value = c_string(f, doc, k + 1, ST_META_KEY " value");
        if (!value) return -1;
        f->meta[f->nmeta++] = (sd_st_kv){ key, value };
    }
    return 0;
}

/* 1 if string node i is exactly `word` (embedded NULs make it differ). */
static int str_is(const sj_doc *doc, size_t i, const char *word)
{
    return doc->nodes[i].u.str.len == strlen(word) && strcmp(sj_str(doc, i), word) == 0;
}

/* A non-negative integer node, or -1. */
static int64_t uint_node(const sj_doc *doc, size_t i)
{
    const sj_node *nd = &doc->nodes[i];
    return nd->type == SJ_INT && nd->u.i >= 0 ? nd->u.i : -1;
}

static int parse_tensor(sd_st_file *f, const sj_doc *doc, size_t k, st_entry *e)
{
    const sj_node *key = &doc->nodes[k], *obj = &doc->nodes[k + 1];
    const char *name = c_string(f, doc, k, "tensor name");
    if (!name) return -1;
    if (!*name) return header_error(f, key->off, "empty tensor name");
    if (obj->type != SJ_OBJECT)
        return header_error(f, obj->off, "tensor '%.200s': entry is not an object", name);
    e->name = name;

    int have_dtype = 0, have_shape = 0, have_offsets = 0;
    size_t fk = k + 2;
    for (uint32_t m = 0; m < obj->u.kids.count; m++, fk = sj_next(doc, fk + 1)) {
        const char *field = sj_str(doc, fk);
        const sj_node *val = &doc->nodes[fk + 1];
        if (str_is(doc, fk, "dtype")) {
            if (val->type != SJ_STRING)
                return header_error(f, val->off, "tensor '%.200s': dtype is not a string", name);
            const char *dt = sj_str(doc, fk + 1);
            int found = -1;
            for (int t = 0; t < N_DTYPES; t++)
                if (strcmp(dt, dtype_info[t].name) == 0) found = t;
            if (found < 0)
                return header_error(f, val->off, "tensor '%.200s': unsupported dtype '%.40s'",
                                    name, dt);
            e->dtype = (sd_dtype)found;
            have_dtype = 1;
        } else if (str_is(doc, fk, "shape")) {
            if (val->type != SJ_ARRAY)
                return header_error(f, val->off, "tensor '%.200s': shape is not an array", name);
            if (val->u.kids.count > SD_ST_MAX_DIMS)
                return header_error(f, val->off, "tensor '%.200s': shape has %u dimensions (at most %d)",
                                    name, (unsigned)val->u.kids.count, SD_ST_MAX_DIMS);
            e->ndim = (int)val->u.kids.count;
            for (int d = 0; d < e->ndim; d++) {
                /* While the elements before it are integers (one node each), the
                 * d-th element is node fk + 2 + d. */
                size_t di = fk + 2 + (size_t)d;
                e->shape[d] = uint_node(doc, di);
                if (e->shape[d] < 0)
                    return header_error(f, doc->nodes[di].off,
                                        "tensor '%.200s': shape[%d] is not a non-negative integer",
                                        name, d);
            }
            have_shape = 1;
        } else if (str_is(doc, fk, "data_offsets")) {
            if (val->type != SJ_ARRAY || val->u.kids.count != 2)
                return header_error(f, val->off, "tensor '%.200s': data_offsets is not an array "
                                    "of two integers", name);
            int64_t b = uint_node(doc, fk + 2);
            int64_t en = b < 0 ? -1 : uint_node(doc, fk + 3);
            if (b < 0 || en < 0)
                return header_error(f, val->off, "tensor '%.200s': data_offsets must be "
                                    "non-negative integers", name);
            e->begin = (uint64_t)b;
            e->end = (uint64_t)en;
            have_offsets = 1;
        } else {
            return header_error(f, doc->nodes[fk].off, "tensor '%.200s': unknown field '%.60s'",
                                name, field);
        }
    }
    if (!have_dtype || !have_shape || !have_offsets)
        return header_error(f, obj->off, "tensor '%.200s': missing \"%s\"", name,
                            !have_dtype ? "dtype" : !have_shape ? "shape" : "data_offsets");

    char shp[200];
    uint64_t bytes;
    fmt_shape(shp, sizeof shp, e->ndim, e->shape);
    if (tensor_bytes(e->ndim, e->shape, dtype_info[e->dtype].size, &bytes))
        return header_error(f, obj->off, "tensor '%.200s': shape %s overflows", name, shp);
    if (e->begin > e->end || e->end > f->data_len)
        return header_error(f, obj->off, "tensor '%.200s': data_offsets [%" PRIu64 ",%" PRIu64
                            "] outside the data area (%zu bytes)", name, e->begin, e->end,
                            f->data_len);
    if (e->end - e->begin != bytes)
        return header_error(f, obj->off, "tensor '%.200s': data_offsets [%" PRIu64 ",%" PRIu64
                            "] hold %" PRIu64 " bytes but %s %s needs %" PRIu64, name, e->begin,
                            e->end, e->end - e->begin, dtype_info[e->dtype].name, shp, bytes);
    return 0;
}

static int cmp_by_offset(const void *a, const void *b)
{
    const st_entry *x = *(const st_entry *const *)a, *y = *(const st_entry *const *)b;
    if (x->begin != y->begin) return x->begin < y->begin ? -1 : 1;
    return (x->end > y->end) - (x->end < y->end);
}

/* No two tensors may share a byte of the data area (empty tensors share none). */
static int check_overlap(const sd_st_file *f)
{
    if (f->n < 2) return 0;
    const st_entry **order = malloc((size_t)f->n * sizeof *order);
    if (!order) return sd_error("%s: out of memory", f->path);
    for (int i = 0; i < f->n; i++) order[i] = &f->t[i];
    qsort(order, (size_t)f->n, sizeof *order, cmp_by_offset);
    const st_entry *prev = NULL;
    int rc = 0;
    for (int i = 0; i < f->n && !rc; i++) {
        const st_entry *e = order[i];
        if (e->begin == e->end) continue;
        if (prev && e->begin < prev->end)
            rc = sd_error("%s: tensors '%.200s' [%" PRIu64 ",%" PRIu64 ") and '%.200s' [%" PRIu64
                          ",%" PRIu64 ") overlap", f->path, prev->name, prev->begin, prev->end,
                          e->name, e->begin, e->end);
        prev = e;
    }
    free(order);
    return rc;
}

/* Parse and validate the JSON header; on success f owns the decoded strings. */
static int load_header(sd_st_file *f, const char *text, size_t len)
{
    sj_doc doc;
    int rc = -1;
    if (sj_parse(&doc, text, len, ST_MAX_DEPTH)) {
        header_error(f, doc.err_off, "%s", doc.err);
        goto out;
    }
    const sj_node *top = &doc.nodes[0];
    if (top->type != SJ_OBJECT) {
        header_error(f, top->off, "the header is not a JSON object");
        goto out;
    }
    f->t = malloc((top->u.kids.count ? top->u.kids.count : 1) * sizeof *f->t);
    if (!f->t) {
        sd_error("%s: out of memory", f->path);
        goto out;
    }
    size_t k = 1;
    for (uint32_t m = 0; m < top->u.kids.count; m++, k = sj_next(&doc, k + 1)) {
        if (str_is(&doc, k, ST_META_KEY)) {
            if (parse_meta(f, &doc, k + 1)) goto out;
        } else {
            memset(&f->t[f->n], 0, sizeof f->t[f->n]);
            if (parse_tensor(f, &doc, k, &f->t[f->n])) goto out;
            f->n++;
        }
    }
    if (check_overlap(f)) goto out;
    f->strings = doc.strings;   /* names and metadata point into it */
    doc.strings = NULL;
    rc = 0;
out:
    sj_free(&doc);
    return rc;
}

/* Read and validate `size` bytes from src into a new sd_st_file named `path`. */
static sd_st_file *open_src(const char *path, st_src *src, uint64_t size)
{
    sd_st_file *f = calloc(1, sizeof *f);
    char *header = NULL;
    if (!f || !(f->path = strdup(path))) {
        sd_error("%s: out of memory", path);
        goto fail;
    }
    if (size < 8) {
        sd_error("%s: file too short for a safetensors header (%" PRIu64 " bytes)", path, size);
        goto fail;
    }

    /* Check the declared header length against the file and the limit before
     * allocating anything of that size. */
    unsigned char prefix[8];
    if (read_full(src, prefix, 8, path)) goto fail;
    uint64_t hlen = 0;
    for (int b = 7; b >= 0; b--) hlen = (hlen << 8) | prefix[b];
    if (hlen > size - 8) {
        sd_error("%s: header length %" PRIu64 " exceeds the file size (%" PRIu64 " bytes)",
                 path, hlen, size);
        goto fail;
    }
    if (hlen > ST_MAX_HEADER) {
        sd_error("%s: header length %" PRIu64 " exceeds the limit of %u bytes", path, hlen,
                 ST_MAX_HEADER);
        goto fail;
    }
    if (size - 8 - hlen > SIZE_MAX) {
        sd_error("%s: file too large for this platform", path);
        goto fail;
    }
    f->data_len = (size_t)(size - 8 - hlen);
    header = malloc(hlen ? (size_t)hlen : 1);
    /* malloc's alignment suits every dtype, so the data area gets its own block. */
    f->data = malloc(f->data_len ? f->data_len : 1);
    if (!header || !f->data) {
        sd_error("%s: out of memory reading %" PRIu64 " bytes", path, size);
        goto fail;
    }
    if (read_full(src, header, (size_t)hlen, path) || read_full(src, f->data, f->data_len, path))
        goto fail;
    if (load_header(f, header, (size_t)hlen)) goto fail;
    free(header);
    return f;

fail:
    free(header);
    sd_st_close(f);
    return NULL;
}

sd_st_file *sd_st_open(const char *path)
{
    if (!path || !*path) {
        sd_error("sd_st_open: empty path");
        return NULL;
    }
    uint64_t size = 0;
    st_src src = { .fd = sd_file_open_read(path, &size) };
    if (src.fd < 0) return NULL;
    sd_st_file *f = open_src(path, &src, size);
    close(src.fd);
    return f;
}

sd_st_file *sd_st_open_mem(const void *buf, size_t size, const char *name)
{
    st_src src = { .fd = -1, .mem = buf ? buf : (const unsigned char *)"" };
    return open_src(name && *name ? name : "(memory)", &src, size);
}

void sd_st_close(sd_st_file *f)
{
    if (!f) return;
    free(f->path);
    free(f->strings);
    free(f->data);
    free(f->t);
    free(f->meta);
    free(f);
}

int sd_st_count(const sd_st_file *f) { return f ? f->n : 0; }
int sd_st_meta_count(const sd_st_file *f) { return f ? f->nmeta : 0; }

size_t sd_st_numel(const sd_st_file *f)
{
    size_t n = 0;   /* no overflow: open checked every tensor against the file's size */
    for (int i = 0; f && i < f->n; i++) {
        size_t k = 1;
        for (int d = 0; d < f->t[i].ndim; d++) k *= (size_t)f->t[i].shape[d];
        n += k;
    }
    return n;
}

int sd_st_find(const sd_st_file *f, const char *name)
{
    if (!f || !name) return -1;
    for (int i = 0; i < f->n; i++)
        if (strcmp(f->t[i].name, name) == 0) return i;
    return -1;
}

/* data points at the tensor's offset in the data area, which starts 8-byte
 * aligned; it is aligned for the element type only if the file's offset is a
 * multiple of the element size (a U8 tensor of odd length shifts the ones after
 * it). sd_st_read_f32 copies with memcpy and works either way. */
void sd_st_get(const sd_st_file *f, int i, sd_st_tensor *out)
{
    memset(out, 0, sizeof *out);
    if (!f || i < 0 || i >= f->n) return;
    const st_entry *e = &f->t[i];
    out->name = e->name;
    out->dtype = e->dtype;
    out->ndim = e->ndim;
    memcpy(out->shape, e->shape, sizeof out->shape);
    out->data = f->data + e->begin;
}

const char *sd_st_meta(const sd_st_file *f, const char *key)
{
    if (!f || !key) return NULL;
    for (int i = 0; i < f->nmeta; i++)
        if (strcmp(f->meta[i].key, key) == 0) return f->meta[i].value;
    return NULL;
}

void sd_st_meta_get(const sd_st_file *f, int i, sd_st_kv *out)
{
    out->key = out->value = NULL;
    if (f && i >= 0 && i < f->nmeta) *out = f->meta[i];
}

int sd_st_read_f32(const sd_st_file *f, const char *name, int ndim, const int64_t *shape,
                   float *dst)
{
    if (!f || !name) return sd_error("sd_st_read_f32: no file or name");
    int i = sd_st_find(f, name);
    if (i < 0) return sd_error("%s: no tensor '%s'", f->path, name);
    const st_entry *e = &f->t[i];
    if (e->dtype != SD_F32)
        return sd_error("%s: tensor '%s': dtype %s, expected F32", f->path, name,
                        dtype_info[e->dtype].name);
    if (ndim < 0 || ndim > SD_ST_MAX_DIMS || (ndim > 0 && !shape))
        return sd_error("%s: tensor '%s': bad expected shape (ndim %d)", f->path, name, ndim);
    int same = ndim == e->ndim;
    for (int d = 0; same && d < ndim; d++) same = shape[d] == e->shape[d];
    if (!same) {
        char have[200], want[200];
        fmt_shape(have, sizeof have, e->ndim, e->shape);
        fmt_shape(want, sizeof want, ndim, shape);
        return sd_error("%s: tensor '%s': shape %s in the file, expected %s", f->path, name,
                        have, want);
    }
    size_t bytes = (size_t)(e->end - e->begin);
    if (bytes > 0) {
        if (!dst) return sd_error("%s: tensor '%s': no destination", f->path, name);
        memcpy(dst, f->data + e->begin, bytes);
    }
    return 0;
}
