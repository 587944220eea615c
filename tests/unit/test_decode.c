/*
 * test_decode.c: page validation, line pointers, tuple deforming and segment files, on a
 * real heap page (tests/unit/data/page_heap0.bin: ck_t (id int, t text) of
 * make-fixtures.sh, block 0, data checksums on) and on corrupted copies of it.
 */
#include <fcntl.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include "page.h"
#include "pgdisk.h"
#include "relfile.h"
#include "tuple.h"
#include "unit.h"

#define BLCKSZ 8192

static uint8_t page0[BLCKSZ];

static const cd_attr ck_attrs[2] = {
    {.name = "id", .attnum = 1, .attlen = 4, .attalign = 'i'},
    {.name = "t", .attnum = 2, .attlen = -1, .attalign = 'i'},
};

static int load_page(const char *path, uint8_t *buf)
{
    size_t n;
    uint8_t *data = unit_read_file(path, &n);
    if (data != NULL && n == BLCKSZ)
        memcpy(buf, data, BLCKSZ);
    free(data);
    return n == BLCKSZ ? 0 : -1;
}

static void test_real_page(void)
{
    cd_err err = {0};
    CHECK_CODE(cd_page_validate(page0, BLCKSZ, 0, true, &err), CD_OK, &err);
    CHECK(cd_page_nitems(page0) > 50);
    unsigned flags;
    const uint8_t *tup;
    uint32_t len;
    CHECK_CODE(cd_page_item(page0, BLCKSZ, 1, &flags, &tup, &len, &err), CD_OK, &err);
    CHECK_EQ_INT(flags, PGD_LP_NORMAL);
    cd_datum d[2];
    CHECK_CODE(cd_tuple_deform(tup, len, ck_attrs, 2, d, &err), CD_OK, &err);
    CHECK_EQ_INT(cd_rd32(d[0].p), 1);
    /* md5('1') || 'B' with a short varlena header */
    CHECK_EQ_INT(d[1].len, 1 + 33);
    CHECK(d[1].p[0] & 1);
    CHECK(memcmp(d[1].p + 1, "c4ca4238a0b923820dcc509a6f75849bB", 33) == 0);
}

static void test_every_item(void)
{
    cd_err err = {0};
    unsigned n = cd_page_nitems(page0), normal = 0;
    for (unsigned i = 1; i <= n; i++) {
        unsigned flags;
        const uint8_t *tup;
        uint32_t len;
        cd_datum d[2];
        CHECK_CODE(cd_page_item(page0, BLCKSZ, i, &flags, &tup, &len, &err), CD_OK, &err);
        if (flags != PGD_LP_NORMAL)
            continue;
        normal++;
        CHECK_CODE(cd_tuple_deform(tup, len, ck_attrs, 2, d, &err), CD_OK, &err);
    }
    CHECK(normal == n);
    CHECK_CODE(cd_page_item(page0, BLCKSZ, n + 1, &(unsigned){0}, &(const uint8_t *){0},
                            &(uint32_t){0}, &err),
               CD_ECORRUPT, &err);
}

static void test_checksum_mismatch(void)
{
    uint8_t p[BLCKSZ];
    cd_err err = {0};
    memcpy(p, page0, BLCKSZ);
    p[5000] ^= 0x01;
    CHECK_CODE(cd_page_validate(p, BLCKSZ, 0, true, &err), CD_ECORRUPT, &err);
    CHECK(strstr(err.msg, "checksum") != NULL);
    /* the same page at another block number fails too: the block is part of the sum */
    CHECK_CODE(cd_page_validate(page0, BLCKSZ, 1, true, &err), CD_ECORRUPT, &err);
    CHECK_CODE(cd_page_validate(p, BLCKSZ, 0, false, &err), CD_OK, &err);
}

