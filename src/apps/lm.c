/* Character-level language models: `shendu lm train` and `shendu lm sample`.
 *
 * The model mirrors ../shared/bench-ref/lstm.py: bytes -> embedding (V, E)
 * -> L stacked LSTM (or tanh RNN) layers of H units -> linear (V, H) ->
 * softmax over the next byte; or (--cell transformer) a decoder-only
 * Transformer (shendu/transformer.h, bench/transformer.py), trained with AdamW,
 * a warm-up and cosine decay of the learning rate and clipped gradients. Training samples B random windows of T + 1
 * bytes from the first 95 % of the text, each starting from a zero state;
 * validation cuts the last 5 % into windows of T + 1 (stride T) and reports
 * bits per character (mean cross-entropy / ln 2). */
#include "apps.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* Validation windows per forward pass. Its graph holds every step's gates and
 * states for the whole batch (seq 64 x hidden 256: about 0.5 MB a window), so
 * this bounds validation's memory; 32 keeps it at the training step's size. */
#define VAL_BATCH 32
#define LN2 0.69314718055994531

/* ---- The model */

struct sd_lm {
    sd_params *P;
    sd_embedding emb;
    sd_rnn *rnn;
    sd_linear out;
    sd_transformer *tf;     /* cell transformer: this instead of emb, rnn and out */
    sd_vocab vocab;
    sd_cell cell;
    int layers, hidden, embdim;
    int heads, context;     /* transformer */
    float dropout;
};

void sd_lm_free(sd_lm *m)
{
    if (!m) return;
    sd_rnn_free(m->rnn);
    sd_transformer_free(m->tf);
    sd_params_free(m->P);
    free(m);
}

/* max_params > 0 bounds the parameters before they are allocated (loading a file) */
static sd_lm *lm_build(const sd_vocab *v, sd_cell cell, int layers, int hidden, int embdim, float forget_bias,
                       size_t max_params, sd_rng *rng)
{
    sd_lm *m = calloc(1, sizeof *m);
    if (!m || !(m->P = sd_params_new())) { free(m); sd_error("out of memory"); return NULL; }
    sd_params_set_limit(m->P, max_params);
    m->vocab = *v;
    m->cell = cell;
    m->layers = layers;
    m->hidden = hidden;
    m->embdim = embdim;
    if (sd_embedding_init(&m->emb, m->P, "emb", v->n, embdim, rng)) goto fail;
    m->rnn = sd_rnn_new(m->P, sd_cell_name(cell),
                        &(sd_rnn_opts){ .cell = cell, .input = embdim, .hidden = hidden, .layers = layers,
                                        .forget_bias = forget_bias, .torch_init = forget_bias == 0.0f }, rng);
    if (!m->rnn) goto fail;
    if (sd_linear_init(&m->out, m->P, "out", hidden, v->n, SD_INIT_DEFAULT, rng)) goto fail;
    return m;
fail:
    sd_lm_free(m);
    return NULL;
}

sd_lm *sd_lm_new(const sd_vocab *v, sd_cell cell, int layers, int hidden, int embdim, float forget_bias,
                 sd_rng *rng)
{
    if (cell == SD_CELL_TRANSFORMER) { sd_error("sd_lm_new: a transformer is made by sd_lm_new_transformer"); return NULL; }
    return lm_build(v, cell, layers, hidden, embdim, forget_bias, 0, rng);
}

static sd_lm *tf_build(const sd_vocab *v, int layers, int dim, int heads, int context, float dropout,
                       size_t max_params, sd_rng *rng)
{
    sd_lm *m = calloc(1, sizeof *m);
    if (!m || !(m->P = sd_params_new())) { free(m); sd_error("out of memory"); return NULL; }
    sd_params_set_limit(m->P, max_params);
    *m = (sd_lm){ .P = m->P, .vocab = *v, .cell = SD_CELL_TRANSFORMER, .layers = layers, .hidden = dim,
                  .embdim = dim, .heads = heads, .context = context, .dropout = dropout };
    m->tf = sd_transformer_new(m->P, &(sd_transformer_opts){ .vocab = v->n, .dim = dim, .layers = layers,
                                                             .heads = heads, .context = context,
                                                             .dropout = dropout }, rng);
    if (!m->tf) { sd_lm_free(m); return NULL; }
    return m;
}

sd_lm *sd_lm_new_transformer(const sd_vocab *v, int layers, int dim, int heads, int context, float dropout,
                             sd_rng *rng)
{
    return tf_build(v, layers, dim, heads, context, dropout, 0, rng);
}

sd_cell sd_lm_cell(const sd_lm *m) { return m->cell; }
sd_transformer *sd_lm_transformer(sd_lm *m) { return m->tf; }

sd_params *sd_lm_params(sd_lm *m) { return m->P; }
const sd_vocab *sd_lm_vocab(const sd_lm *m) { return &m->vocab; }
sd_rnn *sd_lm_rnn(sd_lm *m) { return m->rnn; }

/* idx (T·B) time-major -> logits (T·B, V). When there are more positions than
 * symbols, the first layer's input projection Emb[idx] W_ihᵀ is computed as
 * (Emb W_ihᵀ)[idx]: the same numbers for V rows instead of T·B (and gradients
 * flow back the same way). */
sd_tensor *sd_lm_forward_train(sd_graph *g, sd_lm *m, const int32_t *idx, int T, int B, sd_rng *dropout_rng)
{
    if (m->tf) return sd_transformer_forward(g, m->tf, idx, T, B, dropout_rng);
    return sd_lm_forward(g, m, idx, T, B, NULL);
}

