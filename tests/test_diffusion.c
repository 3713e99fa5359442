/* Diffusion (shendu/diffusion.h): the noise schedules against values computed
 * independently (bench/diffusion.py's formula, in double), the samplers driven by
 * an oracle that knows x0 (both must land on it), the U-Net's forward and
 * backward against PyTorch's module of the same shape (tests/golden/unet_ops.st),
 * its finite-difference gradients, a steady training step that allocates
 * nothing, and bad settings refused. */
#include "gradcheck.h"

#include <string.h>

static void schedules(void)
{
    sd_ddpm *s = sd_ddpm_new(SD_DDPM_LINEAR, 1000);
    CHECK(s != NULL);
    if (s) {
        CHECK_NEAR(s->beta[1], 1e-4, 1e-12);
        CHECK_NEAR(s->beta[1000], 0.02, 1e-12);
        CHECK_NEAR(s->alpha_bar[1], 0.9999, 1e-12);
        CHECK_NEAR(s->alpha_bar[500] / 0.07858724288177821, 1.0, 1e-9);    /* bench/diffusion.py */
        CHECK_NEAR(s->alpha_bar[1000] / 4.0358297653756754e-05, 1.0, 1e-9);
    }
    sd_ddpm_free(s);
    s = sd_ddpm_new(SD_DDPM_COSINE, 1000);
    CHECK(s != NULL);
    if (s) {
        CHECK_NEAR(s->alpha_bar[500] / 0.4938435904406382, 1.0, 1e-9);   /* Nichol & Dhariwal's f(t)/f(0) */
        CHECK_NEAR(s->alpha_bar[1000] / 2.4287669070348567e-09, 1.0, 1e-6);
        int monotone = 1;
        for (int t = 1; t <= 1000; t++) monotone &= s->alpha_bar[t] < s->alpha_bar[t - 1] && s->beta[t] <= 0.999;
        CHECK(monotone);
    }
    sd_ddpm_free(s);
    CHECK(sd_ddpm_new(SD_DDPM_LINEAR, 0) == NULL && strstr(sd_last_error(), "[1, 10000]"));
    CHECK(sd_ddpm_new(SD_DDPM_COSINE, SD_DDPM_MAX_T + 1) == NULL);
    sd_ddpm_kind k;
    CHECK(sd_ddpm_kind_parse("cosine", &k) == 0 && k == SD_DDPM_COSINE);
    CHECK(sd_ddpm_kind_parse("quadratic", &k) != 0 && strstr(sd_last_error(), "linear or cosine"));
}

/* ε that a perfect network would predict for x at step t, knowing x0. */
static void oracle(const sd_ddpm *s, const float *x, const float *x0, size_t n, int t, float *eps)
{
    const double ab = s->alpha_bar[t];
    for (size_t k = 0; k < n; k++) eps[k] = (float)((x[k] - sqrt(ab) * x0[k]) / sqrt(1.0 - ab));
}

