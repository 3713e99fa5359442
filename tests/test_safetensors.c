/* safetensors and atomic writes: round trips, the exact byte layout of a tiny
 * file, writer-side validation, and hostile files that must be rejected with a
 * message (never a crash). */
#define _POSIX_C_SOURCE 200809L

#include "shendu/io.h"
#include "check.h"

#include <stdint.h>
#include <string.h>
#include <unistd.h>

#define PATH_CAP 4096

/* CHECK_TMPDIR/name, in the caller's buffer of PATH_CAP bytes. */
static const char *tmp_path(char *buf, const char *name)
{
    snprintf(buf, PATH_CAP, "%s/%s", check_tmpdir(), name);
    return buf;
}

static int write_bytes(const char *path, const void *data, size_t n)
{
    FILE *fp = fopen(path, "wb");
    if (!fp) return -1;
    size_t k = n ? fwrite(data, 1, n, fp) : 0;
    return (fclose(fp) == 0 && k == n) ? 0 : -1;
}

/* Read a whole file into a malloc'd buffer; *n gets its size. */
static unsigned char *read_bytes(const char *path, size_t *n)
{
    FILE *fp = fopen(path, "rb");
    if (!fp) return NULL;
    fseek(fp, 0, SEEK_END);
    long size = ftell(fp);
    fseek(fp, 0, SEEK_SET);
    unsigned char *buf = malloc(size > 0 ? (size_t)size : 1);
    *n = buf ? fread(buf, 1, (size_t)size, fp) : 0;
    fclose(fp);
    return buf;
}

static void put_le64(unsigned char *p, uint64_t v)
{
    for (int k = 0; k < 8; k++) p[k] = (unsigned char)(v >> (8 * k));
}

/* A file with an explicit header-length prefix, htext bytes of header and data. */
static void write_st_n(const char *path, uint64_t hlen, const char *header, size_t htext,
                       const void *data, size_t dlen)
{
    unsigned char *buf = malloc(8 + htext + dlen);
    put_le64(buf, hlen);
    memcpy(buf + 8, header, htext);
    if (dlen) memcpy(buf + 8 + htext, data, dlen);
    CHECK(write_bytes(path, buf, 8 + htext + dlen) == 0);
    free(buf);
}

static void write_st(const char *path, uint64_t hlen, const char *header, const void *data,
                     size_t dlen)
{
    write_st_n(path, hlen, header, strlen(header), data, dlen);
}

/* Open must fail with a message containing `want` (if given). */
static void expect_reject(const char *what, const char *header, const void *data, size_t dlen,
                          const char *want)
{
    char pbuf[PATH_CAP];
    const char *path = tmp_path(pbuf, "hostile.safetensors");
    write_st(path, strlen(header), header, data, dlen);
    sd_error("%s", "");
    sd_st_file *f = sd_st_open(path);
    const char *err = sd_last_error();
    CHECK_MSG(f == NULL, "%s: opened", what);
    CHECK_MSG(err[0] != '\0', "%s: empty error", what);
    CHECK_MSG(strstr(err, path) != NULL, "%s: error does not name the file: %s", what, err);
    if (want) CHECK_MSG(strstr(err, want) != NULL, "%s: error '%s' lacks '%s'", what, err, want);
    sd_st_close(f);
}

static void expect_open_fail(const char *what, const char *path, const char *want)
{
    sd_error("%s", "");
    sd_st_file *f = sd_st_open(path);
    const char *err = sd_last_error();
    CHECK_MSG(f == NULL, "%s: opened", what);
    CHECK_MSG(err[0] != '\0', "%s: empty error", what);
    if (want) CHECK_MSG(strstr(err, want) != NULL, "%s: error '%s' lacks '%s'", what, err, want);
    sd_st_close(f);
}

/* ---- Round trip --------------------------------------------------------------- */

