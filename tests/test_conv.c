/* conv2d and maxpool2d: the lecture's worked examples to the printed digit,
 * the fast kernels against the reference loops (forward and backward, 1 and 2
 * threads), finite-difference gradients, and shape errors.
 *
 * The lecture's matrices are kept as the text rows of the slides. With
 * SHENDU_LECTURE=path/to/lecture.txt the test also checks that every row
 * appears in the lecture verbatim. */
#include "gradcheck.h"

#include <limits.h>
#include <stdint.h>
#include <string.h>

/* ---- The lecture (卷積層 and 池化層 slides) */

/* 卷積層: "把圖片表示為矩陣", "選定一個 Kernel", and the result of sliding it. */
static const char *const lecture_image[5] = {
    "-0.1 -0.1 0 0.1 0.25",
    "-0.25 1.0 1.0 1.0 0.3",
    "-0.5 1.0 0.5 1.0 0.5",
    "-0.25 1.0 1.0 1.0 0.2",
    "-0.1 -0.2 0 0 0.1",
};
static const char *const lecture_kernel[3] = { "-0.5 0 0.5", "-1.0 0 1.0", "-0.5 0 0.5" };
static const char *const lecture_conv[3] = { "1.8 0.1 -0.575", "2.25 0 -0.75", "1.8 0.1 -0.75" };
/* 池化層: a 4x4 image, 2x2 windows, stride 2. */
static const char *const lecture_pool_in[4] = {
    "-0.1 -0.1 0 0.1",
    "-0.25 0.5 0.15 0.2",
    "-0.5 -1.0 0.5 0.3",
    "-0.25 -0.75 0.25 1.0",
};
static const char *const lecture_pool[2] = { "0.5 0.2", "-0.25 1.0" };

/* Parse `rows` text rows of `cols` numbers each into out; returns the count. */
static int parse_rows(const char *const *rows, int nrows, int cols, float *out)
{
    int k = 0;
    for (int r = 0; r < nrows; r++) {
        const char *s = rows[r];
        for (int c = 0; c < cols; c++) {
            char *end;
            float v = strtof(s, &end);
            if (end == s) return -1;
            out[k++] = v;
            s = end;
        }
    }
    return k;
}

/* With SHENDU_LECTURE set, every row above must be a line of the lecture. */
static void check_rows_in_lecture(void)
{
    const char *path = getenv("SHENDU_LECTURE");
    if (!path || !*path) {
        fprintf(stderr, "test_conv: SHENDU_LECTURE not set: the lecture's rows are not re-read\n");
        return;
    }
    FILE *f = fopen(path, "rb");
    CHECK_MSG(f != NULL, "cannot open the lecture %s", path);
    if (!f) return;
    static char text[1 << 20];
    size_t n = fread(text, 1, sizeof text - 1, f);
    fclose(f);
    text[n] = '\0';
    const char *const *groups[] = { lecture_image, lecture_kernel, lecture_conv, lecture_pool_in,
                                    lecture_pool };
    const int counts[] = { 5, 3, 3, 4, 2 };
    for (int gi = 0; gi < 5; gi++)
        for (int r = 0; r < counts[gi]; r++) {
            const char *row = groups[gi][r], *p = text;
            size_t len = strlen(row);
            int found = 0;
            while (!found && (p = strstr(p, row)) != NULL) {
                found = (p == text || p[-1] == '\n') && (p[len] == '\n' || p[len] == '\r' || p[len] == '\0');
                p++;
            }
            CHECK_MSG(found, "the row \"%s\" is not a line of %s: the test's matrices are not the lecture's",
                      row, path);
        }
}

static void lecture_examples(sd_ctx *ctx)
{
    float img[25], ker[9], want[9], pin[16], pwant[4];
    int ok = parse_rows(lecture_image, 5, 5, img) == 25 && parse_rows(lecture_kernel, 3, 3, ker) == 9 &&
             parse_rows(lecture_conv, 3, 3, want) == 9 && parse_rows(lecture_pool_in, 4, 4, pin) == 16 &&
             parse_rows(lecture_pool, 2, 2, pwant) == 4;
    CHECK_MSG(ok, "the lecture's matrices did not parse");
    if (!ok) return;
    check_rows_in_lecture();

    sd_graph *g = sd_graph_new(ctx);
    /* 5x5 image ⋆ 3x3 kernel -> 3x3 (the fast path through the op) */
    sd_tensor *y = sd_conv2d(g, sd_input(g, img, SD_SHAPE(1, 1, 5, 5)), sd_input(g, ker, SD_SHAPE(1, 1, 3, 3)),
                             NULL, 1, 0);
    CHECK(y && y->shape.ndim == 4 && y->shape.d[2] == 3 && y->shape.d[3] == 3);
    for (int i = 0; y && i < 9; i++) CHECK_NEAR(y->data[i], want[i], 1e-6);
    /* ... and the reference loop */
    sd_conv_dims d = { .n = 1, .c = 1, .h = 5, .w = 5, .o = 1, .kh = 3, .kw = 3, .stride = 1, .pad = 0,
                       .oh = 3, .ow = 3 };
    float yn[9];
    sd_conv2d_naive(&d, img, ker, NULL, yn);
    for (int i = 0; i < 9; i++) CHECK_NEAR(yn[i], want[i], 1e-6);

    /* 4x4 max-pool, 2x2 windows, stride 2 -> 2x2; the gradient goes to the maxima */
    sd_params *P = sd_params_new();
    sd_params_add(P, "x", SD_SHAPE(1, 1, 4, 4));
    memcpy(sd_params_data(P, 0), pin, sizeof pin);
    sd_params_zero_grad(P);
    y = sd_maxpool2d(g, sd_param(g, P, 0), 2, 2);
    CHECK(y && y->shape.d[2] == 2 && y->shape.d[3] == 2);
    for (int i = 0; y && i < 4; i++) CHECK(y->data[i] == pwant[i]);
    CHECK(sd_backward(g, sd_sum(g, y)) == 0);
    const float *dx = sd_params_grad(P, 0);
    for (int i = 0; i < 16; i++)   /* 0.5 at (1,1), 0.2 at (1,3), -0.25 at (3,0), 1.0 at (3,3) */
        CHECK_MSG(dx[i] == (i == 5 || i == 7 || i == 12 || i == 15 ? 1.0f : 0.0f),
                  "pool grad [%d] = %g", i, dx[i]);
    sd_params_free(P);

    /* 28x28 through a layer of three 3x3 kernels -> 26x26x3; a 2x2 pool halves it */
    sd_graph_reset(g);
    static float big[2 * 28 * 28], k3[3 * 9];
    y = sd_conv2d(g, sd_input(g, big, SD_SHAPE(2, 1, 28, 28)), sd_input(g, k3, SD_SHAPE(3, 1, 3, 3)),
                  NULL, 1, 0);
    CHECK(y && sd_shape_eq(y->shape, SD_SHAPE(2, 3, 26, 26)));
    y = sd_maxpool2d(g, y, 2, 2);
    CHECK(y && sd_shape_eq(y->shape, SD_SHAPE(2, 3, 13, 13)));
    sd_graph_free(g);
}

