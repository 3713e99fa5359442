/* tools/cmd_diffusion.c — denoising diffusion: diffusion (train), diffusion sample, diffusion score. */
#include "cli.h"
#include "apps/diffusion_app.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static int parse_sampler(const char *cmd, const char *usage, const char *name, int *ddim)
{
    if (!strcmp(name, "ddim")) *ddim = 1;
    else if (!strcmp(name, "ddpm")) *ddim = 0;
    else return cli_usage_error(cmd, usage, "unknown sampler '%s' (expected ddim or ddpm)", name);
    return 0;
}

/* ---- shendu diffusion sample MODEL --out grid.png */
static int diffusion_sample(int argc, char **argv)
{
    const char *out = NULL, *sampler = "ddim", *usage = "MODEL.safetensors --out GRID.png [flags]";
    sd_diffusion_sample_opts o = { .n = 64, .ddim = 1, .steps = 50, .seed = 1 };
    const flag flags[] = {
        { "out", F_STR, &out, "the PNG file to write" },
        { "n", F_INT, &o.n, "how many samples (default 64)", 1, 100000 },
        { "sampler", F_STR, &sampler, "ddim (deterministic, --sample-steps steps; default) or ddpm (ancestral, all "
                                      "T steps)" },
        { "sample-steps", F_INT, &o.steps, "DDIM steps (default 50; at most the model's T)", 1, SD_DDPM_MAX_T },
        { "trajectory", F_INT, &o.trajectory, "also draw the denoising path of this many samples, noise to "
                                              "picture, 8 pictures a row (default 0: none)", 0, 64 },
        { "trajectory-out", F_STR, &o.trajectory_out, "where the path goes (default trajectory.png)" },
        { "seed", F_U64, &o.seed, "noise seed (default 1)" },
        { "threads", F_INT, &o.threads, "worker threads (default 0 = all cores)", 0, 256 },
        { 0 }
    };
    char *pos[1];
    int npos, rc = cli_parse("diffusion sample", usage,
                             "Draw pictures from a diffusion model saved by shendu diffusion, as one grid PNG:\n"
                             "start from pure noise and remove the predicted noise step by step.",
                             argc, argv, flags, pos, 1, &npos);
    if (rc) return rc == 1 ? 0 : rc;
    if (npos != 1 || !out)
        return cli_usage_error("diffusion sample", usage, "%s", "expected a model file and --out GRID.png");
    if ((rc = parse_sampler("diffusion sample", usage, sampler, &o.ddim))) return rc;
    if (o.trajectory && !o.trajectory_out) o.trajectory_out = "trajectory.png";
    return sd_app_diffusion_sample(pos[0], out, &o, stdout) ? cli_fail("diffusion sample") : 0;
}

/* ---- shendu diffusion score MODEL --classifier CLS */
static int diffusion_score(int argc, char **argv)
{
    const char *cls = NULL, *data = NULL, *usage = "MODEL.safetensors --classifier CLS.safetensors [flags]";
    int n = 1000, steps = 50, threads = 0, json = 0;
    uint64_t seed = 1;
    const flag flags[] = {
        { "classifier", F_STR, &cls, "a shendu classifier trained on the same data (shendu train --out)" },
        { "n", F_INT, &n, "samples scored, and real test images (default 1000)", 1, 100000 },
        { "sample-steps", F_INT, &steps, "DDIM steps per sample (default 50)", 1, SD_DDPM_MAX_T },
        { "data", F_STR, &data, "data set of the real test images (default as for train)" },
        { "seed", F_U64, &seed, "noise seed (default 1)" },
        { "threads", F_INT, &threads, "worker threads (default 0 = all cores)", 0, 256 },
        { "json", F_BOOL, &json, "print one JSON object as the last line of stdout" },
        { 0 }
    };
    char *pos[1];
    int npos, rc = cli_parse("diffusion score", usage,
                             "The same inception score as shendu gan score, exp(E_x KL(p(y|x) || p(y))), of DDIM\n"
                             "samples of a diffusion model, and of real test images for reference.",
                             argc, argv, flags, pos, 1, &npos);
    if (rc) return rc == 1 ? 0 : rc;
    if (npos != 1 || !cls)
        return cli_usage_error("diffusion score", usage, "%s", "expected a model file and --classifier CLS.safetensors");
    double score, real;
    if (sd_app_diffusion_score(pos[0], cls, data, n, steps, seed, threads, &score, &real))
        return cli_fail("diffusion score");
    printf("%s: inception score %.3f over %d samples (DDIM, %d steps); real test images %.3f (%.1f%%)\n", pos[0],
           score, n, steps, real, 100.0 * score / real);
    if (json) printf("{\"score\":%.4f,\"real_score\":%.4f,\"n\":%d,\"sample_steps\":%d}\n", score, real, n, steps);
    return 0;
}

