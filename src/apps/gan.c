/* Generative adversarial networks: `shendu gan`, `gan sample`, `gan score`.
 *
 * A generator G turns noise z ~ N(0,1) into images, a discriminator D gives
 * one logit per image, and they are trained against each other on the
 * lecture's value function
 *     V(D,G) = E_x[log D(x)] + E_z[log(1 - D(G(z)))],   min_G max_D V,
 * with binary cross-entropy on D's logits (sigmoid folded into the loss):
 *     D step:  L_D = bce(D(x), 1) + bce(D(G(z)), 0)     (= -V, G held fixed)
 *     G step:  minimax          L_G = E[log(1 - D(G(z)))] = -bce(D(G(z)), 0)
 *              non-saturating   L_G = bce(D(G(z)), 1) = -E[log D(G(z))]
 * (Goodfellow et al. 2014: the non-saturating form gives G strong gradients
 * early on, when D rejects its samples easily; it is the default.)
 *
 * A step is two ordinary training blocks over two parameter sets, like the
 * reference ../shared/bench-ref/gan.py: G's forward is recorded on graph gG;
 * D trains on graph gD with the fake images as plain inputs (detached); then,
 * with D's parameters frozen (leaves without gradients), the G step continues
 * on gG through the updated D, so backward reaches G's parameters only.
 *
 * The quality score is the Inception Score computed with a shendu classifier
 * trained on the same data: exp(E_x KL(p(y|x) || p(y))), from 1 (every sample
 * looks alike, or nothing is recognisable) to the number of classes (every
 * sample confidently one class, classes equally often). */
#define _POSIX_C_SOURCE 200809L
#include "apps.h"
#include "apps/diffusion_app.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

/* ---- The architectures, for 28x28 gray images in [-1, 1] */

typedef struct gan_arch {
    const char *name, *G, *D;
    int nz;
    int batch;       /* the recipe's batch (gan.py's 64 for the MLP GAN; 32 for the DCGAN: twice the
                        updates per epoch, which on Fashion-MNIST scores better after 20 epochs) */
    float smooth;    /* the recipe's one-sided label smoothing */
    float ema;       /* the recipe's decay of G's moving average */
} gan_arch;

static const gan_arch archs[] = {
    /* ../shared/bench-ref/gan.py, layer for layer (and parameter names) */
    { "mlp",
      "fc1=linear(256) relu fc2=linear(512) relu fc3=linear(784) tanh",
      "fc1=linear(512) leaky_relu(0.2) fc2=linear(256) leaky_relu(0.2) fc3=linear(1)", 64, 64, 0.0f, 0.999f },
    /* DCGAN-style (Radford et al. 2015): G upsamples 7x7 -> 14x14 -> 28x28 with
     * transposed convolutions, then refines at 28x28 with two 3x3 convolutions
     * (on Fashion-MNIST these score higher at every epoch than a last transposed
     * convolution straight to one channel: bench/RESULTS.md); D downsamples with
     * strided convolutions. */
    { "dcgan",
      "fc1=linear(6272) bn1=batchnorm relu reshape(128,7,7) convt1=convt(64,4,2,1) bn2=batchnorm relu "
      "convt2=convt(32,4,2,1) bn3=batchnorm relu conv3=conv(32,3,1,1) bn4=batchnorm relu conv4=conv(1,3,1,1) tanh",
      "conv1=conv(64,4,2,1) leaky_relu(0.2) conv2=conv(128,4,2,1) bn1=batchnorm leaky_relu(0.2) flatten "
      "fc1=linear(1)", 64, 32, 0.0f, 0.999f },
};
static sd_shape image_shape(void) { return SD_SHAPE(1, 28, 28); }

static const gan_arch *find_arch(const char *name)
{
    for (size_t i = 0; i < sizeof archs / sizeof archs[0]; i++)
        if (!strcmp(archs[i].name, name)) return &archs[i];
    sd_error("unknown GAN architecture '%s' (expected mlp or dcgan)", name);
    return NULL;
}

int sd_gan_recipe(const char *arch, int *batch, float *smooth, float *ema)
{
    const gan_arch *A = find_arch(arch);
    if (!A) return -1;
    *batch = A->batch;
    *smooth = A->smooth;
    *ema = A->ema;
    return 0;
}

int sd_gan_loss_parse(const char *name, sd_gan_loss *out)
{
    if (!strcmp(name, "ns")) { *out = SD_GAN_NS; return 0; }
    if (!strcmp(name, "minimax")) { *out = SD_GAN_MINIMAX; return 0; }
    return sd_error("unknown GAN loss '%s' (expected ns or minimax)", name);
}

const char *sd_gan_loss_name(sd_gan_loss l) { return l == SD_GAN_MINIMAX ? "minimax" : "ns"; }

/* ---- Losses */

/* A (n, 1) tensor filled with v, in the arena. */
static sd_tensor *constant(sd_graph *g, int n, float v)
{
    sd_tensor *t = sd_zeros(g, SD_SHAPE(n, 1));
    for (int i = 0; t && i < n; i++) t->data[i] = v;
    return t;
}

sd_tensor *sd_gan_d_loss(sd_graph *g, sd_tensor *real_logits, sd_tensor *fake_logits)
{
    return sd_gan_d_loss_smooth(g, real_logits, fake_logits, 0.0f);
}

sd_tensor *sd_gan_d_loss_smooth(sd_graph *g, sd_tensor *real_logits, sd_tensor *fake_logits, float smooth)
{
    if (!real_logits || !fake_logits) return NULL;
    return sd_add(g, sd_bce_logits(g, real_logits, constant(g, real_logits->shape.d[0], 1.0f - smooth)),
                  sd_bce_logits(g, fake_logits, constant(g, fake_logits->shape.d[0], 0.0f)));
}

sd_tensor *sd_gan_g_loss(sd_graph *g, sd_tensor *fake_logits, sd_gan_loss kind)
{
    if (!fake_logits) return NULL;
    int n = fake_logits->shape.d[0];
    if (kind == SD_GAN_MINIMAX)   /* E[log(1 - D(G(z)))] = -bce(logit, 0) */
        return sd_scale(g, sd_bce_logits(g, fake_logits, constant(g, n, 0.0f)), -1.0f);
    return sd_bce_logits(g, fake_logits, constant(g, n, 1.0f));   /* -E[log D(G(z))] */
}

/* ---- The trainer: two models, two optimizers, two graphs */

struct sd_gan {
    sd_ctx *ctx;
    sd_model *G, *D;               /* borrowed */
    sd_optim *optG, *optD;
    sd_graph *gG, *gD;
    int batch, nz;
    sd_gan_loss loss;
    float *z;                      /* (batch, nz) */
    float *xcat;                   /* (2 batch, D's input): real then fake, when `joint` */
    int joint;                     /* D has no batch statistics: real and fake go through it as one batch */
    sd_tensor *fake;               /* G(z) of the last D step (this rank's rows), on gG */
    sd_dist_sync *syncG, *syncD;   /* gradient averaging over the ranks (no-ops in one process) */
    int first, count;              /* this rank's rows of the global batch */
    float real_target;             /* 1 - one-sided label smoothing */
    double share;                  /* count / batch */
};

/* (n, one example's dims...) */
static sd_shape batch_of(sd_shape one, int n)
{
    int d[SD_MAX_DIMS] = { n };
    for (int i = 0; i < one.ndim; i++) d[i + 1] = one.d[i];
    return sd_shape_of(d, one.ndim + 1);
}

