/*
 * search.c: grid, random and hyperband trials over a workload's search space (see
 * search.h): the configurations (enumerated or drawn from a splitmix64 generator), their
 * targets, and hyperband's successive-halving decisions from reported scores.
 * Does not: train, schedule or time anything, or read files (the workload is loaded).
 */
#include "search.h"

#include "hash.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_TRIALS 1000000

typedef struct trial_state {
    int epochs;   /* most epochs reported */
    bool scored;  /* a score at (or past) the current target was reported */
    double score; /* that score (NaN as -inf) */
} trial_state;

typedef struct bracket {
    int s;     /* Li et al.'s s: rungs 0..s */
    int n;     /* trials of rung 0 */
    int first; /* id of its first trial */
} bracket;

typedef struct ranked {
    double score;
    int id;
} ranked;

struct cd_search {
    int nkeys;
    cd_procedure procedure;
    int R, eta;
    cd_trial *trials; /* [ntrials] */
    trial_state *state;
    int ntrials;
    bracket *brackets; /* [nbrackets] (hyperband) */
    int nbrackets;
    ranked *rank; /* [the largest bracket's n]: decide_rung's buffer */
};

/* ---- trials and values ---- */

static cd_code too_many(long n, cd_err *err)
{
    cd_fail(err, CD_EINVAL, "the search has %ld trials, more than %d", n, MAX_TRIALS);
    return cd_hint(err, "search fewer values, or a smaller n or R");
}

static cd_code alloc_trials(cd_search *s, long n, cd_err *err)
{
    if (n > MAX_TRIALS)
        return too_many(n, err);
    s->trials = calloc((size_t)n, sizeof *s->trials);
    s->state = calloc((size_t)n, sizeof *s->state);
    if (s->trials == NULL || s->state == NULL)
        return cd_fail(err, CD_ENOMEM, "out of memory");
    for (long i = 0; i < n; i++) {
        if (s->nkeys > 0 &&
            (s->trials[i].config.values = calloc((size_t)s->nkeys, sizeof(char *))) == NULL)
            return cd_fail(err, CD_ENOMEM, "out of memory");
        s->ntrials++;
    }
    return CD_OK;
}

static cd_code set_value(cd_trial *t, int k, const char *v, cd_err *err)
{
    if ((t->config.values[k] = strdup(v)) == NULL)
        return cd_fail(err, CD_ENOMEM, "out of memory");
    return CD_OK;
}

/* Uniform in [0, 1) from 53 bits. */
static double next_unit(uint64_t *rng)
{
    return (double)(cd_splitmix64(rng) >> 11) * 0x1p-53;
}

/* One value of key k drawn from rng. */
static cd_code draw(const cd_search_key *k, uint64_t *rng, cd_trial *t, int i, cd_err *err)
{
    double u = next_unit(rng), v;
    char buf[64];
    if (k->dist == CD_DIST_LIST) {
        int j = (int)(u * k->nvalues);
        return set_value(t, i, k->values[j < k->nvalues ? j : k->nvalues - 1], err);
    }
    if (k->dist == CD_DIST_UNIFORM)
        v = k->lo + u * (k->hi - k->lo);
    else
        v = exp(log(k->lo) + u * (log(k->hi) - log(k->lo)));
    snprintf(buf, sizeof buf, "%.6g", v);
    return set_value(t, i, buf, err);
}

/* Trials first.. first + n - 1 drawn in order, each key in key order. */
static cd_code sample(const cd_workload *w, uint64_t *rng, cd_search *s, int first, int n,
                      cd_err *err)
{
    for (int id = first; id < first + n; id++)
        for (int k = 0; k < w->nkeys; k++) {
            cd_code rc = draw(&w->keys[k], rng, &s->trials[id], k, err);
            if (rc != CD_OK)
                return rc;
        }
    return CD_OK;
}

/* ---- procedures ---- */

