/* libFuzzer harness: a model built from a fuzzed architecture string AND run on
 * one batch, forward and backward, under a memory limit (issue 15). A model
 * whose planned activations pass the limit must be refused before it runs; one
 * that runs must stay within its plan, so that a shape whose activations the
 * plan misses (an op's scratch, an overflow) is found here as a crash. */
#include "shendu.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define LIMIT ((uint64_t)64 << 20)   /* 64 MiB of activations: libFuzzer's RSS limit is far above */

static void run(const char *arch, sd_shape in, sd_ctx *ctx)
{
    sd_rng rng;
    sd_rng_seed(&rng, 1);
    /* a parameter limit as a small model file's size sets one in sd_model_load */
    sd_model_opts o = { .rng = &rng, .max_params = 1 << 18, .max_memory = LIMIT };
    sd_model *m = sd_model_new_with(arch, in, &o);
    if (!m) return;
    const int batch = 2;
    sd_model_plan plan;
    if (sd_model_plan_memory(m, batch, 1, &plan) || plan.bytes > LIMIT) { sd_model_free(m); return; }
    size_t n = (size_t)batch * sd_shape_numel(in);
    float *x = malloc(n * sizeof *x);
    sd_graph *g = sd_graph_new(ctx);
    if (x && g) {
        for (size_t i = 0; i < n; i++) x[i] = (float)((i * 37) % 19) / 9.0f - 1.0f;
        int d[4] = { batch, in.d[0], in.ndim > 1 ? in.d[1] : 0, in.ndim > 2 ? in.d[2] : 0 };
        sd_tensor *y = sd_model_forward(g, m, sd_input(g, x, sd_shape_of(d, in.ndim + 1)));
        if (y) {
            sd_params_zero_grad(sd_model_params(m));
            sd_tensor *l = sd_sum(g, y);
            if (l) sd_backward(g, l);
        }
        size_t used = sd_graph_arena_bytes(g);
        if (used > plan.bytes) {
            fprintf(stderr, "planned %llu bytes, the graph used %zu: %s\n", (unsigned long long)plan.bytes, used,
                    sd_model_arch(m));
            abort();
        }
    }
    sd_graph_free(g);
    free(x);
    sd_model_free(m);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size > 4096) return 0;
    char *arch = malloc(size + 1);
    if (!arch) return 0;
    memcpy(arch, data, size);
    arch[size] = 0;
    sd_ctx *ctx = sd_ctx_new(&(sd_ctx_opts){ .threads = 1 });
    if (ctx) {
        run(arch, SD_SHAPE(1, 12, 12), ctx);
        run(arch, SD_SHAPE(16), ctx);
        run(arch, SD_SHAPE(3, 9, 7), ctx);
    }
    sd_ctx_free(ctx);
    free(arch);
    return 0;
}
