#define _POSIX_C_SOURCE 200809L
/* The parts every trainer's loop shares: metric log, plain progress lines,
 * the curves at the end (trainer.h). */
#include "apps.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

struct sd_trainer {
    sd_trainer_opts o;
    sd_metlog *log;
    int nkeys, log_every;
    char keys[SD_METLOG_MAX_KEYS][48];
    const char *keyp[SD_METLOG_MAX_KEYS + 1];
    double sums[SD_METLOG_MAX_KEYS], vals[SD_METLOG_MAX_KEYS];
    int counts[SD_METLOG_MAX_KEYS];
    double items, rec_t0;          /* since the last record: items processed, when it began */
    double run_items, run_t0;      /* since the start (progress lines) */
    int64_t first_step;
    double progress_every, last_progress;
    int announced;
    char curves[4096];
    const char *hint[16];          /* opts.hint's pairs, copied (a caller's compound literal ends with its statement) */
};

sd_trainer *sd_trainer_new(const sd_trainer_opts *o)
{
    sd_trainer *t = calloc(1, sizeof *t);
    if (!t) { sd_error("out of memory"); return NULL; }
    t->o = *o;
    if (o->nhint < 0 || o->nhint > 16 || (o->nhint && !o->hint)) {
        free(t);
        sd_error("the resume hint has %d entries (at most 16)", o->nhint);
        return NULL;
    }
    for (int i = 0; i < o->nhint; i++) t->hint[i] = o->hint[i];
    t->o.hint = t->hint;
    if (!t->o.progress) t->o.progress = stderr;
    for (; o->keys && o->keys[t->nkeys]; t->nkeys++) {
        if (t->nkeys == SD_METLOG_MAX_KEYS - 1) { free(t); sd_error("too many measures"); return NULL; }
        snprintf(t->keys[t->nkeys], sizeof t->keys[0], "%s", o->keys[t->nkeys]);
    }
    snprintf(t->keys[t->nkeys], sizeof t->keys[0], "%s_per_s", o->unit ? o->unit : "step");
    for (int k = 0; k <= t->nkeys; k++) t->keyp[k] = t->keys[k];
    t->keyp[t->nkeys + 1] = NULL;
    t->log_every = o->flags.log_every > 0 ? o->flags.log_every : o->default_log_every > 0 ? o->default_log_every : 10;
    t->progress_every = o->flags.progress_every == 0 ? 30.0 : o->flags.progress_every;
    if (o->live || o->rank != 0) t->progress_every = -1;
    if (o->flags.log && o->rank == 0) {
        t->log = sd_metlog_open(&(sd_metlog_opts){ .path = o->flags.log, .keys = t->keyp, .resume = o->resume_step > 0,
                                                   .resume_step = o->resume_step });
        if (!t->log) { free(t); return NULL; }
        const char *ck[SD_METLOG_MAX_COLS], *cv[SD_METLOG_MAX_COLS];
        char vals[SD_METLOG_MAX_COLS - 2][256];
        int n = 0;
        ck[n] = "cmd", cv[n++] = o->cmd ? o->cmd : "?";
        ck[n] = "out", cv[n++] = o->out ? o->out : "";
        for (int i = 0; o->config && o->config[i].key && n < SD_METLOG_MAX_COLS; i++, n++) {
            sd_config_show(&o->config[i], o->config_opts, vals[n - 2], sizeof vals[0]);
            ck[n] = o->config[i].key, cv[n] = vals[n - 2];
        }
        if (sd_metlog_config(t->log, ck, cv, n)) { sd_trainer_free(t); return NULL; }
        if (!o->flags.no_plot && !sd_metlog_special(t->log)) {   /* curves.svg in --out's directory (or in it), else beside the log */
            const char *beside = o->out ? o->out : o->flags.log;
            if (o->out && o->out_is_dir) snprintf(t->curves, sizeof t->curves, "%s/curves.svg", o->out);
            else {
                const char *slash = strrchr(beside, '/');
                int len = slash ? (int)(slash - beside) + 1 : 0;
                snprintf(t->curves, sizeof t->curves, "%.*scurves.svg", len, beside);
            }
        }
    }
    t->first_step = o->resume_step;
    t->rec_t0 = t->run_t0 = t->last_progress = sd_time_now();
    return t;
}

