/*
 * policy.c: the decisions of Model Hopper Parallelism (policy.h): which unit a free worker
 * runs under the async, random and sync policies, each model's Latin-square shard order (its
 * row packed from the cost hints by rows.h), estimates from measured unit times and the
 * hints, and the bookkeeping of unit ends, failures, replay,
 * holds, epoch changes and workers taken out.
 *
 * It does not run processes, read clocks, touch files or decide which models train (the
 * search does, through cd_sched_set_epochs and cd_sched_hold): the caller reports every
 * event with its own times. A decision scans the models (O(M x W) under async, O(M x S)
 * under random, O(M log M) per sync round), which is nothing next to a unit of training.
 */
#include "policy.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "hash.h"
#include "rows.h"

typedef struct model {
    int epochs;             /* epochs requested in all (cd_sched_set_epochs) */
    int done;               /* epochs completed */
    int step;               /* units completed in the current epoch, 0..S-1 */
    int worker;             /* worker running its unit, or -1 */
    int cur;                /* while running: the shard of the unit */
    int next;               /* async, sync: the shard of its next unit (Latin order) */
    int after;              /* while running (async, sync): its next shard, or -1 */
    int row;                /* its row of the Latin square, 0..S-1 */
    bool held;              /* no new units */
    bool stopped;           /* cd_sched_stop: no more units, even mid-epoch */
    bool out;               /* cd_sched_model_out: no more units in this run, still live */
    int shun;               /* the worker its last unit failed on (-1: none; see shunned) */
    double start;           /* while running: when the unit started */
    double hint;            /* cost hint in seconds, 0: none */
    double sum;             /* seconds of its completed units */
    long n;                 /* how many */
    unsigned char *visited; /* [S] shards visited in the current epoch */
} model;

struct cd_sched {
    cd_policy policy;
    int S, W;
    uint64_t seed;
    unsigned char *reach; /* [W * S] reach[w * S + s]: worker w serves shard s */
    bool *out;            /* [W] taken out */
    int *running;         /* [W] model running on w, or -1 */
    int nrunning;
    model *m; /* [cap] */
    int nm, cap;
    int *perm;        /* [S] perm_e of epoch perm_epoch (a cache) */
    int perm_epoch;   /* 0: none */
    double *row_load; /* [S] sum of the cost hints of the models of each row */
    int *row_n;       /* [S] models of each row */
    int nplaced;      /* models 0..nplaced-1 have their row */
    double meas_sum;  /* seconds of every completed unit */
    long meas_n;
    double hint_sec; /* seconds of the completed units of models with a cost hint */
    double hint_sum; /* the hints of those units: hint_sec / hint_sum seconds per hint unit */
    long ok_units;   /* random: its draws are a function of (seed, ok_units, draws) */
    long draws;
    /* sync: the current round's units, planned when it opened */
    bool round_open;
    cd_unit *plan; /* [W] */
    bool *planned; /* [W] */
    int nplanned;  /* planned units not yet started */
    long *order;   /* [cap] scratch: (epochs done, id) keys */
    bool *used;    /* [S] scratch */
};

cd_code cd_policy_parse(const char *name, cd_policy *out, cd_err *err)
{
    static const char *const names[] = {"async", "random", "sync"};
    for (int i = 0; i < 3; i++)
        if (name != NULL && strcmp(name, names[i]) == 0) {
            *out = (cd_policy)i;
            return CD_OK;
        }
    cd_fail(err, CD_EINVAL, "unknown policy \"%s\"", name != NULL ? name : "");
    return cd_hint(err, "The policies are async, random and sync.");
}

const char *cd_policy_name(cd_policy p)
{
    switch (p) {
    case CD_POLICY_ASYNC:
        return "async";
    case CD_POLICY_RANDOM:
        return "random";
    case CD_POLICY_SYNC:
        return "sync";
    }
    return "unknown";
}

/* ---- models: targets, remaining work, estimates, Latin orders ---- */

static bool in_epoch(const model *x)
{
    return x->step > 0 || x->worker >= 0;
}

