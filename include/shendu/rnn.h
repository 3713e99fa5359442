/* shendu/rnn.h — sequence layers: embeddings, a simple RNN and the LSTM,
 * stacked, with variable-length batches and a state for step-by-step use.
 *
 * The lecture's two cells (循環神經網路, 長短期記憶):
 *   RNN:   h_t = tanh(W_ih x_t + b_ih + W_hh h_{t-1} + b_hh)
 *   LSTM:  i, f, g, o = split(W_ih x_t + b_ih + W_hh h_{t-1} + b_hh)   (this order)
 *          i, f, o = σ(.), g = tanh(.);  c_t = f∘c_{t-1} + i∘g;  h_t = o∘tanh(c_t)
 * Parameters use PyTorch's names and layouts (NAME.weight_ih_l0 (G·H, in),
 * NAME.weight_hh_l0 (G·H, H), NAME.bias_ih_l0, NAME.bias_hh_l0; G = 1 or 4), so
 * a saved model loads into torch.nn.RNN / torch.nn.LSTM unchanged.
 *
 * Sequences are time-major: a batch of B sequences of T steps is a (T·B, C)
 * tensor whose row t·B + b is step t of sequence b. A layer's output has the
 * same layout, so a per-step output layer (next character) is one sd_linear
 * over all rows, and a per-sequence one (sequence -> class) reads the last B
 * rows: with `lengths`, a sequence's state stops changing after its last step,
 * so the last B rows hold every sequence's final h.
 *
 * Two builds of the same network: `composed` unrolls every step into the
 * elementary ops (slice, matmul, sigmoid, tanh, mul, add: autodiff gives
 * backpropagation through time); the default runs the fused sequence ops
 * sd_rnn_seq / sd_lstm_seq, which compute the same values and gradients
 * (tests compare them) several times faster. */
#ifndef SHENDU_RNN_H
#define SHENDU_RNN_H

#include "tensor.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ---- Embedding: idx[n] -> (n, dim) rows of a (vocab, dim) table, N(0,1) init
 * (PyTorch's). NAME.weight. A one-hot input is an embedding whose table is the
 * identity: sd_one_hot builds that input directly. */
typedef struct sd_embedding { sd_params *P; int w; int vocab, dim; } sd_embedding;
int sd_embedding_init(sd_embedding *e, sd_params *P, const char *name, int vocab, int dim, sd_rng *rng);
sd_tensor *sd_embedding_forward(sd_graph *g, const sd_embedding *e, const int32_t *idx, int n);
/* idx[n] in [0,classes) -> (n, classes) of 0/1, no gradient. */
sd_tensor *sd_one_hot(sd_graph *g, const int32_t *idx, int n, int classes);

/* ---- Recurrent layers */
/* What a language model's sequence layers are: recurrent cells, or (for the
 * LM only, shendu/transformer.h) Transformer blocks; sd_rnn_new refuses the last. */
typedef enum sd_cell { SD_CELL_RNN = 0, SD_CELL_LSTM = 1, SD_CELL_TRANSFORMER = 2 } sd_cell;
int         sd_cell_parse(const char *name, sd_cell *out);   /* "rnn", "lstm", "transformer" */
const char *sd_cell_name(sd_cell c);

typedef struct sd_rnn_opts {
    sd_cell cell;
    int input;             /* features of x_t */
    int hidden;            /* H */
    int layers;            /* stacked layers, 0 -> 1; layer l > 0 reads layer l-1's h */
    float forget_bias;     /* LSTM: b_ih's forget slice starts at this, b_hh's at 0 (0 -> 1) */
    int torch_init;        /* 1: PyTorch's init exactly (forget biases uniform like the rest) */
    int composed;          /* 1: unrolled elementary ops (the reference); 0: fused ops */
} sd_rnn_opts;

typedef struct sd_rnn sd_rnn;
/* Adds NAME.weight_ih_l0 ... to P; every weight and bias ~ U(±1/√H) (PyTorch's
 * default), then the LSTM forget-gate bias as above. */
sd_rnn *sd_rnn_new(sd_params *P, const char *name, const sd_rnn_opts *o, sd_rng *rng);
void    sd_rnn_free(sd_rnn *r);                            /* NULL-safe */
const sd_rnn_opts *sd_rnn_options(const sd_rnn *r);       /* defaults filled in */
void    sd_rnn_set_composed(sd_rnn *r, int composed);
size_t  sd_rnn_param_count(const sd_rnn *r);

/* State for step-by-step inference (or for carrying state between windows):
 * per layer h (B,H) and, for the LSTM, c (B,H). Zero when new. */
typedef struct sd_rnn_state sd_rnn_state;
sd_rnn_state *sd_rnn_state_new(const sd_rnn *r, int batch);
void   sd_rnn_state_free(sd_rnn_state *s);                 /* NULL-safe */
void   sd_rnn_state_reset(sd_rnn_state *s);                /* back to zeros */
int    sd_rnn_state_batch(const sd_rnn_state *s);
float *sd_rnn_state_h(sd_rnn_state *s, int layer);         /* (B,H) */
float *sd_rnn_state_c(sd_rnn_state *s, int layer);         /* (B,H); NULL for the RNN */

/* x (T·B, input) time-major -> (T·B, H): the last layer's h_t for every step.
 * lengths[B] in [0,T] or NULL (all T). state NULL: start from zeros; else start
 * from it and leave the final state in it (the state's batch must be B; the
 * initial state is data: no gradient flows into it). */
sd_tensor *sd_rnn_forward(sd_graph *g, sd_rnn *r, sd_tensor *x, int T, const int32_t *lengths,
                          sd_rnn_state *state);
/* The same, given layer 0's input projection x W_ih_l0ᵀ (T·B, G·H) instead of x. For
 * an embedding input it is cheaper to project the whole table once and gather rows,
 * (E W_ihᵀ)[idx] = E[idx] W_ihᵀ: V·G·H·E multiply-adds instead of T·B·G·H·E. */
sd_tensor *sd_rnn_forward_proj(sd_graph *g, sd_rnn *r, sd_tensor *xp0, int T, const int32_t *lengths,
                               sd_rnn_state *state);
/* Parameter id in the layers' sd_params of "weight_ih", "weight_hh", "bias_ih" or
 * "bias_hh" of a layer, or -1. */
int sd_rnn_param_id(const sd_rnn *r, int layer, const char *which);
/* The last B rows of a (T·B, H) output: each sequence's final h, (B, H). */
sd_tensor *sd_rnn_last(sd_graph *g, sd_tensor *y, int T);

#ifdef __cplusplus
}
#endif
#endif
