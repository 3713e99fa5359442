/* IDX reading (raw and gzip), validation messages, MNIST-layout loading and
 * the data-directory default. Writes its own small files under check_tmpdir(). */
#define _POSIX_C_SOURCE 200809L
#include "check.h"
#include "shendu/data.h"

#include <stdint.h>
#include <string.h>
#include <sys/stat.h>
#include <zlib.h>

static char tmp[1024];

static const char *tpath(const char *name)
{
    static char buf[4][1200];
    static int k;
    k = (k + 1) % 4;
    snprintf(buf[k], sizeof buf[k], "%s/%s", tmp, name);
    return buf[k];
}

static int has(const char *hay, const char *needle) { return hay && strstr(hay, needle) != NULL; }

/* Build an IDX image in memory: header for (type, dims) then `n` data bytes. */
static size_t make_idx(unsigned char *buf, uint8_t type, int ndim, const uint32_t *dims,
                       const uint8_t *data, size_t n)
{
    buf[0] = 0;
    buf[1] = 0;
    buf[2] = type;
    buf[3] = (unsigned char)ndim;
    for (int i = 0; i < ndim; i++) {
        buf[4 + 4 * i] = (unsigned char)(dims[i] >> 24);
        buf[5 + 4 * i] = (unsigned char)(dims[i] >> 16);
        buf[6 + 4 * i] = (unsigned char)(dims[i] >> 8);
        buf[7 + 4 * i] = (unsigned char)dims[i];
    }
    size_t h = 4 + 4 * (size_t)ndim;
    if (n) memcpy(buf + h, data, n);
    return h + n;
}

static void write_raw(const char *path, const void *p, size_t n)
{
    FILE *f = fopen(path, "wb");
    if (!f) { perror(path); exit(2); }
    if (n) fwrite(p, 1, n, f);
    fclose(f);
}

static void write_gz(const char *path, const void *p, size_t n)
{
    gzFile g = gzopen(path, "wb");
    if (!g) { perror(path); exit(2); }
    if (n) gzwrite(g, p, (unsigned)n);
    gzclose(g);
}

static size_t read_all(const char *path, unsigned char *buf, size_t cap)
{
    FILE *f = fopen(path, "rb");
    if (!f) return 0;
    size_t n = fread(buf, 1, cap, f);
    fclose(f);
    return n;
}

/* Write an MNIST-layout split (n images of h×w, labels i % 7) into dir. */
static void write_split(const char *dir, const char *split, uint32_t nimg, uint32_t nlab,
                        uint32_t h, uint32_t w, int gz)
{
    static unsigned char buf[1 << 16];
    uint8_t data[4096];
    char path[1400];
    uint32_t idims[3] = { nimg, h, w };
    for (size_t i = 0; i < (size_t)nimg * h * w; i++) data[i] = (uint8_t)(i * 3);
    size_t len = make_idx(buf, 0x08, 3, idims, data, (size_t)nimg * h * w);
    snprintf(path, sizeof path, "%s/%s-images-idx3-ubyte%s", dir, split, gz ? ".gz" : "");
    (gz ? write_gz : write_raw)(path, buf, len);
    for (uint32_t i = 0; i < nlab; i++) data[i] = (uint8_t)(i % 7);
    len = make_idx(buf, 0x08, 1, &nlab, data, nlab);
    snprintf(path, sizeof path, "%s/%s-labels-idx1-ubyte%s", dir, split, gz ? ".gz" : "");
    (gz ? write_gz : write_raw)(path, buf, len);
}

