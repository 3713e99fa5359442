/* bfloat16 mixed precision (SD_PRECISION_BF16): the rounding, the GEMM
 * against its oracle (sd_gemm_bf16_naive) and against float32 with the
 * tolerance bfloat16 implies, run-to-run and thread-count bit identity, a
 * gradient check through a small network, and the refusal on a context
 * without the kernel. */
#define _POSIX_C_SOURCE 200809L
#include "check.h"
#include "shendu.h"
#include "shendu/kernels.h"

#include <stdint.h>
#include <string.h>

static float from_bits(uint32_t u) { float f; memcpy(&f, &u, sizeof f); return f; }
static float round_bf16(float f) { return sd_bf16_to_float(sd_bf16_from_float(f)); }

/* Rounding: to nearest, ties to even, NaN kept, overflow to infinity,
 * denormals flushed (what vcvtneps2bf16 does). */
static void test_rounding(void)
{
    CHECK(sd_bf16_from_float(1.0f) == 0x3F80);
    CHECK(sd_bf16_from_float(-2.0f) == 0xC000);
    CHECK(sd_bf16_from_float(from_bits(0x3F808000u)) == 0x3F80);   /* tie, even below */
    CHECK(sd_bf16_from_float(from_bits(0x3F818000u)) == 0x3F82);   /* tie, even above */
    CHECK(sd_bf16_from_float(from_bits(0x3F808001u)) == 0x3F81);   /* just over half */
    CHECK(sd_bf16_from_float(from_bits(0x3F807FFFu)) == 0x3F80);   /* just under half */
    CHECK(sd_bf16_from_float(from_bits(0x7F7FFFFFu)) == 0x7F80);   /* FLT_MAX -> +inf */
    CHECK(sd_bf16_from_float(INFINITY) == 0x7F80);
    CHECK(sd_bf16_from_float(-INFINITY) == 0xFF80);
    CHECK(isnan(round_bf16(NAN)));
    CHECK(isnan(round_bf16(from_bits(0x7F800001u))));              /* a NaN whose top half is inf */
    CHECK(sd_bf16_from_float(from_bits(0x00000001u)) == 0x0000);   /* denormal -> 0 */
    CHECK(sd_bf16_from_float(from_bits(0x80400000u)) == 0x8000);   /* -denormal -> -0 */
    CHECK(round_bf16(3.140625f) == 3.140625f);                     /* 8 significant bits: exact */
}

static float *rand_matrix(sd_rng *r, size_t n, float scale)
{
    float *x = malloc((n ? n : 1) * sizeof *x);
    for (size_t i = 0; i < n; i++) x[i] = scale * (2.0f * sd_rng_uniform(r) - 1.0f);
    return x;
}

/* The kernel's packing rounds as sd_bf16_from_float does: C = e5ᵀ · B is
 * B's row 5 rounded (the other rows are multiplied by exact zeros), for
 * values that include exact ties. */
static void test_packing_rounds(sd_ctx *ctx, sd_rng *r)
{
    enum { N = 200, K = 32 };   /* K >= 32: a bfloat16 product */
    static float A[6 * K], B[K * N], C[6 * N];
    for (int i = 0; i < 6; i++) A[i * K + 5] = 1.0f;   /* C row i = B row 5 */
    for (int j = 0; j < N; j++) {
        uint32_t u = 0x3F000000u + ((uint32_t)sd_rng_u64(r) & 0x00FFFFFFu);
        if (j % 4 == 0) u = (u & 0xFFFF0000u) | 0x8000u;             /* a tie */
        B[5 * N + j] = from_bits(u) * (j % 2 ? -1.0f : 1.0f);
        for (int k = 0; k < K; k++) if (k != 5) B[k * N + j] = 1000.0f * (float)(k + 1);
    }
    sd_gemm(ctx, 0, 0, 6, N, K, 1.0f, A, K, B, N, 0.0f, C, N);
    int bad = 0;
    for (int i = 0; i < 6; i++)
        for (int j = 0; j < N; j++) bad += C[i * N + j] != round_bf16(B[5 * N + j]);
    CHECK_MSG(bad == 0, "packed bf16 differs from sd_bf16_from_float in %d of %d", bad, 6 * N);
}

struct shape { int ta, tb, M, N, K; float alpha, beta; };

/* Products that stay float32 under bfloat16 (src/kernels/gemm.c, sd_gemm_on):
 * thin ones of k-contiguous operands (the dot-product path) and short sums. */
