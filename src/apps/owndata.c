/* Your own data: reading MNIST-layout folders, class folders of pictures and
 * CSV tables into training and test parts, and what a model file records
 * about them so that eval, show and predict read the same way (owndata.h). */
#define _POSIX_C_SOURCE 200809L
#include "apps.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

const char *const sd_data_kind_names[] = { "mnist", "folder", "table", NULL };
const char *const sd_fit_names[] = { "pad", "crop", "stretch", NULL };
const char *const sd_task_names[] = { "auto", "classify", "regress", NULL };

void sd_data_info_free(sd_data_info *info)
{
    if (!info) return;
    for (int i = 0; info->features && i < info->nfeat; i++) free(info->features[i]);
    free(info->features);
    free(info->mean);
    free(info->sd);
    memset(info, 0, sizeof *info);
}

/* "a,b,c" -> n strings (the caller frees each and the array). */
static int split_list(const char *s, char ***out, int *n)
{
    *out = NULL;
    *n = 0;
    if (!s || !*s) return 0;
    int k = 1;
    for (const char *p = s; *p; p++) k += *p == ',';
    char **v = calloc((size_t)k, sizeof *v);
    if (!v) return sd_error("out of memory");
    const char *p = s;
    for (int i = 0; i < k; i++) {
        const char *e = strchr(p, ',');
        size_t len = e ? (size_t)(e - p) : strlen(p);
        if (!(v[i] = malloc(len + 1))) {
            for (int j = 0; j < i; j++) free(v[j]);
            free(v);
            return sd_error("out of memory");
        }
        memcpy(v[i], p, len);
        v[i][len] = 0;
        p = e ? e + 1 : p + len;
    }
    *out = v;
    *n = k;
    return 0;
}

static void free_list(char **v, int n)
{
    for (int i = 0; v && i < n; i++) free(v[i]);
    free(v);
}

/* "28" -> 28x28, "32x24" -> w 32, h 24. */
static int parse_size(const char *s, int *w, int *h)
{
    char *e;
    long a = strtol(s, &e, 10), b = a;
    if (*e == 'x' || *e == 'X') b = strtol(e + 1, &e, 10);
    if (*e || a < 1 || b < 1 || a > 4096 || b > 4096)
        return sd_error("bad --size '%s' (expected N or WxH, 1 to 4096)", s);
    *w = (int)a;
    *h = (int)b;
    return 0;
}

static int has_idx(const char *dir)
{
    char p[4200];
    struct stat st;
    snprintf(p, sizeof p, "%s/train-images-idx3-ubyte.gz", dir);
    if (!stat(p, &st)) return 1;
    snprintf(p, sizeof p, "%s/train-images-idx3-ubyte", dir);
    if (!stat(p, &st)) return 1;
    snprintf(p, sizeof p, "%s/t10k-images-idx3-ubyte.gz", dir);
    if (!stat(p, &st)) return 1;
    snprintf(p, sizeof p, "%s/t10k-images-idx3-ubyte", dir);
    return !stat(p, &st);
}

static int meta_enum(const sd_model *m, const char *key, const char *const *names, int dflt)
{
    const char *v = m ? sd_model_meta_get(m, key) : NULL;
    for (int i = 0; v && names[i]; i++)
        if (!strcmp(v, names[i])) return i;
    return dflt;
}

/* The examples of a table as a data set of 1×1×nfeat "pictures" of features. */
static int table_dataset(const sd_tabular *t, sd_dataset *d)
{
    memset(d, 0, sizeof *d);
    d->n = t->n;
    d->c = d->h = 1;
    d->w = t->nfeat;
    d->nclass = t->nclass;
    d->x = malloc((size_t)t->n * t->nfeat * sizeof *d->x);
    d->labels = malloc((size_t)t->n);
    if (!d->x || !d->labels || sd_dataset_set_classes(d, (const char *const *)t->classes, t->nclass)) {
        sd_dataset_free(d);
        return sd_error("out of memory");
    }
    memcpy(d->x, t->x, (size_t)t->n * t->nfeat * sizeof *d->x);
    memcpy(d->labels, t->label, (size_t)t->n);
    return 0;
}

