/*
 * shard.h: decode a pinned shard: its visible rows, in physical order, into columns.
 *
 * Does: reads each block of the shard's range, validates it, takes the NORMAL line
 * pointers, keeps the tuples visible to the pinned snapshot (xact.h), deforms them and
 * converts the output columns (value.h). Errors name relation file, block and item.
 * Does not: write files (column.h) or talk to the server (catalog.h).
 */
#ifndef CD_SHARD_H
#define CD_SHARD_H

#include "catalog.h"
#include "column.h"

/* Called for each visible tuple; datums has shard->natts entries. */
typedef cd_code (*cd_tuple_fn)(void *arg, uint32_t blkno, uint16_t item, const uint8_t *tup,
                               uint32_t len, const cd_datum *datums, cd_err *err);

/* Visit the visible tuples of blocks [blk_start, blk_end) of the shard. */
cd_code cd_shard_scan(cd_pin *p, const cd_shard *s, uint32_t blk_start, uint32_t blk_end,
                      cd_tuple_fn fn, void *arg, cd_err *err);

/* The decoded shard: one column per table output column, plus the ctid of every row. */
typedef struct cd_decoded {
    int ncols;
    cd_column *cols; /* [ncols] */
    cd_bytes ctids;  /* uint64 per row: block << 16 | item */
    uint64_t nrows;
    uint64_t tuples_seen; /* NORMAL tuples examined, visible or not */
} cd_decoded;

cd_code cd_shard_decode(cd_pin *p, const cd_table *t, const cd_shard *s, cd_decoded *out,
                        cd_err *err);
void cd_decoded_free(cd_decoded *d);

#endif
