/* IDX files, the format of MNIST and Fashion-MNIST, raw or gzip-compressed.
 *
 * Layout (all multi-byte integers big-endian):
 *   offset 0   2 bytes   0x00 0x00
 *   offset 2   1 byte    element type: 0x08 uint8, 0x09 int8, 0x0B int16,
 *                        0x0C int32, 0x0D float32, 0x0E float64
 *   offset 3   1 byte    number of dimensions, ndim
 *   offset 4   4*ndim    dimensions, uint32 each
 *   offset 4+4*ndim      the elements, row-major, last dimension fastest
 * Nothing may follow the elements. Only type 0x08 is supported here.
 *
 * A file is gzip-compressed when it starts with the gzip magic 0x1f 0x8b;
 * offsets in error messages then count decompressed bytes.
 *
 * Hostile input: the header is read and checked first, the claimed data size
 * is capped (IDX_MAX_BYTES), and the data are read into a buffer that grows
 * as bytes actually arrive, so a tiny file claiming a huge tensor never makes
 * us allocate the claim. We read one byte past the claim to detect trailing
 * garbage. */
#define _POSIX_C_SOURCE 200809L
#include "shendu/data.h"
#include "shendu/io.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <zlib.h>

#define IDX_MAX_BYTES ((uint64_t)1 << 30)   /* 1 GiB of elements at most */
#define IDX_FIRST_CHUNK ((size_t)1 << 20)   /* first data buffer: 1 MiB */

static const char *idx_type_name(uint8_t t)
{
    switch (t) {
    case 0x08: return "unsigned byte";
    case 0x09: return "signed byte";
    case 0x0B: return "int16";
    case 0x0C: return "int32";
    case 0x0D: return "float32";
    case 0x0E: return "float64";
    default:   return "not an IDX type";
    }
}

/* ---- A byte source: a plain FILE or a zlib gzFile. */
typedef struct src {
    const char *path;
    FILE *fp;       /* raw file */
    gzFile gz;      /* gzip file */
    int cut;        /* gzip input ended inside the compressed stream */
} src;

static int src_open(src *s, const char *path)
{
    memset(s, 0, sizeof *s);
    s->path = path;
    int fd = sd_file_open_read(path, NULL);   /* a FIFO or device is refused, not waited on */
    if (fd < 0) return -1;
    FILE *fp = fdopen(fd, "rb");
    if (!fp) {
        close(fd);
        return sd_error("file %s: cannot open: %s", path, strerror(errno));
    }
    unsigned char m[2] = {0, 0};
    size_t got = fread(m, 1, 2, fp);
    if (got == 2 && m[0] == 0x1f && m[1] == 0x8b) {
        rewind(fp);
        int gfd = dup(fd);
        fclose(fp);
        s->gz = gfd >= 0 ? gzdopen(gfd, "rb") : NULL;
        if (!s->gz) {
            if (gfd >= 0) close(gfd);
            return sd_error("file %s: cannot open as gzip", path);
        }
        gzbuffer(s->gz, 1u << 17);
        return 0;
    }
    rewind(fp);
    s->fp = fp;
    return 0;
}

static void src_close(src *s)
{
    if (s->fp) fclose(s->fp);
    if (s->gz) gzclose(s->gz);
    s->fp = NULL;
    s->gz = NULL;
}

/* Suffix for "truncated" messages: why the data ran out. */
static const char *src_why(const src *s)
{
    return s->cut ? " (the gzip stream is cut short)" : "";
}

/* Read up to n bytes; returns how many arrived (short only at the end of the
 * data), or -1 with the error set on a read error or corrupt gzip data.
 * `done` is the number of (decompressed) bytes already consumed, for messages.
 * A gzip stream that simply stops early is not an error here: it sets s->cut
 * and reads short, so the caller reports what was missing. */
static long long src_read(src *s, void *buf, size_t n, uint64_t done)
{
    size_t total = 0;
    unsigned char *p = buf;
    if (s->fp) {
        total = fread(p, 1, n, s->fp);
        if (total < n && ferror(s->fp))
            return sd_error("file %s: read error after %llu bytes", s->path,
                            (unsigned long long)done);
        return (long long)total;
    }
    while (total < n) {
        size_t want = n - total;
        if (want > ((size_t)1 << 30)) want = (size_t)1 << 30;  /* gzread takes unsigned, returns int */
        int got = gzread(s->gz, p + total, (unsigned)want);
        int errnum = Z_OK;
        const char *msg = gzerror(s->gz, &errnum);
        if (got > 0) total += (size_t)got;
        /* zlib reports input that ends mid-stream as Z_BUF_ERROR ("unexpected
         * end of file") but still hands out what it decompressed before that,
         * so keep reading until it returns 0. */
        if (errnum == Z_BUF_ERROR) s->cut = 1;
        else if (got < 0 || errnum != Z_OK) {
            /* zlib's message is "PATH: what"; keep only "what". */
            size_t pl = strlen(s->path);
            if (msg && strncmp(msg, s->path, pl) == 0 && msg[pl] == ':' && msg[pl + 1] == ' ')
                msg += pl + 2;
            return sd_error("file %s: corrupt gzip stream (zlib: %s) after %llu decompressed bytes",
                            s->path, msg && *msg ? msg : "unknown error",
                            (unsigned long long)(done + total));
        }
        if (got <= 0) break;
    }
    return (long long)total;
}

