/* Sequence layers: embedding, one-hot input, stacked tanh RNN / LSTM layers
 * (fused or unrolled into elementary ops) and their state. */
#include "shendu/rnn.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_LAYERS 16

/* ---- Embedding and one-hot */

int sd_embedding_init(sd_embedding *e, sd_params *P, const char *name, int vocab, int dim, sd_rng *rng)
{
    char wn[80];
    if (vocab < 1 || dim < 1) return sd_error("embedding '%s': sizes must be positive (vocab %d, dim %d)", name, vocab, dim);
    snprintf(wn, sizeof wn, "%s.weight", name);
    *e = (sd_embedding){ .P = P, .vocab = vocab, .dim = dim };
    if ((e->w = sd_params_add(P, wn, SD_SHAPE(vocab, dim))) < 0) return -1;
    float *w = sd_params_data(P, e->w);
    for (size_t i = 0; i < (size_t)vocab * dim; i++) w[i] = sd_rng_normal(rng);
    return 0;
}

/* idx[n] -> (n, dim) */
sd_tensor *sd_embedding_forward(sd_graph *g, const sd_embedding *e, const int32_t *idx, int n)
{
    return sd_gather_rows(g, sd_param(g, e->P, e->w), idx, n);
}

/* idx[n] -> (n, classes) one-hot */
sd_tensor *sd_one_hot(sd_graph *g, const int32_t *idx, int n, int classes)
{
    for (int i = 0; i < n; i++)
        if (idx[i] < 0 || idx[i] >= classes) {
            sd_error("one_hot: index %d (position %d) is outside [0,%d)", idx[i], i, classes);
            return NULL;
        }
    sd_tensor *y = sd_zeros(g, SD_SHAPE(n, classes));
    if (y) for (int i = 0; i < n; i++) y->data[(size_t)i * classes + idx[i]] = 1.0f;
    return y;
}

/* ---- Cells */

int sd_cell_parse(const char *name, sd_cell *out)
{
    if (!strcmp(name, "rnn")) { *out = SD_CELL_RNN; return 0; }
    if (!strcmp(name, "lstm")) { *out = SD_CELL_LSTM; return 0; }
    if (!strcmp(name, "transformer")) { *out = SD_CELL_TRANSFORMER; return 0; }
    return sd_error("unknown cell '%s' (expected rnn, lstm or transformer)", name);
}

const char *sd_cell_name(sd_cell c)
{
    return c == SD_CELL_LSTM ? "lstm" : c == SD_CELL_TRANSFORMER ? "transformer" : "rnn";
}

typedef struct rnn_layer { int wih, whh, bih, bhh, in; } rnn_layer;

struct sd_rnn {
    sd_params *P;
    sd_rnn_opts o;
    int G;                       /* gates: 1 (RNN) or 4 (LSTM) */
    rnn_layer layer[MAX_LAYERS];
};

struct sd_rnn_state {
    int B, H, L, per_layer;      /* floats per layer: B·H (RNN) or 2·B·H (LSTM: h then c) */
    int lstm;
    float *buf;
};

