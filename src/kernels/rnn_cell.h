/* Internal to libshendu: the element-wise part of one recurrent step (tanh
 * RNN or LSTM), forward and backward, used by the fused sequence ops in
 * src/engine/op_seq.c. The matrix products stay in sd_gemm; these kernels do
 * everything between two of them in one pass over the step's values.
 *
 * Shapes, for one time step: rows b0..b1 of B sequences, H hidden units, G
 * gates (G = 1: tanh RNN; G = 4: LSTM, gates i, f, g, o in PyTorch's order).
 * A gate matrix is (B, G·H): column k·H + j is gate k of hidden unit j. */
#ifndef SHENDU_RNN_CELL_H
#define SHENDU_RNN_CELL_H

#include <stdint.h>
#include <string.h>

#include "kernels/vmath.h"   /* sd_vsigmoidf, sd_vtanhf: vector code */

/* One step forward for rows [b0, b1):
 *   pre_k(b, j) = xp[b·ldx + k·H + j] + bias[k·H + j] + gp[b·G·H + k·H + j]
 *   G = 1:  h = tanh(pre_0)
 *   G = 4:  i, f, o = σ(pre_0, pre_1, pre_3), g = tanh(pre_2)
 *           c = f ∘ c_prev + i ∘ g,   h = o ∘ tanh(c)
 * Rows with live[b] == 0 (the sequence has ended) carry h_prev, c_prev over. */
typedef struct sd_cell_fwd_args {
    int H, G;
    const float *xp; long ldx;      /* (B, G·H) input projection of this step */
    const float *bias;              /* (G·H) */
    const float *gp;                /* (B, G·H) h_prev·W_hhᵀ */
    const float *h_prev, *c_prev;   /* (B, H); c_prev: LSTM only */
    float *h, *c;                   /* (B, H) outputs; c: LSTM only */
    float *act;                     /* (B, G·H) activated gates (LSTM; zero for ended rows) */
    float *tc;                      /* (B, H) tanh(c) (LSTM) */
    const uint8_t *live;            /* (B) or NULL: every row live */
} sd_cell_fwd_args;
void sd_cell_fwd(const sd_cell_fwd_args *a, int b0, int b1);

/* One step backward for rows [b0, b1). With dh = dy + dnext:
 *   G = 1:  da = dh ∘ (1 − h²)
 *   G = 4:  dc = dcnext + dh ∘ o ∘ (1 − tanh²c)
 *           di = dc ∘ g ∘ i(1−i),  df = dc ∘ c_prev ∘ f(1−f),
 *           dg = dc ∘ i ∘ (1−g²),  do = dh ∘ tanh c ∘ o(1−o),   dcnext ← dc ∘ f
 * dG (B, G·H) is overwritten with the pre-activation gradients, which are
 * also added into dx (the input projection's gradient); dnext is set
 * to 0 for live rows (the caller then adds dG·W_hh) and to dh for ended rows,
 * which pass dh and dcnext through unchanged. */
typedef struct sd_cell_bwd_args {
    int H, G;
    const float *dy;                /* (B, H) gradient of this step's output */
    float *dnext, *dcnext;          /* (B, H) in/out; dcnext: LSTM only */
    const float *h;                 /* (B, H) this step's output (RNN) */
    const float *act, *tc;          /* saved by the forward (LSTM) */
    const float *c_prev;            /* (B, H) LSTM */
    float *dG;                      /* (B, G·H) out */
    float *dx; long lddx;           /* (B, G·H) += dG (the input projection's gradient), or NULL */
    float *dG_scratch;              /* (G·H) floats written instead when dx is NULL */
    const uint8_t *live;
} sd_cell_bwd_args;
void sd_cell_bwd(const sd_cell_bwd_args *a, int b0, int b1);

#endif
