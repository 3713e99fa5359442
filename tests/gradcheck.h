/* gradcheck.h — finite-difference gradient checks for tests.
 *
 * A case is a function that builds a scalar loss from the parameter tensors of
 * P on graph g. gradcheck() runs it once with backward, then nudges sampled
 * parameter elements by ±eps and compares the central difference of the loss
 * with the analytic gradient. */
#ifndef SHENDU_GRADCHECK_H
#define SHENDU_GRADCHECK_H

#include "check.h"
#include "shendu.h"

#include <string.h>

typedef sd_tensor *(*gc_fn)(sd_graph *g, sd_params *P, void *user);

/* Returns the worst relative error; reports each failing element. */
static double gradcheck(const char *name, sd_ctx *ctx, sd_params *P, gc_fn f, void *user, double tol)
{
    sd_graph *g = sd_graph_new(ctx);
    sd_params_zero_grad(P);
    sd_tensor *loss = f(g, P, user);
    if (!loss || sd_backward(g, loss)) {
        fprintf(stderr, "%s: %s\n", name, sd_last_error());
        check_failed++;
        sd_graph_free(g);
        return 1e9;
    }
    double worst = 0.0;
    const double eps = 1e-3;
    for (int id = 0; id < sd_params_count(P); id++) {
        size_t n = sd_shape_numel(sd_params_shape(P, id));
        size_t stride = n > 24 ? n / 24 : 1;
        for (size_t i = 0; i < n; i += stride) {
            float *w = sd_params_data(P, id) + i, w0 = *w;
            double analytic = sd_params_grad(P, id)[i];
            *w = (float)(w0 + eps);
            sd_graph_reset(g);
            double lp = f(g, P, user)->data[0];
            *w = (float)(w0 - eps);
            sd_graph_reset(g);
            double lm = f(g, P, user)->data[0];
            *w = w0;
            double numeric = (lp - lm) / (2 * eps);
            double err = fabs(numeric - analytic) / fmax(1.0, fabs(numeric) + fabs(analytic));
            if (err > worst) worst = err;
            if (err > tol)
                fprintf(stderr, "%s: %s[%zu]: analytic %.6g numeric %.6g\n", name, sd_params_name(P, id), i,
                        analytic, numeric);
        }
    }
    sd_graph_free(g);
    CHECK_MSG(worst <= tol, "%s: worst relative gradient error %.3g > %.3g", name, worst, tol);
    return worst;
}

/* Fill a parameter with values in [-a, a] whose magnitude is at least `gap`
 * (keeps inputs of ReLU / max-pool away from their kinks). */
static void gc_fill(sd_params *P, int id, sd_rng *rng, float a, float gap)
{
    size_t n = sd_shape_numel(sd_params_shape(P, id));
    float *w = sd_params_data(P, id);
    for (size_t i = 0; i < n; i++) {
        float v = (2.0f * sd_rng_uniform(rng) - 1.0f) * a;
        if (fabsf(v) < gap) v = v < 0 ? -gap : gap;
        w[i] = v;
    }
}

#endif
