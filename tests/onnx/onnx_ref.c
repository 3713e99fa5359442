/* onnx_ref MODEL.safetensors OUT_PREFIX [TEXT]: shendu's own outputs for a
 * model on real inputs, for tests/onnx/run_ort.js to compare with ONNX
 * Runtime's outputs of the exported file. Writes OUT_PREFIX.json, which lists
 * runs: the inputs (raw little-endian files) and the outputs expected.
 *   classifier  Fashion-MNIST test images as float pixels: batch 8, then 1
 *   generator   N(0,1) noise: batch 8, then 1
 *   DQN agent   CartPole (the agent's env) observations of a rollout: 16, then 1
 *   language model  two 64-character windows of TEXT from zero states, then the
 *               next 64 characters from the states the first run ended in;
 *               a Transformer: two windows of its context, then two of 5 steps
 *   diffusion model  Fashion-MNIST test pictures noised at 8 steps spread over
 *               [0, T] (batch 8), then one picture at step T */
#include "apps/apps.h"
#include "apps/diffusion_app.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static FILE *js;
static const char *prefix;
static int nfile, first_tensor;

static void die(const char *what)
{
    fprintf(stderr, "onnx_ref: %s: %s\n", what, sd_last_error());
    exit(1);
}

/* One tensor of a run: written to PREFIX.N.bin, listed in the JSON. */
static void tensor(const char *name, const char *type, const void *data, size_t elsize, const int64_t *dims, int nd)
{
    char path[4096];
    size_t n = 1;
    for (int i = 0; i < nd; i++) n *= (size_t)dims[i];
    snprintf(path, sizeof path, "%s.%d.bin", prefix, nfile++);
    FILE *f = fopen(path, "wb");
    if (!f || fwrite(data, elsize, n, f) != n || fclose(f)) { fprintf(stderr, "onnx_ref: cannot write %s\n", path); exit(1); }
    const char *base = strrchr(path, '/') ? strrchr(path, '/') + 1 : path;
    fprintf(js, "%s\"%s\": {\"type\": \"%s\", \"dims\": [", first_tensor ? "" : ", ", name, type);
    for (int i = 0; i < nd; i++) fprintf(js, "%s%lld", i ? ", " : "", (long long)dims[i]);
    fprintf(js, "], \"file\": \"%s\"}", base);
    first_tensor = 0;
}
static void run_begin(int first) { fprintf(js, "%s{\"inputs\": {", first ? "" : ", "); first_tensor = 1; }
static void run_expect(void) { fprintf(js, "}, \"expect\": {"); first_tensor = 1; }
static void run_end(void) { fprintf(js, "}}"); }

