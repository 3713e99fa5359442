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
 * each row of p from q, k and lse: no T×T matrix is ever stored, only rows of
 * T scores per thread.  Backward, with dp_u = do_t · v_u and
 * δ_t = Σ_u p_u dp_u = do_t · o_t:
 *   ds_u = p_u (dp_u − δ_t);  dq_t += scale Σ_u ds_u k_u;
 *   dk_u += scale ds_u q_t;   dv_u += p_u do_t
 * Work is split by (sequence, head) pairs, whose rows and columns are disjoint,
 * so every sum runs in one fixed order whatever the thread count.
 *
 * Speed: one (sequence, head) pair's keys and values sit T rows of B·ld_in
 * floats apart (a page or more each), so the thread first copies them into
 * its scratch, K also transposed (dh, T): a query's scores are then dh
 * vector passes over one contiguous row of T (Σ_j q_j K_j,u, vectorised over
 * u), the exponentials are sd_vexpf's vector code, and the weighted sums of
 * values or keys run over contiguous rows of dh.  The naive kernel this
 * replaced (one scalar dot product per score, libm's expf) is kept below as
 * sd_attention_fwd_naive / sd_attention_bwd_naive: the tests hold the two
 * together. */
#include "shendu/kernels.h"
#include "engine/parallel.h"
#include "kernels/vmath.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#define QBLOCK 64   /* queries per block of the GEMM path */

/* floats of scratch per thread: sd_attention_fwd and _bwd need threads times this */
size_t sd_attention_scratch_floats(int t, int dh)
{
    const size_t loops = (size_t)5 * t * dh + 2 * (size_t)t, gemms = (size_t)2 * QBLOCK * t;
    return (loops > gemms ? loops : gemms) + 32;
}

static inline float dot(const float *restrict a, const float *restrict b, int n)
{
    float s = 0.0f;
    #pragma omp simd reduction(+:s)
    for (int i = 0; i < n; i++) s += a[i] * b[i];
    return s;
}

/* head (base) of T rows ld apart -> rows (T, dh) and, if kt, columns (dh, T) */
static void pack(const float *x, size_t ld, int T, int dh, float *restrict rows, float *restrict kt)
{
    for (int u = 0; u < T; u++) {
        const float *xu = x + u * ld;
        if (rows) memcpy(rows + (size_t)u * dh, xu, (size_t)dh * sizeof *xu);
        if (kt)
            for (int j = 0; j < dh; j++) kt[(size_t)j * T + u] = xu[j];
    }
}

/* s[0..n) = scale · Σ_j q_j kt[j][0..n): one query against the packed keys */
static void scores(const float *restrict q, const float *restrict kt, int T, int dh, int n, float scale,
                   float *restrict s)
{
    #pragma omp simd
    for (int u = 0; u < n; u++) s[u] = 0.0f;
    for (int j = 0; j < dh; j++) {
        const float qj = scale * q[j], *restrict kj = kt + (size_t)j * T;
        #pragma omp simd
        for (int u = 0; u < n; u++) s[u] += qj * kj[u];
    }
}

/* ---- The GEMM path (d->ctx set): per (sequence, head) pair and block of up to
 * QBLOCK queries [r0, r0 + rows), the keys they see [0, nk) (all T when full):
 *   S = scale Q Kᵀ (rows, nk), a GEMM reading q and k in place; the rows'
 *   softmax (sd_vexpf), masked entries 0; O = P V, a GEMM.
 * Backward, per block: P again from S and lse, dP = dO Vᵀ, dS = P ∘ (dP − δ)·scale;
 *   dV[0:nk] += Pᵀ dO, dQ += dS K, dK[0:nk] += dSᵀ Q: five GEMMs, each run by
 *   the calling thread alone (sd_gemm inside a parallel region), so the sums'
 *   order is the pair's own. Scratch: two blocks of QBLOCK × T per thread. */
static void fwd_gemm(const sd_attn_dims *d, const float *q, const float *k, const float *v, float *o, float *lse,
                     float *scratch)
{
    const int T = d->t, B = d->b, H = d->heads, D = d->dim, dh = D / H;
    const size_t li = d->ld_in ? (size_t)d->ld_in : (size_t)D, ld = (size_t)B * li, lo = (size_t)B * D;
    const size_t per = sd_attention_scratch_floats(T, dh);
    #pragma omp parallel for num_threads(d->threads) schedule(static) if (d->threads > 1)
    for (int bh = 0; bh < B * H; bh++) {
        const int b = bh / H, h = bh % H;
        float *S = scratch + (size_t)omp_get_thread_num() * per;
        const size_t base = (size_t)b * li + (size_t)h * dh, obase = (size_t)b * D + (size_t)h * dh;
        for (int r0 = 0; r0 < T; r0 += QBLOCK) {
            const int rows = T - r0 < QBLOCK ? T - r0 : QBLOCK, nk = d->full ? T : r0 + rows;
            sd_gemm(d->ctx, 0, 1, rows, nk, dh, d->scale, q + r0 * ld + base, (int)ld, k + base, (int)ld, 0.0f, S, T);
            for (int i = 0; i < rows; i++) {
                const int n = d->full ? T : r0 + i + 1;
                float *restrict s = S + (size_t)i * T, m = -INFINITY, sum = 0.0f;
                for (int u = 0; u < n; u++) m = s[u] > m ? s[u] : m;
                #pragma omp simd reduction(+:sum)
                for (int u = 0; u < n; u++) {
                    s[u] = sd_vexpf(s[u] - m);
                    sum += s[u];
                }
                const float r = 1.0f / sum;
                #pragma omp simd
                for (int u = 0; u < n; u++) s[u] *= r;
                for (int u = n; u < nk; u++) s[u] = 0.0f;
                lse[(size_t)bh * T + r0 + i] = m + logf(sum);
            }
            sd_gemm(d->ctx, 0, 0, rows, dh, nk, 1.0f, S, T, v + base, (int)ld, 0.0f, o + r0 * lo + obase, (int)lo);
        }
    }
}

static void bwd_gemm(const sd_attn_dims *d, const float *q, const float *k, const float *v, const float *o,
                     const float *lse, const float *dout, float *dq, float *dk, float *dv, float *scratch)
{
    const int T = d->t, B = d->b, H = d->heads, D = d->dim, dh = D / H;
    const size_t li = d->ld_in ? (size_t)d->ld_in : (size_t)D, ld = (size_t)B * li, lo = (size_t)B * D;
    const size_t per = sd_attention_scratch_floats(T, dh);
    const float scale = d->scale;
    #pragma omp parallel for num_threads(d->threads) schedule(static) if (d->threads > 1)
    for (int bh = 0; bh < B * H; bh++) {
        const int b = bh / H, h = bh % H;
        float *P = scratch + (size_t)omp_get_thread_num() * per, *dS = P + (size_t)QBLOCK * T;
        const size_t base = (size_t)b * li + (size_t)h * dh, obase = (size_t)b * D + (size_t)h * dh;
        for (int r0 = 0; r0 < T; r0 += QBLOCK) {
            const int rows = T - r0 < QBLOCK ? T - r0 : QBLOCK, nk = d->full ? T : r0 + rows;
            const float *qb = q + r0 * ld + base, *dob = dout + r0 * lo + obase;
            sd_gemm(d->ctx, 0, 1, rows, nk, dh, scale, qb, (int)ld, k + base, (int)ld, 0.0f, P, T);
            sd_gemm(d->ctx, 0, 1, rows, nk, dh, 1.0f, dob, (int)lo, v + base, (int)ld, 0.0f, dS, T);
            for (int i = 0; i < rows; i++) {
                const int t = r0 + i, n = d->full ? T : t + 1;
                const float l = lse[(size_t)bh * T + t], delta = dot(dout + t * lo + obase, o + t * lo + obase, dh);
                float *restrict p = P + (size_t)i * T, *restrict ds = dS + (size_t)i * T;
                #pragma omp simd
                for (int u = 0; u < n; u++) {
                    p[u] = sd_vexpf(p[u] - l);
                    ds[u] = p[u] * (ds[u] - delta) * scale;
                }
                for (int u = n; u < nk; u++) p[u] = ds[u] = 0.0f;
            }
            if (dv) sd_gemm(d->ctx, 1, 0, nk, dh, rows, 1.0f, P, T, dob, (int)lo, 1.0f, dv + base, (int)ld);
            if (dq) sd_gemm(d->ctx, 0, 0, rows, dh, nk, 1.0f, dS, T, k + base, (int)ld, 1.0f, dq + r0 * ld + base, (int)ld);
            if (dk) sd_gemm(d->ctx, 1, 0, nk, dh, rows, 1.0f, dS, T, qb, (int)ld, 1.0f, dk + base, (int)ld);
        }
    }
}

void sd_attention_fwd(const sd_attn_dims *d, const float *q, const float *k, const float *v, float *o,
                      float *lse, float *scratch)
{
    if (d->ctx) { fwd_gemm(d, q, k, v, o, lse, scratch); return; }
    const int T = d->t, B = d->b, H = d->heads, D = d->dim, dh = D / H;
    const size_t li = d->ld_in ? (size_t)d->ld_in : (size_t)D, ld = (size_t)B * li, lo = (size_t)B * D;
    const size_t per = sd_attention_scratch_floats(T, dh);
    const float scale = d->scale;
    #pragma omp parallel for num_threads(d->threads) schedule(static) if (d->threads > 1)
    for (int bh = 0; bh < B * H; bh++) {
        const int b = bh / H, h = bh % H;
        float *kt = scratch + (size_t)omp_get_thread_num() * per, *vr = kt + (size_t)T * dh, *s = vr + (size_t)T * dh;
        const size_t base = (size_t)b * li + (size_t)h * dh, obase = (size_t)b * D + (size_t)h * dh;
        pack(k + base, ld, T, dh, NULL, kt);
        pack(v + base, ld, T, dh, vr, NULL);
        for (int t = 0; t < T; t++) {
            const int n = d->full ? T : t + 1;   /* the keys this query sees */
            scores(q + t * ld + base, kt, T, dh, n, scale, s);
            float m = -INFINITY;
            for (int u = 0; u < n; u++) m = s[u] > m ? s[u] : m;
            float sum = 0.0f;
            #pragma omp simd reduction(+:sum)
            for (int u = 0; u < n; u++) {
                s[u] = sd_vexpf(s[u] - m);
                sum += s[u];
            }
            float *restrict ot = o + t * lo + obase;
            for (int j = 0; j < dh; j++) ot[j] = 0.0f;
            const float r = 1.0f / sum;
            for (int u = 0; u < n; u++) {
                const float *restrict vu = vr + (size_t)u * dh, p = s[u] * r;
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
    if (d->ctx) { bwd_gemm(d, q, k, v, o, lse, dout, dq, dk, dv, scratch); return; }
    const int T = d->t, B = d->b, H = d->heads, D = d->dim, dh = D / H;
    const size_t li = d->ld_in ? (size_t)d->ld_in : (size_t)D, ld = (size_t)B * li, lo = (size_t)B * D;
    const size_t per = sd_attention_scratch_floats(T, dh), tdh = (size_t)T * dh;
    const float scale = d->scale;
    #pragma omp parallel for num_threads(d->threads) schedule(static) if (d->threads > 1)
    for (int bh = 0; bh < B * H; bh++) {
        const int b = bh / H, h = bh % H;
        /* K by columns and by rows, V by columns, the sums for dK and dV, a row of p and of ds */
        float *kt = scratch + (size_t)omp_get_thread_num() * per, *kr = kt + tdh, *vt = kr + tdh;
        float *dks = vt + tdh, *dvs = dks + tdh, *p = dvs + tdh, *ds = p + T;
        const size_t base = (size_t)b * li + (size_t)h * dh, obase = (size_t)b * D + (size_t)h * dh;
        pack(k + base, ld, T, dh, kr, kt);
        pack(v + base, ld, T, dh, NULL, vt);
        memset(dks, 0, 2 * tdh * sizeof *dks);
        for (int t = 0; t < T; t++) {
            const float *restrict qt = q + t * ld + base, *restrict dot_ = dout + t * lo + obase;
            const float l = lse[(size_t)bh * T + t];
            const float delta = dot(dot_, o + t * lo + obase, dh);
            const int n = d->full ? T : t + 1;
            scores(qt, kt, T, dh, n, scale, p);
            scores(dot_, vt, T, dh, n, 1.0f, ds);   /* dp_u = do_t · v_u */
            #pragma omp simd
            for (int u = 0; u < n; u++) {
                p[u] = sd_vexpf(p[u] - l);
                ds[u] = p[u] * (ds[u] - delta) * scale;
            }
            for (int u = 0; u < n; u++) {
                float *restrict dvu = dvs + (size_t)u * dh, *restrict dku = dks + (size_t)u * dh;
                const float pu = p[u], su = ds[u];
                #pragma omp simd
                for (int j = 0; j < dh; j++) {
                    dvu[j] += pu * dot_[j];
                    dku[j] += su * qt[j];
                }
            }
            if (dq) {
                float *restrict dqt = dq + t * ld + base;
                for (int u = 0; u < n; u++) {
                    const float *restrict ku = kr + (size_t)u * dh, su = ds[u];
                    #pragma omp simd
                    for (int j = 0; j < dh; j++) dqt[j] += su * ku[j];
                }
            }
        }
        for (int u = 0; u < T; u++) {
            if (dk) {
                float *restrict x = dk + u * ld + base;
                const float *restrict y = dks + (size_t)u * dh;
                for (int j = 0; j < dh; j++) x[j] += y[j];
            }
            if (dv) {
                float *restrict x = dv + u * ld + base;
                const float *restrict y = dvs + (size_t)u * dh;
                for (int j = 0; j < dh; j++) x[j] += y[j];
            }
        }
    }
}

/* ---- The naive kernels: one scalar dot product per score, libm's expf, no
 * packing (scratch: T floats per thread). The tests' reference for the ones above. */

void sd_attention_fwd_naive(const sd_attn_dims *d, const float *q, const float *k, const float *v, float *o,
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
            const int n = d->full ? T : t + 1;
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
                for (int j = 0; j < dh; j++) ot[j] += p * vu[j];
            }
            lse[(size_t)bh * T + t] = m + logf(sum);
        }
    }
}

void sd_attention_bwd_naive(const sd_attn_dims *d, const float *q, const float *k, const float *v, const float *o,
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
                    for (int j = 0; j < dh; j++) dvu[j] += p * dot_[j];
                }
                ds[u] = p * (dot(dot_, v + u * ld + base, dh) - delta) * scale;
            }
            if (dq) {
                float *dqt = dq + t * ld + base;
                for (int u = 0; u < n; u++) {
                    const float *ku = k + u * ld + base;
                    for (int j = 0; j < dh; j++) dqt[j] += ds[u] * ku[j];
                }
            }
            if (dk)
                for (int u = 0; u < n; u++) {
                    float *dku = dk + u * ld + base;
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
