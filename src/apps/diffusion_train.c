/* shendu diffusion (train): the loop, its checkpoints and resume. A checkpoint:
 *
 *   the averaged U-Net     under its parameter names, with the model's metadata, so
 *                          `diffusion sample` reads the file as it reads a model
 *   shendu.net             F32 [size]  the trained weights, flat
 *   shendu.optim.*         Adam's state (the names sd_checkpoint_restore_optim reads)
 *   shendu.diffusion.rng   U64 [4]
 *   shendu.diffusion.order I32 [n]     the epoch's data order
 *   metadata shendu.diffusion.{epoch,step,position,loss_sum} and the configuration
 *
 * A run stopped and resumed from it ends with the files of one that never
 * stopped (same seed and thread count).
 *
 * Under mpirun (data parallel, as the GAN): every rank holds the data set and
 * the same RNG, draws the whole batch's steps t and noise, and runs the U-Net
 * on its share of the batch's pictures; the gradients are averaged over the
 * ranks (sd_dist_sync), so every rank makes the same update. Rank 0 alone draws
 * the grids, scores, and writes files. */
#define _POSIX_C_SOURCE 200809L
#include "apps/diffusion_app.h"

#include <inttypes.h>
#include <math.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

enum { GRID = 64 };   /* pictures in the grid drawn after every epoch */

static const char *const schedule_names[] = { "linear", "cosine", NULL };
_Static_assert(sizeof(sd_ddpm_kind) == sizeof(int), "sd_ddpm_kind is stored as an int");

#define F(key, kind, field, ...) { key, kind, offsetof(sd_diffusion_train_opts, field), __VA_ARGS__ }
const sd_config_field sd_diffusion_config_fields[] = {
    F("data", SD_CFG_STR, data_dir, 0, 0, NULL, NULL),   /* filled in before saving */
    F("epochs", SD_CFG_INT, epochs, 1, 1e6),
    F("batch", SD_CFG_INT, batch, 2, 1 << 16),
    F("lr", SD_CFG_FLOAT, lr, 1e-12, 1e30),
    F("channels", SD_CFG_INT, channels, 1, 1024),
    F("groups", SD_CFG_INT, groups, 1, 1024),
    F("steps", SD_CFG_INT, T, 1, SD_DDPM_MAX_T),
    F("schedule", SD_CFG_ENUM, schedule, 0, 0, schedule_names),
    F("ema", SD_CFG_FLOAT, ema, 0, 0.9999999),
    F("threads", SD_CFG_INT, threads, 0, 256),
    F("seed", SD_CFG_U64, seed),
    F("limit", SD_CFG_INT, limit_train, 0, 1 << 30),
    F("precision", SD_CFG_ENUM, precision, 0, 0, sd_precision_names, "fp32"),
    /* SD_DIFFUSION_CONFIG_FREE_FROM: these may change on a resume */
    F("out", SD_CFG_STR, out_dir, 0, 0, NULL, "diffusion-out"),
    F("classifier", SD_CFG_STR, classifier, 0, 0, NULL, ""),
    F("score-n", SD_CFG_INT, score_n, 0, 1e6),
    F("sample-steps", SD_CFG_INT, sample_steps, 1, SD_DDPM_MAX_T),
    { 0 }
};
#undef F
_Static_assert(SD_DIFFUSION_CONFIG_FREE_FROM == 13, "the fields a resume may change start at out");

int sd_diffusion_config_load(const char *path, sd_diffusion_train_opts *o)
{
    sd_st_file *f = sd_st_open(path);
    if (!f) return -1;
    const char *fmt = sd_st_meta(f, "shendu.format");
    int rc = 0;
    if (sd_st_expect_kind(f, path, SD_KIND_BIT(SD_FILE_DIFFUSION_CKPT), "a checkpoint of shendu diffusion"))
        rc = -1;
    else if (!fmt || strcmp(fmt, "diffusion-checkpoint"))
        rc = sd_error("%s: not a checkpoint of `shendu diffusion` (write one with --checkpoint FILE)", path);
    else
        rc = sd_config_from_file(sd_diffusion_config_fields, o, "diffusion", f, path, o->owned);
    if (!rc && o->classifier && !*o->classifier) o->classifier = NULL;   /* stored as "": none */
    sd_st_close(f);
    return rc;
}

