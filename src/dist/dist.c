/* Data-parallel training over MPI (shendu/dist.h). Without SHENDU_MPI, or when
 * the process was not started by an MPI launcher, every call is the
 * single-process identity: rank 0 of 1. All MPI calls of shendu live here. */
#define _POSIX_C_SOURCE 200809L
#include "shendu/dist.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#ifdef SHENDU_MPI
#include <mpi.h>
#endif

struct sd_dist {
    int rank, size, local_size;
    int mpi;                 /* collectives go through MPI (launched by mpirun) */
    int started;             /* sd_dist_init called MPI_Init_thread (so finalize ends MPI) */
#ifdef SHENDU_MPI
    MPI_Comm comm;           /* a duplicate of MPI_COMM_WORLD with MPI_ERRORS_RETURN */
#endif
};

int sd_dist_compiled(void)
{
#ifdef SHENDU_MPI
    return 1;
#else
    return 0;
#endif
}

/* The rank count the launcher announced (Open MPI, MPICH/Hydra, PMIx), or 0. */
static int launcher_size(void)
{
    const char *vars[] = { "OMPI_COMM_WORLD_SIZE", "PMI_SIZE", "PMIX_SIZE" };
    for (size_t i = 0; i < sizeof vars / sizeof *vars; i++) {
        const char *v = getenv(vars[i]);
        if (v && atoi(v) > 0) return atoi(v);
    }
    return getenv("PMIX_RANK") ? 1 : 0;
}

#ifdef SHENDU_MPI
static int mpi_fail(int rc, const char *what)
{
    char s[MPI_MAX_ERROR_STRING];
    int len = 0;
    if (MPI_Error_string(rc, s, &len) != MPI_SUCCESS) snprintf(s, sizeof s, "error %d", rc);
    return sd_error("%s failed: %s", what, s);
}
#define MPI_TRY(call, what) do { int rc_ = (call); if (rc_ != MPI_SUCCESS) return mpi_fail(rc_, what); } while (0)
#endif

sd_dist *sd_dist_init(int *argc, char ***argv)
{
    sd_dist *d = calloc(1, sizeof *d);
    if (!d) { sd_error("out of memory"); return NULL; }
    d->size = d->local_size = 1;
    const char *force = getenv("SHENDU_MPI_INIT");
    int launched = force && *force ? atoi(force) != 0 : launcher_size() > 0;
#ifdef SHENDU_MPI
    if (launched) {
        int inited = 0, provided = 0;
        MPI_Initialized(&inited);
        if (!inited) {
            if (MPI_Init_thread(argc, argv, MPI_THREAD_FUNNELED, &provided) != MPI_SUCCESS) {
                sd_error("MPI_Init_thread failed");
                free(d);
                return NULL;
            }
            d->started = 1;
        }
        int rc = MPI_Comm_dup(MPI_COMM_WORLD, &d->comm);
        if (rc == MPI_SUCCESS) rc = MPI_Comm_set_errhandler(d->comm, MPI_ERRORS_RETURN);
        if (rc == MPI_SUCCESS) rc = MPI_Comm_rank(d->comm, &d->rank);
        if (rc == MPI_SUCCESS) rc = MPI_Comm_size(d->comm, &d->size);
        MPI_Comm local;
        if (rc == MPI_SUCCESS) rc = MPI_Comm_split_type(d->comm, MPI_COMM_TYPE_SHARED, 0, MPI_INFO_NULL, &local);
        if (rc == MPI_SUCCESS) {
            rc = MPI_Comm_size(local, &d->local_size);
            MPI_Comm_free(&local);
        }
        if (rc != MPI_SUCCESS) {
            mpi_fail(rc, "setting up the MPI communicator");
            if (d->started) MPI_Finalize();
            free(d);
            return NULL;
        }
        d->mpi = 1;
    }
#else
    (void)argc;
    (void)argv;
    if (launched && launcher_size() > 1) {
        sd_error("started as one of %d MPI ranks, but this shendu was built without MPI "
                 "(rebuild with -DSHENDU_MPI=ON and libopenmpi-dev installed)", launcher_size());
        free(d);
        return NULL;
    }
#endif
    return d;
}

void sd_dist_finalize(sd_dist *d)
{
    if (!d) return;
#ifdef SHENDU_MPI
    if (d->mpi) MPI_Comm_free(&d->comm);
    if (d->started) MPI_Finalize();
#endif
    free(d);
}

int sd_dist_rank(const sd_dist *d) { return d ? d->rank : 0; }
int sd_dist_size(const sd_dist *d) { return d ? d->size : 1; }
int sd_dist_local_size(const sd_dist *d) { return d ? d->local_size : 1; }

