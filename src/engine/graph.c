/* The define-by-run graph: an arena for tensors and scratch, a tape of the
 * ops that need gradients, and reverse-mode backpropagation over that tape. */
#include "engine/ops.h"
#include "engine/internal.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- Shapes */

sd_shape sd_shape_of(const int *d, int ndim)
{
    sd_shape s = { 0, { 0 } };
    if (ndim < 0 || ndim > SD_MAX_DIMS) { s.ndim = -1; return s; }
    s.ndim = ndim;
    for (int i = 0; i < ndim; i++) s.d[i] = d[i];
    return s;
}

size_t sd_shape_numel(sd_shape s)
{
    size_t n = 1;
    for (int i = 0; i < s.ndim; i++) n *= (size_t)(s.d[i] > 0 ? s.d[i] : 0);
    return n;
}

int sd_shape_eq(sd_shape a, sd_shape b)
{
    if (a.ndim != b.ndim) return 0;
    for (int i = 0; i < a.ndim; i++) if (a.d[i] != b.d[i]) return 0;
    return 1;
}

char *sd_shape_str(sd_shape s, char *buf, size_t size)
{
    size_t k = 0;
    k += (size_t)snprintf(buf + k, size - k, "[");
    for (int i = 0; i < s.ndim && k < size; i++)
        k += (size_t)snprintf(buf + k, size - k, i ? ",%d" : "%d", s.d[i]);
    if (k < size) snprintf(buf + k, size - k, "]");
    return buf;
}

static int shape_valid(sd_shape s)
{
    if (s.ndim < 0 || s.ndim > SD_MAX_DIMS) return 0;
    for (int i = 0; i < s.ndim; i++) if (s.d[i] < 0) return 0;
    return 1;
}

/* ---- Arena: a list of blocks. A reset that finds more than one block in use
 * replaces them with a single block of their total size, so from the second
 * step on every step fits in one block and nothing is allocated. */

#define SPARE_MAX 64

typedef struct arena_block {
    struct arena_block *next;
    size_t size, used;
    _Alignas(64) unsigned char mem[];
} arena_block;

struct sd_graph {
    sd_ctx *ctx;
    arena_block *blocks;      /* newest first */
    size_t high_water, grown;
    sd_tensor **tape;
    int ntape, cap_tape;
    int grad_enabled;
    int anomaly;              /* check every op's output and gradients for NaN/Inf */
    sd_backward_hook hook;    /* called after each op's backward (NULL: none) */
    void *hook_arg;
    int reuse;                /* sd_graph_set_grad_reuse */
    int nspare;               /* dead gradient buffers (arena memory), for sd_grad to hand out again */
    struct { float *p; size_t n; } spare[SPARE_MAX];
};

#define ARENA_MIN_BLOCK ((size_t)1 << 20)

static arena_block *block_new(size_t size)
{
    arena_block *b = aligned_alloc(64, (sizeof(arena_block) + size + 63) & ~(size_t)63);
    if (!b) return NULL;
    b->next = NULL;
    b->size = size;
    b->used = 0;
    return b;
}

void *sd_graph_alloc(sd_graph *g, size_t bytes)
{
    bytes = (bytes + 63) & ~(size_t)63;
    arena_block *b = g->blocks;
    if (!b || b->size - b->used < bytes) {
        size_t size = bytes > ARENA_MIN_BLOCK ? bytes : ARENA_MIN_BLOCK;
        if (b && size < b->size) size = b->size;  /* grow geometrically-ish */
        arena_block *nb = block_new(size);
        if (!nb) { sd_error("out of memory: the graph arena needs %zu more bytes", bytes); return NULL; }
        g->grown += size;
        nb->next = b;
        g->blocks = b = nb;
    }
    void *p = b->mem + b->used;
    b->used += bytes;
    return p;
}

sd_graph *sd_graph_new(sd_ctx *ctx)
{
    if (!ctx) { sd_error("sd_graph_new: NULL context"); return NULL; }
    sd_graph *g = calloc(1, sizeof *g);
    if (!g) { sd_error("out of memory allocating a graph"); return NULL; }
    g->ctx = ctx;
    g->grad_enabled = 1;
    return g;
}

void sd_graph_free(sd_graph *g)
{
    if (!g) return;
    for (arena_block *b = g->blocks, *n; b; b = n) { n = b->next; free(b); }
    free(g->tape);
    free(g);
}

