/* shendu report (issue 17: src/apps/report.c): one self-contained HTML page
 * from the metric logs of one or several runs. */
#ifndef SHENDU_REPORT_H
#define SHENDU_REPORT_H

#include <stdio.h>

#define SD_REPORT_MAX_RUNS 16
typedef struct sd_report_opts {
    const char *const *runs;       /* the runs' --log files */
    const char *const *labels;     /* their names */
    int nruns;
    const char *out;               /* the HTML file */
    const char *title;             /* NULL: "shendu training report" */
    int threads;                   /* for the classifier's evaluation and the LM's samples (0: all cores) */
    int sample_len;                /* LM samples' length (0: 300) */
    int no_extras;                 /* only configuration, curves and measures (no model files read) */
} sd_report_opts;

/* Reads each log, and the files its config line names (--out: a classifier or
 * LM model, a GAN's directory of grids) for the extras. */
int sd_app_report(const sd_report_opts *o, FILE *log);

#endif
