/* tools/cli.h — what every subcommand of the shendu binary shares: a flag
 * table, its parser (which also prints --help) and the error conventions
 * (usage errors exit 2, failures exit 1). Each tools/cmd_*.c file holds the
 * subcommands of one area and is listed in the table in tools/shendu.c. */
#ifndef SHENDU_CLI_H
#define SHENDU_CLI_H

#include "apps/apps.h"
#include "io/json.h"   /* sd_json_write_str for --json lines */

#include <signal.h>
#include <stdio.h>

typedef enum { F_INT, F_FLOAT, F_STR, F_BOOL, F_U64, F_BYTES } flag_type;   /* F_BYTES: uint64_t, "512M", "4G" */
typedef struct flag {
    const char *name;        /* without the leading -- */
    flag_type type;
    void *ptr;               /* int*, float*, const char**, int* (bool), uint64_t* */
    const char *help;
    double min, max;         /* range for numbers (min == max: unchecked) */
    int open;                /* OPEN_MIN | OPEN_MAX: that end of the range is excluded */
} flag;
enum { OPEN_MIN = 1, OPEN_MAX = 2 };

/* Parse argv[1..] into flags and up to maxpos positional arguments (returned
 * in pos, npos). Returns 0, 1 if --help was printed, or 2 on a usage error
 * (already reported on stderr). */
int cli_parse(const char *cmd, const char *usage, const char *about, int argc, char **argv,
              const flag *flags, char **pos, int maxpos, int *npos);
/* The --max-memory flag of every command that builds a model from a file or a
 * string: the limit on planned activation memory (sd_model_check_memory). */
#define CLI_MAX_MEMORY_FLAG(ptr) \
    { "max-memory", F_BYTES, (ptr), "refuse models whose planned activations exceed this many bytes (K, M, G " \
      "suffixes; default 2G)", 1 << 20, 1099511627776.0 * 64 }
/* A trainer's flags that set configuration fields (named alike) take the
 * ranges of the fields, which are also what a checkpoint's values must meet:
 * one source. Returns 0, or 70 after naming a flag whose range has drifted
 * from its field's (a bug in shendu: every test of the command finds it). */
int cli_check_config_ranges(const char *cmd, const flag *flags, const sd_config_field *fields);
/* Print "shendu CMD: <fmt with what>", the usage line, and return 2. */
int cli_usage_error(const char *cmd, const char *usage, const char *fmt, const char *what);
/* 0 if `model` names a preset or parses as an architecture string, else a
 * usage error (2) naming both possibilities and the parse error. */
int cli_check_model(const char *cmd, const char *usage, const char *flagname, const char *model);
/* Print "shendu CMD: <sd_last_error()>" and return 1. */
int cli_fail(const char *cmd);
/* --stop-after without a checkpoint to stop into (--checkpoint, or --resume's
 * file) would throw the steps away: a usage error (2) after saying so, else 0. */
int cli_check_stop_after(const char *cmd, const char *usage, long stop_after, const char *checkpoint,
                         const char *resume);
/* 1 if --name (or --name=...) appears in argv. */
int cli_flag_given(int argc, char **argv, const char *name);
/* SIGINT and SIGTERM set the returned flag instead of ending the process (a
 * second signal still does): trainers poll it after every step, write their
 * checkpoint and return SD_STOPPED. cli_release_stop restores the defaults. */
volatile sig_atomic_t *cli_catch_stop(void);
/* Under mpirun (a NULL or 1-rank dist: one process) every rank parses its own
 * flags; rc is this rank's outcome (0, 1 after --help, 2). Every rank learns
 * whether another failed before any waits on another: returns rc, or 2. */
int  cli_dist_agree(sd_dist *dist, const char *cmd, int rc);
/* stdout on rank 0, /dev/null on the others; closed by cli_dist_log_close. */
FILE *cli_dist_log(sd_dist *dist);
void cli_dist_log_close(FILE *log);
/* A trainer failed: with other ranks that may be waiting for this one, end the
 * whole job with the message (unless every rank failed alike, then rank 0
 * prints it once); in one process print it. Returns 1. */
