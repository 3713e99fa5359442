/* shendu/diffusion.h — denoising diffusion (DDPM, Ho et al. 2020): the noise
 * schedule, the forward noising, the samplers (DDPM ancestral, DDIM), and the
 * small U-Net that predicts the noise ε.
 *
 * The forward process adds Gaussian noise in T steps, β_1..β_T:
 *     q(x_t | x_0) = N(√ᾱ_t x_0, (1 - ᾱ_t) I),   ᾱ_t = Π_{s≤t} (1 - β_s)
 * so a training example is x_t = √ᾱ_t x_0 + √(1 - ᾱ_t) ε for a random t and
 * ε ~ N(0, I), and the network learns ε_θ(x_t, t) ≈ ε with the mean squared
 * error. Sampling runs the process backwards from pure noise x_T. */
#ifndef SHENDU_DIFFUSION_H
#define SHENDU_DIFFUSION_H

#include "nn.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ---- The noise schedule. Index t runs 1..T (t = 0 is the clean picture). */
typedef enum sd_ddpm_kind {
    SD_DDPM_LINEAR = 0,   /* β_t linear from 1e-4 to 0.02 (Ho et al.; scaled by 1000/T) */
    SD_DDPM_COSINE        /* ᾱ_t = f(t)/f(0), f(t) = cos²((t/T + s)/(1 + s) · π/2), s = 0.008,
                             β_t clipped at 0.999 (Nichol & Dhariwal 2021) */
} sd_ddpm_kind;
int         sd_ddpm_kind_parse(const char *name, sd_ddpm_kind *out);   /* "linear", "cosine" */
const char *sd_ddpm_kind_name(sd_ddpm_kind k);

#define SD_DDPM_MAX_T 10000
typedef struct sd_ddpm {
    int T;
    sd_ddpm_kind kind;
    /* [0..T]; entry 0 is t = 0: β_0 = 0, ᾱ_0 = 1 */
    double *beta, *alpha_bar;
} sd_ddpm;
/* T in [1, SD_DDPM_MAX_T]. NULL (error set) otherwise. */
sd_ddpm *sd_ddpm_new(sd_ddpm_kind kind, int T);
void     sd_ddpm_free(sd_ddpm *s);   /* NULL-safe */

/* x_t = √ᾱ_t x0 + √(1-ᾱ_t) eps, per example i of n (each of `size` floats) at t[i]. */
void sd_ddpm_noise(const sd_ddpm *s, const float *x0, const float *eps, const int32_t *t, int n, size_t size,
                   float *xt);

/* One reverse step of n examples from x_t (at every example's common step t) to
 * x_prev, given the network's ε prediction, in place:
 * DDPM ancestral: x_{t-1} = (x_t - β_t/√(1-ᾱ_t) ε) / √(1-β_t) + σ_t z, σ_t² = β̃_t =
 *   β_t (1-ᾱ_{t-1})/(1-ᾱ_t) (z ~ N(0,I) from rng; none at t = 1);
 * DDIM (η = 0, deterministic): x̂_0 = (x_t - √(1-ᾱ_t) ε)/√ᾱ_t,
 *   x_prev = √ᾱ_prev x̂_0 + √(1-ᾱ_prev) ε, for any earlier step prev < t.
 * x̂_0 is clipped to [-1, 1] (the pictures' range) in both. */
void sd_ddpm_step(const sd_ddpm *s, float *x, const float *eps, size_t count, int t, sd_rng *rng);
void sd_ddim_step(const sd_ddpm *s, float *x, const float *eps, size_t count, int t, int prev);

/* The sinusoidal embedding of step t (Vaswani et al.; as in DDPM): for k < dim/2,
 * e[k] = sin(t ω_k), e[dim/2 + k] = cos(t ω_k), ω_k = 10000^(-k/(dim/2 - 1)).
 * t (n) -> out (n, dim); dim even, >= 4. */
void sd_timestep_embedding(const int32_t *t, int n, int dim, float *out);

/* ---- The U-Net ε_θ(x_t, t): three resolutions (H, H/2, H/4) with c, 2c, 2c channels,
 * a residual block at each on the way down, two in the middle, and one per
 * resolution on the way up over the skip connection joined along the channels;
 * every residual block is GroupNorm → SiLU → 3x3 conv, twice, with the step's
 * embedding (sinusoidal → linear → SiLU → linear, then a per-block linear) added
 * to every position between the two. Downsampling: 3x3 convolutions of stride 2;
 * upsampling: nearest 2x then a 3x3 convolution. H and W must be multiples of 4.
 * Between the two middle blocks, at H/4 x W/4, a self-attention block: group norm,
 * one head over all positions (sd_full_attention_qkv), an output projection that
 * starts at zero, added to its input. */
typedef struct sd_unet_opts {
    int channels;     /* c: 0 -> 32 */
    int groups;       /* group norm groups: 0 -> 8 (must divide c) */
    sd_rng *rng;      /* draws the initial weights (required) */
    size_t max_params;   /* 0: the library's limit; a loader passes what its file holds */
    int no_attention;    /* 1: without the attention block (model files made before it) */
} sd_unet_opts;
typedef struct sd_unet sd_unet;
/* For pictures of shape img (C,H,W). NULL (error set) on a bad size. */
sd_unet   *sd_unet_new(sd_shape img, const sd_unet_opts *o);
void       sd_unet_free(sd_unet *u);   /* NULL-safe */
sd_params *sd_unet_params(sd_unet *u);
int        sd_unet_channels(const sd_unet *u);
int        sd_unet_groups(const sd_unet *u);     /* group norm groups */
int        sd_unet_has_attention(const sd_unet *u);
sd_shape   sd_unet_image(const sd_unet *u);
/* x (N,C,H,W) at steps t[N] -> predicted ε (N,C,H,W). t is copied. */
sd_tensor *sd_unet_forward(sd_graph *g, sd_unet *u, sd_tensor *x, const int32_t *t);

#ifdef __cplusplus
}
#endif
#endif
