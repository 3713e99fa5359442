/* The op table: every op listed once. From this list come the op ids, their
 * names and the dispatch table (the backend seam: a CUDA backend would supply
 * another table). Each op NAME has two functions:
 *     void sd_op_NAME_fwd(sd_graph *g, sd_tensor *y);   fills y->data from y->src
 *     void sd_op_NAME_bwd(sd_graph *g, sd_tensor *y);   adds y->grad into the inputs' grads */
#ifndef SHENDU_OPS_H
#define SHENDU_OPS_H

#include "shendu/tensor.h"

#define SD_OP_LIST(X)          \
    X(MATMUL, matmul)          \
    X(BIAS_ADD, bias_add)      \
    X(ADD, add)                \
    X(SUB, sub)                \
    X(MUL, mul)                \
    X(SCALE, scale)            \
    X(RELU, relu)              \
    X(LEAKY_RELU, leaky_relu)  \
    X(SIGMOID, sigmoid)        \
    X(TANH, tanh)              \
    X(SOFTMAX, softmax)        \
    X(LOG_SOFTMAX, log_softmax) \
    X(RESHAPE, reshape)        \
    X(SUM, sum)                \
    X(MSE, mse)                \
    X(CROSS_ENTROPY, cross_entropy) \
    X(BCE_LOGITS, bce_logits) \
    X(PICK, pick)              \
    X(HUBER, huber)            \
    X(CONV2D, conv2d)          \
    X(MAXPOOL2D, maxpool2d)    \
    X(GATHER_ROWS, gather_rows) \
    X(SLICE, slice)            \
    X(CONCAT, concat)          \
    X(RNN_SEQ, rnn_seq)        \
    X(LSTM_SEQ, lstm_seq)      \
    X(CONV_TRANSPOSE2D, conv_transpose2d) \
    X(BATCH_NORM, batch_norm)  \
    X(GROUP_NORM, group_norm)  \
    X(SILU, silu)              \
    X(UPSAMPLE2X, upsample2x)  \
    X(ADD_CHANNELS, add_channels) \
    /* the Transformer's (issue 20): op_norm.c, op_attn.c */ \
    X(LAYER_NORM, layer_norm)  \
    X(GELU, gelu)              \
    X(DROPOUT, dropout)        \
    X(BMM, bmm)                \
    X(CAUSAL_ATTENTION, causal_attention)

enum {
    SD_OP_LEAF = 0,
#define X(E, n) SD_OP_##E,
    SD_OP_LIST(X)
#undef X
    SD_OP_COUNT
};

#define X(E, n) void sd_op_##n##_fwd(sd_graph *g, sd_tensor *y); \
                void sd_op_##n##_bwd(sd_graph *g, sd_tensor *y);
SD_OP_LIST(X)
#undef X

typedef struct sd_op_def {
    const char *name;
    void (*fwd)(sd_graph *g, sd_tensor *y);
    void (*bwd)(sd_graph *g, sd_tensor *y);
} sd_op_def;

/* ---- Helpers for op implementations (src/engine/graph.c). */
/* A new node of `op` with output shape `shape` and inputs a, b, c (any may be
 * NULL). Records it on the tape when an input requires a gradient. Returns NULL
 * (error set) if the arena cannot grow. */
sd_tensor *sd_node(sd_graph *g, int op, sd_shape shape, sd_tensor *a, sd_tensor *b, sd_tensor *c);
/* Run the forward of y through the table; returns y. */
sd_tensor *sd_node_forward(sd_graph *g, sd_tensor *y);
/* Arena memory for op scratch (64-byte aligned, not zeroed); NULL on OOM. */
void *sd_graph_alloc(sd_graph *g, size_t bytes);
/* t->grad, allocated zero-filled on first use; NULL if t needs no gradient. */
float *sd_grad(sd_graph *g, sd_tensor *t);
/* Error with the op's name and its input shapes, returns NULL. */
sd_tensor *sd_op_error(const char *op, sd_tensor *a, sd_tensor *b, const char *what);
/* Parallel-for threshold: loops over fewer elements run on one thread. */
#define SD_PAR_MIN 32768
#define SD_THREADS(g) sd_ctx_threads(sd_graph_ctx(g))

#endif