static int stays_fp32(const struct shape *s)
{
    int ta = s->ta, tb = s->tb;
    if (s->M == 1 && ta) ta = 0;   /* a single contiguous row or column reads either way */
    if (s->N == 1 && !tb) tb = 1;
    return (!ta && tb && (s->M <= 4 || s->N <= 16) && s->K >= 16) || s->K < 32;
}

/* One product: against its oracle (bf16, or fp32 for the products that stay
 * fp32; sums in another order: a float32 tolerance on the bound Σ|a||b|) and
 * against float32 (bfloat16's tolerance: each rounded operand is off by at
 * most 2^-9 of itself). */
static int run_case(sd_ctx *ctx, sd_rng *r, const struct shape *s)
{
    int lda = s->ta ? s->M : s->K, ldb = s->tb ? s->K : s->N, ldc = s->N;
    size_t na = (size_t)s->M * s->K, nb = (size_t)s->K * s->N, nc = (size_t)s->M * s->N;
    float *A = rand_matrix(r, na, 1.0f), *B = rand_matrix(r, nb, 1.0f), *C0 = rand_matrix(r, nc, 1.0f);
    float *C = malloc(nc * sizeof *C), *O = malloc(nc * sizeof *O), *F = malloc(nc * sizeof *F);
    float *Aa = malloc(na * sizeof *Aa), *Ba = malloc(nb * sizeof *Ba), *Bd = malloc(nc * sizeof *Bd);
    memcpy(C, C0, nc * sizeof *C);
    memcpy(O, C0, nc * sizeof *O);
    memcpy(F, C0, nc * sizeof *F);
    sd_gemm(ctx, s->ta, s->tb, s->M, s->N, s->K, s->alpha, A, lda, B, ldb, s->beta, C, ldc);
    (stays_fp32(s) ? sd_gemm_naive : sd_gemm_bf16_naive)(s->ta, s->tb, s->M, s->N, s->K, s->alpha, A, lda, B,
                                                         ldb, s->beta, O, ldc);
    sd_gemm_naive(s->ta, s->tb, s->M, s->N, s->K, s->alpha, A, lda, B, ldb, s->beta, F, ldc);
    for (size_t i = 0; i < na; i++) Aa[i] = fabsf(A[i]);
    for (size_t i = 0; i < nb; i++) Ba[i] = fabsf(B[i]);
    for (size_t i = 0; i < nc; i++) Bd[i] = fabsf(C0[i]);
    sd_gemm_naive(s->ta, s->tb, s->M, s->N, s->K, fabsf(s->alpha), Aa, lda, Ba, ldb, fabsf(s->beta), Bd, ldc);
    int bad = 0;
    for (size_t i = 0; i < nc && bad < 3; i++) {
        int ok = isfinite(C[i]) && fabsf(C[i] - O[i]) <= 1e-4f * Bd[i] + 1e-6f &&
                 fabsf(C[i] - F[i]) <= 0.01f * Bd[i] + 1e-6f;
        if (!ok) {
            bad++;
            fprintf(stderr, "  bf16 ta=%d tb=%d M=%d N=%d K=%d: C[%zu] = %.9g, oracle %.9g, fp32 %.9g (bound %g)\n",
                    s->ta, s->tb, s->M, s->N, s->K, i, C[i], O[i], F[i], Bd[i]);
        }
    }
    /* Same inputs, same context: the same bits. */
    memcpy(O, C0, nc * sizeof *O);
    sd_gemm(ctx, s->ta, s->tb, s->M, s->N, s->K, s->alpha, A, lda, B, ldb, s->beta, O, ldc);
    int same = memcmp(C, O, nc * sizeof *C) == 0;
    free(A); free(B); free(C0); free(C); free(O); free(F); free(Aa); free(Ba); free(Bd);
    return !bad && same;
}

