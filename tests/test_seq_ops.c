/* The sequence ops (gather_rows, slice, concat, rnn_seq, lstm_seq): a
 * finite-difference gradient check of each, forward values by hand, the fast
 * activation functions against libm, and bad shapes. */
#include "gradcheck.h"
#include "kernels/rnn_cell.h"

enum { T_GATHER, T_SLICE_ROWS, T_SLICE_COLS, T_CONCAT_ROWS, T_CONCAT_COLS, T_RNN, T_LSTM, T_LSTM_XCONST };

typedef struct {
    int op;
    int T;                     /* sequence ops: steps */
    const int32_t *lengths;    /* or NULL */
    const float *state;        /* initial state or NULL */
} seqcase;

static float weights[4096];   /* fixed random R: loss = Σ y ∘ R */
static const int32_t gather_idx[7] = { 3, 0, 3, 1, 4, 4, 2 };

static sd_tensor *weighted_sum(sd_graph *g, sd_tensor *y)
{
    if (!y) return NULL;
    return sd_sum(g, sd_mul(g, y, sd_input(g, weights, y->shape)));
}

static sd_tensor *build(sd_graph *g, sd_params *P, void *user)
{
    const seqcase *c = user;
    sd_tensor *a = sd_param(g, P, 0), *b = sd_params_count(P) > 1 ? sd_param(g, P, 1) : NULL;
    switch (c->op) {
    case T_GATHER:      return weighted_sum(g, sd_gather_rows(g, a, gather_idx, 7));
    case T_SLICE_ROWS:  return weighted_sum(g, sd_tanh(g, sd_slice(g, a, 0, 1, 3)));
    case T_SLICE_COLS:  return weighted_sum(g, sd_tanh(g, sd_slice(g, a, 1, 2, 3)));
    case T_CONCAT_ROWS: return weighted_sum(g, sd_tanh(g, sd_concat(g, a, b, 0)));
    case T_CONCAT_COLS: return weighted_sum(g, sd_tanh(g, sd_concat(g, a, b, 1)));
    case T_RNN:
        return weighted_sum(g, sd_rnn_seq(g, a, b, sd_param(g, P, 2), c->T, c->lengths, c->state, NULL));
    case T_LSTM:
        return weighted_sum(g, sd_lstm_seq(g, a, b, sd_param(g, P, 2), c->T, c->lengths, c->state, NULL));
    case T_LSTM_XCONST:   /* xp without a gradient: only w_hh and b get one */
        return weighted_sum(g, sd_lstm_seq(g, sd_input(g, weights + 1000, a->shape), b, sd_param(g, P, 2), c->T,
                                           c->lengths, c->state, NULL));
    }
    return NULL;
}

static void run(sd_ctx *ctx, const char *name, seqcase c, sd_shape sa, sd_shape sb, sd_shape sc, float scale)
{
    sd_rng rng;
    sd_rng_seed(&rng, 4321);
    sd_params *P = sd_params_new();
    sd_params_add(P, "a", sa);
    if (sb.ndim) sd_params_add(P, "b", sb);
    if (sc.ndim) sd_params_add(P, "c", sc);
    for (int i = 0; i < sd_params_count(P); i++) gc_fill(P, i, &rng, i == 1 && c.op >= T_RNN ? scale : 1.0f, 0);
    gradcheck(name, ctx, P, build, &c, 3e-3);
    sd_params_free(P);
}

/* Values worked out by hand for one LSTM step of one unit:
 * pre = [0, 0, 0, 0] + bias [0, ln 3, 0, 0] with c0 = 2:
 *   i = o = 1/2, f = 3/4, g = 0 -> c = 1.5, h = tanh(1.5)/2. */
