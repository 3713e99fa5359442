/* shendu explain diffusion: the forward noising of one training picture with
 * the schedule's numbers, and one reverse step worked through on one pixel. */
#include "apps/diffusion_app.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

int sd_app_explain_diffusion(const char *data_dir, sd_ddpm_kind kind, int T, int index, const char *out_png,
                             FILE *out)
{
    sd_dataset d = { 0 };
    sd_ddpm *s = NULL;
    float *x0 = NULL, *eps = NULL, *strip = NULL;
    int rc = -1;
    const char *dir = data_dir ? data_dir : sd_data_default_dir();
    const sd_path_use uses[] = { { out_png, SD_PATH_OUTPUT, "--out" } };
    if (sd_app_check_paths(dir, uses, 1)) return -1;
    if (!(s = sd_ddpm_new(kind, T)) || sd_dataset_load_mnist(dir, "train", &d)) goto done;
    if (index < 0 || index >= d.n) {
        sd_error("--index %d: %s has %d training pictures (0 to %d)", index, dir, d.n, d.n - 1);
        goto done;
    }
    const size_t size = (size_t)d.c * d.h * d.w;
    x0 = malloc(size * sizeof *x0);
    eps = malloc(size * sizeof *eps);
    strip = malloc(11 * size * sizeof *strip);
    if (!x0 || !eps || !strip) { sd_error("out of memory"); goto done; }
    for (size_t k = 0; k < size; k++) x0[k] = d.images[(size_t)index * size + k] / 127.5f - 1.0f;
    sd_rng rng;
    sd_rng_seed(&rng, 1);
    for (size_t k = 0; k < size; k++) eps[k] = sd_rng_normal(&rng);
    /* the pixel followed through the steps: the brightest one (ties: the first) */
    size_t px = 0;
    for (size_t k = 1; k < size; k++) if (x0[k] > x0[px]) px = k;

    fprintf(out, "Diffusion, forward: noise is added to a picture in %d small steps, beta_1 .. beta_T (%s schedule).\n"
                 "After t steps the picture is x_t = sqrt(abar_t) x_0 + sqrt(1 - abar_t) eps, eps ~ N(0, 1),\n"
                 "with abar_t = (1 - beta_1)(1 - beta_2)...(1 - beta_t): one draw jumps to any t.\n\n"
                 "Training picture %d of %s (%dx%d), pixels scaled to [-1, 1]; pixel (%zu,%zu) followed: x_0 = %.4f,"
                 " eps = %.4f.\n\n", T, sd_ddpm_kind_name(kind), index, dir, d.h, d.w, px / (size_t)d.w,
            px % (size_t)d.w, x0[px], eps[px]);
    fprintf(out, "%6s  %9s  %9s  %13s  %15s  %10s  %s\n", "t", "beta_t", "abar_t", "sqrt(abar_t)", "sqrt(1-abar_t)",
            "pixel x_t", "signal / noise");
    for (int k = 0; k <= 10; k++) {
        const int t = (int)((int64_t)k * T / 10);
        const double ab = s->alpha_bar[t], a = sqrt(ab), b = sqrt(1.0 - ab);
        int32_t tt = t;
        sd_ddpm_noise(s, x0, eps, &tt, 1, size, strip + (size_t)k * size);
        fprintf(out, "%6d  %9.6f  %9.6f  %13.6f  %15.6f  %10.4f  %.3g\n", t, s->beta[t], ab, a, b,
                strip[(size_t)k * size + px], b > 0 ? a / b : INFINITY);
    }
    if (out_png) {
        if (sd_app_save_grid(out_png, strip, 11, SD_SHAPE(d.c, d.h, d.w), 11)) goto done;
        fprintf(out, "\n%s: the picture at t = 0, %d, ..., %d (left to right)\n", out_png, T / 10, T);
    }

    /* One reverse step at t = T/2, with the true eps standing in for the network's
     * prediction (a trained U-Net predicts it from x_t and t alone). */
    const int t = T / 2 > 0 ? T / 2 : 1;
    const double ab = s->alpha_bar[t], abp = s->alpha_bar[t - 1], bt = s->beta[t];
    int32_t tt = t;
    float xt;
    sd_ddpm_noise(s, x0 + px, eps + px, &tt, 1, 1, &xt);
    const double x0hat = (xt - sqrt(1.0 - ab) * eps[px]) / sqrt(ab);
    const double mean = (xt - bt / sqrt(1.0 - ab) * eps[px]) / sqrt(1.0 - bt);
    const double sigma = sqrt(bt * (1.0 - abp) / (1.0 - ab));
    fprintf(out, "\nDiffusion, reverse: a network eps_theta(x_t, t) learns to predict eps from x_t (the loss is\n"
                 "the mean squared error of its prediction). One step back, at t = %d, for the pixel above,\n"
                 "with the true eps in place of the prediction:\n"
                 "  x_t                = %.4f\n"
                 "  predicted x_0      = (x_t - sqrt(1-abar_t) eps) / sqrt(abar_t)\n"
                 "                     = (%.4f - %.6f x %.4f) / %.6f = %.4f   (the picture's %.4f)\n"
                 "  DDPM: x_{t-1}      = (x_t - beta_t / sqrt(1-abar_t) eps) / sqrt(1-beta_t) + sigma_t z\n"
                 "                     = (%.4f - %.6f / %.6f x %.4f) / %.6f + %.6f z = %.4f + %.6f z\n"
                 "  DDIM: x_{t-1}      = sqrt(abar_{t-1}) x_0 + sqrt(1-abar_{t-1}) eps = %.6f x %.4f + %.6f x %.4f"
                 " = %.4f\n"
                 "Repeated from pure noise at t = %d down to t = 1, these steps draw a new picture:\n"
                 "  shendu diffusion --epochs 1, then shendu diffusion sample diffusion-out/model.safetensors"
                 " --out grid.png --trajectory 4\n",
            t, xt, xt, sqrt(1.0 - ab), eps[px], sqrt(ab), x0hat, x0[px], xt, bt, sqrt(1.0 - ab), eps[px],
            sqrt(1.0 - bt), sigma, mean, sigma, sqrt(abp), x0hat, sqrt(1.0 - abp), eps[px],
            sqrt(abp) * x0hat + sqrt(1.0 - abp) * eps[px], T);
    rc = 0;
done:
    free(x0);
    free(eps);
    free(strip);
    sd_ddpm_free(s);
    sd_dataset_free(&d);
    return rc;
}
