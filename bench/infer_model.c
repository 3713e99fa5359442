/* bench_infer_model MODEL.safetensors [threads] [n]: a model file's inference
 * speed through sd_predict (what the Python package and a server call), the
 * way bench/onnx_infer.js measures ONNX Runtime on its export: batch-1 latency
 * (50 warm-up calls, then the median and 90th percentile of 1000) and batch-256
 * throughput over n images (default 10,000; 4 passes, the first a warm-up, the
 * median of the others). Inputs are random pixels 0..255 as float32.
 * Prints one JSON line. */
#include "shendu.h"

#include <stdio.h>
#include <stdlib.h>

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

int main(int argc, char **argv)
{
    if (argc < 2) { fprintf(stderr, "usage: bench_infer_model MODEL.safetensors [threads] [n]\n"); return 2; }
    const int threads = argc > 2 ? atoi(argv[2]) : 0, n = argc > 3 ? atoi(argv[3]) : 10000;
    sd_model *m = sd_model_load(argv[1]);
    sd_predictor *p = m ? sd_predictor_new(m, &(sd_predictor_opts){ .threads = threads, .batch = 256 }) : NULL;
    if (!p || n < 256) { fprintf(stderr, "bench_infer_model: %s\n", n < 256 ? "n must be >= 256" : sd_last_error()); return 1; }
    size_t din = sd_shape_numel(sd_model_input_shape(m)), dout = sd_shape_numel(sd_model_output_shape(m));
    float *x = malloc((size_t)n * din * sizeof *x), *y = malloc((size_t)n * dout * sizeof *y);
    double lat[1000], thr[4];
    sd_rng rng;
    sd_rng_seed(&rng, 1);
    for (size_t i = 0; i < (size_t)n * din; i++) x[i] = (float)sd_rng_below(&rng, 256);
    for (int i = 0; i < 50; i++) sd_predict(p, x, 0, 1, y);
    for (int i = 0; i < 1000; i++) {
        double t0 = sd_time_now();
        if (sd_predict(p, x + (size_t)(i % n) * din, 0, 1, y)) { fprintf(stderr, "bench_infer_model: %s\n", sd_last_error()); return 1; }
        lat[i] = sd_time_now() - t0;
    }
    qsort(lat, 1000, sizeof lat[0], cmp_double);
    for (int pass = 0; pass < 4; pass++) {
        double t0 = sd_time_now();
        for (int i = 0; i < n; i += 256) sd_predict(p, x + (size_t)i * din, 0, (size_t)(n - i < 256 ? n - i : 256), y);
        thr[pass] = n / (sd_time_now() - t0);
    }
    qsort(thr + 1, 3, sizeof thr[0], cmp_double);
    printf("{\"threads\": %d, \"infer_b1_latency_ms_median\": %.4f, \"infer_b1_latency_ms_p90\": %.4f, "
           "\"infer_b256_images_per_s\": %.1f}\n", threads, lat[500] * 1e3, lat[900] * 1e3, thr[2]);
    free(x);
    free(y);
    sd_predictor_free(p);
    sd_model_free(m);
    return 0;
}
