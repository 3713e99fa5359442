/* tools/cmd_rl.c — reinforcement learning: rl solve | qlearn | dqn | play. */
#include "cli.h"

#include <math.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static int done_rc(int rc) { return rc == 1 ? 0 : rc; }

/* Resolve an environment name (or Gymnasium id) to shendu's; NULL after an
 * error message if it is unknown. */
static const char *env_name(const char *sub, const char *name)
{
    sd_env *e = sd_env_new(name, NULL);
    if (!e) { fprintf(stderr, "shendu rl %s: %s\n", sub, sd_last_error()); return NULL; }
    const char *canonical = sd_env_get_info(e)->name;   /* static storage */
    sd_env_free(e);
    return canonical;
}

/* FrozenLake: --not-slippery / --slippery -> sd_env_opts.slippery. */
static int slippery_flag(int slippery, int not_slippery)
{
    return not_slippery ? -1 : slippery ? 1 : 0;
}

/* ---- rl solve */

static int rl_solve(int argc, char **argv)
{
    sd_rl_solve_opts o = { .env = "frozenlake", .gamma = 0.99 };
    float gamma = 0.99f;
    int json = 0, not_slippery = 0;
    const flag flags[] = {
        { "env", F_STR, &o.env, "frozenlake, frozenlake8 or cliffwalking (default frozenlake)" },
        { "gamma", F_FLOAT, &gamma, "discount factor (default 0.99)", 0, 1 },
        { "not-slippery", F_BOOL, &not_slippery, "FrozenLake: moves always go where intended" },
        { "json", F_BOOL, &json, "print one JSON object as the last line of stdout" },
        { 0 }
    };
    const char *usage = "solve [--env NAME] [flags]";
    char *pos[1];
    int npos, rc = cli_parse("rl", usage,
                             "Solve a tabular environment exactly: evaluate the random policy with\n"
                             "v(s) = sum_s' P(s,s') (R + gamma v(s')), then value iteration for the optimal\n"
                             "values and policy, and the exact success probability within the step limit.",
                             argc, argv, flags, pos, 0, &npos);
    if (rc) return done_rc(rc);
    if (!(o.env = env_name("solve", o.env))) return 2;
    o.gamma = gamma;
    o.slippery = slippery_flag(0, not_slippery);
    sd_rl_solve_result r;
    if (sd_app_rl_solve(&o, &r, stdout)) return cli_fail("rl solve");
    if (json) {
        printf("{\"env\":\"%s\",\"gamma\":%g,\"sweeps\":%d,\"policy\":\"%s\",\"start_value\":%.6f,"
               "\"random_policy_start_value\":%.6f,\"%s\":%.6f,\"%s\":%.6f,\"values\":[",
               r.env, r.gamma, r.sweeps, r.policy_str, r.start_value, r.random_start_value,
               r.success_metric ? "exact_success" : "exact_return", r.policy_exact,
               r.success_metric ? "optimal_success" : "optimal_return", r.optimum_exact);
        for (int s = 0; s < r.n_states; s++) printf("%s%.6f", s ? "," : "", r.values[s]);
        printf("]}\n");
    }
    return 0;
}

/* ---- rl qlearn */

