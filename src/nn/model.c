#define _POSIX_C_SOURCE 200809L
/* Sequential models from a one-line architecture string.
 *
 *   arch   := layer { (' ' | ',') layer }
 *   layer  := [name '='] kind ['(' number { ',' number } ')']
 *
 * Each kind below says how many arguments it takes, how it changes the shape
 * of one example, which parameters it owns and how it runs forward. */
#include "shendu/nn.h"

#include <ctype.h>
#include <stdint.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_LAYERS 64
#define MAX_ARGS 5
#define MAX_META 64
#define NAME_LEN 32
#define SD_MAX_LAYER_ARG (1 << 20)

typedef struct layer {
    int kind;
    char name[NAME_LEN];
    float arg[MAX_ARGS];
    int nargs;
    sd_shape in, out;        /* one example */
    sd_linear lin;
    sd_conv2d_layer conv;
    sd_convt_layer convt;
    sd_batchnorm_layer bn;
    size_t nparams;
} layer;

struct sd_model {
    sd_params *P;
    layer layers[MAX_LAYERS];
    int nlayers;
    sd_shape input;
    char *arch;              /* canonical string */
    char *meta_k[MAX_META], *meta_v[MAX_META];
    int nmeta;
    sd_params *S;            /* untrained state: batchnorm running averages */
    int training;            /* batchnorm: batch statistics (1) or running averages (0) */
};

/* ---- Layer kinds */

enum { L_LINEAR, L_CONV, L_MAXPOOL, L_RELU, L_LEAKY_RELU, L_SIGMOID, L_TANH, L_FLATTEN,
       L_CONVT, L_BATCHNORM, L_RESHAPE, L_COUNT };

typedef struct kind_def {
    const char *name;
    int min_args, max_args;
    const char *prefix;      /* default name prefix for layers with parameters */
} kind_def;

static const kind_def kinds[L_COUNT] = {
    [L_LINEAR]     = { "linear", 1, 1, "fc" },
    [L_CONV]       = { "conv", 2, 4, "conv" },      /* conv(out, k [, stride [, pad]]) */
    [L_MAXPOOL]    = { "maxpool", 1, 2, NULL },     /* maxpool(k [, stride]); stride defaults to k */
    [L_RELU]       = { "relu", 0, 0, NULL },
    [L_LEAKY_RELU] = { "leaky_relu", 0, 1, NULL },
    [L_SIGMOID]    = { "sigmoid", 0, 0, NULL },
    [L_TANH]       = { "tanh", 0, 0, NULL },
    [L_FLATTEN]    = { "flatten", 0, 0, NULL },
    [L_CONVT]      = { "convt", 2, 5, "convt" },    /* convt(out, k [, stride [, pad [, out_pad]]]) */
    [L_BATCHNORM]  = { "batchnorm", 0, 2, "bn" },   /* batchnorm([momentum [, eps]]), default 0.1, 1e-5 */
    [L_RESHAPE]    = { "reshape", 1, 3, NULL },     /* reshape(C [, H [, W]]): one example's new shape */
};

/* L->out = (c, h, w), each size and the product below 2^31 (sizes in 64 bits). */
static int out_shape(layer *L, int64_t c, int64_t h, int64_t w)
{
    if (c < 1 || h < 1 || w < 1 || h > INT32_MAX || w > INT32_MAX || c * h > INT32_MAX || c * h * w > INT32_MAX) {
        char s[64];
        return sd_error("layer %s: its output (%lld,%lld,%lld) for a %s input has 2^31 values or more per example",
                        L->name, (long long)c, (long long)h, (long long)w, sd_shape_str(L->in, s, sizeof s));
    }
    L->out = SD_SHAPE((int)c, (int)h, (int)w);
    return 0;
}

