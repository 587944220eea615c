/*
 * sim.c: the discrete-event simulator of sim.h. A binary heap of running units keyed by end
 * time; at each event time every unit ending then is reported to cd_sched (cd_sched_end),
 * then every free worker is asked for a unit (cd_sched_next), in worker order. It also holds
 * the lower bound, the two-mode costs, eq. (1) and the cost CSV reader.
 *
 * It does not model data movement, model hopping or launch overheads: a unit takes exactly
 * its cost.
 */
#include "sim.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hash.h"

typedef struct event {
    double end;
    cd_unit u;
    double start;
    bool ok;
} event;

typedef struct sim {
    const cd_sim_cfg *cfg;
    cd_sched *sched;
    event *heap; /* [W] min-heap on end */
    int n;
    uint64_t fail_state;
    cd_sim_result *res;
    long cap_units;
} sim;

static double cost_of(const cd_sim_cfg *c, int model, int shard)
{
    return c->cost[(size_t)model * (size_t)c->workers + (size_t)shard];
}

static double model_cost(const cd_sim_cfg *c, int model)
{
    double t = 0;
    for (int s = 0; s < c->workers; s++)
        t += cost_of(c, model, s);
    return t;
}

double cd_makespan_bound(const double *cost, int models, int shards, int workers, const int *alone)
{
    double total = 0, longest = 0, busiest = 0;
    for (int x = 0; x < models; x++) {
        double t = 0;
        for (int s = 0; s < shards; s++)
            t += cost[(size_t)x * (size_t)shards + (size_t)s];
        total += t;
        longest = t > longest ? t : longest;
    }
    for (int w = 0; alone != NULL && w < workers; w++) {
        double t = 0; /* the shards only w serves: no other worker can take their units */
        for (int s = 0; s < shards; s++)
            for (int x = 0; alone[s] == w && x < models; x++)
                t += cost[(size_t)x * (size_t)shards + (size_t)s];
        busiest = t > busiest ? t : busiest;
    }
    double lb = workers > 0 ? total / workers : total;
    lb = lb > longest ? lb : longest;
    return lb > busiest ? lb : busiest;
}

double cd_sim_lower_bound(const cd_sim_cfg *c)
{
    int *alone = malloc((size_t)c->workers * sizeof *alone);
    for (int s = 0; alone != NULL && s < c->workers; s++)
        alone[s] = s; /* worker w serves shard w only */
    double lb = cd_makespan_bound(c->cost, c->models, c->workers, c->workers, alone);
    free(alone);
    return lb * c->epochs;
}

static void heap_push(sim *s, event e)
{
    int i = s->n++;
    while (i > 0 && s->heap[(i - 1) / 2].end > e.end) {
        s->heap[i] = s->heap[(i - 1) / 2];
        i = (i - 1) / 2;
    }
    s->heap[i] = e;
}

static event heap_pop(sim *s)
{
    event top = s->heap[0], last = s->heap[--s->n];
    int i = 0;
    for (;;) {
        int c = 2 * i + 1;
        if (c >= s->n)
            break;
        if (c + 1 < s->n && s->heap[c + 1].end < s->heap[c].end)
            c++;
        if (s->heap[c].end >= last.end)
            break;
        s->heap[i] = s->heap[c];
        i = c;
    }
    s->heap[i] = last;
    return top;
}

static bool record(sim *s, const event *e)
{
    cd_sim_result *r = s->res;
    if (r->nunits == s->cap_units) {
        long cap = s->cap_units ? 2 * s->cap_units : 1024;
        cd_sim_unit *u = realloc(r->units, (size_t)cap * sizeof *u);
        if (u == NULL)
            return false;
        r->units = u;
        s->cap_units = cap;
    }
    r->units[r->nunits] = (cd_sim_unit){.u = e->u, .start = e->start, .end = e->end, .ok = e->ok};
    return true;
}

