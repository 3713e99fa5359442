#define _POSIX_C_SOURCE 200809L
/* Image classification: `shendu train` and `shendu eval`. */
#include "apps.h"

#include <math.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

static const char *fashion_names =
    "T-shirt/top,Trouser,Pullover,Dress,Coat,Sandal,Shirt,Sneaker,Bag,Ankle boot";
static const char *digit_names = "0,1,2,3,4,5,6,7,8,9";

static const char *class_names(const char *dir, int nclass)
{
    if (nclass != 10) return NULL;
    return strstr(dir, "fashion") ? fashion_names : digit_names;
}

static int is_file(const char *p)
{
    struct stat st;
    return p && stat(p, &st) == 0 && S_ISREG(st.st_mode);
}

int sd_train_recipe(sd_train_opts *o, const char *recipe, const char *data_dir)
{
    const char *dir = data_dir ? data_dir : sd_data_default_dir();
    if (!strcmp(recipe, "plain")) {
        o->normalize = o->shift = o->flip = o->cosine = 0;
        return 0;
    }
    if (!strcmp(recipe, "best")) {
        /* Measured on Fashion-MNIST (bench/RESULTS.md): mirrors help, shifts
         * cost more (under-fitting in 10 epochs) than they give. Digits must
         * not be mirrored, and small shifts help them. */
        int fashion = strstr(dir, "fashion") != NULL;
        o->normalize = 1;
        o->flip = fashion;
        o->shift = fashion ? 0 : 2;
        o->cosine = 1;
        if (o->lr == 0.0f && o->optim == SD_OPTIM_ADAM) o->lr = 2e-3f;
        return 0;
    }
    return sd_error("unknown recipe '%s' (expected plain or best)", recipe);
}

/* Mean and standard deviation of all training pixels, on the 0..1 scale. */
static void pixel_stats(const sd_dataset *d, double *mean, double *sd)
{
    size_t n = (size_t)d->n * d->c * d->h * d->w;
    double s = 0, s2 = 0;
    for (size_t i = 0; i < n; i++) {
        double v = d->images[i] / 255.0;
        s += v;
        s2 += v * v;
    }
    *mean = s / n;
    *sd = sqrt(s2 / n - *mean * *mean);
    if (!(*sd > 1e-6)) *sd = 1.0;
}

/* sd_app_evaluate, stopped between two batches when *stop is set: SD_STOPPED. */
static int evaluate(sd_graph *g, sd_model *m, const sd_dataset *d, float scale, float shift,
                    double *accuracy, double *loss, float *logits_out, volatile sig_atomic_t *stop)
{
    /* batches of 100: the arena of a CNN stays small (peak memory), the GEMMs big enough */
    sd_batcher *b = sd_batcher_new(d, &(sd_batcher_opts){ .batch = 100, .scale = scale, .shift = shift }, NULL);
    if (!b) return -1;
    const int was_recording = sd_graph_grad(g);
    sd_graph_set_grad(g, 0);
    const int was_training = sd_model_training(m);
    sd_model_set_training(m, 0);   /* batchnorm: the running averages, not this batch's statistics */
    sd_shape in = sd_model_input_shape(m);
    long correct = 0, seen = 0;
    double loss_sum = 0.0;
    int rc = 0;
    sd_batch batch;
    while (sd_batcher_next(b, &batch)) {
        if (stop && *stop) { rc = SD_STOPPED; break; }
        sd_graph_reset(g);
        int dims[SD_MAX_DIMS] = { batch.n };
        for (int i = 0; i < in.ndim; i++) dims[i + 1] = in.d[i];
        sd_tensor *x = sd_input(g, batch.x, sd_shape_of(dims, in.ndim + 1));
        sd_tensor *logits = sd_model_forward(g, m, x);
        sd_tensor *l = sd_cross_entropy(g, logits, batch.y);
        if (!l) { rc = -1; break; }
        loss_sum += (double)l->data[0] * batch.n;
        int C = logits->shape.d[1];
        if (logits_out) memcpy(logits_out + (size_t)seen * C, logits->data, (size_t)batch.n * C * sizeof(float));
        seen += batch.n;
        for (int i = 0; i < batch.n; i++) {
            const float *row = logits->data + (size_t)i * C;
            int best = 0;
            for (int j = 1; j < C; j++) if (row[j] > row[best]) best = j;
            correct += best == batch.y[i];
        }
    }
    sd_model_set_training(m, was_training);
    sd_graph_set_grad(g, was_recording);
    sd_graph_reset(g);
    sd_batcher_free(b);
    if (rc) return rc;
    *accuracy = (double)correct / d->n;
    *loss = loss_sum / d->n;
    return 0;
}

int sd_app_evaluate(sd_graph *g, sd_model *m, const sd_dataset *d, float scale, float shift,
                    double *accuracy, double *loss, float *logits_out)
{
    return evaluate(g, m, d, scale, shift, accuracy, loss, logits_out, NULL);
}

static void progress_line(FILE *log, int epoch, int epochs, int step, int steps, double loss,
                          double ips, double eta)
{
    fprintf(log, "\r\033[Kepoch %d/%d  batch %d/%d  loss %.4f  %.0f img/s  ETA %dm%02ds", epoch, epochs, step,
            steps, loss, ips, (int)eta / 60, (int)eta % 60);
    fflush(log);
}

/* ---- The run's configuration, as text: what a checkpoint stores and a resume
 * restores and compares against the flags given again. */
