#define _POSIX_C_SOURCE 200809L
/* `shendu explain`: the lecture's worked examples replayed step by step, as
 * the slides draw them, computed by the library's own ops. */
#include "apps.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* The lecture's 5×5 picture and 3×3 kernel (卷積層), and its 4×4 pooling input (池化層). */
static const float lecture_image[25] = {
    -0.1f,  -0.1f, 0.0f, 0.1f, 0.25f,
    -0.25f, 1.0f,  1.0f, 1.0f, 0.3f,
    -0.5f,  1.0f,  0.5f, 1.0f, 0.5f,
    -0.25f, 1.0f,  1.0f, 1.0f, 0.2f,
    -0.1f,  -0.2f, 0.0f, 0.0f, 0.1f,
};
static const float lecture_kernel[9] = { -0.5f, 0.0f, 0.5f, -1.0f, 0.0f, 1.0f, -0.5f, 0.0f, 0.5f };
static const float lecture_pool[16] = {
    -0.1f,  -0.1f,  0.0f,  0.1f,
    -0.25f, 0.5f,   0.15f, 0.2f,
    -0.5f,  -1.0f,  0.5f,  0.3f,
    -0.25f, -0.75f, 0.25f, 1.0f,
};

const float *sd_explain_lecture_image(void) { return lecture_image; }
const float *sd_explain_lecture_kernel(void) { return lecture_kernel; }
const float *sd_explain_lecture_pool(void) { return lecture_pool; }

/* A number as the slides print it: at most 4 decimals, no trailing zeros, no "-0". */
static const char *num(float v, char *buf)
{
    snprintf(buf, 24, "%.4f", v);
    char *e = buf + strlen(buf) - 1;
    while (*e == '0') *e-- = 0;
    if (*e == '.') *e = 0;
    if (!strcmp(buf, "-0")) strcpy(buf, "0");
    return buf;
}

/* Print an h×w matrix; cells inside the window (r0..r0+kh, c0..c0+kw) are
 * bracketed; cells of `filled` beyond `nfilled` show as '.'. */
static void print_matrix(FILE *f, const float *m, int h, int w, int r0, int c0, int kh, int kw, int nfilled,
                         const char *indent)
{
    char b[24];
    for (int i = 0; i < h; i++) {
        fputs(indent, f);
        for (int j = 0; j < w; j++) {
            int in = i >= r0 && i < r0 + kh && j >= c0 && j < c0 + kw;
            int open = in && j == c0, close = in && j == c0 + kw - 1;
            char cell[32];
            if (nfilled >= 0 && i * w + j >= nfilled) snprintf(cell, sizeof cell, ".");
            else snprintf(cell, sizeof cell, "%s", num(m[i * w + j], b));
            fprintf(f, "%s%7s%s", open ? "[" : " ", cell, close ? "]" : " ");
        }
        fputc('\n', f);
    }
}

static void pause_step(const sd_explain_opts *o)
{
    if (o->delay_ms > 0) {
        struct timespec ts = { o->delay_ms / 1000, (long)(o->delay_ms % 1000) * 1000000L };
        nanosleep(&ts, NULL);
    }
}

/* Run one op on the lecture's numbers through a graph: the real library code. */
static int run_conv(const float *img, int h, int w, const float *k, int kh, int kw, float *out)
{
    sd_ctx *ctx = sd_ctx_new(&(sd_ctx_opts){ .threads = 1 });
    sd_graph *g = ctx ? sd_graph_new(ctx) : NULL;
    int rc = -1;
    if (g) {
        sd_tensor *y = sd_conv2d(g, sd_input(g, img, SD_SHAPE(1, 1, h, w)), sd_input(g, k, SD_SHAPE(1, 1, kh, kw)),
                                 NULL, 1, 0);
        if (y) { memcpy(out, y->data, y->n * sizeof(float)); rc = 0; }
    }
    sd_graph_free(g);
    sd_ctx_free(ctx);
    return rc;
}

