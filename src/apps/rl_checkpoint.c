#define _POSIX_C_SOURCE 200809L
/* `shendu rl dqn` checkpoints: the run's configuration as text beside the
 * agent's state (sd_dqn_checkpoint_save), read back by --resume. */
#include "apps.h"

#include <stddef.h>
#include <stdlib.h>
#include <string.h>

static const char *const loss_names[] = { "mse", "huber", NULL };

#define F(key, kind, field, ...) { key, kind, offsetof(sd_rl_dqn_opts, field), __VA_ARGS__ }
const sd_config_field sd_rl_dqn_config_fields[] = {
    F("env", SD_CFG_STR, env, 0, 0, NULL, ""),
    F("recipe", SD_CFG_STR, recipe, 0, 0, NULL, ""),
    F("steps", SD_CFG_LONG, dqn.total_steps, 1, 1 << 30),
    F("seed", SD_CFG_U64, dqn.seed),
    F("threads", SD_CFG_INT, threads, 0, 256),
    F("hidden", SD_CFG_STR, dqn.hidden, 0, 0, NULL, ""),
    F("lr", SD_CFG_FLOAT, dqn.lr, 1e-9, 1),
    F("lr-end", SD_CFG_FLOAT, dqn.lr_end, 0, 1),
    F("gamma", SD_CFG_FLOAT, dqn.gamma, 1e-9, 1),
    F("batch", SD_CFG_INT, dqn.batch, 1, 1 << 20),
    F("buffer", SD_CFG_INT, dqn.buffer_size, 1, 1 << 26),
    F("learning-starts", SD_CFG_LONG, dqn.learning_starts, -1, 1 << 30),
    F("train-freq", SD_CFG_INT, dqn.train_freq, 1, 1 << 20),
    F("gradient-steps", SD_CFG_INT, dqn.gradient_steps, 1, 1 << 20),
    F("target-freq", SD_CFG_INT, dqn.target_freq, 1, 1 << 30),
    F("tau", SD_CFG_FLOAT, dqn.tau, 1e-6, 1),
    F("eps-start", SD_CFG_FLOAT, dqn.eps_start, 0, 1),
    F("eps-end", SD_CFG_FLOAT, dqn.eps_end, 0, 1),
    F("eps-steps", SD_CFG_LONG, dqn.eps_decay_steps, 1, 1 << 30),
    F("loss", SD_CFG_ENUM, dqn.huber, 0, 0, loss_names),
    F("double", SD_CFG_INT, dqn.double_dqn, 0, 1),
    F("clip", SD_CFG_FLOAT, dqn.max_grad_norm, 0, 1e9),
    F("no-stop", SD_CFG_INT, dqn.no_stop, 0, 1),
    F("solve-window", SD_CFG_INT, dqn.solve_window, 1, 100000),
    F("solve-threshold", SD_CFG_DOUBLE, dqn.solve_threshold, -1e300, 1e300),
    F("eval", SD_CFG_INT, eval_episodes, 0, 100000),
    F("log-steps", SD_CFG_LONG, log_steps, 1, 1 << 30),
    { 0 }
};
#undef F

void sd_rl_dqn_config_get(const sd_rl_dqn_opts *o, const char *key, char *buf, size_t size)
{
    const sd_config_field *f = sd_config_find(sd_rl_dqn_config_fields, key);
    if (f) sd_config_get(f, o, buf, size);
    else snprintf(buf, size, "?");
}

void sd_rl_dqn_config_free(sd_rl_dqn_opts *o)
{
    for (int k = 0; k < 3; k++) {
        free(o->owned[k]);
        o->owned[k] = NULL;
    }
}

static int is_dqn_checkpoint(const sd_st_file *f)
{
    const char *fmt = sd_st_meta(f, "shendu.format"), *algo = sd_st_meta(f, "shendu.rl.algo");
    return fmt && !strcmp(fmt, "checkpoint") && algo && !strcmp(algo, "dqn");
}

int sd_rl_dqn_config_load(const char *path, sd_rl_dqn_opts *o)
{
    sd_st_file *f = sd_st_open(path);
    if (!f) return -1;
    int rc = 0;
    if (sd_st_expect_kind(f, path, SD_KIND_BIT(SD_FILE_DQN_CKPT), "a checkpoint of shendu rl dqn")) {
        rc = -1;
        goto done;
    }
    if (!is_dqn_checkpoint(f)) {
        rc = sd_error("%s: not a checkpoint of `shendu rl dqn` (write one with --checkpoint FILE)", path);
        goto done;
    }
    rc = sd_config_from_file(sd_rl_dqn_config_fields, o, "rl.cfg", f, path, o->owned);
done:
    sd_st_close(f);
    return rc;
}

int sd_rl_dqn_checkpoint_save(const sd_rl_dqn_opts *o, sd_dqn *d, const sd_env *env, long next_log)
{
    char nl[32];
    sd_config_text cfg;
    if (sd_config_to_meta(sd_rl_dqn_config_fields, o, "rl.cfg", &cfg)) return -1;
    sd_st_kv kv[SD_CONFIG_MAX + 1];
    int n = 0;
    for (int i = 0; i < cfg.n; i++) kv[n++] = cfg.kv[i];
    snprintf(nl, sizeof nl, "%ld", next_log);
    kv[n++] = (sd_st_kv){ "shendu.rl.next_log", nl };
    return sd_dqn_checkpoint_save(d, env, o->checkpoint, kv, n);
}

long sd_rl_dqn_checkpoint_next_log(const char *path)
{
    sd_st_file *f = sd_st_open(path);
    const char *v = f ? sd_st_meta(f, "shendu.rl.next_log") : NULL;
    long x = 0;
    if (sd_config_parse_long(v, 1, SD_LONG_CAP(62), &x)) x = 0;
    sd_st_close(f);
    return x;
}
