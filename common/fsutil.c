/*
 * fsutil.c: file-system helpers (see fsutil.h).
 */
#include "fsutil.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

cd_code cd_mkdir_p(const char *path, cd_err *err)
{
    char buf[4096];
    snprintf(buf, sizeof buf, "%s", path);
    for (char *p = buf + 1;; p++) {
        bool last = *p == '\0';
        if (*p != '/' && !last)
            continue;
        *p = '\0';
        if (mkdir(buf, 0755) != 0 && errno != EEXIST)
            return cd_fail(err, CD_EIO, "could not create directory \"%s\": %s", buf,
                           strerror(errno));
        if (last)
            return CD_OK;
        *p = '/';
    }
}

cd_code cd_read_file(const char *path, char **text, size_t *len, cd_err *err)
{
    *text = NULL;
    FILE *f = fopen(path, "r");
    if (f == NULL)
        return cd_fail(err, errno == ENOENT ? CD_ENOTFOUND : CD_EIO, "could not open \"%s\": %s",
                       path, strerror(errno));
    size_t cap = 1 << 12, n = 0, got;
    char *buf = malloc(cap + 1);
    while (buf != NULL && (got = fread(buf + n, 1, cap - n, f)) > 0) {
        n += got;
        char *bigger = n == cap ? realloc(buf, (cap *= 2) + 1) : buf;
        if (bigger == NULL)
            free(buf);
        buf = bigger;
    }
    bool bad = ferror(f);
    fclose(f);
    if (buf == NULL || bad) {
        cd_code code = buf == NULL ? CD_ENOMEM : CD_EIO;
        free(buf);
        return cd_fail(err, code, "could not read \"%s\"", path);
    }
    buf[n] = '\0';
    *text = buf;
    if (len != NULL)
        *len = n;
    return CD_OK;
}

bool cd_exe_dir(char *buf, size_t size)
{
    char self[4096];
    ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);
    if (n <= 0)
        return false;
    self[n] = '\0';
    char *slash = strrchr(self, '/');
    if (slash == NULL)
        return false;
    *slash = '\0';
    return snprintf(buf, size, "%s", self) < (int)size;
}

bool cd_mount_lookup(const char *path, char *type, size_t tsize, char *dev, size_t dsize)
{
    FILE *f = fopen("/proc/self/mountinfo", "r");
    char line[4096], point[4096], devno[64], fstype[256];
    bool found = false;
    while (f != NULL && fgets(line, sizeof line, f) != NULL) {
        const char *dash = strstr(line, " - ");
        if (sscanf(line, "%*s %*s %63s %*s %4095s", devno, point) != 2 || dash == NULL ||
            sscanf(dash + 3, "%255s", fstype) != 1 || strcmp(point, path) != 0)
            continue;
        found = true; /* the last entry wins: it is the mount on top */
        if (type != NULL)
            snprintf(type, tsize, "%s", fstype);
        if (dev != NULL)
            snprintf(dev, dsize, "%s", devno);
    }
    if (f != NULL)
        fclose(f);
    return found;
}
