/* 8-bit images: PNG load/save through libpng, gray conversion, resizing,
 * MNIST-style preparation and picture grids. See include/shendu/image.h.
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
#include "shendu/image.h"
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

/* ---- Image basics. */

static int dims_ok(int64_t w, int64_t h)
{
    return w >= 1 && h >= 1 && w <= SD_IMAGE_MAX_SIDE && h <= SD_IMAGE_MAX_SIDE &&
           w * h <= SD_IMAGE_MAX_PIXELS;
}

static int chans_ok(int c) { return c == 1 || c == 3 || c == 4; }

/* Validate an input image; `who` names the calling function in messages. */
static int check_image(const sd_image *im, const char *who)
{
    if (!im) return sd_error("%s: NULL image", who);
    if (!chans_ok(im->c)) return sd_error("%s: %d channels (1, 3 or 4 allowed)", who, im->c);
    if (!dims_ok(im->w, im->h))
        return sd_error("%s: bad image size %d x %d (1 to %d per side, at most %lld pixels)", who,
                        im->w, im->h, SD_IMAGE_MAX_SIDE, (long long)SD_IMAGE_MAX_PIXELS);
    if (!im->px) return sd_error("%s: image has no pixels", who);
    return 0;
}

int sd_image_alloc(sd_image *out, int w, int h, int c, uint8_t fill)
{
    if (!out) return sd_error("sd_image_alloc: NULL image");
    memset(out, 0, sizeof *out);
    if (!chans_ok(c)) return sd_error("sd_image_alloc: %d channels (1, 3 or 4 allowed)", c);
    if (!dims_ok(w, h))
        return sd_error("sd_image_alloc: bad image size %d x %d (1 to %d per side, at most %lld pixels)",
                        w, h, SD_IMAGE_MAX_SIDE, (long long)SD_IMAGE_MAX_PIXELS);
    size_t n = (size_t)w * (size_t)h * (size_t)c;
    uint8_t *px = malloc(n);
    if (!px) return sd_error("sd_image_alloc: out of memory for %d x %d x %d", w, h, c);
    memset(px, fill, n);
    out->w = w;
    out->h = h;
    out->c = c;
    out->px = px;
    return 0;
}

void sd_image_free(sd_image *im)
{
    if (!im) return;
    free(im->px);
    memset(im, 0, sizeof *im);
}

/* Start of every function with an `out`: zero it unless it is the input. */
static void out_begin(const sd_image *in, sd_image *out)
{
    if (out && (const sd_image *)out != in) memset(out, 0, sizeof *out);
}

/* Hand a finished result over to *out, replacing the input when out == in. */
static void out_commit(const sd_image *in, sd_image *out, sd_image *result)
{
    if ((const sd_image *)out == in) free(out->px);
    *out = *result;
    memset(result, 0, sizeof *result);
}

