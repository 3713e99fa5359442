#define _POSIX_C_SOURCE 200809L
/* `shendu rl dqn` checkpoints: the run's configuration as text beside the
 * agent's state (sd_dqn_checkpoint_save), read back by --resume. */
#include "apps.h"

#include <stdlib.h>
#include <string.h>

const char *const sd_rl_dqn_config_keys[] = {
    "env", "recipe", "steps", "seed", "threads", "hidden", "lr", "lr-end", "gamma", "batch", "buffer",
    "learning-starts", "train-freq", "gradient-steps", "target-freq", "tau", "eps-start", "eps-end", "eps-steps",
    "loss", "double", "clip", "no-stop", "solve-window", "solve-threshold", "eval", "log-steps", NULL
};
#define N_KEYS 27

void sd_rl_dqn_config_get(const sd_rl_dqn_opts *o, const char *key, char *buf, size_t size)
{
    const sd_dqn_opts *q = &o->dqn;
    if (!strcmp(key, "env")) snprintf(buf, size, "%s", o->env);
    else if (!strcmp(key, "recipe")) snprintf(buf, size, "%s", o->recipe ? o->recipe : "");
    else if (!strcmp(key, "steps")) snprintf(buf, size, "%ld", q->total_steps);
    else if (!strcmp(key, "seed")) snprintf(buf, size, "%llu", (unsigned long long)q->seed);
    else if (!strcmp(key, "threads")) snprintf(buf, size, "%d", o->threads);
    else if (!strcmp(key, "hidden")) snprintf(buf, size, "%s", q->hidden ? q->hidden : "");
    else if (!strcmp(key, "lr")) snprintf(buf, size, "%.9g", q->lr);
    else if (!strcmp(key, "lr-end")) snprintf(buf, size, "%.9g", q->lr_end);
    else if (!strcmp(key, "gamma")) snprintf(buf, size, "%.9g", q->gamma);
    else if (!strcmp(key, "batch")) snprintf(buf, size, "%d", q->batch);
    else if (!strcmp(key, "buffer")) snprintf(buf, size, "%d", q->buffer_size);
    else if (!strcmp(key, "learning-starts")) snprintf(buf, size, "%ld", q->learning_starts);
    else if (!strcmp(key, "train-freq")) snprintf(buf, size, "%d", q->train_freq);
    else if (!strcmp(key, "gradient-steps")) snprintf(buf, size, "%d", q->gradient_steps);
    else if (!strcmp(key, "target-freq")) snprintf(buf, size, "%d", q->target_freq);
    else if (!strcmp(key, "tau")) snprintf(buf, size, "%.9g", q->tau);
    else if (!strcmp(key, "eps-start")) snprintf(buf, size, "%.9g", q->eps_start);
    else if (!strcmp(key, "eps-end")) snprintf(buf, size, "%.9g", q->eps_end);
    else if (!strcmp(key, "eps-steps")) snprintf(buf, size, "%ld", q->eps_decay_steps);
    else if (!strcmp(key, "loss")) snprintf(buf, size, "%s", q->huber ? "huber" : "mse");
    else if (!strcmp(key, "double")) snprintf(buf, size, "%d", q->double_dqn);
    else if (!strcmp(key, "clip")) snprintf(buf, size, "%.9g", q->max_grad_norm);
    else if (!strcmp(key, "no-stop")) snprintf(buf, size, "%d", q->no_stop);
    else if (!strcmp(key, "solve-window")) snprintf(buf, size, "%d", q->solve_window);
    else if (!strcmp(key, "solve-threshold")) snprintf(buf, size, "%.17g", q->solve_threshold);
    else if (!strcmp(key, "eval")) snprintf(buf, size, "%d", o->eval_episodes);
    else if (!strcmp(key, "log-steps")) snprintf(buf, size, "%ld", o->log_steps);
    else snprintf(buf, size, "?");
}

static int parse_long(const char *v, long lo, long hi, long *out)
{
    char *end;
    long x = strtol(v, &end, 10);
    if (!*v || *end || x < lo || x > hi) return -1;
    *out = x;
    return 0;
}

static int parse_int(const char *v, int lo, int hi, int *out)
{
    long x;
    if (parse_long(v, lo, hi, &x)) return -1;
    *out = (int)x;
    return 0;
}

static int parse_float(const char *v, float *out)
{
    char *end;
    *out = strtof(v, &end);
    return !*v || *end ? -1 : 0;
}

static int own(sd_rl_dqn_opts *o, int k, const char *v, const char **field)
{
    char *copy = strdup(v);
    if (!copy) return sd_error("out of memory");
    free(o->owned[k]);
    o->owned[k] = copy;
    *field = copy;
    return 0;
}