void sd_diffusion_config_free(sd_diffusion_train_opts *o)
{
    for (int k = 0; k < 4; k++) {
        free(o->owned[k]);
        o->owned[k] = NULL;
    }
}

typedef struct run {
    const sd_diffusion_train_opts *o;
    const char *data;
    sd_ctx *ctx;
    sd_unet *net, *avg;            /* avg: the moving average, sampled and saved (== net when ema is 0) */
    sd_ddpm *s;
    sd_optim *opt;
    sd_dist_sync *sync;            /* gradient averaging over the ranks (a no-op in one process) */
    int rank;
    sd_batcher *bt;
    sd_dataset train;
    sd_graph *g;
    sd_rng rng;
    float *eps, *xt;               /* one batch */
    int32_t *t;
    int epoch, position;           /* epoch: the epochs finished */
    long step;
    double loss_sum;               /* this epoch's */
    /* the loop (sd_trainer_run's hooks) */
    sd_diffusion_result *res;
    const char *out;
    FILE *log;
    sd_model *cls;
    float *grid;                   /* GRID pictures */
    int spe;                       /* steps an epoch */
    double images, train_secs, last_draw;
    int stopped_scoring;           /* > 0: a stop came while this epoch was scored */
} run;

/* The model's metadata (written into model files and checkpoints alike). */
typedef struct meta_text { char v[6][64]; sd_st_kv kv[12]; int n; } meta_text;

static void model_meta(const run *R, const char *format, meta_text *m)
{
    const sd_shape img = sd_unet_image(R->avg);
    snprintf(m->v[0], 64, "%d", sd_unet_channels(R->avg));
    snprintf(m->v[1], 64, "%d", R->o->groups);
    snprintf(m->v[2], 64, "%d", R->o->T);
    snprintf(m->v[3], 64, "%d,%d,%d", img.d[0], img.d[1], img.d[2]);
    snprintf(m->v[4], 64, "%g", R->o->ema);
    m->n = 0;
    m->kv[m->n++] = (sd_st_kv){ "shendu.format", format };
    m->kv[m->n++] = (sd_st_kv){ "shendu.kind", sd_kind_name(strcmp(format, "diffusion") ? SD_FILE_DIFFUSION_CKPT
                                                                                         : SD_FILE_DIFFUSION) };
    m->kv[m->n++] = (sd_st_kv){ "diffusion.channels", m->v[0] };
    m->kv[m->n++] = (sd_st_kv){ "diffusion.groups", m->v[1] };
    m->kv[m->n++] = (sd_st_kv){ "diffusion.attention", sd_unet_has_attention(R->avg) ? "1" : "0" };
    m->kv[m->n++] = (sd_st_kv){ "diffusion.T", m->v[2] };
    m->kv[m->n++] = (sd_st_kv){ "diffusion.schedule", sd_ddpm_kind_name(R->o->schedule) };
    m->kv[m->n++] = (sd_st_kv){ "image_shape", m->v[3] };
    m->kv[m->n++] = (sd_st_kv){ "ema", m->v[4] };
    m->kv[m->n++] = (sd_st_kv){ "output_range", "-1,1" };
    m->kv[m->n++] = (sd_st_kv){ "dataset", R->data };
}

/* The averaged U-Net's tensors by name (+ extra after them), metadata + extra_meta. */
static int save_file(const run *R, const char *path, const char *format, const sd_st_tensor *extra, int nextra,
                     const sd_st_kv *extra_meta, int nmeta)
{
    sd_params *P = sd_unet_params(R->avg);
    const int np = sd_params_count(P);
    sd_st_tensor *t = calloc((size_t)np + nextra, sizeof *t);
    sd_st_kv kv[64];
    meta_text m;
    if (!t || nmeta > 40) { free(t); return sd_error("%s: out of memory", path); }
    for (int i = 0; i < np; i++) {
        const sd_shape s = sd_params_shape(P, i);
        t[i] = (sd_st_tensor){ .name = sd_params_name(P, i), .dtype = SD_F32, .ndim = s.ndim,
                               .data = sd_params_data(P, i) };
        for (int d = 0; d < s.ndim; d++) t[i].shape[d] = s.d[d];
    }
    if (nextra) memcpy(t + np, extra, (size_t)nextra * sizeof *t);
    model_meta(R, format, &m);
    memcpy(kv, m.kv, (size_t)m.n * sizeof *kv);
    if (nmeta) memcpy(kv + m.n, extra_meta, (size_t)nmeta * sizeof *kv);
    const int rc = sd_st_save(path, t, np + nextra, kv, m.n + nmeta);
    free(t);
    return rc;
}

