/* The Transformer's ops (issue 20): layer_norm, gelu, dropout, bmm and causal
 * (and, for the U-Net of issue 21, full) attention against PyTorch's values (tests/golden/tf_ops.st, made by
 * tests/golden/make_tf_golden.py), finite-difference gradients, the fused
 * attention against the composed oracle (values and gradients, 1 and 4
 * threads bit-identical), dropout's rule, token + position embeddings with
 * the output layer tied to the embedding, and AdamW with no decay on vectors,
 * global-norm clipping and warm-up + cosine against torch.optim. */
#include "gradcheck.h"
#include "shendu/kernels.h"

#include <string.h>

static float weights[16384];   /* fixed random R: loss = Σ y ∘ R */

static sd_tensor *weighted_sum(sd_graph *g, sd_tensor *y)
{
    if (!y || y->n > sizeof weights / sizeof weights[0]) return NULL;
    return sd_sum(g, sd_mul(g, y, sd_input(g, weights, y->shape)));
}

static double max_rel(const float *a, const float *b, size_t n)
{
    double m = 1.0, e = 0.0;
    for (size_t i = 0; i < n; i++) m = fmax(m, fabs(b[i]));
    for (size_t i = 0; i < n; i++) e = fmax(e, fabs((double)a[i] - b[i]));
    return e / m;
}

/* ---- Golden values from PyTorch */

static sd_st_file *gold;

static float *gget(const char *key, sd_shape *s)
{
    int i = sd_st_find(gold, key);
    CHECK_MSG(i >= 0, "golden tensor %s missing", key);
    if (i < 0) return NULL;
    sd_st_tensor t;
    sd_st_get(gold, i, &t);
    int d[SD_MAX_DIMS] = { 0 };
    for (int k = 0; k < t.ndim; k++) d[k] = (int)t.shape[k];
    if (s) *s = sd_shape_of(d, t.ndim);
    return (float *)t.data;
}

/* A leaf with a gradient over a copy of golden tensor key. */
static int leaf(sd_params *P, const char *key)
{
    sd_shape s;
    float *src = gget(key, &s);
    int id = sd_params_add(P, key, s);
    memcpy(sd_params_data(P, id), src, sd_shape_numel(s) * sizeof(float));
    return id;
}

#define CHECK_GOLD(got, key, tol) do { sd_shape s_; const float *w_ = gget(key, &s_); \
    double e_ = w_ ? max_rel(got, w_, sd_shape_numel(s_)) : 1e9; \
    CHECK_MSG(e_ <= (tol), "%s: differs from PyTorch by %.3g (relative)", key, e_); } while (0)

/* loss = Σ y ∘ r with golden r */
static sd_tensor *golden_loss(sd_graph *g, sd_tensor *y, const char *rkey)
{
    sd_shape s;
    float *r = gget(rkey, &s);
    return y ? sd_sum(g, sd_mul(g, y, sd_input(g, r, y->shape))) : NULL;
}