sd_tensor *sd_lm_forward(sd_graph *g, sd_lm *m, const int32_t *idx, int T, int B, sd_rnn_state *state)
{
    if (m->tf) {
        if (state) { sd_error("sd_lm_forward: a transformer carries no recurrent state"); return NULL; }
        return sd_transformer_forward(g, m->tf, idx, T, B, NULL);
    }
    sd_tensor *h;
    if (T * B > m->vocab.n) {
        sd_tensor *w_ih = sd_param(g, m->P, sd_rnn_param_id(m->rnn, 0, "weight_ih"));
        sd_tensor *table = sd_matmul(g, sd_param(g, m->P, m->emb.w), w_ih, SD_TRANS_B);     /* (V, G·H) */
        sd_tensor *xp = sd_gather_rows(g, table, idx, T * B);                               /* (T·B, G·H) */
        h = sd_rnn_forward_proj(g, m->rnn, xp, T, NULL, state);
    } else {
        h = sd_rnn_forward(g, m->rnn, sd_embedding_forward(g, &m->emb, idx, T * B), T, NULL, state);
    }
    return sd_linear_forward(g, &m->out, h);
}

int sd_lm_save_with(const sd_lm *m, const char *path, const char *format, const sd_st_tensor *tensors,
                    int ntensors, const sd_st_kv *extra, int nextra)
{
    sd_params *P = m->P;
    int np = sd_params_count(P);
    sd_st_tensor t[256];
    /* 16 layers of LSTM: 64 tensors, with the embedding and the output layer 67; of a transformer 196 */
    if (np + ntensors > 256 || nextra > 32) return sd_error("%s: too many tensors or metadata", path);
    for (int i = 0; i < np; i++) {
        sd_shape s = sd_params_shape(P, i);
        t[i] = (sd_st_tensor){ .name = sd_params_name(P, i), .dtype = SD_F32, .ndim = s.ndim,
                               .data = sd_params_data(P, i) };
        for (int d = 0; d < s.ndim; d++) t[i].shape[d] = s.d[d];
    }
    for (int i = 0; i < ntensors; i++) t[np + i] = tensors[i];
    char layers[16], hidden[16], emb[16], heads[16], context[16], dropout[32], vocab[4 * 256 + 1];
    snprintf(layers, sizeof layers, "%d", m->layers);
    snprintf(hidden, sizeof hidden, "%d", m->hidden);
    snprintf(emb, sizeof emb, "%d", m->embdim);
    snprintf(heads, sizeof heads, "%d", m->heads);
    snprintf(context, sizeof context, "%d", m->context);
    snprintf(dropout, sizeof dropout, "%.9g", m->dropout);
    sd_vocab_escape(&m->vocab, vocab, sizeof vocab);
    sd_st_kv kv[48] = {
        { "shendu.format", format ? format : "lm" }, { "cell", sd_cell_name(m->cell) }, { "layers", layers },
        { "hidden", hidden }, { "embedding", emb }, { "vocab", vocab },
        { "shendu.kind", sd_kind_name(format && !strcmp(format, "lm-checkpoint") ? SD_FILE_LM_CKPT : SD_FILE_LM) },
    };
    int n = 7;
    if (m->tf) {   /* hidden is the model's dimension */
        kv[n++] = (sd_st_kv){ "heads", heads };
        kv[n++] = (sd_st_kv){ "context", context };
        kv[n++] = (sd_st_kv){ "dropout", dropout };
    }
    for (int i = 0; i < nextra; i++) kv[n++] = extra[i];
    return sd_st_save(path, t, np + ntensors, kv, n);
}

int sd_lm_save(const sd_lm *m, const char *path, const sd_st_kv *extra, int nextra)
{
    return sd_lm_save_with(m, path, NULL, NULL, 0, extra, nextra);
}

static int meta_int(sd_st_file *f, const char *path, const char *key, int lo, int hi, int *out)
{
    const char *v = sd_st_meta(f, key);
    char *end;
    long x = v ? strtol(v, &end, 10) : 0;
    if (!v || !*v || *end || x < lo || x > hi)
        return sd_error("%s: metadata '%s' is %s%s%s (expected an integer in [%d, %d])", path, key, v ? "'" : "missing",
                        v ? v : "", v ? "'" : "", lo, hi);
    *out = (int)x;
    return 0;
}

