/*
 * slru.c: the pg_xact / pg_subtrans / pg_multixact reader of a cd_xact (see xact.h): segment
 * files opened O_RDONLY, SLRU pages read with pread, up to XACT_CACHE_PAGES of them in an LRU
 * cache and up to XACT_MAX_FILES segment files open; the commit status of a transaction, the
 * parent of a subtransaction, the updater of a multixact.
 * Does not: write, wait, or decide anything from data that is not on disk; decide
 * visibility (xact.c).
 *
 * Lock order: x->mu is the only lock. It guards the page cache and the open-file table and
 * is never held across a file read; readers copy bytes out of the cache under it, so no
 * pointer into the cache escapes.
 */
#include "xact_int.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fsutil.h"
#include "pgdisk.h"

/* ---- Reader: open files and the page cache ---- */

cd_code cd_xact_open(cd_xact **out, const cd_xact_config *cfg, cd_err *err)
{
    if (out == NULL || cfg == NULL || cfg->datadir == NULL)
        return cd_fail(err, CD_EINVAL, "no commit-log configuration");
    *out = NULL;
    uint32_t b = cfg->blcksz;
    if (b < 1024 || b > 32768 || (b & (b - 1)) != 0)
        return cd_fail(err, CD_EINVAL, "unsupported block size %u", b);
    if (cfg->next_multi == 0)
        return cd_fail(err, CD_EINVAL, "next_multixact_id 0 is not valid");
    if (strlen(cfg->datadir) > XACT_MAX_DATADIR)
        return cd_fail(err, CD_EINVAL, "data directory path too long");
    char path[4096];
    struct stat st;
    errno = 0;
    snprintf(path, sizeof path, "%s/pg_xact", cfg->datadir);
    if (stat(path, &st) != 0 || !S_ISDIR(st.st_mode)) {
        cd_fail(err, CD_EINVAL, "no pg_xact directory in the data directory");
        cd_detail(err, "%s: %s", path, strerror(errno ? errno : ENOTDIR));
        return cd_hint(err, "pass the cluster's data directory (SHOW data_directory)");
    }
    cd_xact *x = calloc(1, sizeof *x);
    if (x == NULL || (x->datadir = strdup(cfg->datadir)) == NULL ||
        (x->pool = malloc((size_t)XACT_CACHE_PAGES * b)) == NULL) {
        if (x != NULL)
            free(x->datadir);
        free(x);
        return cd_fail(err, CD_ENOMEM, "out of memory opening the commit log");
    }
    x->cfg = *cfg;
    x->cfg.datadir = x->datadir;
    for (int i = 0; i < XACT_CACHE_PAGES; i++)
        x->slots[i].kind = -1;
    pthread_mutex_init(&x->mu, NULL);
    *out = x;
    return CD_OK;
}

void cd_xact_close(cd_xact **px)
{
    if (px == NULL || *px == NULL)
        return;
    cd_xact *x = *px;
    for (int i = 0; i < x->nfiles; i++)
        close(x->files[i].fd);
    pthread_mutex_destroy(&x->mu);
    free(x->pool);
    free(x->datadir);
    free(x);
    *px = NULL;
}

static void seg_path(const cd_xact *x, int kind, uint32_t segno, char *buf, size_t n)
{
    snprintf(buf, n, "%s/%s/%04X", x->datadir, slru_dir[kind], segno);
}

/* Held fd of a segment or -1; caller holds mu. */
static int seg_find(const cd_xact *x, int kind, uint32_t segno)
{
    for (int i = 0; i < x->nfiles; i++)
        if (x->files[i].kind == kind && x->files[i].segno == segno)
            return x->files[i].fd;
    return -1;
}

/*
 * An fd for segment (kind, segno): a held one, or a new one that is kept while there is
 * room in the table (*owned = 1: the caller closes it). -1 with errno set when open fails.
 */
static int seg_open(cd_xact *x, int kind, uint32_t segno, int *owned)
{
    *owned = 0;
    pthread_mutex_lock(&x->mu);
    int fd = seg_find(x, kind, segno);
    pthread_mutex_unlock(&x->mu);
    if (fd >= 0)
        return fd;
    char path[4096];
    seg_path(x, kind, segno, path, sizeof path);
    int nfd = open(path, O_RDONLY | O_CLOEXEC);
    if (nfd < 0)
        return -1;
    pthread_mutex_lock(&x->mu);
    fd = seg_find(x, kind, segno); /* another thread may have opened it meanwhile */
    if (fd < 0 && x->nfiles < XACT_MAX_FILES) {
        x->files[x->nfiles++] = (seg_file){.kind = kind, .segno = segno, .fd = nfd};
        fd = nfd;
        nfd = -1;
    }
    pthread_mutex_unlock(&x->mu);
    if (fd >= 0) {
        if (nfd >= 0)
            close(nfd);
        return fd;
    }
    *owned = 1;
    return nfd;
}