static void goldens(sd_ctx *ctx)
{
    sd_graph *g = sd_graph_new(ctx);
    sd_params *P = sd_params_new();
    /* layer_norm */
    int x = leaf(P, "ln.x"), ga = leaf(P, "ln.gamma"), be = leaf(P, "ln.beta");
    sd_tensor *y = sd_layer_norm(g, sd_param(g, P, x), sd_param(g, P, ga), sd_param(g, P, be), 1e-5f);
    CHECK(y && !sd_backward(g, golden_loss(g, y, "ln.r")));
    CHECK_GOLD(y->data, "ln.y", 1e-5);
    CHECK_GOLD(sd_params_grad(P, x), "ln.dx", 1e-5);
    CHECK_GOLD(sd_params_grad(P, ga), "ln.dgamma", 1e-5);
    CHECK_GOLD(sd_params_grad(P, be), "ln.dbeta", 1e-5);
    sd_params_free(P);
    /* gelu */
    P = sd_params_new();
    x = leaf(P, "gelu.x");
    sd_graph_reset(g);
    y = sd_gelu(g, sd_param(g, P, x));
    CHECK(y && !sd_backward(g, golden_loss(g, y, "gelu.r")));
    CHECK_GOLD(y->data, "gelu.y", 1e-6);
    CHECK_GOLD(sd_params_grad(P, x), "gelu.dx", 1e-6);
    sd_params_free(P);
    /* bmm, plain and with b transposed */
    for (int tb = 0; tb < 2; tb++) {
        const char *c = tb ? "bmmt" : "bmm";
        char k[6][16];
        const char *what[6] = { "a", "b", "r", "y", "da", "db" };
        for (int i = 0; i < 6; i++) snprintf(k[i], sizeof k[i], "%s.%s", c, what[i]);
        P = sd_params_new();
        int a = leaf(P, k[0]), b = leaf(P, k[1]);
        sd_graph_reset(g);
        y = sd_bmm(g, sd_param(g, P, a), sd_param(g, P, b), tb ? SD_TRANS_B : 0);
        CHECK(y && !sd_backward(g, golden_loss(g, y, k[2])));
        CHECK_GOLD(y->data, k[3], 1e-5);
        CHECK_GOLD(sd_params_grad(P, a), k[4], 1e-5);
        CHECK_GOLD(sd_params_grad(P, b), k[5], 1e-5);
        sd_params_free(P);
    }
    /* causal and full attention: the fused op and the composed oracle */
    for (int full = 0; full < 2; full++) {
        const char *c = full ? "attn_full" : "attn";
        char key[32];
        snprintf(key, sizeof key, "%s.args", c);
        const float *args = gget(key, NULL);
        for (int fused = 0; fused < 2 && args; fused++) {
            P = sd_params_new();
            snprintf(key, sizeof key, "%s.q", c);
            int q = leaf(P, key);
            snprintf(key, sizeof key, "%s.k", c);
            int k = leaf(P, key);
            snprintf(key, sizeof key, "%s.v", c);
            int v = leaf(P, key);
            sd_graph_reset(g);
            sd_tensor *(*attn)(sd_graph *, sd_tensor *, sd_tensor *, sd_tensor *, int, int) =
                full ? (fused ? sd_full_attention : sd_full_attention_composed)
                     : (fused ? sd_causal_attention : sd_causal_attention_composed);
            y = attn(g, sd_param(g, P, q), sd_param(g, P, k), sd_param(g, P, v), (int)args[0], (int)args[1]);
            snprintf(key, sizeof key, "%s.r", c);
            CHECK(y && !sd_backward(g, golden_loss(g, y, key)));
            const char *out[4] = { "y", "dq", "dk", "dv" };
            const float *got[4] = { y ? y->data : NULL, sd_params_grad(P, q), sd_params_grad(P, k),
                                    sd_params_grad(P, v) };
            for (int i = 0; i < 4; i++) {
                snprintf(key, sizeof key, "%s.%s", c, out[i]);
                CHECK_MSG(got[i] != NULL, "%s: no value", key);
                if (got[i]) CHECK_GOLD(got[i], key, 1e-5);
            }
            sd_params_free(P);
        }
    }
    sd_graph_free(g);
}

/* AdamW (decay on the matrix only), clipping and the schedule, step by step as torch.optim. */
static void golden_adamw(void)
{
    const float *a = gget("adamw.args", NULL), *lrs = gget("adamw.lrs", NULL);
    const float *gw = gget("adamw.gw", NULL), *gb = gget("adamw.gb", NULL);
    if (!a || !lrs || !gw || !gb) return;
    const float lr = a[0], wd = a[1], max_norm = a[4], min_lr = a[5];
    const int warmup = (int)a[2], steps = (int)a[3];
    sd_params *P = sd_params_new();
    int w = leaf(P, "adamw.w0"), b = leaf(P, "adamw.b0");
    sd_optim *o = sd_optim_new(P, &(sd_optim_opts){ .kind = SD_OPTIM_ADAM, .lr = lr, .weight_decay = wd,
                                                    .decoupled = 1, .decay_matrices_only = 1 });
    for (int s = 0; s < steps; s++) {
        memcpy(sd_params_grad(P, w), gw + s * 12, 12 * sizeof(float));
        memcpy(sd_params_grad(P, b), gb + s * 3, 3 * sizeof(float));
        double norm = sd_params_clip_grad_norm(P, max_norm);
        CHECK(norm > max_norm);   /* the case clips */
        float l = sd_lr_warmup_cosine(s, warmup, steps, lr, min_lr);
        CHECK_NEAR(l, lrs[s], 1e-7);
        sd_optim_set_lr(o, l);
        sd_optim_step(o);
    }
    CHECK_GOLD(sd_params_data(P, w), "adamw.w", 1e-5);
    CHECK_GOLD(sd_params_data(P, b), "adamw.b", 1e-5);
    sd_optim_free(o);
    sd_params_free(P);
}

