/* Layers for generative models: the transposed convolution layer (a
 * generator's upsampling) and the batch normalisation layer, whose running
 * averages live in a second parameter set that no optimizer sees. */
#include "shendu/nn.h"

#include <stdio.h>

/* ---- Transposed convolution: x (N,C,H,W) -> (N,O,OH,OW), W (C,O,K,K), b (O). */
int sd_convt_layer_init(sd_convt_layer *l, sd_params *P, const char *name, int in, int out, int k, int stride,
                        int pad, int out_pad, sd_init init, sd_rng *rng)
{
    char wn[80], bn[80];
    if (in < 1 || out < 1 || k < 1 || stride < 1 || pad < 0 || out_pad < 0 || out_pad >= stride)
        return sd_error("convt '%s': bad sizes (in %d, out %d, kernel %d, stride %d, pad %d, out_pad %d; "
                        "out_pad must be below the stride)", name, in, out, k, stride, pad, out_pad);
    snprintf(wn, sizeof wn, "%s.weight", name);
    snprintf(bn, sizeof bn, "%s.bias", name);
    *l = (sd_convt_layer){ .P = P, .in = in, .out = out, .k = k, .stride = stride, .pad = pad, .out_pad = out_pad };
    if ((l->w = sd_params_add(P, wn, SD_SHAPE(in, out, k, k))) < 0) return -1;
    if ((l->b = sd_params_add(P, bn, SD_SHAPE(out))) < 0) return -1;
    /* PyTorch takes the fans of a (in, out, k, k) weight as fan_in = out·k·k, fan_out = in·k·k */
    int fan_in = out * k * k, fan_out = in * k * k;
    sd_init_fill(sd_params_data(P, l->w), (size_t)in * fan_in, init, fan_in, fan_out, 0, rng);
    sd_init_fill(sd_params_data(P, l->b), (size_t)out, init, fan_in, fan_out, 1, rng);
    return 0;
}

/* x (N,C,H,W) ⋆ᵀ W (C,O,K,K) + b (O) -> (N,O,OH,OW) */
sd_tensor *sd_convt_layer_forward(sd_graph *g, const sd_convt_layer *l, sd_tensor *x)
{
    return sd_conv_transpose2d(g, x, sd_param(g, l->P, l->w), sd_param(g, l->P, l->b), l->stride, l->pad,
                               l->out_pad);
}

/* ---- Batch normalisation over C channels: gamma, beta (C) trained in P;
 * running mean and variance (C) in S. */
int sd_batchnorm_layer_init(sd_batchnorm_layer *l, sd_params *P, sd_params *S, const char *name, int c,
                            float momentum, float eps)
{
    char n[4][80];
    if (c < 1 || !(momentum > 0.0f && momentum <= 1.0f) || !(eps > 0.0f))
        return sd_error("batchnorm '%s': bad settings (%d channels, momentum %g, eps %g)", name, c, momentum, eps);
    snprintf(n[0], sizeof n[0], "%s.weight", name);
    snprintf(n[1], sizeof n[1], "%s.bias", name);
    snprintf(n[2], sizeof n[2], "%s.running_mean", name);
    snprintf(n[3], sizeof n[3], "%s.running_var", name);
    *l = (sd_batchnorm_layer){ .P = P, .S = S, .c = c, .momentum = momentum, .eps = eps };
    if ((l->w = sd_params_add(P, n[0], SD_SHAPE(c))) < 0 || (l->b = sd_params_add(P, n[1], SD_SHAPE(c))) < 0 ||
        (l->mean = sd_params_add(S, n[2], SD_SHAPE(c))) < 0 || (l->var = sd_params_add(S, n[3], SD_SHAPE(c))) < 0)
        return -1;
    float *gamma = sd_params_data(P, l->w), *var = sd_params_data(S, l->var);
    for (int i = 0; i < c; i++) gamma[i] = var[i] = 1.0f;   /* beta and the running mean start at 0 */
    return 0;
}

/* x (N,C) or (N,C,H,W) -> same shape, normalised per channel */
sd_tensor *sd_batchnorm_layer_forward(sd_graph *g, const sd_batchnorm_layer *l, sd_tensor *x, int training)
{
    sd_batch_norm_opts o = { .training = training, .momentum = l->momentum, .eps = l->eps,
                             .running_mean = sd_params_data(l->S, l->mean),
                             .running_var = sd_params_data(l->S, l->var) };
    return sd_batch_norm(g, x, sd_param(g, l->P, l->w), sd_param(g, l->P, l->b), &o);
}
