/* The one check of a command's paths before any work (issue 15): every file it
 * reads, including a data set's IDX files, and every file or directory it
 * writes go through sd_paths_check together; and the "resume with:" line of a
 * stopped trainer, which repeats every output flag of the run. */
#define _POSIX_C_SOURCE 200809L
#include "apps/apps.h"
#include "shendu/io.h"

#include <string.h>
#include <sys/stat.h>

#define MAX_USES 24

int sd_app_check_paths(const char *data_dir, const sd_path_use *uses, int n)
{
    static const char *const names[4] = { "train-images-idx3-ubyte", "train-labels-idx1-ubyte",
                                          "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte" };
    if (n < 0 || n > MAX_USES - 4) return sd_error("sd_app_check_paths: too many paths (%d)", n);
    sd_path_use all[MAX_USES];
    char files[4][4096];
    memcpy(all, uses, (size_t)n * sizeof *uses);
    int k = n;
    for (int i = 0; data_dir && i < 4; i++)   /* a missing file is the loader's to report */
        if (sd_dataset_file(data_dir, names[i], files[i], sizeof files[i]) == 0)
            all[k++] = (sd_path_use){ files[i], SD_PATH_INPUT, "the data set's file" };
    return sd_paths_check(all, k);
}

sd_path_role sd_app_input_role(const char *path)
{
    struct stat st;
    return path && stat(path, &st) == 0 && S_ISDIR(st.st_mode) ? SD_PATH_INPUT_DIR : SD_PATH_INPUT;
}

/* A word as the shell reads it back: 'quoted' unless it is plain. */
static void shell_word(FILE *f, const char *s)
{
    if (*s && strspn(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-./=+:,@%") == strlen(s)) {
        fputs(s, f);
        return;
    }
    fputc('\'', f);
    for (; *s; s++) {
        if (*s == '\'') fputs("'\\''", f);
        else fputc(*s, f);
    }
    fputc('\'', f);
}

void sd_app_resume_hint(FILE *f, const char *cmd, const char *checkpoint, const char *const *flags, int n)
{
    fprintf(f, "resume with: shendu %s --resume ", cmd);
    shell_word(f, checkpoint);
    for (int i = 0; i + 1 < n; i += 2) {
        if (!flags[i + 1]) continue;
        fprintf(f, " --%s ", flags[i]);
        shell_word(f, flags[i + 1]);
    }
    fputc('\n', f);
}