static cd_code make_grid(cd_search *s, const cd_workload *w, cd_err *err)
{
    long total = 1;
    for (int k = 0; k < w->nkeys; k++) {
        if (w->keys[k].dist != CD_DIST_LIST)
            return cd_fail(err, CD_EINVAL, "grid search over %s: not a list", w->keys[k].key);
        total *= w->keys[k].nvalues;
        if (total > MAX_TRIALS)
            return too_many(total, err);
    }
    cd_code rc = alloc_trials(s, total, err);
    for (int id = 0; rc == CD_OK && id < total; id++) {
        long rem = id;
        for (int k = w->nkeys - 1; rc == CD_OK && k >= 0; k--) {
            rc = set_value(&s->trials[id], k, w->keys[k].values[rem % w->keys[k].nvalues], err);
            rem /= w->keys[k].nvalues;
        }
        s->trials[id].target = w->epochs;
        s->trials[id].final = true;
    }
    return rc;
}

static cd_code make_random(cd_search *s, const cd_workload *w, cd_err *err)
{
    uint64_t rng = w->search_seed;
    cd_code rc = alloc_trials(s, w->n, err);
    if (rc == CD_OK)
        rc = sample(w, &rng, s, 0, w->n, err);
    for (int id = 0; id < s->ntrials; id++) {
        s->trials[id].target = w->epochs;
        s->trials[id].final = true;
    }
    return rc;
}

static long ipow(long b, int e)
{
    long p = 1;
    while (e-- > 0)
        p *= b;
    return p;
}

/* Epochs of rung i of a bracket with s: floor(R * eta^(i - s)), at least 1. */
static int rung_target(const cd_search *s, int bs, int i)
{
    long t = s->R / ipow(s->eta, bs - i);
    return t > 0 ? (int)t : 1;
}

/* Brackets s = s_max..0 with their n (Li et al.); the total of their n. */
static cd_code make_brackets(cd_search *s, long *total, cd_err *err)
{
    int s_max = 0;
    long most = 1;
    while (ipow(s->eta, s_max + 1) <= s->R)
        s_max++;
    if ((s->brackets = calloc((size_t)s_max + 1, sizeof *s->brackets)) == NULL)
        return cd_fail(err, CD_ENOMEM, "out of memory");
    *total = 0;
    for (int b = 0; b <= s_max; b++) {
        int bs = s_max - b;
        long n = ((long)(s_max + 1) * ipow(s->eta, bs) + bs) / (bs + 1); /* ceil */
        if (*total + n > MAX_TRIALS)
            return too_many(*total + n, err);
        s->brackets[b] = (bracket){.s = bs, .n = (int)n, .first = (int)*total};
        s->nbrackets++;
        *total += n;
        most = n > most ? n : most;
    }
    if ((s->rank = calloc((size_t)most, sizeof *s->rank)) == NULL)
        return cd_fail(err, CD_ENOMEM, "out of memory");
    return CD_OK;
}

static cd_code make_hyperband(cd_search *s, const cd_workload *w, cd_err *err)
{
    uint64_t rng = w->search_seed;
    long total = 0;
    cd_code rc = make_brackets(s, &total, err);
    if (rc == CD_OK)
        rc = alloc_trials(s, total, err);
    if (rc == CD_OK)
        rc = sample(w, &rng, s, 0, (int)total, err);
    for (int b = 0; rc == CD_OK && b < s->nbrackets; b++) {
        const bracket *br = &s->brackets[b];
        for (int id = br->first; id < br->first + br->n; id++) {
            cd_trial *t = &s->trials[id];
            t->bracket = b;
            t->rung = 0;
            t->target = rung_target(s, br->s, 0);
            t->final = br->s == 0;
        }
    }
    return rc;
}

