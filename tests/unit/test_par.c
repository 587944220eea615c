/*
 * test_par.c: the CPU ops' thread pool (common/par.h): every iteration runs exactly once,
 * in the documented static ranges, on distinct threads; small loops and nested loops run
 * serially as range 0; per-range scratch; resizing and shutdown.
 */
#include <pthread.h>

#include "unit.h"

#include "par.h"

#define N 1000

struct mark {
    int hits[N];
    int range_of[N];
    pthread_t who[CD_PAR_MAX];
    int nested_serial; /* nested cd_par_for calls that ran as one range in their thread */
};

static void mark_range(void *arg, long lo, long hi, int t)
{
    struct mark *m = arg;
    m->who[t] = pthread_self();
    for (long i = lo; i < hi; i++) {
        m->hits[i]++;
        m->range_of[i] = t;
    }
}

static void count_one(void *arg, long lo, long hi, int t)
{
    int *calls = arg;
    *calls += t == 0 && lo == 0 && hi == 100;
}

static void nested(void *arg, long lo, long hi, int t)
{
    struct mark *m = arg;
    int calls = 0;
    cd_par_for(100, 1, count_one, &calls); /* runs serially inside a range */
    __atomic_add_fetch(&m->nested_serial, calls, __ATOMIC_RELAXED);
    mark_range(arg, lo, hi, t);
}

static void test_ranges(void)
{
    static struct mark m;
    CHECK_EQ_INT(cd_par_set_threads(3), 3);
    CHECK_EQ_INT(cd_par_threads(), 3);
    memset(&m, 0, sizeof m);
    cd_par_for(N, 1, mark_range, &m);
    int bad = 0;
    for (long i = 0; i < N; i++) {
        int want = i < N / 3 ? 0 : i < 2 * N / 3 ? 1 : 2; /* [n t / T, n (t + 1) / T) */
        bad += m.hits[i] != 1 || m.range_of[i] != want;
    }
    CHECK_EQ_INT(bad, 0);
    CHECK(pthread_equal(m.who[0], pthread_self()));
    CHECK(!pthread_equal(m.who[1], m.who[2]) && !pthread_equal(m.who[1], pthread_self()));
}

static void test_serial_cases(void)
{
    static struct mark m;
    cd_par_set_threads(3);
    memset(&m, 0, sizeof m);
    cd_par_for(10, 8, mark_range, &m); /* fewer than 2 * grain iterations: one range */
    int bad = 0;
    for (int i = 0; i < 10; i++)
        bad += m.hits[i] != 1 || m.range_of[i] != 0;
    CHECK_EQ_INT(bad, 0);
    memset(&m, 0, sizeof m);
    cd_par_for(N, 1, nested, &m);
    CHECK_EQ_INT(m.nested_serial, 3);
    bad = 0;
    for (int i = 0; i < N; i++)
        bad += m.hits[i] != 1;
    CHECK_EQ_INT(bad, 0);
    memset(&m, 0, sizeof m);
    cd_par_for(2, 1, mark_range, &m); /* 3 ranges over 2 iterations: one is empty */
    CHECK(m.hits[0] == 1 && m.hits[1] == 1 && m.range_of[0] == 1 && m.range_of[1] == 2);
    cd_par_for(0, 1, mark_range, &m); /* nothing to do: no call */
}

static void test_resize_and_scratch(void)
{
    static struct mark m;
    CHECK_EQ_INT(cd_par_set_threads(1), 1);
    memset(&m, 0, sizeof m);
    cd_par_for(N, 1, mark_range, &m);
    CHECK(m.hits[N - 1] == 1 && m.range_of[N - 1] == 0);
    CHECK(cd_par_set_threads(0) >= 1); /* one per online CPU */
    CHECK_EQ_INT(cd_par_set_threads(CD_PAR_MAX + 5), CD_PAR_MAX);
    cd_par_set_threads(2);
    float *a = cd_par_scratch(1, 64 * sizeof(float));
    CHECK(a != NULL && ((uintptr_t)a & 63) == 0);
    a[63] = 7.0f;
    CHECK(cd_par_scratch(1, 16) == a); /* smaller request: same buffer */
    CHECK(cd_par_scratch(1, 1 << 20) != NULL);
    CHECK(cd_par_scratch(CD_PAR_MAX, 4) == NULL && cd_par_scratch(-1, 4) == NULL);
    cd_par_shutdown();
    CHECK_EQ_INT(cd_par_threads(), 1);
    memset(&m, 0, sizeof m);
    cd_par_for(N, 1, mark_range, &m); /* after shutdown: serial, still correct */
    CHECK(m.hits[0] == 1 && m.hits[N - 1] == 1);
}

int main(void)
{
    RUN(test_ranges);
    RUN(test_serial_cases);
    RUN(test_resize_and_scratch);
    cd_par_shutdown();
    return UNIT_DONE();
}
