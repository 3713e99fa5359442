#define _POSIX_C_SOURCE 200809L
/* Deep Q-Learning, as the lecture draws it:
 *   1. act ε-greedily with the Q network and store (s, a, r, s') in a replay memory;
 *   2. sample a batch; the target network (a copy of Q) gives q' for s';
 *   3. train Q on L = (r + γ max_a' q' − q_a)² (or its Huber form);
 *   4. every K steps copy Q into the target network again.
 * Options add what practice adds: Double DQN (a' chosen by Q, valued by the
 * target), soft target updates, gradient clipping, a decaying learning rate.
 *
 * All memory is taken in sd_dqn_new and on the first update (the graph
 * arena); the training loop itself allocates nothing. The target network is a
 * second model with the same layout, so a hard refresh is one memcpy of the
 * flat parameter buffer and a soft one is one pass over it. */
#include "rl/dqn_impl.h"
#include "shendu/io.h"
#include "shendu/optim.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>


/* ---- Options and recipes */

int sd_dqn_recipe(const char *name, sd_dqn_opts *o)
{
    uint64_t seed = o->seed;
    if (!strcmp(name, "cleanrl")) {
        /* CleanRL's dqn.py defaults (../shared/bench-ref/dqn.py). */
        *o = (sd_dqn_opts){
            .hidden = "linear(120) relu linear(84) relu", .total_steps = 500000, .buffer_size = 10000,
            .batch = 128, .lr = 2.5e-4f, .gamma = 0.99f, .learning_starts = 10000, .train_freq = 10,
            .gradient_steps = 1, .target_freq = 500, .tau = 1.0f, .eps_start = 1.0f, .eps_end = 0.05f,
            .eps_decay_steps = 250000, .solve_window = 100,
        };
    } else if (!strcmp(name, "cartpole")) {
        /* shendu's own: CleanRL's structure with a smaller network, half as
         * many updates on twice the batch, a higher learning rate and a
         * faster exploration decay. Env steps are cheap here and updates are
         * not, so this spends them where they count: seeds 1-10 all solve,
         * at 141k-270k env steps, with at most 13k updates. */
        *o = (sd_dqn_opts){
            .hidden = "linear(64) relu linear(64) relu", .total_steps = 500000, .buffer_size = 10000,
            .batch = 128, .lr = 5e-4f, .gamma = 0.99f, .learning_starts = 10000, .train_freq = 20,
            .gradient_steps = 1, .target_freq = 500, .tau = 1.0f, .eps_start = 1.0f, .eps_end = 0.05f,
            .eps_decay_steps = 120000, .solve_window = 100,
        };
    } else if (!strcmp(name, "acrobot")) {
        /* The same idea for Acrobot, whose rewards come sooner: faster
         * exploration decay, an update every 10 steps, Double DQN. */
        *o = (sd_dqn_opts){
            .hidden = "linear(64) relu linear(64) relu", .total_steps = 500000, .buffer_size = 10000,
            .batch = 128, .lr = 5e-4f, .gamma = 0.99f, .learning_starts = 10000, .train_freq = 10,
            .gradient_steps = 1, .target_freq = 500, .tau = 1.0f, .eps_start = 1.0f, .eps_end = 0.02f,
            .eps_decay_steps = 40000, .double_dqn = 1, .solve_window = 100,
        };
    } else {
        return sd_error("unknown DQN recipe '%s' (expected cleanrl, cartpole or acrobot)", name);
    }
    o->seed = seed;
    return 0;
}

