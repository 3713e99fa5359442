/* Pictures in and out: `shendu predict`, `shendu show` and
 * `shendu explain conv --image`. */
#define _POSIX_C_SOURCE 200809L
#include "apps.h"
#include "io/json.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

/* ---- Class names from the model's "classes" metadata ("a,b,c"). */
static void class_name(const sd_model *m, int k, char *buf, size_t size)
{
    const char *s = sd_model_meta_get(m, "classes");
    for (int i = 0; s && i < k; i++) {
        s = strchr(s, ',');
        if (s) s++;
    }
    if (!s) { snprintf(buf, size, "class %d", k); return; }
    size_t n = strcspn(s, ",");
    if (n >= size) n = size - 1;
    memcpy(buf, s, n);
    buf[n] = 0;
}

/* A classifier of c×h×w pictures (predict: 1×28×28, what sd_image_to_mnist makes;
 * show: the test set's size), and how it prepares them. */
static int check_image_model(const sd_model *m, const char *path, int c, int h, int w, const char *what,
                             float *scale, float *shift)
{
    sd_shape in = sd_model_input_shape(m);
    char s[64];
    if (sd_app_check_not_generator(m, path)) return -1;   /* a GAN's generator (src/apps/gan.c) */
    if (in.ndim != 3 || in.d[0] != c || in.d[1] != h || in.d[2] != w)
        return sd_error("%s: the model takes inputs of shape %s, but %s %dx%dx%d (channels x height x width)", path,
                        sd_shape_str(in, s, sizeof s), what, c, h, w);
    return sd_app_classifier_inputs(m, path, scale, shift);
}

int sd_app_predict(const char *model_path, char **images, int nimages, int topk, int json, FILE *f,
                   uint64_t max_memory)
{
    if (sd_file_expect_kind(model_path, SD_KINDS_CLASSIFIER, "an image classifier")) return -1;
    sd_model *m = sd_model_load_with(model_path, max_memory);
    if (!m) return -1;
    sd_ctx *ctx = NULL;
    sd_graph *g = NULL;
    int rc = -1;
    float scale, shift;
    if (check_image_model(m, model_path, 1, 28, 28, "predict prepares pictures as", &scale, &shift)) goto done;
    if (sd_model_check_memory(m, 1, 0, max_memory)) { sd_error_prefix("%s", model_path); goto done; }
    if (!(ctx = sd_ctx_new(&(sd_ctx_opts){ .threads = 1 })) || !(g = sd_graph_new(ctx))) goto done;
    sd_graph_set_grad(g, 0);
    const int C = sd_model_output_shape(m).d[0];
    if (topk > C) topk = C;
    for (int i = 0; i < nimages; i++) {
        sd_image im;
        float x[784];
        int inverted = 0;
        if (sd_image_load_png(images[i], &im)) goto done;
        int r = sd_image_to_mnist(&im, NULL, x, &inverted);
        sd_image_free(&im);
        if (r) { sd_error_prefix("%s", images[i]); goto done; }
        for (int k = 0; k < 784; k++) x[k] = x[k] * 255.0f * scale + shift;   /* as the training data */
        sd_graph_reset(g);
        sd_tensor *p = sd_softmax(g, sd_model_forward(g, m, sd_input(g, x, SD_SHAPE(1, 1, 28, 28))));
        if (!p) goto done;
        int order[SD_MAX_CLASSES];
        for (int k = 0; k < C && k < SD_MAX_CLASSES; k++) order[k] = k;
        for (int a = 0; a < topk; a++)          /* partial selection sort: top k */
            for (int b = a + 1; b < C && b < SD_MAX_CLASSES; b++)
                if (p->data[order[b]] > p->data[order[a]]) { int t = order[a]; order[a] = order[b]; order[b] = t; }
        char name[128];
        for (int a = 0; a < topk; a++)   /* the model's outputs: finite, or no answer */
            if (!isfinite(p->data[order[a]])) {
                sd_error("%s: %s gives non-finite class scores for %s", model_path, model_path, images[i]);
                goto done;
            }
        if (json) {   /* names and paths come from files and users: escaped */
            fprintf(f, "{\"image\":");
            sd_json_write_str(f, images[i]);
            fprintf(f, ",\"inverted\":%s,\"top\":[", inverted ? "true" : "false");
            for (int a = 0; a < topk; a++) {
                class_name(m, order[a], name, sizeof name);
                fprintf(f, "%s{\"class\":", a ? "," : "");
                sd_json_write_str(f, name);
                fprintf(f, ",\"index\":%d,\"p\":%.4f}", order[a], p->data[order[a]]);
            }
            fprintf(f, "]}\n");
        } else {
            sd_app_text(f, images[i]);
            fprintf(f, "%s\n", inverted ? "  (dark on light: inverted to match the training data)" : "");
            for (int a = 0; a < topk; a++) {
                class_name(m, order[a], name, sizeof name);
                fprintf(f, "  %d. ", a + 1);
                sd_app_text(f, name);
                size_t len = strlen(name);
                fprintf(f, "%*s %5.1f%%\n", len < 14 ? (int)(14 - len) : 0, "", 100.0 * p->data[order[a]]);
            }
        }
    }
    rc = 0;
done:
    sd_graph_free(g);
    sd_ctx_free(ctx);
    sd_model_free(m);
    return rc;
}