void sd_graph_reset(sd_graph *g)
{
    size_t used = 0;
    int nblocks = 0;
    for (arena_block *b = g->blocks; b; b = b->next) { used += b->used; nblocks++; }
    if (used > g->high_water) g->high_water = used;
    g->grown = 0;
    if (nblocks > 1) {   /* one block that holds the largest step: what was used, not the blocks' sizes */
        for (arena_block *b = g->blocks, *n; b; b = n) { n = b->next; free(b); }
        g->blocks = block_new(g->high_water);   /* on failure the next alloc retries */
        if (g->blocks) g->grown = g->high_water;
    } else if (g->blocks) {
        g->blocks->used = 0;
    }
    g->ntape = 0;
    g->nspare = 0;
}

void sd_graph_set_grad(sd_graph *g, int enabled) { g->grad_enabled = enabled != 0; }
int sd_graph_grad(const sd_graph *g) { return g->grad_enabled; }
sd_ctx *sd_graph_ctx(const sd_graph *g) { return g->ctx; }

size_t sd_graph_arena_bytes(const sd_graph *g)
{
    size_t used = 0;
    for (arena_block *b = g->blocks; b; b = b->next) used += b->used;
    return used > g->high_water ? used : g->high_water;
}

size_t sd_graph_grow_count(const sd_graph *g) { return g->grown; }

/* ---- Nodes and the tape */

static const sd_op_def op_table[SD_OP_COUNT] = {
    [SD_OP_LEAF] = { "leaf", NULL, NULL },
#define X(E, n) [SD_OP_##E] = { #n, sd_op_##n##_fwd, sd_op_##n##_bwd },
    SD_OP_LIST(X)
#undef X
};

const char *sd_op_name(int op)
{
    return op >= 0 && op < SD_OP_COUNT ? op_table[op].name : "?";
}

static sd_tensor *tensor_new(sd_graph *g, sd_shape shape, int alloc_data)
{
    if (!shape_valid(shape)) { sd_error("invalid shape (ndim %d)", shape.ndim); return NULL; }
    sd_tensor *t = sd_graph_alloc(g, sizeof *t);
    if (!t) return NULL;
    memset(t, 0, sizeof *t);
    t->shape = shape;
    t->n = sd_shape_numel(shape);
    if (alloc_data) {
        t->data = sd_graph_alloc(g, t->n * sizeof(float));
        if (!t->data) return NULL;
    }
    return t;
}

static int tape_push(sd_graph *g, sd_tensor *t)
{
    if (g->ntape == g->cap_tape) {
        int cap = g->cap_tape ? 2 * g->cap_tape : 256;
        sd_tensor **tp = realloc(g->tape, (size_t)cap * sizeof *tp);
        if (!tp) return sd_error("out of memory growing the tape to %d ops", cap);
        g->tape = tp;
        g->cap_tape = cap;
    }
    g->tape[g->ntape++] = t;
    return 0;
}

sd_tensor *sd_node(sd_graph *g, int op, sd_shape shape, sd_tensor *a, sd_tensor *b, sd_tensor *c)
{
    sd_tensor *y = tensor_new(g, shape, op != SD_OP_RESHAPE);
    if (!y) return NULL;
    y->op = op;
    y->src[0] = a; y->src[1] = b; y->src[2] = c;
    y->requires_grad = g->grad_enabled &&
        ((a && a->requires_grad) || (b && b->requires_grad) || (c && c->requires_grad));
    if (y->requires_grad && tape_push(g, y)) return NULL;
    return y;
}

/* Index of the first NaN or Inf in x[0..n), or -1. */
static long first_nonfinite(const float *x, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (!isfinite(x[i])) return (long)i;
    return -1;
}

static const char *nonfinite_name(float v) { return isnan(v) ? "NaN" : "Inf"; }

sd_tensor *sd_node_forward(sd_graph *g, sd_tensor *y)
{
    op_table[y->op].fwd(g, y);
    if (g->anomaly) {
        long i = first_nonfinite(y->data, y->n);
        if (i >= 0) {
            char s[64], in[64] = "";
            sd_shape_str(y->shape, s, sizeof s);
            for (int k = 0; k < 3; k++)
                if (y->src[k] && first_nonfinite(y->src[k]->data, y->src[k]->n) >= 0)
                    snprintf(in, sizeof in, " (its input %d already held one)", k);
            sd_error("anomaly: op %s produced %s at element %ld of its output %s%s", op_table[y->op].name,
                     nonfinite_name(y->data[i]), i, s, in);
            return NULL;
        }
    }
    return y;
}

