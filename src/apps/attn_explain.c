/* `shendu explain attention`: causal scaled-dot-product attention of one head
 * over four tokens, step by step with the numbers (queries, keys, values, the
 * scores, the causal mask, the softmax, the weighted sum), every number made
 * by the library's ops and the fused op run on the same numbers as a check;
 * and `explain attention MODEL --prime TEXT --out PNG`: the attention weights
 * of every layer and head of a trained transformer LM as a heatmap. */
#include "apps.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* Four tokens of "深度學習" (deep learning), each embedded in 3 numbers; one head of size 2. */
static const char *const ex_tok[4] = { "深", "度", "學", "習" };
static const float ex_x[4][3] = { { 1.0f, 0.0f, 1.0f }, { 0.0f, 2.0f, 0.0f }, { 1.0f, 1.0f, 0.0f },
                                  { 0.0f, 1.0f, 1.0f } };
static const float ex_wq[3][2] = { { 1.0f, 0.0f }, { 0.0f, 1.0f }, { 1.0f, 1.0f } };
static const float ex_wk[3][2] = { { 0.0f, 1.0f }, { 1.0f, 0.0f }, { 1.0f, 0.0f } };
static const float ex_wv[3][2] = { { 1.0f, 2.0f }, { 0.0f, 1.0f }, { 2.0f, 0.0f } };

static void matrix(FILE *f, const char *name, const float *a, int rows, int cols, int masked)
{
    fprintf(f, "  %s\n", name);
    for (int r = 0; r < rows; r++) {
        fprintf(f, "    %s  [", ex_tok[r]);
        for (int c = 0; c < cols; c++) {
            if (masked && c > r) fprintf(f, "     -inf");
            else fprintf(f, " %8.4f", a[r * cols + c]);
        }
        fprintf(f, " ]\n");
    }
    fputc('\n', f);
}

int sd_app_explain_attention(FILE *f)
{
    sd_ctx *ctx = sd_ctx_new(&(sd_ctx_opts){ .threads = 1 });
    sd_graph *g = ctx ? sd_graph_new(ctx) : NULL;
    int rc = -1;
    if (!g) goto done;
    sd_graph_set_grad(g, 0);
    sd_tensor *x = sd_input(g, &ex_x[0][0], SD_SHAPE(4, 3));
    sd_tensor *q = sd_matmul(g, x, sd_input(g, &ex_wq[0][0], SD_SHAPE(3, 2)), 0);
    sd_tensor *k = sd_matmul(g, x, sd_input(g, &ex_wk[0][0], SD_SHAPE(3, 2)), 0);
    sd_tensor *v = sd_matmul(g, x, sd_input(g, &ex_wv[0][0], SD_SHAPE(3, 2)), 0);
    sd_tensor *s = sd_scale(g, sd_matmul(g, q, k, SD_TRANS_B), 1.0f / sqrtf(2.0f));     /* (4, 4) */
    sd_tensor *mask = sd_zeros(g, SD_SHAPE(4, 4));
    if (!mask) goto done;
    for (int r = 0; r < 4; r++)
        for (int c = r + 1; c < 4; c++) mask->data[r * 4 + c] = -1e30f;
    sd_tensor *p = sd_softmax(g, sd_add(g, s, mask));
    sd_tensor *o = sd_matmul(g, p, v, 0);
    sd_tensor *fused = sd_causal_attention(g, q, k, v, 4, 1);
    if (!o || !fused) goto done;
    fprintf(f, "Causal self-attention, one head, four tokens: %s %s %s %s (深度學習, deep learning)\n\n",
            ex_tok[0], ex_tok[1], ex_tok[2], ex_tok[3]);
    matrix(f, "X: each token's embedding (4 tokens x 3 numbers)", &ex_x[0][0], 4, 3, 0);
    fprintf(f, "  Three learnt matrices (3 x 2) make each token's query, key and value:\n"
               "    W_q = [1 0; 0 1; 1 1]   W_k = [0 1; 1 0; 1 0]   W_v = [1 2; 0 1; 2 0]\n\n");
    matrix(f, "Q = X W_q   (what each token is looking for)", q->data, 4, 2, 0);
    matrix(f, "K = X W_k   (what each token offers to be found by)", k->data, 4, 2, 0);
    matrix(f, "V = X W_v   (what each token passes on when it is attended to)", v->data, 4, 2, 0);
    matrix(f, "scores = Q K^T / sqrt(2)   (row i, column j: how well query i matches key j)", s->data, 4, 4, 0);
    matrix(f, "causal mask: a token may not look ahead, so scores above the diagonal become -inf", s->data, 4, 4, 1);
    matrix(f, "softmax of each row: attention weights, each row sums to 1 (e^-inf = 0)", p->data, 4, 4, 0);
    fprintf(f, "  weighted sum: output_i = sum_j weight_ij V_j, e.g. for %s:\n    ", ex_tok[2]);
    for (int j = 0; j <= 2; j++)
        fprintf(f, "%s%.4f x [%.1f %.1f]", j ? " + " : "", p->data[2 * 4 + j], v->data[j * 2], v->data[j * 2 + 1]);
    fprintf(f, " = [%.4f %.4f]\n\n", o->data[4], o->data[5]);
    matrix(f, "output = weights V   (each token's new representation, mixed from itself and its past)", o->data, 4,
           2, 0);
    double diff = 0.0;
    for (int i = 0; i < 8; i++) diff = fmax(diff, fabs(o->data[i] - fused->data[i]));
    fprintf(f, "The fused op (sd_causal_attention, which never stores the 4 x 4 weights) gives the same output "
               "(largest difference %.1g).\n", diff);
    fprintf(f, "A Transformer block runs several such heads side by side on slices of the width, adds their\n"
               "projected outputs back onto X, then a small MLP; an LM stacks blocks and reads the next token\n"
               "off the last row. Unlike an LSTM, every position is computed at once: no step waits for the last.\n");
    rc = 0;
done:
    sd_graph_free(g);
    sd_ctx_free(ctx);
    return rc;
}

