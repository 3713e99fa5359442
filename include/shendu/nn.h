/* shendu/nn.h — layers and models, built only from the engine's public ops.
 *
 * A layer is a small struct of handles into an sd_params set. A model is a
 * sequence of layers described by a one-line architecture string, e.g.
 *     "flatten fc1=linear(256) relu fc2=linear(128) relu fc3=linear(10)"
 * Input sizes are inferred from the input shape, so the string plus the input
 * shape is all a model file needs to rebuild the network. */
#ifndef SHENDU_NN_H
#define SHENDU_NN_H

#include "tensor.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ---- Initialisation */
typedef enum sd_init {
    SD_INIT_DEFAULT = 0,   /* PyTorch's default: W and b ~ U(±1/√fan_in) */
    SD_INIT_HE,            /* W ~ N(0, 2/fan_in), b = 0 (for ReLU) */
    SD_INIT_XAVIER         /* W ~ U(±√(6/(fan_in+fan_out))), b = 0 */
} sd_init;
/* Fill a weight (or, is_bias, its bias) of a layer with the given fans. */
void sd_init_fill(float *w, size_t n, sd_init init, int fan_in, int fan_out, int is_bias, sd_rng *rng);
int  sd_init_parse(const char *name, sd_init *out);   /* "default", "he", "xavier" */

/* ---- Dense layer: y (N,out) = x (N,in) · Wᵀ + b, W (out,in), b (out) — PyTorch's layout. */
typedef struct sd_linear { sd_params *P; int w, b; int in, out; } sd_linear;
/* Adds NAME.weight and NAME.bias to P and initialises them. */
int sd_linear_init(sd_linear *l, sd_params *P, const char *name, int in, int out,
                   sd_init init, sd_rng *rng);
sd_tensor *sd_linear_forward(sd_graph *g, const sd_linear *l, sd_tensor *x);

/* ---- 2-D convolution layer: x (N,C,H,W) -> (N,O,OH,OW), W (O,C,K,K), b (O). */
typedef struct sd_conv2d_layer { sd_params *P; int w, b; int in, out, k, stride, pad; } sd_conv2d_layer;
/* Adds NAME.weight and NAME.bias; fan_in = in·k·k. */
int sd_conv2d_layer_init(sd_conv2d_layer *l, sd_params *P, const char *name, int in, int out, int k,
                         int stride, int pad, sd_init init, sd_rng *rng);
sd_tensor *sd_conv2d_layer_forward(sd_graph *g, const sd_conv2d_layer *l, sd_tensor *x);

/* ---- Transposed convolution layer (src/nn/layers_gen.c), PyTorch's ConvTranspose2d:
 * x (N,C,H,W) -> (N,O,OH,OW), OH = (H - 1) stride - 2 pad + K + out_pad; W (C,O,K,K), b (O). */
typedef struct sd_convt_layer { sd_params *P; int w, b; int in, out, k, stride, pad, out_pad; } sd_convt_layer;
/* Adds NAME.weight and NAME.bias; fans as PyTorch takes them: fan_in = out·k·k. */
int sd_convt_layer_init(sd_convt_layer *l, sd_params *P, const char *name, int in, int out, int k, int stride,
                        int pad, int out_pad, sd_init init, sd_rng *rng);
sd_tensor *sd_convt_layer_forward(sd_graph *g, const sd_convt_layer *l, sd_tensor *x);

/* ---- Batch normalisation layer over C channels, PyTorch's BatchNorm1d/2d: NAME.weight
 * (gamma, 1) and NAME.bias (beta, 0) are trained parameters in P; NAME.running_mean (0)
 * and NAME.running_var (1) are state in S, a second set that no optimizer sees. */
typedef struct sd_batchnorm_layer {
    sd_params *P, *S; int w, b, mean, var; int c; float momentum, eps;
} sd_batchnorm_layer;
int sd_batchnorm_layer_init(sd_batchnorm_layer *l, sd_params *P, sd_params *S, const char *name, int c,
                            float momentum, float eps);
/* training: batch statistics, running averages updated; else the running averages. */
sd_tensor *sd_batchnorm_layer_forward(sd_graph *g, const sd_batchnorm_layer *l, sd_tensor *x, int training);

/* ---- Sequential models */
typedef struct sd_model sd_model;

/* The architecture strings of the built-in models ("mlp", ...), NULL if unknown. */
const char *sd_model_preset(const char *name);
/* "mlp, cnn": the preset names, for messages and --help. */
const char *sd_model_preset_names(void);
/* 0 if every layer of the string parses (kinds, names, argument counts), else
 * the parse error of sd_model_new; shapes are not checked (no input given). */
int         sd_model_arch_check(const char *arch);
/* Build from an architecture string for inputs of shape `input` (one example,
 * without the batch dimension, e.g. SD_SHAPE(1,28,28)). Errors name the token. */
sd_model  *sd_model_new(const char *arch, sd_shape input, sd_init init, sd_rng *rng);
/* The same with options. max_params bounds the parameters (and the state)
 * before anything is allocated: sd_model_load sets it to what the file holds. */
