/* Checkpoints of `shendu lm train` (issue 8): the run's configuration as text,
 * and a file that is an lm model (sd_lm_load reads its weights) plus the
 * optimizer, the RNGs and the loss statistics, so that a resumed run ends with
 * the weights of one that never stopped. */
#define _POSIX_C_SOURCE 200809L
#include "apps.h"

#include <stdlib.h>
#include <string.h>

#define FORMAT "lm-checkpoint"
#define N_TAIL 100

const char *const sd_lm_config_keys[] = {
    "text", "cell", "layers", "hidden", "emb", "seq", "batch", "steps", "lr", "threads", "seed", "forget-bias", NULL
};
#define N_CONFIG 12

void sd_lm_config_get(const sd_lm_opts *o, const char *key, char *buf, size_t size)
{
    if (!strcmp(key, "text")) snprintf(buf, size, "%s", o->text ? o->text : SD_LM_DEFAULT_TEXT);
    else if (!strcmp(key, "cell")) snprintf(buf, size, "%s", sd_cell_name(o->cell));
    else if (!strcmp(key, "layers")) snprintf(buf, size, "%d", o->layers);
    else if (!strcmp(key, "hidden")) snprintf(buf, size, "%d", o->hidden);
    else if (!strcmp(key, "emb")) snprintf(buf, size, "%d", o->emb);
    else if (!strcmp(key, "seq")) snprintf(buf, size, "%d", o->seq);
    else if (!strcmp(key, "batch")) snprintf(buf, size, "%d", o->batch);
    else if (!strcmp(key, "steps")) snprintf(buf, size, "%d", o->steps);
    else if (!strcmp(key, "lr")) snprintf(buf, size, "%.9g", o->lr);
    else if (!strcmp(key, "threads")) snprintf(buf, size, "%d", o->threads);
    else if (!strcmp(key, "seed")) snprintf(buf, size, "%llu", (unsigned long long)o->seed);
    else if (!strcmp(key, "forget-bias")) snprintf(buf, size, "%.9g", o->forget_bias);
    else snprintf(buf, size, "?");
}

/* An integer in [lo, hi], the whole string. */
static int parse_int(const char *v, int lo, int hi, int *out)
{
    char *end;
    long x = strtol(v, &end, 10);
    if (!*v || *end || x < lo || x > hi) return -1;
    *out = (int)x;
    return 0;
}

static int parse_float(const char *v, float *out)
{
    char *end;
    float x = strtof(v, &end);
    if (!*v || *end || x != x) return -1;
    *out = x;
    return 0;
}

static int config_set(sd_lm_opts *o, const char *key, const char *v)
{
    int bad = 0;
    if (!strcmp(key, "text")) {
        char *copy = strdup(v);
        if (!copy) return sd_error("out of memory");
        free(o->owned);
        o->owned = copy;
        o->text = copy;
    } else if (!strcmp(key, "cell")) bad = sd_cell_parse(v, &o->cell);
    else if (!strcmp(key, "layers")) bad = parse_int(v, 1, 16, &o->layers);
    else if (!strcmp(key, "hidden")) bad = parse_int(v, 1, 8192, &o->hidden);
    else if (!strcmp(key, "emb")) bad = parse_int(v, 1, 8192, &o->emb);
    else if (!strcmp(key, "seq")) bad = parse_int(v, 1, 1 << 20, &o->seq);
    else if (!strcmp(key, "batch")) bad = parse_int(v, 1, 1 << 16, &o->batch);
    else if (!strcmp(key, "steps")) bad = parse_int(v, 1, 1 << 30, &o->steps);
    else if (!strcmp(key, "lr")) bad = parse_float(v, &o->lr);
    else if (!strcmp(key, "threads")) bad = parse_int(v, 0, 256, &o->threads);
    else if (!strcmp(key, "seed")) {
        char *end;
        o->seed = strtoull(v, &end, 10);
        bad = !*v || *end || v[0] == '-';
    } else if (!strcmp(key, "forget-bias")) bad = parse_float(v, &o->forget_bias);
    return bad ? sd_error("bad value '%s' for '%s'", v, key) : 0;
}

