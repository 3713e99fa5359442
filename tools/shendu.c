/* shendu — the command-line toolkit: one binary, a table of subcommands.
 * Each subcommand lives in a tools/cmd_*.c file and declares its flags in a
 * table (tools/cli.h); parsing, validation and --help come from that table.
 * Usage errors exit 2, failures exit 1. */
#include "cli.h"

#include <string.h>

typedef struct command {
    const char *name;
    int (*run)(int argc, char **argv);
    const char *summary;
} command;

/* ---- the table */

static int cmd_version(int argc, char **argv)
{
    (void)argc; (void)argv;
    printf("shendu %s\n", SHENDU_VERSION);
    return 0;
}

static int cmd_help(int argc, char **argv);

static const command commands[] = {
    { "train", cmd_train, "train a classifier (MLP or CNN) on Fashion-MNIST, picture folders or a CSV table" },
    { "data", cmd_data, "describe a data set: picture folders (classes, sizes, broken files) or a CSV table" },
    { "eval", cmd_eval, "evaluate a saved classifier on a test set" },
    { "predict", cmd_predict, "classify PNG pictures with a saved model (top-3 classes)" },
    { "show", cmd_show, "write PNGs of a model's kernels and feature maps" },
    { "explain", cmd_explain, "replay the lecture's examples: conv, pool, lstm; layer shapes" },
    { "lm", cmd_lm, "character-level language models: lm train, lm sample (RNN, LSTM)" },
    { "rl", cmd_rl, "reinforcement learning: rl solve, rl qlearn, rl dqn, rl play" },
    { "gan", cmd_gan, "generative adversarial networks: gan (train), gan sample, gan score" },
    { "diffusion", cmd_diffusion, "denoising diffusion (DDPM): diffusion (train), diffusion sample, diffusion score" },
    { "plot", cmd_plot, "draw the curves of training logs (--log FILE) as SVG, PNG or terminal sparklines" },
    { "export", cmd_export, "write a model as ONNX for ONNX Runtime and other serving stacks" },
    { "report", cmd_report, "write a self-contained HTML report of training runs from their --log files" },
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
    setvbuf(stdout, NULL, _IOLBF, 0);   /* lines reach a pipe or a file as they are printed (| tee, CI) */
    if (argc < 2 || !strcmp(argv[1], "--help") || !strcmp(argv[1], "-h")) return cmd_help(argc, argv);
    if (!strcmp(argv[1], "--version")) return cmd_version(argc, argv);
    for (const command *c = commands; c->name; c++)
        if (!strcmp(argv[1], c->name)) return c->run(argc - 1, argv + 1);
    fprintf(stderr, "shendu: unknown command '%s'\nrun 'shendu --help' for the list\n", argv[1]);
    return 2;
}
