/* Ops for sequences: row gather (embeddings), slices, and the fused
 * recurrent layers (tanh RNN and LSTM over a whole sequence).
 *
 * Sequences are time-major: a (T·B, C) tensor holds step t of sequence b in
 * row t·B + b, so one time step is a contiguous block of B rows and a layer's
 * input projection for all steps is a single GEMM (done by the caller with
 * sd_matmul; these ops take its result). */
#include "engine/ops.h"
#include "engine/internal.h"
#include "kernels/rnn_cell.h"
#include "shendu/kernels.h"

#include "engine/parallel.h"
#include <string.h>

/* ---- gather_rows: y (n,C) = x[idx[i], :];  dx[idx[i], :] += dy[i, :].
 * idx is copied into the arena (aux); the backward adds row by row in order,
 * so repeated indices sum deterministically. */
sd_tensor *sd_gather_rows(sd_graph *g, sd_tensor *x, const int32_t *idx, int n)
{
    if (!x) return NULL;
    if (x->shape.ndim != 2) return sd_op_error("gather_rows", x, NULL, "x must be 2-D (N,C)");
    if (n < 1 || !idx) return sd_op_error("gather_rows", x, NULL, "needs at least one index");
    for (int i = 0; i < n; i++)
        if (idx[i] < 0 || idx[i] >= x->shape.d[0]) {
            sd_error("gather_rows: index %d (position %d) is outside [0,%d)", idx[i], i, x->shape.d[0]);
            return NULL;
        }
    sd_tensor *y = sd_node(g, SD_OP_GATHER_ROWS, SD_SHAPE(n, x->shape.d[1]), x, NULL, NULL);
    if (!y) return NULL;
    int32_t *copy = sd_graph_alloc(g, (size_t)n * sizeof *copy);
    if (!copy) return NULL;
    memcpy(copy, idx, (size_t)n * sizeof *copy);
    y->aux = copy;
    return sd_node_forward(g, y);
}

void sd_op_gather_rows_fwd(sd_graph *g, sd_tensor *y)
{
    const int32_t *idx = y->aux;
    const int n = y->shape.d[0], C = y->shape.d[1];
    #pragma omp parallel for num_threads(SD_THREADS(g)) if (y->n > SD_PAR_MIN) schedule(static)
    for (int i = 0; i < n; i++)
        memcpy(y->data + (size_t)i * C, y->src[0]->data + (size_t)idx[i] * C, (size_t)C * sizeof(float));
}

/* Each thread owns a run of columns and adds the rows in order: the sums do
 * not depend on the thread count. */
void sd_op_gather_rows_bwd(sd_graph *g, sd_tensor *y)
{
    const int32_t *idx = y->aux;
    const int n = y->shape.d[0], C = y->shape.d[1];
    float *dx = y->src[0]->grad;
    #pragma omp parallel num_threads(SD_THREADS(g)) if (y->n > SD_PAR_MIN)
    {
        const int p = omp_get_thread_num(), np = omp_get_num_threads();
        const int c0 = (int)((long)C * p / np), c1 = (int)((long)C * (p + 1) / np);
        for (int i = 0; i < n; i++) {
            float *d = dx + (size_t)idx[i] * C;
            const float *dy = y->grad + (size_t)i * C;
            for (int c = c0; c < c1; c++) d[c] += dy[c];
        }
    }
}

/* ---- slice: x (N,C) -> rows [start, start+len) (dim 0, -> (len,C)) or
 * columns [start, start+len) (dim 1, -> (N,len)); a copy. iarg: dim, start. */