/* Ask every free worker for a unit at time now and push what starts. */
static bool start_units(sim *s, double now)
{
    const cd_sim_cfg *c = s->cfg;
    cd_unit u;
    for (int w = 0; w < c->workers; w++) {
        if (!cd_sched_next(s->sched, w, now, &u))
            continue;
        double d = cost_of(c, u.model, u.shard);
        bool ok = true;
        if (c->fail_prob > 0)
            ok = (double)(cd_splitmix64(&s->fail_state) >> 11) * 0x1.0p-53 >= c->fail_prob;
        event e = {.end = now + d, .u = u, .start = now, .ok = ok};
        if (c->record && !record(s, &e))
            return false;
        s->res->nunits++;
        s->res->busy += d;
        heap_push(s, e);
    }
    return true;
}

static cd_code check_cfg(const cd_sim_cfg *c, cd_err *err)
{
    if (c->models < 1 || c->workers < 1 || c->epochs < 1)
        return cd_fail(err, CD_EINVAL, "a simulation needs at least one model, worker and epoch");
    if (c->cost == NULL)
        return cd_fail(err, CD_EINVAL, "a simulation needs unit costs");
    if (!(c->fail_prob >= 0 && c->fail_prob < 1))
        return cd_fail(err, CD_EINVAL, "failure probability %g is outside [0, 1)", c->fail_prob);
    for (long i = 0; i < (long)c->models * c->workers; i++)
        if (!(c->cost[i] >= 0 && c->cost[i] <= CD_SIM_MAX_SECONDS))
            return cd_fail(err, CD_EINVAL, "unit cost %g of model %ld is not in [0, %g]",
                           c->cost[i], i / c->workers, CD_SIM_MAX_SECONDS);
    double units = (double)c->models * c->workers * c->epochs;
    if (cd_sim_too_big(c->models, c->workers, c->epochs))
        return cd_fail(err, CD_EINVAL,
                       "%d models x %d workers x %d epochs are too many to simulate: %.3g units",
                       c->models, c->workers, c->epochs, units);
    return CD_OK;
}

static cd_code setup(sim *s, const cd_sim_cfg *c, cd_err *err)
{
    cd_code rc = cd_sched_new(&s->sched, c->policy, c->workers, c->workers, c->seed, err);
    if (rc != CD_OK)
        return rc;
    for (int w = 0; w < c->workers; w++)
        cd_sched_reach(s->sched, w, w);
    for (int x = 0; x < c->models; x++)
        if (cd_sched_add_model(s->sched, c->epochs,
                               c->no_hints ? 0 : model_cost(c, x) / c->workers) < 0)
            return cd_fail(err, CD_ENOMEM, "out of memory for %d models", c->models);
    s->heap = malloc((size_t)c->workers * sizeof *s->heap);
    if (s->heap == NULL)
        return cd_fail(err, CD_ENOMEM, "out of memory for the simulation");
    return CD_OK;
}

static cd_code loop(sim *s, cd_err *err)
{
    double now = 0;
    if (!start_units(s, now))
        return cd_fail(err, CD_ENOMEM, "out of memory for the schedule");
    while (s->n > 0) {
        now = s->heap[0].end;
        while (s->n > 0 && s->heap[0].end == now) {
            event e = heap_pop(s);
            cd_sched_end(s->sched, &e.u, e.start, e.end, e.ok);
        }
        if (!start_units(s, now))
            return cd_fail(err, CD_ENOMEM, "out of memory for the schedule");
    }
    s->res->makespan = now;
    if (!cd_sched_finished(s->sched)) {
        cd_fail(err, CD_EINVAL, "the simulated schedule stalled");
        return cd_detail(err, "%ld units left at time %g", cd_sched_units_left(s->sched), now);
    }
    return CD_OK;
}

cd_code cd_sim_run(const cd_sim_cfg *c, cd_sim_result *out, cd_err *err)
{
    memset(out, 0, sizeof *out);
    cd_code rc = check_cfg(c, err);
    if (rc != CD_OK)
        return rc;
    sim s = {.cfg = c, .res = out, .fail_state = c->seed ^ 0x5DEECE66Dull};
    out->lower_bound = cd_sim_lower_bound(c);
    rc = setup(&s, c, err);
    if (rc == CD_OK)
        rc = loop(&s, err);
    free(s.heap);
    cd_sched_free(&s.sched);
    if (rc != CD_OK)
        cd_sim_result_free(out);
    return rc;
}

