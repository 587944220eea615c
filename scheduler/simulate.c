/*
 * simulate.c: `cerebro-sched simulate`: schedules synthetic units with the simulator
 * (sim.h) under one policy or all three and prints, per policy, the makespan against the
 * lower bound; with every policy and two-mode costs also the sync/async ratio next to the
 * one Proposition 1 (eq. (1)) predicts. Optionally writes the schedules as CSV.
 *
 * It does not train, launch processes or read a workload file; costs are two-mode draws
 * (--fast, --slow, --p) or a CSV file (--costs).
 */
#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cd_err.h"
#include "commands.h"
#include "sim.h"

#define PROG CD_SCHED_PROG " simulate"

static const char usage_text[] =
    "Usage: " PROG " [OPTIONS]\n"
    "\n"
    "Schedule synthetic units, no training: M models train E epochs on W workers, worker w\n"
    "holding shard w; a unit (one model, one epoch, one shard) takes the model's cost.\n"
    "Prints one line per policy:\n"
    "  policy=P makespan=SECONDS lower_bound=SECONDS ratio=MAKESPAN/LOWER_BOUND\n"
    "where lower_bound = max(total work / W, the longest model's total work, the busiest\n"
    "shard's total work); with\n"
    "--policy all and two-mode costs also\n"
    "  proposition1 predicted=Tu/Tc simulated=SYNC/ASYNC\n"
    "(Tu/Tc by eq. (1) of the Cerebro-DS analysis, which assumes M >> W).\n"
    "Refused: unit costs past 1e9 seconds, more than 1e8 units (M x W x E), or work\n"
    "M x W x E x (M + W^2 / 100) past 2e10 (about 2.5 minutes).\n"
    "\n"
    "Options:\n"
    "  --models M          models (default 8; with --costs, the models of the file)\n"
    "  --workers W         workers and shards (default 8; with --costs per shard, the\n"
    "                      shards of the file)\n"
    "  --epochs E          epochs of every model (default 10)\n"
    "  --policy P          async, random, sync or all (default async)\n"
    "  --fast L_S          seconds of a fast model's unit (default 1)\n"
    "  --slow L_M          seconds of a slow model's unit (default 1)\n"
    "  --p P               probability that a model is fast, 0..1 (default 1)\n"
    "  --costs FILE.csv    unit costs: lines model,seconds or model,shard,seconds\n"
    "                      (models and shards from 0; a header line is allowed)\n"
    "  --seed S            seed of the costs, shard orders and random draws (default 1)\n"
    "  --schedule OUT.csv  write every unit: policy,model,epoch,shard,worker,start,end\n"
    "  --no-hints          do not tell the scheduler the models' costs in advance\n"
    "  -h, --help          this help\n"
    "\n"
    "Exit status: 0 success, 1 error, 2 usage.\n";

typedef struct opts {
    long models, workers, epochs;
    bool have_models, have_workers, all, no_hints;
    cd_policy policy;
    double fast, slow, p;
    const char *costs, *schedule;
    unsigned long long seed;
} opts;

static int usage(const char *fmt, const char *arg)
{
    return cd_usage_error(PROG, fmt, arg);
}

static int integer(const char *s, const char *opt, long max, long *out)
{
    char *end, msg[160];
    errno = 0;
    *out = strtol(s, &end, 10);
    if (*s != '\0' && *end == '\0' && errno == 0 && *out >= 1 && *out <= max)
        return 0;
    snprintf(msg, sizeof msg, "invalid value \"%s\" for %s: expected an integer from 1 to %ld", s,
             opt, max);
    return usage("%s", msg);
}

static int real(const char *s, const char *opt, double lo, double hi, bool lo_open, double *out)
{
    char *end, msg[160];
    *out = strtod(s, &end);
    if (*s != '\0' && *end == '\0' && isfinite(*out) && *out <= hi &&
        (lo_open ? *out > lo : *out >= lo))
        return 0;
    if (hi < INFINITY)
        snprintf(msg, sizeof msg, "invalid value \"%s\" for %s: expected a number in %c%g, %g]", s,
                 opt, lo_open ? '(' : '[', lo, hi);
    else
        snprintf(msg, sizeof msg, "invalid value \"%s\" for %s: expected a number > %g", s, opt,
                 lo);
    return usage("%s", msg);
}

