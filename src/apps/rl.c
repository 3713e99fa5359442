#define _POSIX_C_SOURCE 200809L
/* Reinforcement learning: what `shendu rl solve | qlearn | dqn | play` run. */
#include "apps.h"

#include <math.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define MAX_OBS 16   /* observation floats of the continuous environments (Acrobot: 6) */

/* ---- Showing grid worlds */

static int is_frozenlake(const sd_env_info *in) { return !strncmp(in->name, "frozenlake", 10); }

/* "Left" -> ←, and so on. */
static const char *arrow(const char *action)
{
    if (!strcmp(action, "Left")) return "\u2190";
    if (!strcmp(action, "Up")) return "\u2191";
    if (!strcmp(action, "Right")) return "\u2192";
    if (!strcmp(action, "Down")) return "\u2193";
    return "?";
}

/* Tiles where nothing is decided: holes, cliffs, the goal. */
static int is_end_tile(char t) { return t == 'H' || t == 'G' || t == 'C'; }

static void print_policy(FILE *f, const sd_env_info *in, const int *policy, const char *indent)
{
    for (int r = 0; r < in->grid_rows; r++) {
        fputs(indent, f);
        for (int c = 0; c < in->grid_cols; c++) {
            char t = in->grid[r][c];
            if (is_end_tile(t)) fprintf(f, " %c", t);
            else fprintf(f, " %s", arrow(in->action_names[policy[r * in->grid_cols + c]]));
        }
        fputc('\n', f);
    }
}

static void print_values(FILE *f, const sd_env_info *in, const double *v, const char *indent)
{
    const char *fmt = is_frozenlake(in) ? " %5.3f" : " %6.1f";
    for (int r = 0; r < in->grid_rows; r++) {
        fputs(indent, f);
        for (int c = 0; c < in->grid_cols; c++) fprintf(f, fmt, v[r * in->grid_cols + c]);
        fputc('\n', f);
    }
}

static void policy_letters(const sd_env_info *in, const int *policy, char *out)
{
    for (int s = 0; s < in->n_states; s++) out[s] = in->action_names[policy[s]][0];
    out[in->n_states] = 0;
}

static void describe(FILE *f, const sd_env *env, int slippery)
{
    const sd_env_info *in = sd_env_get_info(env);
    fprintf(f, "%s", in->gym_id);
    if (is_frozenlake(in)) fprintf(f, " (%s)", slippery >= 0 ? "slippery" : "not slippery");
    if (in->max_steps) fprintf(f, ", %d-step limit", in->max_steps);
}

/* The horizon for exact success probabilities: the step limit, or 1000 steps. */
static int horizon(const sd_env_info *in) { return in->max_steps ? in->max_steps : 1000; }

static sd_env *tabular_env(const char *name, int slippery)
{
    sd_env *env = sd_env_new(name, &(sd_env_opts){ .slippery = slippery });
    if (env && !sd_env_get_info(env)->n_states) {
        sd_error("%s has continuous states: 'rl solve' and 'rl qlearn' need frozenlake, frozenlake8 or "
                 "cliffwalking (use 'rl dqn')", name);
        sd_env_free(env);
        return NULL;
    }
    return env;
}

/* ---- rl solve */

int sd_app_rl_solve(const sd_rl_solve_opts *o, sd_rl_solve_result *r, FILE *f)
{
    sd_env *env = tabular_env(o->env, o->slippery);
    if (!env) return -1;
    const sd_env_info *in = sd_env_get_info(env);
    sd_mdp *m = sd_mdp_from_env(env);
    int S = in->n_states, A = in->n_actions, rc = -1;
    double *pi = malloc((size_t)S * A * sizeof *pi), vr[SD_RL_MAX_STATES];
    if (!m || !pi || S > SD_RL_MAX_STATES) goto done;
    memset(r, 0, sizeof *r);
    r->env = in->name;
    r->gamma = o->gamma;
    r->n_states = S;
    r->success_metric = is_frozenlake(in);
    for (int i = 0; i < S * A; i++) pi[i] = 1.0 / A;
    int sweeps_random = sd_mdp_evaluate(m, pi, NULL, o->gamma, vr);
    if (sweeps_random < 0) goto done;
    r->sweeps = sd_mdp_value_iteration(m, o->gamma, r->values, r->policy);
    if (r->sweeps < 0) goto done;
    r->start_value = r->values[in->start_state];
    r->random_start_value = vr[in->start_state];
    r->policy_exact = sd_mdp_horizon_value(m, r->policy, horizon(in));
    r->optimum_exact = sd_mdp_horizon_value(m, NULL, horizon(in));
    policy_letters(in, r->policy, r->policy_str);

    describe(f, env, o->slippery);
    fprintf(f, ", gamma %g\n\n", o->gamma);
    fprintf(f, "policy evaluation, uniform random policy: v_pi(s) = sum_s' P(s,s') (R + gamma v_pi(s'))  [%d sweeps]\n",
            sweeps_random);
    print_values(f, in, vr, "  ");
    fprintf(f, "\nvalue iteration: optimal values v*(s)  [%d sweeps]\n", r->sweeps);
    print_values(f, in, r->values, "  ");
    fprintf(f, "\noptimal policy (greedy in v*):\n");
    print_policy(f, in, r->policy, "  ");
    const char *what = r->success_metric ? "success probability" : "return";
    fprintf(f, "\nexact %s within %d steps: this policy %.4f, best possible %.4f\n", what, horizon(in),
            r->policy_exact, r->optimum_exact);
    rc = 0;
done:
    free(pi);
    sd_mdp_free(m);
    sd_env_free(env);
    return rc;
}