/* The language model in an open file (closed here); `path` names it in messages. */
static sd_lm *lm_from_file(sd_st_file *f, const char *path)
{
    if (!f) return NULL;
    sd_lm *m = NULL;
    const char *fmt = sd_st_meta(f, "shendu.format");
    if (sd_st_expect_kind(f, path, SD_KIND_BIT(SD_FILE_LM) | SD_KIND_BIT(SD_FILE_LM_CKPT),
                          "a language model"))
        goto done;
    if (!fmt) {
        sd_error("%s: not a shendu language model (its metadata has no shendu.format)", path);
        goto done;
    }
    if (strcmp(fmt, "lm") && strcmp(fmt, "lm-checkpoint")) {
        sd_error("%s: shendu.format is '%s', not 'lm': this is not a language model%s", path, fmt,
                 !strcmp(fmt, "model") || !strcmp(fmt, "checkpoint") ? " (an image classifier: use shendu eval)" : "");
        goto done;
    }
    sd_cell cell;
    sd_vocab v;
    int layers = 0, hidden = 0, emb = 0;
    const char *cs = sd_st_meta(f, "cell"), *vs = sd_st_meta(f, "vocab");
    if (!cs || sd_cell_parse(cs, &cell)) { sd_error("%s: metadata 'cell' is missing or unknown", path); goto done; }
    if (!vs || sd_vocab_unescape(vs, &v)) { sd_error_prefix("%s: metadata 'vocab'", path); goto done; }
    if (meta_int(f, path, "layers", 1, 16, &layers) || meta_int(f, path, "hidden", 1, 1 << 16, &hidden) ||
        meta_int(f, path, "embedding", 1, 1 << 16, &emb)) goto done;
    sd_rng rng;
    sd_rng_seed(&rng, 0);
    size_t held = sd_st_numel(f);   /* no more parameters than the file holds (+ 1: 0 means no limit) */
    if (cell == SD_CELL_TRANSFORMER) {
        int heads = 0, context = 0;
        const char *ds = sd_st_meta(f, "dropout");
        char *end = NULL;
        float dropout = ds ? strtof(ds, &end) : -1.0f;
        if (meta_int(f, path, "heads", 1, hidden, &heads) || meta_int(f, path, "context", 1, 1 << 20, &context))
            goto done;
        if (!ds || *end || !(dropout >= 0.0f && dropout < 1.0f)) {
            sd_error("%s: metadata 'dropout' is missing or not in [0, 1)", path);
            goto done;
        }
        m = tf_build(&v, layers, hidden, heads, context, dropout, held + 1, &rng);
    } else {
        m = lm_build(&v, cell, layers, hidden, emb, 0.0f, held + 1, &rng);
    }
    if (!m) {
        sd_error_prefix("%s: the file's tensors hold %zu values", path, held);
        goto done;
    }
    sd_params *P = m->P;
    int nt = 0;   /* the parameters; a checkpoint's optimizer and trainer state are "shendu.*" */
    for (int i = 0; i < sd_st_count(f); i++) {
        sd_st_tensor t;
        sd_st_get(f, i, &t);
        nt += strncmp(t.name, "shendu.", 7) != 0;
    }
    if (nt != sd_params_count(P)) {
        sd_error("%s: %d tensors, but a %d-layer %s language model has %d", path, nt, layers, cs,
                 sd_params_count(P));
        goto fail;
    }
    if (sd_checkpoint_read_params(f, P)) {
        sd_error_prefix("tensors do not match the model in the metadata");
        goto fail;
    }
    goto done;
fail:
    sd_lm_free(m);
    m = NULL;
done:
    sd_st_close(f);
    return m;
}

sd_lm *sd_lm_load(const char *path) { return lm_from_file(sd_st_open(path), path); }

sd_lm *sd_lm_load_mem(const void *buf, size_t size, const char *name)
{
    if (!name) name = "(memory)";
    return lm_from_file(sd_st_open_mem(buf, size, name), name);
}

/* ---- Generation */

/* Index of a draw from softmax(logits / temperature) over the top_k likeliest
 * (0: all); temperature 0: arg-max. */
static int draw(const float *logits, int V, float temperature, int top_k, sd_rng *rng)
{
    int best = 0;
    for (int j = 1; j < V; j++) if (logits[j] > logits[best]) best = j;
    if (temperature <= 0.0f) return best;
    float cut = -INFINITY;   /* the k-th largest logit: the ones below it are left out */
    if (top_k > 0 && top_k < V) {
        float top[256];
        int n = 0;
        for (int j = 0; j < V; j++) {   /* insertion into a descending list of the top_k */
            int i = n < top_k ? n++ : top_k;
            if (i == top_k && logits[j] <= top[top_k - 1]) continue;
            if (i == top_k) i--;
            while (i > 0 && top[i - 1] < logits[j]) { top[i] = top[i - 1]; i--; }
            top[i] = logits[j];
        }
        cut = top[top_k - 1];
    }
    double p[256], sum = 0.0;
    for (int j = 0; j < V; j++)
        sum += p[j] = logits[j] < cut ? 0.0 : exp((double)(logits[j] - logits[best]) / temperature);
    double u = sd_rng_uniform(rng) * sum;
    for (int j = 0; j < V; j++) {
        if (p[j] > 0.0 && u < p[j]) return j;
        u -= p[j];
    }
    return best;   /* rounding at the very end */
}

/* The transformer: with a key/value cache, each byte costs one step over the
 * positions held; when the context is full the cache restarts from the last
 * half of it. no_cache: every byte re-reads its whole window (for comparison). */
static int tf_generate(sd_lm *m, sd_ctx *ctx, const int32_t *prime, int nprime, int len,
                       const sd_lm_gen_opts *o, sd_rng *rng, uint8_t *out)
{
    const int C = m->context, V = m->vocab.n;
    if (nprime > C)
        return sd_error("the prime is %d characters, longer than the model's context of %d positions", nprime, C);
    int32_t *win = malloc((size_t)C * sizeof *win);
    float *logits = malloc((size_t)V * sizeof *logits);
    sd_kv_cache *kv = o->no_cache ? NULL : sd_kv_cache_new(m->tf);
    sd_graph *g = o->no_cache ? sd_graph_new(ctx) : NULL;
    int rc = -1, n = nprime;
    if (!win || !logits || (!kv && !g)) { if (!win || !logits) sd_error("out of memory"); goto done; }
    if (g) sd_graph_set_grad(g, 0);
    memcpy(win, prime, (size_t)nprime * sizeof *win);
    for (int i = 0; kv && i < n; i++)
        if (sd_transformer_step(m->tf, kv, win[i], logits)) goto done;
    for (int i = 0; i < len; i++) {
        if (g) {
            sd_graph_reset(g);
            sd_tensor *y = sd_transformer_forward(g, m->tf, win, n, 1, NULL);
            if (!y) goto done;
            memcpy(logits, y->data + (size_t)(n - 1) * V, (size_t)V * sizeof *logits);
        }
        int32_t next = draw(logits, V, o->temperature, o->top_k, rng);
        out[i] = m->vocab.sym[next];
        if (i == len - 1) break;
        if (n == C) {   /* full: keep the last half */
            const int keep = C / 2 > 0 ? C / 2 : 1;
            memmove(win, win + n - keep + 1, (size_t)(keep - 1) * sizeof *win);
            n = keep - 1;
            if (kv) {
                sd_kv_cache_reset(kv);
                for (int j = 0; j < n; j++)
                    if (sd_transformer_step(m->tf, kv, win[j], NULL)) goto done;
            }
        }
        win[n++] = next;
        if (kv && sd_transformer_step(m->tf, kv, next, logits)) goto done;
    }
    rc = 0;
done:
    free(win);
    free(logits);
    sd_kv_cache_free(kv);
    sd_graph_free(g);
    return rc;
}

