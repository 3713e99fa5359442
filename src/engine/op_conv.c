/* Convolution and max-pooling: the CNN's two ops. Both are cross-correlations
 * over NCHW tensors as in the lecture; the kernels are in src/kernels/conv.c. */
#include "engine/ops.h"
#include "shendu/kernels.h"

#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

/* Scratch kept from forward to backward (in the arena). */
typedef struct conv_saved {
    sd_conv_dims d;
    int wino, wino_dx;     /* Winograd for the forward, for the backward's dx */
    float *scratch;        /* im2col columns, then the backward's buffers */
    float *wscratch;       /* Winograd's buffers, then the backward's dw columns */
} conv_saved;

/* sd_op_error (the op's name and both shapes) with a printf-style detail. */
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

/* Output size along one axis: -1 if the window does not fit, -2 if in + 2 pad overflows int. */
static long long out_size(int in, int k, int stride, int pad)
{
    long long span = (long long)in + 2LL * pad;
    if (span > INT_MAX) return -2;
    if (span < k) return -1;
    return (span - k) / stride + 1;
}

/* ---- conv2d: y (N,O,OH,OW) = x (N,C,H,W) ⋆ w (O,C,KH,KW) + b (O).
 * src = {x, w, b or NULL}; saved = conv_saved. */
sd_tensor *sd_conv2d(sd_graph *g, sd_tensor *x, sd_tensor *w, sd_tensor *b, int stride, int pad)
{
    if (!x || !w) return NULL;
    if (x->shape.ndim != 4 || w->shape.ndim != 4)
        return sd_op_error("conv2d", x, w, "expected x (N,C,H,W) and w (O,C,KH,KW)");
    const int *xs = x->shape.d, *ws = w->shape.d;
    if (ws[1] != xs[1])
        return op_errorf("conv2d", x, w, "w has %d input channels, x has %d", ws[1], xs[1]);
    if (b && (b->shape.ndim != 1 || b->shape.d[0] != ws[0]))
        return sd_op_error("conv2d", w, b, "the bias must be (O) for w (O,C,KH,KW)");
    if (stride < 1 || pad < 0)
        return op_errorf("conv2d", x, w, "stride must be >= 1 and pad >= 0 (stride %d, pad %d)", stride, pad);
    for (int i = 0; i < 4; i++)   /* an empty batch (N = 0) is fine */
        if ((i > 0 && xs[i] < 1) || ws[i] < 1)
            return sd_op_error("conv2d", x, w, "every size but N must be at least 1");
    long long oh = out_size(xs[2], ws[2], stride, pad), ow = out_size(xs[3], ws[3], stride, pad);
    if (oh == -1 || ow == -1)
        return op_errorf("conv2d", x, w, "the kernel is larger than the padded input (stride %d, pad %d)",
                         stride, pad);
    /* Products in double: exact near 2^31, and they cannot overflow. */
    if (oh < 0 || ow < 0 || (double)ws[1] * ws[2] * ws[3] > INT_MAX || (double)xs[0] * oh * ow > INT_MAX)
        return op_errorf("conv2d", x, w, "too large: H + 2 pad, C*KH*KW and N*OH*OW must stay below 2^31"
                         " (stride %d, pad %d)", stride, pad);

    sd_tensor *y = sd_node(g, SD_OP_CONV2D, SD_SHAPE(xs[0], ws[0], (int)oh, (int)ow), x, w, b);
    if (!y) return NULL;
    conv_saved *s = sd_graph_alloc(g, sizeof *s);
    if (!s) return NULL;
    s->d = (sd_conv_dims){ .n = xs[0], .c = xs[1], .h = xs[2], .w = xs[3], .o = ws[0], .kh = ws[2],
                           .kw = ws[3], .stride = stride, .pad = pad, .oh = (int)oh, .ow = (int)ow };
    int grads = !y->requires_grad ? 0 : x->requires_grad ? 2 : 1;
    /* 3x3 stride-1 convolutions (with enough channels) run Winograd's
     * algorithm forward, and for dx backward; the weight gradient stays a
     * product with im2col's columns, made image by image in the backward. */
    sd_ctx *ctx = sd_graph_ctx(g);
    const int threads = sd_ctx_threads(ctx);
    s->wino = sd_conv2d_winograd_ok(&s->d);
    s->wino_dx = grads == 2 && sd_conv2d_winograd_dx_ok(&s->d);
    /* Winograd's buffers, also those of the backward's dw and dx (one after
     * the other); im2col's columns kept from forward to backward, or only
     * its dx buffers behind a Winograd forward that could not do dx. */
    size_t wsz = 0;
    if (s->wino) {
        wsz = sd_conv2d_winograd_scratch(&s->d, threads);
        if (grads && sd_conv2d_dw_scratch(ctx, &s->d) > wsz) wsz = sd_conv2d_dw_scratch(ctx, &s->d);
        if (s->wino_dx && sd_conv2d_winograd_dx_scratch(&s->d, threads) > wsz)
            wsz = sd_conv2d_winograd_dx_scratch(&s->d, threads);
    }
    size_t gs = !s->wino ? sd_conv2d_gemm_scratch(&s->d, grads, threads)
                         : grads == 2 && !s->wino_dx ? sd_conv2d_gemm_scratch(&s->d, 2, threads) : 0;
    s->scratch = sd_graph_alloc(g, (gs + wsz) * sizeof(float));
    if (!s->scratch) return NULL;
    s->wscratch = s->scratch + gs;
    y->iarg[0] = grads;
    y->saved = s;
    return sd_node_forward(g, y);
}