static void samplers(void)
{
    enum { N = 64 };
    float x0[N], x[N], eps[N];
    sd_rng rng;
    sd_rng_seed(&rng, 3);
    for (int k = 0; k < N; k++) x0[k] = 1.8f * sd_rng_uniform(&rng) - 0.9f;
    for (int kind = 0; kind < 2; kind++) {
        sd_ddpm *s = sd_ddpm_new((sd_ddpm_kind)kind, 1000);
        if (!s) { CHECK(0); continue; }
        /* forward noising: x_t's statistics at t = T are nearly N(0,1) */
        int32_t t[N];
        for (int k = 0; k < N; k++) { t[k] = 1000; eps[k] = sd_rng_normal(&rng); }
        sd_ddpm_noise(s, x0, eps, t, N, 1, x);
        CHECK_NEAR(x[5], sqrt(s->alpha_bar[1000]) * x0[5] + sqrt(1 - s->alpha_bar[1000]) * eps[5], 1e-6);
        /* DDIM, 50 steps from pure noise, with the oracle: lands on x0 */
        for (int k = 0; k < N; k++) x[k] = sd_rng_normal(&rng);
        for (int i = 50; i >= 1; i--) {
            const int tt = i * 20, prev = (i - 1) * 20;
            oracle(s, x, x0, N, tt, eps);
            sd_ddim_step(s, x, eps, N, tt, prev);
        }
        double worst = 0;
        for (int k = 0; k < N; k++) worst = fmax(worst, fabs(x[k] - x0[k]));
        CHECK_MSG(worst < 1e-4, "DDIM (%s) ends %.3g from x0", sd_ddpm_kind_name(s->kind), worst);
        /* DDPM ancestral, all 1000 steps: the last step (t = 1) adds no noise */
        for (int k = 0; k < N; k++) x[k] = sd_rng_normal(&rng);
        for (int tt = 1000; tt >= 1; tt--) {
            oracle(s, x, x0, N, tt, eps);
            sd_ddpm_step(s, x, eps, N, tt, &rng);
        }
        worst = 0;
        for (int k = 0; k < N; k++) worst = fmax(worst, fabs(x[k] - x0[k]));
        CHECK_MSG(worst < 1e-3, "DDPM (%s) ends %.3g from x0", sd_ddpm_kind_name(s->kind), worst);
        sd_ddpm_free(s);
    }
    float e[2 * 8];
    sd_timestep_embedding((const int32_t[]){ 0, 7 }, 2, 8, e);
    CHECK_NEAR(e[0], 0.0, 1e-7);         /* sin(0) */
    CHECK_NEAR(e[4], 1.0, 1e-7);         /* cos(0) */
    CHECK_NEAR(e[8], sin(7.0), 1e-6);    /* ω_0 = 1 */
    CHECK_NEAR(e[8 + 3], sin(7.0 * 1e-4), 1e-6);   /* ω_3 = 10000^-1 */
}

/* ---- The U-Net against PyTorch's module (bench/diffusion.py) */
static float *gget(sd_st_file *f, const char *key, size_t n)
{
    int i = sd_st_find(f, key);
    if (i < 0) return NULL;
    sd_st_tensor t;
    sd_st_get(f, i, &t);
    size_t m = 1;
    for (int k = 0; k < t.ndim; k++) m *= (size_t)t.shape[k];
    if (n && m != n) return NULL;
    return (float *)t.data;
}