static uint32_t be32(const unsigned char *p)
{
    return ((uint32_t)p[0] << 24) | ((uint32_t)p[1] << 16) | ((uint32_t)p[2] << 8) | p[3];
}

/* Read and check the header; fills ndim, dims, type, n. */
static int read_header(src *s, sd_idx *out, size_t *hdr_len)
{
    const char *path = s->path;
    unsigned char h[4 + 4 * SD_IDX_MAX_DIMS];
    long long got = src_read(s, h, 4, 0);
    if (got < 0) return -1;
    if (got == 0 && s->cut)
        return sd_error("file %s: truncated gzip stream: no data before it ends", path);
    if (got == 0) return sd_error("file %s: empty (0 bytes); expected an IDX header", path);
    if (got < 4)
        return sd_error("file %s: truncated header: expected at least 4 bytes, found %lld%s",
                        path, got, src_why(s));
    if (h[0] != 0 || h[1] != 0)
        return sd_error("file %s: bad magic at offset 0: expected 00 00, found %02x %02x "
                        "(not an IDX file)", path, h[0], h[1]);
    if (h[2] != 0x08)
        return sd_error("file %s: unsupported IDX element type 0x%02x (%s) at offset 2; "
                        "only 0x08 (unsigned byte) is supported", path, h[2], idx_type_name(h[2]));
    int ndim = h[3];
    if (ndim < 1 || ndim > SD_IDX_MAX_DIMS)
        return sd_error("file %s: bad dimension count %d at offset 3 (expected 1 to %d)",
                        path, ndim, SD_IDX_MAX_DIMS);
    size_t len = 4 + 4 * (size_t)ndim;
    got = src_read(s, h + 4, len - 4, 4);
    if (got < 0) return -1;
    if ((size_t)got < len - 4)
        return sd_error("file %s: truncated header: expected %zu bytes for %d dimensions, found %lld%s",
                        path, len, ndim, 4 + got, src_why(s));
    uint64_t n = 1;
    for (int i = 0; i < ndim; i++) {
        uint32_t d = be32(h + 4 + 4 * i);
        out->dims[i] = d;
        /* n <= IDX_MAX_BYTES < 2^31 and d < 2^32, so n*d cannot overflow 64 bits. */
        n *= d;
        if (n > IDX_MAX_BYTES)
            return sd_error("file %s: dimensions at offset 4 claim more than %llu elements "
                            "(dimension %d is %u)", path, (unsigned long long)IDX_MAX_BYTES, i, d);
    }
    out->ndim = ndim;
    out->type = h[2];
    out->n = (size_t)n;
    *hdr_len = len;
    return 0;
}

/* Read exactly idx->n data bytes into a growing buffer, then insist on EOF. */
static int read_data(src *s, sd_idx *idx, size_t hdr_len)
{
    const char *path = s->path;
    size_t want = idx->n + 1;              /* one extra byte detects trailing garbage */
    size_t cap = want < IDX_FIRST_CHUNK ? want : IDX_FIRST_CHUNK;
    size_t have = 0;
    uint8_t *buf = malloc(cap);
    if (!buf) return sd_error("file %s: out of memory", path);
    for (;;) {
        long long got = src_read(s, buf + have, cap - have, hdr_len + have);
        if (got < 0) { free(buf); return -1; }
        have += (size_t)got;
        if (have < cap || cap == want) break;  /* end of data, or read all we will ever need */
        size_t ncap = cap > want / 2 ? want : cap * 2;
        uint8_t *nb = realloc(buf, ncap);
        if (!nb) { free(buf); return sd_error("file %s: out of memory", path); }
        buf = nb;
        cap = ncap;
    }
    if (have < idx->n) {
        free(buf);
        return sd_error("file %s: truncated: expected %zu data bytes after the %zu-byte header, "
                        "found %zu%s", path, idx->n, hdr_len, have, src_why(s));
    }
    if (have > idx->n) {
        free(buf);
        return sd_error("file %s: trailing bytes at offset %zu: the header's dimensions account "
                        "for %zu data bytes, but the file goes on", path, hdr_len + idx->n, idx->n);
    }
    idx->data = buf;   /* n+1 bytes allocated (never 0, so malloc(0) is avoided) */
    return 0;
}

