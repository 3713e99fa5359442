/* The U-Net ops of the diffusion model (group_norm, silu, upsample2x,
 * add_channels, concat along channels): golden values from PyTorch
 * (tests/golden/unet_ops.st, made by tests/golden/make_unet_golden.py),
 * finite-difference gradients, results identical on 1 and 2 threads, and
 * shape errors. */
#include "gradcheck.h"

#include <string.h>

enum { GN, SILU, UP2X, ADDCH, CAT };

/* The op of kind k over parameters 0..(inputs-1) of P; args from the golden file. */
static sd_tensor *apply(sd_graph *g, sd_params *P, int k, const float *args)
{
    sd_tensor *a = sd_param(g, P, 0);
    switch (k) {
    case GN: return sd_group_norm(g, a, sd_param(g, P, 1), sd_param(g, P, 2), (int)args[0], args[1]);
    case SILU: return sd_silu(g, a);
    case UP2X: return sd_upsample2x(g, a);
    case ADDCH: return sd_add_channels(g, a, sd_param(g, P, 1));
    default: return sd_concat(g, a, sd_param(g, P, 1), 1);
    }
}

static const char *const input_names[][3] = {
    [GN] = { "x", "gamma", "beta" }, [SILU] = { "x" }, [UP2X] = { "x" }, [ADDCH] = { "x", "e" }, [CAT] = { "a", "b" },
};
static const int n_inputs[] = { [GN] = 3, [SILU] = 1, [UP2X] = 1, [ADDCH] = 2, [CAT] = 2 };

/* Tensor "case.what" of the golden file as a new parameter of P (or, with P
 * NULL, a malloc'd copy); NULL if absent. */
static float *golden(sd_st_file *f, const char *name, const char *what, sd_params *P, sd_shape *shape)
{
    char key[128];
    snprintf(key, sizeof key, "%s.%s", name, what);
    int i = sd_st_find(f, key);
    if (i < 0) return NULL;
    sd_st_tensor t;
    sd_st_get(f, i, &t);
    int d[SD_MAX_DIMS] = { 0 };
    for (int k = 0; k < t.ndim; k++) d[k] = (int)t.shape[k];
    sd_shape s = sd_shape_of(d, t.ndim);
    if (shape) *shape = s;
    float *dst = P ? sd_params_data(P, sd_params_add(P, what, s)) : malloc(sd_shape_numel(s) * sizeof(float));
    memcpy(dst, t.data, sd_shape_numel(s) * sizeof(float));
    return dst;
}

static int close_to(const float *a, const float *b, size_t n, double tol)
{
    double m = 1.0, e = 0.0;
    for (size_t i = 0; i < n; i++) m = fmax(m, fabs(b[i]));
    for (size_t i = 0; i < n; i++) e = fmax(e, fabs((double)a[i] - b[i]));
    return e <= tol * m;
}

static void golden_case(sd_ctx *ctx, sd_st_file *f, const char *name, int k)
{
    sd_params *P = sd_params_new();
    float *args = golden(f, name, "args", NULL, NULL);
    int ok = args != NULL;
    for (int i = 0; i < n_inputs[k]; i++) ok = ok && golden(f, name, input_names[k][i], P, NULL);
    sd_shape ys;
    float *want = golden(f, name, "y", NULL, &ys), *r = golden(f, name, "r", NULL, NULL);
    CHECK_MSG(ok && want && r, "%s: golden tensors missing", name);
    if (ok && want && r) {
        sd_graph *g = sd_graph_new(ctx);
        sd_params_zero_grad(P);
        sd_tensor *y = apply(g, P, k, args);
        CHECK_MSG(y && sd_shape_eq(y->shape, ys), "%s: %s", name, y ? "wrong output shape" : sd_last_error());
        if (y && sd_shape_eq(y->shape, ys)) {
            CHECK_MSG(close_to(y->data, want, y->n, 2e-6), "%s: y differs from PyTorch's", name);
            CHECK(sd_backward(g, sd_sum(g, sd_mul(g, y, sd_input(g, r, ys)))) == 0);
            for (int i = 0; i < n_inputs[k]; i++) {
                char what[16];
                snprintf(what, sizeof what, "d%s", input_names[k][i]);
                float *dwant = golden(f, name, what, NULL, NULL);
                CHECK_MSG(dwant && close_to(sd_params_grad(P, i), dwant, sd_shape_numel(sd_params_shape(P, i)), 1e-5),
                          "%s: %s differs from PyTorch's", name, what);
                free(dwant);
            }
        }
        sd_graph_free(g);
    }
    free(args);
    free(want);
    free(r);
    sd_params_free(P);
}

