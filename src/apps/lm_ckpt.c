/* Checkpoints of `shendu lm train` (issue 8): the run's configuration as text,
 * and a file that is an lm model (sd_lm_load reads its weights) plus the
 * optimizer, the RNGs and the loss statistics, so that a resumed run ends with
 * the weights of one that never stopped. */
#define _POSIX_C_SOURCE 200809L
#include "apps.h"

#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#define FORMAT "lm-checkpoint"
#define N_TAIL 100

static const char *const cell_names[] = { "rnn", "lstm", "transformer", NULL };
_Static_assert(SD_CELL_RNN == 0 && SD_CELL_LSTM == 1 && SD_CELL_TRANSFORMER == 2 && sizeof(sd_cell) == sizeof(int),
               "cell_names follows sd_cell");

#define F(key, kind, field, ...) { key, kind, offsetof(sd_lm_opts, field), __VA_ARGS__ }
const sd_config_field sd_lm_config_fields[] = {
    F("text", SD_CFG_STR, text, 0, 0, NULL, SD_LM_DEFAULT_TEXT),
    F("cell", SD_CFG_ENUM, cell, 0, 0, cell_names),
    F("layers", SD_CFG_INT, layers, 1, 16),
    F("hidden", SD_CFG_INT, hidden, 1, 8192),
    F("emb", SD_CFG_INT, emb, 1, 8192),
    F("seq", SD_CFG_INT, seq, 1, 1 << 20),
    F("batch", SD_CFG_INT, batch, 1, 1 << 16),
    F("steps", SD_CFG_INT, steps, 1, 1 << 30),
    F("lr", SD_CFG_FLOAT, lr, 0, 100),
    F("threads", SD_CFG_INT, threads, 0, 256),
    F("seed", SD_CFG_U64, seed),
    F("forget-bias", SD_CFG_FLOAT, forget_bias, -100, 100),
    /* the transformer's (issue 20); a checkpoint from before them reads these values */
    F("dim", SD_CFG_INT, dim, 1, 8192, NULL, "128"),
    F("heads", SD_CFG_INT, heads, 1, 8192, NULL, "4"),
    F("dropout", SD_CFG_FLOAT, dropout, 0, 0.99, NULL, "0"),
    F("weight-decay", SD_CFG_FLOAT, weight_decay, 0, 100, NULL, "0.1"),
    F("clip", SD_CFG_FLOAT, clip, 0, 1e30, NULL, "1"),
    F("warmup", SD_CFG_INT, warmup, 0, 1 << 30, NULL, "100"),
    F("precision", SD_CFG_ENUM, precision, 0, 0, sd_precision_names, "fp32"),
    { 0 }
};
#undef F

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
    int rc = sd_st_expect_kind(f, path, SD_KIND_BIT(SD_FILE_LM_CKPT), "a checkpoint of shendu lm train");
    if (!rc) rc = check_format(f, path);
    if (!rc) rc = sd_config_from_file(sd_lm_config_fields, o, "lm", f, path, &o->owned);
    sd_st_close(f);
    return rc;
}

int sd_lm_checkpoint_save(const char *path, const sd_lm *m, sd_optim *opt, const sd_lm_opts *o,
                          size_t text_bytes, const sd_lm_train_state *st)
{
    char names[4][64], steps[32], lr[32], step[16], bytes[32], lwin[40], win[16];
    sd_config_text cfg;
    if (sd_config_to_meta(sd_lm_config_fields, o, "lm", &cfg)) return -1;
    sd_st_kv kv[SD_CONFIG_MAX + 10];
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
    for (int i = 0; i < cfg.n; i++) kv[n++] = cfg.kv[i];
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
    if (sd_checkpoint_read_params(f, P)) goto done;
    const char *sp = sd_st_meta(f, "shendu.lm.step"), *steps = sd_st_meta(f, "shendu.optim.steps"),
               *lw = sd_st_meta(f, "shendu.lm.loss_window"), *w = sd_st_meta(f, "shendu.lm.window");
    char *end = NULL;
    long step, window;
    if (!sp || !steps || !lw || !w || sd_config_parse_long(sp, 0, 1 << 30, &step) ||
        sd_config_parse_long(w, 0, 1 << 30, &window) || strcmp(sp, steps) || (st->loss_window = strtod(lw, &end), *end)) {
        sd_error("%s: bad or missing training state (shendu.lm.step, shendu.lm.window, shendu.lm.loss_window)", path);
        goto done;
    }
    st->step = (int)step;
    st->window = (int)window;
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
