/* shendu predict for models trained on picture folders or tables: pictures
 * (files, or folders searched for .png/.jpg/.jpeg) fitted into the model's
 * input as its training data was, or the rows of a CSV table standardised
 * with the model's statistics; one row per input in a CSV file (path or row,
 * top class, the probability of each class), and the pictures as the model
 * saw them (--show-input). */
#define _POSIX_C_SOURCE 200809L
#include "apps.h"
#include "io/json.h"

#include <dirent.h>
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

typedef struct plist { char **v; int n, cap; } plist;

static int plist_add(plist *l, const char *s)
{
    if (l->n == l->cap) {
        int cap = l->cap ? 2 * l->cap : 64;
        char **v = realloc(l->v, (size_t)cap * sizeof *v);
        if (!v) return sd_error("out of memory");
        l->v = v;
        l->cap = cap;
    }
    if (!(l->v[l->n] = strdup(s))) return sd_error("out of memory");
    l->n++;
    return 0;
}

static int cmp_str(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

static int is_picture(const char *n)
{
    const char *dot = strrchr(n, '.');
    return dot && (!strcasecmp(dot, ".png") || !strcasecmp(dot, ".jpg") || !strcasecmp(dot, ".jpeg"));
}

/* The pictures under dir (sub-folders too), sorted. */
static int walk(const char *dir, plist *l, int depth)
{
    if (depth > 16) return sd_error("%s: folders nested too deep", dir);
    DIR *d = opendir(dir);
    if (!d) return sd_error("%s: %s", dir, strerror(errno));
    plist here = { 0 };
    struct dirent *e;
    int rc = 0;
    while (!rc && (e = readdir(d))) {
        if (e->d_name[0] == '.') continue;
        char p[4200];
        snprintf(p, sizeof p, "%s/%s", dir, e->d_name);
        rc = plist_add(&here, p);
    }
    closedir(d);
    if (here.n > 1) qsort(here.v, (size_t)here.n, sizeof *here.v, cmp_str);
    for (int i = 0; i < here.n && !rc; i++) {
        struct stat st;
        if (stat(here.v[i], &st)) continue;
        if (S_ISDIR(st.st_mode)) rc = walk(here.v[i], l, depth + 1);
        else if (S_ISREG(st.st_mode) && is_picture(here.v[i])) rc = plist_add(l, here.v[i]);
    }
    for (int i = 0; i < here.n; i++) free(here.v[i]);
    free(here.v);
    return rc;
}

static void csv_field(FILE *f, const char *s)
{
    if (!strpbrk(s, ",\"\n\r;")) { fputs(s, f); return; }
    fputc('"', f);
    for (; *s; s++) {
        if (*s == '"') fputc('"', f);
        fputc(*s, f);
    }
    fputc('"', f);
}

static int class_list(const sd_model *m, int C, char ***names)
{
    *names = calloc((size_t)C, sizeof **names);
    if (!*names) return sd_error("out of memory");
    const char *s = sd_model_meta_get(m, "classes");
    for (int k = 0; k < C; k++) {
        char buf[256];
        size_t n = 0;
        if (s) {
            n = strcspn(s, ",");
            if (n >= sizeof buf) n = sizeof buf - 1;
            memcpy(buf, s, n);
            s = s[strcspn(s, ",")] ? s + strcspn(s, ",") + 1 : NULL;
        } else {
            n = (size_t)snprintf(buf, sizeof buf, "%d", k);
        }
        buf[n] = 0;
        if (!((*names)[k] = strdup(buf))) return sd_error("out of memory");
    }
    return 0;
}

/* "WHAT[ line N]: CLASS (P%)" on a terminal: paths and class names come from
 * files, so their control bytes are escaped. */
static void say(FILE *f, const char *what, int line, const char *name, double p)
{
    sd_app_text(f, what);
    if (line > 0) fprintf(f, " line %d", line);
    fputs(": ", f);
    sd_app_text(f, name);
    fprintf(f, " (%.1f%%)\n", 100.0 * p);
}

/* The most likely class, or -1 with a message when the model's scores are not
 * finite numbers (no NaN is ever printed as a prediction). */
static int argmax(const float *p, int C, const char *model, const char *what)
{
    int best = 0;
    for (int k = 0; k < C; k++) {
        if (!isfinite(p[k])) return sd_error("%s gives non-finite class scores for %s", model, what);
        if (p[k] > p[best]) best = k;
    }
    return best;
}

/* One JSON object on a line: {"image":PATH,"top":[...]} or {"table":PATH,"line":N,"top":[...]},
 * the `top` most likely classes (name, index, probability), most likely first. */
static void json_line(FILE *f, const char *key, const char *what, int line, const float *p, int C, char **names, int top)
{
    int order[SD_MAX_CLASSES];
    const int n = C < SD_MAX_CLASSES ? C : SD_MAX_CLASSES;
    if (top < 1 || top > n) top = n;
    for (int k = 0; k < n; k++) order[k] = k;
    for (int a = 0; a < top; a++)   /* partial selection sort: the top ones, ties by index */
        for (int b = a + 1; b < n; b++)
            if (p[order[b]] > p[order[a]]) { int t = order[a]; order[a] = order[b]; order[b] = t; }
    fprintf(f, "{\"%s\":", key);
    sd_json_write_str(f, what);   /* paths and class names come from users and files: escaped */
    if (line > 0) fprintf(f, ",\"line\":%d", line);
    fputs(",\"top\":[", f);
    for (int a = 0; a < top; a++) {
        fprintf(f, "%s{\"class\":", a ? "," : "");
        sd_json_write_str(f, names[order[a]]);
        fprintf(f, ",\"index\":%d,\"p\":%.6f}", order[a], p[order[a]]);
    }
    fputs("]}\n", f);
}

static int argmax_line(FILE *f, const char *what, const float *p, int C, char **names, FILE *csv, const char *model,
                       int json, int top)
{
    int best = argmax(p, C, model, what);
    if (best < 0) return -1;
    if (f && json) json_line(f, "image", what, 0, p, C, names, top);
    else if (f) say(f, what, 0, names[best], p[best]);
    if (csv) {
        csv_field(csv, what);
        fputc(',', csv);
        csv_field(csv, names[best]);
        for (int k = 0; k < C; k++) fprintf(csv, ",%.6f", p[k]);
        fputc('\n', csv);
    }
    return 0;
}

/* The CSV output is made in memory and written at the end by sd_write_atomic,
 * as every output is (a device or FIFO written through, a symlink followed). */
typedef struct csv_out { FILE *f; char *text; size_t n; } csv_out;

static FILE *open_out(const char *path, csv_out *c)
{
    if (!(c->f = open_memstream(&c->text, &c->n))) sd_error("%s: out of memory", path);
    return c->f;
}

static int close_out(csv_out *c, const char *path, int ok)
{
    int bad = ferror(c->f) | (fclose(c->f) != 0);
    c->f = NULL;
    if (ok && bad) sd_error("%s: out of memory", path);
    if (ok && !bad && sd_write_atomic(path, &(sd_chunk){ c->text, c->n }, 1)) bad = 1;
    free(c->text);
    c->text = NULL;
    return ok && !bad ? 0 : -1;
}

int sd_app_predict_data(const sd_predict_opts *o, FILE *f)
{
    {   /* before any work: no output is the model or an input, and every output can be written */
        sd_path_use *uses = malloc(((size_t)o->ninputs + 3) * sizeof *uses);
        if (!uses) return sd_error("out of memory");
        int n = 0;
        uses[n++] = (sd_path_use){ o->model, SD_PATH_INPUT, "the model" };
        for (int a = 0; a < o->ninputs; a++) uses[n++] = (sd_path_use){ o->inputs[a], SD_PATH_INPUT, "an input" };
        uses[n++] = (sd_path_use){ o->csv, SD_PATH_OUTPUT, "--csv" };
        uses[n++] = (sd_path_use){ o->show_input, SD_PATH_OUTPUT_DIR, "--show-input" };
        int bad = sd_paths_check(uses, n);
        free(uses);
        if (bad) return -1;
    }
    if (sd_file_expect_kind(o->model, SD_KINDS_CLASSIFIER, "a classifier")) return -1;
    sd_model *m = sd_model_load_with(o->model, o->max_memory);
    if (!m) return -1;
    sd_ctx *ctx = NULL;
    sd_graph *g = NULL;
    char **names = NULL;
    plist files = { 0 };
    FILE *csv = NULL, *info = o->json ? stderr : f;   /* with --json, stdout holds JSON lines only */
    csv_out cout = { 0 };
    float *x = NULL;
    int rc = -1, C = 0;
    sd_shape in = sd_model_input_shape(m), out = sd_model_output_shape(m);
    if (sd_app_check_not_generator(m, o->model)) goto done;
    float scale, shift;   /* also: the class names fit the outputs */
    if (sd_app_classifier_inputs(m, o->model, &scale, &shift)) goto done;
    if (sd_model_check_memory(m, 1, 0, o->max_memory)) { sd_error_prefix("%s", o->model); goto done; }
    C = out.d[0];
    if (class_list(m, C, &names)) goto done;
    if (!(ctx = sd_ctx_new(&(sd_ctx_opts){ .threads = o->threads })) || !(g = sd_graph_new(ctx))) goto done;
    sd_graph_set_grad(g, 0);
    sd_model_set_training(m, 0);
    const char *kind = sd_model_meta_get(m, "data_kind");
    if (kind && !strcmp(kind, "table")) {
        /* each CSV given: its rows, with the model's target column optional */
        if (o->show_input) { sd_error("--show-input is for pictures; %s was trained on a table", o->model); goto done; }
        if (o->csv && !(csv = open_out(o->csv, &cout))) goto done;
        for (int a = 0; a < o->ninputs; a++) {
            sd_table t;
            sd_dataset rows;
            if (sd_table_load_csv(o->inputs[a], &t)) goto done;
            if (sd_data_table_rows(&t, m, &rows)) { sd_table_free(&t); goto done; }
            if (csv && a == 0) {   /* the first table's columns, then the prediction */
                for (int c = 0; c < t.cols; c++) { csv_field(csv, sd_table_header(&t, c)); fputc(',', csv); }
                fprintf(csv, "predicted");
                for (int k = 0; k < C; k++) { fputs(",p(", csv); csv_field(csv, names[k]); fputc(')', csv); }
                fputc('\n', csv);
            }
            for (int i = 0; i < rows.n; i++) {
                sd_graph_reset(g);
                sd_tensor *p = sd_softmax(g, sd_model_forward(g, m, sd_input(g, rows.x + (size_t)i * rows.w,
                                                                              SD_SHAPE(1, 1, 1, rows.w))));
                if (!p) { sd_dataset_free(&rows); sd_table_free(&t); goto done; }
                int best = argmax(p->data, C, o->model, o->inputs[a]);
                if (best < 0) { sd_dataset_free(&rows); sd_table_free(&t); goto done; }
                if (csv) {
                    for (int c = 0; c < t.cols; c++) { csv_field(csv, sd_table_cell(&t, i, c)); fputc(',', csv); }
                    csv_field(csv, names[best]);
                    for (int k = 0; k < C; k++) fprintf(csv, ",%.6f", p->data[k]);
                    fputc('\n', csv);
                }
                if (o->json) json_line(f, "table", o->inputs[a], t.line[i + 1], p->data, C, names, o->top);
                else if (!csv) say(f, o->inputs[a], t.line[i + 1], names[best], p->data[best]);
            }
            if (csv) fprintf(info, "%s: %d rows predicted\n", o->inputs[a], rows.n);
            sd_dataset_free(&rows);
            sd_table_free(&t);
        }
    } else {
        if (in.ndim != 3 || (in.d[0] != 1 && in.d[0] != 3)) { sd_error("%s: not a picture classifier", o->model); goto done; }
        for (int a = 0; a < o->ninputs; a++) {
            struct stat st;
            if (stat(o->inputs[a], &st)) { sd_error("%s: %s", o->inputs[a], strerror(errno)); goto done; }
            if (S_ISDIR(st.st_mode) ? walk(o->inputs[a], &files, 0) : plist_add(&files, o->inputs[a])) goto done;
        }
        if (!files.n) { sd_error("no pictures (.png, .jpg, .jpeg) among the inputs"); goto done; }
        if (o->show_input && mkdir(o->show_input, 0777) && errno != EEXIST) {
            sd_error("%s: %s", o->show_input, strerror(errno));
            goto done;
        }
        const int c = in.d[0], h = in.d[1], w = in.d[2];
        int fit = SD_FIT_MODE_PAD;
        const char *rs = sd_model_meta_get(m, "resize");
        if (rs && !strcmp(rs, "crop")) fit = SD_FIT_MODE_CROP;
        if (rs && !strcmp(rs, "stretch")) fit = SD_FIT_MODE_STRETCH;
        uint8_t *px = malloc((size_t)c * h * w);
        x = malloc((size_t)c * h * w * sizeof *x);
        if (!px || !x) { free(px); sd_error("out of memory"); goto done; }
        if (o->csv && !(csv = open_out(o->csv, &cout))) { free(px); goto done; }
        if (csv) {
            fprintf(csv, "path,predicted");
            for (int k = 0; k < C; k++) { fputc(',', csv); csv_field(csv, names[k]); }
            fputc('\n', csv);
        }
        for (int i = 0; i < files.n; i++) {
            sd_image im;
            if (sd_image_load_any(files.v[i], &im)) { free(px); goto done; }
            int bad = sd_image_fit_planar(&im, w, h, c, (sd_fit_mode)fit, 255, px);
            sd_image_free(&im);
            if (bad) { free(px); sd_error_prefix("%s", files.v[i]); goto done; }
            for (size_t k = 0; k < (size_t)c * h * w; k++) x[k] = px[k] * scale + shift;
            if (o->show_input) {   /* the picture as the model sees it */
                sd_image seen;
                const char *base = strrchr(files.v[i], '/');
                char p[4400];
                snprintf(p, sizeof p, "%s/%05d_%s.png", o->show_input, i, base ? base + 1 : files.v[i]);
                if (sd_image_alloc(&seen, w, h, c, 0)) { free(px); goto done; }
                for (int ch = 0; ch < c; ch++)
                    for (int k = 0; k < h * w; k++) seen.px[(size_t)k * c + ch] = px[(size_t)ch * h * w + k];
                int wr = sd_image_save_png(p, &seen);
                sd_image_free(&seen);
                if (wr) { free(px); goto done; }
            }
            sd_graph_reset(g);
            sd_tensor *p = sd_softmax(g, sd_model_forward(g, m, sd_input(g, x, SD_SHAPE(1, c, h, w))));
            if (!p) { free(px); goto done; }
            if (argmax_line(csv && !o->json ? NULL : f, files.v[i], p->data, C, names, csv, o->model, o->json, o->top)) { free(px); goto done; }
        }
        free(px);
        if (csv) fprintf(info, "%d pictures predicted\n", files.n);
        if (o->show_input) fprintf(info, "the pictures as the model saw them (%dx%d, %s): %s\n", w, h,
                                   c == 1 ? "gray" : "colour", o->show_input);
    }
    rc = 0;
done:
    if (csv) {
        if (close_out(&cout, o->csv, rc == 0)) rc = -1;
        else if (!rc) fprintf(info, "wrote %s\n", o->csv);
    }
    for (int i = 0; i < files.n; i++) free(files.v[i]);
    free(files.v);
    for (int k = 0; names && k < C; k++) free(names[k]);
    free(names);
    free(x);
    sd_graph_free(g);
    sd_ctx_free(ctx);
    sd_model_free(m);
    return rc;
}
