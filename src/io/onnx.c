#define _POSIX_C_SOURCE 200809L
/* ONNX export: a protobuf encoder (the wire format, onnx_pb.h), the ONNX
 * messages built on it, and sequential models (sd_model) as ONNX graphs.
 *
 * Field numbers are onnx/onnx.proto's:
 *   ModelProto      ir_version 1, producer_name 2, producer_version 3, doc_string 6,
 *                   graph 7, opset_import 8, metadata_props 14
 *   GraphProto      node 1, name 2, initializer 5, doc_string 10, input 11, output 12
 *   NodeProto       input 1, output 2, name 3, op_type 4, attribute 5
 *   AttributeProto  name 1, f 2, i 3, s 4, floats 7, ints 8, strings 9, type 20
 *   TensorProto     dims 1, data_type 2, name 8, raw_data 9
 *   ValueInfoProto  name 1, type 2;  TypeProto tensor_type 1;
 *   TypeProto.Tensor elem_type 1, shape 2;  TensorShapeProto dim 1;
 *   Dimension       dim_value 1, dim_param 2
 *   OperatorSetIdProto domain 1, version 2;  StringStringEntryProto key 1, value 2 */
#include "io/onnx_pb.h"
#include "shendu/io.h"
#include "shendu/onnx.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define IR_VERSION 8
#define OPSET 17

/* ---- The wire format */

static int pb_reserve(sd_pb *b, size_t extra)
{
    if (b->failed) return -1;
    if (b->n + extra <= b->cap) return 0;
    size_t cap = b->cap ? b->cap : 4096;
    while (cap < b->n + extra) {
        if (cap > SIZE_MAX / 2) { b->failed = 1; return -1; }
        cap *= 2;
    }
    uint8_t *p = realloc(b->p, cap);
    if (!p) { b->failed = 1; return -1; }
    b->p = p;
    b->cap = cap;
    return 0;
}

static int varint_size(uint64_t v)
{
    int k = 1;
    while (v >= 0x80) { v >>= 7; k++; }
    return k;
}

static void put_varint(uint8_t *p, uint64_t v)
{
    while (v >= 0x80) { *p++ = (uint8_t)(v | 0x80); v >>= 7; }
    *p = (uint8_t)v;
}

static void pb_varint(sd_pb *b, uint64_t v)
{
    if (pb_reserve(b, 10)) return;
    put_varint(b->p + b->n, v);
    b->n += (size_t)varint_size(v);
}

static void pb_raw(sd_pb *b, const void *data, size_t n)
{
    if (!n || pb_reserve(b, n)) return;
    memcpy(b->p + b->n, data, n);
    b->n += n;
}

void sd_pb_free(sd_pb *b)
{
    free(b->p);
    *b = (sd_pb){ 0 };
}

void sd_pb_varint_field(sd_pb *b, int field, uint64_t v)
{
    pb_varint(b, (uint64_t)field << 3 | 0);
    pb_varint(b, v);
}

void sd_pb_bytes_field(sd_pb *b, int field, const void *data, size_t n)
{
    pb_varint(b, (uint64_t)field << 3 | 2);
    pb_varint(b, n);
    pb_raw(b, data, n);
}

void sd_pb_str_field(sd_pb *b, int field, const char *s) { sd_pb_bytes_field(b, field, s, strlen(s)); }

void sd_pb_float_field(sd_pb *b, int field, float v)
{
    uint8_t le[4];
    uint32_t u;
    memcpy(&u, &v, 4);
    for (int i = 0; i < 4; i++) le[i] = (uint8_t)(u >> (8 * i));
    pb_varint(b, (uint64_t)field << 3 | 5);
    pb_raw(b, le, 4);
}

size_t sd_pb_begin(sd_pb *b, int field)
{
    pb_varint(b, (uint64_t)field << 3 | 2);
    return b->n;
}

void sd_pb_end(sd_pb *b, size_t start)
{
    if (b->failed) return;
    size_t len = b->n - start;
    int k = varint_size(len);
    if (pb_reserve(b, (size_t)k)) return;
    memmove(b->p + start + k, b->p + start, len);
    put_varint(b->p + start, len);
    b->n += (size_t)k;
}

/* ---- ONNX messages */

