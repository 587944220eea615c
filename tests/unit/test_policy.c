/*
 * test_policy.c: the MOP scheduler (scheduler/policy.h) under its three policies: schedule
 * invariants on many random simulated workloads (one unit per model and per worker at a
 * time, every shard once per epoch in the Latin order, epochs in order, failures retried on
 * the same shard, the sync barrier, the random policy's epoch barrier), identical orders
 * under async and sync, a failed model passed over by its worker while something else can
 * run, models and workers taken out, unreachable shards, held, stopped and extended
 * models, replay reaching the state of the live run, rows packed from the cost hints, hints
 * scaled to seconds by measured units, and a shard's sole worker. Makespans are
 * test_sim.c's.
 */
#include <math.h>

#include "hash.h"
#include "policy.h"
#include "sim.h"
#include "unit.h"

static const cd_policy policies[] = {CD_POLICY_ASYNC, CD_POLICY_RANDOM, CD_POLICY_SYNC};

static int cmp_start(const void *a, const void *b)
{
    const cd_sim_unit *x = a, *y = b;
    if (x->start != y->start)
        return x->start < y->start ? -1 : 1;
    return (x->u.worker > y->u.worker) - (x->u.worker < y->u.worker);
}

/* Units of model (or worker when by_worker) m, in start order, into out; returns how many. */
static long units_of(const cd_sim_result *r, int m, bool by_worker, cd_sim_unit *out)
{
    long n = 0;
    for (long i = 0; i < r->nunits; i++)
        if ((by_worker ? r->units[i].u.worker : r->units[i].u.model) == m)
            out[n++] = r->units[i];
    qsort(out, (size_t)n, sizeof *out, cmp_start);
    return n;
}

static bool disjoint(const cd_sim_unit *u, long n)
{
    for (long k = 1; k < n; k++)
        if (u[k].start < u[k - 1].end)
            return false;
    return true;
}

/* Model m's units: in order, each epoch a permutation of the shards, epochs 1..E, a failed
 * unit retried next on the same shard (async, sync). Fills order[E * S] with its shards. */
static void check_model(const cd_sim_cfg *c, const cd_sim_unit *u, long n, int *order)
{
    int S = c->workers, k = 0;
    unsigned char seen[64] = {0};
    for (long j = 0; j < n; j++) {
        if (!u[j].ok) {
            if (c->policy != CD_POLICY_RANDOM && j + 1 < n) {
                CHECK_EQ_INT(u[j + 1].u.shard, u[j].u.shard);
                CHECK_EQ_INT(u[j + 1].u.epoch, u[j].u.epoch);
            }
            continue;
        }
        CHECK_EQ_INT(u[j].u.epoch, k / S + 1);
        if (k % S == 0)
            memset(seen, 0, sizeof seen);
        CHECK(!seen[u[j].u.shard]);
        seen[u[j].u.shard] = 1;
        CHECK_EQ_INT(u[j].u.worker, u[j].u.shard); /* the simulator's reach */
        order[k++] = u[j].u.shard;
    }
    CHECK_EQ_INT(k, c->epochs * S);
}

/* Async, sync: model i's order in epoch e is perm_e[(r_i + k) mod S] for a row r_i that no
 * epoch changes (rows.h): relative to model 0's, shifted by the same d_i in every epoch. */
static void check_latin(const cd_sim_cfg *c, const int *orders)
{
    int S = c->workers, E = c->epochs;
    for (int i = 1; i < c->models; i++) {
        const int *oi = orders + (long)i * E * S;
        int d = 0;
        while (d < S && orders[d] != oi[0])
            d++;
        CHECK(d < S);
        for (int e = 0; d < S && e < E; e++)
            for (int k = 0; k < S; k++)
                CHECK_EQ_INT(oi[e * S + k], orders[(long)e * S + (k + d) % S]);
    }
}

/* Sync: a unit starts only when every unit started before it has ended. Random: no unit of
 * epoch e + 1 starts before every ok unit of epoch e has ended. */
