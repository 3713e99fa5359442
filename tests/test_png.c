/* PNG load/save, gray conversion, resizing, MNIST-style preparation, grids,
 * and hostile PNG files. Writes its own files under check_tmpdir()/test_png.d;
 * the palette, 16-bit, interlaced and other PNG flavours are written here
 * directly with libpng so that loading is checked against a second writer. */
#define _POSIX_C_SOURCE 200809L
#include "check.h"
#include "shendu/image.h"

#include <png.h>
#include <stdint.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

static char tmp[1024];

static const char *tpath(const char *name)
{
    static char buf[4][1200];
    static int k;
    k = (k + 1) % 4;
    snprintf(buf[k], sizeof buf[k], "%s/%s", tmp, name);
    return buf[k];
}

static int has(const char *hay, const char *needle) { return hay && strstr(hay, needle) != NULL; }

static uint32_t lcg_state = 12345;
static uint8_t rnd8(void)
{
    lcg_state = lcg_state * 1664525u + 1013904223u;
    return (uint8_t)(lcg_state >> 24);
}

static int write_bytes(const char *path, const void *data, size_t n)
{
    FILE *f = fopen(path, "wb");
    if (!f) return -1;
    size_t k = n ? fwrite(data, 1, n, f) : 0;
    fclose(f);
    return k == n ? 0 : -1;
}

static unsigned char *read_bytes(const char *path, size_t *n)
{
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    fseek(f, 0, SEEK_END);
    long len = ftell(f);
    fseek(f, 0, SEEK_SET);
    unsigned char *b = malloc(len > 0 ? (size_t)len : 1);
    *n = b ? fread(b, 1, (size_t)len, f) : 0;
    fclose(f);
    return b;
}

static uint8_t px_at(const sd_image *im, int x, int y, int ch)
{
    return im->px[((size_t)y * im->w + x) * im->c + ch];
}

/* ---- A second PNG writer: libpng directly, rows already in PNG layout
 * (packed bits, big-endian 16-bit samples). Returns 0 on success. */
typedef struct raw_png {
    int w, h, depth, ctype, interlace;
    const unsigned char *rows;   /* h rows of `stride` bytes */
    size_t stride;
    const png_color *palette;
    int npalette;
    const unsigned char *trns;   /* palette alpha, or NULL */
    int ntrns;
    const png_color_16 *trns_color;  /* gray/RGB transparent colour, or NULL */
} raw_png;

static int write_raw_png(const char *path, const raw_png *r)
{
    FILE *f = fopen(path, "wb");
    if (!f) return -1;
    png_structp png = png_create_write_struct(PNG_LIBPNG_VER_STRING, NULL, NULL, NULL);
    png_infop info = png ? png_create_info_struct(png) : NULL;
    png_bytep *rows = malloc((size_t)r->h * sizeof *rows);
    if (!png || !info || !rows || setjmp(png_jmpbuf(png))) {
        png_destroy_write_struct(&png, &info);
        free(rows);
        fclose(f);
        return -1;
    }
    png_init_io(png, f);
    png_set_IHDR(png, info, (png_uint_32)r->w, (png_uint_32)r->h, r->depth, r->ctype, r->interlace,
                 PNG_COMPRESSION_TYPE_DEFAULT, PNG_FILTER_TYPE_DEFAULT);
    if (r->palette) png_set_PLTE(png, info, r->palette, r->npalette);
    if (r->trns || r->trns_color) png_set_tRNS(png, info, r->trns, r->ntrns, r->trns_color);
    png_write_info(png, info);
    for (int y = 0; y < r->h; y++) rows[y] = (png_bytep)(r->rows + (size_t)y * r->stride);
    png_write_image(png, rows);   /* handles Adam7 interlacing itself */
    png_write_end(png, NULL);
    png_destroy_write_struct(&png, &info);
    free(rows);
    return fclose(f) == 0 ? 0 : -1;
}

