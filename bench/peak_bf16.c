/* bench_peak_bf16: this CPU's measured multiply-add peak for float32 FMA and
 * for bfloat16 dot products (vdpbf16ps), on 1 thread and on N, so that
 * benchmarks can say what fraction of each peak a workload reaches.
 *
 * Each thread keeps `CHAINS` independent zmm accumulators and updates each
 * once per iteration (enough chains to cover latency x pipes). A 512-bit FMA
 * is 16 lanes x 2 flops = 32 flops; a 512-bit vdpbf16ps adds two products
 * per lane: 64 flops.
 *
 *   bench_peak_bf16 [threads]      prints one JSON line */
#include "shendu/base.h"

#include <stdio.h>
#include <stdlib.h>

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#include <omp.h>

#define CHAINS 12
#define ITERS 50000000L

__attribute__((target("avx512f,fma"))) static float run_fma(long iters, float seed)
{
    __m512 acc[CHAINS];
    const __m512 a = _mm512_set1_ps(0.9999999f), b = _mm512_set1_ps(1e-8f);
    for (int i = 0; i < CHAINS; i++) acc[i] = _mm512_set1_ps(seed + (float)i);
    for (long it = 0; it < iters; it++) {
        #pragma GCC unroll 16
        for (int i = 0; i < CHAINS; i++) acc[i] = _mm512_fmadd_ps(acc[i], a, b);
    }
    for (int i = 1; i < CHAINS; i++) acc[0] = _mm512_add_ps(acc[0], acc[i]);
    return _mm512_reduce_add_ps(acc[0]);
}

__attribute__((target("avx512f,avx512bf16"))) static float run_dpbf16(long iters, float seed)
{
    __m512 acc[CHAINS];
    const __m512bh a = _mm512_cvtne2ps_pbh(_mm512_set1_ps(0.5f), _mm512_set1_ps(0.25f));
    const __m512bh b = _mm512_cvtne2ps_pbh(_mm512_set1_ps(1e-8f), _mm512_set1_ps(-1e-8f));
    for (int i = 0; i < CHAINS; i++) acc[i] = _mm512_set1_ps(seed + (float)i);
    for (long it = 0; it < iters; it++) {
        #pragma GCC unroll 16
        for (int i = 0; i < CHAINS; i++) acc[i] = _mm512_dpbf16_ps(acc[i], a, b);
    }
    for (int i = 1; i < CHAINS; i++) acc[0] = _mm512_add_ps(acc[0], acc[i]);
    return _mm512_reduce_add_ps(acc[0]);
}

/* GFLOP/s of `threads` threads each running kernel k (0 FMA, 1 bf16). */
static double measure(int threads, int k)
{
    double best = 0.0;
    for (int trial = 0; trial < 3; trial++) {
        float sink = 0.0f;
        double t0 = sd_time_now();
        #pragma omp parallel num_threads(threads) reduction(+ : sink)
        sink += k ? run_dpbf16(ITERS, (float)omp_get_thread_num()) : run_fma(ITERS, (float)omp_get_thread_num());
        double dt = sd_time_now() - t0;
        if (sink == 12345.0f) printf(" ");   /* keep the result alive */
        double flops = (double)threads * ITERS * CHAINS * (k ? 64.0 : 32.0);
        if (flops / dt > best) best = flops / dt;
    }
    return best * 1e-9;
}

int main(int argc, char **argv)
{
    int threads = argc > 1 ? atoi(argv[1]) : sd_cpu_cores();
    __builtin_cpu_init();
    if (!__builtin_cpu_supports("avx512f") || !__builtin_cpu_supports("avx512bf16")) {
        fprintf(stderr, "bench_peak_bf16: this CPU has no AVX512_BF16\n");
        return 1;
    }
    printf("{\"fp32_fma_gflops_1\": %.1f, \"bf16_dp_gflops_1\": %.1f, \"threads\": %d, "
           "\"fp32_fma_gflops\": %.1f, \"bf16_dp_gflops\": %.1f}\n",
           measure(1, 0), measure(1, 1), threads, measure(threads, 0), measure(threads, 1));
    return 0;
}
#else
int main(void)
{
    fprintf(stderr, "bench_peak_bf16: x86-64 only\n");
    return 1;
}
#endif
