/* What the CLI subcommands run: whole programs built from nn, optim, data, io.
 * Each reports progress on `log` (human lines) and fills a result struct; the
 * CLI formats the JSON line. */
#ifndef SHENDU_APPS_H
#define SHENDU_APPS_H

#include "shendu.h"
#include "shendu/dist.h"
#include "owndata.h"
#include "trainer.h"

#include <limits.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>

/* ---- A trainer's configuration as a table of fields (src/apps/config.c):
 * checkpoints store it as "shendu.<prefix>.<key>" metadata, a resume reads it
 * back, the CLI compares it with the flags given again. */
typedef enum { SD_CFG_INT, SD_CFG_LONG, SD_CFG_FLOAT, SD_CFG_DOUBLE, SD_CFG_U64, SD_CFG_STR, SD_CFG_ENUM } sd_config_kind;
typedef struct sd_config_field {
    const char *key;              /* also the CLI flag that sets it */
    sd_config_kind kind;          /* int, long, float, double, uint64_t, const char *, or an int indexing `names` */
    size_t offset;                /* offsetof(the options struct, the field) */
    double min, max;              /* numbers (not U64): the values a file may hold */
    const char *const *names;     /* ENUM: the value names, NULL-terminated */
    const char *dflt;             /* STR: what NULL means (printed in its place); others: the value a
                                     checkpoint written before the key existed reads (NULL: required) */
} sd_config_field;
#define SD_CONFIG_MAX 32
typedef struct sd_config_text {   /* metadata for sd_checkpoint_save */
    char keys[SD_CONFIG_MAX][64], values[SD_CONFIG_MAX][256];
    sd_st_kv kv[SD_CONFIG_MAX];
    int n;
} sd_config_text;
void sd_config_get(const sd_config_field *f, const void *opts, char *buf, size_t size);
/* The same for people (the metric log's config line): a double holding a float's value (a
 * float flag widened, e.g. --val 0.2) with the float's precision, "0.2" and not the
 * 0.20000000298023224 that sd_config_get keeps so that a checkpoint reads back the same bits. */
void sd_config_show(const sd_config_field *f, const void *opts, char *buf, size_t size);
/* A whole-string decimal integer in [lo, hi] (NULL, junk or out of range: -1). */
int  sd_config_parse_long(const char *v, long lo, long hi, long *out);
/* min(2^bits, LONG_MAX): a bound for a counter kept in a long, which has 64
 * bits on the native builds and 32 on wasm32 (the web build). */
#define SD_LONG_CAP(bits) ((long)((INT64_C(1) << (bits)) < LONG_MAX ? (INT64_C(1) << (bits)) : LONG_MAX))
/* STR values are copied into *owned (freed first), which the field then points to. */
int  sd_config_set(const sd_config_field *f, void *opts, const char *v, char **owned);
const sd_config_field *sd_config_find(const sd_config_field *fields, const char *key);   /* or NULL */
int  sd_config_to_meta(const sd_config_field *fields, const void *opts, const char *prefix, sd_config_text *t);
/* Every field from the file's metadata; the k-th STR field's copy goes to owned[k]. */
int  sd_config_from_file(const sd_config_field *fields, void *opts, const char *prefix, const sd_st_file *f,
                         const char *path, char **owned);

/* ---- Paths (src/apps/paths.c). Before any work: sd_paths_check over `uses`
 * and, when data_dir is given, the data set's four IDX files as inputs. */
int  sd_app_check_paths(const char *data_dir, const sd_path_use *uses, int n);
/* SD_PATH_INPUT_DIR for a directory (a corpus read whole), else SD_PATH_INPUT. */
sd_path_role sd_app_input_role(const char *path);
/* "resume with: shendu CMD --resume CHECKPOINT --FLAG VALUE..." (flags: n/2
 * name-value pairs, a NULL value skipped; values shell-quoted as needed). */
void sd_app_resume_hint(FILE *f, const char *cmd, const char *checkpoint, const char *const *flags, int n);

/* --precision (issue 22): "fp32", "bf16" (indices are sd_precision values). A
 * context's matrix products in that precision; where the CPU has no bfloat16
 * kernel a note on `log` says the run stays in fp32 (not an error). */
