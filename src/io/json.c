/* A small strict recursive-descent JSON parser producing a flat node array.
 * See json.h for the accepted language. */
#include "io/json.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct parser {
    sj_doc *doc;
    const unsigned char *s;
    size_t n, pos;
    size_t spos;         /* next free byte in doc->strings */
    int max_depth;
} parser;

static int fail_at(parser *p, size_t off, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 3, 4)))
#endif
    ;

static int fail_at(parser *p, size_t off, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(p->doc->err, sizeof p->doc->err, fmt, ap);
    va_end(ap);
    p->doc->err_off = off;
    return -1;
}

/* ---- UTF-8 ---------------------------------------------------------------- */

/* Length of the well-formed UTF-8 sequence at s[0..n), or 0 if there is none. */
static size_t utf8_seq(const unsigned char *s, size_t n)
{
    unsigned c = s[0];
    size_t len;
    unsigned lo = 0x80, hi = 0xBF;   /* allowed range of the second byte */
    if (c < 0x80) return 1;
    if (c >= 0xC2 && c <= 0xDF) len = 2;
    else if (c >= 0xE0 && c <= 0xEF) {
        len = 3;
        if (c == 0xE0) lo = 0xA0;        /* overlong */
        else if (c == 0xED) hi = 0x9F;   /* UTF-16 surrogates */
    } else if (c >= 0xF0 && c <= 0xF4) {
        len = 4;
        if (c == 0xF0) lo = 0x90;        /* overlong */
        else if (c == 0xF4) hi = 0x8F;   /* above U+10FFFF */
    } else return 0;
    if (n < len || s[1] < lo || s[1] > hi) return 0;
    for (size_t k = 2; k < len; k++)
        if (s[k] < 0x80 || s[k] > 0xBF) return 0;
    return len;
}

int sj_utf8_valid(const char *str, size_t n)
{
    const unsigned char *s = (const unsigned char *)str;
    for (size_t i = 0; i < n;) {
        size_t k = utf8_seq(s + i, n - i);
        if (!k) return 0;
        i += k;
    }
    return 1;
}

static size_t utf8_put(char *out, uint32_t cp)
{
    if (cp < 0x80) { out[0] = (char)cp; return 1; }
    if (cp < 0x800) {
        out[0] = (char)(0xC0 | (cp >> 6));
        out[1] = (char)(0x80 | (cp & 0x3F));
        return 2;
    }
    if (cp < 0x10000) {
        out[0] = (char)(0xE0 | (cp >> 12));
        out[1] = (char)(0x80 | ((cp >> 6) & 0x3F));
        out[2] = (char)(0x80 | (cp & 0x3F));
        return 3;
    }
    out[0] = (char)(0xF0 | (cp >> 18));
    out[1] = (char)(0x80 | ((cp >> 12) & 0x3F));
    out[2] = (char)(0x80 | ((cp >> 6) & 0x3F));
    out[3] = (char)(0x80 | (cp & 0x3F));
    return 4;
}

/* ---- Nodes ------------------------------------------------------------------ */

/* Append a node; returns its index, or (size_t)-1 when out of memory. */
static size_t push(parser *p, sj_type type, size_t off)
{
    sj_doc *d = p->doc;
    if (d->count == d->cap) {
        size_t cap = d->cap ? d->cap * 2 : 64;
        sj_node *nodes = realloc(d->nodes, cap * sizeof *nodes);
        if (!nodes) {
            fail_at(p, off, "out of memory");
            return (size_t)-1;
        }
        d->nodes = nodes;
        d->cap = cap;
    }
    sj_node *nd = &d->nodes[d->count];
    memset(nd, 0, sizeof *nd);
    nd->type = (uint8_t)type;
    nd->off = (uint32_t)off;
    return d->count++;
}

size_t sj_next(const sj_doc *doc, size_t i)
{
    const sj_node *nd = &doc->nodes[i];
    if (nd->type == SJ_ARRAY || nd->type == SJ_OBJECT) return nd->u.kids.end;
    return i + 1;
}

const char *sj_str(const sj_doc *doc, size_t i)
{
    return doc->strings + doc->nodes[i].u.str.pos;
}

/* ---- Lexing ----------------------------------------------------------------- */

static void skip_ws(parser *p)
{
    while (p->pos < p->n) {
        unsigned char c = p->s[p->pos];
        if (c != ' ' && c != '\t' && c != '\n' && c != '\r') break;
        p->pos++;
    }
}