static void forward_values(sd_ctx *ctx)
{
    sd_graph *g = sd_graph_new(ctx);
    const float zero4[4] = { 0 }, w[4] = { 0 }, bias[4] = { 0, logf(3.0f), 0, 0 }, st[2] = { 0.0f, 2.0f };
    float out[2] = { -1, -1 };
    sd_tensor *y = sd_lstm_seq(g, sd_input(g, zero4, SD_SHAPE(1, 4)), sd_input(g, w, SD_SHAPE(4, 1)),
                               sd_input(g, bias, SD_SHAPE(4)), 1, NULL, st, out);
    CHECK(y != NULL);
    if (y) CHECK_NEAR(y->data[0], tanh(1.5) / 2, 1e-6);
    CHECK_NEAR(out[0], tanh(1.5) / 2, 1e-6);
    CHECK_NEAR(out[1], 1.5, 1e-6);
    /* RNN: h1 = tanh(1 + 0.5·h0) with h0 = 2 -> tanh 2; h2 = tanh(-1 + 0.5 tanh 2) */
    const float xs[2] = { 1.0f, -1.0f }, wr[1] = { 0.5f }, h0[1] = { 2.0f };
    y = sd_rnn_seq(g, sd_input(g, xs, SD_SHAPE(2, 1)), sd_input(g, wr, SD_SHAPE(1, 1)), NULL, 2, NULL, h0, NULL);
    CHECK(y && fabs(y->data[0] - tanh(2.0)) < 1e-6 && fabs(y->data[1] - tanh(-1.0 + 0.5 * tanh(2.0))) < 1e-6);
    /* lengths: a sequence of length 1 keeps its h after step 0 */
    const float xs2[4] = { 1.0f, 1.0f, 3.0f, 3.0f };
    const int32_t len[2] = { 1, 2 };
    y = sd_rnn_seq(g, sd_input(g, xs2, SD_SHAPE(4, 1)), sd_input(g, wr, SD_SHAPE(1, 1)), NULL, 2, len, NULL, NULL);
    CHECK(y && y->data[2] == y->data[0] && fabs(y->data[3] - tanh(3.0 + 0.5 * tanh(1.0))) < 1e-6);
    /* gather, slice and concat */
    const float m[6] = { 1, 2, 3, 4, 5, 6 };   /* (3,2) */
    const int32_t idx[3] = { 2, 2, 0 };
    y = sd_gather_rows(g, sd_input(g, m, SD_SHAPE(3, 2)), idx, 3);
    CHECK(y && y->data[0] == 5 && y->data[1] == 6 && y->data[2] == 5 && y->data[4] == 1);
    y = sd_slice(g, sd_input(g, m, SD_SHAPE(3, 2)), 1, 1, 1);
    CHECK(y && y->shape.d[0] == 3 && y->data[0] == 2 && y->data[1] == 4 && y->data[2] == 6);
    y = sd_concat(g, sd_input(g, m, SD_SHAPE(3, 2)), sd_input(g, m, SD_SHAPE(3, 2)), 1);
    CHECK(y && y->shape.d[1] == 4 && y->data[2] == 1 && y->data[3] == 2 && y->data[4] == 3);
    /* bad input is an error, not a crash */
    const int32_t bad[1] = { 3 };
    CHECK(sd_gather_rows(g, sd_input(g, m, SD_SHAPE(3, 2)), bad, 1) == NULL);
    CHECK(strstr(sd_last_error(), "index 3") != NULL);
    CHECK(sd_slice(g, sd_input(g, m, SD_SHAPE(3, 2)), 0, 2, 2) == NULL);
    CHECK(sd_concat(g, sd_input(g, m, SD_SHAPE(3, 2)), sd_input(g, m, SD_SHAPE(2, 3)), 1) == NULL);
    CHECK(sd_lstm_seq(g, sd_input(g, m, SD_SHAPE(3, 2)), sd_input(g, w, SD_SHAPE(4, 1)), NULL, 1, NULL, NULL,
                      NULL) == NULL);
    CHECK(strstr(sd_last_error(), "lstm_seq") != NULL);
    const int32_t badlen[2] = { 1, 3 };
    CHECK(sd_rnn_seq(g, sd_input(g, xs2, SD_SHAPE(4, 1)), sd_input(g, wr, SD_SHAPE(1, 1)), NULL, 2, badlen, NULL,
                     NULL) == NULL);
    CHECK(strstr(sd_last_error(), "length 3") != NULL);
    sd_graph_free(g);
}