void cd_sim_result_free(cd_sim_result *r)
{
    free(r->units);
    r->units = NULL;
    r->nunits = 0;
}

void cd_sim_two_mode(double *cost, int models, int workers, double l_s, double l_m, double p,
                     uint64_t seed)
{
    uint64_t st = seed ^ 0xA0761D6478BD642Full;
    for (int x = 0; x < models; x++) {
        double u = (double)(cd_splitmix64(&st) >> 11) * 0x1.0p-53;
        double l = u < p ? l_s : l_m;
        for (int s = 0; s < workers; s++)
            cost[(size_t)x * (size_t)workers + (size_t)s] = l;
    }
}

double cd_sim_prop1(double p, int workers, double l_s, double l_m)
{
    double pw = pow(p, workers), mean = p * l_s + (1 - p) * l_m;
    return (pw * l_s + (1 - pw) * l_m) / mean;
}

/* ---- cost files ---- */

typedef struct cost_row {
    long model, shard; /* shard -1: every shard */
    double seconds;
    long line;
} cost_row;

typedef struct cost_file {
    const char *path;
    cost_row *rows;
    long n, cap;
    int fields;       /* 2 or 3, from the first row */
    bool header_done; /* past the line that may be a header */
} cost_file;

static bool parse_long(const char *s, long *out)
{
    char *end;
    errno = 0;
    *out = strtol(s, &end, 10);
    return *s != '\0' && *end == '\0' && errno == 0 && *out >= 0 && *out < 1000000;
}

static bool parse_seconds(const char *s, double *out)
{
    char *end;
    *out = strtod(s, &end);
    return *s != '\0' && *end == '\0' && *out > 0 && *out <= CD_SIM_MAX_SECONDS;
}

/* s starts with a number. */
static bool numeric(const char *s)
{
    char *end;
    (void)strtod(s, &end);
    return end != s;
}

static char *trim(char *p)
{
    p += strspn(p, " \t");
    char *end = p + strlen(p);
    while (end > p && strchr(" \t\r\n", end[-1]) != NULL)
        end--;
    *end = '\0';
    return p;
}

/* Split line in place at commas into trimmed fields (the first 4 in f); returns how many. */
static int split(char *line, char **f)
{
    int n = 0;
    for (char *p = line;; n++) {
        char *comma = strchr(p, ',');
        if (comma != NULL)
            *comma = '\0';
        if (n < 4)
            f[n] = trim(p);
        if (comma == NULL)
            return n + 1;
        p = comma + 1;
    }
}

static cd_code row_error(const cost_file *cf, long line, const char *what, cd_err *err)
{
    cd_fail(err, CD_EINVAL, "invalid cost line: %s", what);
    cd_detail(err, "file %s, line %ld", cf->path, line);
    return cd_hint(err, "Lines are model,seconds or model,shard,seconds (model and shard from "
                        "0, seconds > 0).");
}

static cd_code add_row(cost_file *cf, char *line, long lineno, cd_err *err)
{
    char *f[4];
    int n = split(line, f);
    if (n == 1 && f[0][0] == '\0')
        return CD_OK;
    if (!cf->header_done && n >= 2 && n <= 3 && !numeric(f[0]) && !numeric(f[n - 1])) {
        cf->header_done = true;
        return CD_OK; /* a header line */
    }
    cf->header_done = true;
    if (n != 2 && n != 3)
        return row_error(cf, lineno, "expected 2 or 3 comma-separated fields", err);
    if (cf->fields != 0 && n != cf->fields)
        return row_error(cf, lineno, "every line must have the same number of fields", err);
    cf->fields = n;
    cost_row r = {.shard = -1, .line = lineno};
    if (!parse_long(f[0], &r.model))
        return row_error(cf, lineno, "model is not an integer >= 0", err);
    if (n == 3 && !parse_long(f[1], &r.shard))
        return row_error(cf, lineno, "shard is not an integer >= 0", err);
    if (!parse_seconds(f[n - 1], &r.seconds))
        return row_error(cf, lineno, "seconds is not a number in (0, 1e9]", err);
    if (cf->n == cf->cap) {
        long cap = cf->cap ? 2 * cf->cap : 64;
        cost_row *rows = realloc(cf->rows, (size_t)cap * sizeof *rows);
        if (rows == NULL)
            return cd_fail(err, CD_ENOMEM, "out of memory reading %s", cf->path);
        cf->rows = rows;
        cf->cap = cap;
    }
    cf->rows[cf->n++] = r;
    return CD_OK;
}

