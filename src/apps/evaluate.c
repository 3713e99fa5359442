/* shendu eval: a saved classifier on the test part of its data (the data set
 * the model file records, or --data), with the measures people read:
 * accuracy, per-class precision / recall / F1, the confusion matrix, and the
 * most confidently wrong examples. */
#define _POSIX_C_SOURCE 200809L
#include "apps.h"

#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

void sd_eval_result_free(sd_eval_result *r)
{
    if (!r) return;
    sd_metrics_free(&r->metrics);
    for (int k = 0; r->classes && k < r->nclass; k++) free(r->classes[k]);
    free(r->classes);
    r->classes = NULL;
    r->nclass = 0;
}

typedef struct wrong { int index; float p; int pred; } wrong;

static int by_confidence(const void *a, const void *b)
{
    float x = ((const wrong *)a)->p, y = ((const wrong *)b)->p;
    if (x != y) return x < y ? 1 : -1;
    return ((const wrong *)a)->index - ((const wrong *)b)->index;
}

/* A file name part from a class name: letters, digits, - and _ kept. */
static void safe_name(const char *s, char *out, size_t size)
{
    size_t k = 0;
    for (; *s && k + 1 < size; s++) out[k++] = (isalnum((unsigned char)*s) || *s == '-') ? *s : '_';
    out[k] = 0;
}

static int write_worst(const sd_eval_opts *o, const sd_dataset *test, const float *logits, int C, char **classes,
                       FILE *log)
{
    wrong *w = malloc((size_t)test->n * sizeof *w);
    if (!w) return sd_error("out of memory");
    int nw = 0;
    for (int i = 0; i < test->n; i++) {
        const float *row = logits + (size_t)i * C;
        int best = 0;
        for (int j = 1; j < C; j++)
            if (row[j] > row[best]) best = j;
        if (best == test->labels[i]) continue;
        double z = 0;
        for (int j = 0; j < C; j++) z += exp((double)row[j] - row[best]);
        w[nw++] = (wrong){ i, (float)(1.0 / z), best };
    }
    qsort(w, (size_t)nw, sizeof *w, by_confidence);
    const int n = nw < o->worst ? nw : o->worst;
    int rc = 0;
    if (o->worst_dir && !test->images && n > 0) {
        fprintf(log, "(--out: a table's rows are listed, not drawn)\n");
    } else if (o->worst_dir && mkdir(o->worst_dir, 0777) && errno != EEXIST) {
        rc = sd_error("%s: %s", o->worst_dir, strerror(errno));
    }
    fprintf(log, "the %d most confidently wrong of %d wrong answers:\n", n, nw);
    const size_t img = (size_t)test->c * test->h * test->w;
    for (int k = 0; k < n && !rc; k++) {
        char t[64], p[64], tb[16], pb[16];
        snprintf(tb, sizeof tb, "%d", test->labels[w[k].index]);
        snprintf(pb, sizeof pb, "%d", w[k].pred);
        const char *tn = classes ? classes[test->labels[w[k].index]] : tb, *pn = classes ? classes[w[k].pred] : pb;
        fprintf(log, "  test example %d: true %s, predicted %s with p = %.3f", w[k].index, tn, pn, w[k].p);
        if (o->worst_dir && test->images) {
            char path[4400];
            safe_name(tn, t, sizeof t);
            safe_name(pn, p, sizeof p);
            snprintf(path, sizeof path, "%s/%03d_example%d_true-%s_pred-%s.png", o->worst_dir, k + 1, w[k].index, t, p);
            sd_image im;
            if (sd_image_alloc(&im, test->w, test->h, test->c, 0)) { rc = -1; break; }
            const uint8_t *src = test->images + (size_t)w[k].index * img;
            for (int ch = 0; ch < test->c; ch++)   /* planar -> interleaved */
                for (size_t i = 0; i < (size_t)test->h * test->w; i++) im.px[i * test->c + ch] = src[ch * test->h * test->w + i];
            rc = sd_image_save_png(path, &im);
            sd_image_free(&im);
            fprintf(log, " -> %s", path);
        }
        fprintf(log, "\n");
    }
    free(w);
    return rc;
}