static int seed(const char *s, unsigned long long *out)
{
    char *end;
    errno = 0;
    *out = strtoull(s, &end, 10);
    if (*s == '\0' || *end != '\0' || errno != 0 || *s == '-')
        return usage("invalid value \"%s\" for --seed: expected an integer >= 0", s);
    return 0;
}

static int policy_opt(const char *s, opts *o)
{
    cd_err err = {0};
    o->all = strcmp(s, "all") == 0;
    if (o->all || cd_policy_parse(s, &o->policy, &err) == CD_OK)
        return 0;
    return usage("unknown policy \"%s\" (expected async, random, sync or all)", s);
}

/* One option (getopt_long's value ch, argument arg); 0, 2 (usage) or -1 (--help done). */
static int option(int ch, const char *arg, opts *o)
{
    switch (ch) {
    case 'm':
        o->have_models = true;
        return integer(arg, "--models", 1000000, &o->models);
    case 'w':
        o->have_workers = true;
        return integer(arg, "--workers", 4096, &o->workers);
    case 'e':
        return integer(arg, "--epochs", 1000000, &o->epochs);
    case 'P':
        return policy_opt(arg, o);
    case 'f':
        return real(arg, "--fast", 0, CD_SIM_MAX_SECONDS, true, &o->fast);
    case 'l':
        return real(arg, "--slow", 0, CD_SIM_MAX_SECONDS, true, &o->slow);
    case 'p':
        return real(arg, "--p", 0, 1, false, &o->p);
    case 'c':
        o->costs = arg;
        return 0;
    case 'o':
        o->schedule = arg;
        return 0;
    case 's':
        return seed(arg, &o->seed);
    case 'n':
        o->no_hints = true;
        return 0;
    case 'h':
        fputs(usage_text, stdout);
        return -1;
    }
    return 2;
}

static int parse(int argc, char **argv, opts *o)
{
    static const struct option longs[] = {{"models", required_argument, NULL, 'm'},
                                          {"workers", required_argument, NULL, 'w'},
                                          {"epochs", required_argument, NULL, 'e'},
                                          {"policy", required_argument, NULL, 'P'},
                                          {"fast", required_argument, NULL, 'f'},
                                          {"slow", required_argument, NULL, 'l'},
                                          {"p", required_argument, NULL, 'p'},
                                          {"costs", required_argument, NULL, 'c'},
                                          {"seed", required_argument, NULL, 's'},
                                          {"schedule", required_argument, NULL, 'o'},
                                          {"no-hints", no_argument, NULL, 'n'},
                                          {"help", no_argument, NULL, 'h'},
                                          {NULL, 0, NULL, 0}};
    int ch, rc = 0;
    optind = 1;
    opterr = 0;
    while (rc == 0 && (ch = getopt_long(argc, argv, ":h", longs, NULL)) != -1) {
        if (ch == ':')
            return usage("option %s needs a value", argv[optind - 1]);
        if (ch == '?')
            return usage("unknown option \"%s\"", argv[optind - 1]);
        rc = option(ch, optarg, o);
    }
    if (rc == 0 && optind < argc)
        return usage("unexpected argument \"%s\"", argv[optind]);
    return rc;
}

/* 0, or 2 (usage) when the simulation would take too long or too much memory. */
static int check_size(const opts *o)
{
    double m = (double)o->models, w = (double)o->workers, e = (double)o->epochs;
    if (!cd_sim_too_big(m, w, e))
        return 0;
    double units = m * w * e, work = cd_sim_work(m, w, e);
    char msg[300];
    snprintf(msg, sizeof msg,
             "%ld models x %ld workers x %ld epochs are too many to simulate (%.3g units, at "
             "most %.0e; work %.3g, at most %.0e: models x workers x epochs x (models + "
             "workers^2 / 100)): use fewer",
             o->models, o->workers, o->epochs, units, CD_SIM_MAX_UNITS, work, CD_SIM_MAX_WORK);
    return usage("%s", msg);
}

