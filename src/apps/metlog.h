/* Metric logs (issue 17: src/apps/metlog.c) and the pictures made from them
 * (src/apps/plot.c, plot_raster.c): what `--log FILE` writes during training,
 * what `shendu plot` and `shendu report` read back.
 *
 * A log is one record per line, either JSON lines (one flat object) or CSV
 * (a header line, then one row per record; a path ending in ".csv"):
 *   {"kind":"step","step":120,"epoch":1,"time":3.51,"loss":0.512,"lr":0.001,...}
 * kind is "step" (every --log-every optimizer steps), "epoch" (an epoch's
 * end: the trainer's evaluation) or "final" (below), step the optimizer steps done, time the
 * seconds of training since the run began (a resumed run goes on from the
 * last record's time). Then the trainer's own measures, fixed per trainer
 * (its keys); a measure a record lacks is null in JSON and empty in CSV.
 * A JSON log may begin with a "config" line (sd_metlog_config).
 * Every record is flushed when written: a crash loses at most the line it
 * was writing. */
#ifndef SHENDU_METLOG_H
#define SHENDU_METLOG_H

#include <stdint.h>
#include <stdio.h>

/* "final": once, at the end, the measures of the model the run keeps when
 * that is not the last epoch's (early stopping keeps the best epoch's
 * weights: their test measures, and best_epoch naming it). */
typedef enum { SD_REC_STEP = 0, SD_REC_EPOCH = 1, SD_REC_FINAL = 2 } sd_record_kind;

#define SD_METLOG_MAX_KEYS 24
typedef struct sd_metlog sd_metlog;
typedef struct sd_metlog_opts {
    const char *path;              /* ends in ".csv": CSV, else JSON lines */
    const char *const *keys;       /* the trainer's measures, NULL-terminated (at most SD_METLOG_MAX_KEYS) */
    /* A resumed run appends to its log: records past `resume_step` (written
     * after the checkpoint, about to be made again) are dropped, and a later
     * record whose kind and step are already in the file is not written again.
     * Without resume an existing file is replaced. */
    int resume;
    int64_t resume_step;
} sd_metlog_opts;

/* NULL with a message naming the file (cannot write it; on resume: a CSV of
 * other columns, i.e. another trainer's log). */
sd_metlog *sd_metlog_open(const sd_metlog_opts *o);
/* One record; values[i] is keys[i]'s (NaN: absent). No allocation. 0 or -1. */
int  sd_metlog_write(sd_metlog *l, sd_record_kind kind, int64_t step, int epoch, const double *values);
int  sd_metlog_close(sd_metlog *l);    /* NULL-safe; -1 if a write failed */
/* A JSON log's first line: {"kind":"config","cmd":"train",...} with the run's
 * settings (what `shendu report` shows). Not written to a CSV log, nor again
 * into a resumed log that has one. n pairs of keys[i], values[i]. */
int  sd_metlog_config(sd_metlog *l, const char *const *keys, const char *const *values, int n);
const char *sd_metlog_path(const sd_metlog *l);
/* How a log writes numbers that are not integers (JSON and CSV alike): the
 * shortest of %.6g..%.9g that reads back (strtof) as the same float, i.e. a
 * float's precision (0.2f is "0.2", not 0.200000003). snprintf's return. */
int sd_fmt_float(char *buf, size_t size, double v);
/* 1 if the log is written through to a character device or a FIFO (it cannot be read back: no curves). */
int sd_metlog_special(const sd_metlog *l);

/* ---- Reading a log back: columns "kind" (0 step, 1 epoch), "step", "epoch",
 * "time", then every other key met, in order of appearance; NaN where a
 * record lacks one. Accepts both formats (told apart by the first byte). */
#define SD_METLOG_MAX_COLS 64
typedef struct sd_metlog_table {
    int ncol, nrow;
    char names[SD_METLOG_MAX_COLS][48];
    double *v;                     /* nrow × ncol, row-major */
    /* A JSON log's "config" line (sd_metlog_config): the run's settings as text. */
    int nconfig;
    char config_keys[SD_METLOG_MAX_COLS][48], config_values[SD_METLOG_MAX_COLS][256];
} sd_metlog_table;
const char *sd_metlog_config_get(const sd_metlog_table *t, const char *key);   /* NULL if absent */
/* -1 with "FILE:LINE: what" on a malformed line. A last line without its
 * newline (a run that crashed while writing it) is ignored. */
int  sd_metlog_read(const char *path, sd_metlog_table *t);
void sd_metlog_table_free(sd_metlog_table *t);
int  sd_metlog_col(const sd_metlog_table *t, const char *name);   /* index or -1 */
/* The trainer's key-value settings a log may carry are not in it: the report
 * reads them from the run's checkpoint or model file. */

/* ---- Plots: one panel per measure, each run a coloured line in every
 * panel it has values for, a legend with the run names. */
typedef struct sd_plot_opts {
    const char *x;                 /* "step" (default), "epoch" or "time" */
    const char *const *measures;   /* NULL-terminated panels, NULL: every measure with a value */
    double smooth;                 /* 0..0.999: exponential moving average of step records (debiased) */
    int log_y;                     /* loss panels (names with "loss" or "bpc") on a log scale */
    int width, height;             /* pixels (0: 960 × as many rows of panels as needed) */
    const char *title;             /* NULL: none */
} sd_plot_opts;
/* tables[n] with labels[n] (the legend's names) to an SVG file, or a PNG if
 * `path` ends in ".png". */
int sd_plot_write(const char *path, const sd_metlog_table *tables, const char *const *labels, int n,
                  const sd_plot_opts *o);
/* The same to an SVG document in memory (malloc'd, NUL-terminated: free it). */
char *sd_plot_svg(const sd_metlog_table *tables, const char *const *labels, int n, const sd_plot_opts *o);
/* The same as Unicode sparklines, `width` characters wide, on f. */
int sd_plot_terminal(FILE *f, const sd_metlog_table *tables, const char *const *labels, int n,
                     const sd_plot_opts *o, int width);

#endif