/* ---- rl qlearn */

int sd_rl_qlearn_defaults(const char *env, sd_qlearn_opts *q)
{
    uint64_t seed = q->seed;
    if (!strcmp(env, "frozenlake"))
        *q = (sd_qlearn_opts){ .episodes = 20000, .alpha = 0.1f, .alpha_end = 0.01f, .gamma = 0.99f,
                               .eps_start = 1.0f, .eps_end = 0.01f, .eps_fraction = 0.5f };
    else if (!strcmp(env, "frozenlake8"))
        *q = (sd_qlearn_opts){ .episodes = 100000, .alpha = 0.1f, .alpha_end = 0.01f, .gamma = 0.995f,
                               .eps_start = 1.0f, .eps_end = 0.01f, .eps_fraction = 0.5f };
    else if (!strcmp(env, "cliffwalking"))
        *q = (sd_qlearn_opts){ .episodes = 500, .alpha = 0.5f, .alpha_end = 0.1f, .gamma = 0.99f,
                               .eps_start = 1.0f, .eps_end = 0.01f, .eps_fraction = 0.5f };
    else
        *q = (sd_qlearn_opts){ 0 };
    q->seed = seed;
    return 0;
}

/* The log's config line (not a checkpoint: a Q-learning run has none). */
#define F(key, kind, field, ...) { key, kind, offsetof(sd_rl_qlearn_opts, field), __VA_ARGS__ }
static const sd_config_field qlearn_log_fields[] = {
    F("env", SD_CFG_STR, env, 0, 0, NULL, ""),
    F("episodes", SD_CFG_INT, q.episodes, 1, 1e8),
    F("alpha", SD_CFG_FLOAT, q.alpha, 0, 1),
    F("alpha-end", SD_CFG_FLOAT, q.alpha_end, 0, 1),
    F("gamma", SD_CFG_FLOAT, q.gamma, 0, 1),
    F("eps-start", SD_CFG_FLOAT, q.eps_start, 0, 1),
    F("eps-end", SD_CFG_FLOAT, q.eps_end, 0, 1),
    F("seed", SD_CFG_U64, q.seed),
    F("eval", SD_CFG_INT, eval_episodes, 1, 1e8),
    F("slippery", SD_CFG_INT, slippery, -1, 1),   /* FrozenLake: -1 not slippery, 0 the default (slippery) */
    { 0 }
};
#undef F

/* A Q-learning run on sd_trainer_run: one episode per step, one epoch; its
 * end is the greedy policy's evaluation. */
typedef struct qlearn_run {
    sd_env *env;
    const sd_rl_qlearn_opts *o;
    sd_qlearn_state st;
    double *Q;
    int *policy;
    sd_policy_eval ev;
    double train_s;
} qlearn_run;

enum { QK_RETURN, QK_EPSILON, QK_LR, QK_EVAL_RETURN, QK_EVAL_SUCCESS };
static const char *const qlearn_log_keys[] = { "return", "epsilon", "lr", "eval_return", "eval_success", NULL };