sd_gan *sd_gan_new(sd_ctx *ctx, sd_model *G, sd_model *D, const sd_gan_opts *o)
{
    sd_shape zin = sd_model_input_shape(G), gout = sd_model_output_shape(G);
    sd_shape din = sd_model_input_shape(D), dout = sd_model_output_shape(D);
    char a[64], b[64];
    if (zin.ndim != 1) { sd_error("the generator's input must be a noise vector, not %s", sd_shape_str(zin, a, 64)); return NULL; }
    if (sd_shape_numel(gout) != sd_shape_numel(din)) {
        sd_error("the generator makes %s but the discriminator takes %s", sd_shape_str(gout, a, 64), sd_shape_str(din, b, 64));
        return NULL;
    }
    if (dout.ndim != 1 || dout.d[0] != 1) {
        sd_error("the discriminator must give one logit per image, not %s", sd_shape_str(dout, a, 64));
        return NULL;
    }
    if (o->batch < 2) { sd_error("a GAN batch needs at least 2 images (got %d)", o->batch); return NULL; }
    if (o->batch < sd_dist_size(o->dist)) {
        sd_error("a global batch of %d images cannot be shared by %d ranks", o->batch, sd_dist_size(o->dist));
        return NULL;
    }
    sd_gan *s = calloc(1, sizeof *s);
    if (!s) { sd_error("out of memory"); return NULL; }
    *s = (sd_gan){ .ctx = ctx, .G = G, .D = D, .batch = o->batch, .nz = zin.d[0], .loss = o->loss };
    sd_dist_shard(o->dist, o->batch, &s->first, &s->count);
    s->share = (double)s->count / o->batch;
    s->real_target = 1.0f - o->smooth;
    const sd_optim_opts adam = { .kind = SD_OPTIM_ADAM, .lr = o->lr > 0 ? o->lr : 2e-4f,
                                 .beta1 = o->beta1 > 0 ? o->beta1 : 0.5f, .beta2 = 0.999f,
                                 .threads = sd_ctx_threads(ctx) };
    s->joint = sd_params_count(sd_model_state(D)) == 0;
    s->z = malloc((size_t)o->batch * s->nz * sizeof *s->z);
    s->xcat = s->joint ? malloc(2 * (size_t)o->batch * sd_shape_numel(din) * sizeof *s->xcat) : NULL;
    if (!s->z || (s->joint && !s->xcat) || !(s->optG = sd_optim_new(sd_model_params(G), &adam)) ||
        !(s->optD = sd_optim_new(sd_model_params(D), &adam)) || !(s->gG = sd_graph_new(ctx)) ||
        !(s->gD = sd_graph_new(ctx)) ||
        !(s->syncG = sd_dist_sync_new(o->dist, sd_model_params(G), &(sd_dist_sync_opts){ .overlap = o->overlap })) ||
        !(s->syncD = sd_dist_sync_new(o->dist, sd_model_params(D), &(sd_dist_sync_opts){ .overlap = o->overlap }))) {
        sd_gan_free(s);
        return NULL;
    }
    return s;
}

void sd_gan_free(sd_gan *s)
{
    if (!s) return;
    sd_graph_free(s->gG);
    sd_graph_free(s->gD);
    sd_optim_free(s->optG);
    sd_optim_free(s->optD);
    sd_dist_sync_free(s->syncG);
    sd_dist_sync_free(s->syncD);
    free(s->z);
    free(s->xcat);
    free(s);
}

static float mean_sigmoid(const float *logits, int n)
{
    double s = 0.0;
    for (int i = 0; i < n; i++) s += 1.0 / (1.0 + exp(-(double)logits[i]));
    return (float)(s / n);
}

/* The gradient of this rank's weighted loss, averaged over the ranks (sync),
 * with extra[] summed alongside; the reduced loss is extra[0]. Every rank makes
 * the same collective calls whatever happens locally. */
static int backward_synced(sd_dist_sync *sync, sd_graph *g, sd_params *P, sd_tensor *loss, double share,
                           double *extra, int n_extra)
{
    sd_params_zero_grad(P);
    int rc = sd_dist_sync_begin(sync, g, share);
    if (!rc && loss && isfinite(loss->data[0])) rc = sd_backward(g, loss);
    return sd_dist_sync_end(sync, extra, n_extra) || rc ? -1 : 0;
}

/* z ~ N(0,1) for the whole batch (every rank draws the same); fake = G(this
 * rank's rows of z) on gG, kept for the G step; then one Adam step of D on
 * real -> 1 and fake (detached) -> 0, its gradient averaged over the ranks.
 * Nothing is updated if L_D is not finite. */
int sd_gan_d_step(sd_gan *s, const float *real, sd_rng *rng, sd_gan_stats *st)
{
    const int B = s->batch, n = s->count;
    for (int i = 0; i < B * s->nz; i++) s->z[i] = sd_rng_normal(rng);
    sd_graph_reset(s->gG);
    sd_graph_reset(s->gD);
    s->fake = sd_model_forward(s->gG, s->G, sd_input(s->gG, s->z + (size_t)s->first * s->nz, SD_SHAPE(n, s->nz)));
    if (!s->fake) return sd_error_prefix("generator");
    const sd_shape din = sd_model_input_shape(s->D);
    const size_t img = sd_shape_numel(din);
    real += (size_t)s->first * img;
    sd_tensor *loss;
    float d_real = 0.0f, d_fake = 0.0f;
    if (s->joint) {
        /* Without batch statistics in D, D(real) and D(fake) are rows of one
         * forward over [real; fake] (2n rows: larger, cheaper GEMMs), and
         * bce(real, 1) + bce(fake, 0) = 2 bce([real; fake], [1; 0]) */
        memcpy(s->xcat, real, n * img * sizeof(float));
        memcpy(s->xcat + n * img, s->fake->data, n * img * sizeof(float));
        sd_tensor *l = sd_model_forward(s->gD, s->D, sd_input(s->gD, s->xcat, batch_of(din, 2 * n)));
        sd_tensor *t = sd_zeros(s->gD, SD_SHAPE(2 * n, 1));
        for (int i = 0; t && i < n; i++) t->data[i] = s->real_target;
        loss = sd_scale(s->gD, sd_bce_logits(s->gD, l, t), 2.0f);
        if (loss) {
            d_real = mean_sigmoid(l->data, n);
            d_fake = mean_sigmoid(l->data + n, n);
        }
    } else {   /* batchnorm in D: real and fake batches normalised separately, as in PyTorch's DCGAN */
        sd_tensor *lr = sd_model_forward(s->gD, s->D, sd_input(s->gD, real, batch_of(din, n)));
        sd_tensor *lf = sd_model_forward(s->gD, s->D, sd_input(s->gD, s->fake->data, batch_of(din, n)));
        loss = sd_gan_d_loss_smooth(s->gD, lr, lf, 1.0f - s->real_target);
        if (loss) {
            d_real = mean_sigmoid(lr->data, n);
            d_fake = mean_sigmoid(lf->data, n);
        }
    }
    if (!loss) return sd_error_prefix("discriminator");
    double r[3] = { loss->data[0] * s->share, d_real * s->share, d_fake * s->share };
    if (backward_synced(s->syncD, s->gD, sd_model_params(s->D), loss, s->share, r, 3)) return -1;
    st->d_loss = (float)r[0];
    st->d_real = (float)r[1];
    st->d_fake = (float)r[2];
    if (!isfinite(st->d_loss)) return sd_error("the D loss is %s", isnan(st->d_loss) ? "NaN" : "infinite");
    sd_optim_step(s->optD);
    return 0;
}

