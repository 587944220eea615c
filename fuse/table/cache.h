/*
 * cache.h: the memory-bounded cache of decoded chunks behind cerebro-ds-fuse.
 *
 * Semantics (what callers may rely on):
 * - A chunk is identified by (file, chunk): file is a number the caller never reuses for
 *   other contents (one per served file and snapshot), chunk its index in that file. Its
 *   bytes never change: a new snapshot is a new file number, so nothing is ever stale.
 * - cd_cache_read copies bytes of a chunk into the caller's buffer. On a miss the chunk is
 *   produced once by the caller's fill function (concurrent readers of the same missing chunk
 *   wait for that one fill) and kept.
 * - Two tiers inside one bound: hot chunks as they are, and chunks evicted from the hot tier
 *   kept LZ4-compressed (only when that saves at least a quarter). Hot + compressed bytes,
 *   fills in progress included, never exceed the configured bound (a chunk larger than the
 *   bound is served without being kept). Eviction is least-recently-used per tier.
 * - With a spill directory, chunks evicted from the compressed tier are written there
 *   (compressed) up to spill_bytes and read back on a later miss; files are removed when
 *   their file number is dropped and when the cache is freed.
 * - Thread-safe; one mutex guards the tables, fills and (de)compression run outside it.
 * Does not: know what a chunk means (the fill function does).
 *
 * Lock order: the cache mutex is a leaf: no callback (fill) runs while it is held.
 */
#ifndef CD_CACHE_H
#define CD_CACHE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "cd_err.h"

typedef struct cd_cache cd_cache;

typedef struct cd_cache_config {
    size_t bytes;          /* bound of hot + compressed bytes (cache_mb * 1 MiB) */
    const char *spill_dir; /* NULL or "": no spill */
    uint64_t spill_bytes;  /* bound of the spill directory, 0 = no bound */
} cd_cache_config;

typedef struct cd_cache_key {
    uint64_t file;
    uint64_t chunk;
} cd_cache_key;

/* Produce the len bytes of a chunk into buf. */
typedef cd_code (*cd_cache_fill_fn)(void *arg, uint8_t *buf, size_t len, cd_err *err);

typedef struct cd_cache_stats {
    uint64_t hits;           /* reads served without a fill */
    uint64_t misses;         /* reads that needed a fill */
    uint64_t cold_hits;      /* hits on the compressed tier */
    uint64_t spill_hits;     /* hits read back from the spill directory */
    uint64_t evictions;      /* chunks that left the hot tier */
    uint64_t drops;          /* chunks that left the cache entirely */
    uint64_t fill_bytes;     /* bytes produced by fills (decoded) */
    uint64_t hot_bytes;      /* now */
    uint64_t cold_bytes;     /* now (compressed size) */
    uint64_t spill_bytes;    /* now, on disk */
    uint64_t chunks;         /* now, in memory */
    uint64_t reserved_bytes; /* now: fills and promotions in progress (inside the bound) */
    uint64_t spill_errors;   /* chunks dropped because a spill write or read-back failed */
} cd_cache_stats;

cd_code cd_cache_new(cd_cache **out, const cd_cache_config *cfg, cd_err *err);
void cd_cache_free(cd_cache **c);

/*
 * Copy bytes [off, off + n) of chunk key, whose size is len (the same for every call on
 * that key), into dst. On a miss, fill(arg, buf, len, err) produces the chunk. A failed fill
 * is returned and nothing is kept; readers that were waiting for it retry, so one of them fills
 * again. When no room can be made (len above the bound, or the rest taken by fills in
 * progress) the chunk is served from a temporary buffer and not kept. n == 0 never fills.
 */
cd_code cd_cache_read(cd_cache *c, cd_cache_key key, size_t len, size_t off, size_t n, uint8_t *dst,
                      cd_cache_fill_fn fill, void *arg, cd_err *err);

/* What a reader does with bytes of a chunk (cd_cache_use). */
typedef cd_code (*cd_cache_use_fn)(void *arg, const uint8_t *p, size_t n, cd_err *err);
/*
 * cd_cache_read without the copy: use(use_arg, p, n, err) gets the n bytes at off in the
 * cache's own memory, valid only until it returns (the chunk cannot be evicted meanwhile),
 * and its code is returned. use may read further chunks with nested set: such a read never
 * waits (other readers may hold chunks the same way): a chunk it finds no room for is served
 * without being kept, and one that another thread is filling fails with CD_EBUSY (the
 * caller releases what it holds and reads again, e.g. with cd_cache_read).
 */
cd_code cd_cache_use(cd_cache *c, cd_cache_key key, size_t len, size_t off, size_t n,
                     cd_cache_fill_fn fill, void *arg, cd_cache_use_fn use, void *use_arg,
                     bool nested, cd_err *err);
/* A chunk its producer writes in place, piece by piece (cd_cache_claim). */
typedef struct cd_cache_slot cd_cache_slot;
/*
 * Reserve key, of at most len bytes, for the caller to write in place: its buffer, or NULL
 * when key is cached or being filled already or no room can be made without waiting (nothing
 * is then reserved). Until cd_cache_claim_done, the chunk counts in the bound, readers of key
 * wait for it and nested reads fail with CD_EBUSY, as for a fill. Its pages become resident
 * as they are written.
 */
uint8_t *cd_cache_claim(cd_cache *c, cd_cache_key key, size_t len, cd_cache_slot **out);
/* Keep a claimed chunk as its first len bytes (len <= the claimed length; readers then read
 * it with that len), or forget it (len 0); wakes its readers. */
void cd_cache_claim_done(cd_cache *c, cd_cache_slot *cl, size_t len);
/* Forget every chunk of file (its snapshot was released). */
void cd_cache_drop_file(cd_cache *c, uint64_t file);

void cd_cache_get_stats(cd_cache *c, cd_cache_stats *out);
/* The bound of hot + compressed bytes (cd_cache_config.bytes). */
size_t cd_cache_bound(const cd_cache *c);

#endif
