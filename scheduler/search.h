/*
 * search.h: model-selection procedures over a workload's search space: grid, random (n
 * seeded samples) and hyperband (successive halving brackets with R and eta). The search
 * decides which configurations train for how many epochs; it never runs anything.
 *
 * Trials are numbered 0.. in the order they are created; a trial is a configuration and a
 * target number of epochs. Every trial exists from cd_search_new on (no trial is added
 * later, so cd_search_ntrials never changes and cd_search_trial pointers stay valid).
 *
 *   grid       the cartesian product of the keys' lists in key order, the last key varying
 *              fastest; every trial has target `epochs` (final).
 *   random     n configurations drawn from a generator seeded with the seed (splitmix64):
 *              lists and choice(...) uniformly, uniform(lo, hi) and loguniform(lo, hi)
 *              printed with %.6g (so a value may round to a bound); target `epochs` (final).
 *   hyperband  Li et al.: s_max = floor(log_eta(R)); brackets b = 0..s_max with
 *              s = s_max - b, each of n = ceil((s_max + 1) / (s + 1) * eta^s) configurations
 *              drawn like random search (grid lists are sampled as choices), in bracket
 *              order. Rung i = 0..s of a bracket trains n_i = floor(n / eta^i) trials to
 *              r_i = floor(R * eta^(i - s)) epochs (at least 1; r_s = R). All brackets start
 *              at once: every trial is created in rung 0 with target r_0. When every trial
 *              of a rung has reported a score at r_i, the best floor(n_i / eta) (ties: the
 *              lower trial id first; a NaN score ranks last) move to rung i + 1 with target
 *              r_{i+1} and the others are stopped. Rung s is final.
 *
 * For R = 9, eta = 3 (s_max = 2), 17 trials:
 *   bracket 0 (s = 2): trials 0-8    rung 0: 9 trials to 1 epoch, rung 1: 3 to 3, rung 2: 1 to 9
 *   bracket 1 (s = 1): trials 9-13   rung 0: 5 trials to 3 epochs, rung 1: 1 to 9
 *   bracket 2 (s = 0): trials 14-16  rung 0: 3 trials to 9 epochs
 *
 * Scores: higher is better (validation accuracy; minus the loss for mse models).
 * Everything is a deterministic function of the seed and the scores (not of the order in
 * which trials of one rung report). Not thread-safe.
 */
#ifndef CD_SEARCH_H
#define CD_SEARCH_H

#include <stdbool.h>

#include "cd_err.h"
#include "workload.h"

typedef struct cd_search cd_search;

typedef struct cd_trial {
    cd_config_values config; /* owned by the search */
    int target;              /* epochs to train before the next decision */
    bool stopped;            /* no more epochs */
    bool final;              /* target is the last one: no decision will follow */
    int bracket, rung;       /* hyperband (0 otherwise) */
} cd_trial;

/* The trials of w's procedure. CD_EINVAL when there would be more than a million. */
cd_code cd_search_new(cd_search **out, const cd_workload *w, cd_err *err);
void cd_search_free(cd_search **s);

int cd_search_ntrials(const cd_search *s);
const cd_trial *cd_search_trial(const cd_search *s, int id);

/* Trial id finished epoch `epoch` (counted from 1) with validation score `score`. The first
 * report at or past the trial's target is its score for the rung; other reports only count
 * epochs. Trials whose target or stopped flag changed can be found by comparing each
 * trial's target and stopped before and after; returns true when anything changed. */
bool cd_search_report(cd_search *s, int id, int epoch, double score);
/* The trial waits for a decision: it reached its target, the target is not final, and it is
 * not stopped (hold it until its target or stopped flag changes). */
bool cd_search_waiting(const cd_search *s, int id, int epochs_done);
/* Every trial is stopped or has reported its final target (nothing more will be decided). */
bool cd_search_done(const cd_search *s);

#endif
