/* A decoder-only, pre-norm Transformer (shendu/transformer.h): the training
 * forward composed from the engine's ops, and the one-token step with a
 * key/value cache for sampling, in plain loops over the same weights. */
#include "shendu/transformer.h"
#include "shendu/kernels.h"
#include "kernels/vmath.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_LAYERS 64

typedef struct block {
    int ln1_w, ln1_b, qkv_w, qkv_b, proj_w, proj_b, ln2_w, ln2_b, fc_w, fc_b, fc2_w, fc2_b;
} block;

struct sd_transformer {
    sd_params *P;
    sd_transformer_opts o;
    int tok, pos, lnf_w, lnf_b;
    block b[MAX_LAYERS];
    int32_t *positions;    /* row r's position r / B, grown to the largest T·B seen (then no malloc) */
    int npositions;
};

void sd_transformer_free(sd_transformer *m)
{
    if (!m) return;
    free(m->positions);
    free(m);
}
const sd_transformer_opts *sd_transformer_options(const sd_transformer *m) { return &m->o; }

static int add(sd_params *P, int *id, const char *fmt, int layer, sd_shape s)
{
    char name[64];
    snprintf(name, sizeof name, fmt, layer);
    return (*id = sd_params_add(P, name, s)) < 0 ? -1 : 0;
}

static void fill_normal(sd_params *P, int id, float std, sd_rng *rng)
{
    float *w = sd_params_data(P, id);
    for (size_t i = 0, n = sd_shape_numel(sd_params_shape(P, id)); i < n; i++) w[i] = std * sd_rng_normal(rng);
}

static void fill_const(sd_params *P, int id, float v)
{
    float *w = sd_params_data(P, id);
    for (size_t i = 0, n = sd_shape_numel(sd_params_shape(P, id)); i < n; i++) w[i] = v;
}

sd_transformer *sd_transformer_new(sd_params *P, const sd_transformer_opts *o, sd_rng *rng)
{
    if (o->vocab < 1 || o->dim < 1 || o->layers < 1 || o->layers > MAX_LAYERS || o->heads < 1 || o->context < 1) {
        sd_error("transformer: sizes must be positive (vocab %d, dim %d, layers %d (at most %d), heads %d, context %d)",
                 o->vocab, o->dim, o->layers, MAX_LAYERS, o->heads, o->context);
        return NULL;
    }
    if (o->dim % o->heads) {
        sd_error("transformer: %d heads do not divide the dimension %d", o->heads, o->dim);
        return NULL;
    }
    if (!(o->dropout >= 0.0f && o->dropout < 1.0f)) {
        sd_error("transformer: dropout %g is outside [0, 1)", o->dropout);
        return NULL;
    }
    sd_transformer *m = calloc(1, sizeof *m);
    if (!m) { sd_error("out of memory"); return NULL; }
    m->P = P;
    m->o = *o;
    const int D = o->dim, L = o->layers;
    int bad = add(P, &m->tok, "tok_emb.weight", 0, SD_SHAPE(o->vocab, D)) ||
              add(P, &m->pos, "pos_emb.weight", 0, SD_SHAPE(o->context, D));
    for (int l = 0; l < L && !bad; l++) {
        block *b = &m->b[l];
        bad = add(P, &b->ln1_w, "blocks.%d.ln1.weight", l, SD_SHAPE(D)) ||
              add(P, &b->ln1_b, "blocks.%d.ln1.bias", l, SD_SHAPE(D)) ||
              add(P, &b->qkv_w, "blocks.%d.attn.qkv.weight", l, SD_SHAPE(3 * D, D)) ||
              add(P, &b->qkv_b, "blocks.%d.attn.qkv.bias", l, SD_SHAPE(3 * D)) ||
              add(P, &b->proj_w, "blocks.%d.attn.proj.weight", l, SD_SHAPE(D, D)) ||
              add(P, &b->proj_b, "blocks.%d.attn.proj.bias", l, SD_SHAPE(D)) ||
              add(P, &b->ln2_w, "blocks.%d.ln2.weight", l, SD_SHAPE(D)) ||
              add(P, &b->ln2_b, "blocks.%d.ln2.bias", l, SD_SHAPE(D)) ||
              add(P, &b->fc_w, "blocks.%d.mlp.fc.weight", l, SD_SHAPE(4 * D, D)) ||
              add(P, &b->fc_b, "blocks.%d.mlp.fc.bias", l, SD_SHAPE(4 * D)) ||
              add(P, &b->fc2_w, "blocks.%d.mlp.proj.weight", l, SD_SHAPE(D, 4 * D)) ||
              add(P, &b->fc2_b, "blocks.%d.mlp.proj.bias", l, SD_SHAPE(D));
    }
    if (bad || add(P, &m->lnf_w, "ln_f.weight", 0, SD_SHAPE(D)) || add(P, &m->lnf_b, "ln_f.bias", 0, SD_SHAPE(D))) {
        free(m);
        return NULL;
    }
    /* values only after the last add (adding may move the buffer); biases stay 0 */
    const float std = 0.02f, res_std = 0.02f / sqrtf(2.0f * L);
    fill_normal(P, m->tok, std, rng);
    fill_normal(P, m->pos, std, rng);
    for (int l = 0; l < L; l++) {
        block *b = &m->b[l];
        fill_const(P, b->ln1_w, 1.0f);
        fill_normal(P, b->qkv_w, std, rng);
        fill_normal(P, b->proj_w, res_std, rng);
        fill_const(P, b->ln2_w, 1.0f);
        fill_normal(P, b->fc_w, std, rng);
        fill_normal(P, b->fc2_w, res_std, rng);
    }
    fill_const(P, m->lnf_w, 1.0f);
    return m;
}

