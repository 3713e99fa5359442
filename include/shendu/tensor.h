/* shendu/tensor.h — tensors, the define-by-run graph, parameters and ops.
 *
 * A graph is a tape plus an arena. Every op computes its result at once and,
 * when any input needs a gradient, records itself on the tape; sd_backward
 * walks the tape in reverse. sd_graph_reset rewinds the arena: tensors made
 * on a graph live until the next reset. After the first step the arena and
 * the tape have grown to size, so a training step makes no malloc.
 *
 * Errors propagate: an op given a NULL input returns NULL, so check once at
 * the end (sd_last_error() says which op and which shapes). */
#ifndef SHENDU_TENSOR_H
#define SHENDU_TENSOR_H

#include "base.h"

#ifdef __cplusplus
extern "C" {
#endif

#define SD_MAX_DIMS 4

typedef struct sd_shape { int ndim; int d[SD_MAX_DIMS]; } sd_shape;
sd_shape sd_shape_of(const int *d, int ndim);
/* SD_SHAPE(64, 1, 28, 28) */
#define SD_SHAPE(...) sd_shape_of((const int[]){__VA_ARGS__}, \
                                  (int)(sizeof((const int[]){__VA_ARGS__}) / sizeof(int)))
size_t sd_shape_numel(sd_shape s);
int    sd_shape_eq(sd_shape a, sd_shape b);
/* "[64,1,28,28]" into buf (returns buf). */
char  *sd_shape_str(sd_shape s, char *buf, size_t size);

typedef struct sd_tensor sd_tensor;
struct sd_tensor {
    sd_shape shape;
    size_t n;               /* number of elements */
    float *data;            /* row-major values */
    float *grad;            /* dL/d(data): NULL until backward needs it */
    int op;                 /* what made it (internal op id; 0 = leaf) */
    int requires_grad;
    sd_tensor *src[3];      /* inputs */
    int iarg[8];            /* op arguments (sizes, strides, flags) */
    float farg[2];
    const void *aux;        /* borrowed op input, e.g. class labels */
    void *saved;            /* op scratch kept for backward (arena) */
};

/* ---- Graph */
typedef struct sd_graph sd_graph;
sd_graph *sd_graph_new(sd_ctx *ctx);
void      sd_graph_free(sd_graph *g);                  /* NULL-safe */
void      sd_graph_reset(sd_graph *g);                 /* drop all tensors of the last step */
/* Gradient recording on (default) or off (inference: no tape, less memory). */
void      sd_graph_set_grad(sd_graph *g, int enabled);
int       sd_graph_grad(const sd_graph *g);            /* recording? */
sd_ctx   *sd_graph_ctx(const sd_graph *g);
/* Anomaly detection (off by default): every op checks its output, and every
 * backward step the gradients it wrote, for NaN/Inf; the first one found
 * fails the op (NULL / -1) with a message naming the op and the element. */
void      sd_graph_set_anomaly(sd_graph *g, int enabled);
/* Gradient reuse (off by default): once an op's backward has run, its output's
 * gradient is dead, and sd_backward hands that buffer to the next tensor whose
 * gradient has the same size, so backward needs about one layer's gradients,
 * not every tensor's. Then only leaves and parameters keep a readable gradient
 * after sd_backward (the ops' outputs' grad becomes NULL). */
void      sd_graph_set_grad_reuse(sd_graph *g, int enabled);
size_t    sd_graph_arena_bytes(const sd_graph *g);     /* high-water mark */
/* Bytes the last reset had to malloc (0 once the graph has reached its size). */
size_t    sd_graph_grow_count(const sd_graph *g);

/* Backpropagate from a scalar (1-element) tensor: adds dloss/dx into every
 * tensor's grad that requires one (parameters accumulate into sd_params). */
int sd_backward(sd_graph *g, sd_tensor *loss);
/* Called by sd_backward after each op's backward has added into its inputs'
 * gradients (op->src[k]->grad), last op first; NULL removes it (the default:
 * no cost). For overlapping work with backward, e.g. the gradient all-reduce
 * of shendu/dist.h. */
