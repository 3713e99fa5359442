/* The diffusion model's U-Net ε_θ(x_t, t) (shendu/diffusion.h), composed from the
 * engine's ops. With c channels at the picture's size (H = 28 for Fashion-MNIST):
 *
 *   x (C,H,W) ─ conv_in ─ down0 (c) ──────────────────────────── skip0 ┐
 *                           └ down0.down (stride 2, H/2)                 │
 *                               down1 (2c) ──────────────── skip1 ┐      │
 *                                 └ down1.down (H/4)               │      │
 *                                     mid1, mid_attn, mid2 (2c)    │      │
 *                                 ┌ up1.up (nearest 2x, conv)      │      │
 *                               up1 (concat skip1: 4c -> 2c) ◄─────┘      │
 *                           ┌ up0.up (nearest 2x, conv)                   │
 *                         up0 (concat skip0: 3c -> c) ◄───────────────────┘
 *                         norm_out, SiLU, conv_out (c -> C) = ε
 *
 * Each residual block NAME (in -> out channels), e the step's embedding (4c):
 *   h = conv1(SiLU(norm1(x))) + temb(e) at every position
 *   y = conv2(SiLU(norm2(h))) + (skip(x), a 1x1 convolution, when in != out; else x)
 * The attention block mid_attn (2c channels, the H/4 x W/4 positions as a sequence):
 *   a = GroupNorm(x) as (positions·N, 2c) rows, time-major (row p·N + n)
 *   y = x + proj(attention(qkv(a)))   (one head, every position sees every other:
 *       sd_full_attention_qkv; proj starts at zero, so the block starts as the identity)
 * Model files written before the block existed have no mid_attn.* tensors: they
 * load into a U-Net without it (sd_unet_opts.no_attention).
 * Parameter names follow a PyTorch module tree of the same shape (bench/diffusion.py). */
#include "shendu/diffusion.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct gnorm { int w, b, c; } gnorm;
typedef struct attnblock {
    gnorm norm;
    sd_linear qkv, proj;
} attnblock;
typedef struct resblock {
    gnorm norm1, norm2;
    sd_conv2d_layer conv1, conv2, skip;
    sd_linear temb;
    int has_skip;
} resblock;

struct sd_unet {
    sd_params *P;
    sd_shape img;
    int c, groups;
    sd_linear temb1, temb2;
    sd_conv2d_layer conv_in, down0_ds, down1_ds, up1_up, up0_up, conv_out;
    resblock down0, down1, mid1, mid2, up1, up0;
    gnorm norm_out;
    attnblock mid_attn;
    int attention;        /* has mid_attn */
    int32_t *perm;        /* the attention's layout gathers, 2 · (N·2c·H/4·W/4), grown to the largest N seen */
    size_t perm_n;
};

static int gnorm_init(gnorm *n, sd_params *P, const char *name, int c)
{
    char key[96];
    snprintf(key, sizeof key, "%s.weight", name);
    n->w = sd_params_add(P, key, SD_SHAPE(c));
    snprintf(key, sizeof key, "%s.bias", name);
    n->b = sd_params_add(P, key, SD_SHAPE(c));
    if (n->w < 0 || n->b < 0) return -1;
    float *w = sd_params_data(P, n->w);
    for (int i = 0; i < c; i++) w[i] = 1.0f;
    memset(sd_params_data(P, n->b), 0, (size_t)c * sizeof(float));
    n->c = c;
    return 0;
}

/* Zero weights and bias: the layer starts as "add nothing" (DDPM's zero-initialised
 * last convolutions), so every residual block starts as the identity. */
static void zero_conv(sd_params *P, const sd_conv2d_layer *l)
{
    memset(sd_params_data(P, l->w), 0, sd_shape_numel(sd_params_shape(P, l->w)) * sizeof(float));
    memset(sd_params_data(P, l->b), 0, (size_t)l->out * sizeof(float));
}

static int conv_init(sd_conv2d_layer *l, sd_params *P, const char *block, const char *name, int in, int out,
                     int k, int stride, sd_rng *rng)
{
    char key[96];
    snprintf(key, sizeof key, "%s%s%s", block, *block ? "." : "", name);
    return sd_conv2d_layer_init(l, P, key, in, out, k, stride, k / 2, SD_INIT_DEFAULT, rng);
}

static int res_init(resblock *r, sd_params *P, const char *name, int in, int out, int temb, sd_rng *rng)
{
    char key[96];
    snprintf(key, sizeof key, "%s.norm1", name);
    if (gnorm_init(&r->norm1, P, key, in)) return -1;
    if (conv_init(&r->conv1, P, name, "conv1", in, out, 3, 1, rng)) return -1;
    snprintf(key, sizeof key, "%s.temb", name);
    if (sd_linear_init(&r->temb, P, key, temb, out, SD_INIT_DEFAULT, rng)) return -1;
    snprintf(key, sizeof key, "%s.norm2", name);
    if (gnorm_init(&r->norm2, P, key, out)) return -1;
    if (conv_init(&r->conv2, P, name, "conv2", out, out, 3, 1, rng)) return -1;
    zero_conv(P, &r->conv2);
    r->has_skip = in != out;
    if (r->has_skip && conv_init(&r->skip, P, name, "skip", in, out, 1, 1, rng)) return -1;
    return 0;
}

