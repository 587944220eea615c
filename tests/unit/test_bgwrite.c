/*
 * test_bgwrite.c: the background writer thread (common/bgwrite.h): requests for one file are
 * written whole and in queue order, producers on several threads share one writer, a failed
 * write's errno comes back from the wait, and the thread leaves signals to the others.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bgwrite.h"
#include "unit.h"

static char g_dir[64];

/* Buffer k of a stream: its bytes say which buffer and which byte they are. */
static void fill(uint8_t *b, size_t n, unsigned stream, unsigned k)
{
    for (size_t i = 0; i < n; i++)
        b[i] = (uint8_t)(stream * 131u + k * 7u + i);
}

typedef struct producer {
    cd_bgwrite *q;
    int fd;
    unsigned stream;
    unsigned nbuf;
    size_t len;
    int err; /* first errno a wait gave */
} producer;

/* Two buffers in turn, as the npy writer uses them: refill one only after its wait. */
static void *produce(void *arg)
{
    producer *p = arg;
    uint8_t *buf[2] = {malloc(p->len), malloc(p->len)};
    cd_bgwrite_req req[2] = {{0}, {0}};
    for (unsigned k = 0; k < p->nbuf; k++) {
        int e = cd_bgwrite_wait(p->q, &req[k % 2]);
        if (e != 0 && p->err == 0)
            p->err = e;
        fill(buf[k % 2], p->len, p->stream, k);
        req[k % 2].fd = p->fd;
        req[k % 2].buf = buf[k % 2];
        req[k % 2].len = p->len - k % 3; /* lengths differ */
        cd_bgwrite_submit(p->q, &req[k % 2]);
    }
    for (int i = 0; i < 2; i++) {
        int e = cd_bgwrite_wait(p->q, &req[i]);
        if (e != 0 && p->err == 0)
            p->err = e;
    }
    free(buf[1]);
    free(buf[0]);
    return NULL;
}

/* The file of a producer holds its buffers in order. */
static void check_stream(const char *path, const producer *p)
{
    size_t n = 0;
    uint8_t *got = unit_read_file(path, &n);
    uint8_t *want = malloc(p->len);
    size_t off = 0;
    bool same = got != NULL;
    for (unsigned k = 0; same && k < p->nbuf; k++) {
        size_t len = p->len - k % 3;
        fill(want, p->len, p->stream, k);
        same = off + len <= n && memcmp(got + off, want, len) == 0;
        off += len;
    }
    CHECK(same);
    CHECK(off == n);
    free(want);
    free(got);
}

static void test_order_and_sharing(void)
{
    cd_bgwrite *q = NULL;
    cd_err err = {0};
    CHECK_CODE(cd_bgwrite_start(&q, &err), CD_OK, &err);
    enum { NPROD = 3 };
    producer p[NPROD];
    pthread_t tid[NPROD];
    char path[NPROD][128];
    for (int i = 0; i < NPROD; i++) {
        snprintf(path[i], sizeof path[i], "%s/s%d", g_dir, i);
        p[i] = (producer){q,
                          open(path[i], O_WRONLY | O_CREAT | O_TRUNC, 0600),
                          (unsigned)i,
                          200 + 50 * (unsigned)i,
                          4096 + 1000 * (size_t)i,
                          0};
        CHECK(p[i].fd >= 0);
        pthread_create(&tid[i], NULL, produce, &p[i]);
    }
    for (int i = 0; i < NPROD; i++) {
        pthread_join(tid[i], NULL);
        CHECK_EQ_INT(p[i].err, 0);
        close(p[i].fd);
        check_stream(path[i], &p[i]);
    }
    cd_bgwrite_stop(q);
}

static void test_errors(void)
{
    cd_bgwrite *q = NULL;
    cd_err err = {0};
    CHECK_CODE(cd_bgwrite_start(&q, &err), CD_OK, &err);
    static uint8_t buf[8192];
    cd_bgwrite_req r = {0};
    CHECK_EQ_INT(cd_bgwrite_wait(q, &r), 0); /* never submitted */
    int full = open("/dev/full", O_WRONLY);
    CHECK(full >= 0);
    r.fd = full;
    r.buf = buf;
    r.len = sizeof buf;
    cd_bgwrite_submit(q, &r);
    CHECK_EQ_INT(cd_bgwrite_wait(q, &r), ENOSPC);
    CHECK(!r.busy);
    CHECK_EQ_INT(cd_bgwrite_wait(q, &r), 0); /* waited for already */
    close(full);
    r.fd = -1; /* a closed descriptor */
    cd_bgwrite_submit(q, &r);
    CHECK_EQ_INT(cd_bgwrite_wait(q, &r), EBADF);
    cd_bgwrite_stop(q);
    cd_bgwrite_stop(NULL);
}