int sd_lm_generate_with(sd_lm *m, sd_ctx *ctx, const uint8_t *prime, size_t nprime, int len,
                        const sd_lm_gen_opts *o, sd_rng *rng, uint8_t *out)
{
    if (nprime < 1) return sd_error("the prime text is empty");
    if (nprime > (size_t)1 << 30) return sd_error("the prime text is too long");
    int32_t *idx = malloc(nprime * sizeof *idx);
    sd_graph *g = NULL;
    sd_rnn_state *st = NULL;
    int rc = -1;
    if (!idx) { sd_error("out of memory"); goto done; }
    if (sd_vocab_encode(&m->vocab, prime, nprime, idx)) { sd_error_prefix("prime"); goto done; }
    if (m->tf) {
        rc = tf_generate(m, ctx, idx, (int)nprime, len, o, rng, out);
        goto done;
    }
    g = sd_graph_new(ctx);
    st = sd_rnn_state_new(m->rnn, 1);
    if (!g || !st) goto done;
    sd_graph_set_grad(g, 0);
    /* Read the prime as one sequence; then one byte at a time, carrying the state. */
    sd_tensor *logits = sd_lm_forward(g, m, idx, (int)nprime, 1, st);
    const int V = m->vocab.n;
    for (int i = 0; i < len && logits; i++) {
        int32_t next = draw(logits->data + (size_t)(logits->shape.d[0] - 1) * V, V, o->temperature, o->top_k, rng);
        out[i] = m->vocab.sym[next];
        sd_graph_reset(g);
        logits = sd_lm_forward(g, m, &next, 1, 1, st);
    }
    if (!logits) goto done;
    rc = 0;
done:
    free(idx);
    sd_rnn_state_free(st);
    sd_graph_free(g);
    return rc;
}

int sd_lm_generate(sd_lm *m, sd_ctx *ctx, const uint8_t *prime, size_t nprime, int len, float temperature,
                   sd_rng *rng, uint8_t *out)
{
    return sd_lm_generate_with(m, ctx, prime, nprime, len, &(sd_lm_gen_opts){ .temperature = temperature }, rng,
                               out);
}

/* The prime used when none is given: a newline if the vocabulary has one. */
static void default_prime(const sd_vocab *v, uint8_t *p)
{
    p[0] = v->index['\n'] >= 0 ? '\n' : v->sym[0];
}

/* Print text with non-printable bytes (other than newline and tab) as '?', indented. */
static void print_sample(FILE *f, const uint8_t *s, int n, const char *indent)
{
    fputs(indent, f);
    for (int i = 0; i < n; i++) {
        int c = s[i];
        if (c == '\n') { fputc('\n', f); fputs(indent, f); }
        else fputc(c == '\t' || (c >= 32 && c != 127) ? c : '?', f);
    }
    fputc('\n', f);
}

/* ---- Validation: mean cross-entropy over windows of T + 1 (stride T) in bits.
 * With several ranks each scores a contiguous share of the windows and the sums
 * travel in one reduction (every rank must call this at the same steps). */
static int validate(sd_graph *g, sd_lm *m, sd_dist *dist, const uint8_t *val, size_t nval, int T, int vb, int32_t *in,
                    int32_t *tgt, volatile sig_atomic_t *stop, double *bpc)
{
    const size_t nwin = (nval - 1) / (size_t)T;
    int first = 0, count = (int)nwin;
    if (sd_dist_size(dist) > 1) sd_dist_shard(dist, (int)nwin, &first, &count);
    double sums[2] = { 0.0, 0.0 };   /* loss · tokens, tokens */
    sd_graph_set_grad(g, 0);
    for (size_t w0 = (size_t)first; w0 < (size_t)first + (size_t)count; w0 += (size_t)vb) {
        const size_t left = (size_t)first + (size_t)count - w0;
        int B = (int)(left < (size_t)vb ? left : (size_t)vb);
        for (int b = 0; b < B; b++)
            for (int t = 0; t < T; t++) {
                const uint8_t *s = val + (w0 + (size_t)b) * T + t;
                in[t * B + b] = s[0];
                tgt[t * B + b] = s[1];
            }
        /* one process: a stop is honoured between two batches (ranks would disagree on it) */
        if (stop && *stop && sd_dist_size(dist) == 1) { sd_graph_set_grad(g, 1); return SD_STOPPED; }
        sd_graph_reset(g);
        sd_tensor *loss = sd_cross_entropy(g, sd_lm_forward(g, m, in, T, B, NULL), tgt);
        if (!loss) { sd_graph_set_grad(g, 1); return -1; }
        sums[0] += (double)loss->data[0] * T * B;
        sums[1] += (double)T * B;
    }
    sd_graph_set_grad(g, 1);   /* the training graph's: recording again */
    if (sd_dist_size(dist) > 1 && sd_dist_allreduce_sum_f64(dist, sums, 2)) return -1;
    *bpc = sums[0] / sums[1] / LN2;
    return 0;
}

/* ---- Training */

/* Every rank must run the same configuration and make the same collective calls
 * (validation steps, all-reduce kind, checkpoint steps). 0, or -1 with a message. */
static int check_same_config(const sd_lm_opts *o, sd_dist *dist)
{
    char v[32];
    snprintf(v, sizeof v, "%d", o->eval_every);
    int same = sd_app_same_setting(dist, "eval-every", v);
    if (same != 1) return -1;
    return sd_app_same_config(dist, sd_lm_config_fields, SD_CONFIG_MAX, o, o->overlap,
                              o->checkpoint ? o->checkpoint_every : -1, o->stop_after);
}

