/* `shendu export MODEL --onnx OUT`: any model file the CLI writes, as ONNX.
 *
 * Sequential models (classifiers, GAN generators, DQN agents) go through
 * sd_onnx_save_model (src/io/onnx.c). The character-level language model is
 * one graph over a whole sequence that also takes and gives the recurrent
 * state, so a runtime can feed it one character at a time:
 *   tokens (seq, batch) int64 vocabulary indices (metadata "vocab": the bytes)
 *   h0 (layers, batch, H) [, c0 for the LSTM]
 *   -> logits (seq, batch, V), probs = softmax(logits), h_n [, c_n]
 * Embedding = Gather; each layer one ONNX LSTM (or RNN) node; the output layer
 * MatMul + Add. PyTorch's (and shendu's) LSTM weights stack the gates as
 * i, f, g, o; ONNX's LSTM wants i, o, f, c: the blocks are reordered.
 * A Transformer LM takes the tokens only and gives logits and probs (below). */
#include "apps.h"
#include "apps/diffusion_app.h"
#include "io/onnx_pb.h"
#include "shendu/onnx.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* torch gate block -> ONNX position: ONNX block j holds torch block order[j] */
static const int lstm_order[4] = { 0, 3, 1, 2 };

/* W (G·H, cols) with its gate blocks reordered into dst. */
static void reorder_gates(float *dst, const float *src, int G, int H, int cols)
{
    for (int j = 0; j < G; j++) {
        int t = G == 4 ? lstm_order[j] : j;
        memcpy(dst + (size_t)j * H * cols, src + (size_t)t * H * cols, (size_t)H * cols * sizeof *dst);
    }
}

/* ---- The Transformer LM: the same tokens in, logits and probs out (no state:
 * a runtime feeds the whole window, at most `context` steps). Per block, with
 * x (seq, batch, D):
 *   h = LayerNormalization(x); q|k|v = Split(h · Wqkvᵀ + b), each Reshape'd to
 *   (seq, batch, H, dh) and Transpose'd to (batch, H, seq, dh) (k: (batch, H, dh, seq));
 *   p = Softmax(q k · 1/√dh + mask[:seq, :seq]) (mask: −1e30 above the diagonal);
 *   x += (p v back to (seq, batch, D)) · Wprojᵀ + b;
 *   x += GELU(LayerNormalization(x) · Wfcᵀ + b) · Wfc2ᵀ + b, GELU = x/2 · (1 + erf(x/√2)).
 * Positions: pos_emb.weight[:seq] added to every sequence; the output layer is
 * the token embedding (tied): logits = LayerNormalization(x) · tok_embᵀ. */

static void layer_norm_node(sd_onnx *o, sd_params *P, const char *name, const char *x, const char *out, int *bad)
{
    char w[96], b[96];
    snprintf(w, sizeof w, "%s.weight", name);
    snprintf(b, sizeof b, "%s.bias", name);
    const int wi = sd_params_find(P, w), bi = sd_params_find(P, b);
    if (wi < 0 || bi < 0) { *bad = 1; return; }
    const int64_t D = sd_params_shape(P, wi).d[0];
    sd_onnx_init_f32(o, w, sd_params_data(P, wi), &D, 1);
    sd_onnx_init_f32(o, b, sd_params_data(P, bi), &D, 1);
    size_t n = sd_onnx_node(o, "LayerNormalization", (const char *[]){ x, w, b }, 3, (const char *[]){ out }, 1);
    sd_onnx_attr_int(o, "axis", -1);
    sd_onnx_attr_float(o, "epsilon", 1e-5f);
    sd_onnx_node_end(o, n);
}

