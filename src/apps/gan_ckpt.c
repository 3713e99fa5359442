/* Checkpoints of `shendu gan` (issue 8). One safetensors file:
 *
 *   the generator that is sampled    its parameters and batchnorm state under their
 *                                    own names, with role=generator metadata, so
 *                                    `gan sample` and `gan score` read the file
 *   shendu.optim.*                   G's Adam (sd_checkpoint_save)
 *   shendu.gan.G, shendu.gan.G.state G's own weights, when the sampled one is their average
 *   shendu.gan.D, shendu.gan.D.state D's weights and batchnorm state, flat
 *   shendu.gan.optD.<m|v>            D's Adam; its step count in metadata
 *   shendu.gan.rng                   U64 [4]
 *   shendu.gan.order                 I32 [n]   the epoch's data order
 *   shendu.gan.sums                  F64 [4]   the epoch's summed statistics
 *   metadata shendu.gan.{epoch,step,position} and the configuration shendu.gan.KEY
 *
 * A run stopped and resumed from it ends with the files of one that never stopped
 * (same seed and thread count). */
#define _POSIX_C_SOURCE 200809L
#include "apps.h"

#include <inttypes.h>
#include <limits.h>
#include <math.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

static const char *const loss_names[] = { "ns", "minimax", NULL };
_Static_assert(sizeof(sd_gan_loss) == sizeof(int), "sd_gan_loss is stored as an int");
_Static_assert(SD_GAN_NS == 0 && SD_GAN_MINIMAX == 1, "loss_names follows sd_gan_loss");

#define F(key, kind, field, ...) { key, kind, offsetof(sd_gan_train_opts, field), __VA_ARGS__ }
const sd_config_field sd_gan_config_fields[] = {
    F("arch", SD_CFG_STR, arch, 0, 0, NULL, "mlp"),
    F("data", SD_CFG_STR, data_dir, 0, 0, NULL, NULL),   /* filled in before saving */
    F("epochs", SD_CFG_INT, epochs, 1, 1e6),
    F("batch", SD_CFG_INT, batch, 2, 1 << 16),
    F("loss", SD_CFG_ENUM, loss, 0, 0, loss_names),
    F("lr", SD_CFG_FLOAT, lr, 0, 1e30),
    F("ema", SD_CFG_FLOAT, ema, 0, 0.9999999),
    F("smooth", SD_CFG_FLOAT, smooth, 0, 0.4999999),
    F("threads", SD_CFG_INT, threads, 0, 256),
    F("seed", SD_CFG_U64, seed),
    F("limit", SD_CFG_INT, limit_train, 0, 1 << 30),
    F("precision", SD_CFG_ENUM, precision, 0, 0, sd_precision_names, "fp32"),
    /* SD_GAN_CONFIG_FREE_FROM: these may change on a resume */
    F("out", SD_CFG_STR, out_dir, 0, 0, NULL, "gan-out"),
    F("classifier", SD_CFG_STR, classifier, 0, 0, NULL, ""),
    F("score-n", SD_CFG_INT, score_n, 0, 1e6),
    { 0 }
};
#undef F
_Static_assert(SD_GAN_CONFIG_FREE_FROM == 12, "the fields a resume may change start at out");

int sd_gan_config_load(const char *path, sd_gan_train_opts *o)
{
    sd_st_file *f = sd_st_open(path);
    if (!f) return -1;
    const char *fmt = sd_st_meta(f, "shendu.format");
    int rc = 0;
    if (sd_st_expect_kind(f, path, SD_KIND_BIT(SD_FILE_GAN_CKPT), "a checkpoint of shendu gan"))
        rc = -1;
    else if (!fmt || strcmp(fmt, "checkpoint") || !sd_st_meta(f, "shendu.gan.epoch"))
        rc = sd_error("%s: not a checkpoint of `shendu gan` (write one with --checkpoint FILE)", path);
    else
        rc = sd_config_from_file(sd_gan_config_fields, o, "gan", f, path, o->owned);
    if (!rc && o->classifier && !*o->classifier) o->classifier = NULL;   /* stored as "": none */
    sd_st_close(f);
    return rc;
}