static void check_barriers(const cd_sim_cfg *c, cd_sim_result *r)
{
    qsort(r->units, (size_t)r->nunits, sizeof *r->units, cmp_start);
    double end_before = 0, group_end = 0, group_start = -1;
    double epoch_end[64] = {0}, epoch_start[64];
    for (int e = 0; e < 64; e++)
        epoch_start[e] = INFINITY;
    for (long i = 0; i < r->nunits; i++) {
        const cd_sim_unit *x = &r->units[i];
        if (x->start != group_start) {
            end_before = fmax(end_before, group_end);
            group_start = x->start;
        }
        group_end = fmax(group_end, x->end);
        if (c->policy == CD_POLICY_SYNC)
            CHECK(x->start >= end_before);
        epoch_start[x->u.epoch] = fmin(epoch_start[x->u.epoch], x->start);
        if (x->ok)
            epoch_end[x->u.epoch] = fmax(epoch_end[x->u.epoch], x->end);
    }
    for (int e = 1; c->policy == CD_POLICY_RANDOM && e < c->epochs; e++)
        CHECK(epoch_start[e + 1] >= epoch_end[e]);
}

/* Simulate c and check every invariant; orders (may be NULL) gets every model's shards. */
static void check_schedule(const cd_sim_cfg *c, int *orders)
{
    cd_sim_result r;
    cd_err err = {0};
    CHECK_CODE(cd_sim_run(c, &r, &err), CD_OK, &err);
    if (err.code != CD_OK)
        return;
    cd_sim_unit *u = malloc((size_t)r.nunits * sizeof *u);
    int *own = malloc((size_t)c->models * c->epochs * c->workers * sizeof *own);
    int *ord = orders != NULL ? orders : own;
    for (int m = 0; m < c->models; m++) {
        long n = units_of(&r, m, false, u);
        CHECK(disjoint(u, n));
        check_model(c, u, n, ord + (long)m * c->epochs * c->workers);
    }
    for (int w = 0; w < c->workers; w++)
        CHECK(disjoint(u, units_of(&r, w, true, u)));
    if (c->policy != CD_POLICY_RANDOM)
        check_latin(c, ord);
    CHECK(r.makespan >= r.lower_bound - 1e-9);
    check_barriers(c, &r);
    free(own);
    free(u);
    cd_sim_result_free(&r);
}

static double uniform(uint64_t *st)
{
    return (double)(cd_splitmix64(st) >> 11) * 0x1.0p-53;
}

/* A random workload: M 1..24, W 1..7, E 1..4, per (model, shard) costs, some failures. */
static void random_workload(uint64_t *st, cd_sim_cfg *c, double *cost)
{
    c->models = 1 + (int)(cd_splitmix64(st) % 24);
    c->workers = 1 + (int)(cd_splitmix64(st) % 7);
    c->epochs = 1 + (int)(cd_splitmix64(st) % 4);
    c->seed = cd_splitmix64(st);
    c->fail_prob = cd_splitmix64(st) % 3 == 0 ? 0.1 : 0;
    c->no_hints = cd_splitmix64(st) % 2 == 0;
    bool per_shard = cd_splitmix64(st) % 2 == 0;
    for (int m = 0; m < c->models; m++) {
        double l = uniform(st) < 0.8 ? 1 : 8;
        for (int s = 0; s < c->workers; s++)
            cost[m * c->workers + s] = per_shard ? 0.5 + 4 * uniform(st) : l;
    }
    c->cost = cost;
    c->record = true;
}

static void test_invariants_random_workloads(void)
{
    uint64_t st = 42;
    static double cost[24 * 7];
    for (int trial = 0; trial < 150; trial++) {
        cd_sim_cfg c = {0};
        random_workload(&st, &c, cost);
        for (int p = 0; p < 3; p++) {
            c.policy = policies[p];
            int before = unit_failures;
            check_schedule(&c, NULL);
            if (unit_failures != before) {
                fprintf(stderr, "  trial %d: %s M=%d W=%d E=%d fail=%g\n", trial,
                        cd_policy_name(c.policy), c.models, c.workers, c.epochs, c.fail_prob);
                return;
            }
        }
    }
}