/* Work out the output shape and create the parameters of layer L. */
static int layer_build(sd_model *m, layer *L, sd_init init, sd_rng *rng)
{
    char s[64];
    switch (L->kind) {
    case L_LINEAR: {
        int out = (int)L->arg[0];
        if (L->in.ndim != 1)
            return sd_error("layer %s: linear needs a flat input, got %s (add 'flatten' before it)",
                            L->name, sd_shape_str(L->in, s, sizeof s));
        if (out < 1 || (float)out != L->arg[0]) return sd_error("layer %s: linear(%g): size must be a positive integer", L->name, L->arg[0]);
        if (sd_linear_init(&L->lin, m->P, L->name, L->in.d[0], out, init, rng)) return -1;
        L->out = SD_SHAPE(out);
        L->nparams = (size_t)L->in.d[0] * out + out;
        return 0;
    }
    case L_CONV: {
        int out = (int)L->arg[0], k = (int)L->arg[1];
        int stride = L->nargs > 2 ? (int)L->arg[2] : 1, pad = L->nargs > 3 ? (int)L->arg[3] : 0;
        if (L->in.ndim != 3)
            return sd_error("layer %s: conv needs (C,H,W) inputs, got %s", L->name, sd_shape_str(L->in, s, sizeof s));
        for (int i = 0; i < L->nargs; i++)
            if (L->arg[i] != (float)(int)L->arg[i]) return sd_error("layer %s: conv arguments must be integers", L->name);
        /* a kernel larger than the padded input is refused before its weights are allocated */
        if (k >= 1 && pad >= 0 && ((long)L->in.d[1] + 2L * pad < k || (long)L->in.d[2] + 2L * pad < k))
            return sd_error("layer %s: a %dx%d kernel does not fit a %s input", L->name, k, k,
                            sd_shape_str(L->in, s, sizeof s));
        if (sd_conv2d_layer_init(&L->conv, m->P, L->name, L->in.d[0], out, k, stride, pad, init, rng)) return -1;
        /* sizes checked by the init; the output's in 64 bits */
        int64_t oh = ((int64_t)L->in.d[1] + 2 * (int64_t)pad - k) / stride + 1;
        int64_t ow = ((int64_t)L->in.d[2] + 2 * (int64_t)pad - k) / stride + 1;
        if (out_shape(L, out, oh, ow)) return -1;
        L->nparams = (size_t)out * L->in.d[0] * k * k + out;
        return 0;
    }
    case L_MAXPOOL: {
        int k = (int)L->arg[0], stride = L->nargs > 1 ? (int)L->arg[1] : k;
        if (L->in.ndim != 3)
            return sd_error("layer %s: maxpool needs (C,H,W) inputs, got %s", L->name[0] ? L->name : "maxpool",
                            sd_shape_str(L->in, s, sizeof s));
        if (k < 1 || stride < 1 || k > L->in.d[1] || k > L->in.d[2])
            return sd_error("maxpool(%d,%d) does not fit a %s input", k, stride, sd_shape_str(L->in, s, sizeof s));
        L->arg[1] = (float)stride;
        L->nargs = 2;
        L->out = SD_SHAPE(L->in.d[0], (L->in.d[1] - k) / stride + 1, (L->in.d[2] - k) / stride + 1);
        return 0;
    }
    case L_FLATTEN:   /* every shape made here has fewer than 2^31 values (out_shape) */
        L->out = SD_SHAPE((int)sd_shape_numel(L->in));
        return 0;
    case L_CONVT: {
        int out = (int)L->arg[0], k = (int)L->arg[1], stride = L->nargs > 2 ? (int)L->arg[2] : 1;
        int pad = L->nargs > 3 ? (int)L->arg[3] : 0, out_pad = L->nargs > 4 ? (int)L->arg[4] : 0;
        if (L->in.ndim != 3)
            return sd_error("layer %s: convt needs (C,H,W) inputs, got %s", L->name, sd_shape_str(L->in, s, sizeof s));
        for (int i = 0; i < L->nargs; i++)
            if (L->arg[i] != (float)(int)L->arg[i]) return sd_error("layer %s: convt arguments must be integers", L->name);
        if (sd_convt_layer_init(&L->convt, m->P, L->name, L->in.d[0], out, k, stride, pad, out_pad, init, rng))
            return -1;
        /* arguments up to 2^20 each: (H - 1) stride alone may pass 2^31 */
        int64_t oh = ((int64_t)L->in.d[1] - 1) * stride - 2 * (int64_t)pad + k + out_pad;
        int64_t ow = ((int64_t)L->in.d[2] - 1) * stride - 2 * (int64_t)pad + k + out_pad;
        if (oh < 1 || ow < 1)
            return sd_error("layer %s: the padding leaves no output for a %s input", L->name,
                            sd_shape_str(L->in, s, sizeof s));
        if (out_shape(L, out, oh, ow)) return -1;
        L->nparams = (size_t)L->in.d[0] * out * k * k + out;
        return 0;
    }
    case L_BATCHNORM:   /* over dimension 0 of (C) or (C,H,W) */
        if (L->nargs < 1) L->arg[0] = 0.1f;
        if (L->nargs < 2) L->arg[1] = 1e-5f;
        L->nargs = 2;
        if (L->in.ndim != 1 && L->in.ndim != 3)
            return sd_error("layer %s: batchnorm needs (C) or (C,H,W) inputs, got %s", L->name,
                            sd_shape_str(L->in, s, sizeof s));
        if (sd_batchnorm_layer_init(&L->bn, m->P, m->S, L->name, L->in.d[0], L->arg[0], L->arg[1])) return -1;
        L->out = L->in;
        L->nparams = 2 * (size_t)L->in.d[0];
        return 0;
    case L_RESHAPE: {
        int d[3];
        for (int i = 0; i < L->nargs; i++) {
            d[i] = (int)L->arg[i];
            if (d[i] < 1 || L->arg[i] != (float)d[i]) return sd_error("reshape: sizes must be positive integers");
        }
        L->out = sd_shape_of(d, L->nargs);
        if (sd_shape_numel(L->out) != sd_shape_numel(L->in)) {
            char t[64];
            return sd_error("reshape to %s: the input %s has %zu values, not %zu", sd_shape_str(L->out, t, sizeof t),
                            sd_shape_str(L->in, s, sizeof s), sd_shape_numel(L->in), sd_shape_numel(L->out));
        }
        return 0;
    }
    case L_LEAKY_RELU:
        if (L->nargs == 0) { L->arg[0] = 0.01f; L->nargs = 1; }
        L->out = L->in;
        return 0;
    default:
        L->out = L->in;
        return 0;
    }
}

