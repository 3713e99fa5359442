/* shendu — the command-line toolkit: one binary, a table of subcommands.
 * Each subcommand declares its flags in a table; parsing, validation and
 * --help come from that table. Usage errors exit 2, failures exit 1. */
#include "apps/apps.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* ---- Flags */

typedef enum { F_INT, F_FLOAT, F_STR, F_BOOL, F_U64 } flag_type;
typedef struct flag {
    const char *name;        /* without the leading -- */
    flag_type type;
    void *ptr;
    const char *help;
    double min, max;         /* range for numbers (min == max: unchecked) */
} flag;

typedef struct command {
    const char *name;
    int (*run)(int argc, char **argv);
    const char *summary;
} command;

static void print_flags(FILE *f, const flag *flags)
{
    for (const flag *fl = flags; fl->name; fl++) {
        char lhs[48];
        const char *arg = fl->type == F_BOOL ? "" : fl->type == F_STR ? " S" : fl->type == F_FLOAT ? " X" : " N";
        snprintf(lhs, sizeof lhs, "--%s%s", fl->name, arg);
        fprintf(f, "  %-22s %s\n", lhs, fl->help);
    }
    fprintf(f, "  %-22s %s\n", "--help", "show this help");
}

static int usage_error(const char *cmd, const char *usage, const flag *flags, const char *fmt, const char *what)
{
    fprintf(stderr, "shendu %s: ", cmd);
    fprintf(stderr, fmt, what);
    fprintf(stderr, "\nusage: shendu %s %s\n", cmd, usage);
    (void)flags;
    fprintf(stderr, "run 'shendu %s --help' for the flags\n", cmd);
    return 2;
}

/* Parse argv[1..] into flags and positional arguments (returned in pos, npos).
 * Returns 0, 1 if --help was printed, or 2 on a usage error. */
static int parse_flags(const char *cmd, const char *usage, const char *about, int argc, char **argv,
                       const flag *flags, char **pos, int maxpos, int *npos)
{
    *npos = 0;
    for (int i = 1; i < argc; i++) {
        char *a = argv[i];
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
            printf("usage: shendu %s %s\n\n%s\n\nflags:\n", cmd, usage, about);
            print_flags(stdout, flags);
            return 1;
        }
        if (strncmp(a, "--", 2) || !a[2]) {
            if (*npos == maxpos) return usage_error(cmd, usage, flags, "unexpected argument '%s'", a);
            pos[(*npos)++] = a;
            continue;
        }
        char name[64];
        const char *val = NULL, *eq = strchr(a + 2, '=');
        size_t len = eq ? (size_t)(eq - a - 2) : strlen(a + 2);
        if (len >= sizeof name) return usage_error(cmd, usage, flags, "unknown flag '%s'", a);
        memcpy(name, a + 2, len);
        name[len] = 0;
        const flag *fl = flags;
        while (fl->name && strcmp(fl->name, name)) fl++;
        if (!fl->name) return usage_error(cmd, usage, flags, "unknown flag '%s'", a);
        if (fl->type == F_BOOL) {
            if (eq) return usage_error(cmd, usage, flags, "flag '--%s' takes no value", fl->name);
            *(int *)fl->ptr = 1;
            continue;
        }
        if (eq) val = eq + 1;
        else if (i + 1 < argc) val = argv[++i];
        else return usage_error(cmd, usage, flags, "flag '--%s' needs a value", fl->name);
        char *end = NULL;
        errno = 0;
        switch (fl->type) {
        case F_INT: {
            long v = strtol(val, &end, 10);
            if (!*val || *end || errno || v < INT_MIN || v > INT_MAX ||
                (fl->min != fl->max && (v < fl->min || v > fl->max))) {
                fprintf(stderr, "shendu %s: --%s: '%s' is not an integer in [%g, %g]\n", cmd, fl->name, val,
                        fl->min, fl->max);
                return 2;
            }
            *(int *)fl->ptr = (int)v;
            break;
        }
        case F_U64: {
            unsigned long long v = strtoull(val, &end, 10);
            if (!*val || *end || errno || val[0] == '-') {
                fprintf(stderr, "shendu %s: --%s: '%s' is not a non-negative integer\n", cmd, fl->name, val);
                return 2;
            }
            *(uint64_t *)fl->ptr = v;
            break;
        }
        case F_FLOAT: {
            double v = strtod(val, &end);
            if (!*val || *end || errno || v != v || (fl->min != fl->max && (v < fl->min || v > fl->max))) {
                fprintf(stderr, "shendu %s: --%s: '%s' is not a number in [%g, %g]\n", cmd, fl->name, val,
                        fl->min, fl->max);
                return 2;
            }
            *(float *)fl->ptr = (float)v;
            break;
        }
        case F_STR:
            *(const char **)fl->ptr = val;
            break;
        case F_BOOL:
            break;
        }
    }
    return 0;
}