static int with_defaults(const sd_dqn_opts *opts, sd_dqn_opts *out)
{
    sd_dqn_opts o = opts ? *opts : (sd_dqn_opts){ 0 };
    if (!o.hidden) o.hidden = "linear(120) relu linear(84) relu";
    if (!o.total_steps) o.total_steps = 500000;
    if (!o.buffer_size) o.buffer_size = 10000;
    if (!o.batch) o.batch = 128;
    if (o.lr == 0.0f) o.lr = 2.5e-4f;
    if (o.gamma == 0.0f) o.gamma = 0.99f;
    if (!o.learning_starts) o.learning_starts = 10000;
    if (!o.train_freq) o.train_freq = 10;
    if (!o.gradient_steps) o.gradient_steps = 1;
    if (!o.target_freq) o.target_freq = 500;
    if (o.tau == 0.0f) o.tau = 1.0f;
    if (o.eps_start == 0.0f && o.eps_end == 0.0f) { o.eps_start = 1.0f; o.eps_end = 0.05f; }
    if (!o.eps_decay_steps) o.eps_decay_steps = 250000;
    if (!o.solve_window) o.solve_window = 100;
    if (o.total_steps < 1 || o.buffer_size < 1 || o.batch < 1 || !(o.lr > 0) || !(o.gamma > 0 && o.gamma <= 1) ||
        o.learning_starts < -1 || o.train_freq < 1 || o.gradient_steps < 1 || o.target_freq < 1 ||
        !(o.tau > 0 && o.tau <= 1) || !(o.eps_start >= 0 && o.eps_start <= 1) || !(o.eps_end >= 0 && o.eps_end <= 1) ||
        o.eps_decay_steps < 1 || o.max_grad_norm < 0 || o.lr_end < 0 || o.solve_window < 1)
        return sd_error("dqn: bad options (steps %ld, buffer %d, batch %d, lr %g, gamma %g, learning starts %ld, "
                        "train every %d, target every %d, tau %g, epsilon %g..%g over %ld)",
                        o.total_steps, o.buffer_size, o.batch, o.lr, o.gamma, o.learning_starts, o.train_freq,
                        o.target_freq, o.tau, o.eps_start, o.eps_end, o.eps_decay_steps);
    *out = o;
    return 0;
}

/* ---- The agent */

sd_dqn *sd_dqn_new(sd_ctx *ctx, int obs_dim, int n_actions, const sd_dqn_opts *opts)
{
    if (!ctx || obs_dim < 1 || n_actions < 1) {
        sd_error("sd_dqn_new: %s", ctx ? "bad observation or action count" : "NULL context");
        return NULL;
    }
    sd_dqn *d = calloc(1, sizeof *d);
    if (!d) { sd_error("out of memory allocating a DQN agent"); return NULL; }
    if (with_defaults(opts, &d->o)) { free(d); return NULL; }
    d->ctx = ctx;
    d->obs_dim = obs_dim;
    d->n_actions = n_actions;
    d->res.solved_at_step = -1;
    sd_rng_seed(&d->rng, d->o.seed);

    char arch[512];
    if ((size_t)snprintf(arch, sizeof arch, "%s linear(%d)", d->o.hidden, n_actions) >= sizeof arch) {
        sd_error("dqn: the hidden layers' description is too long");
        goto fail;
    }
    d->q = sd_model_new(arch, SD_SHAPE(obs_dim), SD_INIT_DEFAULT, &d->rng);
    if (!d->q) { sd_error_prefix("dqn: hidden layers '%s'", d->o.hidden); goto fail; }
    sd_shape out = sd_model_output_shape(d->q);
    if (out.ndim != 1 || out.d[0] != n_actions) { sd_error("dqn: the network must end in a flat layer"); goto fail; }
    /* a training step on a batch (the target network's forward is smaller) */
    if (sd_model_check_memory(d->q, d->o.batch, 1, 0)) { sd_error_prefix("dqn: batch %d", d->o.batch); goto fail; }
    sd_rng dummy = d->rng;
    d->target = sd_model_new(arch, SD_SHAPE(obs_dim), SD_INIT_DEFAULT, &dummy);
    if (!d->target || sd_params_copy(sd_model_params(d->target), sd_model_params(d->q))) goto fail;
    d->opt = sd_optim_new(sd_model_params(d->q), &(sd_optim_opts){ .kind = SD_OPTIM_ADAM, .lr = d->o.lr });
    d->mem = sd_replay_new(d->o.buffer_size, obs_dim);
    d->g = sd_graph_new(ctx);
    d->ga = sd_graph_new(ctx);
    if (!d->opt || !d->mem || !d->g || !d->ga) goto fail;
    size_t B = (size_t)d->o.batch, D = (size_t)obs_dim;
    d->batch.obs = malloc(B * D * sizeof(float));
    d->batch.next_obs = malloc(B * D * sizeof(float));
    d->batch.action = malloc(B * sizeof(int32_t));
    d->batch.reward = malloc(B * sizeof(float));
    d->batch.done = malloc(B * sizeof(float));
    d->y = malloc(B * sizeof(float));
    d->obs = malloc(D * sizeof(float));
    d->next = malloc(D * sizeof(float));
    d->window = calloc((size_t)d->o.solve_window, sizeof(double));
    if (!d->batch.obs || !d->batch.next_obs || !d->batch.action || !d->batch.reward || !d->batch.done || !d->y ||
        !d->obs || !d->next || !d->window) {
        sd_error("out of memory allocating a DQN agent");
        goto fail;
    }
    return d;
fail:
    sd_dqn_free(d);
    return NULL;
}

