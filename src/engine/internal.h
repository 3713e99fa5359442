/* Internal to libshendu: the context's layout and helpers shared by modules. */
#ifndef SHENDU_INTERNAL_H
#define SHENDU_INTERNAL_H

#include "shendu/base.h"

#define SD_MAX_THREADS 256

struct sd_gemm_state;  /* per-thread packing buffers, owned by src/kernels/gemm.c */

struct sd_ctx {
    int threads;
    struct sd_gemm_state *gemm;
};

/* Implemented in src/kernels/gemm.c; called by sd_ctx_new / sd_ctx_free. */
struct sd_gemm_state *sd_gemm_state_new(int threads);
void sd_gemm_state_free(struct sd_gemm_state *s);
const char *sd_gemm_kernel_name(const struct sd_gemm_state *s);

#endif
