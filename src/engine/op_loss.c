/* Softmax, log-softmax and the lecture's three losses: MSE, cross-entropy and
 * binary cross-entropy, the last two taken from logits in a stable form. */
#include "engine/ops.h"

#include <math.h>

/* Rows of the last dimension: x viewed as (R, C). */
static void rows_cols(const sd_tensor *x, int *R, int *C)
{
    *C = x->shape.ndim ? x->shape.d[x->shape.ndim - 1] : 1;
    *R = *C ? (int)(x->n / (size_t)*C) : 0;
}

/* log Σ_j e^{x_j}, shifted by the max so nothing overflows. */
static float logsumexp(const float *x, int C)
{
    float m = x[0];
    for (int j = 1; j < C; j++) if (x[j] > m) m = x[j];
    float s = 0.0f;
    for (int j = 0; j < C; j++) s += expf(x[j] - m);
    return m + logf(s);
}

static sd_tensor *rowwise(sd_graph *g, int op, const char *name, sd_tensor *x)
{
    if (!x) return NULL;
    if (x->shape.ndim < 1 || x->shape.d[x->shape.ndim - 1] < 1)
        return sd_op_error(name, x, NULL, "needs a non-empty last dimension");
    sd_tensor *y = sd_node(g, op, x->shape, x, NULL, NULL);
    return y ? sd_node_forward(g, y) : NULL;
}

/* softmax: y_ij = e^{x_ij} / Σ_k e^{x_ik};  dx_ij = y_ij (dy_ij − Σ_k dy_ik y_ik) */
sd_tensor *sd_softmax(sd_graph *g, sd_tensor *x) { return rowwise(g, SD_OP_SOFTMAX, "softmax", x); }

void sd_op_softmax_fwd(sd_graph *g, sd_tensor *y)
{
    int R, C;
    rows_cols(y, &R, &C);
    for (int r = 0; r < R; r++) {
        const float *x = y->src[0]->data + (size_t)r * C;
        float *o = y->data + (size_t)r * C, lse = logsumexp(x, C);
        for (int j = 0; j < C; j++) o[j] = expf(x[j] - lse);
    }
}

void sd_op_softmax_bwd(sd_graph *g, sd_tensor *y)
{
    int R, C;
    rows_cols(y, &R, &C);
    for (int r = 0; r < R; r++) {
        const float *o = y->data + (size_t)r * C, *dy = y->grad + (size_t)r * C;
        float *dx = y->src[0]->grad + (size_t)r * C, dot = 0.0f;
        for (int j = 0; j < C; j++) dot += dy[j] * o[j];
        for (int j = 0; j < C; j++) dx[j] += o[j] * (dy[j] - dot);
    }
}

/* log_softmax: y_ij = x_ij − log Σ_k e^{x_ik};  dx_ij = dy_ij − e^{y_ij} Σ_k dy_ik */
sd_tensor *sd_log_softmax(sd_graph *g, sd_tensor *x) { return rowwise(g, SD_OP_LOG_SOFTMAX, "log_softmax", x); }

void sd_op_log_softmax_fwd(sd_graph *g, sd_tensor *y)
{
    int R, C;
    rows_cols(y, &R, &C);
    for (int r = 0; r < R; r++) {
        const float *x = y->src[0]->data + (size_t)r * C;
        float *o = y->data + (size_t)r * C, lse = logsumexp(x, C);
        for (int j = 0; j < C; j++) o[j] = x[j] - lse;
    }
}

void sd_op_log_softmax_bwd(sd_graph *g, sd_tensor *y)
{
    int R, C;
    rows_cols(y, &R, &C);
    for (int r = 0; r < R; r++) {
        const float *o = y->data + (size_t)r * C, *dy = y->grad + (size_t)r * C;
        float *dx = y->src[0]->grad + (size_t)r * C, s = 0.0f;
        for (int j = 0; j < C; j++) s += dy[j];
        for (int j = 0; j < C; j++) dx[j] += dy[j] - expf(o[j]) * s;
    }
}

/* mse: L = (1/n) Σ (p − t)²;  dp = 2 (p − t) / n, dt = −dp */
sd_tensor *sd_mse(sd_graph *g, sd_tensor *pred, sd_tensor *target)
{
    if (!pred || !target) return NULL;
    if (!sd_shape_eq(pred->shape, target->shape) || pred->n == 0)
        return sd_op_error("mse", pred, target, "prediction and target must have one non-empty shape");
    sd_tensor *y = sd_node(g, SD_OP_MSE, SD_SHAPE(1), pred, target, NULL);
    return y ? sd_node_forward(g, y) : NULL;
}

void sd_op_mse_fwd(sd_graph *g, sd_tensor *y)
{
    const sd_tensor *p = y->src[0], *t = y->src[1];
    double s = 0.0;
    for (size_t i = 0; i < p->n; i++) { double d = (double)p->data[i] - t->data[i]; s += d * d; }
    y->data[0] = (float)(s / (double)p->n);
}

