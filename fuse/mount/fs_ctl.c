/*
 * fs_ctl.c: control of a running cerebro-ds-fuse: the control socket (abstract unix socket
 * "\0cerebro-ds-fuse-<pid>-<random>", named in .cerebro-ds/control), SIGHUP, refresh, the
 * stats text, preloading.
 *
 * Protocol: one command line per connection, one answer line:
 *   refresh\n                      -> ok <n tables refreshed>\n | error <message>\n
 *   refresh <db>/<schema.table>\n  (or <schema.table> when one database is served)
 *   refresh [TABLE] cut=<id>\n      the same, the new snapshots part of cluster cut <id>
 *                                  (cerebro-ds refresh --cluster; named in the meta files)
 * Only peers running as the daemon's user or root are served (SO_PEERCRED).
 * One thread serves the socket and SIGHUP, one request at a time: refreshes never overlap.
 * Does not: know how a table is pinned (fs_tree.c).
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>
#include <stdint.h>
#include <time.h>
#include <sys/random.h>

#include "cut.h"
#include "fs.h"
#include "fs_log.h"

static int wake[2] = {-1, -1}; /* self-pipe: 'h' SIGHUP, 'q' stop */
static int listen_fd = -1;
static pthread_t ctl_thread;
static bool ctl_running;
static pthread_t preload_thread;
static bool preload_running;

/* Start a thread that never takes SIGTERM, SIGINT or SIGHUP: they go to the main thread,
 * where libfuse's handler ends the loop. */
static int start_thread(pthread_t *t, void *(*fn)(void *), void *arg)
{
    sigset_t block, old;
    sigemptyset(&block);
    sigaddset(&block, SIGTERM);
    sigaddset(&block, SIGINT);
    sigaddset(&block, SIGHUP);
    pthread_sigmask(SIG_BLOCK, &block, &old);
    int rc = pthread_create(t, NULL, fn, arg);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    return rc;
}

/* ---- refresh ---- */

/* Tables of every database (pinned ones only, or all); malloc'd array. */
static fs_table **tables_of(cd_fs *fs, bool pinned_only, int *n)
{
    pthread_mutex_lock(&fs->lock);
    int total = 0;
    for (int i = 0; i < fs->ndbs; i++)
        total += fs->dbs[i]->ntables;
    fs_table **out = malloc(((size_t)total + 1) * sizeof *out);
    *n = 0;
    for (int i = 0; out != NULL && i < fs->ndbs; i++)
        for (int j = 0; j < fs->dbs[i]->ntables; j++)
            if (!pinned_only || fs->dbs[i]->tables[j]->cur != NULL)
                out[(*n)++] = fs->dbs[i]->tables[j];
    pthread_mutex_unlock(&fs->lock);
    return out;
}

/* Refresh tables[0..n); the answer line into reply. */
static void refresh_list(cd_fs *fs, fs_table **tables, int n, const char *cut, char *reply,
                         size_t size)
{
    int done = 0, failed = 0;
    char first[1200] = "", path[512];
    for (int i = 0; i < n; i++) {
        cd_err err = {0};
        fs_table_path(tables[i], path, sizeof path);
        if (fs_refresh_table(fs, tables[i], cut, &err) == CD_OK) {
            done++;
            continue;
        }
        cd_log_err(CD_LOG_ERROR, &err, "could not refresh %s", path);
        if (failed++ == 0)
            snprintf(first, sizeof first, "%s: %s%s%s", path, err.msg, err.hint[0] ? " HINT: " : "",
                     err.hint);
    }
    if (failed == 0)
        snprintf(reply, size, "ok %d\n", done);
    else
        snprintf(reply, size, "error %d of %d tables could not be refreshed; %s\n", failed, n,
                 first);
}

static void refresh_all(cd_fs *fs, const char *cut, char *reply, size_t size)
{
    cd_err err = {0};
    if (fs_relist(fs, &err) != CD_OK) /* new tables of `schemas` */
        cd_log_err(CD_LOG_WARNING, &err, "could not list the tables of the schemas again");
    int n = 0;
    fs_table **tables = tables_of(fs, true, &n);
    if (tables == NULL) {
        snprintf(reply, size, "error out of memory\n");
        return;
    }
    refresh_list(fs, tables, n, cut, reply, size);
    free(tables);
    cd_log(CD_LOG_INFO, "refresh of every pinned table: %.*s", (int)strcspn(reply, "\n"), reply);
}