static const char *const optim_names[] = { "sgd", "adam", NULL };
static const char *const init_names[] = { "default", "he", "xavier", NULL };
_Static_assert(SD_OPTIM_SGD == 0 && SD_OPTIM_ADAM == 1 && sizeof(sd_optim_kind) == sizeof(int), "optim_names");
_Static_assert(SD_INIT_DEFAULT == 0 && SD_INIT_HE == 1 && SD_INIT_XAVIER == 2 && sizeof(sd_init) == sizeof(int),
               "init_names");

static const char *const fill_names[] = { "none", "mean", NULL };

#define F(key, kind, field, ...) { key, kind, offsetof(sd_train_opts, field), __VA_ARGS__ }
const sd_config_field sd_train_config_fields[] = {
    F("model", SD_CFG_STR, model, 0, 0, NULL, "mlp"),
    F("data", SD_CFG_STR, data_dir, 0, 0, NULL, NULL),   /* filled in before saving */
    /* numbers: the flags' ranges (cli_check_config_ranges keeps them so), which a checkpoint's values must meet */
    F("epochs", SD_CFG_INT, epochs, 1, 1000000),
    F("batch", SD_CFG_INT, batch, 1, 1 << 20),
    F("lr", SD_CFG_FLOAT, lr, 0, 100),
    F("optim", SD_CFG_ENUM, optim, 0, 0, optim_names),
    F("momentum", SD_CFG_FLOAT, momentum, 0, 0.9999999),
    F("weight-decay", SD_CFG_FLOAT, weight_decay, 0, 1),
    F("init", SD_CFG_ENUM, init, 0, 0, init_names),
    F("threads", SD_CFG_INT, threads, 0, 256),
    F("seed", SD_CFG_U64, seed),
    F("limit", SD_CFG_INT, limit_train, 0, 1 << 30),
    F("limit-test", SD_CFG_INT, limit_test, 0, 1 << 30),
    F("normalize", SD_CFG_INT, normalize, 0, 1),
    F("shift", SD_CFG_INT, shift, 0, 8),
    F("flip", SD_CFG_INT, flip, 0, 1),
    F("cosine", SD_CFG_INT, cosine, 0, 1),
    F("target", SD_CFG_STR, data.target, 0, 0, NULL, ""),
    F("task", SD_CFG_ENUM, data.task, 0, 0, sd_task_names),
    F("fill", SD_CFG_ENUM, data.fill, 0, 0, fill_names),
    F("size", SD_CFG_STR, data.size, 0, 0, NULL, ""),
    F("channels", SD_CFG_INT, data.channels, 0, 3),
    F("resize", SD_CFG_ENUM, data.fit, 0, 0, sd_fit_names),
    F("skip-bad", SD_CFG_INT, data.skip_bad, 0, 1),
    F("test-split", SD_CFG_DOUBLE, data.test_split, 0, 0.99),
    F("val", SD_CFG_DOUBLE, data.val, 0, 0.9),
    F("early-stop", SD_CFG_INT, data.early_stop, 0, 1 << 20),
    F("precision", SD_CFG_ENUM, precision, 0, 0, sd_precision_names, "fp32"),
    { 0 }
};
#undef F

void sd_train_config_get(const sd_train_opts *o, const char *key, char *buf, size_t size)
{
    sd_train_opts c = *o;
    if (!c.data_dir) c.data_dir = sd_data_default_dir();
    const sd_config_field *f = sd_config_find(sd_train_config_fields, key);
    if (f) sd_config_get(f, &c, buf, size);
    else snprintf(buf, size, "?");
}

void sd_train_config_free(sd_train_opts *o)
{
    for (int k = 0; k < 4; k++) {
        free(o->owned[k]);
        o->owned[k] = NULL;
    }
}

int sd_train_config_load(const char *path, sd_train_opts *o)
{
    sd_st_file *f = sd_st_open(path);
    if (!f) return -1;
    int rc = 0;
    const char *fmt = sd_st_meta(f, "shendu.format");
    if (sd_st_expect_kind(f, path, SD_KIND_BIT(SD_FILE_CLASSIFIER_CKPT), "a checkpoint of shendu train")) {
        rc = -1;
        goto done;
    }
    if (!fmt || strcmp(fmt, "checkpoint") || !sd_st_meta(f, "shendu.train.epoch")) {
        rc = sd_error("%s: not a checkpoint of `shendu train` (write one with --checkpoint FILE)", path);
        goto done;
    }
    rc = sd_config_from_file(sd_train_config_fields, o, "train", f, path, o->owned);
done:
    sd_st_close(f);
    return rc;
}

/* A resume continues on the data the checkpoint was trained on, as far as it
 * shows in the counts, sizes, classes and contents. */
static int check_resume_data(const char *path, const char *dir, char data_desc[2][128])
{
    sd_st_file *f = sd_st_open(path);
    if (!f) return -1;
    static const char *const keys[2] = { "shendu.train.train_data", "shendu.train.test_data" };
    static const char *const split[2] = { "training", "test" };
    int rc = 0;
    for (int k = 0; k < 2 && !rc; k++) {
        const char *was = sd_st_meta(f, keys[k]);
        if (was && strcmp(was, data_desc[k]))
            rc = sd_error("%s was trained on other data: its %s set was %s, but %s now holds %s (the data and "
                          "--limit/--limit-test must be those of the original run)", path, split[k], was, dir,
                          data_desc[k]);
    }
    sd_st_close(f);
    return rc;
}

/* The trainer's state between two steps: everything a resume needs. */
typedef struct train_state {
    int epoch;              /* epoch in progress, 1-based */
    int step;               /* steps done in this epoch */
    double loss_sum;        /* their summed losses */
} train_state;