static int qlearn_step(void *user, sd_trainer_io *io)
{
    qlearn_run *q = user;
    sd_qlearn_episode_info ep;
    int rc = sd_qlearn_episode(q->env, &q->st, q->Q, &ep);
    if (rc) return rc;
    io->stop = io->want_stop;
    io->items = ep.steps;
    io->values[QK_RETURN] = ep.ret;
    io->values[QK_EPSILON] = ep.epsilon;
    io->values[QK_LR] = ep.alpha;
    return 0;
}

static int qlearn_epoch_end(void *user, int epoch, double *values)
{
    (void)epoch;
    qlearn_run *q = user;
    q->train_s = sd_time_now() - q->train_s;
    const sd_env_info *in = sd_env_get_info(q->env);
    sd_q_greedy(q->Q, in->n_states, in->n_actions, q->policy);
    if (sd_policy_run(q->env, q->policy, q->o->eval_episodes, (int64_t)(q->o->q.seed + 1000003) & 0x7fffffffffffffffll,
                      &q->ev))
        return -1;
    values[QK_EVAL_RETURN] = q->ev.mean_return;
    if (in->goal_state >= 0) values[QK_EVAL_SUCCESS] = q->ev.success_rate;
    return 0;
}

static void qlearn_where(void *user, char *buf, size_t size)
{
    snprintf(buf, size, "episode %d", ((qlearn_run *)user)->st.episode);
}

int sd_app_rl_qlearn(const sd_rl_qlearn_opts *o, sd_rl_qlearn_result *r, FILE *f)
{
    const sd_path_use uses[] = { { o->out, SD_PATH_OUTPUT, "--out" }, { o->track.log, SD_PATH_APPEND, "--log" } };
    if (sd_app_check_paths(NULL, uses, 2)) return -1;   /* before any work */
    sd_env *env = tabular_env(o->env, o->slippery);
    if (!env) return -1;
    const sd_env_info *in = sd_env_get_info(env);
    int S = in->n_states, A = in->n_actions, rc = -1, policy[SD_RL_MAX_STATES];
    double *Q = malloc((size_t)S * A * sizeof *Q), v[SD_RL_MAX_STATES];
    sd_mdp *m = sd_mdp_from_env(env);
    sd_trainer *tr = NULL;
    qlearn_run q = { .env = env, .o = o, .Q = Q, .policy = policy };
    if (!Q || !m || S > SD_RL_MAX_STATES) goto done;
    memset(r, 0, sizeof *r);
    double t0 = sd_time_now();
    if (sd_qlearn_begin(env, &o->q, Q, &q.st)) goto done;
    sd_rl_qlearn_opts shown = *o;   /* the log's config line: the settings in force */
    shown.q = q.st.o;
    const int episodes = q.st.o.episodes, every = episodes / 200 > 0 ? episodes / 200 : 1;
    if (!(tr = sd_trainer_new(&(sd_trainer_opts){ .unit = "env_step", .keys = qlearn_log_keys, .total_steps = episodes,
                                                  .steps_per_epoch = episodes, .epochs = 1, .flags = o->track,
                                                  .default_log_every = every, .out = o->out, .cmd = "rl qlearn",
                                                  .config = qlearn_log_fields, .config_opts = &shown, .log = f })))
        goto done;
    q.train_s = sd_time_now();
    if (sd_trainer_run(tr, &(sd_trainer_hooks){ .user = &q, .step = qlearn_step, .epoch_end = qlearn_epoch_end,
                                                .where = qlearn_where }, 1))
        goto done;
    for (int s = 0; s < S; s++) {
        v[s] = Q[(size_t)s * A];
        for (int a = 1; a < A; a++) if (Q[(size_t)s * A + a] > v[s]) v[s] = Q[(size_t)s * A + a];
    }
    const sd_policy_eval ev = q.ev;
    r->env = in->name;
    r->episodes = q.st.episode;
    r->env_steps = q.st.env_steps;
    r->train_s = q.train_s;
    r->success_rate = ev.success_rate;
    r->mean_return = ev.mean_return;
    r->eval_episodes = ev.episodes;
    r->success_metric = is_frozenlake(in);
    r->policy_exact = sd_mdp_horizon_value(m, policy, horizon(in));
    r->optimum_exact = sd_mdp_horizon_value(m, NULL, horizon(in));
    policy_letters(in, policy, r->policy_str);
    r->wall_s = sd_time_now() - t0;

    describe(f, env, o->slippery);
    fprintf(f, ": Q-learning, %d episodes, %ld env steps in %.3f s (%.2fM steps/s)\n", r->episodes, r->env_steps,
            r->train_s, r->env_steps / (r->train_s + 1e-12) / 1e6);
    fprintf(f, "\ngreedy policy, argmax_a Q(s,a):\n");
    print_policy(f, in, policy, "  ");
    fprintf(f, "\nits values, max_a Q(s,a):\n");
    print_values(f, in, v, "  ");
    fprintf(f, "\ngreedy policy over %d episodes: success rate %.4f, mean return %.3f\n", ev.episodes,
            ev.success_rate, ev.mean_return);
    const char *what = r->success_metric ? "success probability" : "return";
    fprintf(f, "exact %s within %d steps: %.4f; the best possible is %.4f", what, horizon(in), r->policy_exact,
            r->optimum_exact);
    if (r->success_metric && r->optimum_exact > 0)
        fprintf(f, " (%.1f%% of it)", 100.0 * r->policy_exact / r->optimum_exact);
    fputc('\n', f);
    if (o->out) {
        if (sd_qtable_save(o->out, env, o->slippery, Q)) goto done;
        fprintf(f, "Q-table written to %s\n", o->out);
    }
    rc = sd_trainer_finish(tr, f);
    tr = NULL;
done:
    sd_trainer_free(tr);
    free(Q);
    sd_mdp_free(m);
    sd_env_free(env);
    return rc;
}

