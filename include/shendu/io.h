/* shendu/io.h — safetensors files and atomic writes.
 *
 * safetensors: 8-byte little-endian header length N, N bytes of JSON
 *   {"name": {"dtype": "F32", "shape": [..], "data_offsets": [begin, end]}, ...,
 *    "__metadata__": {"key": "string value", ...}}
 * then the raw little-endian data; offsets are relative to the end of the header.
 * Every read is bounds-checked; a bad file is an error message, never a crash. */
#ifndef SHENDU_IO_H
#define SHENDU_IO_H

#include "base.h"
#include "nn.h"
#include "optim.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ---- Writing an output (src/io/atomic.c): a regular file, or a path that does
 * not exist yet, is replaced atomically (FILE.tmp.PID written, fsynced, renamed
 * over FILE, directory fsynced; the old file's permissions kept); a symlink is
 * followed and its target replaced; a character device or a FIFO with a reader
 * is written through, never replaced; anything else is refused. Temporary
 * files of earlier writers killed mid-write (their PID no longer runs) are
 * removed. */
typedef struct sd_chunk { const void *data; size_t size; } sd_chunk;
int sd_write_atomic(const char *path, const sd_chunk *chunks, int nchunks);

/* ---- Paths (src/io/path.c). */
/* Open an input for reading: a regular file only. A FIFO, device, directory or
 * socket is refused at once ("PATH: a FIFO, not a regular file"), never waited
 * on. Returns a blocking O_CLOEXEC descriptor and its size, or -1. */
int sd_file_open_read(const char *path, uint64_t *size);
/* "a regular file", "a directory", "a FIFO", ... for a st_mode. */
const char *sd_file_kind(unsigned mode);
/* path with the symlinks of its last component followed (what a write replaces). */
int sd_path_target(const char *path, char *buf, size_t cap);
/* 1 if a and b name the same file: same device and inode when both exist,
 * else the same canonical path (symlinks resolved, missing parts as written). */
int sd_path_same(const char *a, const char *b);
/* 0 if sd_write_atomic could write path now (shown by creating and removing its
 * temporary file; a device or FIFO by opening it), else -1 with "WHAT PATH: ...". */
int sd_path_check_writable(const char *path, const char *what);

/* Every file a command reads and writes, checked together before any work. */
typedef enum sd_path_role {
    SD_PATH_INPUT,        /* a file read */
    SD_PATH_INPUT_DIR,    /* a directory whose every file is read (a text corpus) */
    SD_PATH_RESUME,       /* a checkpoint read, which the SD_PATH_CHECKPOINT output may replace */
    SD_PATH_OUTPUT,       /* a file written */
    SD_PATH_CHECKPOINT,   /* a checkpoint written */
    SD_PATH_OUTPUT_DIR,   /* a directory files are written into (created if missing) */
    SD_PATH_APPEND        /* a file written in place as the run goes (the metric log): never an input;
                             a regular file, or a character device or FIFO written through */
} sd_path_role;
typedef struct sd_path_use {
    const char *path;     /* NULL: not used this time (skipped) */
    sd_path_role role;
    const char *what;     /* for messages: "--out", "the model", ... */
} sd_path_use;
/* Refuse an output that is the same file as an input or another output, or
 * lies in an input directory read whole; then check that every output (and
 * output directory, or its parent when missing) can be written. 0 or -1 with
 * a message naming both paths and their flags. */
int sd_paths_check(const sd_path_use *uses, int n);

/* ---- Writing safetensors. */
typedef enum sd_dtype { SD_F32, SD_F64, SD_I32, SD_I64, SD_U8, SD_U64 } sd_dtype;
const char *sd_dtype_name(sd_dtype t);   /* "F32", ... */
size_t      sd_dtype_size(sd_dtype t);

#define SD_ST_MAX_DIMS 8
typedef struct sd_st_tensor {
    const char *name;
    sd_dtype dtype;
    int ndim;
    int64_t shape[SD_ST_MAX_DIMS];
    const void *data;      /* product(shape) * sd_dtype_size(dtype) bytes, little-endian */
} sd_st_tensor;

typedef struct sd_st_kv { const char *key, *value; } sd_st_kv;

/* Write tensors (in the given order) and string metadata, atomically. Names
 * must be unique and non-empty; keys and values are JSON-escaped as needed. */
int sd_st_save(const char *path, const sd_st_tensor *tensors, int ntensors,
               const sd_st_kv *meta, int nmeta);

/* ---- Reading safetensors. The whole file is read and validated at open:
 * header length within the file, JSON well-formed (bounded nesting), every
 * dtype known, shapes non-negative and without overflow, data_offsets inside
 * the data area and matching dtype×shape, no overlapping tensors. */
typedef struct sd_st_file sd_st_file;
sd_st_file *sd_st_open(const char *path);
/* The same from a buffer (copied); `name` stands for the file in messages. */
sd_st_file *sd_st_open_mem(const void *buf, size_t size, const char *name);
void        sd_st_close(sd_st_file *f);                  /* NULL-safe */
int         sd_st_count(const sd_st_file *f);
size_t      sd_st_numel(const sd_st_file *f);    /* elements in all its tensors */
int         sd_st_find(const sd_st_file *f, const char *name);   /* index or -1 (no error set) */
/* Fills *out (its data points into the file's buffer, valid until close). */
void        sd_st_get(const sd_st_file *f, int i, sd_st_tensor *out);
const char *sd_st_meta(const sd_st_file *f, const char *key);  /* NULL if absent */
int         sd_st_meta_count(const sd_st_file *f);
void        sd_st_meta_get(const sd_st_file *f, int i, sd_st_kv *out);
/* Copy tensor `name` into dst, checking dtype and shape; errors name the file,
 * the tensor and both shapes. */
int sd_st_read_f32(const sd_st_file *f, const char *name, int ndim, const int64_t *shape,
                   float *dst);

/* ---- Model files: a safetensors file whose tensors are the model's parameters
 * (PyTorch names: fc1.weight, fc1.bias, ...) and whose __metadata__ holds
 *   "shendu.format": "model", "shendu.arch": the architecture string,
 *   "shendu.input": "1,28,28", plus the model's own metadata (class names, ...).
 * Loading rebuilds the network from the metadata and checks that every tensor
 * is present with the shape the architecture implies, and nothing else is. */
int       sd_model_save(const sd_model *m, const char *path);
sd_model *sd_model_load(const char *path);
/* The same from the bytes of such a file (copied; no file system needed, e.g. in
 * the wasm build); `name` (NULL: "(memory)") stands for the file in messages. */
sd_model *sd_model_load_mem(const void *buf, size_t size, const char *name);
/* Same, with the limit on one example's planned activation memory
 * (sd_model_opts.max_memory; 0: SD_MODEL_MAX_MEMORY). Weights, running
 * averages and input_scale/input_shift that are not finite are refused. */
sd_model *sd_model_load_with(const char *path, uint64_t max_memory);
/* Same, with extra tensors written after the parameters (checkpoints). */
int       sd_model_save_with(const sd_model *m, const char *path,
                             const sd_st_tensor *extra, int nextra,
                             const sd_st_kv *extra_meta, int nextra_meta);

/* ---- What a file is. Every file shendu writes states its kind in the
 * metadata key "shendu.kind" (one of the names below); for files written
 * before that key existed the kind is inferred from the other keys
 * (shendu.format, role, rl.env, shendu.gan.epoch, ...). Commands check the
 * kind before anything else, so a file given to the wrong command is named
 * for what it is. */
typedef enum sd_kind {
    SD_FILE_UNKNOWN = 0,       /* not a shendu file, or a kind this version does not know */
    SD_FILE_MODEL,             /* "model": sd_model_save of no particular command */
    SD_FILE_CHECKPOINT,        /* "checkpoint": sd_checkpoint_save of no particular command */
    SD_FILE_CLASSIFIER,        /* "classifier": shendu train --out */
    SD_FILE_CLASSIFIER_CKPT,   /* "classifier-checkpoint": shendu train --checkpoint */
    SD_FILE_LM,                /* "lm": shendu lm train --out */
    SD_FILE_LM_CKPT,           /* "lm-checkpoint": shendu lm train --checkpoint */
    SD_FILE_GENERATOR,         /* "gan-generator": shendu gan's generator.safetensors */
    SD_FILE_GAN_CKPT,          /* "gan-checkpoint": shendu gan --checkpoint */
    SD_FILE_DQN_AGENT,         /* "dqn-agent": shendu rl dqn --out */
    SD_FILE_DQN_CKPT,          /* "dqn-checkpoint": shendu rl dqn --checkpoint */
    SD_FILE_DIFFUSION,         /* "diffusion": shendu diffusion's model.safetensors */
    SD_FILE_DIFFUSION_CKPT,    /* "diffusion-checkpoint": shendu diffusion --checkpoint */
    SD_FILE_QTABLE,            /* "q-table": shendu rl qlearn --out (sd_qtable_save) */
    SD_FILE_KINDS
} sd_kind;
#define SD_KIND_BIT(k) (1u << (k))
/* Models that classify images: what eval, predict, show and --classifier take. */
#define SD_KINDS_CLASSIFIER (SD_KIND_BIT(SD_FILE_CLASSIFIER) | SD_KIND_BIT(SD_FILE_CLASSIFIER_CKPT) | \
                             SD_KIND_BIT(SD_FILE_MODEL) | SD_KIND_BIT(SD_FILE_CHECKPOINT))

