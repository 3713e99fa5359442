/* Every op: a finite-difference gradient check, plus forward values worked
 * out by hand for the cases where a wrong formula could still give a
 * consistent gradient. */
#include "gradcheck.h"

typedef struct { int op; int flags; float arg; } opcase;
enum { T_MATMUL, T_BIAS2, T_BIAS4, T_ADD, T_SUB, T_MUL, T_SCALE, T_RELU, T_LEAKY, T_SIGMOID, T_TANH,
       T_SOFTMAX, T_LOGSOFTMAX, T_RESHAPE, T_SUM, T_MEAN, T_MSE, T_CE, T_BCE, T_LINEAR };

static const int32_t labels[4] = { 2, 0, 4, 1 };
static float weights[64];   /* fixed random weights R: loss = Σ y ∘ R for non-scalar ops */

static sd_tensor *weighted_sum(sd_graph *g, sd_tensor *y)
{
    if (!y) return NULL;
    return sd_sum(g, sd_mul(g, y, sd_input(g, weights, y->shape)));
}

static sd_tensor *build(sd_graph *g, sd_params *P, void *user)
{
    const opcase *c = user;
    sd_tensor *a = sd_param(g, P, 0), *b = sd_params_count(P) > 1 ? sd_param(g, P, 1) : NULL;
    switch (c->op) {
    case T_MATMUL:     return weighted_sum(g, sd_matmul(g, a, b, c->flags));
    case T_BIAS2:
    case T_BIAS4:      return weighted_sum(g, sd_bias_add(g, a, b));
    case T_ADD:        return weighted_sum(g, sd_add(g, a, b));
    case T_SUB:        return weighted_sum(g, sd_sub(g, a, b));
    case T_MUL:        return weighted_sum(g, sd_mul(g, a, b));
    case T_SCALE:      return weighted_sum(g, sd_scale(g, a, c->arg));
    case T_RELU:       return weighted_sum(g, sd_relu(g, a));
    case T_LEAKY:      return weighted_sum(g, sd_leaky_relu(g, a, c->arg));
    case T_SIGMOID:    return weighted_sum(g, sd_sigmoid(g, a));
    case T_TANH:       return weighted_sum(g, sd_tanh(g, a));
    case T_SOFTMAX:    return weighted_sum(g, sd_softmax(g, a));
    case T_LOGSOFTMAX: return weighted_sum(g, sd_log_softmax(g, a));
    case T_RESHAPE:    return weighted_sum(g, sd_reshape(g, sd_tanh(g, a), SD_SHAPE(6, 2)));
    case T_SUM:        return sd_sum(g, sd_tanh(g, a));
    case T_MEAN:       return sd_mean(g, sd_tanh(g, a));
    case T_MSE:        return sd_mse(g, a, b);
    case T_CE:         return sd_cross_entropy(g, a, labels);
    case T_BCE:        return sd_bce_logits(g, a, sd_sigmoid(g, b));   /* targets in (0,1) */
    case T_LINEAR: {
        sd_tensor *w = b, *bias = sd_param(g, P, 2);
        return weighted_sum(g, sd_tanh(g, sd_bias_add(g, sd_matmul(g, a, w, SD_TRANS_B), bias)));
    }
    }
    return NULL;
}

static void run(sd_ctx *ctx, const char *name, opcase c, sd_shape sa, sd_shape sb, sd_shape sc, float gap)
{
    sd_rng rng;
    sd_rng_seed(&rng, 1234);
    sd_params *P = sd_params_new();
    sd_params_add(P, "a", sa);
    if (sb.ndim) sd_params_add(P, "b", sb);
    if (sc.ndim) sd_params_add(P, "c", sc);
    for (int i = 0; i < sd_params_count(P); i++) gc_fill(P, i, &rng, 2.0f, gap);
    gradcheck(name, ctx, P, build, &c, 2e-3);
    sd_params_free(P);
}

