/* shendu_web.c — the WebAssembly module's exports for the page (web/app.js).
 *
 * The page calls the library through these few functions; everything they do
 * is the library's own code (the same C files as the native build). One
 * sdw_state holds what the page has loaded and trained; models come in as the
 * bytes of their files (sd_model_load_mem, sd_lm_load_mem), never from a file
 * system. Every function returns -1 (or NULL) on failure with the reason in
 * sdw_error(), which the page shows in the panel.
 *
 * Memory: the page allocates buffers with sdw_alloc and frees them with
 * sdw_free; the state owns everything else. Built only by scripts/web-build. */
#include "apps/apps.h"
#include "shendu.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#define EXPORT(name) __attribute__((export_name(#name)))

enum { SDW_CNNS = 2, SDW_LAKE_EVAL_EPISODES = 1000 };

typedef struct sdw_state {
    sd_ctx *ctx;
    sd_graph *g;                 /* one graph, reset before every forward pass; no gradients */
    sd_model *cnn[SDW_CNNS];     /* 0: MNIST digits, 1: Fashion-MNIST */
    sd_model *gen;               /* the GAN's generator */
    sd_model *lecture_cnn;       /* the benchmark's: the lecture's CNN (bench/infer.c's), random weights */
    sd_lm *lm;                   /* the char-LSTM */
    /* FrozenLake Q-learning, trained a few episodes at a time */
    sd_env *lake;
    double *Q;
    sd_rng lake_rng;
    int lake_done, lake_total;
    /* CartPole: a loaded agent, or the DQN trained in the page */
    sd_env *pole;                /* the one drawn on the canvas */
    sd_model *pole_q;
    sd_dqn *dqn;
    sd_env *dqn_env;             /* the one the DQN trains in (its loop's state lives on between calls) */
    long dqn_stop;               /* sd_dqn_run's hook stops at this step */
    sd_dqn_progress dqn_last;
    float pole_obs[4];
} sdw_state;

EXPORT(sdw_alloc) void *sdw_alloc(size_t n) { return calloc(1, n ? n : 1); }
EXPORT(sdw_free) void sdw_free(void *p) { free(p); }
EXPORT(sdw_error) const char *sdw_error(void) { return sd_last_error(); }

EXPORT(sdw_new) sdw_state *sdw_new(void)
{
    sdw_state *s = calloc(1, sizeof *s);
    if (!s) { sd_error("out of memory"); return NULL; }
    s->ctx = sd_ctx_new(&(sd_ctx_opts){ .threads = 1 });
    s->g = s->ctx ? sd_graph_new(s->ctx) : NULL;
    if (!s->g) { sd_ctx_free(s->ctx); free(s); return NULL; }
    sd_graph_set_grad(s->g, 0);   /* inference only (the DQN trains on its own graphs) */
    return s;
}

EXPORT(sdw_kernel) const char *sdw_kernel(sdw_state *s) { return sd_ctx_kernel_name(s->ctx); }

/* ---- Convolution panel: the lecture's numbers through the library's ops. */

/* out (h-kh+1, w-kw+1) = img (h, w) ⊛ k (kh, kw), stride 1, no padding. */
EXPORT(sdw_conv) int sdw_conv(sdw_state *s, const float *img, int h, int w, const float *k, int kh, int kw,
                              float *out)
{
    sd_graph_reset(s->g);
    sd_tensor *y = sd_conv2d(s->g, sd_input(s->g, img, SD_SHAPE(1, 1, h, w)),
                             sd_input(s->g, k, SD_SHAPE(1, 1, kh, kw)), NULL, 1, 0);
    if (!y) return -1;
    memcpy(out, y->data, y->n * sizeof(float));
    return 0;
}

/* out (h/k, w/k) = k×k max-pooling of x (h, w), stride k. */
EXPORT(sdw_maxpool) int sdw_maxpool(sdw_state *s, const float *x, int h, int w, int k, float *out)
{
    sd_graph_reset(s->g);
    sd_tensor *y = sd_maxpool2d(s->g, sd_input(s->g, x, SD_SHAPE(1, 1, h, w)), k, k);
    if (!y) return -1;
    memcpy(out, y->data, y->n * sizeof(float));
    return 0;
}

/* ---- Recognise panel: the CNN classifiers. */