void sd_graph_set_anomaly(sd_graph *g, int enabled) { g->anomaly = enabled != 0; }
void sd_graph_set_grad_reuse(sd_graph *g, int enabled) { g->reuse = enabled != 0; }

/* y's gradient is dead (its backward has run): keep the buffer for the next
 * sd_grad of that size (the list full: it stays unused until the reset). */
static void release_grad(sd_graph *g, sd_tensor *y)
{
    if (g->nspare < SPARE_MAX) {
        g->spare[g->nspare].p = y->grad;
        g->spare[g->nspare++].n = y->n;
    }
    y->grad = NULL;
}

void sd_graph_set_backward_hook(sd_graph *g, sd_backward_hook fn, void *arg)
{
    g->hook = fn;
    g->hook_arg = arg;
}

float *sd_grad(sd_graph *g, sd_tensor *t)
{
    if (!t->requires_grad) return NULL;
    if (!t->grad) {
        for (int i = g->nspare - 1; i >= 0; i--)   /* the latest dead buffer of this size */
            if (g->spare[i].n == t->n) {
                t->grad = g->spare[i].p;
                g->spare[i] = g->spare[--g->nspare];
                memset(t->grad, 0, t->n * sizeof(float));
                return t->grad;
            }
        t->grad = sd_graph_alloc(g, t->n * sizeof(float));
        if (t->grad) memset(t->grad, 0, t->n * sizeof(float));
    }
    return t->grad;
}

sd_tensor *sd_op_error(const char *op, sd_tensor *a, sd_tensor *b, const char *what)
{
    char sa[64] = "", sb[64] = "";
    if (a) sd_shape_str(a->shape, sa, sizeof sa);
    if (b) sd_shape_str(b->shape, sb, sizeof sb);
    sd_error("%s: %s (got %s%s%s)", op, what, sa, b ? " and " : "", sb);
    return NULL;
}

int sd_backward(sd_graph *g, sd_tensor *loss)
{
    if (!loss) return sd_error("sd_backward: no loss (an earlier op failed: see its message)");
    if (loss->n != 1) return sd_error("sd_backward: the loss must have one element, it has %zu", loss->n);
    if (!loss->requires_grad) return sd_error("sd_backward: the loss does not depend on any parameter");
    float *dl = sd_grad(g, loss);
    if (!dl) return -1;
    dl[0] += 1.0f;
    for (int i = g->ntape - 1; i >= 0; i--) {
        sd_tensor *y = g->tape[i];
        if (!y->grad) continue;                 /* nothing flows back through it */
        for (int k = 0; k < 3; k++)             /* inputs' grads exist before the op writes them */
            if (y->src[k] && y->src[k]->requires_grad && !sd_grad(g, y->src[k])) return -1;
        op_table[y->op].bwd(g, y);
        for (int k = 0; g->anomaly && k < 3; k++) {
            sd_tensor *x = y->src[k];
            long j = x && x->grad ? first_nonfinite(x->grad, x->n) : -1;
            if (j >= 0) {
                char s[64];
                return sd_error("anomaly: the backward of op %s (output %s) produced %s in the gradient of "
                                "its input %d, element %ld", op_table[y->op].name,
                                sd_shape_str(y->shape, s, sizeof s), nonfinite_name(x->grad[j]), k, j);
            }
        }
        if (g->hook) g->hook(g->hook_arg, y);
        if (g->reuse) release_grad(g, y);
    }
    return 0;
}

/* ---- Leaves */

sd_tensor *sd_input(sd_graph *g, const float *data, sd_shape shape)
{
    sd_tensor *t = tensor_new(g, shape, 0);
    if (!t) return NULL;
    t->data = (float *)data;   /* borrowed; ops never write their inputs' data */
    return t;
}

sd_tensor *sd_zeros(sd_graph *g, sd_shape shape)
{
    sd_tensor *t = tensor_new(g, shape, 1);
    if (t) memset(t->data, 0, t->n * sizeof(float));
    return t;
}

/* Used by params.c: a leaf over external value and gradient memory. */
sd_tensor *sd_leaf_external(sd_graph *g, float *data, float *grad, sd_shape shape)
{
    sd_tensor *t = tensor_new(g, shape, 0);
    if (!t) return NULL;
    t->data = data;
    t->grad = g->grad_enabled ? grad : NULL;
    t->requires_grad = g->grad_enabled && grad != NULL;
    return t;
}
