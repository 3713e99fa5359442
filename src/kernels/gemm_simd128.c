/* WebAssembly SIMD128 GEMM kernels (the wasm build: -msimd128). Chosen at
 * build time: a module compiled for wasm32 with SIMD128 has no CPU to ask,
 * and a browser without SIMD128 cannot load the module at all (the page
 * checks before it loads it).
 *
 * Micro-kernel: a 4 x 8 tile of C in 8 v128 registers (4 floats each); per k
 * step 2 loads of the B panel, 4 splats of the packed A panel, 8 multiplies
 * and 8 adds (SIMD128 has no fused multiply-add; engines map v128 onto SSE
 * or NEON registers, 16 of them on x86-64: 8 accumulators + 2 B + 1 A fit).
 *
 * Dot-product kernel: 8 lanes per product, lane l summing k = l, l+8, ...,
 * then a fixed pairwise reduction (the order depends on k only); four
 * products share each load of their common operand.
 *
 * Packing: whole panels with vector loads and stores (transposed 4 x 4 in
 * registers where the source rows run along k). */
#include "gemm_internal.h"

#ifdef __wasm_simd128__
#include <stddef.h>
#include <wasm_simd128.h>

#define MR 4
#define NR 8

static void store_row(float *c, v128_t lo, v128_t hi, float alpha, float beta, int nr)
{
    v128_t va = wasm_f32x4_splat(alpha);
    lo = wasm_f32x4_mul(lo, va);
    hi = wasm_f32x4_mul(hi, va);
    if (nr == NR) {
        if (beta != 0.0f) {
            v128_t vb = wasm_f32x4_splat(beta);
            lo = wasm_f32x4_add(lo, wasm_f32x4_mul(vb, wasm_v128_load(c)));
            hi = wasm_f32x4_add(hi, wasm_f32x4_mul(vb, wasm_v128_load(c + 4)));
        }
        wasm_v128_store(c, lo);
        wasm_v128_store(c + 4, hi);
        return;
    }
    float t[NR];
    wasm_v128_store(t, lo);
    wasm_v128_store(t + 4, hi);
    for (int j = 0; j < nr; j++) c[j] = beta == 0.0f ? t[j] : t[j] + beta * c[j];
}

static void ukernel_simd128(int kc, const float *a, const float *b, long ldb, float *c, long ldc,
                            float alpha, float beta, int mr, int nr)
{
    v128_t c00 = wasm_f32x4_splat(0.0f), c01 = c00, c10 = c00, c11 = c00;
    v128_t c20 = c00, c21 = c00, c30 = c00, c31 = c00;
    for (int k = 0; k < kc; k++, a += MR, b += ldb) {
        v128_t b0 = wasm_v128_load(b), b1 = wasm_v128_load(b + 4);
        v128_t a0 = wasm_f32x4_splat(a[0]);
        c00 = wasm_f32x4_add(c00, wasm_f32x4_mul(a0, b0));
        c01 = wasm_f32x4_add(c01, wasm_f32x4_mul(a0, b1));
        v128_t a1 = wasm_f32x4_splat(a[1]);
        c10 = wasm_f32x4_add(c10, wasm_f32x4_mul(a1, b0));
        c11 = wasm_f32x4_add(c11, wasm_f32x4_mul(a1, b1));
        v128_t a2 = wasm_f32x4_splat(a[2]);
        c20 = wasm_f32x4_add(c20, wasm_f32x4_mul(a2, b0));
        c21 = wasm_f32x4_add(c21, wasm_f32x4_mul(a2, b1));
        v128_t a3 = wasm_f32x4_splat(a[3]);
        c30 = wasm_f32x4_add(c30, wasm_f32x4_mul(a3, b0));
        c31 = wasm_f32x4_add(c31, wasm_f32x4_mul(a3, b1));
    }
    store_row(c, c00, c01, alpha, beta, nr);
    if (mr > 1) store_row(c + ldc, c10, c11, alpha, beta, nr);
    if (mr > 2) store_row(c + 2 * ldc, c20, c21, alpha, beta, nr);
    if (mr > 3) store_row(c + 3 * ldc, c30, c31, alpha, beta, nr);
}

static float reduce8(const float lane[8])
{
    return ((lane[0] + lane[4]) + (lane[2] + lane[6])) + ((lane[1] + lane[5]) + (lane[3] + lane[7]));
}

