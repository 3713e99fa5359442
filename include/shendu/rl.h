/* shendu/rl.h — reinforcement learning, as in the lecture's last part: an
 * agent acts in an environment (an MDP), collects rewards and learns Q(s,a).
 *
 *   environments   Gymnasium's API and rules: reset(seed) -> observation,
 *                  step(action) -> observation, reward, terminated, truncated.
 *                  FrozenLake-v1 (4x4, 8x8), CliffWalking-v0, CartPole-v1, Acrobot-v1.
 *   exact solvers  for the tabular ones: policy evaluation with the lecture's
 *                  v(s) = Σ_s' P(s,s') (R + γ v(s')), value iteration, and the
 *                  exact success probability of a policy within the step limit.
 *   Q-learning     a table, ε-greedy, Q ← (1−α) Q + α (r + γ max_a' Q(s',a')).
 *   DQN            a network for Q, a replay memory, a target network copied
 *                  every K steps, L = (r + γ max_a' q' − q_a)².
 *
 *   sd_env *env = sd_env_new("cartpole", NULL);
 *   float obs[4];
 *   sd_env_reset(env, 42, obs);                       // seed 42, like reset(seed=42)
 *   for (;;) {
 *       sd_env_result r;
 *       if (sd_env_step(env, policy(obs), obs, &r)) break;   // bad action: -1
 *       if (r.terminated || r.truncated) sd_env_reset(env, SD_ENV_NO_SEED, obs);
 *   }
 *   sd_env_free(env);
 */
#ifndef SHENDU_RL_H
#define SHENDU_RL_H

#include "base.h"
#include "io.h"
#include "nn.h"

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* ---- Environments ------------------------------------------------------ */

typedef struct sd_env sd_env;

typedef struct sd_env_opts {
    int slippery;        /* FrozenLake: 0 = Gymnasium's default (slippery), 1 = slippery, -1 = not */
    int max_steps;       /* truncate after N steps: 0 = Gymnasium's TimeLimit (FrozenLake 100 / 200,
                            CartPole 500, Acrobot 500, CliffWalking none), -1 = never */
} sd_env_opts;

typedef struct sd_env_info {
    const char *name;          /* "frozenlake", "frozenlake8", "cliffwalking", "cartpole", "acrobot" */
    const char *gym_id;        /* "FrozenLake-v1", "FrozenLake8x8-v1", "CliffWalking-v0", ... */
    int n_states;              /* Discrete(n) observations: n; Box observations: 0 */
    int obs_dim;               /* floats per observation: 1 (the state index) if discrete */
    int n_actions;             /* actions are 0 .. n_actions-1 */
    int max_steps;             /* truncation limit; 0 = none */
    int start_state;           /* tabular: where every episode starts (-1: not tabular) */
    int goal_state;            /* tabular: the state an episode should end in (-1: none) */
    double reward_threshold;   /* Gymnasium's reward_threshold, NAN if it has none */
    const char *const *action_names;   /* n_actions short names: "Left", "Down", ... */
    /* Grid worlds: grid_rows strings of grid_cols tiles (FrozenLake: S start, F ice,
     * H hole, G goal; CliffWalking: S start, . ground, C cliff, G goal); state =
     * row * grid_cols + col. NULL for the others. */
    const char *const *grid;
    int grid_rows, grid_cols;
} sd_env_info;

#define SD_ENV_NO_SEED (-1)

/* The environments sd_env_new knows: "frozenlake, frozenlake8, cliffwalking, cartpole, acrobot". */
const char *sd_env_names(void);
/* By name or Gymnasium id ("CartPole-v1"); opts may be NULL. Unknown name: NULL, error lists the names. */
sd_env *sd_env_new(const char *name, const sd_env_opts *opts);
void    sd_env_free(sd_env *e);                       /* NULL-safe */
const sd_env_info *sd_env_get_info(const sd_env *e);

/* Start an episode and write obs_dim floats to obs. seed >= 0 reseeds the
 * environment's own RNG (Gymnasium's reset(seed=...)); SD_ENV_NO_SEED goes on
 * with its stream (an environment never reset with a seed uses seed 0). */
int sd_env_reset(sd_env *e, int64_t seed, float *obs);