static void test_round_trip(void)
{
    char pbuf[PATH_CAP];
    const char *path = tmp_path(pbuf, "roundtrip.safetensors");
    float w[6] = { 1.5f, -2.0f, 3.25f, 0.0f, -0.0f, 1e30f };
    double b[3] = { 1.0 / 3.0, -1e300, 2.0 };
    int32_t idx[4] = { 0, -1, INT32_MAX, INT32_MIN };
    int64_t big[4] = { INT64_MAX, INT64_MIN, 42, -42 };
    uint8_t bytes[5] = { 0, 1, 127, 128, 255 };      /* odd size: misaligns what follows */
    float after[3] = { 7.0f, 8.0f, 9.0f };
    uint64_t u[2] = { UINT64_MAX, 12345 };
    float scalar = 3.5f;
    sd_st_tensor t[] = {
        { "layer.0.weight", SD_F32, 2, { 2, 3 }, w },
        { "layer.0.bias", SD_F64, 1, { 3 }, b },
        { "idx", SD_I32, 1, { 4 }, idx },
        { "big", SD_I64, 2, { 2, 2 }, big },
        { "bytes", SD_U8, 1, { 5 }, bytes },
        { "after", SD_F32, 1, { 3 }, after },
        { "u", SD_U64, 1, { 2 }, u },
        { "scalar", SD_F32, 0, { 0 }, &scalar },
        { "empty", SD_F32, 2, { 0, 3 }, NULL },
        { "名前/ü", SD_U8, 1, { 1 }, bytes },
    };
    int nt = (int)(sizeof t / sizeof t[0]);
    sd_st_kv meta[] = {
        { "format", "pt" },
        { "quote\"key", "back\\slash \"q\" \n\t\r\b\f ctrl\x01\x1f end" },
        { "utf8", "h\xc3\xa9llo \xe4\xb8\x96\xe7\x95\x8c \xf0\x9f\x8e\x89" },
        { "empty", "" },
    };
    int nm = (int)(sizeof meta / sizeof meta[0]);
    CHECK_MSG(sd_st_save(path, t, nt, meta, nm) == 0, "%s", sd_last_error());

    char tmp[4200];
    snprintf(tmp, sizeof tmp, "%s.tmp.%ld", path, (long)getpid());
    CHECK(access(tmp, F_OK) != 0);   /* no temp file left behind */

    sd_st_file *f = sd_st_open(path);
    CHECK_MSG(f != NULL, "%s", sd_last_error());
    if (!f) return;
    CHECK(sd_st_count(f) == nt);
    for (int i = 0; i < nt && i < sd_st_count(f); i++) {
        sd_st_tensor g;
        sd_st_get(f, i, &g);
        CHECK_MSG(strcmp(g.name, t[i].name) == 0, "tensor %d named %s", i, g.name);   /* order kept */
        CHECK(sd_st_find(f, t[i].name) == i);
        CHECK(g.dtype == t[i].dtype);
        CHECK(g.ndim == t[i].ndim);
        size_t n = sd_dtype_size(g.dtype);
        for (int d = 0; d < g.ndim; d++) {
            CHECK(g.shape[d] == t[i].shape[d]);
            n *= (size_t)g.shape[d];
        }
        CHECK(g.data != NULL);
        if (n) CHECK_MSG(memcmp(g.data, t[i].data, n) == 0, "tensor %s data differs", g.name);
    }
    CHECK(sd_st_find(f, "nope") == -1);
    CHECK(sd_st_find(f, "") == -1);

    CHECK(sd_st_meta_count(f) == nm);
    for (int i = 0; i < nm && i < sd_st_meta_count(f); i++) {
        sd_st_kv kv;
        sd_st_meta_get(f, i, &kv);
        CHECK(strcmp(kv.key, meta[i].key) == 0);
        CHECK(strcmp(kv.value, meta[i].value) == 0);
        const char *v = sd_st_meta(f, meta[i].key);
        CHECK(v && strcmp(v, meta[i].value) == 0);
    }
    CHECK(sd_st_meta(f, "absent") == NULL);

    /* read_f32: good, wrong shape, wrong dtype, missing name, unaligned source. */
    float got[6] = { 0 };
    int64_t shp[2] = { 2, 3 }, bad[2] = { 3, 2 };
    CHECK(sd_st_read_f32(f, "layer.0.weight", 2, shp, got) == 0);
    CHECK(memcmp(got, w, sizeof w) == 0);
    CHECK(sd_st_read_f32(f, "layer.0.weight", 2, bad, got) == -1);
    CHECK_MSG(strstr(sd_last_error(), "[2,3]") && strstr(sd_last_error(), "[3,2]") &&
              strstr(sd_last_error(), "layer.0.weight") && strstr(sd_last_error(), path),
              "%s", sd_last_error());
    CHECK(sd_st_read_f32(f, "layer.0.weight", 1, shp, got) == -1);
    CHECK(sd_st_read_f32(f, "layer.0.bias", 1, (int64_t[]){ 3 }, got) == -1);
    CHECK(strstr(sd_last_error(), "F64") != NULL);
    CHECK(sd_st_read_f32(f, "nope", 1, shp, got) == -1);
    CHECK_MSG(strstr(sd_last_error(), "no tensor 'nope'") && strstr(sd_last_error(), path),
              "%s", sd_last_error());
    float a3[3];
    CHECK(sd_st_read_f32(f, "after", 1, (int64_t[]){ 3 }, a3) == 0);
    CHECK(a3[0] == 7.0f && a3[1] == 8.0f && a3[2] == 9.0f);
    float s1 = 0;
    CHECK(sd_st_read_f32(f, "scalar", 0, NULL, &s1) == 0);
    CHECK(s1 == 3.5f);
    CHECK(sd_st_read_f32(f, "empty", 2, (int64_t[]){ 0, 3 }, NULL) == 0);
    sd_st_close(f);
    sd_st_close(NULL);

    /* Overwriting an existing file replaces it atomically. */
    CHECK(sd_st_save(path, t, 1, NULL, 0) == 0);
    f = sd_st_open(path);
    CHECK(f && sd_st_count(f) == 1 && sd_st_meta_count(f) == 0);
    sd_st_close(f);

    /* No tensors, no metadata: a valid file "{}" padded. */
    CHECK(sd_st_save(path, NULL, 0, NULL, 0) == 0);
    f = sd_st_open(path);
    CHECK(f && sd_st_count(f) == 0);
    sd_st_close(f);
}

