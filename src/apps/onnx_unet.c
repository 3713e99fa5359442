/* A diffusion model's U-Net as ONNX (`shendu export` on a diffusion model or
 * checkpoint; the net of src/nn/unet.c, drawn there):
 *   x (batch, C, H, W) float, the noisy pictures x_t
 *   t (batch) int64, each picture's step in [0, T]
 *   -> eps (batch, C, H, W), the predicted noise ε_θ(x_t, t)
 * The schedule travels in the metadata (schedule, T and alphas_cumprod: ᾱ_t for
 * t = 0..T), so a runtime has what DDPM or DDIM sampling needs.
 *
 * Opset 17 has no GroupNormalization, no SiLU and no sinusoidal embedding, so:
 *   time embedding  Gather from a (T+1, c) table that sd_timestep_embedding fills
 *                   (exact: float sines of arguments up to T would not be);
 *   group norm      Reshape to (batch, groups, rest), InstanceNormalization (scale
 *                   1, bias 0: mean and biased variance over the group, ε = 1e-5),
 *                   Reshape back, then · γ + β per channel;
 *   SiLU            x · Sigmoid(x);
 *   2x upsampling   Resize, nearest, asymmetric coordinates, floor: each value
 *                   copied to a 2x2 block;
 *   attention       the H/4·W/4 positions as rows (batch, HW, 2c), one head:
 *                   Softmax(q kᵀ / √(2c)) v, projected and added back. */
#include "apps/diffusion_app.h"
#include "io/onnx_pb.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct ux {
    sd_onnx *o;
    sd_params *P;
    int groups, bad, next;
    float *tmp;   /* transposed linear weights */
} ux;

typedef struct vname { char s[48]; } vname;

static vname fresh(ux *u)
{
    vname v;
    snprintf(v.s, sizeof v.s, "u%d", u->next++);
    return v;
}

/* An int64 shape constant; its name is returned. */
static vname shape_const(ux *u, const int64_t *d, int n)
{
    vname v;
    snprintf(v.s, sizeof v.s, "shape%d", u->next++);
    sd_onnx_init_i64(u->o, v.s, d, (int64_t[]){ n }, 1);
    return v;
}

/* The parameter NAME.SUFFIX written as an initializer of the given dims (its
 * element count must be the parameter's); -1 if it is missing. */
static int param_init(ux *u, const char *name, const char *suffix, const int64_t *dims, int nd, char *key, size_t cap)
{
    snprintf(key, cap, "%s.%s", name, suffix);
    const int id = sd_params_find(u->P, key);
    size_t n = 1;
    for (int i = 0; i < nd; i++) n *= (size_t)dims[i];
    if (id < 0 || sd_shape_numel(sd_params_shape(u->P, id)) != n) { u->bad = 1; return -1; }
    sd_onnx_init_f32(u->o, key, sd_params_data(u->P, id), dims, nd);
    return 0;
}

/* x (N,in,H,W) -> (N,out,H/stride,W/stride): the convolution NAME (k x k, padding k/2) */
static vname conv(ux *u, const char *name, const char *x, int stride)
{
    vname y = fresh(u);
    char wkey[96], bkey[96];
    snprintf(wkey, sizeof wkey, "%s.weight", name);
    const int id = sd_params_find(u->P, wkey);
    if (id < 0 || sd_params_shape(u->P, id).ndim != 4) { u->bad = 1; return y; }
    const sd_shape s = sd_params_shape(u->P, id);
    const int64_t k = s.d[2], p = k / 2;
    if (param_init(u, name, "weight", (int64_t[]){ s.d[0], s.d[1], k, s.d[3] }, 4, wkey, sizeof wkey) ||
        param_init(u, name, "bias", (int64_t[]){ s.d[0] }, 1, bkey, sizeof bkey))
        return y;
    size_t n = sd_onnx_node(u->o, "Conv", (const char *[]){ x, wkey, bkey }, 3, (const char *[]){ y.s }, 1);
    sd_onnx_attr_ints(u->o, "kernel_shape", (int64_t[]){ k, k }, 2);
    sd_onnx_attr_ints(u->o, "pads", (int64_t[]){ p, p, p, p }, 4);
    sd_onnx_attr_ints(u->o, "strides", (int64_t[]){ stride, stride }, 2);
    sd_onnx_node_end(u->o, n);
    return y;
}