static void write_opset(sd_pb *b, const char *domain, int version)
{
    size_t s = sd_pb_begin(b, 8);
    sd_pb_str_field(b, 1, domain);
    sd_pb_varint_field(b, 2, (uint64_t)version);
    sd_pb_end(b, s);
}

void sd_onnx_begin(sd_onnx *o, const char *graph_name, const char *doc)
{
    *o = (sd_onnx){ 0 };
    sd_pb *b = &o->b;
    sd_pb_varint_field(b, 1, IR_VERSION);
    sd_pb_str_field(b, 2, "shendu");
    sd_pb_str_field(b, 3, "0.1.0");
    write_opset(b, "", OPSET);
    o->graph = sd_pb_begin(b, 7);
    sd_pb_str_field(b, 2, graph_name);
    if (doc) sd_pb_str_field(b, 10, doc);
}

const char *sd_onnx_name(sd_onnx *o, const char *prefix)
{
    char *s = o->names[o->next % 8];
    snprintf(s, sizeof o->names[0], "%s_%d", prefix, o->next);
    o->next++;
    return s;
}

void sd_onnx_io(sd_onnx *o, int output, const char *name, int elem_type, const int64_t *dims, int ndim)
{
    sd_pb *b = &o->b;
    size_t vi = sd_pb_begin(b, output ? 12 : 11);
    sd_pb_str_field(b, 1, name);
    size_t tp = sd_pb_begin(b, 2);
    size_t tt = sd_pb_begin(b, 1);
    sd_pb_varint_field(b, 1, (uint64_t)elem_type);
    size_t sh = sd_pb_begin(b, 2);
    for (int i = 0; i < ndim; i++) {
        size_t d = sd_pb_begin(b, 1);
        if (dims[i] >= 0) sd_pb_varint_field(b, 1, (uint64_t)dims[i]);
        else sd_pb_str_field(b, 2, dims[i] == -1 ? "batch" : "seq");
        sd_pb_end(b, d);
    }
    sd_pb_end(b, sh);
    sd_pb_end(b, tt);
    sd_pb_end(b, tp);
    sd_pb_end(b, vi);
}

static void write_init(sd_onnx *o, const char *name, int type, const void *data, size_t elsize, const int64_t *dims,
                       int ndim)
{
    sd_pb *b = &o->b;
    size_t n = 1;
    size_t t = sd_pb_begin(b, 5);
    for (int i = 0; i < ndim; i++) {
        sd_pb_varint_field(b, 1, (uint64_t)dims[i]);
        n *= (size_t)dims[i];
    }
    sd_pb_varint_field(b, 2, (uint64_t)type);
    sd_pb_str_field(b, 8, name);
    sd_pb_bytes_field(b, 9, data, n * elsize);   /* little-endian, as in memory on the machines shendu runs on */
    sd_pb_end(b, t);
}

void sd_onnx_init_f32(sd_onnx *o, const char *name, const float *data, const int64_t *dims, int ndim)
{
    write_init(o, name, SD_ONNX_FLOAT, data, sizeof(float), dims, ndim);
}

void sd_onnx_init_i64(sd_onnx *o, const char *name, const int64_t *data, const int64_t *dims, int ndim)
{
    write_init(o, name, SD_ONNX_INT64, data, sizeof(int64_t), dims, ndim);
}

size_t sd_onnx_node(sd_onnx *o, const char *op, const char *const *in, int nin, const char *const *out, int nout)
{
    sd_pb *b = &o->b;
    size_t s = sd_pb_begin(b, 1);
    for (int i = 0; i < nin; i++) sd_pb_str_field(b, 1, in[i] ? in[i] : "");
    for (int i = 0; i < nout; i++) sd_pb_str_field(b, 2, out[i]);
    char name[80];
    snprintf(name, sizeof name, "%s_%d", op, o->next++);
    sd_pb_str_field(b, 3, name);
    sd_pb_str_field(b, 4, op);
    return s;
}

void sd_onnx_node_end(sd_onnx *o, size_t node) { sd_pb_end(&o->b, node); }

/* AttributeType: FLOAT 1, INT 2, STRING 3, INTS 7, STRINGS 8 */
void sd_onnx_attr_int(sd_onnx *o, const char *name, int64_t v)
{
    size_t s = sd_pb_begin(&o->b, 5);
    sd_pb_str_field(&o->b, 1, name);
    sd_pb_varint_field(&o->b, 3, (uint64_t)v);
    sd_pb_varint_field(&o->b, 20, 2);
    sd_pb_end(&o->b, s);
}

