/*
 * test_xact.c: unit tests for the commit-log reader (fuse/pg/slru.c) and tuple visibility
 * (fuse/pg/xact.c); snapshot parsing is test_snapshot.c.
 *
 * Each test writes synthetic pg_xact / pg_subtrans / pg_multixact files into a mkdtemp()
 * directory with known statuses, builds 24-byte heap tuple headers and checks the answer of
 * cd_tuple_visible against HeapTupleSatisfiesMVCC's rules. Positions inside the SLRU files
 * are computed here independently of xact.c, and a few are written byte by byte at
 * hand-computed offsets; one multixact page repeats bytes seen on a real PostgreSQL 15
 * cluster after CHECKPOINT. No server needed.
 */
#include <ftw.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <fcntl.h>

#include "pgdisk.h"
#include "unit.h"
#include "xact.h"

#define XC PGD_HEAP_XMIN_COMMITTED
#define XI PGD_HEAP_XMIN_INVALID
#define XF PGD_HEAP_XMIN_FROZEN
#define MC PGD_HEAP_XMAX_COMMITTED
#define MI PGD_HEAP_XMAX_INVALID
#define MM PGD_HEAP_XMAX_IS_MULTI
#define LOCK_ONLY PGD_HEAP_XMAX_LOCK_ONLY
#define EXCL PGD_HEAP_XMAX_EXCL_LOCK
#define KEYSHR PGD_HEAP_XMAX_KEYSHR_LOCK
#define KEYS_UPD PGD_HEAP_KEYS_UPDATED
#define ST_C PGD_CLOG_COMMITTED
#define ST_A PGD_CLOG_ABORTED
#define ST_SUB PGD_CLOG_SUB_COMMITTED
#define M_LOCK PGD_MXSTATUS_FOR_SHARE
#define M_NKU PGD_MXSTATUS_NO_KEY_UPDATE
#define M_UPD PGD_MXSTATUS_UPDATE

/* ---- synthetic data directories ---- */

typedef struct fixture {
    char dir[64];
    uint32_t blcksz;
} fixture;

static void fx_init(fixture *f, uint32_t blcksz)
{
    char sub[128];
    snprintf(f->dir, sizeof f->dir, "/tmp/cd_xact_XXXXXX");
    f->blcksz = blcksz;
    if (mkdtemp(f->dir) == NULL) {
        perror("mkdtemp");
        exit(2);
    }
    const char *dirs[] = {"pg_xact", "pg_subtrans", "pg_multixact", "pg_multixact/offsets",
                          "pg_multixact/members"};
    for (size_t i = 0; i < sizeof dirs / sizeof dirs[0]; i++) {
        snprintf(sub, sizeof sub, "%s/%s", f->dir, dirs[i]);
        mkdir(sub, 0700);
    }
}

static int rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    return remove(path);
}

