/* The measures people read after a classifier's evaluation: accuracy, per
 * class precision, recall and F1, the confusion matrix as text, JSON and a
 * PNG heatmap (owndata.h). */
#include "apps.h"
#include "io/json.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

void sd_metrics_free(sd_metrics *m)
{
    if (!m) return;
    free(m->confusion);
    free(m->precision);
    free(m->recall);
    free(m->f1);
    free(m->support);
    memset(m, 0, sizeof *m);
}

int sd_metrics_compute(const float *logits, const uint8_t *labels, int n, int nclass, sd_metrics *m)
{
    memset(m, 0, sizeof *m);
    m->nclass = nclass;
    m->n = n;
    m->confusion = calloc((size_t)nclass * nclass, sizeof *m->confusion);
    m->precision = calloc((size_t)nclass, sizeof *m->precision);
    m->recall = calloc((size_t)nclass, sizeof *m->recall);
    m->f1 = calloc((size_t)nclass, sizeof *m->f1);
    m->support = calloc((size_t)nclass, sizeof *m->support);
    if (!m->confusion || !m->precision || !m->recall || !m->f1 || !m->support) {
        sd_metrics_free(m);
        return sd_error("out of memory");
    }
    long correct = 0;
    for (int i = 0; i < n; i++) {
        const float *row = logits + (size_t)i * nclass;
        int best = 0;
        for (int j = 1; j < nclass; j++)
            if (row[j] > row[best]) best = j;
        int t = labels[i] < nclass ? labels[i] : 0;
        m->confusion[(size_t)t * nclass + best]++;
        correct += best == t;
    }
    m->accuracy = n ? (double)correct / n : 0.0;
    double f1sum = 0;
    int f1n = 0;
    for (int k = 0; k < nclass; k++) {
        long tp = m->confusion[(size_t)k * nclass + k], pred = 0, actual = 0;
        for (int j = 0; j < nclass; j++) {
            pred += m->confusion[(size_t)j * nclass + k];
            actual += m->confusion[(size_t)k * nclass + j];
        }
        m->support[k] = (int)actual;
        m->precision[k] = pred ? (double)tp / pred : NAN;
        m->recall[k] = actual ? (double)tp / actual : NAN;
        double p = pred ? m->precision[k] : 0.0, r = actual ? m->recall[k] : 0.0;
        m->f1[k] = actual ? (p + r > 0 ? 2 * p * r / (p + r) : 0.0) : NAN;
        if (actual) f1sum += m->f1[k], f1n++;
    }
    m->macro_f1 = f1n ? f1sum / f1n : NAN;
    return 0;
}

static const char *class_name(char *const *classes, int k, char *buf, size_t size)
{
    if (classes) return classes[k];
    snprintf(buf, size, "%d", k);
    return buf;
}

static void print_share(FILE *f, double v)
{
    if (isnan(v)) fprintf(f, "  %9s", "-");
    else fprintf(f, "  %9.4f", v);
}

void sd_metrics_print(FILE *f, const sd_metrics *m, char *const *classes)
{
    char b[32];
    int wide = 5;
    for (int k = 0; k < m->nclass; k++) {
        int l = (int)strlen(class_name(classes, k, b, sizeof b));
        if (l > wide) wide = l;
    }
    if (wide > 24) wide = 24;
    fprintf(f, "%-*s  %9s  %9s  %9s  %7s\n", wide, "class", "precision", "recall", "F1", "support");
    for (int k = 0; k < m->nclass; k++) {
        fprintf(f, "%-*.*s", wide, wide, class_name(classes, k, b, sizeof b));
        print_share(f, m->precision[k]);
        print_share(f, m->recall[k]);
        print_share(f, m->f1[k]);
        fprintf(f, "  %7d\n", m->support[k]);
    }
    fprintf(f, "%-*s  %9s  %9s  %9.4f  %7d   (macro-averaged F1)\n", wide, "all", "", "", m->macro_f1, m->n);
    /* confusion matrix: rows = true class, columns = predicted (as numbers, named above) */
    int cw = 4;
    for (long i = 0; i < (long)m->nclass * m->nclass; i++) {
        int l = snprintf(b, sizeof b, "%ld", m->confusion[i]);
        if (l + 1 > cw) cw = l + 1;
    }
    fprintf(f, "confusion matrix (rows: true class, columns: predicted class, numbered as listed from 0)\n");
    fprintf(f, "%-*s", wide, "");
    for (int j = 0; j < m->nclass; j++) fprintf(f, " %*d", cw, j);
    fprintf(f, "\n");
    for (int k = 0; k < m->nclass; k++) {
        fprintf(f, "%-*.*s", wide, wide, class_name(classes, k, b, sizeof b));
        for (int j = 0; j < m->nclass; j++) fprintf(f, " %*ld", cw, m->confusion[(size_t)k * m->nclass + j]);
        fprintf(f, "\n");
    }
}

static void json_num(FILE *f, double v)
{
    if (isnan(v)) fprintf(f, "null");
    else fprintf(f, "%.4f", v);
}

void sd_metrics_json(FILE *f, const sd_metrics *m, char *const *classes)
{
    char b[32];
    fprintf(f, "\"accuracy\":%.4f,\"macro_f1\":", m->accuracy);
    json_num(f, m->macro_f1);
    fprintf(f, ",\"classes\":[");
    for (int k = 0; k < m->nclass; k++) {
        fprintf(f, "%s{\"name\":", k ? "," : "");
        sd_json_write_str(f, class_name(classes, k, b, sizeof b));
        fprintf(f, ",\"precision\":");
        json_num(f, m->precision[k]);
        fprintf(f, ",\"recall\":");
        json_num(f, m->recall[k]);
        fprintf(f, ",\"f1\":");
        json_num(f, m->f1[k]);
        fprintf(f, ",\"support\":%d}", m->support[k]);
    }
    fprintf(f, "],\"confusion\":[");
    for (int k = 0; k < m->nclass; k++) {
        fprintf(f, "%s[", k ? "," : "");
        for (int j = 0; j < m->nclass; j++) fprintf(f, "%s%ld", j ? "," : "", m->confusion[(size_t)k * m->nclass + j]);
        fprintf(f, "]");
    }
    fprintf(f, "]");
}

int sd_metrics_heatmap(const sd_metrics *m, const char *path)
{
    const int K = m->nclass, cell = K <= 10 ? 32 : K <= 50 ? 12 : 4, pad = 2;
    const int side = K * cell + 2 * pad;
    sd_image im;
    if (sd_image_alloc(&im, side, side, 3, 255)) return -1;
    for (int k = 0; k < K; k++) {
        long row = 0;
        for (int j = 0; j < K; j++) row += m->confusion[(size_t)k * K + j];
        for (int j = 0; j < K; j++) {
            double v = row ? (double)m->confusion[(size_t)k * K + j] / row : 0.0;
            /* white (0) to dark blue (1) */
            uint8_t rgb[3] = { (uint8_t)(255 - v * 247), (uint8_t)(255 - v * 207), (uint8_t)(255 - v * 148) };
            for (int y = 0; y < cell - 1; y++)
                for (int x = 0; x < cell - 1; x++) {
                    uint8_t *p = im.px + ((size_t)(pad + k * cell + y) * side + pad + j * cell + x) * 3;
                    memcpy(p, rgb, 3);
                }
        }
    }
    int rc = sd_image_save_png(path, &im);
    sd_image_free(&im);
    return rc;
}
