/* SGD (momentum) and Adam (bias-corrected), one pass over the flat buffers. */
#include "shendu/optim.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

struct sd_optim {
    sd_params *P;
    sd_optim_opts o;
    int64_t t;             /* steps taken */
    size_t n;              /* floats in each buffer */
    float *m, *v;          /* SGD: m = velocity; Adam: first and second moments */
    int threads;
    int nranges;           /* decay_matrices_only: the parameters' extents, decayed or not */
    struct { size_t off, n; int decay; } *ranges;
};

sd_optim *sd_optim_new(sd_params *P, const sd_optim_opts *opts)
{
    sd_optim_opts o = opts ? *opts : (sd_optim_opts){ 0 };
    if (o.kind != SD_OPTIM_SGD && o.kind != SD_OPTIM_ADAM) { sd_error("unknown optimizer kind %d", (int)o.kind); return NULL; }
    if (o.lr == 0.0f) o.lr = o.kind == SD_OPTIM_ADAM ? 1e-3f : 1e-2f;
    if (o.beta1 == 0.0f) o.beta1 = 0.9f;
    if (o.beta2 == 0.0f) o.beta2 = 0.999f;
    if (o.eps == 0.0f) o.eps = 1e-8f;
    if (!(o.lr > 0.0f) || o.momentum < 0.0f || o.momentum >= 1.0f || o.beta1 < 0.0f || o.beta1 >= 1.0f ||
        o.beta2 < 0.0f || o.beta2 >= 1.0f || o.weight_decay < 0.0f) {
        sd_error("optimizer: bad hyper-parameters (lr %g, momentum %g, betas %g %g, weight decay %g)",
                 o.lr, o.momentum, o.beta1, o.beta2, o.weight_decay);
        return NULL;
    }
    sd_optim *s = calloc(1, sizeof *s);
    if (!s) { sd_error("out of memory allocating the optimizer"); return NULL; }
    s->P = P;
    s->o = o;
    s->n = sd_params_size(P);
    s->threads = opts && opts->threads > 0 ? opts->threads : 1;
    size_t bytes = (s->n ? s->n : 1) * sizeof(float);
    s->m = calloc(1, bytes);
    s->v = o.kind == SD_OPTIM_ADAM ? calloc(1, bytes) : NULL;
    if (o.decay_matrices_only && sd_params_count(P) > 0) {
        s->nranges = sd_params_count(P);
        if ((s->ranges = calloc((size_t)s->nranges, sizeof *s->ranges)))
            for (int i = 0; i < s->nranges; i++) {
                s->ranges[i].off = (size_t)(sd_params_data(P, i) - sd_params_values(P));
                s->ranges[i].n = sd_shape_numel(sd_params_shape(P, i));
                s->ranges[i].decay = sd_params_shape(P, i).ndim >= 2;
            }
    }
    if (!s->m || (o.kind == SD_OPTIM_ADAM && !s->v) || (s->nranges && !s->ranges)) {
        sd_error("out of memory: optimizer state for %zu parameters", s->n);
        sd_optim_free(s);
        return NULL;
    }
    return s;
}

void sd_optim_free(sd_optim *o)
{
    if (!o) return;
    free(o->m);
    free(o->v);
    free(o->ranges);
    free(o);
}

/* SGD: d = g + wd·w;  v = μ v + d;  w -= lr·v   (PyTorch's form; μ = 0: w -= lr·d).
 * Vectorised and split across threads: each element is independent. */
static void sgd_step(sd_optim *s, float *restrict w, const float *restrict g, int threads)
{
    const float lr = s->o.lr, mu = s->o.momentum, wd = s->o.weight_decay;
    float *restrict vel = s->m;
    const long n = (long)s->n;
    if (mu != 0.0f) {
        #pragma omp parallel for simd num_threads(threads) if (n > 65536) schedule(static)
        for (long i = 0; i < n; i++) {
            float v = mu * vel[i] + g[i] + wd * w[i];
            vel[i] = v;
            w[i] -= lr * v;
        }
    } else {
        #pragma omp parallel for simd num_threads(threads) if (n > 65536) schedule(static)
        for (long i = 0; i < n; i++) w[i] -= lr * (g[i] + wd * w[i]);
    }
}

/* m = β1 m + (1−β1) g;  v = β2 v + (1−β2) g²;
 * w -= lr · (m / (1−β1^t)) / (√(v / (1−β2^t)) + ε)   (as torch.optim.Adam)
 * Weight decay adds wd·w to g, or with `decoupled` (AdamW) shrinks w by lr·wd
 * first. Elements [i0, i1) of the buffers; decay 0 leaves out the weight decay. */