/* ---- Fast vs reference */

typedef struct { int n, c, h, w, o, kh, kw, stride, pad; } conv_case;

static sd_conv_dims dims_of(conv_case k)
{
    return (sd_conv_dims){ .n = k.n, .c = k.c, .h = k.h, .w = k.w, .o = k.o, .kh = k.kh, .kw = k.kw,
                           .stride = k.stride, .pad = k.pad, .oh = (k.h + 2 * k.pad - k.kh) / k.stride + 1,
                           .ow = (k.w + 2 * k.pad - k.kw) / k.stride + 1 };
}

/* Contexts of 1, 2 and 4 threads, for results that must not depend on the
 * thread count; NULL entries if one could not be made (then checked). */
static void three_contexts(sd_ctx *ctx[3])
{
    for (int t = 0; t < 3; t++) ctx[t] = sd_ctx_new(&(sd_ctx_opts){ .threads = 1 << t });
    CHECK_MSG(ctx[0] && ctx[1] && ctx[2], "contexts of 1, 2 and 4 threads: %s", sd_last_error());
}

/* Elements of x, w and y for case k. */
static void sizes_of(conv_case k, size_t *nx, size_t *nw, size_t *ny)
{
    sd_conv_dims d = dims_of(k);
    *nx = (size_t)k.n * k.c * k.h * k.w;
    *nw = (size_t)k.o * k.c * k.kh * k.kw;
    *ny = (size_t)k.n * k.o * d.oh * d.ow;
}

static void fill(float *a, size_t n, sd_rng *rng)
{
    for (size_t i = 0; i < n; i++) a[i] = 2.0f * sd_rng_uniform(rng) - 1.0f;
}

/* Every |a - b| within tol of b's largest magnitude (at least 1). */
static int close_to(const float *a, const float *b, size_t n, double tol, double *worst)
{
    double m = 1.0, e = 0.0;
    for (size_t i = 0; i < n; i++) m = fmax(m, fabs(b[i]));
    for (size_t i = 0; i < n; i++) e = fmax(e, fabs((double)a[i] - b[i]));
    *worst = e / m;
    return e <= tol * m;
}

#define CHECK_CLOSE(a, b, n, what) do { double w_; \
    CHECK_MSG(close_to(a, b, n, 1e-4, &w_), "%s: %s differs from the reference by %.3g (relative)", \
              name, what, w_); \
} while (0)

/* The op (im2col + GEMM) against sd_conv2d_naive*, on x, w, b as parameters
 * and again with x a plain input (no dx); twice, to see bit-identical reruns. */