/* ---- shendu show: kernels and feature maps as PNG files. */

static int make_dir(const char *dir)
{
    if (mkdir(dir, 0777) && errno != EEXIST) return sd_error("%s: cannot create directory: %s", dir, strerror(errno));
    return 0;
}

/* n float maps of h×w, one grid, each map scaled to its own range; every pixel
 * enlarged `zoom` times. */
static int save_grid(const char *path, const float *maps, int n, int h, int w, int zoom, int per_map_range)
{
    float *tmp = NULL;
    if (per_map_range) {
        tmp = malloc((size_t)n * h * w * sizeof *tmp);
        if (!tmp) return sd_error("out of memory");
        for (int i = 0; i < n; i++) {
            const float *src = maps + (size_t)i * h * w;
            float lo = src[0], hi = src[0];
            for (int k = 1; k < h * w; k++) { lo = fminf(lo, src[k]); hi = fmaxf(hi, src[k]); }
            for (int k = 0; k < h * w; k++) tmp[(size_t)i * h * w + k] = hi > lo ? (src[k] - lo) / (hi - lo) : 0.5f;
        }
        maps = tmp;
    }
    sd_image grid = { 0 }, big = { 0 };
    int rc = sd_image_grid(maps, n, 1, h, w, 0, 1, per_map_range ? 0.0f : 0.0f, per_map_range ? 1.0f : 0.0f, &grid);
    if (!rc) rc = sd_image_scale_nearest(&grid, zoom, &big);
    if (!rc) rc = sd_image_save_png(path, &big);
    sd_image_free(&grid);
    sd_image_free(&big);
    free(tmp);
    return rc;
}

