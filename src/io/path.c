/* What a path really is, before a command reads or writes it.
 *
 * Readers open inputs with sd_file_open_read: a FIFO or a device where a file
 * is expected is refused at once instead of blocking forever. Commands call
 * sd_paths_check with every path they read and write before any work: an
 * output that is the same file as an input (or as another output) is refused,
 * and every output is shown writable by creating and removing the temporary
 * file sd_write_atomic would use beside it. Paths are compared by device and
 * inode when both exist, else by their canonical form (symlinks resolved). */
#define _XOPEN_SOURCE 700

#include "shendu/io.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

const char *sd_file_kind(unsigned mode)
{
    if (S_ISREG(mode)) return "a regular file";
    if (S_ISDIR(mode)) return "a directory";
    if (S_ISFIFO(mode)) return "a FIFO";
    if (S_ISCHR(mode)) return "a character device";
    if (S_ISBLK(mode)) return "a block device";
    if (S_ISSOCK(mode)) return "a socket";
    return "a special file";
}

int sd_file_open_read(const char *path, uint64_t *size)
{
    if (!path || !*path) return sd_error("empty file name");
    /* O_NONBLOCK: opening a FIFO without a writer would otherwise wait forever */
    int fd = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC | O_NOCTTY);
    if (fd < 0) return sd_error("%s: cannot open: %s", path, strerror(errno));
    struct stat st;
    if (fstat(fd, &st) < 0) {
        int e = errno;
        close(fd);
        return sd_error("%s: cannot stat: %s", path, strerror(e));
    }
    if (!S_ISREG(st.st_mode)) {
        close(fd);
        return sd_error("%s: %s, not a regular file", path, sd_file_kind((unsigned)st.st_mode));
    }
    int flags = fcntl(fd, F_GETFL);
    if (flags < 0 || fcntl(fd, F_SETFL, flags & ~O_NONBLOCK) < 0) {
        int e = errno;
        close(fd);
        return sd_error("%s: fcntl: %s", path, strerror(e));
    }
    if (size) *size = (uint64_t)st.st_size;
    return fd;
}

/* ---- Resolving a path */

/* Follow the symlinks of path's last component (what sd_write_atomic replaces
 * is the link's target, not the link): the result in buf. */
int sd_path_target(const char *path, char *buf, size_t cap)
{
    if (!path || !*path) return sd_error("empty file name");
    if (strlen(path) >= cap) return sd_error("%s: path too long", path);
    strcpy(buf, path);
    for (int hops = 0;; hops++) {
        struct stat st;
        if (lstat(buf, &st) < 0 || !S_ISLNK(st.st_mode)) return 0;
        if (hops == 40) return sd_error("%s: too many levels of symbolic links", path);
        char link[PATH_MAX];
        ssize_t k = readlink(buf, link, sizeof link - 1);
        if (k < 0) return sd_error("%s: readlink: %s", buf, strerror(errno));
        link[k] = '\0';
        if (link[0] == '/') {
            if ((size_t)k >= cap) return sd_error("%s: path too long", path);
            strcpy(buf, link);
        } else {
            char *slash = strrchr(buf, '/');
            size_t dlen = slash ? (size_t)(slash - buf) + 1 : 0;
            if (dlen + (size_t)k >= cap) return sd_error("%s: path too long", path);
            memmove(buf + dlen, link, (size_t)k + 1);
        }
    }
}

/* Split path into its directory ("." when it has no slash) and last name. */
static void split(const char *path, char *dir, size_t dcap, const char **base)
{
    const char *slash = strrchr(path, '/');
    if (!slash) {
        snprintf(dir, dcap, ".");
        *base = path;
    } else if (slash == path) {
        snprintf(dir, dcap, "/");
        *base = slash + 1;
    } else {
        snprintf(dir, dcap, "%.*s", (int)(slash - path), path);
        *base = slash + 1;
    }
}

/* An absolute path naming the same place as path (which need not exist):
 * symlinks resolved where the path exists, the rest appended as written. */