/* The table named by target ("db/schema.table", or "schema.table" with one database). */
static fs_table *find_table(cd_fs *fs, const char *target, char *why, size_t size)
{
    char dbname[128] = "", name[320], q[320];
    const char *slash = strchr(target, '/');
    if (slash != NULL)
        snprintf(dbname, sizeof dbname, "%.*s", (int)(slash - target), target);
    snprintf(name, sizeof name, "%s", slash ? slash + 1 : target);
    if (!slash && fs->ndbs > 1) {
        snprintf(why, size, "several databases are served: name the table as db/schema.table");
        return NULL;
    }
    cd_config_qualify(name, q, sizeof q);
    fs_table *found = NULL;
    pthread_mutex_lock(&fs->lock);
    for (int i = 0; i < fs->ndbs && !found; i++) {
        fs_db *db = fs->dbs[i];
        if (slash && strcmp(db->name, dbname) != 0)
            continue;
        for (int j = 0; j < db->ntables && !found; j++)
            if (strcmp(db->tables[j]->name, q) == 0)
                found = db->tables[j];
    }
    pthread_mutex_unlock(&fs->lock);
    if (found == NULL)
        snprintf(why, size, "no table %s%s%s is served", dbname, slash ? "/" : "", q);
    return found;
}

void fs_ctl_command(cd_fs *fs, const char *line, char *reply, size_t size)
{
    char cmd[1024];
    snprintf(cmd, sizeof cmd, "%s", line);
    cmd[strcspn(cmd, "\r\n")] = '\0';
    const char *cut = NULL;
    char *word = strstr(cmd, " cut=");
    if (word != NULL) {
        *word = '\0';
        cut = word + 5;
    }
    if (cut != NULL && !cd_cut_valid(cut)) {
        snprintf(reply, size, "error bad cut \"%.100s\" (letters, digits, '-', ':', '.')\n", cut);
    } else if (strcmp(cmd, "refresh") == 0) {
        refresh_all(fs, cut, reply, size);
    } else if (strncmp(cmd, "refresh ", 8) == 0) {
        char why[512];
        const char *target = cmd + 8 + strspn(cmd + 8, " ");
        fs_table *t = find_table(fs, target, why, sizeof why);
        if (t == NULL)
            snprintf(reply, size, "error %s\n", why);
        else
            refresh_list(fs, &t, 1, cut, reply, size);
        cd_log(CD_LOG_INFO, "refresh of %s: %.*s", target, (int)strcspn(reply, "\n"), reply);
    } else {
        snprintf(reply, size, "error unknown command \"%.100s\" (expected: refresh [TABLE])\n",
                 cmd);
    }
}

/* ---- the socket ---- */

/* Refusals are logged at most once a second (the control thread alone calls this): a flood
 * of refused connections cannot flood the log; the next line says how many were not. */
static void log_refusal(const struct ucred *cred)
{
    static time_t last;
    static unsigned long unlogged;
    time_t now = time(NULL);
    if (now == last) {
        unlogged++;
        return;
    }
    last = now;
    cd_log(CD_LOG_WARNING,
           "control: refused a request of uid %u (pid %d): only uid %u or root (%lu more "
           "refusals since the last line)",
           (unsigned)cred->uid, (int)cred->pid, (unsigned)getuid(), unlogged);
    unlogged = 0;
}

/* Is the peer the daemon's user or root? */
static bool peer_allowed(int fd)
{
    struct ucred cred;
    socklen_t len = sizeof cred;
    if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) != 0)
        return false;
    if (cred.uid == 0 || cred.uid == getuid())
        return true;
    log_refusal(&cred);
    return false;
}

