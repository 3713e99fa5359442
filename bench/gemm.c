/* bench_gemm: GFLOP/s of the fast sd_gemm on a square problem and on the
 * shapes the example networks run (MLP 784-256-10 at batch 64, a small CNN
 * through im2col at batch 64).
 *
 *   bench_gemm [threads] [--json] [--quick] [--bf16]
 *
 * threads defaults to all online cores. Each figure is the median of 5 trials;
 * a trial repeats the call for at least 0.1 s (--quick: 3 trials, 0.03 s).
 * --bf16: the context's precision is bfloat16 (sd_ctx_set_precision). */
#include "shendu/base.h"
#include "shendu/kernels.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct shape {
    const char *name;
    int ta, tb, M, N, K;
    int ldb;   /* 0: packed (N or K); else B's row stride, as in a slice of a wider matrix */
};

static const struct shape shapes[] = {
    {"square 1024",           0, 0, 1024, 1024, 1024, 0},
    {"mlp fwd  x·Wt",         0, 1,   64,  256,  784, 0},   /* [64,784]·[256,784]ᵀ */
    {"mlp dW   dYt·x",        1, 0,  256,  784,   64, 0},   /* [64,256]ᵀ·[64,784] */
    {"mlp dX   dY·W",         0, 0,   64,  784,  256, 0},   /* [64,256]·[256,784] */
    {"mlp gemv 1x784·Wt",     0, 1,    1,  256,  784, 0},   /* batch 1 inference */
    {"conv1 fwd W·col",       0, 0,   32, 43264,   9, 0},   /* 32 filters, 3x3x1, 26x26x64 */
    {"conv1 fwd per image",   0, 0,   32,   676,    9, 43264}, /* one image's columns */
    {"conv1 dW  dY·colt",     0, 1,   32,     9, 43264, 0},
    {"conv2 fwd W·col",       0, 0,   64,  7744,  288, 0},  /* 64 filters, 3x3x32, 11x11x64 */
    {"conv2 fwd per image",   0, 0,   64,   121,  288, 7744},
    {"conv2 dW  dY·colt",     0, 1,   64,   288, 7744, 0},
    {"conv2 dcol Wt·dY",      1, 0,  288,  7744,   64, 0},
    {"fc fwd   x·Wt",         0, 1,   64,   128, 1600, 0},  /* [64,1600]·[128,1600]ᵀ */
    {"fc dW    dYt·x",        1, 0,  128,  1600,   64, 0},
    {"fc dX    dY·W",         0, 0,   64,  1600,  128, 0},
};

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

int main(int argc, char **argv)
{
    int threads = 0, json = 0, quick = 0, bf16 = 0;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--json") == 0) json = 1;
        else if (strcmp(argv[i], "--quick") == 0) quick = 1;
        else if (strcmp(argv[i], "--bf16") == 0) bf16 = 1;
        else threads = atoi(argv[i]);
    }
    sd_ctx *ctx = sd_ctx_new(&(sd_ctx_opts){ .threads = threads });
    if (!ctx || (bf16 && sd_ctx_set_precision(ctx, SD_PRECISION_BF16) != 0)) {
        fprintf(stderr, "bench_gemm: %s\n", sd_last_error());
        sd_ctx_free(ctx);
        return 1;
    }
    const int trials = quick ? 3 : 5;
    const double min_time = quick ? 0.03 : 0.1;

    if (json) printf("{\"kernel\": \"%s\", \"threads\": %d, \"results\": [\n",
                     sd_ctx_kernel_name(ctx), sd_ctx_threads(ctx));
    else printf("gemm kernel %s, %d thread%s\n", sd_ctx_kernel_name(ctx), sd_ctx_threads(ctx),
                sd_ctx_threads(ctx) > 1 ? "s" : "");

    sd_rng rng;
    sd_rng_seed(&rng, 1);
    int nshapes = (int)(sizeof shapes / sizeof shapes[0]);
    for (int s = 0; s < nshapes; s++) {
        const struct shape *sh = &shapes[s];
        int lda = sh->ta ? sh->M : sh->K, ldb = sh->ldb ? sh->ldb : sh->tb ? sh->K : sh->N;
        int ldc = sh->N;
        size_t na = (size_t)sh->M * sh->K, nb = (size_t)(sh->tb ? sh->N : sh->K) * ldb;
        size_t nc = (size_t)sh->M * sh->N;
        float *A = malloc(na * sizeof *A), *B = malloc(nb * sizeof *B), *C = malloc(nc * sizeof *C);
        if (!A || !B || !C) { fprintf(stderr, "bench_gemm: out of memory\n"); return 1; }
        for (size_t i = 0; i < na; i++) A[i] = sd_rng_uniform(&rng) - 0.5f;
        for (size_t i = 0; i < nb; i++) B[i] = sd_rng_uniform(&rng) - 0.5f;

        double flops = 2.0 * sh->M * sh->N * sh->K, gflops[5];
        sd_gemm(ctx, sh->ta, sh->tb, sh->M, sh->N, sh->K, 1.0f, A, lda, B, ldb, 0.0f, C, ldc);
        for (int t = 0; t < trials; t++) {
            long reps = 0;
            double t0 = sd_time_now(), dt;
            do {
                sd_gemm(ctx, sh->ta, sh->tb, sh->M, sh->N, sh->K, 1.0f, A, lda, B, ldb, 0.0f, C, ldc);
                reps++;
                dt = sd_time_now() - t0;
            } while (dt < min_time);
            gflops[t] = flops * reps / dt * 1e-9;
        }
        qsort(gflops, (size_t)trials, sizeof gflops[0], cmp_double);
        double med = gflops[trials / 2], us = flops / (med * 1e9) * 1e6;
        if (json)
            printf("  {\"shape\": \"%s\", \"transA\": %d, \"transB\": %d, \"M\": %d, \"N\": %d, "
                   "\"K\": %d, \"gflops\": %.2f, \"us\": %.2f}%s\n", sh->name, sh->ta, sh->tb,
                   sh->M, sh->N, sh->K, med, us, s + 1 < nshapes ? "," : "");
        else
            printf("%-20s %c%c M=%-5d N=%-6d K=%-6d %8.1f GFLOP/s %10.1f us\n", sh->name,
                   sh->ta ? 'T' : 'N', sh->tb ? 'T' : 'N', sh->M, sh->N, sh->K, med, us);
        fflush(stdout);
        free(A); free(B); free(C);
    }
    if (json) printf("]}\n");
    sd_ctx_free(ctx);
    return 0;
}
