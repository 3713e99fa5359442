/* shendu export: a model file as ONNX (src/apps/onnx_export.c). */
#include "cli.h"

#include <string.h>

int cmd_export(int argc, char **argv)
{
    const char *onnx = NULL;
    const flag flags[] = {
        { "onnx", F_STR, &onnx, "write the model as an ONNX file (opset 17) here" },
        { 0 }
    };
    const char *usage = "MODEL.safetensors --onnx OUT.onnx";
    char *pos[1];
    int npos, rc = cli_parse("export", usage,
                             "Write a model (classifier, GAN generator, DQN agent, language model or\n"
                             "diffusion model) as an ONNX file for ONNX Runtime and other serving stacks.\n"
                             "Classifiers take raw pixels (their normalisation is in the graph) and give\n"
                             "logits and probs; a diffusion model gives the noise eps(x_t, t), its schedule\n"
                             "in the metadata. The batch dimension is dynamic. The model's metadata (class\n"
                             "names, ...) goes with it.",
                             argc, argv, flags, pos, 1, &npos);
    if (rc) return rc == 1 ? 0 : rc;
    if (npos != 1) return cli_usage_error("export", usage, "%s", "expected one model file");
    if (!onnx || !*onnx) return cli_usage_error("export", usage, "%s", "--onnx OUT.onnx is required");
    if (sd_app_export_onnx(pos[0], onnx, stdout)) return cli_fail("export");
    return 0;
}
