/* GANs: the inception score on hand-made probability tables, both generator
 * losses and their gradients' signs, the frozen-D G step, a tiny GAN learning
 * a 2-D Gaussian (bit-identical reruns, no allocation in the steady state,
 * NaN stopping a step), the one-batch D step against the composed one, a tiny
 * convolutional GAN with batchnorm, and the new layer kinds (convt, batchnorm,
 * reshape) in models and model files; the generator's moving average. */
#include "check.h"
#include "apps/apps.h"

#include <string.h>

/* ---- Inception score: exp(mean_x KL(p(y|x) || p(y))) */
static void inception_score(void)
{
    float p[40 * 10];
    for (int i = 0; i < 40 * 10; i++) p[i] = 0.1f;             /* uniform p(y|x): nothing recognisable */
    CHECK_NEAR(sd_inception_score(p, 40, 10), 1.0, 1e-9);
    memset(p, 0, sizeof p);
    for (int i = 0; i < 40; i++) p[i * 10 + i % 10] = 1.0f;     /* one-hot, 10 classes equally often */
    CHECK_NEAR(sd_inception_score(p, 40, 10), 10.0, 1e-9);
    memset(p, 0, sizeof p);
    for (int i = 0; i < 40; i++) p[i * 10 + i % 4] = 1.0f;      /* one-hot over 4 of the 10 classes */
    CHECK_NEAR(sd_inception_score(p, 40, 10), 4.0, 1e-9);
    memset(p, 0, sizeof p);
    for (int i = 0; i < 40; i++) p[i * 10 + 3] = 1.0f;          /* every sample the same class */
    CHECK_NEAR(sd_inception_score(p, 40, 10), 1.0, 1e-9);
    /* (1, 0) and (1/2, 1/2): p(y) = (3/4, 1/4), KLs log(4/3) and (log(2/3) + log 2) / 2 */
    const float q[4] = { 1.0f, 0.0f, 0.5f, 0.5f };
    CHECK_NEAR(sd_inception_score(q, 2, 2), exp((log(4.0 / 3.0) + 0.5 * log(2.0 / 3.0) + 0.5 * log(2.0)) / 2), 1e-7);
}

/* ---- Losses on D's logits, and the direction they push */
static double sig(double x) { return 1.0 / (1.0 + exp(-x)); }

