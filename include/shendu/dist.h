/* shendu/dist.h — data-parallel training across processes and machines (MPI).
 *
 * Every rank holds the whole model, draws the same global shuffle from the same
 * seed, and trains on its own contiguous shard of each global batch. After the
 * backward pass one all-reduce over the contiguous gradient buffer makes every
 * rank's gradient the mean over the global batch, so every rank applies the same
 * optimizer step and the weights stay identical without ever being sent.
 *
 *   sd_dist *d = sd_dist_init(&argc, &argv);          // once, before anything else
 *   sd_dist_sync *s = sd_dist_sync_new(d, P, &(sd_dist_sync_opts){ .overlap = 1 });
 *   ...each step, B examples in the global batch:
 *   int start, n; sd_dist_shard(d, B, &start, &n);   // this rank's examples
 *   loss = forward on examples [start, start + n);
 *   sd_params_zero_grad(P);
 *   sd_dist_sync_begin(s, g, (double)n / B);         // my share of the batch
 *   sd_backward(g, loss);                            // buckets leave as they finish
 *   double extra[1] = { loss * n / B };
 *   sd_dist_sync_end(s, extra, 1);                    // gradient = global mean, extra[0] = global loss
 *   sd_optim_step(opt);                              // identical on every rank
 *   ...
 *   sd_dist_sync_free(s); sd_dist_finalize(d);
 *
 * Built without MPI (-DSHENDU_MPI=OFF), or started without mpirun, the same calls
 * run a single process: rank 0 of 1, reductions are copies. The library keeps no
 * global state: the sd_dist context holds the communicator.
 *
 * Errors: functions return -1 with sd_last_error() set (MPI runs with
 * MPI_ERRORS_RETURN on shendu's communicator). A rank that cannot go on must call
 * sd_dist_abort, which ends every rank of the job; returning alone would leave
 * the others waiting in the next collective. See docs/distributed.md. */
#ifndef SHENDU_DIST_H
#define SHENDU_DIST_H

#include "tensor.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct sd_dist sd_dist;

/* 1 if this library was built with MPI (SHENDU_MPI). */
int sd_dist_compiled(void);

/* Join the job. Calls MPI_Init_thread only when built with MPI and started by a
 * launcher (mpirun/mpiexec/srun set OMPI_COMM_WORLD_SIZE, PMI_SIZE or PMIX_RANK; or
 * SHENDU_MPI_INIT=1); otherwise a single-process context. argc/argv may be NULL.
 * NULL (error set) only if MPI fails to start. */
sd_dist *sd_dist_init(int *argc, char ***argv);
/* Leave the job (MPI_Finalize when sd_dist_init started MPI). NULL-safe. */
void sd_dist_finalize(sd_dist *d);

int sd_dist_rank(const sd_dist *d);      /* 0..size-1; NULL gives 0 */
int sd_dist_size(const sd_dist *d);      /* ranks in the job; NULL gives 1 */
int sd_dist_local_size(const sd_dist *d); /* ranks on this machine (for thread counts); NULL gives 1 */
/* The threads a rank should use when `requested` threads were asked for:
 * `requested` if > 0; else all cores in one process, and this machine's cores
 * shared by its ranks (at least 1) under mpirun. */
int sd_dist_threads(const sd_dist *d, int requested);

/* Print "<prog>: rank R of N: msg" on stderr and end the whole job with `code`
 * (MPI_Abort; exit in a single process). Does not return. */
void sd_dist_abort(sd_dist *d, int code, const char *msg)
#if defined(__GNUC__)
    __attribute__((noreturn))
#endif
    ;

/* ---- Collectives: every rank must make the same calls in the same order. */
/* buf[0..n) = the mean of buf over the ranks. */
int sd_dist_allreduce_mean(sd_dist *d, float *buf, size_t n);
/* buf[0..n) = the sum over the ranks, in double (statistics: counts, losses). */
int sd_dist_allreduce_sum_f64(sd_dist *d, double *buf, int n);
/* Copy `bytes` bytes from rank `root` to every rank. */
int sd_dist_broadcast(sd_dist *d, void *buf, size_t bytes, int root);
/* The lowest rank that passed failed != 0, or -1 if none did (or on an MPI error:
 * then sd_last_error() is set and the caller should abort). For agreeing that
 * every rank parsed its arguments before any of them starts waiting on another. */
int sd_dist_first_failed(sd_dist *d, int failed);
/* 1 if buf[0..bytes) is the same on every rank (a 64-bit hash compared), 0 if it
 * differs somewhere, -1 on an MPI error. */
int sd_dist_same(sd_dist *d, const void *buf, size_t bytes);

/* This rank's contiguous slice [*start, *start + *count) of n items: the slices
 * of ranks 0..size-1 tile [0, n) in order and differ in size by at most one. */
void sd_dist_shard(const sd_dist *d, int n, int *start, int *count);

/* ---- Gradient synchronisation for one parameter set.
 * sync_end leaves P's gradient buffer = Σ over ranks of weight_r · grad_r, the same
 * bits on every rank; with weight_r = (examples on rank r) / (examples in the global
 * batch) that is the gradient of the mean loss over the global batch, uneven shards
 * included.
 * overlap = 0: one MPI_Allreduce over the whole buffer in sync_end.
 * overlap = 1: the buffer is cut into buckets at tensor boundaries, about
 *   bucket_kb each; a hook on the graph (sd_graph_set_backward_hook) starts an
 *   MPI_Iallreduce on a bucket as soon as backward has finished writing it, and
 *   sync_end waits for the rest. Which op finishes which bucket is learned on the
 *   first step (which reduces everything at the end) and checked on every step: a
 *   graph that changes shape is detected and that step is reduced again in full,
 *   so the result never depends on the schedule. Buckets are reduced in a fixed
 *   order, the same on every rank. */
typedef struct sd_dist_sync sd_dist_sync;
typedef struct sd_dist_sync_opts {
    int overlap;             /* bucketed MPI_Iallreduce during backward */
    int bucket_kb;           /* bucket size in KiB (0: 256) */
} sd_dist_sync_opts;

/* P must be complete (no more sd_params_add); d may be NULL (one process). */
sd_dist_sync *sd_dist_sync_new(sd_dist *d, sd_params *P, const sd_dist_sync_opts *opts);
void sd_dist_sync_free(sd_dist_sync *s);       /* NULL-safe */
/* Before sd_backward (after zero-grad): weight is this rank's share of the global
 * batch (0 for a rank with no examples this step: it still takes part). With
 * overlap, installs the backward hook on g (g may be NULL: no backward this step). */
int sd_dist_sync_begin(sd_dist_sync *s, sd_graph *g, double weight);
/* After sd_backward: completes the reduction (always call it after begin, even if
 * backward failed, so that the collectives stay matched). extra[0..n_extra) (at
 * most 8, may be NULL) are summed over the ranks in the same round: a weighted
 * loss, a stop flag. */
int sd_dist_sync_end(sd_dist_sync *s, double *extra, int n_extra);

typedef struct sd_dist_sync_stats {
    int64_t steps;           /* sync_end calls */
    int64_t redone;          /* steps reduced again because the graph changed */
    int64_t early;           /* buckets started during backward (overlapped with it) */
    int buckets;             /* buckets (1 without overlap) */
    double wait_s;           /* time spent inside sync_end (the part not overlapped) */
} sd_dist_sync_stats;
sd_dist_sync_stats sd_dist_sync_get_stats(const sd_dist_sync *s);

#ifdef __cplusplus
}
#endif
#endif