static int save_checkpoint(run *R)
{
    const sd_diffusion_train_opts *o = R->o;
    sd_config_text cfg;
    sd_diffusion_train_opts stored = *o;
    stored.data_dir = R->data;
    if (sd_config_to_meta(sd_diffusion_config_fields, &stored, "diffusion", &cfg)) return -1;
    sd_st_tensor x[8];
    int nx = 0;
    char names[2][64], vals[6][64];
    x[nx++] = (sd_st_tensor){ .name = "shendu.net", .dtype = SD_F32, .ndim = 1,
                              .shape = { (int64_t)sd_params_size(sd_unet_params(R->net)) },
                              .data = sd_params_values(sd_unet_params(R->net)) };
    for (int i = 0; i < sd_optim_state_count(R->opt) && i < 2; i++) {
        const char *name;
        float *st = sd_optim_state(R->opt, i, &name);
        snprintf(names[i], sizeof names[i], "shendu.optim.%s", name);
        x[nx++] = (sd_st_tensor){ .name = names[i], .dtype = SD_F32, .ndim = 1,
                                  .shape = { (int64_t)sd_optim_state_size(R->opt) }, .data = st };
    }
    x[nx++] = sd_checkpoint_rng_tensor("shendu.diffusion.rng", &R->rng);
    x[nx++] = (sd_st_tensor){ .name = "shendu.diffusion.order", .dtype = SD_I32, .ndim = 1,
                              .shape = { R->train.n }, .data = sd_batcher_order(R->bt) };
    snprintf(vals[0], 64, "%d", R->epoch);
    snprintf(vals[1], 64, "%ld", R->step);
    snprintf(vals[2], 64, "%d", sd_batcher_position(R->bt));
    snprintf(vals[3], 64, "%.17g", R->loss_sum);
    snprintf(vals[4], 64, "%" PRId64, sd_optim_steps(R->opt));
    snprintf(vals[5], 64, "%.9g", sd_optim_lr(R->opt));
    sd_st_kv kv[SD_CONFIG_MAX + 8];
    int nk = 0;
    kv[nk++] = (sd_st_kv){ "shendu.diffusion.epoch", vals[0] };
    kv[nk++] = (sd_st_kv){ "shendu.diffusion.step", vals[1] };
    kv[nk++] = (sd_st_kv){ "shendu.diffusion.position", vals[2] };
    kv[nk++] = (sd_st_kv){ "shendu.diffusion.loss_sum", vals[3] };
    kv[nk++] = (sd_st_kv){ "shendu.optim.kind", sd_optim_kind_name(SD_OPTIM_ADAM) };
    kv[nk++] = (sd_st_kv){ "shendu.optim.steps", vals[4] };
    kv[nk++] = (sd_st_kv){ "shendu.optim.lr", vals[5] };
    for (int i = 0; i < cfg.n; i++) kv[nk++] = cfg.kv[i];
    return save_file(R, o->checkpoint, "diffusion-checkpoint", x, nx, kv, nk);
}