static void sequential(const char *path)
{
    sd_model *m = sd_model_load(path);
    if (!m) die(path);
    sd_shape in = sd_model_input_shape(m), os = sd_model_output_shape(m);
    const char *role = sd_model_meta_get(m, "role"), *env_name = sd_model_meta_get(m, "rl.env");
    int generator = role && !strcmp(role, "generator");
    size_t din = sd_shape_numel(in), dout = sd_shape_numel(os);
    int N = env_name ? 16 : 8;
    float *x = malloc((size_t)N * din * sizeof *x), *y = malloc((size_t)N * dout * sizeof *y);
    if (!x || !y) die("out of memory");
    if (generator) {
        sd_rng rng;
        sd_rng_seed(&rng, 7);
        for (size_t i = 0; i < (size_t)N * din; i++) x[i] = sd_rng_normal(&rng);
    } else if (env_name) {
        sd_env *env = sd_env_new(env_name, NULL);
        if (!env) die(env_name);
        sd_env_reset(env, 5, x);
        for (int i = 1; i < N; i++) {
            sd_env_result r;
            memcpy(x + (size_t)i * din, x + (size_t)(i - 1) * din, din * sizeof *x);
            if (sd_env_step(env, i % 3 == 0, x + (size_t)i * din, &r)) die("env step");
            if (r.terminated || r.truncated) sd_env_reset(env, SD_ENV_NO_SEED, x + (size_t)i * din);
        }
        sd_env_free(env);
    } else {
        sd_dataset d = { 0 };
        if (sd_dataset_load_mnist(sd_data_default_dir(), "t10k", &d)) die("test images");
        if ((size_t)d.c * d.h * d.w != din) { fprintf(stderr, "onnx_ref: image size differs from the model's\n"); exit(1); }
        for (size_t i = 0; i < (size_t)N * din; i++) x[i] = (float)d.images[i];
        sd_dataset_free(&d);
    }
    sd_predictor *p = sd_predictor_new(m, &(sd_predictor_opts){ .threads = 1 });
    if (!p || sd_predict(p, x, 0, (size_t)N, y)) die("predict");
    const char *iname = generator ? "noise" : env_name ? "obs" : "input";
    const char *oname = generator ? "image" : env_name ? "q_values" : "logits";
    for (int r = 0; r < 2; r++) {
        int n = r ? 1 : N;
        int64_t id[SD_MAX_DIMS + 1] = { n }, od[SD_MAX_DIMS + 1] = { n };
        for (int i = 0; i < in.ndim; i++) id[i + 1] = in.d[i];
        int ond = os.ndim + 1;
        for (int i = 0; i < os.ndim; i++) od[i + 1] = os.d[i];
        const char *shape = sd_model_meta_get(m, "image_shape");
        int c, h, w;
        if (generator && os.ndim == 1 && shape && sscanf(shape, "%d,%d,%d", &c, &h, &w) == 3)
            od[1] = c, od[2] = h, od[3] = w, ond = 4;
        run_begin(r == 0);
        tensor(iname, "float32", x, sizeof *x, id, in.ndim + 1);
        run_expect();
        tensor(oname, "float32", y, sizeof *y, od, ond);
        if (!generator && !env_name) {   /* probs: softmax of the logits */
            float *pr = malloc((size_t)n * dout * sizeof *pr);
            for (int i = 0; i < n; i++) {
                const float *l = y + (size_t)i * dout;
                double mx = l[0], s = 0;
                for (size_t j = 1; j < dout; j++) mx = l[j] > mx ? l[j] : mx;
                for (size_t j = 0; j < dout; j++) s += exp(l[j] - mx);
                for (size_t j = 0; j < dout; j++) pr[(size_t)i * dout + j] = (float)(exp(l[j] - mx) / s);
            }
            tensor("probs", "float32", pr, sizeof *pr, od, ond);
            free(pr);
        }
        if (env_name) {
            int64_t *act = malloc((size_t)n * sizeof *act);
            for (int i = 0; i < n; i++) {
                int best = 0;
                for (size_t j = 1; j < dout; j++) if (y[(size_t)i * dout + j] > y[(size_t)i * dout + best]) best = (int)j;
                act[i] = best;
            }
            tensor("action", "int64", act, sizeof *act, od, 1);
            free(act);
        }
        run_end();
    }
    sd_predictor_free(p);
    free(x);
    free(y);
    sd_model_free(m);
}

/* probs (n, V) = softmax of each row of logits (n, V), in double */
static void softmax_rows(const float *logits, int n, int V, float *probs)
{
    for (int i = 0; i < n; i++) {
        const float *l = logits + (size_t)i * V;
        double mx = l[0], s = 0;
        for (int j = 1; j < V; j++) mx = l[j] > mx ? l[j] : mx;
        for (int j = 0; j < V; j++) s += exp(l[j] - mx);
        for (int j = 0; j < V; j++) probs[(size_t)i * V + j] = (float)(exp(l[j] - mx) / s);
    }
}

/* Two runs of two sequences: T = the context, then T = 5 (the positions and
 * the mask are cut to the sequence's length). No state. */