/* x (N, in) · W (out, in)ᵀ + b */
static sd_tensor *linear(sd_graph *g, sd_params *P, sd_tensor *x, int w, int b)
{
    return sd_matmul_bias(g, x, sd_param(g, P, w), sd_param(g, P, b), SD_TRANS_B);
}

sd_tensor *sd_transformer_forward(sd_graph *g, sd_transformer *m, const int32_t *idx, int T, int B,
                                  sd_rng *dropout_rng)
{
    sd_params *P = m->P;
    const int R = T * B;
    const float p = m->o.dropout;
    if (T < 1 || B < 1 || T > m->o.context) {
        sd_error("transformer: a sequence of %d steps, but the model has %d positions", T, m->o.context);
        return NULL;
    }
    if (R > m->npositions) {
        int32_t *p2 = realloc(m->positions, (size_t)R * sizeof *p2);
        if (!p2) { sd_error("out of memory"); return NULL; }
        m->positions = p2;
        m->npositions = R;
    }
    int32_t *pos = m->positions;   /* gather_rows copies it */
    for (int r = 0; r < R; r++) pos[r] = r / B;
    sd_tensor *tok = sd_param(g, P, m->tok);
    sd_tensor *x = sd_add(g, sd_gather_rows(g, tok, idx, R), sd_gather_rows(g, sd_param(g, P, m->pos), pos, R));
    x = sd_dropout(g, x, p, dropout_rng);
    for (int l = 0; l < m->o.layers; l++) {
        const block *b = &m->b[l];
        sd_tensor *h = sd_layer_norm(g, x, sd_param(g, P, b->ln1_w), sd_param(g, P, b->ln1_b), 1e-5f);
        sd_tensor *qkv = linear(g, P, h, b->qkv_w, b->qkv_b);                                    /* (R, 3D) */
        sd_tensor *a = sd_causal_attention_qkv(g, qkv, T, m->o.heads);                          /* (R, D) */
        x = sd_add(g, x, sd_dropout(g, linear(g, P, a, b->proj_w, b->proj_b), p, dropout_rng));
        h = sd_layer_norm(g, x, sd_param(g, P, b->ln2_w), sd_param(g, P, b->ln2_b), 1e-5f);
        h = sd_gelu(g, linear(g, P, h, b->fc_w, b->fc_b));                                       /* (R, 4D) */
        x = sd_add(g, x, sd_dropout(g, linear(g, P, h, b->fc2_w, b->fc2_b), p, dropout_rng));
    }
    x = sd_layer_norm(g, x, sd_param(g, P, m->lnf_w), sd_param(g, P, m->lnf_b), 1e-5f);
    return sd_matmul(g, x, tok, SD_TRANS_B);                                                       /* (R, V) */
}

/* ---- Inference with a key/value cache */

