/* tools/cmd_classify.c — image classification: train, eval, predict, show, explain. */
#include "cli.h"

#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* ---- shendu train */

/* Flags that set a configuration key of another name (the others are named after theirs). */
static const cli_alias flag_keys[] = {
    { "recipe", "normalize" }, { "recipe", "shift" }, { "recipe", "flip" }, { "recipe", "cosine" },
    { "no-normalize", "normalize" }, { "no-flip", "flip" }, { "schedule", "cosine" }, { NULL, NULL }
};

/* Resume: the configuration comes from the checkpoint; every flag given again
 * must agree with it. Returns 0, or 2 after printing the disagreement. */
static int resume_config(int argc, char **argv, sd_train_opts *o)
{
    sd_train_opts c = *o;
    if (sd_train_config_load(o->resume, &c)) {
        fprintf(stderr, "shendu train: %s\n", sd_last_error());
        sd_train_config_free(&c);
        return 2;
    }
    sd_train_opts given = *o;   /* the data directory a run without --data would use */
    if (!given.data_dir) given.data_dir = sd_data_default_dir();
    if (cli_check_resumed("train", argc, argv, sd_train_config_fields, SD_CONFIG_MAX, flag_keys, &given, &c, o->resume)) {
        sd_train_config_free(&c);
        return 2;
    }
    c.out = o->out;
    c.checkpoint = o->checkpoint ? o->checkpoint : o->resume;
    c.checkpoint_every = o->checkpoint_every;
    c.stop_after = o->stop_after;
    c.max_memory = o->max_memory;
    c.track = o->track;
    *o = c;
    return 0;
}