/* x -> (x - mean) / sd per feature; a missing value (NaN) becomes 0, the mean. */
static void standardise(sd_dataset *d, const float *mean, const float *sd)
{
    const int f = d->w;
    for (int i = 0; i < d->n; i++)
        for (int j = 0; j < f; j++) {
            float *v = d->x + (size_t)i * f + j;
            *v = isnan(*v) ? 0.0f : (*v - mean[j]) / sd[j];
        }
}

/* The training part's mean and standard deviation of each feature (missing values left out). */
static int feature_stats(const sd_dataset *d, sd_data_info *info)
{
    const int f = d->w;
    info->mean = malloc((size_t)f * sizeof *info->mean);
    info->sd = malloc((size_t)f * sizeof *info->sd);
    if (!info->mean || !info->sd) return sd_error("out of memory");
    for (int j = 0; j < f; j++) {
        double s = 0, s2 = 0;
        long n = 0;
        for (int i = 0; i < d->n; i++) {
            double v = d->x[(size_t)i * f + j];
            if (isnan(v)) continue;
            s += v;
            s2 += v * v;
            n++;
        }
        double mean = n ? s / n : 0.0, var = n ? s2 / n - mean * mean : 0.0;
        info->mean[j] = (float)mean;
        info->sd[j] = var > 1e-12 ? (float)sqrt(var) : 1.0f;   /* a constant column stays 0 */
    }
    return 0;
}

/* A model's recorded statistics: features, feature_mean, feature_sd. */
static int model_stats(const sd_model *m, sd_data_info *info)
{
    char **mean = NULL, **sd = NULL;
    int nm = 0, ns = 0, rc = -1;
    if (split_list(sd_model_meta_get(m, "features"), &info->features, &info->nfeat) ||
        split_list(sd_model_meta_get(m, "feature_mean"), &mean, &nm) ||
        split_list(sd_model_meta_get(m, "feature_sd"), &sd, &ns)) goto done;
    if (!info->nfeat || nm != info->nfeat || ns != info->nfeat) {
        sd_error("the model file's feature statistics are missing or do not match its %d features", info->nfeat);
        goto done;
    }
    info->mean = malloc((size_t)nm * sizeof *info->mean);
    info->sd = malloc((size_t)nm * sizeof *info->sd);
    if (!info->mean || !info->sd) { sd_error("out of memory"); goto done; }
    for (int j = 0; j < nm; j++) {
        info->mean[j] = strtof(mean[j], NULL);
        info->sd[j] = strtof(sd[j], NULL);
        if (!isfinite(info->mean[j]) || !(info->sd[j] > 0) || !isfinite(info->sd[j])) {
            sd_error("the model file's statistics of feature '%s' are not usable", info->features[j]);
            goto done;
        }
    }
    rc = 0;
done:
    free_list(mean, nm);
    free_list(sd, ns);
    return rc;
}

/* Put the table's feature columns into the model's order (by name). */
static int reorder_features(sd_tabular *t, const sd_data_info *info, const char *path)
{
    if (t->nfeat < info->nfeat) {
        for (int j = 0; j < info->nfeat; j++) {
            int found = 0;
            for (int k = 0; k < t->nfeat; k++) found |= !strcmp(t->features[k], info->features[j]);
            if (!found) return sd_error("%s: no column '%s', which the model was trained on", path, info->features[j]);
        }
    }
    int *src = malloc((size_t)info->nfeat * sizeof *src);
    float *x = malloc((size_t)t->n * info->nfeat * sizeof *x);
    if (!src || !x) { free(src); free(x); return sd_error("out of memory"); }
    for (int j = 0; j < info->nfeat; j++) {
        src[j] = -1;
        for (int k = 0; k < t->nfeat; k++)
            if (!strcmp(t->features[k], info->features[j])) src[j] = k;
        if (src[j] < 0) {
            free(src);
            free(x);
            return sd_error("%s: no column '%s', which the model was trained on", path, info->features[j]);
        }
    }
    for (int i = 0; i < t->n; i++)
        for (int j = 0; j < info->nfeat; j++) x[(size_t)i * info->nfeat + j] = t->x[(size_t)i * t->nfeat + src[j]];
    free(src);
    free(t->x);
    t->x = x;
    for (int k = 0; k < t->nfeat; k++) free(t->features[k]);
    free(t->features);
    t->features = NULL;
    t->nfeat = info->nfeat;
    return 0;
}