int sd_app_explain_conv(FILE *f, const sd_explain_opts *o)
{
    const int H = 5, W = 5, K = 3, OH = H - K + 1, OW = W - K + 1;
    float out[9];
    char b1[24], b2[24];
    if (run_conv(lecture_image, H, W, lecture_kernel, K, K, out)) return -1;
    fprintf(f, "Convolution (卷積層), the lecture's worked example.\n"
               "A picture is a matrix of numbers; a 3x3 kernel is laid on its top-left corner,\n"
               "the overlapping entries are multiplied and summed, then the kernel slides on.\n\n");
    fprintf(f, "picture (5x5):\n");
    print_matrix(f, lecture_image, H, W, -9, -9, 0, 0, -1, "  ");
    fprintf(f, "\nkernel (3x3):\n");
    print_matrix(f, lecture_kernel, K, K, -9, -9, 0, 0, -1, "  ");
    for (int i = 0; i < OH; i++)
        for (int j = 0; j < OW; j++) {
            int step = i * OW + j + 1;
            fprintf(f, "\nstep %d: kernel at row %d, column %d\n", step, i + 1, j + 1);
            print_matrix(f, lecture_image, H, W, i, j, K, K, -1, "  ");
            for (int p = 0; p < K; p++) {
                fprintf(f, "  %s", p ? "+ " : "  ");
                for (int q = 0; q < K; q++)
                    fprintf(f, "%s(%s x %s)", q ? " + " : "", num(lecture_image[(i + p) * W + j + q], b1),
                            num(lecture_kernel[p * K + q], b2));
                fputc('\n', f);
            }
            fprintf(f, "  = %s\n  output so far:\n", num(out[i * OW + j], b1));
            print_matrix(f, out, OH, OW, -9, -9, 0, 0, step, "    ");
            pause_step(o);
        }
    fprintf(f, "\nThe 5x5 picture became a 3x3 feature map: a KxK kernel shrinks each side by K-1,\n"
               "so a 28x28 image through a layer of three 3x3 kernels gives 26x26x3.\n"
               "A different kernel extracts a different feature (this one responds to vertical edges).\n");
    return 0;
}

int sd_app_explain_pool(FILE *f, const sd_explain_opts *o)
{
    const int H = 4, W = 4, K = 2, OH = 2, OW = 2;
    float out[4];
    char b1[24];
    sd_ctx *ctx = sd_ctx_new(&(sd_ctx_opts){ .threads = 1 });
    sd_graph *g = ctx ? sd_graph_new(ctx) : NULL;
    sd_tensor *y = g ? sd_maxpool2d(g, sd_input(g, lecture_pool, SD_SHAPE(1, 1, H, W)), K, K) : NULL;
    if (y) memcpy(out, y->data, sizeof out);
    sd_graph_free(g);
    sd_ctx_free(ctx);
    if (!y) return -1;
    fprintf(f, "Max-pooling (池化層), the lecture's worked example.\n"
               "A 2x2 window is laid on the picture; the largest value inside it is kept,\n"
               "then the window moves on by its own width, so the picture halves in each direction.\n\n");
    fprintf(f, "picture (4x4):\n");
    print_matrix(f, lecture_pool, H, W, -9, -9, 0, 0, -1, "  ");
    for (int i = 0; i < OH; i++)
        for (int j = 0; j < OW; j++) {
            int step = i * OW + j + 1;
            fprintf(f, "\nstep %d: window at row %d, column %d\n", step, 2 * i + 1, 2 * j + 1);
            print_matrix(f, lecture_pool, H, W, 2 * i, 2 * j, K, K, -1, "  ");
            fprintf(f, "  max(");
            for (int p = 0; p < K; p++)
                for (int q = 0; q < K; q++)
                    fprintf(f, "%s%s", p + q ? ", " : "", num(lecture_pool[(2 * i + p) * W + 2 * j + q], b1));
            fprintf(f, ") = %s\n  output so far:\n", num(out[i * OW + j], b1));
            print_matrix(f, out, OH, OW, -9, -9, 0, 0, step, "    ");
            pause_step(o);
        }
    fprintf(f, "\nThe features survive while the picture shrinks to a quarter of its size,\n"
               "which cuts the work of every later layer.\n");
    return 0;
}

int sd_app_explain_shapes(FILE *f, const char *model, sd_shape input)
{
    const char *arch = sd_model_preset(model);
    sd_rng rng;
    sd_rng_seed(&rng, 0);
    sd_model *m = sd_model_new(arch ? arch : model, input, SD_INIT_DEFAULT, &rng);
    if (!m) return -1;
    char s[64];
    fprintf(f, "%-8s %-12s %-16s %10s\n", "layer", "kind", "output", "params");
    fprintf(f, "%-8s %-12s %-16s %10s\n", "", "input", sd_shape_str(input, s, sizeof s), "");
    size_t total = 0;
    for (int i = 0; i < sd_model_layer_count(m); i++) {
        sd_layer_info li;
        sd_model_layer_info(m, i, &li);
        fprintf(f, "%-8s %-12s %-16s %10zu\n", li.name, li.kind, sd_shape_str(li.out, s, sizeof s), li.params);
        total += li.params;
    }
    fprintf(f, "total parameters: %zu\narchitecture: %s\n", total, sd_model_arch(m));
    sd_model_free(m);
    return 0;
}
