/* Tabular Q-learning, as in the lecture:
 *     Q_new(s,a) = (1−α) Q(s,a) + α (r + γ max_a' Q(s',a'))
 * with ε-greedy exploration (greedy ties broken at random while learning);
 * ε and α both decay linearly over the episodes. */
#include "shendu/rl.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void sd_qlearn_update(double *Q, int n_actions, int s, int a, double r, int s2, int terminated,
                      double alpha, double gamma)
{
    double target = r;
    if (!terminated) {
        const double *q2 = Q + (size_t)s2 * n_actions;
        double best = q2[0];
        for (int b = 1; b < n_actions; b++) if (q2[b] > best) best = q2[b];
        target += gamma * best;
    }
    double *q = Q + (size_t)s * n_actions + a;
    *q = (1.0 - alpha) * *q + alpha * target;
}

static int argmax(const double *q, int n)
{
    int best = 0;
    for (int a = 1; a < n; a++) if (q[a] > q[best]) best = a;
    return best;
}

/* Argmax with ties broken at random (Sutton & Barto's rule): with Q = 0 at
 * the start, always taking the lowest tied action would walk into walls. */
static int argmax_ties_random(const double *q, int n, sd_rng *rng)
{
    int best = 0, ties = 1;
    for (int a = 1; a < n; a++) {
        if (q[a] > q[best]) { best = a; ties = 1; }
        else if (q[a] == q[best]) ties++;
    }
    if (ties == 1) return best;
    int k = (int)sd_rng_below(rng, (uint32_t)ties);
    for (int a = 0; a < n; a++)
        if (q[a] == q[best] && k-- == 0) return a;
    return best;
}

void sd_q_greedy(const double *Q, int n_states, int n_actions, int *policy)
{
    for (int s = 0; s < n_states; s++) policy[s] = argmax(Q + (size_t)s * n_actions, n_actions);
}

static sd_qlearn_opts with_defaults(const sd_qlearn_opts *opts)
{
    sd_qlearn_opts o = opts ? *opts : (sd_qlearn_opts){ 0 };
    if (o.episodes == 0) o.episodes = 20000;
    if (o.alpha == 0.0f) o.alpha = 0.1f;
    if (o.alpha_end == 0.0f) o.alpha_end = o.alpha;
    if (o.gamma == 0.0f) o.gamma = 0.99f;
    if (o.eps_start == 0.0f) o.eps_start = 1.0f;
    if (o.eps_end == 0.0f) o.eps_end = 0.01f;
    if (o.eps_fraction == 0.0f) o.eps_fraction = 0.5f;
    return o;
}

int sd_qlearn_begin(sd_env *env, const sd_qlearn_opts *opts, double *Q, sd_qlearn_state *st)
{
    const sd_env_info *in = sd_env_get_info(env);
    if (!in->n_states) return sd_error("%s: tabular Q-learning needs discrete states (use DQN)", in->name);
    sd_qlearn_opts o = with_defaults(opts);
    if (o.episodes < 1 || !(o.alpha > 0 && o.alpha <= 1) || !(o.alpha_end > 0 && o.alpha_end <= 1) ||
        !(o.gamma > 0 && o.gamma <= 1) || !(o.eps_start >= 0 && o.eps_start <= 1) ||
        !(o.eps_end >= 0 && o.eps_end <= 1) || !(o.eps_fraction > 0 && o.eps_fraction <= 1))
        return sd_error("qlearn: bad options (episodes %d, alpha %g..%g, gamma %g, epsilon %g..%g over %g)",
                        o.episodes, o.alpha, o.alpha_end, o.gamma, o.eps_start, o.eps_end, o.eps_fraction);
    memset(Q, 0, (size_t)in->n_states * in->n_actions * sizeof *Q);
    *st = (sd_qlearn_state){ .o = o };
    sd_rng_seed(&st->rng, o.seed);
    return 0;
}

int sd_qlearn_episode(sd_env *env, sd_qlearn_state *st, double *Q, sd_qlearn_episode_info *ep)
{
    const sd_qlearn_opts *o = &st->o;
    if (st->episode >= o->episodes) return 1;
    const int A = sd_env_get_info(env)->n_actions, e = st->episode;
    const double decay = o->eps_fraction * o->episodes;
    double eps = o->eps_start + (o->eps_end - o->eps_start) * fmin(1.0, e / decay);
    double alpha = o->alpha + (o->alpha_end - o->alpha) * (o->episodes > 1 ? (double)e / (o->episodes - 1) : 0.0);
    float obs;
    if (sd_env_reset(env, e == 0 ? (int64_t)(o->seed & 0x7fffffffffffffffull) : SD_ENV_NO_SEED, &obs)) return -1;
    int s = (int)obs, steps = 0;
    double ret = 0.0;
    for (;;) {
        int a = sd_rng_uniform(&st->rng) < eps ? (int)sd_rng_below(&st->rng, (uint32_t)A)
                                               : argmax_ties_random(Q + (size_t)s * A, A, &st->rng);
        sd_env_result r;
        if (sd_env_step(env, a, &obs, &r)) return -1;
        int s2 = (int)obs;
        sd_qlearn_update(Q, A, s, a, r.reward, s2, r.terminated, alpha, o->gamma);
        ret += r.reward;
        steps++;
        s = s2;
        if (r.terminated || r.truncated) break;
    }
    st->episode++;
    st->env_steps += steps;
    if (ep) *ep = (sd_qlearn_episode_info){ ret, eps, alpha, steps };
    return 0;
}

