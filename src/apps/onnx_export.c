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
 * i, f, g, o; ONNX's LSTM wants i, o, f, c: the blocks are reordered. */
#include "apps.h"
#include "io/onnx_pb.h"
#include "shendu/onnx.h"

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

int sd_lm_save_onnx(sd_lm *m, const char *path)
{
    if (!sd_lm_rnn(m))
        return sd_error("%s: a transformer language model does not export to ONNX (yet): only RNN and LSTM "
                        "language models do", path);
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
    /* a kind this exporter has no ONNX form for (a diffusion model): named, with the commands that take it */
    const unsigned exportable = SD_KINDS_CLASSIFIER | SD_KIND_BIT(SD_FILE_LM) | SD_KIND_BIT(SD_FILE_LM_CKPT) |
                                SD_KIND_BIT(SD_FILE_GENERATOR) | SD_KIND_BIT(SD_FILE_GAN_CKPT) |
                                SD_KIND_BIT(SD_FILE_DQN_AGENT) | SD_KIND_BIT(SD_FILE_DQN_CKPT);
    const int known_other = sd_st_kind(f) != SD_FILE_UNKNOWN &&
                            sd_st_expect_kind(f, model_path, exportable, "a model ONNX export takes (a classifier, "
                                              "GAN generator, DQN agent or language model)");
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
    } else if (!strcmp(kind, "model") || !strcmp(kind, "checkpoint")) {
        sd_model *m = sd_model_load(model_path);
        if (!m) return -1;
        rc = sd_onnx_save_model(m, onnx_path, NULL);
        sd_model_free(m);
    } else if (!fmt) {
        return sd_error("%s: not a shendu model (its metadata has no shendu.format)", model_path);
    } else {   /* a kind of file this exporter does not know (yet): no ONNX form */
        return sd_error("%s: a shendu '%s' file has no ONNX export (export takes classifiers, GAN generators, "
                        "DQN agents and language models)", model_path, kind);
    }
    if (rc == 0 && log) fprintf(log, "wrote %s\n", onnx_path);
    return rc;
}