static void test_async_sync_same_orders(void)
{
    uint64_t st = 7;
    static double cost[24 * 7];
    for (int trial = 0; trial < 40; trial++) {
        cd_sim_cfg c = {0};
        random_workload(&st, &c, cost);
        size_t n = (size_t)c.models * c.epochs * c.workers;
        int *a = calloc(n, sizeof *a), *s = calloc(n, sizeof *s);
        c.policy = CD_POLICY_ASYNC;
        check_schedule(&c, a);
        c.policy = CD_POLICY_SYNC;
        c.fail_prob = 0.2; /* different failures, same orders */
        check_schedule(&c, s);
        CHECK(memcmp(a, s, n * sizeof *a) == 0);
        free(a);
        free(s);
    }
}

static void test_parse(void)
{
    cd_policy p;
    cd_err err = {0};
    for (int i = 0; i < 3; i++) {
        CHECK_CODE(cd_policy_parse(cd_policy_name(policies[i]), &p, &err), CD_OK, &err);
        CHECK_EQ_INT(p, policies[i]);
    }
    CHECK_CODE(cd_policy_parse("fifo", &p, &err), CD_EINVAL, &err);
    CHECK(strstr(err.msg, "fifo") != NULL && strstr(err.hint, "async") != NULL);
    cd_sched *s;
    CHECK_CODE(cd_sched_new(&s, CD_POLICY_ASYNC, 0, 2, 1, &err), CD_EINVAL, &err);
    CHECK(s == NULL);
}

/* A scheduler with S = W, worker w reaching shard w, and m models of `epochs` epochs. */
static cd_sched *make(cd_policy p, int w, int m, int epochs)
{
    cd_sched *s;
    cd_err err = {0};
    if (cd_sched_new(&s, p, w, w, 11, &err) != CD_OK)
        return NULL;
    for (int i = 0; i < w; i++)
        cd_sched_reach(s, i, i);
    for (int i = 0; i < m; i++)
        cd_sched_add_model(s, epochs, 1);
    return s;
}

typedef struct run_unit {
    cd_unit u;
    double start;
} run_unit;

/* One step of a zero-cost event loop with unit time 1: start what the free workers get at
 * *now, then end the earliest running unit (ok unless fail). Returns false when nothing runs.
 * ended (may be NULL) gets the ended unit. */
static bool step(cd_sched *s, int W, run_unit *run, bool *busy, double *now, bool fail,
                 cd_unit *ended)
{
    for (int w = 0; w < W; w++)
        if (!busy[w] && cd_sched_next(s, w, *now, &run[w].u)) {
            busy[w] = true;
            run[w].start = *now;
        }
    int first = -1;
    for (int w = 0; w < W; w++)
        if (busy[w] && (first < 0 || run[w].start < run[first].start))
            first = w;
    if (first < 0)
        return false;
    *now = run[first].start + 1 > *now ? run[first].start + 1 : *now;
    cd_sched_end(s, &run[first].u, run[first].start, *now, !fail);
    busy[first] = false;
    if (ended != NULL)
        *ended = run[first].u;
    return true;
}

static void run_to_end(cd_sched *s, int W, double *now)
{
    run_unit run[8];
    bool busy[8] = {0};
    while (step(s, W, run, busy, now, false, NULL))
        ;
}

static void test_failure_retried_same_shard(void)
{
    for (int p = 0; p < 3; p++) {
        cd_sched *s = make(policies[p], 3, 1, 2);
        cd_unit a, b;
        CHECK(cd_sched_next(s, 0, 0, &a) || cd_sched_next(s, 1, 0, &a) ||
              cd_sched_next(s, 2, 0, &a));
        cd_sched_end(s, &a, 0, 0.5, false);
        CHECK_EQ_INT(cd_sched_units_left(s), 6);
        bool got = false;
        for (int w = 0; w < 3 && !got; w++)
            got = cd_sched_next(s, w, 1, &b);
        CHECK(got);
        CHECK_EQ_INT(b.model, a.model);
        CHECK_EQ_INT(b.epoch, 1);
        if (policies[p] == CD_POLICY_RANDOM) { /* another worker can take it: not a.worker */
            CHECK(b.worker != a.worker);
        } else { /* its next shard, on the one worker that reaches it */
            CHECK_EQ_INT(b.shard, a.shard);
            CHECK_EQ_INT(b.worker, a.worker);
        }
        cd_sched_end(s, &b, 1, 2, true);
        CHECK_EQ_INT(cd_sched_units_left(s), 5);
        double now = 2;
        run_to_end(s, 3, &now);
        CHECK(cd_sched_finished(s));
        CHECK_EQ_INT(cd_sched_epochs_done(s, 0), 2);
        cd_sched_free(&s);
        CHECK(s == NULL);
    }
}