/* The epochs x trains in all: as requested, but an epoch in progress is completed. */
static int target(const model *x)
{
    if (x->stopped)
        return x->done;
    int least = x->done + (in_epoch(x) ? 1 : 0);
    return x->epochs > least ? x->epochs : least;
}

static bool live(const model *x)
{
    return x->done < target(x);
}

static bool ready(const model *x)
{
    return live(x) && !x->held && !x->out && x->worker < 0;
}

/* Units of x not started yet. */
static long units_left(const cd_sched *s, const model *x)
{
    long u = (long)(target(x) - x->done) * s->S - x->step - (x->worker >= 0 ? 1 : 0);
    return u > 0 ? u : 0;
}

/* Seconds per unit of the cost hints: hints may be seconds or any unit common to every
 * model (FLOPs); 1 until a unit of a model with a hint has been measured. */
static double hint_scale(const cd_sched *s)
{
    return s->hint_sum > 0 && s->hint_sec > 0 ? s->hint_sec / s->hint_sum : 1;
}

static double estimate(const cd_sched *s, const model *x)
{
    if (x->n > 0)
        return x->sum / (double)x->n;
    if (x->hint > 0)
        return x->hint * hint_scale(s);
    if (s->meas_n > 0)
        return s->meas_sum / (double)s->meas_n;
    return 1;
}

static double remaining(const cd_sched *s, const model *x)
{
    return (double)units_left(s, x) * estimate(s, x);
}

/* perm_e: a Fisher-Yates shuffle of 0..S-1 driven by splitmix64 seeded from (seed, e). */
static const int *perm_of(cd_sched *s, int e)
{
    if (s->perm_epoch == e)
        return s->perm;
    uint64_t st = s->seed ^ ((uint64_t)e * 0xD1B54A32D192ED03ull);
    for (int i = 0; i < s->S; i++)
        s->perm[i] = i;
    for (int i = s->S - 1; i > 0; i--) {
        int j = (int)(cd_splitmix64(&st) % (uint64_t)(i + 1));
        int t = s->perm[i];
        s->perm[i] = s->perm[j];
        s->perm[j] = t;
    }
    s->perm_epoch = e;
    return s->perm;
}

/* The shard model i visits at step k of epoch e: perm_e[(its row + k) mod S]. */
static int latin(cd_sched *s, int i, int e, int k)
{
    return perm_of(s, e)[(int)(((long)s->m[i].row + k) % s->S)];
}

/* For a model starting a unit (worker set): the shard it wants after the unit, or -1. */
static int after_unit(cd_sched *s, int i)
{
    const model *x = &s->m[i];
    if (s->policy == CD_POLICY_RANDOM)
        return -1;
    if (x->step + 1 < s->S)
        return latin(s, i, x->done + 1, x->step + 1);
    return x->done + 1 < target(x) ? latin(s, i, x->done + 2, 0) : -1;
}

static bool reaches(const cd_sched *s, int w, int shard)
{
    return shard >= 0 && s->reach[(size_t)w * (size_t)s->S + (size_t)shard];
}

/* Shards w serves that x has not visited in its current epoch: how many (pick < 0), or the
 * pick-th of them (-1 if there are fewer). */
static int open_shards(const cd_sched *s, const model *x, int w, int pick)
{
    int n = 0;
    for (int sh = 0; sh < s->S; sh++)
        if (!x->visited[sh] && reaches(s, w, sh) && n++ == pick)
            return sh;
    return pick >= 0 ? -1 : n;
}

/* Epochs completed by every live model: under random, epoch e + 1 of any model starts
 * when every live model has completed epoch e (Cerebro's train_for_one_epoch). */
static int barrier(const cd_sched *s)
{
    int least = -1;
    for (int i = 0; i < s->nm; i++)
        if (live(&s->m[i]) && !s->m[i].out && (least < 0 || s->m[i].done < least))
            least = s->m[i].done;
    return least;
}

/* Worker v could run a unit of x: under random one of the shards x has left in the
 * barrier's epoch (`epoch`, barrier()), else its next shard. */