/* x (N,C,h,w) -> SiLU(GroupNorm(x)) with NAME.weight and NAME.bias, or the norm alone */
static vname gnorm(ux *u, const char *name, const char *x, int C, int h, int w, int silu)
{
    const int G = u->groups;
    char gk[96], bk[96], ones[32], zeros[32];
    vname grouped = fresh(u), normed = fresh(u), back = fresh(u), scaled = fresh(u), y = fresh(u);
    snprintf(ones, sizeof ones, "ones%d", u->next);
    snprintf(zeros, sizeof zeros, "zeros%d", u->next++);
    for (int i = 0; i < G; i++) u->tmp[i] = 1.0f, u->tmp[G + i] = 0.0f;
    sd_onnx_init_f32(u->o, ones, u->tmp, (int64_t[]){ G }, 1);
    sd_onnx_init_f32(u->o, zeros, u->tmp + G, (int64_t[]){ G }, 1);
    sd_onnx_binary(u->o, "Reshape", x, shape_const(u, (int64_t[]){ 0, G, -1 }, 3).s, grouped.s);
    size_t n = sd_onnx_node(u->o, "InstanceNormalization", (const char *[]){ grouped.s, ones, zeros }, 3,
                            (const char *[]){ normed.s }, 1);
    sd_onnx_attr_float(u->o, "epsilon", 1e-5f);
    sd_onnx_node_end(u->o, n);
    sd_onnx_binary(u->o, "Reshape", normed.s, shape_const(u, (int64_t[]){ 0, C, h, w }, 4).s, back.s);
    if (param_init(u, name, "weight", (int64_t[]){ C, 1, 1 }, 3, gk, sizeof gk) ||
        param_init(u, name, "bias", (int64_t[]){ C, 1, 1 }, 3, bk, sizeof bk))
        return y;
    sd_onnx_binary(u->o, "Mul", back.s, gk, scaled.s);
    if (!silu) {
        sd_onnx_binary(u->o, "Add", scaled.s, bk, y.s);
        return y;
    }
    vname shifted = fresh(u), sig = fresh(u);
    sd_onnx_binary(u->o, "Add", scaled.s, bk, shifted.s);
    sd_onnx_unary(u->o, "Sigmoid", shifted.s, sig.s);
    sd_onnx_binary(u->o, "Mul", shifted.s, sig.s, y.s);
    return y;
}

static vname linear(ux *u, const char *name, const char *x)
{
    vname y = fresh(u);
    sd_onnx_linear(u->o, u->P, name, x, y.s, u->tmp, &u->bad);
    return y;
}

/* The residual block NAME: x (N,in,h,w), e (N,4c) -> (N,out,h,w) */
static vname res(ux *u, const char *name, const char *x, const char *e, int in, int out, int h, int w)
{
    char key[96];
    vname a, b, te, te4 = fresh(u), sum = fresh(u), y = fresh(u);
    snprintf(key, sizeof key, "%s.norm1", name);
    a = gnorm(u, key, x, in, h, w, 1);
    snprintf(key, sizeof key, "%s.conv1", name);
    a = conv(u, key, a.s, 1);
    snprintf(key, sizeof key, "%s.temb", name);
    te = linear(u, key, e);
    sd_onnx_binary(u->o, "Reshape", te.s, shape_const(u, (int64_t[]){ 0, out, 1, 1 }, 4).s, te4.s);
    sd_onnx_binary(u->o, "Add", a.s, te4.s, sum.s);
    snprintf(key, sizeof key, "%s.norm2", name);
    b = gnorm(u, key, sum.s, out, h, w, 1);
    snprintf(key, sizeof key, "%s.conv2", name);
    b = conv(u, key, b.s, 1);
    vname skip = { { 0 } };
    snprintf(skip.s, sizeof skip.s, "%s", x);
    if (in != out) {
        snprintf(key, sizeof key, "%s.skip", name);
        skip = conv(u, key, x, 1);
    }
    sd_onnx_binary(u->o, "Add", b.s, skip.s, y.s);
    return y;
}

