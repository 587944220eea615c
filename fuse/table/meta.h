/*
 * meta.h: the text of the `meta` files of the mount layout (DESIGN.md section 3), one
 * writer for `cerebro-ds export` and the mount, so both serve the same bytes.
 *
 * Table meta: [table] database, table, snapshot, block_size, rows, shards, cut (when the
 * snapshot is part of a cluster cut); on a Citus node [citus] kind, method, column and one
 * [citus shard s<id>] per shard of the table (range, local, hosts: the whole map); then per
 * column [column NAME] type, dtype ("bin" for .bin columns), shape (per-row dimensions;
 * "ragged" when shards differ). Shard meta: [shard] name, rows, relation, relation_file,
 * segments, blocks, toast_file, snapshot, cut, content (cd_shard_scan's content version, 16
 * hex digits), and for a Citus placement citus_shard, range,
 * host; per column type, dtype, shape, file, nulls, null_elements.
 * A MADlib-packed table (madlib.h) adds packed = madlib and buffers to [table] and [shard],
 * packed = madlib and shape_column to its packed columns' sections, repeated = yes to the
 * others' (one value per buffer, repeated for each of its rows).
 */
#ifndef CD_META_H
#define CD_META_H

#include <stdbool.h>
#include <stdint.h>

#include "catalog.h"

/* What a meta file says of one column of one shard. */
typedef struct cd_colsum {
    const cd_attr *attr;
    const char *fname;   /* file name stem (fsname.h) */
    bool var;            /* .bin + .offsets.npy */
    char shape[128];     /* "" scalars, "784", "28,28", "0" (every row NULL), "ragged" */
    uint64_t nnull;      /* NULL rows */
    uint64_t null_elems; /* NULL array elements written as 0 / NaN */
    char dtype[8];       /* dtype of the shard's file when not attr->dtype (a MADlib-packed
                            column: its buffers'), else "" */
    uint64_t buffers;    /* MADlib-packed tables: the buffers (tuples) the shard's rows came from */
} cd_colsum;

/* Per-row shape text of a fixed array column with dims[ndim] (dims_known false: "0"). */
void cd_shape_text(char *buf, size_t size, bool var, bool dims_known, int ndim, const int *dims);

/* malloc'd meta texts; NULL when out of memory. */
char *cd_meta_shard(const cd_pin *p, const cd_table *t, const cd_shard *s, uint64_t nrows,
                    uint64_t content, const cd_colsum *cols, int ncols);
/* rows[nshards]; sums[nshards * ncols] (shard-major). */
char *cd_meta_table(const cd_pin *p, const cd_table *t, const uint64_t *rows,
                    const cd_colsum *sums);

#endif