static void compare_conv(sd_ctx *ctx, conv_case k, sd_rng *rng)
{
    char name[128];
    snprintf(name, sizeof name, "conv x(%d,%d,%d,%d) w(%d,%d,%d,%d) s%d p%d t%d", k.n, k.c, k.h, k.w, k.o, k.c,
             k.kh, k.kw, k.stride, k.pad, sd_ctx_threads(ctx));
    sd_conv_dims d = dims_of(k);
    sd_params *P = sd_params_new();
    sd_params_add(P, "x", SD_SHAPE(k.n, k.c, k.h, k.w));
    sd_params_add(P, "w", SD_SHAPE(k.o, k.c, k.kh, k.kw));
    sd_params_add(P, "b", SD_SHAPE(k.o));
    size_t nx = (size_t)k.n * k.c * k.h * k.w, nw = (size_t)k.o * k.c * k.kh * k.kw;
    size_t ny = (size_t)k.n * k.o * d.oh * d.ow;
    float *x = sd_params_data(P, 0), *w = sd_params_data(P, 1), *b = sd_params_data(P, 2);
    fill(x, nx, rng);
    fill(w, nw, rng);
    fill(b, (size_t)k.o, rng);
    float *r = malloc(ny * sizeof *r), *y0 = malloc(ny * sizeof *y0), *y1 = malloc(ny * sizeof *y1);
    float *dx = calloc(nx, sizeof *dx), *dw = calloc(nw, sizeof *dw), *db = calloc((size_t)k.o, sizeof *db);
    float *first = malloc(sd_params_size(P) * sizeof *first);
    fill(r, ny, rng);
    sd_conv2d_naive(&d, x, w, b, y0);
    sd_conv2d_naive_bwd(&d, x, w, r, dx, dw, db);

    sd_graph *g = sd_graph_new(ctx);
    /* rep 0, 1: everything needs a gradient (twice: bit-identical reruns);
     * rep 2: x is a plain input (a first layer); rep 3: w and b are frozen (a GAN's D). */
    for (int rep = 0; rep < 4; rep++) {
        sd_graph_reset(g);
        sd_params_zero_grad(P);
        sd_tensor *xt = rep == 2 ? sd_input(g, x, SD_SHAPE(k.n, k.c, k.h, k.w)) : sd_param(g, P, 0);
        sd_tensor *wt = rep == 3 ? sd_input(g, w, SD_SHAPE(k.o, k.c, k.kh, k.kw)) : sd_param(g, P, 1);
        sd_tensor *bt = rep == 3 ? sd_input(g, b, SD_SHAPE(k.o)) : sd_param(g, P, 2);
        sd_tensor *y = sd_conv2d(g, xt, wt, bt, k.stride, k.pad);
        CHECK_MSG(y && y->n == ny, "%s: %s", name, sd_last_error());
        if (!y || y->n != ny) break;
        memcpy(y1, y->data, ny * sizeof *y1);
        CHECK(sd_backward(g, sd_sum(g, sd_mul(g, y, sd_input(g, r, y->shape)))) == 0);
        CHECK_CLOSE(y1, y0, ny, "y");
        float *gx = sd_params_grad(P, 0), *gw = sd_params_grad(P, 1), *gb = sd_params_grad(P, 2);
        if (rep != 2) CHECK_CLOSE(gx, dx, nx, "dx");
        if (rep != 3) {
            CHECK_CLOSE(gw, dw, nw, "dw");
            CHECK_CLOSE(gb, db, (size_t)k.o, "db");
        }
        int untouched = 1;   /* no gradient written for what does not need one */
        for (size_t i = 0; rep == 2 && i < nx; i++) untouched &= gx[i] == 0.0f;
        for (size_t i = 0; rep == 3 && i < nw; i++) untouched &= gw[i] == 0.0f;
        CHECK_MSG(untouched, "%s: a gradient written for a tensor without one", name);
        if (rep == 0) memcpy(first, sd_params_grads(P), sd_params_size(P) * sizeof *first);
        if (rep == 1)
            CHECK_MSG(!memcmp(first, sd_params_grads(P), sd_params_size(P) * sizeof *first),
                      "%s: a rerun's gradients are not bit-identical", name);
    }
    sd_graph_free(g);
    free(r); free(y0); free(y1); free(dx); free(dw); free(db); free(first);
    sd_params_free(P);
}

/* x (N,C,H,W) -> k x k max-pool, stride s: the op against sd_maxpool2d_naive. */
static void compare_pool(sd_ctx *ctx, int n, int c, int h, int w, int k, int s, int nans, sd_rng *rng)
{
    char name[96];
    snprintf(name, sizeof name, "maxpool x(%d,%d,%d,%d) k%d s%d t%d", n, c, h, w, k, s, sd_ctx_threads(ctx));
    sd_conv_dims d = { .n = n, .c = c, .h = h, .w = w, .o = c, .kh = k, .kw = k, .stride = s, .pad = 0,
                       .oh = (h - k) / s + 1, .ow = (w - k) / s + 1 };
    size_t nx = (size_t)n * c * h * w, ny = (size_t)n * c * d.oh * d.ow;
    sd_params *P = sd_params_new();
    sd_params_add(P, "x", SD_SHAPE(n, c, h, w));
    float *x = sd_params_data(P, 0);
    fill(x, nx, rng);
    for (size_t i = 0; i < nx; i += 7) x[i] = x[i / 2];    /* some ties */
    for (size_t i = 0; nans && i < nx; i += 97) x[i] = i % 3 ? NAN : INFINITY;
    float *r = malloc(ny * sizeof *r), *y0 = malloc(ny * sizeof *y0), *dx = calloc(nx, sizeof *dx);
    int32_t *am = malloc(ny * sizeof *am);
    fill(r, ny, rng);
    sd_maxpool2d_naive(&d, x, y0, am);
    for (size_t i = 0; i < ny; i++) dx[i / ((size_t)d.oh * d.ow) * h * w + (size_t)am[i]] += r[i];

    sd_graph *g = sd_graph_new(ctx);
    sd_params_zero_grad(P);
    sd_tensor *y = sd_maxpool2d(g, sd_param(g, P, 0), k, s);
    CHECK_MSG(y && y->n == ny, "%s: %s", name, sd_last_error());
    if (y && y->n == ny) {
        CHECK_MSG(!memcmp(y->data, y0, ny * sizeof *y0), "%s: y differs from the reference", name);
        CHECK(sd_backward(g, sd_sum(g, sd_mul(g, y, sd_input(g, r, y->shape)))) == 0);
        CHECK_MSG(!memcmp(sd_params_grad(P, 0), dx, nx * sizeof *dx), "%s: dx differs from the reference",
                  name);
    }
    sd_graph_free(g);
    g = sd_graph_new(ctx);   /* inference: the kernel without the argmax */
    sd_graph_set_grad(g, 0);
    y = sd_maxpool2d(g, sd_input(g, x, SD_SHAPE(n, c, h, w)), k, s);
    CHECK_MSG(y && y->n == ny && !memcmp(y->data, y0, ny * sizeof *y0), "%s: y without gradients differs", name);
    sd_graph_free(g);
    free(r); free(y0); free(dx); free(am);
    sd_params_free(P);
}