static void test_good(void)
{
    unsigned char buf[256];
    uint8_t data[24];
    for (int i = 0; i < 24; i++) data[i] = (uint8_t)(i * 10);
    uint32_t dims[3] = { 2, 3, 4 };
    size_t len = make_idx(buf, 0x08, 3, dims, data, 24);
    for (int gz = 0; gz < 2; gz++) {
        const char *p = tpath(gz ? "good.idx.gz" : "good.idx");
        (gz ? write_gz : write_raw)(p, buf, len);
        sd_idx idx;
        int rc = sd_idx_load(p, &idx);
        CHECK_MSG(rc == 0, "%s", sd_last_error());
        if (rc) continue;
        CHECK(idx.ndim == 3);
        CHECK(idx.dims[0] == 2 && idx.dims[1] == 3 && idx.dims[2] == 4);
        CHECK(idx.type == 0x08);
        CHECK(idx.n == 24);
        CHECK(memcmp(idx.data, data, 24) == 0);
        sd_idx_free(&idx);
        CHECK(idx.data == NULL && idx.n == 0);
    }
    sd_idx_free(NULL);

    /* A gzip file whose name does not end in .gz is still detected by its magic. */
    write_gz(tpath("gz-without-suffix"), buf, len);
    sd_idx idx;
    CHECK(sd_idx_load(tpath("gz-without-suffix"), &idx) == 0);
    sd_idx_free(&idx);

    /* 1-dim and 4-dim, and a zero-length dimension. */
    uint32_t d1 = 5, d4[4] = { 1, 2, 1, 3 }, d0[2] = { 0, 9 };
    len = make_idx(buf, 0x08, 1, &d1, data, 5);
    write_raw(tpath("one.idx"), buf, len);
    CHECK(sd_idx_load(tpath("one.idx"), &idx) == 0 && idx.ndim == 1 && idx.n == 5);
    sd_idx_free(&idx);
    len = make_idx(buf, 0x08, 4, d4, data, 6);
    write_raw(tpath("four.idx"), buf, len);
    CHECK(sd_idx_load(tpath("four.idx"), &idx) == 0 && idx.ndim == 4 && idx.n == 6 && idx.data[5] == 50);
    sd_idx_free(&idx);
    len = make_idx(buf, 0x08, 2, d0, data, 0);
    write_raw(tpath("zero.idx"), buf, len);
    CHECK(sd_idx_load(tpath("zero.idx"), &idx) == 0 && idx.n == 0);
    sd_idx_free(&idx);
}