struct sd_kv_cache {
    int n, context, layers, dim;
    float *k, *v;                  /* (layers, context, dim) */
    float *x, *h, *qkv, *a, *f;    /* one position's activations */
    float *scores;                 /* (context) */
};

sd_kv_cache *sd_kv_cache_new(const sd_transformer *m)
{
    sd_kv_cache *c = calloc(1, sizeof *c);
    if (!c) { sd_error("out of memory"); return NULL; }
    const int C = m->o.context, L = m->o.layers, D = m->o.dim;
    *c = (sd_kv_cache){ .context = C, .layers = L, .dim = D };
    c->k = malloc((size_t)L * C * D * sizeof(float));
    c->v = malloc((size_t)L * C * D * sizeof(float));
    c->x = malloc((size_t)D * sizeof(float));
    c->h = malloc((size_t)D * sizeof(float));
    c->qkv = malloc((size_t)3 * D * sizeof(float));
    c->a = malloc((size_t)D * sizeof(float));
    c->f = malloc((size_t)4 * D * sizeof(float));
    c->scores = malloc((size_t)C * sizeof(float));
    if (!c->k || !c->v || !c->x || !c->h || !c->qkv || !c->a || !c->f || !c->scores) {
        sd_kv_cache_free(c);
        sd_error("out of memory: a key/value cache of %d positions", C);
        return NULL;
    }
    return c;
}

void sd_kv_cache_free(sd_kv_cache *c)
{
    if (!c) return;
    free(c->k);
    free(c->v);
    free(c->x);
    free(c->h);
    free(c->qkv);
    free(c->a);
    free(c->f);
    free(c->scores);
    free(c);
}

void sd_kv_cache_reset(sd_kv_cache *c) { c->n = 0; }
int sd_kv_cache_len(const sd_kv_cache *c) { return c->n; }

/* y (out) = W (out, in) x (in) + b (b may be NULL); four rows at a time, so one
 * pass over x feeds four sums (the step is bound by these products) */
static void matvec(int out, int in, const float *restrict W, const float *restrict x, const float *restrict b,
                   float *restrict y)
{
    int o = 0;
    for (; o + 4 <= out; o += 4) {
        const float *w0 = W + (size_t)o * in, *w1 = w0 + in, *w2 = w1 + in, *w3 = w2 + in;
        float s0 = 0.0f, s1 = 0.0f, s2 = 0.0f, s3 = 0.0f;
        #pragma omp simd reduction(+:s0, s1, s2, s3)
        for (int i = 0; i < in; i++) {
            s0 += w0[i] * x[i];
            s1 += w1[i] * x[i];
            s2 += w2[i] * x[i];
            s3 += w3[i] * x[i];
        }
        y[o] = s0 + (b ? b[o] : 0.0f);
        y[o + 1] = s1 + (b ? b[o + 1] : 0.0f);
        y[o + 2] = s2 + (b ? b[o + 2] : 0.0f);
        y[o + 3] = s3 + (b ? b[o + 3] : 0.0f);
    }
    for (; o < out; o++) {
        const float *w = W + (size_t)o * in;
        float s = 0.0f;
        #pragma omp simd reduction(+:s)
        for (int i = 0; i < in; i++) s += w[i] * x[i];
        y[o] = s + (b ? b[o] : 0.0f);
    }
}

/* y = LN(x) with gain g and bias b, as the op computes it */
static void layer_norm(int D, const float *x, const float *g, const float *b, float *y)
{
    float s = 0.0f, v = 0.0f;
    for (int i = 0; i < D; i++) s += x[i];
    const float mu = s / D;
    for (int i = 0; i < D; i++) v += (x[i] - mu) * (x[i] - mu);
    const float r = 1.0f / sqrtf(v / D + 1e-5f);
    for (int i = 0; i < D; i++) y[i] = g[i] * ((x[i] - mu) * r) + b[i];
}