static int check_slot(int slot) { return slot < 0 || slot >= SDW_CNNS ? sd_error("no model slot %d", slot) : 0; }

EXPORT(sdw_cnn_load) int sdw_cnn_load(sdw_state *s, int slot, const void *buf, size_t size, const char *name)
{
    if (check_slot(slot)) return -1;
    sd_model *m = sd_model_load_mem(buf, size, name);
    if (!m) return -1;
    sd_shape in = sd_model_input_shape(m), out = sd_model_output_shape(m);
    if (in.ndim != 3 || in.d[0] != 1 || in.d[1] != 28 || in.d[2] != 28 || out.ndim != 1 ||
        sd_model_layer_count(m) < 2) {
        sd_model_free(m);
        return sd_error("%s: not a 28x28 image classifier", name);
    }
    sd_model_free(s->cnn[slot]);
    s->cnn[slot] = m;
    return 0;
}

EXPORT(sdw_cnn_meta) const char *sdw_cnn_meta(sdw_state *s, int slot, const char *key)
{
    return check_slot(slot) || !s->cnn[slot] ? NULL : sd_model_meta_get(s->cnn[slot], key);
}

static float meta_float(const sd_model *m, const char *key, float dflt)
{
    const char *v = sd_model_meta_get(m, key);
    char *end;
    float x = v ? strtof(v, &end) : dflt;
    return v && (end == v || !isfinite(x)) ? dflt : x;
}

/* Classify a drawing: gray (h, w) bytes, any size, white strokes on black or
 * black on white, prepared as `shendu predict` prepares a picture (cropped,
 * scaled into 20x20, centred by mass in 28x28). Writes the class
 * probabilities to probs, the 28x28 input to input28 (may be NULL) and the
 * first layer's output (C, H, W) to fmaps (may be NULL; sdw_cnn_fmap_shape
 * gives its size). Returns the number of classes, -1 on error. */
EXPORT(sdw_cnn_predict) int sdw_cnn_predict(sdw_state *s, int slot, const uint8_t *gray, int w, int h,
                                            float *probs, float *input28, float *fmaps)
{
    if (check_slot(slot)) return -1;
    sd_model *m = s->cnn[slot];
    if (!m) return sd_error("model %d is not loaded", slot);
    sd_image im = { .w = w, .h = h, .c = 1, .px = (uint8_t *)gray };
    float x[784];
    int inverted = 0;
    if (sd_image_to_mnist(&im, NULL, x, &inverted)) return -1;
    const float scale = meta_float(m, "input_scale", 1.0f / 255.0f), shift = meta_float(m, "input_shift", 0.0f);
    if (input28) memcpy(input28, x, sizeof x);
    for (int k = 0; k < 784; k++) x[k] = x[k] * 255.0f * scale + shift;   /* as the training data */
    sd_graph_reset(s->g);
    sd_tensor *outs[64];
    if (sd_model_layer_count(m) > 64) return sd_error("model has too many layers for the page");
    sd_tensor *y = sd_model_forward_trace(s->g, m, sd_input(s->g, x, SD_SHAPE(1, 1, 28, 28)), outs);
    if (!y) return -1;
    y = sd_softmax(s->g, y);
    if (!y) return -1;
    memcpy(probs, y->data, y->n * sizeof(float));
    if (fmaps) memcpy(fmaps, outs[0]->data, outs[0]->n * sizeof(float));
    return (int)y->n;
}

/* The first layer's output shape (C, H, W) into dims[3]. */
EXPORT(sdw_cnn_fmap_shape) int sdw_cnn_fmap_shape(sdw_state *s, int slot, int *dims)
{
    if (check_slot(slot) || !s->cnn[slot]) return -1;
    sd_layer_info li;
    sd_model_layer_info(s->cnn[slot], 0, &li);
    if (li.out.ndim != 3) return sd_error("the first layer's output is not (C, H, W)");
    for (int i = 0; i < 3; i++) dims[i] = li.out.d[i];
    return 0;
}

/* ---- Generate panel: the GAN's generator. */