/* ---- Round trips through sd_image_save_png / sd_image_load_png. */
static void test_round_trips(void)
{
    const int sizes[3][3] = { { 5, 3, 1 }, { 7, 4, 3 }, { 3, 9, 4 } };
    for (int t = 0; t < 3; t++) {
        sd_image im, back;
        CHECK(sd_image_alloc(&im, sizes[t][0], sizes[t][1], sizes[t][2], 0) == 0);
        size_t n = (size_t)im.w * im.h * im.c;
        for (size_t i = 0; i < n; i++) im.px[i] = rnd8();
        const char *p = tpath("round.png");
        CHECK_MSG(sd_image_save_png(p, &im) == 0, "%s", sd_last_error());
        CHECK_MSG(sd_image_load_png(p, &back) == 0, "%s", sd_last_error());
        CHECK(back.w == im.w && back.h == im.h && back.c == im.c);
        CHECK(back.px && memcmp(back.px, im.px, n) == 0);
        sd_image_free(&back);
        sd_image_free(&im);
        CHECK(im.px == NULL && im.w == 0);
    }
    sd_image_free(NULL);

    /* Saving overwrites atomically and leaves no temporary file behind. */
    sd_image a;
    CHECK(sd_image_alloc(&a, 2, 2, 1, 200) == 0);
    CHECK(sd_image_save_png(tpath("round.png"), &a) == 0);
    sd_image b;
    CHECK(sd_image_load_png(tpath("round.png"), &b) == 0);
    CHECK(b.w == 2 && b.h == 2 && b.c == 1 && b.px[3] == 200);
    sd_image_free(&b);
    char tmpname[1300];
    snprintf(tmpname, sizeof tmpname, "%s.tmp.%ld", tpath("round.png"), (long)getpid());
    struct stat st;
    CHECK(stat(tmpname, &st) != 0);

    /* Bad images and paths are refused with messages. */
    sd_image bad = a;
    bad.c = 2;
    CHECK(sd_image_save_png(tpath("bad.png"), &bad) == -1);
    CHECK_MSG(has(sd_last_error(), "bad.png") && has(sd_last_error(), "2 channels"), "%s", sd_last_error());
    bad = a;
    bad.px = NULL;
    CHECK(sd_image_save_png(tpath("bad.png"), &bad) == -1);
    CHECK(sd_image_save_png(tpath("no/such/dir/x.png"), &a) == -1);
    CHECK_MSG(has(sd_last_error(), "no/such/dir/x.png"), "%s", sd_last_error());
    CHECK(sd_image_alloc(&bad, 0, 5, 1, 0) == -1);
    CHECK(sd_image_alloc(&bad, 5, 5, 2, 0) == -1);
    CHECK(sd_image_alloc(&bad, 70000, 1, 1, 0) == -1);
    sd_image_free(&a);
}

