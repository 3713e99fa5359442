/* The Transformer LM (shendu/transformer.h): finite-difference gradients of a
 * tiny model, the key/value-cache step against the full forward (every
 * position of every sequence), dropout on in training only and seeded, the
 * attention map's rows, the character LM's sampling with and without the cache,
 * top-k, a short training run that learns, and the errors. */
#include "gradcheck.h"
#include "apps/apps.h"

#include <string.h>

static const sd_transformer_opts tiny = { .vocab = 11, .dim = 16, .layers = 2, .heads = 4, .context = 12 };
static int32_t seq[3 * 9];   /* T 9, B 3, time-major */

static sd_tensor *build(sd_graph *g, sd_params *P, void *user)
{
    sd_transformer *m = user;
    (void)P;
    return sd_cross_entropy(g, sd_transformer_forward(g, m, seq, 8, 3, NULL), seq + 3);   /* next token */
}

static void gradients(sd_ctx *ctx)
{
    sd_rng rng;
    sd_rng_seed(&rng, 5);
    sd_params *P = sd_params_new();
    sd_transformer *m = sd_transformer_new(P, &tiny, &rng);
    CHECK(m != NULL);
    /* larger weights than GPT's init, so every path carries gradient */
    for (int id = 0; id < sd_params_count(P); id++) gc_fill(P, id, &rng, 0.5f, 0.0f);
    gradcheck("transformer", ctx, P, build, m, 5e-3);
    sd_transformer_free(m);
    sd_params_free(P);
}

/* Gradient reuse (sd_graph_set_grad_reuse): the same parameter gradients to the
 * bit, a smaller arena, and the ops' outputs without a gradient afterwards. */
static void grad_reuse(sd_ctx *ctx)
{
    sd_rng rng;
    sd_rng_seed(&rng, 6);
    sd_params *P = sd_params_new();
    sd_transformer *m = sd_transformer_new(P, &tiny, &rng);
    for (int id = 0; id < sd_params_count(P); id++) gc_fill(P, id, &rng, 0.5f, 0.0f);
    const size_t n = sd_params_size(P);
    float *grad[2];
    size_t arena[2];
    for (int reuse = 0; reuse < 2; reuse++) {
        sd_graph *g = sd_graph_new(ctx);
        sd_graph_set_grad_reuse(g, reuse);
        sd_params_zero_grad(P);
        sd_tensor *y = sd_transformer_forward(g, m, seq, 8, 3, NULL);
        CHECK(y && !sd_backward(g, sd_cross_entropy(g, y, seq + 3)));
        CHECK_MSG(reuse ? y->grad == NULL : y->grad != NULL, "grad reuse %d: the logits' gradient", reuse);
        grad[reuse] = malloc(n * sizeof(float));
        memcpy(grad[reuse], sd_params_grads(P), n * sizeof(float));
        arena[reuse] = sd_graph_arena_bytes(g);
        sd_graph_free(g);
    }
    CHECK_MSG(!memcmp(grad[0], grad[1], n * sizeof(float)), "gradient reuse changed the parameters' gradients");
    CHECK_MSG(arena[1] < arena[0] * 3 / 4, "gradient reuse: arena %zu bytes, without %zu", arena[1], arena[0]);
    free(grad[0]);
    free(grad[1]);
    sd_transformer_free(m);
    sd_params_free(P);
}

