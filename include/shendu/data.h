/* shendu/data.h — IDX files (MNIST, Fashion-MNIST), image data sets and
 * shuffled mini-batches.
 *
 * Ownership: sd_idx / sd_dataset own their buffers (free with *_free);
 * an sd_batcher borrows its data set, which must outlive it. */
#ifndef SHENDU_DATA_H
#define SHENDU_DATA_H

#include "base.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ---- IDX: 2 zero bytes, a type byte, a dimension count, big-endian uint32
 * dimensions, then the data. Raw or gzip (detected from the 1f 8b magic). */
#define SD_IDX_MAX_DIMS 4
typedef struct sd_idx {
    int ndim;
    uint32_t dims[SD_IDX_MAX_DIMS];
    uint8_t type;          /* 0x08 uint8 is the only type MNIST uses */
    size_t n;              /* product of dims */
    uint8_t *data;         /* n bytes */
} sd_idx;

/* Read an IDX file. Errors name the file and the byte offset where it went
 * wrong (bad magic, unsupported type, truncated data, trailing bytes). */
int  sd_idx_load(const char *path, sd_idx *out);
void sd_idx_free(sd_idx *idx);                 /* NULL-safe, leaves *idx zeroed */
/* Write a uint8 IDX file (raw, or gzip when the path ends in ".gz"). Atomic. */
int  sd_idx_save(const char *path, const sd_idx *idx);

/* ---- Image classification data set (uint8 pixels, one label each). */
#define SD_MAX_CLASSES 256
typedef struct sd_dataset {
    int n, c, h, w;        /* n images of c×h×w pixels */
    uint8_t *images;       /* n*c*h*w bytes, NCHW */
    uint8_t *labels;       /* n bytes */
    int nclass;            /* 1 + the largest label */
} sd_dataset;

/* The data directory: $SHENDU_DATA, else data/fashion-mnist if it exists,
 * else /usr/share/datasets/fashion-mnist (Debian's dataset-fashion-mnist). */
const char *sd_data_default_dir(void);

/* Load split "train" or "t10k" from an MNIST-layout directory
 * ({split}-images-idx3-ubyte[.gz], {split}-labels-idx1-ubyte[.gz]).
 * A missing directory gives a message that says how to install the Debian
 * package; image/label count mismatches and labels out of range are errors. */
int  sd_dataset_load_mnist(const char *dir, const char *split, sd_dataset *out);
void sd_dataset_free(sd_dataset *d);           /* NULL-safe */
/* Keep only the first n examples (n <= d->n), for quick runs and tests. */
void sd_dataset_truncate(sd_dataset *d, int n);

/* ---- Mini-batches: floats x = pixel * scale + shift, int32 labels. */
typedef struct sd_batcher sd_batcher;
typedef struct sd_batcher_opts {
    int batch;             /* examples per batch (the last one of an epoch may be smaller) */
    int shuffle;           /* reshuffle at the start of every epoch from rng */
    float scale, shift;    /* x = pixel * scale + shift; scale 0 means 1/255, shift 0 */
} sd_batcher_opts;

typedef struct sd_batch {
    int n;                 /* examples in this batch */
    const float *x;        /* n × c×h×w */
    const int32_t *y;      /* n labels */
} sd_batch;

/* rng is borrowed and used at every epoch start; all buffers are allocated here,
 * so sd_batcher_next never allocates. */
sd_batcher *sd_batcher_new(const sd_dataset *d, const sd_batcher_opts *opts, sd_rng *rng);
void sd_batcher_free(sd_batcher *b);
/* Fill the next batch; returns 1, or 0 at the end of the epoch (the next call
 * starts a new epoch, reshuffled). */
int  sd_batcher_next(sd_batcher *b, sd_batch *out);
int  sd_batcher_batches_per_epoch(const sd_batcher *b);
/* Position within the epoch (index of the next example), and the whole
 * permutation, for checkpoints. */
int  sd_batcher_position(const sd_batcher *b);
const int32_t *sd_batcher_order(const sd_batcher *b);
/* Restore a position and permutation saved from an identical batcher. */
int  sd_batcher_restore(sd_batcher *b, int position, const int32_t *order);

/* ---- Augmentation of a batch in place: x (n, c, h, w) floats.
 * shift: translate each image by a random (dy, dx) in [-shift, shift],
 * filling uncovered pixels with `fill` (the value a black pixel has after
 * normalisation); flip: mirror left-right with probability 1/2.
 * `scratch` holds c*h*w floats, so nothing is allocated. */
typedef struct sd_augment_opts { int shift; int flip; float fill; } sd_augment_opts;
void sd_augment_batch(float *x, int n, int c, int h, int w, const sd_augment_opts *o, sd_rng *rng,
                      float *scratch);

#ifdef __cplusplus
}
#endif
#endif
