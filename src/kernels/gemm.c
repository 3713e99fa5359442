/* Matrix multiply: the reference triple loop and the fast packed GEMM.
 *
 * The fast path follows the usual Goto/BLIS structure. For one thread's block
 * of C (rows m0..m1, columns n0..n1):
 *
 *   for jc in n0..n1 step NC                      B block: kc x nc  (L2)
 *     for pc in 0..K step KC                      pack op(B)[pc:pc+kc, jc:jc+nc]
 *       for ic in m0..m1 step MC                  pack op(A)[ic:ic+mc, pc:pc+kc]
 *         for ir in 0..mc step MR                 A panel: MR x kc  (L1)
 *           for jr in 0..nc step NR
 *             micro-kernel: C[ir:ir+MR, jr:jr+NR] (+)= Apanel · Bpanel
 *
 * The micro-kernel (gemm_avx512.c, gemm_avx2.c, gemm_simd128.c in the wasm
 * build, or the portable one below)
 * keeps an MR x NR tile of C in registers and streams the two packed panels.
 * Which kernel runs is decided once per context (CPU check + the environment
 * variable SHENDU_GEMM_KERNEL=generic|avx2|avx512). When C has few rows and B
 * is row-major (transB = 0), the kernel reads B in place instead of a packed
 * copy: with few A panels per B panel, packing costs more than it saves.
 *
 * Threads: C is cut into a grid of disjoint rectangles, one per thread, each
 * computed with that thread's own packing buffers (allocated once, in
 * sd_gemm_state_new; sd_gemm never allocates). Every element of C is summed
 * by one thread in an order fixed by K and the kernel's KC alone, so the
 * result does not even depend on the thread count.
 *
 * A second path covers transA = 0, transB = 1 with a tiny M or N (GEMV-like
 * calls, and weight gradients of convolutions where N = channels*kh*kw is
 * small and K = batch*pixels is huge): dot products of contiguous rows, with
 * no packing at all.
 *
 * Concurrency: one ctx serves one caller at a time. sd_gemm may be called from
 * inside an OpenMP parallel region (one level deep) as long as the team is no
 * larger than ctx's thread count: each caller thread then uses the packing
 * buffers of its own thread number and computes serially. */
#include "engine/internal.h"
#include "gemm_internal.h"
#include "shendu/kernels.h"

#include "engine/parallel.h"
#include <stdlib.h>
#include <string.h>

#ifdef SHENDU_OPENBLAS
#include <cblas.h>
void openblas_set_num_threads(int num_threads);
#endif

#define SD_MIN(a, b) ((a) < (b) ? (a) : (b))
#define SD_MAX(a, b) ((a) > (b) ? (a) : (b))

/* ------------------------------------------------------------------------- */
/* Reference                                                                  */

void sd_gemm_naive(int transA, int transB, int M, int N, int K,
                   float alpha, const float *A, int lda, const float *B, int ldb,
                   float beta, float *C, int ldc)
{
    for (int i = 0; i < M; i++) {
        for (int j = 0; j < N; j++) {
            float sum = 0.0f;
            for (int k = 0; k < K; k++) {
                float a = transA ? A[(size_t)k * lda + i] : A[(size_t)i * lda + k];
                float b = transB ? B[(size_t)j * ldb + k] : B[(size_t)k * ldb + j];
                sum += a * b;
            }
            float *c = &C[(size_t)i * ldc + j];
            *c = beta == 0.0f ? alpha * sum : alpha * sum + beta * *c;
        }
    }
}

/* ------------------------------------------------------------------------- */
/* Portable kernels (compiled for the baseline ISA; the compiler vectorizes   */
/* the inner loops with whatever it may assume, e.g. SSE2 on x86-64).        */

#define GEN_MR 4
#define GEN_NR 8