typedef struct sd_model_opts {
    sd_init init;          /* SD_INIT_DEFAULT */
    sd_rng *rng;           /* required: draws the initial weights */
    size_t max_params;     /* 0: the library's limit, 2^28 */
    uint64_t max_memory;   /* activations of one example in training (sd_model_plan_memory): 0: SD_MODEL_MAX_MEMORY */
} sd_model_opts;
sd_model  *sd_model_new_with(const char *arch, sd_shape input, const sd_model_opts *o);
void       sd_model_free(sd_model *m);                 /* NULL-safe */
/* x (N, input...) -> (N, output...) */
sd_tensor *sd_model_forward(sd_graph *g, sd_model *m, sd_tensor *x);
/* Same, also storing every layer's output in outs[0 .. sd_model_layer_count(m)-1]
 * (feature maps for pictures, activations for inspection). */
sd_tensor *sd_model_forward_trace(sd_graph *g, sd_model *m, sd_tensor *x, sd_tensor **outs);
sd_params *sd_model_params(sd_model *m);
/* State that is saved but not trained: batchnorm running averages (empty for
 * most models). Model files hold it next to the parameters. */
sd_params *sd_model_state(sd_model *m);
/* Training mode (batchnorm: batch statistics, running averages updated) or
 * evaluation mode (batchnorm: the running averages). sd_model_new gives a model
 * in training mode; sd_model_load gives a model file in evaluation mode and a
 * checkpoint in training mode (it is there to resume training). */
void       sd_model_set_training(sd_model *m, int training);
int        sd_model_training(const sd_model *m);
const char *sd_model_arch(const sd_model *m);          /* canonical: every layer named */
sd_shape   sd_model_input_shape(const sd_model *m);
sd_shape   sd_model_output_shape(const sd_model *m);   /* one example */

/* ---- Planned activation memory: what a forward pass of `batch` examples
 * (training: and its backward) allocates in its graph, computed from the shapes
 * before anything runs, so that a file or a flag cannot make shendu allocate
 * gigabytes. The default limit fits every model of this project with a wide
 * margin (the lecture's CNN trains in ~0.1 GiB at batch 64, see README). */
#define SD_MODEL_MAX_MEMORY ((uint64_t)2 << 30)
typedef struct sd_model_plan {
    uint64_t bytes;        /* the whole pass */
    int layer;             /* the layer with the largest share (0-based) */
    uint64_t layer_bytes;  /* its share */
    int64_t batch;
    int training;
} sd_model_plan;
int sd_model_plan_memory(const sd_model *m, int64_t batch, int training, sd_model_plan *out);
/* 0 if the plan fits `limit` bytes (0: SD_MODEL_MAX_MEMORY), else an error
 * naming the bytes, the limit and the layer with the largest share. */
int sd_model_check_memory(const sd_model *m, int64_t batch, int training, uint64_t limit);

typedef struct sd_layer_info {
    const char *name;      /* "fc1", or "" for layers without parameters */
    const char *kind;      /* "linear", "relu", ... */
    sd_shape in, out;      /* input and output shape of one example */
    size_t params;         /* parameter count */
    int nargs;             /* the layer's arguments with defaults filled in, as in */
    float args[5];         /*   the canonical string: conv(out,k,stride,pad), maxpool(k,stride), ... */
} sd_layer_info;
int  sd_model_layer_count(const sd_model *m);
void sd_model_layer_info(const sd_model *m, int i, sd_layer_info *out);

/* String metadata carried with the model into its file (class names, training
 * recipe, ...). Keys starting with "shendu." are reserved. */
int         sd_model_meta_set(sd_model *m, const char *key, const char *value);
const char *sd_model_meta_get(const sd_model *m, const char *key);   /* NULL if absent */
int         sd_model_meta_count(const sd_model *m);
void        sd_model_meta_at(const sd_model *m, int i, const char **key, const char **value);

/* ---- Inference (src/nn/predict.c): a model with the context and graph that
 * run it, for callers that only want outputs (the Python package, servers). */
typedef struct sd_predictor sd_predictor;
typedef struct sd_predictor_opts {
    int threads;           /* 0: all cores */
    int batch;             /* examples per forward pass (bounds the memory), 0: 256 */
} sd_predictor_opts;
sd_predictor *sd_predictor_new(sd_model *m, const sd_predictor_opts *o);   /* borrows m; o may be NULL */
void          sd_predictor_free(sd_predictor *p);                          /* NULL-safe */
/* x: n examples of the model's input shape, float32 or (u8) bytes, read in
 * place; out: n × (output numel) floats. A classifier (metadata input_scale /
 * input_shift) takes raw pixels, 0..255, and applies its normalisation, as
 * its ONNX export does; other models take their inputs as they are (bytes
 * only for classifiers). Batchnorm uses its running averages. */
int sd_predict(sd_predictor *p, const void *x, int u8, size_t n, float *out);

#ifdef __cplusplus
}
#endif
#endif