static void test_bad(void)
{
    unsigned char buf[256];
    uint8_t data[24] = { 0 };
    uint32_t dims[3] = { 2, 3, 4 };
    size_t len = make_idx(buf, 0x08, 3, dims, data, 24);
    sd_idx idx;
    const char *e;

    /* Truncated data, raw and gz: message names the file, says truncated, gives counts. */
    const char *p = tpath("trunc.idx");
    write_raw(p, buf, len - 5);
    CHECK(sd_idx_load(p, &idx) == -1);
    e = sd_last_error();
    CHECK_MSG(has(e, p) && has(e, "truncated") && has(e, "expected 24") && has(e, "found 19")
              && has(e, "16-byte header"), "%s", e);
    CHECK(idx.data == NULL);
    p = tpath("trunc.idx.gz");
    write_gz(p, buf, len - 1);
    CHECK(sd_idx_load(p, &idx) == -1);
    e = sd_last_error();
    CHECK_MSG(has(e, p) && has(e, "truncated"), "%s", e);

    /* Trailing garbage. */
    p = tpath("trailing.idx");
    buf[len] = 7;
    write_raw(p, buf, len + 1);
    CHECK(sd_idx_load(p, &idx) == -1);
    e = sd_last_error();
    CHECK_MSG(has(e, p) && has(e, "trailing") && has(e, "offset 40"), "%s", e);

    /* Wrong magic. */
    p = tpath("magic.idx");
    buf[0] = 0x12;
    write_raw(p, buf, len);
    buf[0] = 0;
    CHECK(sd_idx_load(p, &idx) == -1);
    e = sd_last_error();
    CHECK_MSG(has(e, p) && has(e, "magic") && has(e, "offset 0"), "%s", e);

    /* Unsupported type (float32). */
    p = tpath("float.idx");
    buf[2] = 0x0D;
    write_raw(p, buf, len);
    buf[2] = 0x08;
    CHECK(sd_idx_load(p, &idx) == -1);
    e = sd_last_error();
    CHECK_MSG(has(e, p) && has(e, "0x0d") && has(e, "float32") && has(e, "unsupported"), "%s", e);

    /* Bad dimension counts. */
    p = tpath("ndim.idx");
    buf[3] = 0;
    write_raw(p, buf, len);
    CHECK(sd_idx_load(p, &idx) == -1 && has(sd_last_error(), "dimension count 0"));
    buf[3] = 5;
    write_raw(p, buf, len);
    CHECK(sd_idx_load(p, &idx) == -1 && has(sd_last_error(), "dimension count 5"));
    buf[3] = 3;

    /* Huge claims: over the cap, and over 64 bits; a small file claiming a big
     * tensor must fail as truncated without allocating the claim. */
    uint32_t huge[4] = { 0xFFFFFFFFu, 0xFFFFFFFFu, 0xFFFFFFFFu, 0xFFFFFFFFu };
    size_t hl = make_idx(buf, 0x08, 4, huge, data, 0);
    p = tpath("huge.idx");
    write_raw(p, buf, hl);
    CHECK(sd_idx_load(p, &idx) == -1 && has(sd_last_error(), "more than"));
    uint32_t big[2] = { 30000, 30000 };   /* 900 MB claimed, under the cap */
    hl = make_idx(buf, 0x08, 2, big, data, 10);
    p = tpath("big.idx.gz");
    write_gz(p, buf, hl);
    CHECK(sd_idx_load(p, &idx) == -1 && has(sd_last_error(), "truncated"));

    /* Empty file, and headers cut short. */
    p = tpath("empty.idx");
    write_raw(p, "", 0);
    CHECK(sd_idx_load(p, &idx) == -1);
    e = sd_last_error();
    CHECK_MSG(has(e, p) && has(e, "empty"), "%s", e);
    write_gz(tpath("empty.idx.gz"), "", 0);
    CHECK(sd_idx_load(tpath("empty.idx.gz"), &idx) == -1 && has(sd_last_error(), "empty"));
    write_raw(p, buf, 3);
    CHECK(sd_idx_load(p, &idx) == -1 && has(sd_last_error(), "truncated header"));
    write_raw(p, buf, 10);
    CHECK(sd_idx_load(p, &idx) == -1 && has(sd_last_error(), "truncated header"));

    /* Missing file. */
    CHECK(sd_idx_load(tpath("no-such-file.idx"), &idx) == -1 && has(sd_last_error(), "no-such-file"));
    CHECK(sd_idx_load(NULL, &idx) == -1);
}

/* Cut a gzip file at every length, and flip bytes in it: always an error
 * (except the full length), never a crash. */