static void ukernel_generic(int kc, const float *a, const float *b, long ldb, float *c,
                            long ldc, float alpha, float beta, int mr, int nr)
{
    float acc[GEN_MR][GEN_NR] = {{0}};
    for (int k = 0; k < kc; k++) {
        const float *ak = a + k * GEN_MR, *bk = b + k * ldb;
        for (int r = 0; r < GEN_MR; r++)
            for (int j = 0; j < GEN_NR; j++)
                acc[r][j] += ak[r] * bk[j];
    }
    for (int r = 0; r < mr; r++) {
        float *cr = c + r * ldc;
        for (int j = 0; j < nr; j++)
            cr[j] = beta == 0.0f ? alpha * acc[r][j] : alpha * acc[r][j] + beta * cr[j];
    }
}

/* Dot products over 8 interleaved lanes (lane l sums k = l, l+8, ...), then a
 * fixed pairwise reduction: the order depends only on k. */
static float dot_generic(const float *x, const float *y, int k)
{
    float lane[8] = {0};
    int p = 0;
    for (; p + 8 <= k; p += 8)
        for (int l = 0; l < 8; l++) lane[l] += x[p + l] * y[p + l];
    for (int l = 0; p < k; p++, l++) lane[l] += x[p] * y[p];
    return ((lane[0] + lane[4]) + (lane[2] + lane[6])) + ((lane[1] + lane[5]) + (lane[3] + lane[7]));
}

static void dot_kernel_generic(int m, int n, int k, const float *a, long lda,
                               const float *b, long ldb, float *c, long rsc, long csc,
                               float alpha, float beta)
{
    for (int i = 0; i < m; i++)
        for (int j = 0; j < n; j++) {
            float s = alpha * dot_generic(a + i * lda, b + j * ldb, k);
            float *cij = c + i * rsc + j * csc;
            *cij = beta == 0.0f ? s : s + beta * *cij;
        }
}

static const struct sd_gemm_arch arch_generic = {
    .name = "generic", .mr = GEN_MR, .nr = GEN_NR, .nu = GEN_NR, .mc = 128, .kc = 256, .nc = 512,
    .kernel = ukernel_generic, .dot = dot_kernel_generic, .pack = sd_gemm_pack_ref,
};

/* ------------------------------------------------------------------------- */
/* State: the chosen kernel and one pair of packing buffers per thread.       */

struct sd_gemm_state {
    const struct sd_gemm_arch *arch;
    const struct sd_gemm_arch *bf16;   /* the bfloat16 kernel, NULL where the CPU has none */
    int use_bf16;                      /* SD_PRECISION_BF16 asked and available */
    int threads;
    float *apack[SD_MAX_THREADS];   /* mc x kc (+ slack), 64-byte aligned */
    float *bpack[SD_MAX_THREADS];   /* kc x nc (+ slack) */
};

static int cpu_has_avx2(void);

static int cpu_has_avx512(void)
{
#if defined(__x86_64__) || defined(__i386__)
    __builtin_cpu_init();
    return __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512vl") &&
           __builtin_cpu_supports("fma");
#else
    return 0;
#endif
}

static int cpu_has_avx512_bf16(void)
{
#if defined(__x86_64__) || defined(__i386__)
    __builtin_cpu_init();
    return cpu_has_avx512() && cpu_has_avx2() && __builtin_cpu_supports("avx512bw") &&
           __builtin_cpu_supports("avx512bf16");
#else
    return 0;
#endif
}

static int cpu_has_avx2(void)
{
#if defined(__x86_64__) || defined(__i386__)
    __builtin_cpu_init();
    return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
#else
    return 0;
#endif
}

/* The best kernel this CPU runs, or a weaker one if SHENDU_GEMM_KERNEL asks
 * (asking for more than the CPU has falls back to the best it has). */
static const struct sd_gemm_arch *choose_arch(void)
{
#ifdef __wasm_simd128__
    /* WebAssembly: the SIMD128 kernel is chosen at build time (no CPU to ask). */
    const char *wenv = getenv("SHENDU_GEMM_KERNEL");
    return wenv && strcmp(wenv, "generic") == 0 ? &arch_generic : &sd_gemm_arch_simd128;
#endif
    int best = cpu_has_avx512() ? 2 : cpu_has_avx2() ? 1 : 0;
    const char *env = getenv("SHENDU_GEMM_KERNEL");
    int want = best;
    if (env && strcmp(env, "generic") == 0) want = 0;
    else if (env && strcmp(env, "avx2") == 0) want = 1;
    else if (env && strcmp(env, "avx512") == 0) want = 2;
    if (want > best) want = best;
    if (want == 2 && cpu_has_avx512() && cpu_has_avx2()) return &sd_gemm_arch_avx512;
    if (want >= 1 && cpu_has_avx2()) return &sd_gemm_arch_avx2;
    return &arch_generic;
}

