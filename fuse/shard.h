/*
 * shard.h: decode a pinned shard: its visible rows, in physical order, into columns.
 *
 * Does: reads each block of the shard's range, validates it, takes the NORMAL line
 * pointers, keeps the tuples visible to the pinned snapshot (xact.h), deforms them and
 * converts the output columns (value.h). Errors name relation file, block and item.
 * Stops with CD_EINTERRUPTED between blocks once cd_interrupted is set.
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

/* Where decoded rows go: each output column's value, then the end of the row. */
typedef struct cd_row_sink {
    cd_code (*value)(void *arg, int col, const cd_value *v, cd_err *err);
    cd_code (*row_done)(void *arg, uint32_t blkno, uint16_t item, cd_err *err);
    /* optional: blocks done of total, every few thousand blocks */
    void (*progress)(void *arg, uint32_t done, uint32_t total);
    void *arg;
} cd_row_sink;

/* Decode the shard's visible rows into sink; *nrows counts them. */
cd_code cd_shard_decode_to(cd_pin *p, const cd_table *t, const cd_shard *s, const cd_row_sink *sink,
                           uint64_t *nrows, cd_err *err);

/* The decoded shard in memory (for verify): one column per output column, and ctids. */
typedef struct cd_decoded {
    int ncols;
    cd_column *cols; /* [ncols] */
    cd_bytes ctids;  /* uint64 per row: block << 16 | item */
    uint64_t nrows;
} cd_decoded;

cd_code cd_shard_decode(cd_pin *p, const cd_table *t, const cd_shard *s, cd_decoded *out,
                        cd_err *err);
void cd_decoded_free(cd_decoded *d);

#endif