static int hex4(parser *p, size_t at, uint32_t *out)
{
    uint32_t v = 0;
    if (p->n - at < 4) return fail_at(p, at, "truncated \\u escape");
    for (int k = 0; k < 4; k++) {
        unsigned char c = p->s[at + k];
        v <<= 4;
        if (c >= '0' && c <= '9') v |= c - '0';
        else if (c >= 'a' && c <= 'f') v |= c - 'a' + 10;
        else if (c >= 'A' && c <= 'F') v |= c - 'A' + 10;
        else return fail_at(p, at + k, "invalid hex digit in \\u escape");
    }
    *out = v;
    return 0;
}

/* A \uXXXX escape (possibly a surrogate pair) at p->pos (on the 'u'). */
static int unicode_escape(parser *p, char *out, size_t *outlen)
{
    size_t at = p->pos - 1;   /* the backslash */
    uint32_t cp, lo;
    if (hex4(p, p->pos + 1, &cp)) return -1;
    p->pos += 5;
    if (cp >= 0xDC00 && cp <= 0xDFFF)
        return fail_at(p, at, "lone low surrogate \\u%04X", (unsigned)cp);
    if (cp >= 0xD800 && cp <= 0xDBFF) {
        if (p->n - p->pos < 2 || p->s[p->pos] != '\\' || p->s[p->pos + 1] != 'u')
            return fail_at(p, at, "high surrogate \\u%04X not followed by a low surrogate",
                           (unsigned)cp);
        if (hex4(p, p->pos + 2, &lo)) return -1;
        if (lo < 0xDC00 || lo > 0xDFFF)
            return fail_at(p, p->pos, "expected a low surrogate, got \\u%04X", (unsigned)lo);
        p->pos += 6;
        cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
    }
    *outlen += utf8_put(out + *outlen, cp);
    return 0;
}

/* A string at p->pos (on the opening quote), decoded into doc->strings. */
static int parse_string(parser *p)
{
    size_t start = p->pos;
    size_t idx = push(p, SJ_STRING, start);
    if (idx == (size_t)-1) return -1;
    char *out = p->doc->strings + p->spos;
    size_t len = 0;
    p->pos++;
    for (;;) {
        if (p->pos >= p->n) return fail_at(p, start, "unterminated string");
        unsigned char c = p->s[p->pos];
        if (c == '"') { p->pos++; break; }
        if (c < 0x20) return fail_at(p, p->pos, "control character 0x%02X in string", c);
        if (c == '\\') {
            if (++p->pos >= p->n) return fail_at(p, start, "unterminated string");
            char e = (char)p->s[p->pos];
            char dec = 0;
            switch (e) {
            case '"': dec = '"'; break;
            case '\\': dec = '\\'; break;
            case '/': dec = '/'; break;
            case 'b': dec = '\b'; break;
            case 'f': dec = '\f'; break;
            case 'n': dec = '\n'; break;
            case 'r': dec = '\r'; break;
            case 't': dec = '\t'; break;
            case 'u':
                if (unicode_escape(p, out, &len)) return -1;
                continue;
            default:
                return fail_at(p, p->pos - 1, "invalid escape '\\%c'",
                               (e > 0x20 && e < 0x7F) ? e : '?');
            }
            out[len++] = dec;
            p->pos++;
            continue;
        }
        size_t k = utf8_seq(p->s + p->pos, p->n - p->pos);
        if (!k) return fail_at(p, p->pos, "invalid UTF-8 in string");
        memcpy(out + len, p->s + p->pos, k);
        len += k;
        p->pos += k;
    }
    /* The decoded form plus NUL is never longer than the quoted source, so the
     * strings buffer (sized like the text) cannot overflow. */
    out[len] = '\0';
    sj_node *nd = &p->doc->nodes[idx];
    nd->u.str.pos = (uint32_t)p->spos;
    nd->u.str.len = (uint32_t)len;
    p->spos += len + 1;
    return 0;
}