typedef void (*sd_backward_hook)(void *arg, const sd_tensor *op);
void sd_graph_set_backward_hook(sd_graph *g, sd_backward_hook fn, void *arg);

/* ---- Leaves */
/* Wrap caller memory (borrowed, not copied; must live until reset). No gradient. */
sd_tensor *sd_input(sd_graph *g, const float *data, sd_shape shape);
/* A new zero-filled tensor in the arena. */
sd_tensor *sd_zeros(sd_graph *g, sd_shape shape);

/* ---- Parameters: every weight of a model in one contiguous buffer, every
 * gradient in another, so zero-grad is a memset, a checkpoint is one write
 * and a target-network sync is one memcpy. Each tensor starts 64-byte aligned. */
typedef struct sd_params sd_params;
sd_params *sd_params_new(void);
void       sd_params_free(sd_params *P);               /* NULL-safe */
/* Add a zero-filled tensor; returns its id (>= 0) or -1. Adding may move the
 * buffers: take data pointers only after the last add. */
int        sd_params_add(sd_params *P, const char *name, sd_shape shape);
/* Refuse (in sd_params_add, before allocating) to hold more than max_numel
 * elements in all; 0 means the library's own limit, 2^28. Loaders set it to
 * what a file holds, so a hostile architecture cannot make them allocate more. */
void       sd_params_set_limit(sd_params *P, size_t max_numel);
int        sd_params_count(const sd_params *P);        /* tensors */
int        sd_params_find(const sd_params *P, const char *name);  /* id or -1 */
const char *sd_params_name(const sd_params *P, int id);
sd_shape   sd_params_shape(const sd_params *P, int id);
float     *sd_params_data(sd_params *P, int id);
float     *sd_params_grad(sd_params *P, int id);
size_t     sd_params_size(const sd_params *P);         /* total floats, with alignment padding */
size_t     sd_params_numel(const sd_params *P);        /* total elements, the figure users quote */
float     *sd_params_values(sd_params *P);             /* the whole value buffer */
float     *sd_params_grads(sd_params *P);              /* the whole gradient buffer */
void       sd_params_zero_grad(sd_params *P);
/* The first tensor whose values (grads = 0) or gradients (grads = 1) hold a NaN
 * or Inf, or -1 if all are finite. */
int        sd_params_first_nonfinite(const sd_params *P, int grads);
/* Gradient clipping by global norm (torch.nn.utils.clip_grad_norm_): if the L2 norm
 * of all gradients exceeds max_norm (> 0), scale them by max_norm / (norm + 1e-6).
 * Returns the norm before clipping. */
double     sd_params_clip_grad_norm(sd_params *P, float max_norm);
/* dst = src, value for value; both must have the same layout. */
int        sd_params_copy(sd_params *dst, const sd_params *src);
/* avg = decay avg + (1 - decay) src, value for value (a moving average of
 * weights: Polyak averaging, a GAN generator's EMA, a soft target network). */
int        sd_params_ema(sd_params *avg, const sd_params *src, float decay);
/* A frozen set gives leaves without gradients (e.g. D during the G step of a GAN). */
void       sd_params_set_frozen(sd_params *P, int frozen);
/* A graph leaf over tensor `id`: its grad accumulates into P's gradient buffer. */
sd_tensor *sd_param(sd_graph *g, sd_params *P, int id);

/* ---- Ops. Shapes: N batch, C channels/features. */
enum { SD_TRANS_A = 1, SD_TRANS_B = 2 };
/* a (M,K) · b (K,N) -> (M,N); flags transpose a (K,M) and/or b (N,K). */
sd_tensor *sd_matmul(sd_graph *g, sd_tensor *a, sd_tensor *b, int flags);
/* The same plus bias (N) on every row: one node, no (M,N) intermediate (a dense
 * layer's x·Wᵀ + b is sd_matmul_bias(g, x, W, b, SD_TRANS_B)). */
