/*
 * policy.h: the decisions of Model Hopper Parallelism (DESIGN.md section 5), shared by
 * `cerebro-sched run` (real trainer processes) and `cerebro-sched simulate` (synthetic unit
 * costs). No processes, files or clocks here: the caller reports events with its own times
 * (seconds, monotonic or simulated).
 *
 * A unit is one model training one epoch's pass over one shard on one worker. Models train
 * their epochs in order (epochs count from 1); in each epoch a live model visits every shard
 * exactly once; a model is on at most one worker at a time; a worker runs at most one unit
 * at a time.
 *
 * Shard order, which makes results reproducible: under async and sync, model i visits in
 * epoch e the shards perm_e[(r_i + k) mod S], k = 0..S-1, where perm_e is a permutation of
 * the S shards drawn from (seed, e) (a Fisher-Yates shuffle driven by splitmix64) and r_i is
 * the model's row of this Latin square (models of distinct rows are on distinct shards at
 * the same step; the models of one row follow one another). The rows are packed from the
 * models' cost hints (rows.h: LPT or MULTIFIT, whichever leaves the smallest largest row
 * load) when the first unit is asked for or replayed, for every model added until then
 * (later ones: when the next is asked for); equal or unknown hints give r_i = i mod S. Which
 * unit a free worker runs, and when, depends on timing; the sequence of shards each model
 * sees depends only on the seed and the hints, which the caller knows before the first unit
 * (`run`: estimate.h, from the model files, kept in the job directory), so final checkpoints
 * are the same under async and sync, after retries, worker exclusions and resume. Under
 * random (Cerebro's randomized scheduler) orders depend on timing.
 *
 * Policies:
 *   async   a free worker w takes, among the ready models (live, not held, not running)
 *           whose next shard it serves, the one that ranks first:
 *             - rank: the most units left (so the models of a row move in step, as the
 *               packing assumes: every row then advances one step per period, the period
 *               being the largest row load), then the most remaining work; ties: the
 *               lowest id.
 *             - remaining work: units not started x the model's estimated unit time.
 *             - slack: the projected end of the job - the model's arrival (now, or for a
 *               running model its unit's start + estimate) - its remaining work; the
 *               projected end: the larger of the work left (running units' estimated rests
 *               included) spread over the live workers and every model's arrival + remaining
 *               work; the margin: 2% of the projected time left.
 *           w passes over a candidate, and may stay idle, when starting it would delay a
 *           running model that outranks it, whose next shard w serves and which arrives
 *           before the candidate would end, by more than that model's slack - the margin.
 *           A unit past twice its estimate arrives "now". Estimates: the mean measured time
 *           of the model's units, else its cost hint x the seconds per hint unit measured so
 *           far (hints may be seconds or any unit common to all models, such as FLOPs; 1
 *           second per unit until a hinted model's unit has ended), else the mean of all
 *           measured units, else 1.
 *           Measured with `cerebro-sched simulate` (bench/sched.sh, bench/RESULTS.md, W = 8,
 *           E = 10, seeds 1..10): the makespan equals the lower bound max(total work / W,
 *           longest model) on every seed of every suite of M = W..25W with 10-50% slow
 *           models (l_m / l_s = 4, 20), of homogeneous costs, and of l_m / l_s = 8, 20 with
 *           p = 0.85; with costs drawn uniformly from [1, 10] s it is within 1.7% (M =
 *           1.5W..6W). Without hints the rows are i mod S: two slow models may share a row
 *           and queue behind each other (up to 27% above the bound).
 *   random  Cerebro's train_for_one_epoch: one epoch at a time (epoch e + 1 of any model
 *           starts when every live model has completed epoch e); a free worker takes a
 *           uniformly random ready model of that epoch that has not visited one of the shards
 *           it serves in the epoch, and a uniformly random such shard. The draws are a
 *           function of (seed, units completed, draws since), so replay reproduces them.
 *   sync    MADlib-style: rounds of at most one unit per shard and per worker; at a round's
 *           start the ready models are taken by (epochs completed, id), each getting its next
 *           shard if no earlier model took it and a live free worker serves it (the lowest
 *           such worker); the next round starts when every unit of the round has ended.
 *           Models held or stopped after the round was planned lose their unit.
 *
 * Workers are 0..W-1; each reaches a set of shards (cd_sched_reach). A worker taken out gets
 * no more units; its shards are served by the live workers that reach them.
 * Not thread-safe.
 */
#ifndef CD_POLICY_H
#define CD_POLICY_H

