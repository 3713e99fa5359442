/* libFuzzer harness: the safetensors reader, then the model loader on top of it
 * (metadata, architecture string, tensor shapes against the architecture). */
#include "fuzz_common.h"
#include "shendu.h"

#include <stdlib.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    sd_st_file *f = sd_st_open_mem(data, size, "fuzz.safetensors");
    if (f) {
        for (int i = 0; i < sd_st_count(f); i++) {
            sd_st_tensor t;
            sd_st_get(f, i, &t);
            size_t n = 1;
            for (int d = 0; d < t.ndim; d++) n *= (size_t)t.shape[d];
            if (t.dtype == SD_F32 && n <= (1u << 20)) {
                float *buf = malloc(n * sizeof *buf + 1);
                if (buf) sd_st_read_f32(f, t.name, t.ndim, t.shape, buf);
                free(buf);
            }
        }
        for (int i = 0; i < sd_st_meta_count(f); i++) {
            sd_st_kv kv;
            sd_st_meta_get(f, i, &kv);
        }
        sd_st_close(f);
    }
    char path[64];
    int fd = fuzz_memfile(data, size, path, sizeof path);
    if (fd >= 0) {
        sd_model_free(sd_model_load(path));
        close(fd);
    }
    return 0;
}