static size_t round_up(size_t x, size_t to) { return (x + to - 1) / to * to; }

static float *alloc_floats(size_t n)
{
    return aligned_alloc(64, round_up(n * sizeof(float), 64));
}

struct sd_gemm_state *sd_gemm_state_new(int threads)
{
    if (threads < 1 || threads > SD_MAX_THREADS) {
        sd_error("gemm: thread count must be between 1 and %d, got %d", SD_MAX_THREADS, threads);
        return NULL;
    }
    struct sd_gemm_state *s = calloc(1, sizeof *s);
    if (!s) { sd_error("gemm: out of memory"); return NULL; }
    s->arch = choose_arch();
    /* bfloat16 runs beside the float kernel it extends (SHENDU_GEMM_KERNEL
     * asking for less than AVX-512 leaves it out too). */
    s->bf16 = s->arch == &sd_gemm_arch_avx512 && cpu_has_avx512_bf16() ? &sd_gemm_arch_avx512_bf16 : NULL;
    s->threads = threads;
    const struct sd_gemm_arch *ar = s->arch;
    size_t asize = round_up((size_t)ar->mc, (size_t)ar->mr) * (size_t)ar->kc + 16;
    size_t bsize = (size_t)ar->kc * round_up((size_t)ar->nc, (size_t)ar->nr) + 16;
    for (int t = 0; t < threads; t++) {
        s->apack[t] = alloc_floats(asize);
        s->bpack[t] = alloc_floats(bsize);
        if (!s->apack[t] || !s->bpack[t]) {
            sd_gemm_state_free(s);
            sd_error("gemm: out of memory for packing buffers (%d threads)", threads);
            return NULL;
        }
    }
    return s;
}

void sd_gemm_state_free(struct sd_gemm_state *s)
{
    if (!s) return;
    for (int t = 0; t < s->threads; t++) { free(s->apack[t]); free(s->bpack[t]); }
    free(s);
}

const char *sd_gemm_kernel_name(const struct sd_gemm_state *s)
{
#ifdef SHENDU_OPENBLAS
    (void)s;
    return "openblas (-DSHENDU_BLAS=openblas)";
#else
    return s->use_bf16 ? s->bf16->name : s->arch->name;
#endif
}

int sd_gemm_state_set_bf16(struct sd_gemm_state *s, int on)
{
#ifdef SHENDU_OPENBLAS
    if (on) return -1;
#endif
    if (on && !s->bf16) return -1;
    s->use_bf16 = on != 0;
    return 0;
}

/* ------------------------------------------------------------------------- */
/* Packing                                                                    */

void sd_gemm_pack_ref(const float *x, long ldx, int kmajor, int n, int kc, int P, float *dst)
{
    if (kmajor) {
        /* Row k of x holds all n values for that k: walk it once, left to
         * right, dealing runs of P to the panels (one long read stream). */
        for (int k = 0; k < kc; k++) {
            const float *s = x + (size_t)k * ldx;
            for (int i0 = 0; i0 < n; i0 += P) {
                int live = SD_MIN(P, n - i0);
                float *dk = dst + (size_t)i0 * kc + (size_t)k * P;
                for (int r = 0; r < live; r++) dk[r] = s[i0 + r];
                for (int r = live; r < P; r++) dk[r] = 0.0f;
            }
        }
        return;
    }
    /* Each of the n rows is contiguous in k: transpose, in k chunks that
     * stay in L1. */
    for (int i0 = 0; i0 < n; i0 += P) {
        int live = SD_MIN(P, n - i0);
        float *d = dst + (size_t)i0 * kc;
        for (int k0 = 0; k0 < kc; k0 += 64) {
            int k1 = SD_MIN(kc, k0 + 64);
            for (int r = 0; r < live; r++) {
                const float *s = x + (size_t)(i0 + r) * ldx;
                for (int k = k0; k < k1; k++) d[(size_t)k * P + r] = s[k];
            }
            for (int r = live; r < P; r++)
                for (int k = k0; k < k1; k++) d[(size_t)k * P + r] = 0.0f;
        }
    }
}