static void unet_golden(sd_ctx *ctx)
{
    const char *src = getenv("SHENDU_SOURCE");
    char path[1024];
    snprintf(path, sizeof path, "%s/tests/golden/unet_ops.st", src && *src ? src : ".");
    sd_st_file *f = sd_st_open(path);
    CHECK_MSG(f != NULL, "cannot read the golden values: %s", sd_last_error());
    if (!f) return;
    const float *args = gget(f, "unet.args", 5), *tf = gget(f, "unet.t", 2);
    CHECK(args && tf);
    if (!args || !tf) { sd_st_close(f); return; }
    sd_rng rng;
    sd_rng_seed(&rng, 1);
    const sd_shape img = SD_SHAPE((int)args[2], (int)args[3], (int)args[4]);
    sd_unet *u = sd_unet_new(img, &(sd_unet_opts){ .channels = (int)args[0], .groups = (int)args[1], .rng = &rng });
    CHECK_MSG(u != NULL, "%s", sd_last_error());
    if (!u) { sd_st_close(f); return; }
    sd_params *P = sd_unet_params(u);
    int missing = 0;
    for (int id = 0; id < sd_params_count(P); id++) {
        char key[160];
        snprintf(key, sizeof key, "unet.p.%s", sd_params_name(P, id));
        const size_t n = sd_shape_numel(sd_params_shape(P, id));
        const float *v = gget(f, key, n);
        if (!v) { fprintf(stderr, "no golden tensor %s of %zu values\n", key, n); missing++; continue; }
        memcpy(sd_params_data(P, id), v, n * sizeof(float));
    }
    CHECK_MSG(missing == 0, "%d of shendu's parameters have no PyTorch counterpart", missing);
    const size_t nx = 2 * sd_shape_numel(img);
    const float *x = gget(f, "unet.x", nx), *r = gget(f, "unet.r", nx), *y = gget(f, "unet.y", nx);
    const float *dx = gget(f, "unet.dx", nx);
    CHECK(x && r && y && dx);
    if (x && r && y && dx && !missing) {
        const int32_t t[2] = { (int32_t)tf[0], (int32_t)tf[1] };
        sd_params_zero_grad(P);
        sd_graph *g = sd_graph_new(ctx);
        sd_params *X = sd_params_new();
        sd_params_add(X, "x", SD_SHAPE(2, img.d[0], img.d[1], img.d[2]));
        memcpy(sd_params_data(X, 0), x, nx * sizeof(float));
        sd_params_zero_grad(X);
        sd_tensor *out = sd_unet_forward(g, u, sd_param(g, X, 0), t);
        CHECK_MSG(out && out->n == nx, "%s", out ? "wrong output size" : sd_last_error());
        if (out && out->n == nx) {
            double e = 0, m = 1;
            for (size_t k = 0; k < nx; k++) { e = fmax(e, fabs(out->data[k] - y[k])); m = fmax(m, fabs(y[k])); }
            CHECK_MSG(e <= 1e-4 * m, "U-Net output differs from PyTorch's by %.3g", e);
            CHECK(sd_backward(g, sd_sum(g, sd_mul(g, out, sd_input(g, r, out->shape)))) == 0);
            e = 0, m = 1;
            for (size_t k = 0; k < nx; k++) {
                e = fmax(e, fabs(sd_params_grad(X, 0)[k] - dx[k]));
                m = fmax(m, fabs(dx[k]));
            }
            CHECK_MSG(e <= 1e-4 * m, "U-Net dx differs from PyTorch's by %.3g", e);
            int bad = 0;
            for (int id = 0; id < sd_params_count(P); id++) {
                char key[160];
                snprintf(key, sizeof key, "unet.d.%s", sd_params_name(P, id));
                const size_t n = sd_shape_numel(sd_params_shape(P, id));
                const float *d = gget(f, key, n);
                double pe = 0, pm = 1;
                for (size_t k = 0; d && k < n; k++) {
                    pe = fmax(pe, fabs(sd_params_grad(P, id)[k] - d[k]));
                    pm = fmax(pm, fabs(d[k]));
                }
                if (!d || pe > 1e-4 * pm) {
                    fprintf(stderr, "gradient of %s differs from PyTorch's by %.3g\n", sd_params_name(P, id), pe);
                    bad++;
                }
            }
            CHECK_MSG(bad == 0, "%d parameter gradients differ from PyTorch's", bad);
        }
        sd_params_free(X);
        sd_graph_free(g);
    }
    sd_unet_free(u);
    sd_st_close(f);
}

/* ---- Finite differences through the whole U-Net (tiny: 4 channels, 8x8, so the
 * attention block at the lowest resolution sees 2x2 positions) */
typedef struct ucase { sd_unet *u; const float *x; const float *w; } ucase;

static sd_tensor *unet_loss(sd_graph *g, sd_params *P, void *user)
{
    ucase *c = user;
    const int32_t t[2] = { 5, 600 };
    sd_tensor *y = sd_unet_forward(g, c->u, sd_input(g, c->x, SD_SHAPE(2, 1, 8, 8)), t);
    return y ? sd_sum(g, sd_mul(g, sd_tanh(g, y), sd_input(g, c->w, y->shape))) : NULL;
}

