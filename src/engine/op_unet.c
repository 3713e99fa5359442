/* Ops for a diffusion model's U-Net: group normalisation, SiLU, nearest-neighbour
 * 2x upsampling and a per-image channel bias (the time embedding added to every
 * position of a feature map). */
#include "engine/ops.h"
#include "kernels/vmath.h"

#include <math.h>
#include <stdint.h>

/* ---- group_norm: x (N,C) or (N,C,H,W), G groups of C/G channels; per image n
 * and group g, over its M = (C/G)·H·W values:
 *     y = gamma_c (x - mean_ng) / sqrt(var_ng + eps) + beta_c     (var biased)
 * src = {x, gamma or NULL, beta or NULL}; iarg = {N, C, HW, G}; farg[0] = eps;
 * saved = mean and invstd, (N·G) each. */
sd_tensor *sd_group_norm(sd_graph *g, sd_tensor *x, sd_tensor *gamma, sd_tensor *beta, int groups, float eps)
{
    static const char *op = "group_norm";
    if (!x) return NULL;
    const int nd = x->shape.ndim;
    if (nd != 2 && nd != 4) return sd_op_error(op, x, NULL, "expected x (N,C) or (N,C,H,W)");
    const int N = x->shape.d[0], C = x->shape.d[1];
    const int hw = nd == 4 ? x->shape.d[2] * x->shape.d[3] : 1;
    if (groups < 1 || C < 1 || C % groups)
        return sd_op_error(op, x, NULL, "the groups must divide the channels");
    sd_tensor *affine[2] = { gamma, beta };
    for (int i = 0; i < 2; i++)
        if (affine[i] && (affine[i]->shape.ndim != 1 || affine[i]->shape.d[0] != C))
            return sd_op_error(op, x, affine[i], "gamma and beta must be (C)");
    if (eps == 0.0f) eps = 1e-5f;
    if (!(eps > 0.0f)) return sd_op_error(op, x, NULL, "eps must be positive");

    sd_tensor *y = sd_node(g, SD_OP_GROUP_NORM, x->shape, x, gamma, beta);
    if (!y) return NULL;
    y->iarg[0] = N;
    y->iarg[1] = C;
    y->iarg[2] = hw;
    y->iarg[3] = groups;
    y->farg[0] = eps;
    if (!(y->saved = sd_graph_alloc(g, 2 * ((size_t)N * groups + 1) * sizeof(float)))) return NULL;
    return sd_node_forward(g, y);
}

void sd_op_group_norm_fwd(sd_graph *g, sd_tensor *y)
{
    const int N = y->iarg[0], C = y->iarg[1], HW = y->iarg[2], G = y->iarg[3], cg = C / G;
    const float *x = y->src[0]->data;
    const float *gamma = y->src[1] ? y->src[1]->data : NULL, *beta = y->src[2] ? y->src[2]->data : NULL;
    float *mean = y->saved, *invstd = mean + (size_t)N * G;
    const size_t M = (size_t)cg * HW;
    #pragma omp parallel for num_threads(SD_THREADS(g)) if (y->n > SD_PAR_MIN) schedule(static)
    for (int ng = 0; ng < N * G; ng++) {
        const float *r = x + (size_t)ng * M;          /* a group's channels are contiguous */
        double s = 0.0, q = 0.0;
        for (size_t k = 0; k < M; k++) s += r[k];
        const double m = s / (double)M;
        for (size_t k = 0; k < M; k++) q += (r[k] - m) * (r[k] - m);   /* two passes: no cancellation */
        mean[ng] = (float)m;
        invstd[ng] = (float)(1.0 / sqrt(q / (double)M + y->farg[0]));
        const int c0 = (ng % G) * cg;
        float *o = y->data + (size_t)ng * M;
        for (int c = 0; c < cg; c++) {
            const float a = (gamma ? gamma[c0 + c] : 1.0f) * invstd[ng];
            const float b = (beta ? beta[c0 + c] : 0.0f) - mean[ng] * a;
            for (int k = 0; k < HW; k++) o[(size_t)c * HW + k] = r[(size_t)c * HW + k] * a + b;
        }
    }
}

/* With x̂ = (x - mean) invstd and d = gamma dy, per image and group (M values):
 *     dx += invstd (d - Σd / M - x̂ Σ(d x̂) / M)
 *     dgamma_c += Σ_{n,hw} dy x̂,   dbeta_c += Σ_{n,hw} dy
 * The per-channel sums run over the images in order (one thread a channel), so
 * the result does not depend on the thread count. */