/* ------------------------------------------------------------------------- */
/* The blocked serial GEMM on one rectangle of C.                             */

struct gemm_args {
    int transA, transB, M, N, K;
    float alpha, beta;
    const float *A, *B;
    float *C;
    long lda, ldb, ldc;
    int kc;   /* K block, a function of K and the kernel only (fixes the sum order) */
};

/* Split n into pieces of at most `block`, equal up to a multiple of `unit`. */
static int balanced_block(int n, int block, int unit)
{
    int pieces = (n + block - 1) / block;
    int b = (n + pieces - 1) / pieces;
    b = (b + unit - 1) / unit * unit;
    return SD_MIN(b, block);
}

#define DIRECT_B_MAX_ROWS 128

static void gemm_rect(const struct sd_gemm_arch *ar, const struct gemm_args *g,
                      int m0, int m1, int n0, int n1, float *apack, float *bpack)
{
    const int MR = ar->mr, NR = ar->nr;
    const int NC = balanced_block(n1 - n0, ar->nc, NR);
    const int MC = balanced_block(m1 - m0, ar->mc, MR);
    /* A row-major B is read in place when few A panels share each B panel
     * (packing would cost about as much as it saves); a tall C amortises the
     * packing and gains from the contiguous, TLB-friendly panels. The kernel
     * does the same arithmetic either way. */
    const int direct = !g->transB && !ar->pairs && m1 - m0 <= DIRECT_B_MAX_ROWS;
    for (int jc = n0; jc < n1; jc += NC) {
        int nc = SD_MIN(NC, n1 - jc);
        for (int pc = 0; pc < g->K; pc += g->kc) {
            int kc = SD_MIN(g->kc, g->K - pc);
            float beta = pc == 0 ? g->beta : 1.0f;
            /* op(B)[pc:pc+kc, jc:jc+nc]: B is K x N (k-major) unless transB.
             * In direct mode the kernel reads B in place; only a last, partial
             * panel is packed (zero-padded, so the kernel never reads past N). */
            int nfull = direct ? nc / NR * NR : 0;
            const float *bsrc = g->B + (size_t)pc * g->ldb + jc;
            if (g->transB) ar->pack(g->B + (size_t)jc * g->ldb + pc, g->ldb, 0, nc, kc, NR, bpack);
            else if (nfull < nc) ar->pack(bsrc + nfull, g->ldb, 1, nc - nfull, kc, NR, bpack + (size_t)nfull * kc);
            for (int ic = m0; ic < m1; ic += MC) {
                int mc = SD_MIN(MC, m1 - ic);
                /* op(A)[ic:ic+mc, pc:pc+kc]: A is M x K (rows contiguous in k) unless transA. */
                if (g->transA) ar->pack(g->A + (size_t)pc * g->lda + ic, g->lda, 1, mc, kc, MR, apack);
                else ar->pack(g->A + (size_t)ic * g->lda + pc, g->lda, 0, mc, kc, MR, apack);
                for (int ir = 0; ir < mc; ir += MR) {
                    const float *ap = apack + (size_t)ir * kc;
                    float *crow = g->C + (size_t)(ic + ir) * g->ldc + jc;
                    int mr = SD_MIN(MR, mc - ir);
                    for (int jr = 0; jr < nc; jr += NR) {
                        const float *bp = jr < nfull ? bsrc + jr : bpack + (size_t)jr * kc;
                        long ldb = jr < nfull ? g->ldb : NR;
                        ar->kernel(kc, ap, bp, ldb, crow + jr, g->ldc, g->alpha, beta, mr,
                                   SD_MIN(NR, nc - jr));
                    }
                }
            }
        }
    }
}

/* ------------------------------------------------------------------------- */
/* Work split                                                                 */

/* Below this many flops per thread, extra threads cost more than they save
 * (measured on products repeated back to back, operands in every core's cache;
 * a caller whose operands were just written by one core may cap the threads:
 * sd_gemm_on). */