static cd_code read_rows(cost_file *cf, cd_err *err)
{
    FILE *f = fopen(cf->path, "r");
    if (f == NULL) {
        cd_fail(err, CD_EIO, "could not open cost file \"%s\": %s", cf->path, strerror(errno));
        return cd_detail(err, "file %s", cf->path);
    }
    char *line = NULL;
    size_t size = 0;
    long lineno = 0;
    cd_code rc = CD_OK;
    while (rc == CD_OK && getline(&line, &size, f) >= 0) {
        lineno++;
        char *p = line + strspn(line, " \t");
        if (*p != '#')
            rc = add_row(cf, p, lineno, err);
    }
    if (rc == CD_OK && ferror(f))
        rc = cd_fail(err, CD_EIO, "could not read cost file \"%s\"", cf->path);
    free(line);
    fclose(f);
    if (rc == CD_OK && cf->n == 0)
        return row_error(cf, lineno, "the file has no cost lines", err);
    return rc;
}

/* Fill cost[M * W] from the rows; every model (and shard) exactly once. */
static cd_code fill(const cost_file *cf, int m, int w, double *cost, cd_err *err)
{
    for (long i = 0; i < (long)m * w; i++)
        cost[i] = -1;
    for (long i = 0; i < cf->n; i++) {
        const cost_row *r = &cf->rows[i];
        if (r->shard >= w)
            return row_error(cf, r->line, "shard is not below the number of workers", err);
        for (int s = 0; s < w; s++) {
            if (r->shard >= 0 && s != r->shard)
                continue;
            double *c = &cost[(size_t)r->model * (size_t)w + (size_t)s];
            if (*c >= 0)
                return row_error(cf, r->line, "a second cost for the same unit", err);
            *c = r->seconds;
        }
    }
    for (long i = 0; i < (long)m * w; i++)
        if (cost[i] < 0) {
            cd_fail(err, CD_EINVAL, "model %ld has no cost for shard %ld", i / w, i % w);
            return cd_detail(err, "file %s (models are numbered from 0 without gaps)", cf->path);
        }
    return CD_OK;
}

cd_code cd_sim_read_costs(const char *path, bool infer_workers, int *models, int *workers,
                          double **cost, cd_err *err)
{
    cost_file cf = {.path = path};
    *cost = NULL;
    cd_code rc = read_rows(&cf, err);
    bool infer = infer_workers && cf.fields == 3;
    long m = 0, w = infer ? 0 : *workers;
    for (long i = 0; rc == CD_OK && i < cf.n; i++) {
        m = cf.rows[i].model + 1 > m ? cf.rows[i].model + 1 : m;
        if (infer)
            w = cf.rows[i].shard + 1 > w ? cf.rows[i].shard + 1 : w;
    }
    if (rc == CD_OK && w > 4096)
        rc = cd_fail(err, CD_EINVAL, "more than 4096 shards in %s", path);
    if (rc == CD_OK && (*cost = malloc((size_t)m * (size_t)w * sizeof **cost)) == NULL)
        rc = cd_fail(err, CD_ENOMEM, "out of memory reading %s", path);
    if (rc == CD_OK)
        rc = fill(&cf, (int)m, (int)w, *cost, err);
    free(cf.rows);
    if (rc != CD_OK) {
        free(*cost);
        *cost = NULL;
        return rc;
    }
    *models = (int)m;
    *workers = (int)w;
    return CD_OK;
}