sd_kind      sd_st_kind(const sd_st_file *f);
const char  *sd_kind_name(sd_kind k);   /* the "shendu.kind" value; "unknown" */
/* 0 if the file at path is of one of the kinds in `accept` (SD_KIND_BIT(...)
 * ored), else an error in one form for every command:
 *   "PATH is a DQN agent, not a language model; use it with shendu rl play"
 * `want` names what the command expected ("a language model"). */
int sd_file_expect_kind(const char *path, unsigned accept, const char *want);
int sd_st_expect_kind(const sd_st_file *f, const char *path, unsigned accept, const char *want);

/* ---- Checkpoints: a model file (so sd_model_load and `shendu eval` accept it)
 * with "shendu.format": "checkpoint", plus the optimizer's state and step count
 * (tensors "shendu.optim.*", metadata "shendu.optim.*"), and whatever the
 * trainer adds: its RNG (sd_checkpoint_rng_tensor), data order, counters and
 * configuration. Keys and tensor names starting with "shendu." are not copied
 * into a model loaded from the file. Written atomically. */
int sd_checkpoint_save(const char *path, const sd_model *m, sd_optim *opt,
                       const sd_st_tensor *extra, int nextra, const sd_st_kv *meta, int nmeta);
/* Put the optimizer's state back; its kind and size must match the file's. */
int sd_checkpoint_restore_optim(const sd_st_file *f, sd_optim *opt);
/* An RNG as a U64 [4] tensor (rng must outlive the save), and back. */
sd_st_tensor sd_checkpoint_rng_tensor(const char *name, const sd_rng *rng);
int sd_checkpoint_read_rng(const sd_st_file *f, const char *name, sd_rng *out);
/* Copy an integer tensor of exactly n elements (I32) into dst. */
int sd_checkpoint_read_i32(const sd_st_file *f, const char *name, int32_t *dst, size_t n);
/* Every tensor of P (a model's parameters or state) from the file's tensor of
 * the same name, shapes checked; a NULL or empty P reads nothing. */
int sd_checkpoint_read_params(const sd_st_file *f, sd_params *P);
/* Copy tensor `name` into dst after checking that its dtype and shape are
 * exactly these (errors give both); n elements of sd_dtype_size(dtype). */
int sd_checkpoint_read(const sd_st_file *f, const char *name, sd_dtype dtype, int ndim, const int64_t *shape,
                       void *dst);

#ifdef __cplusplus
}
#endif
#endif
