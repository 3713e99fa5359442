#define _POSIX_C_SOURCE 200809L
/* shendu report: one self-contained HTML page for one or several runs (their
 * --log files): configuration, curves (inline SVG), final measures, and per
 * kind of run what shows its result best: a classifier's confusion matrix,
 * per-class accuracy and most confidently wrong pictures; a GAN's (or a
 * diffusion model's) sample grids over the epochs; a language model's samples at several temperatures;
 * an RL agent's return curve, and a grid world's values and greedy policy
 * drawn on its map. Pictures are base64 PNGs: no network, no
 * JavaScript. */
#include "apps.h"
#include "report.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* ---- HTML output helpers */

static void esc(FILE *f, const char *s)
{
    for (; *s; s++) {
        switch (*s) {
        case '<': fputs("&lt;", f); break;
        case '>': fputs("&gt;", f); break;
        case '&': fputs("&amp;", f); break;
        case '"': fputs("&quot;", f); break;
        default:
            if ((unsigned char)*s >= 32 || *s == '\n' || *s == '\t') fputc(*s, f);
            else fputs("\xef\xbf\xbd", f);   /* U+FFFD for control bytes */
        }
    }
}

static void base64(FILE *f, const unsigned char *p, size_t n)
{
    static const char a[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    for (size_t i = 0; i < n; i += 3) {
        unsigned v = (unsigned)p[i] << 16 | (i + 1 < n ? (unsigned)p[i + 1] << 8 : 0) | (i + 2 < n ? p[i + 2] : 0);
        fputc(a[v >> 18 & 63], f);
        fputc(a[v >> 12 & 63], f);
        fputc(i + 1 < n ? a[v >> 6 & 63] : '=', f);
        fputc(i + 2 < n ? a[v & 63] : '=', f);
    }
}

/* A PNG file inlined as an <img>; 0, or -1 if it cannot be read. */
static int img_file(FILE *f, const char *path, const char *alt, int width)
{
    FILE *in = fopen(path, "rb");
    if (!in) return -1;
    size_t cap = 1 << 16, n = 0, got;
    unsigned char *buf = malloc(cap);
    while (buf && (got = fread(buf + n, 1, cap - n, in)) > 0) {
        n += got;
        if (n == cap) {
            unsigned char *b = realloc(buf, cap *= 2);
            if (!b) { free(buf); buf = NULL; }
            buf = b;
        }
    }
    fclose(in);
    if (!buf || n < 8 || memcmp(buf, "\x89PNG", 4)) { free(buf); return -1; }
    fprintf(f, "<img alt=\"");
    esc(f, alt);
    fputc('"', f);
    if (width) fprintf(f, " width=\"%d\"", width);
    fputs(" src=\"data:image/png;base64,", f);
    base64(f, buf, n);
    fputs("\">", f);
    free(buf);
    return 0;
}

/* An image inlined through a temporary PNG file. */
static int img_pixels(FILE *f, const sd_image *im, const char *alt, int width)
{
#ifdef __wasi__   /* WASI has no temporary files (no mkstemp), and the wasm build no libpng */
    (void)f; (void)im; (void)width;
    return sd_error("%s: pictures cannot be inlined in the WebAssembly build (no temporary files)", alt);
#else
    char path[] = "/tmp/shendu-report-XXXXXX";
    int fd = mkstemp(path);
    if (fd < 0) return sd_error("cannot make a temporary file");
    close(fd);
    int rc = sd_image_save_png(path, im);
    if (!rc) rc = img_file(f, path, alt, width) ? sd_error("%s: cannot read back", path) : 0;
    unlink(path);
    return rc;
#endif
}

static int file_exists(const char *p) { return p && *p && access(p, R_OK) == 0; }

/* The last finite value of column c, preferring the final record (the
 * kept model's), then epoch records. */
static double final_value(const sd_metlog_table *t, int c, int *from_epoch)
{
    double last[3] = { NAN, NAN, NAN };
    for (int r = 0; r < t->nrow; r++) {
        const double *row = t->v + (size_t)r * t->ncol;
        if (isfinite(row[c])) last[row[0] == SD_REC_FINAL ? 2 : row[0] == SD_REC_EPOCH] = row[c];
    }
    *from_epoch = isfinite(last[2]) || isfinite(last[1]);
    return isfinite(last[2]) ? last[2] : isfinite(last[1]) ? last[1] : last[0];
}

/* ---- Per kind */

static void section_config(FILE *f, const sd_metlog_table *t)
{
    if (!t->nconfig) {
        fputs("<p class=\"note\">This log has no configuration line (a CSV log, or one from an older shendu).</p>\n", f);
        return;
    }
    fputs("<table class=\"kv\"><tr><th>setting</th><th>value</th></tr>\n", f);
    for (int i = 0; i < t->nconfig; i++) {
        fputs("<tr><td>", f);
        esc(f, t->config_keys[i]);
        fputs("</td><td>", f);
        esc(f, t->config_values[i][0] ? t->config_values[i] : "-");
        fputs("</td></tr>\n", f);
    }
    fputs("</table>\n", f);
}

static void section_measures(FILE *f, const sd_metlog_table *t)
{
    double steps = NAN, secs = NAN;
    for (int r = 0; r < t->nrow; r++) {
        const double *row = t->v + (size_t)r * t->ncol;
        if (isfinite(row[1])) steps = row[1];
        if (isfinite(row[3])) secs = row[3];
    }
    fprintf(f, "<table class=\"kv\"><tr><th>measure</th><th>final value</th></tr>\n"
               "<tr><td>steps</td><td>%.0f</td></tr><tr><td>training time</td><td>%.1f s</td></tr>\n", steps, secs);
    for (int c = 4; c < t->ncol; c++) {
        int ep;
        double v = final_value(t, c, &ep);
        if (!isfinite(v)) continue;
        fputs("<tr><td>", f);
        esc(f, t->names[c]);
        fprintf(f, "%s</td><td>%.6g</td></tr>\n", ep ? "" : " (last logged step)", v);
    }
    fputs("</table>\n", f);
}

static int section_gan(FILE *f, const char *out)
{
    char path[4200];
    int last = 0;
    for (int e = 1; e <= 999; e++) {
        snprintf(path, sizeof path, "%s/epoch_%03d.png", out, e);
        if (file_exists(path)) last = e;
    }
    if (!last) {
        fprintf(f, "<p class=\"note\">No sample grids found in ");
        esc(f, out);
        fputs(".</p>\n", f);
        return 0;
    }
    fputs("<h3>Samples from fixed noise over the epochs</h3>\n<div class=\"grid\">\n", f);
    int shown[8], n = 0;   /* up to 8 epochs, evenly spaced, the first and the last among them */
    for (int i = 0; i < 8 && i < last; i++) {
        int e = last <= 8 ? i + 1 : 1 + (int)((double)i * (last - 1) / 7 + 0.5);
        if (n == 0 || shown[n - 1] != e) shown[n++] = e;
    }
    for (int i = 0; i < n; i++) {
        snprintf(path, sizeof path, "%s/epoch_%03d.png", out, shown[i]);
        char alt[64];
        snprintf(alt, sizeof alt, "samples after epoch %d", shown[i]);
        fputs("<figure>", f);
        if (img_file(f, path, alt, 224)) return sd_error("%s: not a readable PNG", path);
        fprintf(f, "<figcaption>epoch %d</figcaption></figure>\n", shown[i]);
    }
    fputs("</div>\n", f);
    return 0;
}

static int section_lm(FILE *f, const char *model, int len)
{
    if (!file_exists(model)) {
        fputs("<p class=\"note\">The model file is not there: no samples.</p>\n", f);
        return 0;
    }
    static const float temps[3] = { 0.5f, 0.8f, 1.0f };
    fputs("<h3>Samples at three temperatures</h3>\n", f);
    for (int i = 0; i < 3; i++) {
        char *text = NULL;
        size_t n = 0;
        FILE *mem = open_memstream(&text, &n);
        if (!mem) return sd_error("out of memory");
        int rc = sd_app_lm_sample(model, &(sd_lm_sample_opts){ .len = len, .temperature = temps[i], .seed = 1 }, mem);
        fclose(mem);
        if (rc) { free(text); return -1; }
        fprintf(f, "<p>temperature %.1f</p><pre class=\"sample\">", temps[i]);
        esc(f, text ? text : "");
        fputs("</pre>\n", f);
        free(text);
    }
    return 0;
}

/* Colour of a share in [0, 1]: white to deep blue. */
static void heat(double v, int *r, int *g, int *b)
{
    v = v < 0 ? 0 : v > 1 ? 1 : sqrt(v);
    *r = (int)(255 - v * (255 - 30));
    *g = (int)(255 - v * (255 - 64));
    *b = (int)(255 - v * (255 - 175));
}

static int section_classifier(FILE *f, const sd_metlog_table *t, const char *model_path, int threads)
{
    const char *data = sd_metlog_config_get(t, "data"), *lt = sd_metlog_config_get(t, "limit-test");
    if (!file_exists(model_path)) {
        fputs("<p class=\"note\">The model file is not there: no confusion matrix.</p>\n", f);
        return 0;
    }
    sd_model *m = sd_model_load(model_path);
    sd_dataset test = { 0 };
    sd_data_info info = { 0 };
    sd_metrics mt = { 0 };
    sd_ctx *ctx = NULL;
    sd_graph *g = NULL;
    float *logits = NULL;
    int rc = -1;
    /* the test part of the data the model records (a folder's or a table's split too), as shendu eval reads it */
    if (!m || sd_data_load(sd_model_meta_get(m, "data") || !data || !*data ? NULL : data, &(sd_data_opts){ 0 }, 1,
                           threads, m, NULL, &test, &info)) goto done;
    int limit = lt ? atoi(lt) : 0;
    if (limit > 0 && limit < test.n) sd_dataset_truncate(&test, limit);
    const int C = sd_model_output_shape(m).d[0];
    if (C < test.nclass || C > 1000) { sd_error("%s: %d outputs for %d classes", model_path, C, test.nclass); goto done; }
    const char *sc = sd_model_meta_get(m, "input_scale"), *sh = sd_model_meta_get(m, "input_shift");
    if (!(logits = malloc((size_t)test.n * C * sizeof *logits))) { sd_error("out of memory"); goto done; }
    if (!(ctx = sd_ctx_new(&(sd_ctx_opts){ .threads = threads })) || !(g = sd_graph_new(ctx))) goto done;
    double acc, loss;
    if (sd_app_evaluate(g, m, &test, sc ? strtof(sc, NULL) : 1.0f / 255.0f, sh ? strtof(sh, NULL) : 0.0f, &acc, &loss,
                        logits) ||
        sd_metrics_compute(logits, test.labels, test.n, C, &mt)) goto done;
    const long *conf = mt.confusion;
    /* class names */
    char namebuf[1024] = "", *names[1000] = { 0 };
    const char *cn = sd_model_meta_get(m, "classes");
    if (cn) snprintf(namebuf, sizeof namebuf, "%s", cn);
    int nn = 0;
    for (char *p = cn ? namebuf : NULL; p && nn < C; nn++) {
        names[nn] = p;
        p = strchr(p, ',');
        if (p) *p++ = 0;
    }
    enum { NWRONG = 12 };
    int wrong[NWRONG], nw = 0;
    double wconf[NWRONG];
    for (int i = 0; i < test.n; i++) {
        const float *row = logits + (size_t)i * C;
        int best = 0;
        for (int j = 1; j < C; j++) if (row[j] > row[best]) best = j;
        if (best == test.labels[i]) continue;
        double z = 0;   /* softmax probability of the wrong answer */
        for (int j = 0; j < C; j++) z += exp((double)row[j] - row[best]);
        double p = 1.0 / z;
        int k;   /* keep the NWRONG most confident, in decreasing order */
        if (nw < NWRONG) k = nw++;
        else if (p > wconf[NWRONG - 1]) k = NWRONG - 1;
        else continue;
        for (; k > 0 && wconf[k - 1] < p; k--) { wconf[k] = wconf[k - 1]; wrong[k] = wrong[k - 1]; }
        wconf[k] = p;
        wrong[k] = i;
    }
    fprintf(f, "<h3>Confusion matrix (%d test examples, accuracy %.2f%%)</h3>\n", test.n, 100.0 * acc);
    const int cell = 36, left = 110, top = 100, K = test.nclass;
    fprintf(f, "<svg xmlns=\"http://www.w3.org/2000/svg\" class=\"confusion\" width=\"%d\" height=\"%d\" "
               "font-family=\"sans-serif\" font-size=\"11\">\n", left + K * cell + 10, top + K * cell + 30);
    fprintf(f, "<text x=\"%d\" y=\"14\" text-anchor=\"middle\">predicted</text>\n", left + K * cell / 2);
    fprintf(f, "<text x=\"12\" y=\"%d\" transform=\"rotate(-90 12 %d)\" text-anchor=\"middle\">true class</text>\n",
            top + K * cell / 2, top + K * cell / 2);
    for (int i = 0; i < K; i++) {
        char label[64];
        snprintf(label, sizeof label, "%s", names[i] && i < nn ? names[i] : "");
        if (!label[0]) snprintf(label, sizeof label, "%d", i);
        fprintf(f, "<text x=\"%d\" y=\"%d\" text-anchor=\"end\">", left - 4, top + i * cell + cell / 2 + 4);
        esc(f, label);
        fprintf(f, "</text>\n<text x=\"%d\" y=\"%d\" transform=\"rotate(-45 %d %d)\">", left + i * cell + cell / 2,
                top - 6, left + i * cell + cell / 2, top - 6);
        esc(f, label);
        fputs("</text>\n", f);
        long row = 0;
        for (int j = 0; j < K; j++) row += conf[(size_t)i * C + j];
        for (int j = 0; j < K; j++) {
            long v = conf[(size_t)i * C + j];
            int r, gg, b;
            heat(row ? (double)v / row : 0, &r, &gg, &b);
            fprintf(f, "<rect x=\"%d\" y=\"%d\" width=\"%d\" height=\"%d\" fill=\"rgb(%d,%d,%d)\" stroke=\"#e5e7eb\"/>"
                       "<text x=\"%d\" y=\"%d\" text-anchor=\"middle\" fill=\"%s\">%ld</text>\n",
                    left + j * cell, top + i * cell, cell, cell, r, gg, b, left + j * cell + cell / 2,
                    top + i * cell + cell / 2 + 4, row && (double)v / row > 0.45 ? "#fff" : "#111", v);
        }
    }
    fputs("</svg>\n<h3>Accuracy per class</h3>\n<table class=\"kv\"><tr><th>class</th><th>examples</th>"
          "<th>accuracy (recall)</th><th>precision</th><th>F1</th></tr>\n", f);
    for (int i = 0; i < K; i++) {
        fputs("<tr><td>", f);
        if (names[i] && i < nn) esc(f, names[i]);
        else fprintf(f, "%d", i);
        fprintf(f, "</td><td>%d</td>", mt.support[i]);
        const double v[3] = { mt.recall[i], mt.precision[i], mt.f1[i] };
        for (int k = 0; k < 3; k++)
            if (isnan(v[k])) fputs("<td>–</td>", f);
            else fprintf(f, "<td>%.1f%%</td>", 100.0 * v[k]);
        fputs("</tr>\n", f);
    }
    fprintf(f, "</table>\n<p>macro F1 %.3f</p>\n", mt.macro_f1);
    if (nw > 0 && test.images && test.c == 1) {   /* pictures (a table has none to show) */
        fprintf(f, "<h3>The %d most confidently wrong test pictures</h3>\n<div class=\"grid\">\n", nw);
        sd_image im;
        if (sd_image_alloc(&im, test.w * 3, test.h * 3, 1, 0)) goto done;
        for (int k = 0; k < nw; k++) {
            const uint8_t *px = test.images + (size_t)wrong[k] * test.h * test.w;
            for (int y = 0; y < im.h; y++)
                for (int x = 0; x < im.w; x++) im.px[(size_t)y * im.w + x] = px[(y / 3) * test.w + x / 3];
            const float *row = logits + (size_t)wrong[k] * C;
            int best = 0;
            for (int j = 1; j < C; j++) if (row[j] > row[best]) best = j;
            char cap[200];
            snprintf(cap, sizeof cap, "#%d: %s (%.0f%%), is %s", wrong[k], names[best] && best < nn ? names[best] : "?",
                     100.0 * wconf[k], names[test.labels[wrong[k]]] && test.labels[wrong[k]] < nn ? names[test.labels[wrong[k]]] : "?");
            fputs("<figure>", f);
            if (img_pixels(f, &im, cap, 0)) { sd_image_free(&im); goto done; }
            fputs("<figcaption>", f);
            esc(f, cap);
            fputs("</figcaption></figure>\n", f);
        }
        sd_image_free(&im);
        fputs("</div>\n", f);
    }
    rc = 0;
done:
    sd_metrics_free(&mt);
    free(logits);
    sd_graph_free(g);
    sd_ctx_free(ctx);
    sd_dataset_free(&test);
    sd_data_info_free(&info);
    sd_model_free(m);
    return rc;
}

/* A grid world's learned values and greedy policy drawn on its map: each
 * cell coloured by max_a Q(s,a) (white to blue over the decided cells'
 * range) with its value, an arrow for argmax_a Q(s,a); holes, cliffs, the
 * start and the goal marked. The Q-table is the run's --out (sd_qtable_save). */
static int section_qtable(FILE *f, const char *path)
{
    if (!file_exists(path)) {
        fputs("<p class=\"note\">The run wrote no Q-table (rl qlearn --out): no map.</p>\n", f);
        return 0;
    }
    char name[64];
    int slippery, S, A, policy[SD_RL_MAX_STATES];
    double Q[SD_RL_MAX_STATES * 8], v[SD_RL_MAX_STATES];
    if (sd_qtable_load(path, name, sizeof name, &slippery, Q, SD_RL_MAX_STATES * 8, &S, &A)) return -1;
    sd_env *env = sd_env_new(name, &(sd_env_opts){ .slippery = slippery });
    if (!env) return sd_error_prefix("%s", path);
    const sd_env_info *in = sd_env_get_info(env);
    if (!in->grid || in->n_states != S || in->n_actions != A || in->grid_rows * in->grid_cols != S) {
        sd_env_free(env);
        return sd_error("%s: a %d x %d Q-table does not fit %s's map", path, S, A, name);
    }
    sd_q_greedy(Q, S, A, policy);
    double lo = INFINITY, hi = -INFINITY;
    for (int s = 0; s < S; s++) {
        v[s] = Q[(size_t)s * A];
        for (int a = 1; a < A; a++) v[s] = fmax(v[s], Q[(size_t)s * A + a]);
        char t = in->grid[s / in->grid_cols][s % in->grid_cols];
        if (t != 'H' && t != 'C' && t != 'G') lo = fmin(lo, v[s]), hi = fmax(hi, v[s]);
    }
    const int cell = in->grid_cols > 8 ? 48 : 64, W = in->grid_cols * cell, H = in->grid_rows * cell;
    fprintf(f, "<h3>Learned values and greedy policy on the map</h3>\n<p>%s%s: each cell's colour and number are "
               "max<sub>a</sub> Q(s,a) (%.3g to %.3g), the arrow is argmax<sub>a</sub> Q(s,a).</p>\n",
            in->gym_id, slippery < 0 ? " (not slippery)" : "", lo, hi);
    fprintf(f, "<svg xmlns=\"http://www.w3.org/2000/svg\" class=\"qmap\" width=\"%d\" height=\"%d\" "
               "font-family=\"sans-serif\" font-size=\"%d\">\n", W + 2, H + 2, cell / 5);
    static const char *const dirs[4][2] = { { "Left", "-1 0" }, { "Down", "0 1" }, { "Right", "1 0" }, { "Up", "0 -1" } };
    for (int s = 0; s < S; s++) {
        const int x = 1 + (s % in->grid_cols) * cell, y = 1 + (s / in->grid_cols) * cell;
        const char t = in->grid[s / in->grid_cols][s % in->grid_cols];
        int r = 55, g = 65, b = 81;   /* a hole or the cliff */
        if (t == 'G') r = 22, g = 163, b = 74;
        else if (t != 'H' && t != 'C') heat(hi > lo ? (v[s] - lo) / (hi - lo) : 0, &r, &g, &b);
        fprintf(f, "<rect class=\"cell\" data-state=\"%d\" data-tile=\"%c\" x=\"%d\" y=\"%d\" width=\"%d\" height=\"%d\" "
                   "fill=\"rgb(%d,%d,%d)\" stroke=\"#9ca3af\"/>\n", s, t, x, y, cell, cell, r, g, b);
        if (t == 'H' || t == 'C' || t == 'G') {
            fprintf(f, "<text x=\"%d\" y=\"%d\" text-anchor=\"middle\" fill=\"#fff\" font-size=\"%d\">%s</text>\n",
                    x + cell / 2, y + cell / 2 + cell / 8, cell / 3, t == 'G' ? "goal" : t == 'H' ? "hole" : "cliff");
            continue;
        }
        const char *ink = hi > lo && (v[s] - lo) / (hi - lo) > 0.45 ? "#fff" : "#111";
        fprintf(f, "<text x=\"%d\" y=\"%d\" fill=\"%s\">%s%.2f</text>\n", x + 3, y + cell - 4, ink,
                t == 'S' ? "S " : "", v[s]);
        const char *act = in->action_names[policy[s]];
        int dx = 0, dy = 0;
        for (int k = 0; k < 4; k++)
            if (!strcmp(act, dirs[k][0])) sscanf(dirs[k][1], "%d %d", &dx, &dy);
        const int cx = x + cell / 2, cy = y + cell / 2 - cell / 10, L = cell / 4, hw = cell / 9;
        /* a shaft and a head pointing (dx, dy) */
        fprintf(f, "<g class=\"arrow\" data-action=\"%s\" stroke=\"%s\" fill=\"%s\" stroke-width=\"%d\">"
                   "<line x1=\"%d\" y1=\"%d\" x2=\"%d\" y2=\"%d\"/><polygon points=\"%d,%d %d,%d %d,%d\"/></g>\n",
                act, ink, ink, cell / 20 + 1, cx - dx * L, cy - dy * L, cx + dx * (L - hw), cy + dy * (L - hw),
                cx + dx * L, cy + dy * L, cx + dx * (L - hw) - dy * hw, cy + dy * (L - hw) + dx * hw,
                cx + dx * (L - hw) + dy * hw, cy + dy * (L - hw) - dx * hw);
    }
    fputs("</svg>\n", f);
    sd_env_free(env);
    return 0;
}

/* ---- The page */

static const char *style =
    "body{font-family:DejaVu Sans,Helvetica,Arial,sans-serif;max-width:1100px;margin:2em auto;padding:0 1em;color:#1f2937}"
    "h1{font-size:1.6em}h2{border-bottom:1px solid #d1d5db;padding-bottom:.2em;margin-top:2em}"
    "table{border-collapse:collapse;margin:.5em 0}td,th{border:1px solid #e5e7eb;padding:.2em .6em;text-align:left}"
    "th{background:#f3f4f6}.note{color:#6b7280}.grid{display:flex;flex-wrap:wrap;gap:12px}"
    "figure{margin:0;text-align:center}figcaption{font-size:.85em;color:#4b5563}"
    "pre.sample{background:#f9fafb;border:1px solid #e5e7eb;padding:.6em;white-space:pre-wrap}"
    "svg{max-width:100%;height:auto}";

int sd_app_report(const sd_report_opts *o, FILE *log)
{
    if (o->nruns < 1 || o->nruns > SD_REPORT_MAX_RUNS) return sd_error("1 to %d runs", SD_REPORT_MAX_RUNS);
    sd_metlog_table t[SD_REPORT_MAX_RUNS];
    int loaded = 0, rc = -1;
    char *svg = NULL, *body = NULL;
    size_t blen = 0;
    FILE *f = NULL;
    for (; loaded < o->nruns; loaded++)
        if (sd_metlog_read(o->runs[loaded], &t[loaded])) goto done;
    if (!(f = open_memstream(&body, &blen))) { sd_error("out of memory"); goto done; }
    fputs("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\n<title>", f);
    esc(f, o->title ? o->title : "shendu training report");
    fprintf(f, "</title>\n<style>%s</style></head><body>\n<h1>", style);
    esc(f, o->title ? o->title : "shendu training report");
    fputs("</h1>\n<p class=\"note\">Made by <code>shendu report</code> from ", f);
    for (int i = 0; i < o->nruns; i++) {
        fputs(i ? ", <code>" : "<code>", f);
        esc(f, o->runs[i]);
        fputs("</code>", f);
    }
    fputs(".</p>\n", f);
    if (o->nruns > 1) {   /* the comparison: each run's final figures side by side */
        fputs("<h2>Runs compared</h2>\n<table><tr><th>run</th><th>command</th><th>steps</th><th>final measures</th></tr>\n", f);
        for (int i = 0; i < o->nruns; i++) {
            fputs("<tr><td>", f);
            esc(f, o->labels[i]);
            fputs("</td><td>", f);
            esc(f, sd_metlog_config_get(&t[i], "cmd") ? sd_metlog_config_get(&t[i], "cmd") : "?");
            double steps = t[i].nrow ? t[i].v[(size_t)(t[i].nrow - 1) * t[i].ncol + 1] : NAN;
            fprintf(f, "</td><td>%.0f</td><td>", steps);
            for (int c = 4; c < t[i].ncol; c++) {
                int ep;
                double v = final_value(&t[i], c, &ep);
                if (!ep || !isfinite(v)) continue;
                esc(f, t[i].names[c]);
                fprintf(f, " %.4g; ", v);
            }
            fputs("</td></tr>\n", f);
        }
        fputs("</table>\n", f);
    }
    fputs("<h2>Curves</h2>\n", f);
    if (!(svg = sd_plot_svg(t, o->labels, o->nruns, &(sd_plot_opts){ .smooth = 0.6, .log_y = 1 }))) goto done;
    fputs(svg, f);
    for (int i = 0; i < o->nruns; i++) {
        const char *cmd = sd_metlog_config_get(&t[i], "cmd"), *out = sd_metlog_config_get(&t[i], "out");
        fputs("<h2>", f);
        esc(f, o->labels[i]);
        fputs("</h2>\n<h3>Configuration</h3>\n", f);
        section_config(f, &t[i]);
        fputs("<h3>Final measures</h3>\n", f);
        section_measures(f, &t[i]);
        if (!cmd || o->no_extras) continue;
        if (!strcmp(cmd, "gan") && section_gan(f, out && *out ? out : "gan-out")) goto done;
        if (!strcmp(cmd, "diffusion") && section_gan(f, out && *out ? out : "diffusion-out")) goto done;
        if (!strcmp(cmd, "lm train") && section_lm(f, out, o->sample_len > 0 ? o->sample_len : 300)) goto done;
        if (!strcmp(cmd, "train") && section_classifier(f, &t[i], out, o->threads)) goto done;
        if (!strcmp(cmd, "rl dqn") || !strcmp(cmd, "rl qlearn")) {
            const int tab = !strcmp(cmd, "rl qlearn");
            fputs(tab ? "<h3>Return (the mean of each record's episodes; FrozenLake: the success rate)</h3>\n"
                      : "<h3>Return per episode</h3>\n", f);
            free(svg);
            static const char *const ms[] = { "return", "avg_return", "eval_return", NULL };
            static const char *const qs[] = { "return", "epsilon", "lr", NULL };
            if (!(svg = sd_plot_svg(&t[i], &o->labels[i], 1, &(sd_plot_opts){ .measures = tab ? qs : ms }))) goto done;
            fputs(svg, f);
            if (tab && section_qtable(f, out)) goto done;
        }
    }
    fputs("</body></html>\n", f);
    if (fclose(f)) { f = NULL; sd_error("out of memory"); goto done; }
    f = NULL;
    if (sd_write_atomic(o->out, &(sd_chunk){ body, blen }, 1)) goto done;
    if (log) fprintf(log, "wrote %s (%zu bytes, %d run%s)\n", o->out, blen, o->nruns, o->nruns == 1 ? "" : "s");
    rc = 0;
done:
    if (f) fclose(f);
    free(body);
    free(svg);
    for (int i = 0; i < loaded; i++) sd_metlog_table_free(&t[i]);
    return rc;
}