static int transformer_save_onnx(sd_lm *lm, const char *path)
{
    const sd_transformer_opts *to = sd_transformer_options(sd_lm_transformer(lm));
    sd_params *P = sd_lm_params(lm);
    const sd_vocab *v = sd_lm_vocab(lm);
    const int D = to->dim, H = to->heads, L = to->layers, C = to->context, V = v->n, dh = D / H;
    float *tmp = malloc((size_t)(4 * D > C ? 4 * D : C) * (4 * D > C ? 4 * D : C) * sizeof *tmp);
    if (!tmp) return sd_error("out of memory");
    sd_onnx o;
    sd_onnx_begin(&o, "shendu_char_transformer", "character-level language model (decoder-only Transformer)");
    int64_t tok_dims[2] = { -2, -1 }, out_dims[3] = { -2, -1, V };
    sd_onnx_io(&o, 0, "tokens", SD_ONNX_INT64, tok_dims, 2);

    int bad = 0;
    const int te = sd_params_find(P, "tok_emb.weight"), pe = sd_params_find(P, "pos_emb.weight");
    if (te < 0 || pe < 0) { free(tmp); sd_onnx_discard(&o); return sd_error("ONNX export: the model has no embeddings"); }
    sd_onnx_init_f32(&o, "tok_emb.weight", sd_params_data(P, te), (int64_t[]){ V, D }, 2);
    sd_onnx_init_f32(&o, "pos_emb.weight", sd_params_data(P, pe), (int64_t[]){ C, D }, 2);
    /* constants */
    const int64_t zero = 0, one = 1, zero2[2] = { 0, 0 }, axes01[2] = { 0, 1 };
    const int64_t heads_shape[4] = { 0, 0, H, dh }, model_shape[3] = { 0, 0, D }, split3[3] = { D, D, D };
    sd_onnx_init_i64(&o, "zero1", &zero, &one, 1);
    sd_onnx_init_i64(&o, "axis1", &one, &one, 1);
    sd_onnx_init_i64(&o, "zero2", zero2, (int64_t[]){ 2 }, 1);
    sd_onnx_init_i64(&o, "axes01", axes01, (int64_t[]){ 2 }, 1);
    sd_onnx_init_i64(&o, "heads_shape", heads_shape, (int64_t[]){ 4 }, 1);
    sd_onnx_init_i64(&o, "model_shape", model_shape, (int64_t[]){ 3 }, 1);
    sd_onnx_init_i64(&o, "split3", split3, (int64_t[]){ 3 }, 1);
    const float scale = 1.0f / sqrtf((float)dh), half = 0.5f, fone = 1.0f, sqrt2 = sqrtf(2.0f);
    sd_onnx_init_f32(&o, "scale", &scale, NULL, 0);
    sd_onnx_init_f32(&o, "half", &half, NULL, 0);
    sd_onnx_init_f32(&o, "one", &fone, NULL, 0);
    sd_onnx_init_f32(&o, "sqrt2", &sqrt2, NULL, 0);
    for (int t = 0; t < C; t++)
        for (int u = 0; u < C; u++) tmp[(size_t)t * C + u] = u > t ? -1e30f : 0.0f;
    sd_onnx_init_f32(&o, "causal_mask", tmp, (int64_t[]){ C, C }, 2);

    /* seq = tokens' first dimension; x = tok_emb[tokens] + pos_emb[:seq] */
    size_t n = sd_onnx_node(&o, "Shape", (const char *[]){ "tokens" }, 1, (const char *[]){ "seq_len" }, 1);
    sd_onnx_attr_int(&o, "start", 0);
    sd_onnx_attr_int(&o, "end", 1);
    sd_onnx_node_end(&o, n);
    sd_onnx_node_end(&o, sd_onnx_node(&o, "Slice", (const char *[]){ "pos_emb.weight", "zero1", "seq_len", "zero1" }, 4,
                                      (const char *[]){ "pos" }, 1));
    sd_onnx_binary(&o, "Unsqueeze", "pos", "axis1", "pos3");
    sd_onnx_binary(&o, "Gather", "tok_emb.weight", "tokens", "tok");
    sd_onnx_binary(&o, "Add", "tok", "pos3", "x_0");
    n = sd_onnx_node(&o, "Concat", (const char *[]){ "seq_len", "seq_len" }, 2, (const char *[]){ "seq_seq" }, 1);
    sd_onnx_attr_int(&o, "axis", 0);
    sd_onnx_node_end(&o, n);
    sd_onnx_node_end(&o, sd_onnx_node(&o, "Slice", (const char *[]){ "causal_mask", "zero2", "seq_seq", "axes01" }, 4,
                                      (const char *[]){ "mask" }, 1));
    char x[32] = "x_0";
    for (int l = 0; l < L && !bad; l++) {
        char nm[64], v_[20][48];
        for (int i = 0; i < 20; i++) snprintf(v_[i], sizeof v_[i], "b%d_v%d", l, i);
        snprintf(nm, sizeof nm, "blocks.%d.ln1", l);
        layer_norm_node(&o, P, nm, x, v_[0], &bad);
        snprintf(nm, sizeof nm, "blocks.%d.attn.qkv", l);
        sd_onnx_linear(&o, P, nm, v_[0], v_[1], tmp, &bad);
        n = sd_onnx_node(&o, "Split", (const char *[]){ v_[1], "split3" }, 2, (const char *[]){ v_[2], v_[3], v_[4] }, 3);
        sd_onnx_attr_int(&o, "axis", -1);
        sd_onnx_node_end(&o, n);
        for (int i = 0; i < 3; i++) sd_onnx_binary(&o, "Reshape", v_[2 + i], "heads_shape", v_[5 + i]);
        sd_onnx_transpose(&o, v_[5], v_[8], (const int64_t[]){ 1, 2, 0, 3 }, 4);    /* q (batch, H, seq, dh) */
        sd_onnx_transpose(&o, v_[6], v_[9], (const int64_t[]){ 1, 2, 3, 0 }, 4);    /* kᵀ (batch, H, dh, seq) */
        sd_onnx_transpose(&o, v_[7], v_[10], (const int64_t[]){ 1, 2, 0, 3 }, 4);   /* v */
        sd_onnx_binary(&o, "MatMul", v_[8], v_[9], v_[11]);
        sd_onnx_binary(&o, "Mul", v_[11], "scale", v_[12]);
        sd_onnx_binary(&o, "Add", v_[12], "mask", v_[13]);
        n = sd_onnx_node(&o, "Softmax", (const char *[]){ v_[13] }, 1, (const char *[]){ v_[14] }, 1);
        sd_onnx_attr_int(&o, "axis", -1);
        sd_onnx_node_end(&o, n);
        sd_onnx_binary(&o, "MatMul", v_[14], v_[10], v_[15]);
        sd_onnx_transpose(&o, v_[15], v_[16], (const int64_t[]){ 2, 0, 1, 3 }, 4);  /* (seq, batch, H, dh) */
        sd_onnx_binary(&o, "Reshape", v_[16], "model_shape", v_[17]);
        snprintf(nm, sizeof nm, "blocks.%d.attn.proj", l);
        sd_onnx_linear(&o, P, nm, v_[17], v_[18], tmp, &bad);
        char xa[32];
        snprintf(xa, sizeof xa, "x_%d_attn", l);
        sd_onnx_binary(&o, "Add", x, v_[18], xa);
        /* the MLP */
        char m_[8][48];
        for (int i = 0; i < 8; i++) snprintf(m_[i], sizeof m_[i], "b%d_m%d", l, i);
        snprintf(nm, sizeof nm, "blocks.%d.ln2", l);
        layer_norm_node(&o, P, nm, xa, m_[0], &bad);
        snprintf(nm, sizeof nm, "blocks.%d.mlp.fc", l);
        sd_onnx_linear(&o, P, nm, m_[0], m_[1], tmp, &bad);
        sd_onnx_binary(&o, "Div", m_[1], "sqrt2", m_[2]);
        sd_onnx_unary(&o, "Erf", m_[2], m_[3]);
        sd_onnx_binary(&o, "Add", m_[3], "one", m_[4]);
        sd_onnx_binary(&o, "Mul", m_[1], m_[4], m_[5]);
        sd_onnx_binary(&o, "Mul", m_[5], "half", m_[6]);
        snprintf(nm, sizeof nm, "blocks.%d.mlp.proj", l);
        sd_onnx_linear(&o, P, nm, m_[6], m_[7], tmp, &bad);
        snprintf(x, sizeof x, "x_%d", l + 1);
        sd_onnx_binary(&o, "Add", xa, m_[7], x);
    }
    layer_norm_node(&o, P, "ln_f", x, "x_f", &bad);
    if (bad) {
        free(tmp);
        sd_onnx_discard(&o);
        return sd_error("ONNX export: the transformer is missing a layer's weights");
    }
    n = sd_onnx_node(&o, "Transpose", (const char *[]){ "tok_emb.weight" }, 1, (const char *[]){ "tok_emb.weight_t" }, 1);
    sd_onnx_attr_ints(&o, "perm", (const int64_t[]){ 1, 0 }, 2);
    sd_onnx_node_end(&o, n);
    sd_onnx_binary(&o, "MatMul", "x_f", "tok_emb.weight_t", "logits");
    n = sd_onnx_node(&o, "Softmax", (const char *[]){ "logits" }, 1, (const char *[]){ "probs" }, 1);
    sd_onnx_attr_int(&o, "axis", -1);
    sd_onnx_node_end(&o, n);
    sd_onnx_io(&o, 1, "logits", SD_ONNX_FLOAT, out_dims, 3);
    sd_onnx_io(&o, 1, "probs", SD_ONNX_FLOAT, out_dims, 3);
    free(tmp);

    char vocab[4 * 256 + 1], layers[16], dim[16], heads[16], context[16];
    sd_vocab_escape(v, vocab, sizeof vocab);
    snprintf(layers, sizeof layers, "%d", L);
    snprintf(dim, sizeof dim, "%d", D);
    snprintf(heads, sizeof heads, "%d", H);
    snprintf(context, sizeof context, "%d", C);
    const char *kv[] = { "shendu.kind", "lm", "cell", "transformer", "layers", layers, "dim", dim, "heads", heads,
                         "context", context, "vocab", vocab };
    return sd_onnx_finish(&o, kv, 7, path);
}

