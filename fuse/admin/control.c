/*
 * control.c: ask a running cerebro-ds-fuse to do something (see control.h).
 */
#include "control.h"

#include <errno.h>
#include <fcntl.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

/* The socket name in MOUNT/.cerebro-ds/control. */
static cd_code socket_name(const char *mountpoint, char *name, size_t size, cd_err *err)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/.cerebro-ds/control", mountpoint);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        int e = errno;
        cd_fail(err, CD_EINVAL, "could not open \"%s\": %s", path, strerror(e));
        if (e == ENOTCONN || e == ECONNABORTED)
            return cd_hint(err,
                           "the daemon of %s is gone; start cerebro-ds-fuse again (it "
                           "recovers the mount point)",
                           mountpoint);
        return cd_hint(err, "is %s a cerebro-ds-fuse mount point?", mountpoint);
    }
    ssize_t n = read(fd, name, size - 1);
    close(fd);
    if (n <= 0)
        return cd_fail(err, CD_EIO, "could not read \"%s\"", path);
    name[n] = '\0';
    name[strcspn(name, "\n")] = '\0';
    return CD_OK;
}

static cd_code connect_to(const char *name, int *out, cd_err *err)
{
    struct sockaddr_un a = {.sun_family = AF_UNIX};
    size_t len = strlen(name);
    if (len == 0 || len >= sizeof a.sun_path - 1)
        return cd_fail(err, CD_EINVAL, "invalid control socket name \"%s\"", name);
    memcpy(a.sun_path + 1, name, len); /* abstract: sun_path[0] = '\0' */
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    socklen_t alen = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + 1 + len);
    if (fd < 0 || connect(fd, (struct sockaddr *)&a, alen) != 0) {
        cd_fail(err, CD_EIO, "could not connect to the control socket @%s: %s", name,
                strerror(errno));
        if (fd >= 0)
            close(fd);
        return cd_hint(err, "run this on the host of the mount, as the daemon's user or root");
    }
    *out = fd;
    return CD_OK;
}

/* Send line, read the answer line into buf. */
static cd_code exchange(int fd, const char *line, char *buf, size_t size, cd_err *err)
{
    size_t len = strlen(line), off = 0;
    while (off < len) {
        ssize_t n = send(fd, line + off, len - off, MSG_NOSIGNAL);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return cd_fail(err, CD_EIO, "could not send the command: %s", strerror(errno));
        off += (size_t)n;
    }
    off = 0;
    while (off < size - 1 && memchr(buf, '\n', off) == NULL) {
        ssize_t n = read(fd, buf + off, size - 1 - off);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            break;
        off += (size_t)n;
    }
    buf[off] = '\0';
    buf[strcspn(buf, "\n")] = '\0';
    return off > 0 ? CD_OK : cd_fail(err, CD_EIO, "the daemon closed the connection unanswered");
}

cd_code cd_control_request(const char *mountpoint, const char *command, char *reply, size_t size,
                           cd_err *err)
{
    char name[128], line[1100], answer[4096];
    int fd = -1;
    cd_code rc = socket_name(mountpoint, name, sizeof name, err);
    if (rc == CD_OK)
        rc = connect_to(name, &fd, err);
    if (rc != CD_OK)
        return rc;
    snprintf(line, sizeof line, "%s\n", command);
    rc = exchange(fd, line, answer, sizeof answer, err);
    close(fd);
    if (rc != CD_OK)
        return rc;
    if (strncmp(answer, "ok", 2) == 0 && (answer[2] == ' ' || answer[2] == '\0')) {
        snprintf(reply, size, "%s", answer[2] ? answer + 3 : "");
        return CD_OK;
    }
    const char *msg = strncmp(answer, "error ", 6) == 0 ? answer + 6 : answer;
    cd_fail(err, CD_EIO, "%s", msg);
    return cd_detail(err, "mount point %s, control socket @%s", mountpoint, name);
}