static void fast_vs_naive(sd_ctx *ctx, sd_rng *rng)
{
    static const conv_case cases[] = {
        { 1, 1, 5, 5, 1, 3, 3, 1, 0 },
        { 2, 3, 7, 9, 4, 3, 3, 1, 1 },     /* non-square, pad 1 */
        { 3, 2, 8, 8, 5, 3, 3, 2, 1 },     /* stride 2, pad 1 */
        { 2, 4, 6, 5, 3, 1, 1, 1, 0 },     /* 1x1 */
        { 1, 2, 5, 6, 2, 1, 1, 2, 1 },     /* 1x1 with stride and pad */
        { 2, 3, 11, 9, 2, 5, 5, 1, 2 },    /* 5x5, pad 2 */
        { 2, 2, 9, 12, 3, 5, 5, 2, 0 },    /* 5x5, stride 2 */
        { 1, 3, 7, 7, 2, 3, 2, 3, 1 },     /* 3x2 kernel, stride 3 */
        { 2, 1, 4, 4, 2, 6, 6, 1, 1 },     /* kernel larger than x, fits the padding */
        { 1, 2, 3, 3, 2, 3, 3, 1, 3 },     /* padding wider than the kernel */
        { 8, 3, 20, 20, 8, 3, 3, 1, 1 },   /* big enough for the parallel loops */
        { 16, 4, 13, 11, 6, 3, 3, 2, 0 },
        { 1, 8, 40, 40, 16, 3, 3, 1, 1 },  /* one image, big: the GEMM itself threaded */
        /* 3x3 stride 1, 8+ channels: Winograd forward and dx, dw from im2col */
        { 4, 8, 10, 9, 12, 3, 3, 1, 1 },
        { 3, 16, 13, 13, 8, 3, 3, 1, 0 },  /* the CNN's conv2 shape, fewer channels */
        { 2, 8, 7, 6, 8, 3, 3, 1, 2 },     /* pad 2: dx with pad 0 */
        { 2, 8, 7, 7, 8, 3, 3, 1, 3 },     /* pad 3: forward Winograd, dx from im2col */
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) compare_conv(ctx, cases[i], rng);
    compare_pool(ctx, 2, 3, 4, 4, 2, 2, 0, rng);
    compare_pool(ctx, 2, 2, 7, 5, 2, 2, 0, rng);      /* odd sizes: floor */
    compare_pool(ctx, 1, 3, 7, 7, 3, 2, 0, rng);      /* overlapping windows */
    compare_pool(ctx, 2, 2, 9, 8, 2, 3, 0, rng);      /* gaps between windows */
    compare_pool(ctx, 1, 1, 5, 5, 5, 1, 0, rng);      /* one window */
    compare_pool(ctx, 3, 4, 1, 6, 1, 1, 0, rng);      /* k = 1 */
    compare_pool(ctx, 8, 16, 26, 26, 2, 2, 0, rng);   /* parallel */
    compare_pool(ctx, 2, 3, 70, 71, 2, 2, 0, rng);    /* rows of 35: whole vectors and a tail */
    compare_pool(ctx, 2, 3, 70, 71, 2, 2, 1, rng);    /* the same with NaNs and infinities */
    compare_pool(ctx, 2, 3, 70, 71, 3, 2, 1, rng);
}

/* The two forward kernels against the reference loop, and bit-identical
 * between 1, 2 and 4 threads (fewer images than threads, chunks of images). */
