/* Denoising diffusion: the noise schedule, the forward noising and one reverse
 * step of each sampler (shendu/diffusion.h has the formulas). The schedule is
 * kept in double: ᾱ_T is about 4e-5 for the linear schedule at T = 1000, and its
 * square root enters every step. */
#include "shendu/diffusion.h"

#include <math.h>

#define PI 3.14159265358979323846
#include <stdlib.h>
#include <string.h>

int sd_ddpm_kind_parse(const char *name, sd_ddpm_kind *out)
{
    if (name && !strcmp(name, "linear")) { *out = SD_DDPM_LINEAR; return 0; }
    if (name && !strcmp(name, "cosine")) { *out = SD_DDPM_COSINE; return 0; }
    return sd_error("unknown noise schedule '%s' (linear or cosine)", name ? name : "");
}

const char *sd_ddpm_kind_name(sd_ddpm_kind k) { return k == SD_DDPM_COSINE ? "cosine" : "linear"; }

static double cosine_f(double t, int T)
{
    const double s = 0.008, a = (t / T + s) / (1.0 + s) * PI / 2.0;
    return cos(a) * cos(a);
}

sd_ddpm *sd_ddpm_new(sd_ddpm_kind kind, int T)
{
    if (T < 1 || T > SD_DDPM_MAX_T) {
        sd_error("diffusion: %d steps: T must be in [1, %d]", T, SD_DDPM_MAX_T);
        return NULL;
    }
    if (kind != SD_DDPM_LINEAR && kind != SD_DDPM_COSINE) {
        sd_error("diffusion: unknown schedule %d", (int)kind);
        return NULL;
    }
    sd_ddpm *s = calloc(1, sizeof *s);
    double *buf = malloc(2 * ((size_t)T + 1) * sizeof *buf);
    if (!s || !buf) {
        free(s);
        free(buf);
        sd_error("diffusion: out of memory");
        return NULL;
    }
    s->T = T;
    s->kind = kind;
    s->beta = buf;
    s->alpha_bar = buf + T + 1;
    s->beta[0] = 0.0;
    s->alpha_bar[0] = 1.0;
    for (int t = 1; t <= T; t++) {
        double b;
        if (kind == SD_DDPM_LINEAR) {
            /* 1e-4 .. 0.02 over T = 1000; other T keep the same total noise */
            const double scale = 1000.0 / T, lo = 1e-4 * scale, hi = fmin(0.02 * scale, 0.999);
            b = T == 1 ? hi : lo + (hi - lo) * (t - 1) / (T - 1);
        } else {
            b = fmin(1.0 - cosine_f(t, T) / cosine_f(t - 1, T), 0.999);
        }
        s->beta[t] = b;
        s->alpha_bar[t] = s->alpha_bar[t - 1] * (1.0 - b);
    }
    return s;
}

void sd_ddpm_free(sd_ddpm *s)
{
    if (!s) return;
    free(s->beta);
    free(s);
}

void sd_ddpm_noise(const sd_ddpm *s, const float *x0, const float *eps, const int32_t *t, int n, size_t size,
                   float *xt)
{
    for (int i = 0; i < n; i++) {
        const double ab = s->alpha_bar[t[i]];
        const float a = (float)sqrt(ab), b = (float)sqrt(1.0 - ab);
        const size_t at = (size_t)i * size;
        for (size_t k = 0; k < size; k++) xt[at + k] = a * x0[at + k] + b * eps[at + k];
    }
}

static float clip1(float v) { return v < -1.0f ? -1.0f : v > 1.0f ? 1.0f : v; }

/* The posterior mean of q(x_{t-1} | x_t, x̂_0) written with the clipped x̂_0:
 *   μ = √ᾱ_{t-1} β_t / (1-ᾱ_t) x̂_0 + √(1-β_t) (1-ᾱ_{t-1}) / (1-ᾱ_t) x_t
 * (equal to the formula with ε when nothing is clipped). */
void sd_ddpm_step(const sd_ddpm *s, float *x, const float *eps, size_t count, int t, sd_rng *rng)
{
    const double ab = s->alpha_bar[t], ab_prev = s->alpha_bar[t - 1], b = s->beta[t];
    const float ra = (float)(1.0 / sqrt(ab)), rb = (float)sqrt(1.0 - ab);
    const float c0 = (float)(sqrt(ab_prev) * b / (1.0 - ab)), ct = (float)(sqrt(1.0 - b) * (1.0 - ab_prev) / (1.0 - ab));
    const float sigma = t > 1 ? (float)sqrt(b * (1.0 - ab_prev) / (1.0 - ab)) : 0.0f;
    for (size_t k = 0; k < count; k++) {
        const float x0 = clip1((x[k] - rb * eps[k]) * ra);
        x[k] = c0 * x0 + ct * x[k] + (sigma > 0.0f ? sigma * sd_rng_normal(rng) : 0.0f);
    }
}

void sd_ddim_step(const sd_ddpm *s, float *x, const float *eps, size_t count, int t, int prev)
{
    const double ab = s->alpha_bar[t], ap = s->alpha_bar[prev > 0 ? prev : 0];
    const float ra = (float)(1.0 / sqrt(ab)), rb = (float)sqrt(1.0 - ab);
    const float pa = (float)sqrt(ap), pb = (float)sqrt(1.0 - ap);
    for (size_t k = 0; k < count; k++) {
        const float x0 = clip1((x[k] - rb * eps[k]) * ra);
        /* the noise direction consistent with the clipped x̂_0 */
        const float e = (x[k] - x0 / ra) / rb;
        x[k] = pa * x0 + pb * e;
    }
}

void sd_timestep_embedding(const int32_t *t, int n, int dim, float *out)
{
    const int half = dim / 2;
    for (int i = 0; i < n; i++)
        for (int k = 0; k < half; k++) {
            const double w = pow(10000.0, -(double)k / (half > 1 ? half - 1 : 1));
            out[(size_t)i * dim + k] = (float)sin(t[i] * w);
            out[(size_t)i * dim + half + k] = (float)cos(t[i] * w);
        }
}