static int save_checkpoint(const char *path, const sd_train_opts *o, sd_model *m, sd_optim *opt,
                           const sd_rng *rng, const sd_batcher *bt, int ntrain, const train_state *st,
                           char data_desc[2][128])
{
    char epoch[16], step[16], pos[16], loss[40];
    sd_train_opts c = *o;
    if (!c.data_dir) c.data_dir = sd_data_default_dir();
    sd_config_text cfg;
    if (sd_config_to_meta(sd_train_config_fields, &c, "train", &cfg)) return -1;
    sd_st_kv kv[SD_CONFIG_MAX + 7];
    int n = 0;
    for (int i = 0; i < cfg.n; i++) kv[n++] = cfg.kv[i];
    kv[n++] = (sd_st_kv){ "shendu.kind", sd_kind_name(SD_FILE_CLASSIFIER_CKPT) };
    snprintf(epoch, sizeof epoch, "%d", st->epoch);
    snprintf(step, sizeof step, "%d", st->step);
    snprintf(pos, sizeof pos, "%d", sd_batcher_position(bt));
    snprintf(loss, sizeof loss, "%.17g", st->loss_sum);
    kv[n++] = (sd_st_kv){ "shendu.train.epoch", epoch };
    kv[n++] = (sd_st_kv){ "shendu.train.step", step };
    kv[n++] = (sd_st_kv){ "shendu.train.position", pos };
    kv[n++] = (sd_st_kv){ "shendu.train.loss_sum", loss };
    kv[n++] = (sd_st_kv){ "shendu.train.train_data", data_desc[0] };
    kv[n++] = (sd_st_kv){ "shendu.train.test_data", data_desc[1] };
    sd_st_tensor t[2] = {
        sd_checkpoint_rng_tensor("shendu.train.rng", rng),
        { .name = "shendu.train.order", .dtype = SD_I32, .ndim = 1, .data = sd_batcher_order(bt) },
    };
    t[1].shape[0] = ntrain;
    return sd_checkpoint_save(path, m, opt, t, 2, kv, n);
}

static int restore_checkpoint(const char *path, sd_model *m, sd_optim *opt, sd_rng *rng, sd_batcher *bt,
                              int ntrain, train_state *st)
{
    sd_st_file *f = sd_st_open(path);
    if (!f) return -1;
    int rc = -1;
    int32_t *order = malloc((size_t)ntrain * sizeof *order);
    sd_params *P = sd_model_params(m);
    if (!order) { sd_error("out of memory"); goto done; }
    if (sd_checkpoint_read_params(f, P)) goto done;
    const char *e = sd_st_meta(f, "shendu.train.epoch"), *sp = sd_st_meta(f, "shendu.train.step"),
               *pos = sd_st_meta(f, "shendu.train.position"), *ls = sd_st_meta(f, "shendu.train.loss_sum");
    long epoch, step, position;
    if (!ls || sd_config_parse_long(e, 1, 1 << 30, &epoch) || sd_config_parse_long(sp, 0, 1 << 30, &step) ||
        sd_config_parse_long(pos, 0, ntrain, &position)) {
        sd_error("%s: bad or missing training state", path);
        goto done;
    }
    st->epoch = (int)epoch;
    st->step = (int)step;
    st->loss_sum = strtod(ls, NULL);
    if (sd_checkpoint_restore_optim(f, opt) || sd_checkpoint_read_rng(f, "shendu.train.rng", rng) ||
        sd_checkpoint_read_i32(f, "shendu.train.order", order, (size_t)ntrain) ||
        sd_batcher_restore(bt, (int)position, order)) {
        sd_error_prefix("%s", path);
        goto done;
    }
    rc = 0;
done:
    free(order);
    sd_st_close(f);
    return rc;
}

/* ---- Data parallel (issue 9): every rank must run the same configuration, and
 * make the same collective calls (so also the same --allreduce and checkpoint
 * steps). On a difference every rank gets the same message, naming the first
 * rank that differs from rank 0. Returns 1 if the same, 0 if not, -1 on error. */
int sd_app_same_setting(sd_dist *dist, const char *key, const char *v)
{
    char v0[256], vr[256];
    int same = sd_dist_same(dist, v, strlen(v));
    if (same) return same;
    snprintf(v0, sizeof v0, "%s", v);
    snprintf(vr, sizeof vr, "%s", v);
    if (sd_dist_broadcast(dist, v0, sizeof v0, 0)) return -1;
    int r = sd_dist_first_failed(dist, strcmp(v, v0) != 0);
    if (r < 0 || sd_dist_broadcast(dist, vr, sizeof vr, r)) return -1;
    sd_error("the ranks were started with different settings: %s is %s on rank 0 but %s on rank %d; "
             "give every rank the same flags", key, v0, vr, r);
    return 0;
}

int sd_app_same_start(sd_dist *dist, const sd_chunk *parts, int n, int resumed)
{
    int same = 1;
    for (int i = 0; i < n && same > 0; i++) same = sd_dist_same(dist, parts[i].data, parts[i].size);
    if (!same)
        sd_error("the ranks start from different weights or data order%s",
                 resumed ? " (is the same checkpoint file visible to every rank?)" : "");
    return same;
}

