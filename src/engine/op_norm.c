/* Ops of the Transformer block that act on one row or one element: layer
 * normalisation, GELU and dropout. */
#include "engine/ops.h"
#include "engine/parallel.h"
#include "kernels/vmath.h"

#include <math.h>
#include <string.h>

/* ---- layer_norm: x (N,C), gamma (C) or NULL, beta (C) or NULL -> y (N,C)
 *   y = gamma (x − μ) / √(σ² + eps) + beta,  μ, σ² the row's mean and biased variance.
 * saved: μ (N) then 1/√(σ² + eps) (N). farg[0] = eps.
 * Backward, with x̂ = (x − μ) r and g = dy ∘ gamma:
 *   dx = r (g − mean(g) − x̂ mean(g ∘ x̂));  dgamma += Σ_rows dy ∘ x̂;  dbeta += Σ_rows dy */
sd_tensor *sd_layer_norm(sd_graph *g, sd_tensor *x, sd_tensor *gamma, sd_tensor *beta, float eps)
{
    if (!x) return NULL;
    if (x->shape.ndim != 2) return sd_op_error("layer_norm", x, gamma, "x must be 2-D (N,C)");
    const int N = x->shape.d[0], C = x->shape.d[1];
    if ((gamma && (gamma->shape.ndim != 1 || gamma->shape.d[0] != C)) ||
        (beta && (beta->shape.ndim != 1 || beta->shape.d[0] != C)))
        return sd_op_error("layer_norm", x, gamma ? gamma : beta, "gamma and beta must be (C)");
    if (!(eps > 0.0f)) eps = 1e-5f;
    sd_tensor *y = sd_node(g, SD_OP_LAYER_NORM, x->shape, x, gamma, beta);
    if (!y) return NULL;
    y->farg[0] = eps;
    if (!(y->saved = sd_graph_alloc(g, 2 * (size_t)N * sizeof(float)))) return NULL;
    return sd_node_forward(g, y);
}

void sd_op_layer_norm_fwd(sd_graph *g, sd_tensor *y)
{
    const sd_tensor *x = y->src[0], *ga = y->src[1], *be = y->src[2];
    const int N = y->shape.d[0], C = y->shape.d[1];
    const float eps = y->farg[0];
    float *mu = y->saved, *rs = mu + N;
    #pragma omp parallel for num_threads(SD_THREADS(g)) if (y->n > SD_PAR_MIN) schedule(static)
    for (int i = 0; i < N; i++) {
        const float *xi = x->data + (size_t)i * C;
        float *yi = y->data + (size_t)i * C;
        float s = 0.0f, v = 0.0f;
        #pragma omp simd reduction(+:s)
        for (int c = 0; c < C; c++) s += xi[c];
        const float m = s / C;
        #pragma omp simd reduction(+:v)
        for (int c = 0; c < C; c++) v += (xi[c] - m) * (xi[c] - m);
        const float r = 1.0f / sqrtf(v / C + eps);
        mu[i] = m;
        rs[i] = r;
        if (ga && be) {
            const float *gd = ga->data, *bd = be->data;
            #pragma omp simd
            for (int c = 0; c < C; c++) yi[c] = gd[c] * ((xi[c] - m) * r) + bd[c];
        } else
            for (int c = 0; c < C; c++) {
                float h = (xi[c] - m) * r;
                yi[c] = (ga ? ga->data[c] : 1.0f) * h + (be ? be->data[c] : 0.0f);
            }
    }
}