/* ---- Finite differences */

typedef struct { int op, T, heads; float p; uint64_t seed; } gc_case;
enum { GC_LN, GC_GELU, GC_BMM, GC_BMMT, GC_ATTN, GC_ATTN_COMPOSED, GC_DROPOUT, GC_TIED, GC_ATTN_QKV, GC_FULL,
       GC_FULL_QKV, GC_FULL_COMPOSED, GC_MATMUL_BIAS };

static const int32_t tokens[12] = { 3, 1, 4, 1, 5, 9, 2, 6, 5, 3, 5, 8 };
static const int32_t positions[12] = { 0, 0, 1, 1, 2, 2, 3, 3, 4, 4, 5, 5 };   /* T = 6, B = 2 time-major */

static sd_tensor *build(sd_graph *g, sd_params *P, void *user)
{
    const gc_case *c = user;
    sd_tensor *p0 = sd_param(g, P, 0), *p1 = sd_params_count(P) > 1 ? sd_param(g, P, 1) : NULL;
    sd_tensor *p2 = sd_params_count(P) > 2 ? sd_param(g, P, 2) : NULL;
    switch (c->op) {
    case GC_LN: return weighted_sum(g, sd_layer_norm(g, p0, p1, p2, 1e-5f));
    case GC_GELU: return weighted_sum(g, sd_gelu(g, p0));
    case GC_BMM: return weighted_sum(g, sd_bmm(g, p0, p1, 0));
    case GC_BMMT: return weighted_sum(g, sd_bmm(g, p0, p1, SD_TRANS_A | SD_TRANS_B));
    case GC_ATTN: return weighted_sum(g, sd_causal_attention(g, p0, p1, p2, c->T, c->heads));
    case GC_ATTN_QKV: return weighted_sum(g, sd_causal_attention_qkv(g, p0, c->T, c->heads));
    case GC_ATTN_COMPOSED: return weighted_sum(g, sd_causal_attention_composed(g, p0, p1, p2, c->T, c->heads));
    case GC_FULL: return weighted_sum(g, sd_full_attention(g, p0, p1, p2, c->T, c->heads));
    case GC_FULL_QKV: return weighted_sum(g, sd_full_attention_qkv(g, p0, c->T, c->heads));
    case GC_FULL_COMPOSED: return weighted_sum(g, sd_full_attention_composed(g, p0, p1, p2, c->T, c->heads));
    case GC_MATMUL_BIAS: return weighted_sum(g, sd_matmul_bias(g, p0, p1, p2, SD_TRANS_B));
    case GC_DROPOUT: {   /* the same mask every evaluation: the rng restarts */
        sd_rng rng;
        sd_rng_seed(&rng, c->seed);
        return weighted_sum(g, sd_tanh(g, sd_dropout(g, p0, c->p, &rng)));
    }
    case GC_TIED: {      /* logits = (E[tok] + Pos[t]) Eᵀ: the embedding is also the output layer */
        sd_tensor *h = sd_add(g, sd_gather_rows(g, p0, tokens, 12), sd_gather_rows(g, p1, positions, 12));
        h = sd_layer_norm(g, h, NULL, NULL, 1e-5f);
        return sd_cross_entropy(g, sd_matmul(g, h, p0, SD_TRANS_B), tokens);
    }
    }
    return NULL;
}