/* ---- rl dqn */

typedef struct progress_state {
    const sd_rl_dqn_opts *o;
    FILE *f;
    long next_log;
    double last_live;
    int stopped;               /* stopped by a signal (the checkpoint is written) */
    sd_trainer *tr;            /* metric log, plain progress lines */
    int episodes;              /* finished so far */
} progress_state;

/* After every env step: a checkpoint every checkpoint_every steps, and a
 * stop request honoured with a final one. */
static int on_step(sd_dqn *d, const sd_env *env, long step, void *user)
{
    progress_state *ps = user;
    const sd_rl_dqn_opts *o = ps->o;
    const int stopping = (o->stop && *o->stop) || (o->stop_after > 0 && step == o->stop_after);
    if (sd_trainer_checkpoint_due(ps->tr, step, stopping) && sd_rl_dqn_checkpoint_save(o, d, env, ps->next_log))
        return -1;
    ps->stopped = stopping;
    if (sd_trainer_step(ps->tr, step, ps->episodes + 1, 1, (const double[]){ NAN, NAN, NAN, NAN })) return -1;
    return stopping;
}

/* Between two updates of one env step: a stop was asked (see on_step). */
static int interrupted(void *user)
{
    const progress_state *ps = user;
    return ps->o->stop && *ps->o->stop;
}

static void on_episode(const sd_dqn_progress *p, void *user)
{
    progress_state *ps = user;
    ps->episodes = p->episode;
    /* an episode's record (a failed write shows at the end: sd_trainer_finish) */
    sd_trainer_epoch(ps->tr, p->step, p->episode, (const double[]){ p->episode_return, p->avg_return, p->epsilon, NAN });
    if (ps->o->live_progress) {
        double now = sd_time_now();
        if (now - ps->last_live > 0.1 || p->solved) {
            fprintf(stderr, "\r  episode %5d  step %7ld  return %7.1f  avg100 %7.1f  eps %.3f  %6.0f steps/s ",
                    p->episode, p->step, p->episode_return, p->avg_return, p->epsilon, p->steps_per_s);
            fflush(stderr);
            ps->last_live = now;
        }
    }
    if (p->step >= ps->next_log || p->solved) {
        if (ps->o->live_progress) fprintf(stderr, "\r%100s\r", "");
        fprintf(ps->f, "episode %5d  step %7ld  return %7.1f  avg100 %7.1f  eps %.3f  %6.0f steps/s%s\n",
                p->episode, p->step, p->episode_return, p->avg_return, p->epsilon, p->steps_per_s,
                p->solved ? "  solved" : "");
        fflush(ps->f);
        while (ps->next_log <= p->step) ps->next_log += ps->o->log_steps;
    }
}