/* Parse and check the flags into o. Returns 0, 1 after --help, 2 after a usage error. */
static int train_args(int argc, char **argv, sd_train_opts *o_, int *json_)
{
    sd_train_opts o = *o_;
    const char *optim = "adam", *init = "default", *recipe = NULL, *schedule = NULL, *allreduce = "overlap";
    const char *task = "auto", *fill = "none", *resize = "pad", *precision = "fp32";
    float test_split = 0.0f, val = 0.0f;
    int json = 0, shift = -1, flip = 0, no_flip = 0, normalize = 0, no_normalize = 0, stop_after = 0;
    const flag flags[] = {
        { "model", F_STR, &o.model, "a preset, mlp or cnn, or an architecture string (default mlp)" },
        { "data", F_STR, &o.data_dir, "MNIST-layout folder, class folders DIR/<class>/*.png|jpg (or DIR/train + DIR/test), "
                                      "or a CSV table (default $SHENDU_DATA, data/fashion-mnist, /usr/share/datasets/fashion-mnist)" },
        { "target", F_STR, &o.data.target, "CSV: the column to predict (its values are the classes)" },
        { "task", F_STR, &task, "CSV: auto, classify or regress (default auto: classify a text target, regress a numeric one)" },
        { "fill", F_STR, &fill, "CSV: none (a missing feature is an error; default) or mean (replaced with the column's training mean)" },
        { "size", F_STR, &o.data.size, "pictures: resize to N (NxN) or WxH (default: the most common size)" },
        { "channels", F_INT, &o.data.channels, "pictures: 1 (gray) or 3 (colour) (default, or 0: 3 if any picture has colour)", 0, 3 },
        { "resize", F_STR, &resize, "pictures: pad (keep the aspect, pad), crop (centre crop) or stretch (default pad)" },
        { "skip-bad", F_BOOL, &o.data.skip_bad, "pictures: leave out files that cannot be read (counted) instead of stopping" },
        { "val", F_FLOAT, &val, "hold out this stratified part of the training data for validation (e.g. 0.1; default 0: none)", 0, 0.9 },
        { "early-stop", F_INT, &o.data.early_stop, "with --val: stop after N epochs without a lower validation loss, keeping the best weights (default 0: never)", 0, 1 << 20 },
        { "test-split", F_FLOAT, &test_split, "one folder or table: the part held out for testing (default, or 0: 0.2)", 0, 0.99 },
        { "recipe", F_STR, &recipe, "plain (pixels/255, constant lr) or best (normalised, mirrored or shifted, Adam 2e-3 cosine); default: plain for mlp, best for cnn" },
        { "epochs", F_INT, &o.epochs, "passes over the training set (default 5; 10 with --recipe best; 50 for a table)", 1, 1000000 },
        { "schedule", F_STR, &schedule, "learning rate: const or cosine (default: from the recipe)" },
        { "shift", F_INT, &shift, "augment with random shifts of up to N pixels (default: from the recipe)", 0, 8 },
        { "flip", F_BOOL, &flip, "augment with random left-right mirrors" },
        { "no-flip", F_BOOL, &no_flip, "no mirrors even if the recipe has them" },
        { "normalize", F_BOOL, &normalize, "inputs to zero mean and unit variance" },
        { "no-normalize", F_BOOL, &no_normalize, "inputs as pixels/255 even if the recipe normalises" },
        { "batch", F_INT, &o.batch, "mini-batch size (default 64; 16 for a table)", 1, 1 << 20 },
        { "lr", F_FLOAT, &o.lr, "learning rate (default, or 0: 0.001 for adam, 0.002 with --recipe best, 0.01 for sgd)", 0, 100 },
        { "optim", F_STR, &optim, "sgd or adam (default adam)" },
        { "momentum", F_FLOAT, &o.momentum, "SGD momentum (default 0)", 0, 1, OPEN_MAX },
        { "weight-decay", F_FLOAT, &o.weight_decay, "L2 weight decay (default 0)", 0, 1 },
        { "init", F_STR, &init, "weight initialisation: default (PyTorch's), he, xavier" },
        { "threads", F_INT, &o.threads, "worker threads (default 0 = all cores)", 0, 256 },
        CLI_PRECISION_FLAG(precision),
        { "seed", F_U64, &o.seed, "random seed (default 1)" },
        { "out", F_STR, &o.out, "write the trained model to this safetensors file" },
        { "limit", F_INT, &o.limit_train, "use only the first N training images", 0, 1 << 30 },
        { "limit-test", F_INT, &o.limit_test, "use only the first N test images", 0, 1 << 30 },
        { "checkpoint", F_STR, &o.checkpoint, "write a checkpoint (model + optimizer + data position) to this file" },
        { "checkpoint-every", F_INT, &o.checkpoint_every, "... every N steps (default: at the end and on Ctrl-C only)", 0, 1 << 30 },
        { "stop-after", F_INT, &stop_after, "stop after step N as on Ctrl-C (checkpoint, resume later); exit 0", 0, 1 << 30 },
        { "resume", F_STR, &o.resume, "continue the run saved in this checkpoint (its configuration is kept)" },
        { "detect-anomaly", F_BOOL, &o.detect_anomaly, "check every op's output and gradient for NaN/Inf (slower)" },
        CLI_MAX_MEMORY_FLAG(&o.max_memory),
        { "allreduce", F_STR, &allreduce, "under mpirun: overlap (gradient buckets reduced during backward, default) or plain (one all-reduce per step)" },
        { "json", F_BOOL, &json, "print one JSON object as the last line of stdout" },
        CLI_TRACK_FLAGS(o.track, "10"),
        { 0 }
    };
    if (cli_check_config_ranges("train", flags, sd_train_config_fields)) return 70;
    char *pos[1];
    int npos, rc = cli_parse("train", "[flags]", "Train an image classifier on an MNIST-layout data set.",
                               argc, argv, flags, pos, 0, &npos);
    if (rc) return rc;
    if (cli_check_model("train", "[flags]", "model", o.model)) return 2;
    static const char *const fills[] = { "none", "mean", NULL };
    const char *const *enums[3] = { sd_task_names, fills, sd_fit_names };
    const char *values[3] = { task, fill, resize };
    int *outs[3] = { &o.data.task, &o.data.fill, &o.data.fit };
    for (int e = 0; e < 3; e++) {
        int k = -1;
        for (int i = 0; enums[e][i]; i++)
            if (!strcmp(enums[e][i], values[e])) k = i;
        if (k < 0) return cli_usage_error("train", "[flags]", "unknown value '%s' for this flag (see --help)", values[e]);
        *outs[e] = k;
    }
    if ((rc = cli_precision("train", "[flags]", precision, &o.precision))) return rc;
    if (test_split > 0) o.data.test_split = test_split;
    if (val > 0) o.data.val = val;
    if (o.data.early_stop && !(o.data.val > 0))
        return cli_usage_error("train", "[flags]", "%s", "--early-stop needs --val (the part it watches)");
    if (o.data.channels == 2) return cli_usage_error("train", "[flags]", "%s", "--channels must be 1 or 3");
    if (sd_optim_kind_parse(optim, &o.optim) || sd_init_parse(init, &o.init)) {
        fprintf(stderr, "shendu train: %s\n", sd_last_error());
        return 2;
    }
    if (!recipe) recipe = strcmp(o.model, "cnn") ? "plain" : "best";
    if (sd_train_recipe(&o, recipe, o.data_dir)) {
        fprintf(stderr, "shendu train: %s\n", sd_last_error());
        return 2;
    }
    struct stat st;
    const int table = o.data_dir && !stat(o.data_dir, &st) && S_ISREG(st.st_mode);
    if (table) {   /* a table has few rows: more, smaller steps (bench/RESULTS.md, "Your own data") */
        if (!cli_flag_given(argc, argv, "epochs")) o.epochs = 50;
        if (!cli_flag_given(argc, argv, "batch")) o.batch = 16;
    }
    if (!o.epochs) {
        o.epochs = strcmp(recipe, "best") ? 5 : 10;
        if (!o.resume) o.track.quick = "--epochs 1 for a quick look";   /* the default's cost is announced */
    }
    if (schedule) {
        if (strcmp(schedule, "const") && strcmp(schedule, "cosine"))
            return cli_usage_error("train", "[flags]", "unknown schedule '%s' (expected const or cosine)", schedule);
        o.cosine = !strcmp(schedule, "cosine");
    }
    if (shift >= 0) o.shift = shift;
    if (flip) o.flip = 1;
    if (no_flip) o.flip = 0;
    if (normalize) o.normalize = 1;
    if (no_normalize) o.normalize = 0;
    if (strcmp(allreduce, "overlap") && strcmp(allreduce, "plain"))
        return cli_usage_error("train", "[flags]", "unknown --allreduce '%s' (expected overlap or plain)", allreduce);
    o.overlap = !strcmp(allreduce, "overlap");
    o.stop_after = stop_after;
    if ((rc = cli_check_stop_after("train", "[flags]", stop_after, o.checkpoint, o.resume))) return rc;
    if (o.resume && (rc = resume_config(argc, argv, &o))) return rc;
    *o_ = o;
    *json_ = json;
    return 0;
}

