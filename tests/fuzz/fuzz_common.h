/* fuzz_common.h — shared by the libFuzzer harnesses: parsers that take a path
 * get the input through an in-memory file (memfd), so no disk is touched. */
#ifndef SHENDU_FUZZ_COMMON_H
#define SHENDU_FUZZ_COMMON_H

#define _GNU_SOURCE
#include <stdint.h>
#include <stdio.h>
#include <sys/mman.h>
#include <unistd.h>

/* Write data into a fresh memfd; path receives "/proc/self/fd/N". Returns the fd or -1. */
static int fuzz_memfile(const uint8_t *data, size_t size, char *path, size_t cap)
{
    int fd = memfd_create("shendu-fuzz", 0);
    if (fd < 0) return -1;
    size_t done = 0;
    while (done < size) {
        ssize_t k = write(fd, data + done, size - done);
        if (k <= 0) { close(fd); return -1; }
        done += (size_t)k;
    }
    snprintf(path, cap, "/proc/self/fd/%d", fd);
    return fd;
}

#endif