int sd_app_rl_dqn(const sd_rl_dqn_opts *o, sd_rl_dqn_result *r, FILE *f)
{
    const sd_path_use uses[] = { { o->resume, SD_PATH_RESUME, "--resume" }, { o->out, SD_PATH_OUTPUT, "--out" },
                                 { o->checkpoint, SD_PATH_CHECKPOINT, "--checkpoint" },
                                 { o->track.log, SD_PATH_APPEND, "--log" } };
    if (sd_app_check_paths(NULL, uses, 4)) return -1;   /* before any work */
    int rc = -1;
    sd_env *env = sd_env_new(o->env, NULL), *eval_env = sd_env_new(o->env, NULL);
    sd_ctx *ctx = sd_ctx_new(&(sd_ctx_opts){ .threads = o->threads });
    sd_dqn *d = NULL;
    sd_trainer *tr = NULL;
    if (!env || !eval_env || !ctx) goto done;
    const sd_env_info *in = sd_env_get_info(env);
    if (in->n_states || in->obs_dim > MAX_OBS) {
        sd_error("%s is tabular: use 'rl qlearn' (DQN here is for cartpole and acrobot)", in->name);
        goto done;
    }
    d = sd_dqn_new(ctx, in->obs_dim, in->n_actions, &o->dqn);
    if (!d) goto done;
    const sd_dqn_opts *dq = sd_dqn_options(d);
    fprintf(f, "%s: DQN (%s), network %d-[%s]-%d, %d threads; lr %g, batch %d, replay %d, gamma %g, "
               "target %s every %d steps, epsilon %g->%g over %ld steps, %s loss%s%s\n",
            in->gym_id, o->recipe, in->obs_dim, dq->hidden, in->n_actions, sd_ctx_threads(ctx), dq->lr, dq->batch,
            dq->buffer_size, dq->gamma, dq->tau >= 1 ? "copy" : "soft update", dq->target_freq, dq->eps_start,
            dq->eps_end, dq->eps_decay_steps, dq->huber ? "Huber" : "MSE", dq->double_dqn ? ", Double DQN" : "",
            dq->max_grad_norm > 0 ? ", clipped gradients" : "");
    progress_state ps = { o, f, o->log_steps, 0.0, 0 };
    if (o->resume) {
        if (sd_dqn_checkpoint_restore(d, env, o->resume)) goto done;
        long nl = sd_rl_dqn_checkpoint_next_log(o->resume);
        if (nl > 0) ps.next_log = nl;
        fprintf(f, "resuming %s at env step %ld\n", o->resume, sd_dqn_steps(d));
    }
    static const char *const log_keys[] = { "return", "avg_return", "epsilon", "eval_return", NULL };
    if (!(ps.tr = tr = sd_trainer_new(&(sd_trainer_opts){ .unit = "step", .keys = log_keys, .total_steps = dq->total_steps,
                                                          .flags = o->track, .default_log_every = 1000,
                                                          .live = o->live_progress, .out = o->out,
                                                          .resume_step = o->resume ? sd_dqn_steps(d) : 0,
                                                          .cmd = "rl dqn", .config = sd_rl_dqn_config_fields,
                                                          .config_opts = o, .log = f, .checkpoint = o->checkpoint,
                                                          .checkpoint_every = o->checkpoint_every,
                                                          .hint = (const char *const[]){ "out", o->out }, .nhint = 2 })))
        goto done;
    memset(r, 0, sizeof *r);
    int ran = sd_dqn_run(d, env, &r->train, &(sd_dqn_hooks){ .on_episode = on_episode, .on_step = on_step,
                                                             .interrupted = interrupted, .user = &ps });
    if (o->live_progress) fprintf(stderr, "\r%100s\r", "");
    if (ran < 0) goto done;
    if (ran == 1) {
        char where[64];
        snprintf(where, sizeof where, "env step %ld", sd_dqn_steps(d));
        sd_trainer_stopped(tr, where);
        rc = SD_STOPPED;
        goto done;
    }
    /* the final state: a finished run's checkpoint resumes to the same figures */
    if (o->checkpoint && sd_rl_dqn_checkpoint_save(o, d, env, ps.next_log)) goto done;
    if (r->train.solved)
        fprintf(f, "solved at env step %ld (%d episodes, average return of the last %d: %.1f) in %.2f s\n",
                r->train.solved_at_step, r->train.episodes, dq->solve_window, r->train.avg_return,
                r->train.solved_wall_s);
    else
        fprintf(f, "not solved in %ld env steps (average return of the last %d episodes: %.1f, threshold %g)\n",
                r->train.env_steps, dq->solve_window, r->train.avg_return, in->reward_threshold);
    /* Greedy evaluation on a separate environment. */
    float obs[MAX_OBS];
    double total = 0.0;
    for (int e = 0; e < o->eval_episodes; e++) {
        if (o->stop && *o->stop) {   /* the finished run's checkpoint is written: resuming it evaluates again */
            char where[96];
            snprintf(where, sizeof where, "env step %ld, in the greedy evaluation (episode %d of %d)", sd_dqn_steps(d),
                     e + 1, o->eval_episodes);
            sd_trainer_stopped(tr, where);
            rc = SD_STOPPED;
            goto done;
        }
        if (sd_env_reset(eval_env, e == 0 ? (int64_t)((o->dqn.seed + 1000003) & 0x7fffffffffffffffull)
                                          : SD_ENV_NO_SEED, obs)) goto done;
        for (;;) {
            sd_env_result er;
            int a = sd_dqn_act(d, obs);
            if (a < 0 || sd_env_step(eval_env, a, obs, &er)) goto done;
            total += er.reward;
            if (er.terminated || er.truncated) break;
        }
    }
    r->eval_return = o->eval_episodes ? total / o->eval_episodes : NAN;
    fprintf(f, "greedy evaluation: mean return %.1f over %d episodes; %.0f env steps/s, %.2f s in all\n",
            r->eval_return, o->eval_episodes, r->train.env_steps_per_s, r->train.wall_s);
    if (o->out) {
        if (sd_dqn_save(d, env, o->out)) goto done;
        fprintf(f, "agent written to %s\n", o->out);
    }
    if (sd_trainer_epoch(tr, sd_dqn_steps(d), r->train.episodes, (const double[]){ NAN, NAN, NAN, r->eval_return }))
        goto done;
    rc = sd_trainer_finish(tr, f);
    tr = NULL;
done:
    sd_trainer_free(tr);
    sd_dqn_free(d);
    sd_ctx_free(ctx);
    sd_env_free(env);
    sd_env_free(eval_env);
    return rc;
}