void sd_onnx_attr_float(sd_onnx *o, const char *name, float v)
{
    size_t s = sd_pb_begin(&o->b, 5);
    sd_pb_str_field(&o->b, 1, name);
    sd_pb_float_field(&o->b, 2, v);
    sd_pb_varint_field(&o->b, 20, 1);
    sd_pb_end(&o->b, s);
}

void sd_onnx_attr_ints(sd_onnx *o, const char *name, const int64_t *v, int n)
{
    size_t s = sd_pb_begin(&o->b, 5);
    sd_pb_str_field(&o->b, 1, name);
    for (int i = 0; i < n; i++) sd_pb_varint_field(&o->b, 8, (uint64_t)v[i]);   /* unpacked: both are valid */
    sd_pb_varint_field(&o->b, 20, 7);
    sd_pb_end(&o->b, s);
}

void sd_onnx_attr_str(sd_onnx *o, const char *name, const char *str)
{
    size_t s = sd_pb_begin(&o->b, 5);
    sd_pb_str_field(&o->b, 1, name);
    sd_pb_str_field(&o->b, 4, str);
    sd_pb_varint_field(&o->b, 20, 3);
    sd_pb_end(&o->b, s);
}

void sd_onnx_attr_strs(sd_onnx *o, const char *name, const char *const *str, int n)
{
    size_t s = sd_pb_begin(&o->b, 5);
    sd_pb_str_field(&o->b, 1, name);
    for (int i = 0; i < n; i++) sd_pb_str_field(&o->b, 9, str[i]);
    sd_pb_varint_field(&o->b, 20, 8);
    sd_pb_end(&o->b, s);
}

void sd_onnx_unary(sd_onnx *o, const char *op, const char *in, const char *out)
{
    sd_onnx_node_end(o, sd_onnx_node(o, op, &in, 1, &out, 1));
}

void sd_onnx_binary(sd_onnx *o, const char *op, const char *a, const char *b, const char *out)
{
    sd_onnx_node_end(o, sd_onnx_node(o, op, (const char *[]){ a, b }, 2, &out, 1));
}

void sd_onnx_transpose(sd_onnx *o, const char *x, const char *out, const int64_t *perm, int n)
{
    size_t node = sd_onnx_node(o, "Transpose", &x, 1, &out, 1);
    sd_onnx_attr_ints(o, "perm", perm, n);
    sd_onnx_node_end(o, node);
}

/* out = x · NAME.weightᵀ + NAME.bias: W (out, in) of P stored as its transpose (in, out),
 * and its bias (out). A missing tensor sets *bad. */
void sd_onnx_linear(sd_onnx *o, sd_params *P, const char *name, const char *x, const char *out, float *tmp, int *bad)
{
    char key[96], wt[96], b[96];
    snprintf(key, sizeof key, "%s.weight", name);
    snprintf(wt, sizeof wt, "%s.weight_t", name);
    snprintf(b, sizeof b, "%s.bias", name);
    int w = sd_params_find(P, key), bi = sd_params_find(P, b);
    if (w < 0 || bi < 0) { *bad = 1; return; }
    const sd_shape s = sd_params_shape(P, w);
    const int nout = s.d[0], in = s.d[1];
    const float *src = sd_params_data(P, w);
    for (int i = 0; i < in; i++)
        for (int j = 0; j < nout; j++) tmp[(size_t)i * nout + j] = src[(size_t)j * in + i];
    sd_onnx_init_f32(o, wt, tmp, (int64_t[]){ in, nout }, 2);
    sd_onnx_init_f32(o, b, sd_params_data(P, bi), (int64_t[]){ nout }, 1);
    char mm[112];
    snprintf(mm, sizeof mm, "%s.mm", out);
    sd_onnx_node_end(o, sd_onnx_node(o, "MatMul", (const char *[]){ x, wt }, 2, (const char *[]){ mm }, 1));
    sd_onnx_node_end(o, sd_onnx_node(o, "Add", (const char *[]){ mm, b }, 2, (const char *[]){ out }, 1));
}

void sd_onnx_discard(sd_onnx *o) { sd_pb_free(&o->b); }

