/* 8-bit images: PNG load/save through libpng (the rest of the image code,
 * which needs no library, is in image.c). See include/shendu/image.h.
 *
 * libpng reports errors by calling an error function that must not return;
 * the usual way out is longjmp to a setjmp point. Both stay inside this file:
 * the error function copies libpng's message and longjmps to a setjmp in
 * read_body/write_body, which return -1 to their callers here. Everything
 * those bodies allocate is kept in a struct owned by the caller (not in
 * automatic variables of the function that called setjmp, whose values are
 * indeterminate after a longjmp), so it is freed on every path. Warnings are
 * dropped: nothing is printed. */
#define _POSIX_C_SOURCE 200809L
#include "data/image_internal.h"
#include "shendu/io.h"

#include <errno.h>
#include <math.h>
#include <png.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <zlib.h>


/* ---- libpng plumbing shared by reading and writing. */

typedef struct png_msg { char text[256]; } png_msg;

static void on_png_error(png_structp png, png_const_charp msg)
{
    png_msg *m = png_get_error_ptr(png);
    snprintf(m->text, sizeof m->text, "%s", msg ? msg : "libpng error");
    png_longjmp(png, 1);
}

static void on_png_warning(png_structp png, png_const_charp msg)
{
    (void)png;
    (void)msg;
}

/* ---- Reading. */

static int too_large_error(const char *path, unsigned long w, unsigned long h)
{
    return sd_error("%s: image too large (%lu x %lu; at most %d per side and %lld pixels)", path, w,
                    h, SD_IMAGE_MAX_SIDE, (long long)SD_IMAGE_MAX_PIXELS);
}

typedef struct png_rd {
    png_msg msg;
    FILE *fp;
    unsigned char head[33];    /* signature + IHDR chunk, read before libpng starts */
    size_t head_len, head_pos; /* bytes in head; next one to hand to libpng */
    png_structp png;
    png_infop info;
    uint8_t *px;           /* the pixels, w*h*c */
    png_bytep *rows;       /* h pointers into px */
    png_uint_32 w, h;
    int c;
    int truncated;         /* the file ended early */
    int io_error;          /* errno of a read error, or 0 */
    int too_large;
    int no_memory;
} png_rd;

static void on_png_read(png_structp png, png_bytep data, size_t len)
{
    png_rd *r = png_get_io_ptr(png);
    size_t got = 0;
    if (r->head_pos < r->head_len) {
        got = r->head_len - r->head_pos < len ? r->head_len - r->head_pos : len;
        memcpy(data, r->head + r->head_pos, got);
        r->head_pos += got;
    }
    if (got < len) got += fread(data + got, 1, len - got, r->fp);
    if (got != len) {
        if (ferror(r->fp)) r->io_error = errno ? errno : EIO;
        else r->truncated = 1;
        png_error(png, "unexpected end of file");
    }
}

static int read_body(png_rd *r)
{
    if (setjmp(png_jmpbuf(r->png))) return -1;

    png_set_read_fn(r->png, r, on_png_read);
    png_set_sig_bytes(r->png, 8);
    /* Let libpng accept any size the format allows; we apply our own limits
     * below with a clearer message, before anything large is allocated. */
    png_set_user_limits(r->png, 0x7fffffff, 0x7fffffff);
    png_read_info(r->png, r->info);

    png_uint_32 w = 0, h = 0;
    int depth = 0, ctype = 0;
    png_get_IHDR(r->png, r->info, &w, &h, &depth, &ctype, NULL, NULL, NULL);
    r->w = w;
    r->h = h;
    if (!sd_image_dims_ok(w, h)) {
        r->too_large = 1;
        return -1;
    }

    int trns = png_get_valid(r->png, r->info, PNG_INFO_tRNS) != 0;
    if (ctype == PNG_COLOR_TYPE_PALETTE) png_set_palette_to_rgb(r->png);
    if (ctype == PNG_COLOR_TYPE_GRAY && depth < 8) png_set_expand_gray_1_2_4_to_8(r->png);
    if (trns) png_set_tRNS_to_alpha(r->png);
    if (depth == 16) png_set_scale_16(r->png);
    if (ctype == PNG_COLOR_TYPE_GRAY_ALPHA || (ctype == PNG_COLOR_TYPE_GRAY && trns))
        png_set_gray_to_rgb(r->png);           /* gray+alpha -> RGBA */
    png_set_interlace_handling(r->png);
    png_read_update_info(r->png, r->info);

    int c = png_get_channels(r->png, r->info);
    size_t rowbytes = png_get_rowbytes(r->png, r->info);
    if (png_get_bit_depth(r->png, r->info) != 8 || !sd_image_chans_ok(c) || rowbytes != (size_t)w * (size_t)c)
        png_error(r->png, "unexpected pixel layout after conversion");
    r->c = c;

    r->px = malloc((size_t)w * h * (size_t)c);
    r->rows = malloc((size_t)h * sizeof *r->rows);
    if (!r->px || !r->rows) {
        r->no_memory = 1;
        return -1;
    }
    for (png_uint_32 y = 0; y < h; y++) r->rows[y] = r->px + (size_t)y * rowbytes;
    png_read_image(r->png, r->rows);
    png_read_end(r->png, NULL);
    return 0;
}

