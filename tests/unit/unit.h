/*
 * unit.h: a tiny unit-test harness. CHECK(cond) records a failure with file:line and goes
 * on; CHECK_EQ_INT / CHECK_CODE print both values. UNIT_MAIN runs the listed tests and
 * returns non-zero when any check failed. UNIT_SKIP says what could not be checked here, on
 * a line of its own starting "skipped: " (the CUDA tests print "skipped: no CUDA device
 * found" that way): .ci/run counts those lines, and any but the CUDA tests' on a machine
 * without a GPU fails CI.
 */
#ifndef CD_UNIT_H
#define CD_UNIT_H

#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int unit_failures;
static int unit_checks;

#define CHECK(cond)                                                                                \
    do {                                                                                           \
        unit_checks++;                                                                             \
        if (!(cond)) {                                                                             \
            unit_failures++;                                                                       \
            fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__, __LINE__, #cond);               \
        }                                                                                          \
    } while (0)

#define CHECK_EQ_INT(a, b)                                                                         \
    do {                                                                                           \
        long long a_ = (long long)(a), b_ = (long long)(b);                                        \
        unit_checks++;                                                                             \
        if (a_ != b_) {                                                                            \
            unit_failures++;                                                                       \
            fprintf(stderr, "%s:%d: %s == %lld, expected %s == %lld\n", __FILE__, __LINE__, #a,    \
                    a_, #b, b_);                                                                   \
        }                                                                                          \
    } while (0)

/* Check a cd_code result; prints the error message on mismatch. */
#define CHECK_CODE(expr, want, errp)                                                               \
    do {                                                                                           \
        int got_ = (int)(expr);                                                                    \
        unit_checks++;                                                                             \
        if (got_ != (int)(want)) {                                                                 \
            unit_failures++;                                                                       \
            fprintf(stderr, "%s:%d: %s returned %d, expected %d (%s | %s)\n", __FILE__, __LINE__,  \
                    #expr, got_, (int)(want), (errp)->msg, (errp)->detail);                        \
        }                                                                                          \
    } while (0)

/* Whole file at path, NUL-terminated (*len excludes the NUL); NULL with a message on failure.
 * Paths are relative to the repository root, where `make unit` runs the tests. */
static inline uint8_t *unit_read_file(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    uint8_t *buf = NULL;
    long n = -1;
    *len = 0;
    if (f != NULL && fseek(f, 0, SEEK_END) == 0 && (n = ftell(f)) >= 0 &&
        fseek(f, 0, SEEK_SET) == 0) {
        buf = malloc((size_t)n + 1);
        if (buf != NULL && fread(buf, 1, (size_t)n, f) != (size_t)n) {
            free(buf);
            buf = NULL;
        }
    }
    if (f != NULL)
        fclose(f);
    if (buf == NULL) {
        fprintf(stderr, "cannot read %s (run the tests from the repository root)\n", path);
        return NULL;
    }
    buf[n] = 0;
    *len = (size_t)n;
    return buf;
}

#define UNIT_SKIP(...)                                                                             \
    do {                                                                                           \
        fprintf(stderr, "skipped: " __VA_ARGS__);                                                  \
        fputc('\n', stderr);                                                                       \
    } while (0)

#define RUN(test)                                                                                  \
    do {                                                                                           \
        int before_ = unit_failures;                                                               \
        test();                                                                                    \
        fprintf(stderr, "%s %s\n", unit_failures == before_ ? "ok  " : "FAIL", #test);             \
    } while (0)

#define UNIT_DONE()                                                                                \
    (fprintf(stderr, "%d checks, %d failures\n", unit_checks, unit_failures), unit_failures ? 1 : 0)

#endif
