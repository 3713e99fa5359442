/* Pictures from folders: JPEG decoding (round trip, truncated and corrupt
 * files as errors), fitting (pad, crop, alpha over a background, gray and
 * colour), class folders (counts, sizes, modes, the bad inputs the issue
 * names), stratified splits and fingerprints. */
#define _POSIX_C_SOURCE 200809L
#include "check.h"
#include "shendu.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static char root[4096];

static int error_has(const char *what)
{
    int ok = strstr(sd_last_error(), what) != NULL;
    if (!ok) fprintf(stderr, "  message: %s (expected '%s' in it)\n", sd_last_error(), what);
    return ok;
}

/* A w×h picture of c channels: value v everywhere, a bright square top-left. */
static void picture(sd_image *im, int w, int h, int c, uint8_t v)
{
    sd_image_alloc(im, w, h, c, v);
    for (int y = 0; y < h / 3; y++)
        for (int x = 0; x < w / 3; x++)
            for (int k = 0; k < c; k++) im->px[((size_t)y * w + x) * c + k] = 250;
}

static void write_file(const char *path, const void *data, size_t n)
{
    FILE *f = fopen(path, "wb");
    fwrite(data, 1, n, f);
    fclose(f);
}

static void test_jpeg(void)
{
    char path[4200];
    sd_image im, back;
    picture(&im, 40, 30, 3, 60);
    snprintf(path, sizeof path, "%s/a.jpg", root);
    CHECK(sd_image_save_jpeg(path, &im, 95) == 0);
    CHECK(sd_image_load_jpeg(path, &back) == 0);
    CHECK(back.w == 40 && back.h == 30 && back.c == 3);
    int maxdiff = 0;
    for (size_t i = 0; back.px && i < 40 * 30 * 3; i++) {
        int d = abs(back.px[i] - im.px[i]);
        if (d > maxdiff) maxdiff = d;
    }
    CHECK_MSG(maxdiff < 60, "JPEG round trip differs by %d", maxdiff);   /* lossy, at the square's edge */
    CHECK(back.px && abs(back.px[(15 * 40 + 30) * 3] - 60) <= 3);          /* flat parts are close */
    sd_image_free(&back);
    int w, h, c;
    CHECK(sd_image_probe(path, &w, &h, &c) == 0 && w == 40 && h == 30 && c == 3);
    CHECK(sd_image_load_any(path, &back) == 0 && back.c == 3);
    sd_image_free(&back);
    /* truncated and corrupt files: errors naming the file, no crash */
    FILE *f = fopen(path, "rb");
    static uint8_t buf[65536];
    size_t n = fread(buf, 1, sizeof buf, f);
    fclose(f);
    char bad[4200];
    snprintf(bad, sizeof bad, "%s/trunc.jpg", root);
    write_file(bad, buf, n - 40);   /* the scan cut short */
    CHECK(sd_image_load_jpeg(bad, &back) == -1 && error_has("trunc.jpg") && error_has("truncated JPEG"));
    CHECK(back.px == NULL);
    write_file(bad, buf, 200);   /* headers cut */
    CHECK(sd_image_load_jpeg(bad, &back) == -1 && error_has("trunc.jpg"));
    memset(buf + 2, 0x55, 40);  /* garbage where the markers are */
    write_file(bad, buf, n);
    CHECK(sd_image_load_jpeg(bad, &back) == -1 && error_has("corrupt JPEG"));
    write_file(bad, "hello", 5);
    CHECK(sd_image_load_any(bad, &back) == -1 && error_has("neither a PNG nor a JPEG"));
    CHECK(sd_image_load_jpeg(bad, &back) == -1 && error_has("not a JPEG"));
    sd_image_free(&im);
    /* gray JPEG */
    picture(&im, 9, 7, 1, 10);
    CHECK(sd_image_save_jpeg(path, &im, 90) == 0 && sd_image_load_jpeg(path, &back) == 0 && back.c == 1);
    sd_image_free(&back);
    sd_image_free(&im);
}