int sd_app_same_config(sd_dist *dist, const sd_config_field *fields, int n, const void *opts, int overlap,
                       int checkpoint_every, long stop_after)
{
    char v[256];
    int same = 1;
    for (int i = 0; i < n && fields[i].key && same == 1; i++) {
        sd_config_get(&fields[i], opts, v, sizeof v);
        same = sd_app_same_setting(dist, fields[i].key, v);
    }
    if (same == 1) same = sd_app_same_setting(dist, "allreduce", overlap ? "overlap" : "plain");
    snprintf(v, sizeof v, "%d", checkpoint_every);
    if (same == 1) same = sd_app_same_setting(dist, "checkpoint-every (or --checkpoint)", v);
    snprintf(v, sizeof v, "%ld", stop_after);
    if (same == 1) same = sd_app_same_setting(dist, "stop-after", v);
    return same == 1 ? 0 : -1;
}

static int check_same_config(const sd_train_opts *o, sd_dist *dist)
{
    sd_train_opts c = *o;   /* the data directory a run without --data uses */
    if (!c.data_dir) c.data_dir = sd_data_default_dir();
    return sd_app_same_config(dist, sd_train_config_fields, SD_CONFIG_MAX, &c, o->overlap,
                              o->checkpoint ? o->checkpoint_every : -1, o->stop_after);
}

/* Batchnorm running averages come from each rank's shard: before they are
 * evaluated or saved, every rank takes the mean over the ranks. */
static int average_state(sd_dist *dist, sd_model *m)
{
    sd_params *S = sd_model_state(m);
    if (sd_dist_size(dist) == 1 || !S || !sd_params_size(S)) return 0;
    return sd_dist_allreduce_mean(dist, sd_params_values(S), sd_params_size(S));
}

/* Accuracy and loss over the test set, each rank evaluating its shard. */
/* One process: a stop is honoured between two batches (SD_STOPPED); ranks would disagree on it. */
static int evaluate_sharded(sd_graph *g, sd_dist *dist, sd_model *m, const sd_dataset *test, float scale,
                            float shift, double *accuracy, double *loss, volatile sig_atomic_t *stop)
{
    if (sd_dist_size(dist) == 1) return evaluate(g, m, test, scale, shift, accuracy, loss, NULL, stop);
    int start, count;
    sd_dist_shard(dist, test->n, &start, &count);
    sd_dataset part = *test;
    const size_t img = (size_t)test->c * test->h * test->w;
    if (part.images) part.images += (size_t)start * img;
    if (part.x) part.x += (size_t)start * img;
    part.labels += start;
    part.n = count;
    double sums[2] = { 0, 0 }, acc, l;
    if (count > 0) {
        if (sd_app_evaluate(g, m, &part, scale, shift, &acc, &l, NULL)) return -1;
        sums[0] = (double)llround(acc * count);   /* correct answers */
        sums[1] = l * count;
    }
    if (sd_dist_allreduce_sum_f64(dist, sums, 2)) return -1;
    *accuracy = sums[0] / test->n;
    *loss = sums[1] / test->n;
    return 0;
}

/* ---- The classifier's part of the training loop (sd_trainer_run's hooks) */
typedef struct cls_run {
    const sd_train_opts *o;
    sd_train_result *r;
    sd_dist *dist;
    int rank;
    sd_model *m;
    sd_optim *opt;
    sd_graph *g;
    sd_batcher *bt;
    sd_dist_sync *sync;
    sd_rng *rng;
    const sd_dataset *train, *test, *val;   /* val: the --val part (n 0: none) */
    sd_best_weights **best;        /* --early-stop: the best epoch's weights (made at the first epoch's end) */
    float *xbuf;                   /* the augmented batch and the augmentation's scratch */
    sd_augment_opts aug;
    int augment;                   /* pictures with --shift or --flip */
    float lr0, scale, shift;
    int steps;                     /* per epoch */
    long total_steps;
    train_state st;
    FILE *log;
    double t0, last_draw, train_time;   /* the epoch's start, the last redraw, training time */
    int first_step;                /* st.step when this epoch began here (a resume starts inside one) */
    long images;
    int stop_epoch, stop_step;     /* > 0: stopped during the test pass of this epoch, after its last step */
    char (*data_desc)[128];        /* what checkpoints record of the data (training, test) */
} cls_run;

/* One step: the batch (augmented), the learning rate, forward and backward on
 * this rank's shard, the gradient's all-reduce with the loss and the stop
 * request, the divergence check, the update. */