static void forward_values(sd_ctx *ctx)
{
    sd_graph *g = sd_graph_new(ctx);
    /* [[1,2],[3,4]] · [[5,6],[7,8]] = [[19,22],[43,50]] */
    const float A[] = { 1, 2, 3, 4 }, B[] = { 5, 6, 7, 8 };
    sd_tensor *y = sd_matmul(g, sd_input(g, A, SD_SHAPE(2, 2)), sd_input(g, B, SD_SHAPE(2, 2)), 0);
    CHECK(y && y->data[0] == 19 && y->data[1] == 22 && y->data[2] == 43 && y->data[3] == 50);
    /* Aᵀ·B = [[26,30],[38,44]] */
    y = sd_matmul(g, sd_input(g, A, SD_SHAPE(2, 2)), sd_input(g, B, SD_SHAPE(2, 2)), SD_TRANS_A);
    CHECK(y && y->data[0] == 26 && y->data[1] == 30 && y->data[2] == 38 && y->data[3] == 44);
    /* softmax([0, ln 3]) = [0.25, 0.75] */
    const float s[] = { 0.0f, logf(3.0f) };
    y = sd_softmax(g, sd_input(g, s, SD_SHAPE(1, 2)));
    CHECK_NEAR(y->data[0], 0.25, 1e-6);
    CHECK_NEAR(y->data[1], 0.75, 1e-6);
    /* cross-entropy of logits [0, ln 3] with label 1 = -ln 0.75 */
    const int32_t lab[] = { 1 };
    y = sd_cross_entropy(g, sd_input(g, s, SD_SHAPE(1, 2)), lab);
    CHECK_NEAR(y->data[0], -log(0.75), 1e-6);
    /* huge logits stay finite */
    const float big[] = { 1000.0f, -1000.0f };
    y = sd_cross_entropy(g, sd_input(g, big, SD_SHAPE(1, 2)), lab);
    CHECK_NEAR(y->data[0], 2000.0, 1e-3);
    /* BCE(sigmoid(0), 1) = ln 2; BCE(sigmoid(-100), 1) = 100 */
    const float z[] = { 0.0f, -100.0f }, one[] = { 1.0f, 1.0f };
    y = sd_bce_logits(g, sd_input(g, z, SD_SHAPE(2)), sd_input(g, one, SD_SHAPE(2)));
    CHECK_NEAR(y->data[0], (log(2.0) + 100.0) / 2, 1e-4);
    /* MSE([1,2],[3,5]) = (4 + 9) / 2 */
    const float p[] = { 1, 2 }, t[] = { 3, 5 };
    y = sd_mse(g, sd_input(g, p, SD_SHAPE(2)), sd_input(g, t, SD_SHAPE(2)));
    CHECK_NEAR(y->data[0], 6.5, 1e-6);
    /* shape errors are reported, not crashes */
    CHECK(sd_matmul(g, sd_input(g, A, SD_SHAPE(2, 2)), sd_input(g, B, SD_SHAPE(1, 4)), 0) == NULL);
    CHECK(strstr(sd_last_error(), "matmul") != NULL);
    CHECK(sd_add(g, NULL, sd_input(g, A, SD_SHAPE(4))) == NULL);
    const int32_t bad[] = { 7 };
    CHECK(sd_cross_entropy(g, sd_input(g, s, SD_SHAPE(1, 2)), bad) == NULL);
    CHECK(strstr(sd_last_error(), "label 7") != NULL);
    sd_graph_free(g);
}

/* A step that spilled into several arena blocks is followed by one block the
 * size of what it used (not of the blocks, which were a third empty), and the
 * same step then allocates nothing. */
static void arena_consolidation(sd_ctx *ctx)
{
    sd_graph *g = sd_graph_new(ctx);
    const size_t bytes = 180000 * sizeof(float);   /* 720 kB: one per 1 MB block */
    for (int step = 0; step < 3; step++) {
        sd_graph_reset(g);
        size_t grown = sd_graph_grow_count(g);
        if (step == 1)   /* the tensors and their headers; the three blocks were 3 MB */
            CHECK_MSG(grown >= 3 * bytes && grown < 3 * bytes + 4096, "the reset allocated %zu bytes, not %zu + headers",
                      grown, 3 * bytes);
        if (step == 2) CHECK_MSG(grown == 0, "the third reset allocated %zu bytes", grown);
        for (int i = 0; i < 3; i++) CHECK(sd_zeros(g, SD_SHAPE(180000)) != NULL);
        if (step > 0) CHECK_MSG(sd_graph_grow_count(g) == grown, "step %d grew the arena", step);
    }
    sd_graph_free(g);
}