EXPORT(sdw_gen_load) int sdw_gen_load(sdw_state *s, const void *buf, size_t size, const char *name)
{
    sd_model *m = sd_model_load_mem(buf, size, name);
    if (!m) return -1;
    const char *role = sd_model_meta_get(m, "role");
    if (!role || strcmp(role, "generator") || sd_model_input_shape(m).ndim != 1 ||
        sd_shape_numel(sd_model_output_shape(m)) != 784) {
        sd_model_free(m);
        return sd_error("%s: not a GAN generator of 28x28 pictures (make one with shendu gan)", name);
    }
    sd_model_set_training(m, 0);
    sd_model_free(s->gen);
    s->gen = m;
    return 0;
}

EXPORT(sdw_gen_nz) int sdw_gen_nz(sdw_state *s) { return s->gen ? sd_model_input_shape(s->gen).d[0] : -1; }

/* out (n, 28, 28) in [-1, 1] = G(z), z (n, nz). */
EXPORT(sdw_gen_run) int sdw_gen_run(sdw_state *s, const float *z, int n, float *out)
{
    if (!s->gen) return sd_error("no generator loaded");
    sd_graph_reset(s->g);
    sd_tensor *y = sd_model_forward(s->g, s->gen, sd_input(s->g, z, SD_SHAPE(n, sdw_gen_nz(s))));
    if (!y) return -1;
    memcpy(out, y->data, y->n * sizeof(float));
    return 0;
}

/* Normal noise for the generator, from an explicit seed. */
EXPORT(sdw_noise) void sdw_noise(unsigned seed, float *z, int n)
{
    sd_rng r;
    sd_rng_seed(&r, seed);
    for (int i = 0; i < n; i++) z[i] = sd_rng_normal(&r);
}

/* ---- Write panel: the char-LSTM. */

EXPORT(sdw_lm_load) int sdw_lm_load(sdw_state *s, const void *buf, size_t size, const char *name)
{
    sd_lm *m = sd_lm_load_mem(buf, size, name);
    if (!m) return -1;
    sd_lm_free(s->lm);
    s->lm = m;
    return 0;
}

/* out[len] = bytes drawn after reading prime[nprime], at this temperature. */
EXPORT(sdw_lm_write) int sdw_lm_write(sdw_state *s, const uint8_t *prime, int nprime, int len, float temperature,
                                      unsigned seed, uint8_t *out)
{
    if (!s->lm) return sd_error("no language model loaded");
    sd_rng r;
    sd_rng_seed(&r, seed);
    return sd_lm_generate(s->lm, s->ctx, prime, (size_t)nprime, len, temperature, &r, out);
}

/* ---- Learn by trial: FrozenLake Q-learning, as `shendu rl qlearn` runs it
 * (its ε and α schedules over `total` episodes), a few episodes per call so
 * the page can draw the table between them. */

EXPORT(sdw_lake_new) int sdw_lake_new(sdw_state *s, int total, unsigned seed)
{
    sd_env_free(s->lake);
    free(s->Q);
    s->Q = NULL;
    if (!(s->lake = sd_env_new("frozenlake", NULL))) return -1;
    const sd_env_info *in = sd_env_get_info(s->lake);
    if (!(s->Q = calloc((size_t)in->n_states * in->n_actions, sizeof *s->Q))) return sd_error("out of memory");
    sd_rng_seed(&s->lake_rng, seed);
    s->lake_done = 0;
    s->lake_total = total > 0 ? total : 10000;
    float obs;
    return sd_env_reset(s->lake, (int64_t)(seed & 0x7fffffff), &obs);
}

EXPORT(sdw_lake_q) const double *sdw_lake_q(sdw_state *s) { return s->Q; }
EXPORT(sdw_lake_done) int sdw_lake_done(sdw_state *s) { return s->lake_done; }

static int greedy_random_ties(const double *q, int n, sd_rng *rng)
{
    int best = 0, ties = 1;
    for (int a = 1; a < n; a++) {
        if (q[a] > q[best]) { best = a; ties = 1; }
        else if (q[a] == q[best] && sd_rng_below(rng, (uint32_t)++ties) == 0) best = a;
    }
    return best;
}