extern const char *const sd_precision_names[];
void sd_app_use_precision(sd_ctx *ctx, int precision, FILE *log);

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
    /* Checkpoints (issue 8): every `checkpoint_every` steps (0: only at the
     * end and when stopped) write `checkpoint`; `resume` continues one. */
    const char *checkpoint;
    int checkpoint_every;
    const char *resume;
    /* Polled after every step; when it becomes non-zero the trainer writes its
     * checkpoint and returns SD_STOPPED (set from a SIGINT/SIGTERM handler). */
    volatile sig_atomic_t *stop;
    long stop_after;         /* > 0: stop the same way once this many steps are done (tests, time slices) */
    int detect_anomaly;      /* check every op for NaN/Inf (slower; names the first op) */
    uint64_t max_memory;     /* planned activation memory limit, bytes (0: SD_MODEL_MAX_MEMORY) */
    char *owned[4];          /* strings sd_train_config_load allocated (sd_train_config_free) */
    /* Data parallel (issue 9): NULL or a one-rank context trains alone. With N
     * ranks each takes its shard of every global batch of `batch`; rank 0 alone
     * writes files (pass the other ranks a log that discards). */
    sd_dist *dist;
    int overlap;             /* all-reduce gradient buckets during backward (else one at the end) */
    sd_data_opts data;       /* class folders and tables (issue 16): how to read them */
    sd_trainer_flags track;  /* --log, --log-every, --no-plot, --progress-every (issue 17) */
    int precision;           /* SD_PRECISION_FP32 or _BF16 (--precision) */
} sd_train_opts;

#define SD_STOPPED 3   /* returned by trainers that were asked to stop and saved a checkpoint */

/* The run's configuration, as checkpoints store it ("shendu.train.KEY"): model
 * data epochs batch lr optim momentum weight-decay init threads seed limit
 * limit-test normalize shift flip cosine. */
extern const sd_config_field sd_train_config_fields[];
void sd_train_config_get(const sd_train_opts *o, const char *key, char *buf, size_t size);   /* "?" if unknown */
/* Fill the configuration fields of o from checkpoint `path`; the strings it
 * allocates are released by sd_train_config_free. */
int  sd_train_config_load(const char *path, sd_train_opts *o);
void sd_train_config_free(sd_train_opts *o);

/* Fill the recipe fields of o: "plain" = pixels/255, constant lr, no
 * augmentation (the PyTorch reference's recipe); "best" = normalised inputs,
 * mirrors (Fashion-MNIST) or shifts (digits), Adam 2e-3 (unless o->lr is set)
 * with a cosine decay. Call after o->lr and o->optim are set. */
int sd_train_recipe(sd_train_opts *o, const char *recipe, const char *data_dir);

typedef struct sd_train_result {
    int epochs;
    double train_loss;       /* mean over the last epoch */
    double test_accuracy, test_loss;
    double train_images_per_s;   /* training steps only, evaluation excluded */
    double wall_s;
    size_t params;
    int64_t steps;           /* optimizer steps taken in all (a resumed run counts the earlier ones) */
    int ranks;               /* processes that trained together (1 without MPI) */
    double sync_wait_s;      /* time spent waiting for the gradient all-reduce */
    int failed_everywhere;   /* on error: every rank failed alike at the same point (no rank waits) */
} sd_train_result;

int sd_app_train_classifier(const sd_train_opts *o, sd_train_result *r, FILE *log);

/* shendu eval (src/apps/evaluate.c): a classifier on the test part of its data. */
typedef struct sd_eval_opts {
    const char *model;       /* the model file */
    const char *data;        /* NULL: the data set the model file records (else the default directory) */
    sd_data_opts read;       /* tables and folders: how to read them (the model's settings fill the rest) */
    int limit, threads;      /* limit: only the first N test examples (0: all) */
    const char *logits;      /* NULL, or write every example's logits there (raw float32, n x classes) */
    const char *confusion;   /* NULL, or write the confusion matrix there as a PNG heatmap */
    int worst;               /* list the N most confidently wrong examples */
    const char *worst_dir;   /* ... and write them there as PNGs (pictures only) */
    uint64_t max_memory;     /* the limit on planned activation memory, bytes (sd_model_check_memory;
                                0: SD_MODEL_MAX_MEMORY); the same meaning below */
} sd_eval_opts;
typedef struct sd_eval_result {
    double test_accuracy, test_loss;
    int n;
    sd_metrics metrics;      /* per-class figures and the confusion matrix (sd_eval_result_free) */
    char **classes;          /* nclass names, or NULL */
    int nclass;
} sd_eval_result;
/* Warnings (data that differs from the model's) and the worst examples go to log. */
int  sd_app_eval_classifier(const sd_eval_opts *o, sd_eval_result *r, FILE *log);
void sd_eval_result_free(sd_eval_result *r);

/* Accuracy and mean cross-entropy of model m over data set d (batches of 100,
 * no gradients), run in graph g (reset here, its gradient recording restored
 * after: a trainer passes its own, so the evaluation reuses that arena instead
 * of growing a second one). x = pixel * scale + shift. */
int sd_app_evaluate(sd_graph *g, sd_model *m, const sd_dataset *d, float scale, float shift,
                    double *accuracy, double *loss, float *logits /* NULL, or n × classes */);

