/* Writing an output file, whatever its path is.
 *
 * A regular file (or a path that does not exist yet) is replaced atomically:
 * PATH.tmp.PID is written next to it, fsynced, renamed over PATH, and the
 * directory fsynced; a crash leaves either the old file or the new one, never
 * a torn mix. A symlink is followed: its target is replaced, the link stays.
 * A character device (/dev/null) or a FIFO with a reader is written through,
 * never replaced; a directory, socket or block device is refused. Temporary
 * files left by a writer killed with SIGKILL (PATH.tmp.PID of a process that
 * no longer runs) are removed by the next write to the same path. */
#define _POSIX_C_SOURCE 200809L

#include "shendu/io.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static int write_all(int fd, const void *data, size_t size)
{
    const char *p = data;
    while (size > 0) {
        ssize_t k = write(fd, p, size);
        if (k < 0) {
            if (errno == EINTR) continue;
            return -1;
        }
        p += k;
        size -= (size_t)k;
    }
    return 0;
}

static int write_chunks(int fd, const sd_chunk *chunks, int nchunks)
{
    for (int i = 0; i < nchunks; i++)
        if (chunks[i].size > 0 && write_all(fd, chunks[i].data, chunks[i].size)) return -1;
    return 0;
}

/* The directory part of path ("." or "/" when it has none) into dir. */
static void dir_of(const char *path, char *dir, size_t cap)
{
    const char *slash = strrchr(path, '/');
    if (!slash) snprintf(dir, cap, ".");
    else if (slash == path) snprintf(dir, cap, "/");
    else snprintf(dir, cap, "%.*s", (int)(slash - path), path);
}

/* fsync the directory holding `path`, so the rename itself is durable. */
static int sync_dir(const char *path)
{
    char dir[PATH_MAX];
    dir_of(path, dir, sizeof dir);
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0) return -1;
    int rc = fsync(fd);
    /* Some file systems cannot fsync a directory; the data itself is synced. */
    if (rc < 0 && (errno == EINVAL || errno == ENOTSUP)) rc = 0;
    int e = errno;
    close(fd);
    errno = e;
    return rc;
}

/* Remove PATH.tmp.PID files beside path whose writer (PID) no longer runs:
 * what a SIGKILL in the middle of an earlier write left. Best effort. */
static void remove_stale_temps(const char *path)
{
#ifdef __wasi__
    (void)path;   /* WASI has no processes to ask (no kill): no temp file is known to be stale */
#else
    char dir[PATH_MAX];
    dir_of(path, dir, sizeof dir);
    const char *slash = strrchr(path, '/');
    const char *base = slash ? slash + 1 : path;
    const size_t blen = strlen(base);
    DIR *d = opendir(dir);
    if (!d) return;
    struct dirent *e;
    while ((e = readdir(d))) {
        const char *n = e->d_name;
        if (strncmp(n, base, blen) || strncmp(n + blen, ".tmp.", 5)) continue;
        const char *digits = n + blen + 5;
        char *end;
        errno = 0;
        long pid = strtol(digits, &end, 10);
        if (!*digits || *end || errno || pid <= 0 || pid == (long)getpid()) continue;
        if (kill((pid_t)pid, 0) == 0 || errno != ESRCH) continue;   /* alive (or not ours to know) */
        char full[PATH_MAX + NAME_MAX + 2];
        snprintf(full, sizeof full, "%s/%s", dir, n);
        struct stat st;
        if (lstat(full, &st) == 0 && S_ISREG(st.st_mode)) unlink(full);
    }
    closedir(d);
#endif
}

/* Write through to a character device or a FIFO (never replaced). */
static int write_through(const char *path, const char *target, mode_t mode, const sd_chunk *chunks, int nchunks)
{
    int fd = open(target, O_WRONLY | O_NONBLOCK | O_CLOEXEC | O_NOCTTY);
    if (fd < 0) {
        if (errno == ENXIO && S_ISFIFO(mode)) return sd_error("%s: a FIFO with no reader: nothing was written", path);
        return sd_error("%s: cannot open %s for writing: %s", path, sd_file_kind((unsigned)mode), strerror(errno));
    }
    int flags = fcntl(fd, F_GETFL);
    int rc = (flags < 0 || fcntl(fd, F_SETFL, flags & ~O_NONBLOCK) < 0) ? -1 : write_chunks(fd, chunks, nchunks);
    int e = errno;
    if (close(fd) < 0 && !rc) { rc = -1; e = errno; }
    if (rc) return sd_error("%s: write failed: %s", path, strerror(e));
    return 0;
}

int sd_write_atomic(const char *path, const sd_chunk *chunks, int nchunks)
{
    if (!path || !*path) return sd_error("sd_write_atomic: empty path");
    if (nchunks < 0 || (nchunks > 0 && !chunks))
        return sd_error("%s: sd_write_atomic: bad chunk list", path);
    for (int i = 0; i < nchunks; i++)
        if (chunks[i].size > 0 && !chunks[i].data)
            return sd_error("%s: sd_write_atomic: chunk %d has no data", path, i);

    char target[PATH_MAX];
    if (sd_path_target(path, target, sizeof target)) return -1;
    struct stat st;
    int exists = lstat(target, &st) == 0;
    if (!exists && errno != ENOENT) return sd_error("%s: cannot stat: %s", path, strerror(errno));
    if (exists && (S_ISCHR(st.st_mode) || S_ISFIFO(st.st_mode)))
        return write_through(path, target, st.st_mode, chunks, nchunks);
    if (exists && !S_ISREG(st.st_mode))
        return sd_error("%s is %s: refusing to replace it with a file", path, sd_file_kind((unsigned)st.st_mode));

    remove_stale_temps(target);
    char tmp[PATH_MAX + 32];
    snprintf(tmp, sizeof tmp, "%s.tmp.%ld", target, (long)getpid());
    const int oflags = O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC;
    int fd = open(tmp, oflags, 0666);
    if (fd < 0 && errno == EEXIST && unlink(tmp) == 0) fd = open(tmp, oflags, 0666);   /* this process's own */
    if (fd < 0) return sd_error("%s: cannot create %s: %s", path, tmp, strerror(errno));
    const char *what = "write";
    /* a replaced file keeps its permissions (a private checkpoint stays private) */
#ifndef __wasi__   /* WASI files have no permission bits (no chmod) */
    if (exists && fchmod(fd, st.st_mode & 07777) < 0) {
        what = "chmod";
        goto fail_open;
    }
#endif
    if (write_chunks(fd, chunks, nchunks)) goto fail_open;
    if (fsync(fd) < 0) {
        what = "fsync";
        goto fail_open;
    }
    if (close(fd) < 0) {
        what = "close";
        goto fail_closed;
    }
    if (rename(tmp, target) < 0) {
        what = "rename";
        goto fail_closed;
    }
    if (sync_dir(target) < 0)
        return sd_error("%s: fsync of the directory failed: %s", path, strerror(errno));
    return 0;

fail_open: {
        int e = errno;
        close(fd);
        errno = e;
    }
fail_closed:
    sd_error("%s: %s failed: %s", path, what, strerror(errno));
    unlink(tmp);
    return -1;
}