/* Two workers that both reach both shards, two models of one epoch. */
static cd_sched *make_shared(cd_policy p, int m)
{
    cd_sched *s = make(p, 2, m, 1);
    cd_sched_reach(s, 0, 1);
    cd_sched_reach(s, 1, 0);
    return s;
}

static void test_failed_model_passed_over(void)
{
    for (int p = 0; p < 2; p++) { /* async, random */
        cd_sched *s = make_shared(policies[p], 2);
        cd_unit u0, u1, v;
        CHECK(cd_sched_next(s, 0, 0, &u0));
        CHECK(cd_sched_next(s, 1, 0, &u1));
        cd_sched_end(s, &u0, 0, 1, false);
        CHECK(!cd_sched_next(s, 0, 1, &v)); /* the running model comes next: worker 0 waits */
        cd_sched_end(s, &u1, 0, 2, true);
        CHECK(cd_sched_next(s, 0, 2, &v)); /* worker 1 could take the failed model */
        CHECK_EQ_INT(v.model, u1.model);
        cd_unit w;
        CHECK(cd_sched_next(s, 1, 2, &w));
        CHECK_EQ_INT(w.model, u0.model);
        cd_sched_free(&s);
    }

    for (int p = 0; p < 2; p++) { /* nothing else will come to worker 0: it retries at once */
        cd_sched *s = make(policies[p], 2, 2, 1);
        cd_unit u0, u1, a, b, c;
        CHECK(cd_sched_next(s, 0, 0, &u0));
        CHECK(cd_sched_next(s, 1, 0, &u1));
        cd_sched_end(s, &u0, 0, 1, true);
        cd_sched_end(s, &u1, 0, 1, true);
        CHECK(cd_sched_next(s, 0, 1, &a)); /* each model's last unit */
        CHECK(cd_sched_next(s, 1, 1, &b));
        cd_sched_end(s, &a, 1, 2, false);
        CHECK(cd_sched_next(s, 0, 2, &c)); /* b, running on worker 1, has no unit after */
        CHECK_EQ_INT(c.model, a.model);
        CHECK_EQ_INT(c.shard, a.shard);
        cd_sched_free(&s);
    }

    for (int p = 0; p < 3; p++) { /* one worker: another model goes first, then the retry */
        cd_sched *s = make(policies[p], 1, 2, 1);
        cd_unit a, b, c;
        CHECK(cd_sched_next(s, 0, 0, &a));
        cd_sched_end(s, &a, 0, 1, false);
        CHECK(cd_sched_next(s, 0, 1, &b));
        CHECK(b.model != a.model);
        cd_sched_end(s, &b, 1, 2, true);
        CHECK(cd_sched_next(s, 0, 2, &c));
        CHECK_EQ_INT(c.model, a.model);
        cd_sched_end(s, &c, 2, 3, false);
        CHECK(cd_sched_next(s, 0, 3, &c)); /* nothing else can run: worker 0 takes it */
        CHECK_EQ_INT(c.model, a.model);
        cd_sched_free(&s);
    }

    cd_sched *s = make_shared(CD_POLICY_SYNC, 1); /* the round plans it on the other worker */
    cd_unit a, b;
    bool got = cd_sched_next(s, 0, 0, &a) || cd_sched_next(s, 1, 0, &a);
    CHECK(got);
    cd_sched_end(s, &a, 0, 1, false);
    got = cd_sched_next(s, 0, 1, &b) || cd_sched_next(s, 1, 1, &b);
    CHECK(got);
    CHECK(b.worker != a.worker);
    CHECK_EQ_INT(b.shard, a.shard);
    cd_sched_free(&s);
}

static void test_model_out(void)
{
    for (int p = 0; p < 3; p++) {
        cd_sched *s = make(policies[p], 2, 2, 2);
        cd_sched_model_out(s, 1);
        double now = 0;
        run_to_end(s, 2, &now);
        CHECK_EQ_INT(cd_sched_epochs_done(s, 0), 2); /* random: no barrier for it */
        CHECK_EQ_INT(cd_sched_epochs_done(s, 1), 0);
        CHECK(!cd_sched_finished(s)); /* it still has its epochs to train */
        CHECK_EQ_INT(cd_sched_units_left(s), 4);
        cd_sched_worker_out(s, 0);
        CHECK_EQ_INT(cd_sched_unreachable(s), -1); /* only the model taken out needs it */
        cd_sched_free(&s);
    }
}