void sd_op_group_norm_bwd(sd_graph *g, sd_tensor *y)
{
    const int N = y->iarg[0], C = y->iarg[1], HW = y->iarg[2], G = y->iarg[3], cg = C / G;
    sd_tensor *xt = y->src[0], *gt = y->src[1], *bt = y->src[2];
    const float *x = xt->data, *dy = y->grad, *gamma = gt ? gt->data : NULL;
    const float *mean = y->saved, *invstd = mean + (size_t)N * G;
    float *dgamma = gt && gt->requires_grad ? gt->grad : NULL, *dbeta = bt && bt->requires_grad ? bt->grad : NULL;
    const size_t M = (size_t)cg * HW;
    if (dgamma || dbeta) {
        #pragma omp parallel for num_threads(SD_THREADS(g)) if (y->n > SD_PAR_MIN) schedule(static)
        for (int c = 0; c < C; c++) {
            double sg = 0.0, sb = 0.0;
            for (int n = 0; n < N; n++) {
                const int ng = n * G + c / cg;
                const size_t at = ((size_t)n * C + c) * HW;
                for (int k = 0; k < HW; k++) {
                    sb += dy[at + k];
                    sg += dy[at + k] * (x[at + k] - mean[ng]) * invstd[ng];
                }
            }
            if (dgamma) dgamma[c] += (float)sg;
            if (dbeta) dbeta[c] += (float)sb;
        }
    }
    if (!xt->requires_grad) return;
    float *dx = xt->grad;
    #pragma omp parallel for num_threads(SD_THREADS(g)) if (y->n > SD_PAR_MIN) schedule(static)
    for (int ng = 0; ng < N * G; ng++) {
        const int c0 = (ng % G) * cg;
        const size_t at = (size_t)ng * M;
        const float m = mean[ng], is = invstd[ng];
        double sd = 0.0, sdx = 0.0;
        for (int c = 0; c < cg; c++) {
            const float ga = gamma ? gamma[c0 + c] : 1.0f;
            for (int k = 0; k < HW; k++) {
                const size_t i = at + (size_t)c * HW + k;
                const double d = (double)ga * dy[i];
                sd += d;
                sdx += d * (x[i] - m) * is;
            }
        }
        const float md = (float)(sd / (double)M), mdx = (float)(sdx / (double)M);
        for (int c = 0; c < cg; c++) {
            const float ga = gamma ? gamma[c0 + c] : 1.0f;
            for (int k = 0; k < HW; k++) {
                const size_t i = at + (size_t)c * HW + k;
                dx[i] += is * (ga * dy[i] - md - (x[i] - m) * is * mdx);
            }
        }
    }
}

/* ---- silu: y = x σ(x) (also called swish);  dy/dx = σ(x) (1 + x (1 - σ(x))).
 * σ is sd_vsigmoidf, so the loops are vector code (libm's scalar expf was 7 %
 * of a diffusion step). */
sd_tensor *sd_silu(sd_graph *g, sd_tensor *x)
{
    if (!x) return NULL;
    sd_tensor *y = sd_node(g, SD_OP_SILU, x->shape, x, NULL, NULL);
    return y ? sd_node_forward(g, y) : NULL;
}

void sd_op_silu_fwd(sd_graph *g, sd_tensor *y)
{
    const float *x = y->src[0]->data;
    const long n = (long)y->n;
    float *out = y->data;
    #pragma omp parallel for simd num_threads(SD_THREADS(g)) if (n > SD_PAR_MIN) schedule(static)
    for (long i = 0; i < n; i++) out[i] = x[i] * sd_vsigmoidf(x[i]);
}

void sd_op_silu_bwd(sd_graph *g, sd_tensor *y)
{
    const float *x = y->src[0]->data;
    float *dx = y->src[0]->grad;
    const float *dy = y->grad;
    const long n = (long)y->n;
    #pragma omp parallel for simd num_threads(SD_THREADS(g)) if (n > SD_PAR_MIN) schedule(static)
    for (long i = 0; i < n; i++) {
        const float s = sd_vsigmoidf(x[i]);
        dx[i] += dy[i] * s * (1.0f + x[i] * (1.0f - s));
    }
}

/* ---- upsample2x: x (N,C,H,W) -> (N,C,2H,2W), y[2i+a][2j+b] = x[i][j] (nearest);
 * dx[i][j] += the four dy it was copied to. */
