/* Ops for generative models: transposed convolution (a generator's
 * upsampling; kernels in src/kernels/conv_transpose.c) and batch
 * normalisation (training mode with batch statistics and PyTorch's running
 * averages, evaluation mode with the running averages). */
#include "engine/ops.h"
#include "shendu/kernels.h"

#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>

/* sd_op_error with a printf-style detail. */
#if defined(__GNUC__)
__attribute__((format(printf, 4, 5)))
#endif
static sd_tensor *op_errorf(const char *op, sd_tensor *a, sd_tensor *b, const char *fmt, ...)
{
    char what[192];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(what, sizeof what, fmt, ap);
    va_end(ap);
    return sd_op_error(op, a, b, what);
}

/* ---- conv_transpose2d: y (N,O,OH,OW) = x (N,C,H,W) ⋆ᵀ w (C,O,KH,KW) + b (O),
 * OH = (H - 1) stride - 2 pad + KH + out_pad.
 * The kernels describe it by the convolution it transposes, whose input is y
 * and whose output is x: dims {n N, c O, h OH, w OW, o C, kh, kw, oh H, ow W}.
 * src = {x, w, b or NULL}; saved = conv_saved; iarg[0] = 1 if the scratch has
 * room for the backward. */
typedef struct conv_saved {
    sd_conv_dims d;
    float *scratch;
} conv_saved;

sd_tensor *sd_conv_transpose2d(sd_graph *g, sd_tensor *x, sd_tensor *w, sd_tensor *b, int stride, int pad,
                               int out_pad)
{
    static const char *op = "conv_transpose2d";
    if (!x || !w) return NULL;
    if (x->shape.ndim != 4 || w->shape.ndim != 4)
        return sd_op_error(op, x, w, "expected x (N,C,H,W) and w (C,O,KH,KW)");
    const int *xs = x->shape.d, *ws = w->shape.d;
    if (ws[0] != xs[1])
        return op_errorf(op, x, w, "w has %d input channels (its first dimension), x has %d", ws[0], xs[1]);
    if (b && (b->shape.ndim != 1 || b->shape.d[0] != ws[1]))
        return sd_op_error(op, w, b, "the bias must be (O) for w (C,O,KH,KW)");
    if (stride < 1 || pad < 0 || out_pad < 0 || out_pad >= stride)
        return op_errorf(op, x, w, "need stride >= 1, pad >= 0 and 0 <= out_pad < stride (stride %d, pad %d, "
                         "out_pad %d)", stride, pad, out_pad);
    for (int i = 0; i < 4; i++)   /* an empty batch (N = 0) is fine */
        if ((i > 0 && xs[i] < 1) || ws[i] < 1)
            return sd_op_error(op, x, w, "every size but N must be at least 1");
    long long oh = ((long long)xs[2] - 1) * stride - 2LL * pad + ws[2] + out_pad;
    long long ow = ((long long)xs[3] - 1) * stride - 2LL * pad + ws[3] + out_pad;
    if (oh < 1 || ow < 1)
        return op_errorf(op, x, w, "the padding leaves no output (stride %d, pad %d)", stride, pad);
    if (oh > INT_MAX || ow > INT_MAX || (double)ws[1] * ws[2] * ws[3] > INT_MAX ||
        (double)xs[0] * xs[2] * xs[3] > INT_MAX || (double)ws[1] * oh * ow > INT_MAX)
        return op_errorf(op, x, w, "too large: OH, O*KH*KW, N*H*W and O*OH*OW must stay below 2^31"
                         " (stride %d, pad %d)", stride, pad);

    sd_tensor *y = sd_node(g, SD_OP_CONV_TRANSPOSE2D, SD_SHAPE(xs[0], ws[1], (int)oh, (int)ow), x, w, b);
    if (!y) return NULL;
    conv_saved *s = sd_graph_alloc(g, sizeof *s);
    if (!s) return NULL;
    s->d = (sd_conv_dims){ .n = xs[0], .c = ws[1], .h = (int)oh, .w = (int)ow, .o = xs[1], .kh = ws[2],
                           .kw = ws[3], .stride = stride, .pad = pad, .oh = xs[2], .ow = xs[3] };
    y->iarg[0] = y->requires_grad;
    s->scratch = sd_graph_alloc(g, (sd_conv_transpose2d_gemm_scratch(&s->d, y->iarg[0]) + 1) * sizeof(float));
    if (!s->scratch) return NULL;
    y->saved = s;
    return sd_node_forward(g, y);
}

void sd_op_conv_transpose2d_fwd(sd_graph *g, sd_tensor *y)
{
    const conv_saved *s = y->saved;
    const sd_tensor *b = y->src[2];
    sd_conv_transpose2d_gemm(sd_graph_ctx(g), &s->d, y->src[0]->data, y->src[1]->data, b ? b->data : NULL,
                             y->data, s->scratch);
}