/* ---- PNG flavours written by libpng directly. */
static void test_flavours(void)
{
    sd_image im;
    const char *p = tpath("flavour.png");

    /* 4-bit palette, no transparency -> RGB. Indices 0..2, odd width. */
    {
        static const png_color pal[3] = { { 255, 0, 0 }, { 0, 128, 0 }, { 10, 20, 30 } };
        const int w = 5, h = 2;
        const uint8_t idx[2][5] = { { 0, 1, 2, 1, 0 }, { 2, 2, 1, 0, 1 } };
        unsigned char rows[2][3] = { { 0 } };
        for (int y = 0; y < h; y++)
            for (int x = 0; x < w; x++) rows[y][x / 2] |= (unsigned char)(idx[y][x] << (x % 2 ? 0 : 4));
        raw_png r = { w, h, 4, PNG_COLOR_TYPE_PALETTE, PNG_INTERLACE_NONE, &rows[0][0], 3, pal, 3 };
        CHECK(write_raw_png(p, &r) == 0);
        CHECK_MSG(sd_image_load_png(p, &im) == 0, "%s", sd_last_error());
        CHECK(im.w == w && im.h == h && im.c == 3);
        int ok = 1;
        for (int y = 0; y < h && im.px; y++)
            for (int x = 0; x < w; x++) {
                const png_color *c = &pal[idx[y][x]];
                ok &= px_at(&im, x, y, 0) == c->red && px_at(&im, x, y, 1) == c->green &&
                      px_at(&im, x, y, 2) == c->blue;
            }
        CHECK(ok);
        sd_image_free(&im);

        /* The same with a tRNS chunk: entry 1 half transparent, entry 2 clear -> RGBA. */
        static const unsigned char trns[3] = { 255, 128, 0 };
        r.trns = trns;
        r.ntrns = 3;
        CHECK(write_raw_png(p, &r) == 0);
        CHECK_MSG(sd_image_load_png(p, &im) == 0, "%s", sd_last_error());
        CHECK(im.c == 4);
        if (im.c == 4) {
            CHECK(px_at(&im, 0, 0, 3) == 255 && px_at(&im, 0, 0, 0) == 255);
            CHECK(px_at(&im, 1, 0, 3) == 128 && px_at(&im, 1, 0, 1) == 128);
            CHECK(px_at(&im, 2, 0, 3) == 0 && px_at(&im, 2, 0, 2) == 30);
        }
        sd_image_free(&im);
    }

    /* 16-bit RGB: samples 257*k load as k; 0x8080 rounds to 128; 0x00ff to 1. */
    {
        const uint16_t s[2][3] = { { 0, 65535, 257 * 77 }, { 0x8080, 0x00ff, 0x7f7f } };
        unsigned char rows[12];
        for (int i = 0; i < 6; i++) {
            uint16_t v = (&s[0][0])[i];
            rows[2 * i] = (unsigned char)(v >> 8);
            rows[2 * i + 1] = (unsigned char)v;
        }
        raw_png r = { 2, 1, 16, PNG_COLOR_TYPE_RGB, PNG_INTERLACE_NONE, rows, 12 };
        CHECK(write_raw_png(p, &r) == 0);
        CHECK_MSG(sd_image_load_png(p, &im) == 0, "%s", sd_last_error());
        CHECK(im.w == 2 && im.h == 1 && im.c == 3);
        if (im.px) {
            CHECK(im.px[0] == 0 && im.px[1] == 255 && im.px[2] == 77);
            CHECK(im.px[3] == 128 && im.px[4] == 1 && im.px[5] == 127);
        }
        sd_image_free(&im);
    }

    /* 16-bit gray+alpha -> RGBA with the gray repeated. */
    {
        const unsigned char rows[4] = { 0x40, 0x40, 0xff, 0xff };  /* gray 0x4040, alpha max */
        raw_png r = { 1, 1, 16, PNG_COLOR_TYPE_GRAY_ALPHA, PNG_INTERLACE_NONE, rows, 4 };
        CHECK(write_raw_png(p, &r) == 0);
        CHECK_MSG(sd_image_load_png(p, &im) == 0, "%s", sd_last_error());
        CHECK(im.c == 4 && im.px && im.px[0] == 64 && im.px[1] == 64 && im.px[2] == 64 && im.px[3] == 255);
        sd_image_free(&im);
    }

    /* 1-bit gray -> 0/255 gray. */
    {
        const unsigned char rows[2] = { 0xA0, 0x40 };  /* 1 0 1 / 0 1 0 */
        raw_png r = { 3, 2, 1, PNG_COLOR_TYPE_GRAY, PNG_INTERLACE_NONE, rows, 1 };
        CHECK(write_raw_png(p, &r) == 0);
        CHECK_MSG(sd_image_load_png(p, &im) == 0, "%s", sd_last_error());
        CHECK(im.c == 1 && im.w == 3 && im.h == 2);
        if (im.px) {
            const uint8_t want[6] = { 255, 0, 255, 0, 255, 0 };
            CHECK(memcmp(im.px, want, 6) == 0);
        }
        sd_image_free(&im);
    }

    /* 8-bit gray with a tRNS colour -> RGBA, that gray transparent. */
    {
        const unsigned char rows[2] = { 7, 9 };
        png_color_16 tc;
        memset(&tc, 0, sizeof tc);
        tc.gray = 7;
        raw_png r = { 2, 1, 8, PNG_COLOR_TYPE_GRAY, PNG_INTERLACE_NONE, rows, 2 };
        r.trns_color = &tc;
        CHECK(write_raw_png(p, &r) == 0);
        CHECK_MSG(sd_image_load_png(p, &im) == 0, "%s", sd_last_error());
        CHECK(im.c == 4 && im.px && im.px[3] == 0 && im.px[4] == 9 && im.px[7] == 255);
        sd_image_free(&im);
    }

    /* Adam7-interlaced RGB, 13x11 of noise: loads exactly as written. */
    {
        const int w = 13, h = 11;
        unsigned char rows[13 * 11 * 3];
        for (size_t i = 0; i < sizeof rows; i++) rows[i] = rnd8();
        raw_png r = { w, h, 8, PNG_COLOR_TYPE_RGB, PNG_INTERLACE_ADAM7, rows, (size_t)w * 3 };
        CHECK(write_raw_png(p, &r) == 0);
        CHECK_MSG(sd_image_load_png(p, &im) == 0, "%s", sd_last_error());
        CHECK(im.w == w && im.h == h && im.c == 3 && im.px && memcmp(im.px, rows, sizeof rows) == 0);
        sd_image_free(&im);
    }
}

/* ---- Gray conversion. */
static void test_gray(void)
{
    sd_image rgb, g;
    CHECK(sd_image_alloc(&rgb, 4, 1, 3, 0) == 0);
    const uint8_t c3[12] = { 255, 0, 0, 0, 255, 0, 0, 0, 255, 10, 10, 10 };
    memcpy(rgb.px, c3, 12);
    CHECK(sd_image_to_gray(&rgb, &g) == 0);
    CHECK(g.c == 1 && g.w == 4 && g.h == 1);
    if (g.px) CHECK(g.px[0] == 76 && g.px[1] == 150 && g.px[2] == 29 && g.px[3] == 10);
    sd_image_free(&g);

    /* Alpha over white: clear black -> white, opaque black -> black, half -> 127. */
    sd_image rgba;
    CHECK(sd_image_alloc(&rgba, 4, 1, 4, 0) == 0);
    const uint8_t c4[16] = { 0, 0, 0, 0, 0, 0, 0, 255, 0, 0, 0, 128, 255, 255, 255, 17 };
    memcpy(rgba.px, c4, 16);
    CHECK(sd_image_to_gray(&rgba, &g) == 0);
    if (g.px) CHECK(g.px[0] == 255 && g.px[1] == 0 && g.px[2] == 127 && g.px[3] == 255);
    sd_image_free(&g);

    /* In place: the input is replaced. */
    CHECK(sd_image_to_gray(&rgb, &rgb) == 0);
    CHECK(rgb.c == 1 && rgb.w == 4 && rgb.px[1] == 150);
    sd_image_free(&rgb);
    sd_image_free(&rgba);

    sd_image bad = { 2, 2, 2, NULL };
    CHECK(sd_image_to_gray(&bad, &g) == -1 && g.px == NULL);
    CHECK(sd_image_to_gray(NULL, &g) == -1);
}