/* Under mpirun every rank runs this; rank 0 alone prints and writes files.
 * Any rank's error ends the whole job (sd_dist_abort), so none is left waiting. */
int cmd_train(int argc, char **argv)
{
    sd_dist *dist = sd_dist_init(&argc, &argv);
    if (!dist) {
        fprintf(stderr, "shendu train: %s\n", sd_last_error());
        return 1;
    }
    const int rank = sd_dist_rank(dist);
    sd_train_opts o = { .model = "mlp", .epochs = 0, .batch = 64, .optim = SD_OPTIM_ADAM, .seed = 1 };
    int json = 0, rc = train_args(argc, argv, &o, &json);
    rc = cli_dist_agree(dist, "train", rc);
    if (rc) {
        sd_train_config_free(&o);
        sd_dist_finalize(dist);
        return rc == 1 ? 0 : rc;
    }
    FILE *log = cli_dist_log(dist);
    o.dist = dist;
    o.live_progress = rank == 0 && isatty(STDERR_FILENO);
    o.stop = cli_catch_stop();
    sd_train_result r;
    rc = sd_app_train_classifier(&o, &r, log);
    cli_dist_log_close(log);
    if (rc && rc != SD_STOPPED) cli_dist_fail(dist, "train", r.failed_everywhere);
    if (!rc && json && rank == 0) {
        printf("{\"model\":");
        sd_json_write_str(stdout, o.model);
        printf(",\"epochs\":%d,\"test_accuracy\":%.4f,\"train_images_per_s\":%.1f,\"wall_s\":%.3f,\"params\":%zu,"
               "\"ranks\":%d,\"sync_wait_s\":%.3f}\n",
               r.epochs, r.test_accuracy, r.train_images_per_s, r.wall_s, r.params, r.ranks, r.sync_wait_s);
    }
    sd_train_config_free(&o);   /* after the JSON line: o.model may point into it */
    sd_dist_finalize(dist);
    return rc == SD_STOPPED ? (*o.stop ? 130 : 0) : rc ? 1 : 0;
}

