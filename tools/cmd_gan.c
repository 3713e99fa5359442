/* tools/cmd_gan.c — generative adversarial networks: gan (train), gan sample, gan score. */
#include "cli.h"

#include <math.h>
#include <string.h>
#include <unistd.h>

/* A number, or null when it is not one (no classifier given). */
static void json_num(FILE *f, const char *key, double v)
{
    if (isfinite(v)) fprintf(f, ",\"%s\":%.4f", key, v);
    else fprintf(f, ",\"%s\":null", key);
}

/* ---- shendu gan sample FILE --n 64 --out grid.png */

static int gan_sample(int argc, char **argv)
{
    const char *out = NULL, *usage = "GEN.safetensors --out GRID.png [flags]";
    int n = 64, cols = 0, threads = 0;
    uint64_t seed = 1, max_memory = 0;
    const flag flags[] = {
        CLI_MAX_MEMORY_FLAG(&max_memory),
        { "n", F_INT, &n, "how many samples (default 64)", 1, 10000 },
        { "cols", F_INT, &cols, "samples per row (default: a square grid)", 0, 10000 },
        { "out", F_STR, &out, "the PNG file to write" },
        { "seed", F_U64, &seed, "noise seed (default 1)" },
        { "threads", F_INT, &threads, "worker threads (default 0 = all cores)", 0, 256 },
        { 0 }
    };
    char *pos[1];
    int npos, rc = cli_parse("gan sample", usage, "Draw samples from a generator saved by shendu gan, as one grid PNG.",
                             argc, argv, flags, pos, 1, &npos);
    if (rc) return rc == 1 ? 0 : rc;
    if (npos != 1 || !out) return cli_usage_error("gan sample", usage, "%s", "expected a generator file and --out GRID.png");
    return sd_app_gan_sample(pos[0], n, cols, seed, out, threads, stdout, max_memory) ? cli_fail("gan sample") : 0;
}

/* ---- shendu gan score GEN --classifier CLS */

static int gan_score(int argc, char **argv)
{
    const char *cls = NULL, *data = NULL, *usage = "GEN.safetensors --classifier CLS.safetensors [flags]";
    int n = 10000, threads = 0, json = 0;
    uint64_t seed = 1, max_memory = 0;
    const flag flags[] = {
        CLI_MAX_MEMORY_FLAG(&max_memory),
        { "classifier", F_STR, &cls, "a shendu classifier trained on the same data (shendu train --out)" },
        { "n", F_INT, &n, "samples scored, and real test images (default 10000)", 1, 1000000 },
        { "data", F_STR, &data, "data set of the real test images (default: the generator's)" },
        { "seed", F_U64, &seed, "noise seed (default 1)" },
        { "threads", F_INT, &threads, "worker threads (default 0 = all cores)", 0, 256 },
        { "json", F_BOOL, &json, "print one JSON object as the last line of stdout" },
        { 0 }
    };
    char *pos[1];
    int npos, rc = cli_parse("gan score", usage,
                             "Inception score of a generator, exp(E_x KL(p(y|x) || p(y))), with p(y|x) from a shendu\n"
                             "classifier; the same score of the real test images for reference. From 1 (samples\n"
                             "all alike or unrecognisable) to the number of classes.",
                             argc, argv, flags, pos, 1, &npos);
    if (rc) return rc == 1 ? 0 : rc;
    if (npos != 1 || !cls)
        return cli_usage_error("gan score", usage, "%s", "expected a generator file and --classifier CLS.safetensors");
    double score, real;
    if (sd_app_gan_score(pos[0], cls, data, n, seed, threads, &score, &real, max_memory)) return cli_fail("gan score");
    printf("%s: inception score %.3f over %d samples; real test images %.3f (%.1f%%)\n", pos[0], score, n, real,
           100.0 * score / real);
    if (json) printf("{\"score\":%.4f,\"real_score\":%.4f,\"n\":%d}\n", score, real, n);
    return 0;
}

/* ---- shendu gan: train */

/* Parse and check the flags into o (a resume: the stored configuration).
 * Returns 0, 1 after --help, 2 after a usage error. */