sd_tensor *sd_matmul_bias(sd_graph *g, sd_tensor *a, sd_tensor *b, sd_tensor *bias, int flags);
/* x (N,C) or (N,C,H,W) + b (C) broadcast over N and H,W. */
sd_tensor *sd_bias_add(sd_graph *g, sd_tensor *x, sd_tensor *b);
sd_tensor *sd_add(sd_graph *g, sd_tensor *a, sd_tensor *b);          /* same shapes */
sd_tensor *sd_sub(sd_graph *g, sd_tensor *a, sd_tensor *b);          /* same shapes */
sd_tensor *sd_mul(sd_graph *g, sd_tensor *a, sd_tensor *b);          /* same shapes, elementwise */
sd_tensor *sd_scale(sd_graph *g, sd_tensor *x, float s);
sd_tensor *sd_relu(sd_graph *g, sd_tensor *x);
sd_tensor *sd_leaky_relu(sd_graph *g, sd_tensor *x, float slope);
sd_tensor *sd_sigmoid(sd_graph *g, sd_tensor *x);
sd_tensor *sd_tanh(sd_graph *g, sd_tensor *x);
sd_tensor *sd_softmax(sd_graph *g, sd_tensor *x);                    /* over the last dim */
sd_tensor *sd_log_softmax(sd_graph *g, sd_tensor *x);                /* over the last dim */
sd_tensor *sd_reshape(sd_graph *g, sd_tensor *x, sd_shape shape);    /* same numel, no copy */
sd_tensor *sd_flatten(sd_graph *g, sd_tensor *x);                    /* (N,...) -> (N,rest) */
sd_tensor *sd_sum(sd_graph *g, sd_tensor *x);                        /* -> (1) */
sd_tensor *sd_mean(sd_graph *g, sd_tensor *x);                       /* -> (1) */

/* ---- Sequences (time-major: step t of sequence b is row t*B + b). */
/* x (N,C), idx[n] in [0,N) -> (n,C), row i = x[idx[i]] (an embedding lookup when x
 * is the table); idx is copied. Gradients of repeated rows add up. */
sd_tensor *sd_gather_rows(sd_graph *g, sd_tensor *x, const int32_t *idx, int n);
/* x (N,C) -> rows [start, start+len) (dim 0: (len,C)) or columns (dim 1: (N,len)); a copy. */
sd_tensor *sd_slice(sd_graph *g, sd_tensor *x, int dim, int start, int len);
/* a (N,Ca), b (N,Cb) -> (N,Ca+Cb) (dim 1), or a (Na,C), b (Nb,C) -> (Na+Nb,C) (dim 0).
 * Dim 1 also joins feature maps along their channels: a (N,Ca,H,W), b (N,Cb,H,W) ->
 * (N,Ca+Cb,H,W) (a U-Net's skip connection). */
sd_tensor *sd_concat(sd_graph *g, sd_tensor *a, sd_tensor *b, int dim);
/* Fused recurrent layers over T steps (B = rows / T sequences), gradients through time:
 *   rnn_seq:  xp (T*B,H),  w_hh (H,H),   b (H) or NULL:  h_t = tanh(xp_t + b + h_{t-1} w_hhᵀ)
 *   lstm_seq: xp (T*B,4H), w_hh (4H,H),  b (4H) or NULL: [i f g o] = xp_t + b + h_{t-1} w_hhᵀ,
 *             i,f,o = σ, g = tanh;  c_t = f∘c_{t-1} + i∘g;  h_t = o∘tanh(c_t)
 * -> (T*B, H), every h_t. xp is x w_ihᵀ for all steps (one sd_matmul). lengths[B] (or NULL:
 * all T, copied): past its length a sequence's h and c stay unchanged, so the last B rows
 * hold each final h. state_in (or NULL: zeros) is h0 (B,H) then, for the LSTM, c0 (B,H):
 * data, no gradient flows into it; state_out (may be NULL, may equal state_in) receives
 * the final state in that layout when the op runs. */
