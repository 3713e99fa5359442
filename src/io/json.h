/* io/json.h — a small strict JSON parser, and the one JSON string writer,
 * internal to libshendu (the CLI uses the writer too).
 *
 * sj_parse turns a text into a flat array of nodes ("tape"), in document order:
 * a container node is followed by its children, and records the index one past
 * its last descendant, so siblings are walked with sj_next without recursion.
 * An object's children come in pairs: a string node (the key), then the value.
 *
 * Strict: RFC 8259 syntax only (no comments, no trailing commas, no leading
 * zeros), strings must be valid UTF-8 (escapes \uXXXX decoded, surrogate pairs
 * joined, lone surrogates rejected), duplicate keys in an object are an error,
 * nesting is bounded. Numbers must be integers that fit in int64; fractions and
 * exponents are rejected (nothing in shendu's file formats needs them).
 * On error, doc->err holds a message and doc->err_off the byte offset. */
#ifndef SHENDU_IO_JSON_H
#define SHENDU_IO_JSON_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

typedef enum sj_type { SJ_NULL, SJ_FALSE, SJ_TRUE, SJ_INT, SJ_STRING, SJ_ARRAY, SJ_OBJECT } sj_type;

typedef struct sj_node {
    uint8_t type;      /* sj_type */
    uint32_t off;      /* byte offset of the value's first character in the text */
    union {
        int64_t i;                              /* SJ_INT */
        struct { uint32_t pos, len; } str;      /* SJ_STRING: bytes at doc->strings + pos */
        struct { uint32_t count, end; } kids;   /* SJ_ARRAY: elements; SJ_OBJECT: members;
                                                   end: index past the last descendant */
    } u;
} sj_node;

typedef struct sj_doc {
    sj_node *nodes;
    size_t count, cap;
    char *strings;     /* decoded strings, each NUL-terminated (they may also hold \u0000) */
    size_t err_off;
    char err[160];
} sj_doc;

#define SJ_DEFAULT_MAX_DEPTH 64

/* Parse text[0..len). Returns 0, or -1 with doc->err / doc->err_off set.
 * Node 0 is the top-level value. Free with sj_free in either case. */
int  sj_parse(sj_doc *doc, const char *text, size_t len, int max_depth);
void sj_free(sj_doc *doc);

/* Index of the sibling after node i (i + 1 for scalars). */
size_t sj_next(const sj_doc *doc, size_t i);
/* The decoded bytes of string node i (NUL-terminated). */
const char *sj_str(const sj_doc *doc, size_t i);

/* 1 if s[0..n) is well-formed UTF-8 (no overlongs, surrogates or > U+10FFFF). */
int sj_utf8_valid(const char *s, size_t n);

/* ---- Writing. Every JSON string shendu writes (metric logs, safetensors
 * headers, --json lines, eval's figures, predict's names) is escaped by one
 * rule, safe for a terminal too: quote and backslash escaped, \n and \t by
 * name, other control bytes (C0, DEL, C1) as \u00XX, bytes that are not UTF-8
 * as \ufffd; other characters pass through. */

/* Length of the well-formed UTF-8 sequence at s (1 to 4), or 0 if s does not
 * start one (a stray continuation byte, an overlong form, a surrogate, a cut). */
int sd_utf8_len(const unsigned char *s);
/* The JSON text of the character at s: *used bytes of s are consumed; the
 * returned text (s itself, or an escape in buf) is *len bytes long. */
const char *sd_json_char(const char *s, char buf[8], int *used, int *len);
/* s (NULL: "") as a JSON string literal, quotes included. */
void sd_json_write_str(FILE *f, const char *s);

#endif
