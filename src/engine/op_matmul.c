/* Matrix product and bias: the dense layer's two ops. */
#include "engine/ops.h"
#include "engine/internal.h"
#include "shendu/kernels.h"
#include "engine/parallel.h"

#include <string.h>

/* matmul: y (M,N) = op(a) (M,K) · op(b) (K,N) [+ bias (N) on every row];
 * iarg[0] = SD_TRANS_A|SD_TRANS_B; src[2] = bias or NULL.
 * Stored: a is (M,K), or (K,M) if transposed; b is (K,N), or (N,K) if transposed.
 * With a bias the forward starts y's rows at it and lets the GEMM add the
 * product (beta 1); the backward adds dbias += Σ_rows dy. */
static sd_tensor *matmul(sd_graph *g, sd_tensor *a, sd_tensor *b, sd_tensor *bias, int flags)
{
    if (!a || !b) return NULL;
    if (a->shape.ndim != 2 || b->shape.ndim != 2) return sd_op_error("matmul", a, b, "both inputs must be 2-D");
    int ta = (flags & SD_TRANS_A) != 0, tb = (flags & SD_TRANS_B) != 0;
    int M = ta ? a->shape.d[1] : a->shape.d[0], K = ta ? a->shape.d[0] : a->shape.d[1];
    int Kb = tb ? b->shape.d[1] : b->shape.d[0], N = tb ? b->shape.d[0] : b->shape.d[1];
    if (K != Kb) return sd_op_error("matmul", a, b, "inner dimensions differ");
    if (bias && (bias->shape.ndim != 1 || bias->shape.d[0] != N))
        return sd_op_error("matmul_bias", b, bias, "the bias must be (N), N the product's columns");
    sd_tensor *y = sd_node(g, SD_OP_MATMUL, SD_SHAPE(M, N), a, b, bias);
    if (!y) return NULL;
    y->iarg[0] = flags;
    y->iarg[1] = M; y->iarg[2] = N; y->iarg[3] = K;
    return sd_node_forward(g, y);
}

sd_tensor *sd_matmul(sd_graph *g, sd_tensor *a, sd_tensor *b, int flags) { return matmul(g, a, b, NULL, flags); }

sd_tensor *sd_matmul_bias(sd_graph *g, sd_tensor *a, sd_tensor *b, sd_tensor *bias, int flags)
{
    if (!bias) return NULL;
    return matmul(g, a, b, bias, flags);
}

void sd_op_matmul_fwd(sd_graph *g, sd_tensor *y)
{
    int ta = (y->iarg[0] & SD_TRANS_A) != 0, tb = (y->iarg[0] & SD_TRANS_B) != 0;
    int M = y->iarg[1], N = y->iarg[2], K = y->iarg[3];
    const sd_tensor *a = y->src[0], *b = y->src[1], *bias = y->src[2];
    if (bias)
        for (int i = 0; i < M; i++) memcpy(y->data + (size_t)i * N, bias->data, (size_t)N * sizeof(float));
    sd_gemm(sd_graph_ctx(g), ta, tb, M, N, K, 1.0f, a->data, ta ? M : K, b->data, tb ? K : N,
            bias ? 1.0f : 0.0f, y->data, N);
}

/* db (N) += Σ_rows dy (M,N): threads take blocks of 64 columns and walk the
 * rows in order, so every column's sum has one order whatever the threads. */
static void column_sums(sd_graph *g, int M, int N, const float *dy, float *db)
{
    const int nblk = (N + 63) / 64;
    #pragma omp parallel for num_threads(SD_THREADS(g)) if ((size_t)M * N > SD_PAR_MIN && nblk > 1) schedule(static)
    for (int blk = 0; blk < nblk; blk++) {
        const int c0 = blk * 64, w = N - c0 < 64 ? N - c0 : 64;
        float acc[64] = { 0 };
        for (int i = 0; i < M; i++) {
            const float *d = dy + (size_t)i * N + c0;
            #pragma omp simd
            for (int c = 0; c < w; c++) acc[c] += d[c];
        }
        for (int c = 0; c < w; c++) db[c0 + c] += acc[c];
    }
}