static void canonical(const char *path, char *out, size_t cap, int depth)
{
    char target[PATH_MAX], dir[PATH_MAX];
    if (sd_path_target(path, target, sizeof target)) snprintf(target, sizeof target, "%s", path);
#ifndef __wasi__   /* WASI has no absolute paths (no realpath): the path as written, below */
    if (realpath(target, out)) return;
#endif
    const char *base;
    split(target, dir, sizeof dir, &base);
    while (*base == '/') base++;
    char d[PATH_MAX];
    if (depth > 64 || !strcmp(dir, target)) snprintf(d, sizeof d, "%s", dir);
    else canonical(dir, d, sizeof d, depth + 1);
    if (!*base || !strcmp(base, ".")) base = "";
    size_t dl = strlen(d), bl = strlen(base), sep = *base && strcmp(d, "/") ? 1 : 0;
    if (dl + sep + bl >= cap) {   /* too long to be a real path: compare it as written */
        snprintf(out, cap, "%s", path);
        return;
    }
    memcpy(out, d, dl);
    if (sep) out[dl] = '/';
    memcpy(out + dl + sep, base, bl + 1);
}

int sd_path_same(const char *a, const char *b)
{
    if (!a || !b) return 0;
    struct stat sa, sb;
    int ea = stat(a, &sa) == 0, eb = stat(b, &sb) == 0;
    if (ea && eb) return sa.st_dev == sb.st_dev && sa.st_ino == sb.st_ino;
    if (ea != eb) return 0;
    char ca[PATH_MAX], cb[PATH_MAX];
    canonical(a, ca, sizeof ca, 0);
    canonical(b, cb, sizeof cb, 0);
    return !strcmp(ca, cb);
}

/* 1 if path's directory is dir (the same directory by device and inode). */
static int inside(const char *path, const char *dir)
{
    char target[PATH_MAX], d[PATH_MAX];
    const char *base;
    if (sd_path_target(path, target, sizeof target)) return 0;
    split(target, d, sizeof d, &base);
    return sd_path_same(d, dir);
}

/* ---- Writability, checked the way the write will happen */

int sd_path_check_writable(const char *path, const char *what)
{
    char target[PATH_MAX];
    if (sd_path_target(path, target, sizeof target)) return sd_error_prefix("%s", what);
    struct stat st;
    if (lstat(target, &st) == 0 && !S_ISREG(st.st_mode)) {
        if (S_ISCHR(st.st_mode)) {   /* written through, like a shell redirection */
            int fd = open(target, O_WRONLY | O_NONBLOCK | O_CLOEXEC | O_NOCTTY);
            if (fd < 0) return sd_error("%s %s: cannot write there: %s", what, path, strerror(errno));
            close(fd);
            return 0;
        }
        if (S_ISFIFO(st.st_mode)) {  /* written through once a reader is there */
            if (access(target, W_OK)) return sd_error("%s %s: cannot write there: %s", what, path, strerror(errno));
            return 0;
        }
        return sd_error("%s %s is %s: an output must be a regular file (or a character device or FIFO, written "
                        "through)", what, path, sd_file_kind((unsigned)st.st_mode));
    }
    /* a regular file or a new one: create and remove the temporary file of the atomic write */
    char tmp[PATH_MAX + 32];
    snprintf(tmp, sizeof tmp, "%s.tmp.%ld", target, (long)getpid());
    int fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
    if (fd < 0 && errno == EEXIST && unlink(tmp) == 0)   /* ours: this process's id */
        fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
    if (fd < 0) {
        char dir[PATH_MAX];
        const char *base;
        split(target, dir, sizeof dir, &base);
        return sd_error("%s %s: cannot write there (creating a file in %s: %s)", what, path, dir, strerror(errno));
    }
    close(fd);
    unlink(tmp);
    return 0;
}

/* A directory the command fills (created if missing): it or its parent must be a writable directory. */
static int check_out_dir(const char *path, const char *what)
{
    struct stat st;
    char probe[PATH_MAX + 64];
    if (stat(path, &st) == 0) {
        if (!S_ISDIR(st.st_mode))
            return sd_error("%s %s is %s, not a directory", what, path, sd_file_kind((unsigned)st.st_mode));
        snprintf(probe, sizeof probe, "%s/.shendu-probe.%ld", path, (long)getpid());
    } else {
        char dir[PATH_MAX];
        const char *base;
        split(path, dir, sizeof dir, &base);
        if (stat(dir, &st) || !S_ISDIR(st.st_mode))
            return sd_error("%s %s: its parent directory %s does not exist", what, path, dir);
        snprintf(probe, sizeof probe, "%s.shendu-probe.%ld", path, (long)getpid());
    }
    int fd = open(probe, O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC, 0600);
    if (fd < 0) return sd_error("%s %s: cannot write there: %s", what, path, strerror(errno));
    close(fd);
    unlink(probe);
    return 0;
}