/* att: NULL, or (layers, heads, context) floats receiving this position's weights */
static int step(sd_transformer *m, sd_kv_cache *c, int32_t token, float *logits, float *att)
{
    sd_params *P = m->P;
    const int D = m->o.dim, H = m->o.heads, dh = D / H, C = m->o.context, n = c->n;
    if (c->context != C || c->dim != D || c->layers != m->o.layers)
        return sd_error("transformer step: the cache was made for another model");
    if (n >= C)
        return sd_error("transformer step: the context is full (the model has %d positions)", C);
    if (token < 0 || token >= m->o.vocab)
        return sd_error("transformer step: token %d is outside the vocabulary [0, %d)", token, m->o.vocab);
    const float *te = sd_params_data(P, m->tok), *pe = sd_params_data(P, m->pos);
    for (int i = 0; i < D; i++) c->x[i] = te[(size_t)token * D + i] + pe[(size_t)n * D + i];
    for (int l = 0; l < m->o.layers; l++) {
        const block *b = &m->b[l];
        float *kc = c->k + (size_t)l * C * D, *vc = c->v + (size_t)l * C * D;
        layer_norm(D, c->x, sd_params_data(P, b->ln1_w), sd_params_data(P, b->ln1_b), c->h);
        matvec(3 * D, D, sd_params_data(P, b->qkv_w), c->h, sd_params_data(P, b->qkv_b), c->qkv);
        memcpy(kc + (size_t)n * D, c->qkv + D, (size_t)D * sizeof(float));
        memcpy(vc + (size_t)n * D, c->qkv + 2 * D, (size_t)D * sizeof(float));
        const float scale = 1.0f / sqrtf((float)dh);
        if (att) {   /* the weights themselves, head by head, for pictures */
            for (int h = 0; h < H; h++) {
                float *row = att + ((size_t)l * H + h) * C, mx = -INFINITY, sum = 0.0f;
                for (int u = 0; u <= n; u++) {
                    float s = 0.0f;
                    for (int j = 0; j < dh; j++) s += c->qkv[h * dh + j] * kc[(size_t)u * D + h * dh + j];
                    row[u] = scale * s;
                    if (row[u] > mx) mx = row[u];
                }
                for (int u = 0; u <= n; u++) sum += row[u] = expf(row[u] - mx);
                for (int u = 0; u <= n; u++) row[u] /= sum;
            }
        }
        sd_attention_step(n + 1, H, D, scale, c->qkv, kc, vc, c->a, c->scores);
        matvec(D, D, sd_params_data(P, b->proj_w), c->a, sd_params_data(P, b->proj_b), c->h);
        for (int i = 0; i < D; i++) c->x[i] += c->h[i];
        layer_norm(D, c->x, sd_params_data(P, b->ln2_w), sd_params_data(P, b->ln2_b), c->h);
        matvec(4 * D, D, sd_params_data(P, b->fc_w), c->h, sd_params_data(P, b->fc_b), c->f);
        #pragma omp simd
        for (int i = 0; i < 4 * D; i++) c->f[i] *= sd_vphif(c->f[i]);   /* GELU, as the op computes it */
        matvec(D, 4 * D, sd_params_data(P, b->fc2_w), c->f, sd_params_data(P, b->fc2_b), c->h);
        for (int i = 0; i < D; i++) c->x[i] += c->h[i];
    }
    layer_norm(D, c->x, sd_params_data(P, m->lnf_w), sd_params_data(P, m->lnf_b), c->h);
    if (logits) matvec(m->o.vocab, D, te, c->h, NULL, logits);
    c->n = n + 1;
    return 0;
}

int sd_transformer_step(sd_transformer *m, sd_kv_cache *c, int32_t token, float *logits)
{
    return step(m, c, token, logits, NULL);
}

int sd_transformer_attention_map(sd_transformer *m, sd_ctx *ctx, const int32_t *idx, int T, float *att)
{
    (void)ctx;
    const int L = m->o.layers, H = m->o.heads, C = m->o.context;
    if (T < 1 || T > C) return sd_error("attention map: %d steps, but the model has %d positions", T, C);
    sd_kv_cache *c = sd_kv_cache_new(m);
    float *row = malloc((size_t)L * H * C * sizeof *row);
    int rc = -1;
    if (!c || !row) { if (c) sd_error("out of memory"); goto done; }
    memset(att, 0, (size_t)L * H * T * T * sizeof *att);
    for (int t = 0; t < T; t++) {
        if (step(m, c, idx[t], NULL, row)) goto done;
        for (int lh = 0; lh < L * H; lh++)
            memcpy(att + ((size_t)lh * T + t) * T, row + (size_t)lh * C, (size_t)(t + 1) * sizeof *att);
    }
    rc = 0;
done:
    free(row);
    sd_kv_cache_free(c);
    return rc;
}
