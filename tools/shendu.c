/* shendu — the command-line toolkit: one binary, a table of subcommands.
 * Each subcommand lives in a tools/cmd_*.c file and declares its flags in a
 * table (tools/cli.h); parsing, validation and --help come from that table.
 * Usage errors exit 2, failures exit 1. */
#include "cli.h"

#include <stdlib.h>
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

/* The number of processes mpirun started (Open MPI, MPICH/Hydra, Slurm's
 * PMI), 1 when not under a launcher. */
static int launcher_ranks(void)
{
    static const char *vars[] = { "OMPI_COMM_WORLD_SIZE", "PMI_SIZE", "PMIX_SIZE" };
    for (size_t i = 0; i < sizeof vars / sizeof *vars; i++) {
        const char *v = getenv(vars[i]);
        if (v && atoi(v) > 1) return atoi(v);
    }
    return 1;
}

/* The commands that train data-parallel under mpirun: train, lm train, gan and
 * diffusion (training; their sample and score do not). */
static int runs_distributed(int argc, char **argv)
{
    if (!strcmp(argv[1], "train")) return 1;
    if (!strcmp(argv[1], "lm")) return argc > 2 && !strcmp(argv[2], "train");
    if (!strcmp(argv[1], "gan") || !strcmp(argv[1], "diffusion"))
        return !(argc > 2 && (!strcmp(argv[2], "sample") || !strcmp(argv[2], "score")));
    return 0;
}

int main(int argc, char **argv)
{
    setvbuf(stdout, NULL, _IOLBF, 0);   /* lines reach a pipe or a file as they are printed (| tee, CI) */
    const int ranks = argc >= 2 ? launcher_ranks() : 1;
    if (ranks > 1 && !runs_distributed(argc, argv)) {   /* N copies of the same work would fight over its files */
        const char *rank = getenv("OMPI_COMM_WORLD_RANK") ? getenv("OMPI_COMM_WORLD_RANK") : getenv("PMI_RANK");
        if (!rank || atoi(rank) == 0)
            fprintf(stderr, "shendu %s: does not run data-parallel; started as %d processes (mpirun -np %d), it would "
                            "run %d copies of the same work. Run it without mpirun (data-parallel: shendu train, "
                            "lm train, gan, diffusion)\n", argv[1], ranks, ranks, ranks);
        return 2;
    }
    if (argc < 2 || !strcmp(argv[1], "--help") || !strcmp(argv[1], "-h")) return cmd_help(argc, argv);
    if (!strcmp(argv[1], "--version")) return cmd_version(argc, argv);
    for (const command *c = commands; c->name; c++)
        if (!strcmp(argv[1], c->name)) return c->run(argc - 1, argv + 1);
    fprintf(stderr, "shendu: unknown command '%s'\nrun 'shendu --help' for the list\n", argv[1]);
    return 2;
}
