/*
 * rows.c: the packing of models into rows of the Latin square (rows.h): LPT and MULTIFIT
 * (first-fit decreasing with a bisected capacity), the better of the two.
 *
 * It does not know shards, workers, epochs or time: only costs, rows and their loads.
 */
#include "rows.h"

#include <math.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

/* MULTIFIT's bisection steps: the capacity to within 2^-24 of the LPT-to-bound gap. */
#define BISECT_STEPS 24

typedef struct item {
    double cost;
    int id;
} item;

typedef struct packing {
    int nrows;
    const double *load0; /* [nrows] loads before this batch */
    const int *count0;   /* [nrows] */
    double *load;        /* [nrows] scratch */
    int *count;          /* [nrows] scratch */
} packing;

static int cmp_item(const void *a, const void *b)
{
    const item *x = a, *y = b;
    if (x->cost != y->cost)
        return x->cost > y->cost ? -1 : 1;
    return (x->id > y->id) - (x->id < y->id);
}

static bool known(double c)
{
    return c > 0 && isfinite(c);
}

/* The items, unknown costs replaced by the mean of the known ones (1 if none), sorted. */
static void make_items(const double *cost, int n, item *v)
{
    double sum = 0;
    int nk = 0;
    for (int i = 0; i < n; i++)
        if (known(cost[i])) {
            sum += cost[i];
            nk++;
        }
    double fill = nk > 0 ? sum / nk : 1;
    for (int i = 0; i < n; i++)
        v[i] = (item){.cost = known(cost[i]) ? cost[i] : fill, .id = i};
    qsort(v, (size_t)n, sizeof *v, cmp_item);
}

static double largest(const double *x, int n)
{
    double m = x[0];
    for (int i = 1; i < n; i++)
        m = x[i] > m ? x[i] : m;
    return m;
}

static double smallest(const double *x, int n)
{
    double m = x[0];
    for (int i = 1; i < n; i++)
        m = x[i] < m ? x[i] : m;
    return m;
}

static void reset(packing *p)
{
    memcpy(p->load, p->load0, (size_t)p->nrows * sizeof *p->load);
    memcpy(p->count, p->count0, (size_t)p->nrows * sizeof *p->count);
}

/* LPT into row[]; returns the largest row load. */
static double lpt(packing *p, const item *v, int n, int *row)
{
    reset(p);
    for (int k = 0; k < n; k++) {
        int best = 0;
        for (int r = 1; r < p->nrows; r++)
            if (p->load[r] < p->load[best] ||
                (p->load[r] == p->load[best] && p->count[r] < p->count[best]))
                best = r;
        row[v[k].id] = best;
        p->load[best] += v[k].cost;
        p->count[best]++;
    }
    return largest(p->load, p->nrows);
}

/* First-fit decreasing into rows of capacity cap: false when an item fits nowhere. */
static bool ffd(packing *p, const item *v, int n, double cap, int *row)
{
    reset(p);
    for (int k = 0; k < n; k++) {
        int r = 0;
        while (r < p->nrows && p->load[r] + v[k].cost > cap * (1 + 1e-12))
            r++;
        if (r == p->nrows)
            return false;
        row[v[k].id] = r;
        p->load[r] += v[k].cost;
    }
    return true;
}

/* MULTIFIT below the capacity hi: the smallest largest-load found into row[], or hi. */
static double multifit(packing *p, const item *v, int n, double hi, int *row, int *scratch)
{
    double total = 0, best = hi;
    for (int r = 0; r < p->nrows; r++)
        total += p->load0[r];
    for (int k = 0; k < n; k++)
        total += v[k].cost;
    double lo = fmax(total / p->nrows, v[0].cost + smallest(p->load0, p->nrows));
    for (int step = 0; step < BISECT_STEPS && lo < hi; step++) {
        double mid = (lo + hi) / 2;
        if (!ffd(p, v, n, mid, scratch)) {
            lo = mid;
            continue;
        }
        hi = mid;
        double got = largest(p->load, p->nrows);
        if (got < best) {
            best = got;
            memcpy(row, scratch, (size_t)n * sizeof *row);
        }
    }
    return best;
}

cd_code cd_rows_pack(const double *cost, int n, int nrows, double *load, int *count, int *row,
                     cd_err *err)
{
    if (nrows < 1)
        return cd_fail(err, CD_EINVAL, "rows to pack into: %d", nrows);
    if (n <= 0)
        return CD_OK;
    item *v = malloc((size_t)n * sizeof *v);
    int *alt = malloc((size_t)n * 2 * sizeof *alt);
    double *sl = malloc((size_t)nrows * sizeof *sl);
    int *sc = malloc((size_t)nrows * sizeof *sc);
    cd_code rc = CD_OK;
    if (v == NULL || alt == NULL || sl == NULL || sc == NULL)
        rc = cd_fail(err, CD_ENOMEM, "out of memory placing %d models", n);
    if (rc == CD_OK) {
        packing p = {.nrows = nrows, .load0 = load, .count0 = count, .load = sl, .count = sc};
        make_items(cost, n, v);
        double by_lpt = lpt(&p, v, n, row);
        double by_fit = multifit(&p, v, n, by_lpt, alt, alt + n);
        if (by_fit < by_lpt * (1 - 1e-9))
            memcpy(row, alt, (size_t)n * sizeof *row);
        for (int k = 0; k < n; k++) {
            load[row[v[k].id]] += v[k].cost;
            count[row[v[k].id]]++;
        }
    }
    free(sc);
    free(sl);
    free(alt);
    free(v);
    return rc;
}