static int load_table(const char *path, const sd_data_opts *o, const sd_model *m, char **classes, int nclass,
                      sd_dataset *all, sd_data_info *info)
{
    sd_table t;
    sd_tabular tab;
    const char *target = o->target ? o->target : m ? sd_model_meta_get(m, "target") : NULL;
    if (!target) return sd_error("%s: a table needs --target COLUMN (the column to predict)", path);
    snprintf(info->target, sizeof info->target, "%s", target);
    info->fill = o->fill || (m && sd_model_meta_get(m, "fill") && !strcmp(sd_model_meta_get(m, "fill"), "mean"));
    if (sd_table_load_csv(path, &t)) return -1;
    sd_tabular_opts to = { .target = target, .task = (sd_task)o->task, .fill_missing = info->fill,
                           .classes = (const char *const *)classes, .nclass = nclass };
    int rc = sd_tabular_from_table(&t, &to, &tab);
    sd_table_free(&t);
    if (rc) return -1;
    if (tab.task == SD_TASK_REGRESS) {
        sd_tabular_free(&tab);
        return sd_error("%s: the target '%s' is numeric, which asks for a regression; shendu trains classifiers "
                        "only so far: give --task classify to treat its values as classes", path, target);
    }
    info->missing = tab.missing;
    if (m && (rc = reorder_features(&tab, info, path))) {
        sd_tabular_free(&tab);
        return rc;
    }
    if (!m) {   /* the features as the file names them */
        info->nfeat = tab.nfeat;
        info->features = tab.features;
        tab.features = NULL;
    }
    rc = table_dataset(&tab, all);
    sd_tabular_free(&tab);
    return rc;
}