/* ---- shendu diffusion: train */
static int train_args(int argc, char **argv, sd_diffusion_train_opts *o_, int *json_)
{
    sd_diffusion_train_opts o = *o_;
    const char *schedule = "linear", *usage = "[sample|score] [flags]", *precision = "fp32", *allreduce = "overlap";
    int json = 0, stop_after = 0;
    const flag flags[] = {
        { "data", F_STR, &o.data_dir, "MNIST-layout data directory (default as for train)" },
        { "epochs", F_INT, &o.epochs, "passes over the training set (default 10)", 1, 1000000 },
        { "batch", F_INT, &o.batch, "pictures per step (default 64)", 2, 1 << 16 },
        { "lr", F_FLOAT, &o.lr, "Adam learning rate (default 0.0002)", 1e-12, 1e30 },
        { "channels", F_INT, &o.channels, "the U-Net's width c: c, 2c, 2c channels at the three sizes (default 32)",
          1, 1024 },
        { "groups", F_INT, &o.groups, "group normalisation groups, dividing --channels (default 8)", 1, 1024 },
        { "steps", F_INT, &o.T, "noise steps T (default 1000)", 1, SD_DDPM_MAX_T },
        { "schedule", F_STR, &schedule, "noise schedule: linear (Ho et al., default) or cosine (Nichol & Dhariwal)" },
        CLI_PRECISION_FLAG(precision),
        { "ema", F_FLOAT, &o.ema, "decay of the weights' moving average, which is sampled and saved (default "
                                  "0.999; 0: the last weights)", 0, 0.9999999 },
        { "sample-steps", F_INT, &o.sample_steps, "DDIM steps of each epoch's grid and score (default 50)", 1,
          SD_DDPM_MAX_T },
        { "seed", F_U64, &o.seed, "random seed (default 1)" },
        { "threads", F_INT, &o.threads, "worker threads (default 0 = all cores)", 0, 256 },
        { "out", F_STR, &o.out_dir, "directory for epoch_NNN.png and model.safetensors (default diffusion-out)" },
        { "classifier", F_STR, &o.classifier, "score the model after every epoch with this classifier" },
        { "score-n", F_INT, &o.score_n, "samples for the score (default, or 0: 1000)", 0, 1000000 },
        { "limit", F_INT, &o.limit_train, "use only the first N training images", 0, 1 << 30 },
        { "checkpoint", F_STR, &o.checkpoint, "write a checkpoint here (every --checkpoint-every steps, at the end, "
                                              "and on Ctrl-C)" },
        { "checkpoint-every", F_INT, &o.checkpoint_every, "steps between checkpoints (default 0: only at the end "
                                                          "and when stopped)", 0, 1 << 30 },
        { "resume", F_STR, &o.resume, "continue the run saved in this checkpoint (its configuration is kept)" },
        { "stop-after", F_INT, &stop_after, "stop after step N as on Ctrl-C (needs --checkpoint); exit 0", 0, 1 << 30 },
        { "json", F_BOOL, &json, "print one JSON object as the last line of stdout" },
        { "allreduce", F_STR, &allreduce, "under mpirun: overlap (in buckets during backward, default) or plain" },
        CLI_TRACK_FLAGS(o.track, "10"),
        { 0 }
    };
    char *pos[1];
    int npos, rc = cli_parse("diffusion", usage,
                             "Train a denoising diffusion model (DDPM): a U-Net learns to predict the noise that\n"
                             "was added to a training picture at a random step t of T; drawing a picture runs the\n"
                             "noising backwards from pure noise. After every epoch: an 8x8 grid drawn with DDIM\n"
                             "(DIR/epoch_NNN.png) and the model (DIR/model.safetensors).\n"
                             "  shendu diffusion sample MODEL --out grid.png        draw (--trajectory: the path)\n"
                             "  shendu diffusion score MODEL --classifier CLS       the GAN's inception score\n"
                             "  shendu explain diffusion                            the noising, step by step",
                             argc, argv, flags, pos, 0, &npos);
    if (rc) return rc;
    if (cli_check_config_ranges("diffusion", flags, sd_diffusion_config_fields)) return 70;
    if (sd_ddpm_kind_parse(schedule, &o.schedule))
        return cli_usage_error("diffusion", usage, "unknown --schedule '%s' (expected linear or cosine)", schedule);
    if ((rc = cli_precision("diffusion", usage, precision, &o.precision))) return rc;
    if (strcmp(allreduce, "overlap") && strcmp(allreduce, "plain"))
        return cli_usage_error("diffusion", usage, "unknown --allreduce '%s' (expected overlap or plain)", allreduce);
    o.overlap = !strcmp(allreduce, "overlap");
    if (o.channels % o.groups)
        return cli_usage_error("diffusion", usage, "%s", "--groups must divide --channels");
    if (o.sample_steps > o.T) {
        fprintf(stderr, "shendu diffusion: --sample-steps %d is more than the %d noise steps (--steps)\n",
                o.sample_steps, o.T);
        return 2;
    }
    if ((rc = cli_check_stop_after("diffusion", usage, stop_after, o.checkpoint, o.resume))) return rc;
    o.stop_after = stop_after;
    if (!o.resume && !cli_flag_given(argc, argv, "epochs")) o.track.quick = "--epochs 1 for a quick look";
    if (o.resume) {   /* the stored configuration; flags given again must agree */
        sd_st_file *f = sd_st_open(o.resume);   /* a file of another kind: a usage error, as for every trainer */
        const int other = f && sd_st_expect_kind(f, o.resume, SD_KIND_BIT(SD_FILE_DIFFUSION_CKPT),
                                                 "a checkpoint of shendu diffusion");
        sd_st_close(f);
        if (other) {
            fprintf(stderr, "shendu diffusion: %s\n", sd_last_error());
            return 2;
        }
        sd_diffusion_train_opts c = o;
        if (sd_diffusion_config_load(o.resume, &c)) {
            fprintf(stderr, "shendu diffusion: %s\n", sd_last_error());
            sd_diffusion_config_free(&c);
            return 3;   /* a file that is no checkpoint: exit 1 (cmd_diffusion) */
        }
        if ((rc = cli_resume_config("diffusion", argc, argv, sd_diffusion_config_fields,
                                    SD_DIFFUSION_CONFIG_FREE_FROM, &o, &c, o.resume))) {
            sd_diffusion_config_free(&c);
            return rc;
        }
        if (!o.checkpoint) c.checkpoint = o.resume;
        o = c;
    }
    *o_ = o;
    *json_ = json;
    return 0;
}

