/*
 * test_tornread.c: a torn read (a page caught mid-write) is read again once; a page that
 * stays bad is an error after exactly two reads; a run of blocks is one read, clipped at the
 * segment file's end, and a bad page in it is read again alone. This binary replaces pread()
 * with one that damages chosen reads, so the test controls what "the disk" returns on each
 * attempt.
 */
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "checksum.h"
#include "relfile.h"
#include "unit.h"

#define BLCKSZ 8192

static int reads;             /* pread calls so far */
static int damage_upto;       /* damage the first damage_upto reads */
static off_t damage_at = 100; /* at this byte of the file, when they read it */

ssize_t pread(int fd, void *buf, size_t n, off_t off)
{
    ssize_t got = syscall(SYS_pread64, fd, buf, n, off);
    if (got > 0 && ++reads <= damage_upto && damage_at >= off && damage_at < off + got)
        ((uint8_t *)buf)[damage_at - off] ^= 0xFF; /* half old, half new: the checksum fails */
    return got;
}

static char dir[] = "/tmp/cd-test-torn-XXXXXX";

static void test_torn_then_good(void)
{
    cd_relfile rf;
    cd_err err = {0};
    uint8_t buf[BLCKSZ];
    CHECK_CODE(cd_relfile_open(&rf, dir, "r", BLCKSZ, 131072, true, &err), CD_OK, &err);
    reads = 0;
    damage_upto = 1;
    CHECK_CODE(cd_relfile_read(&rf, 0, buf, &err), CD_OK, &err);
    CHECK_EQ_INT(reads, 2);
    reads = 0;
    damage_upto = 2;
    CHECK_CODE(cd_relfile_read(&rf, 0, buf, &err), CD_ECORRUPT, &err);
    CHECK_EQ_INT(reads, 2);
    CHECK(strstr(err.msg, "checksum") != NULL);
    CHECK(strstr(err.detail, "file \"r\", block 0") != NULL);
    reads = 0;
    damage_upto = 0;
    CHECK_CODE(cd_relfile_read(&rf, 0, buf, &err), CD_OK, &err);
    CHECK_EQ_INT(reads, 1);
    cd_relfile_close(&rf);
}

#define RUN_BLOCKS 40 /* "run" (blocks 0-31) and "run.1" (blocks 32-39), 32 blocks a segment */
#define RUN_SEG 32

static const uint8_t *g_page; /* page_heap0.bin */

/* g_page as block blkno: its checksum set for that block number. */
static void page_for(uint8_t *out, uint32_t blkno)
{
    memcpy(out, g_page, BLCKSZ);
    uint16_t c = cd_page_checksum(out, BLCKSZ, blkno);
    memcpy(out + 8, &c, sizeof c); /* pd_checksum */
}

static void write_run_files(void)
{
    uint8_t page[BLCKSZ];
    char path[64];
    for (int seg = 0; seg < 2; seg++) {
        snprintf(path, sizeof path, seg ? "%s/run.1" : "%s/run", dir);
        FILE *f = fopen(path, "wb");
        for (uint32_t b = seg * RUN_SEG; f != NULL && b < (seg ? RUN_BLOCKS : RUN_SEG); b++) {
            page_for(page, b);
            CHECK(fwrite(page, 1, BLCKSZ, f) == BLCKSZ);
        }
        CHECK(f != NULL && fclose(f) == 0);
    }
}

static void test_run(void)
{
    static uint8_t buf[16 * BLCKSZ], want[BLCKSZ];
    cd_relfile rf;
    cd_err err = {0};
    write_run_files();
    CHECK_CODE(cd_relfile_open(&rf, dir, "run", BLCKSZ, RUN_SEG, true, &err), CD_OK, &err);
    CHECK_EQ_INT(rf.nblocks, RUN_BLOCKS);
    reads = 0;
    damage_upto = 0;
    uint32_t n = 16;
    CHECK_CODE(cd_relfile_read_run(&rf, 0, &n, buf, &err), CD_OK, &err);
    CHECK_EQ_INT(n, 16);
    CHECK_EQ_INT(reads, 1);
    page_for(want, 15);
    CHECK(memcmp(buf + 15 * BLCKSZ, want, BLCKSZ) == 0);
    n = 16; /* clipped at the end of the first segment file, then of the relation */
    CHECK_CODE(cd_relfile_read_run(&rf, 24, &n, buf, &err), CD_OK, &err);
    CHECK_EQ_INT(n, 8);
    n = 16;
    CHECK_CODE(cd_relfile_read_run(&rf, 32, &n, buf, &err), CD_OK, &err);
    CHECK_EQ_INT(n, 8);
    page_for(want, 39);
    CHECK(memcmp(buf + 7 * BLCKSZ, want, BLCKSZ) == 0);
    n = 16;
    CHECK_CODE(cd_relfile_read_run(&rf, 40, &n, buf, &err), CD_EINVAL, &err);

    /* torn: page 5 of the run is bad in the run's read, good when read again alone */
    reads = 0;
    damage_upto = 1;
    damage_at = 5 * BLCKSZ + 100;
    n = 16;
    CHECK_CODE(cd_relfile_read_run(&rf, 0, &n, buf, &err), CD_OK, &err);
    CHECK_EQ_INT(n, 16);
    CHECK_EQ_INT(reads, 2);
    page_for(want, 5);
    CHECK(memcmp(buf + 5 * BLCKSZ, want, BLCKSZ) == 0);

    /* bad on disk: block 5 is named, after the run and two reads of it alone */
    reads = 0;
    damage_upto = 3;
    n = 16;
    CHECK_CODE(cd_relfile_read_run(&rf, 0, &n, buf, &err), CD_ECORRUPT, &err);
    CHECK_EQ_INT(reads, 3);
    CHECK(strstr(err.detail, "file \"run\", block 5") != NULL);
    damage_upto = 0;
    damage_at = 100;

    /* the second segment file cut short after the pin: what is there, then a short read */
    char path[64];
    snprintf(path, sizeof path, "%s/run.1", dir);
    CHECK(truncate(path, 3 * BLCKSZ) == 0);
    n = 16;
    CHECK_CODE(cd_relfile_read_run(&rf, 32, &n, buf, &err), CD_OK, &err);
    CHECK_EQ_INT(n, 3);
    n = 16;
    CHECK_CODE(cd_relfile_read_run(&rf, 35, &n, buf, &err), CD_EREWRITTEN, &err);
    CHECK(strstr(err.msg, "short read of block 35") != NULL);
    cd_relfile_close(&rf);
    unlink(path);
    snprintf(path, sizeof path, "%s/run", dir);
    unlink(path);
}

int main(void)
{
    size_t n;
    uint8_t *page = unit_read_file("tests/unit/data/page_heap0.bin", &n);
    if (page == NULL || n != BLCKSZ || mkdtemp(dir) == NULL)
        return 1;
    char path[64];
    snprintf(path, sizeof path, "%s/r", dir);
    FILE *f = fopen(path, "wb");
    if (f == NULL || fwrite(page, 1, BLCKSZ, f) != BLCKSZ || fclose(f) != 0)
        return 1;
    g_page = page;
    RUN(test_torn_then_good);
    RUN(test_run);
    unlink(path);
    rmdir(dir);
    free(page);
    return UNIT_DONE();
}