/* ---- Byte layout ------------------------------------------------------------------ */

static void test_layout(void)
{
    char pbuf[PATH_CAP];
    const char *path = tmp_path(pbuf, "tiny.safetensors");
    uint8_t v = 7;
    sd_st_tensor t = { "x", SD_U8, 1, { 1 }, &v };
    sd_st_kv kv = { "a", "b" };
    CHECK(sd_st_save(path, &t, 1, &kv, 1) == 0);
    size_t n = 0;
    unsigned char *buf = read_bytes(path, &n);
    CHECK(buf != NULL && n >= 8);
    if (!buf || n < 8) { free(buf); return; }
    uint64_t hlen = 0;
    for (int k = 7; k >= 0; k--) hlen = hlen << 8 | buf[k];
    const char *want = "{\"__metadata__\":{\"a\":\"b\"},"
                       "\"x\":{\"dtype\":\"U8\",\"shape\":[1],\"data_offsets\":[0,1]}}";
    size_t wl = strlen(want);
    CHECK((8 + hlen) % 8 == 0);                     /* data area 8-byte aligned */
    CHECK(n == 8 + hlen + 1);
    CHECK(hlen >= wl && hlen < wl + 8);
    CHECK(memcmp(buf + 8, want, wl) == 0);
    for (size_t i = 8 + wl; i < 8 + hlen; i++) CHECK(buf[i] == ' ');
    CHECK(buf[n - 1] == 7);
    free(buf);
}

/* ---- Writer validation and atomic writes --------------------------------------------- */

