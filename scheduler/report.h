/*
 * report.h: the outputs of a job (DESIGN.md section 5), rewritten from the job's state and
 * journal whenever a run ends (finished, stopped or failed):
 *   results.csv      trial, its hyperparameters, epoch, train loss/accuracy, validation
 *                    loss/accuracy, seconds (one row per trained epoch)
 *   schedule.csv     unit, model, epoch, shard, worker, start, end (seconds from the job's
 *                    first unit), attempt, outcome (ok | failed: reason), numerics_check
 *                    (same | differs | none: the unit's numeric fingerprint against its
 *                    input checkpoint's), numerics (the unit's fingerprint), bytes_in and
 *                    bytes_out (the unit's request and answer under model_store = copy,
 *                    store.h: the model file, the checkpoints, the result line and the
 *                    framing; 0 under shared)
 *   leaderboard.txt  trials by best validation score
 *   best.ckpt, best.ini  the best trial's best checkpoint and model file (finished jobs)
 *   curves.png, schedule.png  learning curves and the Gantt chart, when gnuplot is installed
 *                    (plot.h; what gnuplot reads is in logs/: curves.dat, gantt.dat, plots.gp)
 * Files are written to a temporary name and renamed.
 *
 * The plots are drawn last, and their failure is not the job's: anything gnuplot prints to
 * logs/gnuplot.log (a warning such as "Skipping data file with no valid points" is a wrong
 * plot) or a non-zero exit removes both PNGs and prints "cerebro-sched: warning: gnuplot
 * could not draw the plots" with gnuplot's first line and the log's path on stderr; the CSV
 * files, leaderboard and best checkpoint are already written, cd_report_write returns CD_OK
 * and the exit status of run / resume is unchanged (gnuplot is optional, a plot is not
 * worth failing hours of training for). tests/93-report.bats holds the plots to this.
 */
#ifndef CD_REPORT_H
#define CD_REPORT_H

#include <stdbool.h>

#include "cd_err.h"
#include "job.h"

cd_code cd_report_write(cd_job *j, bool finished, cd_err *err);

/* A job's schedule against the makespan lower bound of its measured unit times (what
 * `cerebro-sched status` prints): makespan = the last end - the first start of its units
 * (failed ones included; a resumed job's time stopped included); bound = cd_makespan_bound
 * (sim.h) over the seconds of its ok units per trial and shard, the job's workers, and the
 * shards each worker alone serves. Zeros when no unit ran. CD_ENOMEM, or the journal's
 * errors. */
typedef struct cd_report_span {
    double makespan, bound;
    long units; /* ok units */
} cd_report_span;
cd_code cd_report_span_of(const cd_job *j, cd_report_span *span, cd_err *err);

#endif