static int parse_int(parser *p)
{
    size_t start = p->pos;
    int neg = 0;
    uint64_t mag = 0;
    if (p->s[p->pos] == '-') { neg = 1; p->pos++; }
    if (p->pos >= p->n || p->s[p->pos] < '0' || p->s[p->pos] > '9')
        return fail_at(p, start, "invalid number");
    if (p->s[p->pos] == '0') {
        p->pos++;
        if (p->pos < p->n && p->s[p->pos] >= '0' && p->s[p->pos] <= '9')
            return fail_at(p, start, "invalid number (leading zero)");
    } else {
        while (p->pos < p->n && p->s[p->pos] >= '0' && p->s[p->pos] <= '9') {
            unsigned d = p->s[p->pos] - '0';
            if (mag > (UINT64_C(1) << 63) / 10 || mag * 10 + d > (UINT64_C(1) << 63))
                return fail_at(p, start, "integer out of range");
            mag = mag * 10 + d;
            p->pos++;
        }
    }
    if (p->pos < p->n && (p->s[p->pos] == '.' || p->s[p->pos] == 'e' || p->s[p->pos] == 'E'))
        return fail_at(p, start, "non-integer numbers are not supported");
    if (!neg && mag > (uint64_t)INT64_MAX) return fail_at(p, start, "integer out of range");
    size_t idx = push(p, SJ_INT, start);
    if (idx == (size_t)-1) return -1;
    /* -2^63 is representable; negate in unsigned arithmetic to avoid overflow. */
    p->doc->nodes[idx].u.i = neg ? (int64_t)(0 - mag) : (int64_t)mag;
    return 0;
}

static int parse_literal(parser *p, const char *word, sj_type type)
{
    size_t len = strlen(word);
    if (p->n - p->pos < len || memcmp(p->s + p->pos, word, len) != 0)
        return fail_at(p, p->pos, "invalid literal (expected '%s')", word);
    if (push(p, type, p->pos) == (size_t)-1) return -1;
    p->pos += len;
    return 0;
}

/* ---- Duplicate keys ------------------------------------------------------------ */

typedef struct key_ref { const char *s; uint32_t len, off; } key_ref;

static int key_cmp(const void *a, const void *b)
{
    const key_ref *x = a, *y = b;
    uint32_t m = x->len < y->len ? x->len : y->len;
    int c = memcmp(x->s, y->s, m);
    if (c) return c;
    if (x->len != y->len) return x->len < y->len ? -1 : 1;
    return x->off < y->off ? -1 : (x->off > y->off);
}

/* Object node `obj` is complete: reject a key that occurs twice. */
static int check_duplicate_keys(parser *p, size_t obj)
{
    sj_doc *d = p->doc;
    uint32_t count = d->nodes[obj].u.kids.count;
    if (count < 2) return 0;
    key_ref *keys = malloc(count * sizeof *keys);
    if (!keys) return fail_at(p, d->nodes[obj].off, "out of memory");
    size_t k = obj + 1;
    for (uint32_t m = 0; m < count; m++) {
        keys[m].s = sj_str(d, k);
        keys[m].len = d->nodes[k].u.str.len;
        keys[m].off = d->nodes[k].off;
        k = sj_next(d, k + 1);
    }
    qsort(keys, count, sizeof *keys, key_cmp);
    int rc = 0;
    for (uint32_t m = 1; m < count; m++) {
        if (keys[m].len == keys[m - 1].len && memcmp(keys[m].s, keys[m - 1].s, keys[m].len) == 0) {
            rc = fail_at(p, keys[m].off, "duplicate key \"%.*s\"",
                         (int)(keys[m].len > 60 ? 60 : keys[m].len), keys[m].s);
            break;
        }
    }
    free(keys);
    return rc;
}

/* ---- Values ------------------------------------------------------------------------ */

static int parse_value(parser *p, int depth);

static int parse_container(parser *p, int depth, int is_object)
{
    char close = is_object ? '}' : ']';
    size_t start = p->pos;
    if (depth >= p->max_depth)
        return fail_at(p, start, "nesting deeper than %d levels", p->max_depth);
    size_t idx = push(p, is_object ? SJ_OBJECT : SJ_ARRAY, start);
    if (idx == (size_t)-1) return -1;
    uint32_t count = 0;
    p->pos++;
    skip_ws(p);
    if (p->pos < p->n && p->s[p->pos] == (unsigned char)close) {
        p->pos++;
    } else {
        for (;;) {
            if (is_object) {
                skip_ws(p);
                if (p->pos >= p->n) return fail_at(p, p->pos, "unexpected end of text in object");
                if (p->s[p->pos] != '"') return fail_at(p, p->pos, "expected a string key");
                if (parse_string(p)) return -1;
                skip_ws(p);
                if (p->pos >= p->n || p->s[p->pos] != ':')
                    return fail_at(p, p->pos, "expected ':'");
                p->pos++;
            }
            if (parse_value(p, depth + 1)) return -1;
            count++;
            skip_ws(p);
            if (p->pos >= p->n)
                return fail_at(p, p->pos, "unexpected end of text in %s",
                               is_object ? "object" : "array");
            if (p->s[p->pos] == ',') { p->pos++; continue; }
            if (p->s[p->pos] == (unsigned char)close) { p->pos++; break; }
            return fail_at(p, p->pos, "expected ',' or '%c'", close);
        }
    }
    sj_node *nd = &p->doc->nodes[idx];
    nd->u.kids.count = count;
    nd->u.kids.end = (uint32_t)p->doc->count;
    return is_object ? check_duplicate_keys(p, idx) : 0;
}

