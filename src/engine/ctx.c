/* The context: thread count and the GEMM workspaces, made once per run. */
#define _POSIX_C_SOURCE 200809L
#include "engine/internal.h"

#include <stdlib.h>
#include <time.h>
#include <unistd.h>

int sd_cpu_cores(void)
{
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    return n > 0 ? (int)n : 1;
}

sd_ctx *sd_ctx_new(const sd_ctx_opts *opts)
{
    int threads = opts ? opts->threads : 0;
    if (threads < 0 || threads > SD_MAX_THREADS) {
        sd_error("threads must be between 0 (all cores) and %d, got %d", SD_MAX_THREADS, threads);
        return NULL;
    }
    sd_ctx *ctx = calloc(1, sizeof *ctx);
    if (!ctx) { sd_error("out of memory allocating the context"); return NULL; }
    ctx->threads = threads ? threads : sd_cpu_cores();
    ctx->gemm = sd_gemm_state_new(ctx->threads);
    if (!ctx->gemm) { free(ctx); return NULL; }
    return ctx;
}

void sd_ctx_free(sd_ctx *ctx)
{
    if (!ctx) return;
    sd_gemm_state_free(ctx->gemm);
    free(ctx);
}

int sd_ctx_threads(const sd_ctx *ctx) { return ctx->threads; }

const char *sd_ctx_kernel_name(const sd_ctx *ctx) { return sd_gemm_kernel_name(ctx->gemm); }

double sd_time_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}