int sd_app_show(const char *model_path, const char *data_dir, int index, const char *out_dir, FILE *f,
                uint64_t max_memory)
{
    if (sd_file_expect_kind(model_path, SD_KINDS_CLASSIFIER, "an image classifier")) return -1;
    const sd_path_use uses[] = { { model_path, SD_PATH_INPUT, "the model" }, { out_dir, SD_PATH_OUTPUT_DIR, "--out" } };
    if (sd_app_check_paths(data_dir ? data_dir : sd_data_default_dir(), uses, 2)) return -1;
    sd_model *m = sd_model_load_with(model_path, max_memory);
    if (!m) return -1;
    sd_dataset test = { 0 };
    sd_ctx *ctx = NULL;
    sd_graph *g = NULL;
    int rc = -1;
    char path[4096], what[4200];
    float scale, shift, *x = NULL;
    const char *dir;
    sd_data_info info;   /* without --data: the data set the model records */
    if (sd_data_load(data_dir, &(sd_data_opts){ 0 }, 1, 1, m, NULL, &test, &info)) goto done;
    sd_data_warn_mismatch(f, m, &info, data_dir);
    dir = data_dir ? data_dir : sd_model_meta_get(m, "data") ? sd_model_meta_get(m, "data") : sd_data_default_dir();
    sd_data_info_free(&info);
    if (!test.images) {
        sd_error("%s: shows pictures, but %s is a table of features", model_path, dir);
        goto done;
    }
    snprintf(what, sizeof what, "the test images of %s are", dir);
    if (check_image_model(m, model_path, test.c, test.h, test.w, what, &scale, &shift)) goto done;
    if (sd_model_check_memory(m, 1, 0, max_memory)) { sd_error_prefix("%s", model_path); goto done; }
    if (index < 0 || index >= test.n) { sd_error("--index %d is outside the test set (0..%d)", index, test.n - 1); goto done; }
    if (test.labels[index] >= sd_model_output_shape(m).d[0]) {
        sd_error("test image %d of %s has label %d, but %s has %d classes", index, dir, test.labels[index],
                 model_path, sd_model_output_shape(m).d[0]);
        goto done;
    }
    if (make_dir(out_dir)) goto done;
    if (!(ctx = sd_ctx_new(&(sd_ctx_opts){ .threads = 1 })) || !(g = sd_graph_new(ctx))) goto done;
    sd_graph_set_grad(g, 0);

    /* The input picture itself (its first channel). */
    const size_t img = (size_t)test.c * test.h * test.w;
    if (!(x = malloc(img * sizeof *x))) { sd_error("out of memory"); goto done; }
    for (size_t k = 0; k < img; k++) x[k] = test.images[(size_t)index * img + k] / 255.0f;
    snprintf(path, sizeof path, "%s/input.png", out_dir);
    if (save_grid(path, x, 1, test.h, test.w, 8, 0)) goto done;
    char name[128];
    class_name(m, test.labels[index], name, sizeof name);
    fprintf(f, "%s: test image %d (", path, index);
    sd_app_text(f, name);
    fprintf(f, ")\n");
    for (size_t k = 0; k < img; k++) x[k] = x[k] * 255.0f * scale + shift;

    /* First layer's kernels. */
    sd_params *P = sd_model_params(m);
    int shown_kernels = 0;
    for (int i = 0; i < sd_params_count(P) && !shown_kernels; i++) {
        sd_shape s = sd_params_shape(P, i);
        if (s.ndim != 4 || !strstr(sd_params_name(P, i), ".weight")) continue;
        snprintf(path, sizeof path, "%s/kernels_%.*s.png", out_dir, (int)strcspn(sd_params_name(P, i), "."),
                 sd_params_name(P, i));
        /* one picture per (output, input) channel pair of the first conv layer */
        if (save_grid(path, sd_params_data(P, i), s.d[0] * s.d[1], s.d[2], s.d[3], 16, 1)) goto done;
        fprintf(f, "%s: the %d learned %dx%d kernels of %.*s (each scaled to its own range)\n", path,
                s.d[0] * s.d[1], s.d[2], s.d[3], (int)strcspn(sd_params_name(P, i), "."), sd_params_name(P, i));
        shown_kernels = 1;
    }
    if (!shown_kernels) fprintf(f, "(the model has no convolution layers: no kernels to show)\n");

    /* Feature maps of every conv layer (after its ReLU when one follows). */
    int nl = sd_model_layer_count(m);
    sd_tensor *outs[64];
    if (nl > 64 || !sd_model_forward_trace(g, m, sd_input(g, x, SD_SHAPE(1, test.c, test.h, test.w)), outs)) goto done;
    for (int i = 0; i < nl; i++) {
        sd_layer_info li;
        sd_model_layer_info(m, i, &li);
        if (strcmp(li.kind, "conv")) continue;
        int j = i;
        sd_layer_info next;
        if (i + 1 < nl && (sd_model_layer_info(m, i + 1, &next), !strcmp(next.kind, "relu"))) j = i + 1;
        sd_tensor *t = outs[j];
        snprintf(path, sizeof path, "%s/features_%s.png", out_dir, li.name);
        if (save_grid(path, t->data, t->shape.d[1], t->shape.d[2], t->shape.d[3], 4, 1)) goto done;
        fprintf(f, "%s: %d feature maps of %dx%d from %s%s\n", path, t->shape.d[1], t->shape.d[2], t->shape.d[3],
                li.name, j != i ? " after ReLU" : "");
    }
    rc = 0;
done:
    free(x);
    sd_graph_free(g);
    sd_ctx_free(ctx);
    sd_dataset_free(&test);
    sd_model_free(m);
    return rc;
}

