/* test_gemm: sd_gemm against the reference sd_gemm_naive, for every kernel
 * this CPU runs (chosen through SHENDU_GEMM_KERNEL) and 1 and 2 threads; the
 * same test compiled to WebAssembly checks the SIMD128 kernel (scripts/web-build).
 *
 * Checked: random shapes (1, odd sizes, tile and cache-block edges), all four
 * transpose combinations, alpha/beta variants, leading dimensions wider than
 * the matrix (the padding must stay untouched), beta = 0 ignoring NaNs in C,
 * bit-identical repeats, calls from inside an OpenMP parallel region. */
#define _POSIX_C_SOURCE 200809L
#include "check.h"
#include "shendu/base.h"
#include "shendu/kernels.h"

#include "engine/parallel.h"   /* <omp.h>, or a team of one in the wasm build */
#include <stdint.h>
#include <string.h>

#define GUARD 12345.0f   /* written into the ldc padding; must survive */

static float *rand_matrix(sd_rng *r, size_t n)
{
    float *x = malloc((n ? n : 1) * sizeof *x);
    for (size_t i = 0; i < n; i++) x[i] = 2.0f * sd_rng_uniform(r) - 1.0f;
    return x;
}

struct shape {
    int ta, tb, M, N, K, lda_pad, ldb_pad, ldc_pad;
    float alpha, beta;
};

/* Run one case through sd_gemm and compare with the naive loop.
 * Tolerance per element: 1e-4 * (|alpha| sum |a||b| + |beta||c|) + 1e-6. */
static int run_case(sd_ctx *ctx, sd_rng *r, const struct shape *s, int nan_c)
{
    int rowsA = s->ta ? s->K : s->M, colsA = s->ta ? s->M : s->K;
    int rowsB = s->tb ? s->N : s->K, colsB = s->tb ? s->K : s->N;
    int lda = colsA + s->lda_pad, ldb = colsB + s->ldb_pad, ldc = s->N + s->ldc_pad;
    if (lda < 1) lda = 1;
    if (ldb < 1) ldb = 1;
    if (ldc < 1) ldc = 1;
    size_t na = (size_t)rowsA * lda, nb = (size_t)rowsB * ldb, nc = (size_t)s->M * ldc;
    float *A = rand_matrix(r, na), *B = rand_matrix(r, nb), *C0 = rand_matrix(r, nc);
    for (int i = 0; i < s->M; i++)
        for (int j = s->N; j < ldc; j++) C0[(size_t)i * ldc + j] = GUARD;
    if (nan_c)
        for (int i = 0; i < s->M; i++)
            for (int j = 0; j < s->N; j++) C0[(size_t)i * ldc + j] = NAN;
    (void)colsB;

    float *C = malloc((nc ? nc : 1) * sizeof *C), *R = malloc((nc ? nc : 1) * sizeof *R);
    memcpy(C, C0, nc * sizeof *C);
    memcpy(R, C0, nc * sizeof *R);
    sd_gemm(ctx, s->ta, s->tb, s->M, s->N, s->K, s->alpha, A, lda, B, ldb, s->beta, C, ldc);
    sd_gemm_naive(s->ta, s->tb, s->M, s->N, s->K, s->alpha, A, lda, B, ldb, s->beta, R, ldc);

    /* The error bound: the same product on absolute values. */
    float *Aa = malloc((na ? na : 1) * sizeof *Aa), *Ba = malloc((nb ? nb : 1) * sizeof *Ba);
    float *Bd = malloc((nc ? nc : 1) * sizeof *Bd);
    for (size_t i = 0; i < na; i++) Aa[i] = fabsf(A[i]);
    for (size_t i = 0; i < nb; i++) Ba[i] = fabsf(B[i]);
    for (size_t i = 0; i < nc; i++) Bd[i] = nan_c ? 0.0f : fabsf(C0[i]);
    sd_gemm_naive(s->ta, s->tb, s->M, s->N, s->K, fabsf(s->alpha), Aa, lda, Ba, ldb,
                  fabsf(s->beta), Bd, ldc);

    int bad = 0;
    for (int i = 0; i < s->M && bad < 3; i++) {
        for (int j = 0; j < ldc && bad < 3; j++) {
            size_t at = (size_t)i * ldc + j;
            int ok;
            if (j >= s->N) ok = C[at] == GUARD;
            else ok = isfinite(C[at]) && fabsf(C[at] - R[at]) <= 1e-4f * Bd[at] + 1e-6f;
            if (!ok) {
                bad++;
                fprintf(stderr, "  %s: ta=%d tb=%d M=%d N=%d K=%d alpha=%g beta=%g lds=%d,%d,%d "
                        "nan=%d: C[%d,%d] = %.9g, want %.9g (bound %g)\n",
                        sd_ctx_kernel_name(ctx), s->ta, s->tb, s->M, s->N, s->K, s->alpha,
                        s->beta, lda, ldb, ldc, nan_c, i, j, C[at], R[at], Bd[at]);
            }
        }
    }

    /* Same inputs, same context: bit-identical output. */
    float *C2 = malloc((nc ? nc : 1) * sizeof *C2);
    memcpy(C2, C0, nc * sizeof *C2);
    sd_gemm(ctx, s->ta, s->tb, s->M, s->N, s->K, s->alpha, A, lda, B, ldb, s->beta, C2, ldc);
    int same = memcmp(C, C2, nc * sizeof *C) == 0;
    if (!same) fprintf(stderr, "  repeat differs: M=%d N=%d K=%d\n", s->M, s->N, s->K);

    free(A); free(B); free(C0); free(C); free(R); free(Aa); free(Ba); free(Bd); free(C2);
    return !bad && same;
}

