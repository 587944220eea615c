/*
 * ctidx.h: the tuple addresses (block, item) of a shard's visible tuples in physical order,
 * kept as runs: a run is consecutive items of one block (a block of a loaded or vacuumed
 * table is usually one run), 14 bytes a run instead of 8 a tuple. Tuple i is found by
 * a cursor for in-order access (a chunk's rows), else by binary search.
 * Does not: read pages or decide visibility (the index pass, vtable.c, adds in order).
 * Not thread-safe to build; lookups after building are (the cursor is the caller's).
 */
#ifndef CD_CTIDX_H
#define CD_CTIDX_H

#include <stddef.h>
#include <stdint.h>

#include "cd_err.h"

typedef struct cd_ctidx {
    uint32_t *blk;   /* [nruns] block of each run */
    uint16_t *item;  /* [nruns] its first item */
    uint64_t *first; /* [nruns + 1] index of its first tuple; first[nruns] = n */
    size_t nruns, cap;
    uint64_t n; /* tuples */
} cd_ctidx;

/* Append tuple n (the next one): a new run unless it follows the last one in its block. */
cd_code cd_ctidx_add(cd_ctidx *x, uint32_t blk, uint16_t item, cd_err *err);
/* Block and item of tuple i < n; *cursor (start at 0) is the run last used, for in-order
 * lookups in constant time. */
void cd_ctidx_get(const cd_ctidx *x, uint64_t i, size_t *cursor, uint32_t *blk, uint16_t *item);
/* Bytes held. */
size_t cd_ctidx_bytes(const cd_ctidx *x);
void cd_ctidx_free(cd_ctidx *x);

#endif
