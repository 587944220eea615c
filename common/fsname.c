/*
 * fsname.c: names as path components (see fsname.h).
 */
#include "fsname.h"

#include <stdbool.h>
#include <stdio.h>
#include <string.h>

static size_t put(char *buf, size_t size, size_t at, const char *s)
{
    size_t n = strlen(s);
    if (at + n < size)
        memcpy(buf + at, s, n);
    return at + n;
}

/* Terminate buf at `at`, or empty it and return 0 when it did not fit. */
static size_t finish(char *buf, size_t size, size_t at)
{
    if (at >= size) {
        if (size > 0)
            buf[0] = '\0';
        return 0;
    }
    buf[at] = '\0';
    return at;
}

/* Append c, as %XX when enc says so. */
static size_t put_char(char *buf, size_t size, size_t at, unsigned char c, bool enc)
{
    char one[4];
    snprintf(one, sizeof one, enc ? "%%%02X" : "%c", c);
    return put(buf, size, at, one);
}

static bool control(unsigned char c)
{
    return c < 0x20 || c == 0x7f;
}

/* Does name end in a suffix the layout appends to a column's file name? */
static const char *reserved_dot(const char *name)
{
    static const char *const suffixes[] = {".valid", ".offsets"};
    size_t n = strlen(name);
    for (size_t i = 0; i < sizeof suffixes / sizeof suffixes[0]; i++) {
        size_t k = strlen(suffixes[i]);
        if (n > k && strcmp(name + n - k, suffixes[i]) == 0)
            return name + n - k;
    }
    return NULL;
}

size_t cd_fsname(const char *name, char *buf, size_t size)
{
    size_t at = 0;
    const char *c = name, *dot = reserved_dot(name);
    if (strcmp(name, ".") == 0 || strcmp(name, "..") == 0) {
        at = put(buf, size, at, "%2E");
        c++;
    } else if (name[0] == '\0') {
        at = put(buf, size, at, "%");
    }
    for (; *c != '\0'; c++) {
        unsigned char u = (unsigned char)*c;
        at = put_char(buf, size, at, u, u == '/' || u == '%' || control(u) || c == dot);
    }
    return finish(buf, size, at);
}

size_t cd_textname(const char *name, bool header, char *buf, size_t size)
{
    size_t at = 0;
    const char *special = header ? "%;#[]" : "%;#";
    for (const char *c = name; *c != '\0'; c++) {
        unsigned char u = (unsigned char)*c;
        at = put_char(buf, size, at, u, control(u) || strchr(special, u) != NULL);
    }
    return finish(buf, size, at);
}