static int restore(run *R, const char *path)
{
    sd_st_file *f = sd_st_open(path);
    if (!f) return -1;
    int rc = -1, epoch, position;
    long step;
    int32_t *order = malloc((size_t)R->train.n * sizeof *order);
    const char *ls = sd_st_meta(f, "shendu.diffusion.loss_sum");
    int64_t size = (int64_t)sd_params_size(sd_unet_params(R->net));
    if (!order) { sd_error("out of memory"); goto done; }
    if (!sd_st_meta(f, "diffusion.attention")) {
        sd_error("%s: a checkpoint from before the U-Net had its attention block (at the lowest resolution); "
                 "it cannot resume with this version: its model file still samples (shendu diffusion sample)", path);
        goto done;
    }
    if (sd_st_read_f32(f, "shendu.net", 1, &size, sd_params_values(sd_unet_params(R->net))) ||
        (R->avg != R->net && sd_checkpoint_read_params(f, sd_unet_params(R->avg))) ||
        sd_checkpoint_restore_optim(f, R->opt) || sd_checkpoint_read_rng(f, "shendu.diffusion.rng", &R->rng) ||
        sd_checkpoint_read_i32(f, "shendu.diffusion.order", order, (size_t)R->train.n))
        goto bad;
    for (int k = 0; k < 2; k++) {   /* a diverged or damaged file: refused, as a model file's weights are */
        sd_params *P = sd_unet_params(k ? R->avg : R->net);
        const int at = sd_params_first_nonfinite(P, 0);
        if (at >= 0) {
            sd_error("%s: %s '%s' holds a NaN or an infinity (a diverged run, or a damaged file)", path,
                     k ? "the averaged weight" : "the weight", sd_params_name(P, at));
            goto done;
        }
    }
    long v;
    if (sd_config_parse_long(sd_st_meta(f, "shendu.diffusion.epoch"), 0, R->o->epochs, &v)) goto meta;
    epoch = (int)v;
    if (sd_config_parse_long(sd_st_meta(f, "shendu.diffusion.step"), 0, SD_LONG_CAP(40), &v)) goto meta;
    step = v;
    if (sd_config_parse_long(sd_st_meta(f, "shendu.diffusion.position"), 0, R->train.n, &v)) goto meta;
    position = (int)v;
    char *end = NULL;
    const double sum = ls ? strtod(ls, &end) : NAN;
    if (!ls || *end || !isfinite(sum)) goto meta;
    if (sd_batcher_restore(R->bt, position, order)) goto bad;
    R->epoch = epoch;
    R->step = step;
    R->loss_sum = sum;
    rc = 0;
    goto done;
meta:
    sd_error("%s: the checkpoint's epoch, step, position or loss is missing or out of range", path);
    goto done;
bad:
    sd_error_prefix("%s", path);
done:
    free(order);
    sd_st_close(f);
    return rc;
}

/* One optimizer step on batch b: every rank draws the whole batch's steps and
 * noise, runs its share of the pictures, and the gradient (and the loss, and a
 * stop request in *stop) becomes the whole batch's. Its loss in *loss. */
static int train_step(run *R, const sd_batch *b, double *loss, int *stop)
{
    const sd_shape img = sd_unet_image(R->net);
    const size_t size = sd_shape_numel(img);
    for (int i = 0; i < b->n; i++) R->t[i] = 1 + (int32_t)sd_rng_below(&R->rng, (uint32_t)R->o->T);
    for (size_t k = 0; k < (size_t)b->n * size; k++) R->eps[k] = sd_rng_normal(&R->rng);
    int first, count;
    sd_dist_shard(R->o->dist, b->n, &first, &count);
    const size_t off = (size_t)first * size;
    sd_ddpm_noise(R->s, b->x + off, R->eps + off, R->t + first, count, size, R->xt + off);
    sd_graph_reset(R->g);
    const sd_shape bs = SD_SHAPE(count, img.d[0], img.d[1], img.d[2]);
    sd_params *P = sd_unet_params(R->net);
    sd_tensor *l = NULL;
    if (count > 0)
        l = sd_mse(R->g, sd_unet_forward(R->g, R->net, sd_input(R->g, R->xt + off, bs), R->t + first),
                   sd_input(R->g, R->eps + off, bs));
    sd_params_zero_grad(P);
    const double share = (double)count / b->n;
    int rc = sd_dist_sync_begin(R->sync, R->g, share);
    if (!rc && count > 0 && !l) rc = -1;
    else if (!rc && count > 0 && isfinite(l->data[0])) rc = sd_backward(R->g, l);   /* else: reported below */
    double info[2] = { l ? l->data[0] * share : 0.0, *stop };   /* summed over the ranks */
    if (sd_dist_sync_end(R->sync, info, 2) || rc) return -1;
    if (!isfinite(info[0])) {
        R->res->failed_everywhere = 1;   /* the reduced loss: every rank sees it */
        return sd_error("the loss became %g at step %ld (try a smaller --lr)", info[0], R->step + 1);
    }
    *stop = info[1] > 0;
    sd_optim_step(R->opt);
    if (R->avg != R->net) {   /* ramped up as the GAN's: min(ema, (1 + t)/(10 + t)) */
        const double t = (double)R->step, d = fmin(R->o->ema, (1.0 + t) / (10.0 + t));
        if (sd_params_ema(sd_unet_params(R->avg), sd_unet_params(R->net), (float)d)) return -1;
    }
    *loss = info[0];
    return 0;
}