static bool can_take(const cd_sched *s, const model *x, int v, int epoch)
{
    if (s->policy == CD_POLICY_RANDOM)
        return x->done == epoch && open_shards(s, x, v, -1) > 0;
    return reaches(s, v, x->next);
}

/* Running model y may come to worker w next: its next shard is one w serves (under random:
 * any shard w serves that it has left in its epoch). */
static bool may_come(const cd_sched *s, const model *y, int w)
{
    if (s->policy == CD_POLICY_RANDOM)
        return open_shards(s, y, w, -1) > 0;
    return reaches(s, w, y->after);
}

/* Worker w passes over x, whose last unit failed on w, while another free worker could take
 * x, w could take another model, or a running model may come to w next: a model that fails
 * wherever it runs then fails on several workers that train other models in between, which
 * shows it as the model's fault, not the workers' (job.h). When none of these holds, waiting
 * would only leave w idle: it takes x at once. */
static bool shunned(const cd_sched *s, const model *x, int w)
{
    if (x->shun != w)
        return false;
    int epoch = s->policy == CD_POLICY_RANDOM ? barrier(s) : 0;
    for (int v = 0; v < s->W; v++)
        if (v != w && !s->out[v] && s->running[v] < 0 && can_take(s, x, v, epoch))
            return true;
    for (int i = 0; i < s->nm; i++) {
        const model *y = &s->m[i];
        if (y != x && ready(y) && y->shun != w && can_take(s, y, w, epoch))
            return true;
        if (y != x && y->worker >= 0 && may_come(s, y, w))
            return true;
    }
    return false;
}

/* ---- creation ---- */

cd_code cd_sched_new(cd_sched **out, cd_policy policy, int nshards, int nworkers, uint64_t seed,
                     cd_err *err)
{
    *out = NULL;
    if (nshards < 1 || nworkers < 1)
        return cd_fail(err, CD_EINVAL, "a scheduler needs at least one shard and one worker");
    if (policy != CD_POLICY_ASYNC && policy != CD_POLICY_RANDOM && policy != CD_POLICY_SYNC)
        return cd_fail(err, CD_EINVAL, "unknown policy %d", (int)policy);
    cd_sched *s = calloc(1, sizeof *s);
    if (s == NULL)
        return cd_fail(err, CD_ENOMEM, "out of memory for the scheduler");
    s->policy = policy;
    s->S = nshards;
    s->W = nworkers;
    s->seed = seed;
    s->reach = calloc((size_t)nworkers * (size_t)nshards, 1);
    s->out = calloc((size_t)nworkers, sizeof *s->out);
    s->running = malloc((size_t)nworkers * sizeof *s->running);
    s->perm = malloc((size_t)nshards * sizeof *s->perm);
    s->plan = calloc((size_t)nworkers, sizeof *s->plan);
    s->planned = calloc((size_t)nworkers, sizeof *s->planned);
    s->used = calloc((size_t)nshards, sizeof *s->used);
    s->row_load = calloc((size_t)nshards, sizeof *s->row_load);
    s->row_n = calloc((size_t)nshards, sizeof *s->row_n);
    if (s->reach == NULL || s->out == NULL || s->running == NULL || s->perm == NULL ||
        s->plan == NULL || s->planned == NULL || s->used == NULL || s->row_load == NULL ||
        s->row_n == NULL) {
        cd_sched_free(&s);
        return cd_fail(err, CD_ENOMEM, "out of memory for the scheduler");
    }
    for (int w = 0; w < nworkers; w++)
        s->running[w] = -1;
    *out = s;
    return CD_OK;
}

void cd_sched_free(cd_sched **sp)
{
    cd_sched *s = *sp;
    if (s == NULL)
        return;
    for (int i = 0; i < s->nm; i++)
        free(s->m[i].visited);
    free(s->order);
    free(s->m);
    free(s->used);
    free(s->row_load);
    free(s->row_n);
    free(s->planned);
    free(s->plan);
    free(s->perm);
    free(s->running);
    free(s->out);
    free(s->reach);
    free(s);
    *sp = NULL;
}

