/* Output and input paths (issue 15, points 2, 3, 6): what sd_write_atomic does
 * with devices, FIFOs, symlinks and the temporary files of killed writers; the
 * readers refusing a FIFO at once; a text corpus refused from its size; and
 * sd_paths_check refusing an output that is an input. An alarm turns a reader
 * that blocks (the bug) into a failure instead of a hung test. */
#define _XOPEN_SOURCE 700
#include "check.h"
#include "shendu.h"
#include "shendu/io.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

static char dir[1024];

static void path_in(char *buf, size_t cap, const char *name) { snprintf(buf, cap, "%s/%s", dir, name); }

static void write_file(const char *path, const char *text)
{
    FILE *f = fopen(path, "wb");
    if (f) { fputs(text, f); fclose(f); }
}

static int read_text(const char *path, char *buf, size_t cap)
{
    FILE *f = fopen(path, "rb");
    if (!f) return -1;
    size_t n = fread(buf, 1, cap - 1, f);
    buf[n] = 0;
    fclose(f);
    return (int)n;
}

static int has(const char *msg, const char *part) { return strstr(msg, part) != NULL; }

static void on_alarm(int sig) { (void)sig; static const char m[] = "test_paths: a reader blocked\n"; write(2, m, sizeof m - 1); _exit(1); }

static const sd_chunk hello = { "hello", 5 };

static void test_special_outputs(void)
{
    char fifo[1100], out[1100], buf[64];
    path_in(fifo, sizeof fifo, "out.fifo");
    unlink(fifo);
    CHECK(mkfifo(fifo, 0600) == 0);
    /* no reader: refused with a message, the FIFO stays a FIFO (never renamed over) */
    CHECK(sd_write_atomic(fifo, &hello, 1) == -1);
    CHECK_MSG(has(sd_last_error(), "no reader"), "%s", sd_last_error());
    struct stat st;
    CHECK(lstat(fifo, &st) == 0 && S_ISFIFO(st.st_mode));
    /* with a reader: written through */
    int rfd = open(fifo, O_RDONLY | O_NONBLOCK);
    CHECK(rfd >= 0);
    CHECK_MSG(sd_write_atomic(fifo, &hello, 1) == 0, "%s", sd_last_error());
    ssize_t k = read(rfd, buf, sizeof buf);
    CHECK(k == 5 && !memcmp(buf, "hello", 5));
    close(rfd);
    CHECK(lstat(fifo, &st) == 0 && S_ISFIFO(st.st_mode));

    /* a character device (a null device of our own when we may make one) */
    char dev[1100];
    path_in(dev, sizeof dev, "null.dev");
    unlink(dev);
    const char *null_dev = "/dev/null";
    if (mknod(dev, S_IFCHR | 0666, makedev(1, 3)) == 0) null_dev = dev;
    else printf("test_paths: cannot mknod (%s): writing to /dev/null itself\n", strerror(errno));
    CHECK_MSG(sd_write_atomic(null_dev, &hello, 1) == 0, "%s", sd_last_error());
    CHECK(stat(null_dev, &st) == 0 && S_ISCHR(st.st_mode));
    CHECK(stat("/dev/null", &st) == 0 && S_ISCHR(st.st_mode));
    CHECK(sd_path_check_writable(null_dev, "--logits") == 0);

    /* a directory is refused, not replaced */
    path_in(out, sizeof out, "a-dir");
    mkdir(out, 0700);
    CHECK(sd_write_atomic(out, &hello, 1) == -1 && has(sd_last_error(), "a directory"));
    CHECK(stat(out, &st) == 0 && S_ISDIR(st.st_mode));
    CHECK(sd_path_check_writable(out, "--out") == -1 && has(sd_last_error(), "a directory"));
}

