/* Transposed convolution kernels, NCHW, float32: the adjoint of conv2d.
 *
 * A transposed convolution is described by the sd_conv_dims d of the
 * convolution it transposes. Its input x has that convolution's output shape
 * (N,O,OH,OW), its output y the convolution's input shape (N,C,H,W), and the
 * weights are the same (O,C,KH,KW) tensor — which is PyTorch's ConvTranspose2d
 * layout (in_channels, out_channels, kH, kW) with in = O and out = C:
 *
 *   y[n,c,hi,wi] = b[c] + Σ_{o,i,j,p,q} x[n,o,i,j] · w[o,c,p,q]
 *                  over hi = i*stride - pad + p, wi = j*stride - pad + q
 *
 * so y is conv2d's input gradient for an output gradient x, and the gradient
 * of y's input is conv2d's forward of dy. The fast path lowers both to GEMMs
 * over the whole batch, with CKK = C*KH*KW and P = OH*OW positions of x per image:
 *
 *   forward   xt (O, N*P)    = x (N, O, P) rearranged
 *             cols (CKK, N*P) = wᵀ (CKK, O) · xt;   y_n = col2im(cols[:, n*P : n*P+P]) + b
 *   backward  cols (CKK, N*P) = im2col(dy_n) for every image n
 *             dw (O, CKK)   += xt · colsᵀ                 (K = N*P, one fixed order)
 *             dxt (O, N*P)   = w (O, CKK) · cols;  dx += dxt rearranged back to (N, O, P)
 *             db (C)        += Σ dy over N, H, W
 *
 * Every element is written by one thread in a fixed order and sd_gemm is
 * deterministic, so the same inputs and thread count give bit-identical results. */
#include "engine/internal.h"
#include "shendu/kernels.h"

#include <string.h>

#define PAR_MIN 32768

static int nthreads(sd_ctx *ctx, size_t work)
{
    return ctx && work > PAR_MIN ? sd_ctx_threads(ctx) : 1;
}

/* ------------------------------------------------------------------------- */
/* Reference loops (the oracle): direct sums in double, one thread.           */

/* x (N,O,OH,OW), w (O,C,KH,KW), b (C) or NULL -> y (N,C,H,W), gathering each
 * output from the inputs whose window covers it. */
void sd_conv_transpose2d_naive(const sd_conv_dims *d, const float *x, const float *w, const float *b, float *y)
{
    const int C = d->c, H = d->h, W = d->w, O = d->o, KH = d->kh, KW = d->kw, OH = d->oh, OW = d->ow;
    const int s = d->stride;
    for (int n = 0; n < d->n; n++)
        for (int c = 0; c < C; c++)
            for (int hi = 0; hi < H; hi++)
                for (int wi = 0; wi < W; wi++) {
                    double acc = b ? b[c] : 0.0;
                    for (int o = 0; o < O; o++)
                        for (int p = 0; p < KH; p++) {
                            int t = hi + d->pad - p;             /* = i * stride */
                            if (t < 0 || t % s || t / s >= OH) continue;
                            for (int q = 0; q < KW; q++) {
                                int u = wi + d->pad - q;         /* = j * stride */
                                if (u < 0 || u % s || u / s >= OW) continue;
                                acc += (double)x[(((size_t)n * O + o) * OH + t / s) * OW + u / s] *
                                       w[(((size_t)o * C + c) * KH + p) * KW + q];
                            }
                        }
                    y[(((size_t)n * C + c) * H + hi) * W + wi] = (float)acc;
                }
}

/* dy (N,C,H,W) -> dx (N,O,OH,OW) +=, dw (O,C,KH,KW) +=, db (C) +=; any may be NULL. */
void sd_conv_transpose2d_naive_bwd(const sd_conv_dims *d, const float *x, const float *w, const float *dy,
                                   float *dx, float *dw, float *db)
{
    const int C = d->c, H = d->h, W = d->w, O = d->o, KH = d->kh, KW = d->kw, OH = d->oh, OW = d->ow;
    if (db)
        for (int c = 0; c < C; c++) {
            double acc = 0.0;
            for (int n = 0; n < d->n; n++)
                for (size_t k = 0; k < (size_t)H * W; k++) acc += dy[((size_t)n * C + c) * H * W + k];
            db[c] += (float)acc;
        }
    for (int o = 0; o < O; o++) {
        /* dx[n,o,i,j] = Σ_{c,p,q} dy[n,c,tap] w[o,c,p,q]: conv2d of dy */
        for (int n = 0; dx && n < d->n; n++)
            for (int i = 0; i < OH; i++)
                for (int j = 0; j < OW; j++) {
                    double acc = 0.0;
                    for (int c = 0; c < C; c++)
                        for (int p = 0; p < KH; p++)
                            for (int q = 0; q < KW; q++) {
                                int hi = i * d->stride - d->pad + p, wi = j * d->stride - d->pad + q;
                                if (hi < 0 || hi >= H || wi < 0 || wi >= W) continue;
                                acc += (double)dy[(((size_t)n * C + c) * H + hi) * W + wi] *
                                       w[(((size_t)o * C + c) * KH + p) * KW + q];
                            }
                    dx[(((size_t)n * O + o) * OH + i) * OW + j] += (float)acc;
                }
        /* dw[o,c,p,q] = Σ_{n,i,j} x[n,o,i,j] dy[n,c,tap] */
        for (int c = 0; dw && c < C; c++)
            for (int p = 0; p < KH; p++)
                for (int q = 0; q < KW; q++) {
                    double acc = 0.0;
                    for (int n = 0; n < d->n; n++)
                        for (int i = 0; i < OH; i++)
                            for (int j = 0; j < OW; j++) {
                                int hi = i * d->stride - d->pad + p, wi = j * d->stride - d->pad + q;
                                if (hi < 0 || hi >= H || wi < 0 || wi >= W) continue;
                                acc += (double)x[(((size_t)n * O + o) * OH + i) * OW + j] *
                                       dy[(((size_t)n * C + c) * H + hi) * W + wi];
                            }
                    dw[(((size_t)o * C + c) * KH + p) * KW + q] += (float)acc;
                }
    }
}

