/* shendu data DIR_OR_CSV: what a data set holds, before training on it —
 * pictures per class (imbalance warned), sizes and modes found, broken
 * files; for a table each column's type, range and missing values. */
#define _POSIX_C_SOURCE 200809L
#include "apps.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

static void imbalance(FILE *f, const int *count, char *const *names, int n)
{
    int lo = 0, hi = 0;
    for (int k = 1; k < n; k++) {
        if (count[k] < count[lo]) lo = k;
        if (count[k] > count[hi]) hi = k;
    }
    if (n > 1 && count[hi] > 3 * count[lo])
        fprintf(f, "warning: the classes are imbalanced: '%s' has %d examples, '%s' %d (%.1fx); accuracy alone "
                   "will flatter a model that favours '%s' (read the per-class recall of `shendu eval`)\n",
                names[hi], count[hi], names[lo], count[lo], (double)count[hi] / (count[lo] ? count[lo] : 1), names[hi]);
}

static int describe_folder(const char *dir, const char *label, const sd_data_opts *o, FILE *f)
{
    sd_dataset d;
    sd_folder_report r;
    /* every picture is decoded (that is how a broken one shows) but fitted into 1x1 */
    sd_folder_opts fo = { .w = 1, .h = 1, .channels = 1, .skip_bad = 1, .describe = 1 };
    if (sd_dataset_load_folder(dir, &fo, &d, &r)) return -1;
    fprintf(f, "%s%s: %d pictures in %d classes (%d PNG, %d JPEG)\n", label, dir, r.pictures + r.bad, d.nclass,
            r.png, r.jpeg);
    int wide = 5;
    for (int k = 0; k < d.nclass; k++)
        if ((int)strlen(d.classes[k]) > wide) wide = (int)strlen(d.classes[k]);
    for (int k = 0; k < d.nclass; k++) fprintf(f, "  %-*s %7d\n", wide, d.classes[k], r.count[k]);
    for (int k = 0; k < d.nclass; k++)
        if (!r.count[k]) fprintf(f, "warning: class '%s' has no pictures (training stops on an empty class folder)\n", d.classes[k]);
    if (d.nclass == 1) fprintf(f, "warning: only one class: a classifier needs at least two\n");
    imbalance(f, r.count, d.classes, d.nclass);
    fprintf(f, "modes: %d gray, %d colour (%d with transparency, composited over white)\n", r.gray, r.colour, r.alpha);
    fprintf(f, "sizes:");
    for (int s = 0; s < r.nsizes; s++) fprintf(f, " %dx%d (%d)", r.size_w[s], r.size_h[s], r.size_n[s]);
    if (r.nsizes >= SD_FOLDER_MAX_SIZES) fprintf(f, " and more");
    fprintf(f, "%s\n", r.nsizes > 1 ? "; training resizes them to one size (--size, --resize pad|crop)" : "");
    if (r.bad) fprintf(f, "broken: %d picture%s cannot be read (first: %s); train stops on them unless --skip-bad\n",
                       r.bad, r.bad == 1 ? "" : "s", r.first_bad);
    else fprintf(f, "broken: none\n");
    if (r.other_files) fprintf(f, "other files (not .png, .jpg, .jpeg): %d, left out\n", r.other_files);
    sd_dataset_free(&d);
    (void)o;
    return 0;
}

static int describe_table(const char *path, const sd_data_opts *o, FILE *f)
{
    sd_table t;
    if (sd_table_load_csv(path, &t)) return -1;
    fprintf(f, "%s: a table of %d rows and %d columns, separated by '%s'\n", path, t.rows, t.cols,
            t.sep == '\t' ? "\\t" : t.sep == ';' ? ";" : ",");
    int wide = 6;
    for (int c = 0; c < t.cols; c++)
        if ((int)strlen(sd_table_header(&t, c)) > wide) wide = (int)strlen(sd_table_header(&t, c));
    if (wide > 32) wide = 32;
    fprintf(f, "  %-*s  %-7s  %12s  %12s  %12s  %7s  %8s\n", wide, "column", "type", "min", "max", "mean", "missing",
            "distinct");
    int rc = 0;
    for (int c = 0; c < t.cols && !rc; c++) {
        sd_table_column_info ci;
        if ((rc = sd_table_describe(&t, c, &ci))) break;
        const char *type = ci.texts == 0 ? (ci.numbers ? "number" : "empty") : ci.numbers ? "mixed" : "text";
        fprintf(f, "  %-*.*s  %-7s", wide, wide, sd_table_header(&t, c), type);
        if (ci.numbers) fprintf(f, "  %12.6g  %12.6g  %12.6g", ci.min, ci.max, ci.mean);
        else fprintf(f, "  %12s  %12s  %12s", "-", "-", "-");
        fprintf(f, "  %7d  %7d%s\n", ci.missing, ci.distinct, ci.distinct >= SD_TABLE_DISTINCT_CAP ? "+" : "");
        if (!strcmp(type, "mixed"))
            fprintf(f, "    (line %d holds '%.40s', not a number: a feature column must be numeric)\n",
                    t.line[ci.first_text_row + 1], sd_table_cell(&t, ci.first_text_row, c));
    }
    if (!rc && o->target && *o->target) {
        sd_tabular d;
        sd_tabular_opts to = { .target = o->target, .task = (sd_task)o->task, .fill_missing = 1 };
        if (!(rc = sd_tabular_from_table(&t, &to, &d))) {
            if (d.task == SD_TASK_CLASSIFY) {
                int count[SD_MAX_CLASSES] = { 0 };
                for (int i = 0; i < d.n; i++) count[d.label[i]]++;
                fprintf(f, "target '%s': %d classes\n", o->target, d.nclass);
                for (int k = 0; k < d.nclass; k++) fprintf(f, "  %-*s %7d\n", wide, d.classes[k], count[k]);
                imbalance(f, count, d.classes, d.nclass);
            } else {
                fprintf(f, "target '%s' is numeric: a regression (--task classify treats its values as classes)\n",
                        o->target);
            }
            sd_tabular_free(&d);
        }
    }
    sd_table_free(&t);
    return rc;
}

int sd_app_data_describe(const char *path, const sd_data_opts *o, FILE *f)
{
    struct stat st;
    if (stat(path, &st)) return sd_error("%s: no such file or folder", path);
    if (S_ISREG(st.st_mode)) return describe_table(path, o, f);
    char p[4200];
    snprintf(p, sizeof p, "%s/train-images-idx3-ubyte.gz", path);
    struct stat s2;
    if (!stat(p, &s2) || (snprintf(p, sizeof p, "%s/train-images-idx3-ubyte", path), !stat(p, &s2))) {
        sd_dataset tr, te;
        if (sd_dataset_load_mnist(path, "train", &tr)) return -1;
        if (sd_dataset_load_mnist(path, "t10k", &te)) { sd_dataset_free(&tr); return -1; }
        fprintf(f, "%s: MNIST-layout IDX files, %dx%d gray, %d classes: %d train / %d test pictures\n", path, tr.w,
                tr.h, tr.nclass, tr.n, te.n);
        sd_dataset_free(&tr);
        sd_dataset_free(&te);
        return 0;
    }
    if (sd_folder_has_split(path)) {
        snprintf(p, sizeof p, "%s/train", path);
        if (describe_folder(p, "train: ", o, f)) return -1;
        snprintf(p, sizeof p, "%s/test", path);
        return describe_folder(p, "test: ", o, f);
    }
    return describe_folder(path, "", o, f);
}
