/* Convolution and max-pooling kernels, NCHW, float32.
 *
 * The reference loops (sd_conv2d_naive*, sd_maxpool2d_naive) are the oracles.
 * The fast convolution lowers to matrix products, with CKK = C*KH*KW rows
 * of columns and P = OH*OW output pixels per image:
 *
 *   cols  (CKK, N*P)  = im2col of every image; image n fills columns n*P .. n*P+P-1
 *   y_n   (O, P)      = w (O, CKK) · cols[:, n*P : n*P+P] + b  one sd_gemm per image
 * backward, over the whole batch at once:
 *   dyt   (O, N*P)    = dy rearranged;  db += the rows' sums
 *   dw    (O, CKK)   += dyt · colsᵀ                           one sd_gemm, K = N*P
 *   dcols (CKK, N*P)  = wᵀ · dyt                              one sd_gemm
 *   dx    (N,C,H,W)  += col2im(dcols), image by image
 *
 * The forward goes image by image so that each image's columns and output
 * stay in cache (measured: faster than one batched product followed by an
 * (O, N*P) -> (N, O, P) rearrangement); the backward's products are batched so
 * that dw is one sum over N*P in a fixed order. The loops run on ctx's threads
 * with every element written by one thread in a fixed order, and sd_gemm is
 * deterministic, so the same inputs and thread count give bit-identical results. */
#include "engine/internal.h"
#include "shendu/kernels.h"

#include <math.h>
#include "engine/parallel.h"
#include <string.h>
#if defined(__AVX512F__)
#include <immintrin.h>
#elif defined(__wasm_simd128__)
#include <wasm_simd128.h>
#endif

/* Loops over less work than this stay on one thread. */
#define PAR_MIN 32768
/* A convolution of fewer flops than this runs its products on one thread. */
#define SERIAL_CONV_FLOPS (16.0 * 1024 * 1024)

static int nthreads(sd_ctx *ctx, size_t work)
{
    return ctx && work > PAR_MIN ? sd_ctx_threads(ctx) : 1;
}

/* ------------------------------------------------------------------------- */
/* Reference convolution                                                     */

/* x (N,C,H,W), w (O,C,KH,KW), b (O) or NULL -> y (N,O,OH,OW); sums in double. */
void sd_conv2d_naive(const sd_conv_dims *d, const float *x, const float *w, const float *b, float *y)
{
    const int C = d->c, H = d->h, W = d->w, O = d->o, KH = d->kh, KW = d->kw;
    for (int n = 0; n < d->n; n++)
        for (int o = 0; o < O; o++)
            for (int i = 0; i < d->oh; i++)
                for (int j = 0; j < d->ow; j++) {
                    double s = b ? b[o] : 0.0;
                    for (int c = 0; c < C; c++)
                        for (int p = 0; p < KH; p++)
                            for (int q = 0; q < KW; q++) {
                                int hi = i * d->stride - d->pad + p, wi = j * d->stride - d->pad + q;
                                if (hi < 0 || hi >= H || wi < 0 || wi >= W) continue;
                                s += (double)x[(((size_t)n * C + c) * H + hi) * W + wi] *
                                     w[(((size_t)o * C + c) * KH + p) * KW + q];
                            }
                    y[(((size_t)n * O + o) * d->oh + i) * d->ow + j] = (float)s;
                }
}

/* dy (N,O,OH,OW) -> dx (N,C,H,W) +=, dw (O,C,KH,KW) +=, db (O) +=.
 * dw and db are gathered in double; dx is scattered tap by tap. */