sd_tensor *sd_upsample2x(sd_graph *g, sd_tensor *x)
{
    if (!x) return NULL;
    if (x->shape.ndim != 4) return sd_op_error("upsample2x", x, NULL, "expected x (N,C,H,W)");
    const int *d = x->shape.d;
    if ((int64_t)d[2] * 2 > INT32_MAX / 2 || (int64_t)d[3] * 2 > INT32_MAX / 2 ||
        (double)x->n * 4 > (double)SIZE_MAX / sizeof(float))
        return sd_op_error("upsample2x", x, NULL, "too large");
    sd_tensor *y = sd_node(g, SD_OP_UPSAMPLE2X, SD_SHAPE(d[0], d[1], 2 * d[2], 2 * d[3]), x, NULL, NULL);
    return y ? sd_node_forward(g, y) : NULL;
}

void sd_op_upsample2x_fwd(sd_graph *g, sd_tensor *y)
{
    const int planes = y->shape.d[0] * y->shape.d[1], H = y->shape.d[2] / 2, W = y->shape.d[3] / 2;
    const float *x = y->src[0]->data;
    #pragma omp parallel for num_threads(SD_THREADS(g)) if (y->n > SD_PAR_MIN) schedule(static)
    for (int p = 0; p < planes; p++)
        for (int i = 0; i < H; i++) {
            const float *r = x + ((size_t)p * H + i) * W;
            float *o = y->data + ((size_t)p * 2 * H + 2 * i) * 2 * W;
            for (int j = 0; j < W; j++) o[2 * j] = o[2 * j + 1] = r[j];
            for (int j = 0; j < 2 * W; j++) o[2 * W + j] = o[j];
        }
}

void sd_op_upsample2x_bwd(sd_graph *g, sd_tensor *y)
{
    const int planes = y->shape.d[0] * y->shape.d[1], H = y->shape.d[2] / 2, W = y->shape.d[3] / 2;
    float *dx = y->src[0]->grad;
    #pragma omp parallel for num_threads(SD_THREADS(g)) if (y->n > SD_PAR_MIN) schedule(static)
    for (int p = 0; p < planes; p++)
        for (int i = 0; i < H; i++) {
            const float *d0 = y->grad + ((size_t)p * 2 * H + 2 * i) * 2 * W, *d1 = d0 + 2 * W;
            float *r = dx + ((size_t)p * H + i) * W;
            for (int j = 0; j < W; j++) r[j] += (d0[2 * j] + d0[2 * j + 1]) + (d1[2 * j] + d1[2 * j + 1]);
        }
}

/* ---- add_channels: x (N,C,H,W) + e (N,C), e[n][c] added at every position of
 * plane (n,c) (a U-Net block's time embedding);  dx += dy,  de[n][c] += Σ_hw dy. */
sd_tensor *sd_add_channels(sd_graph *g, sd_tensor *x, sd_tensor *e)
{
    if (!x || !e) return NULL;
    if (x->shape.ndim != 4 || e->shape.ndim != 2 || e->shape.d[0] != x->shape.d[0] ||
        e->shape.d[1] != x->shape.d[1])
        return sd_op_error("add_channels", x, e, "expected x (N,C,H,W) and e (N,C)");
    sd_tensor *y = sd_node(g, SD_OP_ADD_CHANNELS, x->shape, x, e, NULL);
    return y ? sd_node_forward(g, y) : NULL;
}

void sd_op_add_channels_fwd(sd_graph *g, sd_tensor *y)
{
    const int planes = y->shape.d[0] * y->shape.d[1], HW = y->shape.d[2] * y->shape.d[3];
    const float *x = y->src[0]->data, *e = y->src[1]->data;
    #pragma omp parallel for num_threads(SD_THREADS(g)) if (y->n > SD_PAR_MIN) schedule(static)
    for (int p = 0; p < planes; p++)
        for (int k = 0; k < HW; k++) y->data[(size_t)p * HW + k] = x[(size_t)p * HW + k] + e[p];
}

void sd_op_add_channels_bwd(sd_graph *g, sd_tensor *y)
{
    const int planes = y->shape.d[0] * y->shape.d[1], HW = y->shape.d[2] * y->shape.d[3];
    float *dx = y->src[0]->grad, *de = y->src[1]->grad;
    #pragma omp parallel for num_threads(SD_THREADS(g)) if (y->n > SD_PAR_MIN) schedule(static)
    for (int p = 0; p < planes; p++) {
        const float *d = y->grad + (size_t)p * HW;
        if (dx) for (int k = 0; k < HW; k++) dx[(size_t)p * HW + k] += d[k];
        if (de) {
            double s = 0.0;
            for (int k = 0; k < HW; k++) s += d[k];
            de[p] += (float)s;
        }
    }
}