static void losses(sd_ctx *ctx)
{
    const float l[4] = { -5.0f, -1.0f, 0.0f, 3.0f };
    sd_params *P = sd_params_new();
    sd_params_add(P, "fake", SD_SHAPE(4, 1));
    sd_params_add(P, "real", SD_SHAPE(4, 1));
    memcpy(sd_params_data(P, 0), l, sizeof l);
    memcpy(sd_params_data(P, 1), l, sizeof l);
    sd_graph *g = sd_graph_new(ctx);
    for (int kind = 0; kind < 2; kind++) {
        sd_graph_reset(g);
        sd_params_zero_grad(P);
        sd_tensor *loss = sd_gan_g_loss(g, sd_param(g, P, 0), kind ? SD_GAN_MINIMAX : SD_GAN_NS);
        CHECK(loss && sd_backward(g, loss) == 0);
        double want = 0.0;
        for (int i = 0; i < 4; i++) want += kind ? log(1.0 - sig(l[i])) : -log(sig(l[i]));
        CHECK_NEAR(loss->data[0], want / 4, 1e-6);
        const float *d = sd_params_grad(P, 0);
        for (int i = 0; i < 4; i++) {
            /* both push D(G(z)) up: dL/dlogit < 0; ns by (σ - 1)/n, minimax by -σ/n */
            CHECK_MSG(d[i] < 0.0f, "%s: dL/dlogit[%d] = %g should be negative", kind ? "minimax" : "ns", i, d[i]);
            CHECK_NEAR(d[i], kind ? -sig(l[i]) / 4 : (sig(l[i]) - 1.0) / 4, 1e-7);
        }
        if (kind) {   /* where D rejects a sample (logit -5), minimax's gradient has all but vanished */
            const float mm = d[0];
            sd_graph_reset(g);
            sd_params_zero_grad(P);
            CHECK(sd_backward(g, sd_gan_g_loss(g, sd_param(g, P, 0), SD_GAN_NS)) == 0);
            float ns = sd_params_grad(P, 0)[0];
            CHECK_MSG(fabsf(ns) > 100.0f * fabsf(mm), "saturation: ns %g vs minimax %g", ns, mm);
        }
    }
    /* L_D = bce(real, 1) + bce(fake, 0): real logits pushed up, fake ones down */
    sd_graph_reset(g);
    sd_params_zero_grad(P);
    sd_tensor *ld = sd_gan_d_loss(g, sd_param(g, P, 1), sd_param(g, P, 0));
    CHECK(ld && sd_backward(g, ld) == 0);
    double want = 0.0;
    for (int i = 0; i < 4; i++) want += -log(sig(l[i])) / 4 - log(1.0 - sig(l[i])) / 4;
    CHECK_NEAR(ld->data[0], want, 1e-5);
    for (int i = 0; i < 4; i++) {
        CHECK_NEAR(sd_params_grad(P, 1)[i], (sig(l[i]) - 1.0) / 4, 1e-7);
        CHECK_NEAR(sd_params_grad(P, 0)[i], sig(l[i]) / 4, 1e-7);
    }
    /* one-sided label smoothing 0.1: the real target is 0.9, the fake one stays 0 */
    sd_graph_reset(g);
    sd_params_zero_grad(P);
    ld = sd_gan_d_loss_smooth(g, sd_param(g, P, 1), sd_param(g, P, 0), 0.1f);
    CHECK(ld && sd_backward(g, ld) == 0);
    want = 0.0;
    for (int i = 0; i < 4; i++)
        want += -(0.9 * log(sig(l[i])) + 0.1 * log(1.0 - sig(l[i]))) / 4 - log(1.0 - sig(l[i])) / 4;
    CHECK_NEAR(ld->data[0], want, 1e-5);
    for (int i = 0; i < 4; i++) {
        CHECK_NEAR(sd_params_grad(P, 1)[i], (sig(l[i]) - 0.9) / 4, 1e-7);
        CHECK_NEAR(sd_params_grad(P, 0)[i], sig(l[i]) / 4, 1e-7);
    }
    sd_graph_free(g);
    sd_params_free(P);
}

/* ---- A tiny GAN: noise (4) -> a point in 2-D; the data is N((2.5, -1.5), diag(0.5², 0.25²)) */

#define TOY_G "linear(32) relu linear(32) relu linear(2)"
#define TOY_D "linear(32) leaky_relu(0.2) linear(32) leaky_relu(0.2) linear(1)"
static const float toy_mean[2] = { 2.5f, -1.5f }, toy_sd[2] = { 0.5f, 0.25f };

typedef struct toy { sd_model *G, *D; sd_gan *gan; sd_rng rng; } toy;

static int toy_new(toy *t, sd_ctx *ctx, uint64_t seed, sd_gan_loss loss, float lr)
{
    sd_rng_seed(&t->rng, seed);
    t->G = sd_model_new(TOY_G, SD_SHAPE(4), SD_INIT_DEFAULT, &t->rng);
    t->D = sd_model_new(TOY_D, SD_SHAPE(2), SD_INIT_DEFAULT, &t->rng);
    t->gan = t->G && t->D ? sd_gan_new(ctx, t->G, t->D, &(sd_gan_opts){ .batch = 64, .loss = loss, .lr = lr }) : NULL;
    CHECK_MSG(t->gan != NULL, "toy GAN: %s", sd_last_error());
    return t->gan ? 0 : -1;
}

static void toy_free(toy *t)
{
    sd_gan_free(t->gan);
    sd_model_free(t->G);
    sd_model_free(t->D);
}

