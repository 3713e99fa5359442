/* bfloat16 GEMM (AVX512_BF16): the products of sd_gemm with both operands
 * rounded to bfloat16 and every sum kept in float32 — mixed precision's
 * matrix multiply (ctx precision SD_PRECISION_BF16, sd_ctx_set_precision).
 * Not every product comes here: thin ones (the dot-product path of sd_gemm)
 * and short sums (K < BF16_MIN_K) are bound by reading their operands and stay
 * float32 (gemm.c decides).
 *
 * bfloat16 is float32's top half: the same 8-bit exponent, 7 stored mantissa
 * bits. vdpbf16ps multiplies 16 pairs of bfloat16 against 16 pairs and adds
 * both products of a pair to a float32 lane: 32 multiply-adds per
 * instruction, twice an FP32 FMA's 16. The product of two bfloat16 values is
 * exact in float32, so the only roundings are the operands' (once, when
 * packed) and the accumulations.
 *
 * Packed layouts (see gemm_internal.h for the float ones): the panels sit
 * where the float panels would (panel p at p*P*kc floats, so gemm.c's
 * blocking is unchanged) but hold k in pairs, one 32-bit word per row and
 * pair, the even k in its low half:
 *   panel[kp*P + r] = bf16(X(r, 2kp)) | bf16(X(r, 2kp+1)) << 16
 * with a zero high half when kc is odd. B's panels and rows contiguous in k
 * are packed in one pass; k-major A panels by the float packing followed by an
 * in-place conversion of each panel (pair kp's P words overwrite float rows
 * that were already read).
 *
 * Micro-kernel: the AVX-512 float kernel's 6 x 64 tile (24 zmm accumulators);
 * per pair of k it loads 4 zmm of the B panel, broadcasts 6 words of A and
 * issues 24 vdpbf16ps. */
#include "gemm_internal.h"
#include "shendu/kernels.h"

#include <stddef.h>
#include <string.h>

/* Round to nearest, ties to even, as vcvtneps2bf16 does: NaN stays a (quiet)
 * NaN; denormals are flushed to a signed zero. */
uint16_t sd_bf16_from_float(float f)
{
    uint32_t u;
    memcpy(&u, &f, sizeof u);
    if ((u & 0x7F800000u) == 0x7F800000u && (u & 0x007FFFFFu)) return (uint16_t)((u >> 16) | 0x0040u);
    if ((u & 0x7F800000u) == 0) return (uint16_t)((u >> 16) & 0x8000u);
    u += 0x7FFFu + ((u >> 16) & 1u);
    return (uint16_t)(u >> 16);
}

float sd_bf16_to_float(uint16_t h)
{
    uint32_t u = (uint32_t)h << 16;
    float f;
    memcpy(&f, &u, sizeof f);
    return f;
}

/* The oracle: sd_gemm_naive on bfloat16-rounded operands, each pair of k
 * added the way vdpbf16ps adds it (the odd product first, then the even one,
 * rounding after each; the products themselves are exact). */
void sd_gemm_bf16_naive(int transA, int transB, int M, int N, int K,
                        float alpha, const float *A, int lda, const float *B, int ldb,
                        float beta, float *C, int ldc)
{
    for (int i = 0; i < M; i++) {
        for (int j = 0; j < N; j++) {
            float sum = 0.0f;
            for (int k0 = 0; k0 < K; k0 += 2) {
                float p[2] = {0.0f, 0.0f};
                for (int k = k0; k < k0 + 2 && k < K; k++) {
                    float a = transA ? A[(size_t)k * lda + i] : A[(size_t)i * lda + k];
                    float b = transB ? B[(size_t)j * ldb + k] : B[(size_t)k * ldb + j];
                    p[k - k0] = sd_bf16_to_float(sd_bf16_from_float(a)) * sd_bf16_to_float(sd_bf16_from_float(b));
                }
                sum += p[1];
                sum += p[0];
            }
            float *c = &C[(size_t)i * ldc + j];
            *c = beta == 0.0f ? alpha * sum : alpha * sum + beta * *c;
        }
    }
}

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>

#define BF16 __attribute__((target("avx512f,avx512vl,avx512bw,avx512bf16,fma")))

