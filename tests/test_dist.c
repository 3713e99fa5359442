/* shendu/dist.h: the collectives, sharding, and gradient synchronisation, plain
 * and overlapped, against a gradient every rank computes alone over the whole
 * global batch. Runs as one process under ctest (the single-process identity)
 * and as N ranks under mpirun in tests/cli_mpi.sh (the real reductions).
 *
 *   test_dist                       the tests (any number of ranks)
 *   test_dist compare A B TOL       max |a - b| over every parameter of two model
 *                                   files (classifiers, or language models and
 *                                   their checkpoints); exit 1 if above TOL (cli_mpi.sh) */
#include "check.h"
#include "shendu.h"
#include "shendu/dist.h"
#include "apps/apps.h"
#include "apps/diffusion_app.h"

#include <string.h>

static sd_dist *D;
static int R, N;

static void test_collectives(void)
{
    CHECK(R >= 0 && R < N);
    CHECK(sd_dist_local_size(D) >= 1 && sd_dist_local_size(D) <= N);
    float buf[5];
    for (int i = 0; i < 5; i++) buf[i] = (float)(R + i);
    CHECK(sd_dist_allreduce_mean(D, buf, 5) == 0);
    for (int i = 0; i < 5; i++) CHECK_NEAR(buf[i], (N - 1) / 2.0 + i, 1e-6);
    double s[2] = { 1.0, (double)R };
    CHECK(sd_dist_allreduce_sum_f64(D, s, 2) == 0);
    CHECK(s[0] == N && s[1] == N * (N - 1) / 2.0);
    char msg[32] = "";
    if (R == N - 1) snprintf(msg, sizeof msg, "from %d", R);
    CHECK(sd_dist_broadcast(D, msg, sizeof msg, N - 1) == 0);
    char want[32];
    snprintf(want, sizeof want, "from %d", N - 1);
    CHECK(!strcmp(msg, want));
    CHECK(sd_dist_first_failed(D, 0) == -1);
    CHECK(sd_dist_first_failed(D, R == N - 1) == N - 1);
    CHECK(sd_dist_first_failed(D, 1) == 0);
    CHECK(sd_dist_same(D, "same", 4) == 1);
    CHECK(sd_dist_same(D, &R, sizeof R) == (N == 1));
}

/* The slices of all ranks tile [0, n) in rank order, sizes within one. */
static void test_shard(void)
{
    const int ns[] = { 0, 1, N - 1, N, 7, 63, 64, 1000 };
    for (size_t k = 0; k < sizeof ns / sizeof *ns; k++) {
        int n = ns[k] < 0 ? 0 : ns[k], start, count;
        sd_dist_shard(D, n, &start, &count);
        double *all = calloc(2 * (size_t)N, sizeof *all);
        all[2 * R] = start;
        all[2 * R + 1] = count;
        CHECK(sd_dist_allreduce_sum_f64(D, all, 2 * N) == 0);
        int next = 0, lo = n, hi = 0;
        for (int r = 0; r < N; r++) {
            CHECK_MSG((int)all[2 * r] == next, "n %d: rank %d starts at %g, expected %d", n, r, all[2 * r], next);
            next += (int)all[2 * r + 1];
            if ((int)all[2 * r + 1] < lo) lo = (int)all[2 * r + 1];
            if ((int)all[2 * r + 1] > hi) hi = (int)all[2 * r + 1];
        }
        CHECK_MSG(next == n && hi - lo <= 1, "n %d: shards cover %d, sizes %d..%d", n, next, lo, hi);
        free(all);
    }
}

/* ---- Gradient synchronisation on a small CNN. */
#define B 7                   /* global batch: uneven shards on 2, 3, 4 ranks */
#define IMG (1 * 8 * 8)
static const char *arch = "conv1=conv(4,3) relu maxpool(2) flatten fc1=linear(16) relu fc2=linear(5)";

/* The loss on examples [first, first+count): CE(model(x)), or, `twice`, that
 * plus a second pass over the same inputs scaled by 1/2 (the graph grows, every
 * parameter is used twice: the overlap schedule learned before no longer holds). */