static void transformer_lm(sd_lm *m, const uint8_t *text, size_t ntext)
{
    const sd_vocab *v = sd_lm_vocab(m);
    const int C = sd_transformer_options(sd_lm_transformer(m))->context, V = v->n, B = 2;
    sd_ctx *ctx = sd_ctx_new(&(sd_ctx_opts){ .threads = 1 });
    sd_graph *g = sd_graph_new(ctx);
    int32_t *idx = malloc((size_t)C * B * sizeof *idx);
    int64_t *tok = malloc((size_t)C * B * sizeof *tok);
    float *probs = malloc((size_t)C * B * V * sizeof *probs);
    if (!ctx || !g || !idx || !tok || !probs) die("setup");
    if ((size_t)2 * B * C > ntext) { fprintf(stderr, "onnx_ref: the text is shorter than 4 contexts\n"); exit(1); }
    sd_graph_set_grad(g, 0);
    for (int r = 0; r < 2; r++) {
        const int T = r ? 5 : C;
        for (int t = 0; t < T; t++)
            for (int b = 0; b < B; b++) {
                uint8_t ch = text[(size_t)(2 * r + b) * C + t];
                if (v->index[ch] < 0) { fprintf(stderr, "onnx_ref: byte %d is not in the vocabulary\n", ch); exit(1); }
                idx[t * B + b] = v->index[ch];
                tok[t * B + b] = v->index[ch];
            }
        run_begin(r == 0);
        int64_t td[2] = { T, B }, od[3] = { T, B, V };
        tensor("tokens", "int64", tok, sizeof *tok, td, 2);
        sd_graph_reset(g);
        sd_tensor *y = sd_lm_forward(g, m, idx, T, B, NULL);
        if (!y) die("transformer forward");
        softmax_rows(y->data, T * B, V, probs);
        run_expect();
        tensor("logits", "float32", y->data, sizeof(float), od, 3);
        tensor("probs", "float32", probs, sizeof *probs, od, 3);
        run_end();
    }
    free(idx);
    free(tok);
    free(probs);
    sd_graph_free(g);
    sd_ctx_free(ctx);
}

static void language_model(const char *path, const char *text_path)
{
    sd_lm *m = sd_lm_load(path);
    if (!m) die(path);
    if (sd_lm_transformer(m)) {
        static uint8_t text[1 << 16];
        FILE *f = fopen(text_path, "rb");
        size_t n = f ? fread(text, 1, sizeof text, f) : 0;
        if (f) fclose(f);
        transformer_lm(m, text, n);
        sd_lm_free(m);
        return;
    }
    const sd_rnn_opts *ro = sd_rnn_options(sd_lm_rnn(m));
    const sd_vocab *v = sd_lm_vocab(m);
    enum { T = 64, B = 2 };
    const int L = ro->layers, H = ro->hidden, V = v->n, lstm = ro->cell == SD_CELL_LSTM;
    uint8_t text[4 * T * B];
    FILE *f = fopen(text_path, "rb");
    if (!f || fread(text, 1, sizeof text, f) != sizeof text) { fprintf(stderr, "onnx_ref: %s: too short\n", text_path); exit(1); }
    fclose(f);
    int32_t idx[2][T * B];
    int64_t tok[T * B];
    for (int r = 0; r < 2; r++)
        for (int t = 0; t < T; t++)
            for (int b = 0; b < B; b++) {
                uint8_t ch = text[(size_t)(2 * r + b) * T + t];
                if (v->index[ch] < 0) { fprintf(stderr, "onnx_ref: byte %d is not in the vocabulary\n", ch); exit(1); }
                idx[r][t * B + b] = v->index[ch];
            }
    sd_ctx *ctx = sd_ctx_new(&(sd_ctx_opts){ .threads = 1 });
    sd_graph *g = sd_graph_new(ctx);
    sd_rnn_state *st = sd_rnn_state_new(sd_lm_rnn(m), B);
    if (!ctx || !g || !st) die("setup");
    sd_graph_set_grad(g, 0);
    float *h = calloc((size_t)L * B * H, sizeof *h), *c = calloc((size_t)L * B * H, sizeof *c);
    float *probs = malloc((size_t)T * B * V * sizeof *probs);
    for (int r = 0; r < 2; r++) {
        run_begin(r == 0);
        for (int i = 0; i < T * B; i++) tok[i] = idx[r][i];
        int64_t td[2] = { T, B }, sd[3] = { L, B, H }, od[3] = { T, B, V };
        tensor("tokens", "int64", tok, sizeof *tok, td, 2);
        tensor("h0", "float32", h, sizeof *h, sd, 3);   /* zeros, then the state run 0 ended in */
        if (lstm) tensor("c0", "float32", c, sizeof *c, sd, 3);
        sd_graph_reset(g);
        sd_tensor *y = sd_lm_forward(g, m, idx[r], T, B, st);
        if (!y) die("lm forward");
        softmax_rows(y->data, T * B, V, probs);
        for (int l = 0; l < L; l++) {
            memcpy(h + (size_t)l * B * H, sd_rnn_state_h(st, l), (size_t)B * H * sizeof *h);
            if (lstm) memcpy(c + (size_t)l * B * H, sd_rnn_state_c(st, l), (size_t)B * H * sizeof *c);
        }
        run_expect();
        tensor("logits", "float32", y->data, sizeof(float), od, 3);
        tensor("probs", "float32", probs, sizeof *probs, od, 3);
        tensor("h_n", "float32", h, sizeof *h, sd, 3);
        if (lstm) tensor("c_n", "float32", c, sizeof *c, sd, 3);
        run_end();
    }
    free(h);
    free(c);
    free(probs);
    sd_rnn_state_free(st);
    sd_graph_free(g);
    sd_ctx_free(ctx);
    sd_lm_free(m);
}

