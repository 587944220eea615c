/*
 * sim.h: a discrete-event simulator of Model Hopper Parallelism: M models, W workers, worker
 * w serving shard w only (S = W), E epochs, synthetic unit costs, driven by the same
 * cd_sched (policy.h) the job runner uses. No processes, no clocks: unit ends are events in
 * a priority queue and time jumps from one to the next.
 *
 * Also here: the makespan lower bound, the two-mode costs of the Cerebro-DS analysis (a model
 * is fast, l_s, with probability p, else slow, l_m), Proposition 1 (eq. (1): the predicted
 * sync/async makespan ratio) and a reader of cost CSV files.
 */
#ifndef CD_SIM_H
#define CD_SIM_H

#include <stdbool.h>
#include <stdint.h>

#include "cd_err.h"
#include "policy.h"

/* The largest unit cost, in seconds (sums of 10^8 units stay finite), and the most work a
 * simulation takes on: cd_sim_work, measured at about 7.5 ns a unit of work here, so at
 * most about 2.5 minutes; and the most units. */
#define CD_SIM_MAX_SECONDS 1e9
#define CD_SIM_MAX_WORK 2e10
#define CD_SIM_MAX_UNITS 1e8

/* The work of simulating M models on W workers for E epochs: each of the M x W x E units
 * takes a decision that looks at the M models and, for the workers, grows as W^2 / 100. */
static inline double cd_sim_work(double m, double w, double e)
{
    return m * w * e * (m + w * w / 100);
}

/* More units or work than a simulation takes on. */
static inline bool cd_sim_too_big(double m, double w, double e)
{
    return m * w * e > CD_SIM_MAX_UNITS || cd_sim_work(m, w, e) > CD_SIM_MAX_WORK;
}

typedef struct cd_sim_cfg {
    int models, workers, epochs; /* M, W (= S), E: all >= 1 */
    cd_policy policy;
    uint64_t seed;      /* the scheduler's seed (shard orders, random draws) */
    const double *cost; /* [models * workers]: seconds of a unit of model x on shard s at
                           cost[x * workers + s] */
    bool no_hints;      /* do not give the scheduler each model's mean cost as its hint */
    double fail_prob;   /* a unit fails (and takes its full cost) with this probability */
    bool record;        /* fill cd_sim_result.units */
} cd_sim_cfg;

typedef struct cd_sim_unit {
    cd_unit u;
    double start, end;
    bool ok;
} cd_sim_unit;

typedef struct cd_sim_result {
    double makespan;    /* end of the last unit */
    double lower_bound; /* cd_sim_lower_bound */
    double busy;        /* seconds of units, failed ones included */
    long nunits;        /* units run, failed ones included */
    cd_sim_unit *units; /* [nunits] in start order when cfg.record, else NULL */
} cd_sim_result;

/* Run the workload to the end. CD_EINVAL (bad configuration, or the schedule stalled: a bug),
 * CD_ENOMEM. Free the result with cd_sim_result_free. */
cd_code cd_sim_run(const cd_sim_cfg *cfg, cd_sim_result *out, cd_err *err);
void cd_sim_result_free(cd_sim_result *r);

/* max(total work / W, the longest model's total work, the busiest shard's total work): no
 * schedule is shorter. The last term, valid because worker w alone serves shard w, only
 * matters with per-shard costs (with a cost per model, every shard has total work / W).
 * cd_makespan_bound with alone[s] = s, times E. */
double cd_sim_lower_bound(const cd_sim_cfg *cfg);

/* The same bound for units whose costs are known (simulated, or measured by a job:
 * `cerebro-sched status`): max(total work / workers, the longest model's work, and for each
 * worker the work of the shards it alone serves). cost[models * shards]: seconds of model
 * x's units on shard s, all epochs together; alone[shards]: the one worker that serves shard
 * s, or -1 when several do (alone NULL: every shard has several). */
double cd_makespan_bound(const double *cost, int models, int shards, int workers, const int *alone);

/* cost[models * workers]: each model's units all cost l_s with probability p, else l_m
 * (drawn from seed). */
void cd_sim_two_mode(double *cost, int models, int workers, double l_s, double l_m, double p,
                     uint64_t seed);

/* Eq. (1): p^W l_s / l + (1 - p^W) l_m / l, l = p l_s + (1 - p) l_m. */
double cd_sim_prop1(double p, int workers, double l_s, double l_m);

/* Read a cost file: lines `model,seconds` (every unit of the model) or `model,shard,seconds`
 * (every shard of every model given), models 0..M-1, an optional header line, blank lines
 * and # comments. *workers (>= 1) on entry is W; with per-shard lines and infer_workers, W
 * is the file's highest shard + 1 instead. Sets *models, *workers and *cost (malloc'd
 * [M * W]). Errors (CD_EIO, CD_EINVAL, CD_ENOMEM) name the file and line. */
cd_code cd_sim_read_costs(const char *path, bool infer_workers, int *models, int *workers,
                          double **cost, cd_err *err);

#endif