/* ---- The language model's part of the training loop (sd_trainer_run's hooks;
 * one "epoch" of o->steps steps, evaluations every eval_every steps). */
typedef struct lm_run {
    const sd_lm_opts *o;
    sd_lm_result *r;
    sd_dist *dist;
    int rank;
    sd_lm *m;
    sd_optim *opt;
    sd_graph *g;                   /* training and validation (one arena) */
    sd_dist_sync *sync;
    sd_ctx *ctx;
    const sd_vocab *vocab;
    const uint8_t *tok;            /* the text's tokens: n_train for training, n_val held out after them */
    size_t n_train, n_val, text_n;
    int T, B, first, count;        /* this rank's windows of every step: [first, first + count) of B */
    int vb;                        /* validation windows per batch */
    int32_t *in, *tgt;
    uint32_t *offs;
    uint8_t *sample;
    sd_lm_train_state *st;
    FILE *log;
    sd_trainer *tr;
    int log_every, first_step;
    double train_time, last_draw, step_loss;
} lm_run;

/* One step: B random windows (every rank draws all offsets, then reads its
 * own), forward and backward, the all-reduce with the loss and the stop
 * request, the divergence check, the update. */
static int lm_step(void *user, sd_trainer_io *io)
{
    lm_run *R = user;
    const sd_lm_opts *o = R->o;
    const int step = (int)io->step, T = R->T, B = R->B, count = R->count;
    if (step > o->steps) return 1;
    double t0 = sd_time_now();
    for (int b = 0; b < B; b++) R->offs[b] = sd_rng_below(&R->st->rng, (uint32_t)(R->n_train - (size_t)T));   /* off + T < n_train */
    for (int j = 0; j < count; j++) {
        const size_t off = R->offs[R->first + j];
        for (int t = 0; t < T; t++) {
            R->in[t * count + j] = R->tok[off + t];
            R->tgt[t * count + j] = R->tok[off + t + 1];
        }
    }
    sd_params *P = sd_lm_params(R->m);
    sd_graph_reset(R->g);
    sd_params_zero_grad(P);
    sd_tensor *loss = NULL;
    /* dropout's masks: from (seed, step, first window), so a resumed run draws the same */
    sd_rng drng;
    sd_rng_seed(&drng, o->seed ^ (0x9e3779b97f4a7c15ULL * ((uint64_t)step * 65536u + (uint64_t)R->first + 1)));
    if (count > 0)
        loss = sd_cross_entropy(R->g, sd_lm_forward_train(R->g, R->m, R->in, T, count, o->dropout > 0 ? &drng : NULL),
                                R->tgt);
    if (sd_dist_sync_begin(R->sync, R->g, (double)count / B)) return -1;
    if (count > 0 && (!loss || sd_backward(R->g, loss))) return sd_error_prefix("step %d", step);
    /* the gradient becomes the global batch's; the loss and a stop request travel along */
    double info[2] = { count > 0 ? loss->data[0] * ((double)count / B) : 0.0, o->stop && *o->stop };
    if (sd_dist_sync_end(R->sync, info, 2)) return -1;
    const double step_loss = info[0];
    int bad = -1;
    if (!isfinite(step_loss) || (bad = sd_params_first_nonfinite(P, 1)) >= 0) {
        R->r->failed_everywhere = 1;   /* the reduced loss and gradient: every rank sees this */
        return sd_error("training diverged at step %d: %s%s%s; nothing was written (try a smaller --lr)", step,
                        bad < 0 ? "the loss is " : "the gradient of ",
                        bad < 0 ? (isnan(step_loss) ? "NaN" : "Inf") : sd_params_name(P, bad),
                        bad < 0 ? "" : " holds NaN/Inf");
    }
    if (o->cell == SD_CELL_TRANSFORMER) {
        if (o->clip > 0) sd_params_clip_grad_norm(P, o->clip);
        sd_optim_set_lr(R->opt, sd_lr_warmup_cosine(step - 1, o->warmup, o->steps, o->lr, o->lr / 10));
    }
    sd_optim_step(R->opt);
    R->train_time += sd_time_now() - t0;
    R->st->loss_window += step_loss;
    R->st->window++;
    R->st->tail[(step - 1) % 100] = step_loss;
    R->st->step = step;
    R->r->steps = step;
    R->step_loss = step_loss;
    /* agreed: every rank stops after this step (--stop-after: before the last step only) */
    io->stop = info[1] > 0 || (o->stop_after > 0 && step == o->stop_after && step < o->steps);
    io->items = (double)T * B;
    io->values[0] = step_loss;
    io->values[1] = step_loss / LN2;
    return 0;
}

static int lm_checkpoint(void *user, const sd_trainer_io *io)
{
    lm_run *R = user;
    (void)io;
    return R->rank == 0 && sd_lm_checkpoint_save(R->o->checkpoint, R->m, R->opt, R->o, R->text_n, R->st);
}

/* After a step: the terminal's line, the progress line every log_every steps,
 * validation every eval_every steps and samples every sample_every, all at the last. */