int sd_qlearn(sd_env *env, const sd_qlearn_opts *opts, double *Q, sd_qlearn_result *res)
{
    sd_qlearn_state st;
    if (sd_qlearn_begin(env, opts, Q, &st)) return -1;
    double t0 = sd_time_now();
    int rc;
    while ((rc = sd_qlearn_episode(env, &st, Q, NULL)) == 0) {}
    if (rc < 0) return -1;
    if (res) *res = (sd_qlearn_result){ st.o.episodes, st.env_steps, sd_time_now() - t0 };
    return 0;
}

#define UNLIMITED_CUT 10000

int sd_policy_run(sd_env *env, const int *policy, int episodes, int64_t seed, sd_policy_eval *out)
{
    const sd_env_info *in = sd_env_get_info(env);
    if (!in->n_states) return sd_error("%s: a table policy needs discrete states", in->name);
    if (episodes < 1) return sd_error("policy run: %d episodes", episodes);
    long wins = 0;
    double total = 0.0;
    for (int e = 0; e < episodes; e++) {
        float obs;
        if (sd_env_reset(env, e == 0 ? seed : SD_ENV_NO_SEED, &obs)) return -1;
        double ret = 0.0;
        for (int t = 0; t < UNLIMITED_CUT || in->max_steps; t++) {
            sd_env_result r;
            if (sd_env_step(env, policy[(int)obs], &obs, &r)) return -1;
            ret += r.reward;
            if (r.terminated) wins += (int)obs == in->goal_state;
            if (r.terminated || r.truncated) break;
        }
        total += ret;
    }
    *out = (sd_policy_eval){ episodes, (double)wins / episodes, total / episodes };
    return 0;
}

/* ---- The Q-table file */

int sd_qtable_save(const char *path, const sd_env *env, int slippery, const double *Q)
{
    const sd_env_info *in = sd_env_get_info(env);
    if (!in->n_states) return sd_error("%s: a Q-table needs discrete states", in->name);
    char slip[16];
    snprintf(slip, sizeof slip, "%d", slippery);
    const sd_st_tensor t = { .name = "q", .dtype = SD_F64, .ndim = 2, .shape = { in->n_states, in->n_actions },
                             .data = Q };
    const sd_st_kv meta[] = { { "shendu.kind", sd_kind_name(SD_FILE_QTABLE) }, { "rl.env", in->name },
                              { "rl.slippery", slip }, { "rl.algo", "qlearn" } };
    return sd_st_save(path, &t, 1, meta, 4);
}

int sd_qtable_load(const char *path, char *env_name, size_t size, int *slippery, double *Q, int max_n,
                   int *n_states, int *n_actions)
{
    if (sd_file_expect_kind(path, SD_KIND_BIT(SD_FILE_QTABLE), "a Q-table")) return -1;
    sd_st_file *f = sd_st_open(path);
    if (!f) return -1;
    int rc = -1, i = sd_st_find(f, "q");
    const char *env = sd_st_meta(f, "rl.env"), *slip = sd_st_meta(f, "rl.slippery");
    sd_st_tensor t;
    if (i >= 0) sd_st_get(f, i, &t);
    if (!env || !slip || (strcmp(slip, "-1") && strcmp(slip, "0") && strcmp(slip, "1")))
        sd_error("%s: a Q-table without rl.env and rl.slippery (-1, 0 or 1) in its metadata", path);
    else if (i < 0 || t.dtype != SD_F64 || t.ndim != 2 || t.shape[0] < 1 || t.shape[1] < 1 ||
             t.shape[0] * t.shape[1] > max_n)
        sd_error("%s: no tensor \"q\" of F64 [states, actions] (at most %d values)", path, max_n);
    else {
        snprintf(env_name, size, "%s", env);
        *slippery = atoi(slip);
        *n_states = (int)t.shape[0];
        *n_actions = (int)t.shape[1];
        memcpy(Q, t.data, (size_t)(t.shape[0] * t.shape[1]) * sizeof *Q);
        rc = 0;
    }
    sd_st_close(f);
    return rc;
}
