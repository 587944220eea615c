/*
 * bgwrite.c: the background writer thread of bgwrite.h.
 *
 * Lock order: q->mu only; the thread writes with it released. The thread blocks every
 * signal, so SIGINT and SIGTERM still reach the threads that decode (cd_interrupted).
 */
#include "bgwrite.h"

#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>

#include "atomicfile.h"

struct cd_bgwrite {
    pthread_t tid;
    pthread_mutex_t mu;
    pthread_cond_t work; /* the queue got a request, or stop was asked */
    pthread_cond_t done; /* a request was written */
    cd_bgwrite_req *head, *tail;
    bool stop;
};

/* The next request, or NULL once stop is asked and the queue is empty. */
static cd_bgwrite_req *next_req(cd_bgwrite *q)
{
    pthread_mutex_lock(&q->mu);
    while (q->head == NULL && !q->stop)
        pthread_cond_wait(&q->work, &q->mu);
    cd_bgwrite_req *r = q->head;
    if (r != NULL) {
        q->head = r->next;
        if (q->head == NULL)
            q->tail = NULL;
    }
    pthread_mutex_unlock(&q->mu);
    return r;
}

static void *writer_main(void *arg)
{
    cd_bgwrite *q = arg;
    cd_bgwrite_req *r;
    while ((r = next_req(q)) != NULL) {
        int e = cd_write_all(r->fd, r->buf, r->len);
        if (e == 0 && r->writeback)
            cd_writeback_start(r->fd);
        pthread_mutex_lock(&q->mu);
        r->err = e;
        r->done = true;
        pthread_cond_broadcast(&q->done);
        pthread_mutex_unlock(&q->mu);
    }
    return NULL;
}

/* Create the thread with every signal blocked (it inherits the mask). */
static int start_thread(cd_bgwrite *q)
{
    sigset_t all, old;
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &old);
    int e = pthread_create(&q->tid, NULL, writer_main, q);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    return e;
}

cd_code cd_bgwrite_start(cd_bgwrite **out, cd_err *err)
{
    *out = NULL;
    cd_bgwrite *q = calloc(1, sizeof *q);
    if (q == NULL)
        return cd_fail(err, CD_ENOMEM, "out of memory");
    pthread_mutex_init(&q->mu, NULL);
    pthread_cond_init(&q->work, NULL);
    pthread_cond_init(&q->done, NULL);
    int e = start_thread(q);
    if (e != 0) {
        pthread_cond_destroy(&q->done);
        pthread_cond_destroy(&q->work);
        pthread_mutex_destroy(&q->mu);
        free(q);
        return cd_fail(err, CD_ENOMEM, "could not start the writer thread: %s", strerror(e));
    }
    *out = q;
    return CD_OK;
}

void cd_bgwrite_submit(cd_bgwrite *q, cd_bgwrite_req *r)
{
    pthread_mutex_lock(&q->mu);
    r->busy = true;
    r->done = false;
    r->err = 0;
    r->next = NULL;
    if (q->tail != NULL)
        q->tail->next = r;
    else
        q->head = r;
    q->tail = r;
    pthread_cond_signal(&q->work);
    pthread_mutex_unlock(&q->mu);
}

int cd_bgwrite_wait(cd_bgwrite *q, cd_bgwrite_req *r)
{
    if (!r->busy)
        return 0;
    pthread_mutex_lock(&q->mu);
    while (!r->done)
        pthread_cond_wait(&q->done, &q->mu);
    pthread_mutex_unlock(&q->mu);
    r->busy = false;
    return r->err;
}

void cd_bgwrite_stop(cd_bgwrite *q)
{
    if (q == NULL)
        return;
    pthread_mutex_lock(&q->mu);
    q->stop = true;
    pthread_cond_signal(&q->work);
    pthread_mutex_unlock(&q->mu);
    pthread_join(q->tid, NULL);
    pthread_cond_destroy(&q->done);
    pthread_cond_destroy(&q->work);
    pthread_mutex_destroy(&q->mu);
    free(q);
}

bool cd_bgwrite_worthwhile(int busy)
{
    cpu_set_t set;
    CPU_ZERO(&set);
    if (sched_getaffinity(0, sizeof set, &set) != 0)
        return false;
    return CPU_COUNT(&set) > busy;
}