/* ------------------------------------------------------------------------- */
/* Fast path: GEMM + col2im / im2col + GEMM, batched over the images.         */

/* Floats of scratch: xt (O, N*P) then cols (CKK, N*P), for the forward and the
 * backward alike (the backward reads the xt the forward left). */
size_t sd_conv_transpose2d_gemm_scratch(const sd_conv_dims *d, int grads)
{
    (void)grads;
    size_t np = (size_t)d->n * d->oh * d->ow, ckk = (size_t)d->c * d->kh * d->kw;
    return ((size_t)d->o + ckk) * np;
}

/* a (N, R, P) <-> at (R, N*P): at[r, n*P + k] = a[n, r, k]; `add` adds into a instead. */
static void rearrange(sd_ctx *ctx, int N, int R, int P, float *a, float *at, int to_t, int add)
{
    const size_t NP = (size_t)N * P;
    int t = nthreads(ctx, (size_t)R * NP);
    #pragma omp parallel for num_threads(t) schedule(static)
    for (int r = 0; r < R; r++)
        for (int n = 0; n < N; n++) {
            float *x = a + ((size_t)n * R + r) * P, *xt = at + (size_t)r * NP + (size_t)n * P;
            if (to_t) memcpy(xt, x, (size_t)P * sizeof(float));
            else if (add) for (int k = 0; k < P; k++) x[k] += xt[k];
            else memcpy(x, xt, (size_t)P * sizeof(float));
        }
}

/* x (N,O,OH,OW), w (O,C*KH*KW), b (C) or NULL -> y (N,C,H,W); leaves xt in scratch.
 * One GEMM for the whole batch (narrow per-image products, P = 49 for a
 * 7x7 input, run at half the speed), then col2im image by image in parallel. */
void sd_conv_transpose2d_gemm(sd_ctx *ctx, const sd_conv_dims *d, const float *x, const float *w,
                              const float *b, float *y, float *scratch)
{
    const int N = d->n, O = d->o, C = d->c, P = d->oh * d->ow, NP = N * P, CKK = d->c * d->kh * d->kw;
    const size_t hw = (size_t)d->h * d->w;
    float *xt = scratch, *cols = scratch + (size_t)O * NP;
    if (N == 0) return;
    rearrange(ctx, N, O, P, (float *)x, xt, 1, 0);
    /* cols (CKK, N*P) = wᵀ (CKK, O) · xt (O, N*P) */
    sd_gemm(ctx, 1, 0, CKK, NP, O, 1.0f, w, CKK, xt, NP, 0.0f, cols, NP);
    int t = nthreads(ctx, (size_t)CKK * NP + (size_t)C * hw * N);
    #pragma omp parallel for num_threads(t) schedule(static)
    for (int n = 0; n < N; n++) {
        float *yn = y + (size_t)n * C * hw;
        memset(yn, 0, (size_t)C * hw * sizeof(float));
        sd_col2im(d, cols + (size_t)n * P, (size_t)NP, yn);
        if (b)
            for (int c = 0; c < C; c++) {
                float *r = yn + (size_t)c * hw, bc = b[c];
                for (size_t k = 0; k < hw; k++) r[k] += bc;
            }
    }
}

/* dy (N,C,H,W) -> dx (N,O,OH,OW) +=, dw (O,C*KH*KW) +=, db (C) +=; any may be NULL.
 * Reads the rearranged x (xt) that the forward left in scratch. */
void sd_conv_transpose2d_gemm_bwd(sd_ctx *ctx, const sd_conv_dims *d, const float *w, const float *dy,
                                  float *dx, float *dw, float *db, float *scratch)
{
    const int N = d->n, O = d->o, C = d->c, P = d->oh * d->ow, NP = N * P, CKK = d->c * d->kh * d->kw;
    const size_t hw = (size_t)d->h * d->w;
    float *xt = scratch, *cols = scratch + (size_t)O * NP;
    if (N == 0) return;

    if (db) {
        int t = nthreads(ctx, (size_t)N * C * hw);
        #pragma omp parallel for num_threads(t) schedule(static)
        for (int c = 0; c < C; c++) {
            double s = 0.0;
            for (int n = 0; n < N; n++) {
                const float *r = dy + ((size_t)n * C + c) * hw;
                for (size_t k = 0; k < hw; k++) s += r[k];
            }
            db[c] += (float)s;
        }
    }
    if (!dx && !dw) return;

    /* cols[:, n*P : n*P+P] = im2col(dy_n) */
    int t = nthreads(ctx, (size_t)CKK * NP);
    #pragma omp parallel for num_threads(t) schedule(static)
    for (int n = 0; n < N; n++) sd_im2col(d, dy + (size_t)n * C * hw, cols + (size_t)n * P, (size_t)NP);
    /* dw (O, CKK) += xt (O, N*P) · colsᵀ (N*P, CKK) */
    if (dw) sd_gemm(ctx, 0, 1, O, CKK, NP, 1.0f, xt, NP, cols, NP, 1.0f, dw, CKK);
    if (!dx) return;
    /* dxt (O, N*P) = w (O, CKK) · cols, into xt's place;  dx_n += dxt[:, n*P : n*P+P] */
    sd_gemm(ctx, 0, 0, O, NP, CKK, 1.0f, w, CKK, cols, NP, 0.0f, xt, NP);
    rearrange(ctx, N, O, P, dx, xt, 0, 1);
}
