/* libFuzzer harness: the IDX reader (raw and gzip). */
#include "fuzz_common.h"
#include "shendu.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char path[64];
    int fd = fuzz_memfile(data, size, path, sizeof path);
    if (fd < 0) return 0;
    sd_idx idx;
    if (sd_idx_load(path, &idx) == 0) {
        volatile uint8_t sum = 0;                 /* touch every byte the reader claims */
        for (size_t i = 0; i < idx.n; i++) sum += idx.data[i];
        sd_idx_free(&idx);
    }
    close(fd);
    return 0;
}
