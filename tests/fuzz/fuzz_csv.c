/* libFuzzer harness: the CSV reader, then what training and `shendu data`
 * do with a table: describe every column, split out features and a target
 * (the first column's name), with and without filling missing values. */
#include "fuzz_common.h"
#include "shendu.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    sd_table t;
    if (sd_table_parse_csv((const char *)data, size, "fuzz.csv", &t)) return 0;
    for (int c = 0; c < t.cols && c < 64; c++) {
        sd_table_column_info info;
        sd_table_describe(&t, c, &info);
    }
    for (int fill = 0; fill < 2; fill++)
        for (int task = 0; task < 3; task++) {
            sd_tabular d;
            sd_tabular_opts o = { .target = sd_table_header(&t, 0), .task = (sd_task)task, .fill_missing = fill };
            if (sd_tabular_from_table(&t, &o, &d) == 0) sd_tabular_free(&d);
        }
    sd_table_free(&t);
    return 0;
}