void sd_lm_config_free(sd_lm_opts *o)
{
    if (o->text == o->owned) o->text = NULL;
    free(o->owned);
    o->owned = NULL;
}

/* 0 if f is an lm checkpoint, else -1 with a message saying what it is. */
static int check_format(const sd_st_file *f, const char *path)
{
    const char *fmt = sd_st_meta(f, "shendu.format");
    if (fmt && !strcmp(fmt, FORMAT) && sd_st_meta(f, "shendu.lm.step")) return 0;
    return sd_error("%s: not a checkpoint of `shendu lm train`%s", path,
                    !fmt ? " (not a shendu file; write a checkpoint with --checkpoint FILE)"
                    : !strcmp(fmt, "lm") ? " but a finished language model (write a checkpoint with --checkpoint FILE)"
                    : !strcmp(fmt, "checkpoint") ? " but one of `shendu train` (resume it with shendu train --resume)"
                    : " (write one with --checkpoint FILE)");
}

int sd_lm_config_load(const char *path, sd_lm_opts *o)
{
    sd_st_file *f = sd_st_open(path);
    if (!f) return -1;
    int rc = check_format(f, path);
    for (int i = 0; sd_lm_config_keys[i] && !rc; i++) {
        char key[64];
        snprintf(key, sizeof key, "shendu.lm.%s", sd_lm_config_keys[i]);
        const char *v = sd_st_meta(f, key);
        if (!v) rc = sd_error("%s: checkpoint lacks '%s'", path, key);
        else if (config_set(o, sd_lm_config_keys[i], v)) rc = sd_error_prefix("%s", path);
    }
    sd_st_close(f);
    return rc;
}

int sd_lm_checkpoint_save(const char *path, const sd_lm *m, sd_optim *opt, const sd_lm_opts *o,
                          size_t text_bytes, const sd_lm_train_state *st)
{
    char cfg[N_CONFIG][256], keys[N_CONFIG][64], names[4][64];
    char steps[32], lr[32], step[16], bytes[32], lwin[40], win[16];
    sd_st_kv kv[N_CONFIG + 10];
    sd_st_tensor t[8];
    int n = 0, nt = 0;
    const int64_t size = (int64_t)sd_optim_state_size(opt);
    if (sd_optim_state_count(opt) > 4) return sd_error("%s: too much optimizer state", path);
    for (int i = 0; i < sd_optim_state_count(opt); i++) {
        const char *name;
        float *state = sd_optim_state(opt, i, &name);
        snprintf(names[i], sizeof names[i], "shendu.optim.%s", name);
        t[nt++] = (sd_st_tensor){ .name = names[i], .dtype = SD_F32, .ndim = 1, .shape = { size }, .data = state };
    }
    t[nt++] = sd_checkpoint_rng_tensor("shendu.lm.rng", &st->rng);
    t[nt++] = sd_checkpoint_rng_tensor("shendu.lm.sample_rng", &st->srng);
    t[nt++] = (sd_st_tensor){ .name = "shendu.lm.tail", .dtype = SD_F64, .ndim = 1, .shape = { N_TAIL },
                              .data = st->tail };
    for (int i = 0; sd_lm_config_keys[i]; i++, n++) {
        snprintf(keys[i], sizeof keys[i], "shendu.lm.%s", sd_lm_config_keys[i]);
        sd_lm_config_get(o, sd_lm_config_keys[i], cfg[i], sizeof cfg[i]);
        kv[n] = (sd_st_kv){ keys[i], cfg[i] };
    }
    snprintf(steps, sizeof steps, "%lld", (long long)sd_optim_steps(opt));
    snprintf(lr, sizeof lr, "%.9g", sd_optim_lr(opt));
    snprintf(step, sizeof step, "%d", st->step);
    snprintf(bytes, sizeof bytes, "%zu", text_bytes);
    snprintf(lwin, sizeof lwin, "%.17g", st->loss_window);
    snprintf(win, sizeof win, "%d", st->window);
    kv[n++] = (sd_st_kv){ "shendu.optim.kind", sd_optim_kind_name(sd_optim_options(opt)->kind) };
    kv[n++] = (sd_st_kv){ "shendu.optim.steps", steps };
    kv[n++] = (sd_st_kv){ "shendu.optim.lr", lr };
    kv[n++] = (sd_st_kv){ "shendu.lm.step", step };
    kv[n++] = (sd_st_kv){ "shendu.lm.text_bytes", bytes };
    kv[n++] = (sd_st_kv){ "shendu.lm.loss_window", lwin };
    kv[n++] = (sd_st_kv){ "shendu.lm.window", win };
    return sd_lm_save_with(m, path, FORMAT, t, nt, kv, n);
}

