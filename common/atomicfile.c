/*
 * atomicfile.c: write-temporary, fsync, rename, fsync-directory (see atomicfile.h).
 */
#include "atomicfile.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <unistd.h>

#include "fsutil.h"

bool (*cd_atomic_crash_hook)(int step, const char *path);

static cd_code io_fail(cd_err *err, const char *what, const char *path, int e)
{
    cd_fail(err, CD_EIO, "could not %s \"%s\": %s", what, path, strerror(e));
    return cd_hint(err, "check free space and permissions of the directory");
}

static bool crash_at(int step, const cd_atomic *a)
{
    return cd_atomic_crash_hook != NULL && cd_atomic_crash_hook(step, a->path);
}

/* A temporary file left at a->tmp: removed when stale (a crash: no writer holds its lock);
 * CD_EBUSY when another process is writing it. */
static cd_code clear_stale(const cd_atomic *a, cd_err *err)
{
    int old = open(a->tmp, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
    bool busy = old >= 0 && flock(old, LOCK_EX | LOCK_NB) != 0 && errno == EWOULDBLOCK;
    if (old >= 0)
        close(old);
    if (busy) {
        cd_fail(err, CD_EBUSY, "\"%s\" is being written by another process (its \"%s\" is locked)",
                a->path, a->tmp);
        return cd_hint(err, "wait for that writer, or stop it");
    }
    if (unlink(a->tmp) != 0 && errno != ENOENT)
        return io_fail(err, "remove the stale file", a->tmp, errno);
    return CD_OK;
}

static void unlock(cd_atomic *a)
{
    if (a->lock_fd >= 0)
        close(a->lock_fd);
    a->lock_fd = -1;
}

cd_code cd_atomic_open(cd_atomic *a, const char *path, mode_t mode, cd_err *err)
{
    a->fd = a->lock_fd = -1;
    a->f = NULL;
    if (snprintf(a->path, sizeof a->path, "%s", path) >= (int)sizeof a->path)
        return cd_fail(err, CD_EINVAL, "path too long: %.200s...", path);
    snprintf(a->tmp, sizeof a->tmp, "%s.tmp", path);
    /* a stale temporary file (a crash) goes; whatever is there is never followed or reused:
     * a symlink planted in its place makes the create fail, not write through it */
    cd_code rc = clear_stale(a, err);
    if (rc != CD_OK)
        return rc;
    a->fd = open(a->tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, mode);
    if (a->fd < 0)
        return io_fail(err, "create file", a->tmp, errno);
    /* the lock lives on a second descriptor, so that closing a->fd keeps it to the rename; a
     * file system without locks (ENOLCK, EOPNOTSUPP: some network file systems) goes on
     * without one, as before there were any */
    a->lock_fd = fcntl(a->fd, F_DUPFD_CLOEXEC, 0);
    int e = a->lock_fd < 0 ? errno : 0;
    if (e == 0 && flock(a->lock_fd, LOCK_EX | LOCK_NB) != 0) {
        e = errno == EWOULDBLOCK ? EBUSY : 0; /* locked already: another writer raced us */
        unlock(a);
    }
    if (e == 0 && fstat(a->fd, &a->st) != 0)
        e = errno;
    if (e == EBUSY) { /* what is at a->tmp may be the other writer's by now: not removed */
        close(a->fd);
        a->fd = -1;
        return cd_fail(err, CD_EBUSY, "\"%s\" is being written by another process", a->path);
    }
    if (e != 0) {
        cd_atomic_abort(a);
        return io_fail(err, "lock file", a->tmp, e);
    }
    return CD_OK;
}

cd_code cd_atomic_fopen(cd_atomic *a, const char *path, mode_t mode, cd_err *err)
{
    cd_code rc = cd_atomic_open(a, path, mode, err);
    if (rc != CD_OK)
        return rc;
    a->f = fdopen(a->fd, "w");
    if (a->f == NULL) {
        int e = errno;
        cd_atomic_abort(a);
        return io_fail(err, "open a stream on", path, e);
    }
    return CD_OK;
}

int cd_fsync_dir_of(const char *path)
{
    char dir[4096];
    cd_dir_of(path, dir, sizeof dir);
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0)
        return errno;
    /* some file systems cannot sync a directory (EINVAL): nothing more to do there */
    int e = fsync(fd) == 0 || errno == EINVAL ? 0 : errno;
    close(fd);
    return e;
}

/* Flush and fsync the temporary file, then close it; an errno or 0. */
static int sync_close(cd_atomic *a)
{
    int e = 0;
    if (a->f != NULL && (fflush(a->f) != 0 || ferror(a->f)))
        e = errno ? errno : EIO;
    if (e == 0 && fsync(a->fd) != 0)
        e = errno;
    int c = a->f != NULL ? fclose(a->f) : close(a->fd);
    if (c != 0 && e == 0)
        e = errno;
    a->f = NULL;
    a->fd = -1;
    return e;
}

cd_code cd_atomic_commit(cd_atomic *a, cd_err *err)
{
    int e = sync_close(a);
    if (e != 0) {
        unlink(a->tmp);
        unlock(a);
        return io_fail(err, "write file", a->tmp, e);
    }
    if (crash_at(1, a)) {
        unlock(a); /* as the crashed process's exit would */
        return cd_fail(err, CD_EIO, "crash injected after writing \"%s\"", a->tmp);
    }
    struct stat now;
    if (stat(a->tmp, &now) != 0 || now.st_ino != a->st.st_ino || now.st_dev != a->st.st_dev) {
        unlock(a); /* what is there now is another writer's: left to it */
        cd_fail(err, CD_EBUSY, "\"%s\" was replaced by another writer of \"%s\"", a->tmp, a->path);
        return cd_hint(err, "one process at a time may write it");
    }
    int moved = rename(a->tmp, a->path);
    e = errno;
    unlock(a);
    if (moved != 0) {
        unlink(a->tmp);
        return io_fail(err, "rename to final name", a->tmp, e);
    }
    if (crash_at(2, a))
        return cd_fail(err, CD_EIO, "crash injected after renaming to \"%s\"", a->path);
    if ((e = cd_fsync_dir_of(a->path)) != 0)
        return io_fail(err, "fsync the directory of", a->path, e);
    if (crash_at(3, a))
        return cd_fail(err, CD_EIO, "crash injected after syncing the directory of \"%s\"",
                       a->path);
    return CD_OK;
}

void cd_atomic_abort(cd_atomic *a)
{
    if (a->f != NULL)
        fclose(a->f);
    else if (a->fd >= 0)
        close(a->fd);
    if (a->f != NULL || a->fd >= 0)
        unlink(a->tmp);
    a->f = NULL;
    a->fd = -1;
    unlock(a);
}

int cd_write_all(int fd, const void *buf, size_t n)
{
    const char *p = buf;
    while (n > 0) {
        ssize_t w = write(fd, p, n);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return w < 0 ? errno : EIO;
        p += w;
        n -= (size_t)w;
    }
    return 0;
}

void cd_writeback_start(int fd)
{
    (void)sync_file_range(fd, 0, 0, SYNC_FILE_RANGE_WRITE);
}

cd_code cd_atomic_write(const char *path, const void *data, size_t len, mode_t mode, cd_err *err)
{
    cd_atomic a;
    cd_code rc = cd_atomic_open(&a, path, mode, err);
    if (rc != CD_OK)
        return rc;
    int e = cd_write_all(a.fd, data, len);
    if (e != 0) {
        rc = io_fail(err, "write file", a.tmp, e);
        cd_atomic_abort(&a);
        return rc;
    }
    return cd_atomic_commit(&a, err);
}