sd_tensor *sd_slice(sd_graph *g, sd_tensor *x, int dim, int start, int len)
{
    if (!x) return NULL;
    if (x->shape.ndim != 2 || (dim != 0 && dim != 1))
        return sd_op_error("slice", x, NULL, "x must be 2-D and dim 0 (rows) or 1 (columns)");
    int N = x->shape.d[0], C = x->shape.d[1], size = dim ? C : N;
    if (start < 0 || len < 1 || start > size - len) {
        char s[64];
        sd_error("slice: %s [%d, %d) is outside %s", dim ? "columns" : "rows", start, start + len,
                 sd_shape_str(x->shape, s, sizeof s));
        return NULL;
    }
    sd_tensor *y = sd_node(g, SD_OP_SLICE, dim ? SD_SHAPE(N, len) : SD_SHAPE(len, C), x, NULL, NULL);
    if (!y) return NULL;
    y->iarg[0] = dim;
    y->iarg[1] = start;
    return sd_node_forward(g, y);
}

void sd_op_slice_fwd(sd_graph *g, sd_tensor *y)
{
    const sd_tensor *x = y->src[0];
    const int C = x->shape.d[1], start = y->iarg[1];
    if (y->iarg[0] == 0) { memcpy(y->data, x->data + (size_t)start * C, y->n * sizeof(float)); return; }
    const int N = y->shape.d[0], L = y->shape.d[1];
    for (int i = 0; i < N; i++)
        memcpy(y->data + (size_t)i * L, x->data + (size_t)i * C + start, (size_t)L * sizeof(float));
}

void sd_op_slice_bwd(sd_graph *g, sd_tensor *y)
{
    sd_tensor *x = y->src[0];
    const int C = x->shape.d[1], start = y->iarg[1];
    const int N = y->shape.d[0], L = y->shape.d[1];
    float *dx = x->grad + (y->iarg[0] == 0 ? (size_t)start * C : (size_t)start);
    const long ld = y->iarg[0] == 0 ? L : C;
    for (int i = 0; i < N; i++)
        for (int c = 0; c < L; c++) dx[(size_t)i * ld + c] += y->grad[(size_t)i * L + c];
}

/* ---- concat: a (N,Ca), b (N,Cb) -> (N,Ca+Cb) (dim 1) or a (Na,C), b (Nb,C)
 * -> (Na+Nb,C) (dim 0); along dim 1, a (N,Ca,H,W), b (N,Cb,H,W) -> (N,Ca+Cb,H,W)
 * too: per image, a's values then b's. iarg = {dim, la, lb}: the floats a and b
 * give each row of y (dim 1). */
sd_tensor *sd_concat(sd_graph *g, sd_tensor *a, sd_tensor *b, int dim)
{
    if (!a || !b) return NULL;
    const int nd = a->shape.ndim;
    int ok = nd == b->shape.ndim && (dim == 0 ? nd == 2 : dim == 1 && (nd == 2 || nd == 4)) &&
             a->shape.d[1 - dim] == b->shape.d[1 - dim];
    for (int k = 2; ok && k < nd; k++) ok = a->shape.d[k] == b->shape.d[k];
    if (!ok)
        return sd_op_error("concat", a, b, dim ? "expected (N,Ca) and (N,Cb), or (N,Ca,H,W) and (N,Cb,H,W)"
                                               : "expected (Na,C) and (Nb,C)");
    sd_shape s = a->shape;
    s.d[dim] += b->shape.d[dim];
    if (s.d[dim] < a->shape.d[dim]) return sd_op_error("concat", a, b, "too large");
    sd_tensor *y = sd_node(g, SD_OP_CONCAT, s, a, b, NULL);
    if (!y) return NULL;
    y->iarg[0] = dim;
    const size_t rows = a->shape.d[0] ? (size_t)a->shape.d[0] : 1;
    y->iarg[1] = dim ? (int)(a->n / rows) : 0;
    y->iarg[2] = dim ? (int)(b->n / rows) : 0;
    return sd_node_forward(g, y);
}

void sd_op_concat_fwd(sd_graph *g, sd_tensor *y)
{
    const sd_tensor *a = y->src[0], *b = y->src[1];
    if (y->iarg[0] == 0) {
        memcpy(y->data, a->data, a->n * sizeof(float));
        memcpy(y->data + a->n, b->data, b->n * sizeof(float));
        return;
    }
    const int N = y->shape.d[0];
    const size_t la = (size_t)y->iarg[1], lb = (size_t)y->iarg[2];
    for (int i = 0; i < N; i++) {
        memcpy(y->data + (size_t)i * (la + lb), a->data + (size_t)i * la, la * sizeof(float));
        memcpy(y->data + (size_t)i * (la + lb) + la, b->data + (size_t)i * lb, lb * sizeof(float));
    }
}

