/* shendu diffusion: a DDPM (Ho et al. 2020) on MNIST-layout pictures.
 *
 * Every step: a batch of training pictures x0 in [-1, 1], a random step t for
 * each and noise ε; the U-Net predicts ε from x_t = √ᾱ_t x0 + √(1-ᾱ_t) ε and
 * Adam lowers the mean squared error. What is sampled, scored and saved is a
 * moving average of the weights (as for the GAN's generator). After every
 * epoch: an 8x8 grid drawn with DDIM from fixed noise (DIR/epoch_NNN.png) and
 * the model (DIR/model.safetensors).
 *
 * Files: a model is a safetensors file of the averaged U-Net's parameters with
 * "shendu.format" = "diffusion" and the settings that rebuild it (diffusion.*);
 * a checkpoint is the same file ("diffusion-checkpoint", so it samples too)
 * plus the trained weights (shendu.net), Adam's state, the RNG, the data order
 * and the run's configuration. */
#include "apps/diffusion_app.h"

#include <inttypes.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

enum { MAX_SAMPLE_BATCH = 64 };

/* ---- Loading a model or checkpoint */

void sd_diffusion_model_free(sd_diffusion_model *m)
{
    sd_unet_free(m->u);
    sd_ddpm_free(m->s);
    memset(m, 0, sizeof *m);
}

int sd_app_is_diffusion_file(const sd_st_file *f)
{
    const char *fmt = sd_st_meta(f, "shendu.format");
    return fmt && (!strcmp(fmt, "diffusion") || !strcmp(fmt, "diffusion-checkpoint"));
}

static int meta_int(const sd_st_file *f, const char *path, const char *key, long lo, long hi, int *out)
{
    long v;
    const char *s = sd_st_meta(f, key);
    if (sd_config_parse_long(s, lo, hi, &v))
        return sd_error("%s: metadata %s is '%s', not an integer in [%ld, %ld]", path, key, s ? s : "(missing)", lo,
                        hi);
    *out = (int)v;
    return 0;
}

/* The averaged weights of a model or checkpoint file, and its schedule. */
int sd_diffusion_model_load(const char *path, sd_diffusion_model *m)
{
    memset(m, 0, sizeof *m);
    sd_st_file *f = sd_st_open(path);
    if (!f) return -1;
    int rc = -1, c = 0, groups = 0, attention = 0, C, H, W;
    sd_ddpm_kind kind;
    if (sd_st_expect_kind(f, path, SD_KIND_BIT(SD_FILE_DIFFUSION) | SD_KIND_BIT(SD_FILE_DIFFUSION_CKPT),
                          "a diffusion model"))
        goto done;
    if (!sd_app_is_diffusion_file(f)) {
        sd_error("%s: shendu.kind says a diffusion model but shendu.format does not (a damaged file)", path);
        goto done;
    }
    const char *shape = sd_st_meta(f, "image_shape"), *sched = sd_st_meta(f, "diffusion.schedule");
    if (meta_int(f, path, "diffusion.channels", 1, 1024, &c) || meta_int(f, path, "diffusion.groups", 1, 1024, &groups) ||
        meta_int(f, path, "diffusion.T", 1, SD_DDPM_MAX_T, &m->T))
        goto done;
    /* files made before the U-Net had its attention block say nothing: they load without it */
    if (sd_st_meta(f, "diffusion.attention") && meta_int(f, path, "diffusion.attention", 0, 1, &attention)) goto done;
    if (!shape || sscanf(shape, "%d,%d,%d", &C, &H, &W) != 3) {
        sd_error("%s: metadata image_shape is '%s', not C,H,W", path, shape ? shape : "(missing)");
        goto done;
    }
    if (sd_ddpm_kind_parse(sched, &kind)) { sd_error_prefix("%s", path); goto done; }
    sd_rng rng;
    sd_rng_seed(&rng, 1);
    m->img = SD_SHAPE(C, H, W);
    /* the file's own size bounds what it can make us allocate */
    if (!(m->u = sd_unet_new(m->img, &(sd_unet_opts){ .channels = c, .groups = groups, .rng = &rng,
                                                      .max_params = sd_st_numel(f), .no_attention = !attention })) ||
        !(m->s = sd_ddpm_new(kind, m->T)) || sd_checkpoint_read_params(f, sd_unet_params(m->u))) {
        sd_error_prefix("%s", path);
        goto done;
    }
    sd_params *P = sd_unet_params(m->u);
    if (sd_params_first_nonfinite(P, 0) >= 0) {
        sd_error("%s: parameter '%s' holds a NaN or an infinity", path,
                 sd_params_name(P, sd_params_first_nonfinite(P, 0)));
        goto done;
    }
    rc = 0;
done:
    sd_st_close(f);
    if (rc) sd_diffusion_model_free(m);
    return rc;
}

/* ---- Sampling */