int sd_dist_threads(const sd_dist *d, int requested)
{
    if (requested > 0 || sd_dist_size(d) == 1) return requested;   /* 0 in one process: the context's default */
    int t = sd_cpu_cores() / sd_dist_local_size(d);
    return t > 0 ? t : 1;
}

void sd_dist_abort(sd_dist *d, int code, const char *msg)
{
    if (d && d->size > 1) fprintf(stderr, "%s (rank %d of %d; ending every rank)\n", msg, d->rank, d->size);
    else fprintf(stderr, "%s\n", msg);
    fflush(stderr);
    fflush(stdout);
#ifdef SHENDU_MPI
    if (d && d->mpi) MPI_Abort(d->comm, code ? code : 1);
#endif
    exit(code ? code : 1);
}

/* ---- Collectives */

int sd_dist_allreduce_mean(sd_dist *d, float *buf, size_t n)
{
    if (!d || !d->mpi || d->size == 1) return 0;
#ifdef SHENDU_MPI
    for (size_t i = 0; i < n;) {    /* MPI counts are int */
        int k = n - i > (1u << 30) ? 1 << 30 : (int)(n - i);
        MPI_TRY(MPI_Allreduce(MPI_IN_PLACE, buf + i, k, MPI_FLOAT, MPI_SUM, d->comm), "MPI_Allreduce");
        i += (size_t)k;
    }
    const float inv = 1.0f / (float)d->size;
    for (size_t i = 0; i < n; i++) buf[i] *= inv;
#endif
    return 0;
}

int sd_dist_allreduce_sum_f64(sd_dist *d, double *buf, int n)
{
    if (!d || !d->mpi || d->size == 1) return 0;
#ifdef SHENDU_MPI
    MPI_TRY(MPI_Allreduce(MPI_IN_PLACE, buf, n, MPI_DOUBLE, MPI_SUM, d->comm), "MPI_Allreduce");
#endif
    return 0;
}

int sd_dist_broadcast(sd_dist *d, void *buf, size_t bytes, int root)
{
    if (!d || !d->mpi || d->size == 1) return 0;
#ifdef SHENDU_MPI
    for (size_t i = 0; i < bytes;) {
        int k = bytes - i > (1u << 30) ? 1 << 30 : (int)(bytes - i);
        MPI_TRY(MPI_Bcast((char *)buf + i, k, MPI_BYTE, root, d->comm), "MPI_Bcast");
        i += (size_t)k;
    }
#endif
    return 0;
}

int sd_dist_first_failed(sd_dist *d, int failed)
{
    if (!d || !d->mpi || d->size == 1) return failed ? 0 : -1;
#ifdef SHENDU_MPI
    int v = failed ? d->rank : d->size;
    int rc = MPI_Allreduce(MPI_IN_PLACE, &v, 1, MPI_INT, MPI_MIN, d->comm);
    if (rc != MPI_SUCCESS) { mpi_fail(rc, "MPI_Allreduce"); return d->rank; }
    return v == d->size ? -1 : v;
#else
    return -1;
#endif
}

int sd_dist_same(sd_dist *d, const void *buf, size_t bytes)
{
    if (!d || !d->mpi || d->size == 1) return 1;
#ifdef SHENDU_MPI
    uint64_t h = 1469598103934665603ull;          /* FNV-1a */
    for (size_t i = 0; i < bytes; i++) h = (h ^ ((const unsigned char *)buf)[i]) * 1099511628211ull;
    uint64_t lo = h, hi = h;
    MPI_TRY(MPI_Allreduce(MPI_IN_PLACE, &lo, 1, MPI_UINT64_T, MPI_MIN, d->comm), "MPI_Allreduce");
    MPI_TRY(MPI_Allreduce(MPI_IN_PLACE, &hi, 1, MPI_UINT64_T, MPI_MAX, d->comm), "MPI_Allreduce");
    return lo == hi;
#else
    return 1;
#endif
}

void sd_dist_shard(const sd_dist *d, int n, int *start, int *count)
{
    const long long r = sd_dist_rank(d), size = sd_dist_size(d);
    const int a = (int)(n * r / size), b = (int)(n * (r + 1) / size);
    *start = a;
    *count = b - a;
}

/* ---- Gradient synchronisation */

#define SYNC_MAX_EXTRA 8

typedef struct bucket {
    size_t off, len;         /* floats of the gradient buffer */
    int ready_at;            /* learned: the hook event after which it is final (-1: from the start) */
    int last_write;          /* this step: the last event that wrote into it (-1: none) */
    int launched;
} bucket;