#define MR 6
#define NV 4            /* zmm vectors per row of the tile */
#define NR (16 * NV)
#define PF 4            /* prefetch distance in pairs of k */

/* The words of 16 rows for one pair: bf16(lo) in the low halves, bf16(hi) in
 * the high halves. */
BF16 static inline __m512i pair_words(__m512 lo, __m512 hi)
{
    __m512i l = _mm512_cvtepu16_epi32((__m256i)_mm512_cvtneps_pbh(lo));
    __m512i h = _mm512_cvtepu16_epi32((__m256i)_mm512_cvtneps_pbh(hi));
    return _mm512_or_si512(l, _mm512_slli_epi32(h, 16));
}

/* One float panel (kc rows of P floats, k-major) to kc/2 rounded up rows of
 * P pair words, in place. */
BF16 static void panel_to_pairs(float *panel, int kc, int P)
{
    uint32_t *out = (uint32_t *)(void *)panel;
    for (int kp = 0; kp < (kc + 1) / 2; kp++) {
        const float *r0 = panel + (size_t)(2 * kp) * P;
        const float *r1 = 2 * kp + 1 < kc ? r0 + P : NULL;
        for (int c = 0; c < P; c += 16) {
            __mmask16 m = P - c >= 16 ? (__mmask16)0xFFFF : (__mmask16)((1u << (P - c)) - 1);
            __m512 lo = _mm512_maskz_loadu_ps(m, r0 + c);
            __m512 hi = r1 ? _mm512_maskz_loadu_ps(m, r1 + c) : _mm512_setzero_ps();
            /* Both rows are in registers before the words overwrite row 2kp. */
            _mm512_mask_storeu_epi32(out + (size_t)kp * P + c, m, pair_words(lo, hi));
        }
    }
}

/* Rows k and k+1 of a k-major X (n values each) straight into the pair words
 * of every panel: one pass, for panels a multiple of 16 wide (B's). */
BF16 static void pack_kmajor_direct(const float *x, long ldx, int n, int kc, int P, uint32_t *dst)
{
    for (int kp = 0; kp < (kc + 1) / 2; kp++) {
        const float *r0 = x + (size_t)(2 * kp) * ldx;
        const float *r1 = 2 * kp + 1 < kc ? r0 + ldx : NULL;
        for (int i0 = 0; i0 < n; i0 += P) {
            uint32_t *d = dst + (size_t)i0 * kc + (size_t)kp * P;   /* panel i0/P, pair kp */
            for (int c = 0; c < P; c += 16) {
                int live = n - i0 - c;
                __mmask16 m = live >= 16 ? (__mmask16)0xFFFF : live <= 0 ? 0 : (__mmask16)((1u << live) - 1);
                __m512 lo = _mm512_maskz_loadu_ps(m, r0 + i0 + c);
                __m512 hi = r1 ? _mm512_maskz_loadu_ps(m, r1 + i0 + c) : _mm512_setzero_ps();
                _mm512_storeu_si512(d + c, pair_words(lo, hi));   /* zero words past n */
            }
        }
    }
}

/* r[i] = row i of a 16 x 16 matrix of 32-bit words -> r[j] = its column j. */
BF16 static inline void transpose16(__m512i r[16])
{
    __m512i t[16], u[16];
    for (int i = 0; i < 16; i += 2) {
        t[i] = _mm512_unpacklo_epi32(r[i], r[i + 1]);
        t[i + 1] = _mm512_unpackhi_epi32(r[i], r[i + 1]);
    }
    /* u[4q + c]: rows 4q..4q+3 of columns c, c+4, c+8, c+12 (one per 128-bit lane) */
    for (int q = 0; q < 4; q++) {
        u[4 * q + 0] = _mm512_unpacklo_epi64(t[4 * q], t[4 * q + 2]);
        u[4 * q + 1] = _mm512_unpackhi_epi64(t[4 * q], t[4 * q + 2]);
        u[4 * q + 2] = _mm512_unpacklo_epi64(t[4 * q + 1], t[4 * q + 3]);
        u[4 * q + 3] = _mm512_unpackhi_epi64(t[4 * q + 1], t[4 * q + 3]);
    }
    for (int c = 0; c < 4; c++) {
        __m512i v0 = _mm512_shuffle_i32x4(u[c], u[4 + c], 0x88);       /* cols c, c+8: rows 0-7 */
        __m512i v1 = _mm512_shuffle_i32x4(u[c], u[4 + c], 0xdd);       /* cols c+4, c+12 */
        __m512i v2 = _mm512_shuffle_i32x4(u[8 + c], u[12 + c], 0x88);  /* rows 8-15 */
        __m512i v3 = _mm512_shuffle_i32x4(u[8 + c], u[12 + c], 0xdd);
        r[c] = _mm512_shuffle_i32x4(v0, v2, 0x88);
        r[c + 8] = _mm512_shuffle_i32x4(v0, v2, 0xdd);
        r[c + 4] = _mm512_shuffle_i32x4(v1, v3, 0x88);
        r[c + 12] = _mm512_shuffle_i32x4(v1, v3, 0xdd);
    }
}