/* Under mpirun every rank runs this (data parallel); rank 0 alone prints and
 * writes files. Any rank's error ends the whole job, so none is left waiting. */
int cmd_diffusion(int argc, char **argv)
{
    if (argc > 1 && !strcmp(argv[1], "sample")) return diffusion_sample(argc - 1, argv + 1);
    if (argc > 1 && !strcmp(argv[1], "score")) return diffusion_score(argc - 1, argv + 1);
    sd_dist *dist = sd_dist_init(&argc, &argv);
    if (!dist) {
        fprintf(stderr, "shendu diffusion: %s\n", sd_last_error());
        return 1;
    }
    const int rank = sd_dist_rank(dist);
    sd_diffusion_train_opts o = { .epochs = 10, .batch = 64, .lr = 2e-4f, .channels = 32, .groups = 8, .T = 1000,
                                  .ema = 0.999f, .sample_steps = 50, .seed = 1 };
    int json = 0;
    int rc = cli_dist_agree(dist, "diffusion", train_args(argc, argv, &o, &json));
    if (rc) {
        sd_diffusion_config_free(&o);
        sd_dist_finalize(dist);
        return rc == 1 ? 0 : rc == 3 ? 1 : rc;   /* 1: --help; 3: a file that is no checkpoint */
    }
    FILE *log = cli_dist_log(dist);
    o.dist = dist;
    o.live_progress = rank == 0 && isatty(STDERR_FILENO);
    o.stop = cli_catch_stop();
    sd_diffusion_result r;
    rc = sd_app_diffusion_train(&o, &r, log);
    cli_release_stop();
    cli_dist_log_close(log);
    const int stopped_by_signal = *o.stop;
    if (rc && rc != SD_STOPPED) {
        cli_dist_fail(dist, "diffusion", r.failed_everywhere);
        sd_diffusion_config_free(&o);
        sd_dist_finalize(dist);
        return 1;
    }
    if (!rc && json && rank == 0) {
        printf("{\"epochs\":%d,\"steps\":%ld,\"loss\":%.5f,\"train_images_per_s\":%.1f,\"wall_s\":%.3f,"
               "\"params\":%zu", r.epochs, r.steps, r.loss, r.train_images_per_s, r.wall_s, r.params);
        if (isfinite(r.score)) printf(",\"score\":%.4f,\"real_score\":%.4f", r.score, r.real_score);
        printf(",\"ranks\":%d,\"sync_wait_s\":%.3f,\"model\":", r.ranks, r.sync_wait_s);
        sd_json_write_str(stdout, r.model);
        printf("}\n");
    }
    sd_diffusion_config_free(&o);
    sd_dist_finalize(dist);
    return rc == SD_STOPPED ? (stopped_by_signal ? 130 : 0) : 0;
}

