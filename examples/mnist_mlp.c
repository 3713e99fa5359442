/* mnist_mlp.c — the previous lesson's model written out by hand with the ops:
 * a 784-256-128-10 ReLU network trained on Fashion-MNIST for one epoch.
 *   ./build/example_mnist_mlp [DATA_DIR] */
#include <shendu.h>
#include <stdio.h>

int main(int argc, char **argv)
{
    const char *dir = argc > 1 ? argv[1] : sd_data_default_dir();
    sd_dataset train, test;
    if (sd_dataset_load_mnist(dir, "train", &train) || sd_dataset_load_mnist(dir, "t10k", &test)) {
        fprintf(stderr, "%s\n", sd_last_error());
        return 1;
    }
    sd_ctx *ctx = sd_ctx_new(NULL);
    sd_rng rng;
    sd_rng_seed(&rng, 42);

    /* Three dense layers, their weights in one parameter buffer. */
    sd_params *P = sd_params_new();
    sd_linear fc1, fc2, fc3;
    sd_linear_init(&fc1, P, "fc1", 784, 256, SD_INIT_DEFAULT, &rng);
    sd_linear_init(&fc2, P, "fc2", 256, 128, SD_INIT_DEFAULT, &rng);
    sd_linear_init(&fc3, P, "fc3", 128, 10, SD_INIT_DEFAULT, &rng);
    sd_optim *opt = sd_optim_new(P, &(sd_optim_opts){ .kind = SD_OPTIM_ADAM, .lr = 1e-3f });
    sd_batcher *batches = sd_batcher_new(&train, &(sd_batcher_opts){ .batch = 64, .shuffle = 1 }, &rng);
    sd_graph *g = sd_graph_new(ctx);

    sd_batch b;
    int step = 0;
    while (sd_batcher_next(batches, &b)) {
        sd_graph_reset(g);
        sd_tensor *x = sd_input(g, b.x, SD_SHAPE(b.n, 784));
        x = sd_relu(g, sd_linear_forward(g, &fc1, x));
        x = sd_relu(g, sd_linear_forward(g, &fc2, x));
        sd_tensor *loss = sd_cross_entropy(g, sd_linear_forward(g, &fc3, x), b.y);
        sd_params_zero_grad(P);
        if (sd_backward(g, loss)) { fprintf(stderr, "%s\n", sd_last_error()); return 1; }
        sd_optim_step(opt);
        if (++step % 200 == 0) printf("step %d  loss %.4f\n", step, loss->data[0]);
    }

    /* Accuracy on the test set, without recording gradients. */
    sd_graph_set_grad(g, 0);
    sd_batcher *tb = sd_batcher_new(&test, &(sd_batcher_opts){ .batch = 1000 }, NULL);
    int correct = 0;
    while (sd_batcher_next(tb, &b)) {
        sd_graph_reset(g);
        sd_tensor *x = sd_input(g, b.x, SD_SHAPE(b.n, 784));
        x = sd_relu(g, sd_linear_forward(g, &fc1, x));
        x = sd_relu(g, sd_linear_forward(g, &fc2, x));
        sd_tensor *logits = sd_linear_forward(g, &fc3, x);
        for (int i = 0; i < b.n; i++) {
            int best = 0;
            for (int j = 1; j < 10; j++) if (logits->data[i * 10 + j] > logits->data[i * 10 + best]) best = j;
            correct += best == b.y[i];
        }
    }
    printf("test accuracy after 1 epoch: %.2f%%\n", 100.0 * correct / test.n);

    sd_batcher_free(tb);
    sd_graph_free(g);
    sd_batcher_free(batches);
    sd_optim_free(opt);
    sd_params_free(P);
    sd_ctx_free(ctx);
    sd_dataset_free(&train);
    sd_dataset_free(&test);
    return 0;
}