static void cache_vs_forward(sd_ctx *ctx)
{
    sd_rng rng;
    sd_rng_seed(&rng, 6);
    sd_params *P = sd_params_new();
    sd_transformer *m = sd_transformer_new(P, &tiny, &rng);
    for (int id = 0; id < sd_params_count(P); id++) gc_fill(P, id, &rng, 0.4f, 0.0f);
    sd_graph *g = sd_graph_new(ctx);
    sd_graph_set_grad(g, 0);
    sd_tensor *y = sd_transformer_forward(g, m, seq, 9, 3, NULL);
    CHECK(y != NULL);
    sd_kv_cache *c = sd_kv_cache_new(m);
    float logits[11];
    double worst = 0.0;
    for (int b = 0; b < 3 && y; b++) {
        sd_kv_cache_reset(c);
        for (int t = 0; t < 9; t++) {
            CHECK(sd_transformer_step(m, c, seq[t * 3 + b], logits) == 0);
            for (int v = 0; v < 11; v++)
                worst = fmax(worst, fabs(logits[v] - y->data[(size_t)(t * 3 + b) * 11 + v]));
        }
    }
    CHECK_MSG(worst < 1e-4, "the cached step differs from the forward by %.3g", worst);
    CHECK(sd_kv_cache_len(c) == 9);
    /* the context is 12: three more fit, the thirteenth is refused */
    for (int t = 0; t < 3; t++) CHECK(sd_transformer_step(m, c, 1, logits) == 0);
    CHECK(sd_transformer_step(m, c, 1, logits) != 0 && strstr(sd_last_error(), "12 positions"));
    CHECK(sd_transformer_step(m, (sd_kv_cache_reset(c), c), 11, logits) != 0 && strstr(sd_last_error(), "vocabulary"));
    /* the attention map: rows are distributions over steps <= t */
    float att[2 * 4 * 9 * 9];
    CHECK(sd_transformer_attention_map(m, ctx, seq, 9, att) == 0);
    int rows_ok = 1;
    for (int r = 0; r < 2 * 4 * 9; r++) {
        const int t = r % 9;
        double s = 0.0;
        for (int u = 0; u < 9; u++) {
            s += att[r * 9 + u];
            if (u > t && att[r * 9 + u] != 0.0f) rows_ok = 0;
        }
        if (fabs(s - 1.0) > 1e-5) rows_ok = 0;
    }
    CHECK(rows_ok);
    /* dropout: training differs from evaluation, the same seed gives the same result */
    sd_transformer_opts o = tiny;
    o.dropout = 0.3f;
    sd_params *P2 = sd_params_new();
    sd_transformer *m2 = sd_transformer_new(P2, &o, &rng);
    sd_rng d1, d2;
    sd_rng_seed(&d1, 9);
    sd_rng_seed(&d2, 9);
    sd_graph_reset(g);
    sd_tensor *e = sd_transformer_forward(g, m2, seq, 9, 3, NULL), *e2 = sd_transformer_forward(g, m2, seq, 9, 3, NULL);
    sd_tensor *t1 = sd_transformer_forward(g, m2, seq, 9, 3, &d1), *t2 = sd_transformer_forward(g, m2, seq, 9, 3, &d2);
    CHECK(e && e2 && t1 && t2);
    if (e && e2 && t1 && t2) {
        CHECK(!memcmp(e->data, e2->data, e->n * sizeof(float)));
        CHECK(!memcmp(t1->data, t2->data, e->n * sizeof(float)));
        CHECK(memcmp(e->data, t1->data, e->n * sizeof(float)) != 0);
    }
    /* errors */
    CHECK(!sd_transformer_forward(g, m, seq, 13, 1, NULL) && strstr(sd_last_error(), "12 positions"));
    o = tiny;
    o.heads = 3;
    CHECK(!sd_transformer_new(P2, &o, &rng) && strstr(sd_last_error(), "3 heads do not divide the dimension 16"));
    sd_transformer_free(m2);
    sd_params_free(P2);
    sd_kv_cache_free(c);
    sd_graph_free(g);
    sd_transformer_free(m);
    sd_params_free(P);
}

/* The LM: a text of a repeated phrase is learnt in a few AdamW steps; sampling
 * with the cache equals sampling without it (temperature 0 and a draw with top-k),
 * past the context too. */
