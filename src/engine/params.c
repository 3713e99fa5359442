/* Parameters: named tensors carved out of one value buffer and one gradient
 * buffer. Offsets, not pointers, are kept, so the buffers may grow while a
 * model is being built. */
#include "shendu/tensor.h"

#include <math.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>

#define NAME_MAX_LEN 64
/* 2^28 floats (1 GiB): a model file cannot make shendu allocate more than this */
#define SD_PARAMS_MAX ((size_t)1 << 28)

typedef struct param_entry {
    char name[NAME_MAX_LEN];
    sd_shape shape;
    size_t offset, numel;
} param_entry;

struct sd_params {
    param_entry *entries;
    int count, cap;
    float *values, *grads;
    size_t size, capacity;    /* floats used / allocated, per buffer */
    size_t numel, limit;      /* elements added; at most this many (0: SD_PARAMS_MAX) */
    int frozen;
};

sd_tensor *sd_leaf_external(sd_graph *g, float *data, float *grad, sd_shape shape);  /* graph.c */

sd_params *sd_params_new(void)
{
    sd_params *P = calloc(1, sizeof *P);
    if (!P) sd_error("out of memory allocating parameters");
    return P;
}

void sd_params_free(sd_params *P)
{
    if (!P) return;
    free(P->entries);
    free(P->values);
    free(P->grads);
    free(P);
}

static float *grow(float *old, size_t used, size_t cap)
{
    float *p = aligned_alloc(64, cap * sizeof(float));
    if (!p) return NULL;
    if (used) memcpy(p, old, used * sizeof(float));
    memset(p + used, 0, (cap - used) * sizeof(float));
    free(old);
    return p;
}

int sd_params_add(sd_params *P, const char *name, sd_shape shape)
{
    if (!name || !*name || strlen(name) >= NAME_MAX_LEN)
        return sd_error("parameter name must be 1 to %d characters", NAME_MAX_LEN - 1);
    if (sd_params_find(P, name) >= 0) return sd_error("duplicate parameter name '%s'", name);
    if (shape.ndim < 1 || shape.ndim > SD_MAX_DIMS) return sd_error("parameter '%s': bad ndim %d", name, shape.ndim);
    for (int i = 0; i < shape.ndim; i++)
        if (shape.d[i] <= 0) return sd_error("parameter '%s': dimension %d is %d", name, i, shape.d[i]);
    if (P->count == P->cap) {
        int cap = P->cap ? 2 * P->cap : 16;
        param_entry *e = realloc(P->entries, (size_t)cap * sizeof *e);
        if (!e) return sd_error("out of memory adding parameter '%s'", name);
        P->entries = e;
        P->cap = cap;
    }
    size_t numel = 1;
    for (int i = 0; i < shape.ndim; i++) {   /* checked: a hostile shape must not wrap around */
        if ((size_t)shape.d[i] > SD_PARAMS_MAX / numel)
            return sd_error("parameter '%s': shape too large (over %zu values)", name, (size_t)SD_PARAMS_MAX);
        numel *= (size_t)shape.d[i];
    }
    size_t limit = P->limit && P->limit < SD_PARAMS_MAX ? P->limit : SD_PARAMS_MAX;
    if (numel > limit || P->numel + numel > limit) {   /* checked before anything is allocated */
        char s[64];
        return sd_error("parameter '%s' %s: %zu more values would pass the limit of %zu parameters", name,
                        sd_shape_str(shape, s, sizeof s), numel, limit);
    }
    if (P->size + numel > SD_PARAMS_MAX)
        return sd_error("parameter '%s': %zu more values would pass the limit of %zu parameters", name, numel,
                        (size_t)SD_PARAMS_MAX);
    size_t offset = P->size;
    size_t need = offset + ((numel + 15) & ~(size_t)15);   /* next tensor 64-byte aligned */
    if (need > P->capacity) {
        size_t cap = P->capacity ? P->capacity : 4096;
        while (cap < need) cap *= 2;
        float *v = grow(P->values, P->size, cap);
        if (!v) return sd_error("out of memory: %zu parameters", need);
        P->values = v;
        float *gr = grow(P->grads, P->size, cap);
        if (!gr) return sd_error("out of memory: %zu parameters", need);
        P->grads = gr;
        P->capacity = cap;
    }
    param_entry *e = &P->entries[P->count];
    snprintf(e->name, sizeof e->name, "%s", name);
    e->shape = shape;
    e->offset = offset;
    e->numel = numel;
    P->size = need;
    P->numel += numel;
    return P->count++;
}