static void test_gz_cuts(void)
{
    static unsigned char raw[4096], gz[8192];
    static uint8_t data[2000];
    for (int i = 0; i < 2000; i++) data[i] = (uint8_t)((i * 7919) >> 3);
    uint32_t dims[2] = { 40, 50 };
    size_t len = make_idx(raw, 0x08, 2, dims, data, 2000);
    const char *full = tpath("cut-full.idx.gz");
    write_gz(full, raw, len);
    size_t gzlen = read_all(full, gz, sizeof gz);
    CHECK(gzlen > 20 && gzlen < sizeof gz);
    const char *p = tpath("cut.idx.gz");
    int bad_ok = 0, mid_msg = 0;
    sd_idx idx;
    for (size_t cut = 0; cut < gzlen; cut++) {
        write_raw(p, gz, cut);
        if (sd_idx_load(p, &idx) == -1) bad_ok++;
        else sd_idx_free(&idx);
        if (cut == gzlen / 2)
            mid_msg = has(sd_last_error(), p) && has(sd_last_error(), "truncated");
    }
    CHECK_MSG(bad_ok == (int)gzlen, "%d of %zu cut files were rejected", bad_ok, gzlen);
    CHECK_MSG(mid_msg, "mid-stream cut message: %s", sd_last_error());
    write_raw(p, gz, gzlen);
    CHECK(sd_idx_load(p, &idx) == 0 && idx.n == 2000 && memcmp(idx.data, data, 2000) == 0);
    sd_idx_free(&idx);

    /* Corrupt bytes inside the deflate stream: rejected or (if the damage is
     * undetectable, which CRC-32 makes all but impossible) loaded intact. */
    int rejected = 0;
    for (size_t i = 10; i < gzlen; i += 7) {
        gz[i] ^= 0x5a;
        write_raw(p, gz, gzlen);
        if (sd_idx_load(p, &idx) == -1) rejected++;
        else sd_idx_free(&idx);
        gz[i] ^= 0x5a;
    }
    CHECK(rejected > 0);

    /* Raw file cut at every length. */
    p = tpath("cut.idx");
    int raw_bad = 0;
    for (size_t cut = 0; cut < len; cut++) {
        write_raw(p, raw, cut);
        if (sd_idx_load(p, &idx) == -1) raw_bad++;
        else sd_idx_free(&idx);
    }
    CHECK(raw_bad == (int)len);
}

static void test_save(void)
{
    uint8_t data[12];
    for (int i = 0; i < 12; i++) data[i] = (uint8_t)(200 + i);
    sd_idx in = { .ndim = 2, .dims = { 3, 4 }, .type = 0x08, .n = 12, .data = data };
    const char *names[2] = { "saved.idx", "saved.idx.gz" };
    for (int k = 0; k < 2; k++) {
        const char *p = tpath(names[k]);
        int rc = sd_idx_save(p, &in);
        CHECK_MSG(rc == 0, "%s", sd_last_error());
        unsigned char head[2] = { 0, 0 };
        read_all(p, head, 2);
        CHECK(k == 1 ? (head[0] == 0x1f && head[1] == 0x8b) : (head[0] == 0 && head[1] == 0));
        sd_idx out;
        rc = sd_idx_load(p, &out);
        CHECK_MSG(rc == 0, "%s", sd_last_error());
        if (rc) continue;
        CHECK(out.ndim == 2 && out.dims[0] == 3 && out.dims[1] == 4 && out.n == 12);
        CHECK(memcmp(out.data, data, 12) == 0);
        sd_idx_free(&out);
    }
    sd_idx badn = in;
    badn.n = 11;
    CHECK(sd_idx_save(tpath("bad.idx"), &badn) == -1);
    sd_idx badt = in;
    badt.type = 0x0C;
    CHECK(sd_idx_save(tpath("bad.idx"), &badt) == -1);
}