static void test_save_errors(void)
{
    char pbuf[PATH_CAP];
    const char *path = tmp_path(pbuf, "bad-save.safetensors");
    float d[4] = { 0 };
    unlink(path);
    sd_st_tensor t2[2] = { { "a", SD_F32, 1, { 2 }, d }, { "a", SD_F32, 1, { 2 }, d } };
    CHECK(sd_st_save(path, t2, 2, NULL, 0) == -1);
    CHECK(strstr(sd_last_error(), "duplicate") != NULL);
    sd_st_tensor e = { "", SD_F32, 1, { 2 }, d };
    CHECK(sd_st_save(path, &e, 1, NULL, 0) == -1 && sd_last_error()[0]);
    e.name = NULL;
    CHECK(sd_st_save(path, &e, 1, NULL, 0) == -1 && sd_last_error()[0]);
    e.name = "__metadata__";
    CHECK(sd_st_save(path, &e, 1, NULL, 0) == -1 && sd_last_error()[0]);
    e.name = "x";
    e.ndim = 9;
    CHECK(sd_st_save(path, &e, 1, NULL, 0) == -1 && strstr(sd_last_error(), "ndim"));
    e.ndim = -1;
    CHECK(sd_st_save(path, &e, 1, NULL, 0) == -1 && sd_last_error()[0]);
    e.ndim = 2;
    e.shape[0] = 2;
    e.shape[1] = -1;
    CHECK(sd_st_save(path, &e, 1, NULL, 0) == -1 && strstr(sd_last_error(), "negative"));
    e.ndim = 3;
    e.shape[0] = e.shape[1] = e.shape[2] = INT64_C(1) << 40;
    CHECK(sd_st_save(path, &e, 1, NULL, 0) == -1 && strstr(sd_last_error(), "overflow"));
    e.ndim = 1;
    e.shape[0] = 2;
    e.data = NULL;
    CHECK(sd_st_save(path, &e, 1, NULL, 0) == -1 && sd_last_error()[0]);
    e.data = d;
    e.name = "bad\xff";
    CHECK(sd_st_save(path, &e, 1, NULL, 0) == -1 && strstr(sd_last_error(), "UTF-8"));
    e.name = "x";
    sd_st_kv m2[2] = { { "k", "1" }, { "k", "2" } };
    CHECK(sd_st_save(path, &e, 1, m2, 2) == -1 && strstr(sd_last_error(), "duplicate"));
    CHECK(access(path, F_OK) != 0);   /* nothing was written */

    /* A directory that does not exist: the message names the path and the errno. */
    const char *nodir = "/nonexistent-shendu-dir/x.safetensors";
    CHECK(sd_st_save(nodir, &e, 1, NULL, 0) == -1);
    CHECK_MSG(strstr(sd_last_error(), nodir) && strstr(sd_last_error(), "No such file"),
              "%s", sd_last_error());
}

static void test_atomic(void)
{
    char pbuf[PATH_CAP];
    const char *path = tmp_path(pbuf, "atomic.bin");
    sd_chunk c[3] = { { "hello ", 6 }, { NULL, 0 }, { "world", 5 } };
    CHECK(sd_write_atomic(path, c, 3) == 0);
    size_t n = 0;
    unsigned char *buf = read_bytes(path, &n);
    CHECK(buf && n == 11 && memcmp(buf, "hello world", 11) == 0);
    free(buf);
    CHECK(sd_write_atomic(path, c, 1) == 0);   /* replace with a shorter file */
    buf = read_bytes(path, &n);
    CHECK(buf && n == 6 && memcmp(buf, "hello ", 6) == 0);
    free(buf);
    CHECK(sd_write_atomic(path, NULL, 0) == 0);
    buf = read_bytes(path, &n);
    CHECK(buf && n == 0);
    free(buf);
    CHECK(sd_write_atomic("/nonexistent-shendu-dir/a.bin", c, 3) == -1);
    CHECK(strstr(sd_last_error(), "/nonexistent-shendu-dir/a.bin") != NULL);
    /* The target is a directory: refused before any temporary file is made. */
    CHECK(sd_write_atomic(check_tmpdir(), c, 3) == -1);
    char tmp[4200];
    snprintf(tmp, sizeof tmp, "%s.tmp.%ld", check_tmpdir(), (long)getpid());
    CHECK(access(tmp, F_OK) != 0);
    CHECK(strstr(sd_last_error(), "a directory") != NULL);
}

/* ---- Hostile files ------------------------------------------------------------------------ */

