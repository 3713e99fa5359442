/* AVX2 + FMA GEMM kernels and the packing routines (also used by the AVX-512
 * kernels). Compiled with target attributes so that this file builds without
 * -march flags; gemm.c only calls them after checking the CPU.
 *
 * Micro-kernel: a 6 x 16 tile of C in 12 ymm registers; per k step 2 loads of
 * the B panel, 6 broadcasts of the packed A panel, 12 FMAs. Edge tiles run a
 * body specialised for their live rows.
 *
 * Dot-product kernel: 3 x 4 blocks of row·row products (see gemm_internal.h). */
#include "gemm_internal.h"

#include <math.h>
#include <stddef.h>

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>

#define AVX2 __attribute__((target("avx2,fma")))

#define MR 6
#define NR 16

/* The kernel body for the first R rows of the tile (R = MR, or fewer for the
 * bottom edge and thin C, skipping rows that are only zero padding). Each C
 * element gets the same FMA sequence whatever R is. */
AVX2 static inline __attribute__((always_inline)) void
tile_avx2(const int R, int kc, const float *a, const float *b, long ldb, float *c, long ldc,
          float alpha, float beta, int nr)
{
    __m256 acc[MR][2];
    #pragma GCC unroll 16
    for (int r = 0; r < R; r++) acc[r][0] = acc[r][1] = _mm256_setzero_ps();

    #pragma GCC unroll 16
    for (int r = 0; r < R; r++) _mm_prefetch((const char *)(c + r * ldc), _MM_HINT_T0);

    for (int k = 0; k < kc; k++) {
        __m256 b0 = _mm256_loadu_ps(b), b1 = _mm256_loadu_ps(b + 8);
        _mm_prefetch((const char *)(b + 8 * ldb), _MM_HINT_T0);
        #pragma GCC unroll 16
        for (int r = 0; r < R; r++) {
            __m256 av = _mm256_broadcast_ss(a + r);
            acc[r][0] = _mm256_fmadd_ps(av, b0, acc[r][0]);
            acc[r][1] = _mm256_fmadd_ps(av, b1, acc[r][1]);
        }
        a += MR;
        b += ldb;
    }

    __m256 va = _mm256_set1_ps(alpha), vb = _mm256_set1_ps(beta);
    if (nr == NR) {
        #pragma GCC unroll 16
        for (int r = 0; r < R; r++) {
            float *cr = c + r * ldc;
            #pragma GCC unroll 16
            for (int v = 0; v < 2; v++) {
                __m256 x = _mm256_mul_ps(va, acc[r][v]);
                if (beta != 0.0f) x = _mm256_fmadd_ps(vb, _mm256_loadu_ps(cr + 8 * v), x);
                _mm256_storeu_ps(cr + 8 * v, x);
            }
        }
        return;
    }
    /* Right edge: spill the accumulators (constant indices keep acc[][] in
     * registers in the loop above), then merge the live columns. */
    float tile[MR][NR];
    #pragma GCC unroll 16
    for (int r = 0; r < R; r++)
        #pragma GCC unroll 16
        for (int v = 0; v < 2; v++) _mm256_storeu_ps(&tile[r][8 * v], acc[r][v]);
    for (int r = 0; r < R; r++) {
        float *cr = c + r * ldc;
        for (int j = 0; j < nr; j++)
            cr[j] = beta == 0.0f ? alpha * tile[r][j] : fmaf(beta, cr[j], alpha * tile[r][j]);
    }
}

AVX2 static void ukernel_avx2(int kc, const float *a, const float *b, long ldb, float *c,
                              long ldc, float alpha, float beta, int mr, int nr)
{
    switch (mr) {
    case 1: tile_avx2(1, kc, a, b, ldb, c, ldc, alpha, beta, nr); break;
    case 2: tile_avx2(2, kc, a, b, ldb, c, ldc, alpha, beta, nr); break;
    case 3: tile_avx2(3, kc, a, b, ldb, c, ldc, alpha, beta, nr); break;
    case 4: tile_avx2(4, kc, a, b, ldb, c, ldc, alpha, beta, nr); break;
    case 5: tile_avx2(5, kc, a, b, ldb, c, ldc, alpha, beta, nr); break;
    default: tile_avx2(MR, kc, a, b, ldb, c, ldc, alpha, beta, nr); break;
    }
}

