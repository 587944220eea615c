/*
 * vtable.h: one table pinned to one snapshot, served as the files of the mount layout
 * (DESIGN.md section 3), byte-identical to what `cerebro-ds export` writes.
 *
 * Opening pins the table (catalog.h) and runs one visibility pass per shard that builds a
 * compact row index: the ctid of every visible row and, per column, what the file layout
 * needs (NULLs, payload sizes, array dimensions), so every file size is known before any
 * value is served. Values are decoded in chunks of rows of one column, through the chunk
 * cache (cache.h); a chunk is decoded from the pages of its rows only. When a table's
 * fixed-width columns fit in half the cache's bound, the pass puts the chunks of its scalar
 * columns into the cache itself, from the tuples it has read (no page is read again for
 * them), and hands those of fixed-shape arrays to prefetch threads as soon as it has seen
 * their rows, so decoding overlaps the pass; the others are decoded when read, with the
 * chunks that follow a read decoded ahead of it.
 * The pinning transaction stays open until cd_vtable_close. If its connection is lost,
 * cached chunks are still served but a read that needs decoding fails with CD_EIO and a
 * hint to refresh (VACUUM may have removed rows of the snapshot since).
 * Thread-safe: reads of one vtable may run in parallel; the connection is used under a lock.
 * Does not: know about FUSE, inodes, users or refresh (fs.c does).
 */
#ifndef CD_VTABLE_H
#define CD_VTABLE_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/uio.h>

#include "cache.h"
#include "catalog.h"
#include "cd_err.h"

typedef struct cd_vtable cd_vtable;

typedef enum cd_vfile_kind {
    CD_VF_TABLE_META, /* <table>/meta */
    CD_VF_SHARD_META, /* <table>/<shard>/meta */
    CD_VF_NPY,        /* <col>.npy */
    CD_VF_VALID,      /* <col>.valid.npy */
    CD_VF_BIN,        /* <col>.bin */
    CD_VF_OFFSETS,    /* <col>.offsets.npy */
} cd_vfile_kind;

typedef struct cd_vfile {
    cd_vfile_kind kind;
    int shard;      /* index of its shard, -1 for the table meta */
    int col;        /* output column, -1 for meta files */
    char name[300]; /* file name in its directory (fsname.h encoding) */
    uint64_t size;  /* bytes */
    uint64_t id;    /* unique among all vfiles of all vtables of this process (cache key) */
} cd_vfile;

typedef struct cd_vtable_opts {
    cd_pin_opts pin; /* connection, data directory, block shards, columns */
    cd_cache *cache; /* shared chunk cache (not owned) */
    bool progress;   /* progress lines on stderr during the visibility pass */
    bool skip_count; /* do not check each shard's rows against count(*) ([database] verify) */
} cd_vtable_opts;

/* Pin TABLE and index every shard. On error *out is NULL. */
cd_code cd_vtable_open(cd_vtable **out, const cd_vtable_opts *o, const char *table, cd_err *err);
/* Release the snapshot (rolls back the pinning transaction) and drop its cached chunks. */
void cd_vtable_close(cd_vtable **v);
/* Release the snapshot and the relation files now but keep the layout (names, files,
 * sizes): every read after it fails with CD_EIO ("snapshot ... was released"); decodes
 * running finish first. cd_vtable_close still frees v. Not concurrent with itself. */
void cd_vtable_release(cd_vtable *v);
/* cd_vtable_release ran. */
bool cd_vtable_released(const cd_vtable *v);

const char *cd_vtable_name(const cd_vtable *v);     /* schema.table */
const char *cd_vtable_snapshot(const cd_vtable *v); /* pg_current_snapshot() text */
uint32_t cd_vtable_oid(const cd_vtable *v);
uint64_t cd_vtable_rows(const cd_vtable *v);

/* Shards: directory names (encoded) in the table directory. */
int cd_vtable_nshards(const cd_vtable *v);
const char *cd_vtable_shard_dir(const cd_vtable *v, int shard);

/*
 * CD_OK, or why shard could not be indexed (a corrupt page, a rewritten relation, an
 * undecidable tuple, a row count that differs from count(*)), copied into err. Such a shard
 * has no files; the other shards are served. The table meta then reads as that error too.
 */
cd_code cd_vtable_shard_error(const cd_vtable *v, int shard, cd_err *err);

/* Files of the table directory (shard -1: just "meta") or of a shard directory. */
int cd_vtable_nfiles(const cd_vtable *v, int shard);
const cd_vfile *cd_vtable_file(const cd_vtable *v, int shard, int i);
/* The file named name in that directory, or NULL. */
const cd_vfile *cd_vtable_lookup(const cd_vtable *v, int shard, const char *name);

/*
 * Read up to n bytes of f at off into buf (*got: bytes read; 0 at or past the end).
 * Decodes the chunks it needs through the cache. CD_ECORRUPT / CD_EREWRITTEN /
 * CD_EUNDECIDED from decoding are returned with their messages (the caller logs them and
 * answers EIO); a lost connection is CD_EIO.
 */
cd_code cd_vtable_read(cd_vtable *v, const cd_vfile *f, uint64_t off, size_t n, uint8_t *buf,
                       size_t *got, cd_err *err);

/* Gets the bytes of a read (cd_vtable_read_iov) in the cache's memory, valid until it
 * returns; its code is the read's. */
typedef cd_code (*cd_vtable_iov_fn)(void *arg, const struct iovec *iov, int cnt, cd_err *err);
#define CD_VT_IOV_MAX 4 /* pieces of one read: the .npy header and up to 3 chunks */

/* cd_vtable_read without copying: the bytes of <col>.npy or <col>.bin at off (n, fewer only
 * at the end of the file) go to done as at most CD_VT_IOV_MAX pieces, the chunks they lie
 * in held in the cache meanwhile. *served false (and CD_OK): done was not called, the read
 * must take cd_vtable_read (another kind of file, more pieces, or a chunk that another
 * reader is decoding). */
cd_code cd_vtable_read_iov(cd_vtable *v, const cd_vfile *f, uint64_t off, size_t n,
                           cd_vtable_iov_fn done, void *arg, bool *served, cd_err *err);

/* Does database role `role` have SELECT on the table (has_table_privilege)? An unknown
 * role is "no". Asked on the pinning connection, under its lock. */
cd_code cd_vtable_may_select(cd_vtable *v, const char *role, bool *yes, cd_err *err);

/* Is the pinning connection alive? Without a round trip: false once the server has closed
 * it (its end of the stream read), or it was found dead before. */
bool cd_vtable_alive(cd_vtable *v);

#endif