static void test_hostile(void)
{
    char pbuf[PATH_CAP];
    const char *path = tmp_path(pbuf, "hostile.safetensors");
    float d[4] = { 1, 2, 3, 4 };

    /* Files too short, lengths beyond the file or the limit. */
    CHECK(write_bytes(path, "", 0) == 0);
    expect_open_fail("empty file", path, "too short");
    CHECK(write_bytes(path, "\x02\0\0", 3) == 0);
    expect_open_fail("3-byte file", path, "too short");
    write_st(path, 1000, "{}", NULL, 0);
    expect_open_fail("header length > file", path, "exceeds the file size");
    write_st(path, (UINT64_C(1) << 32) + 5, "{}", NULL, 0);
    expect_open_fail("header length 2^32+5", path, "exceeds the file size");
    write_st(path, UINT64_MAX, "{}", NULL, 0);
    expect_open_fail("header length 2^64-1", path, "exceeds the file size");
    char missing[PATH_CAP];
    tmp_path(missing, "does-not-exist.safetensors");
    unlink(missing);
    expect_open_fail("missing file", missing, "cannot open");
    expect_open_fail("directory", check_tmpdir(), NULL);
    {   /* A sparse file just big enough to hold a header over the 100 MB limit. */
        uint64_t hlen = 100000001;
        write_st(path, hlen, "{", NULL, 0);
        if (truncate(path, (off_t)(8 + hlen)) == 0) expect_open_fail("header > 100 MB", path, "limit");
    }

    /* A valid file, truncated in its data and in its header. */
    const char *good = "{\"a\":{\"dtype\":\"F32\",\"shape\":[4],\"data_offsets\":[0,16]}}";
    write_st(path, strlen(good), good, d, 12);
    expect_open_fail("truncated data", path, "outside the data area");
    write_st(path, strlen(good), good, d, 0);
    CHECK(truncate(path, 30) == 0);
    expect_open_fail("truncated header", path, "exceeds the file size");

    /* Not JSON / not an object. */
    expect_reject("not JSON", "hello world", NULL, 0, "header byte 0");
    expect_reject("empty header", "", NULL, 0, "header byte 0");
    expect_reject("array top level", "[1,2,3]", NULL, 0, "not a JSON object");
    expect_reject("string top level", "\"x\"", NULL, 0, "not a JSON object");
    expect_reject("bad separator", "{\"a\":{} \"b\":1}", NULL, 0, "header byte 8: expected ',' or '}'");
    expect_reject("trailing comma", "{\"a\":{},}", NULL, 0, "expected a string key");
    expect_reject("unterminated", "{\"a\":{\"dtype\":\"F3", NULL, 0, "unterminated string");
    expect_reject("trailing data", "{} x", NULL, 0, "after the top-level value");
    write_st_n(path, 4, "{}\0\0", 4, NULL, 0);
    expect_open_fail("NUL padding", path, "header byte 2");
    expect_reject("duplicate key", "{\"a\":{},\"a\":{}}", NULL, 0, "duplicate key");
    expect_reject("leading zero", "{\"a\":{\"shape\":[01]}}", NULL, 0, "leading zero");
    expect_reject("float", "{\"a\":{\"shape\":[1.5]}}", NULL, 0, "non-integer");
    expect_reject("exponent", "{\"a\":{\"shape\":[1e3]}}", NULL, 0, "non-integer");
    expect_reject("int out of range", "{\"a\":{\"shape\":[99999999999999999999]}}", NULL, 0,
                  "out of range");
    expect_reject("bad literal", "{\"a\":tru}", NULL, 0, "literal");
    expect_reject("single quotes", "{'a':1}", NULL, 0, "expected a string key");
    expect_reject("comment", "{/*x*/}", NULL, 0, NULL);

    /* Nesting: deep arrays must be an error, not a stack overflow. */
    {
        size_t depth = 10000;
        char *deep = malloc(depth * 2 + 16);
        memset(deep, '[', depth);
        memset(deep + depth, ']', depth);
        deep[2 * depth] = '\0';
        expect_reject("nesting 10000 (top)", deep, NULL, 0, "nesting deeper");
        memcpy(deep, "{\"a\":", 5);
        strcpy(deep + 2 * depth, "}");
        expect_reject("nesting 10000 (inside)", deep, NULL, 0, "nesting deeper");
        free(deep);
    }

    /* Strings: UTF-8 and escapes. */
    expect_reject("invalid UTF-8 byte", "{\"a\xff\":{}}", NULL, 0, "invalid UTF-8");
    expect_reject("overlong UTF-8", "{\"__metadata__\":{\"k\":\"\xc0\xaf\"}}", NULL, 0, "invalid UTF-8");
    expect_reject("UTF-8 surrogate", "{\"__metadata__\":{\"k\":\"\xed\xa0\x80\"}}", NULL, 0,
                  "invalid UTF-8");
    expect_reject("truncated UTF-8", "{\"__metadata__\":{\"k\":\"\xe4\xb8\"}}", NULL, 0, "invalid UTF-8");
    expect_reject("above U+10FFFF", "{\"__metadata__\":{\"k\":\"\xf4\x90\x80\x80\"}}", NULL, 0,
                  "invalid UTF-8");
    expect_reject("lone high surrogate", "{\"__metadata__\":{\"k\":\"\\ud83c\"}}", NULL, 0, "surrogate");
    expect_reject("lone low surrogate", "{\"__metadata__\":{\"k\":\"\\udf89x\"}}", NULL, 0, "surrogate");
    expect_reject("bad escape", "{\"__metadata__\":{\"k\":\"\\x\"}}", NULL, 0, "invalid escape");
    expect_reject("bad hex", "{\"__metadata__\":{\"k\":\"\\u12g4\"}}", NULL, 0, "hex");
    expect_reject("raw control char", "{\"__metadata__\":{\"k\":\"a\nb\"}}", NULL, 0, "control character");
    expect_reject("NUL in value", "{\"__metadata__\":{\"k\":\"a\\u0000b\"}}", NULL, 0, "NUL");

    /* Metadata. */
    expect_reject("metadata value not a string", "{\"__metadata__\":{\"a\":1}}", NULL, 0,
                  "not a string");
    expect_reject("metadata not an object", "{\"__metadata__\":[\"a\"]}", NULL, 0, "not an object");

    /* Tensor entries. */
#define T(fields) "{\"w\":{" fields "}}"
    expect_reject("unknown dtype", T("\"dtype\":\"F16\",\"shape\":[2],\"data_offsets\":[0,4]"), d, 4,
                  "unsupported dtype 'F16'");
    expect_reject("BF16", T("\"dtype\":\"BF16\",\"shape\":[2],\"data_offsets\":[0,4]"), d, 4,
                  "unsupported dtype");
    expect_reject("dtype not string", T("\"dtype\":4,\"shape\":[2],\"data_offsets\":[0,4]"), d, 4,
                  "dtype is not a string");
    expect_reject("missing dtype", T("\"shape\":[2],\"data_offsets\":[0,8]"), d, 8, "missing \"dtype\"");
    expect_reject("missing offsets", T("\"dtype\":\"F32\",\"shape\":[2]"), d, 8, "missing \"data_offsets\"");
    expect_reject("unknown field", T("\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8],\"x\":1"),
                  d, 8, "unknown field 'x'");
    expect_reject("offsets past end", T("\"dtype\":\"F32\",\"shape\":[4],\"data_offsets\":[0,16]"), d, 8,
                  "outside the data area");
    expect_reject("begin > end", T("\"dtype\":\"F32\",\"shape\":[0],\"data_offsets\":[8,4]"), d, 8,
                  "outside the data area");
    expect_reject("offsets mismatch", T("\"dtype\":\"F32\",\"shape\":[3],\"data_offsets\":[0,8]"), d, 16,
                  "needs 12");
    expect_reject("offsets 3 values", T("\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8,8]"), d, 8,
                  "two integers");
    expect_reject("negative offset", T("\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[-8,0]"), d, 8,
                  "non-negative");
    expect_reject("negative shape", T("\"dtype\":\"F32\",\"shape\":[-2],\"data_offsets\":[0,8]"), d, 8,
                  "shape[0]");
    expect_reject("nested shape", T("\"dtype\":\"F32\",\"shape\":[2,[1]],\"data_offsets\":[0,8]"), d, 8,
                  "shape[1]");
    expect_reject("shape not array", T("\"dtype\":\"F32\",\"shape\":2,\"data_offsets\":[0,8]"), d, 8,
                  "not an array");
    expect_reject("shape 9 dims", T("\"dtype\":\"U8\",\"shape\":[1,1,1,1,1,1,1,1,1],\"data_offsets\":[0,1]"),
                  d, 8, "9 dimensions");
    expect_reject("huge shape overflow",
                  T("\"dtype\":\"F32\",\"shape\":[4294967296,4294967296,4],\"data_offsets\":[0,8]"), d, 8,
                  "overflows");
    expect_reject("shape overflow by dtype",
                  T("\"dtype\":\"F64\",\"shape\":[2305843009213693952],\"data_offsets\":[0,8]"), d, 8,
                  "overflows");
    expect_reject("entry not object", "{\"w\":[1]}", NULL, 0, "not an object");
    expect_reject("empty name", "{\"\":{\"dtype\":\"F32\",\"shape\":[0],\"data_offsets\":[0,0]}}", NULL, 0,
                  "empty tensor name");
    expect_reject("NUL in name", "{\"a\\u0000b\":{\"dtype\":\"F32\",\"shape\":[0],\"data_offsets\":[0,0]}}",
                  NULL, 0, "NUL");
    expect_reject("overlap",
                  "{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},"
                  "\"b\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[4,12]}}", d, 16, "overlap");
    expect_reject("overlap (same range, out of order)",
                  "{\"b\":{\"dtype\":\"U8\",\"shape\":[4],\"data_offsets\":[8,12]},"
                  "\"a\":{\"dtype\":\"F32\",\"shape\":[3],\"data_offsets\":[0,12]}}", d, 16, "overlap");
#undef T
}

