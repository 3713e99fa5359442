/* Behaviour: networks learn. XOR with a 2-layer MLP (SGD and Adam), a tiny
 * batch overfitted to zero loss, the optimizers against hand-computed steps,
 * and a model saved and loaded giving identical logits. */
#include "check.h"
#include "shendu.h"

#include <stdlib.h>
#include <string.h>

static const float xor_x[8] = { 0, 0, 0, 1, 1, 0, 1, 1 };
static const int32_t xor_y[4] = { 0, 1, 1, 0 };

static float train_xor(sd_ctx *ctx, sd_optim_kind kind, float lr, float momentum, int steps, uint64_t seed,
                       int *correct)
{
    sd_rng rng;
    sd_rng_seed(&rng, seed);
    sd_model *m = sd_model_new("linear(8) tanh linear(2)", SD_SHAPE(2), SD_INIT_XAVIER, &rng);
    sd_params *P = sd_model_params(m);
    sd_optim *opt = sd_optim_new(P, &(sd_optim_opts){ .kind = kind, .lr = lr, .momentum = momentum });
    sd_graph *g = sd_graph_new(ctx);
    float loss = 0;
    for (int s = 0; s < steps; s++) {
        sd_graph_reset(g);
        sd_tensor *l = sd_cross_entropy(g, sd_model_forward(g, m, sd_input(g, xor_x, SD_SHAPE(4, 2))), xor_y);
        sd_params_zero_grad(P);
        sd_backward(g, l);
        sd_optim_step(opt);
        loss = l->data[0];
    }
    sd_graph_reset(g);
    sd_tensor *y = sd_model_forward(g, m, sd_input(g, xor_x, SD_SHAPE(4, 2)));
    *correct = 0;
    for (int i = 0; i < 4; i++) *correct += (y->data[2 * i + 1] > y->data[2 * i]) == xor_y[i];
    sd_graph_free(g);
    sd_optim_free(opt);
    sd_model_free(m);
    return loss;
}

static void test_xor(sd_ctx *ctx)
{
    int correct;
    float l = train_xor(ctx, SD_OPTIM_SGD, 0.5f, 0.9f, 500, 7, &correct);
    CHECK_MSG(l < 0.05f && correct == 4, "XOR with SGD+momentum: loss %g, %d/4 correct", l, correct);
    l = train_xor(ctx, SD_OPTIM_ADAM, 0.05f, 0, 500, 8, &correct);
    CHECK_MSG(l < 0.05f && correct == 4, "XOR with Adam: loss %g, %d/4 correct", l, correct);
}

/* 16 random 20-d inputs with random labels of 5 classes: a 64-unit MLP must
 * memorise them (loss near 0), which needs every gradient to be right. */
static void test_overfit(sd_ctx *ctx)
{
    sd_rng rng;
    sd_rng_seed(&rng, 3);
    float x[16 * 20];
    int32_t y[16];
    for (int i = 0; i < 16 * 20; i++) x[i] = sd_rng_normal(&rng);
    for (int i = 0; i < 16; i++) y[i] = (int32_t)sd_rng_below(&rng, 5);
    sd_model *m = sd_model_new("linear(64) relu linear(64) relu linear(5)", SD_SHAPE(20), SD_INIT_HE, &rng);
    sd_params *P = sd_model_params(m);
    sd_optim *opt = sd_optim_new(P, &(sd_optim_opts){ .kind = SD_OPTIM_ADAM, .lr = 1e-2f });
    sd_graph *g = sd_graph_new(ctx);
    float first = 0, loss = 0;
    size_t grown_late = 0;
    for (int s = 0; s < 300; s++) {
        sd_graph_reset(g);
        if (s >= 2) grown_late += sd_graph_grow_count(g);
        sd_tensor *l = sd_cross_entropy(g, sd_model_forward(g, m, sd_input(g, x, SD_SHAPE(16, 20))), y);
        sd_params_zero_grad(P);
        sd_backward(g, l);
        sd_optim_step(opt);
        if (s == 0) first = l->data[0];
        loss = l->data[0];
    }
    CHECK_MSG(first > 1.0f && loss < 0.01f, "overfit: loss %g -> %g", first, loss);
    CHECK_MSG(grown_late == 0, "the arena kept growing after step 2 (%zu bytes)", grown_late);
    sd_graph_free(g);
    sd_optim_free(opt);
    sd_model_free(m);
}