#include <stdbool.h>
#include <stdint.h>

#include "cd_err.h"

typedef enum cd_policy { CD_POLICY_ASYNC, CD_POLICY_RANDOM, CD_POLICY_SYNC } cd_policy;

/* "async" "random" "sync" -> policy; CD_EINVAL naming the accepted values otherwise. */
cd_code cd_policy_parse(const char *name, cd_policy *out, cd_err *err);
const char *cd_policy_name(cd_policy p);

typedef struct cd_unit {
    int model;  /* 0.. in order of cd_sched_add_model */
    int epoch;  /* 1.. */
    int shard;  /* 0..S-1 */
    int worker; /* 0..W-1 */
} cd_unit;

typedef struct cd_sched cd_sched;

/* nshards >= 1, nworkers >= 1. CD_EINVAL / CD_ENOMEM. */
cd_code cd_sched_new(cd_sched **out, cd_policy policy, int nshards, int nworkers, uint64_t seed,
                     cd_err *err);
void cd_sched_free(cd_sched **s);

/* Worker w can serve shard (call for every pair before the first cd_sched_next). */
void cd_sched_reach(cd_sched *s, int worker, int shard);

/* A model that will train `epochs` epochs (changeable with cd_sched_set_epochs). cost_hint:
 * the expected cost of one of its units, in seconds or in any unit common to every model
 * (0: unknown), known before the first unit: it decides the model's row, hence its shard
 * order, and never a measured time does. Returns its id (the number of models added
 * before), or -1 when out of memory. */
int cd_sched_add_model(cd_sched *s, int epochs, double cost_hint);
/* Model m now trains `epochs` epochs in all; fewer than it has started: stop after the
 * current epoch (an epoch in progress is always completed); 0 after cd_sched_add_model, or
 * cd_sched_set_epochs(m, cd_sched_epochs_done(m)): the model is done. */
void cd_sched_set_epochs(cd_sched *s, int m, int epochs);
/* Model m gets no more units from now on, even in the middle of an epoch (it diverged); a
 * unit it is running must still be ended. */
void cd_sched_stop(cd_sched *s, int m);
/* A held model gets no new units (waiting for a decision at an epoch boundary). */
void cd_sched_hold(cd_sched *s, int m, bool held);
/* Model m gets no more units (its units keep failing), but it is still to train what it has
 * left: the scheduler is not finished without it. A shard only it needs is not unreachable,
 * and under random it holds no other model back at the epoch barrier. */
void cd_sched_model_out(cd_sched *s, int m);

/* The unit worker w should start at time now: true and *u set, or false (nothing for w now;
 * ask again after the next event). */
bool cd_sched_next(cd_sched *s, int w, double now, cd_unit *u);
/* Unit u (from cd_sched_next) ended at `end` after starting at `start`. ok: trained (the
 * model advances; the time is recorded); !ok: failed (the model is idle again with the same
 * next shard, to be retried: not on the same worker while another free worker could take
 * it, that worker could take another model, or a running model may come to it next, so that
 * a model failing everywhere fails on several workers, each of which trains other models in
 * between, and a failing worker fails other models). */
void cd_sched_end(cd_sched *s, const cd_unit *u, double start, double end, bool ok);
/* Resume: unit u, completed by an earlier run in `seconds`, as if it had just ended ok.
 * Units must be replayed in the order they completed; no unit may be running (a replay of a
 * model that runs a unit is ignored). */
void cd_sched_replay(cd_sched *s, const cd_unit *u, double seconds);
/* Take worker w out (it gets no more units; a unit it runs must still be ended). */
void cd_sched_worker_out(cd_sched *s, int w);
/* A shard some live model still has to visit that no live worker reaches, or -1. */
int cd_sched_unreachable(const cd_sched *s);
/* The same question for one shard. */
bool cd_sched_shard_unreachable(const cd_sched *s, int shard);
/* The one worker that reaches shard (taken out or not), or -1 when none or several do. */
int cd_sched_sole_worker(const cd_sched *s, int shard);

int cd_sched_nmodels(const cd_sched *s);
/* Epochs model m has completed (all S units of each). */
int cd_sched_epochs_done(const cd_sched *s, int m);
/* Every model has completed the epochs it is to train, and nothing is running. */
bool cd_sched_finished(const cd_sched *s);
/* Units still to run (not started) over all models, and their estimated seconds. */
long cd_sched_units_left(const cd_sched *s);
double cd_sched_work_left(const cd_sched *s);

#endif
