/* Fused scaled-dot-product attention over time-major sequences, causal
 * (the language model's) or full (every query sees every key: the U-Net's).
 *
 * q, k, v, o (T·B, D): row t·B + b holds step t of sequence b (as the
 * recurrent ops' layout), head h is columns [h·dh, (h+1)·dh), dh = D / H.
 * q, k and v rows are ld_in floats apart (D, or 3D when they are the
 * column blocks of one packed (T·B, 3D) projection); o's are D apart.
 * For every sequence b, head h and query step t:
 *   s_u = scale · q_t · k_u  (u <= t, later steps masked out; full: every u < T)
 *   p_u = e^{s_u − lse_t},  lse_t = log Σ_u e^{s_u}
 *   o_t = Σ_u p_u v_u
 * The forward keeps only lse (B·H·T floats) for the backward, which rebuilds
 * each row of p from q, k and lse: no T×T matrix is ever stored, only one row
 * of T scores per thread.  Backward, with dp_u = do_t · v_u and
 * δ_t = Σ_u p_u dp_u = do_t · o_t:
 *   ds_u = p_u (dp_u − δ_t);  dq_t += scale Σ_u ds_u k_u;
 *   dk_u += scale ds_u q_t;   dv_u += p_u do_t
 * Work is split by (sequence, head) pairs, whose rows and columns are disjoint,
 * so every sum runs in one fixed order whatever the thread count. */
#include "shendu/kernels.h"
#include "engine/parallel.h"

#include <math.h>
#include <stdlib.h>

static inline float dot(const float *restrict a, const float *restrict b, int n)
{
    float s = 0.0f;
    #pragma omp simd reduction(+:s)
    for (int i = 0; i < n; i++) s += a[i] * b[i];
    return s;
}

void sd_attention_fwd(const sd_attn_dims *d, const float *q, const float *k, const float *v, float *o,
                      float *lse, float *scratch)
{
    const int T = d->t, B = d->b, H = d->heads, D = d->dim, dh = D / H;
    const size_t li = d->ld_in ? (size_t)d->ld_in : (size_t)D, ld = (size_t)B * li, lo = (size_t)B * D;
    const float scale = d->scale;
    #pragma omp parallel for num_threads(d->threads) schedule(static) if (d->threads > 1)
    for (int bh = 0; bh < B * H; bh++) {
        const int b = bh / H, h = bh % H;
        float *s = scratch + (size_t)omp_get_thread_num() * T;
        const size_t base = (size_t)b * li + (size_t)h * dh, obase = (size_t)b * D + (size_t)h * dh;
        for (int t = 0; t < T; t++) {
            const float *qt = q + t * ld + base;
            const int n = d->full ? T : t + 1;   /* the keys this query sees */
            float m = -INFINITY;
            for (int u = 0; u < n; u++) {
                s[u] = scale * dot(qt, k + u * ld + base, dh);
                if (s[u] > m) m = s[u];
            }
            float sum = 0.0f;
            for (int u = 0; u < n; u++) sum += s[u] = expf(s[u] - m);
            float *ot = o + t * lo + obase;
            for (int j = 0; j < dh; j++) ot[j] = 0.0f;
            const float r = 1.0f / sum;
            for (int u = 0; u < n; u++) {
                const float *vu = v + u * ld + base;
                const float p = s[u] * r;
                #pragma omp simd
                for (int j = 0; j < dh; j++) ot[j] += p * vu[j];
            }
            lse[(size_t)bh * T + t] = m + logf(sum);
        }
    }
}

void sd_attention_bwd(const sd_attn_dims *d, const float *q, const float *k, const float *v, const float *o,
                      const float *lse, const float *dout, float *dq, float *dk, float *dv, float *scratch)
{
    const int T = d->t, B = d->b, H = d->heads, D = d->dim, dh = D / H;
    const size_t li = d->ld_in ? (size_t)d->ld_in : (size_t)D, ld = (size_t)B * li, lo = (size_t)B * D;
    const float scale = d->scale;
    #pragma omp parallel for num_threads(d->threads) schedule(static) if (d->threads > 1)
    for (int bh = 0; bh < B * H; bh++) {
        const int b = bh / H, h = bh % H;
        float *ds = scratch + (size_t)omp_get_thread_num() * T;
        const size_t base = (size_t)b * li + (size_t)h * dh, obase = (size_t)b * D + (size_t)h * dh;
        for (int t = 0; t < T; t++) {
            const float *qt = q + t * ld + base, *dot_ = dout + t * lo + obase;
            const float l = lse[(size_t)bh * T + t];
            const float delta = dot(dot_, o + t * lo + obase, dh);
            const int n = d->full ? T : t + 1;
            for (int u = 0; u < n; u++) {
                const float p = expf(scale * dot(qt, k + u * ld + base, dh) - l);
                if (dv) {
                    float *dvu = dv + u * ld + base;
                    #pragma omp simd
                    for (int j = 0; j < dh; j++) dvu[j] += p * dot_[j];
                }
                ds[u] = p * (dot(dot_, v + u * ld + base, dh) - delta) * scale;
            }
            if (dq) {
                float *dqt = dq + t * ld + base;
                for (int u = 0; u < n; u++) {
                    const float *ku = k + u * ld + base;
                    #pragma omp simd
                    for (int j = 0; j < dh; j++) dqt[j] += ds[u] * ku[j];
                }
            }
            if (dk)
                for (int u = 0; u < n; u++) {
                    float *dku = dk + u * ld + base;
                    #pragma omp simd
                    for (int j = 0; j < dh; j++) dku[j] += ds[u] * qt[j];
                }
        }
    }
}

/* One new query against a cache of n keys and values (inference with a
 * key/value cache): q (D), kc, vc (n, D) -> o (D), per head. O(n·D). */
void sd_attention_step(int n, int heads, int dim, float scale, const float *q, const float *kc, const float *vc,
                       float *o, float *scratch)
{
    const int dh = dim / heads;
    for (int h = 0; h < heads; h++) {
        const size_t base = (size_t)h * dh;
        float m = -INFINITY, sum = 0.0f;
        for (int u = 0; u < n; u++) {
            scratch[u] = scale * dot(q + base, kc + (size_t)u * dim + base, dh);
            if (scratch[u] > m) m = scratch[u];
        }
        for (int u = 0; u < n; u++) sum += scratch[u] = expf(scratch[u] - m);
        float *oh = o + base;
        for (int j = 0; j < dh; j++) oh[j] = 0.0f;
        const float r = 1.0f / sum;
        for (int u = 0; u < n; u++) {
            const float *vu = vc + (size_t)u * dim + base, p = scratch[u] * r;
            for (int j = 0; j < dh; j++) oh[j] += p * vu[j];
        }
    }
}
