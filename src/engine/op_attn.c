/* Ops for attention: batched matrix multiply and fused (causal or full)
 * scaled-dot-product attention, and the same attention composed from the
 * engine's ops (bmm, scale, add, softmax, gather_rows): the oracle the fused
 * op is tested against. */
#include "engine/ops.h"
#include "engine/internal.h"
#include "shendu/kernels.h"

#include <math.h>
#include <string.h>

/* ---- bmm: a (N,M,K) · b (N,K,P) -> (N,M,P), one product per batch entry;
 * SD_TRANS_A: a is (N,K,M); SD_TRANS_B: b is (N,P,K).
 * iarg: flags, M, P, K, N.  Backward as matmul's, entry by entry. */
sd_tensor *sd_bmm(sd_graph *g, sd_tensor *a, sd_tensor *b, int flags)
{
    if (!a || !b) return NULL;
    if (a->shape.ndim != 3 || b->shape.ndim != 3 || a->shape.d[0] != b->shape.d[0])
        return sd_op_error("bmm", a, b, "expected (N,M,K) and (N,K,P) with the same N");
    int ta = (flags & SD_TRANS_A) != 0, tb = (flags & SD_TRANS_B) != 0;
    int M = ta ? a->shape.d[2] : a->shape.d[1], K = ta ? a->shape.d[1] : a->shape.d[2];
    int Kb = tb ? b->shape.d[2] : b->shape.d[1], P = tb ? b->shape.d[1] : b->shape.d[2];
    if (K != Kb) return sd_op_error("bmm", a, b, "inner dimensions differ");
    sd_tensor *y = sd_node(g, SD_OP_BMM, SD_SHAPE(a->shape.d[0], M, P), a, b, NULL);
    if (!y) return NULL;
    y->iarg[0] = flags;
    y->iarg[1] = M; y->iarg[2] = P; y->iarg[3] = K; y->iarg[4] = a->shape.d[0];
    return sd_node_forward(g, y);
}

void sd_op_bmm_fwd(sd_graph *g, sd_tensor *y)
{
    int ta = (y->iarg[0] & SD_TRANS_A) != 0, tb = (y->iarg[0] & SD_TRANS_B) != 0;
    int M = y->iarg[1], P = y->iarg[2], K = y->iarg[3], N = y->iarg[4];
    const sd_tensor *a = y->src[0], *b = y->src[1];
    for (int i = 0; i < N; i++)
        sd_gemm(sd_graph_ctx(g), ta, tb, M, P, K, 1.0f, a->data + (size_t)i * M * K, ta ? M : K,
                b->data + (size_t)i * K * P, tb ? K : P, 0.0f, y->data + (size_t)i * M * P, P);
}

void sd_op_bmm_bwd(sd_graph *g, sd_tensor *y)
{
    int ta = (y->iarg[0] & SD_TRANS_A) != 0, tb = (y->iarg[0] & SD_TRANS_B) != 0;
    int M = y->iarg[1], P = y->iarg[2], K = y->iarg[3], N = y->iarg[4];
    sd_tensor *a = y->src[0], *b = y->src[1];
    sd_ctx *ctx = sd_graph_ctx(g);
    for (int i = 0; i < N; i++) {
        const float *dy = y->grad + (size_t)i * M * P, *ai = a->data + (size_t)i * M * K;
        const float *bi = b->data + (size_t)i * K * P;
        if (a->grad) {
            float *da = a->grad + (size_t)i * M * K;
            if (!ta)   /* dA (M,K) += dY (M,P) · op(b)ᵀ */
                sd_gemm(ctx, 0, !tb, M, K, P, 1.0f, dy, P, bi, tb ? K : P, 1.0f, da, K);
            else       /* dA (K,M) += op(b) (K,P) · dYᵀ */
                sd_gemm(ctx, tb, 1, K, M, P, 1.0f, bi, tb ? K : P, dy, P, 1.0f, da, M);
        }
        if (b->grad) {
            float *db = b->grad + (size_t)i * K * P;
            if (!tb)   /* dB (K,P) += op(a)ᵀ (K,M) · dY */
                sd_gemm(ctx, !ta, 0, K, P, M, 1.0f, ai, ta ? M : K, dy, P, 1.0f, db, P);
            else       /* dB (P,K) += dYᵀ (P,M) · op(a) */
                sd_gemm(ctx, 1, ta, P, K, M, 1.0f, dy, P, ai, ta ? M : K, 1.0f, db, K);
        }
    }
}

