/* Metric logs (issue 17): records written and read back in both formats, a
 * resume that appends without duplicate steps, bad files refused with the
 * line named, and plots: the PNG decoded with its size and inked pixels. */
#include "apps/metlog.h"
#include "check.h"
#include "shendu.h"

#include <string.h>

static const char *const keys[] = { "loss", "lr", "test_accuracy", NULL };
static double scale = 1.0;   /* the runs' losses: scale / step */

static void write_run(const char *path, int from, int to, int resume, int64_t resume_step)
{
    sd_metlog *l = sd_metlog_open(&(sd_metlog_opts){ .path = path, .keys = keys, .resume = resume,
                                                     .resume_step = resume_step });
    CHECK_MSG(l != NULL, "%s", sd_last_error());
    if (!l) return;
    for (int s = from; s <= to; s++) {
        if (s % 5 == 0) CHECK(sd_metlog_write(l, SD_REC_STEP, s, (s - 1) / 10 + 1, (double[]){ scale / s, 1e-3 * scale, NAN }) == 0);
        if (s % 10 == 0) CHECK(sd_metlog_write(l, SD_REC_EPOCH, s, s / 10, (double[]){ NAN, NAN, 0.5 + s / 100.0 }) == 0);
    }
    CHECK(sd_metlog_close(l) == 0);
}

static int count_lines(const char *path)
{
    FILE *f = fopen(path, "r");
    int n = 0, c;
    while (f && (c = fgetc(f)) != EOF) n += c == '\n';
    if (f) fclose(f);
    return n;
}

static void check_table(const char *path, int header)
{
    CHECK(count_lines(path) == header + 6 + 3);   /* steps 5..30 by 5, epochs at 10, 20, 30 */
    sd_metlog_table t;
    CHECK_MSG(sd_metlog_read(path, &t) == 0, "%s", sd_last_error());
    CHECK(t.nrow == 9 && t.ncol == 7);
    int cl = sd_metlog_col(&t, "loss"), ca = sd_metlog_col(&t, "test_accuracy");
    CHECK(cl == 4 && ca == 6 && sd_metlog_col(&t, "time") == 3);
    int steps = 0, epochs = 0;
    double last_step = 0;
    for (int r = 0; r < t.nrow && cl >= 0 && ca >= 0; r++) {
        const double *row = t.v + (size_t)r * t.ncol;
        if (row[0] == SD_REC_STEP) {
            steps++;
            CHECK(row[1] > last_step);   /* no step twice */
            last_step = row[1];
            CHECK_NEAR(row[cl], scale / row[1], 1e-6);
            CHECK(isnan(row[ca]));
        } else {
            epochs++;
            CHECK_NEAR(row[ca], 0.5 + row[1] / 100.0, 1e-6);
            CHECK(row[2] == row[1] / 10);
        }
        CHECK(row[3] >= 0);
    }
    CHECK(steps == 6 && epochs == 3);
    sd_metlog_table_free(&t);
}

static void write_text(const char *path, const char *s)
{
    FILE *f = fopen(path, "w");
    if (f) { fputs(s, f); fclose(f); }
}

