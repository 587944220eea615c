/*
 * report.h: the outputs of a job (DESIGN.md section 5), rewritten from the job's state and
 * journal whenever a run ends (finished, stopped or failed):
 *   results.csv      trial, its hyperparameters, epoch, train loss/accuracy, validation
 *                    loss/accuracy, seconds (one row per trained epoch)
 *   schedule.csv     unit, model, epoch, shard, worker, start, end (seconds from the job's
 *                    first unit), attempt, outcome (ok | failed: reason), numerics_check
 *                    (same | differs | none: the unit's numeric fingerprint against its
 *                    input checkpoint's), numerics (the unit's fingerprint)
 *   leaderboard.txt  trials by best validation score
 *   best.ckpt, best.ini  the best trial's best checkpoint and model file (finished jobs)
 *   curves.png, schedule.png  learning curves and the Gantt chart, when gnuplot is installed
 * Files are written to a temporary name and renamed.
 */
#ifndef CD_REPORT_H
#define CD_REPORT_H

#include <stdbool.h>

#include "cd_err.h"
#include "job.h"

cd_code cd_report_write(cd_job *j, bool finished, cd_err *err);

#endif
