/*
 * plot.h: the two plots of a job's report (report.h), drawn by gnuplot when it is on PATH.
 *
 *   curves.png    learning curves: one line per trial (its colour, its hyperparameters in
 *                 the key), x the epoch, y the validation accuracy; the validation loss for
 *                 MSE models (log scale when it spans more than two decades; on the right
 *                 axis when the search mixes them with classifiers); training accuracy/loss
 *                 when the workload has no validation set. Trials without a point (diverged
 *                 in their first epoch, not started) are left out.
 *   schedule.png  Gantt chart of the units: one row per worker, labelled HOST:SHARD (and
 *                 :DEVICE when not cpu), x from 0 to the makespan in seconds from the first
 *                 unit, one bar per unit in its model's colour (the same as in curves.png,
 *                 one key entry per model) with its epoch ("e2") printed in it when the bar
 *                 is wide enough; failed attempts hatched grey.
 *
 * What gnuplot reads is written first, in DIR/logs: curves.dat, gantt.dat and plots.gp,
 * the script, with paths relative to DIR (`cd DIR && gnuplot logs/plots.gp` redraws).
 * gnuplot runs in DIR with its stdout and stderr in logs/gnuplot.log and writes the PNGs
 * under temporary names; they are renamed into place only when gnuplot exits 0 with an
 * empty log. Any output (a warning such as "Skipping data file with no valid points", an
 * error) means a plot is wrong: both PNGs and the temporary files are removed.
 * Does not: read schedule.csv or results.csv (their columns are not its contract).
 */
#ifndef CD_PLOT_H
#define CD_PLOT_H

#include "cd_err.h"
#include "job.h"
#include "journal.h"

/* Draw j's plots from its state and its journal records recs[n]. CD_OK when drawn, or when
 * gnuplot is not installed (nothing drawn, the data files and script still written).
 * CD_EIO when a data file cannot be written or gnuplot fails or prints anything: err says
 * so, its detail is gnuplot's first line and its hint names logs/gnuplot.log. */
cd_code cd_plot_write(const cd_job *j, const cd_jrec *recs, int n, cd_err *err);

#endif
