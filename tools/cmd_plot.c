/* tools/cmd_plot.c — curves from metric logs: shendu plot; shendu report. */
#include "cli.h"
#include "apps/metlog.h"
#include "apps/report.h"

#include <stdlib.h>
#include <string.h>

/* Split "a,b,c" into at most max parts (in place). */
static int split_list(char *s, char **parts, int max)
{
    int n = 0;
    for (char *p = s; p && n < max;) {
        parts[n++] = p;
        p = strchr(p, ',');
        if (p) *p++ = 0;
    }
    return n;
}

/* A run's name: the file name without its directory and extension (level 0),
 * with its extension (1), or with its directory's name too (2: run1/log.jsonl). */
static void run_label(const char *path, int level, char *out, size_t n)
{
    const char *base = strrchr(path, '/'), *from;
    base = base ? base + 1 : path;
    from = base;
    if (level == 2)
        while (from > path && (from == base || from[-1] != '/')) from--;
    snprintf(out, n, "%s", from);
    char *dot = strrchr(out + (base - from), '.');
    if (level == 0 && dot && dot > out + (base - from)) *dot = 0;
}

void cli_run_labels(char *const *paths, int n, char (*names)[256])
{
    for (int i = 0; i < n; i++)   /* the shortest name no other run has */
        for (int level = 0; level < 3; level++) {
            int clash = 0;
            char other[256];
            run_label(paths[i], level, names[i], sizeof names[i]);
            for (int j = 0; j < n; j++) {
                run_label(paths[j], level, other, sizeof other);
                clash |= j != i && !strcmp(names[i], other);
            }
            if (!clash) break;
        }
}

#define MAX_RUNS 16

int cmd_plot(int argc, char **argv)
{
    const char *out = NULL, *x = "step", *usage = "LOG... --out FILE.svg|FILE.png [flags]";
    char *labels_arg = NULL, *measures_arg = NULL;
    const char *title = NULL;
    float smooth = 0;
    int log_y = 0, terminal = 0, width = 0, height = 0, cols = 0;
    const flag flags[] = {
        { "out", F_STR, &out, "the picture to write: .svg, or .png" },
        { "label", F_STR, &labels_arg, "the runs' names in the legend, comma-separated (default: from the file names)" },
        { "x", F_STR, &x, "the horizontal axis: step (default), epoch or time (seconds)" },
        { "measures", F_STR, &measures_arg, "plot only these measures, comma-separated (default: all)" },
        { "smooth", F_FLOAT, &smooth, "moving average of the per-step values, 0 to 0.999 (default 0: none)", 0, 0.999 },
        { "log-y", F_BOOL, &log_y, "losses (and bits per character) on a log scale" },
        { "terminal", F_BOOL, &terminal, "draw Unicode sparklines on stdout instead (or as well, with --out)" },
        { "columns", F_INT, &cols, "sparkline width in characters (default 60)", 8, 400 },
        { "width", F_INT, &width, "picture width in pixels (default 960)", 200, 8000 },
        { "height", F_INT, &height, "picture height in pixels (default: 260 per row of panels)", 150, 8000 },
        { "title", F_STR, &title, "a title above the panels" },
        { 0 }
    };
    char *pos[MAX_RUNS];
    int npos, rc = cli_parse("plot", usage,
                             "Draw the curves of metric logs written by a trainer's --log FILE (JSON lines or CSV):\n"
                             "one panel per measure, each run a line with its name in the legend.",
                             argc, argv, flags, pos, MAX_RUNS, &npos);
    if (rc) return rc == 1 ? 0 : rc;
    if (npos < 1) return cli_usage_error("plot", usage, "%s", "expected at least one log file");
    if (!out && !terminal) return cli_usage_error("plot", usage, "%s", "expected --out FILE.svg|FILE.png or --terminal");
    if (strcmp(x, "step") && strcmp(x, "epoch") && strcmp(x, "time"))
        return cli_usage_error("plot", usage, "unknown --x '%s' (expected step, epoch or time)", x);
    char *given[MAX_RUNS], *measures[33];
    int nlabels = labels_arg ? split_list(labels_arg, given, MAX_RUNS) : 0;
    if (labels_arg && nlabels != npos)
        return cli_usage_error("plot", usage, "--label names %s runs than there are log files",
                               nlabels < npos ? "fewer" : "more");
    int nm = measures_arg ? split_list(measures_arg, measures, 32) : 0;
    measures[nm] = NULL;

    sd_path_use uses[MAX_RUNS + 1];   /* before any work: the picture may not replace a log */
    for (int i = 0; i < npos; i++) uses[i] = (sd_path_use){ pos[i], SD_PATH_INPUT, "the log" };
    uses[npos] = (sd_path_use){ out, SD_PATH_OUTPUT, "--out" };
    if (sd_app_check_paths(NULL, uses, npos + 1)) return cli_fail("plot");
    sd_metlog_table t[MAX_RUNS];
    char names[MAX_RUNS][256];
    const char *labels[MAX_RUNS];
    int loaded = 0;
    rc = 1;
    for (; loaded < npos; loaded++)
        if (sd_metlog_read(pos[loaded], &t[loaded])) goto done;
    cli_run_labels(pos, npos, names);
    for (int i = 0; i < npos; i++) labels[i] = nlabels ? given[i] : names[i];
    sd_plot_opts o = { .x = x, .measures = measures_arg ? (const char *const *)measures : NULL, .smooth = smooth,
                       .log_y = log_y, .width = width, .height = height, .title = title };
    if (out) {
        if (sd_plot_write(out, t, labels, npos, &o)) goto done;
        printf("wrote %s (%d run%s)\n", out, npos, npos == 1 ? "" : "s");
    }
    if (terminal && sd_plot_terminal(stdout, t, labels, npos, &o, cols ? cols : 60)) goto done;
    rc = 0;
done:
    if (rc) fprintf(stderr, "shendu plot: %s\n", sd_last_error());
    for (int i = 0; i < loaded; i++) sd_metlog_table_free(&t[i]);
    return rc;
}