void sd_op_concat_bwd(sd_graph *g, sd_tensor *y)
{
    sd_tensor *a = y->src[0], *b = y->src[1];
    if (y->iarg[0] == 0) {      /* y's first a->n values are a's, the rest b's */
        if (a->grad) for (size_t i = 0; i < a->n; i++) a->grad[i] += y->grad[i];
        if (b->grad) for (size_t i = 0; i < b->n; i++) b->grad[i] += y->grad[a->n + i];
        return;
    }
    const int N = y->shape.d[0];
    const size_t la = (size_t)y->iarg[1], lb = (size_t)y->iarg[2];
    for (int i = 0; i < N; i++) {
        const float *dy = y->grad + (size_t)i * (la + lb);
        if (a->grad) for (size_t c = 0; c < la; c++) a->grad[(size_t)i * la + c] += dy[c];
        if (b->grad) for (size_t c = 0; c < lb; c++) b->grad[(size_t)i * lb + c] += dy[la + c];
    }
}

/* ---- Fused recurrent layers over a whole sequence.
 *
 *   rnn_seq:   h_t = tanh(xp_t + b + h_{t-1} W_hhᵀ)
 *   lstm_seq:  [i f g o] = xp_t + b + h_{t-1} W_hhᵀ;  i,f,o = σ(.), g = tanh(.)
 *              c_t = f ∘ c_{t-1} + i ∘ g;  h_t = o ∘ tanh(c_t)
 *
 * xp (T·B, G·H) time-major input projection (x W_ihᵀ for all steps, one GEMM),
 * w_hh (G·H, H), b (G·H) or NULL -> y (T·B, H): h_t of every step.
 * iarg: T, B, H, G.  aux: the op's info (below), in the arena.
 *
 * Steps past a sequence's length carry h and c over unchanged, so the last
 * row block of y holds every sequence's final state. The initial state is
 * data (copied in; no gradient flows to it): truncated backpropagation.
 *
 * Threads split the batch: sequences are independent, so each thread runs
 * the whole recurrence for its rows (per step: one GEMM h_{t-1} W_hhᵀ of its
 * rows, then the cell kernel) and no thread ever waits for another inside the
 * time loop. The backward does the same in reverse (dG_t from the cell
 * kernel, which also adds it into dxp; dh_{t-1} = dG_t W_hh for its rows);
 * dW_hh and db come after the loop as one GEMM and one column sum. Every sum
 * runs in a fixed order, so the results do not depend on the thread count. */
typedef struct seq_info {
    uint8_t *live;          /* (T, B): step t is inside sequence b */
    float *h0, *c0;         /* (B,H) initial state (zeros unless given) */
    int h0_zero;            /* the initial state is zero: skip the t = 0 product */
    float *zero_b;          /* (G·H) zeros, when there is no bias */
    float *wt;              /* (H, G·H) W_hhᵀ */
    float *gp;              /* (B, G·H) one step's h_{t-1} W_hhᵀ */
    float *act, *c, *tc;    /* LSTM: (T or 2, B, 4H), (T or 2, B, H) x 2; two rolling steps without gradient */
    int saved;              /* all T steps kept (for backward) */
    float *state_out;       /* caller's (B,H) h [+ (B,H) c], written by the forward */
} seq_info;

/* Threads for a sequence op: at most one per sequence, and enough work per
 * thread and step (multiply-adds) to pay for it. */
static int seq_threads(sd_graph *g, int B, int H, int G)
{
    int t = SD_THREADS(g);
    if (t > B) t = B;
    while (t > 1 && (long)B * G * H * H / t < 65536) t--;
    return t;
}