/* The attention block mid_attn: x (N,C,h,w) -> x + proj(attention(qkv(GroupNorm(x)))) */
static vname attention(ux *u, const char *x, int C, int h, int w)
{
    vname g = gnorm(u, "mid_attn.norm", x, C, h, w, 0), rows = fresh(u), seq = fresh(u), q = fresh(u),
          k = fresh(u), v = fresh(u), kt = fresh(u), s = fresh(u), ss = fresh(u), p = fresh(u), a = fresh(u),
          back = fresh(u), map = fresh(u), y = fresh(u);
    sd_onnx_binary(u->o, "Reshape", g.s, shape_const(u, (int64_t[]){ 0, C, -1 }, 3).s, rows.s);
    sd_onnx_transpose(u->o, rows.s, seq.s, (const int64_t[]){ 0, 2, 1 }, 3);   /* (N, hw, C) */
    vname qkv = linear(u, "mid_attn.qkv", seq.s), split = shape_const(u, (int64_t[]){ C, C, C }, 3);
    size_t n = sd_onnx_node(u->o, "Split", (const char *[]){ qkv.s, split.s }, 2, (const char *[]){ q.s, k.s, v.s }, 3);
    sd_onnx_attr_int(u->o, "axis", -1);
    sd_onnx_node_end(u->o, n);
    sd_onnx_transpose(u->o, k.s, kt.s, (const int64_t[]){ 0, 2, 1 }, 3);
    sd_onnx_binary(u->o, "MatMul", q.s, kt.s, s.s);
    char scale[32];
    snprintf(scale, sizeof scale, "scale%d", u->next++);
    const float sc = 1.0f / sqrtf((float)C);
    sd_onnx_init_f32(u->o, scale, &sc, NULL, 0);
    sd_onnx_binary(u->o, "Mul", s.s, scale, ss.s);
    n = sd_onnx_node(u->o, "Softmax", (const char *[]){ ss.s }, 1, (const char *[]){ p.s }, 1);
    sd_onnx_attr_int(u->o, "axis", -1);
    sd_onnx_node_end(u->o, n);
    sd_onnx_binary(u->o, "MatMul", p.s, v.s, a.s);
    vname proj = linear(u, "mid_attn.proj", a.s);
    sd_onnx_transpose(u->o, proj.s, back.s, (const int64_t[]){ 0, 2, 1 }, 3);
    sd_onnx_binary(u->o, "Reshape", back.s, shape_const(u, (int64_t[]){ 0, C, h, w }, 4).s, map.s);
    sd_onnx_binary(u->o, "Add", x, map.s, y.s);
    return y;
}

/* nearest-neighbour 2x, then the convolution NAME */
static vname up(ux *u, const char *name, const char *x)
{
    vname r = fresh(u);
    size_t n = sd_onnx_node(u->o, "Resize", (const char *[]){ x, "", "up_scales" }, 3, (const char *[]){ r.s }, 1);
    sd_onnx_attr_str(u->o, "mode", "nearest");
    sd_onnx_attr_str(u->o, "coordinate_transformation_mode", "asymmetric");
    sd_onnx_attr_str(u->o, "nearest_mode", "floor");
    sd_onnx_node_end(u->o, n);
    return conv(u, name, r.s, 1);
}

static vname concat(ux *u, const char *a, const char *b)
{
    vname y = fresh(u);
    size_t n = sd_onnx_node(u->o, "Concat", (const char *[]){ a, b }, 2, (const char *[]){ y.s }, 1);
    sd_onnx_attr_int(u->o, "axis", 1);
    sd_onnx_node_end(u->o, n);
    return y;
}

/* "ᾱ_0,ᾱ_1,...,ᾱ_T" (malloc'd) */
static char *alphas_text(const sd_ddpm *s)
{
    const size_t cap = (size_t)(s->T + 1) * 18 + 1;
    char *t = malloc(cap);
    if (!t) return NULL;
    size_t n = 0;
    for (int i = 0; i <= s->T; i++) n += (size_t)snprintf(t + n, cap - n, "%s%.9g", i ? "," : "", s->alpha_bar[i]);
    return t;
}

