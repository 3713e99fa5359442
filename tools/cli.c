/* tools/cli.c — flag parsing and error conventions shared by the subcommands. */
#include "cli.h"

#include <errno.h>
#include <float.h>
#include <limits.h>
#include <signal.h>
#include <stdlib.h>
#include <math.h>
#include <string.h>

static void print_flags(FILE *f, const flag *flags)
{
    for (const flag *fl = flags; fl->name; fl++) {
        char lhs[48];
        const char *arg = fl->type == F_BOOL ? "" : fl->type == F_STR ? " S" : fl->type == F_FLOAT ? " X" :
                          fl->type == F_BYTES ? " BYTES" : " N";
        snprintf(lhs, sizeof lhs, "--%s%s", fl->name, arg);
        fprintf(f, "  %-22s %s\n", lhs, fl->help);
    }
    fprintf(f, "  %-22s %s\n", "--help", "show this help");
}

int cli_usage_error(const char *cmd, const char *usage, const char *fmt, const char *what)
{
    fprintf(stderr, "shendu %s: ", cmd);
    fprintf(stderr, fmt, what);
    fprintf(stderr, "\nusage: shendu %s %s\n", cmd, usage);
    fprintf(stderr, "run 'shendu %s --help' for the flags\n", cmd);
    return 2;
}

/* Parse argv[1..] into flags and positional arguments (returned in pos, npos).
 * Returns 0, 1 if --help was printed, or 2 on a usage error. */
