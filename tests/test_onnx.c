/* The protobuf encoder of the ONNX exporter (bytes checked by hand against the
 * wire format), sd_onnx_save_model's errors and atomicity, and sd_predict
 * (the inference entry point the exporter's tests and the Python package use).
 * ONNX Runtime itself checks the exported graphs in tests/onnx/ (stage onnx). */
#include "check.h"
#include "io/onnx_pb.h"
#include "shendu.h"

#include <string.h>
#include <unistd.h>

static int bytes_eq(const sd_pb *b, const uint8_t *want, size_t n)
{
    return b->n == n && !memcmp(b->p, want, n);
}

static void test_wire_format(void)
{
    sd_pb b = { 0 };
    sd_pb_varint_field(&b, 1, 150);             /* the protobuf docs' example: 08 96 01 */
    CHECK(bytes_eq(&b, (const uint8_t[]){ 0x08, 0x96, 0x01 }, 3));
    sd_pb_free(&b);
    sd_pb_str_field(&b, 2, "testing");          /* 12 07 74 65 73 74 69 6e 67 */
    CHECK(bytes_eq(&b, (const uint8_t[]){ 0x12, 0x07, 't', 'e', 's', 't', 'i', 'n', 'g' }, 9));
    sd_pb_free(&b);
    sd_pb_float_field(&b, 2, 1.0f);             /* 15 00 00 80 3f */
    CHECK(bytes_eq(&b, (const uint8_t[]){ 0x15, 0x00, 0x00, 0x80, 0x3f }, 5));
    sd_pb_free(&b);
    sd_pb_varint_field(&b, 20, 2);              /* field 20: a two-byte key a0 01 */
    CHECK(bytes_eq(&b, (const uint8_t[]){ 0xa0, 0x01, 0x02 }, 3));
    sd_pb_free(&b);
    sd_pb_varint_field(&b, 3, (uint64_t)-1);    /* negative int64: ten bytes */
    CHECK(b.n == 11 && b.p[10] == 0x01);
    sd_pb_free(&b);

    /* nested: an outer message holding a 200-byte inner one; lengths in front */
    size_t outer = sd_pb_begin(&b, 7);
    size_t inner = sd_pb_begin(&b, 1);
    uint8_t blob[197];
    memset(blob, 0xab, sizeof blob);
    sd_pb_bytes_field(&b, 9, blob, sizeof blob);    /* 4a c5 01 + 197 bytes = 200 */
    sd_pb_end(&b, inner);
    sd_pb_end(&b, outer);
    CHECK(!b.failed);
    CHECK(b.n == 1 + 2 + 1 + 2 + 200);
    CHECK(b.p[0] == 0x3a && b.p[1] == ((203 & 0x7f) | 0x80) && b.p[2] == 203 >> 7);   /* outer: 203 bytes */
    CHECK(b.p[3] == 0x0a && b.p[4] == ((200 & 0x7f) | 0x80) && b.p[5] == 200 >> 7);   /* inner: 200 bytes */
    CHECK(b.p[6] == 0x4a && b.p[7] == 0xc5 && b.p[8] == 0x01 && b.p[9] == 0xab && b.p[b.n - 1] == 0xab);
    sd_pb_free(&b);
}

static long file_size(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (!f) return -1;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fclose(f);
    return n;
}

static void test_export(void)
{
    sd_rng rng;
    sd_rng_seed(&rng, 1);
    sd_model *m = sd_model_new("conv(4,3,1,1) relu maxpool(2) flatten linear(10)", SD_SHAPE(1, 8, 8),
                               SD_INIT_DEFAULT, &rng);
    CHECK(m != NULL);
    if (!m) return;
    sd_model_meta_set(m, "classes", "a,b,c,d,e,f,g,h,i,j");
    char path[512];
    snprintf(path, sizeof path, "%s/test_onnx_%d.onnx", check_tmpdir(), (int)getpid());
    CHECK(sd_onnx_save_model(m, path, NULL) == 0);
    FILE *f = fopen(path, "rb");
    uint8_t head[2] = { 0 };
    CHECK(f && fread(head, 1, 2, f) == 2);
    if (f) fclose(f);
    CHECK(head[0] == 0x08 && head[1] == 8);     /* ModelProto.ir_version = 8 comes first */
    long size = file_size(path);
    CHECK(size > (long)(4 * 9 + 4 + 10 * 64 + 10) * 4);   /* the 690 weights are in it, as floats */
    /* refused: another opset; the earlier file stays whole (atomic writes) */
    CHECK(sd_onnx_save_model(m, path, &(sd_onnx_opts){ .opset = 11 }) == -1);
    CHECK(strstr(sd_last_error(), "opset 11") != NULL);
    CHECK(file_size(path) == size);
    /* an unwritable place: an error naming it, nothing written */
    CHECK(sd_onnx_save_model(m, "/nonexistent-dir/x.onnx", NULL) == -1);
    CHECK(strstr(sd_last_error(), "nonexistent-dir") != NULL);
    unlink(path);
    sd_model_free(m);
}

static void test_predict(void)
{
    sd_rng rng;
    sd_rng_seed(&rng, 2);
    sd_model *m = sd_model_new("flatten linear(5) tanh linear(3)", SD_SHAPE(1, 2, 3), SD_INIT_DEFAULT, &rng);
    enum { N = 7 };
    uint8_t px[N * 6];
    float xf[N * 6], norm[N * 6], y1[N * 3], y2[N * 3], y3[N * 3], ref[N * 3];
    for (int i = 0; i < N * 6; i++) px[i] = (uint8_t)(i * 37 % 256), xf[i] = px[i], norm[i] = px[i] * 0.5f - 3.0f;
    /* a plain model: float inputs as they are; bytes refused */
    sd_predictor *p = sd_predictor_new(m, &(sd_predictor_opts){ .threads = 1, .batch = 3 });
    CHECK(p && sd_predict(p, norm, 0, N, y1) == 0);
    CHECK(sd_predict(p, px, 1, N, y2) == -1 && strstr(sd_last_error(), "float32"));
    /* the reference: one forward pass over all N */
    sd_ctx *ctx = sd_ctx_new(&(sd_ctx_opts){ .threads = 1 });
    sd_graph *g = sd_graph_new(ctx);
    sd_tensor *y = sd_model_forward(g, m, sd_input(g, norm, SD_SHAPE(N, 1, 2, 3)));
    CHECK(y && y->n == N * 3);
    if (y) memcpy(ref, y->data, sizeof ref);
    for (int i = 0; i < N * 3; i++) CHECK_NEAR(y1[i], ref[i], 1e-6);
    sd_predictor_free(p);
    /* a classifier: raw pixels, bytes or floats, normalised by its metadata */
    sd_model_meta_set(m, "input_scale", "0.5");
    sd_model_meta_set(m, "input_shift", "-3");
    p = sd_predictor_new(m, NULL);
    CHECK(p && sd_predict(p, px, 1, N, y2) == 0 && sd_predict(p, xf, 0, N, y3) == 0);
    for (int i = 0; i < N * 3; i++) {
        CHECK_NEAR(y2[i], ref[i], 1e-6);
        CHECK(y2[i] == y3[i]);
    }
    CHECK(sd_predict(p, px, 1, 0, y2) == 0);   /* an empty batch */
    sd_predictor_free(p);
    sd_predictor_free(NULL);
    sd_graph_free(g);
    sd_ctx_free(ctx);
    sd_model_free(m);
}

int main(void)
{
    test_wire_format();
    test_export();
    test_predict();
    return check_done("test_onnx");
}
