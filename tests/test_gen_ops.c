/* conv_transpose2d and batch_norm: golden values from PyTorch
 * (tests/golden/gen_ops.st, made by tests/golden/make_gen_golden.py), the fast
 * transposed convolution against its reference loops (1 and 2 threads,
 * bit-identical reruns), finite-difference gradients, running statistics,
 * shape errors and a steady state that allocates nothing. */
#include "gradcheck.h"

#include <limits.h>
#include <string.h>

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

#define CHECK_CLOSE(a, b, n, tol, what) do { double w_; \
    CHECK_MSG(close_to(a, b, n, tol, &w_), "%s: %s differs from the reference by %.3g (relative)", \
              name, what, w_); \
} while (0)

/* ---- Golden values from PyTorch */

typedef struct golden { sd_st_file *f; } golden;

/* A copy of tensor `case.what` (malloc'd; NULL if absent), its shape in *s. */
static float *gget(const golden *gd, const char *name, const char *what, sd_shape *s)
{
    char key[128];
    snprintf(key, sizeof key, "%s.%s", name, what);
    int i = sd_st_find(gd->f, key);
    if (i < 0) return NULL;
    sd_st_tensor t;
    sd_st_get(gd->f, i, &t);
    int d[SD_MAX_DIMS] = { 0 };
    size_t n = 1;
    for (int k = 0; k < t.ndim; k++) { d[k] = (int)t.shape[k]; n *= (size_t)t.shape[k]; }
    if (s) *s = sd_shape_of(d, t.ndim);
    float *p = malloc(n * sizeof *p);
    memcpy(p, t.data, n * sizeof *p);
    return p;
}

static void golden_conv_transpose(sd_ctx *ctx, const golden *gd, const char *name)
{
    sd_shape xs, ws, ys;
    float *args = gget(gd, name, "args", NULL), *x = gget(gd, name, "x", &xs), *w = gget(gd, name, "w", &ws);
    float *b = gget(gd, name, "b", NULL), *r = gget(gd, name, "r", NULL), *y = gget(gd, name, "y", &ys);
    float *dx = gget(gd, name, "dx", NULL), *dw = gget(gd, name, "dw", NULL), *db = gget(gd, name, "db", NULL);
    CHECK_MSG(args && x && w && r && y && dx && dw, "%s: golden tensors missing", name);
    if (!args || !x || !w || !r || !y || !dx || !dw) return;
    const int stride = (int)args[0], pad = (int)args[1], out_pad = (int)args[2];

    sd_params *P = sd_params_new();
    sd_params_add(P, "x", xs);
    sd_params_add(P, "w", ws);
    if (b) sd_params_add(P, "b", SD_SHAPE(ws.d[1]));
    memcpy(sd_params_data(P, 0), x, sd_shape_numel(xs) * sizeof(float));
    memcpy(sd_params_data(P, 1), w, sd_shape_numel(ws) * sizeof(float));
    if (b) memcpy(sd_params_data(P, 2), b, (size_t)ws.d[1] * sizeof(float));
    sd_params_zero_grad(P);
    sd_graph *g = sd_graph_new(ctx);
    sd_tensor *yt = sd_conv_transpose2d(g, sd_param(g, P, 0), sd_param(g, P, 1), b ? sd_param(g, P, 2) : NULL,
                                        stride, pad, out_pad);
    CHECK_MSG(yt && sd_shape_eq(yt->shape, ys), "%s: %s", name, yt ? "wrong output shape" : sd_last_error());
    if (yt && sd_shape_eq(yt->shape, ys)) {
        CHECK_CLOSE(yt->data, y, yt->n, 1e-5, "y");
        CHECK(sd_backward(g, sd_sum(g, sd_mul(g, yt, sd_input(g, r, ys)))) == 0);
        CHECK_CLOSE(sd_params_grad(P, 0), dx, sd_shape_numel(xs), 1e-5, "dx");
        CHECK_CLOSE(sd_params_grad(P, 1), dw, sd_shape_numel(ws), 1e-5, "dw");
        if (b) CHECK_CLOSE(sd_params_grad(P, 2), db, (size_t)ws.d[1], 1e-5, "db");

        /* the reference loops against PyTorch too */
        sd_conv_dims d = { .n = xs.d[0], .c = ws.d[1], .h = ys.d[2], .w = ys.d[3], .o = xs.d[1], .kh = ws.d[2],
                           .kw = ws.d[3], .stride = stride, .pad = pad, .oh = xs.d[2], .ow = xs.d[3] };
        float *yn = malloc(sd_shape_numel(ys) * sizeof *yn), *gx = calloc(sd_shape_numel(xs), sizeof *gx);
        float *gw = calloc(sd_shape_numel(ws), sizeof *gw), *gb = calloc((size_t)ws.d[1], sizeof *gb);
        sd_conv_transpose2d_naive(&d, x, w, b, yn);
        sd_conv_transpose2d_naive_bwd(&d, x, w, r, gx, gw, gb);
        CHECK_CLOSE(yn, y, sd_shape_numel(ys), 1e-5, "naive y");
        CHECK_CLOSE(gx, dx, sd_shape_numel(xs), 1e-5, "naive dx");
        CHECK_CLOSE(gw, dw, sd_shape_numel(ws), 1e-5, "naive dw");
        if (b) CHECK_CLOSE(gb, db, (size_t)ws.d[1], 1e-5, "naive db");
        free(yn); free(gx); free(gw); free(gb);
    }
    sd_graph_free(g);
    sd_params_free(P);
    free(args); free(x); free(w); free(b); free(r); free(y); free(dx); free(dw); free(db);
}