/* ---- The loop's parts (sd_trainer_run's hooks) */

static int diffusion_step(void *user, sd_trainer_io *io)
{
    run *R = user;
    const double t0 = sd_time_now();
    sd_batch b;
    if (!sd_batcher_next(R->bt, &b)) return 1;
    double loss = 0.0;
    int stop = io->want_stop;
    if (train_step(R, &b, &loss, &stop)) return -1;
    R->train_secs += sd_time_now() - t0;
    R->step++;
    R->loss_sum += loss;
    R->images += b.n;
    io->stop = stop;   /* agreed by the ranks */
    io->items = b.n;
    io->values[0] = loss;
    io->values[1] = sd_optim_lr(R->opt);
    return 0;
}

static int diffusion_checkpoint(void *user, const sd_trainer_io *io)
{
    run *R = user;
    (void)io;
    return R->rank == 0 && save_checkpoint(R);
}

/* The epoch's end: its grid (DDIM from the same noise every epoch), the model, the score. */
static int diffusion_epoch_end(void *user, int epoch, double *values)
{
    run *R = user;
    const sd_diffusion_train_opts *o = R->o;
    sd_diffusion_result *res = R->res;
    const sd_shape img = sd_unet_image(R->avg);
    char path[4200];
    R->epoch = epoch;
    res->loss = R->loss_sum / R->spe;
    R->loss_sum = 0.0;
    if (R->rank != 0) return 0;   /* rank 0 draws, writes and scores */
    sd_rng fixed;
    sd_rng_seed(&fixed, o->seed ^ 0x9e3779b97f4a7c15ull);
    sd_diffusion_model dm = { R->avg, R->s, img, o->T, R->g };   /* in the training graph's memory */
    if (sd_diffusion_draw(R->ctx, &dm, GRID, 1, o->sample_steps, &fixed, R->grid, 0, NULL, NULL)) return -1;
    snprintf(path, sizeof path, "%s/epoch_%03d.png", R->out, epoch);
    if (sd_app_save_grid(path, R->grid, GRID, img, 8)) return -1;
    if (save_file(R, res->model, "diffusion", NULL, 0, NULL, 0)) return -1;
    fprintf(R->log, "epoch %d/%d  loss %.4f  %.0f img/s  grid %s", epoch, o->epochs, res->loss,
            R->images / (R->train_secs > 0 ? R->train_secs : 1e-9), path);
    values[2] = res->loss;
    if (R->cls) {
        sd_rng srng;
        sd_rng_seed(&srng, o->seed + 1);
        const int n = o->score_n > 0 ? o->score_n : 1000;
        int sc = sd_diffusion_score(R->ctx, &dm, R->cls, n, o->sample_steps, &srng, &res->score, o->stop);
        if (sc == SD_STOPPED && sd_dist_size(o->dist) == 1) {   /* the epoch's files are written: */
            fputc('\n', R->log);                                  /* the run resumes at the next epoch */
            R->stopped_scoring = epoch;
            return SD_STOPPED;
        }
        if (sc == SD_STOPPED) {   /* ranks: the others wait at the next step, where every rank agrees to stop */
            res->score = NAN;
            fprintf(R->log, "  score skipped (a stop came)");
        } else if (sc) {
            return -1;
        } else {
            fprintf(R->log, "  score %.3f (%.1f %% of the real images')", res->score,
                    100.0 * res->score / res->real_score);
            values[3] = res->score;
        }
    }
    fputc('\n', R->log);
    fflush(R->log);
    return 0;
}

