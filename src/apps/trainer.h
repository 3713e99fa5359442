/* What every trainer's loop shares (issue 17: src/apps/trainer.c): the metric
 * log, the plain progress line for a log file or a pipe, the curves at the
 * end. A trainer makes one sd_trainer before its first step, tells it about
 * every optimizer step and every epoch's evaluation, and finishes it after
 * the last. With no log and no progress interval it does nothing at all. */
#ifndef SHENDU_TRAINER_H
#define SHENDU_TRAINER_H

#include "metlog.h"

#include <stdint.h>
#include <stdio.h>

/* The flags every trainer takes for these (the CLI fills it; tools/cli.c). */
typedef struct sd_trainer_flags {
    const char *log;           /* --log FILE (JSON lines; FILE.csv: CSV); NULL: none */
    int log_every;             /* --log-every N steps (0: the trainer's default) */
    int no_plot;               /* --no-plot: no curves.svg at the end */
    float progress_every;      /* --progress-every S: a plain line on stderr every S seconds when it
                                  is not a terminal (0: the default, 30 s; < 0: never) */
} sd_trainer_flags;

typedef struct sd_trainer_opts {
    const char *unit;          /* what throughput counts: "img", "tok", "step" -> the key "img_per_s" */
    const char *const *keys;   /* the trainer's measures, NULL-terminated; the log adds "<unit>_per_s" */
    int64_t total_steps;       /* optimizer steps of the whole run (for the ETA) */
    int steps_per_epoch;       /* 0: no epochs */
    int epochs;
    sd_trainer_flags flags;
    int default_log_every;     /* used when flags.log_every is 0 */
    int live;                  /* the trainer redraws its own line on a terminal: no plain lines */
    int rank;                  /* only rank 0 logs and prints */
    int64_t resume_step;       /* > 0: a resumed run; the log is appended from there */
    const char *out;           /* the run's output file or directory: curves.svg goes beside it (or into it) */
    int out_is_dir;
    FILE *progress;            /* where plain progress lines go (NULL: stderr) */
    /* The log's config line: the command, --out, and each field's value. */
    const char *cmd;           /* "train", "lm train", "gan", "rl dqn" */
    const struct sd_config_field *config;   /* NULL or { 0 }-terminated */
    const void *config_opts;
} sd_trainer_opts;

typedef struct sd_trainer sd_trainer;

/* NULL with a message if the log cannot be opened. */
sd_trainer *sd_trainer_new(const sd_trainer_opts *o);
/* After optimizer step `step` (counting a resumed run's earlier ones) of `epoch`:
 * `items` processed, values[k] the measures for keys[k] (NaN: none). Step
 * records hold each value's mean over the steps since the last record.
 * No allocation. 0, or -1 if the log cannot be written. */
int sd_trainer_step(sd_trainer *t, int64_t step, int epoch, double items, const double *values);
/* An epoch's (or an evaluation's) record: values as above, written as they are. */
int sd_trainer_epoch(sd_trainer *t, int64_t step, int epoch, const double *values);
/* Close the log and, unless --no-plot, draw it to curves.svg; the path
 * written goes to `log` ("curves: PATH"). NULL-safe. 0 or -1. */
int sd_trainer_finish(sd_trainer *t, FILE *log);
/* Close without a picture (an error or a stop). NULL-safe. */
void sd_trainer_free(sd_trainer *t);

#endif
