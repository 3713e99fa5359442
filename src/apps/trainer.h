/* The training loop every trainer shares (issue 17: src/apps/trainer.c).
 *
 * sd_trainer_run is the skeleton: epochs of steps, and after each step the
 * metric log, the progress line, the checkpoint when due and the stop when
 * asked (a signal, --stop-after); after each epoch the evaluation and its
 * record. What is particular to a model comes through hooks: the step itself
 * (batch, forward, backward, the gradient's all-reduce, the update), the
 * checkpoint's contents, the evaluation and its summary line, the terminal's
 * progress line. The classifier, the GAN, the language model (one epoch of
 * --steps), diffusion and tabular Q-learning (one episode a step) run on it;
 * DQN, whose loop is the agent's in src/rl, uses its parts: sd_trainer_step, sd_trainer_epoch,
 * sd_trainer_want_stop, sd_trainer_stopped, sd_trainer_finish.
 * With no log and no progress interval the parts cost nothing. */
#ifndef SHENDU_TRAINER_H
#define SHENDU_TRAINER_H

#include "metlog.h"

#include <signal.h>
#include <stdint.h>
#include <stdio.h>

/* The flags every trainer takes for these (the CLI fills it; tools/cli.c). */
typedef struct sd_trainer_flags {
    const char *log;           /* --log FILE (JSON lines; FILE.csv: CSV); NULL: none */
    int log_every;             /* --log-every N steps (0: the trainer's default) */
    int no_plot;               /* --no-plot: no curves.svg at the end */
    const char *quick;         /* set by the CLI when a long default is in force: a hint such as
                                  "--epochs 1 for a quick look"; the run's cost is then announced
                                  once its speed is known (after about 10 s of steps) */
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
    /* The skeleton's settings (sd_trainer_run, sd_trainer_want_stop): */
    volatile sig_atomic_t *stop;   /* set by SIGINT/SIGTERM: stop after the step in progress */
    long stop_after;           /* > 0: stop the same way once this many steps are done */
    const char *checkpoint;    /* NULL: none */
    long checkpoint_every;     /* steps (0: only at a stop; the trainer writes the final one) */
    FILE *log;                 /* the trainer's human lines (the stop message) */
    const char *const *hint;   /* the stop message's resume hint: flag-value pairs to give again (at most 16, copied)
                                  (sd_app_resume_hint; checkpoint-every is added) */
    int nhint;
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
/* The run's last record, kind "final": the measures of the model it keeps
 * when that is not the last epoch's (early stopping), values as above. */
int sd_trainer_final(sd_trainer *t, int64_t step, int epoch, const double *values);
/* Close the log and, unless --no-plot, draw it to curves.svg; the path
 * written goes to `log` ("curves: PATH"). NULL-safe. 0 or -1. */
int sd_trainer_finish(sd_trainer *t, FILE *log);
/* Close without a picture (an error or a stop). NULL-safe. */
void sd_trainer_free(sd_trainer *t);

/* This process asks to stop after step `step` (counting every earlier one):
 * a signal came, or --stop-after is reached. Under MPI the trainer agrees on
 * it with the other ranks along with its gradient. */
int  sd_trainer_want_stop(const sd_trainer *t, int64_t step);
/* 1 if the checkpoint is due after step `step` (every checkpoint_every, or a stop). */
int  sd_trainer_checkpoint_due(const sd_trainer *t, int64_t step, int stopping);
/* "stopped at WHERE; checkpoint written to FILE / resume with: shendu CMD
 * --resume FILE", or that nothing was saved, on opts.log. */
void sd_trainer_stopped(const sd_trainer *t, const char *where);

/* One step as sd_trainer_run hands it to the trainer. */
typedef struct sd_trainer_io {
    int64_t step;              /* in: the step about to be taken, counting every earlier one (1-based) */
    int epoch;                 /* in: its epoch (1-based) */
    int want_stop;             /* in: this process asks to stop after it (sd_trainer_want_stop) */
    int stop;                  /* out: every rank agreed to stop after it (one process: want_stop) */
    double items;              /* out: examples it processed */
    double values[SD_METLOG_MAX_KEYS];   /* out: its measures by the log's keys (preset to NaN) */
} sd_trainer_io;

#define SD_TRAINER_END 1

typedef struct sd_trainer_hooks {
    void *user;
    /* One optimizer step: 0 taken, 1 the epoch has no step left (none taken), -1 error. */
    int  (*step)(void *user, sd_trainer_io *io);
    /* Write the checkpoint after io's step; every rank calls it (rank 0 writes). */
    int  (*checkpoint)(void *user, const sd_trainer_io *io);
    /* The epoch ended: evaluate, print its line; values (preset NaN) -> its record
     * (NULL: nothing at an epoch's end, and no record). 0, -1 (error),
     * SD_TRAINER_END (the record, then no more epochs: early stopping) or
     * SD_STOPPED (a stop came during its evaluation: no record; the trainer's
     * state is where the run resumes, and the checkpoint hook writes it). */
    int  (*epoch_end)(void *user, int epoch, double *values);
    /* After a step that did not stop: the terminal's line, periodic work (NULL: none).
     * 0, -1, or SD_STOPPED (a stop came during its work, e.g. a validation pass:
     * the state after io's step is where the run resumes; the checkpoint hook writes it). */
    int  (*after)(void *user, const sd_trainer_io *io);
    /* Where the run is, for the stop message ("epoch 2 step 7"). */
    void (*where)(void *user, char *buf, size_t size);
} sd_trainer_hooks;

/* Epochs first_epoch..opts.epochs. 0 after the last, SD_STOPPED after a stop
 * (checkpoint written, message printed), -1 on an error. */
int sd_trainer_run(sd_trainer *t, const sd_trainer_hooks *h, int first_epoch);

#endif