/* Rows [b0, b1) of thread p of nt. */
static void seq_split(int B, int p, int nt, int *b0, int *b1)
{
    *b0 = (int)((long)B * p / nt);
    *b1 = (int)((long)B * (p + 1) / nt);
}

static sd_tensor *recurrent(sd_graph *g, int op, const char *name, int G, sd_tensor *xp, sd_tensor *whh,
                            sd_tensor *b, int T, const int32_t *lengths, const float *state_in, float *state_out)
{
    if (!xp || !whh) return NULL;
    if (whh->shape.ndim != 2 || whh->shape.d[0] != G * whh->shape.d[1] || whh->shape.d[1] < 1)
        return sd_op_error(name, whh, NULL, G == 4 ? "w_hh must be (4H,H)" : "w_hh must be (H,H)");
    const int H = whh->shape.d[1];
    if (T < 1 || xp->shape.ndim != 2 || xp->shape.d[1] != G * H || xp->shape.d[0] % T || !xp->shape.d[0])
        return sd_op_error(name, xp, whh, "xp must be (T*B, G*H) for w_hh (G*H, H) and T steps");
    if (b && (b->shape.ndim != 1 || b->shape.d[0] != G * H))
        return sd_op_error(name, b, whh, "bias must be (G*H)");
    const int B = xp->shape.d[0] / T;
    if (lengths)
        for (int i = 0; i < B; i++)
            if (lengths[i] < 0 || lengths[i] > T) {
                sd_error("%s: length %d of sequence %d is outside [0,%d]", name, lengths[i], i, T);
                return NULL;
            }
    sd_tensor *y = sd_node(g, op, SD_SHAPE(T * B, H), xp, whh, b);
    if (!y) return NULL;
    y->iarg[0] = T; y->iarg[1] = B; y->iarg[2] = H; y->iarg[3] = G;
    seq_info *in = sd_graph_alloc(g, sizeof *in);
    if (!in) return NULL;
    memset(in, 0, sizeof *in);
    const size_t BH = (size_t)B * H, GH = (size_t)G * H;
    in->h0 = sd_graph_alloc(g, 2 * BH * sizeof(float));
    in->zero_b = sd_graph_alloc(g, GH * sizeof(float));
    in->wt = sd_graph_alloc(g, (size_t)H * GH * sizeof(float));
    in->gp = sd_graph_alloc(g, (size_t)B * GH * sizeof(float));
    in->live = sd_graph_alloc(g, (size_t)T * B);
    if (!in->h0 || !in->zero_b || !in->wt || !in->gp || !in->live) return NULL;
    in->c0 = in->h0 + BH;
    if (state_in) memcpy(in->h0, state_in, (G == 4 ? 2 : 1) * BH * sizeof(float));
    else memset(in->h0, 0, 2 * BH * sizeof(float));
    in->h0_zero = !state_in;
    memset(in->zero_b, 0, GH * sizeof(float));
    for (int t = 0; t < T; t++)
        for (int i = 0; i < B; i++) in->live[(size_t)t * B + i] = !lengths || t < lengths[i];
    if (G == 4) {
        in->saved = y->requires_grad;
        const size_t steps = in->saved ? (size_t)T : 2;
        in->act = sd_graph_alloc(g, steps * B * GH * sizeof(float));
        in->c = sd_graph_alloc(g, steps * BH * sizeof(float));
        in->tc = sd_graph_alloc(g, steps * BH * sizeof(float));
        if (!in->act || !in->c || !in->tc) return NULL;
    }
    in->state_out = state_out;
    y->aux = in;
    return sd_node_forward(g, y);
}

sd_tensor *sd_rnn_seq(sd_graph *g, sd_tensor *xp, sd_tensor *w_hh, sd_tensor *b, int T,
                      const int32_t *lengths, const float *state_in, float *state_out)
{
    return recurrent(g, SD_OP_RNN_SEQ, "rnn_seq", 1, xp, w_hh, b, T, lengths, state_in, state_out);
}