static void test_worker_out(void)
{
    for (int p = 0; p < 3; p++) {
        cd_sched *s = make(policies[p], 2, 3, 2);
        cd_sched_reach(s, 1, 0); /* worker 1 also reaches shard 0 */
        cd_sched_worker_out(s, 0);
        CHECK_EQ_INT(cd_sched_unreachable(s), -1);
        run_unit run[2];
        bool busy[2] = {0};
        double now = 0;
        cd_unit u;
        int units = 0;
        while (step(s, 2, run, busy, &now, false, &u)) {
            CHECK_EQ_INT(u.worker, 1);
            units++;
        }
        CHECK_EQ_INT(units, 3 * 2 * 2);
        CHECK(cd_sched_finished(s));
        cd_sched_free(&s);
    }
}

static void test_unreachable(void)
{
    cd_sched *s = make(CD_POLICY_ASYNC, 2, 1, 1);
    CHECK_EQ_INT(cd_sched_unreachable(s), -1);
    cd_unit u;
    int w = cd_sched_next(s, 0, 0, &u) ? 0 : 1;
    if (w == 1)
        CHECK(cd_sched_next(s, 1, 0, &u));
    cd_sched_worker_out(s, w); /* its unit still runs: the shard is not needed unless it fails */
    CHECK_EQ_INT(cd_sched_unreachable(s), -1);
    cd_sched_end(s, &u, 0, 1, false);
    CHECK_EQ_INT(cd_sched_unreachable(s), u.shard);
    cd_sched_free(&s);

    s = make(CD_POLICY_SYNC, 2, 1, 1); /* the shard was visited: nothing needs it any more */
    double now = 0;
    run_unit run[2];
    bool busy[2] = {0};
    CHECK(step(s, 2, run, busy, &now, false, &u));
    cd_sched_worker_out(s, u.worker);
    CHECK_EQ_INT(cd_sched_unreachable(s), -1);
    cd_sched_set_epochs(s, 0, 2); /* extended: it needs the shard again */
    CHECK_EQ_INT(cd_sched_unreachable(s), u.shard);
    cd_sched_free(&s);
}

static void test_hold_and_epochs(void)
{
    for (int p = 0; p < 3; p++) {
        cd_sched *s = make(policies[p], 2, 3, 2);
        cd_sched_set_epochs(s, 2, 0); /* stopped before it started: done */
        cd_sched_hold(s, 1, true);
        run_unit run[2];
        bool busy[2] = {0};
        double now = 0;
        cd_unit u;
        bool stopped = false;
        while (step(s, 2, run, busy, &now, false, &u)) {
            CHECK_EQ_INT(u.model, 0);
            if (!stopped) {
                cd_sched_set_epochs(s, 0, 0); /* stopped early: completes epoch 1 */
                stopped = true;
            }
        }
        CHECK_EQ_INT(cd_sched_epochs_done(s, 0), 1);
        CHECK_EQ_INT(cd_sched_epochs_done(s, 2), 0);
        CHECK(!cd_sched_finished(s)); /* model 1 is held */
        cd_sched_hold(s, 1, false);
        cd_sched_set_epochs(s, 1, 3); /* extended */
        run_to_end(s, 2, &now);
        CHECK_EQ_INT(cd_sched_epochs_done(s, 1), 3);
        CHECK(cd_sched_finished(s));
        CHECK_EQ_INT(cd_sched_units_left(s), 0);
        cd_sched_free(&s);
    }
}

/* Run live until `stop` units ended, end what runs, replay the ended units into a new
 * scheduler: both then make the same decisions to the end. */
