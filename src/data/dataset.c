/* Image data sets in the MNIST directory layout, and the mini-batcher.
 *
 * MNIST layout: a directory holding, for each split ("train", "t10k"),
 *   {split}-images-idx3-ubyte[.gz]   uint8 IDX, dims (n, h, w)
 *   {split}-labels-idx1-ubyte[.gz]   uint8 IDX, dims (n)
 * Fashion-MNIST uses the same names and shapes (28x28, 10 classes). */
#define _POSIX_C_SOURCE 200809L
#include "shendu/data.h"
#include "shendu/folder.h"

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#define DEFAULT_LOCAL_DIR  "data/fashion-mnist"
#define DEFAULT_SYSTEM_DIR "/usr/share/datasets/fashion-mnist"

static int is_dir(const char *p)
{
    struct stat st;
    return stat(p, &st) == 0 && S_ISDIR(st.st_mode);
}

static int is_file(const char *p)
{
    struct stat st;
    return stat(p, &st) == 0 && !S_ISDIR(st.st_mode);
}

const char *sd_data_default_dir(void)
{
    const char *env = getenv("SHENDU_DATA");
    if (env && *env) return env;
    if (is_dir(DEFAULT_LOCAL_DIR)) return DEFAULT_LOCAL_DIR;
    return DEFAULT_SYSTEM_DIR;
}

/* Find DIR/NAME.gz, else DIR/NAME, writing the path into buf. */
int sd_dataset_file(const char *dir, const char *name, char *buf, size_t cap)
{
    size_t dl = strlen(dir);
    const char *sep = (dl > 0 && dir[dl - 1] == '/') ? "" : "/";
    int len = snprintf(buf, cap, "%s%s%s.gz", dir, sep, name);
    if (len < 0 || (size_t)len >= cap) return sd_error("data path too long: %s%s%s", dir, sep, name);
    if (is_file(buf)) return 0;
    buf[len - 3] = '\0';   /* drop ".gz" */
    if (is_file(buf)) return 0;
    return sd_error("file not found: %s (nor %s.gz) in data directory '%s'", buf, buf, dir);
}

int sd_dataset_load_mnist(const char *dir, const char *split, sd_dataset *out)
{
    if (!out) return sd_error("sd_dataset_load_mnist: out is NULL");
    memset(out, 0, sizeof *out);
    if (!dir || !*dir) return sd_error("sd_dataset_load_mnist: empty data directory");
    if (!split || !*split || strchr(split, '/'))
        return sd_error("sd_dataset_load_mnist: bad split name '%s' (expected train or t10k)",
                        split ? split : "(null)");
    if (!is_dir(dir))
        return sd_error("data directory '%s' not found; install Fashion-MNIST with: "
                        "apt-get install dataset-fashion-mnist (or set SHENDU_DATA / --data)", dir);

    char name[256], ipath[4096], lpath[4096];
    snprintf(name, sizeof name, "%s-images-idx3-ubyte", split);
    if (sd_dataset_file(dir, name, ipath, sizeof ipath) < 0) return -1;
    snprintf(name, sizeof name, "%s-labels-idx1-ubyte", split);
    if (sd_dataset_file(dir, name, lpath, sizeof lpath) < 0) return -1;

    sd_idx im, lb;
    if (sd_idx_load(ipath, &im) < 0) return -1;
    if (sd_idx_load(lpath, &lb) < 0) { sd_idx_free(&im); return -1; }

    int rc = 0;
    if (im.ndim != 3)
        rc = sd_error("file %s: images must have 3 dimensions (n, h, w), found %d", ipath, im.ndim);
    else if (lb.ndim != 1)
        rc = sd_error("file %s: labels must have 1 dimension (n), found %d", lpath, lb.ndim);
    else if (im.dims[0] != lb.dims[0])
        rc = sd_error("image/label count mismatch: %s has %u images but %s has %u labels",
                      ipath, im.dims[0], lpath, lb.dims[0]);
    else if (im.dims[0] == 0)
        rc = sd_error("file %s: no images", ipath);
    else if (im.dims[1] == 0 || im.dims[2] == 0)
        rc = sd_error("file %s: empty images (%u x %u)", ipath, im.dims[1], im.dims[2]);
    /* The 1 GiB IDX cap keeps every dimension and product within int. */
    if (rc < 0) {
        sd_idx_free(&im);
        sd_idx_free(&lb);
        return -1;
    }

    int maxl = 0;
    for (size_t i = 0; i < lb.n; i++)
        if (lb.data[i] > maxl) maxl = lb.data[i];   /* uint8, so always < SD_MAX_CLASSES */

    out->n = (int)im.dims[0];
    out->c = 1;
    out->h = (int)im.dims[1];
    out->w = (int)im.dims[2];
    out->images = im.data;   /* take ownership of both buffers */
    out->labels = lb.data;
    out->nclass = maxl + 1;
    return 0;
}