/* ---- Planned memory: what one layer's forward (and, training, backward) puts
 * in the graph's arena, from the shapes alone, as bytes per example plus bytes
 * per batch. Outputs (and their gradients), and the ops' scratch as they
 * allocate it: im2col columns for convolutions (src/engine/op_conv.c, the
 * larger of its two algorithms' needs), columns for transposed ones
 * (op_gen.c), max-pool indices, the product and bias sum of a linear layer. */
static void layer_plan(const layer *L, int training, double *per_example, double *per_batch)
{
    const double out = (double)sd_shape_numel(L->out);
    double values = out, scratch = 0, fixed = 0;
    switch (L->kind) {
    case L_FLATTEN: case L_RESHAPE:
        values = 0;   /* views of their input */
        break;
    case L_LINEAR:
        values = 2 * out;   /* x·Wᵀ, then + b */
        break;
    case L_CONV: {
        const double ckk = (double)L->in.d[0] * L->conv.k * L->conv.k, P = (double)L->out.d[1] * L->out.d[2];
        scratch = ckk * P * (training ? 2 : 1) + (training ? (double)L->out.d[0] * P : 0);
        fixed = 16.0 * L->out.d[0] * L->in.d[0];   /* Winograd's transformed weights */
        break;
    }
    case L_CONVT:
        scratch = ((double)L->in.d[0] + (double)L->out.d[0] * L->convt.k * L->convt.k) * L->in.d[1] * L->in.d[2];
        break;
    case L_MAXPOOL:
        scratch = training ? out : 0;   /* int32 argmax */
        break;
    case L_BATCHNORM:
        fixed = 2.0 * L->in.d[0];
        break;
    }
    *per_example = 4.0 * (values * (training ? 2 : 1) + scratch);
    *per_batch = 4.0 * fixed + 16384;   /* + tensor headers, saved structs, the parameters' leaves */
}