/* Horizontal sum of 8 lanes in a fixed order. */
AVX2 static inline float hsum8(__m256 x)
{
    __m128 s = _mm_add_ps(_mm256_castps256_ps128(x), _mm256_extractf128_ps(x, 1));
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    s = _mm_add_ss(s, _mm_movehdup_ps(s));
    return _mm_cvtss_f32(s);
}

/* Dot products, 8 k per step, each summed in 8 lanes and then reduced by
 * hsum8: the order depends on k alone.
 *
 * One vector x against ny vectors y (rows ldy apart), 8 at a time:
 * out[j*ostride] = alpha * <x, y_j> + beta * out[j*ostride]. Past the last
 * row a group repeats it (same loads, results discarded). */
AVX2 static void dot_row_avx2(const float *x, const float *y, long ldy, int ny, int k,
                              float *out, long ostride, float alpha, float beta)
{
    const int kv = k & ~7;
    const __m256i tail = _mm256_cmpgt_epi32(_mm256_set1_epi32(k & 7),
                                            _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
    for (int j = 0; j < ny; j += 8) {
        const float *yr[8];
        for (int w = 0; w < 8; w++) yr[w] = y + (size_t)(j + w < ny ? j + w : ny - 1) * ldy;
        __m256 acc[8];
        #pragma GCC unroll 8
        for (int w = 0; w < 8; w++) acc[w] = _mm256_setzero_ps();
        for (int p = 0; p < kv; p += 8) {
            __m256 xv = _mm256_loadu_ps(x + p);
            #pragma GCC unroll 8
            for (int w = 0; w < 8; w++) acc[w] = _mm256_fmadd_ps(xv, _mm256_loadu_ps(yr[w] + p), acc[w]);
        }
        if (k & 7) {
            __m256 xv = _mm256_maskload_ps(x + kv, tail);
            #pragma GCC unroll 8
            for (int w = 0; w < 8; w++)
                acc[w] = _mm256_fmadd_ps(xv, _mm256_maskload_ps(yr[w] + kv, tail), acc[w]);
        }
        float sum[8];
        #pragma GCC unroll 8
        for (int w = 0; w < 8; w++) sum[w] = alpha * hsum8(acc[w]);
        for (int w = 0; w < 8 && j + w < ny; w++) {
            float *o = out + (size_t)(j + w) * ostride;
            *o = beta == 0.0f ? sum[w] : sum[w] + beta * *o;
        }
    }
}

/* C[i,j] = alpha * <A row i, B row j> + beta * C[i,j]: 3 x 4 blocks of dot
 * products (12 ymm accumulators); the m % 3 last rows and n % 4 last columns
 * go through dot_row_avx2 (a row of C, or a column with A and B swapped). */
AVX2 static void dot_avx2(int m, int n, int k, const float *a, long lda,
                          const float *b, long ldb, float *c, long rsc, long csc,
                          float alpha, float beta)
{
    const int m3 = m - m % 3, n4 = n & ~3, kv = k & ~7;
    const __m256i tail = _mm256_cmpgt_epi32(_mm256_set1_epi32(k & 7),
                                            _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
    for (int i = 0; i < m3; i += 3) {
        for (int j = 0; j < n4; j += 4) {
            const float *ar = a + (size_t)i * lda, *br = b + (size_t)j * ldb;
            __m256 acc[3][4];
            #pragma GCC unroll 3
            for (int q = 0; q < 3; q++)
                #pragma GCC unroll 4
                for (int w = 0; w < 4; w++) acc[q][w] = _mm256_setzero_ps();
            for (int p = 0; p < kv; p += 8) {
                __m256 x[3];
                #pragma GCC unroll 3
                for (int q = 0; q < 3; q++) x[q] = _mm256_loadu_ps(ar + q * lda + p);
                #pragma GCC unroll 4
                for (int w = 0; w < 4; w++) {
                    __m256 y = _mm256_loadu_ps(br + w * ldb + p);
                    #pragma GCC unroll 3
                    for (int q = 0; q < 3; q++) acc[q][w] = _mm256_fmadd_ps(x[q], y, acc[q][w]);
                }
            }
            if (k & 7) {
                __m256 x[3];
                #pragma GCC unroll 3
                for (int q = 0; q < 3; q++) x[q] = _mm256_maskload_ps(ar + q * lda + kv, tail);
                #pragma GCC unroll 4
                for (int w = 0; w < 4; w++) {
                    __m256 y = _mm256_maskload_ps(br + w * ldb + kv, tail);
                    #pragma GCC unroll 3
                    for (int q = 0; q < 3; q++) acc[q][w] = _mm256_fmadd_ps(x[q], y, acc[q][w]);
                }
            }
            #pragma GCC unroll 3
            for (int q = 0; q < 3; q++)
                #pragma GCC unroll 4
                for (int w = 0; w < 4; w++) {
                    float sum = alpha * hsum8(acc[q][w]);
                    float *cij = c + (size_t)(i + q) * rsc + (size_t)(j + w) * csc;
                    *cij = beta == 0.0f ? sum : sum + beta * *cij;
                }
        }
    }
    for (int j = n4; j < n && m3 > 0; j++)  /* column j of C, rows 0..m3-1 */
        dot_row_avx2(b + (size_t)j * ldb, a, lda, m3, k, c + (size_t)j * csc, rsc, alpha, beta);
    for (int i = m3; i < m; i++)            /* row i of C, all columns */
        dot_row_avx2(a + (size_t)i * lda, b, ldb, n, k, c + (size_t)i * rsc, csc, alpha, beta);
}

/* ---- Packing (see gemm_internal.h). The transposing case is the costly one:
 * 8 x 8 blocks go through registers (the classic unpack/shuffle/permute
 * transpose) instead of 64 scalar loads and strided stores. */

/* In: r[i] = row i (8 floats). Out: r[j] = column j = (row0[j], ..., row7[j]). */
AVX2 static inline void transpose8(__m256 r[8])
{
    __m256 t[8], u[8];
    for (int i = 0; i < 8; i += 2) {
        t[i] = _mm256_unpacklo_ps(r[i], r[i + 1]);
        t[i + 1] = _mm256_unpackhi_ps(r[i], r[i + 1]);
    }
    for (int i = 0; i < 8; i += 4) {
        u[i] = _mm256_shuffle_ps(t[i], t[i + 2], 0x44);
        u[i + 1] = _mm256_shuffle_ps(t[i], t[i + 2], 0xEE);
        u[i + 2] = _mm256_shuffle_ps(t[i + 1], t[i + 3], 0x44);
        u[i + 3] = _mm256_shuffle_ps(t[i + 1], t[i + 3], 0xEE);
    }
    for (int i = 0; i < 4; i++) {
        r[i] = _mm256_permute2f128_ps(u[i], u[i + 4], 0x20);
        r[i + 4] = _mm256_permute2f128_ps(u[i], u[i + 4], 0x31);
    }
}

/* One panel, rows contiguous in k: d[k*P + r] = x[r*ldx + k] for r < live.
 * Groups of 8 rows, each walked along k (8 sequential read streams). */
AVX2 static void pack_panel_rows(const float *x, long ldx, int live, int kc, int P, float *d)
{
    int kv = kc & ~7;
    for (int g = 0; g < P; g += 8) {               /* 8 rows of the panel at a time */
        const float *row[8];
        int nrow = live - g < 8 ? (live - g > 0 ? live - g : 0) : 8;
        for (int i = 0; i < 8; i++) row[i] = x + (size_t)(g + (i < nrow ? i : 0)) * ldx;
        int width = P - g < 8 ? P - g : 8;         /* 8, or 6 for the A panel */
        for (int k = 0; k < kv; k += 8) {
            __m256 r[8];
            #pragma GCC unroll 8
            for (int i = 0; i < 8; i++)
                r[i] = i < nrow ? _mm256_loadu_ps(row[i] + k) : _mm256_setzero_ps();
            transpose8(r);
            /* width 6 (A panels): each 8-wide store spills 2 floats into the
             * next k step, which the next store (or the next panel) overwrites. */
            #pragma GCC unroll 8
            for (int j = 0; j < 8; j++) _mm256_storeu_ps(d + (size_t)(k + j) * P + g, r[j]);
        }
        for (int k = kv; k < kc; k++)
            for (int i = 0; i < width; i++) d[(size_t)k * P + g + i] = i < nrow ? row[i][k] : 0.0f;
    }
}

void sd_gemm_pack_avx2(const float *x, long ldx, int kmajor, int n, int kc, int P, float *dst)
    __attribute__((target("avx2,fma")));
void sd_gemm_pack_avx2(const float *x, long ldx, int kmajor, int n, int kc, int P, float *dst)
{
    if (kmajor && P % 8 == 0) {
        /* Row k holds all n values for that k: one long read stream, dealt
         * to the panels in 8-float pieces. */
        int full = n / P * P;
        for (int k = 0; k < kc; k++) {
            const float *s = x + (size_t)k * ldx;
            float *dk = dst + (size_t)k * P;
            for (int i0 = 0; i0 < full; i0 += P)
                for (int r = 0; r < P; r += 8)
                    _mm256_storeu_ps(dk + (size_t)i0 * kc + r, _mm256_loadu_ps(s + i0 + r));
            if (full < n) {
                float *d = dk + (size_t)full * kc;
                for (int r = 0; r < P; r++) d[r] = full + r < n ? s[full + r] : 0.0f;
            }
        }
        return;
    }
    if (kmajor && P == 6) {
        /* The same for A panels of 6 (a transposed A): each piece is a 4-float
         * and a 2-float move; a partial last panel is padded with zeros. */
        int full = n / P * P;
        for (int k = 0; k < kc; k++) {
            const float *s = x + (size_t)k * ldx;
            float *dk = dst + (size_t)k * P;
            for (int i0 = 0; i0 < full; i0 += P) {
                float *d = dk + (size_t)i0 * kc;
                _mm_storeu_ps(d, _mm_loadu_ps(s + i0));
                _mm_storel_pi((__m64 *)(d + 4), _mm_loadl_pi(_mm_setzero_ps(), (const __m64 *)(s + i0 + 4)));
            }
            if (full < n) {
                float *d = dk + (size_t)full * kc;
                for (int r = 0; r < P; r++) d[r] = full + r < n ? s[full + r] : 0.0f;
            }
        }
        return;
    }
    if (kmajor || (P % 8 != 0 && P != 6)) {
        sd_gemm_pack_ref(x, ldx, kmajor, n, kc, P, dst);
        return;
    }
    for (int i0 = 0; i0 < n; i0 += P)
        pack_panel_rows(x + (size_t)i0 * ldx, ldx, n - i0 < P ? n - i0 : P, kc, P,
                        dst + (size_t)i0 * kc);
}

const struct sd_gemm_arch sd_gemm_arch_avx2 = {
    .name = "avx2", .mr = MR, .nr = NR, .nu = NR, .mc = 192, .kc = 256, .nc = 512,
    .kernel = ukernel_avx2, .dot = dot_avx2, .pack = sd_gemm_pack_avx2,
};

#else
const struct sd_gemm_arch sd_gemm_arch_avx2 = { .name = "avx2" };
#endif
