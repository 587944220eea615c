/*
 * xact.h: MVCC visibility of PostgreSQL 15 heap tuples, decided from the on-disk commit log.
 *
 * Does: parse a pg_current_snapshot() text; read $PGDATA/pg_xact, pg_subtrans and
 * pg_multixact (offsets, members) with pread through a small page cache; answer "is this
 * heap tuple visible to this snapshot" with the rules of HeapTupleSatisfiesMVCC for a reader
 * whose own transaction holds no xid (heapam_visibility.c, snapmgr.c XidInMVCCSnapshot,
 * transam.c TransactionIdDidCommit, clog.c, subtrans.c, multixact.c). slru.c reads the
 * files; xact.c parses snapshots and applies the rules.
 * Does not: write anything (files are opened O_RDONLY), set hint bits, guess. When the answer
 * depends on data that is not on disk (a missing or short SLRU file, an xid below the
 * cluster's oldest unfrozen xid without a frozen hint, a multixact created after the
 * checkpoint whose updater may have committed), it returns CD_EUNDECIDED with the xid, the
 * file and what to do.
 *
 * Preconditions (what makes the on-disk commit log authoritative for the snapshot):
 *   1. the snapshot is taken and kept pinned by a session that holds no xid;
 *   2. a CHECKPOINT completes after the snapshot was taken, and cd_xact_config is filled from
 *      pg_control_checkpoint() after that CHECKPOINT; cd_xact_open() runs after it.
 * Then every xid below the snapshot's xmax that is not in its xip list finished before the
 * checkpoint, so its final status is in pg_xact on disk, and every multixact older than
 * next_multi is in pg_multixact on disk.
 *
 * Thread safety: a cd_xact may be used by several threads at once (one mutex guards the page
 * cache and the table of open files); a cd_snapshot is read-only after parsing.
 */
#ifndef CD_XACT_H
#define CD_XACT_H

#include <stddef.h>
#include <stdint.h>

#include "cd_err.h"

typedef struct cd_snapshot {
    uint32_t xmin, xmax; /* low 32 bits of pg_current_snapshot() */
    uint32_t *xip;       /* [nxip] top-level xids in progress, sorted numerically, owned */
    size_t nxip;
} cd_snapshot;

/*
 * Parse pg_current_snapshot() text "xmin:xmax:xip1,xip2,..." (64-bit decimal xids, as the
 * server prints them: xmin <= xip < xmax, xips ascending). Keeps the low 32 bits. Trailing
 * white space is allowed. CD_EINVAL for malformed text, a span of 2^31 xids or more, or a
 * special xid (low 32 bits below 3). *out is zeroed on failure; free with cd_snapshot_free.
 */
cd_code cd_snapshot_parse(const char *text, cd_snapshot *out, cd_err *err);
void cd_snapshot_free(cd_snapshot *s);

typedef struct cd_xact cd_xact; /* reader of $PGDATA/pg_xact, pg_subtrans, pg_multixact */
typedef struct cd_xact_config {
    const char *datadir;        /* the cluster's data directory */
    uint32_t blcksz;            /* from pg_control_init(): 8192 or 32768 */
    uint32_t next_multi;        /* pg_control_checkpoint().next_multixact_id after our CHECKPOINT */
    uint32_t next_multi_offset; /* pg_control_checkpoint().next_multi_offset */
    uint32_t oldest_xid;        /* pg_control_checkpoint().oldest_xid: older xids are
                                   frozen/committed-or-dead; the clog may be truncated below it */
} cd_xact_config;

/* Open a reader (copies cfg). CD_EINVAL for a bad block size or a datadir without pg_xact. */
cd_code cd_xact_open(cd_xact **out, const cd_xact_config *cfg, cd_err *err);
void cd_xact_close(cd_xact **x); /* frees and sets *x = NULL */

/*
 * Optional, right after cd_xact_open: open and keep open the pg_xact and pg_subtrans segment
 * files covering [snap->xmin, snap->xmax), so that the server truncating them later (a
 * checkpoint removes pg_subtrans segments below its oldest running xid) cannot take away
 * what this snapshot still needs. Missing files are skipped. Holds at most 128 files.
 */
cd_code cd_xact_hold(cd_xact *x, const cd_snapshot *snap, cd_err *err);

/*
 * Is the heap tuple whose header starts at tup (len bytes, len >= 23) visible to snap?
 * page_all_visible: the page's PD_ALL_VISIBLE flag (short-cuts to visible, as the server's
 * sequential scan does). *visible is 1 or 0 on CD_OK and 0 otherwise.
 * CD_ECORRUPT: len < 23, a broken pg_subtrans chain or multixact; CD_EUNSUPPORTED: a pre-9.0
 * HEAP_MOVED tuple whose xmin is not hinted committed; CD_EUNDECIDED: see the banner.
 */
cd_code cd_tuple_visible(cd_xact *x, const cd_snapshot *snap, const uint8_t *tup, size_t len,
                         int page_all_visible, int *visible, cd_err *err);

/* ---- lower-level lookups, for tools and tests ---- */

/* Raw pg_xact status of a normal xid: PGD_CLOG_IN_PROGRESS .. PGD_CLOG_SUB_COMMITTED. */
cd_code cd_xact_clog_status(cd_xact *x, uint32_t xid, int *status, cd_err *err);
/* Raw pg_subtrans parent of a normal xid (0 = none). */
cd_code cd_xact_subtrans_parent(cd_xact *x, uint32_t xid, uint32_t *parent, cd_err *err);
/*
 * The updating member (status NoKeyUpdate or Update) of a multixact older than next_multi,
 * 0 when it has none. CD_EUNDECIDED when the multixact is not older than next_multi or its
 * data is not on disk; CD_ECORRUPT for two updaters or a bad member status.
 */
cd_code cd_xact_multi_updater(cd_xact *x, uint32_t multi, uint32_t *updater, cd_err *err);

#endif