/* ---- shendu eval */

int cmd_eval(int argc, char **argv)
{
    sd_eval_opts o = { 0 };
    const char *fill = NULL, *resize = NULL;
    int json = 0;
    const flag flags[] = {
        CLI_MAX_MEMORY_FLAG(&o.max_memory),
        { "data", F_STR, &o.data, "data set: MNIST-layout folder (t10k split), class folders, or a CSV table "
                                  "(default: the one the model file records)" },
        { "target", F_STR, &o.read.target, "CSV: the target column (default: the model's)" },
        { "fill", F_STR, &fill, "CSV: none (a missing feature is an error) or mean (replaced by the training mean) (default: the model's)" },
        { "skip-bad", F_BOOL, &o.read.skip_bad, "leave out pictures that cannot be read (counted)" },
        { "threads", F_INT, &o.threads, "worker threads (default 0 = all cores)", 0, 256 },
        { "limit", F_INT, &o.limit, "use only the first N test examples", 0, 1 << 30 },
        { "logits", F_STR, &o.logits, "also write every example's logits to this file (raw float32, n x classes)" },
        { "confusion", F_STR, &o.confusion, "write the confusion matrix as a PNG heatmap to this file" },
        { "worst", F_INT, &o.worst, "list the N most confidently wrong test examples", 0, 1 << 20 },
        { "out", F_STR, &o.worst_dir, "with --worst: write those pictures to this folder as PNGs" },
        { "json", F_BOOL, &json, "print one JSON object as the last line of stdout" },
        { 0 }
    };
    (void)resize;
    char *pos[1];
    int npos, rc = cli_parse("eval", "FILE.safetensors [flags]",
                               "Evaluate a saved classifier on the test part of a data set: accuracy, per-class\n"
                               "precision, recall and F1, and the confusion matrix.", argc, argv, flags,
                               pos, 1, &npos);
    if (rc) return rc == 1 ? 0 : rc;
    if (npos != 1) return cli_usage_error("eval", "FILE.safetensors [flags]", "%s", "expected one model file");
    if (fill && strcmp(fill, "mean") && strcmp(fill, "none"))
        return cli_usage_error("eval", "FILE.safetensors [flags]", "unknown --fill '%s' (expected mean or none)", fill);
    o.read.fill = fill && !strcmp(fill, "mean");
    o.model = pos[0];
    sd_eval_result r;
    if (sd_app_eval_classifier(&o, &r, stdout)) return cli_fail("eval");
    printf("%s: test accuracy %.2f%%, test loss %.4f on %d examples\n", pos[0], 100.0 * r.test_accuracy,
           r.test_loss, r.n);
    sd_metrics_print(stdout, &r.metrics, r.classes);
    if (o.confusion) printf("confusion matrix heatmap written to %s\n", o.confusion);
    if (json) {
        printf("{\"test_accuracy\":%.4f,\"test_loss\":%.4f,\"n\":%d,", r.test_accuracy, r.test_loss, r.n);
        sd_metrics_json(stdout, &r.metrics, r.classes);
        printf("}\n");
    }
    sd_eval_result_free(&r);
    return 0;
}