int sd_diffusion_save_onnx(const sd_diffusion_model *m, const char *path)
{
    sd_unet *net = m->u;
    const int c = sd_unet_channels(net), C = m->img.d[0], H = m->img.d[1], W = m->img.d[2], T = m->T;
    float *table = malloc((size_t)(T + 1) * c * sizeof *table), *tmp = malloc((size_t)16 * c * c * sizeof *tmp);
    int32_t *steps = malloc((size_t)(T + 1) * sizeof *steps);
    char *alphas = alphas_text(m->s);
    if (!table || !tmp || !steps || !alphas) {
        free(table), free(tmp), free(steps), free(alphas);
        return sd_error("ONNX export: out of memory");
    }
    sd_onnx o;
    sd_onnx_begin(&o, "shendu_ddpm_unet", "DDPM noise predictor eps(x_t, t): x (batch, C, H, W) in [-1, 1] scale, "
                                          "t (batch) steps in [0, T]; the schedule is in the metadata");
    ux u = { .o = &o, .P = sd_unet_params(net), .groups = sd_unet_groups(net), .tmp = tmp };
    const int64_t img_dims[4] = { -1, C, H, W }, t_dims[1] = { -1 };
    sd_onnx_io(&o, 0, "x", SD_ONNX_FLOAT, img_dims, 4);
    sd_onnx_io(&o, 0, "t", SD_ONNX_INT64, t_dims, 1);

    /* the step's embedding: a table row per step, then the two linear layers */
    for (int i = 0; i <= T; i++) steps[i] = i;
    memset(table, 0, (size_t)(T + 1) * c * sizeof *table);
    sd_timestep_embedding(steps, T + 1, c, table);
    sd_onnx_init_f32(&o, "temb_table", table, (int64_t[]){ T + 1, c }, 2);
    const float scales[4] = { 1, 1, 2, 2 };
    sd_onnx_init_f32(&o, "up_scales", scales, (int64_t[]){ 4 }, 1);
    sd_onnx_binary(&o, "Gather", "temb_table", "t", "temb");
    vname e1 = linear(&u, "temb.fc1", "temb"), sig = fresh(&u), act = fresh(&u);
    sd_onnx_unary(&o, "Sigmoid", e1.s, sig.s);
    sd_onnx_binary(&o, "Mul", e1.s, sig.s, act.s);
    vname e = linear(&u, "temb.fc2", act.s);

    vname h = conv(&u, "conv_in", "x", 1);
    vname skip0 = res(&u, "down0", h.s, e.s, c, c, H, W);
    h = conv(&u, "down0.down", skip0.s, 2);
    vname skip1 = res(&u, "down1", h.s, e.s, c, 2 * c, H / 2, W / 2);
    h = conv(&u, "down1.down", skip1.s, 2);
    h = res(&u, "mid1", h.s, e.s, 2 * c, 2 * c, H / 4, W / 4);
    if (sd_unet_has_attention(net)) h = attention(&u, h.s, 2 * c, H / 4, W / 4);
    h = res(&u, "mid2", h.s, e.s, 2 * c, 2 * c, H / 4, W / 4);
    h = up(&u, "up1.up", h.s);
    h = res(&u, "up1", concat(&u, h.s, skip1.s).s, e.s, 4 * c, 2 * c, H / 2, W / 2);
    h = up(&u, "up0.up", h.s);
    h = res(&u, "up0", concat(&u, h.s, skip0.s).s, e.s, 3 * c, c, H, W);
    h = gnorm(&u, "norm_out", h.s, c, H, W, 1);
    h = conv(&u, "conv_out", h.s, 1);
    sd_onnx_unary(&o, "Identity", h.s, "eps");
    sd_onnx_io(&o, 1, "eps", SD_ONNX_FLOAT, img_dims, 4);
    free(table), free(tmp), free(steps);
    if (u.bad) {
        free(alphas);
        sd_onnx_discard(&o);
        return sd_error("ONNX export: the diffusion model is missing a layer's weights");
    }
    char Ts[16], cs[16], gs[16], as[4], shape[48];
    snprintf(Ts, sizeof Ts, "%d", T);
    snprintf(cs, sizeof cs, "%d", c);
    snprintf(gs, sizeof gs, "%d", u.groups);
    snprintf(as, sizeof as, "%d", sd_unet_has_attention(net));
    snprintf(shape, sizeof shape, "%d,%d,%d", C, H, W);
    const char *kv[] = { "shendu.kind", "diffusion", "schedule", sd_ddpm_kind_name(m->s->kind), "T", Ts,
                         "channels", cs, "groups", gs, "attention", as, "image_shape", shape,
                         "alphas_cumprod", alphas };
    const int rc = sd_onnx_finish(&o, kv, 8, path);
    free(alphas);
    return rc;
}