void sd_conv2d_naive_bwd(const sd_conv_dims *d, const float *x, const float *w, const float *dy,
                         float *dx, float *dw, float *db)
{
    const int C = d->c, H = d->h, W = d->w, O = d->o, KH = d->kh, KW = d->kw, OH = d->oh, OW = d->ow;
    for (int o = 0; o < O; o++) {
        const float *dyo = dy + (size_t)o * OH * OW;          /* image n at + n*O*OH*OW */
        const size_t img = (size_t)O * OH * OW;
        if (db) {
            double s = 0.0;
            for (int n = 0; n < d->n; n++)
                for (size_t k = 0; k < (size_t)OH * OW; k++) s += dyo[n * img + k];
            db[o] += (float)s;
        }
        for (int c = 0; c < C; c++)
            for (int p = 0; p < KH; p++)
                for (int q = 0; q < KW; q++) {
                    size_t wi_ = (((size_t)o * C + c) * KH + p) * KW + q;
                    double s = 0.0;
                    for (int n = 0; n < d->n; n++)
                        for (int i = 0; i < OH; i++)
                            for (int j = 0; j < OW; j++) {
                                int hi = i * d->stride - d->pad + p, wi = j * d->stride - d->pad + q;
                                if (hi < 0 || hi >= H || wi < 0 || wi >= W) continue;
                                size_t xi = (((size_t)n * C + c) * H + hi) * W + wi;
                                float g = dyo[n * img + (size_t)i * OW + j];
                                s += (double)g * x[xi];
                                if (dx) dx[xi] += g * w[wi_];
                            }
                    if (dw) dw[wi_] += (float)s;
                }
    }
}

/* ------------------------------------------------------------------------- */
/* im2col / col2im                                                           */

/* Output positions [*lo, *hi) of `out` whose tap j*stride + off lies in [0, n). */
static void tap_range(int n, int off, int stride, int out, int *lo, int *hi)
{
    long long a = off >= 0 ? 0 : (-(long long)off + stride - 1) / stride;
    long long b = (long long)n - off <= 0 ? 0 : ((long long)n - 1 - off) / stride + 1;
    if (b > out) b = out;
    if (a > b) a = b;
    *lo = (int)a;
    *hi = (int)b;
}

/* Rows of a CNN's feature maps are short (11 to 28 floats): a masked vector
 * per 16 is much cheaper than memcpy's call or a loop's scalar tail. */
static inline void row_copy(float *restrict dst, const float *restrict src, int n)
{
#if defined(__AVX512F__)
    for (; n > 0; n -= 16, dst += 16, src += 16) {
        const __mmask16 m = n >= 16 ? (__mmask16)0xFFFF : (__mmask16)((1u << n) - 1);
        _mm512_mask_storeu_ps(dst, m, _mm512_maskz_loadu_ps(m, src));
    }
#else
    memcpy(dst, src, (size_t)n * sizeof(float));
#endif
}

/* dst[0..n) += src[0..n) */
static inline void row_add(float *restrict dst, const float *restrict src, int n)
{
#if defined(__AVX512F__)
    for (; n > 0; n -= 16, dst += 16, src += 16) {
        const __mmask16 m = n >= 16 ? (__mmask16)0xFFFF : (__mmask16)((1u << n) - 1);
        _mm512_mask_storeu_ps(dst, m, _mm512_add_ps(_mm512_maskz_loadu_ps(m, dst), _mm512_maskz_loadu_ps(m, src)));
    }
#else
    for (int j = 0; j < n; j++) dst[j] += src[j];
#endif
}

/* Σ x[0..n), in 16 float lanes that each add in order (so it vectorises
 * without reassociating), then the lanes in double: a fixed order. */
static double row_sum(const float *x, int n)
{
    float lane[16] = { 0 };
    int k = 0;
    for (; k + 16 <= n; k += 16)
        for (int l = 0; l < 16; l++) lane[l] += x[k + l];
    double s = 0.0;
    for (int l = 0; l < 16; l++) s += lane[l];
    for (; k < n; k++) s += x[k];
    return s;
}