static void forward_kernels(sd_rng *rng)
{
    static const conv_case cases[] = {
        { 1, 32, 13, 13, 64, 3, 3, 1, 0 },   /* the CNN's conv2 at batch 1 */
        { 1, 8, 40, 40, 16, 3, 3, 1, 1 },
        { 1, 3, 30, 31, 40, 3, 3, 2, 1 },    /* stride 2: im2col only */
        { 3, 16, 20, 20, 20, 3, 3, 1, 1 },   /* 3 images on 4 threads */
        { 5, 8, 9, 7, 8, 3, 3, 1, 1 },       /* odd output sizes: partial tiles */
        { 2, 8, 4, 4, 9, 3, 3, 1, 0 },       /* one tile */
        { 1, 8, 3, 5, 8, 3, 3, 1, 2 },       /* pad 2: tiles mostly outside x */
        { 40, 8, 12, 12, 8, 3, 3, 1, 1 },    /* several chunks of images */
    };
    sd_ctx *ctx[3];
    three_contexts(ctx);
    for (size_t i = 0; ctx[0] && ctx[1] && ctx[2] && i < sizeof cases / sizeof cases[0]; i++) {
        conv_case k = cases[i];
        sd_conv_dims d = dims_of(k);
        size_t nx, nw, ny;
        sizes_of(k, &nx, &nw, &ny);
        size_t ns = sd_conv2d_gemm_scratch(&d, 0, 4), nsw = sd_conv2d_winograd_scratch(&d, 4);
        float *x = malloc(nx * sizeof *x), *w = malloc(nw * sizeof *w), *b = malloc((size_t)k.o * sizeof *b);
        float *y[3], *y0 = malloc(ny * sizeof *y0), *scratch = malloc((ns > nsw ? ns : nsw) * sizeof *scratch);
        fill(x, nx, rng);
        fill(w, nw, rng);
        fill(b, (size_t)k.o, rng);
        sd_conv2d_naive(&d, x, w, b, y0);
        for (int wino = 0; wino <= 1; wino++) {
            if (wino && !sd_conv2d_winograd_ok(&d)) continue;
            char name[64];
            snprintf(name, sizeof name, "conv case %zu (%s)", i, wino ? "winograd" : "im2col");
            for (int t = 0; t < 3; t++) {
                y[t] = malloc(ny * sizeof *y[t]);
                if (wino) sd_conv2d_winograd(ctx[t], &d, x, w, b, y[t], scratch);
                else sd_conv2d_gemm(ctx[t], &d, x, w, b, y[t], scratch, 0);
            }
            CHECK_CLOSE(y[0], y0, ny, "y");
            CHECK_MSG(!memcmp(y[0], y[1], ny * sizeof *y0) && !memcmp(y[0], y[2], ny * sizeof *y0),
                      "%s: the output differs between 1, 2 and 4 threads", name);
            for (int t = 0; t < 3; t++) free(y[t]);
        }
        free(x); free(w); free(b); free(y0); free(scratch);
    }
    CHECK(sd_conv2d_winograd_ok(&(sd_conv_dims){ .c = 32, .o = 64, .kh = 3, .kw = 3, .stride = 1 }));
    CHECK(!sd_conv2d_winograd_ok(&(sd_conv_dims){ .c = 1, .o = 32, .kh = 3, .kw = 3, .stride = 1 }));
    CHECK(!sd_conv2d_winograd_ok(&(sd_conv_dims){ .c = 32, .o = 64, .kh = 3, .kw = 3, .stride = 2 }));
    CHECK(!sd_conv2d_winograd_ok(&(sd_conv_dims){ .c = 32, .o = 64, .kh = 5, .kw = 5, .stride = 1 }));
    for (int t = 0; t < 3; t++) sd_ctx_free(ctx[t]);
}

/* The weight gradient made image by image from x (behind a Winograd
 * forward): against the reference loops, and bit-identical between 1, 2 and
 * 4 threads (which share the channels differently, or not at all). */
static void dw_kernel(sd_rng *rng)
{
    static const conv_case cases[] = {
        { 4, 32, 13, 13, 64, 3, 3, 1, 0 },   /* the CNN's conv2 */
        { 3, 8, 9, 7, 12, 3, 3, 1, 1 },      /* 8 channels: at most 4 threads share them */
        { 2, 5, 8, 8, 6, 3, 3, 1, 2 },       /* 5 channels over 2 threads: 3 + 2 */
        { 2, 3, 12, 11, 4, 5, 5, 2, 1 },     /* any kernel and stride */
    };
    sd_ctx *ctx[3];
    three_contexts(ctx);
    for (size_t i = 0; ctx[0] && ctx[1] && ctx[2] && i < sizeof cases / sizeof cases[0]; i++) {
        conv_case k = cases[i];
        sd_conv_dims d = dims_of(k);
        size_t nx, nw, ny;
        sizes_of(k, &nx, &nw, &ny);
        float *x = malloc(nx * sizeof *x), *w = malloc(nw * sizeof *w), *dy = malloc(ny * sizeof *dy);
        float *dx0 = calloc(nx, sizeof *dx0), *dw0 = calloc(nw, sizeof *dw0), *db0 = calloc((size_t)k.o, sizeof *db0);
        float *start = malloc(nw * sizeof *start), *dw[3];
        fill(x, nx, rng);
        fill(w, nw, rng);
        fill(dy, ny, rng);
        fill(start, nw, rng);
        sd_conv2d_naive_bwd(&d, x, w, dy, dx0, dw0, db0);
        for (size_t j = 0; j < nw; j++) dw0[j] += start[j];   /* the kernel adds to what is there */
        for (int t = 0; t < 3; t++) {
            float *scratch = malloc(sd_conv2d_dw_scratch(ctx[t], &d) * sizeof *scratch);
            dw[t] = malloc(nw * sizeof *dw[t]);
            memcpy(dw[t], start, nw * sizeof *start);
            sd_conv2d_dw(ctx[t], &d, x, dy, dw[t], scratch);
            free(scratch);
        }
        char name[64];
        snprintf(name, sizeof name, "dw case %zu", i);
        CHECK_CLOSE(dw[0], dw0, nw, name);
        CHECK_MSG(!memcmp(dw[0], dw[1], nw * sizeof *dw0) && !memcmp(dw[0], dw[2], nw * sizeof *dw0),
                  "%s: dw differs between 1, 2 and 4 threads", name);
        for (int t = 0; t < 3; t++) free(dw[t]);
        free(x); free(w); free(dy); free(dx0); free(dw0); free(db0); free(start);
    }
    for (int t = 0; t < 3; t++) sd_ctx_free(ctx[t]);
}

/* Winograd's transformed weights are kept in the context between calls:
 * reused while the weights are unchanged, remade when a value changes in
 * place; and the op takes that path in a graph without gradients. */