typedef struct sd_env_result {
    float reward;
    int terminated;            /* the MDP reached a terminal state */
    int truncated;             /* the step limit cut the episode short */
} sd_env_result;
/* One step. An action outside [0, n_actions), no episode running (never
 * reset, or it ended), or NULL pointers: -1 and an error, nothing changes. */
int sd_env_step(sd_env *e, int action, float *obs, sd_env_result *r);

/* Steps taken in the current episode. */
int sd_env_elapsed(const sd_env *e);
/* Tabular environments: the current state index; -1 for the others. */
int sd_env_state(const sd_env *e);
/* The exact internal state, as doubles: CartPole (x, ẋ, θ, θ̇), Acrobot
 * (θ1, θ2, θ̇1, θ̇2), tabular (the state index). get returns how many values
 * it wrote (at most 4); set overwrites them in a running episode (tests,
 * demonstrations) and returns 0 or -1. */
int sd_env_get_state(const sd_env *e, double *state);
int sd_env_set_state(sd_env *e, const double *state);
/* Everything an environment carries between steps, for checkpoints: its RNG,
 * the exact state (sd_env_get_state's values), the step counter and whether
 * an episode is running. restore checks the values against the environment
 * (state in range, counter within the step limit, RNG not all zero) and
 * changes nothing on an error. */
typedef struct sd_env_saved {
    sd_rng rng;
    double state[4];
    int32_t elapsed, running, seeded, last_action;
} sd_env_saved;
void sd_env_snapshot(const sd_env *e, sd_env_saved *out);
int  sd_env_restore(sd_env *e, const sd_env_saved *s);
/* An ASCII picture of the current state, NUL-terminated. Returns its length
 * (truncated to size-1 if the buffer is short), or -1. */
int sd_env_render(const sd_env *e, char *buf, size_t size);

/* ---- Tabular MDPs and exact solutions ----------------------------------- */

/* One outcome of taking action a in state s, as in Gymnasium's env.P[s][a]. */
typedef struct sd_transition {
    double prob;
    int next;
    double reward;
    int terminated;            /* the episode ends on arriving in `next` */
} sd_transition;

/* Tabular environments: the outcomes of (s, a); returns how many (their
 * probabilities sum to 1) and points *out at them, or -1. */
int sd_env_transitions(const sd_env *e, int s, int a, const sd_transition **out);

typedef struct sd_mdp sd_mdp;
sd_mdp *sd_mdp_new(int n_states, int n_actions, int start);
sd_mdp *sd_mdp_from_env(const sd_env *e);            /* tabular environments only */
void    sd_mdp_free(sd_mdp *m);                       /* NULL-safe */
/* Add an outcome to (s, a). */
int     sd_mdp_add(sd_mdp *m, int s, int a, double prob, int next, double reward, int terminated);
int     sd_mdp_states(const sd_mdp *m);
int     sd_mdp_actions(const sd_mdp *m);

/* Policy evaluation: v_π(s) = Σ_a π(a|s) Σ_s' P(s'|s,a) (R + γ v_π(s')), with
 * v(s') = 0 after a terminating transition, iterated until it changes by
 * less than 1e-12. The policy is either stochastic, pi (S×A, rows sum to 1),
 * or deterministic, actions (S); pass one, the other NULL. gamma in [0, 1].
 * Fills v (S); returns the sweeps taken, or -1 (bad input, or no
 * convergence in 10^6 sweeps: with γ = 1 a policy that never ends). */
int sd_mdp_evaluate(const sd_mdp *m, const double *pi, const int *actions, double gamma, double *v);
/* Value iteration: v*(s) = max_a Σ_s' P(s'|s,a) (R + γ v*(s')). Fills v (S)
 * and, if policy is not NULL, a greedy optimal policy (ties: lowest action).
 * Returns the sweeps taken, or -1. */
int sd_mdp_value_iteration(const sd_mdp *m, double gamma, double *v, int *policy);
/* Expected total (undiscounted) reward from the start state within `horizon`
 * steps, by dynamic programming over the remaining steps: for FrozenLake the
 * exact probability of reaching the goal before the time limit. policy NULL:
 * the best any policy can do (it may depend on the steps left). */
double sd_mdp_horizon_value(const sd_mdp *m, const int *policy, int horizon);