#define MIN_FLOPS_PER_THREAD (2.0 * 64 * 64 * 64)

/* A tm x tn grid of rectangles over C, cut between rows at multiples of MR
 * and between columns at multiples of the kernel's vector (nu), chosen to minimise
 * the largest rectangle's cost: padded multiply-adds plus packing (A is
 * packed once per NC block, B once). */
static void choose_grid(const struct sd_gemm_arch *ar, int M, int N, int K, int threads,
                        int *tm_out, int *tn_out)
{
    double flops = 2.0 * M * N * K;
    int t = (int)SD_MIN((double)threads, SD_MAX(1.0, flops / MIN_FLOPS_PER_THREAD));
    int mt = (M + ar->mr - 1) / ar->mr, nt = (N + ar->nu - 1) / ar->nu;
    double best = -1.0;
    *tm_out = *tn_out = 1;
    for (int tm = 1; tm <= t; tm++) {
        int tn = t / tm;
        if (tm > mt || tn > nt) continue;
        double rows = (double)((mt + tm - 1) / tm) * ar->mr;
        double cols = (double)((nt + tn - 1) / tn) * ar->nu;
        double pack_a = rows * K * ((cols + ar->nc - 1) / ar->nc);
        double pack_b = cols * K;
        double cost = rows * cols * K + 8.0 * (pack_a + pack_b);
        /* Prefer using more threads: a grid with tm*tn < t only wins if it is
         * clearly cheaper per thread. */
        if (best < 0 || cost < best * 0.999) { best = cost; *tm_out = tm; *tn_out = tn; }
    }
}

/* Piece p of n items split into `parts` nearly equal runs of whole units. */
static void split_range(int n, int unit, int parts, int p, int *lo, int *hi)
{
    int units = (n + unit - 1) / unit;
    int u0 = (int)((long)units * p / parts), u1 = (int)((long)units * (p + 1) / parts);
    *lo = SD_MIN(n, u0 * unit);
    *hi = SD_MIN(n, u1 * unit);
}

/* ------------------------------------------------------------------------- */
/* The dot-product path (transA = 0, transB = 1, small M or N).              */

#define DOT_MAX_M 4
#define DOT_MAX_N 16
#define DOT_MIN_K 16
#define BF16_MIN_K 32   /* see sd_gemm_on; tests/test_gemm_bf16.c mirrors the rule */

static void gemm_dot(const struct sd_gemm_arch *ar, const struct gemm_args *g, int threads)
{
    double flops = 2.0 * g->M * g->N * g->K;
    int t = (int)SD_MIN((double)threads, SD_MAX(1.0, flops / MIN_FLOPS_PER_THREAD));
    int along_m = g->M >= g->N;            /* split the longer side of C */
    int len = along_m ? g->M : g->N;
    int unit = 4;
    t = SD_MIN(t, (len + unit - 1) / unit);
    if (t <= 1) {
        ar->dot(g->M, g->N, g->K, g->A, g->lda, g->B, g->ldb, g->C, g->ldc, 1, g->alpha, g->beta);
        return;
    }
    #pragma omp parallel num_threads(t)
    {
        int nt = omp_get_num_threads();
        for (int p = omp_get_thread_num(); p < t; p += nt) {
            int lo, hi;
            split_range(len, unit, t, p, &lo, &hi);
            if (hi <= lo) continue;
            if (along_m)
                ar->dot(hi - lo, g->N, g->K, g->A + (size_t)lo * g->lda, g->lda, g->B, g->ldb,
                        g->C + (size_t)lo * g->ldc, g->ldc, 1, g->alpha, g->beta);
            else
                ar->dot(g->M, hi - lo, g->K, g->A, g->lda, g->B + (size_t)lo * g->ldb, g->ldb,
                        g->C + lo, g->ldc, 1, g->alpha, g->beta);
        }
    }
}

/* ------------------------------------------------------------------------- */
/* Entry point                                                                */