static void golden_batch_norm(sd_ctx *ctx, const golden *gd, const char *name)
{
    sd_shape xs;
    float *args = gget(gd, name, "args", NULL), *x = gget(gd, name, "x", &xs);
    float *gamma = gget(gd, name, "gamma", NULL), *beta = gget(gd, name, "beta", NULL);
    float *rm = gget(gd, name, "rm", NULL), *rv = gget(gd, name, "rv", NULL), *r = gget(gd, name, "r", NULL);
    float *y = gget(gd, name, "y", NULL), *dx = gget(gd, name, "dx", NULL), *dgamma = gget(gd, name, "dgamma", NULL);
    float *dbeta = gget(gd, name, "dbeta", NULL), *rm1 = gget(gd, name, "rm_after", NULL);
    float *rv1 = gget(gd, name, "rv_after", NULL);
    int ok = args && x && gamma && beta && rm && rv && r && y && dx && dgamma && dbeta && rm1 && rv1;
    CHECK_MSG(ok, "%s: golden tensors missing", name);
    if (ok) {
        const int C = xs.d[1];
        sd_params *P = sd_params_new();
        sd_params_add(P, "x", xs);
        sd_params_add(P, "gamma", SD_SHAPE(C));
        sd_params_add(P, "beta", SD_SHAPE(C));
        memcpy(sd_params_data(P, 0), x, sd_shape_numel(xs) * sizeof(float));
        memcpy(sd_params_data(P, 1), gamma, (size_t)C * sizeof(float));
        memcpy(sd_params_data(P, 2), beta, (size_t)C * sizeof(float));
        sd_params_zero_grad(P);
        sd_graph *g = sd_graph_new(ctx);
        sd_batch_norm_opts o = { .training = args[0] != 0.0f, .momentum = args[1], .eps = args[2],
                                 .running_mean = rm, .running_var = rv };
        sd_tensor *yt = sd_batch_norm(g, sd_param(g, P, 0), sd_param(g, P, 1), sd_param(g, P, 2), &o);
        CHECK_MSG(yt != NULL, "%s: %s", name, sd_last_error());
        if (yt) {
            CHECK_CLOSE(yt->data, y, yt->n, 1e-5, "y");
            CHECK_CLOSE(rm, rm1, (size_t)C, 1e-6, "running mean");
            CHECK_CLOSE(rv, rv1, (size_t)C, 1e-6, "running var");
            CHECK(sd_backward(g, sd_sum(g, sd_mul(g, yt, sd_input(g, r, xs)))) == 0);
            CHECK_CLOSE(sd_params_grad(P, 0), dx, yt->n, 1e-5, "dx");
            CHECK_CLOSE(sd_params_grad(P, 1), dgamma, (size_t)C, 1e-5, "dgamma");
            CHECK_CLOSE(sd_params_grad(P, 2), dbeta, (size_t)C, 1e-5, "dbeta");
        }
        sd_graph_free(g);
        sd_params_free(P);
    }
    free(args); free(x); free(gamma); free(beta); free(rm); free(rv); free(r); free(y); free(dx);
    free(dgamma); free(dbeta); free(rm1); free(rv1);
}