/* One Adam step of G through D, D's parameters frozen: D's weights and
 * gradients are left exactly as they were. G's gradient is averaged over the
 * ranks, and so is the stop request. Nothing is updated if L_G is not finite. */
int sd_gan_g_step(sd_gan *s, sd_gan_stats *st)
{
    if (!s->fake) return sd_error("sd_gan_g_step: no generated batch (run sd_gan_d_step first)");
    sd_params *PD = sd_model_params(s->D);
    sd_params_set_frozen(PD, 1);
    sd_tensor *x = sd_reshape(s->gG, s->fake, batch_of(sd_model_input_shape(s->D), s->count));
    sd_tensor *loss = sd_gan_g_loss(s->gG, sd_model_forward(s->gG, s->D, x), s->loss);
    sd_params_set_frozen(PD, 0);
    s->fake = NULL;
    if (!loss) return -1;
    double r[2] = { loss->data[0] * s->share, st->stop != 0 };
    if (backward_synced(s->syncG, s->gG, sd_model_params(s->G), loss, s->share, r, 2)) return -1;
    st->g_loss = (float)r[0];
    st->stop = r[1] > 0;
    if (!isfinite(st->g_loss)) return sd_error("the G loss is %s", isnan(st->g_loss) ? "NaN" : "infinite");
    sd_optim_step(s->optG);
    return 0;
}

int sd_gan_step(sd_gan *s, const float *real, sd_rng *rng, sd_gan_stats *st)
{
    return sd_gan_d_step(s, real, rng, st) || sd_gan_g_step(s, st) ? -1 : 0;
}

size_t sd_gan_grow_count(const sd_gan *s) { return sd_graph_grow_count(s->gG) + sd_graph_grow_count(s->gD); }

sd_optim *sd_gan_optim(sd_gan *s, int discriminator) { return discriminator ? s->optD : s->optG; }

double sd_gan_sync_wait(const sd_gan *s)
{
    return sd_dist_sync_get_stats(s->syncG).wait_s + sd_dist_sync_get_stats(s->syncD).wait_s;
}

/* ---- Sampling and scoring */

/* The generator file: G's (averaged) weights, kind gan-generator. */
static int save_generator(const sd_model *G, const char *path)
{
    const sd_st_kv kind = { "shendu.kind", sd_kind_name(SD_FILE_GENERATOR) };
    return sd_model_save_with(G, path, NULL, 0, &kind, 1);
}

/* Images generated or classified at a time: a graph without gradients still
 * holds every layer's output and im2col columns for the whole batch (about
 * 2 MB an image for the DCGAN's G), so memory follows this number, and speed
 * hardly does beyond a few images per thread. */
enum { GEN_BATCH = 32 };

/* out (b, image) = G(z) for z (b, nz), b <= GEN_BATCH, in evaluation mode, on graph g. */
static int generate_batch(sd_graph *g, sd_model *G, const float *z, int b, float *out)
{
    const int nz = sd_model_input_shape(G).d[0];
    const size_t img = sd_shape_numel(sd_model_output_shape(G));
    int was = sd_model_training(G);
    sd_model_set_training(G, 0);
    sd_graph_reset(g);
    sd_tensor *y = sd_model_forward(g, G, sd_input(g, z, SD_SHAPE(b, nz)));
    if (y) memcpy(out, y->data, (size_t)b * img * sizeof(float));
    sd_model_set_training(G, was);
    return y ? 0 : -1;
}

/* A graph for evaluation: `borrow` (a training graph between two steps: its
 * arena, already as large as a training step's, is reused instead of a second
 * one beside it; the DCGAN's peak memory fell by 50 MB) or a new one. */
static sd_graph *eval_graph(sd_ctx *ctx, sd_graph *borrow)
{
    sd_graph *g = borrow ? borrow : sd_graph_new(ctx);
    if (g) sd_graph_set_grad(g, 0);
    return g;
}

static void eval_graph_done(sd_graph *g, sd_graph *borrow)
{
    if (!g) return;
    if (g != borrow) { sd_graph_free(g); return; }
    sd_graph_reset(g);
    sd_graph_set_grad(g, 1);
}

/* out (n, image) = G(z) for z (n, nz), in evaluation mode, GEN_BATCH at a time
 * (on `borrow`, a graph of the caller's, or a new one). */
static int generate(sd_ctx *ctx, sd_graph *borrow, sd_model *G, const float *z, int n, float *out)
{
    const int nz = sd_model_input_shape(G).d[0];
    const size_t img = sd_shape_numel(sd_model_output_shape(G));
    sd_graph *g = eval_graph(ctx, borrow);
    if (!g) return -1;
    int rc = 0;
    for (int i = 0; i < n && !rc; i += GEN_BATCH) {
        int b = n - i < GEN_BATCH ? n - i : GEN_BATCH;
        rc = generate_batch(g, G, z + (size_t)i * nz, b, out + (size_t)i * img);
    }
    eval_graph_done(g, borrow);
    return rc;
}

double sd_inception_score(const float *p, int n, int k)
{
    if (n < 1 || k < 1) return NAN;
    double *py = calloc((size_t)k, sizeof *py), kl = 0.0;
    if (!py) return NAN;
    for (int i = 0; i < n; i++)
        for (int j = 0; j < k; j++) py[j] += p[(size_t)i * k + j];
    for (int j = 0; j < k; j++) py[j] /= n;
    for (int i = 0; i < n; i++)   /* KL(p(y|x) || p(y)), with 0 log 0 = 0 */
        for (int j = 0; j < k; j++) {
            double q = p[(size_t)i * k + j];
            if (q > 0.0) kl += q * (log(q) - log(py[j]));
        }
    free(py);
    return exp(kl / n);
}

/* A classifier for images of shape `img`: not a generator, right input, class scores out. */
int sd_app_check_classifier(const sd_model *cls, const char *path, sd_shape img, uint64_t max_memory)
{
    const char *role = sd_model_meta_get(cls, "role");
    sd_shape in = sd_model_input_shape(cls), out = sd_model_output_shape(cls);
    char a[64], b[64];
    if (role && !strcmp(role, "generator"))
        return sd_error("%s is a GAN generator, not a classifier (train one with: shendu train --model cnn "
                        "--out CLS.safetensors)", path);
    if (!sd_shape_eq(in, img))
        return sd_error("%s takes inputs of shape %s, but the images are %s", path, sd_shape_str(in, a, 64),
                        sd_shape_str(img, b, 64));
    if (out.ndim != 1 || out.d[0] < 2)
        return sd_error("%s is not a classifier (its output has shape %s)", path, sd_shape_str(out, a, 64));
    float scale, shift;
    if (sd_app_classifier_inputs(cls, path, &scale, &shift)) return -1;
    if (sd_model_check_memory(cls, GEN_BATCH, 0, max_memory)) return sd_error_prefix("%s", path);   /* score_images' batches */
    return 0;
}

/* The classifier scores pictures of data set d: its classes are d's. */
static int check_classifier_data(const sd_model *cls, const char *path, const sd_dataset *d, const char *dir)
{
    int k = sd_model_output_shape(cls).d[0];
    if (k != d->nclass)
        return sd_error("%s has %d classes but the data of %s has %d: the score needs a classifier of the same "
                        "classes", path, k, dir, d->nclass);
    return 0;
}

