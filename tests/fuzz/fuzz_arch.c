/* libFuzzer harness: the architecture-string parser (it comes from model files). */
#include "shendu.h"

#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size > 4096) return 0;
    char *arch = malloc(size + 1);
    if (!arch) return 0;
    memcpy(arch, data, size);
    arch[size] = 0;
    sd_rng rng;
    sd_rng_seed(&rng, 1);
    /* small inputs keep any accepted model small */
    sd_model_free(sd_model_new(arch, SD_SHAPE(1, 12, 12), SD_INIT_DEFAULT, &rng));
    sd_model_free(sd_model_new(arch, SD_SHAPE(16), SD_INIT_DEFAULT, &rng));
    free(arch);
    return 0;
}
