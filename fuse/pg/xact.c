/*
 * xact.c: snapshot parsing and HeapTupleSatisfiesMVCC rebuilt on the commit-log,
 * subtransaction and multixact lookups of slru.c (see xact.h for the contract).
 * Does not: read files itself, write, set hint bits, wait, or decide anything from data that
 * is not on disk.
 */
#include "xact_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pgdisk.h"

/* ---- Snapshot text ---- */

/* Parse a decimal uint64 at *p (at least one digit, no sign, no overflow). 0 on error. */
static int parse_u64(const char **p, uint64_t *v)
{
    const char *s = *p;
    uint64_t acc = 0;
    if (*s < '0' || *s > '9')
        return 0;
    for (; *s >= '0' && *s <= '9'; s++) {
        unsigned d = (unsigned)(*s - '0');
        if (acc > (UINT64_MAX - d) / 10)
            return 0;
        acc = acc * 10 + d;
    }
    *p = s;
    *v = acc;
    return 1;
}

static int only_space(const char *s)
{
    for (; *s != '\0'; s++)
        if (*s != ' ' && *s != '\t' && *s != '\n' && *s != '\r')
            return 0;
    return 1;
}

static int cmp_u32(const void *a, const void *b)
{
    uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
    return (x > y) - (x < y);
}

static cd_code snap_bad(cd_err *err, const char *text, const char *why)
{
    cd_fail(err, CD_EINVAL, "invalid snapshot text");
    cd_detail(err, "\"%.200s\": %s", text, why);
    return cd_hint(err, "pass the output of SELECT pg_current_snapshot() unchanged");
}

/* Parse the xip list at p into out->xip (ascending 64-bit values within [xmin, xmax)). */
static cd_code parse_xips(const char *text, const char *p, uint64_t xmin, uint64_t xmax,
                          cd_snapshot *out, cd_err *err)
{
    size_t cap = 1;
    for (const char *c = p; *c != '\0'; c++)
        cap += *c == ',';
    out->xip = malloc(cap * sizeof *out->xip);
    if (out->xip == NULL)
        return cd_fail(err, CD_ENOMEM, "out of memory parsing a snapshot of %zu xids", cap);
    uint64_t last = 0;
    if (only_space(p))
        return CD_OK; /* empty xip list */
    for (;;) {
        uint64_t v;
        if (!parse_u64(&p, &v))
            return snap_bad(err, text, "an xip entry is not a decimal number");
        if (v < xmin || v >= xmax)
            return snap_bad(err, text, "an xip entry is outside [xmin, xmax)");
        if ((uint32_t)v < PGD_FIRST_NORMAL_XID)
            return snap_bad(err, text, "an xip entry is not a normal transaction id");
        if (out->nxip > 0 && v < last)
            return snap_bad(err, text, "xip entries are not ascending");
        if (out->nxip == 0 || v != last)
            out->xip[out->nxip++] = (uint32_t)v;
        last = v;
        if (*p != ',')
            break;
        p++;
    }
    if (!only_space(p))
        return snap_bad(err, text, "expected ',' between xip entries");
    qsort(out->xip, out->nxip, sizeof *out->xip, cmp_u32);
    return CD_OK;
}

cd_code cd_snapshot_parse(const char *text, cd_snapshot *out, cd_err *err)
{
    if (out == NULL)
        return cd_fail(err, CD_EINVAL, "no snapshot to parse into");
    memset(out, 0, sizeof *out);
    if (text == NULL)
        return snap_bad(err, "", "no text");
    const char *p = text;
    uint64_t xmin, xmax;
    if (!parse_u64(&p, &xmin) || *p++ != ':' || !parse_u64(&p, &xmax) || *p++ != ':')
        return snap_bad(err, text, "expected xmin:xmax:xip_list");
    if (xmin > xmax)
        return snap_bad(err, text, "xmin is greater than xmax");
    if (xmax - xmin >= (UINT64_C(1) << 31))
        return snap_bad(err, text, "the snapshot spans 2^31 transactions or more");
    if ((uint32_t)xmin < PGD_FIRST_NORMAL_XID || (uint32_t)xmax < PGD_FIRST_NORMAL_XID)
        return snap_bad(err, text, "xmin or xmax is not a normal transaction id");
    cd_code rc = parse_xips(text, p, xmin, xmax, out, err);
    if (rc != CD_OK) {
        cd_snapshot_free(out);
        return rc;
    }
    out->xmin = (uint32_t)xmin;
    out->xmax = (uint32_t)xmax;
    return CD_OK;
}