static void test_products(sd_ctx *ctx, sd_rng *r)
{
    static const int fixed[][3] = {
        {1, 1, 1}, {1, 256, 784}, {64, 256, 784}, {256, 784, 64}, {32, 676, 9}, {32, 9, 676},
        {9, 676, 32}, {64, 288, 121}, {7, 1, 300}, {1, 7, 300}, {200, 520, 301}, {5, 1000, 3},
        {193, 513, 257}, {17, 33, 5}, {2, 2, 1000}, {6, 64, 1}, {6, 64, 2}, {7, 65, 3},
    };
    static const float alphas[] = {1.0f, -0.5f, 2.0f}, betas[] = {0.0f, 1.0f, 0.3f};
    int failures = 0, cases = 0;
    for (int f = 0; f < (int)(sizeof fixed / sizeof fixed[0]); f++)
        for (int t = 0; t < 4; t++) {
            struct shape s = { t >> 1, t & 1, fixed[f][0], fixed[f][1], fixed[f][2], alphas[(f + t) % 3], betas[(f + 2 * t) % 3] };
            failures += !run_case(ctx, r, &s);
            cases++;
        }
    for (int n = 0; n < 30; n++) {
        struct shape s = { (int)sd_rng_below(r, 2), (int)sd_rng_below(r, 2), 1 + (int)sd_rng_below(r, 100),
                           1 + (int)sd_rng_below(r, 100), 1 + (int)sd_rng_below(r, 400),
                           alphas[sd_rng_below(r, 3)], betas[sd_rng_below(r, 3)] };
        failures += !run_case(ctx, r, &s);
        cases++;
    }
    CHECK_MSG(failures == 0, "bf16, %d threads: %d of %d cases wrong", sd_ctx_threads(ctx), failures, cases);
    printf("  bf16 %d thread%s: %d cases, %d wrong\n", sd_ctx_threads(ctx), sd_ctx_threads(ctx) > 1 ? "s" : "",
           cases, failures);
}

/* 1 and 2 threads: the same bits (the order of every sum depends on K only). */
static void test_thread_invariance(sd_rng *r)
{
    sd_ctx *c1 = sd_ctx_new(&(sd_ctx_opts){ .threads = 1 }), *c2 = sd_ctx_new(&(sd_ctx_opts){ .threads = 2 });
    CHECK(sd_ctx_set_precision(c1, SD_PRECISION_BF16) == 0 && sd_ctx_set_precision(c2, SD_PRECISION_BF16) == 0);
    static const int shapes[][5] = { {0, 1, 131, 517, 300}, {0, 0, 131, 517, 301}, {1, 0, 100, 500, 100}, {0, 1, 3, 5170, 300} };
    for (int n = 0; n < 4; n++) {
        int ta = shapes[n][0], tb = shapes[n][1], M = shapes[n][2], N = shapes[n][3], K = shapes[n][4];
        float *A = rand_matrix(r, (size_t)M * K, 1.0f), *B = rand_matrix(r, (size_t)K * N, 1.0f);
        float *C1 = calloc((size_t)M * N, sizeof *C1), *C2 = calloc((size_t)M * N, sizeof *C2);
        sd_gemm(c1, ta, tb, M, N, K, 1.0f, A, ta ? M : K, B, tb ? K : N, 0.0f, C1, N);
        sd_gemm(c2, ta, tb, M, N, K, 1.0f, A, ta ? M : K, B, tb ? K : N, 0.0f, C2, N);
        CHECK_MSG(memcmp(C1, C2, sizeof(float) * M * N) == 0, "bf16: 1 vs 2 threads differ (%dx%dx%d)", M, N, K);
        free(A); free(B); free(C1); free(C2);
    }
    sd_ctx_free(c1);
    sd_ctx_free(c2);
}

/* A two-layer network's loss, tanh(x·W1ᵀ)·W2ᵀ squared: its gradients under
 * bf16 against float32's (within bfloat16's error) and against central
 * differences with a step many bfloat16 spacings wide. */
static float net_loss(sd_ctx *ctx, sd_params *P, const float *x, int backward)
{
    sd_graph *g = sd_graph_new(ctx);
    sd_tensor *xin = sd_input(g, x, SD_SHAPE(16, 40));
    sd_tensor *h = sd_tanh(g, sd_matmul(g, xin, sd_param(g, P, 0), SD_TRANS_B));
    sd_tensor *y = sd_matmul(g, h, sd_param(g, P, 1), SD_TRANS_B);
    sd_tensor *loss = sd_sum(g, sd_mul(g, y, y));
    float v = loss ? loss->data[0] : NAN;
    if (backward && loss) CHECK(sd_backward(g, loss) == 0);
    sd_graph_free(g);
    return v;
}

