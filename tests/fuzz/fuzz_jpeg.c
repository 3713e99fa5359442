/* libFuzzer harness: JPEG decoding (libjpeg-turbo behind shendu's error
 * manager), the header probe, then the fitting every folder picture goes
 * through (gray and colour, pad and crop). */
#include "fuzz_common.h"
#include "shendu.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char path[64];
    int fd = fuzz_memfile(data, size, path, sizeof path);
    if (fd < 0) return 0;
    int w, h, c;
    sd_image_probe(path, &w, &h, &c);
    sd_image im;
    if (sd_image_decode_jpeg(data, size, "fuzz.jpg", &im) == 0) {
        uint8_t out[3 * 16 * 12];
        sd_image_fit_planar(&im, 16, 12, 3, SD_FIT_MODE_PAD, 255, out);
        sd_image_fit_planar(&im, 16, 12, 1, SD_FIT_MODE_CROP, 0, out);
        sd_image_free(&im);
    }
    close(fd);
    return 0;
}