/* What a page of kind is needed for, for messages ("<what> <xid or multixact>"). */
static const char *const slru_subject[SLRU_NKINDS] = {
    "commit status of transaction", "parent of transaction", "offsets of multixact",
    "members of multixact"};

static cd_code not_on_disk(const cd_xact *x, int kind, uint32_t pageno, uint32_t subject,
                           long long have, cd_err *err)
{
    uint32_t segno = pageno / PGD_SLRU_PAGES_PER_SEGMENT;
    long long start = (long long)(pageno % PGD_SLRU_PAGES_PER_SEGMENT) * x->cfg.blcksz;
    cd_fail(err, CD_EUNDECIDED, "%s %u is not on disk", slru_subject[kind], subject);
    if (have < 0)
        cd_detail(err, "file %s/%s/%04X does not exist", x->datadir, slru_dir[kind], segno);
    else
        cd_detail(err, "file %s/%s/%04X has %lld bytes; page %u needs bytes %lld..%lld", x->datadir,
                  slru_dir[kind], segno, start + have, pageno % PGD_SLRU_PAGES_PER_SEGMENT, start,
                  start + x->cfg.blcksz - 1);
    return cd_hint(err, HINT_CHECKPOINT "; " HINT_REFRESH);
}

static cd_code read_page(cd_xact *x, int kind, uint32_t pageno, uint32_t subject, uint8_t *buf,
                         cd_err *err)
{
    uint32_t segno = pageno / PGD_SLRU_PAGES_PER_SEGMENT;
    off_t off = (off_t)(pageno % PGD_SLRU_PAGES_PER_SEGMENT) * x->cfg.blcksz;
    int owned;
    int fd = seg_open(x, kind, segno, &owned);
    if (fd < 0 && errno == ENOENT)
        return not_on_disk(x, kind, pageno, subject, -1, err);
    if (fd < 0) {
        cd_fail(err, CD_EIO, "could not open %s segment %04X: %s", slru_dir[kind], segno,
                strerror(errno));
        return cd_detail(err, "data directory %s", x->datadir);
    }
    long long got = cd_pread_full(fd, buf, x->cfg.blcksz, off);
    int e = errno;
    if (owned)
        close(fd);
    if (got < 0) {
        cd_fail(err, CD_EIO, "could not read %s segment %04X: %s", slru_dir[kind], segno,
                strerror(e));
        return cd_detail(err, "data directory %s, offset %lld", x->datadir, (long long)off);
    }
    if (got < (long long)x->cfg.blcksz)
        return not_on_disk(x, kind, pageno, subject, got, err);
    return CD_OK;
}

/* Index of a cached page or -1; caller holds mu. */
static int cache_find(const cd_xact *x, int kind, uint32_t pageno)
{
    for (int i = 0; i < XACT_CACHE_PAGES; i++)
        if (x->slots[i].kind == kind && x->slots[i].pageno == pageno)
            return i;
    return -1;
}

/* Copy n bytes at off of a cached page to dst; 1 on a hit. */
static int cache_copy(cd_xact *x, int kind, uint32_t pageno, size_t off, void *dst, size_t n)
{
    pthread_mutex_lock(&x->mu);
    int i = cache_find(x, kind, pageno);
    if (i >= 0) {
        x->slots[i].used = ++x->clock;
        memcpy(dst, x->pool + (size_t)i * x->cfg.blcksz + off, n);
    }
    pthread_mutex_unlock(&x->mu);
    return i >= 0;
}

static void cache_put(cd_xact *x, int kind, uint32_t pageno, const uint8_t *page)
{
    pthread_mutex_lock(&x->mu);
    if (cache_find(x, kind, pageno) < 0) {
        int victim = 0;
        for (int i = 0; i < XACT_CACHE_PAGES; i++) {
            if (x->slots[i].kind < 0) {
                victim = i;
                break;
            }
            if (x->slots[i].used < x->slots[victim].used)
                victim = i;
        }
        x->slots[victim] = (cache_slot){.kind = kind, .pageno = pageno, .used = ++x->clock};
        memcpy(x->pool + (size_t)victim * x->cfg.blcksz, page, x->cfg.blcksz);
    }
    pthread_mutex_unlock(&x->mu);
}

/* Forget a cached page (it showed an entry that is not written yet). */
static void cache_drop(cd_xact *x, int kind, uint32_t pageno)
{
    pthread_mutex_lock(&x->mu);
    int i = cache_find(x, kind, pageno);
    if (i >= 0)
        x->slots[i].kind = -1;
    pthread_mutex_unlock(&x->mu);
}