static void test_fit(void)
{
    sd_image im;
    uint8_t out[3 * 4 * 4];
    /* a 4x2 white picture padded into 4x4 over black: rows 1-2 white, 0 and 3 black */
    sd_image_alloc(&im, 4, 2, 1, 255);
    CHECK(sd_image_fit_planar(&im, 4, 4, 1, SD_FIT_MODE_PAD, 0, out) == 0);
    CHECK(out[0] == 0 && out[4] == 255 && out[8] == 255 && out[12] == 0);
    /* cropped: the centre 2x2 of the picture fills 4x4, all white */
    CHECK(sd_image_fit_planar(&im, 4, 4, 1, SD_FIT_MODE_CROP, 0, out) == 0);
    int all = 1;
    for (int i = 0; i < 16; i++) all &= out[i] == 255;
    CHECK(all);
    sd_image_free(&im);
    /* crop takes the centre: left half black, right half white, 4x2 -> 2x2 crop keeps the middle */
    sd_image_alloc(&im, 4, 2, 1, 0);
    for (int y = 0; y < 2; y++) im.px[y * 4 + 2] = im.px[y * 4 + 3] = 255;
    CHECK(sd_image_fit_planar(&im, 2, 2, 1, SD_FIT_MODE_CROP, 0, out) == 0 && out[0] == 0 && out[1] == 255);
    sd_image_free(&im);
    /* a transparent pixel becomes the background, gray goes to 3 planes */
    sd_image_alloc(&im, 2, 1, 4, 0);
    im.px[0] = 200, im.px[1] = 0, im.px[2] = 0, im.px[3] = 255;   /* opaque red */
    CHECK(sd_image_fit_planar(&im, 2, 1, 3, SD_FIT_MODE_STRETCH, 255, out) == 0);
    CHECK(out[0] == 200 && out[1] == 255 && out[2] == 0 && out[3] == 255 && out[5] == 255);   /* R plane, G plane, B */
    CHECK(sd_image_fit_planar(&im, 2, 1, 1, SD_FIT_MODE_STRETCH, 255, out) == 0 && out[1] == 255 && out[0] < 80);
    sd_image_free(&im);
    sd_image_alloc(&im, 1, 1, 1, 77);
    CHECK(sd_image_fit_planar(&im, 1, 1, 3, SD_FIT_MODE_PAD, 0, out) == 0 && out[0] == 77 && out[1] == 77 && out[2] == 77);
    sd_image_free(&im);
}

static void mkdirf(const char *fmt, const char *a)
{
    char p[4200];
    snprintf(p, sizeof p, fmt, root, a);
    mkdir(p, 0755);
}

static void save(const char *cls, const char *name, const sd_image *im)
{
    char p[4200];
    snprintf(p, sizeof p, "%s/set/%s/%s", root, cls, name);
    if (strstr(name, ".png")) sd_image_save_png(p, im);
    else sd_image_save_jpeg(p, im, 90);
}

