/* shendu/onnx.h — models out to ONNX (opset 17), for ONNX Runtime and every
 * serving stack that reads it. Written by shendu's own protobuf encoder.
 *
 * A sequential model (sd_model) becomes one graph with a dynamic batch
 * dimension "batch"; what the graph takes and gives depends on the model:
 *   classifier  input  float (batch, C, H, W) raw pixels (0..255): the model's
 *                      input_scale / input_shift are the graph's first two ops
 *               output logits (batch, classes), probs = softmax(logits)
 *   generator   input  noise (batch, nz)   (metadata role=generator)
 *               output image (batch, C, H, W) in [-1, 1]
 *   DQN agent   input  obs (batch, obs_dim)  (metadata rl.env)
 *               output q_values (batch, actions), action = argmax (int64)
 * Batchnorm layers are exported in inference form (running averages). The
 * model's metadata (class names, ...) and its architecture string become the
 * file's metadata_props. Errors: a layer ONNX cannot express, an unwritable
 * path; the file is written atomically, so a failed export leaves none. */
#ifndef SHENDU_ONNX_H
#define SHENDU_ONNX_H

#include "nn.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct sd_onnx_opts {
    int opset;               /* 0 or 17 (the only one written) */
} sd_onnx_opts;

/* o may be NULL. */
int sd_onnx_save_model(sd_model *m, const char *path, const sd_onnx_opts *o);

#ifdef __cplusplus
}
#endif
#endif