/* Rows of X contiguous in k: 32 values of a row become its 16 pair words in
 * order (even k in the low half); 16 rows' words are transposed in registers
 * and stored as 16 pair rows of the panel. */
BF16 static void pack_rows_direct(const float *x, long ldx, int n, int kc, int P, uint32_t *dst)
{
    const int pairs = (kc + 1) / 2;
    for (int i0 = 0; i0 < n; i0 += P) {
        uint32_t *panel = dst + (size_t)i0 * kc;
        for (int r0 = 0; r0 < P; r0 += 16) {
            int width = P - r0 < 16 ? P - r0 : 16;
            __mmask16 wm = width == 16 ? (__mmask16)0xFFFF : (__mmask16)((1u << width) - 1);
            for (int k0 = 0; k0 < kc; k0 += 32) {
                int live = kc - k0;
                __mmask16 m0 = live >= 16 ? (__mmask16)0xFFFF : (__mmask16)((1u << live) - 1);
                __mmask16 m1 = live >= 32 ? (__mmask16)0xFFFF : live <= 16 ? 0 : (__mmask16)((1u << (live - 16)) - 1);
                __m512i w[16];
                for (int r = 0; r < 16; r++) {
                    int row = i0 + r0 + r;
                    if (r >= width || row >= n) { w[r] = _mm512_setzero_si512(); continue; }
                    const float *src = x + (size_t)row * ldx + k0;
                    w[r] = (__m512i)_mm512_cvtne2ps_pbh(_mm512_maskz_loadu_ps(m1, src + 16), _mm512_maskz_loadu_ps(m0, src));
                }
                transpose16(w);
                int np = pairs - k0 / 2 < 16 ? pairs - k0 / 2 : 16;
                for (int j = 0; j < np; j++)
                    _mm512_mask_storeu_epi32(panel + (size_t)(k0 / 2 + j) * P + r0, wm, w[j]);
            }
        }
    }
}

BF16 static void pack_bf16(const float *x, long ldx, int kmajor, int n, int kc, int P, float *dst)
{
    uint32_t *d = (uint32_t *)(void *)dst;
    if (kmajor && P % 16 == 0) { pack_kmajor_direct(x, ldx, n, kc, P, d); return; }
    if (!kmajor) { pack_rows_direct(x, ldx, n, kc, P, d); return; }
    /* k-major A panels (6 rows): the float packing, then each panel in place. */
    sd_gemm_pack_avx2(x, ldx, kmajor, n, kc, P, dst);
    for (int i0 = 0; i0 < n; i0 += P) panel_to_pairs(dst + (size_t)i0 * kc, kc, P);
}

/* The tile body for the first R rows and V column vectors, as in
 * gemm_avx512.c: every C element gets the same instruction sequence whatever
 * R and V are. */