struct sd_dist_sync {
    sd_dist *d;
    sd_params *P;
    int overlap;
    size_t size;             /* floats in P's gradient buffer */
    int nb;                  /* buckets; b[0] covers the end of the buffer and is reduced first */
    bucket *b;
    float *stage;            /* overlap: weight · gradient, reduced in place, then copied back */
    sd_graph *g;             /* graph the hook is installed on during a step */
    float *base;
    double weight;
    int events, next, schedule_ok, mismatch;
    int launch_error;        /* the first failed MPI_Iallreduce of this step (MPI_SUCCESS: none) */
    sd_dist_sync_stats st;
#ifdef SHENDU_MPI
    MPI_Request *req;        /* one per bucket, then one for the extras */
#endif
    double xbuf[1 + SYNC_MAX_EXTRA];
};

/* Buckets at tensor boundaries, from the last tensor backwards (backward
 * finishes the last layers first), each at least `limit` floats but the last. */
static int make_buckets(sd_dist_sync *s, size_t limit)
{
    const int n = sd_params_count(s->P);
    s->b = calloc((size_t)n + 1, sizeof *s->b);
    if (!s->b) return sd_error("out of memory");
    float *base = sd_params_grads(s->P);
    size_t end = s->size;
    for (int id = n - 1; id >= 0; id--) {
        size_t start = (size_t)(sd_params_grad(s->P, id) - base);
        if (end - start >= limit || id == 0) {
            if (id == 0) start = 0;
            s->b[s->nb++] = (bucket){ .off = start, .len = end - start, .ready_at = -1 };
            end = start;
        }
    }
    if (s->nb == 0 && s->size) s->b[s->nb++] = (bucket){ .off = 0, .len = s->size, .ready_at = -1 };
    return 0;
}

sd_dist_sync *sd_dist_sync_new(sd_dist *d, sd_params *P, const sd_dist_sync_opts *opts)
{
    if (!P) { sd_error("sd_dist_sync_new: no parameters"); return NULL; }
    sd_dist_sync *s = calloc(1, sizeof *s);
    if (!s) { sd_error("out of memory"); return NULL; }
    s->d = d;
    s->P = P;
    s->size = sd_params_size(P);
    if (s->size > (size_t)1 << 30) {   /* MPI counts are int */
        sd_error("sd_dist_sync_new: %zu gradient floats is more than one reduction can take", s->size);
        free(s);
        return NULL;
    }
    s->overlap = opts && opts->overlap && d && d->mpi && d->size > 1;
    size_t kb = opts && opts->bucket_kb > 0 ? (size_t)opts->bucket_kb : 256;
    if (make_buckets(s, s->overlap ? kb * 1024 / sizeof(float) : s->size + 1)) { free(s); return NULL; }
    s->st.buckets = s->overlap ? s->nb : 1;
    if (s->overlap) {
        s->stage = aligned_alloc(64, (s->size * sizeof(float) + 63) & ~(size_t)63);
#ifdef SHENDU_MPI
        s->req = calloc((size_t)s->nb + 1, sizeof *s->req);
        if (!s->stage || !s->req) {
            sd_error("out of memory");
            sd_dist_sync_free(s);
            return NULL;
        }
#endif
    }
    return s;
}

void sd_dist_sync_free(sd_dist_sync *s)
{
    if (!s) return;
    free(s->b);
    free(s->stage);
#ifdef SHENDU_MPI
    free(s->req);
#endif
    free(s);
}

sd_dist_sync_stats sd_dist_sync_get_stats(const sd_dist_sync *s) { return s->st; }

static void scale(float *x, size_t n, float w)
{
    if (w != 1.0f)
        for (size_t i = 0; i < n; i++) x[i] *= w;
}

#ifdef SHENDU_MPI
/* Stage bucket i (weight · gradient) and start its reduction. */
static void launch(sd_dist_sync *s, int i)
{
    bucket *b = &s->b[i];
    const float w = (float)s->weight;
    float *dst = s->stage + b->off;
    const float *src = s->base + b->off;
    for (size_t k = 0; k < b->len; k++) dst[k] = src[k] * w;
    b->launched = 1;
    int rc = MPI_Iallreduce(MPI_IN_PLACE, dst, (int)b->len, MPI_FLOAT, MPI_SUM, s->d->comm, &s->req[i]);
    if (rc != MPI_SUCCESS && s->launch_error == MPI_SUCCESS) s->launch_error = rc;   /* reported by sync_end */
}

/* The backward hook: note which buckets op y wrote, start the buckets the
 * schedule says are final (in their fixed order), and let MPI progress. */