static void check_grad(sd_ctx *ctx, const char *name, gc_case c, const sd_shape *shapes, int n, double tol)
{
    sd_rng rng;
    sd_rng_seed(&rng, 7);
    sd_params *P = sd_params_new();
    for (int i = 0; i < n; i++) {
        char nm[8];
        snprintf(nm, sizeof nm, "p%d", i);
        gc_fill(P, sd_params_add(P, nm, shapes[i]), &rng, 1.0f, 0.0f);
    }
    gradcheck(name, ctx, P, build, &c, tol);
    sd_params_free(P);
}

static void gradients(sd_ctx *ctx)
{
    check_grad(ctx, "layer_norm", (gc_case){ GC_LN }, (sd_shape[]){ SD_SHAPE(5, 7), SD_SHAPE(7), SD_SHAPE(7) }, 3, 2e-3);
    check_grad(ctx, "gelu", (gc_case){ GC_GELU }, (sd_shape[]){ SD_SHAPE(4, 9) }, 1, 2e-3);
    check_grad(ctx, "bmm", (gc_case){ GC_BMM }, (sd_shape[]){ SD_SHAPE(2, 3, 4), SD_SHAPE(2, 4, 5) }, 2, 2e-3);
    check_grad(ctx, "bmm_tt", (gc_case){ GC_BMMT }, (sd_shape[]){ SD_SHAPE(2, 4, 3), SD_SHAPE(2, 5, 4) }, 2, 2e-3);
    const sd_shape qkv[3] = { SD_SHAPE(15, 8), SD_SHAPE(15, 8), SD_SHAPE(15, 8) };   /* T 5, B 3, 2 heads */
    check_grad(ctx, "causal_attention", (gc_case){ GC_ATTN, 5, 2 }, qkv, 3, 2e-3);
    check_grad(ctx, "causal_attention_qkv", (gc_case){ GC_ATTN_QKV, 5, 2 }, (sd_shape[]){ SD_SHAPE(15, 24) }, 1, 2e-3);
    check_grad(ctx, "causal_attention_composed", (gc_case){ GC_ATTN_COMPOSED, 5, 2 }, qkv, 3, 2e-3);
    check_grad(ctx, "full_attention", (gc_case){ GC_FULL, 5, 2 }, qkv, 3, 2e-3);
    check_grad(ctx, "full_attention_qkv", (gc_case){ GC_FULL_QKV, 5, 2 }, (sd_shape[]){ SD_SHAPE(15, 24) }, 1, 2e-3);
    check_grad(ctx, "full_attention_composed", (gc_case){ GC_FULL_COMPOSED, 5, 2 }, qkv, 3, 2e-3);
    check_grad(ctx, "matmul_bias", (gc_case){ GC_MATMUL_BIAS },
               (sd_shape[]){ SD_SHAPE(5, 4), SD_SHAPE(3, 4), SD_SHAPE(3) }, 3, 2e-3);
    check_grad(ctx, "dropout", (gc_case){ GC_DROPOUT, .p = 0.3f, .seed = 5 }, (sd_shape[]){ SD_SHAPE(6, 8) }, 1, 2e-3);
    check_grad(ctx, "tied_embedding", (gc_case){ GC_TIED }, (sd_shape[]){ SD_SHAPE(10, 8), SD_SHAPE(6, 8) }, 2, 2e-3);
}

/* ---- The fused attention against the composed one, at a size with several
 * heads and uneven blocks; the fused op bit-identical on 1 and 4 threads.
 * Causal, or full (no mask). */
