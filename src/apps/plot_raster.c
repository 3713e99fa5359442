/* Painting a plot's scene into an RGB image for a PNG: filled rectangles,
 * anti-aliased lines and dots (coverage from the distance to the shape, one
 * pixel of soft edge), and text in the built-in 5×7 bitmap font. */
#include "plot.h"
#include "shendu.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

typedef struct canvas { sd_image *im; float *cov; } canvas;

static void blend(sd_image *im, int x, int y, uint32_t color, float a)
{
    if (x < 0 || y < 0 || x >= im->w || y >= im->h || a <= 0) return;
    if (a > 1) a = 1;
    uint8_t *p = im->px + ((size_t)y * im->w + x) * 3;
    for (int k = 0; k < 3; k++) {
        float c = (float)((color >> (16 - 8 * k)) & 0xff);
        p[k] = (uint8_t)(p[k] + (c - p[k]) * a + 0.5f);
    }
}

static int clampi(float v, int lo, int hi) { int i = (int)floorf(v); return i < lo ? lo : i > hi ? hi : i; }

static void fill_rect(sd_image *im, float x0, float y0, float x1, float y1, uint32_t color)
{
    int a = clampi(x0 + 0.5f, 0, im->w), b = clampi(x1 + 0.5f, 0, im->w);
    int c = clampi(y0 + 0.5f, 0, im->h), d = clampi(y1 + 0.5f, 0, im->h);
    if (d == c && y1 > y0) d = c + 1 <= im->h ? c + 1 : c;   /* hairlines stay one pixel */
    if (b == a && x1 > x0) b = a + 1 <= im->w ? a + 1 : a;
    for (int y = c; y < d; y++)
        for (int x = a; x < b; x++) blend(im, x, y, color, 1);
}

/* Max coverage of a segment of half-width hw into cov over its bounding box. */
static void cover_segment(canvas *cv, float ax, float ay, float bx, float by, float hw, int *box)
{
    const int W = cv->im->w, H = cv->im->h;
    int x0 = clampi(fminf(ax, bx) - hw - 1, 0, W - 1), x1 = clampi(fmaxf(ax, bx) + hw + 1, 0, W - 1);
    int y0 = clampi(fminf(ay, by) - hw - 1, 0, H - 1), y1 = clampi(fmaxf(ay, by) + hw + 1, 0, H - 1);
    float dx = bx - ax, dy = by - ay, len2 = dx * dx + dy * dy;
    for (int y = y0; y <= y1; y++)
        for (int x = x0; x <= x1; x++) {
            float px = x + 0.5f - ax, py = y + 0.5f - ay;
            float t = len2 > 0 ? (px * dx + py * dy) / len2 : 0;
            t = t < 0 ? 0 : t > 1 ? 1 : t;
            float ex = px - t * dx, ey = py - t * dy, d = sqrtf(ex * ex + ey * ey);
            float c = hw + 0.5f - d;
            float *p = &cv->cov[(size_t)y * W + x];
            if (c > *p) *p = c > 1 ? 1 : c;
        }
    if (x0 < box[0]) box[0] = x0;
    if (y0 < box[1]) box[1] = y0;
    if (x1 > box[2]) box[2] = x1;
    if (y1 > box[3]) box[3] = y1;
}

/* Paint the coverage inside box with color (times alpha), and clear it. */
static void flush_cover(canvas *cv, const int *box, uint32_t color, float alpha)
{
    for (int y = box[1]; y <= box[3]; y++)
        for (int x = box[0]; x <= box[2]; x++) {
            float *p = &cv->cov[(size_t)y * cv->im->w + x];
            if (*p > 0) blend(cv->im, x, y, color, *p * alpha);
            *p = 0;
        }
}

static void draw_text(sd_image *im, float x, float y, float size, int anchor, uint32_t color, const char *s)
{
    int scale = size >= 15 ? 2 : 1, n = (int)strlen(s);
    int w = n * 6 * scale - scale;
    int left = (int)(x + 0.5f) - (anchor == 1 ? w / 2 : anchor == 2 ? w : 0);
    int top = (int)(y + 0.5f) - 7 * scale - (size >= 12 && scale == 1 ? 0 : 0);
    for (int i = 0; i < n; i++)
        for (int r = 0; r < 7; r++) {
            int bits = sc_glyph_row((unsigned char)s[i], r);
            for (int c = 0; c < 5; c++)
                if (bits & (1 << (4 - c)))
                    for (int dy = 0; dy < scale; dy++)
                        for (int dx = 0; dx < scale; dx++)
                            blend(im, left + i * 6 * scale + c * scale + dx, top + r * scale + dy, color, 1);
        }
}

int sc_rasterize(const sc_scene *s, sd_image *out)
{
    if (sd_image_alloc(out, s->w, s->h, 3, 255)) return -1;
    canvas cv = { out, calloc((size_t)s->w * s->h, sizeof(float)) };
    if (!cv.cov) {
        sd_image_free(out);
        return sd_error("out of memory");
    }
    for (int i = 0; i < s->n; i++) {
        const sc_item *it = &s->items[i];
        int box[4] = { s->w, s->h, -1, -1 };
        switch (it->type) {
        case SC_RECT:
            if (it->fill) fill_rect(out, it->x0, it->y0, it->x1, it->y1, it->color);
            else {
                fill_rect(out, it->x0, it->y0 - 0.5f, it->x1, it->y0 + 0.5f, it->color);
                fill_rect(out, it->x0, it->y1 - 0.5f, it->x1, it->y1 + 0.5f, it->color);
                fill_rect(out, it->x0 - 0.5f, it->y0, it->x0 + 0.5f, it->y1, it->color);
                fill_rect(out, it->x1 - 0.5f, it->y0, it->x1 + 0.5f, it->y1, it->color);
            }
            break;
        case SC_TEXT:
            draw_text(out, it->x0, it->y0, it->width, it->anchor, it->color, s->pool + it->text);
            break;
        case SC_DOT:
            cover_segment(&cv, it->x0, it->y0, it->x0, it->y0, it->width, box);
            flush_cover(&cv, box, it->color, 1);
            break;
        case SC_LINE: {
            const float *p = s->pts + 2 * it->first;
            for (int j = 1; j < it->npts; j++) cover_segment(&cv, p[2 * j - 2], p[2 * j - 1], p[2 * j], p[2 * j + 1], it->width / 2, box);
            if (it->npts == 1) cover_segment(&cv, p[0], p[1], p[0], p[1], it->width / 2, box);
            if (box[2] >= 0) flush_cover(&cv, box, it->color, it->fill ? 0.25f : 1);
            break;
        }
        }
    }
    free(cv.cov);
    return 0;
}