/* Read one line (up to size - 1 bytes, 5 s at most). */
static bool read_line(int fd, char *buf, size_t size)
{
    struct timeval tv = {.tv_sec = 5};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    size_t len = 0;
    while (len < size - 1) {
        ssize_t n = read(fd, buf + len, size - 1 - len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            break;
        len += (size_t)n;
        if (memchr(buf, '\n', len) != NULL)
            break;
    }
    buf[len] = '\0';
    return len > 0;
}

static void serve(cd_fs *fs, int fd)
{
    char line[1024], reply[2048];
    if (!peer_allowed(fd))
        snprintf(reply, sizeof reply, "error permission denied: not the daemon's user\n");
    else if (!read_line(fd, line, sizeof line))
        snprintf(reply, sizeof reply, "error no command\n");
    else
        fs_ctl_command(fs, line, reply, sizeof reply);
    size_t off = 0, len = strlen(reply);
    while (off < len) {
        ssize_t n = send(fd, reply + off, len - off, MSG_NOSIGNAL);
        if (n <= 0)
            break;
        off += (size_t)n;
    }
}

/* Drain the self-pipe: false when asked to stop; *hup when SIGHUP came. */
static bool drain(bool *hup)
{
    char buf[64];
    ssize_t n;
    bool go = true;
    while ((n = read(wake[0], buf, sizeof buf)) > 0)
        for (ssize_t i = 0; i < n; i++)
            go = go && buf[i] != 'q', *hup = *hup || buf[i] == 'h';
    return go;
}

static void *ctl_main(void *arg)
{
    cd_fs *fs = arg;
    for (;;) {
        struct pollfd p[2] = {{.fd = wake[0], .events = POLLIN},
                              {.fd = listen_fd, .events = POLLIN}};
        /* at least once a second: release the snapshots whose grace period is over */
        int ready = poll(p, 2, 1000);
        if (ready < 0 && errno != EINTR)
            break;
        fs_gen_sweep(fs);
        if (ready <= 0)
            continue;
        bool hup = false;
        if ((p[0].revents & POLLIN) && !drain(&hup))
            break;
        if (hup) {
            char reply[2048];
            cd_log(CD_LOG_INFO, "SIGHUP: refreshing every pinned table");
            refresh_all(fs, NULL, reply, sizeof reply);
        }
        if (p[1].revents & POLLIN) {
            int fd = accept4(listen_fd, NULL, NULL, SOCK_CLOEXEC);
            if (fd >= 0) {
                serve(fs, fd);
                close(fd);
            }
        }
    }
    return NULL;
}

void fs_ctl_request_refresh(void)
{
    int saved = errno;
    if (wake[1] >= 0 && write(wake[1], "h", 1) < 0) {
        /* a full pipe already holds a wake-up */
    }
    errno = saved;
}

/* Bind the control socket to a fresh abstract name "cerebro-ds-fuse-<pid>-<random>",
 * published in .cerebro-ds/control: nobody can take it in advance (abstract names are free
 * for all to bind), and a taken name is simply replaced by another. 0 or an errno. */
static int bind_control(cd_fs *fs)
{
    for (int attempt = 0; attempt < 16; attempt++) {
        uint64_t r = 0;
        if (getrandom(&r, sizeof r, 0) != (ssize_t)sizeof r)
            r = (uint64_t)time(NULL) * 2654435761u + (uint64_t)attempt;
        snprintf(fs->control, sizeof fs->control, "cerebro-ds-fuse-%d-%016llx", (int)getpid(),
                 (unsigned long long)r);
        struct sockaddr_un a = {.sun_family = AF_UNIX};
        size_t len = strlen(fs->control);
        memcpy(a.sun_path + 1, fs->control, len); /* sun_path[0] = '\0': abstract */
        socklen_t alen = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + 1 + len);
        if (bind(listen_fd, (struct sockaddr *)&a, alen) == 0)
            return 0;
        if (errno != EADDRINUSE)
            return errno;
        cd_log(CD_LOG_WARNING, "control socket name @%s was taken; another one", fs->control);
    }
    return EADDRINUSE;
}

cd_code fs_ctl_start(cd_fs *fs, cd_err *err)
{
    if (pipe2(wake, O_CLOEXEC | O_NONBLOCK) != 0)
        return cd_fail(err, CD_EIO, "could not create a pipe: %s", strerror(errno));
    listen_fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    int e = listen_fd < 0 ? errno : bind_control(fs);
    if (e != 0 || listen(listen_fd, 16) != 0) {
        errno = e ? e : errno;
        cd_fail(err, CD_EIO, "could not listen on control socket @%s: %s", fs->control,
                strerror(errno));
        fs_ctl_stop(fs);
        return err->code;
    }
    if (start_thread(&ctl_thread, ctl_main, fs) != 0) {
        fs_ctl_stop(fs);
        return cd_fail(err, CD_EIO, "could not start the control thread");
    }
    ctl_running = true;
    return CD_OK;
}

void fs_ctl_stop(cd_fs *fs)
{
    if (ctl_running) {
        if (write(wake[1], "q", 1) < 0)
            cd_log(CD_LOG_WARNING, "control: could not wake the control thread");
        pthread_join(ctl_thread, NULL);
        ctl_running = false;
    }
    if (listen_fd >= 0)
        close(listen_fd);
    for (int i = 1; i >= 0; i--)
        if (wake[i] >= 0)
            close(wake[i]);
    listen_fd = wake[0] = wake[1] = -1;
}

/* ---- preload ---- */

static void *preload_main(void *arg)
{
    cd_fs *fs = arg;
    int n = 0, ok = 0;
    fs_table **tables = tables_of(fs, false, &n);
    for (int i = 0; tables != NULL && i < n && !cd_interrupted; i++) {
        fs_gen *g;
        if (fs_table_gen(fs, tables[i], &g) == 0) { /* errors are logged there */
            fs_gen_put(fs, g);
            ok++;
        }
    }
    free(tables);
    cd_log(CD_LOG_INFO, "preload: %d of %d tables pinned and indexed", ok, n);
    return NULL;
}

void fs_preload_start(cd_fs *fs)
{
    preload_running = start_thread(&preload_thread, preload_main, fs) == 0;
    if (!preload_running)
        cd_log(CD_LOG_ERROR, "could not start the preload thread; tables pin on first access");
}

void fs_preload_join(void)
{
    if (preload_running)
        pthread_join(preload_thread, NULL);
    preload_running = false;
}
