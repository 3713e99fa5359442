/* What a shendu file is: its "shendu.kind", or for older files the kind its
 * other metadata implies; and the one message every command gives when a file
 * of another kind is passed to it. */
#include "shendu/io.h"

#include <string.h>

typedef struct kind_info {
    const char *name;   /* the value of shendu.kind */
    const char *what;   /* in a sentence: "PATH is <what>" */
    const char *use;    /* the commands that take it */
} kind_info;

static const kind_info kinds[SD_FILE_KINDS] = {
    [SD_FILE_UNKNOWN] = { "unknown", "not a file shendu knows", NULL },
    [SD_FILE_MODEL] = { "model", "a shendu model of no particular command (sd_model_save)", "sd_model_load" },
    [SD_FILE_CHECKPOINT] = { "checkpoint", "a shendu checkpoint of no particular command (sd_checkpoint_save)",
                             "sd_model_load" },
    [SD_FILE_CLASSIFIER] = { "classifier", "an image classifier", "shendu eval, predict or show" },
    [SD_FILE_CLASSIFIER_CKPT] = { "classifier-checkpoint", "a checkpoint of shendu train",
                                  "shendu train --resume, or as a classifier with eval, predict or show" },
    [SD_FILE_LM] = { "lm", "a language model", "shendu lm sample" },
    [SD_FILE_LM_CKPT] = { "lm-checkpoint", "a checkpoint of shendu lm train",
                          "shendu lm train --resume, or lm sample" },
    [SD_FILE_GENERATOR] = { "gan-generator", "a GAN generator", "shendu gan sample or gan score" },
    [SD_FILE_GAN_CKPT] = { "gan-checkpoint", "a checkpoint of shendu gan",
                           "shendu gan --resume, or as a generator with gan sample or gan score" },
    [SD_FILE_DQN_AGENT] = { "dqn-agent", "a DQN agent", "shendu rl play" },
    [SD_FILE_DQN_CKPT] = { "dqn-checkpoint", "a checkpoint of shendu rl dqn",
                           "shendu rl dqn --resume, or as an agent with rl play" },
    [SD_FILE_DIFFUSION] = { "diffusion", "a diffusion model", "shendu diffusion sample or diffusion score" },
    [SD_FILE_DIFFUSION_CKPT] = { "diffusion-checkpoint", "a checkpoint of shendu diffusion",
                                 "shendu diffusion --resume, or as a model with diffusion sample or diffusion score" },
    [SD_FILE_QTABLE] = { "q-table", "a Q-table of shendu rl qlearn", "shendu report (given the run's --log)" },
};

const char *sd_kind_name(sd_kind k)
{
    return k > SD_FILE_UNKNOWN && k < SD_FILE_KINDS ? kinds[k].name : "unknown";
}

/* s with every byte outside printable ASCII as '?', cut to n - 1 bytes. */
static const char *printable(const char *s, char *buf, size_t n)
{
    size_t i = 0;
    for (; s[i] && i + 1 < n; i++) buf[i] = s[i] >= 0x20 && s[i] < 0x7f ? s[i] : '?';
    buf[i] = 0;
    return buf;
}

static int is(const char *v, const char *s) { return v && !strcmp(v, s); }

/* Files written before shendu.kind: what their other keys say. */
static sd_kind infer(const sd_st_file *f)
{
    const char *fmt = sd_st_meta(f, "shendu.format");
    if (is(fmt, "lm")) return SD_FILE_LM;
    if (is(fmt, "lm-checkpoint")) return SD_FILE_LM_CKPT;
    if (is(fmt, "diffusion")) return SD_FILE_DIFFUSION;
    if (is(fmt, "diffusion-checkpoint")) return SD_FILE_DIFFUSION_CKPT;
    if (is(fmt, "checkpoint")) {
        if (is(sd_st_meta(f, "shendu.rl.algo"), "dqn")) return SD_FILE_DQN_CKPT;
        if (sd_st_meta(f, "shendu.gan.epoch")) return SD_FILE_GAN_CKPT;
        if (sd_st_meta(f, "shendu.train.epoch")) return SD_FILE_CLASSIFIER_CKPT;
        return SD_FILE_CHECKPOINT;
    }
    if (is(fmt, "model")) {
        if (is(sd_st_meta(f, "role"), "generator")) return SD_FILE_GENERATOR;
        if (sd_st_meta(f, "rl.env")) return SD_FILE_DQN_AGENT;
        if (sd_st_meta(f, "classes")) return SD_FILE_CLASSIFIER;
        return SD_FILE_MODEL;
    }
    return SD_FILE_UNKNOWN;
}

sd_kind sd_st_kind(const sd_st_file *f)
{
    const char *k = sd_st_meta(f, "shendu.kind");
    if (!k) return infer(f);
    for (int i = SD_FILE_UNKNOWN + 1; i < SD_FILE_KINDS; i++)
        if (!strcmp(k, kinds[i].name)) return (sd_kind)i;
    return SD_FILE_UNKNOWN;
}

int sd_file_expect_kind(const char *path, unsigned accept, const char *want)
{
    sd_st_file *f = sd_st_open(path);
    if (!f) return -1;
    const int rc = sd_st_expect_kind(f, path, accept, want);
    sd_st_close(f);
    return rc;
}

int sd_st_expect_kind(const sd_st_file *f, const char *path, unsigned accept, const char *want)
{
    const sd_kind k = sd_st_kind(f);
    int rc = 0;
    if (!(accept & SD_KIND_BIT(k))) {
        const char *fmt = sd_st_meta(f, "shendu.format"), *kind = sd_st_meta(f, "shendu.kind");
        char v[48];
        if (k != SD_FILE_UNKNOWN)
            rc = sd_error("%s is %s, not %s; use it with %s", path, kinds[k].what, want, kinds[k].use);
        else if (kind || fmt)
            rc = sd_error("%s is a shendu file of a kind this version does not know (%s '%s'), not %s", path,
                          kind ? "shendu.kind" : "shendu.format", printable(kind ? kind : fmt, v, sizeof v), want);
        else
            rc = sd_error("%s is not a shendu file (its metadata has no shendu.kind or shendu.format), not %s",
                          path, want);
    }
    return rc;
}