/* Train up to `episodes` more episodes; returns how many are done in all. */
EXPORT(sdw_lake_train) int sdw_lake_train(sdw_state *s, int episodes)
{
    if (!s->lake) return sd_error("FrozenLake is not set up");
    sd_qlearn_opts o = { 0 };
    sd_rl_qlearn_defaults("frozenlake", &o);
    const sd_env_info *in = sd_env_get_info(s->lake);
    const int A = in->n_actions, N = s->lake_total;
    const double decay = o.eps_fraction * N;
    for (int i = 0; i < episodes && s->lake_done < N; i++, s->lake_done++) {
        int e = s->lake_done;
        double eps = o.eps_start + (o.eps_end - o.eps_start) * fmin(1.0, e / decay);
        double alpha = o.alpha + (o.alpha_end - o.alpha) * (N > 1 ? (double)e / (N - 1) : 0.0);
        float obs;
        if (e > 0 && sd_env_reset(s->lake, SD_ENV_NO_SEED, &obs)) return -1;
        int st = sd_env_state(s->lake);
        for (;;) {
            int a = sd_rng_uniform(&s->lake_rng) < eps ? (int)sd_rng_below(&s->lake_rng, (uint32_t)A)
                                                       : greedy_random_ties(s->Q + (size_t)st * A, A, &s->lake_rng);
            sd_env_result r;
            if (sd_env_step(s->lake, a, &obs, &r)) return -1;
            int s2 = (int)obs;
            sd_qlearn_update(s->Q, A, st, a, r.reward, s2, r.terminated, alpha, o.gamma);
            st = s2;
            if (r.terminated || r.truncated) break;
        }
    }
    return s->lake_done;
}

/* The greedy policy's success rate over `episodes` fresh episodes (its own env). */
EXPORT(sdw_lake_success) double sdw_lake_success(sdw_state *s, int episodes, int seed)
{
    if (!s->lake) return -1;
    const sd_env_info *in = sd_env_get_info(s->lake);
    int policy[64];
    sd_q_greedy(s->Q, in->n_states, in->n_actions, policy);
    sd_env *e = sd_env_new("frozenlake", NULL);
    sd_policy_eval ev;
    int rc = e ? sd_policy_run(e, policy, episodes, seed, &ev) : -1;
    sd_env_free(e);
    return rc ? -1 : ev.success_rate;
}

/* The best success probability any policy reaches within the time limit. */
EXPORT(sdw_lake_optimum) double sdw_lake_optimum(sdw_state *s)
{
    if (!s->lake) return -1;
    sd_mdp *m = sd_mdp_from_env(s->lake);
    double v = m ? sd_mdp_horizon_value(m, NULL, sd_env_get_info(s->lake)->max_steps) : -1;
    sd_mdp_free(m);
    return v;
}

EXPORT(sdw_lake_grid) const char *sdw_lake_grid(sdw_state *s, int row)
{
    return s->lake ? sd_env_get_info(s->lake)->grid[row] : NULL;
}

/* The benchmark: the library's sd_qlearn, `episodes` episodes in one call. */
EXPORT(sdw_qlearn_run) double sdw_qlearn_run(sdw_state *s, int episodes, unsigned seed)
{
    sd_env *e = sd_env_new("frozenlake", NULL);
    if (!e) return -1;
    sd_qlearn_opts o = { .seed = seed };
    sd_rl_qlearn_defaults("frozenlake", &o);
    o.episodes = episodes;
    double Q[64 * 4];
    int rc = sd_qlearn(e, &o, Q, NULL);
    sd_env_free(e);
    return rc ? -1 : Q[0];
}

/* ---- Learn by trial: CartPole, a loaded DQN agent or one trained here. */

EXPORT(sdw_pole_load) int sdw_pole_load(sdw_state *s, const void *buf, size_t size, const char *name)
{
    if (!s->pole && !(s->pole = sd_env_new("cartpole", NULL))) return -1;
    sd_model *m = sd_model_load_mem(buf, size, name);
    if (!m) return -1;
    const char *env = sd_model_meta_get(m, "rl.env");
    sd_shape in = sd_model_input_shape(m), out = sd_model_output_shape(m);
    if (!env || strcmp(env, "cartpole") || in.ndim != 1 || in.d[0] != 4 || out.ndim != 1 || out.d[0] != 2) {
        sd_model_free(m);
        return sd_error("%s: not a CartPole agent (make one with shendu rl dqn --env cartpole --out FILE)", name);
    }
    sd_model_free(s->pole_q);
    s->pole_q = m;
    return 0;
}

