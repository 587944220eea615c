/*
 * test_loop.c: the scheduler's event loop (scheduler/loop.h): a child's exit wakes it with
 * the wait status, timers fire in order and can be cancelled, a signal arrives through the
 * signalfd, and the loop sleeps (CPU time stays near zero while a child sleeps).
 */
#include <signal.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include "unit.h"

#include "loop.h"

struct seen {
    int exits, last_status, timers, order[4], signals;
    cd_loop *l;
};

static void on_child(void *arg, pid_t pid, int status)
{
    struct seen *s = arg;
    s->exits++;
    s->last_status = status;
}

static void on_timer(void *arg, uint64_t id)
{
    struct seen *s = arg;
    if (s->timers < 4)
        s->order[s->timers] = (int)id;
    s->timers++;
}

static void on_signal(void *arg, int signo)
{
    struct seen *s = arg;
    s->signals += signo == SIGUSR1;
    cd_loop_stop(s->l);
}

static pid_t spawn_exit(int code, double sleep_s)
{
    pid_t p = fork();
    if (p == 0) {
        usleep((useconds_t)(sleep_s * 1e6));
        _exit(code);
    }
    return p;
}

static double cpu_seconds(void)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return (double)ru.ru_utime.tv_sec + ru.ru_utime.tv_usec / 1e6 + (double)ru.ru_stime.tv_sec +
           ru.ru_stime.tv_usec / 1e6;
}

static void test_children_and_timers(void)
{
    struct seen s = {0};
    cd_loop *l = NULL;
    cd_err err = {0};
    CHECK_CODE(cd_loop_new(&l, &err), CD_OK, &err);
    s.l = l;
    double now = cd_loop_now(), cpu = cpu_seconds();
    CHECK_CODE(cd_loop_child(l, spawn_exit(7, 0.3), on_child, &s, &err), CD_OK, &err);
    uint64_t a = cd_loop_timer(l, now + 0.1, on_timer, &s);
    uint64_t b = cd_loop_timer(l, now + 0.05, on_timer, &s);
    uint64_t c = cd_loop_timer(l, now + 0.2, on_timer, &s);
    cd_loop_cancel(l, c);
    CHECK_CODE(cd_loop_run(l, &err), CD_OK, &err);
    CHECK_EQ_INT(s.exits, 1);
    CHECK(WIFEXITED(s.last_status) && WEXITSTATUS(s.last_status) == 7);
    CHECK_EQ_INT(s.timers, 2);
    CHECK(s.order[0] == (int)b && s.order[1] == (int)a);
    CHECK(cd_loop_now() - now >= 0.29);
    CHECK(cpu_seconds() - cpu < 0.05); /* slept, did not poll */
    CHECK_EQ_INT(cd_loop_children(l), 0);
    cd_loop_free(&l);
}

static void test_signal(void)
{
    struct seen s = {0};
    cd_loop *l = NULL;
    cd_err err = {0};
    CHECK_CODE(cd_loop_new(&l, &err), CD_OK, &err);
    s.l = l;
    static const int sigs[] = {SIGUSR1, 0};
    CHECK_CODE(cd_loop_signals(l, sigs, on_signal, &s, &err), CD_OK, &err);
    pid_t child = spawn_exit(0, 2.0);
    CHECK_CODE(cd_loop_child(l, child, on_child, &s, &err), CD_OK, &err);
    kill(getpid(), SIGUSR1); /* blocked: waits in the signalfd */
    CHECK_CODE(cd_loop_run(l, &err), CD_OK, &err);
    CHECK_EQ_INT(s.signals, 1);
    CHECK_EQ_INT(s.exits, 0);
    kill(child, SIGKILL);
    CHECK_CODE(cd_loop_run(l, &err), CD_OK, &err);
    CHECK(s.exits == 1 && WIFSIGNALED(s.last_status));
    cd_loop_free(&l);
}

int main(void)
{
    RUN(test_children_and_timers);
    RUN(test_signal);
    return UNIT_DONE();
}