static int rand_dim(sd_rng *r)
{
    switch (sd_rng_below(r, 6)) {
    case 0: return 1 + (int)sd_rng_below(r, 4);                 /* tiny */
    case 1: return 1 + (int)sd_rng_below(r, 20);
    case 2: return 1 + (int)sd_rng_below(r, 70);               /* around tile sizes */
    case 3: return 60 + (int)sd_rng_below(r, 80);              /* a few tiles, edges */
    case 4: return (int[]){6, 12, 16, 32, 48, 64, 65, 63, 96, 128}[sd_rng_below(r, 10)];
    default: return 1 + (int)sd_rng_below(r, 200);
    }
}

static void test_context(sd_ctx *ctx, sd_rng *r, int threads)
{
    static const float alphas[] = {1.0f, -0.5f, 2.0f, 0.25f};
    static const float betas[] = {0.0f, 1.0f, 0.3f, -1.5f};
    const char *name = sd_ctx_kernel_name(ctx);

    /* Fixed shapes that matter: vectors, network shapes (scaled), block edges. */
    static const int fixed[][3] = {
        {1, 1, 1}, {1, 256, 784}, {64, 256, 784}, {256, 784, 64}, {64, 784, 256},
        {32, 676, 9}, {32, 9, 676}, {9, 676, 32}, {64, 121, 288}, {64, 288, 121},
        {288, 121, 64}, {64, 128, 1600}, {7, 1, 300}, {1, 7, 300}, {200, 520, 300},
        {5, 1000, 3}, {1000, 5, 3}, {2, 2, 1000}, {193, 513, 257}, {17, 33, 5},
    };
    int nfixed = (int)(sizeof fixed / sizeof fixed[0]);
    int failures = 0, cases = 0;
    for (int f = 0; f < nfixed; f++) {
        for (int t = 0; t < 4; t++) {
            struct shape s = { t >> 1, t & 1, fixed[f][0], fixed[f][1], fixed[f][2],
                               (int)sd_rng_below(r, 3), (int)sd_rng_below(r, 3),
                               (int)sd_rng_below(r, 3), alphas[(f + t) % 4], betas[(f + 2 * t) % 4] };
            failures += !run_case(ctx, r, &s, 0);
            cases++;
        }
    }
    for (int n = 0; n < 200; n++) {
        struct shape s = { (int)sd_rng_below(r, 2), (int)sd_rng_below(r, 2),
                           rand_dim(r), rand_dim(r), rand_dim(r),
                           sd_rng_below(r, 2) ? 0 : (int)sd_rng_below(r, 9),
                           sd_rng_below(r, 2) ? 0 : (int)sd_rng_below(r, 9),
                           sd_rng_below(r, 2) ? 0 : (int)sd_rng_below(r, 9),
                           alphas[sd_rng_below(r, 4)], betas[sd_rng_below(r, 4)] };
        failures += !run_case(ctx, r, &s, 0);
        cases++;
    }
    /* beta == 0 must not read C: NaN there must not leak (every path). */
    static const int nan_shapes[][5] = {
        {0, 0, 70, 130, 40}, {0, 1, 70, 130, 40}, {1, 0, 70, 130, 40}, {1, 1, 70, 130, 40},
        {0, 1, 1, 130, 40}, {0, 1, 70, 3, 40}, {0, 0, 3, 5, 0}, {0, 0, 200, 520, 300},
    };
    for (int n = 0; n < (int)(sizeof nan_shapes / sizeof nan_shapes[0]); n++) {
        const int *v = nan_shapes[n];
        struct shape s = { v[0], v[1], v[2], v[3], v[4], 1, 2, 3, 1.5f, 0.0f };
        failures += !run_case(ctx, r, &s, 1);
        cases++;
    }
    CHECK_MSG(failures == 0, "%s, %d threads: %d of %d cases wrong", name, threads, failures, cases);
    printf("  %-7s %d thread%s: %d cases, %d wrong\n", name, threads, threads > 1 ? "s" : " ",
           cases, failures);
}

