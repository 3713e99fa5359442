/* bench_infer: inference speed of the lecture's CNN (bench-ref/cnn.py's network)
 * measured the way cnn.py measures PyTorch's: batch-1 latency (50 warm-up
 * calls, then the median and 90th percentile of 1000) and batch-256 throughput
 * over 10,000 images (4 passes, the first a warm-up, the median of the others).
 * The weights are random: the time does not depend on their values.
 *
 *   bench_infer [threads]     prints one JSON line */
#include "shendu.h"

#include <stdio.h>
#include <stdlib.h>

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* y = model(x) for n images, on a graph without gradients. */
static int forward(sd_graph *g, sd_model *m, const float *x, int n)
{
    sd_graph_reset(g);
    return sd_model_forward(g, m, sd_input(g, x, SD_SHAPE(n, 1, 28, 28))) ? 0 : -1;
}

int main(int argc, char **argv)
{
    const int threads = argc > 1 ? atoi(argv[1]) : 0, n = 10000, img = 28 * 28;
    sd_rng rng;
    sd_rng_seed(&rng, 1);
    sd_ctx *ctx = sd_ctx_new(&(sd_ctx_opts){ .threads = threads });
    sd_model *m = ctx ? sd_model_new(sd_model_preset("cnn"), SD_SHAPE(1, 28, 28), SD_INIT_DEFAULT, &rng) : NULL;
    sd_graph *g = ctx ? sd_graph_new(ctx) : NULL;
    float *x = malloc((size_t)n * img * sizeof *x);
    double lat[1000], thr[4];
    if (!m || !g || !x) { fprintf(stderr, "bench_infer: %s\n", sd_last_error()); return 1; }
    sd_graph_set_grad(g, 0);
    sd_model_set_training(m, 0);
    for (size_t i = 0; i < (size_t)n * img; i++) x[i] = sd_rng_uniform(&rng);

    for (int i = 0; i < 50; i++) forward(g, m, x, 1);
    for (int i = 0; i < 1000; i++) {
        double t0 = sd_time_now();
        if (forward(g, m, x + (size_t)(i % n) * img, 1)) { fprintf(stderr, "bench_infer: %s\n", sd_last_error()); return 1; }
        lat[i] = sd_time_now() - t0;
    }
    qsort(lat, 1000, sizeof lat[0], cmp_double);
    for (int pass = 0; pass < 4; pass++) {
        double t0 = sd_time_now();
        for (int i = 0; i < n; i += 256) forward(g, m, x + (size_t)i * img, n - i < 256 ? n - i : 256);
        thr[pass] = n / (sd_time_now() - t0);
    }
    qsort(thr + 1, 3, sizeof thr[0], cmp_double);
    printf("{\"threads\": %d, \"infer_b1_latency_ms_median\": %.4f, \"infer_b1_latency_ms_p90\": %.4f, "
           "\"infer_b256_images_per_s\": %.1f}\n", sd_ctx_threads(ctx), lat[500] * 1e3, lat[900] * 1e3, thr[2]);
    free(x);
    sd_graph_free(g);
    sd_model_free(m);
    sd_ctx_free(ctx);
    return 0;
}