/* C = beta * C for K == 0 or alpha == 0 (beta == 0: zeros, C not read). */
static void scale_c(int M, int N, float beta, float *C, long ldc)
{
    for (int i = 0; i < M; i++) {
        float *c = C + (size_t)i * ldc;
        if (beta == 0.0f) memset(c, 0, (size_t)N * sizeof(float));
        else if (beta != 1.0f) for (int j = 0; j < N; j++) c[j] *= beta;
    }
}

void sd_gemm(sd_ctx *ctx, int transA, int transB, int M, int N, int K,
             float alpha, const float *A, int lda, const float *B, int ldb,
             float beta, float *C, int ldc)
{
    sd_gemm_on(ctx, 0, transA, transB, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
}

void sd_gemm_on(sd_ctx *ctx, int max_threads, int transA, int transB, int M, int N, int K,
                float alpha, const float *A, int lda, const float *B, int ldb,
                float beta, float *C, int ldc)
{
    if (M <= 0 || N <= 0) return;
    if (K <= 0 || alpha == 0.0f) { scale_c(M, N, beta, C, ldc); return; }
#ifdef SHENDU_OPENBLAS
    /* The comparison build: the same contract through OpenBLAS, on the
     * context's thread count (a call from inside a parallel region: one). */
    openblas_set_num_threads(omp_in_parallel() ? 1 : ctx->gemm->threads);
    cblas_sgemm(CblasRowMajor, transA ? CblasTrans : CblasNoTrans, transB ? CblasTrans : CblasNoTrans, M, N, K,
                alpha, A, lda, B, ldb, beta, C, ldc);   /* OpenBLAS fills C with zeros for beta 0 */
    return;
#endif

    struct sd_gemm_state *s = ctx->gemm;
    const struct sd_gemm_arch *ar = s->arch;
    struct gemm_args g = {
        .transA = transA != 0, .transB = transB != 0, .M = M, .N = N, .K = K,
        .alpha = alpha, .beta = beta, .A = A, .B = B, .C = C,
        .lda = lda, .ldb = ldb, .ldc = ldc, .kc = balanced_block(K, ar->kc, 8),
    };

    /* Called from inside a parallel region: run serially on this thread's
     * buffers (or, if there are none for it, on the reference loop). */
    int caller = 0, threads = max_threads > 0 && max_threads < s->threads ? max_threads : s->threads;
    if (omp_in_parallel()) {
        caller = omp_get_thread_num();
        threads = 1;
        if (omp_get_active_level() > 1 || caller >= s->threads) {
            sd_gemm_naive(transA, transB, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
            return;
        }
    }

    /* A single row or column that is contiguous reads the same either way. */
    if (M == 1 && g.transA && lda == 1) { g.transA = 0; g.lda = K; }
    if (N == 1 && !g.transB && ldb == 1) { g.transB = 1; g.ldb = K; }

    /* Thin products of k-contiguous operands: dot products, no packing. */
    const int thin = !g.transA && g.transB && (M <= DOT_MAX_M || N <= DOT_MAX_N) && K >= DOT_MIN_K;

    /* bfloat16 where it pays: thin products and short sums (K < BF16_MIN_K)
     * are bound by reading their operands, and packing them as pairs would
     * cost more than the products gain; they stay float32. */
    if (s->use_bf16 && !thin && K >= BF16_MIN_K) {
        ar = s->bf16;
        g.kc = balanced_block(K, ar->kc, 8);
    }

    if (thin) {
        gemm_dot(ar, &g, threads);
        return;
    }

    int tm, tn;
    choose_grid(ar, M, N, K, threads, &tm, &tn);
    if (tm * tn == 1) {
        gemm_rect(ar, &g, 0, M, 0, N, s->apack[caller], s->bpack[caller]);
        return;
    }
    int parts = tm * tn;
    #pragma omp parallel num_threads(parts)
    {
        int t = omp_get_thread_num(), nt = omp_get_num_threads();
        for (int p = t; p < parts; p += nt) {
            int m0, m1, n0, n1;
            split_range(M, ar->mr, tm, p / tn, &m0, &m1);
            split_range(N, ar->nu, tn, p % tn, &n0, &n1);
            if (m1 > m0 && n1 > n0)
                gemm_rect(ar, &g, m0, m1, n0, n1, s->apack[t], s->bpack[t]);
        }
    }
}