void sd_op_layer_norm_bwd(sd_graph *g, sd_tensor *y)
{
    sd_tensor *x = y->src[0], *ga = y->src[1], *be = y->src[2];
    const int N = y->shape.d[0], C = y->shape.d[1];
    const float *mu = y->saved, *rs = mu + N;
    if (x->grad) {
        #pragma omp parallel for num_threads(SD_THREADS(g)) if (y->n > SD_PAR_MIN) schedule(static)
        for (int i = 0; i < N; i++) {
            const float *xi = x->data + (size_t)i * C, *dy = y->grad + (size_t)i * C;
            float *dx = x->grad + (size_t)i * C;
            const float m = mu[i], r = rs[i];
            float sg = 0.0f, sgh = 0.0f;
            #pragma omp simd reduction(+:sg, sgh)
            for (int c = 0; c < C; c++) {
                float gc = dy[c] * (ga ? ga->data[c] : 1.0f);
                sg += gc;
                sgh += gc * (xi[c] - m) * r;
            }
            sg /= C;
            sgh /= C;
            #pragma omp simd
            for (int c = 0; c < C; c++) {
                float gc = dy[c] * (ga ? ga->data[c] : 1.0f);
                dx[c] += r * (gc - sg - (xi[c] - m) * r * sgh);
            }
        }
    }
    /* column sums: each thread owns a run of columns and adds the rows in order */
    float *dga = ga ? ga->grad : NULL, *dbe = be ? be->grad : NULL;
    if (!dga && !dbe) return;
    #pragma omp parallel num_threads(SD_THREADS(g)) if (y->n > SD_PAR_MIN)
    {
        const int p = omp_get_thread_num(), np = omp_get_num_threads();
        const int c0 = (int)((long)C * p / np), c1 = (int)((long)C * (p + 1) / np);
        for (int i = 0; i < N; i++) {
            const float *xi = x->data + (size_t)i * C, *dy = y->grad + (size_t)i * C;
            const float m = mu[i], r = rs[i];
            if (dga) {
                #pragma omp simd
                for (int c = c0; c < c1; c++) dga[c] += dy[c] * (xi[c] - m) * r;
            }
            if (dbe) {
                #pragma omp simd
                for (int c = c0; c < c1; c++) dbe[c] += dy[c];
            }
        }
    }
}

/* ---- gelu (the exact, erf form: PyTorch's F.gelu with approximate='none'):
 *   y = x Φ(x) = ½ x (1 + erf(x/√2));  dx = dy (Φ(x) + x φ(x)),  φ(x) = e^{−x²/2}/√(2π)
 * Φ and e^x from kernels/vmath.h: vector code, no libm calls. */
sd_tensor *sd_gelu(sd_graph *g, sd_tensor *x)
{
    if (!x) return NULL;
    sd_tensor *y = sd_node(g, SD_OP_GELU, x->shape, x, NULL, NULL);
    return y ? sd_node_forward(g, y) : NULL;
}

void sd_op_gelu_fwd(sd_graph *g, sd_tensor *y)
{
    const float *x = y->src[0]->data;
    const long n = (long)y->n;
    float *out = y->data;
    #pragma omp parallel for simd num_threads(SD_THREADS(g)) if (n > SD_PAR_MIN) schedule(static)
    for (long i = 0; i < n; i++) out[i] = x[i] * sd_vphif(x[i]);
}

void sd_op_gelu_bwd(sd_graph *g, sd_tensor *y)
{
    const float *x = y->src[0]->data;
    float *dx = y->src[0]->grad;
    const long n = (long)y->n;
    const float *dy = y->grad;
    #pragma omp parallel for simd num_threads(SD_THREADS(g)) if (n > SD_PAR_MIN) schedule(static)
    for (long i = 0; i < n; i++) {
        const float pdf = 0.39894228040143268f * sd_vexpf(-0.5f * x[i] * x[i]);
        dx[i] += dy[i] * (sd_vphif(x[i]) + x[i] * pdf);
    }
}

/* ---- dropout (inverted): y = x ∘ m / (1 − p), m_i ~ Bernoulli(1 − p) drawn in
 * order from rng; dx = dy ∘ m / (1 − p). saved: m / (1 − p) (n floats).
 * rng NULL or p = 0 is evaluation: x itself comes back, no node. */
sd_tensor *sd_dropout(sd_graph *g, sd_tensor *x, float p, sd_rng *rng)
{
    if (!x) return NULL;
    if (!(p >= 0.0f && p < 1.0f)) {
        sd_error("dropout: p = %g is outside [0, 1)", p);
        return NULL;
    }
    if (!rng || p == 0.0f) return x;
    sd_tensor *y = sd_node(g, SD_OP_DROPOUT, x->shape, x, NULL, NULL);
    if (!y) return NULL;
    float *m = sd_graph_alloc(g, x->n * sizeof *m);
    if (!m) return NULL;
    const float keep = 1.0f / (1.0f - p);
    for (size_t i = 0; i < x->n; i++) m[i] = sd_rng_uniform(rng) < p ? 0.0f : keep;
    y->saved = m;
    y->farg[0] = p;
    return sd_node_forward(g, y);
}

void sd_op_dropout_fwd(sd_graph *g, sd_tensor *y)
{
    const float *x = y->src[0]->data, *m = y->saved;
    for (size_t i = 0; i < y->n; i++) y->data[i] = x[i] * m[i];
}

void sd_op_dropout_bwd(sd_graph *g, sd_tensor *y)
{
    const float *m = y->saved;
    float *dx = y->src[0]->grad;
    for (size_t i = 0; i < y->n; i++) dx[i] += y->grad[i] * m[i];
}
