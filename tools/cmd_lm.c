/* tools/cmd_lm.c — character-level language models: lm train, lm sample. */
#include "cli.h"

#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* ---- shendu lm train */

/* Resume: the configuration comes from the checkpoint; every configuration flag
 * given again must agree with it. Returns 0, or 2 after printing what is wrong. */
static int resume_config(int argc, char **argv, sd_lm_opts *o)
{
    sd_lm_opts c = *o;
    c.owned = NULL;
    if (sd_lm_config_load(o->resume, &c)) {
        fprintf(stderr, "shendu lm train: %s\n", sd_last_error());
        sd_lm_config_free(&c);
        return 2;
    }
    if (cli_check_resumed("lm train", argc, argv, sd_lm_config_fields, SD_CONFIG_MAX, NULL, o, &c, o->resume)) {
        sd_lm_config_free(&c);
        return 2;
    }
    c.checkpoint = o->checkpoint ? o->checkpoint : o->resume;
    *o = c;
    return 0;
}

/* Parse and check the flags into o. Returns 0, 1 after --help, 2 after a usage error. */
static int train_args(int argc, char **argv, sd_lm_opts *o_, int *json_)
{
    sd_lm_opts o = *o_;
    const char *cell = "lstm", *allreduce = "overlap", *precision = "fp32";
    int json = 0, sample_every = -1;
    const flag flags[] = {
        { "text", F_STR, &o.text, "text file, or a directory of them (default /usr/share/games/fortunes)" },
        { "cell", F_STR, &cell, "rnn, lstm or transformer (default lstm)" },
        CLI_PRECISION_FLAG(precision),
        { "layers", F_INT, &o.layers, "stacked recurrent layers or transformer blocks (default 1; transformer 4)", 1, 16 },
        { "hidden", F_INT, &o.hidden, "hidden units per layer (default 256)", 1, 8192 },
        { "emb", F_INT, &o.emb, "embedding size (default 64)", 1, 8192 },
        { "seq", F_INT, &o.seq, "characters per training window, a transformer's context (default 64; transformer 128)", 1, 1 << 20 },
        { "dim", F_INT, &o.dim, "transformer: width of the residual stream (default 128)", 1, 8192 },
        { "heads", F_INT, &o.heads, "transformer: attention heads, dividing --dim (default 4)", 1, 8192 },
        { "dropout", F_FLOAT, &o.dropout, "transformer: dropout while training (default 0)", 0, 0.99 },
        { "weight-decay", F_FLOAT, &o.weight_decay, "transformer: AdamW's decoupled weight decay on matrices (default 0.1)", 0, 100 },
        { "warmup", F_INT, &o.warmup, "transformer: steps of linear lr warm-up before the cosine decay (default 100)", 0, 1 << 30 },
        { "clip", F_FLOAT, &o.clip, "transformer: clip the gradient's global norm (default 1; 0: never)", 0, 1e30 },
        { "batch", F_INT, &o.batch, "windows per step (default 32; under mpirun: in all, shared by the ranks)", 1, 1 << 16 },
        { "steps", F_INT, &o.steps, "training steps (default 2000)", 1, 1 << 30 },
        { "lr", F_FLOAT, &o.lr, "Adam learning rate (default, or 0: 0.002; transformer: the peak, 0.002)", 0, 100 },
        { "eval-every", F_INT, &o.eval_every, "validation every N steps (default 500; 0: only at the end)", 0, 1 << 30 },
        { "sample-every", F_INT, &sample_every, "print a sample every N steps (default: with validation)", 0, 1 << 30 },
        { "sample-len", F_INT, &o.sample_len, "characters per sample (default 160; 0: none)", 0, 1 << 20 },
        { "log-every", F_INT, &o.log_every, "a progress line (and a --log record) every N steps (default 100)", 1, 1 << 30 },
        { "forget-bias", F_FLOAT, &o.forget_bias, "LSTM forget-gate bias at init (default: PyTorch's uniform init, as lstm.py)", -100, 100 },
        { "threads", F_INT, &o.threads, "worker threads (default 0 = all cores)", 0, 256 },
        CLI_MAX_MEMORY_FLAG(&o.max_memory),
        { "seed", F_U64, &o.seed, "random seed (default 1)" },
        { "out", F_STR, &o.out, "write the trained model to this safetensors file" },
        { "checkpoint", F_STR, &o.checkpoint, "write a checkpoint (model + optimizer + RNG + step) to this file" },
        { "checkpoint-every", F_INT, &o.checkpoint_every, "... every N steps (default: at the end and on Ctrl-C only)", 0, 1 << 30 },
        { "resume", F_STR, &o.resume, "continue the run saved in this checkpoint (its configuration is kept)" },
        { "stop-after", F_INT, &o.stop_after, "stop after step N as on Ctrl-C (checkpoint, resume later); exit 0", 0, 1 << 30 },
        { "allreduce", F_STR, &allreduce, "under mpirun: overlap (gradient buckets reduced during backward, default) or plain" },
        { "json", F_BOOL, &json, "print one JSON object as the last line of stdout" },
        CLI_TRACK_FLAGS_BUT_EVERY(o.track),
        { 0 }
    };
    const char *usage = "train [--text FILE] [flags]";
    if (cli_check_config_ranges("lm train", flags, sd_lm_config_fields)) return 70;
    char *pos[1];
    int npos, rc = cli_parse("lm", usage,
                             "Train a character-level language model (embedding, RNN or LSTM layers or\n"
                             "decoder-only Transformer blocks, softmax over the next byte) on a text; the\n"
                             "last 5% is held out for validation in bits per character. Under mpirun -np N\n"
                             "the ranks share every batch (data parallel).",
                             argc, argv, flags, pos, 1, &npos);
    if (rc) return rc;
    if (npos != 1) return cli_usage_error("lm", usage, "%s", "unexpected argument");
    if (sd_cell_parse(cell, &o.cell))
        return cli_usage_error("lm", usage, "unknown cell '%s' (expected rnn, lstm or transformer)", cell);
    if ((rc = cli_precision("lm", usage, precision, &o.precision))) return rc;
    const int tf = o.cell == SD_CELL_TRANSFORMER;
    if (!o.layers) o.layers = tf ? 4 : 1;
    if (!o.seq) o.seq = tf ? 128 : 64;
    if (o.dim % o.heads)
    {
        char what[96];
        snprintf(what, sizeof what, "--heads %d does not divide --dim %d", o.heads, o.dim);
        return cli_usage_error("lm", usage, "%s (each head takes dim/heads columns)", what);
    }
    if (strcmp(allreduce, "overlap") && strcmp(allreduce, "plain"))
        return cli_usage_error("lm", usage, "unknown --allreduce '%s' (expected overlap or plain)", allreduce);
    o.overlap = !strcmp(allreduce, "overlap");
    o.sample_every = sample_every >= 0 ? sample_every : o.eval_every;
    if ((rc = cli_check_stop_after("lm", usage, o.stop_after, o.checkpoint, o.resume))) return rc;
    if (!o.resume && !cli_flag_given(argc, argv, "steps")) o.track.quick = "--steps 200 for a quick look";
    if (o.resume && (rc = resume_config(argc, argv, &o))) return rc;
    *o_ = o;
    *json_ = json;
    return 0;
}