static void test_gradients(sd_rng *r)
{
    sd_ctx *f32 = sd_ctx_new(&(sd_ctx_opts){ .threads = 1 }), *b16 = sd_ctx_new(&(sd_ctx_opts){ .threads = 1 });
    CHECK(sd_ctx_set_precision(b16, SD_PRECISION_BF16) == 0);
    sd_params *P = sd_params_new();
    sd_params_add(P, "w1", SD_SHAPE(24, 40));
    sd_params_add(P, "w2", SD_SHAPE(8, 24));
    for (int id = 0; id < 2; id++) {
        size_t n = sd_shape_numel(sd_params_shape(P, id));
        for (size_t i = 0; i < n; i++) sd_params_data(P, id)[i] = 0.3f * (2.0f * sd_rng_uniform(r) - 1.0f);
    }
    float *x = rand_matrix(r, 16 * 40, 1.0f);
    size_t n0 = 24 * 40, n1 = 8 * 24;
    float *g32 = malloc((n0 + n1) * sizeof *g32);
    sd_params_zero_grad(P);
    net_loss(f32, P, x, 1);
    memcpy(g32, sd_params_grad(P, 0), n0 * sizeof *g32);
    memcpy(g32 + n0, sd_params_grad(P, 1), n1 * sizeof *g32);
    sd_params_zero_grad(P);
    float l16 = net_loss(b16, P, x, 1), l32 = net_loss(f32, P, x, 0);
    CHECK_MSG(fabsf(l16 - l32) <= 0.02f * fabsf(l32), "bf16 loss %g vs fp32 %g", l16, l32);

    double worst_fp32 = 0, worst_fd = 0, gmax = 0;
    for (size_t i = 0; i < n0 + n1; i++) gmax = fmax(gmax, fabsf(g32[i]));
    for (int id = 0; id < 2; id++) {
        size_t n = id ? n1 : n0;
        const float *gb = sd_params_grad(P, id), *gf = g32 + (id ? n0 : 0);
        for (size_t i = 0; i < n; i++) worst_fp32 = fmax(worst_fp32, fabs(gb[i] - gf[i]) / gmax);
        for (size_t i = 0; i < n; i += n / 12) {   /* central differences, step 2^-5 */
            float *w = sd_params_data(P, id) + i, w0 = *w, eps = 1.0f / 32;
            *w = w0 + eps;
            float lp = net_loss(b16, P, x, 0);
            *w = w0 - eps;
            float lm = net_loss(b16, P, x, 0);
            *w = w0;
            worst_fd = fmax(worst_fd, fabs((lp - lm) / (2 * eps) - gb[i]) / gmax);
        }
    }
    printf("  bf16 gradients: worst |bf16 - fp32| %.2g, |bf16 - finite difference| %.2g (of the largest gradient)\n",
           worst_fp32, worst_fd);
    CHECK_MSG(worst_fp32 < 0.03, "bf16 gradients off fp32's by %.3g of the largest", worst_fp32);
    CHECK_MSG(worst_fd < 0.05, "bf16 gradients off central differences by %.3g of the largest", worst_fd);
    free(x); free(g32);
    sd_params_free(P);
    sd_ctx_free(f32);
    sd_ctx_free(b16);
}

int main(void)
{
    sd_rng r;
    sd_rng_seed(&r, 7);
    test_rounding();

    /* Without AVX-512 the context refuses bf16, says why, and stays fp32. */
    setenv("SHENDU_GEMM_KERNEL", "avx2", 1);
    sd_ctx *c = sd_ctx_new(NULL);
    CHECK(sd_ctx_set_precision(c, SD_PRECISION_BF16) == -1);
    CHECK(strstr(sd_last_error(), "AVX512_BF16") != NULL);
    CHECK(sd_ctx_precision(c) == SD_PRECISION_FP32);
    CHECK(sd_ctx_set_precision(c, (sd_precision)7) == -1);
    sd_ctx_free(c);
    unsetenv("SHENDU_GEMM_KERNEL");

    c = sd_ctx_new(&(sd_ctx_opts){ .threads = 1 });
    if (sd_ctx_set_precision(c, SD_PRECISION_BF16) != 0) {
        /* Said, not silent: CI's machines have AVX512_BF16 (Zen 4). */
        printf("test_gemm_bf16: this CPU has no AVX512_BF16 (%s): only the rounding and the refusal were tested\n",
               sd_last_error());
        sd_ctx_free(c);
        return check_done("test_gemm_bf16");
    }
    CHECK(sd_ctx_precision(c) == SD_PRECISION_BF16);
    CHECK(strcmp(sd_ctx_kernel_name(c), "avx512-bf16") == 0);
    test_packing_rounds(c, &r);
    test_products(c, &r);
    sd_ctx_free(c);
    c = sd_ctx_new(&(sd_ctx_opts){ .threads = 2 });
    CHECK(sd_ctx_set_precision(c, SD_PRECISION_BF16) == 0);
    test_products(c, &r);
    CHECK(sd_ctx_set_precision(c, SD_PRECISION_FP32) == 0);
    CHECK(strcmp(sd_ctx_kernel_name(c), "avx512") == 0);
    sd_ctx_free(c);
    test_thread_invariance(&r);
    test_gradients(&r);
    return check_done("test_gemm_bf16");
}