int sd_model_plan_memory(const sd_model *m, int64_t batch, int training, sd_model_plan *out)
{
    if (batch < 1) return sd_error("sd_model_plan_memory: batch %lld must be at least 1", (long long)batch);
    double total = 4.0 * (double)sd_shape_numel(m->input) * (double)batch * (training ? 1 : 0), worst = -1;
    int at = 0;
    for (int i = 0; i < m->nlayers; i++) {
        double pe, pb;
        layer_plan(&m->layers[i], training, &pe, &pb);
        double b = pe * (double)batch + pb;
        total += b;
        if (b > worst) { worst = b; at = i; }
    }
    const double cap = 18446744073709549568.0;   /* the largest double below 2^64 */
    out->bytes = total < cap ? (uint64_t)total : UINT64_MAX;
    out->layer = at;
    out->layer_bytes = worst < cap ? (uint64_t)worst : UINT64_MAX;
    out->batch = batch;
    out->training = training != 0;
    return 0;
}

static void human_bytes(double b, char *buf, size_t size)
{
    if (b >= 1099511627776.0) snprintf(buf, size, "%.1f TiB", b / 1099511627776.0);
    else if (b >= 1073741824.0) snprintf(buf, size, "%.2f GiB", b / 1073741824.0);
    else if (b >= 1048576.0) snprintf(buf, size, "%.1f MiB", b / 1048576.0);
    else snprintf(buf, size, "%.0f KiB", b / 1024.0);
}

static int over_limit(const sd_model *m, const sd_model_plan *p, uint64_t limit)
{
    char a[32], b[32], c[32], sh[64];
    const layer *L = &m->layers[p->layer];
    human_bytes((double)p->bytes, a, sizeof a);
    human_bytes((double)p->layer_bytes, b, sizeof b);
    human_bytes((double)limit, c, sizeof c);
    return sd_error("the model needs %s (%llu bytes) of activations for a batch of %lld%s, over the limit of %s "
                    "(--max-memory); the largest share is layer %d (%s%s%s) with its %s output: %s",
                    a, (unsigned long long)p->bytes, (long long)p->batch, p->training ? " in training" : "",
                    c, p->layer + 1,
                    L->name[0] ? L->name : kinds[L->kind].name, L->name[0] ? "=" : "", L->name[0] ? kinds[L->kind].name : "",
                    sd_shape_str(L->out, sh, sizeof sh), b);
}

int sd_model_check_memory(const sd_model *m, int64_t batch, int training, uint64_t limit)
{
    sd_model_plan p;
    if (sd_model_plan_memory(m, batch, training, &p)) return -1;
    if (!limit) limit = SD_MODEL_MAX_MEMORY;
    return p.bytes > limit ? over_limit(m, &p, limit) : 0;
}

static sd_tensor *layer_forward(sd_graph *g, layer *L, sd_tensor *x, int training)
{
    switch (L->kind) {
    case L_CONVT:      return sd_convt_layer_forward(g, &L->convt, x);
    case L_BATCHNORM:  return sd_batchnorm_layer_forward(g, &L->bn, x, training);
    case L_RESHAPE: {
        int d[SD_MAX_DIMS] = { x->shape.d[0] };
        for (int i = 0; i < L->out.ndim; i++) d[i + 1] = L->out.d[i];
        return sd_reshape(g, x, sd_shape_of(d, L->out.ndim + 1));
    }
    case L_LINEAR:     return sd_linear_forward(g, &L->lin, x);
    case L_CONV:       return sd_conv2d_layer_forward(g, &L->conv, x);
    case L_MAXPOOL:    return sd_maxpool2d(g, x, (int)L->arg[0], (int)L->arg[1]);
    case L_RELU:       return sd_relu(g, x);
    case L_LEAKY_RELU: return sd_leaky_relu(g, x, L->arg[0]);
    case L_SIGMOID:    return sd_sigmoid(g, x);
    case L_TANH:       return sd_tanh(g, x);
    case L_FLATTEN:    return sd_flatten(g, x);
    }
    return NULL;
}

