/*
 * estimate.h: what a unit of a model costs, estimated from its model file before anything
 * runs: the operations of one training pass over a shard. The scheduler packs
 * the rows of its shard orders with it (rows.h, policy.h) and converts it to seconds with the
 * measured times once units have run. Never a measured time itself, so the same workload
 * gives the same estimates, hence the same shard orders and checkpoint bytes, on every run
 * and resume.
 *
 * Counted in FLOP-equivalents: the FLOPs of the matrix products (dense 2 x inputs x units,
 * conv2d 2 x in channels x K^2 per output value, the convolutions of a residual block), plus
 * ELEM_ACCESS (16) per value read or written by a memory-bound pass: every layer's input and
 * output values, the im2col values of the convolutions, the optimizer's update of every
 * parameter once per batch (sgd 3 values, momentum 5, adam and adamw 7). Training a row is
 * 3 x the forward products (output, input gradient, weight gradient), each layer's values 3
 * times and the im2col values 6 times (estimate.c). On one CPU core, MLPs and CNNs of 10^6
 * to 10^8 of these a row train in 0.8-1.2x the time their estimates predict relative to
 * one another (bench/RESULTS.md, issue 13); what does not scale with the model (process
 * start-up, checkpoint I/O, BLAS efficiency by matrix shape) is left out, so a tiny model
 * (784-32-10) takes ~3x its share. No I/O but the estimates file.
 */
#ifndef CD_ESTIMATE_H
#define CD_ESTIMATE_H

#include <stdint.h>

#include "cd_err.h"
#include "model.h"

/* FLOP-equivalents of training on one row (forward and backward). */
double cd_estimate_row_flops(const cd_model_spec *m);

/* FLOP-equivalents of one unit over `rows` rows: rows x cd_estimate_row_flops + the
 * optimizer's update of every parameter once per batch, ceil(rows / batch_size) times. */
double cd_estimate_unit_flops(const cd_model_spec *m, uint64_t rows);

/* FLOP-equivalents of training on one row with the optimizer's step shared by the rows
 * of its batch: what the scheduler packs its rows with (the same whatever the shards hold
 * and wherever they are). */
double cd_estimate_row_cost(const cd_model_spec *m);

/* The estimates file of a job (job.h): a comment line, then `tNNN OPERATIONS` per trial in
 * order, each value printed so that it reads back exactly. Written atomically. */
cd_code cd_estimate_write(const char *path, const double *est, int n, cd_err *err);
/* Read it: *est (malloc'd [*n]) and *n. A missing file: CD_ENOTFOUND (a job of an earlier
 * version: no estimates, every hint 0); a malformed one: CD_ECORRUPT naming file and line. */
cd_code cd_estimate_read(const char *path, double **est, int *n, cd_err *err);

#endif
