/* Element-wise ops: arithmetic, activations, reshape, sum. */
#include "engine/ops.h"

#include <math.h>

/* for (size_t i = 0; i < n; i++) BODY, on the context's threads when n is large
 * and as a plain loop otherwise: entering OpenMP at all (even with an if clause)
 * costs more than a small loop. Uses the local graph g. */
#define PAR_LOOP(n, ...) do {                                                          \
        const size_t n_ = (n);                                                          \
        if (n_ > SD_PAR_MIN) {                                                          \
            _Pragma("omp parallel for num_threads(SD_THREADS(g)) schedule(static)")     \
            for (size_t i = 0; i < n_; i++) { __VA_ARGS__; }                            \
        } else {                                                                        \
            for (size_t i = 0; i < n_; i++) { __VA_ARGS__; }                            \
        }                                                                               \
    } while (0)

/* ---- add / sub / mul: y = a ∘ b, all three of one shape. */
static sd_tensor *binary(sd_graph *g, int op, const char *name, sd_tensor *a, sd_tensor *b)
{
    if (!a || !b) return NULL;
    if (!sd_shape_eq(a->shape, b->shape)) return sd_op_error(name, a, b, "shapes differ");
    sd_tensor *y = sd_node(g, op, a->shape, a, b, NULL);
    return y ? sd_node_forward(g, y) : NULL;
}

sd_tensor *sd_add(sd_graph *g, sd_tensor *a, sd_tensor *b) { return binary(g, SD_OP_ADD, "add", a, b); }
sd_tensor *sd_sub(sd_graph *g, sd_tensor *a, sd_tensor *b) { return binary(g, SD_OP_SUB, "sub", a, b); }
sd_tensor *sd_mul(sd_graph *g, sd_tensor *a, sd_tensor *b) { return binary(g, SD_OP_MUL, "mul", a, b); }

void sd_op_add_fwd(sd_graph *g, sd_tensor *y)
{
    const float *a = y->src[0]->data, *b = y->src[1]->data;
    size_t n = y->n;
    PAR_LOOP(n, y->data[i] = a[i] + b[i]);
}

void sd_op_add_bwd(sd_graph *g, sd_tensor *y)
{
    float *da = y->src[0]->grad, *db = y->src[1]->grad;
    for (size_t i = 0; i < y->n; i++) {
        if (da) da[i] += y->grad[i];
        if (db) db[i] += y->grad[i];
    }
}

void sd_op_sub_fwd(sd_graph *g, sd_tensor *y)
{
    const float *a = y->src[0]->data, *b = y->src[1]->data;
    size_t n = y->n;
    PAR_LOOP(n, y->data[i] = a[i] - b[i]);
}

void sd_op_sub_bwd(sd_graph *g, sd_tensor *y)
{
    float *da = y->src[0]->grad, *db = y->src[1]->grad;
    for (size_t i = 0; i < y->n; i++) {
        if (da) da[i] += y->grad[i];
        if (db) db[i] -= y->grad[i];
    }
}

void sd_op_mul_fwd(sd_graph *g, sd_tensor *y)
{
    const float *a = y->src[0]->data, *b = y->src[1]->data;
    size_t n = y->n;
    PAR_LOOP(n, y->data[i] = a[i] * b[i]);
}

void sd_op_mul_bwd(sd_graph *g, sd_tensor *y)
{
    const float *a = y->src[0]->data, *b = y->src[1]->data;
    float *da = y->src[0]->grad, *db = y->src[1]->grad;
    for (size_t i = 0; i < y->n; i++) {
        if (da) da[i] += y->grad[i] * b[i];
        if (db) db[i] += y->grad[i] * a[i];
    }
}

/* ---- Unary ops: y = f(x), same shape; farg[0] is f's parameter. */
static sd_tensor *unary(sd_graph *g, int op, sd_tensor *x, float p)
{
    if (!x) return NULL;
    sd_tensor *y = sd_node(g, op, x->shape, x, NULL, NULL);
    if (!y) return NULL;
    y->farg[0] = p;
    return sd_node_forward(g, y);
}

sd_tensor *sd_scale(sd_graph *g, sd_tensor *x, float s) { return unary(g, SD_OP_SCALE, x, s); }
sd_tensor *sd_relu(sd_graph *g, sd_tensor *x) { return unary(g, SD_OP_RELU, x, 0.0f); }
sd_tensor *sd_leaky_relu(sd_graph *g, sd_tensor *x, float slope) { return unary(g, SD_OP_LEAKY_RELU, x, slope); }
sd_tensor *sd_sigmoid(sd_graph *g, sd_tensor *x) { return unary(g, SD_OP_SIGMOID, x, 0.0f); }
sd_tensor *sd_tanh(sd_graph *g, sd_tensor *x) { return unary(g, SD_OP_TANH, x, 0.0f); }

/* scale: y = s x */
void sd_op_scale_fwd(sd_graph *g, sd_tensor *y)
{
    const float *x = y->src[0]->data;
    float s = y->farg[0];
    size_t n = y->n;
    PAR_LOOP(n, y->data[i] = s * x[i]);
}

void sd_op_scale_bwd(sd_graph *g, sd_tensor *y)
{
    float *dx = y->src[0]->grad, s = y->farg[0];
    for (size_t i = 0; i < y->n; i++) dx[i] += s * y->grad[i];
}