/* ---- attention: q, k, v (T·B, D) time-major -> (T·B, D), H heads, causal or
 * full; or packed: src[0] = qkv (T·B, 3D), q | k | v its column blocks.
 * iarg: T, B, H, D, packed, full.  farg[0] = scale (1/√(D/H)).  saved: lse
 * (B·H·T) then the kernel's scratch (threads·T). The kernel: src/kernels/attention.c. */
static sd_tensor *attn_check(const char *op, sd_tensor *q, sd_tensor *k, sd_tensor *v, int T, int heads)
{
    if (!q || !k || !v) return NULL;
    if (q->shape.ndim != 2 || !sd_shape_eq(q->shape, k->shape) || !sd_shape_eq(q->shape, v->shape))
        return sd_op_error(op, q, k, "q, k and v must be 2-D (T*B, D) of one shape");
    const int R = q->shape.d[0], D = q->shape.d[1];
    if (T < 1 || R % T) return sd_op_error(op, q, NULL, "rows are not a whole number of T steps");
    if (heads < 1 || D % heads) {
        sd_error("%s: %d heads do not divide the dimension %d", op, heads, D);
        return NULL;
    }
    return q;
}

/* The node over q, k, v (packed: q is qkv, k and v NULL), (R, D) out. */
static sd_tensor *attn_node(sd_graph *g, sd_tensor *q, sd_tensor *k, sd_tensor *v, int R, int D, int T, int heads,
                            int packed, int full)
{
    const int B = R / T;
    sd_tensor *y = sd_node(g, SD_OP_CAUSAL_ATTENTION, SD_SHAPE(R, D), q, k, v);
    if (!y) return NULL;
    y->iarg[0] = T; y->iarg[1] = B; y->iarg[2] = heads; y->iarg[3] = D; y->iarg[4] = packed; y->iarg[5] = full;
    y->farg[0] = 1.0f / sqrtf((float)(D / heads));
    const size_t scratch = (size_t)SD_THREADS(g) * sd_attention_scratch_floats(T, D / heads);
    if (!(y->saved = sd_graph_alloc(g, ((size_t)B * heads * T + scratch) * sizeof(float))))
        return NULL;
    return sd_node_forward(g, y);
}

static sd_tensor *attention(sd_graph *g, const char *op, sd_tensor *q, sd_tensor *k, sd_tensor *v, int T,
                            int heads, int full)
{
    if (!attn_check(op, q, k, v, T, heads)) return NULL;
    return attn_node(g, q, k, v, q->shape.d[0], q->shape.d[1], T, heads, 0, full);
}

static sd_tensor *attention_qkv(sd_graph *g, const char *op, sd_tensor *qkv, int T, int heads, int full)
{
    if (!qkv) return NULL;
    if (qkv->shape.ndim != 2 || qkv->shape.d[1] % 3) return sd_op_error(op, qkv, NULL, "qkv must be 2-D (T*B, 3*D)");
    const int R = qkv->shape.d[0], D = qkv->shape.d[1] / 3;
    if (T < 1 || R % T) return sd_op_error(op, qkv, NULL, "rows are not a whole number of T steps");
    if (heads < 1 || D % heads) {
        sd_error("%s: %d heads do not divide the dimension %d", op, heads, D);
        return NULL;
    }
    return attn_node(g, qkv, NULL, NULL, R, D, T, heads, 1, full);
}

sd_tensor *sd_causal_attention(sd_graph *g, sd_tensor *q, sd_tensor *k, sd_tensor *v, int T, int heads)
{
    return attention(g, "causal_attention", q, k, v, T, heads, 0);
}

sd_tensor *sd_causal_attention_qkv(sd_graph *g, sd_tensor *qkv, int T, int heads)
{
    return attention_qkv(g, "causal_attention_qkv", qkv, T, heads, 0);
}

sd_tensor *sd_full_attention(sd_graph *g, sd_tensor *q, sd_tensor *k, sd_tensor *v, int T, int heads)
{
    return attention(g, "full_attention", q, k, v, T, heads, 1);
}

sd_tensor *sd_full_attention_qkv(sd_graph *g, sd_tensor *qkv, int T, int heads)
{
    return attention_qkv(g, "full_attention_qkv", qkv, T, heads, 1);
}

static sd_attn_dims attn_dims(sd_graph *g, const sd_tensor *y)
{
    const int T = y->iarg[0], B = y->iarg[1], H = y->iarg[2], D = y->iarg[3];
    int th = SD_THREADS(g);
    if (th > B * H) th = B * H;
    if ((long)T * T * D < 65536) th = 1;   /* too little work to share */
    return (sd_attn_dims){ .t = T, .b = B, .heads = H, .dim = D, .scale = y->farg[0], .threads = th,
                           .ld_in = y->iarg[4] ? 3 * D : D, .full = y->iarg[5], .ctx = sd_graph_ctx(g) };
}

