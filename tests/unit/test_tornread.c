/*
 * test_tornread.c: a torn read (a page caught mid-write) is read again once; a page that
 * stays bad is an error after exactly two reads. This binary replaces pread() with one that
 * damages chosen reads, so the test controls what "the disk" returns on each attempt.
 */
#include <fcntl.h>
#include <stdlib.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "relfile.h"
#include "unit.h"

#define BLCKSZ 8192

static int reads;       /* pread calls so far */
static int damage_upto; /* damage the first damage_upto reads */

ssize_t pread(int fd, void *buf, size_t n, off_t off)
{
    ssize_t got = syscall(SYS_pread64, fd, buf, n, off);
    if (got > 100 && ++reads <= damage_upto)
        ((uint8_t *)buf)[100] ^= 0xFF; /* half old, half new: the checksum no longer matches */
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
    RUN(test_torn_then_good);
    unlink(path);
    rmdir(dir);
    free(page);
    return UNIT_DONE();
}