void sd_dqn_free(sd_dqn *d)
{
    if (!d) return;
    sd_model_free(d->q);
    sd_model_free(d->target);
    sd_optim_free(d->opt);
    sd_replay_free(d->mem);
    sd_graph_free(d->g);
    sd_graph_free(d->ga);
    free(d->batch.obs);
    free(d->batch.next_obs);
    free(d->batch.action);
    free(d->batch.reward);
    free(d->batch.done);
    free(d->y);
    free(d->obs);
    free(d->next);
    free(d->window);
    free(d);
}

sd_model *sd_dqn_model(sd_dqn *d) { return d->q; }
sd_model *sd_dqn_target(sd_dqn *d) { return d->target; }
sd_replay *sd_dqn_replay(sd_dqn *d) { return d->mem; }
const sd_dqn_opts *sd_dqn_options(const sd_dqn *d) { return &d->o; }

static int argmax_row(const float *q, int n)
{
    int best = 0;
    for (int a = 1; a < n; a++) if (q[a] > q[best]) best = a;
    return best;
}

int sd_agent_act(sd_graph *g, sd_model *q, const float *obs)
{
    sd_graph_reset(g);
    sd_graph_set_grad(g, 0);
    sd_shape in = sd_model_input_shape(q);
    sd_tensor *out = sd_model_forward(g, q, sd_input(g, obs, SD_SHAPE(1, in.d[0])));
    if (!out) return -1;
    return argmax_row(out->data, (int)out->n);
}

int sd_dqn_act(sd_dqn *d, const float *obs) { return sd_agent_act(d->ga, d->q, obs); }

void sd_dqn_sync_target(sd_dqn *d, float tau)
{
    sd_params *T = sd_model_params(d->target), *Q = sd_model_params(d->q);
    if (tau >= 1.0f) sd_params_copy(T, Q);
    else sd_params_ema(T, Q, 1.0f - tau);   /* Polyak: T = (1 - tau) T + tau Q */
}

float sd_dqn_update(sd_dqn *d)
{
    const int B = d->o.batch, D = d->obs_dim, A = d->n_actions;
    sd_replay_batch *b = &d->batch;
    if (sd_replay_sample(d->mem, &d->rng, B, b)) return NAN;
    sd_graph *g = d->g;
    sd_graph_reset(g);

    /* Targets y = r + γ (1 − done) q'(s', a'), no gradient. */
    sd_graph_set_grad(g, 0);
    sd_tensor *s2 = sd_input(g, b->next_obs, SD_SHAPE(B, D));
    sd_tensor *qt = sd_model_forward(g, d->target, s2);
    sd_tensor *qo = d->o.double_dqn ? sd_model_forward(g, d->q, s2) : qt;
    if (!qt || !qo) return NAN;
    for (int i = 0; i < B; i++) {
        const float *row = qt->data + (size_t)i * A;
        float v = row[argmax_row(qo->data + (size_t)i * A, A)];
        d->y[i] = b->reward[i] + d->o.gamma * (1.0f - b->done[i]) * v;
    }

    /* L = mean (y − Q(s, a))², or the Huber form. */
    sd_graph_set_grad(g, 1);
    sd_tensor *qa = sd_pick(g, sd_model_forward(g, d->q, sd_input(g, b->obs, SD_SHAPE(B, D))), b->action);
    sd_tensor *y = sd_input(g, d->y, SD_SHAPE(B));
    sd_tensor *loss = d->o.huber ? sd_huber(g, qa, y, 1.0f) : sd_mse(g, qa, y);
    sd_params *P = sd_model_params(d->q);
    sd_params_zero_grad(P);
    if (sd_backward(g, loss)) return NAN;
    if (d->o.max_grad_norm > 0) sd_params_clip_grad_norm(P, d->o.max_grad_norm);
    sd_optim_step(d->opt);
    return loss->data[0];
}

/* ---- Training */

long sd_dqn_steps(const sd_dqn *d) { return d->step; }

