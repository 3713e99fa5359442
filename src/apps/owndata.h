/* Your own data (issue 16): the data sets `shendu train`, `eval`, `predict`
 * and `data` read besides MNIST-layout IDX folders — class folders of
 * pictures and CSV tables — and what a model file records about them
 * (src/apps/owndata.c, metrics.c, datainfo.c). Included by apps.h. */
#ifndef SHENDU_APPS_OWNDATA_H
#define SHENDU_APPS_OWNDATA_H

#include "shendu.h"

#include <stdio.h>

/* How to read a data set (the flags of the same names). */
typedef struct sd_data_opts {
    const char *target;      /* CSV: the target column */
    int task;                /* sd_task: auto, classify, regress */
    int fill;                /* CSV: 1 = replace missing features with the column's mean */
    const char *size;        /* pictures: "28" or "32x24" (W x H); NULL: the most common size */
    int channels;            /* pictures: 1 or 3; 0: 3 if any picture is in colour */
    int fit;                 /* pictures: sd_fit_mode (pad, crop, stretch) */
    int skip_bad;            /* pictures: leave out the ones that cannot be read */
    double test_split;       /* one folder or table: the test part held out (0: 0.2) */
    double val;              /* > 0: hold out this stratified part of the training data for validation */
    int early_stop;          /* > 0 (with val): stop after N epochs without a lower validation loss,
                                keeping the best epoch's weights */
} sd_data_opts;

typedef enum { SD_DATA_MNIST = 0, SD_DATA_FOLDER, SD_DATA_TABLE } sd_data_kind;
extern const char *const sd_data_kind_names[];   /* "mnist", "folder", "table" */
extern const char *const sd_fit_names[];         /* "pad", "crop", "stretch" */
extern const char *const sd_task_names[];        /* "auto", "classify", "regress" */

/* What was read, and what a model must know to read the same way again. */
typedef struct sd_data_info {
    sd_data_kind kind;
    char path[4096];
    int split;               /* 1: the test part was split off here (test_split, seed) */
    double test_split;
    uint64_t seed;
    char fingerprint[17];    /* of the test part (sd_dataset_fingerprint) */
    sd_folder_report report; /* folders: what the training pictures were like */
    int test_bad;            /* folders: test pictures left out (--skip-bad) */
    /* tables */
    char target[256];
    int fill, missing;       /* missing feature values filled */
    int nfeat;
    char **features;         /* nfeat column names, in the model's order */
    float *mean, *sd;        /* nfeat: the training part's statistics; x -> (x - mean) / sd */
} sd_data_info;

/* Read `path` (NULL: the default MNIST-layout directory) into a training and
 * a test part. A folder holding train/ and test/ gives both; one folder of
 * classes, or a table, is split (stratified, `seed`) into 1 - test_split and
 * test_split. Table features are standardised with the training part's
 * statistics. train may be NULL (only the test part is wanted).
 * With `model` (evaluating it): the model's classes label the data, its
 * input size and channels decide the pictures', its statistics standardise
 * the table, and, when `path` is NULL, its recorded data set is read. */
int  sd_data_load(const char *path, const sd_data_opts *o, uint64_t seed, int threads, const sd_model *model,
                  sd_dataset *train, sd_dataset *test, sd_data_info *info);
void sd_data_info_free(sd_data_info *info);
/* One or two lines on what was read. */
void sd_data_print(FILE *f, const sd_data_info *info, const sd_dataset *train, const sd_dataset *test);
/* Store in the model file what it was trained on (data, data_kind, input, classes,
 * split, fingerprint, table statistics). */
int  sd_data_meta_set(sd_model *m, const sd_data_info *info, const sd_dataset *train, const sd_data_opts *o);
/* The architecture for a preset (mlp, cnn) with `nclass` outputs, or the
 * architecture string itself. buf holds the result. */
const char *sd_data_arch(const char *model, int nclass, char *buf, size_t size);
/* When given data differs from the data the model recorded (another set, or
 * the same set's test part changed): a warning line on f. */
void sd_data_warn_mismatch(FILE *f, const sd_model *m, const sd_data_info *info, const char *given_path);

/* The rows of a table as a model trained on a table reads them: its feature
 * columns found by name, standardised with its statistics (labels all 0). */
int  sd_data_table_rows(const sd_table *t, const sd_model *m, sd_dataset *out);

/* ---- shendu predict on pictures (files or folders) or table rows (src/apps/predict_data.c). */
typedef struct sd_predict_opts {
    const char *model;
    char **inputs;           /* pictures, folders of pictures, or (a table model) CSV files */
    int ninputs;
    const char *csv;         /* NULL, or write one row per input there */
    const char *show_input;  /* NULL, or write each picture as the model saw it into this folder */
    int json;                /* one JSON object per picture or row on f (unless csv); other lines go to stderr */
    int top;                 /* --json: the most likely classes listed (< 1: all) */
    int threads;
    uint64_t max_memory;     /* the limit on planned activation memory (0: SD_MODEL_MAX_MEMORY) */
} sd_predict_opts;
int  sd_app_predict_data(const sd_predict_opts *o, FILE *f);

/* ---- Early stopping (--val F --early-stop N): the weights of the epoch with the
 * lowest validation loss so far. update returns the epochs since the best;
 * restore copies the best back and returns its epoch (0: none recorded). */
typedef struct sd_best_weights sd_best_weights;
sd_best_weights *sd_best_weights_new(sd_model *m);
void sd_best_weights_free(sd_best_weights *b);
int  sd_best_weights_update(sd_best_weights *b, sd_model *m, double val_loss, int epoch);
int  sd_best_weights_restore(const sd_best_weights *b, sd_model *m);
double sd_best_weights_val_loss(const sd_best_weights *b);   /* the best epoch's (NaN: none recorded) */

/* ---- The measures people read (src/apps/metrics.c). */
typedef struct sd_metrics {
    int nclass, n;
    long *confusion;         /* nclass * nclass: [true][predicted] */
    double accuracy, loss;
    double *precision, *recall, *f1;   /* per class (NaN: no prediction / no example of it) */
    int *support;            /* examples per true class */
    double macro_f1;
} sd_metrics;
/* From logits (n × nclass) and labels. */
int  sd_metrics_compute(const float *logits, const uint8_t *labels, int n, int nclass, sd_metrics *m);
void sd_metrics_free(sd_metrics *m);
/* The per-class table and the confusion matrix as text. */
void sd_metrics_print(FILE *f, const sd_metrics *m, char *const *classes);
void sd_metrics_json(FILE *f, const sd_metrics *m, char *const *classes);
/* The confusion matrix as a PNG heatmap (rows: true class, columns: predicted;
 * each row's share of its examples, white 0 to dark blue 1). */
int  sd_metrics_heatmap(const sd_metrics *m, const char *path);

/* ---- shendu data DIR_OR_CSV (src/apps/datainfo.c). */
int  sd_app_data_describe(const char *path, const sd_data_opts *o, FILE *f);

#endif