static int rl_qlearn(int argc, char **argv)
{
    sd_rl_qlearn_opts o = { .env = "frozenlake", .eval_episodes = 10000 };
    int episodes = 0, json = 0, not_slippery = 0;
    float alpha = NAN, alpha_end = NAN, gamma = NAN, eps_end = NAN;
    uint64_t seed = 1;
    const flag flags[] = {
        { "env", F_STR, &o.env, "frozenlake, frozenlake8 or cliffwalking (default frozenlake)" },
        { "episodes", F_INT, &episodes, "training episodes (default: 20000 frozenlake, 100000 frozenlake8, 500 cliffwalking)", 1, 100000000 },
        { "alpha", F_FLOAT, &alpha, "initial learning rate (default 0.1; 0.5 cliffwalking)", 0, 1, OPEN_MIN },
        { "alpha-end", F_FLOAT, &alpha_end, "final learning rate, reached linearly (default 0.01; 0.1 cliffwalking)", 0, 1, OPEN_MIN },
        { "gamma", F_FLOAT, &gamma, "discount factor (default 0.99; 0.995 frozenlake8)", 0, 1, OPEN_MIN },
        { "eps-end", F_FLOAT, &eps_end, "final epsilon, reached linearly at half-way (default 0.01)", 0, 1 },
        { "seed", F_U64, &seed, "random seed (default 1)" },
        { "eval", F_INT, &o.eval_episodes, "evaluation episodes of the greedy policy (default 10000)", 1, 100000000 },
        { "not-slippery", F_BOOL, &not_slippery, "FrozenLake: moves always go where intended" },
        { "out", F_STR, &o.out, "write the learned Q-table to this safetensors file (shendu report draws it on the map)" },
        { "json", F_BOOL, &json, "print one JSON object as the last line of stdout" },
        CLI_TRACK_FLAGS(o.track, "episodes/200; a record holds the mean over its episodes"),
        { 0 }
    };
    const char *usage = "qlearn [--env NAME] [flags]";
    char *pos[1];
    int npos, rc = cli_parse("rl", usage,
                             "Tabular Q-learning: Q(s,a) <- (1-alpha) Q(s,a) + alpha (r + gamma max_a' Q(s',a')),\n"
                             "epsilon-greedy, epsilon and alpha decaying linearly. Prints the greedy policy\n"
                             "as arrows, its values, its success rate and how close it is to the exact optimum.",
                             argc, argv, flags, pos, 0, &npos);
    if (rc) return done_rc(rc);
    if (!(o.env = env_name("qlearn", o.env))) return 2;
    o.q.seed = seed;
    sd_rl_qlearn_defaults(o.env, &o.q);
    if (episodes) o.q.episodes = episodes;
    if (!isnan(alpha)) o.q.alpha = alpha;
    if (!isnan(alpha_end)) o.q.alpha_end = alpha_end;
    else if (!isnan(alpha) && alpha < o.q.alpha_end) o.q.alpha_end = alpha;
    if (!isnan(gamma)) o.q.gamma = gamma;
    if (!isnan(eps_end)) o.q.eps_end = eps_end > 0 ? eps_end : 1e-9f;
    o.slippery = slippery_flag(0, not_slippery);
    if (o.track.progress_every == 0 && isatty(STDERR_FILENO)) o.track.progress_every = -1;   /* plain lines: not on a terminal */
    sd_rl_qlearn_result r;
    if (sd_app_rl_qlearn(&o, &r, stdout)) return cli_fail("rl qlearn");
    if (json)
        printf("{\"env\":\"%s\",\"episodes\":%d,\"success_rate\":%.4f,\"mean_return\":%.4f,\"wall_s\":%.3f,"
               "\"%s\":%.4f,\"%s\":%.4f,\"policy\":\"%s\",\"env_steps\":%ld,\"train_steps_per_s\":%.0f}\n",
               r.env, r.episodes, r.success_rate, r.mean_return, r.wall_s,
               r.success_metric ? "exact_success" : "exact_return", r.policy_exact,
               r.success_metric ? "optimal_success" : "optimal_return", r.optimum_exact, r.policy_str,
               r.env_steps, r.env_steps / (r.train_s + 1e-12));
    return 0;
}

/* ---- rl dqn */

/* --no-double sets `double`; every other configuration key is set by the flag of its name. */
static const cli_alias dqn_flag_keys[] = { { "no-double", "double" }, { NULL, NULL } };

/* Resume: the configuration comes from the checkpoint; every flag given again
 * must agree with it. Returns 0, or 2 after printing the disagreement. */
static int dqn_resume_config(int argc, char **argv, sd_rl_dqn_opts *o)
{
    sd_rl_dqn_opts c = *o;
    if (sd_rl_dqn_config_load(o->resume, &c)) {
        fprintf(stderr, "shendu rl dqn: %s\n", sd_last_error());
        sd_rl_dqn_config_free(&c);
        return 2;
    }
    if (cli_check_resumed("rl dqn", argc, argv, sd_rl_dqn_config_fields, SD_CONFIG_MAX, dqn_flag_keys, o, &c,
                          o->resume)) {
        sd_rl_dqn_config_free(&c);
        return 2;
    }
    c.out = o->out;
    c.checkpoint = o->checkpoint ? o->checkpoint : o->resume;
    c.checkpoint_every = o->checkpoint_every;
    c.stop_after = o->stop_after;
    c.live_progress = o->live_progress;
    *o = c;
    return 0;
}

