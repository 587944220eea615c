/*
 * fsname.c: names as path components (see fsname.h).
 */
#include "fsname.h"

#include <string.h>

static size_t put(char *buf, size_t size, size_t at, const char *s)
{
    size_t n = strlen(s);
    if (at + n < size)
        memcpy(buf + at, s, n);
    return at + n;
}

size_t cd_fsname(const char *name, char *buf, size_t size)
{
    size_t at = 0;
    const char *c = name;
    if (strcmp(name, ".") == 0 || strcmp(name, "..") == 0) {
        at = put(buf, size, at, "%2E");
        c++;
    } else if (name[0] == '\0') {
        at = put(buf, size, at, "%");
    }
    for (; *c != '\0'; c++) {
        char one[2] = {*c, '\0'};
        at = put(buf, size, at, *c == '/' ? "%2F" : *c == '%' ? "%25" : one);
    }
    if (at >= size) {
        if (size > 0)
            buf[0] = '\0';
        return 0;
    }
    buf[at] = '\0';
    return at;
}