static void json_str(FILE *f, const char *s)
{
    fputc('"', f);
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        if (c == '"' || c == '\\') fprintf(f, "\\%c", c);
        else if (c < 0x20) fprintf(f, "\\u%04x", c);
        else fputc(c, f);
    }
    fputc('"', f);
}

static int fail(const char *cmd)
{
    fprintf(stderr, "shendu %s: %s\n", cmd, sd_last_error());
    return 1;
}

/* ---- shendu train */

static int cmd_train(int argc, char **argv)
{
    sd_train_opts o = { .model = "mlp", .epochs = 0, .batch = 64, .optim = SD_OPTIM_ADAM, .seed = 1 };
    const char *optim = "adam", *init = "default", *recipe = NULL, *schedule = NULL;
    int json = 0, shift = -1, flip = 0, no_flip = 0, normalize = 0, no_normalize = 0;
    const flag flags[] = {
        { "model", F_STR, &o.model, "mlp, or an architecture string (default mlp)" },
        { "data", F_STR, &o.data_dir, "MNIST-layout data directory (default $SHENDU_DATA, data/fashion-mnist, /usr/share/datasets/fashion-mnist)" },
        { "recipe", F_STR, &recipe, "plain (pixels/255, constant lr) or best (normalised, shifted/mirrored, cosine lr); default: plain for mlp, best for cnn" },
        { "epochs", F_INT, &o.epochs, "passes over the training set (default 5; 10 with --recipe best)", 1, 1000000 },
        { "schedule", F_STR, &schedule, "learning rate: const or cosine (default: from the recipe)" },
        { "shift", F_INT, &shift, "augment with random shifts of up to N pixels (default: from the recipe)", 0, 8 },
        { "flip", F_BOOL, &flip, "augment with random left-right mirrors" },
        { "no-flip", F_BOOL, &no_flip, "no mirrors even if the recipe has them" },
        { "normalize", F_BOOL, &normalize, "inputs to zero mean and unit variance" },
        { "no-normalize", F_BOOL, &no_normalize, "inputs as pixels/255 even if the recipe normalises" },
        { "batch", F_INT, &o.batch, "mini-batch size (default 64)", 1, 1 << 20 },
        { "lr", F_FLOAT, &o.lr, "learning rate (default 0.001 for adam, 0.01 for sgd)", 1e-12, 100 },
        { "optim", F_STR, &optim, "sgd or adam (default adam)" },
        { "momentum", F_FLOAT, &o.momentum, "SGD momentum (default 0)", 0, 0.9999 },
        { "weight-decay", F_FLOAT, &o.weight_decay, "L2 weight decay (default 0)", 0, 1 },
        { "init", F_STR, &init, "weight initialisation: default (PyTorch's), he, xavier" },
        { "threads", F_INT, &o.threads, "worker threads (default 0 = all cores)", 0, 256 },
        { "seed", F_U64, &o.seed, "random seed (default 1)" },
        { "out", F_STR, &o.out, "write the trained model to this safetensors file" },
        { "limit", F_INT, &o.limit_train, "use only the first N training images", 0, 1 << 30 },
        { "limit-test", F_INT, &o.limit_test, "use only the first N test images", 0, 1 << 30 },
        { "json", F_BOOL, &json, "print one JSON object as the last line of stdout" },
        { 0 }
    };
    char *pos[1];
    int npos, rc = parse_flags("train", "[flags]", "Train an image classifier on an MNIST-layout data set.",
                               argc, argv, flags, pos, 0, &npos);
    if (rc) return rc == 1 ? 0 : rc;
    if (sd_optim_kind_parse(optim, &o.optim) || sd_init_parse(init, &o.init)) {
        fprintf(stderr, "shendu train: %s\n", sd_last_error());
        return 2;
    }
    if (!recipe) recipe = strcmp(o.model, "cnn") ? "plain" : "best";
    if (sd_train_recipe(&o, recipe, o.data_dir)) {
        fprintf(stderr, "shendu train: %s\n", sd_last_error());
        return 2;
    }
    if (!o.epochs) o.epochs = strcmp(recipe, "best") ? 5 : 10;
    if (schedule) {
        if (strcmp(schedule, "const") && strcmp(schedule, "cosine"))
            return usage_error("train", "[flags]", flags, "unknown schedule '%s' (expected const or cosine)", schedule);
        o.cosine = !strcmp(schedule, "cosine");
    }
    if (shift >= 0) o.shift = shift;
    if (flip) o.flip = 1;
    if (no_flip) o.flip = 0;
    if (normalize) o.normalize = 1;
    if (no_normalize) o.normalize = 0;
    o.live_progress = isatty(STDERR_FILENO);
    sd_train_result r;
    if (sd_app_train_classifier(&o, &r, stdout)) return fail("train");
    if (json) {
        printf("{\"model\":");
        json_str(stdout, o.model);
        printf(",\"epochs\":%d,\"test_accuracy\":%.4f,\"train_images_per_s\":%.1f,\"wall_s\":%.3f,\"params\":%zu}\n",
               r.epochs, r.test_accuracy, r.train_images_per_s, r.wall_s, r.params);
    }
    return 0;
}