/* ---- Presets */

const char *sd_model_preset(const char *name)
{
    if (!strcmp(name, "mlp")) return "flatten fc1=linear(256) relu fc2=linear(128) relu fc3=linear(10)";
    if (!strcmp(name, "cnn"))
        return "conv1=conv(32,3) relu maxpool(2) conv2=conv(64,3) relu maxpool(2) flatten fc1=linear(128) relu fc2=linear(10)";
    return NULL;
}

const char *sd_model_preset_names(void) { return "mlp, cnn"; }

/* ---- Parsing */

static int parse_layer(const char *tok, layer *L)
{
    char buf[128];
    snprintf(buf, sizeof buf, "%s", tok);
    char *kind = buf, *eq = strchr(buf, '='), *paren = strchr(buf, '(');
    L->name[0] = 0;
    if (eq && (!paren || eq < paren)) {
        *eq = 0;
        if (!*buf || strlen(buf) >= NAME_LEN) return sd_error("layer '%s': bad name", tok);
        for (char *c = buf; *c; c++)
            if (!isalnum((unsigned char)*c) && *c != '_') return sd_error("layer '%s': names use letters, digits and _", tok);
        snprintf(L->name, sizeof L->name, "%s", buf);
        kind = eq + 1;
    }
    L->nargs = 0;
    if (paren) {
        *paren = 0;
        char *close = strchr(paren + 1, ')');
        if (!close || close[1]) return sd_error("layer '%s': expected ')' at the end", tok);
        *close = 0;
        char *p = paren + 1;
        while (*p) {
            if (L->nargs == MAX_ARGS) return sd_error("layer '%s': too many arguments", tok);
            char *end;
            L->arg[L->nargs++] = strtof(p, &end);
            if (end == p) return sd_error("layer '%s': '%s' is not a number", tok, p);
            /* sizes become ints: keep every argument where that is exact and sane */
            if (!(fabsf(L->arg[L->nargs - 1]) <= (float)SD_MAX_LAYER_ARG))
                return sd_error("layer '%s': argument %g is out of range (|x| <= %d)", tok, L->arg[L->nargs - 1],
                                SD_MAX_LAYER_ARG);
            p = end;
            if (*p == ',') p++;
            else if (*p) return sd_error("layer '%s': unexpected '%c'", tok, *p);
        }
    }
    L->kind = -1;
    for (int k = 0; k < L_COUNT; k++)
        if (!strcmp(kind, kinds[k].name)) L->kind = k;
    if (L->kind < 0) return sd_error("unknown layer kind '%s' in '%s'", kind, tok);
    const kind_def *d = &kinds[L->kind];
    if (L->nargs < d->min_args || L->nargs > d->max_args)
        return sd_error("layer '%s': %s takes %d to %d arguments, got %d", tok, d->name, d->min_args, d->max_args, L->nargs);
    return 0;
}

/* Append "name=kind(args)" of L to the canonical string. */
static void append_layer(char *s, size_t size, const layer *L)
{
    size_t k = strlen(s);
    k += (size_t)snprintf(s + k, size - k, "%s%s%s%s", k ? " " : "", kinds[L->kind].prefix ? L->name : "",
                          kinds[L->kind].prefix ? "=" : "", kinds[L->kind].name);
    for (int i = 0; i < L->nargs && k < size; i++)
        k += (size_t)snprintf(s + k, size - k, "%s%g%s", i ? "," : "(", L->arg[i], i == L->nargs - 1 ? ")" : "");
}