static void adam_range(sd_optim *s, float *restrict w, const float *restrict g, long i0, long i1, int decay,
                       int threads)
{
    const float lr = s->o.lr, b1 = s->o.beta1, b2 = s->o.beta2, eps = s->o.eps;
    const float c1 = 1.0f - (float)pow(b1, (double)s->t), c2 = 1.0f - (float)pow(b2, (double)s->t);
    const float step = lr / c1, rc2 = 1.0f / sqrtf(c2);
    const float wd = decay ? s->o.weight_decay : 0.0f;
    const float l2 = s->o.decoupled ? 0.0f : wd;
    const float shrink = s->o.decoupled ? 1.0f - lr * wd : 1.0f;
    float *restrict m = s->m, *restrict v = s->v;
    if (i1 - i0 <= 65536) {
        for (long i = i0; i < i1; i++) {
            float gi = g[i] + l2 * w[i];
            float mi = b1 * m[i] + (1.0f - b1) * gi;
            float vi = b2 * v[i] + (1.0f - b2) * gi * gi;
            m[i] = mi;
            v[i] = vi;
            w[i] = w[i] * shrink - step * mi / (sqrtf(vi) * rc2 + eps);
        }
        return;
    }
    #pragma omp parallel for simd num_threads(threads) schedule(static)
    for (long i = i0; i < i1; i++) {
        float gi = g[i] + l2 * w[i];
        float mi = b1 * m[i] + (1.0f - b1) * gi;
        float vi = b2 * v[i] + (1.0f - b2) * gi * gi;
        m[i] = mi;
        v[i] = vi;
        w[i] = w[i] * shrink - step * mi / (sqrtf(vi) * rc2 + eps);
    }
}

static void adam_step(sd_optim *s, float *restrict w, const float *restrict g, int threads)
{
    if (!s->nranges) { adam_range(s, w, g, 0, (long)s->n, 1, threads); return; }
    for (int i = 0; i < s->nranges; i++)
        adam_range(s, w, g, (long)s->ranges[i].off, (long)(s->ranges[i].off + s->ranges[i].n), s->ranges[i].decay,
                   threads);
}

float sd_lr_warmup_cosine(int64_t step, int64_t warmup, int64_t total, float lr, float min_lr)
{
    if (step < warmup) return lr * (float)(step + 1) / (float)warmup;
    if (total <= warmup) return lr;
    double p = (double)(step - warmup) / (double)(total - warmup);
    if (p > 1.0) p = 1.0;
    return (float)(min_lr + (lr - min_lr) * 0.5 * (1.0 + cos(3.14159265358979323846 * p)));
}

void sd_optim_step(sd_optim *o)
{
    float *w = sd_params_values(o->P);
    const float *g = sd_params_grads(o->P);
    o->t++;
    if (o->o.kind == SD_OPTIM_ADAM) adam_step(o, w, g, o->threads);
    else sgd_step(o, w, g, o->threads);
}

void sd_optim_set_lr(sd_optim *o, float lr) { o->o.lr = lr; }
float sd_optim_lr(const sd_optim *o) { return o->o.lr; }
const sd_optim_opts *sd_optim_options(const sd_optim *o) { return &o->o; }
int64_t sd_optim_steps(const sd_optim *o) { return o->t; }
void sd_optim_set_steps(sd_optim *o, int64_t t) { o->t = t; }
size_t sd_optim_state_size(const sd_optim *o) { return o->n; }
int sd_optim_state_count(const sd_optim *o) { return o->o.kind == SD_OPTIM_ADAM ? 2 : 1; }

float *sd_optim_state(sd_optim *o, int i, const char **name)
{
    if (o->o.kind == SD_OPTIM_ADAM) {
        if (name) *name = i == 0 ? "adam.m" : "adam.v";
        return i == 0 ? o->m : i == 1 ? o->v : NULL;
    }
    if (name) *name = "sgd.velocity";
    return i == 0 ? o->m : NULL;
}

int sd_optim_kind_parse(const char *name, sd_optim_kind *out)
{
    if (!strcmp(name, "sgd")) { *out = SD_OPTIM_SGD; return 0; }
    if (!strcmp(name, "adam")) { *out = SD_OPTIM_ADAM; return 0; }
    return sd_error("unknown optimizer '%s' (expected sgd or adam)", name);
}

const char *sd_optim_kind_name(sd_optim_kind k) { return k == SD_OPTIM_ADAM ? "adam" : "sgd"; }