/* ---- shendu eval */

static int cmd_eval(int argc, char **argv)
{
    const char *data = NULL;
    int json = 0, threads = 0, limit = 0;
    const flag flags[] = {
        { "data", F_STR, &data, "MNIST-layout data directory (its t10k split is used)" },
        { "threads", F_INT, &threads, "worker threads (default 0 = all cores)", 0, 256 },
        { "limit", F_INT, &limit, "use only the first N test images", 0, 1 << 30 },
        { "json", F_BOOL, &json, "print one JSON object as the last line of stdout" },
        { 0 }
    };
    char *pos[1];
    int npos, rc = parse_flags("eval", "FILE.safetensors [flags]",
                               "Evaluate a saved classifier on the test split of a data set.", argc, argv, flags,
                               pos, 1, &npos);
    if (rc) return rc == 1 ? 0 : rc;
    if (npos != 1) return usage_error("eval", "FILE.safetensors [flags]", flags, "%s", "expected one model file");
    sd_eval_result r;
    if (sd_app_eval_classifier(pos[0], data, limit, threads, &r)) return fail("eval");
    printf("%s: test accuracy %.2f%%, test loss %.4f on %d images\n", pos[0], 100.0 * r.test_accuracy,
           r.test_loss, r.n);
    if (json) printf("{\"test_accuracy\":%.4f,\"test_loss\":%.4f,\"n\":%d}\n", r.test_accuracy, r.test_loss, r.n);
    return 0;
}

/* ---- shendu predict */

static int cmd_predict(int argc, char **argv)
{
    int json = 0, top = 3;
    const flag flags[] = {
        { "top", F_INT, &top, "how many classes to show (default 3)", 1, 256 },
        { "json", F_BOOL, &json, "one JSON object per image" },
        { 0 }
    };
    const char *usage = "FILE.safetensors IMAGE.png... [flags]";
    char *pos[1024];
    int npos, rc = parse_flags("predict", usage,
                               "Classify PNG pictures (any size, gray or colour: converted to 28x28 gray like\n"
                               "the training data, inverted when the background is light).",
                               argc, argv, flags, pos, 1024, &npos);
    if (rc) return rc == 1 ? 0 : rc;
    if (npos < 2) return usage_error("predict", usage, flags, "%s", "expected a model file and at least one image");
    return sd_app_predict(pos[0], pos + 1, npos - 1, top, json, stdout) ? fail("predict") : 0;
}

/* ---- shendu show */

static int cmd_show(int argc, char **argv)
{
    const char *out = NULL, *data = NULL;
    int index = 0;
    const flag flags[] = {
        { "out", F_STR, &out, "directory for the PNG files (created if missing)" },
        { "data", F_STR, &data, "data set whose test image is shown (default as for train)" },
        { "index", F_INT, &index, "which test image (default 0)", 0, 1 << 30 },
        { 0 }
    };
    const char *usage = "FILE.safetensors --out DIR [flags]";
    char *pos[1];
    int npos, rc = parse_flags("show", usage,
                               "Write pictures of a model: the first conv layer's kernels and the feature maps\n"
                               "of every conv layer for one test image.",
                               argc, argv, flags, pos, 1, &npos);
    if (rc) return rc == 1 ? 0 : rc;
    if (npos != 1 || !out) return usage_error("show", usage, flags, "%s", "expected a model file and --out DIR");
    return sd_app_show(pos[0], data, index, out, stdout) ? fail("show") : 0;
}