static void toy_batch(sd_rng *rng, float *x)
{
    for (int i = 0; i < 64; i++)
        for (int k = 0; k < 2; k++) x[2 * i + k] = toy_mean[k] + toy_sd[k] * sd_rng_normal(rng);
}

/* Mean and standard deviation of 1000 samples of G. */
static void toy_stats(sd_ctx *ctx, sd_model *G, float mean[2], float sd[2])
{
    static float z[1000 * 4];
    sd_rng r;
    sd_rng_seed(&r, 77);
    for (int i = 0; i < 4000; i++) z[i] = sd_rng_normal(&r);
    sd_graph *g = sd_graph_new(ctx);
    sd_graph_set_grad(g, 0);
    sd_tensor *y = sd_model_forward(g, G, sd_input(g, z, SD_SHAPE(1000, 4)));
    for (int k = 0; k < 2; k++) {
        double s = 0, s2 = 0;
        for (int i = 0; y && i < 1000; i++) { s += y->data[2 * i + k]; s2 += (double)y->data[2 * i + k] * y->data[2 * i + k]; }
        mean[k] = (float)(s / 1000);
        sd[k] = (float)sqrt(fmax(s2 / 1000 - (s / 1000) * (s / 1000), 0.0));
    }
    sd_graph_free(g);
}

static float dist_to_target(const float m[2])
{
    return hypotf(m[0] - toy_mean[0], m[1] - toy_mean[1]);
}

/* Train for `steps`; returns G's mean distance from the data's mean over five
 * checkpoints in the last third of the run (a GAN circles its target rather
 * than settling), G's spread at the end, and the mean D loss of the last 100 steps. */
static float toy_train(toy *t, sd_ctx *ctx, int steps, float *sd_out, float *d_loss, size_t *grown_late)
{
    float x[128], m[2], sd[2], dist = 0.0f;
    double dl = 0.0;
    sd_gan_stats st;
    for (int s = 1; s <= steps; s++) {
        toy_batch(&t->rng, x);
        if (sd_gan_step(t->gan, x, &t->rng, &st)) {
            CHECK_MSG(0, "toy GAN step %d: %s", s, sd_last_error());
            return 1e9f;
        }
        if (grown_late && s > 2) *grown_late += sd_gan_grow_count(t->gan);
        if (s > steps - 100) dl += st.d_loss / 100.0;
        if (s % (steps / 15) == 0 && s > steps - 5 * (steps / 15)) {
            toy_stats(ctx, t->G, m, sd);
            dist += dist_to_target(m) / 5.0f;
        }
    }
    if (sd_out) memcpy(sd_out, sd, sizeof sd);
    if (d_loss) *d_loss = (float)dl;
    return dist;
}

static void toy_gan(sd_ctx *ctx)
{
    toy a, b;
    if (toy_new(&a, ctx, 11, SD_GAN_NS, 5e-4f)) return;
    float m0[2], sd0[2], sd[2], dl;
    toy_stats(ctx, a.G, m0, sd0);
    size_t grown = 0;
    float d = toy_train(&a, ctx, 1500, sd, &dl, &grown);
    printf("toy GAN (ns, %d threads): distance to the data mean %.3f -> %.3f, sd (%.3f, %.3f) (data 0.5, 0.25), "
           "D loss %.3f (2 ln 2 = 1.386 at the equilibrium)\n", sd_ctx_threads(ctx), dist_to_target(m0), d, sd[0],
           sd[1], dl);
    CHECK_MSG(dist_to_target(m0) > 2.0f && d < 0.3f, "toy GAN: G's mean moved from %.3f to %.3f of the data's",
              dist_to_target(m0), d);
    CHECK_MSG(sd[0] > 0.2f && sd[0] < 1.0f && sd[1] > 0.05f && sd[1] < 0.6f,
              "toy GAN: G's spread (%.3f, %.3f), data (0.5, 0.25)", sd[0], sd[1]);
    CHECK_MSG(fabsf(dl - 1.386f) < 0.05f, "toy GAN: D loss %.3f, not near the equilibrium's 2 ln 2", dl);
    CHECK_MSG(grown == 0, "the GAN's graphs kept allocating after step 2 (%zu bytes)", grown);

    /* the same seed and thread count: bit-identical generators */
    if (!toy_new(&b, ctx, 11, SD_GAN_NS, 5e-4f)) {
        toy_train(&b, ctx, 1500, NULL, NULL, NULL);
        sd_params *pa = sd_model_params(a.G), *pb = sd_model_params(b.G);
        CHECK_MSG(!memcmp(sd_params_values(pa), sd_params_values(pb), sd_params_size(pa) * sizeof(float)),
                  "two runs with one seed gave different generators");
        toy_free(&b);
    }
    toy_free(&a);

    /* the lecture's minimax loss learns too */
    if (toy_new(&a, ctx, 12, SD_GAN_MINIMAX, 5e-4f)) return;
    toy_stats(ctx, a.G, m0, sd0);
    d = toy_train(&a, ctx, 1500, NULL, NULL, NULL);
    printf("toy GAN (minimax): distance %.3f -> %.3f\n", dist_to_target(m0), d);
    CHECK_MSG(d < 0.5f, "minimax toy GAN: distance %.3f -> %.3f", dist_to_target(m0), d);
    toy_free(&a);
}