int sd_dqn_run(sd_dqn *d, sd_env *env, sd_dqn_result *res, const sd_dqn_hooks *h)
{
    const sd_env_info *in = sd_env_get_info(env);
    if (in->obs_dim != d->obs_dim || in->n_actions != d->n_actions)
        return sd_error("dqn: the agent is for %d observations and %d actions, %s has %d and %d", d->obs_dim,
                        d->n_actions, in->name, in->obs_dim, in->n_actions);
    const sd_dqn_hooks none = { 0 };
    if (!h) h = &none;
    const sd_dqn_opts *o = &d->o;
    double threshold = isnan(o->solve_threshold) || o->solve_threshold == 0.0 ? in->reward_threshold
                                                                             : o->solve_threshold;
    const int W = o->solve_window;
    sd_dqn_result *r = &d->res;
    const double t0 = sd_time_now();
    const long step0 = d->step;
    d->t_run = t0;
    float *obs = d->obs, *next = d->next;
    if (!d->started) {
        if (sd_env_reset(env, (int64_t)(o->seed & 0x7fffffffffffffffull), obs)) return -1;
        d->started = 1;
    }
    int rc = 0;
    while (!d->finished && d->step < o->total_steps) {
        const long step = d->step;
        float eps = o->eps_start + (o->eps_end - o->eps_start) * (float)fmin(1.0, (double)step / o->eps_decay_steps);
        if (!d->pending) {   /* else a resumed run goes on with the updates still due at this step */
            int a = sd_rng_uniform(&d->rng) < eps ? (int)sd_rng_below(&d->rng, (uint32_t)d->n_actions)
                                                  : sd_dqn_act(d, obs);
            if (a < 0) return -1;
            sd_env_result er;
            if (sd_env_step(env, a, next, &er)) return -1;
            /* Truncation is not terminal: s' is the real last observation and bootstraps. */
            sd_replay_add(d->mem, obs, a, er.reward, next, er.terminated);
            d->ep_ret += er.reward;
            if (er.terminated || er.truncated) {
                int slot = r->episodes % W;
                d->window_sum += d->ep_ret - (r->episodes >= W ? d->window[slot] : 0.0);
                d->window[slot] = d->ep_ret;
                r->episodes++;
                int n = r->episodes < W ? r->episodes : W;
                r->avg_return = d->window_sum / n;
                if (!r->solved && r->episodes >= W && r->avg_return >= threshold) {
                    r->solved = 1;
                    r->solved_at_step = step + 1;
                    r->solved_wall_s = d->wall_before + sd_time_now() - t0;
                }
                if (h->on_episode) {
                    double now = sd_time_now();
                    sd_dqn_progress p = { step + 1, r->episodes, d->ep_ret, r->avg_return, eps,
                                          (step + 1 - step0) / (now - t0 + 1e-9), r->solved };
                    h->on_episode(&p, h->user);
                }
                d->ep_ret = 0.0;
                if (r->solved && !o->no_stop) {
                    d->step++;
                    d->finished = 1;
                    break;
                }
                if (sd_env_reset(env, SD_ENV_NO_SEED, obs)) return -1;
            } else {
                memcpy(obs, next, (size_t)d->obs_dim * sizeof(float));
            }
            if (step > o->learning_starts && step % o->train_freq == 0) d->pending = o->gradient_steps;
        }
        if (d->pending > 0 && o->lr_end > 0)
            sd_optim_set_lr(d->opt, o->lr + (o->lr_end - o->lr) * (float)step / (float)o->total_steps);
        while (d->pending > 0) {
            if (isnan(sd_dqn_update(d))) return -1;
            r->updates++;
            d->pending--;
            /* a stop asked between two updates: the hook may checkpoint now (the
             * updates still due are part of the state) rather than after all of them */
            if (d->pending > 0 && h->interrupted && h->interrupted(h->user) && h->on_step) {
                int s = h->on_step(d, env, d->step, h->user);
                if (s < 0) return -1;
                if (s > 0) { rc = 1; goto out; }
            }
        }
        if (step > o->learning_starts && step % o->target_freq == 0) sd_dqn_sync_target(d, o->tau);
        d->step++;
        if (h->on_step) {
            int s = h->on_step(d, env, d->step, h->user);
            if (s < 0) return -1;
            if (s > 0) { rc = 1; break; }
        }
    }
out:
    if (d->step >= o->total_steps) d->finished = 1;
    const double wall = d->wall_before + sd_time_now() - t0;
    d->wall_before = wall;
    d->t_run = 0;
    r->env_steps = d->step;
    r->wall_s = wall;
    r->env_steps_per_s = d->step / (wall + 1e-9);
    if (res) *res = *r;
    return rc;
}

