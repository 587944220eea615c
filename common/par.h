/*
 * par.h: the worker threads of the CPU ops: one process-wide pool of T - 1 threads that,
 * with the calling thread, runs a loop's iterations in T contiguous ranges.
 *
 * Does: static partitioning (range t of [0, n) is [n t / T, n (t + 1) / T)), so an op that
 * keeps per-range partial sums and adds them in range order is deterministic for a fixed T;
 * per-thread scratch buffers owned by the pool (grown on demand, freed at cd_par_shutdown).
 * Does not: nest (a cd_par_for inside a loop body runs serially in that thread), balance
 * load, or run two loops at once: one thread drives the pool (the trainer's compute thread).
 * Workers sleep on a condition variable between loops; they never spin.
 */
#ifndef CD_PAR_H
#define CD_PAR_H

#include <stddef.h>

#define CD_PAR_MAX 64

/* Body of a loop: iterations [lo, hi) as range number t (0 <= t < cd_par_threads()). */
typedef void (*cd_par_fn)(void *arg, long lo, long hi, int t);

/* Use T threads in all (the caller and T - 1 workers), 1 <= T <= CD_PAR_MAX (clamped);
 * 0 means the number of online CPUs. Returns the number in use: fewer when threads could
 * not be created (then the loops still run, on fewer threads). Not during a loop. */
int cd_par_set_threads(int threads);
/* The number cd_par_set_threads(threads) asks for: 0 -> online CPUs, clamped to CD_PAR_MAX. */
int cd_par_resolve(int threads);
int cd_par_threads(void);

/* Run fn over [0, n): T ranges when n >= 2 * grain, else one range [0, n) as range 0.
 * Returns when every range is done. */
void cd_par_for(long n, long grain, cd_par_fn fn, void *arg);

/* A buffer of at least bytes for range t's own use, or NULL when memory is short (callers
 * then take a serial path). Valid until the next call with the same t and a larger size. */
void *cd_par_scratch(int t, size_t bytes);

/* Join the workers and free the scratch buffers (cd_par_threads() is 1 afterwards). */
void cd_par_shutdown(void);

#endif