void sd_dataset_free(sd_dataset *d)
{
    if (!d) return;
    free(d->images);
    free(d->labels);
    free(d->x);
    for (int i = 0; d->classes && i < d->nclass; i++) free(d->classes[i]);
    free(d->classes);
    memset(d, 0, sizeof *d);
}

int sd_dataset_check_same_shape(const sd_dataset *a, const char *what_a, const sd_dataset *b, const char *what_b)
{
    if (a->c == b->c && a->h == b->h && a->w == b->w) return 0;
    return sd_error("%s has %dx%dx%d images but %s has %dx%dx%d (channels x height x width): both must have the "
                    "same size", what_a, a->c, a->h, a->w, what_b, b->c, b->h, b->w);
}

char *sd_dataset_describe(const sd_dataset *d, char *buf, size_t size)
{
    char fp[17];
    sd_dataset_fingerprint(d, fp);   /* labels and pixels (or a table's features) */
    snprintf(buf, size, "%d %s of %dx%dx%d, %d classes, fingerprint %s", d->n, d->x ? "rows" : "images", d->c, d->h,
             d->w, d->nclass, fp);
    return buf;
}

void sd_dataset_truncate(sd_dataset *d, int n)
{
    /* Only shrinks the count; the buffers stay as they are (freed whole later).
     * nclass is kept so a model's output size does not depend on n. */
    if (d && n >= 0 && n < d->n) d->n = n;
}

/* ---- Mini-batcher.
 *
 * State: `order` is the permutation of the current epoch and `pos` the index
 * (into order) of the next example. `pending` means the epoch has not started
 * yet: the next call to sd_batcher_next reshuffles (when shuffling) before
 * handing out the first batch. A fresh batcher and one whose epoch just ended
 * are both pending at pos 0, so a checkpoint taken at pos 0 resumes with the
 * same reshuffle, given the same rng state. */
struct sd_batcher {
    const sd_dataset *d;
    sd_rng *rng;
    int batch, shuffle;
    int pos, pending;
    size_t stride;         /* c*h*w */
    float lut[256];        /* pixel -> pixel*scale + shift */
    float *x;              /* min(batch, n) * stride */
    int32_t *y;            /* min(batch, n) */
    int32_t *order;        /* n */
    uint8_t *seen;         /* n, scratch for validating restored permutations */
};