BF16 static inline __attribute__((always_inline)) void
tile_bf16(const int R, const int V, int kc, const float *a, const float *b,
          float *c, long ldc, float alpha, float beta, int nr)
{
    const uint32_t *ap = (const uint32_t *)(const void *)a;
    const __m512i *bp = (const __m512i *)(const void *)b;   /* 64-byte aligned panels */
    __m512 acc[MR][NV];
    #pragma GCC unroll 16
    for (int r = 0; r < R; r++)
        #pragma GCC unroll 16
        for (int v = 0; v < V; v++) acc[r][v] = _mm512_setzero_ps();

    #pragma GCC unroll 16
    for (int r = 0; r < R; r++) _mm_prefetch((const char *)(c + r * ldc), _MM_HINT_T0);

    const int pairs = (kc + 1) / 2;
    for (int kp = 0; kp < pairs; kp++) {
        __m512bh bv[NV];
        #pragma GCC unroll 16
        for (int v = 0; v < V; v++) bv[v] = (__m512bh)_mm512_loadu_si512(bp + v);
        #pragma GCC unroll 16
        for (int v = 0; v < V; v++) _mm_prefetch((const char *)(bp + PF * NV + v), _MM_HINT_T0);
        #pragma GCC unroll 16
        for (int r = 0; r < R; r++) {
            __m512bh av = (__m512bh)_mm512_set1_epi32((int)ap[r]);
            #pragma GCC unroll 16
            for (int v = 0; v < V; v++) acc[r][v] = _mm512_dpbf16_ps(acc[r][v], av, bv[v]);
        }
        ap += MR;
        bp += NV;
    }

    __m512 va = _mm512_set1_ps(alpha), vb = _mm512_set1_ps(beta);
    #pragma GCC unroll 16
    for (int r = 0; r < R; r++) {
        float *cr = c + r * ldc;
        #pragma GCC unroll 16
        for (int v = 0; v < V; v++) {
            int live = nr - 16 * v;   /* columns of vector v inside the nr live ones */
            __mmask16 m = live >= 16 ? (__mmask16)0xFFFF : live <= 0 ? 0 : (__mmask16)((1u << live) - 1);
            __m512 x = alpha == 1.0f ? acc[r][v] : _mm512_mul_ps(va, acc[r][v]);
            if (beta != 0.0f) x = _mm512_fmadd_ps(vb, _mm512_maskz_loadu_ps(m, cr + 16 * v), x);
            _mm512_mask_storeu_ps(cr + 16 * v, m, x);
        }
    }
}

/* Always packed B (ldb is NR): the driver never hands this kernel B in place. */
BF16 static void ukernel_bf16(int kc, const float *a, const float *b, long ldb, float *c,
                              long ldc, float alpha, float beta, int mr, int nr)
{
    (void)ldb;
    if (mr == MR) {
        switch ((nr + 15) / 16) {
        case 1: tile_bf16(MR, 1, kc, a, b, c, ldc, alpha, beta, nr); break;
        case 2: tile_bf16(MR, 2, kc, a, b, c, ldc, alpha, beta, nr); break;
        case 3: tile_bf16(MR, 3, kc, a, b, c, ldc, alpha, beta, nr); break;
        default: tile_bf16(MR, NV, kc, a, b, c, ldc, alpha, beta, nr); break;
        }
        return;
    }
    switch (mr) {
    case 1: tile_bf16(1, NV, kc, a, b, c, ldc, alpha, beta, nr); break;
    case 2: tile_bf16(2, NV, kc, a, b, c, ldc, alpha, beta, nr); break;
    case 3: tile_bf16(3, NV, kc, a, b, c, ldc, alpha, beta, nr); break;
    case 4: tile_bf16(4, NV, kc, a, b, c, ldc, alpha, beta, nr); break;
    default: tile_bf16(5, NV, kc, a, b, c, ldc, alpha, beta, nr); break;
    }
}

/* The blocking of the float AVX-512 kernel (same buffers); no dot-product
 * kernel: the driver packs every product under bfloat16. */
const struct sd_gemm_arch sd_gemm_arch_avx512_bf16 = {
    .name = "avx512-bf16", .mr = MR, .nr = NR, .nu = 16, .mc = 192, .kc = 256, .nc = 512,
    .pairs = 1, .kernel = ukernel_bf16, .dot = NULL, .pack = pack_bf16,
};

#else
/* Not x86: never selected (the CPU check fails), but the symbol must exist. */
const struct sd_gemm_arch sd_gemm_arch_avx512_bf16 = { .name = "avx512-bf16", .pairs = 1 };
#endif
