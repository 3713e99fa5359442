/* shendu/data.h — IDX files (MNIST, Fashion-MNIST), image data sets and
 * shuffled mini-batches.
 *
 * Ownership: sd_idx / sd_dataset own their buffers (free with *_free);
 * an sd_batcher borrows its data set, which must outlive it. */
#ifndef SHENDU_DATA_H
#define SHENDU_DATA_H

#include "base.h"

#include <signal.h>

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
    int nclass;            /* 1 + the largest label (or the number of class names) */
    float *x;              /* NULL, or n*c*h*w features the batcher passes on as they are
                              (tables: images is then NULL) */
    char **classes;        /* NULL, or nclass class names (folders, tables) */
} sd_dataset;

/* The data directory: $SHENDU_DATA, else data/fashion-mnist if it exists,
 * else /usr/share/datasets/fashion-mnist (Debian's dataset-fashion-mnist). */
const char *sd_data_default_dir(void);

/* Load split "train" or "t10k" from an MNIST-layout directory
 * ({split}-images-idx3-ubyte[.gz], {split}-labels-idx1-ubyte[.gz]).
 * A missing directory gives a message that says how to install the Debian
 * package; image/label count mismatches and labels out of range are errors. */
int  sd_dataset_load_mnist(const char *dir, const char *split, sd_dataset *out);
/* The file a split's NAME ("train-images-idx3-ubyte", ...) is read from:
 * DIR/NAME.gz, else DIR/NAME, into buf; -1 with a message if neither exists. */
int sd_dataset_file(const char *dir, const char *name, char *buf, size_t cap);
void sd_dataset_free(sd_dataset *d);           /* NULL-safe */
/* Keep only the first n examples (n <= d->n), for quick runs and tests. */
void sd_dataset_truncate(sd_dataset *d, int n);
/* 0 if the images of b have the size of a's (c×h×w), else an error naming
 * both: "WHAT_A has 1x28x28 images but WHAT_B has 1x20x20". */
int  sd_dataset_check_same_shape(const sd_dataset *a, const char *what_a, const sd_dataset *b, const char *what_b);
/* What a checkpoint records of its data, to refuse a resume on other data:
 * "N images (or rows) of CxHxW, K classes, fingerprint HEX" (the first n
 * examples' sd_dataset_fingerprint). Returns buf. */
char *sd_dataset_describe(const sd_dataset *d, char *buf, size_t size);

/* ---- Mini-batches: floats x = pixel * scale + shift (or the data set's own
 * features), int32 labels. */
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

/* ---- Text corpora for character-level language models (src/data/text.c). */
typedef struct sd_text {
    uint8_t *data;         /* n bytes */
    size_t n;
    int nfiles;            /* files read: 1 for a plain file */
} sd_text;
/* Read a text file, or every regular file of a directory concatenated in sorted
 * name order, skipping *.dat, *.u8 and symbolic links (how the Debian `fortunes`
 * directory /usr/share/games/fortunes is read by the PyTorch reference).
 * Empty and binary files (a NUL byte, or more than 1% control bytes other than
 * \t \n \v \f \r, backspace and escape) are errors naming the file. */
int  sd_text_load(const char *path, sd_text *out);
/* The same, checking *stop (a SIGINT/SIGTERM flag; NULL: none) between reads of
 * at most 16 MiB: 1 (nothing kept) once it is set. A corpus over the 2 GiB
 * limit is refused from its size before any of it is read. */
int  sd_text_load_with(const char *path, volatile sig_atomic_t *stop, sd_text *out);
void sd_text_free(sd_text *t);                 /* NULL-safe, leaves *t zeroed */

/* Byte vocabulary: symbol i is the byte sym[i]; index[byte] is its index or -1. */
typedef struct sd_vocab { int n; uint8_t sym[256]; int16_t index[256]; } sd_vocab;
/* The distinct bytes of data[n] in increasing order. */
void sd_vocab_build(sd_vocab *v, const uint8_t *data, size_t n);
/* out[i] = index of s[i]; an error names the first byte outside the vocabulary. */
int  sd_vocab_encode(const sd_vocab *v, const uint8_t *s, size_t n, int32_t *out);
/* The symbols as one printable string: bytes 0x20..0x7e as themselves (a
 * backslash doubled), every other byte as a backslash, 'x' and two hex digits.
 * buf needs 4*256+1 bytes. */
void sd_vocab_escape(const sd_vocab *v, char *buf, size_t size);
/* The inverse; errors for a malformed escape, a repeated symbol or no symbols. */
int  sd_vocab_unescape(const char *s, sd_vocab *v);

#ifdef __cplusplus
}
#endif
#endif