static void winograd_cache(sd_rng *rng)
{
    const conv_case conv2 = { 1, 32, 13, 13, 64, 3, 3, 1, 0 };   /* the CNN's conv2 at batch 1 */
    sd_ctx *ctx = sd_ctx_new(&(sd_ctx_opts){ .threads = 2 });
    if (!ctx) return;
    {
        conv_case k = conv2;
        sd_conv_dims d = dims_of(k);
        size_t nx = (size_t)k.n * k.c * k.h * k.w, nw = (size_t)k.o * k.c * k.kh * k.kw;
        size_t ny = (size_t)k.n * k.o * d.oh * d.ow;
        float *x = malloc(nx * sizeof *x), *w = malloc(nw * sizeof *w), *y0 = malloc(ny * sizeof *y0);
        float *y1 = malloc(ny * sizeof *y1), *y2 = malloc(ny * sizeof *y2);
        float *scratch = malloc(sd_conv2d_winograd_scratch(&d, 2) * sizeof *scratch);
        fill(x, nx, rng);
        fill(w, nw, rng);
        sd_conv2d_winograd(ctx, &d, x, w, NULL, y1, scratch);
        sd_conv2d_winograd(ctx, &d, x, w, NULL, y2, scratch);
        CHECK_MSG(!memcmp(y1, y2, ny * sizeof *y1), "winograd: a second call with the same weights differs");
        for (int change = 0; change < 2; change++) {
            w[change ? nw - 1 : 0] += 0.5f;       /* the first and the last filter tap */
            sd_conv2d_winograd(ctx, &d, x, w, NULL, y1, scratch);
            sd_conv2d_naive(&d, x, w, NULL, y0);
            const char *name = "winograd after a weight changed in place";
            CHECK_CLOSE(y1, y0, ny, "y");
        }
        free(x); free(w); free(y0); free(y1); free(y2); free(scratch);
    }

    /* The op in a graph without gradients (Winograd, the weights' transform cached). */
    conv_case k = conv2;
    sd_conv_dims d = dims_of(k);
    size_t nx = (size_t)k.n * k.c * k.h * k.w, nw = (size_t)k.o * k.c * k.kh * k.kw;
    size_t ny = (size_t)k.n * k.o * d.oh * d.ow;
    sd_params *P = sd_params_new();
    sd_params_add(P, "w", SD_SHAPE(k.o, k.c, k.kh, k.kw));
    float *x = malloc(nx * sizeof *x), *y0 = malloc(ny * sizeof *y0), *w = sd_params_data(P, 0);
    fill(x, nx, rng);
    fill(w, nw, rng);
    sd_conv2d_naive(&d, x, w, NULL, y0);
    sd_graph *g = sd_graph_new(ctx);
    sd_graph_set_grad(g, 0);
    sd_tensor *y = sd_conv2d(g, sd_input(g, x, SD_SHAPE(k.n, k.c, k.h, k.w)), sd_param(g, P, 0), NULL, 1, 0);
    const char *name = "conv2d without gradients";
    CHECK_MSG(y && y->n == ny, "%s: %s", name, sd_last_error());
    if (y && y->n == ny) CHECK_CLOSE(y->data, y0, ny, "y");
    sd_graph_free(g);
    sd_params_free(P);
    free(x); free(y0);
    sd_ctx_free(ctx);
}

/* ---- Finite differences */

static float weights[4096];   /* fixed random R: loss = Σ y ∘ R */

static sd_tensor *weighted_sum(sd_graph *g, sd_tensor *y)
{
    if (!y || y->n > sizeof weights / sizeof weights[0]) return NULL;
    return sd_sum(g, sd_mul(g, y, sd_input(g, weights, y->shape)));
}

typedef struct { conv_case k; int bias; int pool_k, pool_s; } gc_case;

static sd_tensor *build_conv(sd_graph *g, sd_params *P, void *user)
{
    const gc_case *c = user;
    sd_tensor *b = c->bias ? sd_param(g, P, 2) : NULL;
    return weighted_sum(g, sd_conv2d(g, sd_param(g, P, 0), sd_param(g, P, 1), b, c->k.stride, c->k.pad));
}

static sd_tensor *build_pool(sd_graph *g, sd_params *P, void *user)
{
    const gc_case *c = user;
    return weighted_sum(g, sd_maxpool2d(g, sd_param(g, P, 0), c->pool_k, c->pool_s));
}

static void gradcheck_conv(sd_ctx *ctx, const char *name, conv_case k, int bias)
{
    sd_rng rng;
    sd_rng_seed(&rng, 4321);
    sd_params *P = sd_params_new();
    sd_params_add(P, "x", SD_SHAPE(k.n, k.c, k.h, k.w));
    sd_params_add(P, "w", SD_SHAPE(k.o, k.c, k.kh, k.kw));
    if (bias) sd_params_add(P, "b", SD_SHAPE(k.o));
    for (int i = 0; i < sd_params_count(P); i++) gc_fill(P, i, &rng, 1.0f, 0.0f);
    gc_case c = { .k = k, .bias = bias };
    gradcheck(name, ctx, P, build_conv, &c, 2e-3);
    sd_params_free(P);
}

/* Max-pool inputs: distinct values 0.01 apart (a shuffled ramp), far from ties
 * for the ±1e-3 nudges. */
static void gradcheck_pool(sd_ctx *ctx, const char *name, sd_shape xs, int k, int s)
{
    sd_rng rng;
    sd_rng_seed(&rng, 777);
    sd_params *P = sd_params_new();
    sd_params_add(P, "x", xs);
    size_t n = sd_shape_numel(xs);
    int32_t *perm = malloc(n * sizeof *perm);
    for (size_t i = 0; i < n; i++) perm[i] = (int32_t)i;
    sd_rng_shuffle(&rng, perm, n);
    for (size_t i = 0; i < n; i++) sd_params_data(P, 0)[i] = 0.01f * (float)(perm[i] - (int32_t)n / 2);
    free(perm);
    gc_case c = { .pool_k = k, .pool_s = s };
    gradcheck(name, ctx, P, build_pool, &c, 2e-3);
    sd_params_free(P);
}

