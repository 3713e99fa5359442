/* shendu/kernels.h — raw float kernels the ops are built on, public so that
 * tests and benchmarks can call both the naive oracle and the fast path. */
#ifndef SHENDU_KERNELS_H
#define SHENDU_KERNELS_H

#include "base.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Row-major GEMM: C[M,N] = alpha * op(A)[M,K] · op(B)[K,N] + beta * C.
 * op(A) = A if transA == 0 (A is M×K, leading dimension lda), else Aᵀ (A is K×M).
 * op(B) = B if transB == 0 (B is K×N, ldb),                   else Bᵀ (B is N×K).
 * beta == 0 overwrites C without reading it (NaNs in C do not propagate).
 * Same inputs and same thread count -> bit-identical C. */
void sd_gemm(sd_ctx *ctx, int transA, int transB, int M, int N, int K,
             float alpha, const float *A, int lda, const float *B, int ldb,
             float beta, float *C, int ldc);

/* The same on at most max_threads threads (0: the context's). The result does
 * not depend on the thread count. For callers that know better than the
 * product's size, e.g. a small product of operands this core has just written,
 * which another core would first have to fetch. */
void sd_gemm_on(sd_ctx *ctx, int max_threads, int transA, int transB, int M, int N, int K,
                float alpha, const float *A, int lda, const float *B, int ldb,
                float beta, float *C, int ldc);

/* The reference triple loop (single thread): the oracle for sd_gemm. */
void sd_gemm_naive(int transA, int transB, int M, int N, int K,
                   float alpha, const float *A, int lda, const float *B, int ldb,
                   float beta, float *C, int ldc);

/* bfloat16 (float32's top 16 bits): rounding to nearest even as the CPU's
 * vcvtneps2bf16 does (NaN stays NaN, denormals flush to zero), and back. */
uint16_t sd_bf16_from_float(float f);
float    sd_bf16_to_float(uint16_t h);

/* The oracle for sd_gemm under SD_PRECISION_BF16: sd_gemm_naive with both
 * operands rounded to bfloat16, each pair of k added in float32 the way the
 * CPU's vdpbf16ps adds it. */
void sd_gemm_bf16_naive(int transA, int transB, int M, int N, int K,
                        float alpha, const float *A, int lda, const float *B, int ldb,
                        float beta, float *C, int ldc);

/* ---- Convolution and max-pooling, NCHW, float32.
 * One set of sizes describes both: x (N,C,H,W), w (O,C,KH,KW), y (N,O,OH,OW)
 * with OH = (H + 2 pad - KH) / stride + 1 and OW likewise (pooling: O = C,
 * KH = KW = the window, pad = 0). Callers validate the sizes (the ops do);
 * the kernels trust them. Element counts are size_t; C*KH*KW and N*OH*OW must
 * fit in an int (they are GEMM dimensions). */
typedef struct sd_conv_dims {
    int n, c, h, w;        /* input x (N,C,H,W) */
    int o, kh, kw;         /* weights w (O,C,KH,KW) */
    int stride, pad;       /* the same along H and W */
    int oh, ow;            /* output y (N,O,OH,OW) */
} sd_conv_dims;

/* Reference convolution (cross-correlation), direct loops, one thread:
 * y[n,o,i,j] = b[o] + Σ_{c,p,q} x[n,c, i*stride-pad+p, j*stride-pad+q] · w[o,c,p,q]
 * (taps outside x read 0; b may be NULL). */
void sd_conv2d_naive(const sd_conv_dims *d, const float *x, const float *w, const float *b, float *y);
/* Its gradients, ADDED into dx (N,C,H,W), dw (O,C,KH,KW), db (O); any may be NULL. */
void sd_conv2d_naive_bwd(const sd_conv_dims *d, const float *x, const float *w, const float *dy,
                         float *dx, float *dw, float *db);

/* One image x (C,H,W) -> cols (C*KH*KW, OH*OW) with row stride ldc:
 * cols[(c*KH + p)*KW + q][i*OW + j] = x[c, i*stride-pad+p, j*stride-pad+q], 0 outside x. */