/* q, k, v and their gradients (NULL where there is none) */
static void attn_inputs(const sd_tensor *y, const float *in[3], float *grad[3])
{
    const int D = y->iarg[3];
    for (int i = 0; i < 3; i++) {
        const sd_tensor *x = y->iarg[4] ? y->src[0] : y->src[i];
        const size_t off = y->iarg[4] ? (size_t)i * D : 0;
        in[i] = x->data + off;
        grad[i] = x->grad ? x->grad + off : NULL;
    }
}

void sd_op_causal_attention_fwd(sd_graph *g, sd_tensor *y)
{
    sd_attn_dims d = attn_dims(g, y);
    float *lse = y->saved, *scratch = lse + (size_t)d.b * d.heads * d.t, *grad[3];
    const float *in[3];
    attn_inputs(y, in, grad);
    sd_attention_fwd(&d, in[0], in[1], in[2], y->data, lse, scratch);
}

void sd_op_causal_attention_bwd(sd_graph *g, sd_tensor *y)
{
    sd_attn_dims d = attn_dims(g, y);
    float *lse = y->saved, *scratch = lse + (size_t)d.b * d.heads * d.t, *grad[3];
    const float *in[3];
    attn_inputs(y, in, grad);
    sd_attention_bwd(&d, in[0], in[1], in[2], y->data, lse, y->grad, grad[0], grad[1], grad[2], scratch);
}

/* ---- The composed oracle: each (T·B, D) input viewed as (T·B·H, dh) rows,
 * gathered into (B·H, T, dh) (sequence b, head h, step t at ((b·H + h)·T + t));
 * scores = scale · Q Kᵀ (B·H, T, T), causal: plus a mask of −1e30 above the
 * diagonal; softmax over the last dimension; · V; gathered back. Stores the
 * T×T matrix. */
static sd_tensor *composed(sd_graph *g, const char *op, sd_tensor *q, sd_tensor *k, sd_tensor *v, int T,
                           int heads, int causal)
{
    if (!attn_check(op, q, k, v, T, heads)) return NULL;
    const int R = q->shape.d[0], D = q->shape.d[1], B = R / T, H = heads, dh = D / H;
    int32_t *to_bht = sd_graph_alloc(g, (size_t)R * H * sizeof *to_bht);
    int32_t *to_tbh = sd_graph_alloc(g, (size_t)R * H * sizeof *to_tbh);
    sd_tensor *mask = causal ? sd_zeros(g, SD_SHAPE(B * H, T, T)) : NULL;
    if (!to_bht || !to_tbh || (causal && !mask)) return NULL;
    for (int b = 0; b < B; b++)
        for (int h = 0; h < H; h++)
            for (int t = 0; t < T; t++) {
                const int i = (b * H + h) * T + t, j = (t * B + b) * H + h;
                to_bht[i] = j;
                to_tbh[j] = i;
            }
    for (int n = 0; causal && n < B * H; n++)
        for (int t = 0; t < T; t++)
            for (int u = t + 1; u < T; u++) mask->data[((size_t)n * T + t) * T + u] = -1e30f;
    sd_tensor *x[3] = { q, k, v };
    for (int i = 0; i < 3; i++)
        x[i] = sd_reshape(g, sd_gather_rows(g, sd_reshape(g, x[i], SD_SHAPE(R * H, dh)), to_bht, R * H),
                          SD_SHAPE(B * H, T, dh));
    sd_tensor *s = sd_scale(g, sd_bmm(g, x[0], x[1], SD_TRANS_B), 1.0f / sqrtf((float)dh));
    if (causal) s = sd_add(g, s, mask);
    sd_tensor *o = sd_bmm(g, sd_softmax(g, s), x[2], 0);                              /* (B·H, T, dh) */
    o = sd_gather_rows(g, sd_reshape(g, o, SD_SHAPE(R * H, dh)), to_tbh, R * H);     /* (T·B·H, dh) */
    return sd_reshape(g, o, SD_SHAPE(R, D));
}

sd_tensor *sd_causal_attention_composed(sd_graph *g, sd_tensor *q, sd_tensor *k, sd_tensor *v, int T, int heads)
{
    return composed(g, "causal_attention_composed", q, k, v, T, heads, 1);
}

sd_tensor *sd_full_attention_composed(sd_graph *g, sd_tensor *q, sd_tensor *k, sd_tensor *v, int T, int heads)
{
    return composed(g, "full_attention_composed", q, k, v, T, heads, 0);
}
