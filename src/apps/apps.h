/* What the CLI subcommands run: whole programs built from nn, optim, data, io.
 * Each reports progress on `log` (human lines) and fills a result struct; the
 * CLI formats the JSON line. */
#ifndef SHENDU_APPS_H
#define SHENDU_APPS_H

#include "shendu.h"

#include <stdio.h>

typedef struct sd_train_opts {
    const char *model;       /* preset name ("mlp") or an architecture string */
    const char *data_dir;    /* NULL: sd_data_default_dir() */
    int epochs, batch;
    float lr;                /* 0: the optimizer's default */
    sd_optim_kind optim;
    float momentum;          /* SGD only */
    float weight_decay;
    sd_init init;
    int threads;             /* 0: all cores */
    uint64_t seed;
    const char *out;         /* model file to write, NULL: none */
    int limit_train, limit_test;   /* use only the first N examples (0: all) */
    int live_progress;       /* redraw a progress line on stderr (a terminal) */
    /* The recipe: what sd_train_recipe() fills in for "plain" and "best". */
    int normalize;           /* inputs to zero mean, unit variance (train-set statistics) */
    int shift;               /* augmentation: random translation by up to this many pixels */
    int flip;                /* augmentation: random left-right mirror */
    int cosine;              /* learning rate follows a cosine from lr to 0 over the run */
} sd_train_opts;

/* Fill the recipe fields of o: "plain" = pixels/255, constant lr, no
 * augmentation (the PyTorch reference's recipe); "best" = normalised inputs,
 * shifts (and flips for Fashion-MNIST), a cosine learning rate. */
int sd_train_recipe(sd_train_opts *o, const char *recipe, const char *data_dir);

typedef struct sd_train_result {
    int epochs;
    double train_loss;       /* mean over the last epoch */
    double test_accuracy, test_loss;
    double train_images_per_s;   /* training steps only, evaluation excluded */
    double wall_s;
    size_t params;
} sd_train_result;

int sd_app_train_classifier(const sd_train_opts *o, sd_train_result *r, FILE *log);

typedef struct sd_eval_result { double test_accuracy, test_loss; int n; } sd_eval_result;
int sd_app_eval_classifier(const char *model_path, const char *data_dir, int limit, int threads,
                           sd_eval_result *r);

/* Accuracy and mean cross-entropy of model m over data set d (batches of 1000,
 * no gradients). x = pixel * scale + shift. */
int sd_app_evaluate(sd_ctx *ctx, sd_model *m, const sd_dataset *d, float scale, float shift,
                    double *accuracy, double *loss);

/* ---- shendu explain */
typedef struct sd_explain_opts { int delay_ms; } sd_explain_opts;
int sd_app_explain_conv(FILE *f, const sd_explain_opts *o);
int sd_app_explain_pool(FILE *f, const sd_explain_opts *o);
/* Each layer's output shape and parameter count for a preset or architecture. */
int sd_app_explain_shapes(FILE *f, const char *model, sd_shape input);
/* Apply a named 3x3 kernel (sobel-x, sobel-y, blur, sharpen, lecture) to a PNG. */
int sd_app_explain_image(const char *image, const char *kernel, const char *out, FILE *f);

/* ---- shendu predict / show */
/* Top-k classes of each PNG (any size, gray or colour; prepared like the training data). */
int sd_app_predict(const char *model_path, char **images, int nimages, int topk, int json, FILE *f);
/* PNGs of the first conv layer's kernels and each conv layer's feature maps for test image `index`. */
int sd_app_show(const char *model_path, const char *data_dir, int index, const char *out_dir, FILE *f);

/* The lecture's matrices: 5×5 picture, 3×3 kernel, 4×4 pooling input. */
const float *sd_explain_lecture_image(void);
const float *sd_explain_lecture_kernel(void);
const float *sd_explain_lecture_pool(void);

#endif
