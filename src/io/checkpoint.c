/* Checkpoints: model + optimizer state + the trainer's own state, one file. */
#include "shendu/io.h"
#include "shendu/optim.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_EXTRA 32
#define MAX_META 96

int sd_checkpoint_save(const char *path, const sd_model *m, sd_optim *opt, const sd_st_tensor *extra, int nextra,
                       const sd_st_kv *meta, int nmeta)
{
    if (nextra > MAX_EXTRA - 2 || nmeta > MAX_META - 8) return sd_error("%s: too much checkpoint state", path);
    sd_st_tensor t[MAX_EXTRA];
    sd_st_kv kv[MAX_META];
    int nt = 0, nk = 0;
    char steps[32], lr[32], names[2][64];
    const int64_t size = (int64_t)sd_params_size(sd_model_params((sd_model *)m));
    for (int i = 0; i < sd_optim_state_count(opt); i++) {
        const char *name;
        float *state = sd_optim_state(opt, i, &name);
        snprintf(names[i], sizeof names[i], "shendu.optim.%s", name);
        t[nt++] = (sd_st_tensor){ .name = names[i], .dtype = SD_F32, .ndim = 1, .shape = { size }, .data = state };
    }
    for (int i = 0; i < nextra; i++) t[nt++] = extra[i];
    snprintf(steps, sizeof steps, "%" PRId64, sd_optim_steps(opt));
    snprintf(lr, sizeof lr, "%.9g", sd_optim_lr(opt));
    kv[nk++] = (sd_st_kv){ "shendu.format", "checkpoint" };
    kv[nk++] = (sd_st_kv){ "shendu.optim.kind", sd_optim_kind_name(sd_optim_options(opt)->kind) };
    kv[nk++] = (sd_st_kv){ "shendu.optim.steps", steps };
    kv[nk++] = (sd_st_kv){ "shendu.optim.lr", lr };
    for (int i = 0; i < nmeta; i++) kv[nk++] = meta[i];
    return sd_model_save_with(m, path, t, nt, kv, nk);
}

int sd_checkpoint_restore_optim(const sd_st_file *f, sd_optim *opt)
{
    const char *kind = sd_st_meta(f, "shendu.optim.kind"), *steps = sd_st_meta(f, "shendu.optim.steps");
    const char *want = sd_optim_kind_name(sd_optim_options(opt)->kind);
    if (!kind || !steps) return sd_error("not a checkpoint: no optimizer state");
    if (strcmp(kind, want)) return sd_error("the checkpoint's optimizer is %s, not %s", kind, want);
    for (int i = 0; i < sd_optim_state_count(opt); i++) {
        const char *name;
        float *state = sd_optim_state(opt, i, &name);
        char full[64];
        snprintf(full, sizeof full, "shendu.optim.%s", name);
        /* the flat buffer's size: every tensor of the model, with alignment padding */
        int64_t n = (int64_t)sd_optim_state_size(opt);
        if (sd_st_read_f32(f, full, 1, &n, state)) return sd_error_prefix("optimizer state");
    }
    char *end;
    long long s = strtoll(steps, &end, 10);
    if (*end || s < 0) return sd_error("bad shendu.optim.steps '%s'", steps);
    sd_optim_set_steps(opt, s);
    return 0;
}

sd_st_tensor sd_checkpoint_rng_tensor(const char *name, const sd_rng *rng)
{
    return (sd_st_tensor){ .name = name, .dtype = SD_U64, .ndim = 1, .shape = { 4 }, .data = rng->s };
}

int sd_checkpoint_read_rng(const sd_st_file *f, const char *name, sd_rng *out)
{
    int k = sd_st_find(f, name);
    if (k < 0) return sd_error("the checkpoint has no RNG state '%s'", name);
    sd_st_tensor t;
    sd_st_get(f, k, &t);
    if (t.dtype != SD_U64 || t.ndim != 1 || t.shape[0] != 4)
        return sd_error("RNG state '%s' must be U64 [4]", name);
    memcpy(out->s, t.data, sizeof out->s);
    if (!(out->s[0] | out->s[1] | out->s[2] | out->s[3])) return sd_error("RNG state '%s' is all zero", name);
    return 0;
}

int sd_checkpoint_read_i32(const sd_st_file *f, const char *name, int32_t *dst, size_t n)
{
    int k = sd_st_find(f, name);
    if (k < 0) return sd_error("the checkpoint has no tensor '%s'", name);
    sd_st_tensor t;
    sd_st_get(f, k, &t);
    if (t.dtype != SD_I32 || t.ndim != 1 || (uint64_t)t.shape[0] != n)
        return sd_error("tensor '%s' must be I32 [%zu]", name, n);
    memcpy(dst, t.data, n * sizeof *dst);
    return 0;
}

int sd_checkpoint_read(const sd_st_file *f, const char *name, sd_dtype dtype, int ndim, const int64_t *shape,
                       void *dst)
{
    int k = sd_st_find(f, name);
    if (k < 0) return sd_error("the checkpoint has no tensor '%s'", name);
    sd_st_tensor t;
    sd_st_get(f, k, &t);
    int same = t.dtype == dtype && t.ndim == ndim;
    size_t n = 1;
    for (int d = 0; same && d < ndim; d++) {
        same = t.shape[d] == shape[d];
        n *= (size_t)shape[d];
    }
    if (!same) {
        char want[128], got[128];
        size_t a = 0, b = 0;
        for (int d = 0; d < ndim && a < sizeof want; d++)
            a += (size_t)snprintf(want + a, sizeof want - a, d ? ",%" PRId64 : "%" PRId64, shape[d]);
        for (int d = 0; d < t.ndim && b < sizeof got; d++)
            b += (size_t)snprintf(got + b, sizeof got - b, d ? ",%" PRId64 : "%" PRId64, t.shape[d]);
        if (!ndim) want[0] = 0;
        if (!t.ndim) got[0] = 0;
        return sd_error("tensor '%s' is %s [%s], expected %s [%s]", name, sd_dtype_name(t.dtype), got,
                        sd_dtype_name(dtype), want);
    }
    if (n) memcpy(dst, t.data, n * sd_dtype_size(dtype));
    return 0;
}

int sd_checkpoint_read_params(const sd_st_file *f, sd_params *P)
{
    for (int i = 0; P && i < sd_params_count(P); i++) {
        sd_shape s = sd_params_shape(P, i);
        int64_t shape[SD_MAX_DIMS];
        for (int k = 0; k < s.ndim; k++) shape[k] = s.d[k];
        if (sd_st_read_f32(f, sd_params_name(P, i), s.ndim, shape, sd_params_data(P, i))) return -1;
    }
    return 0;
}