void sd_params_set_limit(sd_params *P, size_t max_numel) { P->limit = max_numel; }

int sd_params_count(const sd_params *P) { return P->count; }

int sd_params_find(const sd_params *P, const char *name)
{
    for (int i = 0; i < P->count; i++)
        if (!strcmp(P->entries[i].name, name)) return i;
    return -1;
}

const char *sd_params_name(const sd_params *P, int id) { return P->entries[id].name; }
sd_shape sd_params_shape(const sd_params *P, int id) { return P->entries[id].shape; }
float *sd_params_data(sd_params *P, int id) { return P->values + P->entries[id].offset; }
float *sd_params_grad(sd_params *P, int id) { return P->grads + P->entries[id].offset; }
size_t sd_params_size(const sd_params *P) { return P->size; }
float *sd_params_values(sd_params *P) { return P->values; }
float *sd_params_grads(sd_params *P) { return P->grads; }

size_t sd_params_numel(const sd_params *P) { return P->numel; }

void sd_params_zero_grad(sd_params *P)
{
    if (P->size) memset(P->grads, 0, P->size * sizeof(float));
}

/* 0 if dst and src hold the same tensors in the same places, else an error from `who`. */
static int same_layout(const sd_params *dst, const sd_params *src, const char *who)
{
    if (dst->count != src->count || dst->size != src->size)
        return sd_error("%s: layouts differ (%d tensors/%zu floats vs %d/%zu)", who, dst->count, dst->size,
                        src->count, src->size);
    for (int i = 0; i < src->count; i++)
        if (!sd_shape_eq(dst->entries[i].shape, src->entries[i].shape))
            return sd_error("%s: tensor %d ('%s') shapes differ", who, i, src->entries[i].name);
    return 0;
}

int sd_params_copy(sd_params *dst, const sd_params *src)
{
    if (same_layout(dst, src, "sd_params_copy")) return -1;
    if (src->size) memcpy(dst->values, src->values, src->size * sizeof(float));
    return 0;
}

int sd_params_ema(sd_params *avg, const sd_params *src, float decay)
{
    if (same_layout(avg, src, "sd_params_ema")) return -1;
    if (!(decay >= 0.0f && decay <= 1.0f)) return sd_error("sd_params_ema: decay %g is not in [0, 1]", decay);
    const float keep = decay, take = 1.0f - decay;
    float *a = avg->values;
    const float *x = src->values;
    for (size_t i = 0; i < src->size; i++) a[i] = keep * a[i] + take * x[i];
    return 0;
}

int sd_params_first_nonfinite(const sd_params *P, int grads)
{
    const float *buf = grads ? P->grads : P->values;
    for (int i = 0; i < P->count; i++) {
        /* NaN and Inf are the floats whose exponent bits are all ones: an
         * integer OR over the tensor, which vectorises */
        const uint32_t *x = (const uint32_t *)(buf + P->entries[i].offset);
        uint32_t bad = 0;
        for (size_t k = 0; k < P->entries[i].numel; k++) bad |= (x[k] & 0x7f800000u) == 0x7f800000u;
        if (bad) return i;
    }
    return -1;
}

void sd_params_set_frozen(sd_params *P, int frozen) { P->frozen = frozen != 0; }

sd_tensor *sd_param(sd_graph *g, sd_params *P, int id)
{
    if (!P || id < 0 || id >= P->count) {
        sd_error("sd_param: no parameter tensor %d", id);
        return NULL;
    }
    param_entry *e = &P->entries[id];
    return sd_leaf_external(g, P->values + e->offset, P->frozen ? NULL : P->grads + e->offset, e->shape);
}

/* As torch.nn.utils.clip_grad_norm_: the norm summed in double, in order. */
double sd_params_clip_grad_norm(sd_params *P, float max_norm)
{
    float *g = sd_params_grads(P);
    size_t n = sd_params_size(P);
    double ss = 0.0;
    for (size_t i = 0; i < n; i++) ss += (double)g[i] * g[i];
    double norm = sqrt(ss);
    if (max_norm > 0.0f && norm > max_norm) {
        float k = (float)(max_norm / (norm + 1e-6));
        for (size_t i = 0; i < n; i++) g[i] *= k;
    }
    return norm;
}