static int cls_step(void *user, sd_trainer_io *io)
{
    cls_run *R = user;
    const sd_train_opts *o = R->o;
    const sd_dataset *train = R->train;
    const int img = train->c * train->h * train->w, epoch = io->epoch;
    sd_batch b;
    if (!sd_batcher_next(R->bt, &b)) return 1;
    const float *bx = b.x;
    if (R->augment) {
        memcpy(R->xbuf, b.x, (size_t)b.n * img * sizeof(float));
        sd_augment_batch(R->xbuf, b.n, train->c, train->h, train->w, &R->aug, R->rng, R->xbuf + (size_t)o->batch * img);
        bx = R->xbuf;
    }
    if (o->cosine) {
        long t = (long)(epoch - 1) * R->steps + R->st.step;
        sd_optim_set_lr(R->opt, (float)(0.5 * R->lr0 * (1.0 + cos(3.14159265358979 * (double)t / R->total_steps))));
    }
    /* this rank's shard of the global batch (all of it in one process); every rank
     * drew the same batch and augmentation, and weighs its gradient by its share */
    int first, count;
    sd_dist_shard(R->dist, b.n, &first, &count);
    const double share = (double)count / b.n;
    sd_params *P = sd_model_params(R->m);
    sd_graph_reset(R->g);
    sd_params_zero_grad(P);
    sd_tensor *loss = NULL;
    if (count > 0) {
        sd_tensor *x = sd_input(R->g, bx + (size_t)first * img, SD_SHAPE(count, train->c, train->h, train->w));
        loss = sd_cross_entropy(R->g, sd_model_forward(R->g, R->m, x), b.y + first);
    }
    sd_dist_sync_begin(R->sync, R->g, share);
    if (count > 0 && (!loss || sd_backward(R->g, loss)))
        return sd_error_prefix("epoch %d step %d (global step %lld)", epoch, R->st.step + 1, (long long)io->step);
    /* the gradient becomes the global batch's; the loss and a stop request travel along */
    double step_info[2] = { count > 0 ? loss->data[0] * share : 0.0, io->want_stop };
    if (sd_dist_sync_end(R->sync, step_info, 2)) return -1;
    const double step_loss = step_info[0];
    int bad = -1;
    if (!isfinite(step_loss) || (bad = sd_params_first_nonfinite(P, 1)) >= 0) {
        R->r->failed_everywhere = 1;   /* the loss and gradient are the reduced ones: all ranks see this */
        return sd_error("training diverged at epoch %d step %d (global step %lld): %s%s%s; nothing was written "
                        "(try a smaller --lr; --detect-anomaly names the first op)", epoch, R->st.step + 1,
                        (long long)io->step, bad < 0 ? "the loss is " : "the gradient of ",
                        bad < 0 ? (isnan(step_loss) ? "NaN" : "Inf") : sd_params_name(P, bad),
                        bad < 0 ? "" : " holds NaN/Inf");
    }
    io->values[1] = sd_optim_lr(R->opt);
    sd_optim_step(R->opt);
    R->st.loss_sum += step_loss;
    R->st.step++;
    R->images += b.n;
    io->stop = step_info[1] > 0;   /* agreed: every rank stops at this step */
    io->items = b.n;
    io->values[0] = step_loss;
    return 0;
}

static int cls_checkpoint(void *user, const sd_trainer_io *io)
{
    cls_run *R = user;
    (void)io;
    return average_state(R->dist, R->m) ||
           (R->rank == 0 && save_checkpoint(R->o->checkpoint, R->o, R->m, R->opt, R->rng, R->bt, R->train->n, &R->st,
                                            R->data_desc));
}

/* The epoch's end: the test set's accuracy and loss, the validation part's,
 * the summary line, early stopping. SD_TRAINER_END: stop early (no lower validation loss
 * for --early-stop epochs); SD_STOPPED: a stop came during the test pass (one
 * process), the run stands at the next epoch's start. */
static int cls_epoch_end(void *user, int epoch, double *values)
{
    cls_run *R = user;
    sd_train_result *r = R->r;
    const sd_train_opts *o = R->o;
    double dt = sd_time_now() - R->t0;
    R->train_time += dt;
    r->train_loss = R->st.loss_sum / R->steps;
    const int steps_here = R->st.step - R->first_step, last_step = R->st.step;
    R->st.epoch = epoch + 1;   /* the next epoch begins */
    R->st.step = R->first_step = 0;
    R->st.loss_sum = 0.0;
    if (average_state(R->dist, R->m)) return -1;
    int ev = evaluate_sharded(R->g, R->dist, R->m, R->test, R->scale, R->shift, &r->test_accuracy, &r->test_loss,
                              o->stop);
    if (ev == SD_STOPPED) {
        R->stop_epoch = epoch, R->stop_step = last_step;
        return SD_STOPPED;
    }
    if (ev) return -1;
    r->epochs = epoch;
    double val_acc = 0.0, val_loss = 0.0;
    if (R->val->n && evaluate_sharded(R->g, R->dist, R->m, R->val, R->scale, R->shift, &val_acc, &val_loss, NULL))
        return -1;
    fprintf(R->log, "epoch %d/%d  train loss %.4f  ", epoch, o->epochs, r->train_loss);
    if (R->val->n) fprintf(R->log, "val loss %.4f  val accuracy %.2f%%  ", val_loss, 100.0 * val_acc);
    fprintf(R->log, "test loss %.4f  test accuracy %.2f%%  %.0f img/s  %.1fs\n", r->test_loss,
            100.0 * r->test_accuracy, (double)steps_here * o->batch / dt, dt);
    fflush(R->log);
    values[2] = r->train_loss;
    values[3] = r->test_loss;
    values[4] = r->test_accuracy;
    if (R->val->n) values[5] = val_loss, values[6] = val_acc;
    R->t0 = sd_time_now();
    R->last_draw = 0.0;
    if (R->val->n && o->data.early_stop > 0) {
        if (!*R->best && !(*R->best = sd_best_weights_new(R->m))) return -1;
        int since = sd_best_weights_update(*R->best, R->m, val_loss, epoch);
        values[7] = epoch - since;   /* the epoch whose weights are kept so far */
        if (since >= o->data.early_stop) {
            fprintf(R->log, "early stop: no lower validation loss for %d epochs\n", o->data.early_stop);
            return SD_TRAINER_END;
        }
    }
    return 0;
}

static int cls_live(void *user, const sd_trainer_io *io)
{
    cls_run *R = user;
    const sd_train_opts *o = R->o;
    if (!o->live_progress) return 0;
    double now = sd_time_now();
    if (now - R->last_draw > 0.2 || R->st.step == R->steps) {
        double ips = (double)(R->st.step - R->first_step) * o->batch / (now - R->t0);
        double eta = ((double)(R->steps - R->st.step) + (double)(o->epochs - io->epoch) * R->steps) * o->batch / ips;
        progress_line(stderr, io->epoch, o->epochs, R->st.step, R->steps, R->st.loss_sum / R->st.step, ips, eta);
        R->last_draw = now;
    }
    return 0;
}

