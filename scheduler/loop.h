/*
 * loop.h: the scheduler's event loop: one epoll set that sleeps until a child exits (a
 * pidfd per child), a signal arrives (signalfd) or a timer is due. Nothing polls.
 *
 * create / add / delete / run, as redis ae.h: a child is watched with cd_loop_child (the
 * callback runs once, after the child was reaped, with its wait status); signals with
 * cd_loop_signals (blocked for the process and delivered through a signalfd); timers with
 * cd_loop_timer (one-shot, cancellable). cd_loop_run returns when cd_loop_stop was called
 * or nothing is left to wait for. Single-threaded.
 */
#ifndef CD_LOOP_H
#define CD_LOOP_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "cd_err.h"

typedef struct cd_loop cd_loop;

typedef void (*cd_child_fn)(void *arg, pid_t pid, int status);
typedef void (*cd_signal_fn)(void *arg, int signo);
typedef void (*cd_timer_fn)(void *arg, uint64_t id);

cd_code cd_loop_new(cd_loop **out, cd_err *err);
/* Free the loop; children still watched are neither killed nor reaped. */
void cd_loop_free(cd_loop **l);

/* Watch child pid (spawned by the caller); fn(arg, pid, wait status) after it is reaped. */
cd_code cd_loop_child(cd_loop *l, pid_t pid, cd_child_fn fn, void *arg, cd_err *err);
/* Deliver the signals of the 0-terminated list through fn (they are blocked from now on). */
cd_code cd_loop_signals(cd_loop *l, const int *signals, cd_signal_fn fn, void *arg, cd_err *err);
/* fn(arg, id) once at monotonic time `at` (seconds, cd_loop_now); returns its id (> 0). */
uint64_t cd_loop_timer(cd_loop *l, double at, cd_timer_fn fn, void *arg);
void cd_loop_cancel(cd_loop *l, uint64_t id);

/* Run until cd_loop_stop, or until no child and no timer is left. */
cd_code cd_loop_run(cd_loop *l, cd_err *err);
void cd_loop_stop(cd_loop *l);
/* Children still watched. */
int cd_loop_children(const cd_loop *l);

/* Monotonic seconds. */
double cd_loop_now(void);

#endif