int sd_onnx_finish(sd_onnx *o, const char *const *meta_kv, int nmeta, const char *path)
{
    sd_pb *b = &o->b;
    sd_pb_end(b, o->graph);
    for (int i = 0; i < nmeta; i++) {
        size_t s = sd_pb_begin(b, 14);
        sd_pb_str_field(b, 1, meta_kv[2 * i]);
        sd_pb_str_field(b, 2, meta_kv[2 * i + 1]);
        sd_pb_end(b, s);
    }
    int rc;
    if (b->failed) rc = sd_error("%s: out of memory encoding the ONNX model", path);
    else rc = sd_write_atomic(path, &(sd_chunk){ b->p, b->n }, 1);
    sd_pb_free(b);
    return rc;
}

/* ---- Sequential models */

typedef struct export_state {
    sd_onnx *o;
    sd_model *m;
    char x[64];              /* the current value's name */
} export_state;

static void set_x(export_state *s, const char *name) { snprintf(s->x, sizeof s->x, "%s", name); }

/* The model's parameter (or batchnorm state) NAME.SUFFIX as an initializer; its name, or NULL. */
static const char *param_init(export_state *s, const char *layer, const char *suffix, int state, char *buf,
                              size_t size)
{
    sd_params *P = state ? sd_model_state(s->m) : sd_model_params(s->m);
    snprintf(buf, size, "%s.%s", layer, suffix);
    int id = sd_params_find(P, buf);
    if (id < 0) { sd_error("ONNX export: the model has no tensor '%s'", buf); return NULL; }
    sd_shape sh = sd_params_shape(P, id);
    int64_t dims[SD_MAX_DIMS];
    for (int i = 0; i < sh.ndim; i++) dims[i] = sh.d[i];
    sd_onnx_init_f32(s->o, buf, sd_params_data(P, id), dims, sh.ndim);
    return buf;
}