static void gradients(sd_ctx *ctx)
{
    gradcheck_conv(ctx, "conv2d 3x3", (conv_case){ 2, 2, 5, 6, 3, 3, 3, 1, 0 }, 1);
    gradcheck_conv(ctx, "conv2d stride 2 pad 1", (conv_case){ 2, 2, 7, 6, 3, 3, 3, 2, 1 }, 1);
    gradcheck_conv(ctx, "conv2d pad 2, no bias", (conv_case){ 1, 3, 4, 5, 2, 3, 3, 1, 2 }, 0);
    gradcheck_conv(ctx, "conv2d 1x1 stride 2 pad 1", (conv_case){ 2, 3, 5, 5, 2, 1, 1, 2, 1 }, 1);
    gradcheck_conv(ctx, "conv2d 5x5 pad 1", (conv_case){ 1, 2, 7, 8, 2, 5, 5, 1, 1 }, 1);
    gradcheck_conv(ctx, "conv2d 2x3 kernel stride 3", (conv_case){ 2, 2, 8, 7, 2, 2, 3, 3, 1 }, 1);
    gradcheck_conv(ctx, "conv2d 3x3 8->8 pad 1 (Winograd)", (conv_case){ 1, 8, 5, 4, 8, 3, 3, 1, 1 }, 1);
    gradcheck_pool(ctx, "maxpool2d 2/2", SD_SHAPE(2, 3, 6, 5), 2, 2);
    gradcheck_pool(ctx, "maxpool2d 3/2 overlapping", SD_SHAPE(2, 2, 7, 7), 3, 2);
    gradcheck_pool(ctx, "maxpool2d 2/1", SD_SHAPE(1, 2, 5, 4), 2, 1);
    gradcheck_pool(ctx, "maxpool2d 2/3 gaps", SD_SHAPE(2, 2, 8, 8), 2, 3);
}

/* Ties go to the first maximum in row-major order; NaNs win their window. */
static void ties_and_nans(sd_ctx *ctx)
{
    sd_graph *g = sd_graph_new(ctx);
    sd_params *P = sd_params_new();
    sd_params_add(P, "x", SD_SHAPE(1, 1, 4, 4));
    float *x = sd_params_data(P, 0);
    for (int i = 0; i < 16; i++) x[i] = 1.0f;
    sd_params_zero_grad(P);
    CHECK(sd_backward(g, sd_sum(g, sd_maxpool2d(g, sd_param(g, P, 0), 2, 2))) == 0);
    for (int i = 0; i < 16; i++)
        CHECK_MSG(sd_params_grad(P, 0)[i] == (i == 0 || i == 2 || i == 8 || i == 10 ? 1.0f : 0.0f),
                  "tie grad [%d] = %g", i, sd_params_grad(P, 0)[i]);
    sd_graph_reset(g);
    sd_params_zero_grad(P);
    CHECK(sd_backward(g, sd_sum(g, sd_maxpool2d(g, sd_param(g, P, 0), 3, 1))) == 0);  /* overlapping */
    for (int i = 0; i < 16; i++)   /* each of the 4 windows' first element */
        CHECK_MSG(sd_params_grad(P, 0)[i] == (i == 0 || i == 1 || i == 4 || i == 5 ? 1.0f : 0.0f),
                  "overlapping tie grad [%d] = %g", i, sd_params_grad(P, 0)[i]);
    sd_graph_reset(g);
    x[6] = NAN;
    sd_tensor *y = sd_maxpool2d(g, sd_param(g, P, 0), 2, 2);
    CHECK(y && isnan(y->data[1]) && y->data[0] == 1.0f);
    sd_graph_reset(g);
    y = sd_maxpool2d(g, sd_param(g, P, 0), 3, 1);              /* the general (not 2x2) loop */
    CHECK(y && isnan(y->data[0]) && isnan(y->data[1]) && isnan(y->data[2]) && isnan(y->data[3]));
    /* +inf and -inf in one window (their sum is NaN, but the max is +inf) */
    x[6] = INFINITY;
    x[7] = -INFINITY;
    x[0] = 2.0f;
    sd_graph_reset(g);
    sd_params_zero_grad(P);
    y = sd_maxpool2d(g, sd_param(g, P, 0), 2, 2);
    CHECK(y && y->data[0] == 2.0f && y->data[1] == INFINITY && y->data[2] == 1.0f);
    CHECK(sd_backward(g, sd_sum(g, y)) == 0 && sd_params_grad(P, 0)[6] == 1.0f && sd_params_grad(P, 0)[0] == 1.0f);
    sd_params_free(P);
    sd_graph_free(g);
}

/* After the first steps, a step with conv + pool allocates nothing. */
static void steady_state(sd_ctx *ctx, sd_rng *rng)
{
    sd_params *P = sd_params_new();
    sd_params_add(P, "w", SD_SHAPE(4, 2, 3, 3));
    sd_params_add(P, "b", SD_SHAPE(4));
    fill(sd_params_data(P, 0), 72, rng);
    static float x[4 * 2 * 10 * 10];
    fill(x, sizeof x / sizeof x[0], rng);
    sd_graph *g = sd_graph_new(ctx);
    for (int step = 0; step < 4; step++) {
        sd_graph_reset(g);
        sd_tensor *xt = sd_input(g, x, SD_SHAPE(4, 2, 10, 10));
        sd_tensor *y = sd_conv2d(g, xt, sd_param(g, P, 0), sd_param(g, P, 1), 1, 1);
        y = sd_maxpool2d(g, sd_relu(g, y), 2, 2);
        sd_params_zero_grad(P);
        CHECK(sd_backward(g, sd_mean(g, y)) == 0);
        if (step == 3)   /* what the reset and the step had to malloc */
            CHECK_MSG(sd_graph_grow_count(g) == 0, "step 3 grew the arena by %zu bytes",
                      sd_graph_grow_count(g));
    }
    sd_graph_free(g);
    sd_params_free(P);
}