static sd_tensor *loss_of(sd_graph *g, sd_model *m, const float *x, const int32_t *y, int first, int count,
                          int twice)
{
    sd_tensor *in = sd_input(g, x + first * IMG, SD_SHAPE(count, 1, 8, 8));
    sd_tensor *l = sd_cross_entropy(g, sd_model_forward(g, m, in), y + first);
    if (twice) l = sd_add(g, l, sd_scale(g, sd_cross_entropy(g, sd_model_forward(g, m, in), y + first), 0.5f));
    return l;
}

static void test_sync(sd_ctx *ctx, int overlap)
{
    sd_rng rng;
    sd_rng_seed(&rng, 11);
    sd_model *m = sd_model_new(arch, SD_SHAPE(1, 8, 8), SD_INIT_DEFAULT, &rng);
    sd_params *P = sd_model_params(m);
    const size_t n = sd_params_size(P);
    float *ref = malloc(n * sizeof *ref), x[B * IMG];
    int32_t y[B];
    sd_graph *g = sd_graph_new(ctx);
    /* 1 KiB buckets: several, so the schedule has something to get wrong */
    sd_dist_sync *s = sd_dist_sync_new(D, P, &(sd_dist_sync_opts){ .overlap = overlap, .bucket_kb = 1 });
    CHECK(m && g && s && ref);
    if (!m || !g || !s || !ref) return;
    for (int step = 0; step < 6; step++) {
        const int twice = step == 4;      /* the graph changes at step 4, and back at 5 */
        for (int i = 0; i < B * IMG; i++) x[i] = sd_rng_normal(&rng);
        for (int i = 0; i < B; i++) y[i] = (int32_t)sd_rng_below(&rng, 5);
        /* the reference: the whole global batch in this process */
        sd_graph_reset(g);
        sd_params_zero_grad(P);
        sd_tensor *l = loss_of(g, m, x, y, 0, B, twice);
        CHECK(l && sd_backward(g, l) == 0);
        memcpy(ref, sd_params_grads(P), n * sizeof *ref);
        const float ref_loss = l ? l->data[0] : 0;
        /* this rank's shard, weighted by its share, synchronised */
        int first, count;
        sd_dist_shard(D, B, &first, &count);
        const double share = (double)count / B;
        sd_graph_reset(g);
        sd_params_zero_grad(P);
        l = count ? loss_of(g, m, x, y, first, count, twice) : NULL;
        CHECK(sd_dist_sync_begin(s, g, share) == 0);
        CHECK(!count || (l && sd_backward(g, l) == 0));
        double extra[2] = { l ? l->data[0] * share : 0.0, 1.0 };
        CHECK(sd_dist_sync_end(s, extra, 2) == 0);
        CHECK_NEAR(extra[0], ref_loss, 1e-5);
        CHECK(extra[1] == N);
        const float *gr = sd_params_grads(P);
        double worst = 0;
        for (size_t i = 0; i < n; i++) {
            double d = fabs((double)gr[i] - ref[i]) / (1.0 + fabs(ref[i]));
            if (d > worst) worst = d;
        }
        CHECK_MSG(worst <= 1e-5, "overlap %d step %d: synchronised gradient differs from the whole batch's by %g",
                  overlap, step, worst);
        /* the same bits on every rank */
        CHECK(sd_dist_same(D, gr, n * sizeof *gr) == 1);
        /* an SGD-like step keeps the models moving, identically everywhere */
        float *w = sd_params_values(P);
        for (size_t i = 0; i < n; i++) w[i] -= 0.1f * gr[i];
    }
    sd_dist_sync_stats st = sd_dist_sync_get_stats(s);
    CHECK(st.steps == 6);
    if (overlap && N > 1) {
        CHECK_MSG(st.buckets >= 2, "%d buckets, expected at least 2", st.buckets);
        CHECK_MSG(st.redone >= 1, "the changed graph of step 4 was not detected (%lld redone)", (long long)st.redone);
        CHECK_MSG(st.early > 0, "no bucket was started during backward");
    } else {
        CHECK(st.buckets == 1 && st.redone == 0 && st.early == 0);
    }
    sd_dist_sync_free(s);
    sd_graph_free(g);
    sd_model_free(m);
    free(ref);
}