/* ---- The G step leaves D's weights and gradients exactly as they were; the D step leaves G's. */
static void frozen_d(sd_ctx *ctx, const char *garch, sd_shape gin, const char *darch, sd_shape din, int img)
{
    sd_rng rng;
    sd_rng_seed(&rng, 3);
    sd_model *G = sd_model_new(garch, gin, SD_INIT_DEFAULT, &rng), *D = sd_model_new(darch, din, SD_INIT_DEFAULT, &rng);
    sd_gan *gan = G && D ? sd_gan_new(ctx, G, D, &(sd_gan_opts){ .batch = 8 }) : NULL;
    CHECK_MSG(gan != NULL, "%s: %s", garch, sd_last_error());
    if (gan) {
        sd_params *PG = sd_model_params(G), *PD = sd_model_params(D);
        size_t ng = sd_params_size(PG), nd = sd_params_size(PD);
        float *g0 = malloc(ng * sizeof(float)), *dv = malloc(nd * sizeof(float)), *dg = malloc(nd * sizeof(float));
        float *real = malloc((size_t)8 * img * sizeof(float));
        for (int i = 0; i < 8 * img; i++) real[i] = 2.0f * sd_rng_uniform(&rng) - 1.0f;
        sd_gan_stats st;
        memcpy(g0, sd_params_values(PG), ng * sizeof(float));
        CHECK(sd_gan_d_step(gan, real, &rng, &st) == 0);
        CHECK_MSG(!memcmp(g0, sd_params_values(PG), ng * sizeof(float)), "%s: the D step changed G", garch);
        memcpy(dv, sd_params_values(PD), nd * sizeof(float));
        memcpy(dg, sd_params_grads(PD), nd * sizeof(float));
        CHECK(sd_gan_g_step(gan, &st) == 0);
        CHECK_MSG(!memcmp(dv, sd_params_values(PD), nd * sizeof(float)), "%s: the G step changed D's weights", darch);
        CHECK_MSG(!memcmp(dg, sd_params_grads(PD), nd * sizeof(float)), "%s: the G step wrote D's gradients", darch);
        CHECK_MSG(memcmp(g0, sd_params_values(PG), ng * sizeof(float)), "%s: the G step did not change G", garch);
        CHECK(sd_gan_g_step(gan, &st) == -1);   /* no batch left to train on */

        /* NaN in D: the step stops before any update, saying which loss */
        sd_params_values(PD)[0] = NAN;
        memcpy(g0, sd_params_values(PG), ng * sizeof(float));
        CHECK(sd_gan_step(gan, real, &rng, &st) == -1);
        CHECK_MSG(strstr(sd_last_error(), "D loss is NaN") != NULL, "NaN message: %s", sd_last_error());
        CHECK(!memcmp(g0, sd_params_values(PG), ng * sizeof(float)));
        free(g0); free(dv); free(dg); free(real);
    }
    sd_gan_free(gan);
    sd_model_free(G);
    sd_model_free(D);
}