static int parse_value(parser *p, int depth)
{
    skip_ws(p);
    if (p->pos >= p->n) return fail_at(p, p->pos, "unexpected end of text, expected a value");
    unsigned char c = p->s[p->pos];
    switch (c) {
    case '{': return parse_container(p, depth, 1);
    case '[': return parse_container(p, depth, 0);
    case '"': return parse_string(p);
    case 't': return parse_literal(p, "true", SJ_TRUE);
    case 'f': return parse_literal(p, "false", SJ_FALSE);
    case 'n': return parse_literal(p, "null", SJ_NULL);
    default:
        if (c == '-' || (c >= '0' && c <= '9')) return parse_int(p);
        if (c >= 0x21 && c < 0x7F) return fail_at(p, p->pos, "unexpected character '%c'", c);
        return fail_at(p, p->pos, "unexpected byte 0x%02X", c);
    }
}

int sj_parse(sj_doc *doc, const char *text, size_t len, int max_depth)
{
    memset(doc, 0, sizeof *doc);
    parser p = { doc, (const unsigned char *)text, len, 0, 0, max_depth > 0 ? max_depth : SJ_DEFAULT_MAX_DEPTH };
    if (len >= UINT32_MAX) return fail_at(&p, 0, "text too long (%zu bytes)", len);
    doc->strings = malloc(len + 1);
    if (!doc->strings) return fail_at(&p, 0, "out of memory");
    if (parse_value(&p, 0)) return -1;
    skip_ws(&p);
    if (p.pos != len) return fail_at(&p, p.pos, "unexpected data after the top-level value");
    return 0;
}

void sj_free(sj_doc *doc)
{
    if (!doc) return;
    free(doc->nodes);
    free(doc->strings);
    doc->nodes = NULL;
    doc->strings = NULL;
    doc->count = doc->cap = 0;
}

/* ---- Writing */

int sd_utf8_len(const unsigned char *s)
{
    unsigned c = s[0];
    if (c < 0x80) return 1;
    int n = c >= 0xf0 && c <= 0xf4 ? 4 : c >= 0xe0 ? 3 : c >= 0xc2 && c < 0xe0 ? 2 : 0;
    if (c >= 0xf5) n = 0;
    for (int i = 1; i < n; i++)
        if ((s[i] & 0xc0) != 0x80) return 0;
    if (n == 3 && ((c == 0xe0 && s[1] < 0xa0) || (c == 0xed && s[1] >= 0xa0))) return 0;   /* overlong, surrogate */
    if (n == 4 && ((c == 0xf0 && s[1] < 0x90) || (c == 0xf4 && s[1] >= 0x90))) return 0;   /* overlong, > U+10FFFF */
    return n;
}

const char *sd_json_char(const char *s, char buf[8], int *used, int *len)
{
    const unsigned char *p = (const unsigned char *)s;
    const int n = sd_utf8_len(p);
    *used = n ? n : 1;
    const char *e = NULL;
    if (*p == '"') e = "\\\"";
    else if (*p == '\\') e = "\\\\";
    else if (*p == '\n') e = "\\n";
    else if (*p == '\t') e = "\\t";
    else if (*p < 0x20 || *p == 0x7f) snprintf(buf, 8, "\\u%04x", *p), e = buf;
    else if (n == 0) e = "\\ufffd";   /* not UTF-8: the replacement character */
    else if (n == 2 && p[0] == 0xc2 && p[1] < 0xa0) snprintf(buf, 8, "\\u%04x", p[1]), e = buf;   /* C1 controls */
    if (!e) {
        *len = n;
        return s;
    }
    *len = (int)strlen(e);
    return e;
}

void sd_json_write_str(FILE *f, const char *s)
{
    fputc('"', f);
    for (const char *p = s ? s : ""; *p;) {
        char buf[8];
        int used, len;
        const char *t = sd_json_char(p, buf, &used, &len);
        fwrite(t, 1, (size_t)len, f);
        p += used;
    }
    fputc('"', f);
}