/* K == 0 and alpha == 0 scale C by beta and read neither A nor B. */
static void test_degenerate(sd_ctx *ctx)
{
    float C[6] = {1, 2, 3, 4, 5, 6}, A[1] = {NAN}, B[1] = {NAN};
    sd_gemm(ctx, 0, 0, 2, 3, 0, 1.0f, A, 1, B, 3, 2.0f, C, 3);
    CHECK(C[0] == 2.0f && C[5] == 12.0f);
    sd_gemm(ctx, 0, 0, 2, 3, 1, 0.0f, A, 1, B, 3, 0.5f, C, 3);
    CHECK(C[0] == 1.0f && C[5] == 6.0f);
    for (int i = 0; i < 6; i++) C[i] = NAN;
    sd_gemm(ctx, 0, 0, 2, 3, 0, 1.0f, A, 1, B, 3, 0.0f, C, 3);
    CHECK(C[0] == 0.0f && C[5] == 0.0f);
    sd_gemm(ctx, 0, 0, 0, 3, 4, 1.0f, A, 1, B, 3, 0.0f, C, 3);   /* M == 0: no-op */
    CHECK(C[0] == 0.0f);
}

/* Several OpenMP threads, each calling sd_gemm on its own output; one more
 * than the context has buffers for (that one falls back to the plain loop). */
static void test_nested(sd_ctx *ctx, sd_rng *r)
{
    enum { M = 50, N = 70, K = 90 };
    float *A = rand_matrix(r, M * K), *B = rand_matrix(r, K * N);
    float *C = calloc(4 * M * N, sizeof *C), *R = calloc(M * N, sizeof *R);
    sd_gemm_naive(0, 0, M, N, K, 1.0f, A, K, B, N, 0.0f, R, N);
    int team = SD_HAVE_OPENMP ? sd_ctx_threads(ctx) + 1 : 1;   /* no OpenMP (wasm): the region runs once */
    #pragma omp parallel num_threads(team)
    {
        int t = omp_get_thread_num();
        sd_gemm(ctx, 0, 0, M, N, K, 1.0f, A, K, B, N, 0.0f, C + (size_t)t * M * N, N);
    }
    float err = 0.0f;
    for (int t = 0; t < team; t++)
        for (int i = 0; i < M * N; i++) err = fmaxf(err, fabsf(C[(size_t)t * M * N + i] - R[i]));
    CHECK_MSG(err < 1e-4f, "%s: nested calls off by %g", sd_ctx_kernel_name(ctx), err);
    free(A); free(B); free(C); free(R);
}