/* ---- Resizing. */
static void test_resize(void)
{
    sd_image im, r;
    /* A constant image stays exactly constant, shrinking and enlarging. */
    CHECK(sd_image_alloc(&im, 37, 23, 3, 0) == 0);
    for (int i = 0; i < 37 * 23; i++) {
        im.px[3 * i] = 10;
        im.px[3 * i + 1] = 200;
        im.px[3 * i + 2] = 77;
    }
    const int targets[4][2] = { { 5, 4 }, { 28, 28 }, { 80, 50 }, { 1, 1 } };
    for (int t = 0; t < 4; t++) {
        CHECK(sd_image_resize(&im, targets[t][0], targets[t][1], &r) == 0);
        CHECK(r.w == targets[t][0] && r.h == targets[t][1] && r.c == 3);
        int ok = r.px != NULL;
        for (int i = 0; ok && i < r.w * r.h; i++)
            ok = r.px[3 * i] == 10 && r.px[3 * i + 1] == 200 && r.px[3 * i + 2] == 77;
        CHECK_MSG(ok, "constant image resized to %dx%d changed", targets[t][0], targets[t][1]);
        sd_image_free(&r);
    }
    sd_image_free(&im);

    /* A gradient 0,10,..,70 (as a row, then as a column): area averages. */
    for (int vertical = 0; vertical < 2; vertical++) {
        CHECK(sd_image_alloc(&im, vertical ? 1 : 8, vertical ? 8 : 1, 1, 0) == 0);
        for (int i = 0; i < 8; i++) im.px[i] = (uint8_t)(10 * i);
        int w4 = vertical ? 1 : 4, h4 = vertical ? 4 : 1;
        CHECK(sd_image_resize(&im, w4, h4, &r) == 0);
        if (r.px) CHECK(r.px[0] == 5 && r.px[1] == 25 && r.px[2] == 45 && r.px[3] == 65);
        sd_image_free(&r);
        /* 8 -> 3: fractional coverage [0, 8/3), [8/3, 16/3), [16/3, 8): 8.75, 35, 61.25. */
        CHECK(sd_image_resize(&im, vertical ? 1 : 3, vertical ? 3 : 1, &r) == 0);
        if (r.px) CHECK(r.px[0] == 9 && r.px[1] == 35 && r.px[2] == 61);
        sd_image_free(&r);
        sd_image_free(&im);
    }
    /* Enlarging 0,100 -> 4 pixels: bilinear between centres, clamped edges. */
    CHECK(sd_image_alloc(&im, 2, 1, 1, 0) == 0);
    im.px[1] = 100;
    CHECK(sd_image_resize(&im, 4, 1, &r) == 0);
    if (r.px) CHECK(r.px[0] == 0 && r.px[1] == 25 && r.px[2] == 75 && r.px[3] == 100);
    sd_image_free(&r);
    /* 2-D: a 2x2 checker averaged to 1x1 is the mean. */
    sd_image_free(&im);
    CHECK(sd_image_alloc(&im, 2, 2, 1, 0) == 0);
    im.px[0] = 255;
    im.px[3] = 255;
    CHECK(sd_image_resize(&im, 1, 1, &r) == 0);
    if (r.px) CHECK(r.px[0] == 128);
    sd_image_free(&r);
    sd_image_free(&im);

    /* RGBA: a fully transparent green pixel does not tint its red neighbour. */
    CHECK(sd_image_alloc(&im, 2, 1, 4, 0) == 0);
    const uint8_t two[8] = { 255, 0, 0, 255, 0, 255, 0, 0 };
    memcpy(im.px, two, 8);
    CHECK(sd_image_resize(&im, 1, 1, &r) == 0);
    if (r.px) CHECK(r.px[0] == 255 && r.px[1] == 0 && r.px[2] == 0 && r.px[3] == 128);
    sd_image_free(&r);

    /* In place, and bad sizes. */
    CHECK(sd_image_resize(&im, 3, 3, &im) == 0);
    CHECK(im.w == 3 && im.h == 3 && im.c == 4);
    CHECK(sd_image_resize(&im, 0, 3, &r) == -1 && r.px == NULL);
    CHECK(sd_image_resize(&im, 3, 3, &im) == 0);
    CHECK(sd_image_resize(&im, 100000, 3, &im) == -1);
    CHECK(im.px != NULL && im.w == 3);   /* a failed in-place call keeps the input */
    sd_image_free(&im);

    /* Nearest-neighbour enlargement. */
    CHECK(sd_image_alloc(&im, 2, 1, 1, 0) == 0);
    im.px[0] = 10;
    im.px[1] = 20;
    CHECK(sd_image_scale_nearest(&im, 3, &r) == 0);
    CHECK(r.w == 6 && r.h == 3 && r.c == 1);
    if (r.px) {
        int ok = 1;
        for (int y = 0; y < 3; y++)
            for (int x = 0; x < 6; x++) ok &= px_at(&r, x, y, 0) == (x < 3 ? 10 : 20);
        CHECK(ok);
    }
    sd_image_free(&r);
    CHECK(sd_image_scale_nearest(&im, 0, &r) == -1);
    CHECK(sd_image_scale_nearest(&im, 1, &im) == 0 && im.w == 2 && im.px[1] == 20);
    sd_image_free(&im);
}