static void unet_gradients(sd_ctx *ctx)
{
    sd_rng rng;
    sd_rng_seed(&rng, 5);
    sd_unet *u = sd_unet_new(SD_SHAPE(1, 8, 8), &(sd_unet_opts){ .channels = 4, .groups = 2, .rng = &rng });
    CHECK(u != NULL);
    if (!u) return;
    sd_params *P = sd_unet_params(u);
    for (int id = 0; id < sd_params_count(P); id++) gc_fill(P, id, &rng, 0.5f, 0.0f);   /* no zero layers */
    float x[128], w[128];
    for (int k = 0; k < 128; k++) { x[k] = sd_rng_normal(&rng); w[k] = 2 * sd_rng_uniform(&rng) - 1; }
    ucase c = { u, x, w };
    gradcheck("unet", ctx, P, unet_loss, &c, 3e-3);
    sd_unet_free(u);
}

/* A training step (noise, predict, MSE, Adam) reaches a steady state that
 * allocates nothing, and the loss goes down on a fixed batch. */
static void training_step(sd_ctx *ctx)
{
    sd_rng rng;
    sd_rng_seed(&rng, 9);
    sd_unet *u = sd_unet_new(SD_SHAPE(1, 8, 8), &(sd_unet_opts){ .channels = 8, .groups = 4, .rng = &rng });
    sd_ddpm *s = sd_ddpm_new(SD_DDPM_LINEAR, 100);
    CHECK(u && s);
    if (!u || !s) { sd_unet_free(u); sd_ddpm_free(s); return; }
    sd_optim *opt = sd_optim_new(sd_unet_params(u), &(sd_optim_opts){ .kind = SD_OPTIM_ADAM, .lr = 2e-3f });
    enum { B = 8, D = 64 };
    static float x0[B * D], eps[B * D], xt[B * D];
    int32_t t[B];
    for (int k = 0; k < B * D; k++) x0[k] = (k / 8 + k % 8) % 3 == 0 ? 0.8f : -0.8f;   /* stripes */
    sd_graph *g = sd_graph_new(ctx);
    double first = 0, last = 0;
    for (int step = 0; step < 60; step++) {
        sd_rng fixed;
        sd_rng_seed(&fixed, 77);   /* the same noise and steps every time: a fixed batch */
        for (int i = 0; i < B; i++) t[i] = 1 + (int32_t)sd_rng_below(&fixed, 100);
        for (int k = 0; k < B * D; k++) eps[k] = sd_rng_normal(&fixed);
        sd_ddpm_noise(s, x0, eps, t, B, D, xt);
        sd_graph_reset(g);
        sd_tensor *pred = sd_unet_forward(g, u, sd_input(g, xt, SD_SHAPE(B, 1, 8, 8)), t);
        sd_tensor *loss = sd_mse(g, pred, sd_input(g, eps, SD_SHAPE(B, 1, 8, 8)));
        if (!loss) { CHECK_MSG(0, "%s", sd_last_error()); break; }
        sd_params_zero_grad(sd_unet_params(u));
        CHECK(sd_backward(g, loss) == 0);
        sd_optim_step(opt);
        if (step == 0) first = loss->data[0];
        last = loss->data[0];
        if (step >= 2) CHECK_MSG(sd_graph_grow_count(g) == 0, "step %d grew the arena", step);
    }
    CHECK_MSG(last < 0.5 * first, "the loss went from %.4f to %.4f", first, last);
    sd_graph_free(g);
    sd_optim_free(opt);
    sd_ddpm_free(s);
    sd_unet_free(u);
}

/* The U-Net without its attention block (what model files made before it hold):
 * six tensors fewer (mid_attn's), none named mid_attn, and it runs. */