/* ---- rl play */

int sd_app_rl_play(const sd_rl_play_opts *o, sd_rl_play_result *r, FILE *f)
{
    int rc = -1;
    sd_env *env = sd_env_new(o->env, NULL);
    sd_ctx *ctx = sd_ctx_new(&(sd_ctx_opts){ .threads = 1 });
    sd_graph *g = ctx ? sd_graph_new(ctx) : NULL;
    sd_model *q = NULL;
    if (!env || !g) goto done;
    if (sd_env_get_info(env)->n_states || sd_env_get_info(env)->obs_dim > MAX_OBS) {
        sd_error("%s is tabular: 'rl play' runs DQN agents (cartpole, acrobot)", sd_env_get_info(env)->name);
        goto done;
    }
    if (!(q = sd_agent_load(o->path, env))) goto done;
    float obs[MAX_OBS];
    char frame[4096];
    memset(r, 0, sizeof *r);
    struct timespec pause = { o->delay_ms / 1000, (long)(o->delay_ms % 1000) * 1000000L };
    for (int e = 0; e < o->episodes; e++) {
        if (sd_env_reset(env, e == 0 ? (int64_t)(o->seed & 0x7fffffffffffffffull) : SD_ENV_NO_SEED, obs)) goto done;
        double ret = 0.0;
        int steps = 0, ended = 0;
        for (;;) {
            if (o->render) {
                sd_env_render(env, frame, sizeof frame);
                if (o->clear) fputs("\033[H\033[2J", f);
                fprintf(f, "episode %d/%d  return %.0f\n%s%s", e + 1, o->episodes, ret, frame, o->clear ? "" : "\n");
                fflush(f);
                if (o->delay_ms > 0) nanosleep(&pause, NULL);
            }
            if (ended || (o->max_steps > 0 && steps >= o->max_steps)) break;
            sd_env_result er;
            int a = sd_agent_act(g, q, obs);
            if (a < 0 || sd_env_step(env, a, obs, &er)) goto done;
            ret += er.reward;
            steps++;
            ended = er.terminated || er.truncated;
        }
        fprintf(f, "episode %d: return %.1f after %d steps%s\n", e + 1, ret, steps,
                !ended ? " (stopped by --steps)" : sd_env_elapsed(env) >= sd_env_get_info(env)->max_steps
                                                       ? " (time limit)" : " (terminated)");
        if (r->episodes < SD_RL_MAX_PLAY) r->returns[r->episodes] = ret;
        r->episodes++;
        r->mean_return += ret;
        r->steps += steps;
    }
    r->mean_return /= o->episodes;
    rc = 0;
done:
    sd_model_free(q);
    sd_graph_free(g);
    sd_ctx_free(ctx);
    sd_env_free(env);
    return rc;
}
