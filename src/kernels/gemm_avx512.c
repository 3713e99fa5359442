/* AVX-512 GEMM kernels. Compiled with target attributes so that this file
 * builds without -march flags; gemm.c only calls them after checking the CPU.
 *
 * Micro-kernel: a 6 x 64 tile of C in 24 zmm registers. Per k step it loads
 * 4 zmm of the B panel (64 columns), broadcasts 6 values of the packed A
 * panel and issues 24 FMAs: 24 zmm FMAs per 10 loads, which keeps the FMA
 * units busy on cores with one (Zen 4) or two (Zen 5, Intel) 512-bit FMA
 * pipes. The B block (kc x nc) is sized for L2; the A panel (6 x kc) for L1.
 * Edge tiles run a body specialised for their live rows or column vectors.
 *
 * Dot-product kernel: 4 x 4 blocks of row·row products (see gemm_internal.h).
 * Packing uses the AVX2 routines of gemm_avx2.c. */
#include "gemm_internal.h"

#include <stddef.h>

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>

#define AVX512 __attribute__((target("avx512f,avx512vl,fma")))

#define MR 6
#define NV 4            /* zmm vectors per row of the tile */
#define NR (16 * NV)
#define PF 8            /* prefetch distance in k steps */

/* Lanes of column-vector v (16 columns) that fall inside the nr live columns. */
AVX512 static inline __mmask16 col_mask(int nr, int v)
{
    int live = nr - 16 * v;
    if (live >= 16) return (__mmask16)0xFFFF;
    if (live <= 0) return 0;
    return (__mmask16)((1u << live) - 1);
}

/* The kernel body for the first R rows and V column vectors of the tile
 * (R = MR, V = NV, or fewer at the bottom and right edges and for thin C such
 * as M = 1, skipping work on the zero padding). Each C element gets the same
 * FMA sequence whatever R and V are, so the result does not depend on which
 * body ran. */
AVX512 static inline __attribute__((always_inline)) void
tile_avx512(const int R, const int V, int kc, const float *a, const float *b, long ldb,
            float *c, long ldc, float alpha, float beta, int nr)
{
    __m512 acc[MR][NV];
    #pragma GCC unroll 16
    for (int r = 0; r < R; r++)
        #pragma GCC unroll 16
        for (int v = 0; v < V; v++) acc[r][v] = _mm512_setzero_ps();

    #pragma GCC unroll 16
    for (int r = 0; r < R; r++) _mm_prefetch((const char *)(c + r * ldc), _MM_HINT_T0);

    for (int k = 0; k < kc; k++) {
        __m512 bv[NV];
        #pragma GCC unroll 16
        for (int v = 0; v < V; v++) bv[v] = _mm512_loadu_ps(b + 16 * v);
        #pragma GCC unroll 16
        for (int v = 0; v < V; v++) _mm_prefetch((const char *)(b + PF * ldb + 16 * v), _MM_HINT_T0);
        #pragma GCC unroll 16
        for (int r = 0; r < R; r++) {
            __m512 av = _mm512_set1_ps(a[r]);
            #pragma GCC unroll 16
            for (int v = 0; v < V; v++) acc[r][v] = _mm512_fmadd_ps(av, bv[v], acc[r][v]);
        }
        a += MR;
        b += ldb;
    }

    /* C = alpha * acc + beta * C over the live R x nr corner (alpha = 1, the
     * usual case, skips the multiply: with a short k loop, such as K = 9, the
     * multiplies would cost a tenth of the tile). */
    __m512 va = _mm512_set1_ps(alpha), vb = _mm512_set1_ps(beta);
    if (nr == 16 * V) {
        #pragma GCC unroll 16
        for (int r = 0; r < R; r++) {
            float *cr = c + r * ldc;
            #pragma GCC unroll 16
            for (int v = 0; v < V; v++) {
                __m512 x = alpha == 1.0f ? acc[r][v] : _mm512_mul_ps(va, acc[r][v]);
                if (beta != 0.0f) x = _mm512_fmadd_ps(vb, _mm512_loadu_ps(cr + 16 * v), x);
                _mm512_storeu_ps(cr + 16 * v, x);
            }
        }
        return;
    }
    #pragma GCC unroll 16
    for (int r = 0; r < R; r++) {
        float *cr = c + r * ldc;
        #pragma GCC unroll 16
        for (int v = 0; v < V; v++) {
            __mmask16 m = col_mask(nr, v);
            __m512 x = alpha == 1.0f ? acc[r][v] : _mm512_mul_ps(va, acc[r][v]);
            if (beta != 0.0f) x = _mm512_fmadd_ps(vb, _mm512_maskz_loadu_ps(m, cr + 16 * v), x);
            _mm512_mask_storeu_ps(cr + 16 * v, m, x);
        }
    }
}

