/* tools/cmd_rl.c — placeholder: the 'rl' subcommands are being written (see the issue). */
#include "cli.h"

int cmd_rl(int argc, char **argv)
{
    (void)argc; (void)argv;
    fprintf(stderr, "shendu rl: not implemented yet\n");
    return 1;
}