/* relu: y = max(x, 0); dy/dx = [x > 0] */
void sd_op_relu_fwd(sd_graph *g, sd_tensor *y)
{
    const float *x = y->src[0]->data;
    size_t n = y->n;
    PAR_LOOP(n, y->data[i] = x[i] > 0.0f ? x[i] : 0.0f);
}

void sd_op_relu_bwd(sd_graph *g, sd_tensor *y)
{
    float *restrict dx = y->src[0]->grad;
    const float *restrict out = y->data, *restrict dy = y->grad;
    size_t n = y->n;
    PAR_LOOP(n, dx[i] += out[i] > 0.0f ? dy[i] : 0.0f);
}

/* leaky_relu: y = x if x > 0 else slope x */
void sd_op_leaky_relu_fwd(sd_graph *g, sd_tensor *y)
{
    const float *x = y->src[0]->data;
    float a = y->farg[0];
    size_t n = y->n;
    PAR_LOOP(n, y->data[i] = x[i] > 0.0f ? x[i] : a * x[i]);
}

void sd_op_leaky_relu_bwd(sd_graph *g, sd_tensor *y)
{
    const float *x = y->src[0]->data;
    float *dx = y->src[0]->grad, a = y->farg[0];
    for (size_t i = 0; i < y->n; i++) dx[i] += x[i] > 0.0f ? y->grad[i] : a * y->grad[i];
}

/* sigmoid: y = 1 / (1 + e^-x), written to never overflow; dy/dx = y (1 - y) */
void sd_op_sigmoid_fwd(sd_graph *g, sd_tensor *y)
{
    const float *x = y->src[0]->data;
    size_t n = y->n;
    PAR_LOOP(n, if (x[i] >= 0.0f) y->data[i] = 1.0f / (1.0f + expf(-x[i]));
                else { float e = expf(x[i]); y->data[i] = e / (1.0f + e); });
}

void sd_op_sigmoid_bwd(sd_graph *g, sd_tensor *y)
{
    float *dx = y->src[0]->grad;
    for (size_t i = 0; i < y->n; i++) dx[i] += y->grad[i] * y->data[i] * (1.0f - y->data[i]);
}

/* tanh: dy/dx = 1 - y² */
void sd_op_tanh_fwd(sd_graph *g, sd_tensor *y)
{
    const float *x = y->src[0]->data;
    size_t n = y->n;
    PAR_LOOP(n, y->data[i] = tanhf(x[i]));
}

void sd_op_tanh_bwd(sd_graph *g, sd_tensor *y)
{
    float *dx = y->src[0]->grad;
    for (size_t i = 0; i < y->n; i++) dx[i] += y->grad[i] * (1.0f - y->data[i] * y->data[i]);
}

/* ---- reshape: y shares x's data (no copy); gradients add back element for element. */
sd_tensor *sd_reshape(sd_graph *g, sd_tensor *x, sd_shape shape)
{
    if (!x) return NULL;
    if (shape.ndim < 1 || shape.ndim > SD_MAX_DIMS || sd_shape_numel(shape) != x->n) {
        char s[64];
        sd_error("reshape: cannot view %zu elements as %s", x->n, sd_shape_str(shape, s, sizeof s));
        return NULL;
    }
    sd_tensor *y = sd_node(g, SD_OP_RESHAPE, shape, x, NULL, NULL);
    return y ? sd_node_forward(g, y) : NULL;
}

sd_tensor *sd_flatten(sd_graph *g, sd_tensor *x)
{
    if (!x) return NULL;
    if (x->shape.ndim < 1) return sd_op_error("flatten", x, NULL, "needs a batch dimension");
    int n = x->shape.d[0];
    return sd_reshape(g, x, SD_SHAPE(n, n ? (int)(x->n / (size_t)n) : 0));
}

void sd_op_reshape_fwd(sd_graph *g, sd_tensor *y) { y->data = y->src[0]->data; }

void sd_op_reshape_bwd(sd_graph *g, sd_tensor *y)
{
    float *dx = y->src[0]->grad;
    for (size_t i = 0; i < y->n; i++) dx[i] += y->grad[i];
}

/* ---- sum: y (1) = farg[0] · Σ x  (farg[0] = 1 for sum, 1/n for mean).
 * Summed in double, in order: deterministic and accurate. */
sd_tensor *sd_sum(sd_graph *g, sd_tensor *x)
{
    if (!x) return NULL;
    sd_tensor *y = sd_node(g, SD_OP_SUM, SD_SHAPE(1), x, NULL, NULL);
    if (!y) return NULL;
    y->farg[0] = 1.0f;
    return sd_node_forward(g, y);
}

sd_tensor *sd_mean(sd_graph *g, sd_tensor *x)
{
    if (!x) return NULL;
    if (x->n == 0) return sd_op_error("mean", x, NULL, "empty tensor");
    sd_tensor *y = sd_node(g, SD_OP_SUM, SD_SHAPE(1), x, NULL, NULL);
    if (!y) return NULL;
    y->farg[0] = 1.0f / (float)x->n;
    return sd_node_forward(g, y);
}

void sd_op_sum_fwd(sd_graph *g, sd_tensor *y)
{
    const float *x = y->src[0]->data;
    double s = 0.0;
    for (size_t i = 0; i < y->src[0]->n; i++) s += x[i];
    y->data[0] = (float)(s * y->farg[0]);
}

void sd_op_sum_bwd(sd_graph *g, sd_tensor *y)
{
    float *dx = y->src[0]->grad, d = y->grad[0] * y->farg[0];
    for (size_t i = 0; i < y->src[0]->n; i++) dx[i] += d;
}