static void goldens(sd_ctx *ctx)
{
    const char *src = getenv("SHENDU_SOURCE");
    char path[1024];
    snprintf(path, sizeof path, "%s/tests/golden/gen_ops.st", src && *src ? src : ".");
    golden gd = { sd_st_open(path) };
    CHECK_MSG(gd.f != NULL, "cannot read the golden values: %s", sd_last_error());
    if (!gd.f) return;
    golden_conv_transpose(ctx, &gd, "ct_s2p1op1");
    golden_conv_transpose(ctx, &gd, "ct_dcgan");
    golden_conv_transpose(ctx, &gd, "ct_s1_rect");
    golden_conv_transpose(ctx, &gd, "ct_s3p2");
    golden_batch_norm(ctx, &gd, "bn4d_train");
    golden_batch_norm(ctx, &gd, "bn2d_train");
    golden_batch_norm(ctx, &gd, "bn4d_eval");
    golden_batch_norm(ctx, &gd, "bn2d_eval");
    sd_st_close(gd.f);
}

/* ---- Fast vs reference */

/* x (n,cin,h,w) ⋆ᵀ w (cin,cout,kh,kw), stride, pad, out_pad */
typedef struct { int n, cin, h, w, cout, kh, kw, stride, pad, out_pad; } ct_case;

static sd_conv_dims ct_dims(ct_case k)
{
    return (sd_conv_dims){ .n = k.n, .c = k.cout, .h = (k.h - 1) * k.stride - 2 * k.pad + k.kh + k.out_pad,
                           .w = (k.w - 1) * k.stride - 2 * k.pad + k.kw + k.out_pad, .o = k.cin, .kh = k.kh,
                           .kw = k.kw, .stride = k.stride, .pad = k.pad, .oh = k.h, .ow = k.w };
}

/* The op against the reference loops: everything trainable (twice, for
 * bit-identical reruns), x a plain input (no dx), w and b frozen (a GAN's D). */