static int is_output(sd_path_role r) { return r == SD_PATH_OUTPUT || r == SD_PATH_CHECKPOINT || r == SD_PATH_APPEND; }

/* A file appended to in place: an existing regular file must open for writing
 * (opened and closed, not changed); a new one, a device or a FIFO as for any output. */
static int check_appendable(const char *path, const char *what)
{
    char target[PATH_MAX];
    struct stat st;
    if (sd_path_target(path, target, sizeof target) == 0 && stat(target, &st) == 0 && S_ISREG(st.st_mode)) {
        int fd = open(target, O_WRONLY | O_APPEND | O_CLOEXEC | O_NOCTTY);
        if (fd < 0) return sd_error("%s %s: cannot write there: %s", what, path, strerror(errno));
        close(fd);
        return 0;
    }
    return sd_path_check_writable(path, what);
}

/* 1 if path lies in an output directory that the command will create (its
 * parent is checked for it instead). */
static int in_new_dir(const sd_path_use *u, int n, const char *path)
{
    char d[PATH_MAX];
    const char *base;
    struct stat st;
    split(path, d, sizeof d, &base);
    if (stat(d, &st) == 0) return 0;
    for (int j = 0; j < n; j++)
        if (u[j].path && u[j].role == SD_PATH_OUTPUT_DIR && sd_path_same(d, u[j].path)) return 1;
    return 0;
}

int sd_paths_check(const sd_path_use *u, int n)
{
    for (int i = 0; i < n; i++) {
        if (!u[i].path) continue;
        const char *wi = u[i].what ? u[i].what : "output";
        if (!*u[i].path) return sd_error("%s: empty file name", wi);
        if (u[i].role == SD_PATH_OUTPUT_DIR) {
            for (int j = 0; j < n; j++)
                if (j != i && u[j].path && !is_output(u[j].role) && u[j].role != SD_PATH_OUTPUT_DIR &&
                    sd_path_same(u[i].path, u[j].path))
                    return sd_error("%s %s is the same as %s %s: an output may not replace an input", wi, u[i].path,
                                    u[j].what ? u[j].what : "the input", u[j].path);
            continue;
        }
        if (!is_output(u[i].role)) continue;
        for (int j = 0; j < n; j++) {
            if (j == i || !u[j].path) continue;
            const char *wj = u[j].what ? u[j].what : "the input";
            if (u[j].role == SD_PATH_RESUME && u[i].role == SD_PATH_CHECKPOINT) continue;   /* resumed in place */
            if (u[j].role == SD_PATH_INPUT_DIR) {
                if (inside(u[i].path, u[j].path))
                    return sd_error("%s %s is inside %s %s, which is read whole: the file would become part of "
                                    "the input", wi, u[i].path, wj, u[j].path);
                continue;
            }
            if (j < i && is_output(u[j].role) && sd_path_same(u[i].path, u[j].path))
                return sd_error("%s and %s are the same file (%s): each output needs its own", wj, wi, u[i].path);
            if (!is_output(u[j].role) && sd_path_same(u[i].path, u[j].path))
                return sd_error("%s %s is the same file as %s %s: an output may not replace an input", wi,
                                u[i].path, wj, u[j].path);
        }
    }
    /* Only then touch the file system: every output can be written. */
    for (int i = 0; i < n; i++) {
        if (!u[i].path) continue;
        const char *wi = u[i].what ? u[i].what : "output";
        if (is_output(u[i].role) && !in_new_dir(u, n, u[i].path) &&
            (u[i].role == SD_PATH_APPEND ? check_appendable(u[i].path, wi) : sd_path_check_writable(u[i].path, wi)))
            return -1;
        if (u[i].role == SD_PATH_OUTPUT_DIR && check_out_dir(u[i].path, wi)) return -1;
    }
    return 0;
}
