/* folder_export.c — write an MNIST-layout data set (IDX files) as folders of
 * pictures, the layout `shendu train --data DIR` reads from your own data:
 *   OUT/train/<class>/00000.png ...   OUT/test/<class>/00000.png ...
 * Class names are Fashion-MNIST's when the data folder's name holds
 * "fashion", else the digits 0-9.
 *   ./build/example_folder_export [--jpeg] [--limit N] [--colour] DATA_DIR OUT_DIR
 * --jpeg writes quality-95 JPEGs; --colour tints each picture (a colour set
 * for tests); --limit keeps the first N pictures of each split. */
#include <shendu.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

static const char *fashion[] = { "T-shirt_top", "Trouser", "Pullover", "Dress", "Coat",
                                 "Sandal", "Shirt", "Sneaker", "Bag", "Ankle_boot" };

static int export_split(const char *dir, const char *split, const char *out, const char *part, int limit,
                        int jpeg, int colour)
{
    sd_dataset d;
    if (sd_dataset_load_mnist(dir, split, &d)) return -1;
    int n = limit > 0 && limit < d.n ? limit : d.n;
    char path[4096];
    snprintf(path, sizeof path, "%s/%s", out, part);
    mkdir(path, 0777);
    for (int k = 0; k < d.nclass; k++) {
        snprintf(path, sizeof path, "%s/%s/%s", out, part, strstr(dir, "fashion") ? fashion[k % 10] : (char[2]){ (char)('0' + k % 10), 0 });
        mkdir(path, 0777);
    }
    const int hw = d.h * d.w;
    int rc = 0;
    /* many threads: each file is written atomically (two fsyncs), which waits on the disk */
    #pragma omp parallel for schedule(dynamic, 8) num_threads(16) reduction(|:rc)
    for (int i = 0; i < n; i++) {
        const int k = d.labels[i];
        char file[4096];
        sd_image im;
        int bad = sd_image_alloc(&im, d.w, d.h, colour ? 3 : 1, 0);
        for (int p = 0; !bad && p < hw; p++) {
            const uint8_t v = d.images[(size_t)i * hw + p];
            if (!colour) im.px[p] = v;
            else {   /* a tint per picture: the class is in the shape, not the colour */
                im.px[3 * p] = (uint8_t)(v * (1 + i % 3) / 3);
                im.px[3 * p + 1] = (uint8_t)(v * (1 + (i / 3) % 3) / 3);
                im.px[3 * p + 2] = v;
            }
        }
        snprintf(file, sizeof file, "%s/%s/%s/%05d.%s", out, part,
                 strstr(dir, "fashion") ? fashion[k % 10] : (char[2]){ (char)('0' + k % 10), 0 }, i, jpeg ? "jpg" : "png");
        if (!bad) bad = jpeg ? sd_image_save_jpeg(file, &im, 95) : sd_image_save_png(file, &im);
        if (bad) fprintf(stderr, "%s\n", sd_last_error());
        sd_image_free(&im);
        rc |= bad != 0;
    }
    if (rc) sd_error("some pictures could not be written");
    sd_dataset_free(&d);
    return rc;
}

int main(int argc, char **argv)
{
    int jpeg = 0, colour = 0, limit = 0, a = 1;
    for (; a < argc && argv[a][0] == '-'; a++) {
        if (!strcmp(argv[a], "--jpeg")) jpeg = 1;
        else if (!strcmp(argv[a], "--colour")) colour = 1;
        else if (!strcmp(argv[a], "--limit") && a + 1 < argc) limit = atoi(argv[++a]);
        else break;
    }
    if (argc - a != 2) {
        fprintf(stderr, "usage: %s [--jpeg] [--colour] [--limit N] DATA_DIR OUT_DIR\n", argv[0]);
        return 2;
    }
    mkdir(argv[a + 1], 0777);
    if (export_split(argv[a], "train", argv[a + 1], "train", limit, jpeg, colour) ||
        export_split(argv[a], "t10k", argv[a + 1], "test", limit, jpeg, colour)) {
        fprintf(stderr, "%s\n", sd_last_error());
        return 1;
    }
    printf("wrote %s/train and %s/test\n", argv[a + 1], argv[a + 1]);
    return 0;
}