static int lm_after(void *user, const sd_trainer_io *io)
{
    lm_run *R = user;
    const sd_lm_opts *o = R->o;
    const int step = (int)io->step, last = step == o->steps;
    const double tokens = (double)(step - R->first_step) * R->T * R->B;
    double now = sd_time_now();
    if (o->live_progress && (now - R->last_draw > 0.2 || last)) {
        double tps = tokens / R->train_time, eta = (double)(o->steps - step) * R->T * R->B / tps;
        fprintf(stderr, "\r\033[Kstep %d/%d  loss %.4f  %.0f tok/s  ETA %dm%02ds", step, o->steps, R->step_loss, tps,
                (int)eta / 60, (int)eta % 60);
        fflush(stderr);
        R->last_draw = now;
    }
    if (step % R->log_every == 0 || last) {
        if (o->live_progress) fprintf(stderr, "\r\033[K");
        double l = R->st->loss_window / R->st->window;
        fprintf(R->log, "step %d/%d  loss %.4f (%.3f bpc)  %.0f tokens/s\n", step, o->steps, l, l / LN2,
                tokens / R->train_time);
        R->st->loss_window = 0.0;
        R->st->window = 0;
    }
    if ((o->eval_every > 0 && step % o->eval_every == 0) || last) {
        /* a stop during validation: the state after this step is whole (sd_trainer_run checkpoints it) */
        int v = validate(R->g, R->m, R->dist, R->tok + R->n_train, R->n_val, R->T, R->vb, R->in, R->tgt, R->o->stop,
                         &R->r->val_bpc);
        if (v) return v == SD_STOPPED ? SD_STOPPED : -1;
        fprintf(R->log, "step %d: validation %.4f bits per character\n", step, R->r->val_bpc);
        if (sd_trainer_epoch(R->tr, step, 0, (double[]){ NAN, NAN, R->r->val_bpc })) return -1;
    }
    if (R->rank == 0 && o->sample_len > 0 && ((o->sample_every > 0 && step % o->sample_every == 0) || last)) {
        uint8_t p;
        default_prime(R->vocab, &p);
        if (sd_lm_generate(R->m, R->ctx, &p, 1, o->sample_len, 0.8f, &R->st->srng, R->sample)) return -1;
        fprintf(R->log, "sample at step %d:\n", step);
        print_sample(R->log, R->sample, o->sample_len, "  | ");
    }
    fflush(R->log);
    return 0;
}

static void lm_where(void *user, char *buf, size_t size)
{
    lm_run *R = user;
    snprintf(buf, size, "step %d of %d", R->st->step, R->o->steps);
}

