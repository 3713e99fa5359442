/* Internal to src/rl: the DQN agent's layout, shared by dqn.c (training) and
 * dqn_checkpoint.c (saving and restoring all of it). */
#ifndef SHENDU_RL_DQN_IMPL_H
#define SHENDU_RL_DQN_IMPL_H

#include "shendu/rl.h"

struct sd_dqn {
    sd_ctx *ctx;
    sd_dqn_opts o;
    int obs_dim, n_actions;
    sd_model *q, *target;
    sd_optim *opt;
    sd_replay *mem;
    sd_graph *g;               /* updates */
    sd_graph *ga;              /* acting: one observation, no gradients */
    sd_rng rng;
    sd_replay_batch batch;
    float *y;                  /* TD targets, one per row of the batch */
    float *obs, *next;         /* the current and next observation */
    double *window;            /* returns of the last solve_window episodes (a ring) */

    /* The training loop's state between two env steps: with the networks, the
     * optimizer, the RNGs, the replay memory and the environment, what a
     * checkpoint saves (dqn_checkpoint.c). */
    int started;               /* the environment had its first (seeded) reset */
    int finished;              /* solved and stopped (or total_steps reached) */
    long step;                 /* env steps done */
    int pending;               /* updates still due at env step `step` (a run stopped between two of them) */
    double ep_ret;             /* return of the episode in progress */
    double window_sum;         /* sum of window[] over the episodes it holds */
    double wall_before;        /* training seconds of the runs before a resume */
    double t_run;              /* when the sd_dqn_run in progress began (0: none is) */
    sd_dqn_result res;         /* episodes, updates, avg_return, solved, solved_at_step, solved_wall_s */
};

/* Put the agent-file metadata (rl.env, rl.obs_dim, ... ) on the online network. */
int sd_dqn_set_agent_meta(sd_dqn *d, const sd_env *env);

#endif