static void fused_vs_composed(int full)
{
    const int T = 19, B = 3, H = 4, D = 32, R = T * B;
    sd_rng rng;
    sd_rng_seed(&rng, 11);
    float *out[2][4] = { { 0 } };
    /* composed 1 thread, fused 1 thread, fused 4 threads, packed (q|k|v one tensor) 2 threads */
    for (int run = 0; run < 4; run++) {
        sd_ctx *ctx = sd_ctx_new(&(sd_ctx_opts){ .threads = run == 2 ? 4 : run == 3 ? 2 : 1 });
        sd_graph *g = sd_graph_new(ctx);
        sd_params *P = sd_params_new();
        sd_rng_seed(&rng, 11);
        for (int i = 0; i < 3; i++) gc_fill(P, sd_params_add(P, i == 0 ? "q" : i == 1 ? "k" : "v", SD_SHAPE(R, D)), &rng, 2.0f, 0.0f);
        sd_tensor *q = sd_param(g, P, 0), *k = sd_param(g, P, 1), *v = sd_param(g, P, 2);
        sd_tensor *qkv = run == 3 ? sd_concat(g, sd_concat(g, q, k, 1), v, 1) : NULL, *y;
        if (full)
            y = run == 3 ? sd_full_attention_qkv(g, qkv, T, H)
                         : (run ? sd_full_attention : sd_full_attention_composed)(g, q, k, v, T, H);
        else
            y = run == 3 ? sd_causal_attention_qkv(g, qkv, T, H)
                         : (run ? sd_causal_attention : sd_causal_attention_composed)(g, q, k, v, T, H);
        CHECK(y && !sd_backward(g, weighted_sum(g, y)));
        float *keep[4] = { y ? y->data : NULL, sd_params_grad(P, 0), sd_params_grad(P, 1), sd_params_grad(P, 2) };
        for (int i = 0; i < 4; i++) {
            float *c = malloc((size_t)R * D * sizeof *c);
            memcpy(c, keep[i] ? keep[i] : c, (size_t)R * D * sizeof *c);
            if (run < 2) out[run][i] = c;
            else {
                CHECK_MSG(!memcmp(c, out[1][i], (size_t)R * D * sizeof *c),
                          "fused %s attention: %s differs from 1 thread's (%d)", full ? "full" : "causal",
                          run == 2 ? "4 threads" : "packed qkv", i);
                free(c);
            }
        }
        sd_params_free(P);
        sd_graph_free(g);
        sd_ctx_free(ctx);
    }
    const char *what[4] = { "y", "dq", "dk", "dv" };
    for (int i = 0; i < 4; i++) {
        double e = max_rel(out[1][i], out[0][i], (size_t)R * D);
        CHECK_MSG(e < 1e-5, "fused %s attention's %s differs from the composed one by %.3g", full ? "full" : "causal",
                  what[i], e);
        free(out[0][i]);
        free(out[1][i]);
    }
}

/* ---- The fast attention kernels against the naive ones (src/kernels/attention.c),
 * causal and full, packed rows (ld_in 3D), 1 and 3 threads: values, lse and the
 * three gradients within 1e-5; and matmul_bias against matmul + bias_add. */