int sd_app_lm_train(const sd_lm_opts *o, sd_lm_result *r, FILE *log)
{
    double t_start = sd_time_now();
    memset(r, 0, sizeof *r);
    const char *path = o->text ? o->text : SD_LM_DEFAULT_TEXT;
    const int T = o->seq, B = o->batch;
    if (T < 1 || B < 1 || o->steps < 1 || o->hidden < 1 || o->layers < 1 || o->emb < 1)
        return sd_error("seq, batch, steps, hidden, layers and emb must be at least 1");
    const int tf = o->cell == SD_CELL_TRANSFORMER;
    if (tf && (o->dim < 1 || o->heads < 1 || o->dim % o->heads))
        return sd_error("--heads %d does not divide --dim %d", o->heads, o->dim);
    sd_dist *dist = o->dist;
    const int rank = sd_dist_rank(dist), nranks = sd_dist_size(dist);
    if (nranks > 1 && check_same_config(o, dist)) {
        r->failed_everywhere = 1;
        return -1;
    }
    const int threads = sd_dist_threads(dist, o->threads);
    sd_text text = { 0 };
    sd_lm *m = NULL;
    sd_ctx *ctx = NULL;
    sd_optim *opt = NULL;
    sd_graph *g = NULL;   /* training and validation share one arena (it grows to the larger) */
    sd_dist_sync *sync = NULL;
    sd_trainer *tr = NULL;
    int32_t *in = NULL, *tgt = NULL;
    uint32_t *offs = NULL;
    uint8_t *sample = NULL;
    int rc = -1;
    if (rank == 0) {   /* before any work: no output replaces an input (or joins the corpus), all can be written */
        const sd_path_use uses[] = { { path, sd_app_input_role(path), "--text" },
                                     { o->resume, SD_PATH_RESUME, "--resume" }, { o->out, SD_PATH_OUTPUT, "--out" },
                                     { o->checkpoint, SD_PATH_CHECKPOINT, "--checkpoint" },
                                     { o->track.log, SD_PATH_APPEND, "--log" } };
        if (sd_app_check_paths(NULL, uses, 5)) goto done;
    }
    {   /* one process honours a stop during the read (ranks would disagree on it: theirs comes at step 1) */
        int loaded = sd_text_load_with(path, nranks == 1 ? o->stop : NULL, &text);
        if (loaded > 0) {
            fprintf(log, "stopped while reading %s: nothing trained, nothing saved\n", path);
            rc = SD_STOPPED;
        }
        if (loaded) goto done;
    }
    sd_vocab vocab;
    sd_vocab_build(&vocab, text.data, text.n);
    const size_t n_train = (size_t)((double)text.n * 0.95), n_val = text.n - n_train;
    if (n_train < (size_t)T + 1) {
        sd_error("--seq %d is longer than the text: %s has %zu bytes, %zu for training, and a window needs %d",
                 T, path, text.n, n_train, T + 1);
        goto done;
    }
    if (n_val < (size_t)T + 1) {
        sd_error("--seq %d is longer than the held-out text: the last 5%% of %s is %zu bytes and a validation "
                 "window needs %d (use a longer text or a smaller --seq)", T, path, n_val, T + 1);
        goto done;
    }
    /* a transformer keeps every layer's activations of the batch (no state to carry):
     * its validation batches are the training batch's size, not 256 windows */
    const int vb = o->cell == SD_CELL_TRANSFORMER ? (B > 32 ? B : 32) : VAL_BATCH;
    const int val_batch = (int)((n_val - 1) / T < (size_t)vb ? (n_val - 1) / T : (size_t)vb);
    const int maxB = B > val_batch ? B : val_batch;
    {   /* a step's graph from the sizes (flags or a checkpoint), before anything is allocated: per
         * window position, the embedding, each layer's gate inputs, gates, cell states and outputs,
         * the logits and their softmax, all twice for the backward */
        const double GH = (o->cell == SD_CELL_LSTM ? 4.0 : 1.0) * o->hidden;
        const double per = 2.0 * 4.0 * ((double)o->emb + o->layers * (2 * GH + 3.0 * o->hidden) + 2.0 * vocab.n);
        const double bytes = per * T * maxB;
        const uint64_t limit = o->max_memory ? o->max_memory : SD_MODEL_MAX_MEMORY;
        if (bytes > (double)limit) {
            sd_error("a step of %d windows of %d characters needs about %.0f MiB of activations (%d %s layers of "
                     "%d, embedding %d, %d symbols), over the limit of %.1f MiB (--max-memory)", maxB, T,
                     bytes / 1048576, o->layers, sd_cell_name(o->cell), o->hidden, o->emb, vocab.n,
                     (double)limit / 1048576);
            goto done;
        }
    }
    in = malloc((size_t)T * maxB * sizeof *in);
    tgt = malloc((size_t)T * maxB * sizeof *tgt);
    offs = malloc((size_t)B * sizeof *offs);
    sample = malloc((size_t)(o->sample_len > 0 ? o->sample_len : 1));
    if (!in || !tgt || !offs || !sample) { sd_error("out of memory"); goto done; }
    /* the tokens replace the bytes in place (a vocabulary has at most 256 symbols):
     * no second copy of the corpus, four times its size */
    uint8_t *tok = text.data;
    for (size_t i = 0; i < text.n; i++) tok[i] = (uint8_t)vocab.index[tok[i]];

    sd_lm_train_state st = { 0 };
    sd_rng_seed(&st.rng, o->seed);
    sd_rng_seed(&st.srng, o->seed ^ 0x5eed5eedULL);
    if (!(ctx = sd_ctx_new(&(sd_ctx_opts){ .threads = threads }))) goto done;
    sd_app_use_precision(ctx, o->precision, log);
    m = tf ? sd_lm_new_transformer(&vocab, o->layers, o->dim, o->heads, T, o->dropout, &st.rng)
           : sd_lm_new(&vocab, o->cell, o->layers, o->hidden, o->emb, o->forget_bias, &st.rng);
    if (!m) goto done;
    sd_params *P = m->P;
    /* the transformer: AdamW (β2 0.99, no decay on gains and biases), the rate
     * warmed up then cosine-decayed to a tenth, gradients clipped */
    sd_optim_opts oo = { .kind = SD_OPTIM_ADAM, .lr = o->lr, .threads = sd_ctx_threads(ctx) };
    if (tf) {
        oo.beta2 = 0.99f;
        oo.weight_decay = o->weight_decay;
        oo.decoupled = oo.decay_matrices_only = 1;
    }
    if (!(opt = sd_optim_new(P, &oo))) goto done;
    if (!(sync = sd_dist_sync_new(dist, P, &(sd_dist_sync_opts){ .overlap = o->overlap }))) goto done;
    if (!(g = sd_graph_new(ctx))) goto done;
    sd_graph_set_grad_reuse(g, 1);   /* backward holds about one layer's gradients, not all */
    if (o->resume) {
        if (sd_lm_checkpoint_restore(o->resume, m, opt, text.n, &st)) goto done;
        if (st.step > o->steps) {
            sd_error("%s: the checkpoint is at step %d of a %d-step run", o->resume, st.step, o->steps);
            goto done;
        }
        fprintf(log, "resuming %s at step %d of %d\n", o->resume, st.step, o->steps);
    }
    if (nranks > 1) {   /* the data RNG draws every window */
        const sd_chunk start[] = { { sd_params_values(P), sd_params_size(P) * sizeof(float) },
                                   { st.rng.s, sizeof st.rng.s } };
        int same = sd_app_same_start(dist, start, 2, o->resume != NULL);
        if (same <= 0) { r->failed_everywhere = same == 0; goto done; }
    }
    r->params = sd_params_numel(P);
    r->vocab = vocab.n;
    r->ranks = nranks;
    if (tf)
        fprintf(log, "training a %d-layer transformer language model (%zu parameters: dim %d, %d heads, context %d, "
                     "vocabulary %d, dropout %g) on %s\n", o->layers, r->params, o->dim, o->heads, T, vocab.n,
                o->dropout, path);
    else
        fprintf(log, "training a %d-layer %s language model (%zu parameters: embedding %d, hidden %d, vocabulary %d) on %s\n",
                o->layers, sd_cell_name(o->cell), r->params, o->emb, o->hidden, vocab.n, path);
    fprintf(log, "text: %zu bytes from %d file%s; %zu for training, %zu held out; seq %d, batch %d, adam lr %g, "
            "%d steps, %d thread%s\n", text.n, text.nfiles, text.nfiles == 1 ? "" : "s", n_train, n_val, T, B,
            sd_optim_lr(opt), o->steps, sd_ctx_threads(ctx), sd_ctx_threads(ctx) == 1 ? "" : "s");
    if (tf)
        fprintf(log, "adamw: weight decay %g on matrices, beta2 0.99; lr warm-up %d steps then cosine to %g; "
                     "gradients clipped to norm %g\n", o->weight_decay, o->warmup, o->lr / 10, o->clip);
    if (nranks > 1)
        fprintf(log, "data parallel: %d ranks x %d threads, each %d or %d of the %d windows of every step; "
                     "gradients all-reduced %s\n", nranks, sd_ctx_threads(ctx), B / nranks,
                (B + nranks - 1) / nranks, B, o->overlap ? "in buckets during backward" : "once per step");
    fflush(log);

    const int log_every = o->log_every > 0 ? o->log_every : 100;
    const int first_step = st.step;
    static const char *const log_keys[] = { "loss", "bpc", "val_bpc", NULL };
    if (!(tr = sd_trainer_new(&(sd_trainer_opts){ .unit = "tok", .keys = log_keys, .total_steps = o->steps,
                                                  .flags = o->track, .default_log_every = log_every,
                                                  .live = o->live_progress, .rank = rank,
                                                  .resume_step = o->resume ? st.step : 0, .out = o->out,
                                                  .cmd = "lm train", .config = sd_lm_config_fields, .config_opts = o,
                                                  .epochs = 1, .log = log, .checkpoint = o->checkpoint,
                                                  .checkpoint_every = o->checkpoint_every,
                                                  .hint = (const char *const[]){ "out", o->out }, .nhint = 2 })))
        goto done;
    lm_run R = { .o = o, .r = r, .dist = dist, .rank = rank, .m = m, .opt = opt, .g = g, .vb = vb, .sync = sync,
                 .ctx = ctx, .vocab = &vocab, .tok = tok, .n_train = n_train, .n_val = n_val, .text_n = text.n, .T = T,
                 .B = B, .in = in, .tgt = tgt, .offs = offs, .sample = sample, .st = &st, .log = log, .tr = tr,
                 .log_every = log_every, .first_step = first_step };
    sd_dist_shard(dist, B, &R.first, &R.count);
    const sd_trainer_hooks hooks = { &R, lm_step, lm_checkpoint, NULL, lm_after, lm_where };
    int ran = sd_trainer_run(tr, &hooks, 1);
    if (ran) {
        if (ran == SD_STOPPED) rc = SD_STOPPED;
        goto done;
    }
    const double train_time = R.train_time;
    if (first_step == o->steps) {   /* resumed a finished run: the model file still gets its figures */
        if (validate(g, m, dist, tok + n_train, n_val, T, vb, in, tgt, NULL, &r->val_bpc)) goto done;
        fprintf(log, "step %d: validation %.4f bits per character\n", o->steps, r->val_bpc);
    }
    r->steps = o->steps;
    int nt = o->steps < 100 ? o->steps : 100;
    for (int i = 0; i < nt; i++) r->train_bpc += st.tail[i] / nt / LN2;
    r->train_tokens_per_s = train_time > 0 ? (double)(o->steps - first_step) * T * B / train_time : 0.0;
    if (nranks > 1) {
        sd_dist_sync_stats ss = sd_dist_sync_get_stats(sync);
        fprintf(log, "gradient all-reduce: %d bucket%s (%.1f per step started during backward), %.2f s waiting "
                     "(%.2f ms per step)%s\n", ss.buckets, ss.buckets == 1 ? "" : "s",
                ss.steps ? (double)ss.early / ss.steps : 0.0, ss.wait_s, ss.steps ? 1e3 * ss.wait_s / ss.steps : 0.0,
                ss.redone ? ", some steps reduced twice (the graph changed)" : "");
    }
    /* the final state: a finished run's checkpoint resumes to nothing more */
    if (rank == 0 && o->checkpoint && sd_lm_checkpoint_save(o->checkpoint, m, opt, o, text.n, &st)) goto done;

    if (rank == 0 && o->out) {
        char bpc[32], steps[32], seq[32];
        snprintf(bpc, sizeof bpc, "%.4f", r->val_bpc);
        snprintf(steps, sizeof steps, "%d", o->steps);
        snprintf(seq, sizeof seq, "%d", T);
        const sd_st_kv extra[] = { { "val_bpc", bpc }, { "steps", steps }, { "seq", seq }, { "text", path } };
        if (sd_lm_save(m, o->out, extra, 4)) goto done;
        fprintf(log, "saved %s\n", o->out);
    }
    rc = sd_trainer_finish(tr, log);
    tr = NULL;
done:
    sd_trainer_free(tr);
    r->wall_s = sd_time_now() - t_start;
    if (sync) r->sync_wait_s = sd_dist_sync_get_stats(sync).wait_s;
    sd_dist_sync_free(sync);
    free(in);
    free(tgt);
    free(offs);
    free(sample);
    sd_graph_free(g);
    sd_optim_free(opt);
    sd_lm_free(m);
    sd_ctx_free(ctx);
    sd_text_free(&text);
    return rc;
}