int sd_data_load(const char *path, const sd_data_opts *o, uint64_t seed, int threads, const sd_model *m,
                 sd_dataset *train, sd_dataset *test, sd_data_info *info)
{
    memset(info, 0, sizeof *info);
    if (train) memset(train, 0, sizeof *train);
    memset(test, 0, sizeof *test);
    if (!path && m) path = sd_model_meta_get(m, "data");
    if (!path) path = sd_data_default_dir();
    snprintf(info->path, sizeof info->path, "%s", path);
    struct stat st;
    if (stat(path, &st)) {
        if (!m || !sd_model_meta_get(m, "data_kind") || !strcmp(sd_model_meta_get(m, "data_kind"), "mnist"))
            return sd_dataset_load_mnist(path, "t10k", test);   /* its message says how to install the data */
        return sd_error("%s: the data set the model was trained on is not there (give --data)", path);
    }
    char **classes = NULL;
    int nclass = 0, rc = -1;
    if (m && split_list(sd_model_meta_get(m, "classes"), &classes, &nclass)) return -1;
    sd_dataset all = { 0 };
    info->test_split = o->test_split > 0 ? o->test_split : 0.2;
    info->seed = seed;
    if (m) {   /* the split the model was trained with */
        const char *ts = sd_model_meta_get(m, "test_split"), *ss = sd_model_meta_get(m, "split_seed");
        if (ts && strtod(ts, NULL) > 0 && strtod(ts, NULL) < 1) info->test_split = strtod(ts, NULL);
        if (ss) info->seed = strtoull(ss, NULL, 10);
    }
    if (S_ISREG(st.st_mode)) {
        info->kind = SD_DATA_TABLE;
        if (m && sd_model_meta_get(m, "features") && model_stats(m, info)) goto done;
        if (m && !info->nfeat) {
            sd_error("%s: the model was not trained on a table (it has no feature statistics)", sd_model_meta_get(m, "data") ? sd_model_meta_get(m, "data") : "model");
            goto done;
        }
        if (load_table(path, o, m, classes, nclass, &all, info)) goto done;
    } else if (has_idx(path)) {
        info->kind = SD_DATA_MNIST;
        if (train && sd_dataset_load_mnist(path, "train", train)) goto done;
        if (sd_dataset_load_mnist(path, "t10k", test)) goto done;
        sd_dataset_fingerprint(test, info->fingerprint);
        rc = 0;
        goto done;
    } else {
        info->kind = SD_DATA_FOLDER;
        sd_folder_opts fo = { .channels = o->channels, .fit = (sd_fit_mode)o->fit, .skip_bad = o->skip_bad,
                              .threads = threads, .background = 255,
                              .classes = (const char *const *)classes, .nclass = nclass };
        if (o->size && parse_size(o->size, &fo.w, &fo.h)) goto done;
        if (m) {
            sd_shape in = sd_model_input_shape(m);
            if (in.ndim == 3) {
                fo.channels = in.d[0];
                fo.h = in.d[1];
                fo.w = in.d[2];
            }
            fo.fit = (sd_fit_mode)meta_enum(m, "resize", sd_fit_names, SD_FIT_MODE_PAD);
        }
        if (sd_folder_has_split(path)) {
            char p[4200];
            sd_folder_report tr;
            if (train) {
                snprintf(p, sizeof p, "%s/train", path);
                if (sd_dataset_load_folder(p, &fo, train, &info->report)) goto done;
                fo.w = train->w, fo.h = train->h, fo.channels = train->c;
                fo.classes = (const char *const *)train->classes;
                fo.nclass = train->nclass;
                fo.classes_of = "the training set (train/)";
            }
            snprintf(p, sizeof p, "%s/test", path);
            if (sd_dataset_load_folder(p, &fo, test, &tr)) goto done;
            info->test_bad = tr.bad;
            if (!train) info->report = tr;
            sd_dataset_fingerprint(test, info->fingerprint);
            rc = 0;
            goto done;
        }
        if (sd_dataset_load_folder(path, &fo, &all, &info->report)) goto done;
    }
    /* one set: split it, stratified and seeded */
    info->split = 1;
    sd_dataset a;
    if (sd_dataset_split(&all, info->test_split, info->seed, &a, test)) goto done;
    if (train) *train = a;
    else sd_dataset_free(&a);
    if (info->kind == SD_DATA_TABLE) {
        if (!m && feature_stats(train, info)) goto done;
        if (train) standardise(train, info->mean, info->sd);
        standardise(test, info->mean, info->sd);
    }
    if (test->n == 0) {
        sd_error("%s: the test part is empty (%d examples, --test-split %g)", path, all.n, info->test_split);
        goto done;
    }
    sd_dataset_fingerprint(test, info->fingerprint);
    rc = 0;
done:
    sd_dataset_free(&all);
    free_list(classes, nclass);
    if (rc) {
        if (train) sd_dataset_free(train);
        sd_dataset_free(test);
        sd_data_info_free(info);
    }
    return rc;
}