sd_rnn *sd_rnn_new(sd_params *P, const char *name, const sd_rnn_opts *opts, sd_rng *rng)
{
    sd_rnn_opts o = *opts;
    if (!o.layers) o.layers = 1;
    if (!o.forget_bias) o.forget_bias = 1.0f;
    if (o.cell != SD_CELL_RNN && o.cell != SD_CELL_LSTM) { sd_error("%s: unknown cell %d", name, (int)o.cell); return NULL; }
    if (o.input < 1 || o.hidden < 1 || o.layers < 1 || o.layers > MAX_LAYERS) {
        sd_error("%s: bad sizes (input %d, hidden %d, layers %d; at most %d layers)", name, o.input, o.hidden,
                 o.layers, MAX_LAYERS);
        return NULL;
    }
    sd_rnn *r = calloc(1, sizeof *r);
    if (!r) { sd_error("out of memory"); return NULL; }
    r->P = P;
    r->o = o;
    r->G = o.cell == SD_CELL_LSTM ? 4 : 1;
    const int H = o.hidden, GH = r->G * H;
    const float a = 1.0f / sqrtf((float)H);
    for (int l = 0; l < o.layers; l++) {
        rnn_layer *L = &r->layer[l];
        char n[4][96];
        snprintf(n[0], sizeof n[0], "%s.weight_ih_l%d", name, l);
        snprintf(n[1], sizeof n[1], "%s.weight_hh_l%d", name, l);
        snprintf(n[2], sizeof n[2], "%s.bias_ih_l%d", name, l);
        snprintf(n[3], sizeof n[3], "%s.bias_hh_l%d", name, l);
        L->in = l ? H : o.input;
        if ((L->wih = sd_params_add(P, n[0], SD_SHAPE(GH, L->in))) < 0 ||
            (L->whh = sd_params_add(P, n[1], SD_SHAPE(GH, H))) < 0 ||
            (L->bih = sd_params_add(P, n[2], SD_SHAPE(GH))) < 0 ||
            (L->bhh = sd_params_add(P, n[3], SD_SHAPE(GH))) < 0) {
            free(r);
            return NULL;
        }
    }
    /* Fill after the last add: adding may move the buffers. */
    for (int l = 0; l < o.layers; l++) {
        const rnn_layer *L = &r->layer[l];
        const int ids[4] = { L->wih, L->whh, L->bih, L->bhh };
        for (int k = 0; k < 4; k++) {
            float *w = sd_params_data(P, ids[k]);
            size_t n = sd_shape_numel(sd_params_shape(P, ids[k]));
            for (size_t i = 0; i < n; i++) w[i] = a * (2.0f * sd_rng_uniform(rng) - 1.0f);
        }
        if (o.cell == SD_CELL_LSTM && !o.torch_init) {
            float *bih = sd_params_data(P, L->bih), *bhh = sd_params_data(P, L->bhh);
            for (int j = H; j < 2 * H; j++) { bih[j] = o.forget_bias; bhh[j] = 0.0f; }
        }
    }
    return r;
}

void sd_rnn_free(sd_rnn *r) { free(r); }
const sd_rnn_opts *sd_rnn_options(const sd_rnn *r) { return &r->o; }
void sd_rnn_set_composed(sd_rnn *r, int composed) { r->o.composed = composed != 0; }

size_t sd_rnn_param_count(const sd_rnn *r)
{
    size_t n = 0;
    for (int l = 0; l < r->o.layers; l++) {
        const rnn_layer *L = &r->layer[l];
        n += (size_t)r->G * r->o.hidden * (L->in + r->o.hidden + 2);
    }
    return n;
}

/* ---- State */

sd_rnn_state *sd_rnn_state_new(const sd_rnn *r, int batch)
{
    if (batch < 1) { sd_error("rnn state: batch must be at least 1, got %d", batch); return NULL; }
    sd_rnn_state *s = calloc(1, sizeof *s);
    if (!s) { sd_error("out of memory"); return NULL; }
    s->B = batch;
    s->H = r->o.hidden;
    s->L = r->o.layers;
    s->lstm = r->o.cell == SD_CELL_LSTM;
    s->per_layer = (s->lstm ? 2 : 1) * batch * s->H;
    s->buf = calloc((size_t)s->per_layer * s->L, sizeof(float));
    if (!s->buf) { free(s); sd_error("out of memory"); return NULL; }
    return s;
}

void sd_rnn_state_free(sd_rnn_state *s)
{
    if (!s) return;
    free(s->buf);
    free(s);
}

void sd_rnn_state_reset(sd_rnn_state *s) { memset(s->buf, 0, (size_t)s->per_layer * s->L * sizeof(float)); }
int sd_rnn_state_batch(const sd_rnn_state *s) { return s->B; }
float *sd_rnn_state_h(sd_rnn_state *s, int layer) { return s->buf + (size_t)layer * s->per_layer; }

float *sd_rnn_state_c(sd_rnn_state *s, int layer)
{
    return s->lstm ? s->buf + (size_t)layer * s->per_layer + (size_t)s->B * s->H : NULL;
}