sd_tensor *sd_lstm_seq(sd_graph *g, sd_tensor *xp, sd_tensor *w_hh, sd_tensor *b, int T,
                       const int32_t *lengths, const float *state_in, float *state_out)
{
    return recurrent(g, SD_OP_LSTM_SEQ, "lstm_seq", 4, xp, w_hh, b, T, lengths, state_in, state_out);
}

/* The LSTM's saved values of step t (t = -1: the initial state, for c). */
static float *step_c(const seq_info *in, int t, size_t BH)
{
    if (t < 0) return in->c0;
    return in->c + (size_t)(in->saved ? t : t & 1) * BH;
}
static float *step_tc(const seq_info *in, int t, size_t BH) { return in->tc + (size_t)(in->saved ? t : t & 1) * BH; }
static float *step_act(const seq_info *in, int t, size_t BGH) { return in->act + (size_t)(in->saved ? t : t & 1) * BGH; }

static void recurrent_fwd(sd_graph *g, sd_tensor *y)
{
    const int T = y->iarg[0], B = y->iarg[1], H = y->iarg[2], G = y->iarg[3], GH = G * H;
    const size_t BH = (size_t)B * H;
    seq_info *in = (seq_info *)y->aux;
    const float *w = y->src[1]->data, *bias = y->src[2] ? y->src[2]->data : in->zero_b;
    sd_ctx *ctx = sd_graph_ctx(g);
    #pragma omp parallel num_threads(seq_threads(g, B, H, G))
    {
        const int p = omp_get_thread_num(), nt = omp_get_num_threads();
        /* W_hh (G·H, H) -> wt (H, G·H): row-major k x n, read in place by the GEMM. */
        int r0, r1;
        seq_split(H, p, nt, &r0, &r1);
        for (int i = r0; i < r1; i++)
            for (int n = 0; n < GH; n++) in->wt[(size_t)i * GH + n] = w[(size_t)n * H + i];
        int b0, b1;
        seq_split(B, p, nt, &b0, &b1);
        const int rows = b1 - b0;
        #pragma omp barrier
        for (int t = 0; t < T && rows > 0; t++) {
            const float *hp = t ? y->data + (size_t)(t - 1) * BH : in->h0;
            float *gp = in->gp + (size_t)b0 * GH;
            if (t > 0 || !in->h0_zero)   /* gp (rows, G·H) = h_{t-1} (rows, H) · W_hhᵀ (H, G·H) */
                sd_gemm(ctx, 0, 0, rows, GH, H, 1.0f, hp + (size_t)b0 * H, H, in->wt, GH, 0.0f, gp, GH);
            else
                memset(gp, 0, (size_t)rows * GH * sizeof(float));
            sd_cell_fwd_args a = {
                .H = H, .G = G, .xp = y->src[0]->data + (size_t)t * B * GH, .ldx = GH, .bias = bias,
                .gp = in->gp, .h_prev = hp, .h = y->data + (size_t)t * BH,
                .c_prev = G == 4 ? step_c(in, t - 1, BH) : NULL, .c = G == 4 ? step_c(in, t, BH) : NULL,
                .act = G == 4 ? step_act(in, t, B * (size_t)GH) : NULL, .tc = G == 4 ? step_tc(in, t, BH) : NULL,
                .live = in->live + (size_t)t * B,
            };
            sd_cell_fwd(&a, b0, b1);
        }
    }
    if (in->state_out) {
        memcpy(in->state_out, y->data + (size_t)(T - 1) * BH, BH * sizeof(float));
        if (G == 4) memcpy(in->state_out + BH, step_c(in, T - 1, BH), BH * sizeof(float));
    }
}

