/*
 * fs_logfile.c: the daemon's log file (see fs_log.h): its default path, and its opening,
 * which refuses a file that another user could write or replace. The directory must be one
 * no other user can change (fsutil.h cd_trusted_dir: it and its ancestors, as ssh checks the
 * paths it trusts); the file is opened there with O_NOFOLLOW (a symbolic link is refused)
 * and O_NONBLOCK (a FIFO cannot hang the start), and must be a regular file of this user
 * that its group and others may not write.
 * Does not: write lines (fs_log.c).
 */
#include "fs_log.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fsutil.h"

#define LOG_DIR_NAME "cerebro-ds"
#define LOG_FILE_NAME "cerebro-ds-fuse.log"
#define ROOT_LOG_DIR "/var/log/" LOG_DIR_NAME

/* The XDG state directory of this user: $XDG_STATE_HOME (absolute), else ~/.local/state. */
static cd_code state_home(char *buf, size_t size, cd_err *err)
{
    const char *state = getenv("XDG_STATE_HOME"), *home = getenv("HOME");
    struct passwd *pw = home == NULL || home[0] != '/' ? getpwuid(geteuid()) : NULL;
    home = pw != NULL ? pw->pw_dir : home;
    int n = -1;
    if (state != NULL && state[0] == '/') /* XDG: a relative path is ignored */
        n = snprintf(buf, size, "%s", state);
    else if (home != NULL && home[0] == '/')
        n = snprintf(buf, size, "%s/.local/state", home);
    if (n >= 0 && (size_t)n < size)
        return CD_OK;
    cd_fail(err, CD_EINVAL, "no default log file: this user has no home directory");
    return cd_hint(err, "set [mount] log_file (or -o log_file=FILE), or log_file = syslog");
}

cd_code cd_log_default_path(char *buf, size_t size, cd_err *err)
{
    char state[PATH_MAX];
    int n;
    if (geteuid() == 0) {
        n = snprintf(buf, size, ROOT_LOG_DIR "/" LOG_FILE_NAME);
    } else {
        cd_code rc = state_home(state, sizeof state, err);
        /* XDG: a missing state directory is created, mode 0700 */
        if (rc == CD_OK)
            rc = cd_mkdir_p_mode(state, 0700, err);
        if (rc != CD_OK)
            return rc;
        n = snprintf(buf, size, "%s/" LOG_DIR_NAME "/" LOG_FILE_NAME, state);
    }
    if (n >= 0 && (size_t)n < size)
        return CD_OK;
    return cd_fail(err, CD_EINVAL, "the default log file's path is too long");
}

/* path made absolute (the daemon's directory will be /) into abs; its directory into dir;
 * *base: its last part (in abs), a file name. */
static cd_code split_path(const char *path, char *abs, char *dir, const char **base, cd_err *err)
{
    char cwd[PATH_MAX] = "";
    if (path[0] != '/' && getcwd(cwd, sizeof cwd) == NULL)
        return cd_fail(err, CD_EIO, "log file \"%s\": no current directory: %s", path,
                       strerror(errno));
    int n = snprintf(abs, PATH_MAX, "%s%s%s", cwd, cwd[0] ? "/" : "", path);
    char *slash = strrchr(abs, '/');
    if (n < 0 || n >= PATH_MAX || slash[1] == '\0' || strcmp(slash + 1, ".") == 0 ||
        strcmp(slash + 1, "..") == 0) {
        cd_fail(err, CD_EINVAL, "log file \"%s\" is not the path of a file", path);
        return cd_hint(err, "set [mount] log_file to a file's path, such as " ROOT_LOG_DIR
                            "/" LOG_FILE_NAME);
    }
    snprintf(dir, PATH_MAX, "%.*s", slash == abs ? 1 : (int)(slash - abs), abs);
    *base = slash + 1;
    return CD_OK;
}

/* The open file: a regular file of this user that its group and others may not write. */
static cd_code check_file(int fd, const char *path, cd_err *err)
{
    struct stat st;
    uid_t me = geteuid();
    if (fstat(fd, &st) != 0)
        return cd_fail(err, CD_EIO, "could not examine log file \"%s\": %s", path, strerror(errno));
    const char *why = !S_ISREG(st.st_mode)               ? "is not a regular file"
                      : st.st_uid != me                  ? "belongs to another user"
                      : st.st_mode & (S_IWGRP | S_IWOTH) ? "is writable by other users"
                                                         : NULL;
    if (why == NULL)
        return CD_OK;
    cd_fail(err, CD_EINVAL, "log file \"%s\" %s", path, why);
    cd_detail(err, "owner uid %u, mode %04o; only the daemon's user (uid %u) may write its log",
              (unsigned)st.st_uid, (unsigned)(st.st_mode & 07777), (unsigned)me);
    if (!S_ISREG(st.st_mode))
        return cd_hint(err, "set [mount] log_file to the path of a regular file");
    if (st.st_uid != me)
        return cd_hint(err, "make it the daemon user's: chown %u \"%s\" (or remove it)",
                       (unsigned)me, path);
    return cd_hint(err, "chmod go-w \"%s\"", path);
}

/* Why openat failed, with what to do. */
static cd_code open_failed(const char *path, int e, cd_err *err)
{
    if (e == ELOOP) {
        cd_fail(err, CD_EINVAL, "log file \"%s\" is a symbolic link", path);
        cd_detail(err, "the log is never written through a link: it could lead anywhere");
        return cd_hint(err,
                       "remove the link (rm \"%s\"): the daemon creates the file itself "
                       "(mode 0600), or set [mount] log_file to the file's real path",
                       path);
    }
    if (e == ENXIO) { /* a FIFO without a reader, a socket */
        cd_fail(err, CD_EINVAL, "log file \"%s\" is not a regular file", path);
        return cd_hint(err, "set [mount] log_file to the path of a regular file");
    }
    cd_fail(err, CD_EIO, "could not open log file \"%s\": %s", path, strerror(e));
    return cd_hint(err,
                   "set [mount] log_file (or -o log_file=FILE) to a file this user (uid %u) "
                   "can create and write, or log_file = syslog",
                   (unsigned)geteuid());
}

cd_code cd_log_file_open(const char *path, int *fd, cd_err *err)
{
    char abs[PATH_MAX], dir[PATH_MAX];
    const char *base = NULL;
    *fd = -1;
    cd_code rc = split_path(path, abs, dir, &base, err);
    if (rc == CD_OK)
        rc = cd_trusted_dir(dir, 0700, "log directory", err);
    if (rc != CD_OK)
        return rc;
    int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dfd < 0)
        return open_failed(path, errno, err);
    int flags = O_WRONLY | O_APPEND | O_CREAT | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK | O_NOCTTY;
    *fd = openat(dfd, base, flags, 0600);
    int e = errno;
    close(dfd);
    if (*fd < 0)
        return open_failed(path, e, err);
    rc = check_file(*fd, path, err);
    if (rc == CD_OK && fcntl(*fd, F_SETFL, O_APPEND) != 0)
        rc = cd_fail(err, CD_EIO, "log file \"%s\": %s", path, strerror(errno));
    if (rc != CD_OK) {
        close(*fd);
        *fd = -1;
    }
    return rc;
}