/* One step of each optimizer against values computed by hand. */
static void test_optim_steps(void)
{
    sd_params *P = sd_params_new();
    int id = sd_params_add(P, "w", SD_SHAPE(2));
    float *w = sd_params_data(P, id), *gr = sd_params_grad(P, id);
    /* SGD momentum 0.9, lr 0.1: v1 = g; w -= 0.1 g; v2 = 0.9 g + g */
    sd_optim *o = sd_optim_new(P, &(sd_optim_opts){ .kind = SD_OPTIM_SGD, .lr = 0.1f, .momentum = 0.9f });
    w[0] = 1.0f; w[1] = -2.0f; gr[0] = 0.5f; gr[1] = -1.0f;
    sd_optim_step(o);
    CHECK_NEAR(w[0], 0.95, 1e-7);
    CHECK_NEAR(w[1], -1.9, 1e-6);
    sd_optim_step(o);
    CHECK_NEAR(w[0], 0.95 - 0.1 * 0.95, 1e-6);
    sd_optim_free(o);
    /* Adam: the first step moves every weight by lr·sign(g) (bias correction). */
    o = sd_optim_new(P, &(sd_optim_opts){ .kind = SD_OPTIM_ADAM, .lr = 0.01f });
    w[0] = 1.0f; w[1] = -2.0f; gr[0] = 0.5f; gr[1] = -3.0f;
    sd_optim_step(o);
    CHECK_NEAR(w[0], 0.99, 1e-6);
    CHECK_NEAR(w[1], -1.99, 1e-6);
    /* second step with g = (0.5, -3) again: m̂ = g, v̂ = g²: again lr·sign(g) */
    sd_optim_step(o);
    CHECK_NEAR(w[0], 0.98, 1e-6);
    CHECK(sd_optim_steps(o) == 2);
    sd_optim_free(o);
    sd_params_free(P);
}

static void test_save_load(sd_ctx *ctx)
{
    char path[512];
    snprintf(path, sizeof path, "%s/test_train_model.safetensors", check_tmpdir());
    sd_rng rng;
    sd_rng_seed(&rng, 11);
    sd_model *m = sd_model_new(sd_model_preset("mlp"), SD_SHAPE(1, 28, 28), SD_INIT_DEFAULT, &rng);
    sd_model_meta_set(m, "classes", "a,b,c,d,e,f,g,h,i,j");
    CHECK(sd_model_save(m, path) == 0);
    sd_model *m2 = sd_model_load(path);
    CHECK_MSG(m2 != NULL, "%s", sd_last_error());
    if (!m2) { sd_model_free(m); return; }
    CHECK(!strcmp(sd_model_arch(m), sd_model_arch(m2)));
    CHECK(sd_model_meta_get(m2, "classes") && !strcmp(sd_model_meta_get(m2, "classes"), "a,b,c,d,e,f,g,h,i,j"));
    float x[3 * 784];
    for (int i = 0; i < 3 * 784; i++) x[i] = sd_rng_uniform(&rng);
    sd_graph *g = sd_graph_new(ctx);
    sd_tensor *y1 = sd_model_forward(g, m, sd_input(g, x, SD_SHAPE(3, 1, 28, 28)));
    sd_tensor *y2 = sd_model_forward(g, m2, sd_input(g, x, SD_SHAPE(3, 1, 28, 28)));
    CHECK(y1 && y2 && memcmp(y1->data, y2->data, 30 * sizeof(float)) == 0);
    /* the same file from bytes in memory (the wasm page's way): the same model;
     * cut short, an error naming the buffer */
    FILE *fp = fopen(path, "rb");
    unsigned char *bytes = malloc(1 << 20);
    size_t nb = fp && bytes ? fread(bytes, 1, 1 << 20, fp) : 0;
    if (fp) fclose(fp);
    CHECK(nb > 1000 && nb < (1 << 20));
    sd_model *m3 = sd_model_load_mem(bytes, nb, "model.bytes");
    CHECK_MSG(m3 != NULL, "%s", sd_last_error());
    sd_tensor *y3 = m3 ? sd_model_forward(g, m3, sd_input(g, x, SD_SHAPE(3, 1, 28, 28))) : NULL;
    CHECK(y1 && y3 && memcmp(y1->data, y3->data, 30 * sizeof(float)) == 0);
    CHECK(m3 && sd_model_meta_get(m3, "classes") && !strcmp(sd_model_meta_get(m3, "classes"), "a,b,c,d,e,f,g,h,i,j"));
    sd_model_free(m3);
    CHECK(sd_model_load_mem(bytes, nb / 2, "model.bytes") == NULL);
    CHECK_MSG(strstr(sd_last_error(), "model.bytes") != NULL, "%s", sd_last_error());
    CHECK(sd_model_load_mem(bytes, 0, NULL) == NULL);
    free(bytes);
    sd_graph_free(g);
    /* a model whose tensors do not match its architecture is refused */
    sd_model *other = sd_model_new("flatten fc1=linear(512) relu fc2=linear(10)", SD_SHAPE(1, 28, 28), SD_INIT_DEFAULT, &rng);
    sd_params *P = sd_model_params(other);
    sd_st_tensor t[4];
    for (int i = 0; i < 4; i++) {
        sd_shape s = sd_params_shape(P, i);
        t[i] = (sd_st_tensor){ .name = sd_params_name(P, i), .dtype = SD_F32, .ndim = s.ndim, .data = sd_params_data(P, i) };
        for (int d = 0; d < s.ndim; d++) t[i].shape[d] = s.d[d];
    }
    sd_st_kv kv[] = { { "shendu.format", "model" }, { "shendu.arch", sd_model_arch(m) }, { "shendu.input", "1,28,28" } };
    CHECK(sd_st_save(path, t, 4, kv, 3) == 0);
    CHECK(sd_model_load(path) == NULL);
    CHECK_MSG(strstr(sd_last_error(), "do not match") != NULL, "%s", sd_last_error());
    /* an architecture that asks for more parameters than the file holds (here
     * 2.8·10^8, over 2 GB with gradients) is refused before anything is allocated */
    kv[1].value = "flatten fc1=linear(100000) fc2=linear(2000)";
    CHECK(sd_st_save(path, t, 4, kv, 3) == 0);
    CHECK(sd_model_load(path) == NULL);
    CHECK_MSG(strstr(sd_last_error(), "fc1.weight") && strstr(sd_last_error(), "hold 407050 values"), "%s",
              sd_last_error());
    sd_params *lim = sd_params_new();   /* the limit counts elements, not padded floats */
    sd_params_set_limit(lim, 20);
    CHECK(sd_params_add(lim, "a", SD_SHAPE(3)) == 0 && sd_params_add(lim, "b", SD_SHAPE(17)) == 1);
    CHECK(sd_params_add(lim, "c", SD_SHAPE(1)) == -1 && strstr(sd_last_error(), "limit of 20"));
    CHECK(sd_params_numel(lim) == 20);
    sd_params_free(lim);
    sd_model_free(other);
    sd_model_free(m);
    sd_model_free(m2);
}