/* ---- Sampling from a saved model */

int sd_app_lm_sample(const char *model_path, const sd_lm_sample_opts *o, FILE *out)
{
    sd_lm *m = sd_lm_load(model_path);
    if (!m) return -1;
    sd_ctx *ctx = sd_ctx_new(&(sd_ctx_opts){ .threads = o->threads > 0 ? o->threads : 1 });
    uint8_t *text = malloc((size_t)o->len + 1);
    int rc = -1;
    if (!ctx || !text) { if (!text) sd_error("out of memory"); goto done; }
    uint8_t p[1];
    const uint8_t *prime = (const uint8_t *)o->prime;
    size_t nprime = prime ? strlen(o->prime) : 0;
    if (!prime) { default_prime(&m->vocab, p); prime = p; nprime = 1; }
    sd_rng rng;
    sd_rng_seed(&rng, o->seed);
    const sd_lm_gen_opts go = { .temperature = o->temperature, .top_k = o->top_k, .no_cache = o->no_cache };
    if (sd_lm_generate_with(m, ctx, prime, nprime, o->len, &go, &rng, text)) {
        sd_error_prefix("%s", model_path);
        goto done;
    }
    if (o->terminal) {   /* the bytes come from the training text: none may drive the terminal */
        for (int k = 0; k < 2; k++) {
            const uint8_t *s = k ? text : prime;
            for (size_t i = 0, n = k ? (size_t)o->len : nprime; i < n; i++)
                if (s[i] == '\n' || s[i] == '\t' || (s[i] >= 0x20 && s[i] != 0x7f)) fputc(s[i], out);
                else fprintf(out, "\\x%02x", s[i]);
        }
    } else {
        fwrite(prime, 1, nprime, out);
        fwrite(text, 1, (size_t)o->len, out);
    }
    if (o->len > 0 && text[o->len - 1] != '\n') fputc('\n', out);
    rc = 0;
done:
    free(text);
    sd_ctx_free(ctx);
    sd_lm_free(m);
    return rc;
}