/* ---- shendu predict */

int cmd_predict(int argc, char **argv)
{
    int json = 0, top = 3, threads = 1;
    uint64_t max_memory = 0;
    const char *csv = NULL, *show_input = NULL;
    const flag flags[] = {
        CLI_MAX_MEMORY_FLAG(&max_memory),
        { "top", F_INT, &top, "how many classes to show (default 3)", 1, 256 },
        { "json", F_BOOL, &json, "one JSON object per image (or table row): the --top classes with their probabilities" },
        { "csv", F_STR, &csv, "models trained on folders or tables: write one row per input to this CSV file" },
        { "show-input", F_STR, &show_input, "models trained on folders: write each picture as the model saw it into this folder" },
        { "threads", F_INT, &threads, "worker threads (default 1)", 0, 256 },
        { 0 }
    };
    const char *usage = "FILE.safetensors IMAGE|DIR|ROWS.csv... [flags]";
    char *pos[1024];
    int npos, rc = cli_parse("predict", usage,
                               "Classify pictures or table rows with a saved model. A model trained on\n"
                               "picture folders fits each picture (PNG or JPEG, files or folders) into its\n"
                               "input as it did its training data; one trained on a table reads the rows of\n"
                               "CSV files (its columns found by name). An MNIST model converts PNGs to 28x28\n"
                               "gray like its training data, inverted when the background is light.",
                               argc, argv, flags, pos, 1024, &npos);
    if (rc) return rc == 1 ? 0 : rc;
    if (npos < 2) return cli_usage_error("predict", usage, "%s", "expected a model file and at least one image (or folder, or table)");
    if (sd_file_expect_kind(pos[0], SD_KINDS_CLASSIFIER, "an image classifier")) return cli_fail("predict");
    sd_model *m = sd_model_load(pos[0]);
    if (!m) return cli_fail("predict");
    const char *kind = sd_model_meta_get(m, "data_kind");
    const int own = kind && (!strcmp(kind, "folder") || !strcmp(kind, "table"));
    sd_model_free(m);
    if (own) {
        sd_predict_opts o = { .model = pos[0], .inputs = pos + 1, .ninputs = npos - 1, .csv = csv,
                              .show_input = show_input, .json = json, .top = top, .threads = threads, .max_memory = max_memory };
        return sd_app_predict_data(&o, stdout) ? cli_fail("predict") : 0;
    }
    if (csv || show_input)
        return cli_usage_error("predict", usage, "%s",
                               "--csv and --show-input are for models trained on picture folders or tables");
    return sd_app_predict(pos[0], pos + 1, npos - 1, top, json, stdout, max_memory) ? cli_fail("predict") : 0;
}

/* ---- shendu show */

int cmd_show(int argc, char **argv)
{
    const char *out = NULL, *data = NULL;
    int index = 0;
    uint64_t max_memory = 0;
    const flag flags[] = {
        CLI_MAX_MEMORY_FLAG(&max_memory),
        { "out", F_STR, &out, "directory for the PNG files (created if missing)" },
        { "data", F_STR, &data, "data set whose test image is shown (default as for train)" },
        { "index", F_INT, &index, "which test image (default 0)", 0, 1 << 30 },
        { 0 }
    };
    const char *usage = "FILE.safetensors --out DIR [flags]";
    char *pos[1];
    int npos, rc = cli_parse("show", usage,
                               "Write pictures of a model: the first conv layer's kernels and the feature maps\n"
                               "of every conv layer for one test image.",
                               argc, argv, flags, pos, 1, &npos);
    if (rc) return rc == 1 ? 0 : rc;
    if (npos != 1 || !out) return cli_usage_error("show", usage, "%s", "expected a model file and --out DIR");
    return sd_app_show(pos[0], data, index, out, stdout, max_memory) ? cli_fail("show") : 0;
}