/* Copy n bytes at byte off of SLRU page pageno to dst (off + n <= blcksz). */
static cd_code slru_get(cd_xact *x, int kind, uint32_t pageno, size_t off, void *dst, size_t n,
                        uint32_t subject, cd_err *err)
{
    if (cache_copy(x, kind, pageno, off, dst, n))
        return CD_OK;
    uint8_t *page = malloc(x->cfg.blcksz);
    if (page == NULL)
        return cd_fail(err, CD_ENOMEM, "out of memory reading %s", slru_dir[kind]);
    cd_code rc = read_page(x, kind, pageno, subject, page, err);
    if (rc == CD_OK) {
        memcpy(dst, page + off, n);
        cache_put(x, kind, pageno, page);
    }
    free(page);
    return rc;
}

/* Hold the segments of kind covering xids [lo, hi) (xids_per_seg per segment). */
static void hold_range(cd_xact *x, int kind, uint32_t lo, uint32_t hi, uint32_t xids_per_seg)
{
    uint32_t last_seg = UINT32_MAX / xids_per_seg;
    uint32_t seg = lo / xids_per_seg, end = (hi - 1) / xids_per_seg;
    for (int n = 0; n < XACT_MAX_FILES; n++) {
        int owned;
        int fd = seg_open(x, kind, seg, &owned);
        if (fd >= 0 && owned) {
            close(fd);
            return; /* table full */
        }
        if (seg == end)
            return;
        seg = seg == last_seg ? 0 : seg + 1;
    }
}

cd_code cd_xact_hold(cd_xact *x, const cd_snapshot *snap, cd_err *err)
{
    if (x == NULL || snap == NULL)
        return cd_fail(err, CD_EINVAL, "no reader or snapshot to hold files for");
    if (snap->xmin == snap->xmax)
        return CD_OK;
    uint32_t per_page_xact = x->cfg.blcksz * PGD_CLOG_XACTS_PER_BYTE;
    uint32_t per_page_sub = x->cfg.blcksz / 4;
    hold_range(x, SLRU_SUBTRANS, snap->xmin, snap->xmax, per_page_sub * PGD_SLRU_PAGES_PER_SEGMENT);
    hold_range(x, SLRU_XACT, snap->xmin, snap->xmax, per_page_xact * PGD_SLRU_PAGES_PER_SEGMENT);
    return CD_OK;
}

/* ---- SLRU lookups ---- */

cd_code cd_xact_clog_status(cd_xact *x, uint32_t xid, int *status, cd_err *err)
{
    uint32_t per_page = x->cfg.blcksz * PGD_CLOG_XACTS_PER_BYTE;
    uint8_t b;
    cd_code rc = slru_get(x, SLRU_XACT, xid / per_page, (xid % per_page) / 4, &b, 1, xid, err);
    if (rc == CD_OK)
        *status = (b >> ((xid % PGD_CLOG_XACTS_PER_BYTE) * 2)) & 3;
    return rc;
}

cd_code cd_xact_subtrans_parent(cd_xact *x, uint32_t xid, uint32_t *parent, cd_err *err)
{
    uint32_t per_page = x->cfg.blcksz / 4;
    uint8_t b[4];
    *parent = PGD_INVALID_XID;
    if (xid < PGD_FIRST_NORMAL_XID)
        return CD_OK; /* bootstrap and frozen xids have no parent */
    cd_code rc =
        slru_get(x, SLRU_SUBTRANS, xid / per_page, (size_t)(xid % per_page) * 4, b, 4, xid, err);
    if (rc == CD_OK)
        *parent = cd_rd32(b);
    return rc;
}

static cd_code multi_unwritten(cd_xact *x, int kind, uint32_t pageno, uint32_t multi,
                               const char *what, cd_err *err)
{
    cache_drop(x, kind, pageno);
    cd_fail(err, CD_EUNDECIDED, "members of multixact %u are not on disk", multi);
    cd_detail(err, "%s in %s/%s is zero (not written yet)", what, x->datadir, slru_dir[kind]);
    return cd_hint(err, HINT_CHECKPOINT);
}

/* Offset entry of multi, read for subject; 0 on disk means "not written yet". */
static cd_code multi_offset(cd_xact *x, uint32_t multi, uint32_t subject, uint32_t *off,
                            cd_err *err)
{
    uint32_t per_page = x->cfg.blcksz / 4;
    uint32_t pageno = multi / per_page;
    uint8_t b[4];
    cd_code rc =
        slru_get(x, SLRU_MXOFF, pageno, (size_t)(multi % per_page) * 4, b, 4, subject, err);
    if (rc != CD_OK)
        return rc;
    *off = cd_rd32(b);
    if (*off == 0)
        return multi_unwritten(x, SLRU_MXOFF, pageno, subject, "the offset entry", err);
    return CD_OK;
}