void sd_data_print(FILE *f, const sd_data_info *info, const sd_dataset *train, const sd_dataset *test)
{
    if (info->kind == SD_DATA_MNIST) return;
    const sd_dataset *d = train ? train : test;
    if (info->kind == SD_DATA_TABLE)
        fprintf(f, "data: table %s, target '%s': %d features, %d classes", info->path, info->target, d->w, d->nclass);
    else
        fprintf(f, "data: pictures in %s: %d classes, %dx%d, %s", info->path, d->nclass, d->w, d->h,
                d->c == 1 ? "gray" : "colour");
    if (train) fprintf(f, ", %d train / %d test", train->n, test->n);
    else fprintf(f, ", %d test", test->n);
    if (info->split) fprintf(f, " (a stratified %g split, seed %llu)", info->test_split, (unsigned long long)info->seed);
    fprintf(f, "\n");
    if (info->kind == SD_DATA_TABLE && info->missing)
        fprintf(f, "data: %d missing values replaced by their column's mean\n", info->missing);
    if (info->kind == SD_DATA_FOLDER) {
        const sd_folder_report *r = &info->report;
        if (r->nsizes > 1 || r->resized)
            fprintf(f, "data: %d picture%s resized to %dx%d (%s%d sizes found)\n", r->resized,
                    r->resized == 1 ? "" : "s", d->w, d->h, r->nsizes >= SD_FOLDER_MAX_SIZES ? "at least " : "",
                    r->nsizes);
        if (r->bad || info->test_bad)
            fprintf(f, "data: %d picture%s could not be read and %s skipped (first: %s)\n", r->bad + info->test_bad,
                    r->bad + info->test_bad == 1 ? "" : "s", r->bad + info->test_bad == 1 ? "was" : "were", r->first_bad);
        if (train) {
            int lo = -1, hi = -1;
            for (int k = 0; k < d->nclass; k++) {
                if (lo < 0 || r->count[k] < r->count[lo]) lo = k;
                if (hi < 0 || r->count[k] > r->count[hi]) hi = k;
            }
            if (lo >= 0 && r->count[hi] > 3 * r->count[lo])
                fprintf(f, "data: warning: the classes are imbalanced: '%s' has %d pictures, '%s' %d\n",
                        d->classes[hi], r->count[hi], d->classes[lo], r->count[lo]);
        }
    }
}

/* Append s (or ",s") to buf; -1 when it does not fit. */
static int append(char *buf, size_t size, size_t *len, const char *s)
{
    int k = snprintf(buf + *len, size - *len, "%s%s", *len ? "," : "", s);
    if (k < 0 || (size_t)k >= size - *len) return -1;
    *len += (size_t)k;
    return 0;
}

int sd_data_meta_set(sd_model *m, const sd_data_info *info, const sd_dataset *train, const sd_data_opts *o)
{
    char buf[256];
    sd_model_meta_set(m, "data", info->path);
    sd_model_meta_set(m, "data_kind", sd_data_kind_names[info->kind]);
    snprintf(buf, sizeof buf, "%dx%dx%d", train->c, train->h, train->w);
    sd_model_meta_set(m, "input", buf);
    sd_model_meta_set(m, "test_fingerprint", info->fingerprint);
    if (info->split) {
        snprintf(buf, sizeof buf, "%.6g", info->test_split);
        sd_model_meta_set(m, "test_split", buf);
        snprintf(buf, sizeof buf, "%llu", (unsigned long long)info->seed);
        sd_model_meta_set(m, "split_seed", buf);
    }
    if (info->kind == SD_DATA_FOLDER) sd_model_meta_set(m, "resize", sd_fit_names[o->fit]);
    const size_t cap = 1 << 20;
    char *s = malloc(cap);
    if (!s) return sd_error("out of memory");
    size_t len = 0;
    int rc = 0;
    if (train->classes) {
        for (int k = 0; k < train->nclass && !rc; k++) rc = append(s, cap, &len, train->classes[k]);
        if (!rc) sd_model_meta_set(m, "classes", s);
    }
    if (!rc && info->kind == SD_DATA_TABLE) {
        sd_model_meta_set(m, "target", info->target);
        sd_model_meta_set(m, "fill", info->fill ? "mean" : "none");
        len = 0;
        for (int j = 0; j < info->nfeat && !rc; j++) rc = append(s, cap, &len, info->features[j]);
        if (!rc) sd_model_meta_set(m, "features", s);
        for (int pass = 0; pass < 2 && !rc; pass++) {
            len = 0;
            for (int j = 0; j < info->nfeat && !rc; j++) {
                snprintf(buf, sizeof buf, "%.9g", pass ? info->sd[j] : info->mean[j]);
                rc = append(s, cap, &len, buf);
            }
            if (!rc) sd_model_meta_set(m, pass ? "feature_sd" : "feature_mean", s);
        }
    }
    free(s);
    return rc ? sd_error("the class or feature names are too long for the model file (1 MiB)") : 0;
}

const char *sd_data_arch(const char *model, int nclass, char *buf, size_t size)
{
    const char *arch = sd_model_preset(model);
    if (!arch) return model;
    /* the presets end in "linear(10)": the data's class count instead */
    const char *tail = strstr(arch, "linear(10)");
    if (!tail || tail[strlen("linear(10)")]) return arch;
    snprintf(buf, size, "%.*slinear(%d)", (int)(tail - arch), arch, nclass);
    return buf;
}