static int rl_dqn(int argc, char **argv)
{
    sd_rl_dqn_opts o = { .env = "cartpole", .threads = 1, .eval_episodes = 10, .log_steps = 10000 };
    const char *recipe = NULL, *hidden = NULL, *loss = NULL;
    int steps = 0, batch = 0, buffer = 0, target_freq = 0, train_freq = 0, eps_steps = 0, json = 0;
    int learning_starts = -2, dbl = 0, no_dbl = 0, no_stop = 0, log_steps = 0;
    float lr = NAN, lr_end = NAN, gamma = NAN, tau = NAN, eps_end = NAN, clip = NAN;
    int gradient_steps = 0, checkpoint_every = 0, stop_after = 0;
    uint64_t seed = 1;
    const flag flags[] = {
        { "env", F_STR, &o.env, "cartpole or acrobot (default cartpole)" },
        { "recipe", F_STR, &recipe, "cleanrl (CleanRL's dqn.py defaults), cartpole or acrobot (default: the env's)" },
        { "steps", F_INT, &steps, "stop after N env steps (the epsilon schedule is unchanged)", 1, 1 << 30 },
        { "seed", F_U64, &seed, "random seed (default 1)" },
        { "out", F_STR, &o.out, "write the trained agent to this safetensors file" },
        { "threads", F_INT, &o.threads, "threads for the updates (default 1; 0 = all cores)", 0, 256 },
        { "hidden", F_STR, &hidden, "hidden layers, e.g. \"linear(64) relu linear(64) relu\"" },
        { "lr", F_FLOAT, &lr, "Adam learning rate", 0, 1, OPEN_MIN },
        { "lr-end", F_FLOAT, &lr_end, "decay the learning rate linearly to X over --steps (0: constant)", 0, 1 },
        { "gamma", F_FLOAT, &gamma, "discount factor", 0, 1, OPEN_MIN },
        { "batch", F_INT, &batch, "batch size", 1, 1 << 20 },
        { "buffer", F_INT, &buffer, "replay memory size", 1, 1 << 26 },
        { "learning-starts", F_INT, &learning_starts, "first update after N env steps (-1: at once)", -1, 1 << 30 },
        { "train-freq", F_INT, &train_freq, "an update every N env steps", 1, 1 << 20 },
        { "gradient-steps", F_INT, &gradient_steps, "updates each time", 1, 1 << 20 },
        { "target-freq", F_INT, &target_freq, "refresh the target network every K env steps", 1, 1 << 30 },
        { "tau", F_FLOAT, &tau, "target refresh: 1 = copy, < 1 = soft update", 0, 1, OPEN_MIN },
        { "eps-end", F_FLOAT, &eps_end, "final epsilon", 0, 1 },
        { "eps-steps", F_INT, &eps_steps, "env steps over which epsilon decays from 1", 1, 1 << 30 },
        { "loss", F_STR, &loss, "mse or huber" },
        { "double", F_BOOL, &dbl, "Double DQN" },
        { "no-double", F_BOOL, &no_dbl, "plain DQN targets" },
        { "clip", F_FLOAT, &clip, "clip the gradient norm to X (0: no clipping)", 0, 1e9 },
        { "no-stop", F_BOOL, &no_stop, "keep training after solving" },
        { "eval", F_INT, &o.eval_episodes, "greedy evaluation episodes at the end (default 10)", 0, 100000 },
        { "log-steps", F_INT, &log_steps, "a progress line every N env steps (default 10000)", 1, 1 << 30 },
        { "checkpoint", F_STR, &o.checkpoint, "write a checkpoint (networks, optimizer, replay memory, environment, RNGs) to this file" },
        { "checkpoint-every", F_INT, &checkpoint_every, "... every N env steps (default: at the end and on Ctrl-C only)", 0, 1 << 30 },
        { "resume", F_STR, &o.resume, "continue the run saved in this checkpoint (its configuration is kept)" },
        { "stop-after", F_INT, &stop_after, "stop after env step N as on Ctrl-C (checkpoint, resume later); exit 0", 0, 1 << 30 },
        { "json", F_BOOL, &json, "print one JSON object as the last line of stdout" },
        CLI_TRACK_FLAGS(o.track, "1000 env steps; one record per episode too"),
        { 0 }
    };
    const char *usage = "dqn [--env cartpole|acrobot] [flags]";
    if (cli_check_config_ranges("rl dqn", flags, sd_rl_dqn_config_fields)) return 70;
    char *pos[1];
    int npos, rc = cli_parse("rl", usage,
                             "Deep Q-Learning: epsilon-greedy steps into a replay memory, updates on\n"
                             "L = (r + gamma max_a' q' - q_a)^2 with q' from a target network copied every K\n"
                             "steps. Stops once the average return of the last 100 episodes reaches the\n"
                             "environment's reward threshold (CartPole 475, Acrobot -100).",
                             argc, argv, flags, pos, 0, &npos);
    if (rc) return done_rc(rc);
    if (!(o.env = env_name("dqn", o.env))) return 2;
    if (strncmp(o.env, "cartpole", 8) && strncmp(o.env, "acrobot", 7)) {
        fprintf(stderr, "shendu rl dqn: %s is tabular: use 'rl qlearn' (DQN runs on cartpole and acrobot)\n", o.env);
        return 2;
    }
    o.recipe = recipe ? recipe : o.env;
    o.dqn.seed = seed;
    if (sd_dqn_recipe(o.recipe, &o.dqn)) { fprintf(stderr, "shendu rl dqn: %s\n", sd_last_error()); return 2; }
    if (loss && strcmp(loss, "mse") && strcmp(loss, "huber"))
        return cli_usage_error("rl", usage, "unknown loss '%s' (expected mse or huber)", loss);
    if (steps) o.dqn.total_steps = steps;
    if (hidden) {
        if (sd_model_arch_check(hidden))
            return cli_usage_error("rl", usage, "--hidden: %s", sd_last_error());
        o.dqn.hidden = hidden;
    }
    if (!isnan(lr)) { o.dqn.lr = lr; o.dqn.lr_end = 0; }
    if (!isnan(lr_end)) o.dqn.lr_end = lr_end;
    if (gradient_steps) o.dqn.gradient_steps = gradient_steps;
    if (!isnan(gamma)) o.dqn.gamma = gamma;
    if (batch) o.dqn.batch = batch;
    if (buffer) o.dqn.buffer_size = buffer;
    if (learning_starts != -2) o.dqn.learning_starts = learning_starts ? learning_starts : -1;
    if (train_freq) o.dqn.train_freq = train_freq;
    if (target_freq) o.dqn.target_freq = target_freq;
    if (!isnan(tau)) o.dqn.tau = tau;
    if (!isnan(eps_end)) o.dqn.eps_end = eps_end;
    if (eps_steps) o.dqn.eps_decay_steps = eps_steps;
    if (loss) o.dqn.huber = !strcmp(loss, "huber");
    if (dbl) o.dqn.double_dqn = 1;
    if (no_dbl) o.dqn.double_dqn = 0;
    if (!isnan(clip)) o.dqn.max_grad_norm = clip;
    if (no_stop) o.dqn.no_stop = 1;
    if (log_steps) o.log_steps = log_steps;
    o.live_progress = isatty(STDERR_FILENO);
    o.checkpoint_every = checkpoint_every;
    o.stop_after = stop_after;
    if ((rc = cli_check_stop_after("rl", usage, stop_after, o.checkpoint, o.resume))) return rc;
    if (o.resume && (rc = dqn_resume_config(argc, argv, &o))) return rc;
    o.stop = cli_catch_stop();
    sd_rl_dqn_result r;
    rc = sd_app_rl_dqn(&o, &r, stdout);
    cli_release_stop();
    if (rc == SD_STOPPED) {   /* Ctrl-C or SIGTERM: 130; --stop-after reached: done as asked */
        sd_rl_dqn_config_free(&o);
        return *o.stop ? 130 : 0;
    }
    if (rc) { sd_rl_dqn_config_free(&o); return cli_fail("rl dqn"); }
    if (json) {
        printf("{\"env\":\"%s\",\"recipe\":\"%s\",\"seed\":%llu,\"solved\":%s,\"solved_at_step\":", o.env, o.recipe,
               (unsigned long long)o.dqn.seed, r.train.solved ? "true" : "false");
        if (r.train.solved) printf("%ld,\"solved_wall_s\":%.3f", r.train.solved_at_step, r.train.solved_wall_s);
        else printf("null,\"solved_wall_s\":null");
        printf(",\"avg_return_100\":%.2f,\"eval_return\":", r.train.avg_return);
        if (isnan(r.eval_return)) printf("null");
        else printf("%.2f", r.eval_return);
        printf(",\"env_steps\":%ld,\"episodes\":%d,\"updates\":%ld,\"env_steps_per_s\":%.0f,\"wall_s\":%.3f}\n",
               r.train.env_steps, r.train.episodes, r.train.updates, r.train.env_steps_per_s, r.train.wall_s);
    }
    sd_rl_dqn_config_free(&o);   /* after the JSON line: o.env may point into it */
    return 0;
}