sd_tensor *sd_rnn_seq(sd_graph *g, sd_tensor *xp, sd_tensor *w_hh, sd_tensor *b, int T,
                      const int32_t *lengths, const float *state_in, float *state_out);
sd_tensor *sd_lstm_seq(sd_graph *g, sd_tensor *xp, sd_tensor *w_hh, sd_tensor *b, int T,
                       const int32_t *lengths, const float *state_in, float *state_out);

/* x (N,C,H,W), w (O,C,KH,KW), b (O) or NULL -> (N,O,OH,OW), OH = (H + 2 pad - KH) / stride + 1:
 * cross-correlation as in the lecture */
sd_tensor *sd_conv2d(sd_graph *g, sd_tensor *x, sd_tensor *w, sd_tensor *b, int stride, int pad);
/* x (N,C,H,W) -> (N,C,OH,OW), OH = (H - k) / stride + 1 (floor);
 * gradient goes to the arg-max (first max on ties) */
sd_tensor *sd_maxpool2d(sd_graph *g, sd_tensor *x, int k, int stride);
/* Transposed convolution, the adjoint of sd_conv2d (a generator's upsampling):
 * x (N,C,H,W), w (C,O,KH,KW) (PyTorch's ConvTranspose2d layout), b (O) or NULL
 * -> (N,O,OH,OW), OH = (H - 1) stride - 2 pad + KH + out_pad, 0 <= out_pad < stride */
sd_tensor *sd_conv_transpose2d(sd_graph *g, sd_tensor *x, sd_tensor *w, sd_tensor *b, int stride, int pad,
                               int out_pad);
/* Batch normalisation per channel c of x (N,C) or (N,C,H,W), statistics over N (and H,W):
 * y = gamma (x - mean) / sqrt(var + eps) + beta; gamma, beta (C) or NULL (1, 0).
 * training: the batch's mean and biased var; running_mean/var (C floats, borrowed,
 *   may be NULL) become (1 - momentum) r + momentum stat, var unbiased (PyTorch's rule).
 * evaluation: mean and var are running_mean/var (required); nothing is updated. */
typedef struct sd_batch_norm_opts {
    int training;
    float momentum;                    /* 0 -> 0.1 */
    float eps;                         /* 0 -> 1e-5 */
    float *running_mean, *running_var;
} sd_batch_norm_opts;
sd_tensor *sd_batch_norm(sd_graph *g, sd_tensor *x, sd_tensor *gamma, sd_tensor *beta,
                         const sd_batch_norm_opts *o);

/* Group normalisation (a U-Net's normalisation: independent of the batch): x (N,C) or
 * (N,C,H,W), `groups` dividing C; per image and group of C/groups channels,
 * y = gamma_c (x - mean) / sqrt(var + eps) + beta_c, var biased (PyTorch's F.group_norm);
 * gamma, beta (C) or NULL (1, 0); eps 0 -> 1e-5. */
sd_tensor *sd_group_norm(sd_graph *g, sd_tensor *x, sd_tensor *gamma, sd_tensor *beta, int groups, float eps);
sd_tensor *sd_silu(sd_graph *g, sd_tensor *x);                       /* x σ(x) */
/* x (N,C,H,W) -> (N,C,2H,2W), each value copied to a 2x2 block (nearest neighbour). */
sd_tensor *sd_upsample2x(sd_graph *g, sd_tensor *x);
/* x (N,C,H,W) + e (N,C): e[n][c] added at every position of x's plane (n,c). */
sd_tensor *sd_add_channels(sd_graph *g, sd_tensor *x, sd_tensor *e);

/* ---- The Transformer's ops (issue 20). */
/* Layer normalisation over each row of x (N,C): y = gamma (x - mean) / sqrt(var + eps) + beta,
 * mean and biased var of the row; gamma, beta (C) or NULL (1, 0); eps <= 0 -> 1e-5. */