static int train_args(int argc, char **argv, sd_gan_train_opts *o_, int *json_)
{
    sd_gan_train_opts o = *o_;
    const char *loss = "ns", *usage = "[sample|score] [flags]", *allreduce = "overlap", *precision = "fp32";
    int json = 0, stop_after = 0;
    const flag flags[] = {
        { "arch", F_STR, &o.arch, "mlp (../shared/bench-ref/gan.py's) or dcgan (transposed convolutions, batchnorm)" },
        { "data", F_STR, &o.data_dir, "MNIST-layout data directory of 28x28 gray images (default as for train)" },
        { "epochs", F_INT, &o.epochs, "passes over the training set (default 20)", 1, 1000000 },
        { "batch", F_INT, &o.batch, "real images per step (default: 64 for mlp, 32 for dcgan)", 2, 1 << 16 },
        { "loss", F_STR, &loss, "G's loss: ns (non-saturating, default) or minimax (the lecture's min_G max_D V)" },
        CLI_PRECISION_FLAG(precision),
        { "lr", F_FLOAT, &o.lr, "Adam learning rate of both networks (default, or 0: 0.0002)", 0, 1e30 },
        { "ema", F_FLOAT, &o.ema, "decay of G's moving average, which is sampled, scored and saved (default: the "
                                  "architecture's, 0.999; 0: G's last weights)", 0, 1, OPEN_MAX },
        { "smooth", F_FLOAT, &o.smooth, "one-sided label smoothing: D's target for real images is 1 - X "
                                        "(default: the architecture's, 0)", 0, 0.5, OPEN_MAX },
        { "seed", F_U64, &o.seed, "random seed (default 1)" },
        { "threads", F_INT, &o.threads, "worker threads (default 0 = all cores)", 0, 256 },
        { "out", F_STR, &o.out_dir, "directory for epoch_NNN.png and generator.safetensors (default gan-out)" },
        { "classifier", F_STR, &o.classifier, "score the generator after every epoch with this classifier (see gan score)" },
        { "score-n", F_INT, &o.score_n, "samples for the score (default, or 0: 10000)", 0, 1000000 },
        { "limit", F_INT, &o.limit_train, "use only the first N training images", 0, 1 << 30 },
        { "checkpoint", F_STR, &o.checkpoint, "write a checkpoint here (every --checkpoint-every steps, at the end, "
                                              "and on Ctrl-C)" },
        { "checkpoint-every", F_INT, &o.checkpoint_every, "steps between checkpoints (default 0: only at the end "
                                                          "and when stopped)", 0, 1 << 30 },
        { "resume", F_STR, &o.resume, "continue the run saved in this checkpoint (its configuration is kept)" },
        { "stop-after", F_INT, &stop_after, "stop after step N as on Ctrl-C (checkpoint, resume later); exit 0",
          0, 1 << 30 },
        { "allreduce", F_STR, &allreduce, "under mpirun: overlap (in buckets during backward, default) or plain" },
        CLI_MAX_MEMORY_FLAG(&o.max_memory),
        { "json", F_BOOL, &json, "print one JSON object as the last line of stdout" },
        CLI_TRACK_FLAGS(o.track, "10"),
        { 0 }
    };
    if (cli_check_config_ranges("gan", flags, sd_gan_config_fields)) return 70;
    char *pos[1];
    int npos, rc = cli_parse("gan", usage,
                             "Train a generative adversarial network: G turns noise into pictures, D tells them\n"
                             "from real ones, each trained against the other. After every epoch: an 8x8 grid of\n"
                             "samples from fixed noise (DIR/epoch_NNN.png) and the generator (DIR/generator.safetensors).\n"
                             "  shendu gan sample GEN.safetensors --out grid.png     draw from a generator\n"
                             "  shendu gan score GEN.safetensors --classifier CLS    its inception score",
                             argc, argv, flags, pos, 0, &npos);
    if (rc) return rc;
    if (strcmp(o.arch, "mlp") && strcmp(o.arch, "dcgan"))
        return cli_usage_error("gan", usage, "unknown architecture '%s' (expected mlp or dcgan)", o.arch);
    if (sd_gan_loss_parse(loss, &o.loss)) return cli_usage_error("gan", usage, "unknown loss '%s' (expected ns or minimax)", loss);
    if ((rc = cli_precision("gan", usage, precision, &o.precision))) return rc;
    int batch;
    float smooth, ema;
    sd_gan_recipe(o.arch, &batch, &smooth, &ema);   /* flags not given: the architecture's recipe */
    if (!o.batch) o.batch = batch;
    if (o.smooth < 0) o.smooth = smooth;
    if (o.ema < 0) o.ema = ema;
    if (strcmp(allreduce, "overlap") && strcmp(allreduce, "plain"))
        return cli_usage_error("gan", usage, "unknown --allreduce '%s' (expected overlap or plain)", allreduce);
    o.overlap = !strcmp(allreduce, "overlap");
    o.stop_after = stop_after;
    if ((rc = cli_check_stop_after("gan", usage, stop_after, o.checkpoint, o.resume))) return rc;
    if (!o.resume && !cli_flag_given(argc, argv, "epochs")) o.track.quick = "--epochs 1 for a quick look";
    if (o.resume) {   /* the stored configuration; flags given again must agree (out, classifier, score-n may change) */
        sd_gan_train_opts c = o;
        if (sd_gan_config_load(o.resume, &c)) {
            fprintf(stderr, "shendu gan: %s\n", sd_last_error());
            sd_gan_config_free(&c);
            return 2;
        }
        if ((rc = cli_resume_config("gan", argc, argv, sd_gan_config_fields, SD_GAN_CONFIG_FREE_FROM, &o, &c,
                                    o.resume))) {
            sd_gan_config_free(&c);
            return rc;
        }
        if (!o.checkpoint) c.checkpoint = o.resume;
        c.max_memory = o.max_memory;
        o = c;
    }
    *o_ = o;
    *json_ = json;
    return 0;
}

