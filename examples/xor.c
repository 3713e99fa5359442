/* xor.c — the smallest complete shendu program: a 2-8-2 network learns XOR.
 *   ./build/example_xor */
#include <shendu.h>
#include <stdio.h>

int main(void)
{
    static const float x[4][2] = { { 0, 0 }, { 0, 1 }, { 1, 0 }, { 1, 1 } };
    static const int32_t y[4] = { 0, 1, 1, 0 };

    sd_ctx *ctx = sd_ctx_new(&(sd_ctx_opts){ .threads = 1 });
    sd_rng rng;
    sd_rng_seed(&rng, 1);
    sd_model *m = sd_model_new("linear(8) tanh linear(2)", SD_SHAPE(2), SD_INIT_XAVIER, &rng);
    if (!ctx || !m) { fprintf(stderr, "%s\n", sd_last_error()); return 1; }
    sd_params *P = sd_model_params(m);
    sd_optim *opt = sd_optim_new(P, &(sd_optim_opts){ .kind = SD_OPTIM_SGD, .lr = 0.5f, .momentum = 0.9f });
    sd_graph *g = sd_graph_new(ctx);

    for (int step = 0; step <= 300; step++) {
        sd_graph_reset(g);
        sd_tensor *logits = sd_model_forward(g, m, sd_input(g, &x[0][0], SD_SHAPE(4, 2)));
        sd_tensor *loss = sd_cross_entropy(g, logits, y);
        sd_params_zero_grad(P);
        if (sd_backward(g, loss)) { fprintf(stderr, "%s\n", sd_last_error()); return 1; }
        sd_optim_step(opt);
        if (step % 50 == 0) printf("step %3d  loss %.4f\n", step, loss->data[0]);
    }

    sd_graph_reset(g);
    sd_tensor *p = sd_softmax(g, sd_model_forward(g, m, sd_input(g, &x[0][0], SD_SHAPE(4, 2))));
    for (int i = 0; i < 4; i++)
        printf("%g xor %g -> %d  (p = %.3f)\n", x[i][0], x[i][1], p->data[2 * i + 1] > 0.5f, p->data[2 * i + 1]);

    sd_graph_free(g);
    sd_optim_free(opt);
    sd_model_free(m);
    sd_ctx_free(ctx);
    return 0;
}
