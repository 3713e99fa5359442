/* The element-wise half of a recurrent step (see rnn_cell.h): gate
 * activations, the cell update and their derivatives, one pass per step.
 * Inner loops run over the (up to 16) hidden units of a group, contiguous in
 * every array, so the compiler turns each into a few vector instructions. */
#include "rnn_cell.h"

static int group_width(int H, int q)
{
    int w = H - SD_CELL_GROUP * q;
    return w < SD_CELL_GROUP ? w : SD_CELL_GROUP;
}

/* xp, bias, gp (B,G·H) -> h, c (B,H) for units [j0,j1); j0 is a multiple of 16. */
void sd_cell_fwd(const sd_cell_fwd_args *a, int j0, int j1)
{
    const int H = a->H, G = a->G, GH = G * H;
    for (int b = 0; b < a->B; b++) {
        const float *xp = a->xp + (size_t)b * a->ldx;
        const float *hp = a->h_prev + (size_t)b * H;
        float *h = a->h + (size_t)b * H;
        if (a->live && !a->live[b]) {            /* ended: carry the state over */
            memcpy(h + j0, hp + j0, (size_t)(j1 - j0) * sizeof(float));
            if (G == 4) memcpy(a->c + (size_t)b * H + j0, a->c_prev + (size_t)b * H + j0,
                               (size_t)(j1 - j0) * sizeof(float));
            if (a->act) for (int k = 0; k < G; k++) memset(a->act + (size_t)b * GH + k * H + j0, 0, (size_t)(j1 - j0) * sizeof(float));
            continue;
        }
        for (int j = j0; j < j1; j += SD_CELL_GROUP) {
            const int q = j / SD_CELL_GROUP, w = group_width(H, q);
            const float *gp = a->gp ? a->gp + (size_t)b * GH + (size_t)G * SD_CELL_GROUP * q : NULL;
            float pre[4][SD_CELL_GROUP];
            for (int k = 0; k < G; k++)
                for (int r = 0; r < w; r++)
                    pre[k][r] = xp[k * H + j + r] + (a->bias ? a->bias[k * H + j + r] : 0.0f) +
                                (gp ? gp[k * w + r] : 0.0f);
            if (G == 1) {
                for (int r = 0; r < w; r++) h[j + r] = sd_fast_tanhf(pre[0][r]);
                continue;
            }
            /* Gates and the new cell state into locals first (no aliasing, so
             * the loop vectorises), then the stores. */
            const float *cp = a->c_prev + (size_t)b * H + j;
            float gi[SD_CELL_GROUP], gf[SD_CELL_GROUP], gg[SD_CELL_GROUP], go[SD_CELL_GROUP];
            float cn[SD_CELL_GROUP], tn[SD_CELL_GROUP];
            for (int r = 0; r < w; r++) {
                gi[r] = sd_fast_sigmoidf(pre[0][r]);
                gf[r] = sd_fast_sigmoidf(pre[1][r]);
                gg[r] = sd_fast_tanhf(pre[2][r]);
                go[r] = sd_fast_sigmoidf(pre[3][r]);
                cn[r] = gf[r] * cp[r] + gi[r] * gg[r];
                tn[r] = sd_fast_tanhf(cn[r]);
            }
            float *c = a->c + (size_t)b * H + j, *hj = h + j;
            for (int r = 0; r < w; r++) { c[r] = cn[r]; hj[r] = go[r] * tn[r]; }
            if (a->tc) memcpy(a->tc + (size_t)b * H + j, tn, (size_t)w * sizeof(float));
            if (a->act) {
                float *act = a->act + (size_t)b * GH + j;
                memcpy(act, gi, (size_t)w * sizeof(float));
                memcpy(act + H, gf, (size_t)w * sizeof(float));
                memcpy(act + 2 * H, gg, (size_t)w * sizeof(float));
                memcpy(act + 3 * H, go, (size_t)w * sizeof(float));
            }
        }
    }
}

/* One row of the LSTM backward, units [j0,j1): gate values ai..ao, tanh c, c_prev
 * in; dG's four gate slices out; dnext zeroed, dcnext updated. */
static void lstm_bwd_row(int j0, int j1, const float *restrict ai, const float *restrict af,
                         const float *restrict ag, const float *restrict ao, const float *restrict tc,
                         const float *restrict cp, const float *restrict dy, float *restrict dn,
                         float *restrict dcn, float *restrict di, float *restrict df, float *restrict dg,
                         float *restrict dO)
{
    for (int j = j0; j < j1; j++) {
        float i = ai[j], f = af[j], gg = ag[j], o = ao[j], t = tc[j];
        float dh = dy[j] + dn[j];
        float dc = dcn[j] + dh * o * (1.0f - t * t);
        di[j] = dc * gg * i * (1.0f - i);
        df[j] = dc * cp[j] * f * (1.0f - f);
        dg[j] = dc * i * (1.0f - gg * gg);
        dO[j] = dh * t * o * (1.0f - o);
        dcn[j] = dc * f;
        dn[j] = 0.0f;
    }
}

/* dy, dnext, dcnext (B,H) -> dG (B,G·H), dnext, dcnext for units [j0,j1). */
void sd_cell_bwd(const sd_cell_bwd_args *a, int j0, int j1)
{
    const int H = a->H, G = a->G, GH = G * H;
    for (int b = 0; b < a->B; b++) {
        const float *dy = a->dy + (size_t)b * H;
        float *dn = a->dnext + (size_t)b * H, *dG = a->dG + (size_t)b * GH;
        if (a->live && !a->live[b]) {            /* ended: dh and dc pass through */
            for (int j = j0; j < j1; j++) dn[j] += dy[j];
            for (int k = 0; k < G; k++) memset(dG + k * H + j0, 0, (size_t)(j1 - j0) * sizeof(float));
            continue;
        }
        if (G == 1) {
            const float *h = a->h + (size_t)b * H;
            for (int j = j0; j < j1; j++) {
                dG[j] = (dy[j] + dn[j]) * (1.0f - h[j] * h[j]);
                dn[j] = 0.0f;
            }
            continue;
        }
        const float *act = a->act + (size_t)b * GH;
        lstm_bwd_row(j0, j1, act, act + H, act + 2 * H, act + 3 * H, a->tc + (size_t)b * H,
                     a->c_prev + (size_t)b * H, dy, dn, a->dcnext + (size_t)b * H, dG, dG + H, dG + 2 * H,
                     dG + 3 * H);
    }
}