/* Under mpirun every rank runs this; rank 0 alone prints and writes files.
 * Any rank's error ends the whole job (sd_dist_abort), so none is left waiting. */
static int lm_train(int argc, char **argv)
{
    sd_dist *dist = sd_dist_init(&argc, &argv);
    if (!dist) {
        fprintf(stderr, "shendu lm train: %s\n", sd_last_error());
        return 1;
    }
    const int rank = sd_dist_rank(dist);
    sd_lm_opts o = { .layers = 0, .hidden = 256, .emb = 64, .seq = 0, .batch = 32, .steps = 2000, .lr = 2e-3f,
                     .seed = 1, .eval_every = 500, .sample_len = 160, .dim = 128, .heads = 4,
                     .weight_decay = 0.1f, .clip = 1.0f, .warmup = 100 };   /* layers, seq 0: the cell's */
    int json = 0, rc = train_args(argc, argv, &o, &json);
    rc = cli_dist_agree(dist, "lm train", rc);
    if (rc) {
        sd_lm_config_free(&o);
        sd_dist_finalize(dist);
        return rc == 1 ? 0 : rc;
    }
    FILE *log = cli_dist_log(dist);
    o.dist = dist;
    o.live_progress = rank == 0 && isatty(STDERR_FILENO);
    o.stop = cli_catch_stop();
    sd_lm_result r;
    rc = sd_app_lm_train(&o, &r, log);
    cli_dist_log_close(log);
    if (rc && rc != SD_STOPPED) cli_dist_fail(dist, "lm train", r.failed_everywhere);
    if (!rc && json && rank == 0) {
        printf("{\"cell\":\"%s\",\"val_bpc\":%.4f,\"train_tokens_per_s\":%.1f,\"steps\":%d,\"wall_s\":%.3f,"
               "\"params\":%zu,\"ranks\":%d}\n", sd_cell_name(o.cell), r.val_bpc, r.train_tokens_per_s, r.steps,
               r.wall_s, r.params, r.ranks);
    }
    sd_lm_config_free(&o);
    sd_dist_finalize(dist);
    return rc == SD_STOPPED ? (*o.stop ? 130 : 0) : rc ? 1 : 0;
}