static int export_layer(export_state *s, int i)
{
    sd_onnx *o = s->o;
    sd_layer_info L;
    sd_model_layer_info(s->m, i, &L);
    char w[96], b[96], mean[96], var[96], shape[96];
    const char *kind = L.kind, *out = sd_onnx_name(o, L.name[0] ? L.name : kind);
    int64_t a[5];
    for (int k = 0; k < 5; k++) a[k] = (int64_t)L.args[k];
    if (!strcmp(kind, "linear")) {
        if (!param_init(s, L.name, "weight", 0, w, sizeof w) || !param_init(s, L.name, "bias", 0, b, sizeof b)) return -1;
        const char *in[] = { s->x, w, b };
        size_t n = sd_onnx_node(o, "Gemm", in, 3, &out, 1);
        sd_onnx_attr_int(o, "transB", 1);
        sd_onnx_node_end(o, n);
    } else if (!strcmp(kind, "conv") || !strcmp(kind, "convt")) {
        int t = !strcmp(kind, "convt");
        int64_t k = a[1], stride = L.nargs > 2 ? a[2] : 1, pad = L.nargs > 3 ? a[3] : 0, opad = L.nargs > 4 ? a[4] : 0;
        if (!param_init(s, L.name, "weight", 0, w, sizeof w) || !param_init(s, L.name, "bias", 0, b, sizeof b)) return -1;
        const char *in[] = { s->x, w, b };
        size_t n = sd_onnx_node(o, t ? "ConvTranspose" : "Conv", in, 3, &out, 1);
        sd_onnx_attr_ints(o, "kernel_shape", (int64_t[]){ k, k }, 2);
        sd_onnx_attr_ints(o, "strides", (int64_t[]){ stride, stride }, 2);
        sd_onnx_attr_ints(o, "pads", (int64_t[]){ pad, pad, pad, pad }, 4);
        if (t && opad) sd_onnx_attr_ints(o, "output_padding", (int64_t[]){ opad, opad }, 2);
        sd_onnx_node_end(o, n);
    } else if (!strcmp(kind, "maxpool")) {
        size_t n = sd_onnx_node(o, "MaxPool", (const char *[]){ s->x }, 1, &out, 1);
        sd_onnx_attr_ints(o, "kernel_shape", (int64_t[]){ a[0], a[0] }, 2);
        sd_onnx_attr_ints(o, "strides", (int64_t[]){ a[1], a[1] }, 2);
        sd_onnx_node_end(o, n);
    } else if (!strcmp(kind, "batchnorm")) {
        if (!param_init(s, L.name, "weight", 0, w, sizeof w) || !param_init(s, L.name, "bias", 0, b, sizeof b) ||
            !param_init(s, L.name, "running_mean", 1, mean, sizeof mean) ||
            !param_init(s, L.name, "running_var", 1, var, sizeof var)) return -1;
        const char *in[] = { s->x, w, b, mean, var };
        size_t n = sd_onnx_node(o, "BatchNormalization", in, 5, &out, 1);
        sd_onnx_attr_float(o, "epsilon", L.args[1]);
        sd_onnx_attr_float(o, "momentum", 1.0f - L.args[0]);   /* ONNX's keeps the old average's share; unused in inference */
        sd_onnx_node_end(o, n);
    } else if (!strcmp(kind, "relu") || !strcmp(kind, "sigmoid") || !strcmp(kind, "tanh")) {
        sd_onnx_unary(o, !strcmp(kind, "relu") ? "Relu" : !strcmp(kind, "tanh") ? "Tanh" : "Sigmoid", s->x, out);
    } else if (!strcmp(kind, "leaky_relu")) {
        size_t n = sd_onnx_node(o, "LeakyRelu", (const char *[]){ s->x }, 1, &out, 1);
        sd_onnx_attr_float(o, "alpha", L.args[0]);
        sd_onnx_node_end(o, n);
    } else if (!strcmp(kind, "flatten")) {
        size_t n = sd_onnx_node(o, "Flatten", (const char *[]){ s->x }, 1, &out, 1);
        sd_onnx_attr_int(o, "axis", 1);
        sd_onnx_node_end(o, n);
    } else if (!strcmp(kind, "reshape")) {
        int64_t d[SD_MAX_DIMS + 1] = { 0 }, nd = L.out.ndim + 1;   /* 0: keep the batch dimension */
        for (int k = 0; k < L.out.ndim; k++) d[k + 1] = L.out.d[k];
        snprintf(shape, sizeof shape, "%s.shape", out);
        sd_onnx_init_i64(o, shape, d, &nd, 1);
        const char *in[] = { s->x, shape };
        sd_onnx_node_end(o, sd_onnx_node(o, "Reshape", in, 2, &out, 1));
    } else {
        return sd_error("ONNX export: layer %d (%s%s%s) has no ONNX form in this exporter", i + 1, L.name,
                        L.name[0] ? ", " : "", kind);
    }
    set_x(s, out);
    return 0;
}

static int parse_floats(const char *v, float *out, int n)
{
    for (int i = 0; i < n; i++) {
        char *end;
        out[i] = strtof(v, &end);
        if (end == v) return -1;
        v = *end == ',' ? end + 1 : end;
    }
    return 0;
}