/* ---- MNIST-style preparation. */
static float at28(const float *o, int x, int y) { return o[y * 28 + x]; }

static void test_to_mnist(void)
{
    float o[784];
    int inv = -1;
    /* A dark vertical bar on a white RGB page (a photo of a "1"). */
    sd_image im;
    CHECK(sd_image_alloc(&im, 56, 56, 3, 255) == 0);
    for (int y = 8; y < 48; y++)
        for (int x = 24; x < 32; x++) memset(im.px + ((size_t)y * 56 + x) * 3, 0, 3);

    CHECK(sd_image_to_mnist(&im, NULL, o, &inv) == 0);
    CHECK(inv == 1);
    CHECK_NEAR(at28(o, 0, 0), 0, 1e-6);       /* background now black */
    CHECK_NEAR(at28(o, 27, 27), 0, 1e-6);
    CHECK_NEAR(at28(o, 13, 14), 1, 1e-6);     /* the stroke now white */
    CHECK_NEAR(at28(o, 14, 14), 1, 1e-6);
    float mn = 1, mx = 0;
    for (int i = 0; i < 784; i++) {
        if (o[i] < mn) mn = o[i];
        if (o[i] > mx) mx = o[i];
    }
    CHECK(mn >= 0 && mx <= 1);

    sd_image_prep_opts never = { .invert = SD_INVERT_NEVER };
    CHECK(sd_image_to_mnist(&im, &never, o, &inv) == 0);
    CHECK(inv == 0);
    CHECK_NEAR(at28(o, 0, 0), 1, 1e-6);
    CHECK_NEAR(at28(o, 13, 14), 0, 1e-6);

    /* Margin 4 (MNIST digits sit in a 20x20 box): row 3 is background. */
    sd_image_prep_opts m4 = { .margin = 4 };
    CHECK(sd_image_to_mnist(&im, &m4, o, &inv) == 0);
    int ok = 1;
    for (int x = 0; x < 28; x++) ok &= at28(o, x, 3) == 0 && at28(o, x, 24) == 0;
    CHECK(ok);
    CHECK_NEAR(at28(o, 13, 14), 1, 1e-6);
    sd_image_free(&im);

    /* Already MNIST-like (white stroke on black): auto leaves it alone;
     * "always" inverts it. */
    CHECK(sd_image_alloc(&im, 28, 28, 1, 0) == 0);
    for (int y = 4; y < 24; y++) im.px[y * 28 + 14] = 255;
    CHECK(sd_image_to_mnist(&im, NULL, o, &inv) == 0);
    CHECK(inv == 0);
    CHECK_NEAR(at28(o, 14, 10), 1, 1e-6);
    CHECK_NEAR(at28(o, 13, 10), 0, 1e-6);     /* 28x28 in: pixels pass unchanged */
    sd_image_prep_opts always = { .invert = SD_INVERT_ALWAYS };
    CHECK(sd_image_to_mnist(&im, &always, o, &inv) == 0);
    CHECK(inv == 1 && at28(o, 14, 10) == 0 && at28(o, 0, 0) == 1);
    sd_image_free(&im);

    /* A wide page (56x28): keep-aspect pads top and bottom with background;
     * stretch fills the frame. Gray paper (200) and pencil (50) with autolevel
     * become exact black and white. */
    CHECK(sd_image_alloc(&im, 56, 28, 1, 200) == 0);
    for (int y = 0; y < 28; y++)
        for (int x = 20; x < 36; x++)
            if (y >= 4 && y < 24) im.px[y * 56 + x] = 50;
    CHECK(sd_image_to_mnist(&im, NULL, o, &inv) == 0);
    CHECK(inv == 1);
    CHECK_NEAR(at28(o, 0, 0), 55 / 255.0, 1e-6);  /* padding = inverted paper */
    CHECK_NEAR(at28(o, 14, 3), 55 / 255.0, 1e-6);  /* rows 0..6 are padding */
    CHECK_NEAR(at28(o, 14, 14), 205 / 255.0, 1e-6);
    sd_image_prep_opts lev = { .autolevel = 1 };
    CHECK(sd_image_to_mnist(&im, &lev, o, &inv) == 0);
    CHECK_NEAR(at28(o, 0, 0), 0, 1e-6);
    CHECK_NEAR(at28(o, 14, 14), 1, 1e-6);
    sd_image_prep_opts st = { .fit = SD_FIT_STRETCH, .autolevel = 1 };
    CHECK(sd_image_to_mnist(&im, &st, o, &inv) == 0);
    CHECK_NEAR(at28(o, 14, 3), 0, 1e-6);         /* stretched: y 3 -> source rows ~3 (paper) */
    CHECK_NEAR(at28(o, 14, 5), 1, 1e-6);         /* y 5 -> pencil, not padding */
    CHECK_NEAR(at28(o, 0, 14), 0, 1e-6);

    sd_image_prep_opts badm = { .margin = 14 };
    CHECK(sd_image_to_mnist(&im, &badm, o, NULL) == -1);
    CHECK(has(sd_last_error(), "margin"));
    CHECK(sd_image_to_mnist(&im, NULL, NULL, NULL) == -1);
    sd_image_free(&im);

    /* Round trip of the whole pipeline: a 28x28 "digit" (black border),
     * enlarged 4x, inverted to dark-on-white RGB and saved as a PNG, comes
     * back exactly from load + to_mnist (4x4 blocks average exactly). */
    {
        uint8_t digit[784] = { 0 };
        for (int y = 3; y < 25; y++)
            for (int x = 3; x < 25; x++) digit[y * 28 + x] = (x + y) % 3 ? rnd8() : 0;
        sd_image d = { 28, 28, 1, digit }, big, rgb, back;
        CHECK(sd_image_scale_nearest(&d, 4, &big) == 0);
        CHECK(sd_image_alloc(&rgb, 112, 112, 3, 0) == 0);
        for (int i = 0; big.px && i < 112 * 112; i++) memset(rgb.px + 3 * i, 255 - big.px[i], 3);
        CHECK(sd_image_save_png(tpath("photo.png"), &rgb) == 0);
        CHECK(sd_image_load_png(tpath("photo.png"), &back) == 0);
        CHECK(sd_image_to_mnist(&back, NULL, o, &inv) == 0);
        CHECK(inv == 1);
        int same = 1;
        for (int i = 0; i < 784; i++) same &= o[i] == digit[i] / 255.0f;
        CHECK(same);
        sd_image_free(&back);
        sd_image_free(&rgb);
        sd_image_free(&big);
    }

    /* RGBA drawing: black strokes on a transparent canvas (composited over
     * white) count as dark-on-light and are inverted. */
    CHECK(sd_image_alloc(&im, 10, 10, 4, 0) == 0);
    for (int y = 2; y < 8; y++) im.px[(y * 10 + 5) * 4 + 3] = 255;
    CHECK(sd_image_to_mnist(&im, NULL, o, &inv) == 0);
    CHECK(inv == 1 && at28(o, 0, 0) == 0);
    sd_image_free(&im);
}