static void test_bad_header(void)
{
    uint8_t p[BLCKSZ];
    cd_err err = {0};
    memcpy(p, page0, BLCKSZ);
    p[PGD_OFF_LOWER] = 0xFF, p[PGD_OFF_LOWER + 1] = 0x7F; /* pd_lower > pd_upper */
    CHECK_CODE(cd_page_validate(p, BLCKSZ, 0, false, &err), CD_ECORRUPT, &err);
    CHECK(strstr(err.msg, "invalid page header") != NULL);
    memcpy(p, page0, BLCKSZ);
    p[PGD_OFF_FLAGS] = 0x80;
    CHECK_CODE(cd_page_validate(p, BLCKSZ, 0, false, &err), CD_ECORRUPT, &err);
    memcpy(p, page0, BLCKSZ);
    p[PGD_OFF_PAGESIZE_VERSION] = 5;
    CHECK_CODE(cd_page_validate(p, BLCKSZ, 0, false, &err), CD_ECORRUPT, &err);
    memset(p, 0, BLCKSZ);
    CHECK_CODE(cd_page_validate(p, BLCKSZ, 0, true, &err), CD_OK, &err);
    CHECK_EQ_INT(cd_page_nitems(p), 0);
    p[100] = 1; /* pd_upper 0 but not all zeros */
    CHECK_CODE(cd_page_validate(p, BLCKSZ, 0, false, &err), CD_ECORRUPT, &err);
}

static void test_bogus_lp_len(void)
{
    uint8_t p[BLCKSZ];
    cd_err err = {0};
    memcpy(p, page0, BLCKSZ);
    uint32_t w = cd_rd32(p + PGD_PAGE_HEADER_SIZE);
    w = (w & 0x1FFFF) | (8000u << 17); /* item 1 runs past the page end */
    memcpy(p + PGD_PAGE_HEADER_SIZE, &w, 4);
    unsigned flags;
    const uint8_t *tup;
    uint32_t len;
    CHECK_CODE(cd_page_item(p, BLCKSZ, 1, &flags, &tup, &len, &err), CD_ECORRUPT, &err);
    CHECK(strstr(err.msg, "invalid line pointer") != NULL);
    /* a length that stays in the page but does not match the attributes */
    memcpy(p, page0, BLCKSZ);
    w = cd_rd32(p + PGD_PAGE_HEADER_SIZE);
    uint32_t lplen = w >> 17;
    w = (w & 0x1FFFF) | ((lplen - 3) << 17);
    memcpy(p + PGD_PAGE_HEADER_SIZE, &w, 4);
    CHECK_CODE(cd_page_item(p, BLCKSZ, 1, &flags, &tup, &len, &err), CD_OK, &err);
    cd_datum d[2];
    CHECK_CODE(cd_tuple_deform(tup, len, ck_attrs, 2, d, &err), CD_ECORRUPT, &err);
}

/* Flip every byte of every tuple: deforming either succeeds or fails cleanly. */
static void test_flipped_tuples(void)
{
    unsigned n = cd_page_nitems(page0), errors = 0;
    for (unsigned i = 1; i <= n; i++) {
        unsigned flags;
        const uint8_t *tup;
        uint32_t len;
        cd_err err = {0};
        if (cd_page_item(page0, BLCKSZ, i, &flags, &tup, &len, &err) != CD_OK)
            continue;
        uint8_t copy[BLCKSZ];
        for (uint32_t b = 0; b < len; b++) {
            memcpy(copy, tup, len);
            copy[b] ^= 0xA5;
            cd_datum d[2];
            if (cd_tuple_deform(copy, len, ck_attrs, 2, d, &err) != CD_OK)
                errors++;
        }
    }
    CHECK(errors > 0);
}

static char tmpdir[] = "/tmp/cd-test-decode-XXXXXX";

static void write_blocks(const char *name, int nblocks, const uint8_t *page)
{
    char path[256];
    snprintf(path, sizeof path, "%s/%s", tmpdir, name);
    FILE *f = fopen(path, "wb");
    for (int i = 0; i < nblocks; i++)
        fwrite(page, 1, BLCKSZ, f);
    fclose(f);
}

