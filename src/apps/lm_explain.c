/* `shendu explain lstm`: one LSTM step of a two-unit cell, gate by gate, in
 * the order the lecture's diagram (長短期記憶) is read: forget gate, input gate
 * and candidate, the new cell state, output gate and the new hidden state.
 * Every number is computed by the library's ops; the fused sd_lstm_seq op is
 * run on the same numbers as a check. */
#include "apps.h"

#include <math.h>
#include <string.h>

/* The example: x_t (2), h_{t-1} (2), c_{t-1} (2); each gate k has W_k (2, 4)
 * over [h_{t-1}, x_t] and b_k (2). Gates in PyTorch's order i, f, g, o. */
static const float ex_x[2] = { 1.0f, -0.5f }, ex_h[2] = { 0.2f, 0.4f }, ex_c[2] = { 0.8f, -0.6f };
static const float ex_w[4][2][4] = {
    { { 0.2f, -0.4f, 0.6f, -0.1f }, { 0.3f, 0.8f, 0.9f, 0.4f } },      /* i */
    { { 0.5f, 0.1f, 1.0f, 0.2f }, { -0.3f, 0.2f, -1.0f, 0.5f } },      /* f */
    { { 0.7f, 0.2f, 0.5f, -0.6f }, { -0.5f, 0.4f, 1.2f, 0.3f } },      /* g */
    { { 0.1f, 0.3f, 0.8f, 0.2f }, { 0.6f, -0.2f, 0.4f, -0.7f } },      /* o */
};
static const float ex_b[4][2] = { { 0.0f, 0.1f }, { 1.0f, -0.5f }, { 0.0f, 0.0f }, { 0.2f, 0.0f } };

static void vec(FILE *f, const float *v)
{
    fprintf(f, "[%8.4f %8.4f ]", v[0], v[1]);
}

/* z = W_k [h, x] + b_k, and the gate act(z), through the library's ops. */
static sd_tensor *gate(sd_graph *g, sd_tensor *hx, int k, int tanh_gate, sd_tensor **z)
{
    *z = sd_bias_add(g, sd_matmul(g, hx, sd_input(g, &ex_w[k][0][0], SD_SHAPE(2, 4)), SD_TRANS_B),
                     sd_input(g, ex_b[k], SD_SHAPE(2)));
    return tanh_gate ? sd_tanh(g, *z) : sd_sigmoid(g, *z);
}

static void show_gate(FILE *f, const char *title, const char *zh, const char *sym, const char *fn, int k,
                      const sd_tensor *z, const sd_tensor *a, const char *why)
{
    fprintf(f, "%s%s%s\n", title, *zh ? "  " : "", zh);
    for (int r = 0; r < 2; r++)
        fprintf(f, "    W_%s row %d = [%5.2f %5.2f | %5.2f %5.2f ]   b_%s[%d] = %5.2f\n", sym, r + 1, ex_w[k][r][0],
                ex_w[k][r][1], ex_w[k][r][2], ex_w[k][r][3], sym, r + 1, ex_b[k][r]);
    fprintf(f, "    %s = %s(W_%s [h_{t-1}, x_t] + b_%s) = %s(", sym, fn, sym, sym, fn);
    vec(f, z->data);
    fprintf(f, ") = ");
    vec(f, a->data);
    fprintf(f, "\n    %s\n\n", why);
}