int main(void)
{
    sd_ctx *ctx = sd_ctx_new(&(sd_ctx_opts){ .threads = 2 });
    sd_rng rng;
    sd_rng_seed(&rng, 99);
    for (int i = 0; i < 64; i++) weights[i] = 2.0f * sd_rng_uniform(&rng) - 1.0f;
    sd_shape none = { 0, { 0 } };
    run(ctx, "matmul", (opcase){ T_MATMUL, 0, 0 }, SD_SHAPE(3, 4), SD_SHAPE(4, 5), none, 0);
    run(ctx, "matmul A^T", (opcase){ T_MATMUL, SD_TRANS_A, 0 }, SD_SHAPE(4, 3), SD_SHAPE(4, 5), none, 0);
    run(ctx, "matmul B^T", (opcase){ T_MATMUL, SD_TRANS_B, 0 }, SD_SHAPE(3, 4), SD_SHAPE(5, 4), none, 0);
    run(ctx, "matmul A^T B^T", (opcase){ T_MATMUL, SD_TRANS_A | SD_TRANS_B, 0 }, SD_SHAPE(4, 3), SD_SHAPE(5, 4), none, 0);
    run(ctx, "bias_add 2-D", (opcase){ T_BIAS2, 0, 0 }, SD_SHAPE(4, 5), SD_SHAPE(5), none, 0);
    run(ctx, "bias_add 4-D", (opcase){ T_BIAS4, 0, 0 }, SD_SHAPE(2, 3, 2, 2), SD_SHAPE(3), none, 0);
    run(ctx, "add", (opcase){ T_ADD, 0, 0 }, SD_SHAPE(3, 4), SD_SHAPE(3, 4), none, 0);
    run(ctx, "sub", (opcase){ T_SUB, 0, 0 }, SD_SHAPE(3, 4), SD_SHAPE(3, 4), none, 0);
    run(ctx, "mul", (opcase){ T_MUL, 0, 0 }, SD_SHAPE(3, 4), SD_SHAPE(3, 4), none, 0);
    run(ctx, "scale", (opcase){ T_SCALE, 0, -1.5f }, SD_SHAPE(3, 4), none, none, 0);
    run(ctx, "relu", (opcase){ T_RELU, 0, 0 }, SD_SHAPE(3, 4), none, none, 0.05f);
    run(ctx, "leaky_relu", (opcase){ T_LEAKY, 0, 0.2f }, SD_SHAPE(3, 4), none, none, 0.05f);
    run(ctx, "sigmoid", (opcase){ T_SIGMOID, 0, 0 }, SD_SHAPE(3, 4), none, none, 0);
    run(ctx, "tanh", (opcase){ T_TANH, 0, 0 }, SD_SHAPE(3, 4), none, none, 0);
    run(ctx, "softmax", (opcase){ T_SOFTMAX, 0, 0 }, SD_SHAPE(3, 5), none, none, 0);
    run(ctx, "log_softmax", (opcase){ T_LOGSOFTMAX, 0, 0 }, SD_SHAPE(3, 5), none, none, 0);
    run(ctx, "reshape", (opcase){ T_RESHAPE, 0, 0 }, SD_SHAPE(3, 4), none, none, 0);
    run(ctx, "sum", (opcase){ T_SUM, 0, 0 }, SD_SHAPE(3, 4), none, none, 0);
    run(ctx, "mean", (opcase){ T_MEAN, 0, 0 }, SD_SHAPE(3, 4), none, none, 0);
    run(ctx, "mse", (opcase){ T_MSE, 0, 0 }, SD_SHAPE(3, 4), SD_SHAPE(3, 4), none, 0);
    run(ctx, "cross_entropy", (opcase){ T_CE, 0, 0 }, SD_SHAPE(4, 5), none, none, 0);
    run(ctx, "bce_logits", (opcase){ T_BCE, 0, 0 }, SD_SHAPE(3, 4), SD_SHAPE(3, 4), none, 0);
    run(ctx, "linear+tanh", (opcase){ T_LINEAR, 0, 0 }, SD_SHAPE(4, 6), SD_SHAPE(5, 6), SD_SHAPE(5), 0);
    forward_values(ctx);
    arena_consolidation(ctx);
    sd_ctx_free(ctx);
    return check_done("test_ops");
}
