/* tools/cmd_data.c — shendu data DIR_OR_CSV: describe a data set before training. */
#include "cli.h"

#include <string.h>

int cmd_data(int argc, char **argv)
{
    sd_data_opts o = { 0 };
    const char *task = "auto";
    const flag flags[] = {
        { "target", F_STR, &o.target, "CSV: also count the classes of this column" },
        { "task", F_STR, &task, "CSV: auto, classify or regress (default auto: classify a text target)" },
        { 0 }
    };
    const char *usage = "DIR|TABLE.csv [flags]";
    char *pos[1];
    int npos, rc = cli_parse("data", usage,
                               "Describe a data set: for picture folders the pictures per class (imbalance\n"
                               "warned), the sizes and modes found and the files that cannot be read; for a\n"
                               "CSV table each column's type, range, mean, missing values and distinct values.",
                               argc, argv, flags, pos, 1, &npos);
    if (rc) return rc == 1 ? 0 : rc;
    if (npos != 1) return cli_usage_error("data", usage, "%s", "expected one folder or CSV file");
    o.task = -1;
    for (int i = 0; sd_task_names[i]; i++)
        if (!strcmp(task, sd_task_names[i])) o.task = i;
    if (o.task < 0) return cli_usage_error("data", usage, "unknown --task '%s' (expected auto, classify or regress)", task);
    return sd_app_data_describe(pos[0], &o, stdout) ? cli_fail("data") : 0;
}