/* A classifier's output (class scores, as many as its "classes" metadata names)
 * and how it prepares inputs: x = pixel * scale + shift (metadata input_scale,
 * input_shift; default 1/255, 0). Errors name the file. */
int sd_app_classifier_inputs(const sd_model *m, const char *path, float *scale, float *shift);

/* Text from a file (class names, paths, messages quoting metadata), written
 * safely as human text (src/apps/text_out.c): control bytes (newlines too)
 * shown as \n, \t, \xNN, so nothing from a file can move a terminal's cursor
 * or change its state. As a JSON string literal: sd_json_write_str (io/json.h). */
void sd_app_text(FILE *f, const char *s);

/* ---- shendu explain */
typedef struct sd_explain_opts { int delay_ms; } sd_explain_opts;
int sd_app_explain_conv(FILE *f, const sd_explain_opts *o);
int sd_app_explain_pool(FILE *f, const sd_explain_opts *o);
/* Each layer's output shape and parameter count for a preset or architecture. */
int sd_app_explain_shapes(FILE *f, const char *model, sd_shape input);
/* Apply a named 3x3 kernel (sobel-x, sobel-y, blur, sharpen, lecture) to a PNG. */
int sd_app_explain_image(const char *image, const char *kernel, const char *out, FILE *f);
/* The named kernel's 3x3 weights and whether its map is shown as |value|
 * (k, absolute may be NULL: only check the name). */
int sd_app_explain_kernel(const char *name, float k[9], int *absolute);

/* ---- shendu predict / show */
/* Top-k classes of each PNG (any size, gray or colour; prepared like the training data). */
int sd_app_predict(const char *model_path, char **images, int nimages, int topk, int json, FILE *f,
                   uint64_t max_memory);
/* PNGs of the first conv layer's kernels and each conv layer's feature maps for test image `index`. */
int sd_app_show(const char *model_path, const char *data_dir, int index, const char *out_dir, FILE *f,
                uint64_t max_memory);

/* The lecture's matrices: 5×5 picture, 3×3 kernel, 4×4 pooling input. */
const float *sd_explain_lecture_image(void);
const float *sd_explain_lecture_kernel(void);
const float *sd_explain_lecture_pool(void);

/* ==== Reinforcement learning: shendu rl solve | qlearn | dqn | play (src/apps/rl.c) ==== */
#define SD_RL_MAX_STATES 64      /* the largest grid world: FrozenLake 8x8 */
#define SD_RL_MAX_PLAY 64

typedef struct sd_rl_solve_opts { const char *env; int slippery; double gamma; } sd_rl_solve_opts;
typedef struct sd_rl_solve_result {
    const char *env;
    double gamma;
    int n_states, sweeps;
    double values[SD_RL_MAX_STATES];   /* v* */
    int policy[SD_RL_MAX_STATES];
    char policy_str[SD_RL_MAX_STATES + 1];   /* first letters of the action names */
    double start_value, random_start_value;  /* v* and v_random at the start */
    int success_metric;                /* FrozenLake: the exact figures are success probabilities */
    double policy_exact, optimum_exact; /* within the step limit: this policy, the best possible */
} sd_rl_solve_result;
/* Policy evaluation (uniform random policy) and value iteration; prints both. */
int sd_app_rl_solve(const sd_rl_solve_opts *o, sd_rl_solve_result *r, FILE *f);

typedef struct sd_rl_qlearn_opts {
    const char *env;
    int slippery;
    sd_qlearn_opts q;
    int eval_episodes;
    const char *out;                   /* NULL, or where the learned Q-table goes (sd_qtable_save) */
    sd_trainer_flags track;            /* --log (one record per --log-every episodes, and the greedy
                                          policy's evaluation), --no-plot, --progress-every (issue 17) */
} sd_rl_qlearn_opts;
typedef struct sd_rl_qlearn_result {
    const char *env;
    int episodes, eval_episodes;
    long env_steps;
    double train_s, wall_s;
    double success_rate, mean_return;  /* greedy policy, eval_episodes episodes */
    int success_metric;
    double policy_exact, optimum_exact;
    char policy_str[SD_RL_MAX_STATES + 1];
} sd_rl_qlearn_result;
/* shendu's Q-learning settings for a tabular environment (keeps q->seed). */
int sd_rl_qlearn_defaults(const char *env, sd_qlearn_opts *q);
int sd_app_rl_qlearn(const sd_rl_qlearn_opts *o, sd_rl_qlearn_result *r, FILE *f);