/* x (C,H,W) -> cols (C*KH*KW, OH*OW), row stride ldc; taps outside x give 0. */
void sd_im2col(const sd_conv_dims *d, const float *x, float *cols, size_t ldc)
{
    const int H = d->h, W = d->w, OH = d->oh, OW = d->ow, s = d->stride;
    for (int c = 0; c < d->c; c++)
        for (int p = 0; p < d->kh; p++)
            for (int q = 0; q < d->kw; q++) {
                float *row = cols + ((size_t)(c * d->kh + p) * d->kw + q) * ldc;
                const int off = q - d->pad;                  /* x column of output column j: j*s + off */
                int j0, j1;
                tap_range(W, off, s, OW, &j0, &j1);
                for (int i = 0; i < OH; i++) {
                    float *r = row + (size_t)i * OW;
                    const int hi = i * s - d->pad + p;
                    if (hi < 0 || hi >= H) { memset(r, 0, (size_t)OW * sizeof(float)); continue; }
                    const float *xr = x + ((size_t)c * H + hi) * W;
                    for (int j = 0; j < j0; j++) r[j] = 0.0f;
                    if (s == 1)
                        row_copy(r + j0, xr + j0 + off, j1 - j0);
                    else
                        for (int j = j0; j < j1; j++) r[j] = xr[j * s + off];
                    for (int j = j1; j < OW; j++) r[j] = 0.0f;
                }
            }
}

/* cols (C*KH*KW, OH*OW), row stride ldc -> x (C,H,W) += each entry at its tap. */
void sd_col2im(const sd_conv_dims *d, const float *cols, size_t ldc, float *x)
{
    const int H = d->h, W = d->w, OH = d->oh, OW = d->ow, s = d->stride;
    for (int c = 0; c < d->c; c++)
        for (int p = 0; p < d->kh; p++)
            for (int q = 0; q < d->kw; q++) {
                const float *row = cols + ((size_t)(c * d->kh + p) * d->kw + q) * ldc;
                const int off = q - d->pad;
                int j0, j1;
                tap_range(W, off, s, OW, &j0, &j1);
                for (int i = 0; i < OH; i++) {
                    const int hi = i * s - d->pad + p;
                    if (hi < 0 || hi >= H) continue;
                    const float *r = row + (size_t)i * OW;
                    float *xr = x + ((size_t)c * H + hi) * W;
                    if (s == 1)
                        row_add(xr + j0 + off, r + j0, j1 - j0);
                    else
                        for (int j = j0; j < j1; j++) xr[j * s + off] += r[j];
                }
            }
}

/* ------------------------------------------------------------------------- */
/* Fast convolution                                                          */

/* The backward's dx: images in chunks of about 1 MiB of columns (at least one image). */
static int dx_chunk(const sd_conv_dims *d)
{
    const size_t per = (size_t)d->c * d->kh * d->kw * d->oh * d->ow;
    const size_t chunk = (1024 * 1024 / sizeof(float)) / per;
    return chunk < 1 ? 1 : chunk > (size_t)d->n ? d->n : (int)chunk;
}

/* Floats of scratch. A forward only (grads 0): one image's columns (CKK, P)
 * per thread. With grads >= 1 the batch's columns (CKK, N*P), kept for the
 * weight gradient, and dyt (O, N*P); with grads == 2 also one chunk's dcols
 * (CKK, chunk*P) per thread. (The columns of the whole batch were made for
 * every forward, and dcols for the whole batch: a DCGAN step held 116 MB of
 * them for its last 32 -> 1 convolution alone.) */
size_t sd_conv2d_gemm_scratch(const sd_conv_dims *d, int grads, int threads)
{
    const size_t P = (size_t)d->oh * d->ow, np = (size_t)d->n * P, ckk = (size_t)d->c * d->kh * d->kw;
    if (threads < 1) threads = 1;
    if (grads <= 0) return (size_t)(threads < d->n ? threads : d->n) * ckk * P;
    const int chunk = dx_chunk(d), nchunks = (d->n + chunk - 1) / chunk;
    return ckk * np + (size_t)d->o * np +
           (grads >= 2 ? (size_t)(threads < nchunks ? threads : nchunks) * ckk * chunk * P : 0);
}

/* x (N,C,H,W), w (O,C*KH*KW), b (O) or NULL -> y (N,O,OH,OW); with keep_cols
 * leaves the batch's columns in scratch for the backward.
 * Image by image: cols[:, n*P : n*P+P] = im2col(x_n), y_n (O,P) = w · those columns + b;
 * without keep_cols each thread's image goes to its own (CKK, P) buffer instead.
 * With at least as many images as threads, each thread takes whole images (and
 * runs its GEMMs serially); otherwise the images go in turn, each GEMM threaded. */