int sd_lm_save_onnx(sd_lm *m, const char *path)
{
    if (sd_lm_transformer(m)) return transformer_save_onnx(m, path);
    const sd_rnn_opts *ro = sd_rnn_options(sd_lm_rnn(m));
    sd_params *P = sd_lm_params(m);
    const sd_vocab *v = sd_lm_vocab(m);
    const int lstm = ro->cell == SD_CELL_LSTM, G = lstm ? 4 : 1, H = ro->hidden, L = ro->layers, V = v->n;
    const char *cell = sd_cell_name(ro->cell);
    sd_onnx o;
    sd_onnx_begin(&o, lstm ? "shendu_char_lstm" : "shendu_char_rnn", "character-level language model");
    int64_t tok_dims[2] = { -2, -1 }, st_dims[3] = { L, -1, H }, out_dims[3] = { -2, -1, V };
    sd_onnx_io(&o, 0, "tokens", SD_ONNX_INT64, tok_dims, 2);
    sd_onnx_io(&o, 0, "h0", SD_ONNX_FLOAT, st_dims, 3);
    if (lstm) sd_onnx_io(&o, 0, "c0", SD_ONNX_FLOAT, st_dims, 3);

    int rc = -1;
    size_t most = 0;   /* the largest weight matrix: one scratch buffer for the reordered copies */
    for (int l = 0; l < L; l++) {
        int in = l ? H : ro->input;
        if ((size_t)G * H * (in > H ? in : H) > most) most = (size_t)G * H * (in > H ? in : H);
    }
    if ((size_t)H * V > most) most = (size_t)H * V;
    if ((size_t)2 * G * H > most) most = (size_t)2 * G * H;
    float *tmp = malloc(most * sizeof *tmp);
    char hl[8][32], cl[8][32], yh[8][32], yc[8][32];
    if (!tmp) { sd_error("out of memory"); goto done; }
    if (L > 8) { sd_error("ONNX export: %d layers (this exporter handles up to 8)", L); goto done; }

    int e = sd_params_find(P, "emb.weight");
    sd_shape es = sd_params_shape(P, e);
    sd_onnx_init_f32(&o, "emb.weight", sd_params_data(P, e), (int64_t[]){ es.d[0], es.d[1] }, 2);
    sd_onnx_node_end(&o, sd_onnx_node(&o, "Gather", (const char *[]){ "emb.weight", "tokens" }, 2,
                                      (const char *[]){ "embedded" }, 1));
    /* initial states: one (1, batch, H) slice per layer */
    for (int l = 0; l < L; l++) {
        snprintf(hl[l], sizeof hl[l], "h0_l%d", l);
        snprintf(cl[l], sizeof cl[l], "c0_l%d", l);
    }
    if (L == 1) {
        snprintf(hl[0], sizeof hl[0], "h0");
        snprintf(cl[0], sizeof cl[0], "c0");
    } else {
        const char *ho[8], *co[8];
        for (int l = 0; l < L; l++) ho[l] = hl[l], co[l] = cl[l];
        size_t n = sd_onnx_node(&o, "Split", (const char *[]){ "h0" }, 1, ho, L);
        sd_onnx_attr_int(&o, "axis", 0);
        sd_onnx_node_end(&o, n);
        if (lstm) {
            n = sd_onnx_node(&o, "Split", (const char *[]){ "c0" }, 1, co, L);
            sd_onnx_attr_int(&o, "axis", 0);
            sd_onnx_node_end(&o, n);
        }
    }
    int64_t one = 1;
    sd_onnx_init_i64(&o, "axis1", &one, &one, 1);
    char x[32] = "embedded";
    for (int l = 0; l < L; l++) {
        int in = l ? H : ro->input;
        char W[48], R[48], B[48], y[32], ys[32];
        snprintf(W, sizeof W, "%s.W_l%d", cell, l);
        snprintf(R, sizeof R, "%s.R_l%d", cell, l);
        snprintf(B, sizeof B, "%s.B_l%d", cell, l);
        const char *which[4] = { "weight_ih", "weight_hh", "bias_ih", "bias_hh" };
        const float *src[4];
        for (int k = 0; k < 4; k++) {
            int id = sd_rnn_param_id(sd_lm_rnn(m), l, which[k]);
            if (id < 0) { sd_error("ONNX export: the model has no %s of layer %d", which[k], l); goto done; }
            src[k] = sd_params_data(P, id);
        }
        reorder_gates(tmp, src[0], G, H, in);
        sd_onnx_init_f32(&o, W, tmp, (int64_t[]){ 1, (int64_t)G * H, in }, 3);
        reorder_gates(tmp, src[1], G, H, H);
        sd_onnx_init_f32(&o, R, tmp, (int64_t[]){ 1, (int64_t)G * H, H }, 3);
        reorder_gates(tmp, src[2], G, H, 1);
        reorder_gates(tmp + (size_t)G * H, src[3], G, H, 1);
        sd_onnx_init_f32(&o, B, tmp, (int64_t[]){ 1, (int64_t)2 * G * H }, 2);
        snprintf(y, sizeof y, "y_l%d", l);
        snprintf(yh[l], sizeof yh[l], "h_n_l%d", l);
        snprintf(yc[l], sizeof yc[l], "c_n_l%d", l);
        if (L == 1) {
            snprintf(yh[l], sizeof yh[l], "h_n");
            snprintf(yc[l], sizeof yc[l], "c_n");
        }
        const char *ins[] = { x, W, R, B, "", hl[l], cl[l] };
        const char *outs[] = { y, yh[l], yc[l] };
        size_t n = sd_onnx_node(&o, lstm ? "LSTM" : "RNN", ins, lstm ? 7 : 6, outs, lstm ? 3 : 2);
        sd_onnx_attr_int(&o, "hidden_size", H);
        if (!lstm) sd_onnx_attr_strs(&o, "activations", (const char *[]){ "Tanh" }, 1);
        sd_onnx_node_end(&o, n);
        snprintf(ys, sizeof ys, "y_l%d_seq", l);   /* (seq, 1, batch, H) -> (seq, batch, H) */
        sd_onnx_node_end(&o, sd_onnx_node(&o, "Squeeze", (const char *[]){ y, "axis1" }, 2, (const char *[]){ ys }, 1));
        snprintf(x, sizeof x, "%s", ys);
    }
    if (L > 1) {
        const char *ho[8], *co[8];
        for (int l = 0; l < L; l++) ho[l] = yh[l], co[l] = yc[l];
        size_t n = sd_onnx_node(&o, "Concat", ho, L, (const char *[]){ "h_n" }, 1);
        sd_onnx_attr_int(&o, "axis", 0);
        sd_onnx_node_end(&o, n);
        if (lstm) {
            n = sd_onnx_node(&o, "Concat", co, L, (const char *[]){ "c_n" }, 1);
            sd_onnx_attr_int(&o, "axis", 0);
            sd_onnx_node_end(&o, n);
        }
    }
    /* logits = h · out.weightᵀ + out.bias */
    int ow = sd_params_find(P, "out.weight"), ob = sd_params_find(P, "out.bias");
    if (ow < 0 || ob < 0) { sd_error("ONNX export: the model has no output layer"); goto done; }
    const float *wsrc = sd_params_data(P, ow);
    for (int i = 0; i < H; i++)
        for (int j = 0; j < V; j++) tmp[(size_t)i * V + j] = wsrc[(size_t)j * H + i];
    sd_onnx_init_f32(&o, "out.weight_t", tmp, (int64_t[]){ H, V }, 2);
    sd_onnx_init_f32(&o, "out.bias", sd_params_data(P, ob), (int64_t[]){ V }, 1);
    sd_onnx_node_end(&o, sd_onnx_node(&o, "MatMul", (const char *[]){ x, "out.weight_t" }, 2,
                                      (const char *[]){ "projected" }, 1));
    sd_onnx_node_end(&o, sd_onnx_node(&o, "Add", (const char *[]){ "projected", "out.bias" }, 2,
                                      (const char *[]){ "logits" }, 1));
    size_t n = sd_onnx_node(&o, "Softmax", (const char *[]){ "logits" }, 1, (const char *[]){ "probs" }, 1);
    sd_onnx_attr_int(&o, "axis", -1);
    sd_onnx_node_end(&o, n);
    sd_onnx_io(&o, 1, "logits", SD_ONNX_FLOAT, out_dims, 3);
    sd_onnx_io(&o, 1, "probs", SD_ONNX_FLOAT, out_dims, 3);
    sd_onnx_io(&o, 1, "h_n", SD_ONNX_FLOAT, st_dims, 3);
    if (lstm) sd_onnx_io(&o, 1, "c_n", SD_ONNX_FLOAT, st_dims, 3);

    char vocab[4 * 256 + 1], layers[16], hidden[16];
    sd_vocab_escape(v, vocab, sizeof vocab);
    snprintf(layers, sizeof layers, "%d", L);
    snprintf(hidden, sizeof hidden, "%d", H);
    const char *kv[] = { "shendu.kind", "lm", "cell", cell, "layers", layers, "hidden", hidden, "vocab", vocab };
    free(tmp);
    return sd_onnx_finish(&o, kv, 5, path);
done:
    free(tmp);
    sd_onnx_discard(&o);
    return rc;
}