typedef struct sd_rl_dqn_opts {
    const char *env, *recipe;
    sd_dqn_opts dqn;
    int threads;
    const char *out;
    int eval_episodes;
    long log_steps;                    /* a progress line every N env steps */
    int live_progress;                 /* redraw a line on stderr (a terminal) */
    /* Checkpoints (issue 8): every `checkpoint_every` env steps (0: only at the
     * end and when stopped) write `checkpoint`; `resume` continues one. */
    const char *checkpoint, *resume;
    long checkpoint_every;
    /* Polled after every env step: when set, write the checkpoint and return
     * SD_STOPPED (set from a SIGINT/SIGTERM handler). */
    volatile sig_atomic_t *stop;
    long stop_after;                   /* > 0: stop like that once this many env steps are done */
    char *owned[3];                    /* env, recipe, hidden read from a checkpoint */
    sd_trainer_flags track;            /* --log, --log-every, --no-plot, --progress-every (issue 17) */
} sd_rl_dqn_opts;
typedef struct sd_rl_dqn_result { sd_dqn_result train; double eval_return; } sd_rl_dqn_result;
/* 0, SD_STOPPED (stopped, checkpoint written), or -1. */
int sd_app_rl_dqn(const sd_rl_dqn_opts *o, sd_rl_dqn_result *r, FILE *f);

/* The run's configuration, as text (src/apps/rl_checkpoint.c): what a DQN
 * checkpoint stores as "shendu.rl.cfg.KEY", and a resume restores and
 * compares with the flags given again. Keys are the flags' names. */
extern const sd_config_field sd_rl_dqn_config_fields[];
void sd_rl_dqn_config_get(const sd_rl_dqn_opts *o, const char *key, char *buf, size_t size);
/* Read the configuration of a `rl dqn` checkpoint into o (strings owned by o). */
int  sd_rl_dqn_config_load(const char *path, sd_rl_dqn_opts *o);
void sd_rl_dqn_config_free(sd_rl_dqn_opts *o);
/* The agent's checkpoint with o's configuration and the progress log's position. */
int  sd_rl_dqn_checkpoint_save(const sd_rl_dqn_opts *o, sd_dqn *d, const sd_env *env, long next_log);
/* A checkpoint's progress log position (0 if absent). */
long sd_rl_dqn_checkpoint_next_log(const char *path);

typedef struct sd_rl_play_opts {
    const char *path, *env;
    int episodes, max_steps;           /* max_steps 0: play each episode to its end */
    uint64_t seed;
    int render, clear, delay_ms;       /* clear: redraw in place (a terminal) */
} sd_rl_play_opts;
typedef struct sd_rl_play_result { int episodes; long steps; double mean_return, returns[SD_RL_MAX_PLAY]; } sd_rl_play_result;
int sd_app_rl_play(const sd_rl_play_opts *o, sd_rl_play_result *r, FILE *f);

/* ==== Character-level language models (issue 5: src/apps/lm.c, lm_explain.c) ==== */

/* An embedding -> stacked RNN/LSTM -> linear model over a byte vocabulary.
 * Parameters: emb.weight, lstm.* (or rnn.*) in torch.nn.LSTM's names, out.weight,
 * out.bias: the file loads into the reference's CharLSTM unchanged. */
typedef struct sd_lm sd_lm;
/* forget_bias: the LSTM's forget-gate bias at init; 0 keeps PyTorch's uniform init. */
sd_lm *sd_lm_new(const sd_vocab *v, sd_cell cell, int layers, int hidden, int embdim, float forget_bias,
                 sd_rng *rng);
void   sd_lm_free(sd_lm *m);                                /* NULL-safe */
sd_params *sd_lm_params(sd_lm *m);
const sd_vocab *sd_lm_vocab(const sd_lm *m);
sd_rnn *sd_lm_rnn(sd_lm *m);
/* idx (T·B) time-major -> logits (T·B, V); state NULL: zeros (else carried). */
sd_tensor *sd_lm_forward(sd_graph *g, sd_lm *m, const int32_t *idx, int T, int B, sd_rnn_state *state);
/* The same while training: dropout (a transformer's) draws from dropout_rng (NULL: none). */
sd_tensor *sd_lm_forward_train(sd_graph *g, sd_lm *m, const int32_t *idx, int T, int B, sd_rng *dropout_rng);
/* A decoder-only Transformer LM (shendu/transformer.h) of `context` positions:
 * parameters tok_emb.weight, pos_emb.weight, blocks.*, ln_f.*, the output tied to tok_emb. */
sd_lm *sd_lm_new_transformer(const sd_vocab *v, int layers, int dim, int heads, int context, float dropout,
                             sd_rng *rng);
sd_cell sd_lm_cell(const sd_lm *m);
sd_transformer *sd_lm_transformer(sd_lm *m);   /* NULL for a recurrent model */
/* A safetensors file with "shendu.format": "lm", cell, layers, hidden, embedding,
 * vocab (sd_vocab_escape) and the extra metadata. */