/* "\n", "\t" and "\\" in a --prime argument (typed in a shell) become the bytes. */
static void unescape_prime(char *s)
{
    char *w = s;
    for (const char *p = s; *p; p++) {
        if (p[0] == '\\' && (p[1] == 'n' || p[1] == 't' || p[1] == '\\')) {
            *w++ = p[1] == 'n' ? '\n' : p[1] == 't' ? '\t' : '\\';
            p++;
        } else {
            *w++ = *p;
        }
    }
    *w = 0;
}

/* ---- shendu lm sample */

static int lm_sample(int argc, char **argv)
{
    sd_lm_sample_opts o = { .len = 200, .temperature = 0.8f, .seed = 1 };
    char *prime = NULL;
    const flag flags[] = {
        { "len", F_INT, &o.len, "characters to write (default 200)", 0, 1 << 24 },
        { "temperature", F_FLOAT, &o.temperature, "softmax temperature (default 0.8; 0: always the likeliest)", 0, 100 },
        { "top-k", F_INT, &o.top_k, "draw among the k likeliest characters only (default 0: all)", 0, 256 },
        { "no-cache", F_BOOL, &o.no_cache, "transformer: re-read the whole context for every character (slow; to compare)" },
        { "prime", F_STR, &prime, "text to start from (\\n, \\t, \\\\ understood; default a newline)" },
        { "seed", F_U64, &o.seed, "random seed (default 1)" },
        { "threads", F_INT, &o.threads, "worker threads (default 1)", 0, 256 },
        { 0 }
    };
    const char *usage = "sample FILE.safetensors [flags]";
    char *pos[2];
    int npos, rc = cli_parse("lm", usage, "Write text with a language model trained by 'shendu lm train' (a model file or\n"
                             "one of its checkpoints).", argc,
                             argv, flags, pos, 2, &npos);
    if (rc) return rc == 1 ? 0 : rc;
    if (npos != 2) return cli_usage_error("lm", usage, "%s", "expected one model file");
    if (prime) {
        unescape_prime(prime);
        if (!*prime) return cli_usage_error("lm", usage, "%s", "--prime is empty");
        o.prime = prime;
    }
    o.terminal = isatty(STDOUT_FILENO);
    return sd_app_lm_sample(pos[1], &o, stdout) ? cli_fail("lm sample") : 0;
}

int cmd_lm(int argc, char **argv)
{
    const char *usage = "train|sample [flags]";
    if (argc < 2) return cli_usage_error("lm", usage, "%s", "expected a subcommand: train or sample");
    if (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h")) {
        printf("usage: shendu lm %s\n\n"
               "  shendu lm train [flags]                  train a character-level RNN, LSTM or Transformer on a text\n"
               "  mpirun -np N shendu lm train [flags]     the same, data parallel: the ranks share every batch\n"
               "  shendu lm sample FILE|CHECKPOINT [flags] write text with a trained model\n\n"
               "run 'shendu lm train --help' or 'shendu lm sample --help' for their flags\n", usage);
        return 0;
    }
    if (!strcmp(argv[1], "train")) return lm_train(argc, argv);
    if (!strcmp(argv[1], "sample")) return lm_sample(argc, argv);
    return cli_usage_error("lm", usage, "unknown subcommand '%s' (expected train or sample)", argv[1]);
}