/* ---- A D without batch statistics sees real and fake as one batch of 2B rows
 * (sd_gan_d_step's fast path): the same loss and the same Adam step as the
 * composed form, D(real) and D(fake) separately into sd_gan_d_loss. */
static void joint_d_step(sd_ctx *ctx)
{
    sd_rng r1, r2;
    sd_rng_seed(&r1, 21);
    sd_model *G = sd_model_new(TOY_G, SD_SHAPE(4), SD_INIT_DEFAULT, &r1);
    sd_model *D = sd_model_new(TOY_D, SD_SHAPE(2), SD_INIT_DEFAULT, &r1);
    sd_rng_seed(&r2, 21);
    sd_model *G2 = sd_model_new(TOY_G, SD_SHAPE(4), SD_INIT_DEFAULT, &r2);
    sd_model *D2 = sd_model_new(TOY_D, SD_SHAPE(2), SD_INIT_DEFAULT, &r2);
    sd_gan *gan = sd_gan_new(ctx, G, D, &(sd_gan_opts){ .batch = 16 });
    sd_params *P2 = sd_model_params(D2);
    sd_optim *opt = sd_optim_new(P2, &(sd_optim_opts){ .kind = SD_OPTIM_ADAM, .lr = 2e-4f, .beta1 = 0.5f });
    CHECK(gan && opt);
    if (gan && opt) {
        float real[32], z[64];
        for (int i = 0; i < 32; i++) real[i] = sd_rng_normal(&r1);
        sd_rng r3 = r1;                        /* the noise sd_gan_d_step will draw */
        for (int i = 0; i < 64; i++) z[i] = sd_rng_normal(&r3);
        sd_gan_stats st;
        CHECK(sd_gan_d_step(gan, real, &r1, &st) == 0);
        sd_graph *g = sd_graph_new(ctx);
        sd_tensor *fake = sd_model_forward(g, G2, sd_input(g, z, SD_SHAPE(16, 4)));
        sd_tensor *lr = sd_model_forward(g, D2, sd_input(g, real, SD_SHAPE(16, 2)));
        sd_tensor *lf = sd_model_forward(g, D2, sd_input(g, fake->data, SD_SHAPE(16, 2)));
        sd_tensor *loss = sd_gan_d_loss(g, lr, lf);
        sd_params_zero_grad(P2);
        CHECK(loss && sd_backward(g, loss) == 0);
        sd_optim_step(opt);
        CHECK_NEAR(st.d_loss, loss->data[0], 1e-6);
        double dr = 0, df = 0;
        for (int i = 0; i < 16; i++) { dr += sig(lr->data[i]) / 16; df += sig(lf->data[i]) / 16; }
        CHECK_NEAR(st.d_real, dr, 1e-6);
        CHECK_NEAR(st.d_fake, df, 1e-6);
        const float *a = sd_params_values(sd_model_params(D)), *b = sd_params_values(P2);
        double worst = 0;
        for (size_t i = 0; i < sd_params_size(P2); i++) worst = fmax(worst, fabs((double)a[i] - b[i]));
        CHECK_MSG(worst < 1e-6, "the joint D step's weights differ from the composed step's by %g", worst);
        sd_graph_free(g);
    }
    sd_optim_free(opt);
    sd_gan_free(gan);
    sd_model_free(G); sd_model_free(D); sd_model_free(G2); sd_model_free(D2);
}

/* ---- Layers: convt, batchnorm and reshape in models and model files */
#define CONV_G "fc1=linear(64) bn1=batchnorm relu reshape(16,2,2) convt1=convt(8,4,2,1) bn2=batchnorm relu " \
               "convt2=convt(1,4,2,1) tanh"
#define CONV_D "conv1=conv(8,4,2,1) leaky_relu(0.2) conv2=conv(16,4,2,1) bn1=batchnorm leaky_relu(0.2) flatten fc1=linear(1)"