void sd_op_conv2d_fwd(sd_graph *g, sd_tensor *y)
{
    const conv_saved *s = y->saved;
    const sd_tensor *b = y->src[2];
    if (s->wino)
        sd_conv2d_winograd(sd_graph_ctx(g), &s->d, y->src[0]->data, y->src[1]->data, b ? b->data : NULL,
                           y->data, s->wscratch);
    else
        sd_conv2d_gemm(sd_graph_ctx(g), &s->d, y->src[0]->data, y->src[1]->data, b ? b->data : NULL,
                       y->data, s->scratch, y->iarg[0] > 0);
}

/* dx (N,C,H,W) += col2im(wᵀ · dy) (or Winograd's dx), dw (O,C,KH,KW) += dy · colsᵀ,
 * db (O) += Σ dy; a Winograd forward left no columns: dw makes its own. */
void sd_op_conv2d_bwd(sd_graph *g, sd_tensor *y)
{
    const conv_saved *s = y->saved;
    sd_tensor *x = y->src[0], *w = y->src[1], *b = y->src[2];
    float *dx = y->iarg[0] == 2 ? x->grad : NULL;   /* dcols scratch exists only then */
    float *dw = w->requires_grad ? w->grad : NULL;
    float *db = b && b->requires_grad ? b->grad : NULL;
    sd_ctx *ctx = sd_graph_ctx(g);
    if (s->wino && dw) sd_conv2d_dw(ctx, &s->d, x->data, y->grad, dw, s->wscratch);
    sd_conv2d_gemm_bwd(ctx, &s->d, w->data, y->grad, s->wino_dx ? NULL : dx, s->wino ? NULL : dw, db, s->scratch);
    if (s->wino_dx && dx) sd_conv2d_winograd_dx(ctx, &s->d, w->data, y->grad, dx, s->wscratch);
}

/* ---- maxpool2d: y (N,C,OH,OW) = max over each k x k window of x (N,C,H,W), step `stride`.
 * iarg = {N, C, H, W, k, stride, OH, OW}; saved = int32 argmax (N,C,OH,OW), h*W + w per plane. */
static sd_conv_dims pool_dims(const sd_tensor *y)
{
    const int *a = y->iarg;
    return (sd_conv_dims){ .n = a[0], .c = a[1], .h = a[2], .w = a[3], .o = a[1], .kh = a[4], .kw = a[4],
                           .stride = a[5], .pad = 0, .oh = a[6], .ow = a[7] };
}

sd_tensor *sd_maxpool2d(sd_graph *g, sd_tensor *x, int k, int stride)
{
    if (!x) return NULL;
    if (x->shape.ndim != 4) return sd_op_error("maxpool2d", x, NULL, "expected x (N,C,H,W)");
    const int *xs = x->shape.d;
    if (k < 1 || stride < 1)
        return op_errorf("maxpool2d", x, NULL, "window %d and stride %d must both be >= 1", k, stride);
    if (k > xs[2] || k > xs[3])
        return op_errorf("maxpool2d", x, NULL, "the %dx%d window is larger than the input", k, k);
    if ((long long)xs[2] * xs[3] > INT_MAX)
        return sd_op_error("maxpool2d", x, NULL, "too large: H*W must stay below 2^31");
    int oh = (xs[2] - k) / stride + 1, ow = (xs[3] - k) / stride + 1;

    sd_tensor *y = sd_node(g, SD_OP_MAXPOOL2D, SD_SHAPE(xs[0], xs[1], oh, ow), x, NULL, NULL);
    if (!y) return NULL;
    const int args[8] = { xs[0], xs[1], xs[2], xs[3], k, stride, oh, ow };
    memcpy(y->iarg, args, sizeof args);
    if (y->requires_grad) {
        y->saved = sd_graph_alloc(g, y->n * sizeof(int32_t));
        if (!y->saved) return NULL;
    }
    return sd_node_forward(g, y);
}

void sd_op_maxpool2d_fwd(sd_graph *g, sd_tensor *y)
{
    sd_conv_dims d = pool_dims(y);
    sd_maxpool2d_fast(sd_graph_ctx(g), &d, y->src[0]->data, y->data, y->saved);
}

/* dx (N,C,H,W) += dy (N,C,OH,OW) at each window's first maximum */
void sd_op_maxpool2d_bwd(sd_graph *g, sd_tensor *y)
{
    sd_conv_dims d = pool_dims(y);
    sd_maxpool2d_bwd(sd_graph_ctx(g), &d, y->saved, y->grad, y->src[0]->grad);
}
