/* Solvers and learners: policy evaluation and value iteration on Sutton &
 * Barto's 4×4 grid world (Example 4.1, known answers), exact FrozenLake
 * optima, the lecture's Q update, Q-learning on FrozenLake, the replay
 * memory, the target network, the DQN ops' gradients, a short DQN run on
 * CartPole and agent files. */
#include "gradcheck.h"

#include <string.h>
#include <unistd.h>

/* ---- Sutton & Barto's grid world: 4×4, the two opposite corners end the
 * episode, every move costs 1, moves off the grid stay put, γ = 1. */
static sd_mdp *gridworld(void)
{
    sd_mdp *m = sd_mdp_new(16, 4, 5);
    static const int dr[4] = { -1, 0, 1, 0 }, dc[4] = { 0, 1, 0, -1 };
    for (int s = 0; s < 16; s++)
        for (int a = 0; a < 4; a++) {
            if (s == 0 || s == 15) { sd_mdp_add(m, s, a, 1.0, s, 0.0, 1); continue; }
            int r = s / 4 + dr[a], c = s % 4 + dc[a];
            if (r < 0 || r > 3 || c < 0 || c > 3) { r = s / 4; c = s % 4; }
            int next = r * 4 + c;
            sd_mdp_add(m, s, a, 1.0, next, -1.0, next == 0 || next == 15);
        }
    return m;
}

static void test_gridworld(void)
{
    sd_mdp *m = gridworld();
    double v[16], pi[64];
    for (int i = 0; i < 64; i++) pi[i] = 0.25;
    /* The random policy's values (the book's Figure 4.1, k = ∞). */
    static const double random_v[16] = { 0, -14, -20, -22, -14, -18, -20, -20, -20, -20, -18, -14, -22, -20, -14, 0 };
    CHECK(sd_mdp_evaluate(m, pi, NULL, 1.0, v) > 0);
    for (int s = 0; s < 16; s++) CHECK_NEAR(v[s], random_v[s], 1e-8);
    /* Optimal values: minus the distance to the nearer corner. */
    int policy[16];
    CHECK(sd_mdp_value_iteration(m, 1.0, v, policy) > 0);
    for (int s = 0; s < 16; s++) {
        int r = s / 4, c = s % 4, d0 = r + c, d1 = 6 - r - c;
        CHECK_NEAR(v[s], -(d0 < d1 ? d0 : d1), 1e-12);
    }
    /* The greedy policy walks straight to a corner; evaluated, it gives v* back. */
    double vp[16];
    CHECK(sd_mdp_evaluate(m, NULL, policy, 1.0, vp) > 0);
    for (int s = 0; s < 16; s++) CHECK_NEAR(vp[s], v[s], 1e-12);
    CHECK(policy[1] == 3 && policy[4] == 0 && policy[14] == 1 && policy[11] == 2);
    /* With discounting: v = −(1 + γ + ... ) over the steps to a corner. */
    CHECK(sd_mdp_value_iteration(m, 0.9, v, NULL) > 0);
    CHECK_NEAR(v[1], -1.0, 1e-12);
    CHECK_NEAR(v[5], -1.9, 1e-12);
    CHECK_NEAR(v[6], -2.71, 1e-12);
    /* Expected cost within a horizon: from state 5, two steps to a corner. */
    CHECK_NEAR(sd_mdp_horizon_value(m, NULL, 10), -2.0, 1e-12);
    CHECK_NEAR(sd_mdp_horizon_value(m, NULL, 1), -1.0, 1e-12);
    /* A policy that never ends an episode has no value with γ = 1: an error, not a hang. */
    int stuck[16];
    for (int s = 0; s < 16; s++) stuck[s] = 3;   /* Left: states in column 0 bump the wall forever */
    CHECK(sd_mdp_evaluate(m, NULL, stuck, 1.0, v) == -1 && strstr(sd_last_error(), "converge"));
    CHECK(sd_mdp_evaluate(m, NULL, stuck, 1.5, v) == -1);
    CHECK(sd_mdp_add(m, 0, 4, 1.0, 0, 0, 0) == -1);
    sd_mdp_free(m);
}

/* Exact FrozenLake figures: the best success probability within 100 steps
 * is 0.7442 (Gymnasium: "optimum = 0.74"), 0.9132 for 8x8 in 200 ("0.91"). */
