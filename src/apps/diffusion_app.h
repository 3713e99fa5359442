/* shendu diffusion: train a DDPM on MNIST-layout pictures, sample from it, score
 * it with the GAN's classifier-based score, and explain the noising
 * (src/apps/diffusion.c, src/apps/diffusion_explain.c). */
#ifndef SHENDU_DIFFUSION_APP_H
#define SHENDU_DIFFUSION_APP_H

#include "apps/apps.h"

typedef struct sd_diffusion_train_opts {
    const char *data_dir;      /* NULL: sd_data_default_dir() */
    int epochs, batch;         /* 10, 64 */
    float lr;                  /* Adam; 2e-4 */
    int channels, groups;      /* the U-Net's width c and group norm groups: 32, 8 */
    int T;                     /* noise steps: 1000 */
    sd_ddpm_kind schedule;
    float ema;                 /* decay of the sampled weights' moving average: 0.999 (0: last weights) */
    int sample_steps;          /* DDIM steps of the grid drawn after every epoch: 50 */
    int threads;
    int precision;             /* SD_PRECISION_FP32 or _BF16 (--precision) */
    uint64_t seed;
    const char *out_dir;       /* epoch_NNN.png and model.safetensors; "diffusion-out" */
    const char *classifier;    /* score the model after every epoch (NULL: no score) */
    int score_n;               /* samples scored (0: 1000) */
    int limit_train;
    const char *checkpoint;    /* written every checkpoint_every steps, at the end and when stopped */
    int checkpoint_every;
    const char *resume;
    volatile sig_atomic_t *stop;
    long stop_after;
    int live_progress;
    sd_dist *dist;             /* data parallel under mpirun (NULL or one rank: one process) */
    int overlap;               /* all-reduce gradient buckets during backward (else once per step) */
    sd_trainer_flags track;    /* --log, --log-every, --no-plot, --progress-every (issue 17) */
    char *owned[4];            /* strings sd_diffusion_config_load allocated */
} sd_diffusion_train_opts;

/* The configuration as a table (src/apps/config.c): stored in checkpoints as
 * shendu.diffusion.KEY, read back on --resume; fields from
 * SD_DIFFUSION_CONFIG_FREE_FROM on may change on a resume. */
extern const sd_config_field sd_diffusion_config_fields[];
#define SD_DIFFUSION_CONFIG_FREE_FROM 13
int  sd_diffusion_config_load(const char *path, sd_diffusion_train_opts *o);
void sd_diffusion_config_free(sd_diffusion_train_opts *o);

typedef struct sd_diffusion_result {
    int epochs;
    long steps;
    double loss;               /* mean over the last epoch's steps */
    double train_images_per_s, wall_s;
    double score, real_score;  /* NaN without a classifier */
    size_t params;
    int ranks;
    double sync_wait_s;        /* time spent waiting for the all-reduce */
    int failed_everywhere;     /* the error happened on every rank (no abort needed) */
    char model[4096];
} sd_diffusion_result;

/* 0, SD_STOPPED (checkpoint written), or -1 with the error set. */
int sd_app_diffusion_train(const sd_diffusion_train_opts *o, sd_diffusion_result *r, FILE *log);

typedef struct sd_diffusion_sample_opts {
    int n;                     /* pictures: 64 */
    int ddim;                  /* 1: DDIM with `steps` steps (default); 0: DDPM ancestral, all T steps */
    int steps;                 /* DDIM steps: 50, at most T */
    int trajectory;            /* > 0: also write the denoising path of this many samples */
    const char *trajectory_out;
    uint64_t seed;
    int threads;
} sd_diffusion_sample_opts;
int sd_app_diffusion_sample(const char *model, const char *out_png, const sd_diffusion_sample_opts *o, FILE *log);
/* The score of n samples (DDIM, `steps`) and of n real test images. */
int sd_app_diffusion_score(const char *model, const char *cls_path, const char *data_dir, int n, int steps,
                           uint64_t seed, int threads, double *score, double *real_score);

/* A trained model: its U-Net (borrowed or owned by the caller) and schedule;
 * g (or NULL: a graph of its own each call) is the graph to draw in, so that a
 * trainer draws in its training graph's memory instead of a second arena. */
typedef struct sd_diffusion_model { sd_unet *u; sd_ddpm *s; sd_shape img; int T; sd_graph *g; } sd_diffusion_model;
/* The averaged weights of a model or checkpoint file and its schedule (the
 * file's kind, settings and values checked); sd_diffusion_model_free after. */
int  sd_diffusion_model_load(const char *path, sd_diffusion_model *m);
void sd_diffusion_model_free(sd_diffusion_model *m);
/* The U-Net as an ONNX graph x (batch,C,H,W), t (batch) -> eps, with the
 * schedule in its metadata (src/apps/onnx_unet.c). */
int  sd_diffusion_save_onnx(const sd_diffusion_model *m, const char *path);
/* n pictures in [-1, 1] into out (n, img), from noise drawn from rng: DDIM with
 * `steps` evenly spaced steps (ddim) or DDPM ancestral over all T; traj (or
 * NULL): the first ntraj pictures at 8 points of the path, (8, ntraj, img). */
int sd_diffusion_draw(sd_ctx *ctx, sd_diffusion_model *m, int n, int ddim, int steps, sd_rng *rng, float *out,
                      int ntraj, float *traj, volatile sig_atomic_t *stop);
/* The score of n DDIM samples with the classifier (sd_app_score_pixels).
 * stop (or NULL): checked between two U-Net passes; SD_STOPPED once set
 * (sd_diffusion_draw likewise). */
int sd_diffusion_score(sd_ctx *ctx, sd_diffusion_model *m, sd_model *cls, int n, int steps, sd_rng *rng,
                       double *score, volatile sig_atomic_t *stop);

/* 1 if the file's metadata says it is a diffusion model or checkpoint (for other
 * commands' messages). */
int sd_app_is_diffusion_file(const sd_st_file *f);

/* shendu explain diffusion: the forward noising of one training picture at
 * t = 0, 100, ..., T with the schedule's numbers, one reverse step worked
 * through, and (out_png) the noised pictures as a strip. */
int sd_app_explain_diffusion(const char *data_dir, sd_ddpm_kind kind, int T, int index, const char *out_png,
                             FILE *out);

#endif
