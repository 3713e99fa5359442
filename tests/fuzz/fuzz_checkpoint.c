/* libFuzzer harness: checkpoints — the training configuration a resume reads,
 * and the model with optimizer and RNG state inside. */
#include "fuzz_common.h"
#include "apps/apps.h"

#include <stdlib.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char path[64];
    int fd = fuzz_memfile(data, size, path, sizeof path);
    if (fd < 0) return 0;
    sd_train_opts o = { 0 };
    sd_train_config_load(path, &o);
    free((char *)o.model);            /* the only strings it allocates */
    free((char *)o.data_dir);
    sd_model *m = sd_model_load(path);
    if (m) {
        sd_optim *opt = sd_optim_new(sd_model_params(m), &(sd_optim_opts){ .kind = SD_OPTIM_ADAM });
        sd_st_file *f = sd_st_open(path);
        if (opt && f) {
            sd_rng rng;
            int32_t order[16];
            sd_checkpoint_restore_optim(f, opt);
            sd_checkpoint_read_rng(f, "shendu.train.rng", &rng);
            sd_checkpoint_read_i32(f, "shendu.train.order", order, 16);
        }
        sd_st_close(f);
        sd_optim_free(opt);
        sd_model_free(m);
    }
    close(fd);
    return 0;
}