void sd_conv2d_gemm(sd_ctx *ctx, const sd_conv_dims *d, const float *x, const float *w,
                    const float *b, float *y, float *scratch, int keep_cols)
{
    const int N = d->n, O = d->o, P = d->oh * d->ow, NP = N * P, CKK = d->c * d->kh * d->kw;
    const size_t chw = (size_t)d->c * d->h * d->w;
    float *cols = scratch;
    int t = nthreads(ctx, (size_t)CKK * NP + (size_t)O * NP);
    /* Fewer images than threads (batch-1 inference): each product may take
     * the threads, unless the whole op is small. Then a second core would
     * first have to fetch the columns this one just wrote, which costs more
     * than it saves: the CNN's batch-1 forward took 0.13-0.15 ms with conv2's
     * 4.5 MFLOP on 2 threads (spinning or not), 0.085 ms on 1. */
    const int gemm_threads = 2.0 * O * CKK * (double)NP < SERIAL_CONV_FLOPS ? 1 : 0;
    #pragma omp parallel for num_threads(t) if (t > 1 && N >= t) schedule(static)
    for (int n = 0; n < N; n++) {
        const int ld = keep_cols ? NP : P;   /* (the same products either way) */
        float *cn = keep_cols ? cols + (size_t)n * P : cols + (size_t)omp_get_thread_num() * CKK * P;
        float *yn = y + (size_t)n * O * P;
        sd_im2col(d, x + n * chw, cn, (size_t)ld);
        /* y_n (O, P) = w (O, CKK) · cols_n (CKK, P) */
        sd_gemm_on(ctx, gemm_threads, 0, 0, O, P, CKK, 1.0f, w, CKK, cn, ld, 0.0f, yn, P);
        if (b)
            for (int o = 0; o < O; o++) {
                float *r = yn + (size_t)o * P, bo = b[o];
                for (int k = 0; k < P; k++) r[k] += bo;
            }
    }
}

/* The weight gradient without the batch's columns (for a forward that kept
 * none): dw (O, CKK) += Σ_n dy_n (O, P) · im2col(x_n)ᵀ, image after image.
 * The threads share the input channels, each owning their block of dw's
 * columns and making only its channels' columns, one image at a time in a
 * buffer that stays in cache (the batch's columns of the CNN's conv2 were
 * 9 MB, and dy had to be copied to (O, N*P) rows first). Every element of dw
 * sums the images in order, each image's pixels in the GEMM's fixed order:
 * the result does not depend on the thread count. */
static int dw_threads(sd_ctx *ctx, const sd_conv_dims *d)
{
    const int KK = d->kh * d->kw;
    int t = nthreads(ctx, (size_t)d->o * d->c * KK * d->n * d->oh * d->ow);
    /* A block of dw 16 columns wide or less would take sd_gemm's dot-product
     * path, which sums in another order: the smallest share (C / t channels)
     * stays wider. */
    while (t > 1 && d->c / t * KK <= 16) t--;
    return t;
}

size_t sd_conv2d_dw_scratch(sd_ctx *ctx, const sd_conv_dims *d)
{
    const int t = dw_threads(ctx, d), per = (d->c + t - 1) / t;
    return (size_t)t * per * d->kh * d->kw * d->oh * d->ow;
}