EXPORT(sdw_pole_reset) const float *sdw_pole_reset(sdw_state *s, int seed)
{
    if (!s->pole && !(s->pole = sd_env_new("cartpole", NULL))) return NULL;
    return sd_env_reset(s->pole, seed, s->pole_obs) ? NULL : s->pole_obs;
}

/* One step with the greedy action of the agent (the page's DQN if one is
 * being trained or was trained, else the loaded one). Returns 0 while the
 * pole stands, 1 when the episode ended, -1 on error; obs in sdw_pole_obs. */
EXPORT(sdw_pole_step) int sdw_pole_step(sdw_state *s)
{
    if (!s->pole) return sd_error("CartPole is not set up");
    int a;
    if (s->dqn) a = sd_dqn_act(s->dqn, s->pole_obs);
    else if (s->pole_q) a = sd_agent_act(s->g, s->pole_q, s->pole_obs);
    else return sd_error("no CartPole agent");
    if (a < 0) return -1;
    sd_env_result r;
    if (sd_env_step(s->pole, a, s->pole_obs, &r)) return -1;
    return r.terminated || r.truncated;
}

EXPORT(sdw_pole_obs) const float *sdw_pole_obs(sdw_state *s) { return s->pole_obs; }

static int dqn_on_step(sd_dqn *d, const sd_env *env, long step, void *user)
{
    (void)d; (void)env;
    return step >= ((sdw_state *)user)->dqn_stop;
}

static void dqn_on_episode(const sd_dqn_progress *p, void *user) { ((sdw_state *)user)->dqn_last = *p; }

/* A fresh DQN with shendu's CartPole recipe, trained in the page's own env. */
EXPORT(sdw_dqn_new) int sdw_dqn_new(sdw_state *s, unsigned seed)
{
    sd_dqn_free(s->dqn);
    s->dqn = NULL;
    sd_env_free(s->dqn_env);
    if (!(s->dqn_env = sd_env_new("cartpole", NULL))) return -1;
    sd_dqn_opts o;
    if (sd_dqn_recipe("cartpole", &o)) return -1;
    o.seed = seed;
    memset(&s->dqn_last, 0, sizeof s->dqn_last);
    return (s->dqn = sd_dqn_new(s->ctx, 4, 2, &o)) ? 0 : -1;
}

/* Train `steps` more env steps. Returns 1 while training goes on, 0 when the
 * run has finished (solved, or its step budget spent), -1 on error; the
 * progress is in sdw_dqn_progress: step, episode, average return, solved. */
EXPORT(sdw_dqn_train) int sdw_dqn_train(sdw_state *s, int steps)
{
    if (!s->dqn) return sd_error("no DQN being trained");
    s->dqn_stop = sd_dqn_steps(s->dqn) + steps;
    sd_dqn_result r;
    sd_dqn_hooks h = { .on_episode = dqn_on_episode, .on_step = dqn_on_step, .user = s };
    int rc = sd_dqn_run(s->dqn, s->dqn_env, &r, &h);
    if (rc == 0) s->dqn_last.solved = r.solved;
    return rc;
}

/* [step, episode, average return of the last episodes, solved] */
EXPORT(sdw_dqn_progress) int sdw_dqn_progress(sdw_state *s, double *out)
{
    out[0] = (double)s->dqn_last.step;
    out[1] = s->dqn_last.episode;
    out[2] = s->dqn_last.avg_return;
    out[3] = s->dqn_last.solved;
    return 0;
}

/* ---- The benchmark: the lecture's CNN (the "cnn" preset, bench/infer.c's
 * network, random weights: the time does not depend on them), `reps`
 * batch-1 forward passes on x28. */
EXPORT(sdw_bench_cnn) int sdw_bench_cnn(sdw_state *s, const float *x28, int reps)
{
    if (!s->lecture_cnn) {
        sd_rng rng;
        sd_rng_seed(&rng, 1);
        s->lecture_cnn = sd_model_new(sd_model_preset("cnn"), SD_SHAPE(1, 28, 28), SD_INIT_DEFAULT, &rng);
        if (!s->lecture_cnn) return -1;
        sd_model_set_training(s->lecture_cnn, 0);
    }
    for (int i = 0; i < reps; i++) {
        sd_graph_reset(s->g);
        if (!sd_model_forward(s->g, s->lecture_cnn, sd_input(s->g, x28, SD_SHAPE(1, 1, 28, 28)))) return -1;
    }
    return 0;
}