sd_batcher *sd_batcher_new(const sd_dataset *d, const sd_batcher_opts *opts, sd_rng *rng)
{
    if (!d || !opts) { sd_error("sd_batcher_new: NULL data set or options"); return NULL; }
    if (d->n <= 0 || d->c <= 0 || d->h <= 0 || d->w <= 0 || (!d->images && !d->x) || !d->labels) {
        sd_error("sd_batcher_new: empty data set (n=%d, %dx%dx%d)", d->n, d->c, d->h, d->w);
        return NULL;
    }
    if (opts->batch <= 0) { sd_error("sd_batcher_new: batch size %d must be positive", opts->batch); return NULL; }
    if (opts->shuffle && !rng) { sd_error("sd_batcher_new: shuffling needs an rng"); return NULL; }

    size_t stride = (size_t)d->c * (size_t)d->h * (size_t)d->w;
    size_t bn = (size_t)(opts->batch < d->n ? opts->batch : d->n);
    if (stride > SIZE_MAX / sizeof(float) / bn) { sd_error("sd_batcher_new: batch too large"); return NULL; }

    sd_batcher *b = calloc(1, sizeof *b);
    if (!b) { sd_error("sd_batcher_new: out of memory"); return NULL; }
    b->d = d;
    b->rng = rng;
    b->batch = opts->batch;
    b->shuffle = opts->shuffle;
    b->pending = 1;
    b->stride = stride;
    b->x = malloc(bn * stride * sizeof(float));
    b->y = malloc(bn * sizeof(int32_t));
    b->order = malloc((size_t)d->n * sizeof(int32_t));
    b->seen = malloc((size_t)d->n);
    if (!b->x || !b->y || !b->order || !b->seen) {
        sd_batcher_free(b);
        sd_error("sd_batcher_new: out of memory for %zu x %zu floats", bn, stride);
        return NULL;
    }
    float scale = opts->scale != 0.0f ? opts->scale : 1.0f / 255.0f;
    for (int v = 0; v < 256; v++) b->lut[v] = (float)v * scale + opts->shift;
    for (int i = 0; i < d->n; i++) b->order[i] = i;
    return b;
}

void sd_batcher_free(sd_batcher *b)
{
    if (!b) return;
    free(b->x);
    free(b->y);
    free(b->order);
    free(b->seen);
    free(b);
}

int sd_batcher_next(sd_batcher *b, sd_batch *out)
{
    const sd_dataset *d = b->d;
    if (b->pending) {
        if (b->shuffle) sd_rng_shuffle(b->rng, b->order, (size_t)d->n);
        b->pending = 0;
        b->pos = 0;
    }
    if (b->pos >= d->n) {   /* end of epoch: the next call starts a new one */
        b->pending = 1;
        b->pos = 0;
        out->n = 0;
        out->x = b->x;
        out->y = b->y;
        return 0;
    }
    int n = d->n - b->pos < b->batch ? d->n - b->pos : b->batch;
    for (int i = 0; i < n; i++) {
        int32_t k = b->order[b->pos + i];
        float *dst = b->x + (size_t)i * b->stride;
        if (d->x) {
            memcpy(dst, d->x + (size_t)k * b->stride, b->stride * sizeof *dst);
        } else {
            const uint8_t *src = d->images + (size_t)k * b->stride;
            for (size_t j = 0; j < b->stride; j++) dst[j] = b->lut[src[j]];
        }
        b->y[i] = d->labels[k];
    }
    b->pos += n;
    out->n = n;
    out->x = b->x;
    out->y = b->y;
    return 1;
}

int sd_batcher_batches_per_epoch(const sd_batcher *b)
{
    return (b->d->n + b->batch - 1) / b->batch;
}

int sd_batcher_position(const sd_batcher *b) { return b->pos; }

const int32_t *sd_batcher_order(const sd_batcher *b) { return b->order; }

int sd_batcher_restore(sd_batcher *b, int position, const int32_t *order)
{
    int n = b->d->n;
    if (position < 0 || position > n)
        return sd_error("batcher restore: position %d outside 0..%d", position, n);
    if (!order) return sd_error("batcher restore: no permutation");
    memset(b->seen, 0, (size_t)n);
    for (int i = 0; i < n; i++) {
        if (order[i] < 0 || order[i] >= n || b->seen[order[i]])
            return sd_error("batcher restore: saved order is not a permutation of 0..%d "
                            "(entry %d is %d)", n - 1, i, (int)order[i]);
        b->seen[order[i]] = 1;
    }
    memcpy(b->order, order, (size_t)n * sizeof(int32_t));
    b->pos = position;
    b->pending = position == 0;   /* see the state comment above */
    return 0;
}