void sd_conv2d_dw(sd_ctx *ctx, const sd_conv_dims *d, const float *x, const float *dy, float *dw,
                  float *scratch)
{
    const int N = d->n, C = d->c, O = d->o, KK = d->kh * d->kw, P = d->oh * d->ow;
    const size_t plane = (size_t)d->h * d->w;
    const int t = dw_threads(ctx, d), per = (C + t - 1) / t;
    #pragma omp parallel num_threads(t) if (t > 1)
    {
        const int id = t > 1 ? omp_get_thread_num() : 0;
        const int c0 = (int)((long)C * id / t), c1 = (int)((long)C * (id + 1) / t);   /* per or per - 1 */
        sd_conv_dims e = *d;               /* this thread's channels, one image */
        e.n = 1;
        e.c = c1 - c0;
        float *cols = scratch + (size_t)id * per * KK * P;
        for (int n = 0; n < N; n++) {
            sd_im2col(&e, x + ((size_t)n * C + c0) * plane, cols, (size_t)P);
            /* dw[:, c0*KK : c1*KK] (O, e.c*KK) += dy_n (O, P) · cols (e.c*KK, P)ᵀ */
            sd_gemm(ctx, 0, 1, O, e.c * KK, P, 1.0f, dy + (size_t)n * O * P, P, cols, P, 1.0f,
                    dw + (size_t)c0 * KK, C * KK);
        }
    }
}

/* dy (N,O,OH,OW) -> dx (N,C,H,W) +=, dw (O,C*KH*KW) +=, db (O) +=; reads cols from scratch.
 * The weight gradient is one GEMM over the whole batch (K = N*P), so its sum
 * has a fixed order whatever the thread count. */
void sd_conv2d_gemm_bwd(sd_ctx *ctx, const sd_conv_dims *d, const float *w, const float *dy,
                        float *dx, float *dw, float *db, float *scratch)
{
    const int N = d->n, O = d->o, P = d->oh * d->ow, NP = N * P, CKK = d->c * d->kh * d->kw;
    const size_t chw = (size_t)d->c * d->h * d->w;
    float *cols = scratch, *dyt = dw || dx ? cols + (size_t)CKK * NP : NULL;
    float *dcols = dx ? dyt + (size_t)O * NP : NULL;   /* one chunk's (CKK, chunk*P) per thread */

    int t = nthreads(ctx, (size_t)O * NP);
    #pragma omp parallel for num_threads(t) schedule(static)
    for (int o = 0; o < O; o++) {             /* dyt[o, n*P : n*P+P] = dy[n, o, :]; db[o] += Σ */
        double s = 0.0;
        for (int n = 0; n < N; n++) {
            const float *src = dy + ((size_t)n * O + o) * P;
            if (dw || dx) memcpy(dyt + (size_t)o * NP + (size_t)n * P, src, (size_t)P * sizeof(float));
            if (db) s += row_sum(src, P);
        }
        if (db) db[o] += (float)s;
    }

    /* dw (O, CKK) += dyt (O, N*P) · colsᵀ (N*P, CKK) */
    if (dw) sd_gemm(ctx, 0, 1, O, CKK, NP, 1.0f, dyt, NP, cols, NP, 1.0f, dw, CKK);
    if (!dx) return;
    /* In chunks of images small enough to stay in cache, one chunk per thread:
     * dcols[:, chunk] (CKK, n*P) = wᵀ (CKK, O) · dyt[:, chunk] (O, n*P),
     * then dx_n += col2im(dcols[:, n*P : n*P+P]) for each image n of the chunk. */
    const int chunk = dx_chunk(d), nchunks = (N + chunk - 1) / chunk;
    t = nthreads(ctx, (size_t)CKK * NP);
    if (nchunks < t) t = 1;
    #pragma omp parallel for num_threads(t) schedule(static)
    for (int c = 0; c < nchunks; c++) {
        const int n0 = c * chunk, n1 = n0 + chunk < N ? n0 + chunk : N, ld = (n1 - n0) * P;
        float *dc = dcols + (size_t)omp_get_thread_num() * CKK * chunk * P;
        sd_gemm(ctx, 1, 0, CKK, ld, O, 1.0f, w, CKK, dyt + (size_t)n0 * P, NP, 0.0f, dc, ld);
        for (int n = n0; n < n1; n++) sd_col2im(d, dc + (size_t)(n - n0) * P, (size_t)ld, dx + n * chw);
    }
}

/* ------------------------------------------------------------------------- */
/* Max-pooling                                                               */

/* v replaces the current maximum m: larger, or the first NaN. */
static inline int pool_wins(float v, float m) { return (v > m) | (isnan(v) & !isnan(m)); }