/* ---- Tabular Q-learning -------------------------------------------------- */

typedef struct sd_qlearn_opts {
    int episodes;              /* 0 -> 20000 */
    float alpha, alpha_end;    /* α decays linearly from alpha to alpha_end: 0 -> 0.1, alpha */
    float gamma;               /* 0 -> 0.99 */
    float eps_start, eps_end;  /* ε decays linearly from eps_start to eps_end: 0 -> 1, 0.01 */
    float eps_fraction;        /* ... over this fraction of the episodes: 0 -> 0.5 */
    uint64_t seed;             /* the agent's RNG, and the environment's first reset */
} sd_qlearn_opts;

typedef struct sd_qlearn_result {
    int episodes;
    long env_steps;
    double train_s;
} sd_qlearn_result;

/* The lecture's update: Q(s,a) ← (1−α) Q(s,a) + α (r + γ max_a' Q(s',a')),
 * without the max term when the step terminated (truncation bootstraps). */
void sd_qlearn_update(double *Q, int n_actions, int s, int a, double r, int s2, int terminated,
                      double alpha, double gamma);
/* Learn Q (n_states × n_actions, row-major, zero-initialised here) on a
 * tabular environment with ε-greedy actions (greedy ties broken at random).
 * r may be NULL. */
int sd_qlearn(sd_env *env, const sd_qlearn_opts *opts, double *Q, sd_qlearn_result *r);
/* The same one episode at a time (a trainer's step; sd_qlearn is a loop of
 * these): sd_qlearn_begin checks the options, applies their defaults, zeroes
 * Q and seeds the agent's RNG; each sd_qlearn_episode runs the next episode
 * and returns 0, 1 when every episode is done (none run), or -1. */
typedef struct sd_qlearn_state {
    sd_qlearn_opts o;          /* the options with their defaults */
    sd_rng rng;
    int episode;               /* episodes done */
    long env_steps;
} sd_qlearn_state;
typedef struct sd_qlearn_episode_info {
    double ret;                /* the episode's return (undiscounted) */
    double epsilon, alpha;     /* the ε and α it ran with */
    int steps;
} sd_qlearn_episode_info;
int sd_qlearn_begin(sd_env *env, const sd_qlearn_opts *opts, double *Q, sd_qlearn_state *st);
int sd_qlearn_episode(sd_env *env, sd_qlearn_state *st, double *Q, sd_qlearn_episode_info *ep);   /* ep may be NULL */
/* A learned Q-table as a safetensors file: tensor "q" (F64, n_states ×
 * n_actions), metadata shendu.kind "q-table", rl.env (the environment's name)
 * and rl.slippery (sd_env_opts.slippery as it was made). */
int sd_qtable_save(const char *path, const sd_env *env, int slippery, const double *Q);
/* Read one back: env_name (size bytes), *slippery, and Q (at most max_n
 * values; *n_states × *n_actions of them). Errors name the file and what is
 * wrong with it. */
int sd_qtable_load(const char *path, char *env_name, size_t size, int *slippery, double *Q, int max_n,
                   int *n_states, int *n_actions);
/* policy[s] = argmax_a Q(s,a), ties to the lowest action. */
void sd_q_greedy(const double *Q, int n_states, int n_actions, int *policy);

typedef struct sd_policy_eval {
    int episodes;
    double success_rate;       /* fraction ending in info.goal_state */
    double mean_return;
} sd_policy_eval;
/* Run a deterministic tabular policy for `episodes` episodes, the first reset
 * seeded with `seed`. Without a step limit, episodes are cut at 10,000 steps. */
int sd_policy_run(sd_env *env, const int *policy, int episodes, int64_t seed, sd_policy_eval *out);

/* ---- Replay memory ---------------------------------------------------------- */

/* A ring of the last `capacity` transitions (s, a, r, s', terminated). */
typedef struct sd_replay sd_replay;
typedef struct sd_replay_batch {
    int n;
    float *obs, *next_obs;     /* n × obs_dim */
    int32_t *action;           /* n */
    float *reward, *done;      /* n; done = 1 if the transition terminated */
} sd_replay_batch;

