/* DQN checkpoints: everything sd_dqn_run needs to go on bit-identically,
 * in one safetensors file that is also an agent file.
 *
 *   the online network       its parameters, under their own names (the model part)
 *   shendu.optim.*           Adam's moments and step count (sd_checkpoint_save)
 *   shendu.rl.target         F32 [P]   the target network's flat parameter buffer
 *   shendu.rl.rng            U64 [4]   the agent's RNG (ε-greedy, sampling)
 *   shendu.rl.env.rng        U64 [4]   the environment's RNG
 *   shendu.rl.env.state      F64 [4]   its exact state (sd_env_get_state)
 *   shendu.rl.obs            F32 [D]   the observation the next step acts on
 *   shendu.rl.window         F64 [W]   returns of the last W episodes (a ring)
 *   shendu.rl.sums           F64 [5]   this episode's return so far, window sum, average, seconds
 *                                      trained, seconds when solved
 *   shendu.rl.counters       I64 [N_COUNT]  see the enum below
 *   shendu.rl.replay.obs     F32 [n, D]  the replay memory's first n rows (n = its size)
 *   shendu.rl.replay.next_obs F32 [n, D], .action I32 [n], .reward F32 [n], .done F32 [n]
 *
 * A restore checks every size against the agent (made from the stored
 * configuration) before copying: the counters first, then each tensor's dtype
 * and shape, then the values that index something (actions, positions). */
#include "rl/dqn_impl.h"
#include "shendu/io.h"
#include "shendu/optim.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>

enum {
    C_STEP, C_EPISODES, C_UPDATES, C_SOLVED, C_SOLVED_AT, C_FINISHED, C_STARTED,
    C_ENV_ELAPSED, C_ENV_RUNNING, C_ENV_SEEDED, C_ENV_LAST_ACTION, C_REPLAY_SIZE, C_REPLAY_POS, N_COUNT
};
enum { S_EP_RET, S_WINDOW_SUM, S_AVG, S_WALL, S_SOLVED_WALL, N_SUMS };

#define MAX_META 64

int sd_dqn_checkpoint_save(sd_dqn *d, const sd_env *env, const char *path, const sd_st_kv *meta, int nmeta)
{
    if (nmeta < 0 || nmeta > MAX_META - 2) return sd_error("%s: too much checkpoint metadata", path);
    if (sd_dqn_set_agent_meta(d, env)) return -1;
    sd_env_saved es;
    sd_env_snapshot(env, &es);
    sd_replay_view rv;
    sd_replay_get_view(d->mem, &rv);
    const int64_t D = d->obs_dim, n = rv.size;
    int64_t count[N_COUNT] = {
        [C_STEP] = d->step, [C_EPISODES] = d->res.episodes, [C_UPDATES] = d->res.updates,
        [C_SOLVED] = d->res.solved, [C_SOLVED_AT] = d->res.solved_at_step, [C_FINISHED] = d->finished,
        [C_STARTED] = d->started, [C_ENV_ELAPSED] = es.elapsed, [C_ENV_RUNNING] = es.running,
        [C_ENV_SEEDED] = es.seeded, [C_ENV_LAST_ACTION] = es.last_action, [C_REPLAY_SIZE] = rv.size,
        [C_REPLAY_POS] = rv.pos,
    };
    double sums[N_SUMS] = { [S_EP_RET] = d->ep_ret, [S_WINDOW_SUM] = d->window_sum, [S_AVG] = d->res.avg_return,
                            [S_WALL] = d->wall_before + (d->t_run > 0 ? sd_time_now() - d->t_run : 0.0), [S_SOLVED_WALL] = d->res.solved_wall_s };
    sd_params *T = sd_model_params(d->target);
    sd_st_tensor t[] = {
        { .name = "shendu.rl.target", .dtype = SD_F32, .ndim = 1, .shape = { (int64_t)sd_params_size(T) },
          .data = sd_params_values(T) },
        sd_checkpoint_rng_tensor("shendu.rl.rng", &d->rng),
        sd_checkpoint_rng_tensor("shendu.rl.env.rng", &es.rng),
        { .name = "shendu.rl.env.state", .dtype = SD_F64, .ndim = 1, .shape = { 4 }, .data = es.state },
        { .name = "shendu.rl.obs", .dtype = SD_F32, .ndim = 1, .shape = { D }, .data = d->obs },
        { .name = "shendu.rl.window", .dtype = SD_F64, .ndim = 1, .shape = { d->o.solve_window }, .data = d->window },
        { .name = "shendu.rl.sums", .dtype = SD_F64, .ndim = 1, .shape = { N_SUMS }, .data = sums },
        { .name = "shendu.rl.counters", .dtype = SD_I64, .ndim = 1, .shape = { N_COUNT }, .data = count },
        { .name = "shendu.rl.replay.obs", .dtype = SD_F32, .ndim = 2, .shape = { n, D }, .data = rv.obs },
        { .name = "shendu.rl.replay.next_obs", .dtype = SD_F32, .ndim = 2, .shape = { n, D }, .data = rv.next_obs },
        { .name = "shendu.rl.replay.action", .dtype = SD_I32, .ndim = 1, .shape = { n }, .data = rv.action },
        { .name = "shendu.rl.replay.reward", .dtype = SD_F32, .ndim = 1, .shape = { n }, .data = rv.reward },
        { .name = "shendu.rl.replay.done", .dtype = SD_F32, .ndim = 1, .shape = { n }, .data = rv.done },
    };
    sd_st_kv kv[MAX_META];
    int nk = 0;
    kv[nk++] = (sd_st_kv){ "shendu.rl.algo", "dqn" };
    char pending[32];
    if (d->pending > 0) {   /* stopped between two updates of env step `step` */
        snprintf(pending, sizeof pending, "%d", d->pending);
        kv[nk++] = (sd_st_kv){ "shendu.rl.pending_updates", pending };
    }
    kv[nk++] = (sd_st_kv){ "shendu.kind", sd_kind_name(SD_FILE_DQN_CKPT) };
    for (int i = 0; i < nmeta; i++) kv[nk++] = meta[i];
    return sd_checkpoint_save(path, d->q, d->opt, t, (int)(sizeof t / sizeof t[0]), kv, nk);
}