/* ---- rl play */

static int rl_play(int argc, char **argv)
{
    sd_rl_play_opts o = { .episodes = 1, .render = 1, .delay_ms = -1 };
    int quiet = 0, json = 0;
    uint64_t seed = 1;
    const flag flags[] = {
        { "env", F_STR, &o.env, "cartpole or acrobot (default: the one the agent was trained on)" },
        { "episodes", F_INT, &o.episodes, "episodes to play (default 1)", 1, 1000000 },
        { "steps", F_INT, &o.max_steps, "stop each episode after N steps", 1, 1 << 30 },
        { "seed", F_U64, &seed, "the environment's seed (default 1)" },
        { "delay", F_INT, &o.delay_ms, "milliseconds between frames (default: real time on a terminal, else 0)", 0, 10000 },
        { "quiet", F_BOOL, &quiet, "no pictures, only the returns" },
        { "json", F_BOOL, &json, "print one JSON object as the last line of stdout" },
        { 0 }
    };
    const char *usage = "play AGENT.safetensors [--env NAME] [flags]";
    char *pos[1];
    int npos, rc = cli_parse("rl", usage,
                             "Run a saved DQN agent greedily and draw the environment in the terminal.",
                             argc, argv, flags, pos, 1, &npos);
    if (rc) return done_rc(rc);
    if (npos != 1) return cli_usage_error("rl", usage, "%s", "expected an agent file");
    o.path = pos[0];
    o.seed = seed;
    if (o.env && !(o.env = env_name("play", o.env))) return 2;
    if (!o.env) {   /* the agent file says which environment it is for */
        sd_st_file *f = sd_st_open(o.path);
        const char *name = NULL;
        static char env_name[64];
        if (f && !sd_st_expect_kind(f, o.path, SD_KIND_BIT(SD_FILE_DQN_AGENT) | SD_KIND_BIT(SD_FILE_DQN_CKPT),
                                    "a DQN agent") &&
            !(name = sd_st_meta(f, "rl.env")))
            sd_error("%s: a DQN agent without rl.env in its metadata", o.path);
        if (name) snprintf(env_name, sizeof env_name, "%s", name);
        sd_st_close(f);
        if (!name) return cli_fail("rl play");
        o.env = env_name;
    }
    int tty = isatty(STDOUT_FILENO);
    o.render = !quiet;
    o.clear = tty && !quiet;
    if (o.delay_ms < 0) o.delay_ms = tty && !quiet ? (strstr(o.env, "acrobot") ? 67 : 20) : 0;
    sd_rl_play_result r;
    if (sd_app_rl_play(&o, &r, stdout)) return cli_fail("rl play");
    if (json) {
        printf("{\"env\":\"%s\",\"episodes\":%d,\"steps\":%ld,\"mean_return\":%.2f,\"returns\":[", o.env, r.episodes,
               r.steps, r.mean_return);
        for (int i = 0; i < r.episodes && i < SD_RL_MAX_PLAY; i++) printf("%s%.1f", i ? "," : "", r.returns[i]);
        printf("]}\n");
    }
    return 0;
}

