/* Planned activation memory (issue 15, point 4): sd_model_plan_memory against
 * what a forward + backward pass really puts in the graph's arena, for the
 * project's models; models whose activations a small file could blow up are
 * refused before anything runs, naming the layer; shape arithmetic on sizes
 * near 2^31 is an error, not an overflow. */
#include "check.h"
#include "shendu.h"

#include <string.h>

/* Arena bytes of one step of model `arch` on `batch` examples of shape in
 * (training: forward, loss and backward; else a forward without gradients). */
static size_t measured(sd_ctx *ctx, sd_model *m, sd_shape in, int batch, int training)
{
    const size_t n = (size_t)batch * sd_shape_numel(in);
    float *x = calloc(n, sizeof *x);
    int32_t *y = calloc((size_t)batch, sizeof *y);
    sd_graph *g = sd_graph_new(ctx);
    sd_graph_set_grad(g, training);
    sd_model_set_training(m, training);
    int d[4] = { batch, in.d[0], in.ndim > 1 ? in.d[1] : 0, in.ndim > 2 ? in.d[2] : 0 };
    sd_tensor *out = sd_model_forward(g, m, sd_input(g, x, sd_shape_of(d, in.ndim + 1)));
    CHECK(out != NULL);
    if (out && training) {
        sd_tensor *l = out->shape.ndim == 2 && sd_model_output_shape(m).d[0] > 1 ? sd_cross_entropy(g, out, y)
                                                                                : sd_sum(g, out);
        sd_params_zero_grad(sd_model_params(m));
        CHECK(l && !sd_backward(g, l));
    }
    size_t used = sd_graph_arena_bytes(g);
    sd_graph_free(g);
    free(x);
    free(y);
    return used;
}

static void plan_vs_arena(sd_ctx *ctx, const char *name, const char *arch, sd_shape in, int batch)
{
    sd_rng rng;
    sd_rng_seed(&rng, 1);
    sd_model *m = sd_model_new(arch, in, SD_INIT_DEFAULT, &rng);
    CHECK_MSG(m != NULL, "%s: %s", name, sd_last_error());
    if (!m) return;
    for (int training = 0; training < 2; training++) {
        sd_model_plan p;
        CHECK(!sd_model_plan_memory(m, batch, training, &p));
        size_t used = measured(ctx, m, in, batch, training);
        /* the plan covers what runs, and is not wildly above it */
        CHECK_MSG(p.bytes >= used && p.bytes <= 2.5 * used + (1 << 20),
                  "%s batch %d %s: planned %llu bytes, the arena used %zu", name, batch,
                  training ? "training" : "inference", (unsigned long long)p.bytes, used);
        printf("%-6s batch %4d %-9s planned %8.1f MiB, used %8.1f MiB\n", name, batch,
               training ? "training" : "inference", p.bytes / 1048576.0, used / 1048576.0);
    }
    CHECK(!sd_model_check_memory(m, batch, 1, 0));
    sd_model_free(m);
}

int main(void)
{
    sd_ctx *ctx = sd_ctx_new(&(sd_ctx_opts){ .threads = 2 });
    plan_vs_arena(ctx, "mlp", sd_model_preset("mlp"), SD_SHAPE(1, 28, 28), 64);
    plan_vs_arena(ctx, "cnn", sd_model_preset("cnn"), SD_SHAPE(1, 28, 28), 64);
    plan_vs_arena(ctx, "cnn", sd_model_preset("cnn"), SD_SHAPE(1, 28, 28), 100);
    plan_vs_arena(ctx, "dcganG",
                  "fc1=linear(6272) bn1=batchnorm relu reshape(128,7,7) convt1=convt(64,4,2,1) bn2=batchnorm relu "
                  "convt2=convt(32,4,2,1) bn3=batchnorm relu conv3=conv(32,3,1,1) bn4=batchnorm relu "
                  "conv4=conv(1,3,1,1) tanh", SD_SHAPE(100), 32);
    plan_vs_arena(ctx, "dcganD", "conv1=conv(64,4,2,1) leaky_relu(0.2) conv2=conv(128,4,2,1) bn1=batchnorm "
                  "leaky_relu(0.2) flatten fc1=linear(1)", SD_SHAPE(1, 28, 28), 64);

    /* A small file, huge activations: upsampling transposed convolutions. The
     * limit refuses it while the shapes are worked out, naming the layer. */
    sd_rng rng;
    sd_rng_seed(&rng, 1);
    const char *blowup = "convt(8,4,2,1) convt(8,4,2,1) convt(8,4,2,1) convt(8,4,2,1) convt(8,4,2,1) "
                         "convt(8,4,2,1) convt(8,4,2,1) convt(8,4,2,1) flatten linear(10)";
    sd_model *m = sd_model_new(blowup, SD_SHAPE(1, 28, 28), SD_INIT_DEFAULT, &rng);
    CHECK(m == NULL);
    CHECK_MSG(strstr(sd_last_error(), "over the limit of 2.00 GiB") && strstr(sd_last_error(), "convt"),
              "%s", sd_last_error());
    /* raised limit: built, and then the batch decides */
    m = sd_model_new_with("convt(4,4,8) convt(4,4,8) convt(1,4,8) tanh", SD_SHAPE(1, 28, 28),
                          &(sd_model_opts){ .rng = &rng, .max_memory = (uint64_t)1 << 40 });
    CHECK_MSG(m != NULL, "%s", sd_last_error());
    if (m) {
        CHECK(sd_model_check_memory(m, 1, 0, 0) == 0);
        CHECK(sd_model_check_memory(m, 1000, 0, 0) != 0);
        CHECK_MSG(strstr(sd_last_error(), "batch of 1000") && strstr(sd_last_error(), "layer 3 (convt3=convt)"),
                  "%s", sd_last_error());
        CHECK(sd_model_check_memory(m, 1000, 0, (uint64_t)1 << 42) == 0);
        sd_model_free(m);
    }
    /* shape arithmetic near 2^31: (H - 1) stride overflows int */
    m = sd_model_new_with("convt(1,1,1048576) convt(1,1,1048576)", SD_SHAPE(1, 3000, 3000),
                          &(sd_model_opts){ .rng = &rng, .max_memory = UINT64_MAX });
    CHECK(m == NULL);
    CHECK_MSG(strstr(sd_last_error(), "2^31 values or more"), "%s", sd_last_error());
    m = sd_model_new("flatten linear(2)", SD_SHAPE(1048576, 1048576, 4), SD_INIT_DEFAULT, &rng);
    CHECK(m == NULL);
    CHECK_MSG(strstr(sd_last_error(), "more than 2^31"), "%s", sd_last_error());
    sd_ctx_free(ctx);
    return check_done("test_plan");
}