/* Generator outputs in [-1, 1] -> the 8-bit pixels a PNG of them shows. */
static void to_pixels(const float *x, size_t n, uint8_t *px)
{
    for (size_t i = 0; i < n; i++) {
        float v = (x[i] + 1.0f) * 127.5f;
        px[i] = (uint8_t)(v > 0.0f ? (v < 255.0f ? lrintf(v) : 255) : 0);   /* NaN -> 0 */
    }
}

/* p (b, k) = p(y|x) of b <= GEN_BATCH images given as 8-bit pixels (b, image),
 * with the classifier's own input scaling, on graph g (evaluation mode); x: room
 * for GEN_BATCH images. */
static int classify_pixels(sd_graph *g, sd_model *cls, const uint8_t *px, int b, float *x, float *p)
{
    const sd_shape in = sd_model_input_shape(cls);
    const size_t img = sd_shape_numel(in);
    const int k = sd_model_output_shape(cls).d[0];
    float scale, shift;
    if (sd_app_classifier_inputs(cls, "the classifier", &scale, &shift)) return -1;
    for (size_t j = 0; j < (size_t)b * img; j++) x[j] = px[j] * scale + shift;
    int was = sd_model_training(cls);
    sd_model_set_training(cls, 0);
    sd_graph_reset(g);
    sd_tensor *y = sd_softmax(g, sd_model_forward(g, cls, sd_input(g, x, batch_of(in, b))));
    if (y) memcpy(p, y->data, (size_t)b * k * sizeof *p);
    sd_model_set_training(cls, was);
    return y ? 0 : -1;
}

/* Inception score of n images: real ones given as 8-bit pixels (n, image), or
 * (px NULL) n samples of G with noise from rng. Streams: a batch is made (or
 * taken), turned into pixels and classified before the next, so memory stays
 * that of one batch whatever n is; only p(y|x) (n, classes) is kept. */
static int score_images(sd_ctx *ctx, sd_graph *const borrow[2], sd_model *G, sd_rng *rng, const uint8_t *px,
                        sd_model *cls, int n, double *score, volatile sig_atomic_t *stop)
{
    const size_t img = sd_shape_numel(sd_model_input_shape(cls));
    const int k = sd_model_output_shape(cls).d[0], nz = G ? sd_model_input_shape(G).d[0] : 0;
    float *x = malloc(GEN_BATCH * img * sizeof *x), *p = malloc((size_t)n * k * sizeof *p);
    float *z = G ? malloc((size_t)GEN_BATCH * nz * sizeof *z) : NULL, *gx = G ? malloc(GEN_BATCH * img * sizeof *gx) : NULL;
    uint8_t *own = G ? malloc(GEN_BATCH * img) : NULL;
    sd_graph *b0 = borrow ? borrow[0] : NULL, *b1 = borrow ? borrow[1] : NULL;
    sd_graph *gc = eval_graph(ctx, b0), *gg = G ? eval_graph(ctx, b1) : NULL;
    int rc = -1;
    if (!x || !p || !gc || (G && (!z || !gx || !own || !gg))) { sd_error("out of memory scoring %d images", n); goto done; }
    for (int i = 0; i < n; i += GEN_BATCH) {
        if (stop && *stop) { rc = SD_STOPPED; goto done; }   /* a stop: checked every batch (milliseconds) */
        const int b = n - i < GEN_BATCH ? n - i : GEN_BATCH;
        const uint8_t *batch = px ? px + (size_t)i * img : own;
        if (G) {
            for (int j = 0; j < b * nz; j++) z[j] = sd_rng_normal(rng);
            if (generate_batch(gg, G, z, b, gx)) goto done;
            to_pixels(gx, (size_t)b * img, own);
        }
        if (classify_pixels(gc, cls, batch, b, x, p + (size_t)i * k)) goto done;
    }
    *score = sd_inception_score(p, n, k);
    rc = 0;
done:
    eval_graph_done(gg, b1);
    eval_graph_done(gc, b0);
    free(own);
    free(gx);
    free(z);
    free(p);
    free(x);
    return rc;
}

int sd_app_score_pixels(sd_ctx *ctx, sd_model *cls, const uint8_t *px, int n, double *score)
{
    return score_images(ctx, NULL, NULL, NULL, px, cls, n, score, NULL);
}

/* Score of n samples of G (noise from rng); SD_STOPPED if *stop is set meanwhile (stop may be NULL). */
static int score_generator(sd_ctx *ctx, sd_graph *const borrow[2], sd_model *G, sd_model *cls, int n, sd_rng *rng,
                           double *score, volatile sig_atomic_t *stop)
{
    return score_images(ctx, borrow, G, rng, NULL, cls, n, score, stop);
}

/* ---- Files */

int sd_app_make_dir(const char *dir)
{
    if (mkdir(dir, 0777) && errno != EEXIST) return sd_error("%s: cannot create directory: %s", dir, strerror(errno));
    return 0;
}

/* n images (n, 1, h, w) in [-1, 1] as a grid PNG, `cols` per row, each pixel doubled. */
int sd_app_save_grid(const char *path, const float *x, int n, sd_shape img, int cols)
{
    sd_image grid = { 0 }, big = { 0 };
    int rc = sd_image_grid(x, n, img.d[0], img.d[1], img.d[2], cols, 2, -1.0f, 1.0f, &grid);
    if (!rc) rc = sd_image_scale_nearest(&grid, 2, &big);
    if (!rc) rc = sd_image_save_png(path, &big);
    sd_image_free(&grid);
    sd_image_free(&big);
    return rc;
}

/* A generator file: role "generator", its image shape and noise size. */
static sd_model *load_generator(const char *path, sd_shape *img, uint64_t max_memory)
{
    if (sd_file_expect_kind(path, SD_KIND_BIT(SD_FILE_GENERATOR) | SD_KIND_BIT(SD_FILE_GAN_CKPT),
                            "a GAN generator"))
        return NULL;
    sd_model *G = sd_model_load_with(path, max_memory);
    if (!G) return NULL;
    const char *role = sd_model_meta_get(G, "role"), *shape = sd_model_meta_get(G, "image_shape");
    int d[3], k = shape ? sscanf(shape, "%d,%d,%d", &d[0], &d[1], &d[2]) : 0;
    if (!role || strcmp(role, "generator")) {
        sd_error("%s is not a GAN generator (its metadata has no role=generator%s): make one with shendu gan",
                 path, sd_model_meta_get(G, "classes") || sd_model_input_shape(G).ndim == 3 ? "; it is a classifier" : "");
        goto fail;
    }
    if (k != 3 || d[0] != 1 || d[1] < 1 || d[2] < 1 || (size_t)d[1] * d[2] != sd_shape_numel(sd_model_output_shape(G)) ||
        sd_model_input_shape(G).ndim != 1) {
        sd_error("%s: bad generator metadata (image_shape '%s')", path, shape ? shape : "");
        goto fail;
    }
    *img = sd_shape_of(d, 3);
    if (sd_model_check_memory(G, 500, 0, max_memory)) {   /* generate()'s batches */
        sd_error_prefix("%s", path);
        goto fail;
    }
    return G;
fail:
    sd_model_free(G);
    return NULL;
}

int sd_app_check_not_generator(const sd_model *m, const char *path)
{
    const char *role = sd_model_meta_get(m, "role");
    if (role && !strcmp(role, "generator"))
        return sd_error("%s is a GAN generator, not a classifier: draw pictures with it using "
                        "shendu gan sample %s --out grid.png", path, path);
    return 0;
}

/* ---- shendu gan: train */