static int attn_init(attnblock *a, sd_params *P, const char *name, int c, sd_rng *rng)
{
    char key[96];
    snprintf(key, sizeof key, "%s.norm", name);
    if (gnorm_init(&a->norm, P, key, c)) return -1;
    snprintf(key, sizeof key, "%s.qkv", name);
    if (sd_linear_init(&a->qkv, P, key, c, 3 * c, SD_INIT_DEFAULT, rng)) return -1;
    snprintf(key, sizeof key, "%s.proj", name);
    if (sd_linear_init(&a->proj, P, key, c, c, SD_INIT_DEFAULT, rng)) return -1;
    memset(sd_params_data(P, a->proj.w), 0, (size_t)c * c * sizeof(float));
    memset(sd_params_data(P, a->proj.b), 0, (size_t)c * sizeof(float));
    return 0;
}

sd_unet *sd_unet_new(sd_shape img, const sd_unet_opts *o)
{
    if (!o || !o->rng) { sd_error("sd_unet_new: options with an rng are required"); return NULL; }
    const int c = o->channels ? o->channels : 32, groups = o->groups ? o->groups : 8;
    if (img.ndim != 3 || img.d[0] < 1 || img.d[0] > 4 || img.d[1] < 4 || img.d[2] < 4 || img.d[1] % 4 ||
        img.d[2] % 4 || img.d[1] > 1024 || img.d[2] > 1024) {
        sd_error("unet: pictures must be (C,H,W) with 1 to 4 channels and H, W multiples of 4 "
                     "from 4 to 1024");
        return NULL;
    }
    if (c < 1 || c > 1024 || groups < 1 || c % groups) {
        sd_error("unet: %d channels and %d groups: the groups must divide the channels (at most 1024)", c,
                     groups);
        return NULL;
    }
    sd_unet *u = calloc(1, sizeof *u);
    if (!u || !(u->P = sd_params_new())) { free(u); sd_error("unet: out of memory"); return NULL; }
    if (o->max_params) sd_params_set_limit(u->P, o->max_params);
    u->img = img;
    u->c = c;
    u->groups = groups;
    sd_params *P = u->P;
    sd_rng *rng = o->rng;
    const int C = img.d[0], te = 4 * c;
    int bad = sd_linear_init(&u->temb1, P, "temb.fc1", c, te, SD_INIT_DEFAULT, rng) ||
              sd_linear_init(&u->temb2, P, "temb.fc2", te, te, SD_INIT_DEFAULT, rng) ||
              conv_init(&u->conv_in, P, "", "conv_in", C, c, 3, 1, rng) ||
              res_init(&u->down0, P, "down0", c, c, te, rng) ||
              conv_init(&u->down0_ds, P, "down0", "down", c, c, 3, 2, rng) ||
              res_init(&u->down1, P, "down1", c, 2 * c, te, rng) ||
              conv_init(&u->down1_ds, P, "down1", "down", 2 * c, 2 * c, 3, 2, rng) ||
              res_init(&u->mid1, P, "mid1", 2 * c, 2 * c, te, rng) ||
              (!o->no_attention && attn_init(&u->mid_attn, P, "mid_attn", 2 * c, rng)) ||
              res_init(&u->mid2, P, "mid2", 2 * c, 2 * c, te, rng) ||
              conv_init(&u->up1_up, P, "up1", "up", 2 * c, 2 * c, 3, 1, rng) ||
              res_init(&u->up1, P, "up1", 4 * c, 2 * c, te, rng) ||
              conv_init(&u->up0_up, P, "up0", "up", 2 * c, 2 * c, 3, 1, rng) ||
              res_init(&u->up0, P, "up0", 3 * c, c, te, rng) ||
              gnorm_init(&u->norm_out, P, "norm_out", c) ||
              conv_init(&u->conv_out, P, "", "conv_out", c, C, 3, 1, rng);
    if (bad) {
        sd_unet_free(u);
        return NULL;
    }
    zero_conv(P, &u->conv_out);
    u->attention = !o->no_attention;
    return u;
}

void sd_unet_free(sd_unet *u)
{
    if (!u) return;
    sd_params_free(u->P);
    free(u->perm);
    free(u);
}

sd_params *sd_unet_params(sd_unet *u) { return u->P; }
int sd_unet_channels(const sd_unet *u) { return u->c; }
int sd_unet_groups(const sd_unet *u) { return u->groups; }
int sd_unet_has_attention(const sd_unet *u) { return u->attention; }
sd_shape sd_unet_image(const sd_unet *u) { return u->img; }

static sd_tensor *norm_silu(sd_graph *g, const sd_unet *u, const gnorm *n, sd_tensor *x)
{
    return sd_silu(g, sd_group_norm(g, x, sd_param(g, u->P, n->w), sd_param(g, u->P, n->b), u->groups, 1e-5f));
}