static uint8_t clamp_round(double v)
{
    if (!(v > 0)) return 0;          /* also NaN */
    if (v >= 255) return 255;
    return (uint8_t)(v + 0.5);
}

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
    if (!dims_ok(w, h)) {
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
    if (png_get_bit_depth(r->png, r->info) != 8 || !chans_ok(c) || rowbytes != (size_t)w * (size_t)c)
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
        if (w > 0 && h > 0 && !dims_ok((int64_t)w, (int64_t)h)) {
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
    if (check_image(im, "sd_image_save_png") < 0) return sd_error_prefix("%s", path);

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

int sd_image_to_gray(const sd_image *in, sd_image *out)
{
    if (!out) return sd_error("sd_image_to_gray: NULL output");
    out_begin(in, out);
    if (check_image(in, "sd_image_to_gray") < 0) return -1;
    sd_image g;
    if (sd_image_alloc(&g, in->w, in->h, 1, 0) < 0) return -1;
    size_t n = (size_t)in->w * (size_t)in->h;
    const uint8_t *p = in->px;
    if (in->c == 1) {
        memcpy(g.px, p, n);
    } else if (in->c == 3) {
        for (size_t i = 0; i < n; i++, p += 3)
            g.px[i] = (uint8_t)((299u * p[0] + 587u * p[1] + 114u * p[2] + 500u) / 1000u);
    } else {
        /* L = 1000 × luminance; over white: (L·a + 255000·(255 − a)) / 255, then / 1000. */
        for (size_t i = 0; i < n; i++, p += 4) {
            uint32_t lum = 299u * p[0] + 587u * p[1] + 114u * p[2];
            uint32_t a = p[3];
            uint32_t t = lum * a + 255000u * (255u - a);
            g.px[i] = (uint8_t)((t + 127500u) / 255000u);
        }
    }
    out_commit(in, out, &g);
    return 0;
}

/* ---- Resizing: separable, one weight table per axis. Output index i reads
 * source indices first[i] .. first[i]+count[i]-1 with weights w[i*span + k]
 * that sum to 1. */

typedef struct axis {
    int span;
    int *first, *count;
    double *w;
} axis;

static void axis_free(axis *a)
{
    free(a->first);
    free(a->count);
    free(a->w);
}

static int axis_make(axis *a, int n_in, int n_out)
{
    memset(a, 0, sizeof *a);
    double scale = (double)n_in / n_out;
    a->span = n_out <= n_in ? (int)ceil(scale) + 1 : 2;
    a->first = malloc((size_t)n_out * sizeof *a->first);
    a->count = malloc((size_t)n_out * sizeof *a->count);
    a->w = calloc((size_t)n_out * (size_t)a->span, sizeof *a->w);
    if (!a->first || !a->count || !a->w) {
        axis_free(a);
        return sd_error("sd_image_resize: out of memory");
    }
    for (int i = 0; i < n_out; i++) {
        double *w = a->w + (size_t)i * a->span;
        if (n_out <= n_in) {
            /* Area: output pixel i covers source interval [x0, x1). */
            double x0 = i * scale, x1 = (i + 1) * scale;
            int j0 = (int)floor(x0), j1 = (int)ceil(x1);
            if (j1 > n_in) j1 = n_in;
            if (j1 - j0 > a->span) j1 = j0 + a->span;
            double sum = 0;
            for (int j = j0; j < j1; j++) {
                double lo = j > x0 ? j : x0, hi = j + 1 < x1 ? j + 1 : x1;
                w[j - j0] = hi > lo ? hi - lo : 0;
                sum += w[j - j0];
            }
            for (int k = 0; k < j1 - j0; k++) w[k] /= sum;
            a->first[i] = j0;
            a->count[i] = j1 - j0;
        } else {
            /* Bilinear between pixel centres, edges clamped. */
            double x = (i + 0.5) * scale - 0.5;
            if (x < 0) x = 0;
            int j0 = (int)floor(x);
            double f = x - j0;
            if (j0 >= n_in - 1) {
                a->first[i] = n_in - 1;
                a->count[i] = 1;
                w[0] = 1;
            } else {
                a->first[i] = j0;
                a->count[i] = 2;
                w[0] = 1 - f;
                w[1] = f;
            }
        }
    }
    return 0;
}

int sd_image_resize(const sd_image *in, int w, int h, sd_image *out)
{
    if (!out) return sd_error("sd_image_resize: NULL output");
    out_begin(in, out);
    if (check_image(in, "sd_image_resize") < 0) return -1;
    if (!dims_ok(w, h))
        return sd_error("sd_image_resize: bad target size %d x %d (1 to %d per side, at most %lld pixels)",
                        w, h, SD_IMAGE_MAX_SIDE, (long long)SD_IMAGE_MAX_PIXELS);
    const int c = in->c, wi = in->w, hi = in->h;
    sd_image res;
    if (sd_image_alloc(&res, w, h, c, 0) < 0) return -1;
    axis ax, ay;
    if (axis_make(&ax, wi, w) < 0) {
        sd_image_free(&res);
        return -1;
    }
    if (axis_make(&ay, hi, h) < 0) {
        axis_free(&ax);
        sd_image_free(&res);
        return -1;
    }
    /* tmp: hi rows × w columns × c, after the horizontal pass. For RGBA the
     * colour channels are premultiplied by alpha/255. */
    float *tmp = malloc((size_t)hi * (size_t)w * (size_t)c * sizeof *tmp);
    if (!tmp) {
        axis_free(&ax);
        axis_free(&ay);
        sd_image_free(&res);
        return sd_error("sd_image_resize: out of memory for %d x %d -> %d x %d", wi, hi, w, h);
    }
    for (int y = 0; y < hi; y++) {
        const uint8_t *row = in->px + (size_t)y * wi * c;
        float *t = tmp + (size_t)y * w * c;
        for (int x = 0; x < w; x++) {
            const double *wt = ax.w + (size_t)x * ax.span;
            double acc[4] = { 0, 0, 0, 0 };
            for (int k = 0; k < ax.count[x]; k++) {
                const uint8_t *p = row + (size_t)(ax.first[x] + k) * c;
                if (c == 4) {
                    double a = p[3] / 255.0;
                    acc[0] += wt[k] * (p[0] * a);
                    acc[1] += wt[k] * (p[1] * a);
                    acc[2] += wt[k] * (p[2] * a);
                    acc[3] += wt[k] * p[3];
                } else {
                    for (int ch = 0; ch < c; ch++) acc[ch] += wt[k] * p[ch];
                }
            }
            for (int ch = 0; ch < c; ch++) t[(size_t)x * c + ch] = (float)acc[ch];
        }
    }
    for (int y = 0; y < h; y++) {
        const double *wt = ay.w + (size_t)y * ay.span;
        uint8_t *o = res.px + (size_t)y * w * c;
        for (int x = 0; x < w; x++) {
            double acc[4] = { 0, 0, 0, 0 };
            for (int k = 0; k < ay.count[y]; k++) {
                const float *t = tmp + ((size_t)(ay.first[y] + k) * w + x) * c;
                for (int ch = 0; ch < c; ch++) acc[ch] += wt[k] * t[ch];
            }
            if (c == 4) {
                uint8_t a = clamp_round(acc[3]);
                o[(size_t)x * 4 + 3] = a;
                for (int ch = 0; ch < 3; ch++)
                    o[(size_t)x * 4 + ch] = a ? clamp_round(acc[ch] * 255.0 / acc[3]) : 0;
            } else {
                for (int ch = 0; ch < c; ch++) o[(size_t)x * c + ch] = clamp_round(acc[ch]);
            }
        }
    }
    free(tmp);
    axis_free(&ax);
    axis_free(&ay);
    out_commit(in, out, &res);
    return 0;
}

int sd_image_scale_nearest(const sd_image *in, int factor, sd_image *out)
{
    if (!out) return sd_error("sd_image_scale_nearest: NULL output");
    out_begin(in, out);
    if (check_image(in, "sd_image_scale_nearest") < 0) return -1;
    if (factor < 1 || factor > 256) return sd_error("sd_image_scale_nearest: factor %d (1 to 256 allowed)", factor);
    int64_t w = (int64_t)in->w * factor, h = (int64_t)in->h * factor;
    if (!dims_ok(w, h))
        return sd_error("sd_image_scale_nearest: %d x %d times %d is too large", in->w, in->h, factor);
    const int c = in->c;
    sd_image res;
    if (sd_image_alloc(&res, (int)w, (int)h, c, 0) < 0) return -1;
    size_t orow = (size_t)w * c;
    for (int y = 0; y < in->h; y++) {
        const uint8_t *src = in->px + (size_t)y * in->w * c;
        uint8_t *dst = res.px + (size_t)y * factor * orow;
        for (int x = 0; x < in->w; x++)
            for (int f = 0; f < factor; f++)
                memcpy(dst + ((size_t)x * factor + f) * c, src + (size_t)x * c, (size_t)c);
        for (int f = 1; f < factor; f++) memcpy(dst + f * orow, dst, orow);
    }
    out_commit(in, out, &res);
    return 0;
}

/* ---- MNIST-style preparation (the steps are listed in image.h). */

static double border_mean(const sd_image *g, int *light)
{
    double sum = 0;
    long n = 0, nlight = 0;
    for (int y = 0; y < g->h; y++) {
        int edge_row = y == 0 || y == g->h - 1;
        for (int x = 0; x < g->w; x++) {
            if (!edge_row && x != 0 && x != g->w - 1) continue;
            uint8_t v = g->px[(size_t)y * g->w + x];
            sum += v;
            n++;
            nlight += v >= 128;
        }
    }
    if (light) *light = 2 * nlight > n;
    return sum / (double)n;
}

int sd_image_to_mnist(const sd_image *in, const sd_image_prep_opts *opts,
                      float *out28x28, int *inverted)
{
    static const sd_image_prep_opts defaults;
    if (!opts) opts = &defaults;
    if (inverted) *inverted = 0;
    if (!out28x28) return sd_error("sd_image_to_mnist: NULL output");
    if (check_image(in, "sd_image_to_mnist") < 0) return -1;
    if (opts->invert < SD_INVERT_AUTO || opts->invert > SD_INVERT_ALWAYS)
        return sd_error("sd_image_to_mnist: invalid invert option %d", (int)opts->invert);
    if (opts->fit != SD_FIT_PAD && opts->fit != SD_FIT_STRETCH)
        return sd_error("sd_image_to_mnist: invalid fit option %d", (int)opts->fit);
    if (opts->margin < 0 || opts->margin > 13)
        return sd_error("sd_image_to_mnist: margin %d (0 to 13 allowed)", opts->margin);

    sd_image g;
    if (sd_image_to_gray(in, &g) < 0) return -1;
    size_t n = (size_t)g.w * (size_t)g.h;

    int light = 0;
    border_mean(&g, &light);
    int inv = opts->invert == SD_INVERT_ALWAYS || (opts->invert == SD_INVERT_AUTO && light);
    if (inv)
        for (size_t i = 0; i < n; i++) g.px[i] = (uint8_t)(255 - g.px[i]);
    if (inverted) *inverted = inv;

    if (opts->autolevel) {
        uint8_t lo = 255, hi = 0;
        for (size_t i = 0; i < n; i++) {
            if (g.px[i] < lo) lo = g.px[i];
            if (g.px[i] > hi) hi = g.px[i];
        }
        if (hi > lo)
            for (size_t i = 0; i < n; i++)
                g.px[i] = (uint8_t)(((g.px[i] - lo) * 255 + (hi - lo) / 2) / (hi - lo));
    }
    uint8_t bg = clamp_round(border_mean(&g, NULL));

    int box = 28 - 2 * opts->margin, rw = box, rh = box;
    if (opts->fit == SD_FIT_PAD) {
        if (g.w >= g.h) rh = (int)((double)box * g.h / g.w + 0.5);
        else rw = (int)((double)box * g.w / g.h + 0.5);
        if (rw < 1) rw = 1;
        if (rh < 1) rh = 1;
    }
    sd_image s;
    int rc = sd_image_resize(&g, rw, rh, &s);
    sd_image_free(&g);
    if (rc < 0) return -1;

    for (int i = 0; i < 28 * 28; i++) out28x28[i] = bg / 255.0f;
    int ox = (28 - rw) / 2, oy = (28 - rh) / 2;
    for (int y = 0; y < rh; y++)
        for (int x = 0; x < rw; x++)
            out28x28[(oy + y) * 28 + ox + x] = s.px[(size_t)y * rw + x] / 255.0f;
    sd_image_free(&s);
    return 0;
}

/* ---- Grids. */

int sd_image_grid(const float *imgs, int n, int c, int h, int w, int cols, int pad,
                  float lo, float hi, sd_image *out)
{
    if (!out) return sd_error("sd_image_grid: NULL output");
    memset(out, 0, sizeof *out);
    if (!imgs) return sd_error("sd_image_grid: NULL images");
    if (n < 1 || (c != 1 && c != 3) || h < 1 || w < 1 || pad < 0)
        return sd_error("sd_image_grid: bad arguments n=%d c=%d h=%d w=%d pad=%d "
                        "(need n, h, w >= 1, c = 1 or 3, pad >= 0)", n, c, h, w, pad);
    if (!isfinite(lo) || !isfinite(hi)) return sd_error("sd_image_grid: lo and hi must be finite");
    if (cols <= 0) {
        cols = (int)ceil(sqrt((double)n));
        while ((int64_t)cols * cols < n) cols++;
    }
    int64_t rows = ((int64_t)n + cols - 1) / cols;
    int64_t gw = (int64_t)cols * w + (int64_t)(cols + 1) * pad;
    int64_t gh = rows * h + (rows + 1) * pad;
    if (!dims_ok(gw, gh))
        return sd_error("sd_image_grid: grid of %d images %d x %d, %d per row, pad %d would be "
                        "%lld x %lld pixels, too large", n, w, h, cols, pad, (long long)gw,
                        (long long)gh);

    size_t plane = (size_t)h * (size_t)w, total = (size_t)n * (size_t)c * plane;
    double dlo = lo, dhi = hi, mid = -1;
    if (lo == hi) {
        int any = 0;
        for (size_t i = 0; i < total; i++) {
            double v = imgs[i];
            if (!isfinite(v)) continue;
            if (!any || v < dlo) dlo = v;
            if (!any || v > dhi) dhi = v;
            any = 1;
        }
        if (!any || dhi == dlo) mid = 128;
    }
    double k = mid < 0 ? 255.0 / (dhi - dlo) : 0;

    sd_image res;
    if (sd_image_alloc(&res, (int)gw, (int)gh, c, 0) < 0) return -1;
    for (int i = 0; i < n; i++) {
        const float *im = imgs + (size_t)i * c * plane;
        int64_t x0 = pad + (int64_t)(i % cols) * (w + pad), y0 = pad + (int64_t)(i / cols) * (h + pad);
        for (int y = 0; y < h; y++) {
            uint8_t *o = res.px + ((size_t)(y0 + y) * (size_t)gw + (size_t)x0) * c;
            for (int x = 0; x < w; x++)
                for (int ch = 0; ch < c; ch++) {
                    double v = im[(size_t)ch * plane + (size_t)y * w + x];
                    o[(size_t)x * c + ch] = isnan(v) ? 0 : mid >= 0 ? (uint8_t)mid : clamp_round((v - dlo) * k);
                }
        }
    }
    *out = res;
    return 0;
}