void sd_im2col(const sd_conv_dims *d, const float *x, float *cols, size_t ldc);
/* The adjoint: x (C,H,W) += every entry of cols (C*KH*KW, OH*OW) at its tap. */
void sd_col2im(const sd_conv_dims *d, const float *cols, size_t ldc, float *x);

/* Fast convolution: im2col of each image and sd_gemm. `scratch` holds
 * sd_conv2d_gemm_scratch(d, grads, threads) floats (threads: the ctx's), grads =
 * 0 for a forward only, 1 for a backward giving dw and db, 2 for dx as well;
 * with grads >= 1 the forward runs with keep_cols, leaving the batch's columns
 * (C*KH*KW, N*OH*OW) that the backward reads, so keep it between; without, it
 * needs only one image's columns per thread. ctx (threads, GEMM buffers) is required. */
size_t sd_conv2d_gemm_scratch(const sd_conv_dims *d, int grads, int threads);
void sd_conv2d_gemm(sd_ctx *ctx, const sd_conv_dims *d, const float *x, const float *w,
                    const float *b, float *y, float *scratch, int keep_cols);
/* dw (O,C*KH*KW) += the weight gradient for dy, from x itself (for a forward
 * that ran another kernel and left no columns): image by image, each thread
 * making the columns of its share of the channels in `scratch`
 * (sd_conv2d_dw_scratch floats, for this ctx's threads). */
size_t sd_conv2d_dw_scratch(sd_ctx *ctx, const sd_conv_dims *d);
void sd_conv2d_dw(sd_ctx *ctx, const sd_conv_dims *d, const float *x, const float *dy, float *dw,
                  float *scratch);
/* Gradients ADDED into dx, dw, db (any may be NULL; scratch sized for them). */
void sd_conv2d_gemm_bwd(sd_ctx *ctx, const sd_conv_dims *d, const float *w, const float *dy,
                        float *dx, float *dw, float *db, float *scratch);

/* Winograd F(2x2, 3x3) (src/kernels/winograd.c): the forward of a 3x3, stride-1
 * convolution as 16 products of (tiles,C)·(C,O), 2.25x fewer multiplications
 * than im2col's; the filters' transform is kept in ctx while w is unchanged.
 * _ok says whether it applies (3x3, stride 1, at least 8 channels in and out);
 * scratch holds sd_conv2d_winograd_scratch(d, threads of ctx) floats. */
int sd_conv2d_winograd_ok(const sd_conv_dims *d);
size_t sd_conv2d_winograd_scratch(const sd_conv_dims *d, int threads);
void sd_conv2d_winograd(sd_ctx *ctx, const sd_conv_dims *d, const float *x, const float *w,
                        const float *b, float *y, float *scratch);
/* The backward's dx the same way (dx += dy correlated with w turned by 180
 * degrees, padding 2 - pad); _dx_ok also needs pad <= 2. */
int sd_conv2d_winograd_dx_ok(const sd_conv_dims *d);
size_t sd_conv2d_winograd_dx_scratch(const sd_conv_dims *d, int threads);
void sd_conv2d_winograd_dx(sd_ctx *ctx, const sd_conv_dims *d, const float *w, const float *dy, float *dx,
                           float *scratch);

/* ---- Transposed convolution (src/kernels/conv_transpose.c): the adjoint of
 * the convolution described by d. x (N,O,OH,OW), w (O,C,KH,KW) — PyTorch's
 * ConvTranspose2d layout (in, out, kH, kW) — and b (C) or NULL -> y (N,C,H,W):
 * y[n,c,i*stride-pad+p, j*stride-pad+q] += x[n,o,i,j] · w[o,c,p,q], taps outside y dropped.
 * The reference loops (one thread, sums in double) and the GEMM path; the
 * backward ADDS into dx (N,O,OH,OW), dw, db (any may be NULL). scratch holds
 * sd_conv_transpose2d_gemm_scratch(d, grads) floats; the backward reads what
 * the forward left there, so keep it between. ctx is required. */
