/* shendu/transformer.h — a decoder-only, pre-norm Transformer over a token
 * vocabulary (GPT's architecture), built from the engine's ops:
 *
 *   x = tok_emb[idx] + pos_emb[t]                       (dropout)
 *   per block:  x += dropout(proj(attention(ln1(x))))   causal, `heads` heads
 *               x += dropout(mlp.proj(gelu(mlp.fc(ln2(x)))))   hidden 4·dim
 *   logits = ln_f(x) · tok_embᵀ                         (the output layer is the embedding: tied)
 *
 * Parameter names follow bench/transformer.py's PyTorch module: tok_emb.weight,
 * pos_emb.weight, blocks.L.{ln1,attn.qkv,attn.proj,ln2,mlp.fc,mlp.proj}.{weight,bias},
 * ln_f.{weight,bias}. Linear weights are (out, in) as torch.nn.Linear's.
 * Initialisation as GPT-2's: weights and embeddings N(0, 0.02²), the two
 * projections into the residual stream N(0, (0.02/√(2·layers))²), biases 0,
 * norms' gains 1. Sequences are time-major (row t·B + b), as the RNN layers'. */
#ifndef SHENDU_TRANSFORMER_H
#define SHENDU_TRANSFORMER_H

#include "tensor.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct sd_transformer_opts {
    int vocab, dim, layers, heads;
    int context;            /* positions: the longest sequence it reads */
    float dropout;          /* on the embeddings and each residual branch while training */
} sd_transformer_opts;

typedef struct sd_transformer sd_transformer;
/* Adds its parameters to P and initialises them from rng. Errors: sizes, heads
 * that do not divide dim. */
sd_transformer *sd_transformer_new(sd_params *P, const sd_transformer_opts *o, sd_rng *rng);
void sd_transformer_free(sd_transformer *m);                 /* NULL-safe */
const sd_transformer_opts *sd_transformer_options(const sd_transformer *m);
/* idx (T·B) time-major, T <= context -> logits (T·B, vocab). dropout_rng NULL:
 * evaluation (no dropout); else the masks are drawn from it. */
sd_tensor *sd_transformer_forward(sd_graph *g, sd_transformer *m, const int32_t *idx, int T, int B,
                                  sd_rng *dropout_rng);
/* The attention weights of every layer and head for one sequence idx[T]:
 * att (layers, heads, T, T), row t the softmax over steps <= t (0 after). */
int sd_transformer_attention_map(sd_transformer *m, sd_ctx *ctx, const int32_t *idx, int T, float *att);

/* Inference one token at a time with a key/value cache: each layer keeps the
 * keys and values of the positions read so far, so a new token costs O(n·dim)
 * attention plus the O(dim²) projections instead of a pass over the whole
 * sequence. */
typedef struct sd_kv_cache sd_kv_cache;
sd_kv_cache *sd_kv_cache_new(const sd_transformer *m);
void sd_kv_cache_free(sd_kv_cache *c);                       /* NULL-safe */
void sd_kv_cache_reset(sd_kv_cache *c);                      /* forget every position */
int  sd_kv_cache_len(const sd_kv_cache *c);                  /* positions held */
/* Read `token` at the next position; logits (vocab) for the token after it.
 * Error when the cache already holds `context` positions. */
int  sd_transformer_step(sd_transformer *m, sd_kv_cache *c, int32_t token, float *logits);

#ifdef __cplusplus
}
#endif
#endif