int sd_app_eval_classifier(const sd_eval_opts *o, sd_eval_result *r, FILE *log)
{
    memset(r, 0, sizeof *r);
    sd_dataset test = { 0 };
    sd_data_info info = { 0 };
    sd_ctx *ctx = NULL;
    sd_graph *g = NULL;
    float *logits = NULL;
    int rc = -1;
    const sd_path_use uses[] = { { o->model, SD_PATH_INPUT, "the model" }, { o->logits, SD_PATH_OUTPUT, "--logits" },
                                 { o->confusion, SD_PATH_OUTPUT, "--confusion" } };
    if (sd_app_check_paths(o->data, uses, 3)) return -1;   /* before any work: no output replaces an input */
    if (sd_file_expect_kind(o->model, SD_KINDS_CLASSIFIER, "an image classifier")) return -1;
    sd_model *m = sd_model_load_with(o->model, o->max_memory);
    if (!m) return -1;
    float scale, shift;
    if (sd_app_check_not_generator(m, o->model) ||   /* role=generator: a GAN's, not a classifier */
        sd_app_classifier_inputs(m, o->model, &scale, &shift)) goto done;
    if (sd_data_load(o->data, &o->read, 1, o->threads, m, NULL, &test, &info)) goto done;
    sd_data_warn_mismatch(log, m, &info, o->data);
    if (o->limit > 0 && o->limit < test.n) sd_dataset_truncate(&test, o->limit);
    sd_shape in = sd_model_input_shape(m), out = sd_model_output_shape(m);
    if (in.ndim != 3 || in.d[0] != test.c || in.d[1] != test.h || in.d[2] != test.w) {
        char s[64];
        sd_error("%s takes inputs of shape %s but the test set of %s has %dx%dx%d %s", o->model,
                 sd_shape_str(in, s, sizeof s), info.path, test.c, test.h, test.w, test.x ? "rows" : "images");
        goto done;
    }
    if (out.d[0] < test.nclass) {
        sd_error("%s has %d classes but the test set of %s has labels up to %d", o->model, out.d[0], info.path,
                 test.nclass - 1);
        goto done;
    }
    if (sd_model_check_memory(m, 100, 0, o->max_memory)) {   /* sd_app_evaluate's batches */
        sd_error_prefix("%s", o->model);
        goto done;
    }
    const int C = out.d[0];
    if (!(ctx = sd_ctx_new(&(sd_ctx_opts){ .threads = o->threads }))) goto done;
    if (!(logits = malloc((size_t)test.n * C * sizeof *logits))) {
        sd_error("out of memory");
        goto done;
    }
    if (!(g = sd_graph_new(ctx))) goto done;
    if (sd_app_evaluate(g, m, &test, scale, shift, &r->test_accuracy, &r->test_loss, logits)) goto done;
    if (!isfinite(r->test_loss)) {   /* e.g. logits that overflow: no number to report */
        sd_error("%s: the test loss is not finite (the model's outputs overflow on %s)", o->model, info.path);
        goto done;
    }
    if (o->logits && sd_write_atomic(o->logits, &(sd_chunk){ logits, (size_t)test.n * C * sizeof *logits }, 1)) goto done;
    r->n = test.n;
    if (sd_metrics_compute(logits, test.labels, test.n, C, &r->metrics)) goto done;
    r->metrics.loss = r->test_loss;
    /* class names: the data's, else the model's */
    const char *names = sd_model_meta_get(m, "classes");
    if (names) {
        int k = 1;
        for (const char *p = names; *p; p++) k += *p == ',';
        if (k == C && (r->classes = calloc((size_t)k, sizeof *r->classes))) {
            r->nclass = k;
            const char *p = names;
            for (int i = 0; i < k; i++) {
                const char *e = strchr(p, ',');
                size_t len = e ? (size_t)(e - p) : strlen(p);
                if ((r->classes[i] = malloc(len + 1))) {
                    memcpy(r->classes[i], p, len);
                    r->classes[i][len] = 0;
                }
                p = e ? e + 1 : p + len;
            }
            for (int i = 0; i < k; i++)
                if (!r->classes[i]) { sd_eval_result_free(r); break; }
        }
    }
    if (o->confusion && sd_metrics_heatmap(&r->metrics, o->confusion)) goto done;
    if (o->worst > 0 && write_worst(o, &test, logits, C, r->classes, log)) goto done;
    rc = 0;
done:
    free(logits);
    sd_graph_free(g);
    sd_ctx_free(ctx);
    sd_model_free(m);
    sd_dataset_free(&test);
    sd_data_info_free(&info);
    if (rc) sd_eval_result_free(r);
    return rc;
}
