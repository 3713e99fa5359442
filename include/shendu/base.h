/* shendu/base.h — the context, errors and the random-number generator.
 *
 * Errors: a library function that can fail returns -1 (int functions) or NULL
 * (constructors) and leaves a one-line message readable with sd_last_error().
 * The message buffer is per thread; nothing else in shendu is global. */
#ifndef SHENDU_BASE_H
#define SHENDU_BASE_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define SHENDU_VERSION "0.1.0"

/* The message of the last failed call on this thread ("" if none). */
const char *sd_last_error(void);
/* Set the message (printf-style) and return -1; for modules built on shendu. */
int sd_error(const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 1, 2)))
#endif
    ;
/* Prefix the current message: "context: message". Returns -1. */
int sd_error_prefix(const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 1, 2)))
#endif
    ;

/* ---- RNG: xoshiro256** seeded by splitmix64. A plain value: copy it to fork,
 * store its four words to checkpoint it. Same seed -> same stream everywhere. */
typedef struct sd_rng { uint64_t s[4]; } sd_rng;

void     sd_rng_seed(sd_rng *r, uint64_t seed);
uint64_t sd_rng_u64(sd_rng *r);
float    sd_rng_uniform(sd_rng *r);                 /* [0, 1) */
float    sd_rng_normal(sd_rng *r);                  /* N(0, 1), Box-Muller */
uint32_t sd_rng_below(sd_rng *r, uint32_t n);       /* uniform in [0, n), unbiased */
void     sd_rng_shuffle(sd_rng *r, int32_t *a, size_t n);  /* Fisher-Yates */

/* ---- Context: thread count and kernel workspaces. One per training run. */
typedef struct sd_ctx sd_ctx;
typedef struct sd_ctx_opts {
    int threads;      /* 0 = all online cores; built without OpenMP (wasm): always 1 */
} sd_ctx_opts;

sd_ctx *sd_ctx_new(const sd_ctx_opts *opts);        /* opts may be NULL */
void    sd_ctx_free(sd_ctx *ctx);                   /* NULL is a no-op */
int     sd_ctx_threads(const sd_ctx *ctx);
int     sd_cpu_cores(void);                         /* online cores */
/* Which GEMM micro-kernel this CPU runs: "avx512", "avx2", "generic" (and
 * "avx512-bf16" under SD_PRECISION_BF16). */
const char *sd_ctx_kernel_name(const sd_ctx *ctx);

/* Precision of the matrix products (sd_gemm: linear layers, convolutions,
 * recurrent gates). FP32 is the default. BF16 is mixed precision: operands
 * rounded to bfloat16, products summed in float32; weights, optimizer state,
 * losses and normalisations stay float32. Products bound by memory rather than
 * arithmetic (K < 32, or a side of at most 4 rows / 16 columns with both
 * operands contiguous in k) stay float32. Needs a CPU with AVX512_BF16:
 * elsewhere sd_ctx_set_precision returns -1 (sd_last_error says why) and the
 * context stays in FP32. */
typedef enum { SD_PRECISION_FP32 = 0, SD_PRECISION_BF16 = 1 } sd_precision;
int          sd_ctx_set_precision(sd_ctx *ctx, sd_precision p);
sd_precision sd_ctx_precision(const sd_ctx *ctx);

/* Monotonic seconds, for progress lines and benchmarks. */
double sd_time_now(void);

#ifdef __cplusplus
}
#endif
#endif
