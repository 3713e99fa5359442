/* Internal to src/rl: the environment vtable and the state every environment
 * keeps. sd_env (env.c) does the bookkeeping Gymnasium's wrappers do — seeding,
 * the step counter, the TimeLimit truncation, checking actions — and calls
 * the class for the rules of one environment (env_toytext.c, env_classic.c). */
#ifndef SHENDU_RL_ENV_IMPL_H
#define SHENDU_RL_ENV_IMPL_H

#include "shendu/rl.h"

#define ENV_MAX_OUTCOMES 3    /* slippery moves: intended and the two perpendicular ones */

typedef struct env_class {
    const char *name, *gym_id;
    /* Fill e->info (and the tables of a tabular environment); opts already defaulted. */
    int  (*init)(sd_env *e, const sd_env_opts *o);
    /* Draw the initial state from e->rng and write the observation. */
    void (*reset)(sd_env *e, float *obs);
    /* Apply a valid action: write the observation, r->reward and r->terminated. */
    void (*step)(sd_env *e, int action, float *obs, sd_env_result *r);
    void (*observe)(const sd_env *e, float *obs);
    int  (*render)(const sd_env *e, char *buf, size_t size);
    int  nstate;              /* doubles in sd_env_get_state / set_state */
} env_class;

struct sd_env {
    const env_class *cls;
    sd_env_info info;
    sd_rng rng;               /* the environment's own, like Gymnasium's np_random */
    int seeded;
    int running;              /* an episode is in progress */
    int elapsed;              /* steps in this episode */
    int last_action;          /* -1 right after a reset */

    /* Tabular environments: a grid map and Gymnasium's P[s][a] table. */
    const char *const *map;   /* rows of tile letters */
    int rows, cols, start, s;
    sd_transition *P;         /* (S·A) × ENV_MAX_OUTCOMES */
    int *nP;                  /* outcomes per (s, a) */

    /* Classic control: the state in double precision, as Gymnasium keeps it. */
    double x[4];
};

extern const env_class sd_env_frozenlake, sd_env_frozenlake8, sd_env_cliffwalking;
extern const env_class sd_env_cartpole, sd_env_acrobot;

/* Uniform double in [0, 1) with 53 random bits (numpy's random()). */
double sd_env_uniform(sd_env *e);
/* Allocate the P table of a tabular environment with S states and A actions. */
int sd_env_alloc_table(sd_env *e, int S, int A);

/* Append formatted text to buf (size), tracking the length in *k. */
void sd_env_appendf(char *buf, size_t size, size_t *k, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 4, 5)))
#endif
    ;

#endif