/* ---- shendu explain */

static int cmd_explain(int argc, char **argv)
{
    sd_explain_opts o = { 0 };
    const char *model = "cnn", *image = NULL, *kernel = "sobel-x", *out = NULL;
    const flag flags[] = {
        { "delay", F_INT, &o.delay_ms, "pause this many milliseconds between steps (default 0)", 0, 60000 },
        { "image", F_STR, &image, "conv: apply a kernel to this PNG instead of replaying the lecture" },
        { "kernel", F_STR, &kernel, "conv --image: sobel-x, sobel-y, blur, sharpen or lecture (default sobel-x)" },
        { "out", F_STR, &out, "conv --image: where to write the feature map (PNG)" },
        { "model", F_STR, &model, "shapes: a preset (mlp, cnn) or an architecture string (default cnn)" },
        { 0 }
    };
    const char *usage = "conv|pool|shapes [flags]";
    char *pos[1];
    int npos, rc = parse_flags("explain", usage,
                               "Replay the lecture's worked examples step by step (conv, pool), or print\n"
                               "each layer's output shape and parameter count (shapes).",
                               argc, argv, flags, pos, 1, &npos);
    if (rc) return rc == 1 ? 0 : rc;
    if (npos != 1) return usage_error("explain", usage, flags, "%s", "expected what to explain: conv, pool or shapes");
    if (!strcmp(pos[0], "conv") && image) {
        if (!out) return usage_error("explain", usage, flags, "%s", "--image needs --out OUT.png");
        rc = sd_app_explain_image(image, kernel, out, stdout);
    } else if (!strcmp(pos[0], "conv")) rc = sd_app_explain_conv(stdout, &o);
    else if (!strcmp(pos[0], "pool")) rc = sd_app_explain_pool(stdout, &o);
    else if (!strcmp(pos[0], "shapes")) rc = sd_app_explain_shapes(stdout, model, SD_SHAPE(1, 28, 28));
    else return usage_error("explain", usage, flags, "cannot explain '%s' (expected conv, pool or shapes)", pos[0]);
    return rc ? fail("explain") : 0;
}

/* ---- the table */

static int cmd_version(int argc, char **argv)
{
    (void)argc; (void)argv;
    printf("shendu %s\n", SHENDU_VERSION);
    return 0;
}

static int cmd_help(int argc, char **argv);

static const command commands[] = {
    { "train", cmd_train, "train an image classifier (MLP or CNN) on Fashion-MNIST or MNIST" },
    { "eval", cmd_eval, "evaluate a saved classifier on a test set" },
    { "predict", cmd_predict, "classify PNG pictures with a saved model (top-3 classes)" },
    { "show", cmd_show, "write PNGs of a model's kernels and feature maps" },
    { "explain", cmd_explain, "replay the lecture's convolution and pooling examples; layer shapes" },
    { "version", cmd_version, "print the version" },
    { "help", cmd_help, "list the commands" },
    { 0 }
};

static int cmd_help(int argc, char **argv)
{
    (void)argc; (void)argv;
    printf("shendu %s: deep learning in plain C\n\nusage: shendu COMMAND [flags]   (shendu COMMAND --help for its flags)\n\ncommands:\n",
           SHENDU_VERSION);
    for (const command *c = commands; c->name; c++) printf("  %-10s %s\n", c->name, c->summary);
    return 0;
}

int main(int argc, char **argv)
{
    if (argc < 2 || !strcmp(argv[1], "--help") || !strcmp(argv[1], "-h")) return cmd_help(argc, argv);
    if (!strcmp(argv[1], "--version")) return cmd_version(argc, argv);
    for (const command *c = commands; c->name; c++)
        if (!strcmp(argv[1], c->name)) return c->run(argc - 1, argv + 1);
    fprintf(stderr, "shendu: unknown command '%s'\nrun 'shendu --help' for the list\n", argv[1]);
    return 2;
}