/* ---- shendu report RUN... --out report.html */

int cmd_report(int argc, char **argv)
{
    const char *usage = "LOG... --out REPORT.html [flags]";
    char *labels_arg = NULL;
    sd_report_opts o = { 0 };
    const flag flags[] = {
        { "out", F_STR, &o.out, "the HTML file to write" },
        { "label", F_STR, &labels_arg, "the runs' names, comma-separated (default: from the file names)" },
        { "title", F_STR, &o.title, "the page's title" },
        { "threads", F_INT, &o.threads, "worker threads for the evaluation and samples (default 0 = all cores)", 0, 256 },
        { "sample-len", F_INT, &o.sample_len, "bytes per language-model sample (default 300)", 1, 100000 },
        { "no-extras", F_BOOL, &o.no_extras, "only configuration, curves and final measures (read no model files)" },
        { 0 }
    };
    char *pos[MAX_RUNS];
    int npos, rc = cli_parse("report", usage,
                             "Write one self-contained HTML page (inline SVG and PNG, no network, no JavaScript) about\n"
                             "training runs, from their --log files (JSON lines): configuration, curves, final measures,\n"
                             "and per kind of run: a classifier's confusion matrix, per-class accuracy and most\n"
                             "confidently wrong pictures; a GAN's sample grids over the epochs; a language model's\n"
                             "samples at three temperatures; an RL agent's returns. Model files are found through\n"
                             "the --out each run was given.",
                             argc, argv, flags, pos, MAX_RUNS, &npos);
    if (rc) return rc == 1 ? 0 : rc;
    if (npos < 1 || !o.out) return cli_usage_error("report", usage, "%s", "expected at least one log file and --out REPORT.html");
    char *given[MAX_RUNS], names[MAX_RUNS][256];
    const char *labels[MAX_RUNS];
    int nlabels = labels_arg ? split_list(labels_arg, given, MAX_RUNS) : 0;
    if (labels_arg && nlabels != npos)
        return cli_usage_error("report", usage, "--label names %s runs than there are log files",
                               nlabels < npos ? "fewer" : "more");
    cli_run_labels(pos, npos, names);
    for (int i = 0; i < npos; i++) labels[i] = nlabels ? given[i] : names[i];
    o.runs = (const char *const *)pos;
    o.labels = labels;
    o.nruns = npos;
    return sd_app_report(&o, stdout) ? cli_fail("report") : 0;
}