/* 1 and 2 threads may split C differently but must give the same bits (the
 * summation order depends on K and the kernel only), on every path. */
static void test_thread_invariance(const char *kernel, sd_rng *r)
{
    static const int shapes[][5] = {   /* transA, transB, M, N, K: every one big enough for 2 threads */
        {0, 1, 131, 517, 300}, {0, 0, 131, 517, 300}, {1, 0, 100, 500, 100},
        {0, 1, 3, 5170, 300}, {0, 1, 131, 9, 4000},
        {0, 1, 64, 288, 2000},   /* C cut between columns 144 and 145: inside a 64-wide tile */
    };
    sd_ctx *c1 = sd_ctx_new(&(sd_ctx_opts){ .threads = 1 });
    sd_ctx *c2 = sd_ctx_new(&(sd_ctx_opts){ .threads = 2 });
    for (int n = 0; n < (int)(sizeof shapes / sizeof shapes[0]); n++) {
        int ta = shapes[n][0], tb = shapes[n][1], M = shapes[n][2], N = shapes[n][3], K = shapes[n][4];
        float *A = rand_matrix(r, (size_t)M * K), *B = rand_matrix(r, (size_t)K * N);
        float *C1 = calloc((size_t)M * N, sizeof *C1), *C2 = calloc((size_t)M * N, sizeof *C2);
        sd_gemm(c1, ta, tb, M, N, K, 1.0f, A, ta ? M : K, B, tb ? K : N, 0.0f, C1, N);
        sd_gemm(c2, ta, tb, M, N, K, 1.0f, A, ta ? M : K, B, tb ? K : N, 0.0f, C2, N);
        CHECK_MSG(memcmp(C1, C2, sizeof(float) * M * N) == 0, "%s: 1 vs 2 threads differ (%dx%dx%d)",
                  kernel, M, N, K);
        memset(C2, 0, sizeof(float) * M * N);   /* a 2-thread context capped at 1 */
        sd_gemm_on(c2, 1, ta, tb, M, N, K, 1.0f, A, ta ? M : K, B, tb ? K : N, 0.0f, C2, N);
        CHECK_MSG(memcmp(C1, C2, sizeof(float) * M * N) == 0, "%s: sd_gemm_on(1 thread) differs (%dx%dx%d)",
                  kernel, M, N, K);
        free(A); free(B); free(C1); free(C2);
    }
    sd_ctx_free(c1);
    sd_ctx_free(c2);
}

int main(void)
{
    static const char *kernels[] = {"generic", "avx2", "avx512", "simd128"};
    sd_rng r;
    sd_rng_seed(&r, 42);
    for (int k = 0; k < 4; k++) {
        setenv("SHENDU_GEMM_KERNEL", kernels[k], 1);
        for (int threads = 1; threads <= 2; threads++) {
            sd_ctx *ctx = sd_ctx_new(&(sd_ctx_opts){ .threads = threads });
            CHECK(ctx != NULL);
            if (!ctx) continue;
            if (strcmp(sd_ctx_kernel_name(ctx), kernels[k]) != 0) {
                printf("  %-7s not supported by this CPU (got %s): skipped\n", kernels[k],
                       sd_ctx_kernel_name(ctx));
                sd_ctx_free(ctx);
                break;
            }
            test_context(ctx, &r, threads);
            test_degenerate(ctx);
            test_nested(ctx, &r);
            sd_ctx_free(ctx);
        }
        test_thread_invariance(kernels[k], &r);
    }
    /* An unknown name falls back to the best kernel without failing. */
    setenv("SHENDU_GEMM_KERNEL", "no-such-kernel", 1);
    sd_ctx *ctx = sd_ctx_new(NULL);
    CHECK(ctx != NULL);
    if (ctx) CHECK(strlen(sd_ctx_kernel_name(ctx)) > 0);
    sd_ctx_free(ctx);
    unsetenv("SHENDU_GEMM_KERNEL");
    return check_done("test_gemm");
}