static void kernels_vs_naive(void)
{
    const int T = 137, B = 3, H = 2, D = 48, R = T * B, dh = D / H;   /* T: three query blocks */
    sd_rng rng;
    sd_rng_seed(&rng, 5);
    float *x = malloc((size_t)R * 3 * D * sizeof *x), *dout = malloc((size_t)R * D * sizeof *dout);
    float *o[2], *lse[2], *dx[2];
    for (int i = 0; i < R * 3 * D; i++) x[i] = 2.0f * sd_rng_uniform(&rng) - 1.0f;
    for (int i = 0; i < R * D; i++) dout[i] = 2.0f * sd_rng_uniform(&rng) - 1.0f;
    float *scratch = malloc(3 * sd_attention_scratch_floats(T, dh) * sizeof *scratch);
    sd_ctx *ctx3 = sd_ctx_new(&(sd_ctx_opts){ .threads = 3 });
    for (int path = 0; path < 4; path++)   /* vector loops, GEMMs; causal, full */
        for (int th = 1; th <= 3; th += 2) {
            const int full = path & 1;
            const sd_attn_dims d = { .t = T, .b = B, .heads = H, .dim = D, .scale = 0.3f, .threads = th,
                                     .ld_in = 3 * D, .full = full, .ctx = path < 2 ? NULL : ctx3 };
            for (int k = 0; k < 2; k++) {
                o[k] = malloc((size_t)R * D * sizeof(float));
                lse[k] = malloc((size_t)B * H * T * sizeof(float));
                dx[k] = calloc((size_t)R * 3 * D, sizeof(float));
                (k ? sd_attention_fwd : sd_attention_fwd_naive)(&d, x, x + D, x + 2 * D, o[k], lse[k], scratch);
                (k ? sd_attention_bwd : sd_attention_bwd_naive)(&d, x, x + D, x + 2 * D, o[k], lse[k], dout, dx[k],
                                                                dx[k] + D, dx[k] + 2 * D, scratch);
            }
            double e[3] = { max_rel(o[1], o[0], (size_t)R * D), max_rel(lse[1], lse[0], (size_t)B * H * T),
                            max_rel(dx[1], dx[0], (size_t)R * 3 * D) };
            CHECK_MSG(e[0] < 1e-5 && e[1] < 1e-5 && e[2] < 1e-5,
                      "attention kernels (%s, %s, %d threads) differ from the naive ones: o %.3g, lse %.3g, dqkv %.3g",
                      d.ctx ? "GEMMs" : "loops", full ? "full" : "causal", th, e[0], e[1], e[2]);
            for (int k = 0; k < 2; k++) { free(o[k]); free(lse[k]); free(dx[k]); }
        }
    sd_ctx_free(ctx3);
    free(scratch);
    free(x);
    free(dout);
    /* matmul_bias = matmul + bias_add, values and gradients (2 threads: the column sums' blocks) */
    sd_ctx *ctx = sd_ctx_new(&(sd_ctx_opts){ .threads = 2 });
    float *got[2][4];
    for (int k = 0; k < 2; k++) {
        sd_graph *g = sd_graph_new(ctx);
        sd_params *P = sd_params_new();
        sd_rng_seed(&rng, 9);
        int a = sd_params_add(P, "a", SD_SHAPE(120, 40)), w = sd_params_add(P, "w", SD_SHAPE(130, 40));
        int b = sd_params_add(P, "b", SD_SHAPE(130));
        for (int i = 0; i < 3; i++) gc_fill(P, i, &rng, 1.0f, 0.0f);
        sd_tensor *y = k ? sd_matmul_bias(g, sd_param(g, P, a), sd_param(g, P, w), sd_param(g, P, b), SD_TRANS_B)
                         : sd_bias_add(g, sd_matmul(g, sd_param(g, P, a), sd_param(g, P, w), SD_TRANS_B),
                                       sd_param(g, P, b));
        CHECK(y && !sd_backward(g, weighted_sum(g, y)));
        const float *src[4] = { y->data, sd_params_grad(P, a), sd_params_grad(P, w), sd_params_grad(P, b) };
        const size_t n[4] = { 120 * 130, 120 * 40, 130 * 40, 130 };
        for (int i = 0; i < 4; i++) {
            got[k][i] = malloc(n[i] * sizeof(float));
            memcpy(got[k][i], src[i], n[i] * sizeof(float));
        }
        for (int i = 0; k && i < 4; i++) {
            double e = max_rel(got[1][i], got[0][i], n[i]);
            CHECK_MSG(e < 1e-5, "matmul_bias: output %d differs from matmul + bias_add by %.3g", i, e);
        }
        sd_params_free(P);
        sd_graph_free(g);
    }
    for (int k = 0; k < 2; k++) for (int i = 0; i < 4; i++) free(got[k][i]);
    sd_ctx_free(ctx);
}