/* ---- shendu explain */

int cmd_explain(int argc, char **argv)
{
    if (argc > 1 && !strcmp(argv[1], "diffusion")) return cmd_explain_diffusion(argc - 1, argv + 1);
    sd_explain_opts o = { 0 };
    const char *model = "cnn", *image = NULL, *kernel = "sobel-x", *out = NULL, *prime = NULL;
    const flag flags[] = {
        { "delay", F_INT, &o.delay_ms, "pause this many milliseconds between steps (default 0)", 0, 60000 },
        { "image", F_STR, &image, "conv: apply a kernel to this PNG instead of replaying the lecture" },
        { "kernel", F_STR, &kernel, "conv --image: sobel-x, sobel-y, blur, sharpen or lecture (default sobel-x)" },
        { "out", F_STR, &out, "conv --image: where to write the feature map; attention MODEL: the heatmap (PNG)" },
        { "prime", F_STR, &prime, "attention MODEL: the text whose attention weights are drawn" },
        { "model", F_STR, &model, "shapes: a preset, mlp or cnn, or an architecture string (default cnn)" },
        { 0 }
    };
    const char *usage = "conv|pool|shapes|lstm|attention [MODEL] [flags]";
    char *pos[2];
    int npos, rc = cli_parse("explain", usage,
                               "Replay the lecture's worked examples step by step (conv, pool), print\n"
                               "each layer's output shape and parameter count (shapes), or walk through\n"
                               "one LSTM step gate by gate (lstm), or one attention head over four tokens\n"
                               "(attention); attention MODEL --prime TEXT --out PNG draws a trained\n"
                               "transformer's attention weights over TEXT, every layer and head.",
                               argc, argv, flags, pos, 2, &npos);
    if (rc) return rc == 1 ? 0 : rc;
    if (npos == 2 && !strcmp(pos[0], "attention")) {
        if (!prime || !out) return cli_usage_error("explain", usage, "%s", "attention MODEL needs --prime TEXT and --out OUT.png");
        return sd_app_explain_attention_model(pos[1], prime, out, stdout) ? cli_fail("explain") : 0;
    }
    if (npos != 1) return cli_usage_error("explain", usage, "%s", "expected what to explain: conv, pool, shapes, lstm or attention");
    if (image && sd_app_explain_kernel(kernel, NULL, NULL)) return cli_usage_error("explain", usage, "%s", sd_last_error());
    if (!strcmp(pos[0], "shapes") && cli_check_model("explain", usage, "model", model)) return 2;
    if (!strcmp(pos[0], "conv") && image) {
        if (!out) return cli_usage_error("explain", usage, "%s", "--image needs --out OUT.png");
        rc = sd_app_explain_image(image, kernel, out, stdout);
    } else if (!strcmp(pos[0], "conv")) rc = sd_app_explain_conv(stdout, &o);
    else if (!strcmp(pos[0], "pool")) rc = sd_app_explain_pool(stdout, &o);
    else if (!strcmp(pos[0], "shapes")) rc = sd_app_explain_shapes(stdout, model, SD_SHAPE(1, 28, 28));
    else if (!strcmp(pos[0], "lstm")) rc = sd_app_explain_lstm(stdout);
    else if (!strcmp(pos[0], "attention")) rc = sd_app_explain_attention(stdout);
    else return cli_usage_error("explain", usage, "cannot explain '%s' (expected conv, pool, shapes, lstm or attention)", pos[0]);
    return rc ? cli_fail("explain") : 0;
}