/* ---- explain conv --image: one kernel over a real picture. */

int sd_app_explain_kernel(const char *name, float k[9], int *absolute)
{
    static const struct { const char *name; float k[9]; int absolute; } kernels[] = {
        { "sobel-x", { -1, 0, 1, -2, 0, 2, -1, 0, 1 }, 1 },
        { "sobel-y", { -1, -2, -1, 0, 0, 0, 1, 2, 1 }, 1 },
        { "blur", { 1 / 9.f, 1 / 9.f, 1 / 9.f, 1 / 9.f, 1 / 9.f, 1 / 9.f, 1 / 9.f, 1 / 9.f, 1 / 9.f }, 0 },
        { "sharpen", { 0, -1, 0, -1, 5, -1, 0, -1, 0 }, 0 },
        { "lecture", { -0.5f, 0, 0.5f, -1, 0, 1, -0.5f, 0, 0.5f }, 1 },
    };
    for (size_t i = 0; i < sizeof kernels / sizeof *kernels; i++)
        if (!strcmp(name, kernels[i].name)) {
            if (k) memcpy(k, kernels[i].k, sizeof kernels[i].k);
            if (absolute) *absolute = kernels[i].absolute;
            return 0;
        }
    return sd_error("unknown kernel '%s' (expected sobel-x, sobel-y, blur, sharpen or lecture)", name);
}

int sd_app_explain_image(const char *image, const char *kernel, const char *out, FILE *f)
{
    float k[9];
    int absolute = 0;
    if (sd_app_explain_kernel(kernel, k, &absolute)) return -1;
    sd_image im = { 0 }, gray = { 0 }, res = { 0 };
    sd_ctx *ctx = NULL;
    sd_graph *g = NULL;
    float *x = NULL;
    int rc = -1;
    const sd_path_use uses[] = { { image, SD_PATH_INPUT, "--image" }, { out, SD_PATH_OUTPUT, "--out" } };
    if (sd_app_check_paths(NULL, uses, 2)) goto done;
    if (sd_image_load_png(image, &im) || sd_image_to_gray(&im, &gray)) goto done;
    size_t n = (size_t)gray.w * gray.h;
    if (!(x = malloc(n * sizeof *x))) { sd_error("out of memory"); goto done; }
    for (size_t i = 0; i < n; i++) x[i] = gray.px[i] / 255.0f;
    if (!(ctx = sd_ctx_new(NULL)) || !(g = sd_graph_new(ctx))) goto done;
    sd_graph_set_grad(g, 0);
    /* zero padding 1 keeps the picture's size */
    sd_tensor *y = sd_conv2d(g, sd_input(g, x, SD_SHAPE(1, 1, gray.h, gray.w)), sd_input(g, k, SD_SHAPE(1, 1, 3, 3)),
                             NULL, 1, 1);
    if (!y || sd_image_alloc(&res, gray.w, gray.h, 1, 0)) goto done;
    /* Edge kernels: |response| scaled to the strongest edge; others: clamp to 0..1. */
    float hi = 0.0f;
    for (size_t i = 0; i < n; i++) hi = fmaxf(hi, fabsf(y->data[i]));
    for (size_t i = 0; i < n; i++) {
        float v = absolute ? (hi > 0 ? fabsf(y->data[i]) / hi : 0.0f) : fminf(fmaxf(y->data[i], 0.0f), 1.0f);
        res.px[i] = (uint8_t)lrintf(255.0f * v);
    }
    if (sd_image_save_png(out, &res)) goto done;
    fprintf(f, "%s: %dx%d picture convolved with the %s kernel (3x3, zero padding 1) -> %s\n", image, gray.w, gray.h,
            kernel, out);
    rc = 0;
done:
    free(x);
    sd_graph_free(g);
    sd_ctx_free(ctx);
    sd_image_free(&im);
    sd_image_free(&gray);
    sd_image_free(&res);
    return rc;
}
