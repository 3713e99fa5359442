/* shendu.h — deep learning in plain C11.
 *
 * A 30-line tour: train a two-layer network on one batch.
 *
 *   #include <shendu.h>
 *
 *   sd_ctx *ctx = sd_ctx_new(&(sd_ctx_opts){ .threads = 0 });     // 0 = all cores
 *   sd_rng rng; sd_rng_seed(&rng, 42);                             // explicit RNG
 *   sd_model *m = sd_model_new("flatten linear(128) relu linear(10)",
 *                              SD_SHAPE(1, 28, 28), SD_INIT_DEFAULT, &rng);
 *   sd_params *P = sd_model_params(m);                            // one buffer
 *   sd_optim *opt = sd_optim_new(P, &(sd_optim_opts){ .kind = SD_OPTIM_ADAM, .lr = 1e-3f });
 *   sd_graph *g = sd_graph_new(ctx);                              // tape + arena
 *   for (int step = 0; step < 100; step++) {
 *       sd_graph_reset(g);                                        // no malloc after step 1
 *       sd_tensor *x = sd_input(g, images, SD_SHAPE(64, 1, 28, 28));
 *       sd_tensor *loss = sd_cross_entropy(g, sd_model_forward(g, m, x), labels);
 *       sd_params_zero_grad(P);
 *       if (sd_backward(g, loss)) { fprintf(stderr, "%s\n", sd_last_error()); break; }
 *       sd_optim_step(opt);
 *   }
 *   sd_model_save(m, "model.safetensors");                        // weights + architecture
 *   sd_graph_free(g); sd_optim_free(opt); sd_model_free(m); sd_ctx_free(ctx);
 *
 * Ops can also be called directly (sd_matmul, sd_relu, sd_conv2d, ...) to build
 * any network: the graph records them and sd_backward differentiates them.
 * Failing calls return NULL or -1; sd_last_error() says what was wrong.
 *
 * Modules: base (context, errors, RNG), tensor (graph, params, ops), kernels
 * (GEMM), nn (layers, models), optim (SGD, Adam), data (IDX, batches),
 * io (safetensors, model files). */
#ifndef SHENDU_H
#define SHENDU_H

#include "shendu/base.h"
#include "shendu/tensor.h"
#include "shendu/kernels.h"
#include "shendu/nn.h"
#include "shendu/rnn.h"
#include "shendu/transformer.h"
#include "shendu/optim.h"
#include "shendu/data.h"
#include "shendu/io.h"
#include "shendu/onnx.h"
#include "shendu/image.h"
#include "shendu/table.h"
#include "shendu/folder.h"
#include "shendu/rl.h"
#include "shendu/diffusion.h"

#endif