static void replay_case(cd_policy p, int W, int M, int E, int stop)
{
    cd_sched *a = make(p, W, M, E), *b = make(p, W, M, E);
    run_unit run[8];
    bool busy[8] = {0};
    double now = 0, t0 = 0;
    cd_unit u, log[256];
    int n = 0, ended = 0;
    for (bool fail = false; n < stop && step(a, W, run, busy, &now, fail, &u);
         fail = ++ended % 7 == 3)
        if (!fail)
            log[n++] = u; /* failures are not journaled */
    for (int w = 0; w < W; w++)
        if (busy[w]) {
            cd_sched_end(a, &run[w].u, run[w].start, run[w].start + 1, true);
            log[n++] = run[w].u;
        }
    for (int i = 0; i < n; i++)
        cd_sched_replay(b, &log[i], 1);
    CHECK_EQ_INT(cd_sched_units_left(a), cd_sched_units_left(b));
    CHECK(fabs(cd_sched_work_left(a) - cd_sched_work_left(b)) < 1e-9);
    for (int guard = 0; guard < 1000 && !cd_sched_finished(a); guard++) {
        for (int w = 0; w < W; w++) {
            cd_unit x, y;
            bool gx = cd_sched_next(a, w, t0, &x), gy = cd_sched_next(b, w, t0, &y);
            CHECK_EQ_INT(gx, gy);
            if (gx && gy)
                CHECK(memcmp(&x, &y, sizeof x) == 0);
            if (gx)
                cd_sched_end(a, &x, t0, t0 + 1, true);
            if (gy)
                cd_sched_end(b, &y, t0, t0 + 1, true);
        }
        t0 += 1;
    }
    CHECK(cd_sched_finished(a) && cd_sched_finished(b));
    cd_sched_free(&a);
    cd_sched_free(&b);
}

/* cd_sched_stop: a model that diverged mid-epoch gets no more units, the others finish. */
static void test_stop_mid_epoch(void)
{
    for (int p = 0; p < 3; p++) {
        cd_sched *s = make(policies[p], 3, 2, 2);
        double now = 0;
        cd_unit u;
        CHECK(cd_sched_next(s, 0, now, &u));
        cd_sched_end(s, &u, now, now + 1, true); /* one unit of epoch 1 done */
        int m = u.model;
        CHECK(cd_sched_next(s, u.worker, now + 1, &u) || cd_sched_next(s, 1, now + 1, &u) ||
              cd_sched_next(s, 2, now + 1, &u));
        if (u.model == m) /* m is running: end it as failed, as a diverged unit is */
            cd_sched_end(s, &u, now + 1, now + 2, false);
        else
            cd_sched_end(s, &u, now + 1, now + 2, true);
        cd_sched_stop(s, m);
        run_to_end(s, 3, &now);
        CHECK(cd_sched_finished(s));
        CHECK_EQ_INT(cd_sched_epochs_done(s, m), 0);
        CHECK_EQ_INT(cd_sched_epochs_done(s, 1 - m), 2);
        CHECK_EQ_INT(cd_sched_units_left(s), 0);
        CHECK_EQ_INT(cd_sched_unreachable(s), -1);
        cd_sched_free(&s);
    }
}

static void test_replay(void)
{
    for (int p = 0; p < 3; p++) {
        replay_case(policies[p], 3, 5, 3, 17);
        replay_case(policies[p], 4, 4, 2, 9);
        replay_case(policies[p], 2, 7, 2, 1);
    }
}

static void test_progress(void)
{
    cd_sched *s;
    cd_err err = {0};
    CHECK_CODE(cd_sched_new(&s, CD_POLICY_ASYNC, 4, 4, 1, &err), CD_OK, &err);
    CHECK(cd_sched_finished(s)); /* no models */
    CHECK_EQ_INT(cd_sched_add_model(s, 2, 3), 0);
    CHECK_EQ_INT(cd_sched_add_model(s, 1, 0), 1);
    CHECK_EQ_INT(cd_sched_nmodels(s), 2);
    CHECK_EQ_INT(cd_sched_units_left(s), 12);
    CHECK(fabs(cd_sched_work_left(s) - (8 * 3 + 4 * 1)) < 1e-9); /* no hint, nothing measured: 1 */
    cd_sched_free(&s);
}

