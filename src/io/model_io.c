/* Model files: parameters as safetensors, architecture in __metadata__. */
#include "shendu/io.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_TENSORS 512
#define MAX_KV 128

int sd_model_save_with(const sd_model *m, const char *path, const sd_st_tensor *extra, int nextra,
                       const sd_st_kv *extra_meta, int nextra_meta)
{
    sd_params *P = sd_model_params((sd_model *)m);
    int np = sd_params_count(P);
    if (np + nextra > MAX_TENSORS) return sd_error("%s: too many tensors (%d)", path, np + nextra);
    sd_st_tensor t[MAX_TENSORS];
    for (int i = 0; i < np; i++) {
        sd_shape s = sd_params_shape(P, i);
        t[i] = (sd_st_tensor){ .name = sd_params_name(P, i), .dtype = SD_F32, .ndim = s.ndim,
                               .data = sd_params_data(P, i) };
        for (int d = 0; d < s.ndim; d++) t[i].shape[d] = s.d[d];
    }
    sd_params *S = sd_model_state((sd_model *)m);   /* then untrained state: batchnorm running averages */
    int ns = sd_params_count(S);
    if (np + ns + nextra > MAX_TENSORS) return sd_error("%s: too many tensors (%d)", path, np + ns + nextra);
    for (int i = 0; i < ns; i++) {
        sd_shape s = sd_params_shape(S, i);
        t[np + i] = (sd_st_tensor){ .name = sd_params_name(S, i), .dtype = SD_F32, .ndim = s.ndim,
                                    .data = sd_params_data(S, i) };
        for (int d = 0; d < s.ndim; d++) t[np + i].shape[d] = s.d[d];
    }
    np += ns;
    for (int i = 0; i < nextra; i++) t[np + i] = extra[i];

    char input[64];
    sd_shape in = sd_model_input_shape(m);
    size_t k = 0;
    for (int d = 0; d < in.ndim; d++) k += (size_t)snprintf(input + k, sizeof input - k, d ? ",%d" : "%d", in.d[d]);
    int nm = sd_model_meta_count(m);
    if (4 + nm + nextra_meta > MAX_KV) return sd_error("%s: too much metadata", path);
    sd_st_kv kv[MAX_KV];
    int n = 0;
    int has_format = 0, has_kind = 0;   /* a checkpoint passes its own "shendu.format"; a command its kind */
    for (int i = 0; i < nextra_meta; i++) {
        has_format |= !strcmp(extra_meta[i].key, "shendu.format");
        has_kind |= !strcmp(extra_meta[i].key, "shendu.kind");
    }
    if (!has_format) kv[n++] = (sd_st_kv){ "shendu.format", "model" };
    if (!has_kind) kv[n++] = (sd_st_kv){ "shendu.kind", sd_kind_name(has_format ? SD_FILE_CHECKPOINT : SD_FILE_MODEL) };
    kv[n++] = (sd_st_kv){ "shendu.arch", sd_model_arch(m) };
    kv[n++] = (sd_st_kv){ "shendu.input", input };
    for (int i = 0; i < nm; i++) {
        sd_model_meta_at(m, i, &kv[n].key, &kv[n].value);
        n++;
    }
    for (int i = 0; i < nextra_meta; i++) kv[n++] = extra_meta[i];
    return sd_st_save(path, t, np + nextra, kv, n);
}

int sd_model_save(const sd_model *m, const char *path) { return sd_model_save_with(m, path, NULL, 0, NULL, 0); }

static int parse_input(const char *s, sd_shape *out)
{
    int d[SD_MAX_DIMS], n = 0;
    const char *p = s;
    while (*p) {
        if (n == 3) return -1;
        char *end;
        long v = strtol(p, &end, 10);
        if (end == p || v < 1 || v > 1 << 20) return -1;
        d[n++] = (int)v;
        p = end;
        if (*p == ',') p++;
        else if (*p) return -1;
    }
    if (!n) return -1;
    *out = sd_shape_of(d, n);
    return 0;
}