static void progress(FILE *f, int epoch, int epochs, int step, int steps, const sd_gan_stats *m, double ips,
                     double eta)
{
    fprintf(f, "\r\033[Kepoch %d/%d  step %d/%d  D loss %.3f  G loss %.3f  D(x) %.2f  D(G(z)) %.2f  %.0f img/s  "
            "ETA %dm%02ds", epoch, epochs, step, steps, m->d_loss, m->g_loss, m->d_real, m->d_fake, ips,
            (int)eta / 60, (int)eta % 60);
    fflush(f);
}

/* DCGAN's initialisation: weights N(0, 0.02), batchnorm scales N(1, 0.02), biases 0. */
static void dcgan_init(sd_params *P, sd_rng *rng)
{
    for (int i = 0; i < sd_params_count(P); i++) {
        float *w = sd_params_data(P, i);
        sd_shape s = sd_params_shape(P, i);
        size_t n = sd_shape_numel(s);
        int bias = strstr(sd_params_name(P, i), ".bias") != NULL, scale = !bias && s.ndim == 1;
        for (size_t k = 0; k < n; k++) w[k] = bias ? 0.0f : (scale ? 1.0f : 0.0f) + 0.02f * sd_rng_normal(rng);
    }
}

/* Gavg <- the moving average of G's weights and batchnorm statistics after
 * `t` steps. The decay ramps up as min(decay, (1 + t) / (10 + t)), so the
 * average forgets the random initial weights within the first few hundred steps. */
static int update_average(sd_model *Gavg, sd_model *G, float decay, long t)
{
    float d = (1.0f + t) / (10.0f + t);
    if (d > decay) d = decay;
    return sd_params_ema(sd_model_params(Gavg), sd_model_params(G), d) ||
           sd_params_ema(sd_model_state(Gavg), sd_model_state(G), d);
}

/* Every rank must train with the same configuration and make the same
 * collective calls; a difference ends every rank with the same message. */
static int check_same_config(const sd_gan_train_opts *o)
{
    sd_gan_train_opts c = *o;
    if (!c.data_dir) c.data_dir = sd_data_default_dir();
    if (sd_app_same_config(o->dist, sd_gan_config_fields, SD_GAN_CONFIG_FREE_FROM, &c, o->overlap,
                           o->checkpoint ? o->checkpoint_every : -1, o->stop_after)) return -1;
    return sd_app_same_setting(o->dist, "resume (1: given)", o->resume ? "1" : "0") == 1 ? 0 : -1;
}

/* Under MPI, batchnorm's running statistics are each rank's own: their mean
 * over the ranks is what gets saved (and then kept, on every rank). */
static int average_states(sd_dist *dist, sd_model *G, sd_model *Gavg, sd_model *D)
{
    sd_model *ms[3] = { G, Gavg, D };
    for (int i = 0; i < 3 && sd_dist_size(dist) > 1; i++) {
        sd_params *S = ms[i] ? sd_model_state(ms[i]) : NULL;
        if (S && sd_params_size(S) && sd_dist_allreduce_mean(dist, sd_params_values(S), sd_params_size(S))) return -1;
    }
    return 0;
}

/* A training run's moving parts, for the epoch loop and its checkpoints. */
typedef struct gan_run {
    const sd_gan_train_opts *o;
    sd_gan *gan;
    sd_model *G, *Gavg, *D;
    sd_batcher *bt;
    sd_rng *rng;
    int ntrain, steps;       /* training images; full batches per epoch */
    sd_gan_progress p;
    /* for the hooks of sd_trainer_run */
    sd_gan_result *r;
    sd_ctx *ctx;
    sd_model *Gout, *cls;    /* the generator sampled, scored and saved; the scoring classifier (or NULL) */
    const float *zfix;       /* the grid's fixed noise, nfix samples */
    float *samples;
    int nfix, nscore;
    const char *out;
    FILE *log;
    sd_gan_stats last;       /* the last step's (the live line) */
    double t0, last_draw, train_time;
    int first;               /* p.step when this epoch began here (a resume starts inside one) */
    long images;
    int stopped_scoring;     /* > 0: a stop came while the end of this epoch was scored */
} gan_run;

/* ---- The GAN's part of the training loop (sd_trainer_run's hooks) */

/* One D+G step on the epoch's next full batch, then Gavg's update. */
static int gan_step(void *user, sd_trainer_io *io)
{
    gan_run *R = user;
    const sd_gan_train_opts *o = R->o;
    sd_gan_stats st;
    sd_batch b;
    do {
        if (!sd_batcher_next(R->bt, &b)) return 1;
    } while (b.n < o->batch);   /* the last partial batch is dropped, as in gan.py */
    st.stop = io->want_stop;   /* agreed over the ranks by the G step */
    if (sd_gan_step(R->gan, b.x, R->rng, &st))
        return sd_error_prefix("training diverged at epoch %d step %d (step %lld overall); stopped before "
                               "writing this epoch's samples", io->epoch, R->p.step + 1, (long long)io->step);
    if (R->Gavg && update_average(R->Gavg, R->G, o->ema, (long)io->step - 1)) return -1;
    double *sum = R->p.sums;
    sum[0] += st.d_loss; sum[1] += st.g_loss; sum[2] += st.d_real; sum[3] += st.d_fake;
    R->p.step++;
    R->last = st;
    io->stop = st.stop;
    io->items = o->batch;
    io->values[0] = st.d_loss, io->values[1] = st.g_loss, io->values[2] = st.d_real, io->values[3] = st.d_fake;
    return 0;
}

static int gan_checkpoint(void *user, const sd_trainer_io *io)
{
    gan_run *R = user;
    const sd_gan_train_opts *o = R->o;
    (void)io;
    return average_states(o->dist, R->G, R->Gavg, R->D) ||
           (sd_dist_rank(o->dist) == 0 &&
            sd_gan_checkpoint_save(o->checkpoint, o, R->G, R->Gavg, R->D, R->gan, R->rng, R->bt, R->ntrain, &R->p));
}

static int gan_live(void *user, const sd_trainer_io *io)
{
    gan_run *R = user;
    const sd_gan_train_opts *o = R->o;
    if (!o->live_progress) return 0;
    double now = sd_time_now();
    if (now - R->last_draw > 0.25 || R->p.step == R->steps) {
        double ips = (double)(R->p.step - R->first) * o->batch / (now - R->t0);
        progress(stderr, io->epoch, o->epochs, R->p.step, R->steps, &R->last, ips,
                 ((double)(R->steps - R->p.step) + (double)(o->epochs - io->epoch) * R->steps) * o->batch / ips);
        R->last_draw = now;
    }
    return 0;
}

static void gan_where(void *user, char *buf, size_t size)
{
    gan_run *R = user;
    if (R->stopped_scoring) snprintf(buf, size, "the end of epoch %d (its score not taken)", R->stopped_scoring);
    else snprintf(buf, size, "epoch %d step %d", R->p.epoch, R->p.step);
}

/* The epoch's end: the means of its steps; on rank 0 the fixed noise's
 * samples, the generator so far and its score, the summary line. */