/* The model runs "relu maxpool" as "maxpool relu" (cheaper); a traced forward
 * keeps the written order. Both must give the same logits and gradients. */
static void test_relu_pool_swap(sd_ctx *ctx)
{
    sd_rng rng;
    sd_rng_seed(&rng, 21);
    sd_model *m = sd_model_new(sd_model_preset("cnn"), SD_SHAPE(1, 28, 28), SD_INIT_DEFAULT, &rng);
    sd_params *P = sd_model_params(m);
    size_t n = sd_params_size(P);
    static float x[4 * 784], g1[300000];
    static const int32_t y[4] = { 1, 5, 7, 9 };
    for (int i = 0; i < 4 * 784; i++) x[i] = sd_rng_uniform(&rng);
    sd_graph *g = sd_graph_new(ctx);
    sd_tensor *outs[16];
    float l[2];
    for (int pass = 0; pass < 2; pass++) {
        sd_graph_reset(g);
        sd_tensor *in = sd_input(g, x, SD_SHAPE(4, 1, 28, 28));
        sd_tensor *logits = pass ? sd_model_forward_trace(g, m, in, outs) : sd_model_forward(g, m, in);
        sd_tensor *loss = sd_cross_entropy(g, logits, y);
        sd_params_zero_grad(P);
        CHECK(sd_backward(g, loss) == 0);
        l[pass] = loss->data[0];
        if (pass == 0) memcpy(g1, sd_params_grads(P), n * sizeof(float));
    }
    CHECK(n <= 300000);
    CHECK(l[0] == l[1]);
    CHECK(memcmp(g1, sd_params_grads(P), n * sizeof(float)) == 0);
    sd_graph_free(g);
    sd_model_free(m);
}

int main(void)
{
    sd_ctx *ctx = sd_ctx_new(&(sd_ctx_opts){ .threads = 1 });
    test_xor(ctx);
    test_overfit(ctx);
    test_optim_steps();
    test_save_load(ctx);
    test_relu_pool_swap(ctx);
    sd_ctx_free(ctx);
    return check_done("test_train");
}