/* The model in an open file (closed here); `path` names it in messages. */
static sd_model *model_from_file(sd_st_file *f, const char *path, uint64_t max_memory)
{
    if (!f) return NULL;
    sd_model *m = NULL;
    const char *fmt = sd_st_meta(f, "shendu.format"), *arch = sd_st_meta(f, "shendu.arch"),
               *input = sd_st_meta(f, "shendu.input");
    sd_shape in;
    if (!fmt || !arch || !input) {
        sd_error("%s: not a shendu model (its metadata has no shendu.format/arch/input)", path);
        goto done;
    }
    if (strcmp(fmt, "model") && strcmp(fmt, "checkpoint")) {
        sd_error("%s: shendu.format is '%s', not a model", path, fmt);
        goto done;
    }
    if (parse_input(input, &in)) { sd_error("%s: bad shendu.input '%s'", path, input); goto done; }
    sd_rng rng;
    sd_rng_seed(&rng, 0);
    /* the architecture may not ask for more parameters than the file holds */
    size_t held = sd_st_numel(f);   /* + 1: a limit of 0 would mean no limit */
    m = sd_model_new_with(arch, in, &(sd_model_opts){ .rng = &rng, .max_params = held + 1, .max_memory = max_memory });
    if (!m) { sd_error_prefix("%s: shendu.arch (the file's tensors hold %zu values)", path, held); goto done; }
    sd_params *P = sd_model_params(m), *S = sd_model_state(m);   /* S: batchnorm running averages */
    if (sd_checkpoint_read_params(f, P) || sd_checkpoint_read_params(f, S)) {
        sd_error_prefix("tensors do not match the architecture in the metadata");
        goto fail;
    }
    for (int k = 0; k < 2; k++) {   /* a diverged or damaged file would turn every answer into NaN */
        sd_params *Q = k ? S : P;
        int bad = sd_params_first_nonfinite(Q, 0);
        if (bad >= 0) {
            sd_error("%s: tensor '%s' holds NaN or infinite values (a diverged run, or a damaged file)", path,
                     sd_params_name(Q, bad));
            goto fail;
        }
    }
    sd_model_set_training(m, !strcmp(fmt, "checkpoint"));   /* a model file is for inference, a checkpoint resumes training */
    for (int i = 0; i < sd_st_count(f); i++) {   /* nothing but the parameters (and shendu.* state) */
        sd_st_tensor t;
        sd_st_get(f, i, &t);
        if (strncmp(t.name, "shendu.", 7) && sd_params_find(P, t.name) < 0 && sd_params_find(S, t.name) < 0) {
            sd_error("%s: tensor '%s' is not part of the architecture in the metadata (%s)", path, t.name, arch);
            goto fail;
        }
    }
    for (int i = 0; i < sd_st_meta_count(f); i++) {
        sd_st_kv kv;
        sd_st_meta_get(f, i, &kv);
        if (strncmp(kv.key, "shendu.", 7) && sd_model_meta_set(m, kv.key, kv.value)) goto fail;
    }
    /* how inputs are prepared (x = pixel * input_scale + input_shift): finite numbers or absent */
    static const char *const prep[] = { "input_scale", "input_shift" };
    for (int k = 0; k < 2; k++) {
        const char *v = sd_model_meta_get(m, prep[k]);
        char *end;
        if (v && (!isfinite(strtof(v, &end)) || end == v || *end)) {
            sd_error("%s: metadata %s is '%.40s', not a finite number", path, prep[k], v);
            goto fail;
        }
    }
    goto done;
fail:
    sd_model_free(m);
    m = NULL;
done:
    sd_st_close(f);
    return m;
}

sd_model *sd_model_load(const char *path) { return sd_model_load_with(path, 0); }

sd_model *sd_model_load_with(const char *path, uint64_t max_memory)
{
    return model_from_file(sd_st_open(path), path, max_memory);
}

sd_model *sd_model_load_mem(const void *buf, size_t size, const char *name)
{
    if (!name) name = "(memory)";
    return model_from_file(sd_st_open_mem(buf, size, name), name, 0);
}