static void without_attention(sd_ctx *ctx)
{
    sd_rng rng;
    sd_rng_seed(&rng, 3);
    sd_unet *a = sd_unet_new(SD_SHAPE(1, 8, 8), &(sd_unet_opts){ .channels = 8, .groups = 4, .rng = &rng });
    sd_unet *b = sd_unet_new(SD_SHAPE(1, 8, 8),
                             &(sd_unet_opts){ .channels = 8, .groups = 4, .rng = &rng, .no_attention = 1 });
    CHECK(a && b);
    if (!a || !b) { sd_unet_free(a); sd_unet_free(b); return; }
    CHECK(sd_unet_has_attention(a) && !sd_unet_has_attention(b));
    sd_params *Pa = sd_unet_params(a), *Pb = sd_unet_params(b);
    CHECK(sd_params_count(Pa) == sd_params_count(Pb) + 6);
    for (int i = 0; i < sd_params_count(Pb); i++) CHECK(strncmp(sd_params_name(Pb, i), "mid_attn", 8) != 0);
    /* a fresh block is the identity (its projection starts at zero): the same
     * other weights give the same output with and without it */
    for (int i = 0; i < sd_params_count(Pb); i++) {
        const int j = sd_params_find(Pa, sd_params_name(Pb, i));
        CHECK(j >= 0);
        if (j >= 0) memcpy(sd_params_data(Pb, i), sd_params_data(Pa, j), sd_shape_numel(sd_params_shape(Pb, i)) * sizeof(float));
    }
    const int oa = sd_params_find(Pa, "conv_out.weight"), ob = sd_params_find(Pb, "conv_out.weight");
    CHECK(oa >= 0 && ob >= 0);
    for (size_t k = 0; oa >= 0 && ob >= 0 && k < sd_shape_numel(sd_params_shape(Pb, ob)); k++)   /* it starts at zero */
        sd_params_data(Pa, oa)[k] = sd_params_data(Pb, ob)[k] = 0.01f * (float)(k % 7 + 1);
    static float x[2 * 64];
    for (int k = 0; k < 128; k++) x[k] = sd_rng_normal(&rng);
    sd_graph *g = sd_graph_new(ctx);
    sd_tensor *ya = sd_unet_forward(g, a, sd_input(g, x, SD_SHAPE(2, 1, 8, 8)), (const int32_t[]){ 7, 300 });
    sd_tensor *yb = sd_unet_forward(g, b, sd_input(g, x, SD_SHAPE(2, 1, 8, 8)), (const int32_t[]){ 7, 300 });
    CHECK(ya && yb);
    if (ya && yb) {
        float worst = 0.0f;
        for (int k = 0; k < 128; k++) worst = fmaxf(worst, fabsf(ya->data[k] - yb->data[k]));
        CHECK_MSG(worst < 1e-6f, "a fresh attention block changed the output by %g", worst);
    }
    sd_graph_free(g);
    sd_unet_free(a);
    sd_unet_free(b);
}

static void bad_settings(sd_ctx *ctx)
{
    sd_rng rng;
    sd_rng_seed(&rng, 1);
    CHECK(sd_unet_new(SD_SHAPE(1, 28, 30), &(sd_unet_opts){ .rng = &rng }) == NULL);   /* 30 % 4 */
    CHECK(strstr(sd_last_error(), "multiples of 4") != NULL);
    CHECK(sd_unet_new(SD_SHAPE(1, 28, 28), &(sd_unet_opts){ .channels = 12, .groups = 8, .rng = &rng }) == NULL);
    CHECK(sd_unet_new(SD_SHAPE(1, 28, 28), NULL) == NULL);
    sd_unet *u = sd_unet_new(SD_SHAPE(1, 8, 8), &(sd_unet_opts){ .channels = 8, .groups = 4, .rng = &rng });
    CHECK(u != NULL);
    sd_graph *g = sd_graph_new(ctx);
    sd_tensor *x = sd_zeros(g, SD_SHAPE(2, 1, 8, 12));
    CHECK(sd_unet_forward(g, u, x, (const int32_t[]){ 1, 2 }) == NULL);
    CHECK(strstr(sd_last_error(), "expected (N,1,8,8)") != NULL);
    sd_graph_free(g);
    sd_unet_free(u);
}

int main(void)
{
    sd_ctx *ctx = sd_ctx_new(&(sd_ctx_opts){ .threads = 1 });
    if (!ctx) { fprintf(stderr, "%s\n", sd_last_error()); return 1; }
    schedules();
    samplers();
    unet_golden(ctx);
    unet_gradients(ctx);
    training_step(ctx);
    without_attention(ctx);
    bad_settings(ctx);
    sd_ctx_free(ctx);
    return check_done("test_diffusion");
}
