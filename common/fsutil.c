/*
 * fsutil.c: file-system helpers (see fsutil.h).
 */
#include "fsutil.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

cd_code cd_mkdir_p(const char *path, cd_err *err)
{
    return cd_mkdir_p_mode(path, 0755, err);
}

cd_code cd_mkdir_p_mode(const char *path, mode_t mode, cd_err *err)
{
    char buf[4096];
    snprintf(buf, sizeof buf, "%s", path);
    for (char *p = buf + 1;; p++) {
        bool last = *p == '\0';
        if (*p != '/' && !last)
            continue;
        *p = '\0';
        if (mkdir(buf, mode) != 0 && errno != EEXIST)
            return cd_fail(err, CD_EIO, "could not create directory \"%s\": %s", buf,
                           strerror(errno));
        if (last)
            return CD_OK;
        *p = '/';
    }
}

int cd_open_regular(const char *path, struct stat *st, const char **why)
{
    struct stat own;
    st = st != NULL ? st : &own;
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK);
    if (fd < 0 || fstat(fd, st) != 0) {
        int e = errno;
        if (fd >= 0)
            close(fd);
        *why = strerror(e);
        errno = e;
        return -1;
    }
    if (!S_ISREG(st->st_mode)) {
        close(fd);
        *why = "not a regular file";
        errno = EINVAL;
        return -1;
    }
    int fl = fcntl(fd, F_GETFL);
    if (fl >= 0)
        (void)fcntl(fd, F_SETFL, fl & ~O_NONBLOCK);
    return fd;
}

FILE *cd_fopen_regular(const char *path, const char **why)
{
    int fd = cd_open_regular(path, NULL, why);
    FILE *f = fd >= 0 ? fdopen(fd, "r") : NULL;
    if (f == NULL && fd >= 0) {
        int e = errno;
        *why = strerror(e);
        close(fd);
        errno = e;
    }
    return f;
}

cd_code cd_read_file(const char *path, char **text, size_t *len, cd_err *err)
{
    *text = NULL;
    const char *why = NULL;
    FILE *f = cd_fopen_regular(path, &why);
    if (f == NULL)
        return cd_fail(err, errno == ENOENT ? CD_ENOTFOUND : CD_EIO, "could not open \"%s\": %s",
                       path, why);
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

cd_code cd_read_text(const char *path, char **text, cd_err *err)
{
    size_t len = 0;
    cd_code rc = cd_read_file(path, text, &len, err);
    const char *nul = rc == CD_OK ? memchr(*text, '\0', len) : NULL;
    if (nul == NULL)
        return rc;
    int line = 1;
    for (const char *p = *text; p < nul; p++)
        line += *p == '\n';
    free(*text);
    *text = NULL;
    cd_fail(err, CD_ECORRUPT, "\"%s\" is not a text file", path);
    return cd_detail(err, "line %d holds a NUL byte", line);
}

ssize_t cd_pread_full(int fd, void *buf, size_t n, off_t off)
{
    size_t got = 0;
    while (got < n) {
        ssize_t r = pread(fd, (char *)buf + got, n - got, off + (off_t)got);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0)
            return -1;
        if (r == 0)
            break;
        got += (size_t)r;
    }
    return (ssize_t)got;
}

void cd_dir_of(const char *path, char *dir, size_t size)
{
    const char *slash = strrchr(path, '/');
    if (slash == NULL)
        snprintf(dir, size, ".");
    else
        snprintf(dir, size, "%.*s", slash == path ? 1 : (int)(slash - path), path);
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

/* ---- directories safe from other users ---- */

const char *cd_dir_untrusted(const struct stat *st, bool group_ok)
{
    mode_t writers = group_ok ? S_IWOTH : (S_IWGRP | S_IWOTH);
    if (!S_ISDIR(st->st_mode))
        return "is not a directory";
    if (st->st_uid != geteuid() && st->st_uid != 0)
        return "belongs to another user";
    if ((st->st_mode & writers) != 0 && (st->st_mode & S_ISVTX) == 0)
        return "is writable by other users (and not sticky)";
    return NULL;
}

/* The lstat of one step of a path; a missing last step is created first when create. */
static int lstat_step(const char *path, bool last, mode_t create, struct stat *st)
{
    if (lstat(path, st) == 0)
        return 0;
    if (errno != ENOENT || !last || create == 0 || (mkdir(path, create) != 0 && errno != EEXIST))
        return -1;
    return lstat(path, st);
}

/* One step of a path to a trusted directory: a link of this user or root, or a directory
 * cd_dir_untrusted accepts (last: dir itself, held to the stricter rule). */
static cd_code trusted_step(const char *path, bool last, mode_t create, const char *what,
                            cd_err *err)
{
    struct stat st;
    uid_t me = geteuid();
    if (lstat_step(path, last, create, &st) != 0) {
        int e = errno;
        cd_fail(err, e == ENOENT ? CD_ENOTFOUND : CD_EIO, "%s %s \"%s\": %s",
                last && create != 0 ? "could not create" : "could not examine",
                last ? what : "directory", path, strerror(e));
        return cd_hint(err, "create it (mkdir -p -m 0700 \"%s\"), or choose another path", path);
    }
    bool link = S_ISLNK(st.st_mode);
    const char *why = !link                               ? cd_dir_untrusted(&st, !last)
                      : st.st_uid != me && st.st_uid != 0 ? "is a symbolic link of another user"
                                                          : NULL;
    if (why == NULL)
        return CD_OK;
    cd_fail(err, CD_EINVAL, "%s \"%s\" %s", last ? what : "directory", path, why);
    cd_detail(err, "owner uid %u, mode %04o; another user could replace what it holds",
              (unsigned)st.st_uid, (unsigned)(st.st_mode & 07777));
    if (!link && !S_ISDIR(st.st_mode))
        return cd_hint(err, "give the path of a directory");
    return cd_hint(err,
                   "make it owned by uid %u or root and writable only by its owner: "
                   "chown %u \"%s\"; chmod go-w \"%s\" (or choose another directory)",
                   (unsigned)me, (unsigned)me, path, path);
}

/* trusted_step on each step of path: "/", "/a", "/a/b", ... */
static cd_code trusted_steps(const char *path, mode_t create, const char *what, cd_err *err)
{
    char buf[PATH_MAX];
    if (path[0] != '/' || snprintf(buf, sizeof buf, "%s", path) >= (int)sizeof buf)
        return cd_fail(err, CD_EINVAL, "%s \"%s\" is not an absolute path that fits", what, path);
    cd_code rc = trusted_step("/", buf[1] == '\0', create, what, err);
    for (char *p = buf + 1; rc == CD_OK && *p != '\0'; p++) {
        if (p[1] != '/' && p[1] != '\0')
            continue;
        char next = p[1];
        p[1] = '\0';
        rc = trusted_step(buf, next == '\0', create, what, err);
        p[1] = next;
    }
    return rc;
}

cd_code cd_trusted_dir(const char *dir, mode_t create, const char *what, cd_err *err)
{
    char real[PATH_MAX];
    cd_code rc = trusted_steps(dir, create, what, err);
    if (rc == CD_OK && realpath(dir, real) == NULL)
        rc = cd_fail(err, CD_EIO, "could not resolve %s \"%s\": %s", what, dir, strerror(errno));
    if (rc == CD_OK && strcmp(real, dir) != 0) /* where its links lead */
        rc = trusted_steps(real, 0, what, err);
    return rc;
}
