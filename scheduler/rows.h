/*
 * rows.h: which row of the Latin square of shard orders each model takes (policy.h), from
 * cost estimates known before the first unit. Model i in row r visits in epoch e the
 * shards perm_e[(r + k) mod S], k = 0..S-1: models of distinct rows are on distinct shards
 * at the same step, and models of one row follow one another. When every model advances one
 * step per period, a row's models share one worker per period, so the period is the
 * largest row load (the sum of its models' unit costs) and the makespan E x S x that load:
 * packing the rows well is what brings a schedule to the lower bound max(total work / W,
 * longest model) (bench/sched.sh, bench/RESULTS.md).
 *
 * The packing is a function of the costs and their order only (no clock, no measurement),
 * so the same workload gives the same orders, hence the same checkpoint bytes.
 * No I/O; not thread-safe.
 */
#ifndef CD_ROWS_H
#define CD_ROWS_H

#include "cd_err.h"

/* Place n models of unit costs cost[n] (any unit common to all; <= 0 or not finite:
 * unknown, counted as the mean of the known costs, 1 if none is known) into nrows rows
 * already holding load[nrows] (sum of costs) and count[nrows] (models); row[n] gets each
 * model's row, load and count are updated.
 *
 * The better of two packings, by their largest row load: LPT (the costliest model first,
 * each to the least loaded row, then the one with the fewest models, then the lowest) and
 * MULTIFIT (first-fit decreasing into the smallest capacity found by bisection); LPT on a
 * tie, so equal costs give model i (of a first batch) row i mod nrows. Ties between equal
 * costs: the lower index first. CD_ENOMEM (rows unchanged), CD_EINVAL (nrows < 1). */
cd_code cd_rows_pack(const double *cost, int n, int nrows, double *load, int *count, int *row,
                     cd_err *err);

#endif
