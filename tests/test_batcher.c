/* The mini-batcher: coverage per epoch, reshuffling, determinism, the short
 * last batch, pixel scaling, and checkpoint restore. Uses an in-memory data set
 * whose first two pixels encode the example's index. */
#include "check.h"
#include "shendu/data.h"

#include <string.h>

#define N 103
#define C 1
#define H 2
#define W 3
#define STRIDE (C * H * W)

static void make_dataset(sd_dataset *d)
{
    *d = (sd_dataset){ 0 };   /* x and classes NULL: a picture set */
    d->n = N;
    d->c = C;
    d->h = H;
    d->w = W;
    d->nclass = 10;
    d->images = malloc((size_t)N * STRIDE);
    d->labels = malloc(N);
    for (int i = 0; i < N; i++) {
        uint8_t *p = d->images + (size_t)i * STRIDE;
        p[0] = (uint8_t)(i & 0xff);
        p[1] = (uint8_t)(i >> 8);
        for (int j = 2; j < STRIDE; j++) p[j] = (uint8_t)(i * 31 + j);
        d->labels[i] = (uint8_t)(i % 10);
    }
}

/* Recover the example index from a batch row (scale 1, shift 0 in these tests). */
static int row_index(const sd_batch *b, int r)
{
    const float *x = b->x + (size_t)r * STRIDE;
    return (int)x[0] + 256 * (int)x[1];
}

/* Run one epoch; record indices in order; check coverage and batch sizes. */
static int run_epoch(sd_batcher *bt, int batch, int *seq)
{
    int seen[N] = { 0 }, k = 0, nb = 0, ok = 1;
    sd_batch b;
    while (sd_batcher_next(bt, &b)) {
        int expect = (nb == (N + batch - 1) / batch - 1 && N % batch) ? N % batch : batch;
        if (b.n != expect) ok = 0;
        for (int r = 0; r < b.n; r++) {
            int i = row_index(&b, r);
            if (i < 0 || i >= N || k >= N) { ok = 0; continue; }
            if (b.y[r] != i % 10) ok = 0;
            seen[i]++;
            seq[k++] = i;
        }
        nb++;
    }
    if (k != N || nb != sd_batcher_batches_per_epoch(bt)) ok = 0;
    for (int i = 0; i < N; i++) if (seen[i] != 1) ok = 0;
    return ok;
}

static void test_identity_and_scaling(const sd_dataset *d)
{
    /* No shuffle: identity order; default scale is 1/255. */
    sd_batcher_opts o = { .batch = 10, .shuffle = 0 };
    sd_batcher *bt = sd_batcher_new(d, &o, NULL);
    CHECK(bt != NULL);
    if (!bt) return;
    CHECK(sd_batcher_batches_per_epoch(bt) == 11);
    sd_batch b;
    CHECK(sd_batcher_next(bt, &b) == 1 && b.n == 10);
    CHECK_NEAR(b.x[STRIDE * 3 + 0], 3.0 / 255.0, 1e-7);
    CHECK_NEAR(b.x[STRIDE * 3 + 2], (float)(uint8_t)(3 * 31 + 2) / 255.0, 1e-7);
    CHECK(b.y[7] == 7);
    CHECK(sd_batcher_position(bt) == 10);
    const int32_t *ord = sd_batcher_order(bt);
    int ident = 1;
    for (int i = 0; i < N; i++) if (ord[i] != i) ident = 0;
    CHECK(ident);
    sd_batcher_free(bt);
    sd_batcher_free(NULL);

    /* Explicit scale and shift. */
    sd_batcher_opts o2 = { .batch = 4, .shuffle = 0, .scale = 2.0f, .shift = -1.0f };
    bt = sd_batcher_new(d, &o2, NULL);
    CHECK(bt && sd_batcher_next(bt, &b) == 1);
    if (bt) {
        CHECK_NEAR(b.x[STRIDE * 2], 2.0 * 2 - 1.0, 1e-7);
        sd_batcher_free(bt);
    }

    /* A batch larger than the data set: one batch of all N. */
    sd_batcher_opts o3 = { .batch = 1000 };
    bt = sd_batcher_new(d, &o3, NULL);
    CHECK(bt && sd_batcher_batches_per_epoch(bt) == 1);
    if (bt) {
        CHECK(sd_batcher_next(bt, &b) == 1 && b.n == N);
        CHECK(sd_batcher_next(bt, &b) == 0);
        sd_batcher_free(bt);
    }

    /* Bad arguments. */
    sd_batcher_opts bad = { .batch = 0 };
    CHECK(sd_batcher_new(d, &bad, NULL) == NULL && strstr(sd_last_error(), "batch") != NULL);
    sd_batcher_opts need_rng = { .batch = 4, .shuffle = 1 };
    CHECK(sd_batcher_new(d, &need_rng, NULL) == NULL);
    sd_dataset empty = { 0 };
    CHECK(sd_batcher_new(&empty, &o, NULL) == NULL);
}