/* max |a - b| over the parameters of two model files with the same architecture. */
/* The parameters of a classifier file, a diffusion model or checkpoint (its
 * averaged U-Net), or else a language model file (lm or lm checkpoint); arch
 * describes the architecture; unload releases it. */
typedef struct loaded { sd_model *m; sd_lm *lm; sd_diffusion_model dm; sd_params *P; char arch[256]; } loaded;

static int load_any(const char *path, loaded *l)
{
    memset(l, 0, sizeof *l);
    sd_st_file *f = sd_st_open(path);
    const int diffusion = f && sd_app_is_diffusion_file(f);
    sd_st_close(f);
    if (diffusion) {
        if (sd_diffusion_model_load(path, &l->dm)) { fprintf(stderr, "compare: %s\n", sd_last_error()); return -1; }
        l->P = sd_unet_params(l->dm.u);
        snprintf(l->arch, sizeof l->arch, "U-Net: c %d, T %d", sd_unet_channels(l->dm.u), l->dm.T);
        return 0;
    }
    if ((l->m = sd_model_load(path))) {
        l->P = sd_model_params(l->m);
        snprintf(l->arch, sizeof l->arch, "%s", sd_model_arch(l->m));
        return 0;
    }
    char first[1024];
    snprintf(first, sizeof first, "%s", sd_last_error());
    if ((l->lm = sd_lm_load(path))) {
        l->P = sd_lm_params(l->lm);
        snprintf(l->arch, sizeof l->arch, "lm: %d tensors, vocabulary %d", sd_params_count(l->P),
                 sd_lm_vocab(l->lm)->n);
        return 0;
    }
    fprintf(stderr, "compare: %s; as a language model: %s\n", first, sd_last_error());
    return -1;
}

static void unload(loaded *l)
{
    sd_model_free(l->m);
    sd_lm_free(l->lm);
    if (l->dm.u) sd_diffusion_model_free(&l->dm);
}

static int compare(const char *a, const char *b, double tol)
{
    loaded la, lb;
    if (load_any(a, &la)) return 2;
    if (load_any(b, &lb)) { unload(&la); return 2; }
    sd_params *pa = la.P, *pb = lb.P;
    int rc = 2;
    if (sd_params_size(pa) != sd_params_size(pb) || strcmp(la.arch, lb.arch)) {
        fprintf(stderr, "compare: %s and %s hold different models\n", a, b);
        goto done;
    }
    double worst = 0, scale = 0;
    const float *va = sd_params_values(pa), *vb = sd_params_values(pb);
    for (size_t i = 0; i < sd_params_size(pa); i++) {
        double d = fabs((double)va[i] - vb[i]);
        if (d > worst) worst = d;
        if (fabs(va[i]) > scale) scale = fabs(va[i]);
    }
    printf("max |difference| %.3g (largest |weight| %.3g, tolerance %.3g)\n", worst, scale, tol);
    rc = worst <= tol ? 0 : 1;
done:
    unload(&la);
    unload(&lb);
    return rc;
}

int main(int argc, char **argv)
{
    if (argc == 5 && !strcmp(argv[1], "compare")) return compare(argv[2], argv[3], atof(argv[4]));
    D = sd_dist_init(&argc, &argv);
    if (!D) {
        fprintf(stderr, "test_dist: %s\n", sd_last_error());
        return 1;
    }
    R = sd_dist_rank(D);
    N = sd_dist_size(D);
    sd_ctx *ctx = sd_ctx_new(&(sd_ctx_opts){ .threads = 1 });
    test_collectives();
    test_shard();
    test_sync(ctx, 0);
    test_sync(ctx, 1);
    sd_ctx_free(ctx);
    char name[64];
    if (N > 1) snprintf(name, sizeof name, "test_dist (rank %d of %d)", R, N);
    else snprintf(name, sizeof name, "test_dist");
    int rc = check_done(name);
    /* every rank's verdict decides the job's */
    int failed = sd_dist_first_failed(D, rc != 0);
    sd_dist_finalize(D);
    return failed >= 0 ? 1 : 0;
}