void cd_sched_reach(cd_sched *s, int worker, int shard)
{
    if (worker >= 0 && worker < s->W && shard >= 0 && shard < s->S)
        s->reach[(size_t)worker * (size_t)s->S + (size_t)shard] = 1;
}

static bool grow_models(cd_sched *s)
{
    if (s->nm < s->cap)
        return true;
    int cap = s->cap ? 2 * s->cap : 16;
    model *m = realloc(s->m, (size_t)cap * sizeof *m);
    if (m == NULL)
        return false;
    s->m = m;
    long *order = realloc(s->order, (size_t)cap * sizeof *order);
    if (order == NULL)
        return false;
    s->order = order;
    s->cap = cap;
    return true;
}

/* The row with the fewest models (the lowest of those), counted in. */
static int fewest_row(cd_sched *s)
{
    int best = 0;
    for (int r = 1; r < s->S; r++)
        best = s->row_n[r] < s->row_n[best] ? r : best;
    s->row_n[best]++;
    return best;
}

/* Rows for the models added since the last call (rows.h), from their cost hints; if out of
 * memory, each to the row with the fewest models. */
static void place_rows(cd_sched *s)
{
    int n = s->nm - s->nplaced;
    if (n <= 0)
        return;
    double *cost = malloc((size_t)n * sizeof *cost);
    int *row = malloc((size_t)n * sizeof *row);
    for (int k = 0; cost != NULL && k < n; k++)
        cost[k] = s->m[s->nplaced + k].hint;
    if (cost == NULL || row == NULL ||
        cd_rows_pack(cost, n, s->S, s->row_load, s->row_n, row, NULL) != CD_OK)
        for (int k = 0; row != NULL && k < n; k++)
            row[k] = -1;
    for (int k = 0; k < n; k++) {
        int i = s->nplaced + k;
        s->m[i].row = row != NULL && row[k] >= 0 ? row[k] : fewest_row(s);
        s->m[i].next = latin(s, i, s->m[i].done + 1, s->m[i].step);
    }
    free(row);
    free(cost);
    s->nplaced = s->nm;
}

/* Returns -1 when out of memory. */
int cd_sched_add_model(cd_sched *s, int epochs, double cost_hint)
{
    unsigned char *visited = calloc((size_t)s->S, 1);
    if (visited == NULL || !grow_models(s)) {
        free(visited);
        return -1;
    }
    int i = s->nm++;
    model *x = &s->m[i];
    memset(x, 0, sizeof *x);
    x->epochs = epochs > 0 ? epochs : 0;
    x->worker = -1;
    x->cur = -1;
    x->after = -1;
    x->hint = cost_hint > 0 ? cost_hint : 0;
    x->visited = visited;
    x->row = -1;
    x->next = -1; /* place_rows */
    x->shun = -1;
    return i;
}

void cd_sched_set_epochs(cd_sched *s, int m, int epochs)
{
    if (m >= 0 && m < s->nm)
        s->m[m].epochs = epochs > 0 ? epochs : 0;
}

void cd_sched_stop(cd_sched *s, int m)
{
    if (m >= 0 && m < s->nm)
        s->m[m].stopped = true;
}

void cd_sched_hold(cd_sched *s, int m, bool held)
{
    if (m >= 0 && m < s->nm)
        s->m[m].held = held;
}

void cd_sched_model_out(cd_sched *s, int m)
{
    if (m >= 0 && m < s->nm)
        s->m[m].out = true;
}

/* ---- the policies ---- */

/* Async. A model's arrival: now when idle; when running, the end of its unit as estimated
 * (start + estimate, at least now; a unit past twice its estimate has an unknown end: now). */
static double arrival(const cd_sched *s, const model *x, double now)
{
    if (x->worker < 0)
        return now;
    double est = estimate(s, x), a = x->start + est;
    return a > now && now - x->start <= 2 * est ? a : now;
}

/* The projected end of the job: the larger of the work left (running units' estimated rests
 * included) spread over the live workers and every live model's arrival + remaining work. */