/* A colour for a weight in [0, 1]: white through orange to dark red. */
static void heat(float w, uint8_t *px)
{
    float t = w < 0.0f ? 0.0f : w > 1.0f ? 1.0f : sqrtf(w);   /* sqrt: small weights stay visible */
    px[0] = (uint8_t)(255.0f - 115.0f * t);
    px[1] = (uint8_t)(255.0f - 235.0f * t);
    px[2] = (uint8_t)(255.0f - 235.0f * t);
}

int sd_app_explain_attention_model(const char *model_path, const char *prime, const char *out_png, FILE *f)
{
    sd_lm *m = sd_lm_load(model_path);
    if (!m) return -1;
    int rc = -1;
    float *att = NULL;
    int32_t *idx = NULL;
    sd_image im = { 0 };
    sd_transformer *tf = sd_lm_transformer(m);
    if (!tf) {
        sd_error("%s is an %s language model, not a transformer: it has no attention to draw", model_path,
                 sd_cell_name(sd_lm_cell(m)));
        goto done;
    }
    const sd_transformer_opts *o = sd_transformer_options(tf);
    const size_t n = strlen(prime);
    if (n < 1) { sd_error("the prime text is empty"); goto done; }
    if (n > (size_t)o->context) {
        sd_error("the prime is %zu characters, longer than the model's context of %d positions", n, o->context);
        goto done;
    }
    const int T = (int)n, L = o->layers, H = o->heads;
    idx = malloc(n * sizeof *idx);
    att = malloc((size_t)L * H * T * T * sizeof *att);
    if (!idx || !att) { sd_error("out of memory"); goto done; }
    if (sd_vocab_encode(sd_lm_vocab(m), (const uint8_t *)prime, n, idx)) { sd_error_prefix("prime"); goto done; }
    if (sd_transformer_attention_map(tf, NULL, idx, T, att)) goto done;
    /* a grid: layers down, heads across; each cell T x T squares of `cell` pixels */
    const int cell = T >= 64 ? 2 : T >= 16 ? 6 : 16, gap = 8, side = T * cell;
    const int W = H * side + (H + 1) * gap, Hh = L * side + (L + 1) * gap;
    if (sd_image_alloc(&im, W, Hh, 3, 200)) goto done;
    for (int l = 0; l < L; l++)
        for (int h = 0; h < H; h++) {
            const float *a = att + ((size_t)l * H + h) * T * T;
            const int x0 = gap + h * (side + gap), y0 = gap + l * (side + gap);
            for (int y = 0; y < side; y++)
                for (int x = 0; x < side; x++) {
                    const int t = y / cell, u = x / cell;
                    uint8_t *px = im.px + ((size_t)(y0 + y) * W + x0 + x) * 3;
                    if (u > t) px[0] = px[1] = px[2] = 235;   /* masked: the future */
                    else heat(a[t * T + u], px);
                }
        }
    if (sd_image_save_png(out_png, &im)) goto done;
    fprintf(f, "attention of %d layers x %d heads over \"%s\" (%d characters): %s (%d x %d)\n", L, H, prime, T,
            out_png, W, Hh);
    fprintf(f, "rows: layers 1..%d top to bottom; columns: heads 1..%d; in each square row t is the character\n"
               "being predicted from, column u the character it looks at (grey: the masked future)\n", L, H);
    /* what the last character attends to most, per head */
    for (int l = 0; l < L; l++) {
        fprintf(f, "  layer %d, last character '%c' looks most at:", l + 1, prime[T - 1]);
        for (int h = 0; h < H; h++) {
            const float *row = att + (((size_t)l * H + h) * T + (T - 1)) * T;
            int best = 0;
            for (int u = 1; u < T; u++) if (row[u] > row[best]) best = u;
            fprintf(f, "  h%d '%c' (%d, %.2f)", h + 1, prime[best] == '\n' ? ' ' : prime[best], best, row[best]);
        }
        fputc('\n', f);
    }
    rc = 0;
done:
    sd_image_free(&im);
    free(att);
    free(idx);
    sd_lm_free(m);
    return rc;
}