static void recurrent_bwd(sd_graph *g, sd_tensor *y)
{
    const int T = y->iarg[0], B = y->iarg[1], H = y->iarg[2], G = y->iarg[3], GH = G * H;
    const size_t BH = (size_t)B * H;
    seq_info *in = (seq_info *)y->aux;
    sd_tensor *xp = y->src[0], *whh = y->src[1], *b = y->src[2];
    sd_ctx *ctx = sd_graph_ctx(g);
    float *dG = sd_graph_alloc(g, (size_t)T * B * GH * sizeof(float));
    float *dnext = sd_graph_alloc(g, 2 * BH * sizeof(float));
    const int nt = seq_threads(g, B, H, G);
    float *scratch = xp->grad ? NULL : sd_graph_alloc(g, (size_t)nt * GH * sizeof(float));   /* dxp unused */
    if (!dG || !dnext || (!xp->grad && !scratch)) return;   /* out of memory: error set, gradients incomplete */
    if (scratch) memset(scratch, 0, (size_t)nt * GH * sizeof(float));
    float *dcnext = dnext + BH;
    memset(dnext, 0, 2 * BH * sizeof(float));
    #pragma omp parallel num_threads(nt)
    {
        int b0, b1, p = omp_get_thread_num();
        seq_split(B, p, omp_get_num_threads(), &b0, &b1);
        const int rows = b1 - b0;
        for (int t = T - 1; t >= 0 && rows > 0; t--) {
            float *dGt = dG + (size_t)t * B * GH;
            sd_cell_bwd_args a = {
                .H = H, .G = G, .dy = y->grad + (size_t)t * BH, .dnext = dnext, .dcnext = dcnext,
                .h = y->data + (size_t)t * BH, .act = G == 4 ? step_act(in, t, B * (size_t)GH) : NULL,
                .tc = G == 4 ? step_tc(in, t, BH) : NULL, .c_prev = G == 4 ? step_c(in, t - 1, BH) : NULL,
                .dG = dGt, .dx = xp->grad ? xp->grad + (size_t)t * B * GH : NULL, .lddx = GH,
                .dG_scratch = scratch ? scratch + (size_t)p * GH : NULL, .live = in->live + (size_t)t * B,
            };
            sd_cell_bwd(&a, b0, b1);
            /* dh_{t-1} (rows, H) += dG_t (rows, G·H) · W_hh (G·H, H) */
            if (t > 0)
                sd_gemm(ctx, 0, 0, rows, H, GH, 1.0f, dGt + (size_t)b0 * GH, GH, whh->data, H, 1.0f,
                        dnext + (size_t)b0 * H, H);
        }
    }
    const size_t n = (size_t)T * B * GH;
    if (b && b->grad) {
        /* Column sums in row order; each thread owns a run of columns. */
        float *db = b->grad;
        const int rows = T * B;
        #pragma omp parallel num_threads(SD_THREADS(g)) if (n > SD_PAR_MIN)
        {
            int c0, c1;
            seq_split(GH, omp_get_thread_num(), omp_get_num_threads(), &c0, &c1);
            for (int r = 0; r < rows; r++) {
                const float *d = dG + (size_t)r * GH;
                for (int c = c0; c < c1; c++) db[c] += d[c];
            }
        }
    }
    if (whh->grad) {
        /* dW_hh (G·H, H) += Σ_t dG_tᵀ h_{t-1}: steps 1..T-1 in one GEMM, step 0 with h0. */
        if (T > 1)
            sd_gemm(ctx, 1, 0, GH, H, (T - 1) * B, 1.0f, dG + (size_t)B * GH, GH, y->data, H, 1.0f, whh->grad, H);
        if (!in->h0_zero) sd_gemm(ctx, 1, 0, GH, H, B, 1.0f, dG, GH, in->h0, H, 1.0f, whh->grad, H);
    }
}

void sd_op_rnn_seq_fwd(sd_graph *g, sd_tensor *y) { recurrent_fwd(g, y); }
void sd_op_rnn_seq_bwd(sd_graph *g, sd_tensor *y) { recurrent_bwd(g, y); }
void sd_op_lstm_seq_fwd(sd_graph *g, sd_tensor *y) { recurrent_fwd(g, y); }
void sd_op_lstm_seq_bwd(sd_graph *g, sd_tensor *y) { recurrent_bwd(g, y); }