/* Full-height tiles pick the body by live column vectors, shorter ones by
 * live rows (a tile short in both is rare: one corner of C). */
AVX512 static void ukernel_avx512(int kc, const float *a, const float *b, long ldb, float *c,
                                  long ldc, float alpha, float beta, int mr, int nr)
{
    if (mr == MR) {
        switch ((nr + 15) / 16) {
        case 1: tile_avx512(MR, 1, kc, a, b, ldb, c, ldc, alpha, beta, nr); break;
        case 2: tile_avx512(MR, 2, kc, a, b, ldb, c, ldc, alpha, beta, nr); break;
        case 3: tile_avx512(MR, 3, kc, a, b, ldb, c, ldc, alpha, beta, nr); break;
        default: tile_avx512(MR, NV, kc, a, b, ldb, c, ldc, alpha, beta, nr); break;
        }
        return;
    }
    switch (mr) {
    case 1: tile_avx512(1, NV, kc, a, b, ldb, c, ldc, alpha, beta, nr); break;
    case 2: tile_avx512(2, NV, kc, a, b, ldb, c, ldc, alpha, beta, nr); break;
    case 3: tile_avx512(3, NV, kc, a, b, ldb, c, ldc, alpha, beta, nr); break;
    case 4: tile_avx512(4, NV, kc, a, b, ldb, c, ldc, alpha, beta, nr); break;
    default: tile_avx512(5, NV, kc, a, b, ldb, c, ldc, alpha, beta, nr); break;
    }
}

/* Dot products, 16 k per step, each summed in 16 lanes and then reduced by
 * _mm512_reduce_add_ps: the order depends on k alone.
 *
 * One vector x against ny vectors y (rows ldy apart), 8 at a time:
 * out[j*ostride] = alpha * <x, y_j> + beta * out[j*ostride]. Past the last
 * row a group repeats it (same loads, results discarded). */
AVX512 static void dot_row_avx512(const float *x, const float *y, long ldy, int ny, int k,
                                  float *out, long ostride, float alpha, float beta)
{
    const int kv = k & ~15;
    const __mmask16 tail = (__mmask16)((1u << (k & 15)) - 1);
    for (int j = 0; j < ny; j += 8) {
        const float *yr[8];
        for (int w = 0; w < 8; w++) yr[w] = y + (size_t)(j + w < ny ? j + w : ny - 1) * ldy;
        __m512 acc[8];
        #pragma GCC unroll 8
        for (int w = 0; w < 8; w++) acc[w] = _mm512_setzero_ps();
        for (int p = 0; p < kv; p += 16) {
            __m512 xv = _mm512_loadu_ps(x + p);
            #pragma GCC unroll 8
            for (int w = 0; w < 8; w++) acc[w] = _mm512_fmadd_ps(xv, _mm512_loadu_ps(yr[w] + p), acc[w]);
        }
        if (tail) {
            __m512 xv = _mm512_maskz_loadu_ps(tail, x + kv);
            #pragma GCC unroll 8
            for (int w = 0; w < 8; w++)
                acc[w] = _mm512_fmadd_ps(xv, _mm512_maskz_loadu_ps(tail, yr[w] + kv), acc[w]);
        }
        float s[8];
        #pragma GCC unroll 8
        for (int w = 0; w < 8; w++) s[w] = alpha * _mm512_reduce_add_ps(acc[w]);
        for (int w = 0; w < 8 && j + w < ny; w++) {
            float *o = out + (size_t)(j + w) * ostride;
            *o = beta == 0.0f ? s[w] : s[w] + beta * *o;
        }
    }
}