int sd_idx_load(const char *path, sd_idx *out)
{
    if (!out) return sd_error("sd_idx_load: out is NULL");
    memset(out, 0, sizeof *out);
    if (!path || !*path) return sd_error("sd_idx_load: empty path");
    src s;
    if (src_open(&s, path) < 0) return -1;
    size_t hdr_len = 0;
    int rc = read_header(&s, out, &hdr_len);
    if (rc == 0) rc = read_data(&s, out, hdr_len);
    if (rc == 0 && s.cut)   /* all the data arrived, but the gzip trailer (CRC, length) did not */
        rc = sd_error("file %s: truncated gzip stream: it ends before its CRC trailer, so the "
                      "data cannot be verified", path);
    src_close(&s);
    if (rc < 0) sd_idx_free(out);
    return rc;
}

void sd_idx_free(sd_idx *idx)
{
    if (!idx) return;
    free(idx->data);
    memset(idx, 0, sizeof *idx);
}

/* gzip-compress `chunks` into one malloc'd buffer (deterministic: no name, mtime 0). */
static int gzip_buffer(const char *path, const sd_chunk *chunks, int nchunks,
                       unsigned char **outp, size_t *outlen)
{
    z_stream z;
    memset(&z, 0, sizeof z);
    /* windowBits 15 + 16 asks zlib for a gzip wrapper instead of zlib's. */
    if (deflateInit2(&z, 6, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY) != Z_OK)
        return sd_error("file %s: deflateInit2 failed", path);
    size_t total = 0;
    for (int i = 0; i < nchunks; i++) total += chunks[i].size;
    if (total > UINT_MAX) {   /* deflateBound takes uLong; stay within what IDX allows anyway */
        deflateEnd(&z);
        return sd_error("file %s: %zu bytes is too large to compress", path, total);
    }
    size_t cap = deflateBound(&z, (uLong)total) + 64;
    unsigned char *buf = malloc(cap);
    if (!buf) { deflateEnd(&z); return sd_error("file %s: out of memory", path); }
    z.next_out = buf;
    z.avail_out = (uInt)cap;
    int zr = Z_OK;
    for (int i = 0; i < nchunks && zr == Z_OK; i++) {
        z.next_in = (Bytef *)chunks[i].data;
        z.avail_in = (uInt)chunks[i].size;
        zr = deflate(&z, i == nchunks - 1 ? Z_FINISH : Z_NO_FLUSH);
        if (i < nchunks - 1 && z.avail_in != 0) zr = Z_BUF_ERROR;
    }
    if (zr != Z_STREAM_END) {
        free(buf);
        deflateEnd(&z);
        return sd_error("file %s: deflate failed (%d)", path, zr);
    }
    *outlen = cap - z.avail_out;
    *outp = buf;
    deflateEnd(&z);
    return 0;
}

int sd_idx_save(const char *path, const sd_idx *idx)
{
    if (!path || !*path || !idx) return sd_error("sd_idx_save: NULL or empty argument");
    if (idx->type != 0x08)
        return sd_error("file %s: cannot save IDX type 0x%02x; only 0x08 (unsigned byte) is supported",
                        path, idx->type);
    if (idx->ndim < 1 || idx->ndim > SD_IDX_MAX_DIMS)
        return sd_error("file %s: cannot save %d dimensions (1 to %d allowed)",
                        path, idx->ndim, SD_IDX_MAX_DIMS);
    uint64_t n = 1;
    for (int i = 0; i < idx->ndim; i++) {
        n *= idx->dims[i];
        if (n > IDX_MAX_BYTES)
            return sd_error("file %s: tensor larger than the %llu-byte IDX limit", path,
                            (unsigned long long)IDX_MAX_BYTES);
    }
    if (n != idx->n)
        return sd_error("file %s: n = %zu does not match the product of the dimensions (%llu)",
                        path, idx->n, (unsigned long long)n);
    if (n > 0 && !idx->data) return sd_error("file %s: no data", path);

    unsigned char hdr[4 + 4 * SD_IDX_MAX_DIMS];
    hdr[0] = 0;
    hdr[1] = 0;
    hdr[2] = idx->type;
    hdr[3] = (unsigned char)idx->ndim;
    for (int i = 0; i < idx->ndim; i++) {
        uint32_t d = idx->dims[i];
        hdr[4 + 4 * i] = (unsigned char)(d >> 24);
        hdr[5 + 4 * i] = (unsigned char)(d >> 16);
        hdr[6 + 4 * i] = (unsigned char)(d >> 8);
        hdr[7 + 4 * i] = (unsigned char)d;
    }
    sd_chunk chunks[2] = {
        { hdr, 4 + 4 * (size_t)idx->ndim },
        { idx->data, idx->n },
    };

    size_t plen = strlen(path);
    if (plen >= 3 && strcmp(path + plen - 3, ".gz") == 0) {
        unsigned char *gz = NULL;
        size_t gzlen = 0;
        if (gzip_buffer(path, chunks, 2, &gz, &gzlen) < 0) return -1;
        sd_chunk c = { gz, gzlen };
        int rc = sd_write_atomic(path, &c, 1);
        free(gz);
        return rc;
    }
    return sd_write_atomic(path, chunks, 2);
}