static void test_segments(void)
{
    int segno;
    uint64_t off;
    cd_relfile_locate(131072 + 5, BLCKSZ, 131072, &segno, &off);
    CHECK_EQ_INT(segno, 1);
    CHECK_EQ_INT(off, 5 * BLCKSZ);
    cd_relfile_locate(3 * 131072, BLCKSZ, 131072, &segno, &off);
    CHECK_EQ_INT(segno, 3);
    CHECK_EQ_INT(off, 0);
    cd_relfile_locate(262143, 32768, 32768, &segno, &off);
    CHECK_EQ_INT(segno, 7);
    CHECK_EQ_INT(off, (uint64_t)32767 * 32768);

    /* A relation of 2 + 2 + 1 blocks with 2 blocks per segment: files r, r.1, r.2. */
    uint8_t zero[BLCKSZ] = {0};
    write_blocks("r", 2, zero);
    write_blocks("r.1", 2, page0);
    write_blocks("r.2", 1, zero);
    write_blocks("r.3", 1, zero); /* not reached: r.2 is short, so it is the last */
    cd_relfile rf;
    cd_err err = {0};
    CHECK_CODE(cd_relfile_open(&rf, tmpdir, "r", BLCKSZ, 2, false, &err), CD_OK, &err);
    CHECK_EQ_INT(rf.nseg, 3);
    CHECK_EQ_INT(rf.nblocks, 5);
    uint8_t buf[BLCKSZ];
    CHECK_CODE(cd_relfile_read(&rf, 2, buf, &err), CD_OK, &err);
    CHECK(memcmp(buf, page0, BLCKSZ) == 0);
    CHECK_CODE(cd_relfile_read(&rf, 4, buf, &err), CD_OK, &err);
    CHECK_CODE(cd_relfile_read(&rf, 5, buf, &err), CD_EINVAL, &err);
    /* The relation is rewritten under us: r.1 truncated -> a clear "rewritten" error. */
    char path[256];
    snprintf(path, sizeof path, "%s/r.1", tmpdir);
    CHECK(truncate(path, BLCKSZ) == 0);
    CHECK_CODE(cd_relfile_read(&rf, 3, buf, &err), CD_EREWRITTEN, &err);
    CHECK(strstr(err.hint, "new snapshot") != NULL);
    /* unlinked files stay readable through the descriptors opened at pin time */
    CHECK(unlink(path) == 0);
    CHECK_CODE(cd_relfile_read(&rf, 2, buf, &err), CD_OK, &err);
    cd_relfile_close(&rf);

    /* checksums on: block 2 is page0 (stored for block 0) -> mismatch names file, block */
    write_blocks("s", 1, zero);
    FILE *f = fopen(path, "wb"); /* recreate r.1 */
    fwrite(page0, 1, BLCKSZ, f);
    fwrite(page0, 1, BLCKSZ, f);
    fclose(f);
    CHECK_CODE(cd_relfile_open(&rf, tmpdir, "r", BLCKSZ, 2, true, &err), CD_OK, &err);
    CHECK_CODE(cd_relfile_read(&rf, 2, buf, &err), CD_ECORRUPT, &err);
    CHECK(strstr(err.detail, "file \"r.1\", block 0 (block 2 of the relation)") != NULL);
    cd_relfile_close(&rf);

    /* a file that is not a whole number of blocks */
    snprintf(path, sizeof path, "%s/odd", tmpdir);
    f = fopen(path, "wb");
    fwrite(zero, 1, 100, f);
    fclose(f);
    CHECK_CODE(cd_relfile_open(&rf, tmpdir, "odd", BLCKSZ, 2, false, &err), CD_ECORRUPT, &err);
    cd_relfile_close(&rf);
    CHECK_CODE(cd_relfile_open(&rf, tmpdir, "missing", BLCKSZ, 2, false, &err), CD_EREWRITTEN,
               &err);
    cd_relfile_close(&rf);
}

/* A tuple of (a int4, b int8, c int2, d text, e int4) with natts attributes in its header;
 * b NULL when null_b. Returns its length. */