int sd_app_export_onnx(const char *model_path, const char *onnx_path, FILE *log)
{
    const sd_path_use uses[] = { { model_path, SD_PATH_INPUT, "the model" }, { onnx_path, SD_PATH_OUTPUT, "--onnx" } };
    if (sd_app_check_paths(NULL, uses, 2)) return -1;   /* before any work: the model may not be replaced */
    sd_st_file *f = sd_st_open(model_path);
    if (!f) return -1;
    const char *fmt = sd_st_meta(f, "shendu.format");
    char kind[32];
    snprintf(kind, sizeof kind, "%s", fmt ? fmt : "");
    /* a classifier's checkpoint lacks what inference needs: the input normalisation (computed from
     * the training set at the start of a run) is written into the --out file only */
    int bare_ckpt = !strcmp(kind, "checkpoint") && sd_st_meta(f, "shendu.train.epoch") && !sd_st_meta(f, "input_scale");
    /* a kind this exporter has no ONNX form for: named, with the commands that take it */
    const unsigned exportable = SD_KINDS_CLASSIFIER | SD_KIND_BIT(SD_FILE_LM) | SD_KIND_BIT(SD_FILE_LM_CKPT) |
                                SD_KIND_BIT(SD_FILE_GENERATOR) | SD_KIND_BIT(SD_FILE_GAN_CKPT) |
                                SD_KIND_BIT(SD_FILE_DQN_AGENT) | SD_KIND_BIT(SD_FILE_DQN_CKPT) |
                                SD_KIND_BIT(SD_FILE_DIFFUSION) | SD_KIND_BIT(SD_FILE_DIFFUSION_CKPT);
    const int known_other = sd_st_kind(f) != SD_FILE_UNKNOWN &&
                            sd_st_expect_kind(f, model_path, exportable, "a model ONNX export takes (a classifier, "
                                              "GAN generator, DQN agent, language model or diffusion model)");
    sd_st_close(f);
    if (known_other) return -1;
    if (bare_ckpt)
        return sd_error("%s: a training checkpoint of a classifier does not carry its input normalisation; "
                        "export the model file the run wrote with --out", model_path);
    int rc = -1;
    if (!strcmp(kind, "lm") || !strcmp(kind, "lm-checkpoint")) {
        sd_lm *m = sd_lm_load(model_path);
        if (!m) return -1;
        rc = sd_lm_save_onnx(m, onnx_path);
        sd_lm_free(m);
    } else if (!strcmp(kind, "diffusion") || !strcmp(kind, "diffusion-checkpoint")) {
        sd_diffusion_model m;
        if (sd_diffusion_model_load(model_path, &m)) return -1;
        rc = sd_diffusion_save_onnx(&m, onnx_path);
        sd_diffusion_model_free(&m);
    } else if (!strcmp(kind, "model") || !strcmp(kind, "checkpoint")) {
        sd_model *m = sd_model_load(model_path);
        if (!m) return -1;
        rc = sd_onnx_save_model(m, onnx_path, NULL);
        sd_model_free(m);
    } else if (!fmt) {
        return sd_error("%s: not a shendu model (its metadata has no shendu.format)", model_path);
    } else {   /* a kind of file this exporter does not know (yet): no ONNX form */
        return sd_error("%s: a shendu '%s' file has no ONNX export (export takes classifiers, GAN generators, "
                        "DQN agents, language models and diffusion models)", model_path, kind);
    }
    if (rc == 0 && log) fprintf(log, "wrote %s\n", onnx_path);
    return rc;
}