int  cli_dist_fail(sd_dist *dist, const char *cmd, int failed_everywhere);
/* A resumed run keeps the configuration stored in its checkpoint: every field
 * among the first `n` of `fields` whose flag (its key) was given again, and
 * every field an alias's flag sets (e.g. --recipe sets normalize), must agree
 * with the stored value. aliases: NULL or ending with { NULL }. Returns 0, or 2
 * after printing the disagreement. */
typedef struct cli_alias { const char *flag, *key; } cli_alias;
int cli_check_resumed(const char *cmd, int argc, char **argv, const sd_config_field *fields, int n,
                      const cli_alias *aliases, const void *given, const void *stored, const char *path);
/* A resume of a command whose table's fields from `free_from` on may change
 * (--out, --classifier, ...): the fields before it must agree as above
 * (cli_check_resumed), each later one given again replaces the stored value,
 * and "out" is always this command line's (its default if not given; a note
 * says so when the checkpoint's differs). given and stored: the same options struct, stored loaded from the
 * checkpoint at `path`. Returns 0, or 2 after printing the disagreement. */
int cli_resume_config(const char *cmd, int argc, char **argv, const sd_config_field *fields, int free_from,
                      const void *given, void *stored, const char *path);
void cli_release_stop(void);
/* --precision fp32|bf16 (issue 22): the flag's table entry, and its value
 * parsed into *out (an sd_precision); 0, or 2 after a usage error. */
#define CLI_PRECISION_FLAG(var) \
    { "precision", F_STR, &(var), "fp32 (default) or bf16: matrix products with bfloat16 operands and float32 " \
                                  "sums, weights and optimizer in float32 (mixed precision; needs AVX512_BF16)" }
int cli_precision(const char *cmd, const char *usage, const char *value, int *out);

/* The flags every trainer takes for its metric log and progress (issue 17),
 * as entries of its flag table; `every` names the --log-every default.
 * (lm train's own --log-every, for its printed lines, sets both: it uses
 * CLI_TRACK_FLAGS_BUT_EVERY.) */
#define CLI_TRACK_FLAGS_BUT_EVERY(tf) \
    { "log", F_STR, &(tf).log, "write metrics to this file as JSON lines (FILE.csv: CSV), appended on --resume" }, \
    { "no-plot", F_BOOL, &(tf).no_plot, "with --log: no curves.svg beside --out (or the log) at the end" }, \
    { "progress-every", F_FLOAT, &(tf).progress_every, "a progress line on stderr every S seconds when it is not a terminal (default 30; -1: never)", -1, 1e6 }
#define CLI_TRACK_FLAGS(tf, every) \
    CLI_TRACK_FLAGS_BUT_EVERY(tf), \
    { "log-every", F_INT, &(tf).log_every, "... a --log record every N steps (default " every ")", 1, 1 << 30 }

/* The subcommands (tools/cmd_*.c). */
int cmd_train(int argc, char **argv);
int cmd_eval(int argc, char **argv);
int cmd_predict(int argc, char **argv);
int cmd_show(int argc, char **argv);
int cmd_explain(int argc, char **argv);
int cmd_lm(int argc, char **argv);        /* tools/cmd_lm.c: lm train | lm sample */
int cmd_rl(int argc, char **argv);        /* tools/cmd_rl.c: rl solve | qlearn | dqn | play */
int cmd_gan(int argc, char **argv);
int cmd_diffusion(int argc, char **argv); /* tools/cmd_diffusion.c: diffusion (train) | sample | score */
int cmd_explain_diffusion(int argc, char **argv);       /* tools/cmd_gan.c: gan (train) | gan sample | gan score */
int cmd_data(int argc, char **argv);      /* tools/cmd_data.c: describe a data set */
int cmd_plot(int argc, char **argv);      /* tools/cmd_plot.c: curves from metric logs */
int cmd_export(int argc, char **argv);    /* tools/cmd_export.c: export --onnx */
int cmd_report(int argc, char **argv);    /* tools/cmd_plot.c: an HTML page about runs */
/* Names for runs from their files: the shortest form no other run has. */
void cli_run_labels(char *const *paths, int n, char (*names)[256]);

#endif