static void lm(sd_ctx *ctx)
{
    const char *text = "the cat sat on the mat. ";
    sd_vocab v;
    sd_vocab_build(&v, (const uint8_t *)text, strlen(text));
    sd_rng rng;
    sd_rng_seed(&rng, 3);
    sd_lm *m = sd_lm_new_transformer(&v, 2, 32, 4, 16, 0.0f, &rng);
    CHECK(m != NULL);
    if (!m) return;
    CHECK(sd_lm_cell(m) == SD_CELL_TRANSFORMER && sd_lm_transformer(m) != NULL);
    sd_params *P = sd_lm_params(m);
    sd_optim *opt = sd_optim_new(P, &(sd_optim_opts){ .kind = SD_OPTIM_ADAM, .lr = 1e-2f, .weight_decay = 0.1f,
                                                      .decoupled = 1, .decay_matrices_only = 1 });
    const int T = 16, B = 4, n = (int)strlen(text);
    int32_t in[16 * 4], tgt[16 * 4];
    sd_graph *g = sd_graph_new(ctx);
    float first = 0.0f, last = 0.0f;
    for (int step = 0; step < 150; step++) {
        for (int b = 0; b < B; b++) {
            int off = (int)sd_rng_below(&rng, (uint32_t)n);
            for (int t = 0; t < T; t++) {
                in[t * B + b] = v.index[(uint8_t)text[(off + t) % n]];
                tgt[t * B + b] = v.index[(uint8_t)text[(off + t + 1) % n]];
            }
        }
        sd_graph_reset(g);
        sd_params_zero_grad(P);
        sd_tensor *loss = sd_cross_entropy(g, sd_lm_forward_train(g, m, in, T, B, NULL), tgt);
        CHECK(loss && !sd_backward(g, loss));
        if (!loss) break;
        sd_params_clip_grad_norm(P, 1.0f);
        sd_optim_set_lr(opt, sd_lr_warmup_cosine(step, 10, 150, 1e-2f, 1e-3f));
        sd_optim_step(opt);
        if (step == 0) first = loss->data[0];
        last = loss->data[0];
    }
    CHECK_MSG(last < 0.25f * first, "150 steps on a repeated phrase: loss %.3f -> %.3f", first, last);
    CHECK(sd_graph_grow_count(g) == 0);   /* the steady state allocates nothing */
    uint8_t a[40], b[40];
    for (int k = 0; k < 2; k++) {
        sd_lm_gen_opts go = { .temperature = k ? 1.0f : 0.0f, .top_k = k ? 3 : 0 };
        sd_rng r1, r2;
        sd_rng_seed(&r1, 4);
        sd_rng_seed(&r2, 4);
        CHECK(sd_lm_generate_with(m, ctx, (const uint8_t *)"the ", 4, 40, &go, &r1, a) == 0);
        go.no_cache = 1;
        CHECK(sd_lm_generate_with(m, ctx, (const uint8_t *)"the ", 4, 40, &go, &r2, b) == 0);
        CHECK_MSG(!memcmp(a, b, 40), "sampling with the cache differs from sampling without it: '%.40s' vs '%.40s'",
                  (const char *)a, (const char *)b);
    }
    char prime[18];
    memset(prime, 't', 17);
    prime[17] = 0;
    CHECK(sd_lm_generate_with(m, ctx, (const uint8_t *)prime, 17, 5, &(sd_lm_gen_opts){ 0 }, &rng, a) != 0 &&
          strstr(sd_last_error(), "longer than the model's context of 16"));
    sd_graph_free(g);
    sd_optim_free(opt);
    sd_lm_free(m);
}

int main(void)
{
    sd_rng rng;
    sd_rng_seed(&rng, 1);
    for (int i = 0; i < 27; i++) seq[i] = (int32_t)sd_rng_below(&rng, 11);
    sd_ctx *ctx = sd_ctx_new(&(sd_ctx_opts){ .threads = 2 });
    gradients(ctx);
    grad_reuse(ctx);
    cache_vs_forward(ctx);
    lm(ctx);
    sd_ctx_free(ctx);
    return check_done("test_transformer");
}