int sd_model_arch_check(const char *arch)
{
    if (!arch) return sd_error("no architecture given");
    const char *p = arch;
    int n = 0;
    while (*p) {   /* the tokens of sd_model_new_with, each parsed, nothing built */
        while (*p == ' ' || *p == ',' || *p == '\t' || *p == '\n') p++;
        if (!*p) break;
        const char *start = p;
        int depth = 0;
        while (*p && (depth || (*p != ' ' && *p != ',' && *p != '\t' && *p != '\n'))) {
            if (*p == '(') depth++;
            else if (*p == ')') depth--;
            p++;
        }
        char tok[128];
        size_t len = (size_t)(p - start);
        if (len >= sizeof tok) return sd_error("layer description too long: '%.40s...'", start);
        memcpy(tok, start, len);
        tok[len] = 0;
        layer L;
        if (++n > MAX_LAYERS) return sd_error("too many layers (at most %d)", MAX_LAYERS);
        if (parse_layer(tok, &L)) return -1;
    }
    return n ? 0 : sd_error("the architecture has no layers");
}

sd_model *sd_model_new(const char *arch, sd_shape input, sd_init init, sd_rng *rng)
{
    return sd_model_new_with(arch, input, &(sd_model_opts){ .init = init, .rng = rng });
}

sd_model *sd_model_new_with(const char *arch, sd_shape input, const sd_model_opts *o)
{
    if (!arch) { sd_error("no architecture given"); return NULL; }
    if (!o || !o->rng) { sd_error("sd_model_new_with: no random number generator given"); return NULL; }
    if (input.ndim < 1 || input.ndim > 3 || sd_shape_numel(input) == 0) {
        sd_error("model input must be 1 to 3 positive dimensions (one example, no batch)");
        return NULL;
    }
    sd_model *m = calloc(1, sizeof *m);
    if (!m || !(m->P = sd_params_new()) || !(m->S = sd_params_new())) {
        if (m) sd_params_free(m->P);
        free(m);
        sd_error("out of memory allocating a model");
        return NULL;
    }
    if (sd_shape_numel(input) > INT32_MAX) {
        sd_error("model input: %zu values per example, more than 2^31 - 1", sd_shape_numel(input));
        sd_model_free(m);
        return NULL;
    }
    const uint64_t limit = o->max_memory ? o->max_memory : SD_MODEL_MAX_MEMORY;
    sd_params_set_limit(m->P, o->max_params);
    sd_params_set_limit(m->S, o->max_params);
    m->input = input;
    m->training = 1;
    int counters[L_COUNT] = { 0 };
    const char *p = arch;
    sd_shape cur = input;
    while (*p) {
        while (*p == ' ' || *p == ',' || *p == '\t' || *p == '\n') p++;
        if (!*p) break;
        const char *start = p;
        int depth = 0;
        while (*p && (depth || (*p != ' ' && *p != ',' && *p != '\t' && *p != '\n'))) {
            if (*p == '(') depth++;
            else if (*p == ')') depth--;
            p++;
        }
        char tok[128];
        size_t len = (size_t)(p - start);
        if (len >= sizeof tok) { sd_error("layer description too long: '%.40s...'", start); goto fail; }
        memcpy(tok, start, len);
        tok[len] = 0;
        if (m->nlayers == MAX_LAYERS) { sd_error("too many layers (at most %d)", MAX_LAYERS); goto fail; }
        layer *L = &m->layers[m->nlayers];
        if (parse_layer(tok, L)) goto fail;
        counters[L->kind]++;
        if (!L->name[0] && kinds[L->kind].prefix)
            snprintf(L->name, sizeof L->name, "%s%d", kinds[L->kind].prefix, counters[L->kind]);
        L->in = cur;
        if (layer_build(m, L, o->init, o->rng)) goto fail;
        cur = L->out;
        m->nlayers++;
        /* one example, training, must fit the memory limit: refused at the first layer that passes it */
        sd_model_plan plan;
        sd_model_plan_memory(m, 1, 1, &plan);
        if (plan.bytes > limit) { over_limit(m, &plan, limit); goto fail; }
    }
    if (m->nlayers == 0) { sd_error("the architecture has no layers"); goto fail; }
    size_t size = 64 * (size_t)m->nlayers + 1;
    m->arch = calloc(1, size);
    if (!m->arch) { sd_error("out of memory"); goto fail; }
    for (int i = 0; i < m->nlayers; i++) append_layer(m->arch, size, &m->layers[i]);
    return m;
fail:
    sd_model_free(m);
    return NULL;
}

