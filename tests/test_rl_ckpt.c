/* DQN checkpoints: a run stopped at step K, saved, restored into a fresh
 * agent and environment and finished ends bit-identical to an uninterrupted
 * run; the environment snapshot round-trips; damaged checkpoints (replay
 * sizes that do not fit, foreign files) are refused with a message. */
#include "check.h"
#include "shendu.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static char dir[512];

static const char *tmp_path(const char *name)
{
    static char p[4][600];
    static int k;
    k = (k + 1) % 4;
    snprintf(p[k], sizeof p[k], "%s/%s", dir, name);
    return p[k];
}

static sd_dqn_opts small_opts(void)
{
    return (sd_dqn_opts){ .hidden = "linear(16) relu", .total_steps = 1500, .buffer_size = 400, .batch = 16,
                          .lr = 1e-3f, .learning_starts = 100, .train_freq = 2, .target_freq = 50,
                          .eps_decay_steps = 1000, .lr_end = 1e-4f, .double_dqn = 1, .solve_window = 5,
                          .no_stop = 1, .seed = 9 };
}

typedef struct stop_at { long k; } stop_at;
static int stop_hook(sd_dqn *d, const sd_env *env, long step, void *user)
{
    (void)d; (void)env;
    return step == ((stop_at *)user)->k;
}

static int same_params(sd_model *a, sd_model *b)
{
    sd_params *A = sd_model_params(a), *B = sd_model_params(b);
    return sd_params_size(A) == sd_params_size(B) &&
           !memcmp(sd_params_values(A), sd_params_values(B), sd_params_size(A) * sizeof(float));
}

static void test_resume_identical(sd_ctx *ctx, long k)
{
    sd_dqn_opts o = small_opts();
    sd_env *e1 = sd_env_new("cartpole", NULL), *e2 = sd_env_new("cartpole", NULL), *e3 = sd_env_new("cartpole", NULL);
    sd_dqn *full = sd_dqn_new(ctx, 4, 2, &o), *part = sd_dqn_new(ctx, 4, 2, &o), *rest = sd_dqn_new(ctx, 4, 2, &o);
    sd_dqn_result rf, rp, rr;
    CHECK(sd_dqn_run(full, e1, &rf, NULL) == 0 && rf.env_steps == 1500);
    stop_at s = { k };
    CHECK(sd_dqn_run(part, e2, &rp, &(sd_dqn_hooks){ .on_step = stop_hook, .user = &s }) == 1);
    CHECK(sd_dqn_steps(part) == k);
    const char *ck = tmp_path("dqn_ck.safetensors");
    CHECK(sd_dqn_checkpoint_save(part, e2, ck, NULL, 0) == 0);
    CHECK(sd_dqn_checkpoint_restore(rest, e3, ck) == 0);
    CHECK(sd_dqn_steps(rest) == k);
    CHECK(sd_dqn_run(rest, e3, &rr, NULL) == 0);
    CHECK(same_params(sd_dqn_model(full), sd_dqn_model(rest)));
    CHECK(same_params(sd_dqn_target(full), sd_dqn_target(rest)));
    CHECK(rr.env_steps == rf.env_steps && rr.episodes == rf.episodes && rr.updates == rf.updates &&
          rr.avg_return == rf.avg_return && rr.solved == rf.solved);
    /* the stopped agent itself also goes on to the same end */
    CHECK(sd_dqn_run(part, e2, &rp, NULL) == 0 && same_params(sd_dqn_model(full), sd_dqn_model(part)));
    /* a finished run resumes to nothing more */
    CHECK(sd_dqn_run(rest, e3, &rr, NULL) == 0 && rr.env_steps == 1500 && same_params(sd_dqn_model(full), sd_dqn_model(rest)));
    /* the checkpoint is an agent file */
    sd_model *m = sd_agent_load(ck, e1);
    CHECK(m != NULL);
    sd_model_free(m);
    sd_dqn_free(full);
    sd_dqn_free(part);
    sd_dqn_free(rest);
    sd_env_free(e1);
    sd_env_free(e2);
    sd_env_free(e3);
}

/* A stop asked between two of the many updates of one env step: the checkpoint
 * written there holds the updates still due, and a resume from it does them
 * first, ending bit-identical to the uninterrupted run. */
typedef struct mid_stop { int polls, at, asked; } mid_stop;
static int interrupted_at(void *user)
{
    mid_stop *m = user;
    m->asked |= ++m->polls == m->at;
    return m->asked;
}
static int stop_when_asked(sd_dqn *d, const sd_env *env, long step, void *user)
{
    (void)d; (void)env; (void)step;
    return ((mid_stop *)user)->asked;
}