/* Under mpirun every rank runs this; rank 0 alone prints and writes files.
 * Any rank's error ends the whole job (sd_dist_abort), so none is left waiting. */
int cmd_gan(int argc, char **argv)
{
    if (argc > 1 && !strcmp(argv[1], "sample")) return gan_sample(argc - 1, argv + 1);
    if (argc > 1 && !strcmp(argv[1], "score")) return gan_score(argc - 1, argv + 1);
    sd_dist *dist = sd_dist_init(&argc, &argv);
    if (!dist) {
        fprintf(stderr, "shendu gan: %s\n", sd_last_error());
        return 1;
    }
    const int rank = sd_dist_rank(dist);
    sd_gan_train_opts o = { .arch = "mlp", .epochs = 20, .seed = 1, .ema = -1.0f, .lr = 2e-4f, .smooth = -1.0f };
    int json = 0, rc = train_args(argc, argv, &o, &json);
    rc = cli_dist_agree(dist, "gan", rc);
    if (rc) {
        sd_gan_config_free(&o);
        sd_dist_finalize(dist);
        return rc == 1 ? 0 : rc;
    }
    FILE *log = cli_dist_log(dist);
    o.dist = dist;
    o.live_progress = rank == 0 && isatty(STDERR_FILENO);
    o.stop = cli_catch_stop();
    sd_gan_result r;
    rc = sd_app_gan_train(&o, &r, log);
    cli_release_stop();
    cli_dist_log_close(log);
    if (rc && rc != SD_STOPPED) cli_dist_fail(dist, "gan", r.failed_everywhere);
    if (!rc && json && rank == 0) {
        printf("{\"arch\":");
        sd_json_write_str(stdout, o.arch);
        printf(",\"epochs\":%d,\"loss\":\"%s\",\"d_loss\":%.4f,\"g_loss\":%.4f,\"d_real\":%.4f,\"d_fake\":%.4f,"
               "\"train_images_per_s\":%.1f", r.epochs, sd_gan_loss_name(o.loss), r.d_loss, r.g_loss, r.d_real,
               r.d_fake, r.train_images_per_s);
        json_num(stdout, "score", r.score);
        json_num(stdout, "real_score", r.real_score);
        printf(",\"wall_s\":%.3f,\"ranks\":%d,\"sync_wait_s\":%.3f,\"generator\":", r.wall_s, r.ranks, r.sync_wait_s);
        sd_json_write_str(stdout, r.generator);
        printf("}\n");
    }
    const int stopped_by_signal = *o.stop;
    sd_gan_config_free(&o);   /* after the JSON line: o.arch may point into it */
    sd_dist_finalize(dist);
    return rc == SD_STOPPED ? (stopped_by_signal ? 130 : 0) : rc ? 1 : 0;
}