static void test_frozenlake_exact(void)
{
    sd_env *e = sd_env_new("frozenlake", NULL);
    sd_mdp *m = sd_mdp_from_env(e);
    double v[16];
    int policy[16];
    CHECK(sd_mdp_value_iteration(m, 0.99, v, policy) > 0);
    char letters[17];
    for (int s = 0; s < 16; s++) letters[s] = "LDRU"[policy[s]];
    letters[16] = 0;
    CHECK_MSG(!strcmp(letters, "LUUULLLLUDLLLRDL"), "optimal policy %s", letters);
    CHECK_NEAR(sd_mdp_horizon_value(m, NULL, 100), 0.7442, 5e-5);
    CHECK_NEAR(sd_mdp_horizon_value(m, policy, 100), 0.7402, 5e-5);
    CHECK_NEAR(v[0], 0.542, 5e-4);
    /* The random policy from the lecture's recursion: holes and the goal are worth 0. */
    double pi[64];
    for (int i = 0; i < 64; i++) pi[i] = 0.25;
    CHECK(sd_mdp_evaluate(m, pi, NULL, 0.99, v) > 0);
    CHECK(v[5] == 0.0 && v[15] == 0.0 && v[14] > v[13] && v[0] > 0.0 && v[0] < 0.05);
    sd_mdp_free(m);
    sd_env_free(e);
    e = sd_env_new("frozenlake8", NULL);
    m = sd_mdp_from_env(e);
    CHECK_NEAR(sd_mdp_horizon_value(m, NULL, 200), 0.9132, 5e-5);
    sd_mdp_free(m);
    sd_env_free(e);
    e = sd_env_new("cartpole", NULL);
    CHECK(sd_mdp_from_env(e) == NULL && strstr(sd_last_error(), "not tabular"));
    sd_env_free(e);
}

/* ---- Q-learning */

static void test_qlearn(void)
{
    /* The lecture's update, by hand: (1 − 0.1)·0.5 + 0.1·(1 + 0.9·2) = 0.73. */
    double Q[8] = { 0.5, 0, 0, 0, 2, -1, 0, 1 };
    sd_qlearn_update(Q, 4, 0, 0, 1.0, 1, 0, 0.1, 0.9);
    CHECK_NEAR(Q[0], 0.73, 1e-15);
    Q[0] = 0.5;
    sd_qlearn_update(Q, 4, 0, 0, 1.0, 1, 1, 0.1, 0.9);   /* terminated: no bootstrap */
    CHECK_NEAR(Q[0], 0.55, 1e-15);

    /* FrozenLake 4x4, not slippery: solved exactly after a few hundred episodes. */
    sd_env *e = sd_env_new("frozenlake", &(sd_env_opts){ .slippery = -1 });
    double Qt[64];
    sd_qlearn_result r;
    CHECK(sd_qlearn(e, &(sd_qlearn_opts){ .episodes = 400, .alpha = 0.5f, .gamma = 0.9f, .seed = 3 }, Qt, &r) == 0);
    CHECK(r.episodes == 400 && r.env_steps > 400);
    int policy[16];
    sd_q_greedy(Qt, 16, 4, policy);
    sd_policy_eval ev;
    CHECK(sd_policy_run(e, policy, 100, 1, &ev) == 0);
    CHECK_MSG(ev.success_rate == 1.0 && ev.mean_return == 1.0, "success %.3f", ev.success_rate);
    sd_mdp *m = sd_mdp_from_env(e);
    CHECK_NEAR(sd_mdp_horizon_value(m, policy, 100), 1.0, 1e-12);
    /* Q converges to γ^(steps left − 1) along the shortest path: Q(14, Right) = 1. */
    CHECK_NEAR(Qt[14 * 4 + 2], 1.0, 1e-6);
    sd_mdp_free(m);
    sd_env_free(e);

    /* Slippery 4x4 with the reference's settings: close to the optimum 0.7442. */
    e = sd_env_new("frozenlake", NULL);
    CHECK(sd_qlearn(e, &(sd_qlearn_opts){ .episodes = 20000, .alpha = 0.1f, .alpha_end = 0.01f, .seed = 1 }, Qt,
                    NULL) == 0);
    sd_q_greedy(Qt, 16, 4, policy);
    m = sd_mdp_from_env(e);
    double p = sd_mdp_horizon_value(m, policy, 100);
    CHECK_MSG(p > 0.73, "learned policy's exact success %.4f", p);
    sd_mdp_free(m);
    /* CliffWalking is tabular; CartPole is not. */
    sd_env_free(e);
    e = sd_env_new("cartpole", NULL);
    CHECK(sd_qlearn(e, NULL, Qt, NULL) == -1 && strstr(sd_last_error(), "discrete"));
    sd_env_free(e);
}