/* dx (N,C,H,W) += conv2d(dy, w), dw (C,O,KH,KW) += Σ_n x_n · im2col(dy_n)ᵀ, db (O) += Σ dy */
void sd_op_conv_transpose2d_bwd(sd_graph *g, sd_tensor *y)
{
    const conv_saved *s = y->saved;
    sd_tensor *x = y->src[0], *w = y->src[1], *b = y->src[2];
    sd_conv_transpose2d_gemm_bwd(sd_graph_ctx(g), &s->d, w->data, y->grad,
                                 x->requires_grad ? x->grad : NULL, w->requires_grad ? w->grad : NULL,
                                 b && b->requires_grad ? b->grad : NULL, s->scratch);
}

/* ---- batch_norm: y = gamma (x - mean) / sqrt(var + eps) + beta, per channel c,
 * for x (N,C) or (N,C,H,W); the statistics run over N (and H,W) — M values.
 * Training: mean and biased var of the batch; the running averages (if given)
 * become (1 - momentum) r + momentum stat, var taken unbiased (× M/(M-1)).
 * Evaluation: mean and var are the running averages.
 * src = {x, gamma or NULL, beta or NULL}; iarg[0] = training; saved = bn_saved. */
typedef struct bn_saved {
    int n, c, hw;              /* x viewed as (N, C, HW) */
    int training;
    float momentum, eps;
    float *running_mean, *running_var;
    float *mean, *invstd;      /* (C): the statistics used, kept for the backward */
} bn_saved;

/* Channels are processed in blocks, one block per loop iteration: each
 * channel's sums run over n then h,w in a fixed order whatever the thread
 * count, and x is read in memory order for (N,C) and (N,C,H,W) alike. */
#define BN_BLOCK 16

sd_tensor *sd_batch_norm(sd_graph *g, sd_tensor *x, sd_tensor *gamma, sd_tensor *beta,
                         const sd_batch_norm_opts *o)
{
    static const char *op = "batch_norm";
    if (!x || !o) return NULL;
    const int nd = x->shape.ndim;
    if (nd != 2 && nd != 4) return sd_op_error(op, x, NULL, "expected x (N,C) or (N,C,H,W)");
    const int N = x->shape.d[0], C = x->shape.d[1];
    const int hw = nd == 4 ? x->shape.d[2] * x->shape.d[3] : 1;
    if (C < 1) return sd_op_error(op, x, NULL, "no channels");
    sd_tensor *affine[2] = { gamma, beta };
    for (int i = 0; i < 2; i++)
        if (affine[i] && (affine[i]->shape.ndim != 1 || affine[i]->shape.d[0] != C))
            return sd_op_error(op, x, affine[i], "gamma and beta must be (C)");
    const float momentum = o->momentum != 0.0f ? o->momentum : 0.1f, eps = o->eps != 0.0f ? o->eps : 1e-5f;
    if (!(momentum > 0.0f && momentum <= 1.0f) || !(eps > 0.0f))
        return op_errorf(op, x, NULL, "need 0 < momentum <= 1 and eps > 0 (momentum %g, eps %g)", momentum, eps);
    if (o->training && (size_t)N * hw < 2)
        return op_errorf(op, x, NULL, "training needs more than one value per channel (batch %d)", N);
    if (!o->training && (!o->running_mean || !o->running_var))
        return sd_op_error(op, x, NULL, "evaluation mode needs the running mean and variance");

    sd_tensor *y = sd_node(g, SD_OP_BATCH_NORM, x->shape, x, gamma, beta);
    if (!y) return NULL;
    bn_saved *s = sd_graph_alloc(g, sizeof *s);
    if (!s || !(s->mean = sd_graph_alloc(g, 2 * (size_t)C * sizeof(float)))) return NULL;
    s->invstd = s->mean + C;
    s->n = N;
    s->c = C;
    s->hw = hw;
    s->training = o->training != 0;
    s->momentum = momentum;
    s->eps = eps;
    s->running_mean = o->running_mean;
    s->running_var = o->running_var;
    y->iarg[0] = s->training;
    y->saved = s;
    return sd_node_forward(g, y);
}