sd_replay *sd_replay_new(int capacity, int obs_dim);
void       sd_replay_free(sd_replay *b);             /* NULL-safe */
/* Overwrites the oldest transition once full. */
void       sd_replay_add(sd_replay *b, const float *obs, int action, float reward, const float *next_obs,
                         int terminated);
int        sd_replay_size(const sd_replay *b);       /* transitions held, <= capacity */
/* n transitions drawn uniformly with replacement into out's arrays (the
 * caller's, sized for n). -1 if the memory is empty. */
int        sd_replay_sample(const sd_replay *b, sd_rng *rng, int n, sd_replay_batch *out);

/* The memory's own arrays, for checkpoints: `capacity` rows each; rows
 * [0, size) hold transitions and the next one goes to row pos. */
typedef struct sd_replay_view {
    int capacity, obs_dim, size, pos;
    float *obs, *next_obs;     /* capacity × obs_dim */
    int32_t *action;           /* capacity */
    float *reward, *done;      /* capacity */
} sd_replay_view;
void       sd_replay_get_view(sd_replay *b, sd_replay_view *out);
/* After rows [0, size) were written through the view: set how many are held
 * and where the next goes. size must be in [0, capacity], pos == size while
 * not full (else in [0, capacity)), every done 0 or 1; -1 and nothing
 * changes otherwise. */
int        sd_replay_set_position(sd_replay *b, int size, int pos);

/* ---- Deep Q-Learning -------------------------------------------------------- */

typedef struct sd_dqn_opts {
    const char *hidden;        /* hidden layers; the output linear(n_actions) is added. NULL: "linear(120) relu linear(84) relu" */
    long total_steps;          /* env steps at most: 0 -> 500000 */
    int buffer_size;           /* replay capacity: 0 -> 10000 */
    int batch;                 /* 0 -> 128 */
    float lr;                  /* Adam: 0 -> 2.5e-4 */
    float gamma;               /* 0 -> 0.99 */
    long learning_starts;      /* first update after this many steps: 0 -> 10000 (-1: at once) */
    int train_freq;            /* an update every N env steps: 0 -> 10 */
    int gradient_steps;        /* updates each time: 0 -> 1 */
    int target_freq;           /* target refresh every K env steps: 0 -> 500 */
    float tau;                 /* refresh = hard copy if 1 (or 0: default), else target ← τ·online + (1−τ)·target */
    float eps_start, eps_end;  /* ε-greedy, linear: 0 -> 1, 0.05 */
    long eps_decay_steps;      /* ... over this many env steps: 0 -> 250000 */
    int huber;                 /* loss: 0 = MSE, 1 = Huber (smooth L1, δ = 1) */
    float max_grad_norm;       /* clip the gradient's global L2 norm: 0 = no clipping */
    int double_dqn;            /* Double DQN: a' chosen by the online network, valued by the target */
    float lr_end;              /* Adam lr decays linearly to lr_end over total_steps: 0 = constant */
    int solve_window;          /* "solved" = mean return of the last N episodes >= the threshold: 0 -> 100 */
    double solve_threshold;    /* NAN or 0 -> the environment's reward_threshold */
    int no_stop;               /* keep training after solving */
    uint64_t seed;             /* weights, ε-greedy, sampling; the environment's first reset */
} sd_dqn_opts;

/* The named recipes: "cleanrl" (CleanRL's dqn.py defaults, the reference),
 * "cartpole" and "acrobot" (shendu's own, tuned for speed). Fills every
 * field but seed; -1 if the name is unknown. */
int sd_dqn_recipe(const char *name, sd_dqn_opts *o);

typedef struct sd_dqn_progress {
    long step;                 /* env steps so far */
    int episode;               /* episodes finished */
    double episode_return;     /* of the episode that just ended */
    double avg_return;         /* over the last solve_window episodes (fewer at first) */
    float epsilon;
    double steps_per_s;
    int solved;
} sd_dqn_progress;

typedef struct sd_dqn_result {
    int solved;
    long solved_at_step;       /* -1 if not solved */
    double solved_wall_s;
    long env_steps, updates;
    int episodes;
    double avg_return;         /* last solve_window episodes */
    double env_steps_per_s;
    double wall_s;
} sd_dqn_result;

typedef struct sd_dqn sd_dqn;
/* An agent for observations of obs_dim floats and n_actions actions; the
 * context gives the threads for the updates. */