static float dot_simd128(const float *x, const float *y, int k)
{
    v128_t s0 = wasm_f32x4_splat(0.0f), s1 = s0;
    int p = 0;
    for (; p + 8 <= k; p += 8) {
        s0 = wasm_f32x4_add(s0, wasm_f32x4_mul(wasm_v128_load(x + p), wasm_v128_load(y + p)));
        s1 = wasm_f32x4_add(s1, wasm_f32x4_mul(wasm_v128_load(x + p + 4), wasm_v128_load(y + p + 4)));
    }
    float lane[8];
    wasm_v128_store(lane, s0);
    wasm_v128_store(lane + 4, s1);
    for (int l = 0; p < k; p++, l++) lane[l] += x[p] * y[p];
    return reduce8(lane);
}

/* Four dot products at a time: x against y0..y3 (one load of x serves four
 * products, and there are 8 independent chains of adds instead of 2). Each
 * product keeps dot_simd128's lanes and reduction: the same bits. */
static void dot4_simd128(const float *x, const float *y0, const float *y1, const float *y2, const float *y3,
                         int k, float out[4])
{
    v128_t s00 = wasm_f32x4_splat(0.0f), s01 = s00, s10 = s00, s11 = s00;
    v128_t s20 = s00, s21 = s00, s30 = s00, s31 = s00;
    int p = 0;
    for (; p + 8 <= k; p += 8) {
        const v128_t x0 = wasm_v128_load(x + p), x1 = wasm_v128_load(x + p + 4);
        s00 = wasm_f32x4_add(s00, wasm_f32x4_mul(x0, wasm_v128_load(y0 + p)));
        s01 = wasm_f32x4_add(s01, wasm_f32x4_mul(x1, wasm_v128_load(y0 + p + 4)));
        s10 = wasm_f32x4_add(s10, wasm_f32x4_mul(x0, wasm_v128_load(y1 + p)));
        s11 = wasm_f32x4_add(s11, wasm_f32x4_mul(x1, wasm_v128_load(y1 + p + 4)));
        s20 = wasm_f32x4_add(s20, wasm_f32x4_mul(x0, wasm_v128_load(y2 + p)));
        s21 = wasm_f32x4_add(s21, wasm_f32x4_mul(x1, wasm_v128_load(y2 + p + 4)));
        s30 = wasm_f32x4_add(s30, wasm_f32x4_mul(x0, wasm_v128_load(y3 + p)));
        s31 = wasm_f32x4_add(s31, wasm_f32x4_mul(x1, wasm_v128_load(y3 + p + 4)));
    }
    float lane[4][8];
    wasm_v128_store(lane[0], s00); wasm_v128_store(lane[0] + 4, s01);
    wasm_v128_store(lane[1], s10); wasm_v128_store(lane[1] + 4, s11);
    wasm_v128_store(lane[2], s20); wasm_v128_store(lane[2] + 4, s21);
    wasm_v128_store(lane[3], s30); wasm_v128_store(lane[3] + 4, s31);
    for (int l = 0; p < k; p++, l++) {
        lane[0][l] += x[p] * y0[p];
        lane[1][l] += x[p] * y1[p];
        lane[2][l] += x[p] * y2[p];
        lane[3][l] += x[p] * y3[p];
    }
    for (int r = 0; r < 4; r++) out[r] = reduce8(lane[r]);
}

static inline void dot_store(float *cij, float d, float alpha, float beta)
{
    const float s = alpha * d;
    *cij = beta == 0.0f ? s : s + beta * *cij;
}

/* Rows of A against four rows of B at a time (a dense layer at batch 1:
 * m = 1), or, with fewer than four rows of B, four rows of A at a time. */
static void dot_kernel_simd128(int m, int n, int k, const float *a, long lda, const float *b, long ldb,
                               float *c, long rsc, long csc, float alpha, float beta)
{
    float d[4];
    if (n >= 4) {
        for (int i = 0; i < m; i++) {
            const float *ai = a + i * lda;
            float *ci = c + i * rsc;
            int j = 0;
            for (; j + 4 <= n; j += 4) {
                const float *bj = b + j * ldb;
                dot4_simd128(ai, bj, bj + ldb, bj + 2 * ldb, bj + 3 * ldb, k, d);
                for (int r = 0; r < 4; r++) dot_store(ci + (j + r) * csc, d[r], alpha, beta);
            }
            for (; j < n; j++) dot_store(ci + j * csc, dot_simd128(ai, b + j * ldb, k), alpha, beta);
        }
        return;
    }
    int i = 0;
    for (; i + 4 <= m; i += 4) {
        const float *ai = a + i * lda;
        for (int j = 0; j < n; j++) {
            dot4_simd128(b + j * ldb, ai, ai + lda, ai + 2 * lda, ai + 3 * lda, k, d);
            for (int r = 0; r < 4; r++) dot_store(c + (i + r) * rsc + j * csc, d[r], alpha, beta);
        }
    }
    for (; i < m; i++)
        for (int j = 0; j < n; j++)
            dot_store(c + i * rsc + j * csc, dot_simd128(a + i * lda, b + j * ldb, k), alpha, beta);
}