static void layers(sd_ctx *ctx)
{
    sd_rng rng;
    sd_rng_seed(&rng, 8);
    sd_model *G = sd_model_new(CONV_G, SD_SHAPE(6), SD_INIT_DEFAULT, &rng);
    CHECK_MSG(G != NULL, "conv G: %s", sd_last_error());
    if (!G) return;
    CHECK(sd_shape_eq(sd_model_output_shape(G), SD_SHAPE(1, 8, 8)));
    CHECK_MSG(!strcmp(sd_model_arch(G), "fc1=linear(64) bn1=batchnorm(0.1,1e-05) relu reshape(16,2,2) "
                      "convt1=convt(8,4,2,1) bn2=batchnorm(0.1,1e-05) relu convt2=convt(1,4,2,1) tanh"),
              "canonical arch: %s", sd_model_arch(G));
    sd_params *P = sd_model_params(G), *S = sd_model_state(G);
    CHECK(sd_params_find(P, "bn1.weight") >= 0 && sd_params_find(P, "bn1.bias") >= 0);
    CHECK(sd_params_find(S, "bn1.running_mean") >= 0 && sd_params_find(S, "bn2.running_var") >= 0);
    CHECK(sd_params_find(P, "bn1.running_mean") < 0 && sd_params_count(S) == 4);
    CHECK(sd_shape_eq(sd_params_shape(P, sd_params_find(P, "convt1.weight")), SD_SHAPE(16, 8, 4, 4)));
    CHECK(sd_model_training(G) == 1);

    /* training-mode forwards move the running averages; save, load, same outputs in eval mode */
    float z[4 * 6];
    for (int i = 0; i < 24; i++) z[i] = sd_rng_normal(&rng);
    sd_graph *g = sd_graph_new(ctx);
    for (int i = 0; i < 3; i++) {
        sd_graph_reset(g);
        CHECK(sd_model_forward(g, G, sd_input(g, z, SD_SHAPE(4, 6))) != NULL);
    }
    CHECK(sd_params_data(S, sd_params_find(S, "bn1.running_var"))[0] != 1.0f);
    sd_model_set_training(G, 0);
    sd_graph_reset(g);
    sd_tensor *y0 = sd_model_forward(g, G, sd_input(g, z, SD_SHAPE(4, 6)));
    char path[512];
    snprintf(path, sizeof path, "%s/test_gan_g.safetensors", check_tmpdir());
    CHECK_MSG(sd_model_save(G, path) == 0, "save: %s", sd_last_error());
    sd_model *L = sd_model_load(path);
    CHECK_MSG(L != NULL, "load: %s", sd_last_error());
    if (L && y0) {
        CHECK(sd_model_training(L) == 0);
        sd_params *LS = sd_model_state(L);
        CHECK(!memcmp(sd_params_values(S), sd_params_values(LS), sd_params_size(S) * sizeof(float)));
        sd_tensor *y1 = sd_model_forward(g, L, sd_input(g, z, SD_SHAPE(4, 6)));
        CHECK(y1 && !memcmp(y0->data, y1->data, y0->n * sizeof(float)));
        float before = sd_params_values(LS)[0];
        CHECK(sd_model_forward(g, L, sd_input(g, z, SD_SHAPE(4, 6))) && sd_params_values(LS)[0] == before);
    }
    sd_model_free(L);
    sd_graph_free(g);
    sd_model_free(G);

    /* errors name the layer */
    CHECK(sd_model_new("linear(10) reshape(3,3)", SD_SHAPE(4), SD_INIT_DEFAULT, &rng) == NULL);
    CHECK_MSG(strstr(sd_last_error(), "10 values") != NULL, "reshape error: %s", sd_last_error());
    CHECK(sd_model_new("convt(4,3)", SD_SHAPE(8), SD_INIT_DEFAULT, &rng) == NULL);
    CHECK_MSG(strstr(sd_last_error(), "(C,H,W)") != NULL, "convt error: %s", sd_last_error());
    CHECK(sd_model_new("convt(4,3,2,1,2)", SD_SHAPE(1, 4, 4), SD_INIT_DEFAULT, &rng) == NULL);
    CHECK_MSG(strstr(sd_last_error(), "out_pad") != NULL, "convt out_pad error: %s", sd_last_error());
    CHECK(sd_model_new("flatten batchnorm(2)", SD_SHAPE(1, 4, 4), SD_INIT_DEFAULT, &rng) == NULL);
    CHECK_MSG(strstr(sd_last_error(), "momentum") != NULL, "batchnorm error: %s", sd_last_error());
    sd_model *m = sd_model_new("convt(3,3,2,1,1)", SD_SHAPE(2, 5, 5), SD_INIT_DEFAULT, &rng);
    CHECK(m && sd_shape_eq(sd_model_output_shape(m), SD_SHAPE(3, 10, 10)));
    sd_model_free(m);
}