cd_code cd_search_new(cd_search **out, const cd_workload *w, cd_err *err)
{
    *out = NULL;
    if ((w->procedure == CD_PROC_HYPERBAND && (w->R < 1 || w->eta < 2)) ||
        (w->procedure == CD_PROC_RANDOM && w->n < 1) ||
        (w->procedure != CD_PROC_HYPERBAND && w->epochs < 1))
        return cd_fail(err, CD_EINVAL, "search: bad procedure settings (epochs, n, R or eta)");
    cd_search *s = calloc(1, sizeof *s);
    if (s == NULL)
        return cd_fail(err, CD_ENOMEM, "out of memory");
    *s = (cd_search){.nkeys = w->nkeys, .procedure = w->procedure, .R = w->R, .eta = w->eta};
    cd_code rc;
    if (w->procedure == CD_PROC_GRID)
        rc = make_grid(s, w, err);
    else if (w->procedure == CD_PROC_RANDOM)
        rc = make_random(s, w, err);
    else
        rc = make_hyperband(s, w, err);
    if (rc != CD_OK)
        cd_search_free(&s);
    *out = s;
    return rc;
}

void cd_search_free(cd_search **sp)
{
    cd_search *s = *sp;
    if (s == NULL)
        return;
    for (int i = 0; i < s->ntrials; i++) {
        for (int k = 0; s->trials[i].config.values != NULL && k < s->nkeys; k++)
            free(s->trials[i].config.values[k]);
        free(s->trials[i].config.values);
    }
    free(s->trials);
    free(s->state);
    free(s->brackets);
    free(s->rank);
    free(s);
    *sp = NULL;
}

int cd_search_ntrials(const cd_search *s)
{
    return s->ntrials;
}

const cd_trial *cd_search_trial(const cd_search *s, int id)
{
    return id >= 0 && id < s->ntrials ? &s->trials[id] : NULL;
}

/* ---- successive halving ---- */

static int by_score(const void *a, const void *b)
{
    const ranked *x = a, *y = b;
    if (x->score != y->score)
        return x->score > y->score ? -1 : 1;
    return (x->id > y->id) - (x->id < y->id);
}

/* When every trial of rung i of bracket b has a score: promote the best n_i / eta, stop the
 * others. Returns true when it decided. */
static bool decide_rung(cd_search *s, int b, int i)
{
    const bracket *br = &s->brackets[b];
    ranked *r = s->rank;
    int n = 0;
    for (int id = br->first; id < br->first + br->n; id++) {
        if (s->trials[id].rung != i || s->trials[id].stopped)
            continue;
        if (!s->state[id].scored)
            return false;
        r[n++] = (ranked){s->state[id].score, id};
    }
    qsort(r, (size_t)n, sizeof *r, by_score);
    for (int k = 0; k < n; k++) {
        cd_trial *t = &s->trials[r[k].id];
        if (k >= n / s->eta) {
            t->stopped = true;
            continue;
        }
        t->rung = i + 1;
        t->target = rung_target(s, br->s, i + 1);
        t->final = i + 1 == br->s;
        s->state[r[k].id].scored = false;
    }
    return true;
}

bool cd_search_report(cd_search *s, int id, int epoch, double score)
{
    if (id < 0 || id >= s->ntrials)
        return false;
    cd_trial *t = &s->trials[id];
    trial_state *ts = &s->state[id];
    if (epoch > ts->epochs)
        ts->epochs = epoch;
    if (t->stopped || ts->scored || epoch < t->target)
        return false;
    ts->scored = true;
    ts->score = isnan(score) ? -INFINITY : score;
    if (s->procedure != CD_PROC_HYPERBAND || t->final)
        return false;
    return decide_rung(s, t->bracket, t->rung);
}

bool cd_search_waiting(const cd_search *s, int id, int epochs_done)
{
    const cd_trial *t = cd_search_trial(s, id);
    return t != NULL && !t->stopped && !t->final && epochs_done >= t->target;
}

bool cd_search_done(const cd_search *s)
{
    for (int id = 0; id < s->ntrials; id++) {
        const cd_trial *t = &s->trials[id];
        if (!t->stopped && !(t->final && s->state[id].epochs >= t->target))
            return false;
    }
    return true;
}