void sd_op_mse_bwd(sd_graph *g, sd_tensor *y)
{
    sd_tensor *p = y->src[0], *t = y->src[1];
    float k = 2.0f * y->grad[0] / (float)p->n;
    for (size_t i = 0; i < p->n; i++) {
        float d = k * (p->data[i] - t->data[i]);
        if (p->grad) p->grad[i] += d;
        if (t->grad) t->grad[i] -= d;
    }
}

/* cross_entropy: logits (N,C), labels[N]: L = (1/N) Σ_i (logsumexp(x_i) − x_i[label_i]).
 * Keeps softmax(x) (N,C) in y->saved;  dx_ij = (softmax_ij − [j = label_i]) / N. */
sd_tensor *sd_cross_entropy(sd_graph *g, sd_tensor *logits, const int32_t *labels)
{
    if (!logits) return NULL;
    if (logits->shape.ndim != 2 || logits->shape.d[0] < 1 || logits->shape.d[1] < 1)
        return sd_op_error("cross_entropy", logits, NULL, "logits must be (N,C) with N, C >= 1");
    if (!labels) return sd_op_error("cross_entropy", logits, NULL, "no labels");
    int N = logits->shape.d[0], C = logits->shape.d[1];
    for (int i = 0; i < N; i++)
        if (labels[i] < 0 || labels[i] >= C) {
            sd_error("cross_entropy: label %d of example %d is outside [0,%d)", labels[i], i, C);
            return NULL;
        }
    sd_tensor *y = sd_node(g, SD_OP_CROSS_ENTROPY, SD_SHAPE(1), logits, NULL, NULL);
    if (!y) return NULL;
    y->aux = labels;
    y->saved = sd_graph_alloc(g, logits->n * sizeof(float));
    if (!y->saved) return NULL;
    return sd_node_forward(g, y);
}

void sd_op_cross_entropy_fwd(sd_graph *g, sd_tensor *y)
{
    const sd_tensor *x = y->src[0];
    const int32_t *labels = y->aux;
    int N = x->shape.d[0], C = x->shape.d[1];
    float *prob = y->saved;
    double loss = 0.0;
    for (int i = 0; i < N; i++) {
        const float *xi = x->data + (size_t)i * C;
        float lse = logsumexp(xi, C);
        for (int j = 0; j < C; j++) prob[(size_t)i * C + j] = expf(xi[j] - lse);
        loss += lse - xi[labels[i]];
    }
    y->data[0] = (float)(loss / N);
}

void sd_op_cross_entropy_bwd(sd_graph *g, sd_tensor *y)
{
    sd_tensor *x = y->src[0];
    const int32_t *labels = y->aux;
    int N = x->shape.d[0], C = x->shape.d[1];
    const float *prob = y->saved;
    float k = y->grad[0] / (float)N;
    for (int i = 0; i < N; i++) {
        float *dx = x->grad + (size_t)i * C;
        const float *p = prob + (size_t)i * C;
        for (int j = 0; j < C; j++) dx[j] += k * (p[j] - (j == labels[i]));
    }
}

/* bce_logits: L = (1/n) Σ max(x,0) − x t + log(1 + e^{−|x|})   (= BCE(sigmoid(x), t))
 * dx = (sigmoid(x) − t) / n,  dt = −x / n */
sd_tensor *sd_bce_logits(sd_graph *g, sd_tensor *logits, sd_tensor *target)
{
    if (!logits || !target) return NULL;
    if (!sd_shape_eq(logits->shape, target->shape) || logits->n == 0)
        return sd_op_error("bce_logits", logits, target, "logits and target must have one non-empty shape");
    sd_tensor *y = sd_node(g, SD_OP_BCE_LOGITS, SD_SHAPE(1), logits, target, NULL);
    return y ? sd_node_forward(g, y) : NULL;
}

void sd_op_bce_logits_fwd(sd_graph *g, sd_tensor *y)
{
    const sd_tensor *x = y->src[0], *t = y->src[1];
    double s = 0.0;
    for (size_t i = 0; i < x->n; i++) {
        float v = x->data[i];
        s += (v > 0.0f ? v : 0.0f) - v * t->data[i] + log1pf(expf(-fabsf(v)));
    }
    y->data[0] = (float)(s / (double)x->n);
}

void sd_op_bce_logits_bwd(sd_graph *g, sd_tensor *y)
{
    sd_tensor *x = y->src[0], *t = y->src[1];
    float k = y->grad[0] / (float)x->n;
    for (size_t i = 0; i < x->n; i++) {
        float v = x->data[i];
        float sig = v >= 0.0f ? 1.0f / (1.0f + expf(-v)) : expf(v) / (1.0f + expf(v));
        if (x->grad) x->grad[i] += k * (sig - t->data[i]);
        if (t->grad) t->grad[i] -= k * v;
    }
}