void cd_snapshot_free(cd_snapshot *s)
{
    if (s == NULL)
        return;
    free(s->xip);
    memset(s, 0, sizeof *s);
}

static int xip_contains(const cd_snapshot *s, uint32_t xid)
{
    size_t lo = 0, hi = s->nxip;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (s->xip[mid] == xid)
            return 1;
        if (s->xip[mid] < xid)
            lo = mid + 1;
        else
            hi = mid;
    }
    return 0;
}

/* ---- Transaction status against the snapshot ---- */

/*
 * SubTransGetTopmostTransaction with the snapshot's xmin as TransactionXmin: follow
 * pg_subtrans parents while they are not older than xmin (older ones cannot be running).
 */
static cd_code topmost_xid(cd_xact *x, const cd_snapshot *s, uint32_t xid, uint32_t *top,
                           cd_err *err)
{
    uint32_t cur = xid;
    while (!cd_xid_precedes(cur, s->xmin)) {
        uint32_t parent;
        cd_code rc = cd_xact_subtrans_parent(x, cur, &parent, err);
        if (rc != CD_OK)
            return rc;
        if (parent == PGD_INVALID_XID)
            break;
        if (!cd_xid_precedes(parent, cur)) {
            cd_fail(err, CD_ECORRUPT, "pg_subtrans gives transaction %u the parent %u", cur,
                    parent);
            return cd_detail(err, "a parent must be older than its child; data directory %s",
                             x->datadir);
        }
        cur = parent;
    }
    *top = cur;
    return CD_OK;
}

/* XidInMVCCSnapshot for a snapshot without subxip (always resolved through pg_subtrans). */
static cd_code xid_in_snapshot(cd_xact *x, const cd_snapshot *s, uint32_t xid, int *in, cd_err *err)
{
    *in = 0;
    if (cd_xid_precedes(xid, s->xmin))
        return CD_OK;
    if (!cd_xid_precedes(xid, s->xmax)) {
        *in = 1;
        return CD_OK;
    }
    if (s->nxip == 0)
        return CD_OK;
    if (xip_contains(s, xid)) {
        *in = 1;
        return CD_OK;
    }
    uint32_t top = xid;
    cd_code rc = topmost_xid(x, s, xid, &top, err);
    if (rc == CD_OK && top != xid && !cd_xid_precedes(top, s->xmin))
        *in = xip_contains(s, top);
    return rc;
}

/*
 * Below the cluster's oldest unfrozen xid every live xid is frozen and pg_xact may be
 * truncated, so a tuple that still needs a lookup there is refused rather than guessed
 * (the server itself reports such tuples as corrupt: "found xmin ... from before relfrozenxid").
 */
static cd_code check_not_truncated(const cd_xact *x, uint32_t xid, cd_err *err)
{
    uint32_t oldest = x->cfg.oldest_xid;
    if (oldest < PGD_FIRST_NORMAL_XID || !cd_xid_precedes(xid, oldest))
        return CD_OK;
    cd_fail(err, CD_EUNDECIDED, "cannot decide whether transaction %u committed", xid);
    cd_detail(err,
              "it precedes the cluster's oldest unfrozen xid %u and the tuple is not "
              "marked frozen; %s/pg_xact may be truncated there",
              oldest, x->datadir);
    return cd_hint(err, "run VACUUM on the table and CHECKPOINT, then retry; if it persists, "
                        "check the table with amcheck (verify_heapam)");
}