/* The costs: from the file, else two-mode draws. 0, 1 (error) or 2 (usage). */
static int load_costs(opts *o, double **cost)
{
    if (o->costs == NULL && check_size(o) != 0)
        return 2;
    if (o->costs == NULL) {
        *cost = malloc((size_t)o->models * (size_t)o->workers * sizeof **cost);
        if (*cost == NULL) {
            fprintf(stderr, CD_SCHED_PROG ": error: out of memory for %ld models\n", o->models);
            return 1;
        }
        cd_sim_two_mode(*cost, (int)o->models, (int)o->workers, o->fast, o->slow, o->p, o->seed);
        return 0;
    }
    cd_err err = {0};
    int m, w = (int)o->workers;
    if (cd_sim_read_costs(o->costs, !o->have_workers, &m, &w, cost, &err) != CD_OK) {
        cd_err_print(stderr, CD_SCHED_PROG, &err);
        return 1;
    }
    if (o->have_models && m != o->models) {
        char msg[200];
        snprintf(msg, sizeof msg, "--models %ld does not match the %d models of %s", o->models, m,
                 o->costs);
        free(*cost);
        *cost = NULL;
        return usage("%s", msg);
    }
    o->models = m;
    o->workers = w;
    if (check_size(o) == 0)
        return 0;
    free(*cost);
    *cost = NULL;
    return 2;
}

static void write_schedule(FILE *f, cd_policy p, const cd_sim_result *r)
{
    for (long i = 0; i < r->nunits; i++) {
        const cd_sim_unit *x = &r->units[i];
        fprintf(f, "%s,%d,%d,%d,%d,%.9g,%.9g\n", cd_policy_name(p), x->u.model, x->u.epoch,
                x->u.shard, x->u.worker, x->start, x->end);
    }
}

/* Simulate policy p; *makespan set. 0 or 1. */
static int run_policy(const opts *o, const double *cost, cd_policy p, FILE *sched, double *makespan)
{
    cd_sim_cfg cfg = {.models = (int)o->models,
                      .workers = (int)o->workers,
                      .epochs = (int)o->epochs,
                      .policy = p,
                      .seed = o->seed,
                      .cost = cost,
                      .no_hints = o->no_hints,
                      .record = sched != NULL};
    cd_sim_result r;
    cd_err err = {0};
    if (cd_sim_run(&cfg, &r, &err) != CD_OK) {
        cd_err_print(stderr, CD_SCHED_PROG, &err);
        return 1;
    }
    printf("policy=%s makespan=%.10g lower_bound=%.10g ratio=%.4f\n", cd_policy_name(p), r.makespan,
           r.lower_bound, r.lower_bound > 0 ? r.makespan / r.lower_bound : 1.0);
    if (sched != NULL)
        write_schedule(sched, p, &r);
    *makespan = r.makespan;
    cd_sim_result_free(&r);
    return 0;
}

static int run_all(const opts *o, const double *cost, FILE *sched)
{
    double ms[3] = {0, 0, 0};
    int first = o->all ? 0 : (int)o->policy, last = o->all ? 2 : (int)o->policy;
    for (int p = first; p <= last; p++)
        if (run_policy(o, cost, (cd_policy)p, sched, &ms[p]) != 0)
            return 1;
    if (o->all && o->costs == NULL)
        printf("proposition1 predicted=%.4f simulated=%.4f\n",
               cd_sim_prop1(o->p, (int)o->workers, o->fast, o->slow),
               ms[CD_POLICY_ASYNC] > 0 ? ms[CD_POLICY_SYNC] / ms[CD_POLICY_ASYNC] : 1.0);
    return 0;
}

static FILE *open_schedule(const char *path)
{
    FILE *f = fopen(path, "w");
    if (f == NULL)
        fprintf(stderr, CD_SCHED_PROG ": error: could not create \"%s\": %s\n", path,
                strerror(errno));
    else
        fputs("policy,model,epoch,shard,worker,start,end\n", f);
    return f;
}

int cd_cmd_simulate(int argc, char **argv)
{
    opts o = {.models = 8, .workers = 8, .epochs = 10, .fast = 1, .slow = 1, .p = 1, .seed = 1};
    int rc = parse(argc, argv, &o);
    if (rc != 0)
        return rc < 0 ? 0 : rc;
    double *cost = NULL;
    if ((rc = load_costs(&o, &cost)) != 0)
        return rc;
    FILE *sched = NULL;
    if (o.schedule != NULL && (sched = open_schedule(o.schedule)) == NULL)
        rc = 1;
    if (rc == 0)
        rc = run_all(&o, cost, sched);
    if (sched != NULL && fclose(sched) != 0 && rc == 0) {
        fprintf(stderr, CD_SCHED_PROG ": error: could not write \"%s\": %s\n", o.schedule,
                strerror(errno));
        rc = 1;
    }
    free(cost);
    return rc;
}
