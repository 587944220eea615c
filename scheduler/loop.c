/*
 * loop.c: the scheduler's event loop (see loop.h): epoll over the children's pidfds and a
 * signalfd; the epoll timeout is the nearest timer. Children and timers live in small
 * arrays (a job has one child per worker and a few timers), scanned linearly.
 */
#include "loop.h"

#include <errno.h>
#include <math.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/pidfd.h>
#include <sys/signalfd.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define TAG_SIGNAL UINT64_MAX

struct child {
    pid_t pid;
    int fd;
    cd_child_fn fn;
    void *arg;
};

struct timer {
    uint64_t id;
    double at;
    cd_timer_fn fn;
    void *arg;
};

struct cd_loop {
    int ep;
    int sigfd;
    cd_signal_fn sig_fn;
    void *sig_arg;
    struct child *children;
    int nchildren, cap_children;
    struct timer *timers;
    int ntimers, cap_timers;
    uint64_t next_timer;
    bool stop;
};

double cd_loop_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

cd_code cd_loop_new(cd_loop **out, cd_err *err)
{
    cd_loop *l = calloc(1, sizeof *l);
    if (l == NULL)
        return cd_fail(err, CD_ENOMEM, "out of memory");
    l->sigfd = -1;
    l->ep = epoll_create1(EPOLL_CLOEXEC);
    if (l->ep < 0) {
        free(l);
        return cd_fail(err, CD_EIO, "could not create an epoll set: %s", strerror(errno));
    }
    *out = l;
    return CD_OK;
}

void cd_loop_free(cd_loop **lp)
{
    cd_loop *l = *lp;
    if (l == NULL)
        return;
    for (int i = l->nchildren - 1; i >= 0; i--)
        close(l->children[i].fd);
    if (l->sigfd >= 0)
        close(l->sigfd);
    close(l->ep);
    free(l->timers);
    free(l->children);
    free(l);
    *lp = NULL;
}

static bool grow(void **p, int *cap, int n, size_t size)
{
    if (n < *cap)
        return true;
    int want = *cap ? 2 * *cap : 16;
    void *q = realloc(*p, (size_t)want * size);
    if (q == NULL)
        return false;
    *p = q;
    *cap = want;
    return true;
}

cd_code cd_loop_child(cd_loop *l, pid_t pid, cd_child_fn fn, void *arg, cd_err *err)
{
    if (!grow((void **)&l->children, &l->cap_children, l->nchildren, sizeof *l->children))
        return cd_fail(err, CD_ENOMEM, "out of memory");
    int fd = pidfd_open(pid, 0);
    if (fd < 0)
        return cd_fail(err, CD_EIO, "could not watch process %d: %s", (int)pid, strerror(errno));
    struct epoll_event ev = {.events = EPOLLIN, .data.u64 = (uint64_t)pid};
    if (epoll_ctl(l->ep, EPOLL_CTL_ADD, fd, &ev) != 0) {
        close(fd);
        return cd_fail(err, CD_EIO, "could not watch process %d: %s", (int)pid, strerror(errno));
    }
    l->children[l->nchildren++] = (struct child){pid, fd, fn, arg};
    return CD_OK;
}

cd_code cd_loop_signals(cd_loop *l, const int *signals, cd_signal_fn fn, void *arg, cd_err *err)
{
    sigset_t set;
    sigemptyset(&set);
    for (const int *s = signals; *s != 0; s++)
        sigaddset(&set, *s);
    if (sigprocmask(SIG_BLOCK, &set, NULL) != 0)
        return cd_fail(err, CD_EIO, "could not block signals: %s", strerror(errno));
    l->sigfd = signalfd(-1, &set, SFD_CLOEXEC | SFD_NONBLOCK);
    struct epoll_event ev = {.events = EPOLLIN, .data.u64 = TAG_SIGNAL};
    if (l->sigfd < 0 || epoll_ctl(l->ep, EPOLL_CTL_ADD, l->sigfd, &ev) != 0)
        return cd_fail(err, CD_EIO, "could not watch signals: %s", strerror(errno));
    l->sig_fn = fn;
    l->sig_arg = arg;
    return CD_OK;
}

uint64_t cd_loop_timer(cd_loop *l, double at, cd_timer_fn fn, void *arg)
{
    if (!grow((void **)&l->timers, &l->cap_timers, l->ntimers, sizeof *l->timers))
        return 0;
    uint64_t id = ++l->next_timer;
    l->timers[l->ntimers++] = (struct timer){id, at, fn, arg};
    return id;
}

void cd_loop_cancel(cd_loop *l, uint64_t id)
{
    for (int i = 0; i < l->ntimers; i++)
        if (l->timers[i].id == id) {
            l->timers[i] = l->timers[--l->ntimers];
            return;
        }
}

void cd_loop_stop(cd_loop *l)
{
    l->stop = true;
}

int cd_loop_children(const cd_loop *l)
{
    return l->nchildren;
}

/* Milliseconds until the nearest timer (-1: none). */
static int timeout_ms(const cd_loop *l)
{
    if (l->ntimers == 0)
        return -1;
    double at = l->timers[0].at;
    for (int i = 1; i < l->ntimers; i++)
        at = fmin(at, l->timers[i].at);
    double ms = ceil((at - cd_loop_now()) * 1000.0);
    return ms <= 0 ? 0 : ms > 86400000.0 ? 86400000 : (int)ms;
}

static void fire_timers(cd_loop *l)
{
    double now = cd_loop_now();
    for (int i = 0; i < l->ntimers && !l->stop;) {
        if (l->timers[i].at > now) {
            i++;
            continue;
        }
        struct timer t = l->timers[i];
        l->timers[i] = l->timers[--l->ntimers];
        t.fn(t.arg, t.id); /* may add or cancel timers: rescan from the start */
        i = 0;
    }
}

static void reap(cd_loop *l, pid_t pid)
{
    for (int i = 0; i < l->nchildren; i++) {
        if (l->children[i].pid != pid)
            continue;
        int status = 0;
        if (waitpid(pid, &status, WNOHANG) == 0)
            return; /* not yet: the pidfd stays readable */
        struct child c = l->children[i];
        epoll_ctl(l->ep, EPOLL_CTL_DEL, c.fd, NULL);
        close(c.fd);
        l->children[i] = l->children[--l->nchildren];
        c.fn(c.arg, pid, status);
        return;
    }
}

static void read_signals(cd_loop *l)
{
    struct signalfd_siginfo si;
    while (read(l->sigfd, &si, sizeof si) == (ssize_t)sizeof si)
        if (l->sig_fn != NULL)
            l->sig_fn(l->sig_arg, (int)si.ssi_signo);
}

cd_code cd_loop_run(cd_loop *l, cd_err *err)
{
    l->stop = false;
    while (!l->stop && (l->nchildren > 0 || l->ntimers > 0)) {
        struct epoll_event evs[16];
        int n = epoll_wait(l->ep, evs, 16, timeout_ms(l));
        if (n < 0 && errno != EINTR)
            return cd_fail(err, CD_EIO, "epoll_wait: %s", strerror(errno));
        for (int i = 0; i < n && !l->stop; i++) {
            if (evs[i].data.u64 == TAG_SIGNAL)
                read_signals(l);
            else
                reap(l, (pid_t)evs[i].data.u64);
        }
        if (!l->stop)
            fire_timers(l);
    }
    return CD_OK;
}