/* The terminal's line. */
static int diffusion_after(void *user, const sd_trainer_io *io)
{
    run *R = user;
    if (!R->o->live_progress) return 0;
    const int at = sd_batcher_position(R->bt) / R->o->batch;
    const double now = sd_time_now();
    if (now - R->last_draw > 0.2 || at == R->spe) {
        fprintf(stderr, "\r\033[Kepoch %d/%d  step %d/%d  loss %.4f", io->epoch, R->o->epochs, at, R->spe,
                io->values[0]);
        fflush(stderr);
        R->last_draw = now;
    }
    return 0;
}

static void diffusion_where(void *user, char *buf, size_t size)
{
    const run *R = user;
    if (R->stopped_scoring) snprintf(buf, size, "the end of epoch %d (its score not taken)", R->stopped_scoring);
    else snprintf(buf, size, "epoch %d, step %ld", R->epoch + 1, R->step);
}

/* Every rank must run the same configuration and make the same collective calls. */
static int check_same_config(const sd_diffusion_train_opts *o)
{
    sd_diffusion_train_opts c = *o;
    if (!c.data_dir) c.data_dir = sd_data_default_dir();
    if (sd_app_same_config(o->dist, sd_diffusion_config_fields, SD_DIFFUSION_CONFIG_FREE_FROM, &c, o->overlap,
                           o->checkpoint ? o->checkpoint_every : -1, o->stop_after)) return -1;
    return sd_app_same_setting(o->dist, "resume (1: given)", o->resume ? "1" : "0") == 1 ? 0 : -1;
}