static double projected_end(const cd_sched *s, double now)
{
    double work = 0, end = now;
    int workers = 0;
    for (int w = 0; w < s->W; w++)
        workers += !s->out[w];
    for (int i = 0; i < s->nm; i++) {
        const model *x = &s->m[i];
        if (!live(x) && x->worker < 0)
            continue;
        double a = arrival(s, x, now), r = remaining(s, x);
        work += r + (a - now);
        end = a + r > end ? a + r : end;
    }
    double spread = now + work / (workers > 0 ? workers : 1);
    return spread > end ? spread : end;
}

/* Slack kept back when delaying an arriving model, as a fraction of the projected time left:
 * estimates are estimates. */
#define SLACK_MARGIN 0.02

/* Async priority of a model arriving at time a: the most units left first (the models of a
 * row then move in step, as the packing of the rows assumes), then the most remaining work;
 * its slack: the projected end - a - its remaining work. */
typedef struct prio {
    long units;
    double work, slack;
} prio;

static prio priority(const cd_sched *s, const model *x, double a, double end)
{
    double r = remaining(s, x);
    return (prio){.units = units_left(s, x), .work = r, .slack = end - (a + r)};
}

static bool outranks(const prio *a, const prio *b)
{
    if (a->units != b->units)
        return a->units > b->units;
    return a->work > b->work;
}

/* Would starting c (priority pc, unit estimate dur) on w now delay a running model that
 * outranks it, arriving before c ends for a shard w serves, by more than its slack - margin? */
static bool delays_arrival(const cd_sched *s, int w, const prio *pc, double dur, double now,
                           double end, double margin)
{
    for (int v = 0; v < s->W; v++) {
        if (v == w || s->running[v] < 0)
            continue;
        const model *r = &s->m[s->running[v]];
        if (r->held || !reaches(s, w, r->after))
            continue;
        double a = arrival(s, r, now);
        if (a >= now + dur)
            continue;
        prio pr = priority(s, r, a, end);
        if (outranks(&pr, pc) && now + dur - a > pr.slack - margin)
            return true;
    }
    return false;
}

/* The ready model that ranks first among those whose next shard w serves and that delay no
 * arrival beyond its slack; ties: the lowest id. */
static int pick_async(cd_sched *s, int w, double now, int *shard)
{
    double end = projected_end(s, now), margin = SLACK_MARGIN * (end - now);
    int best = -1;
    prio best_p = {0};
    for (int i = 0; i < s->nm; i++) {
        const model *x = &s->m[i];
        if (!ready(x) || !reaches(s, w, x->next) || shunned(s, x, w))
            continue;
        prio p = priority(s, x, now, end);
        if ((best >= 0 && !outranks(&p, &best_p)) ||
            delays_arrival(s, w, &p, estimate(s, x), now, end, margin))
            continue;
        best = i;
        best_p = p;
    }
    if (best >= 0)
        *shard = s->m[best].next;
    return best;
}

/* Random: a uniform draw, a function of (seed, units completed, draws since) so that replay
 * reproduces the state of the run it replays. */
static uint64_t draw(cd_sched *s, uint64_t n)
{
    uint64_t st = s->seed ^ ((uint64_t)s->ok_units * 0x9E3779B97F4A7C15ull) ^
                  ((uint64_t)s->draws * 0xC2B2AE3D27D4EB4Full);
    s->draws++;
    return cd_splitmix64(&st) % n;
}

/* Random: models ready, in the barrier's epoch, with a shard w serves left to visit. */
static int random_open(const cd_sched *s, const model *x, int w, int epoch)
{
    return ready(x) && x->done == epoch && !shunned(s, x, w) ? open_shards(s, x, w, -1) : 0;
}

static int pick_random(cd_sched *s, int w, int *shard)
{
    int n = 0, epoch = barrier(s);
    for (int i = 0; i < s->nm; i++)
        n += random_open(s, &s->m[i], w, epoch) > 0;
    if (n == 0)
        return -1;
    int k = (int)draw(s, (uint64_t)n);
    for (int i = 0; i < s->nm; i++) {
        const model *x = &s->m[i];
        int nopen = random_open(s, x, w, epoch);
        if (nopen > 0 && k-- == 0) {
            *shard = open_shards(s, x, w, (int)draw(s, (uint64_t)nopen));
            return i;
        }
    }
    return -1;
}