/* x (N,in,H,W), e (N,4c) -> (N,out,H,W) */
static sd_tensor *res_forward(sd_graph *g, const sd_unet *u, const resblock *r, sd_tensor *x, sd_tensor *e)
{
    sd_tensor *h = sd_conv2d_layer_forward(g, &r->conv1, norm_silu(g, u, &r->norm1, x));
    h = sd_add_channels(g, h, sd_linear_forward(g, &r->temb, e));
    h = sd_conv2d_layer_forward(g, &r->conv2, norm_silu(g, u, &r->norm2, h));
    return sd_add(g, h, r->has_skip ? sd_conv2d_layer_forward(g, &r->skip, x) : x);
}

/* x (N,C,H,W) -> x + proj(attention(qkv(GroupNorm(x)))) over the H·W positions.
 * The positions become a time-major sequence (row p·N + n of (H·W·N, C)) by one
 * gather of single values, and return the same way. */
static sd_tensor *attn_forward(sd_graph *g, sd_unet *u, const attnblock *a, sd_tensor *x)
{
    if (!x) return NULL;
    const int N = x->shape.d[0], C = x->shape.d[1], HW = x->shape.d[2] * x->shape.d[3];
    const size_t n = (size_t)N * C * HW;
    if (n > (size_t)INT32_MAX) { sd_error("unet: attention over %zu values is too large", n); return NULL; }
    if (n > u->perm_n) {   /* the first step of a larger batch only; then no allocation */
        int32_t *p = realloc(u->perm, 2 * n * sizeof *p);
        if (!p) { sd_error("unet: out of memory"); return NULL; }
        u->perm = p;
        u->perm_n = n;
    }
    int32_t *to_seq = u->perm, *to_map = u->perm + n;
    for (int p = 0; p < HW; p++)
        for (int b = 0; b < N; b++)
            for (int c = 0; c < C; c++) {
                const int32_t i = (int32_t)(((size_t)p * N + b) * C + c), j = (int32_t)(((size_t)b * C + c) * HW + p);
                to_seq[i] = j;
                to_map[j] = i;
            }
    sd_tensor *h = sd_group_norm(g, x, sd_param(g, u->P, a->norm.w), sd_param(g, u->P, a->norm.b), u->groups, 1e-5f);
    h = sd_reshape(g, sd_gather_rows(g, sd_reshape(g, h, SD_SHAPE((int)n, 1)), to_seq, (int)n), SD_SHAPE(HW * N, C));
    h = sd_linear_forward(g, &a->proj, sd_full_attention_qkv(g, sd_linear_forward(g, &a->qkv, h), HW, 1));
    h = sd_reshape(g, sd_gather_rows(g, sd_reshape(g, h, SD_SHAPE((int)n, 1)), to_map, (int)n), x->shape);
    return sd_add(g, x, h);
}

sd_tensor *sd_unet_forward(sd_graph *g, sd_unet *u, sd_tensor *x, const int32_t *t)
{
    if (!x || !t) return NULL;
    const sd_shape s = x->shape;
    if (s.ndim != 4 || s.d[1] != u->img.d[0] || s.d[2] != u->img.d[1] || s.d[3] != u->img.d[2]) {
        char a[48], b[48];
        sd_error("unet: input %s, expected (N,%d,%d,%d) (%s per picture)", sd_shape_str(s, a, sizeof a),
                     u->img.d[0], u->img.d[1], u->img.d[2], sd_shape_str(u->img, b, sizeof b));
        return NULL;
    }
    const int N = s.d[0];
    sd_tensor *emb = sd_zeros(g, SD_SHAPE(N, u->c));   /* a leaf: the step's sinusoidal embedding */
    if (!emb) return NULL;
    sd_timestep_embedding(t, N, u->c, emb->data);
    sd_tensor *e = sd_linear_forward(g, &u->temb2, sd_silu(g, sd_linear_forward(g, &u->temb1, emb)));

    sd_tensor *h = sd_conv2d_layer_forward(g, &u->conv_in, x);
    sd_tensor *skip0 = res_forward(g, u, &u->down0, h, e);
    h = sd_conv2d_layer_forward(g, &u->down0_ds, skip0);
    sd_tensor *skip1 = res_forward(g, u, &u->down1, h, e);
    h = sd_conv2d_layer_forward(g, &u->down1_ds, skip1);
    h = res_forward(g, u, &u->mid1, h, e);
    if (u->attention) h = attn_forward(g, u, &u->mid_attn, h);
    h = res_forward(g, u, &u->mid2, h, e);
    h = sd_conv2d_layer_forward(g, &u->up1_up, sd_upsample2x(g, h));
    h = res_forward(g, u, &u->up1, sd_concat(g, h, skip1, 1), e);
    h = sd_conv2d_layer_forward(g, &u->up0_up, sd_upsample2x(g, h));
    h = res_forward(g, u, &u->up0, sd_concat(g, h, skip0, 1), e);
    return sd_conv2d_layer_forward(g, &u->conv_out, norm_silu(g, u, &u->norm_out, h));
}