/* C[i,j] = alpha * <A row i, B row j> + beta * C[i,j]: 4 x 4 blocks of dot
 * products (16 zmm accumulators, 8 loads per 16 FMAs); the m % 4 last rows
 * and n % 4 last columns go through dot_row_avx512 (a row of C, or a column
 * with A and B swapped), so a thin C (GEMV) wastes no multiply-adds. */
AVX512 static void dot_avx512(int m, int n, int k, const float *a, long lda,
                              const float *b, long ldb, float *c, long rsc, long csc,
                              float alpha, float beta)
{
    const int m4 = m & ~3, n4 = n & ~3, kv = k & ~15;
    const __mmask16 tail = (__mmask16)((1u << (k & 15)) - 1);
    for (int i = 0; i < m4; i += 4) {
        for (int j = 0; j < n4; j += 4) {
            const float *ar = a + (size_t)i * lda, *br = b + (size_t)j * ldb;
            __m512 acc[4][4];
            #pragma GCC unroll 4
            for (int q = 0; q < 4; q++)
                #pragma GCC unroll 4
                for (int w = 0; w < 4; w++) acc[q][w] = _mm512_setzero_ps();
            for (int p = 0; p < kv; p += 16) {
                __m512 x[4], y[4];
                #pragma GCC unroll 4
                for (int q = 0; q < 4; q++) x[q] = _mm512_loadu_ps(ar + q * lda + p);
                #pragma GCC unroll 4
                for (int w = 0; w < 4; w++) y[w] = _mm512_loadu_ps(br + w * ldb + p);
                #pragma GCC unroll 4
                for (int q = 0; q < 4; q++)
                    #pragma GCC unroll 4
                    for (int w = 0; w < 4; w++) acc[q][w] = _mm512_fmadd_ps(x[q], y[w], acc[q][w]);
            }
            if (tail) {
                __m512 x[4], y[4];
                #pragma GCC unroll 4
                for (int q = 0; q < 4; q++) x[q] = _mm512_maskz_loadu_ps(tail, ar + q * lda + kv);
                #pragma GCC unroll 4
                for (int w = 0; w < 4; w++) y[w] = _mm512_maskz_loadu_ps(tail, br + w * ldb + kv);
                #pragma GCC unroll 4
                for (int q = 0; q < 4; q++)
                    #pragma GCC unroll 4
                    for (int w = 0; w < 4; w++) acc[q][w] = _mm512_fmadd_ps(x[q], y[w], acc[q][w]);
            }
            #pragma GCC unroll 4
            for (int q = 0; q < 4; q++)
                #pragma GCC unroll 4
                for (int w = 0; w < 4; w++) {
                    float sum = alpha * _mm512_reduce_add_ps(acc[q][w]);
                    float *cij = c + (size_t)(i + q) * rsc + (size_t)(j + w) * csc;
                    *cij = beta == 0.0f ? sum : sum + beta * *cij;
                }
        }
    }
    for (int j = n4; j < n && m4 > 0; j++)  /* column j of C, rows 0..m4-1 */
        dot_row_avx512(b + (size_t)j * ldb, a, lda, m4, k, c + (size_t)j * csc, rsc, alpha, beta);
    for (int i = m4; i < m; i++)            /* row i of C, all columns */
        dot_row_avx512(a + (size_t)i * lda, b, ldb, n, k, c + (size_t)i * rsc, csc, alpha, beta);
}

const struct sd_gemm_arch sd_gemm_arch_avx512 = {
    .name = "avx512", .mr = MR, .nr = NR, .nu = 16, .mc = 192, .kc = 256, .nc = 512,
    .kernel = ukernel_avx512, .dot = dot_avx512, .pack = sd_gemm_pack_avx2,
};

#else
/* Not x86: never selected (the CPU check fails), but the symbol must exist. */
const struct sd_gemm_arch sd_gemm_arch_avx512 = { .name = "avx512" };
#endif