/* x (N,C,H,W) -> y (N,C,OH,OW), argmax (N,C,OH,OW) = h*W + w in the plane, or NULL. */
void sd_maxpool2d_naive(const sd_conv_dims *d, const float *x, float *y, int32_t *argmax)
{
    const size_t planes = (size_t)d->n * d->c;
    for (size_t pl = 0; pl < planes; pl++)
        for (int i = 0; i < d->oh; i++)
            for (int j = 0; j < d->ow; j++) {
                float m = 0.0f;
                int arg = -1;
                for (int p = 0; p < d->kh; p++)
                    for (int q = 0; q < d->kw; q++) {
                        int idx = (i * d->stride + p) * d->w + j * d->stride + q;
                        float v = x[pl * d->h * d->w + (size_t)idx];
                        if (arg < 0 || pool_wins(v, m)) { m = v; arg = idx; }
                    }
                size_t k = (pl * d->oh + i) * d->ow + j;
                y[k] = m;
                if (argmax) argmax[k] = arg;
            }
}

/* If the window at x[first] (KH x KW, row stride W) holds a NaN, its first
 * NaN becomes the window's maximum. */
static void nan_fixup(const float *x, int first, int W, int KH, int KW, float *m, int *arg)
{
    for (int p = 0; p < KH; p++)
        for (int q = 0; q < KW; q++)
            if (isnan(x[first + p * W + q])) { *m = x[first + p * W + q]; *arg = first + p * W + q; return; }
}

/* One output row of 2x2 windows at stride 2: r0, r1 the two input rows,
 * `first` the index of r0[0] in the plane. Branch-free so that it vectorises
 * (a tree of strict comparisons keeps the first maximum in window order, as
 * the general loop does); returns nonzero if a window held a NaN, and the
 * caller redoes that row. */
static int pool_row_2x2s2(const float *restrict r0, const float *restrict r1, int OW, int first, int W,
                          float *restrict yr, int32_t *restrict ar)
{
    int nan = 0, j = 0;
#if defined(__AVX512F__)
    /* 16 windows per step from plain loads (32 columns of each row), even and
     * odd columns by a two-register permute, then the same tree with mask
     * blends; the last OW % 16 windows take the scalar loop. (The tail was once
     * done with masked loads and stores: measured 3-6x slower per window than
     * this on the CNN's 13- and 5-window rows, where nothing is full.) */
    const __m512i even = _mm512_setr_epi32(0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30);
    const __m512i odd = _mm512_add_epi32(even, _mm512_set1_epi32(1)), one = _mm512_set1_epi32(1);
    const __m512i lane2 = _mm512_slli_epi32(_mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15), 1);
    __mmask16 bad = 0;
    for (; j + 16 <= OW; j += 16) {
        const __m512 x0 = _mm512_loadu_ps(r0 + 2 * j), x1 = _mm512_loadu_ps(r0 + 2 * j + 16);
        const __m512 z0 = _mm512_loadu_ps(r1 + 2 * j), z1 = _mm512_loadu_ps(r1 + 2 * j + 16);
        const __m512 a = _mm512_permutex2var_ps(x0, even, x1), b = _mm512_permutex2var_ps(x0, odd, x1);
        const __m512 e = _mm512_permutex2var_ps(z0, even, z1), f = _mm512_permutex2var_ps(z0, odd, z1);
        const __mmask16 c1 = _mm512_cmp_ps_mask(b, a, _CMP_GT_OQ), c2 = _mm512_cmp_ps_mask(f, e, _CMP_GT_OQ);
        const __m512 m1 = _mm512_mask_blend_ps(c1, a, b), m2 = _mm512_mask_blend_ps(c2, e, f);
        const __mmask16 c3 = _mm512_cmp_ps_mask(m2, m1, _CMP_GT_OQ);
        _mm512_storeu_ps(yr + j, _mm512_mask_blend_ps(c3, m1, m2));
        if (ar) {   /* first + 2(j + lane) + (c3 ? W + c2 : c1) */
            const __m512i w_c2 = _mm512_mask_add_epi32(_mm512_set1_epi32(W), c2, _mm512_set1_epi32(W), one);
            const __m512i off = _mm512_mask_blend_epi32(c3, _mm512_maskz_mov_epi32(c1, one), w_c2);
            const __m512i base = _mm512_add_epi32(_mm512_set1_epi32(first + 2 * j), lane2);
            _mm512_storeu_si512(ar + j, _mm512_add_epi32(base, off));
        }
        const __m512 sum = _mm512_add_ps(_mm512_add_ps(a, b), _mm512_add_ps(e, f));
        bad |= _mm512_cmp_ps_mask(sum, sum, _CMP_UNORD_Q);   /* NaN, or inf - inf */
    }
    nan = bad != 0;
