/* tools/cmd_lm.c — placeholder: the 'lm' subcommands are being written (see the issue). */
#include "cli.h"

int cmd_lm(int argc, char **argv)
{
    (void)argc; (void)argv;
    fprintf(stderr, "shendu lm: not implemented yet\n");
    return 1;
}
