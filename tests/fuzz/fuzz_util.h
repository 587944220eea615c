/*
 * fuzz_util.h: what several libFuzzer targets of tests/fuzz share. Header-only: each target is
 * built from its own .c and the library sources (Makefile, FUZZ_LIB_SRC).
 */
#ifndef CD_FUZZ_UTIL_H
#define CD_FUZZ_UTIL_H

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

/* A heap copy of data[size] of exactly that size (ASan flags a read past it), or NULL. */
static inline uint8_t *fuzz_copy(const uint8_t *data, size_t size)
{
    uint8_t *buf = malloc(size ? size : 1);
    if (buf != NULL)
        memcpy(buf, data, size);
    return buf;
}

/* A memory file (memfd) holding a[na] then b[nb], for readers that take a path: its fd, with
 * its /proc/self/fd path in path; -1 on failure. The caller closes the fd. */
static inline int fuzz_mem_file(const uint8_t *a, size_t na, const uint8_t *b, size_t nb,
                                char path[64])
{
    int fd = memfd_create("fuzz", MFD_CLOEXEC);
    if (fd < 0)
        return -1;
    if ((na > 0 && write(fd, a, na) != (ssize_t)na) ||
        (nb > 0 && write(fd, b, nb) != (ssize_t)nb)) {
        close(fd);
        return -1;
    }
    snprintf(path, 64, "/proc/self/fd/%d", fd);
    return fd;
}

#endif