/* A request still queued when stop is asked is written before the thread ends. */
static void test_stop_writes_queued(void)
{
    cd_bgwrite *q = NULL;
    cd_err err = {0};
    CHECK_CODE(cd_bgwrite_start(&q, &err), CD_OK, &err);
    char path[128];
    snprintf(path, sizeof path, "%s/stop", g_dir);
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    static uint8_t buf[1 << 20];
    memset(buf, 'x', sizeof buf);
    cd_bgwrite_req r = {.fd = fd, .buf = buf, .len = sizeof buf};
    cd_bgwrite_submit(q, &r);
    cd_bgwrite_stop(q);
    CHECK(r.done);
    CHECK_EQ_INT(r.err, 0);
    CHECK_EQ_INT(lseek(fd, 0, SEEK_END), (long long)sizeof buf);
    close(fd);
}

/* The thread ids of the process, up to n; returns how many. */
static int thread_ids(long *ids, int n)
{
    int k = 0;
    DIR *d = opendir("/proc/self/task");
    for (struct dirent *e; d != NULL && (e = readdir(d)) != NULL;)
        if (e->d_name[0] != '.' && k < n)
            ids[k++] = atol(e->d_name);
    if (d != NULL)
        closedir(d);
    return k;
}

/* SigBlk of thread tid, from /proc. */
static unsigned long long sigblk_of(long tid)
{
    char path[64], line[256];
    unsigned long long mask = 0;
    snprintf(path, sizeof path, "/proc/self/task/%ld/status", tid);
    FILE *f = fopen(path, "r");
    while (f != NULL && fgets(line, sizeof line, f) != NULL)
        if (strncmp(line, "SigBlk:", 7) == 0)
            mask = strtoull(line + 7, NULL, 16);
    if (f != NULL)
        fclose(f);
    return mask;
}

/* The writer thread blocks every signal, so SIGINT and SIGTERM reach the decoding threads.
 * It is the one thread that cd_bgwrite_start added (a sanitizer may run threads of its own). */
static void test_signals_left_to_others(void)
{
    long before[64], after[64], writer = -1;
    int nb = thread_ids(before, 64), news = 0;
    cd_bgwrite *q = NULL;
    cd_err err = {0};
    CHECK_CODE(cd_bgwrite_start(&q, &err), CD_OK, &err);
    int na = thread_ids(after, 64);
    for (int i = 0; i < na; i++) {
        bool old = false;
        for (int k = 0; k < nb; k++)
            old = old || after[i] == before[k];
        if (!old) {
            writer = after[i];
            news++;
        }
    }
    CHECK_EQ_INT(news, 1);
    unsigned long long m = sigblk_of(writer);
    int sigs[] = {SIGINT, SIGTERM, SIGHUP, SIGUSR1, SIGPIPE};
    for (size_t i = 0; i < sizeof sigs / sizeof sigs[0]; i++)
        CHECK(m & (1ull << (sigs[i] - 1)));
    sigset_t mine;
    pthread_sigmask(SIG_SETMASK, NULL, &mine);
    CHECK(!sigismember(&mine, SIGINT)); /* ours is as it was */
    cd_bgwrite_stop(q);
}

static void test_worthwhile(void)
{
    CHECK(!cd_bgwrite_worthwhile(1 << 20));
    cpu_set_t set;
    CPU_ZERO(&set);
    CHECK(sched_getaffinity(0, sizeof set, &set) == 0);
    int n = CPU_COUNT(&set);
    CHECK(cd_bgwrite_worthwhile(n - 1));
    CHECK(!cd_bgwrite_worthwhile(n));
}

int main(void)
{
    snprintf(g_dir, sizeof g_dir, "/tmp/cd_test_bgwrite.XXXXXX");
    if (mkdtemp(g_dir) == NULL) {
        perror("mkdtemp");
        return 1;
    }
    RUN(test_order_and_sharing);
    RUN(test_errors);
    RUN(test_stop_writes_queued);
    RUN(test_signals_left_to_others);
    RUN(test_worthwhile);
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", g_dir);
    if (system(cmd) != 0)
        fprintf(stderr, "could not remove %s\n", g_dir);
    return UNIT_DONE();
}
