/* shendu/folder.h — pictures from folders: JPEG files (libjpeg-turbo), any
 * picture by its first bytes, fitting a picture into a model's input, data
 * sets read from class folders, stratified splits and set fingerprints.
 *
 * Errors: -1 and a message in sd_last_error() that begins with the file or
 * folder it is about. libjpeg never prints, never exits and never longjmps
 * past these functions. */
#ifndef SHENDU_FOLDER_H
#define SHENDU_FOLDER_H

#include "base.h"
#include "data.h"
#include "image.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ---- JPEG: baseline and progressive, gray (c = 1) or colour (YCbCr/RGB ->
 * c = 3). CMYK files are refused; a file that ends early is an error
 * ("FILE: truncated JPEG data"), as is anything libjpeg calls corrupt. */
int sd_image_load_jpeg(const char *path, sd_image *out);
/* The same from memory (name used in messages). */
int sd_image_decode_jpeg(const uint8_t *data, size_t size, const char *name, sd_image *out);
/* Write a gray or RGB image as a baseline JPEG of quality 1..100, atomically. */
int sd_image_save_jpeg(const char *path, const sd_image *im, int quality);
/* A PNG or JPEG file, told apart by its first bytes, not its name. */
int sd_image_load_any(const char *path, sd_image *out);
/* Width, height and channels (as loading would give: 1, 3 or 4) from the
 * file's header alone. */
int sd_image_probe(const char *path, int *w, int *h, int *c);

/* ---- Fitting a picture into w×h pixels of c channels (1 or 3).
 * Transparent pixels are composited over `background` (a gray level)
 * first; colour becomes gray by BT.601 luminance, gray is repeated into 3
 * channels. The picture is resized (area average when shrinking, bilinear
 * when enlarging, sd_image_resize) keeping its aspect ratio:
 *   PAD   the whole picture, centred, the rest filled with `background`;
 *   CROP  the centre part that has the target's aspect ratio, filling it;
 *   STRETCH  the whole picture, distorted to fill.
 * out: c*h*w bytes, planar (NCHW, as the data sets hold them). */
typedef enum sd_fit_mode { SD_FIT_MODE_PAD = 0, SD_FIT_MODE_CROP, SD_FIT_MODE_STRETCH } sd_fit_mode;
int sd_image_fit_planar(const sd_image *in, int w, int h, int c, sd_fit_mode mode, uint8_t background, uint8_t *out);

/* ---- Data sets from class folders: DIR/<class>/<picture>.png|.jpg|.jpeg.
 * Classes are the sub-folders' names, sorted; pictures are read in sorted
 * name order; hidden files and files of other kinds are skipped (counted).
 * Every picture is decoded once (on `threads` threads) and fitted into
 * the set's size and channels. */
typedef struct sd_folder_opts {
    int w, h;              /* 0: the most common picture size in the folder */
    int channels;          /* 1 or 3; 0: 3 if any picture is in colour, else 1 */
    sd_fit_mode fit;
    uint8_t background;    /* what transparent pixels become (and PAD's fill) */
    int skip_bad;          /* 1: leave out pictures that do not decode (counted, first named) */
    int threads;           /* 0: all cores */
    /* The classes a model knows (evaluating it): every sub-folder must be one
     * of them and labels are indices into this list. NULL: the folders. */
    const char *const *classes;
    int nclass;
    const char *classes_of;   /* whose classes they are, for messages (NULL: "the model") */
    size_t max_bytes;      /* refuse sets whose decoded pixels exceed this (0: 4 GiB) */
    int describe;          /* 1: empty class folders and a single class are fine (shendu data) */
} sd_folder_opts;

#define SD_FOLDER_MAX_SIZES 8
typedef struct sd_folder_report {
    int pictures;          /* pictures in the set */
    int bad;               /* pictures that could not be read (skipped with skip_bad) */
    char first_bad[1024];  /* the first one's error message */
    int other_files;       /* files that are not pictures (.png .jpg .jpeg), skipped */
    int gray, colour, alpha;   /* pictures by mode (alpha: with transparency) */
    int png, jpeg;
    int nsizes;            /* distinct sizes found (counted up to SD_FOLDER_MAX_SIZES) */
    int size_w[SD_FOLDER_MAX_SIZES], size_h[SD_FOLDER_MAX_SIZES], size_n[SD_FOLDER_MAX_SIZES];
    int resized;           /* pictures whose size differs from the set's */
    int count[SD_MAX_CLASSES];  /* pictures per class */
} sd_folder_report;

/* Read DIR into out (out->classes holds the class names). Errors: a missing
 * or unreadable folder, no class folders, only one class (without
 * opts->classes), an empty class folder, a broken picture (without
 * skip_bad), a class folder the model does not know. report may be NULL. */
int sd_dataset_load_folder(const char *dir, const sd_folder_opts *opts, sd_dataset *out, sd_folder_report *report);

/* 1 if DIR holds train/ and test/ sub-folders (the split layout). */
int sd_folder_has_split(const char *dir);

/* ---- Splits and fingerprints of any data set (pixels or features). */
/* Put a stratified, seeded `frac` of each class of `all` into b and the rest
 * into a (each class keeps at least one example in a when it has two or
 * more). Both own copies; `all` is left as it is. */
int sd_dataset_split(const sd_dataset *all, double frac, uint64_t seed, sd_dataset *a, sd_dataset *b);
/* A 64-bit FNV-1a hash of the labels and pixels (or features), as 16 hex digits. */
void sd_dataset_fingerprint(const sd_dataset *d, char out[17]);
/* Copy the class names (NULL-safe) into d->classes. */
int sd_dataset_set_classes(sd_dataset *d, const char *const *names, int n);

#ifdef __cplusplus
}
#endif
#endif