int sd_dqn_train(sd_dqn *d, sd_env *env, sd_dqn_result *r,
                 void (*on_episode)(const sd_dqn_progress *p, void *user), void *user)
{
    return sd_dqn_run(d, env, r, &(sd_dqn_hooks){ .on_episode = on_episode, .user = user });
}

/* ---- Agent files */

int sd_dqn_set_agent_meta(sd_dqn *d, const sd_env *env)
{
    const sd_env_info *in = sd_env_get_info(env);
    const sd_dqn_opts *o = &d->o;
    char v[16][64];
    snprintf(v[0], 64, "%d", d->obs_dim);
    snprintf(v[1], 64, "%d", d->n_actions);
    snprintf(v[2], 64, "%g", o->gamma);
    snprintf(v[3], 64, "%g", o->lr);
    snprintf(v[4], 64, "%d", o->batch);
    snprintf(v[5], 64, "%d", o->buffer_size);
    snprintf(v[6], 64, "%d", o->target_freq);
    snprintf(v[7], 64, "%g", o->tau);
    snprintf(v[8], 64, "%d", o->train_freq);
    snprintf(v[9], 64, "%ld", o->learning_starts);
    snprintf(v[10], 64, "%g..%g over %ld steps", o->eps_start, o->eps_end, o->eps_decay_steps);
    snprintf(v[11], 64, "%llu", (unsigned long long)o->seed);
    snprintf(v[12], 64, "%g", o->max_grad_norm);
    const char *keys[][2] = {
        { "rl.algo", "dqn" }, { "rl.env", in->name }, { "rl.gym_id", in->gym_id }, { "rl.obs_dim", v[0] },
        { "rl.n_actions", v[1] }, { "rl.gamma", v[2] }, { "rl.lr", v[3] }, { "rl.batch", v[4] },
        { "rl.buffer_size", v[5] }, { "rl.target_freq", v[6] }, { "rl.tau", v[7] }, { "rl.train_freq", v[8] },
        { "rl.learning_starts", v[9] }, { "rl.epsilon", v[10] }, { "rl.seed", v[11] },
        { "rl.max_grad_norm", v[12] }, { "rl.loss", o->huber ? "huber" : "mse" },
        { "rl.double_dqn", o->double_dqn ? "1" : "0" },
    };
    for (size_t i = 0; i < sizeof keys / sizeof keys[0]; i++)
        if (sd_model_meta_set(d->q, keys[i][0], keys[i][1])) return -1;
    return 0;
}

int sd_dqn_save(sd_dqn *d, const sd_env *env, const char *path)
{
    const sd_st_kv kind = { "shendu.kind", sd_kind_name(SD_FILE_DQN_AGENT) };
    return sd_dqn_set_agent_meta(d, env) ? -1 : sd_model_save_with(d->q, path, NULL, 0, &kind, 1);
}

sd_model *sd_agent_load(const char *path, const sd_env *env)
{
    const sd_env_info *in = sd_env_get_info(env);
    if (sd_file_expect_kind(path, SD_KIND_BIT(SD_FILE_DQN_AGENT) | SD_KIND_BIT(SD_FILE_DQN_CKPT),
                            "a DQN agent"))
        return NULL;
    sd_model *m = sd_model_load(path);
    if (!m) return NULL;
    const char *name = sd_model_meta_get(m, "rl.env");
    sd_shape ish = sd_model_input_shape(m), osh = sd_model_output_shape(m);
    if (!name) {
        sd_error("%s: not an RL agent (its metadata has no rl.env: a classifier?)", path);
    } else if (strcmp(name, in->name)) {
        sd_error("%s: an agent for '%s', not for '%s'", path, name, in->name);
    } else if (ish.ndim != 1 || ish.d[0] != in->obs_dim || osh.ndim != 1 || osh.d[0] != in->n_actions) {
        sd_error("%s: the network takes %d inputs and gives %d values; %s has %d observations and %d actions", path,
                 ish.d[0], osh.d[0], in->name, in->obs_dim, in->n_actions);
    } else {
        return m;
    }
    sd_model_free(m);
    return NULL;
}