int main(void)
{
    char json[512], csv[512], bad[512], png[512];
    snprintf(json, sizeof json, "%s/metlog.jsonl", check_tmpdir());
    snprintf(csv, sizeof csv, "%s/metlog.csv", check_tmpdir());
    snprintf(bad, sizeof bad, "%s/metlog-bad.jsonl", check_tmpdir());
    snprintf(png, sizeof png, "%s/metlog.png", check_tmpdir());

    for (int k = 0; k < 2; k++) {
        const char *path = k ? csv : json;
        scale = k ? 2.0 : 1.0;
        write_run(path, 1, 30, 0, 0);   /* one straight run */
        check_table(path, k);
        /* stopped after step 23 with the checkpoint at 20: the log holds records up
         * to 23; the resume drops 25.. (none yet) and re-does 21.. without repeats */
        write_run(path, 1, 23, 0, 0);
        write_run(path, 20, 30, 1, 20);   /* step 20's records again: not written twice */
        check_table(path, k);
        /* a checkpoint older than the log's end: the later records are replaced */
        write_run(path, 15, 30, 1, 14);
        check_table(path, k);
    }
    /* a CSV of another trainer's columns is refused on resume */
    const char *const other[] = { "d_loss", NULL };
    sd_metlog *l = sd_metlog_open(&(sd_metlog_opts){ .path = csv, .keys = other, .resume = 1, .resume_step = 5 });
    CHECK(l == NULL && strstr(sd_last_error(), "other columns"));
    sd_metlog_close(l);

    /* a line cut short by a crash is ignored; a malformed one is named */
    write_text(bad, "{\"kind\":\"step\",\"step\":1,\"loss\":2.5}\n{\"kind\":\"step\",\"step\":2,\"lo");
    sd_metlog_table t;
    CHECK(sd_metlog_read(bad, &t) == 0 && t.nrow == 1);
    sd_metlog_table_free(&t);
    write_text(bad, "{\"kind\":\"step\",\"step\":1,\"loss\":2.5}\n{\"kind\":\"step\" \"step\":2}\n");
    CHECK(sd_metlog_read(bad, &t) == -1 && strstr(sd_last_error(), "metlog-bad.jsonl:2: expected ':'") == NULL &&
          strstr(sd_last_error(), ":2: "));
    write_text(bad, "kind,step,epoch,time,loss\nstep,1,1,0.1,2.5\nstep,2,1\n");
    CHECK(sd_metlog_read(bad, &t) == -1 && strstr(sd_last_error(), ":3: 3 fields where the header has 5"));
    write_text(bad, "");
    CHECK(sd_metlog_read(bad, &t) == -1 && strstr(sd_last_error(), "no records"));

    /* the config line: any text goes through the one JSON writer and comes back (a tab, a
     * control byte, a quote, a backslash, UTF-8; a byte that is not UTF-8 becomes U+FFFD) */
    {
        sd_metlog *c = sd_metlog_open(&(sd_metlog_opts){ .path = bad, .keys = keys });
        CHECK_MSG(c != NULL, "%s", sd_last_error());
        const char *ck[] = { "cmd", "out" }, *cv[] = { "train", "a\tb\x01\"q\\ é \xff" };
        CHECK(c && sd_metlog_config(c, ck, cv, 2) == 0 &&
              sd_metlog_write(c, SD_REC_STEP, 1, 1, (double[]){ 1.0, NAN, NAN }) == 0);
        CHECK(sd_metlog_close(c) == 0);
        CHECK_MSG(sd_metlog_read(bad, &t) == 0, "%s", sd_last_error());
        const char *out = sd_metlog_config_get(&t, "out");
        CHECK_MSG(out && !strcmp(out, "a\tb\x01\"q\\ é \xef\xbf\xbd"), "out: %s", out ? out : "(none)");
        sd_metlog_table_free(&t);
    }

    /* plots: two runs, three measures; the PNG has its size and ink in each run's colour */
    sd_metlog_table runs[2];
    CHECK(sd_metlog_read(json, &runs[0]) == 0 && sd_metlog_read(csv, &runs[1]) == 0);
    const char *labels[2] = { "json run", "csv run" };
    sd_plot_opts po = { .width = 640, .smooth = 0.5, .log_y = 1 };
    CHECK_MSG(sd_plot_write(png, runs, labels, 2, &po) == 0, "%s", sd_last_error());
    sd_image im;
    CHECK_MSG(sd_image_load_png(png, &im) == 0, "%s", sd_last_error());
    if (im.px) {
        CHECK(im.w == 640 && im.h == 30 + 2 * 260 && im.c == 3);   /* legend + two rows of panels */
        long blue = 0, red = 0, dark = 0, other_px = 0;
        for (long i = 0; i < (long)im.w * im.h; i++) {
            const uint8_t *p = im.px + 3 * i;
            if (p[0] < 80 && p[1] < 130 && p[2] > 200) blue++;
            else if (p[0] > 200 && p[1] < 80 && p[2] < 80) red++;
            else if (p[0] < 90 && p[1] < 90 && p[2] < 90) dark++;   /* text */
            else if (!(p[0] >= 0xe5 && p[1] >= 0xe5 && p[2] >= 0xe5)) other_px++;
        }
        CHECK_MSG(blue > 300 && red > 300, "blue %ld red %ld", blue, red);
        CHECK_MSG(dark > 400, "text pixels %ld", dark);
        CHECK(other_px > 0);   /* anti-aliased edges: blends between colours */
        sd_image_free(&im);
    }
    char *svg = sd_plot_svg(runs, labels, 2, &po);
    CHECK(svg && strstr(svg, "class=\"series\" data-run=\"csv run\" data-measure=\"test_accuracy\""));
    free(svg);
    po.measures = (const char *const[]){ "nothing", NULL };
    CHECK(sd_plot_svg(runs, labels, 2, &po) == NULL && strstr(sd_last_error(), "nothing to plot"));
    sd_metlog_table_free(&runs[0]);
    sd_metlog_table_free(&runs[1]);
    /* numbers: a float's precision, shortest first; each reads back as the same float */
    char num[64];
    sd_fmt_float(num, sizeof num, 0.2f);
    CHECK_MSG(!strcmp(num, "0.2"), "%s", num);
    sd_fmt_float(num, sizeof num, 1e-3f);
    CHECK_MSG(!strcmp(num, "0.001"), "%s", num);
    const float hard[] = { nextafterf(0.1f, 1.0f), 3.4028235e38f, 1.17549435e-38f, -2.5e-7f, 123456.79f };
    for (int i = 0; i < 5; i++) {
        sd_fmt_float(num, sizeof num, hard[i]);
        CHECK_MSG(strtof(num, NULL) == hard[i] && strlen(num) <= 15, "%.9g -> %s", hard[i], num);
    }
    sd_fmt_float(num, sizeof num, 0.1);   /* a double: written with a float's precision */
    CHECK_MSG(!strcmp(num, "0.1"), "%s", num);
    return check_done("test_metlog");
}