int sd_onnx_save_model(sd_model *m, const char *path, const sd_onnx_opts *opts)
{
    if (opts && opts->opset && opts->opset != OPSET)
        return sd_error("ONNX export: opset %d was asked for; shendu writes opset %d", opts->opset, OPSET);
    const char *role = sd_model_meta_get(m, "role"), *env = sd_model_meta_get(m, "rl.env");
    int generator = role && !strcmp(role, "generator"), agent = env != NULL, classifier = !generator && !agent;
    sd_shape in = sd_model_input_shape(m), outs = sd_model_output_shape(m);
    sd_onnx o;
    sd_onnx_begin(&o, generator ? "shendu_generator" : agent ? "shendu_dqn_agent" : "shendu_classifier",
                  sd_model_arch(m));
    export_state s = { .o = &o, .m = m };
    int64_t dims[SD_MAX_DIMS + 1] = { -1 };
    for (int i = 0; i < in.ndim; i++) dims[i + 1] = in.d[i];
    const char *input = generator ? "noise" : agent ? "obs" : "input";
    sd_onnx_io(&o, 0, input, SD_ONNX_FLOAT, dims, in.ndim + 1);
    set_x(&s, input);

    const char *scale = sd_model_meta_get(m, "input_scale"), *shift = sd_model_meta_get(m, "input_shift");
    if (classifier && (scale || shift)) {   /* x = pixel * scale + shift, as shendu prepares images */
        float sc = 1.0f, sh = 0.0f;
        if ((scale && parse_floats(scale, &sc, 1)) || (shift && parse_floats(shift, &sh, 1))) {
            sd_onnx_discard(&o);
            return sd_error("ONNX export: metadata input_scale '%s' / input_shift '%s' are not numbers",
                            scale ? scale : "", shift ? shift : "");
        }
        int64_t one = 1;
        sd_onnx_init_f32(&o, "input_scale", &sc, &one, 1);
        sd_onnx_init_f32(&o, "input_shift", &sh, &one, 1);
        const char *a = sd_onnx_name(&o, "scaled"), *b = sd_onnx_name(&o, "normalized");
        sd_onnx_node_end(&o, sd_onnx_node(&o, "Mul", (const char *[]){ input, "input_scale" }, 2, &a, 1));
        sd_onnx_node_end(&o, sd_onnx_node(&o, "Add", (const char *[]){ a, "input_shift" }, 2, &b, 1));
        set_x(&s, b);
    }
    for (int i = 0; i < sd_model_layer_count(m); i++)
        if (export_layer(&s, i)) {
            sd_onnx_discard(&o);
            return -1;
        }

    int64_t od[SD_MAX_DIMS + 1] = { -1 };
    for (int i = 0; i < outs.ndim; i++) od[i + 1] = outs.d[i];
    int ond = outs.ndim + 1;
    const char *shape_meta = sd_model_meta_get(m, "image_shape");
    float img[3];
    if (generator && outs.ndim == 1 && shape_meta && !parse_floats(shape_meta, img, 3) &&
        (size_t)img[0] * (size_t)img[1] * (size_t)img[2] == (size_t)outs.d[0]) {   /* flat MLP output -> (C,H,W) */
        int64_t d[4] = { 0, (int64_t)img[0], (int64_t)img[1], (int64_t)img[2] }, four = 4;
        sd_onnx_init_i64(&o, "image_shape", d, &four, 1);
        sd_onnx_node_end(&o, sd_onnx_node(&o, "Reshape", (const char *[]){ s.x, "image_shape" }, 2,
                                          (const char *[]){ "image" }, 1));
        for (int i = 0; i < 3; i++) od[i + 1] = d[i + 1];
        ond = 4;
    } else {
        const char *name = generator ? "image" : agent ? "q_values" : "logits";
        sd_onnx_unary(&o, "Identity", s.x, name);
    }
    const char *final = generator ? "image" : agent ? "q_values" : "logits";
    sd_onnx_io(&o, 1, final, SD_ONNX_FLOAT, od, ond);
    if (classifier) {
        size_t n = sd_onnx_node(&o, "Softmax", (const char *[]){ "logits" }, 1, (const char *[]){ "probs" }, 1);
        sd_onnx_attr_int(&o, "axis", -1);
        sd_onnx_node_end(&o, n);
        sd_onnx_io(&o, 1, "probs", SD_ONNX_FLOAT, od, ond);
    } else if (agent) {
        size_t n = sd_onnx_node(&o, "ArgMax", (const char *[]){ "q_values" }, 1, (const char *[]){ "action" }, 1);
        sd_onnx_attr_int(&o, "axis", 1);
        sd_onnx_attr_int(&o, "keepdims", 0);
        sd_onnx_node_end(&o, n);
        sd_onnx_io(&o, 1, "action", SD_ONNX_INT64, od, 1);
    }

    /* metadata_props: the model's own metadata, then what shendu knows of it */
    enum { MAX_KV = 72 };
    const char *kv[2 * MAX_KV];
    char shape[64];
    int n = 0;
    for (int i = 0; i < sd_model_meta_count(m) && n < MAX_KV - 3; i++, n++) sd_model_meta_at(m, i, &kv[2 * n], &kv[2 * n + 1]);
    shape[0] = 0;
    for (int i = 0; i < in.ndim; i++)
        snprintf(shape + strlen(shape), sizeof shape - strlen(shape), "%s%d", i ? "," : "", in.d[i]);
    kv[2 * n] = "shendu.kind", kv[2 * n + 1] = generator ? "generator" : agent ? "dqn-agent" : "classifier", n++;
    kv[2 * n] = "shendu.arch", kv[2 * n + 1] = sd_model_arch(m), n++;
    kv[2 * n] = "shendu.input", kv[2 * n + 1] = shape, n++;
    return sd_onnx_finish(&o, kv, n, path);
}