/* ---- Replay memory */

static void test_replay(void)
{
    sd_replay *b = sd_replay_new(5, 2);
    sd_rng rng;
    sd_rng_seed(&rng, 1);
    float o[16], n[16], rw[16], dn[16];
    int32_t act[16];
    sd_replay_batch batch = { 0, o, n, act, rw, dn };
    CHECK(sd_replay_sample(b, &rng, 4, &batch) == -1);
    for (int i = 0; i < 7; i++) {
        float s[2] = { (float)i, -(float)i }, s2[2] = { i + 0.5f, 0 };
        sd_replay_add(b, s, i % 3, 10.0f * i, s2, i == 4);
        CHECK(sd_replay_size(b) == (i < 5 ? i + 1 : 5));
    }
    /* The ring holds transitions 2..6 (0 and 1 were overwritten), each whole. */
    int seen[7] = { 0 };
    for (int k = 0; k < 400; k++) {
        CHECK(sd_replay_sample(b, &rng, 8, &batch) == 0 && batch.n == 8);
        for (int j = 0; j < 8; j++) {
            int i = (int)o[2 * j];
            seen[i]++;
            CHECK(i >= 2 && i <= 6 && o[2 * j + 1] == -(float)i && n[2 * j] == i + 0.5f && act[j] == i % 3 &&
                  rw[j] == 10.0f * i && dn[j] == (i == 4 ? 1.0f : 0.0f));
        }
    }
    /* Uniform: 3200 draws over 5 slots, 640 each. */
    for (int i = 2; i <= 6; i++) CHECK_MSG(abs(seen[i] - 640) < 110, "slot %d drawn %d times", i, seen[i]);
    sd_replay_free(b);
    CHECK(sd_replay_new(0, 4) == NULL);
}

/* ---- The DQN ops */

static float weights[12] = { 0.3f, -1.2f, 0.7f, 1.1f, -0.4f, 0.9f, 0.2f, -0.8f, 1.3f, 0.5f, -0.6f, 0.45f };
static const int32_t pick_idx[4] = { 2, 0, 1, 2 };

static sd_tensor *pick_case(sd_graph *g, sd_params *P, void *user)
{
    sd_tensor *y = sd_pick(g, sd_tanh(g, sd_param(g, P, 0)), pick_idx);
    return sd_sum(g, sd_mul(g, y, sd_input(g, weights, SD_SHAPE(4))));
}

static sd_tensor *huber_case(sd_graph *g, sd_params *P, void *user)
{
    return sd_huber(g, sd_param(g, P, 0), sd_param(g, P, 1), *(float *)user);
}

static void test_ops(sd_ctx *ctx)
{
    sd_rng rng;
    sd_rng_seed(&rng, 7);
    sd_params *P = sd_params_new();
    sd_params_add(P, "x", SD_SHAPE(4, 3));
    gc_fill(P, 0, &rng, 1.5f, 0.05f);
    gradcheck("pick", ctx, P, pick_case, NULL, 2e-3);
    /* Forward by hand. */
    sd_graph *g = sd_graph_new(ctx);
    float x[12] = { 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12 };
    sd_tensor *y = sd_pick(g, sd_input(g, x, SD_SHAPE(4, 3)), pick_idx);
    CHECK(y && y->shape.ndim == 1 && y->shape.d[0] == 4 && y->data[0] == 3 && y->data[1] == 4 && y->data[2] == 8 &&
          y->data[3] == 12);
    const int32_t bad[4] = { 0, 3, 0, 0 };
    CHECK(sd_pick(g, sd_input(g, x, SD_SHAPE(4, 3)), bad) == NULL && strstr(sd_last_error(), "index 3 of row 1"));
    sd_params_free(P);

    /* Huber: d = p − t kept away from the kinks at ±δ. */
    P = sd_params_new();
    sd_params_add(P, "p", SD_SHAPE(6));
    sd_params_add(P, "t", SD_SHAPE(6));
    const float pv[6] = { 0.3f, -2.0f, 1.5f, 0.1f, -0.6f, 3.0f }, tv[6] = { 0.0f, 0.5f, 2.0f, -1.6f, 0.2f, 0.0f };
    memcpy(sd_params_data(P, 0), pv, sizeof pv);
    memcpy(sd_params_data(P, 1), tv, sizeof tv);
    float delta = 1.0f;
    gradcheck("huber", ctx, P, huber_case, &delta, 2e-3);
    delta = 0.65f;
    gradcheck("huber delta 0.65", ctx, P, huber_case, &delta, 2e-3);
    /* d = 0.3 −2.5 −0.5 1.7 −0.8 3: 0.045 + 2 + 0.125 + 1.2 + 0.32 + 2.5 = 6.19, mean 1.031667. */
    sd_graph_reset(g);
    delta = 1.0f;
    CHECK_NEAR(huber_case(g, P, &delta)->data[0], 6.19 / 6, 1e-6);
    /* Inside ±δ it is half the squared error: MSE / 2. */
    float a[3] = { 0.1f, -0.2f, 0.3f }, z[3] = { 0 };
    sd_tensor *h = sd_huber(g, sd_input(g, a, SD_SHAPE(3)), sd_input(g, z, SD_SHAPE(3)), 1.0f);
    sd_tensor *mse = sd_mse(g, sd_input(g, a, SD_SHAPE(3)), sd_input(g, z, SD_SHAPE(3)));
    CHECK_NEAR(h->data[0], mse->data[0] / 2, 1e-7);
    CHECK(sd_huber(g, sd_input(g, a, SD_SHAPE(3)), sd_input(g, z, SD_SHAPE(1, 3)), 1.0f) == NULL);
    sd_graph_free(g);
    sd_params_free(P);
}