sd_tensor *sd_layer_norm(sd_graph *g, sd_tensor *x, sd_tensor *gamma, sd_tensor *beta, float eps);
/* GELU, the exact erf form (PyTorch's default, approximate='none'): x Φ(x). */
sd_tensor *sd_gelu(sd_graph *g, sd_tensor *x);
/* Inverted dropout: each element zeroed with probability p (drawn in order from rng),
 * the rest scaled by 1/(1-p). rng NULL or p = 0 (evaluation): returns x itself. */
sd_tensor *sd_dropout(sd_graph *g, sd_tensor *x, float p, sd_rng *rng);
/* Batched matrix multiply: a (N,M,K) · b (N,K,P) -> (N,M,P); flags as sd_matmul's,
 * per batch entry (SD_TRANS_A: a is (N,K,M); SD_TRANS_B: b is (N,P,K)). */
sd_tensor *sd_bmm(sd_graph *g, sd_tensor *a, sd_tensor *b, int flags);
/* Causal scaled-dot-product attention, fused: q, k, v (T*B, D) time-major (row t*B + b),
 * `heads` heads of D/heads columns -> (T*B, D); step t of a sequence sees its steps <= t,
 * scores scaled by 1/sqrt(D/heads). Keeps B*heads*T floats for backward, never T×T. */
sd_tensor *sd_causal_attention(sd_graph *g, sd_tensor *q, sd_tensor *k, sd_tensor *v, int T, int heads);
/* The same on one packed projection qkv (T*B, 3D): q, k, v are its column blocks [0,D),
 * [D,2D), [2D,3D) (no copies; the gradient goes into qkv's) -> (T*B, D). */
sd_tensor *sd_causal_attention_qkv(sd_graph *g, sd_tensor *qkv, int T, int heads);
/* The same composed from sd_bmm, sd_softmax and gathers (stores the T×T scores): the oracle. */
sd_tensor *sd_causal_attention_composed(sd_graph *g, sd_tensor *q, sd_tensor *k, sd_tensor *v, int T,
                                        int heads);
/* Full (bidirectional) attention: the three above without the mask, every step of a
 * sequence sees all T steps (the U-Net's attention over a picture's positions). */
sd_tensor *sd_full_attention(sd_graph *g, sd_tensor *q, sd_tensor *k, sd_tensor *v, int T, int heads);
sd_tensor *sd_full_attention_qkv(sd_graph *g, sd_tensor *qkv, int T, int heads);
sd_tensor *sd_full_attention_composed(sd_graph *g, sd_tensor *q, sd_tensor *k, sd_tensor *v, int T, int heads);

/* Losses, each the mean over all elements / examples, -> (1). */
sd_tensor *sd_mse(sd_graph *g, sd_tensor *pred, sd_tensor *target);
/* logits (N,C), labels[N] in [0,C): mean of -log softmax(logits)[label]. */
sd_tensor *sd_cross_entropy(sd_graph *g, sd_tensor *logits, const int32_t *labels);
/* logits and target (0..1) of one shape: mean BCE(sigmoid(logits), target), stable. */
sd_tensor *sd_bce_logits(sd_graph *g, sd_tensor *logits, sd_tensor *target);
/* pred and target of one shape: mean Huber loss, d²/2 where |d| <= delta, else
 * delta (|d| − delta/2), d = pred − target (PyTorch's smooth_l1_loss when delta = 1). */
sd_tensor *sd_huber(sd_graph *g, sd_tensor *pred, sd_tensor *target, float delta);
/* For DQN: x (N,C), idx[N] in [0,C) -> (N), y_i = x[i, idx_i] (Q(s,a) of the action
 * taken; PyTorch's x.gather(1, idx)). idx is borrowed: keep it until the graph resets. */
sd_tensor *sd_pick(sd_graph *g, sd_tensor *x, const int32_t *idx);

/* Name of an op id (for messages and --detect-anomaly). */
const char *sd_op_name(int op);

#ifdef __cplusplus
}
#endif
#endif