/* TransactionIdDidCommit with the snapshot's xmin as TransactionXmin. */
static cd_code xid_did_commit(cd_xact *x, const cd_snapshot *s, uint32_t xid, int *committed,
                              cd_err *err)
{
    *committed = 0;
    for (;;) {
        if (xid == PGD_BOOTSTRAP_XID || xid == PGD_FROZEN_XID) {
            *committed = 1;
            return CD_OK;
        }
        if (xid == PGD_INVALID_XID)
            return CD_OK;
        int st;
        cd_code rc = check_not_truncated(x, xid, err);
        if (rc == CD_OK)
            rc = cd_xact_clog_status(x, xid, &st, err);
        if (rc != CD_OK)
            return rc;
        if (st == PGD_CLOG_COMMITTED)
            *committed = 1;
        /*
         * Sub-committed: the top-level commit was under way. Older than xmin, it cannot still
         * be under way, so it crashed; otherwise the parent decides. No parent recorded
         * (pg_subtrans is zeroed at startup) also means a crash, as in the server.
         */
        if (st != PGD_CLOG_SUB_COMMITTED || cd_xid_precedes(xid, s->xmin))
            return CD_OK;
        uint32_t parent;
        if ((rc = cd_xact_subtrans_parent(x, xid, &parent, err)) != CD_OK)
            return rc;
        if (parent != PGD_INVALID_XID && !cd_xid_precedes(parent, xid)) {
            cd_fail(err, CD_ECORRUPT, "pg_subtrans gives transaction %u the parent %u", xid,
                    parent);
            return cd_detail(err, "data directory %s", x->datadir);
        }
        xid = parent;
    }
}

/* Did xid commit as seen by the snapshot (finished, not in progress, committed)? */
static cd_code xid_committed_for(cd_xact *x, const cd_snapshot *s, uint32_t xid, int *yes,
                                 cd_err *err)
{
    int in;
    *yes = 0;
    cd_code rc = xid_in_snapshot(x, s, xid, &in, err);
    if (rc != CD_OK || in)
        return rc;
    return xid_did_commit(x, s, xid, yes, err);
}

/* ---- HeapTupleSatisfiesMVCC ---- */

static cd_code xmin_visible(cd_xact *x, const cd_snapshot *s, uint32_t xmin, uint16_t im, int *ok,
                            cd_err *err)
{
    *ok = 0;
    if ((im & PGD_HEAP_XMIN_FROZEN) == PGD_HEAP_XMIN_FROZEN) {
        *ok = 1;
        return CD_OK;
    }
    if (im & PGD_HEAP_XMIN_INVALID)
        return CD_OK; /* aborted */
    if (im & PGD_HEAP_XMIN_COMMITTED) {
        int in;
        cd_code rc = xid_in_snapshot(x, s, xmin, &in, err);
        *ok = rc == CD_OK && !in;
        return rc;
    }
    if (im & PGD_HEAP_MOVED) {
        cd_fail(err, CD_EUNSUPPORTED, "tuple moved by a pre-9.0 VACUUM FULL");
        cd_detail(err, "xmin %u, infomask 0x%04X (HEAP_MOVED_OFF/IN)", xmin, im);
        return cd_hint(err, "run VACUUM FREEZE on the table, CHECKPOINT, and retry");
    }
    return xid_committed_for(x, s, xmin, ok, err);
}

/* HEAP_XMAX_IS_LOCKED_ONLY: LOCK_ONLY, or a plain xmax with only EXCL_LOCK (pg_upgrade). */
static int xmax_locked_only(uint16_t im)
{
    return (im & PGD_HEAP_XMAX_LOCK_ONLY) != 0 ||
           (im & (PGD_HEAP_XMAX_IS_MULTI | PGD_HEAP_LOCK_MASK)) == PGD_HEAP_XMAX_EXCL_LOCK;
}