/* ---- DQN */

static double greedy_return(sd_dqn *d, sd_env *e, int episodes)
{
    float obs[4];
    double total = 0;
    for (int i = 0; i < episodes; i++) {
        sd_env_reset(e, i == 0 ? 99 : SD_ENV_NO_SEED, obs);
        for (;;) {
            sd_env_result r;
            sd_env_step(e, sd_dqn_act(d, obs), obs, &r);
            total += r.reward;
            if (r.terminated || r.truncated) break;
        }
    }
    return total / episodes;
}

static void test_target(sd_ctx *ctx)
{
    sd_dqn_opts o = { .hidden = "linear(16) relu", .seed = 2 };
    sd_dqn *d = sd_dqn_new(ctx, 4, 2, &o);
    sd_params *Q = sd_model_params(sd_dqn_model(d)), *T = sd_model_params(sd_dqn_target(d));
    size_t n = sd_params_size(Q);
    CHECK(!memcmp(sd_params_values(Q), sd_params_values(T), n * sizeof(float)));   /* starts as a copy */
    float s[4] = { 0.1f, 0.2f, -0.1f, 0.3f };
    for (int i = 0; i < 50; i++) sd_replay_add(sd_dqn_replay(d), s, i % 2, 1.0f, s, 0);
    for (int i = 0; i < 5; i++) CHECK(!isnan(sd_dqn_update(d)));
    CHECK(memcmp(sd_params_values(Q), sd_params_values(T), n * sizeof(float)) != 0);   /* only Q trains */
    /* Soft update: t ← t + τ (q − t). */
    float *t0 = malloc(n * sizeof(float));
    memcpy(t0, sd_params_values(T), n * sizeof(float));
    sd_dqn_sync_target(d, 0.25f);
    int bad = 0;
    for (size_t i = 0; i < n; i++) {
        float want = t0[i] + 0.25f * (sd_params_values(Q)[i] - t0[i]);
        bad += fabsf(sd_params_values(T)[i] - want) > 1e-7f;
    }
    CHECK(bad == 0);
    sd_dqn_sync_target(d, 1.0f);
    CHECK(!memcmp(sd_params_values(Q), sd_params_values(T), n * sizeof(float)));
    free(t0);
    sd_dqn_free(d);
}

/* A few seconds of training must beat the untrained network clearly; the
 * same seed gives the same weights; the agent file round-trips and refuses
 * another environment or a classifier. */
