/*
 * xact.c: snapshot parsing, the pg_xact / pg_subtrans / pg_multixact reader and
 * HeapTupleSatisfiesMVCC rebuilt on top of it (see xact.h for the contract).
 *
 * Does: read SLRU pages with pread (O_RDONLY), keep up to XACT_CACHE_PAGES of them in an
 * LRU cache and up to XACT_MAX_FILES segment files open; decide tuple visibility.
 * Does not: write, set hint bits, wait, or decide anything from data that is not on disk.
 *
 * Lock order: x->mu is the only lock. It guards the page cache and the open-file table and
 * is never held across a file read; readers copy bytes out of the cache under it, so no
 * pointer into the cache escapes.
 */
#include "xact.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "pgdisk.h"

#define XACT_CACHE_PAGES 64
#define XACT_MAX_FILES 128
#define XACT_MAX_DATADIR 3800
#define MULTI_MAX_MEMBERS (1u << 24) /* sanity bound for one multixact's member count */

#define HINT_CHECKPOINT "run CHECKPOINT, reopen the commit-log reader and retry"
#define HINT_REFRESH "if the file was removed by the server, refresh the snapshot"

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

/* ---- Reader: open files and the page cache ---- */

enum slru_kind { SLRU_XACT, SLRU_SUBTRANS, SLRU_MXOFF, SLRU_MXMEM, SLRU_NKINDS };

static const char *const slru_dir[SLRU_NKINDS] = {"pg_xact", "pg_subtrans", "pg_multixact/offsets",
                                                  "pg_multixact/members"};

typedef struct cache_slot {
    int kind;        /* enum slru_kind; -1 when empty */
    uint32_t pageno; /* page number within the SLRU (not within the segment) */
    uint64_t used;   /* last-use stamp for LRU eviction */
} cache_slot;

typedef struct seg_file {
    int kind;
    uint32_t segno;
    int fd; /* O_RDONLY, closed by cd_xact_close */
} seg_file;

struct cd_xact {
    cd_xact_config cfg; /* cfg.datadir points to datadir below */
    char *datadir;
    pthread_mutex_t mu;                 /* guards everything below */
    uint64_t clock;                     /* LRU stamp source */
    cache_slot slots[XACT_CACHE_PAGES]; /* page i lives at pool + i * blcksz */
    uint8_t *pool;                      /* [XACT_CACHE_PAGES][blcksz] */
    seg_file files[XACT_MAX_FILES];     /* held segment files */
    int nfiles;
};

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

/* pread until n bytes or end of file; returns bytes read or -1. */
static long long pread_full(int fd, uint8_t *buf, size_t n, off_t off)
{
    size_t got = 0;
    while (got < n) {
        ssize_t r = pread(fd, buf + got, n - got, off + (off_t)got);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0)
            return -1;
        if (r == 0)
            break;
        got += (size_t)r;
    }
    return (long long)got;
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
    long long got = pread_full(fd, buf, x->cfg.blcksz, off);
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

/* MultiXactIdPrecedes: modulo-2^32, no special values besides 0 (invalid). */
static int multi_precedes(uint32_t a, uint32_t b)
{
    return (int32_t)(a - b) < 0;
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
