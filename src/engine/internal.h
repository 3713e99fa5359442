/* Internal to libshendu: the context's layout and helpers shared by modules. */
#ifndef SHENDU_INTERNAL_H
#define SHENDU_INTERNAL_H

#include "shendu/base.h"

#define SD_MAX_THREADS 256

struct sd_gemm_state;  /* per-thread packing buffers, owned by src/kernels/gemm.c */

/* Weights transformed for a kernel (Winograd's U), kept between calls. */
#define SD_XFORM_ENTRIES 8
typedef struct sd_xform {
    int kind;                 /* which transform (SD_XFORM_*); 0: the entry is free */
    const float *w;           /* the weights it was made from, and a copy of their contents */
    size_t nw, nu;
    float *copy, *u;
    unsigned long long used;  /* for least-recently-used replacement */
} sd_xform;
enum { SD_XFORM_WINOGRAD = 1 };

struct sd_ctx {
    int threads;
    sd_precision precision;   /* of sd_gemm's products (sd_ctx_set_precision) */
    struct sd_gemm_state *gemm;
    sd_xform xform[SD_XFORM_ENTRIES];
    unsigned long long xform_clock;
};

/* A buffer of nu floats for transform `kind` of the nw weights at w, kept in
 * ctx between calls. *fresh = 1: it was made from weights equal to w's current
 * contents (use it as it is); *fresh = 0: w's contents are recorded now and the
 * caller fills the buffer. NULL if it would be large or memory is short: the
 * caller transforms into its own scratch. (src/engine/ctx.c) */
float *sd_ctx_transformed(sd_ctx *ctx, int kind, const float *w, size_t nw, size_t nu, int *fresh);

/* Implemented in src/kernels/gemm.c; called by sd_ctx_new / sd_ctx_free. */
struct sd_gemm_state *sd_gemm_state_new(int threads);
void sd_gemm_state_free(struct sd_gemm_state *s);
const char *sd_gemm_kernel_name(const struct sd_gemm_state *s);
/* Products in bfloat16 (on = 1) or float32; -1 when this CPU (or an OpenBLAS
 * build) has no bfloat16 kernel. */
int sd_gemm_state_set_bf16(struct sd_gemm_state *s, int on);

#endif