static int cmp_long(const void *a, const void *b)
{
    long x = *(const long *)a, y = *(const long *)b;
    return (x > y) - (x < y);
}

/* A live worker other than `avoid` that serves shard and has no unit in the round, or -1. */
static int round_worker(const cd_sched *s, int shard, int avoid)
{
    for (int v = 0; v < s->W; v++)
        if (v != avoid && !s->out[v] && s->running[v] < 0 && !s->planned[v] && reaches(s, v, shard))
            return v;
    return -1;
}

/* Plan the n ready models of s->order; shun: not on the worker each last failed on. */
static void plan_round(cd_sched *s, int n, bool shun)
{
    memset(s->used, 0, (size_t)s->S * sizeof *s->used);
    s->nplanned = 0;
    for (int k = 0; k < n; k++) {
        int i = (int)(s->order[k] % s->nm);
        const model *x = &s->m[i];
        int v = s->used[x->next] ? -1 : round_worker(s, x->next, shun ? x->shun : -1);
        if (v < 0)
            continue;
        s->plan[v] = (cd_unit){.model = i, .epoch = x->done + 1, .shard = x->next, .worker = v};
        s->planned[v] = true;
        s->used[x->next] = true;
        s->nplanned++;
    }
}

/* Sync: plan a round, at most one unit per shard and per worker, the ready models taken
 * by (epochs completed, id) so that every model ends epoch e before any starts e + 1. A
 * model is not planned on the worker its last unit failed on, unless the round would
 * otherwise be empty (as under async: shunned). */
static void open_round(cd_sched *s)
{
    int n = 0;
    for (int i = 0; i < s->nm; i++)
        if (ready(&s->m[i]))
            s->order[n++] = (long)s->m[i].done * s->nm + i;
    qsort(s->order, (size_t)n, sizeof *s->order, cmp_long);
    plan_round(s, n, true);
    if (s->nplanned == 0)
        plan_round(s, n, false);
    s->round_open = s->nplanned > 0;
}

static int pick_sync(cd_sched *s, int w, int *shard)
{
    if (s->round_open && s->nplanned == 0 && s->nrunning == 0)
        s->round_open = false;
    if (!s->round_open) {
        if (s->nrunning > 0)
            return -1;
        open_round(s);
    }
    if (!s->planned[w])
        return -1;
    s->planned[w] = false;
    s->nplanned--;
    const cd_unit *p = &s->plan[w];
    const model *x = &s->m[p->model];
    if (!ready(x) || x->next != p->shard || x->done + 1 != p->epoch)
        return -1; /* held or stopped since the round opened */
    *shard = p->shard;
    return p->model;
}

bool cd_sched_next(cd_sched *s, int w, double now, cd_unit *u)
{
    place_rows(s);
    if (w < 0 || w >= s->W || s->out[w] || s->running[w] >= 0)
        return false;
    int shard = -1, i;
    if (s->policy == CD_POLICY_ASYNC)
        i = pick_async(s, w, now, &shard);
    else if (s->policy == CD_POLICY_RANDOM)
        i = pick_random(s, w, &shard);
    else
        i = pick_sync(s, w, &shard);
    if (i < 0 || shard < 0)
        return false;
    model *x = &s->m[i];
    x->worker = w;
    x->cur = shard;
    x->start = now;
    x->after = after_unit(s, i);
    s->running[w] = i;
    s->nrunning++;
    *u = (cd_unit){.model = i, .epoch = x->done + 1, .shard = shard, .worker = w};
    return true;
}

/* ---- events ---- */

