/* libFuzzer harness: PNG decoding (libpng behind shendu's checks), then the
 * preparation every `shendu predict` input goes through. */
#include "fuzz_common.h"
#include "shendu.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char path[64];
    int fd = fuzz_memfile(data, size, path, sizeof path);
    if (fd < 0) return 0;
    sd_image im;
    if (sd_image_load_png(path, &im) == 0) {
        float x[784];
        int inverted;
        sd_image_to_mnist(&im, NULL, x, &inverted);
        sd_image_free(&im);
    }
    close(fd);
    return 0;
}