/* In batches of 64; the path's 8 points: x_T first, the picture last. */
int sd_diffusion_draw(sd_ctx *ctx, sd_diffusion_model *m, int n, int ddim, int steps, sd_rng *rng, float *out, int ntraj, float *traj,
                      volatile sig_atomic_t *stop)
{
    const size_t img = sd_shape_numel(m->img);
    const int T = m->T, nsteps = ddim ? steps : T;
    sd_graph *g = m->g ? m->g : sd_graph_new(ctx);
    if (!g) return -1;
    const int grad = sd_graph_grad(g);
    sd_graph_set_grad(g, 0);
    int32_t t[MAX_SAMPLE_BATCH];
    int rc = 0;
    for (int i = 0; i < n && !rc; i += MAX_SAMPLE_BATCH) {
        const int b = n - i < MAX_SAMPLE_BATCH ? n - i : MAX_SAMPLE_BATCH;
        float *x = out + (size_t)i * img;
        for (size_t k = 0; k < (size_t)b * img; k++) x[k] = sd_rng_normal(rng);
        for (int k = 0; k < nsteps && !rc; k++) {
            if (stop && *stop) { rc = SD_STOPPED; break; }   /* between two U-Net passes */
            /* DDIM visits t_k = round((nsteps - k) T / nsteps), from T down to its last step > 0 */
            const int tt = ddim ? (int)(((int64_t)(nsteps - k) * T) / nsteps) : T - k;
            const int prev = ddim ? (int)(((int64_t)(nsteps - k - 1) * T) / nsteps) : tt - 1;
            if (traj && i == 0 && k % ((nsteps + 6) / 7) == 0) {
                const int at = k / ((nsteps + 6) / 7);
                memcpy(traj + (size_t)at * ntraj * img, x, (size_t)ntraj * img * sizeof(float));
            }
            if (tt == prev) continue;
            for (int j = 0; j < b; j++) t[j] = tt;
            sd_graph_reset(g);
            sd_tensor *eps = sd_unet_forward(g, m->u, sd_input(g, x, SD_SHAPE(b, m->img.d[0], m->img.d[1],
                                                                            m->img.d[2])), t);
            if (!eps) { rc = -1; break; }
            if (ddim) sd_ddim_step(m->s, x, eps->data, (size_t)b * img, tt, prev);
            else sd_ddpm_step(m->s, x, eps->data, (size_t)b * img, tt, rng);
        }
        if (traj && i == 0) memcpy(traj + (size_t)7 * ntraj * img, x, (size_t)ntraj * img * sizeof(float));
    }
    if (m->g) {
        sd_graph_reset(g);
        sd_graph_set_grad(g, grad);
    } else {
        sd_graph_free(g);
    }
    return rc;
}

/* Pictures in [-1, 1] -> 8-bit pixels (NaN -> 0). */
static void to_pixels(const float *x, size_t n, uint8_t *px)
{
    for (size_t i = 0; i < n; i++) {
        const float v = (x[i] + 1.0f) * 127.5f;
        px[i] = (uint8_t)(v > 0.0f ? (v < 255.0f ? lrintf(v) : 255) : 0);
    }
}

/* Drawn a batch at a time, classified all at once. */
int sd_diffusion_score(sd_ctx *ctx, sd_diffusion_model *m, sd_model *cls, int n, int steps, sd_rng *rng, double *score,
                       volatile sig_atomic_t *stop)
{
    const size_t img = sd_shape_numel(m->img);
    float *x = malloc((size_t)MAX_SAMPLE_BATCH * img * sizeof *x);
    uint8_t *px = malloc((size_t)n * img);
    int rc = -1;
    if (!x || !px) { sd_error("out of memory drawing %d samples", n); goto done; }
    for (int i = 0; i < n; i += MAX_SAMPLE_BATCH) {
        const int b = n - i < MAX_SAMPLE_BATCH ? n - i : MAX_SAMPLE_BATCH;
        if ((rc = sd_diffusion_draw(ctx, m, b, 1, steps, rng, x, 0, NULL, stop))) {
            if (rc != SD_STOPPED) rc = -1;
            goto done;
        }
        to_pixels(x, (size_t)b * img, px + (size_t)i * img);
    }
    rc = sd_app_score_pixels(ctx, cls, px, n, score);
done:
    free(x);
    free(px);
    return rc;
}

static int check_sample_opts(const sd_diffusion_model *m, const sd_diffusion_sample_opts *o)
{
    if (o->n < 1 || o->n > 100000) return sd_error("--n must be in [1, 100000], not %d", o->n);
    if (o->ddim && (o->steps < 1 || o->steps > m->T))
        return sd_error("--sample-steps %d: the model has T = %d noise steps; DDIM takes 1 to %d", o->steps, m->T,
                        m->T);
    if (o->trajectory < 0 || o->trajectory > 64) return sd_error("--trajectory must be in [0, 64]");
    return 0;
}