static void goldens(sd_ctx *ctx)
{
    const char *src = getenv("SHENDU_SOURCE");
    char path[1024];
    snprintf(path, sizeof path, "%s/tests/golden/unet_ops.st", src && *src ? src : ".");
    sd_st_file *f = sd_st_open(path);
    CHECK_MSG(f != NULL, "cannot read the golden values: %s", sd_last_error());
    if (!f) return;
    golden_case(ctx, f, "gn_4d_g2", GN);
    golden_case(ctx, f, "gn_4d_g1", GN);
    golden_case(ctx, f, "gn_4d_gc", GN);
    golden_case(ctx, f, "gn_2d", GN);
    golden_case(ctx, f, "silu", SILU);
    golden_case(ctx, f, "up2x", UP2X);
    golden_case(ctx, f, "addch", ADDCH);
    golden_case(ctx, f, "cat_ch", CAT);
    sd_st_close(f);
}

/* ---- Finite differences: each op inside a small chain whose loss is a
 * weighted sum, so every output element's gradient is different. */
typedef struct gcase { int k; float args[2]; sd_shape y; const float *w; } gcase;

static sd_tensor *chain(sd_graph *g, sd_params *P, void *user)
{
    gcase *c = user;
    sd_tensor *y = apply(g, P, c->k, c->args);
    if (!y) return NULL;
    return sd_sum(g, sd_mul(g, sd_tanh(g, y), sd_input(g, c->w, y->shape)));
}

static void gradients(sd_ctx *ctx)
{
    static float w[4096];
    sd_rng rng;
    sd_rng_seed(&rng, 7);
    for (size_t i = 0; i < sizeof w / sizeof w[0]; i++) w[i] = 2.0f * sd_rng_uniform(&rng) - 1.0f;
    struct { const char *name; int k; float args[2]; sd_shape in[3]; } cases[] = {
        { "group_norm 4d", GN, { 2, 1e-5f }, { SD_SHAPE(3, 4, 3, 3), SD_SHAPE(4), SD_SHAPE(4) } },
        { "group_norm 2d", GN, { 3, 1e-5f }, { SD_SHAPE(4, 6), SD_SHAPE(6), SD_SHAPE(6) } },
        { "group_norm 1 group", GN, { 1, 1e-3f }, { SD_SHAPE(2, 3, 2, 2), SD_SHAPE(3), SD_SHAPE(3) } },
        { "silu", SILU, { 0 }, { SD_SHAPE(2, 3, 4, 4) } },
        { "upsample2x", UP2X, { 0 }, { SD_SHAPE(2, 3, 3, 2) } },
        { "add_channels", ADDCH, { 0 }, { SD_SHAPE(2, 3, 2, 3), SD_SHAPE(2, 3) } },
        { "concat channels", CAT, { 0 }, { SD_SHAPE(2, 2, 3, 3), SD_SHAPE(2, 1, 3, 3) } },
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        sd_params *P = sd_params_new();
        for (int j = 0; j < n_inputs[cases[i].k]; j++) {
            int id = sd_params_add(P, input_names[cases[i].k][j], cases[i].in[j]);
            gc_fill(P, id, &rng, 1.5f, 0.05f);
        }
        gcase c = { cases[i].k, { cases[i].args[0], cases[i].args[1] }, { 0 }, w };
        gradcheck(cases[i].name, ctx, P, chain, &c, 2e-3);
        sd_params_free(P);
    }
}

/* Large enough to run on several threads: outputs and gradients are bit-identical
 * to one thread's. */