static void test_symlink_and_mode(void)
{
    char target[1100], link[1100], buf[64];
    path_in(target, sizeof target, "target.bin");
    path_in(link, sizeof link, "link.bin");
    unlink(target);
    unlink(link);
    write_file(target, "old");
    CHECK(chmod(target, 0604) == 0);
    CHECK(symlink("target.bin", link) == 0);   /* relative to the link's directory */
    CHECK_MSG(sd_write_atomic(link, &hello, 1) == 0, "%s", sd_last_error());
    struct stat st;
    CHECK(lstat(link, &st) == 0 && S_ISLNK(st.st_mode));   /* the link stays a link */
    CHECK(read_text(target, buf, sizeof buf) == 5 && !strcmp(buf, "hello"));
    CHECK(stat(target, &st) == 0 && (st.st_mode & 0777) == 0604);   /* and the target keeps its permissions */
    /* a dangling link: the file is created where it points */
    unlink(target);
    CHECK_MSG(sd_write_atomic(link, &hello, 1) == 0, "%s", sd_last_error());
    CHECK(lstat(link, &st) == 0 && S_ISLNK(st.st_mode));
    CHECK(read_text(target, buf, sizeof buf) == 5);
}

/* A process id that does not run: a child that has exited and been reaped. */
static pid_t dead_pid(void)
{
    pid_t p = fork();
    if (p == 0) _exit(0);
    waitpid(p, NULL, 0);
    return p;
}

static void test_stale_temps(void)
{
    char path[1100], stale[1200], live[1200], other[1200];
    path_in(path, sizeof path, "model.st");
    snprintf(stale, sizeof stale, "%s.tmp.%ld", path, (long)dead_pid());
    snprintf(live, sizeof live, "%s.tmp.%ld", path, (long)getppid());   /* a writer that still runs */
    snprintf(other, sizeof other, "%s/othermodel.st.tmp.%ld", dir, (long)dead_pid());
    write_file(stale, "torn");
    write_file(live, "busy");
    write_file(other, "not ours");
    CHECK_MSG(sd_write_atomic(path, &hello, 1) == 0, "%s", sd_last_error());
    CHECK(access(stale, F_OK) == -1);   /* what a SIGKILL left is gone */
    CHECK(access(live, F_OK) == 0);     /* a live writer's is not touched */
    CHECK(access(other, F_OK) == 0);    /* nor another file's */
    unlink(live);
    unlink(other);
}