void sd_model_free(sd_model *m)
{
    if (!m) return;
    sd_params_free(m->P);
    sd_params_free(m->S);
    for (int i = 0; i < m->nmeta; i++) { free(m->meta_k[i]); free(m->meta_v[i]); }
    free(m->arch);
    free(m);
}

sd_tensor *sd_model_forward(sd_graph *g, sd_model *m, sd_tensor *x)
{
    return sd_model_forward_trace(g, m, x, NULL);
}

sd_tensor *sd_model_forward_trace(sd_graph *g, sd_model *m, sd_tensor *x, sd_tensor **outs)
{
    if (!x) return NULL;
    int ok = x->shape.ndim == m->input.ndim + 1;
    for (int i = 0; ok && i < m->input.ndim; i++) ok = x->shape.d[i + 1] == m->input.d[i];
    if (!ok) {
        char a[64], b[64];
        sd_error("model input: expected %s per example (plus a batch dimension), got %s",
                 sd_shape_str(m->input, a, sizeof a), sd_shape_str(x->shape, b, sizeof b));
        return NULL;
    }
    for (int i = 0; i < m->nlayers && x; i++) {
        /* relu then maxpool = maxpool then relu (max commutes with a monotone
         * function, and the gradient reaches the same element): running the
         * pool first makes the ReLU 4x cheaper. Traces keep the written order. */
        if (!outs && i + 1 < m->nlayers && m->layers[i].kind == L_RELU && m->layers[i + 1].kind == L_MAXPOOL) {
            x = sd_relu(g, layer_forward(g, &m->layers[i + 1], x, m->training));
            i++;
            continue;
        }
        x = layer_forward(g, &m->layers[i], x, m->training);
        if (outs) outs[i] = x;
    }
    return x;
}

sd_params *sd_model_params(sd_model *m) { return m->P; }
sd_params *sd_model_state(sd_model *m) { return m->S; }
void sd_model_set_training(sd_model *m, int training) { m->training = training != 0; }
int sd_model_training(const sd_model *m) { return m->training; }
const char *sd_model_arch(const sd_model *m) { return m->arch; }
sd_shape sd_model_input_shape(const sd_model *m) { return m->input; }
sd_shape sd_model_output_shape(const sd_model *m) { return m->layers[m->nlayers - 1].out; }
int sd_model_layer_count(const sd_model *m) { return m->nlayers; }

void sd_model_layer_info(const sd_model *m, int i, sd_layer_info *out)
{
    const layer *L = &m->layers[i];
    out->name = L->name;
    out->kind = kinds[L->kind].name;
    out->in = L->in;
    out->out = L->out;
    out->params = L->nparams;
    out->nargs = L->nargs;
    for (int k = 0; k < MAX_ARGS; k++) out->args[k] = k < L->nargs ? L->arg[k] : 0.0f;
}

/* ---- Metadata */

int sd_model_meta_set(sd_model *m, const char *key, const char *value)
{
    for (int i = 0; i < m->nmeta; i++)
        if (!strcmp(m->meta_k[i], key)) {
            char *v = strdup(value);
            if (!v) return sd_error("out of memory");
            free(m->meta_v[i]);
            m->meta_v[i] = v;
            return 0;
        }
    if (m->nmeta == MAX_META) return sd_error("too many metadata entries (at most %d)", MAX_META);
    char *k = strdup(key), *v = strdup(value);
    if (!k || !v) { free(k); free(v); return sd_error("out of memory"); }
    m->meta_k[m->nmeta] = k;
    m->meta_v[m->nmeta++] = v;
    return 0;
}

const char *sd_model_meta_get(const sd_model *m, const char *key)
{
    for (int i = 0; i < m->nmeta; i++)
        if (!strcmp(m->meta_k[i], key)) return m->meta_v[i];
    return NULL;
}

int sd_model_meta_count(const sd_model *m) { return m->nmeta; }

void sd_model_meta_at(const sd_model *m, int i, const char **key, const char **value)
{
    *key = m->meta_k[i];
    *value = m->meta_v[i];
}