static int config_set(sd_rl_dqn_opts *o, const char *key, const char *v)
{
    sd_dqn_opts *q = &o->dqn;
    int bad = 0;
    char *end;
    if (!strcmp(key, "env")) return own(o, 0, v, &o->env);
    if (!strcmp(key, "recipe")) return own(o, 1, v, &o->recipe);
    if (!strcmp(key, "hidden")) return own(o, 2, v, &q->hidden);
    if (!strcmp(key, "steps")) bad = parse_long(v, 1, 1L << 40, &q->total_steps);
    else if (!strcmp(key, "seed")) { q->seed = strtoull(v, &end, 10); bad = !*v || *end; }
    else if (!strcmp(key, "threads")) bad = parse_int(v, 0, 256, &o->threads);
    else if (!strcmp(key, "lr")) bad = parse_float(v, &q->lr);
    else if (!strcmp(key, "lr-end")) bad = parse_float(v, &q->lr_end);
    else if (!strcmp(key, "gamma")) bad = parse_float(v, &q->gamma);
    else if (!strcmp(key, "batch")) bad = parse_int(v, 1, 1 << 20, &q->batch);
    else if (!strcmp(key, "buffer")) bad = parse_int(v, 1, 1 << 26, &q->buffer_size);
    else if (!strcmp(key, "learning-starts")) bad = parse_long(v, -1, 1L << 40, &q->learning_starts);
    else if (!strcmp(key, "train-freq")) bad = parse_int(v, 1, 1 << 30, &q->train_freq);
    else if (!strcmp(key, "gradient-steps")) bad = parse_int(v, 1, 1 << 30, &q->gradient_steps);
    else if (!strcmp(key, "target-freq")) bad = parse_int(v, 1, 1 << 30, &q->target_freq);
    else if (!strcmp(key, "tau")) bad = parse_float(v, &q->tau);
    else if (!strcmp(key, "eps-start")) bad = parse_float(v, &q->eps_start);
    else if (!strcmp(key, "eps-end")) bad = parse_float(v, &q->eps_end);
    else if (!strcmp(key, "eps-steps")) bad = parse_long(v, 1, 1L << 40, &q->eps_decay_steps);
    else if (!strcmp(key, "loss")) { bad = strcmp(v, "mse") && strcmp(v, "huber"); q->huber = !strcmp(v, "huber"); }
    else if (!strcmp(key, "double")) bad = parse_int(v, 0, 1, &q->double_dqn);
    else if (!strcmp(key, "clip")) bad = parse_float(v, &q->max_grad_norm);
    else if (!strcmp(key, "no-stop")) bad = parse_int(v, 0, 1, &q->no_stop);
    else if (!strcmp(key, "solve-window")) bad = parse_int(v, 1, 1 << 30, &q->solve_window);
    else if (!strcmp(key, "solve-threshold")) { q->solve_threshold = strtod(v, &end); bad = !*v || *end; }
    else if (!strcmp(key, "eval")) bad = parse_int(v, 0, 100000, &o->eval_episodes);
    else if (!strcmp(key, "log-steps")) bad = parse_long(v, 1, 1L << 40, &o->log_steps);
    return bad ? sd_error("bad value '%s' for '%s'", v, key) : 0;
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
    if (!is_dqn_checkpoint(f)) {
        rc = sd_error("%s: not a checkpoint of `shendu rl dqn` (write one with --checkpoint FILE)", path);
        goto done;
    }
    for (int i = 0; sd_rl_dqn_config_keys[i] && !rc; i++) {
        char key[64];
        snprintf(key, sizeof key, "shendu.rl.cfg.%s", sd_rl_dqn_config_keys[i]);
        const char *v = sd_st_meta(f, key);
        if (!v) rc = sd_error("%s: checkpoint lacks '%s'", path, key);
        else if (config_set(o, sd_rl_dqn_config_keys[i], v)) rc = sd_error_prefix("%s", path);
    }
done:
    sd_st_close(f);
    return rc;
}

int sd_rl_dqn_checkpoint_save(const sd_rl_dqn_opts *o, sd_dqn *d, const sd_env *env, long next_log)
{
    char keys[N_KEYS][64], vals[N_KEYS][256], nl[32];
    sd_st_kv kv[N_KEYS + 1];
    int n = 0;
    for (int i = 0; sd_rl_dqn_config_keys[i]; i++, n++) {
        snprintf(keys[i], sizeof keys[i], "shendu.rl.cfg.%s", sd_rl_dqn_config_keys[i]);
        sd_rl_dqn_config_get(o, sd_rl_dqn_config_keys[i], vals[i], sizeof vals[i]);
        kv[n] = (sd_st_kv){ keys[i], vals[i] };
    }
    snprintf(nl, sizeof nl, "%ld", next_log);
    kv[n++] = (sd_st_kv){ "shendu.rl.next_log", nl };
    return sd_dqn_checkpoint_save(d, env, o->checkpoint, kv, n);
}

long sd_rl_dqn_checkpoint_next_log(const char *path)
{
    sd_st_file *f = sd_st_open(path);
    const char *v = f ? sd_st_meta(f, "shendu.rl.next_log") : NULL;
    long x = 0;
    if (v && parse_long(v, 1, 1L << 62, &x)) x = 0;
    sd_st_close(f);
    return x;
}
