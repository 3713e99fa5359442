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
    /* Small inputs, and a parameter limit as a model file's size sets one in
     * sd_model_load: a legal model of 10^8 parameters is not a parser bug. */
    sd_model_opts o = { .rng = &rng, .max_params = 1 << 18 };
    sd_model_free(sd_model_new_with(arch, SD_SHAPE(1, 12, 12), &o));
    sd_model_free(sd_model_new_with(arch, SD_SHAPE(16), &o));
    free(arch);
    return 0;
}