int    sd_lm_save(const sd_lm *m, const char *path, const sd_st_kv *extra, int nextra);
/* The same with another format (NULL: "lm") and extra tensors after the
 * parameters (at most 16 of each; checkpoints). */
int    sd_lm_save_with(const sd_lm *m, const char *path, const char *format, const sd_st_tensor *tensors,
                       int ntensors, const sd_st_kv *extra, int nextra);
/* Errors say what is wrong: not a shendu file, another kind of model, bad metadata.
 * Accepts an lm checkpoint too (its "shendu.*" tensors are skipped). */
sd_lm *sd_lm_load(const char *path);
/* The same from the bytes of such a file (copied); `name` (NULL: "(memory)") names it. */
sd_lm *sd_lm_load_mem(const void *buf, size_t size, const char *name);
/* Read prime[nprime], then write len bytes drawn from softmax(logits / temperature)
 * (temperature 0: the most likely byte) into out. */
int    sd_lm_generate(sd_lm *m, sd_ctx *ctx, const uint8_t *prime, size_t nprime, int len, float temperature,
                      sd_rng *rng, uint8_t *out);
typedef struct sd_lm_gen_opts {
    float temperature;       /* 0: the likeliest byte every time */
    int top_k;               /* draw among the k likeliest only (0: all) */
    int no_cache;            /* transformer: re-read the whole window for every byte (no key/value cache) */
} sd_lm_gen_opts;
/* The same with options. A transformer refuses a prime longer than its context; past
 * the context its cache restarts from the last half of the window. */
int    sd_lm_generate_with(sd_lm *m, sd_ctx *ctx, const uint8_t *prime, size_t nprime, int len,
                           const sd_lm_gen_opts *o, sd_rng *rng, uint8_t *out);

typedef struct sd_lm_opts {
    const char *text;        /* file or directory; NULL: /usr/share/games/fortunes (SD_LM_DEFAULT_TEXT) */
    sd_cell cell;
    int layers, hidden, emb, seq, batch, steps;
    float lr;                /* 0: Adam's default */
    int threads;             /* 0: all cores */
    uint64_t seed;
    float forget_bias;       /* LSTM forget-gate bias at init; 0: PyTorch's uniform init (lstm.py's) */
    int precision;           /* SD_PRECISION_FP32 or _BF16 (--precision) */
    /* cell transformer (issue 20): width, heads (dividing dim), dropout; the context is seq.
     * AdamW's decoupled weight decay, warm-up steps before the cosine decay, the
     * gradient norm clip (0: none). */
    int dim, heads;
    float dropout, weight_decay, clip;
    int warmup;
    const char *out;         /* model file, or NULL */
    int log_every;           /* progress line every N steps (0: 100) */
    int eval_every;          /* validation every N steps (0: only at the end) */
    int sample_every;        /* sample every N steps (0: only at the end) */
    int sample_len;          /* bytes per sample (0: no samples) */
    int live_progress;       /* redraw a progress line on stderr (a terminal) */
    /* Checkpoints (issue 8), as sd_train_opts: every `checkpoint_every` steps (0: only
     * at the end and when stopped) write `checkpoint`; `resume` continues one. */
    const char *checkpoint;
    int checkpoint_every;
    const char *resume;
    volatile sig_atomic_t *stop;   /* polled after every step: non-zero -> checkpoint, SD_STOPPED */
    int stop_after;          /* > 0: stop the same way after this step (scheduled jobs, tests) */
    uint64_t max_memory;     /* planned activation memory limit, bytes (0: SD_MODEL_MAX_MEMORY) */
    char *owned;             /* the text path sd_lm_config_load allocated (sd_lm_config_free) */
    /* Data parallel (issue 9), as sd_train_opts: each rank takes its shard of the
     * `batch` windows of every step; rank 0 alone writes files and samples. */
    sd_dist *dist;
    int overlap;             /* all-reduce gradient buckets during backward (else one at the end) */
    sd_trainer_flags track;  /* --log, --log-every, --no-plot, --progress-every (issue 17) */
} sd_lm_opts;

#define SD_LM_DEFAULT_TEXT "/usr/share/games/fortunes"

/* The run's configuration as text, as lm checkpoints store it ("shendu.lm.KEY").
 * Keys: text cell layers hidden emb seq batch steps lr threads seed forget-bias. */
extern const sd_config_field sd_lm_config_fields[];   /* each key is also the flag that sets it */
/* Fill the configuration fields of o from lm checkpoint `path` (errors: not a
 * checkpoint of `shendu lm train`, missing or bad keys); free with sd_lm_config_free. */
int  sd_lm_config_load(const char *path, sd_lm_opts *o);
void sd_lm_config_free(sd_lm_opts *o);