int sd_lm_checkpoint_restore(const char *path, sd_lm *m, sd_optim *opt, size_t text_bytes,
                             sd_lm_train_state *st)
{
    sd_st_file *f = sd_st_open(path);
    if (!f) return -1;
    int rc = -1;
    if (check_format(f, path)) goto done;
    /* the same text: the vocabulary fixes the shapes, the size where the windows fall */
    const char *vs = sd_st_meta(f, "vocab"), *bs = sd_st_meta(f, "shendu.lm.text_bytes");
    char have[4 * 256 + 1];
    sd_vocab_escape(sd_lm_vocab(m), have, sizeof have);
    if (!vs || !bs || strcmp(vs, have) || strtoull(bs, NULL, 10) != (unsigned long long)text_bytes) {
        sd_error("%s: the text is not the one this run was trained on (%s bytes and vocabulary \"%s\" in the "
                 "checkpoint, %zu bytes and \"%s\" now)", path, bs ? bs : "?", vs ? vs : "?", text_bytes, have);
        goto done;
    }
    sd_params *P = sd_lm_params(m);
    for (int i = 0; i < sd_params_count(P); i++) {
        sd_shape s = sd_params_shape(P, i);
        int64_t shape[SD_MAX_DIMS];
        for (int d = 0; d < s.ndim; d++) shape[d] = s.d[d];
        if (sd_st_read_f32(f, sd_params_name(P, i), s.ndim, shape, sd_params_data(P, i))) goto done;
    }
    const char *sp = sd_st_meta(f, "shendu.lm.step"), *steps = sd_st_meta(f, "shendu.optim.steps"),
               *lw = sd_st_meta(f, "shendu.lm.loss_window"), *w = sd_st_meta(f, "shendu.lm.window");
    char *end = NULL;
    if (!sp || !steps || !lw || !w || parse_int(sp, 0, 1 << 30, &st->step) || parse_int(w, 0, 1 << 30, &st->window) ||
        strcmp(sp, steps) || (st->loss_window = strtod(lw, &end), *end)) {
        sd_error("%s: bad or missing training state (shendu.lm.step, shendu.lm.window, shendu.lm.loss_window)", path);
        goto done;
    }
    int k = sd_st_find(f, "shendu.lm.tail");
    sd_st_tensor t;
    if (k >= 0) sd_st_get(f, k, &t);
    if (k < 0 || t.dtype != SD_F64 || t.ndim != 1 || t.shape[0] != N_TAIL) {
        sd_error("%s: the checkpoint has no tensor shendu.lm.tail F64 [%d]", path, N_TAIL);
        goto done;
    }
    memcpy(st->tail, t.data, sizeof st->tail);
    if (sd_checkpoint_restore_optim(f, opt) || sd_checkpoint_read_rng(f, "shendu.lm.rng", &st->rng) ||
        sd_checkpoint_read_rng(f, "shendu.lm.sample_rng", &st->srng)) {
        sd_error_prefix("%s", path);
        goto done;
    }
    rc = 0;
done:
    sd_st_close(f);
    return rc;
}