static void cls_where(void *user, char *buf, size_t size)
{
    cls_run *R = user;
    if (R->stop_epoch) snprintf(buf, size, "epoch %d step %d", R->stop_epoch, R->stop_step);
    else snprintf(buf, size, "epoch %d step %d", R->st.epoch, R->st.step);
}

int sd_app_train_classifier(const sd_train_opts *o, sd_train_result *r, FILE *log)
{
    double t_start = sd_time_now();
    memset(r, 0, sizeof *r);
    const char *dir = o->data_dir ? o->data_dir : sd_data_default_dir();
    char arch_buf[512];
    const char *arch;
    if (o->epochs < 1 || o->batch < 1) return sd_error("epochs and batch must be at least 1");
    sd_dist *dist = o->dist;
    const int rank = sd_dist_rank(dist), nranks = sd_dist_size(dist);
    if (nranks > 1 && check_same_config(o, dist)) {
        r->failed_everywhere = 1;
        return -1;
    }
    const int threads = sd_dist_threads(dist, o->threads);

    sd_dataset train = { 0 }, test = { 0 }, val = { 0 };
    sd_data_info info = { 0 };
    sd_best_weights *best = NULL;
    sd_ctx *ctx = NULL;
    sd_model *m = NULL;
    sd_optim *opt = NULL;
    sd_graph *g = NULL;
    sd_batcher *bt = NULL;
    sd_dist_sync *sync = NULL;
    sd_trainer *tr = NULL;
    float *xbuf = NULL;
    int rc = -1;
    if (rank == 0) {   /* before any work: no output replaces an input, and every output can be written */
        const sd_path_use uses[] = { { o->resume, SD_PATH_RESUME, "--resume" }, { o->out, SD_PATH_OUTPUT, "--out" },
                                     { o->checkpoint, SD_PATH_CHECKPOINT, "--checkpoint" },
                                     { is_file(dir) ? dir : NULL, SD_PATH_INPUT, "--data" },   /* a table */
                                     { o->track.log, SD_PATH_APPEND, "--log" } };
        if (sd_app_check_paths(dir, uses, 5)) goto done;
    }
    if (sd_data_load(dir, &o->data, o->seed, threads, NULL, &train, &test, &info)) goto done;
    sd_data_print(log, &info, &train, &test);
    arch = sd_data_arch(o->model, train.nclass, arch_buf, sizeof arch_buf);
    if (o->limit_train > 0 && o->limit_train < train.n) sd_dataset_truncate(&train, o->limit_train);
    if (o->data.val > 0) {   /* a stratified, seeded validation part of the training data */
        sd_dataset rest;
        if (sd_dataset_split(&train, o->data.val, o->seed ^ 0x9e3779b97f4a7c15ull, &rest, &val)) goto done;
        sd_dataset_free(&train);
        train = rest;
        fprintf(log, "validation: %d of the training examples held out (a stratified %g part)\n", val.n, o->data.val);
    }
    if (o->limit_test > 0 && o->limit_test < test.n) sd_dataset_truncate(&test, o->limit_test);
    /* the test images are evaluated by a model built for the training images' size and classes */
    char what_train[4200], what_test[4200];
    snprintf(what_train, sizeof what_train, "the training set of %s", dir);
    snprintf(what_test, sizeof what_test, "its test %s", info.kind == SD_DATA_MNIST ? "set (t10k)" :
             info.split ? "part" : "set (test/)");
    if (sd_dataset_check_same_shape(&train, what_train, &test, what_test)) goto done;
    if (test.nclass > train.nclass) {
        sd_error("the test set of %s has labels up to %d but its training set only up to %d: a model trained on it "
                 "has %d classes", dir, test.nclass - 1, train.nclass - 1, train.nclass);
        goto done;
    }
    char data_desc[2][128];   /* what a checkpoint records of the data, and a resume compares */
    sd_dataset_describe(&train, data_desc[0], sizeof data_desc[0]);
    sd_dataset_describe(&test, data_desc[1], sizeof data_desc[1]);
    if (o->resume && check_resume_data(o->resume, dir, data_desc)) goto done;

    sd_rng rng;
    sd_rng_seed(&rng, o->seed);
    if (!(ctx = sd_ctx_new(&(sd_ctx_opts){ .threads = threads }))) goto done;
    sd_app_use_precision(ctx, o->precision, log);
    if (!(m = sd_model_new_with(arch, SD_SHAPE(train.c, train.h, train.w),
                                &(sd_model_opts){ .init = o->init, .rng = &rng, .max_memory = o->max_memory })) ||
        sd_model_check_memory(m, o->batch, 1, o->max_memory) ||   /* a training step */
        sd_model_check_memory(m, 100, 0, o->max_memory)) {        /* an evaluation batch */
        sd_error_prefix("model '%s'", o->model);
        goto done;
    }
    sd_shape out = sd_model_output_shape(m);
    if (out.ndim != 1 || out.d[0] != train.nclass) {
        sd_error("model '%s' has %d outputs but the data has %d classes", o->model,
                 out.ndim == 1 ? out.d[0] : -1, train.nclass);
        goto done;
    }
    sd_params *P = sd_model_params(m);
    if (!(opt = sd_optim_new(P, &(sd_optim_opts){ .kind = o->optim, .lr = o->lr, .momentum = o->momentum,
                                                  .weight_decay = o->weight_decay,
                                                  .threads = sd_ctx_threads(ctx) }))) goto done;
    if (!(sync = sd_dist_sync_new(dist, P, &(sd_dist_sync_opts){ .overlap = o->overlap }))) goto done;
    float scale = 1.0f / 255.0f, shift = 0.0f;
    if (o->normalize && !train.x) {   /* table features are standardised when read */
        double mean, sd;
        pixel_stats(&train, &mean, &sd);
        scale = (float)(1.0 / (255.0 * sd));
        shift = (float)(-mean / sd);
    }
    {   /* what a model file (and a checkpoint, which `eval` and `predict` take too) needs to read its data
           the same way: classes, the data set, its split and table statistics, the input normalisation */
        char buf[64];
        const char *names = class_names(dir, train.nclass);
        if (names && info.kind == SD_DATA_MNIST && sd_model_meta_set(m, "classes", names)) goto done;
        if (sd_data_meta_set(m, &info, &train, &o->data)) goto done;
        snprintf(buf, sizeof buf, "%.9g", scale);
        int bad = sd_model_meta_set(m, "input_scale", buf);
        snprintf(buf, sizeof buf, "%.9g", shift);
        if (bad || sd_model_meta_set(m, "input_shift", buf)) goto done;
    }
    const int img = train.c * train.h * train.w;
    xbuf = malloc((size_t)(o->batch + 1) * img * sizeof(float));   /* augmented batch + scratch */
    if (!xbuf) { sd_error("out of memory"); goto done; }
    const int augment = !train.x && (o->shift || o->flip);   /* pictures only */
    const sd_augment_opts aug = { .shift = o->shift, .flip = o->flip, .fill = shift };
    const float lr0 = sd_optim_lr(opt);
    if (!(bt = sd_batcher_new(&train, &(sd_batcher_opts){ .batch = o->batch, .shuffle = 1, .scale = scale,
                                                          .shift = shift }, &rng))) goto done;
    if (!(g = sd_graph_new(ctx))) goto done;
    sd_graph_set_anomaly(g, o->detect_anomaly);

    train_state st = { .epoch = 1 };
    if (o->resume) {
        if (restore_checkpoint(o->resume, m, opt, &rng, bt, train.n, &st)) goto done;
        fprintf(log, "resuming %s at epoch %d, step %d (%lld steps done)\n", o->resume, st.epoch, st.step,
                (long long)sd_optim_steps(opt));
    }
    if (nranks > 1) {
        const sd_chunk start[] = { { sd_params_values(P), sd_params_size(P) * sizeof(float) },
                                   { sd_batcher_order(bt), (size_t)train.n * sizeof(int32_t) } };
        int same = sd_app_same_start(dist, start, 2, o->resume != NULL);
        if (same <= 0) { r->failed_everywhere = same == 0; goto done; }
    }
    r->params = sd_params_numel(P);
    r->ranks = nranks;
    fprintf(log, "training %s (%zu parameters) on %s: %d train / %d test images, %s lr %g%s, batch %d, %d threads, kernel %s\n",
            o->model, r->params, dir, train.n, test.n, sd_optim_kind_name(o->optim),
            lr0, o->cosine ? " cosine" : "", o->batch, sd_ctx_threads(ctx), sd_ctx_kernel_name(ctx));
    if (nranks > 1)
        fprintf(log, "data parallel: %d ranks x %d threads, each a %d- or %d-image shard of every batch of %d; "
                     "gradients all-reduced %s\n", nranks, sd_ctx_threads(ctx), o->batch / nranks,
                (o->batch + nranks - 1) / nranks, o->batch,
                o->overlap ? "in buckets during backward" : "once per step");
    if (train.x)
        fprintf(log, "inputs: features standardised with the training part's mean and sd\n");
    else if (o->normalize || o->shift || o->flip)
        fprintf(log, "inputs: %s%s%s\n", o->normalize ? "normalised to mean 0, sd 1" : "pixels/255",
                o->shift ? ", random shifts" : "", o->flip ? ", random mirror" : "");
    const int steps = sd_batcher_batches_per_epoch(bt);
    const long total_steps = (long)steps * o->epochs;
    static const char *const log_keys[] = { "loss", "lr", "train_loss", "test_loss", "test_accuracy", "val_loss",
                                            "val_accuracy", "best_epoch", NULL };
    sd_train_opts cfg = *o;   /* the configuration as a checkpoint stores it */
    cfg.data_dir = dir;
    if (!(tr = sd_trainer_new(&(sd_trainer_opts){ .unit = "img", .keys = log_keys, .total_steps = total_steps,
                                                  .steps_per_epoch = steps, .epochs = o->epochs, .flags = o->track,
                                                  .default_log_every = 10, .live = o->live_progress, .rank = rank,
                                                  .resume_step = o->resume ? sd_optim_steps(opt) : 0, .out = o->out,
                                                  .cmd = "train", .config = sd_train_config_fields, .config_opts = &cfg,
                                                  .stop = o->stop, .stop_after = o->stop_after, .log = log,
                                                  .checkpoint = o->checkpoint, .checkpoint_every = o->checkpoint_every,
                                                  .hint = (const char *const[]){ "out", o->out }, .nhint = 2 })))
        goto done;
    cls_run R = { .o = o, .r = r, .dist = dist, .rank = rank, .m = m, .opt = opt, .g = g, .bt = bt, .sync = sync,
                  .rng = &rng, .train = &train, .test = &test, .val = &val, .best = &best, .data_desc = data_desc, .xbuf = xbuf,
                  .aug = aug, .augment = augment, .lr0 = lr0, .scale = scale,
                  .shift = shift, .steps = steps, .total_steps = total_steps, .st = st, .log = log,
                  .t0 = sd_time_now(), .first_step = st.step };
    const sd_trainer_hooks hooks = { &R, cls_step, cls_checkpoint, cls_epoch_end, cls_live, cls_where };
    int ran = sd_trainer_run(tr, &hooks, st.epoch);
    st = R.st;
    if (ran) {
        if (ran == SD_STOPPED) {
            r->steps = sd_optim_steps(opt);
            rc = SD_STOPPED;
        }
        goto done;
    }
    if (best) {   /* the best epoch's weights are the result */
        int e = sd_best_weights_restore(best, m);
        if (evaluate_sharded(g, dist, m, &test, scale, shift, &r->test_accuracy, &r->test_loss, NULL)) goto done;
        fprintf(log, "kept the weights of epoch %d (lowest validation loss): test loss %.4f  test accuracy %.2f%%\n", e,
                r->test_loss, 100.0 * r->test_accuracy);
        double kept[SD_METLOG_MAX_KEYS];   /* the log's last record: the kept model's test measures */
        for (int k = 0; k < SD_METLOG_MAX_KEYS; k++) kept[k] = NAN;
        kept[3] = r->test_loss, kept[4] = r->test_accuracy, kept[5] = sd_best_weights_val_loss(best), kept[7] = e;
        if (e > 0 && sd_trainer_final(tr, sd_optim_steps(opt), r->epochs, kept)) goto done;
    }
    if (nranks > 1) {
        sd_dist_sync_stats ss = sd_dist_sync_get_stats(sync);
        fprintf(log, "gradient all-reduce: %d bucket%s (%.1f per step started during backward), %.2f s waiting "
                     "(%.2f ms per step)%s\n", ss.buckets, ss.buckets == 1 ? "" : "s",
                ss.steps ? (double)ss.early / ss.steps : 0.0, ss.wait_s, ss.steps ? 1e3 * ss.wait_s / ss.steps : 0.0,
                ss.redone ? ", some steps reduced twice (the graph changed)" : "");
    }
    if (r->epochs == 0) {   /* resumed a finished run: no epoch ran here, but the model file gets its figures */
        if (evaluate_sharded(g, dist, m, &test, scale, shift, &r->test_accuracy, &r->test_loss, NULL)) goto done;
        r->epochs = o->epochs;
    }
    r->train_images_per_s = R.train_time > 0 ? R.images / R.train_time : 0.0;
    r->steps = sd_optim_steps(opt);
    if (rank == 0 && o->checkpoint) {   /* the final state: a finished run's checkpoint resumes to nothing more */
        st.step = 0;
        if (save_checkpoint(o->checkpoint, o, m, opt, &rng, bt, train.n, &st, data_desc)) goto done;
    }

    if (rank == 0 && o->out) {
        char buf[64];
        snprintf(buf, sizeof buf, "%.4f", r->test_accuracy);
        sd_model_meta_set(m, "test_accuracy", buf);
        snprintf(buf, sizeof buf, "%d", r->epochs);
        sd_model_meta_set(m, "epochs", buf);
        sd_model_meta_set(m, "optimizer", sd_optim_kind_name(o->optim));
        snprintf(buf, sizeof buf, "%s%s%s%s", o->normalize ? "normalize " : "", o->shift ? "shift " : "",
                 o->flip ? "flip " : "", o->cosine ? "cosine" : "");
        sd_model_meta_set(m, "recipe", buf[0] ? buf : "plain");
        const sd_st_kv kind = { "shendu.kind", sd_kind_name(SD_FILE_CLASSIFIER) };
        if (sd_model_save_with(m, o->out, NULL, 0, &kind, 1)) goto done;
        fprintf(log, "saved %s\n", o->out);
    }
    rc = sd_trainer_finish(tr, log);
    tr = NULL;
done:
    sd_trainer_free(tr);
    r->wall_s = sd_time_now() - t_start;
    if (sync) r->sync_wait_s = sd_dist_sync_get_stats(sync).wait_s;
    sd_dist_sync_free(sync);
    free(xbuf);
    sd_graph_free(g);
    sd_batcher_free(bt);
    sd_optim_free(opt);
    sd_model_free(m);
    sd_ctx_free(ctx);
    sd_dataset_free(&train);
    sd_dataset_free(&test);
    sd_dataset_free(&val);
    sd_best_weights_free(best);
    sd_data_info_free(&info);
    return rc;
}

int sd_app_classifier_inputs(const sd_model *m, const char *path, float *scale, float *shift)
{
    sd_shape out = sd_model_output_shape(m);
    char s[64];
    if (out.ndim != 1 || out.d[0] < 2)
        return sd_error("%s: not a classifier (its output has shape %s)", path, sd_shape_str(out, s, sizeof s));
    const char *names = sd_model_meta_get(m, "classes");
    if (names) {
        int n = 1;
        for (const char *c = names; *c; c++) n += *c == ',';
        if (n != out.d[0])
            return sd_error("%s: its metadata names %d classes but the model has %d outputs", path, n, out.d[0]);
    }
    /* sd_model_load refused values that are not finite numbers */
    const char *v = sd_model_meta_get(m, "input_scale");
    *scale = v ? strtof(v, NULL) : 1.0f / 255.0f;
    v = sd_model_meta_get(m, "input_shift");
    *shift = v ? strtof(v, NULL) : 0.0f;
    return 0;
}