void sd_op_matmul_bwd(sd_graph *g, sd_tensor *y)
{
    int ta = (y->iarg[0] & SD_TRANS_A) != 0, tb = (y->iarg[0] & SD_TRANS_B) != 0;
    int M = y->iarg[1], N = y->iarg[2], K = y->iarg[3];
    sd_tensor *a = y->src[0], *b = y->src[1];
    sd_ctx *ctx = sd_graph_ctx(g);
    const float *dy = y->grad;
    if (a->grad) {
        if (!ta)   /* dA (M,K) += dY (M,N) · op(b)ᵀ */
            sd_gemm(ctx, 0, !tb, M, K, N, 1.0f, dy, N, b->data, tb ? K : N, 1.0f, a->grad, K);
        else       /* dA (K,M) += op(b) (K,N) · dYᵀ */
            sd_gemm(ctx, tb, 1, K, M, N, 1.0f, b->data, tb ? K : N, dy, N, 1.0f, a->grad, M);
    }
    if (b->grad) {
        if (!tb)   /* dB (K,N) += op(a)ᵀ (K,M) · dY */
            sd_gemm(ctx, !ta, 0, K, N, M, 1.0f, a->data, ta ? M : K, dy, N, 1.0f, b->grad, N);
        else       /* dB (N,K) += dYᵀ (N,M) · op(a) */
            sd_gemm(ctx, 1, ta, N, K, M, 1.0f, dy, N, a->data, ta ? M : K, 1.0f, b->grad, K);
    }
    if (y->src[2] && y->src[2]->grad) column_sums(g, M, N, dy, y->src[2]->grad);
}

/* bias_add: y (N,C,*) = x + b (C) broadcast; iarg[0] = N, iarg[1] = C, iarg[2] = inner size. */
sd_tensor *sd_bias_add(sd_graph *g, sd_tensor *x, sd_tensor *b)
{
    if (!x || !b) return NULL;
    if (x->shape.ndim < 2 || b->shape.ndim != 1 || b->shape.d[0] != x->shape.d[1])
        return sd_op_error("bias_add", x, b, "expected x (N,C,...) and bias (C)");
    sd_tensor *y = sd_node(g, SD_OP_BIAS_ADD, x->shape, x, b, NULL);
    if (!y) return NULL;
    y->iarg[0] = x->shape.d[0];
    y->iarg[1] = x->shape.d[1];
    y->iarg[2] = (int)(x->n / ((size_t)x->shape.d[0] * (size_t)x->shape.d[1]));
    return sd_node_forward(g, y);
}

void sd_op_bias_add_fwd(sd_graph *g, sd_tensor *y)
{
    int N = y->iarg[0], C = y->iarg[1], S = y->iarg[2];
    const float *x = y->src[0]->data, *b = y->src[1]->data;
    float *out = y->data;
    if (S == 1 && y->n <= SD_PAR_MIN) {
        for (int n = 0; n < N; n++)
            for (int c = 0; c < C; c++) out[(size_t)n * C + c] = x[(size_t)n * C + c] + b[c];
        return;
    }
    #pragma omp parallel for num_threads(SD_THREADS(g)) if (y->n > SD_PAR_MIN) schedule(static)
    for (int n = 0; n < N; n++)
        for (int c = 0; c < C; c++) {
            const float *xi = x + ((size_t)n * C + c) * S;
            float *yi = out + ((size_t)n * C + c) * S;
            for (int s = 0; s < S; s++) yi[s] = xi[s] + b[c];
        }
}

void sd_op_bias_add_bwd(sd_graph *g, sd_tensor *y)
{
    int N = y->iarg[0], C = y->iarg[1], S = y->iarg[2];
    const float *dy = y->grad;
    float *dx = y->src[0]->grad, *db = y->src[1]->grad;
    if (dx)
        for (size_t i = 0; i < y->n; i++) dx[i] += dy[i];
    if (db && S == 1 && y->n <= SD_PAR_MIN && C <= 4096) {
        float s[4096];
        for (int c = 0; c < C; c++) s[c] = 0.0f;
        for (int n = 0; n < N; n++)
            for (int c = 0; c < C; c++) s[c] += dy[(size_t)n * C + c];
        for (int c = 0; c < C; c++) db[c] += s[c];
    } else if (db) {
        /* Each channel summed by one thread in a fixed order: deterministic. */
        #pragma omp parallel for num_threads(SD_THREADS(g)) if (y->n > SD_PAR_MIN) schedule(static)
        for (int c = 0; c < C; c++) {
            float s = 0.0f;
            for (int n = 0; n < N; n++) {
                const float *d = dy + ((size_t)n * C + c) * S;
                for (int k = 0; k < S; k++) s += d[k];
            }
            db[c] += s;
        }
    }
}