static void test_mnist_layout(void)
{
    char dir[1200];
    sd_dataset d;

    /* Good split, gz and raw. */
    for (int gz = 0; gz < 2; gz++) {
        snprintf(dir, sizeof dir, "%s/mnist-good-%d", tmp, gz);
        mkdir(dir, 0777);
        write_split(dir, "train", 5, 5, 3, 2, gz);
        int rc = sd_dataset_load_mnist(dir, "train", &d);
        CHECK_MSG(rc == 0, "%s", sd_last_error());
        if (rc) continue;
        CHECK(d.n == 5 && d.c == 1 && d.h == 3 && d.w == 2);
        CHECK(d.nclass == 5);   /* labels 0..4 */
        CHECK(d.images[7] == 21 && d.labels[4] == 4);
        sd_dataset_truncate(&d, 2);
        CHECK(d.n == 2 && d.nclass == 5);
        sd_dataset_truncate(&d, 10);
        CHECK(d.n == 2);
        sd_dataset_free(&d);
        CHECK(d.images == NULL);
    }
    sd_dataset_free(NULL);

    /* Wrong counts: message names both files and both counts. */
    snprintf(dir, sizeof dir, "%s/mnist-count", tmp);
    mkdir(dir, 0777);
    write_split(dir, "train", 6, 4, 2, 2, 1);
    CHECK(sd_dataset_load_mnist(dir, "train", &d) == -1);
    const char *e = sd_last_error();
    CHECK_MSG(has(e, "train-images-idx3-ubyte.gz") && has(e, "train-labels-idx1-ubyte.gz")
              && has(e, "6 images") && has(e, "4 labels"), "%s", e);
    CHECK(d.images == NULL);

    /* Missing split file in an existing directory. */
    CHECK(sd_dataset_load_mnist(dir, "t10k", &d) == -1);
    CHECK_MSG(has(sd_last_error(), "t10k-images-idx3-ubyte"), "%s", sd_last_error());

    /* Images with the wrong rank. */
    snprintf(dir, sizeof dir, "%s/mnist-rank", tmp);
    mkdir(dir, 0777);
    write_split(dir, "train", 3, 3, 2, 2, 0);
    {
        unsigned char buf[64];
        uint8_t px[12] = { 0 };
        uint32_t dims2[2] = { 3, 4 };
        char path[1400];
        snprintf(path, sizeof path, "%s/train-images-idx3-ubyte", dir);
        write_raw(path, buf, make_idx(buf, 0x08, 2, dims2, px, 12));
    }
    CHECK(sd_dataset_load_mnist(dir, "train", &d) == -1 && has(sd_last_error(), "3 dimensions"));

    /* Missing directory: the message says how to install the data. */
    snprintf(dir, sizeof dir, "%s/no-such-data-dir", tmp);
    CHECK(sd_dataset_load_mnist(dir, "train", &d) == -1);
    e = sd_last_error();
    CHECK_MSG(has(e, dir) && has(e, "not found") && has(e, "apt-get install dataset-fashion-mnist"),
              "%s", e);
}

static void test_default_dir(void)
{
    setenv("SHENDU_DATA", "/some/where", 1);
    CHECK(strcmp(sd_data_default_dir(), "/some/where") == 0);
    setenv("SHENDU_DATA", "", 1);
    const char *d = sd_data_default_dir();
    struct stat st;
    int local = stat("data/fashion-mnist", &st) == 0 && S_ISDIR(st.st_mode);
    CHECK(strcmp(d, local ? "data/fashion-mnist" : "/usr/share/datasets/fashion-mnist") == 0);
    unsetenv("SHENDU_DATA");
    CHECK(strcmp(sd_data_default_dir(), d) == 0);
}

static void test_real(void)
{
    const char *dir = "/usr/share/datasets/fashion-mnist";
    struct stat st;
    if (stat(dir, &st) != 0) {
        printf("test_idx: note: %s absent, skipping the real Fashion-MNIST check\n", dir);
        return;
    }
    const char *splits[2] = { "train", "t10k" };
    const int counts[2] = { 60000, 10000 };
    for (int s = 0; s < 2; s++) {
        sd_dataset d;
        int rc = sd_dataset_load_mnist(dir, splits[s], &d);
        CHECK_MSG(rc == 0, "%s", sd_last_error());
        if (rc) continue;
        CHECK(d.n == counts[s] && d.c == 1 && d.h == 28 && d.w == 28 && d.nclass == 10);
        int hist[10] = { 0 };
        for (int i = 0; i < d.n; i++) if (d.labels[i] < 10) hist[d.labels[i]]++;
        for (int k = 0; k < 10; k++) CHECK(hist[k] == counts[s] / 10);   /* balanced classes */
        sd_dataset_free(&d);
    }
}

int main(void)
{
    snprintf(tmp, sizeof tmp, "%s/test_idx", check_tmpdir());
    mkdir(check_tmpdir(), 0777);
    mkdir(tmp, 0777);
    test_good();
    test_bad();
    test_gz_cuts();
    test_save();
    test_mnist_layout();
    test_default_dir();
    test_real();
    return check_done("test_idx");
}