#elif defined(__wasm_simd128__)
    /* The wasm build: 4 windows per step, even and odd columns by shuffles,
     * the same tree with bit selects (comparisons give all-ones lanes). */
    const v128_t one = wasm_i32x4_splat(1), lane2 = wasm_i32x4_make(0, 2, 4, 6);
    v128_t bad = wasm_i32x4_splat(0);
    for (; j + 4 <= OW; j += 4) {
        const v128_t x0 = wasm_v128_load(r0 + 2 * j), x1 = wasm_v128_load(r0 + 2 * j + 4);
        const v128_t z0 = wasm_v128_load(r1 + 2 * j), z1 = wasm_v128_load(r1 + 2 * j + 4);
        const v128_t a = wasm_i32x4_shuffle(x0, x1, 0, 2, 4, 6), b = wasm_i32x4_shuffle(x0, x1, 1, 3, 5, 7);
        const v128_t e = wasm_i32x4_shuffle(z0, z1, 0, 2, 4, 6), f = wasm_i32x4_shuffle(z0, z1, 1, 3, 5, 7);
        const v128_t c1 = wasm_f32x4_gt(b, a), c2 = wasm_f32x4_gt(f, e);
        const v128_t m1 = wasm_v128_bitselect(b, a, c1), m2 = wasm_v128_bitselect(f, e, c2);
        const v128_t c3 = wasm_f32x4_gt(m2, m1);
        wasm_v128_store(yr + j, wasm_v128_bitselect(m2, m1, c3));
        if (ar) {   /* first + 2(j + lane) + (c3 ? W + c2 : c1) */
            const v128_t w_c2 = wasm_i32x4_add(wasm_i32x4_splat(W), wasm_v128_and(c2, one));
            const v128_t off = wasm_v128_bitselect(w_c2, wasm_v128_and(c1, one), c3);
            const v128_t base = wasm_i32x4_add(wasm_i32x4_splat(first + 2 * j), lane2);
            wasm_v128_store(ar + j, wasm_i32x4_add(base, off));
        }
        const v128_t sum = wasm_f32x4_add(wasm_f32x4_add(a, b), wasm_f32x4_add(e, f));
        bad = wasm_v128_or(bad, wasm_f32x4_ne(sum, sum));   /* NaN, or inf - inf */
    }
    nan = wasm_v128_any_true(bad);
#endif
    for (; j < OW; j++) {
        const float a = r0[2 * j], b = r0[2 * j + 1], e = r1[2 * j], f = r1[2 * j + 1];
        const int c1 = b > a, c2 = f > e;
        const float m1 = c1 ? b : a, m2 = c2 ? f : e;
        const int c3 = m2 > m1;
        yr[j] = c3 ? m2 : m1;
        if (ar) ar[j] = first + 2 * j + c1 + c3 * (W + c2 - c1);
        const float sum = a + b + e + f;   /* NaN if any is (or if inf - inf) */
        nan |= sum != sum;
    }
    return nan;
}

/* One plane: x (H,W) -> y (OH,OW), argmax (OH,OW) or NULL. Written without
 * data-dependent branches (on random data they mispredict half the time;
 * measured 10x slower): m = max by a select, the index by an integer mask
 * (a `?:` on the index compiles to a branch); a window with a NaN (rare) is
 * looked at again for its first NaN. 2x2 windows, the common case, have their
 * own loops. Sizes in locals: the stores could alias *d. */