static void test_stop_between_updates(sd_ctx *ctx)
{
    sd_dqn_opts o = small_opts();
    o.total_steps = 400;
    o.gradient_steps = 7;
    sd_env *e1 = sd_env_new("cartpole", NULL), *e2 = sd_env_new("cartpole", NULL), *e3 = sd_env_new("cartpole", NULL);
    sd_dqn *full = sd_dqn_new(ctx, 4, 2, &o), *part = sd_dqn_new(ctx, 4, 2, &o), *rest = sd_dqn_new(ctx, 4, 2, &o);
    sd_dqn_result rf, rp, rr;
    CHECK(sd_dqn_run(full, e1, &rf, NULL) == 0 && rf.env_steps == 400);
    mid_stop m = { .at = 200 };   /* the 200th poll: inside an env step's 7 updates */
    CHECK(sd_dqn_run(part, e2, &rp, &(sd_dqn_hooks){ .on_step = stop_when_asked, .interrupted = interrupted_at,
                                                     .user = &m }) == 1);
    CHECK(m.polls == 200 && rp.updates % 7 != 0);   /* stopped between two updates of one step */
    const char *ck = tmp_path("dqn_mid.safetensors");
    CHECK(sd_dqn_checkpoint_save(part, e2, ck, NULL, 0) == 0);
    sd_st_file *f = sd_st_open(ck);
    const char *pending = f ? sd_st_meta(f, "shendu.rl.pending_updates") : NULL;
    CHECK_MSG(pending && atoi(pending) == 7 - (int)(rp.updates % 7), "pending %s", pending ? pending : "(none)");
    sd_st_close(f);
    CHECK(sd_dqn_checkpoint_restore(rest, e3, ck) == 0);
    CHECK(sd_dqn_run(rest, e3, &rr, NULL) == 0);
    CHECK(same_params(sd_dqn_model(full), sd_dqn_model(rest)) && same_params(sd_dqn_target(full), sd_dqn_target(rest)));
    CHECK(rr.updates == rf.updates && rr.episodes == rf.episodes && rr.env_steps == rf.env_steps);
    /* the stopped agent itself goes on to the same end */
    CHECK(sd_dqn_run(part, e2, &rp, NULL) == 0 && same_params(sd_dqn_model(full), sd_dqn_model(part)));
    sd_dqn_free(full);
    sd_dqn_free(part);
    sd_dqn_free(rest);
    sd_env_free(e1);
    sd_env_free(e2);
    sd_env_free(e3);
}

static void test_env_snapshot(void)
{
    const char *names[] = { "cartpole", "acrobot", "frozenlake" };
    for (int i = 0; i < 3; i++) {
        sd_env *a = sd_env_new(names[i], NULL), *b = sd_env_new(names[i], NULL);
        float oa[8], ob[8];
        sd_env_reset(a, 4, oa);
        sd_env_result ra, rb;
        for (int t = 0; t < 3; t++) sd_env_step(a, t % 2, oa, &ra);
        sd_env_saved s;
        sd_env_snapshot(a, &s);
        CHECK(sd_env_restore(b, &s) == 0 && sd_env_elapsed(b) == 3);
        int same = 1;
        for (int t = 0; t < 20 && same; t++) {
            if (sd_env_step(a, t % 2, oa, &ra) || sd_env_step(b, t % 2, ob, &rb)) break;
            same = !memcmp(oa, ob, sizeof(float) * (size_t)sd_env_get_info(a)->obs_dim) && ra.reward == rb.reward &&
                   ra.terminated == rb.terminated;
            if (ra.terminated || ra.truncated) { sd_env_reset(a, SD_ENV_NO_SEED, oa); sd_env_reset(b, SD_ENV_NO_SEED, ob); }
        }
        CHECK(same);
        sd_env_saved bad = s;
        bad.elapsed = 100000;
        CHECK(sd_env_restore(b, &bad) == -1);
        bad = s;
        memset(&bad.rng, 0, sizeof bad.rng);
        CHECK(sd_env_restore(b, &bad) == -1);
        if (!strcmp(names[i], "frozenlake")) {
            bad = s;
            bad.state[0] = 16;
            CHECK(sd_env_restore(b, &bad) == -1);
        }
        sd_env_free(a);
        sd_env_free(b);
    }
}

/* Rewrite a checkpoint with one tensor replaced. */
static void rewrite(const char *src, const char *dst, const char *name, const sd_st_tensor *with)
{
    sd_st_file *f = sd_st_open(src);
    CHECK(f != NULL);
    if (!f) return;
    int n = sd_st_count(f), nm = sd_st_meta_count(f);
    sd_st_tensor *t = calloc((size_t)n, sizeof *t);
    sd_st_kv *kv = calloc((size_t)nm, sizeof *kv);
    for (int i = 0; i < n; i++) {
        sd_st_get(f, i, &t[i]);
        if (!strcmp(t[i].name, name)) t[i] = *with;
    }
    for (int i = 0; i < nm; i++) sd_st_meta_get(f, i, &kv[i]);
    CHECK(sd_st_save(dst, t, n, kv, nm) == 0);
    free(t);
    free(kv);
    sd_st_close(f);
}

