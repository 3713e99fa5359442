/* ONNX files without libprotobuf (src/io/onnx.c): a protobuf wire-format
 * encoder and the few ONNX messages an exporter writes. Internal to the
 * library; the public entry points are in shendu/onnx.h.
 *
 * Wire format: every field is a varint key (field_number << 3 | wire_type)
 * followed by its value: wire type 0 a varint, 2 a varint length and that many
 * bytes (strings, bytes, packed arrays, nested messages), 5 four little-endian
 * bytes (float). A nested message is opened with pb_begin, written in place and
 * closed with pb_end, which slides it up to insert its length in front. */
#ifndef SHENDU_ONNX_PB_H
#define SHENDU_ONNX_PB_H

#include <stddef.h>
#include <stdint.h>

#include "shendu/tensor.h"

typedef struct sd_pb {
    uint8_t *p;
    size_t n, cap;
    int failed;              /* out of memory: later writes do nothing */
} sd_pb;

void   sd_pb_free(sd_pb *b);
void   sd_pb_varint_field(sd_pb *b, int field, uint64_t v);
void   sd_pb_bytes_field(sd_pb *b, int field, const void *data, size_t n);
void   sd_pb_str_field(sd_pb *b, int field, const char *s);
void   sd_pb_float_field(sd_pb *b, int field, float v);
size_t sd_pb_begin(sd_pb *b, int field);     /* returns where the message's bytes start */
void   sd_pb_end(sd_pb *b, size_t start);

/* ---- ONNX (onnx/onnx.proto, IR version 8, opset 17) */
enum { SD_ONNX_FLOAT = 1, SD_ONNX_INT64 = 7 };   /* TensorProto.DataType */

typedef struct sd_onnx {
    sd_pb b;
    size_t graph;            /* start of the GraphProto */
    int next;                /* counter for fresh value names */
    char names[8][64];       /* a ring of fresh names (sd_onnx_name) */
} sd_onnx;

/* ModelProto header (IR version, opset, producer), then an open GraphProto. */
void sd_onnx_begin(sd_onnx *o, const char *graph_name, const char *doc);
/* A fresh value name "PREFIX_N"; valid for the next 7 calls. */
const char *sd_onnx_name(sd_onnx *o, const char *prefix);
/* Graph input (field 11) or output (12): dims < 0 are symbolic: -1 "batch", -2 "seq". */
void sd_onnx_io(sd_onnx *o, int output, const char *name, int elem_type, const int64_t *dims, int ndim);
void sd_onnx_init_f32(sd_onnx *o, const char *name, const float *data, const int64_t *dims, int ndim);
void sd_onnx_init_i64(sd_onnx *o, const char *name, const int64_t *data, const int64_t *dims, int ndim);
/* A node: op_type, inputs (NULL or "" for an absent optional input), outputs;
 * attributes go between sd_onnx_node and sd_onnx_node_end. */
size_t sd_onnx_node(sd_onnx *o, const char *op, const char *const *in, int nin, const char *const *out, int nout);
void   sd_onnx_attr_int(sd_onnx *o, const char *name, int64_t v);
void   sd_onnx_attr_float(sd_onnx *o, const char *name, float v);
void   sd_onnx_attr_ints(sd_onnx *o, const char *name, const int64_t *v, int n);
void   sd_onnx_attr_str(sd_onnx *o, const char *name, const char *s);
void   sd_onnx_attr_strs(sd_onnx *o, const char *name, const char *const *s, int n);
void   sd_onnx_node_end(sd_onnx *o, size_t node);
/* One-input, one-output node without attributes. */
void   sd_onnx_unary(sd_onnx *o, const char *op, const char *in, const char *out);
/* Two-input node without attributes (Add, MatMul, Reshape, Gather, ...). */
void   sd_onnx_binary(sd_onnx *o, const char *op, const char *a, const char *b, const char *out);
/* Transpose with perm (n axes). */
void   sd_onnx_transpose(sd_onnx *o, const char *x, const char *out, const int64_t *perm, int n);
/* out = x · NAME.weightᵀ + NAME.bias (MatMul + Add) for a linear layer NAME of P
 * (weight (out, in) stored transposed, via tmp: at least in·out floats); a
 * missing tensor sets *bad. */
void   sd_onnx_linear(sd_onnx *o, sd_params *P, const char *name, const char *x, const char *out, float *tmp,
                      int *bad);
/* Close the graph, add metadata_props, write the file atomically (nothing
 * is written on an earlier out-of-memory); frees the buffer either way. */
int    sd_onnx_finish(sd_onnx *o, const char *const *meta_kv, int nmeta, const char *path);
void   sd_onnx_discard(sd_onnx *o);

#endif