static void complete(cd_sched *s, int i, int shard, double seconds)
{
    model *x = &s->m[i];
    if (seconds < 0)
        seconds = 0;
    x->sum += seconds;
    x->n++;
    s->meas_sum += seconds;
    s->meas_n++;
    if (x->hint > 0) {
        s->hint_sec += seconds;
        s->hint_sum += x->hint;
    }
    s->ok_units++;
    s->draws = 0;
    if (shard >= 0 && shard < s->S)
        x->visited[shard] = 1;
    if (++x->step >= s->S) {
        x->done++;
        x->step = 0;
        memset(x->visited, 0, (size_t)s->S);
    }
    x->next = latin(s, i, x->done + 1, x->step);
}

void cd_sched_end(cd_sched *s, const cd_unit *u, double start, double end, bool ok)
{
    if (u->model < 0 || u->model >= s->nm || u->worker < 0 || u->worker >= s->W)
        return;
    model *x = &s->m[u->model];
    if (x->worker != u->worker || s->running[u->worker] != u->model)
        return; /* not a running unit */
    x->worker = -1;
    x->cur = -1;
    x->after = -1;
    s->running[u->worker] = -1;
    s->nrunning--;
    x->shun = ok ? -1 : u->worker;
    for (int i = 0; ok && i < s->nm; i++) /* the worker works: no need to pass over it */
        if (s->m[i].shun == u->worker)
            s->m[i].shun = -1;
    if (ok)
        complete(s, u->model, u->shard, end - start);
}

void cd_sched_replay(cd_sched *s, const cd_unit *u, double seconds)
{
    if (u->model < 0 || u->model >= s->nm || s->m[u->model].worker >= 0)
        return;
    place_rows(s);
    s->round_open = false;
    s->nplanned = 0;
    memset(s->planned, 0, (size_t)s->W * sizeof *s->planned);
    complete(s, u->model, u->shard, seconds);
}

void cd_sched_worker_out(cd_sched *s, int w)
{
    if (w < 0 || w >= s->W || s->out[w])
        return;
    s->out[w] = true;
    if (s->planned[w]) {
        s->planned[w] = false;
        s->nplanned--;
    }
}

/* Some live model still has to visit shard (a unit running on it does not count). */
static bool needed(const cd_sched *s, int shard)
{
    for (int i = 0; i < s->nm; i++) {
        const model *x = &s->m[i];
        if (!live(x) || x->out)
            continue;
        if (target(x) - x->done > 1)
            return true;
        if (!x->visited[shard] && !(x->worker >= 0 && x->cur == shard))
            return true;
    }
    return false;
}

bool cd_sched_shard_unreachable(const cd_sched *s, int shard)
{
    bool served = false;
    for (int w = 0; w < s->W && !served; w++)
        served = !s->out[w] && reaches(s, w, shard);
    return !served && needed(s, shard);
}

int cd_sched_sole_worker(const cd_sched *s, int shard)
{
    int sole = -1;
    for (int w = 0; shard >= 0 && shard < s->S && w < s->W; w++)
        if (reaches(s, w, shard)) {
            if (sole >= 0)
                return -1;
            sole = w;
        }
    return sole;
}

int cd_sched_unreachable(const cd_sched *s)
{
    for (int shard = 0; shard < s->S; shard++)
        if (cd_sched_shard_unreachable(s, shard))
            return shard;
    return -1;
}

/* ---- progress ---- */

int cd_sched_nmodels(const cd_sched *s)
{
    return s->nm;
}

int cd_sched_epochs_done(const cd_sched *s, int m)
{
    return m >= 0 && m < s->nm ? s->m[m].done : 0;
}

bool cd_sched_finished(const cd_sched *s)
{
    if (s->nrunning > 0)
        return false;
    for (int i = 0; i < s->nm; i++)
        if (live(&s->m[i]))
            return false;
    return true;
}

long cd_sched_units_left(const cd_sched *s)
{
    long n = 0;
    for (int i = 0; i < s->nm; i++)
        n += units_left(s, &s->m[i]);
    return n;
}

double cd_sched_work_left(const cd_sched *s)
{
    double t = 0;
    for (int i = 0; i < s->nm; i++)
        t += remaining(s, &s->m[i]);
    return t;
}