static void test_dqn(sd_ctx *ctx)
{
    sd_env *env = sd_env_new("cartpole", NULL), *eval = sd_env_new("cartpole", NULL);
    sd_dqn_opts o = { .seed = 5 };
    CHECK(sd_dqn_recipe("cartpole", &o) == 0 && o.seed == 5 && o.batch == 128);
    /* A short run: early, frequent updates and fast exploration decay. */
    o = (sd_dqn_opts){ .hidden = "linear(64) relu linear(64) relu", .total_steps = 12000, .buffer_size = 20000,
                       .batch = 64, .lr = 1e-3f, .learning_starts = 1000, .train_freq = 4, .target_freq = 500,
                       .eps_end = 0.02f, .eps_start = 1.0f, .eps_decay_steps = 8000, .huber = 1,
                       .max_grad_norm = 10, .double_dqn = 1, .no_stop = 1, .seed = 5 };
    sd_dqn *d = sd_dqn_new(ctx, 4, 2, &o);
    double before = greedy_return(d, eval, 5);
    sd_dqn_result r;
    double t0 = sd_time_now();
    CHECK(sd_dqn_train(d, env, &r, NULL, NULL) == 0);
    double after = greedy_return(d, eval, 5);
    printf("dqn smoke: greedy return %.1f -> %.1f after %ld steps, %ld updates, %d episodes (%.2f s)\n", before,
           after, r.env_steps, r.updates, r.episodes, sd_time_now() - t0);
    CHECK(r.env_steps == 12000 && r.updates > 2000 && r.episodes > 20);
    CHECK_MSG(after > 3 * before && after > 100, "greedy return %.1f -> %.1f", before, after);

    /* Determinism: a second agent with the same seed ends with the same weights. */
    sd_dqn_opts o2 = o;
    o2.total_steps = 3000;
    sd_dqn *a = sd_dqn_new(ctx, 4, 2, &o2), *b = sd_dqn_new(ctx, 4, 2, &o2);
    sd_env *ea = sd_env_new("cartpole", NULL), *eb = sd_env_new("cartpole", NULL);
    sd_dqn_train(a, ea, NULL, NULL, NULL);
    sd_dqn_train(b, eb, NULL, NULL, NULL);
    sd_params *pa = sd_model_params(sd_dqn_model(a)), *pb = sd_model_params(sd_dqn_model(b));
    CHECK(!memcmp(sd_params_values(pa), sd_params_values(pb), sd_params_size(pa) * sizeof(float)));
    sd_dqn_free(a);
    sd_dqn_free(b);
    sd_env_free(ea);
    sd_env_free(eb);

    /* Agent files. */
    char path[512], clf[512];
    snprintf(path, sizeof path, "%s/rl_agent_%d.safetensors", check_tmpdir(), (int)getpid());
    snprintf(clf, sizeof clf, "%s/rl_clf_%d.safetensors", check_tmpdir(), (int)getpid());
    CHECK(sd_dqn_save(d, env, path) == 0);
    sd_model *m = sd_agent_load(path, env);
    CHECK(m != NULL && !strcmp(sd_model_meta_get(m, "rl.env"), "cartpole"));
    sd_ctx *c1 = sd_ctx_new(&(sd_ctx_opts){ .threads = 1 });
    sd_graph *g = sd_graph_new(c1);
    float obs[4];
    sd_env_reset(eval, 1, obs);
    int same = 0;
    for (int i = 0; i < 50; i++) {
        sd_env_result er;
        int act = sd_agent_act(g, m, obs);
        same += act == sd_dqn_act(d, obs);
        if (sd_env_step(eval, act, obs, &er) || er.terminated || er.truncated) sd_env_reset(eval, SD_ENV_NO_SEED, obs);
    }
    CHECK(same == 50);
    sd_env *acro = sd_env_new("acrobot", NULL);
    CHECK(sd_agent_load(path, acro) == NULL && strstr(sd_last_error(), "an agent for 'cartpole', not for 'acrobot'"));
    sd_rng rng;
    sd_rng_seed(&rng, 1);
    sd_model *classifier = sd_model_new("flatten linear(10)", SD_SHAPE(1, 28, 28), SD_INIT_DEFAULT, &rng);
    sd_model_save(classifier, clf);
    CHECK(sd_agent_load(clf, env) == NULL && strstr(sd_last_error(), "is a shendu model of no particular command (sd_model_save), not a DQN agent"));
    /* An agent for 4 observations cannot train on Acrobot's 6. */
    CHECK(sd_dqn_train(d, acro, &r, NULL, NULL) == -1 && strstr(sd_last_error(), "acrobot"));
    remove(path);
    remove(clf);
    sd_model_free(classifier);
    sd_model_free(m);
    sd_graph_free(g);
    sd_ctx_free(c1);
    sd_env_free(acro);
    sd_dqn_free(d);
    sd_env_free(env);
    sd_env_free(eval);
    CHECK(sd_dqn_recipe("rainbow", &o) == -1);
    CHECK(sd_dqn_new(ctx, 4, 2, &(sd_dqn_opts){ .hidden = "linear(8) bogus" }) == NULL);
}

int main(void)
{
    sd_ctx *ctx = sd_ctx_new(&(sd_ctx_opts){ .threads = 1 });
    test_gridworld();
    test_frozenlake_exact();
    test_qlearn();
    test_replay();
    test_ops(ctx);
    test_target(ctx);
    test_dqn(ctx);
    sd_ctx_free(ctx);
    return check_done("test_rl");
}
