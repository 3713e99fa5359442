/* 8-bit images without any file format: checks, gray conversion, resizing,
 * MNIST-style preparation and picture grids (include/shendu/image.h). PNG
 * files are read and written in png.c (libpng); this file needs no library,
 * so the WebAssembly build has it too (the page's drawing canvas is prepared
 * for the classifier exactly as `shendu predict` prepares a PNG). */
#define _POSIX_C_SOURCE 200809L
#include "data/image_internal.h"
#include "shendu/io.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- Image basics. */

int sd_image_dims_ok(int64_t w, int64_t h)
{
    return w >= 1 && h >= 1 && w <= SD_IMAGE_MAX_SIDE && h <= SD_IMAGE_MAX_SIDE &&
           w * h <= SD_IMAGE_MAX_PIXELS;
}

int sd_image_chans_ok(int c) { return c == 1 || c == 3 || c == 4; }

/* Validate an input image; `who` names the calling function in messages. */
int sd_image_check(const sd_image *im, const char *who)
{
    if (!im) return sd_error("%s: NULL image", who);
    if (!sd_image_chans_ok(im->c)) return sd_error("%s: %d channels (1, 3 or 4 allowed)", who, im->c);
    if (!sd_image_dims_ok(im->w, im->h))
        return sd_error("%s: bad image size %d x %d (1 to %d per side, at most %lld pixels)", who,
                        im->w, im->h, SD_IMAGE_MAX_SIDE, (long long)SD_IMAGE_MAX_PIXELS);
    if (!im->px) return sd_error("%s: image has no pixels", who);
    return 0;
}

int sd_image_alloc(sd_image *out, int w, int h, int c, uint8_t fill)
{
    if (!out) return sd_error("sd_image_alloc: NULL image");
    memset(out, 0, sizeof *out);
    if (!sd_image_chans_ok(c)) return sd_error("sd_image_alloc: %d channels (1, 3 or 4 allowed)", c);
    if (!sd_image_dims_ok(w, h))
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

int sd_image_to_gray(const sd_image *in, sd_image *out)
{
    if (!out) return sd_error("sd_image_to_gray: NULL output");
    out_begin(in, out);
    if (sd_image_check(in, "sd_image_to_gray") < 0) return -1;
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
    if (sd_image_check(in, "sd_image_resize") < 0) return -1;
    if (!sd_image_dims_ok(w, h))
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
    if (sd_image_check(in, "sd_image_scale_nearest") < 0) return -1;
    if (factor < 1 || factor > 256) return sd_error("sd_image_scale_nearest: factor %d (1 to 256 allowed)", factor);
    int64_t w = (int64_t)in->w * factor, h = (int64_t)in->h * factor;
    if (!sd_image_dims_ok(w, h))
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
    if (sd_image_check(in, "sd_image_to_mnist") < 0) return -1;
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
    if (!sd_image_dims_ok(gw, gh))
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