/* The LM trainer's state between two steps, all a resume needs besides the
 * model and optimizer: the data RNG (the windows' offsets come from it, so it is
 * also the data position), the sample RNG and the loss statistics of the log. */
typedef struct sd_lm_train_state {
    int step;                /* steps done */
    sd_rng rng, srng;
    double tail[100];        /* the last 100 losses, tail[(step - 1) % 100] */
    double loss_window;      /* summed losses since the last progress line */
    int window;
} sd_lm_train_state;
/* An lm model file with "shendu.format": "lm-checkpoint" (so sd_lm_load and
 * `shendu lm sample` accept it), the optimizer ("shendu.optim.*"), the state and
 * the configuration ("shendu.lm.*"); text_bytes: the corpus size, checked on resume.
 * Written atomically. */
int sd_lm_checkpoint_save(const char *path, const sd_lm *m, sd_optim *opt, const sd_lm_opts *o,
                          size_t text_bytes, const sd_lm_train_state *st);
/* Put the weights, optimizer and state back into a model built from the same
 * configuration and text (a different vocabulary or text size is refused). */
int sd_lm_checkpoint_restore(const char *path, sd_lm *m, sd_optim *opt, size_t text_bytes,
                             sd_lm_train_state *st);

/* Data parallel: 1 if setting `key` has the value v on every rank, 0 (with a
 * message naming rank 0's and the first differing rank's values) if not, -1 on
 * an MPI error. Every rank must call it. */
int sd_app_same_setting(sd_dist *dist, const char *key, const char *v);
/* The same over a trainer's configuration table (its first n fields of opts)
 * and the settings that decide collective calls: the all-reduce kind, the
 * checkpoint steps (-1: no checkpoint) and --stop-after. 0, or -1 with a message. */
int sd_app_same_config(sd_dist *dist, const sd_config_field *fields, int n, const void *opts, int overlap,
                       int checkpoint_every, long stop_after);
/* The ranks start from the same state (weights, data order or data RNG: the
 * n buffers), or they would drift apart. 1 if so, 0 with a message if not
 * (resumed: it suggests the checkpoint file), -1 on an MPI error. */
int sd_app_same_start(sd_dist *dist, const sd_chunk *parts, int n, int resumed);

typedef struct sd_lm_result {
    double val_bpc;              /* validation bits per character at the end */
    double train_bpc;            /* mean training loss of the last 100 steps, in bits */
    double train_tokens_per_s;   /* training steps only */
    double wall_s;
    int steps, vocab;
    size_t params;
    int ranks;               /* processes that trained together (1 without MPI) */
    double sync_wait_s;      /* time spent waiting for the gradient all-reduce */
    int failed_everywhere;   /* on error: every rank failed alike at the same point (no rank waits) */
} sd_lm_result;

int sd_app_lm_train(const sd_lm_opts *o, sd_lm_result *r, FILE *log);

typedef struct sd_lm_sample_opts {
    int len;
    float temperature;
    const char *prime;       /* NULL: a newline */
    uint64_t seed;
    int threads;             /* 0: 1 */
    int top_k;               /* 0: all bytes */
    int no_cache;            /* transformer: no key/value cache (slow; for comparisons) */
    int terminal;            /* out is a terminal: control bytes but newline and tab shown as \xNN */
} sd_lm_sample_opts;
/* Writes the prime and len generated bytes to out. */
int sd_app_lm_sample(const char *model_path, const sd_lm_sample_opts *o, FILE *out);

/* The model as ONNX (src/apps/onnx_export.c): tokens (seq, batch), h0 [, c0] ->
 * logits, probs (seq, batch, V), h_n [, c_n]. */
int sd_lm_save_onnx(sd_lm *m, const char *path);
/* Any model file the CLI writes (classifier, generator, agent, language model,
 * or a checkpoint of one) as ONNX; log (may be NULL) gets "wrote PATH". */
int sd_app_export_onnx(const char *model_path, const char *onnx_path, FILE *log);

/* shendu explain lstm: one LSTM step of a tiny example, gate by gate. */
int sd_app_explain_lstm(FILE *f);
/* shendu explain attention (src/apps/attn_explain.c): one causal attention head over
 * four tokens, step by step; and a trained transformer LM's attention weights over
 * `prime`, every layer and head, as a heatmap PNG. */
int sd_app_explain_attention(FILE *f);
int sd_app_explain_attention_model(const char *model_path, const char *prime, const char *out_png, FILE *f);

/* ---- GAN (issue 6): shendu gan, gan sample, gan score (src/apps/gan.c) ---- */
typedef enum sd_gan_loss {
    SD_GAN_NS = 0,          /* non-saturating: G minimises -E[log D(G(z))] (the default) */
    SD_GAN_MINIMAX          /* the lecture's min_G max_D V: G minimises E[log(1 - D(G(z)))] */
} sd_gan_loss;
int         sd_gan_loss_parse(const char *name, sd_gan_loss *out);   /* "ns", "minimax" */
/* The architecture's recipe: its batch, label smoothing and decay of G's
 * moving average ("mlp": gan.py's 64 and 0, and 0.999). */
