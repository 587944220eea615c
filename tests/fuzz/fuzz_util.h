/*
 * fuzz_util.h: what several libFuzzer targets of tests/fuzz share. Header-only: each target is
 * built from its own .c and the library sources (Makefile, FUZZ_LIB_SRC).
 */
#ifndef CD_FUZZ_UTIL_H
#define CD_FUZZ_UTIL_H

#include <ctype.h>
#include <ftw.h>
#include <limits.h>
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

/* The longest line of text[n], without its newline. */
static inline size_t fuzz_longest_line(const char *text, size_t n)
{
    size_t most = 0;
    for (size_t at = 0; at < n;) {
        const char *nl = memchr(text + at, '\n', n - at);
        size_t len = nl != NULL ? (size_t)(nl - (text + at)) : n - at;
        most = len > most ? len : most;
        at += len + 1;
    }
    return most;
}

/* Could an INI reader take text[n] as it is: no NUL byte, no line longer than most? */
static inline int fuzz_ini_readable(const uint8_t *text, size_t n, size_t most)
{
    return memchr(text, '\0', n) == NULL && fuzz_longest_line((const char *)text, n) <= most;
}

/* Does text[n] hold a line inih reads as more of the value of the key above: one indented
 * (after a byte order mark on line 1), neither blank nor a comment, after a key line of the
 * same section? Written from inih's rules, apart from the readers under test. */
static inline int fuzz_ini_continues(const char *text, size_t n)
{
    int after_key = 0;
    for (size_t at = 0; at < n;) {
        const char *line = text + at, *nl = memchr(line, '\n', n - at);
        size_t len = nl != NULL ? (size_t)(nl - line) : n - at, i = 0;
        if (at == 0 && len >= 3 && memcmp(line, "\xEF\xBB\xBF", 3) == 0)
            line += 3, len -= 3;
        while (i < len && isspace((unsigned char)line[i]))
            i++;
        at += (size_t)(line - (text + at)) + len + 1;
        if (i == len || line[i] == ';' || line[i] == '#')
            continue;
        if (after_key && i > 0)
            return 1;
        if (line[i] != '[')
            after_key = 1;
        else if (memchr(line + i, ']', len - i) != NULL)
            after_key = 0;
    }
    return 0;
}

static char fuzz_dir_path[PATH_MAX];

static inline int fuzz_remove_one(const char *path, const struct stat *st, int flag,
                                  struct FTW *ftw)
{
    (void)st, (void)flag, (void)ftw;
    return remove(path);
}

static inline void fuzz_dir_remove(void)
{
    nftw(fuzz_dir_path, fuzz_remove_one, 16, FTW_DEPTH | FTW_PHYS);
}

/* A directory of the process's own under $TMPDIR (or /tmp), made on the first call and
 * removed with what it holds when the process exits (libFuzzer exits through exit() at the end
 * of a run), for writers that take a directory (atomic writes rename within it). Aborts when
 * it cannot be made. */
static inline const char *fuzz_dir(void)
{
    if (fuzz_dir_path[0] != '\0')
        return fuzz_dir_path;
    const char *tmp = getenv("TMPDIR");
    snprintf(fuzz_dir_path, sizeof fuzz_dir_path, "%s/cd-fuzz-XXXXXX",
             tmp != NULL && tmp[0] != '\0' ? tmp : "/tmp");
    if (mkdtemp(fuzz_dir_path) == NULL)
        abort();
    atexit(fuzz_dir_remove);
    return fuzz_dir_path;
}

#endif