static void pool_plane(const sd_conv_dims *d, const float *restrict x, float *restrict y,
                       int32_t *restrict argmax)
{
    const int W = d->w, s = d->stride, KH = d->kh, KW = d->kw, OH = d->oh, OW = d->ow;
    for (int i = 0; i < OH; i++) {
        float *yr = y + (size_t)i * OW;
        int32_t *ar = argmax ? argmax + (size_t)i * OW : NULL;
        if (KH == 2 && KW == 2 && s == 2 &&
            !pool_row_2x2s2(x + (size_t)i * 2 * W, x + (size_t)i * 2 * W + W, OW, i * 2 * W, W, yr, ar))
            continue;
        if (KH == 2 && KW == 2) {
            const float *r0 = x + (size_t)i * s * W, *r1 = r0 + W;
            for (int j = 0; j < OW; j++) {
                const int cx = j * s;
                const float a = r0[cx], b = r0[cx + 1], e = r1[cx], f = r1[cx + 1];
                float m = a;
                int k = 0, c;                            /* 0 1 / 2 3 within the window */
                c = b > m; k ^= (k ^ 1) & -c; m = b > m ? b : m;
                c = e > m; k ^= (k ^ 2) & -c; m = e > m ? e : m;
                c = f > m; k ^= (k ^ 3) & -c; m = f > m ? f : m;
                const int first = i * s * W + cx;
                int arg = first + (k >> 1) * W + (k & 1);
                const float sum = a + b + e + f;       /* NaN if any is (or if inf - inf) */
                if (sum != sum) nan_fixup(x, first, W, 2, 2, &m, &arg);
                yr[j] = m;
                if (ar) ar[j] = arg;
            }
            continue;
        }
        for (int j = 0; j < OW; j++) {
            const int first = i * s * W + j * s;
            float m = x[first];
            int arg = first, nan = 0;
            for (int p = 0; p < KH; p++)
                for (int q = 0; q < KW; q++) {
                    const int idx = first + p * W + q;
                    const float v = x[idx];
                    const int wins = v > m;
                    m = v > m ? v : m;
                    arg += (idx - arg) & -wins;
                    nan |= v != v;
                }
            if (nan) nan_fixup(x, first, W, KH, KW, &m, &arg);
            yr[j] = m;
            if (ar) ar[j] = arg;
        }
    }
}

void sd_maxpool2d_fast(sd_ctx *ctx, const sd_conv_dims *d, const float *x, float *y, int32_t *argmax)
{
    const long long planes = (long long)d->n * d->c;
    const size_t pi = (size_t)d->h * d->w, po = (size_t)d->oh * d->ow;
    int t = nthreads(ctx, (size_t)planes * po * (size_t)d->kh * d->kw);
    #pragma omp parallel for num_threads(t) schedule(static)
    for (long long pl = 0; pl < planes; pl++)
        pool_plane(d, x + (size_t)pl * pi, y + (size_t)pl * po, argmax ? argmax + (size_t)pl * po : NULL);
}

/* dy (N,C,OH,OW) -> dx (N,C,H,W) += at each window's argmax. */
void sd_maxpool2d_bwd(sd_ctx *ctx, const sd_conv_dims *d, const int32_t *argmax, const float *dy, float *dx)
{
    const long long planes = (long long)d->n * d->c;
    const size_t pi = (size_t)d->h * d->w, po = (size_t)d->oh * d->ow;
    int t = nthreads(ctx, (size_t)planes * po);
    #pragma omp parallel for num_threads(t) schedule(static)
    for (long long pl = 0; pl < planes; pl++) {       /* planes are disjoint: no races */
        const int32_t *a = argmax + (size_t)pl * po;
        const float *g = dy + (size_t)pl * po;
        float *dxp = dx + (size_t)pl * pi;
        for (size_t k = 0; k < po; k++) dxp[a[k]] += g[k];
    }
}