int         sd_gan_recipe(const char *arch, int *batch, float *smooth, float *ema);
const char *sd_gan_loss_name(sd_gan_loss l);

/* On D's logits (N,1): L_D = bce(real, 1) + bce(fake, 0); L_G = bce(fake, 1)
 * (ns) or -bce(fake, 0) = mean log(1 - sigmoid(fake)) (minimax). */
sd_tensor *sd_gan_d_loss(sd_graph *g, sd_tensor *real_logits, sd_tensor *fake_logits);
/* The same with the real images' target 1 - smooth (one-sided label smoothing). */
sd_tensor *sd_gan_d_loss_smooth(sd_graph *g, sd_tensor *real_logits, sd_tensor *fake_logits, float smooth);
sd_tensor *sd_gan_g_loss(sd_graph *g, sd_tensor *fake_logits, sd_gan_loss kind);

/* A GAN trainer over two models it borrows: G (noise (nz) -> an image) and D
 * (an image -> one logit), each with its own Adam and graph. */
typedef struct sd_gan sd_gan;
typedef struct sd_gan_opts {
    int batch;               /* real images per step (>= 2): the global batch under MPI */
    sd_gan_loss loss;
    float lr, beta1;         /* Adam for both; 0 -> 2e-4 and 0.5 (DCGAN's, gan.py's) */
    float smooth;            /* one-sided label smoothing: D's target for real images is 1 - smooth */
    /* Data parallel (issue 9; NULL: one process): every rank passes the same
     * global batch and noise, computes its shard's gradients, and both
     * gradients are averaged over the ranks before each Adam step. Batchnorm
     * statistics are each rank's own shard's (as without SyncBatchNorm). */
    sd_dist *dist;
    int overlap;             /* all-reduce in buckets during backward (else once per step) */
} sd_gan_opts;
typedef struct sd_gan_stats {
    float d_loss, g_loss, d_real, d_fake;    /* over the global batch; d_*: mean D(x), D(G(z)) */
    int stop;                /* in: this rank asks to stop; out (after the G step): some rank did */
} sd_gan_stats;
sd_gan *sd_gan_new(sd_ctx *ctx, sd_model *G, sd_model *D, const sd_gan_opts *o);
void    sd_gan_free(sd_gan *s);                  /* NULL-safe */
/* z ~ N(0,1) from rng, fake = G(z); one D step on real (batch × D's input) -> 1,
 * fake -> 0 (under MPI: this rank's rows of real and z). */
int     sd_gan_d_step(sd_gan *s, const float *real, sd_rng *rng, sd_gan_stats *st);
/* One G step on that fake batch through D, D's parameters frozen (untouched). */
int     sd_gan_g_step(sd_gan *s, sd_gan_stats *st);
/* Both. A non-finite loss stops a step before its update: -1, "the D loss is NaN". */
int     sd_gan_step(sd_gan *s, const float *real, sd_rng *rng, sd_gan_stats *st);
size_t  sd_gan_grow_count(const sd_gan *s);      /* bytes the graphs malloc'd at the last step */
sd_optim *sd_gan_optim(sd_gan *s, int discriminator);   /* G's (0) or D's (1) Adam */
double    sd_gan_sync_wait(const sd_gan *s);              /* seconds spent waiting for all-reduces */

/* exp(mean_x KL(p(y|x) || p(y))) of p (n,k), rows summing to 1: from 1 to k. */
double sd_inception_score(const float *p, int n, int k);
/* Shared by the generative trainers (gan.c, diffusion.c): a classifier that fits
 * pictures of shape img; the inception score of n 8-bit pictures (the classifier's
 * input scaling, batches of 32); a directory made if missing; n pictures in
 * [-1, 1] as a grid PNG, `cols` per row, each pixel doubled. */
int sd_app_check_classifier(const sd_model *cls, const char *path, sd_shape img, uint64_t max_memory);
int sd_app_score_pixels(sd_ctx *ctx, sd_model *cls, const uint8_t *px, int n, double *score);
int sd_app_make_dir(const char *dir);
int sd_app_save_grid(const char *path, const float *x, int n, sd_shape img, int cols);
/* -1 with a clear message if m's metadata says it is a GAN generator (role=generator). */
int sd_app_check_not_generator(const sd_model *m, const char *path);