int cli_parse(const char *cmd, const char *usage, const char *about, int argc, char **argv,
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
            if (*npos == maxpos) return cli_usage_error(cmd, usage, "unexpected argument '%s'", a);
            pos[(*npos)++] = a;
            continue;
        }
        char name[64];
        const char *val = NULL, *eq = strchr(a + 2, '=');
        size_t len = eq ? (size_t)(eq - a - 2) : strlen(a + 2);
        if (len >= sizeof name) return cli_usage_error(cmd, usage, "unknown flag '%s'", a);
        memcpy(name, a + 2, len);
        name[len] = 0;
        const flag *fl = flags;
        while (fl->name && strcmp(fl->name, name)) fl++;
        if (!fl->name) return cli_usage_error(cmd, usage, "unknown flag '%s'", a);
        if (fl->type == F_BOOL) {
            if (eq) return cli_usage_error(cmd, usage, "flag '--%s' takes no value", fl->name);
            *(int *)fl->ptr = 1;
            continue;
        }
        if (eq) val = eq + 1;
        else if (i + 1 < argc) val = argv[++i];
        else return cli_usage_error(cmd, usage, "flag '--%s' needs a value", fl->name);
        char *end = NULL;
        errno = 0;
        switch (fl->type) {
        case F_INT: {
            long v = strtol(val, &end, 10);
            if (!*val || *end || errno || v < INT_MIN || v > INT_MAX ||
                (fl->min != fl->max && (v < fl->min || v > fl->max))) {
                if (fl->min != fl->max)
                    fprintf(stderr, "shendu %s: --%s: '%s' is not an integer in [%.0f, %.0f]\n", cmd, fl->name, val,
                            fl->min, fl->max);
                else
                    fprintf(stderr, "shendu %s: --%s: '%s' is not an integer\n", cmd, fl->name, val);
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
        case F_BYTES: {   /* a whole number of bytes, or of K/M/G/T (powers of 1024) */
            unsigned long long v = strtoull(val, &end, 10);
            int shift = !*end ? 0 : strchr("kK", *end) ? 10 : strchr("mM", *end) ? 20 : strchr("gG", *end) ? 30 :
                        strchr("tT", *end) ? 40 : -1;
            if (shift > 0 && (end[1] == 'B' || end[1] == 'b') && !end[2]) end += 2;
            else if (shift > 0 && !end[1]) end++;
            double bytes = (double)v * (double)(1ull << (shift > 0 ? shift : 0));
            if (!*val || val[0] == '-' || errno || shift < 0 || *end || bytes < fl->min || bytes > fl->max) {
                fprintf(stderr, "shendu %s: --%s: '%s' is not a size in [%.0fM, %.0fG] (bytes, or with a K, M, G "
                        "or T suffix)\n", cmd, fl->name, val, fl->min / 1048576, fl->max / 1073741824);
                return 2;
            }
            *(uint64_t *)fl->ptr = (uint64_t)bytes;
            break;
        }
        case F_FLOAT: {
            double v = strtod(val, &end);
            const float f = (float)v;   /* what the flag holds: the range is checked on it */
            /* a value that a float cannot hold is refused, never rounded: 1e-50 would become 0 (for
               most flags "the default"), 1e-40 a denormal, 1e39 infinity */
            const int unrepresentable = *val && !*end && !errno && v == v &&
                                        ((v != 0.0 && fabsf(f) < FLT_MIN) || (isfinite(v) && !isfinite(f)));
            if (unrepresentable) {
                fprintf(stderr, "shendu %s: --%s: '%s' cannot be held by a 32-bit float (it would become %g): give 0 "
                        "or a magnitude in [%g, %g]", cmd, fl->name, val, (double)f, (double)FLT_MIN, (double)FLT_MAX);
                if (fl->min != fl->max)
                    fprintf(stderr, "; the flag's range is %c%.10g, %.10g%c", fl->open & OPEN_MIN ? '(' : '[', fl->min,
                            fl->max, fl->open & OPEN_MAX ? ')' : ']');
                fputc('\n', stderr);
                return 2;
            }
            if (!*val || *end || errno || v != v ||
                (fl->min != fl->max && (f < fl->min || f > fl->max || ((fl->open & OPEN_MIN) && f <= fl->min) ||
                                        ((fl->open & OPEN_MAX) && f >= fl->max)))) {
                if (fl->min != fl->max)
                    fprintf(stderr, "shendu %s: --%s: '%s' is not a number in %c%.10g, %.10g%c\n", cmd, fl->name, val,
                            fl->open & OPEN_MIN ? '(' : '[', fl->min, fl->max, fl->open & OPEN_MAX ? ')' : ']');
                else
                    fprintf(stderr, "shendu %s: --%s: '%s' is not a number\n", cmd, fl->name, val);
                return 2;
            }
            *(float *)fl->ptr = f;
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

int cli_check_config_ranges(const char *cmd, const flag *flags, const sd_config_field *fields)
{
    for (const flag *fl = flags; fl->name; fl++) {
        if (fl->type != F_INT && fl->type != F_FLOAT) continue;
        const sd_config_field *f = sd_config_find(fields, fl->name);
        if (!f || f->kind == SD_CFG_STR || f->kind == SD_CFG_ENUM || f->kind == SD_CFG_U64) continue;
        /* an open end of the flag's range: the table stores the closed range just inside it */
        const double eps = 1e-6 * (fabs(fl->max) > 1 ? fabs(fl->max) : 1);
        const int min_ok = (fl->open & OPEN_MIN) ? f->min > fl->min && f->min <= fl->min + eps : f->min == fl->min;
        const int max_ok = (fl->open & OPEN_MAX) ? f->max < fl->max && f->max >= fl->max - eps : f->max == fl->max;
        if (!min_ok || !max_ok) {
            fprintf(stderr, "shendu %s: internal error: --%s accepts [%g, %g] but a checkpoint's %s may hold "
                    "[%g, %g]\n", cmd, fl->name, fl->min, fl->max, f->key, f->min, f->max);
            return 70;
        }
    }
    return 0;
}

int cli_check_model(const char *cmd, const char *usage, const char *flagname, const char *model)
{
    if (sd_model_preset(model) || !sd_model_arch_check(model)) return 0;
    char msg[1400];
    snprintf(msg, sizeof msg, "--%s: '%.200s' is neither a preset (%s) nor an architecture string (%.1000s)", flagname,
             model, sd_model_preset_names(), sd_last_error());
    return cli_usage_error(cmd, usage, "%s", msg);
}

int cli_fail(const char *cmd)
{
    fprintf(stderr, "shendu %s: ", cmd);
    sd_app_text(stderr, sd_last_error());   /* messages quote file contents: no raw control bytes */
    fputc('\n', stderr);
    return 1;
}

int cli_check_stop_after(const char *cmd, const char *usage, long stop_after, const char *checkpoint,
                         const char *resume)
{
    if (stop_after <= 0 || checkpoint || resume) return 0;
    return cli_usage_error(cmd, usage, "%s", "--stop-after needs --checkpoint FILE (the run stops to be resumed "
                                             "from its checkpoint; without one its steps would be lost)");
}

int cli_flag_given(int argc, char **argv, const char *name)
{
    size_t n = strlen(name);
    for (int i = 1; i < argc; i++)
        if (!strncmp(argv[i], "--", 2) && !strncmp(argv[i] + 2, name, n) && (!argv[i][2 + n] || argv[i][2 + n] == '='))
            return 1;
    return 0;
}

/* 0 if field f of `given` and `stored` agree, else 2 after saying so. */
static int same_or_say(const char *cmd, const char *name, const sd_config_field *f, const void *given,
                       const void *stored, const char *path)
{
    char a[256], b[256];
    sd_config_get(f, given, a, sizeof a);
    sd_config_get(f, stored, b, sizeof b);
    if (!strcmp(a, b)) return 0;
    fprintf(stderr, "shendu %s: --%s gives %s = %s, but %s was made with %s = %s; a resumed run keeps its "
                    "configuration (drop the flag, or start a new run)\n", cmd, name, f->key, a, path, f->key, b);
    return 2;
}

int cli_check_resumed(const char *cmd, int argc, char **argv, const sd_config_field *fields, int n,
                      const cli_alias *aliases, const void *given, const void *stored, const char *path)
{
    for (int i = 0; i < n && fields[i].key; i++)
        if (cli_flag_given(argc, argv, fields[i].key) && same_or_say(cmd, fields[i].key, &fields[i], given, stored, path))
            return 2;
    for (; aliases && aliases->flag; aliases++) {
        const sd_config_field *f = sd_config_find(fields, aliases->key);
        if (f && cli_flag_given(argc, argv, aliases->flag) && same_or_say(cmd, aliases->flag, f, given, stored, path))
            return 2;
    }
    return 0;
}

static size_t field_size(sd_config_kind kind)
{
    switch (kind) {
    case SD_CFG_LONG: return sizeof(long);
    case SD_CFG_FLOAT: return sizeof(float);
    case SD_CFG_DOUBLE: return sizeof(double);
    case SD_CFG_U64: return sizeof(uint64_t);
    case SD_CFG_STR: return sizeof(const char *);
    case SD_CFG_INT: case SD_CFG_ENUM: break;
    }
    return sizeof(int);
}

int cli_resume_config(const char *cmd, int argc, char **argv, const sd_config_field *fields, int free_from,
                      const void *given, void *stored, const char *path)
{
    int rc = cli_check_resumed(cmd, argc, argv, fields, free_from, NULL, given, stored, path);
    if (rc) return rc;
    for (int i = free_from; fields[i].key; i++) {
        const sd_config_field *f = &fields[i];
        char *dst = (char *)stored + f->offset;
        const char *src = (const char *)given + f->offset;
        if (!strcmp(f->key, "out")) {   /* where files are created is decided by this command line, never by
                                           what a file says: --out again, or the default directory */
            const char *was = *(const char *const *)dst, *now = *(const char *const *)src;
            if (!now) now = f->dflt;
            if (was && now && strcmp(was, now))
                fprintf(stderr, "shendu %s: note: %s was writing to %s; this run writes to %s (pass --out to choose)\n",
                        cmd, path, was, now);
        } else if (!cli_flag_given(argc, argv, f->key)) {
            continue;
        }
        memcpy(dst, src, field_size(f->kind));
    }
    return 0;
}

int cli_dist_agree(sd_dist *dist, const char *cmd, int rc)
{
    const int first = sd_dist_first_failed(dist, rc != 0);
    if (first >= 0 && !rc) {
        fprintf(stderr, "shendu %s: rank %d of %d stopped before training (bad flags or --help there); "
                        "every rank stops\n", cmd, first, sd_dist_size(dist));
        rc = 2;
    }
    return rc;
}

FILE *cli_dist_log(sd_dist *dist)
{
    FILE *log = sd_dist_rank(dist) == 0 ? NULL : fopen("/dev/null", "w");
    return log ? log : stdout;
}

void cli_dist_log_close(FILE *log)
{
    if (log && log != stdout) fclose(log);
}

int cli_dist_fail(sd_dist *dist, const char *cmd, int failed_everywhere)
{
    if (sd_dist_size(dist) > 1 && !failed_everywhere) {
        char msg[1200];
        snprintf(msg, sizeof msg, "shendu %s: %s", cmd, sd_last_error());
        sd_dist_abort(dist, 1, msg);
    }
    if (sd_dist_rank(dist) == 0) cli_fail(cmd);
    return 1;
}

/* The one piece of process-wide state: what a signal handler may touch. */
static volatile sig_atomic_t stop_requested;

static void on_stop_signal(int sig)
{
    if (stop_requested) { signal(sig, SIG_DFL); raise(sig); }
    stop_requested = 1;
}

volatile sig_atomic_t *cli_catch_stop(void)
{
    stop_requested = 0;
    signal(SIGINT, on_stop_signal);
    signal(SIGTERM, on_stop_signal);
    return &stop_requested;
}

void cli_release_stop(void)
{
    signal(SIGINT, SIG_DFL);
    signal(SIGTERM, SIG_DFL);
}

int cli_precision(const char *cmd, const char *usage, const char *value, int *out)
{
    for (int i = 0; sd_precision_names[i]; i++)
        if (!strcmp(value, sd_precision_names[i])) { *out = i; return 0; }
    return cli_usage_error(cmd, usage, "unknown --precision '%s' (expected fp32 or bf16)", value);
}