static void diffusion(const char *path)
{
    sd_diffusion_model m;
    if (sd_diffusion_model_load(path, &m)) die(path);
    const size_t img = sd_shape_numel(m.img);
    enum { N = 8 };
    float *x0 = malloc(N * img * sizeof *x0), *eps = malloc(N * img * sizeof *eps), *xt = malloc(N * img * sizeof *xt);
    if (!x0 || !eps || !xt) die("out of memory");
    sd_dataset d = { 0 };
    if (sd_dataset_load_mnist(sd_data_default_dir(), "t10k", &d)) die("test images");
    if ((size_t)d.c * d.h * d.w != img) { fprintf(stderr, "onnx_ref: image size differs from the model's\n"); exit(1); }
    for (size_t i = 0; i < N * img; i++) x0[i] = d.images[i] / 127.5f - 1.0f;
    sd_dataset_free(&d);
    sd_rng rng;
    sd_rng_seed(&rng, 11);
    for (size_t i = 0; i < N * img; i++) eps[i] = sd_rng_normal(&rng);
    int32_t t[N];
    for (int i = 0; i < N; i++) t[i] = (int32_t)((int64_t)i * m.T / (N - 1));
    sd_ddpm_noise(m.s, x0, eps, t, N, img, xt);
    sd_ctx *ctx = sd_ctx_new(&(sd_ctx_opts){ .threads = 1 });
    sd_graph *g = ctx ? sd_graph_new(ctx) : NULL;
    if (!g) die("graph");
    sd_graph_set_grad(g, 0);
    for (int r = 0; r < 2; r++) {
        const int n = r ? 1 : N;
        int32_t tr[N];
        int64_t t64[N];
        for (int i = 0; i < n; i++) tr[i] = r ? m.T : t[i], t64[i] = tr[i];
        sd_graph_reset(g);
        sd_tensor *y = sd_unet_forward(g, m.u, sd_input(g, xt, SD_SHAPE(n, m.img.d[0], m.img.d[1], m.img.d[2])), tr);
        if (!y) die("unet forward");
        const int64_t dims[4] = { n, m.img.d[0], m.img.d[1], m.img.d[2] };
        run_begin(r == 0);
        tensor("x", "float32", xt, sizeof *xt, dims, 4);
        tensor("t", "int64", t64, sizeof *t64, dims, 1);
        run_expect();
        tensor("eps", "float32", y->data, sizeof *y->data, dims, 4);
        run_end();
    }
    sd_graph_free(g);
    sd_ctx_free(ctx);
    sd_diffusion_model_free(&m);
    free(x0), free(eps), free(xt);
}

int main(int argc, char **argv)
{
    if (argc < 3) { fprintf(stderr, "usage: onnx_ref MODEL.safetensors OUT_PREFIX [TEXT]\n"); return 2; }
    prefix = argv[2];
    char jpath[4096];
    snprintf(jpath, sizeof jpath, "%s.json", prefix);
    if (!(js = fopen(jpath, "w"))) { perror(jpath); return 1; }
    sd_st_file *f = sd_st_open(argv[1]);
    if (!f) die(argv[1]);
    const char *fmt = sd_st_meta(f, "shendu.format");
    int lm = fmt && !strncmp(fmt, "lm", 2), dif = sd_app_is_diffusion_file(f);
    sd_st_close(f);
    fprintf(js, "{\"runs\": [");
    if (lm) {
        if (argc < 4) { fprintf(stderr, "onnx_ref: a language model needs TEXT\n"); return 2; }
        language_model(argv[1], argv[3]);
    } else if (dif) {
        diffusion(argv[1]);
    } else {
        sequential(argv[1]);
    }
    fprintf(js, "]}\n");
    return fclose(js) ? 1 : 0;
}
