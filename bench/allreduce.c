/* bench_allreduce — what one gradient all-reduce costs (issue 9).
 *
 *   mpirun -np 2 build/bench_allreduce [REPS]
 *
 * Times sd_dist_allreduce_mean (one MPI_Allreduce of floats, then the 1/N scale)
 * on a buffer the size of the CNN's gradient (sd_params_size of the `cnn` preset,
 * alignment padding included) and on powers of 4 around it, REPS times each after
 * 10 untimed warm-ups, with a barrier-like tiny reduction before each timed call
 * so that every rank starts together. Rank 0 prints one line per size and a JSON
 * line; the median is the figure to quote. Built in every configuration; without
 * MPI (or without mpirun) it measures the single-process no-op. */
#include "shendu.h"
#include "shendu/dist.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* Median and minimum seconds of `reps` all-reduces of n floats. */
static int time_allreduce(sd_dist *d, size_t n, int reps, double *median, double *best)
{
    float *buf = malloc(n * sizeof *buf);
    double *t = malloc((size_t)reps * sizeof *t), sync = 0;
    if (!buf || !t) { free(buf); free(t); return sd_error("out of memory"); }
    for (size_t i = 0; i < n; i++) buf[i] = (float)(i % 97) * 1e-3f;
    for (int i = 0; i < 10; i++)
        if (sd_dist_allreduce_mean(d, buf, n)) goto fail;
    for (int i = 0; i < reps; i++) {
        if (sd_dist_allreduce_sum_f64(d, &sync, 1)) goto fail;   /* start together */
        double t0 = sd_time_now();
        if (sd_dist_allreduce_mean(d, buf, n)) goto fail;
        t[i] = sd_time_now() - t0;
    }
    /* the slowest rank's time is the step's: take the max over ranks per rep */
    for (int i = 0; i < reps; i++) {
        double all = t[i];
        double *v = calloc((size_t)sd_dist_size(d), sizeof *v);
        if (!v) goto fail;
        v[sd_dist_rank(d)] = all;
        if (sd_dist_allreduce_sum_f64(d, v, sd_dist_size(d))) { free(v); goto fail; }
        for (int r = 0; r < sd_dist_size(d); r++) if (v[r] > all) all = v[r];
        t[i] = all;
        free(v);
    }
    qsort(t, (size_t)reps, sizeof *t, cmp_double);
    *median = t[reps / 2];
    *best = t[0];
    free(buf);
    free(t);
    return 0;
fail:
    free(buf);
    free(t);
    return -1;
}

int main(int argc, char **argv)
{
    sd_dist *d = sd_dist_init(&argc, &argv);
    if (!d) { fprintf(stderr, "bench_allreduce: %s\n", sd_last_error()); return 1; }
    int reps = argc > 1 ? atoi(argv[1]) : 200;
    if (reps < 1) reps = 1;
    sd_rng rng;
    sd_rng_seed(&rng, 1);
    sd_model *m = sd_model_new(sd_model_preset("cnn"), SD_SHAPE(1, 28, 28), SD_INIT_DEFAULT, &rng);
    if (!m) { fprintf(stderr, "bench_allreduce: %s\n", sd_last_error()); return 1; }
    const size_t cnn = sd_params_size(sd_model_params(m));
    sd_model_free(m);
    const size_t sizes[] = { 1024, 16384, 65536, cnn, 1 << 20, 4 << 20 };
    const int ns = sizeof sizes / sizeof *sizes;
    double med[6], best[6];
    const int root = sd_dist_rank(d) == 0;
    if (root)
        printf("all-reduce (sd_dist_allreduce_mean) on %d rank%s, %d reps per size, slowest rank per rep\n",
               sd_dist_size(d), sd_dist_size(d) > 1 ? "s" : "", reps);
    for (int i = 0; i < ns; i++) {
        if (time_allreduce(d, sizes[i], reps, &med[i], &best[i])) {
            char msg[600];
            snprintf(msg, sizeof msg, "bench_allreduce: %s", sd_last_error());
            sd_dist_abort(d, 1, msg);
        }
        if (root)
            printf("%9zu floats (%8.1f KiB)%s: median %8.1f us, best %8.1f us, %6.2f GB/s algorithm bandwidth\n",
                   sizes[i], sizes[i] * 4 / 1024.0, sizes[i] == cnn ? " = CNN gradient" : "                ",
                   med[i] * 1e6, best[i] * 1e6, sizes[i] * 4 / med[i] / 1e9);
    }
    if (root) {
        printf("{\"ranks\":%d,\"cnn_floats\":%zu,\"sizes\":[", sd_dist_size(d), cnn);
        for (int i = 0; i < ns; i++) printf("%s%zu", i ? "," : "", sizes[i]);
        printf("],\"median_s\":[");
        for (int i = 0; i < ns; i++) printf("%s%.9f", i ? "," : "", med[i]);
        printf("],\"best_s\":[");
        for (int i = 0; i < ns; i++) printf("%s%.9f", i ? "," : "", best[i]);
        printf("]}\n");
    }
    sd_dist_finalize(d);
    return 0;
}