/* ---- shendu explain diffusion (reached from cmd_explain) */
int cmd_explain_diffusion(int argc, char **argv)
{
    const char *data = NULL, *schedule = "linear", *out = NULL, *usage = "diffusion [flags]";
    int T = 1000, index = 0;
    const flag flags[] = {
        { "data", F_STR, &data, "MNIST-layout data directory (default as for train)" },
        { "index", F_INT, &index, "which training picture (default 0)", 0, 1 << 30 },
        { "schedule", F_STR, &schedule, "linear (default) or cosine" },
        { "steps", F_INT, &T, "noise steps T (default 1000)", 1, SD_DDPM_MAX_T },
        { "out", F_STR, &out, "also write the noised pictures as a strip (PNG)" },
        { 0 }
    };
    char *pos[1];
    int npos, rc = cli_parse("explain diffusion", usage,
                             "The forward noising of one training picture at t = 0, T/10, ..., T with the\n"
                             "schedule's numbers, then one reverse step (DDPM and DDIM) worked through.",
                             argc, argv, flags, pos, 0, &npos);
    if (rc) return rc == 1 ? 0 : rc;
    sd_ddpm_kind kind;
    if (sd_ddpm_kind_parse(schedule, &kind))
        return cli_usage_error("explain diffusion", usage, "unknown --schedule '%s' (expected linear or cosine)",
                               schedule);
    return sd_app_explain_diffusion(data, kind, T, index, out, stdout) ? cli_fail("explain diffusion") : 0;
}