/* A whole-string decimal in [0, max] into *out; -1 if it is not one. */
static int parse_count(const char *v, long max, long *out)
{
    char *end;
    errno = 0;
    long x = strtol(v, &end, 10);
    if (!*v || *end || errno || x < 0 || x > max) return -1;
    *out = x;
    return 0;
}

static int restore(sd_dqn *d, sd_env *env, const sd_st_file *f)
{
    const sd_env_info *in = sd_env_get_info(env);
    const char *name = sd_st_meta(f, "rl.env");
    if (!name || strcmp(name, in->name))
        return sd_error("a checkpoint for '%s', not for '%s'", name ? name : "(none)", in->name);

    /* The counters first: they size the replay tensors. */
    int64_t c[N_COUNT], one = N_COUNT;
    if (sd_checkpoint_read(f, "shendu.rl.counters", SD_I64, 1, &one, c)) return -1;
    sd_replay_view rv;
    sd_replay_get_view(d->mem, &rv);
    const sd_dqn_opts *o = &d->o;
    if (c[C_STEP] < 0 || c[C_STEP] > o->total_steps || c[C_EPISODES] < 0 || c[C_EPISODES] > c[C_STEP] ||
        c[C_UPDATES] < 0 || (c[C_SOLVED] != 0 && c[C_SOLVED] != 1) || (c[C_FINISHED] != 0 && c[C_FINISHED] != 1) ||
        (c[C_STARTED] != 0 && c[C_STARTED] != 1) ||
        (c[C_SOLVED] ? c[C_SOLVED_AT] < 1 || c[C_SOLVED_AT] > c[C_STEP] : c[C_SOLVED_AT] != -1))
        return sd_error("bad training counters (step %lld of %ld, %lld episodes, %lld updates)", (long long)c[C_STEP],
                        o->total_steps, (long long)c[C_EPISODES], (long long)c[C_UPDATES]);
    if (c[C_REPLAY_SIZE] < 0 || c[C_REPLAY_SIZE] > rv.capacity ||
        c[C_REPLAY_POS] < 0 || c[C_REPLAY_POS] >= rv.capacity)
        return sd_error("the replay memory holds %lld transitions (next at %lld), but this run's holds at most %d",
                        (long long)c[C_REPLAY_SIZE], (long long)c[C_REPLAY_POS], rv.capacity);
    for (int k = C_ENV_ELAPSED; k <= C_ENV_LAST_ACTION; k++)
        if (c[k] < -1 || c[k] > (int64_t)1 << 30) return sd_error("bad environment counters");

    const int64_t n = c[C_REPLAY_SIZE], D = d->obs_dim, W = o->solve_window, four = 4, nsums = N_SUMS;
    const int64_t shape2[2] = { n, D }, P = (int64_t)sd_params_size(sd_model_params(d->target));
    sd_env_saved es = { 0 };
    double sums[N_SUMS];
    if (sd_checkpoint_read_params(f, sd_model_params(d->q)) ||
        sd_checkpoint_read_params(f, sd_model_state(d->q)) ||
        sd_checkpoint_restore_optim(f, d->opt) ||
        sd_checkpoint_read(f, "shendu.rl.target", SD_F32, 1, &P, sd_params_values(sd_model_params(d->target))) ||
        sd_checkpoint_read_rng(f, "shendu.rl.rng", &d->rng) ||
        sd_checkpoint_read_rng(f, "shendu.rl.env.rng", &es.rng) ||
        sd_checkpoint_read(f, "shendu.rl.env.state", SD_F64, 1, &four, es.state) ||
        sd_checkpoint_read(f, "shendu.rl.obs", SD_F32, 1, &D, d->obs) ||
        sd_checkpoint_read(f, "shendu.rl.window", SD_F64, 1, &W, d->window) ||
        sd_checkpoint_read(f, "shendu.rl.sums", SD_F64, 1, &nsums, sums) ||
        sd_checkpoint_read(f, "shendu.rl.replay.obs", SD_F32, 2, shape2, rv.obs) ||
        sd_checkpoint_read(f, "shendu.rl.replay.next_obs", SD_F32, 2, shape2, rv.next_obs) ||
        sd_checkpoint_read(f, "shendu.rl.replay.action", SD_I32, 1, &n, rv.action) ||
        sd_checkpoint_read(f, "shendu.rl.replay.reward", SD_F32, 1, &n, rv.reward) ||
        sd_checkpoint_read(f, "shendu.rl.replay.done", SD_F32, 1, &n, rv.done))
        return -1;
    for (int64_t i = 0; i < n; i++)
        if (rv.action[i] < 0 || rv.action[i] >= d->n_actions)
            return sd_error("replay transition %lld has action %d; %s has %d actions", (long long)i,
                            (int)rv.action[i], in->name, d->n_actions);
    if (sd_replay_set_position(d->mem, (int)n, (int)c[C_REPLAY_POS])) return -1;
    es.elapsed = (int32_t)c[C_ENV_ELAPSED];
    es.running = (int32_t)c[C_ENV_RUNNING];
    es.seeded = (int32_t)c[C_ENV_SEEDED];
    es.last_action = (int32_t)c[C_ENV_LAST_ACTION];
    if (sd_env_restore(env, &es)) return -1;
    if (c[C_STARTED] && !c[C_FINISHED] && !es.running)
        return sd_error("the environment has no episode running in an unfinished run");
    for (int i = 0; i < N_SUMS; i++)
        if (!isfinite(sums[i])) return sd_error("shendu.rl.sums[%d] is not finite", i);
    long pending = 0;
    const char *pv = sd_st_meta(f, "shendu.rl.pending_updates");
    if (pv && (parse_count(pv, o->gradient_steps, &pending) || pending < 1 || c[C_FINISHED]))
        return sd_error("bad shendu.rl.pending_updates '%s' (updates due at the step, at most --gradient-steps %d)",
                        pv, o->gradient_steps);
    d->pending = (int)pending;
    d->step = (long)c[C_STEP];
    d->res = (sd_dqn_result){ .solved = (int)c[C_SOLVED], .solved_at_step = (long)c[C_SOLVED_AT],
                              .updates = (long)c[C_UPDATES], .episodes = (int)c[C_EPISODES],
                              .avg_return = sums[S_AVG], .solved_wall_s = sums[S_SOLVED_WALL] };
    d->finished = (int)c[C_FINISHED];
    d->started = (int)c[C_STARTED];
    d->ep_ret = sums[S_EP_RET];
    d->window_sum = sums[S_WINDOW_SUM];
    d->wall_before = sums[S_WALL];
    return 0;
}

int sd_dqn_checkpoint_restore(sd_dqn *d, sd_env *env, const char *path)
{
    sd_st_file *f = sd_st_open(path);
    if (!f) return -1;
    const char *fmt = sd_st_meta(f, "shendu.format"), *algo = sd_st_meta(f, "shendu.rl.algo");
    int rc;
    if (!fmt || strcmp(fmt, "checkpoint") || !algo || strcmp(algo, "dqn"))
        rc = sd_error("%s: not a checkpoint of `shendu rl dqn` (write one with --checkpoint FILE)", path);
    else if ((rc = restore(d, env, f)))
        sd_error_prefix("%s", path);
    sd_st_close(f);
    return rc;
}
