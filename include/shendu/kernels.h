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

/* The reference triple loop (single thread): the oracle for sd_gemm. */
void sd_gemm_naive(int transA, int transB, int M, int N, int K,
                   float alpha, const float *A, int lda, const float *B, int ldb,
                   float beta, float *C, int ldc);

#ifdef __cplusplus
}
#endif
#endif