/* Hand-written files that are valid though unlike what the writer produces. */
static void test_valid_variants(void)
{
    char pbuf[PATH_CAP];
    const char *path = tmp_path(pbuf, "variant.safetensors");
    float d[4] = { 1, 2, 3, 4 };
    /* Whitespace everywhere, out-of-order offsets, an empty tensor sharing an
     * offset, \u escapes incl. a surrogate pair, a gap in the data, and padding. */
    const char *h = " {\n\t\"b\" : {\"data_offsets\": [8, 16], \"shape\": [2], \"dtype\": \"F32\"},\r\n"
                    " \"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]},"
                    " \"z\":{\"dtype\":\"F32\",\"shape\":[0,5],\"data_offsets\":[8,8]},"
                    " \"__metadata__\":{\"e\\u0301\\/\":\"\\u00e9\\ud83c\\udf89\\n\"}}   ";
    write_st(path, strlen(h), h, d, 16);
    sd_st_file *f = sd_st_open(path);
    CHECK_MSG(f != NULL, "%s", sd_last_error());
    if (!f) return;
    CHECK(sd_st_count(f) == 3);
    float b[2];
    CHECK(sd_st_read_f32(f, "b", 1, (int64_t[]){ 2 }, b) == 0);
    CHECK(b[0] == 3 && b[1] == 4);
    float a;
    CHECK(sd_st_read_f32(f, "a", 1, (int64_t[]){ 1 }, &a) == 0 && a == 1);
    const char *m = sd_st_meta(f, "e\xcc\x81/");
    CHECK(m && strcmp(m, "\xc3\xa9\xf0\x9f\x8e\x89\n") == 0);
    sd_st_close(f);

    write_st(path, 2, "{}", NULL, 0);
    f = sd_st_open(path);
    CHECK(f && sd_st_count(f) == 0 && sd_st_meta_count(f) == 0);
    sd_st_close(f);
}

int main(void)
{
    CHECK(strcmp(sd_dtype_name(SD_F32), "F32") == 0 && strcmp(sd_dtype_name(SD_U64), "U64") == 0);
    CHECK(sd_dtype_size(SD_F64) == 8 && sd_dtype_size(SD_U8) == 1 && sd_dtype_size(SD_I32) == 4);
    test_round_trip();
    test_layout();
    test_save_errors();
    test_atomic();
    test_hostile();
    test_valid_variants();
    return check_done("test_safetensors");
}