void sd_conv_transpose2d_naive(const sd_conv_dims *d, const float *x, const float *w, const float *b, float *y);
void sd_conv_transpose2d_naive_bwd(const sd_conv_dims *d, const float *x, const float *w, const float *dy,
                                   float *dx, float *dw, float *db);
size_t sd_conv_transpose2d_gemm_scratch(const sd_conv_dims *d, int grads);
void sd_conv_transpose2d_gemm(sd_ctx *ctx, const sd_conv_dims *d, const float *x, const float *w,
                              const float *b, float *y, float *scratch);
void sd_conv_transpose2d_gemm_bwd(sd_ctx *ctx, const sd_conv_dims *d, const float *w, const float *dy,
                                  float *dx, float *dw, float *db, float *scratch);

/* Reference max-pool, one thread: y[n,c,i,j] = max of the KH x KW window at
 * (i*stride, j*stride) of x; argmax (N,C,OH,OW) gets the index h*W + w of the
 * first maximum within its (H,W) plane (NULL: not stored). A NaN wins its
 * window (the first NaN), so NaNs propagate. */
void sd_maxpool2d_naive(const sd_conv_dims *d, const float *x, float *y, int32_t *argmax);
/* Fast max-pool: the same results (NaNs included), planes split across ctx's
 * threads (one thread if ctx is NULL). */
void sd_maxpool2d_fast(sd_ctx *ctx, const sd_conv_dims *d, const float *x, float *y, int32_t *argmax);
/* dx (N,C,H,W) += dy routed to the arg-max of each window (one thread if ctx is NULL). */
void sd_maxpool2d_bwd(sd_ctx *ctx, const sd_conv_dims *d, const int32_t *argmax, const float *dy, float *dx);

/* ---- Scaled-dot-product attention, fused (src/kernels/attention.c).
 * q, k, v, o (T·B, D) time-major (row t·B + b), H heads of D / H columns each;
 * o_t = Σ_{u<=t} softmax_u(scale q_t·k_u) v_u per sequence and head (causal), or
 * the sums over every u < T when `full` is set (no mask). The
 * forward keeps lse (B·H·T: each row's log-sum-exp) for the backward, which
 * recomputes the probabilities: no T×T matrix is stored. scratch: threads ·
 * sd_attention_scratch_floats(T, dim / heads) floats. The backward ADDS into dq, dk, dv (each may be NULL). Results do not
 * depend on the thread count. The composed oracles: sd_causal_attention_composed,
 * sd_full_attention_composed.
 * ld_in: floats from one row of q (k, v, dq, dk, dv) to the next; 0 means dim
 * (3·dim: q, k, v are the column blocks of one packed projection). */
/* ctx: products by sd_gemm on ctx's buffers, blocks of queries at a time (threads
 * at most ctx's); NULL: vector loops, one query at a time (no ctx needed). */
typedef struct sd_attn_dims { int t, b, heads, dim; float scale; int threads; int ld_in; int full; sd_ctx *ctx; } sd_attn_dims;
void sd_attention_fwd(const sd_attn_dims *d, const float *q, const float *k, const float *v, float *o,
                      float *lse, float *scratch);
void sd_attention_bwd(const sd_attn_dims *d, const float *q, const float *k, const float *v, const float *o,
                      const float *lse, const float *dout, float *dq, float *dk, float *dv, float *scratch);
size_t sd_attention_scratch_floats(int t, int dh);
/* The naive kernels (scalar dot products, libm's expf; scratch: threads·T
 * floats), kept as the reference of the two above. */
void sd_attention_fwd_naive(const sd_attn_dims *d, const float *q, const float *k, const float *v, float *o,
                            float *lse, float *scratch);
void sd_attention_bwd_naive(const sd_attn_dims *d, const float *q, const float *k, const float *v, const float *o,
                            const float *lse, const float *dout, float *dq, float *dk, float *dv, float *scratch);
/* One query q (D) against n cached keys and values kc, vc (n, D) -> o (D): the
 * sampling step with a key/value cache, O(n·D). scratch: n floats. */
void sd_attention_step(int n, int heads, int dim, float scale, const float *q, const float *kc, const float *vc,
                       float *o, float *scratch);

#ifdef __cplusplus
}
#endif
#endif
