/* Internal to the GEMM module (src/kernels/gemm*.c): the interface between the
 * driver in gemm.c (blocking, packing, threads) and the per-ISA micro-kernels
 * in gemm_avx512.c, gemm_avx2.c and gemm.c (portable C).
 *
 * Packed layouts, with MR x NR the register tile of a kernel:
 *   A panel: MR rows of op(A) for kc steps of k, stored k-major:  a[k*MR + r]
 *   B panel: NR cols of op(B) for kc steps of k, stored k-major:  b[k*NR + c]
 * Panels are zero-padded to a full MR (NR), so a kernel may run the full tile
 * and trim only the store to the live mr x nr corner (the SIMD kernels skip
 * padded rows or column vectors; the arithmetic on live elements is the same). */
#ifndef SHENDU_GEMM_INTERNAL_H
#define SHENDU_GEMM_INTERNAL_H

/* C[mr,nr] (row stride ldc) = alpha * Apanel·Bpanel + beta * C.
 * The B panel's k steps are ldb floats apart: NR when packed, or the row
 * stride of B itself when a row-major B (transB = 0) is used in place.
 * beta == 0: C is written without being read. Summation over k is in order
 * k = 0..kc-1, one fused multiply-add (or mul+add) per step and element. */
typedef void (*sd_gemm_ukernel)(int kc, const float *a, const float *b, long ldb,
                                float *c, long ldc, float alpha, float beta,
                                int mr, int nr);

/* Dot-product kernel for the "both operands contiguous in k" case
 * (transA = 0, transB = 1) with a small M or N: C[i,j] = alpha * <A row i,
 * B row j> + beta * C[i,j] for i < m, j < n; C element (i,j) at c[i*rsc + j*csc].
 * Each dot product is summed in a fixed order that depends only on k. */
typedef void (*sd_gemm_dotkernel)(int m, int n, int k, const float *a, long lda,
                                  const float *b, long ldb, float *c, long rsc,
                                  long csc, float alpha, float beta);

/* Packing. The logical matrix X is n x kc (n = rows of op(A), or columns of
 * op(B)); element (i, k) is at x[i*ldx + k] when kmajor == 0 (rows contiguous
 * in k: op(A) with transA = 0, op(B) with transB = 1) and at x[k*ldx + i] when
 * kmajor == 1. Writes ceil(n/P) panels dst[p*P*kc + k*P + r] = X(p*P + r, k),
 * zero for rows past n. May write up to 8 floats past the last panel (the
 * buffers have that much slack). */
typedef void (*sd_gemm_pack_fn)(const float *x, long ldx, int kmajor, int n, int kc,
                                int P, float *dst);

/* Portable packing (gemm.c) and the AVX2 one (gemm_avx2.c, used by the AVX2
 * and AVX-512 kernels). */
void sd_gemm_pack_ref(const float *x, long ldx, int kmajor, int n, int kc, int P, float *dst);
void sd_gemm_pack_avx2(const float *x, long ldx, int kmajor, int n, int kc, int P, float *dst);

struct sd_gemm_arch {
    const char *name;   /* "avx512", "avx2", "generic" */
    int mr, nr;         /* register tile of the micro-kernel */
    int nu;             /* finest cut of C's columns between threads: a
                           kernel that runs narrower tiles at no extra cost
                           per column (one vector register) may be cut there */
    int mc, kc, nc;     /* cache blocks: A block mc x kc, B block kc x nc */
    int pairs;          /* 1: panels hold bfloat16 pairs of k (gemm_bf16.c); the
                           driver packs every operand (no B in place, no dot
                           products) */
    sd_gemm_ukernel kernel;
    sd_gemm_dotkernel dot;
    sd_gemm_pack_fn pack;
};

/* Defined in gemm_avx512.c / gemm_avx2.c (compiled with target attributes, so
 * the whole module builds without -march flags; callers check the CPU). */
extern const struct sd_gemm_arch sd_gemm_arch_avx512;
extern const struct sd_gemm_arch sd_gemm_arch_avx2;
/* Defined in gemm_bf16.c: needs AVX512_BF16 as well. */
extern const struct sd_gemm_arch sd_gemm_arch_avx512_bf16;
/* Defined in gemm_simd128.c when compiled for wasm32 with -msimd128. */
extern const struct sd_gemm_arch sd_gemm_arch_simd128;

#endif