static uint32_t make_tuple(uint8_t *t, int natts, bool null_b)
{
    memset(t, 0, 64);
    uint16_t infomask2 = (uint16_t)natts, infomask = null_b ? PGD_HEAP_HASNULL : 0;
    memcpy(t + PGD_TUP_OFF_INFOMASK2, &infomask2, 2);
    memcpy(t + PGD_TUP_OFF_INFOMASK, &infomask, 2);
    t[PGD_TUP_OFF_HOFF] = 24;
    if (null_b)
        t[PGD_TUP_OFF_BITS] = 0x1D; /* a, c, d, e present */
    uint8_t *d = t + 24;
    int32_t a = 7, e = -3;
    int64_t b = 1234567890123;
    int16_t c = 42;
    memcpy(d, &a, 4);
    uint32_t off = 4;
    if (!null_b) {
        memcpy(d + 8, &b, 8);
        off = 16;
    }
    memcpy(d + off, &c, 2);
    off += 2;
    if (natts == 3)
        return 24 + off;
    d[off] = (5 << 1) | 1; /* a short varlena: "abcd" */
    memcpy(d + off + 1, "abcd", 4);
    off = (off + 5 + 3) & ~3u;
    memcpy(d + off, &e, 4);
    return 24 + off + 4;
}

static void test_one_attribute(void)
{
    static const cd_attr at[5] = {
        {.name = "a", .attnum = 1, .attlen = 4, .attalign = 'i'},
        {.name = "b", .attnum = 2, .attlen = 8, .attalign = 'd'},
        {.name = "c", .attnum = 3, .attlen = 2, .attalign = 's'},
        {.name = "d", .attnum = 4, .attlen = -1, .attalign = 'i'},
        {.name = "e", .attnum = 5, .attlen = 4, .attalign = 'i'},
    };
    int32_t fixoff[5];
    cd_tuple_fixed_offsets(at, 5, fixoff);
    CHECK_EQ_INT(fixoff[0], 0);
    CHECK_EQ_INT(fixoff[1], 8);
    CHECK_EQ_INT(fixoff[2], 16);
    CHECK_EQ_INT(fixoff[3], -1);
    CHECK_EQ_INT(fixoff[4], -1);
    static const struct {
        int natts;
        bool null_b;
    } cases[] = {{5, false}, {5, true}, {3, false}};
    cd_err err = {0};
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        uint8_t t[64];
        uint32_t len = make_tuple(t, cases[i].natts, cases[i].null_b);
        cd_datum all[5], one;
        CHECK_CODE(cd_tuple_deform(t, len, at, 5, all, &err), CD_OK, &err);
        for (int k = 0; k < 5; k++) {
            for (int with_off = 0; with_off < 2; with_off++) {
                CHECK_CODE(cd_tuple_attr(t, len, at, 5, with_off ? fixoff : NULL, k, &one, &err),
                           CD_OK, &err);
                CHECK(one.p == all[k].p && one.len == all[k].len);
                CHECK(one.isnull == all[k].isnull && one.missing == all[k].missing);
            }
        }
        CHECK(all[1].isnull == cases[i].null_b);
        CHECK(all[4].missing == (cases[i].natts == 3));
    }
    /* cut short: the fixed offset runs past the end */
    uint8_t t[64];
    make_tuple(t, 5, false);
    CHECK_CODE(cd_tuple_attr(t, 24 + 12, at, 5, fixoff, 2, &(cd_datum){0}, &err), CD_ECORRUPT,
               &err);
}

int main(void)
{
    if (load_page("tests/unit/data/page_heap0.bin", page0) != 0)
        return 1;
    if (mkdtemp(tmpdir) == NULL)
        return 1;
    RUN(test_real_page);
    RUN(test_one_attribute);
    RUN(test_every_item);
    RUN(test_checksum_mismatch);
    RUN(test_bad_header);
    RUN(test_bogus_lp_len);
    RUN(test_flipped_tuples);
    RUN(test_segments);
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf %s", tmpdir);
    if (system(cmd) != 0)
        fprintf(stderr, "could not remove %s\n", tmpdir);
    return UNIT_DONE();
}