int sd_app_diffusion_sample(const char *model, const char *out_png, const sd_diffusion_sample_opts *o, FILE *log)
{
    const char *tp = o->trajectory > 0 ? (o->trajectory_out ? o->trajectory_out : "trajectory.png") : NULL;
    const sd_path_use uses[] = { { model, SD_PATH_INPUT, "the model" }, { out_png, SD_PATH_OUTPUT, "--out" },
                                 { tp, SD_PATH_OUTPUT, "--trajectory-out" } };
    if (sd_app_check_paths(NULL, uses, 3)) return -1;
    sd_diffusion_model m;
    if (sd_diffusion_model_load(model, &m)) return -1;
    sd_ctx *ctx = NULL;
    float *x = NULL, *traj = NULL;
    int rc = -1;
    const int ntraj = o->trajectory > 0 ? (o->trajectory < o->n ? o->trajectory : o->n) : 0;
    const size_t img = sd_shape_numel(m.img);
    if (check_sample_opts(&m, o)) goto done;
    if (!(ctx = sd_ctx_new(&(sd_ctx_opts){ .threads = o->threads }))) goto done;
    x = malloc((size_t)o->n * img * sizeof *x);
    traj = ntraj ? calloc((size_t)8 * ntraj * img, sizeof *traj) : NULL;   /* fewer than 8 steps: gray slots */
    if (!x || (ntraj && !traj)) { sd_error("out of memory for %d samples", o->n); goto done; }
    sd_rng rng;
    sd_rng_seed(&rng, o->seed);
    const double t0 = sd_time_now();
    if (sd_diffusion_draw(ctx, &m, o->n, o->ddim, o->steps, &rng, x, ntraj, traj, NULL)) goto done;
    const double secs = sd_time_now() - t0;
    int cols = 1;
    while (cols * cols < o->n) cols++;
    if (sd_app_save_grid(out_png, x, o->n, m.img, cols)) goto done;
    fprintf(log, "%s: %d samples (%s, %d steps) in %.2f s\n", out_png, o->n, o->ddim ? "DDIM" : "DDPM",
            o->ddim ? o->steps : m.T, secs);
    if (ntraj) {   /* one row a sample: noise on the left, the picture on the right */
        float *strip = malloc((size_t)8 * ntraj * img * sizeof *strip);
        if (!strip) { sd_error("out of memory"); goto done; }
        for (int s = 0; s < ntraj; s++)
            for (int k = 0; k < 8; k++)
                memcpy(strip + ((size_t)s * 8 + k) * img, traj + ((size_t)k * ntraj + s) * img, img * sizeof(float));
        int bad = sd_app_save_grid(tp, strip, 8 * ntraj, m.img, 8);
        free(strip);
        if (bad) goto done;
        fprintf(log, "%s: the denoising path of %d samples, noise to picture\n", tp, ntraj);
    }
    rc = 0;
done:
    free(x);
    free(traj);
    sd_ctx_free(ctx);
    sd_diffusion_model_free(&m);
    return rc;
}

int sd_app_diffusion_score(const char *model, const char *cls_path, const char *data_dir, int n, int steps,
                           uint64_t seed, int threads, double *score, double *real_score)
{
    const sd_path_use uses[] = { { model, SD_PATH_INPUT, "the model" }, { cls_path, SD_PATH_INPUT, "--classifier" } };
    if (sd_app_check_paths(data_dir, uses, 2)) return -1;
    sd_diffusion_model m;
    if (sd_diffusion_model_load(model, &m)) return -1;
    sd_model *cls = NULL;
    sd_ctx *ctx = NULL;
    sd_dataset test = { 0 };
    int rc = -1;
    if (check_sample_opts(&m, &(sd_diffusion_sample_opts){ .n = n, .ddim = 1, .steps = steps })) goto done;
    if (sd_file_expect_kind(cls_path, SD_KINDS_CLASSIFIER, "an image classifier") ||
        !(cls = sd_model_load(cls_path)) || sd_app_check_classifier(cls, cls_path, m.img, 0)) goto done;
    if (!(ctx = sd_ctx_new(&(sd_ctx_opts){ .threads = threads }))) goto done;
    if (sd_dataset_load_mnist(data_dir ? data_dir : sd_data_default_dir(), "t10k", &test)) goto done;
    if (test.c != m.img.d[0] || test.h != m.img.d[1] || test.w != m.img.d[2]) {
        sd_error("the model draws %dx%dx%d pictures, the test images are %dx%dx%d", m.img.d[0], m.img.d[1],
                 m.img.d[2], test.c, test.h, test.w);
        goto done;
    }
    sd_rng rng;
    sd_rng_seed(&rng, seed);
    if (sd_diffusion_score(ctx, &m, cls, n, steps, &rng, score, NULL) ||
        sd_app_score_pixels(ctx, cls, test.images, n < test.n ? n : test.n, real_score)) goto done;
    if (!isfinite(*score) || !isfinite(*real_score)) {
        sd_error("the inception score is not finite: %s gives non-finite class scores (a diverged classifier?)",
                 cls_path);
        goto done;
    }
    rc = 0;
done:
    sd_dataset_free(&test);
    sd_model_free(cls);
    sd_ctx_free(ctx);
    sd_diffusion_model_free(&m);
    return rc;
}