static void expect_refused(sd_ctx *ctx, const char *path, const char *what)
{
    sd_dqn_opts o = small_opts();
    sd_env *e = sd_env_new("cartpole", NULL);
    sd_dqn *d = sd_dqn_new(ctx, 4, 2, &o);
    int rc = sd_dqn_checkpoint_restore(d, e, path);
    CHECK(rc == -1);
    if (rc == -1 && !strstr(sd_last_error(), what)) {
        fprintf(stderr, "expected '%s' in: %s\n", what, sd_last_error());
        CHECK(0);
    }
    sd_dqn_free(d);
    sd_env_free(e);
}

static void test_damaged(sd_ctx *ctx)
{
    sd_dqn_opts o = small_opts();
    sd_env *e = sd_env_new("cartpole", NULL);
    sd_dqn *d = sd_dqn_new(ctx, 4, 2, &o);
    stop_at s = { 300 };
    CHECK(sd_dqn_run(d, e, NULL, &(sd_dqn_hooks){ .on_step = stop_hook, .user = &s }) == 1);
    const char *ck = tmp_path("dmg.safetensors"), *bad = tmp_path("dmg_bad.safetensors");
    CHECK(sd_dqn_checkpoint_save(d, e, ck, NULL, 0) == 0);

    /* the counters claim more transitions than the memory holds */
    sd_st_file *f = sd_st_open(ck);
    sd_st_tensor c;
    sd_st_get(f, sd_st_find(f, "shendu.rl.counters"), &c);
    int64_t counts[32];
    memcpy(counts, c.data, (size_t)c.shape[0] * sizeof(int64_t));
    sd_st_close(f);
    int64_t big[32];
    memcpy(big, counts, sizeof big);
    big[11] = 100000;   /* C_REPLAY_SIZE */
    c.name = "shendu.rl.counters";   /* the file's own strings went with it */
    c.data = big;
    rewrite(ck, bad, "shendu.rl.counters", &c);
    expect_refused(ctx, bad, "replay memory holds 100000");
    /* ... or the replay tensors disagree with the counters */
    float few[4 * 10] = { 0 };
    sd_st_tensor r = { .name = "shendu.rl.replay.obs", .dtype = SD_F32, .ndim = 2, .shape = { 10, 4 }, .data = few };
    rewrite(ck, bad, "shendu.rl.replay.obs", &r);
    expect_refused(ctx, bad, "shendu.rl.replay.obs");
    /* an action outside the action space */
    int32_t acts[300];
    for (int i = 0; i < 300; i++) acts[i] = i == 7 ? 5 : 0;
    r = (sd_st_tensor){ .name = "shendu.rl.replay.action", .dtype = SD_I32, .ndim = 1, .shape = { 300 }, .data = acts };
    rewrite(ck, bad, "shendu.rl.replay.action", &r);
    expect_refused(ctx, bad, "action 5");
    /* a truncated file */
    FILE *in = fopen(ck, "rb"), *out = fopen(bad, "wb");
    char buf[4096];
    size_t n = fread(buf, 1, sizeof buf, in);
    fwrite(buf, 1, n / 2, out);
    fclose(in);
    fclose(out);
    expect_refused(ctx, bad, "dmg_bad.safetensors");
    /* a plain agent file */
    CHECK(sd_dqn_save(d, e, bad) == 0);
    expect_refused(ctx, bad, "not a checkpoint of `shendu rl dqn`");
    /* a checkpoint for another environment */
    sd_env *acro = sd_env_new("acrobot", NULL);
    sd_dqn *da = sd_dqn_new(ctx, 6, 3, &o);
    CHECK(sd_dqn_checkpoint_save(da, acro, bad, NULL, 0) == 0);
    expect_refused(ctx, bad, "not for 'cartpole'");
    sd_dqn_free(da);
    sd_env_free(acro);
    sd_dqn_free(d);
    sd_env_free(e);
}

int main(void)
{
    const char *t = getenv("SHENDU_TEST_TMP");
    snprintf(dir, sizeof dir, "%s", t ? t : "/tmp");
    sd_ctx *ctx = sd_ctx_new(&(sd_ctx_opts){ .threads = 1 });
    test_env_snapshot();
    test_resume_identical(ctx, 1);       /* before learning starts */
    test_resume_identical(ctx, 777);     /* mid-run, the replay memory full and wrapped */
    test_stop_between_updates(ctx);
    test_damaged(ctx);
    sd_ctx_free(ctx);
    return check_done("test_rl_ckpt");
}