static int gan_epoch_end(void *user, int epoch, double *values)
{
    gan_run *R = user;
    const sd_gan_train_opts *o = R->o;
    sd_gan_result *r = R->r;
    const double dt = sd_time_now() - R->t0;
    const int done_here = R->p.step - R->first, steps = R->steps;
    R->train_time += dt;
    R->images += (long)done_here * o->batch;
    r->epochs = epoch;
    r->d_loss = R->p.sums[0] / steps;
    r->g_loss = R->p.sums[1] / steps;
    r->d_real = R->p.sums[2] / steps;
    r->d_fake = R->p.sums[3] / steps;
    if (average_states(o->dist, R->G, R->Gavg, R->D)) return -1;
    if (sd_dist_rank(o->dist) == 0) {
        char path[4200], buf[32];
        sd_graph *const borrow[2] = { R->gan->gD, R->gan->gG };   /* free between two steps */
        if (generate(R->ctx, borrow[0], R->Gout, R->zfix, R->nfix, R->samples)) return -1;
        snprintf(path, sizeof path, "%s/epoch_%03d.png", R->out, epoch);
        if (sd_app_save_grid(path, R->samples, R->nfix, image_shape(), 8)) return -1;
        snprintf(buf, sizeof buf, "%d", epoch);
        if (sd_model_meta_set(R->Gout, "epochs", buf) || save_generator(R->Gout, r->generator)) return -1;
        fprintf(R->log, "epoch %d/%d  D loss %.4f  G loss %.4f  D(x) %.3f  D(G(z)) %.3f  %.0f img/s  %.1fs", epoch,
                o->epochs, r->d_loss, r->g_loss, r->d_real, r->d_fake, done_here * o->batch / dt, dt);
        if (R->cls) {
            sd_rng srng;
            sd_rng_seed(&srng, o->seed + 1);   /* the same noise every epoch */
            int sc = score_generator(R->ctx, borrow, R->Gout, R->cls, R->nscore, &srng, &r->score, o->stop);
            if (sc == SD_STOPPED && sd_dist_size(o->dist) == 1) {   /* the run resumes at the next epoch */
                fprintf(R->log, "\n");
                R->stopped_scoring = epoch;
                R->p.epoch = epoch + 1;
                R->p.step = R->first = 0;
                memset(R->p.sums, 0, sizeof R->p.sums);
                return SD_STOPPED;
            }
            if (sc == SD_STOPPED) {   /* ranks: the others wait at the next step, where every rank agrees to stop */
                r->score = NAN;
                fprintf(R->log, "  score skipped (a stop came)");
            } else if (sc) return -1;
            else fprintf(R->log, "  score %.3f (%.1f%% of real)", r->score, 100.0 * r->score / r->real_score);
        }
        fprintf(R->log, "  -> %s\n", path);
        fflush(R->log);
        values[0] = r->d_loss, values[1] = r->g_loss, values[2] = r->d_real, values[3] = r->d_fake;
        values[4] = R->cls ? r->score : NAN;
    }
    R->p.epoch = epoch + 1;   /* the next epoch begins */
    R->p.step = R->first = 0;
    memset(R->p.sums, 0, sizeof R->p.sums);
    R->t0 = sd_time_now();
    R->last_draw = 0.0;
    return 0;
}