void sd_data_warn_mismatch(FILE *f, const sd_model *m, const sd_data_info *info, const char *given_path)
{
    const char *fp = sd_model_meta_get(m, "test_fingerprint"), *path = sd_model_meta_get(m, "data");
    if (!fp) return;
    if (strcmp(fp, info->fingerprint))
        fprintf(f, "warning: this is not the test set the model was trained with (it recorded %s, test fingerprint "
                   "%s; %s gives %s)\n", path ? path : "?", fp, given_path ? given_path : info->path, info->fingerprint);
}

/* ---- Early stopping: a copy of the best weights (and batchnorm state). */
struct sd_best_weights {
    float *w, *s;
    size_t nw, ns;
    double best;
    int best_epoch, since;
};

sd_best_weights *sd_best_weights_new(sd_model *m)
{
    sd_best_weights *b = calloc(1, sizeof *b);
    if (!b) { sd_error("out of memory"); return NULL; }
    sd_params *S = sd_model_state(m);
    b->nw = sd_params_size(sd_model_params(m));
    b->ns = S ? sd_params_size(S) : 0;
    b->w = malloc((b->nw ? b->nw : 1) * sizeof *b->w);
    b->s = malloc((b->ns ? b->ns : 1) * sizeof *b->s);
    b->best = INFINITY;
    if (!b->w || !b->s) {
        sd_best_weights_free(b);
        sd_error("out of memory for a copy of the best weights");
        return NULL;
    }
    return b;
}

void sd_best_weights_free(sd_best_weights *b)
{
    if (!b) return;
    free(b->w);
    free(b->s);
    free(b);
}

int sd_best_weights_update(sd_best_weights *b, sd_model *m, double val_loss, int epoch)
{
    if (val_loss < b->best) {
        b->best = val_loss;
        b->best_epoch = epoch;
        b->since = 0;
        memcpy(b->w, sd_params_values(sd_model_params(m)), b->nw * sizeof *b->w);
        if (b->ns) memcpy(b->s, sd_params_values(sd_model_state(m)), b->ns * sizeof *b->s);
    } else {
        b->since++;
    }
    return b->since;
}

double sd_best_weights_val_loss(const sd_best_weights *b) { return b->best_epoch ? b->best : NAN; }

int sd_best_weights_restore(const sd_best_weights *b, sd_model *m)
{
    if (b->best_epoch == 0) return 0;
    memcpy(sd_params_values(sd_model_params(m)), b->w, b->nw * sizeof *b->w);
    if (b->ns) memcpy(sd_params_values(sd_model_state(m)), b->s, b->ns * sizeof *b->s);
    return b->best_epoch;
}

int sd_data_table_rows(const sd_table *t, const sd_model *m, sd_dataset *out)
{
    memset(out, 0, sizeof *out);
    sd_data_info info = { 0 };
    sd_tabular tab;
    int rc = -1;
    if (model_stats(m, &info)) goto done;
    const char *target = sd_model_meta_get(m, "target");
    const char *fill = sd_model_meta_get(m, "fill");
    /* the target column may be there (its values are ignored) or not */
    sd_tabular_opts to = { .target = target ? target : "?", .fill_missing = fill && !strcmp(fill, "mean"),
                           .no_target = 1 };
    if (sd_tabular_from_table(t, &to, &tab)) goto done;
    if (reorder_features(&tab, &info, t->name)) { sd_tabular_free(&tab); goto done; }
    out->n = tab.n;
    out->c = out->h = 1;
    out->w = tab.nfeat;
    out->x = tab.x;
    tab.x = NULL;
    out->labels = calloc((size_t)(tab.n ? tab.n : 1), 1);
    sd_tabular_free(&tab);
    if (!out->labels) { sd_dataset_free(out); sd_error("out of memory"); goto done; }
    standardise(out, info.mean, info.sd);
    rc = 0;
done:
    sd_data_info_free(&info);
    return rc;
}