/*
 * A multixact that is not older than next_multi was created after our checkpoint, so after
 * our snapshot, and its members are not reliably on disk. Its updater U, if any, was when
 * the multixact was created:
 *   - in progress: then U was in progress at our snapshot too or started after it, so U is
 *     in xip or >= xmax and its update is invisible to us; or
 *   - aborted: the update never happened; or
 *   - committed: only a NoKeyUpdate, joined by a FOR KEY SHARE locker, which does not
 *     conflict with it and may lock the old version after U committed (heap_lock_tuple;
 *     seen on PostgreSQL 15 with a REPEATABLE READ transaction whose snapshot predates U).
 *     U may have committed before our snapshot: the tuple may be deleted for us.
 * A key update or delete (HEAP_KEYS_UPDATED) conflicts with every row lock, so a locker
 * waits for it and then fails or follows the update chain: the third case cannot occur.
 * Hence KEYS_UPDATED -> not deleted; otherwise undecided until a later checkpoint.
 */
static cd_code multi_after_checkpoint(const cd_xact *x, uint32_t multi, uint16_t im2, int *deleted,
                                      cd_err *err)
{
    *deleted = 0;
    if (im2 & PGD_HEAP_KEYS_UPDATED)
        return CD_OK;
    cd_fail(err, CD_EUNDECIDED, "cannot decide whether multixact %u deleted the tuple", multi);
    cd_detail(err,
              "the multixact is not older than next_multixact_id %u of the checkpoint, "
              "so %s/pg_multixact does not hold it yet, and its no-key updater may have "
              "committed before the snapshot",
              x->cfg.next_multi, x->datadir);
    return cd_hint(err, "run CHECKPOINT, reopen the commit-log reader with the new "
                        "next_multixact_id and next_multi_offset (the snapshot can stay) "
                        "and retry");
}

static cd_code xmax_deletes(cd_xact *x, const cd_snapshot *s, uint32_t xmax, uint16_t im,
                            uint16_t im2, int *deleted, cd_err *err)
{
    *deleted = 0;
    if ((im & PGD_HEAP_XMAX_INVALID) || xmax_locked_only(im))
        return CD_OK;
    if (im & PGD_HEAP_XMAX_IS_MULTI) {
        if (xmax != 0 && !multi_precedes(xmax, x->cfg.next_multi))
            return multi_after_checkpoint(x, xmax, im2, deleted, err);
        uint32_t updater;
        cd_code rc = cd_xact_multi_updater(x, xmax, &updater, err);
        if (rc != CD_OK || updater == PGD_INVALID_XID)
            return rc; /* no updater: only lockers, not deleted */
        return xid_committed_for(x, s, updater, deleted, err);
    }
    if (im & PGD_HEAP_XMAX_COMMITTED) {
        int in;
        cd_code rc = xid_in_snapshot(x, s, xmax, &in, err);
        *deleted = rc == CD_OK && !in;
        return rc;
    }
    return xid_committed_for(x, s, xmax, deleted, err);
}

cd_code cd_tuple_visible(cd_xact *x, const cd_snapshot *snap, const uint8_t *tup, size_t len,
                         int page_all_visible, int *visible, cd_err *err)
{
    if (visible == NULL || x == NULL || snap == NULL || tup == NULL)
        return cd_fail(err, CD_EINVAL, "missing argument to cd_tuple_visible");
    *visible = 0;
    if (len < PGD_TUP_MIN_HEADER) {
        cd_fail(err, CD_ECORRUPT, "tuple too short for a header");
        return cd_detail(err, "%zu bytes, a heap tuple header needs %d", len, PGD_TUP_MIN_HEADER);
    }
    if (page_all_visible) {
        *visible = 1;
        return CD_OK;
    }
    uint32_t xmin = cd_rd32(tup + PGD_TUP_OFF_XMIN);
    uint32_t xmax = cd_rd32(tup + PGD_TUP_OFF_XMAX);
    uint16_t im = cd_rd16(tup + PGD_TUP_OFF_INFOMASK);
    uint16_t im2 = cd_rd16(tup + PGD_TUP_OFF_INFOMASK2);
    int ok, deleted;
    cd_code rc = xmin_visible(x, snap, xmin, im, &ok, err);
    if (rc != CD_OK || !ok)
        return rc;
    rc = xmax_deletes(x, snap, xmax, im, im2, &deleted, err);
    if (rc == CD_OK)
        *visible = !deleted;
    return rc;
}
