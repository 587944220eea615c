/*
 * par.c: the CPU ops' thread pool (see par.h). One job at a time: the driver publishes
 * (fn, arg, n) under the lock, bumps the generation and wakes the workers; each worker runs
 * its range and decrements `pending`; the driver runs range 0 and waits for pending == 0.
 * Lock order: only pool.mu.
 */
#include "par.h"

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <unistd.h>

struct scratch {
    void *p;
    size_t size;
};

static struct {
    pthread_mutex_t mu;
    pthread_cond_t go, done;
    int threads; /* in use, including the driver; 0 until first use means 1 */
    pthread_t th[CD_PAR_MAX];
    uint64_t gen; /* bumped per job */
    int pending;  /* workers still running the current job */
    bool stop;
    bool busy; /* a job is running: nested cd_par_for calls run serially */
    cd_par_fn fn;
    void *arg;
    long n;
    struct scratch scratch[CD_PAR_MAX];
} pool = {.mu = PTHREAD_MUTEX_INITIALIZER,
          .go = PTHREAD_COND_INITIALIZER,
          .done = PTHREAD_COND_INITIALIZER};

static void range_of(long n, int t, int threads, long *lo, long *hi)
{
    *lo = (long)((__int128)n * t / threads);
    *hi = (long)((__int128)n * (t + 1) / threads);
}

static void run_range(int t)
{
    long lo, hi;
    range_of(pool.n, t, pool.threads, &lo, &hi);
    if (lo < hi)
        pool.fn(pool.arg, lo, hi, t);
}

static void *worker(void *argp)
{
    int t = (int)(intptr_t)argp;
    uint64_t seen = 0;
    pthread_mutex_lock(&pool.mu);
    for (;;) {
        while (!pool.stop && pool.gen == seen)
            pthread_cond_wait(&pool.go, &pool.mu);
        if (pool.stop)
            break;
        seen = pool.gen;
        pthread_mutex_unlock(&pool.mu);
        run_range(t);
        pthread_mutex_lock(&pool.mu);
        if (--pool.pending == 0)
            pthread_cond_signal(&pool.done);
    }
    pthread_mutex_unlock(&pool.mu);
    return NULL;
}

static void join_workers(void)
{
    pthread_mutex_lock(&pool.mu);
    pool.stop = true;
    pthread_cond_broadcast(&pool.go);
    pthread_mutex_unlock(&pool.mu);
    for (int t = pool.threads - 1; t >= 1; t--)
        pthread_join(pool.th[t], NULL);
    pool.stop = false;
    pool.threads = 1;
}

int cd_par_resolve(int threads)
{
    if (threads <= 0) {
        long cpus = sysconf(_SC_NPROCESSORS_ONLN);
        threads = cpus > 0 ? (int)cpus : 1;
    }
    return threads > CD_PAR_MAX ? CD_PAR_MAX : threads;
}

int cd_par_set_threads(int threads)
{
    threads = cd_par_resolve(threads);
    if (pool.threads > 1)
        join_workers();
    pool.threads = 1;
    pool.gen = 0;
    for (int t = 1; t < threads; t++) {
        if (pthread_create(&pool.th[t], NULL, worker, (void *)(intptr_t)t) != 0)
            break;
        pool.threads = t + 1;
    }
    return pool.threads;
}

int cd_par_threads(void)
{
    return pool.threads > 0 ? pool.threads : 1;
}

void cd_par_for(long n, long grain, cd_par_fn fn, void *arg)
{
    if (pool.threads <= 1 || pool.busy || n < 2 * (grain > 0 ? grain : 1)) {
        if (n > 0)
            fn(arg, 0, n, 0);
        return;
    }
    pthread_mutex_lock(&pool.mu);
    pool.fn = fn;
    pool.arg = arg;
    pool.n = n;
    pool.pending = pool.threads - 1;
    pool.busy = true;
    pool.gen++;
    pthread_cond_broadcast(&pool.go);
    pthread_mutex_unlock(&pool.mu);
    run_range(0);
    pthread_mutex_lock(&pool.mu);
    while (pool.pending > 0)
        pthread_cond_wait(&pool.done, &pool.mu);
    pool.busy = false;
    pthread_mutex_unlock(&pool.mu);
}

void *cd_par_scratch(int t, size_t bytes)
{
    if (t < 0 || t >= CD_PAR_MAX)
        return NULL;
    struct scratch *s = &pool.scratch[t];
    if (s->size < bytes) {
        void *p = NULL;
        if (posix_memalign(&p, 64, bytes) != 0)
            return NULL;
        free(s->p);
        s->p = p;
        s->size = bytes;
    }
    return s->p;
}

void cd_par_shutdown(void)
{
    if (pool.threads > 1)
        join_workers();
    for (int t = CD_PAR_MAX - 1; t >= 0; t--) {
        free(pool.scratch[t].p);
        pool.scratch[t] = (struct scratch){0};
    }
}