int sd_app_explain_lstm(FILE *f)
{
    sd_ctx *ctx = sd_ctx_new(&(sd_ctx_opts){ .threads = 1 });
    sd_graph *g = ctx ? sd_graph_new(ctx) : NULL;
    int rc = -1;
    if (!g) goto done;
    sd_tensor *x = sd_input(g, ex_x, SD_SHAPE(1, 2)), *h = sd_input(g, ex_h, SD_SHAPE(1, 2));
    sd_tensor *c = sd_input(g, ex_c, SD_SHAPE(1, 2));
    sd_tensor *hx = sd_concat(g, h, x, 1), *z[4];
    sd_tensor *i = gate(g, hx, 0, 0, &z[0]), *fg = gate(g, hx, 1, 0, &z[1]);
    sd_tensor *gg = gate(g, hx, 2, 1, &z[2]), *o = gate(g, hx, 3, 0, &z[3]);
    sd_tensor *keep = sd_mul(g, fg, c), *store = sd_mul(g, i, gg);
    sd_tensor *c1 = sd_add(g, keep, store), *tc = sd_tanh(g, c1), *h1 = sd_mul(g, o, tc);
    if (!h1) goto done;

    fprintf(f, "One LSTM step (長短期記憶), 2 inputs and 2 hidden units:\n"
               "(h_t, c_t) = LSTM(x_t, h_{t-1}, c_{t-1})\n\n");
    fprintf(f, "  x_t     = "); vec(f, ex_x); fprintf(f, "   輸入資料  input data\n");
    fprintf(f, "  h_{t-1} = "); vec(f, ex_h); fprintf(f, "   隱藏狀態  hidden state: short-term memory\n");
    fprintf(f, "  c_{t-1} = "); vec(f, ex_c); fprintf(f, "   記憶單元  cell state: long-term memory\n\n");
    fprintf(f, "Each gate is a one-layer network over [h_{t-1}, x_t]: three with σ (values in 0..1,\n"
               "how much to let through) and one with tanh (values in -1..1, new content).\n\n");
    show_gate(f, "1. forget gate", "遺忘閘", "f", "σ", 1, z[1], fg, "how much of each entry of c_{t-1} to keep");
    show_gate(f, "2. input gate", "輸入閘", "i", "σ", 0, z[0], i, "how much of the candidate to write");
    show_gate(f, "   candidate", "", "g", "tanh", 2, z[2], gg, "the new content, from the input and the short-term memory");
    fprintf(f, "3. new cell state  記憶單元 (× is element-wise, + adds)\n");
    fprintf(f, "    f × c_{t-1} = "); vec(f, keep->data); fprintf(f, "   what is kept\n");
    fprintf(f, "    i × g       = "); vec(f, store->data); fprintf(f, "   what is written\n");
    fprintf(f, "    c_t = f × c_{t-1} + i × g = "); vec(f, c1->data); fprintf(f, "\n\n");
    show_gate(f, "4. output gate", "輸出閘", "o", "σ", 3, z[3], o, "how much of the long-term memory to load into h_t");
    fprintf(f, "5. new hidden state  隱藏狀態\n");
    fprintf(f, "    tanh(c_t) = "); vec(f, tc->data); fprintf(f, "\n");
    fprintf(f, "    h_t = o × tanh(c_t) = "); vec(f, h1->data); fprintf(f, "\n\n");

    /* The same step through the fused op (PyTorch's layout: W_ih (8,2), W_hh (8,2)). */
    float wih[8 * 2], whh[8 * 2], bias[8], st[4] = { ex_h[0], ex_h[1], ex_c[0], ex_c[1] }, out[4];
    for (int k = 0; k < 4; k++)
        for (int r = 0; r < 2; r++) {
            whh[(k * 2 + r) * 2 + 0] = ex_w[k][r][0];
            whh[(k * 2 + r) * 2 + 1] = ex_w[k][r][1];
            wih[(k * 2 + r) * 2 + 0] = ex_w[k][r][2];
            wih[(k * 2 + r) * 2 + 1] = ex_w[k][r][3];
            bias[k * 2 + r] = ex_b[k][r];
        }
    sd_tensor *xp = sd_matmul(g, x, sd_input(g, wih, SD_SHAPE(8, 2)), SD_TRANS_B);
    if (!sd_lstm_seq(g, xp, sd_input(g, whh, SD_SHAPE(8, 2)), sd_input(g, bias, SD_SHAPE(8)), 1, NULL, st, out))
        goto done;
    double diff = 0;
    for (int k = 0; k < 2; k++)
        diff = fmax(diff, fmax(fabs(out[k] - h1->data[k]), fabs(out[2 + k] - c1->data[k])));
    fprintf(f, "The fused op (sd_lstm_seq) gives the same h_t and c_t (largest difference %.1g).\n", diff);
    fprintf(f, "A simple RNN has only h_t = tanh(W [h_{t-1}, x_t] + b): with no c_t to carry it,\n"
               "old information fades step by step (金魚腦的 RNN).\n");
    rc = 0;
done:
    sd_graph_free(g);
    sd_ctx_free(ctx);
    return rc;
}