static void threads_agree(void)
{
    sd_ctx *c1 = sd_ctx_new(&(sd_ctx_opts){ .threads = 1 }), *c2 = sd_ctx_new(&(sd_ctx_opts){ .threads = 2 });
    sd_rng rng;
    sd_rng_seed(&rng, 11);
    for (int k = GN; k <= CAT; k++) {
        float *out[2] = { 0 }, *grad[2][3] = { { 0 } };
        size_t ny = 0, ng[3] = { 0 };
        for (int t = 0; t < 2; t++) {
            sd_params *P = sd_params_new();
            sd_rng r = rng;
            const sd_shape big = SD_SHAPE(8, 16, 24, 24);
            for (int j = 0; j < n_inputs[k]; j++) {
                sd_shape s = j == 0 || k == CAT ? big : k == ADDCH ? SD_SHAPE(8, 16) : SD_SHAPE(16);
                gc_fill(P, sd_params_add(P, input_names[k][j], s), &r, 2.0f, 0.0f);
            }
            sd_graph *g = sd_graph_new(t ? c2 : c1);
            sd_params_zero_grad(P);
            const float args[2] = { 4, 1e-5f };
            sd_tensor *y = apply(g, P, k, args);
            CHECK(y && sd_backward(g, sd_sum(g, sd_mul(g, y, y))) == 0);
            if (y) {
                ny = y->n;
                out[t] = malloc(ny * sizeof(float));
                memcpy(out[t], y->data, ny * sizeof(float));
                for (int j = 0; j < n_inputs[k]; j++) {
                    ng[j] = sd_shape_numel(sd_params_shape(P, j));
                    grad[t][j] = malloc(ng[j] * sizeof(float));
                    memcpy(grad[t][j], sd_params_grad(P, j), ng[j] * sizeof(float));
                }
            }
            sd_graph_free(g);
            sd_params_free(P);
        }
        if (out[0] && out[1]) {
            CHECK_MSG(!memcmp(out[0], out[1], ny * sizeof(float)), "op %d: 2 threads' output differs", k);
            for (int j = 0; j < n_inputs[k]; j++)
                CHECK_MSG(!memcmp(grad[0][j], grad[1][j], ng[j] * sizeof(float)),
                          "op %d: 2 threads' gradient of input %d differs", k, j);
        }
        for (int t = 0; t < 2; t++) {
            free(out[t]);
            for (int j = 0; j < 3; j++) free(grad[t][j]);
        }
    }
    sd_ctx_free(c1);
    sd_ctx_free(c2);
}

static void errors(sd_ctx *ctx)
{
    sd_graph *g = sd_graph_new(ctx);
    static float z[4 * 6 * 2 * 2];
    sd_tensor *x = sd_input(g, z, SD_SHAPE(4, 6, 2, 2));
    CHECK(sd_group_norm(g, x, NULL, NULL, 4, 0) == NULL);          /* 4 does not divide 6 */
    CHECK(strstr(sd_last_error(), "divide") != NULL);
    CHECK(sd_group_norm(g, x, sd_input(g, z, SD_SHAPE(5)), NULL, 2, 0) == NULL);
    CHECK(sd_group_norm(g, x, NULL, NULL, 2, -1.0f) == NULL);
    CHECK(sd_group_norm(g, sd_input(g, z, SD_SHAPE(4, 6, 4)), NULL, NULL, 2, 0) == NULL);
    CHECK(sd_upsample2x(g, sd_input(g, z, SD_SHAPE(4, 24))) == NULL);
    CHECK(sd_add_channels(g, x, sd_input(g, z, SD_SHAPE(4, 5))) == NULL);
    CHECK(sd_add_channels(g, x, sd_input(g, z, SD_SHAPE(3, 6))) == NULL);
    CHECK(sd_concat(g, x, sd_input(g, z, SD_SHAPE(4, 2, 2, 3)), 1) == NULL);   /* other width */
    CHECK(sd_concat(g, x, sd_input(g, z, SD_SHAPE(3, 2, 2, 2)), 1) == NULL);   /* other batch */
    CHECK(sd_concat(g, x, x, 0) == NULL);                                       /* rows: 2-d only */
    sd_tensor *y = sd_concat(g, x, sd_input(g, z, SD_SHAPE(4, 1, 2, 2)), 1);
    CHECK(y && y->shape.ndim == 4 && y->shape.d[1] == 7 && y->shape.d[3] == 2);
    y = sd_upsample2x(g, x);
    CHECK(y && y->shape.d[2] == 4 && y->shape.d[3] == 4);
    sd_graph_free(g);
}

int main(void)
{
    for (int threads = 1; threads <= 2; threads++) {
        sd_ctx *ctx = sd_ctx_new(&(sd_ctx_opts){ .threads = threads });
        if (!ctx) { fprintf(stderr, "%s\n", sd_last_error()); return 1; }
        goldens(ctx);
        if (threads == 1) {
            gradients(ctx);
            errors(ctx);
        }
        sd_ctx_free(ctx);
    }
    threads_agree();
    return check_done("test_unet_ops");
}