/* Packing (the layout of gemm_internal.h) for the kernel's panels of 4 and 8:
 * whole panels a vector at a time, the last partial one by sd_gemm_pack_ref.
 * k-major sources copy runs of 4 floats; row sources (each row contiguous in
 * k) go through 4 x 4 transposes in registers. */
static inline void transpose4(v128_t *r0, v128_t *r1, v128_t *r2, v128_t *r3)
{
    const v128_t t0 = wasm_i32x4_shuffle(*r0, *r1, 0, 4, 1, 5), t1 = wasm_i32x4_shuffle(*r0, *r1, 2, 6, 3, 7);
    const v128_t t2 = wasm_i32x4_shuffle(*r2, *r3, 0, 4, 1, 5), t3 = wasm_i32x4_shuffle(*r2, *r3, 2, 6, 3, 7);
    *r0 = wasm_i32x4_shuffle(t0, t2, 0, 1, 4, 5);
    *r1 = wasm_i32x4_shuffle(t0, t2, 2, 3, 6, 7);
    *r2 = wasm_i32x4_shuffle(t1, t3, 0, 1, 4, 5);
    *r3 = wasm_i32x4_shuffle(t1, t3, 2, 3, 6, 7);
}

static void pack_simd128(const float *x, long ldx, int kmajor, int n, int kc, int P, float *dst)
{
    if (P != 4 && P != 8) { sd_gemm_pack_ref(x, ldx, kmajor, n, kc, P, dst); return; }
    const int nfull = n / P * P;
    if (kmajor) {
        for (int k = 0; k < kc; k++) {
            const float *s = x + (size_t)k * ldx;
            float *dk = dst + (size_t)k * P;
            for (int i0 = 0; i0 < nfull; i0 += P, dk += (size_t)P * kc) {
                wasm_v128_store(dk, wasm_v128_load(s + i0));
                if (P == 8) wasm_v128_store(dk + 4, wasm_v128_load(s + i0 + 4));
            }
        }
    } else {
        for (int i0 = 0; i0 < nfull; i0 += 4) {   /* 4 rows: a panel, or half of one */
            const float *s0 = x + (size_t)i0 * ldx, *s1 = s0 + ldx, *s2 = s1 + ldx, *s3 = s2 + ldx;
            float *d = dst + (size_t)(i0 / P) * P * kc + i0 % P;
            int k = 0;
            for (; k + 4 <= kc; k += 4) {
                v128_t r0 = wasm_v128_load(s0 + k), r1 = wasm_v128_load(s1 + k);
                v128_t r2 = wasm_v128_load(s2 + k), r3 = wasm_v128_load(s3 + k);
                transpose4(&r0, &r1, &r2, &r3);
                wasm_v128_store(d + (size_t)k * P, r0);
                wasm_v128_store(d + (size_t)(k + 1) * P, r1);
                wasm_v128_store(d + (size_t)(k + 2) * P, r2);
                wasm_v128_store(d + (size_t)(k + 3) * P, r3);
            }
            for (; k < kc; k++) {
                float *dk = d + (size_t)k * P;
                dk[0] = s0[k]; dk[1] = s1[k]; dk[2] = s2[k]; dk[3] = s3[k];
            }
        }
    }
    if (nfull < n)
        sd_gemm_pack_ref(kmajor ? x + nfull : x + (size_t)nfull * ldx, ldx, kmajor, n - nfull, kc, P,
                         dst + (size_t)nfull * kc);
}

const struct sd_gemm_arch sd_gemm_arch_simd128 = {
    .name = "simd128", .mr = MR, .nr = NR, .nu = NR, .mc = 128, .kc = 256, .nc = 512,
    .kernel = ukernel_simd128, .dot = dot_kernel_simd128, .pack = pack_simd128,
};

#else
typedef int sd_gemm_simd128_unused;   /* native builds: nothing here (ISO C wants a declaration) */
#endif
