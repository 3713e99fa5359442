/* Ops for Deep Q-Learning: picking Q(s,a) of the action taken in each row,
 * and the Huber (smooth L1) loss that DQN often uses instead of the square. */
#include "engine/ops.h"

#include <math.h>

/* pick: x (N,C), idx[N] in [0,C) -> y (N), y_i = x[i, idx_i]
 * (PyTorch's x.gather(1, idx[:, None]).squeeze(1));  dx[i, idx_i] += dy_i */
sd_tensor *sd_pick(sd_graph *g, sd_tensor *x, const int32_t *idx)
{
    if (!x) return NULL;
    if (x->shape.ndim != 2 || x->shape.d[0] < 1 || x->shape.d[1] < 1)
        return sd_op_error("pick", x, NULL, "x must be (N,C) with N, C >= 1");
    if (!idx) return sd_op_error("pick", x, NULL, "no indices");
    int N = x->shape.d[0], C = x->shape.d[1];
    for (int i = 0; i < N; i++)
        if (idx[i] < 0 || idx[i] >= C) {
            sd_error("pick: index %d of row %d is outside [0,%d)", idx[i], i, C);
            return NULL;
        }
    sd_tensor *y = sd_node(g, SD_OP_PICK, SD_SHAPE(N), x, NULL, NULL);
    if (!y) return NULL;
    y->aux = idx;
    return sd_node_forward(g, y);
}

void sd_op_pick_fwd(sd_graph *g, sd_tensor *y)
{
    const sd_tensor *x = y->src[0];
    const int32_t *idx = y->aux;
    int N = x->shape.d[0], C = x->shape.d[1];
    for (int i = 0; i < N; i++) y->data[i] = x->data[(size_t)i * C + idx[i]];
}

void sd_op_pick_bwd(sd_graph *g, sd_tensor *y)
{
    sd_tensor *x = y->src[0];
    const int32_t *idx = y->aux;
    int N = x->shape.d[0], C = x->shape.d[1];
    for (int i = 0; i < N; i++) x->grad[(size_t)i * C + idx[i]] += y->grad[i];
}

/* huber: d = p − t, L = (1/n) Σ h(d), h(d) = d²/2 if |d| <= δ else δ (|d| − δ/2)
 * (PyTorch's smooth_l1_loss with beta = δ = 1 is the same);  farg[0] = δ.
 * dp = clamp(d, −δ, δ) / n, dt = −dp */
sd_tensor *sd_huber(sd_graph *g, sd_tensor *pred, sd_tensor *target, float delta)
{
    if (!pred || !target) return NULL;
    if (!sd_shape_eq(pred->shape, target->shape) || pred->n == 0)
        return sd_op_error("huber", pred, target, "prediction and target must have one non-empty shape");
    if (!(delta > 0.0f)) return sd_op_error("huber", pred, target, "delta must be positive");
    sd_tensor *y = sd_node(g, SD_OP_HUBER, SD_SHAPE(1), pred, target, NULL);
    if (!y) return NULL;
    y->farg[0] = delta;
    return sd_node_forward(g, y);
}

void sd_op_huber_fwd(sd_graph *g, sd_tensor *y)
{
    const sd_tensor *p = y->src[0], *t = y->src[1];
    double delta = y->farg[0], s = 0.0;
    for (size_t i = 0; i < p->n; i++) {
        double d = fabs((double)p->data[i] - t->data[i]);
        s += d <= delta ? 0.5 * d * d : delta * (d - 0.5 * delta);
    }
    y->data[0] = (float)(s / (double)p->n);
}

void sd_op_huber_bwd(sd_graph *g, sd_tensor *y)
{
    sd_tensor *p = y->src[0], *t = y->src[1];
    float delta = y->farg[0], k = y->grad[0] / (float)p->n;
    for (size_t i = 0; i < p->n; i++) {
        float d = p->data[i] - t->data[i];
        d = d > delta ? delta : d < -delta ? -delta : d;
        if (p->grad) p->grad[i] += k * d;
        if (t->grad) t->grad[i] -= k * d;
    }
}