int sd_app_diffusion_train(const sd_diffusion_train_opts *o, sd_diffusion_result *res, FILE *log)
{
    const double t_start = sd_time_now();
    memset(res, 0, sizeof *res);
    res->score = res->real_score = NAN;
    if (o->epochs < 1 || o->batch < 2) return sd_error("epochs must be at least 1 and batch at least 2");
    if (!(o->ema >= 0.0f && o->ema < 1.0f)) return sd_error("--ema must be in [0, 1), not %g", o->ema);
    if (o->T < 1 || o->T > SD_DDPM_MAX_T) return sd_error("--steps must be in [1, %d], not %d", SD_DDPM_MAX_T, o->T);
    if (o->sample_steps < 1 || o->sample_steps > o->T)
        return sd_error("--sample-steps %d: DDIM takes 1 to T = %d steps", o->sample_steps, o->T);
    run R = { .o = o, .data = o->data_dir ? o->data_dir : sd_data_default_dir(), .rank = sd_dist_rank(o->dist) };
    const int nranks = sd_dist_size(o->dist);
    if (nranks > 1 && check_same_config(o)) {
        res->failed_everywhere = 1;
        return -1;
    }
    const char *out = o->out_dir ? o->out_dir : "diffusion-out";
    sd_model *cls = NULL;
    sd_trainer *tr = NULL;
    sd_dataset test = { 0 };
    float *grid = NULL;
    int rc = -1;
    sd_rng_seed(&R.rng, o->seed);
    snprintf(res->model, sizeof res->model, "%s/model.safetensors", out);
    if (R.rank == 0) {   /* before any work: no output replaces an input, and every output can be written */
        const sd_path_use uses[] = { { o->classifier, SD_PATH_INPUT, "--classifier" },
                                     { o->resume, SD_PATH_RESUME, "--resume" }, { out, SD_PATH_OUTPUT_DIR, "--out" },
                                     { res->model, SD_PATH_OUTPUT, "the model (in --out)" },
                                     { o->checkpoint, SD_PATH_CHECKPOINT, "--checkpoint" },
                                     { o->track.log, SD_PATH_APPEND, "--log" } };
        if (sd_app_check_paths(R.data, uses, 6)) goto done;
    }
    if (o->classifier && (sd_file_expect_kind(o->classifier, SD_KINDS_CLASSIFIER, "an image classifier") ||
                          !(cls = sd_model_load(o->classifier)))) goto done;
    if (sd_dataset_load_mnist(R.data, "train", &R.train)) goto done;
    const sd_shape img = SD_SHAPE(R.train.c, R.train.h, R.train.w);
    if (cls && sd_app_check_classifier(cls, o->classifier, img, 0)) goto done;
    if (o->limit_train > 0 && o->limit_train < R.train.n) sd_dataset_truncate(&R.train, o->limit_train);
    if (R.train.n < o->batch) {
        sd_error("%s: %d training images, fewer than one batch of %d", R.data, R.train.n, o->batch);
        goto done;
    }
    if (o->batch < nranks) {
        sd_error("a batch of %d pictures cannot be shared by %d ranks", o->batch, nranks);
        goto done;
    }
    if (R.rank == 0 && sd_app_make_dir(out)) goto done;
    if (!(R.ctx = sd_ctx_new(&(sd_ctx_opts){ .threads = sd_dist_threads(o->dist, o->threads) }))) goto done;
    sd_app_use_precision(R.ctx, o->precision, log);
    const sd_unet_opts uo = { .channels = o->channels, .groups = o->groups, .rng = &R.rng };
    if (!(R.net = sd_unet_new(img, &uo)) || !(R.s = sd_ddpm_new(o->schedule, o->T))) goto done;
    R.avg = R.net;
    if (o->ema > 0.0f) {   /* the average starts as the initial weights */
        sd_rng unused;
        sd_rng_seed(&unused, 0);
        if (!(R.avg = sd_unet_new(img, &(sd_unet_opts){ .channels = o->channels, .groups = o->groups,
                                                        .rng = &unused })) ||
            sd_params_copy(sd_unet_params(R.avg), sd_unet_params(R.net))) goto done;
    }
    if (!(R.opt = sd_optim_new(sd_unet_params(R.net), &(sd_optim_opts){ .kind = SD_OPTIM_ADAM, .lr = o->lr })))
        goto done;
    /* x0 = pixel / 127.5 - 1 */
    if (!(R.bt = sd_batcher_new(&R.train, &(sd_batcher_opts){ .batch = o->batch, .shuffle = 1,
                                                             .scale = 1.0f / 127.5f, .shift = -1.0f }, &R.rng)))
        goto done;
    const size_t size = sd_shape_numel(img);
    R.eps = malloc((size_t)o->batch * size * sizeof *R.eps);
    R.xt = malloc((size_t)o->batch * size * sizeof *R.xt);
    R.t = malloc((size_t)o->batch * sizeof *R.t);
    grid = malloc((size_t)GRID * size * sizeof *grid);
    if (!R.eps || !R.xt || !R.t || !grid || !(R.g = sd_graph_new(R.ctx))) { sd_error("out of memory"); goto done; }
    if (o->resume && restore(&R, o->resume)) goto done;
    if (!(R.sync = sd_dist_sync_new(o->dist, sd_unet_params(R.net), &(sd_dist_sync_opts){ .overlap = o->overlap })))
        goto done;
    res->params = sd_params_numel(sd_unet_params(R.net));
    const int spe = sd_batcher_batches_per_epoch(R.bt);
    if (R.step == 0)
        fprintf(log, "diffusion: U-Net of %zu parameters (c = %d), %s schedule over T = %d steps; %d images of %s, "
                "%d steps an epoch\n", res->params, sd_unet_channels(R.net), sd_ddpm_kind_name(o->schedule), o->T,
                R.train.n, R.data, spe);
    else
        fprintf(log, "diffusion: resuming %s at epoch %d, step %ld\n", o->resume, R.epoch + 1, R.step);
    if (nranks > 1) {   /* the same weights, data order and RNG everywhere, or the ranks drift apart */
        sd_params *P = sd_unet_params(R.net);
        const sd_chunk start[] = { { sd_params_values(P), sd_params_size(P) * sizeof(float) },
                                   { sd_batcher_order(R.bt), (size_t)R.train.n * sizeof(int32_t) },
                                   { &R.rng, sizeof R.rng } };
        const int same = sd_app_same_start(o->dist, start, 3, o->resume != NULL);
        if (same <= 0) { res->failed_everywhere = same == 0; goto done; }
        fprintf(log, "data parallel: %d ranks x %d threads, each %d or %d of the %d pictures of a step; gradients "
                     "all-reduced %s\n", nranks, sd_ctx_threads(R.ctx), o->batch / nranks,
                (o->batch + nranks - 1) / nranks, o->batch, o->overlap ? "in buckets during backward" : "once per step");
    }
    res->ranks = nranks;
    if (cls && R.rank == 0) {
        int n = o->score_n > 0 ? o->score_n : 1000;
        if (sd_dataset_load_mnist(R.data, "t10k", &test)) goto done;
        if (test.c != img.d[0] || test.h != img.d[1] || test.w != img.d[2]) {
            sd_error("%s: test images are %dx%dx%d, training images %dx%dx%d", R.data, test.c, test.h, test.w,
                     img.d[0], img.d[1], img.d[2]);
            goto done;
        }
        if (sd_app_score_pixels(R.ctx, cls, test.images, n < test.n ? n : test.n, &res->real_score)) goto done;
        fprintf(log, "score of %d real test images (classifier %s): %.3f\n", n < test.n ? n : test.n,
                o->classifier, res->real_score);
    }
    static const char *const log_keys[] = { "loss", "lr", "train_loss", "score", NULL };
    sd_diffusion_train_opts cfg = *o;   /* the configuration as a checkpoint stores it */
    cfg.data_dir = R.data;
    char sn[32], ss[32];   /* the resume hint: the outputs to name again */
    snprintf(sn, sizeof sn, "%d", o->score_n);
    snprintf(ss, sizeof ss, "%d", o->sample_steps);
    const char *const hint[] = { "out", out, "classifier", o->classifier, "score-n", o->classifier && o->score_n ? sn : NULL,
                                 "sample-steps", ss };
    if (!(tr = sd_trainer_new(&(sd_trainer_opts){ .unit = "img", .keys = log_keys, .total_steps = (int64_t)spe * o->epochs,
                                                  .steps_per_epoch = spe, .epochs = o->epochs, .flags = o->track,
                                                  .default_log_every = 10, .live = o->live_progress,
                                                  .resume_step = R.step, .out = out, .out_is_dir = 1,
                                                  .cmd = "diffusion", .config = sd_diffusion_config_fields,
                                                  .config_opts = &cfg, .stop = o->stop, .stop_after = o->stop_after,
                                                  .log = log, .checkpoint = o->checkpoint,
                                                  .checkpoint_every = o->checkpoint_every, .hint = hint, .nhint = 8 })))
        goto done;
    R.res = res, R.out = out, R.log = log, R.cls = cls, R.grid = grid, R.spe = spe;
    const sd_trainer_hooks hooks = { &R, diffusion_step, diffusion_checkpoint, diffusion_epoch_end, diffusion_after,
                                     diffusion_where };
    const int ran = sd_trainer_run(tr, &hooks, R.epoch + 1);
    if (ran) {
        if (ran == SD_STOPPED) rc = SD_STOPPED;
        goto done;
    }
    if (o->checkpoint && R.rank == 0 && save_checkpoint(&R)) goto done;
    res->epochs = R.epoch;
    res->steps = R.step;
    res->train_images_per_s = R.images / (R.train_secs > 0 ? R.train_secs : 1e-9);
    fprintf(log, "model: %s\n", res->model);
    rc = sd_trainer_finish(tr, log);
    tr = NULL;
done:
    sd_trainer_free(tr);
    res->wall_s = sd_time_now() - t_start;
    res->sync_wait_s = R.sync ? sd_dist_sync_get_stats(R.sync).wait_s : 0.0;
    sd_dist_sync_free(R.sync);
    free(grid);
    free(R.eps);
    free(R.xt);
    free(R.t);
    sd_graph_free(R.g);
    sd_batcher_free(R.bt);
    sd_optim_free(R.opt);
    if (R.avg != R.net) sd_unet_free(R.avg);
    sd_unet_free(R.net);
    sd_ddpm_free(R.s);
    sd_ctx_free(R.ctx);
    sd_dataset_free(&R.train);
    sd_dataset_free(&test);
    sd_model_free(cls);
    return rc;
}