static void test_epochs(const sd_dataset *d)
{
    const int batches[3] = { 10, 1, 103 };
    for (int t = 0; t < 3; t++) {
        int batch = batches[t];
        sd_rng r1, r2;
        sd_rng_seed(&r1, 42);
        sd_rng_seed(&r2, 42);
        sd_batcher_opts o = { .batch = batch, .shuffle = 1, .scale = 1.0f };
        sd_batcher *a = sd_batcher_new(d, &o, &r1);
        sd_batcher *b = sd_batcher_new(d, &o, &r2);
        CHECK(a && b);
        if (!a || !b) { sd_batcher_free(a); sd_batcher_free(b); continue; }
        static int ea[3][N], eb[3][N];
        for (int e = 0; e < 3; e++) {
            CHECK_MSG(run_epoch(a, batch, ea[e]), "batch %d epoch %d", batch, e);
            CHECK(run_epoch(b, batch, eb[e]));
            CHECK(memcmp(ea[e], eb[e], sizeof ea[e]) == 0);   /* same seed, same order */
        }
        /* The first epoch is shuffled too, and every epoch differs. */
        int ident = 1;
        for (int i = 0; i < N; i++) if (ea[0][i] != i) ident = 0;
        CHECK(!ident);
        CHECK(memcmp(ea[0], ea[1], sizeof ea[0]) != 0);
        CHECK(memcmp(ea[1], ea[2], sizeof ea[1]) != 0);
        sd_batcher_free(a);
        sd_batcher_free(b);

        /* A different seed gives a different order. */
        sd_rng r3;
        sd_rng_seed(&r3, 43);
        sd_batcher *c = sd_batcher_new(d, &o, &r3);
        int ec[N];
        CHECK(c && run_epoch(c, batch, ec));
        CHECK(memcmp(ec, ea[0], sizeof ec) != 0);
        sd_batcher_free(c);
    }
}

/* Checkpoint after k batches (possibly at an epoch boundary), keep going with
 * the original, and check a fresh batcher restored from the checkpoint yields
 * the same continuation, across the next epoch's reshuffle. */
static void test_restore(const sd_dataset *d)
{
    const int stops[5] = { 0, 3, 10, 11, 12 };   /* batch 10: 11 batches per epoch */
    sd_batcher_opts o = { .batch = 10, .shuffle = 1, .scale = 1.0f };
    for (int s = 0; s < 5; s++) {
        sd_rng r;
        sd_rng_seed(&r, 7);
        sd_batcher *a = sd_batcher_new(d, &o, &r);
        sd_batch b;
        int skip[N];
        CHECK(run_epoch(a, 10, skip));   /* start from the second epoch */
        for (int k = 0; k < stops[s]; k++) sd_batcher_next(a, &b);

        /* The checkpoint: position, order, rng state. */
        int pos = sd_batcher_position(a);
        int32_t ord[N];
        memcpy(ord, sd_batcher_order(a), sizeof ord);
        sd_rng saved = r;

        int seq_a[3 * N], na = 0;
        int calls = 30;   /* ~2.7 epochs of calls, including end-of-epoch zeros */
        for (int k = 0; k < calls; k++) {
            if (sd_batcher_next(a, &b)) for (int i = 0; i < b.n; i++) seq_a[na++] = row_index(&b, i);
            else seq_a[na++] = -1;   /* epoch marker */
        }

        sd_rng r2 = saved;
        sd_batcher *c = sd_batcher_new(d, &o, &r2);
        CHECK(sd_batcher_restore(c, pos, ord) == 0);
        CHECK(sd_batcher_position(c) == pos);
        int seq_c[3 * N], nc = 0;
        for (int k = 0; k < calls; k++) {
            if (sd_batcher_next(c, &b)) for (int i = 0; i < b.n; i++) seq_c[nc++] = row_index(&b, i);
            else seq_c[nc++] = -1;
        }
        CHECK_MSG(na == nc && memcmp(seq_a, seq_c, (size_t)na * sizeof(int)) == 0,
                  "restore after %d batches diverged", stops[s]);
        CHECK(memcmp(&r, &r2, sizeof r) == 0);

        /* Bad checkpoints are rejected and leave the batcher alone. */
        int32_t bad[N];
        memcpy(bad, ord, sizeof bad);
        bad[5] = bad[6];
        CHECK(sd_batcher_restore(c, pos, bad) == -1 && strstr(sd_last_error(), "permutation"));
        CHECK(sd_batcher_restore(c, N + 1, ord) == -1);
        CHECK(sd_batcher_restore(c, -1, ord) == -1);
        sd_batcher_free(a);
        sd_batcher_free(c);
    }
}

int main(void)
{
    sd_dataset d;
    make_dataset(&d);
    test_identity_and_scaling(&d);
    test_epochs(&d);
    test_restore(&d);
    sd_dataset_free(&d);
    return check_done("test_batcher");
}