static void compare_ct(sd_ctx *ctx, ct_case k, sd_rng *rng)
{
    char name[160];
    snprintf(name, sizeof name, "conv_transpose x(%d,%d,%d,%d) w(%d,%d,%d,%d) s%d p%d op%d t%d", k.n, k.cin, k.h,
             k.w, k.cin, k.cout, k.kh, k.kw, k.stride, k.pad, k.out_pad, sd_ctx_threads(ctx));
    sd_conv_dims d = ct_dims(k);
    sd_shape xs = SD_SHAPE(k.n, k.cin, k.h, k.w), ws = SD_SHAPE(k.cin, k.cout, k.kh, k.kw);
    sd_params *P = sd_params_new();
    sd_params_add(P, "x", xs);
    sd_params_add(P, "w", ws);
    sd_params_add(P, "b", SD_SHAPE(k.cout));
    size_t nx = sd_shape_numel(xs), nw = sd_shape_numel(ws), ny = (size_t)k.n * k.cout * d.h * d.w;
    float *x = sd_params_data(P, 0), *w = sd_params_data(P, 1), *b = sd_params_data(P, 2);
    fill(x, nx, rng);
    fill(w, nw, rng);
    fill(b, (size_t)k.cout, rng);
    float *r = malloc(ny * sizeof *r), *y0 = malloc(ny * sizeof *y0);
    float *dx = calloc(nx, sizeof *dx), *dw = calloc(nw, sizeof *dw), *db = calloc((size_t)k.cout, sizeof *db);
    float *first = malloc(sd_params_size(P) * sizeof *first);
    fill(r, ny, rng);
    sd_conv_transpose2d_naive(&d, x, w, b, y0);
    sd_conv_transpose2d_naive_bwd(&d, x, w, r, dx, dw, db);

    sd_graph *g = sd_graph_new(ctx);
    for (int rep = 0; rep < 4; rep++) {
        sd_graph_reset(g);
        sd_params_zero_grad(P);
        sd_tensor *xt = rep == 2 ? sd_input(g, x, xs) : sd_param(g, P, 0);
        sd_tensor *wt = rep == 3 ? sd_input(g, w, ws) : sd_param(g, P, 1);
        sd_tensor *bt = rep == 3 ? sd_input(g, b, SD_SHAPE(k.cout)) : sd_param(g, P, 2);
        sd_tensor *y = sd_conv_transpose2d(g, xt, wt, bt, k.stride, k.pad, k.out_pad);
        CHECK_MSG(y && y->n == ny, "%s: %s", name, sd_last_error());
        if (!y || y->n != ny) break;
        CHECK_CLOSE(y->data, y0, ny, 1e-4, "y");
        CHECK(sd_backward(g, sd_sum(g, sd_mul(g, y, sd_input(g, r, y->shape)))) == 0);
        float *gx = sd_params_grad(P, 0), *gw = sd_params_grad(P, 1), *gb = sd_params_grad(P, 2);
        if (rep != 2) CHECK_CLOSE(gx, dx, nx, 1e-4, "dx");
        if (rep != 3) {
            CHECK_CLOSE(gw, dw, nw, 1e-4, "dw");
            CHECK_CLOSE(gb, db, (size_t)k.cout, 1e-4, "db");
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
    free(r); free(y0); free(dx); free(dw); free(db); free(first);
    sd_params_free(P);
}

static void fast_vs_naive(sd_ctx *ctx, sd_rng *rng)
{
    static const ct_case cases[] = {
        { 1, 1, 3, 3, 1, 3, 3, 1, 0, 0 },
        { 2, 3, 4, 5, 2, 4, 4, 2, 1, 0 },     /* the DCGAN block */
        { 2, 2, 3, 4, 3, 3, 3, 2, 1, 1 },     /* output padding */
        { 3, 4, 5, 5, 2, 1, 1, 1, 0, 0 },     /* 1x1 */
        { 2, 2, 4, 3, 2, 2, 3, 3, 0, 2 },     /* stride > kernel rows: gaps, out_pad 2 */
        { 1, 3, 6, 6, 2, 5, 5, 1, 2, 0 },     /* 5x5, pad 2: same size */
        { 2, 2, 3, 3, 2, 3, 3, 1, 2, 0 },     /* pad 2 crops to 1x1 */
        { 16, 16, 7, 7, 8, 4, 4, 2, 1, 0 },   /* big enough for the parallel loops */
        { 1, 32, 7, 7, 16, 4, 4, 2, 1, 0 },   /* one image: the GEMMs themselves threaded */
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) compare_ct(ctx, cases[i], rng);
}

/* ---- Finite differences */

static float weights[8192];   /* fixed random R: loss = Σ y ∘ R */

static sd_tensor *weighted_sum(sd_graph *g, sd_tensor *y)
{
    if (!y || y->n > sizeof weights / sizeof weights[0]) return NULL;
    return sd_sum(g, sd_mul(g, y, sd_input(g, weights, y->shape)));
}

typedef struct { ct_case k; int bias; int training, affine; float rm[32], rv[32]; } gc_case;

static sd_tensor *build_ct(sd_graph *g, sd_params *P, void *user)
{
    const gc_case *c = user;
    return weighted_sum(g, sd_conv_transpose2d(g, sd_param(g, P, 0), sd_param(g, P, 1),
                                               c->bias ? sd_param(g, P, 2) : NULL, c->k.stride, c->k.pad,
                                               c->k.out_pad));
}

static void gradcheck_ct(sd_ctx *ctx, const char *name, ct_case k, int bias)
{
    sd_rng rng;
    sd_rng_seed(&rng, 99);
    sd_params *P = sd_params_new();
    sd_params_add(P, "x", SD_SHAPE(k.n, k.cin, k.h, k.w));
    sd_params_add(P, "w", SD_SHAPE(k.cin, k.cout, k.kh, k.kw));
    if (bias) sd_params_add(P, "b", SD_SHAPE(k.cout));
    for (int i = 0; i < sd_params_count(P); i++) gc_fill(P, i, &rng, 1.0f, 0.0f);
    gc_case c = { .k = k, .bias = bias };
    gradcheck(name, ctx, P, build_ct, &c, 2e-3);
    sd_params_free(P);
}

/* loss = Σ R ∘ batch_norm(x) — then through a tanh, so that the loss is not
 * linear in the normalised values (Σ over a channel of x̂ is always 0). */
static sd_tensor *build_bn(sd_graph *g, sd_params *P, void *user)
{
    gc_case *c = user;
    sd_batch_norm_opts o = { .training = c->training, .running_mean = c->rm, .running_var = c->rv };
    sd_tensor *y = sd_batch_norm(g, sd_param(g, P, 0), c->affine ? sd_param(g, P, 1) : NULL,
                                 c->affine ? sd_param(g, P, 2) : NULL, &o);
    return weighted_sum(g, sd_tanh(g, y));
}

static void gradcheck_bn(sd_ctx *ctx, const char *name, sd_shape xs, int training, int affine)
{
    sd_rng rng;
    sd_rng_seed(&rng, 5);
    sd_params *P = sd_params_new();
    sd_params_add(P, "x", xs);
    if (affine) {
        sd_params_add(P, "gamma", SD_SHAPE(xs.d[1]));
        sd_params_add(P, "beta", SD_SHAPE(xs.d[1]));
    }
    gc_fill(P, 0, &rng, 2.0f, 0.0f);
    if (affine) {
        gc_fill(P, 1, &rng, 1.5f, 0.3f);
        gc_fill(P, 2, &rng, 0.5f, 0.0f);
    }
    gc_case c = { .training = training, .affine = affine };
    for (int i = 0; i < 32; i++) { c.rm[i] = 0.1f * (float)(i % 5) - 0.2f; c.rv[i] = 0.5f + 0.1f * (float)i; }
    gradcheck(name, ctx, P, build_bn, &c, 3e-3);
    sd_params_free(P);
}

static void gradients(sd_ctx *ctx)
{
    gradcheck_ct(ctx, "conv_transpose2d 4x4 s2 p1", (ct_case){ 2, 3, 3, 4, 2, 4, 4, 2, 1, 0 }, 1);
    gradcheck_ct(ctx, "conv_transpose2d 3x3 s2 p1 op1", (ct_case){ 2, 2, 3, 3, 3, 3, 3, 2, 1, 1 }, 1);
    gradcheck_ct(ctx, "conv_transpose2d 2x3 s1, no bias", (ct_case){ 1, 2, 4, 3, 2, 2, 3, 1, 0, 0 }, 0);
    gradcheck_ct(ctx, "conv_transpose2d 2x2 s3 p1 op2", (ct_case){ 2, 2, 3, 3, 2, 2, 2, 3, 1, 2 }, 1);
    gradcheck_bn(ctx, "batch_norm (N,C,H,W) training", SD_SHAPE(3, 4, 3, 3), 1, 1);
    gradcheck_bn(ctx, "batch_norm (N,C) training", SD_SHAPE(6, 5), 1, 1);
    gradcheck_bn(ctx, "batch_norm (N,C) training, no gamma/beta", SD_SHAPE(4, 3), 1, 0);
    gradcheck_bn(ctx, "batch_norm (N,C,H,W) eval", SD_SHAPE(2, 3, 2, 3), 0, 1);
    gradcheck_bn(ctx, "batch_norm 20 channels (two blocks)", SD_SHAPE(3, 20, 2, 1), 1, 1);
}

/* ---- Running statistics: the running averages follow the batch statistics
 * (momentum 1 copies them, unbiased variance), evaluation does not touch them,
 * and normalised outputs have mean 0 and variance 1 per channel. */
static void running_stats(sd_ctx *ctx)
{
    sd_graph *g = sd_graph_new(ctx);
    float x[2 * 2 * 2] = { 1, 2, 10, 20, 3, 6, 30, 60 };   /* (N=2, C=2, 2) */
    float rm[2] = { 0, 0 }, rv[2] = { 1, 1 };
    sd_batch_norm_opts o = { .training = 1, .momentum = 1.0f, .running_mean = rm, .running_var = rv };
    sd_tensor *y = sd_batch_norm(g, sd_input(g, x, SD_SHAPE(2, 2, 2, 1)), NULL, NULL, &o);
    CHECK(y != NULL);
    /* channel 0: 1 2 3 6 -> mean 3, biased var 3.5, unbiased 14/3 */
    CHECK_NEAR(rm[0], 3.0, 1e-6);
    CHECK_NEAR(rv[0], 14.0 / 3.0, 1e-5);
    CHECK_NEAR(rm[1], 30.0, 1e-5);
    CHECK_NEAR(rv[1], 1400.0 / 3.0, 1e-3);
    double m = 0, v = 0;
    for (int i = 0; y && i < 4; i++) { float t = y->data[(i / 2) * 4 + i % 2]; m += t; v += t * t; }
    CHECK_NEAR(m / 4, 0.0, 1e-6);
    CHECK_NEAR(v / 4, 3.5 / (3.5 + 1e-5), 1e-5);
    /* evaluation: (x - rm) / sqrt(rv + eps), running stats unchanged */
    sd_graph_reset(g);
    o.training = 0;
    y = sd_batch_norm(g, sd_input(g, x, SD_SHAPE(2, 2, 2, 1)), NULL, NULL, &o);
    CHECK(y && fabsf(y->data[0] - (1.0f - 3.0f) / sqrtf(14.0f / 3.0f + 1e-5f)) < 1e-6f);
    CHECK_NEAR(rm[0], 3.0, 1e-6);
    CHECK_NEAR(rv[1], 1400.0 / 3.0, 1e-3);
    /* default momentum 0.1 */
    sd_graph_reset(g);
    rm[0] = 0.0f;
    o = (sd_batch_norm_opts){ .training = 1, .running_mean = rm, .running_var = rv };
    CHECK(sd_batch_norm(g, sd_input(g, x, SD_SHAPE(2, 2, 2, 1)), NULL, NULL, &o) != NULL);
    CHECK_NEAR(rm[0], 0.3, 1e-6);
    sd_graph_free(g);
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
    float rm[4] = { 0 }, rv[4] = { 1, 1, 1, 1 };
    sd_tensor *x = sd_input(g, buf, SD_SHAPE(2, 3, 4, 4));
    sd_tensor *w = sd_input(g, buf, SD_SHAPE(3, 2, 4, 4));
    sd_tensor *y = sd_conv_transpose2d(g, x, w, sd_input(g, buf, SD_SHAPE(2)), 2, 1, 0);
    CHECK(y && sd_shape_eq(y->shape, SD_SHAPE(2, 2, 8, 8)));
    expect_error(sd_conv_transpose2d(g, x, sd_input(g, buf, SD_SHAPE(2, 3, 4, 4)), NULL, 2, 1, 0),
                 "conv_transpose2d", "[2,3,4,4]", "input channels");
    expect_error(sd_conv_transpose2d(g, x, w, sd_input(g, buf, SD_SHAPE(3)), 2, 1, 0), "conv_transpose2d", "[3]",
                 "bias");
    expect_error(sd_conv_transpose2d(g, x, w, NULL, 0, 0, 0), "conv_transpose2d", "[2,3,4,4]", "stride");
    expect_error(sd_conv_transpose2d(g, x, w, NULL, 2, 1, 2), "conv_transpose2d", "[3,2,4,4]", "out_pad");
    expect_error(sd_conv_transpose2d(g, x, w, NULL, 1, -1, 0), "conv_transpose2d", "[3,2,4,4]", "pad");
    expect_error(sd_conv_transpose2d(g, sd_input(g, buf, SD_SHAPE(2, 3, 1, 1)), w, NULL, 1, 2, 0),
                 "conv_transpose2d", "[2,3,1,1]", "no output");
    expect_error(sd_conv_transpose2d(g, sd_input(g, buf, SD_SHAPE(3, 4, 4)), w, NULL, 1, 0, 0),
                 "conv_transpose2d", "[3,4,4]", "(N,C,H,W)");
    expect_error(sd_conv_transpose2d(g, sd_input(g, NULL, SD_SHAPE(100000, 3, 50000, 50000)), w, NULL, 2, 1, 0),
                 "conv_transpose2d", "[100000,3,50000,50000]", "too large");
    CHECK(sd_conv_transpose2d(g, NULL, w, NULL, 1, 0, 0) == NULL);

    sd_batch_norm_opts tr = { .training = 1 }, ev = { .training = 0, .running_mean = rm, .running_var = rv };
    expect_error(sd_batch_norm(g, sd_input(g, buf, SD_SHAPE(2, 3, 4)), NULL, NULL, &tr), "batch_norm", "[2,3,4]",
                 "(N,C)");
    expect_error(sd_batch_norm(g, x, sd_input(g, buf, SD_SHAPE(4)), NULL, &tr), "batch_norm", "[4]", "gamma");
    expect_error(sd_batch_norm(g, x, NULL, sd_input(g, buf, SD_SHAPE(3, 1)), &tr), "batch_norm", "[3,1]", "beta");
    expect_error(sd_batch_norm(g, sd_input(g, buf, SD_SHAPE(1, 3)), NULL, NULL, &tr), "batch_norm", "[1,3]",
                 "more than one value");
    CHECK(sd_batch_norm(g, sd_input(g, buf, SD_SHAPE(1, 3)), NULL, NULL, &ev) != NULL);   /* eval: fine */
    ev.running_var = NULL;
    expect_error(sd_batch_norm(g, x, NULL, NULL, &ev), "batch_norm", "[2,3,4,4]", "running");
    tr.momentum = 1.5f;
    expect_error(sd_batch_norm(g, x, NULL, NULL, &tr), "batch_norm", "[2,3,4,4]", "momentum");
    CHECK(sd_batch_norm(g, NULL, NULL, NULL, &tr) == NULL);
    sd_graph_free(g);
}

/* After the first steps, a step with conv_transpose2d + batch_norm allocates nothing. */
static void steady_state(sd_ctx *ctx, sd_rng *rng)
{
    sd_params *P = sd_params_new();
    sd_params_add(P, "w", SD_SHAPE(4, 2, 4, 4));
    sd_params_add(P, "g", SD_SHAPE(2));
    fill(sd_params_data(P, 0), 128, rng);
    static float x[8 * 4 * 5 * 5];
    float rm[2] = { 0 }, rv[2] = { 1, 1 };
    fill(x, sizeof x / sizeof x[0], rng);
    sd_graph *g = sd_graph_new(ctx);
    for (int step = 0; step < 4; step++) {
        sd_graph_reset(g);
        sd_tensor *y = sd_conv_transpose2d(g, sd_input(g, x, SD_SHAPE(8, 4, 5, 5)), sd_param(g, P, 0), NULL, 2, 1, 0);
        sd_batch_norm_opts o = { .training = 1, .running_mean = rm, .running_var = rv };
        y = sd_relu(g, sd_batch_norm(g, y, sd_param(g, P, 1), NULL, &o));
        sd_params_zero_grad(P);
        CHECK(sd_backward(g, sd_mean(g, y)) == 0);
        if (step == 3)
            CHECK_MSG(sd_graph_grow_count(g) == 0, "step 3 grew the arena by %zu bytes", sd_graph_grow_count(g));
    }
    sd_graph_free(g);
    sd_params_free(P);
}

int main(void)
{
    sd_rng rng;
    sd_rng_seed(&rng, 2026);
    fill(weights, sizeof weights / sizeof weights[0], &rng);
    for (int threads = 1; threads <= 2; threads++) {
        sd_ctx *ctx = sd_ctx_new(&(sd_ctx_opts){ .threads = threads });
        if (!ctx) { fprintf(stderr, "%s\n", sd_last_error()); return 1; }
        goldens(ctx);
        fast_vs_naive(ctx, &rng);
        if (threads == 1) {
            errors(ctx);
            running_stats(ctx);
        } else {
            gradients(ctx);
            steady_state(ctx, &rng);
        }
        sd_ctx_free(ctx);
    }
    return check_done("test_gen_ops");
}