/* ---- The generator's moving average: avg = d avg + (1 - d) w, every float,
 * and refused across different layouts or for a decay outside [0, 1]. */
static void moving_average(void)
{
    sd_params *a = sd_params_new(), *w = sd_params_new(), *other = sd_params_new();
    CHECK(sd_params_add(a, "x", SD_SHAPE(3)) == 0 && sd_params_add(a, "y", SD_SHAPE(2, 2)) == 1);
    CHECK(sd_params_add(w, "x", SD_SHAPE(3)) == 0 && sd_params_add(w, "y", SD_SHAPE(2, 2)) == 1);
    CHECK(sd_params_add(other, "x", SD_SHAPE(3)) == 0 && sd_params_add(other, "y", SD_SHAPE(4)) == 1);
    for (int i = 0; i < 3; i++) { sd_params_data(a, 0)[i] = 1.0f; sd_params_data(w, 0)[i] = (float)i; }
    for (int i = 0; i < 4; i++) { sd_params_data(a, 1)[i] = -2.0f; sd_params_data(w, 1)[i] = 2.0f; }
    CHECK(sd_params_ema(a, w, 0.75f) == 0);
    for (int i = 0; i < 3; i++) CHECK_NEAR(sd_params_data(a, 0)[i], 0.75 + 0.25 * i, 1e-7);
    for (int i = 0; i < 4; i++) CHECK_NEAR(sd_params_data(a, 1)[i], -1.0, 1e-7);
    CHECK(sd_params_ema(a, w, 0.0f) == 0);   /* decay 0: a copy */
    CHECK(!memcmp(sd_params_values(a), sd_params_values(w), sd_params_size(w) * sizeof(float)));
    CHECK_MSG(sd_params_ema(a, other, 0.5f) != 0 && strstr(sd_last_error(), "shapes differ"),
              "different layouts: %s", sd_last_error());
    CHECK_MSG(sd_params_ema(a, w, 1.5f) != 0 && strstr(sd_last_error(), "decay"), "decay 1.5: %s", sd_last_error());
    CHECK(sd_params_ema(a, w, NAN) != 0);
    sd_params_free(a);
    sd_params_free(w);
    sd_params_free(other);
}

int main(void)
{
    inception_score();
    moving_average();
    for (int threads = 1; threads <= 2; threads++) {
        sd_ctx *ctx = sd_ctx_new(&(sd_ctx_opts){ .threads = threads });
        if (!ctx) { fprintf(stderr, "%s\n", sd_last_error()); return 1; }
        if (threads == 1) {
            losses(ctx);
            joint_d_step(ctx);
            layers(ctx);
            frozen_d(ctx, TOY_G, SD_SHAPE(4), TOY_D, SD_SHAPE(2), 2);
        } else {
            frozen_d(ctx, CONV_G, SD_SHAPE(6), CONV_D, SD_SHAPE(1, 8, 8), 64);
        }
        toy_gan(ctx);
        sd_ctx_free(ctx);
    }
    return check_done("test_gan");
}