/* First member offset and member count of multi (which precedes next_multi). */
static cd_code multi_range(cd_xact *x, uint32_t multi, uint32_t *start, uint32_t *count,
                           cd_err *err)
{
    uint32_t next = multi + 1 == 0 ? 1 : multi + 1; /* multixact 0 is never assigned */
    uint32_t end;
    cd_code rc = multi_offset(x, multi, multi, start, err);
    if (rc != CD_OK)
        return rc;
    if (next == x->cfg.next_multi)
        end = x->cfg.next_multi_offset; /* the newest multixact ends at nextOffset */
    else if ((rc = multi_offset(x, next, multi, &end, err)) != CD_OK)
        return rc;
    *count = end - *start; /* member offsets wrap around modulo 2^32 */
    if (*count == 0 || *count > MULTI_MAX_MEMBERS) {
        cd_fail(err, CD_ECORRUPT, "multixact %u has an impossible member count %u", multi, *count);
        return cd_detail(err, "offsets %u..%u in %s/pg_multixact/offsets", *start, end, x->datadir);
    }
    return CD_OK;
}

/* Status byte and xid of member offset moff (read for multi). */
static cd_code multi_member(cd_xact *x, uint32_t multi, uint32_t moff, uint8_t *status,
                            uint32_t *xid, cd_err *err)
{
    uint32_t groups = x->cfg.blcksz / PGD_MXACT_GROUP_SIZE; /* trailing bytes unused */
    uint32_t per_page = groups * PGD_MXACT_MEMBERS_PER_GROUP;
    uint32_t group = (moff / PGD_MXACT_MEMBERS_PER_GROUP) % groups;
    uint32_t slot = moff % PGD_MXACT_MEMBERS_PER_GROUP;
    uint8_t g[PGD_MXACT_GROUP_SIZE];
    cd_code rc = slru_get(x, SLRU_MXMEM, moff / per_page, (size_t)group * PGD_MXACT_GROUP_SIZE, g,
                          sizeof g, multi, err);
    if (rc != CD_OK)
        return rc;
    *status = g[slot];
    *xid = cd_rd32(g + PGD_MXACT_MEMBERS_PER_GROUP + slot * 4);
    return CD_OK;
}

/* Fold one member into *updater (at most one NoKeyUpdate/Update member is allowed). */
static cd_code take_member(cd_xact *x, uint32_t multi, uint8_t status, uint32_t xid,
                           uint32_t *updater, cd_err *err)
{
    if (status > PGD_MXSTATUS_UPDATE) {
        cd_fail(err, CD_ECORRUPT, "multixact %u has a member with invalid status %u", multi,
                status);
        return cd_detail(err, "member xid %u in %s/pg_multixact/members", xid, x->datadir);
    }
    if (status < PGD_MXSTATUS_NO_KEY_UPDATE)
        return CD_OK; /* a locker */
    if (*updater != PGD_INVALID_XID) {
        cd_fail(err, CD_ECORRUPT, "multixact %u has more than one updating member", multi);
        return cd_detail(err, "updaters %u and %u", *updater, xid);
    }
    *updater = xid;
    return CD_OK;
}

cd_code cd_xact_multi_updater(cd_xact *x, uint32_t multi, uint32_t *updater, cd_err *err)
{
    *updater = PGD_INVALID_XID;
    if (multi == 0)
        return CD_OK;
    if (!multi_precedes(multi, x->cfg.next_multi)) {
        cd_fail(err, CD_EUNDECIDED, "members of multixact %u are not on disk", multi);
        cd_detail(err, "it is not older than next_multixact_id %u of the checkpoint",
                  x->cfg.next_multi);
        return cd_hint(err, HINT_CHECKPOINT " with the new next_multixact_id");
    }
    uint32_t moff = 0, count = 0;
    cd_code rc = multi_range(x, multi, &moff, &count, err);
    for (uint32_t i = 0; rc == CD_OK && i < count; i++, moff++) {
        uint8_t status;
        uint32_t xid;
        rc = multi_member(x, multi, moff, &status, &xid, err);
        if (rc != CD_OK)
            break;
        if (xid == PGD_INVALID_XID && moff == 0)
            continue; /* member offset 0 is never used; a multixact may span it */
        if (xid == PGD_INVALID_XID) {
            uint32_t per_page = x->cfg.blcksz / PGD_MXACT_GROUP_SIZE * PGD_MXACT_MEMBERS_PER_GROUP;
            rc = multi_unwritten(x, SLRU_MXMEM, moff / per_page, multi, "a member xid", err);
            break;
        }
        rc = take_member(x, multi, status, xid, updater, err);
    }
    if (rc != CD_OK)
        *updater = PGD_INVALID_XID;
    return rc;
}