int sd_app_gan_train(const sd_gan_train_opts *o, sd_gan_result *r, FILE *log)
{
    double t_start = sd_time_now();
    memset(r, 0, sizeof *r);
    r->score = r->real_score = NAN;
    const char *dir = o->data_dir ? o->data_dir : sd_data_default_dir(), *out = o->out_dir ? o->out_dir : "gan-out";
    const gan_arch *A = find_arch(o->arch ? o->arch : "mlp");
    if (!A) return -1;
    if (o->epochs < 1 || o->batch < 2) return sd_error("epochs must be at least 1 and batch at least 2");
    if (!(o->ema >= 0.0f && o->ema < 1.0f)) return sd_error("the generator's average decay must be in [0, 1), not %g", o->ema);
    if (!(o->smooth >= 0.0f && o->smooth < 0.5f)) return sd_error("label smoothing must be in [0, 0.5), not %g", o->smooth);
    const int rank = sd_dist_rank(o->dist), nranks = sd_dist_size(o->dist);
    if (nranks > 1 && check_same_config(o)) {
        r->failed_everywhere = 1;
        return -1;
    }
    const int threads = sd_dist_threads(o->dist, o->threads);
    sd_dataset train = { 0 }, test = { 0 };
    sd_ctx *ctx = NULL;
    sd_model *G = NULL, *D = NULL, *cls = NULL, *Gavg = NULL, *Gout = NULL;   /* Gout: sampled, scored, saved */
    sd_gan *gan = NULL;
    sd_batcher *bt = NULL;
    sd_trainer *tr = NULL;
    float *zfix = NULL, *samples = NULL;
    int rc = -1;
    char buf[64], s1[64];
    const sd_shape img = image_shape();

    snprintf(r->generator, sizeof r->generator, "%s/generator.safetensors", out);
    if (rank == 0) {   /* before any work: no output replaces an input, and every output can be written */
        const sd_path_use uses[] = { { o->classifier, SD_PATH_INPUT, "--classifier" },
                                     { o->resume, SD_PATH_RESUME, "--resume" }, { out, SD_PATH_OUTPUT_DIR, "--out" },
                                     { r->generator, SD_PATH_OUTPUT, "the generator (in --out)" },
                                     { o->checkpoint, SD_PATH_CHECKPOINT, "--checkpoint" },
                                     { o->track.log, SD_PATH_APPEND, "--log" } };
        if (sd_app_check_paths(dir, uses, 6)) goto done;
    }
    if (o->classifier) {   /* refuse a wrong classifier before hours of training */
        if (sd_file_expect_kind(o->classifier, SD_KINDS_CLASSIFIER, "an image classifier") ||
            !(cls = sd_model_load_with(o->classifier, o->max_memory)) ||
            sd_app_check_classifier(cls, o->classifier, img, o->max_memory)) goto done;
    }
    if (sd_dataset_load_mnist(dir, "train", &train)) goto done;
    if (train.c != img.d[0] || train.h != img.d[1] || train.w != img.d[2]) {
        sd_error("the %s GAN draws %dx%d gray images, but %s has %dx%dx%d images (channels x height x width)",
                 A->name, img.d[1], img.d[2], dir, train.c, train.h, train.w);
        goto done;
    }
    if (cls) {   /* the real test images are scored too, before any training */
        if (sd_dataset_load_mnist(dir, "t10k", &test)) goto done;
        char what_train[4200];
        snprintf(what_train, sizeof what_train, "the training set of %s", dir);
        if (sd_dataset_check_same_shape(&train, what_train, &test, "its test set (t10k)") ||
            check_classifier_data(cls, o->classifier, &train, dir)) goto done;
    }
    if (o->limit_train > 0 && o->limit_train < train.n) sd_dataset_truncate(&train, o->limit_train);
    if (train.n < o->batch) {
        sd_error("%s: %d training images, fewer than one batch of %d", dir, train.n, o->batch);
        goto done;
    }
    if (rank == 0 && sd_app_make_dir(out)) goto done;

    sd_rng rng, fixed;
    sd_rng_seed(&rng, o->seed);
    sd_rng_seed(&fixed, o->seed ^ 0x9e3779b97f4a7c15ull);   /* the grid's noise: the same every epoch */
    if (!(ctx = sd_ctx_new(&(sd_ctx_opts){ .threads = threads }))) goto done;
    sd_app_use_precision(ctx, o->precision, log);
    if (!(G = sd_model_new(A->G, SD_SHAPE(A->nz), SD_INIT_DEFAULT, &rng)) ||
        !(D = sd_model_new(A->D, !strcmp(A->name, "mlp") ? SD_SHAPE((int)sd_shape_numel(img)) : img,
                           SD_INIT_DEFAULT, &rng))) {
        sd_error_prefix("%s GAN", A->name);
        goto done;
    }
    if (!strcmp(A->name, "dcgan")) {
        dcgan_init(sd_model_params(G), &rng);
        dcgan_init(sd_model_params(D), &rng);
    }
    /* a step: G on a batch, D on the real and the fake batch; the samples' batches of 500 */
    if (sd_model_check_memory(G, o->batch, 1, o->max_memory) || sd_model_check_memory(D, 2 * (int64_t)o->batch, 1, o->max_memory) ||
        sd_model_check_memory(G, 500, 0, o->max_memory)) {
        sd_error_prefix("%s GAN, batch %d", A->name, o->batch);
        goto done;
    }
    Gout = G;
    if (o->ema > 0.0f) {   /* the average starts as G's initial weights */
        sd_rng unused;
        sd_rng_seed(&unused, 0);
        if (!(Gavg = sd_model_new(A->G, SD_SHAPE(A->nz), SD_INIT_DEFAULT, &unused)) ||
            sd_params_copy(sd_model_params(Gavg), sd_model_params(G)) ||
            sd_params_copy(sd_model_state(Gavg), sd_model_state(G))) goto done;
        Gout = Gavg;
    }
    if (!(gan = sd_gan_new(ctx, G, D, &(sd_gan_opts){ .batch = o->batch, .loss = o->loss, .lr = o->lr,
                                                      .smooth = o->smooth, .dist = o->dist, .overlap = o->overlap })))
        goto done;
    /* x = pixel / 127.5 - 1, in tanh's range */
    if (!(bt = sd_batcher_new(&train, &(sd_batcher_opts){ .batch = o->batch, .shuffle = 1, .scale = 1.0f / 127.5f,
                                                          .shift = -1.0f }, &rng))) goto done;
    const int nfix = 64;
    zfix = malloc((size_t)nfix * A->nz * sizeof *zfix);
    samples = malloc((size_t)nfix * sd_shape_numel(img) * sizeof *samples);
    if (!zfix || !samples) { sd_error("out of memory"); goto done; }
    for (int i = 0; i < nfix * A->nz; i++) zfix[i] = sd_rng_normal(&fixed);

    /* what `gan sample` and `gan score` need to know about the generator */
    snprintf(buf, sizeof buf, "%d", A->nz);
    snprintf(s1, sizeof s1, "%d,%d,%d", img.d[0], img.d[1], img.d[2]);
    char s2[32];
    snprintf(s2, sizeof s2, "%g", o->ema);
    if (sd_model_meta_set(Gout, "role", "generator") || sd_model_meta_set(Gout, "gan_arch", A->name) ||
        sd_model_meta_set(Gout, "noise_dim", buf) || sd_model_meta_set(Gout, "image_shape", s1) ||
        sd_model_meta_set(Gout, "output_range", "-1,1") || sd_model_meta_set(Gout, "dataset", dir) ||
        sd_model_meta_set(Gout, "loss", sd_gan_loss_name(o->loss)) || sd_model_meta_set(Gout, "ema", s2)) goto done;

    int nscore = 0;
    if (cls) {   /* the score of real test images, for reference; G's after every epoch */
        nscore = o->score_n > 0 ? o->score_n : 10000;
        if (nscore > test.n) nscore = test.n;
        /* one process honours a stop here (ranks would disagree on it: theirs comes at step 1) */
        sd_graph *const borrow[2] = { gan->gD, gan->gG };   /* (no step taken yet) */
        int sc = score_images(ctx, borrow, NULL, NULL, test.images, cls, nscore, &r->real_score,
                              nranks == 1 ? o->stop : NULL);
        if (sc == SD_STOPPED) {
            fprintf(log, "stopped while scoring the real test images: nothing trained, nothing saved\n");
            rc = SD_STOPPED;
        }
        if (sc) goto done;
        fprintf(log, "inception score of %d real test images (classifier %s): %.3f\n", nscore, o->classifier,
                r->real_score);
    }
    const int steps = train.n / o->batch;   /* the last partial batch is dropped, as in gan.py */
    char smooth_note[64] = "";
    if (o->smooth > 0) snprintf(smooth_note, sizeof smooth_note, ", real target %g (label smoothing)", 1.0 - o->smooth);
    gan_run R = { .o = o, .gan = gan, .G = G, .Gavg = Gavg, .D = D, .bt = bt, .rng = &rng, .ntrain = train.n,
                  .steps = steps, .p = { .epoch = 1 } };
    if (o->resume) {
        if (sd_gan_checkpoint_restore(o->resume, G, Gavg, D, gan, &rng, bt, train.n, steps, &R.p)) goto done;
        fprintf(log, "resuming %s at epoch %d, step %d (%lld steps done)\n", o->resume, R.p.epoch, R.p.step,
                (long long)sd_optim_steps(sd_gan_optim(gan, 0)));
    }
    if (nranks > 1) {
        sd_params *PG = sd_model_params(G), *PD = sd_model_params(D);
        const sd_chunk start[] = { { sd_params_values(PG), sd_params_size(PG) * sizeof(float) },
                                   { sd_params_values(PD), sd_params_size(PD) * sizeof(float) },
                                   { sd_batcher_order(bt), (size_t)train.n * sizeof(int32_t) } };
        int same = sd_app_same_start(o->dist, start, 3, o->resume != NULL);
        if (same <= 0) { r->failed_everywhere = same == 0; goto done; }
        fprintf(log, "data parallel: %d ranks x %d threads, each %d or %d of the %d images of a step; gradients "
                     "all-reduced %s\n", nranks, sd_ctx_threads(ctx), o->batch / nranks, (o->batch + nranks - 1) / nranks,
                o->batch, o->overlap ? "in buckets during backward" : "once per step");
    }
    r->ranks = nranks;
    fprintf(log, "training the %s GAN (G %zu, D %zu parameters) on %s: %d images, %d steps of %d per epoch, "
            "Adam lr %g beta1 0.5, %s G loss%s, %d threads%s\n", A->name, sd_params_numel(sd_model_params(G)),
            sd_params_numel(sd_model_params(D)), dir, train.n, steps, o->batch, o->lr > 0 ? o->lr : 2e-4,
            o->loss == SD_GAN_MINIMAX ? "minimax" : "non-saturating", smooth_note, sd_ctx_threads(ctx),
            Gavg ? "; samples, score and file from G's moving average" : "");
    static const char *const log_keys[] = { "d_loss", "g_loss", "d_real", "d_fake", "score", NULL };
    char sn[32];   /* the resume hint: the outputs to name again */
    snprintf(sn, sizeof sn, "%d", o->score_n);
    const char *const hint[] = { "out", out, "classifier", o->classifier, "score-n", o->classifier && o->score_n ? sn : NULL };
    sd_gan_train_opts cfg = *o;
    cfg.data_dir = dir;
    if (!(tr = sd_trainer_new(&(sd_trainer_opts){ .unit = "img", .keys = log_keys, .total_steps = (int64_t)steps * o->epochs,
                                                    .steps_per_epoch = steps, .epochs = o->epochs, .flags = o->track,
                                                    .default_log_every = 10, .live = o->live_progress, .rank = rank,
                                                    .resume_step = o->resume ? (int64_t)(R.p.epoch - 1) * steps + R.p.step : 0,
                                                    .out = out, .out_is_dir = 1, .cmd = "gan",
                                                    .config = sd_gan_config_fields, .config_opts = &cfg,
                                                    .stop = o->stop, .stop_after = o->stop_after, .log = log,
                                                    .checkpoint = o->checkpoint, .checkpoint_every = o->checkpoint_every,
                                                    .hint = hint, .nhint = 6 })))
        goto done;
    R.r = r, R.ctx = ctx, R.Gout = Gout, R.cls = cls, R.zfix = zfix, R.samples = samples, R.nfix = nfix;
    R.nscore = nscore, R.out = out, R.log = log, R.t0 = sd_time_now(), R.first = R.p.step;
    const sd_trainer_hooks hooks = { &R, gan_step, gan_checkpoint, gan_epoch_end, gan_live, gan_where };
    int ran = sd_trainer_run(tr, &hooks, R.p.epoch);
    if (ran) {
        if (ran == SD_STOPPED) rc = SD_STOPPED;
        goto done;
    }
    r->sync_wait_s = sd_gan_sync_wait(gan);
    if (rank > 0) {
        rc = 0;
        goto done;
    }
    if (o->checkpoint && sd_gan_checkpoint_save(o->checkpoint, o, G, Gavg, D, gan, &rng, bt, train.n, &R.p))
        goto done;   /* the finished run: resuming it trains no more */
    if (r->epochs == 0) {   /* resumed a finished run: nothing trained here, but --out gets the generator */
        snprintf(buf, sizeof buf, "%d", o->epochs);
        if (sd_model_meta_set(Gout, "epochs", buf) || save_generator(Gout, r->generator)) goto done;
        r->epochs = o->epochs;
    }
    r->train_images_per_s = R.train_time > 0 ? R.images / R.train_time : 0.0;
    fprintf(log, "saved %s\n", r->generator);
    if (cls && isnan(r->score))
        fprintf(log, "inception score (classifier %s): not taken (a stop came during the last scoring)\n", o->classifier);
    else if (cls)
        fprintf(log, "inception score (classifier %s, %d samples): %.3f; real test images: %.3f (%.1f%%)\n",
                o->classifier, nscore, r->score, r->real_score, 100.0 * r->score / r->real_score);
    rc = sd_trainer_finish(tr, log);
    tr = NULL;
done:
    sd_trainer_free(tr);
    r->wall_s = sd_time_now() - t_start;
    free(zfix);
    free(samples);
    sd_batcher_free(bt);
    sd_gan_free(gan);
    sd_model_free(G);
    sd_model_free(Gavg);
    sd_model_free(D);
    sd_model_free(cls);
    sd_ctx_free(ctx);
    sd_dataset_free(&train);
    sd_dataset_free(&test);
    return rc;
}