typedef struct sd_gan_train_opts {
    const char *arch;        /* "mlp" (../shared/bench-ref/gan.py) or "dcgan" */
    const char *data_dir;    /* NULL: sd_data_default_dir() */
    const char *out_dir;     /* NULL: "gan-out": epoch_NNN.png grids, generator.safetensors */
    const char *classifier;  /* a classifier file: score the generator at the end (NULL: no score) */
    int epochs, batch;
    sd_gan_loss loss;
    float lr;                /* 0: 2e-4 */
    float smooth;            /* one-sided label smoothing (Salimans et al. 2016): real target 1 - smooth */
    float ema;               /* decay of the generator's moving average, which is what is sampled,
                                scored and saved (0: no average, the last weights) */
    int threads;             /* 0: all cores */
    int precision;           /* SD_PRECISION_FP32 or _BF16 (--precision) */
    uint64_t seed;
    int limit_train;         /* use only the first N training images (0: all) */
    int score_n;             /* samples (and real test images) for the score (0: 10000) */
    int live_progress;
    /* Checkpoints (issue 8): every `checkpoint_every` steps (0: only at the end
     * and when stopped) write `checkpoint`; `resume` continues one. */
    const char *checkpoint, *resume;
    int checkpoint_every;
    volatile sig_atomic_t *stop;   /* polled after every step: checkpoint, return SD_STOPPED */
    long stop_after;               /* > 0: stop like that once this many steps are done */
    uint64_t max_memory;           /* planned activation memory limit, bytes (0: SD_MODEL_MAX_MEMORY) */
    char *owned[4];                /* strings read from a checkpoint (sd_gan_config_free) */
    /* Data parallel (issue 9): NULL, or the job's ranks; rank 0 alone writes
     * files and scores; `log` should be /dev/null on the others. */
    sd_dist *dist;
    int overlap;                   /* bucketed all-reduce during backward */
    sd_trainer_flags track;        /* --log, --log-every, --no-plot, --progress-every (issue 17) */
} sd_gan_train_opts;

/* The configuration a GAN checkpoint stores ("shendu.gan.KEY"); each key is
 * also the flag that sets it. The last three (out, classifier, score-n) do not
 * change the training and may be given anew on a resume. */
extern const sd_config_field sd_gan_config_fields[];
#define SD_GAN_CONFIG_FREE_FROM 12   /* index of the first of those three */
/* Fill o's configuration from checkpoint `path` (not a GAN checkpoint, missing
 * or bad keys: an error); free the strings with sd_gan_config_free. */
int  sd_gan_config_load(const char *path, sd_gan_train_opts *o);
void sd_gan_config_free(sd_gan_train_opts *o);

typedef struct sd_gan_result {
    int epochs;
    double d_loss, g_loss, d_real, d_fake;   /* means over the last epoch */
    double train_images_per_s;               /* real images per second of D+G steps */
    double score, real_score;                /* NaN without a classifier */
    double wall_s;
    char generator[4096];                    /* the file written */
    int ranks;                               /* processes that trained */
    double sync_wait_s;                      /* time spent waiting for the all-reduces */
    int failed_everywhere;                   /* every rank met the same error (no need to abort the job) */
} sd_gan_result;

/* Where a GAN run is: the epoch in progress (1-based), steps done in it, and
 * their summed D loss, G loss, D(x), D(G(z)). */
typedef struct sd_gan_progress { int epoch, step; double sums[4]; } sd_gan_progress;
/* A GAN checkpoint (src/apps/gan_ckpt.c): a generator file (the model part is
 * Gavg when there is one, else G: `gan sample` reads it) with G, D, both
 * optimizers, the RNG, the data order and position, the progress and the
 * configuration. The restore checks every size before copying. */
int sd_gan_checkpoint_save(const char *path, const sd_gan_train_opts *o, sd_model *G, sd_model *Gavg, sd_model *D,
                           sd_gan *gan, const sd_rng *rng, const sd_batcher *bt, int ntrain, const sd_gan_progress *p);
int sd_gan_checkpoint_restore(const char *path, sd_model *G, sd_model *Gavg, sd_model *D, sd_gan *gan, sd_rng *rng,
                              sd_batcher *bt, int ntrain, int steps_per_epoch, sd_gan_progress *p);
int sd_app_gan_train(const sd_gan_train_opts *o, sd_gan_result *r, FILE *log);
/* n samples of a generator file as a grid PNG, `cols` per row (0: square). */
int sd_app_gan_sample(const char *gen_path, int n, int cols, uint64_t seed, const char *out_png, int threads,
                      FILE *log, uint64_t max_memory);
/* The score of n samples and of the first n real test images (data_dir NULL: the
 * generator's data set), with a classifier file trained on that data. */
int sd_app_gan_score(const char *gen_path, const char *cls_path, const char *data_dir, int n, uint64_t seed,
                     int threads, double *score, double *real_score, uint64_t max_memory);

#endif
