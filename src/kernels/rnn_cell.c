/* The element-wise half of a recurrent step (see rnn_cell.h): gate
 * activations, the cell update and their derivatives, one pass per row.
 * Each row's work is a loop over the H hidden units with every array
 * contiguous and restrict-qualified, which the compiler vectorises. */
#include "rnn_cell.h"

/* One row of the LSTM forward; one pointer per gate, so the loop vectorises. */
static void lstm_fwd_row(int H, const float *restrict xi, const float *restrict xf, const float *restrict xg,
                         const float *restrict xo, const float *restrict bi, const float *restrict bf,
                         const float *restrict bg, const float *restrict bo, const float *restrict gi,
                         const float *restrict gf, const float *restrict gg, const float *restrict go,
                         const float *restrict cp, float *restrict c, float *restrict h, float *restrict ai,
                         float *restrict af, float *restrict ag, float *restrict ao, float *restrict tc)
{
    for (int j = 0; j < H; j++) {
        float i = sd_vsigmoidf(xi[j] + bi[j] + gi[j]), f = sd_vsigmoidf(xf[j] + bf[j] + gf[j]);
        float g = sd_vtanhf(xg[j] + bg[j] + gg[j]), o = sd_vsigmoidf(xo[j] + bo[j] + go[j]);
        float cn = f * cp[j] + i * g, t = sd_vtanhf(cn);
        c[j] = cn;
        h[j] = o * t;
        ai[j] = i; af[j] = f; ag[j] = g; ao[j] = o;
        tc[j] = t;
    }
}

static void rnn_fwd_row(int H, const float *restrict xp, const float *restrict bias, const float *restrict gp,
                        float *restrict h)
{
    for (int j = 0; j < H; j++) h[j] = sd_vtanhf(xp[j] + bias[j] + gp[j]);
}

/* xp, bias, gp (B,G·H) -> h, c (B,H) for rows [b0,b1). */
void sd_cell_fwd(const sd_cell_fwd_args *a, int b0, int b1)
{
    const int H = a->H, G = a->G, GH = G * H;
    for (int b = b0; b < b1; b++) {
        const float *hp = a->h_prev + (size_t)b * H, *gp = a->gp + (size_t)b * GH;
        const float *xp = a->xp + (size_t)b * a->ldx, *bias = a->bias;
        float *h = a->h + (size_t)b * H;
        if (a->live && !a->live[b]) {            /* ended: carry the state over */
            memcpy(h, hp, (size_t)H * sizeof(float));
            if (G == 4) {
                memcpy(a->c + (size_t)b * H, a->c_prev + (size_t)b * H, (size_t)H * sizeof(float));
                memset(a->act + (size_t)b * GH, 0, (size_t)GH * sizeof(float));
            }
            continue;
        }
        if (G == 1) {
            rnn_fwd_row(H, xp, bias, gp, h);
            continue;
        }
        float *act = a->act + (size_t)b * GH;
        lstm_fwd_row(H, xp, xp + H, xp + 2 * H, xp + 3 * H, bias, bias + H, bias + 2 * H, bias + 3 * H, gp,
                     gp + H, gp + 2 * H, gp + 3 * H, a->c_prev + (size_t)b * H, a->c + (size_t)b * H, h, act,
                     act + H, act + 2 * H, act + 3 * H, a->tc + (size_t)b * H);
    }
}

/* One row of the LSTM backward: gate values, tanh c, c_prev in; dG's four
 * gate slices out (di at dG, df at dG + H, ...) and added into dx (same
 * layout); dnext zeroed, dcnext updated. */
static void lstm_bwd_row(int H, const float *restrict act, const float *restrict tc, const float *restrict cp,
                         const float *restrict dy, float *restrict dn, float *restrict dcn, float *restrict dG,
                         float *restrict dx)
{
    for (int j = 0; j < H; j++) {
        float i = act[j], f = act[H + j], g = act[2 * H + j], o = act[3 * H + j], t = tc[j];
        float dh = dy[j] + dn[j];
        float dc = dcn[j] + dh * o * (1.0f - t * t);
        float di = dc * g * i * (1.0f - i), df = dc * cp[j] * f * (1.0f - f);
        float dg = dc * i * (1.0f - g * g), d_o = dh * t * o * (1.0f - o);
        dG[j] = di; dG[H + j] = df; dG[2 * H + j] = dg; dG[3 * H + j] = d_o;
        dx[j] += di; dx[H + j] += df; dx[2 * H + j] += dg; dx[3 * H + j] += d_o;
        dcn[j] = dc * f;
        dn[j] = 0.0f;
    }
}

static void rnn_bwd_row(int H, const float *restrict h, const float *restrict dy, float *restrict dn,
                        float *restrict dG, float *restrict dx)
{
    for (int j = 0; j < H; j++) {
        float d = (dy[j] + dn[j]) * (1.0f - h[j] * h[j]);
        dG[j] = d;
        dx[j] += d;
        dn[j] = 0.0f;
    }
}

/* dy, dnext, dcnext (B,H) -> dG (B,G·H), dx, dnext, dcnext for rows [b0,b1). */
void sd_cell_bwd(const sd_cell_bwd_args *a, int b0, int b1)
{
    const int H = a->H, G = a->G, GH = G * H;
    for (int b = b0; b < b1; b++) {
        const float *dy = a->dy + (size_t)b * H;
        float *dn = a->dnext + (size_t)b * H, *dG = a->dG + (size_t)b * GH;
        float *dx = a->dx ? a->dx + (size_t)b * a->lddx : a->dG_scratch;
        if (a->live && !a->live[b]) {            /* ended: dh and dc pass through */
            for (int j = 0; j < H; j++) dn[j] += dy[j];
            memset(dG, 0, (size_t)GH * sizeof(float));
            continue;
        }
        if (G == 1) rnn_bwd_row(H, a->h + (size_t)b * H, dy, dn, dG, dx);
        else lstm_bwd_row(H, a->act + (size_t)b * GH, a->tc + (size_t)b * H, a->c_prev + (size_t)b * H, dy, dn,
                          a->dcnext + (size_t)b * H, dG, dx);
    }
}