/* ---- shendu gan sample */

int sd_app_gan_sample(const char *gen_path, int n, int cols, uint64_t seed, const char *out_png, int threads,
                      FILE *log, uint64_t max_memory)
{
    const sd_path_use uses[] = { { gen_path, SD_PATH_INPUT, "the generator" }, { out_png, SD_PATH_OUTPUT, "--out" } };
    if (sd_app_check_paths(NULL, uses, 2)) return -1;
    sd_shape img;
    sd_model *G = load_generator(gen_path, &img, max_memory);
    if (!G) return -1;
    const size_t nz = (size_t)sd_model_input_shape(G).d[0], npx = sd_shape_numel(img);
    sd_ctx *ctx = NULL;
    float *z = NULL, *x = NULL;
    int rc = -1;
    /* noise and pictures of all n samples at once: sizes from the file, bounded like activations */
    const double bytes = (double)n * (double)(nz + npx) * sizeof(float);
    if (n < 1 || bytes > (double)(max_memory ? max_memory : SD_MODEL_MAX_MEMORY)) {
        sd_error("%d samples of %s (noise of %zu values, %zu pixels each) need %.0f bytes, over the limit of %llu "
                 "(--max-memory)", n, gen_path, nz, npx, bytes,
                 (unsigned long long)(max_memory ? max_memory : SD_MODEL_MAX_MEMORY));
        goto done;
    }
    ctx = sd_ctx_new(&(sd_ctx_opts){ .threads = threads });
    z = malloc((size_t)n * nz * sizeof *z);
    x = malloc((size_t)n * npx * sizeof *x);
    if (!ctx || !z || !x) { if (ctx) sd_error("out of memory for %d samples", n); goto done; }
    sd_rng rng;
    sd_rng_seed(&rng, seed);
    for (size_t i = 0; i < (size_t)n * nz; i++) z[i] = sd_rng_normal(&rng);
    if (generate(ctx, NULL, G, z, n, x)) goto done;
    for (size_t i = 0; i < (size_t)n * sd_shape_numel(img); i++)
        if (!isfinite(x[i])) { sd_error("%s produced a non-finite pixel (a diverged generator?)", gen_path); goto done; }
    if (sd_app_save_grid(out_png, x, n, img, cols)) goto done;
    fprintf(log, "%s: %d samples of %s (%s GAN, %s epochs)\n", out_png, n, gen_path,
            sd_model_meta_get(G, "gan_arch") ? sd_model_meta_get(G, "gan_arch") : "?",
            sd_model_meta_get(G, "epochs") ? sd_model_meta_get(G, "epochs") : "?");
    rc = 0;
done:
    free(z);
    free(x);
    sd_ctx_free(ctx);
    sd_model_free(G);
    return rc;
}

/* ---- shendu gan score */

int sd_app_gan_score(const char *gen_path, const char *cls_path, const char *data_dir, int n, uint64_t seed,
                     int threads, double *score, double *real_score, uint64_t max_memory)
{
    sd_shape img;
    sd_model *G = load_generator(gen_path, &img, max_memory), *cls = NULL;
    sd_dataset test = { 0 };
    sd_ctx *ctx = NULL;
    int rc = -1;
    if (!G) return -1;
    if (sd_file_expect_kind(cls_path, SD_KINDS_CLASSIFIER, "an image classifier") ||
        !(cls = sd_model_load_with(cls_path, max_memory)) || sd_app_check_classifier(cls, cls_path, img, max_memory))
        goto done;
    const char *dir = data_dir ? data_dir : sd_model_meta_get(G, "dataset") ? sd_model_meta_get(G, "dataset")
                                                                          : sd_data_default_dir();
    if (sd_dataset_load_mnist(dir, "t10k", &test)) goto done;
    if (test.c != img.d[0] || test.h != img.d[1] || test.w != img.d[2]) {
        sd_error("%s has %dx%dx%d test images, the generator draws %dx%dx%d", dir, test.c, test.h, test.w,
                 img.d[0], img.d[1], img.d[2]);
        goto done;
    }
    if (check_classifier_data(cls, cls_path, &test, dir)) goto done;
    if (n < 1) n = 10000;
    if (!(ctx = sd_ctx_new(&(sd_ctx_opts){ .threads = threads }))) goto done;
    sd_rng rng;
    sd_rng_seed(&rng, seed);
    if (score_generator(ctx, NULL, G, cls, n, &rng, score, NULL)) goto done;
    if (sd_app_score_pixels(ctx, cls, test.images, n < test.n ? n : test.n, real_score)) goto done;
    if (!isfinite(*score) || !isfinite(*real_score)) {
        sd_error("the inception score is not finite: %s gives non-finite class scores (a diverged classifier?)",
                 cls_path);
        goto done;
    }
    rc = 0;
done:
    sd_ctx_free(ctx);
    sd_dataset_free(&test);
    sd_model_free(cls);
    sd_model_free(G);
    return rc;
}