void sd_op_batch_norm_fwd(sd_graph *g, sd_tensor *y)
{
    bn_saved *s = y->saved;
    const float *x = y->src[0]->data;
    const float *gamma = y->src[1] ? y->src[1]->data : NULL, *beta = y->src[2] ? y->src[2]->data : NULL;
    const int N = s->n, C = s->c, HW = s->hw, nb = (C + BN_BLOCK - 1) / BN_BLOCK;
    const double M = (double)N * HW;
    const size_t n = y->n;
    #pragma omp parallel for num_threads(SD_THREADS(g)) if (n > SD_PAR_MIN) schedule(static)
    for (int blk = 0; blk < nb; blk++) {
        const int c0 = blk * BN_BLOCK, c1 = c0 + BN_BLOCK < C ? c0 + BN_BLOCK : C;
        if (s->training) {
            double sum[BN_BLOCK] = { 0 }, sq[BN_BLOCK] = { 0 }, mean[BN_BLOCK];
            for (int i = 0; i < N; i++)
                for (int c = c0; c < c1; c++) {
                    const float *r = x + ((size_t)i * C + c) * HW;
                    for (int k = 0; k < HW; k++) sum[c - c0] += r[k];
                }
            for (int c = c0; c < c1; c++) mean[c - c0] = sum[c - c0] / M;
            for (int i = 0; i < N; i++)     /* a second pass: no cancellation in E[x²] - E[x]² */
                for (int c = c0; c < c1; c++) {
                    const float *r = x + ((size_t)i * C + c) * HW;
                    const double m = mean[c - c0];
                    for (int k = 0; k < HW; k++) sq[c - c0] += (r[k] - m) * (r[k] - m);
                }
            for (int c = c0; c < c1; c++) {
                double var = sq[c - c0] / M;
                s->mean[c] = (float)mean[c - c0];
                s->invstd[c] = (float)(1.0 / sqrt(var + s->eps));
                if (s->running_mean)
                    s->running_mean[c] = (1.0f - s->momentum) * s->running_mean[c] + s->momentum * (float)mean[c - c0];
                if (s->running_var)
                    s->running_var[c] = (1.0f - s->momentum) * s->running_var[c] +
                                        s->momentum * (float)(var * M / (M - 1.0));
            }
        } else {
            for (int c = c0; c < c1; c++) {
                s->mean[c] = s->running_mean[c];
                s->invstd[c] = (float)(1.0 / sqrt((double)s->running_var[c] + s->eps));
            }
        }
        /* y = x a + (beta - mean a), a = gamma invstd */
        for (int i = 0; i < N; i++)
            for (int c = c0; c < c1; c++) {
                const float a = (gamma ? gamma[c] : 1.0f) * s->invstd[c];
                const float b = (beta ? beta[c] : 0.0f) - s->mean[c] * a;
                const float *r = x + ((size_t)i * C + c) * HW;
                float *o = y->data + ((size_t)i * C + c) * HW;
                for (int k = 0; k < HW; k++) o[k] = r[k] * a + b;
            }
    }
}

/* With x̂ = (x - mean) invstd:  dbeta += Σ dy,  dgamma += Σ dy x̂,
 * training:   dx += gamma invstd (dy - Σ dy / M - x̂ Σ (dy x̂) / M)
 * evaluation: dx += gamma invstd dy   (the statistics are constants) */
void sd_op_batch_norm_bwd(sd_graph *g, sd_tensor *y)
{
    const bn_saved *s = y->saved;
    sd_tensor *xt = y->src[0], *gt = y->src[1], *bt = y->src[2];
    const float *x = xt->data, *dy = y->grad, *gamma = gt ? gt->data : NULL;
    float *dx = xt->requires_grad ? xt->grad : NULL;
    float *dgamma = gt && gt->requires_grad ? gt->grad : NULL, *dbeta = bt && bt->requires_grad ? bt->grad : NULL;
    const int N = s->n, C = s->c, HW = s->hw, nb = (C + BN_BLOCK - 1) / BN_BLOCK;
    const float M = (float)((double)N * HW);
    const size_t n = y->n;
    #pragma omp parallel for num_threads(SD_THREADS(g)) if (n > SD_PAR_MIN) schedule(static)
    for (int blk = 0; blk < nb; blk++) {
        const int c0 = blk * BN_BLOCK, c1 = c0 + BN_BLOCK < C ? c0 + BN_BLOCK : C;
        double sdy[BN_BLOCK] = { 0 }, sdyx[BN_BLOCK] = { 0 };
        for (int i = 0; i < N; i++)
            for (int c = c0; c < c1; c++) {
                const size_t at = ((size_t)i * C + c) * HW;
                const float m = s->mean[c], is = s->invstd[c];
                for (int k = 0; k < HW; k++) {
                    sdy[c - c0] += dy[at + k];
                    sdyx[c - c0] += dy[at + k] * ((x[at + k] - m) * is);
                }
            }
        for (int c = c0; c < c1; c++) {
            if (dbeta) dbeta[c] += (float)sdy[c - c0];
            if (dgamma) dgamma[c] += (float)sdyx[c - c0];
        }
        if (!dx) continue;
        for (int i = 0; i < N; i++)
            for (int c = c0; c < c1; c++) {
                const size_t at = ((size_t)i * C + c) * HW;
                const float m = s->mean[c], is = s->invstd[c], a = (gamma ? gamma[c] : 1.0f) * is;
                if (s->training) {
                    const float mdy = (float)sdy[c - c0] / M, mdyx = (float)sdyx[c - c0] / M;
                    for (int k = 0; k < HW; k++)
                        dx[at + k] += a * (dy[at + k] - mdy - (x[at + k] - m) * is * mdyx);
                } else {
                    for (int k = 0; k < HW; k++) dx[at + k] += a * dy[at + k];
                }
            }
    }
}