void sd_gan_config_free(sd_gan_train_opts *o)
{
    for (int k = 0; k < 4; k++) {
        free(o->owned[k]);
        o->owned[k] = NULL;
    }
}

/* D's Adam state tensors are named like G's, under shendu.gan.optD. */
static int optd_names(sd_optim *opt, char names[2][64])
{
    int n = sd_optim_state_count(opt);
    if (n > 2) return sd_error("GAN checkpoint: an optimizer with %d state buffers", n);
    for (int i = 0; i < n; i++) {
        const char *name;
        sd_optim_state(opt, i, &name);
        snprintf(names[i], 64, "shendu.gan.optD.%s", name);
    }
    return n;
}

static sd_st_tensor flat(const char *name, sd_params *P)
{
    return (sd_st_tensor){ .name = name, .dtype = SD_F32, .ndim = 1, .shape = { (int64_t)sd_params_size(P) },
                           .data = sd_params_values(P) };
}

int sd_gan_checkpoint_save(const char *path, const sd_gan_train_opts *o, sd_model *G, sd_model *Gavg, sd_model *D,
                           sd_gan *gan, const sd_rng *rng, const sd_batcher *bt, int ntrain, const sd_gan_progress *p)
{
    sd_gan_train_opts c = *o;
    if (!c.data_dir) c.data_dir = sd_data_default_dir();
    sd_config_text cfg;
    if (sd_config_to_meta(sd_gan_config_fields, &c, "gan", &cfg)) return -1;
    sd_optim *optD = sd_gan_optim(gan, 1);
    char onames[2][64], epoch[16], step[16], pos[16], dsteps[32];
    int nopt = optd_names(optD, onames);
    if (nopt < 0) return -1;
    sd_st_tensor t[12];
    int nt = 0;
    t[nt++] = sd_checkpoint_rng_tensor("shendu.gan.rng", rng);
    t[nt] = (sd_st_tensor){ .name = "shendu.gan.order", .dtype = SD_I32, .ndim = 1, .shape = { ntrain },
                            .data = (void *)sd_batcher_order(bt) };
    nt++;
    t[nt++] = (sd_st_tensor){ .name = "shendu.gan.sums", .dtype = SD_F64, .ndim = 1, .shape = { 4 },
                              .data = (void *)p->sums };
    t[nt++] = flat("shendu.gan.D", sd_model_params(D));
    if (sd_params_size(sd_model_state(D))) t[nt++] = flat("shendu.gan.D.state", sd_model_state(D));
    if (Gavg) {
        t[nt++] = flat("shendu.gan.G", sd_model_params(G));
        if (sd_params_size(sd_model_state(G))) t[nt++] = flat("shendu.gan.G.state", sd_model_state(G));
    }
    for (int i = 0; i < nopt; i++) {
        const char *name;
        t[nt++] = (sd_st_tensor){ .name = onames[i], .dtype = SD_F32, .ndim = 1,
                                  .shape = { (int64_t)sd_optim_state_size(optD) }, .data = sd_optim_state(optD, i, &name) };
    }
    snprintf(epoch, sizeof epoch, "%d", p->epoch);
    snprintf(step, sizeof step, "%d", p->step);
    snprintf(pos, sizeof pos, "%d", sd_batcher_position(bt));
    snprintf(dsteps, sizeof dsteps, "%" PRId64, sd_optim_steps(optD));
    sd_st_kv kv[SD_CONFIG_MAX + 5];
    int nk = 0;
    for (int i = 0; i < cfg.n; i++) kv[nk++] = cfg.kv[i];
    kv[nk++] = (sd_st_kv){ "shendu.kind", sd_kind_name(SD_FILE_GAN_CKPT) };
    kv[nk++] = (sd_st_kv){ "shendu.gan.epoch", epoch };
    kv[nk++] = (sd_st_kv){ "shendu.gan.step", step };
    kv[nk++] = (sd_st_kv){ "shendu.gan.position", pos };
    kv[nk++] = (sd_st_kv){ "shendu.gan.optD.steps", dsteps };
    return sd_checkpoint_save(path, Gavg ? Gavg : G, sd_gan_optim(gan, 0), t, nt, kv, nk);
}

