/* shendu/optim.h — SGD with momentum and Adam over one contiguous parameter
 * buffer: a step is one pass over the values, the gradients and the state. */
#ifndef SHENDU_OPTIM_H
#define SHENDU_OPTIM_H

#include "tensor.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef enum sd_optim_kind { SD_OPTIM_SGD = 0, SD_OPTIM_ADAM } sd_optim_kind;

typedef struct sd_optim_opts {
    sd_optim_kind kind;
    float lr;              /* 0 -> 0.01 (SGD) or 0.001 (Adam) */
    float momentum;        /* SGD: v = μ v + g; w -= lr v (PyTorch's form). 0 = plain SGD */
    float beta1, beta2;    /* Adam: 0 -> 0.9, 0.999 */
    float eps;             /* Adam: 0 -> 1e-8 */
    float weight_decay;    /* L2 added to the gradient (Adam: decoupled if `decoupled`, i.e. AdamW) */
    int decoupled;
    int threads;           /* threads for the update (0: 1); results do not depend on it */
    int decay_matrices_only;   /* Adam: weight decay on tensors of 2+ dims only (none on norms' gains, biases) */
} sd_optim_opts;

typedef struct sd_optim sd_optim;
/* Allocates the state (zeroed) for every value in P; P must be complete. */
sd_optim *sd_optim_new(sd_params *P, const sd_optim_opts *opts);
void      sd_optim_free(sd_optim *o);                  /* NULL-safe */
void      sd_optim_step(sd_optim *o);                  /* one update from P's gradients */
void      sd_optim_set_lr(sd_optim *o, float lr);
float     sd_optim_lr(const sd_optim *o);
const sd_optim_opts *sd_optim_options(const sd_optim *o);   /* with defaults filled in */
int       sd_optim_kind_parse(const char *name, sd_optim_kind *out);  /* "sgd", "adam" */
const char *sd_optim_kind_name(sd_optim_kind k);

/* Linear warm-up then cosine decay: the learning rate for update `step`
 * (0-based) of `total`: lr (step + 1) / warmup for step < warmup, then
 * min_lr + (lr − min_lr)(1 + cos(π (step − warmup) / (total − warmup))) / 2
 * (PyTorch's LinearLR(1/warmup) then CosineAnnealingLR(total − warmup, min_lr)). */
float     sd_lr_warmup_cosine(int64_t step, int64_t warmup, int64_t total, float lr, float min_lr);

/* For checkpoints: steps taken, and the state buffers (SGD: velocity;
 * Adam: m, v), each sd_params_size(P) floats. */
int64_t   sd_optim_steps(const sd_optim *o);
void      sd_optim_set_steps(sd_optim *o, int64_t t);
int       sd_optim_state_count(const sd_optim *o);
size_t    sd_optim_state_size(const sd_optim *o);     /* floats in each state buffer */
float    *sd_optim_state(sd_optim *o, int i, const char **name);

#ifdef __cplusplus
}
#endif
#endif