/* ---- Grids. */
static void test_grid(void)
{
    /* Three 2x3 gray images, 2 per row, pad 1: 9 x 7. */
    float imgs[3 * 6];
    for (int i = 0; i < 3; i++)
        for (int k = 0; k < 6; k++) imgs[i * 6 + k] = 0.25f * (i + 1);
    imgs[0] = 5;           /* clamps to 255 */
    imgs[1] = NAN;         /* -> 0 */
    sd_image g;
    CHECK(sd_image_grid(imgs, 3, 1, 2, 3, 2, 1, 0, 1, &g) == 0);
    CHECK(g.w == 9 && g.h == 7 && g.c == 1);
    if (g.px && g.w == 9 && g.h == 7) {
        CHECK(px_at(&g, 1, 1, 0) == 255 && px_at(&g, 2, 1, 0) == 0 && px_at(&g, 3, 2, 0) == 64);
        CHECK(px_at(&g, 5, 1, 0) == 128 && px_at(&g, 7, 2, 0) == 128);   /* image 1 */
        CHECK(px_at(&g, 1, 4, 0) == 191 && px_at(&g, 3, 5, 0) == 191);   /* image 2, next row */
        CHECK(px_at(&g, 5, 4, 0) == 0 && px_at(&g, 7, 5, 0) == 0);       /* empty cell */
        int ok = 1;   /* padding lines are black */
        for (int x = 0; x < 9; x++) ok &= px_at(&g, x, 0, 0) == 0 && px_at(&g, x, 3, 0) == 0 && px_at(&g, x, 6, 0) == 0;
        for (int y = 0; y < 7; y++) ok &= px_at(&g, 0, y, 0) == 0 && px_at(&g, 4, y, 0) == 0 && px_at(&g, 8, y, 0) == 0;
        CHECK(ok);
    }
    sd_image_free(&g);

    /* RGB planes are interleaved; lo == hi uses the data's range. */
    const float rgb[6] = { 1, 0, /* R */ 0, 1, /* G */ 0.5f, 0.5f /* B */ };
    CHECK(sd_image_grid(rgb, 1, 3, 1, 2, 1, 0, 0, 1, &g) == 0);
    CHECK(g.w == 2 && g.h == 1 && g.c == 3);
    if (g.px) {
        const uint8_t want[6] = { 255, 0, 128, 0, 255, 128 };
        CHECK(memcmp(g.px, want, 6) == 0);
    }
    sd_image_free(&g);
    const float k3[3] = { -2, 0, 2 };
    CHECK(sd_image_grid(k3, 3, 1, 1, 1, 3, 0, 0, 0, &g) == 0);
    CHECK(g.w == 3 && g.px && g.px[0] == 0 && g.px[1] == 128 && g.px[2] == 255);
    sd_image_free(&g);
    const float same[2] = { 3, 3 };
    CHECK(sd_image_grid(same, 2, 1, 1, 1, 2, 0, 0, 0, &g) == 0);
    CHECK(g.px && g.px[0] == 128 && g.px[1] == 128);
    sd_image_free(&g);

    /* cols <= 0: ceil(sqrt(n)) per row: 5 images -> 3 x 2 cells. */
    float five[5] = { 1, 1, 1, 1, 1 };
    CHECK(sd_image_grid(five, 5, 1, 1, 1, 0, 1, 0, 1, &g) == 0);
    CHECK(g.w == 7 && g.h == 5);
    if (g.px && g.w == 7) CHECK(px_at(&g, 3, 3, 0) == 255 && px_at(&g, 5, 1, 0) == 255 && px_at(&g, 5, 3, 0) == 0);
    sd_image_free(&g);

    CHECK(sd_image_grid(five, 5, 2, 1, 1, 0, 1, 0, 1, &g) == -1);
    CHECK(sd_image_grid(five, 0, 1, 1, 1, 0, 1, 0, 1, &g) == -1);
    CHECK(sd_image_grid(five, 5, 1, 1, 1, 0, -1, 0, 1, &g) == -1);
    CHECK(sd_image_grid(five, 5, 1, 1, 1, 0, 1, 0, INFINITY, &g) == -1);
    CHECK(sd_image_grid(five, 5, 1, 30000, 30000, 5, 0, 0, 1, &g) == -1);
    CHECK(has(sd_last_error(), "too large"));

    /* A grid saves as a PNG. */
    CHECK(sd_image_grid(five, 5, 1, 1, 1, 0, 1, 0, 1, &g) == 0);
    sd_image big;
    CHECK(sd_image_scale_nearest(&g, 4, &big) == 0);
    CHECK_MSG(sd_image_save_png(tpath("grid.png"), &big) == 0, "%s", sd_last_error());
    sd_image back;
    CHECK(sd_image_load_png(tpath("grid.png"), &back) == 0);
    CHECK(back.w == 28 && back.h == 20 && back.c == 1);
    sd_image_free(&back);
    sd_image_free(&big);
    sd_image_free(&g);
}