/* The vectorisable exp / sigmoid / tanh of the fused kernels against libm. */
static void fast_math(void)
{
    double worst_exp = 0, worst_sig = 0, worst_tanh = 0;
    for (int i = -20000; i <= 20000; i++) {
        float x = (float)i * 0.0043f;
        double e = exp((double)x), s = 1.0 / (1.0 + exp(-(double)x)), t = tanh((double)x);
        worst_exp = fmax(worst_exp, fabs(sd_vexpf(x) - e) / e);
        worst_sig = fmax(worst_sig, fabs(sd_vsigmoidf(x) - s));
        worst_tanh = fmax(worst_tanh, fabs(sd_vtanhf(x) - t));
    }
    CHECK_MSG(worst_exp < 4e-7, "fast exp relative error %.3g", worst_exp);
    CHECK_MSG(worst_sig < 2e-7, "fast sigmoid error %.3g", worst_sig);
    CHECK_MSG(worst_tanh < 4e-7, "fast tanh error %.3g", worst_tanh);
    CHECK(sd_vsigmoidf(-1000.0f) >= 0.0f && sd_vsigmoidf(-1000.0f) < 1e-30f);
    CHECK(sd_vsigmoidf(1000.0f) == 1.0f && sd_vtanhf(1000.0f) == 1.0f && sd_vtanhf(-1000.0f) == -1.0f);
    CHECK(isnan(sd_vtanhf(NAN)) && isnan(sd_vexpf(NAN)) && isnan(sd_vsigmoidf(NAN)));
}

int main(void)
{
    sd_ctx *ctx = sd_ctx_new(&(sd_ctx_opts){ .threads = 2 });
    sd_rng rng;
    sd_rng_seed(&rng, 7);
    for (int i = 0; i < 4096; i++) weights[i] = 2.0f * sd_rng_uniform(&rng) - 1.0f;
    sd_shape none = { 0, { 0 } };
    run(ctx, "gather_rows", (seqcase){ T_GATHER }, SD_SHAPE(5, 3), none, none, 1);
    run(ctx, "slice rows", (seqcase){ T_SLICE_ROWS }, SD_SHAPE(5, 4), none, none, 1);
    run(ctx, "slice cols", (seqcase){ T_SLICE_COLS }, SD_SHAPE(3, 6), none, none, 1);
    run(ctx, "concat rows", (seqcase){ T_CONCAT_ROWS }, SD_SHAPE(2, 3), SD_SHAPE(3, 3), none, 1);
    run(ctx, "concat cols", (seqcase){ T_CONCAT_COLS }, SD_SHAPE(3, 2), SD_SHAPE(3, 4), none, 1);

    /* rnn_seq / lstm_seq: T steps of B sequences, through time, with and
     * without lengths and an initial state; H = 20 makes a partial group of
     * hidden units (16 + 4) and gives both threads work. */
    static const int32_t len3[3] = { 4, 1, 3 };
    float st[2 * 3 * 20];
    for (int i = 0; i < 2 * 3 * 20; i++) st[i] = 0.8f * sinf(0.37f * (float)i);
    run(ctx, "rnn_seq", (seqcase){ T_RNN, 4, NULL, NULL }, SD_SHAPE(12, 20), SD_SHAPE(20, 20), SD_SHAPE(20), 0.3f);
    run(ctx, "rnn_seq lengths+state", (seqcase){ T_RNN, 4, len3, st }, SD_SHAPE(12, 20), SD_SHAPE(20, 20),
        SD_SHAPE(20), 0.3f);
    run(ctx, "lstm_seq", (seqcase){ T_LSTM, 4, NULL, NULL }, SD_SHAPE(12, 80), SD_SHAPE(80, 20), SD_SHAPE(80), 0.3f);
    run(ctx, "lstm_seq lengths+state", (seqcase){ T_LSTM, 4, len3, st }, SD_SHAPE(12, 80), SD_SHAPE(80, 20),
        SD_SHAPE(80), 0.3f);
    run(ctx, "lstm_seq H=3", (seqcase){ T_LSTM, 5, NULL, st }, SD_SHAPE(10, 12), SD_SHAPE(12, 3), SD_SHAPE(12), 0.5f);
    /* big enough for two threads (each thread runs its own sequences) */
    run(ctx, "lstm_seq 2 threads", (seqcase){ T_LSTM, 3, NULL, NULL }, SD_SHAPE(24, 256), SD_SHAPE(256, 64),
        SD_SHAPE(256), 0.2f);
    static const int32_t len8[8] = { 3, 1, 2, 3, 0, 3, 2, 1 };
    run(ctx, "rnn_seq 2 threads", (seqcase){ T_RNN, 3, len8, NULL }, SD_SHAPE(24, 128), SD_SHAPE(128, 128),
        SD_SHAPE(128), 0.1f);
    run(ctx, "lstm_seq constant xp", (seqcase){ T_LSTM_XCONST, 4, len3, st }, SD_SHAPE(12, 80), SD_SHAPE(80, 20),
        SD_SHAPE(80), 0.3f);
    forward_values(ctx);
    fast_math();
    sd_ctx_free(ctx);
    return check_done("test_seq_ops");
}