/* ---- Dropout: the fraction dropped, the scale of the rest, evaluation, seeding */
static void dropout_rule(sd_ctx *ctx)
{
    sd_graph *g = sd_graph_new(ctx);
    static float x[10000];
    for (int i = 0; i < 10000; i++) x[i] = 1.0f + (float)(i % 7);
    sd_tensor *xi = sd_input(g, x, SD_SHAPE(100, 100));
    sd_rng r1, r2;
    sd_rng_seed(&r1, 3);
    sd_rng_seed(&r2, 3);
    sd_tensor *y = sd_dropout(g, xi, 0.25f, &r1), *y2 = sd_dropout(g, xi, 0.25f, &r2);
    int zeros = 0, scaled = 1;
    for (int i = 0; i < 10000; i++) {
        if (y->data[i] == 0.0f) zeros++;
        else scaled &= fabsf(y->data[i] - x[i] / 0.75f) < 1e-6f * x[i];
    }
    CHECK_MSG(zeros > 2300 && zeros < 2700, "dropout p 0.25 zeroed %d of 10000", zeros);
    CHECK(scaled);
    CHECK(!memcmp(y->data, y2->data, sizeof x));   /* the same seed, the same mask */
    CHECK(sd_dropout(g, xi, 0.25f, NULL) == xi);   /* evaluation */
    CHECK(sd_dropout(g, xi, 0.0f, &r1) == xi);
    CHECK(sd_dropout(g, xi, 1.0f, &r1) == NULL && strstr(sd_last_error(), "outside"));
    sd_graph_free(g);
}

static void errors(sd_ctx *ctx)
{
    sd_graph *g = sd_graph_new(ctx);
    sd_tensor *q = sd_zeros(g, SD_SHAPE(12, 10));
    CHECK(!sd_causal_attention(g, q, q, q, 4, 3) && strstr(sd_last_error(), "3 heads do not divide the dimension 10"));
    CHECK(!sd_causal_attention(g, q, q, q, 5, 2) && strstr(sd_last_error(), "whole number"));
    CHECK(!sd_causal_attention_qkv(g, sd_zeros(g, SD_SHAPE(12, 30)), 4, 4) &&
          strstr(sd_last_error(), "4 heads do not divide the dimension 10"));
    CHECK(!sd_full_attention_qkv(g, sd_zeros(g, SD_SHAPE(12, 30)), 4, 4) &&
          strstr(sd_last_error(), "full_attention_qkv: 4 heads do not divide the dimension 10"));
    CHECK(!sd_full_attention(g, q, q, q, 5, 2) && strstr(sd_last_error(), "whole number"));
    CHECK(!sd_layer_norm(g, q, sd_zeros(g, SD_SHAPE(9)), NULL, 0) && strstr(sd_last_error(), "layer_norm"));
    CHECK(!sd_bmm(g, sd_zeros(g, SD_SHAPE(2, 3, 4)), sd_zeros(g, SD_SHAPE(2, 5, 6)), 0) &&
          strstr(sd_last_error(), "inner"));
    /* a steady state: the second identical step allocates nothing */
    for (int i = 0; i < 2; i++) {
        sd_graph_reset(g);
        sd_tensor *x = sd_zeros(g, SD_SHAPE(24, 16));
        x->requires_grad = 1;
        sd_tensor *y = sd_gelu(g, sd_layer_norm(g, x, NULL, NULL, 0));
        y = sd_causal_attention(g, y, y, y, 6, 4);
        CHECK(y && !sd_backward(g, sd_sum(g, y)));
    }
    CHECK(sd_graph_grow_count(g) == 0);
    sd_graph_free(g);
}

int main(void)
{
    sd_rng rng;
    sd_rng_seed(&rng, 2026);
    for (size_t i = 0; i < sizeof weights / sizeof weights[0]; i++) weights[i] = 2.0f * sd_rng_uniform(&rng) - 1.0f;
    char path[4096];
    const char *src = getenv("SHENDU_SOURCE");
    snprintf(path, sizeof path, "%s/tests/golden/tf_ops.st", src && *src ? src : ".");
    if (!(gold = sd_st_open(path))) {
        fprintf(stderr, "%s\n", sd_last_error());
        return 1;
    }
    sd_ctx *ctx = sd_ctx_new(&(sd_ctx_opts){ .threads = 1 });
    goldens(ctx);
    golden_adamw();
    gradients(ctx);
    dropout_rule(ctx);
    errors(ctx);
    sd_ctx_free(ctx);
    fused_vs_composed(0);
    fused_vs_composed(1);
    kernels_vs_naive();
    sd_st_close(gold);
    return check_done("test_tf_ops");
}
