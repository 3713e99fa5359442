/* The context: thread count and the GEMM workspaces, made once per run. */
#define _POSIX_C_SOURCE 200809L
#include "engine/internal.h"
#include "engine/parallel.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

int sd_cpu_cores(void)
{
    if (!SD_HAVE_OPENMP) return 1;   /* built without OpenMP (wasm): one thread does everything */
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
    /* Built without OpenMP (wasm) every parallel region is a team of one,
     * whatever count it names: a context with more threads would size work
     * shares for threads that never run (conv's weight gradient did). */
    ctx->threads = !SD_HAVE_OPENMP ? 1 : threads ? threads : sd_cpu_cores();
    ctx->gemm = sd_gemm_state_new(ctx->threads);
    if (!ctx->gemm) { free(ctx); return NULL; }
    return ctx;
}

void sd_ctx_free(sd_ctx *ctx)
{
    if (!ctx) return;
    sd_gemm_state_free(ctx->gemm);
    for (int i = 0; i < SD_XFORM_ENTRIES; i++) free(ctx->xform[i].copy);
    free(ctx);
}

/* Transformed weights. Inference runs the same weights again and again, and
 * transforming them can cost as much as the rest of a small layer (Winograd's
 * U for the CNN's conv2: 15 µs of a 60 µs batch-1 convolution). An entry is
 * reused only while the weights' contents equal the copy taken when it was
 * made: a comparison (under 1 µs there) catches every change, whoever wrote it —
 * an optimizer step, a loaded file, a caller writing through a pointer. */
#define SD_XFORM_MAX_FLOATS ((size_t)1 << 20)   /* copy + transform: 4 MB an entry */

/* 1 if the n floats at a and b have the same bits: blocks of 64 words XORed
 * together (a loop every compiler vectorises), leaving at the first block that
 * differs. memcmp would do as well natively, but WebAssembly's libc compares
 * byte by byte: a fifth of the page's batch-1 CNN time went there. */
static int same_bits(const float *a, const float *b, size_t n)
{
    const uint32_t *x = (const uint32_t *)(const void *)a, *y = (const uint32_t *)(const void *)b;
    size_t i = 0;
    for (; i + 64 <= n; i += 64) {
        uint32_t d = 0;
        for (int j = 0; j < 64; j++) d |= x[i + j] ^ y[i + j];
        if (d) return 0;
    }
    uint32_t d = 0;
    for (; i < n; i++) d |= x[i] ^ y[i];
    return d == 0;
}

float *sd_ctx_transformed(sd_ctx *ctx, int kind, const float *w, size_t nw, size_t nu, int *fresh)
{
    *fresh = 0;
    if (!ctx || nw + nu > SD_XFORM_MAX_FLOATS) return NULL;
    sd_xform *e = NULL, *victim = &ctx->xform[0];
    for (int i = 0; i < SD_XFORM_ENTRIES; i++) {
        sd_xform *x = &ctx->xform[i];
        if (x->kind == kind && x->w == w && x->nw == nw && x->nu == nu) { e = x; break; }
        if (x->used < victim->used) victim = x;
    }
    if (e && same_bits(e->copy, w, nw)) {
        e->used = ++ctx->xform_clock;
        *fresh = 1;
        return e->u;
    }
    if (!e) {                                 /* the least recently used entry makes room */
        e = victim;
        free(e->copy);
        *e = (sd_xform){ 0 };                 /* free, should the allocation fail */
        float *buf = malloc((nw + nu) * sizeof *w);
        if (!buf) return NULL;
        *e = (sd_xform){ .kind = kind, .w = w, .nw = nw, .nu = nu, .copy = buf, .u = buf + nw };
    }
    memcpy(e->copy, w, nw * sizeof *w);
    e->used = ++ctx->xform_clock;
    return e->u;
}

int sd_ctx_threads(const sd_ctx *ctx) { return ctx->threads; }

const char *sd_ctx_kernel_name(const sd_ctx *ctx) { return sd_gemm_kernel_name(ctx->gemm); }

int sd_ctx_set_precision(sd_ctx *ctx, sd_precision p)
{
    if (p != SD_PRECISION_FP32 && p != SD_PRECISION_BF16) {
        sd_error("precision must be SD_PRECISION_FP32 or SD_PRECISION_BF16, got %d", (int)p);
        return -1;
    }
    if (sd_gemm_state_set_bf16(ctx->gemm, p == SD_PRECISION_BF16) != 0) {
        sd_error("bf16 precision needs a CPU with AVX512_BF16 (and shendu's own GEMM kernels, "
                 "AVX-512 not turned off by SHENDU_GEMM_KERNEL): this one runs '%s'; use fp32",
                 sd_gemm_kernel_name(ctx->gemm));
        return -1;
    }
    ctx->precision = p;
    return 0;
}

sd_precision sd_ctx_precision(const sd_ctx *ctx) { return ctx->precision; }

double sd_time_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}