/* ---- Errors: NULL, and a message naming the op and the shapes */

static void expect_error(sd_tensor *y, const char *op, const char *shape, const char *word)
{
    const char *e = sd_last_error();
    CHECK_MSG(y == NULL, "%s: expected an error containing \"%s\"", op, word);
    CHECK_MSG(strstr(e, op) && strstr(e, shape) && strstr(e, word),
              "message \"%s\" should name %s, %s and \"%s\"", e, op, shape, word);
}

static void errors(sd_ctx *ctx)
{
    sd_graph *g = sd_graph_new(ctx);
    static float buf[4096];
    sd_tensor *x = sd_input(g, buf, SD_SHAPE(2, 3, 8, 8));
    sd_tensor *w = sd_input(g, buf, SD_SHAPE(4, 3, 3, 3));
    expect_error(sd_conv2d(g, x, sd_input(g, buf, SD_SHAPE(4, 2, 3, 3)), NULL, 1, 0), "conv2d", "[2,3,8,8]",
                 "channels");
    expect_error(sd_conv2d(g, x, sd_input(g, buf, SD_SHAPE(4, 3, 11, 3)), NULL, 1, 1), "conv2d", "[4,3,11,3]",
                 "larger than the padded input");
    CHECK(sd_conv2d(g, x, sd_input(g, buf, SD_SHAPE(4, 3, 10, 3)), NULL, 1, 1) != NULL);   /* just fits */
    expect_error(sd_conv2d(g, x, w, NULL, 0, 0), "conv2d", "[2,3,8,8]", "stride");
    expect_error(sd_conv2d(g, x, w, NULL, 1, -1), "conv2d", "[4,3,3,3]", "pad");
    expect_error(sd_conv2d(g, x, w, sd_input(g, buf, SD_SHAPE(3)), 1, 0), "conv2d", "[3]", "bias");
    expect_error(sd_conv2d(g, sd_input(g, buf, SD_SHAPE(3, 8, 8)), w, NULL, 1, 0), "conv2d", "[3,8,8]",
                 "(N,C,H,W)");
    CHECK(sd_conv2d(g, NULL, w, NULL, 1, 0) == NULL);
    /* Huge claims (no data behind them) are refused before anything is touched. */
    expect_error(sd_conv2d(g, sd_input(g, NULL, SD_SHAPE(100000, 3, 50000, 50000)), w, NULL, 1, 1), "conv2d",
                 "[100000,3,50000,50000]", "too large");
    expect_error(sd_conv2d(g, x, w, NULL, 1, INT_MAX / 2), "conv2d", "[2,3,8,8]", "too large");
    expect_error(sd_conv2d(g, sd_input(g, NULL, SD_SHAPE(1, 60000, 8, 8)),
                           sd_input(g, NULL, SD_SHAPE(1, 60000, 200, 200)), NULL, 1, 100), "conv2d",
                 "[1,60000,200,200]", "too large");

    expect_error(sd_maxpool2d(g, x, 2, 0), "maxpool2d", "[2,3,8,8]", "stride");
    expect_error(sd_maxpool2d(g, x, 0, 2), "maxpool2d", "[2,3,8,8]", "window");
    expect_error(sd_maxpool2d(g, x, 9, 1), "maxpool2d", "[2,3,8,8]", "larger than the input");
    expect_error(sd_maxpool2d(g, sd_input(g, buf, SD_SHAPE(2, 64)), 2, 2), "maxpool2d", "[2,64]", "(N,C,H,W)");
    expect_error(sd_maxpool2d(g, sd_input(g, NULL, SD_SHAPE(1, 1, 50000, 50000)), 2, 2), "maxpool2d",
                 "[1,1,50000,50000]", "too large");
    CHECK(sd_maxpool2d(g, NULL, 2, 2) == NULL);

    /* An empty batch is not an error. */
    sd_tensor *y = sd_conv2d(g, sd_input(g, NULL, SD_SHAPE(0, 3, 8, 8)), w, NULL, 1, 0);
    CHECK(y && sd_shape_eq(y->shape, SD_SHAPE(0, 4, 6, 6)));
    y = sd_maxpool2d(g, y, 2, 2);
    CHECK(y && sd_shape_eq(y->shape, SD_SHAPE(0, 4, 3, 3)));
    sd_graph_free(g);
}

int main(void)
{
    sd_rng rng;
    sd_rng_seed(&rng, 2024);
    fill(weights, sizeof weights / sizeof weights[0], &rng);
    for (int threads = 1; threads <= 2; threads++) {
        sd_ctx *ctx = sd_ctx_new(&(sd_ctx_opts){ .threads = threads });
        if (!ctx) { fprintf(stderr, "%s\n", sd_last_error()); return 1; }
        if (threads == 1) {
            lecture_examples(ctx);
            errors(ctx);
            forward_kernels(&rng);
            dw_kernel(&rng);
            winograd_cache(&rng);
        }
        fast_vs_naive(ctx, &rng);
        if (threads == 2) {
            gradients(ctx);
            ties_and_nans(ctx);
            steady_state(ctx, &rng);
        }
        sd_ctx_free(ctx);
    }
    return check_done("test_conv");
}
