/* Atomic file replacement: write PATH.tmp.PID next to PATH, fsync it, rename it
 * over PATH, fsync the directory. A crash leaves either the old file or the new
 * one, never a torn mix. */
#define _POSIX_C_SOURCE 200809L

#include "shendu/io.h"

#include <errno.h>
#include <fcntl.h>
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

/* fsync the directory holding `path`, so the rename itself is durable. */
static int sync_dir(const char *path)
{
    const char *slash = strrchr(path, '/');
    char *dir;
    if (!slash) dir = strdup(".");
    else if (slash == path) dir = strdup("/");
    else {
        size_t len = (size_t)(slash - path);
        dir = malloc(len + 1);
        if (dir) {
            memcpy(dir, path, len);
            dir[len] = '\0';
        }
    }
    if (!dir) {
        errno = ENOMEM;
        return -1;
    }
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    free(dir);
    if (fd < 0) return -1;
    int rc = fsync(fd);
    /* Some file systems cannot fsync a directory; the data itself is synced. */
    if (rc < 0 && (errno == EINVAL || errno == ENOTSUP)) rc = 0;
    int e = errno;
    close(fd);
    errno = e;
    return rc;
}

int sd_write_atomic(const char *path, const sd_chunk *chunks, int nchunks)
{
    if (!path || !*path) return sd_error("sd_write_atomic: empty path");
    if (nchunks < 0 || (nchunks > 0 && !chunks))
        return sd_error("%s: sd_write_atomic: bad chunk list", path);
    for (int i = 0; i < nchunks; i++)
        if (chunks[i].size > 0 && !chunks[i].data)
            return sd_error("%s: sd_write_atomic: chunk %d has no data", path, i);

    size_t tlen = strlen(path) + 32;
    char *tmp = malloc(tlen);
    if (!tmp) return sd_error("%s: out of memory", path);
    snprintf(tmp, tlen, "%s.tmp.%ld", path, (long)getpid());

    const char *what = "write";
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0666);
    if (fd < 0) {
        sd_error("%s: cannot create %s: %s", path, tmp, strerror(errno));
        free(tmp);
        return -1;
    }
    for (int i = 0; i < nchunks; i++) {
        if (chunks[i].size > 0 && write_all(fd, chunks[i].data, chunks[i].size)) {
            what = "write";
            goto fail_open;
        }
    }
    if (fsync(fd) < 0) {
        what = "fsync";
        goto fail_open;
    }
    if (close(fd) < 0) {
        what = "close";
        goto fail_closed;
    }
    if (rename(tmp, path) < 0) {
        what = "rename";
        goto fail_closed;
    }
    free(tmp);
    if (sync_dir(path) < 0)
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
    free(tmp);
    return -1;
}
