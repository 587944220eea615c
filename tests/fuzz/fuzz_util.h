/*
 * fuzz_util.h: what several libFuzzer targets of tests/fuzz share. Header-only: each target is
 * built from its own .c and the library sources (Makefile, FUZZ_LIB_SRC).
 */
#ifndef CD_FUZZ_UTIL_H
#define CD_FUZZ_UTIL_H

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* A heap copy of data[size] of exactly that size (ASan flags a read past it), or NULL. */
static inline uint8_t *fuzz_copy(const uint8_t *data, size_t size)
{
    uint8_t *buf = malloc(size ? size : 1);
    if (buf != NULL)
        memcpy(buf, data, size);
    return buf;
}

#endif