static void test_folder(void)
{
    mkdirf("%s/%s", "set");
    mkdirf("%s/set/%s", "cat");
    mkdirf("%s/set/%s", "dog");
    sd_image im;
    char name[64];
    for (int i = 0; i < 6; i++) {   /* cats: gray PNGs 12x12 (one 20x10), dogs: colour JPEGs 12x12 */
        picture(&im, i == 5 ? 20 : 12, i == 5 ? 10 : 12, 1, (uint8_t)(20 * i));
        snprintf(name, sizeof name, "c%d.png", i);
        save("cat", name, &im);
        sd_image_free(&im);
    }
    for (int i = 0; i < 4; i++) {
        picture(&im, 12, 12, 3, (uint8_t)(30 * i));
        snprintf(name, sizeof name, "d%d.JPG", i);
        save("dog", name, &im);
        sd_image_free(&im);
    }
    char p[4200], dir[4200];
    snprintf(p, sizeof p, "%s/set/dog/notes.txt", root);
    write_file(p, "x", 1);
    snprintf(dir, sizeof dir, "%s/set", root);
    sd_dataset d;
    sd_folder_report r;
    CHECK(sd_dataset_load_folder(dir, &(sd_folder_opts){ .threads = 2 }, &d, &r) == 0);
    CHECK(d.n == 10 && d.nclass == 2 && d.c == 3 && d.h == 12 && d.w == 12);   /* colour found: 3 channels */
    CHECK(d.classes && !strcmp(d.classes[0], "cat") && !strcmp(d.classes[1], "dog"));
    CHECK(r.count[0] == 6 && r.count[1] == 4 && r.other_files == 1 && r.png == 6 && r.jpeg == 4);
    CHECK(r.gray == 6 && r.colour == 4 && r.nsizes == 2 && r.resized == 1);
    CHECK(d.labels[0] == 0 && d.labels[9] == 1);
    char fp1[17], fp2[17];
    sd_dataset_fingerprint(&d, fp1);
    /* split: stratified and seeded */
    sd_dataset a, b;
    CHECK(sd_dataset_split(&d, 0.5, 7, &a, &b) == 0);
    CHECK(a.n == 5 && b.n == 5);
    int cats = 0;
    for (int i = 0; i < b.n; i++) cats += b.labels[i] == 0;
    CHECK(cats == 3);
    sd_dataset_fingerprint(&b, fp2);
    sd_dataset a2, b2;
    CHECK(sd_dataset_split(&d, 0.5, 7, &a2, &b2) == 0);
    char fp3[17];
    sd_dataset_fingerprint(&b2, fp3);
    CHECK(!strcmp(fp2, fp3) && strcmp(fp1, fp2));
    CHECK(a.classes && !strcmp(a.classes[1], "dog"));
    sd_dataset_free(&a), sd_dataset_free(&b), sd_dataset_free(&a2), sd_dataset_free(&b2);
    sd_dataset_free(&d);
    /* gray, a given size, crop */
    CHECK(sd_dataset_load_folder(dir, &(sd_folder_opts){ .w = 8, .h = 6, .channels = 1, .fit = SD_FIT_MODE_CROP }, &d, &r) == 0);
    CHECK(d.c == 1 && d.h == 6 && d.w == 8 && r.resized == 10);
    sd_dataset_free(&d);
    /* the model's classes: a folder it does not know is an error */
    const char *known[] = { "bird", "cat", "dog" };
    CHECK(sd_dataset_load_folder(dir, &(sd_folder_opts){ .classes = known, .nclass = 3 }, &d, NULL) == 0);
    CHECK(d.nclass == 3 && d.labels[0] == 1 && d.labels[9] == 2);
    sd_dataset_free(&d);
    CHECK(sd_dataset_load_folder(dir, &(sd_folder_opts){ .classes = known + 2, .nclass = 1 }, &d, NULL) == -1 &&
          error_has("the model has no class 'cat'"));
    /* a broken picture: an error naming it, or skipped and counted */
    snprintf(p, sizeof p, "%s/set/dog/broken.jpg", root);
    write_file(p, "\xff\xd8\xff\xe0 not really", 15);
    CHECK(sd_dataset_load_folder(dir, NULL, &d, &r) == -1 && error_has("broken.jpg") && error_has("--skip-bad"));
    CHECK(sd_dataset_load_folder(dir, &(sd_folder_opts){ .skip_bad = 1 }, &d, &r) == 0 && d.n == 10 && r.bad == 1 &&
          strstr(r.first_bad, "broken.jpg"));
    sd_dataset_free(&d);
    unlink(p);
    /* an empty class folder; one class only; no class folders; not a folder */
    mkdirf("%s/set/%s", "empty");
    CHECK(sd_dataset_load_folder(dir, NULL, &d, NULL) == -1 && error_has("set/empty: an empty class folder"));
    snprintf(p, sizeof p, "%s/set/empty", root);
    rmdir(p);
    snprintf(p, sizeof p, "%s/set/cat", root);
    CHECK(sd_dataset_load_folder(p, NULL, &d, NULL) == -1 && error_has("no class folders"));
    mkdirf("%s/%s", "one");
    mkdirf("%s/one/%s", "only");
    snprintf(p, sizeof p, "%s/one", root);
    CHECK(sd_dataset_load_folder(p, NULL, &d, NULL) == -1 && error_has("only one class folder ('only')"));
    CHECK(sd_dataset_load_folder("/nonexistent/dir", NULL, &d, NULL) == -1 && error_has("/nonexistent/dir"));
    CHECK(!sd_folder_has_split(dir));
}

int main(void)
{
    snprintf(root, sizeof root, "%s/test_folder.%d", check_tmpdir(), (int)getpid());
    mkdir(root, 0755);
    test_jpeg();
    test_fit();
    test_folder();
    char cmd[4300];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", root);
    if (system(cmd)) fprintf(stderr, "could not remove %s\n", root);
    return check_done("test_folder");
}