static void progress_line(sd_trainer *t, int64_t step, int epoch, double now)
{
    double rate = t->run_items / (now - t->run_t0), steps_rate = (double)(step - t->first_step) / (now - t->run_t0);
    double eta = steps_rate > 0 ? (double)(t->o.total_steps - step) / steps_rate : 0;
    FILE *f = t->o.progress;
    fprintf(f, "progress: step %lld/%lld", (long long)step, (long long)t->o.total_steps);
    if (t->o.steps_per_epoch > 0) fprintf(f, " (epoch %d/%d)", epoch, t->o.epochs);
    if (t->nkeys > 0 && t->counts[0] > 0) fprintf(f, "  %s %.4f", t->keys[0], t->sums[0] / t->counts[0]);
    fprintf(f, "  %.0f %s/s  ETA %dm%02ds\n", rate, t->o.unit ? t->o.unit : "step", (int)eta / 60, (int)eta % 60);
    fflush(f);
}

/* A long default's cost, once the speed is known: what the whole run takes at it. */
static void announce(sd_trainer *t, int64_t step, double now)
{
    t->announced = 1;
    const double per_step = (now - t->run_t0) / (double)(step - t->first_step);
    const double left = per_step * (double)(t->o.total_steps - step), total = per_step * (double)t->o.total_steps;
    FILE *f = t->o.log ? t->o.log : stdout;
    fprintf(f, "this run: %lld steps", (long long)t->o.total_steps);
    if (t->o.steps_per_epoch > 0 && t->o.epochs > 1) fprintf(f, " (%d epochs)", t->o.epochs);
    fprintf(f, ", about %.0f min in all at this speed (%.0f %s/s), %.0f min left; %s\n", total / 60,
            t->run_items / (now - t->run_t0), t->o.unit ? t->o.unit : "step", left / 60, t->o.flags.quick);
    fflush(f);
}

int sd_trainer_step(sd_trainer *t, int64_t step, int epoch, double items, const double *values)
{
    if (!t) return 0;
    t->items += items;
    t->run_items += items;
    if (t->o.flags.quick && !t->announced && t->o.rank == 0 && step > t->first_step) {
        double now = sd_time_now();
        if (now - t->run_t0 >= 10.0) announce(t, step, now);
    }
    for (int k = 0; k < t->nkeys; k++)
        if (isfinite(values[k])) {
            t->sums[k] += values[k];
            t->counts[k]++;
        }
    if (t->progress_every > 0) {
        double now = sd_time_now();
        if (now - t->last_progress >= t->progress_every) {
            progress_line(t, step, epoch, now);
            t->last_progress = now;
        }
    }
    if (step % t->log_every) return 0;
    double now = sd_time_now();
    for (int k = 0; k < t->nkeys; k++) {
        t->vals[k] = t->counts[k] ? t->sums[k] / t->counts[k] : NAN;
        t->sums[k] = 0;
        t->counts[k] = 0;
    }
    t->vals[t->nkeys] = now > t->rec_t0 ? t->items / (now - t->rec_t0) : NAN;
    t->items = 0;
    t->rec_t0 = now;
    return t->log ? sd_metlog_write(t->log, SD_REC_STEP, step, epoch, t->vals) : 0;
}

int sd_trainer_epoch(sd_trainer *t, int64_t step, int epoch, const double *values)
{
    if (!t || !t->log) return 0;   /* (progress lines need no reset: their rate is the run's) */
    for (int k = 0; k < t->nkeys; k++) t->vals[k] = values[k];
    t->vals[t->nkeys] = NAN;
    t->items = 0;   /* the next step record's throughput: training only, not this evaluation */
    t->rec_t0 = sd_time_now();
    return sd_metlog_write(t->log, SD_REC_EPOCH, step, epoch, t->vals);
}

int sd_trainer_final(sd_trainer *t, int64_t step, int epoch, const double *values)
{
    if (!t || !t->log) return 0;
    for (int k = 0; k < t->nkeys; k++) t->vals[k] = values[k];
    t->vals[t->nkeys] = NAN;
    return sd_metlog_write(t->log, SD_REC_FINAL, step, epoch, t->vals);
}