sd_dqn *sd_dqn_new(sd_ctx *ctx, int obs_dim, int n_actions, const sd_dqn_opts *opts);
void    sd_dqn_free(sd_dqn *d);                       /* NULL-safe */
/* Train on env (whose sizes must match) until solved or total_steps.
 * on_episode (may be NULL) is called after every episode. The loop's state
 * lives in the agent: a new agent starts (the environment's first reset is
 * seeded with opts.seed); one restored from a checkpoint, or stopped by a
 * hook, goes on from where it stands; a finished one returns its result. */
int     sd_dqn_train(sd_dqn *d, sd_env *env, sd_dqn_result *r,
                     void (*on_episode)(const sd_dqn_progress *p, void *user), void *user);

typedef struct sd_dqn_hooks {
    void (*on_episode)(const sd_dqn_progress *p, void *user);   /* after every episode */
    /* After every env step and its updates, `step` steps done: the agent's
     * state is whole (a checkpoint may be written). Return 0 to go on, 1 to
     * stop (sd_dqn_run returns 1), -1 for an error. */
    int (*on_step)(sd_dqn *d, const sd_env *env, long step, void *user);
    /* Polled between two updates of one env step (there may be thousands: a
     * stop must not wait for them); when it returns non-zero, on_step is called
     * there at once with the same `step`: the updates still due are part of the
     * agent's state (a checkpoint saves them, a resume does them first). */
    int (*interrupted)(void *user);
    void *user;
} sd_dqn_hooks;
/* sd_dqn_train with hooks (h may be NULL). Returns 0 when the run is
 * finished (solved and stopped, or total_steps), 1 when on_step stopped it, -1. */
int     sd_dqn_run(sd_dqn *d, sd_env *env, sd_dqn_result *r, const sd_dqn_hooks *h);
long    sd_dqn_steps(const sd_dqn *d);                /* env steps done */
/* One update from a sampled batch (the train loop calls this); returns the loss, NAN on error. */
float   sd_dqn_update(sd_dqn *d);
/* Refresh the target network: hard copy (τ = 1) or soft update. */
void    sd_dqn_sync_target(sd_dqn *d, float tau);
int     sd_dqn_act(sd_dqn *d, const float *obs);     /* greedy action */
sd_model   *sd_dqn_model(sd_dqn *d);                  /* the online Q network */
sd_model   *sd_dqn_target(sd_dqn *d);
sd_replay  *sd_dqn_replay(sd_dqn *d);
const sd_dqn_opts *sd_dqn_options(const sd_dqn *d);   /* with defaults filled in */

/* Agent files: the Q network (sd_model_save) with metadata rl.env,
 * rl.obs_dim, rl.n_actions, rl.algo and the hyper-parameters. */
int       sd_dqn_save(sd_dqn *d, const sd_env *env, const char *path);
/* Load an agent for env: a clear error if the file is not an agent, or is
 * one for another environment. */
sd_model *sd_agent_load(const char *path, const sd_env *env);
/* Checkpoints: an agent file (sd_agent_load and `rl play` take it) with
 * "shendu.format": "checkpoint", "shendu.rl.algo": "dqn" and everything
 * training needs to go on bit-identically: the optimizer, the target network,
 * the agent's and the environment's RNGs and state, the observation in hand,
 * the counters, the returns of the last solve_window episodes and the replay
 * memory (tensors "shendu.rl.replay.*", its first `size` rows). meta (may be
 * NULL) adds the caller's metadata (keys "shendu.*": the run's configuration).
 * Written atomically. */
int sd_dqn_checkpoint_save(sd_dqn *d, const sd_env *env, const char *path, const sd_st_kv *meta, int nmeta);
/* Restore an agent made with the checkpoint's options (same networks, replay
 * capacity, solve_window) and its environment. Every size is checked against
 * the agent before anything is copied; an error names the file and what was
 * wrong. After an error the agent and env are in an undefined state: free them. */
int sd_dqn_checkpoint_restore(sd_dqn *d, sd_env *env, const char *path);

/* Greedy action of a Q network for one observation (g is reset first). */
int       sd_agent_act(sd_graph *g, sd_model *q, const float *obs);

#ifdef __cplusplus
}
#endif
#endif