/* ---- Forward */

/* outs[lo..hi) concatenated along rows, as a balanced tree of sd_concat. */
static sd_tensor *concat_rows(sd_graph *g, sd_tensor **outs, int lo, int hi)
{
    if (hi - lo == 1) return outs[lo];
    int mid = (lo + hi) / 2;
    return sd_concat(g, concat_rows(g, outs, lo, mid), concat_rows(g, outs, mid, hi), 0);
}

/* A (B,H) tensor of the state (copied, so the state may be overwritten), or zeros. */
static sd_tensor *state_tensor(sd_graph *g, const float *src, int B, int H)
{
    sd_tensor *t = sd_zeros(g, SD_SHAPE(B, H));
    if (t && src) memcpy(t->data, src, (size_t)B * H * sizeof(float));
    return t;
}

/* One layer unrolled into elementary ops: xp = x W_ihᵀ (T·B, G·H) -> (T·B, H).
 * (The reference path: it mallocs its list of steps, the fused path nothing.) */
static sd_tensor *layer_composed(sd_graph *g, const sd_rnn *r, const rnn_layer *L, sd_tensor *xp, int T, int B,
                                 const int32_t *lengths, float *st)
{
    const int H = r->o.hidden, lstm = r->G == 4;
    sd_params *P = r->P;
    sd_tensor *whh = sd_param(g, P, L->whh);
    sd_tensor *b = sd_add(g, sd_param(g, P, L->bih), sd_param(g, P, L->bhh));
    sd_tensor *h = state_tensor(g, st, B, H), *c = lstm ? state_tensor(g, st ? st + (size_t)B * H : NULL, B, H) : NULL;
    sd_tensor **outs = malloc((size_t)T * sizeof *outs);
    if (!outs) { sd_error("out of memory"); return NULL; }
    for (int t = 0; t < T; t++) {
        sd_tensor *pre = sd_bias_add(g, sd_add(g, sd_slice(g, xp, 0, t * B, B), sd_matmul(g, h, whh, SD_TRANS_B)), b);
        sd_tensor *hn, *cn = NULL;
        if (!lstm) {
            hn = sd_tanh(g, pre);
        } else {
            sd_tensor *i = sd_sigmoid(g, sd_slice(g, pre, 1, 0, H));
            sd_tensor *f = sd_sigmoid(g, sd_slice(g, pre, 1, H, H));
            sd_tensor *gg = sd_tanh(g, sd_slice(g, pre, 1, 2 * H, H));
            sd_tensor *o = sd_sigmoid(g, sd_slice(g, pre, 1, 3 * H, H));
            cn = sd_add(g, sd_mul(g, f, c), sd_mul(g, i, gg));
            hn = sd_mul(g, o, sd_tanh(g, cn));
        }
        if (lengths) {            /* ended sequences keep their state: s = s_prev + m ∘ (s_new − s_prev) */
            sd_tensor *m = sd_zeros(g, SD_SHAPE(B, H));
            if (m)
                for (int k = 0; k < B; k++)
                    if (t < lengths[k]) for (int j = 0; j < H; j++) m->data[(size_t)k * H + j] = 1.0f;
            hn = sd_add(g, h, sd_mul(g, m, sd_sub(g, hn, h)));
            if (lstm) cn = sd_add(g, c, sd_mul(g, m, sd_sub(g, cn, c)));
        }
        outs[t] = h = hn;
        c = cn;
    }
    sd_tensor *y = h ? concat_rows(g, outs, 0, T) : NULL;
    free(outs);
    if (y && st) {
        memcpy(st, h->data, (size_t)B * H * sizeof(float));
        if (lstm) memcpy(st + (size_t)B * H, c->data, (size_t)B * H * sizeof(float));
    }
    return y;
}