int sd_trainer_finish(sd_trainer *t, FILE *log)
{
    if (!t) return 0;
    int rc = sd_metlog_close(t->log);
    t->log = NULL;
    if (!rc && t->curves[0]) {
        sd_metlog_table tab;
        if (sd_metlog_read(t->o.flags.log, &tab) == 0) {
            const char *label = strrchr(t->o.flags.log, '/');
            label = label ? label + 1 : t->o.flags.log;
            rc = sd_plot_write(t->curves, &tab, &label, 1, &(sd_plot_opts){ .smooth = 0.6, .log_y = 1 });
            sd_metlog_table_free(&tab);
            if (!rc && log) fprintf(log, "curves: %s\n", t->curves);
        } else if (!strstr(sd_last_error(), "no records")) {
            rc = -1;
        }
    }
    free(t);
    return rc;
}

void sd_trainer_free(sd_trainer *t)
{
    if (!t) return;
    sd_metlog_close(t->log);
    free(t);
}

/* ---- The skeleton */

int sd_trainer_want_stop(const sd_trainer *t, int64_t step)
{
    return (t->o.stop && *t->o.stop) || (t->o.stop_after > 0 && step >= t->o.stop_after);
}

int sd_trainer_checkpoint_due(const sd_trainer *t, int64_t step, int stopping)
{
    return t->o.checkpoint && (stopping || (t->o.checkpoint_every > 0 && step % t->o.checkpoint_every == 0));
}

void sd_trainer_stopped(const sd_trainer *t, const char *where)
{
    FILE *f = t->o.log ? t->o.log : stdout;
    if (t->o.live) fprintf(stderr, "\r\033[K");
    if (t->o.checkpoint) {
        const char *flags[20];
        char every[32];
        int n = 0;
        for (int i = 0; i < t->o.nhint && n < 18; i++) flags[n++] = t->o.hint[i];
        snprintf(every, sizeof every, "%ld", t->o.checkpoint_every);
        flags[n++] = "checkpoint-every";
        flags[n++] = t->o.checkpoint_every ? every : NULL;
        fprintf(f, "stopped at %s; checkpoint written to %s\n", where, t->o.checkpoint);
        sd_app_resume_hint(f, t->o.cmd ? t->o.cmd : "?", t->o.checkpoint, flags, n);
    } else
        fprintf(f, "stopped at %s (no --checkpoint given: nothing saved)\n", where);
    fflush(f);
}

/* A stop inside a hook's long phase (a test or validation pass): the hook has
 * set its state to where the run resumes; the checkpoint and the message. */
static int stopped_in_hook(sd_trainer *t, const sd_trainer_hooks *h, int64_t step, int epoch)
{
    sd_trainer_io io = { .step = step, .epoch = epoch, .want_stop = 1, .stop = 1 };
    if (t->o.checkpoint && h->checkpoint(h->user, &io)) return -1;
    char where[128];
    h->where(h->user, where, sizeof where);
    sd_trainer_stopped(t, where);
    return SD_STOPPED;
}

int sd_trainer_run(sd_trainer *t, const sd_trainer_hooks *h, int first_epoch)
{
    int64_t done = t->o.resume_step;
    for (int epoch = first_epoch; epoch <= t->o.epochs; epoch++) {
        for (;;) {
            sd_trainer_io io = { .step = done + 1, .epoch = epoch };
            io.want_stop = sd_trainer_want_stop(t, io.step);
            for (int k = 0; k < SD_METLOG_MAX_KEYS; k++) io.values[k] = NAN;
            int rc = h->step(h->user, &io);
            if (rc < 0) return -1;
            if (rc > 0) break;
            done = io.step;
            if (sd_trainer_step(t, done, epoch, io.items, io.values)) return -1;
            if (sd_trainer_checkpoint_due(t, done, io.stop) && h->checkpoint(h->user, &io)) return -1;
            if (io.stop) {
                char where[128];
                h->where(h->user, where, sizeof where);
                sd_trainer_stopped(t, where);
                return SD_STOPPED;
            }
            int after = h->after ? h->after(h->user, &io) : 0;
            if (after == SD_STOPPED) return stopped_in_hook(t, h, done, epoch);
            if (after) return -1;
        }
        if (t->o.live) fprintf(stderr, "\r\033[K");
        if (!h->epoch_end) continue;
        double values[SD_METLOG_MAX_KEYS];
        for (int k = 0; k < SD_METLOG_MAX_KEYS; k++) values[k] = NAN;
        int end = h->epoch_end(h->user, epoch, values);
        if (end == SD_STOPPED) return stopped_in_hook(t, h, done, epoch);
        if (end < 0 || sd_trainer_epoch(t, done, epoch, values)) return -1;
        if (end == SD_TRAINER_END) break;
    }
    return 0;
}
