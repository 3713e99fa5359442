/* Initialisation schemes, the dense layer and the convolution layer. */
#include "shendu/nn.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

void sd_init_fill(float *w, size_t n, sd_init init, int fan_in, int fan_out, int is_bias, sd_rng *rng)
{
    if (init != SD_INIT_DEFAULT && is_bias) { memset(w, 0, n * sizeof *w); return; }
    switch (init) {
    case SD_INIT_HE: {
        float sd = sqrtf(2.0f / (float)fan_in);
        for (size_t i = 0; i < n; i++) w[i] = sd * sd_rng_normal(rng);
        break;
    }
    case SD_INIT_XAVIER: {
        float a = sqrtf(6.0f / (float)(fan_in + fan_out));
        for (size_t i = 0; i < n; i++) w[i] = a * (2.0f * sd_rng_uniform(rng) - 1.0f);
        break;
    }
    default: {
        float a = 1.0f / sqrtf((float)fan_in);
        for (size_t i = 0; i < n; i++) w[i] = a * (2.0f * sd_rng_uniform(rng) - 1.0f);
        break;
    }
    }
}

int sd_init_parse(const char *name, sd_init *out)
{
    if (!strcmp(name, "default") || !strcmp(name, "torch")) { *out = SD_INIT_DEFAULT; return 0; }
    if (!strcmp(name, "he")) { *out = SD_INIT_HE; return 0; }
    if (!strcmp(name, "xavier")) { *out = SD_INIT_XAVIER; return 0; }
    return sd_error("unknown initialisation '%s' (expected default, he or xavier)", name);
}

int sd_linear_init(sd_linear *l, sd_params *P, const char *name, int in, int out, sd_init init, sd_rng *rng)
{
    char wn[80], bn[80];
    if (in < 1 || out < 1) return sd_error("linear '%s': sizes must be positive (in %d, out %d)", name, in, out);
    snprintf(wn, sizeof wn, "%s.weight", name);
    snprintf(bn, sizeof bn, "%s.bias", name);
    l->P = P;
    l->in = in;
    l->out = out;
    l->w = sd_params_add(P, wn, SD_SHAPE(out, in));
    if (l->w < 0) return -1;
    l->b = sd_params_add(P, bn, SD_SHAPE(out));
    if (l->b < 0) return -1;
    sd_init_fill(sd_params_data(P, l->w), (size_t)in * out, init, in, out, 0, rng);
    sd_init_fill(sd_params_data(P, l->b), (size_t)out, init, in, out, 1, rng);
    return 0;
}

/* x (N,in) · W (out,in)ᵀ + b (out) -> (N,out) */
sd_tensor *sd_linear_forward(sd_graph *g, const sd_linear *l, sd_tensor *x)
{
    sd_tensor *w = sd_param(g, l->P, l->w), *b = sd_param(g, l->P, l->b);
    return sd_bias_add(g, sd_matmul(g, x, w, SD_TRANS_B), b);
}

int sd_conv2d_layer_init(sd_conv2d_layer *l, sd_params *P, const char *name, int in, int out, int k,
                         int stride, int pad, sd_init init, sd_rng *rng)
{
    char wn[80], bn[80];
    if (in < 1 || out < 1 || k < 1 || stride < 1 || pad < 0)
        return sd_error("conv '%s': bad sizes (in %d, out %d, kernel %d, stride %d, pad %d)", name, in, out, k,
                        stride, pad);
    snprintf(wn, sizeof wn, "%s.weight", name);
    snprintf(bn, sizeof bn, "%s.bias", name);
    *l = (sd_conv2d_layer){ .P = P, .in = in, .out = out, .k = k, .stride = stride, .pad = pad };
    if ((l->w = sd_params_add(P, wn, SD_SHAPE(out, in, k, k))) < 0) return -1;
    if ((l->b = sd_params_add(P, bn, SD_SHAPE(out))) < 0) return -1;
    int fan_in = in * k * k, fan_out = out * k * k;
    sd_init_fill(sd_params_data(P, l->w), (size_t)out * fan_in, init, fan_in, fan_out, 0, rng);
    sd_init_fill(sd_params_data(P, l->b), (size_t)out, init, fan_in, fan_out, 1, rng);
    return 0;
}

/* x (N,C,H,W) ⊛ W (O,C,K,K) + b (O) -> (N,O,OH,OW) */
sd_tensor *sd_conv2d_layer_forward(sd_graph *g, const sd_conv2d_layer *l, sd_tensor *x)
{
    return sd_conv2d(g, x, sd_param(g, l->P, l->w), sd_param(g, l->P, l->b), l->stride, l->pad);
}