static int read_flat(const sd_st_file *f, const char *name, sd_params *P)
{
    const int64_t n = (int64_t)sd_params_size(P);
    return n ? sd_checkpoint_read(f, name, SD_F32, 1, &n, sd_params_values(P)) : 0;
}

static int meta_int(const sd_st_file *f, const char *key, long lo, long hi, long *out)
{
    const char *v = sd_st_meta(f, key);
    return sd_config_parse_long(v, lo, hi, out) ? sd_error("bad or missing '%s' (%s)", key, v ? v : "absent") : 0;
}

static int restore(const sd_st_file *f, sd_model *G, sd_model *Gavg, sd_model *D, sd_gan *gan, sd_rng *rng,
                   sd_batcher *bt, int ntrain, int steps_per_epoch, sd_gan_progress *p)
{
    sd_model *Gs = Gavg ? Gavg : G;
    sd_optim *optD = sd_gan_optim(gan, 1);
    long epoch = 0, step = 0, pos = 0, dsteps = 0;
    char onames[2][64];
    int nopt = optd_names(optD, onames);
    const int64_t four = 4, nopt_size = (int64_t)sd_optim_state_size(optD);
    if (nopt < 0 || meta_int(f, "shendu.gan.epoch", 1, 1000000, &epoch) ||
        meta_int(f, "shendu.gan.step", 0, steps_per_epoch, &step) || meta_int(f, "shendu.gan.position", 0, ntrain, &pos) ||
        meta_int(f, "shendu.gan.optD.steps", 0, LONG_MAX, &dsteps))
        return -1;
    int32_t *order = malloc((size_t)ntrain * sizeof *order);
    if (!order) return sd_error("out of memory");
    int rc = sd_checkpoint_read_params(f, sd_model_params(Gs)) || sd_checkpoint_read_params(f, sd_model_state(Gs)) ||
             sd_checkpoint_restore_optim(f, sd_gan_optim(gan, 0)) ||
             (Gavg && (read_flat(f, "shendu.gan.G", sd_model_params(G)) ||
                       read_flat(f, "shendu.gan.G.state", sd_model_state(G)))) ||
             read_flat(f, "shendu.gan.D", sd_model_params(D)) || read_flat(f, "shendu.gan.D.state", sd_model_state(D)) ||
             sd_checkpoint_read_rng(f, "shendu.gan.rng", rng) ||
             sd_checkpoint_read(f, "shendu.gan.sums", SD_F64, 1, &four, p->sums) ||
             sd_checkpoint_read_i32(f, "shendu.gan.order", order, (size_t)ntrain) ||
             sd_batcher_restore(bt, (int)pos, order) ? -1 : 0;
    for (int i = 0; !rc && i < nopt; i++) {
        const char *name;
        rc = sd_checkpoint_read(f, onames[i], SD_F32, 1, &nopt_size, sd_optim_state(optD, i, &name));
    }
    free(order);
    if (rc) return -1;
    for (int i = 0; i < 4; i++)
        if (!isfinite(p->sums[i])) return sd_error("shendu.gan.sums[%d] is not finite", i);
    sd_optim_set_steps(optD, dsteps);
    p->epoch = (int)epoch;
    p->step = (int)step;
    return 0;
}

int sd_gan_checkpoint_restore(const char *path, sd_model *G, sd_model *Gavg, sd_model *D, sd_gan *gan, sd_rng *rng,
                              sd_batcher *bt, int ntrain, int steps_per_epoch, sd_gan_progress *p)
{
    sd_st_file *f = sd_st_open(path);
    if (!f) return -1;
    const char *fmt = sd_st_meta(f, "shendu.format");
    int rc;
    if (!fmt || strcmp(fmt, "checkpoint") || !sd_st_meta(f, "shendu.gan.epoch"))
        rc = sd_error("%s: not a checkpoint of `shendu gan` (write one with --checkpoint FILE)", path);
    else if ((rc = restore(f, G, Gavg, D, gan, rng, bt, ntrain, steps_per_epoch, p)))
        sd_error_prefix("%s", path);
    sd_st_close(f);
    return rc;
}