/* One layer with the fused op: xp = x W_ihᵀ (T·B, G·H) -> (T·B, H). */
static sd_tensor *layer_fused(sd_graph *g, const sd_rnn *r, const rnn_layer *L, sd_tensor *xp, int T,
                              const int32_t *lengths, float *st)
{
    sd_params *P = r->P;
    sd_tensor *b = sd_add(g, sd_param(g, P, L->bih), sd_param(g, P, L->bhh));
    sd_tensor *whh = sd_param(g, P, L->whh);
    return r->G == 4 ? sd_lstm_seq(g, xp, whh, b, T, lengths, st, st) : sd_rnn_seq(g, xp, whh, b, T, lengths, st, st);
}

/* Every layer, on x (T·B, in) or, given instead, on layer 0's input projection xp0. */
static sd_tensor *forward(sd_graph *g, sd_rnn *r, sd_tensor *x, sd_tensor *xp0, int T, const int32_t *lengths,
                          sd_rnn_state *state)
{
    sd_tensor *in = x ? x : xp0;
    if (!in) return NULL;
    const int width = x ? r->o.input : r->G * r->o.hidden;
    if (T < 1 || in->shape.ndim != 2 || in->shape.d[1] != width || in->shape.d[0] < T || in->shape.d[0] % T) {
        char s[64];
        sd_error("rnn: expected %s (T*B, %d) time-major with T = %d, got %s", x ? "x" : "the input projection",
                 width, T, sd_shape_str(in->shape, s, sizeof s));
        return NULL;
    }
    const int B = in->shape.d[0] / T;
    if (state && (state->B != B || state->H != r->o.hidden || state->L != r->o.layers ||
                  state->lstm != (r->o.cell == SD_CELL_LSTM))) {
        sd_error("rnn: the state is for batch %d, the input has %d sequences", state->B, B);
        return NULL;
    }
    for (int b = 0; lengths && b < B; b++)
        if (lengths[b] < 0 || lengths[b] > T) {
            sd_error("rnn: length %d of sequence %d is outside [0,%d]", lengths[b], b, T);
            return NULL;
        }
    for (int l = 0; l < r->o.layers && in; l++) {
        const rnn_layer *L = &r->layer[l];
        float *st = state ? state->buf + (size_t)l * state->per_layer : NULL;
        sd_tensor *xp = l == 0 && xp0 ? xp0 : sd_matmul(g, in, sd_param(g, r->P, L->wih), SD_TRANS_B);
        in = r->o.composed ? layer_composed(g, r, L, xp, T, B, lengths, st) : layer_fused(g, r, L, xp, T, lengths, st);
    }
    return in;
}

sd_tensor *sd_rnn_forward(sd_graph *g, sd_rnn *r, sd_tensor *x, int T, const int32_t *lengths,
                          sd_rnn_state *state)
{
    return x ? forward(g, r, x, NULL, T, lengths, state) : NULL;
}

sd_tensor *sd_rnn_forward_proj(sd_graph *g, sd_rnn *r, sd_tensor *xp0, int T, const int32_t *lengths,
                               sd_rnn_state *state)
{
    return xp0 ? forward(g, r, NULL, xp0, T, lengths, state) : NULL;
}

int sd_rnn_param_id(const sd_rnn *r, int layer, const char *which)
{
    if (layer < 0 || layer >= r->o.layers) return sd_error("rnn: no layer %d (it has %d)", layer, r->o.layers);
    const rnn_layer *L = &r->layer[layer];
    if (!strcmp(which, "weight_ih")) return L->wih;
    if (!strcmp(which, "weight_hh")) return L->whh;
    if (!strcmp(which, "bias_ih")) return L->bih;
    if (!strcmp(which, "bias_hh")) return L->bhh;
    return sd_error("rnn: no parameter '%s' (weight_ih, weight_hh, bias_ih, bias_hh)", which);
}

sd_tensor *sd_rnn_last(sd_graph *g, sd_tensor *y, int T)
{
    if (!y) return NULL;
    if (y->shape.ndim != 2 || T < 1 || y->shape.d[0] < T || y->shape.d[0] % T) {
        char s[64];
        sd_error("rnn_last: expected (T*B, H) with T = %d, got %s", T, sd_shape_str(y->shape, s, sizeof s));
        return NULL;
    }
    int B = y->shape.d[0] / T;
    return sd_slice(g, y, 0, (T - 1) * B, B);
}
