/* libFuzzer harness: checkpoints — the training configuration a resume reads
 * (classifier, GAN, DQN, lm, diffusion), and the model with optimizer and RNG
 * state inside; the same for lm checkpoints, and diffusion models and
 * checkpoints (the U-Net and schedule `diffusion sample` loads, the optimizer,
 * RNG and order a resume reads). */
#include "fuzz_common.h"
#include "apps/apps.h"
#include "apps/diffusion_app.h"

#include <stdlib.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char path[64];
    int fd = fuzz_memfile(data, size, path, sizeof path);
    if (fd < 0) return 0;
    sd_train_opts o = { 0 };           /* the configurations `--resume` reads, every trainer's */
    sd_train_config_load(path, &o);
    sd_train_config_free(&o);
    sd_gan_train_opts go = { 0 };
    sd_gan_config_load(path, &go);
    sd_gan_config_free(&go);
    sd_rl_dqn_opts ro = { 0 };
    sd_rl_dqn_config_load(path, &ro);
    sd_rl_dqn_config_free(&ro);
    sd_lm_opts lo = { 0 };             /* the same for `shendu lm train --resume` and `lm sample` */
    sd_lm_config_load(path, &lo);
    sd_lm_config_free(&lo);
    sd_lm *lm = sd_lm_load(path);
    if (lm) {
        sd_optim *opt = sd_optim_new(sd_lm_params(lm), &(sd_optim_opts){ .kind = SD_OPTIM_ADAM });
        sd_lm_train_state st;
        sd_st_file *f = sd_st_open(path);   /* the text size it expects: get past that check */
        const char *bytes = f ? sd_st_meta(f, "shendu.lm.text_bytes") : NULL;
        size_t n = bytes ? (size_t)strtoull(bytes, NULL, 10) : 0;
        sd_st_close(f);
        if (opt) sd_lm_checkpoint_restore(path, lm, opt, n, &st);
        sd_optim_free(opt);
        sd_lm_free(lm);
    }
    sd_diffusion_train_opts dop = { 0 };   /* `shendu diffusion --resume` */
    sd_diffusion_config_load(path, &dop);
    sd_diffusion_config_free(&dop);
    sd_diffusion_model dm;                 /* `diffusion sample`/`score`: the U-Net from the file's metadata */
    if (sd_diffusion_model_load(path, &dm) == 0) {
        sd_optim *opt = sd_optim_new(sd_unet_params(dm.u), &(sd_optim_opts){ .kind = SD_OPTIM_ADAM });
        sd_st_file *f = sd_st_open(path);
        if (opt && f) {
            sd_rng rng;
            int32_t order[16];
            sd_checkpoint_restore_optim(f, opt);
            sd_checkpoint_read_rng(f, "shendu.diffusion.rng", &rng);
            sd_checkpoint_read_i32(f, "shendu.diffusion.order", order, 16);
        }
        sd_st_close(f);
        sd_optim_free(opt);
        sd_diffusion_model_free(&dm);
    }
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
