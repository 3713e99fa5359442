/* AVX-512 GEMM kernels. Compiled with target attributes so that this file
 * builds without -march flags; gemm.c only calls them after checking the CPU.
 *
 * Micro-kernel: a 6 x 64 tile of C in 24 zmm registers. Per k step it loads
 * 4 zmm of the packed B panel (64 columns), broadcasts 6 values of the packed
 * A panel and issues 24 FMAs: 24 zmm FMAs per 10 loads, which keeps the FMA
 * units busy on cores with one (Zen 4) or two (Zen 5, Intel) 512-bit FMA
 * pipes. The B block (kc x nc) is sized for L2; the A panel (6 x kc) for L1. */
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

AVX512 static void ukernel_avx512(int kc, const float *a, const float *b, long ldb, float *c, long ldc,
                                  float alpha, float beta, int mr, int nr)
{
    __m512 acc[MR][NV];
    #pragma GCC unroll 16
    for (int r = 0; r < MR; r++)
        #pragma GCC unroll 16
        for (int v = 0; v < NV; v++) acc[r][v] = _mm512_setzero_ps();

    #pragma GCC unroll 16
    for (int r = 0; r < MR; r++) _mm_prefetch((const char *)(c + r * ldc), _MM_HINT_T0);

    for (int k = 0; k < kc; k++) {
        __m512 bv[NV];
        #pragma GCC unroll 16
        for (int v = 0; v < NV; v++) bv[v] = _mm512_loadu_ps(b + 16 * v);
        #pragma GCC unroll 16
        for (int v = 0; v < NV; v++) _mm_prefetch((const char *)(b + PF * ldb + 16 * v), _MM_HINT_T0);
        #pragma GCC unroll 16
        for (int r = 0; r < MR; r++) {
            __m512 av = _mm512_set1_ps(a[r]);
            #pragma GCC unroll 16
            for (int v = 0; v < NV; v++) acc[r][v] = _mm512_fmadd_ps(av, bv[v], acc[r][v]);
        }
        a += MR;
        b += ldb;
    }

    /* C = alpha * acc + beta * C over the live mr x nr corner. */
    __m512 va = _mm512_set1_ps(alpha), vb = _mm512_set1_ps(beta);
    if (mr == MR && nr == NR) {
        #pragma GCC unroll 16
        for (int r = 0; r < MR; r++) {
            float *cr = c + r * ldc;
            #pragma GCC unroll 16
            for (int v = 0; v < NV; v++) {
                __m512 x = _mm512_mul_ps(va, acc[r][v]);
                if (beta != 0.0f) x = _mm512_fmadd_ps(vb, _mm512_loadu_ps(cr + 16 * v), x);
                _mm512_storeu_ps(cr + 16 * v, x);
            }
        }
        return;
    }
    #pragma GCC unroll 16
    for (int r = 0; r < MR; r++) {
        if (r >= mr) break;
        float *cr = c + r * ldc;
        #pragma GCC unroll 16
        for (int v = 0; v < NV; v++) {
            __mmask16 m = col_mask(nr, v);
            if (!m) break;
            __m512 x = _mm512_mul_ps(va, acc[r][v]);
            if (beta != 0.0f) x = _mm512_fmadd_ps(vb, _mm512_maskz_loadu_ps(m, cr + 16 * v), x);
            _mm512_mask_storeu_ps(cr + 16 * v, m, x);
        }
    }
}

/* Dot-product kernel: 4 rows of A against 4 rows of B at a time, 16 k per
 * step, 16 zmm accumulators. Past the last row a tile repeats the last row
 * (same loads, discarded results) so there is one code path for the edges. */
AVX512 static void dot_avx512(int m, int n, int k, const float *a, long lda,
                              const float *b, long ldb, float *c, long rsc, long csc,
                              float alpha, float beta)
{
    const int kv = k & ~15;
    const __mmask16 tail = (__mmask16)((1u << (k & 15)) - 1);
    for (int i = 0; i < m; i += 4) {
        const float *ar[4];
        for (int q = 0; q < 4; q++) ar[q] = a + (size_t)(i + q < m ? i + q : m - 1) * lda;
        for (int j = 0; j < n; j += 4) {
            const float *br[4];
            for (int w = 0; w < 4; w++) br[w] = b + (size_t)(j + w < n ? j + w : n - 1) * ldb;
            __m512 acc[4][4];
            for (int q = 0; q < 4; q++)
                for (int w = 0; w < 4; w++) acc[q][w] = _mm512_setzero_ps();
            for (int p = 0; p < kv; p += 16) {
                __m512 x[4], y[4];
                for (int q = 0; q < 4; q++) x[q] = _mm512_loadu_ps(ar[q] + p);
                for (int w = 0; w < 4; w++) y[w] = _mm512_loadu_ps(br[w] + p);
                for (int q = 0; q < 4; q++)
                    for (int w = 0; w < 4; w++) acc[q][w] = _mm512_fmadd_ps(x[q], y[w], acc[q][w]);
            }
            if (tail) {
                __m512 x[4], y[4];
                for (int q = 0; q < 4; q++) x[q] = _mm512_maskz_loadu_ps(tail, ar[q] + kv);
                for (int w = 0; w < 4; w++) y[w] = _mm512_maskz_loadu_ps(tail, br[w] + kv);
                for (int q = 0; q < 4; q++)
                    for (int w = 0; w < 4; w++) acc[q][w] = _mm512_fmadd_ps(x[q], y[w], acc[q][w]);
            }
            for (int q = 0; q < 4 && i + q < m; q++)
                for (int w = 0; w < 4 && j + w < n; w++) {
                    float s = alpha * _mm512_reduce_add_ps(acc[q][w]);
                    float *cij = c + (size_t)(i + q) * rsc + (size_t)(j + w) * csc;
                    *cij = beta == 0.0f ? s : s + beta * *cij;
                }
        }
    }
}

const struct sd_gemm_arch sd_gemm_arch_avx512 = {
    "avx512", MR, NR, 192, 256, 512, ukernel_avx512, dot_avx512, sd_gemm_pack_avx2,
};

#else
/* Not x86: never selected (the CPU check fails), but the symbol must exist. */
const struct sd_gemm_arch sd_gemm_arch_avx512 = { "avx512", 0, 0, 0, 0, 0, NULL, NULL, NULL };
#endif
