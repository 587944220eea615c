/*
 * shard.h: decode a pinned shard: its visible rows, in physical order, into columns.
 *
 * Does: reads each block of the shard's range, validates it, takes the NORMAL line
 * pointers, keeps the tuples visible to the pinned snapshot (xact.h), deforms them and
 * converts the output columns (value.h). Errors name relation file, block and item.
 * Stops with CD_EINTERRUPTED between blocks once cd_interrupted is set.
 * Does not: write files (colfile.h) or talk to the server (catalog.h).
 */
#ifndef CD_SHARD_H
#define CD_SHARD_H

#include "catalog.h"
#include "value.h"

/* Called for each visible tuple; datums has shard->natts entries. */
typedef cd_code (*cd_tuple_fn)(void *arg, uint32_t blkno, uint16_t item, const uint8_t *tup,
                               uint32_t len, const cd_datum *datums, cd_err *err);

/* Visit the visible tuples of blocks [blk_start, blk_end) of the shard. *content (when not
 * NULL) gets the content version of what was visited: a hash (FNV-1a, 64 bits) of each
 * visible tuple's place and xmin, in order. Another snapshot of unchanged rows has the same
 * content version; an insert, update, delete or rewrite (VACUUM FULL) changes it. */
cd_code cd_shard_scan(cd_pin *p, const cd_shard *s, uint32_t blk_start, uint32_t blk_end,
                      cd_tuple_fn fn, void *arg, uint64_t *content, cd_err *err);

/* Where decoded rows go: each output column's value, then the end of the row. */
typedef struct cd_row_sink {
    cd_code (*value)(void *arg, int col, const cd_value *v, cd_err *err);
    cd_code (*row_done)(void *arg, uint32_t blkno, uint16_t item, cd_err *err);
    /* optional: blocks done of total, every few thousand blocks */
    void (*progress)(void *arg, uint32_t done, uint32_t total);
    void *arg;
    /* optional: a visible row begins (before its values) */
    cd_code (*row_start)(void *arg, uint32_t blkno, uint16_t item, cd_err *err);
    /* optional: where column col's next value may be decoded straight into (cd_value_into);
     * false: nowhere. The value then still goes to value(). Not used for packed tables. */
    bool (*dest)(void *arg, int col, cd_value_dest *d);
} cd_row_sink;

/* Decode the shard's visible rows into sink; *nrows counts them, *ntuples (when not NULL)
 * the tuples they came from: the same, except in a MADlib-packed table (madlib.h), whose
 * tuples are buffers of rows: each of them goes to sink as one row, the columns of the
 * tuple that are not packed repeated for each. */
cd_code cd_shard_decode_to(cd_pin *p, const cd_table *t, const cd_shard *s, const cd_row_sink *sink,
                           uint64_t *nrows, uint64_t *ntuples, uint64_t *content, cd_err *err);

/* The decoded row count against count(*) in the snapshot (want < 0: unchecked): a mismatch
 * is CD_EMISMATCH naming the shard, its file and the snapshot. */
cd_code cd_check_count(const cd_pin *p, const cd_shard *s, uint64_t decoded, int64_t want,
                       cd_err *err);

#endif