static void test_readers_refuse_fifo(void)
{
    char fifo[1100];
    path_in(fifo, sizeof fifo, "in.fifo");
    unlink(fifo);
    CHECK(mkfifo(fifo, 0600) == 0);
    signal(SIGALRM, on_alarm);
    alarm(20);
    CHECK(sd_file_open_read(fifo, NULL) == -1 && has(sd_last_error(), "a FIFO, not a regular file"));
    CHECK(sd_st_open(fifo) == NULL && has(sd_last_error(), "FIFO"));
    sd_idx idx;
    CHECK(sd_idx_load(fifo, &idx) == -1 && has(sd_last_error(), "FIFO"));
    sd_image im;
    CHECK(sd_image_load_png(fifo, &im) == -1 && has(sd_last_error(), "FIFO"));
    sd_text t;
    CHECK(sd_text_load(fifo, &t) == -1 && has(sd_last_error(), "FIFO"));
    CHECK(sd_text_load("/dev/zero", &t) == -1 && has(sd_last_error(), "character device"));
    CHECK(sd_st_open("/dev/zero") == NULL && has(sd_last_error(), "character device"));
    CHECK(sd_st_open(dir) == NULL && has(sd_last_error(), "a directory"));

    /* a text corpus over the limit is refused from its size (a sparse file: nothing is read) */
    char big[1100];
    path_in(big, sizeof big, "big.txt");
    int fd = open(big, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    CHECK(fd >= 0 && ftruncate(fd, ((off_t)1 << 31) + 1) == 0);
    close(fd);
    CHECK(sd_text_load(big, &t) == -1 && has(sd_last_error(), "limit"));
    /* under the limit, a stop asked during the read ends it between two reads (here: before the first) */
    fd = open(big, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    CHECK(fd >= 0 && ftruncate(fd, (off_t)1 << 30) == 0);
    close(fd);
    volatile sig_atomic_t stop = 1;
    CHECK(sd_text_load_with(big, &stop, &t) == 1 && t.data == NULL && t.n == 0);
    unlink(big);
    alarm(0);
}

static void test_paths_check(void)
{
    char model[1100], other[1100], hard[1100], sym[1100], fresh[1100], via[1100], ck[1100], sub[1100],
        inner[1100], nodir[1100];
    path_in(model, sizeof model, "m.st");
    path_in(other, sizeof other, "o.st");
    path_in(hard, sizeof hard, "m-hard.st");
    path_in(sym, sizeof sym, "m-sym.st");
    path_in(fresh, sizeof fresh, "fresh.st");
    path_in(via, sizeof via, "a-dir/../fresh.st");
    path_in(ck, sizeof ck, "ck.st");
    path_in(sub, sizeof sub, "corpus");
    path_in(inner, sizeof inner, "corpus/new.st");
    path_in(nodir, sizeof nodir, "no-such-dir/x.st");
    unlink(hard); unlink(sym); unlink(fresh);
    write_file(model, "m");
    CHECK(link(model, hard) == 0);
    CHECK(symlink(model, sym) == 0);
    mkdir(sub, 0700);

    sd_path_use same[] = { { model, SD_PATH_INPUT, "the model" }, { model, SD_PATH_OUTPUT, "--logits" } };
    CHECK(sd_paths_check(same, 2) == -1 && has(sd_last_error(), "--logits") && has(sd_last_error(), "the model"));
    sd_path_use hardl[] = { { model, SD_PATH_INPUT, "the model" }, { hard, SD_PATH_OUTPUT, "--out" } };
    CHECK(sd_paths_check(hardl, 2) == -1);
    sd_path_use syml[] = { { model, SD_PATH_INPUT, "the model" }, { sym, SD_PATH_OUTPUT, "--out" } };
    CHECK(sd_paths_check(syml, 2) == -1);
    /* two outputs that do not exist yet but are the same place */
    sd_path_use twice[] = { { fresh, SD_PATH_CHECKPOINT, "--checkpoint" }, { via, SD_PATH_OUTPUT, "--out" } };
    CHECK(sd_paths_check(twice, 2) == -1 && has(sd_last_error(), "same file"));
    CHECK(access(fresh, F_OK) == -1);   /* refused before anything was created */
    /* a resumed checkpoint may be written in place, but not replaced by --out */
    write_file(ck, "c");
    sd_path_use resume[] = { { ck, SD_PATH_RESUME, "--resume" }, { ck, SD_PATH_CHECKPOINT, "--checkpoint" },
                             { other, SD_PATH_OUTPUT, "--out" } };
    CHECK_MSG(sd_paths_check(resume, 3) == 0, "%s", sd_last_error());
    resume[2].path = ck;
    CHECK(sd_paths_check(resume, 3) == -1);
    /* an output inside a directory read whole */
    sd_path_use corpus[] = { { sub, SD_PATH_INPUT_DIR, "--text" }, { inner, SD_PATH_OUTPUT, "--out" } };
    CHECK(sd_paths_check(corpus, 2) == -1 && has(sd_last_error(), "read whole"));
    /* writability before any work */
    sd_path_use nowhere[] = { { model, SD_PATH_INPUT, "the model" }, { nodir, SD_PATH_OUTPUT, "--out" } };
    CHECK(sd_paths_check(nowhere, 2) == -1 && has(sd_last_error(), "cannot write there"));
    sd_path_use outdir[] = { { model, SD_PATH_OUTPUT_DIR, "--out" } };
    CHECK(sd_paths_check(outdir, 1) == -1 && has(sd_last_error(), "not a directory"));
    sd_path_use fine[] = { { model, SD_PATH_INPUT, "the model" }, { other, SD_PATH_OUTPUT, "--out" },
                           { NULL, SD_PATH_OUTPUT, "--logits" }, { sub, SD_PATH_OUTPUT_DIR, "--dir" } };
    CHECK_MSG(sd_paths_check(fine, 4) == 0, "%s", sd_last_error());
    CHECK(access(other, F_OK) == -1);   /* the check leaves nothing behind */
}

int main(void)
{
    snprintf(dir, sizeof dir, "%s/test_paths.%ld", check_tmpdir(), (long)getpid());
    mkdir(check_tmpdir(), 0777);
    if (mkdir(dir, 0700)) { perror(dir); return 1; }
    test_special_outputs();
    test_symlink_and_mode();
    test_stale_temps();
    test_readers_refuse_fifo();
    test_paths_check();
    char cmd[1200];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    if (system(cmd)) fprintf(stderr, "test_paths: could not remove %s\n", dir);
    return check_done("test_paths");
}