/* ---- Hostile files. */
static void put32(unsigned char *p, uint32_t v)
{
    p[0] = (unsigned char)(v >> 24);
    p[1] = (unsigned char)(v >> 16);
    p[2] = (unsigned char)(v >> 8);
    p[3] = (unsigned char)v;
}

static uint32_t get32(const unsigned char *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

/* Signature + IHDR (w, h, 8-bit RGB) with a correct CRC + IEND. 45 bytes. */
static size_t make_ihdr_png(unsigned char *b, uint32_t w, uint32_t h)
{
    static const unsigned char sig[8] = { 137, 80, 78, 71, 13, 10, 26, 10 };
    memcpy(b, sig, 8);
    put32(b + 8, 13);
    memcpy(b + 12, "IHDR", 4);
    put32(b + 16, w);
    put32(b + 20, h);
    b[24] = 8;   /* bit depth */
    b[25] = 2;   /* RGB */
    b[26] = b[27] = b[28] = 0;
    put32(b + 29, (uint32_t)crc32(0, b + 12, 17));
    put32(b + 33, 0);
    memcpy(b + 37, "IEND", 4);
    put32(b + 41, (uint32_t)crc32(0, b + 37, 4));
    return 45;
}

static void expect_load_fail(const char *path, const char *want)
{
    sd_image im = { 1, 1, 1, NULL };
    int rc = sd_image_load_png(path, &im);
    CHECK_MSG(rc == -1, "%s loaded", path);
    CHECK_MSG(has(sd_last_error(), path) && has(sd_last_error(), want), "want '%s', got '%s'", want,
              sd_last_error());
    CHECK(im.px == NULL && im.w == 0);
    if (rc == 0) sd_image_free(&im);
}

static void test_bad_files(void)
{
    const char *p = tpath("bad.png");
    expect_load_fail(tpath("does-not-exist.png"), "No such file or directory");
    expect_load_fail(tmp, "a directory, not a regular file");   /* refused before reading */

    CHECK(write_bytes(p, "", 0) == 0);
    expect_load_fail(p, "not a PNG file");
    CHECK(write_bytes(p, "hello, this is plain text and not an image\n", 43) == 0);
    expect_load_fail(p, "not a PNG file");
    CHECK(write_bytes(p, "\x89PNG", 4) == 0);
    expect_load_fail(p, "not a PNG file");

    /* Huge declared size, valid CRC: refused before allocating. */
    unsigned char hdr[64];
    size_t n = make_ihdr_png(hdr, 100000, 100000);
    CHECK(write_bytes(p, hdr, n) == 0);
    expect_load_fail(p, "image too large (100000 x 100000");
    n = make_ihdr_png(hdr, 20000, 20000);   /* each side fine, pixels too many */
    CHECK(write_bytes(p, hdr, n) == 0);
    expect_load_fail(p, "image too large (20000 x 20000");
    n = make_ihdr_png(hdr, 0x7fffffffu, 1);
    CHECK(write_bytes(p, hdr, n) == 0);
    expect_load_fail(p, "image too large");
    n = make_ihdr_png(hdr, 0, 5);           /* invalid for libpng itself */
    CHECK(write_bytes(p, hdr, n) == 0);
    expect_load_fail(p, "corrupt PNG");
    n = make_ihdr_png(hdr, 4, 4);           /* valid header, no image data */
    CHECK(write_bytes(p, hdr, n) == 0);
    expect_load_fail(p, "corrupt PNG");
    n = make_ihdr_png(hdr, 4, 4);
    hdr[20] ^= 1;                           /* CRC no longer matches */
    CHECK(write_bytes(p, hdr, n) == 0);
    expect_load_fail(p, "corrupt PNG");

    /* Truncations of a valid file at many points. */
    sd_image im;
    CHECK(sd_image_alloc(&im, 40, 30, 3, 0) == 0);
    for (size_t i = 0; i < 40 * 30 * 3; i++) im.px[i] = rnd8();
    const char *good = tpath("good.png");
    CHECK(sd_image_save_png(good, &im) == 0);
    sd_image_free(&im);
    size_t len = 0;
    unsigned char *full = read_bytes(good, &len);
    CHECK(full && len > 100);
    int all_truncated = 1, all_failed = 1;
    for (size_t cut = 8; full && cut < len; cut += (cut < 60 || cut > len - 20) ? 1 : 37) {
        CHECK(write_bytes(p, full, cut) == 0);
        sd_image t;
        int rc = sd_image_load_png(p, &t);
        if (rc == 0) {
            all_failed = 0;
            sd_image_free(&t);
        } else if (!has(sd_last_error(), "truncated PNG data")) {
            all_truncated = 0;
            fprintf(stderr, "cut at %zu of %zu: %s\n", cut, len, sd_last_error());
        }
    }
    CHECK(all_failed);
    CHECK(all_truncated);

    /* Damaged chunk data with the CRC fixed up, so libpng and zlib see the
     * damage itself: must fail cleanly or decode something, never crash. */
    unsigned char *mut = full ? malloc(len) : NULL;
    int sane = 1, failures = 0;
    for (int trial = 0; mut && trial < 300; trial++) {
        memcpy(mut, full, len);
        /* Pick a chunk: walk from the first, stepping a random number of chunks. */
        size_t off = 8, steps = rnd8() % 4;
        while (steps-- && off + 12 + get32(mut + off) < len) off += 12 + get32(mut + off);
        uint32_t clen = get32(mut + off);
        if (clen == 0 || off + 12 + clen > len) continue;
        int flips = 1 + rnd8() % 3;
        for (int f = 0; f < flips; f++) mut[off + 8 + (rnd8() * 256u + rnd8()) % clen] ^= (unsigned char)(1u << (rnd8() % 8));
        put32(mut + off + 8 + clen, (uint32_t)crc32(0, mut + off + 4, 4 + clen));
        CHECK(write_bytes(p, mut, len) == 0);
        sd_image t;
        if (sd_image_load_png(p, &t) == 0) {
            sane &= t.w >= 1 && t.h >= 1 && (t.c == 1 || t.c == 3 || t.c == 4) && t.px != NULL;
            sd_image_free(&t);
        } else {
            failures++;
            sane &= has(sd_last_error(), p);
        }
    }
    CHECK(sane);
    CHECK(failures > 0);
    free(mut);
    free(full);

    sd_image none;
    CHECK(sd_image_load_png(NULL, &none) == -1);
    CHECK(sd_image_load_png("", &none) == -1);
}

int main(void)
{
    snprintf(tmp, sizeof tmp, "%s/test_png.d", check_tmpdir());
    mkdir(check_tmpdir(), 0777);
    mkdir(tmp, 0777);
    test_round_trips();
    test_flavours();
    test_gray();
    test_resize();
    test_to_mnist();
    test_grid();
    test_bad_files();
    return check_done("test_png");
}