/* The first shard of each model's first unit: perm_1[its row]. */
static void first_shards(const cd_sim_cfg *c, int *first)
{
    cd_sim_result r;
    cd_err err = {0};
    CHECK_CODE(cd_sim_run(c, &r, &err), CD_OK, &err);
    for (int m = 0; m < c->models; m++)
        first[m] = -1;
    for (long i = 0; i < r.nunits; i++)
        if (r.units[i].u.epoch == 1 && first[r.units[i].u.model] < 0)
            first[r.units[i].u.model] = r.units[i].u.shard;
    cd_sim_result_free(&r);
}

/* Rows from the cost hints (rows.h): the two slow models, 0 and 4 of 8 on 4 shards, share
 * row 0 without hints (i mod S) and so queue on the same shards; with hints they get rows of
 * their own, and the makespan drops to the lower bound. */
static void test_rows_from_hints(void)
{
    double cost[8 * 4];
    for (int m = 0; m < 8; m++)
        for (int k = 0; k < 4; k++)
            cost[m * 4 + k] = m % 4 == 0 ? 8 : 1;
    cd_sim_cfg c = {
        .models = 8, .workers = 4, .epochs = 3, .seed = 5, .cost = cost, .record = true};
    int with[8], without[8];
    first_shards(&c, with);
    c.no_hints = true;
    first_shards(&c, without);
    CHECK(with[0] != with[4]);
    CHECK_EQ_INT(without[0], without[4]);
    for (int m = 0; m < 8; m++)
        CHECK_EQ_INT(without[m], without[m % 4]);
    cd_sim_result r;
    cd_err err = {0};
    c.record = false;
    CHECK_CODE(cd_sim_run(&c, &r, &err), CD_OK, &err);
    double slow = r.makespan;
    c.no_hints = false;
    CHECK_CODE(cd_sim_run(&c, &r, &err), CD_OK, &err);
    CHECK(r.makespan == r.lower_bound);
    CHECK(slow > r.makespan);
}

/* Hints in any unit (here "operations") become seconds once a hinted model's unit has been
 * measured: a model of hint 100 after one of hint 300 took 2 s is estimated 100 x 2 / 300. */
static void test_hint_scale(void)
{
    cd_sched *s;
    cd_err err = {0};
    CHECK_CODE(cd_sched_new(&s, CD_POLICY_ASYNC, 1, 1, 1, &err), CD_OK, &err);
    cd_sched_reach(s, 0, 0);
    CHECK_EQ_INT(cd_sched_add_model(s, 1, 100), 0);
    CHECK_EQ_INT(cd_sched_add_model(s, 1, 300), 1);
    CHECK(fabs(cd_sched_work_left(s) - 400) < 1e-9); /* nothing measured: the hints */
    cd_unit u;
    CHECK(cd_sched_next(s, 0, 10, &u));
    CHECK_EQ_INT(u.model, 1); /* the most work first */
    cd_sched_end(s, &u, 10, 12, true);
    CHECK(fabs(cd_sched_work_left(s) - 100 * 2.0 / 300) < 1e-9);
    cd_sched_free(&s);
}

static void test_sole_worker(void)
{
    cd_sched *s = make(CD_POLICY_ASYNC, 3, 1, 1);
    cd_sched_reach(s, 1, 0); /* shard 0: workers 0 and 1 */
    CHECK_EQ_INT(cd_sched_sole_worker(s, 0), -1);
    CHECK_EQ_INT(cd_sched_sole_worker(s, 1), 1);
    CHECK_EQ_INT(cd_sched_sole_worker(s, 2), 2);
    CHECK_EQ_INT(cd_sched_sole_worker(s, 3), -1);
    cd_sched_worker_out(s, 2); /* a worker taken out still served its shard */
    CHECK_EQ_INT(cd_sched_sole_worker(s, 2), 2);
    cd_sched_free(&s);
}

int main(void)
{
    RUN(test_parse);
    RUN(test_progress);
    RUN(test_invariants_random_workloads);
    RUN(test_async_sync_same_orders);
    RUN(test_failure_retried_same_shard);
    RUN(test_failed_model_passed_over);
    RUN(test_model_out);
    RUN(test_worker_out);
    RUN(test_unreachable);
    RUN(test_hold_and_epochs);
    RUN(test_stop_mid_epoch);
    RUN(test_replay);
    RUN(test_rows_from_hints);
    RUN(test_hint_scale);
    RUN(test_sole_worker);
    return UNIT_DONE();
}