static void fx_done(fixture *f)
{
    nftw(f->dir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

static void seg_file(const fixture *f, const char *sub, uint32_t pageno, char *path, size_t n)
{
    snprintf(path, n, "%s/%s/%04X", f->dir, sub, pageno / 32);
}

/* Write n bytes at byte off of SLRU page pageno; the page is made whole (zero-filled). */
static void put_bytes(const fixture *f, const char *sub, uint32_t pageno, size_t off, const void *b,
                      size_t n)
{
    char path[256];
    seg_file(f, sub, pageno, path, sizeof path);
    int fd = open(path, O_RDWR | O_CREAT, 0600);
    off_t start = (off_t)(pageno % 32) * f->blcksz;
    struct stat st;
    if (fd < 0 || pwrite(fd, b, n, start + (off_t)off) != (ssize_t)n || fstat(fd, &st) != 0) {
        perror(path);
        exit(2);
    }
    if (st.st_size < start + (off_t)f->blcksz && ftruncate(fd, start + f->blcksz) != 0) {
        perror("ftruncate");
        exit(2);
    }
    close(fd);
}

static uint8_t get_byte(const fixture *f, const char *sub, uint32_t pageno, size_t off)
{
    char path[256];
    uint8_t b = 0;
    seg_file(f, sub, pageno, path, sizeof path);
    int fd = open(path, O_RDONLY);
    if (fd >= 0) {
        if (pread(fd, &b, 1, (off_t)(pageno % 32) * f->blcksz + (off_t)off) != 1)
            b = 0;
        close(fd);
    }
    return b;
}

static void set_clog(const fixture *f, uint32_t xid, int status)
{
    uint32_t per_page = f->blcksz * 4;
    uint32_t page = xid / per_page, byte = (xid % per_page) / 4, shift = (xid % 4) * 2;
    uint8_t b = get_byte(f, "pg_xact", page, byte);
    b = (uint8_t)((b & ~(3u << shift)) | ((unsigned)status << shift));
    put_bytes(f, "pg_xact", page, byte, &b, 1);
}

static void put_u32(const fixture *f, const char *sub, uint32_t index, uint32_t v)
{
    uint32_t per_page = f->blcksz / 4;
    put_bytes(f, sub, index / per_page, (size_t)(index % per_page) * 4, &v, 4);
}

static void set_parent(const fixture *f, uint32_t xid, uint32_t parent)
{
    put_u32(f, "pg_subtrans", xid, parent);
}

static void set_offset(const fixture *f, uint32_t multi, uint32_t off)
{
    put_u32(f, "pg_multixact/offsets", multi, off);
}

static void set_member(const fixture *f, uint32_t moff, uint8_t status, uint32_t xid)
{
    uint32_t groups = f->blcksz / 20, per_page = groups * 4;
    uint32_t page = moff / per_page, group = (moff / 4) % groups, slot = moff % 4;
    put_bytes(f, "pg_multixact/members", page, group * 20 + slot, &status, 1);
    put_bytes(f, "pg_multixact/members", page, group * 20 + 4 + slot * 4, &xid, 4);
}

/* ---- tuples ---- */

static cd_code vis_rc(cd_xact *x, const cd_snapshot *s, uint32_t xmin, uint32_t xmax, uint16_t im,
                      uint16_t im2, int *visible, cd_err *err)
{
    uint8_t t[24] = {0};
    memcpy(t + PGD_TUP_OFF_XMIN, &xmin, 4);
    memcpy(t + PGD_TUP_OFF_XMAX, &xmax, 4);
    memcpy(t + PGD_TUP_OFF_INFOMASK2, &im2, 2);
    memcpy(t + PGD_TUP_OFF_INFOMASK, &im, 2);
    t[PGD_TUP_OFF_HOFF] = 24;
    return cd_tuple_visible(x, s, t, sizeof t, 0, visible, err);
}

#define EXPECT_VIS(want, x, s, xmin, xmax, im, im2)                                                \
    do {                                                                                           \
        cd_err e_ = {0};                                                                           \
        int v_ = -1;                                                                               \
        CHECK_CODE(vis_rc(x, s, xmin, xmax, im, im2, &v_, &e_), CD_OK, &e_);                       \
        CHECK_EQ_INT(v_, want);                                                                    \
    } while (0)

#define EXPECT_RC(code, x, s, xmin, xmax, im, im2)                                                 \
    do {                                                                                           \
        cd_err e_ = {0};                                                                           \
        int v_ = -1;                                                                               \
        CHECK_CODE(vis_rc(x, s, xmin, xmax, im, im2, &v_, &e_), code, &e_);                        \
        CHECK_EQ_INT(v_, 0);                                                                       \
    } while (0)

static void parse_ok(const char *text, cd_snapshot *s)
{
    cd_err err = {0};
    CHECK_CODE(cd_snapshot_parse(text, s, &err), CD_OK, &err);
}

static cd_xact *open_x(const fixture *f, uint32_t next_multi, uint32_t next_off, uint32_t oldest)
{
    cd_err err = {0};
    cd_xact *x = NULL;
    cd_xact_config cfg = {.datadir = f->dir,
                          .blcksz = f->blcksz,
                          .next_multi = next_multi,
                          .next_multi_offset = next_off,
                          .oldest_xid = oldest};
    CHECK_CODE(cd_xact_open(&x, &cfg, &err), CD_OK, &err);
    if (x == NULL)
        exit(2);
    return x;
}

/* ---- The main 8 KB fixture: snapshot 1000:1100:1005,1010, oldest_xid 900 ---- */

static fixture F8;

static void build_clog(const fixture *f)
{
    set_clog(f, 990, ST_C);
    set_clog(f, 991, ST_A); /* 992: crashed, status 0 */
    set_clog(f, 995, ST_SUB);
    set_clog(f, 850, ST_C);
    set_clog(f, 1001, ST_C);
    set_clog(f, 1002, ST_A); /* 1003 crashed, 1005 running (in xip) */
    set_clog(f, 1010, ST_C); /* in xip: committed after the snapshot */
    set_clog(f, 1200, ST_C); /* >= xmax */
    set_clog(f, 1020, ST_SUB);
    set_parent(f, 1020, 1001);
    set_clog(f, 1021, ST_SUB);
    set_parent(f, 1021, 1002);
    set_clog(f, 1022, ST_SUB);
    set_parent(f, 1022, 1005);
    set_parent(f, 1023, 1005); /* status 0: subxact of a running top-level */
    set_clog(f, 1024, ST_C);
    set_parent(f, 1024, 1010);
    set_parent(f, 1025, 1005);
    set_clog(f, 1030, ST_C);
    set_parent(f, 1030, 1025); /* nested: 1030 -> 1025 -> 1005 */
    set_clog(f, 1026, ST_SUB);
    set_parent(f, 1026, 1003); /* parent crashed */
    set_clog(f, 1027, ST_SUB); /* no pg_subtrans entry */
    set_clog(f, 1028, ST_C);
    set_parent(f, 1028, 1001);
}

static void members(const fixture *f, uint32_t multi, uint32_t off, int n, const uint8_t *st,
                    const uint32_t *xids)
{
    set_offset(f, multi, off);
    for (int i = 0; i < n; i++)
        set_member(f, off + (uint32_t)i, st[i], xids[i]);
}

/* Multixacts 5..19 (next_multi 20, next offset 1660); 21 and up are never written. */
static void build_multi(const fixture *f)
{
    members(f, 5, 10, 2, (uint8_t[]){0, M_LOCK}, (uint32_t[]){1001, 1002});
    members(f, 6, 12, 2, (uint8_t[]){0, M_NKU}, (uint32_t[]){1003, 1001});
    members(f, 7, 14, 2, (uint8_t[]){M_UPD, 0}, (uint32_t[]){1002, 1001});
    members(f, 8, 16, 2, (uint8_t[]){3, M_NKU}, (uint32_t[]){1003, 1005});
    members(f, 9, 18, 2, (uint8_t[]){M_NKU, M_UPD}, (uint32_t[]){1001, 1028});
    members(f, 10, 20, 1, (uint8_t[]){7}, (uint32_t[]){1001});
    members(f, 11, 21, 1, (uint8_t[]){M_NKU}, (uint32_t[]){1200});
    set_offset(f, 12, 22); /* 22..1639 lockers, spans member pages 0 and 1 */
    for (uint32_t m = 22; m < 1640; m++)
        set_member(f, m, M_LOCK, 1001);
    /* member 1637 = page 1 (1636 members per page), group 0, slot 1: written by hand */
    uint8_t upd = M_UPD;
    uint32_t xid = 1001;
    put_bytes(f, "pg_multixact/members", 1, 1, &upd, 1);
    put_bytes(f, "pg_multixact/members", 1, 4 + 4, &xid, 4);
    members(f, 13, 1640, 1, (uint8_t[]){0}, (uint32_t[]){1003}); /* 1641 left zero */
    members(f, 14, 1642, 1, (uint8_t[]){M_NKU}, (uint32_t[]){1021});
    members(f, 15, 1643, 1, (uint8_t[]){M_NKU}, (uint32_t[]){1003});
    members(f, 16, 1644, 1, (uint8_t[]){M_UPD}, (uint32_t[]){850});
    members(f, 17, 1645, 2, (uint8_t[]){0, M_NKU}, (uint32_t[]){1001, 1010});
    members(f, 18, 1647, 1, (uint8_t[]){M_LOCK}, (uint32_t[]){1002});
    set_offset(f, 19, 1648); /* the newest: ends at next_multi_offset 1660 */
    for (uint32_t m = 1648; m < 1660; m++)
        set_member(f, m, M_LOCK, 1002);
    set_member(f, 1659, M_NKU, 1001);
    set_offset(f, 20, 5); /* garbage: must not be read */
}

static void test_xmin_rules(void)
{
    cd_snapshot s;
    parse_ok("1000:1100:1005,1010", &s);
    cd_xact *x = open_x(&F8, 20, 1660, 900);
    EXPECT_VIS(1, x, &s, 1001, 0, MI, 0); /* committed */
    EXPECT_VIS(0, x, &s, 1002, 0, MI, 0); /* aborted */
    EXPECT_VIS(0, x, &s, 1003, 0, MI, 0); /* crashed: in progress, not in the snapshot */
    EXPECT_VIS(0, x, &s, 1005, 0, MI, 0); /* in xip */
    EXPECT_VIS(0, x, &s, 1010, 0, MI, 0); /* in xip, committed later */
    EXPECT_VIS(0, x, &s, 1200, 0, MI, 0); /* >= xmax although committed */
    EXPECT_VIS(0, x, &s, 1100, 0, MI, 0); /* == xmax */
    EXPECT_VIS(1, x, &s, 990, 0, MI, 0);  /* < snapshot xmin, committed */
    EXPECT_VIS(0, x, &s, 991, 0, MI, 0);  /* < snapshot xmin, aborted */
    EXPECT_VIS(0, x, &s, 992, 0, MI, 0);  /* < snapshot xmin, crashed */
    EXPECT_VIS(0, x, &s, 995, 0, MI, 0);  /* sub-committed below xmin: crashed */
    EXPECT_VIS(1, x, &s, 2, 0, MI, 0);    /* FrozenTransactionId */
    EXPECT_VIS(1, x, &s, 1, 0, MI, 0);    /* BootstrapTransactionId */
    EXPECT_VIS(0, x, &s, 0, 0, MI, 0);    /* InvalidTransactionId */
    cd_xact_close(&x);
    CHECK(x == NULL);
    cd_snapshot_free(&s);
}

static void test_hint_bits(void)
{
    cd_snapshot s;
    parse_ok("1000:1100:1005,1010", &s);
    cd_xact *x = open_x(&F8, 20, 1660, 900);
    EXPECT_VIS(1, x, &s, 1001, 0, XC | MI, 0); /* agrees with pg_xact */
    EXPECT_VIS(1, x, &s, 1002, 0, XC | MI, 0); /* hint wins over pg_xact (as the server) */
    EXPECT_VIS(0, x, &s, 1001, 0, XI | MI, 0); /* XMIN_INVALID alone: aborted */
    EXPECT_VIS(0, x, &s, 1005, 0, XC | MI, 0); /* committed hint, but in xip */
    EXPECT_VIS(0, x, &s, 1200, 0, XC | MI, 0); /* committed hint, but >= xmax */
    EXPECT_VIS(0, x, &s, 1024, 0, XC | MI, 0); /* committed hint, parent in xip */
    EXPECT_VIS(1, x, &s, 1200, 0, XF | MI, 0); /* frozen: snapshot not consulted */
    EXPECT_VIS(1, x, &s, 1002, 0, XF | MI, 0);
    EXPECT_VIS(1, x, &s, 7777777, 0, XF | MI, 0); /* frozen: no pg_xact page needed */
    /* pre-9.0 VACUUM FULL moves: refused unless xmin is hinted committed */
    EXPECT_RC(CD_EUNSUPPORTED, x, &s, 1001, 0, PGD_HEAP_MOVED_OFF | MI, 0);
    EXPECT_RC(CD_EUNSUPPORTED, x, &s, 1001, 0, PGD_HEAP_MOVED_IN | MI, 0);
    EXPECT_VIS(1, x, &s, 1001, 0, XC | PGD_HEAP_MOVED_IN | MI, 0);
    EXPECT_VIS(0, x, &s, 1001, 0, XI | PGD_HEAP_MOVED_OFF | MI, 0);
    cd_xact_close(&x);
    cd_snapshot_free(&s);
}

static void test_subtransactions(void)
{
    cd_snapshot s;
    parse_ok("1000:1100:1005,1010", &s);
    cd_xact *x = open_x(&F8, 20, 1660, 900);
    EXPECT_VIS(1, x, &s, 1020, 0, MI, 0); /* sub-committed, parent committed */
    EXPECT_VIS(0, x, &s, 1021, 0, MI, 0); /* sub-committed, parent aborted */
    EXPECT_VIS(0, x, &s, 1022, 0, MI, 0); /* sub-committed, parent in xip */
    EXPECT_VIS(0, x, &s, 1023, 0, MI, 0); /* status 0, parent in xip */
    EXPECT_VIS(0, x, &s, 1024, 0, MI, 0); /* committed, parent in xip */
    EXPECT_VIS(0, x, &s, 1030, 0, MI, 0); /* grandparent in xip */
    EXPECT_VIS(0, x, &s, 1026, 0, MI, 0); /* sub-committed, parent crashed */
    EXPECT_VIS(0, x, &s, 1027, 0, MI, 0); /* sub-committed, no parent recorded */
    EXPECT_VIS(1, x, &s, 1028, 0, MI, 0); /* committed subxact of a finished top-level */
    uint32_t parent = 0;
    cd_err err = {0};
    CHECK_CODE(cd_xact_subtrans_parent(x, 1030, &parent, &err), CD_OK, &err);
    CHECK_EQ_INT(parent, 1025);
    int st = -1;
    CHECK_CODE(cd_xact_clog_status(x, 1022, &st, &err), CD_OK, &err);
    CHECK_EQ_INT(st, ST_SUB);
    cd_xact_close(&x);
    cd_snapshot_free(&s);

    /* without xips pg_subtrans is not needed: a status-0 subxact is then simply crashed */
    parse_ok("1000:1100:", &s);
    x = open_x(&F8, 20, 1660, 900);
    EXPECT_VIS(1, x, &s, 1024, 0, MI, 0);
    EXPECT_VIS(0, x, &s, 1023, 0, MI, 0);
    cd_xact_close(&x);
    cd_snapshot_free(&s);
}

static void test_xmax_rules(void)
{
    cd_snapshot s;
    parse_ok("1000:1100:1005,1010", &s);
    cd_xact *x = open_x(&F8, 20, 1660, 900);
    EXPECT_VIS(0, x, &s, 990, 1001, XC, 0);             /* deleted by a committed xact */
    EXPECT_VIS(1, x, &s, 990, 1002, XC, 0);             /* deleter aborted */
    EXPECT_VIS(1, x, &s, 990, 1003, XC, 0);             /* deleter crashed */
    EXPECT_VIS(1, x, &s, 990, 1005, XC, 0);             /* deleter in progress (xip) */
    EXPECT_VIS(1, x, &s, 990, 1010, XC, 0);             /* deleter committed after the snapshot */
    EXPECT_VIS(1, x, &s, 990, 1200, XC, 0);             /* deleter >= xmax */
    EXPECT_VIS(0, x, &s, 990, 990, XC, 0);              /* deleter committed before xmin */
    EXPECT_VIS(1, x, &s, 990, 1022, XC, 0);             /* deleter a subxact of a running xact */
    EXPECT_VIS(0, x, &s, 990, 1028, XC, 0);             /* deleter a committed subxact */
    EXPECT_VIS(1, x, &s, 990, 1001, XC | MI, 0);        /* XMAX_INVALID */
    EXPECT_VIS(0, x, &s, 990, 1001, XC | MC, 0);        /* XMAX_COMMITTED */
    EXPECT_VIS(1, x, &s, 990, 1005, XC | MC, 0);        /* XMAX_COMMITTED but in xip */
    EXPECT_VIS(1, x, &s, 990, 1200, XC | MC, 0);        /* XMAX_COMMITTED but >= xmax */
    EXPECT_VIS(1, x, &s, 990, 1001, XC | LOCK_ONLY, 0); /* locked only */
    EXPECT_VIS(1, x, &s, 990, 1001, XC | LOCK_ONLY | EXCL, 0);
    EXPECT_VIS(1, x, &s, 990, 1001, XC | EXCL, 0);          /* pg_upgrade'd FOR UPDATE */
    EXPECT_VIS(0, x, &s, 990, 1001, XC | EXCL | KEYSHR, 0); /* not "locked only" */
    EXPECT_VIS(0, x, &s, 990, 1001, XC, KEYS_UPD);
    EXPECT_VIS(0, x, &s, 1005, 1001, MI, 0); /* xmin decides first */
    cd_xact_close(&x);
    cd_snapshot_free(&s);
}

static void test_multixact(void)
{
    cd_snapshot s;
    parse_ok("1000:1100:1005,1010", &s);
    cd_xact *x = open_x(&F8, 20, 1660, 900);
    EXPECT_VIS(1, x, &s, 990, 5, XC | MM | LOCK_ONLY | EXCL | KEYSHR, 0); /* lock-only */
    EXPECT_VIS(1, x, &s, 990, 30, XC | MM | LOCK_ONLY, 0);       /* lock-only, not even on disk */
    EXPECT_VIS(1, x, &s, 990, 5, XC | MM | EXCL, 0);             /* no updater among members */
    EXPECT_VIS(0, x, &s, 990, 6, XC | MM | EXCL, 0);             /* committed no-key updater */
    EXPECT_VIS(1, x, &s, 990, 7, XC | MM | EXCL, KEYS_UPD);      /* aborted updater */
    EXPECT_VIS(1, x, &s, 990, 8, XC | MM | EXCL, 0);             /* updater in progress (xip) */
    EXPECT_RC(CD_ECORRUPT, x, &s, 990, 9, XC | MM | EXCL, 0);    /* two updaters */
    EXPECT_RC(CD_ECORRUPT, x, &s, 990, 10, XC | MM | EXCL, 0);   /* bad member status */
    EXPECT_VIS(1, x, &s, 990, 11, XC | MM | EXCL, 0);            /* updater >= xmax */
    EXPECT_VIS(0, x, &s, 990, 12, XC | MM, KEYS_UPD);            /* members span a page boundary */
    EXPECT_RC(CD_EUNDECIDED, x, &s, 990, 13, XC | MM | EXCL, 0); /* member not written */
    EXPECT_VIS(1, x, &s, 990, 14, XC | MM | EXCL, 0); /* updater sub-committed, aborted */
    EXPECT_VIS(1, x, &s, 990, 15, XC | MM | EXCL, 0); /* updater crashed */
    EXPECT_RC(CD_EUNDECIDED, x, &s, 990, 16, XC | MM | EXCL, 0); /* updater < oldest_xid */
    EXPECT_VIS(1, x, &s, 990, 17, XC | MM | EXCL, 0); /* updater committed after snapshot */
    EXPECT_VIS(1, x, &s, 990, 18, XC | MM | EXCL, 0); /* a single locker */
    EXPECT_VIS(0, x, &s, 990, 19, XC | MM | EXCL, 0); /* newest: uses next_multi_offset */
    EXPECT_VIS(1, x, &s, 990, 0, XC | MM | EXCL, 0);  /* invalid multixact: no updater */
    /* created after the checkpoint: a key update or delete cannot have committed first */
    EXPECT_VIS(1, x, &s, 990, 20, XC | MM, KEYS_UPD);
    EXPECT_VIS(1, x, &s, 990, 25, XC | MM, KEYS_UPD);
    EXPECT_RC(CD_EUNDECIDED, x, &s, 990, 20, XC | MM | EXCL, 0); /* no-key: may have */
    uint32_t u = 7;
    cd_err err = {0};
    CHECK_CODE(cd_xact_multi_updater(x, 12, &u, &err), CD_OK, &err);
    CHECK_EQ_INT(u, 1001);
    CHECK_CODE(cd_xact_multi_updater(x, 5, &u, &err), CD_OK, &err);
    CHECK_EQ_INT(u, 0);
    CHECK_CODE(cd_xact_multi_updater(x, 20, &u, &err), CD_EUNDECIDED, &err);
    CHECK(strstr(err.hint, "CHECKPOINT") != NULL);
    cd_xact_close(&x);

    /* the newest multixact with a different next_multi_offset: only locker 1648 remains */
    x = open_x(&F8, 20, 1649, 900);
    EXPECT_VIS(1, x, &s, 990, 19, XC | MM | EXCL, 0);
    cd_xact_close(&x);
    /* a later next_multi: offsets of 21.. are zero on disk (not written) */
    x = open_x(&F8, 50, 200, 900);
    EXPECT_RC(CD_EUNDECIDED, x, &s, 990, 40, XC | MM | EXCL, 0); /* own offset zero */
    EXPECT_RC(CD_EUNDECIDED, x, &s, 990, 20, XC | MM | EXCL, 0); /* next offset zero */
    EXPECT_VIS(0, x, &s, 990, 6, XC | MM | EXCL, 0);
    cd_xact_close(&x);
    cd_snapshot_free(&s);
}

static void test_multixact_wraparound(void)
{
    fixture f;
    fx_init(&f, 8192);
    build_clog(&f);
    /* member offsets wrap: 0xFFFFFFFE, 0xFFFFFFFF, (0 unused), 1, 2 */
    set_offset(&f, 100, 0xFFFFFFFEu);
    set_member(&f, 0xFFFFFFFEu, M_LOCK, 1001);
    set_member(&f, 0xFFFFFFFFu, M_LOCK, 1002);
    set_member(&f, 1, M_NKU, 1001);
    set_member(&f, 2, M_LOCK, 1003);
    members(&f, 101, 3, 2, (uint8_t[]){M_LOCK, M_UPD}, (uint32_t[]){1002, 1002});
    /* multixact ids wrap: 0xFFFFFFFF is followed by 1 */
    members(&f, 0xFFFFFFFFu, 200, 2, (uint8_t[]){M_LOCK, M_NKU}, (uint32_t[]){1001, 1001});
    set_offset(&f, 1, 202);
    cd_snapshot s;
    parse_ok("1000:1100:1005,1010", &s);
    cd_xact *x = open_x(&f, 102, 5, 900);
    EXPECT_VIS(0, x, &s, 990, 100, XC | MM | EXCL, 0);
    EXPECT_VIS(1, x, &s, 990, 101, XC | MM | EXCL, KEYS_UPD);
    EXPECT_VIS(0, x, &s, 990, 0xFFFFFFFFu, XC | MM | EXCL, 0);
    cd_xact_close(&x);
    x = open_x(&f, 1, 201, 900); /* next_multi wrapped to 1: 0xFFFFFFFF is the newest */
    EXPECT_VIS(1, x, &s, 990, 0xFFFFFFFFu, XC | MM | EXCL, 0);
    cd_xact_close(&x);
    x = open_x(&f, 101, 0, 900); /* next offset wrapped to 0: 100 has two members */
    EXPECT_VIS(1, x, &s, 990, 100, XC | MM | EXCL, 0);
    cd_xact_close(&x);
    cd_snapshot_free(&s);
    fx_done(&f);
}

/* Offsets and members bytes as seen on a real PostgreSQL 15 cluster after CHECKPOINT:
 * multixact 1 = {725 no-key update, 726 key share}, next_multi 2, next offset 3. */
static void test_real_multixact_page(void)
{
    fixture f;
    fx_init(&f, 8192);
    const uint32_t offsets[3] = {0, 1, 3};
    const uint8_t group[16] = {0x00, 0x04, 0x00, 0x00, 0,    0,    0,    0,
                               0xd5, 0x02, 0x00, 0x00, 0xd6, 0x02, 0x00, 0x00};
    put_bytes(&f, "pg_multixact/offsets", 0, 0, offsets, sizeof offsets);
    put_bytes(&f, "pg_multixact/members", 0, 0, group, sizeof group);
    set_clog(&f, 725, ST_C);
    cd_xact *x = open_x(&f, 2, 3, 700);
    uint32_t u = 0;
    cd_err err = {0};
    CHECK_CODE(cd_xact_multi_updater(x, 1, &u, &err), CD_OK, &err);
    CHECK_EQ_INT(u, 725);
    cd_snapshot s;
    parse_ok("727:727:", &s);
    EXPECT_VIS(0, x, &s, 724, 1, XC | MM | EXCL, 0);
    cd_snapshot_free(&s);
    parse_ok("725:727:725", &s); /* taken before 725 committed */
    EXPECT_VIS(1, x, &s, 724, 1, XC | MM | EXCL, 0);
    cd_snapshot_free(&s);
    cd_xact_close(&x);
    fx_done(&f);
}

static void test_missing_files(void)
{
    cd_snapshot s;
    parse_ok("1000:3000000:", &s);
    cd_xact *x = open_x(&F8, 20, 1660, 900);
    cd_err err = {0};
    int v = -1;
    CHECK_CODE(vis_rc(x, &s, 2500000, 0, MI, 0, &v, &err), CD_EUNDECIDED, &err);
    CHECK(strstr(err.msg, "2500000") != NULL);
    CHECK(strstr(err.detail, "pg_xact/0002") != NULL);
    CHECK(err.hint[0] != '\0');
    CHECK_CODE(vis_rc(x, &s, 40000, 0, MI, 0, &v, &err), CD_EUNDECIDED, &err); /* short */
    CHECK(strstr(err.msg, "40000") != NULL);
    CHECK(strstr(err.detail, "pg_xact/0000") != NULL);
    CHECK_CODE(vis_rc(x, &s, 990, 2500000, XC, 0, &v, &err), CD_EUNDECIDED, &err);
    /* multixact files missing */
    fixture f;
    fx_init(&f, 8192);
    build_clog(&f);
    cd_xact *y = open_x(&f, 20, 1660, 900);
    CHECK_CODE(vis_rc(y, &s, 990, 6, XC | MM | EXCL, 0, &v, &err), CD_EUNDECIDED, &err);
    CHECK(strstr(err.detail, "pg_multixact/offsets/0000") != NULL);
    cd_xact_close(&y);
    /* pg_subtrans missing while a lookup is needed */
    char path[256];
    snprintf(path, sizeof path, "%s/pg_subtrans/0000", f.dir);
    unlink(path);
    cd_snapshot s2;
    parse_ok("1000:1100:1005", &s2);
    y = open_x(&f, 20, 1660, 900);
    CHECK_CODE(vis_rc(y, &s2, 1028, 0, XC | MI, 0, &v, &err), CD_EUNDECIDED, &err);
    CHECK(strstr(err.msg, "1028") != NULL);
    EXPECT_VIS(1, y, &s2, 990, 0, MI, 0); /* no lookup needed below xmin */
    cd_xact_close(&y);
    cd_snapshot_free(&s2);
    fx_done(&f);
    cd_xact_close(&x);
    cd_snapshot_free(&s);
}

/*
 * Below oldest_xid (900) pg_xact may be truncated and every live xid is frozen: hints decide
 * without a lookup; a tuple needing a lookup there is refused, even though 850's page exists.
 */
static void test_oldest_xid(void)
{
    cd_snapshot s;
    parse_ok("1000:1100:1005,1010", &s);
    cd_xact *x = open_x(&F8, 20, 1660, 900);
    EXPECT_RC(CD_EUNDECIDED, x, &s, 850, 0, MI, 0);
    EXPECT_VIS(1, x, &s, 850, 0, XF | MI, 0);
    EXPECT_VIS(1, x, &s, 850, 0, XC | MI, 0);
    EXPECT_VIS(0, x, &s, 850, 0, XI | MI, 0);
    EXPECT_RC(CD_EUNDECIDED, x, &s, 990, 850, XC, 0);
    EXPECT_VIS(0, x, &s, 990, 850, XC | MC, 0);
    cd_err err = {0};
    int v;
    vis_rc(x, &s, 850, 0, MI, 0, &v, &err);
    CHECK(strstr(err.msg, "850") != NULL);
    cd_xact_close(&x);
    x = open_x(&F8, 20, 1660, 0); /* no limit configured: pg_xact decides */
    EXPECT_VIS(1, x, &s, 850, 0, MI, 0);
    cd_xact_close(&x);
    cd_snapshot_free(&s);
}

static void test_page_all_visible_and_args(void)
{
    cd_snapshot s;
    parse_ok("1000:1100:1005,1010", &s);
    cd_xact *x = open_x(&F8, 20, 1660, 900);
    uint8_t t[24] = {0};
    uint32_t xmin = 1002; /* aborted, but the page says all-visible */
    memcpy(t, &xmin, 4);
    int v = -1;
    cd_err err = {0};
    CHECK_CODE(cd_tuple_visible(x, &s, t, sizeof t, 1, &v, &err), CD_OK, &err);
    CHECK_EQ_INT(v, 1);
    CHECK_CODE(cd_tuple_visible(x, &s, t, 22, 0, &v, &err), CD_ECORRUPT, &err);
    CHECK_EQ_INT(v, 0);
    CHECK_CODE(cd_tuple_visible(x, &s, t, 23, 0, &v, &err), CD_OK, &err);
    CHECK_EQ_INT(v, 0);
    cd_xact_close(&x);
    cd_xact *y = NULL;
    cd_xact_config cfg = {.datadir = F8.dir, .blcksz = 3000, .next_multi = 1};
    CHECK_CODE(cd_xact_open(&y, &cfg, &err), CD_EINVAL, &err);
    cfg.blcksz = 8192;
    cfg.next_multi = 0;
    CHECK_CODE(cd_xact_open(&y, &cfg, &err), CD_EINVAL, &err);
    cfg.next_multi = 1;
    cfg.datadir = "/nonexistent/cd_xact";
    CHECK_CODE(cd_xact_open(&y, &cfg, &err), CD_EINVAL, &err);
    CHECK(y == NULL);
    cd_xact_close(&y);
    cd_snapshot_free(&s);
}

/* cd_xact_hold keeps a pg_subtrans segment readable after the server removes it. */
static void test_hold(void)
{
    fixture f;
    fx_init(&f, 8192);
    build_clog(&f);
    cd_snapshot s;
    parse_ok("1000:1100:1005", &s);
    cd_xact *held = open_x(&f, 20, 1660, 900);
    cd_xact *plain = open_x(&f, 20, 1660, 900);
    cd_err err = {0};
    CHECK_CODE(cd_xact_hold(held, &s, &err), CD_OK, &err);
    char path[256];
    snprintf(path, sizeof path, "%s/pg_subtrans/0000", f.dir);
    CHECK(unlink(path) == 0);
    EXPECT_VIS(1, held, &s, 1028, 0, MI, 0);
    EXPECT_VIS(0, held, &s, 1030, 0, MI, 0);
    EXPECT_RC(CD_EUNDECIDED, plain, &s, 1028, 0, MI, 0);
    cd_xact_close(&held);
    cd_xact_close(&plain);
    cd_snapshot_free(&s);
    fx_done(&f);
}

/* 32 KB pages: positions written by hand at offsets computed from the layout. */
static void test_blcksz_32k(void)
{
    fixture f;
    fx_init(&f, 32768);
    /* pg_xact: 131072 xids a page, 4194304 a segment. xid 5000000: segment 1, page 6,
     * byte 4816, bits 0-1; 5000001: bits 2-3. */
    uint8_t b = PGD_CLOG_COMMITTED | PGD_CLOG_ABORTED << 2;
    put_bytes(&f, "pg_xact", 38, 4816, &b, 1);
    b = PGD_CLOG_COMMITTED; /* 5000010 = byte 4818, bits 4-5 */
    b <<= 4;
    put_bytes(&f, "pg_xact", 38, 4818, &b, 1);
    /* pg_subtrans: 8192 xids a page; 5000010 -> page 610 (segment 0013), entry 2890 */
    uint32_t parent = 4999995;
    put_bytes(&f, "pg_subtrans", 610, 2890 * 4, &parent, 4);
    /* members: 1638 groups (6552 members) a page, 8 trailing bytes unused */
    set_offset(&f, 3, 6550);
    uint8_t st[4] = {M_LOCK, M_LOCK};
    uint32_t xid = 5000001;
    put_bytes(&f, "pg_multixact/members", 0, 1637 * 20 + 2, st, 2); /* 6550, 6551 */
    put_bytes(&f, "pg_multixact/members", 0, 1637 * 20 + 4 + 8, &xid, 4);
    put_bytes(&f, "pg_multixact/members", 0, 1637 * 20 + 4 + 12, &xid, 4);
    st[0] = M_LOCK;
    st[1] = M_NKU; /* 6552 = page 1 group 0 slot 0, 6553 slot 1 */
    put_bytes(&f, "pg_multixact/members", 1, 0, st, 2);
    xid = 5000001;
    put_bytes(&f, "pg_multixact/members", 1, 4, &xid, 4);
    xid = 5000000;
    put_bytes(&f, "pg_multixact/members", 1, 8, &xid, 4);
    char path[256];
    snprintf(path, sizeof path, "%s/pg_xact/0001", f.dir);
    struct stat sb;
    CHECK(stat(path, &sb) == 0 && sb.st_size == 7 * 32768);
    cd_snapshot s;
    parse_ok("4999990:5000100:4999995", &s);
    cd_xact *x = open_x(&f, 4, 6554, 4000000);
    EXPECT_VIS(1, x, &s, 5000000, 0, MI, 0);
    EXPECT_VIS(0, x, &s, 5000001, 0, MI, 0);
    EXPECT_VIS(0, x, &s, 5000010, 0, MI, 0); /* committed, but parent in xip */
    EXPECT_VIS(0, x, &s, 5000000, 3, XC | MM | EXCL, 0);
    uint32_t u = 0;
    cd_err err = {0};
    CHECK_CODE(cd_xact_multi_updater(x, 3, &u, &err), CD_OK, &err);
    CHECK_EQ_INT(u, 5000000);
    cd_xact_close(&x);
    cd_snapshot_free(&s);
    fx_done(&f);
}

/* Snapshot from epoch 0 into epoch 1: xids compare modulo 2^32. */
static void test_xid_wraparound(void)
{
    fixture f;
    fx_init(&f, 8192);
    set_clog(&f, 4294967280u, ST_C);
    set_clog(&f, 4294967291u, ST_C);
    set_clog(&f, 4294967295u, ST_A);
    set_clog(&f, 5, ST_C);
    set_clog(&f, 10, ST_C);
    set_clog(&f, 12, ST_C);
    set_parent(&f, 12, 4294967294u);
    set_parent(&f, 4294967291u, 0); /* top-level xids: their pg_subtrans page exists */
    set_parent(&f, 4294967294u, 0);
    set_clog(&f, 13, ST_C);
    set_parent(&f, 13, 5);
    set_clog(&f, 25, ST_C);
    set_clog(&f, 4294966000u, ST_C);
    CHECK(cd_xid_precedes(4294967295u, 5));
    CHECK(!cd_xid_precedes(5, 4294967295u));
    cd_snapshot s;
    parse_ok("4294967290:4294967316:4294967294,4294967306", &s);
    CHECK_EQ_INT(s.xmin, 4294967290u);
    CHECK_EQ_INT(s.xmax, 20);
    CHECK_EQ_INT(s.nxip, 2);
    CHECK_EQ_INT(s.xip[0], 10);
    CHECK_EQ_INT(s.xip[1], 4294967294u);
    cd_xact *x = open_x(&f, 1, 0, 4294967000u);
    EXPECT_VIS(1, x, &s, 4294967280u, 0, MI, 0); /* < xmin */
    EXPECT_VIS(1, x, &s, 4294967291u, 0, MI, 0);
    EXPECT_VIS(0, x, &s, 4294967294u, 0, MI, 0); /* xip */
    EXPECT_VIS(0, x, &s, 4294967295u, 0, MI, 0); /* aborted */
    EXPECT_VIS(1, x, &s, 5, 0, MI, 0);           /* after the wrap, < xmax */
    EXPECT_VIS(0, x, &s, 10, 0, MI, 0);          /* xip */
    EXPECT_VIS(0, x, &s, 12, 0, MI, 0);          /* parent 4294967294 in xip */
    EXPECT_VIS(1, x, &s, 13, 0, MI, 0);
    EXPECT_VIS(0, x, &s, 25, 0, MI, 0); /* >= xmax */
    EXPECT_VIS(0, x, &s, 4294967291u, 5, XC, 0);
    EXPECT_VIS(1, x, &s, 4294967291u, 4294967294u, XC, 0);
    EXPECT_RC(CD_EUNDECIDED, x, &s, 4294966000u, 0, MI, 0); /* < oldest_xid */
    cd_xact_close(&x);
    cd_snapshot_free(&s);
    fx_done(&f);
}

/* ======================================================================================
 * Concurrency: 8 threads, 600 tuples over 200 pg_xact and 200 pg_subtrans pages, 64-page
 * cache (constant eviction)
 * ====================================================================================== */

#define NPAGES 200
#define NTHREADS 8

typedef struct conc_case {
    uint32_t xmin;
    int want;
} conc_case;

typedef struct conc_arg {
    cd_xact *x;
    const cd_snapshot *s;
    const conc_case *cases;
    int ncases, seed, failures;
} conc_arg;

static void *conc_worker(void *p)
{
    conc_arg *a = p;
    for (int round = 0; round < 10; round++)
        for (int k = 0; k < a->ncases; k++) {
            const conc_case *c = &a->cases[(k * 7 + a->seed * 13 + round) % a->ncases];
            cd_err err = {0};
            int v = -1;
            if (vis_rc(a->x, a->s, c->xmin, 0, MI, 0, &v, &err) != CD_OK || v != c->want)
                a->failures++;
        }
    return NULL;
}

static void test_concurrent(void)
{
    fixture f;
    fx_init(&f, 8192);
    static conc_case cases[NPAGES * 3];
    int n = 0;
    char *text = malloc(NPAGES * 12 + 32);
    int len = sprintf(text, "1000:7000000:");
    for (uint32_t i = 0; i < NPAGES; i++) {
        uint32_t base = 1000 + i * 32768; /* one pg_xact page each, 16 pg_subtrans pages */
        set_clog(&f, base, i % 2 ? ST_C : ST_A);
        set_clog(&f, base + 2, i % 3 ? ST_SUB : i % 2 ? ST_C : ST_A);
        set_parent(&f, base + 2, i % 3 ? base + 1 : base);
        cases[n++] = (conc_case){base, (int)(i % 2)};
        cases[n++] = (conc_case){base + 1, 0}; /* in xip */
        cases[n++] = (conc_case){base + 2, i % 3 ? 0 : (int)(i % 2)};
        len += sprintf(text + len, "%s%u", i ? "," : "", base + 1);
    }
    cd_snapshot s;
    parse_ok(text, &s);
    free(text);
    cd_xact *x = open_x(&f, 1, 0, 900);
    pthread_t th[NTHREADS];
    conc_arg args[NTHREADS];
    for (int t = 0; t < NTHREADS; t++) {
        args[t] = (conc_arg){.x = x, .s = &s, .cases = cases, .ncases = n, .seed = t};
        CHECK(pthread_create(&th[t], NULL, conc_worker, &args[t]) == 0);
    }
    int failures = 0;
    for (int t = 0; t < NTHREADS; t++) {
        pthread_join(th[t], NULL);
        failures += args[t].failures;
    }
    CHECK_EQ_INT(failures, 0);
    for (int k = 0; k < n; k++) /* and once more single-threaded */
        EXPECT_VIS(cases[k].want, x, &s, cases[k].xmin, 0, MI, 0);
    cd_xact_close(&x);
    cd_snapshot_free(&s);
    fx_done(&f);
}

int main(void)
{
    fx_init(&F8, 8192);
    build_clog(&F8);
    build_multi(&F8);
    RUN(test_xmin_rules);
    RUN(test_hint_bits);
    RUN(test_subtransactions);
    RUN(test_xmax_rules);
    RUN(test_multixact);
    RUN(test_multixact_wraparound);
    RUN(test_real_multixact_page);
    RUN(test_missing_files);
    RUN(test_oldest_xid);
    RUN(test_page_all_visible_and_args);
    RUN(test_hold);
    RUN(test_blcksz_32k);
    RUN(test_xid_wraparound);
    RUN(test_concurrent);
    fx_done(&F8);
    return UNIT_DONE();
}