int sd_image_load_png(const char *path, sd_image *out)
{
    if (!path || !*path || !out) return sd_error("sd_image_load_png: NULL or empty argument");
    memset(out, 0, sizeof *out);

    png_rd r;
    memset(&r, 0, sizeof r);
    int fd = sd_file_open_read(path, NULL);   /* a FIFO or device is refused, not waited on */
    if (fd < 0) return -1;
    r.fp = fdopen(fd, "rb");
    if (!r.fp) {
        close(fd);
        return sd_error("%s: %s", path, strerror(errno));
    }

    /* The signature and, in a valid file, the IHDR chunk: 8 + 25 bytes. The
     * size is checked here, before libpng reads further (a tiny file that
     * claims a huge image is refused at once), then libpng gets the bytes
     * through on_png_read. A header with a bad CRC is left for libpng to report. */
    size_t got = fread(r.head, 1, sizeof r.head, r.fp);
    if (got < sizeof r.head && ferror(r.fp)) {
        int e = errno;
        fclose(r.fp);
        return sd_error("%s: read error: %s", path, strerror(e ? e : EIO));
    }
    if (got < 8 || png_sig_cmp(r.head, 0, 8) != 0) {
        fclose(r.fp);
        return sd_error("%s: not a PNG file%s", path, got == 0 ? " (empty file)" : "");
    }
    if (got == sizeof r.head && memcmp(r.head + 8, "\0\0\0\15IHDR", 8) == 0 &&
        crc32(0, r.head + 12, 17) == png_get_uint_32(r.head + 29)) {
        unsigned long w = png_get_uint_32(r.head + 16), h = png_get_uint_32(r.head + 20);
        if (w > 0 && h > 0 && !sd_image_dims_ok((int64_t)w, (int64_t)h)) {
            fclose(r.fp);
            return too_large_error(path, w, h);
        }
    }
    r.head_len = got;
    r.head_pos = 8;

    r.png = png_create_read_struct(PNG_LIBPNG_VER_STRING, &r.msg, on_png_error, on_png_warning);
    if (r.png) r.info = png_create_info_struct(r.png);
    int rc = -1;
    if (!r.png || !r.info) {
        sd_error("%s: out of memory starting libpng", path);
    } else if (read_body(&r) == 0) {
        out->w = (int)r.w;
        out->h = (int)r.h;
        out->c = r.c;
        out->px = r.px;
        r.px = NULL;
        rc = 0;
    } else if (r.too_large) {
        too_large_error(path, r.w, r.h);
    } else if (r.io_error) {
        sd_error("%s: read error: %s", path, strerror(r.io_error));
    } else if (r.truncated) {
        sd_error("%s: truncated PNG data", path);
    } else if (r.no_memory) {
        sd_error("%s: out of memory for a %lu x %lu image", path, (unsigned long)r.w,
                 (unsigned long)r.h);
    } else {
        sd_error("%s: corrupt PNG: %s", path, r.msg.text);
    }
    if (r.png) png_destroy_read_struct(&r.png, r.info ? &r.info : NULL, NULL);
    free(r.rows);
    free(r.px);
    fclose(r.fp);
    return rc;
}

/* ---- Writing: encode into a growing memory buffer, then one atomic write. */

typedef struct png_wr {
    png_msg msg;
    png_structp png;
    png_infop info;
    uint8_t *buf;
    size_t len, cap;
    int no_memory;
} png_wr;

static void on_png_write(png_structp png, png_bytep data, size_t len)
{
    png_wr *w = png_get_io_ptr(png);
    if (len > w->cap - w->len) {
        size_t cap = w->cap ? w->cap : 4096;
        while (len > cap - w->len) {
            if (cap > SIZE_MAX / 2) {
                w->no_memory = 1;
                png_error(png, "out of memory");
            }
            cap *= 2;
        }
        uint8_t *b = realloc(w->buf, cap);
        if (!b) {
            w->no_memory = 1;
            png_error(png, "out of memory");
        }
        w->buf = b;
        w->cap = cap;
    }
    memcpy(w->buf + w->len, data, len);
    w->len += len;
}

static void on_png_flush(png_structp png) { (void)png; }

static int write_body(png_wr *w, const sd_image *im)
{
    if (setjmp(png_jmpbuf(w->png))) return -1;

    static const int ctypes[5] = { -1, PNG_COLOR_TYPE_GRAY, -1, PNG_COLOR_TYPE_RGB,
                                   PNG_COLOR_TYPE_RGB_ALPHA };
    png_set_write_fn(w->png, w, on_png_write, on_png_flush);
    png_set_IHDR(w->png, w->info, (png_uint_32)im->w, (png_uint_32)im->h, 8, ctypes[im->c],
                 PNG_INTERLACE_NONE, PNG_COMPRESSION_TYPE_DEFAULT, PNG_FILTER_TYPE_DEFAULT);
    png_write_info(w->png, w->info);
    size_t stride = (size_t)im->w * (size_t)im->c;
    for (int y = 0; y < im->h; y++) png_write_row(w->png, im->px + (size_t)y * stride);
    png_write_end(w->png, NULL);
    return 0;
}

int sd_image_save_png(const char *path, const sd_image *im)
{
    if (!path || !*path) return sd_error("sd_image_save_png: empty path");
    if (sd_image_check(im, "sd_image_save_png") < 0) return sd_error_prefix("%s", path);

    png_wr w;
    memset(&w, 0, sizeof w);
    w.png = png_create_write_struct(PNG_LIBPNG_VER_STRING, &w.msg, on_png_error, on_png_warning);
    if (w.png) w.info = png_create_info_struct(w.png);
    int rc = -1;
    if (!w.png || !w.info) sd_error("%s: out of memory starting libpng", path);
    else if (write_body(&w, im) < 0) {
        if (w.no_memory) sd_error("%s: out of memory encoding a %d x %d PNG", path, im->w, im->h);
        else sd_error("%s: PNG encoding failed: %s", path, w.msg.text);
    } else {
        sd_chunk chunk = { w.buf, w.len };
        rc = sd_write_atomic(path, &chunk, 1);
    }
    if (w.png) png_destroy_write_struct(&w.png, w.info ? &w.info : NULL);
    free(w.buf);
    return rc;
}

/* ---- Gray. */
