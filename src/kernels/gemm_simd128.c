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
 * then a fixed pairwise reduction (the order depends on k only). */
#include "gemm_internal.h"

#ifdef __wasm_simd128__
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
    return ((lane[0] + lane[4]) + (lane[2] + lane[6])) + ((lane[1] + lane[5]) + (lane[3] + lane[7]));
}

static void dot_kernel_simd128(int m, int n, int k, const float *a, long lda, const float *b, long ldb,
                               float *c, long rsc, long csc, float alpha, float beta)
{
    for (int i = 0; i < m; i++)
        for (int j = 0; j < n; j++) {
            float s = alpha * dot_simd128(a + i * lda, b + j * ldb, k);
            float *cij = c + i * rsc + j * csc;
            *cij = beta == 0.0f ? s : s + beta * *cij;
        }
}

const struct sd_gemm_arch sd_gemm_arch_simd128 = {
    .name = "simd128", .mr = MR, .nr = NR, .nu = NR, .mc = 128, .kc = 256, .nc = 512,
    .kernel = ukernel_simd128, .dot = dot_kernel_simd128, .pack = sd_gemm_pack_ref,
};

#else
typedef int sd_gemm_simd128_unused;   /* native builds: nothing here (ISO C wants a declaration) */
#endif