int cmd_rl(int argc, char **argv)
{
    static const char *usage = "solve|qlearn|dqn|play [flags]   (shendu rl SUBCOMMAND --help)";
    if (argc < 2 || !strcmp(argv[1], "--help") || !strcmp(argv[1], "-h")) {
        printf("usage: shendu rl %s\n\nReinforcement learning, as in the lecture's last part:\n"
               "  solve    exact optimal values and policy of a grid world (policy evaluation, value iteration)\n"
               "  qlearn   tabular Q-learning on frozenlake, frozenlake8 or cliffwalking\n"
               "  dqn      Deep Q-Learning on cartpole or acrobot\n"
               "  play     run a saved DQN agent and draw it in the terminal\n",
               usage);
        return argc < 2 ? 2 : 0;
    }
    if (!strcmp(argv[1], "solve")) return rl_solve(argc - 1, argv + 1);
    if (!strcmp(argv[1], "qlearn")) return rl_qlearn(argc - 1, argv + 1);
    if (!strcmp(argv[1], "dqn")) return rl_dqn(argc - 1, argv + 1);
    if (!strcmp(argv[1], "play")) return rl_play(argc - 1, argv + 1);
    return cli_usage_error("rl", usage, "unknown subcommand '%s' (expected solve, qlearn, dqn or play)", argv[1]);
}
