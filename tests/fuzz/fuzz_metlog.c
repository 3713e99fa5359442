/* libFuzzer harness: the metric-log reader behind `shendu plot` and `shendu
 * report` (sd_metlog_read: JSON lines or CSV, a config line), and the plots
 * made from what it accepts (an SVG in memory, terminal sparklines). */
#include "fuzz_common.h"
#include "apps/metlog.h"
#include "shendu.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char path[64];
    int fd = fuzz_memfile(data, size, path, sizeof path);
    if (fd < 0) return 0;
    sd_metlog_table t;
    if (sd_metlog_read(path, &t) == 0) {
        if (t.ncol < 4 || t.ncol > SD_METLOG_MAX_COLS || t.nrow < 1) abort();
        if (strcmp(t.names[0], "kind") || strcmp(t.names[3], "time")) abort();
        const char *label = "run";
        char *svg = sd_plot_svg(&t, &label, 1, &(sd_plot_opts){ .smooth = 0.5, .log_y = 1, .width = 300, .height = 200 });
        free(svg);
        FILE *devnull = fopen("/dev/null", "w");
        if (devnull) {
            sd_plot_terminal(devnull, &t, &label, 1, &(sd_plot_opts){ .x = "epoch" }, 20);
            fclose(devnull);
        }
        sd_metlog_table_free(&t);
    }
    close(fd);
    return 0;
}
