/* Inference for callers that only want a model's outputs: sd_predict runs a
 * model over any number of examples in passes of `batch`, in evaluation mode,
 * without gradients. A classifier's inputs are raw pixels: its normalisation
 * (metadata input_scale, input_shift) is applied here, as in its ONNX graph. */
#include "shendu/nn.h"

#include <stdlib.h>
#include <string.h>

struct sd_predictor {
    sd_model *m;
    sd_ctx *ctx;
    sd_graph *g;
    int batch;
    int normalize;           /* a classifier: x = pixel * scale + shift */
    float scale, shift;
    float *buf;              /* one pass of converted inputs */
    size_t cap;
};

sd_predictor *sd_predictor_new(sd_model *m, const sd_predictor_opts *o)
{
    if (!m) { sd_error("sd_predictor_new: no model"); return NULL; }
    sd_predictor_opts d = o ? *o : (sd_predictor_opts){ 0 };
    if (d.threads < 0 || d.batch < 0) { sd_error("sd_predictor_new: threads and batch must be >= 0"); return NULL; }
    sd_predictor *p = calloc(1, sizeof *p);
    if (!p) { sd_error("out of memory"); return NULL; }
    p->m = m;
    p->batch = d.batch ? d.batch : 256;
    if (sd_model_check_memory(m, p->batch, 0, 0)) {   /* a pass's activations, planned from the shapes */
        free(p);
        return NULL;
    }
    const char *sc = sd_model_meta_get(m, "input_scale"), *sh = sd_model_meta_get(m, "input_shift");
    const char *role = sd_model_meta_get(m, "role");
    p->normalize = (sc || sh) && !sd_model_meta_get(m, "rl.env") && !(role && !strcmp(role, "generator"));
    p->scale = sc ? strtof(sc, NULL) : 1.0f;
    p->shift = sh ? strtof(sh, NULL) : 0.0f;
    if (!(p->ctx = sd_ctx_new(&(sd_ctx_opts){ .threads = d.threads })) || !(p->g = sd_graph_new(p->ctx))) {
        sd_predictor_free(p);
        return NULL;
    }
    sd_graph_set_grad(p->g, 0);
    return p;
}

void sd_predictor_free(sd_predictor *p)
{
    if (!p) return;
    sd_graph_free(p->g);
    sd_ctx_free(p->ctx);
    free(p->buf);
    free(p);
}

int sd_predict(sd_predictor *p, const void *x, int u8, size_t n, float *out)
{
    sd_shape in = sd_model_input_shape(p->m), os = sd_model_output_shape(p->m);
    size_t din = sd_shape_numel(in), dout = sd_shape_numel(os);
    if (u8 && !p->normalize)
        return sd_error("predict: this model takes float32 inputs (bytes are for image classifiers)");
    if (n == 0) return 0;
    if (!x || !out) return sd_error("predict: no input or output buffer");
    int convert = u8 || p->normalize;
    if (convert && p->cap < (size_t)p->batch * din) {
        float *b = realloc(p->buf, (size_t)p->batch * din * sizeof *b);
        if (!b) return sd_error("out of memory");
        p->buf = b;
        p->cap = (size_t)p->batch * din;
    }
    int was = sd_model_training(p->m), rc = 0;
    sd_model_set_training(p->m, 0);
    for (size_t i = 0; i < n && rc == 0; i += (size_t)p->batch) {
        int b = (int)(n - i < (size_t)p->batch ? n - i : (size_t)p->batch);
        const float *xs;
        if (convert) {
            for (size_t k = 0; k < (size_t)b * din; k++) {
                float v = u8 ? (float)((const uint8_t *)x)[i * din + k] : ((const float *)x)[i * din + k];
                p->buf[k] = p->normalize ? v * p->scale + p->shift : v;
            }
            xs = p->buf;
        } else {
            xs = (const float *)x + i * din;
        }
        int d[SD_MAX_DIMS] = { b };
        for (int k = 0; k < in.ndim; k++) d[k + 1] = in.d[k];
        sd_graph_reset(p->g);
        sd_tensor *y = sd_model_forward(p->g, p->m, sd_input(p->g, xs, sd_shape_of(d, in.ndim + 1)));
        if (!y) { rc = -1; break; }
        memcpy(out + i * dout, y->data, (size_t)b * dout * sizeof *out);
    }
    sd_model_set_training(p->m, was);
    return rc;
}