static void on_backward(void *arg, const sd_tensor *y)
{
    sd_dist_sync *s = arg;
    const int e = s->events++;
    for (int k = 0; k < 3; k++) {
        const sd_tensor *x = y->src[k];
        if (!x || !x->grad || x->grad < s->base || x->grad >= s->base + s->size) continue;
        size_t lo = (size_t)(x->grad - s->base), hi = lo + (x->n ? x->n - 1 : 0);
        for (int i = 0; i < s->nb; i++) {
            bucket *b = &s->b[i];
            if (hi < b->off || lo >= b->off + b->len) continue;
            if (b->launched) s->mismatch = 1;   /* written after it left: this step is redone */
            b->last_write = e;
        }
    }
    if (s->schedule_ok)
        while (s->next < s->nb && s->b[s->next].ready_at <= e) {
            launch(s, s->next++);
            s->st.early++;
        }
    if (s->next > 0) {
        int done;
        MPI_Testall(s->next, s->req, &done, MPI_STATUSES_IGNORE);
    }
}
#endif

int sd_dist_sync_begin(sd_dist_sync *s, sd_graph *g, double weight)
{
    s->weight = weight;
    s->events = s->next = s->mismatch = 0;
    s->base = sd_params_grads(s->P);
    for (int i = 0; i < s->nb; i++) {
        s->b[i].launched = 0;
        s->b[i].last_write = -1;
    }
    s->g = NULL;
#ifdef SHENDU_MPI
    s->launch_error = MPI_SUCCESS;
    if (s->overlap) for (int i = 0; i <= s->nb; i++) s->req[i] = MPI_REQUEST_NULL;
    if (s->overlap && g) {
        sd_graph_set_backward_hook(g, on_backward, s);
        s->g = g;
    }
#else
    (void)g;
#endif
    return 0;
}

int sd_dist_sync_end(sd_dist_sync *s, double *extra, int n_extra)
{
    if (s->g) sd_graph_set_backward_hook(s->g, NULL, NULL);
    s->g = NULL;
    if (n_extra < 0 || n_extra > SYNC_MAX_EXTRA) return sd_error("sd_dist_sync_end: %d extra values (at most %d)",
                                                                 n_extra, SYNC_MAX_EXTRA);
    s->st.steps++;
    const double t0 = sd_time_now();
    int rc = 0;
    if (!s->d || !s->d->mpi || s->d->size == 1) {
        scale(s->base, s->size, (float)s->weight);
        return 0;
    }
#ifdef SHENDU_MPI
    MPI_Comm comm = s->d->comm;
    s->xbuf[0] = s->mismatch;
    for (int i = 0; i < n_extra; i++) s->xbuf[1 + i] = extra[i];
    if (!s->overlap) {
        MPI_Request xr;
        scale(s->base, s->size, (float)s->weight);
        int e1 = MPI_Iallreduce(MPI_IN_PLACE, s->xbuf, 1 + n_extra, MPI_DOUBLE, MPI_SUM, comm, &xr);
        int e2 = MPI_Allreduce(MPI_IN_PLACE, s->base, (int)s->size, MPI_FLOAT, MPI_SUM, comm);
        int e3 = e1 == MPI_SUCCESS ? MPI_Wait(&xr, MPI_STATUS_IGNORE) : e1;
        if (e2 != MPI_SUCCESS) rc = mpi_fail(e2, "MPI_Allreduce of the gradients");
        else if (e3 != MPI_SUCCESS) rc = mpi_fail(e3, "MPI_Iallreduce");
    } else {
        while (s->next < s->nb) launch(s, s->next++);
        int e = MPI_Iallreduce(MPI_IN_PLACE, s->xbuf, 1 + n_extra, MPI_DOUBLE, MPI_SUM, comm, &s->req[s->nb]);
        if (e == MPI_SUCCESS) e = MPI_Waitall(s->nb + 1, s->req, MPI_STATUSES_IGNORE);
        if (e == MPI_SUCCESS) e = s->launch_error;
        if (e != MPI_SUCCESS) rc = mpi_fail(e, "MPI_Iallreduce of the gradients");
        else if (s->xbuf[0] > 0) {  /* some rank's graph changed: reduce this step again, in full */
            for (size_t k = 0; k < s->size; k++) s->stage[k] = s->base[k] * (float)s->weight;
            e = MPI_Allreduce(MPI_IN_PLACE, s->stage, (int)s->size, MPI_FLOAT, MPI_SUM, comm);
            if (e != MPI_SUCCESS) rc = mpi_fail(e, "MPI_Allreduce of the gradients");
            s->st.redone++;
        }
        if (!rc) memcpy(s->base, s->stage, s->size * sizeof(float));
        for (int i = 0; i < s->nb; i++) s->b[i].ready_at = s->b[i].last_write;
        s->schedule_ok = 1;
    }
    for (int i = 0; i < n_extra && !rc; i++) extra[i] = s->xbuf[1 + i];
#endif
    s->st.wait_s += sd_time_now() - t0;
    return rc;
}
