/*
 * data.h: mini-batches of one training unit, read from shard directories (a cerebro-ds mount
 * or any copy of the mount layout: <feature>.npy, <label>.npy), or from pg: specs, shards
 * read through libpq into memory with the same values and row order (data_pg.h).
 *
 * Does: opens the feature and label columns of every shard (mmap, so memory stays bounded
 * by the page cache, never the whole shard in RAM), checks them (present, no NULLs, the
 * feature shape, labels in range, no NaN or Inf: each a clear error naming the shard, the
 * column and the row), converts features of dtype u1/i2/i4/i8/f4/f8 to float32 times scale,
 * labels to int32 (classes > 0; a label column of shape (N, classes) is one-hot, as MADlib's
 * preprocessor writes it: each row one 1, the rest 0) or float32 (classes == 0; (N,) or
 * (N, 1)), and yields batches in order: shard after shard, rows shuffled within a shard by
 * (seed, epoch, shard name) unless shuffle is off. A batch never spans two shards: a shard's last
 * partial batch is a batch of its own, so several shards in one run equal one run per shard (what
 * MOP needs). Image rows are augmented (random crop, horizontal flip: augment.h) when cfg.augment
 * says so, by draws of (seed, epoch, shard name, row index within the shard) only. A prefetch
 * thread prepares the next batch while the caller computes. Does not: know models or devices.
 */
#ifndef CD_DATA_H
#define CD_DATA_H

#include <stdbool.h>
#include <stdint.h>

#include "augment.h"
#include "cd_err.h"

#define CD_DATA_MAXDIM 4

typedef struct cd_data_config {
    const char *feature; /* column stem: <feature>.npy */
    const char *label;   /* column stem: <label>.npy */
    float scale;         /* features are multiplied by it (1/255 for pixels) */
    int in_ndim;         /* per-row feature shape the model wants */
    int64_t in_shape[CD_DATA_MAXDIM];
    int classes; /* > 0: integer labels in [0, classes); 0: float labels */
    int batch;   /* rows per batch */
    bool shuffle;
    uint64_t seed;
    uint64_t epoch;
    cd_augment augment; /* image rows (in_ndim 3) only; all zero: none (eval, predict) */
} cd_data_config;

typedef struct cd_batch {
    int n;      /* rows in this batch (<= batch) */
    int shard;  /* index of its shard in the list given to cd_data_open */
    float *x;   /* [n * row_size] features */
    int32_t *y; /* [n] labels when classes > 0 */
    float *yf;  /* [n] labels when classes == 0 */
} cd_batch;

typedef struct cd_data cd_data;

/* Open and check every shard directory (or pg: spec; its database time counts as waiting). */
cd_code cd_data_open(cd_data **out, const cd_data_config *cfg, const char *const *dirs, int ndirs,
                     cd_err *err);
/* The next batch (*b valid until the next call), or *b = NULL after the last one. */
cd_code cd_data_next(cd_data *d, const cd_batch **b, cd_err *err);
/* Rows of all shards; floats per row. */
uint64_t cd_data_rows(const cd_data *d);
uint64_t cd_data_row_size(const cd_data *d);
/* Seconds cd_data_next spent waiting for the prefetch thread. */
double cd_data_wait_seconds(const cd_data *d);
void cd_data_close(cd_data **d);

/* The row order of a shard: a permutation of [0, n) for (seed, epoch, shard name). */
void cd_data_permutation(uint64_t seed, uint64_t epoch, const char *shard_name, uint64_t n,
                         uint64_t *perm);

#endif
